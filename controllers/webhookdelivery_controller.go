package controllers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/metrics"
	"github.com/herald-operator/herald/internal/retry"
	"github.com/herald-operator/herald/internal/sender"
	"github.com/herald-operator/herald/internal/signing"
)

// Event reasons of the delivery controller.
const (
	EventAttemptFailed  = "AttemptFailed"
	EventDeliveryFailed = "DeliveryFailed"
)

// DefaultMaxPayloadBytes is the default of --max-payload-bytes.
const DefaultMaxPayloadBytes = 256 << 10

// EventPayloadTooLarge is recorded when a payload exceeds the limit.
const EventPayloadTooLarge = "PayloadTooLarge"

// maxErrorText bounds an attempt's error text (the CRD's limit).
const maxErrorText = 1024

// WebhookDeliveryReconciler makes one attempt of a WebhookDelivery per
// reconcile and records it in the delivery's status, of which it is the only
// writer. Every wait is computed from the attempt times in status, so a
// restarted manager neither repeats nor skips one.
type WebhookDeliveryReconciler struct {
	// Client reads from the manager's cache, except Secrets, which it reads
	// from the API server (see cmd/herald).
	client.Client
	// Clock is the time source of attempts and of the retry waits.
	Clock clock.WithTicker
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Secrets reads signing Secrets.
	Secrets *SigningSecrets
	// Sender makes the HTTP calls; one is shared by all workers.
	Sender *sender.Sender
	// MaxConcurrentReconciles is how many deliveries are handled at once.
	// Calls wait on the network, so it is far above the CPU count.
	MaxConcurrentReconciles int
	// MaxPayloadBytes is the largest payload herald sends; zero means
	// DefaultMaxPayloadBytes.
	MaxPayloadBytes int

	written attemptsWritten
}

// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookdeliveries,verbs=get;list;watch
// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookdeliveries/status,verbs=patch
// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookendpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile reads the delivery, decides, and writes its status once.
func (r *WebhookDeliveryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	var d heraldv1.WebhookDelivery
	if err := r.Get(ctx, req.NamespacedName, &d); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if d.Status.Phase.IsFinal() {
		r.written.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	unsaved := r.written.unsaved(&d)
	if unsaved == nil && r.written.ahead(&d) {
		// The cache has not caught up with our last status write; acting on
		// it could repeat an attempt. That write's watch event brings the
		// delivery back.
		return ctrl.Result{}, nil
	}

	originalStatus := d.Status.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(*originalStatus, d.Status) {
			return
		}
		patch, err := replaceStatus(&d.Status)
		if err == nil {
			// The answer is asked for as metadata only: herald knows the
			// status it wrote, and decoding (and the API server encoding)
			// the whole delivery, payload included, costs on every write.
			err = r.Status().Patch(ctx, deliveryMetadata(&d), patch)
		}
		if err != nil {
			if apierrors.IsNotFound(err) {
				return
			}
			if len(d.Status.Attempts) > len(originalStatus.Attempts) {
				// The call was made: keep its record to write it next
				// time, rather than calling again.
				r.written.keepUnsaved(&d)
			}
			result, retErr = ctrl.Result{}, errors.Join(retErr, fmt.Errorf("writing delivery status: %w", err))
			return
		}
		r.written.record(&d)
	}()

	if unsaved != nil {
		// An attempt was made but its record could not be written: write it
		// now, and call nothing until it is written.
		d.Status = *unsaved
		if d.Status.Phase == heraldv1.DeliveryRetrying && d.Status.NextAttemptTime != nil {
			return ctrl.Result{RequeueAfter: retry.Wait(r.Clock.Now(), d.Status.NextAttemptTime.Time)}, nil
		}
		return ctrl.Result{}, nil
	}
	return r.reconcileDelivery(ctx, &d)
}

