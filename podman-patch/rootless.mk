# podman-patch/rootless.mk: rootless podman (issue 10 §2).  Included by the
# top-level Makefile after podman-patch/podman.mk.  Targets:
#
#   make deps-rootless    tests/podman/rootless/install.sh: uidmap, pasta
#                         (Debian trixie's passt, built from its source
#                         package), the unprivileged test user asgw-rootless
#                         and its /etc/subuid, /etc/subgid ranges
#   make check-rootless   tests/podman/rootless.bats: gateway_mode=container,
#                         --as-gateway, a stock BOTTLE and the guards with
#                         podman run by the unprivileged user
#                         (podman-patch/podman-env-rootless), pasta's host
#                         side included; the same file with
#                         AS_GATEWAY_ROOTFUL=1 runs the same checks rootful

.PHONY: deps-rootless check-rootless

deps-rootless:
	@./tests/podman/rootless/install.sh

check-rootless: netavark podman | deps-netavark deps-podman deps-rootless
	bats tests/podman/rootless.bats
