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
# Build tags: exclude_graphdriver_btrfs (no libbtrfs headers here; the
# libnetwork/network package imports c/storage) and containers_image_openpgp,
# as for podman (podman-patch/podman.mk).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
PATCHED=$root/build/src/container-libs-common
STOCK=$root/build/src/container-libs-common-stock
OUT=$root/build/container-libs-results
NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}
TAGS="exclude_graphdriver_btrfs containers_image_openpgp"
say() { printf '==> %s\n' "$*"; }

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

run_tree() { # NAME DIR
    local name=$1 dir=$2 rc=0
    say "$name: go test ./libnetwork/... (netavark: $NETAVARK)"
    (cd "$dir" && go build -tags "$TAGS" -o bin/netavark-testplugin ./libnetwork/netavark/testplugin/)
    # Every package but the ginkgo suite, as go test -json events.
    (cd "$dir" && NETAVARK_BINARY=$NETAVARK go test -count=1 -tags "$TAGS" -json \
        $(go list ./libnetwork/... | grep -v '/libnetwork/netavark$') \
        >"$OUT/$name.go.json" 2>"$OUT/$name.go.stderr") || rc=1
    # The ginkgo suite, with a per-spec JSON report.
    (cd "$dir" && NETAVARK_BINARY=$NETAVARK go test -count=1 -tags "$TAGS" ./libnetwork/netavark/ \
        -args -ginkgo.json-report="$OUT/$name.ginkgo.json" >"$OUT/$name.ginkgo.log" 2>&1) || rc=1
    echo "$rc" >"$OUT/$name.rc"
}

run_tree stock "$STOCK"
run_tree patched "$PATCHED"

python3 - "$OUT" <<'EOF'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])

def results(name):
    r = {}
    for line in (out / f"{name}.go.json").read_text().splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("Test") and ev.get("Action") in ("pass", "fail", "skip") and "/" not in ev["Test"]:
            r[f"go {ev['Package'].split('common/')[-1]} {ev['Test']}"] = ev["Action"]
    report = out / f"{name}.ginkgo.json"
    if report.exists():
        for suite in json.loads(report.read_text()):
            for spec in suite.get("SpecReports") or []:
                if spec.get("LeafNodeType") != "It":
                    continue
                key = "ginkgo " + " ".join(spec.get("ContainerHierarchyTexts") or []) + " " + spec["LeafNodeText"]
                state = spec["State"]
                r[key] = {"passed": "pass", "skipped": "skip", "pending": "skip"}.get(state, "fail")
    return r

stock, patched = results("stock"), results("patched")
lines = []
def count(r):
    c = {"pass": 0, "fail": 0, "skip": 0}
    for v in r.values():
        c[v] += 1
    return c
cs, cp = count(stock), count(patched)
lines.append(f"stock   : {len(stock)} tests+specs, {cs['pass']} pass, {cs['fail']} fail, {cs['skip']} skip")
lines.append(f"patched : {len(patched)} tests+specs, {cp['pass']} pass, {cp['fail']} fail, {cp['skip']} skip")
bad = []
for k, v in sorted(stock.items()):
    pv = patched.get(k, "missing")
    if pv != v:
        bad.append(f"DIFFERS {k}: stock {v}, patched {pv}")
for k, v in sorted(patched.items()):
    if v == "fail":
        bad.append(f"FAILS   {k}")
new = sorted(k for k in patched if k not in stock)
lines.append(f"new in patched: {len(new)} ({sum(patched[k] == 'pass' for k in new)} pass)")
lines += [f"  new {patched[k]}: {k}" for k in new]
lines += bad
lines.append("RESULT: " + ("no differences, patched fails nothing" if not bad else f"{len(bad)} problem(s)"))
if len(stock) == 0 or len(patched) == 0:
    lines.append("RESULT: no results parsed")
    bad.append("empty")
text = "\n".join(lines)
(out / "summary.txt").write_text(text + "\n")
print(text)
sys.exit(1 if bad else 0)
EOF
