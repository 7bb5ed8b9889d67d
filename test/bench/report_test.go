package main

import (
	"math"
	"testing"
)

func TestGrowthExponents(t *testing.T) {
	// Herald's burst time grows as N^1.2 while the API baseline's grows as
	// N: relative time k = 0.2. CPU is linear, heap grows as sqrt(N).
	var runs []ScaleRun
	for _, n := range []int{1000, 2000, 4000, 8000} {
		x := float64(n)
		runs = append(runs, ScaleRun{
			N:      n,
			API:    &APIBaseline{Seconds: x / 200},
			Herald: &HeraldRun{Burst: PhaseResult{FirstTrySeconds: math.Pow(x, 1.2) / 1000}, CPUSeconds: x / 700, HeapBeforeMiB: 10, HeapAfterMiB: 10 + math.Sqrt(x)},
		})
	}
	e := growthExponentsOf(runs)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"burst time", e.BurstTime, 1.2}, {"API time", e.APITime, 1}, {"relative time", e.RelativeTime, 0.2}, {"CPU", e.CPU, 1}, {"heap", e.HeapGrowth, 0.5}} {
		if math.Abs(c.got-c.want) > 0.001 {
			t.Errorf("%s: k = %v, want %v", c.name, c.got, c.want)
		}
	}
	targets := evaluateTargets(&Results{Runs: runs, Exponents: e})
	for _, tg := range targets {
		if tg.Name == "linear growth" && tg.Met {
			t.Errorf("linear growth met with relative time k = 0.2: %+v", tg)
		}
	}
	if growthExponentsOf(runs[:1]) != nil {
		t.Error("one run has no exponents")
	}
}
