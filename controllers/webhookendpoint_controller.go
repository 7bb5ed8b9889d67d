package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// WebhookEndpointReconciler writes a WebhookEndpoint's status (it is the only
// writer): whether the endpoint is suspended and whether it can take calls.
type WebhookEndpointReconciler struct {
	// Client reads from the manager's cache, except Secrets (API server).
	client.Client
	// Clock stamps condition transitions.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookendpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups=webhooks.herald.dev,resources=webhookendpoints/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile computes the endpoint's conditions and writes them once.
func (r *WebhookEndpointReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	var ep heraldv1.WebhookEndpoint
	if err := r.Get(ctx, req.NamespacedName, &ep); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	original := ep.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(original.Status, ep.Status) {
			return
		}
		if err := r.Status().Patch(ctx, &ep, client.MergeFrom(original)); err != nil && !apierrors.IsNotFound(err) {
			result, retErr = ctrl.Result{}, errors.Join(retErr, fmt.Errorf("writing endpoint status: %w", err))
		}
	}()

	ep.Status.ObservedGeneration = ep.Generation
	r.reconcileSuspended(&ep)
	return ctrl.Result{}, r.reconcileReady(ctx, &ep)
}

// reconcileSuspended sets Suspended: True with reason SuspendedBySpec while
// spec.suspend is set, else False.
func (r *WebhookEndpointReconciler) reconcileSuspended(ep *heraldv1.WebhookEndpoint) {
	if ep.Spec.Suspend {
		r.setCondition(ep, heraldv1.ConditionSuspended, metav1.ConditionTrue, heraldv1.ReasonSuspendedBySpec,
			"spec.suspend is true; deliveries are held until it is set to false")
		return
	}
	r.setCondition(ep, heraldv1.ConditionSuspended, metav1.ConditionFalse, heraldv1.ReasonNotSuspended, "no suspension applies")
}

// reconcileReady sets Ready: False while suspended or while the signing
// Secret is missing or invalid, else True.
func (r *WebhookEndpointReconciler) reconcileReady(ctx context.Context, ep *heraldv1.WebhookEndpoint) error {
	if c := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended); c != nil && c.Status == metav1.ConditionTrue {
		r.setCondition(ep, heraldv1.ConditionReady, metav1.ConditionFalse, c.Reason, "suspended: "+c.Message)
		return nil
	}
	if _, err := signingKeys(ctx, r.Client, ep); err != nil {
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

// SetupWithManager registers the controller: endpoints, and the endpoints
// using a Secret when that Secret changes. Secrets are watched by metadata
// only, so their data is never cached.
func (r *WebhookEndpointReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&heraldv1.WebhookEndpoint{}).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.endpointsUsingSecret)).
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
