package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

func setEndpointStatus(t *testing.T, ns, name string, status heraldv1.WebhookEndpointStatus) {
	t.Helper()
	ctx := context.Background()
	var ep heraldv1.WebhookEndpoint
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ep); err != nil {
		t.Fatal(err)
	}
	ep.Status = status
	if err := k8sClient.Status().Update(ctx, &ep); err != nil {
		t.Fatalf("writing the status of endpoint %s: %v", name, err)
	}
}

func getEndpoint(t *testing.T, ns, name string) *heraldv1.WebhookEndpoint {
	t.Helper()
	var ep heraldv1.WebhookEndpoint
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &ep); err != nil {
		t.Fatal(err)
	}
	return &ep
}

func condition(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(testNow.Add(-time.Hour))}
}

func TestResume(t *testing.T) {
	ns := newNamespace(t)
	const stamp = "2026-12-04T09:30:15Z" // testNow

	t.Run("suspended endpoint", func(t *testing.T) {
		createEndpoint(t, ns, "billing-app")
		setEndpointStatus(t, ns, "billing-app", heraldv1.WebhookEndpointStatus{Conditions: []metav1.Condition{
			condition(heraldv1.ConditionSuspended, metav1.ConditionTrue, heraldv1.ReasonFailureRateExceeded, "12 of 40 calls failed (30%)"),
			condition(heraldv1.ConditionReady, metav1.ConditionFalse, heraldv1.ReasonFailureRateExceeded, "suspended: 12 of 40 calls failed (30%)"),
		}})

		r := runPlugin(t, "", "resume", "billing-app", "-n", ns)
		want := fmt.Sprintf("webhookendpoint \"billing-app\" in namespace %q was suspended (FailureRateExceeded: 12 of 40 calls failed (30%%)).\n"+
			"Set webhooks.herald.dev/resume=%s: herald lifts the suspension, its held deliveries go on, and the statistics window restarts at that time.\n", ns, stamp)
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Fatalf("resume printed:\n%s\nwant:\n%s", r, want)
		}
		ep := getEndpoint(t, ns, "billing-app")
		if got := ep.Annotations[heraldv1.ResumeAnnotation]; got != stamp {
			t.Errorf("annotation = %q, want %q", got, stamp)
		}
		var managed *metav1.ManagedFieldsEntry
		for i, mf := range ep.ManagedFields {
			if mf.Manager == fieldManager {
				managed = &ep.ManagedFields[i]
			}
		}
		if managed == nil {
			t.Fatalf("no managedFields entry of %q: %+v", fieldManager, ep.ManagedFields)
		}
		if managed.Operation != metav1.ManagedFieldsOperationUpdate || managed.Subresource != "" ||
			!strings.Contains(managed.FieldsV1.GetRawString(), `"f:webhooks.herald.dev/resume"`) {
			t.Errorf("managedFields entry of %s: %s %q %s", fieldManager, managed.Operation, managed.Subresource, managed.FieldsV1.GetRawString())
		}
	})

	t.Run("endpoint not suspended, -o yaml", func(t *testing.T) {
		createEndpoint(t, ns, "crm-app", func(ep *heraldv1.WebhookEndpoint) {
			ep.Annotations = map[string]string{heraldv1.ResumeAnnotation: "2026-01-01T00:00:00Z", "team": "crm"}
		})
		setEndpointStatus(t, ns, "crm-app", heraldv1.WebhookEndpointStatus{Conditions: []metav1.Condition{
			condition(heraldv1.ConditionSuspended, metav1.ConditionFalse, heraldv1.ReasonNotSuspended, "no suspension rule applies"),
		}})

		r := runPlugin(t, "", "resume", "crm-app", "-n", ns, "-o", "yaml")
		wantInfo := fmt.Sprintf("webhookendpoint \"crm-app\" in namespace %q is not suspended.\n"+
			"Set webhooks.herald.dev/resume=%s anyway: herald restarts the statistics window at that time.\n", ns, stamp)
		if r.code != 0 || r.stderr != wantInfo {
			t.Fatalf("resume printed:\n%s\nwant on stderr:\n%s", r, wantInfo)
		}
		var printed heraldv1.WebhookEndpoint
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &printed); err != nil {
			t.Fatalf("-o yaml printed no WebhookEndpoint: %v\n%s", err, r.stdout)
		}
		want := map[string]string{heraldv1.ResumeAnnotation: stamp, "team": "crm"}
		if printed.Kind != "WebhookEndpoint" || !reflect.DeepEqual(printed.Annotations, want) {
			t.Errorf("printed %s with annotations %v, want %v", printed.Kind, printed.Annotations, want)
		}
		if got := getEndpoint(t, ns, "crm-app").Annotations; !reflect.DeepEqual(got, want) {
			t.Errorf("annotations = %v, want %v", got, want)
		}
	})

	t.Run("suspended by spec", func(t *testing.T) {
		createEndpoint(t, ns, "erp-app", func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspend = true })
		r := runPlugin(t, "", "resume", "erp-app", "-n", ns)
		for _, want := range []string{
			"is suspended by spec.suspend: true, which resume does not lift",
			fmt.Sprintf(`kubectl patch webhookendpoint erp-app -n %s --type merge -p '{"spec":{"suspend":false}}'`, ns),
			"Set webhooks.herald.dev/resume=" + stamp + " anyway",
		} {
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Errorf("want %q in:\n%s", want, r)
			}
		}
	})

	t.Run("no such endpoint", func(t *testing.T) {
		r := runPlugin(t, "", "resume", "nope", "-n", ns)
		want := fmt.Sprintf("error: webhookendpoint \"nope\" not found in namespace %q\n", ns)
		if r.code != exitError || r.stderr != want || r.stdout != "" {
			t.Errorf("got:\n%s\nwant on stderr: %s", r, want)
		}
	})
}

