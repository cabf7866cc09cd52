# Shared by the podman scene tests (e2e.sh, no-leak.sh, fail-closed.bats,
# rootless.bats): the outside namespace the SENTRY routes to, and netdev
# sinks that count what arrives in a container's namespace.  Plain bash,
# sourced by scripts and loaded by bats files alike.

# outside_ns NS HOST_VETH NS_VETH HOST_ADDR ADDR...: network namespace NS
# behind a veth pair; HOST_ADDR/24 on the host's end, each ADDR/24 on NS's
# end, and NS's default route back via HOST_ADDR.
outside_ns() {
    local ns=$1 host_veth=$2 ns_veth=$3 host_addr=$4 a
    shift 4
    ip netns add "$ns"
    ip link add "$host_veth" type veth peer name "$ns_veth" netns "$ns"
    ip addr add "$host_addr/24" dev "$host_veth"
    ip link set "$host_veth" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$ns_veth" up
    for a in "$@"; do ip -n "$ns" addr add "$a/24" dev "$ns_veth"; done
    ip -n "$ns" route add default via "$host_addr"
}

# The sinks run nft in a container's network namespace with the caller's
# `nsx CONTAINER CMD...`.
#
# ns_sink TABLE DEV CONTAINER RULE...: table netdev TABLE counting on DEV's
# ingress in CONTAINER's namespace, before anything else there (priority
# -500); each RULE is "NAME MATCH...", counted as counter NAME
ns_sink() {
    local table=$1 dev=$2 c=$3 r names="" rules=""
    shift 3
    for r in "$@"; do
        names+="counter ${r%% *} {}"$'\n'
        rules+="${r#* } counter name ${r%% *}"$'\n'
    done
    nsx "$c" nft -f - <<SINK
table netdev $table {
$names
    chain in {
        type filter hook ingress device $dev priority -500; policy accept;
$rules
    }
}
SINK
}
# ns_count TABLE CONTAINER NAME: the packets counted by NAME
ns_count() { nsx "$2" nft list counter netdev "$1" "$3" | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
# ns_reset TABLE CONTAINER: every counter of TABLE back to 0
ns_reset() { nsx "$2" nft reset counters table netdev "$1" >/dev/null; }
