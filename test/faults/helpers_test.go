//go:build linux

package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// The tests' schedule: real time, so short.
const (
	callTimeout = 2 * time.Second
)

var defaultBackoff = []time.Duration{time.Second, 2 * time.Second}

// newNamespace creates a namespace for one test; the test's endpoints and
// deliveries are deleted with it when the test ends (envtest runs no
// namespace controller), so that later tests' managers find nothing left
// to do.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "herald-faults-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = k8sClient.DeleteAllOf(ctx, &heraldv1.WebhookDelivery{}, client.InNamespace(ns.Name))
		_ = k8sClient.DeleteAllOf(ctx, &heraldv1.WebhookEndpoint{}, client.InNamespace(ns.Name))
		_ = k8sClient.Delete(ctx, ns)
	})
	return ns.Name
}

// createEndpoint creates an endpoint calling url with the tests' timeout
// and the given schedule, and with the failure-rate suspension out of reach
// (some scenarios fail half their calls on purpose).
func createEndpoint(t *testing.T, ns, name, url string, backoff []time.Duration) {
	t.Helper()
	ep := &heraldv1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: heraldv1.WebhookEndpointSpec{
			URL:        url,
			Timeout:    &metav1.Duration{Duration: callTimeout},
			Retry:      &heraldv1.RetryPolicy{Backoff: []metav1.Duration{}},
			Suspension: &heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](1_000_000)},
		},
	}
	for _, b := range backoff {
		ep.Spec.Retry.Backoff = append(ep.Spec.Retry.Backoff, metav1.Duration{Duration: b})
	}
	if err := k8sClient.Create(context.Background(), ep); err != nil {
		t.Fatalf("creating endpoint %s: %v", name, err)
	}
}

// createDeliveries creates n deliveries for the endpoint, several at a
// time, and returns them as created (with their UIDs).
func createDeliveries(t *testing.T, ns, endpoint string, n int) []*heraldv1.WebhookDelivery {
	t.Helper()
	out := make([]*heraldv1.WebhookDelivery, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			d := &heraldv1.WebhookDelivery{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: endpoint + "-"},
				Spec: heraldv1.WebhookDeliverySpec{
					EndpointRef: heraldv1.EndpointReference{Name: endpoint},
					Event:       "user.logout",
					User:        fmt.Sprintf("u-%d", i),
					Payload:     apiextensionsv1.JSON{Raw: fmt.Appendf(nil, `{"type":"user.logout","n":%d}`, i)},
				},
			}
			errs[i] = k8sClient.Create(context.Background(), d)
			out[i] = d
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("creating delivery %d of endpoint %s: %v", i, endpoint, err)
		}
	}
	return out
}

func listDeliveries(t *testing.T, ns string) []heraldv1.WebhookDelivery {
	t.Helper()
	var list heraldv1.WebhookDeliveryList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing deliveries: %v", err)
	}
	return list.Items
}

// phases counts deliveries by phase ("" for none yet), for messages.
func phases(ds []heraldv1.WebhookDelivery) string {
	counts := map[heraldv1.DeliveryPhase]int{}
	for _, d := range ds {
		counts[d.Status.Phase]++
	}
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(counts)) {
		name := string(p)
		if name == "" {
			name = "(no phase)"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, counts[p]))
	}
	return strings.Join(parts, " ")
}

