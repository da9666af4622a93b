#!/usr/bin/env bash
# `make demo`: two sandbox clusters and the runbook, as far as the plugins go
# today. Each step says which runbook step it is; the plugins replace the
# kubectl steps as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

profile_dir=${CARGO_TARGET_DIR:-target}/release
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

step "Runbook step 1 (helm model): export the active MP's secrets and the standby's install values"
run kubectl mp-export --context active -o "$work/active-mp.bundle.yaml" --values-out "$work/dr_mp_values.yaml"
ls -l "$work/active-mp.bundle.yaml" "$work/dr_mp_values.yaml" >&2
head -n 10 "$work/active-mp.bundle.yaml" >&2

step "The CA caution, before import: the active MP's certificates on their own"
run kubectl mp-cacheck --context active --dns-name tsb.example.com

step "Runbook step 2: import into the standby (plan, namespace creation, apply, read-back check)"
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml" --diff --dry-run
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml" --yes
step "Re-running the import changes nothing"
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml"
echo "next, outside the sandbox: helm install mp tetrate-tsb-helm/managementplane -n tsb --values $work/dr_mp_values.yaml" >&2

step "The same for a tctl-installed (generic model) MP, piped straight from export to import"
"$profile_dir/mp-sandbox" --kubeconfig-out "$work/generic.kubeconfig" --state-file "$work/generic-state.json" \
  --cluster active=tsb-generic --cluster standby=empty >"$work/generic-sandbox.log" 2>&1 &
generic_sandbox=$!
trap 'kill $sandbox $generic_sandbox 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$work/generic-state.json" ] && break; sleep 0.1; done
KUBECONFIG="$PWD/$work/generic.kubeconfig" run bash -o pipefail -c \
  'kubectl mp-export --context active -o - | kubectl mp-import --context standby -f - --yes'
step "The CA caution on the pair: both MPs chain to the same root"
KUBECONFIG="$PWD/$work/generic.kubeconfig" run kubectl mp-cacheck --active-context active --standby-context standby --dns-name tsb.example.com

step "Fencing order: the operator must go first, or it scales the MP back up"
run kubectl --context active -n tsb scale deployment tsb iam --replicas=0
sleep 1
run kubectl --context active -n tsb get deployment tsb iam
run kubectl --context active -n tsb scale deployment tsb-operator-management-plane --replicas=0
run kubectl --context active -n tsb scale deployment tsb iam --replicas=0
run kubectl --context active -n tsb rollout status deployment tsb --timeout=30s
sleep 1
run kubectl --context active -n tsb get deployment tsb-operator-management-plane tsb iam

step "Demo done: the failover plugin takes over the fencing and cut-over as it lands (issue #5)"
