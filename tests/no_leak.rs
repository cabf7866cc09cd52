//! No-leak tests of the bridge guards of a `gateway_mode=container` network,
//! with the real patched netavark in network namespaces.
//!
//! Every case runs twice: as a bottle with default capabilities (only what
//! the kernel sends for ordinary sockets: ping, TCP, UDP) and as a bottle
//! with raw sockets and CAP_NET_ADMIN (crafted ARP/NA/RA/DHCP frames over
//! AF_PACKET, its own addresses, MACs, routes and neighbour entries). Sinks
//! count packets with AF_PACKET captures: "blocked" means zero packets
//! arrived. Every negative probe has a positive control: the same probe
//! after the guard table is deleted (or on a network that opts out), which
//! must arrive, so a probe that cannot fail does not pass for a guard.
//! br_netfilter is loaded on these machines (case 9): every test prints it.

mod common;

use as_gateway::frames::{self, Mac, Seen};
use as_gateway::link::parse_mac;
use as_gateway::netns::Netns;
use as_gateway::probe::{self, Capture};
use as_gateway::scenario::*;
use common::*;
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

    /// The positive control: the same network without its guard table.
    fn remove_guards(&self) {
        nft(&self.lab.host, &["delete", "table", "bridge", GUARD_TABLE]);
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

fn nft(ns: &Netns, args: &[&str]) {
    let mut a = vec!["nft"];
    a.extend(args);
    run_in(ns, &a);
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
    e.remove_guards();
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
    e.remove_guards();
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

    e.remove_guards();
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
    e.remove_guards();
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

/// The link-local address of the bridge.
fn bridge_link_local(lab: &Lab) -> Ipv6Addr {
    probe::addresses(&lab.host)
        .unwrap()
        .into_iter()
        .filter(|a| a.link == ENCLAVE_BRIDGE)
        .find_map(|a| match a.addr {
            IpAddr::V6(v6) if v6.segments()[0] == 0xfe80 => Some(v6),
            _ => None,
        })
        .expect("bridge link-local address")
}

/// Case 4 and 7: the host, by any address, from a bottle: its addresses,
/// the bridge's link-local, its listener on 0.0.0.0, and 169.254.169.254,
/// also with routes and neighbour entries the bottle adds itself. The sink
/// counts the bottle's frames the host's stack received (a capture on the
/// bridge device sees what the bridge delivers to the host).
#[test]
fn host_unreachable() {
    // no uplink: the sentry cannot route to the host, only a direct path
    // over the bridge could reach it
    let e = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 1);
    let b0 = &e.bottles[0];
    let m0 = e.mac(b0);
    run_in(
        &e.lab.host,
        &["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"],
    );
    let host_ll = bridge_link_local(&e.lab);
    let bridge_mac = link_mac(&e.lab.host, ENCLAVE_BRIDGE).unwrap();
    let from_b0 = |s: &Seen| s.src_mac == m0;
    let targets = ["203.0.113.1", "169.254.169.254"];

    let default_probe = || {
        let cap = Capture::start(&e.lab.host, ENCLAVE_BRIDGE).unwrap();
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
        (count(cap, from_b0), ok + tcp as usize)
    };
    let net_admin_probe = || {
        for t in targets {
            let _ = try_run_in(
                &b0.ns,
                &["ip", "route", "replace", &format!("{t}/32"), "dev", "eth0"],
            );
        }
        let cap = Capture::start(&e.lab.host, ENCLAVE_BRIDGE).unwrap();
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
        (count(cap, from_b0), ok + tcp as usize)
    };
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
    let g_def = default_probe();
    let g_adm = net_admin_probe();
    e.remove_guards();
    let c_adm = net_admin_probe();
    let _ = try_run_in(
        &b0.ns,
        &["ip", "route", "flush", "dev", "eth0", "scope", "link"],
    );
    let c_def = default_probe();
    line("4 host", "default", "host", g_def.0, c_def.0);
    line(
        "4+7 host, own routes+neigh",
        "net_admin",
        "host",
        g_adm.0,
        c_adm.0,
    );
    report(&format!(
        "NO-LEAK 4 host probes answered: default guarded {} control {}, net_admin guarded {} control {}",
        g_def.1, c_def.1, g_adm.1, c_adm.1
    ));
    assert_eq!((g_def, g_adm), ((0, 0), (0, 0)), "the host was reached");
    assert!(
        c_def.0 > 0 && c_adm.0 > 0 && c_adm.1 > 0,
        "control: the host is reached without the guard"
    );
}

/// Case 5: bottle to bottle is blocked by default, in both variants, and
/// allowed with bottle_isolation=false (the control).
#[test]
fn lateral_bottle_to_bottle() {
    let run = |isolated: bool| {
        let mut net = EnclaveNet::container_mode().dual_stack();
        if !isolated {
            net = net.with_option("bottle_isolation", "false");
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
        "NO-LEAK 5 lateral pings answered: isolated {} bottle_isolation=false {}",
        isolated.2, open.2
    ));
    assert_eq!(isolated, (0, 0, 0), "bottle reached another bottle");
    assert!(
        open.0 > 0 && open.1 > 0 && open.2 == 2,
        "bottle_isolation=false: {open:?}"
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
    e.remove_guards();
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
/// adds one chain of the same size and three set/map elements.
#[test]
fn nft_size_with_1_and_50_bottles() {
    let e1 = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 1);
    let s1 = guard_size(&e1.lab.host);
    drop(e1);
    let e50 = Enclave::new(EnclaveNet::container_mode().dual_stack(), false, 50);
    let s50 = guard_size(&e50.lab.host);
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
    assert_eq!(
        s1.base_rules, s50.base_rules,
        "base chains grew with the bottles"
    );
    assert_eq!(s50.port_rules, s1.port_rules * 50, "per-bottle rules");
    assert_eq!(s50.elements, 1 + 2 * 50, "set and map elements");
}

#[derive(Debug, PartialEq)]
struct GuardSize {
    /// rules in the hooked chains, what every frame walks through
    base_rules: usize,
    /// rules in the per-port chains, a frame walks only its port's
    port_rules: usize,
    elements: usize,
}

fn guard_size(host: &Netns) -> GuardSize {
    let out = run_in(host, &["nft", "-j", "list", "table", "bridge", GUARD_TABLE]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut size = GuardSize {
        base_rules: 0,
        port_rules: 0,
        elements: 0,
    };
    for o in v["nftables"].as_array().unwrap() {
        if let Some(r) = o.get("rule") {
            if r["chain"].as_str().unwrap().starts_with("port_") {
                size.port_rules += 1;
            } else {
                size.base_rules += 1;
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
