//! SENTRY/BOTTLE scenarios against the patched netavark on
//! `gateway_mode=container` networks (the only kind a container may be the
//! gateway of): who holds the gateway, routes, neighbour entries, DNS in the
//! status block, traffic through the sentry and none past it. Every
//! assertion reads the kernel or the wire.

mod common;

use as_gateway::link;
use as_gateway::probe;
use as_gateway::scenario::*;
use common::*;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

const GW4: IpAddr = IpAddr::V4(ENCLAVE_GW4);
const GW6: IpAddr = IpAddr::V6(ENCLAVE_GW6);

/// The echo requests `ns` took in so far: (ICMP, ICMPv6), from the
/// namespace's own SNMP counters, whoever sent them.
fn echo_requests_in(ns: &as_gateway::netns::Netns) -> (u64, u64) {
    let snmp = ns.read_proc_net("snmp").unwrap();
    let mut icmp = snmp.lines().filter(|l| l.starts_with("Icmp:"));
    let (names, values) = (icmp.next().unwrap(), icmp.next().unwrap());
    let v4 = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "InEchos")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let v6 = ns
        .read_proc_net("snmp6")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Icmp6InEchos"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    (v4, v6)
}

/// Echo requests each probe in this file sends.
const ECHOES: u64 = 5;

/// How many of `ECHOES` echo requests from `from` to `dst` the namespace
/// `sink` takes in (answered or not, whoever routes them).
fn echoes_arriving(from: &Container, dst: IpAddr, sink: &as_gateway::netns::Netns) -> u64 {
    let before = echo_requests_in(sink);
    let mut pinger = probe::Pinger::new(&from.ns, dst).unwrap();
    for _ in 0..ECHOES {
        pinger.echo(Duration::from_millis(100)).unwrap();
    }
    let after = echo_requests_in(sink);
    if dst.is_ipv4() {
        after.0 - before.0
    } else {
        after.1 - before.1
    }
}

/// Routes via the bottle's own default gateway but with the bridge's MAC as
/// next hop: what a bottle does to try the host as its router.
fn route_outside_via_bridge_mac(lab: &Lab, bottle: &Container) {
    let bridge_mac = link_mac(&lab.host, ENCLAVE_BRIDGE).unwrap();
    run_in(
        &bottle.ns,
        &[
            "ip",
            "neigh",
            "replace",
            "10.89.0.254",
            "lladdr",
            &bridge_mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    );
    run_in(
        &bottle.ns,
        &[
            "ip",
            "route",
            "replace",
            "203.0.113.0/24",
            "via",
            "10.89.0.254",
        ],
    );
}

/// A bottle that sends its traffic for the outside to the bridge's MAC (the
/// host as its router) gets nothing out: the outside namespace counts 0 of
/// its echo requests, with the guards and also after `nft flush ruleset`
/// (the bridge's `forwarding=0` and `rp_filter=1` hold). Positive controls:
/// the same sink counts the bottle's echo requests through the sentry, and
/// through the host once the bridge forwards and has no reverse path
/// filter, as on a network the host routes.
#[test]
fn bottle_cannot_bypass_sentry_through_the_host() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, true)).unwrap();
    lab.setup(&mut sentry).expect("sentry setup");
    lab.route_enclave_via_sentry(&net).unwrap();
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    let outside = IpAddr::V4(OUTSIDE_IP);
    let via_sentry = echoes_arriving(&bottle, outside, &lab.outside);
    report(&format!(
        "  bypass: {via_sentry} of {ECHOES} echo requests reached the outside through the sentry"
    ));
    assert!(
        via_sentry > 0,
        "positive control: the bottle reaches the outside via the sentry"
    );

    route_outside_via_bridge_mac(&lab, &bottle);
    let guarded = echoes_arriving(&bottle, outside, &lab.outside);
    run_in(&lab.host, &["nft", "flush", "ruleset"]);
    let flushed = echoes_arriving(&bottle, outside, &lab.outside);
    // what a network the host routes has on its bridge
    for key in [
        "net/ipv4/conf/all/rp_filter",
        "net/ipv4/conf/enclave0/rp_filter",
    ] {
        lab.host.set_sysctl(key, "0").unwrap();
    }
    lab.host
        .set_sysctl("net/ipv4/conf/enclave0/forwarding", "1")
        .unwrap();
    let routed = echoes_arriving(&bottle, outside, &lab.outside);
    report(&format!(
        "  bypass via the bridge's MAC, echo requests that reached the outside of {ECHOES}: {guarded} with the guards, {flushed} after nft flush ruleset, {routed} once the bridge forwards (control)"
    ));
    assert_eq!(
        guarded, 0,
        "the bottle reached the outside through the host, past the sentry"
    );
    assert_eq!(
        flushed, 0,
        "after nft flush ruleset the bottle reached the outside through the host"
    );
    assert!(
        routed > 0,
        "positive control: through a bridge that forwards, the sink counts the bottle's echo requests"
    );
}

