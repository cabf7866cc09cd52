#!/usr/bin/env bash
# Install what rootless podman needs here (make deps-rootless; an order-only
# prerequisite of make check-rootless), idempotent and quiet when all is there:
#
#   * Debian packages, each with its reason (below);
#   * pasta: Debian trixie's passt 0.0~git20250503.587980c-2+deb13u1, built
#     from its Debian source package (bookworm's 0.0~git20230309 predates
#     options podman 6 passes, e.g. --map-guest-addr).  The source comes from
#     Debian's archive through a private apt configuration (deb-src trixie,
#     under $CACHE/apt-trixie; the machine's sources are not touched), each
#     file checked against the sha256 pinned here (the same as the signed
#     Sources index), unpacked, Debian's patches applied (debian/patches/series),
#     built with plain make (C, no library deps) and installed to
#     $PASST_PREFIX (/usr/local/libexec/as-gateway/passt-$PASST_VERSION);
#   * the unprivileged test user $ROOTLESS_USER (asgw-rootless) with
#     subordinate uid/gid ranges in /etc/subuid and /etc/subgid (newuidmap and
#     newgidmap from Debian's uidmap map them).  Created once; kept.
#
#   tests/podman/rootless/install.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=../../debian-packages.sh
. "$root/tests/debian-packages.sh"
CACHE=${CACHE:-$HOME/.cache/as-gateway}
ROOTLESS_USER=${ROOTLESS_USER:-asgw-rootless}
PASST_VERSION=0.0~git20250503.587980c-2+deb13u1
PASST_UPSTREAM=0.0~git20250503.587980c
PASST_DIR=passt-2025_05_03.587980c
PASST_ORIG_SHA256=69d5eb843f7d648c2cc60bfbca6ea7b5014c6b6f07cdee362c2a8cf490515a49
PASST_DEBIAN_SHA256=f8d9fdfc1ba89e7dde48705ae68d1dfa8a40477cb85184d41194487f2902b77d
PASST_PREFIX=${PASST_PREFIX:-/usr/local/libexec/as-gateway/passt-$PASST_VERSION}

packages=(
    "uidmap:newuidmap/newgidmap: rootless podman maps the user's subordinate uid/gid ranges into its user namespace"
    "passwd:useradd for the unprivileged test user"
    "util-linux:setpriv (run podman as the test user), unshare/nsenter (the cgroup v2 sandbox)"
    "catatonit:PID 1 of the rootless sandbox (reaps conmon and pasta)"
    "gcc:builds pasta (passt) from Debian's source"
    "make:builds pasta (passt) from Debian's source"
    "patch:applies Debian's patches to passt's upstream source"
    "xz-utils:unpacks passt's .tar.xz source files"
)
install_debian_packages "rootless podman" "${packages[@]}"

# ---- pasta
if ! [ -x "$PASST_PREFIX/pasta" ] || ! grep -qx "$PASST_VERSION" "$PASST_PREFIX/VERSION" 2>/dev/null; then
    echo "==> building pasta $PASST_VERSION from Debian trixie's source package"
    apt_dir=$CACHE/apt-trixie
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/src"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        > "$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
    orig=passt_$PASST_UPSTREAM.orig.tar.xz deb=passt_$PASST_VERSION.debian.tar.xz
    if ! (cd "$apt_dir/src" && printf '%s  %s\n%s  %s\n' "$PASST_ORIG_SHA256" "$orig" "$PASST_DEBIAN_SHA256" "$deb" \
            | sha256sum --quiet -c - 2>/dev/null); then
        apt-get -qq "${apt_opts[@]}" update
        # apt-get source fetches and checks each file against the signed
        # Sources index; --download-only: dpkg-source is not needed (and the
        # .dsc itself may be missing from a mirror: the tarballs suffice)
        (cd "$apt_dir/src" && apt-get -qq "${apt_opts[@]}" source --download-only "passt=$PASST_VERSION" >/dev/null 2>&1 || true)
    fi
    (cd "$apt_dir/src" && printf '%s  %s\n%s  %s\n' "$PASST_ORIG_SHA256" "$orig" "$PASST_DEBIAN_SHA256" "$deb" | sha256sum --quiet -c -)
    b=$(mktemp -d)
    trap 'rm -rf "$b"' EXIT
    tar -C "$b" -xJf "$apt_dir/src/$orig"
    tar -C "$b/$PASST_DIR" -xJf "$apt_dir/src/$deb"
    (
        cd "$b/$PASST_DIR"
        while read -r p; do
            case $p in ''|'#'*) continue ;; esac
            patch -p1 -s < "debian/patches/$p"
        done < debian/patches/series
        # two runs: passt.avx2's target-specific -mavx2 would otherwise leak
        # into the plain passt it depends on (passt then falls back to it
        # when the CPU lacks AVX2)
        nice make -s VERSION="$PASST_VERSION" passt >/dev/null
        nice make -s VERSION="$PASST_VERSION" passt.avx2 >/dev/null
    )
    install -d "$PASST_PREFIX"
    install -m 0755 "$b/$PASST_DIR/passt" "$b/$PASST_DIR/passt.avx2" "$PASST_PREFIX/"
    ln -sfn passt "$PASST_PREFIX/pasta"
    ln -sfn passt.avx2 "$PASST_PREFIX/pasta.avx2"
    echo "$PASST_VERSION" > "$PASST_PREFIX/VERSION"
    # stdbuf: pasta --version exits without flushing a piped stdout
    echo "==> pasta: $(stdbuf -o0 "$PASST_PREFIX/pasta" --version | head -n1) in $PASST_PREFIX"
fi

# ---- the test user
if ! id "$ROOTLESS_USER" >/dev/null 2>&1; then
    echo "==> creating the unprivileged test user $ROOTLESS_USER (rootless podman)"
    useradd --create-home --shell /bin/bash --comment "as-gateway rootless podman tests" "$ROOTLESS_USER"
fi
for f in /etc/subuid /etc/subgid; do
    touch "$f"
    if ! grep -q "^$ROOTLESS_USER:" "$f"; then
        # a free 65536-wide range above every existing one (at least 400000)
        start=$(awk -F: 'BEGIN { m = 400000 } { e = $2 + $3; if (e > m) m = e } END { print m }' "$f")
        echo "$ROOTLESS_USER:$start:65536" >> "$f"
        echo "==> $f: $ROOTLESS_USER:$start:65536"
    fi
done
