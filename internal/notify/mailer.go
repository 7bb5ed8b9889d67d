// Package notify emails an endpoint's contacts when its deliveries fail or it
// is suspended.
//
// It is plain I/O with no Kubernetes client: SMTPConfig and Mailer send a
// Message over SMTP (net/smtp), and FailedDeliveriesMessage and
// SuspendedMessage build the messages, with no I/O.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxSubject bounds the length of a subject, before encoding, so that its
// header line stays well under SMTP's 998-character limit.
const maxSubject = 400

// Message is one mail.
type Message struct {
	// To are the recipients, each an address such as "ops@example.com" or
	// "Zoë <zoe@example.com>".
	To []string
	// Subject may contain any UTF-8 text, but no CR or LF.
	Subject string
	// Body is plain UTF-8 text; it is sent quoted-printable.
	Body string
}

// Mailer sends messages through one SMTP server. It is safe for concurrent
// use: each Send opens its own connection.
type Mailer struct {
	cfg SMTPConfig

	// tlsConfig is used for STARTTLS; nil verifies the server's certificate
	// for cfg.Host against the system roots. Tests set it.
	tlsConfig *tls.Config
	// now returns the time for the Date header and Message-ID.
	now func() time.Time
}

// NewMailer returns a Mailer for cfg. The configuration is checked by each
// Send (see SMTPConfig.Validate).
func NewMailer(cfg SMTPConfig) *Mailer {
	return &Mailer{cfg: cfg, now: time.Now}
}

// Send delivers msg to the mail server: EHLO, STARTTLS (per StartTLS), AUTH
// PLAIN (when Username is set), MAIL FROM, RCPT TO for each recipient, DATA
// and QUIT, over one connection. The whole conversation is bounded by ctx and
// by the configured Timeout.
//
// A recipient the server refuses does not keep the message from the
// others: it goes to every recipient the server accepts, and Send returns a
// *RecipientsRefusedError naming the refused ones (one mistyped address in
// a contact list must not silence the whole list). When the server refuses
// every recipient, nothing is sent and the error names each. Any other
// error names the step that failed, e.g. "smtp DATA: 554 ...". Once the
// server has accepted the message at the end of DATA, Send returns nil (or
// the refused recipients) even if QUIT then fails, so that a retry does not
// send it twice.
//
// Header values are checked before connecting: addresses must parse with
// net/mail, and no header value may contain CR or LF (header injection).
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	cfg := m.cfg.withDefaults()
	if !cfg.Enabled() {
		return errors.New("smtp: not configured: Host and From are required")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	from, err := parseAddress(cfg.From)
	if err != nil {
		return fmt.Errorf("smtp: From: %w", err)
	}
	to, err := parseRecipients(msg.To)
	if err != nil {
		return err
	}
	data, err := m.compose(from, to, msg)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	return m.converse(ctx, cfg, from.Address, to, data)
}

// converse holds the SMTP conversation.
func (m *Mailer) converse(ctx context.Context, cfg SMTPConfig, from string, to []*mail.Address, data []byte) (err error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return stepError(ctx, "dial "+addr, err)
	}
	// net/smtp has no deadlines of its own: bound every read and write by
	// the context's deadline, and unblock them at once if ctx is canceled.
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, cfg.Host) // reads the greeting
	if err != nil {
		_ = conn.Close()
		return stepError(ctx, "greeting from "+addr, err)
	}
	// On failure, say QUIT if the server is still talking to us (it answered
	// with an error), then close.
	defer func() {
		var tpErr *textproto.Error
		if err != nil && errors.As(err, &tpErr) {
			_ = c.Quit()
		}
		_ = c.Close()
	}()

	if err := c.Hello(localName()); err != nil {
		return stepError(ctx, "EHLO", err)
	}

	isTLS := false
	if offered, _ := c.Extension("STARTTLS"); offered && cfg.StartTLS != StartTLSNever {
		tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
		if m.tlsConfig != nil {
			tlsConfig = m.tlsConfig.Clone()
		}
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = cfg.Host
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return stepError(ctx, "STARTTLS", err)
		}
		isTLS = true
	} else if cfg.StartTLS == StartTLSAlways {
		return fmt.Errorf("smtp STARTTLS: server %s does not offer STARTTLS, and StartTLS is %q", addr, StartTLSAlways)
	}

	if cfg.Username != "" {
		if !isTLS && !isLocalhost(cfg.Host) {
			return fmt.Errorf("smtp AUTH: refusing to send credentials to %s without TLS "+
				"(the server did not offer STARTTLS; plain text is only allowed to localhost)", addr)
		}
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return fmt.Errorf("smtp AUTH: server %s does not offer AUTH", addr)
		}
		if !slices.ContainsFunc(strings.Fields(mechs), func(s string) bool { return strings.EqualFold(s, "PLAIN") }) {
			return fmt.Errorf("smtp AUTH: server %s offers AUTH %s, not PLAIN", addr, mechs)
		}
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, cfg.Host)); err != nil {
			return stepError(ctx, "AUTH PLAIN", err)
		}
	}

	if err := c.Mail(from); err != nil {
		return stepError(ctx, "MAIL FROM <"+from+">", err)
	}
	refused := &RecipientsRefusedError{}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt.Address); err != nil {
			var reply *textproto.Error
			if !errors.As(err, &reply) {
				return stepError(ctx, "RCPT TO <"+rcpt.Address+">", err) // the connection, not the address
			}
			refused.Refused = append(refused.Refused, RefusedRecipient{Address: rcpt.Address, Err: stepError(ctx, "RCPT TO <"+rcpt.Address+">", err)})
		}
	}
	if len(refused.Refused) == len(to) {
		refused.All = true
		return refused
	}
	w, err := c.Data()
	if err != nil {
		return stepError(ctx, "DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		return stepError(ctx, "DATA", err)
	}
	if err := w.Close(); err != nil { // the server's verdict on the message
		return stepError(ctx, "DATA", err)
	}
	// The message is accepted: a failing QUIT does not make it undelivered.
	_ = c.Quit()
	if len(refused.Refused) > 0 {
		return refused
	}
	return nil
}

// RecipientsRefusedError is returned by Send when the mail server refused
// recipients: the message went to the others, unless All.
type RecipientsRefusedError struct {
	Refused []RefusedRecipient
	// All is set when every recipient was refused and nothing was sent.
	All bool
}

// RefusedRecipient is one address the server refused, with its reply.
type RefusedRecipient struct {
	Address string
	Err     error
}

func (e *RecipientsRefusedError) Error() string {
	parts := make([]string, len(e.Refused))
	for i, r := range e.Refused {
		parts[i] = r.Err.Error()
	}
	what := "sent to the other recipients"
	if e.All {
		what = "not sent: every recipient was refused"
	}
	return fmt.Sprintf("%s (%s)", strings.Join(parts, "; "), what)
}

// Unwrap gives the server's replies, so that errors.As finds a
// *textproto.Error.
func (e *RecipientsRefusedError) Unwrap() []error {
	errs := make([]error, len(e.Refused))
	for i, r := range e.Refused {
		errs[i] = r.Err
	}
	return errs
}

// stepError names the step that failed; when the context ended, it says so
// too, so that errors.Is(err, context.DeadlineExceeded) holds.
func stepError(ctx context.Context, step string, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		// The connection's deadline is the context's: its timeout may come
		// a moment before the context's timer fires.
		var netErr net.Error
		if deadline, ok := ctx.Deadline(); ok && errors.As(err, &netErr) && netErr.Timeout() && !time.Now().Before(deadline) {
			ctxErr = context.DeadlineExceeded
		}
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("smtp %s: %w: %w", step, ctxErr, err)
	}
	return fmt.Errorf("smtp %s: %w", step, err)
}

// parseRecipients parses and de-duplicates the recipients.
func parseRecipients(list []string) ([]*mail.Address, error) {
	var to []*mail.Address
	seen := map[string]bool{}
	for _, s := range list {
		a, err := parseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("smtp: To: %w", err)
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			continue
		}
		seen[key] = true
		to = append(to, a)
	}
	if len(to) == 0 {
		return nil, errors.New("smtp: no recipients")
	}
	return to, nil
}

// compose renders the message: headers, a blank line, and the body
// quoted-printable, with CRLF line ends.
func (m *Mailer) compose(from *mail.Address, to []*mail.Address, msg Message) ([]byte, error) {
	if hasCRLF(msg.Subject) {
		return nil, fmt.Errorf("smtp: Subject contains CR or LF")
	}
	if len(msg.Subject) > maxSubject {
		return nil, fmt.Errorf("smtp: Subject is longer than %d bytes", maxSubject)
	}
	now := m.now()
	msgID, err := messageID(now, from.Address)
	if err != nil {
		return nil, err
	}

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("From", from.String())
	// One recipient per line (folded), so that many contacts do not make
	// an overlong line.
	addrs := make([]string, len(to))
	for i, a := range to {
		addrs[i] = a.String()
	}
	header("To", strings.Join(addrs, ",\r\n "))
	// Encoded words may be folded between one another.
	header("Subject", strings.ReplaceAll(mime.QEncoding.Encode("utf-8", msg.Subject), "?= =?", "?=\r\n =?"))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: no out-of-office replies to herald.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")

	qp := quotedprintable.NewWriter(&b)
	body := msg.Body
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, fmt.Errorf("smtp: encoding body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("smtp: encoding body: %w", err)
	}
	return b.Bytes(), nil
}

// messageID returns a unique Message-ID in the sender's domain.
func messageID(now time.Time, from string) (string, error) {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("smtp: Message-ID: %w", err)
	}
	domain := "herald.localhost"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	return fmt.Sprintf("<%d.%s@%s>", now.Unix(), hex.EncodeToString(r[:]), domain), nil
}

// localName is the name said in EHLO: the host name (the pod's name) when it
// is usable, else "localhost".
func localName() string {
	name, err := os.Hostname()
	if err != nil || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "localhost"
	}
	return name
}
