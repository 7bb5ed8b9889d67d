// Package manifests_test checks the deployable manifests under config/: it
// builds them with the pinned kustomize (make test sets KUSTOMIZE), applies
// them with the real kubectl to a real kube-apiserver (envtest), and checks
// the properties a cluster admin relies on: a locked-down manager pod and
// least-privilege RBAC.
package manifests_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/herald-operator/herald/internal/testenv"
)

const (
	configDir  = "../../config"
	systemNS   = "herald-system"
	imagePatch = "registry.example.com/herald:v1.2.3"
)

var (
	// kustomizeBin is the pinned kustomize (the Makefile's KUSTOMIZE).
	kustomizeBin string
	// kubectlBin is the real kubectl; kubeconfig is an admin's
	// (system:masters) kubeconfig for the test API server.
	kubectlBin string
	kubeconfig string
	// cmdEnv is the environment of every command the tests run: an empty
	// HOME, so that nothing of the machine's (~/.kube, a discovery cache,
	// KUBECONFIG) leaks in.
	cmdEnv []string
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, func(env *testenv.Env) (err error) {
		kustomizeBin = os.Getenv("KUSTOMIZE")
		if kustomizeBin == "" {
			return errors.New("KUSTOMIZE is not set: run the tests with `make test`, which installs the pinned kustomize into bin/ and passes its path in KUSTOMIZE")
		}
		if _, err := os.Stat(kustomizeBin); err != nil {
			return fmt.Errorf("KUSTOMIZE=%s: %w (run `make kustomize`)", kustomizeBin, err)
		}
		if kubectlBin, err = exec.LookPath("kubectl"); err != nil {
			return fmt.Errorf("these tests run the real kubectl, which is not on PATH: %w", err)
		}
		var home string
		if kubeconfig, home, err = env.AdminKubeconfig(); err != nil {
			return err
		}
		cmdEnv = []string{"KUBECONFIG=" + kubeconfig, "HOME=" + home, "PATH=" + os.Getenv("PATH")}
		return nil
	}))
}

// execute runs a command with stdin and returns its stdout and stderr.
func execute(stdin string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = cmdEnv
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (timed out after 2m)", err)
	}
	return out.String(), errOut.String(), err
}

