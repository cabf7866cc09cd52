#!/usr/bin/env bash
# No-leak suite, real podman part: the bridge guards of a
# `gateway_mode=container` network (netavark-patch/SPEC.md, "Bridge guards")
# against real containers driven by the real `podman` CLI
# (podman-patch/podman-env) and the patched netavark.  tests/no_leak.rs covers
# the same threats with crafted frames in bare namespaces; this suite checks
# that what a container can do with stock tools (busybox ip, arping, nc, ping,
# nslookup) is stopped.
#
# The scene (every link and address is made here; nothing leaves the machine,
# a host nft table drops whatever would be routed off it):
#
#   enclave   --opt gateway_mode=container (stored internal, without DNS),
#             10.230.0.0/24, bridge asgwnlen, gateway 10.230.0.1 held by
#             SENTRY (a plain `bottle` container with NET_ADMIN, connected
#             --network enclave:as_gateway=true, and to uplink)
#   open      the same with --opt client_isolation=false (10.232.0.0/24,
#             bridge asgwnlop): the control of the lateral case
#   uplink    a plain podman network (10.231.0.0/24, bridge asgwnlup, host
#             address 10.231.0.1); SINK, a `bottle` there, is "outside"
#   host      a TCP listener on 0.0.0.0:18230 (socat); table inet
#             asgwnl_host counts SYNs to it and drops (counting) what the
#             host would route to 169.254.169.254 or off the machine; table
#             bridge asgwnl_host counts the enclave frames the bridge hands
#             to the host's stack after the guard (input, priority 0)
#
# Every case runs twice: BOTTLE-A with podman's default capabilities, and
# with --cap-add NET_RAW,NET_ADMIN.  BOTTLE-B is a stock bottle.
#
# "Blocked" is counted, not a timeout: an nft netdev table on eth0's ingress
# inside the victim container's network namespace (entered from the sandbox
# with nsenter) counts the frames that arrive; zero means blocked.  Every
# negative probe has a positive control where the same probe arrives.
# Static neighbours (busybox `arp -s`; busybox ip has no `neigh replace`)
# make A send its frames whether or not ARP resolves.  With
# default capabilities the kernel refuses the probe (EPERM, shown), so the
# controls that need the guard gone run with NET_RAW,NET_ADMIN, last, after
# strip_guards has taken every guard layer off the enclave: the nft table
# `netdev netavark_guard_asgwnlen`, the ports' flags (isolated, learning,
# flooding) and static FDB entries, and the host side's kernel settings.
#
#   1  gateway claim: A takes the gateway address, arping -U / -A
#   2  spoofing: A sends to SENTRY from B's address, from another MAC
#   4  host probes: A routes host addresses on-link (static neighbour = the
#      enclave bridge's MAC), TCP to the host listener and 169.254.169.254,
#      and (any caps) TCP to the bridge's IPv6 link-local address;
#      measured with the bridge's kernel settings opened (netavark sets
#      disable_ipv6=1, arp_ignore=8, rp_filter=1, forwarding=0, which drop
#      them in the host's stack anyway): the nft guard is the only barrier
#      under test; what the bridge hands up to the host is counted on its
#      ingress after the guard's `host` chain
#   5  lateral: A -> B TCP and UDP; control on the client_isolation=false net
#   8  SENTRY absent: A -> SINK; control: SENTRY present and forwarding
#
# Usage: tests/podman/no-leak.sh
#   (AS_GATEWAY_PODMAN_STATE defaults to /var/tmp/as-gateway/podman-nl; the
#   sandbox is torn down at the end)
# Exit status non-zero when any case fails.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
P=$root/podman-patch/podman-env
export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-nl}
export AS_GATEWAY_NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}

t=asgwnl                        # container and network name prefix
SENTRY=$t-sentry A=$t-a B=$t-b A2=$t-a2 B2=$t-b2 SINK=$t-sink
ENCLAVE=$t-enclave OPEN=$t-open UPLINK=$t-uplink
ENCLAVE_BR=asgwnlen OPEN_BR=asgwnlop UPLINK_BR=asgwnlup
GUARD=netavark_guard_$ENCLAVE_BR
GW=10.230.0.1 OPEN_GW=10.232.0.1 UPLINK_GW=10.231.0.1
META=169.254.169.254
FAKE_MAC=02:00:5e:00:23:99
PORT=18230                      # host listener; lateral TCP probe port too
HOST_TABLE=asgwnl_host
pids=()

