//! `as-gateway demo | up | down | bench`: see `as-gateway help`.

use anyhow::{bail, Context, Result};
use as_gateway::netavark::{patched_binary, stock_binary};
use as_gateway::netns::Netns;
use as_gateway::probe;
use as_gateway::scenario::*;
use std::net::IpAddr;
use std::time::Duration;

const USAGE: &str = "\
usage: as-gateway <command> [options]

  demo                 stand up a SENTRY/BOTTLE topology in namespaces with the
                       patched netavark, narrate what it proves, tear it down
  up                   stand up the same topology and leave it in place
                       (namespaces asg-demo-*, poke with `ip netns exec`)
  down [--all]         remove what `up` left; --all also removes namespaces and
                       config dirs (asg-*) left by killed test runs
  bench [-n N] [--clients C] [--tcp-secs S] [--tcp-runs R] [--pre-guard PATH]
                       like-for-like ratios measured in one run: setup+teardown
                       of one guarded client (SENTRY up) vs one stock container
                       on an --internal network, N interleaved rounds (default
                       20); TCP client->SENTRY vs container->container with 1
                       and C clients (default 200), R runs of S s (5 x 2 s);
                       setup of the Cth client vs the 1st; with a netavark of
                       the series before the guards, also what the guards cost

environment: AS_GATEWAY_NETAVARK (patched binary, default build/bin/netavark),
             AS_GATEWAY_NETAVARK_STOCK (default build/bin/netavark-stock),
             AS_GATEWAY_NETAVARK_PREGUARD (the --pre-guard binary)";

const DEMO_PREFIX: &str = "asg-demo";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("up") => up(),
        Some("down") => down(args.get(1).map(String::as_str) == Some("--all")),
        Some("bench") => bench(&args[1..]),
        Some("help") | Some("-h") | Some("--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("as-gateway: {e:#}");
        std::process::exit(1);
    }
}

/// What the topology consists of once it is up.
struct Topology {
    lab: Lab,
    net: EnclaveNet,
    sentry: Container,
    bottle: Container,
}

fn say(s: &str) {
    println!("{s}");
}

fn show_routes(ns: &Netns) -> Result<()> {
    for r in probe::routes(ns)?.iter().filter(|r| r.table == 254) {
        println!("      {r}");
    }
    Ok(())
}

/// Bottle first on a gateway_mode=container network (the only kind a
/// container may be the gateway of: the bridge never holds .1, so the
/// bottle reaches nothing until the sentry comes), then a sentry with an
/// uplink.
fn stand_up(prefix: &str, narrate: bool) -> Result<Topology> {
    as_gateway::require_root()?;
    let binary = patched_binary();
    let mut lab = Lab::with_prefix(prefix, &binary)?;
    let net = EnclaveNet::container_mode().dual_stack();
    if narrate {
        say(&format!(
            "netavark: {}\nhost simulation: netns {}, outside world: netns {} ({OUTSIDE_IP})",
            binary.display(),
            lab.host.name(),
            lab.outside.name()
        ));
        say("\n1. The bottle starts first on network `enclave` (gateway_mode=container, 10.89.0.0/24 + fd89::/64).");
    }
    let mut bottle = lab.container(bottle_config(&net, 0))?;
    let st = lab.setup(&mut bottle)?;
    if narrate {
        let dns = st
            .get(ENCLAVE)
            .and_then(|s| s.dns_server_ips.clone())
            .unwrap_or_default();
        say(&format!(
            "   bridge {ENCLAVE_BRIDGE} addresses: {:?} (the host never holds the gateway)",
            lab.bridge_addresses()?
        ));
        say(&format!(
            "   bottle's status block names DNS servers {dns:?}"
        ));
        say("   bottle routes:");
        show_routes(&bottle.ns)?;
        let ok = probe::ping(
            &bottle.ns,
            IpAddr::V4(ENCLAVE_GW4),
            2,
            Duration::from_millis(200),
        )?;
        let out = lab.reaches_outside(&bottle.ns)?;
        say(&format!(
            "   with no sentry: bottle -> gateway {ENCLAVE_GW4}: {}, bottle -> outside {OUTSIDE_IP}: {} (fail-closed)",
            if ok { "REACHED" } else { "nothing" },
            if out { "REACHED" } else { "nothing" }
        ));
    }
    if narrate {
        say("\n2. The sentry starts: as_gateway=true, static_ips = the gateways, plus an uplink network.");
    }
    let mut sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, true))?;
    lab.setup(&mut sentry)?;
    lab.route_enclave_via_sentry(&net)?;
    if narrate {
        say(&format!(
            "   sentry eth0 ({}) holds {:?}; bridge holds {:?}",
            link_mac(&sentry.ns, "eth0")?,
            link_ips(&sentry.ns, "eth0")?,
            lab.bridge_addresses()?
        ));
        say("   sentry routes (its default route stays on the uplink):");
        show_routes(&sentry.ns)?;
    }
    Ok(Topology {
        lab,
        net,
        sentry,
        bottle,
    })
}

