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
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
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
            };
            for a in &m.attributes {
                match a {
                    LinkAttribute::IfName(n) => l.name = n.clone(),
                    LinkAttribute::Address(b) => l.mac = Some(format_mac(b)),
                    LinkAttribute::Controller(c) => l.controller = Some(*c),
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
    let file = ns.file()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = Command::new("nft");
    cmd.args(["-j", "list", "ruleset"]);
    // SAFETY: setns is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().context("run nft -j list ruleset")?;
    drop(file);
    if !out.status.success() {
        anyhow::bail!("nft failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
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

/// The lock file of the owner records, relative to netavark's config dir:
/// the only lock the series creates, documented as persistent.
pub const AS_GATEWAY_LOCK: &str = "as-gateway/as-gateway.lock";

/// Everything a failed setup must leave unchanged in the host namespace.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSnapshot {
    pub links: Vec<String>,
    pub addresses: Vec<Addr>,
    pub routes: Vec<Route>,
    pub nft: String,
    pub config: BTreeMap<PathBuf, Vec<u8>>,
}

impl HostSnapshot {
    pub fn take(host: &Netns, config_dir: &Path) -> Result<HostSnapshot> {
        let owner_lock = config_dir.join(AS_GATEWAY_LOCK);
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
            // the series' lock of the owner records is empty and persistent,
            // it appears on the first gateway claim, also one refused because
            // another container holds the gateway; directory entries only
            // matter through the files in them
            config: dir_snapshot(config_dir)?
                .into_iter()
                .filter(|(p, _)| {
                    !p.as_os_str().to_string_lossy().ends_with('/') && *p != owner_lock
                })
                .collect(),
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

/// Send one raw Ethernet frame out of `ifname` in `ns` (AF_PACKET, what a
/// container with CAP_NET_RAW can do).
pub fn send_frame(ns: &Netns, ifname: &str, frame: &[u8]) -> Result<()> {
    let ifname = ifname.to_string();
    let frame = frame.to_vec();
    ns.run(move || {
        let s = Socket::new(Domain::PACKET, Type::RAW, None).context("AF_PACKET socket")?;
        let idx = nix::net::if_::if_nametoindex(ifname.as_str())
            .with_context(|| format!("no link {ifname}"))?;
        // SAFETY: sockaddr_ll is plain data, fully initialised below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = idx as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: the buffer and address are valid for the call.
        let rc = unsafe {
            libc::sendto(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("send raw frame");
        }
        Ok(())
    })
}

/// Captured frames with their time since the capture started.
type Frames = Arc<Mutex<Vec<(Duration, Vec<u8>)>>>;

/// Captures every frame on one link of a namespace (AF_PACKET) until
/// stopped.
pub struct Capture {
    stop: Arc<AtomicBool>,
    frames: Frames,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    pub fn start(ns: &Netns, ifname: &str) -> Result<Capture> {
        let ifname = ifname.to_string();
        let sock = ns.run(move || {
            let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
            let s = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(proto)))
                .context("AF_PACKET socket")?;
            let idx = nix::net::if_::if_nametoindex(ifname.as_str())
                .with_context(|| format!("no link {ifname}"))?;
            // SAFETY: sockaddr_ll is plain data, fully initialised below.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            sll.sll_ifindex = idx as i32;
            let rc = unsafe {
                libc::bind(
                    std::os::fd::AsRawFd::as_raw_fd(&s),
                    &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error()).context("bind AF_PACKET");
            }
            s.set_read_timeout(Some(Duration::from_millis(10)))?;
            Ok(s)
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (st, fr) = (stop.clone(), frames.clone());
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
            while !st.load(Ordering::SeqCst) {
                if let Ok(n) = sock.recv(&mut buf) {
                    // SAFETY: recv initialised the first n bytes.
                    let data: Vec<u8> = buf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect();
                    fr.lock().unwrap().push((start.elapsed(), data));
                }
            }
        });
        Ok(Capture {
            stop,
            frames,
            thread: Some(thread),
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
    pub fn stop_frames(mut self) -> Vec<(Duration, Vec<u8>)> {
        self.halt();
        std::mem::take(&mut *self.frames.lock().unwrap())
    }

    /// The frames seen so far (the capture goes on).
    pub fn frames(&self) -> Vec<(Duration, Vec<u8>)> {
        self.frames.lock().unwrap().clone()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
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
