package controllers_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// verifyStandardWebhook is a receiver's check, written here from the
// Standard Webhooks specification and independent of herald's signing code:
// the key is the base64 text after "whsec_"; the signed content is
// "<webhook-id>.<webhook-timestamp>.<body>"; the header holds space-separated
// "v1,<base64 HMAC-SHA256>" entries, any one of which may match.
func verifyStandardWebhook(secret, id, timestamp string, body []byte, signatureHeader string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return fmt.Errorf("bad secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "." + string(body)))
	want := mac.Sum(nil)
	for _, entry := range strings.Split(signatureHeader, " ") {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// The verifier itself is checked against the specification's published test
// vector, so that a bug in it cannot hide one in herald.
func TestVerifierAcceptsSpecificationVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = "1614265330"
		body   = `{"test": 2432232314}`
		sig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	if err := verifyStandardWebhook(secret, id, ts, []byte(body), sig); err != nil {
		t.Fatalf("spec vector: %v", err)
	}
	if err := verifyStandardWebhook(secret, id, ts, []byte(body+" "), sig); err == nil {
		t.Fatal("a changed body verified")
	}
	if err := verifyStandardWebhook(secret, id, "1614265331", []byte(body), sig); err == nil {
		t.Fatal("a changed timestamp verified")
	}
}

func apiextensionsJSON(s string) apiextensionsv1.JSON {
	return apiextensionsv1.JSON{Raw: []byte(s)}
}
