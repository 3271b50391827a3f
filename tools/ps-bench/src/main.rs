// SPDX-License-Identifier: GPL-2.0

//! ps-bench: park memory and fault it back, with pseudoscopic and with its peers (the kernel's
//! reference device-private driver test_hmm, and zram swap), in one run, on the same workloads.
//!
//! For each peer, page kind (4 KiB, 2 MiB THP) and size it measures, best of `--repeat`: the time
//! to move the buffer out of RAM (`park`), and to bring it back by touching every page in address
//! order (`fault-seq`) and in a random order (`fault-rand`). Every byte is checked after each
//! fault-back. It prints a table (pages/s, MiB/s, and pseudoscopic's speed as a multiple of each
//! peer's), the claims the table supports, and, with `--json`, the results as JSON.
//!
//! `ps-bench tier` is the workload of the tiering benchmark, `ps-bench tier-report` its table
//! ([`tier`], [`tier_report`]).

mod copyloop;
mod peers;
mod plot;
mod report;
mod tier;
mod tier_report;

use clap::{Parser, Subcommand};
use peers::{Peer, Pseudoscopic, TestHmm, Zram};
use pseudoscopic::{
    cli,
    mem::{Buf, PAGE},
    smaps,
};
use report::{Op, Sample};
use std::{process::ExitCode, time::Instant};

#[derive(Parser, Debug)]
#[command(
    name = "ps-bench",
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    about = "Parks buffers of each size with pseudoscopic (/dev/pseudoscopic), test_hmm
(/dev/hmm_dmirror0) and zram swap (an active /dev/zram swap device), as 4 KiB
pages and as transparent huge pages, then brings them back: by faults in address
order and in a random order, by one request to RAM, and (pseudoscopic) by
unbinding the board; pseudoscopic's RESIDENCY of the parked buffer too. Best of
N runs; every byte is checked. Prints the table, the claims it supports and,
with --json, writes the results to FILE.",
    after_help = "Exit status: 0 when every byte was right, 1 on any error (a wrong byte, a
result missing from tier-report's table), 2 on a usage error."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Buffer sizes in MiB, even numbers
    #[arg(long, value_name = "MIB,MIB...", value_delimiter = ',', default_value = "16,64", value_parser = even_mib)]
    sizes: Vec<usize>,
    /// Runs of each measurement; the best counts
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = cli::positive_arg::<usize>)]
    repeat: usize,
    /// Write the results as JSON to FILE
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Which of pseudoscopic, test_hmm and zram to measure
    #[arg(long, value_name = "PEER,PEER...", value_delimiter = ',', default_value = "pseudoscopic,test_hmm,zram", value_parser = ["pseudoscopic", "test_hmm", "zram"])]
    peers: Vec<String>,
    /// Which operations to measure (park always runs)
    #[arg(long, value_name = "OP,OP...", value_delimiter = ',', default_value = "park,residency,fault-seq,fault-rand,to-ram,unbind,evict", value_parser = ["park", "residency", "fault-seq", "fault-rand", "to-ram", "unbind", "evict"])]
    ops: Vec<String>,
    /// The guest runs under QEMU -icount shift=0: its clock counts instructions. Prints
    /// instructions per page, each run side by side, with the copy loops apart
    #[arg(long)]
    instructions: bool,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// The tiering benchmark's workload: a hot set in a buffer larger than RAM
    #[command(after_help = tier::HELP)]
    Tier(tier::Options),
    /// The table of tier's JSON lines (every configuration, both kinds of data)
    #[command(
        after_help = "Ratios are to pseudoscopic's results; --json writes the table as one document."
    )]
    TierReport {
        /// Write the table as JSON to FILE
        #[arg(long, value_name = "FILE")]
        json: Option<String>,
        /// Files of JSON lines from tier
        #[arg(required = true)]
        results: Vec<String>,
    },
    /// An SVG of instructions per page against buffer size, from a run with --instructions
    Plot {
        /// Write the plot to FILE
        #[arg(long, value_name = "FILE", required = true)]
        svg: String,
        /// ps-bench's --json output of that run
        json: String,
    },
}

/// A buffer size in MiB: even (whole huge pages), 2 or more.
fn even_mib(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 2 && n % 2 == 0 => Ok(n),
        _ => Err("an even number of MiB, 2 or more".into()),
    }
}

