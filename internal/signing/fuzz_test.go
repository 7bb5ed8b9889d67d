package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzParseSecretsAndSign: any value either is refused or yields keys whose
// signatures are exactly HMAC-SHA256 of id.timestamp.body, one per key.
func FuzzParseSecretsAndSign(f *testing.F) {
	f.Add(specSecret, specID, specTimestamp, []byte(specBody))
	f.Add(specSecret+" whsec_c2Vjb25kLXNlY3JldC0xMjM0NTY3OA==", "id", "1", []byte("{}"))
	f.Add("whsec_", "", "", []byte(nil))
	f.Add("whsec_!!!", "x", "y", []byte("z"))
	f.Fuzz(func(t *testing.T, value, id, timestamp string, body []byte) {
		keys, err := ParseSecrets(value)
		if err != nil {
			if strings.Contains(err.Error(), strings.TrimPrefix(strings.TrimSpace(value), SecretPrefix)) && len(strings.TrimSpace(value)) > 12 {
				t.Fatalf("error echoes the secret: %v", err)
			}
			return
		}
		sigs := strings.Split(Sign(keys, id, timestamp, body), " ")
		if len(sigs) != len(keys) {
			t.Fatalf("%d signatures for %d keys", len(sigs), len(keys))
		}
		for i, key := range keys {
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(id + "." + timestamp + "."))
			mac.Write(body)
			if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); sigs[i] != want {
				t.Fatalf("signature %d = %q, want %q", i, sigs[i], want)
			}
		}
	})
}
