// Package signing signs webhook calls per the Standard Webhooks
// specification (https://www.standardwebhooks.com/).
//
// The signed content is "<webhook-id>.<webhook-timestamp>.<body>"; each
// signature is "v1," followed by the base64 HMAC-SHA256 of it under one
// secret. Secrets are written as "whsec_" followed by the base64 key. While a
// secret is being rotated, several secrets are configured and the
// webhook-signature header carries one signature per secret, separated by
// spaces.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Key is one decoded signing secret.
type Key []byte

// ParseSecrets decodes one or more whitespace-separated whsec_<base64>
// secrets, as kept in a signing Secret's value. The error names the position
// of the bad entry but never echoes secret material.
func ParseSecrets(value string) ([]Key, error) {
	fields := strings.Fields(value)
	if len(fields) == 0 {
		return nil, errors.New("no signing secret: the value is empty")
	}
	keys := make([]Key, 0, len(fields))
	for i, f := range fields {
		encoded, ok := strings.CutPrefix(f, SecretPrefix)
		if !ok {
			return nil, fmt.Errorf("signing secret %d of %d does not start with %q", i+1, len(fields), SecretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fmt.Errorf("signing secret %d of %d is not valid base64 after %q", i+1, len(fields), SecretPrefix)
		}
		if len(key) < 16 {
			return nil, fmt.Errorf("signing secret %d of %d is %d bytes long; at least 16 are needed", i+1, len(fields), len(key))
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Timestamp formats t as the webhook-timestamp header: Unix seconds.
func Timestamp(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10)
}

// Sign returns the webhook-signature header value for a call: one
// "v1,<base64>" signature per key, separated by spaces.
func Sign(keys []Key, id, timestamp string, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(timestamp))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return strings.Join(sigs, " ")
}
