// kubectl-herald is a kubectl plugin for herald: it sends a WebhookDelivery
// and follows it, resumes a suspended WebhookEndpoint, records a
// WebhookIssueReport, shows an endpoint's statistics with an hourly chart,
// and redelivers a Failed delivery with the same webhook id.
//
// Put the binary on PATH as kubectl-herald and run `kubectl herald --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// Exit codes.
const (
	exitOK = 0
	// exitError: any error, a --wait that timed out included.
	exitError = 1
	// exitDeliveryFailed: send --wait followed a delivery that ended Failed.
	exitDeliveryFailed = 2
)

// fieldManager names this plugin in the objects' managedFields.
const fieldManager = "kubectl-herald"

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(heraldv1.AddToScheme(scheme))
}

func main() {
	// controller-runtime complains after a while when no logger is set; the
	// plugin reports everything itself.
	logf.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newApp(os.Stdin, os.Stdout, os.Stderr).run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// app is one run of the plugin: its streams, its clock and how it connects.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	// connect makes the client and finds the namespace from the global
	// flags, the kubeconfig and KUBECONFIG.
	connect func(g *globalOptions, stderr io.Writer) (client.WithWatch, string, error)
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, connect: connect}
}

// globalOptions are the flags every verb takes.
type globalOptions struct {
	kubeconfig string
	context    string
	namespace  string
	output     string
	// namespaceSet: -n was given on the command line.
	namespaceSet bool
}

