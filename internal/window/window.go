// Package window computes an endpoint's statistics over a rolling window and
// folds finished deliveries into hourly counts (compaction), so that the
// statistics stay exact and idempotent while deliveries are deleted.
//
// The counts come from two disjoint parts: deliveries that finished before
// the compaction watermark ("through") are counted from the folded hourly
// counts and user sketches; every other delivery is counted from its own
// attempts. A delivery is folded exactly once: when the watermark passes its
// completion time, in the same status write that moves the watermark.
package window

import (
	"sort"
	"time"
)

// Attempt is one call of a delivery.
type Attempt struct {
	Start  time.Time
	Failed bool
}

// Delivery is what the statistics need of a delivery.
type Delivery struct {
	Name string
	// UID tells apart deliveries created under one name at different
	// times; nothing here reads it, it is carried for the caller.
	UID      string
	User     string
	Created  time.Time
	Attempts []Attempt
	// Finished is set for Succeeded and Failed deliveries, with the time;
	// Failed too for a Failed one.
	Finished       bool
	Failed         bool
	CompletionTime time.Time
}

// HourlyCount is the calls and failures that started in one UTC hour.
type HourlyCount struct {
	Hour            time.Time
	Calls, Failures int64
}

// DailySketch holds the users of folded deliveries last in the window on one
// UTC day: the day of their last attempt, or of their creation if later.
type DailySketch struct {
	Day    time.Time
	Sketch *Sketch
}

// Compaction is the folded part of the statistics.
type Compaction struct {
	Through      time.Time
	Hourly       []HourlyCount
	UserSketches []DailySketch
}

// Stats are an endpoint's figures over [WindowStart, now].
type Stats struct {
	WindowStart              time.Time
	Calls, Failures          int64
	Users, UsersReporting    int64
	LastSuccess, LastFailure time.Time
	Hourly                   []HourlyCount
	FailurePercent           int64
}

// IsLive reports whether the delivery is counted from its own attempts: it
// has not finished before the watermark.
func IsLive(d Delivery, through time.Time) bool {
	return !d.Finished || !d.CompletionTime.Before(through)
}

// createdInWindow: a delivery is in the window (its user counts) while one
// of its attempts is, or, before its first attempt, while its creation is.
func createdInWindow(d Delivery, windowStart time.Time) bool {
	return len(d.Attempts) == 0 && !d.Created.Before(windowStart)
}

// hourlyCounts adds up calls and failures by UTC hour.
type hourlyCounts map[time.Time]*HourlyCount

func (m hourlyCounts) add(hour time.Time, calls, failures int64) {
	hour = hour.UTC() // one key per hour, whatever the location
	h := m[hour]
	if h == nil {
		h = &HourlyCount{Hour: hour}
		m[hour] = h
	}
	h.Calls += calls
	h.Failures += failures
}

// addAttempt counts one call by the hour it started.
func (m hourlyCounts) addAttempt(a Attempt) {
	var failed int64
	if a.Failed {
		failed = 1
	}
	m.add(a.Start.Truncate(time.Hour), 1, failed)
}

// sorted returns the counts, oldest hour first.
func (m hourlyCounts) sorted() []HourlyCount {
	out := make([]HourlyCount, 0, len(m))
	for _, h := range m {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hour.Before(out[j].Hour) })
	return out
}

// inWindow: a folded hour counts while any part of it is in the window.
func hourInWindow(hour, windowStart time.Time) bool {
	return hour.Add(time.Hour).After(windowStart)
}

