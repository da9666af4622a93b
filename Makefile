# kubectl-mp: the README's two commands are `make demo` and `make test`.
PREFIX ?= $(HOME)/.local
CARGO ?= cargo
PLUGINS := export import cacheck failover
BINDIR := $(PREFIX)/bin
DATADIR := $(PREFIX)/share
# `make install CARGO_PROFILE=dev` installs debug builds (the tests do).
CARGO_PROFILE ?= release
TARGET_ROOT := $(or $(CARGO_TARGET_DIR),target)
PROFILE_DIR := $(if $(filter dev,$(CARGO_PROFILE)),debug,$(CARGO_PROFILE))
TARGET_DIR := $(TARGET_ROOT)/$(PROFILE_DIR)
# Generates completions, man pages and krew manifests (xtask/src/main.rs; `make build` builds it).
MP_DIST := $(TARGET_DIR)/mp-dist
DOCS_DIR := $(TARGET_ROOT)/docs

# `make dist` builds for DIST_TARGETS (Rust target triples), default the host.
# Others need their rust-std (`rustup target add`) and a C cross toolchain for
# ring, e.g. DIST_TARGETS="x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu"
# with Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross, whose linker
# is the default below.
HOST_TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER ?= aarch64-linux-gnu-gcc
DIST_TARGETS ?= $(HOST_TARGET)
DIST_DIR ?= dist
KREW_MANIFESTS_DIR ?= krew-manifests

.PHONY: all build deps test demo bench docs dist install uninstall clean tools clusters clusters-down

all: build

build:
	$(CARGO) build --profile $(CARGO_PROFILE) --workspace --bins

# BIND9 and PostgreSQL 15, installed when missing (needs root).
deps:
	bash tests/install-deps.sh

# The real Kubernetes tools the tests run on (kube-apiserver, etcd, ...), built
# from their Go modules into ~/.cache/kubectl-mp/kube: ~15-25 min the first
# time on 2 cores, a second afterwards.
tools:
	bash tests/kube/build-tools.sh >/dev/null

# Two real clusters on loopback, contexts `active` and `standby` in
# .clusters/kubeconfig (tests/kube/clusters.sh says what runs).
clusters:
	bash tests/kube/clusters.sh up

clusters-down:
	bash tests/kube/clusters.sh down

# The end-to-end tests' own pair of real clusters (tests/tests/plugin_support):
# started by the first test that needs it, stopped when the tests end.
TEST_CLUSTERS ?= $(abspath $(TARGET_ROOT))/test-clusters

test: deps tools
	CLUSTERS_DIR="$(TEST_CLUSTERS)" $(CARGO) test --workspace --all-targets; \
	  status=$$?; CLUSTERS_DIR="$(TEST_CLUSTERS)" bash tests/kube/clusters.sh down; exit $$status

demo: deps build
	bash tests/demo.sh

# Shell completions and man pages from the plugins' clap definitions.
docs: build
	"$(MP_DIST)" docs --out "$(DOCS_DIR)"

# Release archives, sha256sums.txt and the krew manifests' versions and sums.
dist: build
	CARGO="$(CARGO)" CARGO_PROFILE="$(CARGO_PROFILE)" TARGET_ROOT="$(TARGET_ROOT)" \
	  PROFILE_DIR="$(PROFILE_DIR)" HOST_TARGET="$(HOST_TARGET)" DIST_TARGETS="$(DIST_TARGETS)" \
	  DIST_DIR="$(DIST_DIR)" KREW_MANIFESTS_DIR="$(KREW_MANIFESTS_DIR)" MP_DIST="$(MP_DIST)" \
	  PLUGINS="$(PLUGINS)" bash tests/dist.sh

# Plugins vs the runbook by hand, on three real clusters; writes BENCHMARKS.md and
# fails when a request, time or memory budget is missed.
bench: deps
	$(CARGO) build --release --workspace --bins
	bash tests/bench.sh

# Installs each plugin under both names kubectl looks for: `kubectl mp export`
# finds kubectl-mp-export, `kubectl mp-export` finds kubectl-mp_export; and
# their completions and man pages where bash-completion, zsh, fish and man look.
install: build docs
	install -d "$(BINDIR)" "$(DATADIR)/bash-completion/completions" "$(DATADIR)/zsh/site-functions" \
	  "$(DATADIR)/fish/vendor_completions.d" "$(DATADIR)/man/man1"
	set -e; for plugin in $(PLUGINS); do \
	  install -m 0755 "$(TARGET_DIR)/kubectl-mp-$$plugin" "$(BINDIR)/kubectl-mp-$$plugin"; \
	  ln -sf "kubectl-mp-$$plugin" "$(BINDIR)/kubectl-mp_$$plugin"; \
	  install -m 0644 "$(DOCS_DIR)/completions/bash/kubectl-mp-$$plugin" "$(DATADIR)/bash-completion/completions/"; \
	  install -m 0644 "$(DOCS_DIR)/completions/zsh/_kubectl-mp-$$plugin" "$(DATADIR)/zsh/site-functions/"; \
	  install -m 0644 "$(DOCS_DIR)/completions/fish/kubectl-mp-$$plugin.fish" "$(DATADIR)/fish/vendor_completions.d/"; \
	  install -m 0644 "$(DOCS_DIR)/man/man1/kubectl-mp-$$plugin.1" "$(DATADIR)/man/man1/"; \
	done

uninstall:
	for plugin in $(PLUGINS); do rm -f "$(BINDIR)/kubectl-mp-$$plugin" "$(BINDIR)/kubectl-mp_$$plugin" \
	  "$(DATADIR)/bash-completion/completions/kubectl-mp-$$plugin" "$(DATADIR)/zsh/site-functions/_kubectl-mp-$$plugin" \
	  "$(DATADIR)/fish/vendor_completions.d/kubectl-mp-$$plugin.fish" "$(DATADIR)/man/man1/kubectl-mp-$$plugin.1"; done

clean: clusters-down
	$(CARGO) clean
	rm -rf .demo .bench .bench-clusters dist
