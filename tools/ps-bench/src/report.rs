// SPDX-License-Identifier: GPL-2.0

//! The benchmark's results: a table with ratios to each peer, the claims they support, and JSON.

use pseudoscopic::json;
use serde::Serialize;
use std::fmt::Write;

/// What was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Moving the whole buffer out of RAM in one request.
    Park,
    /// Touching every page in address order, each bringing its page (and neighbours) back.
    FaultSequential,
    /// Touching every page in a random order.
    FaultRandom,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Park, Op::FaultSequential, Op::FaultRandom];

    pub fn name(self) -> &'static str {
        match self {
            Op::Park => "park",
            Op::FaultSequential => "fault-seq",
            Op::FaultRandom => "fault-rand",
        }
    }
}

/// One measurement: the best of the repeats.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub peer: &'static str,
    pub huge: bool,
    pub mib: usize,
    pub op: Op,
    pub seconds: f64,
}

impl Sample {
    pub fn pages(&self) -> f64 {
        (self.mib * 256) as f64
    }

    pub fn pages_per_s(&self) -> f64 {
        self.pages() / self.seconds
    }

    pub fn mib_per_s(&self) -> f64 {
        self.mib as f64 / self.seconds
    }
}

pub const SUBJECT: &str = "pseudoscopic";
pub const PEERS: [&str; 2] = ["test_hmm", "zram"];

fn find<'a>(
    samples: &'a [Sample],
    peer: &str,
    huge: bool,
    mib: usize,
    op: Op,
) -> Option<&'a Sample> {
    samples
        .iter()
        .find(|s| s.peer == peer && s.huge == huge && s.mib == mib && s.op == op)
}

/// Rate of `a` over rate of `b`: how many times faster `a` is.
fn ratio(a: &Sample, b: &Sample) -> f64 {
    b.seconds / a.seconds
}

fn kind(huge: bool) -> &'static str {
    if huge {
        "THP"
    } else {
        "4K"
    }
}

/// The table: one row per workload, a column per peer (pages/s and MiB/s), then pseudoscopic's
/// speed as a multiple of each peer's.
pub fn table(samples: &[Sample], sizes: &[usize]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:<22}", "workload");
    for peer in [SUBJECT].iter().chain(PEERS.iter()) {
        let _ = write!(out, "{:>26}", format!("{peer} pages/s (MiB/s)"));
    }
    for peer in PEERS {
        let _ = write!(out, "{:>14}", format!("x {peer}"));
    }
    out.push('\n');
    for huge in [false, true] {
        for &mib in sizes {
            for op in Op::ALL {
                let _ = write!(
                    out,
                    "{:<22}",
                    format!("{} {} {} MiB", op.name(), kind(huge), mib)
                );
                for peer in [SUBJECT].iter().chain(PEERS.iter()) {
                    let cell = match find(samples, peer, huge, mib, op) {
                        Some(s) => format!("{:.0} ({:.1})", s.pages_per_s(), s.mib_per_s()),
                        None => "-".into(),
                    };
                    let _ = write!(out, "{cell:>26}");
                }
                for peer in PEERS {
                    let cell = match (
                        find(samples, SUBJECT, huge, mib, op),
                        find(samples, peer, huge, mib, op),
                    ) {
                        (Some(a), Some(b)) => format!("{:.2}", ratio(a, b)),
                        _ => "-".into(),
                    };
                    let _ = write!(out, "{cell:>14}");
                }
                out.push('\n');
            }
        }
    }
    out
}

/// A claim the issue asks the table to support, with the worst ratio over the sizes measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub text: &'static str,
    /// The smallest measured ratio, and what it must reach.
    pub worst: Option<f64>,
    pub needed: f64,
}

impl Claim {
    pub fn holds(&self) -> Option<bool> {
        self.worst.map(|w| w >= self.needed)
    }
}

fn worst(ratios: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let ratios: Option<Vec<f64>> = ratios.collect();
    ratios.and_then(|r| r.into_iter().reduce(f64::min))
}

/// The claims, evaluated over every size.
pub fn claims(samples: &[Sample], sizes: &[usize]) -> Vec<Claim> {
    let pair = |a: (&str, bool, Op), b: (&str, bool, Op), mib: usize| {
        Some(ratio(
            find(samples, a.0, a.1, mib, a.2)?,
            find(samples, b.0, b.1, mib, b.2)?,
        ))
    };
    let roundtrip = |peer: &str, mib: usize| {
        let park = find(samples, peer, false, mib, Op::Park)?.seconds;
        let back = find(samples, peer, false, mib, Op::FaultSequential)?.seconds;
        Some(park + back)
    };
    vec![
        Claim {
            text: "4K pages park at least as fast as test_hmm",
            worst: worst(
                sizes
                    .iter()
                    .map(|&m| pair((SUBJECT, false, Op::Park), ("test_hmm", false, Op::Park), m)),
            ),
            needed: 1.0,
        },
        Claim {
            text: "sequential fault-back (fault-around) >= 3x test_hmm (a fault per page)",
            worst: worst(sizes.iter().map(|&m| {
                pair(
                    (SUBJECT, false, Op::FaultSequential),
                    ("test_hmm", false, Op::FaultSequential),
                    m,
                )
            })),
            needed: 3.0,
        },
        Claim {
            text: "THP parks faster than 4K pages",
            worst: worst(
                sizes
                    .iter()
                    .map(|&m| pair((SUBJECT, true, Op::Park), (SUBJECT, false, Op::Park), m)),
            ),
            needed: 1.0,
        },
        Claim {
            text: "park + sequential fault-back beats zram swap",
            worst: worst(
                sizes
                    .iter()
                    .map(|&m| Some(roundtrip("zram", m)? / roundtrip(SUBJECT, m)?)),
            ),
            needed: 1.0,
        },
    ]
}

