package sender

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzGuard: an IPv4 address and its IPv4-mapped, NAT64 and 6to4 forms are
// judged alike, and a refusal always names the address and a rule.
func FuzzGuard(f *testing.F) {
	for _, seed := range [][]byte{{127, 0, 0, 1}, {10, 1, 2, 3}, {169, 254, 169, 254}, {8, 8, 8, 8}, {100, 64, 0, 1}, {0, 0, 0, 0}} {
		f.Add(seed)
	}
	g := &Guard{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) != 4 {
			return
		}
		v4 := netip.AddrFrom4([4]byte(raw))
		b := v4.As4()
		forms := map[string]netip.Addr{
			"mapped": netip.AddrFrom16(v4.As16()),
			"nat64":  netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 10: 0, 11: 0, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}),
			"6to4":   netip.AddrFrom16([16]byte{0x20, 0x02, b[0], b[1], b[2], b[3]}),
		}
		refused := g.Check(v4) != nil
		for name, addr := range forms {
			err := g.Check(addr)
			if (err != nil) != refused {
				t.Fatalf("%s: %s judged %v, its %s form %s judged %v", v4, v4, refused, name, addr, err)
			}
			if err != nil && !strings.Contains(err.Error(), "is in a blocked network (") {
				t.Fatalf("refusal %q does not name the rule", err)
			}
		}
	})
}

// FuzzPrintable: error text built from a receiver's bytes is one line of
// valid UTF-8 within the limit.
func FuzzPrintable(f *testing.F) {
	f.Add([]byte("database unavailable\n"), 256)
	f.Add([]byte{0xff, 0xfe, '\r', '\n', 'x'}, 3)
	f.Add([]byte("Zoë\u2028next"), 4)
	f.Fuzz(func(t *testing.T, body []byte, limit int) {
		if limit < 0 || limit > 4096 {
			return
		}
		s := printable(body, limit)
		if len(s) > limit || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n") {
			t.Fatalf("printable(%q, %d) = %q", body, limit, s)
		}
	})
}
