#!/usr/bin/env bash
# build.sh: build the patched netavark and podman from a machine context's
# src/ (podman-patch/machine/context.sh), for a podman machine VM.  The same
# script runs in three places:
#   * the Fedora builder stage of podman-patch/machine/Containerfile
#     (BINARIES=fedora): the robust path, the binaries are linked against the
#     libraries of the Fedora release the machine-os is built on;
#   * inside a WSL machine (podman-patch/machine/wsl.sh), which is Fedora;
#   * on any Linux build host whose glibc is not newer than the VM's
#     (context.sh --build), for BINARIES=prebuilt.
#
#   build.sh [--deps dnf|apt|none] [--out DIR] SRC
#
#   SRC    the context's src/: netavark/, podman/, container-libs-common/
#          (git archives of build/src/*) and COMMITS
#   --out  where netavark, podman and BUILD-INFO go (default SRC/../out)
#   --deps install the build dependencies first: dnf (Fedora: the builder
#          stage, WSL), apt (Debian: C libraries only, Go >= 1.25 and Rust >=
#          1.88 must be there already, bookworm's are too old), none (default)
#
# podman's build tags are those of Fedora's podman.spec as far as the VM's
# behaviour goes:
#   seccomp systemd libsqlite3 grpcnotrace   as Fedora (systemd: journald log
#                                            driver and events, the machine-os
#                                            default; needs libsystemd)
#   exclude_graphdriver_btrfs                the machine uses overlay
#   containers_image_openpgp                 pure-Go signature checks; Fedora
#                                            uses sequoia (an extra runtime
#                                            library, podman-sequoia)
# Left out: libsubid.  Its soname differs between distributions (Debian 12
# libsubid.so.4, Fedora 4x libsubid.so.5), so a binary built with it on one
# does not start on the other; without it podman reads /etc/subuid and
# /etc/subgid itself, which is what a machine-os VM has.
#
# Runtime libraries the binaries then need in the VM: glibc (the build
# host's glibc or older: binaries carry versioned glibc symbols), and
# libseccomp.so.2, libsqlite3.so.0 (linked), libsystemd.so.0 (opened with
# dlopen for journald; the build needs its headers): stable sonames, all in
# Fedora CoreOS.  netavark needs glibc, libgcc_s, libm.  protoc is a build
# dependency of netavark (its DHCP proxy's protobufs).
set -euo pipefail

deps=none out=
while [ $# -gt 0 ]; do
    case $1 in
        --deps) deps=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# = 1 ] || { echo "usage: build.sh [--deps dnf|apt|none] [--out DIR] SRC" >&2; exit 2; }
src=$(cd "$1" && pwd)
out=${out:-$src/../out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
for d in netavark podman container-libs-common; do
    [ -d "$src/$d" ] || { echo "build.sh: $src/$d missing (make the context with context.sh)" >&2; exit 1; }
done

TAGS=${BUILD_TAGS:-seccomp systemd libsqlite3 grpcnotrace exclude_graphdriver_btrfs containers_image_openpgp}
say() { printf '==> %s\n' "$*" >&2; }

case $deps in
    dnf)
        say "installing the build dependencies with dnf"
        dnf install -y --setopt=install_weak_deps=False \
            golang cargo rust protobuf-compiler gcc pkgconf-pkg-config \
            libseccomp-devel sqlite-devel systemd-devel
        ;;
    apt)
        say "installing the C build dependencies with apt-get (Go and Rust must be there already)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            gcc pkg-config protobuf-compiler libseccomp-dev libsqlite3-dev libsystemd-dev >/dev/null
        ;;
    none) ;;
    *) echo "build.sh: --deps dnf|apt|none" >&2; exit 2 ;;
esac

# Go: the upstream proxy and checksum database, and a newer toolchain when the
# distribution's is older than podman's go.mod wants (Fedora's go.env sets
# GOTOOLCHAIN=local); the environment still wins.
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}
export GOSUMDB=${GOSUMDB:-sum.golang.org} GOFLAGS=${GOFLAGS:-} GOWORK=off CGO_ENABLED=1

commit_of() { sed -n "s/^$1 //p" "$src/COMMITS" 2>/dev/null | head -n1; }

# netavark: cargo with the tree's Cargo.lock.  Its build.rs records `git
# rev-parse HEAD`; src/netavark is an archive, not a repository, so keep git
# from finding one around the context (it would record that one's commit).
# The tree's commit is in BUILD-INFO.
say "building netavark from $src/netavark"
(
    cd "$src/netavark"
    export GIT_CEILING_DIRECTORIES=$src
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$src/netavark/target} cargo build --release --locked --bin netavark
)
install -m 0755 "${CARGO_TARGET_DIR:-$src/netavark/target}/release/netavark" "$out/netavark"

# podman: like podman-patch/podman.mk, the tree's go.mod plus one replace of
# go.podman.io/common by the patched container-libs, kept outside the tree
# and passed with -modfile
say "building podman from $src/podman against $src/container-libs-common (tags: $TAGS)"
modfile=$(mktemp -d)
trap 'rm -rf "$modfile"' EXIT
cp "$src/podman/go.mod" "$src/podman/go.sum" "$modfile/"
go mod edit -replace=go.podman.io/common="$src/container-libs-common" "$modfile/go.mod"
commit=$(commit_of podman)
(
    cd "$src/podman"
    go build -modfile="$modfile/go.mod" -mod=readonly -trimpath -buildvcs=false \
        -tags "$TAGS" \
        -ldflags "-X go.podman.io/podman/v6/libpod/define.gitCommit=${commit:-unknown}" \
        -o "$out/podman" ./cmd/podman
)

{
    echo "netavark $(commit_of netavark)"
    echo "podman ${commit:-unknown}"
    echo "container-libs-common $(commit_of container-libs-common)"
    echo "podman-tags $TAGS"
    echo "go $(go env GOVERSION)"
    echo "rustc $(rustc --version | cut -d' ' -f2)"
    echo "builder $(. /etc/os-release && echo "$ID $VERSION_ID")"
    echo "glibc $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)"
} > "$out/BUILD-INFO"
say "built $out/netavark and $out/podman:"
sed 's/^/    /' "$out/BUILD-INFO" >&2
