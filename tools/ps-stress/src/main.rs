// SPDX-License-Identifier: GPL-2.0

//! ps-stress: concurrent migrations, CPU faults and forks over the same memory, every byte
//! checked after every step.
//!
//! Each thread owns a region it rewrites, parks and brings back at random; all threads also read
//! and re-park one common region, so migrations and faults of the same pages race. Every few steps
//! a thread forks a child that checks both regions. The GPU may be unbound during a run: requests
//! then fail with ENODEV and the data must still be intact.

use pseudoscopic::{
    abi::{self, Device, Direction, Migrate},
    mem::{Buf, PAGE},
    parse_size,
};
use std::{
    io,
    process::ExitCode,
    sync::atomic::{AtomicU64, Ordering},
};

const USAGE: &str = "\
Usage: ps-stress [--threads N] [--region SIZE] [--steps N] [--seed N] [--dev PATH]

Runs N threads (default 4), each over its own region of SIZE bytes (default 2M) and
all over one common region of the same size, for --steps random steps each
(default 200): rewrite part of the region, park part of it, bring part back,
re-park part of the common region, fork a child that checks both regions.
Every byte is checked after every step. ENODEV (no GPU, e.g. unbound during the
run) is tolerated. Prints a summary and 'ok', or 'FAIL: reason' and exits 1.";

/// xorshift64*: reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random `[first, first + len)` inside `pages` pages, at least one page long.
    fn span(&mut self, pages: usize) -> (usize, usize) {
        let first = (self.next() % pages as u64) as usize;
        let len = 1 + (self.next() % (pages - first) as u64) as usize;
        (first, len)
    }
}

#[derive(Default)]
struct Totals {
    steps: AtomicU64,
    parked: AtomicU64,
    brought_back: AtomicU64,
    forks: AtomicU64,
    enodev: AtomicU64,
}

struct Options {
    threads: usize,
    pages: usize,
    steps: usize,
    seed: u64,
    dev: String,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        threads: 4,
        pages: (2 << 20) / PAGE,
        steps: 200,
        seed: 1,
        dev: abi::DEVICE_PATH.to_string(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--threads" => o.threads = value()?.parse().map_err(|_| "bad --threads")?,
            "--region" => {
                let bytes = parse_size(&value()?).ok_or("bad --region")?;
                o.pages = (bytes as usize / PAGE).max(1);
            }
            "--steps" => o.steps = value()?.parse().map_err(|_| "bad --steps")?,
            "--seed" => o.seed = value()?.parse().map_err(|_| "bad --seed")?,
            "--dev" => o.dev = value()?,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    if o.threads == 0 || o.steps == 0 {
        return Err("--threads and --steps must be positive".into());
    }
    Ok(o)
}

/// Sends a migration; ENODEV (no GPU any more) counts as "nothing moved".
fn migrate(
    dev: &Device,
    dir: Direction,
    buf: &Buf,
    first: usize,
    pages: usize,
    totals: &Totals,
) -> Result<Migrate, String> {
    let mut req = Migrate::new(
        buf.page_addr(first),
        (pages * PAGE) as u64,
        abi::PIDFD_SELF,
        abi::DEVICE_ANY,
    );
    match dev.migrate(dir, &mut req) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
            totals.enodev.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && dir == Direction::ToDevice => {}
        Err(e) => return Err(format!("{dir:?} of {pages} pages: {e}")),
    }
    if req.moved + req.skipped() != pages as u64 && req.moved + req.skipped() != 0 {
        return Err(format!(
            "{dir:?}: counters do not add up to {pages}: {req:?}"
        ));
    }
    Ok(req)
}

/// Checks pages `first..first + seeds.len()` of `buf` against the seeds they were last written
/// with.
fn verify(buf: &Buf, seeds: &[u64], first: usize) -> Result<(), String> {
    for (i, seed) in seeds.iter().enumerate() {
        buf.verify(*seed, first + i, 1)?;
    }
    Ok(())
}

