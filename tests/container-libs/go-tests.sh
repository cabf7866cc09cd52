# container-libs' libnetwork tests, as tests/container-libs/compare.sh and
# tests/upstream/rebase-common.sh run them.  Sourced; the caller defines
# say() and NETAVARK (the netavark binary the tests run).
#
# Build tags: exclude_graphdriver_btrfs (no libbtrfs headers here; the
# libnetwork/network package imports c/storage) and containers_image_openpgp,
# as for podman (podman-patch/podman.mk).
LIBNETWORK_TEST_TAGS="exclude_graphdriver_btrfs containers_image_openpgp"
go_tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# go_run_tree NAME DIR OUT: go test ./libnetwork/... in DIR against
# $NETAVARK: every package but the ginkgo suite as go test -json events
# (OUT/NAME.go.json), the ginkgo suite with a per-spec JSON report
# (OUT/NAME.ginkgo.json); OUT/NAME.rc is 1 when anything failed to build or run
go_run_tree() {
    local name=$1 dir=$2 out=$3 rc=0 tags=$LIBNETWORK_TEST_TAGS
    say "$name: go test ./libnetwork/... (netavark: $NETAVARK; logs $out/$name.*)"
    (cd "$dir" && GOWORK=off nice go build -tags "$tags" -o bin/netavark-testplugin ./libnetwork/netavark/testplugin/) \
        >"$out/$name.build.log" 2>&1 || rc=1
    # shellcheck disable=SC2046
    (cd "$dir" && GOWORK=off NETAVARK_BINARY=$NETAVARK nice go test -count=1 -tags "$tags" -json \
        $(GOWORK=off go list ./libnetwork/... | grep -v '/libnetwork/netavark$') \
        >"$out/$name.go.json" 2>"$out/$name.go.stderr") || rc=1
    (cd "$dir" && GOWORK=off NETAVARK_BINARY=$NETAVARK nice go test -count=1 -tags "$tags" ./libnetwork/netavark/ \
        -args -ginkgo.json-report="$out/$name.ginkgo.json" >"$out/$name.ginkgo.log" 2>&1) || rc=1
    echo "$rc" >"$out/$name.rc"
}

# go_compare OUT [go_results.py options]: stock vs patched (go_results.py)
go_compare() { python3 "$go_tests_dir/go_results.py" "$@"; }
