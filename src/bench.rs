//! `as-gateway bench`: like-for-like ratios of the guarded network against
//! the stock zero-patch recipe, all measured in the same run (issue 8,
//! "Speed"). Each case is its own simulated host (a [`Lab`]):
//!
//! - `stock-1`: stock netavark, an `--internal` network (DNS off, the same
//!   10.89.0.0/24), the recipe's sentry (.2, route via it) already up; the
//!   timed client is one more container with a route via .2.
//! - `guarded-1`: patched netavark, a `gateway_mode=container` network (DNS
//!   off, same subnet), the as_gateway SENTRY already up; the timed client is
//!   one guarded client.
//! - `pre-guard-1` (with `--pre-guard`): the same as `guarded-1` with a
//!   netavark of the series before the guards: what the guards cost.
//! - `stock-N`, `guarded-N`: the same as `stock-1` and `guarded-1` with N-1
//!   more clients up, the timed one is the Nth (default N = 200).
//!
//! (a) setup+teardown of the timed client, every case once per round, the
//! cases' order rotating from round to round, so that drift and load hit
//! all of them; medians. (b) TCP throughput from the timed client to its
//! SENTRY (a bulk sender in the client's namespace, a receiver in the
//! sentry's), repetitions interleaved across the cases; medians. (c) setup
//! of the Nth client against the 1st, from the rounds of (a).

use crate::netns::Netns;
use crate::scenario::{
    baseline_bottle_config, baseline_configs, bottle_config, sentry_config, Container, EnclaveNet,
    Lab, ENCLAVE_GW4, SENTRY_MAC,
};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub stock: PathBuf,
    pub patched: PathBuf,
    pub pre_guard: Option<PathBuf>,
    /// timed rounds of (a), after one warm-up round
    pub rounds: usize,
    /// clients on the network of the `-N` cases, the timed one included
    pub clients: usize,
    /// length of one bulk send in (b)
    pub tcp_time: Duration,
    /// bulk sends per case in (b)
    pub tcp_reps: usize,
}

impl Config {
    pub fn new(stock: &Path, patched: &Path) -> Config {
        Config {
            stock: stock.to_path_buf(),
            patched: patched.to_path_buf(),
            pre_guard: None,
            rounds: 20,
            clients: 200,
            tcp_time: Duration::from_secs(2),
            tcp_reps: 5,
        }
    }
}

/// Which network a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// stock zero-patch recipe: internal network, a sentry with .2
    StockInternal,
    /// gateway_mode=container with an as_gateway SENTRY
    Guarded,
}

/// One simulated host: its SENTRY and `others` clients up, and the timed
/// client.
pub struct Case {
    pub key: String,
    pub what: String,
    lab: Lab,
    sentry: Container,
    _others: Vec<Container>,
    client: Container,
    server: IpAddr,
    /// setup times of the other clients, in the order they came up
    pub fill: Vec<Duration>,
    pub setup: Vec<Duration>,
    pub teardown: Vec<Duration>,
    pub total: Vec<Duration>,
    /// bytes per second, one per bulk send
    pub throughput: Vec<f64>,
}

