#!/usr/bin/env bash
# Installs, idempotently, what the tests and the demo need on a machine that
# may be new: BIND9 (named, tsig-keygen, nsupdate) and PostgreSQL 15 (server for the
# throwaway test clusters, client tools for mp-failover). kubectl is not
# among them: the tests use the 1.36 tests/kube/build-tools.sh builds. Used
# by `.ci/run` and `make deps` (which `make demo` and `make test` run first).
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }

missing=()
{ command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ]; } || missing+=(bind9)
# nsupdate: the DNS hooks' end-to-end test applies a provider's change to BIND with it.
command -v nsupdate >/dev/null 2>&1 || missing+=(bind9-dnsutils)
{ [ -x /usr/lib/postgresql/15/bin/initdb ] && command -v pg_restore >/dev/null 2>&1; } || missing+=(postgresql-15 postgresql-client-15)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]}) or run this as root" >&2
  exit 1
fi
log "installing ${missing[*]}"
apt-get update -qq
for package in "${missing[@]}"; do
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
done
