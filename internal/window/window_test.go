package window

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// t0 is a UTC midnight; the tests' times are offsets from it.
var t0 = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ok(d time.Duration) Attempt   { return Attempt{Start: at(d)} }
func fail(d time.Duration) Attempt { return Attempt{Start: at(d), Failed: true} }

// live is an unfinished delivery created at its first attempt.
func live(name, user string, attempts ...Attempt) Delivery {
	d := Delivery{Name: name, User: user, Attempts: attempts}
	if len(attempts) > 0 {
		d.Created = attempts[0].Start
	}
	return d
}

// done is a delivery that finished `after` its last attempt started.
func done(name, user string, after time.Duration, attempts ...Attempt) Delivery {
	d := live(name, user, attempts...)
	d.Finished = true
	d.CompletionTime = attempts[len(attempts)-1].Start.Add(after)
	return d
}

func hc(hour time.Duration, calls, failures int64) HourlyCount {
	return HourlyCount{Hour: at(hour), Calls: calls, Failures: failures}
}

func hourlyEqual(a, b []HourlyCount) bool {
	return slices.EqualFunc(a, b, func(x, y HourlyCount) bool {
		return x.Hour.Equal(y.Hour) && x.Calls == y.Calls && x.Failures == y.Failures
	})
}

func fmtHourly(hs []HourlyCount) string {
	s := "["
	for i, h := range hs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s:%d/%d", h.Hour.UTC().Format("02T15"), h.Calls, h.Failures)
	}
	return s + "]"
}

// checkStats compares every field of two Stats.
func checkStats(t *testing.T, got, want Stats) {
	t.Helper()
	if !got.WindowStart.Equal(want.WindowStart) {
		t.Errorf("WindowStart = %v, want %v", got.WindowStart, want.WindowStart)
	}
	if got.Calls != want.Calls || got.Failures != want.Failures || got.FailurePercent != want.FailurePercent {
		t.Errorf("calls/failures/percent = %d/%d/%d, want %d/%d/%d",
			got.Calls, got.Failures, got.FailurePercent, want.Calls, want.Failures, want.FailurePercent)
	}
	if got.Users != want.Users || got.UsersReporting != want.UsersReporting {
		t.Errorf("users/reporting = %d/%d, want %d/%d", got.Users, got.UsersReporting, want.Users, want.UsersReporting)
	}
	if !got.LastSuccess.Equal(want.LastSuccess) || !got.LastFailure.Equal(want.LastFailure) {
		t.Errorf("last success/failure = %v/%v, want %v/%v", got.LastSuccess, got.LastFailure, want.LastSuccess, want.LastFailure)
	}
	if !hourlyEqual(got.Hourly, want.Hourly) {
		t.Errorf("hourly = %s, want %s", fmtHourly(got.Hourly), fmtHourly(want.Hourly))
	}
}

// nAttempts is a delivery with calls attempts a minute apart from start, the
// first `failures` of them failed.
func nAttempts(start time.Duration, calls, failures int) Delivery {
	var as []Attempt
	for i := range calls {
		as = append(as, Attempt{Start: at(start + time.Duration(i)*time.Minute), Failed: i < failures})
	}
	return live("d", "", as...)
}

