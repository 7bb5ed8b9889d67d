// Command bench measures herald on a local control plane: deliveries per
// second, latency, API requests per delivery, CPU and memory, with herald's
// manager running in this process against envtest's kube-apiserver and etcd,
// and a fast local receiver. It compares herald with two baselines on the
// same API server and receiver: the API server alone (one create and one
// status write per object) and plain HTTP calls.
//
// Run it with `make bench` (which provides KUBEBUILDER_ASSETS); see the
// "Performance" section of README.md for what it reports.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/sender"
)

// options are the command's flags.
type options struct {
	n                    int
	scale                []int
	endpoints            int
	rate                 float64
	concurrency          int
	concurrentDeliveries int
	httpConcurrency      int
	retryFraction        float64
	retryBackoff         time.Duration
	sign                 bool
	live                 []int
	statsSizes           []int
	statsReps            int
	statisticsDelay      time.Duration
	jsonPath             string
	cpuProfile           string
	crdDir               string
	wait                 time.Duration
	verbose              bool
}

func parseFlags() (*options, error) {
	o := &options{}
	var scale, live, statsSizes string
	flag.IntVar(&o.n, "n", 5000, "deliveries per herald run: half at -rate, half as a burst")
	flag.StringVar(&scale, "scale", "", "comma-separated N values for growth runs (e.g. 1000,5000,20000); replaces -n")
	flag.IntVar(&o.endpoints, "endpoints", 50, "endpoints the deliveries are spread over")
	flag.Float64Var(&o.rate, "rate", 500, "creation rate of the steady phase, deliveries per second")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent Create calls of the creating client (burst phase and API baseline)")
	flag.IntVar(&o.concurrentDeliveries, "concurrent-deliveries", 64, "herald's --concurrent-deliveries")
	flag.IntVar(&o.httpConcurrency, "http-concurrency", 0, "concurrent calls of the HTTP baseline (default: -concurrent-deliveries)")
	flag.Float64Var(&o.retryFraction, "retry-fraction", 0.1, "fraction of endpoints whose receiver answers 500 to the first attempt")
	flag.DurationVar(&o.retryBackoff, "retry-backoff", time.Second, "the endpoints' retry.backoff (one retry)")
	flag.BoolVar(&o.sign, "sign", true, "give the endpoints a signing Secret (herald then signs every call)")
	flag.StringVar(&live, "live", "1000,10000", "live (Held) delivery counts at which herald's heap is measured; empty skips")
	flag.StringVar(&statsSizes, "stats-sizes", "1000,10000", "live delivery counts on one endpoint at which the endpoint reconciler is timed; empty skips")
	flag.IntVar(&o.statsReps, "stats-reps", 20, "endpoint reconciles timed at each -stats-sizes count")
	flag.DurationVar(&o.statisticsDelay, "statistics-delay", 2*time.Second, "herald's --statistics-delay")
	flag.StringVar(&o.jsonPath, "json", "", "write the figures as JSON to this file")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&o.crdDir, "crd-dir", "", "folder of herald's CRDs (default: config/crd/bases of the module)")
	flag.DurationVar(&o.wait, "wait", 5*time.Minute, "longest wait for one phase to finish")
	flag.BoolVar(&o.verbose, "v", false, "log the manager's and the control plane's output")
	flag.Parse()

	var err error
	if o.scale, err = intList(scale); err != nil {
		return nil, fmt.Errorf("-scale: %w", err)
	}
	if len(o.scale) == 0 {
		o.scale = []int{o.n}
	}
	if o.live, err = intList(live); err != nil {
		return nil, fmt.Errorf("-live: %w", err)
	}
	if o.statsSizes, err = intList(statsSizes); err != nil {
		return nil, fmt.Errorf("-stats-sizes: %w", err)
	}
	if o.httpConcurrency <= 0 {
		o.httpConcurrency = o.concurrentDeliveries
	}
	switch {
	case o.endpoints < 1, o.concurrency < 1, o.concurrentDeliveries < 1, o.rate <= 0, o.statsReps < 1:
		return nil, errors.New("-endpoints, -concurrency, -concurrent-deliveries, -rate and -stats-reps must be positive")
	case o.retryFraction < 0 || o.retryFraction > 1:
		return nil, errors.New("-retry-fraction must be between 0 and 1")
	}
	for _, n := range o.scale {
		if n < 2 {
			return nil, fmt.Errorf("each -n or -scale value must be at least 2, got %d", n)
		}
	}
	if o.crdDir == "" {
		if o.crdDir, err = findCRDs(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// findCRDs looks for config/crd/bases in the working directory and its
// parents (the module root).
func findCRDs() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "config", "crd", "bases")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("config/crd/bases not found above the working directory; set -crd-dir")
		}
		dir = parent
	}
}

