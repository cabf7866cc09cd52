//! Every validation error of SPEC.md: setup fails, the error names the
//! problem, and nothing changed: host links/addresses/routes, the nft
//! ruleset (its content: handles and counter values aside) and netavark's
//! config dir are identical before and after, and the container namespace
//! has no new link.
//!
//! netavark reports errors as `{"error": "..."}` on stdout (exit code 1);
//! the checks look at stdout and stderr together.

mod common;

use as_gateway::netavark::{NetworkOptions, Subnet};
use as_gateway::probe::{self, HostSnapshot};
use as_gateway::scenario::*;
use common::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

const GW4: IpAddr = IpAddr::V4(ENCLAVE_GW4);

/// The nft ruleset (`nft -j`) without what traffic and a rule's refill
/// change: object handles and counter values. A rolled back setup that
/// refilled a chain with the same rules leaves nothing behind.
fn without_handles_and_counts(nft: &str) -> String {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("handle");
                for key in ["packets", "bytes"] {
                    if let Some(n) = m.get_mut(key) {
                        *n = 0.into();
                    }
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(nft).expect("nft json");
    strip(&mut v);
    serde_json::to_string_pretty(&v).unwrap()
}

/// The host as [`HostSnapshot`] sees it, the nft ruleset compared by content.
fn host_snapshot(lab: &Lab) -> HostSnapshot {
    let mut s = HostSnapshot::take(&lab.host, &lab.config_dir).unwrap();
    s.nft = without_handles_and_counts(&s.nft);
    s
}

/// Run a setup that must be rejected with an error containing every one of
/// `expect` (case-insensitive), and must change nothing. Returns netavark's
/// error message.
fn assert_rejected(lab: &mut Lab, cfg: NetworkOptions, expect: &[&str]) -> String {
    let c = lab.container(cfg).unwrap();
    let host_before = host_snapshot(lab);
    let links_before = probe::links(&c.ns).unwrap();
    let out = lab.netavark.setup_raw(&c.ns, &c.config).unwrap();
    let host_after = host_snapshot(lab);
    let links_after = probe::links(&c.ns).unwrap();
    let msg = out.error_message();
    eprintln!("netavark said ({:?}): {msg}", out.code);
    assert!(
        !out.success(),
        "setup was accepted, expected a rejection naming {expect:?}; stdout: {}",
        out.stdout
    );
    let all = out.all_output().to_lowercase();
    for e in expect {
        assert!(
            all.contains(&e.to_lowercase()),
            "the error does not name {e:?}: {msg}"
        );
    }
    let diff = host_before.diff(&host_after);
    assert!(
        diff.is_empty(),
        "the failed setup changed the host:\n{}",
        diff.join("\n")
    );
    assert_eq!(
        links_before, links_after,
        "the failed setup left links in the container namespace"
    );
    msg
}

fn opts(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn sentry(net: &EnclaveNet) -> NetworkOptions {
    sentry_config(net, SENTRY_MAC, false)
}

#[test]
fn as_gateway_not_a_bool() {
    let mut lab = patched_lab();
    let mut cfg = sentry(&EnclaveNet::container_mode());
    cfg.networks.get_mut(ENCLAVE).unwrap().options = opts(&[("as_gateway", "yes")]);
    assert_rejected(&mut lab, cfg, &["as_gateway", "true` or `false"]);
}

/// A sentry config moved onto `driver` (on the lab's outside0 link) must be
/// rejected, naming the option and the driver.
fn assert_as_gateway_rejected_on_driver(driver: &str) {
    let mut lab = patched_lab();
    let mut cfg = sentry(&EnclaveNet::plain());
    let n = cfg.network_info.get_mut(ENCLAVE).unwrap();
    n.driver = driver.into();
    n.network_interface = Some("outside0".into());
    assert_rejected(&mut lab, cfg, &["as_gateway", driver]);
}

#[test]
fn as_gateway_on_macvlan() {
    assert_as_gateway_rejected_on_driver("macvlan");
}

#[test]
fn as_gateway_on_ipvlan() {
    assert_as_gateway_rejected_on_driver("ipvlan");
}

#[test]
fn as_gateway_on_unmanaged_bridge() {
    let mut lab = patched_lab();
    let mut cfg = sentry(&EnclaveNet::container_mode());
    cfg.network_info.get_mut(ENCLAVE).unwrap().options = opts(&[("mode", "unmanaged")]);
    assert_rejected(&mut lab, cfg, &["as_gateway", "unmanaged"]);
}

#[test]
fn gateway_mode_container_on_unmanaged_bridge() {
    let mut lab = patched_lab();
    let mut cfg = bottle_config(&EnclaveNet::plain(), 0);
    cfg.network_info.get_mut(ENCLAVE).unwrap().options =
        opts(&[("mode", "unmanaged"), ("gateway_mode", "container")]);
    assert_rejected(&mut lab, cfg, &["gateway_mode", "unmanaged"]);
}

/// A sentry on a network whose IPAM driver is `ipam` (no subnets, no static
/// IPs) must be rejected, naming the option and the driver.
fn assert_as_gateway_rejected_with_ipam(ipam: &str) {
    let mut lab = patched_lab();
    let mut cfg = sentry(&EnclaveNet::container_mode());
    cfg.networks.get_mut(ENCLAVE).unwrap().static_ips = None;
    let n = cfg.network_info.get_mut(ENCLAVE).unwrap();
    n.ipam_options = opts(&[("driver", ipam)]);
    n.subnets = None;
    assert_rejected(&mut lab, cfg, &["as_gateway", ipam]);
}

#[test]
fn as_gateway_with_dhcp_ipam() {
    assert_as_gateway_rejected_with_ipam("dhcp");
}

#[test]
fn as_gateway_with_none_ipam() {
    assert_as_gateway_rejected_with_ipam("none");
}

#[test]
fn as_gateway_subnet_without_gateway() {
    let mut lab = patched_lab();
    let mut cfg = sentry(&EnclaveNet::container_mode());
    cfg.network_info.get_mut(ENCLAVE).unwrap().subnets = Some(vec![Subnet {
        gateway: None,
        subnet: "10.89.0.0/24".parse().unwrap(),
    }]);
    assert_rejected(&mut lab, cfg, &["as_gateway", "gateway", "10.89.0.0/24"]);
}

/// The error for `as_gateway` on any network that is not
/// `gateway_mode=container`.
const NEEDS_GATEWAY_MODE: &str = "as_gateway on network \"enclave\" needs gateway_mode=container";

/// `as_gateway` only on a `gateway_mode=container` network: refused on a
/// network the host routes, on an internal one (the former "drop-in"
/// recipe: DNS off, `routes` via the gateway), with DNS on, and with
/// `gateway_mode=host`; nothing changes.
#[test]
fn as_gateway_needs_gateway_mode_container() {
    let mut lab = patched_lab();
    let mut drop_in = EnclaveNet::plain().internal().network();
    drop_in.routes = Some(vec![as_gateway::netavark::Route {
        destination: "0.0.0.0/0".parse().unwrap(),
        gateway: Some(GW4),
        metric: None,
    }]);
    let mut host_mode = EnclaveNet::container_mode();
    host_mode.mode = GatewayMode::Host;
    let mut cases = Vec::new();
    for (label, internal, dns) in [
        ("routed", false, false),
        ("routed, DNS", false, true),
        ("internal", true, false),
        ("internal, DNS", true, true),
    ] {
        let mut net = EnclaveNet::plain();
        net.internal = internal;
        net.dns_enabled = dns;
        cases.push((label, net.network()));
    }
    cases.push(("drop-in recipe", drop_in));
    cases.push(("gateway_mode=host", host_mode.network()));
    for (label, network) in cases {
        eprintln!("case: {label}");
        let mut cfg = sentry(&EnclaveNet::plain());
        cfg.container_name = format!("sentry-{}", label.replace([' ', ',', '='], "-"));
        cfg.network_info.insert(ENCLAVE.into(), network);
        let msg = assert_rejected(&mut lab, cfg, &[]);
        assert_eq!(msg, NEEDS_GATEWAY_MODE, "{label}");
    }
}

/// The former drop-in: a bottle created the bridge of an internal network
/// (the bridge holds the gateway), then a container asks to be the
/// gateway. Refused, nothing changes: the bridge keeps the gateway and
/// still answers the bottle.
#[test]
fn as_gateway_does_not_take_over_a_bridge_that_holds_the_gateway() {
    let mut lab = patched_lab();
    let net = EnclaveNet::plain().internal();
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    assert_eq!(lab.bridge_addresses().unwrap(), vec![GW4]);
    let bridge_mac = link_mac(&lab.host, ENCLAVE_BRIDGE).unwrap();
    let msg = assert_rejected(&mut lab, sentry(&net), &[]);
    assert_eq!(msg, NEEDS_GATEWAY_MODE);
    assert_eq!(
        lab.bridge_addresses().unwrap(),
        vec![GW4],
        "the bridge keeps the gateway"
    );
    assert!(
        pings(&bottle.ns, GW4),
        "the bottle still reaches the bridge"
    );
    let n = probe::neighbour(&bottle.ns, GW4)
        .unwrap()
        .expect("neighbour .1");
    assert_eq!(
        n.mac.as_deref(),
        Some(bridge_mac.as_str()),
        "the gateway is still the bridge"
    );
}

#[test]
fn as_gateway_static_ip_is_not_the_gateway() {
    let mut lab = patched_lab();
    let mut cfg = sentry(&EnclaveNet::container_mode());
    cfg.networks.get_mut(ENCLAVE).unwrap().static_ips =
        Some(vec![IpAddr::V4(Ipv4Addr::new(10, 89, 0, 5))]);
    assert_rejected(&mut lab, cfg, &["as_gateway", "10.89.0.5", "10.89.0.1"]);
}

#[test]
fn as_gateway_missing_ipv6_gateway() {
    let mut lab = patched_lab();
    let mut cfg = sentry(&EnclaveNet::container_mode().dual_stack());
    cfg.networks.get_mut(ENCLAVE).unwrap().static_ips = Some(vec![GW4]);
    assert_rejected(&mut lab, cfg, &["as_gateway", "fd89::1"]);
}

#[test]
fn second_gateway_container_while_first_holds_it() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let mut first = lab.sentry(sentry(&net)).unwrap();
    lab.setup(&mut first).expect("first sentry setup");
    let mut second = sentry_config(&net, SENTRY_MAC_RESTARTED, false);
    second.container_id = "5ec0d5ec0d".repeat(6) + "5ec0";
    second.container_name = "sentry2".into();
    assert_rejected(&mut lab, second, &["gateway", &SENTRY_ID[..12]]);
    // the first one still holds it and answers
    assert_eq!(link_ips(&first.ns, "eth0").unwrap(), vec![GW4]);
}

#[test]
fn gateway_mode_not_host_or_container() {
    let mut lab = patched_lab();
    let mut cfg = bottle_config(&EnclaveNet::plain(), 0);
    cfg.network_info.get_mut(ENCLAVE).unwrap().options = opts(&[("gateway_mode", "bogus")]);
    assert_rejected(&mut lab, cfg, &["gateway_mode", "bogus"]);
}

#[test]
fn plain_container_holding_the_gateway_on_container_mode() {
    let mut lab = patched_lab();
    let mut cfg = bottle_config(&EnclaveNet::container_mode(), 0);
    cfg.networks.get_mut(ENCLAVE).unwrap().static_ips = Some(vec![GW4]);
    assert_rejected(&mut lab, cfg, &["10.89.0.1", "gateway"]);
}

/// `netavark create` accepts gateway_mode=container and rejects other values.
#[test]
fn create_validates_gateway_mode() {
    let lab = patched_lab();
    let create = |mode: &str| {
        let cfg = serde_json::json!({
            "network": {
                "name": "enclave", "id": ENCLAVE_ID, "driver": "bridge",
                "dns_enabled": false, "internal": false, "ipv6_enabled": false,
                "options": {"gateway_mode": mode}
            },
            "used": {"interfaces": [], "names": {}, "subnets": []},
            "options": {
                "subnet_pools": [{"base": "10.89.0.0/16", "size": 24}],
                "default_interface_name": "podman",
                "check_used_subnets": false
            }
        });
        lab.netavark.run(&["create"], &cfg.to_string()).unwrap()
    };
    let ok = create("container");
    assert!(
        ok.success(),
        "create with gateway_mode=container: {}",
        ok.error_message()
    );
    assert!(
        ok.stdout.contains("gateway_mode"),
        "option kept: {}",
        ok.stdout
    );
    let bad = create("bogus");
    assert!(!bad.success(), "create accepted gateway_mode=bogus");
    let msg = bad.error_message();
    assert!(
        msg.contains("gateway_mode") && msg.contains("bogus"),
        "error: {msg}"
    );
}

/// A setup that fails halfway (the enclave is done, then the sentry's
/// second network fails: its "bridge" is an existing veth) is rolled back:
/// no veth, address, route, nft rule or port guard state is left, and the
/// container namespace has no new link.
#[test]
fn setup_failing_halfway_is_rolled_back() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    // a bottle keeps the enclave bridge alive, so the sentry's half-done
    // setup really touches it
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    let mut cfg = sentry_config(&net, SENTRY_MAC, true);
    cfg.network_info.get_mut(UPLINK).unwrap().network_interface = Some("outside0".into());
    assert_rejected(&mut lab, cfg, &[]);
    assert!(lab.bridge_addresses().unwrap().is_empty());
    // nothing left blocks the next sentry (no stale owner, no leftovers)
    let mut good = sentry_config(&net, SENTRY_MAC, true);
    good.container_name = "sentry-retry".into();
    let mut sentry = lab.sentry(good).unwrap();
    lab.setup(&mut sentry)
        .expect("a correct sentry after the rollback");
    assert!(pings(&bottle.ns, GW4), "bottle reaches the new sentry");
}

