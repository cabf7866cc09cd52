//! Reading real state (links, addresses, routes, neighbours, bridge ports,
//! nft ruleset, netavark's config dir) and sending real traffic (ICMP echo,
//! TCP) from inside namespaces; capturing ARP / NA frames.

use crate::link::format_mac;
use crate::netns::Netns;
use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, LinkAttribute, LinkFlags, LinkInfo,
};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteType};
use rtnetlink::RouteMessageBuilder;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ links

/// One link as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub mac: Option<String>,
    pub controller: Option<u32>,
    pub up: bool,
    /// Bridge port STP state if this link is a bridge port (3 = forwarding).
    pub bridge_port_state: Option<u8>,
    /// IFLA_LINK: for a veth, the index of its peer (in the peer's
    /// namespace)
    pub peer_index: Option<u32>,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} kind={} mac={} master={:?} {}",
            self.index,
            self.name,
            self.kind.as_deref().unwrap_or("-"),
            self.mac.as_deref().unwrap_or("-"),
            self.controller,
            if self.up { "UP" } else { "DOWN" }
        )
    }
}

/// All links of a namespace.
pub fn links(ns: &Netns) -> Result<Vec<Link>> {
    ns.netlink(|h| async move {
        let mut out = Vec::new();
        let mut s = h.link().get().execute();
        while let Some(m) = s.try_next().await? {
            let mut l = Link {
                index: m.header.index,
                name: String::new(),
                kind: None,
                mac: None,
                controller: None,
                up: m.header.flags.contains(LinkFlags::Up),
                bridge_port_state: None,
                peer_index: None,
            };
            for a in &m.attributes {
                match a {
                    LinkAttribute::IfName(n) => l.name = n.clone(),
                    LinkAttribute::Address(b) => l.mac = Some(format_mac(b)),
                    LinkAttribute::Controller(c) => l.controller = Some(*c),
                    LinkAttribute::Link(p) => l.peer_index = Some(*p),
                    LinkAttribute::LinkInfo(infos) => {
                        for i in infos {
                            match i {
                                LinkInfo::Kind(k) => l.kind = Some(kind_name(k)),
                                LinkInfo::PortData(InfoPortData::BridgePort(ps)) => {
                                    for p in ps {
                                        if let InfoBridgePort::State(s) = p {
                                            l.bridge_port_state = Some(u8::from(*s));
                                        }
                                    }
                                }
                                LinkInfo::Data(InfoData::Bridge(_)) => {}
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            out.push(l);
        }
        out.sort();
        Ok(out)
    })
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        InfoKind::MacVlan => "macvlan".into(),
        InfoKind::IpVlan => "ipvlan".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The link called `name`, if any.
pub fn link(ns: &Netns, name: &str) -> Result<Option<Link>> {
    Ok(links(ns)?.into_iter().find(|l| l.name == name))
}

/// Links whose controller (master) is the bridge `bridge`.
pub fn bridge_ports(ns: &Netns, bridge: &str) -> Result<Vec<Link>> {
    let all = links(ns)?;
    let Some(br) = all.iter().find(|l| l.name == bridge) else {
        return Ok(Vec::new());
    };
    let idx = br.index;
    Ok(all
        .into_iter()
        .filter(|l| l.controller == Some(idx))
        .collect())
}

/// The host side of a container's veth: the port of `bridge` in `host`
/// whose peer is `ifname` in `container`.
pub fn host_port_of(host: &Netns, bridge: &str, container: &Netns, ifname: &str) -> Result<Link> {
    let inside = link(container, ifname)?
        .with_context(|| format!("no link {ifname} in {}", container.name()))?;
    let peer = inside
        .peer_index
        .with_context(|| format!("{ifname} in {} is not a veth", container.name()))?;
    bridge_ports(host, bridge)?
        .into_iter()
        .find(|p| p.index == peer)
        .with_context(|| {
            format!(
                "no port of {bridge} is the peer of {ifname} in {}",
                container.name()
            )
        })
}

/// Packet counters of one link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// The packet counters of link `name`.
pub fn link_stats(ns: &Netns, name: &str) -> Result<LinkStats> {
    let name = name.to_string();
    ns.netlink(move |h| async move {
        let mut s = h.link().get().match_name(name.clone()).execute();
        let m = s
            .try_next()
            .await?
            .with_context(|| format!("no link {name}"))?;
        for a in &m.attributes {
            if let LinkAttribute::Stats64(st) = a {
                return Ok(LinkStats {
                    rx_packets: st.rx_packets,
                    tx_packets: st.tx_packets,
                    rx_dropped: st.rx_dropped,
                    tx_dropped: st.tx_dropped,
                });
            }
        }
        anyhow::bail!("no stats for {name}")
    })
}

// -------------------------------------------------------------- addresses

/// One address on one link.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Addr {
    pub link: String,
    pub addr: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} dev {}", self.addr, self.prefix, self.link)
    }
}

/// All addresses of a namespace (link-local IPv6 included).
pub fn addresses(ns: &Netns) -> Result<Vec<Addr>> {
    let names: BTreeMap<u32, String> = links(ns)?.into_iter().map(|l| (l.index, l.name)).collect();
    let mut out: Vec<Addr> = ns.netlink(|h| async move {
        let mut out = Vec::new();
        let mut s = h.address().get().execute();
        while let Some(m) = s.try_next().await? {
            let mut local = None;
            let mut addr = None;
            for a in &m.attributes {
                match a {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => addr = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(addr) {
                out.push(Addr {
                    link: m.header.index.to_string(),
                    addr: ip,
                    prefix: m.header.prefix_len,
                });
            }
        }
        Ok(out)
    })?;
    for a in &mut out {
        if let Some(n) = a.link.parse::<u32>().ok().and_then(|i| names.get(&i)) {
            a.link = n.clone();
        }
    }
    out.sort();
    Ok(out)
}

/// Addresses of link `name` (without IPv6 link-local ones).
pub fn addresses_of(ns: &Netns, name: &str) -> Result<Vec<Addr>> {
    Ok(addresses(ns)?
        .into_iter()
        .filter(|a| a.link == name && !is_link_local(a.addr))
        .collect())
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(v4) => v4.is_link_local(),
    }
}

/// Whether any link of `ns` holds `ip`.
pub fn holds_address(ns: &Netns, ip: IpAddr) -> Result<bool> {
    Ok(addresses(ns)?.iter().any(|a| a.addr == ip))
}

// ----------------------------------------------------------------- routes

/// One route (any table).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub table: u32,
    pub dst: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: u32,
    pub kind: String,
}

impl Route {
    pub fn is_default(&self) -> bool {
        self.table == 254 && self.dst.is_none_or(|d| d.prefix_len() == 0) && self.kind == "unicast"
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dst {
            Some(d) => write!(f, "{d}")?,
            None => write!(f, "default")?,
        }
        if let Some(g) = self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        write!(
            f,
            " metric {} table {} {}",
            self.metric, self.table, self.kind
        )
    }
}

/// All IPv4 and IPv6 routes of a namespace, all tables.
pub fn routes(ns: &Netns) -> Result<Vec<Route>> {
    let names: BTreeMap<u32, String> = links(ns)?.into_iter().map(|l| (l.index, l.name)).collect();
    let mut out = ns.netlink(|h| async move {
        let mut out = Vec::new();
        for req in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let mut s = h.route().get(req).execute();
            while let Some(m) = s.try_next().await? {
                let mut r = Route {
                    table: m.header.table as u32,
                    dst: None,
                    gateway: None,
                    dev: None,
                    metric: 0,
                    kind: match m.header.kind {
                        RouteType::Unicast => "unicast".into(),
                        RouteType::Local => "local".into(),
                        RouteType::Broadcast => "broadcast".into(),
                        RouteType::Multicast => "multicast".into(),
                        other => format!("{other:?}").to_lowercase(),
                    },
                };
                let plen = m.header.destination_prefix_length;
                for a in &m.attributes {
                    match a {
                        RouteAttribute::Table(t) => r.table = *t,
                        RouteAttribute::Destination(d) => {
                            r.dst = route_ip(d).and_then(|ip| IpNet::new(ip, plen).ok())
                        }
                        RouteAttribute::Gateway(g) => r.gateway = route_ip(g),
                        RouteAttribute::Oif(i) => r.dev = Some(i.to_string()),
                        RouteAttribute::Priority(p) => r.metric = *p,
                        _ => {}
                    }
                }
                out.push(r);
            }
        }
        Ok(out)
    })?;
    for r in &mut out {
        if let Some(n) = r
            .dev
            .as_ref()
            .and_then(|d| d.parse::<u32>().ok())
            .and_then(|i| names.get(&i))
        {
            r.dev = Some(n.clone());
        }
    }
    out.sort();
    Ok(out)
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// Default routes of the main table.
pub fn default_routes(ns: &Netns) -> Result<Vec<Route>> {
    Ok(routes(ns)?.into_iter().filter(|r| r.is_default()).collect())
}

// ------------------------------------------------------------- neighbours

/// One neighbour (ARP / NDP) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub dev: String,
    pub dst: IpAddr,
    pub mac: Option<String>,
    pub state: String,
}

impl fmt::Display for Neighbour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} dev {} lladdr {} {}",
            self.dst,
            self.dev,
            self.mac.as_deref().unwrap_or("-"),
            self.state
        )
    }
}

