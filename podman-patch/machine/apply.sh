#!/usr/bin/env bash
# apply.sh: put the patched netavark and podman into a podman machine VM
# (Fedora CoreOS based: applehv, libkrun, qemu, hyperv; not WSL, see wsl.sh)
# with `podman machine os apply`.  Run on the host that owns the machine
# (macOS, Windows, Linux), from an unpacked context (context.sh --tar):
#
#   apply.sh --digest sha256:<64 hex> [--machine NAME] [--binaries prebuilt|fedora]
#            [--builder IMAGE] [--dry-run] [CONTEXT]
#
# Steps (each printed before it runs):
#   1. build the derived image IN the machine, as root: build-image.sh with
#      PODMAN="podman --connection NAME-root" (the remote client sends the
#      context; the machine pulls quay.io/podman/machine-os@DIGEST and, for
#      --binaries fedora, the Fedora builder); the image lands in root's
#      containers-storage, where bootc finds it without a storage path
#   2. podman machine os apply containers-storage:TAG NAME --restart
#      (bootc switch; the VM reboots into the derived image)
#   3. check: the machine boots the derived image (bootc status); its
#      podman is ours (`network connect --help` lists --as-gateway, a flag
#      the series adds); its netavark is ours (`network create --opt
#      gateway_mode=container` works: stock netavark refuses the option),
#      then that network is removed
# Back to stock: podman machine os apply quay.io/podman/machine-os:<version> NAME --restart
# (or podman machine ssh NAME sudo bootc rollback, then restart the machine).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
machine=podman-machine-default binaries=prebuilt builder= digest= dry=0 ctx=
while [ $# -gt 0 ]; do
    case $1 in
        --digest) digest=$2; shift 2 ;;
        --machine) machine=$2; shift 2 ;;
        --binaries) binaries=$2; shift 2 ;;
        --builder) builder=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "apply.sh: unknown option $1" >&2; exit 2 ;;
        *) ctx=$1; shift ;;
    esac
done
[ -n "$digest" ] || { echo "apply.sh: --digest sha256:<64 hex> of quay.io/podman/machine-os is required" >&2; exit 2; }
if [ -z "$ctx" ]; then
    if [ -d "$here/src" ]; then ctx=$here; else ctx=$(cd "$here/../.." && pwd)/build/machine/context; fi
fi
run() {
    printf '+ %s\n' "$*" >&2
    [ $dry = 1 ] || "$@"
}

version=$(sed -n 's/^const RawVersion = "\(.*\)"/\1/p' "$ctx/src/podman/version/rawversion/version.go")
tag=localhost/as-gateway-machine-os:$version
conn=$machine-root

# 1. build in the machine, as root
bargs=(--digest "$digest" --binaries "$binaries" --tag "$tag")
[ -z "$builder" ] || bargs+=(--builder "$builder")
[ $dry = 0 ] || bargs+=(--dry-run)
PODMAN="podman --connection $conn" "$ctx/build-image.sh" "${bargs[@]}" "$ctx"
if [ $dry = 0 ]; then
    podman --connection "$conn" image exists "$tag" || { echo "apply.sh: $tag was not built in $machine" >&2; exit 1; }
fi

# 2. rebase the machine's OS onto it
run podman machine os apply "containers-storage:$tag" "$machine" --restart

# 3. check
run podman machine ssh "$machine" "sudo bootc status; podman --version; /usr/libexec/podman/netavark version"
run podman machine ssh "$machine" "podman network connect --help | grep -e --as-gateway"
run podman --connection "$conn" network create --opt gateway_mode=container --subnet 10.250.250.0/24 as-gateway-check
run podman --connection "$conn" network inspect --format '{{.Options}}' as-gateway-check
run podman --connection "$conn" network rm as-gateway-check