/// The no-residue snapshot sees what a half-done setup of a
/// gateway_mode=container network could leave on a bridge that stays: a
/// static FDB entry, a port flag, a host-side sysctl. Without this, the
/// rejection tests above could not fail on such residue.
#[test]
fn residue_snapshot_sees_fdb_entries_port_flags_and_host_side_sysctls() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    let port = probe::bridge_ports(&lab.host, ENCLAVE_BRIDGE).unwrap()[0]
        .name
        .clone();
    let before = host_snapshot(&lab);
    run_in(
        &lab.host,
        &[
            "bridge",
            "fdb",
            "add",
            "02:00:00:00:00:99",
            "dev",
            &port,
            "master",
            "static",
        ],
    );
    let after_fdb = host_snapshot(&lab);
    run_in(
        &lab.host,
        &[
            "ip",
            "link",
            "set",
            &port,
            "type",
            "bridge_slave",
            "isolated",
            "off",
        ],
    );
    let after_flag = host_snapshot(&lab);
    lab.host
        .set_sysctl(&format!("net/ipv4/conf/{ENCLAVE_BRIDGE}/arp_ignore"), "0")
        .unwrap();
    let after_sysctl = host_snapshot(&lab);
    let seen = |a: &HostSnapshot, b: &HostSnapshot, what: &str| {
        let d = a.diff(b);
        assert!(
            d.iter().any(|l| l.contains(what)),
            "the snapshot missed {what}: {d:?}"
        );
    };
    seen(&before, &after_fdb, "02:00:00:00:00:99");
    seen(&after_fdb, &after_flag, "isolated=");
    seen(&after_flag, &after_sysctl, "arp_ignore=");
}