func globalFlags(g *globalOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("global", pflag.ContinueOnError)
	fs.StringVarP(&g.namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's namespace, else \"default\")")
	fs.StringVar(&g.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&g.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.StringVarP(&g.output, "output", "o", "", "json or yaml: print the object created or changed (stats: status.statistics) instead of text")
	return fs
}

// command is one verb.
type command struct {
	name string
	args string // the arguments, for the usage line
	// positional names the positional arguments, checked before connecting.
	positional []string
	short      string
	long       string
	example    string
	// flags defines the verb's own flags and returns the function that runs
	// it with the positional arguments once they are parsed.
	flags func(a *app, fs *pflag.FlagSet) func(ctx context.Context, env *runEnv, args []string) error
}

// runEnv is what a verb gets once the flags are parsed: how to connect,
// and where to write. A verb checks its flags before it connects.
type runEnv struct {
	connect func() (client.WithWatch, string, error)
	// namespaceSet: -n was given.
	namespaceSet bool
	streams      streams
}

func commands() []*command {
	return []*command{sendCommand(), resumeCommand(), reportCommand(), statsCommand(), redeliverCommand()}
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

const topUsage = `kubectl herald: work with herald's webhook deliveries and endpoints.

Usage:
  kubectl herald COMMAND [ARGS] [flags]

Commands:
%s
Global flags:
%s
Run 'kubectl herald COMMAND --help' for a command's arguments and flags.
The plugin is the binary kubectl-herald on PATH; it can also be run directly.
It reads the kubeconfig as kubectl does (--kubeconfig, $KUBECONFIG,
~/.kube/config) and needs herald's CRDs in the cluster, not herald itself,
except that deliveries only progress while herald runs.

Exit status: 0 on success, 1 on an error (a --wait that timed out included),
2 when 'send --wait' followed a delivery that ended Failed.
`

func (a *app) printTopUsage(w io.Writer) {
	var cmds strings.Builder
	for _, c := range commands() {
		fmt.Fprintf(&cmds, "  %-10s %s\n", c.name, c.short)
	}
	var g globalOptions
	fmt.Fprintf(w, topUsage, cmds.String(), globalFlags(&g).FlagUsages())
}

func (a *app) printCommandUsage(w io.Writer, c *command, own, global *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  kubectl herald %s %s [flags]\n\n", c.long, c.name, c.args)
	if c.example != "" {
		fmt.Fprintf(w, "Examples:\n%s\n", c.example)
	}
	if own.HasFlags() {
		fmt.Fprintf(w, "Flags:\n%s\n", own.FlagUsages())
	}
	fmt.Fprintf(w, "Global flags:\n%s", global.FlagUsages())
}

// run runs the plugin with the arguments after its name and returns the
// exit code.
func (a *app) run(ctx context.Context, args []string) int {
	// Global flags may come before the verb: find the verb first.
	var pre globalOptions
	top := globalFlags(&pre)
	top.SetInterspersed(false)
	top.SetOutput(io.Discard)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			a.printTopUsage(a.stdout)
			return exitOK
		}
		return a.fail(fmt.Errorf("%w\nRun 'kubectl herald --help' for usage", err))
	}
	rest := top.Args()
	leading := args[:len(args)-len(rest)]
	if n := len(leading); n > 0 && leading[n-1] == "--" {
		leading = leading[:n-1]
	}
	if len(rest) == 0 {
		a.printTopUsage(a.stdout)
		return exitOK
	}
	verb := rest[0]
	if verb == "help" {
		if len(rest) > 1 {
			if c := findCommand(rest[1]); c != nil {
				var g globalOptions
				own := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
				c.flags(a, own)
				a.printCommandUsage(a.stdout, c, own, globalFlags(&g))
				return exitOK
			}
			return a.fail(fmt.Errorf("unknown command %q\nRun 'kubectl herald --help' for the list of commands", rest[1]))
		}
		a.printTopUsage(a.stdout)
		return exitOK
	}
	c := findCommand(verb)
	if c == nil {
		return a.fail(fmt.Errorf("unknown command %q\nRun 'kubectl herald --help' for the list of commands", verb))
	}

	var g globalOptions
	own := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	runVerb := c.flags(a, own)
	global := globalFlags(&g)
	all := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	all.SetOutput(io.Discard)
	all.AddFlagSet(own)
	all.AddFlagSet(global)
	if err := all.Parse(append(append([]string{}, leading...), rest[1:]...)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			a.printCommandUsage(a.stdout, c, own, global)
			return exitOK
		}
		return a.fail(fmt.Errorf("%s: %w\nRun 'kubectl herald %s --help' for usage", c.name, err, c.name))
	}
	g.namespaceSet = all.Changed("namespace")
	switch g.output {
	case "", "json", "yaml":
	default:
		return a.fail(fmt.Errorf("%s: unknown output format %q: use -o json or -o yaml", c.name, g.output))
	}

	if err := exactArgs(c.name, all.Args(), c.positional...); err != nil {
		return a.fail(err)
	}
	env := &runEnv{
		connect:      func() (client.WithWatch, string, error) { return a.connect(&g, a.stderr) },
		namespaceSet: g.namespaceSet,
		streams:      newStreams(a.stdout, a.stderr, g.output),
	}
	if err := runVerb(ctx, env, all.Args()); err != nil {
		if errors.As(err, new(*deliveryFailedError)) {
			fmt.Fprintln(a.stderr, "error:", err)
			return exitDeliveryFailed
		}
		return a.fail(err)
	}
	return exitOK
}

func (a *app) fail(err error) int {
	fmt.Fprintln(a.stderr, "error:", err)
	return exitError
}

// connect builds the client from the kubeconfig the way kubectl does, and
// returns the namespace: -n, else the context's, else "default".
func connect(g *globalOptions, stderr io.Writer) (client.WithWatch, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = g.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: g.context}
	overrides.Context.Namespace = g.namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	if ns == "" {
		ns = "default"
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = fieldManager
	cfg.WarningHandler = rest.NewWarningWriter(stderr, rest.WarningWriterOptions{Deduplicate: true})
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, ns, nil
}

// exactArgs checks the number of positional arguments.
func exactArgs(verb string, args []string, names ...string) error {
	if len(args) == len(names) {
		return nil
	}
	if len(args) < len(names) {
		return fmt.Errorf("%s: missing %s\nRun 'kubectl herald %s --help' for usage", verb, strings.Join(names[len(args):], " and "), verb)
	}
	return fmt.Errorf("%s: unexpected argument %q\nRun 'kubectl herald %s --help' for usage", verb, args[len(names)], verb)
}
