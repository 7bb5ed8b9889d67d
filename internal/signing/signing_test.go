package signing

import (
	"strings"
	"testing"
	"time"
)

// The test vector published with the Standard Webhooks specification.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = "1614265330"
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesSpecificationVector(t *testing.T) {
	keys, err := ParseSecrets(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(keys, specID, specTimestamp, []byte(specBody)); got != specSignature {
		t.Fatalf("Sign = %q, want %q", got, specSignature)
	}
}

func TestSignOneSignaturePerKey(t *testing.T) {
	keys, err := ParseSecrets(specSecret + "  \n whsec_" + "c2Vjb25kLXNlY3JldC0xMjM0NTY3OA==")
	if err != nil {
		t.Fatal(err)
	}
	sigs := strings.Split(Sign(keys, specID, specTimestamp, []byte(specBody)), " ")
	if len(sigs) != 2 || sigs[0] != specSignature || sigs[1] == specSignature || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("signatures = %q, want the spec signature then a different v1 signature", sigs)
	}
}

func TestParseSecretsRefusesBadValues(t *testing.T) {
	tests := []struct {
		value string
		want  string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `does not start with "whsec_"`},
		{"whsec_not*base64", "not valid base64"},
		{"whsec_c2hvcnQ=", "at least 16"},
		{specSecret + " nope", "signing secret 2 of 2"},
	}
	for _, tt := range tests {
		_, err := ParseSecrets(tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSecrets(%q) error = %v, want it to mention %q", tt.value, err, tt.want)
		}
		if err != nil && len(tt.value) > 8 && strings.Contains(err.Error(), strings.TrimPrefix(tt.value, "whsec_")) {
			t.Errorf("ParseSecrets(%q) error echoes the secret: %v", tt.value, err)
		}
	}
}

func TestTimestampIsUnixSeconds(t *testing.T) {
	if got := Timestamp(time.Unix(1614265330, 999_999_999)); got != specTimestamp {
		t.Fatalf("Timestamp = %q, want %q", got, specTimestamp)
	}
}
