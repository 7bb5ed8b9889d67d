package controllers

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

func TestRecordAttempt(t *testing.T) {
	start := time.Date(2026, 12, 4, 10, 0, 0, 500_000_000, time.UTC)
	backoff := []time.Duration{60 * time.Second, 600 * time.Second}
	attempt := func(n int32, code int32) heraldv1.DeliveryAttempt {
		return heraldv1.DeliveryAttempt{Number: n, StartTime: metav1.NewMicroTime(start), Duration: metav1.Duration{Duration: 2 * time.Second}, StatusCode: code}
	}
	tests := []struct {
		name       string
		previous   int
		attempt    heraldv1.DeliveryAttempt
		wantPhase  heraldv1.DeliveryPhase
		wantReason string
		wantNext   *time.Time
	}{
		{"first try succeeds", 0, attempt(1, 204), heraldv1.DeliverySucceeded, heraldv1.ReasonSucceeded, nil},
		{"first try fails: retry 60s after it ended", 0, attempt(1, 500), heraldv1.DeliveryRetrying, heraldv1.ReasonAttemptFailed, ptrTime(start.Add(62 * time.Second))},
		{"second fails: retry 600s after it ended", 1, attempt(2, 0), heraldv1.DeliveryRetrying, heraldv1.ReasonAttemptFailed, ptrTime(start.Add(602 * time.Second))},
		{"third fails: Failed", 2, attempt(3, 404), heraldv1.DeliveryFailed, heraldv1.ReasonRetriesExhausted, nil},
		{"third succeeds", 2, attempt(3, 200), heraldv1.DeliverySucceeded, heraldv1.ReasonSucceeded, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &heraldv1.WebhookDelivery{}
			for i := range tt.previous {
				d.Status.Attempts = append(d.Status.Attempts, attempt(int32(i+1), 500))
			}
			due, more := recordAttempt(d, tt.attempt, backoff, start.Add(time.Hour))
			if d.Status.Phase != tt.wantPhase {
				t.Fatalf("phase = %s, want %s", d.Status.Phase, tt.wantPhase)
			}
			if c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered); c == nil || c.Reason != tt.wantReason {
				t.Fatalf("Delivered condition = %+v, want reason %s", c, tt.wantReason)
			}
			if len(d.Status.Attempts) != tt.previous+1 {
				t.Fatalf("%d attempts recorded, want %d", len(d.Status.Attempts), tt.previous+1)
			}
			switch {
			case tt.wantNext == nil && (more || d.Status.NextAttemptTime != nil):
				t.Fatalf("next attempt at %v (more=%v), want none", d.Status.NextAttemptTime, more)
			case tt.wantNext != nil && (!more || !due.Equal(*tt.wantNext) || !d.Status.NextAttemptTime.Time.Equal(*tt.wantNext)):
				t.Fatalf("next attempt at %v / %v, want %v", due, d.Status.NextAttemptTime, *tt.wantNext)
			}
			if tt.wantPhase.IsFinal() != (d.Status.CompletionTime != nil) {
				t.Fatalf("completionTime = %v for phase %s", d.Status.CompletionTime, d.Status.Phase)
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestTruncateKeepsUTF8Whole(t *testing.T) {
	for _, s := range []string{strings.Repeat("a", 2000), strings.Repeat("é", 1000), strings.Repeat("日本", 700), "short"} {
		got := truncate(s, maxErrorText)
		if len(got) > maxErrorText || !utf8.ValidString(got) {
			t.Errorf("truncate(%d bytes) = %d bytes, valid UTF-8 %v", len(s), len(got), utf8.ValidString(got))
		}
		if len(s) <= maxErrorText && got != s {
			t.Errorf("truncate changed a short string")
		}
	}
}

func TestAttemptsWrittenKeepsAnUnsavedAttempt(t *testing.T) {
	var w attemptsWritten
	cached := &heraldv1.WebhookDelivery{}
	cached.Name, cached.Namespace, cached.UID = "d", "ns", "uid-1"

	made := cached.DeepCopy()
	made.Status.Attempts = []heraldv1.DeliveryAttempt{{Number: 1, StatusCode: 200}}
	made.Status.Phase = heraldv1.DeliverySucceeded
	w.keepUnsaved(made)

	got := w.unsaved(cached)
	if got == nil || len(got.Attempts) != 1 || got.Phase != heraldv1.DeliverySucceeded {
		t.Fatalf("unsaved = %+v, want the status with the call made", got)
	}
	if w.ahead(cached) != true {
		t.Fatal("a stale cache must not be acted on while a write is owed")
	}
	other := cached.DeepCopy()
	other.UID = "uid-2" // the name now belongs to a new delivery
	if w.unsaved(other) != nil {
		t.Fatal("an unsaved status applied to another object")
	}
	w.record(made) // written at last
	if w.unsaved(cached) != nil {
		t.Fatal("still unsaved after a successful write")
	}
	if !w.ahead(cached) || w.ahead(made) {
		t.Fatal("ahead must hold until the cache shows the write, then drop")
	}
}
