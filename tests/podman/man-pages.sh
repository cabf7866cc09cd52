#!/usr/bin/env bash
# podman's own man-page checks, on the patched podman:
#   hack/xref-helpmsgs-manpages  every option `podman ... --help` lists is in
#                                its man page, and the other way round
#                                (e.g. network connect --as-gateway)
# run on a throwaway copy of build/src/podman (`git archive HEAD`) after
# hack/markdown-preprocess (which makes the .md from the .md.in sources), with
# build/bin/podman through podman-patch/podman-env as PODMAN.
#
# The module zip keeps no exec bits, so the scripts run through their
# interpreters.  A private podman-env state dir; torn down at the end.
# (Checked once by hand that it can fail: without the --as-gateway section of
# podman-network-connect.1.md it exits 1, naming the flag.)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
export AS_GATEWAY_PODMAN_STATE=${AS_GATEWAY_PODMAN_STATE:-/var/tmp/as-gateway/podman-man-pages}
work=$(mktemp -d)
cleanup() {
    "$root/podman-patch/podman-env" --teardown >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=../debian-packages.sh
. "$root/tests/debian-packages.sh"
install_debian_packages "podman man-page check" \
    "perl:hack/xref-helpmsgs-manpages is a perl script" \
    "libclone-perl:hack/xref-helpmsgs-manpages uses Clone" \
    "python3:hack/markdown-preprocess is a python script"

git -C "$root/build/src/podman" archive HEAD | tar -x -C "$work"
printf '#!/bin/sh\nexec %q "$@"\n' "$root/podman-patch/podman-env" > "$work/podman"
chmod +x "$work/podman"

cd "$work"
echo "==> hack/markdown-preprocess"
python3 hack/markdown-preprocess
echo "==> hack/xref-helpmsgs-manpages (podman --help of every command vs docs/source/markdown)"
if PODMAN="$work/podman" perl hack/xref-helpmsgs-manpages; then
    echo "ok   man pages and --help agree"
else
    echo "FAIL man pages and --help disagree (see above)"
    exit 1
fi
