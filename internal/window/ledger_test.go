package window

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestLedgerMatchesRecompute drives a ledger through long random histories
// (deliveries created, attempted, finished, deleted; time passing; the
// watermark moving forward, written or not; the window changing) and checks
// after every step that it answers exactly what Compute, Compact and
// NextExpiry answer over every delivery.
func TestLedgerMatchesRecompute(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7919))
			ops := make([]byte, 3*(300+60*int(seed)))
			for i := range ops {
				ops[i] = byte(rng.UintN(256))
			}
			checkLedger(t, ops)
		})
	}
}

// FuzzLedgerMatchesRecompute is TestLedgerMatchesRecompute with the history
// chosen by the fuzzer.
func FuzzLedgerMatchesRecompute(f *testing.F) {
	f.Add([]byte{0, 1, 1, 2, 0, 3, 5, 9, 0, 3, 0, 2, 6, 0, 0, 7, 1, 0})
	f.Add([]byte{1, 200, 1, 1, 201, 1, 2, 0, 3, 2, 1, 2, 5, 200, 0, 6, 1, 0, 4, 0, 0, 7, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		// Each step recomputes from every delivery: a bounded history
		// keeps one execution quick.
		checkLedger(t, ops[:min(len(ops), 3*200)])
	})
}

// checkLedger reads ops three bytes at a time: an operation and two
// arguments.
func checkLedger(t *testing.T, ops []byte) {
	t.Helper()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := base
	window := 72 * time.Hour
	windowStart := now.Add(-window)
	l := NewLedger()
	all := map[string]Delivery{}
	var names []string // of deliveries in all, in creation order
	c := Compaction{}
	created := 0

	pick := func(b byte) (Delivery, bool) {
		if len(names) == 0 {
			return Delivery{}, false
		}
		return all[names[int(b)%len(names)]], true
	}
	set := func(d Delivery) {
		all[d.Name] = d
		l.Set(d)
	}
	remove := func(name string) {
		delete(all, name)
		names = slices.DeleteFunc(names, func(n string) bool { return n == name })
		l.Remove(name)
	}

	for i := 0; i+2 < len(ops); i += 3 {
		op, a, b := ops[i]%8, ops[i+1], ops[i+2]
		switch op {
		case 0: // a delivery is created
			d := Delivery{Name: fmt.Sprintf("d%04d", created), Created: now}
			if a%16 != 0 {
				d.User = fmt.Sprintf("user-%d", int(b)%12)
			}
			created++
			names = append(names, d.Name)
			set(d)
		case 1: // a burst of deliveries for many users
			for j := range min(int(a%48)+1, 1000-len(all)) {
				d := Delivery{Name: fmt.Sprintf("d%04d", created), Created: now,
					User: fmt.Sprintf("user-%d", (int(b)*31+j*7)%400)}
				created++
				names = append(names, d.Name)
				set(d)
			}
		case 2: // an attempt, which may finish the delivery
			d, ok := pick(a)
			if !ok || d.Finished {
				continue
			}
			start := now
			if b&0xc0 == 0xc0 {
				start = now.Add(-time.Duration(a) * 3 * time.Minute) // seen late
			}
			attempt(&d, Attempt{Start: start, Failed: b&1 == 1}, b&2 == 2, time.Duration(b>>2)*time.Second)
			set(d)
		case 3: // a burst of attempts that finish deliveries
			for j := range int(a % 48) {
				d, ok := pick(b + byte(j))
				if !ok || d.Finished {
					continue
				}
				attempt(&d, Attempt{Start: now.Add(time.Duration(j) * time.Millisecond), Failed: (int(b)+j)%5 == 0}, true, 0)
				set(d)
			}
		case 4: // a delivery is deleted, or changes where statistics do not look
			d, ok := pick(a)
			switch {
			case !ok:
				l.Remove("never-seen")
			case b&1 == 1:
				set(d) // a label change, or the informer's resync
			default:
				remove(d.Name)
			}
		case 5: // time passes
			now = now.Add(time.Duration(a)*time.Minute + time.Duration(b)*time.Microsecond)
			if ws := now.Add(-window); ws.After(windowStart) {
				windowStart = ws
			}
		case 6: // the watermark moves; the status write may fail
			through := now.Add(-time.Hour)
			if a&4 == 4 {
				through = now.Add(-time.Duration(b) * time.Minute)
			}
			want, wantFolded := Compact(c, through, windowStart, values(all))
			got, gotFolded := l.Compact(c, through, windowStart)
			slices.Sort(wantFolded)
			slices.Sort(gotFolded)
			if !reflect.DeepEqual(compactionText(got), compactionText(want)) || !slices.Equal(gotFolded, wantFolded) {
				t.Fatalf("step %d: Compact differs:\nledger %v folded %v\nall    %v folded %v",
					i/3, compactionText(got), gotFolded, compactionText(want), wantFolded)
			}
			if a&0x38 == 0x38 {
				c = Compaction{} // the endpoint was deleted and created again
				continue
			}
			if a&1 == 0 {
				c = want      // written
				if a&2 == 2 { // garbage collection of what it folded
					for _, name := range wantFolded {
						remove(name)
					}
				}
			}
		case 7: // the window changes, or the endpoint is resumed
			switch a % 4 {
			case 0:
				window = 2 * time.Hour
			case 1:
				window = 72 * time.Hour
			case 2:
				window = time.Duration(b+1) * 5 * time.Minute
			}
			windowStart = now.Add(-window)
			if a%4 == 3 {
				windowStart = now.Add(-time.Duration(b) * time.Second)
				c.Hourly, c.UserSketches = nil, nil
			}
		}

		want := Compute(windowStart, c, values(all), nil)
		got := l.Stats(windowStart, c, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d (op %d): Stats differ:\nledger %+v\nall    %+v", i/3, op, got, want)
		}
		if got, want := l.NextExpiry(windowStart, window, c), NextExpiry(windowStart, window, c, values(all)); !got.Equal(want) {
			t.Fatalf("step %d: NextExpiry %v, want %v", i/3, got, want)
		}
		for _, failed := range []bool{false, true} {
			since := now.Add(-time.Duration(a) * time.Minute)
			var got, want []string
			l.Finished(failed, since, func(d Delivery) bool { got = append(got, d.Name); return true })
			for _, d := range values(all) {
				if d.Finished && d.Failed == failed && !d.CompletionTime.Before(since) {
					want = append(want, d.Name)
				}
			}
			slices.SortFunc(want, func(x, y string) int {
				if c := all[x].CompletionTime.Compare(all[y].CompletionTime); c != 0 {
					return c
				}
				return compareStrings(x, y)
			})
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: Finished(%v, %v) = %v, want %v", i/3, failed, since, got, want)
			}
		}
		if l.Len() != len(all) {
			t.Fatalf("step %d: ledger holds %d deliveries, want %d", i/3, l.Len(), len(all))
		}
	}
}

