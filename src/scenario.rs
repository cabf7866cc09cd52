//! SENTRY/BOTTLE topologies built from namespaces, netavark runs and probes.
//!
//! A [`Lab`] is one simulated host: a `host` namespace where netavark runs
//! (bridges, nft rules and sysctls land there), an `outside` namespace
//! reachable from the host over a veth (203.0.113.0/24) with TCP echo
//! servers, a private netavark config dir, and one namespace per container.
//! Dropping the lab removes all of it.

use crate::link;
use crate::netavark::{
    Netavark, Network, NetworkOptions, PerNetworkOptions, Route, Statuses, Subnet,
};
use crate::netns::{unique_tag, Netns, Sandbox};
use crate::probe::{self, TcpEchoServer};
use anyhow::{Context, Result};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const ENCLAVE: &str = "enclave";
pub const ENCLAVE_BRIDGE: &str = "enclave0";
pub const ENCLAVE_ID: &str = "e9c1a7ee9c1a7ee9c1a7ee9c1a7ee9c1a7ee9c1a7ee9c1a7ee9c1a7ee9c1a7ee";
pub const ENCLAVE_GW4: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 1);
pub const ENCLAVE_GW6: Ipv6Addr = Ipv6Addr::new(0xfd89, 0, 0, 0, 0, 0, 0, 1);

pub const UPLINK: &str = "uplink";
pub const UPLINK_BRIDGE: &str = "uplink0";
pub const UPLINK_ID: &str = "0b11c0b11c0b11c0b11c0b11c0b11c0b11c0b11c0b11c0b11c0b11c0b11c0b11";
pub const UPLINK_GW: Ipv4Addr = Ipv4Addr::new(10, 90, 0, 1);
pub const SENTRY_UPLINK_IP: Ipv4Addr = Ipv4Addr::new(10, 90, 0, 2);

/// The host end of the outside link, and the outside namespace's address.
pub const HOST_OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
pub const ECHO_PORT: u16 = 7777;

pub const SENTRY_ID: &str = "5e17a5e17a5e17a5e17a5e17a5e17a5e17a5e17a5e17a5e17a5e17a5e17a5e17";
pub const SENTRY_MAC: &str = "02:5e:00:00:00:01";
pub const SENTRY_MAC_RESTARTED: &str = "02:5e:00:00:00:02";

/// How the enclave network declares its gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayMode {
    /// no `gateway_mode` option (stock network)
    Unset,
    /// `gateway_mode=host`
    Host,
    /// `gateway_mode=container`
    Container,
}

/// The enclave bridge network.
#[derive(Clone, Debug)]
pub struct EnclaveNet {
    pub mode: GatewayMode,
    pub dual_stack: bool,
    pub internal: bool,
    pub dns_enabled: bool,
    /// more network options, e.g. `client_isolation`
    pub extra_options: Vec<(String, String)>,
}

impl EnclaveNet {
    /// A plain stock-style network, DNS disabled (the bridge holds the gateway).
    pub fn plain() -> EnclaveNet {
        EnclaveNet {
            mode: GatewayMode::Unset,
            dual_stack: false,
            internal: false,
            dns_enabled: false,
            extra_options: Vec::new(),
        }
    }

    /// `gateway_mode=container`: the only network on which a container may
    /// be the gateway (`as_gateway=true`).
    pub fn container_mode() -> EnclaveNet {
        EnclaveNet {
            mode: GatewayMode::Container,
            ..EnclaveNet::plain()
        }
    }

    pub fn dual_stack(mut self) -> EnclaveNet {
        self.dual_stack = true;
        self
    }

    /// Another network option.
    pub fn with_option(mut self, key: &str, value: &str) -> EnclaveNet {
        self.extra_options
            .push((key.to_string(), value.to_string()));
        self
    }

    pub fn internal(mut self) -> EnclaveNet {
        self.internal = true;
        self
    }

    /// The gateway addresses, one per subnet.
    pub fn gateways(&self) -> Vec<IpAddr> {
        let mut g = vec![IpAddr::V4(ENCLAVE_GW4)];
        if self.dual_stack {
            g.push(IpAddr::V6(ENCLAVE_GW6));
        }
        g
    }

