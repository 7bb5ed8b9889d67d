//go:build unix

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procRecord identifies a process herald-dev started. Start is the process's
// start time (clock ticks since boot, from /proc), so that a reused PID is
// never mistaken for it; 0 where unknown.
type procRecord struct {
	Name  string
	PID   int
	Start uint64
}

// record returns the procRecord of a running process.
func record(name string, pid int) procRecord {
	start, _ := processStartTime(pid)
	return procRecord{Name: name, PID: pid, Start: start}
}

// running reports whether the recorded process still runs (a zombie does
// not count).
func (p procRecord) running() bool {
	if p.PID <= 0 {
		return false
	}
	start, err := processStartTime(p.PID)
	if err != nil {
		return false
	}
	return p.Start == 0 || start == p.Start
}

// tracker holds the processes started so far, mirrored to the pids file so
// that a later run (or a test) can find them.
type tracker struct {
	mu       sync.Mutex
	stateDir string
	path     string
	recs     []procRecord
}

// start begins the records of a run on stateDir, in the file path.
func (t *tracker) start(stateDir, path string) error {
	t.mu.Lock()
	t.stateDir, t.path, t.recs = stateDir, path, nil
	t.mu.Unlock()
	return t.add()
}

func (t *tracker) add(recs ...procRecord) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recs = append(t.recs, recs...)
	var b strings.Builder
	b.WriteString("# processes started by herald-dev: name pid start-time (clock ticks after boot)\n")
	for _, r := range t.recs {
		fmt.Fprintf(&b, "%s %d %d\n", r.Name, r.PID, r.Start)
	}
	return os.WriteFile(t.path, []byte(b.String()), 0o644)
}

// snapshot returns the processes recorded so far and the state folder.
func (t *tracker) snapshot() ([]procRecord, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]procRecord(nil), t.recs...), t.stateDir
}

// readPIDs reads a pids file written by tracker.
func readPIDs(path string) ([]procRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var recs []procRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		pid, err1 := strconv.Atoi(fields[1])
		start, err2 := strconv.ParseUint(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		recs = append(recs, procRecord{fields[0], pid, start})
	}
	return recs, sc.Err()
}

// killGroup kills a process and its process group (every child is started
// as the leader of its own group) with SIGKILL.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// stopLeftovers kills the processes of an earlier run on the same state
// folder that are still running: possible only if that run was killed with
// SIGKILL, which it cannot handle.
func stopLeftovers(stateDir, pidsFile string) {
	recs, _ := readPIDs(pidsFile)
	recs = append(recs, processesUsing(stateDir)...)
	seen := map[int]bool{}
	for _, r := range recs {
		if seen[r.PID] || r.PID == os.Getpid() || !r.running() {
			continue
		}
		seen[r.PID] = true
		say("stopping %s (pid %d), left running by an earlier herald-dev on %s", r.Name, r.PID, stateDir)
		killGroup(r.PID)
		deadline := time.Now().Add(10 * time.Second)
		for r.running() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// spawnRequests are served by one goroutine locked to its OS thread for the
// life of the program: Linux sends a child's Pdeathsig when the *thread*
// that forked it exits, so the forking thread must never exit.
var spawnRequests = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread()
		for f := range spawnRequests {
			f()
		}
	}()
}

func spawn(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	spawnRequests <- func() { errc <- cmd.Start() }
	return <-errc
}

// child is a long-running child process in its own process group, so that
// a Ctrl-C at the terminal reaches herald-dev only, which then stops the
// children in order.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited and been reaped
	err    error         // Wait's result, set before exited is closed
}

func startChild(name string, cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = childProcAttr()
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// stop sends SIGTERM to the child's process group, and SIGKILL if it has
// not exited after grace.
func (c *child) stop(grace time.Duration) error {
	select {
	case <-c.exited:
		return nil
	default:
	}
	pid := c.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s: %w", c.name, err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(grace):
	}
	killGroup(pid)
	<-c.exited
	return fmt.Errorf("%s did not stop within %s after SIGTERM; killed it", c.name, grace)
}

// processesUsing lists the control plane processes and herald processes
// whose command line or environment names stateDir: those started by
// herald-dev for that folder (etcd's --data-dir, kube-apiserver's
// --cert-dir, herald's KUBECONFIG).
func processesUsing(stateDir string) []procRecord {
	var out []procRecord
	for _, pid := range allPIDs() {
		if pid == os.Getpid() {
			continue
		}
		argv := readNulSeparated(fmt.Sprintf("/proc/%d/cmdline", pid))
		if len(argv) == 0 {
			continue
		}
		name := filepath.Base(argv[0])
		switch name {
		case "etcd", "kube-apiserver":
			if anyContains(argv[1:], stateDir) {
				out = append(out, record(name, pid))
			}
		case "herald":
			env := readNulSeparated(fmt.Sprintf("/proc/%d/environ", pid))
			if anyContains(env, "KUBECONFIG="+filepath.Join(stateDir, "kubeconfig")) {
				out = append(out, record(name, pid))
			}
		}
	}
	return out
}

func anyContains(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

func readNulSeparated(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}
