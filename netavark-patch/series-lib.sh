# shellcheck shell=bash
# The patch-series mechanics shared by netavark-patch/tree.sh and
# podman-patch/tree.sh: read a `series` file, `git am` it, regenerate it
# with `git format-patch`, compare a tree with it, `quilt push -a` it.
# Sourced, not run; the caller defines say() and die().

# The patch file names of SERIES/series, in order.
series_patches() {
    local series=$1
    [ -f "$series/series" ] || return 0
    grep -v -e '^#' -e '^[[:space:]]*$' "$series/series" | sed 's/[[:space:]].*//'
}

# The committed patches carry no identity: no From: header and no
# Signed-off-by. A sign-off is a personal statement (the DCO), so only the
# person who submits a series can make it; `make submit-patches` does, with
# their git identity. The work trees get the identity of whoever works on
# them, from git config (this repository's, else the global one).
SERIES_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERIES_NO_IDENTITY="as-gateway work tree <work-tree@as-gateway.invalid>"
# Author dates of the committed patches: one minute apart, in series order.
SERIES_DATE_STEP=60

# series_identity: "Name <email>" from git config, empty when unset
series_identity() {
    local name email
    name=$(git -C "$SERIES_TOP" config user.name || true)
    email=$(git -C "$SERIES_TOP" config user.email || true)
    if [ -n "$name" ] && [ -n "$email" ]; then echo "$name <$email>"; fi
}

# series_configure_identity DIR: commits made in the work tree DIR are the
# developer's own (nothing is set when git config has no identity)
series_configure_identity() {
    local ident
    ident=$(series_identity)
    [ -n "$ident" ] || return 0
    git -C "$1" config user.name "${ident% <*}"
    git -C "$1" config user.email "$(sed 's/.*<\(.*\)>/\1/' <<<"$ident")"
}

# series_apply DIR SERIES REFRESH_TARGET: git am every patch onto DIR, as
# authored by the developer (git am needs a From: header; the patch has none)
series_apply() {
    local dir=$1 series=$2 refresh_target=$3 n=0 p ident tmp
    # make's stamp file lives in the tree: keep it out of git status, and so
    # out of every commit made there
    grep -qxF /.as-gateway-stamp "$dir/.git/info/exclude" 2>/dev/null ||
        echo /.as-gateway-stamp >> "$dir/.git/info/exclude"
    ident=$(series_identity)
    if [ -z "$ident" ]; then
        ident=$SERIES_NO_IDENTITY
        export GIT_COMMITTER_NAME=${ident% <*} GIT_COMMITTER_EMAIL=work-tree@as-gateway.invalid
    fi
    tmp=$(mktemp -d)
    for p in $(series_patches "$series"); do
        awk -v from="From: $ident" 'NR == 2 && !/^From: / {print from} {print}' "$series/$p" >"$tmp/$p"
        git -C "$dir" am -q --keep-cr --committer-date-is-author-date "$tmp/$p" \
            || { rm -rf "$tmp"; die "git am failed on $p; fix it in $dir, then 'git am --continue' and 'make $refresh_target'"; }
        n=$((n + 1))
    done
    rm -rf "$tmp"
    say "applied $n patch(es) from $series onto $dir"
}

# series_strip_identity PATCH BASE INDEX: drop the From: header and the
# Signed-off-by lines of a format-patch file, and date it BASE + INDEX steps
series_strip_identity() {
    local patch=$1 date
    date=$(LC_ALL=C date -u -R -d "@$(($2 + $3 * SERIES_DATE_STEP))")
    # the From: header may be folded onto continuation lines; blank lines
    # left before the end of the message (where the sign-off was) go too,
    # as git am would drop them
    awk -v date="Date: $date" '
        !header_done && /^From: / { in_from = 1; next }
        !header_done && in_from && /^[ \t]/ { next }
        { in_from = 0 }
        !header_done && /^Date: / { print date; next }
        !header_done && /^$/ { header_done = 1; print; next }
        !header_done { print; next }
        body_done { print; next }
        /^---$/ { blanks = ""; body_done = 1; print; next }
        /^Signed-off-by: / { next }
        /^$/ { blanks = blanks "\n"; next }
        { printf "%s", blanks; blanks = ""; print }
    ' "$patch" >"$patch.tmp" && mv "$patch.tmp" "$patch"
}

