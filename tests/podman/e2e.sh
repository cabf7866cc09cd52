#!/usr/bin/env bash
# End-to-end test of the as-gateway podman with the real SENTRY image:
# real containers, real `podman` CLI (podman-patch/podman-env), the patched
# netavark, nftables and dnsmasq inside the SENTRY.
#
# The scene (every link, namespace and address is made here; nothing leaves
# the machine):
#
#   BOTTLE (stock busybox, default caps) --enclave--> SENTRY --uplink--> host
#       --veth--> OUTSIDE netns: allowed service 10.219.0.2:80,
#                                denied service  10.219.0.3:80,
#                                DNS server      10.219.0.53 (dnsmasq:
#                                allowed.test, denied.test)
#
#   enclave  --opt gateway_mode=container (stored internal without DNS),
#            gateway 10.217.0.1 held by the SENTRY (as_gateway)
#   uplink   a plain podman network (10.218.0.0/24); the host routes it to
#            OUTSIDE through the veth asgwto0 (10.219.0.1)
#   SENTRY   image `sentry` (tests/podman/sentry/): allowlist 10.219.0.2:80,
#            DNS allowlist allowed.test via 10.219.0.53, masquerade; run with
#            --cap-add NET_ADMIN and no --sysctl (netavark hands it its
#            namespace with forwarding off; it turns forwarding on itself
#            once its policy is loaded)
#
# "Blocked" is measured, not assumed: nftables counters in OUTSIDE count the
# packets that reach each service and the DNS server, and a table in the
# host counts packets to a TCP listener the test runs on the host
# (0.0.0.0:18093).  A blocked path must show zero packets.
#
# Cases (TAP-like "ok"/"not ok" lines, then "N passed, N failed"):
#   S  the SENTRY image refuses to start unsafely (forwarding turned on by
#      --sysctl before its entrypoint, no NET_ADMIN); netavark hands it its
#      namespace with forwarding off
#   A  SENTRY started first, then BOTTLE: allowlist, DNS, host isolation
#   R  `podman restart` and `podman kill` + `podman start` of the SENTRY:
#      zero packets leave while it is down, the running BOTTLE resumes
#      (time-to-resume printed); none leave while it starts either
#      (netavark hands the SENTRY its namespace with forwarding off)
#   X  refusals: a second gateway, as_gateway on a network without gateway_mode=container, a
#      static IP equal to the gateway; each leaves nothing half-connected
#      and a legitimate connect works afterwards
#   B  BOTTLE started first, then SENTRY: the same checks as A
#   C  `podman network connect --as-gateway` into a running scene: the
#      SENTRY takes the gateway over, the BOTTLE is not restarted, nothing
#      leaks while it connects (its policy is already loaded)
#
# Usage: AS_GATEWAY_PODMAN_STATE=/var/tmp/as-gateway/podman-e2e tests/podman/e2e.sh
# Exit status non-zero when any case fails.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
P=$root/podman-patch/podman-env
export AS_GATEWAY_NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}

t=asgw-e2e                      # container and network name prefix
SENTRY=$t-sentry BOTTLE=$t-bottle PROBE=$t-probe SECOND=$t-second
ENCLAVE=$t-enclave UPLINK=$t-uplink ROUTED=$t-routed
ENCLAVE_BR=asgwten UPLINK_BR=asgwtup ROUTED_BR=asgwtrt
ENCLAVE_SUBNET=10.217.0.0/24 GW=10.217.0.1
UPLINK_SUBNET=10.218.0.0/24 UPLINK_GW=10.218.0.1
ROUTED_SUBNET=10.216.0.0/24 ROUTED_GW=10.216.0.1
NS=asgwt-outside HOST_VETH=asgwto0 NS_VETH=asgwto1
HOST_OUT=10.219.0.1 ALLOWED=10.219.0.2 DENIED=10.219.0.3 DNS=10.219.0.53
HOST_PORT=18093
HOST_TABLE=asgwt_e2e
work=$(mktemp -d /tmp/asgw-e2e.XXXXXX)
pids=()

# shellcheck source-path=SCRIPTDIR source=tap.bash
. "$root/tests/podman/tap.bash"
. "$root/tests/podman/sinks.bash"

