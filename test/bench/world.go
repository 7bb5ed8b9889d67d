package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/controllers"
	"github.com/herald-operator/herald/internal/sender"
	"github.com/herald-operator/herald/internal/version"
)

// signingSecretName is the Secret every signed endpoint of a namespace uses.
const signingSecretName = "bench-signing"

// runningManager is a manager started in this process.
type runningManager struct {
	mgr    ctrl.Manager
	cancel context.CancelFunc
	done   chan error
}

// startManager starts a manager that sees one namespace, whose API requests
// go through counter, set up by setup (herald's controllers, or only its
// indexes). It is built as cmd/herald builds it: controllers.ClientOptions,
// no client-side rate limit, its own connection, leader election and
// metrics off. The namespace is chosen with a field selector rather than
// cache.Options.DefaultNamespaces, so that the cache takes the cluster-wide
// code path herald takes in a cluster (a namespace-restricted cache costs
// a REST mapping per read).
func (b *bench) startManager(ctx context.Context, namespace string, counter *apiCounter, setup func(context.Context, ctrl.Manager) error) (*runningManager, error) {
	cfg := ownConnection(b.cfg)
	cfg.WrapTransport = counter.wrap
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 b.scheme,
		Client:                 controllers.ClientOptions(),
		Cache:                  controllers.CacheOptions(cache.Options{DefaultFieldSelector: fields.OneTermEqualSelector("metadata.namespace", namespace)}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		// Each run starts a new manager with the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	mctx, cancel := context.WithCancel(ctx)
	if err := setup(mctx, mgr); err != nil {
		cancel()
		return nil, err
	}
	m := &runningManager{mgr: mgr, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- mgr.Start(mctx) }()
	if !mgr.GetCache().WaitForCacheSync(mctx) {
		cancel()
		return nil, errors.New("manager cache did not sync")
	}
	return m, nil
}

func (m *runningManager) stop() error {
	m.cancel()
	select {
	case err := <-m.done:
		return err
	case <-time.After(60 * time.Second):
		return errors.New("manager did not stop within 60s")
	}
}

// ownConnection returns a copy of cfg whose clients get their own HTTP
// transport, and so their own connection to the API server, as separate
// processes would: client-go shares one transport (one HTTP/2 connection)
// among configs with equal TLS settings, unless a Proxy function is set.
func ownConnection(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	return c
}

// heraldSetup is controllers.Setup as cmd/herald calls it, with the real
// clock and an address guard that lets herald call the loopback receiver.
func (b *bench) heraldSetup(ctx context.Context, mgr ctrl.Manager) error {
	return controllers.Setup(ctx, mgr, controllers.Options{
		Clock: clock.RealClock{},
		Sender: sender.New(sender.Options{
			UserAgent:           version.UserAgent(),
			MaxIdleConnsPerHost: sender.DefaultMaxIdleConnsPerHost,
			Guard:               b.guard,
		}),
		MaxConcurrentDeliveries: b.opts.concurrentDeliveries,
		DigestInterval:          15 * time.Minute,
		StatisticsDelay:         b.opts.statisticsDelay,
	})
}

func (b *bench) createNamespace(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s-%d", prefix, b.nextSeq())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := b.c.Create(ctx, ns); err != nil {
		return "", fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return name, nil
}

// deleteDeliveries deletes every delivery of the namespace and waits until
// the API server holds none.
func (b *bench) deleteDeliveries(ctx context.Context, ns string) error {
	if err := b.c.DeleteAllOf(ctx, &heraldv1.WebhookDelivery{}, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("deleting the deliveries of %s: %w", ns, err)
	}
	left := func() int {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(heraldv1.GroupVersion.WithKind("WebhookDeliveryList"))
		if err := b.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return -1
		}
		return len(list.Items)
	}
	return waitUntil(ctx, b.opts.wait, "the deliveries of "+ns+" deleted", func() bool { return left() == 0 },
		func() string { return fmt.Sprintf("%d left", left()) })
}

func (b *bench) createSigningSecret(ctx context.Context, ns string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: signingSecretName},
		StringData: map[string]string{"secret": "whsec_" + base64.StdEncoding.EncodeToString(key)},
	}
	return b.c.Create(ctx, s)
}

// endpoint is a bench endpoint: one retry after -retry-backoff, and
// suspension rules that never fire (a failing-first endpoint fails half its
// calls, which the default rules would suspend).
func (b *bench) endpoint(ns, name, url string, signed bool) *heraldv1.WebhookEndpoint {
	ep := &heraldv1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: heraldv1.WebhookEndpointSpec{
			URL:     url,
			Timeout: &metav1.Duration{Duration: 5 * time.Second},
			Retry:   &heraldv1.RetryPolicy{Backoff: []metav1.Duration{{Duration: b.opts.retryBackoff}}},
			Suspension: &heraldv1.SuspensionPolicy{
				FailurePercent: ptr.To[int32](100),
				MinimumCalls:   ptr.To[int32](1 << 30),
			},
		},
	}
	if signed {
		ep.Spec.SigningSecretRef = &heraldv1.SecretKeyRef{Name: signingSecretName}
	}
	return ep
}