func TestReport(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "billing-app")
	createEndpoint(t, ns, "crm-app")
	createDelivery(t, ns, "logout-1", "billing-app", `{"user":"u-1842"}`)
	createDelivery(t, ns, "welcome-1", "crm-app", `{}`)

	getReport := func(t *testing.T, name string) *heraldv1.WebhookIssueReport {
		t.Helper()
		var rep heraldv1.WebhookIssueReport
		if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &rep); err != nil {
			t.Fatal(err)
		}
		return &rep
	}

	t.Run("all fields", func(t *testing.T) {
		r := runPlugin(t, "", "report", "billing-app", "-n", ns, "--user", "u-1842", "--reason", "still logged in after logout", "--delivery", "logout-1")
		name := strings.TrimSpace(r.stdout)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(name, "billing-app-report-") {
			t.Fatalf("report:\n%s", r)
		}
		rep := getReport(t, name)
		want := heraldv1.WebhookIssueReportSpec{
			EndpointRef: heraldv1.EndpointReference{Name: "billing-app"},
			User:        "u-1842",
			Reason:      "still logged in after logout",
			DeliveryRef: &heraldv1.DeliveryReference{Name: "logout-1"},
		}
		if !apiequality.Semantic.DeepEqual(rep.Spec, want) || rep.GenerateName != "billing-app-report-" {
			t.Errorf("report %s: %+v, want %+v", rep.GenerateName, rep.Spec, want)
		}
	})

	t.Run("user only, -o json", func(t *testing.T) {
		r := runPlugin(t, "", "report", "billing-app", "-n", ns, "--user", "u-7", "-o", "json")
		var printed heraldv1.WebhookIssueReport
		if err := json.Unmarshal([]byte(r.stdout), &printed); r.code != 0 || err != nil {
			t.Fatalf("report -o json (%v):\n%s", err, r)
		}
		rep := getReport(t, printed.Name)
		if printed.Kind != "WebhookIssueReport" || rep.Spec.User != "u-7" || rep.Spec.Reason != "" || rep.Spec.DeliveryRef != nil {
			t.Errorf("printed %s, created %+v", printed.Kind, rep.Spec)
		}
	})

	t.Run("a delivery already deleted", func(t *testing.T) {
		r := runPlugin(t, "", "report", "billing-app", "-n", ns, "--user", "u-8", "--delivery", "logout-gone")
		if r.code != 0 || !strings.Contains(r.stderr, `warning: webhookdelivery "logout-gone" not found`) {
			t.Fatalf("report:\n%s", r)
		}
		if rep := getReport(t, strings.TrimSpace(r.stdout)); rep.Spec.DeliveryRef == nil || rep.Spec.DeliveryRef.Name != "logout-gone" {
			t.Errorf("deliveryRef = %v", rep.Spec.DeliveryRef)
		}
	})

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no user", []string{"billing-app"}, "error: report: --user is required: the user who reported the issue\n"},
		{"no endpoint", []string{"nope", "--user", "u-1"}, fmt.Sprintf("error: webhookendpoint \"nope\" not found in namespace %q\n", ns)},
		{"delivery of another endpoint", []string{"billing-app", "--user", "u-1", "--delivery", "welcome-1"},
			"error: webhookdelivery \"welcome-1\" is for endpoint \"crm-app\", not \"billing-app\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlugin(t, "", append([]string{"report", "-n", ns}, tc.args...)...)
			if r.code != exitError || r.stderr != tc.want || r.stdout != "" {
				t.Errorf("got:\n%s\nwant on stderr: %s", r, tc.want)
			}
		})
	}
	var reports heraldv1.WebhookIssueReportList
	if err := k8sClient.List(context.Background(), &reports, client.InNamespace(ns)); err != nil || len(reports.Items) != 3 {
		t.Errorf("%d reports (%v), want 3", len(reports.Items), err)
	}
}

