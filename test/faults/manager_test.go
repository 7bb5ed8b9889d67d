//go:build linux

package faults

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// manager is one herald manager process.
type manager struct {
	name string
	cmd  *exec.Cmd
	pid  int
	out  *lockedBuffer
	// done is closed when the process has exited and been reaped; waitErr
	// is then cmd.Wait's result.
	done    chan struct{}
	waitErr error
	// killed is set before the test kills the process, so that an exit of
	// its own is told apart.
	killed atomic.Bool
}

// running holds the manager processes not reaped yet, by PID: the
// receivers attribute calls to them, and TestMain kills any left over.
var (
	runningMu sync.Mutex
	running   = map[int]*manager{}
)

func runningPIDs() []int {
	runningMu.Lock()
	defer runningMu.Unlock()
	pids := make([]int, 0, len(running))
	for pid := range running {
		pids = append(pids, pid)
	}
	return pids
}

// startManager runs the herald binary with the flags every test uses plus
// args. The process is killed, and checked to be gone, when the test ends.
func startManager(t *testing.T, name string, args ...string) *manager {
	t.Helper()
	args = append([]string{
		"--allow-networks=127.0.0.0/8",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
	}, args...)
	cmd := exec.Command(heraldBin, args...)
	// Nothing of the machine's environment (a KUBECONFIG, proxies) leaks in.
	cmd.Env = []string{
		"KUBECONFIG=" + kubeconfig,
		"HOME=" + filepath.Join(workDir, "home"),
		"PATH=" + os.Getenv("PATH"),
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Should the test binary die (a timeout's panic), the kernel kills the
	// managers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", heraldBin, err)
	}
	m := &manager{name: name, cmd: cmd, pid: cmd.Process.Pid, out: out, done: make(chan struct{})}
	runningMu.Lock()
	running[m.pid] = m
	runningMu.Unlock()
	go func() {
		m.waitErr = cmd.Wait()
		runningMu.Lock()
		delete(running, m.pid)
		runningMu.Unlock()
		close(m.done)
	}()
	t.Logf("started manager %s, pid %d: herald %s", name, m.pid, strings.Join(args, " "))
	t.Cleanup(func() {
		exitedOnItsOwn := m.exited() && !m.killed.Load()
		m.kill(t)
		if exitedOnItsOwn {
			t.Errorf("manager %s (pid %d) exited on its own: %v", m.name, m.pid, m.waitErr)
		}
		if t.Failed() {
			t.Logf("manager %s (pid %d) output, last lines:\n%s", m.name, m.pid, m.tail(40))
		}
	})
	return m
}

func (m *manager) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (what os.Process.Kill does on Linux), waits until the
// process is reaped, and checks that no herald process with its PID is left.
//
// Just before, it stops the process (SIGSTOP) and notes its sockets, so that
// calls it made and the receivers accept only after its death are still
// attributed to it. A stopped process does nothing more, so to herald this
// is the same as an immediate SIGKILL.
func (m *manager) kill(t *testing.T) {
	t.Helper()
	m.killed.Store(true)
	if !m.exited() {
		if err := syscall.Kill(m.pid, syscall.SIGSTOP); err == nil {
			waitStopped(m.pid)
			noteSockets(m.pid)
		}
		if err := m.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("killing manager %s (pid %d): %v", m.name, m.pid, err)
		}
	}
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Errorf("manager %s (pid %d) not reaped 30s after SIGKILL", m.name, m.pid)
		return
	}
	if heraldRuns(m.pid) {
		t.Errorf("a herald process with pid %d survives", m.pid)
	}
}

// waitStopped waits (up to 5s) until every thread of process pid is
// stopped: a signal takes effect asynchronously.
func waitStopped(pid int) {
	deadline := time.Now().Add(5 * time.Second)
	taskDir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir(taskDir)
		if err != nil {
			return
		}
		stopped := true
		for _, task := range tasks {
			stat, err := os.ReadFile(filepath.Join(taskDir, task.Name(), "stat"))
			if err != nil {
				continue
			}
			// The state follows the command name in parentheses.
			if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// heraldRuns reports whether pid is a live process running the herald
// binary (not just a reused PID).
func heraldRuns(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		// A zombie has no exe link; one of ours is reaped by cmd.Wait.
		return false
	}
	return strings.TrimSuffix(exe, " (deleted)") == heraldBin
}

// killAllManagers kills and reaps the managers still running and returns
// how many there were.
func killAllManagers() int {
	runningMu.Lock()
	left := make([]*manager, 0, len(running))
	for _, m := range running {
		left = append(left, m)
	}
	runningMu.Unlock()
	for _, m := range left {
		m.killed.Store(true)
		_ = m.cmd.Process.Kill()
		select {
		case <-m.done:
		case <-time.After(30 * time.Second):
		}
	}
	return len(left)
}

// logs returns everything the process wrote to stdout and stderr.
func (m *manager) logs() string { return m.out.String() }

// tail returns the last n lines of the output, each cut to 400 bytes.
func (m *manager) tail(n int) string {
	lines := strings.Split(strings.TrimRight(m.logs(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
