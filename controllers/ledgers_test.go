package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/window"
)

// A delivery deleted and created again under its name for another endpoint
// while the watch was down comes back as an update from the old object: the
// old endpoint's ledger must forget it (else its garbage collection would
// go on naming it), and both endpoints hear of the change.
func TestLedgersFollowADeliveryToAnotherEndpoint(t *testing.T) {
	l := &DeliveryLedgers{ledgers: map[types.NamespacedName]*window.Ledger{}, changes: make(chan event.GenericEvent, 8)}
	done := metav1.NewMicroTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	delivery := func(endpoint, uid string) *heraldv1.WebhookDelivery {
		return &heraldv1.WebhookDelivery{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "order-42", UID: types.UID(uid)},
			Spec:       heraldv1.WebhookDeliverySpec{EndpointRef: heraldv1.EndpointReference{Name: endpoint}},
			Status:     heraldv1.WebhookDeliveryStatus{Phase: heraldv1.DeliverySucceeded, CompletionTime: &done},
		}
	}
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	announced := func() []string {
		var names []string
		for len(l.changes) > 0 {
			names = append(names, (<-l.changes).Object.(*heraldv1.WebhookDelivery).Spec.EndpointRef.Name)
		}
		return names
	}

	events := l.eventHandler()
	oldA := delivery("a", "uid-1")
	events.OnAdd(oldA, false)
	if got := l.Finished(a); got != 1 {
		t.Fatalf("endpoint a holds %d finished deliveries, want 1", got)
	}
	if got := announced(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("announced %v, want [a]", got)
	}

	newB := delivery("b", "uid-2")
	events.OnUpdate(oldA, newB)
	if got, want := []int{l.Finished(a), l.Finished(b)}, []int{0, 1}; got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("endpoints a, b hold %v finished deliveries, want %v", got, want)
	}
	if got := announced(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("announced %v, want [a b]", got)
	}
	if _, left := l.ledgers[a]; left {
		t.Error("endpoint a's empty ledger is kept")
	}
	var uid string
	l.view(b, func(ledger *window.Ledger) {
		ledger.Finished(false, time.Time{}, func(d window.Delivery) bool { uid = d.UID; return false })
	})
	if uid != "uid-2" {
		t.Errorf("endpoint b's ledger has UID %q, want uid-2 (deletion is conditional on it)", uid)
	}

	events.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/order-42", Obj: newB})
	if got := l.Finished(b); got != 0 {
		t.Errorf("after the delete, endpoint b holds %d finished deliveries", got)
	}
	if got := announced(); len(got) != 1 || got[0] != "b" {
		t.Errorf("announced %v, want [b]", got)
	}
}