/// Forks a child that checks both regions and exits 0 (intact) or 1; returns its verdict.
fn fork_and_check(own: &Buf, seeds: &[u64], common: &Buf, common_seed: u64) -> Result<(), String> {
    // SAFETY: The child only reads memory and exits; it takes no locks other threads may hold
    // (it allocates nothing on the success path).
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(format!("fork: {}", io::Error::last_os_error())),
        0 => {
            let ok = verify(own, seeds, 0).is_ok() && common.verify_all(common_seed).is_ok();
            // SAFETY: Leaves the child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        pid => {
            let mut status = 0;
            // SAFETY: Waits for our own child.
            if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
                return Err(format!("waitpid: {}", io::Error::last_os_error()));
            }
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                Ok(())
            } else {
                Err(format!(
                    "forked child found different data (status {status:#x})"
                ))
            }
        }
    }
}

fn worker(
    id: usize,
    o: &Options,
    common: &Buf,
    common_seed: u64,
    totals: &Totals,
) -> Result<(), String> {
    let dev = Device::open(&o.dev).map_err(|e| format!("{}: {e}", o.dev))?;
    let mut rng = Rng(o.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (id as u64 + 1) | 1);
    let own = Buf::anon(o.pages)?;
    let mut seeds = vec![0u64; o.pages];
    let mut next_seed = (id as u64 + 1) << 32;
    for (page, seed) in seeds.iter_mut().enumerate() {
        *seed = next_seed;
        own.fill(next_seed, page, 1);
    }
    for step in 0..o.steps {
        let (first, len) = rng.span(o.pages);
        match rng.next() % 6 {
            0 => {
                next_seed += 1;
                own.fill(next_seed, first, len);
                seeds[first..first + len].fill(next_seed);
            }
            1 | 2 => {
                let r = migrate(&dev, Direction::ToDevice, &own, first, len, totals)?;
                totals.parked.fetch_add(r.moved, Ordering::Relaxed);
            }
            3 => {
                let r = migrate(&dev, Direction::ToRam, &own, first, len, totals)?;
                totals.brought_back.fetch_add(r.moved, Ordering::Relaxed);
            }
            4 => {
                let (cf, cl) = rng.span(o.pages);
                let r = migrate(&dev, Direction::ToDevice, common, cf, cl, totals)?;
                totals.parked.fetch_add(r.moved, Ordering::Relaxed);
            }
            _ => {
                if step % 4 == 0 {
                    fork_and_check(&own, &seeds, common, common_seed)
                        .map_err(|e| format!("thread {id} step {step}: {e}"))?;
                    totals.forks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Check part of the region after each step (faulting those pages back) and all of it
        // every few steps, so that parked pages stay parked for a while and requests race.
        let (vf, vl) = if step % 8 == 7 {
            (0, o.pages)
        } else {
            rng.span(o.pages)
        };
        verify(&own, &seeds[vf..vf + vl], vf)
            .map_err(|e| format!("thread {id} step {step}, own region: {e}"))?;
        let (cf, cl) = rng.span(o.pages);
        common
            .verify(common_seed, cf, cl)
            .map_err(|e| format!("thread {id} step {step}, common region: {e}"))?;
        totals.steps.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn run(o: &Options) -> Result<String, String> {
    let common = Buf::anon(o.pages)?;
    let common_seed = o.seed ^ 0xc0ff_ee00;
    common.fill_all(common_seed);
    let totals = Totals::default();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.threads)
            .map(|id| {
                let (common, totals) = (&common, &totals);
                s.spawn(move || worker(id, o, common, common_seed, totals))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err("thread panicked".into())))
            .collect()
    });
    for r in results {
        r?;
    }
    common.verify_all(common_seed)?;
    Ok(format!(
        "{} steps on {} threads: {} pages parked, {} brought back by request, {} forks checked, {} requests found no GPU",
        totals.steps.load(Ordering::Relaxed),
        o.threads,
        totals.parked.load(Ordering::Relaxed),
        totals.brought_back.load(Ordering::Relaxed),
        totals.forks.load(Ordering::Relaxed),
        totals.enodev.load(Ordering::Relaxed),
    ))
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("ps-stress: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(summary) => {
            println!("{summary}\nok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("FAIL: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_stay_inside() {
        let mut rng = Rng(7);
        for _ in 0..10_000 {
            let (first, len) = rng.span(37);
            assert!(len >= 1 && first + len <= 37);
        }
    }

    #[test]
    fn rng_is_reproducible() {
        let (mut a, mut b) = (Rng(42), Rng(42));
        assert!((0..100).all(|_| a.next() == b.next()));
    }
}