// must runs a command and fails the test, showing its output, if it fails.
// It returns stdout and stderr (where kubectl prints the API server's
// warnings).
func must(t *testing.T, stdin string, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := execute(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

func kubectl(t *testing.T, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	return must(t, stdin, kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// build runs `kustomize build` on a folder of config/ (or any folder).
func build(t *testing.T, dir string) string {
	t.Helper()
	out, _ := must(t, "", kustomizeBin, "build", dir)
	return out
}

// objects is the decoded output of kustomize build.
type objects []*unstructured.Unstructured

func decode(t *testing.T, manifests string) objects {
	t.Helper()
	var objs objects
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding kustomize's output: %v\n%s", err, manifests)
		}
		if obj != nil {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
	return objs
}

func (objs objects) ofKind(kind string) objects {
	var out objects
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the only object of the kind, converted to out.
func (objs objects) one(t *testing.T, kind string, out any) *unstructured.Unstructured {
	t.Helper()
	of := objs.ofKind(kind)
	if len(of) != 1 {
		t.Fatalf("want exactly one %s in config/default, got %d", kind, len(of))
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(of[0].Object, out); err != nil {
		t.Fatalf("converting the %s: %v", kind, err)
	}
	return of[0]
}

// manager returns the manager's Deployment and its one container.
func manager(t *testing.T, objs objects) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	objs.one(t, "Deployment", &d)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want one container in Deployment %s, got %d", d.Name, n)
	}
	return &d, d.Spec.Template.Spec.Containers[0]
}

func TestDefaultAppliesOnTheAPIServer(t *testing.T) {
	manifests := build(t, filepath.Join(configDir, "default"))
	objs := decode(t, manifests)
	d, _ := manager(t, objs)

	// The server-side dry run of a namespaced object needs its namespace to
	// exist, and a dry run creates nothing: the Namespace object in the
	// manifests can't provide it. Create it bare; the apply then updates it.
	ensureNamespace(t, systemNS)

	t.Run("client-side apply, dry run", func(t *testing.T) {
		kubectl(t, manifests, "apply", "--dry-run=server", "-f", "-")
	})
	t.Run("server-side apply, dry run", func(t *testing.T) {
		kubectl(t, manifests, "apply", "--server-side", "--dry-run=server", "-f", "-")
	})

	// Apply for real, as `make deploy` does, to check on the API server
	// what the manager may do, and that its pod meets the namespace's
	// "restricted" Pod Security Standard.
	kubectl(t, manifests, "apply", "--server-side", "-f", "-")

	t.Run("pod meets the restricted Pod Security Standard", func(t *testing.T) {
		_, stderr := kubectl(t, manifests, "apply", "--server-side", "--dry-run=server", "-f", "-")
		if strings.Contains(stderr, "PodSecurity") {
			t.Errorf("the API server warns about the manager's pod:\n%s", stderr)
		}
		// The control: the same Deployment without the container's
		// securityContext draws a warning, so the check above can fail.
		bare := objs.ofKind("Deployment")[0].DeepCopy()
		containers, _, _ := unstructured.NestedSlice(bare.Object, "spec", "template", "spec", "containers")
		delete(containers[0].(map[string]any), "securityContext")
		if err := unstructured.SetNestedSlice(bare.Object, containers, "spec", "template", "spec", "containers"); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(bare.Object)
		if err != nil {
			t.Fatal(err)
		}
		_, stderr = kubectl(t, string(js), "apply", "--server-side", "--dry-run=server", "-f", "-")
		if !strings.Contains(stderr, "would violate PodSecurity \"restricted") {
			t.Errorf("a pod without securityContext drew no PodSecurity warning, so the check proves nothing; stderr:\n%s", stderr)
		}
	})

	t.Run("what the manager may do", func(t *testing.T) {
		sa := "system:serviceaccount:" + d.Namespace + ":" + d.Spec.Template.Spec.ServiceAccountName
		for _, c := range []struct {
			verb, resource, namespace, subresource string
			want                                   bool
		}{
			{"get", "secrets", "apps", "", true},
			{"list", "secrets", "", "", true},
			{"watch", "secrets", "", "", true},
			{"create", "secrets", "apps", "", false},
			{"update", "secrets", "apps", "", false},
			{"patch", "secrets", "apps", "", false},
			{"delete", "secrets", "apps", "", false},
			{"get", "webhookendpoints.webhooks.herald.dev", "apps", "", true},
			{"watch", "webhookdeliveries.webhooks.herald.dev", "", "", true},
			{"patch", "webhookdeliveries.webhooks.herald.dev", "apps", "status", true},
			{"create", "events.events.k8s.io", "apps", "", true},
			{"create", "leases.coordination.k8s.io", d.Namespace, "", true},
			{"update", "leases.coordination.k8s.io", d.Namespace, "", true},
			{"create", "events", d.Namespace, "", true},
			{"create", "leases.coordination.k8s.io", "apps", "", false},
			{"create", "events", "apps", "", false},
			{"get", "configmaps", "apps", "", false},
			{"create", "pods", d.Namespace, "", false},
			{"create", "serviceaccounts/token", d.Namespace, "", false},
			{"escalate", "clusterroles.rbac.authorization.k8s.io", "", "", false},
			{"bind", "clusterroles.rbac.authorization.k8s.io", "", "", false},
			{"*", "*", "", "", false},
		} {
			args := []string{"--kubeconfig", kubeconfig, "auth", "can-i", c.verb, c.resource, "--as", sa}
			where := "in every namespace"
			if c.namespace == "" {
				args = append(args, "--all-namespaces")
			} else {
				args = append(args, "-n", c.namespace)
				where = "in namespace " + c.namespace
			}
			what := c.resource
			if c.subresource != "" {
				args = append(args, "--subresource", c.subresource)
				what += "/" + c.subresource
			}
			// can-i prints yes or no, and exits 1 on no.
			stdout, stderr, _ := execute("", kubectlBin, args...)
			got := strings.TrimSpace(stdout)
			if got != "yes" && got != "no" {
				t.Fatalf("kubectl %s: neither yes nor no:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout, stderr)
			}
			if (got == "yes") != c.want {
				t.Errorf("the manager (%s) may %s %s %s: %s, want %t", sa, c.verb, what, where, got, c.want)
			}
		}
	})
}

func TestManagerPodIsLockedDown(t *testing.T) {
	objs := decode(t, build(t, filepath.Join(configDir, "default")))
	d, c := manager(t, objs)
	pod := d.Spec.Template.Spec

	if d.Name != "herald-controller-manager" || d.Namespace != systemNS {
		t.Errorf("Deployment is %s/%s, want %s/herald-controller-manager", d.Namespace, d.Name, systemNS)
	}
	if c.Image != "controller:latest" {
		t.Errorf("image is %q, want the placeholder controller:latest (make deploy replaces it)", c.Image)
	}
	if got := append(slices.Clone(c.Command), c.Args...); !slices.Equal(got, []string{
		"/herald", "--leader-elect", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081",
	}) {
		t.Errorf("the container runs %q", got)
	}

	// The pod's settings apply unless the container overrides them.
	psc := pod.SecurityContext
	csc := c.SecurityContext
	if psc == nil || csc == nil {
		t.Fatalf("pod securityContext %+v, container securityContext %+v: want both set", psc, csc)
	}
	runAsNonRoot := first(csc.RunAsNonRoot, psc.RunAsNonRoot)
	runAsUser := first(csc.RunAsUser, psc.RunAsUser)
	if runAsNonRoot == nil || !*runAsNonRoot {
		t.Error("runAsNonRoot is not true")
	}
	if runAsUser == nil || *runAsUser != 65532 {
		t.Errorf("runAsUser is %v, want 65532 (distroless nonroot)", deref(runAsUser))
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Error("the container is privileged")
	}
	if csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) != 0 {
		t.Errorf("capabilities are %+v, want drop [ALL] and add nothing", csc.Capabilities)
	}
	seccomp := csc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile is %+v, want RuntimeDefault", seccomp)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("the pod shares a host namespace")
	}

	for name, probe := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", name)
			continue
		}
		if g := probe.p.HTTPGet; g.Path != probe.path || g.Port != intstr.FromInt32(8081) {
			t.Errorf("%s probe is GET %s on port %s, want GET %s on 8081 (--health-probe-bind-address)", name, g.Path, g.Port.String(), probe.path)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[r]
		lim, hasLim := c.Resources.Limits[r]
		if !hasReq || !hasLim {
			t.Errorf("%s: request %v, limit %v: want both", r, req.String(), lim.String())
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s is above limit %s", r, req.String(), lim.String())
		}
	}
}

func TestMetricsServiceSelectsTheManager(t *testing.T) {
	objs := decode(t, build(t, filepath.Join(configDir, "default")))
	d, c := manager(t, objs)
	var svc corev1.Service
	objs.one(t, "Service", &svc)
	if svc.Namespace != d.Namespace {
		t.Errorf("Service in %q, manager in %q", svc.Namespace, d.Namespace)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Fatal("the metrics Service has no selector")
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the manager's pods don't carry (%v)", k, v, d.Spec.Template.Labels)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Fatalf("Service ports %+v, want one on 8080", svc.Spec.Ports)
	}
	target := svc.Spec.Ports[0].TargetPort
	found := false
	for _, p := range c.Ports {
		if p.ContainerPort == 8080 && (target == intstr.FromInt32(8080) || target.StrVal == p.Name) {
			found = true
		}
	}
	if !found {
		t.Errorf("the Service's target port %s is not the container's port 8080 (%+v)", target.String(), c.Ports)
	}
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	objs := decode(t, build(t, filepath.Join(configDir, "default")))
	d, _ := manager(t, objs)
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: d.Spec.Template.Spec.ServiceAccountName, Namespace: d.Namespace}

	var account corev1.ServiceAccount
	objs.one(t, "ServiceAccount", &account)
	if account.Name != sa.Name || account.Namespace != sa.Namespace {
		t.Errorf("the ServiceAccount is %s/%s, the manager runs as %s/%s", account.Namespace, account.Name, sa.Namespace, sa.Name)
	}

	// The one ClusterRole is the one `make manifests` generates from the
	// markers, unchanged.
	var role rbacv1.ClusterRole
	objs.one(t, "ClusterRole", &role)
	generated, err := os.ReadFile(filepath.Join(configDir, "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want rbacv1.ClusterRole
	decode(t, string(generated)).one(t, "ClusterRole", &want)
	if !equalJSON(t, role.Rules, want.Rules) {
		t.Errorf("the deployed ClusterRole's rules differ from config/rbac/role.yaml's")
	}
	for _, r := range role.Rules {
		for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
			if slices.Contains(field, "*") {
				t.Errorf("wildcard in ClusterRole rule %+v", r)
			}
		}
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("ClusterRole rule grants non-resource URLs: %+v", r)
		}
		if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "secrets") {
			verbs := slices.Sorted(slices.Values(r.Verbs))
			if !slices.Equal(verbs, []string{"get", "list", "watch"}) {
				t.Errorf("the ClusterRole grants %v on secrets, want only get, list, watch", r.Verbs)
			}
		}
		if slices.Contains(r.APIGroups, "rbac.authorization.k8s.io") || slices.Contains(r.APIGroups, "coordination.k8s.io") {
			t.Errorf("ClusterRole rule %+v: RBAC is not the manager's business, and leases belong in its namespaced Role", r)
		}
	}

	var crb rbacv1.ClusterRoleBinding
	objs.one(t, "ClusterRoleBinding", &crb)
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != role.Name {
		t.Errorf("the ClusterRoleBinding refers to %s %s, want ClusterRole %s", crb.RoleRef.Kind, crb.RoleRef.Name, role.Name)
	}
	if !slices.Equal(crb.Subjects, []rbacv1.Subject{sa}) {
		t.Errorf("the ClusterRoleBinding binds %+v, want only the manager's ServiceAccount %+v", crb.Subjects, sa)
	}

	// Leader election: a namespaced Role, in the manager's namespace.
	var le rbacv1.Role
	objs.one(t, "Role", &le)
	if le.Namespace != d.Namespace {
		t.Errorf("the leader election Role is in %q, the manager in %q", le.Namespace, d.Namespace)
	}
	wantRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if !equalJSON(t, le.Rules, wantRules) {
		got, _ := json.Marshal(le.Rules)
		t.Errorf("leader election Role rules: %s", got)
	}
	var rb rbacv1.RoleBinding
	objs.one(t, "RoleBinding", &rb)
	if rb.Namespace != le.Namespace || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != le.Name {
		t.Errorf("the RoleBinding %s/%s refers to %s %s, want Role %s/%s", rb.Namespace, rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name, le.Namespace, le.Name)
	}
	if !slices.Equal(rb.Subjects, []rbacv1.Subject{sa}) {
		t.Errorf("the RoleBinding binds %+v, want only the manager's ServiceAccount %+v", rb.Subjects, sa)
	}
}

