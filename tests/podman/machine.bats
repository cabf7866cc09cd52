#!/usr/bin/env bats
# podman machine (issue 10, section 5): every step of the recipe in
# docs/podman-machine.md that can run on this machine.  Not here: a podman
# machine VM, quay.io (no registry is reachable), Fedora's dnf, WSL.
#
#   context.sh       the build context from the patched trees (src/ = their
#                    HEADs), with binaries checked against those HEADs
#   build.sh         the Fedora builder stage's and the WSL route's build,
#                    run here on Debian 12 standing in for Fedora (apt for
#                    the C libraries instead of dnf), with the machine's tags
#   build-image.sh   the digest pin is enforced; the Containerfile builds
#                    with `podman build` (the patched podman, in the sandbox)
#                    FROM a local stand-in for machine-os, pinned by its
#                    digest: a busybox rootfs with the glibc and libraries
#                    of this host (what the binaries were linked against), a
#                    stock netavark and a placeholder podman at the paths
#                    Fedora uses.  A second stand-in lacks libseccomp: the
#                    build must fail there, not in a VM.
#   wsl.sh           the install and uninstall into a root directory (ROOT=),
#                    and the dnf steps as a dry run
#   apply.sh         a dry run (podman machine os apply needs a VM)
#   remote client    a stock podman-remote 6.0.2, what a macOS or Windows
#                    host runs against the machine's podman API, drives the
#                    patched podman's API service here: gateway_mode network,
#                    as_gateway SENTRY, BOTTLE routed by it
#
#   bats tests/podman/machine.bats       (make check-machine)
#     state: AS_GATEWAY_PODMAN_STATE, default /var/tmp/as-gateway/podman-machine;
#     the context is build/machine/test-context; cargo's target dir
#     $CACHE/machine-netavark-target/<hash of the context path> (about 8 min
#     cold; warm, cargo recompiles only the netavark crate);
#     the stock remote client $CACHE/podman-remote-stock (1.5 min cold)

bats_require_minimum_version 1.5.0   # run -N
root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-machine}
export AS_GATEWAY_NETAVARK=${AS_GATEWAY_NETAVARK:-$root/build/bin/netavark}
CACHE=${CACHE:-$HOME/.cache/as-gateway}
M=$root/podman-patch/machine
CTX=$root/build/machine/test-context
STANDIN=localhost/asgw-machine-os-standin
BROKEN=localhost/asgw-machine-os-nolibseccomp
IMAGE=localhost/asgw-machine-os-test
DIGEST=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
REMOTE=$CACHE/podman-remote-stock/podman-remote
SOCK=$AS_GATEWAY_PODMAN_STATE/api.sock
ENCLAVE=asgwm-enclave SENTRY=asgwm-sentry BOTTLE=asgwm-bottle GW=10.243.0.1

P() { "$root/podman-patch/podman-env" "$@"; }
say() { printf '%s\n' "$*" | sed 's/^/# /' >&3; }
# in_sandbox SCRIPT [ARGS]: sh -c SCRIPT in the podman sandbox, with $podman
# the patched podman (image mounts exist only in the sandbox's mount namespace)
in_sandbox() {
    local script=$1
    shift
    P --exec env podman="$root/build/bin/podman" sh -c "$script" sh "$@"
}
# remote ARGS: the stock remote client against the patched service
remote() { "$REMOTE" --url "unix://$SOCK" "$@"; }

# standin NAME [LIB-TO-LEAVE-OUT]: a stand-in machine-os base image
standin() {
    local name=$1 without=${2:-} tmp c lib libs
    tmp=$(mktemp -d)
    c=$(P create localhost/bottle)
    P export "$c" | tar -x -C "$tmp"
    P rm "$c" >/dev/null
    libs=$(for b in "$CTX/bin/podman" "$CTX/bin/netavark"; do
               ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
           done | sort -u)
    for lib in $libs; do
        [ -n "$without" ] && [[ $lib == */$without* ]] && continue
        install -D -m 0755 "$(readlink -f "$lib")" "$tmp$lib"
    done
    install -D -m 0644 /usr/lib/os-release "$tmp/usr/lib/os-release"
    install -D -m 0755 "$root/build/bin/netavark-stock" "$tmp/usr/libexec/podman/netavark"
    printf '#!/bin/sh\necho "stock podman placeholder"\n' > "$tmp/usr/bin/podman"
    chmod 0755 "$tmp/usr/bin/podman"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp" -c . |
        P import --quiet --change "LABEL org.as-gateway.standin=\"machine-os stand-in ${without:+without $without}\"" \
            - "$name:latest" >/dev/null
    rm -rf "$tmp"
}
digest_of() { P image inspect -f '{{.Digest}}' "$1"; }

