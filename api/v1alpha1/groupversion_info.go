// Package v1alpha1 contains the herald API: WebhookEndpoint and
// WebhookDelivery in the webhooks.herald.dev group.
//
// +kubebuilder:object:generate=true
// +groupName=webhooks.herald.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the herald API.
	GroupVersion = schema.GroupVersion{Group: "webhooks.herald.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the herald types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the herald types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