func TestEveryObjectIsInHeraldSystem(t *testing.T) {
	objs := decode(t, build(t, filepath.Join(configDir, "default")))
	clusterScoped := map[string]bool{"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
		switch {
		case o.GetKind() == "Namespace":
			if o.GetName() != systemNS {
				t.Errorf("Namespace %s, want %s", o.GetName(), systemNS)
			}
		case clusterScoped[o.GetKind()]:
			if o.GetNamespace() != "" {
				t.Errorf("cluster-scoped %s %s has namespace %s", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		case o.GetNamespace() != systemNS:
			t.Errorf("%s %s is in namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), systemNS)
		}
		if o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "Namespace" && !strings.HasPrefix(o.GetName(), "herald-") {
			t.Errorf("%s %s lacks the herald- name prefix", o.GetKind(), o.GetName())
		}
	}
	sort.Strings(kinds)
	kinds = slices.Compact(kinds)
	want := []string{"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment", "Namespace", "Role", "RoleBinding", "Service", "ServiceAccount"}
	if !slices.Equal(kinds, want) {
		t.Errorf("config/default has kinds %v, want %v", kinds, want)
	}
}

// TestEveryCRDIsDeployed fails when a CRD that `make manifests` generates is
// missing from config/crd/kustomization.yaml.
func TestEveryCRDIsDeployed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configDir, "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	var want []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decode(t, string(b)).ofKind("CustomResourceDefinition") {
			want = append(want, o.GetName())
		}
	}
	var got []string
	for _, o := range decode(t, build(t, filepath.Join(configDir, "default"))).ofKind("CustomResourceDefinition") {
		got = append(got, o.GetName())
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("config/default deploys the CRDs %v, config/crd/bases has %v: list every file of bases/ in config/crd/kustomization.yaml", got, want)
	}
}

