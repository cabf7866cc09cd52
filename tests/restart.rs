//! Sentry restart with a new MAC: how long until the bottle's traffic
//! resumes. Patched netavark (announces once the port forwards) vs the
//! stock zero-patch recipe (internal network, sentry .2, route via .2).

mod common;

use as_gateway::probe::Announcement;
use as_gateway::scenario::*;
use common::*;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const GW4: IpAddr = IpAddr::V4(ENCLAVE_GW4);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Restarts per test (`AS_GATEWAY_RESTARTS`, default 5 patched, 3 stock).
fn restarts(default: usize) -> usize {
    std::env::var("AS_GATEWAY_RESTARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Restart the sentry `n` times, alternating two MACs; print every
/// measurement and a summary line; return the results.
fn restart_series(
    label: &str,
    lab: &Lab,
    sentry: &mut Container,
    bottle: &Container,
    gateway: IpAddr,
    n: usize,
    limit: Duration,
) -> Vec<Restart> {
    let runner = lab.netavark.clone();
    let mut out = Vec::new();
    for i in 0..n {
        // the bottle talks to the sentry right before each restart
        assert!(
            pings(&bottle.ns, gateway),
            "{label}: bottle reaches {gateway} before restart {i}"
        );
        let mac = if i % 2 == 0 {
            SENTRY_MAC_RESTARTED
        } else {
            SENTRY_MAC
        };
        let r = restart_sentry(&runner, sentry, bottle, ENCLAVE, gateway, mac, limit).unwrap();
        for (t, a) in &r.announcements {
            eprintln!("    +{:.1} ms {a}", ms(*t));
        }
        report(&format!(
            "RESTART-RESUME {label} #{i}: new MAC {mac}, teardown+setup {:.1} ms, traffic resumed {} after setup returned",
            ms(r.restart_took),
            r.resumed_after_setup
                .map(|d| format!("{:.1} ms", ms(d)))
                .unwrap_or_else(|| format!("never within {} s", limit.as_secs()))
        ));
        out.push(r);
    }
    let mut resumed: Vec<Duration> = out
        .iter()
        .map(|r| r.resumed_after_setup.unwrap_or(limit))
        .collect();
    resumed.sort();
    report(&format!(
        "RESTART-RESUME {label} summary: {n} restarts, median {:.1} ms, max {:.1} ms{}",
        ms(resumed[resumed.len() / 2]),
        ms(resumed[resumed.len() - 1]),
        if out.iter().any(|r| r.resumed_after_setup.is_none()) {
            " (some never resumed within the limit)"
        } else {
            ""
        }
    ));
    out
}

/// The gateway address is on the sentry and nowhere else, and the bottle
/// reaches it at the sentry's current MAC: without this, a bridge that
/// also answers for the gateway would make any restart look seamless.
fn assert_sentry_is_the_only_gateway(lab: &Lab, sentry: &Container, bottle: &Container) {
    assert_sentry_alone_holds_gateway(lab, sentry, "before the restarts");
    assert!(pings(&bottle.ns, GW4), "bottle reaches the sentry");
    let mac = link_mac(&sentry.ns, "eth0").unwrap();
    let n = as_gateway::probe::neighbour(&bottle.ns, GW4)
        .unwrap()
        .expect("neighbour .1");
    assert_eq!(
        n.mac.as_deref(),
        Some(mac.as_str()),
        "bottle's gateway is the sentry"
    );
}

#[test]
fn sentry_restart_with_new_mac_resumes_at_once() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let (mut sentry, bottle) = sentry_then_bottle(&mut lab, &net);
    assert_sentry_is_the_only_gateway(&lab, &sentry, &bottle);

    let results = restart_series(
        "patched",
        &lab,
        &mut sentry,
        &bottle,
        GW4,
        restarts(5),
        Duration::from_secs(10),
    );
    assert_sentry_is_the_only_gateway(&lab, &sentry, &bottle);
    for (i, r) in results.iter().enumerate() {
        let mac = if i % 2 == 0 {
            SENTRY_MAC_RESTARTED
        } else {
            SENTRY_MAC
        };
        let resumed = r
            .resumed_after_setup
            .unwrap_or_else(|| panic!("restart #{i}: traffic never resumed within 10 s"));
        assert!(
            resumed < Duration::from_millis(500),
            "restart #{i}: traffic resumed only after {:.1} ms",
            ms(resumed)
        );
        assert_eq!(
            r.neighbour.as_ref().and_then(|n| n.mac.as_deref()),
            Some(mac),
            "restart #{i}: bottle's neighbour entry has the new MAC"
        );
        assert!(
            r.announcements.iter().any(
                |(_, a)| matches!(a, Announcement::Arp { sender_mac, sender_ip, .. }
                if sender_mac == mac && IpAddr::V4(*sender_ip) == GW4)
            ),
            "restart #{i}: no ARP announcement from the restarted sentry reached the bottle"
        );
    }
}

/// Baseline for comparison (prints; asserts only that the recipe works
/// before each restart): stock netavark, `internal` network, sentry with a
/// normal static IP .2, bottle with 0.0.0.0/0 via .2 from network `routes`.
#[test]
fn stock_baseline_restart_recipe() {
    let mut lab = stock_lab();
    let (scfg, bcfg) = baseline_configs(SENTRY_MAC);
    let sentry_ip = IpAddr::V4(Ipv4Addr::new(10, 89, 0, 2));
    let mut sentry = lab.sentry(scfg).unwrap();
    lab.setup(&mut sentry).expect("sentry setup (stock)");
    let mut bottle = lab.container(bcfg).unwrap();
    lab.setup(&mut bottle).expect("bottle setup (stock)");
    assert_eq!(
        default_gateways(&bottle.ns),
        vec![sentry_ip],
        "bottle routes via .2"
    );
    restart_series(
        "stock-baseline",
        &lab,
        &mut sentry,
        &bottle,
        sentry_ip,
        restarts(3),
        Duration::from_secs(40),
    );
}

/// Negative control for the measurement: a MAC change with announcements
/// switched off (`arp_notify=0`) leaves the bottle cut off, and the probe
/// sees it (no reply for 1.5 s).
#[test]
fn silent_mac_change_is_detected_as_an_outage() {
    let mut lab = patched_lab();
    let net = EnclaveNet::container_mode();
    let (sentry, bottle) = sentry_then_bottle(&mut lab, &net);
    assert_sentry_is_the_only_gateway(&lab, &sentry, &bottle);
    sentry
        .ns
        .set_sysctl("net/ipv4/conf/eth0/arp_notify", "0")
        .unwrap();
    as_gateway::link::set_mac(
        &sentry.ns,
        "eth0",
        as_gateway::link::parse_mac(SENTRY_MAC_RESTARTED).unwrap(),
    )
    .unwrap();
    let mut p = as_gateway::probe::Pinger::new(&bottle.ns, GW4).unwrap();
    let resumed = as_gateway::probe::time_until(
        Duration::from_millis(1500),
        Duration::from_millis(5),
        || p.echo(Duration::from_millis(5)),
    )
    .unwrap();
    report(&format!(
        "RESTART-RESUME silent MAC change (negative control): {}",
        resumed
            .map(|d| format!("resumed after {:.1} ms", ms(d)))
            .unwrap_or_else(|| "no reply for 1.5 s".into())
    ));
    assert!(
        resumed.is_none(),
        "the probe saw no outage after a silent MAC change"
    );
}
