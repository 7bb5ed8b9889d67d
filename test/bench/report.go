package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Results is everything the bench measured; -json writes it.
type Results struct {
	Started    string            `json:"started"`
	GoVersion  string            `json:"go_version"`
	CPUs       int               `json:"cpus"`
	Options    map[string]string `json:"options"`
	Runs       []ScaleRun        `json:"runs"`
	Growth     []GrowthStep      `json:"growth,omitempty"`
	Exponents  *GrowthExponents  `json:"growth_exponents,omitempty"`
	Live       *LiveResult       `json:"live,omitempty"`
	Statistics *StatisticsResult `json:"statistics,omitempty"`
	Targets    []Target          `json:"targets"`
}

// ScaleRun is herald and both baselines at one N.
type ScaleRun struct {
	N      int           `json:"n"`
	Herald *HeraldRun    `json:"herald"`
	API    *APIBaseline  `json:"api_baseline"`
	HTTP   *HTTPBaseline `json:"http_baseline"`
	// HeraldOverAPI and HeraldOverHTTP are herald's deliveries per second
	// (burst, first try) ÷ each baseline's.
	HeraldOverAPI  float64 `json:"herald_over_api_baseline"`
	HeraldOverHTTP float64 `json:"herald_over_http_baseline"`
}

// GrowthStep compares two consecutive -scale runs: each ratio is the
// larger run's figure ÷ the smaller's, next to the ratio of N.
type GrowthStep struct {
	From           int     `json:"from_n"`
	To             int     `json:"to_n"`
	NRatio         float64 `json:"n_ratio"`
	BurstTimeRatio float64 `json:"burst_time_ratio"`
	APITimeRatio   float64 `json:"api_baseline_time_ratio"`
	// NormalizedTimeRatio is BurstTimeRatio ÷ APITimeRatio: herald's
	// growth with the API server's own slowdown (a bigger etcd, other
	// work on the machine) taken out.
	NormalizedTimeRatio float64 `json:"normalized_burst_time_ratio"`
	CPURatio            float64 `json:"cpu_ratio"`
	HeapGrowthRatio     float64 `json:"heap_growth_ratio"`
	PeakRSSGrowthRatio  float64 `json:"peak_rss_growth_ratio"`
}

// GrowthExponents fit each figure of the -scale runs to a·N^k (least
// squares on log-log) and give k: 1 is linear growth. Fitted over every
// run at once, k is steadier on a noisy machine than any one doubling.
type GrowthExponents struct {
	Runs int `json:"runs"`
	// BurstTime is of herald's burst time; APITime of the API baseline's;
	// RelativeTime of their quotient (0: herald grows as the API server
	// lets it).
	BurstTime    float64 `json:"burst_time"`
	APITime      float64 `json:"api_baseline_time"`
	RelativeTime float64 `json:"burst_time_relative_to_api_baseline"`
	CPU          float64 `json:"cpu"`
	HeapGrowth   float64 `json:"heap_growth"`
}

// Target is one of the performance goals and whether it was met.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func (b *bench) runScale(ctx context.Context, n int) (*ScaleRun, error) {
	progress("N=%d: API baseline (%d concurrent create + status write)", n, b.opts.concurrency)
	api, err := b.runAPIBaseline(ctx, n)
	if err != nil {
		return nil, err
	}
	progress("N=%d: API baseline %.0f/s; HTTP baseline (%d concurrent POSTs)", n, api.DeliveriesPerSecond, b.opts.httpConcurrency)
	httpb, err := b.runHTTPBaseline(ctx, n)
	if err != nil {
		return nil, err
	}
	// Each run starts on an API server that holds none of the previous
	// runs' deliveries: herald's run is not charged for a fuller etcd than
	// its baseline's, nor a larger N's run for every smaller one before it.
	if err := b.deleteDeliveries(ctx, api.namespace); err != nil {
		return nil, err
	}
	progress("N=%d: HTTP baseline %.0f/s; herald", n, httpb.RequestsPerSecond)
	h, err := b.runHerald(ctx, n, api, httpb)
	if err != nil {
		return nil, err
	}
	if err := b.deleteDeliveries(ctx, h.namespace); err != nil {
		return nil, err
	}
	progress("N=%d: herald %.0f deliveries/s", n, h.DeliveriesPerSecond)
	sr := &ScaleRun{N: n, Herald: h, API: api, HTTP: httpb}
	if api.DeliveriesPerSecond > 0 {
		sr.HeraldOverAPI = round3(h.DeliveriesPerSecond / api.DeliveriesPerSecond)
	}
	if httpb.RequestsPerSecond > 0 {
		sr.HeraldOverHTTP = round3(h.DeliveriesPerSecond / httpb.RequestsPerSecond)
	}
	return sr, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round3(a / b)
}

