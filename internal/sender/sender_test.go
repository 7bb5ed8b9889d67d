package sender

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

const testUserAgent = "herald-test/1.2.3"

// maxErrorText is the bound the tests put on the text of an error for a
// failing status: the status line and the kept start of the body.
const maxErrorText = 300

// maxRedirectErrorText also allows for the kept start of a Location.
const maxRedirectErrorText = 600

// maxTransportErrorText bounds the text of a transport error, which can
// quote what the receiver sent.
const maxTransportErrorText = 512

// newTestSender returns a Sender whose idle connections are closed when the
// test ends, so that no connection outlives the test's servers.
func newTestSender(t *testing.T) *Sender {
	t.Helper()
	// The test servers listen on loopback, which the guard refuses unless
	// it is opened, as --allow-networks does.
	guard, err := NewGuard([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{UserAgent: testUserAgent, Guard: guard})
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// newServer starts an httptest server that is closed when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// checkErrorText fails the test unless msg is at most maxLen bytes, valid
// UTF-8 and one line. The attempt's status keeps at most 1024 characters.
func checkErrorText(t *testing.T, msg string, maxLen int) {
	t.Helper()
	if len(msg) > maxLen {
		t.Errorf("error text is %d bytes, want at most %d: %.400q", len(msg), maxLen, msg)
	}
	if !utf8.ValidString(msg) {
		t.Errorf("error text is not valid UTF-8: %.400q", msg)
	}
	if strings.ContainsAny(msg, "\r\n\u0085\u2028\u2029") {
		t.Errorf("error text is not a single line: %.400q", msg)
	}
}

func TestSendStatus(t *testing.T) {
	tests := []struct {
		code       int
		body       string
		wantErr    bool
		wantInErr  []string
		isRedirect bool
	}{
		{code: 200, body: `{"ok":true}`},
		{code: 201, body: "created"},
		{code: 204},
		{code: 299, body: "odd but 2xx"},
		{code: 301, body: "moved", wantErr: true, isRedirect: true,
			wantInErr: []string{"HTTP 301", "redirects are not followed"}},
		{code: 302, wantErr: true, isRedirect: true,
			wantInErr: []string{"HTTP 302", "redirects are not followed"}},
		{code: 307, wantErr: true, isRedirect: true,
			wantInErr: []string{"HTTP 307", "redirects are not followed"}},
		{code: 308, wantErr: true, isRedirect: true,
			wantInErr: []string{"HTTP 308", "redirects are not followed"}},
		{code: 404, body: "no such hook", wantErr: true,
			wantInErr: []string{"HTTP 404", "no such hook"}},
		{code: 500, body: "boom", wantErr: true,
			wantInErr: []string{"HTTP 500", "boom"}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			var targetHits atomic.Int64
			target := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				targetHits.Add(1)
			})
			location := target.URL + "/elsewhere"
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.isRedirect {
					w.Header().Set("Location", location)
				}
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, tt.body)
			})

			res := newTestSender(t).Send(t.Context(), Request{
				URL:     srv.URL + "/hook",
				Body:    []byte(`{"event":"test"}`),
				Timeout: 5 * time.Second,
			})

			if res.StatusCode != tt.code {
				t.Errorf("StatusCode = %d, want %d", res.StatusCode, tt.code)
			}
			if !tt.wantErr {
				if res.Err != nil {
					t.Errorf("Err = %v, want nil", res.Err)
				}
				return
			}
			if res.Err == nil {
				t.Fatalf("Err = nil, want a failure")
			}
			msg := res.Err.Error()
			for _, want := range tt.wantInErr {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if tt.isRedirect {
				if !strings.Contains(msg, location) {
					t.Errorf("error %q does not name the redirect target %q", msg, location)
				}
				// Send has returned: had the redirect been followed, the
				// target would already have counted the request.
				if n := targetHits.Load(); n != 0 {
					t.Errorf("redirect target got %d requests, want 0", n)
				}
			}
			checkErrorText(t, msg, maxErrorText)
		})
	}
}

// received is what a receiver saw of one request.
type received struct {
	method        string
	requestURI    string
	body          []byte
	contentLength int64
	header        http.Header
}