// statsEndpoint is an endpoint with a 6h window whose statistics herald
// would have written at testNow.
func statsEndpoint(t *testing.T, ns string) *heraldv1.EndpointStatistics {
	t.Helper()
	createEndpoint(t, ns, "billing-app", func(ep *heraldv1.WebhookEndpoint) {
		ep.Spec.Suspension = &heraldv1.SuspensionPolicy{Window: &metav1.Duration{Duration: 6 * time.Hour}}
	})
	hour := func(h int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 4, h, 0, 0, 0, time.UTC)) }
	lastSuccess := metav1.NewTime(time.Date(2026, 12, 4, 9, 12, 0, 0, time.UTC))
	lastFailure := metav1.NewTime(time.Date(2026, 12, 4, 6, 40, 0, 0, time.UTC))
	st := &heraldv1.EndpointStatistics{
		WindowStart:     metav1.NewTime(testNow.Add(-6 * time.Hour)),
		Calls:           17,
		Failures:        4,
		FailurePercent:  23,
		Users:           9,
		UsersReporting:  1,
		LastSuccessTime: &lastSuccess,
		LastFailureTime: &lastFailure,
		Hourly: []heraldv1.HourlyCount{
			{Hour: hour(3), Calls: 2},
			{Hour: hour(5), Calls: 10, Failures: 3},
			{Hour: hour(6), Calls: 1, Failures: 1},
			{Hour: hour(9), Calls: 4},
		},
	}
	setEndpointStatus(t, ns, "billing-app", heraldv1.WebhookEndpointStatus{
		Statistics: st,
		Conditions: []metav1.Condition{
			condition(heraldv1.ConditionSuspended, metav1.ConditionFalse, heraldv1.ReasonNotSuspended, "no suspension rule applies"),
			condition(heraldv1.ConditionReady, metav1.ConditionTrue, heraldv1.ReasonReady, "the endpoint can receive calls"),
		},
	})
	return st
}

// chartRow is a parsed row of the stats chart.
type chartRow struct {
	calls, failures int64
	bar             string
}

// parseChart reads the rows of the chart, by hour label.
func parseChart(t *testing.T, out string) (labels []string, rows map[string]chartRow) {
	t.Helper()
	_, chart, ok := strings.Cut(out, "HOUR (UTC)        CALLS  FAILED\n")
	if !ok {
		t.Fatalf("no chart header in:\n%s", out)
	}
	rows = map[string]chartRow{}
	for _, line := range strings.Split(strings.TrimRight(chart, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || len(f) > 5 {
			t.Fatalf("chart row %q", line)
		}
		calls, err1 := strconv.ParseInt(f[2], 10, 64)
		failures, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("chart row %q", line)
		}
		r := chartRow{calls: calls, failures: failures}
		if len(f) == 5 {
			r.bar = f[4]
		}
		label := f[0] + " " + f[1]
		labels = append(labels, label)
		rows[label] = r
	}
	return labels, rows
}