/// The sentry's namespace copied `ip_forward=1` (and IPv6
/// `conf/all/forwarding=1`) as from a host that routes other container
/// networks; netavark makes it the gateway and turns both off. Until the
/// sentry turns them on again nothing a bottle sends is routed: a far
/// namespace behind the sentry (also one of its other links) counts 0 echo
/// requests, IPv4 and IPv6. `ip_forward=1` routes IPv4 only, IPv6 needs
/// `conf/all/forwarding=1`.
#[test]
fn sentry_routes_only_once_it_turns_forwarding_on() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode().dual_stack();
    let sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, false)).unwrap();
    let far = lab.sandbox.netns("far").unwrap();
    for ns in [&sentry.ns, &far] {
        ns.set_sysctl("net/ipv6/conf/default/accept_dad", "0")
            .unwrap();
    }
    link::veth_pair(&sentry.ns, "far0", &far, "eth0").unwrap();
    let far4 = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    let far6: IpAddr = "2001:db8::2".parse().unwrap();
    link::add_address(&sentry.ns, "far0", "192.0.2.1".parse().unwrap(), 24).unwrap();
    link::add_address(&sentry.ns, "far0", "2001:db8::1".parse().unwrap(), 64).unwrap();
    link::add_address(&far, "eth0", far4, 24).unwrap();
    link::add_address(&far, "eth0", far6, 64).unwrap();
    link::add_route(
        &far,
        "10.89.0.0/24".parse().unwrap(),
        "192.0.2.1".parse().unwrap(),
        0,
    )
    .unwrap();
    link::add_route(
        &far,
        "fd89::/64".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        0,
    )
    .unwrap();
    // netavark alone, not Lab::setup: the sentry has not turned forwarding on
    lab.netavark
        .setup(&sentry.ns, &sentry.config)
        .expect("sentry setup");
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    assert!(pings(&bottle.ns, GW4), "bottle reaches the sentry");
    assert!(pings(&bottle.ns, GW6), "bottle reaches the sentry (IPv6)");

    let off = (
        echoes_arriving(&bottle, far4, &far),
        echoes_arriving(&bottle, far6, &far),
    );
    sentry.ns.set_sysctl("net/ipv4/ip_forward", "1").unwrap();
    let v4_on = (
        echoes_arriving(&bottle, far4, &far),
        echoes_arriving(&bottle, far6, &far),
    );
    sentry
        .ns
        .set_sysctl("net/ipv6/conf/all/forwarding", "1")
        .unwrap();
    let both_on = (
        echoes_arriving(&bottle, far4, &far),
        echoes_arriving(&bottle, far6, &far),
    );
    report(&format!(
        "  echo requests (IPv4, IPv6) of {ECHOES} each routed by the sentry: {off:?} before it turns forwarding on, {v4_on:?} after ip_forward=1, {both_on:?} after conf/all/forwarding=1"
    ));
    assert_eq!(
        off,
        (0, 0),
        "the sentry routed before it turned forwarding on"
    );
    assert!(v4_on.0 > 0, "ip_forward=1 turns IPv4 routing on");
    assert_eq!(v4_on.1, 0, "ip_forward=1 also routed IPv6");
    assert!(
        both_on.0 > 0 && both_on.1 > 0,
        "conf/all/forwarding=1 turns IPv6 routing on"
    );
    assert!(
        pings(&bottle.ns, far4) && pings(&bottle.ns, far6),
        "the bottle gets answers from behind the sentry"
    );
}

