package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

const deliveryYAML = `apiVersion: webhooks.herald.dev/v1alpha1
kind: WebhookDelivery
metadata:
  generateName: logout-
spec:
  endpointRef:
    name: billing-app
  event: user.logout
  user: u-1842
  payload:
    type: user.logout
    user: {id: u-1842, email: ada@example.com}
`

func TestSendFromFile(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "billing-app")
	file := filepath.Join(t.TempDir(), "logout.yaml")
	if err := os.WriteFile(file, []byte(deliveryYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runPlugin(t, "", "send", "-f", file, "-n", ns)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("send failed:\n%s", r)
	}
	name := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(name, "logout-") || strings.Contains(name, "\n") {
		t.Fatalf("send printed %q, want the created name logout-...", r.stdout)
	}
	d := getDelivery(t, ns, name)
	if d.Spec.EndpointRef.Name != "billing-app" || d.Spec.Event != "user.logout" || d.Spec.User != "u-1842" {
		t.Errorf("created spec = %+v", d.Spec)
	}
	var payload map[string]any
	if err := json.Unmarshal(d.Spec.Payload.Raw, &payload); err != nil || payload["type"] != "user.logout" {
		t.Errorf("payload = %s (%v)", d.Spec.Payload.Raw, err)
	}
	if got := d.ManagedFields[0].Manager; got != fieldManager {
		t.Errorf("field manager = %q, want %q", got, fieldManager)
	}
}

func TestSendFromStdin(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "crm-app")
	// JSON, without apiVersion and kind, with its own namespace and name and
	// the fields of an object read back from the API server, which are
	// dropped.
	in := fmt.Sprintf(`{
  "metadata": {"name": "welcome-1", "namespace": %q, "uid": "0a1b", "resourceVersion": "42",
               "creationTimestamp": "2026-01-01T00:00:00Z"},
  "spec": {"endpointRef": {"name": "crm-app"}, "event": "user.created", "id": "evt-77",
           "payload": {"user": "u-1", "plan": "pro"}},
  "status": {"phase": "Failed"}
}`, ns)

	r := runPlugin(t, in, "send", "-f", "-", "-o", "json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("send failed:\n%s", r)
	}
	var printed heraldv1.WebhookDelivery
	if err := json.Unmarshal([]byte(r.stdout), &printed); err != nil {
		t.Fatalf("-o json printed no WebhookDelivery: %v\n%s", err, r.stdout)
	}
	if printed.Kind != "WebhookDelivery" || printed.APIVersion != "webhooks.herald.dev/v1alpha1" || printed.Name != "welcome-1" || printed.Namespace != ns {
		t.Errorf("printed %s %s %s/%s", printed.APIVersion, printed.Kind, printed.Namespace, printed.Name)
	}
	if len(printed.ManagedFields) != 0 {
		t.Errorf("printed managedFields; kubectl leaves them out")
	}
	d := getDelivery(t, ns, "welcome-1")
	if d.Spec.ID != "evt-77" || string(d.Spec.Payload.Raw) != `{"plan":"pro","user":"u-1"}` || d.Status.Phase != "" {
		t.Errorf("created %+v", d)
	}
}

func TestSendRefusesWhatIsNotOneDelivery(t *testing.T) {
	ns := newNamespace(t)
	other := newNamespace(t)
	withNamespace := strings.Replace(deliveryYAML, "metadata:\n", "metadata:\n  namespace: "+other+"\n", 1)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"namespace mismatch", withNamespace, fmt.Sprintf(`the namespace in stdin (%q) does not match -n %q`, other, ns)},
		{"another kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "stdin holds a v1 ConfigMap, not a webhooks.herald.dev/v1alpha1 WebhookDelivery"},
		{"unknown field", strings.Replace(deliveryYAML, "  event:", "  evnt:", 1), `unknown field "evnt"`},
		{"two objects", deliveryYAML + "---\n" + deliveryYAML, "stdin holds 2 objects: send one WebhookDelivery at a time"},
		{"nothing", "\n", "stdin holds no WebhookDelivery"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlugin(t, tc.in, "send", "-f", "-", "-n", ns)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("want exit 1 and %q, got:\n%s", tc.want, r)
			}
		})
	}
	if n := len(listDeliveries(t, ns)) + len(listDeliveries(t, other)); n != 0 {
		t.Errorf("%d deliveries were created", n)
	}
}

func TestSendWarnsOfAMissingEndpoint(t *testing.T) {
	ns := newNamespace(t)
	r := runPlugin(t, deliveryYAML, "send", "-f", "-", "-n", ns)
	want := fmt.Sprintf(`warning: webhookendpoint "billing-app" not found in namespace %q; the delivery waits in Pending until it exists`, ns)
	if r.code != 0 || !strings.Contains(r.stderr, want) || !strings.HasPrefix(r.stdout, "logout-") {
		t.Fatalf("want the created name and %q, got:\n%s", want, r)
	}
}