func TestStats(t *testing.T) {
	ns := newNamespace(t)
	st := statsEndpoint(t, ns)

	r := runPlugin(t, "", "stats", "billing-app", "-n", ns)
	want := fmt.Sprintf(`Endpoint:         billing-app (namespace %s)
URL:              https://billing-app.example.com/webhooks
Window:           since 2026-12-04T03:30:15Z (6h ago); the window is 6h
Calls:            17
Failures:         4 (23%%; suspends at 25%% once there are 20 calls)
Users:            9
Users reporting:  1 (11%%; suspends at 5%% once there are 20 users)
Last success:     2026-12-04T09:12:00Z (18m ago)
Last failure:     2026-12-04T06:40:00Z (2h50m ago)
Suspended:        False (NotSuspended) no suspension rule applies
Ready:            True (Ready) the endpoint can receive calls

Calls per hour: # succeeded, x failed; one character per call
HOUR (UTC)        CALLS  FAILED
2026-12-04 03:00      2       0  ##
2026-12-04 04:00      0       0
2026-12-04 05:00     10       3  #######xxx
2026-12-04 06:00      1       1  x
2026-12-04 07:00      0       0
2026-12-04 08:00      0       0
2026-12-04 09:00      4       0  ####
`, ns)
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("stats printed:\n%s\nwant:\n%s", r, want)
	}

	// The rows match the hourly counts, hour by hour, over the whole window.
	labels, rows := parseChart(t, r.stdout)
	if len(labels) != 7 || labels[0] != "2026-12-04 03:00" || labels[6] != "2026-12-04 09:00" {
		t.Errorf("chart hours %v, want 03:00 to 09:00", labels)
	}
	counts := map[string]heraldv1.HourlyCount{}
	for _, h := range st.Hourly {
		counts[h.Hour.UTC().Format(chartHourFormat)] = h
	}
	for label, row := range rows {
		c := counts[label]
		wantBar := strings.Repeat("#", int(c.Calls-c.Failures)) + strings.Repeat("x", int(c.Failures))
		if row.calls != c.Calls || row.failures != c.Failures || row.bar != wantBar {
			t.Errorf("row %s = %+v, want %d calls, %d failures, bar %q", label, row, c.Calls, c.Failures, wantBar)
		}
	}

	for _, format := range []string{"json", "yaml"} {
		r := runPlugin(t, "", "stats", "billing-app", "-n", ns, "-o", format)
		var got heraldv1.EndpointStatistics
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &got); err != nil || r.code != 0 {
			t.Fatalf("stats -o %s (%v):\n%s", format, err, r)
		}
		if format == "json" && !json.Valid([]byte(r.stdout)) {
			t.Errorf("stats -o json printed invalid JSON:\n%s", r.stdout)
		}
		if !apiequality.Semantic.DeepEqual(&got, st) {
			t.Errorf("stats -o %s = %+v, want %+v", format, got, *st)
		}
	}
}

func TestStatsWithoutStatistics(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "new-app")
	r := runPlugin(t, "", "stats", "new-app", "-n", ns)
	want := fmt.Sprintf(`Endpoint:         new-app (namespace %s)
URL:              https://new-app.example.com/webhooks
Statistics:       none yet: herald has not counted this endpoint's calls (is herald running?)
Suspended:        unknown (no condition yet)
Ready:            unknown (no condition yet)
`, ns)
	if r.code != 0 || r.stdout != want {
		t.Errorf("stats printed:\n%s\nwant:\n%s", r, want)
	}
	r = runPlugin(t, "", "stats", "new-app", "-n", ns, "-o", "json")
	if r.code != exitError || !strings.Contains(r.stderr, `webhookendpoint "new-app" in namespace "`+ns+`" has no statistics yet`) {
		t.Errorf("stats -o json without statistics:\n%s", r)
	}
	r = runPlugin(t, "", "stats", "nope", "-n", ns)
	if want := fmt.Sprintf("error: webhookendpoint \"nope\" not found in namespace %q\n", ns); r.code != exitError || r.stderr != want {
		t.Errorf("got:\n%s\nwant: %s", r, want)
	}
}

func TestRestartedByResume(t *testing.T) {
	resumed := metav1.NewMicroTime(time.Date(2026, 12, 4, 8, 0, 0, 250000000, time.UTC))
	for _, tc := range []struct {
		windowStart time.Time
		resumedAt   *metav1.MicroTime
		want        bool
	}{
		{time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC), &resumed, true},    // the resume, in whole seconds
		{time.Date(2026, 12, 4, 8, 0, 1, 0, time.UTC), &resumed, false},   // later: the window moved on
		{time.Date(2026, 12, 4, 7, 59, 59, 0, time.UTC), &resumed, false}, // earlier
		{time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC), nil, false},
		{time.Date(2026, 12, 4, 8, 0, 1, 0, time.UTC), ptr.To(metav1.NewMicroTime(time.Date(2026, 12, 4, 8, 0, 0, 999999000, time.UTC))), true},
	} {
		if got := restartedByResume(metav1.NewTime(tc.windowStart), tc.resumedAt); got != tc.want {
			t.Errorf("window start %s, resumed %v: %t, want %t", tc.windowStart, tc.resumedAt, got, tc.want)
		}
	}
}

