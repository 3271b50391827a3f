// SPDX-License-Identifier: GPL-2.0

//! ps-stress: concurrent migrations, CPU faults and forks over the same memory, every byte
//! checked after every step.
//!
//! Each thread owns a region it rewrites, parks, brings back and munmaps at random; all threads
//! also read and re-park one common region, so migrations and faults of the same pages race. Every
//! few steps a thread forks a child that checks both regions. The GPU may be unbound during a run:
//! requests then fail with ENODEV and the data must still be intact.

use clap::Parser;
use pseudoscopic::{
    abi::{self, Device, Direction, Migrate},
    cli::{self, Failure, Status},
    json,
    mem::{Buf, PAGE},
    rng::Rng,
    sysfs::Stats,
    System,
};
use rustix::io::Errno;
use serde::Serialize;
use std::{
    fmt, io,
    process::ExitCode,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

#[derive(Parser, Debug)]
#[command(
    name = "ps-stress",
    about = "Runs N threads, each over its own region of SIZE bytes and all over one common
region of the same size, taking random steps: rewrite part of the region, park
part of it, bring part back, munmap part of it (parked pages too) and map it
again, re-park part of the common region, fork a child that checks both
regions. Every byte is checked after every step. ENODEV (no GPU, e.g. unbound
during the run) is tolerated.",
    after_help = "Prints a summary (steps, operations, bytes moved, the module's counters over the
run) and 'ok', or 'FAIL: reason'.
Exit status: 0 when every byte was intact, 1 on a data or request failure, 2 on a
usage error, 3 when the module is not loaded, 4 without permission."
)]
struct Args {
    /// Stop after this long (e.g. 30, 2m); --steps then limits only when given
    #[arg(long, value_name = "SECS", value_parser = cli::positive_duration_arg)]
    duration: Option<Duration>,
    /// Threads
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = cli::positive_arg::<usize>)]
    threads: usize,
    /// Bytes per region, K/M/G suffixes, at least a page
    #[arg(long, value_name = "SIZE", default_value = "2M", value_parser = region_size)]
    size: u64,
    /// Steps per thread [default: 200 without --duration]
    #[arg(long, value_name = "N", value_parser = cli::positive_arg::<u64>)]
    steps: Option<u64>,
    /// Random seed; a run is reproducible from it
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Print the summary as one JSON object
    #[arg(long)]
    json: bool,
    /// Device node
    #[arg(long, value_name = "PATH", default_value = abi::DEVICE_PATH)]
    dev: String,
}

/// A region's size: at least a page.
fn region_size(text: &str) -> Result<u64, String> {
    match cli::size_arg(text)? {
        bytes if bytes < PAGE as u64 => Err(format!("a region is at least a page ({PAGE} bytes)")),
        bytes => Ok(bytes),
    }
}

#[derive(Default)]
struct Totals {
    steps: AtomicU64,
    /// Pages moved to VRAM, and to RAM by request.
    parked: AtomicU64,
    brought_back: AtomicU64,
    park_requests: AtomicU64,
    ram_requests: AtomicU64,
    rewrites: AtomicU64,
    munmaps: AtomicU64,
    forks: AtomicU64,
    /// Bytes compared with what was written.
    bytes_checked: AtomicU64,
    enodev: AtomicU64,
}

#[derive(Debug)]
struct Options {
    threads: usize,
    pages: usize,
    steps: Option<u64>,
    duration: Option<Duration>,
    seed: u64,
    json: bool,
    dev: String,
}

impl Args {
    /// The run's options: --steps defaults to 200 without --duration.
    fn options(self) -> Options {
        Options {
            threads: self.threads,
            pages: (self.size / PAGE as u64) as usize,
            steps: match self.duration {
                None => Some(self.steps.unwrap_or(200)),
                Some(_) => self.steps,
            },
            duration: self.duration,
            seed: self.seed,
            json: self.json,
            dev: self.dev,
        }
    }
}

