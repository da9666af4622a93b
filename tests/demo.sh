#!/usr/bin/env bash
# `make demo`: two sandbox clusters and the runbook, as far as the plugins go
# today. Each step says which runbook step it is; the plugins replace the
# kubectl steps as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

profile_dir=target/${CARGO_PROFILE_DIR:-release}
work=.demo
rm -rf "$work" && mkdir -p "$work/bin"
for plugin in export import cacheck failover; do
  ln -sf "$PWD/$profile_dir/kubectl-mp-$plugin" "$work/bin/kubectl-mp-$plugin"
  ln -sf "kubectl-mp-$plugin" "$work/bin/kubectl-mp_$plugin"
done
export PATH="$PWD/$work/bin:$PATH"
export KUBECONFIG="$PWD/$work/kubeconfig"

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "Start two sandbox clusters: active (helm-installed TSB MP) and standby (empty)"
"$profile_dir/mp-sandbox" --kubeconfig-out "$KUBECONFIG" --state-file "$work/state.json" \
  --cluster active=tsb-helm --cluster standby=empty >"$work/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; wait $sandbox 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$work/state.json" ] && break; sleep 0.1; done
[ -s "$work/state.json" ] || { cat "$work/sandbox.log" >&2; echo "sandbox did not start" >&2; exit 1; }
run kubectl config get-contexts

step "The plugins are on PATH, under both kubectl spellings"
run kubectl plugin list
run kubectl mp-export --version
run kubectl mp failover --version

step "The active Management Plane"
run kubectl --context active -n tsb get deployments
run kubectl --context active -n tsb get secrets

step "Runbook, helm model, step 1: snapshot the operational secrets on the active MP (by hand until mp-export lands)"
run kubectl --context active -n tsb get secret iam-signing-key -o yaml >"$work/source_mp_operational_secrets.yaml"
chmod 0600 "$work/source_mp_operational_secrets.yaml"

step "Runbook step 2: create the namespace and apply the secrets on the standby (by hand until mp-import lands)"
run kubectl --context standby create namespace tsb
run kubectl --context standby -n tsb apply -f "$work/source_mp_operational_secrets.yaml"
active_digest=$(kubectl --context active -n tsb get secret iam-signing-key -o jsonpath='{.data}' | sha256sum | cut -c1-12)
standby_digest=$(kubectl --context standby -n tsb get secret iam-signing-key -o jsonpath='{.data}' | sha256sum | cut -c1-12)
echo "iam-signing-key data sha256: active $active_digest, standby $standby_digest" >&2
[ "$active_digest" = "$standby_digest" ] || { echo "the standby's iam-signing-key differs" >&2; exit 1; }

step "Fencing order: the operator must go first, or it scales the MP back up"
run kubectl --context active -n tsb scale deployment tsb iam --replicas=0
sleep 1
run kubectl --context active -n tsb get deployment tsb iam
run kubectl --context active -n tsb scale deployment tsb-operator-management-plane --replicas=0
run kubectl --context active -n tsb scale deployment tsb iam --replicas=0
run kubectl --context active -n tsb rollout status deployment tsb --timeout=30s
sleep 1
run kubectl --context active -n tsb get deployment tsb-operator-management-plane tsb iam

step "Demo done: the export, import, CA check and failover plugins take over these steps as they land (issues #3-#5)"