func TestChartScalesToWidth(t *testing.T) {
	rows := []hourRow{{Calls: 1000, Failures: 250}, {Calls: 1, Failures: 1}, {Calls: 0}, {Calls: 999, Failures: 1}, {Calls: 500, Failures: 0}}
	for _, width := range []int{10, 60, 200} {
		var out bytes.Buffer
		if err := writeChart(&out, rows, width); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")[2:]
		var longest int
		for i, line := range lines {
			f := strings.Fields(line)
			bar := ""
			if len(f) == 5 {
				bar = f[4]
			}
			successes, failures := strings.Count(bar, "#"), strings.Count(bar, "x")
			longest = max(longest, len(bar))
			if len(bar) > width {
				t.Errorf("width %d: bar of %d characters: %q", width, len(bar), line)
			}
			r := rows[i]
			if (r.Failures > 0) != (failures > 0) || (r.Calls-r.Failures > 0) != (successes > 0) {
				t.Errorf("width %d: row %+v drawn as %q", width, r, bar)
			}
		}
		if longest < width-1 {
			t.Errorf("width %d: the busiest hour is only %d characters wide", width, longest)
		}
	}
}

func TestRedeliver(t *testing.T) {
	ns := newNamespace(t)
	createEndpoint(t, ns, "billing-app")
	const payload = `{"type":"user.logout","user":{"email":"ada@example.com","id":"u-1842"}}`
	orig := createDelivery(t, ns, "logout-1", "billing-app", payload, func(d *heraldv1.WebhookDelivery) { d.Spec.User = "u-1842" })
	if err := setDeliveryStatus(ns, "logout-1", heraldv1.DeliveryFailed, 3, 500); err != nil {
		t.Fatal(err)
	}
	createDelivery(t, ns, "logout-2", "billing-app", `{"n":2}`, func(d *heraldv1.WebhookDelivery) { d.Spec.ID = "evt-2" })
	if err := setDeliveryStatus(ns, "logout-2", heraldv1.DeliveryFailed, 1, 500); err != nil {
		t.Fatal(err)
	}
	createDelivery(t, ns, "logout-ok", "billing-app", `{}`)
	if err := setDeliveryStatus(ns, "logout-ok", heraldv1.DeliverySucceeded, 1, 200); err != nil {
		t.Fatal(err)
	}
	createDelivery(t, ns, "logout-new", "billing-app", `{}`)

	redelivered := func(t *testing.T, r result, of string) *heraldv1.WebhookDelivery {
		t.Helper()
		name := strings.TrimSpace(r.stdout)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(name, of+"-redeliver-") {
			t.Fatalf("redeliver %s:\n%s", of, r)
		}
		d := getDelivery(t, ns, name)
		if d.Labels[redeliveryOfLabel] != of || d.GenerateName != of+"-redeliver-" {
			t.Errorf("redelivery of %s: labels %v, generateName %q", of, d.Labels, d.GenerateName)
		}
		return d
	}

	t.Run("without spec.id: the original's UID", func(t *testing.T) {
		d := redelivered(t, runPlugin(t, "", "redeliver", "logout-1", "-n", ns), "logout-1")
		want := heraldv1.WebhookDeliverySpec{
			EndpointRef: heraldv1.EndpointReference{Name: "billing-app"},
			ID:          string(orig.UID),
			Event:       "user.logout",
			User:        "u-1842",
		}
		got := d.Spec
		if string(got.Payload.Raw) != payload {
			t.Errorf("payload %s, want %s", got.Payload.Raw, payload)
		}
		got.Payload.Raw = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("spec %+v, want %+v", got, want)
		}
		if d.Status.Phase != "" {
			t.Errorf("the redelivery has a status: %+v", d.Status)
		}
	})

	t.Run("with spec.id, -o yaml", func(t *testing.T) {
		r := runPlugin(t, "", "redeliver", "logout-2", "-n", ns, "-o", "yaml")
		var printed heraldv1.WebhookDelivery
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &printed); err != nil || r.code != 0 {
			t.Fatalf("redeliver -o yaml (%v):\n%s", err, r)
		}
		d := getDelivery(t, ns, printed.Name)
		if d.Spec.ID != "evt-2" || string(d.Spec.Payload.Raw) != `{"n":2}` || printed.Spec.ID != "evt-2" {
			t.Errorf("redelivery spec %+v", d.Spec)
		}
	})

	before := len(listDeliveries(t, ns))
	for _, tc := range []struct{ name, want string }{
		{"logout-ok", `error: webhookdelivery "logout-ok" is Succeeded, not Failed: only a Failed delivery is redelivered (--force sends it again anyway, with the same webhook id)` + "\n"},
		{"logout-new", `error: webhookdelivery "logout-new" has no phase yet, not Failed: only a Failed delivery is redelivered (--force sends it again anyway, with the same webhook id)` + "\n"},
		{"logout-gone", fmt.Sprintf("error: webhookdelivery \"logout-gone\" not found in namespace %q\n", ns)},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			r := runPlugin(t, "", "redeliver", tc.name, "-n", ns)
			if r.code != exitError || r.stderr != tc.want || r.stdout != "" {
				t.Errorf("got:\n%s\nwant on stderr: %s", r, tc.want)
			}
		})
	}
	if after := len(listDeliveries(t, ns)); after != before {
		t.Errorf("refused redeliveries created %d deliveries", after-before)
	}

	t.Run("--force", func(t *testing.T) {
		ok := getDelivery(t, ns, "logout-ok")
		d := redelivered(t, runPlugin(t, "", "redeliver", "logout-ok", "--force", "-n", ns), "logout-ok")
		if d.Spec.ID != string(ok.UID) {
			t.Errorf("id %q, want %q", d.Spec.ID, ok.UID)
		}
	})
}

