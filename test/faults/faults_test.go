//go:build linux

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// TestReceiverFaults runs one manager against receivers that fail their
// first call in different ways and accept the second: each delivery ends
// Succeeded with 2 attempts, the first attempt's error says what went
// wrong, and a Retry-After longer than the schedule is honoured.
func TestReceiverFaults(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, "m")

	cases := []struct {
		name  string
		first func(http.ResponseWriter, *http.Request) string
		// errText matches the first attempt's error, status its status code.
		errText *regexp.Regexp
		status  int32
		// retryAfter is what the first attempt records as asked for.
		retryAfter time.Duration
		// wait is the least time from the first attempt's end to the
		// second's start: the schedule's 1s, or a longer Retry-After.
		wait time.Duration
		// timesOut: the first attempt ends at the endpoint's timeout.
		timesOut bool
	}{
		{
			name: "hangs past the timeout", first: hang,
			errText: regexp.MustCompile(`^no answer within the endpoint's timeout of 2s$`),
			wait:    time.Second, timesOut: true,
		},
		{
			name: "resets the connection", first: reset,
			errText: regexp.MustCompile(`^read tcp .*: connection reset by peer$`),
			wait:    time.Second,
		},
		{
			name: "500", first: status(http.StatusInternalServerError),
			errText: regexp.MustCompile(`^HTTP 500 Internal Server Error: answer 500 from the test receiver$`),
			status:  500, wait: time.Second,
		},
		{
			name: "429 Retry-After 1", first: status(http.StatusTooManyRequests, "Retry-After", "1"),
			errText: regexp.MustCompile(`^HTTP 429 Too Many Requests: answer 429 from the test receiver$`),
			status:  429, retryAfter: time.Second, wait: time.Second,
		},
		{
			name: "503 Retry-After 3", first: status(http.StatusServiceUnavailable, "Retry-After", "3"),
			errText: regexp.MustCompile(`^HTTP 503 Service Unavailable: answer 503 from the test receiver$`),
			status:  503, retryAfter: 3 * time.Second, wait: 3 * time.Second,
		},
	}

	// All cases run at once in the one manager; the subtests then check
	// them one by one.
	rcvs := make([]*receiver, len(cases))
	var created []*heraldv1.WebhookDelivery
	for i, c := range cases {
		rcvs[i] = newReceiver(t, c.name, firstThen(c.first))
		ep := fmt.Sprintf("ep-%d", i)
		createEndpoint(t, ns, ep, rcvs[i].URL+"/hooks", defaultBackoff)
		created = append(created, createDeliveries(t, ns, ep, 1)...)
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := client.ObjectKeyFromObject(created[i])
			var d heraldv1.WebhookDelivery
			eventually(t, 60*time.Second, "the delivery is final", func() (bool, string) {
				if err := k8sClient.Get(context.Background(), key, &d); err != nil {
					return false, err.Error()
				}
				return d.Status.Phase.IsFinal(), fmt.Sprintf("phase %q: %s", d.Status.Phase, describeAttempts(d))
			})
			if d.Status.Phase != heraldv1.DeliverySucceeded || len(d.Status.Attempts) != 2 {
				t.Fatalf("want Succeeded after 2 attempts, got %s: %s", d.Status.Phase, describeAttempts(d))
			}
			t.Logf("%s", describeAttempts(d))
			first, second := d.Status.Attempts[0], d.Status.Attempts[1]
			if !c.errText.MatchString(first.Error) {
				t.Errorf("attempt 1's error is %q, want it to match %q", first.Error, c.errText)
			}
			if first.StatusCode != c.status {
				t.Errorf("attempt 1's status code is %d, want %d", first.StatusCode, c.status)
			}
			if got := first.GetRetryAfter(); got != c.retryAfter {
				t.Errorf("attempt 1 records a Retry-After of %s, want %s", got, c.retryAfter)
			}
			if c.timesOut && first.Duration.Duration < callTimeout {
				t.Errorf("attempt 1 gave up after %s, before the timeout of %s", first.Duration.Duration, callTimeout)
			}
			if second.StatusCode != http.StatusOK || second.Error != "" {
				t.Errorf("attempt 2: status %d, error %q; want 200 and no error", second.StatusCode, second.Error)
			}
			if gap := second.StartTime.Sub(first.EndTime().Time); gap < c.wait {
				t.Errorf("attempt 2 started %s after attempt 1 ended, want at least %s: %s", gap, c.wait, describeAttempts(d))
			}

			calls := rcvs[i].got()
			if len(calls) != 2 {
				t.Fatalf("the receiver got %d calls, want 2: %v", len(calls), calls)
			}
			for _, call := range calls {
				if call.id != string(d.UID) {
					t.Errorf("call with webhook-id %q, want the delivery's UID %s", call.id, d.UID)
				}
			}
			// Seen from the receiver: when it answers, herald's attempt ends
			// after the receiver is done, so the wait is at least as long here.
			if c.status != 0 {
				if gap := calls[1].start.Sub(calls[0].end); gap < c.wait {
					t.Errorf("the receiver got the second call %s after answering the first, want at least %s (Retry-After)", gap, c.wait)
				}
			}
		})
	}

	o := checkNothingLost(t, ns, created, true, rcvs...)
	noDuplicates(t, o)
}

