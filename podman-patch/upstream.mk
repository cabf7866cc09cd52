# The upstream bases of patches/podman/ and patches/container-libs/: Go
# modules from the Go module proxy, fetched by `go mod download` and checked
# against the go.sum-style h1: hashes below (sum.golang.org has the same).
#
# PODMAN_COMMON_VERSION must be the go.podman.io/common version that podman's
# own go.mod requires, so that the only difference the build makes is
# "replace go.podman.io/common => our patched tree".
#
# Bumping: change VERSION and H1 (`go mod download -json MODULE@VERSION`
# prints "Sum"), set PODMAN_COMMON_* from the new podman go.mod, then
# `make reset-podman` and fix whatever `git am` reports.
PODMAN_MODULE         := go.podman.io/podman/v6
PODMAN_VERSION        := v6.0.2
PODMAN_H1             := h1:T7p1IJytTb1JbWCMrNnt17O4+d2qMk8Wyw7Pezihr44=
PODMAN_COMMON_MODULE  := go.podman.io/common
PODMAN_COMMON_VERSION := v0.68.1
PODMAN_COMMON_H1      := h1:y8NoHLidghpgHtWtwB9+pN7cHhIDe33g1sB4RFCRvKI=

# The newest go.podman.io/common the Go proxy serves.  Only
# `make rebase-common-newest` (tests/upstream/rebase-common.sh) uses it: the
# container-libs series rebased onto it and tested with common's own
# libnetwork tests.  podman v6.0.2 does not build against it (it needs newer
# image/storage), so it is not what podman is built with.  Bumping: the same
# as above (go mod download -json prints "Sum"), then make
# rebase-common-newest and record what conflicts (podman-patch/newest-fixups/).
PODMAN_COMMON_NEWEST_VERSION := v0.69.0
PODMAN_COMMON_NEWEST_H1      := h1:tAM8gJRCgoPmyfXnYP+6VRfOQ6JySgafpY28OhDZpWc=