func countFinal(ds []heraldv1.WebhookDelivery) int {
	n := 0
	for _, d := range ds {
		if d.Status.Phase.IsFinal() {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or timeout passes; then it fails
// the test with cond's last message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s: %s", what, timeout, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitAllFinal waits until want deliveries exist in ns and all are
// Succeeded or Failed.
func waitAllFinal(t *testing.T, ns string, want int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("all %d deliveries final", want), func() (bool, string) {
		ds := listDeliveries(t, ns)
		return len(ds) == want && countFinal(ds) == want, fmt.Sprintf("%d deliveries: %s", len(ds), phases(ds))
	})
}

// outcome is what a scenario ended with.
type outcome struct {
	deliveries []heraldv1.WebhookDelivery
	byUID      map[string]heraldv1.WebhookDelivery
	calls      []call
	// unrecorded holds, per webhook-id, all the calls with that id when the
	// receivers got more calls than the delivery's status records attempts:
	// the duplicates.
	unrecorded map[string][]call
	succeeded  int
}

// duplicates is how many calls herald made and did not record.
func (o outcome) duplicates() int {
	n := 0
	for id, calls := range o.unrecorded {
		n += len(calls) - len(o.byUID[id].Status.Attempts)
	}
	return n
}

// checkNothingLost checks the invariants every scenario ends with:
//   - every delivery created is still there and is final (Succeeded or
//     Failed), and there are no others: deliveries created == deliveries final;
//   - the receivers got a call for every attempt in status (never fewer
//     calls than attempts), and no call with a webhook-id of no delivery;
//   - calls received − duplicates == attempts recorded, and every delivery
//     whose receiver accepted a call is Succeeded, and no other;
//   - when wantSucceeded, every delivery Succeeded.
//
// It returns the outcome with the duplicates (calls beyond the recorded
// attempts), which each scenario judges.
func checkNothingLost(t *testing.T, ns string, created []*heraldv1.WebhookDelivery, wantSucceeded bool, rcvs ...*receiver) outcome {
	t.Helper()
	o := outcome{deliveries: listDeliveries(t, ns), byUID: map[string]heraldv1.WebhookDelivery{}, unrecorded: map[string][]call{}}
	for _, d := range o.deliveries {
		o.byUID[string(d.UID)] = d
	}
	for _, c := range created {
		d, ok := o.byUID[string(c.UID)]
		switch {
		case !ok:
			t.Errorf("delivery %s (uid %s) was created and is gone", c.Name, c.UID)
		case !d.Status.Phase.IsFinal():
			t.Errorf("delivery %s is not final: phase %q, %d attempts", d.Name, d.Status.Phase, len(d.Status.Attempts))
		}
	}
	final := countFinal(o.deliveries)
	if len(o.deliveries) != len(created) || final != len(created) {
		t.Errorf("deliveries created: %d; in the namespace: %d; final: %d (%s)", len(created), len(o.deliveries), final, phases(o.deliveries))
	}

	byID := map[string][]call{}
	for _, r := range rcvs {
		for _, c := range r.got() {
			o.calls = append(o.calls, c)
			byID[c.id] = append(byID[c.id], c)
		}
	}
	sort.Slice(o.calls, func(i, j int) bool { return o.calls[i].start.Before(o.calls[j].start) })
	attempts, accepted := 0, 0
	for _, d := range o.deliveries {
		// The deliveries have no spec.id: the webhook-id is the UID.
		id := d.WebhookID()
		calls := byID[id]
		delete(byID, id)
		n := len(d.Status.Attempts)
		attempts += n
		if d.Status.Phase == heraldv1.DeliverySucceeded {
			o.succeeded++
		} else if wantSucceeded {
			t.Errorf("delivery %s ended %s, want Succeeded: %s", d.Name, d.Status.Phase, describeAttempts(d))
		}
		for i, a := range d.Status.Attempts {
			if a.Number != int32(i+1) {
				t.Errorf("delivery %s: attempt %d is numbered %d: %s", d.Name, i+1, a.Number, describeAttempts(d))
			}
		}
		if len(calls) < n {
			t.Errorf("delivery %s: status records %d attempts, the receiver got %d calls with its webhook-id", d.Name, n, len(calls))
		}
		if len(calls) > n {
			o.unrecorded[id] = calls
		}
		gotOK := slices.ContainsFunc(calls, func(c call) bool { return strings.HasPrefix(c.answer, "2") })
		if gotOK != (d.Status.Phase == heraldv1.DeliverySucceeded) {
			t.Errorf("delivery %s is %s, yet its receiver accepted a call: %t", d.Name, d.Status.Phase, gotOK)
		}
		if gotOK {
			accepted++
		}
	}
	for id, calls := range byID {
		t.Errorf("%d calls with webhook-id %s, which is no delivery's", len(calls), id)
	}
	if got := len(o.calls) - o.duplicates(); got != attempts {
		t.Errorf("calls received (%d) − duplicates (%d) = %d, attempts recorded: %d", len(o.calls), o.duplicates(), got, attempts)
	}
	if accepted != o.succeeded {
		t.Errorf("deliveries whose receiver accepted a call: %d; deliveries Succeeded: %d", accepted, o.succeeded)
	}
	t.Logf("%d deliveries created, %d final (%s); %d calls received (by manager pid: %v), %d duplicates, %d attempts recorded, %d accepted",
		len(created), final, phases(o.deliveries), len(o.calls), callsByPID(o.calls), o.duplicates(), attempts, accepted)
	return o
}

// noDuplicates fails the test if herald made calls it did not record,
// showing the calls of the first few deliveries concerned.
func noDuplicates(t *testing.T, o outcome) {
	t.Helper()
	if len(o.unrecorded) == 0 {
		return
	}
	shown := 0
	for id, calls := range o.unrecorded {
		if shown++; shown > 3 {
			break
		}
		d := o.byUID[id]
		var b strings.Builder
		for _, c := range calls {
			b.WriteString("\n  " + c.String())
		}
		t.Logf("delivery %s: %d calls, %d attempts recorded (%s):%s", d.Name, len(calls), len(d.Status.Attempts), describeAttempts(d), b.String())
	}
	t.Errorf("herald made %d calls it did not record, to %d of %d deliveries (details of up to 3 above); want none",
		o.duplicates(), len(o.unrecorded), len(o.deliveries))
}

func describeAttempts(d heraldv1.WebhookDelivery) string {
	var parts []string
	for _, a := range d.Status.Attempts {
		s := fmt.Sprintf("#%d %s +%s", a.Number, a.StartTime.UTC().Format("15:04:05.000000"), a.Duration.Duration)
		if a.StatusCode != 0 {
			s += fmt.Sprintf(" HTTP %d", a.StatusCode)
		}
		if a.Error != "" {
			s += " error " + a.Error
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no attempts"
	}
	return strings.Join(parts, "; ")
}

// callsByPID counts calls by the process that made them.
func callsByPID(calls []call) map[int]int {
	out := map[int]int{}
	for _, c := range calls {
		out[c.pid]++
	}
	return out
}
