package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// receiver is the fast local webhook receiver: it answers at once and
// records, per webhook-id, when the first call came and when the first call
// it answered 2xx came. Paths under /fail/ answer 500 to the first call of
// each webhook-id and 204 afterwards; every other path answers 204.
type receiver struct {
	URL string
	srv *http.Server

	mu    sync.Mutex
	calls map[string]*received
}

type received struct {
	first time.Time // the first call
	ok    time.Time // the first call answered 2xx
	n     int       // calls
}

func startReceiver(ctx context.Context) (*receiver, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{URL: "http://" + ln.Addr().String(), calls: map[string]*received{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	now := time.Now()
	id := req.Header.Get("webhook-id")
	failFirst := strings.HasPrefix(req.URL.Path, "/fail/")
	r.mu.Lock()
	c := r.calls[id]
	if c == nil {
		c = &received{first: now}
		r.calls[id] = c
	}
	c.n++
	ok := !failFirst || c.n > 1
	if ok && c.ok.IsZero() {
		c.ok = now
	}
	r.mu.Unlock()
	if ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusInternalServerError)
}

func (r *receiver) get(id string) (received, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.calls[id]
	if !ok {
		return received{}, false
	}
	return *c, true
}

// forget drops every record, so that the receiver's memory does not count
// in the next run's heap figures.
func (r *receiver) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = map[string]*received{}
}

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}