setup_file() {
    [ "$(id -u)" = 0 ] || skip "needs root"
    for b in netavark netavark-stock podman; do
        [ -x "$root/build/bin/$b" ] || skip "make netavark podman first"
    done
    # shellcheck source=../debian-packages.sh
    . "$root/tests/debian-packages.sh"
    install_debian_packages "podman machine test" \
        "libsystemd-dev:headers for podman's systemd build tag (journald), as the machine-os's podman is built" \
        "protobuf-compiler:netavark's build.rs" >&3
    P --teardown >/dev/null 2>&1 || true
    "$root/tests/podman/images.sh" bottle sentry 2>&1 | sed 's/^/# /' >&3
}

teardown_file() {
    if [ -s "$BATS_FILE_TMPDIR/service.pid" ]; then
        kill "$(cat "$BATS_FILE_TMPDIR/service.pid")" 2>/dev/null || true
    fi
    P rm -f -t 0 "$SENTRY" "$BOTTLE" >/dev/null 2>&1 || true
    P network rm -f "$ENCLAVE" asgwm-uplink >/dev/null 2>&1 || true
    P --teardown >/dev/null 2>&1 || true
}

# ---- the context ---------------------------------------------------------------

@test "context.sh: src/ is each patched tree's HEAD (COMMITS names them; podman has the series' --as-gateway)" {
    run "$M/context.sh" --no-bin "$BATS_TEST_TMPDIR/ctx"
    [ "$status" -eq 0 ]
    for t in netavark podman container-libs-common; do
        grep -qx "$t $(git -C "$root/build/src/$t" rev-parse HEAD)" "$BATS_TEST_TMPDIR/ctx/src/COMMITS"
    done
    say "$(cat "$BATS_TEST_TMPDIR/ctx/src/COMMITS")"
    grep -q '"as-gateway"' "$BATS_TEST_TMPDIR/ctx/src/podman/cmd/podman/networks/connect.go"
    [ ! -e "$BATS_TEST_TMPDIR/ctx/src/podman/.git" ]
    for f in Containerfile build.sh build-image.sh apply.sh wsl.sh; do [ -e "$BATS_TEST_TMPDIR/ctx/$f" ]; done
}

@test "build.sh (the Fedora builder stage's and WSL's build, here on Debian): both binaries from the context, podman with the machine's tags" {
    run "$M/context.sh" --build "$CTX"
    [ "$status" -eq 0 ] || { say "${output: -3000}"; false; }
    say "$(cat "$CTX/bin/BUILD-INFO")"
    for t in netavark podman container-libs-common; do
        grep -qx "$t $(git -C "$root/build/src/$t" rev-parse HEAD)" "$CTX/bin/BUILD-INFO"
    done
    run go version -m "$CTX/bin/podman"
    [[ $output == *"-tags=seccomp,systemd,libsqlite3,grpcnotrace,exclude_graphdriver_btrfs,containers_image_openpgp"* ]]
    [ "$("$CTX/bin/podman" --version)" = "podman version 6.0.2" ]
    "$CTX/bin/netavark" --version
    # the netavark is the patched one
    grep -qa gateway_mode "$CTX/bin/netavark"
}

@test "context.sh: refuses binaries that were not built from the trees' HEADs" {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    # podman from the HEAD (the previous test's), netavark stock 2.1.0
    cp "$CTX/bin/podman" "$BATS_TEST_TMPDIR/bin/podman"
    cp "$root/build/bin/netavark-stock" "$BATS_TEST_TMPDIR/bin/netavark"
    run "$M/context.sh" --bin "$BATS_TEST_TMPDIR/bin" "$BATS_TEST_TMPDIR/ctx"
    say "$output"
    [ "$status" -ne 0 ]
    [[ $output == *"netavark was built from"*"not build/src/netavark HEAD"* ]]
}

# ---- the image -----------------------------------------------------------------

@test "build-image.sh: refuses a machine-os given by tag, not pinned by digest" {
    run "$M/build-image.sh" --machine-os quay.io/podman/machine-os:6.0 --dry-run "$CTX"
    say "$output"
    [ "$status" -ne 0 ]
    [[ $output == *"is not pinned by digest"* ]]
}