func TestHelpAndUsageErrors(t *testing.T) {
	r := runPlugin(t, "", "--help")
	for _, verb := range []string{"send", "resume", "report", "stats", "redeliver", "--namespace", "--kubeconfig", "--context", "--output"} {
		if r.code != 0 || !strings.Contains(r.stdout, verb) {
			t.Errorf("--help lacks %q:\n%s", verb, r)
		}
	}
	for verb, flag := range map[string]string{"send": "--wait", "resume": heraldv1.ResumeAnnotation, "report": "--user", "stats": "--width", "redeliver": "--force"} {
		for _, args := range [][]string{{verb, "--help"}, {"help", verb}, {"-n", "x", verb, "-h"}} {
			r := runPlugin(t, "", args...)
			if r.code != 0 || !strings.Contains(r.stdout, "kubectl herald "+verb+" ") || !strings.Contains(r.stdout, flag) {
				t.Errorf("%v lacks the usage line or %s:\n%s", args, flag, r)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `error: unknown command "frobnicate"`},
		{[]string{"stats"}, "error: stats: missing ENDPOINT"},
		{[]string{"stats", "a", "b"}, `error: stats: unexpected argument "b"`},
		{[]string{"stats", "a", "-o", "wide"}, `error: stats: unknown output format "wide": use -o json or -o yaml`},
		{[]string{"stats", "a", "--width", "3"}, "error: stats: --width must be at least 10, not 3"},
		{[]string{"send"}, "error: send: -f FILE is required"},
		{[]string{"redeliver", "--bogus"}, "error: redeliver: unknown flag: --bogus"},
	} {
		r := runPlugin(t, "", tc.args...)
		if r.code != exitError || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("%v: want %q, got:\n%s", tc.args, tc.want, r)
		}
	}
}

// The namespace comes from -n, else from the kubeconfig context, which
// KUBECONFIG names as it does for kubectl.
func TestNamespaceFromKubeconfig(t *testing.T) {
	ns := newNamespace(t)
	statsEndpoint(t, ns)
	cfg, err := clientcmd.LoadFromFile(kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = ns
	file := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, file); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", file)

	var stdout, stderr bytes.Buffer
	a := newApp(strings.NewReader(""), &stdout, &stderr)
	a.now = func() time.Time { return testNow }
	if code := a.run(context.Background(), []string{"stats", "billing-app", "-o", "json"}); code != 0 || !strings.Contains(stdout.String(), `"calls": 17`) {
		t.Errorf("stats with the namespace of the KUBECONFIG context: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := a.run(context.Background(), []string{"stats", "billing-app", "-n", "default"}); code != exitError ||
		stderr.String() != "error: webhookendpoint \"billing-app\" not found in namespace \"default\"\n" {
		t.Errorf("-n overrides the context's namespace: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := a.run(context.Background(), []string{"stats", "billing-app", "--context", "nope"}); code != exitError ||
		!strings.Contains(stderr.String(), `context "nope" does not exist`) {
		t.Errorf("--context nope: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	_ = os.Remove(file)
}
