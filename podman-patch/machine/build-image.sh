#!/usr/bin/env bash
# build-image.sh: build the derived machine-os image (Containerfile in the
# context) from a machine-os pinned by digest.
#
#   build-image.sh --digest sha256:<64 hex> [options] [CONTEXT]
#   build-image.sh --machine-os REPO@sha256:<64 hex> [options] [CONTEXT]
#
#   CONTEXT            made by context.sh (default: this script's directory
#                      when it holds src/, else build/machine/context)
#   --digest D         quay.io/podman/machine-os@D (--repo to change the repository)
#   --machine-os REF   the full reference; it must end in @sha256:<64 hex>.
#                      A tag alone is refused: the base of a machine's OS must
#                      not change under the same command.
#   --binaries prebuilt|fedora   (default prebuilt, see the Containerfile)
#   --builder IMAGE    the Fedora builder for --binaries fedora (default: the
#                      machine-os's own release, read from its os-release:
#                      registry.fedoraproject.org/fedora:<VERSION_ID>)
#   --tag NAME         default localhost/as-gateway-machine-os:<podman version>
#   --dry-run          print the podman commands, run nothing
#
# PODMAN (environment) is the podman command to build with, split on spaces,
# default `podman`: on a macOS or Windows host that is the remote client, and
# the build runs in the machine (PODMAN="podman --connection NAME-root" for
# root's storage, where `podman machine os apply` finds it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
read -ra podman <<<"${PODMAN:-podman}"
repo=quay.io/podman/machine-os digest= machine_os= binaries=prebuilt builder= tag= dry=0 ctx=
while [ $# -gt 0 ]; do
    case $1 in
        --digest) digest=$2; shift 2 ;;
        --repo) repo=$2; shift 2 ;;
        --machine-os) machine_os=$2; shift 2 ;;
        --binaries) binaries=$2; shift 2 ;;
        --builder) builder=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build-image.sh: unknown option $1" >&2; exit 2 ;;
        *) ctx=$1; shift ;;
    esac
done
die() { printf 'build-image.sh: %s\n' "$*" >&2; exit 1; }

if [ -n "$digest" ]; then
    [ -z "$machine_os" ] || die "--digest and --machine-os: give one"
    machine_os=$repo@$digest
fi
[ -n "$machine_os" ] || die "no machine-os: --digest sha256:<64 hex> (of $repo) or --machine-os REF@sha256:<64 hex>"
[[ $machine_os =~ @sha256:[0-9a-f]{64}$ ]] \
    || die "machine-os '$machine_os' is not pinned by digest (want NAME@sha256:<64 lowercase hex digits>); find it with: skopeo inspect --format '{{.Digest}}' docker://$repo:<podman version>"
case $binaries in prebuilt|fedora) ;; *) die "--binaries prebuilt|fedora" ;; esac

if [ -z "$ctx" ]; then
    if [ -d "$here/src" ]; then ctx=$here; else ctx=$(cd "$here/../.." && pwd)/build/machine/context; fi
fi
[ -f "$ctx/Containerfile" ] && [ -f "$ctx/src/COMMITS" ] || die "$ctx is not a context: run podman-patch/machine/context.sh"
if [ "$binaries" = prebuilt ]; then
    [ -x "$ctx/bin/podman" ] && [ -x "$ctx/bin/netavark" ] \
        || die "$ctx/bin has no binaries: context.sh --bin DIR or --build, or use --binaries fedora"
fi

run() {
    printf '+ %s\n' "$*" >&2
    [ $dry = 1 ] || "$@"
}

if [ -z "$tag" ]; then
    version=$(sed -n 's/^const RawVersion = "\(.*\)"/\1/p' "$ctx/src/podman/version/rawversion/version.go" 2>/dev/null || true)
    tag=localhost/as-gateway-machine-os:${version:-latest}
fi

args=(build --pull=missing -f "$ctx/Containerfile"
      --build-arg "MACHINE_OS=$machine_os" --build-arg "BINARIES=$binaries")
if [ "$binaries" = fedora ]; then
    if [ -z "$builder" ]; then
        # the Fedora release of the machine-os: the builder must match it
        run "${podman[@]}" pull "$machine_os"
        if [ $dry = 1 ]; then
            builder='registry.fedoraproject.org/fedora:<VERSION_ID of the machine-os>'
        else
            osr=$("${podman[@]}" run --rm --network none --entrypoint cat "$machine_os" /usr/lib/os-release)
            id=$(sed -n 's/^ID=//p' <<<"$osr" | tr -d '"')
            ver=$(sed -n 's/^VERSION_ID=//p' <<<"$osr" | tr -d '"')
            [ "$id" = fedora ] && [ -n "$ver" ] || die "$machine_os is not Fedora ($id $ver): give --builder"
            builder=registry.fedoraproject.org/fedora:$ver
            echo "build-image.sh: the machine-os is Fedora $ver; builder $builder (pin it: --builder ...@sha256:...)" >&2
        fi
    fi
    args+=(--build-arg "BUILDER=$builder")
else
    # no RUN needs a network in this case: build without one
    args+=(--network none)
fi
args+=(-t "$tag" "$ctx")
run "${podman[@]}" "${args[@]}"
echo "build-image.sh: built $tag from $machine_os ($binaries binaries)" >&2