func TestCompute(t *testing.T) {
	ws := at(10 * time.Hour)
	for _, tc := range []struct {
		name        string
		windowStart time.Time
		c           Compaction
		deliveries  []Delivery
		reporting   []string
		want        Stats
	}{
		{
			name:        "nothing",
			windowStart: ws,
			want:        Stats{WindowStart: ws},
		},
		{
			name:        "calls and failures of live attempts",
			windowStart: ws,
			deliveries: []Delivery{
				live("a", "", ok(11*time.Hour)),
				live("b", "", fail(11*time.Hour+time.Minute), fail(11*time.Hour+5*time.Minute), ok(12*time.Hour)),
				done("c", "", time.Second, fail(13*time.Hour), fail(13*time.Hour+30*time.Minute)),
			},
			want: Stats{
				WindowStart: ws, Calls: 6, Failures: 4, FailurePercent: 66,
				LastSuccess: at(12 * time.Hour), LastFailure: at(13*time.Hour + 30*time.Minute),
				Hourly: []HourlyCount{hc(11*time.Hour, 3, 2), hc(12*time.Hour, 1, 0), hc(13*time.Hour, 2, 2)},
			},
		},
		{
			name:        "attempts before the window start do not count, one exactly at it does",
			windowStart: ws,
			deliveries: []Delivery{
				live("a", "", fail(9*time.Hour), fail(10*time.Hour-time.Nanosecond), ok(10*time.Hour)),
				live("b", "", fail(5*time.Hour)),
				live("c", "", fail(10*time.Hour+time.Nanosecond)),
			},
			want: Stats{
				WindowStart: ws, Calls: 2, Failures: 1, FailurePercent: 50,
				LastSuccess: at(10 * time.Hour), LastFailure: at(10*time.Hour + time.Nanosecond),
				Hourly: []HourlyCount{hc(10*time.Hour, 2, 1)},
			},
		},
		{
			name:        "hourly counts are sorted whatever the order of deliveries and hours",
			windowStart: ws,
			deliveries: []Delivery{
				live("a", "", ok(15*time.Hour+59*time.Minute)),
				live("b", "", fail(10*time.Hour+30*time.Minute)),
				live("c", "", ok(12*time.Hour)),
				live("d", "", fail(15*time.Hour)),
				live("e", "", ok(12*time.Hour+59*time.Minute+59*time.Second), ok(16*time.Hour)),
			},
			want: Stats{
				WindowStart: ws, Calls: 6, Failures: 2, FailurePercent: 33,
				LastSuccess: at(16 * time.Hour), LastFailure: at(15 * time.Hour),
				Hourly: []HourlyCount{
					hc(10*time.Hour, 1, 1), hc(12*time.Hour, 2, 0), hc(15*time.Hour, 2, 1), hc(16*time.Hour, 1, 0),
				},
			},
		},
		{
			name:        "hours of non-UTC attempts are UTC hours",
			windowStart: ws,
			deliveries: []Delivery{
				live("a", "", Attempt{Start: at(11*time.Hour + 10*time.Minute).In(time.FixedZone("X", 5*3600+1800))}),
				live("b", "", ok(11*time.Hour+20*time.Minute)),
			},
			want: Stats{
				WindowStart: ws, Calls: 2, LastSuccess: at(11*time.Hour + 20*time.Minute),
				Hourly: []HourlyCount{hc(11*time.Hour, 2, 0)},
			},
		},
		{
			name:        "users are the distinct non-empty users of deliveries in the window",
			windowStart: ws,
			deliveries: []Delivery{
				live("a", "alice", ok(11*time.Hour)),
				live("b", "alice", ok(12*time.Hour)),
				live("c", "bob", ok(13*time.Hour)),
				live("d", "", ok(13*time.Hour)),
				// created before the window, retried in it: in the window
				live("e", "carol", fail(9*time.Hour), ok(10*time.Hour)),
				// wholly before the window
				done("f", "dave", time.Second, fail(8*time.Hour), ok(9*time.Hour)),
				// created in the window, not yet attempted
				{Name: "g", User: "erin", Created: at(14 * time.Hour)},
				// created before the window, never attempted
				{Name: "h", User: "frank", Created: at(9 * time.Hour)},
			},
			want: Stats{
				WindowStart: ws, Calls: 5, Users: 4, LastSuccess: at(13 * time.Hour),
				Hourly: []HourlyCount{hc(10*time.Hour, 1, 0), hc(11*time.Hour, 1, 0), hc(12*time.Hour, 1, 0), hc(13*time.Hour, 2, 0)},
			},
		},
		{
			name:        "reporting users are deduplicated",
			windowStart: ws,
			reporting:   []string{"alice", "bob", "alice", "carol", "bob"},
			want:        Stats{WindowStart: ws, UsersReporting: 3},
		},
		{
			name:        "folded hours add to live ones",
			windowStart: ws,
			c: Compaction{
				Through: at(20 * time.Hour),
				Hourly:  []HourlyCount{hc(9*time.Hour, 100, 100), hc(10*time.Hour, 4, 1), hc(11*time.Hour, 2, 2)},
			},
			deliveries: []Delivery{live("a", "", fail(11*time.Hour+time.Minute), ok(12*time.Hour))},
			want: Stats{
				WindowStart: ws, Calls: 8, Failures: 4, FailurePercent: 50,
				LastSuccess: at(12 * time.Hour), LastFailure: at(11*time.Hour + time.Minute),
				Hourly: []HourlyCount{hc(10*time.Hour, 4, 1), hc(11*time.Hour, 3, 3), hc(12*time.Hour, 1, 0)},
			},
		},
		{
			name:        "deliveries finished before the watermark are not counted again",
			windowStart: ws,
			c:           Compaction{Through: at(20 * time.Hour), Hourly: []HourlyCount{hc(11*time.Hour, 1, 0)}},
			deliveries: []Delivery{
				done("folded", "alice", time.Second, ok(11*time.Hour)),
				done("at-watermark", "bob", 20*time.Hour-12*time.Hour, fail(12*time.Hour)),
			},
			want: Stats{
				WindowStart: ws, Calls: 2, Failures: 1, FailurePercent: 50, Users: 1,
				LastFailure: at(12 * time.Hour),
				Hourly:      []HourlyCount{hc(11*time.Hour, 1, 0), hc(12*time.Hour, 1, 1)},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkStats(t, Compute(tc.windowStart, tc.c, tc.deliveries, tc.reporting), tc.want)
		})
	}
}