// reconcileDelivery makes the next attempt if it is due and nothing holds it.
// It sets the phase and the Delivered condition:
//   - Pending, EndpointNotFound / SigningSecretNotFound / SigningSecretInvalid:
//     waiting for the user to create or fix something;
//   - Held, EndpointSuspended: the endpoint is suspended;
//   - Pending / Retrying: waiting for the next attempt's time;
//   - Succeeded, Retrying or Failed after an attempt.
func (r *WebhookDeliveryReconciler) reconcileDelivery(ctx context.Context, d *heraldv1.WebhookDelivery) (ctrl.Result, error) {
	now := r.Clock.Now()

	var ep heraldv1.WebhookEndpoint
	if err := r.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Spec.EndpointRef.Name}, &ep); err != nil {
		if apierrors.IsNotFound(err) {
			markWaiting(d, heraldv1.DeliveryPending, heraldv1.ReasonEndpointNotFound,
				fmt.Sprintf("WebhookEndpoint %q not found in namespace %q; the delivery goes when it is created", d.Spec.EndpointRef.Name, d.Namespace), now)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	backoff := ep.GetBackoff()
	due, more := nextAttemptTime(d, backoff)
	if !more {
		// The schedule was shortened after the last attempt failed.
		markFailed(d, now)
		recordFinished(d)
		r.eventDeliveryFailed(d, &ep)
		return ctrl.Result{}, nil
	}

	if held, message := endpointHold(&ep); held {
		if len(d.Status.Attempts) > 0 {
			next := metav1.NewMicroTime(due)
			d.Status.NextAttemptTime = &next
		}
		markWaiting(d, heraldv1.DeliveryHeld, heraldv1.ReasonEndpointSuspended, message, now)
		return ctrl.Result{}, nil
	}

	if wait := retry.Wait(now, due); wait > 0 {
		markRetrying(d, due, now) // due is in the future only after a failed attempt
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	if limit := cmp.Or(r.MaxPayloadBytes, DefaultMaxPayloadBytes); len(d.Spec.Payload.Raw) > limit {
		message := fmt.Sprintf("the payload is %d bytes, over the manager's limit of %d (--max-payload-bytes); the delivery waits until the limit is raised",
			len(d.Spec.Payload.Raw), limit)
		if c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered); c == nil || c.Reason != heraldv1.ReasonPayloadTooLarge {
			r.Recorder.Eventf(d, &ep, corev1.EventTypeWarning, EventPayloadTooLarge, "Deliver", message)
		}
		markWaiting(d, heraldv1.DeliveryPending, heraldv1.ReasonPayloadTooLarge, message, now)
		return ctrl.Result{}, nil
	}

	keys, err := r.Secrets.keys(ctx, &ep)
	if err != nil {
		var problem *secretProblem
		if errors.As(err, &problem) {
			markWaiting(d, heraldv1.DeliveryPending, problem.reason, problem.message+"; the delivery goes when it is fixed", now)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	attempt, err := r.attempt(ctx, d, &ep, keys)
	if err != nil {
		return ctrl.Result{}, err
	}
	due, more = recordAttempt(d, attempt, backoff, r.Clock.Now())
	recordAttemptMetrics(d, attempt)
	switch {
	case attempt.Succeeded():
		return ctrl.Result{}, nil
	case !more:
		r.eventDeliveryFailed(d, &ep)
		return ctrl.Result{}, nil
	default:
		r.Recorder.Eventf(d, &ep, corev1.EventTypeWarning, EventAttemptFailed, "Deliver",
			"attempt %d of %d to %s failed: %s; next attempt at %s",
			attempt.Number, len(backoff)+1, ep.Spec.URL, attempt.Error, due.UTC().Format(time.RFC3339Nano))
		return ctrl.Result{RequeueAfter: retry.Wait(r.Clock.Now(), due)}, nil
	}
}

// attempt makes one call and returns its record. It returns an error only
// when the manager is stopping mid-call: that call is not recorded, and is
// made again after a restart with the same webhook-id (at-least-once).
func (r *WebhookDeliveryReconciler) attempt(ctx context.Context, d *heraldv1.WebhookDelivery, ep *heraldv1.WebhookEndpoint, keys []signing.Key) (heraldv1.DeliveryAttempt, error) {
	body := d.Spec.Payload.Raw
	id := d.WebhookID()
	start := r.Clock.Now()
	timestamp := signing.Timestamp(start)

	header := make(http.Header, len(ep.Spec.Headers)+3)
	for _, h := range ep.Spec.Headers {
		header.Set(h.Name, h.Value)
	}
	header.Set("webhook-id", id)
	header.Set("webhook-timestamp", timestamp)
	if len(keys) > 0 {
		header.Set("webhook-signature", signing.Sign(keys, id, timestamp, body))
	}

	res := r.Sender.Send(ctx, sender.Request{URL: ep.Spec.URL, Body: body, Header: header, Timeout: ep.GetTimeout()})
	if ctx.Err() != nil {
		return heraldv1.DeliveryAttempt{}, fmt.Errorf("attempt interrupted: %w", ctx.Err())
	}
	recordedStart, duration := retry.RecordedSpan(start, r.Clock.Now())
	attempt := heraldv1.DeliveryAttempt{
		Number:     int32(len(d.Status.Attempts) + 1), //nolint:gosec // at most 11 attempts
		StartTime:  metav1.NewMicroTime(recordedStart),
		Duration:   metav1.Duration{Duration: duration},
		StatusCode: int32(res.StatusCode), //nolint:gosec // HTTP status codes fit
	}
	if res.Err != nil {
		attempt.Error = truncate(res.Err.Error(), maxErrorText)
	}
	if res.RetryAfter > 0 {
		attempt.RetryAfter = &metav1.Duration{Duration: res.RetryAfter}
	}
	return attempt, nil
}

func recordAttemptMetrics(d *heraldv1.WebhookDelivery, attempt heraldv1.DeliveryAttempt) {
	result := "failure"
	if attempt.Succeeded() {
		result = "success"
	}
	metrics.Attempts.WithLabelValues(result).Inc()
	metrics.AttemptDuration.Observe(attempt.Duration.Seconds())
	recordFinished(d)
}

// recordFinished counts a delivery that has just reached a final phase.
func recordFinished(d *heraldv1.WebhookDelivery) {
	if d.Status.Phase.IsFinal() {
		metrics.Finished.WithLabelValues(string(d.Status.Phase)).Inc()
	}
}

func (r *WebhookDeliveryReconciler) eventDeliveryFailed(d *heraldv1.WebhookDelivery, ep *heraldv1.WebhookEndpoint) {
	r.Recorder.Eventf(d, ep, corev1.EventTypeWarning, EventDeliveryFailed, "Deliver",
		"delivery of %s to %s failed after %d attempts", d.Spec.Event, ep.Spec.URL, len(d.Status.Attempts))
}

// endpointHold reports whether the endpoint takes no calls now, and why.
func endpointHold(ep *heraldv1.WebhookEndpoint) (bool, string) {
	if ep.Spec.Suspend {
		return true, fmt.Sprintf("WebhookEndpoint %q is suspended by spec.suspend; the delivery goes on when it is unsuspended", ep.Name)
	}
	if c := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended); c != nil && c.Status == metav1.ConditionTrue {
		return true, fmt.Sprintf("WebhookEndpoint %q is suspended (%s: %s); the delivery goes on when it is resumed", ep.Name, c.Reason, c.Message)
	}
	return false, ""
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// SetupWithManager registers the controller: deliveries, and the deliveries
// of an endpoint whenever the endpoint changes in a way that can release
// them (created, deleted, spec changed, Ready or Suspended changed).
func (r *WebhookDeliveryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&heraldv1.WebhookDelivery{}).
		Watches(&heraldv1.WebhookEndpoint{},
			handler.EnqueueRequestsFromMapFunc(r.openDeliveriesOfEndpoint),
			builder.WithPredicates(endpointAvailabilityChanged())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			NewQueue:                newClockedQueue(r.Clock),
		}).
		Named("webhookdelivery").
		Complete(r)
}

// openDeliveriesOfEndpoint lists, from the cache, the deliveries of an
// endpoint that have not reached a final phase.
func (r *WebhookDeliveryReconciler) openDeliveriesOfEndpoint(ctx context.Context, ep client.Object) []reconcile.Request {
	var list heraldv1.WebhookDeliveryList
	if err := r.List(ctx, &list, client.InNamespace(ep.GetNamespace()),
		client.MatchingFields{deliveryEndpointIndex: ep.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing deliveries of endpoint", "endpoint", ep.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		if !list.Items[i].Status.Phase.IsFinal() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// endpointAvailabilityChanged passes endpoint events that may release or
// hold deliveries, and not the frequent status writes that only update
// statistics.
func endpointAvailabilityChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldEP, okOld := e.ObjectOld.(*heraldv1.WebhookEndpoint)
			newEP, okNew := e.ObjectNew.(*heraldv1.WebhookEndpoint)
			if !okOld || !okNew {
				return true
			}
			return oldEP.Generation != newEP.Generation ||
				conditionStatus(oldEP.Status.Conditions, heraldv1.ConditionReady) != conditionStatus(newEP.Status.Conditions, heraldv1.ConditionReady) ||
				conditionStatus(oldEP.Status.Conditions, heraldv1.ConditionSuspended) != conditionStatus(newEP.Status.Conditions, heraldv1.ConditionSuspended)
		},
	}
}

func conditionStatus(conditions []metav1.Condition, conditionType string) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(conditions, conditionType); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

// replaceStatus is a JSON patch that sets the whole status. herald is the
// status's only writer, so there is nothing to merge with, and this spares
// marshalling and diffing the whole object (payload included) on every write.
func replaceStatus(status *heraldv1.WebhookDeliveryStatus) (client.Patch, error) {
	data, err := json.Marshal([]map[string]any{{"op": "add", "path": "/status", "value": status}})
	if err != nil {
		return nil, fmt.Errorf("marshalling the delivery status: %w", err)
	}
	return client.RawPatch(types.JSONPatchType, data), nil
}

// deliveryMetadata names a delivery for a request whose answer is read as
// metadata only.
func deliveryMetadata(d *heraldv1.WebhookDelivery) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: heraldv1.GroupVersion.String(), Kind: "WebhookDelivery"},
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name},
	}
}

