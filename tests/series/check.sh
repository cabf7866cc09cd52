#!/usr/bin/env bash
# Checks of the patch series itself (patches/netavark):
#  1. `git am` applies it to a fresh pristine tree;
#  2. `quilt push -a` applies it too, with the same result as git am;
#  3. refreshing the series from that tree reproduces patches/ byte for byte;
#  4. every patch carries Signed-off-by, a message body that explains it,
#     and tests and docs in the same commit.
set -euo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/../.." && pwd)
series="$top/patches/netavark"
tree_sh="$top/netavark-patch/tree.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
ok()  { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fail=1; }

# 1. git am onto a fresh pristine tree
"$tree_sh" pristine "$work/am" 2>/dev/null
if "$tree_sh" apply "$work/am" "$series" 2>"$work/am.log"; then
    ok "git am applies $(git -C "$work/am" rev-list --count upstream..HEAD) patch(es)"
else
    bad "git am: $(cat "$work/am.log")"
fi

# 2. quilt push -a onto a plain copy of the crate, same result
mkdir "$work/quilt"
tar -xzf "$("$tree_sh" fetch 2>/dev/null)" -C "$work/quilt"
qdir=$(echo "$work"/quilt/netavark-*)
if grep -qv '^#' "$series/series" 2>/dev/null; then
    if (cd "$qdir" && QUILT_PATCHES="$series" QUILT_PC=.pc quilt push -a -q) >"$work/quilt.log" 2>&1; then
        ok "quilt push -a applies the series"
    else
        bad "quilt push -a: $(tail -5 "$work/quilt.log")"
    fi
fi
if diff -r -q -x .git -x .pc "$work/am" "$qdir" >"$work/diff.log"; then
    ok "quilt and git am give identical trees"
else
    bad "quilt and git am trees differ: $(head -5 "$work/diff.log")"
fi

# 3. refresh is stable
"$tree_sh" refresh "$work/am" "$work/refreshed" 2>/dev/null
if diff -r -q "$series" "$work/refreshed" >"$work/refresh.log"; then
    ok "refreshing the series from the applied tree gives no diff"
else
    bad "refresh is not stable: $(cat "$work/refresh.log")"
fi

# 4. upstream commit hygiene, per patch
for commit in $(git -C "$work/am" rev-list --reverse upstream..HEAD); do
    subject=$(git -C "$work/am" log -1 --format=%s "$commit")
    body=$(git -C "$work/am" log -1 --format=%b "$commit" | grep -v -e '^Signed-off-by:' -e '^[[:space:]]*$' | wc -l)
    files=$(git -C "$work/am" diff-tree --no-commit-id --name-only -r "$commit")
    added=$(git -C "$work/am" show --format= "$commit" | grep '^+' || true)
    git -C "$work/am" log -1 --format=%b "$commit" | grep -q '^Signed-off-by: ' \
        || bad "$subject: no Signed-off-by"
    [ "$body" -ge 3 ] || bad "$subject: the message body does not explain why (fewer than 3 lines)"
    if ! grep -q '^test/' <<<"$files" && ! grep -q '#\[test\]' <<<"$added"; then
        bad "$subject: no tests in the same commit"
    fi
    grep -qE '(^docs/|\.md$)' <<<"$files" || bad "$subject: no docs in the same commit"
    ok "patch hygiene checked: $subject"
done

exit $fail