@test "build-image.sh: refuses a malformed digest" {
    run "$M/build-image.sh" --digest sha256:0123abc --dry-run "$CTX"
    [ "$status" -ne 0 ]
    [[ $output == *"quay.io/podman/machine-os@sha256:0123abc' is not pinned by digest"* ]]
}

@test "build-image.sh --digest: podman build FROM quay.io/podman/machine-os@DIGEST, tagged with the podman version" {
    run "$M/build-image.sh" --digest "$DIGEST" --dry-run "$CTX"
    say "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"+ podman build --pull=missing -f $CTX/Containerfile --build-arg MACHINE_OS=quay.io/podman/machine-os@$DIGEST --build-arg BINARIES=prebuilt --network none -t localhost/as-gateway-machine-os:6.0.2 $CTX"* ]]
}

@test "build-image.sh --binaries fedora: the builder is the machine-os's Fedora release (dry run)" {
    run "$M/build-image.sh" --digest "$DIGEST" --binaries fedora --dry-run "$CTX"
    say "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"+ podman pull quay.io/podman/machine-os@$DIGEST"* ]]
    [[ $output == *"--build-arg BINARIES=fedora --build-arg BUILDER=registry.fedoraproject.org/fedora:<VERSION_ID of the machine-os>"* ]]
}

@test "podman build: the Containerfile derives an image from a digest-pinned base with our binaries, and runs them in it" {
    standin "$STANDIN"
    base="$STANDIN@$(digest_of "$STANDIN")"
    run env PODMAN="$root/podman-patch/podman-env" "$M/build-image.sh" --machine-os "$base" --tag "$IMAGE" "$CTX"
    say "$(grep -E '^\+ |STEP|^podman version|^netavark' <<<"$output")"
    [ "$status" -eq 0 ]
    # the two RUN steps: both binaries start against the base's libraries
    [[ $output == *"podman version 6.0.2"* ]]
    [[ $output == *"netavark 2.1.0"* ]]
    [ "$(P image inspect -f '{{index .Labels "org.as-gateway.machine-os.base"}}' "$IMAGE")" = "$base" ]
}

@test "the derived image's /usr/libexec/podman/netavark and /usr/bin/podman are the context's binaries, root 0755" {
    run in_sandbox 'm=$($podman image mount "$1") &&
        cd "$m" && sha256sum usr/libexec/podman/netavark usr/bin/podman &&
        stat -c "%n %U:%G %a" usr/libexec/podman/netavark usr/bin/podman; $podman image unmount "$1" >/dev/null' "$IMAGE"
    say "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"$(sha256sum < "$CTX/bin/netavark" | cut -d' ' -f1)  usr/libexec/podman/netavark"* ]]
    [[ $output == *"$(sha256sum < "$CTX/bin/podman" | cut -d' ' -f1)  usr/bin/podman"* ]]
    [[ $output == *"usr/libexec/podman/netavark root:root 755"* ]]
    [[ $output == *"usr/bin/podman root:root 755"* ]]
}

