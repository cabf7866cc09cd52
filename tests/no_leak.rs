//! No-leak tests of the bridge guards of a `gateway_mode=container` network,
//! with the real patched netavark in network namespaces.
//!
//! Every case runs twice: as a bottle with default capabilities (only what
//! the kernel sends for ordinary sockets: ping, TCP, UDP) and as a bottle
//! with raw sockets and CAP_NET_ADMIN (crafted ARP/NA/RA/DHCP frames over
//! AF_PACKET, its own addresses, MACs, routes and neighbour entries).
//!
//! Sinks look where the holes are: AF_PACKET captures in the other
//! containers and on every host veth of the bridge (what the bridge
//! delivers to each port), the host namespace's own stack counters
//! (`nstat` names: IpInReceives, Icmp6InEchos, UdpInDatagrams, ...) and
//! nft counters on its input hooks per device, the routes and addresses a
//! router advertisement gives the host, every change of the bridge's
//! forwarding database, and the traffic of the sentry and the victim going
//! on while the attack runs. "Blocked" means zero at the sink.
//!
//! Every negative probe has a positive control: the same probe after
//! `probe::strip_guards` removed every guard layer (nft tables of any
//! family, port flags, static FDB entries, the deaf host side), or on a
//! network that opts out, which must count more than zero, so a probe that
//! cannot fail does not pass for a guard. br_netfilter is loaded on these
//! machines (case 9): every test prints it.

mod common;

use as_gateway::frames::{self, FuzzClass, Mac, Seen, Station};
use as_gateway::link::{format_mac, parse_mac};
use as_gateway::netns::Netns;
use as_gateway::probe::{
    self, Capture, Captured, Direction, EchoCounts, EchoStream, FdbFindings, FdbSink, FrameSender,
    HostCounters, HostInputCounters, Link,
};
use as_gateway::scenario::*;
use common::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

const GW4: Ipv4Addr = ENCLAVE_GW4;
const GW6: Ipv6Addr = ENCLAVE_GW6;
const GUARD_TABLE: &str = "netavark_guard_enclave0";

/// One guarded enclave: a sentry and two bottles.
struct Enclave {
    lab: Lab,
    net: EnclaveNet,
    sentry: Container,
    bottles: Vec<Container>,
    /// how long each bottle's setup took
    setup_times: Vec<Duration>,
}

impl Enclave {
    fn new(net: EnclaveNet, uplink: bool, bottles: u8) -> Enclave {
        let mut lab = patched_lab();
        report_br_netfilter(&lab.host);
        let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, uplink)).unwrap();
        lab.setup(&mut sentry).expect("sentry setup");
        let mut bs = Vec::new();
        let mut setup_times = Vec::new();
        for i in 0..bottles {
            let mut b = lab.container(bottle_config(&net, i)).unwrap();
            let t = Instant::now();
            lab.setup(&mut b).expect("bottle setup");
            setup_times.push(t.elapsed());
            bs.push(b);
        }
        Enclave {
            lab,
            net,
            sentry,
            bottles: bs,
            setup_times,
        }
    }

    fn mac(&self, c: &Container) -> Mac {
        parse_mac(&link_mac(&c.ns, "eth0").unwrap()).unwrap()
    }

    fn ip4(&self, i: u8) -> Ipv4Addr {
        match self.net.bottle_ips(i)[0] {
            IpAddr::V4(a) => a,
            _ => unreachable!(),
        }
    }

    fn ip6(&self, i: u8) -> Ipv6Addr {
        match self.net.bottle_ips(i)[1] {
            IpAddr::V6(a) => a,
            _ => unreachable!(),
        }
    }

    /// The host side of `c`'s veth: its port of the bridge.
    fn port(&self, c: &Container) -> Link {
        probe::host_port_of(&self.lab.host, ENCLAVE_BRIDGE, &c.ns, "eth0").unwrap()
    }

    /// Bottle number `i` as the fuzzer and the sinks see it.
    fn station(&self, i: u8) -> Station {
        Station {
            mac: self.mac(&self.bottles[i as usize]),
            ip4: Some(self.ip4(i)),
            ip6: self.net.dual_stack.then(|| self.ip6(i)),
        }
    }

    /// The sentry: its MAC and the gateway addresses.
    fn gateway(&self) -> Station {
        Station {
            mac: self.mac(&self.sentry),
            ip4: Some(GW4),
            ip6: self.net.dual_stack.then_some(GW6),
        }
    }

    /// The positive control: the same network with every guard layer
    /// removed, whatever its shape. Prints what was removed.
    fn strip_guards(&self) {
        let done = probe::strip_guards(&self.lab.host, ENCLAVE_BRIDGE).expect("strip guards");
        report(&format!(
            "NO-LEAK control: strip_guards changed {} thing(s): {}",
            done.len(),
            done.join("; ")
        ));
    }

    /// The host's sinks, armed for a run: its stack counters, the input
    /// counters on the bridge and every port, what router advertisements
    /// taught it (forgotten first, so each run starts from none).
    fn host_sink(&self, input: &HostInputCounters) -> HostSink {
        probe::forget_router_advertisements(&self.lab.host).unwrap();
        HostSink {
            counters: HostCounters::read(&self.lab.host).unwrap(),
            input: input.read().unwrap(),
        }
    }

    /// Install the host's input counters on the bridge and its ports (all
    /// containers are set up by now).
    fn host_input_counters(&self) -> HostInputCounters {
        let mut devices = vec![ENCLAVE_BRIDGE.to_string()];
        devices.extend(
            probe::bridge_ports(&self.lab.host, ENCLAVE_BRIDGE)
                .unwrap()
                .into_iter()
                .map(|p| p.name),
        );
        HostInputCounters::install(&self.lab.host, &devices).unwrap()
    }
}

/// The host's sinks at the start of a run.
struct HostSink {
    counters: HostCounters,
    input: BTreeMap<String, u64>,
}

/// What reached the host's stack during a run.
#[derive(Debug, Default)]
struct HostSeen {
    /// in-counters of the host namespace that moved, by how much
    moved: BTreeMap<String, i64>,
    /// packets the host's input hooks took from the bridge or a port
    input: BTreeMap<String, u64>,
    /// routes and addresses router advertisements gave the host
    ra_routes: Vec<String>,
    slaac: Vec<String>,
}

impl HostSeen {
    /// One number for the sink: every increment of an in-counter (octet
    /// counters left out), every packet the input hooks took, every RA
    /// route and SLAAC address.
    fn total(&self) -> i64 {
        self.moved
            .iter()
            .filter(|(n, _)| !n.contains("Octets"))
            .map(|(_, v)| v.abs())
            .sum::<i64>()
            + self.input.values().sum::<u64>() as i64
            + (self.ra_routes.len() + self.slaac.len()) as i64
    }

    fn counter(&self, name: &str) -> i64 {
        self.moved.get(name).copied().unwrap_or(0)
    }
}

impl HostSink {
    fn finish(self, host: &Netns, input: &HostInputCounters) -> HostSeen {
        // the stack's own work (replies, RA processing) settles first
        std::thread::sleep(Duration::from_millis(300));
        let now = HostCounters::read(host).unwrap();
        let input_now = input.read().unwrap();
        HostSeen {
            moved: self.counters.in_moved(&now),
            input: input_now
                .into_iter()
                .filter_map(|(k, v)| {
                    let d = v - self.input.get(&k).copied().unwrap_or(0);
                    (d > 0).then_some((k, d))
                })
                .collect(),
            ra_routes: probe::ra_routes(host).unwrap(),
            slaac: probe::slaac_addresses(host).unwrap(),
        }
    }
}

/// Report the host sink of one run.
fn host_line(case: &str, variant: &str, guarded: &HostSeen, control: &HostSeen) {
    measure(
        case,
        variant,
        "host stack (in-counter increments + input hook packets + RA routes/addresses)",
        guarded.total(),
        control.total(),
    );
    for (what, seen) in [("guarded", guarded), ("control", control)] {
        report(&format!(
            "NO-LEAK {case} [{variant}] host {what}: in-counters moved {:?}; input hooks {:?}; RA routes {:?}; SLAAC {:?}",
            seen.moved, seen.input, seen.ra_routes, seen.slaac
        ));
    }
}

