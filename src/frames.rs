//! Hand-made Ethernet frames for the no-leak tests (what a container with
//! CAP_NET_RAW can put on the wire), and a parser that classifies captured
//! frames for the packet sinks.

use crate::probe::checksum;
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// An IPv4 packet with a correct header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend(len.to_be_bytes());
    h.extend([0, 0, 0x40, 0, 64, proto, 0, 0]);
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
}

pub fn parse(f: &[u8]) -> Option<Seen> {
    if f.len() < 14 {
        return None;
    }
    let mut s = Seen {
        ethertype: u16::from_be_bytes([f[12], f[13]]),
        ..Seen::default()
    };
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
}