/// All IPv4/IPv6 neighbour entries of a namespace.
pub fn neighbours(ns: &Netns) -> Result<Vec<Neighbour>> {
    let names: BTreeMap<u32, String> = links(ns)?.into_iter().map(|l| (l.index, l.name)).collect();
    let mut out: Vec<(u32, Neighbour)> = ns.netlink(|h| async move {
        let mut out = Vec::new();
        let mut s = h.neighbours().get().execute();
        while let Some(m) = s.try_next().await? {
            let mut dst = None;
            let mut mac = None;
            for a in &m.attributes {
                match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                        dst = Some(IpAddr::V4(*v4))
                    }
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                        dst = Some(IpAddr::V6(*v6))
                    }
                    NeighbourAttribute::LinkLayerAddress(b) => mac = Some(format_mac(b)),
                    _ => {}
                }
            }
            if let Some(dst) = dst {
                out.push((
                    m.header.ifindex,
                    Neighbour {
                        dev: String::new(),
                        dst,
                        mac,
                        state: state_name(m.header.state),
                    },
                ));
            }
        }
        Ok(out)
    })?;
    Ok(out
        .drain(..)
        .map(|(i, mut n)| {
            n.dev = names.get(&i).cloned().unwrap_or_else(|| i.to_string());
            n
        })
        .collect())
}

fn state_name(s: NeighbourState) -> String {
    match s {
        NeighbourState::Incomplete => "INCOMPLETE".into(),
        NeighbourState::Reachable => "REACHABLE".into(),
        NeighbourState::Stale => "STALE".into(),
        NeighbourState::Delay => "DELAY".into(),
        NeighbourState::Probe => "PROBE".into(),
        NeighbourState::Failed => "FAILED".into(),
        NeighbourState::Noarp => "NOARP".into(),
        NeighbourState::Permanent => "PERMANENT".into(),
        other => format!("{other:?}").to_uppercase(),
    }
}

/// The neighbour entry for `ip`, if any.
pub fn neighbour(ns: &Netns, ip: IpAddr) -> Result<Option<Neighbour>> {
    Ok(neighbours(ns)?.into_iter().find(|n| n.dst == ip))
}

// ------------------------------------------------------- nft, config dir

/// `nft -j list ruleset` run inside `ns`, without the metainfo entry.
pub fn nft_ruleset(ns: &Netns) -> Result<String> {
    let text = ns.output(&["nft", "-j", "list", "ruleset"])?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse nft json: {text}"))?;
    if let Some(arr) = v.get_mut("nftables").and_then(|a| a.as_array_mut()) {
        arr.retain(|e| e.get("metainfo").is_none());
    }
    Ok(serde_json::to_string_pretty(&v)?)
}

/// Every file under `dir` with its contents.
pub fn dir_snapshot(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
        let Ok(rd) = std::fs::read_dir(d) else {
            return Ok(());
        };
        for e in rd {
            let p = e?.path();
            if p.is_dir() {
                out.insert(p.join(""), Vec::new());
                walk(&p, out)?;
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
        Ok(())
    }
    walk(dir, &mut out)?;
    Ok(out)
}

/// The lock file of the port guards, relative to netavark's config dir: the
/// only lock the series creates, documented as persistent.
pub const PORT_GUARDS_LOCK: &str = "firewall/port-guards.lock";

/// Everything a failed setup must leave unchanged in the host namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSnapshot {
    pub links: Vec<String>,
    pub addresses: Vec<Addr>,
    pub routes: Vec<Route>,
    pub nft: String,
    pub config: BTreeMap<PathBuf, Vec<u8>>,
    /// entries added by hand (static, permanent) of every bridge's
    /// forwarding database; learned ones come and go with traffic
    pub fdb: Vec<String>,
    /// the host-side settings the guards make, per bridge and port:
    /// disable_ipv6, arp_ignore, rp_filter, and the port flags
    pub host_side: Vec<String>,
}

/// The host-side settings of every bridge and bridge port in `host` that
/// the guards of a gateway_mode=container network change.
fn host_side_settings(host: &Netns) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let text = host.output(&["ip", "-d", "-j", "link", "show"])?;
    let all: serde_json::Value = serde_json::from_str(&text)?;
    for l in all.as_array().into_iter().flatten() {
        let name = l["ifname"].as_str().unwrap_or_default();
        let info = &l["linkinfo"];
        let is_bridge = info["info_kind"] == "bridge";
        let port = &info["info_slave_data"];
        if !is_bridge && !port.is_object() {
            continue;
        }
        let mut line = name.to_string();
        for key in [
            "ipv6/conf/{}/disable_ipv6",
            "ipv4/conf/{}/arp_ignore",
            "ipv4/conf/{}/rp_filter",
        ] {
            let key = format!("net/{}", key.replace("{}", name));
            let v = host.sysctl(&key).unwrap_or_default();
            line.push_str(&format!(
                " {}={}",
                key.rsplit('/').next().unwrap_or(""),
                v.trim()
            ));
        }
        if is_bridge {
            line.push_str(&format!(
                " no_linklocal_learn={}",
                info["info_data"]["no_linklocal_learn"]
            ));
        } else {
            for flag in ["learning", "flood", "isolated"] {
                line.push_str(&format!(" {flag}={}", port[flag]));
            }
        }
        out.push(line);
    }
    Ok(out)
}

/// Entries added by hand to the forwarding databases of `host`'s bridges.
fn static_fdb_entries(host: &Netns) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for l in links(host)?
        .into_iter()
        .filter(|l| l.kind.as_deref() == Some("bridge"))
    {
        out.extend(
            fdb(host, &l.name)?
                .into_iter()
                .filter(|e| e.master && e.state == "static")
                .map(|e| e.to_string()),
        );
    }
    Ok(out)
}

impl HostSnapshot {
    pub fn take(host: &Netns, config_dir: &Path) -> Result<HostSnapshot> {
        let guards_lock = config_dir.join(PORT_GUARDS_LOCK);
        Ok(HostSnapshot {
            // MAC/kind/master/up; port state is left out (it moves with time)
            links: links(host)?
                .into_iter()
                .map(|l| {
                    format!(
                        "{} {:?} {:?} {:?} {}",
                        l.name, l.kind, l.mac, l.controller, l.up
                    )
                })
                .collect(),
            addresses: addresses(host)?,
            routes: routes(host)?,
            nft: nft_ruleset(host)?,
            // the series' lock of the port guards is empty and persistent,
            // it appears on the first gateway claim, also one refused because
            // another container holds the gateway; directory entries only
            // matter through the files in them
            config: dir_snapshot(config_dir)?
                .into_iter()
                .filter(|(p, _)| {
                    !p.as_os_str().to_string_lossy().ends_with('/') && *p != guards_lock
                })
                .collect(),
            fdb: static_fdb_entries(host)?,
            host_side: host_side_settings(host)?,
        })
    }

