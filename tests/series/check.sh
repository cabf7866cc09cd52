#!/usr/bin/env bash
# Checks of the four patch series themselves (patches/netavark,
# patches/container-libs, patches/podman, patches/podman-compose).  For each:
#  1. `git am` applies it to a fresh pristine tree;
#  2. `quilt push -a` applies it to a plain copy of the upstream source,
#     with the same result as git am;
#  3. refreshing the series from that tree reproduces patches/ byte for byte;
#  4. the committed patches carry no identity (no From:, no Signed-off-by)
#     and author dates in series order, and `tree.sh submit` turns them into
#     patches authored and signed off by the submitter; every patch has a
#     message body that explains it,
#     and tests and docs in the same commit.
#
#   tests/series/check.sh [netavark|container-libs|podman|podman-compose ...]   (default: all)
set -euo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
ok()  { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fail=1; }

# pristine SERIES DIR: a fresh pristine git tree of SERIES's upstream in DIR
pristine() {
    case "$1" in
        netavark)       "$top/netavark-patch/tree.sh" pristine "$2" ;;
        container-libs) "$top/podman-patch/tree.sh" pristine common "$2" ;;
        podman)         "$top/podman-patch/tree.sh" pristine podman "$2" ;;
        podman-compose) "$top/podman-compose-patch/tree.sh" pristine "$2" ;;
    esac
}

# plain_copy SERIES DIR: the upstream source, as downloaded, copied to DIR
plain_copy() {
    local src
    case "$1" in
        netavark)
            mkdir "$work/crate"
            tar -xzf "$("$top/netavark-patch/tree.sh" fetch 2>/dev/null)" -C "$work/crate"
            mv "$work"/crate/netavark-* "$2" ;;
        container-libs|podman)
            [ "$1" = podman ] && src=podman || src=common
            src=$("$top/podman-patch/tree.sh" fetch "$src" 2>/dev/null)
            cp -R --no-preserve=mode,ownership "$src" "$2"
            chmod -R u+w "$2" ;;
        podman-compose)
            mkdir "$work/sdist"
            tar -xzf "$("$top/podman-compose-patch/tree.sh" fetch 2>/dev/null)" -C "$work/sdist"
            mv "$work"/sdist/podman_compose-* "$2" ;;
    esac
}

series_files() { # SERIES_DIR: the patch files of its series file, in order
    grep -v -e '^#' -e '^[[:space:]]*$' "$1/series" | sed 's/[[:space:]].*//'
}

tree_sh() { # SERIES: the tree.sh that manages it
    case "$1" in
        netavark)       echo "$top/netavark-patch/tree.sh" ;;
        podman-compose) echo "$top/podman-compose-patch/tree.sh" ;;
        *)              echo "$top/podman-patch/tree.sh" ;;
    esac
}

# has_tests SERIES FILES ADDED: the commit adds or changes tests, in that
# repository's own style
has_tests() {
    case "$1" in
        netavark) grep -q '^test/' <<<"$2" || grep -q '#\[test\]' <<<"$3" ;;
        container-libs) grep -q '_test\.go$' <<<"$2" ;;
        podman) grep -qE '^test/(e2e|system|apiv2)/' <<<"$2" ;;
        podman-compose) grep -qE '^tests/(unit|integration)/' <<<"$2" ;;
    esac
}

# has_docs SERIES FILES ADDED BODY: the commit documents what it changes.
# container-libs is a library without user docs for network options: its
# docs are the Go doc comments of what it exports, so a commit there must add
# comment lines to non-test Go code (or touch docs/).  A refactor that says
# "No user-visible change." in its message has nothing for the docs; its
# tests must still show that (has_tests).
# netavark: netavark.1.md stays terse (one entry per option, review of
# issue 11), so a commit that changes internals only documents them in Rust
# comments (//, ///, //!) of what it changes; one that changes what a user
# sets or sees touches docs/.
has_docs() {
    grep -qx 'No user-visible change\.' <<<"$4" && return 0
    case "$1" in
        container-libs)
            grep -qE '(^docs/|\.md$)' <<<"$2" || grep -qE '^\+[[:space:]]*// ' <<<"$3" ;;
        netavark)
            grep -qE '(^docs/|\.md$)' <<<"$2" || grep -qE '^\+[[:space:]]*//[/!]? ' <<<"$3" ;;
        # podman-compose documents a change with a towncrier news fragment
        podman-compose) grep -qE '(^docs/|^newsfragments/|\.md$)' <<<"$2" ;;
        *) grep -qE '(^docs/|\.md$)' <<<"$2" ;;
    esac
}