# shellcheck source-path=SCRIPTDIR source=tap.bash
. "$root/tests/podman/tap.bash"
. "$root/tests/podman/sinks.bash"

cleanup() {
    "$P" rm -f -t 0 "$A" "$B" "$A2" "$B2" "$SENTRY" "$SINK" >/dev/null 2>&1 || true
    "$P" network rm -f "$ENCLAVE" "$OPEN" "$UPLINK" >/dev/null 2>&1 || true
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    nft delete table inet "$HOST_TABLE" 2>/dev/null || true
    nft delete table netdev "$HOST_TABLE" 2>/dev/null || true
    # the guard tables go with their networks' last port; a leftover is a bug
    # of the guards, but must not outlive the test either
    nft delete table netdev "$GUARD" 2>/dev/null || true
    nft delete table netdev "netavark_guard_$OPEN_BR" 2>/dev/null || true
}
teardown() {
    cleanup
    "$P" --teardown >/dev/null 2>&1 || true
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- helpers --------------------------------------------------------------

pid_of() { "$P" inspect -f '{{.State.Pid}}' "$1"; }
# nsx CONTAINER CMD...: CMD in CONTAINER's network namespace, from the sandbox
nsx() { local pid; pid=$(pid_of "$1"); shift; "$P" --exec nsenter -t "$pid" -n "$@"; }
mac_of() { "$P" exec "$1" cat /sys/class/net/eth0/address; }
ip_of() { "$P" inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"; }
# sink CONTAINER RULE...: table netdev nlsink on eth0's ingress in
# CONTAINER's netns (ns_sink); count CONTAINER NAME; reset CONTAINER
sink() { ns_sink nlsink eth0 "$@"; }
count() { ns_count nlsink "$@"; }
reset() { ns_reset nlsink "$1"; }
host_count() { nft list counter "${2:-inet}" "$HOST_TABLE" "$1" | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
host_reset() {
    nft reset counters table inet "$HOST_TABLE" >/dev/null
    to_host_counter
}
# to_host_counter: (re)load table netdev $HOST_TABLE, whose chain on the
# enclave bridge's ingress runs after the guard's `host` chain (priority
# -400 there, 0 here) and counts what the bridge hands up to the host's own
# stack; the bridge exists only while a container is on it, so this runs
# right before each host probe, with fresh counters
to_host_counter() {
    nft delete table netdev "$HOST_TABLE" 2>/dev/null || true
    nft -f - <<EOF
table netdev $HOST_TABLE {
    counter to_host {}
    chain in {
        type filter hook ingress device "$ENCLAVE_BR" priority 0; policy accept;
        ip saddr 10.230.0.0/24 counter name to_host
    }
}
EOF
}
# guard_only: netavark makes the host deaf to the enclave twice, with the
# guard's nft `host` chain and with kernel settings of the bridge that hold
# without nft (disable_ipv6=1, arp_ignore=8, rp_filter=1, forwarding=0);
# opening the latter leaves the nft guard as the only barrier under test
# (guard_only_off puts netavark's values back)
guard_only() {
    local b=$ENCLAVE_BR _
    sysctl -qw "net.ipv4.conf.$b.rp_filter=0" "net.ipv4.conf.$b.arp_ignore=0" \
        "net.ipv4.conf.$b.forwarding=1" "net.ipv6.conf.$b.disable_ipv6=0"
    # the probe needs the bridge's IPv6 link-local address, past DAD
    for _ in $(seq 40); do
        ip -6 addr show dev "$b" scope link | grep -q 'inet6 fe80' &&
            ! ip -6 addr show dev "$b" scope link | grep -q tentative && break
        sleep 0.1
    done
}
guard_only_off() {
    local b=$ENCLAVE_BR
    sysctl -qw "net.ipv4.conf.$b.rp_filter=1" "net.ipv4.conf.$b.arp_ignore=8" \
        "net.ipv4.conf.$b.forwarding=0" "net.ipv6.conf.$b.disable_ipv6=1"
}
# strip_guards: take every guard layer off the enclave, for the positive
# controls: the nft table, the ports' flags (isolated, no learning, no
# flooding), their static FDB entries, the bridge's no_linklocal_learn and
# the ports' kernel settings (the bridge's: guard_only); says what it did
strip_guards() {
    local p ports="" mac dev
    nft delete table netdev "$GUARD" || return 1
    for p in $(ip -o link show master "$ENCLAVE_BR" | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip link set dev "$p" type bridge_slave learning on isolated off flood on mcast_flood on bcast_flood on neigh_suppress off
        sysctl -qw "net.ipv6.conf.$p.disable_ipv6=0" "net.ipv4.conf.$p.arp_ignore=0" "net.ipv4.conf.$p.rp_filter=0"
        ports+=" $p"
    done
    bridge fdb show br "$ENCLAVE_BR" | awk '/ static/ && !/ permanent/ {print $1, $3}' |
        while read -r mac dev; do bridge fdb del "$mac" dev "$dev" master; done
    ip link set dev "$ENCLAVE_BR" type bridge no_linklocal_learn 0
    echo "# stripped: table netdev $GUARD deleted; ports$ports: isolated off, learning and flooding on, IPv6 on, arp_ignore and rp_filter 0; static FDB entries deleted; bridge no_linklocal_learn 0"
}
# cx CONTAINER SCRIPT: run SCRIPT with the container's own sh; output + rc
cx() { "$P" exec "$1" sh -c "$2" 2>&1; }
neigh_mac() { cx "$1" "ip neigh show $2 dev eth0" | grep -o 'lladdr [0-9a-f:]*' | cut -d' ' -f2; }
eperm() { grep -qi 'not permitted' <<<"$1"; }
oneline() { tr '\n' ' ' <<<"$1" | sed 's/  */ /g; s/ $//'; }

start_sentry() {
    "$P" run -d --name "$SENTRY" --cap-add NET_ADMIN \
        --network "$ENCLAVE:as_gateway=true" --network "$UPLINK" bottle sleep 3600 >/dev/null
}
# sentry_forwarding 0|1: IPv4 forwarding in SENTRY's netns (netavark hands it
# the as_gateway interface with forwarding off)
sentry_forwarding() { nsx "$SENTRY" sysctl -qw net.ipv4.conf.all.forwarding="$1" net.ipv4.conf.eth0.forwarding="$1"; }

# ---- the probes (run by the cases and, unchanged, by the controls) ----------

# probe_claim: A claims the gateway address; sets $claim_out
probe_claim() {
    claim_out=$(cx "$A" "ip addr add $GW/24 dev eth0; echo rc=\$?;
        arping -U -c 2 -I eth0 -s $GW $GW; echo rc=\$?;
        arping -A -c 2 -I eth0 -s $GW $GW; echo rc=\$?")
}
# probe_spoof_ip / probe_spoof_mac: A pings SENTRY from B's address / from
# FAKE_MAC; the static neighbour makes A send whether or not ARP resolves
probe_spoof_ip() {
    spoof_out=$(cx "$A" "ip addr add $B_IP/24 dev eth0; echo rc=\$?;
        arp -s $GW $SMAC; echo rc=\$?;
        ping -c 2 -W 1 -I $B_IP $GW; echo rc=\$?; ip addr del $B_IP/24 dev eth0")
}
probe_spoof_mac() {
    spoof_out=$(cx "$A" "ip link set dev eth0 address $FAKE_MAC; echo rc=\$?;
        arp -s $GW $SMAC;
        ping -c 2 -W 1 $GW; echo rc=\$?; ip link set dev eth0 address $A_MAC")
}
# probe_host: A routes host addresses on-link through the enclave bridge's
# MAC and connects to the host listener and 169.254.169.254; with default
# caps the routes are refused and the connects go the default route.  And
# the IPv6 link-local address of the enclave bridge (no caps needed; the
# network has no IPv6 subnet)
probe_host() {
    local brmac brll
    brmac=$(cat "/sys/class/net/$ENCLAVE_BR/address")
    brll=$(ip -6 -o addr show dev "$ENCLAVE_BR" scope link | awk '{print $4}' | cut -d/ -f1)
    host_out=$(cx "$A" "for ip in $UPLINK_GW $META; do
            ip route replace \$ip/32 dev eth0; echo rc=\$?
            arp -s \$ip $brmac; echo rc=\$?
        done
        nc -w 1 $UPLINK_GW $PORT </dev/null; nc -w 1 $META 80 </dev/null
        nc -w 1 $UPLINK_GW $PORT </dev/null; nc -w 1 $brll%eth0 $PORT </dev/null; echo done")
}
# probe_lateral VICTIM IP: TCP to IP:PORT and UDP (DNS query) to IP:53 from A
# (A2 on the open network); the static neighbour as in probe_spoof_ip
probe_lateral() {
    local from=$1 vmac=$2 vip=$3
    lat_out=$(cx "$from" "arp -s $vip $vmac; echo rc=\$?;
        nc -w 1 $vip $PORT </dev/null; nslookup -timeout=1 -retry=1 x.test $vip >/dev/null; echo done")
}
# probe_out: A to SINK's address, via its default route and (NET_ADMIN) on-link
# through the enclave bridge's MAC, as the host would forward it
probe_out() {
    local brmac
    brmac=$(cat "/sys/class/net/$ENCLAVE_BR/address")
    out_out=$(cx "$A" "nc -w 1 $SINK_IP $PORT </dev/null
        ip route replace $SINK_IP/32 dev eth0 && arp -s $SINK_IP $brmac &&
        { nc -w 1 $SINK_IP $PORT </dev/null; ip route del $SINK_IP/32 dev eth0; }; echo done")
}

# ---- setup ----------------------------------------------------------------

start=$(date +%s)
# shellcheck source=../debian-packages.sh
. "$root/tests/debian-packages.sh"
install_debian_packages "podman no-leak" \
    "nftables:nft, sink counters in the containers and the host" \
    "socat:the host listener" | diag
"$root/tests/podman/images.sh" bottle 2>&1 | diag
cleanup

section "setup: networks, SENTRY, SINK, host listener and counters"
nft -f - <<EOF || { echo "Bail out! host table $HOST_TABLE (counters, drop of probes routed off the machine) not loaded"; exit 1; }
table inet $HOST_TABLE {
    counter listener {}
    counter listener6 {}
    counter metadata {}
    counter escaped {}
    chain input {
        type filter hook input priority -300; policy accept;
        meta nfproto ipv6 tcp dport $PORT counter name listener6
        tcp dport $PORT counter name listener
    }
    # never route a probe off the machine (the host's default route leads out)
    chain forward {
        type filter hook forward priority -300; policy accept;
        ip daddr $META oifname != "asgwnl*" counter name metadata drop
        iifname "asgwnl*" oifname != "asgwnl*" counter name escaped drop
        ip daddr { 10.230.0.0/15, 10.232.0.0/15 } oifname != "asgwnl*" counter name escaped drop
    }
    chain output {
        type filter hook output priority -300; policy accept;
        ip daddr { 10.230.0.0/15, 10.232.0.0/15 } oifname != "asgwnl*" counter name escaped drop
    }
}
EOF
socat -U TCP-LISTEN:$PORT,bind=0.0.0.0,reuseaddr,fork SYSTEM:'echo host-listener' &
pids+=($!)

"$P" network create --disable-dns --subnet 10.231.0.0/24 --gateway "$UPLINK_GW" \
    --interface-name "$UPLINK_BR" "$UPLINK" >/dev/null
"$P" network create --subnet 10.230.0.0/24 --gateway "$GW" \
    --interface-name "$ENCLAVE_BR" --opt gateway_mode=container "$ENCLAVE" >/dev/null
"$P" network create --subnet 10.232.0.0/24 --gateway "$OPEN_GW" \
    --interface-name "$OPEN_BR" --opt gateway_mode=container --opt client_isolation=false "$OPEN" >/dev/null
"$P" run -d --name "$SINK" --network "$UPLINK" bottle sleep 3600 >/dev/null
SINK_IP=$(ip_of "$SINK" "$UPLINK")
sink "$SINK" "from_enclave ip saddr { 10.230.0.0/24, 10.232.0.0/24 }"
echo "# podman $("$P" --version | awk '{print $3}'), $("$AS_GATEWAY_NETAVARK" --version)"

# ---- the cases, once per capability set -------------------------------------

run_cases() {
    local mode=$1 caps=() c c2 got
    [ "$mode" = default ] || caps=(--cap-add "NET_RAW,NET_ADMIN")
    section "BOTTLE-A with $mode capabilities"
    "$P" rm -f -t 0 "$A" "$B" "$A2" "$B2" >/dev/null 2>&1
    "$P" inspect "$SENTRY" >/dev/null 2>&1 || start_sentry
    "$P" start "$SENTRY" >/dev/null 2>&1
    "$P" run -d --name "$B" --network "$ENCLAVE" bottle sleep 3600 >/dev/null
    "$P" run -d --name "$A" "${caps[@]}" --network "$ENCLAVE" bottle sleep 3600 >/dev/null
    SMAC=$(mac_of "$SENTRY") A_MAC=$(mac_of "$A") B_MAC=$(mac_of "$B")
    A_IP=$(ip_of "$A" "$ENCLAVE") B_IP=$(ip_of "$B" "$ENCLAVE")
    echo "# SENTRY $GW $SMAC, A $A_IP $A_MAC, B $B_IP $B_MAC"
    sink "$B" "claim arp saddr ip $GW ether saddr != $SMAC" \
        "lat_tcp ip saddr $A_IP tcp dport $PORT" \
        "lat_udp ip saddr $A_IP udp dport 53" \
        "from_a ether saddr $A_MAC"
    sink "$SENTRY" "spoof_ip ip saddr $B_IP" "spoof_mac ether saddr $FAKE_MAC"

    # 1: gateway claim
    cx "$B" "nc -w 1 $GW 9 </dev/null" >/dev/null    # B resolves $GW (SENTRY)
    sleep 1.1                   # past the neighbour entry's locktime (1 s)
    reset "$B"
    probe_claim
    c=$(count "$B" claim) got=$(neigh_mac "$B" "$GW")
    if [ "$mode" = default ]; then
        check "1 [$mode]: A's 'ip addr add $GW' and arping -U/-A are refused by the kernel ($(grep -ci 'not permitted' <<<"$claim_out") EPERM: nothing sent); B's neighbour $GW is $got (SENTRY $SMAC), B counted $c ARP claiming $GW" \
            eval 'eperm "$claim_out" && [ "$got" = "$SMAC" ] && [ "$c" -eq 0 ]'
    else
        check "1 [$mode]: A took $GW and sent arping -U -c 2 and -A -c 2 ($(oneline "$(grep -o 'rc=[0-9]*\|Sent [0-9]* probe[^ ]*' <<<"$claim_out")")); B's neighbour $GW is still $got (SENTRY $SMAC), B counted $c ARP claiming $GW" \
            eval '[ "$got" = "$SMAC" ] && [ "$c" -eq 0 ] && ! eperm "$claim_out"'
        cx "$A" "ip addr del $GW/24 dev eth0" >/dev/null
    fi
    [ "$mode" = default ] || diag <<<"$claim_out"

    # 2: spoofing
    reset "$SENTRY"
    probe_spoof_ip
    c=$(count "$SENTRY" spoof_ip)
    if [ "$mode" = default ]; then
        check "2 [$mode]: A's 'ip addr add $B_IP' (B's address) is refused by the kernel (EPERM: nothing sent from it); SENTRY counted $c packets from $B_IP" \
            eval 'eperm "$spoof_out" && [ "$c" -eq 0 ]'
    else
        check "2 [$mode]: A pinged SENTRY from B's address $B_IP ($(oneline "$(grep -o 'rc=[0-9]*\|[0-9]* packets transmitted' <<<"$spoof_out")")); SENTRY counted $c packets from $B_IP" \
            eval '[ "$c" -eq 0 ] && ! eperm "$spoof_out"'
    fi
    reset "$SENTRY"
    probe_spoof_mac
    c=$(count "$SENTRY" spoof_mac)
    if [ "$mode" = default ]; then
        check "2 [$mode]: A's 'ip link set address $FAKE_MAC' is refused by the kernel (EPERM); SENTRY counted $c frames from $FAKE_MAC" \
            eval 'eperm "$spoof_out" && [ "$c" -eq 0 ]'
    else
        check "2 [$mode]: A set its MAC to $FAKE_MAC and pinged SENTRY ($(oneline "$(grep -o 'rc=[0-9]*\|[0-9]* packets transmitted' <<<"$spoof_out")")); SENTRY counted $c frames from $FAKE_MAC" \
            eval '[ "$c" -eq 0 ] && ! eperm "$spoof_out"'
    fi

    # 4: host probes (the bridge's rp_filter 0, forwarding 1: the guard alone)
    guard_only
    host_reset
    probe_host
    c=$(host_count listener) c2=$(host_count metadata) c3=$(host_count to_host netdev)
    c6=$(host_count listener6)
    guard_only_off
    if [ "$mode" = default ]; then
        check "4 [$mode]: A's on-link routes and static neighbours for $UPLINK_GW and $META are refused (EPERM); its connects to $UPLINK_GW:$PORT and $META:80 via the default route: the bridge handed the host $c3 frames, host counted $c SYNs to :$PORT ($c6 of them over IPv6 to the bridge's link-local address), routed $c2 packets to $META (the bridge's kernel settings opened: rp_filter 0, arp_ignore 0, forwarding 1, IPv6 on; the nft guard alone)" \
            eval 'eperm "$host_out" && [ "$c" -eq 0 ] && [ "$c2" -eq 0 ] && [ "$c3" -eq 0 ]'
    else
        check "4 [$mode]: A routed $UPLINK_GW and $META on-link with static neighbours = the enclave bridge's MAC ($(oneline "$(grep -o 'rc=[0-9]*' <<<"$host_out")")) and connected: the bridge handed the host $c3 frames, host counted $c SYNs to :$PORT ($c6 of them over IPv6 to the bridge's link-local address), routed $c2 packets to $META (the bridge's kernel settings opened: rp_filter 0, arp_ignore 0, forwarding 1, IPv6 on; the nft guard alone)" \
            eval '[ "$c" -eq 0 ] && [ "$c2" -eq 0 ] && [ "$c3" -eq 0 ] && ! eperm "$host_out"'
    fi

    # 5: lateral, and its control on the client_isolation=false network
    reset "$B"
    probe_lateral "$A" "$B_MAC" "$B_IP"
    c=$(count "$B" lat_tcp) c2=$(count "$B" lat_udp) got=$(count "$B" from_a)
    local how="static neighbour $B_IP -> $B_MAC added"
    eperm "$lat_out" && how="static neighbour refused: EPERM, so via ARP"
    check "5 [$mode]: A -> B TCP :$PORT and UDP :53 ($how): B counted $c TCP, $c2 UDP, $got frames of any kind from A's MAC" \
        eval '[ "$c" -eq 0 ] && [ "$c2" -eq 0 ] && [ "$got" -eq 0 ]'
    "$P" run -d --name "$B2" --network "$OPEN" bottle sleep 3600 >/dev/null
    "$P" run -d --name "$A2" "${caps[@]}" --network "$OPEN" bottle sleep 3600 >/dev/null
    local a2ip b2ip b2mac
    a2ip=$(ip_of "$A2" "$OPEN") b2ip=$(ip_of "$B2" "$OPEN") b2mac=$(mac_of "$B2")
    sink "$B2" "lat_tcp ip saddr $a2ip tcp dport $PORT" "lat_udp ip saddr $a2ip udp dport 53"
    probe_lateral "$A2" "$b2mac" "$b2ip"
    c=$(count "$B2" lat_tcp) c2=$(count "$B2" lat_udp)
    check "5 [$mode] control: the same probe on $OPEN (client_isolation=false) arrives: B2 counted $c TCP, $c2 UDP" \
        eval '[ "$c" -gt 0 ] && [ "$c2" -gt 0 ]'
    "$P" rm -f -t 0 "$A2" "$B2" >/dev/null

    # 8: SENTRY absent; control first: SENTRY present and forwarding
    sentry_forwarding 1
    reset "$SINK"
    cx "$A" "nc -w 1 $SINK_IP $PORT </dev/null" >/dev/null
    c=$(count "$SINK" from_enclave)
    check "8 [$mode] control: with the SENTRY present and forwarding, A's connect to SINK $SINK_IP:$PORT arrives (SINK counted $c)" \
        test "$c" -gt 0
    sentry_forwarding 0
    "$P" stop -t 0 "$SENTRY" >/dev/null
    reset "$SINK"
    probe_out
    c=$(count "$SINK" from_enclave)
    local how="and on-link through the enclave bridge's MAC"
    eperm "$out_out" && how="(on-link route refused: EPERM)"
    check "8 [$mode]: SENTRY stopped ($("$P" inspect -f '{{.State.Status}}' "$SENTRY")): A -> SINK $SINK_IP:$PORT via its default route $how: SINK counted $c" \
        test "$c" -eq 0
}

run_cases default
run_cases NET_RAW,NET_ADMIN

# ---- controls with the guard table deleted (A has NET_RAW,NET_ADMIN) --------

section "controls: every guard layer of $ENCLAVE_BR stripped, the same probes"
"$P" start "$SENTRY" >/dev/null
SMAC=$(mac_of "$SENTRY")
sink "$SENTRY" "spoof_ip ip saddr $B_IP" "spoof_mac ether saddr $FAKE_MAC"
nsx "$B" nft delete table netdev nlsink
sink "$B" "claim arp saddr ip $GW ether saddr != $SMAC"
cx "$B" "nc -w 1 $GW 9 </dev/null" >/dev/null    # B resolves $GW (SENTRY)
before=$(neigh_mac "$B" "$GW")
if strip_guards; then
    sleep 1.1
    reset "$B"
    probe_claim
    c=$(count "$B" claim) got=$(neigh_mac "$B" "$GW")
    check "1 control: without the guard, B's neighbour $GW flips from $before (SENTRY $SMAC) to $got (A $A_MAC), B counted $c ARP claiming $GW" \
        eval '[ "$got" = "$A_MAC" ] && [ "$c" -gt 0 ]'
    cx "$A" "ip addr del $GW/24 dev eth0" >/dev/null

    reset "$SENTRY"
    probe_spoof_ip
    c=$(count "$SENTRY" spoof_ip)
    check "2 control: without the guard, SENTRY counted $c packets from B's address $B_IP" test "$c" -gt 0
    reset "$SENTRY"
    probe_spoof_mac
    c=$(count "$SENTRY" spoof_mac)
    check "2 control: without the guard, SENTRY counted $c frames from $FAKE_MAC" test "$c" -gt 0

    guard_only
    host_reset
    probe_host
    c=$(host_count listener) c2=$(host_count metadata) c3=$(host_count to_host netdev)
    c6=$(host_count listener6)
    check "4 control: without the guard, the bridge handed the host $c3 IPv4 frames, host counted $c SYNs to :$PORT (on-link $UPLINK_GW, and $c6 over IPv6 link-local), routed $c2 packets to $META (dropped by $HOST_TABLE before they leave)" \
        eval '[ "$c" -gt "$c6" ] && [ "$c6" -gt 0 ] && [ "$c2" -gt 0 ] && [ "$c3" -gt 0 ]'

    "$P" stop -t 0 "$SENTRY" >/dev/null
    reset "$SINK"
    probe_out
    c=$(count "$SINK" from_enclave)
    guard_only_off
    check "8 control: without the guard and without the SENTRY, A's on-link probe through the enclave bridge reaches SINK (host forwards it; SINK counted $c)" \
        test "$c" -gt 0
else
    nok "controls: could not strip the guards (table netdev $GUARD)"
fi
echo "# host: $(host_count escaped) packets dropped on their way off the machine"

cleanup
echo "# runtime $(($(date +%s) - start)) s"
echo "podman no-leak: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
