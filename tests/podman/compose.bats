#!/usr/bin/env bats
# Compose (issue 10, section 3): the SENTRY/BOTTLE pair of
# tests/podman/compose/compose.yaml, brought up by a compose front end
# against the patched podman, checked with real containers and traffic.
# The same file runs once per front end, COMPOSE_FRONTEND:
#
#   podman-compose   build/src/podman-compose (PyPI's sdist + patches/podman-compose),
#                    run with Debian's python3, --podman-path podman-patch/podman-env
#   docker-compose   build/bin/docker-compose (docker compose v2, Go module
#                    proxy) with DOCKER_HOST on the Docker-compatible API of the
#                    patched podman: `podman system service` in the podman sandbox
#                    (patches/podman 0004: network create passes gateway_mode
#                    through; 0005: an endpoint's DriverOpts become the
#                    per-network options, so as_gateway reaches netavark)
#
# The compose file: the enclave network (driver_opts gateway_mode: container,
# subnet 10.247.0.0/24 with the custom gateway 10.247.0.2), an uplink bridge
# (10.248.0.0/24, host side 10.248.0.1), the SENTRY (localhost/sentry,
# NET_ADMIN, on the uplink and on the enclave with per-network driver_opts
# as_gateway: "true" and ipv4_address 10.247.0.2) and the BOTTLE
# (localhost/bottle, stock busybox, no capabilities added).  The checks are
# those of the podman CLI's end-to-end suite: the BOTTLE's default route and
# nameserver are the SENTRY and it reaches it (its gateway answers with the
# SENTRY's MAC, its DNS query is logged by the SENTRY's dnsmasq, a TCP
# connect off the enclave arrives from the SENTRY's uplink address), the
# host's enclave bridge holds no address, `podman network inspect` shows
# gateway_mode=container, and the SENTRY's inspect shows as_gateway.
#
#   COMPOSE_FRONTEND=podman-compose bats tests/podman/compose.bats   (make check-compose
#   COMPOSE_FRONTEND=docker-compose bats tests/podman/compose.bats    runs both)
#     state: AS_GATEWAY_PODMAN_STATE, default
#     /var/tmp/as-gateway/podman-compose-$COMPOSE_FRONTEND; everything
#     (containers, networks, images, the API service, the sandbox, the
#     listener) is removed at the end.

root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
FRONTEND=${COMPOSE_FRONTEND:-podman-compose}
export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-compose-$FRONTEND}
export AS_GATEWAY_NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}
COMPOSE_PYTHON=${COMPOSE_PYTHON:-/usr/bin/python3}
COMPOSE_FILE=$root/tests/podman/compose/compose.yaml
PODMAN_COMPOSE=$root/build/src/podman-compose/podman_compose.py
DOCKER_COMPOSE=$root/build/bin/docker-compose
SOCK=$AS_GATEWAY_PODMAN_STATE/compose-api.sock
ENCLAVE=asgwc-enclave UPLINK=asgwc-uplink SENTRY=asgwc-sentry BOTTLE=asgwc-bottle
ENCLAVE_BR=asgwcen UPLINK_BR=asgwcup
ENCLAVE_NET=10.247.0.0/24 GW=10.247.0.2 UPLINK_NET=10.248.0.0/24 UPLINK_HOST=10.248.0.1
ALLOWED_PORT=18096 DENIED_PORT=18097

SCENE_PYTHON=$COMPOSE_PYTHON
load scene

# compose ARGS: the front end under test, on the compose file (at most 5
# minutes: a front end that hangs fails the test instead)
compose() {
    case $FRONTEND in
        podman-compose)
            timeout 300 "$COMPOSE_PYTHON" "$PODMAN_COMPOSE" --podman-path "$root/podman-patch/podman-env" \
                -f "$COMPOSE_FILE" "$@" ;;
        docker-compose)
            DOCKER_HOST=unix://$SOCK timeout 300 "$DOCKER_COMPOSE" -f "$COMPOSE_FILE" "$@" ;;
        *) echo "compose.bats: unknown COMPOSE_FRONTEND '$FRONTEND'" >&2; return 2 ;;
    esac
}

# the Docker-compatible API of the patched podman, in the podman sandbox
start_api() {
    [ "$FRONTEND" = docker-compose ] || return 0
    rm -f "$SOCK"
    P system service --time=0 "unix://$SOCK" </dev/null >"$BATS_FILE_TMPDIR/api.log" 2>&1 3>&- &
    echo $! > "$BATS_FILE_TMPDIR/api.pid"
    wait_for test -S "$SOCK" || { cat "$BATS_FILE_TMPDIR/api.log" >&3; return 1; }
}

cleanup_scene() {
    local f
    for f in listener api; do
        if [ -s "$BATS_FILE_TMPDIR/$f.pid" ]; then
            kill "$(cat "$BATS_FILE_TMPDIR/$f.pid")" 2>/dev/null || true
            rm -f "$BATS_FILE_TMPDIR/$f.pid"
        fi
    done
    P rm -f -t 0 "$BOTTLE" "$SENTRY" >/dev/null 2>&1 || true
    P network rm -f "$ENCLAVE" "$UPLINK" >/dev/null 2>&1 || true
}

