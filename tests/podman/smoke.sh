#!/usr/bin/env bash
# Smoke test of the as-gateway podman: real containers on a real netavark
# bridge network, through podman-patch/podman-env (our config, private state).
#
# For each netavark given (default: build/bin/netavark-stock, then the
# patched build/bin/netavark, whichever exist), with the same podman:
#   1. `podman network create` a DNS-enabled network (a --disable-dns one when
#      aardvark-dns is missing: see podman-patch/README.md)
#   2. `podman run --rm ... bottle ip addr`: eth0 holds an address of the subnet
#   3. `podman run --rm ... bottle cat /etc/resolv.conf`: nameserver is the
#      network's gateway (aardvark-dns), search dns.podman
#   4. two containers: A sleeps, B pings A by name 3 times (busybox ping needs
#      a raw socket: B gets --cap-add NET_RAW; stock podman drops NET_RAW)
#   5. teardown: containers and network removed, the bridge is gone
# Packets only flow between the two containers and the bridge; names are
# resolved by aardvark-dns from its own records.
#
# Prints "N passed, N failed" and exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
P=$root/podman-patch/podman-env
BIN=${BIN:-$root/build/bin}
CACHE=${CACHE:-$HOME/.cache/as-gateway}
AARDVARK=${AS_GATEWAY_AARDVARK:-$CACHE/aardvark-dns-2.1.0/bin/aardvark-dns}
pass=0 fail=0
tag=asgw-smoke-$$
net=$tag-net

ok()  { pass=$((pass + 1)); printf 'ok   %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf 'FAIL %s\n' "$*"; }

cleanup() {
    "$P" rm -f -t 0 "$tag-a" "$tag-b" >/dev/null 2>&1 || true
    "$P" network rm -f "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$root/tests/podman/images.sh"

netavarks=()
for n in "${@:-}"; do [ -n "$n" ] && netavarks+=("$n"); done
if [ ${#netavarks[@]} -eq 0 ]; then
    for n in "$BIN/netavark-stock" "$BIN/netavark"; do [ -x "$n" ] && netavarks+=("$n"); done
fi
[ ${#netavarks[@]} -gt 0 ] || { echo "no netavark in $BIN: make netavark" >&2; exit 1; }

dns_flag=()
if [ ! -x "$AARDVARK" ]; then
    echo "note: no aardvark-dns at $AARDVARK: testing a --disable-dns network" >&2
    dns_flag=(--disable-dns)
fi

for nv in "${netavarks[@]}"; do
    export AS_GATEWAY_NETAVARK=$nv
    label="[$(basename "$nv")]"
    echo "== podman $("$P" --version | awk '{print $3}') with $nv ($("$nv" --version))"

    if "$P" network create "${dns_flag[@]}" "$net" >/dev/null; then ok "$label network create"
    else bad "$label network create"; continue; fi
    subnet=$("$P" network inspect --format '{{range .Subnets}}{{.Subnet}}{{end}}' "$net")
    gw=$("$P" network inspect --format '{{range .Subnets}}{{.Gateway}}{{end}}' "$net")
    bridge=$("$P" network inspect --format '{{.NetworkInterface}}' "$net")
    prefix=${subnet%.*}

    out=$("$P" run --rm --network "$net" bottle ip -4 addr show eth0 2>&1) || true
    if grep -q "inet $prefix\.[0-9]*/24" <<<"$out"; then ok "$label ip addr: $(grep -o "inet [0-9./]*" <<<"$out")"
    else bad "$label ip addr: $out"; fi

    out=$("$P" run --rm --network "$net" bottle cat /etc/resolv.conf 2>&1) || true
    if [ ${#dns_flag[@]} -eq 0 ]; then
        if grep -qx "nameserver $gw" <<<"$out" && grep -q 'search dns.podman' <<<"$out"; then
            ok "$label resolv.conf: nameserver $gw (aardvark-dns)"
        else bad "$label resolv.conf: $out"; fi
    else
        if grep -q '^nameserver ' <<<"$out"; then ok "$label resolv.conf: $(grep '^nameserver' <<<"$out" | tr '\n' ' ')"
        else bad "$label resolv.conf: $out"; fi
    fi

    "$P" run -d --name "$tag-a" --network "$net" bottle sleep 120 >/dev/null
    a_ip=$("$P" inspect --format "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$tag-a")
    target=$a_ip
    [ ${#dns_flag[@]} -eq 0 ] && target=$tag-a
    out=$("$P" run --rm --name "$tag-b" --cap-add NET_RAW --network "$net" bottle \
        ping -c 3 -W 2 "$target" 2>&1) || true
    if grep -q '3 packets transmitted, 3 packets received' <<<"$out" && grep -q "($a_ip)" <<<"$out"; then
        ok "$label B pings A ($target = $a_ip): 3/3"
    else bad "$label ping $target: $out"; fi

    "$P" rm -f -t 0 "$tag-a" >/dev/null
    "$P" network rm "$net" >/dev/null
    if ip link show "$bridge" >/dev/null 2>&1; then bad "$label bridge $bridge still exists after network rm"
    else ok "$label teardown: containers and network removed, bridge $bridge gone"; fi
done

echo "podman smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
