# shellcheck shell=bash
# install_debian_packages WHAT "package:reason"...: install the Debian
# packages not yet present, saying why each one is needed; WHAT names the
# set in the "all present" message.  Sourced by tests/install-deps.sh and
# podman-patch/install-runtime.sh.
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
    if [ ${#missing[@]} -eq 0 ]; then
        printf '==> %s: all Debian packages present\n' "$what"
        return 0
    fi
    printf '==> installing %d Debian package(s) with apt-get\n' "${#missing[@]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
