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

# series_apply DIR SERIES REFRESH_TARGET: git am every patch onto DIR.
series_apply() {
    local dir=$1 series=$2 refresh_target=$3 n=0 p
    for p in $(series_patches "$series"); do
        git -C "$dir" am -q --keep-cr --committer-date-is-author-date "$(cd "$series" && pwd)/$p" \
            || die "git am failed on $p; fix it in $dir, then 'git am --continue' and 'make $refresh_target'"
        n=$((n + 1))
    done
    say "applied $n patch(es) from $series onto $dir"
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
    for p in "$tmp"/*.patch; do
        [ -e "$p" ] || continue
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