func TestComputeFailurePercentRoundsDown(t *testing.T) {
	ws := at(0)
	for _, tc := range []struct {
		calls, failures int
		want            int64
	}{
		{0, 0, 0},
		{1, 0, 0},
		{1, 1, 100},
		{3, 1, 33},
		{3, 2, 66},
		{100, 25, 25},
		{100, 24, 24},
		{200, 49, 24},
		{200, 199, 99},
		{7, 7, 100},
	} {
		t.Run(fmt.Sprintf("%d of %d", tc.failures, tc.calls), func(t *testing.T) {
			s := Compute(ws, Compaction{}, []Delivery{nAttempts(time.Hour, tc.calls, tc.failures)}, nil)
			if s.Calls != int64(tc.calls) || s.Failures != int64(tc.failures) {
				t.Fatalf("calls/failures = %d/%d, want %d/%d", s.Calls, s.Failures, tc.calls, tc.failures)
			}
			if s.FailurePercent != tc.want {
				t.Errorf("FailurePercent = %d, want %d", s.FailurePercent, tc.want)
			}
		})
	}

	// The same from folded hours.
	c := Compaction{Through: at(time.Hour), Hourly: []HourlyCount{hc(0, 100, 24)}}
	if got := Compute(ws, c, nil, nil).FailurePercent; got != 24 {
		t.Errorf("FailurePercent of folded 24/100 = %d, want 24", got)
	}
}

// TestComputeUsersExactWithoutSketches: with nothing folded, users are counted
// exactly, even where the sketch alone would be off.
func TestComputeUsersExactWithoutSketches(t *testing.T) {
	for _, n := range []int{0, 1, 100, 1000, 3000} {
		var ds []Delivery
		for i := range n {
			// every user twice, and one delivery without a user
			u := fmt.Sprintf("user-%d", i)
			ds = append(ds, live(u+"-1", u, ok(time.Hour)), live(u+"-2", u, ok(2*time.Hour)))
		}
		ds = append(ds, live("anonymous", "", ok(time.Hour)))
		if got := Compute(at(0), Compaction{}, ds, nil).Users; got != int64(n) {
			t.Errorf("%d users: Users = %d", n, got)
		}
	}
}

// scenario is a seeded set of deliveries over about 70 hours.
type scenario struct {
	deliveries []Delivery
}

