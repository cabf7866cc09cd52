#!/usr/bin/env bash
# A SENTRY/BOTTLE scene with real podman containers, narrated.
#
# podman here is build/bin/podman (v6, series applied) run through
# podman-patch/podman-env, with OUR patched build/bin/netavark.
#
# The scene (all on bridges this script creates, nothing leaves the machine):
#   uplink   a normal podman network; holds OUTSIDE (a web server on ports 80
#            and 8080 and a DNS server for outside.test and other.test,
#            standing in for the internet) and the SENTRY's uplink leg
#   enclave  --opt gateway_mode=container (podman stores it internal, without
#            DNS); the SENTRY holds its gateway address, the BOTTLE is a stock
#            busybox with default capabilities and no options at all
#   SENTRY   the `sentry` image (tests/podman/sentry/): nftables allowlist
#            (OUTSIDE:80 only) with masquerade, dnsmasq resolving only
#            outside.test; netavark hands it its namespace with forwarding
#            off, and it turns forwarding on only once its policy is in place
#            (no --sysctl)
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
P="$top/podman-patch/podman-env"
ENCLAVE_SUBNET=10.211.0.0/24 ENCLAVE_GW=10.211.0.1
UPLINK_SUBNET=10.212.0.0/24 OUTSIDE_IP=10.212.0.10
failures=0

