package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/controllers"
	"github.com/herald-operator/herald/internal/notify"
	"github.com/herald-operator/herald/internal/smtptest"
)

// smtpServer runs an SMTP server on 127.0.0.1 until the test ends, and sets
// the env's mailer to send to it (call it before startManager, so that the
// server outlives the manager).
func (e *env) smtpServer() *smtptest.Backend {
	e.t.Helper()
	box := &smtptest.Backend{}
	host, port := smtptest.Start(e.t, box, smtptest.Options{})
	e.mailer = notify.NewMailer(notify.SMTPConfig{
		Host:     host,
		Port:     port,
		From:     "herald@example.com",
		StartTLS: notify.StartTLSNever,
	})
	return box
}

// email is a received message, parsed.
type email struct {
	smtptest.Message
	header  mail.Header
	subject string // decoded
	body    string // decoded from quoted-printable, LF line ends
}

func parseEmail(t *testing.T, m smtptest.Message) email {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("parsing a received message: %v\n%s", err, m.Data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decoding Subject %q: %v", msg.Header.Get("Subject"), err)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q, want quoted-printable", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("decoding the quoted-printable body: %v\n%s", err, m.Data)
	}
	return email{Message: m, header: msg.Header, subject: subject, body: strings.ReplaceAll(string(body), "\r\n", "\n")}
}

func emailsOf(t *testing.T, b *smtptest.Backend) []email {
	t.Helper()
	var out []email
	for _, m := range b.Messages() {
		out = append(out, parseEmail(t, m))
	}
	return out
}

func (e *env) subjects(box *smtptest.Backend) []string {
	var s []string
	for _, m := range emailsOf(e.t, box) {
		s = append(s, m.subject)
	}
	return s
}

// waitForEmails waits until the server has received exactly n messages and
// checks that no more come for a second.
func (e *env) waitForEmails(box *smtptest.Backend, n int) []email {
	e.t.Helper()
	e.g.Eventually(box.Count).WithTimeout(30*time.Second).WithPolling(20*time.Millisecond).
		Should(BeNumerically(">=", n), func() string { return fmt.Sprintf("subjects so far: %q", e.subjects(box)) })
	e.g.Consistently(box.Count).WithTimeout(time.Second).WithPolling(20*time.Millisecond).
		Should(Equal(n), func() string { return fmt.Sprintf("subjects: %q", e.subjects(box)) })
	return emailsOf(e.t, box)
}

// listedDelivery matches the delivery names a failed-deliveries digest lists
// ("1. name", "2. name", …).
var listedDelivery = regexp.MustCompile(`(?m)^\d+\. (\S+)$`)

func listedDeliveries(body string) []string {
	var names []string
	for _, m := range listedDelivery.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	return names
}

func deliveryNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return names
}

var testContacts = []string{"ops@example.com", "dev@example.com"}

func withContacts(addrs ...string) func(*heraldv1.WebhookEndpoint) {
	return func(ep *heraldv1.WebhookEndpoint) { ep.Spec.ContactEmails = addrs }
}

// checkAddressed checks that the message came from herald and went to both
// contacts, in the envelope and in the header.
func checkAddressed(g Gomega, m email) {
	g.Expect(m.From).To(Equal("herald@example.com"))
	g.Expect(m.To).To(ConsistOf(testContacts))
	to, err := m.header.AddressList("To")
	g.Expect(err).NotTo(HaveOccurred())
	var addrs []string
	for _, a := range to {
		addrs = append(addrs, a.Address)
	}
	g.Expect(addrs).To(ConsistOf(testContacts))
	g.Expect(m.header.Get("From")).To(ContainSubstring("herald@example.com"))
}

// waitForFailed waits until each named delivery has failed after one attempt
// and returns the earliest and latest of their completion times.
func (e *env) waitForFailed(names []string) (oldest, newest time.Time) {
	e.t.Helper()
	for _, name := range names {
		d := e.waitForPhase(name, heraldv1.DeliveryFailed, 1)
		e.g.Expect(d.Status.CompletionTime).NotTo(BeNil(), "completionTime of %s", name)
		done := d.Status.CompletionTime.Time
		if oldest.IsZero() || done.Before(oldest) {
			oldest = done
		}
		if done.After(newest) {
			newest = done
		}
	}
	return oldest, newest
}