func newScenario(seed uint64, n int, users int) scenario {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var s scenario
	for i := range n {
		created := at(time.Duration(r.Int64N(int64(70 * time.Hour))))
		d := Delivery{Name: fmt.Sprintf("d%03d", i), Created: created}
		if r.IntN(10) > 0 {
			d.User = fmt.Sprintf("user-%d", r.IntN(users))
		}
		start := created.Add(time.Duration(r.Int64N(int64(5 * time.Minute))))
		attempts := 1 + r.IntN(3)
		for j := range attempts {
			failed := r.IntN(3) == 0
			if j < attempts-1 {
				failed = true // only the last attempt can succeed
			}
			d.Attempts = append(d.Attempts, Attempt{Start: start, Failed: failed})
			// retries up to 3 hours later: they cross hours and days
			start = start.Add(time.Minute + time.Duration(r.Int64N(int64(3*time.Hour))))
		}
		last := d.Attempts[len(d.Attempts)-1]
		// Most finish; a failed last attempt may still be retrying.
		if !last.Failed || attempts == 3 || r.IntN(2) == 0 {
			d.Finished = true
			// microsecond completion times (as stored), some exactly on an hour
			d.CompletionTime = last.Start.Add(time.Duration(r.Int64N(int64(30 * time.Second)))).Truncate(time.Microsecond)
			if r.IntN(20) == 0 {
				d.CompletionTime = d.CompletionTime.Truncate(time.Hour).Add(time.Hour)
			}
		}
		s.deliveries = append(s.deliveries, d)
	}
	return s
}

// without returns the deliveries not named in gone.
func without(ds []Delivery, gone map[string]bool) []Delivery {
	var out []Delivery
	for _, d := range ds {
		if !gone[d.Name] {
			out = append(out, d)
		}
	}
	return out
}

func checkCounts(t *testing.T, what string, got, want Stats) {
	t.Helper()
	if got.Calls != want.Calls || got.Failures != want.Failures || got.FailurePercent != want.FailurePercent {
		t.Errorf("%s: calls/failures/percent = %d/%d/%d, want %d/%d/%d", what,
			got.Calls, got.Failures, got.FailurePercent, want.Calls, want.Failures, want.FailurePercent)
	}
	if !hourlyEqual(got.Hourly, want.Hourly) {
		t.Errorf("%s: hourly\n got %s\nwant %s", what, fmtHourly(got.Hourly), fmtHourly(want.Hourly))
	}
}

// checkUsers allows the sketch's error: 3 standard deviations of linear
// counting, sqrt(m(e^t-t-1)) for t = n/m, which is what the estimate is for
// the few hundred users here (3 users for 100, 9 for 140, 20 for 300).
func checkUsers(t *testing.T, what string, got, want Stats) {
	t.Helper()
	const m = float64(sketchRegisters)
	x := float64(want.Users) / m
	tolerance := int64(math.Ceil(3 * math.Sqrt(m*(math.Exp(x)-x-1))))
	if d := got.Users - want.Users; d < -tolerance || d > tolerance {
		t.Errorf("%s: users = %d, want %d (±%d)", what, got.Users, want.Users, tolerance)
	}
}

func sameCompaction(a, b Compaction) bool {
	return a.Through.Equal(b.Through) && hourlyEqual(a.Hourly, b.Hourly) &&
		slices.EqualFunc(a.UserSketches, b.UserSketches, func(x, y DailySketch) bool {
			return x.Day.Equal(y.Day) && x.Sketch.Encode() == y.Sketch.Encode()
		})
}

