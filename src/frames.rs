//! Hand-made Ethernet frames for the no-leak tests (what a container with
//! CAP_NET_RAW can put on the wire), and a parser that classifies captured
//! frames for the packet sinks.

use crate::probe::checksum;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub type Mac = [u8; 6];

pub const BROADCAST: Mac = [0xff; 6];
pub const ETH_ARP: u16 = 0x0806;
pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86dd;

pub const ICMPV6_RA: u8 = 134;
pub const ICMPV6_NA: u8 = 136;

/// The multicast MAC of an IPv6 multicast address.
pub fn ipv6_multicast_mac(ip: Ipv6Addr) -> Mac {
    let o = ip.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend(dst);
    f.extend(src);
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    f
}

/// An ARP packet (Ethernet/IPv4): op 1 request, 2 reply.
pub fn arp(
    op: u16,
    sender_mac: Mac,
    sender_ip: Ipv4Addr,
    target_mac: Mac,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4];
    p.extend(op.to_be_bytes());
    p.extend(sender_mac);
    p.extend(sender_ip.octets());
    p.extend(target_mac);
    p.extend(target_ip.octets());
    p
}

/// An IPv4 packet with a correct header checksum, TTL 64.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_ttl(src, dst, proto, 64, payload)
}

/// An IPv4 packet with a correct header checksum and TTL `ttl`.
pub fn ipv4_ttl(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend(len.to_be_bytes());
    h.extend([0, 0, 0x40, 0, ttl, proto, 0, 0]);
    h.extend(src.octets());
    h.extend(dst.octets());
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend(payload);
    h
}

/// An ICMP echo request.
pub fn icmp4_echo(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend(id.to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(b"as-gateway-noleak");
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// A UDP datagram over IPv4, checksum 0 (none).
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    ipv4(src, dst, 17, &u)
}

/// A DHCP OFFER (BOOTP reply) for `yiaddr`, from a server `server`.
pub fn dhcp_offer(client_mac: Mac, yiaddr: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![2, 1, 6, 0];
    b.extend([0x12, 0x34, 0x56, 0x78]); // xid
    b.extend([0; 4]); // secs, flags
    b.extend([0; 4]); // ciaddr
    b.extend(yiaddr.octets());
    b.extend(server.octets()); // siaddr
    b.extend([0; 4]); // giaddr
    b.extend(client_mac);
    b.extend([0; 10 + 64 + 128]);
    b.extend([99, 130, 83, 99]); // magic cookie
    b.extend([53, 1, 2]); // OFFER
    b.extend([54, 4]);
    b.extend(server.octets()); // server id
    b.extend([3, 4]);
    b.extend(server.octets()); // router
    b.extend([6, 4]);
    b.extend(server.octets()); // DNS
    b.push(255);
    b
}

/// An IPv6 packet carrying ICMPv6 `icmp` (checksum filled in), hop limit 255.
pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> Vec<u8> {
    let mut icmp = icmp.to_vec();
    icmp[2] = 0;
    icmp[3] = 0;
    let mut pseudo = Vec::new();
    pseudo.extend(src.octets());
    pseudo.extend(dst.octets());
    pseudo.extend((icmp.len() as u32).to_be_bytes());
    pseudo.extend([0, 0, 0, 58]);
    pseudo.extend(&icmp);
    let c = checksum(&pseudo);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x60, 0, 0, 0];
    p.extend((icmp.len() as u16).to_be_bytes());
    p.extend([58, 255]);
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend(icmp);
    p
}

/// A neighbour advertisement for `target` at `mac` (override set;
/// solicited when `solicited`).
pub fn na(target: Ipv6Addr, mac: Mac, solicited: bool) -> Vec<u8> {
    let flags = 0x20 | if solicited { 0x40 } else { 0 };
    let mut p = vec![ICMPV6_NA, 0, 0, 0, flags, 0, 0, 0];
    p.extend(target.octets());
    p.extend([2, 1]); // target link-layer address option
    p.extend(mac);
    p
}

/// An ICMPv6 echo request.
pub fn icmp6_echo(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![128, 0, 0, 0];
    p.extend(id.to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(b"as-gateway-noleak");
    p
}

/// A router advertisement: default router for 30 min, prefix `prefix`/64.
pub fn ra(mac: Mac, prefix: Ipv6Addr) -> Vec<u8> {
    let mut p = vec![ICMPV6_RA, 0, 0, 0, 64, 0, 0x07, 0x08];
    p.extend([0; 8]); // reachable, retrans
    p.extend([1, 1]);
    p.extend(mac); // source link-layer address
    p.extend([3, 4, 64, 0xc0]);
    p.extend(3600u32.to_be_bytes());
    p.extend(3600u32.to_be_bytes());
    p.extend([0; 4]);
    p.extend(prefix.octets());
    p
}

/// The EUI-64 link-local address of a MAC.
pub fn link_local(mac: Mac) -> Ipv6Addr {
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([mac[0] ^ 2, mac[1]]),
        u16::from_be_bytes([mac[2], 0xff]),
        u16::from_be_bytes([0xfe, mac[3]]),
        u16::from_be_bytes([mac[4], mac[5]]),
    )
}

/// What a sink needs to know about a captured frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub dst_mac: Mac,
    pub src_mac: Mac,
    pub ethertype: u16,
    /// ARP: op, sender IP
    pub arp: Option<(u16, Ipv4Addr)>,
    pub ipv4: Option<(Ipv4Addr, Ipv4Addr, u8)>,
    pub ipv6: Option<(Ipv6Addr, Ipv6Addr)>,
    /// ICMPv6 type, and the NA target
    pub icmp6: Option<(u8, Option<Ipv6Addr>)>,
    /// ICMP (v4) type
    pub icmp4: Option<u8>,
    /// ICMP (v4) echo identifier and sequence number
    pub echo4: Option<(u16, u16)>,
    /// UDP source port
    pub udp_sport: Option<u16>,
    /// IPv4 TTL or IPv6 hop limit
    pub hop_limit: Option<u8>,
}

impl Seen {
    /// A unicast frame to `mac`, or an IP packet to one of `ips`.
    pub fn addressed_to(&self, mac: Mac, ips: &[IpAddr]) -> bool {
        self.dst_mac == mac
            || self
                .ipv4
                .is_some_and(|(_, d, _)| ips.contains(&IpAddr::V4(d)))
            || self.ipv6.is_some_and(|(_, d)| ips.contains(&IpAddr::V6(d)))
    }
}

pub fn parse(f: &[u8]) -> Option<Seen> {
    if f.len() < 14 {
        return None;
    }
    let mut s = Seen {
        ethertype: u16::from_be_bytes([f[12], f[13]]),
        ..Seen::default()
    };
    s.dst_mac.copy_from_slice(&f[0..6]);
    s.src_mac.copy_from_slice(&f[6..12]);
    let p = &f[14..];
    match s.ethertype {
        ETH_ARP if p.len() >= 28 => {
            s.arp = Some((
                u16::from_be_bytes([p[6], p[7]]),
                Ipv4Addr::new(p[14], p[15], p[16], p[17]),
            ));
        }
        ETH_IPV4 if p.len() >= 20 => {
            let ihl = ((p[0] & 0xf) as usize) * 4;
            let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            s.ipv4 = Some((src, dst, p[9]));
            s.hop_limit = Some(p[8]);
            let l4 = p.get(ihl..).unwrap_or_default();
            match p[9] {
                1 if !l4.is_empty() => {
                    s.icmp4 = Some(l4[0]);
                    if l4.len() >= 8 && (l4[0] == 8 || l4[0] == 0) {
                        s.echo4 = Some((
                            u16::from_be_bytes([l4[4], l4[5]]),
                            u16::from_be_bytes([l4[6], l4[7]]),
                        ));
                    }
                }
                17 if l4.len() >= 2 => s.udp_sport = Some(u16::from_be_bytes([l4[0], l4[1]])),
                _ => {}
            }
        }
        ETH_IPV6 if p.len() >= 40 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&p[8..24]);
            let mut b = [0u8; 16];
            b.copy_from_slice(&p[24..40]);
            s.ipv6 = Some((Ipv6Addr::from(a), Ipv6Addr::from(b)));
            s.hop_limit = Some(p[7]);
            let l4 = &p[40..];
            match p[6] {
                58 if !l4.is_empty() => {
                    let target = (l4[0] == ICMPV6_NA && l4.len() >= 24).then(|| {
                        let mut t = [0u8; 16];
                        t.copy_from_slice(&l4[8..24]);
                        Ipv6Addr::from(t)
                    });
                    s.icmp6 = Some((l4[0], target));
                }
                17 if l4.len() >= 2 => s.udp_sport = Some(u16::from_be_bytes([l4[0], l4[1]])),
                _ => {}
            }
        }
        _ => {}
    }
    Some(s)
}

