# podman-compose-patch/compose.mk: the compose front ends (issue 10, section 3)
# and their test.  Included by the top-level Makefile after
# podman-patch/podman.mk, whose variables it reuses.  Targets:
#
#   make podman-compose    build/src/podman-compose: the pinned sdist from PyPI
#                          (pip download, sha256 in upstream.mk), committed
#                          pristine, patches/podman-compose/ applied with git am
#   make refresh-podman-compose-patches   the tree's commits back to patches/
#   make reset-podman-compose             rebuild the tree from patches/
#   make docker-compose    $(BIN)/docker-compose: docker compose, built from
#                          the Go module proxy (module and h1 pinned below)
#   make check-compose     podman-compose's unit tests (its tests/unit, ours
#                          included), then tests/podman/compose.bats: the
#                          compose file tests/podman/compose/compose.yaml run
#                          with both front ends against real containers
#
# podman-compose runs with Debian's /usr/bin/python3 and Debian's PyYAML and
# python-dotenv (podman-compose-patch/install-deps.sh), straight from the
# tree (python3 build/src/podman-compose/podman_compose.py), never installed.

PODMAN_COMPOSE_TREE   := build/src/podman-compose
PODMAN_COMPOSE_SERIES := patches/podman-compose
PODMAN_COMPOSE_SERIES_FILES := $(PODMAN_COMPOSE_SERIES)/series $(wildcard $(PODMAN_COMPOSE_SERIES)/*.patch)
COMPOSE_PYTHON ?= /usr/bin/python3

# docker compose v2.33.1 (the version issue 10 names); `go mod download -json
# MODULE@VERSION` prints the Sum (sum.golang.org has the same).  Bumping:
# change VERSION and H1.
DOCKER_COMPOSE_MODULE  := github.com/docker/compose/v2
DOCKER_COMPOSE_VERSION := v2.33.1
DOCKER_COMPOSE_H1      := h1:i/V1gUpdbc4tMRfx30aYzw7oHKM8NGB2Oe4AUJUospw=

.PHONY: deps-compose podman-compose refresh-podman-compose-patches reset-podman-compose \
        docker-compose check-compose

deps-compose:
	@./podman-compose-patch/install-deps.sh

podman-compose: $(PODMAN_COMPOSE_TREE)/.as-gateway-stamp

$(PODMAN_COMPOSE_TREE)/.as-gateway-stamp: | deps-netavark deps-compose
	$(call refuse_unstamped,$(PODMAN_COMPOSE_TREE),reset-podman-compose)
	PYTHON=$(COMPOSE_PYTHON) ./podman-compose-patch/tree.sh pristine $(PODMAN_COMPOSE_TREE)
	./podman-compose-patch/tree.sh apply $(PODMAN_COMPOSE_TREE) $(PODMAN_COMPOSE_SERIES)
	touch $@

refresh-podman-compose-patches: $(PODMAN_COMPOSE_TREE)/.as-gateway-stamp | deps-netavark deps-compose
	./podman-compose-patch/tree.sh refresh $(PODMAN_COMPOSE_TREE) $(PODMAN_COMPOSE_SERIES)

reset-podman-compose:
	rm -rf $(PODMAN_COMPOSE_TREE)
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) $(PODMAN_COMPOSE_TREE)/.as-gateway-stamp

docker-compose: $(BIN)/docker-compose

# go install MODULE/cmd@VERSION checks the module against sum.golang.org; the
# pin is checked first with go mod download (outside any module of ours).
$(BIN)/docker-compose: podman-compose-patch/compose.mk | deps-podman
	@echo "==> building docker compose $(DOCKER_COMPOSE_VERSION) from the Go module proxy"
	sum=$$(cd /tmp && GOWORK=off GOFLAGS=-mod=mod $(GO) mod download -json $(DOCKER_COMPOSE_MODULE)@$(DOCKER_COMPOSE_VERSION) \
		| sed -n 's/^\t"Sum": "\(.*\)",$$/\1/p'); \
		[ "$$sum" = "$(DOCKER_COMPOSE_H1)" ] \
		|| { echo "$(DOCKER_COMPOSE_MODULE)@$(DOCKER_COMPOSE_VERSION) has Sum '$$sum', pinned $(DOCKER_COMPOSE_H1)" >&2; exit 1; }
	rm -rf $(CACHE)/docker-compose-bin
	cd /tmp && GOWORK=off GOBIN=$(CACHE)/docker-compose-bin nice $(GO) install \
		-ldflags "-X $(DOCKER_COMPOSE_MODULE)/internal.Version=$(DOCKER_COMPOSE_VERSION)" \
		$(DOCKER_COMPOSE_MODULE)/cmd@$(DOCKER_COMPOSE_VERSION)
	mkdir -p $(BIN)
	install -m 0755 $(CACHE)/docker-compose-bin/cmd $@

# bats builds the test images in its own podman state dir (tests/podman/images.sh)
check-compose: netavark podman $(BIN)/docker-compose $(PODMAN_COMPOSE_TREE)/.as-gateway-stamp \
               $(PODMAN_COMPOSE_SERIES_FILES) | deps-netavark deps-podman deps-compose
	@./podman-compose-patch/tree.sh status $(PODMAN_COMPOSE_TREE) $(PODMAN_COMPOSE_SERIES)
	cd $(PODMAN_COMPOSE_TREE) && PYTHONDONTWRITEBYTECODE=1 $(COMPOSE_PYTHON) -m unittest discover -s tests/unit
	COMPOSE_PYTHON=$(COMPOSE_PYTHON) COMPOSE_FRONTEND=podman-compose bats tests/podman/compose.bats
	COMPOSE_PYTHON=$(COMPOSE_PYTHON) COMPOSE_FRONTEND=docker-compose bats tests/podman/compose.bats
