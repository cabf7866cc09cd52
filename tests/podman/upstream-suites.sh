#!/usr/bin/env bash
# Run podman's OWN test suites, the parts our podman series touches, against
# the as-gateway podman (build/bin/podman + build/bin/netavark):
#
#   e2e   the ginkgo suite test/e2e, built with `go test -c` from a copy of
#         build/src/podman (same modfile and build tags as `make podman`),
#         focused on: every spec of network_connect_disconnect_test.go, the
#         as_gateway spec of run_networking_test.go, the network/container
#         inspect specs of network_test.go and inspect_test.go, and the
#         Quadlet "Network as gateway" case.
#   bats  the system tests test/system/500-networking.bats, filtered to the
#         network connect/disconnect and inspect cases (see BATS_FILTER).
#
#   stock the same EXISTING specs and cases (the series' new ones left
#         out) against stock podman (built from the tree's `upstream`
#         commit with its own go.mod, cached) and stock netavark
#         (build/bin/netavark-stock): they pass without our series too.
#
#   tests/podman/upstream-suites.sh [e2e] [bats] [stock]
#         default: e2e bats; `stock` alone: e2e bats stock
#
# Both run in a podman-env sandbox of their own (AS_GATEWAY_PODMAN_STATE),
# in a private mount namespace whose /etc is an overlay
# (tests/podman/upstream-suites/in-etc-overlay.sh): nothing is written to
# the machine's /etc.  The suites run from a throwaway copy of the tree
# (`git archive HEAD`); build/src/podman is only read.  The few local
# adaptations are made by this script on the copy and printed as a diff,
# each with its reason; a failing spec or case fails the script.  At the end
# the sandbox is torn down and the script checks that no bridge of ours, no
# nftables rule for our subnets and nothing in /etc is left on the host.
#
# Knobs (environment):
#   AS_GATEWAY_PODMAN_STATE  sandbox + work dir, removed at the end
#                            (default /var/tmp/as-gateway/podman-upstream-suites)
#   SUITES_NET               first two octets of the /16 the suites may use
#                            (default 10.220): default network .0.0/24; the
#                            specs' fixed subnets 10.11.N, 10.25.N, 10.50.N
#                            become .N (N < 128); auto-allocation
#                            .128.0/18; bats' random_rfc1918_subnet .192-.255
#   SUITES_BRIDGE_PREFIX     bridge name prefix, at most 9 characters
#                            (default asgwus)
#   CACHE                    test binaries are cached under
#                            $CACHE/podman-upstream-suites (default
#                            ~/.cache/as-gateway), keyed by the trees' commits
#   BATS_FILTER              regex of bats case names (default below)
#   BATS_FILTER_STOCK        the same for the stock pass
#   VERBOSE=1                also print the adaptations' diff (always
#                            written to $CACHE/podman-upstream-suites/logs)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/podman/upstream-suites
export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-upstream-suites}
STATE=$AS_GATEWAY_PODMAN_STATE
CACHE=${CACHE:-$HOME/.cache/as-gateway}
SUITES_NET=${SUITES_NET:-10.220}
SUITES_BRIDGE_PREFIX=${SUITES_BRIDGE_PREFIX:-asgwus}
PODMAN_BIN=${AS_GATEWAY_PODMAN_BIN:-$root/build/bin/podman}
PODMAN_TREE=$root/build/src/podman
COMMON_TREE=$root/build/src/container-libs-common
MODFILE=$root/build/podman-modfile/go.mod
BUILDTAGS="grpcnotrace seccomp libsqlite3 exclude_graphdriver_btrfs containers_image_openpgp"
ENV=$root/podman-patch/podman-env
WORK=$STATE/suites
SRC=$WORK/src
LOGDIR=$CACHE/podman-upstream-suites/logs
BATS_FILTER=${BATS_FILTER:-network connect|network inspect running containers|inspect list networks|setup order is deterministic}
# the same without the series' new case (for the stock pass)
BATS_FILTER_STOCK=${BATS_FILTER_STOCK:-network connect/disconnect|network inspect running containers|inspect list networks|setup order is deterministic}
export SUITES_NET SUITES_BRIDGE_PREFIX SUITES_WORK=$WORK SUITES_ROOT=$root

