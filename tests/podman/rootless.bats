#!/usr/bin/env bats
# Rootless podman (issue 10 §2): gateway_mode=container, --as-gateway, a
# stock BOTTLE and the bridge guards, with podman running as an unprivileged
# user (podman-patch/podman-env-rootless: user asgw-rootless, pasta, our
# netavark and podman).  Rootless podman puts every bridge network in its
# rootless network namespace, which pasta connects to the host; netavark
# runs there as the user's root-in-userns.  The same checks as the rootful
# e2e suite (tests/podman/e2e.sh, "S", "A", "X") and no-leak suite
# (tests/podman/no-leak.sh, cases 1, 4, 5 with NET_RAW,NET_ADMIN, and their
# controls), plus what is new rootless: the guards inside the rootless
# netns, and pasta's host-side addresses (169.254.1.1, its DNS forwarder;
# 169.254.1.2, the host; its own 192.0.2.x copy of the host's address).
#
# The scene (every link, namespace and address is made here; nothing
# leaves the machine):
#
#   BOTTLE --enclave--> SENTRY --uplink--> [rootless netns] --pasta--> host
#       --veth--> OUTSIDE netns: allowed 10.226.0.2:80, denied 10.226.0.3:80,
#                                DNS 10.226.0.53 (allowed.test, denied.test)
#
#   enclave  --opt gateway_mode=container, 10.224.0.0/24, bridge asgwrlen,
#            gateway 10.224.0.1 held by the SENTRY (tests/podman/sentry/)
#   open     the same with client_isolation=false, 10.227.0.0/24, bridge
#            asgwrlop: the lateral control
#   uplink   a plain rootless bridge, 10.225.0.0/24, bridge asgwrlup
#   host     table inet asgwrl_host counts what arrives at the host's TCP
#            listener 0.0.0.0:18226, and DNS queries the user's pasta sends
#            to the host's resolver (127.0.0.1 in the sandbox; its DNS
#            forwarder) or (rootful) that arrive from our bridges; OUTSIDE's
#            table inet sinks counts each service
#
# "Blocked" is counted: zero packets at the sink, and every zero has a
# positive control with the same probe that counts more than zero.
#
#   bats tests/podman/rootless.bats        (as root; make check-rootless)
#   AS_GATEWAY_ROOTFUL=1 bats tests/podman/rootless.bats
#       the same checks with rootful podman (podman-patch/podman-env, state
#       /var/tmp/as-gateway/podman-rl-rootful): the bridges are then in the
#       host's namespace, and the pasta control is skipped (no pasta)
#
# Needs: build/bin/podman, build/bin/netavark, and what
# tests/podman/rootless/install.sh installs (pasta, uidmap, the test user);
# skips the whole file, saying which, when one is missing.

root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
load sinks
ROOTFUL=${AS_GATEWAY_ROOTFUL:-}
[ "$ROOTFUL" = 0 ] && ROOTFUL=
R=$root/podman-patch/podman-env-rootless
if [ -n "$ROOTFUL" ]; then
    R=$root/podman-patch/podman-env
    export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-rl-rootful}
fi
export AS_GATEWAY_NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}
export AS_GATEWAY_ROOTLESS_STATE=${AS_GATEWAY_ROOTLESS_STATE:-/var/tmp/as-gateway/podman-rootless}
# the images are built by rootful podman in its own state dir, then loaded
IMG_STATE=/var/tmp/as-gateway/podman-rootless-img
t=asgwrl
SENTRY=$t-sentry BOTTLE=$t-bottle A=$t-a B=$t-b A2=$t-a2 B2=$t-b2 PLAIN=$t-plain
ENCLAVE=$t-enclave UPLINK=$t-uplink OPEN=$t-open
ENCLAVE_BR=asgwrlen UPLINK_BR=asgwrlup OPEN_BR=asgwrlop
GUARD=netavark_guard_$ENCLAVE_BR
ENCLAVE_SUBNET=10.224.0.0/24 GW=10.224.0.1
UPLINK_SUBNET=10.225.0.0/24 UPLINK_GW=10.225.0.1
OPEN_SUBNET=10.227.0.0/24 OPEN_GW=10.227.0.1
NS=asgwrl-out HOST_VETH=asgwrlo0 NS_VETH=asgwrlo1
HOST_OUT=10.226.0.1 ALLOWED=10.226.0.2 DENIED=10.226.0.3 DNS=10.226.0.53
PORT=18226 HOST_TABLE=asgwrl_host
PASTA_DNS=169.254.1.1 PASTA_HOST=169.254.1.2
FAKE_MAC=02:00:5e:00:23:98

