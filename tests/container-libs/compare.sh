#!/usr/bin/env bash
# container-libs' own libnetwork tests, stock vs patched, side by side.
#
#   tests/container-libs/compare.sh
#
# Runs `go test ./libnetwork/...` (upstream's Go tests and the ginkgo suite
# libnetwork/netavark, which runs the real netavark in network namespaces) in
#   stock    build/src/container-libs-common-stock: `git archive upstream` of
#            the patched tree, i.e. go.podman.io/common exactly as pinned
#   patched  build/src/container-libs-common (the series applied)
# both against OUR patched build/bin/netavark (the netavark podman would use).
# Every test and ginkgo spec that passes on stock must pass on patched, and
# patched must fail nothing; new tests are listed.  Results and logs go to
# build/container-libs-results/.
#
# How the tests run and are compared: go-tests.sh and go_results.py, shared
# with tests/upstream/rebase-common.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
PATCHED=$root/build/src/container-libs-common
STOCK=$root/build/src/container-libs-common-stock
OUT=$root/build/container-libs-results
NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}
say() { printf '==> %s\n' "$*"; }
# shellcheck source=go-tests.sh
. "$root/tests/container-libs/go-tests.sh"

[ -x "$NETAVARK" ] || { echo "compare.sh: $NETAVARK missing: run make netavark" >&2; exit 1; }
[ -d "$PATCHED/.git" ] || { echo "compare.sh: $PATCHED missing: run make podman" >&2; exit 1; }

# The stock tree is derived from the patched tree's `upstream` tag, so it is
# exactly the pristine module; rebuilt whenever that tag moves.
stock_rev=$(git -C "$PATCHED" rev-parse upstream)
if [ "$(cat "$STOCK/.as-gateway-stock-rev" 2>/dev/null)" != "$stock_rev" ]; then
    say "stock tree: git archive upstream ($stock_rev) -> ${STOCK#"$root"/}"
    rm -rf "$STOCK"
    mkdir -p "$STOCK"
    git -C "$PATCHED" archive upstream | tar -x -C "$STOCK"
    echo "$stock_rev" > "$STOCK/.as-gateway-stock-rev"
fi

rm -rf "$OUT"
mkdir -p "$OUT"

go_run_tree stock "$STOCK" "$OUT"
go_run_tree patched "$PATCHED" "$OUT"
go_compare "$OUT" --summary