    /// Addresses of bottle number `i` (0-based): .3, .4, ...
    pub fn bottle_ips(&self, i: u8) -> Vec<IpAddr> {
        let mut v = vec![IpAddr::V4(Ipv4Addr::new(10, 89, 0, 3 + i))];
        if self.dual_stack {
            v.push(IpAddr::V6(Ipv6Addr::new(
                0xfd89,
                0,
                0,
                0,
                0,
                0,
                0,
                3 + i as u16,
            )));
        }
        v
    }

    /// The subnets with their prefixes.
    pub fn subnets(&self) -> Vec<IpNet> {
        let mut v = vec!["10.89.0.0/24".parse().unwrap()];
        if self.dual_stack {
            v.push("fd89::/64".parse().unwrap());
        }
        v
    }

    /// The network as netavark receives it.
    pub fn network(&self) -> Network {
        let mut options = BTreeMap::new();
        match self.mode {
            GatewayMode::Unset => {}
            GatewayMode::Host => {
                options.insert("gateway_mode".to_string(), "host".to_string());
            }
            GatewayMode::Container => {
                options.insert("gateway_mode".to_string(), "container".to_string());
            }
        }
        for (k, v) in &self.extra_options {
            options.insert(k.clone(), v.clone());
        }
        Network {
            dns_enabled: self.dns_enabled,
            driver: "bridge".into(),
            id: ENCLAVE_ID.into(),
            internal: self.internal,
            ipv6_enabled: self.dual_stack,
            name: ENCLAVE.into(),
            network_interface: Some(ENCLAVE_BRIDGE.into()),
            options: (!options.is_empty()).then_some(options),
            subnets: Some(
                self.subnets()
                    .into_iter()
                    .zip(self.gateways())
                    .map(|(subnet, gw)| Subnet {
                        gateway: Some(gw),
                        subnet,
                    })
                    .collect(),
            ),
            ..Network::default()
        }
    }
}

/// The sentry's uplink: a normal stock-style bridge network, gateway on the host.
pub fn uplink_network() -> Network {
    Network {
        dns_enabled: false,
        driver: "bridge".into(),
        id: UPLINK_ID.into(),
        internal: false,
        ipv6_enabled: false,
        name: UPLINK.into(),
        network_interface: Some(UPLINK_BRIDGE.into()),
        subnets: Some(vec![Subnet {
            gateway: Some(IpAddr::V4(UPLINK_GW)),
            subnet: "10.90.0.0/24".parse().unwrap(),
        }]),
        ..Network::default()
    }
}

/// One container: its namespace and the config netavark gets for it.
#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    pub ns: Netns,
    pub config: NetworkOptions,
    pub status: Option<Statuses>,
    /// A router (a sentry): after each setup it turns forwarding on again
    /// when it is the gateway of a network, which netavark turns off in its
    /// namespace.
    pub routes: bool,
}

impl Container {
    /// The per-network options of `net` (mutable, to vary a config).
    pub fn net_opts(&mut self, net: &str) -> &mut PerNetworkOptions {
        self.config
            .networks
            .get_mut(net)
            .expect("network in config")
    }

    pub fn network_info(&mut self, net: &str) -> &mut Network {
        self.config
            .network_info
            .get_mut(net)
            .expect("network in config")
    }

    /// The container's interfaces on the networks where it is the gateway
    /// (`as_gateway=true`).
    pub fn gateway_interfaces(&self) -> Vec<String> {
        self.config
            .networks
            .values()
            .filter(|o| {
                o.options
                    .as_ref()
                    .and_then(|m| m.get("as_gateway"))
                    .map(String::as_str)
                    == Some("true")
            })
            .map(|o| o.interface_name.clone())
            .collect()
    }

    /// Turn forwarding on (IPv4 and IPv6) the way a real sentry does once
    /// its policy is loaded, when it is the gateway of a network: netavark
    /// leaves its namespace with `ip_forward=0` and IPv6
    /// `conf/all/forwarding=0`, and the usual idiom turns both on again for
    /// every interface.
    pub fn start_forwarding_as_gateway(&self) -> Result<()> {
        if !self.gateway_interfaces().is_empty() {
            self.ns.set_sysctl("net/ipv4/ip_forward", "1")?;
            self.ns.set_sysctl("net/ipv6/conf/all/forwarding", "1")?;
        }
        Ok(())
    }
}