// TestManagerKilled kills the manager with SIGKILL while many calls are in
// flight and starts a new one: every delivery ends Succeeded, and the only
// calls made twice are those the killed manager had made and not recorded.
func TestManagerKilled(t *testing.T) {
	const (
		endpoints   = 4
		perEndpoint = 75
		total       = endpoints * perEndpoint
	)
	ns := newNamespace(t)

	var answered atomic.Int64
	half := make(chan struct{})
	var once sync.Once
	slowOK := func(_ int, w http.ResponseWriter, r *http.Request) string {
		time.Sleep(100*time.Millisecond + rand.N(200*time.Millisecond))
		if answered.Add(1) >= total/2 {
			once.Do(func() { close(half) })
		}
		return status(http.StatusOK)(w, r)
	}
	rcvs := make([]*receiver, endpoints)
	var created []*heraldv1.WebhookDelivery
	for i := range endpoints {
		rcvs[i] = newReceiver(t, fmt.Sprintf("slow-%d", i), slowOK)
		ep := fmt.Sprintf("ep-%d", i)
		createEndpoint(t, ns, ep, rcvs[i].URL+"/hooks", defaultBackoff)
		created = append(created, createDeliveries(t, ns, ep, perEndpoint)...)
	}

	first := startManager(t, "first")
	select {
	case <-half:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the receivers answered only %d calls in 2m", answered.Load())
	}
	first.kill(t)
	atKill := listDeliveries(t, ns)
	t.Logf("killed the first manager (SIGKILL) after %d answered calls; deliveries then: %s", answered.Load(), phases(atKill))
	if countFinal(atKill) == total {
		t.Errorf("every delivery was final before the kill: the scenario tested nothing")
	}

	second := startManager(t, "second")
	waitAllFinal(t, ns, total, 2*time.Minute)

	o := checkNothingLost(t, ns, created, true, rcvs...)
	for _, c := range o.calls {
		if c.pid != first.pid && c.pid != second.pid {
			t.Errorf("a call from pid %d, neither manager's (%d, %d): %s", c.pid, first.pid, second.pid, c)
		}
	}
	for id, calls := range o.unrecorded {
		d := o.byUID[id]
		// The call the killed manager made and did not record, and the new
		// manager's, recorded. (The receiver may read the first only after
		// the kill: its arrival time is no guide.)
		byPID := callsByPID(calls)
		inFlightAtKill := len(calls) == 2 && len(d.Status.Attempts) == 1 && byPID[first.pid] == 1 && byPID[second.pid] == 1
		if !inFlightAtKill {
			t.Errorf("delivery %s: calls made twice, and not by a call in flight at the kill followed by the new manager's (pids %d, %d): %v; %s",
				d.Name, first.pid, second.pid, calls, describeAttempts(d))
			continue
		}
		t.Logf("duplicate: delivery %s, %s; %s", d.Name, calls[0], calls[1])
	}
	t.Logf("%d deliveries, %d calls, %d duplicates (calls the killed manager made and did not record)", total, len(o.calls), o.duplicates())
}

