package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
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
	"github.com/herald-operator/herald/internal/notify"
	"github.com/herald-operator/herald/internal/suspension"
	"github.com/herald-operator/herald/internal/window"
)

// Event reasons of the endpoint controller.
const (
	EventSuspended    = "Suspended"
	EventResumed      = "Resumed"
	EventNotifyFailed = "NotificationFailed"
)

// endpointWorkers is how many endpoints are reconciled at once: each
// reconcile waits on a few API round trips.
const endpointWorkers = 4

// digestSettle is how far a digest's cutoff trails its sending: longer than
// the cache takes to see a delivery's final status.
const digestSettle = 10 * time.Second

// Mailer sends email; nil when the manager has no SMTP settings.
type Mailer interface {
	Send(ctx context.Context, msg notify.Message) error
}

// WebhookEndpointReconciler writes a WebhookEndpoint's status (it is the only
// writer): the window's statistics, the Suspended and Ready conditions. It
// also deletes finished deliveries past their retention (after their
// attempts are folded into the statistics) and issue reports older than the
// window, and tells the endpoint's contacts about failures and suspensions.
type WebhookEndpointReconciler struct {
	// Client reads from the manager's cache, except Secrets (API server).
	client.Client
	// Secrets reads signing Secrets.
	Secrets *SigningSecrets
	// APIReader reads endpoints straight from the API server.
	APIReader client.Reader
	// Deliveries holds each endpoint's deliveries as the cache sees them,
	// in the form the statistics need; SetupWithManager makes it if nil.
	Deliveries *DeliveryLedgers
	// Clock is the time source of the window and of notifications.
	Clock clock.WithTicker
	// Recorder emits Events.
	Recorder events.EventRecorder
	// Mailer emails contacts; nil disables email (Events still fire).
	Mailer Mailer
	// DigestInterval is the least time between two emails listing failed
	// deliveries of one endpoint.
	DigestInterval time.Duration
	// StatisticsDelay coalesces delivery changes: an endpoint's statistics
	// are recomputed at most once per delay on a busy endpoint.
	StatisticsDelay time.Duration
}

// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookendpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookendpoints/status,verbs=patch
// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookdeliveries,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookissuereports,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// endpointScope is what one reconcile works on.
type endpointScope struct {
	ep      *heraldv1.WebhookEndpoint
	key     types.NamespacedName
	reports []heraldv1.WebhookIssueReport
	now     time.Time
	rules   heraldv1.SuspensionRules
	// windowStart is where the statistics window begins.
	windowStart time.Time
	// compaction is the folded part, as written by this reconcile.
	compaction window.Compaction
	// requeueAt collects when this endpoint must be looked at again.
	requeueAt time.Time
}

func (s *endpointScope) requeueNoLaterThan(t time.Time) {
	if !t.IsZero() && t.After(s.now) && (s.requeueAt.IsZero() || t.Before(s.requeueAt)) {
		s.requeueAt = t
	}
}