impl Options {
    /// Whether a thread that took `step` steps goes on.
    fn go_on(&self, step: u64, deadline: Option<Instant>) -> bool {
        self.steps.is_none_or(|n| step < n) && deadline.is_none_or(|d| Instant::now() < d)
    }
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
    match dir {
        Direction::ToDevice => &totals.park_requests,
        Direction::ToRam => &totals.ram_requests,
    }
    .fetch_add(1, Ordering::Relaxed);
    match dev.migrate(dir, &mut req) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(Errno::NODEV.raw_os_error()) => {
            totals.enodev.fetch_add(1, Ordering::Relaxed);
        }
        Err(e)
            if e.raw_os_error() == Some(Errno::NOSPC.raw_os_error())
                && dir == Direction::ToDevice => {}
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

/// [`verify`], counted.
fn verify_counted(buf: &Buf, seeds: &[u64], first: usize, totals: &Totals) -> Result<(), String> {
    verify(buf, seeds, first)?;
    totals
        .bytes_checked
        .fetch_add((seeds.len() * PAGE) as u64, Ordering::Relaxed);
    Ok(())
}

/// Forks a child that checks both regions and exits 0 (intact) or 1; returns its verdict.
fn fork_and_check(own: &Buf, seeds: &[u64], common: &Buf, common_seed: u64) -> Result<(), String> {
    // SAFETY: The child only reads memory and exits; it takes no locks other threads may hold
    // (it allocates nothing on the success path). (libc: rustix's fork is for programs without
    // libc.)
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(format!("fork: {}", io::Error::last_os_error())),
        0 => {
            let ok = verify(own, seeds, 0).is_ok() && common.verify_all(common_seed).is_ok();
            // SAFETY: Leaves the child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        pid => {
            let status = rustix::process::waitpid(
                rustix::process::Pid::from_raw(pid),
                rustix::process::WaitOptions::empty(),
            )
            .map_err(|e| format!("waitpid: {}", io::Error::from(e)))?
            .ok_or("waitpid: no status")?
            .1;
            if status.exit_status() == Some(0) {
                Ok(())
            } else {
                Err(format!(
                    "forked child found different data (status {:#x})",
                    status.as_raw()
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
    deadline: Option<Instant>,
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
    let mut step = 0;
    while o.go_on(step, deadline) {
        let (first, len) = rng.span(o.pages);
        match rng.next_u64() % 7 {
            0 => {
                totals.rewrites.fetch_add(1, Ordering::Relaxed);
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
                totals.munmaps.fetch_add(1, Ordering::Relaxed);
                own.replace_part(first, len)?;
                own.verify_zero(first, len)
                    .map_err(|e| format!("thread {id} step {step}, after munmap: {e}"))?;
                next_seed += 1;
                own.fill(next_seed, first, len);
                seeds[first..first + len].fill(next_seed);
            }
            5 => {
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
        verify_counted(&own, &seeds[vf..vf + vl], vf, totals)
            .map_err(|e| format!("thread {id} step {step}, own region: {e}"))?;
        let (cf, cl) = rng.span(o.pages);
        common
            .verify(common_seed, cf, cl)
            .map_err(|e| format!("thread {id} step {step}, common region: {e}"))?;
        totals
            .bytes_checked
            .fetch_add((cl * PAGE) as u64, Ordering::Relaxed);
        totals.steps.fetch_add(1, Ordering::Relaxed);
        step += 1;
    }
    Ok(())
}

/// What a run did.
struct Summary {
    threads: usize,
    seconds: f64,
    steps: u64,
    park_requests: u64,
    ram_requests: u64,
    rewrites: u64,
    munmaps: u64,
    forks: u64,
    pages_parked: u64,
    pages_brought_back: u64,
    bytes_checked: u64,
    enodev: u64,
    /// The module's counters over the run (all processes), when sysfs was readable.
    kernel: Option<Stats>,
}

impl Summary {
    fn text(&self) -> String {
        let page = PAGE as u64;
        let mut out = format!(
            "{} steps on {} threads: {} pages parked, {} brought back by request, {} forks checked, {} requests found no GPU\n",
            self.steps, self.threads, self.pages_parked, self.pages_brought_back, self.forks, self.enodev
        );
        out.push_str(&format!(
            "operations: {} park requests, {} to-RAM requests, {} rewrites, {} munmaps, {} forks in {:.1} s\n",
            self.park_requests,
            self.ram_requests,
            self.rewrites,
            self.munmaps,
            self.forks,
            self.seconds
        ));
        out.push_str(&format!(
            "bytes moved by request: {} to VRAM, {} to RAM; {} checked\n",
            cli::human_bytes(self.pages_parked * page),
            cli::human_bytes(self.pages_brought_back * page),
            cli::human_bytes(self.bytes_checked)
        ));
        if let Some(k) = &self.kernel {
            out.push_str(&format!(
                "module counters over the run: {} page faults, {} to VRAM, {} to RAM\n",
                k.get("page_faults"),
                cli::human_bytes(k.get("bytes_to_device")),
                cli::human_bytes(k.get("bytes_to_ram"))
            ));
        }
        out
    }

    /// The summary as `--json` shows it.
    fn json(&self) -> SummaryJson<'_> {
        let page = PAGE as u64;
        SummaryJson {
            threads: self.threads,
            seconds: self.seconds,
            steps: self.steps,
            operations: OperationsJson {
                park_requests: self.park_requests,
                ram_requests: self.ram_requests,
                rewrites: self.rewrites,
                munmaps: self.munmaps,
                forks: self.forks,
            },
            bytes_to_vram: self.pages_parked * page,
            bytes_to_ram: self.pages_brought_back * page,
            bytes_checked: self.bytes_checked,
            enodev: self.enodev,
            module_counters: self.kernel.as_ref(),
        }
    }
}

#[derive(Serialize)]
struct OperationsJson {
    park_requests: u64,
    ram_requests: u64,
    rewrites: u64,
    munmaps: u64,
    forks: u64,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    threads: usize,
    seconds: f64,
    steps: u64,
    operations: OperationsJson,
    bytes_to_vram: u64,
    bytes_to_ram: u64,
    bytes_checked: u64,
    enodev: u64,
    module_counters: Option<&'a Stats>,
}

impl fmt::Display for SummaryJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&json::to_string(self))
    }
}

/// A finished run in `--json`: the summary, then `"ok":true`.
#[derive(Serialize)]
struct FinishedJson<'a> {
    #[serde(flatten)]
    summary: SummaryJson<'a>,
    ok: bool,
}

/// A failed run in `--json`.
#[derive(Serialize)]
struct FailureJson<'a> {
    ok: bool,
    error: &'a str,
}

fn run(o: &Options) -> Result<Summary, Failure> {
    // One clear error before any thread starts, when the module is missing or closed to us.
    drop(cli::open_device(&o.dev)?);
    let sys = System::default();
    let kernel0 = sys.stats().ok();
    let started = Instant::now();
    let deadline = o.duration.map(|d| started + d);
    let common = Buf::anon(o.pages).map_err(Failure::failed)?;
    let common_seed = o.seed ^ 0xc0ff_ee00;
    common.fill_all(common_seed);
    let totals = Totals::default();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..o.threads)
            .map(|id| {
                let (common, totals) = (&common, &totals);
                s.spawn(move || worker(id, o, common, common_seed, totals, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err("thread panicked".into())))
            .collect()
    });
    for r in results {
        r.map_err(Failure::failed)?;
    }
    common.verify_all(common_seed).map_err(Failure::failed)?;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Ok(Summary {
        threads: o.threads,
        seconds: started.elapsed().as_secs_f64(),
        steps: get(&totals.steps),
        park_requests: get(&totals.park_requests),
        ram_requests: get(&totals.ram_requests),
        rewrites: get(&totals.rewrites),
        munmaps: get(&totals.munmaps),
        forks: get(&totals.forks),
        pages_parked: get(&totals.parked),
        pages_brought_back: get(&totals.brought_back),
        bytes_checked: get(&totals.bytes_checked) + common.size(),
        enodev: get(&totals.enodev),
        kernel: kernel0.and_then(|k0| sys.stats().ok().map(|k1| k1.since(&k0))),
    })
}