# series_refresh DIR SERIES HEADER...: rewrite SERIES from upstream..HEAD of
# DIR; each HEADER becomes a "# " comment line at the top of SERIES/series.
# The output is stable: no commit hash, no git version, full blob ids.
series_refresh() {
    local dir=$1 series=$2 tmp p line
    shift 2
    git -C "$dir" diff --quiet HEAD || die "$dir has uncommitted changes; commit them first"
    tmp=$(mktemp -d)
    git -C "$dir" format-patch -q --zero-commit --no-signature --no-numbered \
        --full-index -o "$tmp" upstream..HEAD
    mkdir -p "$series"
    rm -f "$series"/*.patch
    for line in "$@"; do echo "# $line"; done > "$series/series"
    local base i=0
    base=$(git -C "$dir" log --reverse --format=%at upstream..HEAD | sed -n 1p)
    for p in "$tmp"/*.patch; do
        [ -e "$p" ] || continue
        series_strip_identity "$p" "$base" "$i"
        i=$((i + 1))
        mv "$p" "$series/"
        basename "$p" >> "$series/series"
    done
    rmdir "$tmp"
    say "wrote $(series_patches "$series" | wc -l) patch(es) to $series"
}

# series_status DIR SERIES REFRESH_CMD REFRESH_TARGET RESET_TARGET: warn when
# the work tree and the committed series have drifted apart.  REFRESH_CMD is
# the caller's "refresh DIR SERIES" function.
series_status() {
    local dir=$1 series=$2 refresh_cmd=$3 refresh_target=$4 reset_target=$5 tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"; trap - RETURN' RETURN
    cp -r "$series" "$tmp/committed"
    # A subshell, so that refresh's die() on a dirty tree only ends the check.
    ("$refresh_cmd" "$dir" "$tmp/now") 2>/dev/null \
        || { say "WARNING: $dir has uncommitted changes (built as they are)"; return 0; }
    if ! diff -qr "$tmp/committed" "$tmp/now" >/dev/null; then
        say "WARNING: $dir and $series differ: 'make $refresh_target' saves the tree's commits,"
        say "         'make $reset_target' rebuilds the tree from the series"
    fi
}

# series_quilt_push TREE SERIES: `quilt push -a` SERIES onto TREE (a throwaway
# copy of the pristine source).
series_quilt_push() {
    local tree=$1 series
    series=$(cd "$2" && pwd)
    command -v quilt >/dev/null || die "quilt is not installed (apt-get install quilt)"
    if [ -z "$(series_patches "$series")" ]; then say "series is empty"; return 0; fi
    (cd "$tree" && QUILT_PATCHES="$series" QUILT_PC=.pc quilt push -a -q >&2) \
        || die "quilt push -a failed on $series"
    say "quilt push -a applied $(series_patches "$series" | wc -l) patch(es) cleanly"
}

# series_submit DIR OUT: the series of DIR as its submitter sends it, in OUT:
# every commit authored and signed off by the git identity of whoever runs
# it, author dates one step apart in series order. Refuses a missing or
# placeholder identity: the DCO check (and a maintainer) rejects those.
series_submit() {
    local dir=$1 out=$2 ident name email tmp base i=0 c
    ident=$(series_identity)
    case "$ident" in
        "" | *@localhost\> | *.invalid\> | *.example\> | *@localhost | *.invalid | *.example)
            die "no usable git identity ('$ident'): set your own with git config user.name / user.email" ;;
    esac
    name=${ident% <*}
    email=$(sed 's/.*<\(.*\)>/\1/' <<<"$ident")
    tmp=$(mktemp -d)
    git clone -q --no-local "$dir" "$tmp/tree"
    git -C "$tmp/tree" fetch -q origin "refs/tags/upstream:refs/tags/upstream"
    base=$(date +%s)
    git -C "$tmp/tree" checkout -q -b submit upstream
    for c in $(git -C "$dir" rev-list --reverse upstream..HEAD); do
        git -C "$tmp/tree" cherry-pick --allow-empty "$c" >/dev/null
        # only the submitter signs off: sign-offs the work tree carries go
        git -C "$tmp/tree" log -1 --format=%B | grep -v '^Signed-off-by: ' >"$tmp/msg"
        GIT_AUTHOR_NAME=$name GIT_AUTHOR_EMAIL=$email GIT_COMMITTER_NAME=$name GIT_COMMITTER_EMAIL=$email \
            GIT_COMMITTER_DATE="@$((base + i * SERIES_DATE_STEP))" \
            git -C "$tmp/tree" commit -q --amend --reset-author --signoff --cleanup=strip -F "$tmp/msg" \
            --date="@$((base + i * SERIES_DATE_STEP))"
        i=$((i + 1))
    done
    mkdir -p "$out"
    git -C "$tmp/tree" format-patch -q --no-signature --full-index -o "$out" upstream..submit
    rm -rf "$tmp"
    say "wrote $i patch(es) to $out, authored and signed off by $ident"
}