    /// Human-readable differences to `after` (empty when equal).
    pub fn diff(&self, after: &HostSnapshot) -> Vec<String> {
        let mut d = Vec::new();
        fn list<T: fmt::Debug + PartialEq>(what: &str, a: &[T], b: &[T], d: &mut Vec<String>) {
            for x in a.iter().filter(|x| !b.contains(x)) {
                d.push(format!("{what} gone: {x:?}"));
            }
            for x in b.iter().filter(|x| !a.contains(x)) {
                d.push(format!("{what} new: {x:?}"));
            }
        }
        list("link", &self.links, &after.links, &mut d);
        list("address", &self.addresses, &after.addresses, &mut d);
        list("route", &self.routes, &after.routes, &mut d);
        list("static fdb entry", &self.fdb, &after.fdb, &mut d);
        list(
            "host-side setting",
            &self.host_side,
            &after.host_side,
            &mut d,
        );
        if self.nft != after.nft {
            d.push(format!(
                "nft ruleset changed:\n--- before\n{}\n--- after\n{}",
                self.nft, after.nft
            ));
        }
        let ka: Vec<_> = self.config.iter().collect();
        let kb: Vec<_> = after.config.iter().collect();
        for (p, c) in &ka {
            if !kb.contains(&(p, c)) {
                d.push(format!("config file changed or gone: {}", p.display()));
            }
        }
        for (p, _) in kb.iter().filter(|x| !ka.contains(x)) {
            if !self.config.contains_key(*p) {
                d.push(format!("config file new: {}", p.display()));
            }
        }
        d
    }
}

// ---------------------------------------------------------------- traffic

static ICMP_ID: AtomicU16 = AtomicU16::new(0x4a00);

/// An ICMP / ICMPv6 echo client whose raw socket lives in one namespace.
pub struct Pinger {
    sock: Socket,
    dst: IpAddr,
    id: u16,
    seq: u16,
    /// TTL of the last IPv4 echo reply (hops back = 64 - ttl for a Linux peer)
    pub last_ttl: Option<u8>,
}

pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Pinger {
    /// A pinger in `ns` towards `dst`.
    pub fn new(ns: &Netns, dst: IpAddr) -> Result<Pinger> {
        let sock = ns.run(move || {
            let s = match dst {
                IpAddr::V4(_) => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)),
                IpAddr::V6(_) => Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)),
            }
            .context("raw ICMP socket")?;
            Ok(s)
        })?;
        Ok(Pinger {
            sock,
            dst,
            id: ICMP_ID.fetch_add(1, Ordering::SeqCst),
            seq: 0,
            last_ttl: None,
        })
    }

    /// The ICMP identifier and the sequence number of the last request.
    pub fn id_seq(&self) -> (u16, u16) {
        (self.id, self.seq)
    }

    /// One echo request; true when the matching reply from `dst` arrives
    /// within `timeout`. Unreachable destinations give false, not an error.
    pub fn echo(&mut self, timeout: Duration) -> Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let (ty, reply_ty) = match self.dst {
            IpAddr::V4(_) => (8u8, 0u8),
            IpAddr::V6(_) => (128u8, 129u8),
        };
        let mut pkt = vec![ty, 0, 0, 0];
        pkt.extend_from_slice(&self.id.to_be_bytes());
        pkt.extend_from_slice(&self.seq.to_be_bytes());
        pkt.extend_from_slice(b"as-gateway-probe");
        if self.dst.is_ipv4() {
            let c = checksum(&pkt);
            pkt[2..4].copy_from_slice(&c.to_be_bytes());
        }
        let to = SockAddr::from(SocketAddr::new(self.dst, 0));
        if self.sock.send_to(&pkt, &to).is_err() {
            // no route, neighbour failed, ...: nothing was delivered
            std::thread::sleep(timeout);
            return Ok(false);
        }
        let deadline = Instant::now() + timeout;
        let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            self.sock.set_read_timeout(Some(deadline - now))?;
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return Ok(false)
                }
                Err(_) => continue,
            };
            // SAFETY: recv_from initialised the first n bytes.
            let data: Vec<u8> = buf[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect();
            let icmp = match self.dst {
                IpAddr::V4(_) => {
                    let ihl = ((data.first().copied().unwrap_or(0x45) & 0x0f) as usize) * 4;
                    if data.len() < ihl + 8 {
                        continue;
                    }
                    &data[ihl..]
                }
                IpAddr::V6(_) => &data[..],
            };
            let src = from.as_socket().map(|s| s.ip());
            if icmp.len() >= 8
                && icmp[0] == reply_ty
                && u16::from_be_bytes([icmp[4], icmp[5]]) == self.id
                && u16::from_be_bytes([icmp[6], icmp[7]]) == self.seq
                && src == Some(self.dst)
            {
                if self.dst.is_ipv4() {
                    self.last_ttl = data.get(8).copied();
                }
                return Ok(true);
            }
        }
    }
}

