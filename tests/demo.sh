#!/usr/bin/env bash
# `make demo`: two sandbox clusters and the runbook, as far as the plugins go
# today. Each step says which runbook step it is; the plugins replace the
# kubectl steps as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

. tests/plugins-on-path.sh
profile_dir=$(profile_dir release)
work=.demo
rm -rf "$work"
link_plugins "$profile_dir" "$work/bin"
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

step "Runbook step 2: import into the standby (plan, namespace creation, apply, digest check of what was stored)"
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml" --diff --dry-run
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml" --yes
step "Re-running the import changes nothing"
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml"
echo "next, outside the sandbox: helm install mp tetrate-tsb-helm/managementplane -n tsb --values $work/dr_mp_values.yaml" >&2

step "A tctl-installed (generic model) pair: the standby MP is installed too (sandbox seed), and a DNS server for the MP's name"
"$profile_dir/mp-sandbox" --kubeconfig-out "$work/pair.kubeconfig" --state-file "$work/pair-state.json" \
  --cluster active=tsb-generic --cluster standby=tsb-generic --dns-name tsb.mp.example >"$work/pair-sandbox.log" 2>&1 &
pair_sandbox=$!
trap 'kill $sandbox $pair_sandbox ${named_pid:-} 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$work/pair-state.json" ] && break; sleep 0.1; done
export KUBECONFIG="$PWD/$work/pair.kubeconfig"
front() { kubectl --context "$1" -n tsb get service envoy -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }
active_front=$(front active)
standby_front=$(front standby)

# A throwaway authoritative BIND9 for mp.example on 127.0.0.1, updatable with a TSIG key.
dns_dir="$PWD/$work/dns"
mkdir -p "$dns_dir"
named_bin=$(command -v named || echo /usr/sbin/named)
tsig_keygen=$(command -v tsig-keygen || echo /usr/sbin/tsig-keygen)
"$tsig_keygen" -a hmac-sha256 mp-update >"$dns_dir/update.key"
dns_port=$((20000 + RANDOM % 20000))
printf '$TTL 300\n@ IN SOA ns.mp.example. hostmaster.mp.example. 1 3600 600 86400 30\n@ IN NS ns.mp.example.\nns IN A 127.0.0.1\ntsb 30 IN A %s\n' "$active_front" >"$dns_dir/mp.example.zone"
cat >"$dns_dir/named.conf" <<CONF
options { directory "$dns_dir"; pid-file "$dns_dir/named.pid"; session-keyfile "$dns_dir/session.key";
  listen-on port $dns_port { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; dnssec-validation no; notify no; };
controls { };
include "$dns_dir/update.key";
zone "mp.example" { type primary; file "$dns_dir/mp.example.zone"; update-policy { grant mp-update zonesub ANY; }; };
CONF
"$named_bin" -g -4 -c "$dns_dir/named.conf" >"$dns_dir/named.log" 2>&1 &
named_pid=$!
for _ in $(seq 1 100); do grep -q ' running$' "$dns_dir/named.log" && break; sleep 0.1; done
grep -q ' running$' "$dns_dir/named.log" || { cat "$dns_dir/named.log" >&2; echo "named did not start" >&2; exit 1; }
echo "tsb.mp.example A $active_front (active front), served by 127.0.0.1:$dns_port" >&2

step "Runbook steps 1-2, piped: the standby gets the active's secrets"
run bash -o pipefail -c "kubectl mp-export --context active -o - | kubectl mp-import --context standby -f - --yes --backup-dir $work"

step "The CA caution on the pair: both MPs chain to the same root"
run kubectl mp-cacheck --active-context active --standby-context standby --dns-name tsb.mp.example

failover=(--dump-dir "$work" --database shared --dns-backend rfc2136 --dns-server "127.0.0.1:$dns_port" --dns-zone mp.example
  --tsig-key-file "$dns_dir/update.key" --dns-name tsb.mp.example --ready-timeout 1m)

step "Fail over, first as a dry run (every step and change, nothing touched)"
run kubectl mp-failover --from active --to standby "${failover[@]}" --dry-run

step "Fail over: fence the active (operator first), activate the standby, repoint DNS, verify"
run kubectl mp-failover --from active --to standby "${failover[@]}" --yes
run kubectl --context active -n tsb get deployments
run kubectl --context standby -n tsb get deployments

step "Re-running a finished failover changes nothing"
run kubectl mp-failover --from active --to standby "${failover[@]}" --yes

step "The CA caution after failover: the new active against the old one"
run kubectl mp-cacheck --active-context standby --standby-context active --dns-name tsb.mp.example

step "Failback: the same command the other way, restoring the recorded replica counts"
run kubectl mp-failover --from standby --to active "${failover[@]}" --yes
run kubectl --context active -n tsb get deployments

step "Demo done: export, import, CA check, failover and failback on two sandbox clusters"
