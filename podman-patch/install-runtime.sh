#!/usr/bin/env bash
# Install what `make podman` (build), podman-patch/podman-env (runtime) and
# the podman-side tests need on a fresh Debian 12 machine, and say why each
# piece is there (`make deps-podman`: an order-only prerequisite of every make
# target that uses these).  Idempotent and silent when everything is present.
# The podman tests install the few extra packages only they use themselves
# (nftables, dnsmasq-base, socat, bats, curl, ...).
#
# All from Debian bookworm.  Newer suites were checked and are not needed:
#   conmon  bookworm has 2.1.6; podman 6's RPM spec asks for >= 2.1.7, but
#           2.1.6 runs podman 6.0.2 here (tests/podman/smoke.sh).  trixie's
#           2.1.12 needs libc6 >= 2.38 and libglib2.0-0t64: not installable
#           on bookworm without pulling trixie's libc.
#   runc    bookworm has 1.1.5, trixie 1.1.15 (libc6 >= 2.38 too).
#   aardvark-dns  bookworm's 1.4.0 predates the config format netavark 2.1
#           writes; DNS-enabled networks use aardvark-dns 2.1.0 built from
#           crates.io by tests/upstream/compare.sh (see podman-patch/README.md).
# Not needed: crun (fails here: "cgroups in hybrid mode not supported"),
# fuse-overlayfs (root uses the kernel's overlay), slirp4netns/passt (rootless
# only), containers-common (we ship our own containers.conf, registries.conf,
# policy.json), Debian's podman/netavark (ours are built from source).
set -euo pipefail
# shellcheck source=/dev/null
. "$(dirname "$0")/../tests/debian-packages.sh"

# package: reason
packages=(
    "gcc:cgo: the seccomp and libsqlite3 build tags link C libraries"
    "pkg-config:cgo: libseccomp-golang finds libseccomp with pkg-config"
    "libseccomp-dev:build tag seccomp: podman generates the default seccomp profile"
    "libsqlite3-dev:build tag libsqlite3: podman 6's database is SQLite; link Debian's"
    "git:podman-patch/tree.sh keeps the upstream trees as git work trees (git am)"
    "xxd:podman-patch/tree.sh recomputes the go.sum h1: hash of each copied module"
    "runc:the OCI runtime (crun fails on this kernel's hybrid cgroups)"
    "conmon:podman's container monitor"
    "catatonit:PID 1 of podman-env's sandbox (reaps conmon; PID 1 here does not) and --init"
    "util-linux:podman-env's sandbox: unshare, nsenter, setsid, findmnt"
    "iproute2:the smoke test checks bridges with 'ip link'"
    "python3:tests/container-libs/compare.sh reads go test's JSON; podman e2e probes (tcp-resume.py) run it in a BOTTLE's netns"
)

install_debian_packages "podman build and runtime" "${packages[@]}"

# Go: podman 6 needs Go >= 1.25 (bookworm's golang is 1.19; trixie's 1.24).
command -v go >/dev/null || { echo "missing go: podman 6 needs Go >= 1.25" >&2; exit 1; }
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [ "$go_minor" -lt 25 ]; then
    echo "podman 6 needs Go >= 1.25; found $(go env GOVERSION)" >&2
    exit 1
fi