/// Ping `dst` from `ns` up to `tries` times; true on the first reply.
pub fn ping(ns: &Netns, dst: IpAddr, tries: u32, timeout: Duration) -> Result<bool> {
    let mut p = Pinger::new(ns, dst)?;
    for _ in 0..tries {
        if p.echo(timeout)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Ping `dst` from `ns`; the TTL of the first reply (None: no reply).
pub fn ping_ttl(ns: &Netns, dst: IpAddr, tries: u32, timeout: Duration) -> Result<Option<u8>> {
    let mut p = Pinger::new(ns, dst)?;
    for _ in 0..tries {
        if p.echo(timeout)? {
            return Ok(p.last_ttl);
        }
    }
    Ok(None)
}

/// Open a TCP connection from `ns` to `to`, send a line and expect it echoed.
pub fn tcp_echo(ns: &Netns, to: SocketAddr, timeout: Duration) -> Result<bool> {
    let sock = ns.run(move || {
        let d = if to.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        Ok(Socket::new(d, Type::STREAM, Some(Protocol::TCP))?)
    })?;
    if sock.connect_timeout(&to.into(), timeout).is_err() {
        return Ok(false);
    }
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(timeout))?;
    let msg = b"as-gateway hello\n";
    if s.write_all(msg).is_err() {
        return Ok(false);
    }
    let mut back = [0u8; 17];
    Ok(s.read_exact(&mut back).is_ok() && &back == msg)
}

/// A TCP echo server in a namespace; stops when dropped.
pub struct TcpEchoServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpEchoServer {
    pub fn start(ns: &Netns, addr: SocketAddr) -> Result<TcpEchoServer> {
        let listener = ns.run(move || {
            let d = if addr.is_ipv4() {
                Domain::IPV4
            } else {
                Domain::IPV6
            };
            let s = Socket::new(d, Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.bind(&addr.into())
                .with_context(|| format!("bind {addr}"))?;
            s.listen(16)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })?;
        let listener: std::net::TcpListener = listener.into();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 512];
                        if let Ok(n) = c.read(&mut buf) {
                            let _ = c.write_all(&buf[..n]);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(TcpEchoServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for TcpEchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Probe every `step` until `probe` is true or `limit` passes; the time it
/// took, or None.
pub fn time_until(
    limit: Duration,
    step: Duration,
    mut probe: impl FnMut() -> Result<bool>,
) -> Result<Option<Duration>> {
    let start = Instant::now();
    loop {
        if probe()? {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() >= limit {
            return Ok(None);
        }
        std::thread::sleep(step);
    }
}

// ---------------------------------------------------------------- capture

/// An address announcement seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// ARP with sender = (mac, ip); `gratuitous` when target ip == sender ip.
    Arp {
        op: u16,
        sender_mac: String,
        sender_ip: Ipv4Addr,
        target_ip: Ipv4Addr,
        gratuitous: bool,
    },
    /// IPv6 neighbour advertisement for `target` from `src_mac`.
    Na {
        src_mac: String,
        target: Ipv6Addr,
        override_flag: bool,
        unsolicited: bool,
    },
}

impl fmt::Display for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Announcement::Arp {
                op,
                sender_mac,
                sender_ip,
                target_ip,
                gratuitous,
            } => write!(
                f,
                "ARP {} {sender_ip} is-at {sender_mac} (target {target_ip}){}",
                if *op == 1 { "request" } else { "reply" },
                if *gratuitous { " gratuitous" } else { "" }
            ),
            Announcement::Na {
                src_mac,
                target,
                override_flag,
                unsolicited,
            } => write!(
                f,
                "NA {target} is-at {src_mac}{}{}",
                if *override_flag { " override" } else { "" },
                if *unsolicited { " unsolicited" } else { "" }
            ),
        }
    }
}

/// Parse one Ethernet frame into an announcement, if it is ARP or an NA.
pub fn parse_announcement(f: &[u8]) -> Option<Announcement> {
    if f.len() < 14 {
        return None;
    }
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match ethertype {
        0x0806 if p.len() >= 28 => {
            let op = u16::from_be_bytes([p[6], p[7]]);
            let sender_ip = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let target_ip = Ipv4Addr::new(p[24], p[25], p[26], p[27]);
            Some(Announcement::Arp {
                op,
                sender_mac: format_mac(&p[8..14]),
                sender_ip,
                target_ip,
                gratuitous: sender_ip == target_ip,
            })
        }
        0x86dd if p.len() >= 40 + 24 && p[6] == 58 && p[40] == 136 => {
            let icmp = &p[40..];
            let flags = icmp[4];
            let mut t = [0u8; 16];
            t.copy_from_slice(&icmp[8..24]);
            let dst_multicast = p[24] == 0xff;
            Some(Announcement::Na {
                src_mac: format_mac(&f[6..12]),
                target: Ipv6Addr::from(t),
                override_flag: flags & 0x20 != 0,
                unsolicited: flags & 0x40 == 0 && dst_multicast,
            })
        }
        _ => None,
    }
}

/// `struct sockaddr_ll` for `ifindex`; `dst` (up to 6 octets) as the
/// link-layer address.
fn sockaddr_ll(ifindex: u32, protocol: u16, dst: &[u8]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as i32;
    let n = dst.len().min(6);
    sll.sll_halen = n as u8;
    sll.sll_addr[..n].copy_from_slice(&dst[..n]);
    sll
}

fn setsockopt<T>(sock: &Socket, level: i32, name: i32, value: &T) -> std::io::Result<()> {
    // SAFETY: `value` is a valid T for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            level,
            name,
            value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// bind(2) `s` to `addr`, a `sockaddr_*` of the socket's family.
fn bind_socket<A>(s: &socket2::Socket, addr: &A) -> std::io::Result<()> {
    // SAFETY: `addr` is a valid, initialised sockaddr of its size for the call.
    let rc = unsafe {
        libc::bind(
            std::os::fd::AsRawFd::as_raw_fd(s),
            addr as *const A as *const libc::sockaddr,
            std::mem::size_of::<A>() as u32,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A large receive buffer (root may exceed rmem_max), so a burst of
/// frames is not lost before the reader gets to it.
fn big_receive_buffer(sock: &Socket, bytes: i32) {
    if setsockopt(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &bytes).is_err() {
        let _ = sock.set_recv_buffer_size(bytes as usize);
    }
}

/// Sends raw Ethernet frames out of one link of a namespace through one
/// AF_PACKET socket: what a container with CAP_NET_RAW can put on the wire.
pub struct FrameSender {
    sock: Socket,
    ifindex: u32,
}

/// What [`FrameSender::send_all`] did.
#[derive(Clone, Debug, Default)]
pub struct SendReport {
    pub sent: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl FrameSender {
    pub fn open(ns: &Netns, ifname: &str) -> Result<FrameSender> {
        let ifname = ifname.to_string();
        ns.run(move || {
            // protocol 0: the socket sends, it receives nothing
            let sock = Socket::new(Domain::PACKET, Type::RAW, None).context("AF_PACKET socket")?;
            let ifindex = nix::net::if_::if_nametoindex(ifname.as_str())
                .with_context(|| format!("no link {ifname}"))?;
            Ok(FrameSender { sock, ifindex })
        })
    }

    /// Send one frame (Ethernet header included). A full queue (ENOBUFS)
    /// is waited out, not reported.
    pub fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        let sll = sockaddr_ll(self.ifindex, 0, frame.get(..6).unwrap_or_default());
        let mut backoff = 0;
        loop {
            // SAFETY: the buffer and address are valid for the call.
            let rc = unsafe {
                libc::sendto(
                    std::os::fd::AsRawFd::as_raw_fd(&self.sock),
                    frame.as_ptr() as *const libc::c_void,
                    frame.len(),
                    0,
                    &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if rc >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOBUFS) && backoff < 1000 {
                backoff += 1;
                std::thread::yield_now();
                continue;
            }
            return Err(e);
        }
    }

    /// Send every frame once, in order; errors are counted, not fatal.
    pub fn send_all<'a>(&self, frames: impl IntoIterator<Item = &'a [u8]>) -> SendReport {
        let start = Instant::now();
        let mut r = SendReport::default();
        for f in frames {
            match self.send(f) {
                Ok(()) => r.sent += 1,
                Err(e) => {
                    r.failed += 1;
                    r.first_error.get_or_insert_with(|| format!("{e}"));
                }
            }
        }
        r.elapsed = start.elapsed();
        r
    }
}

/// Send one raw Ethernet frame out of `ifname` in `ns` (AF_PACKET, what a
/// container with CAP_NET_RAW can do).
pub fn send_frame(ns: &Netns, ifname: &str, frame: &[u8]) -> Result<()> {
    FrameSender::open(ns, ifname)?
        .send(frame)
        .context("send raw frame")
}

/// Which frames of a link a [`Capture`] keeps, seen from that link:
/// `Ingress` what it receives, `Egress` what it transmits. On the host
/// side of a veth, egress is what the bridge delivers to the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Both,
    Ingress,
    Egress,
}

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Captured {
    /// time since the capture started
    pub at: Duration,
    /// transmitted by the link (PACKET_OUTGOING), not received
    pub egress: bool,
    pub data: Vec<u8>,
}

/// Frames a capture kept, and how many the kernel dropped because the
/// socket's buffer was full (the sink missed them).
#[derive(Clone, Debug, Default)]
pub struct CaptureResult {
    pub frames: Vec<Captured>,
    pub dropped: u32,
}

/// Captured frames shared with the capture thread.
type Frames = Arc<Mutex<Vec<Captured>>>;

/// Captures the frames of one link of a namespace (AF_PACKET) until
/// stopped. A classic BPF filter on the packet type keeps only one
/// direction in the kernel, so the frames of the other cost nothing.
pub struct Capture {
    stop: Arc<AtomicBool>,
    frames: Frames,
    thread: Option<JoinHandle<u32>>,
    dropped: u32,
}

/// `SKF_AD_OFF + SKF_AD_PKTTYPE`: the packet type in a classic BPF load.
const BPF_PKTTYPE: u32 = 0xffff_f000 + 4;

/// A classic BPF program that accepts frames by direction.
fn direction_filter(dir: Direction) -> Option<Vec<libc::sock_filter>> {
    let insn = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let (outgoing, other) = match dir {
        Direction::Both => return None,
        Direction::Ingress => (0, 0x0004_0000),
        Direction::Egress => (0x0004_0000, 0),
    };
    Some(vec![
        insn(
            libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
            0,
            0,
            BPF_PKTTYPE,
        ),
        insn(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            0,
            1,
            libc::PACKET_OUTGOING as u32,
        ),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, outgoing),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, other),
    ])
}

/// `struct tpacket_stats`.
#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    packets: u32,
    drops: u32,
}

fn capture_drops(sock: &Socket) -> u32 {
    let mut st = TpacketStats::default();
    let mut len = std::mem::size_of::<TpacketStats>() as libc::socklen_t;
    // SAFETY: st and len are valid for the call.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut st as *mut TpacketStats as *mut libc::c_void,
            &mut len,
        )
    };
    if rc == 0 {
        st.drops
    } else {
        0
    }
}

impl Capture {
    /// Capture both directions.
    pub fn start(ns: &Netns, ifname: &str) -> Result<Capture> {
        Capture::start_direction(ns, ifname, Direction::Both)
    }

