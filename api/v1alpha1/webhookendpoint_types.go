package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of WebhookEndpoint fields; the CRD markers carry the same values.
const (
	// DefaultTimeout is how long one call may take when spec.timeout is unset.
	DefaultTimeout = 10 * time.Second
	// DefaultSigningSecretKey is the key read from the signing Secret when
	// spec.signingSecretRef.key is unset.
	DefaultSigningSecretKey = "secret"
)

// DefaultBackoff is the retry schedule when spec.retry.backoff is unset: one
// retry 60 s after the first attempt ended, one more 600 s after the second.
var DefaultBackoff = []time.Duration{60 * time.Second, 600 * time.Second}

// SecretKeyRef names a key of a Secret in the endpoint's namespace.
type SecretKeyRef struct {
	// name of the Secret, in the same namespace as the WebhookEndpoint.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data that holds the signing secret(s). Defaults to
	// "secret".
	// +optional
	// +kubebuilder:default=secret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// HTTPHeader is one extra header sent with every call to the endpoint.
type HTTPHeader struct {
	// name of the header, an HTTP token such as "Authorization" or
	// "X-Tenant". Headers that herald sets itself (Content-Type,
	// Content-Length, Host, User-Agent, any webhook-* header and hop-by-hop
	// headers) are refused.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[-!#$%&'*+.^_|~0-9A-Za-z]+$`
	// +kubebuilder:validation:XValidation:rule="!(self.lowerAscii() in ['content-type','content-length','host','user-agent','connection','keep-alive','proxy-connection','transfer-encoding','te','trailer','upgrade','expect'])",message="this header is set by herald and cannot be overridden"
	// +kubebuilder:validation:XValidation:rule="!self.lowerAscii().startsWith('webhook-')",message="header names starting with webhook- are reserved for Standard Webhooks"
	Name string `json:"name"`

	// value of the header. Must not contain CR, LF or NUL characters.
	// +required
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\r\\n\\x00]')",message="header values must not contain CR, LF or NUL"
	Value string `json:"value"`
}

// RetryPolicy says when a failed call is tried again.
type RetryPolicy struct {
	// Backoff is omitzero, not omitempty: an explicitly empty list must reach
	// the API server as [] (a single attempt); omitempty would drop it, and the
	// server would apply the default schedule instead.

	// backoff lists the waits between attempts: the first attempt is made at
	// once, and after the n-th failed attempt the next one is made backoff[n-1]
	// after that attempt ended. One attempt plus one per entry; an empty list
	// means a single attempt. Each entry is a positive Go duration ("60s",
	// "10m"). Defaults to ["60s", "600s"].
	// +optional
	// +kubebuilder:default={"60s","600s"}
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:XValidation:rule="self.all(d, duration(d) > duration('0s'))",message="retry.backoff entries must be positive durations, such as 60s"
	// +kubebuilder:validation:XValidation:rule="self.all(d, duration(d) <= duration('168h'))",message="retry.backoff entries must not exceed 168h"
	// +listType=atomic
	Backoff []metav1.Duration `json:"backoff,omitzero"`
}

// WebhookEndpointSpec declares where and how herald calls an application.
type WebhookEndpointSpec struct {
	// url is the absolute http or https URL that every delivery is POSTed to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an absolute http:// or https:// URL with a host"
	URL string `json:"url"`

	// signingSecretRef names the Secret key holding the Standard Webhooks
	// signing secret, in whsec_<base64> form. To rotate, put the new secret
	// after the old one, separated by a space: herald then sends one signature
	// per secret until the old one is removed. Without it, calls are unsigned.
	// +optional
	SigningSecretRef *SecretKeyRef `json:"signingSecretRef,omitempty"`

	// headers are extra HTTP headers sent with every call, for example an
	// Authorization header the receiver expects.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	Headers []HTTPHeader `json:"headers,omitempty"`

	// timeout bounds one call, from connecting to reading the answer's
	// headers and (capped) body. Receivers should acknowledge at once and
	// queue their work. A Go duration between 1ms and 60s; defaults to 10s.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('60s')",message="timeout must be a positive duration of at most 60s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// retry says when failed calls are tried again. Defaults to retries 60s and
	// 600s after the first and second failed attempts.
	// +optional
	// +kubebuilder:default={}
	Retry *RetryPolicy `json:"retry,omitempty"`

	// suspend pauses all calls to this endpoint when true. Deliveries wait in
	// phase Held, keep their attempts, and go on when it is set back to false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// WebhookEndpointStatus is written by herald's endpoint controller only.
type WebhookEndpointStatus struct {
	// observedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the endpoint can receive calls) and Suspended.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// WebhookEndpoint is an application's HTTP endpoint that herald calls: its
// URL, signing secret, headers, timeout and retry schedule.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=whe,categories=webhooks
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Suspended",type=string,JSONPath=`.status.conditions[?(@.type=="Suspended")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WebhookEndpoint struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the endpoint.
	// +required
	Spec WebhookEndpointSpec `json:"spec"`

	// status is observed by herald.
	// +optional
	Status WebhookEndpointStatus `json:"status,omitempty"`
}

// GetTimeout returns spec.timeout or its default.
func (e *WebhookEndpoint) GetTimeout() time.Duration {
	if e.Spec.Timeout == nil || e.Spec.Timeout.Duration <= 0 {
		return DefaultTimeout
	}
	return e.Spec.Timeout.Duration
}

// GetBackoff returns spec.retry.backoff or its default. An explicitly empty
// list means a single attempt.
func (e *WebhookEndpoint) GetBackoff() []time.Duration {
	if e.Spec.Retry == nil || e.Spec.Retry.Backoff == nil {
		return DefaultBackoff
	}
	backoff := make([]time.Duration, len(e.Spec.Retry.Backoff))
	for i, d := range e.Spec.Retry.Backoff {
		backoff[i] = d.Duration
	}
	return backoff
}

// GetSigningSecretKey returns spec.signingSecretRef.key or its default.
func (e *WebhookEndpoint) GetSigningSecretKey() string {
	if e.Spec.SigningSecretRef == nil || e.Spec.SigningSecretRef.Key == "" {
		return DefaultSigningSecretKey
	}
	return e.Spec.SigningSecretRef.Key
}

// +kubebuilder:object:root=true

// WebhookEndpointList is a list of WebhookEndpoints.
type WebhookEndpointList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WebhookEndpoint `json:"items"`
}

func init() {
	SchemeBuilder.Register(&WebhookEndpoint{}, &WebhookEndpointList{})
}
