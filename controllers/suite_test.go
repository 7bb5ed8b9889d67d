package controllers_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/controllers"
	"github.com/herald-operator/herald/internal/sender"
	"github.com/herald-operator/herald/internal/testenv"
	"github.com/herald-operator/herald/internal/version"
)

// One real kube-apiserver and etcd for the package; a namespace and a
// manager (watching only that namespace) per test.
var (
	testEnv   *testenv.Env
	restCfg   *rest.Config
	scheme    *runtime.Scheme
	k8sClient client.WithWatch
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, func(env *testenv.Env) (err error) {
		testEnv, restCfg, scheme = env, env.Config, env.Scheme
		k8sClient, err = client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
		return err
	}))
}

// loopbackAllowed opens the address guard for the tests' receivers, as
// --allow-networks=127.0.0.0/8 does.
var loopbackAllowed = func() *sender.Guard {
	g, err := sender.NewGuard([]string{"127.0.0.0/8"})
	utilruntime.Must(err)
	return g
}()

// newStart is a fake clock's starting time: the real time when a test
// starts, since creation timestamps, set by the API server, are real (a
// clock started long before would see new objects in its future), with a
// fraction of a second that catches any loss of precision in status.
func newStart() time.Time {
	return time.Now().UTC().Truncate(time.Second).Add(250 * time.Millisecond)
}

// testDigestInterval is the managers' failed-delivery email interval.
const testDigestInterval = 5 * time.Minute

// timerClock is a fake clock that knows the deadlines of the timers
// pending on it, so that a test can wait until the work queue has scheduled
// a retry before stepping the clock to it.
type timerClock struct {
	*testingclock.FakeClock
	mu      sync.Mutex
	pending map[*trackedTimer]time.Time
}

var _ clock.WithTicker = (*timerClock)(nil)

func (c *timerClock) NewTimer(d time.Duration) clock.Timer {
	t := &trackedTimer{Timer: c.FakeClock.NewTimer(d), clock: c}
	c.track(t, d)
	return t
}

func (c *timerClock) track(t *trackedTimer, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[*trackedTimer]time.Time{}
	}
	c.pending[t] = c.Now().Add(d)
}

func (c *timerClock) untrack(t *trackedTimer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, t)
}

// pendingUntil returns the deadlines of the timers that have not fired or
// been stopped, up to and including t, earliest first.
func (c *timerClock) pendingUntil(t time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	var due []time.Time
	for timer, deadline := range c.pending {
		switch {
		case !deadline.After(now):
			delete(c.pending, timer) // fired
		case !deadline.After(t):
			due = append(due, deadline)
		}
	}
	slices.SortFunc(due, time.Time.Compare)
	return due
}

// trackedTimer is a fake timer that leaves its clock's pending set when it
// is stopped or reset.
type trackedTimer struct {
	clock.Timer
	clock *timerClock
}

func (t *trackedTimer) Stop() bool {
	t.clock.untrack(t)
	return t.Timer.Stop()
}

func (t *trackedTimer) Reset(d time.Duration) bool {
	t.clock.track(t, d)
	return t.Timer.Reset(d)
}

// env is one test's world: a namespace, a fake clock, and the managers it
// starts.
type env struct {
	t  *testing.T
	g  Gomega
	ns string
	// start is where the fake clock started: the test's own real time.
	start time.Time
	clock *timerClock
	// mailer, when set before startManager, gets the managers' emails.
	mailer controllers.Mailer
	// guard, when set before startManager, replaces loopbackAllowed.
	guard *sender.Guard
	// maxPayloadBytes, when set before startManager, is its limit.
	maxPayloadBytes int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	g := NewWithT(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "herald-test-"}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	start := newStart()
	return &env{t: t, g: g, ns: ns.Name, start: start, clock: &timerClock{FakeClock: testingclock.NewFakeClock(start)}}
}

// sub is the env seen from a subtest: same namespace, clock and managers,
// failures reported to the subtest.
func (e *env) sub(t *testing.T) *env {
	return &env{t: t, g: NewWithT(t), ns: e.ns, start: e.start, clock: e.clock, mailer: e.mailer}
}

// startManager runs herald's controllers for the test's namespace until the
// returned stop function is called (or the test ends).
func (e *env) startManager() (stop func()) {
	e.t.Helper()
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Client:                 controllers.ClientOptions(),
		Cache:                  controllers.CacheOptions(cache.Options{DefaultNamespaces: map[string]cache.Config{e.ns: {}}}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	e.g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	e.g.Expect(controllers.Setup(ctx, mgr, controllers.Options{
		Clock:                   e.clock,
		Sender:                  sender.New(sender.Options{UserAgent: version.UserAgent(), Guard: cmp.Or(e.guard, loopbackAllowed)}),
		MaxConcurrentDeliveries: 8,
		Mailer:                  e.mailer,
		MaxPayloadBytes:         e.maxPayloadBytes,
		DigestInterval:          testDigestInterval,
		StatisticsDelay:         50 * time.Millisecond,
	})).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				e.g.Expect(err).NotTo(HaveOccurred())
			case <-time.After(30 * time.Second):
				e.t.Error("manager did not stop within 30s")
			}
		})
	}
	e.t.Cleanup(stop)
	e.g.Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	return stop
}