/// Case 9: br_netfilter hands bridged frames to iptables; the guards must
/// hold with it on. Printed for every lab.
fn report_br_netfilter(host: &Netns) {
    let v = host.sysctl("net/bridge/bridge-nf-call-iptables").ok();
    report(&format!(
        "NO-LEAK br_netfilter: bridge-nf-call-iptables in the host netns = {}",
        v.as_deref().unwrap_or("n/a (not loaded)")
    ));
}

/// Frames a sink captured that match `pred`.
fn count(cap: Capture, pred: impl Fn(&Seen) -> bool) -> usize {
    std::thread::sleep(Duration::from_millis(100));
    cap.stop_frames()
        .iter()
        .filter_map(|(_, f)| frames::parse(f))
        .filter(|s| pred(s))
        .count()
}

fn line(case: &str, variant: &str, sink: &str, guarded: usize, control: usize) {
    report(&format!(
        "NO-LEAK {case} [{variant}] sink {sink}: guarded {guarded} packet(s), control without guard {control}"
    ));
}

/// A sink's count, guarded and in the control, in its own unit.
fn measure(
    case: &str,
    variant: &str,
    sink: &str,
    guarded: impl std::fmt::Display,
    control: impl std::fmt::Display,
) {
    report(&format!(
        "NO-LEAK {case} [{variant}] sink {sink}: guarded {guarded}, control without guard {control}"
    ));
}

fn send(ns: &Netns, frames: &[Vec<u8>]) {
    for _ in 0..3 {
        for f in frames {
            probe::send_frame(ns, "eth0", f).expect("send frame");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Case 1, crafted: a bottle claims the gateway addresses with a gratuitous
/// ARP request, an ARP reply and an unsolicited NA. Nobody sees them and
/// the other bottle's neighbour entry stays the sentry's.
#[test]
fn gateway_claim_raw() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let (b0, b1) = (&e.bottles[0], &e.bottles[1]);
    assert!(pings(&b1.ns, IpAddr::V4(GW4)) && pings(&b1.ns, IpAddr::V6(GW6)));
    let m0 = e.mac(b0);
    let m1 = e.mac(b1);
    let claims = vec![
        frames::eth(
            frames::BROADCAST,
            m0,
            frames::ETH_ARP,
            &frames::arp(1, m0, GW4, [0; 6], GW4),
        ),
        frames::eth(
            m1,
            m0,
            frames::ETH_ARP,
            &frames::arp(2, m0, GW4, m1, e.ip4(1)),
        ),
        frames::eth(
            frames::BROADCAST,
            m0,
            frames::ETH_ARP,
            &frames::arp(2, m0, GW4, frames::BROADCAST, GW4),
        ),
        frames::eth(
            frames::ipv6_multicast_mac("ff02::1".parse().unwrap()),
            m0,
            frames::ETH_IPV6,
            &frames::icmp6(GW6, "ff02::1".parse().unwrap(), &frames::na(GW6, m0, false)),
        ),
        frames::eth(
            m1,
            m0,
            frames::ETH_IPV6,
            &frames::icmp6(frames::link_local(m0), e.ip6(1), &frames::na(GW6, m0, true)),
        ),
    ];
    let claim = |s: &Seen| {
        s.src_mac == m0
            && (s.arp.is_some_and(|(_, ip)| ip == GW4)
                || s.icmp6.is_some_and(|(_, t)| t == Some(GW6)))
    };
    let run = || {
        let c1 = Capture::start(&b1.ns, "eth0").unwrap();
        let cs = Capture::start(&e.sentry.ns, "eth0").unwrap();
        send(&b0.ns, &claims);
        (count(c1, claim), count(cs, claim))
    };
    let (g1, gs) = run();
    let n4 = probe::neighbour(&b1.ns, IpAddr::V4(GW4)).unwrap().unwrap();
    let n6 = probe::neighbour(&b1.ns, IpAddr::V6(GW6)).unwrap().unwrap();
    e.strip_guards();
    let (c1, cs) = run();
    line("1 gateway claim", "raw", "bottle1", g1, c1);
    line("1 gateway claim", "raw", "sentry", gs, cs);
    assert_eq!((g1, gs), (0, 0), "a claim of the gateway got through");
    assert!(
        c1 > 0 && cs > 0,
        "control: the claims arrive without the guard"
    );
    assert_eq!(
        n4.mac.as_deref(),
        Some(SENTRY_MAC),
        "bottle1's IPv4 gateway entry"
    );
    assert_eq!(
        n6.mac.as_deref(),
        Some(SENTRY_MAC),
        "bottle1's IPv6 gateway entry"
    );
}

/// Case 1, kernel-made with CAP_NET_ADMIN: a bottle puts the gateway
/// addresses on its interface and makes the kernel announce them
/// (arp_notify, ndisc_notify, a MAC "change"), then answers ARP for them.
#[test]
fn gateway_claim_net_admin() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let (b0, b1) = (&e.bottles[0], &e.bottles[1]);
    let m0 = e.mac(b0);
    let mac0 = link_mac(&b0.ns, "eth0").unwrap();
    let claim = |s: &Seen| {
        s.src_mac == m0
            && (s.arp.is_some_and(|(_, ip)| ip == GW4)
                || s.icmp6.is_some_and(|(_, t)| t == Some(GW6)))
    };
    run_in(
        &b0.ns,
        &["ip", "addr", "add", "10.89.0.1/32", "dev", "eth0"],
    );
    run_in(
        &b0.ns,
        &["ip", "addr", "add", "fd89::1/128", "dev", "eth0", "nodad"],
    );
    run_in(
        &b0.ns,
        &["sysctl", "-qw", "net.ipv4.conf.eth0.arp_notify=1"],
    );
    run_in(
        &b0.ns,
        &["sysctl", "-qw", "net.ipv6.conf.eth0.ndisc_notify=1"],
    );
    let run = || {
        // bottle1 forgets the gateway and asks again: bottle0 answers too
        let _ = try_run_in(&b1.ns, &["ip", "neigh", "flush", "dev", "eth0"]);
        let c1 = Capture::start(&b1.ns, "eth0").unwrap();
        run_in(&b0.ns, &["ip", "link", "set", "eth0", "address", &mac0]);
        let _ = pings(&b1.ns, IpAddr::V4(GW4));
        let _ = pings(&b1.ns, IpAddr::V6(GW6));
        count(c1, claim)
    };
    let guarded = run();
    let n4 = probe::neighbour(&b1.ns, IpAddr::V4(GW4)).unwrap();
    e.strip_guards();
    let control = run();
    line("1 gateway claim", "net_admin", "bottle1", guarded, control);
    assert_eq!(guarded, 0, "a kernel-made claim of the gateway got through");
    assert!(control > 0, "control: the claims arrive without the guard");
    assert_eq!(
        n4.and_then(|n| n.mac).as_deref(),
        Some(SENTRY_MAC),
        "bottle1's gateway entry stays the sentry's"
    );
}

/// A kind of spoofing: its name, the frames, what the sink counts.
type SpoofKind = (&'static str, Vec<Vec<u8>>, Box<dyn Fn(&Seen) -> bool>);

/// Case 2: bottle0 spoofs bottle1's IP, MAC, or both, towards the sentry.
/// Crafted frames (raw) and its own interface changed (net_admin).
#[test]
fn spoofing_another_bottle() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let (b0, b1) = (&e.bottles[0], &e.bottles[1]);
    let (m0, m1) = (e.mac(b0), e.mac(b1));
    let sm: Mac = parse_mac(SENTRY_MAC).unwrap();
    let (ip1, ip0) = (e.ip4(1), e.ip4(0));
    let v4 = |src_mac: Mac, src: Ipv4Addr| {
        frames::eth(
            sm,
            src_mac,
            frames::ETH_IPV4,
            &frames::ipv4(src, GW4, 1, &frames::icmp4_echo(0x5151, 1)),
        )
    };
    let v6 = |src_mac: Mac, src: Ipv6Addr| {
        frames::eth(
            sm,
            src_mac,
            frames::ETH_IPV6,
            &frames::icmp6(src, GW6, &frames::icmp6_echo(0x5151, 1)),
        )
    };
    let kinds: Vec<SpoofKind> = vec![
        (
            "IP",
            vec![v4(m0, ip1), v6(m0, e.ip6(1))],
            Box::new(move |s: &Seen| {
                s.src_mac == m0
                    && (s.ipv4.is_some_and(|(a, _, _)| a == ip1)
                        || s.ipv6.is_some_and(|(a, _)| a == e_ip6(1)))
            }),
        ),
        (
            "MAC",
            vec![v4(m1, ip0), v6(m1, e.ip6(0))],
            Box::new(move |s: &Seen| {
                s.src_mac == m1
                    && (s.ipv4.is_some_and(|(a, _, _)| a == ip0)
                        || s.ipv6.is_some_and(|(a, _)| a == e_ip6(0)))
            }),
        ),
        (
            "IP+MAC",
            vec![v4(m1, ip1), v6(m1, e.ip6(1))],
            Box::new(move |s: &Seen| {
                s.src_mac == m1 && s.icmp4 == Some(8) && s.ipv4.is_some_and(|(a, _, _)| a == ip1)
            }),
        ),
    ];
    let mut guarded = Vec::new();
    for (_, fs, pred) in &kinds {
        let cs = Capture::start(&e.sentry.ns, "eth0").unwrap();
        send(&b0.ns, fs);
        guarded.push(count(cs, pred));
    }

    // net_admin: bottle0 takes bottle1's address, then its MAC too, and
    // pings the sentry from it
    let ip1s = ip1.to_string();
    let net_admin_probe = |b0: &Container| {
        let cs = Capture::start(&e.sentry.ns, "eth0").unwrap();
        let _ = try_run_in(
            &b0.ns,
            &["ping", "-c", "2", "-W", "1", "-I", &ip1s, "10.89.0.1"],
        );
        count(cs, |s| {
            s.ipv4.is_some_and(|(a, _, _)| a == ip1) && s.src_mac != m1
        })
    };
    run_in(
        &b0.ns,
        &["ip", "addr", "add", &format!("{ip1}/32"), "dev", "eth0"],
    );
    let na_ip = net_admin_probe(b0);
    let mac1 = link_mac(&b1.ns, "eth0").unwrap();
    let both_probe = |b0: &Container| {
        run_in(&b0.ns, &["ip", "link", "set", "eth0", "address", &mac1]);
        let cs = Capture::start(&e.sentry.ns, "eth0").unwrap();
        let _ = try_run_in(
            &b0.ns,
            &["ping", "-c", "2", "-W", "1", "-I", &ip1s, "10.89.0.1"],
        );
        let n = count(cs, |s| s.src_mac == m1 && s.icmp4 == Some(8));
        run_in(
            &b0.ns,
            &["ip", "link", "set", "eth0", "address", &frames_mac(m0)],
        );
        n
    };
    let na_both = both_probe(b0);

    e.strip_guards();
    let mut control = Vec::new();
    for (_, fs, pred) in &kinds {
        let cs = Capture::start(&e.sentry.ns, "eth0").unwrap();
        send(&b0.ns, fs);
        control.push(count(cs, pred));
    }
    let na_ip_control = net_admin_probe(b0);
    let na_both_control = both_probe(b0);
    for (i, (name, _, _)) in kinds.iter().enumerate() {
        line(
            &format!("2 spoof {name}"),
            "raw",
            "sentry",
            guarded[i],
            control[i],
        );
    }
    line("2 spoof IP", "net_admin", "sentry", na_ip, na_ip_control);
    line(
        "2 spoof IP+MAC",
        "net_admin",
        "sentry",
        na_both,
        na_both_control,
    );
    assert_eq!(guarded, vec![0, 0, 0], "a spoofed frame reached the sentry");
    assert_eq!(
        (na_ip, na_both),
        (0, 0),
        "a spoofed ping reached the sentry"
    );
    assert!(control.iter().all(|c| *c > 0), "control: {control:?}");
    assert!(
        na_ip_control > 0 && na_both_control > 0,
        "control: spoofed pings without the guard"
    );
}

fn e_ip6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd89, 0, 0, 0, 0, 0, 0, 3 + i)
}