func growthOf(runs []ScaleRun) []GrowthStep {
	var out []GrowthStep
	for i := 1; i < len(runs); i++ {
		a, b := runs[i-1], runs[i]
		heapA := b.Herald.HeapAfterMiB - b.Herald.HeapBeforeMiB
		heapPrev := a.Herald.HeapAfterMiB - a.Herald.HeapBeforeMiB
		rssA := b.Herald.PeakRSSMiB - b.Herald.RSSBeforeMiB
		rssPrev := a.Herald.PeakRSSMiB - a.Herald.RSSBeforeMiB
		out = append(out, GrowthStep{
			From:           a.N,
			To:             b.N,
			NRatio:         ratio(float64(b.N), float64(a.N)),
			BurstTimeRatio: ratio(b.Herald.Burst.FirstTrySeconds, a.Herald.Burst.FirstTrySeconds),
			APITimeRatio:   ratio(b.API.Seconds, a.API.Seconds),
			NormalizedTimeRatio: ratio(ratio(b.Herald.Burst.FirstTrySeconds, a.Herald.Burst.FirstTrySeconds),
				ratio(b.API.Seconds, a.API.Seconds)),
			CPURatio:           ratio(b.Herald.CPUSeconds, a.Herald.CPUSeconds),
			HeapGrowthRatio:    ratio(heapA, heapPrev),
			PeakRSSGrowthRatio: ratio(rssA, rssPrev),
		})
	}
	return out
}

