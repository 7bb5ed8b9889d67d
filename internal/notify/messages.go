package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultResumeAnnotation is the annotation that lifts an automatic
// suspension; SuspendedMessage uses it when given none.
const DefaultResumeAnnotation = "webhooks.herald.dev/resume"

// MaxListedDeliveries is how many failed deliveries FailedDeliveriesMessage
// lists; the rest are counted.
const MaxListedDeliveries = 100

// maxErrorText bounds the last error of each listed delivery.
const maxErrorText = 1000

// reasonSuspendedBySpec is the Suspended condition's reason when a person set
// spec.suspend: the resume annotation does not lift it.
const reasonSuspendedBySpec = "SuspendedBySpec"

// Endpoint is what the messages say about a WebhookEndpoint.
type Endpoint struct {
	Namespace string
	Name      string
	URL       string
	// Contacts are the addresses the message goes to.
	Contacts []string
}

// FailedDelivery is one delivery that failed for good.
type FailedDelivery struct {
	Name      string
	Event     string
	User      string
	Attempts  int
	LastError string
	// CompletionTime is when it failed.
	CompletionTime time.Time
}

// FailedDeliveriesMessage returns one message to the endpoint's contacts about
// all of failed, listed in the order given (at most MaxListedDeliveries of
// them, then how many more). interval is the period they failed in, as said
// in the text; zero leaves it out.
func FailedDeliveriesMessage(endpoint Endpoint, failed []FailedDelivery, interval time.Duration) Message {
	ref := endpointRef(endpoint)
	n := len(failed)
	noun := "deliveries"
	if n == 1 {
		noun = "delivery"
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%d webhook %s to endpoint %s failed", n, noun, ref)
	if interval > 0 {
		fmt.Fprintf(&b, " in the last %s", formatDuration(interval))
	}
	b.WriteString(".\n")
	fmt.Fprintf(&b, "Each %s used every attempt its retry schedule allows; herald will not try again.\n\n", singular(noun))
	writeEndpoint(&b, endpoint)

	fmt.Fprintf(&b, "\nFailed %s:\n", noun)
	listed := failed
	if len(listed) > MaxListedDeliveries {
		listed = listed[:MaxListedDeliveries]
	}
	for i, d := range listed {
		fmt.Fprintf(&b, "\n%d. %s\n", i+1, orNone(d.Name))
		fmt.Fprintf(&b, "   Event:      %s\n", orNone(d.Event))
		fmt.Fprintf(&b, "   User:       %s\n", orNone(d.User))
		fmt.Fprintf(&b, "   Attempts:   %d\n", d.Attempts)
		fmt.Fprintf(&b, "   Failed at:  %s\n", formatTime(d.CompletionTime))
		fmt.Fprintf(&b, "   Last error: %s\n", indent(truncate(orNone(d.LastError), maxErrorText), "               "))
	}
	if more := n - len(listed); more > 0 {
		fmt.Fprintf(&b, "\n... and %d more (%d in all).\n", more, n)
	}

	fmt.Fprintf(&b, "\nTo inspect them:\n\n")
	fmt.Fprintf(&b, "  kubectl get deliveries -n %s\n", endpoint.Namespace)
	fmt.Fprintf(&b, "  kubectl describe delivery NAME -n %s\n", endpoint.Namespace)
	if len(listed) > 0 {
		fmt.Fprintf(&b, "\nFor example:\n\n  kubectl describe delivery %s -n %s\n", listed[0].Name, endpoint.Namespace)
	}
	b.WriteString(footer)

	return Message{
		To:      contacts(endpoint),
		Subject: oneLine(fmt.Sprintf("herald: %d %s to %s failed", n, noun, ref)),
		Body:    b.String(),
	}
}

// SuspendedMessage returns the message to the endpoint's contacts saying that
// it is suspended: reason and message are the Suspended condition's (the
// message with its figures), resumeAnnotation the annotation that lifts the
// suspension (DefaultResumeAnnotation when empty).
func SuspendedMessage(endpoint Endpoint, reason, message string, resumeAnnotation string) Message {
	if resumeAnnotation == "" {
		resumeAnnotation = DefaultResumeAnnotation
	}
	ref := endpointRef(endpoint)
	ns, name := endpoint.Namespace, endpoint.Name

	var b strings.Builder
	fmt.Fprintf(&b, "Webhook endpoint %s is suspended: herald has stopped calling it.\n\n", ref)
	writeEndpoint(&b, endpoint)
	fmt.Fprintf(&b, "Reason:   %s\n", orNone(reason))
	if message != "" {
		fmt.Fprintf(&b, "\n%s\n", message)
	}

	b.WriteString("\nDeliveries to this endpoint are held, not dropped: nothing is lost. " +
		"They keep the attempts they have made and go on when the endpoint is resumed.\n")

	if reason == reasonSuspendedBySpec {
		b.WriteString("\nThe endpoint was suspended by setting spec.suspend. To resume it:\n\n")
		fmt.Fprintf(&b, "  kubectl patch webhookendpoint %s -n %s --type=merge -p '{\"spec\":{\"suspend\":false}}'\n", name, ns)
	} else {
		b.WriteString("\nOnce the receiver is fixed, resume the endpoint with:\n\n")
		fmt.Fprintf(&b, "  kubectl annotate webhookendpoint %s -n %s %s=\"$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)\" --overwrite\n", name, ns, resumeAnnotation)
	}

	b.WriteString("\nTo see the endpoint and the held deliveries:\n\n")
	fmt.Fprintf(&b, "  kubectl describe webhookendpoint %s -n %s\n", name, ns)
	fmt.Fprintf(&b, "  kubectl get deliveries -n %s\n", ns)
	b.WriteString(footer)

	return Message{
		To:      contacts(endpoint),
		Subject: oneLine(fmt.Sprintf("herald: webhook endpoint %s is suspended", ref)),
		Body:    b.String(),
	}
}

const footer = "\n-- \nSent by herald because this address is a contact of the endpoint.\n"

func endpointRef(e Endpoint) string {
	if e.Namespace == "" {
		return e.Name
	}
	return e.Namespace + "/" + e.Name
}

func writeEndpoint(b *strings.Builder, e Endpoint) {
	fmt.Fprintf(b, "Endpoint: %s\n", endpointRef(e))
	if e.URL != "" {
		fmt.Fprintf(b, "URL:      %s\n", redactURL(e.URL))
	}
}

// redactURL hides what may be a secret in a URL: the password, the query and
// the fragment.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(not shown)"
	}
	if u.RawQuery != "" {
		u.RawQuery = ""
		u.ForceQuery = true
	}
	u.Fragment, u.RawFragment = "", ""
	s := u.Redacted()
	if strings.HasSuffix(s, "?") {
		s += "…"
	}
	return s
}

func contacts(e Endpoint) []string {
	return append([]string(nil), e.Contacts...)
}

func singular(noun string) string {
	if noun == "deliveries" {
		return "delivery"
	}
	return noun
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format(time.RFC3339)
}

// formatDuration writes d without zero trailing units: 15m, 1h, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " …(truncated)"
}

// indent puts prefix before every line of s but the first.
func indent(s, prefix string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// oneLine replaces CR and LF, which names never contain, so that a subject
// built from them is always a valid header value.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
