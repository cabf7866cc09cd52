#!/usr/bin/env bash
# Build the local test images for the as-gateway podman; no registry needed.
#
#   bottle   busybox from Debian's busybox-static package: /bin/busybox plus a
#            symlink per applet (sh, ip, ping, nslookup, nc, udhcpc, ...), a
#            root-only /etc/passwd and /etc/group.  An unmodified, unprivileged
#            "stock image" for the BOTTLE role.
#   sentry   the same busybox rootfs plus nft (nftables) and dnsmasq, and the
#            entrypoint /usr/local/sbin/sentry with its nftables ruleset and
#            dnsmasq configuration from tests/podman/sentry/ (read the
#            entrypoint's header for its SENTRY_* settings), and
#            sentry-forward (sentry-forward.c, compiled here with gcc against
#            the image's own libc).  Run it with --cap-add NET_ADMIN (or
#            --privileged) and no --sysctl: it turns forwarding on itself.
#
# busybox: the .deb comes from Debian with `apt-get download` (checked by apt
# against the signed archive index) into $CACHE/debs.
# nft and dnsmasq: the host's own /usr/sbin/nft and /usr/sbin/dnsmasq, from
# Debian's nftables and dnsmasq-base packages (installed with apt when
# missing), copied with exactly the shared libraries `ldd` resolves for them
# (and the dynamic loader).  Chosen over `apt-get download` + `dpkg -x` of
# each package because ldd gives the precise runtime closure (about 25
# libraries), where the package dependency closure would have to be
# resolved by hand and is far larger (libc6, libsystemd0, libgcrypt20, ...);
# the image's label records the version of every package a file came from.
#
# Each rootfs is a reproducible tar (sorted, fixed owner and mtime) imported
# with `podman import`.  Idempotent: an existing image whose label matches
# the package versions (and, for sentry, the sha256 of tests/podman/sentry/)
# is kept; set REBUILD=1 to rebuild.
#
#   tests/podman/images.sh [bottle] [sentry]     (default: both)
#
# Knobs: CACHE (default ~/.cache/as-gateway), PODMAN_ENV (default
# podman-patch/podman-env, i.e. build/bin/podman with our config and state).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CACHE:-$HOME/.cache/as-gateway}
PODMAN_ENV=${PODMAN_ENV:-$root/podman-patch/podman-env}
SENTRY_SRC=$root/tests/podman/sentry
say() { printf '==> %s\n' "$*" >&2; }

image_label() {
    "$PODMAN_ENV" image inspect --format '{{ index .Labels "org.as-gateway.source" }}' "$1" 2>/dev/null || true
}

busybox_version() {
    local version
    version=$(apt-cache policy busybox-static | sed -n 's/^ *Candidate: //p')
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
        apt-get update -qq
        version=$(apt-cache policy busybox-static | sed -n 's/^ *Candidate: //p')
    fi
    echo "$version"
}

