#!/usr/bin/env bash
# The container-libs series on the newest go.podman.io/common the Go proxy
# serves: apply it there, check every commit builds, and run common's own
# libnetwork tests stock vs patched.  podman v6.0.2 does not build against
# that common (it needs newer image/storage), so podman itself stays on the
# pinned v0.68.1; this is the series' own check, not part of `make check`.
#
#   make rebase-common-newest [COMMON_NEWEST=vX.Y.Z COMMON_NEWEST_H1=h1:...]
#   tests/upstream/rebase-common.sh run       (the same; knobs from the environment)
#   tests/upstream/rebase-common.sh record    (see "recording")
#
# COMMON_NEWEST defaults to PODMAN_COMMON_NEWEST_VERSION of
# podman-patch/upstream.mk, COMMON_NEWEST_H1 to its pinned go.sum hash; any
# other version needs its hash (`go mod download -json MODULE@VERSION`
# prints "Sum").  Steps:
#   tree     build/src/container-libs-common-newest (ignored by git), a git
#            repository with two pristine commits made by podman-patch/tree.sh
#            (go mod download, h1: hash checked, copy re-hashed): the newest
#            version (tag "upstream") and the pinned v0.68.1 (tag "base")
#   base     the series with `git am -3` on v0.68.1 (branch on-v0.68.1):
#            every patch must apply, as in `make check`; this also puts the
#            blobs the patches name into the repository, for `git am -3`
#   newest   the series with `git am -3` on the newest version (branch
#            on-<version>, checked out), patch by patch; a patch that
#            conflicts, or whose commit does not build there, gets its
#            recorded resolution from podman-patch/newest-fixups/<patch>
#            (the scheme of rebase-on-main.sh, tests/upstream/fixups-lib.sh).
#            Every commit must pass `go vet ./libnetwork/...` (which builds
#            the packages and their tests), so the rebased series bisects,
#            and leave the Go files it changes gofmt-clean
#   tests    `go test ./libnetwork/...` exactly as tests/container-libs/compare.sh
#            runs it (same tags, NETAVARK_BINARY=build/bin/netavark, the
#            testplugin, ginkgo JSON report; no namespace wrapper: the
#            ginkgo suite makes its own network namespaces), on
#              stock    build/src/container-libs-common-newest-stock,
#                       `git archive upstream` of the tree
#              patched  the tree at on-<version>
# and prints a summary (also build/rebase-common-newest-results/summary.txt;
# the rebased series as `git format-patch` files in rebased/ there).  Exit
# status 0 when every patch applied (cleanly or by its recorded resolution),
# every commit built, and patched fails nothing that stock passes.
#
# Recording: when a patch stops without a recorded resolution, the tree is
# left where it stopped: in the middle of its `git am` (conflicting hunks
# staged as upstream has them, a file upstream deleted staying deleted), or
# at the patch's commit when it applied but does not build.  Edit the work
# tree until it means what the patch means (new files are fine), then
# `tests/upstream/rebase-common.sh record` (make rebase-common-newest-record):
# it writes the change, under a header whose "Why:" you fill in, to
# podman-patch/newest-fixups/<patch>.  Run make rebase-common-newest again.
#
# Knobs (environment): COMMON_NEWEST, COMMON_NEWEST_H1, AS_GATEWAY_NETAVARK
# (default build/bin/netavark), REBASE_COMMON_STEPS=apply (stop after the
# two applies and the build checks).
set -euo pipefail
shopt -s nullglob

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
TREE=$root/build/src/container-libs-common-newest
STOCK=$TREE-stock
SERIES=$root/patches/container-libs
FIXUPS=$root/podman-patch/newest-fixups
RESULTS=$root/build/rebase-common-newest-results
NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}
STATE=as-gateway-rebase-state # in $TREE/.git: the patch a stopped run is on
WHY_PLACEHOLDER="TODO: say why this keeps the patch's meaning"
MARK=as-gateway.rebase-common # git config key: this script made the tree

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'rebase-common.sh: %s\n' "$*" >&2; exit 2; }
# shellcheck source=../../netavark-patch/series-lib.sh
. "$root/netavark-patch/series-lib.sh"
# shellcheck source=fixups-lib.sh
. "$here/fixups-lib.sh"
# shellcheck source=../container-libs/go-tests.sh
. "$root/tests/container-libs/go-tests.sh"
pin() { sed -n "s/^$1 *:= *//p" "$root/podman-patch/upstream.mk"; }

BASE_VERSION=$(pin PODMAN_COMMON_VERSION)
NEWEST=${COMMON_NEWEST:-$(pin PODMAN_COMMON_NEWEST_VERSION)}
if [ -n "${COMMON_NEWEST_H1:-}" ]; then
    NEWEST_H1=$COMMON_NEWEST_H1
elif [ "$NEWEST" = "$(pin PODMAN_COMMON_NEWEST_VERSION)" ]; then
    NEWEST_H1=$(pin PODMAN_COMMON_NEWEST_H1)
else
    NEWEST_H1=
fi

