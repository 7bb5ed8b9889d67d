//go:build linux

package faults

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/testenv"
)

// One real kube-apiserver and etcd for the package, one herald binary built
// from cmd/herald, and an admin kubeconfig the manager processes use.
var (
	testEnv   *envtest.Environment
	restCfg   *rest.Config
	scheme    = runtime.NewScheme()
	k8sClient client.Client
	// heraldBin is the manager binary; kubeconfig an admin's
	// (system:masters) kubeconfig for the test API server.
	heraldBin  string
	kubeconfig string
	// workDir holds the binary, the kubeconfig, the API server's
	// certificates and the managers' empty HOME.
	workDir string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if err := testenv.CheckAssets(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(heraldv1.AddToScheme(scheme))

	var err error
	workDir, err = os.MkdirTemp("", "herald-faults-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(workDir) }()

	// Build the manager while the control plane starts.
	heraldBin = filepath.Join(workDir, "herald")
	built := make(chan error, 1)
	go func() {
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", heraldBin, "../../cmd/herald")
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build ../../cmd/herald: %w\n%s", err, out)
		} else {
			fmt.Fprintf(os.Stderr, "built the herald manager in %s\n", time.Since(start).Round(time.Millisecond))
		}
		built <- err
	}()

	// The API server's certificates go to a folder of ours. In envtest's
	// default random folder, Stop deletes them and Start makes a new serving
	// CA: the port stays, but every kubeconfig then fails TLS verification.
	// In our folder they stay, so a restarted API server serves the same
	// certificate on the same port and the managers' kubeconfig stays valid
	// (TestAPIServerRestart).
	certDir := filepath.Join(workDir, "apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		ControlPlane:          envtest.ControlPlane{APIServer: &envtest.APIServer{CertDir: certDir}},
	}
	// Without a bound, a stopping API server waits for the managers' watches
	// to end, which they never do: Stop timed out after 20s.
	testEnv.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "1s")
	restCfg, err = testEnv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		if err := <-built; err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	if err := <-built; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "adding the admin user to envtest:", err)
		return 1
	}
	config, err := admin.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "writing the admin's kubeconfig:", err)
		return 1
	}
	kubeconfig = filepath.Join(workDir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, config, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Mkdir(filepath.Join(workDir, "home"), 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	k8sClient, err = client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}
	code := m.Run()
	if n := killAllManagers(); n > 0 {
		fmt.Fprintf(os.Stderr, "killed %d herald manager process(es) left running\n", n)
		code = 1
	}
	return code
}