/// The host's nft tables other than the network's guard table
/// (`netavark_guard_enclave0`) with an object that mentions the enclave
/// subnet.
fn host_firewall_tables_for_enclave(lab: &Lab) -> Vec<String> {
    let ruleset: serde_json::Value =
        serde_json::from_str(&probe::nft_ruleset(&lab.host).unwrap()).unwrap();
    let mut tables: Vec<String> = ruleset["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item.as_object()?.values().next())
        .filter(|object| object.to_string().contains("10.89.0."))
        .filter_map(|object| {
            let table = object["table"].as_str().or(object["name"].as_str())?;
            let family = object["family"].as_str().unwrap_or_default();
            (!table.starts_with("netavark_guard_")).then(|| format!("{family} {table}"))
        })
        .collect();
    tables.dedup();
    tables
}

/// Sentry first on gateway_mode=container, then the bottle: the bridge
/// never holds the gateway, the bottle's status block names the gateway
/// as DNS server, the bottle routes via the sentry and reaches the outside.
/// The host neither forwards nor NATs the enclave subnet (no firewall rule
/// for it), so this holds with br_netfilter on (`bridge-nf-call-iptables=1`,
/// left as it is): no masquerade rule sees the bridged bottle->sentry
/// frames.
#[test]
fn sentry_first_then_bottle_container_mode() {
    let mut lab = patched_lab();
    let brnf_before = lab.host.sysctl("net/bridge/bridge-nf-call-iptables").ok();
    report(&format!(
        "  bridge-nf-call-iptables in the host netns: {}",
        brnf_before
            .as_deref()
            .unwrap_or("n/a (br_netfilter not loaded)")
    ));
    let net = EnclaveNet::container_mode();
    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, true)).unwrap();
    let sst = lab.setup(&mut sentry).expect("sentry setup");
    lab.route_enclave_via_sentry(&net).unwrap();
    assert!(
        lab.bridge_addresses().unwrap().is_empty(),
        "bridge holds the gateway after the sentry's setup"
    );
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    let bst = lab.setup(&mut bottle).expect("bottle setup");
    assert_sentry_alone_holds_gateway(&lab, &sentry, "after the bottle's setup");

    let b = &bst[ENCLAVE];
    assert_eq!(
        b.dns_server_ips.clone().unwrap_or_default(),
        vec![GW4],
        "bottle's status block must name the gateway as DNS server"
    );
    assert!(
        b.dns_search_domains.clone().unwrap_or_default().is_empty(),
        "no search domain on gateway_mode=container"
    );
    assert!(
        sst[ENCLAVE]
            .dns_server_ips
            .clone()
            .unwrap_or_default()
            .is_empty(),
        "the gateway container's status block has no DNS servers"
    );

    assert_eq!(
        default_gateways(&bottle.ns),
        vec![GW4],
        "bottle: default via the gateway"
    );
    assert!(pings(&bottle.ns, GW4), "bottle pings the sentry");
    let n = probe::neighbour(&bottle.ns, GW4)
        .unwrap()
        .expect("neighbour .1");
    assert_eq!(
        n.mac.as_deref(),
        Some(SENTRY_MAC),
        "gateway resolves to the sentry"
    );
    let tables = host_firewall_tables_for_enclave(&lab);
    assert!(
        tables.is_empty(),
        "the host has firewall rules for the enclave subnet in {tables:?}:\n{}",
        probe::nft_ruleset(&lab.host).unwrap()
    );
    assert!(
        lab.reaches_outside_via_sentry(&bottle.ns).unwrap(),
        "bottle reaches the outside via the sentry"
    );
    assert_eq!(
        lab.host.sysctl("net/bridge/bridge-nf-call-iptables").ok(),
        brnf_before,
        "bridge-nf-call-iptables was changed"
    );
}

