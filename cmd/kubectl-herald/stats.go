package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

const (
	defaultChartWidth = 60
	minChartWidth     = 10
	// chartHourFormat labels a chart row.
	chartHourFormat = "2006-01-02 15:04"
)

func statsCommand() *command {
	return &command{
		name:  "stats",
		args:  "ENDPOINT",
		short: "Show an endpoint's statistics for the window, with an hourly chart",
		long: `Show a WebhookEndpoint's figures over its statistics window, as herald last
computed them: calls, failures and failure percentage, users and users who
reported an issue (each with the threshold of its suspension rule), the last
success and failure, and the Suspended and Ready conditions.

Then a chart with one row per hour of the window (UTC), oldest first: the
hour's calls and failures, and a bar of '#' for successful calls and 'x' for
failed ones, scaled so that the busiest hour fits in --width characters.

-o json or -o yaml prints status.statistics as it is instead.`,
		example: `  kubectl herald stats billing-app -n payments
  kubectl herald stats billing-app --width 100
  kubectl herald stats billing-app -o json | jq .failurePercent
`,
		positional: []string{"ENDPOINT"},
		flags: func(a *app, fs *pflag.FlagSet) func(context.Context, *runEnv, []string) error {
			var width int
			fs.IntVar(&width, "width", defaultChartWidth, "the longest bar of the chart, in characters")
			return func(ctx context.Context, env *runEnv, args []string) error {
				if width < minChartWidth {
					return fmt.Errorf("stats: --width must be at least %d, not %d", minChartWidth, width)
				}
				c, ns, err := env.connect()
				if err != nil {
					return err
				}
				return stats(ctx, c, ns, args[0], statsOptions{Now: a.now(), Width: width}, env.streams)
			}
		},
	}
}

// statsOptions configure stats.
type statsOptions struct {
	// Now ends the chart, and ages are counted to it.
	Now time.Time
	// Width is the longest bar of the chart.
	Width int
}

// stats prints the endpoint's statistics, or status.statistics with -o.
func stats(ctx context.Context, c client.Client, namespace, name string, o statsOptions, s streams) error {
	var ep heraldv1.WebhookEndpoint
	if err := get(ctx, c, "webhookendpoint", namespace, name, &ep); err != nil {
		return err
	}
	st := ep.Status.Statistics
	if s.output != "" {
		if st == nil {
			return fmt.Errorf("webhookendpoint %q in namespace %q has no statistics yet: herald has not counted its calls (is herald running?)", name, namespace)
		}
		return printData(s.out, st, s.output)
	}
	if o.Width < minChartWidth {
		o.Width = defaultChartWidth
	}
	w := s.out
	rules := ep.GetSuspensionRules()
	row := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-17s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	row("Endpoint", "%s (namespace %s)", ep.Name, ep.Namespace)
	row("URL", "%s", ep.Spec.URL)
	if st == nil {
		row("Statistics", "none yet: herald has not counted this endpoint's calls (is herald running?)")
	} else {
		window := fmt.Sprintf("since %s; the window is %s", timeAndAge(st.WindowStart.Time, o.Now), windowLength(rules.Window))
		if restartedByResume(st.WindowStart, ep.Status.ResumedAt) {
			window += ", restarted by a resume at " + ep.Status.ResumedAt.UTC().Format(time.RFC3339)
		}
		row("Window", "%s", window)
		row("Calls", "%d", st.Calls)
		row("Failures", "%d (%d%%; suspends at %d%% once there are %d calls)", st.Failures, st.FailurePercent, rules.FailurePercent, rules.MinimumCalls)
		row("Users", "%d", st.Users)
		reportingPercent := int64(0)
		if st.Users > 0 {
			reportingPercent = st.UsersReporting * 100 / st.Users
		}
		row("Users reporting", "%d (%d%%; suspends at %d%% once there are %d users)", st.UsersReporting, reportingPercent, rules.IssueReportPercent, rules.MinimumUsers)
		row("Last success", "%s", optionalTime(st.LastSuccessTime, o.Now))
		row("Last failure", "%s", optionalTime(st.LastFailureTime, o.Now))
	}
	for _, t := range []string{heraldv1.ConditionSuspended, heraldv1.ConditionReady} {
		cond := meta.FindStatusCondition(ep.Status.Conditions, t)
		if cond == nil {
			row(t, "unknown (no condition yet)")
			continue
		}
		text := fmt.Sprintf("%s (%s)", cond.Status, cond.Reason)
		if cond.Message != "" {
			text += " " + cond.Message
		}
		row(t, "%s", text)
	}
	if st == nil {
		return nil
	}
	fmt.Fprintln(w)
	return writeChart(w, chartRows(st, o.Now), o.Width)
}

