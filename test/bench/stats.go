package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/controllers"
)

// StatisticsResult times the endpoint reconciler alone — the statistics
// update one delivery change causes, after the --statistics-delay coalescing
// — on one endpoint with a growing number of live (Succeeded, retained)
// deliveries.
type StatisticsResult struct {
	Reps   int          `json:"reps"`
	Points []StatsPoint `json:"points"`
	// GrowthRatio is the time per reconcile at the largest count ÷ at the
	// smallest; CountRatio is the ratio of the counts.
	// GrowthRatio is of the median wall time, CPUGrowthRatio of the CPU
	// time per reconcile.
	GrowthRatio    float64 `json:"time_growth_ratio"`
	CPUGrowthRatio float64 `json:"cpu_growth_ratio"`
	CountRatio     float64 `json:"count_ratio"`
}

// StatsPoint is the reconciler's cost with Live deliveries kept.
type StatsPoint struct {
	Live   int     `json:"live"`
	MeanMs float64 `json:"mean_ms"`
	// CPUMsPerReconcile is the process's CPU time per reconcile (the
	// reconciler's, and the idle manager's and bench's meanwhile): less
	// disturbed than wall time by other work on the machine.
	CPUMsPerReconcile      float64            `json:"cpu_ms_per_reconcile"`
	Latency                Latency            `json:"reconcile"`
	AllocMiBPerReconcile   float64            `json:"alloc_mib_per_reconcile"`
	RequestsPerReconcile   map[string]float64 `json:"requests_per_reconcile"`
	MicrosecondsPerLiveRow float64            `json:"microseconds_per_live_delivery"`
}

