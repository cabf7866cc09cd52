# -*- bash -*-
# Appended by tests/podman/upstream-suites.sh to its throwaway copy of
# test/system/helpers.network.bash (never to build/src/podman).

# The host's network namespace is shared with other podman sandboxes: take
# subnets from our reserved range ($SUITES_NET.192.0 - $SUITES_NET.255.0,
# /24 each) instead of all of 172.16.0.0/12.  Same contract as upstream's:
# THREE octets, not in use on the host.
function random_rfc1918_subnet() {
    local retries=256 n3
    while [ "$retries" -gt 0 ]; do
        n3=$(( 192 + (RANDOM & 63) ))
        if ! subnet_in_use "${SUITES_NET%.*}" "${SUITES_NET#*.}" "$n3"; then
            echo "$SUITES_NET.$n3"
            return
        fi
        retries=$(( retries - 1 ))
    done
    die "Could not find a free subnet in $SUITES_NET.192.0/18"
}

# asgw_bridge: a unique bridge name from our reserved prefix, for every
# `podman network create` of the copy (podman would pick "podmanN", which
# another sandbox may pick too).
function asgw_bridge() {
    local f=$BATS_SUITE_TMPDIR/asgw-bridge-count n
    n=$(( $(cat "$f" 2>/dev/null || echo 0) + 1 ))
    echo "$n" > "$f"
    echo "${SUITES_BRIDGE_PREFIX}b$n"
}