// attempt records an attempt on d, finishing it (as the attempt ended) when
// finish is set or when it is the third.
func attempt(d *Delivery, a Attempt, finish bool, took time.Duration) {
	d.Attempts = append(slices.Clone(d.Attempts), a)
	if finish || len(d.Attempts) == 3 {
		d.Finished, d.Failed = true, a.Failed
		d.CompletionTime = a.Start.Add(took)
	}
}

func values(m map[string]Delivery) []Delivery {
	out := make([]Delivery, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compactionText is a compaction with its sketches encoded, for comparing.
func compactionText(c Compaction) []string {
	out := []string{c.Through.String()}
	for _, h := range c.Hourly {
		out = append(out, fmt.Sprintf("%v %d/%d", h.Hour, h.Failures, h.Calls))
	}
	for _, s := range c.UserSketches {
		out = append(out, s.Day.String()+" "+s.Sketch.Encode())
	}
	return out
}

// BenchmarkLedgerEvent is the ledger's share of one delivery event (the
// informer handler's Set of a created delivery and of its success, then the
// statistics update's Stats and NextExpiry) with 1,000 and 10,000
// deliveries kept on the endpoint: the cost must not grow with them.
func BenchmarkLedgerEvent(b *testing.B) {
	for _, kept := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("kept=%d", kept), func(b *testing.B) {
			now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			l := NewLedger()
			succeeded := func(i int, at time.Time) Delivery {
				return Delivery{Name: fmt.Sprintf("d%07d", i), User: fmt.Sprintf("user-%d", i%1000), Created: at,
					Attempts: []Attempt{{Start: at}}, Finished: true, CompletionTime: at.Add(time.Millisecond)}
			}
			for i := range kept {
				l.Set(succeeded(i, now.Add(-time.Duration(kept-i)*time.Second/10)))
			}
			c := Compaction{Through: now.Add(-time.Hour)}
			windowStart := now.Add(-72 * time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				at := now.Add(time.Duration(i) * time.Millisecond)
				d := succeeded(kept+i, at)
				l.Set(Delivery{Name: d.Name, User: d.User, Created: at})
				l.Set(d)
				_ = l.Stats(windowStart, c, nil)
				_ = l.NextExpiry(windowStart, 72*time.Hour, c)
				l.Remove(d.Name) // keep the count where it was
			}
		})
	}
}
