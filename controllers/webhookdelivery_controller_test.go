package controllers_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/sender"
)

const (
	testSecret        = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testRotatedSecret = "whsec_c2Vjb25kLXNlY3JldC0xMjM0NTY3OA=="
	testPayload       = `{"user":{"id":"u-42","name":"Zoë"},"sessions":[1,2,3],"reason":"logout requested"}`
)

func withSecret(name string) func(*heraldv1.WebhookEndpoint) {
	return func(ep *heraldv1.WebhookEndpoint) {
		ep.Spec.SigningSecretRef = &heraldv1.SecretKeyRef{Name: name}
	}
}

func withBackoff(waits ...time.Duration) func(*heraldv1.WebhookEndpoint) {
	return func(ep *heraldv1.WebhookEndpoint) {
		ep.Spec.Retry = &heraldv1.RetryPolicy{Backoff: []metav1.Duration{}}
		for _, w := range waits {
			ep.Spec.Retry.Backoff = append(ep.Spec.Retry.Backoff, metav1.Duration{Duration: w})
		}
	}
}

func (e *env) secret(name, value string) {
	e.t.Helper()
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{"secret": []byte(value)}})
}

func TestFirstTrySuccessIsOneCallAndOneStatusWrite(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv := e.receiver(e.clock, statuses(http.StatusOK))
	e.secret("signing", testSecret)
	e.endpoint("app", rcv.URL+"/hooks/logout", withSecret("signing"), func(ep *heraldv1.WebhookEndpoint) {
		ep.Spec.Headers = []heraldv1.HTTPHeader{{Name: "Authorization", Value: "Bearer t0ken"}}
	})
	g.Eventually(func() bool {
		var ep heraldv1.WebhookEndpoint
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "app"}, &ep)).To(Succeed())
		return meta.IsStatusConditionTrue(ep.Status.Conditions, heraldv1.ConditionReady)
	}).WithTimeout(20 * time.Second).Should(BeTrue())

	// Watch the delivery from before it exists, to count its status writes.
	var list heraldv1.WebhookDeliveryList
	w, err := k8sClient.Watch(context.Background(), &list, client.InNamespace(e.ns))
	g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()

	e.delivery("logout-1", "app", testPayload)
	d := e.waitForPhase("logout-1", heraldv1.DeliverySucceeded, 1)

	g.Consistently(rcv.count).WithTimeout(time.Second).Should(Equal(1), "exactly one call")
	modified := 0
	drain := time.After(time.Second)
loop:
	for {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Modified {
				modified++
			}
		case <-drain:
			break loop
		}
	}
	g.Expect(modified).To(Equal(1), "a first-try success takes exactly one status write")

	c := rcv.got()[0]
	g.Expect(c.method).To(Equal(http.MethodPost))
	g.Expect(c.body).To(Equal(d.Spec.Payload.Raw), "the exact payload bytes")
	g.Expect(c.body).To(MatchJSON(testPayload))
	g.Expect(c.header.Get("Content-Type")).To(Equal("application/json"))
	g.Expect(c.header.Get("User-Agent")).To(HavePrefix("herald/"))
	g.Expect(c.header.Get("Authorization")).To(Equal("Bearer t0ken"))
	g.Expect(c.header.Get("webhook-id")).To(Equal(string(d.UID)))
	g.Expect(c.header.Get("webhook-timestamp")).To(Equal(fmt.Sprint(e.start.Unix())))
	g.Expect(verifyStandardWebhook(testSecret, c.header.Get("webhook-id"), c.header.Get("webhook-timestamp"),
		c.body, c.header.Get("webhook-signature"))).To(Succeed())

	a := d.Status.Attempts[0]
	g.Expect(a.Number).To(Equal(int32(1)))
	g.Expect(a.StatusCode).To(Equal(int32(200)))
	g.Expect(a.Error).To(BeEmpty())
	g.Expect(a.StartTime.Time).To(BeTemporally("==", e.start), "sub-second precision kept")
	g.Expect(d.Status.CompletionTime).NotTo(BeNil())
	g.Expect(d.Status.NextAttemptTime).To(BeNil())
	g.Expect(meta.IsStatusConditionTrue(d.Status.Conditions, heraldv1.ConditionDelivered)).To(BeTrue())
}

