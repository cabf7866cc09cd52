# podman-patch/podman.mk: the podman side of as-gateway.  Included by the
# top-level Makefile (`include podman-patch/podman.mk`); it only relies on
# BIN (default build/bin).  Targets:
#
#   make podman                  fetch podman $(PODMAN_VERSION) and container-libs
#                                common $(PODMAN_COMMON_VERSION), apply
#                                patches/podman/ and patches/container-libs/,
#                                build $(BIN)/podman against the patched common
#   make refresh-podman-patches  write both trees' commits back to patches/
#   make reset-podman            throw both trees away, rebuild them from patches/
#   make deps-podman             install Go's cgo libraries, runc, conmon, ...
#                                (podman-patch/install-runtime.sh); every target
#                                here that uses them has it as an order-only
#                                prerequisite (make podman-runtime: the same)
#   make podman-images           build the local test images (tests/podman/images.sh)
#   make check-podman-smoke      run real containers on a netavark network
#
# Third-party source is never committed: podman-patch/tree.sh copies the
# pinned modules out of the Go module cache into build/src/ (git-ignored),
# commits them pristine (tag "upstream") and applies the series with git am.

include podman-patch/upstream.mk

BIN                 ?= build/bin
PODMAN_TREE         := build/src/podman
COMMON_TREE         := build/src/container-libs-common
PODMAN_SERIES       := patches/podman
COMMON_SERIES       := patches/container-libs
PODMAN_SERIES_FILES := $(PODMAN_SERIES)/series $(wildcard $(PODMAN_SERIES)/*.patch)
COMMON_SERIES_FILES := $(COMMON_SERIES)/series $(wildcard $(COMMON_SERIES)/*.patch)
# The build's go.mod: podman's own go.mod plus one line,
#   replace go.podman.io/common => <abs path of $(COMMON_TREE)>
# kept OUTSIDE the podman tree and passed with `go build -modfile`, so the
# tree's commits stay exactly the patches and `git status` stays clean.
PODMAN_MODFILE_DIR  := build/podman-modfile
GO                  ?= go

# Build tags.  Upstream's Makefile probes the machine (hack/*_tag.sh); we
# pin the result instead, so every machine builds the same podman:
#   grpcnotrace               upstream default: drop grpc's x/net/trace (pure Go)
#   seccomp                   upstream default on Linux: podman generates the
#                             default seccomp profile for runc.  Needs
#                             libseccomp-dev (cgo).  Kept: a BOTTLE must run
#                             under the same seccomp filter as with stock podman.
#   libsqlite3                podman 6's only database is SQLite (BoltDB was
#                             removed); link Debian's libsqlite3 instead of
#                             compiling the 9 MB amalgamation with cgo.
#                             Needs libsqlite3-dev.
#   exclude_graphdriver_btrfs no libbtrfs headers (libbtrfs-dev); we use overlay.
#   containers_image_openpgp  verify signatures with pure-Go OpenPGP instead of
#                             gpgme (libgpgme-dev); we never pull from registries.
# Left out on purpose (upstream adds them only if the C library is present):
#   systemd    needs libsystemd-dev; these machines have no systemd (journald
#              logging, sd-notify, systemd cgroup manager are not used)
#   apparmor   needs libapparmor-dev; the kernel here has no AppArmor
#   libsubid   needs libsubid-dev; only rootless podman uses subuid ranges
PODMAN_BUILDTAGS ?= grpcnotrace seccomp libsqlite3 exclude_graphdriver_btrfs containers_image_openpgp

.PHONY: podman refresh-podman-patches reset-podman deps-podman podman-runtime podman-images \
        check-podman-smoke

# ---------------------------------------------------------------- setup
# tree.sh needs git, xxd and go; the build gcc, pkg-config, libseccomp-dev and
# libsqlite3-dev; the runtime runc, conmon, catatonit.  Quick and silent when
# all are present.
deps-podman:
	@./podman-patch/install-runtime.sh

podman-runtime: deps-podman

# ---------------------------------------------------------------- trees
$(PODMAN_TREE)/.as-gateway-stamp: | deps-podman
	$(call refuse_unstamped,$(PODMAN_TREE),reset-podman)
	./podman-patch/tree.sh pristine podman $(PODMAN_TREE)
	./podman-patch/tree.sh apply $(PODMAN_TREE) $(PODMAN_SERIES)
	touch $@

$(COMMON_TREE)/.as-gateway-stamp: | deps-podman
	$(call refuse_unstamped,$(COMMON_TREE),reset-podman)
	./podman-patch/tree.sh pristine common $(COMMON_TREE)
	./podman-patch/tree.sh apply $(COMMON_TREE) $(COMMON_SERIES)
	touch $@

refresh-podman-patches: $(PODMAN_TREE)/.as-gateway-stamp $(COMMON_TREE)/.as-gateway-stamp | deps-podman
	./podman-patch/tree.sh refresh $(PODMAN_TREE) $(PODMAN_SERIES)
	./podman-patch/tree.sh refresh $(COMMON_TREE) $(COMMON_SERIES)

reset-podman:
	rm -rf $(PODMAN_TREE) $(COMMON_TREE)
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) $(PODMAN_TREE)/.as-gateway-stamp $(COMMON_TREE)/.as-gateway-stamp

# --------------------------------------------------------------- builds
# FORCE: the go command decides what is stale (build cache in GOCACHE,
# default ~/.cache/go-build, outside the clone); an up-to-date podman is
# neither recompiled nor relinked.
podman: $(BIN)/podman

$(BIN)/podman: $(PODMAN_TREE)/.as-gateway-stamp $(COMMON_TREE)/.as-gateway-stamp \
               $(PODMAN_SERIES_FILES) $(COMMON_SERIES_FILES) podman-patch/upstream.mk FORCE | deps-podman
	@./podman-patch/tree.sh status $(PODMAN_TREE) $(PODMAN_SERIES)
	@./podman-patch/tree.sh status $(COMMON_TREE) $(COMMON_SERIES)
	@echo "==> building podman from $(PODMAN_TREE) with go.podman.io/common => $(COMMON_TREE)"
	@echo "    tags: $(PODMAN_BUILDTAGS)"
	mkdir -p $(PODMAN_MODFILE_DIR) $(BIN)
	cp $(PODMAN_TREE)/go.mod $(PODMAN_TREE)/go.sum $(PODMAN_MODFILE_DIR)/
	$(GO) mod edit -replace=$(PODMAN_COMMON_MODULE)=$(abspath $(COMMON_TREE)) $(PODMAN_MODFILE_DIR)/go.mod
	cd $(PODMAN_TREE) && GOWORK=off CGO_ENABLED=1 nice $(GO) build \
		-modfile=$(abspath $(PODMAN_MODFILE_DIR))/go.mod -mod=readonly -trimpath -buildvcs=false \
		-tags "$(PODMAN_BUILDTAGS)" \
		-ldflags "-X $(PODMAN_MODULE)/libpod/define.gitCommit=$$(git rev-parse HEAD) \
		          -X $(PODMAN_MODULE)/libpod/define.buildInfo=$$(git log -1 --format=%ct)" \
		-o $(abspath $(BIN))/podman ./cmd/podman
	@git -C $(PODMAN_TREE) status --porcelain | grep -v '^?? .as-gateway-stamp$$' | grep . \
		&& { echo "podman.mk: the build left $(PODMAN_TREE) dirty" >&2; exit 1; } || true
	@$(BIN)/podman --version

# ----------------------------------------------------- runtime and tests
podman-images: podman | deps-podman
	./tests/podman/images.sh

check-podman-smoke: netavark podman | deps-netavark deps-podman
	./tests/podman/smoke.sh

FORCE:
