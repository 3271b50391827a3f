// SPDX-License-Identifier: GPL-2.0

//! ps-tierd: VRAM as a memory tier without anybody asking. Under memory pressure it parks the
//! cold anonymous memory of the machine's processes in VRAM; the module brings pages back when
//! they are touched. DAMON (sysfs) finds what is cold, PSI and MemAvailable say how much to park
//! ([`control::Pressure`]), and the module's early-refault counter says whether "cold" means cold
//! enough ([`control::Quality`]).

mod config;
mod control;
mod damon;
mod ledger;
mod plan;
mod procs;
#[cfg(test)]
mod testtree;

use clap::Parser;
use config::{Config, DamonStatPolicy};
use control::{Pressure, Quality};
use damon::{Attrs, Damon, DamonStat};
use ledger::Ledger;
use procs::{Process, Procfs};
use pseudoscopic::{
    abi::{self, Device, Direction, Migrate, Residency},
    cli::{self, human_bytes, Failure, Status},
    json, maps, System,
};
use rustix::io::Errno;
use rustix::{
    event::{poll, PollFd, PollFlags, Timespec},
    fs::OFlags,
};
use serde::Serialize;
use std::{
    collections::{HashMap, HashSet},
    fs::{File, OpenOptions},
    io::{self, Write as _},
    os::{
        fd::{AsRawFd, OwnedFd},
        unix::fs::OpenOptionsExt,
    },
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

const TOOL: &str = "ps-tierd";
/// The PSI trigger that wakes a step early: 100 ms of "some" memory stall within 1 s.
const PSI_TRIGGER: &str = "some 100000 1000000";

#[derive(Parser, Debug)]
#[command(
    name = "ps-tierd",
    about = "Parks the cold anonymous memory of the machine's processes in VRAM while
memory is short, so that the VRAM pseudoscopic lends serves as memory without
anybody asking. DAMON (sysfs, one kdamond per process) finds ranges not accessed
for the cold age; a pressure loop (PSI, MemAvailable against a free-RAM reserve)
decides how much to park per step, at most 2 MiB per request under a rate quota;
a quality loop raises the cold age when pages come back soon after being parked
(the module's early_refaults). Kernel threads, ps-tierd itself and what the
configuration excludes are never touched. Runs until SIGTERM or SIGINT.",
    after_help = "Exit status: 0 after SIGTERM or SIGINT (or --steps steps), 1 when DAMON or the
configuration cannot be used, 2 on a usage error, 4 without permission for the
device node."
)]
struct Args {
    /// Configuration file [default: /etc/pseudoscopic/tierd.toml, if present]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print what would be parked instead of parking it
    #[arg(long)]
    dry_run: bool,
    /// Print one JSON object per control step
    #[arg(long)]
    json: bool,
    /// Stop after N control steps
    #[arg(long, value_name = "N", value_parser = cli::positive_arg::<u64>)]
    steps: Option<u64>,
    /// Device node
    #[arg(long, value_name = "PATH", default_value = abi::DEVICE_PATH)]
    dev: String,
    /// Read sysfs and procfs under DIR instead of / (for testing)
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// (libc: rustix installs no signal handlers in programs that use libc.)
fn install_signal_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// A PSI trigger on `/proc/pressure/memory`, when the kernel has PSI and lets us set one.
fn psi_trigger(path: &std::path::Path) -> Option<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .ok()?;
    f.write_all(PSI_TRIGGER.as_bytes()).ok()?;
    Some(f)
}

/// Waits up to `secs` seconds, less when the PSI trigger fires or a signal arrives.
fn wait(trigger: Option<&File>, secs: f64) {
    let timeout = Timespec {
        tv_sec: secs.trunc() as i64,
        tv_nsec: (secs.fract() * 1e9) as i64,
    };
    // Interrupted by a signal, either returns early, which is what a stop wants.
    match trigger {
        Some(f) => {
            let _ = poll(&mut [PollFd::new(f, PollFlags::PRI)], Some(&timeout));
        }
        None => {
            let _ = rustix::thread::nanosleep(&timeout);
        }
    }
}

/// One control step in `--json`.
#[derive(Serialize)]
struct StepJson<'a> {
    /// Seconds since the start, to a tenth.
    time: f64,
    state: &'a str,
    dry_run: bool,
    mem_available: u64,
    reserve: u64,
    high: u64,
    rate: u64,
    budget: u64,
    parked: u64,
    requests: u64,
    cold: u64,
    cold_in_ram: u64,
    damon_ms: u64,
    park_ms: u64,
    step_ms: u64,
    damon_starts: u64,
    damon_stat_paused: bool,
    parked_total: u64,
    requests_total: u64,
    vram_free: u64,
    cold_age_secs: f64,
    early_refault_rate: Option<f64>,
    working_set_pages: u64,
    parked_blocks: usize,
    monitored: Vec<i32>,
}

/// What one step did, for the report.
#[derive(Debug, Default)]
struct Parked {
    bytes: u64,
    requests: u64,
    /// Cold memory DAMON reported inside parkable mappings, parked already or not.
    cold: u64,
    /// Of it, the pages in RAM the step looked at (pagemap), the only ones a request can move.
    cold_in_ram: u64,
    /// Time spent asking DAMON, and in park requests, milliseconds.
    damon_ms: u64,
    park_ms: u64,
    /// Why parking stopped early: VRAM full, no GPU.
    stopped: Option<&'static str>,
}

struct Daemon {
    config: Config,
    dry_run: bool,
    json: bool,
    dev: String,
    procfs: Procfs,
    sys: System,
    damon: Damon,
    /// DAMON_STAT, paused while ps-tierd runs if it ran (`damon_stat = "pause"`).
    damon_stat: DamonStat,
    /// Whether another user holds DAMON for itself now (kdamonds cannot start), said once.
    damon_held: bool,
    pressure: Pressure,
    quality: Quality,
    page: u64,
    started: Instant,
    last_step: Option<Instant>,
    /// Processes DAMON refused to monitor (gone, or not a process it can watch).
    refused: HashSet<i32>,
    ledger: Ledger,
    parked_total: u64,
    requests_total: u64,
    last_state: String,
}

/// `secs` in DAMON aggregation intervals of `config`.
fn aggr_intervals(config: &Config, secs: f64) -> u64 {
    ((secs * 1000.0) / config.damon_aggr_ms as f64).ceil() as u64
}

impl Daemon {
    fn new(args: &Args, config: Config) -> Result<Self, Failure> {
        let mut damon = Damon::open(&args.root).map_err(Failure::failed)?;
        let attrs = Attrs {
            sample_us: config.damon_sample_ms * 1000,
            aggr_us: config.damon_aggr_ms * 1000,
            update_us: (config.interval_secs * 1e6) as u64,
            min_age: aggr_intervals(&config, config.cold_age_secs),
            min_regions: config.damon_min_regions,
            max_regions: config.damon_max_regions,
        };
        let mut damon_stat = DamonStat::new(&args.root);
        let pause = damon_stat.running();
        if pause && config.damon_stat == DamonStatPolicy::Leave {
            return Err(Failure::failed(format!(
                "DAMON_STAT runs ({} is Y) and holds DAMON for itself, so no kdamond of ps-tierd's \
                 can start, and damon_stat = \"leave\" keeps it: set damon_stat = \"pause\", or \
                 boot with damon_stat.enabled=N",
                damon_stat.path().display()
            )));
        }
        damon
            .setup(config.max_processes, attrs)
            .map_err(|e| Failure::failed(format!("cannot set up DAMON: {e}")))?;
        if pause {
            let unrecorded = damon_stat.pause().map_err(|e| {
                Failure::failed(format!(
                    "cannot pause DAMON_STAT, which holds DAMON for itself: {e}"
                ))
            })?;
            if let Some(e) = unrecorded {
                eprintln!("{TOOL}: DAMON_STAT paused, but if ps-tierd dies it stays so: {e}");
            }
            if !args.json {
                println!(
                    "DAMON_STAT paused while ps-tierd runs (it holds DAMON for itself); it runs again when ps-tierd exits"
                );
            }
        } else if damon_stat.adopt() && !args.json {
            println!(
                "DAMON_STAT was left paused by a ps-tierd that did not exit cleanly; it runs again when ps-tierd exits"
            );
        }
        Ok(Self {
            dry_run: args.dry_run,
            json: args.json,
            dev: args.dev.clone(),
            procfs: Procfs::new(&args.root),
            sys: System::new(&args.root),
            damon,
            damon_stat,
            damon_held: false,
            pressure: Pressure::default(),
            quality: Quality::new(&config),
            page: pseudoscopic::page_size(),
            started: Instant::now(),
            last_step: None,
            refused: HashSet::new(),
            ledger: Ledger::default(),
            parked_total: 0,
            requests_total: 0,
            last_state: String::new(),
            config,
        })
    }

    /// Opens the device for one step's requests (not kept open: `rmmod` needs it closed).
    fn open_device(&self) -> Result<Option<Device>, Failure> {
        match Device::open(&self.dev) {
            Ok(dev) => Ok(Some(dev)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                Err(cli::device_open_failure(&self.dev, &e))
            }
            Err(_) => Ok(None),
        }
    }

    /// The pressure loop again, in a step still parking after its interval (parking slower than
    /// memory fills): bytes to park from now on, at most `room` (of VRAM above its reserve).
    fn more_budget(&mut self, room: u64) -> u64 {
        let Ok(mem) = self.procfs.memory() else {
            return 0;
        };
        let budget = self.pressure.step(
            &self.config,
            mem.total,
            mem.available,
            mem.some_stall_us,
            self.config.interval_secs,
        );
        budget.bytes.min(room)
    }

    /// Parks up to `budget` bytes of the cold ranges of the monitored processes, oldest first,
    /// and, while memory is still short after each `interval_secs`, more (never over `room`).
    fn park(
        &mut self,
        dev: Option<&Device>,
        monitored: &[(usize, &Process)],
        mut budget: u64,
        room: u64,
    ) -> Parked {
        let interval = Duration::from_secs_f64(self.config.interval_secs);
        let mut deadline = Instant::now() + interval;
        let mut done = Parked::default();
        let mut pidfds: HashMap<i32, OwnedFd> = HashMap::new();
        let now = self.started.elapsed().as_secs_f64();
        let age = self.quality.age_secs();
        for &(slot, proc) in monitored {
            if done.bytes + self.page > budget || done.stopped.is_some() {
                break;
            }
            let asked = Instant::now();
            let regions = self.damon.cold_regions(slot);
            done.damon_ms += asked.elapsed().as_millis() as u64;
            let Ok(regions) = regions else {
                continue;
            };
            if regions.is_empty() {
                continue;
            }
            let Some(text) = self.procfs.maps(proc.pid) else {
                continue;
            };
            let pieces = plan::pieces(&regions, &maps::parse(&text), self.page);
            done.cold += pieces.iter().map(plan::Piece::len).sum::<u64>();
            let pagemap = self.procfs.pagemap(proc.pid);
            for piece in pieces {
                // Whole requests within the budget (and so within the VRAM reserve).
                if piece.len() > budget - done.bytes {
                    break;
                }
                let block = (proc.pid, piece.start / plan::PIECE);
                if !self.ledger.may_park(block, now, age) {
                    continue;
                }
                // Only its pages in RAM: a request for memory never written, or parked already,
                // moves nothing and costs as much as one that moves 2 MiB.
                let entries = pagemap
                    .as_ref()
                    .map(|f| procs::pagemap_entries(f, piece.start, piece.end, self.page));
                let piece = match entries {
                    Some(Ok(entries)) => match plan::in_ram(piece, &entries, self.page) {
                        Some((piece, pages)) => {
                            done.cold_in_ram += pages * self.page;
                            piece
                        }
                        None => continue,
                    },
                    // Unmapped meanwhile: nothing there to park.
                    Some(Err(_)) => continue,
                    // No pagemap to read: the whole piece, unless the module says it is all in
                    // VRAM already (DAMON sees parked ranges as cold for ever).
                    None => piece,
                };
                let Some(dev) = dev else {
                    println!(
                        "would park pid {} ({}) {:#x}+{}",
                        proc.pid,
                        proc.comm,
                        piece.start,
                        piece.len()
                    );
                    done.bytes += piece.len();
                    continue;
                };
                let pidfd = match pidfds.get(&proc.pid) {
                    Some(fd) => fd.as_raw_fd(),
                    None => match abi::pidfd_open(proc.pid) {
                        Ok(fd) => {
                            let raw = fd.as_raw_fd();
                            pidfds.insert(proc.pid, fd);
                            raw
                        }
                        Err(_) => break,
                    },
                };
                // Part of what it parked of this block is back in RAM: touched again, whatever
                // DAMON's lagging age says.
                let resident = |start: u64, end: u64| {
                    let mut res = Residency {
                        addr: start,
                        length: end - start,
                        pidfd,
                        device: abi::DEVICE_ANY,
                        ..Residency::default()
                    };
                    dev.residency(&mut res)
                        .ok()
                        .map(|()| res.resident == res.pages)
                };
                let ranges = self.ledger.ranges(block);
                if ranges.iter().any(|&(s, e)| resident(s, e) == Some(false)) {
                    self.ledger.came_back(block, now);
                    continue;
                }
                if pagemap.is_none() && resident(piece.start, piece.end) == Some(true) {
                    continue;
                }
                // A step parking longer than its interval measures MemAvailable again and goes
                // on with the cold ranges it has (DAMON's answer is still good; asking again costs
                // an aggregation interval), or stops once memory is no longer short.
                if Instant::now() >= deadline {
                    budget = done.bytes + self.more_budget(room.saturating_sub(done.bytes));
                    deadline = Instant::now() + interval;
                    if piece.len() > budget - done.bytes {
                        break;
                    }
                }
                let mut req = Migrate::new(piece.start, piece.len(), pidfd, abi::DEVICE_ANY);
                let sent = Instant::now();
                let result = dev.migrate(Direction::ToDevice, &mut req);
                done.park_ms += sent.elapsed().as_millis() as u64;
                done.requests += 1;
                done.bytes += req.moved * self.page;
                // Only a piece now wholly in VRAM is recorded: a hole or a busy page in it would
                // later look like a page that came back.
                if req.moved > 0 && req.moved + req.skipped_resident == piece.len() / self.page {
                    self.ledger.parked(block, piece.start, piece.end);
                }
                match result.as_ref().err().and_then(Errno::from_io_error) {
                    None => {}
                    Some(Errno::NOSPC) => done.stopped = Some("vram_full"),
                    Some(Errno::NODEV) => done.stopped = Some("no_gpu"),
                    Some(Errno::INTR) => done.stopped = Some("interrupted"),
                    // Gone, or not ours to move: the next process.
                    Some(Errno::SRCH | Errno::PERM) => break,
                    // The mapping changed since /proc/PID/maps was read: the next piece.
                    Some(_) => {}
                }
                if done.stopped.is_some() {
                    break;
                }
            }
        }
        done
    }

    /// One control step; returns the seconds to wait before the next.
    fn step(&mut self) -> Result<f64, Failure> {
        let now = Instant::now();
        let dt = self
            .last_step
            .map_or(self.config.interval_secs, |t| (now - t).as_secs_f64());
        self.last_step = Some(now);
        let mem = self.procfs.memory().map_err(Failure::failed)?;
        let min_pages = (self.config.min_rss_mib << 20) / self.page;
        let own = std::process::id() as i32;
        let mut procs =
            self.procfs
                .candidates(&self.config, own, min_pages, self.config.max_processes);
        procs.retain(|p| !self.refused.contains(&p.pid));
        let pids: Vec<i32> = procs.iter().map(|p| p.pid).collect();
        let mut held = false;
        for (pid, e) in self.damon.assign(&pids) {
            if e.kind() == io::ErrorKind::ResourceBusy {
                // Not this process: DAMON as a whole. It is asked again next step.
                held = true;
                continue;
            }
            eprintln!("{TOOL}: not monitoring pid {pid}: {e}");
            self.refused.insert(pid);
        }
        if held && !self.damon_held {
            eprintln!(
                "{TOOL}: DAMON is held by another of its users for itself (DAMON_STAT, DAMON_RECLAIM \
                 or DAMON_LRU_SORT: /sys/module/damon_*/parameters/enabled): monitoring waits for it"
            );
        }
        self.damon_held = held;
        let elapsed = (now - self.started).as_secs_f64();
        let root = self.procfs.clone();
        self.ledger.prune(
            |pid| root.alive(pid),
            elapsed,
            self.config.max_cold_age_secs,
        );
        let slots = self.damon.monitored();
        let monitored: Vec<(usize, &Process)> = procs
            .iter()
            .filter_map(|p| {
                slots
                    .iter()
                    .find(|(_, pid)| *pid == p.pid)
                    .map(|&(s, _)| (s, p))
            })
            .collect();
        let working_set: u64 = monitored.iter().map(|(_, p)| p.rss_pages).sum();

        let loaded = self.sys.module_loaded();
        let stats = self.sys.stats().ok();
        let pool = self.sys.pool().ok().unwrap_or_default();
        let refaults = stats.as_ref().map_or(0, |s| s.get("early_refaults"));
        let old_age = self.quality.age_secs();
        if let Some(age) = self
            .quality
            .step(&self.config, elapsed, refaults, working_set)
        {
            if let Err(e) = self.damon.set_min_age(aggr_intervals(&self.config, age)) {
                eprintln!("{TOOL}: cannot change DAMON's cold age: {e}");
            }
            if !self.json {
                println!(
                    "cold age {old_age:.0} s -> {age:.0} s: early refaults {:.3}% of the working set per minute",
                    self.quality.last_rate().unwrap_or(0.0) * 100.0
                );
            }
        }

        let budget = self.pressure.step(
            &self.config,
            mem.total,
            mem.available,
            mem.some_stall_us,
            dt,
        );
        let vram_free = pool.free_pages * self.page;
        // Nearly full: not even one more whole request fits above the reserve.
        let vram_full = vram_free < (self.config.vram_reserve_mib << 20) + plan::PIECE;
        let mut state = match (loaded || self.dry_run, pool.total_pages > 0 || self.dry_run) {
            (false, _) => "no_module",
            (true, false) => "no_gpu",
            _ if vram_full && !self.dry_run => "vram_full",
            _ => budget.need.name(),
        };
        let mut parked = Parked::default();
        // Never into the VRAM reserve, even within a step.
        let room = match self.dry_run {
            true => budget.bytes,
            false => vram_free.saturating_sub(self.config.vram_reserve_mib << 20),
        };
        let bytes = budget.bytes.min(room);
        if bytes > 0 && (state == "short" || state == "urgent") {
            let dev = if self.dry_run {
                None
            } else {
                self.open_device()?
            };
            if dev.is_some() || self.dry_run {
                parked = self.park(dev.as_ref(), &monitored, bytes, room);
                if let Some(why) = parked.stopped {
                    state = why;
                }
            } else {
                state = "no_module";
            }
        }
        self.parked_total += parked.bytes;
        self.requests_total += parked.requests;
        self.report(
            &mem,
            budget,
            state,
            &parked,
            working_set,
            &monitored,
            vram_free,
        );
        self.last_state = state.to_string();
        Ok(control::pause(
            self.config.interval_secs,
            now.elapsed().as_secs_f64(),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        mem: &procs::Memory,
        budget: control::Budget,
        state: &str,
        parked: &Parked,
        working_set: u64,
        monitored: &[(usize, &Process)],
        vram_free: u64,
    ) {
        let reserve = self.config.reserve(mem.total);
        if self.json {
            let status = StepJson {
                time: (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                state,
                dry_run: self.dry_run,
                mem_available: mem.available,
                reserve,
                high: reserve + self.config.headroom(mem.total),
                rate: budget.rate,
                budget: budget.bytes,
                parked: parked.bytes,
                requests: parked.requests,
                cold: parked.cold,
                cold_in_ram: parked.cold_in_ram,
                damon_ms: parked.damon_ms,
                park_ms: parked.park_ms,
                step_ms: self.last_step.map_or(0, |t| t.elapsed().as_millis() as u64),
                damon_starts: self.damon.starts(),
                damon_stat_paused: self.damon_stat.is_paused(),
                parked_total: self.parked_total,
                requests_total: self.requests_total,
                vram_free,
                cold_age_secs: self.quality.age_secs(),
                early_refault_rate: self.quality.last_rate(),
                working_set_pages: working_set,
                parked_blocks: self.ledger.parked_blocks(),
                monitored: monitored.iter().map(|(_, p)| p.pid).collect(),
            };
            println!("{}", json::to_string(&status));
        } else if parked.bytes > 0 || state != self.last_state {
            println!(
                "{state}: MemAvailable {} (reserve {}), {} {} in {} requests from {} processes, cold age {:.0} s",
                human_bytes(mem.available),
                human_bytes(reserve),
                if self.dry_run { "would park" } else { "parked" },
                human_bytes(parked.bytes),
                parked.requests,
                monitored.len(),
                self.quality.age_secs()
            );
        }
        let _ = io::stdout().flush();
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    let explicit = args.config.is_some();
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let config = Config::load(&path, explicit).map_err(Failure::failed)?;
    install_signal_handlers();
    let mut daemon = Daemon::new(args, config)?;
    let trigger = psi_trigger(&daemon.procfs.psi_path());
    let mut steps = 0u64;
    let result = loop {
        let pause = match daemon.step() {
            Ok(pause) => pause,
            Err(e) => break Err(e),
        };
        steps += 1;
        if args.steps.is_some_and(|n| steps >= n) || STOP.load(Ordering::SeqCst) {
            break Ok(());
        }
        wait(trigger.as_ref(), pause);
        if STOP.load(Ordering::SeqCst) {
            break Ok(());
        }
    };
    daemon.damon.shutdown();
    if let Err(e) = daemon.damon_stat.resume() {
        eprintln!("{TOOL}: cannot start DAMON_STAT again: {e}");
    }
    result
}

fn main() -> ExitCode {
    // A daemon: its man page is in section 8.
    let args = cli::parse_in::<Args>(cli::ManSection::Admin);
    match run(&args) {
        Ok(()) => Status::Ok.into(),
        Err(f) => {
            eprintln!("{TOOL}: {}", f.message);
            f.status.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        cli::command::<Args>().debug_assert();
        let a = Args::try_parse_from(["ps-tierd", "--dry-run", "--json", "--steps", "2"]).unwrap();
        assert!(a.dry_run && a.json);
        assert_eq!(a.steps, Some(2));
        assert_eq!(a.dev, "/dev/pseudoscopic");
        assert!(Args::try_parse_from(["ps-tierd", "--steps", "0"]).is_err());
        assert!(Args::try_parse_from(["ps-tierd", "--bogus"]).is_err());
    }
}
