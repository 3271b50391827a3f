// SPDX-License-Identifier: GPL-2.0

//! The benchmark's results: a table with ratios to each peer, the claims they support, and JSON.

use crate::copyloop::Loops;
use pseudoscopic::json;
use serde::Serialize;
use std::fmt::Write;

/// Instructions a 3 GHz core retires in the 0.33 us that PCIe 3.0 x16 (about 12.3 GB/s of data)
/// takes to move 4 KiB, at one instruction per cycle: the per-page CPU budget of a board whose
/// copy engine is the limit.
pub const PCIE3_X16_PAGE_BUDGET: f64 = 1000.0;

/// What was measured, in the order a run does it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Moving the whole buffer out of RAM in one request.
    Park,
    /// Asking how much of the parked buffer is out of RAM (pseudoscopic's `RESIDENCY`).
    Residency,
    /// Touching every page in address order, each bringing its page (and neighbours) back.
    FaultSequential,
    /// Touching every page in a random order.
    FaultRandom,
    /// Bringing the whole parked buffer back in one request.
    ToRam,
    /// Unbinding the board with nothing parked: what every unbind costs (the pagemap's teardown
    /// is as large as the pool), per page of the buffer.
    Unbind,
    /// Unbinding the board with the buffer parked, less [`Op::Unbind`]: what eviction adds.
    Evict,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Park,
        Op::Residency,
        Op::FaultSequential,
        Op::FaultRandom,
        Op::ToRam,
        Op::Unbind,
        Op::Evict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Park => "park",
            Op::Residency => "residency",
            Op::FaultSequential => "fault-seq",
            Op::FaultRandom => "fault-rand",
            Op::ToRam => "to-ram",
            Op::Unbind => "unbind",
            Op::Evict => "evict",
        }
    }

    /// Whether it brings the parked buffer back to RAM.
    pub fn brings_back(self) -> bool {
        !matches!(self, Op::Park | Op::Residency | Op::Unbind)
    }

    /// Page copies the operation makes per page, and which way: into VRAM (`true`) or out.
    pub fn copies_to_vram(self) -> Option<bool> {
        match self {
            Op::Park => Some(true),
            Op::Residency | Op::Unbind => None,
            _ => Some(false),
        }
    }
}

/// One measurement: the best of the repeats, and each run.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub peer: &'static str,
    pub huge: bool,
    pub mib: usize,
    pub op: Op,
    pub seconds: f64,
    pub runs: Vec<f64>,
}

