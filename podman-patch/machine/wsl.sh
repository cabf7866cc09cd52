#!/usr/bin/env bash
# wsl.sh: the patched netavark and podman in a WSL podman machine.  A WSL
# machine is not rpm-ostree based (`podman machine os apply` does not work
# there): it is a mutable Fedora, updated with dnf.  Run this as root INSIDE
# the machine, from an unpacked context (context.sh --tar):
#
#   podman machine cp as-gateway-context.tar MACHINE:/tmp/as-gateway-context.tar
#   podman machine ssh MACHINE "mkdir -p /tmp/asgw && tar -xf /tmp/as-gateway-context.tar -C /tmp/asgw"
#   podman machine ssh MACHINE sudo /tmp/asgw/wsl.sh --build /tmp/asgw
#
#   wsl.sh --build [CONTEXT]      install the build dependencies with dnf, build
#                                 from CONTEXT/src with build.sh (the VM's own
#                                 libraries: the robust path), install
#   wsl.sh --binaries DIR [CONTEXT]  install DIR/netavark and DIR/podman (e.g.
#                                 CONTEXT/bin) as they are; they must start here
#   wsl.sh --uninstall            put Fedora's binaries back, unlock the packages
#   --no-deps    skip dnf install (the dependencies are there)
#   --dry-run    print what would be run and installed, change nothing
#
# Installing: /usr/bin/podman and /usr/libexec/podman/netavark are kept once
# as podman.fedora and netavark.fedora, then replaced (install -m 0755 via a
# temporary file and a rename).  The podman and netavark packages are then
# version-locked (dnf versionlock), so `dnf upgrade` does not silently put
# the stock binaries back; unlock with --uninstall.  podman.socket (root) is
# restarted when active; restart the machine (podman machine stop, start)
# for the rootless user's service.
#
# ROOT (environment, default /) installs into another root instead; then no
# dnf, rpm or systemctl is run (the test on a non-Fedora host uses it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROOT:-/}
mode= bin= deps=1 dry=0 ctx=
while [ $# -gt 0 ]; do
    case $1 in
        --build) mode=build; shift ;;
        --binaries) mode=binaries; bin=$2; shift 2 ;;
        --uninstall) mode=uninstall; shift ;;
        --no-deps) deps=0; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "wsl.sh: unknown option $1" >&2; exit 2 ;;
        *) ctx=$1; shift ;;
    esac
done
ctx=${ctx:-$here}
[ -n "$mode" ] || { echo "usage: wsl.sh --build|--binaries DIR|--uninstall [--no-deps] [--dry-run] [CONTEXT]" >&2; exit 2; }
die() { printf 'wsl.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }
run() {
    printf '+ %s\n' "$*" >&2
    [ $dry = 1 ] || "$@"
}
[ $dry = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (sudo)"
system=0
[ "$ROOT" = / ] && system=1
r=${ROOT%/}

PODMAN_BIN=$r/usr/bin/podman
NETAVARK_BIN=$r/usr/libexec/podman/netavark

# install_one NEW DEST: keep DEST once as DEST.fedora, replace it atomically
install_one() {
    local new=$1 dest=$2
    if [ -e "$dest" ] && [ ! -e "$dest.fedora" ]; then
        run cp -a "$dest" "$dest.fedora"
    fi
    run install -D -m 0755 "$new" "$dest.as-gateway.tmp"
    run mv -f "$dest.as-gateway.tmp" "$dest"
}

restart_socket() {
    [ $system = 1 ] || { say "ROOT=$ROOT: podman.socket not restarted"; return 0; }
    if systemctl is-active --quiet podman.socket 2>/dev/null; then
        run systemctl restart podman.socket
    fi
    say "restart the machine (podman machine stop; podman machine start) so every podman service uses the new binaries"
}

lock() {  # lock add|delete
    [ $system = 1 ] || { say "ROOT=$ROOT: no dnf versionlock"; return 0; }
    if [ "$1" = add ]; then
        run dnf install -y 'dnf-command(versionlock)' || true
        run dnf versionlock add podman netavark
    else
        run dnf versionlock delete podman netavark || true
    fi
}

case $mode in
    uninstall)
        for dest in "$PODMAN_BIN" "$NETAVARK_BIN"; do
            [ -e "$dest.fedora" ] || { say "no $dest.fedora: nothing to restore"; continue; }
            run mv -f "$dest.fedora" "$dest"
        done
        lock delete
        restart_socket
        exit 0
        ;;
    build)
        [ -f "$ctx/src/COMMITS" ] || die "$ctx is not a context (context.sh)"
        if [ $deps = 1 ] && [ $system = 1 ]; then dep_arg=dnf; else dep_arg=none; fi
        run "$ctx/build.sh" --deps "$dep_arg" --out "$ctx/out" "$ctx/src"
        bin=$ctx/out
        ;;
    binaries) ;;
esac

if [ $dry = 0 ]; then
    for b in netavark podman; do [ -x "$bin/$b" ] || die "$bin/$b missing"; done
    # they must start against this machine's libraries before they replace anything
    "$bin/netavark" --version >/dev/null || die "$bin/netavark does not run here (glibc or a library missing?)"
    "$bin/podman" --version >/dev/null || die "$bin/podman does not run here (glibc or a library missing?)"
fi
install_one "$bin/netavark" "$NETAVARK_BIN"
install_one "$bin/podman" "$PODMAN_BIN"
lock add
restart_socket
say "installed: $("$PODMAN_BIN" --version 2>/dev/null || echo "$PODMAN_BIN"), $NETAVARK_BIN"