func TestSendRequest(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		body   []byte
		header http.Header
		// wantHeader lists headers whose values must be exactly these.
		wantHeader http.Header
	}{
		{
			name: "JSON body and extra headers",
			path: "/hooks/in?tenant=acme",
			body: []byte("{\"id\":\"evt_1\",\"text\":\"héllo\\n\"}\n"),
			header: http.Header{
				"Authorization": {"Bearer s3cr3t"},
				"X-Tenant":      {"acme"},
				"X-Multi":       {"one", "two"},
				"Webhook-Id":    {"msg_1"},
			},
			wantHeader: http.Header{
				"Content-Type":  {"application/json"},
				"User-Agent":    {testUserAgent},
				"Authorization": {"Bearer s3cr3t"},
				"X-Tenant":      {"acme"},
				"X-Multi":       {"one", "two"},
				"Webhook-Id":    {"msg_1"},
			},
		},
		{
			name: "empty body, no extra headers",
			path: "/",
			wantHeader: http.Header{
				"Content-Type": {"application/json"},
				"User-Agent":   {testUserAgent},
			},
		},
		{
			name: "binary body kept byte for byte",
			path: "/bin",
			body: []byte{0x00, 0xff, '\r', '\n', 0xfe, '{', 0x80},
			wantHeader: http.Header{
				"Content-Type": {"application/json"},
				"User-Agent":   {testUserAgent},
			},
		},
		{
			name: "herald's own headers win over the request's",
			path: "/",
			body: []byte(`{}`),
			header: http.Header{
				"Content-Type": {"text/plain"},
				"User-Agent":   {"someone-else"},
			},
			wantHeader: http.Header{
				"Content-Type": {"application/json"},
				"User-Agent":   {testUserAgent},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan received, 1)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				got <- received{
					method:        r.Method,
					requestURI:    r.RequestURI,
					body:          body,
					contentLength: r.ContentLength,
					header:        r.Header.Clone(),
				}
				w.WriteHeader(http.StatusNoContent)
			})

			callerHeader := tt.header.Clone()
			res := newTestSender(t).Send(t.Context(), Request{
				URL:     srv.URL + tt.path,
				Body:    tt.body,
				Header:  tt.header,
				Timeout: 5 * time.Second,
			})
			if res.Err != nil || res.StatusCode != http.StatusNoContent {
				t.Fatalf("Send = %d, %v; want 204, nil", res.StatusCode, res.Err)
			}

			var r received
			select {
			case r = <-got:
			default:
				t.Fatal("the receiver saw no request")
			}
			if r.method != http.MethodPost {
				t.Errorf("method = %q, want POST", r.method)
			}
			if r.requestURI != tt.path {
				t.Errorf("request URI = %q, want %q", r.requestURI, tt.path)
			}
			if !bytes.Equal(r.body, tt.body) {
				t.Errorf("body = %q, want %q", r.body, tt.body)
			}
			if r.contentLength != int64(len(tt.body)) {
				t.Errorf("Content-Length = %d, want %d", r.contentLength, len(tt.body))
			}
			for name, want := range tt.wantHeader {
				if got := r.header.Values(name); !slices.Equal(got, want) {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			// Send must not write into the caller's header map.
			if fmt.Sprint(tt.header) != fmt.Sprint(callerHeader) {
				t.Errorf("Send changed the request's Header: %v, was %v", tt.header, callerHeader)
			}
		})
	}
}

func TestSendTimeout(t *testing.T) {
	tests := []struct {
		name string
		// handler blocks until release is closed or the client goes away.
		handler func(release <-chan struct{}) http.HandlerFunc
	}{
		{
			name: "no answer at all",
			handler: func(release <-chan struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
			},
		},
		{
			name: "failing status, then the body stalls",
			handler: func(release <-chan struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = io.WriteString(w, "partial")
					http.NewResponseController(w).Flush() //nolint:errcheck // best effort
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
			},
		},
	}
	const timeout = 200 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := newServer(t, tt.handler(release))
			// Cleanups run last-in first-out: the handler is released
			// before srv.Close waits for it.
			t.Cleanup(func() { close(release) })

			start := time.Now()
			res := newTestSender(t).Send(t.Context(), Request{
				URL:     srv.URL,
				Body:    []byte(`{}`),
				Timeout: timeout,
			})
			elapsed := time.Since(start)

			if elapsed > 5*time.Second {
				t.Errorf("Send took %v with a %v timeout", elapsed, timeout)
			}
			if elapsed < timeout {
				t.Errorf("Send returned after %v, before the %v timeout", elapsed, timeout)
			}
			if res.Err == nil {
				t.Fatalf("Err = nil (status %d), want a failure", res.StatusCode)
			}
			msg := res.Err.Error()
			if res.StatusCode == 0 {
				if !strings.Contains(msg, "timeout") || !strings.Contains(msg, timeout.String()) {
					t.Errorf("error %q does not mention the %v timeout", msg, timeout)
				}
			} else if res.StatusCode != http.StatusInternalServerError || !strings.Contains(msg, "HTTP 500") {
				t.Errorf("Send = %d, %q; want 500 and HTTP 500", res.StatusCode, msg)
			}
			checkErrorText(t, msg, maxErrorText)
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	res := newTestSender(t).Send(t.Context(), Request{
		URL:     "http://" + addr + "/hook",
		Body:    []byte(`{}`),
		Timeout: 5 * time.Second,
	})
	if res.Err == nil {
		t.Fatalf("Err = nil (status %d), want a failure", res.StatusCode)
	}
	if res.StatusCode != 0 {
		t.Errorf("StatusCode = %d, want 0", res.StatusCode)
	}
	msg := res.Err.Error()
	if !strings.Contains(msg, "refused") {
		t.Errorf("error %q does not mention the refused connection", msg)
	}
	checkErrorText(t, msg, maxErrorText)
}

func TestSendInvalidURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{"no scheme", "://no-scheme"},
		{"unclosed IPv6 host", "http://[::1"},
		{"long and invalid", "http://[::1" + strings.Repeat("\xff\n", 2000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := newTestSender(t).Send(t.Context(), Request{URL: tt.url, Timeout: time.Second})
			if res.Err == nil || res.StatusCode != 0 {
				t.Fatalf("Send = %d, %v; want 0 and an error", res.StatusCode, res.Err)
			}
			msg := res.Err.Error()
			if !strings.Contains(msg, "invalid request") {
				t.Errorf("error %.100q does not say the request is invalid", msg)
			}
			checkErrorText(t, msg, maxTransportErrorText)
		})
	}
}

// TestSendMalformedAnswer has the receiver answer bytes that are not a valid
// HTTP response; the transport's error quotes them, so its text must be
// bounded too.
func TestSendMalformedAnswer(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		wantIn string
	}{
		{
			name:   "long garbage status line",
			raw:    "GARBAGE" + strings.Repeat("x\xff", 4000) + "\r\n\r\n",
			wantIn: "malformed HTTP response",
		},
		{
			name:   "long header line without a colon",
			raw:    "HTTP/1.1 200 OK\r\n" + strings.Repeat("y", 8000) + "\r\n\r\n",
			wantIn: "malformed MIME header",
		},
		{
			name:   "long bad Content-Length",
			raw:    "HTTP/1.1 500 Oops\r\nContent-Length: " + strings.Repeat("9z", 4000) + "\r\n\r\n",
			wantIn: "Content-Length",
		},
		{
			name:   "status code out of range",
			raw:    "HTTP/1.1 2000 OK\r\n\r\n",
			wantIn: "malformed HTTP status code",
		},
		{
			name:   "connection closed without an answer",
			raw:    "",
			wantIn: "EOF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				defer conn.Close() //nolint:errcheck // test server
				_, _ = buf.WriteString(tt.raw)
				_ = buf.Flush()
			})
			res := newTestSender(t).Send(t.Context(), Request{
				URL:     srv.URL,
				Body:    []byte(`{}`),
				Timeout: 5 * time.Second,
			})
			if res.Err == nil || res.StatusCode != 0 {
				t.Fatalf("Send = %d, %v; want 0 and an error", res.StatusCode, res.Err)
			}
			msg := res.Err.Error()
			if !strings.Contains(msg, tt.wantIn) {
				t.Errorf("error %.200q does not contain %q", msg, tt.wantIn)
			}
			checkErrorText(t, msg, maxTransportErrorText)
		})
	}
}

func TestSendHugeBody(t *testing.T) {
	const (
		huge = 10 << 20
		// endless is far more than loopback socket buffers hold: a
		// receiver can only finish writing it if Send reads it all.
		endless = 256 << 20
	)
	tests := []struct {
		name          string
		code          int
		size          int
		contentLength bool
		wantErr       bool
	}{
		{name: "failure, 10 MiB streamed", code: 500, size: huge, wantErr: true},
		{name: "failure, 10 MiB with Content-Length", code: 502, size: huge, contentLength: true, wantErr: true},
		{name: "failure, endless", code: 500, size: endless, wantErr: true},
		{name: "success, 10 MiB streamed", code: 200, size: huge},
		{name: "success, 10 MiB with Content-Length", code: 200, size: huge, contentLength: true},
		{name: "success, endless", code: 200, size: endless},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// wroteAll says whether the handler wrote the whole body.
			wroteAll := make(chan bool, 1)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tt.contentLength {
					w.Header().Set("Content-Length", strconv.Itoa(tt.size))
				}
				w.WriteHeader(tt.code)
				chunk := bytes.Repeat([]byte("0123456789abcdef\n"), 2048)
				for sent := 0; sent < tt.size; sent += len(chunk) {
					if r.Context().Err() != nil {
						wroteAll <- false
						return
					}
					if _, err := w.Write(chunk[:min(len(chunk), tt.size-sent)]); err != nil {
						wroteAll <- false
						return
					}
				}
				wroteAll <- true
			})

			start := time.Now()
			res := newTestSender(t).Send(t.Context(), Request{
				URL:     srv.URL,
				Body:    []byte(`{}`),
				Timeout: 10 * time.Second,
			})
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Send took %v", elapsed)
			}
			if tt.size == endless {
				select {
				case all := <-wroteAll:
					if all {
						t.Errorf("the receiver wrote all of its %d MiB body: Send read it", tt.size>>20)
					}
				case <-time.After(5 * time.Second):
					t.Errorf("the receiver is still writing 5s after Send returned")
				}
			}
			if res.StatusCode != tt.code {
				t.Errorf("StatusCode = %d, want %d", res.StatusCode, tt.code)
			}
			if !tt.wantErr {
				if res.Err != nil {
					t.Errorf("Err = %v, want nil", res.Err)
				}
				return
			}
			if res.Err == nil {
				t.Fatal("Err = nil, want a failure")
			}
			msg := res.Err.Error()
			if want := fmt.Sprintf("HTTP %d", tt.code); !strings.Contains(msg, want) {
				t.Errorf("error %.100q does not contain %q", msg, want)
			}
			if !strings.Contains(msg, "0123456789abcdef 0123456789abcdef") {
				t.Errorf("error %.100q does not keep the start of the body", msg)
			}
			checkErrorText(t, msg, maxErrorText)
		})
	}
}