// TestCompactionIsExact is the key property: the statistics with compaction
// equal those without, whether the folded deliveries are then deleted or not.
func TestCompactionIsExact(t *testing.T) {
	for _, tc := range []struct {
		name        string
		seed        uint64
		windowStart time.Time
		users       int
	}{
		{"window over everything", 1, at(-time.Hour), 60},
		{"window start mid-hour", 2, at(5*time.Hour + 17*time.Minute + 3*time.Second), 60},
		{"window start at midnight", 3, at(24 * time.Hour), 60},
		{"window start just after midnight", 4, at(24*time.Hour + time.Nanosecond), 150},
		{"window start late", 5, at(60*time.Hour + 59*time.Minute), 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScenario(tc.seed, 500, tc.users)
			all := sc.deliveries
			want := Compute(tc.windowStart, Compaction{}, all, []string{"x", "y", "x"})
			if want.Calls == 0 {
				t.Fatal("the scenario counts no call")
			}

			var kept, gced Compaction // compaction when folded deliveries are kept / deleted
			present := all
			foldedTimes := map[string]int{}
			watermarks := []time.Duration{10, 20, 20, 35, 30, 50, 50, 71, 80}
			for i, w := range watermarks {
				through := at(w * time.Hour)
				before := kept
				var foldedKept, foldedGC []string
				kept, foldedKept = Compact(kept, through, tc.windowStart, all)
				gced, foldedGC = Compact(gced, through, tc.windowStart, present)
				step := fmt.Sprintf("step %d (through %dh)", i, w)

				// The watermark never moves backwards.
				wantThrough := through
				if through.Before(before.Through) {
					wantThrough = before.Through
				}
				if !kept.Through.Equal(wantThrough) {
					t.Errorf("%s: Through = %v, want %v", step, kept.Through, wantThrough)
				}
				// Compact with the watermark it is at folds nothing.
				if !through.After(before.Through) && len(foldedKept) > 0 {
					t.Errorf("%s: folded %v again", step, foldedKept)
				}
				if !sameCompaction(kept, gced) || !slices.Equal(foldedKept, foldedGC) {
					t.Errorf("%s: compaction differs with the folded deliveries deleted", step)
				}
				// Folded: exactly the finished deliveries that became due.
				for _, d := range all {
					due := d.Finished && !d.CompletionTime.Before(before.Through) && d.CompletionTime.Before(kept.Through)
					if due != slices.Contains(foldedKept, d.Name) {
						t.Errorf("%s: %s folded=%v, want %v", step, d.Name, !due, due)
					}
				}
				for _, n := range foldedKept {
					foldedTimes[n]++
				}

				again, foldedAgain := Compact(kept, through, tc.windowStart, all)
				if len(foldedAgain) > 0 || !sameCompaction(again, kept) {
					t.Errorf("%s: compacting twice at the same watermark folded %v", step, foldedAgain)
				}

				gone := map[string]bool{}
				for _, n := range foldedGC {
					gone[n] = true
				}
				present = without(present, gone)

				gotKept := Compute(tc.windowStart, kept, all, []string{"x", "y", "x"})
				gotGC := Compute(tc.windowStart, gced, present, []string{"x", "y", "x"})
				checkCounts(t, step+", folded kept", gotKept, want)
				checkCounts(t, step+", folded deleted", gotGC, want)
				checkUsers(t, step+", folded kept", gotKept, want)
				checkUsers(t, step+", folded deleted", gotGC, want)
				if gotGC.UsersReporting != 2 {
					t.Errorf("%s: UsersReporting = %d, want 2", step, gotGC.UsersReporting)
				}
				t.Logf("%s: %d folded, %d left, users %d (exact %d)", step, len(foldedGC), len(present), gotGC.Users, want.Users)
			}
			for _, d := range all {
				if want := map[bool]int{true: 1, false: 0}[d.Finished]; foldedTimes[d.Name] != want {
					t.Errorf("%s folded %d times, want %d", d.Name, foldedTimes[d.Name], want)
				}
			}
		})
	}
}

// TestCompactionSlidingWindow compacts as the controller would, with the
// window sliding forward an hour at a time (window starts on the hour, so
// folded hours are exactly the live attempts they replace).
func TestCompactionSlidingWindow(t *testing.T) {
	const window = 24 * time.Hour
	sc := newScenario(7, 500, 400)
	all := sc.deliveries
	var c Compaction
	present := all
	for now := at(6 * time.Hour); now.Before(at(80 * time.Hour)); now = now.Add(time.Hour) {
		windowStart := now.Add(-window)
		// fold what finished more than 30 minutes ago
		var folded []string
		c, folded = Compact(c, now.Add(-30*time.Minute), windowStart, present)
		gone := map[string]bool{}
		for _, n := range folded {
			gone[n] = true
		}
		present = without(present, gone)

		for _, h := range c.Hourly {
			if !h.Hour.Add(time.Hour).After(windowStart) {
				t.Errorf("now %v: folded hour %v is wholly before the window", now, h.Hour)
			}
		}
		for _, d := range c.UserSketches {
			if !d.Day.Add(24 * time.Hour).After(windowStart) {
				t.Errorf("now %v: sketch of day %v is wholly before the window", now, d.Day)
			}
		}

		want := Compute(windowStart, Compaction{}, all, nil)
		got := Compute(windowStart, c, present, nil)
		step := "now " + now.Format("02T15")
		checkCounts(t, step, got, want)
		if windowStart.Equal(windowStart.Truncate(24 * time.Hour)) {
			// Folded users count by the day: exact (but for the sketch's
			// error) when the window starts at midnight.
			if d := float64(got.Users-want.Users) / float64(want.Users); d < -0.06 || d > 0.06 {
				t.Errorf("%s: users = %d, want %d (±6%%)", step, got.Users, want.Users)
			}
			t.Logf("%s: users %d, exact %d", step, got.Users, want.Users)
		}
	}
	if len(present) == len(all) {
		t.Error("nothing was folded")
	}
}