pub fn claims_text(claims: &[Claim]) -> String {
    let mut out = String::new();
    for c in claims {
        let verdict = match (c.holds(), c.worst) {
            (Some(true), Some(w)) => format!("holds (worst {w:.2}x, needs {:.1}x)", c.needed),
            (Some(false), Some(w)) => {
                format!("DOES NOT HOLD (worst {w:.2}x, needs {:.1}x)", c.needed)
            }
            _ => "not measured".into(),
        };
        let _ = writeln!(out, "  {:<72} {verdict}", c.text);
    }
    out
}

#[derive(Serialize)]
struct SampleJson {
    peer: &'static str,
    pages: &'static str,
    mib: usize,
    op: &'static str,
    seconds: f64,
    pages_per_s: f64,
    mib_per_s: f64,
}

#[derive(Serialize)]
struct ClaimJson {
    claim: &'static str,
    worst_ratio: Option<f64>,
    needed: f64,
    holds: Option<bool>,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    copy_path: &'a str,
    samples: Vec<SampleJson>,
    claims: Vec<ClaimJson>,
}

/// The results as one JSON document.
pub fn json(samples: &[Sample], claims: &[Claim], copy_path: &str) -> String {
    let report = ReportJson {
        copy_path,
        samples: samples
            .iter()
            .map(|s| SampleJson {
                peer: s.peer,
                pages: kind(s.huge),
                mib: s.mib,
                op: s.op.name(),
                seconds: s.seconds,
                pages_per_s: s.pages_per_s(),
                mib_per_s: s.mib_per_s(),
            })
            .collect(),
        claims: claims
            .iter()
            .map(|c| ClaimJson {
                claim: c.text,
                worst_ratio: c.worst,
                needed: c.needed,
                holds: c.holds(),
            })
            .collect(),
    };
    json::to_string_pretty(&report) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(peer: &'static str, huge: bool, op: Op, seconds: f64) -> Sample {
        Sample {
            peer,
            huge,
            mib: 16,
            op,
            seconds,
        }
    }

    #[test]
    fn rates_and_ratios() {
        let a = sample(SUBJECT, false, Op::Park, 0.5);
        let b = sample("test_hmm", false, Op::Park, 1.0);
        assert_eq!(a.pages_per_s(), 8192.0);
        assert_eq!(a.mib_per_s(), 32.0);
        assert_eq!(ratio(&a, &b), 2.0);
    }

    #[test]
    fn claims_take_the_worst_size_and_need_every_sample() {
        let mut samples = vec![
            sample(SUBJECT, false, Op::Park, 1.0),
            sample("test_hmm", false, Op::Park, 1.5),
            sample(SUBJECT, false, Op::FaultSequential, 1.0),
            sample("test_hmm", false, Op::FaultSequential, 2.0),
            sample(SUBJECT, true, Op::Park, 0.5),
            sample("zram", false, Op::Park, 3.0),
            sample("zram", false, Op::FaultSequential, 3.0),
        ];
        let mut big = sample(SUBJECT, false, Op::Park, 4.0);
        big.mib = 64;
        samples.push(big);
        let mut big = sample("test_hmm", false, Op::Park, 2.0);
        big.mib = 64;
        samples.push(big);
        let c = claims(&samples, &[16, 64]);
        assert_eq!(c[0].worst, Some(0.5));
        assert_eq!(c[0].holds(), Some(false));
        // 64 MiB fault-back was not measured: no verdict.
        assert_eq!(c[1].holds(), None);
        let c = claims(&samples, &[16]);
        assert_eq!(c[0].worst, Some(1.5));
        assert_eq!(c[1].worst, Some(2.0));
        assert_eq!(c[1].holds(), Some(false));
        assert_eq!(c[2].worst, Some(2.0));
        assert_eq!(c[3].worst, Some(3.0));
        assert_eq!(c[3].holds(), Some(true));
    }

    #[test]
    fn table_and_json_name_every_sample() {
        let samples = vec![
            sample(SUBJECT, false, Op::Park, 0.25),
            sample("test_hmm", false, Op::Park, 0.5),
        ];
        let t = table(&samples, &[16]);
        assert!(t.contains("park 4K 16 MiB"));
        assert!(t.contains("16384 (64.0)"));
        assert!(t.contains("2.00"));
        let j = json(&samples, &claims(&samples, &[16]), "avx2");
        assert!(j.contains("\"copy_path\": \"avx2\""));
        let j: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(
            j["samples"][1],
            serde_json::json!({"peer": "test_hmm", "pages": "4K", "mib": 16, "op": "park",
                "seconds": 0.5, "pages_per_s": 8192.0, "mib_per_s": 32.0})
        );
        assert_eq!(j["claims"][0]["holds"], true);
    }
}
