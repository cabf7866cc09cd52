# podman-patch/machine/machine.mk: the patched netavark and podman for a
# podman machine VM (docs/podman-machine.md).  Included by the top-level
# Makefile after podman-patch/podman.mk.  Targets:
#
#   make machine-context   build/machine/context and build/machine/as-gateway-context.tar:
#                          the patched trees' sources, the Containerfile and
#                          scripts, and netavark + podman built for the VM
#                          (podman with the machine-os's systemd tag) by
#                          podman-patch/machine/build.sh.  Copy the tar to the
#                          host that owns the machine and follow the doc.
#   make check-machine     tests/podman/machine.bats: every step that runs
#                          without a VM, a registry or dnf

MACHINE_DIR := build/machine

.PHONY: machine-context check-machine

machine-context: netavark podman | deps-netavark deps-podman
	./podman-patch/machine/context.sh --build --tar $(MACHINE_DIR)/as-gateway-context.tar $(MACHINE_DIR)/context

check-machine: netavark podman | deps-netavark deps-podman
	bats tests/podman/machine.bats
