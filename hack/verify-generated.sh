#!/usr/bin/env bash
# verify-generated.sh CONTROLLER_GEN: fail when the generated files in the
# tree (CRDs, RBAC role, DeepCopy code) differ from what the markers generate
# now, or when a Go file is not gofmt'd. It regenerates in a scratch copy, so
# it checks the tree as it is, committed or not, and changes nothing.
set -euo pipefail
controller_gen="$1"
cd "$(dirname "$0")/.."

scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
tar --exclude=./bin --exclude=./.git --exclude=./.dev -cf - . | tar -xf - -C "${scratch}"

(
  cd "${scratch}"
  rm -rf config/crd/bases config/rbac/role.yaml api/v1alpha1/zz_generated.deepcopy.go
  "${controller_gen}" rbac:roleName=manager crd paths="./..." \
    output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
  "${controller_gen}" object:headerFile=hack/boilerplate.go.txt paths=./api/...
)

stale=0
diff -ru config/crd/bases "${scratch}/config/crd/bases" || stale=1
diff -u config/rbac/role.yaml "${scratch}/config/rbac/role.yaml" || stale=1
diff -u api/v1alpha1/zz_generated.deepcopy.go "${scratch}/api/v1alpha1/zz_generated.deepcopy.go" || stale=1
if [[ ${stale} -ne 0 ]]; then
  echo "verify: generated files are stale; run 'make manifests generate' and commit the result" >&2
  exit 1
fi

unformatted="$(gofmt -l api cmd controllers internal test 2>/dev/null || true)"
if [[ -n "${unformatted}" ]]; then
  echo "verify: not gofmt'd (run 'make fmt'): ${unformatted}" >&2
  exit 1
fi
echo "verify: generated files and formatting are up to date" >&2