fn frames_mac(m: Mac) -> String {
    as_gateway::link::format_mac(&m)
}

/// Case 3: rogue router advertisement and DHCP / DHCPv6 server replies.
#[test]
fn rogue_ra_and_dhcp() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let (b0, b1) = (&e.bottles[0], &e.bottles[1]);
    let m0 = e.mac(b0);
    let ll0 = frames::link_local(m0);
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let rogue = vec![
        frames::eth(
            frames::ipv6_multicast_mac(all_nodes),
            m0,
            frames::ETH_IPV6,
            &frames::icmp6(ll0, all_nodes, &frames::ra(m0, "fd66::".parse().unwrap())),
        ),
        frames::eth(
            frames::BROADCAST,
            m0,
            frames::ETH_IPV4,
            &frames::udp4(
                e.ip4(0),
                Ipv4Addr::BROADCAST,
                67,
                68,
                &frames::dhcp_offer(e.mac(b1), Ipv4Addr::new(10, 89, 0, 99), e.ip4(0)),
            ),
        ),
    ];
    let is_rogue = |s: &Seen| {
        s.src_mac == m0
            && (s.icmp6.is_some_and(|(t, _)| t == frames::ICMPV6_RA)
                || matches!(s.udp_sport, Some(67) | Some(547)))
    };
    // default caps: a UDP socket on the DHCP server port (NET_BIND_SERVICE
    // is a default capability) sending to the broadcast address
    let ip0 = e.ip4(0);
    let udp_server = || {
        b0.ns
            .run(move || {
                let s = std::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(ip0), 67))?;
                s.set_broadcast(true)?;
                for _ in 0..3 {
                    s.send_to(b"offer", "10.89.0.255:68")?;
                    s.send_to(b"offer", "255.255.255.255:68")?;
                }
                Ok(())
            })
            .unwrap();
    };
    let run = |raw: bool| {
        let c1 = Capture::start(&b1.ns, "eth0").unwrap();
        let cs = Capture::start(&e.sentry.ns, "eth0").unwrap();
        if raw {
            send(&b0.ns, &rogue);
        } else {
            udp_server();
        }
        (count(c1, is_rogue), count(cs, is_rogue))
    };
    let g_raw = run(true);
    let g_def = run(false);
    let routes = probe::default_routes(&b1.ns).unwrap();
    e.strip_guards();
    let c_raw = run(true);
    let c_def = run(false);
    line("3 rogue RA+DHCP", "raw", "bottle1", g_raw.0, c_raw.0);
    line("3 rogue RA+DHCP", "raw", "sentry", g_raw.1, c_raw.1);
    line("3 rogue DHCP", "default", "bottle1", g_def.0, c_def.0);
    line("3 rogue DHCP", "default", "sentry", g_def.1, c_def.1);
    assert_eq!(
        (g_raw, g_def),
        ((0, 0), (0, 0)),
        "a rogue server message arrived"
    );
    assert!(c_raw.0 > 0 && c_raw.1 > 0 && c_def.1 > 0, "control");
    assert!(
        routes.iter().all(|r| r.gateway != Some(IpAddr::V6(ll0))),
        "bottle1 took bottle0 as router: {routes:?}"
    );
}

/// The link-local address of the bridge: the one it has, or the EUI-64
/// one it would have (its IPv6 may be off: the host side is deaf).
fn bridge_link_local(lab: &Lab) -> Ipv6Addr {
    probe::addresses(&lab.host)
        .unwrap()
        .into_iter()
        .filter(|a| a.link == ENCLAVE_BRIDGE)
        .find_map(|a| match a.addr {
            IpAddr::V6(v6) if v6.segments()[0] == 0xfe80 => Some(v6),
            _ => None,
        })
        .unwrap_or_else(|| {
            frames::link_local(parse_mac(&link_mac(&lab.host, ENCLAVE_BRIDGE).unwrap()).unwrap())
        })
}

