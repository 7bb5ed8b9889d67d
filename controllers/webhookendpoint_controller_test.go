package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

func withSuspension(p heraldv1.SuspensionPolicy) func(*heraldv1.WebhookEndpoint) {
	return func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspension = &p }
}

func withRetention(succeeded, failed time.Duration) func(*heraldv1.WebhookEndpoint) {
	return func(ep *heraldv1.WebhookEndpoint) {
		ep.Spec.Retention = &heraldv1.RetentionPolicy{
			Succeeded: &metav1.Duration{Duration: succeeded}, Failed: &metav1.Duration{Duration: failed}}
	}
}

// sendBatch creates n deliveries to the endpoint, the first failing ones
// with a payload the payloadReceiver fails, each with user prefix-i.
func (e *env) sendBatch(endpoint, prefix string, n, failing int) {
	e.t.Helper()
	for i := range n {
		e.delivery(fmt.Sprintf("%s-%d", prefix, i), endpoint, fmt.Sprintf(`{"n":%d,"fail":%v}`, i, i < failing),
			func(d *heraldv1.WebhookDelivery) { d.Spec.User = fmt.Sprintf("%s-user-%d", prefix, i) })
	}
}

// waitForStats waits until the endpoint's statistics satisfy cond.
func (e *env) waitForStats(endpoint, what string, cond func(*heraldv1.EndpointStatistics) bool) *heraldv1.WebhookEndpoint {
	e.t.Helper()
	var ep *heraldv1.WebhookEndpoint
	e.g.Eventually(func() bool {
		ep = e.getEndpoint(endpoint)
		return ep.Status.Statistics != nil && cond(ep.Status.Statistics)
	}).WithTimeout(60*time.Second).WithPolling(50*time.Millisecond).Should(BeTrue(), func() string {
		return fmt.Sprintf("endpoint %s never had %s; statistics: %+v", endpoint, what, ep.Status.Statistics)
	})
	return ep
}

func (e *env) waitForCalls(endpoint string, calls, failures int64) *heraldv1.WebhookEndpoint {
	e.t.Helper()
	return e.waitForStats(endpoint, fmt.Sprintf("%d calls, %d failures", calls, failures), func(s *heraldv1.EndpointStatistics) bool {
		return s.Calls == calls && s.Failures == failures
	})
}

func suspendedCondition(ep *heraldv1.WebhookEndpoint) *metav1.Condition {
	return meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended)
}

func TestFailureRuleBoundaries(t *testing.T) {
	e := newEnv(t)
	e.startManager()
	tests := []struct {
		name          string
		calls, failed int
		minimumCalls  *int32
		wantSuspended bool
		wantMessage   string
	}{
		{"25 of 100 suspends", 100, 25, ptr.To[int32](100), true, "25 of 100 calls failed (25%) in the last 72h; limit 25%"},
		{"24 of 100 does not", 100, 24, ptr.To[int32](100), false, ""},
		{"19 of 19 is under the default minimum of 20", 19, 19, nil, false, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := e.sub(t)
			g := e.g
			rcv, _ := e.payloadReceiver()
			name := fmt.Sprintf("ep-%d", i)
			e.endpoint(name, rcv.URL, withBackoff(), withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: tt.minimumCalls}))
			e.sendBatch(name, name, tt.calls, tt.failed)
			ep := e.waitForCalls(name, int64(tt.calls), int64(tt.failed))
			g.Expect(rcv.count()).To(Equal(tt.calls))
			if tt.wantSuspended {
				g.Eventually(func() *metav1.Condition { return suspendedCondition(e.getEndpoint(name)) }).
					WithTimeout(10 * time.Second).Should(And(
					HaveField("Status", metav1.ConditionTrue),
					HaveField("Reason", heraldv1.ReasonFailureRateExceeded),
					HaveField("Message", tt.wantMessage)))
				ep = e.getEndpoint(name)
				g.Expect(meta.IsStatusConditionFalse(ep.Status.Conditions, heraldv1.ConditionReady)).To(BeTrue())
				g.Eventually(func() []string { return e.endpointEventReasons(name) }).Should(ContainElement(EventSuspendedReason))
				return
			}
			g.Consistently(func() metav1.ConditionStatus { return suspendedCondition(e.getEndpoint(name)).Status }).
				WithTimeout(time.Second).Should(Equal(metav1.ConditionFalse))
			g.Expect(ep.Status.Statistics.FailurePercent).To(Equal(int32(tt.failed * 100 / tt.calls)))
		})
	}
}

