//go:build unix

package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// receiverPath is where the demo receiver listens; the dev endpoint's url.
const receiverPath = "/webhooks/herald"

// receiver is the demo application herald calls: it checks the Standard
// Webhooks signature of every call the way a real receiver should (written
// from the specification, independently of herald's signing code), and
// answers 500 to every failEvery-th validly signed call so that retries and
// failure statistics show up.
type receiver struct {
	secrets   []string // whsec_ secrets; a signature under any of them is valid
	failEvery int      // 0: never fail on purpose
	log       io.Writer
	now       func() time.Time

	mu          sync.Mutex
	calls       int // validly signed calls
	failed      int // of those, answered 500 on purpose
	badRequests int // calls without a valid signature (a bug in herald or the setup)
}

// receiverStats is what the receiver saw.
type receiverStats struct{ Calls, Failed, BadSignatures int }

func (r *receiver) stats() receiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return receiverStats{r.calls, r.failed, r.badRequests}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != receiverPath {
		http.Error(w, "herald-dev receiver: POST "+receiverPath+" only", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	summary := summarize(body)
	if tenant := req.Header.Get("X-Tenant"); tenant != "" {
		summary += " tenant=" + tenant
	}

	if err := verify(r.secrets, req.Header, body, r.now()); err != nil {
		r.mu.Lock()
		r.badRequests++
		r.mu.Unlock()
		r.logf("REJECTED  id=%s %s: %v -> 401", id, summary, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}

	r.mu.Lock()
	r.calls++
	n := r.calls
	fail := r.failEvery > 0 && n%r.failEvery == 0
	if fail {
		r.failed++
	}
	r.mu.Unlock()

	if fail {
		r.logf("call %-3d  id=%s %s signature=valid -> 500 (every %s call fails on purpose)", n, id, summary, ordinal(r.failEvery))
		http.Error(w, fmt.Sprintf("herald-dev receiver: every %s call fails on purpose", ordinal(r.failEvery)), http.StatusInternalServerError)
		return
	}
	r.logf("call %-3d  id=%s %s signature=valid -> 204", n, id, summary)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) logf(format string, args ...any) {
	line := r.now().UTC().Format("2006-01-02T15:04:05.000Z") + "  " + fmt.Sprintf(format, args...) + "\n"
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = io.WriteString(r.log, line)
}

// summarize names the event and user of a payload shaped like the sample's.
func summarize(body []byte) string {
	var p struct {
		Type string `json:"type"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if json.Unmarshal(body, &p) != nil {
		return fmt.Sprintf("body=%dB", len(body))
	}
	return fmt.Sprintf("type=%s user=%s", p.Type, p.User.ID)
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return strconv.Itoa(n) + "th"
	case n%10 == 1:
		return strconv.Itoa(n) + "st"
	case n%10 == 2:
		return strconv.Itoa(n) + "nd"
	case n%10 == 3:
		return strconv.Itoa(n) + "rd"
	}
	return strconv.Itoa(n) + "th"
}

// verify checks a call's Standard Webhooks headers: a timestamp within five
// minutes of now and a v1 signature, HMAC-SHA256 of "<id>.<timestamp>.<body>"
// keyed with the base64-decoded part of one of the whsec_ secrets.
func verify(secrets []string, h http.Header, body []byte, now time.Time) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" {
		return errors.New("no webhook-id header")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q is not Unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d.Abs() > 5*time.Minute {
		return fmt.Errorf("webhook-timestamp is %s away from now", d.Round(time.Second))
	}
	sigs := strings.Fields(h.Get("webhook-signature"))
	if len(sigs) == 0 {
		return errors.New("no webhook-signature header")
	}
	for _, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return fmt.Errorf("the receiver's secret is not whsec_<base64>: %w", err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			if v, b64, ok := strings.Cut(sig, ","); ok && v == "v1" {
				if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
					return nil
				}
			}
		}
	}
	return errors.New("no valid v1 signature for the sample secret")
}

// startReceiver serves r on a free port of 127.0.0.1 and returns its URL and
// a function that stops it.
func startReceiver(r *receiver) (url string, stop func(), err error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo receiver: %w", err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop = func() {
		_ = srv.Close()
		<-done
	}
	return "http://" + ln.Addr().String() + receiverPath, stop, nil
}
