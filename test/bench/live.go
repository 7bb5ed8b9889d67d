package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// LiveResult is herald's memory with many live deliveries: they wait in
// phase Held on an endpoint with spec.suspend: true, so they stay in the
// manager's cache and in the endpoint's statistics.
type LiveResult struct {
	HeapBaseMiB float64     `json:"heap_inuse_before_mib"`
	Points      []LivePoint `json:"points"`
	// StatusWritesPerDelivery is herald's status writes per delivery to
	// put it in Held.
	StatusWritesPerDelivery float64           `json:"status_writes_per_delivery"`
	RequestsByKind          map[string]int64  `json:"requests_by_kind"`
	Notes                   map[string]string `json:"notes,omitempty"`
}

// LivePoint is the heap with Live deliveries held.
type LivePoint struct {
	Live               int     `json:"live"`
	HeapInuseMiB       float64 `json:"heap_inuse_mib"`
	HeapGrowthMiB      float64 `json:"heap_growth_mib"`
	HeapGrowthPer1kMiB float64 `json:"heap_growth_mib_per_1000"`
	RSSMiB             float64 `json:"rss_mib"`
	// HeldSeconds is from the batch's first Create call until the last of
	// the batch was seen Held.
	HeldSeconds float64 `json:"held_seconds"`
}

func (b *bench) runLive(ctx context.Context) (*LiveResult, error) {
	o := b.opts
	ns, err := b.createNamespace(ctx, "bench-live")
	if err != nil {
		return nil, err
	}
	ep := b.endpoint(ns, "held", b.rcv.URL+"/ok/held", false)
	ep.Spec.Suspend = true
	if err := b.c.Create(ctx, ep); err != nil {
		return nil, err
	}
	counter := newAPICounter()
	m, err := b.startManager(ctx, ns, counter, b.heraldSetup)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = m.stop()
		}
	}()
	if err := b.waitEndpoints(ctx, ns, 1, heraldv1.ConditionSuspended, metav1.ConditionTrue); err != nil {
		return nil, err
	}

	// Only the current batch is tracked, so that the bench's own record
	// stays small next to the heap it measures.
	var mu sync.Mutex
	batch := ""
	held := map[string]struct{}{}
	stopObserving, err := observeDeliveries(ctx, m.mgr.GetCache(), func(d *heraldv1.WebhookDelivery, _ time.Time) {
		if d.Status.Phase != heraldv1.DeliveryHeld {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if batch != "" && strings.HasPrefix(d.Name, batch) {
			held[d.Name] = struct{}{}
		}
	})
	if err != nil {
		return nil, err
	}
	defer stopObserving()

	base := heapInuse()
	res := &LiveResult{HeapBaseMiB: mib(base), Notes: map[string]string{
		"heap": "HeapInuse after two runtime.GC calls; the process also holds the idle control-plane clients",
	}}
	counter.reset()
	created := 0
	for bi, size := range o.live {
		if size <= created {
			continue
		}
		prefix := fmt.Sprintf("l%d-", bi)
		mu.Lock()
		batch, held = prefix, map[string]struct{}{}
		mu.Unlock()
		want := size - created
		progress("  live: creating %d more deliveries to a suspended endpoint (%d in all)", want, size)
		start := time.Now()
		from := created
		if err := forEach(ctx, want, o.concurrency, 0, func(i int) error {
			idx := from + i
			return b.createWithRetry(ctx, delivery(ns, fmt.Sprintf("%s%06d", prefix, i), "held", idx))
		}); err != nil {
			return nil, err
		}
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(held) }
		if err := waitUntil(ctx, o.wait, fmt.Sprintf("%d deliveries Held", want), func() bool { return count() >= want },
			func() string { return fmt.Sprintf("%d of %d", count(), want) }); err != nil {
			return nil, err
		}
		heldSecs := time.Since(start).Seconds()
		created = size
		mu.Lock()
		batch, held = "", map[string]struct{}{}
		mu.Unlock()
		// Let the endpoint's coalesced statistics update run on the full set.
		time.Sleep(o.statisticsDelay + time.Second)
		heap := heapInuse()
		growth := mibSigned(int64(heap) - int64(base)) //nolint:gosec // sizes fit
		res.Points = append(res.Points, LivePoint{
			Live:               size,
			HeapInuseMiB:       mib(heap),
			HeapGrowthMiB:      growth,
			HeapGrowthPer1kMiB: round3(growth / (float64(size) / 1000)),
			RSSMiB:             mib(currentRSS()),
			HeldSeconds:        round3(heldSecs),
		})
	}
	byKind, perDelivery := counter.snapshot()
	res.RequestsByKind = byKind
	writes := 0
	for _, d := range perDelivery {
		writes += d.statusWrites
	}
	if created > 0 {
		res.StatusWritesPerDelivery = round3(float64(writes) / float64(created))
	}
	stopObserving()
	stopped = true
	if err := m.stop(); err != nil {
		return nil, err
	}
	return res, nil
}
