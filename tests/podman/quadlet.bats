#!/usr/bin/env bats
# Quadlet (issue 10, section 4): a SENTRY/BOTTLE pair described as Quadlet
# units, tests/podman/quadlet/:
#
#   enclave.network    Options=gateway_mode=container, 10.241.0.0/24, gateway
#                      10.241.0.1, bridge asgwqen          -> network asgwq-enclave
#   uplink.network     a plain bridge, 10.242.0.0/24, bridge asgwqup
#                                                          -> network asgwq-uplink
#   sentry.container   localhost/sentry, NET_ADMIN, Network=uplink.network and
#                      Network=enclave.network:as_gateway=true
#   bottle.container   localhost/bottle (stock busybox), no capabilities added,
#                      Network=enclave.network
#
# Part 1, the generator: build/bin/quadlet (make quadlet: podman's
# ./cmd/quadlet from the patched tree, with build/bin/podman's modfile and
# tags) converts the units with --dryrun; each @test checks one property of
# the generated services.
#
# Part 2, the generated commands, run for real in the podman sandbox
# (podman-patch/podman-env).  There is no systemd here, so this file does
# what systemd would do with the generated services, and only that: it runs
# each ExecStart= (then ExecStop= and ExecStopPost=) line as generated, with
#   * /usr/bin/podman -> podman-patch/podman-env (build/bin/podman in the
#     sandbox: the patched podman, as if installed);
#   * systemd's specifiers expanded (%n, %N, %t = /run, %%); any other
#     specifier, quoting or escaping in a line is refused, not guessed;
#   * the [Service] Environment= lines exported (PODMAN_SYSTEMD_UNIT=%n);
#   * the command in the unit's own cgroup v2 group, as systemd runs a unit
#     with Delegate=yes: Quadlet generates `podman run --cgroups=split`,
#     which puts conmon and the container under the caller's cgroup and
#     refuses to run from the root cgroup.  The groups are
#     asgwq.slice/<unit> (ExecStart=) and asgwq.slice/<unit>/.control
#     (ExecStop=, ExecStopPost=: systemd's group for a delegated unit's
#     control processes) in the sandbox's cgroup v2 hierarchy, removed at
#     the end.
# Units start in systemd's order: the two network services, then
# sentry.service (Requires=/After= both), then bottle.service
# (After=sentry.service).  The checks use traffic: the BOTTLE's gateway
# answers from the SENTRY's MAC, its DNS query is logged by the SENTRY's
# dnsmasq, and a TCP connect it makes to a listener this file runs on the
# uplink bridge's host address (10.242.0.1) arrives from the SENTRY's uplink
# address (routed and masqueraded by the SENTRY, port 18094 allowed by its
# policy); a port the policy does not allow (18095) gets nothing.
#
#   bats tests/podman/quadlet.bats        (make check-quadlet)
#     state: AS_GATEWAY_PODMAN_STATE, default /var/tmp/as-gateway/podman-quadlet;
#     everything (containers, networks, images, the sandbox, the listener, the
#     cgroups) is removed at the end.

root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-quadlet}
export AS_GATEWAY_NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}
QUADLET=$root/build/bin/quadlet
UNITS=$root/tests/podman/quadlet
ENCLAVE=asgwq-enclave UPLINK=asgwq-uplink SENTRY=asgwq-sentry BOTTLE=asgwq-bottle
ENCLAVE_BR=asgwqen UPLINK_BR=asgwqup
GW=10.241.0.1 UPLINK_HOST=10.242.0.1
ALLOWED_PORT=18094 DENIED_PORT=18095
CG_SLICE=asgwq.slice

load scene

# ---- the generated services ----------------------------------------------------

# unit NAME: the generated NAME (e.g. sentry.service) from the dry run
unit() {
    awk -v want="---$1---" '/^---.*---$/ { on = ($0 == want); next } on' "$BATS_FILE_TMPDIR/dryrun.out"
}

# unit_key NAME GROUP KEY: the values of KEY= in [GROUP] of unit NAME, in order
unit_key() {
    unit "$1" | awk -v g="[$2]" -v k="$3=" '
        /^\[/ { in_g = ($0 == g); next }
        in_g && index($0, k) == 1 { print substr($0, length(k) + 1) }'
}

# expand UNIT LINE: systemd's specifiers in LINE, for a system unit UNIT
expand() {
    local unit=$1 line=$2 out=
    while [[ $line == *%* ]]; do
        out+=${line%%\%*}
        line=${line#*%}
        case ${line:0:1} in
            n) out+=$unit ;;
            N) out+=${unit%.*} ;;
            t) out+=/run ;;
            %) out+=% ;;
            *) echo "quadlet.bats: specifier %${line:0:1} in a $unit line: not emulated" >&2; return 1 ;;
        esac
        line=${line:1}
    done
    printf '%s\n' "$out$line"
}