# busybox_rootfs VERSION DIR: the busybox-static rootfs in DIR
busybox_rootfs() {
    local version=$1 dir=$2 deb
    mkdir -p "$CACHE/debs"
    deb=$(ls "$CACHE"/debs/busybox-static_"${version//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        say "downloading busybox-static $version from Debian (apt-get download)"
        (cd "$CACHE/debs" && apt-get download -q "busybox-static=$version" >&2)
        deb=$(ls "$CACHE"/debs/busybox-static_"${version//:/%3a}"_*.deb | head -n1)
    fi
    mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    (
        cd "$dir"
        rm -rf usr/share/doc
        mkdir -p etc proc sys dev tmp run root usr/bin sbin usr/sbin var
        chmod 1777 tmp
        # One symlink per applet, in /bin (busybox --list from the image's own binary).
        for a in $(./bin/busybox --list); do
            [ "$a" = busybox ] || [ -e "bin/$a" ] || ln -s busybox "bin/$a"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > etc/passwd
        printf 'root:x:0:\nnobody:x:65534:\n' > etc/group
    )
}

# import_rootfs DIR IMAGE LABEL MESSAGE [--change ...]
import_rootfs() {
    local dir=$1 image=$2 label=$3 message=$4 tar
    shift 4
    tar=$(mktemp --suffix=.tar)
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$tar" .
    say "importing $image ($label, $(du -h "$tar" | cut -f1) rootfs)"
    "$PODMAN_ENV" import --quiet "$@" \
        --change "LABEL org.as-gateway.source=\"$label\"" \
        --message "$message" "$tar" "localhost/$image:latest" >/dev/null
    rm -f "$tar"
    "$PODMAN_ENV" image ls --filter "reference=localhost/$image" >&2
}

# image_is_current NAME LABEL: NAME exists with source label LABEL (and
# REBUILD is not set); says so
image_is_current() {
    [ "$(image_label "$1")" = "$2" ] && [ -z "${REBUILD:-}" ] || return 1
    say "image $1 is up to date ($2)"
}

build_bottle() {
    local version label tmp
    version=$(busybox_version)
    label="busybox-static=$version"
    image_is_current bottle "$label" && return 0
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    busybox_rootfs "$version" "$tmp/rootfs"
    import_rootfs "$tmp/rootfs" bottle "$label" "busybox rootfs from Debian $label" \
        --change 'CMD ["/bin/sh"]'
}

# pkg_of FILE: "package=version" of the Debian package that installed FILE
pkg_of() {
    local f=$1 pkg
    pkg=$(dpkg-query -S "$f" 2>/dev/null | head -n1 | cut -d: -f1) \
        || pkg=$(dpkg-query -S "$(readlink -f "$f")" 2>/dev/null | head -n1 | cut -d: -f1) \
        || { echo "images.sh: no Debian package owns $f" >&2; return 1; }
    echo "$pkg=$(dpkg-query -W -f='${Version}' "$pkg")"
}

build_sentry() {
    local version label tmp bin lib libs pkgs srcsum
    # shellcheck source=../debian-packages.sh
    . "$root/tests/debian-packages.sh"
    install_debian_packages "sentry image" \
        "nftables:nft, the SENTRY's firewall, copied into the sentry image" \
        "dnsmasq-base:dnsmasq, the SENTRY's allowlisting resolver, copied into the sentry image" \
        "gcc:compiles sentry-forward for the sentry image" \
        "libc6-dev:C headers for sentry-forward" >&2
    version=$(busybox_version)
    srcsum=$(cd "$SENTRY_SRC" && cat sentry sentry.nft dnsmasq.conf sentry-forward.c | sha256sum | cut -c1-12)
    label="busybox-static=$version $(pkg_of /usr/sbin/nft) $(pkg_of /usr/sbin/dnsmasq) $(pkg_of /usr/bin/gcc) sentry=$srcsum"
    image_is_current sentry "$label" && return 0
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    busybox_rootfs "$version" "$tmp/rootfs"
    mkdir -p "$tmp/rootfs/usr/local/sbin"
    gcc -O2 -Wall -Wextra -Werror -ffile-prefix-map="$SENTRY_SRC"=. \
        -o "$tmp/rootfs/usr/local/sbin/sentry-forward" "$SENTRY_SRC/sentry-forward.c"
    strip "$tmp/rootfs/usr/local/sbin/sentry-forward"
    install -D -m 755 /usr/sbin/nft "$tmp/rootfs/usr/sbin/nft"
    install -D -m 755 /usr/sbin/dnsmasq "$tmp/rootfs/usr/sbin/dnsmasq"
    libs=()
    for bin in /usr/sbin/nft /usr/sbin/dnsmasq /usr/local/sbin/sentry-forward; do
        # "name => /path (addr)" and the loader's "/path (addr)"
        mapfile -t -O "${#libs[@]}" libs < <(ldd "$tmp/rootfs$bin" |
            awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
    done
    pkgs=()
    for lib in $(printf '%s\n' "${libs[@]}" | sort -u); do
        # keep the path the loader asks for (/lib64/ld-linux..., /lib/x86_64-linux-gnu/...);
        # the rootfs has no merged /usr, so each file goes where ldd found it
        install -D -m 644 "$(readlink -f "$lib")" "$tmp/rootfs$lib"
        pkgs+=("$(pkg_of "$lib")")
    done
    chmod 755 "$tmp/rootfs"/lib64/ld-linux-*.so.* 2>/dev/null || true
    install -D -m 755 "$SENTRY_SRC/sentry" "$tmp/rootfs/usr/local/sbin/sentry"
    install -D -m 644 "$SENTRY_SRC/sentry.nft" "$tmp/rootfs/etc/sentry/sentry.nft"
    install -D -m 644 "$SENTRY_SRC/dnsmasq.conf" "$tmp/rootfs/etc/sentry/dnsmasq.conf"
    # the check a broken copy would fail: every library resolves in the rootfs
    for bin in /usr/sbin/nft /usr/sbin/dnsmasq /usr/local/sbin/sentry-forward; do
        if chroot "$tmp/rootfs" /lib64/ld-linux-x86-64.so.2 --list "$bin" | grep 'not found' >&2; then
            echo "images.sh: $bin misses libraries in the sentry rootfs" >&2
            return 1
        fi
    done
    import_rootfs "$tmp/rootfs" sentry "$label" \
        "SENTRY: busybox + nft + dnsmasq; libraries from $(printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ')" \
        --change "LABEL org.as-gateway.libraries=\"$(printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')\"" \
        --change 'ENTRYPOINT ["/usr/local/sbin/sentry"]' \
        --change 'CMD []'
}

for image in "${@:-bottle sentry}"; do
    for i in $image; do
        case $i in
            bottle) build_bottle ;;
            sentry) build_sentry ;;
            *) echo "usage: $0 [bottle] [sentry]" >&2; exit 2 ;;
        esac
    done
done