func TestNotificationDigestOfFailedDeliveries(t *testing.T) {
	e := newEnv(t)
	g := e.g
	box := e.smtpServer()
	e.startManager()
	rcv, _ := e.payloadReceiver()
	e.endpoint("app", rcv.URL, withBackoff(), withContacts(testContacts...),
		withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](10000)}))

	// A burst of 30 failures, all at the same instant of the fake clock.
	first := deliveryNames("first", 30)
	e.sendBatch("app", "first", 30, 30)
	oldest, newest := e.waitForFailed(first)
	g.Expect(newest).To(BeTemporally("==", oldest), "the burst fails at one instant")
	g.Expect(oldest).To(BeTemporally("==", e.start))
	e.waitForCalls("app", 30, 30)
	g.Consistently(box.Count).WithTimeout(time.Second).Should(BeZero(), "no email before the digest interval has passed")

	// The digest is due the digest interval after the oldest failure.
	e.stepTo(oldest.Add(testDigestInterval))
	msgs := e.waitForEmails(box, 1)
	m := msgs[0]
	checkAddressed(g, m)
	ref := e.ns + "/app"
	g.Expect(m.subject).To(Equal(fmt.Sprintf("herald: 30 deliveries to %s failed", ref)))
	g.Expect(m.body).To(HavePrefix(fmt.Sprintf("30 webhook deliveries to endpoint %s failed in the last 5m.\n", ref)))
	g.Expect(listedDeliveries(m.body)).To(ConsistOf(first), m.body)
	g.Expect(m.body).To(ContainSubstring("   Attempts:   1\n"))
	g.Expect(m.body).To(ContainSubstring("   Event:      user.logout\n"))
	g.Expect(m.body).To(ContainSubstring("   User:       first-user-7\n"))
	g.Expect(m.body).To(ContainSubstring("   Last error: HTTP 500"))
	g.Expect(m.body).To(ContainSubstring("   Failed at:  " + oldest.UTC().Format(time.RFC3339) + "\n"))
	g.Expect(m.body).To(ContainSubstring("kubectl get deliveries -n " + e.ns))
	g.Eventually(func() *metav1.MicroTime { return e.getEndpoint("app").Status.LastFailureDigestTime }).
		WithTimeout(30*time.Second).Should(And(Not(BeNil()), HaveField("Time", BeTemporally("==", oldest.Add(testDigestInterval-10*time.Second)))),
		"the digest's cutoff trails its sending by 10 s, for deliveries not yet in the cache")

	// Five more failures, now: one more digest, of those five only.
	second := deliveryNames("second", 5)
	e.sendBatch("app", "second", 5, 5)
	oldest2, _ := e.waitForFailed(second)
	g.Expect(oldest2).To(BeTemporally("==", oldest.Add(testDigestInterval)))
	e.waitForCalls("app", 35, 35)
	g.Consistently(box.Count).WithTimeout(time.Second).Should(Equal(1), "no second email before its interval has passed")
	e.stepTo(oldest2.Add(testDigestInterval))
	msgs = e.waitForEmails(box, 2)
	m = msgs[1]
	checkAddressed(g, m)
	g.Expect(m.subject).To(Equal(fmt.Sprintf("herald: 5 deliveries to %s failed", ref)))
	g.Expect(listedDeliveries(m.body)).To(ConsistOf(second), m.body)
	g.Expect(e.eventReasonsOf("WebhookEndpoint", "app", "")).NotTo(ContainElement("NotificationFailed"))
}

// suspendedEndpoint creates an endpoint (with the contacts) that four failed
// calls suspend, makes them, and waits until it is suspended.
func (e *env) suspendedEndpoint(name string) *heraldv1.WebhookEndpoint {
	e.t.Helper()
	rcv, _ := e.payloadReceiver()
	e.endpoint(name, rcv.URL, withBackoff(), withContacts(testContacts...),
		withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](4)}))
	e.sendBatch(name, name+"-f", 4, 4)
	e.g.Eventually(func() *metav1.Condition { return suspendedCondition(e.getEndpoint(name)) }).
		WithTimeout(30 * time.Second).Should(And(
		HaveField("Status", metav1.ConditionTrue),
		HaveField("Reason", heraldv1.ReasonFailureRateExceeded),
		HaveField("Message", "4 of 4 calls failed (100%) in the last 72h; limit 25%")))
	return e.getEndpoint(name)
}

// touchLater makes the endpoint controller look at the endpoint again: a
// delivery that is Held, and an annotation change.
func (e *env) touchLater(name string) {
	e.t.Helper()
	e.delivery(name+"-later", name, `{"n":99}`)
	e.waitForPhase(name+"-later", heraldv1.DeliveryHeld, 0)
	e.patchEndpoint(name, func(ep *heraldv1.WebhookEndpoint) {
		if ep.Annotations == nil {
			ep.Annotations = map[string]string{}
		}
		ep.Annotations["touch"] = fmt.Sprint(time.Now().UnixNano())
	})
}