impl Case {
    fn new(key: &str, what: &str, kind: Kind, binary: &Path, others: usize) -> Result<Case> {
        let client_index = u8::try_from(others)
            .ok()
            .filter(|i| *i <= 250)
            .context("at most 250 clients fit the /24")?;
        let mut lab = Lab::new(binary)?;
        let (mut sentry, server) = match kind {
            Kind::Guarded => {
                let net = EnclaveNet::container_mode();
                let s = lab.sentry(sentry_config(&net, SENTRY_MAC, false))?;
                (s, IpAddr::V4(ENCLAVE_GW4))
            }
            Kind::StockInternal => {
                let (scfg, _) = baseline_configs(SENTRY_MAC);
                (
                    lab.container(scfg)?,
                    IpAddr::V4(Ipv4Addr::new(10, 89, 0, 2)),
                )
            }
        };
        lab.setup(&mut sentry)
            .with_context(|| format!("{key}: sentry setup"))?;
        let client_config = |i: u8| match kind {
            Kind::Guarded => bottle_config(&EnclaveNet::container_mode(), i),
            Kind::StockInternal => baseline_bottle_config(i),
        };
        let mut fill = Vec::new();
        let mut up = Vec::new();
        if others > 0 {
            eprintln!("  {key}: setting up {others} other clients ...");
        }
        for i in 0..client_index {
            let mut c = lab.container(client_config(i))?;
            let t = Instant::now();
            lab.setup(&mut c)
                .with_context(|| format!("{key}: client {} setup", i + 1))?;
            fill.push(t.elapsed());
            up.push(c);
        }
        let client = lab.container(client_config(client_index))?;
        Ok(Case {
            key: key.to_string(),
            what: what.to_string(),
            lab,
            sentry,
            _others: up,
            client,
            server,
            fill,
            setup: Vec::new(),
            teardown: Vec::new(),
            total: Vec::new(),
            throughput: Vec::new(),
        })
    }

    /// Setup and teardown of the timed client.
    fn round(&mut self, record: bool) -> Result<()> {
        let t0 = Instant::now();
        self.lab
            .setup(&mut self.client)
            .with_context(|| format!("{}: client setup", self.key))?;
        let t1 = Instant::now();
        self.lab
            .teardown(&mut self.client)
            .with_context(|| format!("{}: client teardown", self.key))?;
        let t2 = Instant::now();
        if record {
            self.setup.push(t1 - t0);
            self.teardown.push(t2 - t1);
            self.total.push(t2 - t0);
        }
        Ok(())
    }

    /// One bulk send from the timed client (set up) to its sentry.
    fn bulk_send(&mut self, time: Duration) -> Result<()> {
        let rate = tcp_throughput(
            &self.client.ns,
            &self.sentry.ns,
            SocketAddr::new(self.server, TCP_PORT),
            time,
        )
        .with_context(|| format!("{}: TCP client -> sentry", self.key))?;
        self.throughput.push(rate);
        Ok(())
    }

    /// Remove the case's namespaces now.
    fn close(self) -> Vec<String> {
        self.lab.close()
    }
}

const TCP_PORT: u16 = 5201;

/// Bulk-send over TCP from a socket in `client` to a receiver on `server`
/// in `server_ns` for `time`; bytes per second as the receiver counts them
/// (first byte to end of stream).
pub fn tcp_throughput(
    client: &Netns,
    server_ns: &Netns,
    server: SocketAddr,
    time: Duration,
) -> Result<f64> {
    let listener = server_ns.run(move || {
        let l = TcpListener::bind(server).with_context(|| format!("listen on {server}"))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })?;
    let receiver = std::thread::spawn(move || -> Result<(u64, Duration)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        bail!("no connection within 5 s");
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e).context("accept"),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut bytes = 0u64;
        let mut first = None;
        loop {
            let n = stream.read(&mut buf).context("receive")?;
            if n == 0 {
                break;
            }
            first.get_or_insert_with(Instant::now);
            bytes += n as u64;
        }
        Ok((bytes, first.map(|t| t.elapsed()).unwrap_or_default()))
    });
    let sent = (|| -> Result<()> {
        let mut stream = client.run(move || {
            TcpStream::connect_timeout(&server, Duration::from_secs(3))
                .with_context(|| format!("connect to {server}"))
        })?;
        let chunk = vec![0x5au8; 128 * 1024];
        let start = Instant::now();
        while start.elapsed() < time {
            stream.write_all(&chunk).context("send")?;
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        Ok(())
    })();
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver thread panicked"))?;
    sent?;
    let (bytes, took) = received?;
    if took.is_zero() {
        bail!("nothing received");
    }
    Ok(bytes as f64 / took.as_secs_f64())
}