    /// Capture the frames of one direction.
    pub fn start_direction(ns: &Netns, ifname: &str, dir: Direction) -> Result<Capture> {
        let ifname = ifname.to_string();
        let sock = ns.run(move || {
            let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
            let s = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(proto)))
                .context("AF_PACKET socket")?;
            if let Some(prog) = direction_filter(dir) {
                let fprog = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut libc::sock_filter,
                };
                setsockopt(&s, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
                    .context("attach the direction filter")?;
            }
            big_receive_buffer(&s, 64 << 20);
            let idx = nix::net::if_::if_nametoindex(ifname.as_str())
                .with_context(|| format!("no link {ifname}"))?;
            bind_socket(&s, &sockaddr_ll(idx, libc::ETH_P_ALL as u16, &[]))
                .context("bind AF_PACKET")?;
            s.set_read_timeout(Some(Duration::from_millis(10)))?;
            Ok(s)
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (st, fr) = (stop.clone(), frames.clone());
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
            let mut buf = vec![0u8; 65536];
            // once stopped, read what is already queued, for a bounded time
            let mut stopped_at: Option<Instant> = None;
            loop {
                if stopped_at.is_none() && st.load(Ordering::SeqCst) {
                    stopped_at = Some(Instant::now());
                }
                if stopped_at.is_some_and(|t| t.elapsed() > Duration::from_millis(200)) {
                    break;
                }
                // SAFETY: sockaddr_ll is plain data.
                let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                // SAFETY: buf, from and len are valid for the call.
                let n = unsafe {
                    libc::recvfrom(
                        fd,
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                        &mut from as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                        &mut len,
                    )
                };
                if n < 0 {
                    // timeout: the queue is empty
                    if stopped_at.is_some() {
                        break;
                    }
                    continue;
                }
                fr.lock().unwrap().push(Captured {
                    at: start.elapsed(),
                    egress: from.sll_pkttype == libc::PACKET_OUTGOING,
                    data: buf[..n as usize].to_vec(),
                });
            }
            capture_drops(&sock)
        });
        Ok(Capture {
            stop,
            frames,
            thread: Some(thread),
            dropped: 0,
        })
    }

    /// Stop and return the announcements seen, with their time since start.
    pub fn stop(self) -> Vec<(Duration, Announcement)> {
        self.stop_frames()
            .into_iter()
            .filter_map(|(t, f)| parse_announcement(&f).map(|a| (t, a)))
            .collect()
    }

    /// Stop and return every frame seen, with its time since start.
    pub fn stop_frames(self) -> Vec<(Duration, Vec<u8>)> {
        self.finish()
            .frames
            .into_iter()
            .map(|c| (c.at, c.data))
            .collect()
    }

    /// Stop (after the frames already queued are read) and return the
    /// frames with their direction, and the kernel's drop count.
    pub fn finish(mut self) -> CaptureResult {
        self.halt();
        CaptureResult {
            frames: std::mem::take(&mut *self.frames.lock().unwrap()),
            dropped: self.dropped,
        }
    }

    /// The frames seen so far (the capture goes on).
    pub fn frames(&self) -> Vec<(Duration, Vec<u8>)> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .map(|c| (c.at, c.data.clone()))
            .collect()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            self.dropped = t.join().unwrap_or(0);
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
}

// ------------------------------------------------------ the host's stack

/// Counter groups whose in-counters the host sinks watch: the pairs of
/// lines of /proc/net/snmp and /proc/net/netstat, and the name prefixes of
/// /proc/net/snmp6.
const IN_COUNTER_GROUPS: &[&str] = &[
    "Ip", "Icmp", "IcmpMsg", "Tcp", "Udp", "UdpLite", "IpExt", "Ip6", "Icmp6", "Udp6", "UdpLite6",
];

/// Whether a counter (named as `nstat` names it) counts something the
/// stack received: `IpInReceives`, `Icmp6InType134`, `UdpNoPorts`,
/// `Ip6ReasmReqds`, ...
pub fn is_in_counter(name: &str) -> bool {
    let Some(group) = IN_COUNTER_GROUPS
        .iter()
        .filter(|g| name.starts_with(**g))
        .max_by_key(|g| g.len())
    else {
        return false;
    };
    let rest = &name[group.len()..];
    rest.starts_with("In")
        || matches!(
            rest,
            "NoPorts"
                | "RcvbufErrors"
                | "IgnoredMulti"
                | "ReasmReqds"
                | "ReasmOKs"
                | "ReasmFails"
                | "ReasmTimeout"
                | "PassiveOpens"
        )
}

/// A snapshot of a namespace's own IP stack counters, named as `nstat -az`
/// names them (`IpInReceives`, `Ip6InDelivers`, `Icmp6InEchos`,
/// `UdpInDatagrams`, `TcpInSegs`, ...): /proc/net/snmp, snmp6 and netstat
/// read inside the namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostCounters {
    pub counters: BTreeMap<String, i64>,
}

impl HostCounters {
    pub fn read(ns: &Netns) -> Result<HostCounters> {
        let mut counters = BTreeMap::new();
        for file in ["snmp", "netstat"] {
            let text = ns.read_proc_net(file)?;
            let lines: Vec<&str> = text.lines().collect();
            for pair in lines.chunks(2) {
                let [names, values] = pair else { continue };
                let (Some((group, names)), Some((_, values))) =
                    (names.split_once(':'), values.split_once(':'))
                else {
                    continue;
                };
                for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                    if let Ok(v) = v.parse::<i64>() {
                        counters.insert(format!("{group}{n}"), v);
                    }
                }
            }
        }
        // no snmp6 without IPv6 in the kernel
        if let Ok(text) = ns.read_proc_net("snmp6") {
            for line in text.lines() {
                let mut it = line.split_whitespace();
                if let (Some(n), Some(Ok(v))) = (it.next(), it.next().map(str::parse::<i64>)) {
                    counters.insert(n.to_string(), v);
                }
            }
        }
        Ok(HostCounters { counters })
    }

    pub fn get(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// The in-counters that moved from `self` to `after`, by how much.
    pub fn in_moved(&self, after: &HostCounters) -> BTreeMap<String, i64> {
        after
            .counters
            .iter()
            .filter(|(n, _)| is_in_counter(n))
            .filter_map(|(n, v)| {
                let d = v - self.get(n);
                (d != 0).then(|| (n.clone(), d))
            })
            .collect()
    }
}

/// Wait until no in-counter of `ns` moves for `quiet`, at most `limit`.
/// Empty when it got quiet, otherwise the last movement seen.
pub fn wait_for_quiet_stack(
    ns: &Netns,
    quiet: Duration,
    limit: Duration,
) -> Result<BTreeMap<String, i64>> {
    let start = Instant::now();
    let mut last = HostCounters::read(ns)?;
    let mut quiet_since = Instant::now();
    let mut moved = BTreeMap::new();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = HostCounters::read(ns)?;
        let m = last.in_moved(&now);
        if !m.is_empty() {
            quiet_since = Instant::now();
            moved = m;
        }
        last = now;
        if quiet_since.elapsed() >= quiet {
            return Ok(BTreeMap::new());
        }
        if start.elapsed() >= limit {
            return Ok(moved);
        }
    }
}

/// Packets counted by the rules of nft table `family table` that have a
/// counter (anonymous, or a named counter of the table), summed per
/// (chain, comment); rules without a comment count under "". Empty when
/// the table does not exist.
pub fn nft_rule_counters(
    ns: &Netns,
    family: &str,
    table: &str,
) -> Result<BTreeMap<(String, String), u64>> {
    let mut out = BTreeMap::new();
    let Ok(text) = ns.output(&["nft", "-j", "list", "table", family, table]) else {
        return Ok(out);
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse nft json: {text}"))?;
    let objects = v["nftables"].as_array().cloned().unwrap_or_default();
    // named counters (`counter name "x"` in a rule refers to one)
    let named: BTreeMap<String, u64> = objects
        .iter()
        .filter_map(|o| o.get("counter"))
        .filter_map(|c| Some((c["name"].as_str()?.to_string(), c["packets"].as_u64()?)))
        .collect();
    for o in &objects {
        let Some(rule) = o.get("rule") else { continue };
        let packets: u64 = rule["expr"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("counter"))
            .filter_map(|c| match c.as_str() {
                Some(name) => named.get(name).copied(),
                None => c["packets"].as_u64(),
            })
            .sum();
        if rule["expr"]
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e.get("counter").is_some()))
        {
            let chain = rule["chain"].as_str().unwrap_or_default().to_string();
            let comment = rule["comment"].as_str().unwrap_or_default().to_string();
            *out.entry((chain, comment)).or_insert(0) += packets;
        }
    }
    Ok(out)
}

