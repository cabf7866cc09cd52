# as-gateway: rebasable patch series for netavark, container-libs and podman,
# plus the harness and tests that check them.  `make help` lists the targets.
#
# Third-party source is never committed.  `make netavark` fetches the pinned
# crate from crates.io, `make podman` the pinned Go modules from the Go proxy;
# each is unpacked into build/src/ (ignored by git), committed pristine, and
# its series (patches/<name>/) applied with `git am`.

include netavark-patch/upstream.mk

SHELL       := /bin/bash
DESTDIR     ?=
PREFIX      ?= /usr/local
LIBEXECDIR  ?= $(PREFIX)/libexec/podman
# A build cache outside the clone: it only speeds things up.
CACHE       ?= $(HOME)/.cache/as-gateway
# Stock and patched netavark need separate target dirs: cargo gives a path
# package the same unit hash wherever it lives, so one shared dir would let a
# stock build reuse a patched binary (and vice versa).
NETAVARK_TARGET_DIR ?= $(CACHE)/netavark-target
STOCK_TARGET_DIR    ?= $(CACHE)/stock-target
HARNESS_TARGET_DIR  ?= $(CACHE)/harness-target
CARGO       ?= cargo

TREE        := build/src/netavark
STOCK_TREE  := build/src/netavark-stock
BIN         := build/bin
SERIES      := patches/netavark
SERIES_FILES := $(SERIES)/series $(wildcard $(SERIES)/*.patch)
NETAVARK_BINS := netavark netavark-connection-tester netavark-dhcp-proxy-client

.PHONY: all help deps deps-netavark netavark refresh-patches reset-netavark submit-patches harness check \
        check-make check-series check-style check-harness check-upstream check-container-libs \
        check-podman bench demo rebase-main rebase-main-record rebase-common-newest rebase-common-newest-record \
        install clean distclean

all: netavark harness

help:
	@echo "make deps             install the Debian packages the build and tests need (every"
	@echo "                      target also installs, first, what it uses itself)"
	@echo "make netavark         fetch netavark $(NETAVARK_VERSION), apply the series, build"
	@echo "                      $(BIN)/netavark (patched) and $(BIN)/netavark-stock"
	@echo "make refresh-patches  regenerate $(SERIES)/ from the commits in $(TREE)"
	@echo "make reset-netavark   throw $(TREE) away and rebuild it from $(SERIES)/"
	@echo "make check            every test: the three series, style, harness scenarios and"
	@echo "                      no-leak suite, upstream suites stock vs patched, real podman"
	@echo "make bench            setup-time ratios vs stock (and the guards' cost), in one run"
	@echo "make demo             SENTRY/BOTTLE in namespaces, then with real podman, narrated"
	@echo "make install DESTDIR= install the patched netavark"
	@echo "make podman           fetch podman + container-libs, apply their series, build $(BIN)/podman"
	@echo "make check-podman-smoke  real containers with $(BIN)/podman and our netavark"
	@echo "make check-compose    tests/podman/compose/compose.yaml with podman-compose (PyPI + patches/podman-compose)"
	@echo "                      and docker compose (Go module proxy) on the patched podman's compat API"
	@echo "make rebase-main UPSTREAM_GIT=DIR [UPSTREAM_REF=main]"
	@echo "                      the series on upstream's newest netavark (a git checkout):"
	@echo "                      git am -3 + recorded resolutions, build, unit tests, our bats"
	@echo "                      files (not part of make check: the registries do not serve main)"
	@echo "make rebase-common-newest [COMMON_NEWEST=vX.Y.Z COMMON_NEWEST_H1=h1:...]"
	@echo "                      the container-libs series on the newest go.podman.io/common the"
	@echo "                      Go proxy serves ($(PODMAN_COMMON_NEWEST_VERSION)): git am -3 + recorded resolutions"
	@echo "                      (podman-patch/newest-fixups/), go vet per commit, common's libnetwork"
	@echo "                      tests stock vs patched (not part of make check: podman stays on $(PODMAN_COMMON_VERSION))"

# ---------------------------------------------------------------- setup
# The installers, one per toolset:
#   deps-netavark  tests/install-deps.sh: Rust check, protoc, git, quilt, bats,
#                  nftables, ... (netavark's build, the harness, the upstream suites)
#   deps-podman    podman-patch/install-runtime.sh (podman-patch/podman.mk): Go
#                  check, gcc, libseccomp-dev, libsqlite3-dev, xxd, runc, conmon, ...
# Every target whose recipe runs a tool has that tool's installer as an
# ORDER-ONLY prerequisite (`| deps-podman`): it runs before the recipe, even
# under make -j, but never makes a file target out of date.  Both are quick
# and silent when everything is present.  tests/make/install-order.sh
# (make check-make, the first step of make check) checks this for every target.
deps: deps-netavark deps-podman

deps-netavark:
	@./tests/install-deps.sh

# ---------------------------------------------------------------- trees
# A tree without make's stamp was made by hand: never delete it silently.
refuse_unstamped = @if [ -e $(1) ]; then echo "$(1) exists but make did not create it;" \
	"'make $(2)' rebuilds it from the series, 'touch $(1)/.as-gateway-stamp' keeps it" >&2; exit 1; fi

$(STOCK_TREE)/.as-gateway-stamp: | deps-netavark
	$(call refuse_unstamped,$(STOCK_TREE),distclean)
	./netavark-patch/tree.sh pristine $(STOCK_TREE)
	touch $@

$(TREE)/.as-gateway-stamp: | deps-netavark
	$(call refuse_unstamped,$(TREE),reset-netavark)
	./netavark-patch/tree.sh pristine $(TREE)
	./netavark-patch/tree.sh apply $(TREE) $(SERIES)
	touch $@

refresh-patches: $(TREE)/.as-gateway-stamp | deps-netavark
	./netavark-patch/tree.sh refresh $(TREE) $(SERIES)

reset-netavark:
	rm -rf $(TREE)
	$(MAKE) --no-print-directory $(TREE)/.as-gateway-stamp

# --------------------------------------------------------------- builds
# build_netavark(tree, target dir, binary suffix)
define build_netavark
	@echo "==> building netavark from $(1) (release; cargo cache in $(2))"
	cd $(1) && CARGO_TARGET_DIR=$(2) $(CARGO) build --release --locked --bins
	mkdir -p $(BIN)
	for b in $(NETAVARK_BINS); do install -m 0755 $(2)/release/$$b $(BIN)/$$b$(3); done
endef

netavark: $(BIN)/netavark $(BIN)/netavark-stock

$(BIN)/netavark-stock: $(STOCK_TREE)/.as-gateway-stamp | deps-netavark
	$(call build_netavark,$(STOCK_TREE),$(STOCK_TARGET_DIR),-stock)

$(BIN)/netavark: $(TREE)/.as-gateway-stamp $(SERIES_FILES) FORCE | deps-netavark
	@./netavark-patch/tree.sh status $(TREE) $(SERIES)
	$(call build_netavark,$(TREE),$(NETAVARK_TARGET_DIR),)

FORCE:

# The podman side: podman v6 + container-libs common, same fetch / pristine /
# git am / refresh scheme as netavark.
include podman-patch/podman.mk
# Quadlet: build/bin/quadlet from the patched tree, make check-quadlet.
include podman-patch/quadlet.mk
# Rootless podman: make deps-rootless, make check-rootless.
include podman-patch/rootless.mk
# podman machine: make machine-context, make check-machine.
include podman-patch/machine/machine.mk
# Compose: podman-compose (fourth series) and docker compose, make check-compose.
include podman-compose-patch/compose.mk

harness: | deps-netavark
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) build --release --locked

# ---------------------------------------------------------------- tests
# No installer here: each step installs what it uses (see deps above).
check:
	@echo "==> [1/6] the Makefile installs before it uses; the three series: git am, quilt, stable refresh, commit hygiene"
	$(MAKE) --no-print-directory check-make
	$(MAKE) --no-print-directory check-series
	@echo "==> [2/6] rustfmt and clippy on the harness and the patched tree"
	$(MAKE) --no-print-directory check-style
	@echo "==> [3/6] our scenarios against the patched netavark, in namespaces"
	$(MAKE) --no-print-directory check-harness
	@echo "==> [4/6] upstream netavark's cargo and bats suites, stock vs patched"
	$(MAKE) --no-print-directory check-upstream
	@echo "==> [5/6] container-libs' libnetwork tests, stock vs patched"
	$(MAKE) --no-print-directory check-container-libs
	@echo "==> [6/6] real podman: smoke, e2e, SENTRY/BOTTLE scene, podman's own e2e and bats, no-leak, fail-closed, man pages, Quadlet, compose (both front ends), rootless and rootful"
	$(MAKE) --no-print-directory check-podman
	@echo "==> make check: all green"

# Needs only make and bash: it dry-runs every target (make -n -B).
check-make:
	./tests/make/install-order.sh

check-series: $(TREE)/.as-gateway-stamp | deps-netavark deps-podman deps-compose
	./tests/series/check.sh netavark container-libs podman podman-compose

check-style: netavark podman | deps-netavark deps-podman
	./tests/style/check.sh

check-harness: netavark | deps-netavark
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) test --release --locked --no-fail-fast -- --test-threads=1

check-upstream: netavark | deps-netavark
	CACHE=$(CACHE) NETAVARK_TARGET_DIR=$(NETAVARK_TARGET_DIR) STOCK_TARGET_DIR=$(STOCK_TARGET_DIR) \
		./tests/upstream/compare.sh

check-container-libs: netavark podman | deps-netavark deps-podman
	./tests/container-libs/compare.sh

# The guards' cost: the bench also runs a netavark built from the series up to
# (not including) the first guard patch, in the same run.  Its tree is a
# plain `git archive` of that commit of $(TREE), rebuilt when the series moves.
PREGUARD_TREE       := build/src/netavark-preguard
PREGUARD_TARGET_DIR ?= $(CACHE)/preguard-target
PREGUARD_BEFORE     := bridge: guard the ports of a gateway_mode=container network

$(BIN)/netavark-preguard: $(TREE)/.as-gateway-stamp $(SERIES_FILES) | deps-netavark
	@base=$$(git -C $(TREE) log --format='%H %s' upstream..HEAD | grep -F " $(PREGUARD_BEFORE)" | cut -d' ' -f1); \
	 [ -n "$$base" ] || { echo "no commit '$(PREGUARD_BEFORE)' in $(TREE)" >&2; exit 1; }; \
	 echo "==> pre-guard netavark: $(TREE) at $$(git -C $(TREE) log -1 --format='%h %s' $$base~1)"; \
	 rm -rf $(PREGUARD_TREE) && mkdir -p $(PREGUARD_TREE) && git -C $(TREE) archive $$base~1 | tar -x -C $(PREGUARD_TREE)
	cd $(PREGUARD_TREE) && CARGO_TARGET_DIR=$(PREGUARD_TARGET_DIR) $(CARGO) build --release --locked --bin netavark
	install -m 0755 $(PREGUARD_TARGET_DIR)/release/netavark $@

bench: netavark $(BIN)/netavark-preguard | deps-netavark
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) run --release --locked --bin as-gateway -- bench \
		--pre-guard $(BIN)/netavark-preguard

# The main job: build everything, then show SENTRY/BOTTLE twice: in bare
# namespaces with netavark alone, then with real podman containers.
demo: netavark podman-images | deps-netavark deps-podman
	@echo "==> part 1: netavark alone, in network namespaces (the as-gateway harness)"
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) run --release --locked --bin as-gateway -- demo
	@echo "==> part 2: real podman containers, patched podman + patched netavark"
	$(call in_podman_sandbox,./tests/podman/demo.sh)

# Run a podman scene, then always tear the podman sandbox down (containers,
# networks, state, the sandbox's processes), keeping the scene's exit status.
define in_podman_sandbox
	rc=0; $(1) || rc=$$?; ./podman-patch/podman-env --teardown >/dev/null 2>&1 || true; exit $$rc
endef

check-podman: netavark podman-images | deps-netavark deps-podman deps-rootless
	$(call in_podman_sandbox,./tests/podman/smoke.sh && ./tests/podman/e2e.sh && ./tests/podman/demo.sh)
	CACHE=$(CACHE) ./tests/podman/upstream-suites.sh e2e bats stock
	./tests/podman/no-leak.sh
	bats tests/podman/fail-closed.bats
	./tests/podman/man-pages.sh
	$(MAKE) --no-print-directory check-quadlet
	$(MAKE) --no-print-directory check-compose
	$(MAKE) --no-print-directory check-rootless
	AS_GATEWAY_ROOTFUL=1 bats tests/podman/rootless.bats

# ------------------------------------------------- netavark main (not CI)
# The series on upstream's newest netavark, which crates.io does not serve:
# UPSTREAM_GIT is a git repository of netavark (a clone, or the snapshot the
# fetch tool leaves under /work/.mirror/), UPSTREAM_REF the commit to use.
# Conflicts are resolved by netavark-patch/main-fixups/ (see the script's
# header).  Not part of `make check`: it needs that checkout.  The stock
# 2.1.0 binary is the "netavark without gateway_mode" of 650's fail-closed
# test (REBASE_MAIN_STOCK=main builds stock main instead).
UPSTREAM_GIT ?=
UPSTREAM_REF ?= main

rebase-main: $(BIN)/netavark-stock | deps-netavark
	CACHE=$(CACHE) ./tests/upstream/rebase-on-main.sh run "$(UPSTREAM_GIT)" "$(UPSTREAM_REF)"

# After rebase-main stopped at a patch and you resolved it in build/src/netavark-main.
rebase-main-record: | deps-netavark
	./tests/upstream/rebase-on-main.sh record

# ------------------------------------- common at its newest version (not CI)
# The container-libs series on the newest go.podman.io/common the Go proxy
# serves (PODMAN_COMMON_NEWEST_* in podman-patch/upstream.mk), which podman
# v6.0.2 cannot build against: git am -3 with podman-patch/newest-fixups/,
# go vet on every commit, common's libnetwork tests stock vs patched against
# our netavark (tests/upstream/rebase-common.sh explains).  Another version:
# COMMON_NEWEST=vX.Y.Z COMMON_NEWEST_H1=h1:... (its go.sum hash).
COMMON_NEWEST    ?= $(PODMAN_COMMON_NEWEST_VERSION)
COMMON_NEWEST_H1 ?=

rebase-common-newest: $(BIN)/netavark | deps-netavark deps-podman
	COMMON_NEWEST=$(COMMON_NEWEST) COMMON_NEWEST_H1=$(COMMON_NEWEST_H1) ./tests/upstream/rebase-common.sh run

# After rebase-common-newest stopped at a patch and you ported it in
# build/src/container-libs-common-newest.
rebase-common-newest-record: | deps-netavark deps-podman
	COMMON_NEWEST=$(COMMON_NEWEST) ./tests/upstream/rebase-common.sh record

# The three series as their submitter sends them: authored and signed off by
# the git identity of whoever runs it (tree.sh submit), in $(OUT)/<series>/.
OUT ?= build/outbox
submit-patches: $(TREE)/.as-gateway-stamp $(PODMAN_TREE)/.as-gateway-stamp $(COMMON_TREE)/.as-gateway-stamp | deps-netavark deps-podman
	rm -rf $(OUT)
	./netavark-patch/tree.sh submit $(TREE) $(OUT)/netavark
	./podman-patch/tree.sh submit $(COMMON_TREE) $(OUT)/container-libs
	./podman-patch/tree.sh submit $(PODMAN_TREE) $(OUT)/podman

# -------------------------------------------------------------- install
install: $(BIN)/netavark
	install -D -m 0755 $(BIN)/netavark $(DESTDIR)$(LIBEXECDIR)/netavark

clean:
	rm -rf $(BIN)

distclean:
	rm -rf build