// TestAPIServerRestart stops the API server under a running manager while
// retries are due, and starts it again: the manager carries on without a
// restart, every delivery ends Succeeded, and no call is made twice.
func TestAPIServerRestart(t *testing.T) {
	const perEndpoint = 10
	ns := newNamespace(t)
	// The first retry waits 4s, so that every delivery has a retry pending
	// when the API server goes away.
	backoff := []time.Duration{4 * time.Second, 2 * time.Second}
	var rcvs []*receiver
	var created []*heraldv1.WebhookDelivery
	for i := range 2 {
		rcv := newReceiver(t, fmt.Sprintf("flaky-%d", i), firstThen(status(http.StatusInternalServerError)))
		rcvs = append(rcvs, rcv)
		ep := fmt.Sprintf("ep-%d", i)
		createEndpoint(t, ns, ep, rcv.URL+"/hooks", backoff)
		created = append(created, createDeliveries(t, ns, ep, perEndpoint)...)
	}
	m := startManager(t, "m")
	eventually(t, 60*time.Second, "every delivery's first attempt failed", func() (bool, string) {
		ds := listDeliveries(t, ns)
		retrying := 0
		for _, d := range ds {
			if d.Status.Phase == heraldv1.DeliveryRetrying && len(d.Status.Attempts) == 1 {
				retrying++
			}
		}
		return retrying == len(created), phases(ds)
	})

	apiServer := testEnv.ControlPlane.APIServer
	stopping := time.Now()
	if err := apiServer.Stop(); err != nil {
		t.Fatalf("stopping the API server: %v", err)
	}
	stopped := time.Now()
	// Whatever happens, the next tests get an API server.
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := apiServer.Start(); err != nil {
				t.Errorf("restarting the API server: %v", err)
			}
		}
	})
	t.Logf("API server stopped in %s", stopped.Sub(stopping).Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	if err := apiServer.Start(); err != nil {
		t.Fatalf("restarting the API server: %v", err)
	}
	restarted = true
	started := time.Now()
	t.Logf("API server started again in %s; it was down %s", started.Sub(stopped.Add(5*time.Second)).Round(time.Millisecond), started.Sub(stopped).Round(time.Millisecond))

	callsDuringOutage := 0
	for _, r := range rcvs {
		for _, c := range r.got() {
			if c.start.After(stopping) && c.start.Before(started) {
				callsDuringOutage++
			}
		}
	}
	t.Logf("calls made while the API server was stopping, stopped or starting: %d", callsDuringOutage)

	waitAllFinal(t, ns, len(created), 2*time.Minute)
	if m.exited() {
		t.Errorf("the manager exited: %v", m.waitErr)
	}
	o := checkNothingLost(t, ns, created, true, rcvs...)
	for _, d := range o.deliveries {
		if len(d.Status.Attempts) != 2 {
			t.Errorf("delivery %s: want 2 attempts (500, then 200), got %s", d.Name, describeAttempts(d))
		}
	}
	noDuplicates(t, o)
}

// TestConcurrentMetadataUpdates has another client patch the deliveries'
// labels and annotations every 50ms while they fail twice and succeed:
// every attempt is recorded once, none lost or overwritten, and no call is
// repeated.
func TestConcurrentMetadataUpdates(t *testing.T) {
	const deliveries = 3
	ns := newNamespace(t)
	rcv := newReceiver(t, "fails twice", func(n int, w http.ResponseWriter, r *http.Request) string {
		if n <= 2 {
			return status(http.StatusInternalServerError)(w, r)
		}
		return status(http.StatusOK)(w, r)
	})
	createEndpoint(t, ns, "ep", rcv.URL+"/hooks", []time.Duration{time.Second, time.Second})
	startManager(t, "m")
	created := createDeliveries(t, ns, "ep", deliveries)

	stop := make(chan struct{})
	var patched, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			patch := fmt.Appendf(nil, `{"metadata":{"labels":{"faults.herald.dev/tick":"%d"},"annotations":{"faults.herald.dev/at":%q}}}`,
				i, time.Now().Format(time.RFC3339Nano))
			for _, d := range created {
				obj := &heraldv1.WebhookDelivery{}
				obj.Namespace, obj.Name = d.Namespace, d.Name
				if err := k8sClient.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
					failed.Add(1)
				} else {
					patched.Add(1)
				}
			}
		}
	})
	stopped := false
	stopPatching := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopPatching)

	waitAllFinal(t, ns, deliveries, time.Minute)
	// Patching goes on a while after the end: it must bring no further call.
	time.Sleep(2 * time.Second)
	stopPatching()
	t.Logf("%d metadata patches, %d failed", patched.Load(), failed.Load())
	if patched.Load() < 20*deliveries {
		t.Errorf("only %d metadata patches went through (%d failed): the race was hardly run", patched.Load(), failed.Load())
	}

	o := checkNothingLost(t, ns, created, true, rcv)
	for _, d := range o.deliveries {
		var numbers, codes []int32
		for _, a := range d.Status.Attempts {
			numbers = append(numbers, a.Number)
			codes = append(codes, a.StatusCode)
		}
		if fmt.Sprint(numbers) != "[1 2 3]" || fmt.Sprint(codes) != "[500 500 200]" {
			t.Errorf("delivery %s: attempts numbered %v with status codes %v, want [1 2 3] and [500 500 200]: %s",
				d.Name, numbers, codes, describeAttempts(d))
		}
		if d.Labels["faults.herald.dev/tick"] == "" || d.Generation != 1 {
			t.Errorf("delivery %s: labels %v, generation %d: the patches did not land as metadata-only changes", d.Name, d.Labels, d.Generation)
		}
	}
	if n := len(rcv.got()); n != 3*deliveries {
		t.Errorf("the receiver got %d calls, want %d (3 per delivery)", n, 3*deliveries)
	}
	noDuplicates(t, o)
}