setup_file() {
    [ "$(id -u)" = 0 ] || skip "needs root"
    [ -x "$AS_GATEWAY_NETAVARK" ] || skip "make netavark first"
    case $FRONTEND in
        podman-compose) [ -f "$PODMAN_COMPOSE" ] || skip "make podman-compose first" ;;
        docker-compose) [ -x "$DOCKER_COMPOSE" ] || skip "make docker-compose first" ;;
        *) echo "COMPOSE_FRONTEND must be podman-compose or docker-compose" >&2; return 1 ;;
    esac
    # shellcheck source=../debian-packages.sh
    . "$root/tests/debian-packages.sh"
    install_debian_packages "podman compose" "python3:the listener on the uplink" >&3
    cleanup_scene
    "$root/tests/podman/images.sh" bottle sentry 2>&1 | sed 's/^/# /' >&3
    start_api
    case $FRONTEND in
        podman-compose) say "podman-compose $(compose version 2>/dev/null | grep -m1 -o 'podman-compose version [^ ]*' | awk '{print $3}'), podman $(P --version | awk '{print $3}')" ;;
        docker-compose) say "$(compose version 2>&1), podman $(P --version | awk '{print $3}') system service on $SOCK" ;;
    esac
}

teardown_file() {
    cleanup_scene
    P --teardown >/dev/null 2>&1 || true
}

@test "$FRONTEND: up -d brings up the SENTRY and the BOTTLE from the compose file" {
    run compose up -d
    say "$output"
    [ "$status" -eq 0 ]
    wait_for sentry_ready || { P logs "$SENTRY" 2>&1 | sed 's/^/#   /' >&3; false; }
    run P ps --format '{{.Names}} {{.State}}'
    say "$output"
    [[ $output == *"$SENTRY running"* ]]
    [[ $output == *"$BOTTLE running"* ]]
}

@test "$FRONTEND: podman network inspect: the enclave is gateway_mode=container with the file's subnet and gateway, internal, without DNS" {
    run P network inspect -f '{{.Options}} {{range .Subnets}}{{.Subnet}} {{.Gateway}}{{end}} internal={{.Internal}} dns={{.DNSEnabled}} {{.NetworkInterface}}' "$ENCLAVE"
    say "$output"
    [ "$output" = "map[gateway_mode:container] $ENCLAVE_NET $GW internal=true dns=false $ENCLAVE_BR" ]
}

@test "$FRONTEND: the host's enclave bridge holds no gateway address (nor any address)" {
    run ip -o addr show dev "$ENCLAVE_BR"
    say "$ENCLAVE_BR: ${output:-no address}"
    [ "$status" -eq 0 ]
    [[ $output != *" inet "* ]]
    [[ $output != *" inet6 "* ]]
    run ip -4 -o addr show to "$GW"
    [ -z "$output" ]
}

@test "$FRONTEND: the SENTRY's inspect shows as_gateway on the enclave, and it holds the gateway address" {
    run P inspect -f '{{json (index .NetworkSettings.Networks "asgwc-enclave").DriverOpts}} {{(index .NetworkSettings.Networks "asgwc-enclave").IPAddress}}' "$SENTRY"
    say "$output"
    [ "$output" = "{\"as_gateway\":\"true\"} $GW" ]
    run P exec "$SENTRY" ip -4 -o addr
    [[ $output == *" inet $GW/24 "* ]]
}

@test "$FRONTEND: the SENTRY turned forwarding on itself, once its policy was loaded (no sysctl in the file)" {
    run P logs "$SENTRY"
    say "$(grep '^sentry: forwarding on' <<<"$output")"
    # the entrypoint refuses to start if an enclave interface forwarded
    # before its policy; it started, and then turned forwarding on
    [[ $output == *"sentry: forwarding on"* ]]
    dev=$(P exec "$SENTRY" ip -4 -o addr show to "$GW" | awk '{print $2}')
    [ -n "$dev" ]
    [ "$(P exec "$SENTRY" cat "/proc/sys/net/ipv4/conf/$dev/forwarding")" = 1 ]
}

@test "$FRONTEND: the BOTTLE's default route is the SENTRY, and its gateway answers with the SENTRY's MAC" {
    check_bottle_routes_via_sentry
}

@test "$FRONTEND: the BOTTLE's nameserver is the SENTRY, and its query reaches the SENTRY's dnsmasq" {
    check_bottle_resolves_via_sentry compose-probe.test
}

@test "$FRONTEND: the BOTTLE's connect off the enclave goes through the SENTRY (arrives from its uplink address)" {
    check_connect_leaves_through_sentry
}

@test "$FRONTEND: the SENTRY's policy holds: a port it does not allow gets nothing" {
    start_listener
    bottle_connect "$DENIED_PORT"
    say "listener $UPLINK_HOST:$DENIED_PORT accepted $(wc -l < "$BATS_FILE_TMPDIR/conn.$DENIED_PORT")"
    [ "$(wc -l < "$BATS_FILE_TMPDIR/conn.$DENIED_PORT")" -eq 0 ]
}

@test "$FRONTEND: the BOTTLE runs with the capabilities of a plain podman run, nothing added" {
    bottle=$(P exec "$BOTTLE" grep CapEff /proc/1/status)
    plain=$(P run --rm --network none localhost/bottle grep CapEff /proc/1/status)
    say "BOTTLE $bottle, plain podman run $plain"
    [ "$bottle" = "$plain" ]
}

@test "$FRONTEND: down removes both containers and both networks; no bridge or netavark rule is left" {
    run compose down -t 0
    say "$(tail -n 4 <<<"$output")"
    [ "$status" -eq 0 ]
    run P ps -a --format '{{.Names}}'
    [[ $output != *"$BOTTLE"* ]]
    [[ $output != *"$SENTRY"* ]]
    run P network ls --format '{{.Name}}'
    [[ $output != *"$ENCLAVE"* ]]
    [[ $output != *"$UPLINK"* ]]
    ! ip link show "$ENCLAVE_BR" 2>/dev/null
    ! ip link show "$UPLINK_BR" 2>/dev/null
    run nft list ruleset
    [[ $output != *"$ENCLAVE_NET"* ]]
    [[ $output != *"$UPLINK_NET"* ]]
}