/// Config of a sentry: `as_gateway=true`, static_ips = gateways, static MAC,
/// optionally also on the uplink network.
pub fn sentry_config(net: &EnclaveNet, mac: &str, uplink: bool) -> NetworkOptions {
    let mut cfg = NetworkOptions {
        container_id: SENTRY_ID.into(),
        container_name: "sentry".into(),
        ..NetworkOptions::default()
    };
    let mut options = BTreeMap::new();
    options.insert("as_gateway".to_string(), "true".to_string());
    cfg.networks.insert(
        ENCLAVE.into(),
        PerNetworkOptions {
            interface_name: "eth0".into(),
            static_ips: Some(net.gateways()),
            static_mac: Some(mac.into()),
            options: Some(options),
            ..PerNetworkOptions::default()
        },
    );
    cfg.network_info.insert(ENCLAVE.into(), net.network());
    if uplink {
        cfg.networks.insert(
            UPLINK.into(),
            PerNetworkOptions {
                interface_name: "eth1".into(),
                static_ips: Some(vec![IpAddr::V4(SENTRY_UPLINK_IP)]),
                ..PerNetworkOptions::default()
            },
        );
        cfg.network_info.insert(UPLINK.into(), uplink_network());
    }
    cfg
}

/// Config of bottle number `i`.
pub fn bottle_config(net: &EnclaveNet, i: u8) -> NetworkOptions {
    let mut cfg = NetworkOptions {
        container_id: format!("b0771e{i:02x}{}b0", "b0771e".repeat(9)),
        container_name: format!("bottle{i}"),
        ..NetworkOptions::default()
    };
    cfg.networks.insert(
        ENCLAVE.into(),
        PerNetworkOptions {
            interface_name: "eth0".into(),
            static_ips: Some(net.bottle_ips(i)),
            ..PerNetworkOptions::default()
        },
    );
    cfg.network_info.insert(ENCLAVE.into(), net.network());
    cfg
}

/// One simulated host with its containers.
pub struct Lab {
    // servers close their sockets before the sandbox deletes the namespaces
    servers: Vec<TcpEchoServer>,
    pub host: Netns,
    pub outside: Netns,
    pub config_dir: PathBuf,
    pub netavark: Netavark,
    pub sandbox: Sandbox,
}

impl Lab {
    /// A lab with a unique name prefix, running `binary`.
    pub fn new(binary: &Path) -> Result<Lab> {
        Lab::with_prefix(&format!("asg-{}", unique_tag()), binary)
    }

