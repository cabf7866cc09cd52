# shellcheck shell=bash
# Rebasing a series onto newer upstream code with recorded resolutions
# ("fixups"), shared by tests/upstream/rebase-on-main.sh (netavark series on
# netavark main) and tests/upstream/rebase-common.sh (container-libs series
# on the newest go.podman.io/common).  Sourced, not run.
#
# The caller defines say() and die(), sources netavark-patch/series-lib.sh
# (for the developer's identity) and sets:
#   TREE      the git tree the series is applied in
#   SERIES    the series directory (patches/NAME)
#   FIXUPS    the directory of recorded resolutions, <patch file name> each
#   RESULTS   a scratch/results directory (prepared patches, logs)
#   STATE     a file name in $TREE/.git: the patch a stopped run is on
#   WHY_PLACEHOLDER  the "Why:" text a new recording starts with
# and, optionally, a function
#   fixups_check_commit P LOG   run after each patch of fixups_apply has been
#                               committed: non-zero means that commit does not
#                               build there (output to LOG).  A patch that
#                               applies cleanly but fails this check stops the
#                               run like a conflict (below), so that the
#                               change it needs can be recorded.
#
# A fixup is a plain diff with a prose header (git apply ignores the text
# before the first "diff --git"):
#   - the patch conflicts: `git am -3` stops; in each conflicted file every
#     conflicting hunk is taken as upstream has it (git merge-file --ours on
#     the three index stages; the patch's other hunks stay applied; a file
#     upstream deleted stays deleted), the fixup is applied on top, and
#     `git am --continue` commits the result as that patch's commit;
#   - the patch applies but needs a change (an API that moved): the fixup is
#     applied on top and amended into the patch's commit.

# A fixed committer, and committer date = author date (series-lib.sh does
# the same): the same upstream commit and series give the same commits on
# every machine.
git_env() { export GIT_COMMITTER_NAME="as-gateway" GIT_COMMITTER_EMAIL="as-gateway@localhost"; }
am() { git -C "$TREE" am -q -3 --keep-cr --committer-date-is-author-date "$@"; }
# The id of a patch's change, not of its metadata (message, dates, identity).
patch_id() { git patch-id --stable <"$1" | cut -d' ' -f1; }

# prepared P: a copy of series patch P that git am takes.  The committed
# patches carry no identity (no From:, see series-lib.sh); the commits get
# the developer's from git config, or series-lib's placeholder.
prepared() {
    local ident=
    declare -F series_identity >/dev/null && ident=$(series_identity)
    [ -n "$ident" ] || ident=${SERIES_NO_IDENTITY:-"as-gateway work tree <work-tree@as-gateway.invalid>"}
    mkdir -p "$RESULTS/patches"
    awk -v from="From: $ident" 'NR == 2 && !/^From: / { print from } { print }' "$SERIES/$1" >"$RESULTS/patches/$1"
    echo "$RESULTS/patches/$1"
}

# The patches of the series, in order (series_patches of series-lib.sh).
declare -a PATCHES=()
# fixups_apply_base's and fixups_apply's verdict per patch
declare -A BASE_RESULT=() FIX_RESULT=()
# the patch fixups_apply stopped at, empty when it did not stop
STOPPED=

# fixups_apply_base BRANCH START LABEL: the series with `git am -3` on START
# (the version it is made on), every patch must apply; this also puts the
# blobs the patches name (index lines) into the repository, which `git am -3`
# needs for its three-way fallback on the newer code.
fixups_apply_base() {
    local branch=$1 start=$2 label=$3 p
    git -C "$TREE" checkout -q -b "$branch" "$start"
    for p in "${PATCHES[@]}"; do
        if am "$(prepared "$p")" >"$RESULTS/am.log" 2>&1; then
            BASE_RESULT[$p]=clean
        else
            cat "$RESULTS/am.log" >&2
            die "$p does not apply to $label: the series is broken there (make check-series)"
        fi
    done
    say "$label: ${#PATCHES[@]} patches applied cleanly"
}

