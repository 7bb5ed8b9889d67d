package v1alpha1

// Condition types.
const (
	// ConditionReady is True on a WebhookEndpoint that can receive calls: its
	// signing Secret (if any) is readable and it is not suspended.
	ConditionReady = "Ready"

	// ConditionSuspended is True on a WebhookEndpoint that receives no calls,
	// because spec.suspend is set or a suspension rule fired.
	ConditionSuspended = "Suspended"

	// ConditionDelivered tells where a WebhookDelivery stands: True once a
	// receiver answered 2xx, False with a reason while it waits or after it
	// failed for good.
	ConditionDelivered = "Delivered"
)

// Condition reasons.
const (
	// ReasonEndpointNotFound: the delivery's endpointRef names no
	// WebhookEndpoint in its namespace. The delivery waits and goes as soon
	// as the endpoint is created.
	ReasonEndpointNotFound = "EndpointNotFound"

	// ReasonSigningSecretNotFound: the endpoint's signing Secret, or the key
	// in it, does not exist. Deliveries wait until it does.
	ReasonSigningSecretNotFound = "SigningSecretNotFound"

	// ReasonSigningSecretInvalid: the signing Secret's value is not one or
	// more whsec_<base64> secrets. Deliveries wait until it is fixed.
	ReasonSigningSecretInvalid = "SigningSecretInvalid"

	// ReasonPayloadTooLarge: the payload is larger than the manager's
	// --max-payload-bytes. The delivery waits (nothing is lost) until the
	// limit is raised.
	ReasonPayloadTooLarge = "PayloadTooLarge"

	// ReasonSuspendedBySpec: the endpoint has spec.suspend: true.
	ReasonSuspendedBySpec = "SuspendedBySpec"

	// ReasonEndpointSuspended: the delivery is held because its endpoint is
	// suspended; it keeps its attempts and goes on when the endpoint resumes.
	ReasonEndpointSuspended = "EndpointSuspended"

	// ReasonAttemptFailed: the last attempt failed and another is scheduled
	// at status.nextAttemptTime.
	ReasonAttemptFailed = "AttemptFailed"

	// ReasonRetriesExhausted: the last attempt allowed by the endpoint's
	// retry.backoff failed; the delivery is Failed.
	ReasonRetriesExhausted = "RetriesExhausted"

	// ReasonSucceeded: a receiver answered with a 2xx status.
	ReasonSucceeded = "Succeeded"

	// ReasonReady: the endpoint can receive calls.
	ReasonReady = "Ready"

	// ReasonNotSuspended: no suspension applies.
	ReasonNotSuspended = "NotSuspended"
)

// Reasons of the Suspended condition.
const (
	// ReasonFailureRateExceeded: failurePercent or more of the calls in the
	// window failed.
	ReasonFailureRateExceeded = "FailureRateExceeded"
	// ReasonIssueReportsExceeded: issueReportPercent or more of the users in
	// the window reported an issue.
	ReasonIssueReportsExceeded = "IssueReportsExceeded"
	// ReasonResumed: a person lifted the suspension with the resume
	// annotation.
	ReasonResumed = "Resumed"
)

// ResumeAnnotation lifts an automatic suspension when set to a new value (a
// timestamp, say) and restarts the statistics window at that moment.
const ResumeAnnotation = "webhooks.herald.dev/resume"
