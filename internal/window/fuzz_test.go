package window

import (
	"fmt"
	"testing"
	"time"
)

// FuzzCompactionKeepsCounts: whatever the deliveries and watermarks, the
// calls and failures computed after folding (with the folded deliveries
// gone, as garbage collection leaves them) equal those computed from every
// delivery, and folding twice changes nothing.
func FuzzCompactionKeepsCounts(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, uint8(10), uint8(30))
	f.Add([]byte{255, 0, 255, 0, 128, 64, 32, 16}, uint8(0), uint8(70))
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, seed []byte, cut1, cut2 uint8) {
		var deliveries []Delivery
		for i := 0; i+3 < len(seed) && len(deliveries) < 200; i += 4 {
			start := base.Add(time.Duration(seed[i]) * 17 * time.Minute)
			d := Delivery{Name: fmt.Sprintf("d%d", i), User: fmt.Sprintf("u%d", seed[i+1]%16), Created: start}
			n := int(seed[i+2]%3) + 1
			at := start
			for a := range n {
				d.Attempts = append(d.Attempts, Attempt{Start: at, Failed: (seed[i+3]>>a)&1 == 1 || a < n-1})
				at = at.Add(time.Duration(seed[i+3]%7+1) * 13 * time.Minute)
			}
			if seed[i+1]&1 == 0 {
				d.Finished, d.CompletionTime = true, at
			}
			deliveries = append(deliveries, d)
		}
		windowStart := base.Add(time.Duration(min(cut1, cut2)) * time.Hour / 4)
		want := Compute(windowStart, Compaction{}, deliveries, nil)

		c := Compaction{}
		live := deliveries
		for _, cut := range []uint8{cut1, cut2} {
			var folded []string
			c, folded = Compact(c, base.Add(time.Duration(cut)*time.Hour), windowStart, live)
			again, foldedAgain := Compact(c, c.Through, windowStart, live)
			if len(foldedAgain) != 0 || len(again.Hourly) != len(c.Hourly) {
				t.Fatalf("folding again at the same watermark folded %v", foldedAgain)
			}
			gone := map[string]bool{}
			for _, name := range folded {
				gone[name] = true
			}
			var kept []Delivery
			for _, d := range live {
				if !gone[d.Name] {
					kept = append(kept, d)
				}
			}
			live = kept
			got := Compute(windowStart, c, live, nil)
			if got.Calls != want.Calls || got.Failures != want.Failures {
				t.Fatalf("after folding at %v: %d calls, %d failures; want %d, %d",
					c.Through, got.Calls, got.Failures, want.Calls, want.Failures)
			}
		}
	})
}
