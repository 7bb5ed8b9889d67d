//go:build unix

// Command herald-dev is `make dev`: it tries herald on a machine without a
// cluster. It starts a local control plane (kube-apiserver and etcd, the
// envtest binaries), installs the CRDs, runs bin/herald against it, starts a
// demo receiver that checks the Standard Webhooks signatures and fails every
// third call on purpose, and applies the samples, the endpoint pointed at
// that receiver. Everything it writes is in one folder (.dev/ by default,
// reset on every run); Ctrl-C stops every process it started.
//
// With --exit-when-delivered (or HERALD_DEV_EXIT_WHEN_DELIVERED=1) it does
// not wait for Ctrl-C: once every sample delivery is Succeeded or Failed it
// prints "deliveries delivered", stops everything and exits 0.
//
// Arguments after "--" are passed to herald.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

const modulePath = "github.com/herald-operator/herald"

// Environment variables read by herald-dev.
const (
	envExitWhenDelivered = "HERALD_DEV_EXIT_WHEN_DELIVERED"
	envStateDir          = "HERALD_DEV_STATE_DIR"
)

// Files and folders of the state folder. Only these are removed when a run
// starts, so that a mistaken --state-dir never loses anything else.
const (
	lockFile       = ".lock"
	pidsFile       = "pids"
	kubeconfigFile = "kubeconfig"
	heraldLog      = "herald.log"
	receiverLog    = "receiver.log"
	apiserverLog   = "kube-apiserver.log"
	etcdLog        = "etcd.log"
	etcdDir        = "etcd"
	apiserverDir   = "kube-apiserver"
	samplesDir     = "samples"
)

var stateEntries = []string{pidsFile, kubeconfigFile, heraldLog, receiverLog, apiserverLog, etcdLog, etcdDir, apiserverDir, samplesDir}

// errInterrupted ends a run stopped by SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

type options struct {
	stateDir          string
	heraldBin         string
	exitWhenDelivered bool
	deliveries        int
	failEvery         int
	timeout           time.Duration
	heraldArgs        []string
}

func main() {
	opts := options{}
	flag.StringVar(&opts.stateDir, "state-dir", os.Getenv(envStateDir), "Folder of all state: kubeconfig, etcd data, certificates, logs (default: .dev in the repository; env "+envStateDir+"). Reset on every run.")
	flag.StringVar(&opts.heraldBin, "herald", "", "The herald binary to run (default: go build ./cmd/herald into bin/herald).")
	flag.BoolVar(&opts.exitWhenDelivered, "exit-when-delivered", boolEnv(envExitWhenDelivered), "Exit 0, stopping everything, once every sample delivery is Succeeded or Failed, instead of running until Ctrl-C (env "+envExitWhenDelivered+"=1).")
	flag.IntVar(&opts.deliveries, "deliveries", 5, "How many sample deliveries to create.")
	flag.IntVar(&opts.failEvery, "fail-every", 3, "The demo receiver answers 500 to every n-th call; 0 never.")
	flag.DurationVar(&opts.timeout, "timeout", 5*time.Minute, "With --exit-when-delivered: fail if the deliveries are not all delivered this long after they were created.")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: herald-dev [flags] [-- herald flags]\n\n"+
			"Runs herald on a local control plane with a demo receiver and the samples (make dev).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	opts.heraldArgs = flag.Args()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	handleSignals(cancel)

	err := run(ctx, opts)
	switch {
	case errors.Is(err, errInterrupted):
		say("stopped")
	case err != nil:
		fmt.Fprintln(os.Stderr, "herald-dev:", err)
		os.Exit(1)
	}
}

// procs records what a run has started, for the pids file and for the
// second Ctrl-C.
var procs tracker

// handleSignals cancels the run on the first SIGINT or SIGTERM; a second
// one kills every process started at once.
func handleSignals(cancel context.CancelFunc) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		say("%s: stopping herald and the control plane (again to kill them at once)", sig)
		cancel()
		<-sigs
		say("killing everything")
		recs, stateDir := procs.snapshot()
		if stateDir != "" {
			recs = append(recs, processesUsing(stateDir)...)
		}
		for _, r := range recs {
			if r.running() {
				killGroup(r.PID)
			}
		}
		os.Exit(130)
	}()
}