/// The drop counters of a network's netdev guard table
/// (`netdev netavark_guard_<bridge>`): packets per (chain, reason). Empty
/// when the guards have no such table.
pub fn guard_drop_counters(host: &Netns, bridge: &str) -> Result<BTreeMap<(String, String), u64>> {
    nft_rule_counters(host, "netdev", &format!("netavark_guard_{bridge}"))
}

/// Our own nft table in the host namespace, not netavark's.
pub const HOST_INPUT_TABLE: &str = "harness_host_input";

/// Counters on the host's input hooks (IPv4, IPv6, ARP) per input device:
/// what the host's stack took in from the bridge and its ports, and from
/// nothing else, so the host's other links add no noise. The counting
/// rules run first (priority -1000) and accept.
pub struct HostInputCounters {
    ns: Netns,
}

impl HostInputCounters {
    /// Count what arrives from each of `devices` from now on.
    pub fn install(ns: &Netns, devices: &[String]) -> Result<HostInputCounters> {
        let mut inet = String::new();
        let mut arp = String::new();
        for d in devices {
            for fam in ["ipv4", "ipv6"] {
                inet.push_str(&format!(
                    "    meta nfproto {fam} iifname \"{d}\" counter comment \"{fam} {d}\"\n"
                ));
            }
            arp.push_str(&format!(
                "    iifname \"{d}\" counter comment \"arp {d}\"\n"
            ));
        }
        let chain = "type filter hook input priority -1000; policy accept;";
        let script = format!(
            "table inet {HOST_INPUT_TABLE}\ndelete table inet {HOST_INPUT_TABLE}\n\
             table arp {HOST_INPUT_TABLE}\ndelete table arp {HOST_INPUT_TABLE}\n\
             table inet {HOST_INPUT_TABLE} {{\n  chain input {{\n    {chain}\n{inet}  }}\n}}\n\
             table arp {HOST_INPUT_TABLE} {{\n  chain input {{\n    {chain}\n{arp}  }}\n}}\n"
        );
        nft_script(ns, &script)?;
        Ok(HostInputCounters { ns: ns.clone() })
    }

    /// Packets so far, by "ipv4 <dev>", "ipv6 <dev>", "arp <dev>".
    pub fn read(&self) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for fam in ["inet", "arp"] {
            for ((_, comment), n) in nft_rule_counters(&self.ns, fam, HOST_INPUT_TABLE)? {
                out.insert(comment, n);
            }
        }
        Ok(out)
    }
}

/// Run an nft script inside `ns` (`nft -f -`).
pub fn nft_script(ns: &Netns, script: &str) -> Result<()> {
    let mut child = ns
        .command("nft")?
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("run nft -f -")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!(
            "nft -f - in {}: {}\n{script}",
            ns.name(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// IPv6 routes learned from router advertisements in `ns` (`ip -6 route
/// show proto ra`, all tables), one line each.
pub fn ra_routes(ns: &Netns) -> Result<Vec<String>> {
    Ok(ns
        .output(&["ip", "-6", "route", "show", "proto", "ra", "table", "all"])?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// IPv6 addresses that stateless autoconfiguration gave `ns` (flag
/// `dynamic`), as `addr/prefix dev <ifname>`.
pub fn slaac_addresses(ns: &Netns) -> Result<Vec<String>> {
    Ok(ns
        .output(&["ip", "-6", "-o", "addr", "show", "dynamic"])?
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && f[2] == "inet6").then(|| format!("{} dev {}", f[3], f[1]))
        })
        .collect())
}

/// Forget what router advertisements taught `ns`: its RA routes and
/// SLAAC addresses (resets the RA sinks between runs).
pub fn forget_router_advertisements(ns: &Netns) -> Result<()> {
    let _ = ns.output(&["ip", "-6", "route", "flush", "proto", "ra"]);
    for a in slaac_addresses(ns)? {
        let f: Vec<&str> = a.split_whitespace().collect();
        let _ = ns.output(&["ip", "-6", "addr", "del", f[0], "dev", f[2]]);
    }
    Ok(())
}

// ------------------------------------------------- bridge forwarding table

/// One entry of a bridge's forwarding database (`bridge fdb show br`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FdbEntry {
    pub mac: String,
    /// the port (or the bridge itself, for its own entries)
    pub port: String,
    pub vlan: Option<u16>,
    /// "" (learned), "static" or "permanent" (local, or added permanent)
    pub state: String,
    /// an entry of the bridge (`master`), not of the device itself (`self`)
    pub master: bool,
}

impl fmt::Display for FdbEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.mac, self.port)?;
        if let Some(v) = self.vlan {
            write!(f, " vlan {v}")?;
        }
        if self.master {
            write!(f, " master")?;
        }
        if !self.state.is_empty() {
            write!(f, " {}", self.state)?;
        }
        Ok(())
    }
}

/// The forwarding database of `bridge` in `host`.
pub fn fdb(host: &Netns, bridge: &str) -> Result<Vec<FdbEntry>> {
    let text = host.output(&["bridge", "-j", "fdb", "show", "br", bridge])?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse bridge fdb json: {text}"))?;
    let mut out: Vec<FdbEntry> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| FdbEntry {
            mac: e["mac"].as_str().unwrap_or_default().to_string(),
            port: e["ifname"].as_str().unwrap_or_default().to_string(),
            vlan: e["vlan"].as_u64().map(|v| v as u16),
            state: e["state"].as_str().unwrap_or_default().to_string(),
            master: e.get("master").is_some(),
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Whether `mac` (`aa:bb:...`) is a group address.
fn is_multicast_mac(mac: &str) -> bool {
    u8::from_str_radix(mac.get(..2).unwrap_or("00"), 16).is_ok_and(|b| b & 1 == 1)
}

/// Flush what port `port` learned (its dynamic entries): a sink's reset,
/// so an entry learned in one run does not hide the same entry in the
/// next.
pub fn flush_learned(host: &Netns, port: &str) -> Result<()> {
    host.output(&[
        "ip",
        "link",
        "set",
        "dev",
        port,
        "type",
        "bridge_slave",
        "fdb_flush",
    ])?;
    Ok(())
}

/// One change of a bridge forwarding entry, as the kernel announced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdbEvent {
    pub at: Duration,
    pub mac: String,
    pub port_index: u32,
    pub deleted: bool,
}

/// Watches every change of the bridge forwarding entries of a namespace
/// (rtnetlink group RTNLGRP_NEIGH, family AF_BRIDGE): an entry that moves
/// for a moment and moves back is seen too.
pub struct FdbWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(Vec<FdbEvent>, bool)>>,
}

/// The changes a [`FdbWatch`] saw; `overflowed` when the kernel dropped
/// some (the socket's buffer was full).
#[derive(Clone, Debug, Default)]
pub struct FdbChanges {
    pub events: Vec<FdbEvent>,
    pub overflowed: bool,
}

/// Parse rtnetlink messages: the AF_BRIDGE neighbour changes among them.
fn parse_fdb_events(buf: &[u8], at: Duration, out: &mut Vec<FdbEvent>) {
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
        if len < 16 || off + len > buf.len() {
            break;
        }
        let msg = &buf[off + 16..off + len];
        if (ty == libc::RTM_NEWNEIGH || ty == libc::RTM_DELNEIGH)
            && msg.len() >= 12
            && msg[0] == libc::AF_BRIDGE as u8
        {
            let ifindex = i32::from_ne_bytes(msg[4..8].try_into().unwrap()) as u32;
            let mut a = 12;
            while a + 4 <= msg.len() {
                let alen = u16::from_ne_bytes(msg[a..a + 2].try_into().unwrap()) as usize;
                let aty = u16::from_ne_bytes(msg[a + 2..a + 4].try_into().unwrap());
                if alen < 4 || a + alen > msg.len() {
                    break;
                }
                if aty == libc::NDA_LLADDR && alen >= 10 {
                    out.push(FdbEvent {
                        at,
                        mac: format_mac(&msg[a + 4..a + 10]),
                        port_index: ifindex,
                        deleted: ty == libc::RTM_DELNEIGH,
                    });
                }
                a += (alen + 3) & !3;
            }
        }
        off += (len + 3) & !3;
    }
}