func TestSendErrorTextIsOneLine(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		location string
		body     string
		want     string
		maxLen   int // maxErrorText when zero
	}{
		{
			name: "newlines and tabs",
			code: 500,
			body: "line one\nline two\r\n\tindented\n\n",
			want: "HTTP 500 Internal Server Error: line one line two indented",
		},
		{
			name: "invalid UTF-8",
			code: 400,
			body: "bad \xff\xfe bytes\x80",
			want: "HTTP 400 Bad Request: bad \uFFFD bytes\uFFFD",
		},
		{
			name: "Unicode line separators",
			code: 503,
			body: "a\u2028b\u2029c\u0085d",
			want: "HTTP 503 Service Unavailable: a b c d",
		},
		{
			name: "multi-byte rune cut at the size limit",
			code: 500,
			body: strings.Repeat("€", 200),
		},
		{
			name: "only whitespace",
			code: 404,
			body: " \n\r\n\t ",
			want: "HTTP 404 Not Found",
		},
		{
			name:     "redirect with invalid bytes in Location",
			code:     302,
			location: "http://example.com/\xff\xfe",
			body:     "x\ny",
			want:     "HTTP 302 Found (redirects are not followed) to http://example.com/\uFFFD: x y",
		},
		{
			name:     "redirect with a long Location",
			code:     301,
			location: "http://example.com/" + strings.Repeat("a", 4000),
			body:     strings.Repeat("b", 4000),
			maxLen:   maxRedirectErrorText,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.location != "" {
					w.Header()["Location"] = []string{tt.location}
				}
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, tt.body)
			})
			res := newTestSender(t).Send(t.Context(), Request{
				URL:     srv.URL,
				Body:    []byte(`{}`),
				Timeout: 5 * time.Second,
			})
			if res.Err == nil || res.StatusCode != tt.code {
				t.Fatalf("Send = %d, %v; want %d and an error", res.StatusCode, res.Err, tt.code)
			}
			msg := res.Err.Error()
			if tt.want != "" && msg != tt.want {
				t.Errorf("error = %q, want %q", msg, tt.want)
			}
			maxLen := tt.maxLen
			if maxLen == 0 {
				maxLen = maxErrorText
			}
			checkErrorText(t, msg, maxLen)
		})
	}
}

func TestSendReusesConnections(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr bool
	}{
		{
			name:    "200, empty body",
			handler: func(w http.ResponseWriter, r *http.Request) {},
		},
		{
			name: "204",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			},
		},
		{
			name: "200, small body, request body unread",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `{"received":true}`)
			},
		},
		{
			name: "200, 32 KiB streamed body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				for range 32 {
					_, _ = w.Write(bytes.Repeat([]byte("x"), 1024))
					http.NewResponseController(w).Flush() //nolint:errcheck // best effort
				}
			},
		},
		{
			name: "500, body longer than the error snippet",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				http.Error(w, strings.Repeat("e", 4096), http.StatusInternalServerError)
			},
			wantErr: true,
		},
	}
	const calls = 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var newConns atomic.Int64
			srv := httptest.NewUnstartedServer(tt.handler)
			srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
				if state == http.StateNew {
					newConns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)

			s := newTestSender(t)
			for i := range calls {
				res := s.Send(t.Context(), Request{
					URL:     srv.URL,
					Body:    []byte(`{"n":` + strconv.Itoa(i) + `}`),
					Timeout: 5 * time.Second,
				})
				if (res.Err != nil) != tt.wantErr {
					t.Fatalf("call %d: Send = %d, %v; want error: %v", i, res.StatusCode, res.Err, tt.wantErr)
				}
			}
			if n := newConns.Load(); n != 1 {
				t.Errorf("%d sequential calls opened %d connections, want 1", calls, n)
			}
		})
	}
}