// Reconcile computes the endpoint's status, tells contacts what they must
// hear, writes the status once, and then deletes what the written
// watermark allows.
func (r *WebhookEndpointReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.Deliveries.WaitForSync(ctx); err != nil {
		return ctrl.Result{}, err
	}
	var ep heraldv1.WebhookEndpoint
	// The endpoint is read from the API server, not the cache: a stale copy
	// without this controller's last status write would suspend, email and
	// record Events a second time. Reconciles are coalesced, so this is one
	// read per StatisticsDelay on a busy endpoint.
	if err := r.APIReader.Get(ctx, req.NamespacedName, &ep); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.SuspendedEndpoints.DeletePartialMatch(map[string]string{"namespace": req.Namespace, "endpoint": req.Name})
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	original := ep.DeepCopy()
	scope, err := r.newScope(ctx, &ep)
	if err != nil {
		return ctrl.Result{}, err
	}

	ep.Status.ObservedGeneration = ep.Generation
	r.reconcileResume(scope)
	r.reconcileStatistics(scope)
	r.reconcileSuspended(scope)
	readyErr := r.reconcileReady(ctx, &ep)
	notifyErr := r.reconcileNotifications(ctx, scope)

	if !equality.Semantic.DeepEqual(original.Status, ep.Status) {
		if err := r.Status().Patch(ctx, &ep, client.MergeFrom(original)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	deleteErr := r.deleteExpired(ctx, scope)
	if err := errors.Join(readyErr, notifyErr, deleteErr); err != nil {
		return ctrl.Result{}, err
	}
	if scope.requeueAt.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: scope.requeueAt.Sub(scope.now)}, nil
}

func (r *WebhookEndpointReconciler) newScope(ctx context.Context, ep *heraldv1.WebhookEndpoint) (*endpointScope, error) {
	s := &endpointScope{ep: ep, key: client.ObjectKeyFromObject(ep), now: r.Clock.Now(), rules: ep.GetSuspensionRules()}
	var reports heraldv1.WebhookIssueReportList
	if err := r.List(ctx, &reports, client.InNamespace(ep.Namespace), client.MatchingFields{reportEndpointIndex: ep.Name}); err != nil {
		return nil, fmt.Errorf("listing issue reports: %w", err)
	}
	s.reports = reports.Items
	return s, nil
}

// reconcileResume acts on a new value of the resume annotation: it lifts an
// automatic suspension and restarts the window now. The value is recorded,
// so one value resumes once.
func (r *WebhookEndpointReconciler) reconcileResume(s *endpointScope) {
	ep := s.ep
	value := ep.Annotations[heraldv1.ResumeAnnotation]
	if value == "" || value == ep.Status.LastHandledResume {
		return
	}
	ep.Status.LastHandledResume = value
	resumedAt := metav1.NewMicroTime(s.now)
	ep.Status.ResumedAt = &resumedAt
	if ep.Status.Compaction != nil {
		// Everything folded so far happened before the resume.
		ep.Status.Compaction.Hourly = nil
		ep.Status.Compaction.UserSketches = nil
	}
	wasSuspended := isAutoSuspended(ep)
	r.setCondition(ep, heraldv1.ConditionSuspended, metav1.ConditionFalse, heraldv1.ReasonResumed,
		fmt.Sprintf("resumed at %s; the statistics window restarts then", s.now.UTC().Format(time.RFC3339)))
	by := resumedBy(ep)
	note := fmt.Sprintf("resume requested (%s=%q) by %s at %s; the statistics window restarts now",
		heraldv1.ResumeAnnotation, value, by, s.now.UTC().Format(time.RFC3339))
	if wasSuspended {
		note = "suspension lifted: " + note
	}
	r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, EventResumed, "Resume", note)
}

// resumedBy names who set the resume annotation, from the object's managed
// fields (the field manager: "kubectl-annotate", a plugin, a GitOps tool).
func resumedBy(ep *heraldv1.WebhookEndpoint) string {
	key := `"f:` + heraldv1.ResumeAnnotation + `"`
	var by string
	var at time.Time
	for _, mf := range ep.ManagedFields {
		if mf.FieldsV1 == nil || !strings.Contains(mf.FieldsV1.GetRawString(), key) {
			continue
		}
		if mf.Time == nil || !mf.Time.Time.Before(at) {
			by = mf.Manager
			if mf.Time != nil {
				at = mf.Time.Time
			}
		}
	}
	if by == "" {
		return "an unknown client"
	}
	return fmt.Sprintf("field manager %q", by)
}

// reconcileStatistics folds deliveries finished before the new watermark and
// computes the window's statistics. The watermark trails now by the
// shortest retention, so a delivery is folded before it may be deleted.
func (r *WebhookEndpointReconciler) reconcileStatistics(s *endpointScope) {
	ep := s.ep
	s.windowStart = s.now.Add(-s.rules.Window)
	if ep.Status.ResumedAt != nil && !ep.Status.ResumedAt.Time.Before(s.windowStart) {
		// Only what happens after the resume counts; a call recorded at the
		// very microsecond of the resume was made before it.
		s.windowStart = ep.Status.ResumedAt.Add(time.Microsecond)
	}
	compaction, err := compactionFromStatus(ep.Status.Compaction)
	if err != nil {
		// A damaged sketch only loses the folded users; start them afresh.
		compaction = window.Compaction{Through: ep.Status.Compaction.Through.Time, Hourly: hourlyFromStatus(ep.Status.Compaction.Hourly)}
	}
	minRetention := min(ep.GetRetention(heraldv1.DeliverySucceeded), ep.GetRetention(heraldv1.DeliveryFailed))
	// The watermark is stored with microsecond precision: round it down here,
	// so that what is folded now is exactly what the stored watermark says.
	through := s.now.Add(-minRetention).Truncate(time.Microsecond)

	var reporting []string
	for _, rep := range s.reports {
		if !rep.CreationTimestamp.Time.Before(s.windowStart.Truncate(time.Second)) {
			reporting = append(reporting, rep.Spec.User)
		}
	}
	var stats window.Stats
	var expiry time.Time
	r.Deliveries.view(s.key, func(l *window.Ledger) {
		s.compaction, _ = l.Compact(compaction, through, s.windowStart)
		stats = l.Stats(s.windowStart, s.compaction, reporting)
		expiry = l.NextExpiry(s.windowStart, s.rules.Window, s.compaction)
	})
	ep.Status.Compaction = compactionToStatus(s.compaction)
	ep.Status.Statistics = statisticsToStatus(stats, ep.Status.Statistics)
	s.requeueNoLaterThan(expiry)
}