func growthExponentsOf(runs []ScaleRun) *GrowthExponents {
	if len(runs) < 2 {
		return nil
	}
	fit := func(y func(ScaleRun) float64) float64 {
		var xs, ys []float64
		for _, r := range runs {
			if v := y(r); v > 0 {
				xs, ys = append(xs, math.Log(float64(r.N))), append(ys, math.Log(v))
			}
		}
		return round3(slope(xs, ys))
	}
	burst := func(r ScaleRun) float64 { return r.Herald.Burst.FirstTrySeconds }
	api := func(r ScaleRun) float64 { return r.API.Seconds }
	return &GrowthExponents{
		Runs:         len(runs),
		BurstTime:    fit(burst),
		APITime:      fit(api),
		RelativeTime: fit(func(r ScaleRun) float64 { return ratio(burst(r), api(r)) }),
		CPU:          fit(func(r ScaleRun) float64 { return r.Herald.CPUSeconds }),
		HeapGrowth:   fit(func(r ScaleRun) float64 { return r.Herald.HeapAfterMiB - r.Herald.HeapBeforeMiB }),
	}
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(xs))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func evaluateTargets(res *Results) []Target {
	var ts []Target
	// The run at the default N, or else the largest.
	var main *ScaleRun
	for i := range res.Runs {
		r := &res.Runs[i]
		if main == nil || (main.N != 5000 && (r.N == 5000 || r.N > main.N)) {
			main = r
		}
	}
	if main != nil {
		ts = append(ts, Target{
			Name:     "throughput",
			Goal:     "herald ≥ 0.8 × API baseline deliveries/s",
			Measured: fmt.Sprintf("%.0f/s vs %.0f/s = %.2f× (N=%d)", main.Herald.DeliveriesPerSecond, main.API.DeliveriesPerSecond, main.HeraldOverAPI, main.N),
			Met:      main.HeraldOverAPI >= 0.8,
		})
		ts = append(ts, Target{
			Name:     "status writes",
			Goal:     "≤ 1.05 status writes per first-try delivery",
			Measured: fmt.Sprintf("%.3f (max %d, N=%d)", main.Herald.FirstTry.StatusWritesPerDelivery, main.Herald.FirstTry.StatusWritesMax, main.N),
			Met:      main.Herald.FirstTry.Deliveries > 0 && main.Herald.FirstTry.StatusWritesPerDelivery <= 1.05,
		})
	}
	if e := res.Exponents; e != nil {
		// Linear: time relative to the API baseline's grows as N^0, CPU
		// and heap as N^1, each with 0.1 for the noise of a shared machine.
		ts = append(ts, Target{
			Name: "linear growth",
			Goal: "fitted over the -scale runs: burst time relative to the API baseline's ∝ N^k with k ≤ 0.1, CPU and heap growth ∝ N^k with k ≤ 1.1",
			Measured: fmt.Sprintf("%d runs: relative time k = %.2f (herald's burst time %.2f, API baseline's %.2f), CPU k = %.2f, heap k = %.2f",
				e.Runs, e.RelativeTime, e.BurstTime, e.APITime, e.CPU, e.HeapGrowth),
			Met: e.RelativeTime <= 0.1 && e.CPU <= 1.1 && e.HeapGrowth <= 1.1,
		})
	}
	if s := res.Statistics; s != nil && len(s.Points) >= 2 {
		first, last := s.Points[0], s.Points[len(s.Points)-1]
		ts = append(ts, Target{
			Name: "statistics cost",
			Goal: "endpoint statistics cost per event independent of deliveries kept",
			Measured: fmt.Sprintf("p50 %.1f ms (CPU %.1f ms) per reconcile at %d live, %.1f ms (CPU %.1f ms) at %d: ×%.1f (CPU ×%.1f) for ×%.0f deliveries",
				first.Latency.P50ms, first.CPUMsPerReconcile, first.Live, last.Latency.P50ms, last.CPUMsPerReconcile, last.Live, s.GrowthRatio, s.CPUGrowthRatio, s.CountRatio),
			// "Independent": within 50% while the count grows tenfold.
			Met: s.GrowthRatio <= 1.5 && s.CPUGrowthRatio <= 1.5,
		})
	}
	return ts
}

func optionsJSON(o *options) map[string]string {
	return map[string]string{
		"n":                     fmt.Sprint(o.n),
		"scale":                 strings.Trim(strings.Join(strings.Fields(fmt.Sprint(o.scale)), ","), "[]"),
		"endpoints":             fmt.Sprint(o.endpoints),
		"rate":                  fmt.Sprint(o.rate),
		"concurrency":           fmt.Sprint(o.concurrency),
		"concurrent_deliveries": fmt.Sprint(o.concurrentDeliveries),
		"http_concurrency":      fmt.Sprint(o.httpConcurrency),
		"retry_fraction":        fmt.Sprint(o.retryFraction),
		"retry_backoff":         o.retryBackoff.String(),
		"sign":                  fmt.Sprint(o.sign),
		"live":                  strings.Trim(strings.Join(strings.Fields(fmt.Sprint(o.live)), ","), "[]"),
		"stats_sizes":           strings.Trim(strings.Join(strings.Fields(fmt.Sprint(o.statsSizes)), ","), "[]"),
		"stats_reps":            fmt.Sprint(o.statsReps),
		"statistics_delay":      o.statisticsDelay.String(),
	}
}

func lat(l Latency) string {
	if l.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", fmtMs(l.P50ms), fmtMs(l.P95ms), fmtMs(l.P99ms))
}