/// Case 4 and 7: the host, by any address, from a bottle: its addresses,
/// the bridge's link-local, its listener on 0.0.0.0, and 169.254.169.254,
/// also with routes and neighbour entries the bottle adds itself. The
/// sinks are the host's own stack (its in-counters and its input hooks on
/// the bridge and every port), not a capture on the bridge device: frames
/// a port passes up its own stack never show there.
#[test]
fn host_unreachable() {
    // no uplink: the sentry cannot route to the host, only a direct path
    // over the bridge could reach it
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 1);
    let b0 = &e.bottles[0];
    run_in(
        &e.lab.host,
        &["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"],
    );
    let host_ll = bridge_link_local(&e.lab);
    let bridge_mac = link_mac(&e.lab.host, ENCLAVE_BRIDGE).unwrap();
    let targets = ["203.0.113.1", "169.254.169.254"];
    let input = e.host_input_counters();
    quiet_host(&e.lab);

    let default_probe = || {
        let sink = e.host_sink(&input);
        let mut ok = 0;
        let ll = format!("{host_ll}%eth0");
        for t in targets {
            ok += try_run_in(&b0.ns, &["ping", "-c", "1", "-W", "1", t]) as usize;
        }
        ok += try_run_in(&b0.ns, &["ping", "-c", "1", "-W", "1", &ll]) as usize;
        // all nodes: the sentry answers too, only the host sink counts
        let _ = try_run_in(&b0.ns, &["ping", "-c", "2", "-W", "1", "ff02::1%eth0"]);
        let tcp = probe::tcp_echo(
            &b0.ns,
            SocketAddr::new(IpAddr::V4(HOST_OUTSIDE_IP), ECHO_PORT),
            Duration::from_millis(500),
        )
        .unwrap();
        (sink.finish(&e.lab.host, &input), ok + tcp as usize)
    };
    let net_admin_probe = || {
        for t in targets {
            let _ = try_run_in(
                &b0.ns,
                &["ip", "route", "replace", &format!("{t}/32"), "dev", "eth0"],
            );
        }
        let sink = e.host_sink(&input);
        let mut ok = 0;
        for t in targets {
            ok += try_run_in(&b0.ns, &["ping", "-c", "1", "-W", "1", t]) as usize;
        }
        // a static neighbour entry: straight to the bridge's MAC
        let _ = try_run_in(
            &b0.ns,
            &[
                "ip",
                "neigh",
                "replace",
                "203.0.113.1",
                "lladdr",
                &bridge_mac,
                "dev",
                "eth0",
            ],
        );
        ok += try_run_in(&b0.ns, &["ping", "-c", "1", "-W", "1", "203.0.113.1"]) as usize;
        let tcp = probe::tcp_echo(
            &b0.ns,
            SocketAddr::new(IpAddr::V4(HOST_OUTSIDE_IP), ECHO_PORT),
            Duration::from_millis(500),
        )
        .unwrap();
        (sink.finish(&e.lab.host, &input), ok + tcp as usize)
    };
    let g_def = default_probe();
    let g_adm = net_admin_probe();
    e.strip_guards();
    // the host needs a way back for the control's replies
    run_in(
        &e.lab.host,
        &["ip", "route", "add", "10.89.0.0/24", "dev", ENCLAVE_BRIDGE],
    );
    run_in(
        &e.lab.host,
        &[
            "ip",
            "-6",
            "route",
            "add",
            "fd89::/64",
            "dev",
            ENCLAVE_BRIDGE,
        ],
    );
    let c_adm = net_admin_probe();
    let _ = try_run_in(
        &b0.ns,
        &["ip", "route", "flush", "dev", "eth0", "scope", "link"],
    );
    let c_def = default_probe();
    host_line("4 host", "default", &g_def.0, &c_def.0);
    host_line(
        "4+7 host, own routes+neigh",
        "net_admin",
        &g_adm.0,
        &c_adm.0,
    );
    report(&format!(
        "NO-LEAK 4 host probes answered: default guarded {} control {}, net_admin guarded {} control {}",
        g_def.1, c_def.1, g_adm.1, c_adm.1
    ));
    assert_eq!(
        (g_def.0.total(), g_def.1, g_adm.0.total(), g_adm.1),
        (0, 0, 0, 0),
        "the host was reached"
    );
    assert!(
        c_def.0.total() > 0 && c_adm.0.total() > 0 && c_adm.1 > 0,
        "control: the host is reached without the guard"
    );
}

/// Case 5: bottle to bottle is blocked by default, in both variants, and
/// allowed with client_isolation=false (bottle_isolation=false before the
/// rename; the control).
#[test]
fn lateral_bottle_to_bottle() {
    let option = isolation_option(&patched_lab());
    let run = |isolated: bool| {
        let mut net = EnclaveNet::container_mode().dual_stack();
        if !isolated {
            net = net.with_option(option, "false");
        }
        let e = Enclave::new(net, false, 2);
        let (b0, b1) = (&e.bottles[0], &e.bottles[1]);
        let (m0, m1) = (e.mac(b0), e.mac(b1));
        let from_b0 = |s: &Seen| s.src_mac == m0;
        let cap = Capture::start(&b1.ns, "eth0").unwrap();
        let pinged = pings(&b0.ns, IpAddr::V4(e.ip4(1))) as usize
            + pings(&b0.ns, IpAddr::V6(e.ip6(1))) as usize;
        let def = count(cap, from_b0);
        let cap = Capture::start(&b1.ns, "eth0").unwrap();
        send(
            &b0.ns,
            &[frames::eth(
                m1,
                m0,
                frames::ETH_IPV4,
                &frames::ipv4(e.ip4(0), e.ip4(1), 1, &frames::icmp4_echo(0x5252, 1)),
            )],
        );
        let raw = count(cap, from_b0);
        // the sentry still reaches both
        assert!(
            pings(&e.sentry.ns, IpAddr::V4(e.ip4(1))),
            "sentry reaches bottle1"
        );
        (def, raw, pinged)
    };
    let isolated = run(true);
    let open = run(false);
    line("5 lateral", "default", "bottle1", isolated.0, open.0);
    line("5 lateral", "raw", "bottle1", isolated.1, open.1);
    report(&format!(
        "NO-LEAK 5 lateral pings answered: isolated {} {option}=false {}",
        isolated.2, open.2
    ));
    assert_eq!(isolated, (0, 0, 0), "bottle reached another bottle");
    assert!(
        open.0 > 0 && open.1 > 0 && open.2 == 2,
        "{option}=false: {open:?}"
    );
}

/// Case 6: IPv6 on an IPv4-only network: no IPv6 frame from a bottle
/// reaches anyone (link-local ping, crafted NA and RA).
#[test]
fn ipv6_on_ipv4_only_network() {
    let e = Enclave::new(EnclaveNet::container_mode(), false, 2);
    let (b0, b1) = (&e.bottles[0], &e.bottles[1]);
    let m0 = e.mac(b0);
    let ll0 = frames::link_local(m0);
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let crafted = vec![
        frames::eth(
            frames::ipv6_multicast_mac(all_nodes),
            m0,
            frames::ETH_IPV6,
            &frames::icmp6(ll0, all_nodes, &frames::na(ll0, m0, false)),
        ),
        frames::eth(
            frames::ipv6_multicast_mac(all_nodes),
            m0,
            frames::ETH_IPV6,
            &frames::icmp6(ll0, all_nodes, &frames::ra(m0, "fd66::".parse().unwrap())),
        ),
    ];
    let v6 = |s: &Seen| s.src_mac == m0 && s.ethertype == frames::ETH_IPV6;
    let run = |raw: bool| {
        let c1 = Capture::start(&b1.ns, "eth0").unwrap();
        let cs = Capture::start(&e.sentry.ns, "eth0").unwrap();
        if raw {
            send(&b0.ns, &crafted);
        } else {
            let _ = try_run_in(&b0.ns, &["ping", "-c", "2", "-W", "1", "ff02::1%eth0"]);
        }
        count(c1, v6) + count(cs, v6)
    };
    let (g_def, g_raw) = (run(false), run(true));
    e.strip_guards();
    let (c_def, c_raw) = (run(false), run(true));
    line(
        "6 IPv6 on IPv4-only",
        "default",
        "bottle1+sentry",
        g_def,
        c_def,
    );
    line("6 IPv6 on IPv4-only", "raw", "bottle1+sentry", g_raw, c_raw);
    assert_eq!((g_def, g_raw), (0, 0), "IPv6 frames left the bottle");
    assert!(c_def > 0 && c_raw > 0, "control");
}

/// Case 8: no sentry, then 50 kill -9 like sentry restarts (its interfaces
/// vanish, then netavark teardown and setup) under continuous probing.
/// The outside sink counts the bottle's echo requests by sequence number:
/// none sent while the sentry is down may arrive, and traffic resumes after
/// every cycle. In the raw variant the bottle also claims the gateway with
/// gratuitous ARP while the sentry is down. The positive control is the
/// traffic the same sink sees through the running sentry.
#[test]
fn sentry_absent_and_restart_loop() {
    for raw in [false, true] {
        sentry_loop(raw, 50);
    }
}