// Compute returns the statistics at windowStart from the compaction and the
// deliveries (live ones are picked out here), and the distinct users
// reporting an issue in the window.
func Compute(windowStart time.Time, c Compaction, deliveries []Delivery, reportingUsers []string) Stats {
	s := Stats{WindowStart: windowStart}
	hourly := hourlyCounts{}
	for _, h := range c.Hourly {
		if hourInWindow(h.Hour, windowStart) {
			hourly.add(h.Hour, h.Calls, h.Failures)
		}
	}

	users := &Sketch{}
	exactUsers := map[string]struct{}{}
	for _, d := range c.UserSketches {
		if d.Day.Add(24 * time.Hour).After(windowStart) {
			users.Merge(d.Sketch)
		}
	}
	for _, d := range deliveries {
		if !IsLive(d, c.Through) {
			continue
		}
		inWindow := createdInWindow(d, windowStart)
		for _, a := range d.Attempts {
			if a.Start.Before(windowStart) {
				continue
			}
			inWindow = true
			if a.Failed && a.Start.After(s.LastFailure) {
				s.LastFailure = a.Start
			} else if !a.Failed && a.Start.After(s.LastSuccess) {
				s.LastSuccess = a.Start
			}
			hourly.addAttempt(a)
		}
		if inWindow && d.User != "" {
			users.Add(d.User)
			exactUsers[d.User] = struct{}{}
		}
	}
	s.Users = users.Estimate()
	if len(c.UserSketches) == 0 {
		s.Users = int64(len(exactUsers)) // nothing folded: the exact count
	} else if s.Users < int64(len(exactUsers)) {
		s.Users = int64(len(exactUsers))
	}

	reporting := map[string]struct{}{}
	for _, u := range reportingUsers {
		reporting[u] = struct{}{}
	}
	s.UsersReporting = int64(len(reporting))

	s.Hourly = hourly.sorted()
	for _, h := range s.Hourly {
		s.Calls += h.Calls
		s.Failures += h.Failures
	}
	if s.Calls > 0 {
		s.FailurePercent = s.Failures * 100 / s.Calls
	}
	return s
}

// Compact moves the watermark to through (never backwards) and folds every
// delivery that finished in [old watermark, through): their attempts in the
// window go into hourly counts, their users into daily sketches. Hours and
// days wholly before windowStart are dropped. It returns the new compaction
// and the names of the deliveries folded.
func Compact(c Compaction, through, windowStart time.Time, deliveries []Delivery) (Compaction, []string) {
	if !through.After(c.Through) {
		through = c.Through
	}
	hourly := hourlyCounts{}
	for _, h := range c.Hourly {
		if hourInWindow(h.Hour, windowStart) {
			hourly.add(h.Hour, h.Calls, h.Failures)
		}
	}
	sketches := map[time.Time]*Sketch{}
	for _, d := range c.UserSketches {
		if d.Day.Add(24 * time.Hour).After(windowStart) {
			day := d.Day.UTC() // one key per day, whatever the location
			if sketches[day] == nil {
				sketches[day] = &Sketch{}
			}
			sketches[day].Merge(d.Sketch) // a copy: c is left as it was
		}
	}
	var folded []string
	for _, d := range deliveries {
		if !d.Finished || d.CompletionTime.Before(c.Through) || !d.CompletionTime.Before(through) {
			continue // not finished, folded already, or not yet due
		}
		folded = append(folded, d.Name)
		inWindow := createdInWindow(d, windowStart)
		last := d.Created // the delivery is in the window while this is
		for _, a := range d.Attempts {
			if a.Start.Before(windowStart) {
				continue
			}
			inWindow = true
			if a.Start.After(last) {
				last = a.Start
			}
			hourly.addAttempt(a)
		}
		if inWindow && d.User != "" {
			day := last.UTC().Truncate(24 * time.Hour)
			sk := sketches[day]
			if sk == nil {
				sk = &Sketch{}
				sketches[day] = sk
			}
			sk.Add(d.User)
		}
	}
	out := Compaction{Through: through, Hourly: hourly.sorted()}
	for day, sk := range sketches {
		out.UserSketches = append(out.UserSketches, DailySketch{Day: day, Sketch: sk})
	}
	sort.Slice(out.UserSketches, func(i, j int) bool { return out.UserSketches[i].Day.Before(out.UserSketches[j].Day) })
	return out, folded
}

// NextExpiry returns the earliest time at which a call counted now leaves
// the window, so that the statistics are recomputed then; the zero time when
// nothing is counted. A live call leaves just after start+window; a folded
// hour just after its end+window.
func NextExpiry(windowStart time.Time, window time.Duration, c Compaction, deliveries []Delivery) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		t = t.Add(window + time.Nanosecond)
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, h := range c.Hourly {
		if hourInWindow(h.Hour, windowStart) {
			consider(h.Hour.Add(time.Hour))
		}
	}
	for _, d := range deliveries {
		if !IsLive(d, c.Through) {
			continue
		}
		for _, a := range d.Attempts {
			if !a.Start.Before(windowStart) {
				consider(a.Start) // every one: clocks may disagree on order
			}
		}
	}
	return next
}
