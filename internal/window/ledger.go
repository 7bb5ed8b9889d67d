package window

import (
	"time"

	"github.com/google/btree"
)

// A Ledger holds one endpoint's deliveries and keeps, one change at a time,
// what Compute, Compact and NextExpiry need of them: live attempts by hour
// and in time order, live users by their latest time in the window, and
// finished deliveries by completion time. Its answers equal those functions'
// over the same deliveries (up to 64-bit hash collisions between user
// names), but their cost does not grow with how many deliveries are kept: it
// grows with the hours and users in the window and with what changed since
// the last question.
//
// "Live" depends on the compaction watermark, which the caller reads from
// the endpoint's status; the ledger moves its live part to the watermark it
// is asked with, in either direction (a status write that failed leaves the
// watermark where it was), at the cost of the deliveries in between.
//
// A Ledger is not safe for concurrent use.
type Ledger struct {
	entries map[string]*ledgerEntry
	// through is the watermark the live part is kept for.
	through time.Time

	// succeeded and failed order finished deliveries by completion time.
	succeeded, failed *btree.BTreeG[*ledgerEntry]

	// Live attempts: counted by UTC hour, and ordered by start time (calls
	// and failures apart, for the last success and failure).
	hours                map[time.Time]*HourlyCount
	liveCalls, liveFails *btree.BTreeG[attemptKey]

	// Live users: each user's live deliveries with their latest time, users
	// ordered by their latest time, by hash, and counted per HyperLogLog
	// register and rank.
	users       map[string]*ledgerUser
	usersByHash map[uint64]*ledgerUser
	usersByLast *btree.BTreeG[*ledgerUser]
	ranks       map[uint16]uint32
}

type ledgerEntry struct {
	d Delivery
}

// attemptKey is one live attempt.
type attemptKey struct {
	start time.Time
	name  string
	index int
}

type ledgerUser struct {
	name string
	hash uint64
	// deliveries maps each live delivery of the user to its latest time:
	// its last attempt's start, or its creation before any attempt.
	deliveries map[string]time.Time
	// latest is the latest of those: the user is in the window while it is.
	latest time.Time
}

const ledgerDegree = 16

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	byCompletion := func(a, b *ledgerEntry) bool {
		if c := a.d.CompletionTime.Compare(b.d.CompletionTime); c != 0 {
			return c < 0
		}
		return a.d.Name < b.d.Name
	}
	byStart := func(a, b attemptKey) bool {
		if c := a.start.Compare(b.start); c != 0 {
			return c < 0
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.index < b.index
	}
	return &Ledger{
		entries:     map[string]*ledgerEntry{},
		succeeded:   btree.NewG(ledgerDegree, byCompletion),
		failed:      btree.NewG(ledgerDegree, byCompletion),
		hours:       map[time.Time]*HourlyCount{},
		liveCalls:   btree.NewG(ledgerDegree, byStart),
		liveFails:   btree.NewG(ledgerDegree, byStart),
		users:       map[string]*ledgerUser{},
		usersByHash: map[uint64]*ledgerUser{},
		usersByLast: btree.NewG(ledgerDegree, func(a, b *ledgerUser) bool {
			if c := a.latest.Compare(b.latest); c != 0 {
				return c < 0
			}
			return a.name < b.name
		}),
		ranks: map[uint16]uint32{},
	}
}

// Len returns how many deliveries the ledger holds.
func (l *Ledger) Len() int { return len(l.entries) }

// Set adds a delivery or replaces the one of the same name.
func (l *Ledger) Set(d Delivery) {
	old := l.entries[d.Name]
	e := &ledgerEntry{d: d}
	oldUser, newUser := "", ""
	if old != nil {
		if l.isLive(old) {
			l.removeAttempts(old)
			oldUser = old.d.User
		}
		if old.d.Finished {
			l.finishedTree(old.d).Delete(old)
		}
	}
	l.entries[d.Name] = e
	if d.Finished {
		l.finishedTree(d).ReplaceOrInsert(e)
	}
	if l.isLive(e) {
		l.addAttempts(e)
		newUser = d.User
	}
	if oldUser != "" && oldUser != newUser {
		l.dropUserDelivery(oldUser, d.Name)
	}
	if newUser != "" {
		l.putUserDelivery(newUser, d.Name, latestTime(d))
	}
}

// Remove forgets a delivery; an unknown name is ignored.
func (l *Ledger) Remove(name string) {
	e := l.entries[name]
	if e == nil {
		return
	}
	delete(l.entries, name)
	if e.d.Finished {
		l.finishedTree(e.d).Delete(e)
	}
	if l.isLive(e) {
		l.removeAttempts(e)
		if e.d.User != "" {
			l.dropUserDelivery(e.d.User, name)
		}
	}
}

// Compact is Compact over the ledger's deliveries: only those finished
// between the compaction's watermark and through are looked at.
func (l *Ledger) Compact(c Compaction, through, windowStart time.Time) (Compaction, []string) {
	var due []Delivery
	if through.After(c.Through) {
		l.ascendFinished(c.Through, through, func(e *ledgerEntry) { due = append(due, e.d) })
	}
	return Compact(c, through, windowStart, due)
}