    /// A lab whose namespaces are called `<prefix>-host`, `<prefix>-outside`, ...
    pub fn with_prefix(prefix: &str, binary: &Path) -> Result<Lab> {
        let mut sandbox = Sandbox::new(prefix);
        let config_dir = sandbox.dir(&std::env::temp_dir().join(format!("{prefix}-netavark")))?;
        let host = sandbox.netns("host")?;
        let outside = sandbox.netns("outside")?;
        link::veth_pair(&host, "outside0", &outside, "eth0")?;
        link::add_address(&host, "outside0", IpAddr::V4(HOST_OUTSIDE_IP), 24)?;
        link::add_address(&outside, "eth0", IpAddr::V4(OUTSIDE_IP), 24)?;
        link::add_route(
            &outside,
            "0.0.0.0/0".parse().unwrap(),
            IpAddr::V4(HOST_OUTSIDE_IP),
            0,
        )?;
        let servers = vec![
            TcpEchoServer::start(&outside, SocketAddr::new(IpAddr::V4(OUTSIDE_IP), ECHO_PORT))?,
            TcpEchoServer::start(
                &host,
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ECHO_PORT),
            )?,
        ];
        let netavark = Netavark::new(binary, &config_dir, &host)?;
        Ok(Lab {
            servers,
            host,
            outside,
            config_dir,
            netavark,
            sandbox,
        })
    }

    /// A runner for another binary (same host namespace and config dir).
    pub fn runner(&self, binary: &Path) -> Result<Netavark> {
        Netavark::new(binary, &self.config_dir, &self.host)
    }

    /// A container with its own namespace (`<prefix>-<name>`).
    pub fn container(&mut self, config: NetworkOptions) -> Result<Container> {
        let ns = self.sandbox.netns(&config.container_name)?;
        Ok(Container {
            name: config.container_name.clone(),
            ns,
            config,
            status: None,
            routes: false,
        })
    }

    /// A sentry namespace that forwards IPv4 and IPv6 from the start, like
    /// a namespace that copied `ip_forward=1` from a host running routed
    /// container networks. netavark turns that off when it makes the sentry
    /// a gateway; [`Lab::setup`] turns it on again afterwards, the way a
    /// sentry does once its policy is loaded.
    pub fn sentry(&mut self, config: NetworkOptions) -> Result<Container> {
        let mut c = self.container(config)?;
        c.ns.set_sysctl("net/ipv4/ip_forward", "1")?;
        c.ns.set_sysctl("net/ipv6/conf/all/forwarding", "1")?;
        c.routes = true;
        Ok(c)
    }

    /// `netavark setup` for `c` with this lab's binary; must succeed. A
    /// router then turns forwarding on where it is the gateway.
    pub fn setup(&self, c: &mut Container) -> Result<Statuses> {
        let st = self.netavark.setup(&c.ns, &c.config)?;
        c.status = Some(st.clone());
        if c.routes {
            c.start_forwarding_as_gateway()?;
        }
        Ok(st)
    }

    /// `netavark teardown` for `c`; must succeed.
    pub fn teardown(&self, c: &mut Container) -> Result<()> {
        self.netavark.teardown(&c.ns, &c.config)?;
        c.status = None;
        Ok(())
    }

    /// Host route to the enclave via the sentry's uplink address, so the
    /// outside's replies find their way back (metric 1024, never shadows a
    /// connected route).
    pub fn route_enclave_via_sentry(&self, net: &EnclaveNet) -> Result<()> {
        for s in net.subnets().into_iter().filter(|s| s.addr().is_ipv4()) {
            link::add_route(&self.host, s, IpAddr::V4(SENTRY_UPLINK_IP), 1024)?;
        }
        Ok(())
    }

    /// Whether `from` can ping the outside namespace and talk TCP to it.
    pub fn reaches_outside(&self, from: &Netns) -> Result<bool> {
        Ok(self.outside_hops(from)?.is_some())
    }

    /// Whether `from` reaches the outside (ICMP + TCP echo) through one
    /// more router than the host: the sentry. Judged by the reply's TTL
    /// (the outside answers with 64; host and sentry each take one).
    pub fn reaches_outside_via_sentry(&self, from: &Netns) -> Result<bool> {
        let hops = self.outside_hops(from)?;
        if hops.is_some_and(|h| h != 2) {
            eprintln!(
                "  {} -> outside: reply came back over {} router(s), not host + sentry",
                from.name(),
                hops.unwrap_or(0)
            );
        }
        Ok(hops == Some(2))
    }

    /// Routers between `from` and the outside, if ICMP and TCP both work.
    pub fn outside_hops(&self, from: &Netns) -> Result<Option<u8>> {
        let ttl = probe::ping_ttl(from, IpAddr::V4(OUTSIDE_IP), 3, Duration::from_millis(300))?;
        let tcp = probe::tcp_echo(
            from,
            SocketAddr::new(IpAddr::V4(OUTSIDE_IP), ECHO_PORT),
            Duration::from_millis(500),
        )?;
        if ttl.is_none() || !tcp {
            eprintln!(
                "  {} -> outside {OUTSIDE_IP}: ping {}, tcp echo {}",
                from.name(),
                if ttl.is_some() { "ok" } else { "no answer" },
                if tcp { "ok" } else { "failed" }
            );
            return Ok(None);
        }
        Ok(ttl.map(|t| 64u8.saturating_sub(t)))
    }

    /// Addresses on the enclave bridge (empty if the bridge does not exist).
    pub fn bridge_addresses(&self) -> Result<Vec<IpAddr>> {
        Ok(probe::addresses_of(&self.host, ENCLAVE_BRIDGE)?
            .into_iter()
            .map(|a| a.addr)
            .collect())
    }

    /// Remove everything now (also done on drop).
    pub fn close(mut self) -> Vec<String> {
        self.servers.clear();
        self.sandbox.cleanup()
    }

    /// Keep everything in place after the process exits (`as-gateway up`).
    pub fn keep(mut self) {
        self.servers.clear();
        self.sandbox.keep();
    }
}