// attemptsWritten remembers, per delivery, the attempts herald recorded
// that the cache may not show yet:
//   - after a status write, how many attempts it held, until the cache shows
//     them, so that a stale cache cannot repeat an attempt;
//   - after a failed status write that held a new attempt, that status, so
//     that the next reconcile writes it instead of calling again.
type attemptsWritten struct {
	mu sync.Mutex
	m  map[types.NamespacedName]writtenAttempts
}

type writtenAttempts struct {
	uid      types.UID
	attempts int
	// unsaved is a status with attempts whose write failed.
	unsaved *heraldv1.WebhookDeliveryStatus
}

func (w *attemptsWritten) set(d *heraldv1.WebhookDelivery, unsaved *heraldv1.WebhookDeliveryStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]writtenAttempts{}
	}
	w.m[client.ObjectKeyFromObject(d)] = writtenAttempts{d.UID, len(d.Status.Attempts), unsaved}
}

// record notes a successful status write.
func (w *attemptsWritten) record(d *heraldv1.WebhookDelivery) { w.set(d, nil) }

// keepUnsaved notes a status whose write failed after a call was made.
func (w *attemptsWritten) keepUnsaved(d *heraldv1.WebhookDelivery) { w.set(d, d.Status.DeepCopy()) }

// unsaved returns the status to write before anything else, if an earlier
// write of it failed and the cached delivery does not show it.
func (w *attemptsWritten) unsaved(cached *heraldv1.WebhookDelivery) *heraldv1.WebhookDeliveryStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[client.ObjectKeyFromObject(cached)]
	if !ok || e.unsaved == nil || e.uid != cached.UID || len(cached.Status.Attempts) >= e.attempts {
		return nil
	}
	return e.unsaved.DeepCopy()
}

// ahead reports whether we wrote more attempts than the cached delivery
// shows; once the cache has caught up (or the name now belongs to a new
// object), the entry is dropped.
func (w *attemptsWritten) ahead(cached *heraldv1.WebhookDelivery) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := client.ObjectKeyFromObject(cached)
	written, ok := w.m[key]
	if !ok {
		return false
	}
	if written.uid != cached.UID || len(cached.Status.Attempts) >= written.attempts {
		delete(w.m, key)
		return false
	}
	return true
}

func (w *attemptsWritten) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