impl Sample {
    /// Nanoseconds per 4 KiB page in run `i`: instructions per page when the guest runs under
    /// QEMU `-icount shift=0`, where guest time advances 1 ns per instruction.
    pub fn ns_per_page(&self, i: usize) -> Option<f64> {
        self.runs.get(i).map(|s| s * 1e9 / self.pages())
    }

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

/// `a` against `b` in percent.
fn diff_percent(a: f64, b: f64) -> f64 {
    (a - b).abs() * 100.0 / a.min(b)
}

/// The table of a run under QEMU `-icount shift=0`: instructions per 4 KiB page, each of the
/// first two runs side by side with how far apart they are; for pseudoscopic, the copy loops
/// apart from the rest; and test_hmm's count over pseudoscopic's.
pub fn instructions_table(samples: &[Sample], sizes: &[usize], loops: Option<&Loops>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "instructions per 4 KiB page (guest clock under -icount shift=0); PCIe 3.0 x16 moves 4 KiB in \
         0.33 us, about {PCIE3_X16_PAGE_BUDGET:.0} instructions of a 3 GHz core"
    );
    let _ = write!(out, "{:<24}", "workload");
    for peer in [SUBJECT].iter().chain(PEERS.iter()) {
        let _ = write!(out, "{:>30}", format!("{peer} run 1, run 2, diff"));
        if peer == &SUBJECT {
            let _ = write!(out, "{:>12}{:>10}", "copy loops", "rest");
        }
    }
    let _ = writeln!(out, "{:>14}{:>14}", "test_hmm / ps", "rest / budget");
    for huge in [false, true] {
        for &mib in sizes {
            for op in Op::ALL {
                let subject = find(samples, SUBJECT, huge, mib, op);
                if subject.is_none()
                    && PEERS
                        .iter()
                        .all(|p| find(samples, p, huge, mib, op).is_none())
                {
                    continue;
                }
                let _ = write!(
                    out,
                    "{:<24}",
                    format!("{} {} {} MiB", op.name(), kind(huge), mib)
                );
                for peer in [SUBJECT].iter().chain(PEERS.iter()) {
                    let s = find(samples, peer, huge, mib, op);
                    let cell = match s.map(|s| (s.ns_per_page(0), s.ns_per_page(1))) {
                        Some((Some(a), Some(b))) => {
                            format!("{a:.0}, {b:.0}, {:.2}%", diff_percent(a, b))
                        }
                        Some((Some(a), None)) => format!("{a:.0}"),
                        _ => "-".into(),
                    };
                    let _ = write!(out, "{cell:>30}");
                    if peer == &SUBJECT {
                        let copy = loops.and_then(|l| l.per_page(op.copies_to_vram()));
                        let copy = match (op.copies_to_vram(), copy) {
                            (None, _) => Some(0.0),
                            (Some(_), c) => c,
                        };
                        let best = s.map(|s| s.seconds * 1e9 / s.pages());
                        let (c, r) = match (copy, best) {
                            (Some(c), Some(b)) => (format!("{c:.0}"), format!("{:.0}", b - c)),
                            _ => ("-".into(), "-".into()),
                        };
                        let _ = write!(out, "{c:>12}{r:>10}");
                    }
                }
                let subject_best = subject.map(|s| s.seconds);
                let peer_best = find(samples, "test_hmm", huge, mib, op).map(|s| s.seconds);
                let ratio = match (subject_best, peer_best) {
                    (Some(a), Some(b)) => format!("{:.2}", b / a),
                    _ => "-".into(),
                };
                let copy = loops
                    .and_then(|l| l.per_page(op.copies_to_vram()))
                    .unwrap_or(0.0);
                let budget = match subject {
                    Some(s) => format!(
                        "{:.2}",
                        (s.seconds * 1e9 / s.pages() - copy) / PCIE3_X16_PAGE_BUDGET
                    ),
                    None => "-".into(),
                };
                let _ = writeln!(out, "{ratio:>14}{budget:>14}");
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
struct SampleJson<'a> {
    peer: &'static str,
    pages: &'static str,
    mib: usize,
    op: &'static str,
    seconds: f64,
    pages_per_s: f64,
    mib_per_s: f64,
    /// Each run's seconds.
    runs: &'a [f64],
    /// Each run's nanoseconds per 4 KiB page: instructions under `-icount shift=0`.
    ns_per_page: Vec<f64>,
}

#[derive(Serialize)]
struct ClaimJson {
    claim: &'static str,
    worst_ratio: Option<f64>,
    needed: f64,
    holds: Option<bool>,
}

/// How the results were measured.
pub struct Measure<'a> {
    /// The module's copy routine (`stats/copy_path`).
    pub copy_path: &'a str,
    /// Whether the guest clock counted instructions (`--instructions`).
    pub instructions: bool,
    /// The copy loops' instructions per page, when measured.
    pub copy_loops: Option<Loops>,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    copy_path: &'a str,
    instructions: bool,
    copy_loops: Option<Loops>,
    samples: Vec<SampleJson<'a>>,
    claims: Vec<ClaimJson>,
}

/// The results as one JSON document.
pub fn json(samples: &[Sample], claims: &[Claim], what: &Measure<'_>) -> String {
    let report = ReportJson {
        copy_path: what.copy_path,
        instructions: what.instructions,
        copy_loops: what.copy_loops,
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
                runs: &s.runs,
                ns_per_page: (0..s.runs.len()).filter_map(|i| s.ns_per_page(i)).collect(),
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
            runs: vec![seconds],
        }
    }

    #[test]
    fn ops_are_listed_in_declaration_order() {
        // measure() finds the unbind time of a run by `Op::Unbind as usize`.
        for (i, op) in Op::ALL.into_iter().enumerate() {
            assert_eq!(op as usize, i, "{}", op.name());
        }
        assert!(Op::ALL
            .iter()
            .all(|op| op.brings_back() == op.copies_to_vram().is_some_and(|to| !to)));
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
        let what = Measure {
            copy_path: "avx2",
            instructions: false,
            copy_loops: None,
        };
        let j = json(&samples, &claims(&samples, &[16]), &what);
        assert!(j.contains("\"copy_path\": \"avx2\""));
        let j: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(
            j["samples"][1],
            serde_json::json!({"peer": "test_hmm", "pages": "4K", "mib": 16, "op": "park",
                "seconds": 0.5, "pages_per_s": 8192.0, "mib_per_s": 32.0, "runs": [0.5],
                "ns_per_page": [122070.3125]})
        );
        assert_eq!(j["claims"][0]["holds"], true);
    }
}
