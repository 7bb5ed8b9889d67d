package controllers_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// sample is one series of a gathered metric: its labels and its value (a
// counter's or gauge's value, a histogram's sample count).
type sample struct {
	Labels map[string]string
	Value  float64
}

// gather reads the series of the named metric from controller-runtime's
// registry, the one the manager serves.
func gather(t *testing.T, name string) []sample {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	var out []sample
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			s := sample{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.Value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.Value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s.Value = float64(m.GetHistogram().GetSampleCount())
			default:
				t.Fatalf("metric %s has an unexpected type %s", name, f.GetType())
			}
			out = append(out, s)
		}
	}
	return out
}

// metricValue is the value of the series of name with exactly these labels,
// and whether it exists.
func metricValue(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	for _, s := range gather(t, name) {
		if maps.Equal(s.Labels, labels) {
			return s.Value, true
		}
	}
	return 0, false
}

// metricSnapshot holds the values of the delivery metrics at one time.
type metricSnapshot map[string]float64

var deliveryMetrics = []struct {
	name   string
	labels map[string]string
}{
	{"herald_delivery_attempts_total", map[string]string{"result": "success"}},
	{"herald_delivery_attempts_total", map[string]string{"result": "failure"}},
	{"herald_deliveries_finished_total", map[string]string{"result": "Succeeded"}},
	{"herald_deliveries_finished_total", map[string]string{"result": "Failed"}},
	{"herald_attempt_duration_seconds", map[string]string{}},
}

func seriesKey(name string, labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func snapshotDeliveryMetrics(t *testing.T) metricSnapshot {
	t.Helper()
	s := metricSnapshot{}
	for _, m := range deliveryMetrics {
		v, _ := metricValue(t, m.name, m.labels) // a series not yet created is 0
		s[seriesKey(m.name, m.labels)] = v
	}
	return s
}

func (s metricSnapshot) deltas(before metricSnapshot) metricSnapshot {
	d := metricSnapshot{}
	for k, v := range s {
		d[k] = v - before[k]
	}
	return d
}

// TestMetrics must not run in parallel with other tests: the registry is
// global, and it checks exact changes.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv, _ := e.payloadReceiver()

	t.Run("deliveries", func(t *testing.T) {
		e := e.sub(t)
		before := snapshotDeliveryMetrics(t)
		e.endpoint("app", rcv.URL, withBackoff(), withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](10000)}))
		e.sendBatch("app", "m", 5, 2) // m-0 and m-1 fail
		for i := range 5 {
			phase := heraldv1.DeliverySucceeded
			if i < 2 {
				phase = heraldv1.DeliveryFailed
			}
			e.waitForPhase(fmt.Sprintf("m-%d", i), phase, 1)
		}
		e.waitForCalls("app", 5, 2)
		want := metricSnapshot{
			seriesKey("herald_delivery_attempts_total", map[string]string{"result": "success"}):     3,
			seriesKey("herald_delivery_attempts_total", map[string]string{"result": "failure"}):     2,
			seriesKey("herald_deliveries_finished_total", map[string]string{"result": "Succeeded"}): 3,
			seriesKey("herald_deliveries_finished_total", map[string]string{"result": "Failed"}):    2,
			seriesKey("herald_attempt_duration_seconds", map[string]string{}):                       5,
		}
		e.g.Expect(snapshotDeliveryMetrics(t).deltas(before)).To(Equal(want))
		// Nothing more is counted later (no attempt is made twice).
		e.g.Consistently(func() metricSnapshot { return snapshotDeliveryMetrics(t).deltas(before) }).
			WithTimeout(time.Second).Should(Equal(want))
		e.g.Expect(rcv.count()).To(Equal(5))
	})

	t.Run("suspended endpoint", func(t *testing.T) {
		e := e.sub(t)
		g := e.g
		series := func(name string) []sample {
			var out []sample
			for _, s := range gather(t, "herald_endpoint_suspended") {
				if s.Labels["namespace"] == e.ns && s.Labels["endpoint"] == name {
					out = append(out, s)
				}
			}
			return out
		}
		bySpec := map[string]string{"namespace": e.ns, "endpoint": "paused", "reason": heraldv1.ReasonSuspendedBySpec}
		allZero := Or(BeEmpty(), HaveEach(HaveField("Value", 0.0)))
		suspendedBySpec := func() float64 { v, _ := metricValue(t, "herald_endpoint_suspended", bySpec); return v }

		e.endpoint("paused", rcv.URL, func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspend = true })
		e.waitForEndpoint("paused", metav1.ConditionFalse, metav1.ConditionTrue)
		g.Eventually(suspendedBySpec).WithTimeout(30 * time.Second).Should(Equal(1.0))
		g.Expect(series("paused")).To(HaveLen(1))
		// An endpoint that is not suspended has no series set to 1.
		g.Expect(series("app")).To(allZero)

		e.patchEndpoint("paused", func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspend = false })
		e.waitForEndpoint("paused", metav1.ConditionTrue, metav1.ConditionFalse)
		g.Eventually(func() []sample { return series("paused") }).WithTimeout(30*time.Second).
			Should(allZero, "after unsuspending, the series is gone or 0")

		// Deleting a suspended endpoint removes its series.
		e.endpoint("gone", rcv.URL, func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspend = true })
		e.waitForEndpoint("gone", metav1.ConditionFalse, metav1.ConditionTrue)
		g.Eventually(func() []sample { return series("gone") }).WithTimeout(30 * time.Second).Should(HaveLen(1))
		g.Expect(k8sClient.Delete(context.Background(), e.getEndpoint("gone"))).To(Succeed())
		g.Eventually(func() []sample { return series("gone") }).WithTimeout(30 * time.Second).Should(BeEmpty())
	})
	g.Expect(rcv.count()).To(Equal(5))
}