// EventSuspendedReason is the endpoint controller's suspension Event reason.
const EventSuspendedReason = "Suspended"

func (e *env) endpointEventReasons(endpoint string) []string {
	return e.eventReasonsOf("WebhookEndpoint", endpoint, "")
}

func TestIssueReportRuleBoundaries(t *testing.T) {
	e := newEnv(t)
	e.startManager()
	tests := []struct {
		name          string
		reports       int
		wantSuspended bool
	}{
		{"5 of 100 users suspends", 5, true},
		{"4 of 100 users does not", 4, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := e.sub(t)
			g := e.g
			rcv, _ := e.payloadReceiver()
			name := fmt.Sprintf("ep-%d", i)
			e.endpoint(name, rcv.URL, withBackoff())
			e.sendBatch(name, name, 100, 0)
			e.waitForStats(name, "100 users", func(s *heraldv1.EndpointStatistics) bool { return s.Users == 100 && s.Calls == 100 })
			for r := range tt.reports {
				e.create(&heraldv1.WebhookIssueReport{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-report-%d", name, r)},
					Spec: heraldv1.WebhookIssueReportSpec{EndpointRef: heraldv1.EndpointReference{Name: name},
						User: fmt.Sprintf("%s-user-%d", name, r), Reason: "still logged in"},
				})
			}
			// A second report of the same user counts once.
			e.create(&heraldv1.WebhookIssueReport{
				ObjectMeta: metav1.ObjectMeta{Name: name + "-report-again"},
				Spec: heraldv1.WebhookIssueReportSpec{EndpointRef: heraldv1.EndpointReference{Name: name},
					User: name + "-user-0"},
			})
			e.waitForStats(name, "reports", func(s *heraldv1.EndpointStatistics) bool { return s.UsersReporting == int64(tt.reports) })
			if tt.wantSuspended {
				g.Eventually(func() *metav1.Condition { return suspendedCondition(e.getEndpoint(name)) }).
					WithTimeout(10 * time.Second).Should(And(
					HaveField("Status", metav1.ConditionTrue),
					HaveField("Reason", heraldv1.ReasonIssueReportsExceeded),
					HaveField("Message", "5 of 100 users reported an issue (5%) in the last 72h; limit 5%")))
				return
			}
			g.Consistently(func() metav1.ConditionStatus { return suspendedCondition(e.getEndpoint(name)).Status }).
				WithTimeout(time.Second).Should(Equal(metav1.ConditionFalse))
		})
	}
}

func TestWindowSlides(t *testing.T) {
	e := newEnv(t)
	e.startManager()
	rcv, _ := e.payloadReceiver()
	// Long retention keeps every delivery live, so the slide is exact.
	e.endpoint("app", rcv.URL, withBackoff(), withRetention(200*time.Hour, 200*time.Hour),
		withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](1000)}))
	e.sendBatch("app", "old", 10, 4)
	e.waitForCalls("app", 10, 4)

	e.clock.SetTime(e.start.Add(36 * time.Hour))
	e.sendBatch("app", "new", 10, 1)
	e.waitForCalls("app", 20, 5)

	// At 72h the first batch is still in the window; just after, it is not.
	e.clock.SetTime(e.start.Add(72 * time.Hour))
	e.sendBatch("app", "edge", 1, 0) // any change recomputes
	e.waitForCalls("app", 21, 5)
	e.stepTo(e.start.Add(72*time.Hour + time.Nanosecond)) // the recompute herald scheduled
	ep := e.waitForCalls("app", 11, 1)
	e.g.Expect(ep.Status.Statistics.FailurePercent).To(Equal(int32(9)))
	e.g.Expect(ep.Status.Statistics.Users).To(Equal(int64(11)))
}

