#!/usr/bin/env bash
# in-etc-overlay.sh CMD [ARGS]: run CMD as podman's own test suites expect a
# rootful podman machine to be, without touching the machine's /etc.
#
# Started by tests/podman/upstream-suites.sh through
#   podman-patch/podman-env --exec unshare --mount --propagation slave -- THIS
# i.e. inside the podman-env sandbox (cgroup v2 at /sys/fs/cgroup, private
# /run, catatonit as PID 1) and in a further mount namespace of its own that
# ends with CMD.  There /etc becomes an overlay whose writes go to
# $SUITES_WORK/etc-upper: the suites hard-code /etc/containers (the e2e
# suite passes --network-config-dir /etc/containers/networks; bats tests
# unset CONTAINERS_CONF_OVERRIDE and rely on podman's defaults), so this is
# where our configuration goes:
#   containers.conf  podman-patch/containers.conf (runc, cgroupfs, file
#                    locks, our helper binaries) + default_subnet_pools from
#                    our reserved range
#   storage.conf     graphroot in the state dir (the bats suite's store)
#   networks/podman.json   the default network pinned to our bridge name and
#                    subnet (the host network namespace is shared)
#   policy.json, registries.conf   podman-patch's (no registry is reachable)
# and the podman-env variables that would override them are unset.
set -euo pipefail
: "${SUITES_WORK:?}" "${SUITES_NET:?}" "${SUITES_BRIDGE_PREFIX:?}" "${SUITES_ROOT:?}"

mkdir -p "$SUITES_WORK/etc-upper" "$SUITES_WORK/etc-work"
mount -t overlay as-gateway-etc \
    -o "lowerdir=/etc,upperdir=$SUITES_WORK/etc-upper,workdir=$SUITES_WORK/etc-work" /etc
# the sandbox's resolv.conf (nameserver 127.0.0.1) was a bind mount on /etc
mount --bind /run/as-gateway-resolv.conf /etc/resolv.conf

mkdir -p /etc/containers/networks
{
    cat "$SUITES_ROOT/podman-patch/containers.conf"
    printf '\n# tests/podman/upstream-suites: auto-allocated subnets from our range\n'
    printf 'default_subnet_pools = [{"base" = "%s.128.0/18", "size" = 24}]\n' "$SUITES_NET"
} > /etc/containers/containers.conf
cat > /etc/containers/storage.conf <<CONF
[storage]
driver = "overlay"
graphroot = "$SUITES_WORK/storage"
runroot = "/run/containers/storage"
CONF
cp "$SUITES_ROOT/podman-patch/policy.json" /etc/containers/policy.json
cp "$SUITES_ROOT/podman-patch/registries.conf" /etc/containers/registries.conf
cat > /etc/containers/networks/podman.json <<JSON
{"name": "podman", "id": "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9",
 "driver": "bridge", "network_interface": "${SUITES_BRIDGE_PREFIX}p0",
 "created": "2026-01-01T00:00:00Z",
 "subnets": [{"subnet": "$SUITES_NET.0.0/24", "gateway": "$SUITES_NET.0.1"}],
 "ipv6_enabled": false, "internal": false, "dns_enabled": false,
 "ipam_options": {"driver": "host-local"}}
JSON
unset CONTAINERS_CONF CONTAINERS_CONF_OVERRIDE CONTAINERS_STORAGE_CONF \
      CONTAINERS_REGISTRIES_CONF CONTAINERS_POLICY_JSON
# CONTAINERS_HELPER_BINARY_DIR stays: the state dir's netavark/aardvark-dns
exec "$@"