// reconcileSuspended sets Suspended. An automatic suspension holds until a
// person resumes the endpoint, even when the figures improve; otherwise the
// rules are evaluated on the window's figures, and spec.suspend shows as
// reason SuspendedBySpec.
func (r *WebhookEndpointReconciler) reconcileSuspended(s *endpointScope) {
	ep := s.ep
	defer recordSuspendedMetric(ep)
	if isAutoSuspended(ep) {
		return
	}
	stats := ep.Status.Statistics
	decision := suspension.Evaluate(suspension.Figures{
		Calls: stats.Calls, Failures: stats.Failures, Users: stats.Users, UsersReporting: stats.UsersReporting,
	}, suspension.Rules{
		Window: s.rules.Window, FailurePercent: s.rules.FailurePercent, MinimumCalls: s.rules.MinimumCalls,
		IssueReportPercent: s.rules.IssueReportPercent, MinimumUsers: s.rules.MinimumUsers,
	})
	switch {
	case decision.Suspend:
		r.setCondition(ep, heraldv1.ConditionSuspended, metav1.ConditionTrue, decision.Reason, decision.Message)
		r.Recorder.Eventf(ep, nil, corev1.EventTypeWarning, EventSuspended, "Suspend",
			"suspended: %s; deliveries are held until it is resumed with the %s annotation", decision.Message, heraldv1.ResumeAnnotation)
	case ep.Spec.Suspend:
		r.setCondition(ep, heraldv1.ConditionSuspended, metav1.ConditionTrue, heraldv1.ReasonSuspendedBySpec,
			"spec.suspend is true; deliveries are held until it is set to false")
	default:
		if c := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended); c != nil && c.Reason == heraldv1.ReasonResumed {
			return // keep saying when it was resumed
		}
		r.setCondition(ep, heraldv1.ConditionSuspended, metav1.ConditionFalse, heraldv1.ReasonNotSuspended, "no suspension rule applies")
	}
}

func isAutoSuspended(ep *heraldv1.WebhookEndpoint) bool {
	c := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended)
	return c != nil && c.Status == metav1.ConditionTrue &&
		(c.Reason == heraldv1.ReasonFailureRateExceeded || c.Reason == heraldv1.ReasonIssueReportsExceeded)
}

func recordSuspendedMetric(ep *heraldv1.WebhookEndpoint) {
	metrics.SuspendedEndpoints.DeletePartialMatch(map[string]string{"namespace": ep.Namespace, "endpoint": ep.Name})
	if c := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended); c != nil && c.Status == metav1.ConditionTrue {
		metrics.SuspendedEndpoints.WithLabelValues(ep.Namespace, ep.Name, c.Reason).Set(1)
	}
}

// reconcileReady sets Ready: False while suspended or while the signing
// Secret is missing or invalid, else True.
func (r *WebhookEndpointReconciler) reconcileReady(ctx context.Context, ep *heraldv1.WebhookEndpoint) error {
	if c := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended); c != nil && c.Status == metav1.ConditionTrue {
		r.setCondition(ep, heraldv1.ConditionReady, metav1.ConditionFalse, c.Reason, "suspended: "+c.Message)
		return nil
	}
	if _, err := r.Secrets.keys(ctx, ep); err != nil {
		var problem *secretProblem
		if errors.As(err, &problem) {
			r.setCondition(ep, heraldv1.ConditionReady, metav1.ConditionFalse, problem.reason, problem.message)
			return nil
		}
		return err
	}
	r.setCondition(ep, heraldv1.ConditionReady, metav1.ConditionTrue, heraldv1.ReasonReady, "the endpoint takes calls")
	return nil
}

