# shellcheck shell=bash
# install_debian_packages WHAT "package:reason"...: install the Debian
# packages not yet present, saying why each one is needed; WHAT names the
# set being installed.  Silent when every package is present, so that the
# installers can run before every make target that needs them.  Sourced by
# tests/install-deps.sh, podman-patch/install-runtime.sh and the podman tests.
install_debian_packages() {
    local what=$1 entry pkg
    shift
    local missing=()
    for entry in "$@"; do
        pkg=${entry%%:*}
        if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            continue
        fi
        printf '==> need %s: %s\n' "$pkg" "${entry#*:}"
        missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    printf '==> %s: installing %d Debian package(s) with apt-get\n' "$what" "${#missing[@]}"
    # One apt at a time: under make -j the installers of two targets, or a
    # test's own, may run side by side (apt-get would fail on dpkg's lock).
    (
        flock 9
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    ) 9>/run/lock/as-gateway-apt.lock
}