// warmUpDeliveries is the size of the unmeasured run that warms the API
// server up.
const warmUpDeliveries = 1000

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is the shared world of every phase: one control plane, one
// receiver, one creating client.
type bench struct {
	opts   *options
	scheme *k8sruntime.Scheme
	// cfg is the control plane's admin config, without client-side rate
	// limiting (as ctrl.GetConfig gives the manager in a cluster).
	cfg *rest.Config
	// c is the bench's own client (creates, watches); its requests are not
	// counted.
	c     client.WithWatch
	rcv   *receiver
	guard *sender.Guard
	seq   int
}

func run() error {
	opts, err := parseFlags()
	if err != nil {
		return err
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run `make bench`, which provides kube-apiserver and etcd")
	}
	if opts.cpuProfile != "" {
		f, err := os.Create(opts.cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if opts.verbose {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
		klog.SetOutput(io.Discard)
		klog.LogToStderr(false)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &bench{opts: opts, scheme: k8sruntime.NewScheme()}
	utilruntime.Must(clientgoscheme.AddToScheme(b.scheme))
	utilruntime.Must(heraldv1.AddToScheme(b.scheme))
	if b.guard, err = sender.NewGuard([]string{"127.0.0.0/8"}); err != nil {
		return err
	}

	progress("starting the control plane (envtest, CRDs from %s)", opts.crdDir)
	env := &envtest.Environment{CRDDirectoryPaths: []string{opts.crdDir}, ErrorIfCRDPathMissing: true}
	if opts.verbose {
		env.AttachControlPlaneOutput = true
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting envtest: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping envtest:", err)
		}
	}()
	b.cfg = rest.CopyConfig(cfg)
	b.cfg.QPS = -1 // no client-side rate limit, as ctrl.GetConfig sets for the manager
	b.cfg.Burst = 0
	if b.c, err = client.NewWithWatch(ownConnection(b.cfg), client.Options{Scheme: b.scheme}); err != nil {
		return err
	}
	if b.rcv, err = startReceiver(ctx); err != nil {
		return err
	}
	defer b.rcv.close()

	res := &Results{
		Started:   time.Now().UTC().Format(time.RFC3339),
		GoVersion: runtime.Version(),
		CPUs:      runtime.NumCPU(),
		Options:   optionsJSON(opts),
	}
	// A first run on a cold API server is slower than any after it: warm
	// it up, so that the first -scale run's baseline is not the slow one.
	progress("warming up the API server (%d creates and status writes, not measured)", warmUpDeliveries)
	warm, err := b.runAPIBaseline(ctx, warmUpDeliveries)
	if err != nil {
		return err
	}
	if err := b.deleteDeliveries(ctx, warm.namespace); err != nil {
		return err
	}
	for _, n := range opts.scale {
		sr, err := b.runScale(ctx, n)
		if err != nil {
			return err
		}
		res.Runs = append(res.Runs, *sr)
	}
	if len(opts.live) > 0 {
		lr, err := b.runLive(ctx)
		if err != nil {
			return err
		}
		res.Live = lr
	}
	if len(opts.statsSizes) > 0 {
		st, err := b.runStats(ctx)
		if err != nil {
			return err
		}
		res.Statistics = st
	}
	res.Growth = growthOf(res.Runs)
	res.Exponents = growthExponentsOf(res.Runs)
	res.Targets = evaluateTargets(res)
	printReport(os.Stdout, res)
	if opts.jsonPath != "" {
		data, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(opts.jsonPath, append(data, '\n'), 0o644); err != nil {
			return err
		}
		progress("wrote %s", opts.jsonPath)
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// nextSeq numbers namespaces, so that every phase has its own.
func (b *bench) nextSeq() int {
	b.seq++
	return b.seq
}
