//go:build linux

// Package dev_test runs `make dev`'s program, cmd/herald-dev, end to end: a
// real control plane from the envtest binaries, the real herald, the demo
// receiver, the samples, and the real kubectl against the kubeconfig it
// prints. It checks that every process herald-dev starts is gone when it
// exits, whether on its own (--exit-when-delivered) or on Ctrl-C (SIGINT).
package dev_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-operator/herald/internal/testenv"
)

const deliveries = 5

var (
	repoRoot   string
	heraldDev  string // the built cmd/herald-dev
	heraldBin  string // the built cmd/herald
	kubectlBin string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if err := testenv.CheckAssets(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var err error
	if kubectlBin, err = exec.LookPath("kubectl"); err != nil {
		fmt.Fprintln(os.Stderr, "these tests run the real kubectl, which is not on PATH:", err)
		return 1
	}
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "herald-dev-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	heraldDev = filepath.Join(dir, "herald-dev")
	heraldBin = filepath.Join(dir, "herald")
	for out, pkg := range map[string]string{heraldDev: "./cmd/herald-dev", heraldBin: "./cmd/herald"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = repoRoot
		output, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, output)
			return 1
		}
	}
	return m.Run()
}

// TestExitWhenDelivered is `make dev` in its non-interactive mode: it exits
// 0 by itself once every sample delivery is delivered, and leaves nothing
// running.
func TestExitWhenDelivered(t *testing.T) {
	run := startDev(t, "--exit-when-delivered", "--timeout=8m")
	if err := run.wait(12 * time.Minute); err != nil {
		t.Fatalf("herald-dev --exit-when-delivered: %v\noutput:\n%s", err, run.output())
	}
	out := run.output()
	if !regexp.MustCompile(`(?m)^deliveries delivered$`).MatchString(out) {
		t.Fatalf("no \"deliveries delivered\" line in the output:\n%s", out)
	}
	if got := printedKubeconfig(t, out); got != filepath.Join(run.stateDir, "kubeconfig") {
		t.Errorf("printed KUBECONFIG=%s, want the state folder's kubeconfig %s", got, filepath.Join(run.stateDir, "kubeconfig"))
	}
	checkReceiverLog(t, run.stateDir)
	checkNothingLeft(t, run.stateDir)
}

// TestCtrlCStopsEverything runs `make dev` interactively, uses the printed
// KUBECONFIG with the real kubectl while it runs, then presses Ctrl-C.
func TestCtrlCStopsEverything(t *testing.T) {
	run := startDev(t)
	run.waitForLine(t, regexp.MustCompile(`^Ctrl-C stops`), 12*time.Minute)
	out := run.output()
	kubeconfig := printedKubeconfig(t, out)
	describe := regexp.MustCompile(`(?m)^\s*kubectl describe delivery (\S+)$`).FindStringSubmatch(out)
	if describe == nil {
		t.Fatalf("no `kubectl describe delivery NAME` in the output:\n%s", out)
	}
	for _, want := range []string{"kubectl get deliveries -w", "kubectl get webhookendpoints"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not suggest %q:\n%s", want, out)
		}
	}

	// Every process is up while it runs.
	recs := readPIDs(t, run.stateDir)
	for _, r := range recs {
		if !r.running() {
			t.Fatalf("%s (pid %d) is not running while herald-dev runs\noutput:\n%s", r.name, r.pid, run.output())
		}
	}

	// kubectl, with the printed kubeconfig and nothing else of this machine.
	kubectl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectlBin, args...)
		cmd.Env = []string{"KUBECONFIG=" + kubeconfig, "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		output, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s\nherald-dev's output:\n%s", strings.Join(args, " "), err, output, run.output())
		}
		return string(output)
	}
	// The deliveries leave Pending: delivered, or waiting for a retry.
	var phases map[string]string
	deadline := time.Now().Add(5 * time.Minute)
	for {
		phases = map[string]string{}
		done := 0
		for _, line := range strings.Split(strings.TrimSpace(kubectl("get", "deliveries", "--no-headers", "-o", "custom-columns=NAME:.metadata.name,PHASE:.status.phase")), "\n") {
			if f := strings.Fields(line); len(f) == 2 {
				phases[f[0]] = f[1]
				if f[1] == "Succeeded" || f[1] == "Failed" || f[1] == "Retrying" {
					done++
				}
			}
		}
		if len(phases) == deliveries && done == deliveries {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 minutes, the deliveries are %v; want %d, each Succeeded, Failed or Retrying\nherald-dev's output:\n%s", phases, deliveries, run.output())
		}
		time.Sleep(2 * time.Second)
	}
	table := kubectl("get", "deliveries")
	t.Logf("kubectl get deliveries:\n%s", table)
	if !strings.Contains(table, "PHASE") || strings.Count(table, "\nlogout-") != deliveries {
		t.Errorf("kubectl get deliveries does not list the %d deliveries:\n%s", deliveries, table)
	}
	if endpoints := kubectl("get", "webhookendpoints"); !strings.Contains(endpoints, "billing-app") || !strings.Contains(endpoints, "http://127.0.0.1:") {
		t.Errorf("kubectl get webhookendpoints does not show billing-app pointed at the demo receiver:\n%s", endpoints)
	}
	if d := kubectl("describe", "delivery", describe[1]); !strings.Contains(d, describe[1]) || !strings.Contains(d, "user.logout") {
		t.Errorf("kubectl describe delivery %s:\n%s", describe[1], d)
	}

	// Ctrl-C.
	if err := run.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := run.wait(5 * time.Minute); err != nil {
		t.Fatalf("herald-dev after SIGINT: %v\noutput:\n%s", err, run.output())
	}
	if !regexp.MustCompile(`(?m)^herald-dev: stopped$`).MatchString(run.output()) {
		t.Errorf("no \"herald-dev: stopped\" line after SIGINT:\n%s", run.output())
	}
	checkReceiverLog(t, run.stateDir)
	checkNothingLeft(t, run.stateDir)
}

