//! Test harness for the as-gateway netavark series.
//!
//! Layers, bottom up:
//! - [`netns`]: named network namespaces, running code inside one, the
//!   [`netns::Sandbox`] cleanup guard;
//! - [`link`]: veth pairs, addresses, routes, MACs over rtnetlink;
//! - [`netavark`]: netavark's JSON types and a runner that executes a
//!   netavark binary inside a simulated host namespace;
//! - [`probe`]: real state (links, addresses, routes, neighbours, nft, config
//!   dir) and real traffic (ICMP, TCP, captured ARP/NA frames);
//! - [`frames`]: hand-made ARP/NA/RA/DHCP/IP frames and a parser, for the
//!   no-leak tests' crafted probes and packet sinks;
//! - [`scenario`]: SENTRY/BOTTLE topologies;
//! - [`bench`]: like-for-like ratios against the stock recipe (setup,
//!   TCP throughput, the Nth client), measured in one run.

pub mod bench;
pub mod frames;
pub mod link;
pub mod netavark;
pub mod netns;
pub mod probe;
pub mod scenario;

/// Fail early with a clear message when not root.
pub fn require_root() -> anyhow::Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        anyhow::bail!("as-gateway needs root (network namespaces, netavark)");
    }
    Ok(())
}