func (b *bench) runStats(ctx context.Context) (*StatisticsResult, error) {
	o := b.opts
	ns, err := b.createNamespace(ctx, "bench-stats")
	if err != nil {
		return nil, err
	}
	if o.sign {
		if err := b.createSigningSecret(ctx, ns); err != nil {
			return nil, err
		}
	}
	if err := b.c.Create(ctx, b.endpoint(ns, "stats", b.rcv.URL+"/ok/stats", o.sign)); err != nil {
		return nil, err
	}
	// A manager with herald's indexes and no controllers: its cache-backed
	// client is what the endpoint reconciler reads through.
	counter := newAPICounter()
	m, err := b.startManager(ctx, ns, counter, func(ctx context.Context, mgr ctrl.Manager) error {
		return controllers.SetupIndexes(ctx, mgr)
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = m.stop() }()
	ledgers, err := controllers.NewDeliveryLedgers(ctx, m.mgr.GetCache())
	if err != nil {
		return nil, err
	}
	r := &controllers.WebhookEndpointReconciler{
		Client:          m.mgr.GetClient(),
		APIReader:       m.mgr.GetAPIReader(),
		Deliveries:      ledgers,
		Secrets:         &controllers.SigningSecrets{API: m.mgr.GetAPIReader(), Metadata: m.mgr.GetCache()},
		Clock:           clock.RealClock{},
		Recorder:        m.mgr.GetEventRecorder("herald"),
		DigestInterval:  15 * time.Minute,
		StatisticsDelay: o.statisticsDelay,
	}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "stats"}}
	res := &StatisticsResult{Reps: o.statsReps}
	created, events := 0, 0
	for _, size := range o.statsSizes {
		if size <= created {
			continue
		}
		progress("  statistics: %d Succeeded deliveries on one endpoint", size)
		from := created
		// The deliveries herald would keep for an hour after success,
		// written as the API baseline writes them.
		if err := forEach(ctx, size-from, o.concurrency, 0, func(i int) error {
			return b.succeededDelivery(ctx, nil, ns, from+i, fmt.Sprintf("st-%06d", from+i))
		}); err != nil {
			return nil, err
		}
		created = size
		cached := func() int {
			var list heraldv1.WebhookDeliveryList
			if err := m.mgr.GetClient().List(ctx, &list, client.InNamespace(ns)); err != nil {
				return -1
			}
			n := 0
			for i := range list.Items {
				if list.Items[i].Status.Phase == heraldv1.DeliverySucceeded {
					n++
				}
			}
			return n
		}
		if err := waitUntil(ctx, o.wait, fmt.Sprintf("%d Succeeded deliveries in the cache", size), func() bool { return cached() >= size },
			func() string { return fmt.Sprintf("%d of %d", cached(), size) }); err != nil {
			return nil, err
		}
		for i := 0; i < 2; i++ { // warm up
			if _, err := r.Reconcile(ctx, req); err != nil {
				return nil, fmt.Errorf("endpoint reconcile: %w", err)
			}
		}
		heapInuse()
		counter.reset()
		alloc0 := totalAlloc()
		durations := make([]time.Duration, 0, o.statsReps)
		var sum time.Duration
		var cpu float64
		for i := 0; i < o.statsReps; i++ {
			// One event: a delivery succeeds. It is in the cache before the
			// clock starts, so the time is the update it causes.
			if err := b.succeededDelivery(ctx, m, ns, events, fmt.Sprintf("st-event-%06d", events)); err != nil {
				return nil, err
			}
			events++
			// The ledger sees it a moment after the cache.
			if err := waitUntil(ctx, o.wait, "the new delivery in the ledger", func() bool { return ledgers.Finished(req.NamespacedName) >= size+events },
				func() string { return fmt.Sprint(ledgers.Finished(req.NamespacedName)) }); err != nil {
				return nil, err
			}
			cpu0 := cpuSeconds()
			t := time.Now()
			if _, err := r.Reconcile(ctx, req); err != nil {
				return nil, fmt.Errorf("endpoint reconcile: %w", err)
			}
			d := time.Since(t)
			cpu += cpuSeconds() - cpu0
			durations = append(durations, d)
			sum += d
		}
		// The figures must be right, not only fast: every delivery is one
		// successful call in the window.
		var ep heraldv1.WebhookEndpoint
		if err := m.mgr.GetAPIReader().Get(ctx, req.NamespacedName, &ep); err != nil {
			return nil, err
		}
		if want := int64(size + events); ep.Status.Statistics == nil || ep.Status.Statistics.Calls != want {
			return nil, fmt.Errorf("the endpoint's statistics count %v calls, want %d", ep.Status.Statistics, want)
		}
		alloc := totalAlloc() - alloc0
		byKind, _ := counter.snapshot()
		perReconcile := map[string]float64{}
		for k, v := range byKind {
			perReconcile[k] = round3(float64(v) / float64(o.statsReps))
		}
		mean := sum / time.Duration(o.statsReps)
		res.Points = append(res.Points, StatsPoint{
			Live:                   size,
			MeanMs:                 ms(mean),
			CPUMsPerReconcile:      round3(cpu * 1000 / float64(o.statsReps)),
			Latency:                latencyOf(durations),
			AllocMiBPerReconcile:   round3(float64(alloc) / (1 << 20) / float64(o.statsReps)),
			RequestsPerReconcile:   perReconcile,
			MicrosecondsPerLiveRow: round3(float64(mean.Microseconds()) / float64(size)),
		})
	}
	if len(res.Points) >= 2 {
		first, last := res.Points[0], res.Points[len(res.Points)-1]
		if first.Latency.P50ms > 0 {
			res.GrowthRatio = round3(last.Latency.P50ms / first.Latency.P50ms)
		}
		if first.CPUMsPerReconcile > 0 {
			res.CPUGrowthRatio = round3(last.CPUMsPerReconcile / first.CPUMsPerReconcile)
		}
		res.CountRatio = round3(float64(last.Live) / float64(first.Live))
	}
	return res, nil
}

// succeededDelivery creates a delivery to the "stats" endpoint with the
// status herald writes after a first attempt that succeeded; with a manager,
// it returns once that manager's cache holds it so.
func (b *bench) succeededDelivery(ctx context.Context, m *runningManager, ns string, i int, name string) error {
	d := delivery(ns, name, "stats", i)
	if err := b.createWithRetry(ctx, d); err != nil {
		return err
	}
	original := d.DeepCopy()
	succeededStatus(d, time.Now())
	if err := b.c.Status().Patch(ctx, d, client.MergeFrom(original)); err != nil {
		return err
	}
	if m == nil {
		return nil
	}
	return waitUntil(ctx, b.opts.wait, "the new delivery in the cache", func() bool {
		var cached heraldv1.WebhookDelivery
		err := m.mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(d), &cached)
		return err == nil && cached.Status.Phase == heraldv1.DeliverySucceeded
	}, func() string { return name })
}
