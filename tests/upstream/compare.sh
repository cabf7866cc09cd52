#!/usr/bin/env bash
# Upstream regression check: the patched netavark must give exactly the same
# per-test results as stock netavark 2.1.0 on upstream's own test suites, run
# side by side in one job.  New tests (bats files only the patched tree has)
# run on top, against the patched binaries only, and must all pass.
#
# Called by `make check-upstream` after `make netavark`:
#   NETAVARK_TARGET_DIR=... STOCK_TARGET_DIR=... ./tests/upstream/compare.sh
#
# Steps (each timed in the summary):
#   aardvark    build aardvark-dns 2.1.0 from crates.io into the cache (once)
#   cargo       `cargo test --locked --no-fail-fast` in the stock tree and in
#               the patched tree, per-test results parsed from libtest output
#   examples    upstream's example plugins, per tree (bats 500-plugin needs
#               them; `cargo test` has built them already)
#   bats        stock tree's test/*.bats and test-dhcp/*.bats, once with the
#               stock binaries and once with the patched ones (both runs at the
#               same time: every test lives in its own namespaces), TAP parsed
#   rerun       every upstream test whose result differs is re-run once for
#               both binaries; if the re-runs agree it is reported FLAKY (not a
#               failure), otherwise it is a regression
#   new         bats files that only the patched tree has, patched binaries only
# Exit status: 0 when every upstream test has the same result for stock and
# patched (after the flake re-run) and every new test passes; 1 otherwise;
# 2 for a setup problem.  Per-test results: build/upstream-results/.
#
# Results that an environment causes (no dummy/ipvlan/vrf modules, an old
# firewalld, no systemd) are fine as long as stock and patched agree.
#
# Environment shims (test tooling only, never in the patch series):
#   shims/ip          `ip link add ... type dummy` -> a veth pair (no dummy
#                     module here), peer parked in a sink netns, no DAD; on
#                     PATH for the bats and cargo runs.
#   shims/jq          jq 1.7's `.a.[0]` -> jq 1.6's `.a[0]` (Debian 12 has 1.6;
#                     two "two networks" tests use the 1.7 form).
#   catatonit         the whole check runs under `catatonit --`, a child
#                     subreaper: PID 1 on these machines does not reap, so the
#                     aardvark-dns daemons netavark forks and the `sleep inf`
#                     namespace holders the tests kill would stay zombies.
#   mount namespace   the check runs in a private mount namespace in which
#                     /usr/libexec/podman (netavark's default aardvark-dns
#                     path, which the tests rely on) is a tmpfs holding only
#                     our aardvark-dns, and /run/netns (test-dhcp's named
#                     netns) is a tmpfs too.  Nothing leaks to the host (at
#                     most those empty mount-point directories get created),
#                     and when the check ends every namespace goes with it.
#                     helpers.bash decides "rootless" when
#                     /run/dbus/system_bus_socket is missing (no D-Bus here);
#                     we are real root, so a placeholder file is put there (the
#                     tests blank DBUS_SYSTEM_BUS_ADDRESS, nothing connects).
#                     Without it every netavark call runs with --rootless true
#                     and e.g. /run/sysctl.d checks fail.
#
# aardvark-dns: the DNS tests start netavark's default aardvark-dns.  Debian
# 12's package is 1.4.0 (late 2022), many releases older than netavark 2.1,
# whose aardvark config has since gained network- and per-container DNS
# servers; a mismatch there would make the DNS tests test the version skew.
# So we build the release made for it, the aardvark-dns 2.1.0 crate from
# crates.io, with `cargo install --locked` (upstream's own Cargo.lock), check
# the .crate's sha256 against the pin below, and keep the binary in the build
# cache ($CACHE/aardvark-dns-2.1.0): ~2.5 min once on 2 cores (measured), then
# free.  Nothing third-party is committed.
#
# Shared target dirs: cargo fingerprints a path package by paths relative to
# it, so another netavark 2.1.0 tree built into the same target dir leaves
# test binaries that look "fresh" for ours.  run_cargo checks each test
# binary's debuginfo for the tree it must come from and rebuilds netavark's
# own units if not (seen on this machine: a /tmp work tree's binaries).
#
# Debian packages this script needs (bookworm; add to tests/install-deps.sh):
#   bats catatonit iproute2 nftables jq procps util-linux iputils-ping
#   bind9-dnsutils (dig) dbus-daemon firewalld dnsmasq-base protobuf-compiler
# firewalld: upstream's 200-bridge-firewalld.bats starts its own firewalld in
# the test's netns on a private D-Bus; without it all 40 tests of that file
# fail in setup after a 5 s wait each.  Installing it starts nothing (it only
# ships a systemd unit, and there is no systemd).  Debian 12's 1.3.3 is older
# than upstream's CI, so some of its tests fail - identically for both.
#
# Knobs (environment): CACHE, NETAVARK_TARGET_DIR, STOCK_TARGET_DIR,
#   AARDVARK_TARGET_DIR, UPSTREAM_RESULTS (output dir),
#   STOCK_TREE, PATCHED_TREE, BIN (an A/A run: PATCHED_TREE=$STOCK_TREE and a
#   BIN whose unsuffixed binaries are stock ones measures flakiness),
#   UPSTREAM_SKIP_CARGO=1 / UPSTREAM_SKIP_BATS=1 (debugging only),
#   UPSTREAM_BATS_SERIAL=1 (run stock and patched bats one after the other),
#   UPSTREAM_BATS_FILES="250-bridge-nftables.bats ..." (debugging only).
set -euo pipefail
shopt -s nullglob

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

