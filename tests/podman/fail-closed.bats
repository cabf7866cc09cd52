#!/usr/bin/env bats
# Fail closed off the happy path, with real podman containers (issue 9, §1
# version skew and §3 the SENTRY's start-up): the patched podman
# (build/bin/podman) through podman-patch/podman-env, with the patched
# netavark or, for the skew cases, stock netavark 2.1.0
# (build/bin/netavark-stock, put in podman-env's helper_binaries_dir as
# "netavark", as a distribution update would).
#
# The scene (setup_file; every link, namespace and address is made here,
# nothing leaves the machine):
#
#   BOTTLE (stock busybox) --enclave--> SENTRY --uplink--> host --veth--> OUTSIDE
#
#   enclave   --opt gateway_mode=container, 10.236.0.0/24, bridge asgwfcen,
#             gateway 10.236.0.1 held by the SENTRY
#   uplink    a plain podman network, 10.237.0.0/24, bridge asgwfcup; the
#             host routes it to OUTSIDE through the veth asgwfo0 (10.238.0.1)
#   OUTSIDE   network namespace asgwfc-out: 10.238.0.2 (allowed) and
#             10.238.0.3 (denied by the SENTRY's policy); nft counters count
#             every IPv4 packet that arrives for each (the sinks)
#   host      table inet asgwfc_host counts packets from the enclave subnet
#             that the host takes in or routes off the enclave bridge, i.e.
#             that got past the SENTRY
#
# A "leak" is a packet counted at a sink; every negative count has a
# positive control that counts more than 0 with the same probe.  Counts are
# printed as "# ..." lines.  The host's net.ipv4.ip_forward is set to 1 for
# the run (a host with a routed podman network has it; case (b) needs it)
# and restored at the end.
#
#   bats tests/podman/fail-closed.bats
#     (AS_GATEWAY_PODMAN_STATE defaults to /var/tmp/as-gateway/podman-fc; the
#     sandbox is torn down at the end)

root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
load sinks
export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-fc}
PATCHED=$root/build/bin/netavark
STOCK=$root/build/bin/netavark-stock
ENCLAVE=asgwfc-enclave UPLINK=asgwfc-uplink
ENCLAVE_BR=asgwfcen UPLINK_BR=asgwfcup
ENCLAVE_SUBNET=10.236.0.0/24 GW=10.236.0.1 UPLINK_SUBNET=10.237.0.0/24
NS=asgwfc-out HOST_VETH=asgwfo0 NS_VETH=asgwfo1
HOST_OUT=10.238.0.1 ALLOWED=10.238.0.2 DENIED=10.238.0.3
HOST_TABLE=asgwfc_host
SENTRY=asgwfc-sentry BOTTLE=asgwfc-bottle PROBE=asgwfc-probe
ROUTER=$root/tests/podman/fail-closed/router-sentry.sh

# P ARGS: podman, with the netavark in AS_GATEWAY_NETAVARK (default patched)
P() { AS_GATEWAY_NETAVARK=${AS_GATEWAY_NETAVARK:-$PATCHED} "$root/podman-patch/podman-env" "$@"; }
say() { echo "# $*" >&3; }

