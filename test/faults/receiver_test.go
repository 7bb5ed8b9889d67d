//go:build linux

package faults

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// call is one request a receiver got.
type call struct {
	// id is the webhook-id header.
	id string
	// n is the call's number among the receiver's calls with this id, from 1.
	n int
	// pid is the manager process that made the call (0: not found).
	pid int
	// start is when the request arrived, end when the receiver was done
	// with it.
	start, end time.Time
	// answer is what the receiver did: an HTTP status such as "200", or
	// "hang", "reset".
	answer string
}

func (c call) String() string {
	return fmt.Sprintf("call %d of %s from pid %d at %s..%s: %s",
		c.n, c.id, c.pid, c.start.Format("15:04:05.000"), c.end.Format("15:04:05.000"), c.answer)
}

// respondFunc answers the n-th call with one webhook-id and says what it
// answered.
type respondFunc func(n int, w http.ResponseWriter, r *http.Request) string

// receiver is a real HTTP server that records every call.
type receiver struct {
	*httptest.Server
	name    string
	respond respondFunc
	mu      sync.Mutex
	calls   []*call
	byID    map[string]int
}

// conn is a receiver's connection; pid is found once, by its first
// request's handler (not in the server's accept loop, which it would slow
// down), while the caller waits for the answer and so keeps its socket open.
type conn struct {
	net.Conn
	once sync.Once
	pid  int
}

func (c *conn) callerPID() int {
	c.once.Do(func() { c.pid = peerPID(c.Conn) })
	return c.pid
}

type connKey struct{}

func newReceiver(t *testing.T, name string, respond respondFunc) *receiver {
	t.Helper()
	rcv := &receiver{name: name, respond: respond, byID: map[string]int{}}
	rcv.Server = httptest.NewUnstartedServer(http.HandlerFunc(rcv.serve))
	rcv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, &conn{Conn: c})
	}
	rcv.Start()
	t.Cleanup(rcv.Close)
	return rcv
}

func (rcv *receiver) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_, _ = io.Copy(io.Discard, r.Body)
	pid := 0
	if c, ok := r.Context().Value(connKey{}).(*conn); ok {
		pid = c.callerPID()
	}
	id := r.Header.Get("webhook-id")
	rcv.mu.Lock()
	rcv.byID[id]++
	c := &call{id: id, n: rcv.byID[id], pid: pid, start: start}
	rcv.calls = append(rcv.calls, c)
	rcv.mu.Unlock()

	answer := rcv.respond(c.n, w, r)

	rcv.mu.Lock()
	c.end, c.answer = time.Now(), answer
	rcv.mu.Unlock()
}

// got returns a copy of the calls so far, in arrival order.
func (rcv *receiver) got() []call {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	out := make([]call, len(rcv.calls))
	for i, c := range rcv.calls {
		out[i] = *c
	}
	return out
}

// Answers.

// status answers code, with headers given as name, value pairs.
func status(code int, header ...string) func(http.ResponseWriter, *http.Request) string {
	return func(w http.ResponseWriter, _ *http.Request) string {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, "answer %d from the test receiver", code)
		return strconv.Itoa(code)
	}
}

// hang never answers: it waits until herald gives up on the call (closing
// the connection) or 10s.
func hang(_ http.ResponseWriter, r *http.Request) string {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
	return "hang"
}

// reset closes the connection with a TCP RST after reading the request.
func reset(w http.ResponseWriter, _ *http.Request) string {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
	return "reset"
}

// firstThen answers the first call of each webhook-id with first, and
// every later one with 200.
func firstThen(first func(http.ResponseWriter, *http.Request) string) respondFunc {
	return func(n int, w http.ResponseWriter, r *http.Request) string {
		if n == 1 {
			return first(w, r)
		}
		return status(http.StatusOK)(w, r)
	}
}