func TestHeldDeliveriesResumeInTheirPlace(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv, failAll := e.payloadReceiver()
	failAll.Store(true)
	e.endpoint("app", rcv.URL, withSuspension(heraldv1.SuspensionPolicy{
		MinimumCalls: ptr.To[int32](4), FailurePercent: ptr.To[int32](50)}))

	// One delivery fails twice and waits for its 600 s retry.
	e.delivery("slow", "app", `{"n":0}`)
	d := e.waitForPhase("slow", heraldv1.DeliveryRetrying, 1)
	e.stepTo(d.Status.Attempts[0].EndTime().Add(60 * time.Second))
	d = e.waitForPhase("slow", heraldv1.DeliveryRetrying, 2)
	due := d.Status.NextAttemptTime.Time

	// Two more failures: 4 calls, 4 failed: suspended.
	e.sendBatch("app", "f", 2, 0)
	g.Eventually(func() *metav1.Condition { return suspendedCondition(e.getEndpoint("app")) }).
		WithTimeout(20 * time.Second).Should(HaveField("Reason", heraldv1.ReasonFailureRateExceeded))
	e.waitForPhase("slow", heraldv1.DeliveryHeld, 2)
	callsBefore := rcv.count()
	g.Expect(callsBefore).To(Equal(4))

	e.sendBatch("app", "held", 10, 0)
	for i := range 10 {
		e.waitForPhase(fmt.Sprintf("held-%d", i), heraldv1.DeliveryHeld, 0)
	}
	g.Consistently(rcv.count).WithTimeout(time.Second).Should(Equal(callsBefore), "no call while suspended")

	failAll.Store(false)
	e.clock.Step(time.Second) // a person resumes a little later
	e.patchEndpoint("app", func(ep *heraldv1.WebhookEndpoint) {
		ep.Annotations = map[string]string{heraldv1.ResumeAnnotation: "2026-12-04T12:00:00Z"}
	})
	for i := range 10 {
		e.waitForPhase(fmt.Sprintf("held-%d", i), heraldv1.DeliverySucceeded, 1)
	}
	ep := e.getEndpoint("app")
	g.Expect(suspendedCondition(ep).Reason).To(Equal(heraldv1.ReasonResumed))
	g.Expect(ep.Status.LastHandledResume).To(Equal("2026-12-04T12:00:00Z"))
	g.Eventually(func() []string { return e.endpointEventReasons("app") }).Should(ContainElement("Resumed"))

	// The 600 s retry keeps its place: no call before its time, one at it.
	g.Expect(e.get("slow").Status.Phase).To(Equal(heraldv1.DeliveryRetrying))
	e.stepTo(due)
	e.waitForPhase("slow", heraldv1.DeliverySucceeded, 3)
	slowCalls := 0
	perHeld := map[string]int{}
	for _, c := range rcv.got() {
		if string(c.body) == `{"n":0}` {
			slowCalls++
			if slowCalls == 3 {
				g.Expect(c.at).To(BeTemporally("==", due))
			}
		}
		perHeld[c.header.Get("webhook-id")]++
	}
	for i := range 10 {
		g.Expect(perHeld[string(e.get(fmt.Sprintf("held-%d", i)).UID)]).To(Equal(1), "held-%d called once", i)
	}
}

func TestResumeValueActsOnce(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv, failAll := e.payloadReceiver()
	failAll.Store(true)
	e.endpoint("app", rcv.URL, withBackoff(), withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](2)}))
	suspended := func() bool {
		c := suspendedCondition(e.getEndpoint("app"))
		return c != nil && c.Status == metav1.ConditionTrue
	}
	annotate := func(v string) {
		e.patchEndpoint("app", func(ep *heraldv1.WebhookEndpoint) {
			ep.Annotations = map[string]string{heraldv1.ResumeAnnotation: v, "touch": fmt.Sprint(time.Now().UnixNano())}
		})
	}

	e.sendBatch("app", "a", 2, 0)
	g.Eventually(suspended).WithTimeout(20 * time.Second).Should(BeTrue())
	e.clock.Step(time.Minute) // a person resumes a minute later
	annotate("r1")
	g.Eventually(suspended).WithTimeout(20 * time.Second).Should(BeFalse())

	e.clock.Step(time.Minute) // failures after the resume
	e.sendBatch("app", "b", 2, 0)
	g.Eventually(suspended).WithTimeout(20 * time.Second).Should(BeTrue())
	annotate("r1") // the same value again: not a new request
	g.Consistently(suspended).WithTimeout(time.Second).Should(BeTrue())
	annotate("r2")
	g.Eventually(suspended).WithTimeout(20 * time.Second).Should(BeFalse())
}