// devRun is a running herald-dev.
type devRun struct {
	cmd      *exec.Cmd
	stateDir string

	mu    sync.Mutex
	lines []string // its stdout and stderr, by line

	readDone chan struct{} // closed when the output has been read to its end
	exited   chan struct{} // closed when it has exited; err is then set
	err      error
}

// startDev starts herald-dev on a state folder of its own, in the
// repository, and makes sure it and its processes are gone after the test.
func startDev(t *testing.T, args ...string) *devRun {
	t.Helper()
	run := &devRun{stateDir: filepath.Join(t.TempDir(), "state"), readDone: make(chan struct{}), exited: make(chan struct{})}
	args = append([]string{"--state-dir=" + run.stateDir, "--herald=" + heraldBin, "--deliveries=" + strconv.Itoa(deliveries)}, args...)
	run.cmd = exec.Command(heraldDev, args...)
	run.cmd.Dir = repoRoot
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "HERALD_DEV_") {
			run.cmd.Env = append(run.cmd.Env, kv)
		}
	}
	// Its own process group, like a program started from a shell.
	run.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	run.cmd.Stdout, run.cmd.Stderr = pw, pw
	if err := run.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	go func() {
		defer close(run.readDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			run.mu.Lock()
			run.lines = append(run.lines, sc.Text())
			run.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
		_ = pr.Close()
	}()
	go func() {
		run.err = run.cmd.Wait()
		close(run.exited)
	}()
	t.Cleanup(func() { run.cleanup(t) })
	return run
}

func (r *devRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n") + "\n"
}

// wait waits for herald-dev to exit and returns its error (nil: exit 0).
func (r *devRun) wait(timeout time.Duration) error {
	select {
	case <-r.exited:
	case <-time.After(timeout):
		return fmt.Errorf("still running after %s", timeout)
	}
	select {
	case <-r.readDone:
	case <-time.After(time.Minute):
	}
	return r.err
}