fn sentry_loop(raw: bool, cycles: usize) {
    let variant = if raw { "raw" } else { "default" };
    let net = EnclaveNet::container_mode();
    let mut lab = patched_lab();
    report_br_netfilter(&lab.host);
    let mut bottle = lab.container(bottle_config(&net, 0)).unwrap();
    lab.setup(&mut bottle).expect("bottle setup");
    let m0 = parse_mac(&link_mac(&bottle.ns, "eth0").unwrap()).unwrap();
    let sink = Capture::start(&lab.outside, "eth0").unwrap();
    let claim = frames::eth(
        frames::BROADCAST,
        m0,
        frames::ETH_ARP,
        &frames::arp(1, m0, GW4, [0; 6], GW4),
    );
    let mut pinger = probe::Pinger::new(&bottle.ns, IpAddr::V4(OUTSIDE_IP)).unwrap();
    // echo requests sent while no sentry runs
    let mut sent_down = std::collections::HashSet::new();
    let mut probe_down = |pinger: &mut probe::Pinger, n: usize| {
        for _ in 0..n {
            if raw {
                probe::send_frame(&bottle.ns, "eth0", &claim).unwrap();
            }
            let _ = pinger.echo(Duration::from_millis(10));
            sent_down.insert(pinger.id_seq());
        }
    };

    // no sentry at all yet
    probe_down(&mut pinger, 20);

    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, true)).unwrap();
    let mut resumed = Vec::new();
    let mut answered_up = 0usize;
    for cycle in 0..cycles {
        lab.setup(&mut sentry).expect("sentry setup");
        // the uplink bridge went with the sentry's last port, and the
        // host's route back to the enclave with it
        run_in(
            &lab.host,
            &[
                "ip",
                "route",
                "replace",
                "10.89.0.0/24",
                "via",
                "10.90.0.2",
                "metric",
                "1024",
            ],
        );
        let up_at = Instant::now();
        let back = probe::time_until(Duration::from_secs(3), Duration::from_millis(5), || {
            pinger.echo(Duration::from_millis(5))
        })
        .unwrap();
        assert!(
            back.is_some(),
            "{variant} cycle {cycle}: traffic did not resume"
        );
        resumed.push(up_at.elapsed());
        for _ in 0..5 {
            answered_up += pinger.echo(Duration::from_millis(20)).unwrap() as usize;
        }
        // kill -9: the container's netns goes, its veths with it
        as_gateway::link::delete_link(&sentry.ns, "eth0").unwrap();
        as_gateway::link::delete_link(&sentry.ns, "eth1").unwrap();
        probe_down(&mut pinger, 5);
        // then the runtime cleans up
        let _ = lab.netavark.teardown_raw(&sentry.ns, &sentry.config);
        probe_down(&mut pinger, 3);
    }
    std::thread::sleep(Duration::from_millis(100));
    let arrived: Vec<(u16, u16)> = sink
        .stop_frames()
        .iter()
        .filter_map(|(_, f)| frames::parse(f))
        .filter(|s| s.icmp4 == Some(8))
        .filter_map(|s| s.echo4)
        .filter(|(id, _)| *id == pinger.id_seq().0)
        .collect();
    let leaked = arrived.iter().filter(|k| sent_down.contains(k)).count();
    resumed.sort();
    report(&format!(
        "NO-LEAK 8 sentry loop [{variant}] {cycles} cycles: outside sink got {} echo request(s) from the bottle; of the {} sent while no sentry ran: {} arrived; {} answered while up; resume after setup median {:.1} ms max {:.1} ms",
        arrived.len(),
        sent_down.len(),
        leaked,
        answered_up,
        resumed[resumed.len() / 2].as_secs_f64() * 1e3,
        resumed[resumed.len() - 1].as_secs_f64() * 1e3,
    ));
    assert_eq!(
        leaked, 0,
        "{variant}: packets reached the outside without a running sentry"
    );
    assert!(
        arrived.len() >= cycles,
        "{variant}: the sink saw the traffic through the sentry"
    );
}

/// nft size with 1 and 50 bottles: the base chains do not grow, each bottle
/// adds one chain of the same size (and the same number of set or map
/// elements, if the guards use any). The guard table is the bridge-family
/// one or the netdev-family one, whichever the binary makes.
#[test]
fn nft_size_with_1_and_50_bottles() {
    let e1 = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 1);
    let s1 = guard_size(&e1.lab.host, &e1.port(&e1.bottles[0]));
    drop(e1);
    let e50 = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 50);
    let s50 = guard_size(&e50.lab.host, &e50.port(&e50.bottles[0]));
    // the 50th bottle still reaches the sentry
    assert!(pings(&e50.bottles[49].ns, IpAddr::V4(GW4)));
    report(&format!("NO-LEAK nft size 1 bottle: {s1:?}"));
    report(&format!("NO-LEAK nft size 50 bottles: {s50:?}"));
    let t = &e50.setup_times;
    report(&format!(
        "NO-LEAK bottle setup time: 1st {:.1} ms, 10th {:.1} ms, 50th {:.1} ms",
        t[0].as_secs_f64() * 1e3,
        t[9].as_secs_f64() * 1e3,
        t[49].as_secs_f64() * 1e3
    ));
    assert_eq!(s1.family, s50.family);
    assert!(s1.bottle_chain_rules > 0, "bottle 0 has its own chain");
    assert_eq!(
        s1.base_rules, s50.base_rules,
        "base chains grew with the bottles"
    );
    assert_eq!(
        s50.port_rules - s1.port_rules,
        49 * s1.bottle_chain_rules,
        "per-bottle rules"
    );
    assert_eq!(
        (s50.elements - s1.elements) % 49,
        0,
        "set and map elements per bottle"
    );
}

#[derive(Debug, PartialEq)]
struct GuardSize {
    /// the family of the guard table: bridge or netdev
    family: &'static str,
    /// rules outside the per-port chains (what every frame walks through,
    /// or the bridge device's chain)
    base_rules: usize,
    /// rules in the per-port chains, a frame walks only its port's
    port_rules: usize,
    /// rules in the chain of one bottle's port
    bottle_chain_rules: usize,
    elements: usize,
}

/// The size of the guard table; `bottle` is one bottle's port, whose chain
/// is `port_<name>` (bridge family) or `port_<ifindex>` (netdev family).
fn guard_size(host: &Netns, bottle: &Link) -> GuardSize {
    let (family, out) = ["netdev", "bridge"]
        .into_iter()
        .find_map(|f| {
            host.output(&["nft", "-j", "list", "table", f, GUARD_TABLE])
                .ok()
                .map(|o| (f, o))
        })
        .expect("a guard table");
    // a client port's chains: its ingress chain, and (netdev) the chain its
    // IPv6 first fragments go through
    let bottle_chains = [
        format!("port_{}", bottle.name),
        format!("port_{}", bottle.index),
        format!("fragment_{}", bottle.index),
    ];
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut size = GuardSize {
        family,
        base_rules: 0,
        port_rules: 0,
        bottle_chain_rules: 0,
        elements: 0,
    };
    for o in v["nftables"].as_array().unwrap() {
        if let Some(r) = o.get("rule") {
            let chain = r["chain"].as_str().unwrap();
            if chain.starts_with("port_") || chain.starts_with("fragment_") {
                size.port_rules += 1;
            } else {
                size.base_rules += 1;
            }
            if bottle_chains.iter().any(|c| c == chain) {
                size.bottle_chain_rules += 1;
            }
        }
        for kind in ["set", "map"] {
            if let Some(s) = o.get(kind) {
                size.elements += s["elem"].as_array().map(|a| a.len()).unwrap_or(0);
            }
        }
    }
    size
}

// ------------------------------------------- link-local group addresses

/// The guards' drop counters per reason, summed over their chains (the
/// netdev table's rule comments); empty when the guards have none.
fn drops_by_reason(host: &Netns) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for ((_, reason), n) in probe::guard_drop_counters(host, ENCLAVE_BRIDGE).unwrap() {
        *m.entry(reason).or_default() += n;
    }
    m
}

/// The reasons whose drop counters moved from `before` to `after`.
fn drops_moved(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(r, n)| {
            let d = n - before.get(r).copied().unwrap_or(0);
            (d > 0).then(|| (r.clone(), d))
        })
        .collect()
}

/// What one run of S1's attack showed: a bottle sends LLDP frames with
/// a forged source while a stream crosses the bridge.
#[derive(Debug, Default)]
struct HijackRun {
    sent: usize,
    fdb: FdbFindings,
    stream: EchoCounts,
    /// frames the attacker received that belong to the stream
    intercepted: usize,
    /// the guards' drop counters that moved, per reason
    drops: BTreeMap<String, u64>,
    /// the guards count drops per reason (a netdev table exists)
    counted: bool,
}

