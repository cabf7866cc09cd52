#!/usr/bin/env bash
# context.sh: the build context of the derived machine-os image (and of the
# WSL route), made from this repository's patched trees, on the Linux host
# where `make netavark podman` ran.  Everything the VM side needs is in it,
# so it can be copied anywhere (a macOS or Windows host, the VM) as one tar.
#
#   podman-patch/machine/context.sh [--bin DIR | --build | --no-bin] [--tar FILE] [OUT]
#
#   OUT        default build/machine/context (replaced)
#   --bin DIR  copy DIR/netavark and DIR/podman into OUT/bin (BINARIES=prebuilt);
#              default build/bin.  Refused unless they were built from the
#              trees' HEAD commits (podman's gitCommit, netavark's `version`,
#              or DIR/BUILD-INFO from build.sh)
#   --build    build OUT/bin here with build.sh (the machine's tags) from OUT/src
#   --no-bin   no binaries: only for BINARIES=fedora (the Fedora builder stage)
#   --tar FILE also pack OUT into FILE
#
# OUT holds:
#   Containerfile, build.sh, build-image.sh, apply.sh, wsl.sh   (podman-patch/machine/)
#   src/netavark, src/podman, src/container-libs-common
#                 `git archive HEAD` of build/src/{netavark,podman,container-libs-common}:
#                 pristine upstream + our series, nothing else
#   src/COMMITS   "NAME COMMIT" of each tree
#   bin/          netavark, podman (and BUILD-INFO when build.sh made them)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/build/bin mode=copy tar= out=
while [ $# -gt 0 ]; do
    case $1 in
        --bin) bin=$2; mode=copy; shift 2 ;;
        --build) mode=build; shift ;;
        --no-bin) mode=none; shift ;;
        --tar) tar=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "context.sh: unknown option $1" >&2; exit 2 ;;
        *) out=$1; shift ;;
    esac
done
out=${out:-$root/build/machine/context}
die() { printf 'context.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

trees=(netavark podman container-libs-common)
declare -A commit
for t in "${trees[@]}"; do
    d=$root/build/src/$t
    [ -d "$d/.git" ] || die "$d missing: make netavark podman"
    dirty=$(git -C "$d" status --porcelain | grep -v '^?? .as-gateway-stamp$' || true)
    [ -z "$dirty" ] || die "$d has uncommitted changes; commit them (and make refresh-*patches) first"
    commit[$t]=$(git -C "$d" rev-parse HEAD)
done

# built_from DIR: DIR/netavark and DIR/podman were built from the trees' HEADs
built_from() {
    local dir=$1 nv
    if [ -f "$dir/BUILD-INFO" ]; then
        for t in "${trees[@]}"; do
            grep -qx "$t ${commit[$t]}" "$dir/BUILD-INFO" \
                || die "$dir/BUILD-INFO: $t was not built from ${commit[$t]} (build/src/$t HEAD)"
        done
        return 0
    fi
    # make podman sets define.gitCommit to the tree's HEAD; netavark's build.rs
    # records the tree's HEAD
    grep -qaF "${commit[podman]}" "$dir/podman" \
        || die "$dir/podman was not built from build/src/podman HEAD ${commit[podman]}: make podman"
    nv=$("$dir/netavark" version | sed -n 's/.*"commit": *"\([0-9a-f]*\)".*/\1/p')
    [ "$nv" = "${commit[netavark]}" ] \
        || die "$dir/netavark was built from ${nv:-an unknown commit}, not build/src/netavark HEAD ${commit[netavark]}: make netavark"
}

rm -rf "$out"
mkdir -p "$out/src" "$out/bin"
out=$(cd "$out" && pwd)
install -m 0644 "$here/Containerfile" "$out/Containerfile"
install -m 0755 "$here/build.sh" "$here/build-image.sh" "$here/apply.sh" "$here/wsl.sh" "$out/"
for t in "${trees[@]}"; do
    mkdir "$out/src/$t"
    # -m: extraction time as mtime, so cargo (which trusts mtimes) rebuilds
    # netavark from these files, never from an older extraction's
    git -C "$root/build/src/$t" archive --format=tar HEAD | tar -x -m -C "$out/src/$t"
    echo "$t ${commit[$t]}" >> "$out/src/COMMITS"
done
say "sources: $(tr '\n' ' ' < "$out/src/COMMITS")"

case $mode in
    copy)
        for b in netavark podman; do [ -x "$bin/$b" ] || die "$bin/$b missing: make netavark podman"; done
        built_from "$bin"
        install -m 0755 "$bin/netavark" "$bin/podman" "$out/bin/"
        [ ! -f "$bin/BUILD-INFO" ] || install -m 0644 "$bin/BUILD-INFO" "$out/bin/"
        say "binaries from $bin"
        ;;
    build)
        # on Debian (this repository's build host): the C headers build.sh's
        # tags need, with the repository's installer (silent when present)
        if [ -r "$root/tests/debian-packages.sh" ] && command -v dpkg-query >/dev/null; then
            # shellcheck source=../../tests/debian-packages.sh
            . "$root/tests/debian-packages.sh"
            install_debian_packages "machine context" \
                "libsystemd-dev:podman's systemd build tag (journald), as the machine-os's podman" \
                "protobuf-compiler:netavark's build.rs" \
                "libseccomp-dev:podman's seccomp build tag" "libsqlite3-dev:podman's libsqlite3 build tag" >&2
        fi
        # cargo's target dir outside the context (it is not part of it), one
        # per context path: cargo gives a path package the same unit hash
        # wherever it lives, so a shared one could hand this context a
        # netavark built from another context's sources
        CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${CACHE:-$HOME/.cache/as-gateway}/machine-netavark-target/$(printf %s "$out" | sha256sum | cut -c1-16)} \
            "$out/build.sh" --out "$out/bin" "$out/src"
        ;;
    none) say "no binaries (BINARIES=fedora)" ;;
esac

if [ -n "$tar" ]; then
    tar --sort=name --owner=0 --group=0 --numeric-owner -C "$out" -cf "$tar" .
    say "packed $out into $tar ($(du -h "$tar" | cut -f1))"
fi
say "context: $out"