fn main() -> ExitCode {
    let o = cli::parse::<Args>().options();
    match run(&o) {
        Ok(summary) if o.json => {
            println!(
                "{}",
                json::to_string(&FinishedJson {
                    summary: summary.json(),
                    ok: true,
                })
            );
            ExitCode::SUCCESS
        }
        Ok(summary) => {
            print!("{}", summary.text());
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(f) if f.status == Status::Failed => {
            if o.json {
                println!(
                    "{}",
                    json::to_string(&FailureJson {
                        ok: false,
                        error: &f.message,
                    })
                );
            } else {
                println!("FAIL: {f}");
            }
            ExitCode::from(Status::Failed)
        }
        Err(f) => f.report("ps-stress"),
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

    fn args(list: &[&str]) -> Result<Options, clap::Error> {
        match cli::try_parse_from::<Args, _, _>(
            std::iter::once("ps-stress").chain(list.iter().copied()),
        )? {
            cli::Invocation::Run(a) => Ok(a.options()),
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn options_parse() {
        cli::command::<Args>().debug_assert();
        let o = args(&[]).unwrap();
        assert_eq!(
            (o.threads, o.pages, o.steps, o.duration),
            (4, 512, Some(200), None)
        );
        assert_eq!((o.seed, o.json), (1, false));
        assert_eq!(o.dev, abi::DEVICE_PATH);
        let o = args(&[
            "--duration",
            "2m",
            "--threads",
            "8",
            "--size",
            "1M",
            "--json",
        ])
        .unwrap();
        assert_eq!(o.duration, Some(Duration::from_secs(120)));
        assert_eq!((o.threads, o.pages, o.steps), (8, 256, None));
        assert!(o.json);
        let o = args(&["--duration", "1", "--steps", "5"]).unwrap();
        assert_eq!(o.steps, Some(5));
        assert_eq!(args(&["-h"]).unwrap_err().exit_code(), 0);
        for bad in [
            &["--threads", "0"][..],
            &["--size", "100"],
            &["--steps", "0"],
            &["--duration", "0"],
            &["--duration", "soon"],
            &["--seed", "-1"],
            &["--region", "1M"],
            &["--threads"],
        ] {
            let e = args(bad).unwrap_err();
            assert_eq!(e.exit_code(), Status::Usage as i32, "{bad:?}");
        }
    }

    #[test]
    fn stops_at_steps_or_deadline() {
        let o = args(&["--steps", "3"]).unwrap();
        assert!(o.go_on(2, None) && !o.go_on(3, None));
        let past = Some(Instant::now() - Duration::from_millis(1));
        let o = args(&["--duration", "10"]).unwrap();
        assert!(o.go_on(1_000_000, Some(Instant::now() + Duration::from_secs(60))));
        assert!(!o.go_on(0, past));
    }

    #[test]
    fn summary_reports_operations_and_bytes() {
        let s = Summary {
            threads: 2,
            seconds: 1.25,
            steps: 10,
            park_requests: 4,
            ram_requests: 3,
            rewrites: 2,
            munmaps: 5,
            forks: 1,
            pages_parked: 256,
            pages_brought_back: 512,
            bytes_checked: 1 << 20,
            enodev: 0,
            kernel: None,
        };
        assert_eq!(
            s.text(),
            "10 steps on 2 threads: 256 pages parked, 512 brought back by request, 1 forks checked, 0 requests found no GPU\n\
             operations: 4 park requests, 3 to-RAM requests, 2 rewrites, 5 munmaps, 1 forks in 1.2 s\n\
             bytes moved by request: 1.0 MiB to VRAM, 2.0 MiB to RAM; 1.0 MiB checked\n"
        );
        assert_eq!(
            s.json().to_string(),
            r#"{"threads":2,"seconds":1.25,"steps":10,"operations":{"park_requests":4,"ram_requests":3,"rewrites":2,"munmaps":5,"forks":1},"bytes_to_vram":1048576,"bytes_to_ram":2097152,"bytes_checked":1048576,"enodev":0,"module_counters":null}"#
        );
        assert!(json::to_string(&FinishedJson {
            summary: s.json(),
            ok: true
        })
        .ends_with(r#","enodev":0,"module_counters":null,"ok":true}"#));
    }

    #[test]
    fn rng_is_reproducible() {
        let (mut a, mut b) = (Rng(42), Rng(42));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    }
}
