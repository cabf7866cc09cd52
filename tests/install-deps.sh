#!/usr/bin/env bash
# Install what netavark's build, the harness and the netavark tests need on a
# fresh Debian 12 machine, and say why each piece is there (`make
# deps-netavark`: an order-only prerequisite of every make target that uses
# these; podman's side is podman-patch/install-runtime.sh).  Idempotent and
# silent when everything is present, so a warm machine pays nothing.
set -euo pipefail
# shellcheck source=/dev/null
. "$(dirname "$0")/debian-packages.sh"

# package: reason
packages=(
    "git:netavark-patch/tree.sh keeps the upstream tree as a git work tree (git am)"
    "protobuf-compiler:netavark's build.rs compiles its DHCP-proxy protobufs"
    "iproute2:upstream's bats tests and our shims drive 'ip'"
    "nftables:netavark's default firewall driver; tests read 'nft list ruleset'"
    "iptables:upstream bats tests for the iptables driver"
    "bats:upstream netavark's test suite and our test/650 file are bats"
    "catatonit:a subreaper, so aardvark-dns children do not stay zombies (PID 1 here does not reap)"
    "quilt:the series must apply with 'quilt push -a' as well as 'git am'"
    "jq:upstream's bats helpers parse netavark's JSON with jq"
    "tcpdump:upstream bats tests capture packets"
    "iputils-ping:reachability checks in upstream's bats tests"
    "socat:upstream bats tests use socat for port-forwarding checks"
    "ncat:upstream bats tests use ncat for port-forwarding checks"
    "dnsutils:upstream bats DNS tests query aardvark-dns with dig"
    "procps:upstream bats helpers and our checks use ps/pkill/sysctl"
    "util-linux:unshare and nsenter for the test namespaces"
    "firewalld:upstream's 200-firewalld bats tests start their own firewalld (stock and patched alike)"
    "dbus-daemon:firewalld's bus, started by upstream's bats helpers"
    "dnsmasq-base:upstream's test-dhcp suite serves DHCP with dnsmasq"
)

install_debian_packages "netavark build and tests" "${packages[@]}"

for tool in cargo rustfmt cargo-clippy; do
    command -v "$tool" >/dev/null || { echo "missing $tool: install the Rust toolchain (rustup, with rustfmt and clippy)" >&2; exit 1; }
done
rustc_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [ "$rustc_minor" -lt 88 ]; then
    echo "netavark 2.1.0 needs Rust >= 1.88; found $(rustc --version)" >&2
    exit 1
fi