/// `internal: true` + gateway_mode=container: the bottle still gets
/// `default via <gateway>`.
#[test]
fn internal_container_mode_bottle_gets_default_route() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode().internal();
    let (_sentry, bottle) = sentry_then_bottle(&mut lab, &net);
    assert_eq!(
        default_gateways(&bottle.ns),
        vec![GW4],
        "internal: still default via gateway"
    );
    assert!(lab.bridge_addresses().unwrap().is_empty());
    assert!(pings(&bottle.ns, GW4), "bottle pings the sentry");
}

/// gateway_mode=container with no sentry: the bottle reaches nothing, not
/// the gateway address, not the host, not the outside. Positive control:
/// the same probes succeed once the sentry is there.
#[test]
fn fail_closed_without_sentry() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    let targets = [GW4, IpAddr::V4(HOST_OUTSIDE_IP), IpAddr::V4(OUTSIDE_IP)];
    let tcp = [
        SocketAddr::new(IpAddr::V4(HOST_OUTSIDE_IP), ECHO_PORT),
        SocketAddr::new(IpAddr::V4(OUTSIDE_IP), ECHO_PORT),
    ];
    let probe_all = |label: &str| -> Vec<bool> {
        let mut r = Vec::new();
        for ip in targets {
            let ok = probe::ping(&bottle.ns, ip, 2, Duration::from_millis(300)).unwrap();
            eprintln!("  {label}: ping {ip}: {ok}");
            r.push(ok);
        }
        for sa in tcp {
            let ok = probe::tcp_echo(&bottle.ns, sa, Duration::from_millis(500)).unwrap();
            eprintln!("  {label}: tcp {sa}: {ok}");
            r.push(ok);
        }
        r
    };
    assert!(
        lab.bridge_addresses().unwrap().is_empty(),
        "no gateway on the bridge"
    );
    let before = probe_all("no sentry");
    assert!(
        before.iter().all(|ok| !ok),
        "with no sentry the bottle reached something: {before:?} for {targets:?} + {tcp:?}"
    );

    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, true)).unwrap();
    lab.setup(&mut sentry).expect("sentry setup");
    lab.route_enclave_via_sentry(&net).unwrap();
    let after = probe_all("with sentry");
    assert!(
        after.iter().all(|ok| *ok),
        "positive control: with the sentry every probe must succeed: {after:?}"
    );
}

/// IPv4 + IPv6: both gateway addresses on the sentry, none on the bridge,
/// both default routes on the bottle, a gratuitous ARP and an unsolicited
/// NA from the sentry's MAC observed by the bottle, both gateways answer.
#[test]
fn dual_stack() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode().dual_stack();
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    let capture = probe::Capture::start(&bottle.ns, "eth0").unwrap();
    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, false)).unwrap();
    lab.setup(&mut sentry).expect("sentry setup");
    std::thread::sleep(Duration::from_millis(300));
    let seen = capture.stop();
    for (t, a) in &seen {
        eprintln!("  +{:.1} ms {a}", t.as_secs_f64() * 1e3);
    }
    assert_eq!(
        link_ips(&sentry.ns, "eth0").unwrap(),
        vec![GW4, GW6],
        "sentry holds both"
    );
    assert!(
        lab.bridge_addresses().unwrap().is_empty(),
        "bridge holds neither"
    );
    let mut gws = default_gateways(&bottle.ns);
    gws.sort();
    assert_eq!(gws, vec![GW4, GW6], "bottle: default via both gateways");
    assert!(
        seen.iter().any(
            |(_, a)| matches!(a, probe::Announcement::Arp { sender_mac, sender_ip, .. }
            if sender_mac == SENTRY_MAC && IpAddr::V4(*sender_ip) == GW4)
        ),
        "no ARP announcement of {GW4} from {SENTRY_MAC} seen by the bottle"
    );
    assert!(
        seen.iter().any(
            |(_, a)| matches!(a, probe::Announcement::Na { src_mac, target, .. }
            if src_mac == SENTRY_MAC && IpAddr::V6(*target) == GW6)
        ),
        "no neighbour advertisement of {GW6} from {SENTRY_MAC} seen by the bottle"
    );
    assert!(pings(&bottle.ns, GW4), "ping {GW4}");
    assert!(pings(&bottle.ns, GW6), "ping {GW6}");
    let n6 = probe::neighbour(&bottle.ns, GW6)
        .unwrap()
        .expect("neighbour fd89::1");
    assert_eq!(n6.mac.as_deref(), Some(SENTRY_MAC));
}