// waitForLine waits until a line of the output matches re.
func (r *devRun) waitForLine(t *testing.T, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		for _, l := range r.lines {
			if re.MatchString(l) {
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		select {
		case <-r.exited:
			_ = r.wait(time.Minute)
			t.Fatalf("herald-dev exited (%v) before printing a line matching %q:\n%s", r.err, re, r.output())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line matching %q after %s:\n%s", re, timeout, r.output())
		}
	}
}

// cleanup stops herald-dev if a failed test left it running, and kills any
// process of its state folder, so that a failure leaks nothing.
func (r *devRun) cleanup(t *testing.T) {
	select {
	case <-r.exited:
	default:
		t.Logf("herald-dev still runs at the end of the test: sending SIGTERM")
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		if r.wait(3*time.Minute) != nil {
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.exited
		}
	}
	for _, p := range readPIDsQuietly(r.stateDir) {
		if p.running() {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	for _, p := range processesUsing(r.stateDir) {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// printedKubeconfig is the path of the `export KUBECONFIG=...` line.
func printedKubeconfig(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*export KUBECONFIG=(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no `export KUBECONFIG=...` line in the output:\n%s", out)
	}
	return m[1]
}

// checkReceiverLog checks that the demo receiver took a validly signed call
// per delivery, and rejected none.
func checkReceiverLog(t *testing.T, stateDir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "receiver.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if n := strings.Count(log, "signature=valid"); n < deliveries {
		t.Errorf("the receiver took %d validly signed calls, want at least %d:\n%s", n, deliveries, log)
	}
	if strings.Contains(log, "REJECTED") {
		t.Errorf("the receiver rejected calls:\n%s", log)
	}
}

// checkNothingLeft checks that the processes herald-dev recorded, and any
// process naming its state folder, are gone.
func checkNothingLeft(t *testing.T, stateDir string) {
	t.Helper()
	recs := readPIDs(t, stateDir)
	names := map[string]bool{}
	for _, r := range recs {
		names[r.name] = true
	}
	for _, want := range []string{"etcd", "kube-apiserver", "herald"} {
		if !names[want] {
			t.Errorf("the pids file of %s records no %s: %v", stateDir, want, recs)
		}
	}
	// herald-dev waits for its children before it exits; the grace covers
	// a slow /proc only.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for _, r := range recs {
			if r.running() {
				left = append(left, fmt.Sprintf("%s (pid %d)", r.name, r.pid))
			}
		}
		for _, p := range processesUsing(stateDir) {
			left = append(left, fmt.Sprintf("%s (pid %d, names the state folder)", p.name, p.pid))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running after herald-dev exited: %s", strings.Join(left, ", "))
		}
		time.Sleep(time.Second)
	}
}

// proc is a line of herald-dev's pids file: name, pid, start time.
type proc struct {
	name  string
	pid   int
	start string // field 22 of /proc/PID/stat
}

// running reports whether the process still runs: same PID, same start
// time (not a reused PID), not a zombie.
func (p proc) running() bool {
	stat, err := readStat(p.pid)
	if err != nil || stat[0] == "Z" || stat[0] == "X" {
		return false
	}
	return p.start == "0" || p.start == "" || stat[19] == p.start
}

// readStat returns the fields of /proc/PID/stat after the command name:
// [0] is the state (field 3), [19] the start time (field 22).
func readStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil, errors.New("bad stat")
	}
	return f, nil
}

func readPIDs(t *testing.T, stateDir string) []proc {
	t.Helper()
	recs := readPIDsQuietly(stateDir)
	if len(recs) == 0 {
		t.Fatalf("no processes recorded in %s", filepath.Join(stateDir, "pids"))
	}
	return recs
}

func readPIDsQuietly(stateDir string) []proc {
	b, err := os.ReadFile(filepath.Join(stateDir, "pids"))
	if err != nil {
		return nil
	}
	var recs []proc
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if pid, err := strconv.Atoi(f[1]); err == nil {
			recs = append(recs, proc{f[0], pid, f[2]})
		}
	}
	return recs
}

// processesUsing lists the running processes whose command line or
// environment names stateDir.
func processesUsing(stateDir string) []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := readStat(pid)
		if err != nil || stat[0] == "Z" || stat[0] == "X" {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if strings.Contains(string(cmdline), stateDir) || strings.Contains(string(environ), stateDir) {
			name := strings.SplitN(string(cmdline), "\x00", 2)[0]
			out = append(out, proc{filepath.Base(name), pid, stat[19]})
		}
	}
	return out
}