# check_fixup FILE: refuse one still carrying the template's placeholder.
check_fixup() {
    grep -qF "$WHY_PLACEHOLDER" "$1" && die "$1: fill in its 'Why:' first"
    grep -q '^diff --git ' "$1" || die "$1 holds no diff"
    return 0
}

# note_patch_version P FIXUP: say when the fixup was recorded on another
# version of the patch (it still applied; review it).
note_patch_version() {
    local rec
    rec=$(sed -n 's/^Patch-id: *\([0-9a-f]*\).*/\1/p' "$2" | head -n1)
    [ "$rec" = "$(patch_id "$SERIES/$1")" ] && return 0
    say "  note: the fixup for $1 was recorded on another version of the patch; it still applied - review it"
    echo " (recorded on another version of the patch: review)"
}

# resolve_ours: in every conflicted file take each conflicting hunk as
# upstream (HEAD) has it, keep the patch's clean hunks, stage the result.  A
# file upstream deleted and the patch changes is taken as upstream has it:
# deleted (the fixup then says where its change went).
resolve_ours() {
    local f base ours theirs conflicted
    mapfile -t conflicted < <(git -C "$TREE" diff --name-only --diff-filter=U)
    for f in "${conflicted[@]}"; do
        ours=$(mktemp) base=$(mktemp) theirs=$(mktemp)
        if ! git -C "$TREE" show ":2:$f" >"$ours" 2>/dev/null; then
            rm -f "$ours" "$base" "$theirs"
            git -C "$TREE" cat-file -e ":1:$f" 2>/dev/null \
                || die "$f: added by the patch and by upstream; resolve by hand"
            git -C "$TREE" rm -q --cached -- "$f"
            rm -f "$TREE/$f"
            continue
        fi
        git -C "$TREE" show ":3:$f" >"$theirs" 2>/dev/null \
            || die "$f: the patch deletes it; resolve by hand"
        git -C "$TREE" show ":1:$f" >"$base" 2>/dev/null || : >"$base"
        git merge-file -q --ours "$ours" "$base" "$theirs" || true
        cp "$ours" "$TREE/$f"
        rm -f "$ours" "$base" "$theirs"
        git -C "$TREE" add -- "$f"
    done
}