func TestSpecIDIsTheWebhookID(t *testing.T) {
	e := newEnv(t)
	e.startManager()
	rcv := e.receiver(e.clock, statuses(http.StatusNoContent))
	e.endpoint("app", rcv.URL)
	e.delivery("d", "app", `{"a":1}`, func(d *heraldv1.WebhookDelivery) { d.Spec.ID = "evt_2Zx81" })
	e.waitForPhase("d", heraldv1.DeliverySucceeded, 1)
	e.g.Expect(rcv.got()[0].header.Get("webhook-id")).To(Equal("evt_2Zx81"))
	e.g.Expect(rcv.got()[0].header.Get("webhook-signature")).To(BeEmpty(), "no secret, no signature")
}

// The receiver takes 2.5 s (on the fake clock) to answer, so the test can
// tell "after the attempt ended" from "after it started".
func slowStatuses(clk *timerClock, took time.Duration, codes ...int) func(int, http.ResponseWriter) {
	answer := statuses(codes...)
	return func(n int, w http.ResponseWriter) {
		clk.Step(took)
		answer(n, w)
	}
}

func TestFailFailSucceedFollowsTheScheduleFromEachAttemptsEnd(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	const took = 2500 * time.Millisecond
	rcv := e.receiver(e.clock, slowStatuses(e.clock, took, 500, 503, 200))
	e.secret("signing", testSecret)
	e.endpoint("app", rcv.URL, withSecret("signing"))
	e.delivery("d", "app", testPayload)

	d := e.waitForPhase("d", heraldv1.DeliveryRetrying, 1)
	end1 := d.Status.Attempts[0].EndTime().Time
	g.Expect(end1).To(BeTemporally("==", e.start.Add(took)))
	g.Expect(d.Status.Attempts[0].StatusCode).To(Equal(int32(500)))
	g.Expect(d.Status.NextAttemptTime.Time).To(BeTemporally("==", end1.Add(60*time.Second)))

	// Not a moment early.
	e.clock.SetTime(end1.Add(60*time.Second - time.Microsecond))
	g.Consistently(rcv.count).WithTimeout(500 * time.Millisecond).Should(Equal(1))
	e.stepTo(end1.Add(60 * time.Second))
	d = e.waitForPhase("d", heraldv1.DeliveryRetrying, 2)
	g.Expect(rcv.got()[1].at).To(BeTemporally("==", end1.Add(60*time.Second)), "2nd call exactly 60 s after the 1st ended")
	end2 := d.Status.Attempts[1].EndTime().Time
	g.Expect(d.Status.NextAttemptTime.Time).To(BeTemporally("==", end2.Add(600*time.Second)))

	e.stepTo(end2.Add(600 * time.Second))
	d = e.waitForPhase("d", heraldv1.DeliverySucceeded, 3)
	calls := rcv.got()
	g.Expect(calls).To(HaveLen(3))
	g.Expect(calls[2].at).To(BeTemporally("==", end2.Add(600*time.Second)), "3rd call exactly 600 s after the 2nd ended")
	for i, c := range calls {
		g.Expect(c.header.Get("webhook-id")).To(Equal(string(d.UID)), "same webhook-id on attempt %d", i+1)
		g.Expect(c.body).To(Equal(calls[0].body), "same bytes on attempt %d", i+1)
		g.Expect(verifyStandardWebhook(testSecret, c.header.Get("webhook-id"), c.header.Get("webhook-timestamp"), c.body,
			c.header.Get("webhook-signature"))).To(Succeed())
	}
	g.Expect(calls[1].header.Get("webhook-timestamp")).To(Equal(fmt.Sprint(end1.Add(60 * time.Second).Unix())))
	for i, a := range d.Status.Attempts {
		g.Expect(a.Number).To(Equal(int32(i + 1)))
		g.Expect(a.Duration.Duration).To(Equal(took))
	}
	g.Expect(d.Status.CompletionTime.Time).To(BeTemporally("==", end2.Add(600*time.Second+took)))
}

