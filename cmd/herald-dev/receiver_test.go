//go:build unix

package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const sampleSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// The test vector of the Standard Webhooks specification, whose secret is
// also the sample's.
func TestVerifySpecificationVector(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	now := time.Unix(1614265330, 0).Add(time.Minute)

	if err := verify([]string{sampleSecret}, h, body, now); err != nil {
		t.Fatalf("the specification's vector: %v", err)
	}
	// With several signatures (a secret being rotated), one valid is enough.
	h.Set("webhook-signature", "v1,bm90IGl0 v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if err := verify([]string{sampleSecret}, h, body, now); err != nil {
		t.Fatalf("a valid signature after an invalid one: %v", err)
	}
	if err := verify([]string{sampleSecret}, h, []byte(`{"test": 2432232315}`), now); err == nil {
		t.Fatal("a changed body verified")
	}
	if err := verify([]string{sampleSecret}, h, body, now.Add(10*time.Minute)); err == nil {
		t.Fatal("a timestamp 11 minutes old verified")
	}
}

func TestReceiverFailsEveryThirdCall(t *testing.T) {
	var log bytes.Buffer
	r := &receiver{secrets: []string{sampleSecret}, failEvery: 3, log: &log, now: time.Now}
	body := []byte(`{"type":"user.logout","user":{"id":"u-1842"}}`)

	var codes []int
	for i := range 6 {
		req := signedRequest(t, sampleSecret, "msg_"+strconv.Itoa(i), body)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		codes = append(codes, w.Code)
	}
	want := []int{204, 204, 500, 204, 204, 500}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("status codes: got %v, want %v", codes, want)
		}
	}

	// A call signed with another secret is rejected and not counted.
	w := httptest.NewRecorder()
	r.ServeHTTP(w, signedRequest(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret of 24 bytes")), "msg_x", body))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("a call signed with another secret: got %d, want 401", w.Code)
	}
	if got := r.stats(); got != (receiverStats{Calls: 6, Failed: 2, BadSignatures: 1}) {
		t.Fatalf("stats: %+v", got)
	}
	if n := strings.Count(log.String(), "\n"); n != 7 {
		t.Fatalf("want 7 log lines, got %d:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "type=user.logout user=u-1842") {
		t.Fatalf("the log does not name the event and user:\n%s", log.String())
	}
}

func signedRequest(t *testing.T, secret, id string, body []byte) *http.Request {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	req := httptest.NewRequest(http.MethodPost, receiverPath, bytes.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}