// reconcileNotifications emails the contacts, when there is a Mailer and
// contacts: one digest of the deliveries that failed since the last digest,
// at most one per DigestInterval, sent DigestInterval after the oldest
// failure it lists (so a burst makes one email); and one email per
// automatic suspension. A message is sent before its time is recorded, so a
// crash in between repeats it rather than losing it.
func (r *WebhookEndpointReconciler) reconcileNotifications(ctx context.Context, s *endpointScope) error {
	ep := s.ep
	if r.Mailer == nil || len(ep.Spec.ContactEmails) == 0 {
		return nil
	}
	target := notify.Endpoint{Namespace: ep.Namespace, Name: ep.Name, URL: ep.Spec.URL, Contacts: ep.Spec.ContactEmails}
	var errs []error

	if c := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended); isAutoSuspended(ep) &&
		(ep.Status.SuspensionNotifiedTime == nil || ep.Status.SuspensionNotifiedTime.Time.Before(c.LastTransitionTime.Time)) {
		if err := r.email(ctx, ep, "suspension", notify.SuspendedMessage(target, c.Reason, c.Message, heraldv1.ResumeAnnotation)); err != nil {
			errs = append(errs, err)
		} else {
			t := metav1.NewMicroTime(s.now)
			ep.Status.SuspensionNotifiedTime = &t
		}
	}

	// The digest lists the failures that completed after the last digest's
	// cutoff. It is sent DigestInterval after the oldest of them (so a burst
	// makes one email), and no sooner than DigestInterval after the last
	// digest. Its own cutoff trails now by digestSettle, so that a delivery
	// that failed just before the email but is not yet in the cache goes
	// into the next one instead of being skipped.
	settle := min(digestSettle, r.DigestInterval/2)
	var last time.Time
	if ep.Status.LastFailureDigestTime != nil {
		last = ep.Status.LastFailureDigestTime.Time
	}
	var oldest time.Time
	r.Deliveries.view(s.key, func(l *window.Ledger) {
		l.Finished(true, last, func(d window.Delivery) bool {
			if !d.CompletionTime.After(last) {
				return true // in the last digest
			}
			oldest = d.CompletionTime
			return false
		})
	})
	if oldest.IsZero() {
		return errors.Join(errs...) // no failure since the last digest
	}
	due := oldest.Add(r.DigestInterval)
	if !last.IsZero() && last.Add(settle+r.DigestInterval).After(due) {
		due = last.Add(settle + r.DigestInterval) // the last digest went at last+settle
	}
	if s.now.Before(due) {
		s.requeueNoLaterThan(due)
		return errors.Join(errs...)
	}
	cutoff := s.now.Add(-settle).Truncate(time.Microsecond)
	var listed []window.Delivery
	r.Deliveries.view(s.key, func(l *window.Ledger) {
		l.Finished(true, last, func(d window.Delivery) bool {
			if d.CompletionTime.After(cutoff) {
				return false
			}
			if d.CompletionTime.After(last) {
				listed = append(listed, d)
			}
			return true
		})
	})
	failed := r.describeFailures(ctx, s.ep.Namespace, listed)
	if err := r.email(ctx, ep, "failed-deliveries digest", notify.FailedDeliveriesMessage(target, failed, r.DigestInterval)); err != nil {
		errs = append(errs, err)
	} else {
		t := metav1.NewMicroTime(cutoff)
		ep.Status.LastFailureDigestTime = &t
	}
	return errors.Join(errs...)
}

// describeFailures turns failed deliveries into the digest's entries. The
// event and last error of those the email lists are read from the cache;
// one deleted meanwhile, or replaced under its name, is listed without them.
func (r *WebhookEndpointReconciler) describeFailures(ctx context.Context, namespace string, deliveries []window.Delivery) []notify.FailedDelivery {
	failed := make([]notify.FailedDelivery, len(deliveries))
	for i, d := range deliveries {
		failed[i] = notify.FailedDelivery{Name: d.Name, User: d.User, Attempts: len(d.Attempts), CompletionTime: d.CompletionTime}
		if i >= notify.MaxListedDeliveries {
			continue
		}
		var cached heraldv1.WebhookDelivery
		if err := r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: d.Name}, &cached); err != nil || string(cached.UID) != d.UID {
			continue
		}
		failed[i].Event = cached.Spec.Event
		if n := len(cached.Status.Attempts); n > 0 {
			failed[i].LastError = cached.Status.Attempts[n-1].Error
		}
	}
	return failed
}

// email sends msg to the contacts; an error means nobody got it, and it is
// tried again. Addresses the mail server refuses get a Warning Event each
// time, but the message counts as sent when the other contacts got it: a
// mistyped address does not fix itself, and they must not get it twice.
func (r *WebhookEndpointReconciler) email(ctx context.Context, ep *heraldv1.WebhookEndpoint, what string, msg notify.Message) error {
	err := r.Mailer.Send(ctx, msg)
	var refused *notify.RecipientsRefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused) && !refused.All:
		r.Recorder.Eventf(ep, nil, corev1.EventTypeWarning, EventNotifyFailed, "Notify",
			"emailing the %s: the mail server refused some of spec.contactEmails: %v", what, err)
		return nil
	default:
		r.Recorder.Eventf(ep, nil, corev1.EventTypeWarning, EventNotifyFailed, "Notify", "emailing the %s failed: %v", what, err)
		return fmt.Errorf("emailing the %s: %w", what, err)
	}
}

