package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

const (
	phaseSteady = "steady"
	phaseBurst  = "burst"
)

// track is what the bench knows of one delivery of a herald run.
type track struct {
	phase       string
	retried     bool // its endpoint answers 500 to the first attempt
	createStart time.Time
	createEnd   time.Time
	succeeded   time.Time // when the bench saw phase Succeeded
	attempts    int
}

// tracker follows the deliveries of a herald run.
type tracker struct {
	mu        sync.Mutex
	m         map[string]*track
	succeeded map[string]int // by group (phase, retried)
}

func groupKey(phase string, retried bool) string { return fmt.Sprintf("%s/%t", phase, retried) }

func newTracker() *tracker {
	return &tracker{m: map[string]*track{}, succeeded: map[string]int{}}
}

// add registers a delivery just before its Create call.
func (t *tracker) add(name, phase string, retried bool, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[name] = &track{phase: phase, retried: retried, createStart: at}
}

func (t *tracker) created(name string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.m[name]; tr != nil {
		tr.createEnd = at
	}
}

// observe is the watch callback.
func (t *tracker) observe(d *heraldv1.WebhookDelivery, seen time.Time) {
	if d.Status.Phase != heraldv1.DeliverySucceeded {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tr := t.m[d.Name]
	if tr == nil || !tr.succeeded.IsZero() {
		return
	}
	tr.succeeded = seen
	tr.attempts = len(d.Status.Attempts)
	t.succeeded[groupKey(tr.phase, tr.retried)]++
}

func (t *tracker) count(phase string, retried bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.succeeded[groupKey(phase, retried)]
}

// HeraldRun is one run of herald on N deliveries.
type HeraldRun struct {
	N                int  `json:"n"`
	Endpoints        int  `json:"endpoints"`
	FailingEndpoints int  `json:"failing_first_attempt_endpoints"`
	Signed           bool `json:"signed"`

	Steady PhaseResult `json:"steady"`
	Burst  PhaseResult `json:"burst"`
	// DeliveriesPerSecond is the burst's first-try deliveries per second,
	// created→Succeeded: the figure compared with the baselines.
	DeliveriesPerSecond float64 `json:"deliveries_per_second"`

	FirstTry ClassResult `json:"first_try"`
	Retried  ClassResult `json:"retried"`

	// RequestsByKind are all of herald's API requests during the run, by
	// "VERB resource"; PerDelivery divides them by N.
	RequestsByKind      map[string]int64   `json:"requests_by_kind"`
	RequestsPerDelivery map[string]float64 `json:"requests_per_delivery"`
	RequestsTotal       int64              `json:"requests_total"`

	TotalSeconds float64 `json:"total_seconds"`
	// CPUSeconds is the whole process's CPU time during the run: herald's
	// manager and the bench itself (creating client, watch, receiver).
	CPUSeconds float64 `json:"process_cpu_seconds"`
	// DriverCPUSecondsEstimate is the bench's own share, estimated from the
	// baselines: half the API baseline's CPU (its creates) and half the HTTP
	// baseline's CPU per call received (the receiver's side).
	DriverCPUSecondsEstimate float64 `json:"driver_cpu_seconds_estimate"`
	HeraldCPUSecondsPer1000  float64 `json:"herald_cpu_seconds_per_1000_estimate"`
	ProcessCPUSecondsPer1000 float64 `json:"process_cpu_seconds_per_1000"`

	RSSBeforeMiB    float64 `json:"rss_before_mib"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	PeakRSSIsRun    bool    `json:"peak_rss_reset_for_run"`
	RSSGrowthPer1k  float64 `json:"peak_rss_growth_mib_per_1000"`
	HeapBeforeMiB   float64 `json:"heap_inuse_before_mib"`
	HeapAfterMiB    float64 `json:"heap_inuse_after_mib"`
	HeapGrowthPer1k float64 `json:"heap_growth_mib_per_1000"`

	Anomalies []string `json:"anomalies,omitempty"`

	namespace string // holds its endpoints and deliveries
}

// PhaseResult is one creation phase of a herald run.
type PhaseResult struct {
	Deliveries  int     `json:"deliveries"`
	OfferedRate float64 `json:"offered_rate,omitempty"`
	// CreateRate is the creates per second the creating client achieved.
	CreateRate float64 `json:"create_rate"`
	// FirstTryPerSecond is first-try deliveries ÷ (last one Succeeded −
	// first Create call).
	FirstTryPerSecond float64 `json:"first_try_deliveries_per_second"`
	FirstTrySeconds   float64 `json:"first_try_span_seconds"`
	// AllDoneSeconds is until the last delivery of the phase, retried ones
	// included, was Succeeded.
	AllDoneSeconds float64 `json:"all_done_seconds"`
	// Latencies of the first-try deliveries, from just before the Create
	// call: to the receiver's 2xx call, to the API server's answer to the
	// status write that made the delivery Succeeded, and to a watch
	// showing it Succeeded.
	ReceivedLatency  Latency `json:"created_to_received"`
	SucceededLatency Latency `json:"created_to_succeeded"`
	SeenLatency      Latency `json:"created_to_succeeded_seen_by_watch"`
}

// ClassResult is the deliveries that succeeded at the first attempt, or
// those whose first attempt failed.
type ClassResult struct {
	Deliveries              int                `json:"deliveries"`
	AttemptsPerDelivery     float64            `json:"attempts_per_delivery"`
	StatusWritesPerDelivery float64            `json:"status_writes_per_delivery"`
	StatusWritesMax         int                `json:"status_writes_max"`
	RequestsPerDelivery     map[string]float64 `json:"delivery_requests_per_delivery"`
	ReceivedLatency         Latency            `json:"created_to_received"`
	SucceededLatency        Latency            `json:"created_to_succeeded"`
	SeenLatency             Latency            `json:"created_to_succeeded_seen_by_watch"`
}

func (b *bench) runHerald(ctx context.Context, n int, api *APIBaseline, httpb *HTTPBaseline) (*HeraldRun, error) {
	o := b.opts
	ns, err := b.createNamespace(ctx, "bench-herald")
	if err != nil {
		return nil, err
	}
	if o.sign {
		if err := b.createSigningSecret(ctx, ns); err != nil {
			return nil, err
		}
	}
	nFail := int(math.Round(float64(o.endpoints) * o.retryFraction))
	epName := func(j int) string { return fmt.Sprintf("ep-%03d", j) }
	for j := 0; j < o.endpoints; j++ {
		path := "/ok/"
		if j < nFail {
			path = "/fail/"
		}
		if err := b.c.Create(ctx, b.endpoint(ns, epName(j), b.rcv.URL+path+epName(j), o.sign)); err != nil {
			return nil, fmt.Errorf("creating endpoint: %w", err)
		}
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
	if err := b.waitEndpoints(ctx, ns, o.endpoints, heraldv1.ConditionReady, metav1.ConditionTrue); err != nil {
		return nil, err
	}
	// Deliveries are seen Succeeded through herald's own informer: a watch
	// of the bench's own would double the watch traffic the API server
	// serves during herald's run, and not during the baseline's.
	tr := newTracker()
	stopObserving, err := observeDeliveries(ctx, m.mgr.GetCache(), tr.observe)
	if err != nil {
		return nil, err
	}
	defer stopObserving()

	res := &HeraldRun{N: n, Endpoints: o.endpoints, FailingEndpoints: nFail, Signed: o.sign, namespace: ns}
	rssBefore := currentRSS()
	heapBefore := heapInuse()
	res.PeakRSSIsRun = resetPeakRSS()
	cpu0 := cpuSeconds()
	counter.reset()
	t0 := time.Now()

	steadyN := n / 2
	burstN := n - steadyN
	expect := map[string]int{}
	// endpointOf spreads the steady phase over every endpoint and the burst
	// over those that answer at once: the burst measures what the API
	// baseline does, one create and one status write per delivery, while
	// retries are measured in the steady phase.
	endpointOf := func(phase string, idx int) int {
		if phase == phaseBurst && nFail < o.endpoints {
			return nFail + idx%(o.endpoints-nFail)
		}
		return idx % o.endpoints
	}
	create := func(phase string, prefix string, offset int) func(i int) error {
		return func(i int) error {
			idx := offset + i
			j := endpointOf(phase, idx)
			retried := j < nFail
			name := fmt.Sprintf("%s-%06d", prefix, i)
			tr.add(name, phase, retried, time.Now())
			if err := b.createWithRetry(ctx, delivery(ns, name, epName(j), idx)); err != nil {
				return fmt.Errorf("creating delivery %s: %w", name, err)
			}
			tr.created(name, time.Now())
			return nil
		}
	}
	for idx := 0; idx < n; idx++ {
		phase := phaseSteady
		if idx >= steadyN {
			phase = phaseBurst
		}
		expect[groupKey(phase, endpointOf(phase, idx) < nFail)]++
	}
	waitGroup := func(phase string, retried bool) error {
		want := expect[groupKey(phase, retried)]
		what := fmt.Sprintf("%d %s deliveries (retried=%t) Succeeded", want, phase, retried)
		return waitUntil(ctx, o.wait, what, func() bool { return tr.count(phase, retried) >= want },
			func() string { return fmt.Sprintf("%d of %d", tr.count(phase, retried), want) })
	}

	progress("  steady: %d deliveries at %.0f/s", steadyN, o.rate)
	if err := forEach(ctx, steadyN, o.concurrency, o.rate, create(phaseSteady, "s", 0)); err != nil {
		return nil, err
	}
	// The burst starts once the steady phase is over, retries included.
	for _, retried := range []bool{false, true} {
		if err := waitGroup(phaseSteady, retried); err != nil {
			return nil, err
		}
	}
	progress("  burst: %d deliveries, %d concurrent creates", burstN, o.concurrency)
	if err := forEach(ctx, burstN, o.concurrency, 0, create(phaseBurst, "b", steadyN)); err != nil {
		return nil, err
	}
	for _, g := range []struct {
		phase   string
		retried bool
	}{{phaseBurst, false}, {phaseBurst, true}} {
		if err := waitGroup(g.phase, g.retried); err != nil {
			return nil, err
		}
	}
	tEnd := time.Now()
	cpu1 := cpuSeconds()
	peak := peakRSS()
	byKind, perDelivery := counter.snapshot()

	res.TotalSeconds = round3(tEnd.Sub(t0).Seconds())
	res.CPUSeconds = round3(cpu1 - cpu0)
	res.ProcessCPUSecondsPer1000 = round3(res.CPUSeconds / (float64(n) / 1000))
	res.RequestsByKind = byKind
	res.RequestsPerDelivery = map[string]float64{}
	for k, v := range byKind {
		res.RequestsPerDelivery[k] = round3(float64(v) / float64(n))
		res.RequestsTotal += v
	}
	res.RSSBeforeMiB = mib(rssBefore)
	res.PeakRSSMiB = mib(peak)
	if res.PeakRSSIsRun && rssBefore > 0 {
		res.RSSGrowthPer1k = round3(mibSigned(int64(peak)-int64(rssBefore)) / (float64(n) / 1000)) //nolint:gosec // sizes fit
	}
	res.HeapBeforeMiB = mib(heapBefore)

	b.summarize(res, tr, perDelivery, ns, o.rate)
	if api != nil && httpb != nil && api.N > 0 && httpb.N > 0 {
		attempts := float64(res.FirstTry.Deliveries)*res.FirstTry.AttemptsPerDelivery + float64(res.Retried.Deliveries)*res.Retried.AttemptsPerDelivery
		res.DriverCPUSecondsEstimate = round3(api.CPUSeconds/2*float64(n)/float64(api.N) + httpb.CPUSeconds/2*attempts/float64(httpb.N))
		res.HeraldCPUSecondsPer1000 = round3((res.CPUSeconds - res.DriverCPUSecondsEstimate) / (float64(n) / 1000))
	}

	// Heap with the N deliveries in the manager's cache, without the
	// bench's own records.
	stopObserving()
	tr = nil
	b.rcv.forget()
	heapAfter := heapInuse()
	res.HeapAfterMiB = mib(heapAfter)
	res.HeapGrowthPer1k = round3(mibSigned(int64(heapAfter)-int64(heapBefore)) / (float64(n) / 1000)) //nolint:gosec // sizes fit
	stopped = true
	if err := m.stop(); err != nil {
		return nil, err
	}
	return res, nil
}

// summarize computes the phase and class figures of a finished run.
func (b *bench) summarize(res *HeraldRun, tr *tracker, perDelivery map[string]deliveryRequests, ns string, rate float64) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	type acc struct {
		firstStart, lastCreateEnd, lastFirstTry, lastAny time.Time
		n, firstTry                                      int
		received, succeeded, seen                        []time.Duration
	}
	phases := map[string]*acc{phaseSteady: {}, phaseBurst: {}}
	type cacc struct {
		n, attempts, statusWrites, maxWrites int
		kinds                                map[string]int
		received, succeeded, seen            []time.Duration
	}
	classes := map[bool]*cacc{false: {kinds: map[string]int{}}, true: {kinds: map[string]int{}}}
	for name, t := range tr.m {
		pd := perDelivery[name]
		// Succeeded: when the API server acknowledged the status write
		// that made it so (the watch's view is later, and reported too).
		done := pd.lastStatusWrite
		if done.IsZero() {
			res.Anomalies = append(res.Anomalies, fmt.Sprintf("%s: no acknowledged status write counted", name))
			done = t.succeeded
		}
		p := phases[t.phase]
		p.n++
		if p.firstStart.IsZero() || t.createStart.Before(p.firstStart) {
			p.firstStart = t.createStart
		}
		if t.createEnd.After(p.lastCreateEnd) {
			p.lastCreateEnd = t.createEnd
		}
		if done.After(p.lastAny) {
			p.lastAny = done
		}
		rcv, got := b.rcv.get(webhookID(ns, name))
		c := classes[t.retried]
		c.n++
		c.attempts += t.attempts
		if !got || rcv.ok.IsZero() {
			res.Anomalies = append(res.Anomalies, fmt.Sprintf("%s Succeeded but the receiver has no 2xx call for it", name))
		} else {
			c.received = append(c.received, rcv.ok.Sub(t.createStart))
		}
		c.succeeded = append(c.succeeded, done.Sub(t.createStart))
		c.seen = append(c.seen, t.succeeded.Sub(t.createStart))
		if got && rcv.n != t.attempts {
			res.Anomalies = append(res.Anomalies, fmt.Sprintf("%s: the receiver got %d calls, status shows %d attempts", name, rcv.n, t.attempts))
		}
		wantAttempts := 1
		if t.retried {
			wantAttempts = 2
		}
		if t.attempts != wantAttempts {
			res.Anomalies = append(res.Anomalies, fmt.Sprintf("%s: %d attempts, expected %d", name, t.attempts, wantAttempts))
		}
		c.statusWrites += pd.statusWrites
		c.maxWrites = max(c.maxWrites, pd.statusWrites)
		for k, v := range pd.byKind {
			c.kinds[k] += v
		}
		if !t.retried {
			p.firstTry++
			if done.After(p.lastFirstTry) {
				p.lastFirstTry = done
			}
			if got && !rcv.ok.IsZero() {
				p.received = append(p.received, rcv.ok.Sub(t.createStart))
			}
			p.succeeded = append(p.succeeded, done.Sub(t.createStart))
			p.seen = append(p.seen, t.succeeded.Sub(t.createStart))
		}
	}
	phaseResult := func(p *acc, offered float64) PhaseResult {
		r := PhaseResult{Deliveries: p.n, OfferedRate: offered}
		if d := p.lastCreateEnd.Sub(p.firstStart).Seconds(); d > 0 {
			r.CreateRate = round3(float64(p.n) / d)
		}
		if d := p.lastFirstTry.Sub(p.firstStart).Seconds(); d > 0 {
			r.FirstTrySeconds = round3(d)
			r.FirstTryPerSecond = round3(float64(p.firstTry) / d)
		}
		r.AllDoneSeconds = round3(p.lastAny.Sub(p.firstStart).Seconds())
		r.ReceivedLatency = latencyOf(p.received)
		r.SucceededLatency = latencyOf(p.succeeded)
		r.SeenLatency = latencyOf(p.seen)
		return r
	}
	res.Steady = phaseResult(phases[phaseSteady], rate)
	res.Burst = phaseResult(phases[phaseBurst], 0)
	res.DeliveriesPerSecond = res.Burst.FirstTryPerSecond
	classResult := func(c *cacc) ClassResult {
		r := ClassResult{Deliveries: c.n, StatusWritesMax: c.maxWrites, RequestsPerDelivery: map[string]float64{}}
		if c.n == 0 {
			return r
		}
		r.AttemptsPerDelivery = round3(float64(c.attempts) / float64(c.n))
		r.StatusWritesPerDelivery = round3(float64(c.statusWrites) / float64(c.n))
		for k, v := range c.kinds {
			r.RequestsPerDelivery[k] = round3(float64(v) / float64(c.n))
		}
		r.ReceivedLatency = latencyOf(c.received)
		r.SucceededLatency = latencyOf(c.succeeded)
		r.SeenLatency = latencyOf(c.seen)
		return r
	}
	res.FirstTry = classResult(classes[false])
	res.Retried = classResult(classes[true])
	if len(res.Anomalies) > 20 {
		more := len(res.Anomalies) - 20
		res.Anomalies = append(res.Anomalies[:20], fmt.Sprintf("… and %d more", more))
	}
}
