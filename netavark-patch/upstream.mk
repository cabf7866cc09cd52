# The upstream base of patches/netavark/: the netavark crate on crates.io.
# Bumping it: change both lines, update pin/Cargo.toml, run
# `cargo generate-lockfile --manifest-path netavark-patch/pin/Cargo.toml`,
# then `make reset-netavark` and fix whatever `git am` reports.
NETAVARK_VERSION := 2.1.0
NETAVARK_SHA256  := a7a69b66f7d6700d0202467820c343e35edade9e115bb2ac6f28f2630f4bb060
