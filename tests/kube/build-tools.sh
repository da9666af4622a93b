#!/usr/bin/env bash
# Builds the real Kubernetes tools the tests run on, from their Go modules
# (one module per tool under tests/kube/tools, versions pinned by go.mod and
# go.sum), into a cache outside target/ keyed by those files, this script and
# the Go version. Prints the bin directory on stdout; progress goes to stderr.
#
#   tests/kube/build-tools.sh          build what is missing, print the bin dir
#
# The first build takes about 25 minutes on 2 cores (Go module cache ~2 GB,
# build cache ~4 GB); with the cache present it costs a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/tools"

log() { printf '==> %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { echo "go not found: building the test clusters' tools needs Go 1.26 or newer" >&2; exit 1; }

# The key covers everything that decides the binaries' bytes.
key=$( { go version; cat "$0"; for t in kubernetes etcd helm kwok; do cat "$tools/$t/go.mod" "$tools/$t/go.sum"; done; } \
  | sha256sum | cut -c1-16)
bin="${KUBECTL_MP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-mp/kube}/$key/bin"

kube_version=v1.36.3
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=36"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# name  module-dir  package  ldflags
targets=(
  "etcd|etcd|go.etcd.io/etcd/server/v3|"
  "kube-apiserver|kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|$kube_ldflags"
  "kube-controller-manager|kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|$kube_ldflags"
  "kube-scheduler|kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|$kube_ldflags"
  "kubectl|kubernetes|k8s.io/kubernetes/cmd/kubectl|$kube_ldflags"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|-X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0 -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube_version#v}"
  "kwokctl|kwok|sigs.k8s.io/kwok/cmd/kwokctl|-X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0 -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube_version#v}"
  "helm|helm|helm.sh/helm/v3/cmd/helm|-X helm.sh/helm/v3/internal/version.version=v3.22.0"
)

missing=()
for target in "${targets[@]}"; do
  name=${target%%|*}
  [ -x "$bin/$name" ] || missing+=("$target")
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "building ${#missing[@]} Kubernetes test tools into $bin"
  log "the first build takes about 25 minutes on 2 cores; later runs use the cache"
  mkdir -p "$bin"
  for target in "${missing[@]}"; do
    IFS='|' read -r name dir pkg ldflags <<<"$target"
    start=$SECONDS
    # CGO off: static binaries that need no C toolchain, like upstream's releases.
    (cd "$tools/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
    mv "$bin/$name.tmp" "$bin/$name"
    log "built $name in $((SECONDS - start)) s"
  done
fi
echo "$bin"