// payload is the JSON body of the i-th delivery (about 120 bytes, like the
// README's example).
func payload(i int) []byte {
	return fmt.Appendf(nil, `{"type":"user.logout","user":{"id":"u-%d","email":"user-%d@example.com"},"sequence":%d}`, i%1000, i%1000, i)
}

// delivery is the i-th delivery of a namespace; its webhook-id is
// "NAMESPACE.NAME", unique across the whole bench.
func delivery(ns, name, endpoint string, i int) *heraldv1.WebhookDelivery {
	return &heraldv1.WebhookDelivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: heraldv1.WebhookDeliverySpec{
			EndpointRef: heraldv1.EndpointReference{Name: endpoint},
			ID:          webhookID(ns, name),
			Event:       "user.logout",
			User:        fmt.Sprintf("u-%d", i%1000),
			Payload:     apiextensionsv1.JSON{Raw: payload(i)},
		},
	}
}

func webhookID(ns, name string) string { return ns + "." + name }

// succeededStatus is the status herald writes after a first attempt that
// succeeded: the API baseline writes the same.
func succeededStatus(d *heraldv1.WebhookDelivery, now time.Time) {
	start := now.Add(-2 * time.Millisecond)
	completion := metav1.NewMicroTime(now)
	d.Status = heraldv1.WebhookDeliveryStatus{
		ObservedGeneration: d.Generation,
		Phase:              heraldv1.DeliverySucceeded,
		Attempts: []heraldv1.DeliveryAttempt{{
			Number:     1,
			StartTime:  metav1.NewMicroTime(start),
			Duration:   metav1.Duration{Duration: 2 * time.Millisecond},
			StatusCode: 204,
		}},
		CompletionTime: &completion,
		Conditions: []metav1.Condition{{
			Type:               heraldv1.ConditionDelivered,
			Status:             metav1.ConditionTrue,
			Reason:             heraldv1.ReasonSucceeded,
			Message:            "attempt 1 answered HTTP 204",
			ObservedGeneration: d.Generation,
			LastTransitionTime: metav1.NewTime(now),
		}},
	}
}

// createWithRetry creates obj, retrying a few times on errors the API server
// may give under load.
func (b *bench) createWithRetry(ctx context.Context, obj client.Object) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = b.c.Create(ctx, obj); err == nil || apierrors.IsAlreadyExists(err) || ctx.Err() != nil {
			return client.IgnoreAlreadyExists(err)
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	return err
}

// forEach runs fn(i) for i in [0, n) on conc goroutines; with rate > 0, item
// i starts no earlier than start + i/rate. It returns when all are done, and
// the first error.
func forEach(ctx context.Context, n, conc int, rate float64, fn func(i int) error) error {
	items := make(chan int)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range items {
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		items <- i
	}
	close(items)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// observeDeliveries calls fn with every version of every delivery the
// manager's cache receives, until the returned function is called. It
// shares herald's own watch instead of opening another.
func observeDeliveries(ctx context.Context, c cache.Cache, fn func(d *heraldv1.WebhookDelivery, seen time.Time)) (stop func(), err error) {
	informer, err := c.GetInformer(ctx, &heraldv1.WebhookDelivery{})
	if err != nil {
		return nil, err
	}
	observe := func(obj any) {
		if d, ok := obj.(*heraldv1.WebhookDelivery); ok {
			fn(d, time.Now())
		}
	}
	reg, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
	})
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { _ = informer.RemoveEventHandler(reg) }) }, nil
}

// waitUntil polls cond every 20 ms until it holds, ctx ends or timeout
// passes; describe says how far it got.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() bool, describe func() string) error {
	deadline := time.Now().Add(timeout)
	lastReport := time.Now()
	for !cond() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s (%s)", timeout, what, describe())
		}
		if time.Since(lastReport) > 10*time.Second {
			progress("  waiting for %s: %s", what, describe())
			lastReport = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// waitEndpoints waits until every endpoint of the namespace has the
// condition cond with status want.
func (b *bench) waitEndpoints(ctx context.Context, ns string, count int, cond string, want metav1.ConditionStatus) error {
	var have atomic.Int64
	return waitUntil(ctx, b.opts.wait, fmt.Sprintf("%d endpoints %s=%s", count, cond, want), func() bool {
		var list heraldv1.WebhookEndpointList
		if err := b.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false
		}
		n := 0
		for i := range list.Items {
			if c := meta.FindStatusCondition(list.Items[i].Status.Conditions, cond); c != nil && c.Status == want {
				n++
			}
		}
		have.Store(int64(n))
		return n >= count
	}, func() string { return fmt.Sprintf("%d of %d", have.Load(), count) })
}
