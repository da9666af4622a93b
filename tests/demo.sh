#!/usr/bin/env bash
# `make demo`: the runbook on two REAL Kubernetes clusters (tests/kube:
# kube-apiserver 1.36 with etcd, controllers and kwok), with the real kubectl
# 1.36 and helm 3.22 built beside them. Each step says which runbook step it
# is. The first run builds those tools (about 15-25 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

. tests/plugins-on-path.sh
. tests/edge-stand-in.sh
profile_dir=$(profile_dir release)
work=$PWD/.demo
rm -rf "$work" && mkdir -p "$work"
link_plugins "$profile_dir" "$work/bin"
tools=$(bash tests/kube/build-tools.sh)
export PATH="$work/bin:$tools:$PATH"

# Bold headings on a terminal only (and not with NO_COLOR), as the plugins
# do: a captured demo (`make demo 2>&1 | tee demo.log`) has no escape codes.
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain" >&2; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

export CLUSTERS_DIR="$work/clusters"
cleanup() {
  kill ${live_pid:-} ${named_pid:-} ${edge_pid:-} 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${pg_dir:-}" ] && [ -d "$pg_dir/data" ]; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  bash tests/kube/clusters.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "Start two real clusters, active and standby (etcd, kube-apiserver, controllers, kwok)"
export KUBECONFIG=$(bash tests/kube/clusters.sh up)
run kubectl config get-contexts
run kubectl version

step "The plugins are on PATH, under both kubectl spellings"
run kubectl plugin list
run kubectl mp-export --version
run kubectl mp failover --version

step "The active Management Plane, installed with helm (the runbook's helm model; chart: tests/kube/charts/managementplane)"
cat >"$work/active-values.yaml" <<'VALUES'
spec:
  hub: containers.dl.tetrate.io
  organization: tetrate
  dataStore:
    postgres:
      host: postgres.tsb.internal
      port: 5432
      name: tsb
secrets:
  tsb:
    adminPassword: demo-admin-password
  postgres:
    username: tsb
    password: demo-postgres-password
VALUES
run helm --kube-context active install mp tests/kube/charts/managementplane -n tsb --create-namespace \
  --values "$work/active-values.yaml" --wait --timeout 2m
run kubectl --context active -n tsb get deployments,secrets

step "Runbook step 1 (helm model): export the active MP's secrets and the standby's install values"
run kubectl mp-export --context active -f "$work/active-mp.bundle.yaml" --values-out "$work/dr_mp_values.yaml"
ls -l "$work/active-mp.bundle.yaml" "$work/dr_mp_values.yaml" >&2
head -n 10 "$work/active-mp.bundle.yaml" >&2

step "Runbook step 2: import into the standby (plan, namespace creation, apply, digest check of what was stored)"
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml" --diff --dry-run
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml" --yes
step "Re-running the import changes nothing"
run kubectl mp-import --context standby -f "$work/active-mp.bundle.yaml"

step "Runbook step 3: install the standby MP with the exported values (no secrets: section); it keeps the imported secrets"
run helm --kube-context standby install mp tests/kube/charts/managementplane -n tsb \
  --values "$work/dr_mp_values.yaml" --wait --timeout 2m
digest() { kubectl --context "$1" -n tsb get secret "$2" -o jsonpath='{.data}' | sha256sum | cut -c1-16; }
for secret in iam-signing-key admin-credentials postgres-credentials; do
  echo "$secret sha256: active $(digest active "$secret"), standby $(digest standby "$secret")" >&2
  [ "$(digest active "$secret")" = "$(digest standby "$secret")" ] || { echo "the standby's $secret differs from the active's" >&2; exit 1; }
done

step "A tctl-installed (generic model) pair in namespace mp-pair, with the TSB operator and the MP front door played against the real API (mp-live), and a DNS server for the MP's name"
"$profile_dir/mp-live" --kubeconfig "$KUBECONFIG" -n mp-pair --cluster active=tsb-generic --cluster standby=tsb-generic \
  --dns-name tsb.mp.example --state-file "$work/live.json" --work-dir "$work/live" >"$work/live.log" 2>&1 &
live_pid=$!
for _ in $(seq 1 600); do [ -s "$work/live.json" ] && break; kill -0 "$live_pid" 2>/dev/null || break; sleep 0.1; done
[ -s "$work/live.json" ] || { cat "$work/live.log" >&2; echo "mp-live did not start" >&2; exit 1; }
for cluster in active standby; do
  run kubectl --context "$cluster" -n mp-pair wait --for=condition=Available deployment --all --timeout=2m >/dev/null
done
front() { kubectl --context "$1" -n mp-pair get service envoy -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }
active_front=$(front active)

# A throwaway authoritative BIND9 for mp.example on 127.0.0.1, updatable with a TSIG key.
dns_dir="$work/dns"
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

# The pair's one Postgres (--database shared): a throwaway PostgreSQL 15 on
# 127.0.0.1, which both MPs' specs name, so the readiness check reaches it.
# initdb refuses root: as root, the server runs as the postgres user.
pg_bin=/usr/lib/postgresql/15/bin
pg_dir="$work/postgres"
pg_port=$((20000 + RANDOM % 20000))
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
mkdir -p "$pg_dir"
if [ "$(id -u)" = 0 ]; then chown postgres: "$pg_dir"; fi
"${as_pg[@]}" "$pg_bin/initdb" --no-sync -D "$pg_dir/data" -U postgres --auth=trust >"$pg_dir/initdb.log" 2>&1 ||
  { cat "$pg_dir/initdb.log" >&2; echo "initdb failed" >&2; exit 1; }
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pg_dir" start >/dev/null ||
  { cat "$pg_dir/server.log" >&2; echo "postgres did not start" >&2; exit 1; }
for cluster in active standby; do
  kubectl --context "$cluster" -n mp-pair patch managementplane managementplane --type merge \
    -p "{\"spec\":{\"dataStore\":{\"postgres\":{\"host\":\"127.0.0.1\",\"port\":$pg_port}}}}" >/dev/null
done
echo "the MPs' shared Postgres: 127.0.0.1:$pg_port" >&2

step "Runbook steps 1-2, piped: the standby gets the active's secrets"
run bash -o pipefail -c "kubectl mp-export --context active -n mp-pair -f - | kubectl mp-import --context standby -n mp-pair -f - --yes --backup-dir $work"

step "The CA caution on the pair: both MPs chain to the same root"
run kubectl mp-cacheck --active-context active --standby-context standby -n mp-pair --dns-name tsb.mp.example

step "A workload cluster's control plane: context workload (the active cluster), its XCP edge in istio-system; kwok serves the edge's log from a file a stand-in writes"
context_field() { kubectl config view -o jsonpath="{.contexts[?(@.name==\"$1\")].context.$2}"; }
kubectl config set-context workload --cluster="$(context_field active cluster)" --user="$(context_field active user)" >/dev/null
: >"$work/edge.log"
apply_edge_stand_in demo-edge "$work/edge.log" --context workload
(while sleep 1; do edge_connected_line tsb.mp.example >>"$work/edge.log"; done) &
edge_pid=$!

failover=(-n mp-pair --dump-dir "$work" --database shared --dns-backend rfc2136 --dns-server "127.0.0.1:$dns_port" --dns-zone mp.example
  --tsig-key-file "$dns_dir/update.key" --dns-name tsb.mp.example --ready-timeout 2m
  --control-plane-context workload --control-plane-timeout 30s)

step "Readiness: would a failover succeed now? It says what is off (exit 1): this demo's standby runs its writers, and both restore CronJobs run over the one shared database"
run kubectl mp-cacheck --readiness --active-context active --standby-context standby -n mp-pair --database shared || true

step "Fail over, first as a dry run (every step and change, nothing touched)"
run kubectl mp-failover --from active --to standby "${failover[@]}" --dry-run

step "Fail over: fence the active (operator first), activate the standby, repoint DNS, verify, the control plane follows"
run kubectl mp-failover --from active --to standby "${failover[@]}" --yes
run kubectl --context active -n mp-pair get deployments
run kubectl --context standby -n mp-pair get deployments

step "Re-running a finished failover changes nothing"
run kubectl mp-failover --from active --to standby "${failover[@]}" --yes

step "The CA caution after failover: the new active against the old one"
run kubectl mp-cacheck --active-context standby --standby-context active -n mp-pair --dns-name tsb.mp.example

step "Readiness after the failover: the old active, fenced with its restore CronJob suspended, is a standby ready to fail back to (exit 0)"
run kubectl mp-cacheck --readiness --active-context standby --standby-context active -n mp-pair --database shared
run kubectl mp-cacheck --readiness --active-context standby --standby-context active -n mp-pair --database shared -o prometheus

step "Failback, interrupted: a SIGINT (Ctrl-C, or a dropped SSH session) once the fence is done stops it cleanly (exit 4): the journal (in the target cluster) keeps what is done, the lock is given up"
printf '$ %s\n' "kubectl mp-failover --from standby --to active ${failover[*]} --yes   # then Ctrl-C after step 3" >&2
kubectl mp-failover --from standby --to active "${failover[@]}" --yes 2>"$work/interrupted.log" &
failback_pid=$!
# The fence (step 3) done, the activate step waits for the old active's
# Pods to become Ready: the signal lands in the middle of the failback.
until grep -q 'fence done' "$work/interrupted.log" || ! kill -0 "$failback_pid" 2>/dev/null; do sleep 0.05; done
kill -INT "$failback_pid" 2>/dev/null || true
status=0
wait "$failback_pid" || status=$?
cat "$work/interrupted.log" >&2
[ "$status" = 4 ] || { echo "demo: the interrupted failback exited $status, not 4" >&2; exit 1; }
run kubectl --context active -n mp-pair get configmap mp-failover-journal mp-failover-lock --ignore-not-found

step "Failback resumed: --resume with the same options skips what holds and finishes, restoring the recorded replica counts"
run kubectl mp-failover --from standby --to active "${failover[@]}" --yes --resume
run kubectl --context active -n mp-pair get deployments

step "Demo done: export, import, standby install, CA check, readiness, failover with a control plane following, and an interrupted failback resumed, on two real clusters"