say() { echo "# $*" >&3; }
# the unprivileged podman; as root in its sandbox; in the rootless netns
P() { "$R" "$@"; }
pid_of() { P inspect -f '{{.State.Pid}}' "$1"; }
# nsx CONTAINER CMD...: CMD in CONTAINER's network namespace (real root, from the sandbox)
nsx() {
    local pid; pid=$(pid_of "$1"); shift
    if [ -n "$ROOTFUL" ]; then "$R" --exec nsenter -t "$pid" -n "$@"; else "$R" --root nsenter -t "$pid" -n "$@"; fi
}
# rl CMD...: CMD where the bridges are: in the rootless network namespace, as
# the user's root-in-userns; rootful, on the host
rl() { if [ -n "$ROOTFUL" ]; then "$@"; else "$R" --unshare "$@"; fi; }
cx() { P exec "$1" sh -c "$2" 2>&1; }
mac_of() { P exec "$1" cat /sys/class/net/eth0/address; }
# gw_mac: the SENTRY's MAC on the enclave (the interface holding $GW)
gw_dev() { cx "$SENTRY" "ip -o addr show to $GW" | awk '{print $2}'; }
gw_mac() { cx "$SENTRY" "cat /sys/class/net/$(gw_dev)/address"; }
# br_mac: the enclave bridge's MAC (sysfs under `podman unshare` is the host's)
br_mac() { rl ip -o link show dev "$ENCLAVE_BR" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
ip_of() { P inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"; }
counter() { ip netns exec "$NS" nft list counter inet sinks "$1" | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
reset_counters() { ip netns exec "$NS" nft reset counters table inet sinks >/dev/null; }
host_count() { nft list counter inet "$HOST_TABLE" "$1" | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
host_reset() { nft reset counters table inet "$HOST_TABLE" >/dev/null; }
fetch() { P exec "$1" sh -c "timeout 3 nc -w 2 $2 ${3:-80} </dev/null" 2>/dev/null; }
lookup() { local c=$1; shift; P exec "$c" timeout 4 nslookup -timeout=1 -retry=1 "$@" 2>&1; }
# sink CONTAINER RULE...: table netdev rlsink on the ingress of eth0 (or
# $SINK_DEV) in CONTAINER's netns (ns_sink); count CONTAINER NAME; creset
sink() { ns_sink rlsink "${SINK_DEV:-eth0}" "$@"; }
count() { ns_count rlsink "$@"; }
creset() { ns_reset rlsink "$1"; }
# to_host_counter: in the rootless netns, count what the enclave bridge hands
# up to that namespace's own stack after the guard (priority 0 > -400)
to_host_counter() {
    rl sh -c "nft delete table netdev rlhost 2>/dev/null; nft -f - <<EOF
table netdev rlhost {
    counter to_host {}
    chain in {
        type filter hook ingress device $ENCLAVE_BR priority 0; policy accept;
        ip saddr $ENCLAVE_SUBNET counter name to_host
    }
}
EOF"
}
to_host_count() { rl nft list counter netdev rlhost to_host | grep -o 'packets [0-9]*' | cut -d' ' -f2; }

prereq() {
    [ "$(id -u)" = 0 ] || { echo "needs root (it runs podman as the test user)"; return; }
    [ -x "$root/build/bin/podman" ] || { echo "no build/bin/podman: make podman"; return; }
    [ -x "$AS_GATEWAY_NETAVARK" ] || { echo "no $AS_GATEWAY_NETAVARK: make netavark"; return; }
    [ -z "$ROOTFUL" ] || return 0
    command -v newuidmap >/dev/null || { echo "no newuidmap (uidmap): tests/podman/rootless/install.sh"; return; }
    ls /usr/local/libexec/as-gateway/passt-*/pasta >/dev/null 2>&1 || { echo "no pasta: tests/podman/rootless/install.sh"; return; }
    id "${AS_GATEWAY_ROOTLESS_USER:-asgw-rootless}" >/dev/null 2>&1 || { echo "no test user: tests/podman/rootless/install.sh"; return; }
    grep -q "^${AS_GATEWAY_ROOTLESS_USER:-asgw-rootless}:" /etc/subuid || { echo "no /etc/subuid range: tests/podman/rootless/install.sh"; return; }
    local out
    out=$("$R" info --format '{{.Host.Security.Rootless}} {{.Host.RootlessNetworkCmd}}' 2>&1) \
        || { echo "rootless podman does not start: $out"; return; }
    [ "$out" = "true pasta" ] || echo "rootless podman: expected 'true pasta', got '$out'"
}

cleanup() {
    "$R" --teardown >/dev/null 2>&1 || true
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$HOST_VETH" 2>/dev/null || true
    nft delete table inet "$HOST_TABLE" 2>/dev/null || true
    # rootful, the host-side counter table sits in the host's own netns
    if [ -n "$ROOTFUL" ]; then nft delete table netdev rlhost 2>/dev/null || true; fi
    if [ -f "$BATS_FILE_TMPDIR/pids" ]; then
        local p
        for p in $(cat "$BATS_FILE_TMPDIR/pids"); do kill "$p" 2>/dev/null || true; done
    fi
}

setup_file() {
    local why
    why=$(prereq)
    # bats 1.8 cannot skip from setup_file (it reports "setup_file failed"):
    # setup() skips every test with the reason instead
    if [ -n "$why" ]; then export ROOTLESS_SKIP=$why; return 0; fi
    touch "$BATS_FILE_TMPDIR/started"
    # shellcheck source=../debian-packages.sh
    . "$root/tests/debian-packages.sh"
    install_debian_packages "podman rootless tests" \
        "nftables:nft, sink counters outside, on the host and in the containers" \
        "dnsmasq-base:dnsmasq, the outside DNS server" \
        "socat:the outside services and the host listener" >&3
    cleanup
    # images: built by images.sh with rootful podman in its own state, then
    # `podman save | podman load` into the user's storage (the rootful
    # import reads root-only temporary files the user could not)
    local i
    if [ -n "$ROOTFUL" ]; then
        "$root/tests/podman/images.sh" bottle sentry 2>&1 | sed 's/^/# /' >&3
    else
        AS_GATEWAY_PODMAN_STATE=$IMG_STATE "$root/tests/podman/images.sh" bottle sentry 2>&1 | sed 's/^/# /' >&3
        for i in bottle sentry; do
            AS_GATEWAY_PODMAN_STATE=$IMG_STATE "$root/podman-patch/podman-env" save "localhost/$i" | P load -q >/dev/null
        done
        AS_GATEWAY_PODMAN_STATE=$IMG_STATE "$root/podman-patch/podman-env" --teardown >/dev/null 2>&1 || true
    fi

    outside_ns "$NS" "$HOST_VETH" "$NS_VETH" "$HOST_OUT" "$ALLOWED" "$DENIED" "$DNS"
    ip netns exec "$NS" nft -f - <<EOF
table inet sinks {
    counter allowed {}
    counter denied {}
    counter dns {}
    chain input {
        type filter hook input priority -10; policy accept;
        ip daddr $ALLOWED tcp dport 80 counter name allowed
        ip daddr $DENIED tcp dport 80 counter name denied
        ip daddr $DNS meta l4proto { udp, tcp } th dport 53 counter name dns
    }
}
EOF
    local rl_uid
    rl_uid=$(id -u "${AS_GATEWAY_ROOTLESS_USER:-asgw-rootless}" 2>/dev/null || echo 65534)
    nft -f - <<EOF
table inet $HOST_TABLE {
    counter listener {}
    counter dns_lo {}
    chain input {
        type filter hook input priority -300; policy accept;
        tcp dport $PORT counter name listener
        iifname "asgwrl*" udp dport 53 counter name dns_lo
    }
    # pasta's DNS forwarder ($PASTA_DNS) sends from the user's sockets to
    # the resolver of its /etc/resolv.conf (the sandbox's: 127.0.0.1); only
    # those, not other users of the host's loopback :53
    chain output {
        type filter hook output priority -300; policy accept;
        meta skuid $rl_uid ip daddr 127.0.0.0/8 udp dport 53 counter name dns_lo
    }
    # rootful: never route a probe off the machine (the SENTRY's policy
    # already drops all but the outside services; this is the backstop)
    chain forward {
        type filter hook forward priority -300; policy accept;
        iifname "asgwrl*" ip daddr != 10.226.0.0/24 oifname != "asgwrl*" counter drop
    }
}
EOF
    : > "$BATS_FILE_TMPDIR/pids"
    ip netns exec "$NS" socat -U TCP-LISTEN:80,bind=$ALLOWED,reuseaddr,fork SYSTEM:'echo allowed-service' 3>&- &
    echo $! >> "$BATS_FILE_TMPDIR/pids"
    ip netns exec "$NS" socat -U TCP-LISTEN:80,bind=$DENIED,reuseaddr,fork SYSTEM:'echo denied-service' 3>&- &
    echo $! >> "$BATS_FILE_TMPDIR/pids"
    ip netns exec "$NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --pid-file= \
        --user=nobody --group=nogroup --listen-address="$DNS" --bind-interfaces \
        --host-record=allowed.test,"$ALLOWED" --host-record=denied.test,"$DENIED" 3>&- &
    echo $! >> "$BATS_FILE_TMPDIR/pids"
    socat -U TCP-LISTEN:$PORT,bind=0.0.0.0,reuseaddr,fork SYSTEM:'echo host-listener' 3>&- &
    echo $! >> "$BATS_FILE_TMPDIR/pids"

    P network create --disable-dns --subnet "$UPLINK_SUBNET" --gateway "$UPLINK_GW" \
        --interface-name "$UPLINK_BR" "$UPLINK" >/dev/null
    P network create --subnet "$ENCLAVE_SUBNET" --gateway "$GW" \
        --interface-name "$ENCLAVE_BR" --opt gateway_mode=container "$ENCLAVE" >/dev/null
    P network create --subnet "$OPEN_SUBNET" --gateway "$OPEN_GW" --interface-name "$OPEN_BR" \
        --opt gateway_mode=container --opt client_isolation=false "$OPEN" >/dev/null
    if [ -n "$ROOTFUL" ]; then
        say "podman $(P --version | awk '{print $3}') ROOTFUL, $("$AS_GATEWAY_NETAVARK" --version)"
    else
        say "podman $(P --version | awk '{print $3}') rootless as $(P --exec id -un), $("$AS_GATEWAY_NETAVARK" --version), $(stdbuf -o0 "$(ls -d /usr/local/libexec/as-gateway/passt-*/pasta | tail -n1)" --version | head -n1)"
    fi
}

setup() {
    [ -z "${ROOTLESS_SKIP:-}" ] || skip "$ROOTLESS_SKIP"
}

teardown_file() {
    # nothing to clean when setup_file skipped (a prerequisite is missing)
    [ -e "$BATS_FILE_TMPDIR/started" ] || return 0
    cleanup
}

# ---- podman runs rootless ---------------------------------------------------

@test "podman runs with our netavark (rootless: as the unprivileged user, with pasta for the rootless netns)" {
    run P info --format '{{.Host.Security.Rootless}} {{.Host.RootlessNetworkCmd}} {{.Host.NetworkBackendInfo.Path}} {{.Host.CgroupManager}} {{.Host.CgroupsVersion}}'
    say "$output"
    [ "$status" -eq 0 ]
    if [ -n "$ROOTFUL" ]; then
        [[ $output == "false "*" $AS_GATEWAY_PODMAN_STATE/helpers/netavark cgroupfs v2" ]]
    else
        [[ $output == "true pasta $AS_GATEWAY_ROOTLESS_STATE/helpers/netavark cgroupfs v2" ]]
        [ "$(P --exec id -u)" != 0 ]
    fi
}

# ---- S: the network and the SENTRY (e2e.sh "S") ------------------------------

@test "S: the enclave, created with --opt gateway_mode=container only, is stored internal without DNS" {
    run P network inspect -f '{{.Internal}} {{.DNSEnabled}}' "$ENCLAVE"
    [ "$output" = "true false" ]
}

@test "S: without --cap-add NET_ADMIN the SENTRY refuses to start, naming the fix" {
    run P run --rm --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" sentry
    say "${output//$'\n'/ | }"
    [ "$status" -ne 0 ]
    [[ $output == *NET_ADMIN* ]]
}

@test "S: netavark hands the as_gateway container its namespace with forwarding off" {
    run P run --rm --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" --entrypoint /bin/cat \
        sentry /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv4/conf/eth1/forwarding
    say "ip_forward, eth0, eth1: $(echo $output)"
    [ "$status" -eq 0 ]
    [ "$(echo $output)" = "0 0 0" ]
}

@test "S: with --sysctl net.ipv4.ip_forward=1 (on before its entrypoint) the SENTRY refuses to start, naming --sysctl" {
    run P run --rm --cap-add NET_ADMIN --sysctl net.ipv4.ip_forward=1 \
        --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" sentry
    say "${output//$'\n'/ | }"
    [ "$status" -ne 0 ]
    [[ $output == *--sysctl* ]]
}

# ---- A: SENTRY, then BOTTLE (e2e.sh "A") --------------------------------------

@test "A: the SENTRY starts rootless with --cap-add NET_ADMIN, holds the gateway and turns forwarding on itself" {
    P run -d --name "$SENTRY" --cap-add NET_ADMIN --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" \
        -e SENTRY_ALLOW="$ALLOWED:80" -e SENTRY_DNS_UPSTREAM="$DNS" -e SENTRY_DNS_ALLOW=allowed.test \
        sentry >/dev/null
    local i
    for i in $(seq 100); do
        P logs "$SENTRY" 2>&1 | grep -qE '^dnsmasq\[[0-9]+\]: started' && break
        sleep 0.1
    done
    P logs "$SENTRY" 2>&1 | tail -n 4 | sed 's/^/# /' >&3
    run P inspect -f "{{(index .NetworkSettings.Networks \"$ENCLAVE\").IPAddress}}" "$SENTRY"
    [ "$output" = "$GW" ]
    P run -d --name "$BOTTLE" --network "$ENCLAVE" bottle sleep 3600 >/dev/null
    # /proc/sys is read-only without --privileged: the entrypoint turns
    # forwarding on per interface over netlink (sentry-forward)
    run nsx "$SENTRY" cat /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv4/conf/eth1/forwarding
    say "SENTRY forwarding eth0 (uplink), eth1 (enclave): $(echo $output)"
    [ "$(echo $output)" = "1 1" ]
}

@test "A: the BOTTLE (no options) has default via the SENTRY and nameserver the SENTRY" {
    run cx "$BOTTLE" 'ip route; cat /etc/resolv.conf'
    say "${output//$'\n'/ | }"
    [[ $output == *"default via $GW "* ]]
    grep -q "^nameserver $GW\$" <<<"$output"
    ! grep -q '^nameserver' <<<"$(grep -v "^nameserver $GW\$" <<<"$output")"
}

@test "A: the enclave bridge (rootless: in the rootless netns) holds no address (no gateway on the bridge)" {
    run rl ip -o addr show dev "$ENCLAVE_BR"
    say "${output:-(no addresses)}"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "A: the BOTTLE reaches the allowed service through the SENTRY and pasta (sink > 0)" {
    reset_counters
    run fetch "$BOTTLE" "$ALLOWED"
    local c; c=$(counter allowed)
    say "got '$output', sink counted $c"
    [ "$output" = allowed-service ]
    [ "$c" -gt 0 ]
}

@test "A: the BOTTLE is refused the denied service (0 packets)" {
    reset_counters
    run fetch "$BOTTLE" "$DENIED"
    local c; c=$(counter denied)
    say "got '$output', sink counted $c"
    [ -z "$output" ]
    [ "$c" -eq 0 ]
}

@test "A: allowed.test resolves via the SENTRY, which asked upstream (> 0 packets)" {
    reset_counters
    run lookup "$BOTTLE" allowed.test
    local c; c=$(counter dns)
    say "upstream counted $c"
    grep -q "Address: $ALLOWED" <<<"$output"
    grep -q "^Server:.*$GW" <<<"$output"
    [ "$c" -gt 0 ]
}

@test "A: denied.test gets NXDOMAIN from the SENTRY, never asked upstream (0 packets)" {
    reset_counters
    run lookup "$BOTTLE" denied.test
    local c; c=$(counter dns)
    say "upstream counted $c"
    grep -q NXDOMAIN <<<"$output"
    ! grep -q "Address: $DENIED" <<<"$output"
    [ "$c" -eq 0 ]
}

@test "A: querying the outside DNS server directly gets no answer (0 packets)" {
    reset_counters
    run lookup "$BOTTLE" allowed.test "$DNS"
    local c; c=$(counter dns)
    say "upstream counted $c"
    ! grep -q "Address: $ALLOWED" <<<"$output"
    [ "$c" -eq 0 ]
}

# ---- pasta's host side --------------------------------------------------------

@test "pasta control: a plain container on the uplink reaches the host listener via $PASTA_HOST and pasta's DNS forwarder $PASTA_DNS (> 0)" {
    [ -z "$ROOTFUL" ] || skip "rootful: no pasta"
    P run -d --name "$PLAIN" --network "$UPLINK" bottle sleep 3600 >/dev/null
    host_reset
    run fetch "$PLAIN" "$PASTA_HOST" "$PORT"
    local c; c=$(host_count listener)
    P exec "$PLAIN" timeout 4 nslookup -timeout=1 -retry=1 x.test "$PASTA_DNS" >/dev/null 2>&1 || true
    local d; d=$(host_count dns_lo)
    say "got '$output'; host listener counted $c, pasta's DNS to the host counted $d"
    [ "$output" = host-listener ]
    [ "$c" -gt 0 ]
    [ "$d" -gt 0 ]
}

@test "A: the BOTTLE cannot reach the host: pasta's $PASTA_HOST and $PASTA_DNS, the rootless netns's addresses, the uplink gateway, the outside veth, the enclave gateway (0 packets)" {
    local targets ip got=""
    targets="$PASTA_HOST $PASTA_DNS $UPLINK_GW $HOST_OUT $GW $(rl ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)"
    host_reset
    for ip in $targets; do got+=$(fetch "$BOTTLE" "$ip" "$PORT" || true); done
    P exec "$BOTTLE" timeout 4 nslookup -timeout=1 -retry=1 x.test "$PASTA_DNS" >/dev/null 2>&1 || true
    local c d
    c=$(host_count listener) d=$(host_count dns_lo)
    say "targets $targets: got '$got'; host listener counted $c, pasta's DNS to the host counted $d"
    [ -z "$got" ]
    [ "$c" -eq 0 ]
    [ "$d" -eq 0 ]
}

# ---- the guards inside the rootless netns -------------------------------------

@test "guards: table netdev $GUARD exists in the rootless netns, with a drop-all host chain on the bridge" {
    run rl nft list table netdev "$GUARD"
    [ "$status" -eq 0 ]
    [[ $output == *"hook ingress device \"$ENCLAVE_BR\""*"policy drop"* ]]
    [[ $output == *'comment "gateway-claim"'* ]]
}

@test "guards: client ports are isolated, learn nothing, get no unknown unicast, and have a sticky static FDB entry" {
    local bmac port
    bmac=$(mac_of "$BOTTLE")
    port=$(rl bridge fdb show br "$ENCLAVE_BR" | awk -v m="$bmac" '$1 == m && / static/ {print $3}')
    say "BOTTLE $bmac on port '$port'"
    [ -n "$port" ]
    run rl bridge -d link show dev "$port"
    say "${output//$'\n'/ }"
    [[ $output == *"learning off"* ]]
    [[ $output == *" flood off"* ]]
    [[ $output == *"isolated on"* ]]
    rl bridge fdb show br "$ENCLAVE_BR" | grep -q "^$bmac dev $port .*sticky.*static\|^$bmac dev $port .*static.*sticky"
}

@test "guards: the bridge's host side is deaf (disable_ipv6=1, arp_ignore=8, rp_filter=1) in the rootless netns" {
    run rl cat /proc/sys/net/ipv6/conf/$ENCLAVE_BR/disable_ipv6 /proc/sys/net/ipv4/conf/$ENCLAVE_BR/arp_ignore \
        /proc/sys/net/ipv4/conf/$ENCLAVE_BR/rp_filter
    say "$(echo $output)"
    [ "$(echo $output)" = "1 8 1" ]
}

# ---- X: refusals (e2e.sh "X") --------------------------------------------------

@test "X: a second gateway via --network $ENCLAVE:as_gateway=true is refused and not running" {
    run P run -d --name "$t-second" --cap-add NET_ADMIN --network "$ENCLAVE:as_gateway=true" bottle sleep 60
    say "${output//$'\n'/ | }"
    [ "$status" -ne 0 ]
    [ "$(P inspect -f '{{.State.Running}}' "$t-second" 2>/dev/null || echo absent)" != true ]
    P rm -f -t 0 "$t-second" >/dev/null 2>&1 || true
    run fetch "$BOTTLE" "$ALLOWED"
    [ "$output" = allowed-service ]
}

# ---- no-leak with NET_RAW,NET_ADMIN (no-leak.sh 1, 4, 5) -----------------------

@test "no-leak 1: a BOTTLE with NET_RAW,NET_ADMIN takes the gateway address and arpings: another BOTTLE counts 0 claims" {
    P run -d --name "$B" --network "$ENCLAVE" bottle sleep 3600 >/dev/null
    P run -d --name "$A" --cap-add NET_RAW,NET_ADMIN --network "$ENCLAVE" bottle sleep 3600 >/dev/null
    local smac amac
    smac=$(gw_mac) amac=$(mac_of "$A")
    sink "$B" "claim arp saddr ip $GW ether saddr != $smac" "from_a ether saddr $amac"
    cx "$B" "nc -w 1 $GW 9 </dev/null" >/dev/null || true
    sleep 1.1
    creset "$B"
    run cx "$A" "ip addr add $GW/24 dev eth0; echo rc=\$?;
        arping -U -c 2 -I eth0 -s $GW $GW; echo rc=\$?;
        arping -A -c 2 -I eth0 -s $GW $GW; echo rc=\$?"
    local out=$output c got
    c=$(count "$B" claim)
    got=$(cx "$B" "ip neigh show $GW dev eth0" | grep -o 'lladdr [0-9a-f:]*' | cut -d' ' -f2)
    say "A: $(echo $(grep -o 'rc=[0-9]*\|Sent [0-9]* probe[^ ]*' <<<"$out")); B's neighbour $GW is $got (SENTRY $smac), B counted $c claims"
    cx "$A" "ip addr del $GW/24 dev eth0" >/dev/null || true
    ! grep -qi 'not permitted' <<<"$out"
    [ "$c" -eq 0 ]
    [ "$got" = "$smac" ]
}

@test "no-leak 2: a BOTTLE with NET_RAW,NET_ADMIN pings the SENTRY from another BOTTLE's address and from a forged MAC: the SENTRY counts 0" {
    local smac amac bip dev c c2
    smac=$(gw_mac) amac=$(mac_of "$A") bip=$(ip_of "$B" "$ENCLAVE") dev=$(gw_dev)
    SINK_DEV=$dev sink "$SENTRY" "spoof_ip ip saddr $bip" "spoof_mac ether saddr $FAKE_MAC"
    run cx "$A" "ip addr add $bip/24 dev eth0; echo rc=\$?; arp -s $GW $smac; echo rc=\$?;
        ping -c 2 -W 1 -I $bip $GW; echo rc=\$?; ip addr del $bip/24 dev eth0"
    local out1=$output
    run cx "$A" "ip link set dev eth0 address $FAKE_MAC; echo rc=\$?; arp -s $GW $smac;
        ping -c 2 -W 1 $GW; echo rc=\$?; ip link set dev eth0 address $amac"
    local out2=$output
    c=$(count "$SENTRY" spoof_ip) c2=$(count "$SENTRY" spoof_mac)
    say "A: $(echo $(grep -o 'rc=[0-9]*\|[0-9]* packets transmitted' <<<"$out1$out2")); SENTRY ($dev) counted $c from $bip, $c2 from $FAKE_MAC"
    ! grep -qi 'not permitted' <<<"$out1$out2"
    [ "$c" -eq 0 ]
    [ "$c2" -eq 0 ]
}

@test "no-leak 4: a BOTTLE with NET_RAW,NET_ADMIN routing pasta's and the host's addresses on-link via the bridge's MAC: 0 frames to the rootless netns, 0 at the host" {
    local brmac targets ip c c3
    brmac=$(br_mac)
    targets="$PASTA_HOST $PASTA_DNS $UPLINK_GW $HOST_OUT $(rl ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)"
    to_host_counter
    host_reset
    run cx "$A" "for ip in $targets; do
            ip route replace \$ip/32 dev eth0; echo rc=\$?; arp -s \$ip $brmac; echo rc=\$?
        done
        for ip in $targets; do nc -w 1 \$ip $PORT </dev/null; done
        nslookup -timeout=1 -retry=1 x.test $PASTA_DNS >/dev/null; echo done"
    local out=$output
    c=$(host_count listener) c3=$(to_host_count)
    say "A: $(echo $(grep -o 'rc=[0-9]*' <<<"$out") | tr -s ' ' | cut -c1-80); the bridge handed its own namespace $c3 frames; host listener counted $c, pasta's DNS to the host $(host_count dns_lo)"
    cx "$A" "for ip in $targets; do ip route del \$ip/32 dev eth0; arp -d \$ip; done" >/dev/null || true
    ! grep -qi 'not permitted' <<<"$out"
    [ "$c3" -eq 0 ]
    [ "$c" -eq 0 ]
    [ "$(host_count dns_lo)" -eq 0 ]
}

@test "no-leak 5: a BOTTLE with NET_RAW,NET_ADMIN cannot reach another BOTTLE (TCP, UDP, any frame: 0)" {
    local bmac bip amac c c2 got
    bmac=$(mac_of "$B") bip=$(ip_of "$B" "$ENCLAVE") amac=$(mac_of "$A")
    nsx "$B" nft delete table netdev rlsink 2>/dev/null || true
    sink "$B" "lat_tcp ip saddr $(ip_of "$A" "$ENCLAVE") tcp dport $PORT" \
        "lat_udp ip saddr $(ip_of "$A" "$ENCLAVE") udp dport 53" "from_a ether saddr $amac"
    run cx "$A" "arp -s $bip $bmac; echo rc=\$?;
        nc -w 1 $bip $PORT </dev/null; nslookup -timeout=1 -retry=1 x.test $bip >/dev/null; echo done"
    c=$(count "$B" lat_tcp) c2=$(count "$B" lat_udp) got=$(count "$B" from_a)
    say "B counted $c TCP, $c2 UDP, $got frames from A's MAC"
    [ "$c" -eq 0 ] && [ "$c2" -eq 0 ] && [ "$got" -eq 0 ]
}

@test "no-leak 5 control: the same probe on a client_isolation=false network arrives (> 0)" {
    P run -d --name "$B2" --network "$OPEN" bottle sleep 3600 >/dev/null
    P run -d --name "$A2" --cap-add NET_RAW,NET_ADMIN --network "$OPEN" bottle sleep 3600 >/dev/null
    local a2ip b2ip b2mac c c2
    a2ip=$(ip_of "$A2" "$OPEN") b2ip=$(ip_of "$B2" "$OPEN") b2mac=$(mac_of "$B2")
    sink "$B2" "lat_tcp ip saddr $a2ip tcp dport $PORT" "lat_udp ip saddr $a2ip udp dport 53"
    cx "$A2" "arp -s $b2ip $b2mac; nc -w 1 $b2ip $PORT </dev/null; nslookup -timeout=1 -retry=1 x.test $b2ip >/dev/null" >/dev/null || true
    c=$(count "$B2" lat_tcp) c2=$(count "$B2" lat_udp)
    say "B2 counted $c TCP, $c2 UDP"
    P rm -f -t 0 "$A2" "$B2" >/dev/null
    [ "$c" -gt 0 ] && [ "$c2" -gt 0 ]
}

@test "controls: with every guard layer stripped in the rootless netns, the claim and the host probes arrive (> 0)" {
    local smac amac brmac p c c3 got targets
    smac=$(gw_mac) amac=$(mac_of "$A")
    # strip the guards, as the user's root-in-userns (what netavark had)
    rl sh -c "nft delete table netdev $GUARD
        for p in \$(ip -o link show master $ENCLAVE_BR | awk -F': ' '{print \$2}' | cut -d@ -f1); do
            ip link set dev \$p type bridge_slave learning on isolated off flood on mcast_flood on bcast_flood on
            sysctl -qw net.ipv6.conf.\$p.disable_ipv6=0 net.ipv4.conf.\$p.arp_ignore=0 net.ipv4.conf.\$p.rp_filter=0
        done
        bridge fdb show br $ENCLAVE_BR | awk '/ static/ && !/ permanent/ {print \$1, \$3}' |
            while read -r mac dev; do bridge fdb del \$mac dev \$dev master; done
        sysctl -qw net.ipv4.conf.$ENCLAVE_BR.rp_filter=0 net.ipv4.conf.$ENCLAVE_BR.arp_ignore=0"
    nsx "$B" nft delete table netdev rlsink
    sink "$B" "claim arp saddr ip $GW ether saddr != $smac"
    run cx "$A" "ip addr add $GW/24 dev eth0; arping -U -c 2 -I eth0 -s $GW $GW; arping -A -c 2 -I eth0 -s $GW $GW"
    c=$(count "$B" claim)
    got=$(cx "$B" "ip neigh show $GW dev eth0" | grep -o 'lladdr [0-9a-f:]*' | cut -d' ' -f2)
    cx "$A" "ip addr del $GW/24 dev eth0" >/dev/null || true
    brmac=$(br_mac)
    targets="$PASTA_HOST $UPLINK_GW"
    to_host_counter
    cx "$A" "for ip in $targets; do ip route replace \$ip/32 dev eth0; arp -s \$ip $brmac; done
        for ip in $targets; do nc -w 1 \$ip $PORT </dev/null; done" >/dev/null || true
    c3=$(to_host_count)
    local bip c4 c5
    bip=$(ip_of "$B" "$ENCLAVE")
    nsx "$SENTRY" nft reset counters table netdev rlsink >/dev/null
    cx "$A" "ip addr add $bip/24 dev eth0; arp -s $GW $smac; ping -c 2 -W 1 -I $bip $GW; ip addr del $bip/24 dev eth0" >/dev/null || true
    cx "$A" "ip link set dev eth0 address $FAKE_MAC; arp -s $GW $smac; ping -c 2 -W 1 $GW; ip link set dev eth0 address $amac" >/dev/null || true
    c4=$(count "$SENTRY" spoof_ip) c5=$(count "$SENTRY" spoof_mac)
    say "without the guards: B counted $c claims, B's neighbour $GW is $got (A $amac); the bridge handed its own namespace $c3 frames; SENTRY counted $c4 from B's address, $c5 from $FAKE_MAC"
    [ "$c" -gt 0 ]
    [ "$c3" -gt 0 ]
    [ "$c4" -gt 0 ]
    [ "$c5" -gt 0 ]
}

# ---- C: podman network connect --as-gateway (e2e.sh "C") ------------------------

@test "C: podman network connect --as-gateway gives a running SENTRY the gateway of a second enclave, whose BOTTLE then routes through it" {
    P network create --subnet 10.228.0.0/24 --gateway 10.228.0.1 --interface-name asgwrlc2 \
        --opt gateway_mode=container "$t-enclave2" >/dev/null
    P run -d --name "$t-bottle2" --network "$t-enclave2" bottle sleep 3600 >/dev/null
    run P network connect --as-gateway "$t-enclave2" "$SENTRY"
    say "${output:-connected}"
    [ "$status" -eq 0 ]
    run P inspect -f "{{(index .NetworkSettings.Networks \"$t-enclave2\").IPAddress}}" "$SENTRY"
    [ "$output" = 10.228.0.1 ]
    run cx "$t-bottle2" 'ip route; cat /etc/resolv.conf'
    [[ $output == *"default via 10.228.0.1 "* ]]
    grep -q '^nameserver 10.228.0.1$' <<<"$output"
    reset_counters
    run fetch "$t-bottle2" "$ALLOWED"
    local c; c=$(counter allowed)
    say "BOTTLE2 got '$output', sink counted $c"
    [ "$output" = allowed-service ]
    [ "$c" -gt 0 ]
}