func TestWindowSlide(t *testing.T) {
	c := Compaction{
		Through: at(20 * time.Hour),
		Hourly:  []HourlyCount{hc(10*time.Hour, 5, 1), hc(11*time.Hour, 3, 3)},
	}
	ds := []Delivery{live("a", "", fail(10*time.Hour+30*time.Minute), ok(11*time.Hour+30*time.Minute))}
	for _, tc := range []struct {
		name        string
		windowStart time.Time
		wantCalls   int64
		wantHours   []HourlyCount // kept by Compact
	}{
		{"everything in", at(9 * time.Hour), 10, []HourlyCount{hc(10*time.Hour, 5, 1), hc(11*time.Hour, 3, 3)}},
		{"start of the first hour", at(10 * time.Hour), 10, []HourlyCount{hc(10*time.Hour, 5, 1), hc(11*time.Hour, 3, 3)}},
		{"at the live attempt", at(10*time.Hour + 30*time.Minute), 10, []HourlyCount{hc(10*time.Hour, 5, 1), hc(11*time.Hour, 3, 3)}},
		{"just after the live attempt", at(10*time.Hour + 30*time.Minute + time.Nanosecond), 9, []HourlyCount{hc(10*time.Hour, 5, 1), hc(11*time.Hour, 3, 3)}},
		{"last instant of the first hour", at(11*time.Hour - time.Nanosecond), 9, []HourlyCount{hc(10*time.Hour, 5, 1), hc(11*time.Hour, 3, 3)}},
		{"first hour wholly before", at(11 * time.Hour), 4, []HourlyCount{hc(11*time.Hour, 3, 3)}},
		{"last instant of the second hour", at(12*time.Hour - time.Nanosecond), 3, []HourlyCount{hc(11*time.Hour, 3, 3)}},
		{"both wholly before", at(12 * time.Hour), 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compute(tc.windowStart, c, ds, nil).Calls; got != tc.wantCalls {
				t.Errorf("Calls = %d, want %d", got, tc.wantCalls)
			}
			nc, folded := Compact(c, c.Through, tc.windowStart, ds)
			if len(folded) > 0 {
				t.Errorf("folded %v", folded)
			}
			if !hourlyEqual(nc.Hourly, tc.wantHours) {
				t.Errorf("Compact kept %s, want %s", fmtHourly(nc.Hourly), fmtHourly(tc.wantHours))
			}
			// Compacting to a later window start drops hours only: it
			// changes no count at that window start.
			if got, want := Compute(tc.windowStart, nc, ds, nil), Compute(tc.windowStart, c, ds, nil); got.Calls != want.Calls || !hourlyEqual(got.Hourly, want.Hourly) {
				t.Errorf("after Compact: %s, before: %s", fmtHourly(got.Hourly), fmtHourly(want.Hourly))
			}
		})
	}
}

// TestFoldedUserStaysWhileRetriedInWindow: a delivery created before
// midnight and retried after it is in the window as long as the retry is;
// folding it must not drop its user earlier.
func TestFoldedUserStaysWhileRetriedInWindow(t *testing.T) {
	d := done("late", "alice", time.Second, fail(23*time.Hour+50*time.Minute), ok(24*time.Hour+20*time.Minute))
	ds := []Delivery{d}
	c, folded := Compact(Compaction{}, at(25*time.Hour), at(0), ds)
	if len(folded) != 1 {
		t.Fatalf("folded %v", folded)
	}
	for _, ws := range []time.Duration{0, 23 * time.Hour, 24 * time.Hour, 24*time.Hour + 20*time.Minute} {
		windowStart := at(ws)
		want := Compute(windowStart, Compaction{}, ds, nil)
		// Compacting again at the later window start must keep the user too.
		c2, _ := Compact(c, c.Through, windowStart, nil)
		for name, cc := range map[string]Compaction{"compaction": c, "recompacted": c2} {
			got := Compute(windowStart, cc, nil, nil)
			if got.Users != want.Users || got.Calls != want.Calls {
				t.Errorf("window start %v, %s: users/calls = %d/%d, want %d/%d", ws, name, got.Users, got.Calls, want.Users, want.Calls)
			}
		}
	}
}