fn demo() -> Result<()> {
    let mut t = stand_up(&format!("{DEMO_PREFIX}-{}", std::process::id()), true)?;
    let gw4 = IpAddr::V4(ENCLAVE_GW4);
    let gw6 = IpAddr::V6(ENCLAVE_GW6);
    let p4 = probe::ping(&t.bottle.ns, gw4, 3, Duration::from_millis(300))?;
    let p6 = probe::ping(&t.bottle.ns, gw6, 3, Duration::from_millis(300))?;
    say(&format!(
        "\n3. Bottle -> sentry: ping {gw4}: {}, ping {gw6}: {}",
        ok(p4),
        ok(p6)
    ));
    for ip in [gw4, gw6] {
        if let Some(n) = probe::neighbour(&t.bottle.ns, ip)? {
            say(&format!("   bottle neighbour entry: {n}"));
        }
    }
    let out = t.lab.reaches_outside_via_sentry(&t.bottle.ns)?;
    let mut failed = Vec::new();
    let mut check = |what: &str, ok: bool| {
        if !ok {
            failed.push(what.to_string());
        }
    };
    check("bottle pings the IPv4 gateway (sentry)", p4);
    check("bottle pings the IPv6 gateway (sentry)", p6);
    check("bottle reaches the outside through the sentry", out);
    check(
        "bridge holds no gateway address",
        t.lab.bridge_addresses()?.is_empty(),
    );
    check(
        "bottle's gateway neighbour entry is the sentry's MAC",
        probe::neighbour(&t.bottle.ns, gw4)?
            .and_then(|n| n.mac)
            .as_deref()
            == Some(SENTRY_MAC),
    );
    say(&format!(
        "   bottle -> outside {OUTSIDE_IP} (ICMP + TCP echo) through the sentry: {}",
        ok(out)
    ));
    say(&format!(
        "\n4. The sentry restarts with a new MAC ({SENTRY_MAC_RESTARTED}); the bottle probes every 5 ms."
    ));
    let runner = t.lab.netavark.clone();
    let r = restart_sentry(
        &runner,
        &mut t.sentry,
        &t.bottle,
        ENCLAVE,
        gw4,
        SENTRY_MAC_RESTARTED,
        Duration::from_secs(40),
    )?;
    say(&format!(
        "   teardown+setup took {:.1} ms; traffic resumed {} after setup returned",
        r.restart_took.as_secs_f64() * 1e3,
        match r.resumed_after_setup {
            Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
            None => "NEVER (within 40 s)".into(),
        }
    ));
    for (when, a) in &r.announcements {
        say(&format!(
            "   seen by the bottle at +{:.1} ms: {a}",
            when.as_secs_f64() * 1e3
        ));
    }
    if let Some(n) = &r.neighbour {
        say(&format!("   bottle neighbour entry now: {n}"));
    }
    check(
        "traffic resumes within 1 s of the sentry's restart",
        r.resumed_after_setup
            .is_some_and(|d| d < Duration::from_secs(1)),
    );
    check(
        "bottle's neighbour entry follows the new MAC",
        r.neighbour.as_ref().and_then(|n| n.mac.as_deref()) == Some(SENTRY_MAC_RESTARTED),
    );
    let _ = &t.net;
    say("\n5. Tearing everything down.");
    let errors = t.lab.close();
    if !errors.is_empty() {
        bail!("cleanup: {}", errors.join("; "));
    }
    say("   done: no namespace, bridge or process left.");
    if !failed.is_empty() {
        bail!("the demo did not prove: {}", failed.join("; "));
    }
    say("\nAll shown: the sentry is the bottle's gateway, router and neighbour; the host is not.");
    Ok(())
}