@test "the derived image differs from its base in exactly those two files" {
    run in_sandbox 'a=$($podman image mount "$1") && b=$($podman image mount "$2") &&
        diff -rq --no-dereference "$a" "$b" | sed -e "s|$a|BASE|g" -e "s|$b|DERIVED|g";
        $podman image unmount "$1" "$2" >/dev/null' "$STANDIN" "$IMAGE"
    say "$output"
    [ "$output" = "Files BASE/usr/bin/podman and DERIVED/usr/bin/podman differ
Files BASE/usr/libexec/podman/netavark and DERIVED/usr/libexec/podman/netavark differ" ]
}

@test "the derived image runs our podman and netavark (a container of it, as the VM would exec them)" {
    run P run --rm --network none "$IMAGE" /usr/bin/podman --version
    [ "$output" = "podman version 6.0.2" ]
    run P run --rm --network none "$IMAGE" /usr/libexec/podman/netavark version
    say "$output"
    [[ $output == *'"version": "2.1.0"'* ]]
    # the base's stock netavark is gone: the patched one knows gateway_mode
    run P run --rm --network none "$IMAGE" grep -c gateway_mode /usr/libexec/podman/netavark
    [ "$output" -gt 0 ]
}

@test "a base without a library the binaries need fails the build (the RUN check), not the VM" {
    standin "$BROKEN" libseccomp
    # 127: the dynamic loader's status, passed on by the RUN step and podman build
    run -127 env PODMAN="$root/podman-patch/podman-env" "$M/build-image.sh" \
        --machine-os "$BROKEN@$(digest_of "$BROKEN")" --tag "$IMAGE-broken" "$CTX"
    say "$(grep -E 'libseccomp|Error' <<<"$output" | head -n 3)"
    [ "$status" -ne 0 ]
    [[ $output == *"libseccomp.so.2: cannot open shared object file"* ]]
    run P image exists "$IMAGE-broken"
    [ "$status" -ne 0 ]
}

# ---- the WSL route --------------------------------------------------------------

@test "wsl.sh --binaries: keeps the distribution's binaries once as *.fedora and installs ours" {
    r=$BATS_TEST_TMPDIR/root
    mkdir -p "$r/usr/bin" "$r/usr/libexec/podman"
    printf '#!/bin/sh\necho fedora podman\n' > "$r/usr/bin/podman"
    printf '#!/bin/sh\necho fedora netavark\n' > "$r/usr/libexec/podman/netavark"
    chmod 755 "$r/usr/bin/podman" "$r/usr/libexec/podman/netavark"
    orig=$(cat "$r/usr/bin/podman" "$r/usr/libexec/podman/netavark" | sha256sum)
    for i in 1 2; do   # twice: the second run must not overwrite the backups
        ROOT=$r run "$M/wsl.sh" --binaries "$CTX/bin" "$CTX"
        [ "$status" -eq 0 ] || { say "$output"; false; }
    done
    cmp "$r/usr/bin/podman" "$CTX/bin/podman"
    cmp "$r/usr/libexec/podman/netavark" "$CTX/bin/netavark"
    [ "$(cat "$r/usr/bin/podman.fedora" "$r/usr/libexec/podman/netavark.fedora" | sha256sum)" = "$orig" ]
    cp -a "$r" "$BATS_FILE_TMPDIR/wsl-root"
}

@test "wsl.sh --uninstall: the distribution's binaries are back" {
    r=$BATS_FILE_TMPDIR/wsl-root
    ROOT=$r run "$M/wsl.sh" --uninstall
    [ "$status" -eq 0 ]
    [ "$("$r/usr/bin/podman")" = "fedora podman" ]
    [ "$("$r/usr/libexec/podman/netavark")" = "fedora netavark" ]
    [ ! -e "$r/usr/bin/podman.fedora" ]
}

@test "wsl.sh: binaries that do not start here replace nothing" {
    r=$BATS_TEST_TMPDIR/root
    mkdir -p "$r/usr/bin" "$r/usr/libexec/podman" "$BATS_TEST_TMPDIR/bad"
    echo stock > "$r/usr/bin/podman"
    echo stock > "$r/usr/libexec/podman/netavark"
    # a podman that needs a library this system lacks (as a binary built
    # against another distribution's libraries would)
    echo 'void asgw_missing(void) {}' > "$BATS_TEST_TMPDIR/missing.c"
    gcc -shared -fPIC -o "$BATS_TEST_TMPDIR/libasgwmissing.so" "$BATS_TEST_TMPDIR/missing.c"
    printf 'void asgw_missing(void);\nint main(void) { asgw_missing(); return 0; }\n' > "$BATS_TEST_TMPDIR/main.c"
    gcc -o "$BATS_TEST_TMPDIR/bad/podman" "$BATS_TEST_TMPDIR/main.c" -L"$BATS_TEST_TMPDIR" -lasgwmissing
    cp "$CTX/bin/netavark" "$BATS_TEST_TMPDIR/bad/netavark"
    ROOT=$r run "$M/wsl.sh" --binaries "$BATS_TEST_TMPDIR/bad"
    say "$output"
    [ "$status" -ne 0 ]
    [[ $output == *"libasgwmissing.so: cannot open shared object file"* ]]
    [[ $output == *"podman does not run here"* ]]
    [ "$(cat "$r/usr/bin/podman" "$r/usr/libexec/podman/netavark")" = $'stock\nstock' ]
}

@test "wsl.sh --build --dry-run (on the machine's own root): dnf build deps, build.sh, install, version lock" {
    run "$M/wsl.sh" --build --dry-run "$CTX"
    say "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"+ $CTX/build.sh --deps dnf --out $CTX/out $CTX/src"* ]]
    [[ $output == *"+ install -D -m 0755 $CTX/out/podman /usr/bin/podman.as-gateway.tmp"* ]]
    [[ $output == *"+ mv -f /usr/libexec/podman/netavark.as-gateway.tmp /usr/libexec/podman/netavark"* ]]
    [[ $output == *"+ dnf versionlock add podman netavark"* ]]
    # and build.sh --deps dnf installs the Fedora packages
    grep -q 'golang cargo rust protobuf-compiler gcc pkgconf-pkg-config' "$M/build.sh"
    grep -q 'libseccomp-devel sqlite-devel systemd-devel' "$M/build.sh"
}

# ---- podman machine os apply (dry run) -------------------------------------------

@test "apply.sh --dry-run: builds in the machine as root from the pinned digest, applies it, checks for our podman and netavark" {
    run "$M/apply.sh" --digest "$DIGEST" --machine asgw --dry-run "$CTX"
    say "$output"
    [ "$status" -eq 0 ]
    [[ $output == *"+ podman --connection asgw-root build --pull=missing -f $CTX/Containerfile --build-arg MACHINE_OS=quay.io/podman/machine-os@$DIGEST"* ]]
    [[ $output == *"+ podman machine os apply containers-storage:localhost/as-gateway-machine-os:6.0.2 asgw --restart"* ]]
    [[ $output == *"+ podman machine ssh asgw podman network connect --help | grep -e --as-gateway"* ]]
    [[ $output == *"+ podman --connection asgw-root network create --opt gateway_mode=container"* ]]
}

# ---- the host's client: stock podman-remote against the patched API -----------------

@test "stock podman-remote 6.0.2 (a macOS/Windows host's client) creates a gateway_mode=container network through the patched API" {
    if [ ! -x "$REMOTE" ]; then
        d=$(dirname "$REMOTE")
        rm -rf "$d" && mkdir -p "$d/src"
        git -C "$root/build/src/podman" archive upstream | tar -x -C "$d/src"
        (cd "$d/src" && GOWORK=off nice go build -mod=readonly -trimpath -buildvcs=false \
            -tags "remote containers_image_openpgp exclude_graphdriver_btrfs" -o "$REMOTE" ./cmd/podman)
    fi
    P system service --time=0 "unix://$SOCK" </dev/null >"$BATS_FILE_TMPDIR/service.log" 2>&1 3>&- &
    echo $! > "$BATS_FILE_TMPDIR/service.pid"
    for _ in $(seq 100); do remote version >/dev/null 2>&1 && break; sleep 0.1; done
    say "$(remote version --format 'client {{.Client.Version}} ({{.Client.OsArch}}), server {{.Server.Version}}')"
    remote network create --disable-dns --subnet 10.244.0.0/24 --interface-name asgwmup asgwm-uplink >/dev/null
    run remote network create --subnet 10.243.0.0/24 --gateway "$GW" --interface-name asgwmen \
        --opt gateway_mode=container "$ENCLAVE"
    [ "$status" -eq 0 ]
    [ "$(P network inspect -f '{{index .Options "gateway_mode"}}' "$ENCLAVE")" = container ]
}

@test "stock podman-remote: --network NET:as_gateway=true makes the SENTRY the gateway; a BOTTLE's default route is the SENTRY" {
    remote run -d --name "$SENTRY" --cap-add NET_ADMIN --network asgwm-uplink \
        --network "$ENCLAVE:as_gateway=true" localhost/sentry >/dev/null
    for _ in $(seq 100); do remote logs "$SENTRY" 2>&1 | grep -q '^sentry: ready' && break; sleep 0.1; done
    [ "$(P inspect -f '{{json (index .NetworkSettings.Networks "asgwm-enclave").DriverOpts}}' "$SENTRY")" = '{"as_gateway":"true"}' ]
    remote run -d --name "$BOTTLE" --network "$ENCLAVE" localhost/bottle sleep infinity >/dev/null
    run remote exec "$BOTTLE" ip -4 route show default
    say "BOTTLE: $output"
    [[ $output == "default via $GW dev eth0"* ]]
    remote exec "$BOTTLE" sh -c "nc -w 1 $GW 53 </dev/null" >/dev/null 2>&1 || true
    run remote exec "$BOTTLE" ip neigh show "$GW"
    [[ $output == *"lladdr $(P inspect -f '{{(index .NetworkSettings.Networks "asgwm-enclave").MacAddress}}' "$SENTRY") "* ]]
}

@test "stock podman-remote has no network connect --as-gateway (that flag needs the patched client; run --network NET:as_gateway=true does not)" {
    run remote network connect --as-gateway "$ENCLAVE" "$BOTTLE"
    say "$output"
    [ "$status" -ne 0 ]
    [[ $output == *"unknown flag: --as-gateway"* ]]
}
