#!/bin/sh
# A gateway container's entrypoint written the way router containers usually
# are, and the way the requester's own SENTRY is: run --privileged with no
# --sysctl, it loads its firewall and then turns forwarding on with the
# standard idiom.  It does not check that forwarding was off before (the
# example SENTRY, tests/podman/sentry/sentry, does).  tests/podman/
# fail-closed.bats runs it unmodified, in the sentry image (busybox, nft).
#
#   ROUTER_ALLOW="ip ..."       destinations the enclave may reach (default: any)
#   FORWARD_IDIOM=echo|sysctl|none
#                               echo 1 > /proc/sys/net/ipv4/ip_forward (default),
#                               sysctl -w net.ipv4.ip_forward=1, or nothing
set -eu

uplink=$(ip -4 route show default | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
[ -n "$uplink" ] || { echo "router: no default route" >&2; exit 1; }
allow=""
[ -z "${ROUTER_ALLOW:-}" ] || allow="ip daddr { $(echo $ROUTER_ALLOW | sed 's/ /, /g') }"

nft -f - <<EOF
flush ruleset
table inet router {
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname != "$uplink" oifname "$uplink" $allow accept
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$uplink" masquerade
    }
}
EOF

case ${FORWARD_IDIOM:-echo} in
    echo) echo 1 > /proc/sys/net/ipv4/ip_forward ;;
    sysctl) sysctl -w net.ipv4.ip_forward=1 ;;
    none) ;;
    *) echo "router: FORWARD_IDIOM=$FORWARD_IDIOM: want echo, sysctl or none" >&2; exit 1 ;;
esac
echo "router: policy loaded, forwarding ${FORWARD_IDIOM:-echo}: ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
exec sleep 1000000
