// Package metrics defines herald's Prometheus metrics, served on the
// manager's metrics endpoint.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// Attempts counts calls by result: "success" or "failure".
	Attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_delivery_attempts_total",
		Help: "Webhook calls made, by result (success, failure).",
	}, []string{"result"})

	// Finished counts deliveries that reached a final phase, by phase.
	Finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_deliveries_finished_total",
		Help: "Deliveries that reached a final phase, by result (Succeeded, Failed).",
	}, []string{"result"})

	// AttemptDuration observes how long calls take.
	AttemptDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "herald_attempt_duration_seconds",
		Help:    "Duration of webhook calls, from start to answer or error.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	})

	// SuspendedEndpoints is 1 for each suspended endpoint.
	SuspendedEndpoints = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "herald_endpoint_suspended",
		Help: "1 while the endpoint is suspended (by spec or by a rule), else 0.",
	}, []string{"namespace", "endpoint", "reason"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(Attempts, Finished, AttemptDuration, SuspendedEndpoints)
}