func TestThreeFailuresFailTheDeliveryWithAWarningAndNoFourthCall(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv := e.receiver(e.clock, statuses(http.StatusInternalServerError))
	e.endpoint("app", rcv.URL)
	e.delivery("d", "app", testPayload)

	d := e.waitForPhase("d", heraldv1.DeliveryRetrying, 1)
	e.stepTo(d.Status.Attempts[0].EndTime().Add(60 * time.Second))
	d = e.waitForPhase("d", heraldv1.DeliveryRetrying, 2)
	e.stepTo(d.Status.Attempts[1].EndTime().Add(600 * time.Second))
	d = e.waitForPhase("d", heraldv1.DeliveryFailed, 3)

	g.Expect(d.Status.NextAttemptTime).To(BeNil())
	g.Expect(d.Status.CompletionTime).NotTo(BeNil())
	cond := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered)
	g.Expect(cond.Reason).To(Equal(heraldv1.ReasonRetriesExhausted))
	g.Expect(cond.Message).To(ContainSubstring("HTTP 500"))

	g.Eventually(func() []string { return e.eventReasons("d") }).WithTimeout(10 * time.Second).
		Should(ContainElement("DeliveryFailed"))

	e.clock.Step(72 * time.Hour)
	g.Consistently(rcv.count).WithTimeout(time.Second).Should(Equal(3), "no 4th call, ever")
}

// eventReasons lists the reasons of the Warning Events about a delivery.
func (e *env) eventReasons(delivery string) []string {
	return e.eventReasonsOf("WebhookDelivery", delivery, corev1.EventTypeWarning)
}

// eventReasonsOf lists the reasons of the Events about an object, of one
// type ("" for any).
func (e *env) eventReasonsOf(kind, name, eventType string) []string {
	var events eventsv1.EventList
	e.g.Expect(k8sClient.List(context.Background(), &events, client.InNamespace(e.ns))).To(Succeed())
	var reasons []string
	for _, ev := range events.Items {
		if ev.Regarding.Kind == kind && ev.Regarding.Name == name && (eventType == "" || ev.Type == eventType) {
			reasons = append(reasons, ev.Reason)
		}
	}
	return reasons
}

func TestOutcomes(t *testing.T) {
	e := newEnv(t)
	e.startManager()

	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	e.g.Expect(err).NotTo(HaveOccurred())
	refusedURL := "http://" + closed.Addr().String()
	e.g.Expect(closed.Close()).To(Succeed())

	tests := []struct {
		name        string
		respond     func(int, http.ResponseWriter)
		url         string // instead of the receiver's
		wantPhase   heraldv1.DeliveryPhase
		wantCode    int32
		wantErrText string
	}{
		{name: "200", respond: statuses(200), wantPhase: heraldv1.DeliverySucceeded, wantCode: 200},
		{name: "201", respond: statuses(201), wantPhase: heraldv1.DeliverySucceeded, wantCode: 201},
		{name: "204", respond: statuses(204), wantPhase: heraldv1.DeliverySucceeded, wantCode: 204},
		{name: "299", respond: statuses(299), wantPhase: heraldv1.DeliverySucceeded, wantCode: 299},
		{name: "301", respond: func(_ int, w http.ResponseWriter) {
			w.Header().Set("Location", "http://example.invalid/elsewhere")
			w.WriteHeader(http.StatusMovedPermanently)
		}, wantPhase: heraldv1.DeliveryFailed, wantCode: 301, wantErrText: "redirects are not followed"},
		{name: "404", respond: statuses(404), wantPhase: heraldv1.DeliveryFailed, wantCode: 404, wantErrText: "HTTP 404"},
		{name: "500", respond: func(_ int, w http.ResponseWriter) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte("database unavailable\n"))
		}, wantPhase: heraldv1.DeliveryFailed, wantCode: 500, wantErrText: "HTTP 500 Internal Server Error: database unavailable"},
		{name: "timeout", respond: func(int, http.ResponseWriter) {
			select {
			case <-hang:
			case <-time.After(5 * time.Second):
			}
		},
			wantPhase: heraldv1.DeliveryFailed, wantErrText: "timeout of 300ms"},
		{name: "refused", url: refusedURL, wantPhase: heraldv1.DeliveryFailed, wantErrText: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := e.sub(t)
			g := e.g
			url := tt.url
			var rcv *receiver
			if url == "" {
				rcv = e.receiver(e.clock, tt.respond)
				url = rcv.URL
			}
			name := "ep-" + tt.name
			e.endpoint(name, url, withBackoff(), func(ep *heraldv1.WebhookEndpoint) {
				ep.Spec.Timeout = &metav1.Duration{Duration: 300 * time.Millisecond}
			})
			e.delivery("d-"+tt.name, name, `{"n":1}`)
			d := e.waitForPhase("d-"+tt.name, tt.wantPhase, 1)
			a := d.Status.Attempts[0]
			g.Expect(a.StatusCode).To(Equal(tt.wantCode))
			if tt.wantErrText == "" {
				g.Expect(a.Error).To(BeEmpty())
			} else {
				g.Expect(a.Error).To(ContainSubstring(tt.wantErrText))
			}
			if rcv != nil {
				g.Expect(rcv.count()).To(Equal(1))
			}
		})
	}
}

