// Package testenv starts what herald's test suites run against: a real
// kube-apiserver and etcd (envtest) with herald's CRDs installed. It is used
// by tests only.
package testenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Scheme knows client-go's, apiextensions' and herald's types.
	Scheme *runtime.Scheme
	// Root is the module's root folder.
	Root string

	scratch string
}

// CheckAssets says, before any work, how to run a suite that needs the
// envtest binaries when KUBEBUILDER_ASSETS does not point at them.
func CheckAssets() error {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: these tests need a real kube-apiserver and etcd; " +
			"run them with `make test` (or KUBEBUILDER_ASSETS=$(hack/envtest-binaries.sh) go test ./...)")
	}
	return nil
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS and installs
// herald's CRDs from config/crd/bases.
func Start() (*Env, error) {
	if err := CheckAssets(); err != nil {
		return nil, err
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(heraldv1.AddToScheme(scheme))

	env := &Env{
		Environment: &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
			Scheme:                scheme,
		},
		Scheme: scheme,
		Root:   root,
	}
	if env.Config, err = env.Start(); err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	return env, nil
}

// Stop stops the control plane and removes scratch files.
func (e *Env) Stop() error {
	err := e.Environment.Stop()
	if e.scratch != "" {
		err = errors.Join(err, os.RemoveAll(e.scratch))
	}
	return err
}

// AdminKubeconfig writes a kubeconfig of a system:masters user, for kubectl
// and child processes, and returns its path and an empty HOME folder to run
// kubectl with, so nothing of the machine's own configuration leaks in.
func (e *Env) AdminKubeconfig() (kubeconfig, home string, err error) {
	if e.scratch == "" {
		if e.scratch, err = os.MkdirTemp("", "herald-testenv-"); err != nil {
			return "", "", err
		}
	}
	kubeconfig, home = filepath.Join(e.scratch, "kubeconfig"), filepath.Join(e.scratch, "home")
	if _, err := os.Stat(kubeconfig); err == nil {
		return kubeconfig, home, nil
	}
	admin, err := e.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", "", fmt.Errorf("adding an admin user: %w", err)
	}
	data, err := admin.KubeConfig()
	if err != nil {
		return "", "", fmt.Errorf("writing the admin's kubeconfig: %w", err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", "", err
	}
	return kubeconfig, home, os.WriteFile(kubeconfig, data, 0o600)
}

// Main runs a test binary's tests against a fresh control plane: it starts
// one, calls setup (which may be nil), runs the tests and stops it. Use it
// as os.Exit(testenv.Main(m, setup)) in TestMain.
func Main(m *testing.M, setup func(*Env) error) int {
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	if setup != nil {
		if err := setup(env); err != nil {
			fmt.Fprintln(os.Stderr, "setting up the tests:", err)
			return 1
		}
	}
	return m.Run()
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