/// Three bottles all reach the outside via the sentry.
#[test]
fn three_bottles_reach_outside_via_sentry() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, true)).unwrap();
    lab.setup(&mut sentry).expect("sentry setup");
    lab.route_enclave_via_sentry(&net).unwrap();
    let mut bottles = Vec::new();
    for i in 0..3 {
        let mut b = lab.container(bottle_config(&net, i)).unwrap();
        lab.setup(&mut b).expect("bottle setup");
        bottles.push(b);
    }
    for b in &bottles {
        assert_eq!(
            default_gateways(&b.ns),
            vec![GW4],
            "{}: default via gateway",
            b.name
        );
        assert!(
            lab.reaches_outside_via_sentry(&b.ns).unwrap(),
            "{} reaches the outside",
            b.name
        );
        let n = probe::neighbour(&b.ns, GW4).unwrap().expect("neighbour");
        assert_eq!(
            n.mac.as_deref(),
            Some(SENTRY_MAC),
            "{}: gateway is the sentry",
            b.name
        );
    }
}

/// A sentry with an uplink keeps its uplink default route and gets no
/// default route (nor any route via its own address) from the enclave.
#[test]
fn sentry_keeps_uplink_default_route() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode().dual_stack();
    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, true)).unwrap();
    lab.setup(&mut sentry).expect("sentry setup");
    let defaults = probe::default_routes(&sentry.ns).unwrap();
    for r in &defaults {
        eprintln!("  sentry: {r}");
    }
    assert_eq!(defaults.len(), 1, "exactly one default route: {defaults:?}");
    assert_eq!(defaults[0].gateway, Some(IpAddr::V4(UPLINK_GW)));
    assert_eq!(defaults[0].dev.as_deref(), Some("eth1"));
    let via_self: Vec<_> = probe::routes(&sentry.ns)
        .unwrap()
        .into_iter()
        .filter(|r| r.gateway.is_some_and(|g| net.gateways().contains(&g)))
        .collect();
    assert!(
        via_self.is_empty(),
        "routes via the sentry's own address: {via_self:?}"
    );
    assert!(
        probe::ping(
            &sentry.ns,
            IpAddr::V4(OUTSIDE_IP),
            3,
            Duration::from_millis(300)
        )
        .unwrap(),
        "sentry reaches the outside over its uplink"
    );
}

/// gateway_mode=container: the bridge never gets the gateway, also when
/// the bridge is deleted and recreated, and a stray one is removed.
#[test]
fn container_mode_bridge_never_holds_gateway() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    assert!(lab.bridge_addresses().unwrap().is_empty(), "first setup");
    lab.teardown(&mut bottle).unwrap();
    assert!(
        probe::link(&lab.host, ENCLAVE_BRIDGE).unwrap().is_none(),
        "bridge deleted with its last port"
    );
    lab.setup(&mut bottle).expect("bottle setup again");
    assert!(
        lab.bridge_addresses().unwrap().is_empty(),
        "recreated bridge"
    );

    // a stray gateway address (e.g. left by a stock netavark) is removed
    link::add_address(&lab.host, ENCLAVE_BRIDGE, GW4, 24).unwrap();
    assert_eq!(lab.bridge_addresses().unwrap(), vec![GW4]);
    let mut other = lab.container(bottle_config(&net, 1)).unwrap();
    lab.setup(&mut other).expect("second bottle setup");
    assert!(
        lab.bridge_addresses().unwrap().is_empty(),
        "stray gateway on the bridge was not removed: {:?}",
        lab.bridge_addresses().unwrap()
    );
}