func optionalTime(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "never in the window"
	}
	return timeAndAge(t.Time, now)
}

// restartedByResume says whether the window starts at the last resume
// rather than a window's length ago: herald starts it a microsecond after
// the resume, in whole seconds.
func restartedByResume(windowStart metav1.Time, resumedAt *metav1.MicroTime) bool {
	if resumedAt == nil {
		return false
	}
	return windowStart.Time.Equal(resumedAt.Add(time.Microsecond).Truncate(time.Second))
}

// windowLength writes a window as people set it: 72h, not 72h0m0s.
func windowLength(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// hourRow is one row of the chart.
type hourRow struct {
	Hour     time.Time
	Calls    int64
	Failures int64
}

// chartRows lists every hour from the window's start to now, oldest first,
// with the hours without calls (which status leaves out) as zeros.
func chartRows(st *heraldv1.EndpointStatistics, now time.Time) []hourRow {
	start := st.WindowStart.UTC().Truncate(time.Hour)
	end := now.UTC().Truncate(time.Hour)
	counts := make(map[time.Time]heraldv1.HourlyCount, len(st.Hourly))
	for _, h := range st.Hourly {
		hour := h.Hour.UTC().Truncate(time.Hour)
		prev := counts[hour]
		counts[hour] = heraldv1.HourlyCount{Calls: prev.Calls + h.Calls, Failures: prev.Failures + h.Failures}
		if hour.Before(start) {
			start = hour
		}
		if hour.After(end) {
			end = hour
		}
	}
	var rows []hourRow
	for h := start; !h.After(end); h = h.Add(time.Hour) {
		c := counts[h]
		rows = append(rows, hourRow{Hour: h, Calls: c.Calls, Failures: min(max(c.Failures, 0), max(c.Calls, 0))})
	}
	return rows
}

// writeChart draws the rows with '#' for successful calls and 'x' for
// failed ones: one character per call when the busiest hour fits in width,
// else scaled so that it is width characters long. A non-zero count always
// gets a character.
func writeChart(w io.Writer, rows []hourRow, width int) error {
	var most int64
	for _, r := range rows {
		most = max(most, r.Calls)
	}
	scale, legend := 1.0, "one character per call"
	if most > int64(width) {
		scale = float64(width) / float64(most)
		legend = fmt.Sprintf("one character per %s calls, rounded", strconv.FormatFloat(1/scale, 'f', 1, 64))
	}
	chars := func(n int64) int {
		if n <= 0 {
			return 0
		}
		return max(int(math.Round(float64(n)*scale)), 1)
	}
	fmt.Fprintf(w, "Calls per hour: # succeeded, x failed; %s\n", legend)
	fmt.Fprintf(w, "%-16s  %5s  %6s\n", "HOUR (UTC)", "CALLS", "FAILED")
	for _, r := range rows {
		total := chars(r.Calls)
		failed := min(chars(r.Failures), total)
		succeeded := total - failed
		if r.Calls > r.Failures && succeeded == 0 {
			failed = max(failed-1, 1)
			succeeded = 1
		}
		bar := strings.Repeat("#", succeeded) + strings.Repeat("x", failed)
		line := fmt.Sprintf("%-16s  %5d  %6d  %s", r.Hour.Format(chartHourFormat), r.Calls, r.Failures, bar)
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " ")); err != nil {
			return err
		}
	}
	return nil
}