// stepTo moves the fake clock to t the way real time would pass: through
// every timer pending before t, in order, and to t once a timer is pending
// exactly there (the retry the test expects herald to have scheduled).
// Stepping through the earlier timers matters: a work queue adds a delay to
// its clock's time when it gets the delay, so a reconcile that computed its
// wait just before the clock last moved sets a timer later than it meant
// to; on a real clock that timer fires, finds nothing due and waits again.
func (e *env) stepTo(t time.Time) {
	e.t.Helper()
	var pending []time.Time
	e.g.Eventually(func() bool {
		pending = e.clock.pendingUntil(t)
		if len(pending) == 0 {
			return false
		}
		e.clock.SetTime(pending[0])
		return pending[0].Equal(t)
	}).WithTimeout(30*time.Second).WithPolling(10*time.Millisecond).
		Should(BeTrue(), func() string {
			return fmt.Sprintf("no retry was scheduled at %s; the clock is at %s", t, e.clock.Now())
		})
}

func (e *env) create(obj client.Object) {
	e.t.Helper()
	obj.SetNamespace(e.ns)
	e.g.Expect(k8sClient.Create(context.Background(), obj)).To(Succeed())
}

func (e *env) endpoint(name, url string, mutate ...func(*heraldv1.WebhookEndpoint)) *heraldv1.WebhookEndpoint {
	e.t.Helper()
	ep := &heraldv1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       heraldv1.WebhookEndpointSpec{URL: url},
	}
	for _, m := range mutate {
		m(ep)
	}
	e.create(ep)
	return ep
}

func (e *env) delivery(name, endpoint string, payload string, mutate ...func(*heraldv1.WebhookDelivery)) *heraldv1.WebhookDelivery {
	e.t.Helper()
	d := &heraldv1.WebhookDelivery{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: heraldv1.WebhookDeliverySpec{
			EndpointRef: heraldv1.EndpointReference{Name: endpoint},
			Event:       "user.logout",
			Payload:     apiextensionsJSON(payload),
		},
	}
	for _, m := range mutate {
		m(d)
	}
	e.create(d)
	return d
}

// patchEndpoint changes an endpoint with a merge patch, as kubectl would:
// no conflict with herald's status writes.
func (e *env) patchEndpoint(name string, change func(*heraldv1.WebhookEndpoint)) {
	e.t.Helper()
	var ep heraldv1.WebhookEndpoint
	e.g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, &ep)).To(Succeed())
	original := ep.DeepCopy()
	change(&ep)
	e.g.Expect(k8sClient.Patch(context.Background(), &ep, client.MergeFrom(original))).To(Succeed())
}

// getEndpoint reads the endpoint from the API server.
func (e *env) getEndpoint(name string) *heraldv1.WebhookEndpoint {
	e.t.Helper()
	var ep heraldv1.WebhookEndpoint
	e.g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, &ep)).To(Succeed())
	return &ep
}

// get reads the delivery from the API server (not a cache).
func (e *env) get(name string) *heraldv1.WebhookDelivery {
	e.t.Helper()
	var d heraldv1.WebhookDelivery
	e.g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, &d)).To(Succeed())
	return &d
}

// waitFor waits until the delivery satisfies cond and returns it.
func (e *env) waitFor(name string, what string, cond func(*heraldv1.WebhookDelivery) bool) *heraldv1.WebhookDelivery {
	e.t.Helper()
	var d *heraldv1.WebhookDelivery
	e.g.Eventually(func() bool {
		d = e.get(name)
		return cond(d)
	}).WithTimeout(30*time.Second).WithPolling(20*time.Millisecond).Should(BeTrue(), func() string {
		status, _ := json.MarshalIndent(d.Status, "", "  ")
		return fmt.Sprintf("delivery %s never became %s; last status: %s", name, what, status)
	})
	return d
}

func (e *env) waitForPhase(name string, phase heraldv1.DeliveryPhase, attempts int) *heraldv1.WebhookDelivery {
	e.t.Helper()
	return e.waitFor(name, fmt.Sprintf("%s with %d attempts", phase, attempts), func(d *heraldv1.WebhookDelivery) bool {
		return d.Status.Phase == phase && len(d.Status.Attempts) == attempts
	})
}

// call is one request a receiver got.
type call struct {
	at     time.Time // on the test's fake clock
	method string
	header http.Header
	body   []byte
}

// receiver is a real HTTP server that records every call and answers as
// told: respond gets the call's number (from 1).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []call
	respond func(n int, w http.ResponseWriter)
}

func (e *env) receiver(clk *timerClock, respond func(n int, w http.ResponseWriter)) *receiver {
	rcv := &receiver{respond: respond}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := call{at: clk.Now(), method: r.Method, header: r.Header.Clone(), body: body}
		rcv.mu.Lock()
		rcv.calls = append(rcv.calls, c)
		n := len(rcv.calls)
		rcv.mu.Unlock()
		rcv.respond(n, w)
	}))
	e.t.Cleanup(rcv.Close)
	return rcv
}

// payloadReceiver answers 500 to calls whose payload has "fail": true and
// 200 to the others; fail can be switched for all calls.
func (e *env) payloadReceiver() (*receiver, *atomic.Bool) {
	var failAll atomic.Bool
	var rcv *receiver
	rcv = e.receiver(e.clock, func(n int, w http.ResponseWriter) {
		var p struct {
			Fail bool `json:"fail"`
		}
		_ = json.Unmarshal(rcv.got()[n-1].body, &p)
		if p.Fail || failAll.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return rcv, &failAll
}

// failures counts the calls the receiver answered with a failure, by their
// payload (as payloadReceiver does) or under failAll at the time: callers
// count what they made fail.
func (r *receiver) failedPayloads() int {
	n := 0
	for _, c := range r.got() {
		var p struct {
			Fail bool `json:"fail"`
		}
		if json.Unmarshal(c.body, &p) == nil && p.Fail {
			n++
		}
	}
	return n
}

// statuses answers the n-th call with codes[n-1] (the last code after that).
func statuses(codes ...int) func(int, http.ResponseWriter) {
	return func(n int, w http.ResponseWriter) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

func (r *receiver) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *receiver) count() int { return len(r.got()) }