// Stats is Compute over the ledger's deliveries.
func (l *Ledger) Stats(windowStart time.Time, c Compaction, reportingUsers []string) Stats {
	l.moveThrough(c.Through)
	s := Compute(windowStart, Compaction{Through: c.Through, Hourly: c.Hourly}, nil, reportingUsers)

	hourly := hourlyCounts{}
	for _, h := range s.Hourly {
		hourly.add(h.Hour, h.Calls, h.Failures)
	}
	boundary := windowStart.Truncate(time.Hour)
	for hour, h := range l.hours {
		if hour.Before(boundary) {
			continue // every attempt in it started before the window
		}
		calls, failures := h.Calls, h.Failures
		if hour.Equal(boundary) {
			// Take away the hour's attempts that started before the window.
			before := attemptKey{start: windowStart}
			l.liveCalls.AscendRange(attemptKey{start: hour}, before, func(attemptKey) bool { calls--; return true })
			l.liveFails.AscendRange(attemptKey{start: hour}, before, func(attemptKey) bool { calls--; failures--; return true })
		}
		if calls > 0 {
			hourly.add(hour, calls, failures)
		}
	}
	s.Hourly = hourly.sorted()
	s.Calls, s.Failures, s.FailurePercent = 0, 0, 0
	for _, h := range s.Hourly {
		s.Calls += h.Calls
		s.Failures += h.Failures
	}
	if s.Calls > 0 {
		s.FailurePercent = s.Failures * 100 / s.Calls
	}
	if a, ok := l.liveCalls.Max(); ok && !a.start.Before(windowStart) {
		s.LastSuccess = a.start
	}
	if a, ok := l.liveFails.Max(); ok && !a.start.Before(windowStart) {
		s.LastFailure = a.start
	}
	s.Users = l.countUsers(windowStart, c)
	return s
}

// NextExpiry is NextExpiry over the ledger's deliveries.
func (l *Ledger) NextExpiry(windowStart time.Time, window time.Duration, c Compaction) time.Time {
	l.moveThrough(c.Through)
	next := NextExpiry(windowStart, window, c, nil)
	for _, live := range []*btree.BTreeG[attemptKey]{l.liveCalls, l.liveFails} {
		live.AscendGreaterOrEqual(attemptKey{start: windowStart}, func(a attemptKey) bool {
			if t := a.start.Add(window + time.Nanosecond); next.IsZero() || t.Before(next) {
				next = t
			}
			return false
		})
	}
	return next
}

// Finished calls fn with the deliveries that finished as Failed (failed)
// or as Succeeded, at or after since, oldest first, until fn returns false.
func (l *Ledger) Finished(failed bool, since time.Time, fn func(Delivery) bool) {
	tree := l.succeeded
	if failed {
		tree = l.failed
	}
	tree.AscendGreaterOrEqual(&ledgerEntry{d: Delivery{CompletionTime: since}}, func(e *ledgerEntry) bool { return fn(e.d) })
}

// countUsers counts the distinct users in the window as Compute does: the live
// users whose latest time is in it, with the folded days' sketches.
func (l *Ledger) countUsers(windowStart time.Time, c Compaction) int64 {
	var stale []*ledgerUser // live users no longer in the window
	l.usersByLast.Ascend(func(u *ledgerUser) bool {
		if !u.latest.Before(windowStart) {
			return false
		}
		stale = append(stale, u)
		return true
	})
	live := int64(len(l.users) - len(stale))
	if len(c.UserSketches) == 0 {
		return live // nothing folded: the exact count
	}
	folded := &Sketch{}
	for _, d := range c.UserSketches {
		if d.Day.Add(24 * time.Hour).After(windowStart) {
			folded.Merge(d.Sketch)
		}
	}
	isStale := make(map[*ledgerUser]bool, len(stale))
	for _, u := range stale {
		isStale[u] = true
	}
	union := &Sketch{dense: true}
	if !folded.dense {
		both := int64(0)
		for h := range folded.sparse {
			if u := l.usersByHash[h]; u != nil && !isStale[u] {
				both++
			}
		}
		if n := int64(len(folded.sparse)) + live - both; n <= sparseLimit {
			return max(n, live)
		}
		for h := range folded.sparse {
			union.addHash(h)
		}
	} else {
		union.registers = folded.registers
	}
	// The live users' registers: the highest rank held by a user in the
	// window.
	staleRanks := map[uint16]uint32{}
	for _, u := range stale {
		staleRanks[rankKey(u.hash)]++
	}
	for key, n := range l.ranks {
		if n > staleRanks[key] {
			idx, rank := int(key>>6), uint8(key&63) //nolint:gosec // a rank is at most 55
			union.registers[idx] = max(union.registers[idx], rank)
		}
	}
	return max(union.Estimate(), live)
}

func rankKey(hash uint64) uint16 {
	idx, rank := register(hash)
	return uint16(idx)<<6 | uint16(rank) //nolint:gosec // idx < 1024, rank < 64
}