/// S1: `attacker` sends frames to the LLDP group `01:80:c2:00:00:0e`,
/// EtherType 0x88cc, 46 octets of padding, Ethernet source `forged`,
/// every 20 ms for 2 s, while `from` pings `to` every 20 ms. `stream`
/// tells the stream's frames from others.
fn lldp_hijack_run(
    e: &Enclave,
    attacker: &Container,
    forged: Mac,
    from: &Netns,
    to: IpAddr,
    stream: impl Fn(&Seen) -> bool,
) -> HijackRun {
    let host = &e.lab.host;
    let port = e.port(attacker);
    // what an earlier run left on the attacker's port goes; the stream's
    // path is known again before the attack
    probe::flush_learned(host, &port.name).unwrap();
    assert!(
        pings(from, to),
        "{} reaches {to} before the attack",
        from.name()
    );
    let fdb = FdbSink::start(host, ENCLAVE_BRIDGE, &port, &[format_mac(&e.mac(attacker))]).unwrap();
    let cap = Capture::start_direction(&attacker.ns, "eth0", Direction::Ingress).unwrap();
    let drops_before = drops_by_reason(host);
    let echo = EchoStream::start(from, to, Duration::from_millis(20)).unwrap();
    let frame = frames::eth(frames::LLDP_GROUP, forged, frames::ETH_LLDP, &[0u8; 46]);
    let sender = FrameSender::open(&attacker.ns, "eth0").unwrap();
    let mut sent = 0;
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < Duration::from_secs(2) {
        sender.send(&frame).expect("send the LLDP frame");
        sent += 1;
        next += Duration::from_millis(20);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let stream_counts = echo.stop();
    let intercepted = cap
        .finish()
        .frames
        .iter()
        .filter_map(|c| frames::parse(&c.data))
        .filter(|s| stream(s))
        .count();
    HijackRun {
        sent,
        fdb: fdb.finish().unwrap(),
        stream: stream_counts,
        intercepted,
        drops: drops_moved(&drops_before, &drops_by_reason(host)),
        counted: !drops_before.is_empty(),
    }
}

/// Report and judge a hijack: guarded every sink 0, control more than 0.
fn judge_hijack(case: &str, victim: &str, g: &HijackRun, c: &HijackRun) {
    let v = "raw";
    report(&format!(
        "NO-LEAK {case} [{v}] sent {} LLDP frame(s) per run",
        g.sent
    ));
    measure(
        case,
        v,
        &format!("fdb: {victim}'s MAC on the attacker's port"),
        format!(
            "{} move(s) ({} announcement(s)) {:?}",
            g.fdb.moved.len(),
            g.fdb.moved_events,
            g.fdb.moved
        ),
        format!(
            "{} move(s) ({} announcement(s))",
            c.fdb.moved.len(),
            c.fdb.moved_events
        ),
    );
    measure(
        case,
        v,
        "stream: echo replies lost",
        format!("{} of {}", g.stream.lost(), g.stream.sent),
        format!("{} of {}", c.stream.lost(), c.stream.sent),
    );
    line(
        case,
        v,
        "attacker captured the stream's frames",
        g.intercepted,
        c.intercepted,
    );
    if g.counted {
        report(&format!(
            "NO-LEAK {case} [{v}] guard drops by reason: {:?}",
            g.drops
        ));
        assert!(
            g.drops.values().sum::<u64>() >= g.sent as u64,
            "{case}: the guards' counters show the dropped frames: {:?}",
            g.drops
        );
    }
    assert_eq!(
        (g.fdb.moved.len(), g.stream.lost(), g.intercepted),
        (0, 0, 0),
        "{case}: the forged LLDP frames moved {victim}'s MAC (fdb moves, echo lost, frames intercepted)"
    );
    assert!(
        !c.fdb.moved.is_empty() && c.stream.lost() > 0 && c.intercepted > 0,
        "control: the same frames move {victim}'s MAC without the guards: {c:?}"
    );
}

/// S1, first half: frames to the LLDP group address with bottle0's MAC as
/// source, from bottle1. The bridge handles them before any bridge-family
/// hook and learns their source: bottle0's MAC moves to bottle1's port,
/// and the sentry's traffic to bottle0 goes to bottle1.
#[test]
fn link_local_group_frames_move_a_bottles_mac() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let (victim, attacker) = (&e.bottles[0], &e.bottles[1]);
    let vmac = e.mac(victim);
    let vip: Vec<IpAddr> = e.net.bottle_ips(0);
    let to_victim = |s: &Seen| s.addressed_to(vmac, &vip);
    let run = || {
        lldp_hijack_run(
            &e,
            attacker,
            vmac,
            &e.sentry.ns,
            IpAddr::V4(e.ip4(0)),
            to_victim,
        )
    };
    let g = run();
    e.strip_guards();
    let c = run();
    judge_hijack(
        "S1 link-local group, bottle0's MAC forged",
        "bottle0",
        &g,
        &c,
    );
}

/// S1, second half: the same with the sentry's MAC as source. The
/// gateway's MAC moves to bottle1's port; bottle0's traffic to the
/// gateway goes there.
#[test]
fn link_local_group_frames_move_the_gateways_mac() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let (victim, attacker) = (&e.bottles[0], &e.bottles[1]);
    let smac = e.mac(&e.sentry);
    let gws = e.net.gateways();
    let to_gateway = |s: &Seen| s.addressed_to(smac, &gws);
    let run = || lldp_hijack_run(&e, attacker, smac, &victim.ns, IpAddr::V4(GW4), to_gateway);
    let g = run();
    e.strip_guards();
    let c = run();
    judge_hijack(
        "S1 link-local group, the gateway's MAC forged",
        "the sentry",
        &g,
        &c,
    );
}

