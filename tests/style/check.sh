#!/usr/bin/env bash
# Style gates: rustfmt and clippy -D warnings on our harness crate and on the
# patched netavark tree; gofmt and go vet on what the container-libs and
# podman series change.  If upstream's own code already draws clippy
# warnings from this toolchain, the patched tree must draw no warning that
# the stock tree does not (compared by lint, file and message).
set -euo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CACHE:-$HOME/.cache/as-gateway}
fail=0
ok()  { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*"; fail=1; }

# clippy_warnings DIR TARGET_DIR: one line per warning, "lint file: message"
clippy_warnings() {
    (cd "$1" && CARGO_TARGET_DIR=$2 cargo clippy --locked --all-targets --message-format=json -q 2>/dev/null) |
        jq -r 'select(.reason=="compiler-message") | .message
               | select(.level=="warning" or .level=="error")
               | select(.code != null)
               | "\(.code.code) \(.spans[0].file_name // "-"): \(.message)"' | sort -u
}

# 1. the harness crate
if (cd "$top" && cargo fmt --check >/dev/null); then ok "rustfmt: harness"; else bad "rustfmt: harness (run cargo fmt)"; fi
if (cd "$top" && CARGO_TARGET_DIR=${HARNESS_TARGET_DIR:-$cache/harness-target} \
        cargo clippy --locked --all-targets -q -- -D warnings); then
    ok "clippy -D warnings: harness"
else
    bad "clippy -D warnings: harness"
fi

# 2. the patched netavark tree
tree=$top/build/src/netavark
stock=$top/build/src/netavark-stock
if (cd "$tree" && cargo fmt --check >/dev/null); then ok "rustfmt: patched netavark"; else bad "rustfmt: patched netavark"; fi
patched_w=$(clippy_warnings "$tree" "${NETAVARK_TARGET_DIR:-$cache/netavark-target}")
if [ -z "$patched_w" ]; then
    ok "clippy -D warnings: patched netavark"
else
    stock_w=$(clippy_warnings "$stock" "${STOCK_TARGET_DIR:-$cache/stock-target}")
    new_w=$(comm -23 <(echo "$patched_w") <(echo "$stock_w"))
    if [ -z "$new_w" ]; then
        ok "clippy: patched netavark adds no warning ($(echo "$stock_w" | wc -l) are upstream's own)"
    else
        bad "clippy: the series adds warnings:"
        echo "$new_w" | sed 's/^/     /'
    fi
fi

# 3. the Go trees: gofmt on every Go file the series touch, go vet on their
# packages (podman with the build's -modfile, i.e. against the patched common,
# and the build tags of podman-patch/podman.mk)
go_tags="exclude_graphdriver_btrfs containers_image_openpgp seccomp libsqlite3 grpcnotrace"
go_style() { # NAME TREE [go flags...]
    local name=$1 tree=$2 files pkgs unformatted
    shift 2
    [ -d "$tree/.git" ] || { bad "$name: $tree missing (make podman)"; return; }
    files=$(git -C "$tree" diff --name-only --diff-filter=d upstream..HEAD -- '*.go')
    if [ -z "$files" ]; then ok "$name: the series changes no Go file"; return; fi
    unformatted=$(cd "$tree" && gofmt -l $files)
    if [ -z "$unformatted" ]; then ok "gofmt: $name ($(echo "$files" | wc -l) files)"
    else bad "gofmt: $name: $unformatted"; fi
    pkgs=$(echo "$files" | xargs -n1 dirname | sort -u | sed 's|^|./|')
    if (cd "$tree" && GOWORK=off go vet "$@" -tags "$go_tags" $pkgs); then
        ok "go vet: $name ($(echo "$pkgs" | wc -l) packages)"
    else
        bad "go vet: $name"
    fi
}
go_style container-libs "$top/build/src/container-libs-common"
go_style podman "$top/build/src/podman" -modfile="$top/build/podman-modfile/go.mod"

exit $fail