func boolEnv(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

func say(format string, args ...any) {
	fmt.Printf("herald-dev: "+format+"\n", args...)
}

// interrupted returns errInterrupted once ctx is cancelled.
func interrupted(ctx context.Context) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	return nil
}

func run(ctx context.Context, opts options) (err error) {
	if opts.deliveries < 1 {
		return errors.New("--deliveries must be at least 1")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	stateDir := opts.stateDir
	if stateDir == "" {
		stateDir = filepath.Join(root, ".dev")
	}
	if stateDir, err = filepath.Abs(stateDir); err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	unlock, err := lock(filepath.Join(stateDir, lockFile))
	if err != nil {
		return err
	}
	defer unlock()
	path := func(name string) string { return filepath.Join(stateDir, name) }

	stopLeftovers(stateDir, path(pidsFile))
	for _, e := range stateEntries {
		if err := os.RemoveAll(path(e)); err != nil {
			return err
		}
	}
	for _, d := range []string{etcdDir, apiserverDir} {
		if err := os.MkdirAll(path(d), 0o700); err != nil {
			return err
		}
	}
	if err := procs.start(stateDir, path(pidsFile)); err != nil {
		return err
	}
	// herald-dev's own logger: what envtest and the Go client report.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.ConsoleEncoder()))

	assets, err := envtestAssets(ctx, root)
	if err != nil {
		return err
	}
	heraldBin, err := heraldBinary(ctx, root, opts.heraldBin)
	if err != nil {
		return err
	}
	if err := interrupted(ctx); err != nil {
		return err
	}

	// The demo receiver.
	recvLog, err := os.OpenFile(path(receiverLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = recvLog.Close() }()
	rcv := &receiver{failEvery: opts.failEvery, log: recvLog, now: time.Now}
	receiverURL, stopReceiver, err := startReceiver(rcv)
	if err != nil {
		return err
	}
	defer stopReceiver()
	smp, err := prepareSamples(root, path(samplesDir), receiverURL)
	if err != nil {
		return err
	}
	rcv.secrets = smp.secrets
	say("demo receiver on %s (log: %s)", receiverURL, path(receiverLog))

	// The control plane.
	say("starting kube-apiserver and etcd from %s", assets)
	env, cfg, err := startControlPlane(root, stateDir, assets)
	if env != nil {
		defer func() {
			say("stopping kube-apiserver and etcd")
			if stopErr := env.Stop(); stopErr != nil {
				say("stopping the control plane: %v", stopErr)
			}
		}()
	}
	if err != nil {
		return err
	}
	if err := interrupted(ctx); err != nil {
		return err
	}
	kubeconfig := path(kubeconfigFile)
	if err := writeKubeconfig(env, kubeconfig); err != nil {
		return err
	}
	say("control plane at %s, CRDs installed (logs: %s, %s)", cfg.Host, path(apiserverLog), path(etcdLog))

	// herald.
	herald, err := startHerald(root, heraldBin, kubeconfig, path(heraldLog), opts.heraldArgs)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping herald")
		if stopErr := herald.stop(30 * time.Second); stopErr != nil {
			say("%v", stopErr)
		}
	}()
	say("herald running, pid %d (log: %s)", herald.cmd.Process.Pid, path(heraldLog))

	// The samples.
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heraldv1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	names, err := applySamples(ctx, c, smp, opts.deliveries)
	if err != nil {
		return err
	}
	say("applied %s (the sample endpoint, url pointed at the demo receiver, retry.backoff [%s]) and %d deliveries from %s",
		relTo(root, smp.endpointFile), strings.Join(devBackoff, ", "), len(names), sampleDeliveryFile)

	fmt.Printf(`
Try it, in another terminal:

  export KUBECONFIG=%s
  kubectl get deliveries -w
  kubectl get webhookendpoints
  kubectl describe delivery %s

More calls: kubectl create -f %s
The receiver answers 500 to every %s call; herald retries after %s.
`, kubeconfig, names[0], sampleDeliveryFile, ordinal(opts.failEvery), strings.Join(devBackoff, " and "))
	if opts.exitWhenDelivered {
		fmt.Printf("Waiting until every delivery is Succeeded or Failed (--exit-when-delivered).\n\n")
	} else {
		fmt.Printf("Ctrl-C stops herald and the control plane.\n\n")
	}

	err = watch(ctx, c, names, herald, path(heraldLog), opts)
	st := rcv.stats()
	say("the receiver took %d validly signed calls, answered 500 to %d of them on purpose, rejected %d", st.Calls, st.Failed, st.BadSignatures)
	if err == nil && st.BadSignatures > 0 {
		err = fmt.Errorf("the receiver rejected %d calls without a valid signature: see %s", st.BadSignatures, path(receiverLog))
	}
	return err
}

// watch prints every change of a delivery's phase or attempts until ctx is
// cancelled, herald exits, or, with --exit-when-delivered, every delivery
// in names is Succeeded or Failed.
func watch(ctx context.Context, c client.Client, names []string, herald *child, heraldLogPath string, opts options) error {
	seen := map[string]string{}
	deadline := time.Now().Add(opts.timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-herald.exited:
			status := herald.err
			if status == nil {
				status = errors.New("exit status 0")
			}
			return fmt.Errorf("herald exited unexpectedly (%w); the end of %s:\n%s", status, heraldLogPath, tail(heraldLogPath, 20))
		case <-tick.C:
		}
		var list heraldv1.WebhookDeliveryList
		if err := c.List(ctx, &list, client.InNamespace(devNamespace)); err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			lastErr = err
		} else {
			lastErr = nil
			final := 0
			for i := range list.Items {
				d := &list.Items[i]
				if line := describe(d); seen[d.Name] != line {
					seen[d.Name] = line
					fmt.Printf("  %-14s %s\n", d.Name, line)
				}
				if slices.Contains(names, d.Name) && d.Status.Phase.IsFinal() && len(d.Status.Attempts) > 0 {
					final++
				}
			}
			if opts.exitWhenDelivered && final == len(names) {
				fmt.Println("deliveries delivered")
				return nil
			}
		}
		if opts.exitWhenDelivered && time.Now().After(deadline) {
			msg := fmt.Sprintf("not every delivery was delivered within %s", opts.timeout)
			if lastErr != nil {
				msg += fmt.Sprintf(" (listing them: %v)", lastErr)
			}
			return fmt.Errorf("%s; the end of %s:\n%s", msg, heraldLogPath, tail(heraldLogPath, 20))
		}
	}
}

