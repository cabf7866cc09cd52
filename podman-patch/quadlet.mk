# podman-patch/quadlet.mk: podman's Quadlet generator from the patched tree,
# and the Quadlet test.  Included by the top-level Makefile after
# podman-patch/podman.mk, whose variables it reuses.  Targets:
#
#   make quadlet         build $(BIN)/quadlet from $(PODMAN_TREE) (./cmd/quadlet)
#                        with the modfile and tags of $(BIN)/podman
#   make check-quadlet   tests/podman/quadlet.bats: the generator's output
#                        for tests/podman/quadlet/*.{network,container} (dry
#                        run), then the generated commands run for real in the
#                        podman sandbox (no systemd here), checked with traffic
#
# Quadlet lives in the podman module (pkg/systemd/quadlet); the podman series
# adds nothing to it (Network=NET:as_gateway=true is passed through like any
# per-network option), but it must be the same tree and the same
# go.podman.io/common as the podman it generates commands for.

.PHONY: quadlet check-quadlet

quadlet: $(BIN)/quadlet

# $(BIN)/podman writes $(PODMAN_MODFILE_DIR)/go.mod (podman's go.mod + the
# replace of common by $(COMMON_TREE)) and checks both trees against their
# series; the same modfile and tags here, so quadlet and podman are one build.
# The upstream rpm builds quadlet with podman's tags too.  FORCE: go decides
# what is stale.
$(BIN)/quadlet: $(BIN)/podman FORCE | deps-podman
	@echo "==> building quadlet from $(PODMAN_TREE) (./cmd/quadlet, modfile $(PODMAN_MODFILE_DIR))"
	cd $(PODMAN_TREE) && GOWORK=off CGO_ENABLED=1 nice $(GO) build \
		-modfile=$(abspath $(PODMAN_MODFILE_DIR))/go.mod -mod=readonly -trimpath -buildvcs=false \
		-tags "$(PODMAN_BUILDTAGS)" \
		-o $(abspath $(BIN))/quadlet ./cmd/quadlet
	@git -C $(PODMAN_TREE) status --porcelain | grep -v '^?? .as-gateway-stamp$$' | grep . \
		&& { echo "quadlet.mk: the build left $(PODMAN_TREE) dirty" >&2; exit 1; } || true

# bats builds the test images in its own podman state dir (tests/podman/images.sh)
check-quadlet: netavark $(BIN)/quadlet | deps-netavark deps-podman
	bats tests/podman/quadlet.bats
