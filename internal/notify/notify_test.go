package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-operator/herald/internal/smtptest"
)

// selfSignedTLS returns a server TLS config with a certificate for 127.0.0.1
// and a client config that trusts it.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herald test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

func testConfig(host string, port int) SMTPConfig {
	return SMTPConfig{
		Host:     host,
		Port:     port,
		From:     "Herald Bot <herald@example.com>",
		StartTLS: StartTLSAuto,
		Timeout:  5 * time.Second,
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func onlyMessage(t *testing.T, be *smtptest.Backend) smtptest.Message {
	t.Helper()
	msgs := be.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// decodeBody returns the body of m decoded from quoted-printable, with LF
// line ends.
func decodeBody(t *testing.T, m *mail.Message) string {
	t.Helper()
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", cte)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decoding quoted-printable body: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// --- Send ---

func TestSendDeliversMessage(t *testing.T) {
	be := &smtptest.Backend{}
	host, port := smtptest.Start(t, be, smtptest.Options{})

	m := NewMailer(testConfig(host, port))
	fixed := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	m.now = func() time.Time { return fixed }

	body := "Hello Zoë,\n\n" +
		".\n" + // a lone dot must not end DATA
		"..starts with dots\n" +
		"trailing spaces   \n" +
		"a=b, 100% sure\n" +
		strings.Repeat("long line ", 20) + "end\n"
	subject := "Zoë: endpoint default/billing-app suspended ✓"
	msg := Message{
		To:      []string{"ops@example.com", "Zoë Ünal <zoe@example.com>", "OPS@example.com"},
		Subject: subject,
		Body:    body,
	}
	if err := m.Send(testContext(t), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := onlyMessage(t, be)
	if got.From != "herald@example.com" {
		t.Errorf("MAIL FROM = %q, want herald@example.com", got.From)
	}
	if want := []string{"ops@example.com", "zoe@example.com"}; !slices.Equal(got.To, want) {
		t.Errorf("RCPT TO = %q, want %q (duplicates once)", got.To, want)
	}
	if got.TLS || got.AuthUser != "" {
		t.Errorf("TLS = %v, auth = %q; want plain, no auth", got.TLS, got.AuthUser)
	}

	// 7-bit, no overlong line.
	for i, c := range got.Data {
		if c >= 0x80 {
			t.Fatalf("byte %d of DATA is not ASCII: %q", i, got.Data[max(0, i-20):i+1])
		}
	}
	head, rawBody, _ := strings.Cut(string(got.Data), "\r\n\r\n")
	for line := range strings.SplitSeq(head, "\r\n") {
		if len(line) > 998 {
			t.Errorf("header line longer than 998 characters: %q", line)
		}
	}
	for line := range strings.SplitSeq(rawBody, "\r\n") {
		if len(line) > 76 {
			t.Errorf("quoted-printable line longer than 76 characters: %q", line)
		}
	}

	parsed, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatalf("mail.ReadMessage: %v\n%s", err, got.Data)
	}
	h := parsed.Header

	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Address != "herald@example.com" || from.Name != "Herald Bot" {
		t.Errorf("From = %q (%v), want Herald Bot <herald@example.com>", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil {
		t.Fatalf("To: %v", err)
	}
	if len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Address != "zoe@example.com" || to[1].Name != "Zoë Ünal" {
		t.Errorf("To = %v", to)
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("raw Subject = %q, want Q-encoded", raw)
	}
	if s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || s != subject {
		t.Errorf("Subject = %q (%v), want %q", s, err, subject)
	}
	if d, err := h.Date(); err != nil || !d.Equal(fixed) {
		t.Errorf("Date = %v (%v), want %v", d, err, fixed)
	}
	if id := h.Get("Message-ID"); !regexp.MustCompile(`^<[0-9]+\.[0-9a-f]{24}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	if v := h.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "text/plain" || params["charset"] != "utf-8" {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
	if v := h.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", v)
	}
	if got := decodeBody(t, parsed); got != body {
		t.Errorf("body = %q, want %q", got, body)
	}
}

func TestSendAuthPlain(t *testing.T) {
	be := &smtptest.Backend{User: "herald", Pass: "s3cret"}
	host, port := smtptest.Start(t, be, smtptest.Options{AllowInsecureAuth: true})

	cfg := testConfig(host, port)
	cfg.Username, cfg.Password = "herald", "s3cret"
	if err := NewMailer(cfg).Send(testContext(t), Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := onlyMessage(t, be); got.AuthUser != "herald" {
		t.Errorf("authenticated as %q, want herald", got.AuthUser)
	}

	cfg.Password = "wrong"
	err := NewMailer(cfg).Send(testContext(t), Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"})
	if err == nil || !strings.Contains(err.Error(), "smtp AUTH PLAIN: 535") {
		t.Errorf("Send with a wrong password: %v, want smtp AUTH PLAIN: 535 ...", err)
	}

	// Without Username, no AUTH: this server then refuses MAIL FROM.
	cfg.Username, cfg.Password = "", ""
	err = NewMailer(cfg).Send(testContext(t), Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"})
	if err == nil || !strings.Contains(err.Error(), "smtp MAIL FROM <herald@example.com>: 502") {
		t.Errorf("Send without credentials: %v, want smtp MAIL FROM ...: 502", err)
	}
	if _, attempts := be.Counts(); attempts != 2 {
		t.Errorf("server saw %d AUTH attempts, want 2", attempts)
	}
	if n := len(be.Messages()); n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
}

func TestSendAuthNeedsTLSExceptToLocalhost(t *testing.T) {
	// 127.0.0.2 is a loopback address, but not "localhost" to net/smtp's
	// rule: credentials may only go there over TLS.
	be := &smtptest.Backend{User: "herald", Pass: "s3cret"}
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	_ = l.Close()
	host, port := smtptest.Start(t, be, smtptest.Options{Addr: l.Addr().String(), AllowInsecureAuth: true})

	cfg := testConfig(host, port)
	cfg.Username, cfg.Password = "herald", "s3cret"
	err = NewMailer(cfg).Send(testContext(t), Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"})
	if err == nil || !strings.Contains(err.Error(), "smtp AUTH: refusing to send credentials") {
		t.Errorf("Send: %v, want a refusal to send credentials without TLS", err)
	}
	if _, attempts := be.Counts(); attempts != 0 {
		t.Errorf("server saw %d AUTH attempts, want 0", attempts)
	}

	cfg.StartTLS = StartTLSNever
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "credentials are only sent over TLS") {
		t.Errorf("Validate with Username and StartTLS never: %v", err)
	}
}

func TestSendSTARTTLS(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	msg := Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"}

	t.Run("auto uses STARTTLS when offered, then AUTH", func(t *testing.T) {
		be := &smtptest.Backend{User: "herald", Pass: "s3cret"}
		host, port := smtptest.Start(t, be, smtptest.Options{TLS: serverTLS}) // AUTH only over TLS
		cfg := testConfig(host, port)
		cfg.Username, cfg.Password = "herald", "s3cret"
		m := NewMailer(cfg)
		m.tlsConfig = clientTLS
		if err := m.Send(testContext(t), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := onlyMessage(t, be); !got.TLS || got.AuthUser != "herald" {
			t.Errorf("TLS = %v, auth = %q; want TLS and herald", got.TLS, got.AuthUser)
		}
	})

	t.Run("always", func(t *testing.T) {
		be := &smtptest.Backend{}
		host, port := smtptest.Start(t, be, smtptest.Options{TLS: serverTLS})
		cfg := testConfig(host, port)
		cfg.StartTLS = StartTLSAlways
		m := NewMailer(cfg)
		m.tlsConfig = clientTLS
		if err := m.Send(testContext(t), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := onlyMessage(t, be); !got.TLS {
			t.Error("message came in plain text")
		}
	})

	t.Run("never", func(t *testing.T) {
		be := &smtptest.Backend{}
		host, port := smtptest.Start(t, be, smtptest.Options{TLS: serverTLS})
		cfg := testConfig(host, port)
		cfg.StartTLS = StartTLSNever
		if err := NewMailer(cfg).Send(testContext(t), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := onlyMessage(t, be); got.TLS {
			t.Error("message came over TLS")
		}
	})

	t.Run("always, not offered", func(t *testing.T) {
		be := &smtptest.Backend{}
		host, port := smtptest.Start(t, be, smtptest.Options{})
		cfg := testConfig(host, port)
		cfg.StartTLS = StartTLSAlways
		err := NewMailer(cfg).Send(testContext(t), msg)
		if err == nil || !strings.Contains(err.Error(), "smtp STARTTLS: server") {
			t.Errorf("Send: %v, want smtp STARTTLS: server ... does not offer STARTTLS", err)
		}
		if n := len(be.Messages()); n != 0 {
			t.Errorf("server received %d messages in plain text", n)
		}
	})

	t.Run("auto, untrusted certificate fails rather than falling back", func(t *testing.T) {
		be := &smtptest.Backend{}
		host, port := smtptest.Start(t, be, smtptest.Options{TLS: serverTLS})
		err := NewMailer(testConfig(host, port)).Send(testContext(t), msg) // system roots
		var certErr *tls.CertificateVerificationError
		if err == nil || !strings.Contains(err.Error(), "smtp STARTTLS:") || !errors.As(err, &certErr) {
			t.Errorf("Send: %v, want smtp STARTTLS: certificate error", err)
		}
		if n := len(be.Messages()); n != 0 {
			t.Errorf("server received %d messages", n)
		}
	})
}

func TestSendRcptRejected(t *testing.T) {
	be := &smtptest.Backend{RejectRcpt: "nobody@example.com"}
	host, port := smtptest.Start(t, be, smtptest.Options{})
	mailer := NewMailer(testConfig(host, port))

	// One refused address does not keep the message from the others.
	err := mailer.Send(testContext(t), Message{
		To:      []string{"ops@example.com", "nobody@example.com"},
		Subject: "hi",
		Body:    "hi",
	})
	var refused *RecipientsRefusedError
	if !errors.As(err, &refused) || refused.All || len(refused.Refused) != 1 || refused.Refused[0].Address != "nobody@example.com" {
		t.Fatalf("Send: %v, want nobody@example.com refused and the message sent to the others", err)
	}
	if !strings.Contains(err.Error(), "smtp RCPT TO <nobody@example.com>: 550") || !strings.Contains(err.Error(), "sent to the other recipients") {
		t.Errorf("error %q does not say which address was refused and that the others got it", err)
	}
	var tpErr *textproto.Error
	if !errors.As(err, &tpErr) || tpErr.Code != 550 {
		t.Errorf("error %v does not wrap the server's 550 reply", err)
	}
	msgs := be.Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].To, []string{"ops@example.com"}) {
		t.Fatalf("server received %+v, want one message to ops@example.com", msgs)
	}

	// Every address refused: nothing is sent.
	err = mailer.Send(testContext(t), Message{To: []string{"nobody@example.com"}, Subject: "hi", Body: "hi"})
	if !errors.As(err, &refused) || !refused.All || !strings.Contains(err.Error(), "every recipient was refused") {
		t.Fatalf("Send: %v, want every recipient refused", err)
	}
	if n := len(be.Messages()); n != 1 {
		t.Errorf("server received %d messages in all, want still 1", n)
	}
}

// silentServer accepts connections and never says anything.
func silentServer(t *testing.T) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	tcp := l.Addr().(*net.TCPAddr)
	return tcp.IP.String(), tcp.Port
}

func TestSendTimeout(t *testing.T) {
	host, port := silentServer(t)
	msg := Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"}

	t.Run("configured Timeout", func(t *testing.T) {
		cfg := testConfig(host, port)
		cfg.Timeout = 300 * time.Millisecond
		start := time.Now()
		err := NewMailer(cfg).Send(context.Background(), msg)
		elapsed := time.Since(start)
		if err == nil {
			t.Fatal("Send to a silent server succeeded")
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "smtp greeting") {
			t.Errorf("Send: %v, want a deadline error at the greeting", err)
		}
		if elapsed > 5*time.Second {
			t.Errorf("Send took %v with a 300ms timeout", elapsed)
		}
	})

	t.Run("context canceled", func(t *testing.T) {
		cfg := testConfig(host, port)
		cfg.Timeout = time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := NewMailer(cfg).Send(ctx, msg)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v, want context.Canceled", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("Send took %v after its context was canceled", elapsed)
		}
	})
}

func TestSendConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	err = NewMailer(testConfig("127.0.0.1", port)).Send(testContext(t), Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"})
	if err == nil || !strings.Contains(err.Error(), "smtp dial 127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("Send: %v, want smtp dial ...", err)
	}
}

func TestSendRefusesBadHeaders(t *testing.T) {
	be := &smtptest.Backend{}
	host, port := smtptest.Start(t, be, smtptest.Options{})

	ok := Message{To: []string{"ops@example.com"}, Subject: "hi", Body: "hi"}
	tests := []struct {
		name   string
		modify func(*SMTPConfig, *Message)
		want   string
	}{
		{"CRLF in Subject", func(_ *SMTPConfig, m *Message) { m.Subject = "hi\r\nBcc: evil@example.com" }, "Subject contains CR or LF"},
		{"LF in Subject", func(_ *SMTPConfig, m *Message) { m.Subject = "hi\nBcc: evil@example.com" }, "Subject contains CR or LF"},
		{"CR in Subject", func(_ *SMTPConfig, m *Message) { m.Subject = "hi\rBcc: evil@example.com" }, "Subject contains CR or LF"},
		{"CRLF in To", func(_ *SMTPConfig, m *Message) {
			m.To = []string{"ops@example.com\r\nBcc: evil@example.com"}
		}, "contains CR or LF"},
		{"CRLF in display name", func(_ *SMTPConfig, m *Message) {
			m.To = []string{"\"Ops\r\nBcc: evil@example.com\" <ops@example.com>"}
		}, "contains CR or LF"},
		{"CRLF in From", func(c *SMTPConfig, _ *Message) { c.From = "herald@example.com\r\nBcc: evil@example.com" }, "contains CR or LF"},
		{"not an address", func(_ *SMTPConfig, m *Message) { m.To = []string{"not an address"} }, "smtp: To: address"},
		{"two addresses in one", func(_ *SMTPConfig, m *Message) { m.To = []string{"a@example.com, b@example.com"} }, "smtp: To: address"},
		{"non-ASCII address", func(_ *SMTPConfig, m *Message) { m.To = []string{"zoë@example.com"} }, "non-ASCII"},
		{"no recipients", func(_ *SMTPConfig, m *Message) { m.To = nil }, "no recipients"},
		{"overlong subject", func(_ *SMTPConfig, m *Message) { m.Subject = strings.Repeat("x", 1000) }, "Subject is longer"},
		{"not configured", func(c *SMTPConfig, _ *Message) { c.From = "" }, "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, msg := testConfig(host, port), ok
			tt.modify(&cfg, &msg)
			err := NewMailer(cfg).Send(testContext(t), msg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Send: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if sessions, _ := be.Counts(); sessions != 0 {
		t.Errorf("server saw %d sessions; bad messages must be refused before connecting", sessions)
	}
}

// The builders' messages go through a real conversation intact.
func TestSendBuiltMessages(t *testing.T) {
	be := &smtptest.Backend{}
	host, port := smtptest.Start(t, be, smtptest.Options{})
	m := NewMailer(testConfig(host, port))

	ep := Endpoint{Namespace: "default", Name: "billing-app", URL: "https://billing.example.com/hooks", Contacts: []string{"Zoë <zoe@example.com>"}}
	built := []Message{
		FailedDeliveriesMessage(ep, failedDeliveries(150), 15*time.Minute),
		SuspendedMessage(ep, "FailureRateExceeded", "12 of 20 calls (60%) failed in the last 10m; the limit is 50%.", ""),
	}
	for _, msg := range built {
		if err := m.Send(testContext(t), msg); err != nil {
			t.Fatalf("Send(%q): %v", msg.Subject, err)
		}
	}
	msgs := be.Messages()
	if len(msgs) != len(built) {
		t.Fatalf("server received %d messages, want %d", len(msgs), len(built))
	}
	for i, got := range msgs {
		if !slices.Equal(got.To, []string{"zoe@example.com"}) {
			t.Errorf("RCPT TO = %q", got.To)
		}
		parsed, err := mail.ReadMessage(bytes.NewReader(got.Data))
		if err != nil {
			t.Fatal(err)
		}
		if body := decodeBody(t, parsed); body != built[i].Body {
			t.Errorf("body of %q changed in transit:\n%s", built[i].Subject, body)
		}
	}
}

// --- message builders ---

func failedDeliveries(n int) []FailedDelivery {
	at := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	out := make([]FailedDelivery, n)
	for i := range out {
		out[i] = FailedDelivery{
			Name:           fmt.Sprintf("billing-app-%03d", i),
			Event:          "invoice.paid",
			User:           "Zoë",
			Attempts:       5,
			LastError:      "503 Service Unavailable: upstream down",
			CompletionTime: at.Add(time.Duration(i) * time.Second),
		}
	}
	return out
}

func TestFailedDeliveriesMessage(t *testing.T) {
	ep := Endpoint{
		Namespace: "default",
		Name:      "billing-app",
		URL:       "https://user:hunter2@billing.example.com/hooks?token=abc#frag",
		Contacts:  []string{"ops@example.com", "Zoë <zoe@example.com>"},
	}
	listedRe := regexp.MustCompile(`(?m)^\d+\. (\S+)$`)

	tests := []struct {
		n           int
		subject     string
		wantListed  int
		wantMoreMsg string
	}{
		{1, "herald: 1 delivery to default/billing-app failed", 1, ""},
		{3, "herald: 3 deliveries to default/billing-app failed", 3, ""},
		{100, "herald: 100 deliveries to default/billing-app failed", 100, ""},
		{101, "herald: 101 deliveries to default/billing-app failed", 100, "... and 1 more (101 in all)."},
		{250, "herald: 250 deliveries to default/billing-app failed", 100, "... and 150 more (250 in all)."},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			failed := failedDeliveries(tt.n)
			msg := FailedDeliveriesMessage(ep, failed, 15*time.Minute)

			if msg.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", msg.Subject, tt.subject)
			}
			if !slices.Equal(msg.To, ep.Contacts) {
				t.Errorf("To = %q, want %q", msg.To, ep.Contacts)
			}
			var listed []string
			for _, m := range listedRe.FindAllStringSubmatch(msg.Body, -1) {
				listed = append(listed, m[1])
			}
			var want []string
			for _, d := range failed[:tt.wantListed] {
				want = append(want, d.Name)
			}
			if !slices.Equal(listed, want) {
				t.Errorf("listed %d deliveries %q..., want %d", len(listed), listed[:min(3, len(listed))], len(want))
			}
			if tt.n > tt.wantListed && strings.Contains(msg.Body, failed[tt.wantListed].Name) {
				t.Errorf("body names delivery %s beyond the first %d", failed[tt.wantListed].Name, tt.wantListed)
			}
			if tt.wantMoreMsg != "" && !strings.Contains(msg.Body, tt.wantMoreMsg) {
				t.Errorf("body lacks %q", tt.wantMoreMsg)
			}
			if tt.wantMoreMsg == "" && strings.Contains(msg.Body, "more (") {
				t.Error("body says there are more")
			}
			for _, s := range []string{
				"failed in the last 15m.",
				"Event:      invoice.paid",
				"User:       Zoë",
				"Attempts:   5",
				"Failed at:  2025-03-14T15:09:26Z",
				"Last error: 503 Service Unavailable: upstream down",
				"URL:      https://user:xxxxx@billing.example.com/hooks?…",
				"kubectl get deliveries -n default\n",
				"kubectl describe delivery NAME -n default\n",
				"kubectl describe delivery billing-app-000 -n default\n",
			} {
				if !strings.Contains(msg.Body, s) {
					t.Errorf("body lacks %q:\n%s", s, msg.Body)
				}
			}
			for _, secret := range []string{"hunter2", "token=abc", "frag"} {
				if strings.Contains(msg.Body, secret) {
					t.Errorf("body shows %q from the URL", secret)
				}
			}
		})
	}
}

func TestFailedDeliveriesMessageDetails(t *testing.T) {
	ep := Endpoint{Namespace: "team-a", Name: "hooks"}
	long := strings.Repeat("é", 2000) // 4000 bytes
	msg := FailedDeliveriesMessage(ep, []FailedDelivery{
		{Name: "d1", LastError: "line one\nline two"},
		{Name: "d2", LastError: long},
	}, 0)
	for _, s := range []string{
		"2 webhook deliveries to endpoint team-a/hooks failed.\n",
		"Last error: line one\n               line two\n",
		"Event:      (none)",
		"Failed at:  (unknown)",
		"…(truncated)",
	} {
		if !strings.Contains(msg.Body, s) {
			t.Errorf("body lacks %q:\n%s", s, msg.Body)
		}
	}
	if strings.Contains(msg.Body, long) {
		t.Error("overlong error not truncated")
	}
	if !utf8.ValidString(msg.Body) {
		t.Error("body is not valid UTF-8 after truncation")
	}
	if strings.Contains(msg.Body, "URL:") {
		t.Error("body shows an empty URL")
	}
}

func TestSuspendedMessage(t *testing.T) {
	ep := Endpoint{Namespace: "default", Name: "billing-app", URL: "https://billing.example.com/hooks", Contacts: []string{"ops@example.com"}}
	figures := "12 of 20 calls (60%) failed in the last 10m; the limit is 50%."
	annotate := `kubectl annotate webhookendpoint billing-app -n default webhooks.herald.dev/resume="$(date -u +%Y-%m-%dT%H:%M:%SZ)" --overwrite`

	tests := []struct {
		name       string
		reason     string
		annotation string
		want       []string
		notWant    []string
	}{
		{
			name:   "failure rate, default annotation",
			reason: "FailureRateExceeded",
			want:   []string{"Reason:   FailureRateExceeded", figures, annotate},
		},
		{
			name:       "explicit annotation",
			reason:     "IssueReportsExceeded",
			annotation: "example.com/resume",
			want:       []string{`kubectl annotate webhookendpoint billing-app -n default example.com/resume="$(date -u +%Y-%m-%dT%H:%M:%SZ)" --overwrite`},
			notWant:    []string{"webhooks.herald.dev/resume"},
		},
		{
			name:    "suspended by spec",
			reason:  "SuspendedBySpec",
			want:    []string{`kubectl patch webhookendpoint billing-app -n default --type=merge -p '{"spec":{"suspend":false}}'`},
			notWant: []string{"kubectl annotate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := SuspendedMessage(ep, tt.reason, figures, tt.annotation)
			if want := "herald: webhook endpoint default/billing-app is suspended"; msg.Subject != want {
				t.Errorf("Subject = %q, want %q", msg.Subject, want)
			}
			if !slices.Equal(msg.To, ep.Contacts) {
				t.Errorf("To = %q", msg.To)
			}
			common := []string{
				"default/billing-app is suspended",
				"URL:      https://billing.example.com/hooks\n",
				figures,
				"held, not dropped: nothing is lost",
				"kubectl describe webhookendpoint billing-app -n default",
				"kubectl get deliveries -n default",
			}
			for _, s := range append(common, tt.want...) {
				if !strings.Contains(msg.Body, s) {
					t.Errorf("body lacks %q:\n%s", s, msg.Body)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(msg.Body, s) {
					t.Errorf("body has %q:\n%s", s, msg.Body)
				}
			}
		})
	}
}

// --- configuration ---

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestSMTPConfigFromEnv(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c := SMTPConfigFromEnv(envFunc(nil))
		want := SMTPConfig{Port: 587, StartTLS: "auto", Timeout: DefaultTimeout}
		if c != want {
			t.Errorf("got %+v, want %+v", c, want)
		}
		if c.Enabled() {
			t.Error("Enabled with nothing set")
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})

	t.Run("all set", func(t *testing.T) {
		c := SMTPConfigFromEnv(envFunc(map[string]string{
			"HERALD_SMTP_HOST":     " smtp.example.com ",
			"HERALD_SMTP_PORT":     "2525",
			"HERALD_SMTP_USERNAME": "herald",
			"HERALD_SMTP_PASSWORD": " pass word ",
			"HERALD_SMTP_FROM":     "Herald <herald@example.com>",
			"HERALD_SMTP_STARTTLS": "ALWAYS",
		}))
		want := SMTPConfig{
			Host: "smtp.example.com", Port: 2525, Username: "herald", Password: " pass word ",
			From: "Herald <herald@example.com>", StartTLS: "always", Timeout: DefaultTimeout,
		}
		if c != want {
			t.Errorf("got %+v, want %+v", c, want)
		}
		if !c.Enabled() {
			t.Error("not Enabled")
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})

	t.Run("bad port", func(t *testing.T) {
		for _, p := range []string{"abc", "0", "70000", "-1"} {
			c := SMTPConfigFromEnv(envFunc(map[string]string{"HERALD_SMTP_HOST": "smtp.example.com", "HERALD_SMTP_FROM": "h@example.com", "HERALD_SMTP_PORT": p}))
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "HERALD_SMTP_PORT=\""+p+"\"") {
				t.Errorf("port %q: Validate: %v", p, err)
			}
		}
	})
}

func TestValidate(t *testing.T) {
	base := SMTPConfig{Host: "smtp.example.com", Port: 587, From: "herald@example.com", StartTLS: "auto"}
	tests := []struct {
		name   string
		modify func(*SMTPConfig)
		want   string // empty: valid
	}{
		{"valid", func(*SMTPConfig) {}, ""},
		{"zero config", func(c *SMTPConfig) { *c = SMTPConfig{} }, ""},
		{"zero port and StartTLS use defaults", func(c *SMTPConfig) { c.Port, c.StartTLS = 0, "" }, ""},
		{"IPv6 host", func(c *SMTPConfig) { c.Host = "::1" }, ""},
		{"auth", func(c *SMTPConfig) { c.Username, c.Password = "u", "p" }, ""},
		{"auth in plain text to localhost", func(c *SMTPConfig) { c.Host, c.StartTLS, c.Username, c.Password = "localhost", "never", "u", "p" }, ""},
		{"no host", func(c *SMTPConfig) { c.Host = "" }, "Host (HERALD_SMTP_HOST) is required"},
		{"host with port", func(c *SMTPConfig) { c.Host = "smtp.example.com:25" }, "must not contain a port"},
		{"host with CRLF", func(c *SMTPConfig) { c.Host = "smtp\r\n.example.com" }, "not a valid host name"},
		{"no from", func(c *SMTPConfig) { c.From = "" }, "From (HERALD_SMTP_FROM) is required"},
		{"bad from", func(c *SMTPConfig) { c.From = "herald" }, "From: address \"herald\""},
		{"port out of range", func(c *SMTPConfig) { c.Port = 70000 }, "Port 70000 is out of range"},
		{"username without password", func(c *SMTPConfig) { c.Username = "u" }, "Password is empty"},
		{"password without username", func(c *SMTPConfig) { c.Password = "p" }, "Username is empty"},
		{"bad StartTLS", func(c *SMTPConfig) { c.StartTLS = "sometimes" }, `StartTLS "sometimes" is not one of`},
		{"auth in plain text", func(c *SMTPConfig) { c.StartTLS, c.Username, c.Password = "never", "u", "p" }, "credentials are only sent over TLS"},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -time.Second }, "Timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigStringRedactsPassword(t *testing.T) {
	c := SMTPConfig{Host: "smtp.example.com", Username: "herald", Password: "hunter2", From: "h@example.com"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, c); strings.Contains(s, "hunter2") || !strings.Contains(s, "smtp.example.com") {
			t.Errorf("%s: %s", format, s)
		}
	}
}

func TestPasswordFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content, want string
		wantErr             bool
	}{
		{"plain", "s3cret", "s3cret", false},
		{"newline", "s3cret\n", "s3cret", false},
		{"crlf", "s3cret\r\n", "s3cret", false},
		{"inner and outer spaces kept", " s3 cret ", " s3 cret ", false},
		{"empty", "", "", true},
		{"only newline", "\n", "", true},
		{"too large", strings.Repeat("x", maxPasswordFile+1), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PasswordFromFile(write(tt.name, tt.content))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("PasswordFromFile = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := PasswordFromFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("PasswordFromFile of a missing file succeeded")
	}
}
