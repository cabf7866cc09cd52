#!/usr/bin/env bash
# Manage the upstream podman and container-libs work trees that the patch
# series live on.  NAME is "podman" (module go.podman.io/podman/v6) or
# "common" (module go.podman.io/common, container-libs' common/ directory).
#
#   tree.sh fetch NAME [VERSION H1] download the pinned module with `go mod
#                                   download`, check its h1: hash, print the
#                                   module cache directory
#   tree.sh pristine NAME DIR [VERSION H1]
#                                   copy the module into DIR as a git tree whose
#                                   only commit is the untouched upstream
#                                   source, tagged "upstream"
#   tree.sh apply DIR SERIES        git am every patch of SERIES/series onto DIR
#   tree.sh refresh DIR SERIES      rewrite SERIES/*.patch and SERIES/series
#                                   from the commits upstream..HEAD of DIR
#   tree.sh status DIR SERIES       warn when DIR's commits and SERIES differ
#   tree.sh quilt-check NAME SERIES check that `quilt push -a` applies SERIES
#                                   to a fresh pristine copy
#
# Pins live in podman-patch/upstream.mk.  VERSION H1 (both or neither) take
# another version of NAME's module instead of its pin, checked against H1 the
# same way (tests/upstream/rebase-common.sh passes PODMAN_COMMON_NEWEST_*:
# common at the newest version the proxy serves).  Nothing of podman or
# container-libs is ever committed to this repository: the trees live under
# build/, which git ignores.  This mirrors netavark-patch/tree.sh; only
# "fetch" differs.
set -euo pipefail
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
pin() { sed -n "s/^$1 *:= *//p" "$here/upstream.mk"; }

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'tree.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../netavark-patch/series-lib.sh
. "$here/../netavark-patch/series-lib.sh"

# module, version and h1 hash of NAME: its pin, or VERSION H1 when given
module_of() {
    local module
    case "$1" in
        podman) module=$(pin PODMAN_MODULE) ;;
        common) module=$(pin PODMAN_COMMON_MODULE) ;;
        *) die "unknown NAME '$1' (podman or common)" ;;
    esac
    if [ -n "${2:-}${3:-}" ]; then
        [[ -n "${2:-}" && "${3:-}" == h1:* ]] || die "VERSION and H1 go together (H1 as go.sum has it, h1:...)"
        echo "$module $2 $3"
        return
    fi
    case "$1" in
        podman) echo "$module $(pin PODMAN_VERSION) $(pin PODMAN_H1)" ;;
        common) echo "$module $(pin PODMAN_COMMON_VERSION) $(pin PODMAN_COMMON_H1)" ;;
    esac
}

# Fixed identity and dates make the pristine commit, and so every
# regenerated patch, identical from one machine to the next.
pristine_env() {
    export GIT_AUTHOR_NAME="proxy.golang.org" GIT_AUTHOR_EMAIL="$1@proxy.golang.org"
    export GIT_COMMITTER_NAME="as-gateway" GIT_COMMITTER_EMAIL="as-gateway@localhost"
    export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z"
}

# The go.sum "h1:" hash of a module tree (golang.org/x/mod/sumdb/dirhash
# Hash1): sha256 over the sorted lines "<sha256 of file>  <module>@<version>/<file>".
dirhash() {
    local dir=$1 prefix=$2
    (cd "$dir" && find . -type f -print0 | sed -z 's|^\./||' | LC_ALL=C sort -z \
        | xargs -0 -r sha256sum --) \
        | sed "s|^\([0-9a-f]*\)  |\1  $prefix/|" \
        | sha256sum | cut -d' ' -f1 | xxd -r -p | base64 | sed 's/^/h1:/'
}

cmd_fetch() {
    local name=$1 mod module version h1 json dir sum tmp
    mod=$(module_of "$name" "${2:-}" "${3:-}")
    read -r module version h1 <<<"$mod"
    local where="pinned in podman-patch/upstream.mk"
    [ -z "${2:-}" ] || where="given by the caller"
    say "fetching $module@$version with go mod download (h1 $where)"
    # Outside any module, so no go.mod/go.work of ours is consulted.
    tmp=$(mktemp -d)
    json=$(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module@$version") \
        || { rmdir "$tmp"; die "go mod download $module@$version failed"; }
    rmdir "$tmp"
    dir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$json")
    sum=$(sed -n 's/^\t"Sum": "\(.*\)",$/\1/p' <<<"$json")
    [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download printed no Dir for $module@$version"
    [ "$sum" = "$h1" ] || die "$module@$version has Sum $sum, pinned $h1"
    say "verified $module@$version $h1 (go's record of the zip)"
    echo "$dir"
}

cmd_pristine() {
    local name=$1 dir=$2 mod module version h1 src got
    [ ! -e "$dir" ] || die "$dir exists; remove it first (make reset-podman)"
    mod=$(module_of "$name" "${3:-}" "${4:-}")
    read -r module version h1 <<<"$mod"
    src=$(cmd_fetch "$name" "${3:-}" "${4:-}")
    mkdir -p "$(dirname "$dir")"
    # The module cache is read-only: copy, then make the copy writable.
    cp -R --no-preserve=mode,ownership "$src" "$dir"
    chmod -R u+w,go-w "$dir"
    # Re-hash what we copied, so the pristine commit is provably the module.
    got=$(dirhash "$dir" "$module@$version")
    [ "$got" = "$h1" ] || { rm -rf "$dir"; die "copy of $module@$version hashes to $got, pinned $h1"; }
    say "verified the copy in $dir hashes to $h1"
    pristine_env "$name"
    git -C "$dir" init -q -b as-gateway
    series_configure_identity "$dir"
    git -C "$dir" config as-gateway.module "$module"
    git -C "$dir" config as-gateway.version "$version"
    # Module zips keep files that upstream's .gitignore would hide; force-add
    # so the pristine commit is byte-for-byte the module.
    git -C "$dir" add -A -f .
    git -C "$dir" commit -q -m "$module $version, pristine from the Go module proxy" \
        -m "go.sum hash of $module@$version: $h1"
    git -C "$dir" tag upstream
    say "pristine $module $version committed in $dir (tag: upstream)"
}

cmd_apply() { series_apply "$1" "$2" refresh-podman-patches; }

cmd_refresh() {
    local dir=$1 module version
    module=$(git -C "$dir" config as-gateway.module) || die "$dir is not a tree made by '$0 pristine'"
    version=$(git -C "$dir" config as-gateway.version)
    series_refresh "$dir" "$2" \
        "Applies to $module $version from the Go module proxy, in this order." \
        "Generated by 'make refresh-podman-patches'; works with 'git am' and 'quilt push -a'."
}

cmd_status() { series_status "$1" "$2" cmd_refresh refresh-podman-patches reset-podman; }

cmd_quilt_check() {
    local name=$1 tmp src
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"; trap - RETURN' RETURN
    src=$(cmd_fetch "$name")
    cp -R --no-preserve=mode,ownership "$src" "$tmp/tree"
    series_quilt_push "$tmp/tree" "$2"
}

case "${1:-}" in
    fetch) cmd_fetch "$2" "${3:-}" "${4:-}" ;;
    pristine) cmd_pristine "$2" "$3" "${4:-}" "${5:-}" ;;
    apply) cmd_apply "$2" "$3" ;;
    refresh) cmd_refresh "$2" "$3" ;;
    submit) series_submit "$2" "$3" ;;
    quilt-check) cmd_quilt_check "$2" "$3" ;;
    status) cmd_status "$2" "$3" ;;
    *) sed -n '2,28p' "$0" >&2; exit 2 ;;
esac