// deleteExpired deletes finished deliveries past their retention that the
// written watermark has folded (so their deletion changes no statistic),
// and issue reports older than the window.
func (r *WebhookEndpointReconciler) deleteExpired(ctx context.Context, s *endpointScope) error {
	// Finished deliveries come oldest first, so the first one that may not
	// go yet ends the list: the later ones expire later.
	var expired []window.Delivery
	r.Deliveries.view(s.key, func(l *window.Ledger) {
		for _, phase := range []heraldv1.DeliveryPhase{heraldv1.DeliverySucceeded, heraldv1.DeliveryFailed} {
			retention := s.ep.GetRetention(phase)
			l.Finished(phase == heraldv1.DeliveryFailed, time.Time{}, func(d window.Delivery) bool {
				expires := d.CompletionTime.Add(retention)
				if folded := d.CompletionTime.Before(s.compaction.Through); !folded || s.now.Before(expires) {
					s.requeueNoLaterThan(expires)
					return false
				}
				expired = append(expired, d)
				return true
			})
		}
	})
	var errs []error
	for _, d := range expired {
		// The UID precondition spares a delivery created again under the
		// same name since the ledger saw this one.
		uid := types.UID(d.UID)
		victim := &heraldv1.WebhookDelivery{ObjectMeta: metav1.ObjectMeta{Namespace: s.ep.Namespace, Name: d.Name}}
		if err := r.Delete(ctx, victim, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("deleting delivery %s: %w", d.Name, err))
		}
	}
	for i := range s.reports {
		rep := &s.reports[i]
		expires := rep.CreationTimestamp.Add(s.rules.Window)
		if s.now.Before(expires) {
			s.requeueNoLaterThan(expires)
			continue
		}
		if err := r.Delete(ctx, rep, client.Preconditions{UID: &rep.UID}); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting issue report %s: %w", rep.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (r *WebhookEndpointReconciler) setCondition(ep *heraldv1.WebhookEndpoint, conditionType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&ep.Status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: ep.Generation,
		LastTransitionTime: metav1.NewTime(r.Clock.Now()),
	})
}

// SetupWithManager registers the controller: endpoints (spec and annotation
// changes, not its own status writes), their deliveries and issue reports
// (coalesced by StatisticsDelay), and the Secrets they sign with (metadata
// only, so Secret data is never cached).
func (r *WebhookEndpointReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Deliveries == nil {
		ledgers, err := NewDeliveryLedgers(context.Background(), mgr.GetCache())
		if err != nil {
			return err
		}
		r.Deliveries = ledgers
	}
	coalesce := &coalescer{delay: r.StatisticsDelay}
	return ctrl.NewControllerManagedBy(mgr).
		For(&heraldv1.WebhookEndpoint{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(r.Deliveries.changesSource(coalesce.handler(func(o client.Object) string {
			return o.(*heraldv1.WebhookDelivery).Spec.EndpointRef.Name
		}))).
		Watches(&heraldv1.WebhookIssueReport{}, coalesce.handler(func(o client.Object) string {
			return o.(*heraldv1.WebhookIssueReport).Spec.EndpointRef.Name
		})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.endpointsUsingSecret)).
		WithOptions(controller.Options{MaxConcurrentReconciles: endpointWorkers, NewQueue: newClockedQueue(r.Clock)}).
		Named("webhookendpoint").
		Complete(r)
}

func (r *WebhookEndpointReconciler) endpointsUsingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list heraldv1.WebhookEndpointList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{endpointSecretIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing endpoints using Secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
	}
	return reqs
}

// coalescer turns a burst of changes to an endpoint's deliveries into one
// reconcile of the endpoint, delay after the first change. The delay runs
// on the real clock: it paces API writes, not the delivery schedule.
type coalescer struct {
	delay   time.Duration
	mu      sync.Mutex
	pending map[types.NamespacedName]bool
}

func (c *coalescer) handler(endpointOf func(client.Object) string) handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		key := types.NamespacedName{Namespace: o.GetNamespace(), Name: endpointOf(o)}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.pending == nil {
			c.pending = map[types.NamespacedName]bool{}
		}
		if c.pending[key] {
			return
		}
		c.pending[key] = true
		time.AfterFunc(c.delay, func() {
			c.mu.Lock()
			delete(c.pending, key)
			c.mu.Unlock()
			q.Add(reconcile.Request{NamespacedName: key})
		})
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.ObjectNew, q)
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
	}
}
