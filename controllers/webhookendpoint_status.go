package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/window"
)

// This file converts between the API's status types and the window
// package's plain ones. It reads and writes nothing else.

func windowDelivery(d *heraldv1.WebhookDelivery) window.Delivery {
	wd := window.Delivery{
		Name:     d.Name,
		UID:      string(d.UID),
		User:     d.Spec.User,
		Created:  d.CreationTimestamp.Time,
		Finished: d.Status.Phase.IsFinal() && d.Status.CompletionTime != nil,
		Failed:   d.Status.Phase == heraldv1.DeliveryFailed,
	}
	if wd.Finished {
		wd.CompletionTime = d.Status.CompletionTime.Time
	}
	for _, a := range d.Status.Attempts {
		wd.Attempts = append(wd.Attempts, window.Attempt{Start: a.StartTime.Time, Failed: !a.Succeeded()})
	}
	return wd
}

func compactionFromStatus(c *heraldv1.Compaction) (window.Compaction, error) {
	if c == nil {
		return window.Compaction{}, nil
	}
	out := window.Compaction{Through: c.Through.Time, Hourly: hourlyFromStatus(c.Hourly)}
	for _, s := range c.UserSketches {
		sk, err := window.DecodeSketch(s.Sketch)
		if err != nil {
			return window.Compaction{}, err
		}
		out.UserSketches = append(out.UserSketches, window.DailySketch{Day: s.Day.Time, Sketch: sk})
	}
	return out, nil
}

func compactionToStatus(c window.Compaction) *heraldv1.Compaction {
	out := &heraldv1.Compaction{Through: metav1.NewMicroTime(c.Through), Hourly: hourlyToStatus(c.Hourly)}
	for _, s := range c.UserSketches {
		out.UserSketches = append(out.UserSketches, heraldv1.DailySketch{Day: metav1.NewTime(s.Day), Sketch: s.Sketch.Encode()})
	}
	return out
}

func hourlyFromStatus(in []heraldv1.HourlyCount) []window.HourlyCount {
	out := make([]window.HourlyCount, 0, len(in))
	for _, h := range in {
		out = append(out, window.HourlyCount{Hour: h.Hour.Time, Calls: h.Calls, Failures: h.Failures})
	}
	return out
}

func hourlyToStatus(in []window.HourlyCount) []heraldv1.HourlyCount {
	var out []heraldv1.HourlyCount
	for _, h := range in {
		out = append(out, heraldv1.HourlyCount{Hour: metav1.NewTime(h.Hour), Calls: h.Calls, Failures: h.Failures})
	}
	return out
}

// statisticsToStatus writes the window's figures, keeping the last
// success and failure times that folded deliveries no longer show.
func statisticsToStatus(s window.Stats, previous *heraldv1.EndpointStatistics) *heraldv1.EndpointStatistics {
	out := &heraldv1.EndpointStatistics{
		WindowStart:    metav1.NewTime(s.WindowStart.Truncate(time.Second)),
		Calls:          s.Calls,
		Failures:       s.Failures,
		FailurePercent: int32(s.FailurePercent), //nolint:gosec // a percentage
		Users:          s.Users,
		UsersReporting: s.UsersReporting,
		Hourly:         hourlyToStatus(s.Hourly),
	}
	out.LastSuccessTime = latest(s.LastSuccess, previous, func(p *heraldv1.EndpointStatistics) *metav1.Time { return p.LastSuccessTime })
	out.LastFailureTime = latest(s.LastFailure, previous, func(p *heraldv1.EndpointStatistics) *metav1.Time { return p.LastFailureTime })
	return out
}

// latest returns the later of t and the previous value, in whole seconds
// (the precision of metav1.Time in status).
func latest(t time.Time, previous *heraldv1.EndpointStatistics, field func(*heraldv1.EndpointStatistics) *metav1.Time) *metav1.Time {
	t = t.Truncate(time.Second)
	if previous != nil {
		if p := field(previous); p != nil && !p.Time.Before(t) {
			return p.DeepCopy()
		}
	}
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}