impl FdbWatch {
    pub fn start(host: &Netns) -> Result<FdbWatch> {
        let sock = host.run(|| {
            let s = Socket::new(
                Domain::from(libc::AF_NETLINK),
                Type::RAW,
                Some(Protocol::from(libc::NETLINK_ROUTE)),
            )
            .context("netlink socket")?;
            big_receive_buffer(&s, 32 << 20);
            // SAFETY: sockaddr_nl is plain data.
            let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            sa.nl_family = libc::AF_NETLINK as u16;
            sa.nl_groups = libc::RTMGRP_NEIGH as u32;
            bind_socket(&s, &sa).context("bind RTMGRP_NEIGH")?;
            s.set_read_timeout(Some(Duration::from_millis(20)))?;
            Ok(s)
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut events = Vec::new();
            let mut overflowed = false;
            let mut buf = vec![MaybeUninit::<u8>::uninit(); 1 << 16];
            let mut stopped_at: Option<Instant> = None;
            loop {
                if stopped_at.is_none() && st.load(Ordering::SeqCst) {
                    stopped_at = Some(Instant::now());
                }
                if stopped_at.is_some_and(|t| t.elapsed() > Duration::from_millis(200)) {
                    break;
                }
                match sock.recv(&mut buf) {
                    Ok(n) => {
                        // SAFETY: recv initialised the first n bytes.
                        let data: Vec<u8> = buf[..n]
                            .iter()
                            .map(|b| unsafe { b.assume_init() })
                            .collect();
                        parse_fdb_events(&data, start.elapsed(), &mut events);
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => overflowed = true,
                    Err(_) => {
                        if stopped_at.is_some() {
                            break;
                        }
                    }
                }
            }
            (events, overflowed)
        });
        Ok(FdbWatch {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) -> FdbChanges {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok((events, overflowed))) => FdbChanges { events, overflowed },
            _ => FdbChanges::default(),
        }
    }
}

impl Drop for FdbWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a bridge's forwarding database showed while one port attacked.
#[derive(Clone, Debug, Default)]
pub struct FdbFindings {
    /// announcements that put a MAC of another port (the gateway's, a
    /// bottle's, a host veth's, ...) on the attacker's port
    pub moved_events: usize,
    /// those MACs, with the port they were on before
    pub moved: BTreeMap<String, String>,
    /// MACs the attacker's port learned that are neither its own nor its
    /// container's, nor another port's (forged or random)
    pub foreign: BTreeSet<String>,
    /// the watch missed announcements (its buffer overflowed)
    pub overflowed: bool,
}

impl FdbFindings {
    /// MACs of other ports that moved, plus foreign MACs learned.
    pub fn total(&self) -> usize {
        self.moved.len() + self.foreign.len()
    }
}

/// The forwarding-database sink for an attack from one port: a snapshot
/// before, every change during, a snapshot after.
pub struct FdbSink {
    host: Netns,
    bridge: String,
    attacker_port: Link,
    own: BTreeSet<String>,
    before: Vec<FdbEntry>,
    watch: FdbWatch,
}

impl FdbSink {
    /// Watch `bridge` while `attacker_port` attacks; `own_macs` (the
    /// attacker container's MAC) may sit on its port.
    pub fn start(
        host: &Netns,
        bridge: &str,
        attacker_port: &Link,
        own_macs: &[String],
    ) -> Result<FdbSink> {
        let watch = FdbWatch::start(host)?;
        let before = fdb(host, bridge)?;
        let mut own: BTreeSet<String> = own_macs.iter().map(|m| m.to_lowercase()).collect();
        own.extend(attacker_port.mac.clone());
        Ok(FdbSink {
            host: host.clone(),
            bridge: bridge.to_string(),
            attacker_port: attacker_port.clone(),
            own,
            before,
            watch,
        })
    }

    pub fn finish(self) -> Result<FdbFindings> {
        let changes = self.watch.stop();
        let after = fdb(&self.host, &self.bridge)?;
        let port = &self.attacker_port.name;
        // the bridge's own entries for unicast MACs: what it learns or is
        // given (a port device's own address lists, `self`, do not count)
        let bridge_entry = |e: &&FdbEntry| e.master && !is_multicast_mac(&e.mac);
        // every MAC that was on another port (or on the bridge itself)
        let elsewhere: BTreeMap<String, String> = self
            .before
            .iter()
            .filter(bridge_entry)
            .filter(|e| &e.port != port)
            .map(|e| (e.mac.clone(), e.port.clone()))
            .collect();
        let mut f = FdbFindings {
            overflowed: changes.overflowed,
            ..FdbFindings::default()
        };
        let judge = |mac: &str, f: &mut FdbFindings| {
            if let Some(from) = elsewhere.get(mac) {
                f.moved.insert(mac.to_string(), from.clone());
            } else if !self.own.contains(mac) {
                f.foreign.insert(mac.to_string());
            }
        };
        for e in changes.events.iter().filter(|e| {
            e.port_index == self.attacker_port.index && !e.deleted && !is_multicast_mac(&e.mac)
        }) {
            if elsewhere.contains_key(&e.mac) {
                f.moved_events += 1;
            }
            judge(&e.mac, &mut f);
        }
        for e in after
            .iter()
            .filter(bridge_entry)
            .filter(|e| &e.port == port)
        {
            judge(&e.mac, &mut f);
        }
        Ok(f)
    }
}

// ----------------------------------------------------------- continuity

/// Echo requests sent and answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EchoCounts {
    pub sent: u32,
    pub answered: u32,
}

impl EchoCounts {
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.answered)
    }
}

/// A steady stream of ICMP (v6) echo requests from a namespace to one
/// address, one every `interval`, whose replies are counted as they come
/// (a late reply still counts): the continuity of a path under attack.
pub struct EchoStream {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<EchoCounts>>,
}