// ------------------------------------------------- more frames a bottle can send

pub const ETH_VLAN: u16 = 0x8100;
pub const ETH_QINQ: u16 = 0x88a8;
pub const ETH_PPPOE_DISCOVERY: u16 = 0x8863;
pub const ETH_PPPOE_SESSION: u16 = 0x8864;
pub const ETH_LLDP: u16 = 0x88cc;
pub const ETH_EAPOL: u16 = 0x888e;

pub const ICMPV6_ECHO_REQUEST: u8 = 128;
pub const ICMPV6_RS: u8 = 133;
pub const ICMPV6_NS: u8 = 135;
pub const ICMPV6_REDIRECT: u8 = 137;
pub const ICMPV6_ROUTER_RENUMBERING: u8 = 138;
pub const ICMPV6_MLD2_REPORT: u8 = 143;

pub const IPPROTO_HOPOPTS: u8 = 0;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ROUTING: u8 = 43;
pub const IPPROTO_FRAGMENT: u8 = 44;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_DSTOPTS: u8 = 60;

/// The IEEE 802.1D link-local group address `01:80:c2:00:00:0n`
/// (`n` = 0..=15): a bridge never forwards these the normal way.
pub fn link_local_group(n: u8) -> Mac {
    [0x01, 0x80, 0xc2, 0, 0, n & 0x0f]
}

/// The LLDP group address, `01:80:c2:00:00:0e`.
pub const LLDP_GROUP: Mac = [0x01, 0x80, 0xc2, 0, 0, 0x0e];

/// The multicast MAC of an IPv4 multicast address.
pub fn ipv4_multicast_mac(ip: Ipv4Addr) -> Mac {
    let o = ip.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// The solicited-node multicast address of `ip` (ff02::1:ffXX:XXXX).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The transport checksum of `segment` (its checksum field zero) with the
/// IPv4 or IPv6 pseudo header.
pub fn transport_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + segment.len());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend(s.octets());
            pseudo.extend(d.octets());
            pseudo.extend([0, proto]);
            pseudo.extend((segment.len() as u16).to_be_bytes());
        }
        (s, d) => {
            pseudo.extend(ipv6_of(s).octets());
            pseudo.extend(ipv6_of(d).octets());
            pseudo.extend((segment.len() as u32).to_be_bytes());
            pseudo.extend([0, 0, 0, proto]);
        }
    }
    pseudo.extend(segment);
    checksum(&pseudo)
}

fn ipv6_of(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(v6) => v6,
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
    }
}

