#!/usr/bin/env bash
# Measure, with real podman containers, how long a running BOTTLE's traffic
# takes to resume after its SENTRY restarts (podman stop + start: a new netns
# and a new MAC).  A measurement, not a test: it prints numbers.
#
#   tests/podman/measure-restart.sh as-gateway [N]   patched netavark:
#       enclave --internal --opt gateway_mode=container, SENTRY as_gateway=true
#   tests/podman/measure-restart.sh baseline [N]     stock netavark 2.1.0, the
#       zero-patch recipe: enclave --internal --route 0.0.0.0/0,<sentry>,
#       SENTRY with a plain static IP
#
# The probe runs in the BOTTLE's network namespace (entered from the podman
# sandbox, so the BOTTLE itself stays a stock container): a TCP connect to
# OUTSIDE's web server every 10 ms, 100 ms timeout, until one succeeds.
# "resumed" is the time from `podman start sentry` returning to that success.
# Run it under `make`'s podman sandbox teardown, or call
# `podman-patch/podman-env --teardown` afterwards.
set -euo pipefail

mode=${1:-as-gateway} rounds=${2:-5}
top=$(cd "$(dirname "$0")/../.." && pwd)
P="$top/podman-patch/podman-env"
ENCLAVE=10.213.0.0/24 UPLINK=10.214.0.0/24 SENTRY_UPLINK_IP=10.214.0.10
case "$mode" in
    as-gateway)
        export AS_GATEWAY_NETAVARK="$top/build/bin/netavark"
        sentry_ip=10.213.0.1
        enclave_opts=(--gateway "$sentry_ip" --opt gateway_mode=container)
        sentry_net="enclave:as_gateway=true"
        # netavark hands the gateway container its namespace with forwarding
        # off. This SENTRY has no policy to load, so --sysctl (applied after
        # netavark's setup) turns it on at once: fine for a measurement, wrong
        # for a real SENTRY, which must do it from its entrypoint once its
        # policy is loaded (tests/podman/fail-closed.bats counts the leak)
        sentry_sysctls=(--sysctl net.ipv4.ip_forward=1) ;;
    baseline)
        export AS_GATEWAY_NETAVARK="$top/build/bin/netavark-stock"
        sentry_ip=10.213.0.2
        enclave_opts=(--route "0.0.0.0/0,$sentry_ip")
        sentry_net="enclave:ip=$sentry_ip"
        sentry_sysctls=(--sysctl net.ipv4.ip_forward=1) ;;
    *) echo "usage: $0 as-gateway|baseline [rounds]" >&2; exit 2 ;;
esac

cleanup() {
    "$P" rm -f -t 0 bottle sentry outside >/dev/null 2>&1 || true
    "$P" network rm -f enclave uplink >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

"$P" network create --disable-dns --subnet "$UPLINK" uplink >/dev/null
"$P" network create --internal --disable-dns --subnet "$ENCLAVE" "${enclave_opts[@]}" enclave >/dev/null
"$P" run -d --name outside --network uplink --cap-add NET_ADMIN bottle \
    sh -c "ip route add $ENCLAVE via $SENTRY_UPLINK_IP; mkdir -p /www; echo hi > /www/index.html; httpd -f -p 80 -h /www" >/dev/null
outside_ip=$("$P" inspect -f '{{(index .NetworkSettings.Networks "uplink").IPAddress}}' outside)
"$P" run -d --name sentry "${sentry_sysctls[@]}" \
    --network "uplink:ip=$SENTRY_UPLINK_IP" --network "$sentry_net" bottle sleep 3600 >/dev/null
"$P" run -d --name bottle --network enclave bottle sleep 3600 >/dev/null
bottle_pid=$("$P" inspect -f '{{.State.Pid}}' bottle)

# probe T0_NS: seconds from T0_NS until a TCP connect to OUTSIDE succeeds
# (tests/podman/tcp-resume.py, 60 s limit)
probe_from_bottle() {
    "$P" --exec nsenter -t "$bottle_pid" -n python3 "$top/tests/podman/tcp-resume.py" "$1" "$outside_ip" 80 60
}

echo "mode $mode, netavark $AS_GATEWAY_NETAVARK"
# The same probe with no restart: what starting it costs (nsenter, python).
overhead=$(probe_from_bottle "$(date +%s%N)") || { echo "BOTTLE cannot reach OUTSIDE before any restart" >&2; exit 1; }
echo "probe start-up cost with traffic flowing (no restart): $overhead s"
results=()
for i in $(seq 1 "$rounds"); do
    mac_before=$("$P" inspect -f '{{(index .NetworkSettings.Networks "enclave").MacAddress}}' sentry)
    "$P" stop -t 0 sentry >/dev/null
    "$P" start sentry >/dev/null
    t0=$(date +%s%N)
    r=$(probe_from_bottle "$t0" || true)
    mac_after=$("$P" inspect -f '{{(index .NetworkSettings.Networks "enclave").MacAddress}}' sentry)
    echo "restart $i: MAC $mac_before -> $mac_after, traffic resumed after ${r} s"
    results+=("$r")
done
printf '%s\n' "${results[@]}" | sort -g | awk -v m="$mode" '
    { v[NR] = $1 } END { printf "%s: %d restarts, median %s s, max %s s\n", m, NR, v[int((NR + 1) / 2)], v[NR] }'