func TestRotatedSecretsSignTwice(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv := e.receiver(e.clock, statuses(200))
	e.secret("signing", testSecret+" "+testRotatedSecret)
	e.endpoint("app", rcv.URL, withSecret("signing"))
	e.delivery("d", "app", testPayload)
	e.waitForPhase("d", heraldv1.DeliverySucceeded, 1)

	c := rcv.got()[0]
	sigs := strings.Split(c.header.Get("webhook-signature"), " ")
	g.Expect(sigs).To(HaveLen(2))
	for i, secret := range []string{testSecret, testRotatedSecret} {
		g.Expect(verifyStandardWebhook(secret, c.header.Get("webhook-id"), c.header.Get("webhook-timestamp"), c.body, sigs[i])).
			To(Succeed(), "signature %d verifies with secret %d alone", i+1, i+1)
	}
}

func TestRestartKeepsTheRetryTime(t *testing.T) {
	e := newEnv(t)
	g := e.g
	stop := e.startManager()
	rcv := e.receiver(e.clock, slowStatuses(e.clock, time.Second, 500, 200))
	e.endpoint("app", rcv.URL)
	e.delivery("d", "app", testPayload)
	d := e.waitForPhase("d", heraldv1.DeliveryRetrying, 1)
	due := d.Status.Attempts[0].EndTime().Add(60 * time.Second)

	stop()
	e.clock.Step(30 * time.Second)
	e.startManager()
	g.Consistently(rcv.count).WithTimeout(time.Second).Should(Equal(1), "the restart neither resets nor skips the wait")

	e.stepTo(due)
	e.waitForPhase("d", heraldv1.DeliverySucceeded, 2)
	g.Expect(rcv.got()[1].at).To(BeTemporally("==", due))
	e.clock.Step(time.Hour)
	g.Consistently(rcv.count).WithTimeout(time.Second).Should(Equal(2), "the 2nd attempt is made only once")
}

func TestWaitsForAMissingEndpointAndSecret(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv := e.receiver(e.clock, statuses(200))

	e.delivery("d", "app", testPayload)
	d := e.waitFor("d", "Pending for its endpoint", func(d *heraldv1.WebhookDelivery) bool {
		c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered)
		return d.Status.Phase == heraldv1.DeliveryPending && c != nil && c.Reason == heraldv1.ReasonEndpointNotFound
	})
	g.Expect(d.Status.Attempts).To(BeEmpty())

	e.endpoint("app", rcv.URL, withSecret("signing"))
	e.waitFor("d", "Pending for its secret", func(d *heraldv1.WebhookDelivery) bool {
		c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered)
		return d.Status.Phase == heraldv1.DeliveryPending && c != nil && c.Reason == heraldv1.ReasonSigningSecretNotFound
	})
	g.Expect(rcv.count()).To(Equal(0))

	e.secret("signing", testSecret)
	e.waitForPhase("d", heraldv1.DeliverySucceeded, 1)
	c := rcv.got()[0]
	g.Expect(verifyStandardWebhook(testSecret, c.header.Get("webhook-id"), c.header.Get("webhook-timestamp"), c.body,
		c.header.Get("webhook-signature"))).To(Succeed())
}

