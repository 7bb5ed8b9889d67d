package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/herald-operator/herald/internal/sender"
)

// Options configure herald's controllers.
type Options struct {
	// Clock is the time source; clock.RealClock{} outside tests.
	Clock clock.WithTicker
	// Sender makes the HTTP calls.
	Sender *sender.Sender
	// MaxConcurrentDeliveries is how many deliveries are handled at once.
	MaxConcurrentDeliveries int
	// MaxPayloadBytes is the largest payload sent; zero for the default.
	MaxPayloadBytes int
	// Mailer emails endpoint contacts; nil disables email.
	Mailer Mailer
	// DigestInterval is the least time between two failed-delivery emails
	// to one endpoint's contacts.
	DigestInterval time.Duration
	// StatisticsDelay coalesces an endpoint's statistics updates.
	StatisticsDelay time.Duration
}

// ClientOptions is how the manager's client must be built for herald:
// Secrets are read from the API server, never cached, so that herald holds no
// copy of every Secret in the cluster.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// CacheOptions is how the manager's cache must be built for herald, from
// the caller's choices (namespaces, selectors): cached objects are kept
// without their managedFields, which herald never reads from the cache and
// which take a large share of a small object's memory.
func CacheOptions(opts cache.Options) cache.Options {
	opts.DefaultTransform = cache.TransformStripManagedFields()
	return opts
}

// Setup registers the indexes and controllers with the manager.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	secrets := &SigningSecrets{API: mgr.GetAPIReader(), Metadata: mgr.GetCache()}
	if err := (&WebhookDeliveryReconciler{
		Client:                  mgr.GetClient(),
		Secrets:                 secrets,
		Clock:                   opts.Clock,
		Recorder:                mgr.GetEventRecorder("herald"),
		Sender:                  opts.Sender,
		MaxConcurrentReconciles: opts.MaxConcurrentDeliveries,
		MaxPayloadBytes:         opts.MaxPayloadBytes,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&WebhookEndpointReconciler{
		Client:          mgr.GetClient(),
		APIReader:       mgr.GetAPIReader(),
		Secrets:         secrets,
		Clock:           opts.Clock,
		Recorder:        mgr.GetEventRecorder("herald"),
		Mailer:          opts.Mailer,
		DigestInterval:  opts.DigestInterval,
		StatisticsDelay: opts.StatisticsDelay,
	}).SetupWithManager(mgr)
}
