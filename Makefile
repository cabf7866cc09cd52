# as-gateway: a rebasable patch series for netavark, plus the harness that
# tests it.  `make help` lists the targets.
#
# Third-party source is never committed.  `make netavark` fetches the pinned
# crate from crates.io, unpacks it into build/src/ (ignored by git), commits
# it pristine, applies patches/netavark/ with `git am`, and builds.

include netavark-patch/upstream.mk

SHELL       := /bin/bash
DESTDIR     ?=
PREFIX      ?= /usr/local
LIBEXECDIR  ?= $(PREFIX)/libexec/podman
# A build cache outside the clone: it only speeds things up.
CACHE       ?= $(HOME)/.cache/as-gateway
NETAVARK_TARGET_DIR ?= $(CACHE)/netavark-target
HARNESS_TARGET_DIR  ?= $(CACHE)/harness-target
CARGO       ?= cargo

TREE        := build/src/netavark
STOCK_TREE  := build/src/netavark-stock
BIN         := build/bin
SERIES      := patches/netavark
SERIES_FILES := $(SERIES)/series $(wildcard $(SERIES)/*.patch)
NETAVARK_BINS := netavark netavark-connection-tester netavark-dhcp-proxy-client

.PHONY: all help deps netavark refresh-patches reset-netavark harness check \
        check-series check-style check-harness check-upstream bench demo \
        install clean distclean

all: netavark harness

help:
	@echo "make deps             install the Debian packages the build and tests need"
	@echo "make netavark         fetch netavark $(NETAVARK_VERSION), apply the series, build"
	@echo "                      $(BIN)/netavark (patched) and $(BIN)/netavark-stock"
	@echo "make refresh-patches  regenerate $(SERIES)/ from the commits in $(TREE)"
	@echo "make reset-netavark   throw $(TREE) away and rebuild it from $(SERIES)/"
	@echo "make check            every test: series, style, harness scenarios,"
	@echo "                      upstream suites stock vs patched"
	@echo "make bench            setup-time ratios, patched vs stock, in one run"
	@echo "make demo             a SENTRY/BOTTLE topology in namespaces, narrated"
	@echo "make install DESTDIR= install the patched netavark"

# ---------------------------------------------------------------- setup
deps:
	./tests/install-deps.sh

# ---------------------------------------------------------------- trees
$(STOCK_TREE)/.as-gateway-stamp:
	rm -rf $(STOCK_TREE)
	./netavark-patch/tree.sh pristine $(STOCK_TREE)
	touch $@

$(TREE)/.as-gateway-stamp:
	rm -rf $(TREE)
	./netavark-patch/tree.sh pristine $(TREE)
	./netavark-patch/tree.sh apply $(TREE) $(SERIES)
	touch $@

refresh-patches: $(TREE)/.as-gateway-stamp
	./netavark-patch/tree.sh refresh $(TREE) $(SERIES)

reset-netavark:
	rm -rf $(TREE)
	$(MAKE) $(TREE)/.as-gateway-stamp

# --------------------------------------------------------------- builds
# Both trees share one cargo target dir, so dependencies build once.
define build_netavark
	@echo "==> building netavark from $(1) (release; deps cached in $(NETAVARK_TARGET_DIR))"
	cd $(1) && CARGO_TARGET_DIR=$(NETAVARK_TARGET_DIR) $(CARGO) build --release --locked --bins
	mkdir -p $(BIN)
	for b in $(NETAVARK_BINS); do install -m 0755 $(NETAVARK_TARGET_DIR)/release/$$b $(BIN)/$$b$(2); done
endef

netavark: $(BIN)/netavark $(BIN)/netavark-stock

$(BIN)/netavark-stock: $(STOCK_TREE)/.as-gateway-stamp
	$(call build_netavark,$(STOCK_TREE),-stock)

$(BIN)/netavark: $(TREE)/.as-gateway-stamp $(SERIES_FILES) FORCE
	@./netavark-patch/tree.sh status $(TREE) $(SERIES)
	$(call build_netavark,$(TREE),)

FORCE:

harness:
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) build --release --locked

# ---------------------------------------------------------------- tests
check: check-series check-style check-harness check-upstream
	@echo "==> make check: all green"

check-series: $(TREE)/.as-gateway-stamp
	./tests/series/check.sh

check-style: netavark
	./tests/style/check.sh

check-harness: netavark
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) test --release --locked -- --test-threads=1

check-upstream: netavark
	./tests/upstream/compare.sh

bench: netavark
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) run --release --locked --bin as-gateway -- bench

demo: netavark
	CARGO_TARGET_DIR=$(HARNESS_TARGET_DIR) $(CARGO) run --release --locked --bin as-gateway -- demo

# -------------------------------------------------------------- install
install: $(BIN)/netavark
	install -D -m 0755 $(BIN)/netavark $(DESTDIR)$(LIBEXECDIR)/netavark

clean:
	rm -rf $(BIN)

distclean:
	rm -rf build