# run_unit UNIT KEY: run each KEY= line of [Service] of UNIT as systemd would
# (see the header); returns at the first failure unless the line has
# systemd's "-" prefix
run_unit() {
    local unit=$1 key=$2 line ignore cg envs=() argv=()
    while IFS= read -r line; do
        line=$(expand "$unit" "$line") || return 2
        envs+=("$line")
    done < <(unit_key "$unit" Service Environment)
    # systemd runs a delegated unit's main process (ExecStart=) in the unit's
    # group, its control processes (ExecStop=, ExecStopPost=) in the
    # subgroup .control: by then podman has made child groups with
    # controllers, and cgroup v2 puts no process in such a group
    cg=/sys/fs/cgroup/$CG_SLICE/$unit
    [ "$key" = ExecStart ] || cg+=/.control
    while IFS= read -r line; do
        ignore=0
        while [[ $line == [-@:+!]* ]]; do
            [[ $line == -* ]] && ignore=1
            line=${line:1}
        done
        if [[ $line == *[\"\'\\\$\;\&\|\<\>\`]* ]]; then
            echo "quadlet.bats: $unit $key has quoting or shell syntax, not emulated: $line" >&2
            return 2
        fi
        line=$(expand "$unit" "$line") || return 2
        read -ra argv <<<"$line"
        if [ "${argv[0]}" != /usr/bin/podman ]; then
            echo "quadlet.bats: $unit $key does not run /usr/bin/podman: $line" >&2
            return 2
        fi
        # in the sandbox: into the unit's cgroup, then exec the patched podman
        # with the unit's environment (podman-env --exec sets the rest)
        # shellcheck disable=SC2016
        P --exec sh -c 'mkdir -p "$1" && echo $$ > "$1/cgroup.procs" && shift && exec env "$@"' \
            sh "$cg" "${envs[@]}" "$root/build/bin/podman" "${argv[@]:1}" || [ $ignore = 1 ] || return 1
    done < <(unit_key "$unit" Service "$key")
}

# ---- the scene -----------------------------------------------------------------

# remove_cgroups: the unit cgroups, deepest first (only empty ones go)
remove_cgroups() {
    local cg
    cg=$(findmnt -n -o TARGET -t cgroup2 | head -n1)
    [ -n "$cg" ] && [ -d "$cg/$CG_SLICE" ] || return 0
    find "$cg/$CG_SLICE" -depth -type d -exec rmdir {} + 2>/dev/null || true
}

cleanup_scene() {
    if [ -s "$BATS_FILE_TMPDIR/listener.pid" ]; then
        kill "$(cat "$BATS_FILE_TMPDIR/listener.pid")" 2>/dev/null || true
        rm -f "$BATS_FILE_TMPDIR/listener.pid"
    fi
    P rm -f -t 0 "$BOTTLE" "$SENTRY" >/dev/null 2>&1 || true
    P network rm -f "$ENCLAVE" "$UPLINK" >/dev/null 2>&1 || true
}

setup_file() {
    [ "$(id -u)" = 0 ] || skip "needs root"
    [ -x "$QUADLET" ] || skip "make quadlet first"
    [ -x "$AS_GATEWAY_NETAVARK" ] || skip "make netavark first"
    # shellcheck source=../debian-packages.sh
    . "$root/tests/debian-packages.sh"
    install_debian_packages "podman quadlet" "python3:the listener on the uplink" >&3
    cleanup_scene
    remove_cgroups
    "$root/tests/podman/images.sh" bottle sentry 2>&1 | sed 's/^/# /' >&3
    # the generator as a systemd generator would run it for system units,
    # with only our units in its search path
    QUADLET_UNIT_DIRS=$UNITS "$QUADLET" --dryrun >"$BATS_FILE_TMPDIR/dryrun.out" 2>"$BATS_FILE_TMPDIR/dryrun.err" \
        || { cat "$BATS_FILE_TMPDIR/dryrun.err" >&3; return 1; }
    say "quadlet $("$QUADLET" -version), podman $(P --version | awk '{print $3}'), netavark $AS_GATEWAY_NETAVARK"
}

teardown_file() {
    cleanup_scene
    P --teardown >/dev/null 2>&1 || true
    remove_cgroups
}

# ---- part 1: the generator (--dryrun) -------------------------------------------

@test "quadlet --dryrun converts the four units without a warning or an error" {
    run grep -c '^---.*---$' "$BATS_FILE_TMPDIR/dryrun.out"
    [ "$output" = 4 ]
    for s in enclave-network uplink-network sentry bottle; do
        grep -qx -- "---$s.service---" "$BATS_FILE_TMPDIR/dryrun.out"
    done
    # stderr: only "Loading source unit file ..." (its debug log in dry-run mode)
    run grep -v 'Loading source unit file' "$BATS_FILE_TMPDIR/dryrun.err"
    [ -z "$output" ]
}

@test "enclave.network: ExecStart is podman network create --opt gateway_mode=container with its subnet and gateway" {
    run unit_key enclave-network.service Service ExecStart
    say "$output"
    [ "$output" = "/usr/bin/podman network create --ignore --interface-name $ENCLAVE_BR --subnet 10.241.0.0/24 --gateway $GW --opt gateway_mode=container $ENCLAVE" ]
}

@test "enclave.network: a oneshot service that stays active once the network exists" {
    [ "$(unit_key enclave-network.service Service Type)" = oneshot ]
    [ "$(unit_key enclave-network.service Service RemainAfterExit)" = yes ]
}

@test "sentry.container: ExecStart is podman run --network asgwq-enclave:as_gateway=true, after its uplink, with NET_ADMIN" {
    run unit_key sentry.service Service ExecStart
    say "$output"
    [ "$output" = "/usr/bin/podman run --name $SENTRY --replace --rm --cgroups=split --network $UPLINK --network $ENCLAVE:as_gateway=true --sdnotify=conmon -d --cap-add net_admin --env SENTRY_ALLOW=$UPLINK_HOST:$ALLOWED_PORT localhost/sentry" ]
}

@test "sentry.container: no --sysctl and no --privileged (the SENTRY turns forwarding on itself, after its policy)" {
    run unit_key sentry.service Service ExecStart
    [[ $output != *--sysctl* ]]
    [[ $output != *--privileged* ]]
}

@test "sentry.container: the service requires and follows both network services" {
    run unit_key sentry.service Unit Requires
    [ "$output" = $'uplink-network.service\nenclave-network.service' ]
    run unit_key sentry.service Unit After
    [[ $output == *uplink-network.service* ]]
    [[ $output == *enclave-network.service* ]]
}

@test "bottle.container: stock: ExecStart is podman run --network asgwq-enclave, no option, no added capability, no --sysctl" {
    run unit_key bottle.service Service ExecStart
    say "$output"
    [ "$output" = "/usr/bin/podman run --name $BOTTLE --replace --rm --cgroups=split --network $ENCLAVE --sdnotify=conmon -d localhost/bottle sleep infinity" ]
}

@test "bottle.container: starts after the SENTRY, but is not stopped or restarted with it (Wants=, not Requires=)" {
    run unit_key bottle.service Unit Wants
    [[ $output == *sentry.service* ]]
    run unit_key bottle.service Unit After
    [[ $output == *sentry.service* ]]
    [[ $output == *enclave-network.service* ]]
    run unit_key bottle.service Unit Requires
    [ "$output" = enclave-network.service ]
}

@test "a plain Network=enclave:as_gateway=true (a network Quadlet does not manage) is passed to podman as is" {
    dir=$BATS_TEST_TMPDIR/units
    mkdir -p "$dir"
    printf '[Container]\nImage=localhost/sentry\nNetwork=enclave:as_gateway=true\n' > "$dir/gw.container"
    run env QUADLET_UNIT_DIRS="$dir" "$QUADLET" --dryrun
    [ "$status" -eq 0 ]
    line=$(grep '^ExecStart=' <<<"$output")
    say "$line"
    [[ $line == *" --network enclave:as_gateway=true "* ]]
    # nothing to order after: the network is not a Quadlet unit
    ! grep -q '^Requires=' <<<"$output"
}

# ---- part 2: the generated commands, for real --------------------------------------

@test "run enclave-network.service: a gateway_mode=container network with the subnet and gateway" {
    run_unit enclave-network.service ExecStart
    run P network inspect -f '{{.Options}} {{range .Subnets}}{{.Subnet}} {{.Gateway}}{{end}} {{.NetworkInterface}}' "$ENCLAVE"
    say "$output"
    [[ $output == *gateway_mode:container* ]]
    [[ $output == *"10.241.0.0/24 $GW $ENCLAVE_BR"* ]]
}

@test "run uplink-network.service: the SENTRY's plain uplink network" {
    run_unit uplink-network.service ExecStart
    run P network inspect -f '{{.Options}} {{range .Subnets}}{{.Subnet}} {{.Gateway}}{{end}} {{.DNSEnabled}}' "$UPLINK"
    say "$output"
    [[ $output == *"10.242.0.0/24 $UPLINK_HOST false"* ]]
    [[ $output != *gateway_mode* ]]
}

@test "run sentry.service: the SENTRY holds the enclave's gateway address, connected with as_gateway=true" {
    run_unit sentry.service ExecStart
    wait_for sentry_ready || { P logs "$SENTRY" 2>&1 | sed 's/^/#   /' >&3; false; }
    run P inspect -f '{{json (index .NetworkSettings.Networks "asgwq-enclave").DriverOpts}} {{(index .NetworkSettings.Networks "asgwq-enclave").IPAddress}}' "$SENTRY"
    say "$output"
    [ "$output" = "{\"as_gateway\":\"true\"} $GW" ]
    run P exec "$SENTRY" ip -4 -o addr
    [[ $output == *" inet $GW/24 "* ]]
    # the container is the unit's: podman labels it with PODMAN_SYSTEMD_UNIT
    [ "$(P inspect -f '{{index .Config.Labels "PODMAN_SYSTEMD_UNIT"}}' "$SENTRY")" = sentry.service ]
}

@test "run sentry.service: no --sysctl: the SENTRY turned forwarding on itself once its policy was loaded" {
    run P logs "$SENTRY"
    say "$(grep '^sentry: forwarding on' <<<"$output")"
    # the entrypoint refuses to start if an enclave interface forwarded
    # before its policy; it started, and then turned forwarding on
    [[ $output == *"sentry: forwarding on"* ]]
    [ "$(P exec "$SENTRY" cat /proc/sys/net/ipv4/conf/eth1/forwarding)" = 1 ]
}

@test "run bottle.service: the BOTTLE's default route is the SENTRY, and its gateway answers with the SENTRY's MAC" {
    run_unit bottle.service ExecStart
    wait_for P exec "$BOTTLE" true
    check_bottle_routes_via_sentry
}

@test "run bottle.service: the BOTTLE's nameserver is the SENTRY, and its query reaches the SENTRY's dnsmasq" {
    check_bottle_resolves_via_sentry quadlet-probe.test
}

@test "run bottle.service: the BOTTLE's connect off the enclave goes through the SENTRY (arrives from its uplink address)" {
    check_connect_leaves_through_sentry
}

@test "run bottle.service: the SENTRY's policy holds: a port it does not allow gets nothing, and the SENTRY counts the drops" {
    start_listener
    before=$(P exec "$SENTRY" nft list counter inet sentry dropped_forward | grep -o 'packets [0-9]*' | cut -d' ' -f2)
    bottle_connect "$DENIED_PORT"
    after=$(P exec "$SENTRY" nft list counter inet sentry dropped_forward | grep -o 'packets [0-9]*' | cut -d' ' -f2)
    say "listener $UPLINK_HOST:$DENIED_PORT accepted $(wc -l < "$BATS_FILE_TMPDIR/conn.$DENIED_PORT"); SENTRY dropped_forward $before -> $after"
    [ "$(wc -l < "$BATS_FILE_TMPDIR/conn.$DENIED_PORT")" -eq 0 ]
    [ "$after" -gt "$before" ]
}

@test "run bottle.service: the BOTTLE runs with the capabilities of a plain podman run, nothing added" {
    bottle=$(P exec "$BOTTLE" grep CapEff /proc/1/status)
    plain=$(P run --rm --network none localhost/bottle grep CapEff /proc/1/status)
    say "BOTTLE $bottle, plain podman run $plain"
    [ "$bottle" = "$plain" ]
}

@test "ExecStop and ExecStopPost of bottle.service and sentry.service remove both containers" {
    run_unit bottle.service ExecStop
    run_unit bottle.service ExecStopPost
    run_unit sentry.service ExecStop
    run_unit sentry.service ExecStopPost
    run P ps -a --format '{{.Names}}'
    say "containers left: ${output:-none}"
    [[ $output != *"$BOTTLE"* ]]
    [[ $output != *"$SENTRY"* ]]
}

@test "clean up: with the networks removed no bridge, netavark rule or cgroup of the scene is left" {
    P network rm "$ENCLAVE" "$UPLINK" >/dev/null
    ! ip link show "$ENCLAVE_BR" 2>/dev/null
    ! ip link show "$UPLINK_BR" 2>/dev/null
    run nft list ruleset
    [[ $output != *10.241.0.0/24* ]]
    [[ $output != *10.242.0.0/24* ]]
    [[ $output != *"$ENCLAVE_BR"* ]]
    remove_cgroups
    ! [ -e "$(findmnt -n -o TARGET -t cgroup2 | head -n1)/$CG_SLICE" ]
}
