package sender

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGuardCheck(t *testing.T) {
	g, err := NewGuard(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		rule string // "" for allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.0.0.2", "loopback"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback, IPv4-mapped"},
		{"::ffff:10.0.0.5", "private, IPv4-mapped"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fd00:ec2::254", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},
		{"64:ff9b::a9fe:a9fe", "link-local, embedded in IPv6"}, // NAT64 of 169.254.169.254
		{"64:ff9b::7f00:1", "loopback, embedded in IPv6"},
		{"2002:7f00:1::", "loopback, embedded in IPv6"}, // 6to4 of 127.0.0.1
		{"2002:a00:5::1", "private, embedded in IPv6"},
		{"2001:db8::1", "reserved"},
		// Public addresses pass.
		{"93.184.216.34", ""},
		{"8.8.8.8", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"2606:4700::1111", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := g.Check(netip.MustParseAddr(tt.addr))
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", tt.addr, err)
				}
				return
			}
			var blocked *BlockedError
			if !errors.As(err, &blocked) || blocked.Rule != tt.rule {
				t.Fatalf("Check(%s) = %v, want blocked by %q", tt.addr, err, tt.rule)
			}
			if !strings.Contains(err.Error(), "is in a blocked network ("+tt.rule+")") {
				t.Fatalf("error %q does not name the rule", err)
			}
		})
	}
}

func TestGuardAllowNetworks(t *testing.T) {
	g, err := NewGuard([]string{"10.96.0.0/12", " 127.0.0.0/8 ", ""})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.96.0.10":       true,
		"10.111.255.255":   true,
		"10.112.0.1":       false,
		"127.0.0.1":        true,
		"::ffff:127.0.0.1": true,
		"192.168.0.1":      false,
	} {
		if got := g.Check(netip.MustParseAddr(addr)) == nil; got != want {
			t.Errorf("allowed(%s) = %v, want %v", addr, got, want)
		}
	}
	if _, err := NewGuard([]string{"10.0.0.0"}); err == nil || !strings.Contains(err.Error(), "not a CIDR range") {
		t.Errorf("NewGuard(10.0.0.0) error = %v, want a CIDR complaint", err)
	}
}

// TestGuardRefusesBeforeAnyByteIsSent makes real calls: each refused URL
// would reach a live loopback server if the guard let it through, and that
// server counts every connection.
func TestGuardRefusesBeforeAnyByteIsSent(t *testing.T) {
	var connections atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			connections.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	blocked := New(Options{UserAgent: testUserAgent}) // default rules, nothing opened
	t.Cleanup(blocked.client.CloseIdleConnections)
	tests := []struct {
		name, url, wantErr string
	}{
		{"loopback", "http://127.0.0.1:" + port + "/", "127.0.0.1 is in a blocked network (loopback)"},
		{"another loopback address", "http://127.0.0.2:" + port + "/", "127.0.0.2 is in a blocked network (loopback)"},
		{"IPv6 loopback", "http://[::1]:" + port + "/", "::1 is in a blocked network (loopback)"},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + port + "/", "blocked network (loopback"},
		{"unspecified", "http://0.0.0.0:" + port + "/", "0.0.0.0 is in a blocked network (unspecified)"},
		{"a name resolving to loopback", "http://localhost:" + port + "/", "is in a blocked network (loopback)"},
		{"user@host trick", "http://example.com@127.0.0.1:" + port + "/", "127.0.0.1 is in a blocked network (loopback)"},
		{"metadata server", "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is in a blocked network (link-local)"},
		{"private", "http://10.1.2.3/", "10.1.2.3 is in a blocked network (private)"},
		{"IPv6 unique local (AWS metadata)", "http://[fd00:ec2::254]/", "fd00:ec2::254 is in a blocked network (private)"},
		{"carrier-grade NAT", "http://100.64.0.1/", "100.64.0.1 is in a blocked network (carrier-grade NAT)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res := blocked.Send(ctx, Request{URL: tt.url, Body: []byte(`{}`), Timeout: 5 * time.Second})
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
				t.Fatalf("Send(%s) error = %v, want it to contain %q", tt.url, res.Err, tt.wantErr)
			}
			if res.StatusCode != 0 {
				t.Fatalf("Send(%s) got an answer %d", tt.url, res.StatusCode)
			}
		})
	}

	// The decimal form of 127.0.0.1 either does not resolve or resolves to
	// loopback and is refused: it never reaches the server.
	res := blocked.Send(context.Background(), Request{URL: "http://2130706433:" + port + "/", Body: []byte(`{}`), Timeout: 5 * time.Second})
	if res.Err == nil {
		t.Fatalf("Send(decimal 127.0.0.1) succeeded")
	}
	if n := connections.Load(); n != 0 {
		t.Fatalf("the guard let %d connections through to the loopback server", n)
	}

	// Opened with --allow-networks, the same server is reached.
	guard, err := NewGuard([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	allowed := New(Options{UserAgent: testUserAgent, Guard: guard})
	t.Cleanup(allowed.client.CloseIdleConnections)
	if res := allowed.Send(context.Background(), Request{URL: srv.URL, Body: []byte(`{}`), Timeout: 5 * time.Second}); res.Err != nil {
		t.Fatalf("Send with 127.0.0.0/8 allowed: %v", res.Err)
	}
	if connections.Load() != 1 {
		t.Fatalf("want exactly the allowed connection, got %d", connections.Load())
	}
}

func TestProxyFromEnvironmentIsOffByDefault(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://10.9.9.9:3128")
	guard, err := NewGuard([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{UserAgent: testUserAgent, Guard: guard})
	t.Cleanup(s.client.CloseIdleConnections)
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	if res := s.Send(context.Background(), Request{URL: srv.URL, Body: []byte(`{}`), Timeout: 5 * time.Second}); res.Err != nil {
		t.Fatalf("a proxy in the environment was used: %v", res.Err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"Fri, 04 Dec 2026 10:05:00 GMT", 5 * time.Minute},
		{"Fri, 04 Dec 2026 09:55:00 GMT", 0},
		{"99999999999999", 365 * 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}
