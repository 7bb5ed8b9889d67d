package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

const kubectlPath = "/usr/bin/kubectl"

// TestAsKubectlPlugin builds the binary and runs it the way people do:
// `kubectl herald ...`, with kubectl finding kubectl-herald on PATH.
func TestAsKubectlPlugin(t *testing.T) {
	if _, err := os.Stat(kubectlPath); err != nil {
		t.Skipf("no kubectl at %s: %v", kubectlPath, err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "kubectl-herald"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ns := newNamespace(t)
	createEndpoint(t, ns, "billing-app")
	// Real time: the plugin charts up to its own now.
	now := time.Now().UTC()
	thisHour := now.Truncate(time.Hour)
	setEndpointStatus(t, ns, "billing-app", heraldv1.WebhookEndpointStatus{
		Statistics: &heraldv1.EndpointStatistics{
			WindowStart: metav1.NewTime(now.Add(-3 * time.Hour)), Calls: 5, Failures: 1, FailurePercent: 20, Users: 2,
			Hourly: []heraldv1.HourlyCount{
				{Hour: metav1.NewTime(thisHour.Add(-2 * time.Hour)), Calls: 3, Failures: 1},
				{Hour: metav1.NewTime(thisHour), Calls: 2},
			},
		},
		Conditions: []metav1.Condition{condition(heraldv1.ConditionReady, metav1.ConditionTrue, heraldv1.ReasonReady, "the endpoint can receive calls")},
	})

	kubectl := func(args ...string) (string, string, error) {
		cmd := exec.Command(kubectlPath, args...)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	out, errOut, err := kubectl("herald", "stats", "billing-app", "-n", ns, "--kubeconfig", kubeconfigPath)
	if err != nil {
		t.Fatalf("kubectl herald stats: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, want := range []string{
		"Endpoint:         billing-app (namespace " + ns + ")\n",
		"Calls:            5\n",
		"Failures:         1 (20%; suspends at 25% once there are 20 calls)\n",
		"Ready:            True (Ready) the endpoint can receive calls\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl herald stats lacks %q:\n%s", want, out)
		}
	}
	_, rows := parseChart(t, out)
	for hour, want := range map[time.Time]chartRow{
		thisHour.Add(-3 * time.Hour): {},
		thisHour.Add(-2 * time.Hour): {calls: 3, failures: 1, bar: "##x"},
		thisHour.Add(-time.Hour):     {},
		thisHour:                     {calls: 2, bar: "##"},
	} {
		if got, ok := rows[hour.Format(chartHourFormat)]; !ok || got != want {
			t.Errorf("row %s = %+v (present: %t), want %+v\n%s", hour.Format(chartHourFormat), got, ok, want, out)
		}
	}

	out, _, err = kubectl("herald", "--help")
	if err != nil || !strings.Contains(out, "kubectl herald COMMAND") {
		t.Errorf("kubectl herald --help: %v\n%s", err, out)
	}
	_, errOut, err = kubectl("herald", "stats", "nope", "-n", ns, "--kubeconfig", kubeconfigPath)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitError ||
		!strings.Contains(errOut, `error: webhookendpoint "nope" not found in namespace "`+ns+`"`) {
		t.Errorf("kubectl herald stats nope: %v\n%s", err, errOut)
	}
}