fn ok(b: bool) -> &'static str {
    if b {
        "ok"
    } else {
        "FAILED"
    }
}

fn up() -> Result<()> {
    if Netns::list()?.iter().any(|n| n.starts_with(DEMO_PREFIX)) {
        bail!("a demo topology is already up; run `as-gateway down` first");
    }
    let t = stand_up(DEMO_PREFIX, true)?;
    say(&format!(
        "\nLeft in place. Try:\n  ip netns exec {DEMO_PREFIX}-bottle0 ip route\n  ip netns exec {DEMO_PREFIX}-bottle0 ping -c1 {ENCLAVE_GW4}\n  ip netns exec {DEMO_PREFIX}-bottle0 ip neigh\n  ip netns exec {DEMO_PREFIX}-sentry ip addr\n  ip netns exec {DEMO_PREFIX}-host ip addr show {ENCLAVE_BRIDGE}\n  ip netns exec {DEMO_PREFIX}-host nft list ruleset\nRemove with `as-gateway down`."
    ));
    t.lab.keep();
    Ok(())
}

fn down(all: bool) -> Result<()> {
    as_gateway::require_root()?;
    let prefix = if all { "asg-" } else { DEMO_PREFIX };
    let mut n = 0;
    if all {
        for e in std::fs::read_dir(std::env::temp_dir())? {
            let p = e?.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.starts_with("asg-") && name.ends_with("-netavark") && p.is_dir() {
                std::fs::remove_dir_all(&p).with_context(|| format!("remove {}", p.display()))?;
                println!("removed {}", p.display());
            }
        }
    }
    for name in Netns::list()? {
        if name.starts_with(prefix) {
            Netns::open(&name)?.delete()?;
            println!("deleted netns {name}");
            n += 1;
        }
    }
    let dir = std::env::temp_dir().join(format!("{DEMO_PREFIX}-netavark"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        println!("removed {}", dir.display());
    }
    if n == 0 {
        println!("nothing was up");
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<()> {
    as_gateway::require_root()?;
    let mut config = as_gateway::bench::Config::new(&stock_binary(), &patched_binary());
    config.pre_guard = std::env::var_os("AS_GATEWAY_NETAVARK_PREGUARD")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    let mut it = args.iter();
    let number = |v: Option<&String>, what: &str| -> Result<usize> {
        v.with_context(|| format!("{what} needs a number"))?
            .parse()
            .with_context(|| format!("{what} needs a number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--iterations" => config.rounds = number(it.next(), "-n")?,
            "--clients" => config.clients = number(it.next(), "--clients")?,
            "--tcp-secs" => {
                config.tcp_time = Duration::from_secs(number(it.next(), "--tcp-secs")? as u64)
            }
            "--tcp-runs" => config.tcp_reps = number(it.next(), "--tcp-runs")?,
            "--pre-guard" => {
                config.pre_guard = Some(it.next().context("--pre-guard needs a path")?.into())
            }
            other => bail!("unknown bench option {other}\n{USAGE}"),
        }
    }
    println!(
        "bench: {} rounds (+1 warm-up) of (a), {} clients for the -{} cases, {} x {} s of TCP per case\n  stock:     {}\n  patched:   {}",
        config.rounds,
        config.clients,
        config.clients,
        config.tcp_reps,
        config.tcp_time.as_secs(),
        config.stock.display(),
        config.patched.display()
    );
    if let Some(p) = &config.pre_guard {
        println!("  pre-guard: {}", p.display());
    }
    let results = as_gateway::bench::run(&config)?;
    print!("\n{}", as_gateway::bench::report(&results));
    let errors = as_gateway::bench::close(results);
    if !errors.is_empty() {
        bail!("cleanup: {}", errors.join("; "));
    }
    Ok(())
}