check_series() {
    local name=$1 series=$top/patches/$1 ts am plain n
    ts=$(tree_sh "$name")
    am=$work/$name-am plain=$work/$name-plain
    n=$(grep -cv '^#' "$series/series" || true)
    echo "--- $name ($n patch(es) in patches/$name)"

    # 1. git am onto a fresh pristine tree
    pristine "$name" "$am" 2>/dev/null
    if "$ts" apply "$am" "$series" 2>"$work/$name-am.log"; then
        ok "$name: git am applies $(git -C "$am" rev-list --count upstream..HEAD) patch(es)"
    else
        bad "$name: git am: $(cat "$work/$name-am.log")"
    fi

    # 2. quilt push -a onto a plain copy, same result
    plain_copy "$name" "$plain"
    if [ "$n" -gt 0 ]; then
        if (cd "$plain" && QUILT_PATCHES="$series" QUILT_PC=.pc quilt push -a -q) >"$work/$name-quilt.log" 2>&1; then
            ok "$name: quilt push -a applies the series"
        else
            bad "$name: quilt push -a: $(tail -5 "$work/$name-quilt.log")"
        fi
    fi
    if diff -r -q -x .git -x .pc "$am" "$plain" >"$work/$name-diff.log"; then
        ok "$name: quilt and git am give identical trees"
    else
        bad "$name: quilt and git am trees differ: $(head -5 "$work/$name-diff.log")"
    fi

    # 3. refresh is stable
    "$ts" refresh "$am" "$work/$name-refreshed" 2>/dev/null
    if diff -r -q "$series" "$work/$name-refreshed" >"$work/$name-refresh.log"; then
        ok "$name: refreshing the series from the applied tree gives no diff"
    else
        bad "$name: refresh is not stable: $(cat "$work/$name-refresh.log")"
    fi

    # 4. no identity in what is committed; the submitter's, when submitted
    local p dates
    for p in $(series_files "$series"); do
        if grep -qE '^(From|Signed-off-by): ' "$series/$p"; then
            bad "$name: $p carries an identity (From: or Signed-off-by:); 'make refresh-patches' strips it"
        fi
    done
    dates=$(for p in $(series_files "$series"); do date -d "$(sed -n '/^Date: /{s/^Date: //p;q}' "$series/$p")" +%s; done)
    if [ "$dates" = "$(sort -n -u <<<"$dates")" ]; then
        ok "$name: no identity in the committed patches; author dates follow the series order"
    else
        bad "$name: author dates do not follow the series order"
    fi
    local submitted="$work/$name-submitted" who="Test Submitter <test.submitter@example.org>"
    if GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=user.name GIT_CONFIG_VALUE_0="Test Submitter" \
        GIT_CONFIG_KEY_1=user.email GIT_CONFIG_VALUE_1=test.submitter@example.org \
        "$ts" submit "$am" "$submitted" 2>"$work/$name-submit.log"; then
        local signed=0 authored=0 total=0
        for p in "$submitted"/*.patch; do
            total=$((total + 1))
            grep -qx "From: $who" "$p" && authored=$((authored + 1))
            [ "$(grep -c '^Signed-off-by: ' "$p")" = 1 ] && grep -qx "Signed-off-by: $who" "$p" \
                && signed=$((signed + 1))
        done
        if [ "$total" -eq "$n" ] && [ "$authored" -eq "$n" ] && [ "$signed" -eq "$n" ]; then
            ok "$name: submit: $n patch(es) authored and signed off by the submitter"
        else
            bad "$name: submit: $total patch(es), $authored authored and $signed signed off by the submitter (want $n)"
        fi
    else
        bad "$name: submit failed: $(cat "$work/$name-submit.log")"
    fi
    if GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=user.name GIT_CONFIG_VALUE_0="as-gateway developer" \
        GIT_CONFIG_KEY_1=user.email GIT_CONFIG_VALUE_1=as-gateway@localhost \
        "$ts" submit "$am" "$work/$name-placeholder" 2>/dev/null; then
        bad "$name: submit accepted a placeholder identity"
    else
        ok "$name: submit refuses a placeholder identity"
    fi

    # 5. upstream commit hygiene, per patch
    local commit subject body files added
    for commit in $(git -C "$am" rev-list --reverse upstream..HEAD); do
        subject=$(git -C "$am" log -1 --format=%s "$commit")
        body=$(git -C "$am" log -1 --format=%b "$commit" | grep -v -e '^Signed-off-by:' -e '^[[:space:]]*$' | wc -l)
        files=$(git -C "$am" diff-tree --no-commit-id --name-only -r "$commit")
        added=$(git -C "$am" show --format= "$commit" -- . ':!*_test.go' | grep '^+' || true)
        [ "$body" -ge 3 ] || bad "$name: $subject: the message body does not explain why (fewer than 3 lines)"
        has_tests "$name" "$files" "$added" || bad "$name: $subject: no tests in the same commit"
        has_docs "$name" "$files" "$added" "$(git -C "$am" log -1 --format=%b "$commit")" || bad "$name: $subject: no docs in the same commit"
        ! grep -qx '.as-gateway-stamp' <<<"$files" || bad "$name: $subject: carries make's stamp file .as-gateway-stamp"
        ok "$name: patch hygiene checked: $subject"
    done
    rm -rf "$am" "$plain"
}

[ $# -gt 0 ] || set -- netavark container-libs podman podman-compose
for name in "$@"; do
    case "$name" in
        netavark|container-libs|podman|podman-compose) check_series "$name" ;;
        *) echo "unknown series '$name'" >&2; exit 2 ;;
    esac
done

exit $fail
