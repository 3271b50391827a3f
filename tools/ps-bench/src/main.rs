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

mod jsonl;
mod peers;
mod report;
mod tier;
mod tier_report;

use peers::{Peer, Pseudoscopic, TestHmm, Zram};
use pseudoscopic::{
    mem::{Buf, PAGE},
    smaps,
};
use report::{Op, Sample};
use std::{process::ExitCode, time::Instant};

const USAGE: &str = "\
Usage: ps-bench [--sizes MIB,MIB...] [--repeat N] [--json FILE]";

const HELP: &str = "\
Parks buffers of each size (default 16,64 MiB) with pseudoscopic (/dev/pseudoscopic),
test_hmm (/dev/hmm_dmirror0) and zram swap (an active /dev/zram swap device), as 4 KiB
pages and as transparent huge pages, then faults them back in address order and in a
random order; best of N runs (default 3). Every byte is checked. Prints the table, the
claims it supports and, with --json, writes the results to FILE. Exits 1 on any error.";

struct Options {
    sizes: Vec<usize>,
    repeat: usize,
    json: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        sizes: vec![16, 64],
        repeat: 3,
        json: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--sizes" => {
                opts.sizes = value()?
                    .split(',')
                    .map(|s| match s.parse::<usize>() {
                        Ok(n) if n >= 2 && n % 2 == 0 => Ok(n),
                        _ => Err(format!("bad size {s:?}: an even number of MiB, 2 or more")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--repeat" => {
                opts.repeat = match value()?.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err("--repeat needs a positive number".into()),
                }
            }
            "--json" => opts.json = Some(value()?.clone()),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(opts)
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

/// Parks and faults back one configuration `repeat` times; the best time of each operation.
fn measure(peer: &dyn Peer, huge: bool, mib: usize, repeat: usize) -> Result<[f64; 3], String> {
    let pages = (mib << 20) / PAGE;
    let order = random_order(pages);
    let mut best = [f64::INFINITY; 3];
    for run in 0..repeat {
        let seed = 100 + run as u64;
        let buf = buffer(mib, huge, seed)?;
        let t = Instant::now();
        peer.park(&buf)?;
        best[0] = best[0].min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for page in 0..pages {
            buf.touch_read(page);
        }
        best[1] = best[1].min(t.elapsed().as_secs_f64());
        buf.verify_all(seed)
            .map_err(|e| format!("{} after fault-seq: {e}", peer.name()))?;
        peer.park(&buf)?;
        let t = Instant::now();
        for &page in &order {
            buf.touch_read(page);
        }
        best[2] = best[2].min(t.elapsed().as_secs_f64());
        buf.verify_all(seed)
            .map_err(|e| format!("{} after fault-rand: {e}", peer.name()))?;
    }
    Ok(best)
}

fn run(opts: &Options) -> Result<(), String> {
    let peers: Vec<Box<dyn Peer>> = vec![
        Box::new(Pseudoscopic::open()?),
        Box::new(TestHmm::open()?),
        Box::new(Zram::open()?),
    ];
    let copy_path = std::fs::read_to_string("/sys/module/pseudoscopic/stats/copy_path")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mut samples = Vec::new();
    for huge in [false, true] {
        for &mib in &opts.sizes {
            for peer in &peers {
                let best = measure(peer.as_ref(), huge, mib, opts.repeat)
                    .map_err(|e| format!("{} {mib} MiB: {e}", peer.name()))?;
                for (op, seconds) in Op::ALL.into_iter().zip(best) {
                    let s = Sample {
                        peer: peer.name(),
                        huge,
                        mib,
                        op,
                        seconds,
                    };
                    println!(
                        "{:<13} {:<4} {:>4} MiB {:<11} {:>10.4} s {:>10.0} pages/s",
                        s.peer,
                        if huge { "THP" } else { "4K" },
                        mib,
                        op.name(),
                        seconds,
                        s.pages_per_s()
                    );
                    samples.push(s);
                }
            }
        }
    }
    let claims = report::claims(&samples, &opts.sizes);
    println!(
        "\nCPU copy routine: {copy_path}\n\n{}",
        report::table(&samples, &opts.sizes)
    );
    println!("Claims:\n{}", report::claims_text(&claims));
    if let Some(path) = &opts.json {
        std::fs::write(path, report::json(&samples, &claims, &copy_path))
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// `ps-bench tier-report [--json FILE] RESULTS...`.
fn tier_report(args: &[String]) -> Result<(), String> {
    let (json, files) = match args {
        [flag, path, files @ ..] if flag == "--json" => (Some(path), files),
        files => (None, files),
    };
    if files.is_empty() {
        return Err("tier-report needs result files".into());
    }
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}\n{}\n\n{HELP}\n\n{}", tier::USAGE, tier::HELP);
        return ExitCode::SUCCESS;
    }
    let result = match args.first().map(String::as_str) {
        Some("tier") => tier::parse(&args[1..]).and_then(|opts| tier::run(&opts)),
        Some("tier-report") => tier_report(&args[1..]),
        _ => parse(&args).and_then(|opts| run(&opts)),
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

    #[test]
    fn parses_options() {
        let args: Vec<String> = ["--sizes", "8,32", "--repeat", "2", "--json", "/tmp/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse(&args).unwrap();
        assert_eq!(o.sizes, vec![8, 32]);
        assert_eq!(o.repeat, 2);
        assert_eq!(o.json.as_deref(), Some("/tmp/x"));
        assert!(parse(&["--sizes".into(), "3".into()]).is_err());
        assert!(parse(&["--repeat".into(), "0".into()]).is_err());
        assert!(parse(&["--bogus".into()]).is_err());
    }
}
