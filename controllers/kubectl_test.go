package controllers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// kubectl runs the real kubectl binary against the test API server, with a
// kubeconfig of its own and an empty HOME, so that nothing from the machine
// (~/.kube/config, a discovery cache, KUBECONFIG) leaks in.
type kubectl struct {
	path       string
	kubeconfig string
	env        []string
}

func newKubectl(t *testing.T) *kubectl {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("these tests run the real kubectl, which is not on PATH: %v", err)
	}
	user, err := testEnv.AddUser(envtest.User{Name: "kubectl-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("adding a kubectl user to envtest: %v", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("writing the kubectl user's kubeconfig: %v", err)
	}
	dir := t.TempDir()
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return &kubectl{
		path:       path,
		kubeconfig: kubeconfigPath,
		env: []string{
			"KUBECONFIG=" + kubeconfigPath,
			"HOME=" + home,
			"PATH=" + os.Getenv("PATH"),
		},
	}
}

// run runs kubectl with args and returns its stdout; it fails the test,
// showing stdout and stderr, if kubectl fails.
func (k *kubectl) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.path, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Env = k.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (timed out after 1m)", err)
		}
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// table is one table kubectl printed: its header and its rows, each row's
// cells by header name.
type table struct {
	header []string
	rows   []map[string]string
	text   string // as printed, for failure messages
}

// headerCell is a header name: words separated by single spaces ("LAST
// STATUS"); kubectl pads columns with at least three spaces.
var headerCell = regexp.MustCompile(`\S+(?: \S+)*`)

// parseTables parses kubectl's human-readable output: one table, or several
// separated by blank lines (as for a category). Cells are cut at the column
// offsets of the header, because header names and values may contain spaces.
func parseTables(t *testing.T, out string) []table {
	t.Helper()
	var tables []table
	for _, block := range strings.Split(strings.TrimRight(out, "\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		tab := table{text: block}
		cols := headerCell.FindAllStringIndex(lines[0], -1)
		if len(cols) == 0 {
			t.Fatalf("no table header in kubectl's output:\n%s", out)
		}
		for _, c := range cols {
			tab.header = append(tab.header, lines[0][c[0]:c[1]])
		}
		for _, line := range lines[1:] {
			row := map[string]string{}
			for i, c := range cols {
				start := c[0]
				end := len(line)
				if i+1 < len(cols) {
					end = min(cols[i+1][0], len(line))
				}
				if start > len(line) || start > end {
					t.Fatalf("row %q is shorter than the header; table:\n%s", line, block)
				}
				if start > 0 && line[start-1] != ' ' {
					t.Fatalf("row %q is not aligned with column %q; table:\n%s", line, tab.header[i], block)
				}
				row[tab.header[i]] = strings.TrimSpace(line[start:end])
			}
			tab.rows = append(tab.rows, row)
		}
		tables = append(tables, tab)
	}
	return tables
}

func parseTable(t *testing.T, out string) table {
	t.Helper()
	tables := parseTables(t, out)
	if len(tables) != 1 {
		t.Fatalf("want one table, kubectl printed %d:\n%s", len(tables), out)
	}
	return tables[0]
}

// byName returns the table's rows by their NAME cell.
func (tab table) byName() map[string]map[string]string {
	rows := map[string]map[string]string{}
	for _, r := range tab.rows {
		rows[r["NAME"]] = r
	}
	return rows
}

func (tab table) names() []string {
	var names []string
	for _, r := range tab.rows {
		names = append(names, r["NAME"])
	}
	sort.Strings(names)
	return names
}

// normalizeSpace joins the words of s with single spaces, so that a phrase
// can be found in text that kubectl wrapped and indented.
func normalizeSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (e *env) waitForEndpoint(name string, ready, suspended metav1.ConditionStatus) {
	e.t.Helper()
	e.g.Eventually(func(g Gomega) {
		var ep heraldv1.WebhookEndpoint
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, &ep)).To(Succeed())
		g.Expect(meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionReady)).
			To(HaveField("Status", ready), "endpoint %s Ready", name)
		g.Expect(meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended)).
			To(HaveField("Status", suspended), "endpoint %s Suspended", name)
	}).WithTimeout(20 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
}