func TestStatisticsSurviveGarbageCollectionAndRestart(t *testing.T) {
	e := newEnv(t)
	g := e.g
	stop := e.startManager()
	rcv, _ := e.payloadReceiver()
	e.endpoint("app", rcv.URL, withBackoff(), withRetention(time.Hour, time.Hour),
		withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](10000)}))

	for batch := range 8 { // a batch every 10 hours: 0h … 70h
		e.clock.SetTime(e.start.Add(time.Duration(batch) * 10 * time.Hour))
		e.sendBatch("app", fmt.Sprintf("b%d", batch), 5, 2)
		e.waitForCalls("app", int64(5*(batch+1)), int64(2*(batch+1)))
		if batch == 4 {
			stop()
			stop = e.startManager()
		}
	}
	var left heraldv1.WebhookDeliveryList
	g.Eventually(func() int {
		g.Expect(k8sClient.List(context.Background(), &left, client.InNamespace(e.ns))).To(Succeed())
		return len(left.Items)
	}).WithTimeout(20*time.Second).Should(Equal(5), "all but the last batch garbage-collected")
	ep := e.waitForCalls("app", int64(rcv.count()), int64(rcv.failedPayloads()))
	g.Expect(ep.Status.Statistics.Calls).To(Equal(int64(40)))
	g.Expect(ep.Status.Statistics.Users).To(Equal(int64(40)))
	g.Expect(ep.Status.Compaction).NotTo(BeNil())
}

func TestInvalidSigningSecretHoldsDeliveriesPending(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv := e.receiver(e.clock, statuses(200))
	e.secret("signing", "not-a-standard-webhooks-secret")
	e.endpoint("app", rcv.URL, withSecret("signing"))
	g.Eventually(func() *metav1.Condition {
		return meta.FindStatusCondition(e.getEndpoint("app").Status.Conditions, heraldv1.ConditionReady)
	}).WithTimeout(20 * time.Second).Should(And(
		HaveField("Status", metav1.ConditionFalse),
		HaveField("Reason", heraldv1.ReasonSigningSecretInvalid),
		HaveField("Message", ContainSubstring(`does not start with "whsec_"`))))
	e.delivery("d", "app", testPayload)
	e.waitFor("d", "Pending with SigningSecretInvalid", func(d *heraldv1.WebhookDelivery) bool {
		c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered)
		return d.Status.Phase == heraldv1.DeliveryPending && c != nil && c.Reason == heraldv1.ReasonSigningSecretInvalid
	})
	g.Expect(rcv.count()).To(BeZero(), "nothing is sent unsigned")
	g.Expect(e.getEndpoint("app").Status.Conditions).NotTo(BeEmpty())
}

func TestIssueReportsAreDeletedAfterTheWindow(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv, _ := e.payloadReceiver()
	e.endpoint("app", rcv.URL, withBackoff(), withSuspension(heraldv1.SuspensionPolicy{Window: &metav1.Duration{Duration: time.Hour}}))
	report := &heraldv1.WebhookIssueReport{
		ObjectMeta: metav1.ObjectMeta{Name: "report"},
		Spec:       heraldv1.WebhookIssueReportSpec{EndpointRef: heraldv1.EndpointReference{Name: "app"}, User: "u-1"},
	}
	e.create(report)
	e.waitForStats("app", "one user reporting", func(s *heraldv1.EndpointStatistics) bool { return s.UsersReporting == 1 })

	// A report's time is its creation timestamp, set by the API server on
	// the real clock.
	e.clock.SetTime(report.CreationTimestamp.Add(time.Hour + time.Minute))
	e.sendBatch("app", "later", 1, 0) // any change makes herald look again
	g.Eventually(func() bool {
		var r heraldv1.WebhookIssueReport
		return apierrors.IsNotFound(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "report"}, &r))
	}).WithTimeout(20*time.Second).Should(BeTrue(), "the report outlived its window")
	e.waitForStats("app", "no user reporting", func(s *heraldv1.EndpointStatistics) bool { return s.UsersReporting == 0 })
}