// latestTime is the time a delivery is in the window by: its last attempt's
// start, or its creation before any attempt.
func latestTime(d Delivery) time.Time {
	if len(d.Attempts) == 0 {
		return d.Created
	}
	latest := d.Attempts[0].Start
	for _, a := range d.Attempts[1:] {
		if a.Start.After(latest) {
			latest = a.Start
		}
	}
	return latest
}

func (l *Ledger) isLive(e *ledgerEntry) bool { return IsLive(e.d, l.through) }

func (l *Ledger) finishedTree(d Delivery) *btree.BTreeG[*ledgerEntry] {
	if d.Failed {
		return l.failed
	}
	return l.succeeded
}

// ascendFinished calls fn with the deliveries finished in [from, to).
func (l *Ledger) ascendFinished(from, to time.Time, fn func(*ledgerEntry)) {
	lo, hi := &ledgerEntry{d: Delivery{CompletionTime: from}}, &ledgerEntry{d: Delivery{CompletionTime: to}}
	for _, tree := range []*btree.BTreeG[*ledgerEntry]{l.succeeded, l.failed} {
		tree.AscendRange(lo, hi, func(e *ledgerEntry) bool { fn(e); return true })
	}
}

// moveThrough makes the live part that of watermark through: deliveries
// that finished between the old and the new watermark leave it (or, if
// the watermark goes back, come back into it).
func (l *Ledger) moveThrough(through time.Time) {
	if through.Equal(l.through) {
		return
	}
	from, to := l.through, through
	leaving := through.After(l.through)
	if !leaving {
		from, to = through, l.through
	}
	var moved []*ledgerEntry
	l.ascendFinished(from, to, func(e *ledgerEntry) { moved = append(moved, e) })
	l.through = through
	for _, e := range moved {
		if leaving {
			l.removeAttempts(e)
			if e.d.User != "" {
				l.dropUserDelivery(e.d.User, e.d.Name)
			}
		} else {
			l.addAttempts(e)
			if e.d.User != "" {
				l.putUserDelivery(e.d.User, e.d.Name, latestTime(e.d))
			}
		}
	}
}

func (l *Ledger) addAttempts(e *ledgerEntry) {
	for i, a := range e.d.Attempts {
		hour := a.Start.Truncate(time.Hour).UTC()
		h := l.hours[hour]
		if h == nil {
			h = &HourlyCount{Hour: hour}
			l.hours[hour] = h
		}
		h.Calls++
		key := attemptKey{start: a.Start, name: e.d.Name, index: i}
		if a.Failed {
			h.Failures++
			l.liveFails.ReplaceOrInsert(key)
		} else {
			l.liveCalls.ReplaceOrInsert(key)
		}
	}
}

func (l *Ledger) removeAttempts(e *ledgerEntry) {
	for i, a := range e.d.Attempts {
		hour := a.Start.Truncate(time.Hour).UTC()
		h := l.hours[hour]
		h.Calls--
		key := attemptKey{start: a.Start, name: e.d.Name, index: i}
		if a.Failed {
			h.Failures--
			l.liveFails.Delete(key)
		} else {
			l.liveCalls.Delete(key)
		}
		if h.Calls == 0 {
			delete(l.hours, hour)
		}
	}
}

// putUserDelivery records (or moves) a live delivery of a user.
func (l *Ledger) putUserDelivery(user, delivery string, latest time.Time) {
	u := l.users[user]
	if u == nil {
		u = &ledgerUser{name: user, hash: userHash(user), deliveries: map[string]time.Time{}}
		l.users[user] = u
		l.usersByHash[u.hash] = u
		l.ranks[rankKey(u.hash)]++
	} else {
		l.usersByLast.Delete(u)
	}
	previous, had := u.deliveries[delivery]
	u.deliveries[delivery] = latest
	switch {
	case !latest.Before(u.latest):
		u.latest = latest
	case had && previous.Equal(u.latest):
		u.latest = latestOf(u.deliveries) // the latest went back
	}
	l.usersByLast.ReplaceOrInsert(u)
}

// dropUserDelivery forgets a live delivery of a user, and the user with
// their last one.
func (l *Ledger) dropUserDelivery(user, delivery string) {
	u := l.users[user]
	if u == nil {
		return
	}
	previous, had := u.deliveries[delivery]
	if !had {
		return
	}
	l.usersByLast.Delete(u)
	delete(u.deliveries, delivery)
	if len(u.deliveries) == 0 {
		delete(l.users, user)
		if l.usersByHash[u.hash] == u {
			delete(l.usersByHash, u.hash)
		}
		key := rankKey(u.hash)
		if l.ranks[key]--; l.ranks[key] == 0 {
			delete(l.ranks, key)
		}
		return
	}
	if previous.Equal(u.latest) {
		u.latest = latestOf(u.deliveries)
	}
	l.usersByLast.ReplaceOrInsert(u)
}

func latestOf(times map[string]time.Time) time.Time {
	var latest time.Time
	for _, t := range times {
		if t.After(latest) {
			latest = t
		}
	}
	return latest
}
