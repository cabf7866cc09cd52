# The upstream base of patches/podman-compose/: podman-compose's sdist from
# PyPI, fetched by name with `pip download` and checked against the sha256
# below (PyPI's JSON API and the "Download files" page list the same).
#
# Bumping: `python3 -m pip download --no-deps --no-binary :all: podman-compose`
# in an empty directory fetches the newest sdist PyPI serves; set VERSION and
# SHA256 from it (`sha256sum`), then `make reset-podman-compose` and fix
# whatever `git am` reports.
PODMAN_COMPOSE_VERSION := 1.6.0
PODMAN_COMPOSE_SHA256  := c83fd9bcbaa635100d581ce52a7a4b712ee0d457481232aff392efe3ebc5a217
