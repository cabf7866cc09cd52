#!/usr/bin/env bash
# The netavark series on upstream's newest code (netavark main), which the
# registries do not serve: apply, build, unit-test and bats-test it there.
# Not part of `make check` or CI: it needs an upstream git checkout.
#
#   make rebase-main UPSTREAM_GIT=/path/to/netavark.git [UPSTREAM_REF=main]
#   tests/upstream/rebase-on-main.sh run UPSTREAM_GIT [REF]   (the same)
#   tests/upstream/rebase-on-main.sh record                   (see "recording")
#
# UPSTREAM_GIT is any git repository of netavark, bare or not (a clone, the
# snapshot the `fetch` tool leaves under /work/.mirror/).  Nothing is written
# to it.  Steps:
#   tree     build/src/netavark-main (ignored by git), a fresh git repository
#            holding REF's commit (tag "upstream") and v2.1.0 (tag "base"),
#            whose commit is checked against the crate's .cargo_vcs_info.json:
#            the series' base in git is the crate the series is made on
#   base     the series with `git am -3` on v2.1.0 (branch on-v2.1.0): every
#            patch must apply, as in `make check`; this also puts the blobs
#            the patches name (index lines) into the repository, which
#            `git am -3` needs for its three-way fallback on main
#   main     the series with `git am -3` on REF (branch on-main, checked out),
#            patch by patch; a patch that conflicts, or that needs a change to
#            build on main, gets its recorded resolution (below)
#   build    cargo build --release --locked --bins, CARGO_TARGET_DIR
#            $CACHE/main-target (niced; ~8 min cold on 2 cores), binaries
#            copied to build/bin-main/
#   unit     cargo test --locked --no-fail-fast --lib --bins (debug, as
#            upstream's `make unit`; tests/*.rs, upstream's integration
#            tests, are left to `make check` on the released base).  A failure
#            this machine causes (no dummy link type) is reported as such,
#            and only when it is upstream's own test (see unit_report)
#   bats     test/650-bridge-as-gateway.bats and test/651-bridge-gateway-guards.bats
#            of that tree against build/bin-main/netavark
#   (unit and bats run as compare.sh runs its suites: private mount
#   namespace, catatonit, the ip/jq shims on PATH)
# and prints a summary (also build/rebase-main-results/summary.txt).
# Exit status 0 when every patch applied (cleanly or by its recorded
# resolution), the build, every unit test and every bats test passed.
#
# Recorded resolutions: netavark-patch/main-fixups/<patch file name>, one per
# series patch that needs one, a plain diff with a prose header (git apply
# ignores the text before the first "diff --git"; the mechanics are shared
# with tests/upstream/rebase-common.sh, in tests/upstream/fixups-lib.sh):
#   - the patch conflicts: `git am -3` stops; in each conflicted file every
#     conflicting hunk is taken as upstream has it (git merge-file --ours on
#     the three index stages; the patch's other hunks stay applied), the
#     fixup is applied on top, and `git am --continue` commits the result as
#     that patch's commit;
#   - the patch applies but needs a change on main (an API that moved): the
#     fixup is applied on top and amended into the patch's commit.
# So on-main's commits are the series rebased onto main, one commit per
# patch: `git -C build/src/netavark-main format-patch upstream..on-main`.
# A fixup that no longer applies, or a patch that conflicts without one,
# stops the run and says what to do.  Why fixups and not a committed
# git-rerere cache: see README.md, "Working on the series".
#
# Recording: when a patch stops without a recorded resolution, its
# conflicting hunks are left as upstream has them, staged.  Edit the work
# tree files of build/src/netavark-main until they mean what the patch means,
# then `make rebase-main-record`: it writes the unstaged diff, under a header
# whose "Why:" you fill in, to netavark-patch/main-fixups/<patch>.  Run
# `make rebase-main` again (a new tree; the build cache stays warm).
#
# Knobs (environment): CACHE, MAIN_TARGET_DIR, MAIN_TREE, MAIN_BASE_REF
# (v2.1.0), REBASE_MAIN_STOCK: the "netavark without gateway_mode" that
# 650's fail-closed test runs (NETAVARK_STOCK): "main" builds REF's pristine
# tree into $CACHE/main-stock-target (~8 min more, once), a path uses that
# binary, "none" skips that one test; default build/bin/netavark-stock (stock
# 2.1.0, `make rebase-main` builds it) if present.
# REBASE_MAIN_STEPS: "apply" stops after the two applies (for recording).
set -euo pipefail
shopt -s nullglob

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
CACHE=${CACHE:-$HOME/.cache/as-gateway}
MAIN_TARGET_DIR=${MAIN_TARGET_DIR:-$CACHE/main-target}
MAIN_STOCK_TARGET_DIR=${MAIN_STOCK_TARGET_DIR:-$CACHE/main-stock-target}
TREE=${MAIN_TREE:-$root/build/src/netavark-main}
STOCK_TREE=$TREE-stock
BASE_REF=${MAIN_BASE_REF:-v2.1.0}
SERIES=$root/patches/netavark
FIXUPS=$root/netavark-patch/main-fixups
BINDIR=$root/build/bin-main
RESULTS=$root/build/rebase-main-results
BATS_FILES=(test/650-bridge-as-gateway.bats test/651-bridge-gateway-guards.bats)
BATS_FILE_TIMEOUT=${BATS_FILE_TIMEOUT:-1200}
STATE=as-gateway-rebase-state # in $TREE/.git: the patch a stopped `git am` is on
WHY_PLACEHOLDER="TODO: say why this keeps the patch's meaning"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'rebase-on-main.sh: %s\n' "$*" >&2; exit 2; }
# shellcheck source=../../netavark-patch/series-lib.sh
. "$root/netavark-patch/series-lib.sh"
# git_env, am, prepared, fixups_apply_base, fixups_apply, fixups_record, ...
# shellcheck source=fixups-lib.sh
. "$here/fixups-lib.sh"

