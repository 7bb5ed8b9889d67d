// Package suspension decides whether an endpoint's statistics suspend it.
package suspension

import (
	"fmt"
	"time"
)

// Reasons, as in the Suspended condition.
const (
	FailureRateExceeded  = "FailureRateExceeded"
	IssueReportsExceeded = "IssueReportsExceeded"
)

// Rules are an endpoint's thresholds.
type Rules struct {
	Window             time.Duration
	FailurePercent     int64
	MinimumCalls       int64
	IssueReportPercent int64
	MinimumUsers       int64
}

// Figures are the window's counts.
type Figures struct {
	Calls, Failures       int64
	Users, UsersReporting int64
}

// Decision says whether a rule fired, which, and the figures behind it.
type Decision struct {
	Suspend bool
	Reason  string
	Message string
}

// Evaluate applies the rules to the figures. A rule fires when its
// percentage is reached or exceeded (compared in integers, so 25 of 100 is
// 25% exactly) once the window holds its minimum. The failure rule is checked
// first.
func Evaluate(f Figures, r Rules) Decision {
	if f.Calls >= r.MinimumCalls && f.Calls > 0 && f.Failures*100 >= r.FailurePercent*f.Calls {
		return Decision{true, FailureRateExceeded, fmt.Sprintf(
			"%d of %d calls failed (%s) in the last %s; limit %d%%",
			f.Failures, f.Calls, percent(f.Failures, f.Calls), formatWindow(r.Window), r.FailurePercent)}
	}
	if f.Users >= r.MinimumUsers && f.Users > 0 && f.UsersReporting*100 >= r.IssueReportPercent*f.Users {
		return Decision{true, IssueReportsExceeded, fmt.Sprintf(
			"%d of %d users reported an issue (%s) in the last %s; limit %d%%",
			f.UsersReporting, f.Users, percent(f.UsersReporting, f.Users), formatWindow(r.Window), r.IssueReportPercent)}
	}
	return Decision{}
}

// percent formats part/whole with up to one decimal, rounded down, so that
// the message never shows a limit reached that was not.
func percent(part, whole int64) string {
	tenths := part * 1000 / whole
	if tenths%10 == 0 {
		return fmt.Sprintf("%d%%", tenths/10)
	}
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}

func formatWindow(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int64(d/time.Hour))
	}
	return d.String()
}
