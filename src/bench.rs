//! `as-gateway bench`: netavark setup+teardown wall time, alternating
//! (a) stock + plain container, (b) patched + plain container, (c) patched +
//! as_gateway sentry and one bottle on a `gateway_mode=container` network,
//! and, given a binary of the series before the bridge guards, (d) the same
//! as (c) with it: (c) - (d) is what the guards add. All in one run so
//! machine load affects them alike.

use crate::scenario::{bottle_config, sentry_config, Container, EnclaveNet, Lab, SENTRY_MAC};
use anyhow::Result;
use std::path::Path;
use std::time::{Duration, Instant};

/// Samples of one variant.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub samples: Vec<Duration>,
}

impl Series {
    pub fn median(&self) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        if s.is_empty() {
            Duration::ZERO
        } else {
            s[s.len() / 2]
        }
    }

    pub fn min(&self) -> Duration {
        self.samples.iter().min().copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.samples.iter().max().copied().unwrap_or_default()
    }
}

/// One timed variant: a lab and its containers, set up in order and torn
/// down in reverse order in every round.
struct Case {
    label: &'static str,
    lab: Lab,
    containers: Vec<Container>,
}

impl Case {
    /// A plain bottle on a plain network, with `binary`.
    fn plain(label: &'static str, binary: &Path) -> Result<Case> {
        let mut lab = Lab::new(binary)?;
        let bottle = lab.container(bottle_config(&EnclaveNet::plain(), 0))?;
        Ok(Case {
            label,
            lab,
            containers: vec![bottle],
        })
    }

    /// An as_gateway sentry and one bottle on a `gateway_mode=container`
    /// network, with `binary`.
    fn sentry_and_bottle(label: &'static str, binary: &Path) -> Result<Case> {
        let net = EnclaveNet::container_mode();
        let mut lab = Lab::new(binary)?;
        let sentry = lab.sentry(sentry_config(&net, SENTRY_MAC, false))?;
        let bottle = lab.container(bottle_config(&net, 0))?;
        Ok(Case {
            label,
            lab,
            containers: vec![sentry, bottle],
        })
    }

    /// Wall time of one setup and teardown of every container.
    fn round(&mut self) -> Result<Duration> {
        let t = Instant::now();
        for c in self.containers.iter_mut() {
            self.lab.setup(c)?;
        }
        for c in self.containers.iter_mut().rev() {
            self.lab.teardown(c)?;
        }
        Ok(t.elapsed())
    }
}

/// Run `iterations` rounds (after one warm-up round) and return (a), (b),
/// (c), and (d) when `pre_guard` is given.
pub fn run(
    iterations: usize,
    stock: &Path,
    patched: &Path,
    pre_guard: Option<&Path>,
) -> Result<Vec<Series>> {
    let mut cases = vec![
        Case::plain("(a) stock, plain container", stock)?,
        Case::plain("(b) patched, plain container", patched)?,
        Case::sentry_and_bottle(
            "(c) patched, as_gateway sentry + 1 bottle, gateway_mode=container",
            patched,
        )?,
    ];
    if let Some(p) = pre_guard {
        cases.push(Case::sentry_and_bottle(
            "(d) pre-guard series, same as (c)",
            p,
        )?);
    }
    let mut series: Vec<Series> = cases
        .iter()
        .map(|c| Series {
            label: c.label.into(),
            samples: Vec::new(),
        })
        .collect();
    for round in 0..=iterations {
        for (case, s) in cases.iter_mut().zip(series.iter_mut()) {
            let took = case.round()?;
            if round > 0 {
                s.samples.push(took);
            }
        }
    }
    Ok(series)
}

/// The table `as-gateway bench` prints.
pub fn report(series: &[Series]) -> String {
    let base = series[0].median().as_secs_f64();
    let mut out = String::new();
    for s in series {
        let m = s.median().as_secs_f64();
        out.push_str(&format!(
            "{:<70} median {:>8.2} ms  min {:>8.2} ms  max {:>8.2} ms  ratio vs (a) {:.2}\n",
            s.label,
            m * 1e3,
            s.min().as_secs_f64() * 1e3,
            s.max().as_secs_f64() * 1e3,
            if base > 0.0 { m / base } else { 0.0 }
        ));
    }
    out.push_str("(c) runs two containers (sentry + bottle), (a) and (b) one.\n");
    if let Some(d) = series.get(3) {
        let extra = series[2].median().as_secs_f64() - d.median().as_secs_f64();
        out.push_str(&format!(
            "bridge guards: (c) - (d) = {:.2} ms for a sentry + 1 bottle setup and teardown ({:.2} ms per container)\n",
            extra * 1e3,
            extra * 1e3 / 2.0
        ));
    }
    out
}
