# shellcheck shell=bash
# The SENTRY/BOTTLE scene's helpers and checks shared by the podman bats
# suites that bring the scene up through another front end (quadlet.bats,
# compose.bats). Loaded with `load scene`; the suite sets $root, the names
# ENCLAVE UPLINK SENTRY BOTTLE, the addresses GW (the SENTRY on the
# enclave) and UPLINK_HOST (a host address on the uplink bridge), the ports
# ALLOWED_PORT and DENIED_PORT, and optionally SCENE_PYTHON.

P() { "$root/podman-patch/podman-env" "$@"; }
say() { printf '%s\n' "$*" | sed 's/^/# /' >&3; }

# wait_for CMD...: until CMD succeeds (10 s)
wait_for() {
    local _
    for _ in $(seq 100); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
sentry_ready() { P logs "$SENTRY" 2>&1 | grep -q '^sentry: ready'; }

# the listener on the uplink bridge's host address: one line per accepted
# connection, the peer's address, in $BATS_FILE_TMPDIR/conn.PORT
start_listener() {
    [ -s "$BATS_FILE_TMPDIR/listener.pid" ] && return 0
    "${SCENE_PYTHON:-python3}" -c '
import select, socket, sys
d, ip = sys.argv[1], sys.argv[2]
socks = {}
for port in sys.argv[3:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, int(port)))
    s.listen(16)
    socks[s] = port
    open(f"{d}/conn.{port}", "w").close()
open(f"{d}/listening", "w").close()
while True:
    for s in select.select(list(socks), [], [])[0]:
        c, peer = s.accept()
        with open(f"{d}/conn.{socks[s]}", "a") as f:
            f.write(peer[0] + "\n")
        c.close()
' "$BATS_FILE_TMPDIR" "$UPLINK_HOST" "$ALLOWED_PORT" "$DENIED_PORT" </dev/null >/dev/null 2>"$BATS_FILE_TMPDIR/listener.err" 3>&- &
    echo $! > "$BATS_FILE_TMPDIR/listener.pid"
    wait_for test -e "$BATS_FILE_TMPDIR/listening" || { cat "$BATS_FILE_TMPDIR/listener.err" >&3; return 1; }
}

# bottle_connect PORT: 3 TCP connects from the BOTTLE to the uplink host's PORT
bottle_connect() {
    P exec "$BOTTLE" sh -c "for i in 1 2 3; do nc -w 2 $UPLINK_HOST $1 </dev/null; done" >/dev/null 2>&1 || true
}

# network_field CTR NET FIELD: a field of CTR's settings on network NET
network_field() {
    P inspect -f "{{(index .NetworkSettings.Networks \"$2\").$3}}" "$1"
}

# check_bottle_routes_via_sentry: the BOTTLE's default route is the
# SENTRY, and the gateway's neighbour entry is the SENTRY's enclave MAC
check_bottle_routes_via_sentry() {
    local mac
    run P exec "$BOTTLE" ip -4 route show default
    say "$output"
    [[ $output == "default via $GW dev eth0"* ]]
    P exec "$BOTTLE" sh -c "nc -w 1 $GW 53 </dev/null" >/dev/null 2>&1 || true
    mac=$(network_field "$SENTRY" "$ENCLAVE" MacAddress)
    run P exec "$BOTTLE" ip neigh show "$GW"
    say "neighbour $output, SENTRY's enclave MAC $mac"
    [[ $output == *"lladdr $mac "* ]]
}

# check_bottle_resolves_via_sentry NAME: the BOTTLE's nameserver is the
# SENTRY; its query for NAME gets NXDOMAIN (not allowlisted) from the
# SENTRY's dnsmasq, which logs it from the BOTTLE's address
check_bottle_resolves_via_sentry() {
    local ip
    run P exec "$BOTTLE" cat /etc/resolv.conf
    say "$output"
    [ "$(grep '^nameserver' <<<"$output")" = "nameserver $GW" ]
    ip=$(network_field "$BOTTLE" "$ENCLAVE" IPAddress)
    run P exec "$BOTTLE" nslookup "$1"
    say "$(grep -E 'Server|NXDOMAIN' <<<"$output" | head -n 2)"
    [[ $output == *"Server:"*"$GW"* ]]
    [[ $output == *NXDOMAIN* ]]
    P logs "$SENTRY" 2>&1 | grep -q "query\[A\] $1 from $ip\$"
}

# check_connect_leaves_through_sentry: the BOTTLE's connects to the allowed
# port arrive, all three, from the SENTRY's uplink address
check_connect_leaves_through_sentry() {
    local sentry_up conns=$BATS_FILE_TMPDIR/conn.$ALLOWED_PORT
    start_listener
    bottle_connect "$ALLOWED_PORT"
    sentry_up=$(network_field "$SENTRY" "$UPLINK" IPAddress)
    say "listener $UPLINK_HOST:$ALLOWED_PORT accepted from: $(sort "$conns" | uniq -c | xargs) (SENTRY's uplink address $sentry_up)"
    [ "$(wc -l < "$conns")" -eq 3 ]
    [ "$(sort -u "$conns")" = "$sentry_up" ]
}
