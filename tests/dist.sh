#!/usr/bin/env bash
# `make dist`: one .tar.gz per plugin and platform (the binary and LICENSE),
# sha256sums.txt, then the krew manifests from those sums. Archives are
# byte-reproducible: fixed order, mtime, owners and modes, gzip without a name
# or timestamp. The Makefile passes every variable below.
set -euo pipefail
# Glob order, tar's --sort and sha256sums.txt must not depend on the locale.
export LC_ALL=C

: "${CARGO:?}" "${CARGO_PROFILE:?}" "${TARGET_ROOT:?}" "${PROFILE_DIR:?}" "${HOST_TARGET:?}"
: "${DIST_TARGETS:?}" "${DIST_DIR:?}" "${KREW_MANIFESTS_DIR:?}" "${MP_DIST:?}" "${PLUGINS:?}"

# krew's os/arch labels (Go's GOOS/GOARCH) for a Rust target triple.
platform_of() {
  case "$1" in
    x86_64-unknown-linux-gnu | x86_64-unknown-linux-musl) echo linux_amd64 ;;
    aarch64-unknown-linux-gnu | aarch64-unknown-linux-musl) echo linux_arm64 ;;
    x86_64-apple-darwin) echo darwin_amd64 ;;
    aarch64-apple-darwin) echo darwin_arm64 ;;
    *) echo "dist: no krew os/arch known for target $1" >&2; return 1 ;;
  esac
}

mkdir -p "$DIST_DIR"
# Only what this run builds: a manifest must never list a stale archive.
rm -f "$DIST_DIR"/kubectl-mp-*.tar.gz "$DIST_DIR/sha256sums.txt"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

for target in $DIST_TARGETS; do
  platform=$(platform_of "$target")
  if [ "$target" = "$HOST_TARGET" ]; then
    # The host's binaries are the ones `make build` (a prerequisite) made.
    bin_dir="$TARGET_ROOT/$PROFILE_DIR"
  else
    packages=()
    for plugin in $PLUGINS; do packages+=(-p "kubectl-mp-$plugin"); done
    "$CARGO" build --profile "$CARGO_PROFILE" --target "$target" "${packages[@]}"
    bin_dir="$TARGET_ROOT/$target/$PROFILE_DIR"
  fi
  for plugin in $PLUGINS; do
    binary="kubectl-mp-$plugin"
    rm -rf "${stage:?}"/*
    install -m 0755 "$bin_dir/$binary" "$stage/$binary"
    install -m 0644 LICENSE "$stage/LICENSE"
    tar --create --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --directory "$stage" "$binary" LICENSE |
      gzip -9 -n >"$DIST_DIR/${binary}_${platform}.tar.gz"
  done
done

(cd "$DIST_DIR" && sha256sum -- kubectl-mp-*.tar.gz >sha256sums.txt)
"$MP_DIST" krew --dist "$DIST_DIR" --out "$KREW_MANIFESTS_DIR"
echo "dist: $(ls "$DIST_DIR"/kubectl-mp-*.tar.gz | wc -l) archives and sha256sums.txt in $DIST_DIR; manifests in $KREW_MANIFESTS_DIR"
