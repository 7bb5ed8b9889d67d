package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// Field indexes on the manager's cache.
const (
	// deliveryEndpointIndex indexes deliveries by spec.endpointRef.name.
	deliveryEndpointIndex = "spec.endpointRef.name"
	// endpointSecretIndex indexes endpoints by spec.signingSecretRef.name.
	endpointSecretIndex = "spec.signingSecretRef.name"
	// reportEndpointIndex indexes issue reports by spec.endpointRef.name.
	reportEndpointIndex = "spec.endpointRef.name"
)

// SetupIndexes registers the field indexes the controllers list by. Call it
// once per manager, before the controllers are set up.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &heraldv1.WebhookDelivery{}, deliveryEndpointIndex, func(o client.Object) []string {
		return []string{o.(*heraldv1.WebhookDelivery).Spec.EndpointRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing deliveries by endpoint: %w", err)
	}
	if err := indexer.IndexField(ctx, &heraldv1.WebhookEndpoint{}, endpointSecretIndex, func(o client.Object) []string {
		if ref := o.(*heraldv1.WebhookEndpoint).Spec.SigningSecretRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing endpoints by signing secret: %w", err)
	}
	if err := indexer.IndexField(ctx, &heraldv1.WebhookIssueReport{}, reportEndpointIndex, func(o client.Object) []string {
		return []string{o.(*heraldv1.WebhookIssueReport).Spec.EndpointRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing issue reports by endpoint: %w", err)
	}
	return nil
}
