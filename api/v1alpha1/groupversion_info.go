// Package v1alpha1 contains the herald API: WebhookEndpoint, WebhookDelivery
// and WebhookIssueReport in the webhooks.herald.dev group.
//
// +kubebuilder:object:generate=true
// +groupName=webhooks.herald.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the herald API.
	GroupVersion = schema.GroupVersion{Group: "webhooks.herald.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the herald types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the herald types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// knownTypes are the kinds of this package, registered by each type's file.
	knownTypes []runtime.Object
)

func register(objects ...runtime.Object) {
	knownTypes = append(knownTypes, objects...)
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
