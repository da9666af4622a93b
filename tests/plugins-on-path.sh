# Sourced by the scripts that run the built plugins (demo.sh, bench.sh): one
# way to find cargo's output and put the plugins on PATH.
# Cargo reads CARGO_TARGET_DIR relative to where it runs, which for `make` is
# the repository root: the scripts `cd` there before sourcing this.

# profile_dir PROFILE_DIR: the absolute path of cargo's PROFILE_DIR (release,
# debug) output, whether CARGO_TARGET_DIR is unset, relative or absolute.
profile_dir() {
  local root=${CARGO_TARGET_DIR:-target}
  (cd "$root/$1" 2>/dev/null && pwd) || {
    echo "no $root/$1 directory: build first (make build), from the repository root" >&2
    return 1
  }
}

# link_plugins FROM BIN: links each plugin built in FROM into BIN under both
# names kubectl looks for (kubectl-mp-export for `kubectl mp-export`, and
# kubectl-mp_export for `kubectl mp export`), by absolute path.
link_plugins() {
  local from=$1 bin=$2 plugin
  case "$from" in /*) ;; *) echo "link_plugins: $from is not an absolute path" >&2; return 1 ;; esac
  mkdir -p "$bin"
  for plugin in export import cacheck failover; do
    [ -x "$from/kubectl-mp-$plugin" ] || { echo "no kubectl-mp-$plugin in $from: build first (make build)" >&2; return 1; }
    ln -sf "$from/kubectl-mp-$plugin" "$bin/kubectl-mp-$plugin"
    ln -sf "kubectl-mp-$plugin" "$bin/kubectl-mp_$plugin"
  done
}
