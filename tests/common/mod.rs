//! Shared helpers of the scenario tests.
#![allow(dead_code)]

use as_gateway::netavark::{patched_binary, stock_binary};
use as_gateway::netns::Netns;
use as_gateway::probe;
use as_gateway::scenario::{
    bottle_config, link_ips, sentry_config, Container, EnclaveNet, Lab, ENCLAVE_GW4, SENTRY_MAC,
};
use std::net::IpAddr;
use std::time::Duration;

/// A lab running the patched netavark (`$AS_GATEWAY_NETAVARK`).
pub fn patched_lab() -> Lab {
    as_gateway::require_root().expect("root");
    Lab::new(&patched_binary()).expect("lab with the patched netavark")
}

/// A lab running the stock netavark (`$AS_GATEWAY_NETAVARK_STOCK`).
pub fn stock_lab() -> Lab {
    as_gateway::require_root().expect("root");
    Lab::new(&stock_binary()).expect("lab with the stock netavark")
}

/// Ping with a few tries.
pub fn pings(ns: &Netns, ip: IpAddr) -> bool {
    probe::ping(ns, ip, 3, Duration::from_millis(300)).expect("ping probe")
}

/// Default routes of `ns` as (gateway, dev) pairs, printed for the log.
pub fn default_gateways(ns: &Netns) -> Vec<IpAddr> {
    let routes = probe::default_routes(ns).expect("routes");
    for r in &routes {
        eprintln!("  {}: {r}", ns.name());
    }
    routes.iter().filter_map(|r| r.gateway).collect()
}

/// Run a command inside `ns` (`ip netns exec`); it must succeed. Returns
/// its stdout.
pub fn run_in(ns: &Netns, args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .args(args)
        .output()
        .expect("ip netns exec");
    assert!(
        out.status.success(),
        "{args:?} in {}: {}",
        ns.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command inside `ns`: whether it succeeded.
pub fn try_run_in(ns: &Netns, args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Print a result line that shows in `cargo test` output even for passing
/// tests (writes to stderr directly, bypassing libtest's capture).
pub fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The usual start order on a `net`: the sentry (MAC `SENTRY_MAC`, no
/// uplink), then bottle 0; both set up.
pub fn sentry_then_bottle(lab: &mut Lab, net: &EnclaveNet) -> (Container, Container) {
    let mut sentry = lab.sentry(sentry_config(net, SENTRY_MAC, false)).unwrap();
    lab.setup(&mut sentry).expect("sentry setup");
    let mut bottle = lab.container(bottle_config(net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    (sentry, bottle)
}

/// The enclave's IPv4 gateway is on the sentry's eth0 and not on the
/// bridge; `when` says at which step, for the failure message.
pub fn assert_sentry_alone_holds_gateway(lab: &Lab, sentry: &Container, when: &str) {
    let on_bridge = lab.bridge_addresses().unwrap();
    assert!(
        on_bridge.is_empty(),
        "{when}: the bridge still holds {on_bridge:?}"
    );
    assert_eq!(
        link_ips(&sentry.ns, "eth0").unwrap(),
        vec![IpAddr::V4(ENCLAVE_GW4)],
        "{when}: the sentry holds the gateway"
    );
}

/// The network option that lets bottles talk to each other:
/// `client_isolation` since the guards moved to netdev ingress,
/// `bottle_isolation` before. The binary says which: `netavark create`
/// refuses an option it does not know.
pub fn isolation_option(lab: &Lab) -> &'static str {
    let cfg = serde_json::json!({
        "network": {
            "name": "enclave", "id": as_gateway::scenario::ENCLAVE_ID, "driver": "bridge",
            "dns_enabled": false, "internal": false, "ipv6_enabled": false,
            "options": {"gateway_mode": "container", "client_isolation": "false"}
        },
        "used": {"interfaces": [], "names": {}, "subnets": []},
        "options": {
            "subnet_pools": [{"base": "10.89.0.0/16", "size": 24}],
            "default_interface_name": "podman",
            "check_used_subnets": false
        }
    });
    let out = lab
        .netavark
        .run(&["create"], &cfg.to_string())
        .expect("netavark create");
    if out.success() {
        "client_isolation"
    } else {
        "bottle_isolation"
    }
}

/// Quiet the host's stack for the host sinks: the outside namespace stops
/// talking IPv6 to it (router solicitations, MLD reports), then wait until
/// no in-counter of the host moves for a second. Reports what still moved
/// if it never got quiet.
pub fn quiet_host(lab: &Lab) {
    for dev in ["all", "default", "eth0"] {
        lab.outside
            .set_sysctl(&format!("net/ipv6/conf/{dev}/disable_ipv6"), "1")
            .expect("IPv6 off in the outside namespace");
    }
    let still =
        probe::wait_for_quiet_stack(&lab.host, Duration::from_secs(1), Duration::from_secs(15))
            .expect("host counters");
    if !still.is_empty() {
        report(&format!(
            "NO-LEAK host stack never got quiet, still moving: {still:?}"
        ));
    }
}