// TestCompactionTimesInAnyLocation: times read back from the API are in the
// local time zone; an hour or a day is the same whatever its location, and
// must not be counted as two.
func TestCompactionTimesInAnyLocation(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	ws := at(0)
	sk := sketchOf("alice")
	stored := Compaction{
		Through:      at(10 * time.Hour).In(loc),
		Hourly:       []HourlyCount{{Hour: at(10 * time.Hour).In(loc), Calls: 2, Failures: 1}},
		UserSketches: []DailySketch{{Day: at(0).In(loc), Sketch: sk}},
	}
	ds := []Delivery{
		live("live", "bob", ok(10*time.Hour+30*time.Minute)),
		done("due", "carol", time.Second, fail(10*time.Hour+40*time.Minute)),
	}
	s := Compute(ws, stored, ds, nil)
	checkStats(t, s, Stats{
		WindowStart: ws, Calls: 4, Failures: 2, FailurePercent: 50, Users: 3,
		LastSuccess: at(10*time.Hour + 30*time.Minute), LastFailure: at(10*time.Hour + 40*time.Minute),
		Hourly: []HourlyCount{hc(10*time.Hour, 4, 2)},
	})
	c, folded := Compact(stored, at(13*time.Hour), ws, ds)
	if !slices.Equal(folded, []string{"due"}) {
		t.Errorf("folded %v, want [due]", folded)
	}
	if !hourlyEqual(c.Hourly, []HourlyCount{hc(10*time.Hour, 3, 2)}) {
		t.Errorf("hourly = %s, want one hour 3/2", fmtHourly(c.Hourly))
	}
	if len(c.UserSketches) != 1 || !c.UserSketches[0].Day.Equal(at(0)) || c.UserSketches[0].Sketch.Estimate() != 2 {
		t.Errorf("user sketches = %v, want one of day %v with 2 users", c.UserSketches, at(0))
	}
}

// TestCompactLeavesItsInputAlone: Compact returns a new compaction; the one
// passed in (and its sketches) is unchanged, so that a failed status write
// can be retried from it.
func TestCompactLeavesItsInputAlone(t *testing.T) {
	ws := at(0)
	c := Compaction{
		Through:      at(10 * time.Hour),
		Hourly:       []HourlyCount{hc(9*time.Hour, 1, 0)},
		UserSketches: []DailySketch{{Day: at(0), Sketch: sketchOf("alice")}},
	}
	enc := c.UserSketches[0].Sketch.Encode()
	ds := []Delivery{done("a", "bob", time.Second, fail(9*time.Hour+30*time.Minute), ok(10*time.Hour))}
	nc, folded := Compact(c, at(11*time.Hour), ws, ds)
	if !slices.Equal(folded, []string{"a"}) {
		t.Fatalf("folded %v, want [a]", folded)
	}
	if !hourlyEqual(c.Hourly, []HourlyCount{hc(9*time.Hour, 1, 0)}) || !c.Through.Equal(at(10*time.Hour)) {
		t.Errorf("input compaction changed: %v %s", c.Through, fmtHourly(c.Hourly))
	}
	if c.UserSketches[0].Sketch.Encode() != enc {
		t.Error("input user sketch changed")
	}
	if !hourlyEqual(nc.Hourly, []HourlyCount{hc(9*time.Hour, 2, 1), hc(10*time.Hour, 1, 0)}) {
		t.Errorf("hourly = %s", fmtHourly(nc.Hourly))
	}
	if len(nc.UserSketches) != 1 || nc.UserSketches[0].Sketch.Estimate() != 2 {
		t.Errorf("user sketches = %v, want one of 2 users", nc.UserSketches)
	}
}