func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.1fms", v)
	}
}

func printReport(w io.Writer, res *Results) {
	o := res.Options
	fmt.Fprintf(w, "\nherald bench — %s, %d CPUs, %s\n", res.GoVersion, res.CPUs, res.Started)
	fmt.Fprintf(w, "endpoints %s (retry fraction %s, backoff %s), signing %s, creating concurrency %s, --concurrent-deliveries %s, steady rate %s/s\n",
		o["endpoints"], o["retry_fraction"], o["retry_backoff"], o["sign"], o["concurrency"], o["concurrent_deliveries"], o["rate"])
	for _, r := range res.Runs {
		h := r.Herald
		fmt.Fprintf(w, "\n== N = %d (steady %d, burst %d; %d first-try, %d retried) ==\n", r.N, h.Steady.Deliveries, h.Burst.Deliveries, h.FirstTry.Deliveries, h.Retried.Deliveries)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "\therald\tAPI baseline\tHTTP baseline\n")
		fmt.Fprintf(tw, "deliveries/s (burst, first try)\t%.0f\t%.0f\t%.0f\n", h.DeliveriesPerSecond, r.API.DeliveriesPerSecond, r.HTTP.RequestsPerSecond)
		fmt.Fprintf(tw, "herald ÷ baseline\t\t%.2f\t%.3f\n", r.HeraldOverAPI, r.HeraldOverHTTP)
		fmt.Fprintf(tw, "latency p50/p95/p99, burst\tcreated→received %s\tcreate+write %s\tPOST %s\n", lat(h.Burst.ReceivedLatency), lat(r.API.Latency), lat(r.HTTP.Latency))
		fmt.Fprintf(tw, "\tcreated→Succeeded written %s\t\t\n", lat(h.Burst.SucceededLatency))
		fmt.Fprintf(tw, "latency p50/p95/p99, steady %.0f/s\tcreated→received %s\t\t\n", h.Steady.OfferedRate, lat(h.Steady.ReceivedLatency))
		fmt.Fprintf(tw, "\tcreated→Succeeded written %s\t\t\n", lat(h.Steady.SucceededLatency))
		fmt.Fprintf(tw, "steady phase\tcreated %.0f/s, completed %.0f/s\t\t\n", h.Steady.CreateRate, h.Steady.FirstTryPerSecond)
		fmt.Fprintf(tw, "burst phase\tcreated %.0f/s in %.1fs, first try done %.1fs, all %.1fs\t\t\n", h.Burst.CreateRate, float64(h.Burst.Deliveries)/math.Max(h.Burst.CreateRate, 1e-9), h.Burst.FirstTrySeconds, h.Burst.AllDoneSeconds)
		fmt.Fprintf(tw, "process CPU s\t%.1f (per 1000: %.2f; herald alone ≈ %.2f)\t%.1f\t%.1f\n", h.CPUSeconds, h.ProcessCPUSecondsPer1000, h.HeraldCPUSecondsPer1000, r.API.CPUSeconds, r.HTTP.CPUSeconds)
		fmt.Fprintf(tw, "memory\tpeak RSS %.0f MiB (from %.0f, +%.2f MiB/1000); heap %.0f→%.0f MiB (+%.2f MiB/1000)\t\t\n", h.PeakRSSMiB, h.RSSBeforeMiB, h.RSSGrowthPer1k, h.HeapBeforeMiB, h.HeapAfterMiB, h.HeapGrowthPer1k)
		_ = tw.Flush()

		fmt.Fprintf(w, "\nherald's API requests per delivery (all %d requests ÷ N):\n", h.RequestsTotal)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range sortedKeys(h.RequestsPerDelivery) {
			fmt.Fprintf(tw, "  %s\t%.3f\t(%d)\n", k, h.RequestsPerDelivery[k], h.RequestsByKind[k])
		}
		_ = tw.Flush()
		for _, c := range []struct {
			name string
			r    ClassResult
		}{{"first-try", h.FirstTry}, {"retried", h.Retried}} {
			if c.r.Deliveries == 0 {
				continue
			}
			fmt.Fprintf(w, "%s (%d): %.2f attempts, %.3f status writes per delivery (max %d); requests naming the delivery:", c.name, c.r.Deliveries, c.r.AttemptsPerDelivery, c.r.StatusWritesPerDelivery, c.r.StatusWritesMax)
			for _, k := range sortedKeys(c.r.RequestsPerDelivery) {
				fmt.Fprintf(w, " %s %.3f;", k, c.r.RequestsPerDelivery[k])
			}
			fmt.Fprintf(w, " created→Succeeded written %s\n", lat(c.r.SucceededLatency))
		}
		for _, a := range h.Anomalies {
			fmt.Fprintf(w, "anomaly: %s\n", a)
		}
	}
	if len(res.Growth) > 0 {
		fmt.Fprintf(w, "\n== growth ==\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "N\t×N\tburst time ×\tAPI baseline time ×\tburst ÷ API ×\tCPU ×\theap growth ×\tpeak RSS growth ×\n")
		for _, g := range res.Growth {
			fmt.Fprintf(tw, "%d→%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", g.From, g.To, g.NRatio, g.BurstTimeRatio, g.APITimeRatio, g.NormalizedTimeRatio, g.CPURatio, g.HeapGrowthRatio, g.PeakRSSGrowthRatio)
		}
		_ = tw.Flush()
	}
	if e := res.Exponents; e != nil {
		fmt.Fprintf(w, "fitted exponents k of a·N^k over %d runs (1 = linear): herald burst time %.2f, API baseline time %.2f, their quotient %.2f; CPU %.2f; heap growth %.2f\n",
			e.Runs, e.BurstTime, e.APITime, e.RelativeTime, e.CPU, e.HeapGrowth)
	}
	if l := res.Live; l != nil {
		fmt.Fprintf(w, "\n== live (Held) deliveries in herald's cache ==\n")
		for _, p := range l.Points {
			fmt.Fprintf(w, "%6d live: heap in use %.1f MiB (+%.1f MiB over %.1f, %.2f MiB per 1000), RSS %.0f MiB; all Held %.1fs after the first create\n",
				p.Live, p.HeapInuseMiB, p.HeapGrowthMiB, l.HeapBaseMiB, p.HeapGrowthPer1kMiB, p.RSSMiB, p.HeldSeconds)
		}
		fmt.Fprintf(w, "status writes per held delivery: %.3f; requests:", l.StatusWritesPerDelivery)
		for _, k := range sortedKeys(l.RequestsByKind) {
			fmt.Fprintf(w, " %s %d;", k, l.RequestsByKind[k])
		}
		fmt.Fprintln(w)
	}
	if s := res.Statistics; s != nil {
		fmt.Fprintf(w, "\n== endpoint reconciler alone (one statistics update), %d reconciles each ==\n", s.Reps)
		for _, p := range s.Points {
			fmt.Fprintf(w, "%6d live: p50 %.2f ms (mean %.2f, max %.2f), CPU %.2f ms, %.2f µs per live delivery, %.2f MiB allocated per reconcile; requests per reconcile:",
				p.Live, p.Latency.P50ms, p.MeanMs, p.Latency.MaxMs, p.CPUMsPerReconcile, p.MicrosecondsPerLiveRow, p.AllocMiBPerReconcile)
			for _, k := range sortedKeys(p.RequestsPerReconcile) {
				fmt.Fprintf(w, " %s %.2f;", k, p.RequestsPerReconcile[k])
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\n== targets ==\n")
	for _, t := range res.Targets {
		verdict := "MET"
		if !t.Met {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "%-7s %s: %s — %s\n", verdict, t.Name, t.Goal, t.Measured)
	}
}
