//! `as-gateway bench`: netavark setup+teardown wall time, alternating
//! (a) stock + plain container, (b) patched + plain container, (c) patched +
//! as_gateway sentry and one bottle on a `gateway_mode=container` network,
//! and, given a binary of the series before the bridge guards, (d) the same
//! as (c) with it: (c) - (d) is what the guards add. All in one run so
//! machine load affects them alike.

use crate::scenario::{bottle_config, sentry_config, EnclaveNet, Lab, SENTRY_MAC};
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

/// Run `iterations` rounds (after one warm-up round) and return (a), (b),
/// (c), and (d) when `pre_guard` is given.
pub fn run(
    iterations: usize,
    stock: &Path,
    patched: &Path,
    pre_guard: Option<&Path>,
) -> Result<Vec<Series>> {
    let plain = EnclaveNet::plain();
    let gw = EnclaveNet::container_mode();
    let mut lab_a = Lab::new(stock)?;
    let mut lab_b = Lab::new(patched)?;
    let mut lab_c = Lab::new(patched)?;
    let mut a_bottle = lab_a.container(bottle_config(&plain, 0))?;
    let mut b_bottle = lab_b.container(bottle_config(&plain, 0))?;
    let mut c_sentry = lab_c.sentry(sentry_config(&gw, SENTRY_MAC, false))?;
    let mut c_bottle = lab_c.container(bottle_config(&gw, 0))?;
    let mut lab_d = match pre_guard {
        Some(p) => Some(Lab::new(p)?),
        None => None,
    };
    let mut d_containers = match lab_d.as_mut() {
        Some(lab) => Some((
            lab.sentry(sentry_config(&gw, SENTRY_MAC, false))?,
            lab.container(bottle_config(&gw, 0))?,
        )),
        None => None,
    };
    let mut series = vec![
        Series {
            label: "(a) stock, plain container".into(),
            samples: Vec::new(),
        },
        Series {
            label: "(b) patched, plain container".into(),
            samples: Vec::new(),
        },
        Series {
            label: "(c) patched, as_gateway sentry + 1 bottle, gateway_mode=container".into(),
            samples: Vec::new(),
        },
    ];
    if pre_guard.is_some() {
        series.push(Series {
            label: "(d) pre-guard series, same as (c)".into(),
            samples: Vec::new(),
        });
    }
    for round in 0..=iterations {
        let t = Instant::now();
        lab_a.setup(&mut a_bottle)?;
        lab_a.teardown(&mut a_bottle)?;
        let a = t.elapsed();

        let t = Instant::now();
        lab_b.setup(&mut b_bottle)?;
        lab_b.teardown(&mut b_bottle)?;
        let b = t.elapsed();

        let t = Instant::now();
        lab_c.setup(&mut c_sentry)?;
        lab_c.setup(&mut c_bottle)?;
        lab_c.teardown(&mut c_bottle)?;
        lab_c.teardown(&mut c_sentry)?;
        let c = t.elapsed();

        let d = match (lab_d.as_ref(), d_containers.as_mut()) {
            (Some(lab), Some((sentry, bottle))) => {
                let t = Instant::now();
                lab.setup(sentry)?;
                lab.setup(bottle)?;
                lab.teardown(bottle)?;
                lab.teardown(sentry)?;
                Some(t.elapsed())
            }
            _ => None,
        };

        if round > 0 {
            series[0].samples.push(a);
            series[1].samples.push(b);
            series[2].samples.push(c);
            if let Some(d) = d {
                series[3].samples.push(d);
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
