//go:build linux

package faults

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseName is the manager's LeaderElectionID (cmd/herald).
const leaseName = "herald.webhooks.herald.dev"

// acquiredLease matches client-go's log line when a process becomes leader.
var acquiredLease = regexp.MustCompile(`(?i)successfully acquired lease`)

func (m *manager) isLeader() bool { return acquiredLease.MatchString(m.logs()) }

func leaseHolder(t *testing.T, ns string) string {
	t.Helper()
	var lease coordinationv1.Lease
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: leaseName}, &lease); err != nil {
		return ""
	}
	return ptr.Deref(lease.Spec.HolderIdentity, "")
}

// TestLeaderElectionFailover runs two managers with leader election: only
// the leader makes calls; when it is killed with SIGKILL, the other takes
// the lease once it expires and delivers the rest. No delivery is lost and
// no call is made twice.
func TestLeaderElectionFailover(t *testing.T) {
	const batch = 50
	ns := newNamespace(t)
	leaseNS := newNamespace(t)
	rcv := newReceiver(t, "ha", func(_ int, w http.ResponseWriter, r *http.Request) string {
		time.Sleep(20 * time.Millisecond)
		return status(http.StatusOK)(w, r)
	})
	createEndpoint(t, ns, "ep", rcv.URL+"/hooks", defaultBackoff)

	args := []string{"--leader-elect", "--leader-election-namespace=" + leaseNS}
	a := startManager(t, "a", args...)
	b := startManager(t, "b", args...)
	var leader, follower *manager
	eventually(t, time.Minute, "a manager acquires the lease", func() (bool, string) {
		switch la, lb := a.isLeader(), b.isLeader(); {
		case la && lb:
			t.Fatalf("both managers say they acquired the lease")
		case la:
			leader, follower = a, b
		case lb:
			leader, follower = b, a
		}
		return leader != nil && leaseHolder(t, leaseNS) != "", fmt.Sprintf("lease holder %q", leaseHolder(t, leaseNS))
	})
	firstHolder := leaseHolder(t, leaseNS)
	t.Logf("manager %s (pid %d) leads, as %s; %s (pid %d) follows", leader.name, leader.pid, firstHolder, follower.name, follower.pid)

	first := createDeliveries(t, ns, "ep", batch)
	waitAllFinal(t, ns, batch, time.Minute)
	for pid, n := range callsByPID(rcv.got()) {
		if pid != leader.pid {
			t.Errorf("%d calls came from pid %d, not the leader (pid %d)", n, pid, leader.pid)
		}
	}
	if follower.isLeader() {
		t.Errorf("the follower says it acquired the lease while the leader lives")
	}
	if h := leaseHolder(t, leaseNS); h != firstHolder {
		t.Errorf("the lease changed hands from %s to %s while the leader lives", firstHolder, h)
	}

	leader.kill(t)
	killedAt := time.Now()
	second := createDeliveries(t, ns, "ep", batch)
	// LeaseDuration 15s, RetryPeriod 2s (controller-runtime's defaults):
	// the follower takes over within about 17s of the leader's last renewal.
	eventually(t, 35*time.Second, "the follower acquires the lease after the leader was killed", func() (bool, string) {
		h := leaseHolder(t, leaseNS)
		return follower.isLeader() && h != "" && h != firstHolder, fmt.Sprintf("lease holder %q", h)
	})
	t.Logf("the follower took the lease %s after the leader was killed, as %s",
		time.Since(killedAt).Round(100*time.Millisecond), leaseHolder(t, leaseNS))

	waitAllFinal(t, ns, 2*batch, 90*time.Second)
	o := checkNothingLost(t, ns, append(first, second...), true, rcv)
	noDuplicates(t, o)
	for _, c := range o.calls {
		switch {
		case c.start.Before(killedAt) && c.pid != leader.pid:
			t.Errorf("before the kill, a call from pid %d, not the leader's %d: %s", c.pid, leader.pid, c)
		case c.start.After(killedAt) && c.pid != follower.pid:
			t.Errorf("after the kill, a call from pid %d, not the new leader's %d: %s", c.pid, follower.pid, c)
		}
	}
	t.Logf("calls by pid: %v", callsByPID(o.calls))
}
