package sender

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// An address guard keeps herald from calling the cluster's own services or
// the cloud's metadata server through a URL a tenant wrote. It checks the IP
// address the dialer is about to connect to — after DNS resolution, so a
// name that resolves (or re-resolves) to a blocked address is caught too.

// blockedNetwork is a range refused by default, with the rule's name.
type blockedNetwork struct {
	prefix netip.Prefix
	rule   string
}

var blockedNetworks = func() []blockedNetwork {
	ranges := []struct{ cidr, rule string }{
		{"0.0.0.0/8", "unspecified"},
		{"::/128", "unspecified"},
		{"127.0.0.0/8", "loopback"},
		{"::1/128", "loopback"},
		{"169.254.0.0/16", "link-local"}, // includes the metadata server 169.254.169.254
		{"fe80::/10", "link-local"},
		{"10.0.0.0/8", "private"},
		{"172.16.0.0/12", "private"},
		{"192.168.0.0/16", "private"},
		{"fc00::/7", "private"}, // unique local, includes fd00:ec2::254 (AWS metadata)
		{"100.64.0.0/10", "carrier-grade NAT"},
		{"224.0.0.0/4", "multicast"},
		{"ff00::/8", "multicast"},
		{"255.255.255.255/32", "broadcast"}, // before 240/4, which holds it
		{"240.0.0.0/4", "reserved"},
		{"192.0.0.0/24", "reserved"},
		{"192.0.2.0/24", "reserved"},
		{"198.18.0.0/15", "reserved"},
		{"198.51.100.0/24", "reserved"},
		{"203.0.113.0/24", "reserved"},
		{"2001:db8::/32", "reserved"},
		{"100::/64", "reserved"},
		{"2001::/23", "reserved"}, // IETF protocol assignments, includes Teredo
	}
	out := make([]blockedNetwork, len(ranges))
	for i, r := range ranges {
		out[i] = blockedNetwork{netip.MustParsePrefix(r.cidr), r.rule}
	}
	return out
}()

// Prefixes that embed an IPv4 address: the embedded address is checked too.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// Guard refuses connections to blocked networks, except those opened by
// Allow.
type Guard struct {
	allowed []netip.Prefix
}

// NewGuard returns a guard that allows the given CIDR ranges (for example a
// cluster's service range, or 127.0.0.0/8 for local development) despite
// the default rules.
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, fmt.Errorf("allowed network %q is not a CIDR range such as 10.20.0.0/16: %w", a, err)
		}
		g.allowed = append(g.allowed, p.Masked())
	}
	return g, nil
}

// BlockedError says which address was refused and by which rule.
type BlockedError struct {
	Addr netip.Addr
	Rule string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s is in a blocked network (%s)", e.Addr, e.Rule)
}

// Check returns a *BlockedError when the guard refuses addr.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.WithZone("")
	for _, p := range g.allowed {
		if p.Contains(addr) || p.Contains(addr.Unmap()) {
			return nil
		}
	}
	if rule := blockedRule(addr); rule != "" {
		return &BlockedError{Addr: addr, Rule: rule}
	}
	return nil
}

func blockedRule(addr netip.Addr) string {
	if addr.Is4In6() {
		if rule := blockedRule(addr.Unmap()); rule != "" {
			return rule + ", IPv4-mapped"
		}
		return ""
	}
	if embedded, ok := embeddedIPv4(addr); ok {
		if rule := blockedRule(embedded); rule != "" {
			return rule + ", embedded in IPv6"
		}
	}
	for _, b := range blockedNetworks {
		if b.prefix.Contains(addr) {
			return b.rule
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address inside a NAT64 (64:ff9b::/96) or
// 6to4 (2002::/16) address.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	b := addr.As16()
	switch {
	case nat64Prefix.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// control is the dialer's Control hook: it runs after DNS resolution, just
// before connecting, with the literal IP address.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("address guard: %q is not an IP address", host)
	}
	return g.Check(addr)
}