func TestSuspendHoldsWithoutSpendingAttempts(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv := e.receiver(e.clock, statuses(500, 200))
	e.endpoint("app", rcv.URL, func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspend = true })
	e.delivery("fresh", "app", testPayload)
	e.waitForPhase("fresh", heraldv1.DeliveryHeld, 0)
	g.Consistently(rcv.count).WithTimeout(500 * time.Millisecond).Should(Equal(0))

	setSuspend := func(v bool) {
		e.patchEndpoint("app", func(ep *heraldv1.WebhookEndpoint) { ep.Spec.Suspend = v })
	}
	setSuspend(false)
	d := e.waitForPhase("fresh", heraldv1.DeliveryRetrying, 1) // the receiver's first answer is a 500
	due := d.Status.Attempts[0].EndTime().Add(60 * time.Second)

	// Suspended while retrying: held, attempt count kept, the due time passes
	// without a call.
	setSuspend(true)
	e.waitForPhase("fresh", heraldv1.DeliveryHeld, 1)
	e.clock.SetTime(due.Add(time.Hour))
	g.Consistently(rcv.count).WithTimeout(time.Second).Should(Equal(1))
	d = e.get("fresh")
	g.Expect(d.Status.NextAttemptTime.Time).To(BeTemporally("==", due))

	// Resumed after the due time: the retry goes at once.
	setSuspend(false)
	e.waitForPhase("fresh", heraldv1.DeliverySucceeded, 2)
	g.Expect(rcv.got()[1].at).To(BeTemporally("==", due.Add(time.Hour)))
}

func TestAddressGuardRefusesWithoutCalling(t *testing.T) {
	e := newEnv(t)
	g := e.g
	guard, err := sender.NewGuard(nil) // the manager's default: nothing opened
	g.Expect(err).NotTo(HaveOccurred())
	e.guard = guard
	e.startManager()
	rcv := e.receiver(e.clock, statuses(http.StatusOK))
	e.endpoint("internal", rcv.URL, withBackoff())
	e.delivery("d", "internal", testPayload)

	d := e.waitForPhase("d", heraldv1.DeliveryFailed, 1)
	g.Expect(d.Status.Attempts[0].Error).To(ContainSubstring("127.0.0.1 is in a blocked network (loopback)"))
	g.Expect(d.Status.Attempts[0].StatusCode).To(BeZero())
	g.Expect(rcv.count()).To(BeZero(), "no byte reaches the receiver")
	g.Eventually(func() []string { return e.eventReasons("d") }).WithTimeout(10 * time.Second).
		Should(ContainElement("DeliveryFailed"))
}

func TestRetryAfterLengthensTheWait(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager()
	rcv := e.receiver(e.clock, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "300")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	e.endpoint("app", rcv.URL)
	e.delivery("d", "app", testPayload)
	d := e.waitForPhase("d", heraldv1.DeliveryRetrying, 1)
	g.Expect(d.Status.Attempts[0].RetryAfter.Duration).To(Equal(300 * time.Second))
	due := d.Status.Attempts[0].EndTime().Add(300 * time.Second)
	g.Expect(d.Status.NextAttemptTime.Time).To(BeTemporally("==", due), "the receiver's 300 s, not the schedule's 60 s")

	e.clock.SetTime(d.Status.Attempts[0].EndTime().Add(60 * time.Second))
	g.Consistently(rcv.count).WithTimeout(500 * time.Millisecond).Should(Equal(1))
	e.stepTo(due)
	e.waitForPhase("d", heraldv1.DeliverySucceeded, 2)
	g.Expect(rcv.got()[1].at).To(BeTemporally("==", due))
}

func TestOversizedPayloadWaitsUntilTheLimitIsRaised(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.maxPayloadBytes = 1024
	stop := e.startManager()
	rcv := e.receiver(e.clock, statuses(http.StatusOK))
	e.endpoint("app", rcv.URL)
	big := fmt.Sprintf(`{"blob":%q}`, strings.Repeat("x", 2000))
	e.delivery("big", "app", big)
	e.waitFor("big", "Pending with PayloadTooLarge", func(d *heraldv1.WebhookDelivery) bool {
		c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered)
		return d.Status.Phase == heraldv1.DeliveryPending && c != nil && c.Reason == heraldv1.ReasonPayloadTooLarge &&
			strings.Contains(c.Message, "limit of 1024")
	})
	g.Eventually(func() []string { return e.eventReasons("big") }).WithTimeout(10 * time.Second).
		Should(ContainElement("PayloadTooLarge"))
	g.Expect(rcv.count()).To(BeZero())

	stop()
	e.maxPayloadBytes = 0 // the default, 256 KiB
	e.startManager()
	e.waitForPhase("big", heraldv1.DeliverySucceeded, 1)
	g.Expect(rcv.got()[0].body).To(MatchJSON(big))
}
