// Command herald is the manager: it runs herald's controllers against the
// cluster of the current kubeconfig or service account.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/controllers"
	"github.com/herald-operator/herald/internal/notify"
	"github.com/herald-operator/herald/internal/sender"
	"github.com/herald-operator/herald/internal/version"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr         string
		probeAddr           string
		leaderElect         bool
		leaderElectionNS    string
		concurrentDelivers  int
		maxIdleConnsPerHost int
		showVersion         bool
		digestInterval      time.Duration
		statisticsDelay     time.Duration
		smtpPasswordFile    string
		allowNetworks       string
		proxyFromEnv        bool
		maxPayloadBytes     int
	)
	smtp := notify.SMTPConfigFromEnv(os.Getenv)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; \"0\" turns it off.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one of several replicas makes calls.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the pod's namespace).")
	flag.IntVar(&concurrentDelivers, "concurrent-deliveries", 64, "How many deliveries are handled at once. Calls wait on the network, so this is far above the CPU count.")
	flag.IntVar(&maxIdleConnsPerHost, "max-idle-conns-per-host", sender.DefaultMaxIdleConnsPerHost, "Idle HTTP connections kept per receiver host for reuse.")
	flag.BoolVar(&showVersion, "version", false, "Print the version and exit.")
	flag.StringVar(&allowNetworks, "allow-networks", "", "Comma-separated CIDR ranges herald may call despite the address guard, which refuses loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast and reserved addresses: e.g. the cluster's service range, or 127.0.0.0/8 for local development.")
	flag.IntVar(&maxPayloadBytes, "max-payload-bytes", controllers.DefaultMaxPayloadBytes, "Largest payload herald sends; a larger delivery waits in Pending (reason PayloadTooLarge) until the limit is raised.")
	flag.BoolVar(&proxyFromEnv, "use-proxy-from-environment", false, "Send calls through HTTP_PROXY/HTTPS_PROXY of the environment (the guard then checks the proxy's address).")
	flag.DurationVar(&digestInterval, "digest-interval", 15*time.Minute, "Least time between two emails listing an endpoint's failed deliveries; a burst of failures makes one email.")
	flag.DurationVar(&statisticsDelay, "statistics-delay", 2*time.Second, "Coalescing delay of endpoint statistics: a busy endpoint's status is written at most about once per delay.")
	flag.StringVar(&smtp.Host, "smtp-host", smtp.Host, "SMTP server for contact emails (env "+notify.EnvHost+"); email is off when unset.")
	flag.IntVar(&smtp.Port, "smtp-port", smtp.Port, "SMTP server port (env "+notify.EnvPort+"); STARTTLS, not implicit TLS.")
	flag.StringVar(&smtp.Username, "smtp-username", smtp.Username, "SMTP AUTH user (env "+notify.EnvUsername+"). The password comes from env "+notify.EnvPassword+" or --smtp-password-file, never a flag.")
	flag.StringVar(&smtpPasswordFile, "smtp-password-file", "", "File holding the SMTP password, e.g. a mounted Secret key.")
	flag.StringVar(&smtp.From, "smtp-from", smtp.From, "Sender address of contact emails (env "+notify.EnvFrom+").")
	flag.StringVar(&smtp.StartTLS, "smtp-starttls", smtp.StartTLS, "STARTTLS: auto, always or never (env "+notify.EnvStartTLS+").")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	if showVersion {
		fmt.Println(version.Version)
		return nil
	}
	guard, err := sender.NewGuard(strings.Split(allowNetworks, ","))
	if err != nil {
		return fmt.Errorf("--allow-networks: %w", err)
	}
	var mailer controllers.Mailer
	if smtpPasswordFile != "" {
		password, err := notify.PasswordFromFile(smtpPasswordFile)
		if err != nil {
			return err
		}
		smtp.Password = password
	}
	if smtp.Enabled() {
		if err := smtp.Validate(); err != nil {
			return err
		}
		mailer = notify.NewMailer(smtp)
	}
	if digestInterval <= 0 || statisticsDelay <= 0 {
		return fmt.Errorf("--digest-interval and --statistics-delay must be positive")
	}
	if concurrentDelivers < 1 {
		return fmt.Errorf("--concurrent-deliveries must be at least 1, got %d", concurrentDelivers)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heraldv1.AddToScheme(scheme))

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Client:                  controllers.ClientOptions(),
		Cache:                   controllers.CacheOptions(cache.Options{}),
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "herald.webhooks.herald.dev",
		LeaderElectionNamespace: leaderElectionNS,
		// Calls stop at once on shutdown: a stopped leader must not keep
		// calling while the next one takes over.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := controllers.Setup(ctx, mgr, controllers.Options{
		Clock: clock.RealClock{},
		Sender: sender.New(sender.Options{
			UserAgent:            version.UserAgent(),
			MaxIdleConnsPerHost:  maxIdleConnsPerHost,
			Guard:                guard,
			ProxyFromEnvironment: proxyFromEnv,
		}),
		MaxConcurrentDeliveries: concurrentDelivers,
		MaxPayloadBytes:         maxPayloadBytes,
		Mailer:                  mailer,
		DigestInterval:          digestInterval,
		StatisticsDelay:         statisticsDelay,
	}); err != nil {
		return fmt.Errorf("setting up controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("herald").Info("starting manager", "version", version.Version, "email", smtp.Enabled())
	return mgr.Start(ctx)
}