/// S1, the host: frames to the LLDP group address go up the host veth's
/// own stack. An ICMPv6 echo request to the host veth's link-local, a
/// router advertisement, UDP to the host's IPv4 address and to the host
/// veth's link-local, 5 of each; the sinks are the host namespace's own
/// counters (each kind's own counter named), its input hooks, and the
/// routes and addresses a router advertisement gives it.
#[test]
fn link_local_group_frames_reach_the_host_stack() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let attacker = &e.bottles[1];
    let m = e.mac(attacker);
    let own_ll = frames::link_local(m);
    let port = e.port(attacker);
    // the address the host veth has (or would have, with IPv6 on)
    let port_ll = frames::link_local(parse_mac(port.mac.as_deref().unwrap()).unwrap());
    let rogue_router: Ipv6Addr = "fe80::bad".parse().unwrap();
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let lldp = frames::LLDP_GROUP;
    let kinds: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "ICMPv6 echo to the host veth's link-local",
            "Icmp6InEchos",
            frames::eth(
                lldp,
                m,
                frames::ETH_IPV6,
                &frames::icmp6(own_ll, port_ll, &frames::icmp6_echo(0x5353, 1)),
            ),
        ),
        (
            "router advertisement to all nodes",
            "Icmp6InRouterAdvertisements",
            frames::eth(
                lldp,
                m,
                frames::ETH_IPV6,
                &frames::icmp6(
                    rogue_router,
                    all_nodes,
                    &frames::ra_high(m, "fd66:bad::".parse().unwrap()),
                ),
            ),
        ),
        (
            "UDP to the host's IPv4 address",
            "IpInReceives",
            frames::eth(
                lldp,
                m,
                frames::ETH_IPV4,
                &frames::udp4(e.ip4(1), HOST_OUTSIDE_IP, 40000, 9, b"as-gateway-noleak"),
            ),
        ),
        (
            "UDP to the host veth's link-local",
            "Udp6NoPorts",
            frames::eth(
                lldp,
                m,
                frames::ETH_IPV6,
                &frames::ipv6_packet(
                    own_ll,
                    port_ll,
                    64,
                    &[],
                    frames::IPPROTO_UDP,
                    &frames::udp_segment(
                        IpAddr::V6(own_ll),
                        IpAddr::V6(port_ll),
                        40000,
                        9,
                        b"as-gateway-noleak",
                    ),
                ),
            ),
        ),
    ];
    let input = e.host_input_counters();
    quiet_host(&e.lab);
    report(&format!(
        "NO-LEAK S1 host: rp_filter all={} {}={}; IPv6 forwarding all={} {}={}; accept_ra {}={}",
        e.lab.host.sysctl("net/ipv4/conf/all/rp_filter").unwrap(),
        port.name,
        e.lab
            .host
            .sysctl(&format!("net/ipv4/conf/{}/rp_filter", port.name))
            .unwrap(),
        e.lab.host.sysctl("net/ipv6/conf/all/forwarding").unwrap(),
        port.name,
        e.lab
            .host
            .sysctl(&format!("net/ipv6/conf/{}/forwarding", port.name))
            .unwrap_or_default(),
        port.name,
        e.lab
            .host
            .sysctl(&format!("net/ipv6/conf/{}/accept_ra", port.name))
            .unwrap_or_default(),
    ));
    let sender = FrameSender::open(&attacker.ns, "eth0").unwrap();
    let run = |frame: &[u8]| {
        let sink = e.host_sink(&input);
        for _ in 0..5 {
            sender.send(frame).expect("send");
            std::thread::sleep(Duration::from_millis(20));
        }
        sink.finish(&e.lab.host, &input)
    };
    let mut drops = Vec::new();
    let guarded: Vec<HostSeen> = kinds
        .iter()
        .map(|(_, _, f)| {
            let before = drops_by_reason(&e.lab.host);
            let seen = run(f);
            drops.push(
                (!before.is_empty()).then(|| drops_moved(&before, &drops_by_reason(&e.lab.host))),
            );
            seen
        })
        .collect();
    e.strip_guards();
    let control: Vec<HostSeen> = kinds.iter().map(|(_, _, f)| run(f)).collect();
    let mut failed = Vec::new();
    for ((((what, counter, _), g), c), d) in kinds.iter().zip(&guarded).zip(&control).zip(&drops) {
        let case = format!("S1 link-local group to the host: {what}");
        if let Some(d) = d {
            report(&format!(
                "NO-LEAK {case} [raw] guard drops by reason: {d:?}"
            ));
            if d.get("link-local-group").copied().unwrap_or(0) < 5 {
                failed.push(format!(
                    "guarded: {what} did not move the link-local-group drop counter by 5: {d:?}"
                ));
            }
        }
        measure(
            &case,
            "raw",
            &format!("host {counter}"),
            format!("+{} of 5", g.counter(counter)),
            format!("+{} of 5", c.counter(counter)),
        );
        host_line(&case, "raw", g, c);
        if g.total() != 0 {
            failed.push(format!(
                "guarded: {what} reached the host ({counter} +{})",
                g.counter(counter)
            ));
        }
        if c.counter(counter) <= 0 {
            failed.push(format!("control: {what} did not move {counter}"));
        }
    }
    let ra = &control[1];
    measure(
        "S1 link-local group to the host: router advertisement",
        "raw",
        "host RA routes + SLAAC addresses",
        guarded[1].ra_routes.len() + guarded[1].slaac.len(),
        ra.ra_routes.len() + ra.slaac.len(),
    );
    if ra.ra_routes.is_empty() {
        failed.push("control: the rogue router advertisement gave the host no route".into());
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

// -------------------------------------------------------------- fuzzing

/// The fuzzer's seed: every run sends the same frames.
const FUZZ_SEED: u64 = 0xa5a5_2026_1129;
const FUZZ_FRAMES: usize = 100_000;

/// What one fuzz run showed at each sink.
#[derive(Debug, Default)]
struct FuzzRun {
    sent: usize,
    failed: usize,
    first_error: Option<String>,
    elapsed: Duration,
    /// frames the attacker's host veth received (its rx counter)
    port_rx: u64,
    host: HostSeen,
    /// indices of attack frames the bridge delivered to the sentry's port
    sentry_port: Vec<u32>,
    /// indices of fuzzed frames (any class) delivered to bottle0's port,
    /// except those the sentry routed there
    victim_port: Vec<u32>,
    /// fuzzed frames the sentry routed to bottle0 (its policy, not counted)
    routed_to_victim: usize,
    /// indices of attack frames the bridge handed up to its own device
    bridge: Vec<u32>,
    fdb: FdbFindings,
    sentry_to_victim: [EchoCounts; 2],
    victim_to_gateway: [EchoCounts; 2],
    /// frames the attacker received that belong to bottle0 (from or to
    /// its MAC, or to its addresses)
    intercepted: usize,
    /// frames the captures missed (full socket buffer)
    capture_drops: u32,
}

/// Whether a captured fuzzed frame was routed by the gateway: the
/// gateway's MAC as source and one hop less than the fuzzer sent. A frame
/// the bridge forwarded keeps its hop limit, a forged gateway MAC too.
fn routed_by(gateway: Mac, captured: &[u8], sent: &[u8]) -> bool {
    match (frames::parse(captured), frames::parse(sent)) {
        (Some(c), Some(s)) => {
            c.src_mac == gateway && c.hop_limit.zip(s.hop_limit).is_some_and(|(c, s)| c < s)
        }
        _ => false,
    }
}

/// The fuzzed frames (by their tag) whose class `keep` accepts.
fn tagged(frames: &[Captured], keep: impl Fn(FuzzClass) -> bool) -> Vec<u32> {
    frames
        .iter()
        .filter_map(|c| frames::find_fuzz_tag(&c.data))
        .filter(|(class, _)| keep(*class))
        .map(|(_, i)| i)
        .collect()
}

fn fuzz_run(e: &Enclave, fuzz: &[frames::FuzzFrame], input: &HostInputCounters) -> FuzzRun {
    let host = &e.lab.host;
    let (victim, attacker) = (&e.bottles[0], &e.bottles[1]);
    let (aport, sport, vport) = (e.port(attacker), e.port(&e.sentry), e.port(victim));
    probe::flush_learned(host, &aport.name).unwrap();
    // both paths known before the attack
    for (from, to) in [
        (&e.sentry.ns, IpAddr::V4(e.ip4(0))),
        (&e.sentry.ns, IpAddr::V6(e.ip6(0))),
        (&victim.ns, IpAddr::V4(GW4)),
        (&victim.ns, IpAddr::V6(GW6)),
    ] {
        assert!(
            pings(from, to),
            "{} reaches {to} before the fuzzing",
            from.name()
        );
    }
    let sink = e.host_sink(input);
    let fdb = FdbSink::start(
        host,
        ENCLAVE_BRIDGE,
        &aport,
        &[format_mac(&e.mac(attacker))],
    )
    .unwrap();
    let cap_sentry = Capture::start_direction(host, &sport.name, Direction::Egress).unwrap();
    let cap_victim = Capture::start_direction(host, &vport.name, Direction::Egress).unwrap();
    let cap_bridge = Capture::start_direction(host, ENCLAVE_BRIDGE, Direction::Ingress).unwrap();
    let cap_attacker = Capture::start_direction(&attacker.ns, "eth0", Direction::Ingress).unwrap();
    let every = Duration::from_millis(10);
    let streams = [
        EchoStream::start(&e.sentry.ns, IpAddr::V4(e.ip4(0)), every).unwrap(),
        EchoStream::start(&e.sentry.ns, IpAddr::V6(e.ip6(0)), every).unwrap(),
        EchoStream::start(&victim.ns, IpAddr::V4(GW4), every).unwrap(),
        EchoStream::start(&victim.ns, IpAddr::V6(GW6), every).unwrap(),
    ];
    let rx_before = probe::link_stats(host, &aport.name).unwrap().rx_packets;
    std::thread::sleep(Duration::from_millis(200));
    let sender = FrameSender::open(&attacker.ns, "eth0").unwrap();
    let sent = sender.send_all(fuzz.iter().map(|f| f.bytes.as_slice()));
    std::thread::sleep(Duration::from_millis(500));
    let port_rx = probe::link_stats(host, &aport.name).unwrap().rx_packets - rx_before;
    let [s4, s6, v4, v6] = streams.map(|s| s.stop());
    let (cs, cv, cb, ca) = (
        cap_sentry.finish(),
        cap_victim.finish(),
        cap_bridge.finish(),
        cap_attacker.finish(),
    );
    let vmac = e.mac(victim);
    let vip = e.net.bottle_ips(0);
    let gmac = e.mac(&e.sentry);
    let (routed, delivered): (Vec<&Captured>, Vec<&Captured>) = cv.frames.iter().partition(|c| {
        frames::find_fuzz_tag(&c.data)
            .and_then(|(_, i)| fuzz.get(i as usize))
            .is_some_and(|f| routed_by(gmac, &c.data, &f.bytes))
    });
    let delivered: Vec<Captured> = delivered.into_iter().cloned().collect();
    FuzzRun {
        sent: sent.sent,
        failed: sent.failed,
        first_error: sent.first_error,
        elapsed: sent.elapsed,
        port_rx,
        host: sink.finish(host, input),
        sentry_port: tagged(&cs.frames, |c| c == FuzzClass::Attack),
        victim_port: tagged(&delivered, |_| true),
        routed_to_victim: tagged(&routed.into_iter().cloned().collect::<Vec<_>>(), |_| true).len(),
        bridge: tagged(&cb.frames, |c| c == FuzzClass::Attack),
        fdb: fdb.finish().unwrap(),
        sentry_to_victim: [s4, s6],
        victim_to_gateway: [v4, v6],
        intercepted: ca
            .frames
            .iter()
            .filter_map(|c| frames::parse(&c.data))
            .filter(|s| s.src_mac == vmac || s.addressed_to(vmac, &vip))
            .count(),
        capture_drops: cs.dropped + cv.dropped + cb.dropped + ca.dropped,
    }
}

/// The kinds of fuzzed frames among `indices`, most frequent first.
fn kinds_of(fuzz: &[frames::FuzzFrame], indices: &[u32], top: usize) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for &i in indices {
        if let Some(f) = fuzz.get(i as usize) {
            *by.entry(format!("{} from {} to {}", f.what, f.src, f.dst))
                .or_default() += 1;
        }
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(top);
    v.iter()
        .map(|(k, n)| format!("{n}x {k}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The frame fuzzer, from bottle1 (raw sockets, NET_ADMIN): 100,000
/// seeded frames (see `frames::fuzz_frames` for the mix), one AF_PACKET
/// socket. Sinks: the host's stack (in-counters, input hooks, RA state),
/// what the bridge delivers to the sentry's port (attack frames) and to
/// bottle0's port (any fuzzed frame), what it hands up to its own device
/// (attack frames), the forwarding database (another port's MAC on the
/// attacker's port, foreign MACs learned there), echo streams
/// sentry<->bottle0 (IPv4 and IPv6, every 10 ms: none lost), and
/// bottle0's traffic captured by bottle1. Pass: 0 everywhere; the same
/// frames with the guards stripped count more than 0 at every sink.
#[test]
fn fuzzed_frames_from_a_bottle() {
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 2);
    let host = &e.lab.host;
    let ports = probe::bridge_ports(host, ENCLAVE_BRIDGE).unwrap();
    let plan = frames::FuzzPlan {
        attacker: e.station(1),
        gateway: e.gateway(),
        others: vec![e.station(0)],
        bridge_mac: parse_mac(&link_mac(host, ENCLAVE_BRIDGE).unwrap()).unwrap(),
        host_port_macs: ports
            .iter()
            .filter_map(|p| p.mac.as_deref().and_then(|m| parse_mac(m).ok()))
            .collect(),
        host_ip4: vec![HOST_OUTSIDE_IP],
    };
    let fuzz = frames::fuzz_frames(&plan, FUZZ_SEED, FUZZ_FRAMES);
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for f in &fuzz {
        *classes.entry(format!("{:?}", f.class)).or_default() += 1;
    }
    let mut dsts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &fuzz {
        *dsts.entry(f.dst).or_default() += 1;
    }
    let kinds: std::collections::BTreeSet<&str> = fuzz.iter().map(|f| f.what.as_str()).collect();
    report(&format!(
        "NO-LEAK fuzz: {} frames, seed {FUZZ_SEED:#x}, classes {classes:?}, {} kinds, destinations {dsts:?}",
        fuzz.len(),
        kinds.len()
    ));
    let input = e.host_input_counters();
    quiet_host(&e.lab);
    let g = fuzz_run(&e, &fuzz, &input);
    let drops = probe::guard_drop_counters(host, ENCLAVE_BRIDGE).unwrap();
    if !drops.is_empty() {
        report(&format!(
            "NO-LEAK fuzz guard drop counters (chain, reason): {drops:?}"
        ));
        let at_ports: u64 = drops
            .iter()
            .filter(|((chain, _), _)| chain.starts_with("port_"))
            .map(|(_, n)| n)
            .sum();
        report(&format!(
            "NO-LEAK fuzz guarded: {} attack frame(s) sent, {at_ports} dropped at the ports with a reason",
            classes.get("Attack").copied().unwrap_or(0),
        ));
    }
    e.strip_guards();
    let c = fuzz_run(&e, &fuzz, &input);
    for (what, r) in [("guarded", &g), ("control", &c)] {
        report(&format!(
            "NO-LEAK fuzz {what}: sent {} ({} failed{}) in {:.2} s; the attacker's port received {}; captures dropped {}; fdb watch overflowed {}; routed by the sentry to bottle0 (not counted) {}",
            r.sent,
            r.failed,
            r.first_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default(),
            r.elapsed.as_secs_f64(),
            r.port_rx,
            r.capture_drops,
            r.fdb.overflowed,
            r.routed_to_victim
        ));
    }
    let lost = |s: &[EchoCounts; 2]| s[0].lost() as usize + s[1].lost() as usize;
    let sent = |s: &[EchoCounts; 2]| s[0].sent as usize + s[1].sent as usize;
    let sinks: Vec<(&str, usize, usize)> = vec![
        (
            "host stack (in-counter increments + input hook packets + RA routes/addresses)",
            g.host.total() as usize,
            c.host.total() as usize,
        ),
        (
            "sentry's port: attack frames delivered",
            g.sentry_port.len(),
            c.sentry_port.len(),
        ),
        (
            "bottle0's port: fuzzed frames delivered",
            g.victim_port.len(),
            c.victim_port.len(),
        ),
        (
            "bridge device: attack frames handed up",
            g.bridge.len(),
            c.bridge.len(),
        ),
        (
            "fdb: other ports' MACs moved to the attacker's port",
            g.fdb.moved.len(),
            c.fdb.moved.len(),
        ),
        (
            "fdb: foreign MACs learned on the attacker's port",
            g.fdb.foreign.len(),
            c.fdb.foreign.len(),
        ),
        (
            "echo sentry -> bottle0 lost (IPv4+IPv6)",
            lost(&g.sentry_to_victim),
            lost(&c.sentry_to_victim),
        ),
        (
            "echo bottle0 -> gateway lost (IPv4+IPv6)",
            lost(&g.victim_to_gateway),
            lost(&c.victim_to_gateway),
        ),
        (
            "bottle1 captured bottle0's traffic",
            g.intercepted,
            c.intercepted,
        ),
    ];
    for (sink, gv, cv) in &sinks {
        measure("fuzz", "raw", sink, gv, cv);
    }
    report(&format!(
        "NO-LEAK fuzz echo requests sent: guarded sentry->bottle0 {} bottle0->gateway {}, control {} {}",
        sent(&g.sentry_to_victim),
        sent(&g.victim_to_gateway),
        sent(&c.sentry_to_victim),
        sent(&c.victim_to_gateway)
    ));
    host_line("fuzz", "raw", &g.host, &c.host);
    for (sink, idx) in [
        ("sentry's port", &g.sentry_port),
        ("bottle0's port", &g.victim_port),
        ("bridge device", &g.bridge),
    ] {
        if !idx.is_empty() {
            report(&format!(
                "NO-LEAK fuzz guarded leaks at {sink}: {}",
                kinds_of(&fuzz, idx, 12)
            ));
        }
    }
    if g.fdb.total() > 0 {
        report(&format!(
            "NO-LEAK fuzz guarded fdb: moved {:?}; {} foreign MAC(s) learned, e.g. {:?}",
            g.fdb.moved,
            g.fdb.foreign.len(),
            g.fdb.foreign.iter().take(5).collect::<Vec<_>>()
        ));
    }
    assert_eq!(g.failed + c.failed, 0, "every fuzzed frame was sent");
    let leaked: Vec<_> = sinks.iter().filter(|(_, gv, _)| *gv > 0).collect();
    let blind: Vec<_> = sinks.iter().filter(|(_, _, cv)| *cv == 0).collect();
    assert!(
        leaked.is_empty(),
        "fuzzed frames got through the guards: {leaked:#?}"
    );
    assert!(
        blind.is_empty(),
        "control: sinks that count nothing without the guards: {blind:#?}"
    );
}