func TestKubectl(t *testing.T) {
	k := newKubectl(t)
	t.Logf("kubectl version:\n%s", k.run(t, "version"))
	e := newEnv(t)
	g := e.g
	e.startManager()

	ok := e.receiver(e.clock, statuses(http.StatusOK))
	failing := e.receiver(e.clock, statuses(http.StatusInternalServerError))
	e.endpoint("app", ok.URL+"/hooks")
	e.endpoint("flaky", failing.URL+"/hooks")
	e.endpoint("paused", ok.URL+"/paused", func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspend = true })
	e.waitForEndpoint("app", metav1.ConditionTrue, metav1.ConditionFalse)
	e.waitForEndpoint("flaky", metav1.ConditionTrue, metav1.ConditionFalse)
	e.waitForEndpoint("paused", metav1.ConditionFalse, metav1.ConditionTrue)

	e.delivery("delivered", "app", testPayload, func(d *heraldv1.WebhookDelivery) {
		d.Spec.Event = "user.login"
		d.Spec.User = "u-42"
	})
	e.delivery("retrying", "flaky", testPayload)
	e.delivery("waiting", "missing", testPayload, func(d *heraldv1.WebhookDelivery) { d.Spec.Event = "user.created" })

	e.waitForPhase("delivered", heraldv1.DeliverySucceeded, 1)
	retrying := e.waitForPhase("retrying", heraldv1.DeliveryRetrying, 1)
	e.waitFor("waiting", "Pending for its endpoint", func(d *heraldv1.WebhookDelivery) bool {
		c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered)
		return d.Status.Phase == heraldv1.DeliveryPending && c != nil && c.Reason == heraldv1.ReasonEndpointNotFound
	})
	g.Expect(ok.count()).To(Equal(1))
	g.Expect(failing.count()).To(Equal(1))
	// The statistics kubectl shows: one call each to app (a success) and to
	// flaky (a failure), none to paused.
	e.waitForCalls("app", 1, 0)
	e.waitForCalls("flaky", 1, 1)
	e.waitForCalls("paused", 0, 0)

	// status.nextAttemptTime as the API server stores it: the string kubectl
	// must print, unchanged.
	g.Expect(retrying.Status.NextAttemptTime).NotTo(BeNil())
	g.Expect(retrying.Status.NextAttemptTime.Time).To(BeTemporally("==", retrying.Status.Attempts[0].EndTime().Add(60*time.Second)))
	raw := &unstructured.Unstructured{}
	raw.SetGroupVersionKind(heraldv1.GroupVersion.WithKind("WebhookDelivery"))
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "retrying"}, raw)).To(Succeed())
	nextAttempt, found, err := unstructured.NestedString(raw.Object, "status", "nextAttemptTime")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(found).To(BeTrue())
	g.Expect(nextAttempt).To(Equal(retrying.Status.NextAttemptTime.UTC().Format(metav1.RFC3339Micro)))
	// The receiver answers at once on the fake clock: the retry is due 60s
	// after the fake clock's start, whose .25s must survive.
	g.Expect(nextAttempt).To(Equal(e.start.Add(60 * time.Second).UTC().Format(metav1.RFC3339Micro)))
	g.Expect(nextAttempt).To(HaveSuffix(".250000Z"), "microseconds kept")

	deliveries := []string{"delivered", "retrying", "waiting"}

	t.Run("get deliveries", func(t *testing.T) {
		g := NewWithT(t)
		tab := parseTable(t, k.run(t, "get", "deliveries", "-n", e.ns))
		g.Expect(tab.header).To(Equal([]string{"NAME", "ENDPOINT", "EVENT", "PHASE", "ATTEMPTS", "LAST STATUS", "NEXT ATTEMPT", "AGE"}), tab.text)
		rows := tab.byName()
		g.Expect(tab.names()).To(Equal(deliveries), tab.text)
		// A column whose JSONPath finds nothing is an empty cell, not
		// <none>: the API server builds the table and sends a null cell.
		want := map[string]map[string]string{
			"delivered": {"ENDPOINT": "app", "EVENT": "user.login", "PHASE": "Succeeded", "ATTEMPTS": "1", "LAST STATUS": "200", "NEXT ATTEMPT": ""},
			"retrying":  {"ENDPOINT": "flaky", "EVENT": "user.logout", "PHASE": "Retrying", "ATTEMPTS": "1", "LAST STATUS": "500", "NEXT ATTEMPT": nextAttempt},
			"waiting":   {"ENDPOINT": "missing", "EVENT": "user.created", "PHASE": "Pending", "ATTEMPTS": "", "LAST STATUS": "", "NEXT ATTEMPT": ""},
		}
		for name, cells := range want {
			for col, v := range cells {
				g.Expect(rows[name][col]).To(Equal(v), "%s of %s in:\n%s", col, name, tab.text)
			}
			g.Expect(rows[name]["AGE"]).NotTo(BeEmpty(), "AGE of %s in:\n%s", name, tab.text)
		}
	})

	t.Run("resource names", func(t *testing.T) {
		for _, resource := range []string{"webhookdeliveries", "webhookdelivery", "whd", "delivery", "webhookdeliveries.webhooks.herald.dev"} {
			tab := parseTable(t, k.run(t, "get", resource, "-n", e.ns))
			NewWithT(t).Expect(tab.names()).To(Equal(deliveries), "kubectl get %s:\n%s", resource, tab.text)
		}
	})

	t.Run("category", func(t *testing.T) {
		g := NewWithT(t)
		out := k.run(t, "get", "webhooks", "-n", e.ns)
		var names []string
		for _, tab := range parseTables(t, out) {
			names = append(names, tab.names()...)
		}
		sort.Strings(names)
		g.Expect(names).To(Equal([]string{
			"webhookdelivery.webhooks.herald.dev/delivered",
			"webhookdelivery.webhooks.herald.dev/retrying",
			"webhookdelivery.webhooks.herald.dev/waiting",
			"webhookendpoint.webhooks.herald.dev/app",
			"webhookendpoint.webhooks.herald.dev/flaky",
			"webhookendpoint.webhooks.herald.dev/paused",
		}), out)

		out = k.run(t, "get", "webhooks", "-n", e.ns, "-o", "name")
		lines := strings.Fields(out)
		sort.Strings(lines)
		g.Expect(lines).To(Equal(names), out)
	})

	t.Run("get deliveries wide", func(t *testing.T) {
		g := NewWithT(t)
		tab := parseTable(t, k.run(t, "get", "deliveries", "-n", e.ns, "-o", "wide"))
		g.Expect(tab.header).To(Equal([]string{"NAME", "ENDPOINT", "EVENT", "PHASE", "ATTEMPTS", "LAST STATUS", "NEXT ATTEMPT", "AGE", "USER", "REASON"}), tab.text)
		rows := tab.byName()
		g.Expect(tab.names()).To(Equal(deliveries), tab.text)
		want := map[string]map[string]string{
			"delivered": {"PHASE": "Succeeded", "NEXT ATTEMPT": "", "USER": "u-42", "REASON": heraldv1.ReasonSucceeded},
			"retrying":  {"PHASE": "Retrying", "NEXT ATTEMPT": nextAttempt, "USER": "", "REASON": heraldv1.ReasonAttemptFailed},
			"waiting":   {"PHASE": "Pending", "NEXT ATTEMPT": "", "USER": "", "REASON": heraldv1.ReasonEndpointNotFound},
		}
		for name, cells := range want {
			for col, v := range cells {
				g.Expect(rows[name][col]).To(Equal(v), "%s of %s in:\n%s", col, name, tab.text)
			}
		}
	})

	t.Run("get webhookendpoints", func(t *testing.T) {
		g := NewWithT(t)
		for _, resource := range []string{"webhookendpoints", "whe"} {
			tab := parseTable(t, k.run(t, "get", resource, "-n", e.ns))
			// Columns after SUSPENDED (AGE, and any statistics) are not pinned.
			g.Expect(len(tab.header)).To(BeNumerically(">=", 5), "kubectl get %s:\n%s", resource, tab.text)
			g.Expect(tab.header[:4]).To(Equal([]string{"NAME", "URL", "READY", "SUSPENDED"}), "kubectl get %s:\n%s", resource, tab.text)
			g.Expect(tab.header).To(ContainElement("AGE"), "kubectl get %s:\n%s", resource, tab.text)
			g.Expect(tab.header).NotTo(ContainElement("REASON"), "REASON is a wide column; kubectl get %s:\n%s", resource, tab.text)
			g.Expect(tab.names()).To(Equal([]string{"app", "flaky", "paused"}), tab.text)
			rows := tab.byName()
			g.Expect(tab.header).To(ContainElements("FAILURE %", "CALLS"), "kubectl get %s:\n%s", resource, tab.text)
			g.Expect(tab.header).NotTo(ContainElement(BeElementOf("FAILURES", "USERS", "REPORTING")), "wide columns; kubectl get %s:\n%s", resource, tab.text)
			want := map[string]map[string]string{
				"app":    {"URL": ok.URL + "/hooks", "READY": "True", "SUSPENDED": "False", "FAILURE %": "0", "CALLS": "1"},
				"flaky":  {"URL": failing.URL + "/hooks", "READY": "True", "SUSPENDED": "False", "FAILURE %": "100", "CALLS": "1"},
				"paused": {"URL": ok.URL + "/paused", "READY": "False", "SUSPENDED": "True", "FAILURE %": "0", "CALLS": "0"},
			}
			for name, cells := range want {
				for col, v := range cells {
					g.Expect(rows[name][col]).To(Equal(v), "%s of %s in kubectl get %s:\n%s", col, name, resource, tab.text)
				}
			}
		}

		// The priority-1 REASON column appears only with -o wide.
		tab := parseTable(t, k.run(t, "get", "webhookendpoints", "-n", e.ns, "-o", "wide"))
		g.Expect(tab.header).To(ContainElements("NAME", "URL", "READY", "SUSPENDED", "REASON", "AGE"), tab.text)
		g.Expect(tab.byName()["paused"]["REASON"]).To(Equal(heraldv1.ReasonSuspendedBySpec), tab.text)
		// So do the priority-1 statistics columns, next to FAILURE % and CALLS.
		g.Expect(tab.header).To(ContainElements("FAILURE %", "CALLS", "FAILURES", "USERS", "REPORTING"), tab.text)
		rows := tab.byName()
		for name, cells := range map[string]map[string]string{
			"app":    {"FAILURE %": "0", "CALLS": "1", "FAILURES": "0", "USERS": "1"}, // u-42
			"flaky":  {"FAILURE %": "100", "CALLS": "1", "FAILURES": "1", "USERS": "0"},
			"paused": {"FAILURE %": "0", "CALLS": "0", "FAILURES": "0", "USERS": "0"},
		} {
			for col, v := range cells {
				g.Expect(rows[name][col]).To(Equal(v), "%s of %s in kubectl get webhookendpoints -o wide:\n%s", col, name, tab.text)
			}
		}
	})

	t.Run("explain", func(t *testing.T) {
		g := NewWithT(t)
		out := normalizeSpace(k.run(t, "explain", "webhookdelivery.spec.payload"))
		g.Expect(out).To(ContainSubstring("KIND: WebhookDelivery"))
		g.Expect(out).To(ContainSubstring("FIELD: payload"))
		g.Expect(out).To(ContainSubstring("payload is the JSON body POSTed to the endpoint (write it as YAML or JSON; it is sent as compact JSON)."))

		out = normalizeSpace(k.run(t, "explain", "webhookendpoint.spec.retry.backoff"))
		g.Expect(out).To(ContainSubstring("KIND: WebhookEndpoint"))
		g.Expect(out).To(ContainSubstring("FIELD: backoff <[]string>"))
		g.Expect(out).To(ContainSubstring("after the n-th failed attempt the next one is made backoff[n-1] after that attempt ended."))
		g.Expect(out).To(ContainSubstring(`Defaults to ["60s", "600s"].`))
	})
}
