#!/usr/bin/env bash
# `make clusters` / `make clusters-down`: two real Kubernetes clusters on
# loopback, `active` and `standby`, each a real etcd, kube-apiserver (TLS,
# RBAC, client-certificate admin, a token user), kube-controller-manager and
# kube-scheduler, with kwok's controller and one fake Node so that Pods run
# and Deployments become Ready. kwokctl (`--runtime binary`) orchestrates
# them with the binaries tests/kube/build-tools.sh builds; nothing downloads.
#
#   tests/kube/clusters.sh up     start both (reuses running ones), prints the kubeconfig path
#   tests/kube/clusters.sh down   stop every cluster of CLUSTERS_DIR and remove its state
#
# CLUSTERS_DIR (default .clusters) holds the state and `kubeconfig`, whose
# contexts are NAME (admin client certificate) and NAME-token (bearer token
# of user NAME-token, bound to cluster-admin through RBAC). CLUSTER_NAMES
# (default "active standby") names the clusters `up` starts; the bench adds
# a third, `target`.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/kube
state=$(realpath -m "${CLUSTERS_DIR:-.clusters}")
read -r -a names <<<"${CLUSTER_NAMES:-active standby}"
export KWOK_WORKDIR="$state/kwok"
kubeconfig="$state/kubeconfig"

log() { printf '==> %s\n' "$*" >&2; }

use_tools() {
  bin=$(bash "$here/build-tools.sh")
  # kwokctl runs kubectl from PATH to see a cluster served: ours, not the machine's.
  export PATH="$bin:$PATH"
}
k() { kubectl --kubeconfig "$kubeconfig" "$@"; }

# pids_of NAME: one line per component process of cluster NAME.
pids_of() {
  local file
  for file in "$KWOK_WORKDIR/clusters/$1/pids/"*.pid; do
    [ -f "$file" ] && cat "$file" && echo
  done
}

# wait_gone SECONDS PID...: true once none of the PIDs runs.
wait_gone() {
  local deadline=$((SECONDS + $1)) pid
  shift
  while ((SECONDS < deadline)); do
    for pid in "$@"; do
      if kill -0 "$pid" 2>/dev/null; then sleep 0.1 && continue 2; fi
    done
    return 0
  done
  return 1
}

# A test cluster's state is thrown away, so its processes need no graceful
# shutdown (kube-apiserver's waits for its watchers for a minute): SIGKILL
# all at once, then kwokctl removes what is left.
stop_cluster() {
  local name=$1 pids
  [ -d "$KWOK_WORKDIR/clusters/$name" ] || return 0
  mapfile -t pids < <(pids_of "$name" | grep -E '^[0-9]+$')
  if [ "${#pids[@]}" -gt 0 ]; then
    kill -9 "${pids[@]}" 2>/dev/null || true
    wait_gone 10 "${pids[@]}" || log "$name: processes ${pids[*]} outlived SIGKILL for 10 s"
  fi
  kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
  rm -rf "$KWOK_WORKDIR/clusters/$name"
}

ready() { k --context "$1" get --raw /readyz >/dev/null 2>&1; }

start_cluster() {
  local name=$1 token
  # A cluster started before kwokctl.yaml enabled ClusterLogs lacks its CRD: restarted.
  if ready "$name" && ready "$name-token" &&
    k --context "$name" get crd clusterlogs.kwok.x-k8s.io >/dev/null 2>&1; then
    log "$name: already running"
    return 0
  fi
  stop_cluster "$name"
  token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s,%s-token,%s-token\n' "$token" "$name" "$name" >"$state/$name.tokens"
  chmod 0600 "$state/$name.tokens"
  kwokctl create cluster --name "$name" --config "$here/kwokctl.yaml" \
    --etcd-binary "$bin/etcd" --kube-apiserver-binary "$bin/kube-apiserver" \
    --kube-controller-manager-binary "$bin/kube-controller-manager" \
    --kube-scheduler-binary "$bin/kube-scheduler" --kwok-controller-binary "$bin/kwok" \
    --extra-args "kube-apiserver=token-auth-file=$state/$name.tokens" \
    --kubeconfig "$kubeconfig" --wait 2m >"$state/$name.create.log" 2>&1 ||
    { tail -n 20 "$state/$name.create.log" >&2; echo "kwokctl could not create cluster $name" >&2; return 1; }
  k config delete-context "$name" >/dev/null 2>&1 || true
  k config rename-context "kwok-$name" "$name" >/dev/null
  k config set-credentials "$name-token" --token="$token" >/dev/null
  k config set-context "$name-token" --cluster="kwok-$name" --user="$name-token" >/dev/null
  k --context "$name" create clusterrolebinding "$name-token-admin" --clusterrole=cluster-admin \
    --user="$name-token" >/dev/null
  # One fake Node for kwok's controller to run every Pod on.
  k --context "$name" apply -f "$here/node.yaml" >/dev/null
}

# A Deployment that reports Ready proves the control loop end to end.
check_deployment() {
  local name=$1
  k --context "$name" -n default create deployment clusters-check --image=registry.invalid/check:1 \
    --dry-run=client -o yaml | k --context "$name" apply -f - >/dev/null
  k --context "$name" -n default rollout status deployment clusters-check --timeout=90s >/dev/null
  k --context "$name" -n default delete deployment clusters-check --wait=false >/dev/null
}

case "${1:-}" in
  up)
    start=$SECONDS
    mkdir -p "$state"
    use_tools
    for name in "${names[@]}"; do start_cluster "$name"; done
    for name in "${names[@]}"; do check_deployment "$name" & done
    for job in $(jobs -p); do wait "$job" || { echo "a test Deployment did not become Ready" >&2; exit 1; }; done
    k config use-context "${names[0]}" >/dev/null
    log "clusters ${names[*]} ready in $((SECONDS - start)) s: KUBECONFIG=$kubeconfig (kubectl $(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -n 1) in $bin)"
    echo "$kubeconfig"
    ;;
  down)
    # Nothing started, nothing to build just to stop it.
    running=()
    if [ -d "$KWOK_WORKDIR/clusters" ]; then
      use_tools
      for dir in "$KWOK_WORKDIR/clusters"/*/; do [ -d "$dir" ] && running+=("$(basename "$dir")"); done
    fi
    for name in "${running[@]}"; do stop_cluster "$name"; done
    rm -rf "$state"
    log "clusters ${running[*]:-(none)} stopped, $state removed"
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
