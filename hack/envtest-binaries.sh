#!/usr/bin/env bash
# envtest-binaries.sh: make kube-apiserver and etcd available for envtest and
# print the folder that holds them (the value for KUBEBUILDER_ASSETS).
#
# The folder is the one setup-envtest uses, one per version:
#   ${XDG_DATA_HOME:-~/.local/share}/kubebuilder-envtest/k8s/<version>-<os>-<arch>
# so a machine that already ran setup-envtest reuses its download, and a
# second run of this script costs nothing.
#
# Order of attempts:
#   1. the binaries are already in the folder: done;
#   2. setup-envtest downloads them (works where its download site is reachable);
#   3. they are built from source through the Go module proxy (works anywhere
#      `go mod download` works; about 6 minutes on two cores).
#
# Everything but the final folder path goes to stderr.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-3.6.16}"
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-v0.25.1}"

GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
DATA_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest"
ASSETS_DIR="${DATA_DIR}/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"

log() { echo "envtest-binaries: $*" >&2; }

have_binaries() {
  [[ -x "${ASSETS_DIR}/kube-apiserver" && -x "${ASSETS_DIR}/etcd" ]]
}

if have_binaries; then
  echo "${ASSETS_DIR}"
  exit 0
fi

mkdir -p "${DATA_DIR}"
# Two concurrent `make test` runs must not build twice into the same folder.
exec 9>"${DATA_DIR}/.herald-build.lock"
flock 9
if have_binaries; then
  echo "${ASSETS_DIR}"
  exit 0
fi

log "trying setup-envtest ${SETUP_ENVTEST_VERSION} download of Kubernetes ${K8S_VERSION}"
if timeout 120 go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" \
  use "${K8S_VERSION}" --bin-dir "${DATA_DIR}" -p path >&2 && have_binaries; then
  echo "${ASSETS_DIR}"
  exit 0
fi
log "download failed; building from source through the Go module proxy"

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
mkdir -p "${WORK}/apiserver" "${WORK}/etcd" "${WORK}/out"

# kube-apiserver: k8s.io/kubernetes replaces its staging modules with local
# paths (./staging/...), which a module download does not have; point each of
# them at the published module of the matching v0.x version instead.
STAGING_VERSION="v0.${K8S_VERSION#1.}"
(
  cd "${WORK}/apiserver"
  go mod init herald.local/build-kube-apiserver >&2
  KUBE_MOD="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  go mod edit -require="k8s.io/kubernetes@v${K8S_VERSION}"
  grep -E '=> \./staging/' "${KUBE_MOD}" | awk '{print $1}' | while read -r staging; do
    go mod edit -replace="${staging}=${staging}@${STAGING_VERSION}"
  done
  # Keep the main module's go line what k8s.io/kubernetes asks for.
  go mod edit -go="$(sed -n 's/^go \(.*\)/\1/p' "${KUBE_MOD}")"
  cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
  GOFLAGS=-mod=mod go mod tidy >&2
  VERSION_PKG=k8s.io/component-base/version
  LDFLAGS="-s -w"
  LDFLAGS+=" -X ${VERSION_PKG}.gitVersion=v${K8S_VERSION}"
  LDFLAGS+=" -X ${VERSION_PKG}.gitMajor=${K8S_VERSION%%.*}"
  minor="${K8S_VERSION#*.}"
  LDFLAGS+=" -X ${VERSION_PKG}.gitMinor=${minor%%.*}"
  LDFLAGS+=" -X ${VERSION_PKG}.gitTreeState=clean"
  LDFLAGS+=" -X ${VERSION_PKG}.buildDate=1970-01-01T00:00:00Z"
  log "building kube-apiserver v${K8S_VERSION} (several minutes)"
  CGO_ENABLED=0 go build -trimpath -ldflags "${LDFLAGS}" -o "${WORK}/out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
)

(
  cd "${WORK}/etcd"
  go mod init herald.local/build-etcd >&2
  go mod edit -require="go.etcd.io/etcd/server/v3@v${ETCD_VERSION}"
  cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
  GOFLAGS=-mod=mod go mod tidy >&2
  log "building etcd v${ETCD_VERSION}"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${WORK}/out/etcd" go.etcd.io/etcd/server/v3 >&2
)

mkdir -p "${ASSETS_DIR}"
mv "${WORK}/out/etcd" "${ASSETS_DIR}/etcd"
# kube-apiserver last: its presence is what marks the folder complete.
mv "${WORK}/out/kube-apiserver" "${ASSETS_DIR}/kube-apiserver"
log "built into ${ASSETS_DIR}"
echo "${ASSETS_DIR}"