# no_markers FILE...: no conflict markers left in those that exist
no_markers() {
    local f existing=()
    for f in "$@"; do [ ! -e "$f" ] || existing+=("$f"); done
    [ ${#existing[@]} -eq 0 ] || ! grep -nE '^(<<<<<<<|>>>>>>>)( |$)' -- "${existing[@]}"
}

# check_commit P: fixups_check_commit, when the caller has one
check_commit() {
    declare -F fixups_check_commit >/dev/null || return 0
    fixups_check_commit "$1" "$RESULTS/check.$1.log"
}

# fixed_by_fixup P HOW: P's commit now holds its recorded fixup; check it
# (check_commit) and set its FIX_RESULT to HOW, plus whether it builds and
# on which version of the patch the fixup was recorded.  Returns 1 (STOPPED
# set) when it does not build.
fixed_by_fixup() {
    if ! check_commit "$1"; then
        FIX_RESULT[$1]="$2, which does not build there (see $RESULTS/check.$1.log)"
        STOPPED=$1
        return 1
    fi
    FIX_RESULT[$1]="$2$(note_patch_version "$1" "$FIXUPS/$1")"
}

# stop_at P FILES MODE RESULT: remember where the run stopped (for record):
# the patch, its conflicted files, "conflict" or "build", and HEAD
stop_at() {
    printf '%s\n%s\n%s\n%s\n' "$1" "$2" "$3" "$(git -C "$TREE" rev-parse HEAD)" >"$TREE/.git/$STATE"
    FIX_RESULT[$1]=$4
    STOPPED=$1
}

# fixups_apply BRANCH START LABEL: the series with `git am -3` on START
# (branch BRANCH, checked out), patch by patch; a patch that conflicts, or
# that does not pass fixups_check_commit, gets its recorded resolution.
# Stops (returns 1, STOPPED set) at the first patch that needs one it does
# not have, or whose resolution no longer applies.
fixups_apply() {
    local branch=$1 start=$2 label=$3 p fix files n_fix=0
    STOPPED=
    # (callers run this as `fixups_apply ... || true`, where bash ignores
    # set -e: every step that must not fail says so)
    git -C "$TREE" checkout -q -b "$branch" "$start" || die "cannot make branch $branch at $start in $TREE"
    for p in "${PATCHES[@]}"; do
        fix=$FIXUPS/$p
        [ -f "$fix" ] && check_fixup "$fix"
        if am "$(prepared "$p")" >"$RESULTS/am.log" 2>&1; then
            if [ ! -f "$fix" ]; then
                if check_commit "$p"; then
                    FIX_RESULT[$p]=clean
                    continue
                fi
                stop_at "$p" "" build "applies cleanly, but does not build there (see $RESULTS/check.$p.log): no recorded fixup"
                break
            fi
            git -C "$TREE" apply --index "$fix" 2>"$RESULTS/apply.log" || {
                FIX_RESULT[$p]="applies, but its recorded fixup no longer does (see $RESULTS/apply.log)"
                STOPPED=$p
                break
            }
            GIT_COMMITTER_DATE=$(git -C "$TREE" log -1 --format=%aD) git -C "$TREE" commit -q --amend --no-edit \
                || die "$p: amending its fixup into the commit failed"
            fixed_by_fixup "$p" "clean, plus its recorded fixup" || break
            n_fix=$((n_fix + 1))
            continue
        fi
        files=$(git -C "$TREE" diff --name-only --diff-filter=U | paste -sd' ' -)
        if [ -z "$files" ]; then
            cat "$RESULTS/am.log" >&2
            FIX_RESULT[$p]="git am failed without a conflict (see above)"
            STOPPED=$p
            break
        fi
        resolve_ours
        if [ ! -f "$fix" ]; then
            stop_at "$p" "$files" conflict "CONFLICT in $files: no recorded resolution"
            break
        fi
        # shellcheck disable=SC2086
        if git -C "$TREE" apply --index "$fix" 2>"$RESULTS/apply.log" && (cd "$TREE" && no_markers $files); then
            # (--continue forgets --committer-date-is-author-date)
            GIT_COMMITTER_DATE=$(sed -n 's/^Date: //p' "$SERIES/$p" | head -n1) GIT_EDITOR=true \
                git -C "$TREE" am --continue -q >/dev/null || die "$p: git am --continue failed in $TREE"
            fixed_by_fixup "$p" "conflict in $files, resolved by its recorded fixup" || break
            n_fix=$((n_fix + 1))
        else
            stop_at "$p" "$files" conflict "CONFLICT in $files: the recorded resolution no longer applies (see $RESULTS/apply.log)"
            break
        fi
    done
    for fix in "$FIXUPS"/*.patch; do
        [ -e "$fix" ] || continue
        printf '%s\n' "${PATCHES[@]}" | grep -qxF "$(basename "$fix")" \
            || say "WARNING: $fix belongs to no patch of the series (renamed or dropped?): remove it"
    done
    [ -z "$STOPPED" ] || return 1
    say "$label: ${#PATCHES[@]} patches applied, $n_fix with a recorded resolution"
}

# fixups_record TITLE SCOPE NEXT: write the resolution of the patch the last
# run stopped at to $FIXUPS/<patch>, from the work tree of $TREE:
#   stopped at a conflict  the unstaged diff (the conflicting hunks are
#                          staged as upstream has them)
#   stopped at the check   the diff against the patch's commit
# SCOPE "conflicts" records the conflicted files only, "all" every change
# (new files too: they are added with intent-to-add).  TITLE ends the first
# line ("... on TITLE"); NEXT is the command to run again.  The caller may
# define fixups_header_extra P FILES... to add lines to the header.
fixups_record() {
    local title=$1 scope=$2 next=$3 p mode files fix tmp commit gitdir script base=()
    [ -f "$TREE/.git/$STATE" ] || die "no stopped patch in $TREE ($next stops at one that needs a resolution)"
    gitdir=$(git -C "$TREE" rev-parse --absolute-git-dir)
    p=$(sed -n 1p "$TREE/.git/$STATE")
    read -ra files <<<"$(sed -n 2p "$TREE/.git/$STATE")"
    mode=$(sed -n 3p "$TREE/.git/$STATE")
    case ${mode:-conflict} in
    conflict)
        [ -d "$gitdir/rebase-apply" ] || die "$TREE has no git am in progress"
        (cd "$TREE" && no_markers "${files[@]}") || die "conflict markers left in $TREE"
        ;;
    build)
        [ ! -d "$gitdir/rebase-apply" ] || die "$TREE has a git am in progress"
        [ "$(git -C "$TREE" rev-parse HEAD)" = "$(sed -n 4p "$TREE/.git/$STATE")" ] \
            || die "$TREE is no longer at the commit of $p: edit the work tree, do not commit"
        base=(HEAD)
        ;;
    *) die "$TREE/.git/$STATE: unknown mode '$mode'" ;;
    esac
    local paths=("${files[@]}")
    if [ "$scope" = all ]; then
        paths=(.)
        git -C "$TREE" add -N -- .
    fi
    git -C "$TREE" diff --quiet "${base[@]}" -- "${paths[@]}" \
        && die "no change in the work tree of $TREE: edit it first"
    fix=$FIXUPS/$p
    [ ! -e "$fix" ] || die "$fix exists; remove it to record a new one"
    commit=$(git -C "$TREE" rev-parse upstream)
    script=$(realpath --relative-to="${SERIES_TOP:-.}" "$0")
    mkdir -p "$FIXUPS"
    tmp=$(mktemp)
    {
        echo "Resolution of ${SERIES#"${SERIES_TOP:-}"/}/$p on $title"
        echo
        echo "Recorded on upstream $commit"
        echo "  ($(git -C "$TREE" log -1 --format='%cs %s' upstream))."
        echo "Patch-id: $(patch_id "$SERIES/$p") (git patch-id --stable)"
        if [ "${mode:-conflict}" = conflict ]; then
            echo "Conflicts in: ${files[*]}"
        else
            echo "Applies cleanly; needs this change to build there."
        fi
        ! declare -F fixups_header_extra >/dev/null || fixups_header_extra "$p" "${files[@]}"
        echo
        if [ "${mode:-conflict}" = conflict ]; then
            echo "Applied by $script: each conflicting hunk is taken"
            echo "as upstream has it, then the diff below re-adds what the patch means there."
        else
            echo "Applied by $script: the diff below is amended into the"
            echo "patch's commit."
        fi
        echo
        echo "Why:"
        echo "  $WHY_PLACEHOLDER"
        echo
        git -C "$TREE" diff --no-color --no-ext-diff --full-index --src-prefix=a/ --dst-prefix=b/ \
            "${base[@]}" -- "${paths[@]}"
    } >"$tmp"
    mv "$tmp" "$fix"
    say "wrote $fix: fill in its 'Why:', then run $next again"
}

# fixups_table SERIES FIXUPS BASE TARGET: the summary's series line (SERIES
# and FIXUPS relative to the repository) and its table, one row per patch:
# how it applied on BASE and on TARGET
fixups_table() {
    local p
    echo "series: $1 at $(git -C "$root" log -1 --format=%h -- "$1" 2>/dev/null || echo '?')$(
        git -C "$root" status --porcelain -- "$1" "$2" 2>/dev/null | grep -q . \
            && echo ' + uncommitted changes to the series or the fixups')"
    printf '%-62s %-8s %s\n' patch "$3" "$4"
    for p in "${PATCHES[@]}"; do
        printf '%-62s %-8s %s\n' "${p:0:62}" "${BASE_RESULT[$p]:--}" "${FIX_RESULT[$p]:-not tried}"
    done
}
