package retry

import (
	"testing"
	"time"
)

func TestNextAttemptTime(t *testing.T) {
	end := time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)
	defaultBackoff := []time.Duration{60 * time.Second, 600 * time.Second}
	tests := []struct {
		name     string
		failed   int
		backoff  []time.Duration
		wantDue  time.Time
		wantMore bool
	}{
		{"first attempt is due at once", 0, defaultBackoff, time.Time{}, true},
		{"second attempt 60s after the first ended", 1, defaultBackoff, end.Add(60 * time.Second), true},
		{"third attempt 600s after the second ended", 2, defaultBackoff, end.Add(600 * time.Second), true},
		{"no fourth attempt", 3, defaultBackoff, time.Time{}, false},
		{"empty backoff: a single attempt", 1, nil, time.Time{}, false},
		{"empty backoff: first attempt still made", 0, nil, time.Time{}, true},
		{"custom schedule", 1, []time.Duration{time.Second}, end.Add(time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, more := NextAttemptTime(tt.failed, end, tt.backoff, 0)
			if !due.Equal(tt.wantDue) || more != tt.wantMore {
				t.Fatalf("NextAttemptTime(%d) = %v, %v; want %v, %v", tt.failed, due, more, tt.wantDue, tt.wantMore)
			}
		})
	}
}

func TestWait(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		due  time.Time
		want time.Duration
	}{
		{time.Time{}, 0},
		{now, 0},
		{now.Add(-time.Hour), 0},
		{now.Add(time.Nanosecond), time.Nanosecond},
		{now.Add(60 * time.Second), 60 * time.Second},
	}
	for _, tt := range tests {
		if got := Wait(now, tt.due); got != tt.want {
			t.Errorf("Wait(now, %v) = %v, want %v", tt.due, got, tt.want)
		}
	}
}

func TestRecordedSpanNeverEndsEarly(t *testing.T) {
	base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		start, end time.Time
		wantStart  time.Time
		wantDur    time.Duration
	}{
		{"whole microseconds kept", base.Add(5 * time.Microsecond), base.Add(9 * time.Microsecond), base.Add(5 * time.Microsecond), 4 * time.Microsecond},
		{"start truncated, duration rounded up", base.Add(1500 * time.Nanosecond), base.Add(2100 * time.Nanosecond), base.Add(time.Microsecond), 2 * time.Microsecond},
		{"zero-length attempt", base, base, base, 0},
		{"sub-microsecond end", base, base.Add(1), base, time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, d := RecordedSpan(tt.start, tt.end)
			if !start.Equal(tt.wantStart) || d != tt.wantDur {
				t.Fatalf("RecordedSpan = %v, %v; want %v, %v", start, d, tt.wantStart, tt.wantDur)
			}
			if start.Add(d).Before(tt.end) {
				t.Fatalf("recorded end %v is before the real end %v", start.Add(d), tt.end)
			}
			if start.Nanosecond()%1000 != 0 || d%time.Microsecond != 0 {
				t.Fatalf("recorded span %v, %v is not in whole microseconds", start, d)
			}
		})
	}
}

func TestRetryAfterLengthensButNeverShortens(t *testing.T) {
	tests := []struct {
		backoff, retryAfter, want time.Duration
	}{
		{60 * time.Second, 0, 60 * time.Second},
		{60 * time.Second, 10 * time.Second, 60 * time.Second},
		{60 * time.Second, 5 * time.Minute, 5 * time.Minute},
		{60 * time.Second, 48 * time.Hour, 60*time.Second + MaxRetryAfter},
		{600 * time.Second, 700 * time.Second, 700 * time.Second},
	}
	for _, tt := range tests {
		if got := WithRetryAfter(tt.backoff, tt.retryAfter); got != tt.want {
			t.Errorf("WithRetryAfter(%v, %v) = %v, want %v", tt.backoff, tt.retryAfter, got, tt.want)
		}
	}
	end := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	due, _ := NextAttemptTime(1, end, []time.Duration{time.Minute}, 3*time.Minute)
	if !due.Equal(end.Add(3 * time.Minute)) {
		t.Errorf("due = %v, want 3m after the end", due)
	}
}