say() { printf '==> %s\n' "$*"; }
die() { printf 'upstream-suites: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (rootful podman)"
[[ $SUITES_NET =~ ^[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "SUITES_NET=$SUITES_NET: want two octets, e.g. 10.220"
[[ $SUITES_BRIDGE_PREFIX =~ ^[a-z][a-z0-9]{0,8}$ ]] \
    || die "SUITES_BRIDGE_PREFIX=$SUITES_BRIDGE_PREFIX: want 1-9 of [a-z0-9] (bridge names are <= 15 chars)"
[ -x "$PODMAN_BIN" ] || die "$PODMAN_BIN missing: make podman"
[ -f "$MODFILE" ] || die "$MODFILE missing: make podman"
[ -x "$root/build/bin/netavark" ] || die "build/bin/netavark missing: make netavark"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(e2e bats)
[ "${suites[*]}" != stock ] || suites=(e2e bats stock)
for s in "${suites[@]}"; do
    case $s in e2e|bats|stock) ;; *) die "unknown argument '$s' (want e2e, bats, stock)" ;; esac
done
want() { [[ " ${suites[*]} " == *" $1 "* ]]; }

# shellcheck source=../debian-packages.sh
. "$root/tests/debian-packages.sh"
install_debian_packages "podman upstream suites" \
    "bats:runs podman's system tests (test/system)" \
    "jq:reads the e2e suite's JSON report" \
    "curl:500-networking.bats fetches from containers' published ports" \
    "openssl:the bats suite's setup_suite generates TLS certificates"
for tool in bats jq curl openssl go; do
    command -v "$tool" >/dev/null || die "$tool missing"
done

t0=$(date +%s)
etc_containers_before=$([ -e /etc/containers ] && echo yes || echo no)
own_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^${SUITES_BRIDGE_PREFIX}" || true; }
[ -z "$(own_links)" ] || die "links named ${SUITES_BRIDGE_PREFIX}* exist already: $(own_links | tr '\n' ' ')(another run? pick SUITES_BRIDGE_PREFIX)"

cleanup() {
    local rc=$? leaked leak=0
    "$ENV" --teardown >/dev/null 2>&1 || true
    leaked=$(own_links)
    if [ -n "$leaked" ]; then
        printf 'upstream-suites: LEAK: links left on the host: %s (deleted)\n' "$(echo "$leaked" | tr '\n' ' ')" >&2
        for l in $leaked; do ip link del "$l" 2>/dev/null || true; done
        leak=1
    fi
    # netavark's nftables rules live in the host netns too
    if nft list ruleset 2>/dev/null | grep -qE "(^|[^0-9])${SUITES_NET//./\\.}\\."; then
        echo "upstream-suites: LEAK: nftables rules for $SUITES_NET.0.0/16 left on the host (nft list ruleset)" >&2
        leak=1
    fi
    if [ "$etc_containers_before" = no ] && [ -e /etc/containers ]; then
        echo "upstream-suites: LEAK: /etc/containers appeared on the host" >&2
        leak=1
    fi
    say "cleanup: sandbox $STATE torn down; checked: no ${SUITES_BRIDGE_PREFIX}* link, no nftables rule for $SUITES_NET.0.0/16, nothing new in /etc$([ $leak = 0 ] || echo ': LEAKS above')"
    [ $leak = 0 ] || rc=1
    say "total time: $(( $(date +%s) - t0 ))s"
    exit $rc
}
# A state dir left by an interrupted run: start clean.
[ ! -e "$STATE" ] || "$ENV" --teardown >/dev/null 2>&1 || true
trap cleanup EXIT
mkdir -p "$WORK" "$LOGDIR"

# in_overlay CMD [ARGS]: CMD in the sandbox, in a mount namespace of its own
# whose /etc is the overlay (upper dir kept in $WORK between calls)
in_overlay() {
    "$ENV" --exec unshare --mount --propagation slave -- "$here/in-etc-overlay.sh" "$@"
}

# ------------------------------------------------------------ the copy
say "copy of build/src/podman at $(git -C "$PODMAN_TREE" rev-parse --short HEAD) ($(git -C "$PODMAN_TREE" log --oneline upstream..HEAD | wc -l) commits on upstream) in $SRC"
mkdir -p "$SRC"
git -C "$PODMAN_TREE" archive HEAD | tar -x -C "$SRC"

# adapt FILE WHY SED-SCRIPT: edit the copy, refusing a no-op (upstream moved)
adapt() {
    local file=$1 why=$2 expr=$3
    sed -i -e "$expr" "$SRC/$file"
    if git -C "$PODMAN_TREE" show "HEAD:$file" | cmp -s - "$SRC/$file"; then
        die "adaptation no longer applies to $file ($expr): update tests/podman/upstream-suites.sh"
    fi
    printf '    %-45s %s\n' "$file" "$why"
}

say "local adaptations (host network namespace shared with other sandboxes; no registry):"
if want e2e; then
    cp "$here/asgw_local_test.go" "$SRC/test/e2e/"
    printf '    %-45s %s\n' "test/e2e/asgw_local_test.go (new)" "asgwBridge(): unique bridge names ${SUITES_BRIDGE_PREFIX}eN"
    for f in network_connect_disconnect_test.go network_test.go inspect_test.go run_networking_test.go; do
        [ "$f" = inspect_test.go ] && continue # creates no network in the focused specs
        adapt "test/e2e/$f" "network create gets --interface-name asgwBridge()" \
            's/"network", "create", /"network", "create", "--interface-name", asgwBridge(), /'
    done
    adapt test/e2e/network_connect_disconnect_test.go "subnets 10.11.N.0/24 -> $SUITES_NET.N.0/24" \
        "s/\\b10\\.11\\./$SUITES_NET./g"
    adapt test/e2e/network_test.go "subnets 10.50.N.x -> $SUITES_NET.N.x" \
        "s/\\b10\\.50\\./$SUITES_NET./g"
    adapt test/e2e/run_networking_test.go "subnets 10.25.N.0/24 -> $SUITES_NET.N.0/24" \
        "s/\\b10\\.25\\./$SUITES_NET./g"
    if grep -qE "\b${SUITES_NET//./\\.}\.(12[89]|1[3-9][0-9]|2[0-9][0-9])\." "$SRC"/test/e2e/{network_connect_disconnect,network,run_networking}_test.go; then
        die "a fixed e2e subnet maps into $SUITES_NET.128.0/17 (auto-allocation, bats): update tests/podman/upstream-suites.sh"
    fi
fi
if want bats; then
    cat "$here/bats-local.bash" >> "$SRC/test/system/helpers.network.bash"
    printf '    %-45s %s\n' "test/system/helpers.network.bash" \
        "random_rfc1918_subnet -> $SUITES_NET.192-255 (not 172.16/12); asgw_bridge() added"
    # shellcheck disable=SC2016 # $(asgw_bridge) is for bats, not here
    adapt test/system/500-networking.bats "network create gets --interface-name \$(asgw_bridge)" \
        's/run_podman network create /run_podman network create --interface-name $(asgw_bridge) /'
    adapt test/system/helpers.bash "openssl req: drop -quiet (Debian 12's OpenSSL 3.0 rejects it)" \
        '/^    -quiet \\$/d'
fi
# The whole diff goes to a file; the terminal gets its changed lines.
for f in $(cd "$SRC" && find test -newer "$SRC/go.mod" -type f | sort); do
    if git -C "$PODMAN_TREE" cat-file -e "HEAD:$f" 2>/dev/null; then
        git -C "$PODMAN_TREE" show "HEAD:$f" | diff -u --label "a/$f" --label "b/$f" - "$SRC/$f" || true
    else
        diff -u --label /dev/null --label "b/$f" /dev/null "$SRC/$f" || true
    fi
done > "$LOGDIR/adaptations.diff"
say "the adaptations as a diff: $LOGDIR/adaptations.diff ($(grep -c '^[-+][^-+]' "$LOGDIR/adaptations.diff") lines changed)"
[ "${VERBOSE:-0}" = 0 ] || sed 's/^/    | /' "$LOGDIR/adaptations.diff"

# --------------------------------------------------------------- build
BINDIR=
if want e2e; then
    key=$( {
        git -C "$PODMAN_TREE" rev-parse HEAD
        git -C "$COMMON_TREE" rev-parse HEAD; git -C "$COMMON_TREE" status --porcelain
        cat "$MODFILE" "$here"/* "$0"; go version; echo "$BUILDTAGS"
    } | sha256sum | cut -c1-16)
    BINDIR=$CACHE/podman-upstream-suites/bin-$key
    if [ -x "$BINDIR/e2e.test" ] && [ -x "$BINDIR/quadlet" ]; then
        say "e2e test binary and quadlet: cached ($BINDIR)"
    else
        say "building the e2e test binary and quadlet from the copy (tags: $BUILDTAGS)"
        tb=$(date +%s)
        rm -rf "$CACHE"/podman-upstream-suites/bin-*
        mkdir -p "$BINDIR.tmp"
        ( cd "$SRC" && export GOWORK=off CGO_ENABLED=1 &&
          nice go test -c -modfile="$MODFILE" -mod=readonly -trimpath -buildvcs=false \
              -tags "$BUILDTAGS" -o "$BINDIR.tmp/e2e.test" ./test/e2e &&
          nice go build -modfile="$MODFILE" -mod=readonly -trimpath -buildvcs=false \
              -tags "$BUILDTAGS" -o "$BINDIR.tmp/quadlet" ./cmd/quadlet )
        mv "$BINDIR.tmp" "$BINDIR"
        say "built in $(( $(date +%s) - tb ))s"
    fi
fi

# -------------------------------------------------------------- images
# `bottle` (busybox-static, tests/podman/images.sh) stands in for the
# suites' registry images, which cannot be pulled here.
say "images (no registry here): bottle (busybox-static, tests/podman/images.sh) is quay.io/libpod/alpine:latest (e2e);"
say "    bottle plus a /bin/busybox-extras -> busybox link is quay.io/libpod/testimage:20241011 (bats; 500-networking.bats runs busybox-extras httpd)"
out=$("$root/tests/podman/images.sh" bottle 2>&1) || { echo "$out"; die "tests/podman/images.sh bottle failed"; }
mkdir -p "$WORK/e2e-images"
if want e2e; then
    "$ENV" tag bottle quay.io/libpod/alpine:latest
    # imageTarPath(): $PODMAN_TEST_IMAGE_CACHE_DIR/<name with / and : as ->.tar
    "$ENV" save -q -o "$WORK/e2e-images/quay.io-libpod-alpine-latest.tar" quay.io/libpod/alpine:latest
fi
if want bats; then
    # 500-networking.bats runs `/bin/busybox-extras httpd`: testimage has it
    "$ENV" run --network none --name asgw-suites-testimage bottle ln -s busybox /bin/busybox-extras
    "$ENV" commit -q asgw-suites-testimage quay.io/libpod/testimage:20241011 >/dev/null
    "$ENV" rm asgw-suites-testimage >/dev/null
    "$ENV" save -q -o "$WORK/testimage.tar" quay.io/libpod/testimage:20241011
fi

failed=0
# sh -c "$CD_EXEC" sh DIR CMD [ARGS]: CMD in DIR
# shellcheck disable=SC2016 # expanded by that sh
CD_EXEC='cd "$1" && shift && exec "$@"'

# run_e2e LABEL PODMAN QUADLET [GINKGO ARGS]: the focused e2e specs
E2E_FOCUS=(
    'Podman network connect and disconnect'
    'podman run --network NET:as_gateway=true'
    'Podman network podman network inspect'
    'Podman network podman inspect container'
    'Podman inspect podman inspect network'
    'Podman inspect Verify (stopped )?container .*has default network'
    'Quadlet Network as gateway'
)
run_e2e() {
    local label=$1 podman=$2 quadlet=$3 rc=0 f
    shift 3
    local log=$LOGDIR/e2e-$label.log report=$WORK/e2e-$label.json args=()
    for f in "${E2E_FOCUS[@]}"; do args+=(-ginkgo.focus "$f"); done
    say "e2e ($label): $podman"
    say "e2e ($label): focus: $(printf '/%s/ ' "${E2E_FOCUS[@]}") $*; full log in $log"
    mkdir -p "$WORK/e2e-tmp"
    in_overlay env TMPDIR="$WORK/e2e-tmp" \
        PODMAN_BINARY="$podman" QUADLET_BINARY="$quadlet" \
        OCI_RUNTIME=runc CGROUP_MANAGER=cgroupfs CONMON_BINARY=/usr/bin/conmon \
        PODMAN_TEST_IMAGE_CACHE_DIR="$WORK/e2e-images" NO_TEST_CACHE=1 \
        sh -c "$CD_EXEC" sh "$SRC/test/e2e" \
        "$BINDIR/e2e.test" -test.timeout 20m -ginkgo.v -ginkgo.no-color \
        -ginkgo.json-report "$report" "${args[@]}" "$@" >"$log" 2>&1 || rc=$?
    if [ ! -s "$report" ]; then
        tail -n 40 "$log"
        echo "e2e ($label): no report (exit $rc)"
        return 1
    fi
    # selected = passed, failed, or skipped by Skip() at run time (a message);
    # specs left out by the focus are "skipped" without one
    jq -r '.[0].SpecReports[] | select(.LeafNodeType == "It")
           | select(.State != "skipped" or (.Failure.Message // "") != "")
           | [ (if .State == "passed" then "ok  " elif .State == "skipped" then "SKIP" else "FAIL" end),
               ((.ContainerHierarchyTexts + [.LeafNodeText]) | join(" / ")),
               (if .State == "skipped" then "(" + .Failure.Message + ")" else "" end) ]
           | join(" ")' "$report" | sed 's/^/    /'
    local summary
    summary=$(jq -r '[.[0].SpecReports[] | select(.LeafNodeType == "It")] as $s
        | "\([$s[] | select(.State == "passed")] | length) passed, \([$s[] | select(.State != "passed" and .State != "skipped" and .State != "pending")] | length) failed, \([$s[] | select(.State == "skipped" and (.Failure.Message // "") != "")] | length) skipped at run time (\([$s[] | select(.State == "skipped" and (.Failure.Message // "") == "")] | length) not selected)"' "$report")
    say "e2e ($label): $summary; ginkgo exit $rc"
    if [ "$rc" != 0 ]; then
        grep -n -A15 '\[FAILED\]' "$log" | grep -v '  Running: ' | head -n 80 | sed 's/^/    /'
        return 1
    fi
    jq -e '[.[0].SpecReports[] | select(.LeafNodeType == "It" and .State == "passed")] | length > 0' "$report" >/dev/null \
        || { echo "e2e ($label): no spec passed: the focus matched nothing?"; return 1; }
}

# run_bats LABEL PODMAN FILTER: the filtered 500-networking.bats cases
run_bats() {
    local label=$1 podman=$2 filter=$3 rc=0
    local log=$LOGDIR/bats-$label.log
    say "bats ($label): $podman"
    say "bats ($label): 500-networking.bats --filter '$filter'; full log in $log"
    rm -rf "$WORK/storage"  # the bats store: a fresh one for each pass
    mkdir -p "$WORK/bats-tmp"
    in_overlay "$podman" load -q -i "$WORK/testimage.tar" >/dev/null
    in_overlay env TMPDIR="$WORK/bats-tmp" PODMAN="$podman" \
        sh -c "$CD_EXEC" sh "$SRC/test/system" \
        bats --tap --filter "$filter" 500-networking.bats >"$log" 2>&1 || rc=$?
    grep -E '^(ok|not ok) ' "$log" | sed 's/^/    /'
    local ok notok skip
    ok=$(grep -cE '^ok [0-9]+ ' "$log" || true)
    skip=$(grep -cE '^ok [0-9]+ .*# skip' "$log" || true)
    notok=$(grep -cE '^not ok ' "$log" || true)
    say "bats ($label): $(( ok - skip )) passed, $notok failed, $skip skipped; bats exit $rc"
    if [ "$rc" != 0 ] || [ "$notok" != 0 ]; then
        grep -vE '^(ok|not ok) ' "$log" | tail -n 60 | sed 's/^/    /'
        return 1
    fi
    [ $(( ok - skip )) -gt 0 ] || { echo "bats ($label): no case passed: the filter matched nothing?"; return 1; }
}

say "not run here (environment): bats 'podman network create' (Debian busybox-static's nc has no -n/-v, so its listener container exits; testimage's has them); the '- pasta forwarder' variants skip themselves (rootless only)"
if want e2e; then run_e2e patched "$PODMAN_BIN" "$BINDIR/quadlet" || failed=1; fi
if want bats; then run_bats patched "$PODMAN_BIN" "$BATS_FILTER" || failed=1; fi

# The same EXISTING specs and cases (the series' new ones left out) against
# stock podman (the tree's `upstream` commit, built with its own go.mod,
# i.e. stock go.podman.io/common) and stock netavark: they pass there too.
if want stock; then
    upstream=$(git -C "$PODMAN_TREE" rev-parse upstream)
    stockdir=$CACHE/podman-upstream-suites/stock-$(printf '%s %s %s' "$upstream" "$(go version)" "$BUILDTAGS" | sha256sum | cut -c1-16)
    if [ -x "$stockdir/podman" ]; then
        say "stock podman: cached ($stockdir/podman)"
    else
        say "building stock podman from the tree's upstream commit ${upstream:0:12}"
        rm -rf "$CACHE"/podman-upstream-suites/stock-* "$WORK/stock-src"
        mkdir -p "$WORK/stock-src" "$stockdir.tmp"
        git -C "$PODMAN_TREE" archive "$upstream" | tar -x -C "$WORK/stock-src"
        ( cd "$WORK/stock-src" && GOWORK=off CGO_ENABLED=1 nice go build -mod=readonly -trimpath -buildvcs=false \
              -tags "$BUILDTAGS" -o "$stockdir.tmp/podman" ./cmd/podman )
        mv "$stockdir.tmp" "$stockdir"
    fi
    export AS_GATEWAY_NETAVARK=$root/build/bin/netavark-stock
    [ -x "$AS_GATEWAY_NETAVARK" ] || die "$AS_GATEWAY_NETAVARK missing: make netavark"
    if want e2e; then
        # the series' new specs: the It()/Entry() names its commits add
        # shellcheck disable=SC2016 # sed, not shell
        local_new=$(git -C "$PODMAN_TREE" diff upstream..HEAD -- test/e2e \
            | sed -n -E 's/^\+[[:space:]]*(It|Entry)\("([^"]+)".*/\2/p' \
            | sed -e 's/[][\.*^$()+?{}|]/\\&/g' | paste -sd'|')
        [ -n "$local_new" ] || die "found no new e2e spec in the series: nothing to leave out of the stock pass?"
        say "e2e (stock): leaving out the series' new specs: $local_new"
        run_e2e stock "$stockdir/podman" /nonexistent -ginkgo.skip "$local_new" || failed=1
    fi
    if want bats; then
        git -C "$PODMAN_TREE" diff upstream..HEAD -- test/system \
            | sed -n -E 's/^\+@test "([^"]+)".*/\1/p' | while read -r t; do
                ! grep -qE -- "$BATS_FILTER_STOCK" <<<"$t" \
                    || die "BATS_FILTER_STOCK selects the series' new case '$t'"
            done
        run_bats stock "$stockdir/podman" "$BATS_FILTER_STOCK" || failed=1
    fi
fi

[ "$failed" = 0 ] || die "FAILED (logs in $LOGDIR)"
say "upstream suites: all selected specs and cases passed"
