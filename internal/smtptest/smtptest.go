// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on a
// TCP socket for tests, as net/http/httptest does for HTTP: it records the
// messages it accepts and can require AUTH PLAIN, offer STARTTLS, or refuse
// a recipient.
package smtptest

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted: its envelope and DATA.
type Message struct {
	From string
	To   []string
	Data []byte
	// TLS is set when it came over STARTTLS; AuthUser names who logged in.
	TLS      bool
	AuthUser string
}

// Backend accepts every message (but what its fields refuse) and records it.
type Backend struct {
	// User and Pass, when set, make the server offer AUTH PLAIN and require
	// it before MAIL FROM.
	User, Pass string
	// RejectRcpt is refused at RCPT TO with 550 5.1.1.
	RejectRcpt string

	mu           sync.Mutex
	sessions     int
	authAttempts int
	msgs         []Message
}

// NewSession implements smtp.Backend.
func (be *Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	be.mu.Lock()
	be.sessions++
	be.mu.Unlock()
	return &session{be: be, conn: c}, nil
}

// Messages returns the messages accepted so far.
func (be *Backend) Messages() []Message {
	be.mu.Lock()
	defer be.mu.Unlock()
	return slices.Clone(be.msgs)
}

// Count returns how many messages were accepted.
func (be *Backend) Count() int { return len(be.Messages()) }

// Counts returns how many connections were opened and AUTH attempted.
func (be *Backend) Counts() (sessions, authAttempts int) {
	be.mu.Lock()
	defer be.mu.Unlock()
	return be.sessions, be.authAttempts
}

type session struct {
	be     *Backend
	conn   *smtp.Conn
	authed string
	cur    Message
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if s.be.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	s.be.mu.Lock()
	s.be.authAttempts++
	s.be.mu.Unlock()
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.be.User || password != s.be.Pass {
			return smtp.ErrAuthFailed
		}
		s.authed = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.be.User != "" && s.authed == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = Message{From: from, TLS: isTLS, AuthUser: s.authed}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.be.RejectRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	s.be.mu.Lock()
	s.be.msgs = append(s.be.msgs, s.cur)
	s.be.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = Message{} }
func (s *session) Logout() error { return nil }

// Options configure the server.
type Options struct {
	Addr              string      // default 127.0.0.1:0
	TLS               *tls.Config // offers STARTTLS when set
	AllowInsecureAuth bool
}

// Start runs an SMTP server for be until the test ends.
func Start(t testing.TB, be *Backend, opts Options) (host string, port int) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", opts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = opts.AllowInsecureAuth
	s.TLSConfig = opts.TLS
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		// Close misses a Serve that has not started yet: closing the
		// listener ends that one too.
		_ = l.Close()
		<-done
	})
	tcp := l.Addr().(*net.TCPAddr)
	return tcp.IP.String(), tcp.Port
}