# ------------------------------------------------------------------ tree
make_tree() {
    local upstream=$1 ref=$2 commit base crate vcs
    git -C "$upstream" rev-parse --git-dir >/dev/null 2>&1 || die "$upstream is not a git repository"
    commit=$(git -C "$upstream" rev-parse --verify --quiet "$ref^{commit}") \
        || die "$upstream has no commit '$ref'"
    base=$(git -C "$upstream" rev-parse --verify --quiet "$BASE_REF^{commit}") \
        || die "$upstream has no tag $BASE_REF (the series' base)"
    # (v2.1.0 is not an ancestor of main: the tag was cut on a side branch
    # that main merged later; git am -3 only needs the blobs, not ancestry.)
    # The crate the series is made on names the commit it was published from.
    crate=$("$root/netavark-patch/tree.sh" fetch)
    vcs=$(tar -xzOf "$crate" "netavark-${BASE_REF#v}/.cargo_vcs_info.json" | jq -r .git.sha1)
    [ "$vcs" = "$base" ] || die "$BASE_REF in $upstream is $base, but the crate was published from $vcs"

    if [ -e "$TREE" ]; then
        [ -e "$TREE/.as-gateway-stamp" ] \
            || die "$TREE exists but this script did not create it; move it away"
        rm -rf "$TREE"
    fi
    mkdir -p "$TREE"
    git -C "$TREE" init -q -b as-gateway-main
    git -C "$TREE" config user.name "as-gateway developer"
    git -C "$TREE" config user.email "as-gateway@localhost"
    git -C "$TREE" config advice.detachedHead false
    git -C "$TREE" fetch -q --no-tags "$upstream" "$commit" "$base"
    git -C "$TREE" tag upstream "$commit"
    git -C "$TREE" tag base "$base"
    : >"$TREE/.as-gateway-stamp"
    echo /.as-gateway-stamp >>"$TREE/.git/info/exclude"
    UPSTREAM_COMMIT=$commit
    UPSTREAM_DESC=$(git -C "$TREE" log -1 --format='%h %cs %s' "$commit")
    say "tree $TREE: upstream $ref = $UPSTREAM_DESC; base $BASE_REF = $(git -C "$TREE" log -1 --format='%h' base) (= the crate's commit)"
}

# ----------------------------------------------------------------- build
build_tree() { # build_tree TREE TARGET_DIR LOG
    (cd "$1" && CARGO_TARGET_DIR=$2 nice -n 10 cargo build --release --locked --bins) </dev/null >"$3" 2>&1
}

