package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WebhookIssueReportSpec says that a user reported an issue with an
// endpoint's webhooks. It cannot be changed once created.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new WebhookIssueReport instead"
type WebhookIssueReportSpec struct {
	// endpointRef names the WebhookEndpoint the report is about, in the same
	// namespace.
	// +required
	EndpointRef EndpointReference `json:"endpointRef"`

	// user who reported the issue: the same value as the spec.user of the
	// deliveries sent about them. Several reports of one user in the window
	// count once.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	User string `json:"user"`

	// reason in the user's or the support team's words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`

	// deliveryRef names the WebhookDelivery the report is about, if known.
	// +optional
	DeliveryRef *DeliveryReference `json:"deliveryRef,omitempty"`
}

// DeliveryReference names a WebhookDelivery in the same namespace.
type DeliveryReference struct {
	// name of the WebhookDelivery.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// WebhookIssueReport records that a user reported a problem related to an
// endpoint's webhooks (a logout that did not happen, say). When 5% or more
// of an endpoint's users report one within the window, the endpoint is
// suspended. herald deletes reports once they are older than the window.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=issuereport;whr,categories=webhooks
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpointRef.name`
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.user`
// +kubebuilder:printcolumn:name="Delivery",type=string,JSONPath=`.spec.deliveryRef.name`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WebhookIssueReport struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the report; immutable.
	// +required
	Spec WebhookIssueReportSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// WebhookIssueReportList is a list of WebhookIssueReports.
type WebhookIssueReportList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WebhookIssueReport `json:"items"`
}

func init() {
	register(&WebhookIssueReport{}, &WebhookIssueReportList{})
}