func TestNextExpiry(t *testing.T) {
	const window = 24 * time.Hour
	ws := at(10 * time.Hour)
	ns := time.Nanosecond
	for _, tc := range []struct {
		name       string
		c          Compaction
		deliveries []Delivery
		want       time.Time // zero: nothing counted
	}{
		{name: "nothing"},
		{
			name:       "only attempts before the window",
			deliveries: []Delivery{live("a", "", fail(5*time.Hour), fail(10*time.Hour-ns))},
		},
		{
			name:       "only folded hours before the window",
			c:          Compaction{Through: at(20 * time.Hour), Hourly: []HourlyCount{hc(8*time.Hour, 1, 0), hc(9*time.Hour, 1, 0)}},
			deliveries: []Delivery{{Name: "created", Created: at(11 * time.Hour)}},
		},
		{
			name:       "only a folded delivery still present",
			c:          Compaction{Through: at(20 * time.Hour)},
			deliveries: []Delivery{done("a", "", time.Second, ok(11*time.Hour))},
		},
		{
			name: "oldest counted live attempt",
			deliveries: []Delivery{
				live("a", "", ok(13*time.Hour)),
				live("b", "", fail(9*time.Hour), fail(11*time.Hour+5*time.Minute), ok(12*time.Hour)),
				live("c", "", ok(14*time.Hour)),
			},
			want: at(11*time.Hour + 5*time.Minute + window + ns),
		},
		{
			name:       "attempt exactly at the window start",
			deliveries: []Delivery{live("a", "", ok(10*time.Hour))},
			want:       at(10*time.Hour + window + ns),
		},
		{
			name: "end of the oldest folded hour in the window",
			c:    Compaction{Through: at(20 * time.Hour), Hourly: []HourlyCount{hc(9*time.Hour, 1, 0), hc(10*time.Hour, 1, 0), hc(11*time.Hour, 1, 0)}},
			want: at(11*time.Hour + window + ns),
		},
		{
			name:       "a folded hour before a later live attempt",
			c:          Compaction{Through: at(20 * time.Hour), Hourly: []HourlyCount{hc(12*time.Hour, 1, 0)}},
			deliveries: []Delivery{live("a", "", ok(13*time.Hour+59*time.Minute))},
			want:       at(13*time.Hour + window + ns),
		},
		{
			name:       "a live attempt before the end of a folded hour",
			c:          Compaction{Through: at(20 * time.Hour), Hourly: []HourlyCount{hc(12*time.Hour, 1, 0)}},
			deliveries: []Delivery{live("a", "", ok(12*time.Hour+59*time.Minute))},
			want:       at(12*time.Hour + 59*time.Minute + window + ns),
		},
		{
			name: "folded deliveries still present are not live",
			c:    Compaction{Through: at(20 * time.Hour), Hourly: []HourlyCount{hc(14*time.Hour, 1, 0)}},
			deliveries: []Delivery{
				done("folded", "", time.Second, ok(11*time.Hour)),
				done("at-watermark", "", 20*time.Hour-16*time.Hour, ok(16*time.Hour)),
			},
			want: at(15*time.Hour + window + ns),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NextExpiry(ws, window, tc.c, tc.deliveries)
			if !got.Equal(tc.want) {
				t.Errorf("NextExpiry = %v, want %v", got, tc.want)
			}
			if got.IsZero() {
				return
			}
			// At that instant something counted now has left the window;
			// shortly before, nothing had. (A folded hour leaves when the
			// window starts at its end, a nanosecond before NextExpiry.)
			before := Compute(ws, tc.c, tc.deliveries, nil)
			if s := Compute(got.Add(-window-2*ns), tc.c, tc.deliveries, nil); s.Calls != before.Calls {
				t.Errorf("just before the expiry, calls %d, want %d", s.Calls, before.Calls)
			}
			if s := Compute(got.Add(-window), tc.c, tc.deliveries, nil); s.Calls >= before.Calls {
				t.Errorf("at the expiry, calls %d, want fewer than %d", s.Calls, before.Calls)
			}
		})
	}
}