# ------------------------------------------------------------------ tree
make_tree() {
    local tmp
    [ "$NEWEST" != "$BASE_VERSION" ] || die "COMMON_NEWEST=$NEWEST is the version the series is made on: nothing to rebase"
    [ -n "$NEWEST_H1" ] || die "COMMON_NEWEST=$NEWEST is not the pinned version: give its COMMON_NEWEST_H1 (go mod download -json go.podman.io/common@$NEWEST prints \"Sum\")"
    if [ -e "$TREE" ]; then
        [ "$(git -C "$TREE" config "$MARK" 2>/dev/null)" = true ] \
            || die "$TREE exists but this script did not create it; move it away"
        rm -rf "$TREE"
    fi
    tmp=$(mktemp -d)
    "$root/podman-patch/tree.sh" pristine common "$tmp/base" >&2
    "$root/podman-patch/tree.sh" pristine common "$TREE" "$NEWEST" "$NEWEST_H1" >&2
    git -C "$TREE" config "$MARK" true
    git -C "$TREE" config advice.detachedHead false
    git -C "$TREE" fetch -q --no-tags "$tmp/base" refs/tags/upstream:refs/tags/base
    rm -rf "$tmp"
    say "tree $TREE: upstream = go.podman.io/common $NEWEST ($NEWEST_H1), base = $BASE_VERSION (the series' version)"
}

# Every commit of the rebased series must build, tests included, and keep
# the Go files it changes gofmt-clean (as make check-style wants).
fixups_check_commit() {
    (
        cd "$TREE"
        mapfile -t files < <(git diff --name-only --diff-filter=d HEAD~1 HEAD -- '*.go')
        unformatted=
        [ ${#files[@]} -eq 0 ] || unformatted=$(gofmt -l "${files[@]}")
        [ -z "$unformatted" ] || { echo "not gofmt-clean: $unformatted"; exit 1; }
        GOWORK=off nice go vet -tags "$LIBNETWORK_TEST_TAGS" ./libnetwork/...
    ) >"$2" 2>&1
}

# ------------------------------------------------------------------ tests
# run_tree NAME DIR: go-tests.sh's go_run_tree, results in $RESULTS
run_tree() { go_run_tree "$1" "$2" "$RESULTS"; }

# compare: go_results.py's comparison, printed to stdout; non-zero when
# patched fails anything, or differs from stock on anything stock has (a
# test stock fails and patched passes is fine: a fixup may fix it)
compare() { go_compare "$RESULTS" --allow-fixed --indent "  " --label tests; }

# ------------------------------------------------------------------ run
cmd_run() {
    local p status=0 t0 tests=skipped branch
    [ "$(id -u)" = 0 ] || die "needs root (the ginkgo suite makes network namespaces)"
    for c in git go python3 xxd; do
        command -v "$c" >/dev/null || die "missing command '$c' (make deps-podman)"
    done
    [ -x "$NETAVARK" ] || die "$NETAVARK missing: run make netavark"
    mapfile -t PATCHES < <(series_patches "$SERIES")
    rm -rf "$RESULTS"
    mkdir -p "$RESULTS"
    git_env
    t0=$(date +%s)
    branch=on-$NEWEST

    make_tree
    fixups_apply_base "on-$BASE_VERSION" base "$BASE_VERSION"
    fixups_apply "$branch" upstream "$NEWEST" || true

    if [ -z "$STOPPED" ]; then
        git -C "$TREE" format-patch -q --no-signature -o "$RESULTS/rebased" upstream.."$branch"
        if [ "${REBASE_COMMON_STEPS:-}" != apply ]; then
            say "stock tree: git archive upstream -> ${STOCK#"$root"/}"
            rm -rf "$STOCK"
            mkdir -p "$STOCK"
            git -C "$TREE" archive upstream | tar -x -C "$STOCK"
            run_tree stock "$STOCK"
            run_tree patched "$TREE"
            tests=ran
        fi
    fi

    # ---------------------------------------------------------- summary
    {
        echo "=== the container-libs series on go.podman.io/common $NEWEST (the newest the Go proxy serves)"
        echo "    ($NEWEST_H1; the series is made on $BASE_VERSION)"
        fixups_table patches/container-libs podman-patch/newest-fixups "$BASE_VERSION" "$NEWEST"
        if [ -n "$STOPPED" ]; then
            status=1
            if [ "$(sed -n 3p "$TREE/.git/$STATE" 2>/dev/null)" = build ]; then
                echo "stopped at $STOPPED: $TREE is at its commit, which does not build"
                echo "  (see $RESULTS/check.$STOPPED.log).  Edit the work tree until it builds and"
                echo "  means what the patch means (do not commit), then"
            else
                echo "stopped at $STOPPED: $TREE is in the middle of its git am."
                echo "  Its conflicting hunks are staged as upstream has them; edit the work tree until it"
                echo "  means what the patch means (git diff shows your change), then"
            fi
            echo "  make rebase-common-newest-record, fill in the 'Why:', and run make rebase-common-newest again."
        else
            echo "every commit: gofmt-clean, go vet -tags '$LIBNETWORK_TEST_TAGS' ./libnetwork/... passed"
        fi
        if [ "$tests" = ran ]; then
            echo "tests: go test ./libnetwork/... against $NETAVARK"
            echo "       (it reports version $("$NETAVARK" version 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo '?'); logs and JSON in $RESULTS)"
            compare || status=1
        else
            echo "tests: skipped"
        fi
        echo "rebased series: git -C $TREE log --oneline upstream..$branch  (as patches: $RESULTS/rebased/)"
        echo "time: $(($(date +%s) - t0))s"
        if [ $status = 0 ]; then echo "RESULT: OK"; else echo "RESULT: FAILED"; fi
    } | tee "$RESULTS/summary.txt"
    grep -q '^RESULT: OK' "$RESULTS/summary.txt"
}

case "${1:-}" in
run) cmd_run ;;
record) fixups_record "go.podman.io/common $NEWEST" all "make rebase-common-newest" ;;
*) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