/// A page order that visits every page once, shuffled (xorshift, fixed seed: runs compare).
fn random_order(pages: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pages).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..pages).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// A buffer of `mib` MiB filled with `seed`: 4 KiB pages, or transparent huge pages (checked).
fn buffer(mib: usize, huge: bool, seed: u64) -> Result<Buf, String> {
    let pages = (mib << 20) / PAGE;
    let buf = match huge {
        true => Buf::anon_huge(pages)?,
        false => Buf::anon(pages)?,
    };
    buf.fill_all(seed);
    if huge {
        let kb = smaps::anon_huge_kb(buf.addr())?;
        if kb != (mib << 10) as u64 {
            return Err(format!(
                "only {kb} of {} kB got transparent huge pages",
                mib << 10
            ));
        }
    }
    Ok(buf)
}

/// Times `f`, in seconds; an error (or `None`: the peer has no such operation) passes through.
fn timed(f: impl FnOnce() -> Option<Result<(), String>>) -> Result<Option<f64>, String> {
    let t = Instant::now();
    let done = f();
    let seconds = t.elapsed().as_secs_f64();
    done.transpose().map(|d| d.map(|()| seconds))
}

/// Each operation's time in one run, in the order of [`Op::ALL`]; `None` where the peer has no
/// such operation.
type Run = [Option<f64>; Op::ALL.len()];

/// Parks and brings back one configuration `repeat` times: every operation's time in each run.
/// Each bring-back starts from a freshly parked buffer and ends with every byte checked.
fn measure(
    peer: &dyn Peer,
    huge: bool,
    mib: usize,
    repeat: usize,
    ops: &[String],
) -> Result<Vec<Run>, String> {
    let pages = (mib << 20) / PAGE;
    let order = random_order(pages);
    let name = peer.name();
    let mut runs = Vec::new();
    for run in 0..repeat {
        let seed = 100 + run as u64;
        let buf = buffer(mib, huge, seed)?;
        let verify = |after: &str| {
            buf.verify_all(seed)
                .map_err(|e| format!("{name} after {after}: {e}"))
        };
        let mut times: Run = [None; Op::ALL.len()];
        // Whether the buffer is out of RAM now: each operation starts from the state it needs.
        let mut parked = false;
        for (i, op) in Op::ALL.into_iter().enumerate() {
            if op != Op::Park && !ops.iter().any(|o| o == op.name()) {
                continue;
            }
            let wants_parked = op != Op::Park && op != Op::Unbind;
            if wants_parked && !parked {
                peer.park(&buf)?;
            }
            if !wants_parked && parked {
                verify("a run's last operation")?;
            }
            let touch = |pages: &mut dyn Iterator<Item = usize>| {
                for page in pages {
                    buf.touch_read(page);
                }
                Some(Ok(()))
            };
            times[i] = match op {
                Op::Park => timed(|| Some(peer.park(&buf)))?,
                Op::Residency => timed(|| peer.residency(&buf))?,
                Op::FaultSequential => timed(|| touch(&mut (0..pages)))?,
                Op::FaultRandom => timed(|| touch(&mut order.iter().copied()))?,
                Op::ToRam => timed(|| peer.to_ram(&buf))?,
                Op::Unbind | Op::Evict => {
                    let t = timed(|| peer.evict(&buf));
                    peer.restore()?;
                    // `Op::ALL` lists the operations in the order they are declared.
                    let unbind = times[Op::Unbind as usize];
                    match op {
                        Op::Evict => t?.map(|t| t - unbind.unwrap_or(0.0)),
                        _ => t?,
                    }
                }
            };
            // A peer without the operation leaves the buffer as it was; after a bring-back,
            // every byte must be right.
            parked = wants_parked || op == Op::Park;
            if times[i].is_some() && op.brings_back() {
                verify(op.name())?;
                parked = false;
            }
        }
        // What is still parked comes back before the buffer goes (and is checked).
        if parked {
            verify("the last operation")?;
        }
        runs.push(times);
    }
    Ok(runs)
}