# ------------------------------------------------------------------- tests
# tests_inner STOCK: the unit tests and the bats files, inside a private
# mount namespace under catatonit, as tests/upstream/compare.sh runs them (its
# header explains each piece): the placeholder /run/dbus/system_bus_socket
# (else helpers.bash runs netavark rootless), a private /usr/libexec/podman
# and /run/netns, and the ip/jq shims on PATH for both (upstream's
# src/test/netlink.rs runs `ip link add ... type dummy`, which the ip shim
# turns into a veth pair: this kernel has no dummy link type).
SUBREAPER= WORK=
reap() { # kill what the tests left behind, by parent pid (catatonit's)
    local pid stat left=()
    while read -r pid stat; do
        [ "$pid" != $$ ] && [ "${stat#Z}" = "$stat" ] || continue
        left+=("$pid")
    done < <(ps -o pid=,stat= --ppid "$SUBREAPER" 2>/dev/null)
    [ ${#left[@]} -eq 0 ] || kill -9 "${left[@]}" 2>/dev/null || true
}
tests_inner() {
    local stock=$1 f out
    SUBREAPER=$PPID
    WORK=$(mktemp -d /tmp/asgw.XXXXXX) # short: Unix socket paths live under it
    mkdir -p /usr/libexec/podman /run/netns
    mount -t tmpfs -o mode=0755 as-gateway-libexec /usr/libexec/podman
    mount -t tmpfs -o mode=0755 as-gateway-netns /run/netns
    if [ ! -e /run/dbus/system_bus_socket ]; then
        mkdir -p /run/dbus
        mount -t tmpfs -o mode=0755 as-gateway-dbus /run/dbus
        : >/run/dbus/system_bus_socket
    fi
    # aardvark-dns 2.1.0, if compare.sh built it (our two files fake it)
    [ ! -x "$CACHE/aardvark-dns-2.1.0/bin/aardvark-dns" ] \
        || ln -s "$CACHE/aardvark-dns-2.1.0/bin/aardvark-dns" /usr/libexec/podman/aardvark-dns
    # Does this kernel make dummy links?  (The real ip, before the shim.)
    if unshare --net ip link add asgw-probe type dummy >/dev/null 2>&1; then
        echo yes >"$RESULTS/kernel-dummy"
    else
        echo no >"$RESULTS/kernel-dummy"
    fi
    unshare --net sleep infinity </dev/null >/dev/null 2>&1 &
    export AS_GATEWAY_DUMMY_PEER_NETNS_PID=$!
    trap 'kill "$AS_GATEWAY_DUMMY_PEER_NETNS_PID" 2>/dev/null; reap; rm -rf "$WORK"' EXIT
    export PATH="$here/shims:$PATH"

    say "unit tests: cargo test --lib --bins (log $RESULTS/unit.log)"
    (cd "$TREE" && CARGO_TARGET_DIR=$MAIN_TARGET_DIR nice -n 10 \
        cargo test --locked --no-fail-fast --lib --bins) </dev/null >"$RESULTS/unit.log" 2>&1 || true
    reap

    say "bats: ${BATS_FILES[*]} against $BINDIR/netavark"
    for f in "${BATS_FILES[@]}"; do
        out=$RESULTS/bats.$(basename "$f" .bats)
        mkdir -p "$WORK/t"
        (cd "$TREE" && env NETAVARK="$BINDIR/netavark" NETAVARK_STOCK="$stock" \
            NETAVARK_CONNECTION_TESTER="$BINDIR/netavark-connection-tester" \
            NETAVARK_DHCP_PROXY_CLIENT="$BINDIR/netavark-dhcp-proxy-client" TMPDIR="$WORK/t" \
            timeout -k 10 "$BATS_FILE_TIMEOUT" bats --tap "$f") </dev/null >"$out.tap" 2>"$out.err" || true
        rm -rf "$WORK/t"
        reap
    done
}

# unit_report LOG: one line per test binary, "TARGET: P passed, F failed, I
# ignored", then one line per failed test with its class.  A failure is
# "environment" only when this kernel has no dummy link type, the test is
# upstream's (src/test/netlink.rs, which the series does not touch) and it
# failed with EOPNOTSUPP (-95) creating a link: it fails for stock netavark
# on this machine too (make check-upstream).  Sets UNIT_REAL_FAILURES.
unit_report() {
    local log=$1 dummy untouched=no
    dummy=$(cat "$RESULTS/kernel-dummy" 2>/dev/null || echo '?')
    git -C "$TREE" diff --quiet upstream on-main -- src/test/ && untouched=yes
    awk -v dummy="$dummy" -v untouched="$untouched" '
        /^ *Running unittests / { t = $0; sub(/^ *Running unittests /, "", t); sub(/ \(.*$/, "", t); next }
        /^test result: / {
            p = f = g = 0
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed/) p = $(i - 1); if ($(i) ~ /^failed/) f = $(i - 1)
                if ($(i) ~ /^ignored/) g = $(i - 1)
            }
            printf "  %-34s %d passed, %d failed, %d ignored\n", t ":", p, f, g
            next
        }
        /^---- .* stdout ----$/ { name = $2; order[++n] = name; next }
        name != "" && /code: Some\(-95\)/ { eop[name] = 1 }
        /^failures:$/ { name = "" }
        END {
            real = 0
            for (i = 1; i <= n; i++) {
                nm = order[i]
                if (dummy == "no" && untouched == "yes" && nm ~ /^test::netlink::tests::/ && (nm in eop)) {
                    printf "    FAILED %s  [environment: no dummy link type in this kernel (EOPNOTSUPP); fails for stock netavark here too]\n", nm
                } else {
                    printf "    FAILED %s\n", nm; real++
                }
            }
            printf "UNIT_REAL_FAILURES=%d\n", real
        }' "$log"
}

# bats_counts TAP -> "P passed, F failed, S skipped[, M missing] of N"
bats_counts() {
    awk '/^1\.\.[0-9]+/ { plan = substr($0, 4) + 0 }
         /^ok [0-9]+/ { if ($0 ~ / # skip/) s++; else p++ }
         /^not ok [0-9]+/ { f++ }
         END { m = plan - p - f - s
               printf "%d passed, %d failed, %d skipped", p, f, s
               if (m > 0) printf ", %d missing", m
               printf " of %d", plan }' "$1"
}

# ------------------------------------------------------------------- run
cmd_run() {
    local upstream=${1:-} ref=${2:-main} p status=0 stock=${REBASE_MAIN_STOCK:-} t0
    STOCK_DESC=
    [ -n "$upstream" ] || die "usage: $0 run UPSTREAM_GIT [REF]   (make rebase-main UPSTREAM_GIT=...)"
    [ "$(id -u)" = 0 ] || die "needs root (the bats tests make network namespaces)"
    for c in git cargo jq bats catatonit unshare nft ip timeout; do
        command -v "$c" >/dev/null || die "missing command '$c' (make deps-netavark)"
    done
    upstream=$(cd "$upstream" && pwd)
    mapfile -t PATCHES < <(series_patches "$SERIES")
    rm -rf "$RESULTS"
    mkdir -p "$RESULTS"
    git_env
    t0=$(date +%s)

    make_tree "$upstream" "$ref"
    fixups_apply_base "on-$BASE_REF" base "$BASE_REF"
    fixups_apply on-main upstream main || true

    BUILD=skipped UNIT=skipped
    if [ -z "$STOPPED" ] && [ "${REBASE_MAIN_STEPS:-}" != apply ]; then
        say "building $TREE (cargo build --release --bins, CARGO_TARGET_DIR=$MAIN_TARGET_DIR; log $RESULTS/build.log)"
        if build_tree "$TREE" "$MAIN_TARGET_DIR" "$RESULTS/build.log"; then
            BUILD=ok
            mkdir -p "$BINDIR"
            for b in netavark netavark-connection-tester netavark-dhcp-proxy-client; do
                install -m 0755 "$MAIN_TARGET_DIR/release/$b" "$BINDIR/$b"
            done
        else
            BUILD="FAILED (see $RESULTS/build.log)"
            grep -E '^error' -A5 "$RESULTS/build.log" | head -n 40 >&2 || true
        fi
    fi
    if [ "$BUILD" = ok ]; then
        case $stock in
        "")
            stock=
            [ ! -x "$root/build/bin/netavark-stock" ] || stock=$root/build/bin/netavark-stock
            ;;
        none) stock= ;;
        main)
            say "stock netavark at upstream (REBASE_MAIN_STOCK=main): $STOCK_TREE, CARGO_TARGET_DIR=$MAIN_STOCK_TARGET_DIR"
            rm -rf "$STOCK_TREE"
            mkdir -p "$STOCK_TREE"
            git -C "$TREE" archive upstream | tar -x -C "$STOCK_TREE"
            build_tree "$STOCK_TREE" "$MAIN_STOCK_TARGET_DIR" "$RESULTS/build-stock.log" \
                || die "stock build at upstream failed (see $RESULTS/build-stock.log)"
            install -m 0755 "$MAIN_STOCK_TARGET_DIR/release/netavark" "$BINDIR/netavark-stock"
            stock=$BINDIR/netavark-stock
            STOCK_DESC="$stock (stock upstream $(git -C "$TREE" rev-parse --short upstream))"
            ;;
        *) [ -x "$stock" ] || die "REBASE_MAIN_STOCK=$stock is not an executable" ;;
        esac
        [ -n "$stock" ] || STOCK_DESC="none: the fail-closed test of 650 skips"
        [ -n "${STOCK_DESC:-}" ] \
            || STOCK_DESC="$stock ($("$stock" version 2>/dev/null | jq -r .version 2>/dev/null || echo '?'))"
        say "NETAVARK_STOCK: $STOCK_DESC"
        AS_GATEWAY_REBASE_INNER=1 unshare --mount --propagation private -- \
            catatonit -- "$0" _tests "$stock" </dev/null
        if grep -q '^test result: ' "$RESULTS/unit.log"; then
            UNIT=ran
            unit_report "$RESULTS/unit.log" >"$RESULTS/unit.txt"
        else
            UNIT="did not run (see $RESULTS/unit.log)"
        fi
    fi

    # ---------------------------------------------------------- summary
    {
        echo "=== the netavark series on upstream: $UPSTREAM_DESC"
        echo "    (commit $UPSTREAM_COMMIT, from $upstream, ref $ref)"
        fixups_table patches/netavark netavark-patch/main-fixups "$BASE_REF" "$ref"
        if [ -n "$STOPPED" ]; then
            echo "stopped at $STOPPED: $TREE is in the middle of its git am."
            echo "  Its conflicting hunks are staged as upstream has them; edit the work tree until it"
            echo "  means what the patch means (git diff shows your change), then"
            echo "  make rebase-main-record, fill in the 'Why:', and run make rebase-main again."
            status=1
        fi
        echo "build ($MAIN_TARGET_DIR): $BUILD"
        [ "$BUILD" != ok ] && [ -z "$STOPPED" ] && [ "${REBASE_MAIN_STEPS:-}" != apply ] && status=1
        if [ "$UNIT" = ran ]; then
            echo "unit tests (cargo test --lib --bins; $(git -C "$TREE" diff upstream on-main -- src \
                | grep -cE '^\+[[:space:]]*#\[(tokio::)?test\]') of them added by the series):"
            grep -v '^UNIT_REAL_FAILURES=' "$RESULTS/unit.txt"
            grep -qx 'UNIT_REAL_FAILURES=0' "$RESULTS/unit.txt" || status=1
        else
            echo "unit tests: $UNIT"
            [ "$UNIT" = skipped ] || status=1
        fi
        for f in "${BATS_FILES[@]}"; do
            tap=$RESULTS/bats.$(basename "$f" .bats).tap
            [ -f "$tap" ] || continue
            printf 'bats %-36s %s\n' "$(basename "$f"):" "$(bats_counts "$tap")"
            grep -E '^not ok |# skip' "$tap" | sed 's/^/    /' || true
            grep -qE '^not ok ' "$tap" && status=1
            case $(bats_counts "$tap") in *missing*|*" of 0") status=1 ;; esac
        done
        [ -z "${STOCK_DESC:-}" ] || echo "NETAVARK_STOCK: $STOCK_DESC"
        echo "rebased series: git -C $TREE log --oneline upstream..on-main"
        echo "time: $(($(date +%s) - t0))s"
        if [ $status = 0 ]; then echo "RESULT: OK"; else echo "RESULT: FAILED"; fi
    } | tee "$RESULTS/summary.txt"
    grep -q '^RESULT: OK' "$RESULTS/summary.txt"
}

# ------------------------------------------------------------------ record
# The header of a recording names the upstream commits that touched the
# conflicted files since the base.
fixups_header_extra() {
    shift
    echo "Upstream commits that touched them since the base:"
    git -C "$TREE" log --format='  %h %s' base..upstream -- "$@"
}
cmd_record() { fixups_record "netavark main" conflicts "make rebase-main"; }

case "${1:-}" in
run) shift; cmd_run "$@" ;;
record) cmd_record ;;
_tests)
    [ "${AS_GATEWAY_REBASE_INNER:-}" = 1 ] || die "_tests is internal"
    tests_inner "${2:-}"
    ;;
*) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
