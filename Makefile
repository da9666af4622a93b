# kubectl-mp: the README's two commands are `make demo` and `make test`.
PREFIX ?= $(HOME)/.local
CARGO ?= cargo
PLUGINS := export import cacheck failover
BINDIR := $(PREFIX)/bin
# `make install CARGO_PROFILE=dev` installs debug builds (the tests do).
CARGO_PROFILE ?= release
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)/$(if $(filter dev,$(CARGO_PROFILE)),debug,$(CARGO_PROFILE))

.PHONY: all build deps test demo bench install uninstall clean

all: build

build:
	$(CARGO) build --profile $(CARGO_PROFILE) --workspace --bins

# kubectl, BIND9 and PostgreSQL 15, installed when missing (needs root).
deps:
	bash tests/install-deps.sh

test: deps
	$(CARGO) test --workspace --all-targets

demo: deps build
	bash tests/demo.sh

# Plugins vs the runbook by hand, on sandbox clusters; writes BENCHMARKS.md and
# fails when a request, time or memory budget is missed.
bench: deps
	$(CARGO) build --release --workspace --bins
	bash tests/bench.sh

# Installs each plugin under both names kubectl looks for: `kubectl mp export`
# finds kubectl-mp-export, `kubectl mp-export` finds kubectl-mp_export.
install: build
	install -d "$(BINDIR)"
	set -e; for plugin in $(PLUGINS); do \
	  install -m 0755 "$(TARGET_DIR)/kubectl-mp-$$plugin" "$(BINDIR)/kubectl-mp-$$plugin"; \
	  ln -sf "kubectl-mp-$$plugin" "$(BINDIR)/kubectl-mp_$$plugin"; \
	done

uninstall:
	for plugin in $(PLUGINS); do rm -f "$(BINDIR)/kubectl-mp-$$plugin" "$(BINDIR)/kubectl-mp_$$plugin"; done

clean:
	$(CARGO) clean
	rm -rf .demo .bench
