package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/window"
)

// DeliveryLedgers keeps one window.Ledger per endpoint, fed by the delivery
// informer's events as they arrive: an endpoint's statistics then cost what
// changed since the last update, not a pass over every delivery it keeps.
// The ledgers hold what the cache holds; they are rebuilt from the
// informer's initial list after a restart, like the cache itself.
type DeliveryLedgers struct {
	mu      sync.Mutex
	ledgers map[types.NamespacedName]*window.Ledger
	synced  toolscache.InformerSynced
	// changes, when set, receives each delivery once its ledger holds the
	// change: the endpoint controller reconciles from it, so that it never
	// reads a ledger older than the event that woke it.
	changes chan event.GenericEvent
}

// NewDeliveryLedgers registers the ledgers on the cache's delivery informer.
// Call it before the cache starts, or at any time: an informer replays what
// it holds to a handler added later.
func NewDeliveryLedgers(ctx context.Context, c cache.Cache) (*DeliveryLedgers, error) {
	informer, err := c.GetInformer(ctx, &heraldv1.WebhookDelivery{}, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, fmt.Errorf("getting the delivery informer: %w", err)
	}
	l := &DeliveryLedgers{ledgers: map[types.NamespacedName]*window.Ledger{}}
	reg, err := informer.AddEventHandler(l.eventHandler())
	if err != nil {
		return nil, fmt.Errorf("watching deliveries for the statistics: %w", err)
	}
	l.synced = reg.HasSynced
	return l, nil
}

// eventHandler is what the informer calls.
func (l *DeliveryLedgers) eventHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { l.update(nil, obj) },
		UpdateFunc: l.update,
		DeleteFunc: l.remove,
	}
}

// WaitForSync returns once the ledgers hold every delivery of the
// informer's initial list.
func (l *DeliveryLedgers) WaitForSync(ctx context.Context) error {
	if l.synced() {
		return nil
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), l.synced) {
		return fmt.Errorf("waiting for the delivery ledgers: %w", ctx.Err())
	}
	return nil
}

// Finished returns how many finished deliveries the endpoint's ledger
// holds: a way for tests and the benchmark to wait for it. It walks them.
func (l *DeliveryLedgers) Finished(endpoint types.NamespacedName) int {
	n := 0
	l.view(endpoint, func(ledger *window.Ledger) {
		for _, failed := range []bool{false, true} {
			ledger.Finished(failed, time.Time{}, func(window.Delivery) bool { n++; return true })
		}
	})
	return n
}

// changesSource is a source of the deliveries whose ledger changed, for h.
// Set it up before the manager starts, so that no change goes unseen.
func (l *DeliveryLedgers) changesSource(h handler.TypedEventHandler[client.Object, reconcile.Request]) source.Source {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changes == nil {
		l.changes = make(chan event.GenericEvent, 1024)
	}
	return source.Channel(l.changes, h)
}

// view runs fn on the endpoint's ledger (an empty one if it has no
// deliveries) while no delivery event changes it.
func (l *DeliveryLedgers) view(endpoint types.NamespacedName, fn func(*window.Ledger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ledger := l.ledgers[endpoint]
	if ledger == nil {
		ledger = window.NewLedger()
	}
	fn(ledger)
}

// update records a new version of a delivery. A delivery deleted and
// created again under its name while the watch was down comes as an update
// from the old object: if the endpoint changed, the old one's ledger
// forgets it.
func (l *DeliveryLedgers) update(oldObj, obj any) {
	d, ok := obj.(*heraldv1.WebhookDelivery)
	if !ok {
		return
	}
	old, _ := oldObj.(*heraldv1.WebhookDelivery)
	l.mu.Lock()
	if old != nil && ledgerKey(old) != ledgerKey(d) {
		l.forget(old)
	}
	key := ledgerKey(d)
	ledger := l.ledgers[key]
	if ledger == nil {
		ledger = window.NewLedger()
		l.ledgers[key] = ledger
	}
	ledger.Set(windowDelivery(d))
	changes := l.changes
	l.mu.Unlock()
	announce(changes, old, d)
}

func (l *DeliveryLedgers) remove(obj any) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	d, ok := obj.(*heraldv1.WebhookDelivery)
	if !ok {
		return
	}
	l.mu.Lock()
	l.forget(d)
	changes := l.changes
	l.mu.Unlock()
	announce(changes, nil, d)
}

// forget removes the delivery from its endpoint's ledger, and the ledger
// with its last delivery. The caller holds l.mu.
func (l *DeliveryLedgers) forget(d *heraldv1.WebhookDelivery) {
	key := ledgerKey(d)
	if ledger := l.ledgers[key]; ledger != nil {
		ledger.Remove(d.Name)
		if ledger.Len() == 0 {
			delete(l.ledgers, key)
		}
	}
}

// announce tells the endpoint controller about d, and about old when it
// belonged to another endpoint.
func announce(changes chan event.GenericEvent, old, d *heraldv1.WebhookDelivery) {
	if changes == nil {
		return
	}
	if old != nil && ledgerKey(old) != ledgerKey(d) {
		changes <- event.GenericEvent{Object: old}
	}
	changes <- event.GenericEvent{Object: d}
}

func ledgerKey(d *heraldv1.WebhookDelivery) types.NamespacedName {
	return types.NamespacedName{Namespace: d.Namespace, Name: d.Spec.EndpointRef.Name}
}