fn run(opts: &Args) -> Result<(), String> {
    let mut peers: Vec<Box<dyn Peer>> = Vec::new();
    for name in &opts.peers {
        peers.push(match name.as_str() {
            "pseudoscopic" => Box::new(Pseudoscopic::open()?),
            "test_hmm" => Box::new(TestHmm::open()?),
            _ => Box::new(Zram::open()?),
        });
    }
    let copy_path = std::fs::read_to_string("/sys/module/pseudoscopic/stats/copy_path")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mut samples = Vec::new();
    for huge in [false, true] {
        for &mib in &opts.sizes {
            for peer in &peers {
                let runs = measure(peer.as_ref(), huge, mib, opts.repeat, &opts.ops)
                    .map_err(|e| format!("{} {mib} MiB: {e}", peer.name()))?;
                for (i, op) in Op::ALL.into_iter().enumerate() {
                    let Some(times) = runs.iter().map(|r| r[i]).collect::<Option<Vec<f64>>>()
                    else {
                        continue;
                    };
                    let s = Sample {
                        peer: peer.name(),
                        huge,
                        mib,
                        op,
                        seconds: times.iter().copied().fold(f64::INFINITY, f64::min),
                        runs: times,
                    };
                    println!(
                        "{:<13} {:<4} {:>4} MiB {:<11} {:>12.6} s {:>10.0} pages/s",
                        s.peer,
                        if huge { "THP" } else { "4K" },
                        mib,
                        op.name(),
                        s.seconds,
                        s.pages_per_s()
                    );
                    samples.push(s);
                }
            }
        }
    }
    let loops = match opts.instructions {
        true => copyloop::measure(&copy_path)?,
        false => None,
    };
    let claims = report::claims(&samples, &opts.sizes);
    println!("\nCPU copy routine: {copy_path}\n");
    match opts.instructions {
        true => println!(
            "{}",
            report::instructions_table(&samples, &opts.sizes, loops.as_ref())
        ),
        false => println!("{}", report::table(&samples, &opts.sizes)),
    }
    println!("Claims:\n{}", report::claims_text(&claims));
    if let Some(path) = &opts.json {
        let what = report::Measure {
            copy_path: &copy_path,
            instructions: opts.instructions,
            copy_loops: loops,
        };
        std::fs::write(path, report::json(&samples, &claims, &what))
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// `ps-bench tier-report [--json FILE] RESULTS...`.
fn tier_report(json: Option<&str>, files: &[String]) -> Result<(), String> {
    let texts = files
        .iter()
        .map(|f| std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let records = tier_report::load(&texts)?;
    print!("{}", tier_report::table(&records));
    println!(
        "Claims:\n{}",
        tier_report::claims_text(&tier_report::claims(&records))
    );
    if let Some(path) = json {
        std::fs::write(path, tier_report::json(&records)).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = cli::parse::<Args>();
    let result = match &args.command {
        Some(Sub::Tier(opts)) => {
            if let Err(message) = opts.check() {
                cli::usage_error::<Args>(message);
            }
            tier::run(opts)
        }
        Some(Sub::TierReport { json, results }) => tier_report(json.as_deref(), results),
        Some(Sub::Plot { svg, json }) => std::fs::read_to_string(json)
            .map_err(|e| format!("{json}: {e}"))
            .and_then(|text| plot::plot(&text, svg)),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ps-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_order_visits_every_page_once() {
        let mut order = random_order(1000);
        assert_ne!(order, (0..1000).collect::<Vec<_>>());
        order.sort_unstable();
        assert_eq!(order, (0..1000).collect::<Vec<_>>());
    }

    fn args(list: &[&str]) -> Result<Args, clap::Error> {
        match cli::try_parse_from::<Args, _, _>(
            std::iter::once("ps-bench").chain(list.iter().copied()),
        )? {
            cli::Invocation::Run(a) => Ok(a),
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_options() {
        cli::command::<Args>().debug_assert();
        let o = args(&["--sizes", "8,32", "--repeat", "2", "--json", "/tmp/x"]).unwrap();
        assert_eq!(o.sizes, vec![8, 32]);
        assert_eq!(o.repeat, 2);
        assert_eq!(o.json.as_deref(), Some("/tmp/x"));
        assert!(o.command.is_none());
        let o = args(&[]).unwrap();
        assert_eq!((o.sizes, o.repeat), (vec![16, 64], 3));
        match args(&["tier-report", "--json", "/tmp/t.json", "a.jsonl", "b.jsonl"])
            .unwrap()
            .command
        {
            Some(Sub::TierReport { json, results }) => {
                assert_eq!(json.as_deref(), Some("/tmp/t.json"));
                assert_eq!(results, ["a.jsonl", "b.jsonl"]);
            }
            other => panic!("{other:?}"),
        }
        match args(&["tier", "--label", "a", "--mib", "128", "--hot-mib", "8"])
            .unwrap()
            .command
        {
            Some(Sub::Tier(t)) => assert_eq!((t.label.as_str(), t.mib, t.hot_mib), ("a", 128, 8)),
            other => panic!("{other:?}"),
        }
        for bad in [
            &["--sizes", "3"][..],
            &["--sizes", "8,0"],
            &["--repeat", "0"],
            &["--bogus"],
            &["tier-report"],
            &["tier", "--mib", "128"],
            &["--repeat", "2", "tier"],
        ] {
            let e = args(bad).unwrap_err();
            assert_eq!(e.exit_code(), cli::Status::Usage as i32, "{bad:?}");
        }
    }
}
