# herald's Makefile. `make help` lists the targets.

# Versions of the tools the build uses; each is installed into bin/ on first use.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
# v5.8.2 is the newest kustomize whose go.mod builds with Go 1.26 (v5.8.3 needs Go 1.27).
KUSTOMIZE_VERSION ?= v5.8.2
# Kubernetes and etcd versions of the envtest control plane (make test).
ENVTEST_K8S_VERSION ?= 1.37.2
ENVTEST_ETCD_VERSION ?= 3.6.16

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/herald-operator/herald/internal/version.Version=$(VERSION)

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
KUBECTL ?= kubectl
CONTAINER_TOOL ?= docker
# The manager's image, for docker-build and deploy: make deploy IMG=registry.example.com/herald:v0.1.0
IMG ?=

GO_TEST_FLAGS ?= -race -count=1 -timeout=30m

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

# Flags of cmd/herald-dev for make dev, e.g. DEV_FLAGS=--exit-when-delivered.
DEV_FLAGS ?=

.PHONY: dev
dev: build ## Try herald with no cluster: local control plane, herald, a demo receiver, the samples (state in .dev/; Ctrl-C stops all).
	go build -o $(LOCALBIN)/herald-dev ./cmd/herald-dev
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ETCD_VERSION=$(ENVTEST_ETCD_VERSION) hack/envtest-binaries.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" exec $(LOCALBIN)/herald-dev --herald=$(LOCALBIN)/herald $(DEV_FLAGS)

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and the RBAC role from the markers in api/ and controllers/.
	$(CONTROLLER_GEN) rbac:roleName=manager crd paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify
verify: controller-gen ## Fail if the generated CRDs, RBAC or DeepCopy code are stale, or Go files are not gofmt'd.
	@hack/verify-generated.sh "$(CONTROLLER_GEN)"

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

.PHONY: envtest
envtest: ## Obtain kube-apiserver and etcd for the tests (download, or build from source when no download site is reachable).
	@ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ETCD_VERSION=$(ENVTEST_ETCD_VERSION) hack/envtest-binaries.sh

.PHONY: test
test: verify vet kustomize ## Run all tests (unit, and envtest on a real API server) with the race detector.
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ETCD_VERSION=$(ENVTEST_ETCD_VERSION) hack/envtest-binaries.sh)" \
		KUSTOMIZE="$(KUSTOMIZE)" go test $(GO_TEST_FLAGS) ./...
	@$(MAKE) --no-print-directory fuzz

# Fuzz targets, each run for FUZZ_TIME by `make fuzz` (and briefly by `make test`).
# A count of executions, not a duration: Go 1.26's fuzzing coordinator can
# report a spurious "context deadline exceeded" when a duration runs out on a
# loaded machine (golang/go#75804, fixed in Go 1.27). Minimizing a new
# input is bounded too (by default it may take a minute per input, uncounted).
FUZZ_TIME ?= 20000x
FUZZ_TARGETS = ./internal/signing:FuzzParseSecretsAndSign ./internal/sender:FuzzGuard \
	./internal/sender:FuzzPrintable ./internal/window:FuzzCompactionKeepsCounts ./internal/window:FuzzLedgerMatchesRecompute

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZ_TIME (default 20000x executions; e.g. FUZZ_TIME=200000x).
	@for t in $(FUZZ_TARGETS); do \
		echo "go test -run '^$$' -fuzz '^$${t#*:}$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime 200x $${t%%:*}"; \
		go test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime 200x "$${t%%:*}" || exit 1; \
	done

# Flags of the benchmark, e.g. make bench BENCH_FLAGS="-n 500 -json bench.json".
BENCH_FLAGS ?=

.PHONY: bench
bench: ## Measure herald's deliveries/s, latency, API requests, CPU and memory on envtest against two baselines (not part of test; BENCH_FLAGS).
	KUBEBUILDER_ASSETS="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) ENVTEST_ETCD_VERSION=$(ENVTEST_ETCD_VERSION) hack/envtest-binaries.sh)" \
		go run ./test/bench $(BENCH_FLAGS)

##@ Build

.PHONY: build
build: ## Build the manager into bin/herald and the kubectl plugin into bin/kubectl-herald.
	go build -ldflags "$(LDFLAGS)" -o $(LOCALBIN)/herald ./cmd/herald
	go build -o $(LOCALBIN)/kubectl-herald ./cmd/kubectl-herald

.PHONY: run
run: ## Run the manager against the cluster of the current kubeconfig (extra flags in RUN_ARGS, e.g. RUN_ARGS=--allow-networks=127.0.0.0/8).
	go run -ldflags "$(LDFLAGS)" ./cmd/herald --metrics-bind-address=0 --health-probe-bind-address=:8081 $(RUN_ARGS)

.PHONY: docker-build
docker-build: ## Build the manager image IMG (needs a Docker engine; untested on machines without one).
	@test -n "$(IMG)" || { echo "docker-build: set IMG, e.g. make docker-build IMG=registry.example.com/herald:v0.1.0" >&2; exit 1; }
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: ## Remove the CRDs (and with them every endpoint and delivery) from the cluster.
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases

.PHONY: deploy
deploy: manifests kustomize ## Deploy herald (CRDs, RBAC, manager in herald-system) with image IMG into the cluster of the current kubeconfig.
	@test -n "$(IMG)" || { echo "deploy: set IMG, e.g. make deploy IMG=registry.example.com/herald:v0.1.0" >&2; exit 1; }
	@scratch="$$(mktemp -d)"; trap 'rm -rf "$$scratch"' EXIT; \
	cp -R config "$$scratch/"; \
	(cd "$$scratch/config/manager" && "$(KUSTOMIZE)" edit set image controller=$(IMG)); \
	"$(KUSTOMIZE)" build "$$scratch/config/default" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove everything deploy made, CRDs included (and with them every endpoint and delivery).
	"$(KUSTOMIZE)" build config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@
