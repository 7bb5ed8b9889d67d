package window

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

func sketchOf(users ...string) *Sketch {
	s := &Sketch{}
	for _, u := range users {
		s.Add(u)
	}
	return s
}

// sketchOfN is the sketch of the users prefix+i for i in [from, to).
func sketchOfN(prefix string, from, to int) *Sketch {
	s := &Sketch{}
	buf := []byte(prefix)
	for i := from; i < to; i++ {
		s.Add(string(strconv.AppendInt(buf[:len(prefix)], int64(i), 10)))
	}
	return s
}

func TestSketchEncodeDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		sk   *Sketch
	}{
		{"empty", &Sketch{}},
		{"one user", sketchOf("alice")},
		{"1000 users", sketchOfN("user-", 0, 1000)},
		{"20000 users", sketchOfN("user-", 0, 20_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.sk.Encode()
			if len(enc) > 2048 { // the API's MaxLength for a sketch
				t.Errorf("encoded sketch is %d characters, the API allows 2048", len(enc))
			}
			got, err := DecodeSketch(enc)
			if err != nil {
				t.Fatalf("DecodeSketch: %v", err)
			}
			if got.dense != tc.sk.dense || got.registers != tc.sk.registers || len(got.sparse) != len(tc.sk.sparse) {
				t.Error("the sketch differs after a round trip")
			}
			if got.Estimate() != tc.sk.Estimate() {
				t.Errorf("estimate %d after a round trip, want %d", got.Estimate(), tc.sk.Estimate())
			}
			if got.Encode() != enc {
				t.Error("re-encoding gives a different string")
			}
		})
	}
}

func TestDecodeSketchRejects(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"not base64", "!!!not base64!!!", "decoding user sketch"},
		{"truncated base64", sketchOf("a").Encode()[:10] + "=", "decoding user sketch"},
		{"empty", "", "is empty"},
		{"one register short", base64.StdEncoding.EncodeToString(append([]byte{denseTag}, make([]byte, sketchRegisters-1)...)), "has 1023 registers"},
		{"one register over", base64.StdEncoding.EncodeToString(append([]byte{denseTag}, make([]byte, sketchRegisters+1)...)), "has 1025 registers"},
		{"sparse, not whole hashes", base64.StdEncoding.EncodeToString([]byte{sparseTag, 1, 2, 3}), "multiple of 8"},
		{"unknown form", base64.StdEncoding.EncodeToString([]byte{9, 1}), "unknown form"},
		{"url alphabet", strings.Repeat("_", 1368), "decoding user sketch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk, err := DecodeSketch(tc.in)
			if err == nil {
				t.Fatalf("DecodeSketch(%q) = %v, want an error", tc.in, sk)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSketchAddIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users []string
		want  int64
	}{
		{"empty", nil, 0},
		{"one user once", []string{"alice"}, 1},
		{"one user many times", []string{"alice", "alice", "alice", "alice"}, 1},
		{"two users repeated", []string{"alice", "bob", "alice", "bob", "bob"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sketchOf(tc.users...).Estimate(); got != tc.want {
				t.Errorf("Estimate() = %d, want %d", got, tc.want)
			}
		})
	}

	// Adding users already present changes no register.
	s := sketchOfN("user-", 0, 5000)
	before := s.Encode()
	s.Merge(sketchOfN("user-", 0, 5000))
	for i := 0; i < 5000; i += 7 {
		s.Add("user-" + strconv.Itoa(i))
	}
	if s.Encode() != before {
		t.Error("adding the same users again changed the sketch")
	}
}

func TestSketchMergeIsUnion(t *testing.T) {
	for _, tc := range []struct {
		name             string
		a, b, union      *Sketch
		wantApproxLength int
	}{
		{"empty and empty", &Sketch{}, &Sketch{}, &Sketch{}, 0},
		{"into empty", &Sketch{}, sketchOf("a", "b"), sketchOf("a", "b"), 2},
		{"disjoint", sketchOf("a", "b"), sketchOf("c"), sketchOf("a", "b", "c"), 3},
		{"overlapping", sketchOfN("user-", 0, 600), sketchOfN("user-", 400, 1000), sketchOfN("user-", 0, 1000), 1000},
		{"same", sketchOfN("user-", 0, 3000), sketchOfN("user-", 0, 3000), sketchOfN("user-", 0, 3000), 3000},
		{"large disjoint", sketchOfN("user-", 0, 8000), sketchOfN("user-", 8000, 20_000), sketchOfN("user-", 0, 20_000), 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bBefore := tc.b.Encode()
			ab := tc.a.clone()
			ab.Merge(tc.b)
			if ab.Encode() != tc.union.Encode() {
				t.Error("a.Merge(b) differs from the sketch of the union")
			}
			if tc.b.Encode() != bBefore {
				t.Error("Merge changed its argument")
			}
			ba := tc.b.clone()
			ba.Merge(tc.a)
			if ba.Encode() != ab.Encode() {
				t.Error("Merge is not commutative")
			}
			again := ab.clone()
			again.Merge(tc.b)
			if again.Encode() != ab.Encode() {
				t.Error("Merge is not idempotent")
			}
		})
	}
}

// TestSketchError checks the estimate against the error the package states:
// near-exact in the linear-counting regime (n up to about 2.5 × 1024), and a
// standard error of 1.04/sqrt(1024) ≈ 3.25% above it. (Linear counting's own
// standard deviation, sqrt(m(e^t-t-1)) for t = n/m, is about 2.2% at n = 100
// and 2.6% at n = 1000: ±2% holds for these names, not for every set.)
func TestSketchError(t *testing.T) {
	stdErr := 1.04 / math.Sqrt(sketchRegisters)
	for _, tc := range []struct {
		n      int
		maxErr float64 // relative
	}{
		{10, 0},
		{100, 0.02},
		{1000, 0.02},
		{10_000, 3 * stdErr},
		{100_000, 3 * stdErr},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			got := sketchOfN("user-", 0, tc.n).Estimate()
			rel := float64(got-int64(tc.n)) / float64(tc.n)
			t.Logf("n=%d estimate=%d relative error %+.2f%% (bound ±%.2f%%)", tc.n, got, 100*rel, 100*tc.maxErr)
			if math.Abs(rel) > tc.maxErr+1e-9 {
				t.Errorf("estimate %d for %d users: relative error %+.2f%%, bound ±%.2f%%", got, tc.n, 100*rel, 100*tc.maxErr)
			}
		})
	}
}

func TestSketchMeanError(t *testing.T) {
	const n, seeds = 10_000, 20
	sum, worst := 0.0, 0.0
	for seed := 0; seed < seeds; seed++ {
		got := sketchOfN(fmt.Sprintf("seed%d-user-", seed), 0, n).Estimate()
		rel := math.Abs(float64(got-n)) / n
		sum += rel
		worst = max(worst, rel)
	}
	mean := sum / seeds
	// For a normal error of standard deviation σ = 3.25%, E|err| = σ·sqrt(2/π) ≈ 2.6%.
	t.Logf("n=%d over %d name seeds: mean |relative error| %.2f%%, worst %.2f%%", n, seeds, 100*mean, 100*worst)
	if mean > 0.04 {
		t.Errorf("mean |relative error| %.2f%%, want below 4%%", 100*mean)
	}
	if worst > 3*1.04/math.Sqrt(sketchRegisters) {
		t.Errorf("worst |relative error| %.2f%%, above 3 standard errors", 100*worst)
	}
}
