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

	// suspension sets the rules that suspend the endpoint automatically.
	// Defaults: a 72h window; 25% failed calls once there were 20 calls; 5% of
	// users reporting an issue once there were 20 users.
	// +optional
	// +kubebuilder:default={}
	Suspension *SuspensionPolicy `json:"suspension,omitempty"`

	// retention says how long finished deliveries are kept before herald
	// deletes them. Their attempts stay counted in the endpoint's statistics.
	// Defaults: succeeded 1h, failed 72h.
	// +optional
	// +kubebuilder:default={}
	Retention *RetentionPolicy `json:"retention,omitempty"`

	// contactEmails are told by email about failed deliveries (one digest
	// per notification interval) and about a suspension, when the manager has
	// SMTP settings. Events are recorded either way. An address the mail
	// server refuses is named in a NotificationFailed Event; the others still
	// get the email.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=254
	// +kubebuilder:validation:items:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	// +listType=set
	ContactEmails []string `json:"contactEmails,omitempty"`
}

// SuspensionPolicy holds the two suspension rules. A rule fires when its
// percentage is reached or exceeded within the window.
type SuspensionPolicy struct {
	// window is the rolling period the statistics cover, a Go duration from
	// 1h to 720h. Defaults to 72h.
	// +optional
	// +kubebuilder:default="72h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('720h')",message="suspension.window must be between 1h and 720h"
	Window *metav1.Duration `json:"window,omitempty"`

	// failurePercent suspends the endpoint when this percentage or more of
	// its calls in the window failed. Defaults to 25.
	// +optional
	// +kubebuilder:default=25
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailurePercent *int32 `json:"failurePercent,omitempty"`

	// minimumCalls is how many calls the window must hold before
	// failurePercent may fire, so that one failure out of one call does not
	// suspend. Defaults to 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	MinimumCalls *int32 `json:"minimumCalls,omitempty"`

	// issueReportPercent suspends the endpoint when this percentage or more
	// of its users (distinct spec.user of its deliveries in the window)
	// reported an issue with a WebhookIssueReport. Defaults to 5.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	IssueReportPercent *int32 `json:"issueReportPercent,omitempty"`

	// minimumUsers is how many users the window must hold before
	// issueReportPercent may fire. Defaults to 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	MinimumUsers *int32 `json:"minimumUsers,omitempty"`
}

// RetentionPolicy says how long finished deliveries are kept.
type RetentionPolicy struct {
	// succeeded is how long a Succeeded delivery is kept after it finished.
	// Defaults to 1h: at 2 deliveries a second that is about 7,200 objects,
	// within Kubernetes' guidance of some 10,000 per resource type.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="retention.succeeded must not be negative"
	Succeeded *metav1.Duration `json:"succeeded,omitempty"`

	// failed is how long a Failed delivery is kept after it finished, so that
	// people can look at it and redeliver it. Defaults to 72h.
	// +optional
	// +kubebuilder:default="72h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="retention.failed must not be negative"
	Failed *metav1.Duration `json:"failed,omitempty"`
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

	// statistics are the endpoint's calls and users in the current window.
	// +optional
	Statistics *EndpointStatistics `json:"statistics,omitempty"`

	// compaction holds the attempts of finished deliveries that herald has
	// folded into hourly counts, so that deleting those deliveries changes
	// no statistic.
	// +optional
	Compaction *Compaction `json:"compaction,omitempty"`

	// resumedAt is when the endpoint was last resumed: the window starts no
	// earlier than this.
	// +optional
	ResumedAt *metav1.MicroTime `json:"resumedAt,omitempty"`

	// lastHandledResume is the value of the webhooks.herald.dev/resume
	// annotation that herald last acted on; a new value resumes once.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	LastHandledResume string `json:"lastHandledResume,omitempty"`

	// lastFailureDigestTime is when the contacts were last emailed a digest of
	// failed deliveries (deliveries that failed after it are in the next).
	// +optional
	LastFailureDigestTime *metav1.MicroTime `json:"lastFailureDigestTime,omitempty"`

	// suspensionNotifiedTime is when the contacts were last emailed about a
	// suspension.
	// +optional
	SuspensionNotifiedTime *metav1.MicroTime `json:"suspensionNotifiedTime,omitempty"`
}

