package controllers

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

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
	reg, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    l.set,
		UpdateFunc: func(_, obj any) { l.set(obj) },
		DeleteFunc: l.remove,
	})
	if err != nil {
		return nil, fmt.Errorf("watching deliveries for the statistics: %w", err)
	}
	l.synced = reg.HasSynced
	return l, nil
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

func (l *DeliveryLedgers) set(obj any) {
	d, ok := obj.(*heraldv1.WebhookDelivery)
	if !ok {
		return
	}
	key := ledgerKey(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	ledger := l.ledgers[key]
	if ledger == nil {
		ledger = window.NewLedger()
		l.ledgers[key] = ledger
	}
	ledger.Set(windowDelivery(d))
}

func (l *DeliveryLedgers) remove(obj any) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	d, ok := obj.(*heraldv1.WebhookDelivery)
	if !ok {
		return
	}
	key := ledgerKey(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	if ledger := l.ledgers[key]; ledger != nil {
		ledger.Remove(d.Name)
		if ledger.Len() == 0 {
			delete(l.ledgers, key)
		}
	}
}

func ledgerKey(d *heraldv1.WebhookDelivery) types.NamespacedName {
	return types.NamespacedName{Namespace: d.Namespace, Name: d.Spec.EndpointRef.Name}
}