// describe is one line about where a delivery stands.
func describe(d *heraldv1.WebhookDelivery) string {
	phase := string(d.Status.Phase)
	if phase == "" {
		phase = "(new)"
	}
	var details []string
	if n := len(d.Status.Attempts); n > 0 {
		a := d.Status.Attempts[n-1]
		outcome := a.Error
		if a.StatusCode != 0 {
			outcome = strconv.Itoa(int(a.StatusCode))
		}
		details = append(details, fmt.Sprintf("attempt %d: %s", a.Number, truncate(outcome, 60)))
	}
	if d.Status.NextAttemptTime != nil && !d.Status.Phase.IsFinal() {
		details = append(details, "next attempt at "+d.Status.NextAttemptTime.Local().Format("15:04:05"))
	}
	if cond := meta.FindStatusCondition(d.Status.Conditions, "Delivered"); cond != nil && cond.Reason != "" && cond.Reason != phase {
		details = append(details, cond.Reason)
	}
	if len(details) == 0 {
		return phase
	}
	return fmt.Sprintf("%-9s %s", phase, strings.Join(details, ", "))
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// applySamples creates the Secret, the dev endpoint and n deliveries, and
// returns the deliveries' names.
func applySamples(ctx context.Context, c client.Client, s *samples, n int) ([]string, error) {
	for _, o := range s.objects {
		if err := c.Create(ctx, o.DeepCopy()); err != nil {
			return nil, fmt.Errorf("creating %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	var names []string
	for range n {
		d := s.delivery.DeepCopy()
		if err := c.Create(ctx, d); err != nil {
			return nil, fmt.Errorf("creating a delivery from %s: %w", sampleDeliveryFile, err)
		}
		names = append(names, d.GetName())
	}
	return names, nil
}

// startControlPlane starts kube-apiserver and etcd with their data,
// certificates and logs in stateDir, and installs the CRDs. The returned
// environment, if not nil, must be stopped even when err is not nil.
func startControlPlane(root, stateDir, assets string) (*envtest.Environment, *rest.Config, error) {
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(stateDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	apiLog, err := open(apiserverLog)
	if err != nil {
		return nil, nil, err
	}
	etcdOut, err := open(etcdLog)
	if err != nil {
		return nil, nil, err
	}
	// The children hold their own descriptors of the log files.
	defer func() { _ = apiLog.Close(); _ = etcdOut.Close() }()

	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{CertDir: filepath.Join(stateDir, apiserverDir), Out: apiLog, Err: apiLog},
			Etcd:      &envtest.Etcd{DataDir: filepath.Join(stateDir, etcdDir), Out: etcdOut, Err: etcdOut},
		},
		// Generous: a loaded two-core machine starts kube-apiserver slowly.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	// Record the processes even when the start failed halfway.
	if addErr := procs.add(processesUsing(stateDir)...); addErr != nil && err == nil {
		err = addErr
	}
	if err != nil {
		return env, nil, fmt.Errorf("starting the control plane: %w (logs: %s, %s)", err,
			filepath.Join(stateDir, apiserverLog), filepath.Join(stateDir, etcdLog))
	}
	return env, cfg, nil
}

// writeKubeconfig writes an admin's (system:masters) kubeconfig.
func writeKubeconfig(env *envtest.Environment, path string) error {
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	config, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing the admin's kubeconfig: %w", err)
	}
	return os.WriteFile(path, config, 0o600)
}

// startHerald runs herald against the dev control plane, its output in
// logPath. The demo receiver is on 127.0.0.1, which herald's address guard
// refuses unless allowed.
func startHerald(root, bin, kubeconfig, logPath string, extra []string) (*child, error) {
	args := []string{
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--zap-encoder=console",
		"--zap-time-encoding=iso8601",
	}
	if heraldHasFlag(bin, "allow-networks") {
		args = append(args, "--allow-networks=127.0.0.0/8")
	}
	args = append(args, extra...)
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = out.Close() }()
	fmt.Fprintf(out, "# herald-dev: KUBECONFIG=%s %s %s\n", kubeconfig, bin, strings.Join(args, " "))
	// Not bound to a context: herald-dev stops herald itself, gracefully
	// (child.stop), after the run's context is cancelled.
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = out, out
	c, err := startChild("herald", cmd)
	if err != nil {
		return nil, err
	}
	if err := procs.add(record("herald", cmd.Process.Pid)); err != nil {
		return c, err
	}
	return c, nil
}

// heraldHasFlag reports whether herald's usage lists --name.
func heraldHasFlag(bin, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	return bytes.Contains(out, []byte("-"+name+" "))
}

// envtestAssets returns KUBEBUILDER_ASSETS, or else the folder that
// hack/envtest-binaries.sh prints (it downloads or builds the binaries).
func envtestAssets(ctx context.Context, root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	say("KUBEBUILDER_ASSETS is not set: running hack/envtest-binaries.sh (the first time, this may build kube-apiserver and etcd for several minutes)")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "envtest-binaries.sh"))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return "", errInterrupted
		}
		return "", fmt.Errorf("hack/envtest-binaries.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// heraldBinary returns bin, or builds bin/herald.
func heraldBinary(ctx context.Context, root, bin string) (string, error) {
	if bin != "" {
		return filepath.Abs(bin)
	}
	out := filepath.Join(root, "bin", "herald")
	say("building %s", relTo(root, out))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/herald")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", errInterrupted
		}
		return "", fmt.Errorf("go build ./cmd/herald: %w", err)
	}
	return out, nil
}

// repoRoot is the folder of herald's go.mod, at or above the working
// directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run herald-dev inside the herald repository (no go.mod of %s above the working directory)", modulePath)
		}
		dir = parent
	}
}

// lock takes an exclusive lock on path, so that two runs never share a
// state folder. The lock goes with the process, however it ends.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("another herald-dev is running on %s (stop it first, or use --state-dir)", filepath.Dir(path))
	}
	return func() { _ = f.Close() }, nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func relTo(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