/// Median of durations (upper median for an even count).
pub fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn median_f64(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Everything the bench measured.
pub struct Results {
    pub config: Config,
    pub cases: Vec<Case>,
}

impl Results {
    fn case(&self, key: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.key == key)
    }
}

/// Build the cases, run (a) and (b), and return the samples. Every
/// namespace is removed when the results are dropped (or on error).
pub fn run(config: &Config) -> Result<Results> {
    let n = config.clients;
    if n == 0 || n > 251 {
        bail!("--clients must be 1 to 251");
    }
    let started = Instant::now();
    let mut cases = vec![
        Case::new(
            "stock-1",
            "stock netavark, --internal network, the recipe's sentry (.2) up",
            Kind::StockInternal,
            &config.stock,
            0,
        )?,
        Case::new(
            "guarded-1",
            "patched netavark, gateway_mode=container, the SENTRY up",
            Kind::Guarded,
            &config.patched,
            0,
        )?,
    ];
    if let Some(p) = &config.pre_guard {
        cases.push(Case::new(
            "pre-guard-1",
            "the series before the guards, same as guarded-1",
            Kind::Guarded,
            p,
            0,
        )?);
    }
    if n > 1 {
        cases.push(Case::new(
            &format!("stock-{n}"),
            &format!("as stock-1 with {} other clients up", n - 1),
            Kind::StockInternal,
            &config.stock,
            n - 1,
        )?);
        cases.push(Case::new(
            &format!("guarded-{n}"),
            &format!("as guarded-1 with {} other clients up", n - 1),
            Kind::Guarded,
            &config.patched,
            n - 1,
        )?);
    }
    eprintln!(
        "  set up in {:.1} s; (a) {} rounds ...",
        started.elapsed().as_secs_f64(),
        config.rounds
    );
    let k = cases.len();
    for round in 0..=config.rounds {
        for j in 0..k {
            cases[(round + j) % k].round(round > 0)?;
        }
    }
    eprintln!(
        "  (b) {} x {:.1} s of TCP per case ...",
        config.tcp_reps,
        config.tcp_time.as_secs_f64()
    );
    for c in cases.iter_mut() {
        c.lab
            .setup(&mut c.client)
            .with_context(|| format!("{}: client setup for TCP", c.key))?;
    }
    for rep in 0..config.tcp_reps {
        for j in 0..k {
            cases[(rep + j) % k].bulk_send(config.tcp_time)?;
        }
    }
    eprintln!("  measured in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Results {
        config: config.clone(),
        cases,
    })
}

/// Remove every namespace of the run; the errors, if any.
pub fn close(results: Results) -> Vec<String> {
    results.cases.into_iter().flat_map(Case::close).collect()
}