func TestNotificationOfSuspension(t *testing.T) {
	e := newEnv(t)
	g := e.g
	box := e.smtpServer()
	e.startManager()

	e.suspendedEndpoint("app")
	msgs := e.waitForEmails(box, 1)
	m := msgs[0]
	checkAddressed(g, m)
	ref := e.ns + "/app"
	g.Expect(m.subject).To(Equal(fmt.Sprintf("herald: webhook endpoint %s is suspended", ref)))
	g.Expect(m.body).To(HavePrefix(fmt.Sprintf("Webhook endpoint %s is suspended: herald has stopped calling it.\n", ref)))
	g.Expect(m.body).To(ContainSubstring("Endpoint: " + ref + "\n"))
	g.Expect(m.body).To(ContainSubstring("Reason:   " + heraldv1.ReasonFailureRateExceeded + "\n"))
	g.Expect(m.body).To(ContainSubstring("\n4 of 4 calls failed (100%) in the last 72h; limit 25%\n"))
	g.Expect(m.body).To(ContainSubstring(fmt.Sprintf("kubectl annotate webhookendpoint app -n %s %s=", e.ns, heraldv1.ResumeAnnotation)))
	g.Eventually(func() *metav1.MicroTime { return e.getEndpoint("app").Status.SuspensionNotifiedTime }).
		WithTimeout(30 * time.Second).ShouldNot(BeNil())

	// Later reconciles of the still-suspended endpoint send nothing more.
	e.touchLater("app")
	g.Consistently(box.Count).WithTimeout(time.Second).WithPolling(20*time.Millisecond).Should(Equal(1),
		func() string { return fmt.Sprintf("subjects: %q", e.subjects(box)) })
	g.Expect(e.eventReasonsOf("WebhookEndpoint", "app", "")).NotTo(ContainElement("NotificationFailed"))
}

// A contact address the mail server refuses does not keep the email from
// the others, nor make them get it again: it gets a Warning Event.
func TestNotificationWithARefusedContact(t *testing.T) {
	e := newEnv(t)
	g := e.g
	box := e.smtpServer()
	box.RejectRcpt = "gone@example.com"
	e.startManager()
	rcv, _ := e.payloadReceiver()
	e.endpoint("app", rcv.URL, withBackoff(), withContacts("ops@example.com", "gone@example.com"),
		withSuspension(heraldv1.SuspensionPolicy{MinimumCalls: ptr.To[int32](4)}))
	e.sendBatch("app", "f", 4, 4)

	msgs := e.waitForEmails(box, 1)
	g.Expect(box.Messages()[0].To).To(Equal([]string{"ops@example.com"}))
	g.Expect(msgs[0].subject).To(Equal(fmt.Sprintf("herald: webhook endpoint %s/app is suspended", e.ns)))
	g.Eventually(func() *metav1.MicroTime { return e.getEndpoint("app").Status.SuspensionNotifiedTime }).
		WithTimeout(30 * time.Second).ShouldNot(BeNil())
	g.Eventually(func() []string { return e.eventMessagesOf("WebhookEndpoint", "app", controllers.EventNotifyFailed) }).
		WithTimeout(30 * time.Second).Should(ContainElement(And(
		ContainSubstring("emailing the suspension: the mail server refused some of spec.contactEmails"),
		ContainSubstring("smtp RCPT TO <gone@example.com>: 550"))))

	e.touchLater("app")
	g.Consistently(box.Count).WithTimeout(time.Second).WithPolling(20*time.Millisecond).Should(Equal(1), "sent once")
}

// eventMessagesOf lists the notes of the Events about an object with one
// reason.
func (e *env) eventMessagesOf(kind, name, reason string) []string {
	var events eventsv1.EventList
	e.g.Expect(k8sClient.List(context.Background(), &events, client.InNamespace(e.ns))).To(Succeed())
	var notes []string
	for _, ev := range events.Items {
		if ev.Regarding.Kind == kind && ev.Regarding.Name == name && ev.Reason == reason {
			notes = append(notes, ev.Note)
		}
	}
	return notes
}

func TestSuspensionWithoutMailer(t *testing.T) {
	e := newEnv(t)
	g := e.g
	e.startManager() // e.mailer is nil: no SMTP settings

	e.suspendedEndpoint("app")
	g.Eventually(func() []string { return e.eventReasonsOf("WebhookEndpoint", "app", corev1.EventTypeWarning) }).
		WithTimeout(30 * time.Second).Should(ContainElement(EventSuspendedReason))
	e.touchLater("app")
	ep := e.getEndpoint("app")
	g.Expect(ep.Status.SuspensionNotifiedTime).To(BeNil())
	g.Expect(suspendedCondition(ep).Status).To(Equal(metav1.ConditionTrue))
	g.Consistently(func() []string { return e.eventReasonsOf("WebhookEndpoint", "app", "") }).
		WithTimeout(time.Second).ShouldNot(ContainElement("NotificationFailed"))
}
