#!/usr/bin/env bash
# The Debian packages podman-compose needs, to fetch it (pip), to run it and
# its unit tests (its two dependencies, PyYAML and python-dotenv) with
# Debian's own python3 (/usr/bin/python3, whatever else is on PATH).  The
# podman side (podman, runc, conmon, Go for docker compose) is
# podman-patch/install-runtime.sh's.  Quick and silent when all are present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/debian-packages.sh
. "$root/tests/debian-packages.sh"
install_debian_packages "podman-compose" \
    "python3:podman-compose is a Python program" \
    "python3-pip:pip download fetches podman-compose's sdist from PyPI" \
    "python3-yaml:podman-compose reads compose files with PyYAML" \
    "python3-dotenv:podman-compose reads .env files with python-dotenv"