// simulateHerald plays herald for the one delivery that appears in ns: once
// the plugin has printed that it has no status yet, it writes each status in
// turn, waiting after each until the plugin printed the line it should print
// (so every change is seen, whatever the timing).
func simulateHerald(ns string, out *syncBuffer, steps []heraldStep) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			var name string
			if err := waitUntil(func() error {
				var list heraldv1.WebhookDeliveryList
				if err := k8sClient.List(context.Background(), &list); err != nil {
					return err
				}
				for _, d := range list.Items {
					if d.Namespace == ns {
						name = d.Name
						return nil
					}
				}
				return fmt.Errorf("no delivery in %s", ns)
			}); err != nil {
				return err
			}
			steps = append([]heraldStep{{printed: name + ": no status yet (is herald running?)\n"}}, steps...)
			for _, s := range steps {
				if s.phase != "" {
					if err := setDeliveryStatus(ns, name, s.phase, s.attempts, s.code); err != nil {
						return fmt.Errorf("writing status %s: %w", s.phase, err)
					}
				}
				if err := waitUntil(func() error {
					if strings.Contains(out.String(), s.printed) {
						return nil
					}
					return fmt.Errorf("the plugin never printed %q; it printed:\n%s", s.printed, out.String())
				}); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	return done
}

type heraldStep struct {
	phase    heraldv1.DeliveryPhase
	attempts int
	code     int32
	printed  string
}

func TestSendWaitSucceeded(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "billing-app")
	var stdout, stderr syncBuffer
	done := simulateHerald(ns, &stdout, []heraldStep{
		{heraldv1.DeliveryPending, 0, 0, ": Pending (EndpointNotFound), 0 attempts\n"},
		{heraldv1.DeliveryRetrying, 1, 500, ": Retrying (AttemptFailed), 1 attempt (last: HTTP 500: internal error), next attempt at 2026-12-04T10:00:00Z\n"},
		{heraldv1.DeliverySucceeded, 2, 200, ": Succeeded, 2 attempts (last: HTTP 200)\n"},
	})

	r := runPluginTo(t, deliveryYAML, &stdout, &stderr, "send", "-f", "-", "-n", ns, "--wait", "--timeout", "1m")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("send --wait of a delivery that succeeded:\n%s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	name := lines[0]
	want := []string{
		name,
		name + ": no status yet (is herald running?)",
		name + ": Pending (EndpointNotFound), 0 attempts",
		name + ": Retrying (AttemptFailed), 1 attempt (last: HTTP 500: internal error), next attempt at 2026-12-04T10:00:00Z",
		name + ": Succeeded, 2 attempts (last: HTTP 200)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("send --wait printed:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}
}

func TestSendWaitFailed(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "billing-app")
	var stdout, stderr syncBuffer
	done := simulateHerald(ns, &stderr, []heraldStep{
		{heraldv1.DeliveryFailed, 3, 500, ": Failed (RetriesExhausted), 3 attempts (last: HTTP 500: internal error)\n"},
	})

	// With -o json the progress goes to stderr and the final object to stdout.
	r := runPluginTo(t, deliveryYAML, &stdout, &stderr, "send", "-f", "-", "-n", ns, "--wait", "-o", "json")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.code != exitDeliveryFailed {
		t.Fatalf("send --wait of a delivery that failed exited %d, want %d:\n%s", r.code, exitDeliveryFailed, r)
	}
	var final heraldv1.WebhookDelivery
	if err := json.Unmarshal([]byte(r.stdout), &final); err != nil || final.Status.Phase != heraldv1.DeliveryFailed {
		t.Fatalf("stdout is not the Failed delivery (%v):\n%s", err, r.stdout)
	}
	want := fmt.Sprintf("error: webhookdelivery %q ended Failed after 3 attempts: Failed after 3 attempts\n", final.Name)
	if !strings.HasSuffix(r.stderr, want) || !strings.HasPrefix(r.stderr, final.Name+"\n") {
		t.Errorf("stderr:\n%s\nwant the name first and last:\n%s", r.stderr, want)
	}
}

func TestSendWaitTimesOut(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "billing-app")
	start := time.Now()
	r := runPlugin(t, deliveryYAML, "send", "-f", "-", "-n", ns, "--wait", "--timeout", "1500ms")
	if r.code != exitError || !strings.Contains(r.stderr, "error: timed out after 1.5s waiting for webhookdelivery") ||
		!strings.Contains(r.stderr, "(last seen: no status yet (is herald running?)); it goes on: kubectl get delivery logout-") {
		t.Fatalf("want a timeout, got:\n%s", r)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the 1.5s timeout took %s", d)
	}
}