CACHE=${CACHE:-$HOME/.cache/as-gateway}
NETAVARK_TARGET_DIR=${NETAVARK_TARGET_DIR:-$CACHE/netavark-target}
STOCK_TARGET_DIR=${STOCK_TARGET_DIR:-$CACHE/stock-target}
AARDVARK_TARGET_DIR=${AARDVARK_TARGET_DIR:-$CACHE/aardvark-target}
RESULTS=${UPSTREAM_RESULTS:-$root/build/upstream-results}
STOCK_TREE=${STOCK_TREE:-$root/build/src/netavark-stock}
PATCHED_TREE=${PATCHED_TREE:-$root/build/src/netavark}
BIN=${BIN:-$root/build/bin}

AARDVARK_VERSION=2.1.0
AARDVARK_SHA256=9f766fcc7f3d8e35da54bca2afc3339c3ff60c24d380d706fa18187055e5c818
AARDVARK_ROOT=$CACHE/aardvark-dns-$AARDVARK_VERSION
AARDVARK=$AARDVARK_ROOT/bin/aardvark-dns

# Upper bound for one bats file (the suite's own commands time out after 10 s).
BATS_FILE_TIMEOUT=${BATS_FILE_TIMEOUT:-1200}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 2; }

# ------------------------------------------------------------------ outer
# Re-exec once inside a private mount namespace, under catatonit.
if [ "${AS_GATEWAY_UPSTREAM_INNER:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || die "needs root (network namespaces, mounts)"
    for c in cargo bats catatonit unshare nsenter jq nft ip dig ping ps sysctl timeout dnsmasq dbus-daemon firewalld; do
        command -v "$c" >/dev/null || die "missing command '$c' (see the package list at the top of $0)"
    done
    [ -f "$STOCK_TREE/Cargo.toml" ] || die "no stock tree: run make build/src/netavark-stock/.as-gateway-stamp"
    [ -f "$PATCHED_TREE/Cargo.toml" ] || die "no patched tree: run make netavark"
    for b in netavark netavark-connection-tester netavark-dhcp-proxy-client; do
        [ -x "$BIN/$b" ] || die "missing $BIN/$b: run make netavark"
        [ -x "$BIN/$b-stock" ] || die "missing $BIN/$b-stock: run make netavark"
    done
    export AS_GATEWAY_UPSTREAM_INNER=1
    exec unshare --mount --propagation private -- catatonit -- "$0" "$@"
fi

# ------------------------------------------------------------------ inner
# We are catatonit's child.  Orphans of the test suites are re-parented to
# catatonit ($PPID), which reaps them; live leftovers are killed by
# reap_leftovers below, by their parent pid, never by name.
SUBREAPER=$PPID
START=$(date +%s)
declare -a TIMINGS=()
step_start=0
step() { step_start=$(date +%s); say "$*"; }
step_done() { TIMINGS+=("$(printf '%-44s %5ss' "$1" $(($(date +%s) - step_start)))"); }

rm -rf "$RESULTS"
mkdir -p "$RESULTS"/raw
# Scratch space, deliberately short: the firewalld tests put a D-Bus socket
# under $BATS_TMPDIR/netavark_bats.XXXXXX/, and a Unix socket path must fit
# in 108 bytes ("Socket name too long" fails every 200-bridge-firewalld test).
WORK=$(mktemp -d /tmp/asgw.XXXXXX)

reap_leftovers() {
    local pid stat left=()
    while read -r pid stat; do
        [ "$pid" != $$ ] && [ "${stat#Z}" = "$stat" ] || continue # zombies: catatonit reaps them
        left+=("$pid")
    done < <(ps -o pid=,stat= --ppid "$SUBREAPER" 2>/dev/null)
    [ ${#left[@]} -gt 0 ] || return 0
    say "killing ${#left[@]} process(es) the tests left behind:"
    ps -o pid=,args= -p "$(IFS=,; echo "${left[*]}")" >&2 || true
    kill -9 "${left[@]}" 2>/dev/null || true
}
trap 'reap_leftovers' EXIT

# Private mounts: see "mount namespace" above.
mkdir -p /usr/libexec/podman /run/netns
mount -t tmpfs -o mode=0755 as-gateway-libexec /usr/libexec/podman
mount -t tmpfs -o mode=0755 as-gateway-netns /run/netns
if [ ! -e /run/dbus/system_bus_socket ]; then
    mkdir -p /run/dbus
    mount -t tmpfs -o mode=0755 as-gateway-dbus /run/dbus
    : >/run/dbus/system_bus_socket
fi

# The sink netns for the ip shim's veth peers, held by a process of ours.
unshare --net sleep infinity </dev/null >/dev/null 2>&1 &
export AS_GATEWAY_DUMMY_PEER_NETNS_PID=$!
trap 'kill "$AS_GATEWAY_DUMMY_PEER_NETNS_PID" 2>/dev/null; reap_leftovers; rm -rf "$WORK"' EXIT

SHIMS=$here/shims
export PATH="$SHIMS:$PATH"
export TMPDIR=$WORK # bats' BATS_TMPDIR, hence every NETAVARK_TMPDIR

# ------------------------------------------------------------ aardvark-dns
step "aardvark-dns $AARDVARK_VERSION (crates.io, built once into $AARDVARK_ROOT)"
# The stamp records the sha256 of the .crate the cached binary was built from.
stamp=$AARDVARK_ROOT/.as-gateway-crate-sha256
if [ ! -x "$AARDVARK" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$AARDVARK_SHA256" ]; then
    rm -rf "$AARDVARK_ROOT"
    # cargo checks the crate against the crates.io index checksum; we then
    # check it against our pin before the binary is ever used.
    CARGO_TARGET_DIR=$AARDVARK_TARGET_DIR cargo install --quiet --locked \
        --version "=$AARDVARK_VERSION" aardvark-dns --root "$AARDVARK_ROOT" </dev/null \
        || die "cargo install aardvark-dns $AARDVARK_VERSION failed"
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/aardvark-dns-"$AARDVARK_VERSION".crate 2>/dev/null | head -n1)
    if [ -z "$crate" ] || ! echo "$AARDVARK_SHA256  $crate" | sha256sum --check --quiet - >/dev/null 2>&1; then
        rm -rf "$AARDVARK_ROOT"
        die "aardvark-dns-$AARDVARK_VERSION.crate is not sha256 $AARDVARK_SHA256; removed the build"
    fi
    echo "$AARDVARK_SHA256" >"$stamp"
fi
ln -s "$AARDVARK" /usr/libexec/podman/aardvark-dns
"$AARDVARK" --version >&2
step_done "aardvark-dns (cached after first run)"

# ------------------------------------------------------------ cargo tests
# run_cargo VARIANT TREE TARGET_DIR OUT [-- libtest args]
# Writes "result<TAB>cargo<TAB>binary :: test" lines to OUT.tsv.
run_cargo() {
    local variant=$1 tree=$2 target=$3 out=$4
    shift 4
    (cd "$tree" && CARGO_TARGET_DIR=$target cargo test --locked --no-fail-fast "$@") \
        </dev/null >"$out.log" 2>&1 || true
    # Cargo fingerprints a path package by paths relative to the package, so
    # a build of another netavark 2.1.0 tree into the same target dir (another
    # work tree, a series check) looks "fresh" here and its test binaries run
    # instead of this tree's.  Each test binary's debuginfo names the
    # directory it was compiled in: if one does not name $tree, drop
    # netavark's own artifacts (dependencies stay) and run again.
    if [ $# -eq 0 ] && ! cargo_bins_from "$tree" "$out.log"; then
        say "$variant: test binaries in $target were built from another tree; rebuilding netavark's own units"
        (cd "$tree" && CARGO_TARGET_DIR=$target cargo clean --quiet -p netavark --profile dev) </dev/null
        (cd "$tree" && CARGO_TARGET_DIR=$target cargo test --locked --no-fail-fast "$@") \
            </dev/null >"$out.log" 2>&1 || true
        cargo_bins_from "$tree" "$out.log" || die "$variant: $target still holds test binaries of another tree"
    fi
    awk -v OFS='\t' '
        /^ *Running / { bin = $0; sub(/^ *Running /, "", bin); sub(/ \(.*$/, "", bin); next }
        /^ *Doc-tests / { bin = $0; sub(/^ */, "", bin); next }
        /^test .* \.\.\. (ok|FAILED|ignored)/ {
            line = $0; sub(/^test /, "", line)
            res = line; sub(/^.* \.\.\. /, "", res); sub(/[ ,].*$/, "", res)
            name = line; sub(/ \.\.\. (ok|FAILED|ignored).*$/, "", name)
            print res, "cargo", bin " :: " name
        }' "$out.log" >"$out.tsv"
}

# cargo_bins_from TREE LOG: every test binary LOG ran was compiled in TREE.
cargo_bins_from() {
    local bin ok=0
    while read -r bin; do
        [ -f "$bin" ] || continue
        grep -aqP "\\Q$1\\E\\x00" "$bin" || { say "  $bin: not compiled in $1"; ok=1; }
    done < <(sed -nE 's/^ *Running .* \((.*)\)$/\1/p' "$2")
    return $ok
}

if [ "${UPSTREAM_SKIP_CARGO:-}" != 1 ]; then
    step "cargo test --locked in the stock tree ($STOCK_TARGET_DIR)"
    run_cargo stock "$STOCK_TREE" "$STOCK_TARGET_DIR" "$RESULTS/raw/cargo.stock"
    step_done "cargo test, stock (build + run)"
    step "cargo test --locked in the patched tree ($NETAVARK_TARGET_DIR)"
    run_cargo patched "$PATCHED_TREE" "$NETAVARK_TARGET_DIR" "$RESULTS/raw/cargo.patched"
    step_done "cargo test, patched (build + run)"
else
    : >"$RESULTS/raw/cargo.stock.tsv"
    : >"$RESULTS/raw/cargo.patched.tsv"
fi

# ---------------------------------------------------------------- plugins
# TEST_PLUGINS for 500-plugin.bats: upstream's example plugins, built from
# each tree into its own target dir.  `cargo test` already built them (debug),
# so this is a no-op after the cargo step; a release build would recompile
# the library with dev-dependency features (~2.5 min per tree) for nothing.
step "example plugins (cargo build --examples), stock and patched"
(cd "$STOCK_TREE" && CARGO_TARGET_DIR=$STOCK_TARGET_DIR cargo build --quiet --locked --examples)
(cd "$PATCHED_TREE" && CARGO_TARGET_DIR=$NETAVARK_TARGET_DIR cargo build --quiet --locked --examples)
step_done "example plugins, both trees"

# ------------------------------------------------------------- bats tests
# Raw @test names of a file in order (bats' own pattern), for re-running one
# test with --filter: bats filters on the raw name ("$fw_driver - ...") while
# TAP shows the expanded one, so we map by position.
raw_test_names() {
    sed -nE 's/^[[:blank:]]*@test[[:blank:]]+(.*[^[:blank:]])[[:blank:]]+\{.*$/\1/p' "$1" \
        | sed -E 's/^["'\'']//; s/["'\'']$//'
}

# parse_tap SUITE FILE TAPFILE NAMESFILE -> "result<TAB>suite/file<TAB>name<TAB>index"
# Tests the plan announces but TAP never reports (a hang killed by the file
# timeout) are "missing".
parse_tap() {
    local suite=$1 file=$2 tap=$3
    awk -v OFS='\t' -v key="$suite/$file" '
        /^1\.\.[0-9]+/ { plan = substr($0, 4) + 0; next }
        /^(not )?ok [0-9]+/ {
            res = ($1 == "not") ? "not-ok" : "ok"
            line = $0; sub(/^(not )?ok /, "", line)
            idx = line; sub(/ .*$/, "", idx)
            name = line; sub(/^[0-9]+ ?/, "", name)
            if (res == "ok" && name ~ / # skip( |$)/) { res = "skip"; sub(/ # skip( .*)?$/, "", name) }
            seen[idx] = 1
            print res, key, name, idx
        }
        END { for (i = 1; i <= plan; i++) if (!(i in seen)) print "missing", key, "#" i, i }
    ' "$tap"
}

# bats_env VARIANT: the binaries the suites are pointed at
bats_env() {
    case $1 in
    stock) echo "NETAVARK=$BIN/netavark-stock NETAVARK_CONNECTION_TESTER=$BIN/netavark-connection-tester-stock NETAVARK_DHCP_PROXY_CLIENT=$BIN/netavark-dhcp-proxy-client-stock TEST_PLUGINS=$STOCK_TARGET_DIR/debug/examples" ;;
    patched) echo "NETAVARK=$BIN/netavark NETAVARK_STOCK=$BIN/netavark-stock NETAVARK_CONNECTION_TESTER=$BIN/netavark-connection-tester NETAVARK_DHCP_PROXY_CLIENT=$BIN/netavark-dhcp-proxy-client TEST_PLUGINS=$NETAVARK_TARGET_DIR/debug/examples" ;;
    esac
}

# run_bats_file VARIANT SUITE FILE OUTPREFIX [bats args...]
run_bats_file() {
    local variant=$1 suite=$2 file=$3 out=$4
    shift 4
    local dir tmp
    dir=$(dirname "$file")
    tmp=$(mktemp -d "$WORK/${variant:0:1}.XXXXXX")
    # shellcheck disable=SC2046
    (cd "$dir/.." && env $(bats_env "$variant") TMPDIR="$tmp" \
        timeout -k 10 "$BATS_FILE_TIMEOUT" bats --tap "$@" "$file") </dev/null >"$out.tap" 2>"$out.err" || true
    parse_tap "$suite" "$(basename "$file")" "$out.tap"
    rm -rf "$tmp"
}

# run_bats_suite VARIANT LABEL FILES... -> raw/bats.VARIANT.tsv (appends)
run_bats_variant() {
    local variant=$1 f suite
    shift
    for f in "$@"; do
        suite=$(basename "$(dirname "$f")")
        run_bats_file "$variant" "$suite" "$f" "$RESULTS/raw/bats.$variant.$suite.$(basename "$f" .bats)" \
            >>"$RESULTS/raw/bats.$variant.tsv"
    done
}

upstream_bats=()
if [ -n "${UPSTREAM_BATS_FILES:-}" ]; then
    for f in $UPSTREAM_BATS_FILES; do upstream_bats+=("$STOCK_TREE/test/$f"); done
else
    upstream_bats=("$STOCK_TREE"/test/*.bats "$STOCK_TREE"/test-dhcp/*.bats)
fi
: >"$RESULTS/raw/bats.stock.tsv"
: >"$RESULTS/raw/bats.patched.tsv"

if [ "${UPSTREAM_SKIP_BATS:-}" != 1 ]; then
    if [ "${UPSTREAM_BATS_SERIAL:-}" = 1 ]; then
        step "upstream bats (${#upstream_bats[@]} files), stock binaries"
        run_bats_variant stock "${upstream_bats[@]}"
        step_done "upstream bats, stock"
        step "upstream bats (${#upstream_bats[@]} files), patched binaries"
        run_bats_variant patched "${upstream_bats[@]}"
        step_done "upstream bats, patched"
    else
        step "upstream bats (${#upstream_bats[@]} files), stock and patched binaries side by side"
        run_bats_variant stock "${upstream_bats[@]}" &
        stock_pid=$!
        run_bats_variant patched "${upstream_bats[@]}" &
        patched_pid=$!
        wait "$stock_pid" "$patched_pid"
        step_done "upstream bats, stock + patched in parallel"
    fi
    reap_leftovers
fi

# --------------------------------------------------------------- compare
# Join stock and patched results on (suite, name).
join_results() {
    local kind=$1
    awk -F'\t' -v OFS='\t' '
        FNR == NR { k = $2 SUBSEP $3; s[k] = $1; idx[k] = $4; order[++n] = k; next }
        { k = $2 SUBSEP $3; p[k] = $1; if (!(k in s)) { order[++n] = k; idx[k] = $4 } }
        END {
            for (i = 1; i <= n; i++) {
                k = order[i]; if (k in done) continue; done[k] = 1
                split(k, a, SUBSEP)
                print (k in s ? s[k] : "absent"), (k in p ? p[k] : "absent"), a[1], a[2], idx[k]
            }
        }' "$RESULTS/raw/$kind.stock.tsv" "$RESULTS/raw/$kind.patched.tsv"
}
join_results cargo >"$RESULTS/cargo.tsv"
join_results bats >"$RESULTS/bats.tsv"

# Re-run each differing upstream test once for both binaries.
: >"$RESULTS/rerun.tsv"
rerun_needed=$(awk -F'\t' '$1 != $2 && $1 != "absent"' "$RESULTS/cargo.tsv" "$RESULTS/bats.tsv" | wc -l)
if [ "$rerun_needed" -gt 0 ]; then
    step "re-running $rerun_needed differing test(s) once, stock and patched"
    # cargo: libtest --exact filters by full test name in every test binary.
    while IFS=$'\t' read -r s p suite name _; do
        [ "$suite" = cargo ] && [ "$s" != "$p" ] && [ "$s" != absent ] || continue
        tname=${name##* :: }
        for v in stock patched; do
            if [ $v = stock ]; then t=$STOCK_TREE d=$STOCK_TARGET_DIR; else t=$PATCHED_TREE d=$NETAVARK_TARGET_DIR; fi
            run_cargo $v "$t" "$d" "$RESULTS/raw/rerun.cargo.$v" -- --exact "$tname"
        done
        r_s=$(awk -F'\t' -v n="$name" '$3 == n { print $1 }' "$RESULTS/raw/rerun.cargo.stock.tsv")
        r_p=$(awk -F'\t' -v n="$name" '$3 == n { print $1 }' "$RESULTS/raw/rerun.cargo.patched.tsv")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$p" "${r_s:-absent}" "${r_p:-absent}" "$suite" "$name" >>"$RESULTS/rerun.tsv"
    done <"$RESULTS/cargo.tsv"
    # bats: --filter on the raw name at the same position, anchored, escaped.
    while IFS=$'\t' read -r s p key name idx; do
        [ "$s" != "$p" ] && [ "$s" != absent ] || continue
        file=$STOCK_TREE/$key
        raw=$(raw_test_names "$file" | sed -n "${idx}p")
        re=$(printf '%s' "$raw" | sed -E 's/[][\\.^$*+?(){}|]/\\&/g')
        n_rerun=$((${n_rerun:-0} + 1))
        for v in stock patched; do
            run_bats_file $v "$(dirname "$key")" "$file" "$RESULTS/raw/rerun.$n_rerun.$v" --filter "^$re\$" \
                | awk -F'\t' '{ print $1 }' | head -n1 >"$WORK/rerun.bats.$v.result"
        done
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$p" "$(cat "$WORK/rerun.bats.stock.result")" \
            "$(cat "$WORK/rerun.bats.patched.result")" "$key" "$name" >>"$RESULTS/rerun.tsv"
        reap_leftovers
    done <"$RESULTS/bats.tsv"
    step_done "re-run of differing tests"
fi

# -------------------------------------------------------------- new tests
new_bats=()
modified_upstream=()
for f in "$PATCHED_TREE"/test/*.bats "$PATCHED_TREE"/test-dhcp/*.bats; do
    rel=${f#"$PATCHED_TREE"/}
    if [ ! -e "$STOCK_TREE/$rel" ]; then
        new_bats+=("$f")
    elif ! cmp -s "$f" "$STOCK_TREE/$rel"; then
        modified_upstream+=("$rel")
    fi
done
for f in "$PATCHED_TREE"/test/helpers.bash "$PATCHED_TREE"/test-dhcp/helpers.bash; do
    rel=${f#"$PATCHED_TREE"/}
    cmp -s "$f" "$STOCK_TREE/$rel" || modified_upstream+=("$rel")
done
: >"$RESULTS/raw/new.patched.tsv"
if [ ${#new_bats[@]} -gt 0 ] && [ "${UPSTREAM_SKIP_BATS:-}" != 1 ]; then
    step "new bats files of the patched tree (${#new_bats[@]}), patched binaries"
    for f in "${new_bats[@]}"; do
        suite=$(basename "$(dirname "$f")")
        run_bats_file patched "new-$suite" "$f" "$RESULTS/raw/new.patched.$suite.$(basename "$f" .bats)" \
            >>"$RESULTS/raw/new.patched.tsv"
    done
    reap_leftovers
    step_done "new bats tests, patched"
fi

# ---------------------------------------------------------------- summary
counts() { # counts TSV COLUMN -> "pass fail skip [other]"
    awk -F'\t' -v c="$2" '
        { r = $c }
        r == "ok" { ok++ } r == "FAILED" || r == "not-ok" { bad++ }
        r == "ignored" || r == "skip" { sk++ }
        r == "missing" { miss++ }
        END { printf "%4d pass %4d fail %4d skip", ok, bad, sk; if (miss) printf " %d missing", miss }' "$1"
}
summary=$RESULTS/summary.txt
status=0
{
    echo "=== upstream suites: stock netavark 2.1.0 vs patched ($(git -C "$PATCHED_TREE" rev-list --count upstream..HEAD 2>/dev/null || echo '?') commit(s) on top)"
    printf '%-26s %-36s %s\n' suite stock patched
    for kind in cargo bats; do
        [ -s "$RESULTS/$kind.tsv" ] || continue
        for suite in $(cut -f3 "$RESULTS/$kind.tsv" | sed 's,/.*,,' | sort -u); do
            awk -F'\t' -v s="$suite" '{ split($3, a, "/") } a[1] == s' "$RESULTS/$kind.tsv" >"$WORK/suite.tsv"
            label=$suite
            [ "$kind" = cargo ] && label="cargo test"
            [ "$kind" = bats ] && label="bats $suite/"
            printf '%-26s %-36s %s\n' "$label ($(wc -l <"$WORK/suite.tsv"))" "$(counts "$WORK/suite.tsv" 1)" "$(counts "$WORK/suite.tsv" 2)"
        done
    done

    for v in stock patched; do
        if grep -q '^error: could not compile' "$RESULTS/raw/cargo.$v.log" 2>/dev/null; then
            echo "cargo test: the $v tree does not compile its tests (see $RESULTS/raw/cargo.$v.log)"
            status=1
        fi
    done
    diffs=$(awk -F'\t' '$1 != $2 && $1 != "absent"' "$RESULTS/cargo.tsv" "$RESULTS/bats.tsv")
    if [ -z "$diffs" ]; then
        echo "differences: none - every upstream test has the same result with both binaries"
    else
        echo "differences (stock -> patched):"
        while IFS=$'\t' read -r s p suite name _; do
            again=$(awk -F'\t' -v k="$suite" -v n="$name" '$5 == k && $6 == n { print $3 " -> " $4 }' "$RESULTS/rerun.tsv")
            r_s=${again%% -> *} r_p=${again##* -> }
            if [ -n "$again" ] && [ -n "$r_s" ] && [ "$r_s" = "$r_p" ]; then
                verdict="FLAKY: re-run gave $again (not counted as a regression)"
            else
                verdict="REGRESSION${again:+ (re-run: $again)}"
                status=1
            fi
            printf '  %-8s -> %-8s %s: %s  [%s]\n' "$s" "$p" "$suite" "$name" "$verdict"
        done <<<"$diffs"
    fi

    # Unit tests only the patched tree has: new tests, they must pass.
    awk -F'\t' -v OFS='\t' '$1 == "absent" { print $2, $3, $4 }' "$RESULTS/cargo.tsv" >"$WORK/newcargo.tsv"
    if [ -s "$WORK/newcargo.tsv" ]; then
        printf '%-26s %-36s %s\n' "new cargo tests ($(wc -l <"$WORK/newcargo.tsv"))" "-" "$(counts "$WORK/newcargo.tsv" 1)"
        awk -F'\t' '$1 != "ok" { printf "  %-8s %s: %s\n", $1, $2, $3 }' "$WORK/newcargo.tsv"
        if awk -F'\t' '$1 == "FAILED" { bad = 1 } END { exit !bad }' "$WORK/newcargo.tsv"; then
            echo "new cargo tests: FAILURES (they must all pass)"
            status=1
        fi
    fi
    if [ "${UPSTREAM_SKIP_BATS:-}" = 1 ]; then
        echo "bats: skipped (UPSTREAM_SKIP_BATS=1)"
    elif [ ${#new_bats[@]} -gt 0 ]; then
        printf '%-26s %-36s %s\n' "new bats ($(wc -l <"$RESULTS/raw/new.patched.tsv"))" "-" "$(counts "$RESULTS/raw/new.patched.tsv" 1)"
        awk -F'\t' '$1 != "ok" { printf "  %-8s %s: %s\n", $1, $2, $3 }' "$RESULTS/raw/new.patched.tsv"
        if awk -F'\t' '$1 == "not-ok" || $1 == "missing" { bad = 1 } END { exit !bad }' "$RESULTS/raw/new.patched.tsv"; then
            echo "new tests: FAILURES (they must all pass)"
            status=1
        fi
        if [ ! -s "$RESULTS/raw/new.patched.tsv" ]; then
            echo "new tests: none ran (bats output in $RESULTS/raw/new.patched.*)"
            status=1
        fi
    else
        echo "new bats files: none in the patched tree"
    fi
    if [ ${#modified_upstream[@]} -gt 0 ]; then
        echo "warning: the patched tree changes upstream test files (upstream's versions were run; put new tests in new files):"
        printf '  %s\n' "${modified_upstream[@]}"
    fi
    echo "timings:"
    printf '  %s\n' "${TIMINGS[@]}"
    printf '  %-44s %5ss\n' "total" $(($(date +%s) - START))
    if [ $status = 0 ]; then echo "RESULT: OK"; else echo "RESULT: FAILED"; fi
} | tee "$summary"
# status is set inside the pipeline's subshell: recompute from the summary.
grep -q '^RESULT: OK' "$summary" || status=1

# Per-test result files (tab-separated): stock patched suite name [index]
#   cargo.tsv, bats.tsv, rerun.tsv (stock patched rerun-stock rerun-patched ...),
#   raw/new.patched.tsv, raw/*.log|tap|err for every run.
exit $status