// TestDeploySetsTheImage does what `make deploy IMG=...` does, in a scratch
// copy of config/.
func TestDeploySetsTheImage(t *testing.T) {
	scratch := t.TempDir()
	if err := os.CopyFS(scratch, os.DirFS(configDir)); err != nil {
		t.Fatal(err)
	}
	manager := filepath.Join(scratch, "manager")
	cmd := exec.Command(kustomizeBin, "edit", "set", "image", "controller="+imagePatch)
	cmd.Dir = manager
	cmd.Env = cmdEnv
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kustomize edit set image: %v\n%s", err, out)
	}
	var d appsv1.Deployment
	decode(t, build(t, filepath.Join(scratch, "default"))).one(t, "Deployment", &d)
	if got := d.Spec.Template.Spec.Containers[0].Image; got != imagePatch {
		t.Errorf("image is %q after kustomize edit set image, want %q", got, imagePatch)
	}
}

// TestSamplesApplyOnTheAPIServer checks config/samples against the CRDs'
// validation: through its kustomization, and every sample file on its own (a
// file with generateName, which kubectl apply refuses, by kubectl create).
func TestSamplesApplyOnTheAPIServer(t *testing.T) {
	const ns = "samples"
	ensureNamespace(t, ns)
	samples := filepath.Join(configDir, "samples")

	out := build(t, samples)
	if len(decode(t, out)) == 0 {
		t.Fatal("config/samples' kustomization builds nothing")
	}
	kubectl(t, out, "apply", "--dry-run=server", "-n", ns, "-f", "-")

	files, err := filepath.Glob(filepath.Join(samples, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		verb := "apply"
		for _, o := range decode(t, string(b)) {
			if o.GetGenerateName() != "" {
				verb = "create"
			}
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			kubectl(t, "", verb, "--dry-run=server", "-n", ns, "-f", f)
		})
		tried++
	}
	if tried < 2 {
		t.Errorf("found %d sample files, want at least the endpoint and the delivery", tried)
	}
}

// ensureNamespace creates the namespace if it does not exist (so that the
// tests can run more than once on one API server, as with -count).
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	kubectl(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+name+"\n", "apply", "--server-side", "--field-manager=test", "-f", "-")
}

func first[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