/// A UDP datagram with its checksum (IPv4 or IPv6, by the addresses).
pub fn udp_segment(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(((8 + payload.len()) as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    let c = match transport_checksum(src, dst, IPPROTO_UDP, &u) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// A TCP SYN with its checksum; `data` rides on the SYN (allowed, and
/// where the fuzzer puts its tag).
pub fn tcp_syn_segment(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + data.len());
    t.extend(sport.to_be_bytes());
    t.extend(dport.to_be_bytes());
    t.extend(0x5eed_0001u32.to_be_bytes()); // seq
    t.extend([0; 4]); // ack
    t.extend([0x50, 0x02]); // data offset 5, SYN
    t.extend(64240u16.to_be_bytes());
    t.extend([0; 4]); // checksum, urgent
    t.extend(data);
    let c = transport_checksum(src, dst, IPPROTO_TCP, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// An ICMP (v4) message with its checksum.
pub fn icmp4_message(ty: u8, code: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![ty, code, 0, 0];
    p.extend(rest);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// An ICMP echo request carrying `data`.
pub fn icmp4_echo_with(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut rest = Vec::with_capacity(4 + data.len());
    rest.extend(id.to_be_bytes());
    rest.extend(seq.to_be_bytes());
    rest.extend(data);
    icmp4_message(8, 0, &rest)
}

/// An ICMP redirect (host) to `gateway`, quoting `original`.
pub fn icmp4_redirect(gateway: Ipv4Addr, original: &[u8]) -> Vec<u8> {
    let mut rest = gateway.octets().to_vec();
    rest.extend(original);
    icmp4_message(5, 1, &rest)
}

/// An IGMPv2 membership report for `group`, with `extra` bytes after it.
pub fn igmp2_report(group: Ipv4Addr, extra: &[u8]) -> Vec<u8> {
    let mut p = vec![0x16, 0, 0, 0];
    p.extend(group.octets());
    p.extend(extra);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// A DHCP REQUEST (BOOTP request) from a client that has `ciaddr`.
pub fn dhcp_request(client_mac: Mac, ciaddr: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![1, 1, 6, 0];
    b.extend([0x12, 0x34, 0x56, 0x79]); // xid
    b.extend([0; 4]); // secs, flags
    b.extend(ciaddr.octets());
    b.extend([0; 12]); // yiaddr, siaddr, giaddr
    b.extend(client_mac);
    b.extend([0; 10 + 64 + 128]);
    b.extend([99, 130, 83, 99]); // magic cookie
    b.extend([53, 1, 3]); // REQUEST
    b.push(255);
    b
}

/// A DHCPv6 message: `msg_type` (1 solicit, 2 advertise, 7 reply, ...)
/// with a client id and, for server messages, a server id; `extra` as one
/// more option (code 65000).
pub fn dhcpv6(msg_type: u8, client_mac: Mac, server_mac: Mac, extra: &[u8]) -> Vec<u8> {
    let duid = |mac: Mac| {
        let mut d = vec![0, 3, 0, 1]; // DUID-LL, Ethernet
        d.extend(mac);
        d
    };
    let mut m = vec![msg_type, 0x5e, 0xed, 0x01];
    let mut option = |code: u16, data: &[u8]| {
        m.extend(code.to_be_bytes());
        m.extend((data.len() as u16).to_be_bytes());
        m.extend(data);
    };
    option(1, &duid(client_mac));
    if matches!(msg_type, 2 | 7 | 10) {
        option(2, &duid(server_mac));
    }
    option(65000, extra);
    m
}

/// An ICMPv6 message with its checksum for `src` -> `dst`.
pub fn icmpv6_message(src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> Vec<u8> {
    let mut m = body.to_vec();
    m[2] = 0;
    m[3] = 0;
    let c = transport_checksum(IpAddr::V6(src), IpAddr::V6(dst), IPPROTO_ICMPV6, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMPv6 echo request carrying `data` (checksum left to
/// [`icmpv6_message`]).
pub fn icmp6_echo_with(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![ICMPV6_ECHO_REQUEST, 0, 0, 0];
    p.extend(id.to_be_bytes());
    p.extend(seq.to_be_bytes());
    p.extend(data);
    p
}

/// A router solicitation with a source link-layer address option.
pub fn rs(mac: Mac) -> Vec<u8> {
    let mut p = vec![ICMPV6_RS, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    p.extend(mac);
    p
}

/// A neighbour solicitation for `target` from `mac`.
pub fn ns(target: Ipv6Addr, mac: Mac) -> Vec<u8> {
    let mut p = vec![ICMPV6_NS, 0, 0, 0, 0, 0, 0, 0];
    p.extend(target.octets());
    p.extend([1, 1]);
    p.extend(mac);
    p
}

/// A router advertisement with default router preference high, router
/// lifetime 30 min, and an on-link, autonomous prefix `prefix`/64.
pub fn ra_high(mac: Mac, prefix: Ipv6Addr) -> Vec<u8> {
    let mut p = ra(mac, prefix);
    p[5] = 0x08; // prf high
    p
}

/// A redirect: `dest` is better reached via `target` (at `mac`).
pub fn nd_redirect(target: Ipv6Addr, dest: Ipv6Addr, mac: Mac) -> Vec<u8> {
    let mut p = vec![ICMPV6_REDIRECT, 0, 0, 0, 0, 0, 0, 0];
    p.extend(target.octets());
    p.extend(dest.octets());
    p.extend([2, 1]);
    p.extend(mac);
    p
}

/// A router renumbering command (sequence 1, segment 0, no match prefix).
pub fn router_renumbering() -> Vec<u8> {
    let mut p = vec![ICMPV6_ROUTER_RENUMBERING, 0, 0, 0];
    p.extend(1u32.to_be_bytes());
    p.extend([0, 0, 0, 0, 0, 0, 0, 0]);
    p
}

/// An MLDv2 report: change to exclude {} for `group` (join).
pub fn mld2_report(group: Ipv6Addr) -> Vec<u8> {
    let mut p = vec![ICMPV6_MLD2_REPORT, 0, 0, 0, 0, 0, 0, 1];
    p.extend([4, 0, 0, 0]);
    p.extend(group.octets());
    p
}

/// An NDP option of an experimental type (253) carrying `data`, padded to
/// 8 octets; receivers skip unknown options.
pub fn nd_option_experimental(data: &[u8]) -> Vec<u8> {
    let mut o = vec![253, 0];
    o.extend(data);
    while o.len() % 8 != 0 {
        o.push(0);
    }
    o[1] = (o.len() / 8) as u8;
    o
}

/// An IPv6 extension header in a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ext {
    /// hop-by-hop options header with these options (padded)
    HopByHop(Vec<u8>),
    /// destination options header with these options (padded)
    DestOpts(Vec<u8>),
    /// type 0 routing header, segments left 0 (processed as a no-op)
    Routing0(Ipv6Addr),
}

/// An IPv6 option of an experimental type that receivers skip (0x1e:
/// action "skip", RFC 4727) carrying `data`.
pub fn ipv6_option_experimental(data: &[u8]) -> Vec<u8> {
    let mut o = vec![0x1e, data.len() as u8];
    o.extend(data);
    o
}

/// Options padded (PadN / Pad1) so that the 2-octet header plus options is
/// a multiple of 8.
fn padded_options(options: &[u8]) -> Vec<u8> {
    let mut o = options.to_vec();
    let pad = (8 - (2 + o.len()) % 8) % 8;
    match pad {
        0 => {}
        1 => o.push(0),
        n => {
            o.extend([1, (n - 2) as u8]);
            o.extend(std::iter::repeat_n(0, n - 2));
        }
    }
    o
}

/// The extension header chain, each header naming the next; the last
/// names `upper`. Returns the first header's protocol number and the bytes.
pub fn ext_chain(exts: &[Ext], upper: u8) -> (u8, Vec<u8>) {
    let mut next = upper;
    let mut chain: Vec<u8> = Vec::new();
    for e in exts.iter().rev() {
        let (proto, mut h) = match e {
            Ext::HopByHop(opts) | Ext::DestOpts(opts) => {
                let o = padded_options(opts);
                let mut h = vec![next, ((2 + o.len()) / 8 - 1) as u8];
                h.extend(o);
                let proto = if matches!(e, Ext::HopByHop(_)) {
                    IPPROTO_HOPOPTS
                } else {
                    IPPROTO_DSTOPTS
                };
                (proto, h)
            }
            Ext::Routing0(addr) => {
                let mut h = vec![next, 2, 0, 0, 0, 0, 0, 0];
                h.extend(addr.octets());
                (IPPROTO_ROUTING, h)
            }
        };
        h.extend(chain);
        chain = h;
        next = proto;
    }
    (next, chain)
}

/// An IPv6 packet: header, extension headers, upper-layer `payload`
/// (complete, checksum included) of protocol `upper`.
pub fn ipv6_packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    exts: &[Ext],
    upper: u8,
    payload: &[u8],
) -> Vec<u8> {
    let (first, chain) = ext_chain(exts, upper);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend(((chain.len() + payload.len()) as u16).to_be_bytes());
    p.extend([first, hop_limit]);
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend(chain);
    p.extend(payload);
    p
}

/// The fragments of an IPv6 packet: `unfragmentable` headers (repeated in
/// each fragment; `per_fragment` gives fragment `i` its own), then a
/// fragment header, then chunks of `chunk` octets (a multiple of 8) of the
/// fragmentable part: `fragmentable` headers and the upper-layer payload.
#[allow(clippy::too_many_arguments)]
pub fn ipv6_fragments(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    per_fragment: impl Fn(usize) -> Vec<Ext>,
    fragmentable: &[Ext],
    upper: u8,
    payload: &[u8],
    chunk: usize,
    id: u32,
) -> Vec<Vec<u8>> {
    let chunk = (chunk / 8).max(1) * 8;
    let (first, chain) = ext_chain(fragmentable, upper);
    let mut part = chain;
    part.extend(payload);
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < part.len() {
        let end = (offset + chunk).min(part.len());
        let more = end < part.len();
        let mut frag = vec![first, 0];
        frag.extend((((offset / 8) as u16) << 3 | more as u16).to_be_bytes());
        frag.extend(id.to_be_bytes());
        frag.extend(&part[offset..end]);
        let (lead, lead_chain) = ext_chain(&per_fragment(out.len()), IPPROTO_FRAGMENT);
        let mut p = vec![0x60, 0, 0, 0];
        p.extend(((lead_chain.len() + frag.len()) as u16).to_be_bytes());
        p.extend([lead, hop_limit]);
        p.extend(src.octets());
        p.extend(dst.octets());
        p.extend(lead_chain);
        p.extend(frag);
        out.push(p);
        offset = end;
    }
    out
}

/// An 802.1Q (or, with `outer` = [`ETH_QINQ`], 802.1ad) tag in front of
/// `inner` of EtherType `inner_type`: the payload of the outer frame.
pub fn vlan_tagged(vid: u16, inner_type: u16, inner: &[u8]) -> Vec<u8> {
    let mut p = (vid & 0x0fff).to_be_bytes().to_vec();
    p.extend(inner_type.to_be_bytes());
    p.extend(inner);
    p
}

/// A PPPoE discovery PADI with an empty service-name tag.
pub fn pppoe_padi() -> Vec<u8> {
    vec![0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0]
}

/// A PPPoE session frame carrying a PPP packet of protocol `ppp_proto`
/// (0x0021 IPv4).
pub fn pppoe_session(session: u16, ppp_proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0];
    p.extend(session.to_be_bytes());
    p.extend(((2 + payload.len()) as u16).to_be_bytes());
    p.extend(ppp_proto.to_be_bytes());
    p.extend(payload);
    p
}

/// An LLDP PDU: chassis and port id = `mac`, TTL 120, end.
pub fn lldp_pdu(mac: Mac) -> Vec<u8> {
    let tlv = |ty: u16, data: &[u8]| {
        let mut t = ((ty << 9) | data.len() as u16).to_be_bytes().to_vec();
        t.extend(data);
        t
    };
    let with_subtype = |subtype: u8| {
        let mut d = vec![subtype];
        d.extend(mac);
        d
    };
    let mut p = tlv(1, &with_subtype(4));
    p.extend(tlv(2, &with_subtype(3)));
    p.extend(tlv(3, &120u16.to_be_bytes()));
    p.extend(tlv(0, &[]));
    p
}

/// An EAPOL-Start.
pub fn eapol_start() -> Vec<u8> {
    vec![2, 1, 0, 0]
}

/// An 802.3 frame's LLC payload: a spanning-tree configuration BPDU
/// claiming root bridge `mac` with priority 0.
pub fn stp_config_bpdu(mac: Mac) -> Vec<u8> {
    let mut p = vec![0x42, 0x42, 0x03]; // LLC: STP SAP, UI
    p.extend([0, 0, 0, 0, 0]); // protocol id, version, BPDU type config, flags
    p.extend([0, 0]);
    p.extend(mac); // root id
    p.extend([0; 4]); // root path cost
    p.extend([0, 0]);
    p.extend(mac); // bridge id
    p.extend([0x80, 0x01]); // port id
                            // message age 0, max age 20 s, hello 2 s, forward delay 15 s (1/256 s)
    p.extend([0, 0, 0x14, 0, 0x02, 0, 0x0f, 0]);
    p
}

// ------------------------------------------------------------ frame fuzzer

/// A small, fast, deterministic PRNG (xorshift64*): the same seed gives
/// the same frames on every run.
#[derive(Clone, Debug)]
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 33) % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// One of `items`, each with its weight.
    pub fn weighted<T: Copy>(&mut self, items: &[(usize, T)]) -> T {
        let total: usize = items.iter().map(|(w, _)| w).sum();
        let mut r = self.below(total);
        for (w, t) in items {
            if r < *w {
                return *t;
            }
            r -= w;
        }
        items[items.len() - 1].1
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// A random unicast, locally administered MAC.
    pub fn mac(&mut self) -> Mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.next_u64().to_be_bytes()[..6]);
        m[0] = (m[0] & 0xfc) | 0x02;
        m
    }
}

/// What the fuzzer's guard policy says about one frame, judged at the
/// attacker's port. A guard must let `Legit` frames through to the
/// gateway; everything else is a leak wherever it shows up, except that
/// `HostBound` and `Lateral` frames are only judged at the sinks of their
/// destination (the host's stack, the other bottle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FuzzClass {
    /// own MAC, own addresses, a family the network has, not a server or
    /// router message, to the gateway's MAC, broadcast or IP multicast
    Legit = 1,
    /// like `Legit`, but to the bridge's or a host veth's MAC
    HostBound = 2,
    /// like `Legit`, but to another bottle's MAC
    Lateral = 3,
    /// anything else: forged MAC or address, link-local group destination,
    /// foreign EtherType, gateway claim, router or DHCP server message, an
    /// IPv6 first fragment without its upper-layer header (RFC 7112)
    Attack = 4,
}

impl FuzzClass {
    fn from_byte(b: u8) -> Option<FuzzClass> {
        Some(match b {
            1 => FuzzClass::Legit,
            2 => FuzzClass::HostBound,
            3 => FuzzClass::Lateral,
            4 => FuzzClass::Attack,
            _ => return None,
        })
    }
}

/// Every fuzzed frame carries this tag (magic, class, frame index) inside
/// its IP payload or, for other EtherTypes, after its payload: a sink
/// knows a fuzzed frame, and the frame's class, wherever it (or a reply
/// quoting it) shows up. Inside the IP payload it survives the trimming
/// br_netfilter does to IP frames.
pub const FUZZ_MAGIC: [u8; 6] = [0xa5, b'A', b'S', b'G', b'F', b'Z'];
pub const FUZZ_TAG_LEN: usize = 12;

pub fn fuzz_tag(class: FuzzClass, index: u32) -> [u8; FUZZ_TAG_LEN] {
    let mut t = [0u8; FUZZ_TAG_LEN];
    t[..6].copy_from_slice(&FUZZ_MAGIC);
    t[6] = class as u8;
    t[8..].copy_from_slice(&index.to_be_bytes());
    t
}

/// The first fuzz tag in `frame`: (class, index of the fuzzed frame).
pub fn find_fuzz_tag(frame: &[u8]) -> Option<(FuzzClass, u32)> {
    let at = frame
        .windows(FUZZ_MAGIC.len())
        .position(|w| w == FUZZ_MAGIC)?;
    let t = frame.get(at..at + FUZZ_TAG_LEN)?;
    Some((
        FuzzClass::from_byte(t[6])?,
        u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
    ))
}

/// One station on the network: its MAC and addresses (none for a family
/// the network does not have).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Station {
    pub mac: Mac,
    pub ip4: Option<Ipv4Addr>,
    pub ip6: Option<Ipv6Addr>,
}

impl Station {
    pub fn link_local(&self) -> Ipv6Addr {
        link_local(self.mac)
    }
}

/// What the fuzzer aims at: the attacker (whose port the frames enter),
/// the gateway, the other bottles, the host's side of the bridge.
#[derive(Clone, Debug)]
pub struct FuzzPlan {
    pub attacker: Station,
    /// the gateway container: its MAC and the gateway addresses
    pub gateway: Station,
    pub others: Vec<Station>,
    pub bridge_mac: Mac,
    /// MACs of every host-side veth of the bridge
    pub host_port_macs: Vec<Mac>,
    /// the host's own IPv4 addresses (on other interfaces)
    pub host_ip4: Vec<Ipv4Addr>,
}

/// One fuzzed frame, with what the policy says about it and a short
/// description for reports.
#[derive(Clone, Debug)]
pub struct FuzzFrame {
    pub bytes: Vec<u8>,
    pub class: FuzzClass,
    /// destination kind ("link-local-0e", "broadcast", "gateway", ...)
    pub dst: &'static str,
    /// source MAC kind ("own", "gateway", "bottle", "bridge", "random", ...)
    pub src: &'static str,
    /// what it carries ("arp-claim", "ipv6-ra-frag1", "vlan", ...)
    pub what: String,
}

/// `count` fuzzed frames from `plan`'s attacker, deterministic in `seed`.
/// The mix: destinations every link-local group, broadcast, IPv4 and IPv6
/// multicast, the bridge's, each host veth's, the gateway's and other
/// bottles' MACs; sources the attacker's own, forged (gateway, bottle,
/// bridge, host veth) and random MACs; ARP, IPv4, IPv6 (extension headers,
/// fragments, all of neighbour discovery, DHCPv6), 802.1Q, QinQ, PPPoE,
/// LLDP, EAPOL, 802.3/LLC and unknown EtherTypes.
pub fn fuzz_frames(plan: &FuzzPlan, seed: u64, count: usize) -> Vec<FuzzFrame> {
    let mut g = Fuzzer {
        plan,
        rng: Xorshift::new(seed),
        out: Vec::with_capacity(count + 16),
    };
    while g.out.len() < count {
        g.packet();
    }
    g.out.truncate(count);
    g.out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dst {
    LinkLocal(u8),
    Broadcast,
    Ipv4Multicast,
    Ipv6Multicast,
    Bridge,
    HostPort(usize),
    Gateway,
    Bottle(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Own,
    Gateway,
    Bottle(usize),
    Bridge,
    HostPort(usize),
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Arp,
    Ipv4,
    Ipv6,
    Vlan,
    QinQ,
    PppoeDiscovery,
    PppoeSession,
    Lldp,
    Eapol,
    Llc,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum V4 {
    Echo,
    Udp(u16, u16),
    DhcpServer,
    DhcpClient,
    TcpSyn(u16),
    Redirect,
    Igmp,
    Proto253,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum V6 {
    Echo,
    Rs,
    Ra,
    Ns(Ipv6Addr),
    Na(Ipv6Addr),
    Redirect,
    RouterRenumbering,
    Mld,
    Udp(u16, u16),
    Dhcpv6Server,
    Dhcpv6Client,
    TcpSyn(u16),
}

impl V6 {
    fn is_nd(&self) -> bool {
        matches!(
            self,
            V6::Rs | V6::Ra | V6::Ns(_) | V6::Na(_) | V6::Redirect | V6::RouterRenumbering
        )
    }

    fn label(&self) -> &'static str {
        match self {
            V6::Echo => "echo",
            V6::Rs => "rs",
            V6::Ra => "ra",
            V6::Ns(_) => "ns",
            V6::Na(_) => "na",
            V6::Redirect => "redirect",
            V6::RouterRenumbering => "router-renumbering",
            V6::Mld => "mld-report",
            V6::Udp(..) => "udp",
            V6::Dhcpv6Server => "dhcpv6-server",
            V6::Dhcpv6Client => "dhcpv6-client",
            V6::TcpSyn(_) => "tcp-syn",
        }
    }
}

struct Fuzzer<'a> {
    plan: &'a FuzzPlan,
    rng: Xorshift,
    out: Vec<FuzzFrame>,
}

/// An IPv4 packet the fuzzer chose, before it is built.
struct V4Choice {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    body: V4,
}

impl Fuzzer<'_> {
    fn index(&self) -> u32 {
        self.out.len() as u32
    }

    fn own4(&self) -> Option<Ipv4Addr> {
        self.plan.attacker.ip4
    }

    fn own6(&self) -> Option<Ipv6Addr> {
        self.plan.attacker.ip6
    }

    fn own_ll(&self) -> Ipv6Addr {
        self.plan.attacker.link_local()
    }

    fn other(&mut self) -> Station {
        let i = self.rng.below(self.plan.others.len().max(1));
        self.plan
            .others
            .get(i)
            .copied()
            .unwrap_or(self.plan.gateway)
    }

    fn pick_dst(&mut self) -> Dst {
        let n_ports = self.plan.host_port_macs.len().max(1);
        let n_others = self.plan.others.len().max(1);
        let d = self.rng.weighted(&[
            (26, 0u8),
            (9, 1),
            (7, 2),
            (10, 3),
            (7, 4),
            (9, 5),
            (22, 6),
            (10, 7),
        ]);
        match d {
            0 => Dst::LinkLocal(self.rng.below(16) as u8),
            1 => Dst::Broadcast,
            2 => Dst::Ipv4Multicast,
            3 => Dst::Ipv6Multicast,
            4 => Dst::Bridge,
            5 => Dst::HostPort(self.rng.below(n_ports)),
            6 => Dst::Gateway,
            _ => Dst::Bottle(self.rng.below(n_others)),
        }
    }

    fn dst_mac(&mut self, d: Dst) -> (Mac, &'static str) {
        const LL: [&str; 16] = [
            "link-local-00",
            "link-local-01",
            "link-local-02",
            "link-local-03",
            "link-local-04",
            "link-local-05",
            "link-local-06",
            "link-local-07",
            "link-local-08",
            "link-local-09",
            "link-local-0a",
            "link-local-0b",
            "link-local-0c",
            "link-local-0d",
            "link-local-0e",
            "link-local-0f",
        ];
        match d {
            Dst::LinkLocal(n) => (link_local_group(n), LL[n as usize & 15]),
            Dst::Broadcast => (BROADCAST, "broadcast"),
            Dst::Ipv4Multicast => {
                let g = self.rng.pick(&[
                    Ipv4Addr::new(224, 0, 0, 1),
                    Ipv4Addr::new(224, 0, 0, 251),
                    Ipv4Addr::new(239, 255, 255, 250),
                ]);
                (ipv4_multicast_mac(g), "ipv4-multicast")
            }
            Dst::Ipv6Multicast => {
                let mut groups = vec![
                    "ff02::1".parse().unwrap(),
                    "ff02::2".parse().unwrap(),
                    "ff02::1:2".parse().unwrap(),
                    "ff02::16".parse().unwrap(),
                ];
                if let Some(g) = self.plan.gateway.ip6 {
                    groups.push(solicited_node(g));
                }
                let g = self.rng.pick(&groups);
                (ipv6_multicast_mac(g), "ipv6-multicast")
            }
            Dst::Bridge => (self.plan.bridge_mac, "bridge"),
            Dst::HostPort(i) => (
                self.plan
                    .host_port_macs
                    .get(i)
                    .copied()
                    .unwrap_or(self.plan.bridge_mac),
                "host-veth",
            ),
            Dst::Gateway => (self.plan.gateway.mac, "gateway"),
            Dst::Bottle(i) => (
                self.plan
                    .others
                    .get(i)
                    .map(|s| s.mac)
                    .unwrap_or(self.plan.gateway.mac),
                "bottle",
            ),
        }
    }

    fn pick_src(&mut self) -> Src {
        let n_ports = self.plan.host_port_macs.len().max(1);
        let n_others = self.plan.others.len().max(1);
        match self
            .rng
            .weighted(&[(40, 0u8), (15, 1), (15, 2), (5, 3), (5, 4), (20, 5)])
        {
            0 => Src::Own,
            1 => Src::Gateway,
            2 => Src::Bottle(self.rng.below(n_others)),
            3 => Src::Bridge,
            4 => Src::HostPort(self.rng.below(n_ports)),
            _ => Src::Random,
        }
    }

    fn src_mac(&mut self, s: Src) -> (Mac, &'static str) {
        match s {
            Src::Own => (self.plan.attacker.mac, "own"),
            Src::Gateway => (self.plan.gateway.mac, "gateway"),
            Src::Bottle(i) => (
                self.plan
                    .others
                    .get(i)
                    .map(|s| s.mac)
                    .unwrap_or(self.plan.gateway.mac),
                "bottle",
            ),
            Src::Bridge => (self.plan.bridge_mac, "bridge"),
            Src::HostPort(i) => (
                self.plan
                    .host_port_macs
                    .get(i)
                    .copied()
                    .unwrap_or(self.plan.bridge_mac),
                "host-veth",
            ),
            Src::Random => (self.rng.mac(), "random"),
        }
    }

    /// The class of a frame whose payload `payload_legit` (judged alone)
    /// goes from `src` to `dst`.
    fn class(&self, dst: Dst, src: Src, payload_legit: bool) -> FuzzClass {
        if src != Src::Own || !payload_legit || matches!(dst, Dst::LinkLocal(_)) {
            return FuzzClass::Attack;
        }
        match dst {
            Dst::Bridge | Dst::HostPort(_) => FuzzClass::HostBound,
            Dst::Bottle(_) => FuzzClass::Lateral,
            _ => FuzzClass::Legit,
        }
    }

    fn push(
        &mut self,
        bytes: Vec<u8>,
        class: FuzzClass,
        dst: &'static str,
        src: &'static str,
        what: String,
    ) {
        self.out.push(FuzzFrame {
            bytes,
            class,
            dst,
            src,
            what,
        });
    }

    /// One packet: usually one frame, several for IPv6 fragments.
    fn packet(&mut self) {
        let dst = self.pick_dst();
        let src = self.pick_src();
        let (dmac, dlabel) = self.dst_mac(dst);
        let (smac, slabel) = self.src_mac(src);
        let has4 = self.own4().is_some();
        let has6 = self.own6().is_some();
        let kind = self.rng.weighted(&[
            (15, Kind::Arp),
            (24, Kind::Ipv4),
            (32, Kind::Ipv6),
            (5, Kind::Vlan),
            (3, Kind::QinQ),
            (2, Kind::PppoeDiscovery),
            (2, Kind::PppoeSession),
            (4, Kind::Lldp),
            (3, Kind::Eapol),
            (4, Kind::Llc),
            (6, Kind::Unknown),
        ]);
        let frame_of = |ethertype: u16, payload: &[u8]| eth(dmac, smac, ethertype, payload);
        match kind {
            Kind::Arp => {
                let (arp, legit, what) = self.arp(smac);
                let class = self.class(dst, src, legit && has4);
                let mut p = arp;
                p.extend(fuzz_tag(class, self.index()));
                let f = frame_of(ETH_ARP, &p);
                self.push(f, class, dlabel, slabel, what);
            }
            Kind::Ipv4 => {
                let c = self.v4_choice();
                let legit = has4 && self.v4_legit(&c);
                let class = self.class(dst, src, legit);
                let what = format!("ipv4-{}", v4_label(c.body));
                let p = self.v4_build(&c, smac, class);
                let f = frame_of(ETH_IPV4, &p);
                self.push(f, class, dlabel, slabel, what);
            }
            Kind::Ipv6 => self.ipv6(dst, src, dmac, smac, dlabel, slabel, has6),
            Kind::Vlan | Kind::QinQ => {
                let class = FuzzClass::Attack;
                let c = self.v4_choice();
                let inner = self.v4_build(&c, smac, class);
                let vid = 1 + self.rng.below(4094) as u16;
                let mut p = vlan_tagged(vid, ETH_IPV4, &inner);
                let (outer, what) = if kind == Kind::QinQ {
                    p = vlan_tagged(1 + self.rng.below(4094) as u16, ETH_VLAN, &p);
                    (ETH_QINQ, "qinq-ipv4")
                } else {
                    (ETH_VLAN, "vlan-ipv4")
                };
                let f = frame_of(outer, &p);
                self.push(f, class, dlabel, slabel, what.into());
            }
            Kind::PppoeDiscovery => {
                let class = FuzzClass::Attack;
                let mut p = pppoe_padi();
                p.extend(fuzz_tag(class, self.index()));
                let f = frame_of(ETH_PPPOE_DISCOVERY, &p);
                self.push(f, class, dlabel, slabel, "pppoe-padi".into());
            }
            Kind::PppoeSession => {
                let class = FuzzClass::Attack;
                let c = self.v4_choice();
                let inner = self.v4_build(&c, smac, class);
                let p = pppoe_session(0x1234, 0x0021, &inner);
                let f = frame_of(ETH_PPPOE_SESSION, &p);
                self.push(f, class, dlabel, slabel, "pppoe-session-ipv4".into());
            }
            Kind::Lldp => {
                let class = FuzzClass::Attack;
                let mut p = lldp_pdu(smac);
                p.extend(fuzz_tag(class, self.index()));
                let f = frame_of(ETH_LLDP, &p);
                self.push(f, class, dlabel, slabel, "lldp".into());
            }
            Kind::Eapol => {
                let class = FuzzClass::Attack;
                let mut p = eapol_start();
                p.extend(fuzz_tag(class, self.index()));
                let f = frame_of(ETH_EAPOL, &p);
                self.push(f, class, dlabel, slabel, "eapol-start".into());
            }
            Kind::Llc => {
                let class = FuzzClass::Attack;
                let mut p = stp_config_bpdu(smac);
                p.extend(fuzz_tag(class, self.index()));
                // 802.3: the type field is the length of the LLC payload
                let f = frame_of(p.len() as u16, &p);
                self.push(f, class, dlabel, slabel, "llc-stp-bpdu".into());
            }
            Kind::Unknown => {
                let class = FuzzClass::Attack;
                let ethertype = self.rng.pick(&[
                    0x88b5u16, 0x88b6, 0x9000, 0x1234, 0x0600, 0xffff, 0x8035, 0x8809, 0x88e5,
                    0x8847, 0x22f0, 0x88f7, 0x893a,
                ]);
                let n = self.rng.below(40);
                let mut p = self.rng.bytes(n);
                p.extend(fuzz_tag(class, self.index()));
                let f = frame_of(ethertype, &p);
                self.push(
                    f,
                    class,
                    dlabel,
                    slabel,
                    format!("ethertype-{ethertype:04x}"),
                );
            }
        }
    }

    /// An ARP packet; whether it is legit (own identity, Ethernet/IPv4).
    fn arp(&mut self, frame_src: Mac) -> (Vec<u8>, bool, String) {
        let own = self.plan.attacker;
        let other = self.other();
        let gw = self.plan.gateway;
        let host4 = self
            .plan
            .host_ip4
            .first()
            .copied()
            .unwrap_or(Ipv4Addr::new(203, 0, 113, 1));
        let any4 = |s: Station| s.ip4.unwrap_or(Ipv4Addr::new(10, 89, 0, 250));
        let (sender_ip, who) = self.rng.weighted(&[
            (45, (any4(own), "own")),
            (20, (any4(gw), "claim-gateway")),
            (15, (any4(other), "claim-bottle")),
            (10, (host4, "claim-host")),
            (10, (Ipv4Addr::new(10, 89, 0, 77), "claim-unused")),
        ]);
        let sender_mac = self
            .rng
            .weighted(&[(70, frame_src), (15, own.mac), (15, gw.mac)]);
        let target_ip = self.rng.pick(&[any4(gw), any4(other), host4, any4(own)]);
        let op = self.rng.pick(&[1u16, 2]);
        let mut p = arp(op, sender_mac, sender_ip, [0; 6], target_ip);
        let malformed = self.rng.chance(5);
        if malformed {
            p[1] = 6; // hardware type IEEE 802
            p[5] = 16; // protocol address length
        }
        let legit = !malformed && sender_mac == own.mac && Some(sender_ip) == own.ip4;
        let what = format!(
            "arp-{}-{who}{}",
            if op == 1 { "request" } else { "reply" },
            if malformed { "-malformed" } else { "" }
        );
        (p, legit, what)
    }

    fn v4_choice(&mut self) -> V4Choice {
        let own = self
            .plan
            .attacker
            .ip4
            .unwrap_or(Ipv4Addr::new(10, 89, 0, 250));
        let gw = self.plan.gateway.ip4.unwrap_or(Ipv4Addr::new(10, 89, 0, 1));
        let other = self.other().ip4.unwrap_or(Ipv4Addr::new(10, 89, 0, 251));
        let host = self
            .plan
            .host_ip4
            .first()
            .copied()
            .unwrap_or(Ipv4Addr::new(203, 0, 113, 1));
        let random = Ipv4Addr::new(10, 89, 0, 2 + self.rng.below(250) as u8);
        let src = self.rng.weighted(&[
            (45, own),
            (10, gw),
            (15, other),
            (10, host),
            (10, random),
            (5, Ipv4Addr::UNSPECIFIED),
        ]);
        let dst = self.rng.weighted(&[
            (30, gw),
            (20, host),
            (15, other),
            (10, Ipv4Addr::BROADCAST),
            (5, Ipv4Addr::new(10, 89, 0, 255)),
            (5, Ipv4Addr::new(224, 0, 0, 1)),
            (5, Ipv4Addr::new(224, 0, 0, 251)),
            (5, Ipv4Addr::new(169, 254, 169, 254)),
            (5, random),
        ]);
        let body = self.rng.weighted(&[
            (30, 0u8),
            (10, 1),
            (8, 2),
            (4, 3),
            (15, 4),
            (10, 5),
            (5, 6),
            (8, 7),
        ]);
        let body = match body {
            0 => V4::Echo,
            1 => V4::Udp(
                self.rng.pick(&[53u16, 5353, 40000, 123]),
                self.rng.pick(&[53u16, 5353, 7777, 68, 1900]),
            ),
            2 => V4::DhcpServer,
            3 => V4::DhcpClient,
            4 => V4::TcpSyn(self.rng.pick(&[7777u16, 22, 53, 80])),
            5 => V4::Redirect,
            6 => V4::Igmp,
            _ => V4::Proto253,
        };
        V4Choice { src, dst, body }
    }

    fn v4_legit(&self, c: &V4Choice) -> bool {
        Some(c.src) == self.own4() && !matches!(c.body, V4::DhcpServer | V4::Redirect)
    }

    /// Build the IPv4 packet (TTL 1: nobody routes it on) with the tag in
    /// its payload.
    fn v4_build(&mut self, c: &V4Choice, smac: Mac, class: FuzzClass) -> Vec<u8> {
        let tag = fuzz_tag(class, self.index());
        let (s, d) = (IpAddr::V4(c.src), IpAddr::V4(c.dst));
        let (proto, l4) = match c.body {
            V4::Echo => (1, icmp4_echo_with(0x5a5a, self.index() as u16, &tag)),
            V4::Udp(sp, dp) => (IPPROTO_UDP, udp_segment(s, d, sp, dp, &tag)),
            V4::DhcpServer => {
                let mut b = dhcp_offer(smac, Ipv4Addr::new(10, 89, 0, 99), c.src);
                b.extend(tag);
                (IPPROTO_UDP, udp_segment(s, d, 67, 68, &b))
            }
            V4::DhcpClient => {
                let mut b = dhcp_request(smac, c.src);
                b.extend(tag);
                (IPPROTO_UDP, udp_segment(s, d, 68, 67, &b))
            }
            V4::TcpSyn(port) => (IPPROTO_TCP, tcp_syn_segment(s, d, 40000, port, &tag)),
            V4::Redirect => {
                let quoted = ipv4(
                    self.plan
                        .others
                        .first()
                        .and_then(|o| o.ip4)
                        .unwrap_or(c.dst),
                    Ipv4Addr::new(203, 0, 113, 1),
                    IPPROTO_UDP,
                    &tag,
                );
                (1, icmp4_redirect(c.src, &quoted))
            }
            V4::Igmp => (2, igmp2_report(Ipv4Addr::new(224, 0, 0, 251), &tag)),
            V4::Proto253 => (253, tag.to_vec()),
        };
        ipv4_ttl(c.src, c.dst, proto, 1, &l4)
    }

    #[allow(clippy::too_many_arguments)]
    fn ipv6(
        &mut self,
        dst: Dst,
        src: Src,
        dmac: Mac,
        smac: Mac,
        dlabel: &'static str,
        slabel: &'static str,
        has6: bool,
    ) {
        let own = self.own6().unwrap_or("fd89::fa".parse().unwrap());
        let own_ll = self.own_ll();
        let gw = self.plan.gateway;
        let gw6 = gw.ip6.unwrap_or("fd89::1".parse().unwrap());
        let other = self.other();
        let other6 = other.ip6.unwrap_or("fd89::fb".parse().unwrap());
        let bridge_ll = link_local(self.plan.bridge_mac);
        let port_ll = self
            .plan
            .host_port_macs
            .get(self.rng.below(self.plan.host_port_macs.len().max(1)))
            .map(|m| link_local(*m))
            .unwrap_or(bridge_ll);
        let random_ll = link_local(self.rng.mac());
        let s6 = self.rng.weighted(&[
            (25, own),
            (25, own_ll),
            (10, gw6),
            (5, gw.link_local()),
            (10, other6),
            (5, other.link_local()),
            (5, Ipv6Addr::UNSPECIFIED),
            (10, random_ll),
            (5, port_ll),
        ]);
        let d6 = self.rng.weighted(&[
            (20, gw6),
            (15, "ff02::1".parse().unwrap()),
            (5, "ff02::2".parse().unwrap()),
            (5, "ff02::1:2".parse().unwrap()),
            (5, "ff02::16".parse().unwrap()),
            (10, solicited_node(gw6)),
            (5, solicited_node(other6)),
            (8, bridge_ll),
            (7, port_ll),
            (10, other6),
            (10, gw.link_local()),
        ]);
        let body = match self.rng.weighted(&[
            (18, 0u8),
            (7, 1),
            (15, 2),
            (10, 3),
            (14, 4),
            (7, 5),
            (3, 6),
            (6, 7),
            (5, 8),
            (6, 9),
            (3, 10),
            (6, 11),
        ]) {
            0 => V6::Echo,
            1 => V6::Rs,
            2 => V6::Ra,
            3 => V6::Ns(self.rng.pick(&[gw6, other6, own, port_ll])),
            4 => V6::Na(self.rng.pick(&[gw6, gw6, other6, own, own_ll, bridge_ll])),
            5 => V6::Redirect,
            6 => V6::RouterRenumbering,
            7 => V6::Mld,
            8 => V6::Udp(
                self.rng.pick(&[53u16, 5353, 40000]),
                self.rng.pick(&[53u16, 5353, 7777]),
            ),
            9 => V6::Dhcpv6Server,
            10 => V6::Dhcpv6Client,
            _ => V6::TcpSyn(self.rng.pick(&[7777u16, 22, 53])),
        };
        let src_ok = s6 == own
            || s6 == own_ll
            || (s6.is_unspecified() && matches!(body, V6::Ns(_) | V6::Mld));
        let body_ok = match body {
            V6::Ra | V6::Redirect | V6::RouterRenumbering | V6::Dhcpv6Server => false,
            V6::Na(target) => target == own || target == own_ll,
            _ => true,
        };
        let exts = match self
            .rng
            .weighted(&[(55, 0u8), (15, 1), (15, 2), (5, 3), (10, 4)])
        {
            0 => vec![],
            1 => vec![Ext::HopByHop(vec![])],
            2 => vec![Ext::DestOpts(vec![0; 2 + 8 * self.rng.below(6)])],
            3 => vec![Ext::Routing0(gw6)],
            _ => vec![
                Ext::HopByHop(vec![5, 2, 0, 0]), // router alert (MLD)
                Ext::DestOpts(vec![0; 10]),
            ],
        };
        let hop_limit = if body.is_nd() { 255 } else { 1 };
        let (upper, payload) = {
            // the tag in the upper layer carries the class of the whole
            // packet; fragments also get their own (see below)
            let class = self.class(dst, src, has6 && src_ok && body_ok);
            let tag = fuzz_tag(class, self.index());
            self.v6_upper(s6, d6, body, smac, &tag)
        };
        let what = format!("ipv6-{}", body.label());
        let fragment = self.rng.chance(15);
        if !fragment {
            let class = self.class(dst, src, has6 && src_ok && body_ok);
            let p = ipv6_packet(s6, d6, hop_limit, &exts, upper, &payload);
            let f = eth(dmac, smac, ETH_IPV6, &p);
            self.push(f, class, dlabel, slabel, what);
            return;
        }
        // Fragments: the hop-by-hop header of each carries its own tag.
        // The first fragment is legit only if it holds the whole header
        // chain and the upper-layer header (RFC 7112) of a legit packet: a
        // guard that cannot see the upper-layer header cannot tell an echo
        // from a router advertisement or a DHCPv6 server's reply. Later
        // fragments are judged by their addresses alone, they cannot act
        // by themselves.
        let chunk = self.rng.pick(&[8usize, 16, 24, 48, 96]);
        let (_, chain) = ext_chain(&exts, upper);
        let upper_header = match upper {
            IPPROTO_TCP => 20,
            _ => 8,
        };
        let first_has_upper = chunk >= chain.len() + upper_header;
        let base = self.index();
        let first_class = self.class(dst, src, has6 && src_ok && body_ok && first_has_upper);
        let later_class = self.class(dst, src, has6 && src_ok);
        let class_of = |i: usize| if i == 0 { first_class } else { later_class };
        let frags = ipv6_fragments(
            s6,
            d6,
            hop_limit,
            |i| {
                vec![Ext::HopByHop(ipv6_option_experimental(&fuzz_tag(
                    class_of(i),
                    base + i as u32,
                )))]
            },
            &exts,
            upper,
            &payload,
            chunk,
            0x5eed_0000 | base,
        );
        for (i, p) in frags.into_iter().enumerate() {
            let f = eth(dmac, smac, ETH_IPV6, &p);
            let what = format!("{what}-frag{}", if i == 0 { "1" } else { "n" });
            self.push(f, class_of(i), dlabel, slabel, what);
        }
    }

    /// The upper-layer protocol and payload (checksums for `s6` -> `d6`).
    fn v6_upper(
        &mut self,
        s6: Ipv6Addr,
        d6: Ipv6Addr,
        body: V6,
        smac: Mac,
        tag: &[u8; FUZZ_TAG_LEN],
    ) -> (u8, Vec<u8>) {
        let (s, d) = (IpAddr::V6(s6), IpAddr::V6(d6));
        let nd = |mut m: Vec<u8>| {
            m.extend(nd_option_experimental(tag));
            (IPPROTO_ICMPV6, icmpv6_message(s6, d6, &m))
        };
        match body {
            V6::Echo => (
                IPPROTO_ICMPV6,
                icmpv6_message(s6, d6, &icmp6_echo_with(0x5a5a, 1, tag)),
            ),
            V6::Rs => nd(rs(smac)),
            V6::Ra => {
                let prefix =
                    Ipv6Addr::new(0xfd66, self.rng.below(0x10000) as u16, 0, 0, 0, 0, 0, 0);
                nd(ra_high(smac, prefix))
            }
            V6::Ns(target) => nd(ns(target, smac)),
            V6::Na(target) => nd(na(target, smac, false)),
            V6::Redirect => nd(nd_redirect(s6, "2001:db8::1".parse().unwrap(), smac)),
            V6::RouterRenumbering => nd(router_renumbering()),
            V6::Mld => {
                let mut m = mld2_report("ff02::fb".parse().unwrap());
                m.extend(tag);
                (IPPROTO_ICMPV6, icmpv6_message(s6, d6, &m))
            }
            V6::Udp(sp, dp) => (IPPROTO_UDP, udp_segment(s, d, sp, dp, tag)),
            V6::Dhcpv6Server => (
                IPPROTO_UDP,
                udp_segment(s, d, 547, 546, &dhcpv6(2, self.rng.mac(), smac, tag)),
            ),
            V6::Dhcpv6Client => (
                IPPROTO_UDP,
                udp_segment(s, d, 546, 547, &dhcpv6(1, smac, smac, tag)),
            ),
            V6::TcpSyn(port) => (IPPROTO_TCP, tcp_syn_segment(s, d, 40000, port, tag)),
        }
    }
}

fn v4_label(b: V4) -> &'static str {
    match b {
        V4::Echo => "echo",
        V4::Udp(..) => "udp",
        V4::DhcpServer => "dhcp-server",
        V4::DhcpClient => "dhcp-client",
        V4::TcpSyn(_) => "tcp-syn",
        V4::Redirect => "icmp-redirect",
        V4::Igmp => "igmp",
        V4::Proto253 => "proto-253",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn na_round_trip() {
        let mac = [2, 0, 0, 0, 0, 3];
        let t: Ipv6Addr = "fd89::1".parse().unwrap();
        let f = eth(
            BROADCAST,
            mac,
            ETH_IPV6,
            &icmp6(
                link_local(mac),
                "ff02::1".parse().unwrap(),
                &na(t, mac, false),
            ),
        );
        let s = parse(&f).unwrap();
        assert_eq!(s.icmp6, Some((ICMPV6_NA, Some(t))));
        assert_eq!(s.src_mac, mac);
    }

    #[test]
    fn dhcp_offer_is_udp_67() {
        let f = eth(
            BROADCAST,
            [2, 0, 0, 0, 0, 3],
            ETH_IPV4,
            &udp4(
                Ipv4Addr::new(10, 0, 0, 3),
                Ipv4Addr::BROADCAST,
                67,
                68,
                &dhcp_offer(
                    [2, 0, 0, 0, 0, 4],
                    Ipv4Addr::new(10, 0, 0, 9),
                    Ipv4Addr::new(10, 0, 0, 3),
                ),
            ),
        );
        assert_eq!(parse(&f).unwrap().udp_sport, Some(67));
    }

    fn plan() -> FuzzPlan {
        FuzzPlan {
            attacker: Station {
                mac: [2, 0, 0, 0, 0, 4],
                ip4: Some(Ipv4Addr::new(10, 89, 0, 4)),
                ip6: Some("fd89::4".parse().unwrap()),
            },
            gateway: Station {
                mac: [2, 0x5e, 0, 0, 0, 1],
                ip4: Some(Ipv4Addr::new(10, 89, 0, 1)),
                ip6: Some("fd89::1".parse().unwrap()),
            },
            others: vec![Station {
                mac: [2, 0, 0, 0, 0, 3],
                ip4: Some(Ipv4Addr::new(10, 89, 0, 3)),
                ip6: Some("fd89::3".parse().unwrap()),
            }],
            bridge_mac: [2, 0xbb, 0, 0, 0, 1],
            host_port_macs: vec![[2, 0xcc, 0, 0, 0, 1], [2, 0xcc, 0, 0, 0, 2]],
            host_ip4: vec![Ipv4Addr::new(203, 0, 113, 1)],
        }
    }

    #[test]
    fn fuzzer_is_deterministic_and_tags_every_frame() {
        let a = fuzz_frames(&plan(), 7, 20_000);
        let b = fuzz_frames(&plan(), 7, 20_000);
        assert_eq!(a.len(), 20_000);
        assert!(a.iter().zip(&b).all(|(x, y)| x.bytes == y.bytes));
        for (i, f) in a.iter().enumerate() {
            assert!(
                f.bytes.len() >= 14 && f.bytes.len() <= 1514,
                "frame {i} size"
            );
            assert_eq!(
                find_fuzz_tag(&f.bytes),
                Some((f.class, i as u32)),
                "frame {i}: {}",
                f.what
            );
        }
        let c = fuzz_frames(&plan(), 8, 1000);
        assert!(a.iter().zip(&c).any(|(x, y)| x.bytes != y.bytes));
    }

    #[test]
    fn fuzzer_covers_the_mix() {
        let f = fuzz_frames(&plan(), 1, 100_000);
        for n in 0..16u8 {
            let m = link_local_group(n);
            assert!(
                f.iter().any(|x| x.bytes[..6] == m),
                "link-local group {n:02x}"
            );
        }
        for et in [
            ETH_ARP,
            ETH_IPV4,
            ETH_IPV6,
            ETH_VLAN,
            ETH_QINQ,
            ETH_PPPOE_DISCOVERY,
            ETH_PPPOE_SESSION,
            ETH_LLDP,
            ETH_EAPOL,
        ] {
            assert!(
                f.iter().any(|x| x.bytes[12..14] == et.to_be_bytes()),
                "EtherType {et:04x}"
            );
        }
        assert!(f
            .iter()
            .any(|x| u16::from_be_bytes([x.bytes[12], x.bytes[13]]) < 0x600));
        for class in [
            FuzzClass::Legit,
            FuzzClass::HostBound,
            FuzzClass::Lateral,
            FuzzClass::Attack,
        ] {
            assert!(f.iter().any(|x| x.class == class), "{class:?}");
        }
        for what in [
            "ipv6-ra",
            "ipv6-ra-frag1",
            "ipv6-redirect",
            "ipv6-ns",
            "ipv6-na",
            "ipv6-rs",
            "ipv6-dhcpv6-server",
            "ipv4-dhcp-server",
            "ipv4-tcp-syn",
            "arp-reply-claim-gateway",
        ] {
            assert!(f.iter().any(|x| x.what == what), "{what}");
        }
        // a legit frame is the attacker's own, to the gateway or a group
        for x in f.iter().filter(|x| x.class == FuzzClass::Legit) {
            assert_eq!(x.src, "own");
            assert!(
                ["gateway", "broadcast", "ipv4-multicast", "ipv6-multicast"].contains(&x.dst),
                "{x:?}"
            );
        }
    }

    #[test]
    fn fuzzed_icmpv6_checksums_hold() {
        let f = fuzz_frames(&plan(), 3, 5000);
        let mut checked = 0;
        for x in &f {
            let b = &x.bytes;
            // unfragmented ICMPv6 without extension headers
            if b[12..14] != ETH_IPV6.to_be_bytes() || b[14 + 6] != IPPROTO_ICMPV6 {
                continue;
            }
            let ip = &b[14..];
            let mut src = [0u8; 16];
            src.copy_from_slice(&ip[8..24]);
            let mut dst = [0u8; 16];
            dst.copy_from_slice(&ip[24..40]);
            let icmp = &ip[40..];
            let c = transport_checksum(
                IpAddr::V6(src.into()),
                IpAddr::V6(dst.into()),
                IPPROTO_ICMPV6,
                icmp,
            );
            assert_eq!(c, 0, "{}", x.what);
            checked += 1;
        }
        assert!(checked > 100);
    }

    #[test]
    fn fragments_carry_the_whole_packet() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1".parse().unwrap();
        let body = icmpv6_message(
            src,
            dst,
            &ra_high([2, 0, 0, 0, 0, 1], "fd66::".parse().unwrap()),
        );
        let exts = [Ext::DestOpts(vec![0; 10])];
        let frags = ipv6_fragments(
            src,
            dst,
            255,
            |_| vec![],
            &exts,
            IPPROTO_ICMPV6,
            &body,
            16,
            9,
        );
        let (_, chain) = ext_chain(&exts, IPPROTO_ICMPV6);
        let mut whole: Vec<u8> = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert_eq!(f[6], IPPROTO_FRAGMENT);
            let off = u16::from_be_bytes([f[42], f[43]]);
            assert_eq!((off >> 3) as usize * 8, whole.len());
            assert_eq!(off & 1 == 1, i + 1 < frags.len());
            whole.extend(&f[48..]);
        }
        let mut expect = chain;
        expect.extend(&body);
        assert_eq!(whole, expect);
    }
}
