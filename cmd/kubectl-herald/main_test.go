package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/testenv"
)

// One real kube-apiserver and etcd for the package, no herald manager: the
// tests write the statuses herald would write. Each test has its own
// namespace; the plugin reaches the API server through a kubeconfig file,
// as it would a cluster.
var (
	// k8sClient is the tests' own client (core types and herald's).
	k8sClient client.Client
	// kubeconfigPath is a kubeconfig of a system:masters user, without a
	// namespace in its context.
	kubeconfigPath string
	testScheme     *runtime.Scheme
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, func(env *testenv.Env) (err error) {
		testScheme = env.Scheme
		if k8sClient, err = client.New(env.Config, client.Options{Scheme: testScheme}); err != nil {
			return err
		}
		if kubeconfigPath, _, err = env.AdminKubeconfig(); err != nil {
			return err
		}
		// No test may read the developer's own kubeconfig.
		return os.Unsetenv("KUBECONFIG")
	}))
}

// testNow is the fixed clock of the in-process runs: the chart and the
// resume annotation depend on it.
var testNow = time.Date(2026, 12, 4, 9, 30, 15, 0, time.UTC)

// syncBuffer is a bytes.Buffer safe for a test goroutine to read while the
// plugin writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what one run of the plugin printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runPlugin runs the plugin in process with the test kubeconfig, the clock
// at testNow and stdin, and returns what it printed.
func runPlugin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	return runPluginTo(t, stdin, &stdout, &stderr, args...)
}

func runPluginTo(t *testing.T, stdin string, stdout, stderr *syncBuffer, args ...string) result {
	t.Helper()
	a := newApp(strings.NewReader(stdin), stdout, stderr)
	a.now = func() time.Time { return testNow }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := a.run(ctx, append(args, "--kubeconfig", kubeconfigPath))
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// newNamespace creates a namespace for one test and deletes it afterwards.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubectl-herald-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

func createEndpoint(t *testing.T, ns, name string, mutate ...func(*heraldv1.WebhookEndpoint)) *heraldv1.WebhookEndpoint {
	t.Helper()
	ep := &heraldv1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       heraldv1.WebhookEndpointSpec{URL: "https://" + name + ".example.com/webhooks"},
	}
	for _, m := range mutate {
		m(ep)
	}
	if err := k8sClient.Create(context.Background(), ep); err != nil {
		t.Fatalf("creating endpoint %s: %v", name, err)
	}
	return ep
}

func createDelivery(t *testing.T, ns, name, endpoint, payload string, mutate ...func(*heraldv1.WebhookDelivery)) *heraldv1.WebhookDelivery {
	t.Helper()
	d := &heraldv1.WebhookDelivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: heraldv1.WebhookDeliverySpec{
			EndpointRef: heraldv1.EndpointReference{Name: endpoint},
			Event:       "user.logout",
			Payload:     apiextensionsv1.JSON{Raw: []byte(payload)},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	if err := k8sClient.Create(context.Background(), d); err != nil {
		t.Fatalf("creating delivery %s: %v", name, err)
	}
	return d
}

// setDeliveryStatus writes a delivery's status through the status
// subresource, as herald would.
func setDeliveryStatus(ns, name string, phase heraldv1.DeliveryPhase, attempts int, statusCode int32) error {
	ctx := context.Background()
	var d heraldv1.WebhookDelivery
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		return err
	}
	d.Status = deliveryStatus(phase, attempts, statusCode)
	return k8sClient.Status().Update(ctx, &d)
}

func deliveryStatus(phase heraldv1.DeliveryPhase, attempts int, lastCode int32) heraldv1.WebhookDeliveryStatus {
	st := heraldv1.WebhookDeliveryStatus{Phase: phase}
	start := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= attempts; i++ {
		a := heraldv1.DeliveryAttempt{
			Number:     int32(i),
			StartTime:  metav1.NewMicroTime(start.Add(time.Duration(i) * time.Minute)),
			Duration:   metav1.Duration{Duration: 120 * time.Millisecond},
			StatusCode: 500,
			Error:      "HTTP 500: internal error",
		}
		if i == attempts {
			a.StatusCode = lastCode
			if lastCode >= 200 && lastCode <= 299 {
				a.Error = ""
			}
		}
		st.Attempts = append(st.Attempts, a)
	}
	reason, status := heraldv1.ReasonEndpointNotFound, metav1.ConditionFalse
	switch phase {
	case heraldv1.DeliveryRetrying:
		reason = heraldv1.ReasonAttemptFailed
		next := metav1.NewMicroTime(start.Add(time.Hour))
		st.NextAttemptTime = &next
	case heraldv1.DeliveryFailed:
		reason = heraldv1.ReasonRetriesExhausted
	case heraldv1.DeliverySucceeded:
		reason, status = heraldv1.ReasonSucceeded, metav1.ConditionTrue
	}
	st.Conditions = []metav1.Condition{{
		Type: heraldv1.ConditionDelivered, Status: status, Reason: reason,
		Message:            fmt.Sprintf("%s after %d attempts", phase, attempts),
		LastTransitionTime: metav1.NewTime(start),
	}}
	return st
}

func getDelivery(t *testing.T, ns, name string) *heraldv1.WebhookDelivery {
	t.Helper()
	var d heraldv1.WebhookDelivery
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		t.Fatalf("getting delivery %s: %v", name, err)
	}
	return &d
}

func listDeliveries(t *testing.T, ns string) []heraldv1.WebhookDelivery {
	t.Helper()
	var list heraldv1.WebhookDeliveryList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing deliveries: %v", err)
	}
	return list.Items
}

// waitUntil polls cond every 10 ms for up to 30 s; it returns cond's last
// error if it never held.
func waitUntil(cond func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