impl EchoStream {
    pub fn start(ns: &Netns, dst: IpAddr, interval: Duration) -> Result<EchoStream> {
        let sock = ns.run(move || {
            let s = match dst {
                IpAddr::V4(_) => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)),
                IpAddr::V6(_) => Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)),
            }
            .context("raw ICMP socket")?;
            Ok(s)
        })?;
        let id = ICMP_ID.fetch_add(1, Ordering::SeqCst);
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || {
            let (ty, reply_ty) = match dst {
                IpAddr::V4(_) => (8u8, 0u8),
                IpAddr::V6(_) => (128u8, 129u8),
            };
            let to = SockAddr::from(SocketAddr::new(dst, 0));
            let mut answered = std::collections::BTreeSet::new();
            let mut sent: u16 = 0;
            let mut next = Instant::now();
            let mut stopped_at: Option<Instant> = None;
            let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
            loop {
                if stopped_at.is_none() && st.load(Ordering::SeqCst) {
                    stopped_at = Some(Instant::now());
                }
                if let Some(t) = stopped_at {
                    // late replies: wait for them up to a second
                    if answered.len() >= sent as usize || t.elapsed() > Duration::from_secs(1) {
                        break;
                    }
                } else if Instant::now() >= next {
                    sent = sent.wrapping_add(1);
                    let mut pkt = vec![ty, 0, 0, 0];
                    pkt.extend(id.to_be_bytes());
                    pkt.extend(sent.to_be_bytes());
                    pkt.extend(b"as-gateway-continuity");
                    if dst.is_ipv4() {
                        let c = checksum(&pkt);
                        pkt[2..4].copy_from_slice(&c.to_be_bytes());
                    }
                    let _ = sock.send_to(&pkt, &to);
                    next += interval;
                }
                let wait = next
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), Duration::from_millis(20));
                let _ = sock.set_read_timeout(Some(wait));
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                // SAFETY: recv_from initialised the first n bytes.
                let data: Vec<u8> = buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                let icmp = match dst {
                    IpAddr::V4(_) => {
                        let ihl = ((data.first().copied().unwrap_or(0x45) & 0x0f) as usize) * 4;
                        data.get(ihl..).unwrap_or_default()
                    }
                    IpAddr::V6(_) => &data[..],
                };
                if icmp.len() >= 8
                    && icmp[0] == reply_ty
                    && u16::from_be_bytes([icmp[4], icmp[5]]) == id
                    && from.as_socket().map(|s| s.ip()) == Some(dst)
                {
                    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
                    if seq >= 1 && seq <= sent {
                        answered.insert(seq);
                    }
                }
            }
            EchoCounts {
                sent: sent as u32,
                answered: answered.len() as u32,
            }
        });
        Ok(EchoStream {
            stop,
            thread: Some(thread),
        })
    }

    /// Stop sending; the counts once the last replies are in (at most a
    /// second later).
    pub fn stop(mut self) -> EchoCounts {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for EchoStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------- positive controls

/// The bridge-port settings a guard may have changed, and their stock
/// values: what [`strip_guards`] puts back.
const STOCK_PORT_FLAGS: &[(&str, &str)] = &[
    ("learning", "on"),
    ("isolated", "off"),
    ("locked", "off"),
    ("flood", "on"),
    ("mcast_flood", "on"),
    ("bcast_flood", "on"),
    ("neigh_suppress", "off"),
    ("group_fwd_mask", "0"),
];

/// The sysctls of the host side a guard may have changed (per device),
/// and the values that let the host's stack take everything: the positive
/// control's "no guard".
const OPEN_HOST_SYSCTLS: &[(&str, &str)] = &[
    ("net/ipv6/conf/{}/disable_ipv6", "0"),
    ("net/ipv6/conf/{}/forwarding", "0"),
    ("net/ipv6/conf/{}/accept_ra", "1"),
    ("net/ipv6/conf/{}/accept_ra_defrtr", "1"),
    ("net/ipv6/conf/{}/accept_ra_pinfo", "1"),
    ("net/ipv6/conf/{}/autoconf", "1"),
    ("net/ipv4/conf/{}/arp_ignore", "0"),
    ("net/ipv4/conf/{}/rp_filter", "0"),
];

/// The bridge-port attributes of `dev` as `ip -d -j link show` reports
/// them (`info_slave_data`), or of the bridge (`info_data`).
fn link_details(host: &Netns, dev: &str, key: &str) -> BTreeMap<String, String> {
    host.output(&["ip", "-d", "-j", "link", "show", "dev", dev])
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v[0]["linkinfo"][key].as_object().cloned())
        .map(|m| m.into_iter().map(|(k, v)| (k, v.to_string())).collect())
        .unwrap_or_default()
}

/// Remove every guard layer of `bridge`'s network, whatever its shape:
/// the positive control. Deletes the nft tables `netavark_guard_<bridge>`
/// of every family (bridge, netdev, ...); puts each port's flags back to
/// stock (learning on, isolated off, ...) and deletes the static entries
/// for container MACs; sets the bridge's `no_linklocal_learn 0`; removes
/// tc ingress qdiscs of the ports; and opens the host side (IPv6 on,
/// accept_ra, no arp_ignore, no rp_filter). Returns what it changed, one
/// line each.
pub fn strip_guards(host: &Netns, bridge: &str) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let table = format!("netavark_guard_{bridge}");
    let tables: serde_json::Value =
        serde_json::from_str(&host.output(&["nft", "-j", "list", "tables"])?)?;
    for t in tables["nftables"].as_array().into_iter().flatten() {
        let t = &t["table"];
        if t["name"].as_str() == Some(table.as_str()) {
            let family = t["family"].as_str().unwrap_or_default();
            host.output(&["nft", "delete", "table", family, &table])?;
            done.push(format!("deleted nft table {family} {table}"));
        }
    }
    let ports = bridge_ports(host, bridge)?;
    for p in &ports {
        let before = link_details(host, &p.name, "info_slave_data");
        for (flag, value) in STOCK_PORT_FLAGS {
            let _ = host.output(&[
                "ip",
                "link",
                "set",
                "dev",
                &p.name,
                "type",
                "bridge_slave",
                flag,
                value,
            ]);
        }
        let after = link_details(host, &p.name, "info_slave_data");
        for (k, v) in &after {
            if before.get(k).is_some_and(|b| b != v) {
                done.push(format!("{}: {k} {} -> {v}", p.name, before[k]));
            }
        }
        for qdisc in ["clsact", "ingress"] {
            if host
                .output(&["tc", "qdisc", "del", "dev", &p.name, qdisc])
                .is_ok()
            {
                done.push(format!("{}: deleted tc qdisc {qdisc}", p.name));
            }
        }
    }
    for e in fdb(host, bridge)? {
        let Some(p) = ports.iter().find(|p| p.name == e.port) else {
            continue;
        };
        let static_entry = e.master && (e.state == "static" || e.state == "permanent");
        if !static_entry || p.mac.as_deref() == Some(e.mac.as_str()) {
            continue;
        }
        let mut args = vec!["bridge", "fdb", "del", &e.mac, "dev", &e.port, "master"];
        let vlan = e.vlan.map(|v| v.to_string());
        if let Some(v) = &vlan {
            args.extend(["vlan", v.as_str()]);
        }
        if host.output(&args).is_ok() {
            done.push(format!("deleted fdb entry {e}"));
        }
    }
    let before = link_details(host, bridge, "info_data");
    let _ = host.output(&[
        "ip",
        "link",
        "set",
        "dev",
        bridge,
        "type",
        "bridge",
        "no_linklocal_learn",
        "0",
    ]);
    let after = link_details(host, bridge, "info_data");
    for (k, v) in &after {
        if before.get(k).is_some_and(|b| b != v) {
            done.push(format!("{bridge}: {k} {} -> {v}", before[k]));
        }
    }
    let mut devices = vec![bridge.to_string()];
    devices.extend(ports.iter().map(|p| p.name.clone()));
    let mut sysctls: Vec<(String, &str)> = vec![
        ("net/ipv4/conf/all/rp_filter".into(), "0"),
        ("net/ipv4/conf/all/arp_ignore".into(), "0"),
    ];
    for d in &devices {
        for (key, value) in OPEN_HOST_SYSCTLS {
            sysctls.push((key.replace("{}", d), value));
        }
    }
    for (key, value) in sysctls {
        let Ok(old) = host.sysctl(&key) else { continue };
        if old != value {
            host.set_sysctl(&key, value)?;
            done.push(format!("{key} {old} -> {value}"));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gratuitous_arp() {
        let mut f = vec![0xff; 6];
        f.extend([2, 0x5e, 0, 0, 0, 1, 0x08, 0x06]);
        f.extend([0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend([2, 0x5e, 0, 0, 0, 1, 10, 89, 0, 1]);
        f.extend([0, 0, 0, 0, 0, 0, 10, 89, 0, 1]);
        assert_eq!(
            parse_announcement(&f),
            Some(Announcement::Arp {
                op: 1,
                sender_mac: "02:5e:00:00:00:01".into(),
                sender_ip: Ipv4Addr::new(10, 89, 0, 1),
                target_ip: Ipv4Addr::new(10, 89, 0, 1),
                gratuitous: true,
            })
        );
    }

    #[test]
    fn parses_unsolicited_na() {
        let mut f = vec![0x33, 0x33, 0, 0, 0, 1, 2, 0x5e, 0, 0, 0, 1, 0x86, 0xdd];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 32, 58, 255];
        ip6.extend(Ipv6Addr::new(0xfd89, 0, 0, 0, 0, 0, 0, 1).octets());
        ip6.extend(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets());
        f.extend(ip6);
        f.extend([136, 0, 0, 0, 0x20, 0, 0, 0]);
        f.extend(Ipv6Addr::new(0xfd89, 0, 0, 0, 0, 0, 0, 1).octets());
        assert_eq!(
            parse_announcement(&f),
            Some(Announcement::Na {
                src_mac: "02:5e:00:00:00:01".into(),
                target: Ipv6Addr::new(0xfd89, 0, 0, 0, 0, 0, 0, 1),
                override_flag: true,
                unsolicited: true,
            })
        );
    }

    #[test]
    fn icmp_checksum_of_echo_request() {
        // type 8, code 0, id 1, seq 1: checksum 0xf7fd
        let pkt = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(checksum(&pkt), 0xf7fd);
    }
}
