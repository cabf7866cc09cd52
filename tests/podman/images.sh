#!/usr/bin/env bash
# Build the local test images for the as-gateway podman; no registry needed.
#
#   bottle   busybox from Debian's busybox-static package: /bin/busybox plus a
#            symlink per applet (sh, ip, ping, nslookup, nc, udhcpc, ...), a
#            root-only /etc/passwd and /etc/group.  An unmodified, unprivileged
#            "stock image" for the BOTTLE role.
#
# The .deb comes from Debian with `apt-get download` (checked by apt against
# the signed archive index) into $CACHE/debs; the rootfs is a reproducible tar
# (sorted, fixed owner and mtime) imported with `podman import`.  Idempotent:
# an existing image whose label matches the busybox version is kept; set
# REBUILD=1 to rebuild.
#
# Knobs: CACHE (default ~/.cache/as-gateway), PODMAN_ENV (default
# podman-patch/podman-env, i.e. build/bin/podman with our config and state).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CACHE:-$HOME/.cache/as-gateway}
PODMAN_ENV=${PODMAN_ENV:-$root/podman-patch/podman-env}
say() { printf '==> %s\n' "$*" >&2; }

build_bottle() {
    local version label have tmp deb
    version=$(apt-cache policy busybox-static | sed -n 's/^ *Candidate: //p')
    [ -n "$version" ] && [ "$version" != "(none)" ] \
        || { apt-get update -qq; version=$(apt-cache policy busybox-static | sed -n 's/^ *Candidate: //p'); }
    label="busybox-static=$version"
    have=$("$PODMAN_ENV" image inspect --format '{{ index .Labels "org.as-gateway.source" }}' bottle 2>/dev/null || true)
    if [ "$have" = "$label" ] && [ -z "${REBUILD:-}" ]; then
        say "image bottle is up to date ($label)"
        return 0
    fi
    mkdir -p "$CACHE/debs"
    deb=$(ls "$CACHE"/debs/busybox-static_"${version//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        say "downloading busybox-static $version from Debian (apt-get download)"
        (cd "$CACHE/debs" && apt-get download -q "busybox-static=$version" >&2)
        deb=$(ls "$CACHE"/debs/busybox-static_"${version//:/%3a}"_*.deb | head -n1)
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    mkdir "$tmp/rootfs"
    dpkg-deb -x "$deb" "$tmp/rootfs"
    (
        cd "$tmp/rootfs"
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
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        -C "$tmp/rootfs" -cf "$tmp/bottle.tar" .
    say "importing bottle ($label, $(du -h "$tmp/bottle.tar" | cut -f1) rootfs)"
    "$PODMAN_ENV" import --quiet \
        --change 'CMD ["/bin/sh"]' \
        --change "LABEL org.as-gateway.source=$label" \
        --message "busybox rootfs from Debian $label" \
        "$tmp/bottle.tar" localhost/bottle:latest >/dev/null
    "$PODMAN_ENV" image ls --filter reference=localhost/bottle >&2
}

build_bottle
