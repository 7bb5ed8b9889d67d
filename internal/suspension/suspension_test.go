package suspension

import (
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	rules := Rules{Window: 72 * time.Hour, FailurePercent: 25, MinimumCalls: 20, IssueReportPercent: 5, MinimumUsers: 20}
	tests := []struct {
		name        string
		f           Figures
		wantReason  string
		wantMessage string
	}{
		{"25 of 100 failed: suspends", Figures{Calls: 100, Failures: 25}, FailureRateExceeded,
			"25 of 100 calls failed (25%) in the last 72h; limit 25%"},
		{"31 of 100 failed", Figures{Calls: 100, Failures: 31}, FailureRateExceeded,
			"31 of 100 calls failed (31%) in the last 72h; limit 25%"},
		{"24 of 100 failed: does not", Figures{Calls: 100, Failures: 24}, "", ""},
		{"just below: 249 of 1000", Figures{Calls: 1000, Failures: 249}, "", ""},
		{"19 of 19 failed, under the minimum calls", Figures{Calls: 19, Failures: 19}, "", ""},
		{"5 of 20 at the minimum", Figures{Calls: 20, Failures: 5}, FailureRateExceeded,
			"5 of 20 calls failed (25%) in the last 72h; limit 25%"},
		{"no calls", Figures{}, "", ""},
		{"5 of 100 users reported: suspends", Figures{Users: 100, UsersReporting: 5}, IssueReportsExceeded,
			"5 of 100 users reported an issue (5%) in the last 72h; limit 5%"},
		{"4 of 100 users: does not", Figures{Users: 100, UsersReporting: 4}, "", ""},
		{"just below: 49 of 1000 users", Figures{Users: 1000, UsersReporting: 49}, "", ""},
		{"3 of 19 users, under the minimum users", Figures{Users: 19, UsersReporting: 3}, "", ""},
		{"7 of 123 users", Figures{Users: 123, UsersReporting: 7}, IssueReportsExceeded,
			"7 of 123 users reported an issue (5.6%) in the last 72h; limit 5%"},
		{"both: the failure rule is named", Figures{Calls: 100, Failures: 50, Users: 100, UsersReporting: 50}, FailureRateExceeded,
			"50 of 100 calls failed (50%) in the last 72h; limit 25%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate(tt.f, rules)
			if d.Suspend != (tt.wantReason != "") || d.Reason != tt.wantReason || d.Message != tt.wantMessage {
				t.Fatalf("Evaluate = %+v, want reason %q message %q", d, tt.wantReason, tt.wantMessage)
			}
		})
	}
}