say()  { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '    $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }
pass() { printf '    \033[32mPROVED\033[0m %s\n' "$*"; }
fail() { printf '    \033[31mFAILED\033[0m %s\n' "$*"; failures=$((failures + 1)); }

cleanup() {
    "$P" rm -f -t 0 bottle sentry outside intruder >/dev/null 2>&1 || true
    "$P" network rm -f enclave uplink >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

# bottle_fetch [PORT]: the body of OUTSIDE's web page as the running BOTTLE
# gets it, within 3 s (busybox nc; busybox-static's wget crashes here).
bottle_fetch() {
    "$P" exec bottle \
        sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | timeout 3 nc -w 2 $OUTSIDE_IP ${1:-80}" 2>/dev/null |
        tail -n 1 || true
}
# sentry_up N: wait (10 s) until the SENTRY's resolver has started N times
sentry_up() {
    for _ in $(seq 100); do
        [ "$("$P" logs sentry 2>&1 | grep -cE '^dnsmasq\[[0-9]+\]: started')" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

say "Networks: 'uplink' (normal) and 'enclave' (gateway belongs to a container)"
show "$P" network create --subnet "$UPLINK_SUBNET" --disable-dns --interface-name asgwdemo-up uplink
show "$P" network create --subnet "$ENCLAVE_SUBNET" \
    --gateway "$ENCLAVE_GW" --interface-name asgwdemo-en --opt gateway_mode=container enclave
show "$P" network inspect --format 'internal={{.Internal}} dns_enabled={{.DNSEnabled}}' enclave

say "OUTSIDE: web server (ports 80, 8080) and DNS server on the uplink, standing in for the internet"
"$P" run -d --name outside --network "uplink:ip=$OUTSIDE_IP" --entrypoint /bin/sh sentry -c "
    mkdir -p /www && echo 'hello from outside' > /www/index.html
    httpd -p 80 -h /www && httpd -p 8080 -h /www
    exec dnsmasq --keep-in-foreground --no-resolv --no-hosts --pid-file= --user=nobody --group=nobody \
        --host-record=outside.test,$OUTSIDE_IP --host-record=other.test,$OUTSIDE_IP" >/dev/null
sleep 0.5
if [ "$("$P" inspect -f '{{.State.Running}}' outside)" = true ]; then
    echo "    outside serves http://$OUTSIDE_IP/ and :8080, and DNS for outside.test and other.test"
else
    "$P" logs outside 2>&1 | sed 's/^/    /'
    fail "OUTSIDE did not start"
fi

say "BOTTLE first (stock busybox, default capabilities, no options), no SENTRY yet"
show "$P" run -d --name bottle --network enclave bottle sleep 3600
got=$(bottle_fetch)
if [ -z "$got" ]; then pass "with no SENTRY the BOTTLE reaches nothing"; else fail "BOTTLE reached OUTSIDE with no SENTRY: $got"; fi

say "SENTRY: uplink plus enclave:as_gateway=true; allows OUTSIDE:80 and the name outside.test"
show "$P" run -d --name sentry --cap-add NET_ADMIN \
    --network uplink --network enclave:as_gateway=true \
    -e SENTRY_ALLOW="$OUTSIDE_IP:80" -e SENTRY_DNS_UPSTREAM="$OUTSIDE_IP" -e SENTRY_DNS_ALLOW=outside.test \
    sentry
sentry_up 1 || fail "the SENTRY did not start"
"$P" logs sentry 2>&1 | grep '^sentry' | sed 's/^/    /'

say "The SENTRY holds the gateway address; the host's bridge does not"
show "$P" exec sentry ip -4 addr show dev eth1
show "$P" exec sentry ip route
bridge=$("$P" network inspect -f '{{.NetworkInterface}}' enclave)
if "$P" --exec ip -4 addr show dev "$bridge" | grep -q "inet $ENCLAVE_GW/"; then
    fail "bridge $bridge holds $ENCLAVE_GW"
else
    pass "bridge $bridge does not hold $ENCLAVE_GW"
fi
if "$P" exec sentry ip route | grep -q "^default via .* dev eth0"; then
    pass "the SENTRY's default route stays on its uplink"
else
    fail "the SENTRY lost its uplink default route"
fi

say "The BOTTLE, started before the SENTRY, with no --dns and no --route"
out=$("$P" exec bottle sh -c 'ip route; echo ---; cat /etc/resolv.conf; echo ---; ip neigh')
echo "$out" | sed 's/^/    /'
if echo "$out" | grep -q "^default via $ENCLAVE_GW "; then pass "its default route is the SENTRY"; else fail "no default route via $ENCLAVE_GW"; fi
if echo "$out" | grep -q "^nameserver $ENCLAVE_GW$"; then pass "its resolver is the SENTRY"; else fail "no nameserver $ENCLAVE_GW"; fi

say "The SENTRY's policy: OUTSIDE:80 yes, OUTSIDE:8080 no; outside.test yes, other.test no"
got=$(bottle_fetch)
if [ "$got" = "hello from outside" ]; then pass "the BOTTLE reaches OUTSIDE:80 through the SENTRY (NAT, no route on OUTSIDE)"; else fail "BOTTLE fetch gave '$got'"; fi
got=$(bottle_fetch 8080)
if [ -z "$got" ]; then pass "the BOTTLE cannot reach OUTSIDE:8080 (not allowlisted)"; else fail "BOTTLE reached OUTSIDE:8080: $got"; fi
out=$("$P" exec bottle nslookup outside.test 2>&1 || true)
echo "$out" | sed 's/^/    /'
if grep -q "Address: $OUTSIDE_IP" <<<"$out"; then pass "outside.test resolves, through the SENTRY's resolver"; else fail "outside.test did not resolve"; fi
out=$("$P" exec bottle nslookup other.test 2>&1 || true)
echo "$out" | sed 's/^/    /'
if grep -q NXDOMAIN <<<"$out" && ! grep -q "Address: $OUTSIDE_IP" <<<"$out"; then
    pass "other.test gets NXDOMAIN: the SENTRY answers only allowlisted names"
else fail "other.test was answered"; fi
out=$("$P" exec bottle timeout 4 nslookup -timeout=1 -retry=1 outside.test "$OUTSIDE_IP" 2>&1 || true)
if ! grep -q "Address: $OUTSIDE_IP" <<<"$out"; then
    pass "asking OUTSIDE's DNS server directly gets no answer (the SENTRY drops DNS to other resolvers)"
else fail "the BOTTLE queried OUTSIDE's DNS server directly"; fi

say "SENTRY down: the BOTTLE's traffic stops (nothing routes around the SENTRY)"
old_mac=$("$P" inspect -f '{{(index .NetworkSettings.Networks "enclave").MacAddress}}' sentry)
"$P" stop -t 0 sentry >/dev/null
got=$(bottle_fetch)
if [ -z "$got" ]; then pass "with the SENTRY stopped the BOTTLE reaches nothing"; else fail "BOTTLE reached OUTSIDE around the SENTRY: $got"; fi

say "SENTRY restarted with a new MAC: the running BOTTLE's neighbour entry switches, traffic resumes"
"$P" start sentry >/dev/null
new_mac=$("$P" inspect -f '{{(index .NetworkSettings.Networks "enclave").MacAddress}}' sentry)
echo "    SENTRY enclave MAC: $old_mac -> $new_mac"
# No traffic from the BOTTLE since the restart: only the SENTRY's
# announcement can have put the new MAC into its neighbour table.
neigh=$("$P" exec bottle ip neigh show "$ENCLAVE_GW")
echo "    bottle: $neigh"
if [ "$old_mac" != "$new_mac" ] && grep -qi "lladdr $new_mac" <<<"$neigh"; then
    pass "the BOTTLE learned the new MAC from the SENTRY's announcement"
else
    fail "the BOTTLE's neighbour entry did not switch to $new_mac"
fi
sentry_up 2 || fail "the SENTRY did not start again"
got=$(bottle_fetch)
if [ "$got" = "hello from outside" ]; then pass "after the restart the BOTTLE reaches OUTSIDE again"; else fail "after restart: '$got'"; fi

say "A second gateway container is refused, by name"
"$P" run -d --name intruder --network uplink bottle sleep 3600 >/dev/null
if out=$("$P" network connect --as-gateway enclave intruder 2>&1); then
    fail "a second container became the gateway"
else
    echo "    \$ podman network connect --as-gateway enclave intruder"
    echo "$out" | sed 's/^/    /'
    if grep -q "sentry" <<<"$out" && [ "$("$P" inspect -f '{{len .NetworkSettings.Networks}}' intruder)" = 1 ]; then
        pass "refused, naming the SENTRY as holder; the intruder is not half-connected"
    else
        fail "the refusal does not name the SENTRY, or the intruder is half-connected"
    fi
fi
holder=$("$P" inspect -f '{{(index .NetworkSettings.Networks "enclave").DriverOpts}}' sentry)
echo "    podman inspect sentry: enclave DriverOpts $holder"

echo
if [ "$failures" -eq 0 ]; then
    echo "demo: every claim above was checked against real containers"
else
    echo "demo: $failures claim(s) failed" >&2
    exit 1
fi