cleanup() {
    "$P" rm -f -t 0 "$SENTRY" "$BOTTLE" "$PROBE" "$SECOND" >/dev/null 2>&1 || true
    "$P" network rm -f "$ENCLAVE" "$UPLINK" "$ROUTED" >/dev/null 2>&1 || true
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$HOST_VETH" 2>/dev/null || true
    nft delete table inet "$HOST_TABLE" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers --------------------------------------------------------------

# counter NAME: packets counted so far by OUTSIDE's sink counter NAME
counter() { ip netns exec "$NS" nft list counter inet sinks "$1" | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
reset_counters() { ip netns exec "$NS" nft reset counters table inet sinks >/dev/null; ip netns exec "$NS" nft flush set inet sinks sources; }
# sources: the source addresses of the packets that reached the denied service
sources() { ip netns exec "$NS" nft list set inet sinks sources | tr -d '\n\t' | sed 's/.*elements = { *\([^}]*[^ }]\) *}.*/\1/;t;s/.*/none/'; }
host_count() { nft list counter inet "$HOST_TABLE" listener | grep -o 'packets [0-9]*' | cut -d' ' -f2; }

# fetch IP [PORT]: what the BOTTLE's own nc gets from IP:PORT (80) within 2 s;
# the services (socat -U) send one line and read nothing
fetch() { "$P" exec "$BOTTLE" sh -c "timeout 3 nc -w 2 $1 ${2:-80} </dev/null" 2>/dev/null; }
# lookup NAME [SERVER]: busybox nslookup in the BOTTLE (resolv.conf unless SERVER)
lookup() { "$P" exec "$BOTTLE" timeout 4 nslookup -timeout=1 -retry=1 "$@" 2>&1; }

# sentry_starts: how often the SENTRY's dnsmasq has started (one per start)
sentry_starts() { "$P" logs "$SENTRY" 2>&1 | grep -cE '^dnsmasq\[[0-9]+\]: started'; }
# wait_sentry N: until the SENTRY's dnsmasq has started N times (10 s)
wait_sentry() {
    local _
    for _ in $(seq 100); do
        [ "$(sentry_starts)" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "# SENTRY did not come up:"; "$P" logs "$SENTRY" 2>&1 | tail -n 5 | diag
    return 1
}

run_sentry() {  # run_sentry NETWORK...: start the SENTRY on those networks
    local nets=() net
    for net in "$@"; do nets+=(--network "$net"); done
    "$P" run -d --name "$SENTRY" --cap-add NET_ADMIN \
        "${nets[@]}" \
        -e SENTRY_ALLOW="$ALLOWED:80" \
        -e SENTRY_DNS_UPSTREAM="$DNS" -e SENTRY_DNS_ALLOW="allowed.test" \
        sentry >/dev/null
}
run_bottle() { "$P" run -d --name "$BOTTLE" --network "$ENCLAVE" bottle sleep 3600 >/dev/null; }
# shellcheck disable=SC2016 # a Go template, not shell
nets_of() { "$P" inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$1"; }
ports_of() { ip -o link show master "$1" 2>/dev/null | wc -l; }
links_in() { "$P" exec "$1" ip -o link | wc -l; }

# paths LABEL: the allowlist, DNS and host-isolation checks for a running scene
paths() {
    local label=$1 out c
    reset_counters
    out=$(fetch "$ALLOWED")
    c=$(counter allowed)
    check "$label: BOTTLE reaches the allowed service through the SENTRY ($ALLOWED:80 said '${out//$'\n'/ }', sink counted $c)" \
        test "$out" = allowed-service -a "$c" -gt 0

    reset_counters
    out=$(fetch "$DENIED")
    c=$(counter denied)
    check "$label: BOTTLE is refused the other service ($DENIED:80 said '${out//$'\n'/ }', sink counted $c packets)" \
        test -z "$out" -a "$c" -eq 0

    reset_counters
    out=$(lookup allowed.test)
    c=$(counter dns)
    if grep -q "Address: $ALLOWED" <<<"$out" && grep -q "^Server:.*$GW" <<<"$out" && [ "$c" -gt 0 ]; then
        ok "$label: allowed.test resolves to $ALLOWED via the SENTRY ($GW), which asked upstream ($c packets)"
    else nok "$label: allowed.test via the SENTRY (upstream counted $c)"; diag <<<"$out"; fi

    reset_counters
    out=$(lookup denied.test)
    c=$(counter dns)
    if grep -q NXDOMAIN <<<"$out" && ! grep -q "Address: $DENIED" <<<"$out" && [ "$c" -eq 0 ]; then
        ok "$label: denied.test gets NXDOMAIN from the SENTRY, never asked upstream (0 packets)"
    else nok "$label: denied.test (upstream counted $c)"; diag <<<"$out"; fi

    reset_counters
    out=$(lookup allowed.test "$DNS")
    c=$(counter dns)
    if ! grep -q "Address: $ALLOWED" <<<"$out" && [ "$c" -eq 0 ]; then
        ok "$label: querying the outside DNS server $DNS directly gets no answer, 0 packets arrive"
    else nok "$label: direct DNS to $DNS (it counted $c)"; diag <<<"$out"; fi

    nft reset counters table inet "$HOST_TABLE" >/dev/null
    local got="" ip
    for ip in "$UPLINK_GW" "$HOST_OUT" "$GW"; do got+=$(fetch "$ip" "$HOST_PORT"); done
    c=$(host_count)
    check "$label: BOTTLE cannot reach the host's listener on 0.0.0.0:$HOST_PORT ($UPLINK_GW, $HOST_OUT, $GW: got '${got}', host counted $c packets)" \
        test -z "$got" -a "$c" -eq 0
}

# hammer SECONDS: from the BOTTLE's network namespace, a TCP SYN to the
# denied service and a DNS query to the outside server every 2 ms, for
# SECONDS; nothing may get through, not even while a SENTRY is starting.
hammer='
import socket, sys, time
end = time.time() + float(sys.argv[1])
q = bytes.fromhex("abcd01000001000000000000076578616d706c650000010001")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
while time.time() < end:
    s = socket.socket(); s.setblocking(False)
    try: s.connect_ex((sys.argv[2], 80))
    finally: s.close()
    try: u.sendto(q, (sys.argv[3], 53))
    except OSError: pass
    n += 1
    time.sleep(0.002)
print(n)'
hammer() {
    local pid
    pid=$("$P" inspect -f '{{.State.Pid}}' "$BOTTLE")
    "$P" --exec nsenter -t "$pid" -n python3 -c "$hammer" "$1" "$DENIED" "$DNS"
}
# probe_resume T0_NS: seconds from T0_NS until a TCP connect from the
# BOTTLE's network namespace to the allowed service succeeds (30 s limit)
probe_resume() {
    local pid
    pid=$("$P" inspect -f '{{.State.Pid}}' "$BOTTLE")
    "$P" --exec nsenter -t "$pid" -n python3 "$root/tests/podman/tcp-resume.py" "$1" "$ALLOWED"
}

# ---- setup ----------------------------------------------------------------

start=$(date +%s)
# shellcheck source=../debian-packages.sh
. "$root/tests/debian-packages.sh"
install_debian_packages "podman e2e" \
    "nftables:nft, sink counters in the outside namespace and the host" \
    "dnsmasq-base:dnsmasq, the outside DNS server" \
    "socat:the outside services and the host listener" | diag
"$root/tests/podman/images.sh" bottle sentry 2>&1 | diag
cleanup 2>/dev/null; work=$(mktemp -d /tmp/asgw-e2e.XXXXXX)

section "setup: outside namespace $NS, host listener, podman networks"
outside_ns "$NS" "$HOST_VETH" "$NS_VETH" "$HOST_OUT" "$ALLOWED" "$DENIED" "$DNS"
ip netns exec "$NS" nft -f - <<EOF
table inet sinks {
    set sources { type ipv4_addr; flags dynamic; }
    counter allowed {}
    counter denied {}
    counter dns {}
    chain input {
        type filter hook input priority -10; policy accept;
        ip daddr $ALLOWED tcp dport 80 counter name allowed
        ip daddr $DENIED tcp dport 80 add @sources { ip saddr } counter name denied
        ip daddr $DNS meta l4proto { udp, tcp } th dport 53 counter name dns
    }
}
EOF
nft -f - <<EOF
table inet $HOST_TABLE {
    counter listener {}
    chain input {
        type filter hook input priority -10; policy accept;
        tcp dport $HOST_PORT counter name listener
    }
}
EOF
ip netns exec "$NS" socat -U TCP-LISTEN:80,bind=$ALLOWED,reuseaddr,fork SYSTEM:'echo allowed-service' &
pids+=($!)
ip netns exec "$NS" socat -U TCP-LISTEN:80,bind=$DENIED,reuseaddr,fork SYSTEM:'echo denied-service' &
pids+=($!)
ip netns exec "$NS" dnsmasq --keep-in-foreground --no-resolv --no-hosts --pid-file= \
    --user=nobody --group=nogroup --listen-address="$DNS" --bind-interfaces \
    --host-record=allowed.test,"$ALLOWED" --host-record=denied.test,"$DENIED" \
    --log-queries --log-facility="$work/outside-dns.log" &
pids+=($!)
socat -U TCP-LISTEN:$HOST_PORT,bind=0.0.0.0,reuseaddr,fork SYSTEM:'echo host-listener' &
pids+=($!)

"$P" network create --disable-dns --subnet "$UPLINK_SUBNET" --interface-name "$UPLINK_BR" "$UPLINK" >/dev/null
"$P" network create --subnet "$ENCLAVE_SUBNET" --gateway "$GW" \
    --interface-name "$ENCLAVE_BR" --opt gateway_mode=container "$ENCLAVE" >/dev/null
"$P" network create --disable-dns --subnet "$ROUTED_SUBNET" --interface-name "$ROUTED_BR" "$ROUTED" >/dev/null
sleep 0.3
echo "# podman $("$P" --version | awk '{print $3}'), $("$AS_GATEWAY_NETAVARK" --version)"

# ---- S: the SENTRY fails closed ---------------------------------------------

section "S: the SENTRY refuses to run unsafely"
flags=$("$P" network inspect -f '{{.Internal}} {{.DNSEnabled}}' "$ENCLAVE")
check "S: the enclave, created with --opt gateway_mode=container only, is stored internal without DNS ('$flags'): no netavark routes it" \
    test "$flags" = "true false"
out=$("$P" run --rm --cap-add NET_ADMIN --sysctl net.ipv4.ip_forward=1 \
    --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" sentry 2>&1); rc=$?
diag <<<"$out"
check "S: with --sysctl net.ipv4.ip_forward=1 (on before its entrypoint) it refuses to start, naming --sysctl" \
    test "$rc" -ne 0 -a -n "$(grep -- '--sysctl' <<<"$out")"
out=$("$P" run --rm --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" sentry 2>&1); rc=$?
diag <<<"$out"
check "S: without --cap-add NET_ADMIN it refuses to start, naming the fix" \
    test "$rc" -ne 0 -a -n "$(grep 'NET_ADMIN' <<<"$out")"

# netavark hands the as_gateway container its namespace with forwarding off
# (a new namespace inherits the host's ip_forward=1 otherwise: see R)
fwd=$("$P" run --rm --network "$UPLINK" --network "$ENCLAVE:as_gateway=true" --entrypoint /bin/cat \
    sentry /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv4/conf/eth1/forwarding 2>&1)
check "S: netavark hands the as_gateway container its namespace with forwarding off (ip_forward, eth0 (uplink), eth1 (enclave): $(echo $fwd); host: $(cat /proc/sys/net/ipv4/ip_forward))" \
    test "$(echo $fwd)" = "0 0 0"

# ---- A: SENTRY first ------------------------------------------------------

section "A: SENTRY first, then BOTTLE"
run_sentry "$UPLINK" "$ENCLAVE:as_gateway=true"
wait_sentry 1 || true
run_bottle
out=$("$P" exec "$BOTTLE" sh -c 'ip route; cat /etc/resolv.conf')
if grep -q "^default via $GW" <<<"$out" && grep -q "^nameserver $GW" <<<"$out"; then
    ok "A: BOTTLE (no options) has default via $GW and nameserver $GW"
else nok "A: BOTTLE's route and resolver"; diag <<<"$out"; fi
paths A

# ---- R: restart and kill --------------------------------------------------

section "R: SENTRY restart and kill + start, BOTTLE keeps running"
bottle_pid=$("$P" inspect -f '{{.State.Pid}}' "$BOTTLE")
starts=$(sentry_starts)
"$P" restart -t 0 "$SENTRY" >/dev/null
t0=$(date +%s%N)
r=$(probe_resume "$t0") && wait_sentry $((starts + 1)) >/dev/null
check "R: after podman restart the BOTTLE's traffic resumes (in $r s after restart returned)" \
    test "$(fetch "$ALLOWED")" = allowed-service

"$P" kill "$SENTRY" >/dev/null
for _ in $(seq 50); do
    [ "$("$P" inspect -f '{{.State.Status}}' "$SENTRY")" = exited ] && break
    sleep 0.1
done
# podman's cleanup tears the SENTRY's network down after the process died
for _ in $(seq 50); do [ "$(ports_of "$ENCLAVE_BR")" -eq 1 ] && break; sleep 0.1; done
reset_counters
tries=""
for _ in 1 2 3; do tries+=$(fetch "$ALLOWED"); done
c=$(counter allowed)
check "R: SENTRY killed ($("$P" inspect -f '{{.State.Status}}' "$SENTRY")): BOTTLE tried 3 times, got '${tries}', 0 packets reached outside (counted $c)" \
    test -z "$tries" -a "$c" -eq 0
starts=$(sentry_starts)
"$P" start "$SENTRY" >/dev/null
t0=$(date +%s%N)
r=$(probe_resume "$t0") && wait_sentry $((starts + 1)) >/dev/null
check "R: after podman kill + start the BOTTLE's traffic resumes (in $r s after start returned)" \
    test "$(fetch "$ALLOWED")" = allowed-service
reset_counters
hammer 12 >"$work/hammer" &
hp=$!
sleep 0.5
for _ in 1 2 3; do
    starts=$(sentry_starts)
    "$P" restart -t 0 "$SENTRY" >/dev/null
    wait_sentry $((starts + 1)) >/dev/null
done
wait "$hp"
c=$(( $(counter denied) + $(counter dns) ))
what="R: 3 restarts while the BOTTLE sends $(cat "$work/hammer") SYNs to $DENIED:80 and queries to $DNS: 0 packets got out"
# (netavark hands the SENTRY its namespace with forwarding off,
# so nothing is forwarded before its policy is loaded)
check "$what (counted $c, from $(sources))" test "$c" -eq 0
check "R: the BOTTLE was never restarted (pid $bottle_pid)" \
    test "$("$P" inspect -f '{{.State.Pid}}' "$BOTTLE")" = "$bottle_pid"
paths R

# ---- X: refusals ------------------------------------------------------------

section "X: refusals leave nothing half-connected"
"$P" run -d --name "$PROBE" --network "$UPLINK" bottle sleep 3600 >/dev/null

# refused CMD...: CMD must fail; its message is shown; PROBE must be as before
refused() {
    local what=$1 net=$2 bridge=$3 pattern=$4; shift 4
    local ports links out rc
    ports=$(ports_of "$bridge") links=$(links_in "$PROBE")
    out=$("$@" 2>&1); rc=$?
    diag <<<"\$ ${*#"$P" }"; diag <<<"$out"
    if [ "$rc" -ne 0 ] && grep -qiE "$pattern" <<<"$out" \
        && ! grep -qw "$net" <<<"$(nets_of "$PROBE")" \
        && [ "$(ports_of "$bridge")" = "$ports" ] && [ "$(links_in "$PROBE")" = "$links" ]; then
        ok "X: $what: refused, PROBE not on $net, no new port on $bridge, no new link in PROBE"
    else
        nok "X: $what (rc $rc; PROBE networks: $(nets_of "$PROBE"); $bridge ports $ports -> $(ports_of "$bridge"))"
    fi
}
# legit NET: a plain connect of PROBE to NET works (IPAM not stuck), then disconnect
legit() {
    local net=$1 ip
    if "$P" network connect "$net" "$PROBE" 2>&1 | diag; then
        ip=$("$P" inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$PROBE")
        check "X: afterwards a plain connect of PROBE to $net works (got $ip)" \
            test -n "$ip" -a "$ip" != "$GW" -a "$ip" != "$ROUTED_GW"
        "$P" network disconnect "$net" "$PROBE" >/dev/null
    else nok "X: afterwards a plain connect of PROBE to $net"; fi
}

if "$P" network connect --help 2>&1 | grep -q -- --as-gateway; then
    refused "a second gateway (network connect --as-gateway while the SENTRY holds $GW)" \
        "$ENCLAVE" "$ENCLAVE_BR" "already|in use|gateway" \
        "$P" network connect --as-gateway "$ENCLAVE" "$PROBE"
    refused "as_gateway on a network without gateway_mode=container (network connect --as-gateway $ROUTED)" \
        "$ROUTED" "$ROUTED_BR" "recreate the network with .podman network create --opt gateway_mode=container $ROUTED." \
        "$P" network connect --as-gateway "$ROUTED" "$PROBE"
else
    nok "X: podman network connect has no --as-gateway (build/bin/podman without patches/podman?)"
fi
refused "a static IP equal to the gateway without as_gateway (network connect --ip $GW)" \
    "$ENCLAVE" "$ENCLAVE_BR" "gateway|in use|already" \
    "$P" network connect --ip "$GW" "$ENCLAVE" "$PROBE"
legit "$ENCLAVE"
legit "$ROUTED"

out=$("$P" run --name "$SECOND" --network "$ENCLAVE:as_gateway=true" bottle true 2>&1); rc=$?
diag <<<"$out"
check "X: a second gateway via podman run --network $ENCLAVE:as_gateway=true is refused and not running" \
    test "$rc" -ne 0 -a "$("$P" inspect -f '{{.State.Running}}' "$SECOND" 2>/dev/null || echo none)" != true
"$P" rm -f -t 0 "$SECOND" >/dev/null 2>&1
check "X: the SENTRY still holds the gateway and the BOTTLE's traffic flows" \
    test "$(fetch "$ALLOWED")" = allowed-service
"$P" rm -f -t 0 "$PROBE" "$BOTTLE" "$SENTRY" >/dev/null

# ---- B: BOTTLE first ----------------------------------------------------------

section "B: BOTTLE first, then SENTRY"
run_bottle
out=$(fetch "$ALLOWED")
check "B: with no SENTRY yet the BOTTLE reaches nothing (got '$out')" test -z "$out"
run_sentry "$UPLINK" "$ENCLAVE:as_gateway=true"
wait_sentry 1 || true
paths B
"$P" rm -f -t 0 "$SENTRY" >/dev/null

# ---- C: network connect --as-gateway ---------------------------------------

section "C: podman network connect --as-gateway while the BOTTLE runs"
bottle_id=$("$P" inspect -f '{{.Id}}' "$BOTTLE") bottle_pid=$("$P" inspect -f '{{.State.Pid}}' "$BOTTLE")
run_sentry "$UPLINK"
wait_sentry 1 || true
if "$P" network connect --help 2>&1 | grep -q -- --as-gateway; then
    reset_counters
    hammer 4 >"$work/hammer" &
    hp=$!
    sleep 0.5
    out=$("$P" network connect --as-gateway "$ENCLAVE" "$SENTRY" 2>&1); rc=$?
    diag <<<"$out"
    wait "$hp"
    c=$(( $(counter denied) + $(counter dns) ))
    check "C: while it connects, the BOTTLE sends $(cat "$work/hammer") SYNs to $DENIED:80 and queries to $DNS: 0 packets got out (counted $c, from $(sources))" \
        test "$c" -eq 0
    sip=$("$P" inspect -f "{{(index .NetworkSettings.Networks \"$ENCLAVE\").IPAddress}}" "$SENTRY" 2>/dev/null)
    check "C: podman network connect --as-gateway $ENCLAVE $SENTRY (SENTRY got '$sip')" \
        test "$rc" -eq 0 -a "$sip" = "$GW"
    check "C: BOTTLE not restarted (same id ${bottle_id:0:12}, same pid $bottle_pid)" \
        test "$("$P" inspect -f '{{.Id}} {{.State.Pid}}' "$BOTTLE")" = "$bottle_id $bottle_pid"
    paths C
else
    nok "C: podman network connect has no --as-gateway (build/bin/podman without patches/podman?)"
fi

echo "# runtime $(($(date +%s) - start)) s"
echo "podman e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