// EndpointStatistics are counted over [windowStart, now].
type EndpointStatistics struct {
	// windowStart is where the window begins: the suspension window ago, or
	// the last resume if that is later.
	// +required
	WindowStart metav1.Time `json:"windowStart"`

	// calls made in the window (attempts, each counted once).
	// +optional
	Calls int64 `json:"calls"`

	// failures among those calls.
	// +optional
	Failures int64 `json:"failures"`

	// failurePercent is failures / calls as a whole percentage, rounded down.
	// +optional
	FailurePercent int32 `json:"failurePercent"`

	// users is the number of distinct spec.user values of deliveries in the
	// window. Users of deliveries already deleted are estimated with a
	// HyperLogLog sketch (standard error about 3%); the rest are exact.
	// +optional
	Users int64 `json:"users"`

	// usersReporting is the number of distinct users with a
	// WebhookIssueReport for this endpoint in the window.
	// +optional
	UsersReporting int64 `json:"usersReporting"`

	// lastSuccessTime is when the last successful call started.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`

	// lastFailureTime is when the last failed call started.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// hourly counts calls and failures per hour of the window, oldest first;
	// hours without calls are left out.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=721
	Hourly []HourlyCount `json:"hourly,omitempty"`
}

// HourlyCount is the calls and failures of one hour.
type HourlyCount struct {
	// hour is the start of the hour (UTC).
	// +required
	Hour metav1.Time `json:"hour"`
	// calls started in that hour.
	// +optional
	Calls int64 `json:"calls"`
	// failures among them.
	// +optional
	Failures int64 `json:"failures"`
}

// Compaction is the folded part of the statistics.
type Compaction struct {
	// through is the watermark: every delivery that finished before it is
	// counted here, never from the live object again.
	// +required
	Through metav1.MicroTime `json:"through"`

	// hourly are the folded calls and failures by the hour they started.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=721
	Hourly []HourlyCount `json:"hourly,omitempty"`

	// userSketches are HyperLogLog sketches (base64) of the folded
	// deliveries' users, one per UTC day.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	UserSketches []DailySketch `json:"userSketches,omitempty"`
}

// DailySketch is a HyperLogLog sketch of one day's users.
type DailySketch struct {
	// day is the start of the UTC day.
	// +required
	Day metav1.Time `json:"day"`
	// sketch is the base64 of the sketch's registers.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	Sketch string `json:"sketch"`
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
// +kubebuilder:printcolumn:name="Failure %",type=integer,JSONPath=`.status.statistics.failurePercent`
// +kubebuilder:printcolumn:name="Calls",type=integer,JSONPath=`.status.statistics.calls`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Failures",type=integer,JSONPath=`.status.statistics.failures`,priority=1
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.statistics.users`,priority=1
// +kubebuilder:printcolumn:name="Reporting",type=integer,JSONPath=`.status.statistics.usersReporting`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
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

// Defaults of the suspension and retention policies.
const (
	DefaultWindow             = 72 * time.Hour
	DefaultFailurePercent     = 25
	DefaultMinimumCalls       = 20
	DefaultIssueReportPercent = 5
	DefaultMinimumUsers       = 20
	DefaultRetainSucceeded    = time.Hour
	DefaultRetainFailed       = 72 * time.Hour
)

// SuspensionRules are the endpoint's suspension thresholds with defaults
// applied.
type SuspensionRules struct {
	Window             time.Duration
	FailurePercent     int64
	MinimumCalls       int64
	IssueReportPercent int64
	MinimumUsers       int64
}

// GetSuspensionRules returns spec.suspension with defaults applied.
func (e *WebhookEndpoint) GetSuspensionRules() SuspensionRules {
	r := SuspensionRules{DefaultWindow, DefaultFailurePercent, DefaultMinimumCalls, DefaultIssueReportPercent, DefaultMinimumUsers}
	p := e.Spec.Suspension
	if p == nil {
		return r
	}
	if p.Window != nil && p.Window.Duration > 0 {
		r.Window = p.Window.Duration
	}
	setPositive(&r.FailurePercent, p.FailurePercent)
	setPositive(&r.MinimumCalls, p.MinimumCalls)
	setPositive(&r.IssueReportPercent, p.IssueReportPercent)
	setPositive(&r.MinimumUsers, p.MinimumUsers)
	return r
}

func setPositive(dst *int64, v *int32) {
	if v != nil && *v > 0 {
		*dst = int64(*v)
	}
}

// GetRetention returns how long finished deliveries of the given phase are
// kept.
func (e *WebhookEndpoint) GetRetention(phase DeliveryPhase) time.Duration {
	p := e.Spec.Retention
	switch {
	case phase == DeliveryFailed && p != nil && p.Failed != nil:
		return p.Failed.Duration
	case phase == DeliveryFailed:
		return DefaultRetainFailed
	case p != nil && p.Succeeded != nil:
		return p.Succeeded.Duration
	default:
		return DefaultRetainSucceeded
	}
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
	register(&WebhookEndpoint{}, &WebhookEndpointList{})
}
