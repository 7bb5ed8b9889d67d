package v1alpha1

import (
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeliveryPhase is where a WebhookDelivery stands.
// +kubebuilder:validation:Enum=Pending;Retrying;Held;Succeeded;Failed
type DeliveryPhase string

const (
	// DeliveryPending: not tried yet, or waiting for its endpoint or the
	// endpoint's signing Secret to exist (the Delivered condition says which).
	DeliveryPending DeliveryPhase = "Pending"
	// DeliveryRetrying: an attempt failed; the next is at status.nextAttemptTime.
	DeliveryRetrying DeliveryPhase = "Retrying"
	// DeliveryHeld: the endpoint is suspended; no call is made and no attempt
	// is spent until it resumes.
	DeliveryHeld DeliveryPhase = "Held"
	// DeliverySucceeded: a receiver answered 2xx. Final.
	DeliverySucceeded DeliveryPhase = "Succeeded"
	// DeliveryFailed: every attempt the retry schedule allows failed. Final.
	DeliveryFailed DeliveryPhase = "Failed"
)

// IsFinal reports whether no further attempt will be made.
func (p DeliveryPhase) IsFinal() bool {
	return p == DeliverySucceeded || p == DeliveryFailed
}

// EndpointReference names a WebhookEndpoint in the delivery's namespace.
type EndpointReference struct {
	// name of the WebhookEndpoint, in the same namespace as the delivery.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// WebhookDeliverySpec is one call to make. It cannot be changed once created,
// so that every retry sends the same bytes.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a retry must send the same bytes; create a new WebhookDelivery instead"
type WebhookDeliverySpec struct {
	// endpointRef names the WebhookEndpoint to call.
	// +required
	EndpointRef EndpointReference `json:"endpointRef"`

	// id is sent as the webhook-id header, the same on every attempt, so
	// receivers can drop duplicates. Set it to the producer's own event id so
	// that the producer's retries deduplicate too. Defaults to the delivery's
	// UID. Printable ASCII without spaces, at most 255 characters.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[!-~]+$`
	ID string `json:"id,omitempty"`

	// event is the type of event, such as "user.logout".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Event string `json:"event"`

	// user is the user the event is about, if any. It counts towards the
	// endpoint's distinct users for the issue-report suspension rule.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	User string `json:"user,omitempty"`

	// payload is the JSON body POSTed to the endpoint (write it as YAML or
	// JSON; it is sent as compact JSON).
	// +required
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	Payload apiextensionsv1.JSON `json:"payload"`
}

// DeliveryAttempt records one call.
type DeliveryAttempt struct {
	// number of the attempt, from 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Number int32 `json:"number"`

	// startTime is when the call started, with microsecond precision.
	// +required
	StartTime metav1.MicroTime `json:"startTime"`

	// duration of the call, from start to the answer (or the error).
	// +required
	Duration metav1.Duration `json:"duration"`

	// statusCode is the HTTP status the receiver answered, if it answered.
	// +optional
	StatusCode int32 `json:"statusCode,omitempty"`

	// error says why the attempt failed: the HTTP status and the start of the
	// body, or the connection error. Empty on success.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Error string `json:"error,omitempty"`

	// retryAfter is the wait the receiver asked for with a Retry-After
	// header on a 429 or 503 answer. The next attempt then waits that long
	// if it is longer than the schedule's wait, by at most 1h more; never
	// shorter than the schedule.
	// +optional
	RetryAfter *metav1.Duration `json:"retryAfter,omitempty"`
}

// EndTime is when the attempt ended: the moment the retry wait counts from.
func (a DeliveryAttempt) EndTime() metav1.MicroTime {
	return metav1.NewMicroTime(a.StartTime.Add(a.Duration.Duration))
}

// GetRetryAfter returns the wait the receiver asked for, or zero.
func (a DeliveryAttempt) GetRetryAfter() time.Duration {
	if a.RetryAfter == nil {
		return 0
	}
	return a.RetryAfter.Duration
}

// Succeeded reports whether the receiver answered with a 2xx status.
func (a DeliveryAttempt) Succeeded() bool {
	return a.StatusCode >= 200 && a.StatusCode <= 299
}

// WebhookDeliveryStatus is written by herald's delivery controller only.
type WebhookDeliveryStatus struct {
	// observedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is Pending, Retrying, Held, Succeeded or Failed.
	// +optional
	Phase DeliveryPhase `json:"phase,omitempty"`

	// attempts lists every call made, oldest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=11
	Attempts []DeliveryAttempt `json:"attempts,omitempty"`

	// nextAttemptTime is when the next attempt is due (phase Retrying, or
	// Held after a failed attempt), with microsecond precision.
	// +optional
	NextAttemptTime *metav1.MicroTime `json:"nextAttemptTime,omitempty"`

	// completionTime is when the delivery reached Succeeded or Failed.
	// +optional
	CompletionTime *metav1.MicroTime `json:"completionTime,omitempty"`

	// conditions: Delivered, with a reason saying why it waits or failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// WebhookDelivery is one webhook call: an event and its JSON payload for a
// WebhookEndpoint. herald POSTs it, retries it on the endpoint's schedule and
// records every attempt in status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=deliveries;delivery;whd,categories=webhooks
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpointRef.name`
// +kubebuilder:printcolumn:name="Event",type=string,JSONPath=`.spec.event`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Attempts",type=integer,JSONPath=`.status.attempts[-1:].number`
// +kubebuilder:printcolumn:name="Last Status",type=integer,JSONPath=`.status.attempts[-1:].statusCode`
// +kubebuilder:printcolumn:name="Next Attempt",type=string,JSONPath=`.status.nextAttemptTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.user`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Delivered")].reason`,priority=1
type WebhookDelivery struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the call to make; immutable.
	// +required
	Spec WebhookDeliverySpec `json:"spec"`

	// status records the attempts and the outcome.
	// +optional
	Status WebhookDeliveryStatus `json:"status,omitempty"`
}

// WebhookID returns the webhook-id sent with every attempt: spec.id, or the
// delivery's UID.
func (d *WebhookDelivery) WebhookID() string {
	if d.Spec.ID != "" {
		return d.Spec.ID
	}
	return string(d.UID)
}

// +kubebuilder:object:root=true

// WebhookDeliveryList is a list of WebhookDeliveries.
type WebhookDeliveryList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WebhookDelivery `json:"items"`
}

func init() {
	register(&WebhookDelivery{}, &WebhookDeliveryList{})
}
