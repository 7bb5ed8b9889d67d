// Package sender makes the HTTP call of one delivery attempt.
//
// One Sender is shared by all workers: its transport keeps idle connections
// per host for reuse (Go's default keeps only two), never follows redirects
// (a 3xx is a failed attempt, by policy) and reads at most a small part of
// any answer, so a receiver can neither redirect herald elsewhere nor make it
// read an endless body.
package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for Options.
const (
	DefaultMaxIdleConnsPerHost = 64
	// maxErrorBody is how much of a failed answer's body is kept in the
	// attempt's error text.
	maxErrorBody = 256
	// maxLocation is how much of a redirect's Location is kept in the
	// attempt's error text.
	maxLocation = 256
	// maxTransportError is how long the text of a transport error may be:
	// some quote what the receiver sent, such as a malformed status line or
	// header of up to MaxResponseHeaderBytes. The attempt's status keeps at
	// most 1024 characters.
	maxTransportError = 512
	// maxDrain is how much of an answer's body is read so that its
	// connection can be reused; a longer body closes the connection.
	maxDrain = 64 << 10
)

// Options configure a Sender.
type Options struct {
	// UserAgent is sent with every call.
	UserAgent string
	// MaxIdleConnsPerHost is how many idle connections are kept per host.
	MaxIdleConnsPerHost int
	// Guard refuses connections to blocked networks; nil refuses by the
	// default rules with nothing allowed.
	Guard *Guard
	// ProxyFromEnvironment sends calls through the HTTP(S)_PROXY of the
	// environment. Off by default: the guard then checks the proxy's
	// address, not the receiver's.
	ProxyFromEnvironment bool
}

// Request is one call.
type Request struct {
	URL     string
	Body    []byte
	Header  http.Header
	Timeout time.Duration
}

// Result is the outcome of one call.
type Result struct {
	// StatusCode is the answer's HTTP status, zero when none came.
	StatusCode int
	// Err says why the call failed; nil for a 2xx answer.
	Err error
	// RetryAfter is the wait a 429 or 503 answer asked for with a
	// Retry-After header (seconds or an HTTP date), zero otherwise.
	RetryAfter time.Duration
}

// Sender makes calls.
type Sender struct {
	client    *http.Client
	userAgent string
}

// New returns a Sender with its own connection pool.
func New(opts Options) *Sender {
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	guard := opts.Guard
	if guard == nil {
		guard = &Guard{}
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: guard.control}
	var proxy func(*http.Request) (*url.URL, error)
	if opts.ProxyFromEnvironment {
		proxy = http.ProxyFromEnvironment
	}
	transport := &http.Transport{
		// Unless told otherwise, a delivery goes straight to the URL its
		// endpoint names.
		Proxy:                  proxy,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           0, // no global cap; the per-host cap bounds it
		MaxIdleConnsPerHost:    opts.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Sender{
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		userAgent: opts.UserAgent,
	}
}

// Send POSTs req.Body to req.URL and reports the outcome. Any 2xx answer is
// success; every other answer and every transport error is a failure.
func (s *Sender) Send(ctx context.Context, req Request) Result {
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return Result{Err: bound(fmt.Errorf("invalid request: %w", err))}
	}
	for name, values := range req.Header {
		httpReq.Header[name] = values
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("User-Agent", s.userAgent)

	resp, err := s.client.Do(httpReq)
	if err != nil {
		return Result{Err: describeTransportError(err, req.Timeout)}
	}
	defer resp.Body.Close() //nolint:errcheck // nothing to do about a failed close

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return Result{StatusCode: resp.StatusCode}
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	res := Result{StatusCode: resp.StatusCode, Err: describeStatus(resp, snippet)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return res
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
// Anything else, or a time in the past, is no request to wait.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(365*24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(value); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func describeStatus(resp *http.Response, snippet []byte) error {
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if text := http.StatusText(resp.StatusCode); text != "" {
		msg += " " + text
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		msg += " (redirects are not followed)"
		if loc := resp.Header.Get("Location"); loc != "" {
			msg += " to " + printable([]byte(loc), maxLocation)
		}
	}
	if body := printable(snippet, maxErrorBody); body != "" {
		msg += ": " + body
	}
	return errors.New(msg)
}

func describeTransportError(err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return fmt.Errorf("no answer within the endpoint's timeout of %s", timeout)
	}
	var urlErr interface{ Unwrap() error }
	if errors.As(err, &urlErr) {
		if inner := urlErr.Unwrap(); inner != nil {
			err = inner
		}
	}
	return bound(err)
}

// bound keeps the text of err printable and at most maxTransportError bytes.
func bound(err error) error {
	msg := err.Error()
	if short := printable([]byte(msg), maxTransportError); short != msg {
		return &boundedError{msg: short, err: err}
	}
	return err
}

// boundedError shortens the text of err; errors.Is and errors.As still see
// err itself.
type boundedError struct {
	msg string
	err error
}

func (e *boundedError) Error() string { return e.msg }
func (e *boundedError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// printable keeps text from the receiver readable in status: valid UTF-8,
// one line, at most limit bytes.
func printable(b []byte, limit int) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	for len(s) > limit {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
