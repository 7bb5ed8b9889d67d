package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/retry"
)

// This file computes a delivery's status from what happened. It reads and
// writes nothing but the status it is given.

// setDelivered sets the Delivered condition, stamping the observed
// generation and the injected clock's time.
func setDelivered(d *heraldv1.WebhookDelivery, status metav1.ConditionStatus, reason, message string, now time.Time) {
	d.Status.ObservedGeneration = d.Generation
	meta.SetStatusCondition(&d.Status.Conditions, metav1.Condition{
		Type:               heraldv1.ConditionDelivered,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: d.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// markWaiting records that the delivery waits without calling: for its
// endpoint, its signing Secret, or a suspended endpoint. Attempts and
// nextAttemptTime are kept.
func markWaiting(d *heraldv1.WebhookDelivery, phase heraldv1.DeliveryPhase, reason, message string, now time.Time) {
	d.Status.Phase = phase
	setDelivered(d, metav1.ConditionFalse, reason, message, now)
}

// markRetrying records that the last attempt failed and the next is due at
// due. The delivery has at least one attempt.
func markRetrying(d *heraldv1.WebhookDelivery, due time.Time, now time.Time) {
	last := d.Status.Attempts[len(d.Status.Attempts)-1]
	next := metav1.NewMicroTime(due)
	d.Status.Phase = heraldv1.DeliveryRetrying
	d.Status.NextAttemptTime = &next
	setDelivered(d, metav1.ConditionFalse, heraldv1.ReasonAttemptFailed,
		fmt.Sprintf("attempt %d failed: %s; attempt %d is due at %s",
			last.Number, last.Error, last.Number+1, due.UTC().Format(time.RFC3339Nano)), now)
}

// markFailed records that no attempt is left.
func markFailed(d *heraldv1.WebhookDelivery, now time.Time) {
	completion := metav1.NewMicroTime(now)
	d.Status.Phase = heraldv1.DeliveryFailed
	d.Status.NextAttemptTime = nil
	d.Status.CompletionTime = &completion
	msg := fmt.Sprintf("all %d attempts failed", len(d.Status.Attempts))
	if n := len(d.Status.Attempts); n > 0 {
		msg += "; the last: " + d.Status.Attempts[n-1].Error
	}
	setDelivered(d, metav1.ConditionFalse, heraldv1.ReasonRetriesExhausted, msg, now)
}

// recordAttempt appends an attempt and moves the delivery to Succeeded,
// Retrying or Failed. It returns when the next attempt is due, if any.
func recordAttempt(d *heraldv1.WebhookDelivery, attempt heraldv1.DeliveryAttempt, backoff []time.Duration, now time.Time) (due time.Time, more bool) {
	d.Status.Attempts = append(d.Status.Attempts, attempt)
	if attempt.Succeeded() {
		completion := attempt.EndTime()
		d.Status.Phase = heraldv1.DeliverySucceeded
		d.Status.NextAttemptTime = nil
		d.Status.CompletionTime = &completion
		setDelivered(d, metav1.ConditionTrue, heraldv1.ReasonSucceeded,
			fmt.Sprintf("attempt %d answered HTTP %d", attempt.Number, attempt.StatusCode), now)
		return time.Time{}, false
	}
	due, more = retry.NextAttemptTime(len(d.Status.Attempts), attempt.EndTime().Time, backoff, attempt.GetRetryAfter())
	if !more {
		markFailed(d, now)
		return time.Time{}, false
	}
	markRetrying(d, due, now)
	return due, true
}

// nextAttemptTime is when the delivery's next attempt is due, from the
// attempts in its status; more is false when the schedule allows none.
func nextAttemptTime(d *heraldv1.WebhookDelivery, backoff []time.Duration) (time.Time, bool) {
	n := len(d.Status.Attempts)
	if n == 0 {
		return retry.NextAttemptTime(0, time.Time{}, backoff, 0)
	}
	last := d.Status.Attempts[n-1]
	return retry.NextAttemptTime(n, last.EndTime().Time, backoff, last.GetRetryAfter())
}