/// The tables `as-gateway bench` prints.
pub fn report(r: &Results) -> String {
    let n = r.config.clients;
    let mut out = String::new();
    let line = |out: &mut String, s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(
        &mut out,
        "cases (each its own simulated host, same 10.89.0.0/24, DNS off, IPv4):".into(),
    );
    for c in &r.cases {
        line(&mut out, format!("  {:<13} {}", c.key, c.what));
    }
    line(&mut out, String::new());
    line(
        &mut out,
        format!(
            "(a) one client: setup + teardown, median of {} interleaved rounds",
            r.config.rounds
        ),
    );
    line(
        &mut out,
        format!(
            "  {:<13} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "case", "setup", "teardown", "total", "min", "max"
        ),
    );
    for c in &r.cases {
        let min = c.total.iter().min().copied().unwrap_or_default();
        let max = c.total.iter().max().copied().unwrap_or_default();
        line(
            &mut out,
            format!(
                "  {:<13} {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>7.1} ms",
                c.key,
                ms(median(&c.setup)),
                ms(median(&c.teardown)),
                ms(median(&c.total)),
                ms(min),
                ms(max)
            ),
        );
    }
    line(&mut out, String::new());
    line(
        &mut out,
        format!(
            "(b) TCP bulk send client -> its sentry, median of {} x {:.0} s",
            r.config.tcp_reps,
            r.config.tcp_time.as_secs_f64()
        ),
    );
    for c in &r.cases {
        let all: Vec<String> = c
            .throughput
            .iter()
            .map(|b| format!("{:.0}", b / 1e6))
            .collect();
        line(
            &mut out,
            format!(
                "  {:<13} {:>8.0} MB/s   (runs: {})",
                c.key,
                median_f64(&c.throughput) / 1e6,
                all.join(", ")
            ),
        );
    }
    for key in [format!("stock-{n}"), format!("guarded-{n}")] {
        if let Some(c) = r.case(&key).filter(|c| !c.fill.is_empty()) {
            let at = |i: usize| c.fill.get(i - 1).map(|d| format!("{:.0}", ms(*d)));
            let marks: Vec<String> = [1, n / 4, n / 2, 3 * n / 4, n - 1]
                .into_iter()
                .filter(|i| *i >= 1)
                .filter_map(|i| at(i).map(|v| format!("#{i} {v}")))
                .collect();
            line(
                &mut out,
                format!(
                    "  filling {key}: setup of the other clients, ms: {}",
                    marks.join(", ")
                ),
            );
        }
    }

    // the ratios
    let total = |k: &str| r.case(k).map(|c| median(&c.total).as_secs_f64());
    let setup = |k: &str| r.case(k).map(|c| median(&c.setup).as_secs_f64());
    let tput = |k: &str| r.case(k).map(|c| median_f64(&c.throughput));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let (gn, sn) = (format!("guarded-{n}"), format!("stock-{n}"));
    let rows: Vec<(String, String, Option<f64>, &str)> = vec![
        (
            "(a)".into(),
            "setup+teardown: guarded client / stock --internal container".into(),
            ratio(total("guarded-1"), total("stock-1")),
            "<= 1.10",
        ),
        (
            "(a)".into(),
            "setup+teardown: pre-guard client / stock --internal container".into(),
            ratio(total("pre-guard-1"), total("stock-1")),
            "",
        ),
        (
            "(a)".into(),
            "setup+teardown: guarded client / pre-guard client (the guards)".into(),
            ratio(total("guarded-1"), total("pre-guard-1")),
            "",
        ),
        (
            "(b)".into(),
            "TCP client->SENTRY / container->container, 1 client".into(),
            ratio(tput("guarded-1"), tput("stock-1")),
            ">= 0.95",
        ),
        (
            "(b)".into(),
            format!("TCP client->SENTRY / container->container, {n} clients"),
            ratio(tput(&gn), tput(&sn)),
            ">= 0.95",
        ),
        (
            "(c)".into(),
            format!("setup: guarded client #{n} / #1"),
            ratio(setup(&gn), setup("guarded-1")),
            "<= 1.10",
        ),
        (
            "(c)".into(),
            format!("setup: stock container #{n} / #1 (reference)"),
            ratio(setup(&sn), setup("stock-1")),
            "",
        ),
    ];
    line(&mut out, String::new());
    line(
        &mut out,
        format!(
            "  {:<4} {:<64} {:>6}  {}",
            "", "ratio (what it compares)", "value", "issue 8 asks"
        ),
    );
    for (part, what, value, target) in rows {
        if let Some(v) = value {
            line(
                &mut out,
                format!("  {part:<4} {what:<64} {v:>6.2}  {target}"),
            );
        }
    }
    if let (Some(g), Some(p)) = (total("guarded-1"), total("pre-guard-1")) {
        line(
            &mut out,
            format!(
                "  the guards' own cost per client: {:.1} ms of setup+teardown (guarded-1 - pre-guard-1)",
                (g - p) * 1e3
            ),
        );
    }
    out
}