counter() { ip netns exec "$NS" nft list counter inet sinks "$1" | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
escaped() { nft list counter inet "$HOST_TABLE" escaped | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
reset_counters() {
    ip netns exec "$NS" nft reset counters table inet sinks >/dev/null
    nft reset counters table inet "$HOST_TABLE" >/dev/null
}
# leaked: packets at every sink (allowed, denied, host) since reset_counters
leaked() { echo $(( $(counter allowed) + $(counter denied) + $(escaped) )); }

# hammer SECONDS DEST: from the BOTTLE's network namespace, a TCP SYN and a
# UDP datagram to DEST every 2 ms for SECONDS; prints how many of each
hammer() {
    local pid
    pid=$(P inspect -f '{{.State.Pid}}' "$BOTTLE")
    P --exec nsenter -t "$pid" -n python3 -c '
import socket, sys, time
end = time.time() + float(sys.argv[1])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
while time.time() < end:
    s = socket.socket(); s.setblocking(False)
    try: s.connect_ex((sys.argv[2], 80))
    finally: s.close()
    try: u.sendto(b"x", (sys.argv[2], 9))
    except OSError: pass
    n += 1
    time.sleep(0.002)
print(n)' "$1" "$2"
}
# reach DEST: 5 TCP connects from the BOTTLE's own busybox nc to DEST:80
reach() { P exec "$BOTTLE" sh -c "for i in 1 2 3 4 5; do nc -w 1 $1 80 </dev/null; done" >/dev/null 2>&1 || true; }

# sentry_log_count PATTERN: lines of the SENTRY's log matching PATTERN
sentry_log_count() { P logs "$SENTRY" 2>&1 | grep -c -- "$1" || true; }
# wait_log PATTERN N: until the SENTRY's log has N lines matching PATTERN (10 s)
wait_log() {
    local _
    for _ in $(seq 100); do
        [ "$(sentry_log_count "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    say "the SENTRY's log never had $2 x '$1':"
    P logs "$SENTRY" 2>&1 | tail -n 5 | sed 's/^/#   /' >&3
    return 1
}
# restart3 PATTERN: restart the SENTRY 3 times, each time until its log has
# one more PATTERN line (its policy is loaded and forwarding is on)
restart3() {
    local i n
    for i in 1 2 3; do
        n=$(sentry_log_count "$1")
        P restart -t 0 "$SENTRY" >/dev/null
        wait_log "$1" $((n + 1))
    done
}

run_example_sentry() {  # the example SENTRY, as documented: no --sysctl
    P run -d --name "$SENTRY" "$@" --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" \
        -e SENTRY_ALLOW="$ALLOWED:80" sentry >/dev/null
    wait_log '^sentry: ready' 1
}
run_router() {  # run_router [PODMAN RUN ARGS]: router-sentry.sh, unmodified
    P run -d --name "$SENTRY" "$@" --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" \
        -v "$ROUTER:/router-sentry.sh:ro" --entrypoint /bin/sh sentry /router-sentry.sh >/dev/null
    wait_log '^router: policy loaded' 1
}
run_bottle() { P run -d --name "$BOTTLE" --network "$ENCLAVE" bottle sleep 3600 >/dev/null; }

setup_file() {
    [ "$(id -u)" = 0 ] || skip "needs root"
    [ -x "$PATCHED" ] && [ -x "$STOCK" ] || skip "make netavark first"
    # shellcheck source=../debian-packages.sh
    . "$root/tests/debian-packages.sh"
    install_debian_packages "podman fail-closed" \
        "nftables:nft, sink counters in the outside namespace and the host" \
        "python3:the BOTTLE's flood" >&3
    cleanup_scene
    "$root/tests/podman/images.sh" bottle sentry 2>&1 | sed 's/^/# /' >&3
    cat /proc/sys/net/ipv4/ip_forward > "$BATS_FILE_TMPDIR/ip_forward"
    sysctl -qw net.ipv4.ip_forward=1

    outside_ns "$NS" "$HOST_VETH" "$NS_VETH" "$HOST_OUT" "$ALLOWED" "$DENIED"
    ip netns exec "$NS" nft -f - <<EOF
table inet sinks {
    counter allowed {}
    counter denied {}
    chain input {
        type filter hook input priority -10; policy accept;
        ip daddr $ALLOWED counter name allowed
        ip daddr $DENIED counter name denied
    }
}
EOF
    nft -f - <<EOF
table inet $HOST_TABLE {
    counter escaped {}
    # delivered to the host, or routed by it off the enclave bridge (with
    # br_netfilter, frames bridged to the SENTRY pass these hooks too, with
    # the bridge as in- and output device: not counted)
    chain input {
        type filter hook input priority -300; policy accept;
        ip saddr $ENCLAVE_SUBNET counter name escaped
    }
    chain forward {
        type filter hook forward priority -300; policy accept;
        ip saddr $ENCLAVE_SUBNET oifname != "$ENCLAVE_BR" counter name escaped
    }
}
EOF
    P network create --disable-dns --subnet "$UPLINK_SUBNET" --interface-name "$UPLINK_BR" "$UPLINK" >/dev/null
    P network create --subnet "$ENCLAVE_SUBNET" --gateway "$GW" --interface-name "$ENCLAVE_BR" \
        --opt gateway_mode=container "$ENCLAVE" >/dev/null
    say "podman $(P --version | awk '{print $3}'); patched $PATCHED, stock $STOCK; host ip_forward $(cat "$BATS_FILE_TMPDIR/ip_forward") -> 1"
}

# cleanup_scene: containers, networks, the outside namespace, the host table
cleanup_scene() {
    P rm -f -t 0 "$SENTRY" "$BOTTLE" "$PROBE" >/dev/null 2>&1 || true
    P network rm -f "$ENCLAVE" "$UPLINK" asgwfc-stock >/dev/null 2>&1 || true
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$HOST_VETH" 2>/dev/null || true
    nft delete table inet "$HOST_TABLE" 2>/dev/null || true
}

teardown_file() {
    cleanup_scene
    "$root/podman-patch/podman-env" --teardown >/dev/null 2>&1 || true
    if [ -s "$BATS_FILE_TMPDIR/ip_forward" ]; then
        sysctl -qw net.ipv4.ip_forward="$(cat "$BATS_FILE_TMPDIR/ip_forward")"
    fi
}

teardown() {
    unset AS_GATEWAY_NETAVARK
    P rm -f -t 0 "$SENTRY" "$BOTTLE" "$PROBE" >/dev/null 2>&1 || true
}

# ---- §1: version skew ---------------------------------------------------------

@test "skew: with a netavark without gateway_mode, podman network create --opt gateway_mode=container fails, naming the fix" {
    export AS_GATEWAY_NETAVARK=$STOCK
    run P network create --subnet 10.239.0.0/24 --opt gateway_mode=container asgwfc-stock
    say "rc $status: $output"
    [ "$status" -ne 0 ]
    [[ $output == *"network asgwfc-stock has gateway_mode=container, which "*" does not support ("*"): install a netavark with gateway_mode support, or point helper_binaries_dir in containers.conf at a directory that holds one"* ]]
    run P network exists asgwfc-stock
    [ "$status" -ne 0 ]
}

@test "skew: with a netavark without gateway_mode, no container starts or connects on an existing enclave, and 0 packets leave" {
    export AS_GATEWAY_NETAVARK=$STOCK
    P run -d --name "$PROBE" --network "$UPLINK" bottle sleep 3600 >/dev/null
    links=$(P exec "$PROBE" ip -o link | wc -l)
    reset_counters
    # the BOTTLE's own command would flood both sinks, if it ever ran
    flood="for i in \$(seq 20); do nc -w 1 $ALLOWED 80 </dev/null; nc -w 1 $DENIED 80 </dev/null; done"
    run P run --name "$BOTTLE" --network "$ENCLAVE" bottle sh -c "$flood"
    say "bottle: rc $status: $output"
    [ "$status" -ne 0 ]
    [[ $output == *"network $ENCLAVE has gateway_mode=container, which "*" does not support"*"install a netavark with gateway_mode support"* ]]
    run P run --name "$SENTRY" --cap-add NET_ADMIN --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" sentry
    say "sentry: rc $status: ${output##*Error: }"
    [ "$status" -ne 0 ]
    [[ $output == *"does not support"* ]]
    run P network connect "$ENCLAVE" "$PROBE"
    say "network connect: rc $status"
    [ "$status" -ne 0 ]
    [[ $output == *"does not support"* ]]
    [ "$(P exec "$PROBE" ip -o link | wc -l)" = "$links" ]
    sleep 1
    say "sinks: allowed $(counter allowed), denied $(counter denied), host (enclave sources) $(escaped)"
    [ "$(leaked)" -eq 0 ]

    # control: the same command with the patched stack reaches the allowed sink
    export AS_GATEWAY_NETAVARK=$PATCHED
    P rm -f -t 0 "$BOTTLE" "$SENTRY" >/dev/null 2>&1 || true
    run_example_sentry --cap-add NET_ADMIN
    reset_counters
    P run --name "$BOTTLE" --network "$ENCLAVE" bottle sh -c "$flood" >/dev/null 2>&1 || true
    say "control, patched: allowed $(counter allowed), denied $(counter denied) (the SENTRY's policy), host $(escaped)"
    [ "$(counter allowed)" -gt 0 ]
    [ "$(counter denied)" -eq 0 ]
}

@test "skew: after a downgrade the SENTRY cannot restart; the running BOTTLE gets 0 packets out; back to the patched netavark, it routes again" {
    run_example_sentry --cap-add NET_ADMIN
    run_bottle
    reset_counters
    reach "$ALLOWED"
    before=$(counter allowed)
    say "patched: BOTTLE -> allowed sink $before"
    [ "$before" -gt 0 ]

    export AS_GATEWAY_NETAVARK=$STOCK
    run P restart -t 0 "$SENTRY"
    say "restart with stock netavark: rc $status: ${output##*Error: }"
    [ "$status" -ne 0 ]
    [[ $output == *"does not support"* ]]
    [ "$(P inspect -f '{{.State.Running}}' "$SENTRY")" = false ]
    reset_counters
    n=$(hammer 3 "$ALLOWED")
    reach "$ALLOWED"
    say "SENTRY refused: the BOTTLE sent $n SYNs and $n datagrams to $ALLOWED (allowed by the policy) and 5 connects: allowed $(counter allowed), denied $(counter denied), host $(escaped)"
    [ "$(leaked)" -eq 0 ]

    export AS_GATEWAY_NETAVARK=$PATCHED
    n=$(sentry_log_count '^sentry: ready')
    P start "$SENTRY" >/dev/null
    wait_log '^sentry: ready' $((n + 1))
    reset_counters
    reach "$ALLOWED"
    say "patched again: BOTTLE -> allowed sink $(counter allowed)"
    [ "$(counter allowed)" -gt 0 ]
}

# ---- §3: the SENTRY's start-up ------------------------------------------------

@test "(a) the documented recipe: SENTRY turns forwarding on from its entrypoint after its policy; 0 packets out during 3 restarts, traffic once up" {
    # the example SENTRY --privileged takes the path the docs give:
    # nft policy, then sysctl -w net.ipv4.ip_forward=1; no --sysctl
    run_example_sentry --privileged
    [ "$(sentry_log_count '^sentry: forwarding on: sysctl -w net.ipv4.ip_forward=1')" -eq 1 ]
    run_bottle
    reset_counters
    hammer 12 "$DENIED" >"$BATS_TEST_TMPDIR/hammer" &
    sleep 0.5
    restart3 '^sentry: ready'
    wait
    say "3 restarts, BOTTLE sent $(cat "$BATS_TEST_TMPDIR/hammer") SYNs and datagrams each to $DENIED: denied sink $(counter denied), host $(escaped)"
    [ "$(counter denied)" -eq 0 ]
    [ "$(escaped)" -eq 0 ]
    reset_counters
    reach "$ALLOWED"
    say "control: SENTRY up, BOTTLE -> allowed sink $(counter allowed)"
    [ "$(counter allowed)" -gt 0 ]
}

@test "(a) control: the wrong advice, --sysctl net.ipv4.ip_forward=1, leaks during the same 3 restarts" {
    # router-sentry.sh does not refuse to start when forwarding is on
    # already; its policy also lets only $ALLOWED through
    run_router --privileged --sysctl net.ipv4.ip_forward=1 -e ROUTER_ALLOW="$ALLOWED" -e FORWARD_IDIOM=none
    run_bottle
    reset_counters
    hammer 12 "$DENIED" >"$BATS_TEST_TMPDIR/hammer" &
    sleep 0.5
    restart3 '^router: policy loaded'
    wait
    say "3 restarts with --sysctl, BOTTLE sent $(cat "$BATS_TEST_TMPDIR/hammer") SYNs and datagrams each to $DENIED: denied sink $(counter denied)"
    [ "$(counter denied)" -gt 0 ]
}

@test "(b) a router SENTRY (privileged, no sysctls) that does 'echo 1 > /proc/sys/net/ipv4/ip_forward' after its policy routes the enclave, on a host with ip_forward=1" {
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]
    run_router --privileged -e FORWARD_IDIOM=echo
    say "$(P logs "$SENTRY" 2>&1 | grep '^router:')"
    run_bottle
    reset_counters
    reach "$ALLOWED"
    say "BOTTLE -> outside sink $(counter allowed) (host ip_forward $(cat /proc/sys/net/ipv4/ip_forward))"
    [ "$(counter allowed)" -gt 0 ]
}

@test "(c) the same router SENTRY with 'sysctl -w net.ipv4.ip_forward=1' routes the enclave" {
    run_router --privileged -e FORWARD_IDIOM=sysctl
    say "$(P logs "$SENTRY" 2>&1 | grep '^router:')"
    run_bottle
    reset_counters
    reach "$ALLOWED"
    say "BOTTLE -> outside sink $(counter allowed)"
    [ "$(counter allowed)" -gt 0 ]
}

@test "(b, c) control: the router SENTRY that never turns forwarding on routes nothing" {
    run_router --privileged -e FORWARD_IDIOM=none
    run_bottle
    reset_counters
    reach "$ALLOWED"
    say "BOTTLE -> outside sink $(counter allowed), host $(escaped) (SENTRY's ip_forward $(P exec "$SENTRY" cat /proc/sys/net/ipv4/ip_forward))"
    [ "$(leaked)" -eq 0 ]
}

# ---- §5: no silent no-ops -------------------------------------------------------

@test "no silent no-ops: network DNS servers and port mappings on the enclave are refused with why; a SENTRY publishes its port on its uplink" {
    run P network update --dns-add 192.0.2.53 "$ENCLAVE"
    say "network update --dns-add: rc $status: ${output##*Error: }"
    [ "$status" -ne 0 ]
    [[ $output == *"has gateway_mode=container: its gateway container serves DNS"* ]]
    [ "$(P network inspect -f '{{len .NetworkDNSServers}}' "$ENCLAVE")" = 0 ]
    run P run --rm -p 18236:80 --network "$ENCLAVE" bottle true
    say "run -p on the enclave only: rc $status: ${output##*Error: }"
    [ "$status" -ne 0 ]
    [[ $output == *"port mappings need a network the host routes: $ENCLAVE has gateway_mode=container"* ]]
    # the network still works: nothing was stored
    run_example_sentry --cap-add NET_ADMIN -p 18236:53/udp
    run_bottle
    reset_counters
    reach "$ALLOWED"
    say "SENTRY with -p 18236:53/udp (published on its uplink): running; BOTTLE -> allowed sink $(counter allowed)"
    [ "$(counter allowed)" -gt 0 ]
    P port "$SENTRY" | grep -q '18236'
}