/// Addresses (without prefix) of `ifname` in `ns`.
pub fn link_ips(ns: &Netns, ifname: &str) -> Result<Vec<IpAddr>> {
    Ok(probe::addresses_of(ns, ifname)?
        .into_iter()
        .map(|a| a.addr)
        .collect())
}

/// The MAC of `ifname` in `ns`.
pub fn link_mac(ns: &Netns, ifname: &str) -> Result<String> {
    probe::link(ns, ifname)?
        .and_then(|l| l.mac)
        .with_context(|| format!("no link {ifname} in {}", ns.name()))
}

/// The stock zero-patch recipe: an `internal` network whose `routes` send
/// 0.0.0.0/0 via a sentry with a normal static IP (.2).
pub fn baseline_network(route_via_sentry: bool) -> Network {
    let mut n = EnclaveNet::plain().internal().network();
    if route_via_sentry {
        n.routes = Some(vec![Route {
            gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 89, 0, 2))),
            destination: "0.0.0.0/0".parse().unwrap(),
            metric: None,
        }]);
    }
    n
}

/// Baseline sentry (.2, plain, given MAC) and bottle (.3, route via .2).
pub fn baseline_configs(mac: &str) -> (NetworkOptions, NetworkOptions) {
    let mut sentry = NetworkOptions {
        container_id: SENTRY_ID.into(),
        container_name: "sentry".into(),
        ..NetworkOptions::default()
    };
    sentry.networks.insert(
        ENCLAVE.into(),
        PerNetworkOptions {
            interface_name: "eth0".into(),
            static_ips: Some(vec![IpAddr::V4(Ipv4Addr::new(10, 89, 0, 2))]),
            static_mac: Some(mac.into()),
            ..PerNetworkOptions::default()
        },
    );
    sentry
        .network_info
        .insert(ENCLAVE.into(), baseline_network(false));
    (sentry, baseline_bottle_config(0))
}

/// Baseline bottle number `i` (.3, .4, ..., route via the sentry's .2).
pub fn baseline_bottle_config(i: u8) -> NetworkOptions {
    let mut bottle = bottle_config(&EnclaveNet::plain().internal(), i);
    bottle
        .network_info
        .insert(ENCLAVE.into(), baseline_network(true));
    bottle
}

/// What a sentry restart with a new MAC looked like from a bottle.
#[derive(Clone, Debug)]
pub struct Restart {
    /// teardown + setup of the sentry
    pub restart_took: Duration,
    /// from the end of the new setup until the bottle's ping got an answer
    pub resumed_after_setup: Option<Duration>,
    /// the bottle's neighbour entry for the gateway afterwards
    pub neighbour: Option<probe::Neighbour>,
    /// ARP / NA frames the bottle received during the restart and probing
    pub announcements: Vec<(Duration, probe::Announcement)>,
}

/// Restart `sentry` (teardown, then setup with `new_mac`) under `runner`
/// and measure how long `bottle` is cut off from `gateway`, probing every
/// 5 ms up to `limit`. The bottle must already have talked to the gateway.
pub fn restart_sentry(
    runner: &Netavark,
    sentry: &mut Container,
    bottle: &Container,
    net: &str,
    gateway: IpAddr,
    new_mac: &str,
    limit: Duration,
) -> Result<Restart> {
    let capture = probe::Capture::start(&bottle.ns, "eth0")?;
    let mut pinger = probe::Pinger::new(&bottle.ns, gateway)?;
    let t0 = std::time::Instant::now();
    runner.teardown(&sentry.ns, &sentry.config)?;
    sentry.net_opts(net).static_mac = Some(new_mac.to_string());
    sentry.status = Some(runner.setup(&sentry.ns, &sentry.config)?);
    let restart_took = t0.elapsed();
    let resumed_after_setup = probe::time_until(limit, Duration::from_millis(5), || {
        pinger.echo(Duration::from_millis(5))
    })?;
    std::thread::sleep(Duration::from_millis(50));
    let announcements = capture.stop();
    let neighbour = probe::neighbour(&bottle.ns, gateway)?;
    Ok(Restart {
        restart_took,
        resumed_after_setup,
        neighbour,
        announcements,
    })
}
