// Package retry decides when a delivery's next attempt is due.
//
// The schedule is the endpoint's spec.retry.backoff: attempt 1 at once, and
// after the n-th failed attempt, attempt n+1 at backoff[n-1] after attempt n
// ended. Waits count from the end of an attempt, so a slow receiver does not
// shorten the pause it gets.
package retry

import "time"

// NextAttemptTime returns when the attempt after failedAttempts failed ones is
// due, given when the last of them ended. The zero time means "at once" (no
// attempt made yet). more is false when the schedule allows no further
// attempt.
//
// retryAfter is what the last failed attempt's receiver asked for (zero for
// nothing); it can lengthen the wait, see WithRetryAfter.
func NextAttemptTime(failedAttempts int, lastEnd time.Time, backoff []time.Duration, retryAfter time.Duration) (due time.Time, more bool) {
	switch {
	case failedAttempts <= 0:
		return time.Time{}, true
	case failedAttempts > len(backoff):
		return time.Time{}, false
	default:
		return lastEnd.Add(WithRetryAfter(backoff[failedAttempts-1], retryAfter)), true
	}
}

// MaxRetryAfter bounds how much longer than the schedule a receiver's
// Retry-After may make herald wait.
const MaxRetryAfter = time.Hour

// WithRetryAfter returns the wait after a failed attempt: the schedule's
// backoff, or the receiver's Retry-After if that is longer, but never more
// than MaxRetryAfter beyond the backoff. Never shorter than the schedule.
func WithRetryAfter(backoff, retryAfter time.Duration) time.Duration {
	return max(backoff, min(retryAfter, backoff+MaxRetryAfter))
}

// Wait returns how long to wait from now until due; zero when due has come.
func Wait(now, due time.Time) time.Duration {
	if !now.Before(due) {
		return 0
	}
	return due.Sub(now)
}

// RecordedSpan returns the start and duration of an attempt as they are
// stored in status: the start truncated to the microsecond (status times have
// microsecond precision) and the duration rounded up to the microsecond, so
// that the recorded end is never before the real end, and a wait counted
// from the recorded end never lets a retry go early.
func RecordedSpan(start, end time.Time) (time.Time, time.Duration) {
	recordedStart := start.Round(0).Truncate(time.Microsecond)
	d := end.Round(0).Sub(recordedStart)
	if rem := d % time.Microsecond; rem != 0 {
		d += time.Microsecond - rem
	}
	if d < 0 {
		d = 0
	}
	return recordedStart, d
}
