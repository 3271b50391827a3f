// SPDX-License-Identifier: GPL-2.0

//! ps-migrate: move a process's memory into VRAM and back, or ask how much of it is there; or
//! start a command and park its memory once it has started up.

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};
use pseudoscopic::{
    abi::{self, Device, Direction, Migrate, Residency},
    cli::{self, Failure, Status},
    json, maps, parse_size,
};
use rustix::io::Errno;
use serde::Serialize;
use std::{
    fmt,
    io::{self, IsTerminal, Write},
    os::{fd::AsRawFd, unix::process::ExitStatusExt},
    process::{Command, ExitCode},
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Parser, Debug)]
#[command(
    name = "ps-migrate",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true,
    group(ArgGroup::new("target").args(["ranges", "all"])),
    about = "Moves the memory of process PID in each RANGE into VRAM (or back to RAM), or
with --all every private, writable mapping of it (from /proc/PID/maps).",
    after_help = "RANGE is START-END or START+LENGTH, decimal or 0x-hex, page aligned; LENGTH
takes K, M, G (e.g. 0x7f0000000000+64M).

PROGRESS: moves of 64 MiB or more show a progress bar when stderr is a terminal,
unless --no-progress; with a bar the move is sent in 16 MiB requests, and an
error keeps what moved before it.

'run' starts CMD, waits --after seconds for it to start up, parks every
private, writable mapping of it in VRAM, reports that on stderr, and waits for
CMD; its exit status is CMD's (128+N when a signal N ended it).

Prints one line per range with the kernel's counters, and a total.
Exit status: 0 when every range succeeded, 1 when one failed, 2 on a usage
error, 3 when the module is not loaded, 4 without permission (for the device
node or the process), 5 when the process does not exist."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// The process
    #[arg(long, value_name = "PID", required = true, allow_negative_numbers = true, value_parser = cli::parse_pid)]
    pid: Option<i32>,
    /// A range of the process (RANGE below); repeatable
    // Required unless --all, rather than a required group: clap lets --generate (exclusive) go
    // without a required argument, not without a required group.
    #[arg(long = "range", value_name = "RANGE", required_unless_present = "all", value_parser = parse_range)]
    ranges: Vec<(u64, u64)>,
    /// Every private, writable mapping of the process
    #[arg(long)]
    all: bool,
    /// Where the pages go
    #[arg(long, value_name = "WHERE", value_enum, default_value_t = To::Vram, overrides_with = "residency")]
    to: To,
    /// Only report how many pages are in VRAM now
    #[arg(long, overrides_with = "to")]
    residency: bool,
    /// GPU index (see ps-status); default: any GPU
    #[arg(long, value_name = "N", value_parser = parse_device)]
    device: Option<u32>,
    /// Show a progress bar (PROGRESS below)
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,
    /// Never show a progress bar
    #[arg(long, overrides_with = "progress")]
    no_progress: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
    /// Device node
    #[arg(long, value_name = "PATH", default_value = abi::DEVICE_PATH)]
    dev: String,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Start CMD, park its memory in VRAM once it has started up, wait for CMD
    #[command(after_help = "Reports what it parked on stderr; stdout stays CMD's.
Exit status: CMD's (128+N when a signal N ended it), 1 when CMD cannot be
started, 2 on a usage error, 3 when the module is not loaded, 4 without
permission for the device node.")]
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Seconds CMD gets to start up before it is parked
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = cli::duration_arg)]
    after: Duration,
    /// GPU index (see ps-status); default: any GPU
    #[arg(long, value_name = "N", value_parser = parse_device)]
    device: Option<u32>,
    /// Report on stderr as one JSON object instead of text
    #[arg(long)]
    json: bool,
    /// Device node
    #[arg(long, value_name = "PATH", default_value = abi::DEVICE_PATH)]
    dev: String,
    /// The command to run and its arguments, after --
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// Where `--to` sends the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum To {
    Vram,
    Ram,
}

/// The bytes above which a move gets a progress bar on a terminal.
const PROGRESS_THRESHOLD: u64 = 64 << 20;
/// The size of each request while a progress bar is shown.
const PROGRESS_CHUNK: u64 = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Move(Direction),
    Residency,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    Auto,
    On,
    Off,
}

#[derive(Debug, PartialEq, Eq)]
enum Target {
    Ranges(Vec<(u64, u64)>),
    All,
}

#[derive(Debug)]
struct Options {
    pid: i32,
    action: Action,
    device: u32,
    dev_path: String,
    target: Target,
    progress: Progress,
    json: bool,
}

#[derive(Debug)]
struct RunOptions {
    after: Duration,
    device: u32,
    dev_path: String,
    json: bool,
    command: Vec<String>,
}

#[derive(Debug)]
enum Invocation {
    Migrate(Options),
    Run(RunOptions),
}

impl Args {
    /// What the command line asks for.
    fn invocation(self) -> Invocation {
        if let Some(Sub::Run(r)) = self.command {
            return Invocation::Run(RunOptions {
                after: r.after,
                device: r.device.unwrap_or(abi::DEVICE_ANY),
                dev_path: r.dev,
                json: r.json,
                command: r.command,
            });
        }
        let action = match (self.residency, self.to) {
            (true, _) => Action::Residency,
            (false, To::Vram) => Action::Move(Direction::ToDevice),
            (false, To::Ram) => Action::Move(Direction::ToRam),
        };
        let progress = match (self.progress, self.no_progress) {
            (true, _) => Progress::On,
            (false, true) => Progress::Off,
            (false, false) => Progress::Auto,
        };
        Invocation::Migrate(Options {
            // clap requires --pid without a subcommand; 0 would be refused as a bad pid.
            pid: self.pid.unwrap_or_default(),
            action,
            device: self.device.unwrap_or(abi::DEVICE_ANY),
            dev_path: self.dev,
            target: match self.all {
                true => Target::All,
                false => Target::Ranges(self.ranges),
            },
            progress,
            json: self.json,
        })
    }
}

/// Parses `START-END` or `START+LENGTH` into `(start, length)`.
fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (start, length) = if let Some((start, end)) = text.split_once('-') {
        let start = parse_size(start).ok_or("START is not a number")?;
        let end = parse_size(end).ok_or("END is not a number")?;
        if end <= start {
            return Err("END is not above START".into());
        }
        (start, end - start)
    } else if let Some((start, length)) = text.split_once('+') {
        let start = parse_size(start).ok_or("START is not a number")?;
        let length = parse_size(length).ok_or("LENGTH is not a size")?;
        (start, length)
    } else {
        return Err("give START-END or START+LENGTH".into());
    };
    if length == 0 {
        return Err("empty".into());
    }
    Ok((start, length))
}

/// Parses a GPU index: any number but the ABI's "any GPU".
fn parse_device(text: &str) -> Result<u32, String> {
    text.parse()
        .ok()
        .filter(|&d| d != abi::DEVICE_ANY)
        .ok_or_else(|| format!("a GPU index is a number below {}", abi::DEVICE_ANY))
}

/// The exit status an ioctl error stands for.
fn errno_status(e: &io::Error) -> Status {
    match Errno::from_io_error(e) {
        Some(Errno::PERM) => Status::Permission,
        Some(Errno::SRCH) => Status::NoProcess,
        _ => Status::Failed,
    }
}

/// The candidate mappings of process `pid`, as `(start, length)`.
fn all_ranges(pid: i32) -> Result<Vec<(u64, u64)>, Failure> {
    let path = format!("/proc/{pid}/maps");
    let text = std::fs::read_to_string(&path).map_err(|e| match Errno::from_io_error(&e) {
        Some(Errno::NOENT) => Failure::new(Status::NoProcess, format!("no process with pid {pid}")),
        Some(Errno::ACCESS) | Some(Errno::PERM) => {
            Failure::new(Status::Permission, format!("{path}: {e}"))
        }
        _ => Failure::failed(format!("{path}: {e}")),
    })?;
    Ok(maps::parse(&text)
        .into_iter()
        .filter(maps::Mapping::is_candidate)
        .map(|m| (m.start, m.end - m.start))
        .collect())
}

/// What happened to one range.
struct Outcome {
    start: u64,
    length: u64,
    counters: Migrate,
    residency: Option<Residency>,
    error: Option<io::Error>,
}

/// Adds `part`'s counters into `sum`.
fn accumulate(sum: &mut Migrate, part: &Migrate) {
    sum.moved += part.moved;
    sum.skipped_resident += part.skipped_resident;
    sum.skipped_empty += part.skipped_empty;
    sum.skipped_unmovable += part.skipped_unmovable;
    sum.skipped_busy += part.skipped_busy;
    sum.skipped_no_space += part.skipped_no_space;
}

/// The requests `[start, start + length)` is sent as: one, or `chunk`-sized pieces.
fn pieces(start: u64, length: u64, chunk: Option<u64>) -> Vec<(u64, u64)> {
    let Some(chunk) = chunk else {
        return vec![(start, length)];
    };
    let mut out = Vec::new();
    let mut at = start;
    while at < start + length {
        let len = chunk.min(start + length - at);
        out.push((at, len));
        at += len;
    }
    out
}

/// A progress bar on stderr, indicatif's: `[#####.....]  50% 32.0 MiB/64.0 MiB`, redrawn in place
/// on a terminal; asked for elsewhere (--progress), its frames one after the other, each after a
/// carriage return, ending in a newline.
struct Bar {
    bar: ProgressBar,
    on_terminal: bool,
}

impl Bar {
    fn new(total: u64) -> Self {
        let on_terminal = io::stderr().is_terminal();
        let target = match on_terminal {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::term_like(Box::new(Frames(Mutex::new(io::stderr())))),
        };
        Self::with_target(total, target, on_terminal)
    }

    fn with_target(total: u64, target: ProgressDrawTarget, on_terminal: bool) -> Self {
        let style = ProgressStyle::with_template("[{bar:40}] {percent:>3}% {done}/{size}")
            .expect("a valid progress bar template")
            .progress_chars("#.")
            .with_key("done", |s: &ProgressState, w: &mut dyn fmt::Write| {
                let _ = w.write_str(&cli::human_bytes(s.pos()));
            })
            .with_key("size", |s: &ProgressState, w: &mut dyn fmt::Write| {
                let _ = w.write_str(&cli::human_bytes(s.len().unwrap_or(0)));
            });
        Self {
            bar: ProgressBar::with_draw_target(Some(total), target).with_style(style),
            on_terminal,
        }
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// Draws the last frame, complete or where an error stopped the move.
    fn end(self) {
        self.bar.abandon();
        if !self.on_terminal {
            eprintln!();
        }
    }
}

/// A stream that is not a terminal (stderr), as indicatif draws on: a frame starts with a
/// carriage return and nothing pads or clears it.
#[derive(Debug)]
struct Frames<W>(Mutex<W>);

impl<W: Write + Send + fmt::Debug> Frames<W> {
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        match self.0.lock() {
            Ok(mut out) => out.write_all(bytes),
            Err(_) => Ok(()),
        }
    }
}

impl<W: Write + Send + fmt::Debug> TermLike for Frames<W> {
    fn width(&self) -> u16 {
        80
    }

    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, line: &str) -> io::Result<()> {
        self.write(format!("{line}\n").as_bytes())
    }

    fn write_str(&self, text: &str) -> io::Result<()> {
        // The spaces that would clear the rest of a terminal's line.
        match text.trim_matches(' ').is_empty() {
            true => Ok(()),
            false => self.write(text.as_bytes()),
        }
    }

    fn clear_line(&self) -> io::Result<()> {
        self.write(b"\r")
    }

    fn flush(&self) -> io::Result<()> {
        match self.0.lock() {
            Ok(mut out) => out.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// Moves one range, in pieces when a progress bar is shown. Like a single request, it fails
/// with ENOSPC only when it found movable pages and moved none of them for want of VRAM.
fn move_range(
    dev: &Device,
    dir: Direction,
    pidfd: i32,
    device: u32,
    (start, length): (u64, u64),
    bar: Option<&Bar>,
) -> Outcome {
    let chunk = bar.map(|_| PROGRESS_CHUNK);
    let mut counters = Migrate::new(start, length, pidfd, device);
    let mut error = None;
    let mut no_space = false;
    for (at, len) in pieces(start, length, chunk) {
        let mut req = Migrate::new(at, len, pidfd, device);
        let res = dev.migrate(dir, &mut req);
        accumulate(&mut counters, &req);
        if let Some(bar) = bar {
            bar.advance(len);
        }
        match res {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(Errno::NOSPC.raw_os_error()) => no_space = true,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    if error.is_none() && no_space && counters.moved == 0 {
        error = Some(io::Error::from_raw_os_error(Errno::NOSPC.raw_os_error()));
    }
    Outcome {
        start,
        length,
        counters,
        residency: None,
        error,
    }
}

fn residency_of(dev: &Device, pidfd: i32, device: u32, (start, length): (u64, u64)) -> Outcome {
    let mut req = Residency {
        addr: start,
        length,
        pidfd,
        device,
        ..Residency::default()
    };
    let error = dev.residency(&mut req).err();
    Outcome {
        start,
        length,
        counters: Migrate::default(),
        residency: Some(req),
        error,
    }
}

/// Runs the action over every range of the process.
fn migrate(
    dev: &Device,
    pid: i32,
    action: Action,
    device: u32,
    ranges: &[(u64, u64)],
    progress: Progress,
) -> Result<Vec<Outcome>, Failure> {
    let pidfd = cli::open_pid(pid)?;
    let total: u64 = ranges.iter().map(|(_, len)| len).sum();
    let show = match progress {
        Progress::On => true,
        Progress::Off => false,
        Progress::Auto => total >= PROGRESS_THRESHOLD && io::stderr().is_terminal(),
    };
    let bar = (show && action != Action::Residency).then(|| Bar::new(total));
    let outcomes = ranges
        .iter()
        .map(|&range| match action {
            Action::Move(dir) => {
                move_range(dev, dir, pidfd.as_raw_fd(), device, range, bar.as_ref())
            }
            Action::Residency => residency_of(dev, pidfd.as_raw_fd(), device, range),
        })
        .collect();
    if let Some(bar) = bar {
        bar.end();
    }
    Ok(outcomes)
}

fn range_label(o: &Outcome) -> String {
    format!("{:#x}-{:#x}", o.start, o.start + o.length)
}

fn error_suffix(o: &Outcome) -> String {
    o.error
        .as_ref()
        .map_or(String::new(), |e| format!(" ({e})"))
}

fn text(outcomes: &[Outcome], action: Action) -> String {
    let mut out = String::new();
    let mut total = Migrate::default();
    let (mut resident, mut pages) = (0, 0);
    for o in outcomes {
        let line = match &o.residency {
            Some(r) if o.error.is_none() => {
                resident += r.resident;
                pages += r.pages;
                format!("{} of {} pages in VRAM", r.resident, r.pages)
            }
            Some(_) => o.error.as_ref().map_or(String::new(), ToString::to_string),
            None => {
                let c = &o.counters;
                accumulate(&mut total, c);
                format!(
                    "moved {}, resident {}, empty {}, unmovable {}, busy {}, no_space {}{}",
                    c.moved,
                    c.skipped_resident,
                    c.skipped_empty,
                    c.skipped_unmovable,
                    c.skipped_busy,
                    c.skipped_no_space,
                    error_suffix(o)
                )
            }
        };
        out.push_str(&format!("{}: {line}\n", range_label(o)));
    }
    match action {
        Action::Move(_) => out.push_str(&format!(
            "total: moved {} pages ({}), skipped {}\n",
            total.moved,
            cli::human_bytes(total.moved * pseudoscopic::page_size()),
            total.skipped()
        )),
        Action::Residency => {
            out.push_str(&format!("total: {resident} of {pages} pages in VRAM\n"));
        }
    }
    out
}

/// A move's counters in `--json`.
#[derive(Default, Serialize)]
struct CountersJson {
    moved: u64,
    skipped_resident: u64,
    skipped_empty: u64,
    skipped_unmovable: u64,
    skipped_busy: u64,
    skipped_no_space: u64,
}

impl From<&Migrate> for CountersJson {
    fn from(c: &Migrate) -> Self {
        Self {
            moved: c.moved,
            skipped_resident: c.skipped_resident,
            skipped_empty: c.skipped_empty,
            skipped_unmovable: c.skipped_unmovable,
            skipped_busy: c.skipped_busy,
            skipped_no_space: c.skipped_no_space,
        }
    }
}

/// One range in `--json`: its residency, or the counters of its move.
#[derive(Serialize)]
struct RangeJson {
    start: u64,
    end: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resident: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counters: Option<CountersJson>,
    error: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum TotalJson {
    Moved(CountersJson),
    Residency { pages: u64, resident: u64 },
}

#[derive(Serialize)]
struct ReportJson {
    pid: i32,
    action: &'static str,
    ranges: Vec<RangeJson>,
    total: TotalJson,
}

fn report_json(pid: i32, outcomes: &[Outcome], action: Action) -> String {
    let mut total = Migrate::default();
    let (mut resident, mut pages) = (0, 0);
    let ranges = outcomes
        .iter()
        .map(|o| {
            let mut j = RangeJson {
                start: o.start,
                end: o.start + o.length,
                pages: None,
                resident: None,
                counters: None,
                error: o.error.as_ref().map(ToString::to_string),
            };
            match &o.residency {
                Some(r) => {
                    resident += r.resident;
                    pages += r.pages;
                    j.pages = Some(r.pages);
                    j.resident = Some(r.resident);
                }
                None => {
                    accumulate(&mut total, &o.counters);
                    j.counters = Some((&o.counters).into());
                }
            }
            j
        })
        .collect();
    let (action, total) = match action {
        Action::Move(Direction::ToDevice) => ("vram", TotalJson::Moved((&total).into())),
        Action::Move(Direction::ToRam) => ("ram", TotalJson::Moved((&total).into())),
        Action::Residency => ("residency", TotalJson::Residency { pages, resident }),
    };
    json::to_string(&ReportJson {
        pid,
        action,
        ranges,
        total,
    })
}

/// The exit status for a set of outcomes: that of the first failed range.
fn outcome_status(outcomes: &[Outcome]) -> Status {
    outcomes
        .iter()
        .find_map(|o| o.error.as_ref())
        .map_or(Status::Ok, errno_status)
}

fn run_migrate(o: &Options) -> Result<Status, Failure> {
    let dev = cli::open_device(&o.dev_path)?;
    let ranges = match &o.target {
        Target::Ranges(r) => r.clone(),
        Target::All => all_ranges(o.pid)?,
    };
    let outcomes = migrate(&dev, o.pid, o.action, o.device, &ranges, o.progress)?;
    if o.json {
        println!("{}", report_json(o.pid, &outcomes, o.action));
    } else {
        print!("{}", text(&outcomes, o.action));
    }
    Ok(outcome_status(&outcomes))
}

/// The exit status that stands for how a child ended.
fn child_status(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => Status::Failed as u8,
    }
}

/// The line `run` prints once it parked the command. The command keeps running meanwhile, so a
/// range of its `/proc/PID/maps` snapshot it unmapped before the request reached it (`EFAULT`:
/// not wholly mapped any more) is counted apart from the ranges that failed.
fn run_report(pid: i32, outcomes: &[Outcome]) -> String {
    let moved: u64 = outcomes.iter().map(|x| x.counters.moved).sum();
    let errno = |x: &Outcome| x.error.as_ref().and_then(io::Error::raw_os_error);
    let unmapped = outcomes
        .iter()
        .filter(|x| errno(x) == Some(Errno::FAULT.raw_os_error()))
        .count();
    let failed = outcomes
        .iter()
        .filter(|x| x.error.is_some() && errno(x) != Some(Errno::FAULT.raw_os_error()))
        .count();
    let mut line = format!(
        "ps-migrate: parked {moved} pages ({}) of pid {pid} in {} ranges",
        cli::human_bytes(moved * pseudoscopic::page_size()),
        outcomes.len() - unmapped
    );
    if unmapped > 0 {
        line += &format!(", {unmapped} ranges unmapped meanwhile");
    }
    if failed > 0 {
        line += &format!(", {failed} ranges failed");
    }
    line
}

fn run_command(o: &RunOptions) -> Result<ExitCode, Failure> {
    let dev = cli::open_device(&o.dev_path)?;
    let mut child = Command::new(&o.command[0])
        .args(&o.command[1..])
        .spawn()
        .map_err(|e| Failure::failed(format!("{}: {e}", o.command[0])))?;
    let pid = child.id() as i32;
    let deadline = Instant::now() + o.after;
    while Instant::now() < deadline {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Failure::failed(format!("waiting for {pid}: {e}")))?
        {
            eprintln!("ps-migrate: {} exited before it was parked", o.command[0]);
            return Ok(ExitCode::from(child_status(status)));
        }
        std::thread::sleep(Duration::from_millis(10).min(deadline - Instant::now()));
    }
    let action = Action::Move(Direction::ToDevice);
    match all_ranges(pid).and_then(|r| migrate(&dev, pid, action, o.device, &r, Progress::Off)) {
        Ok(outcomes) if o.json => eprintln!("{}", report_json(pid, &outcomes, action)),
        Ok(outcomes) => eprintln!("{}", run_report(pid, &outcomes)),
        Err(f) => eprintln!("ps-migrate: parking pid {pid}: {f}"),
    }
    let status = child
        .wait()
        .map_err(|e| Failure::failed(format!("waiting for {pid}: {e}")))?;
    Ok(ExitCode::from(child_status(status)))
}

fn main() -> ExitCode {
    let result = match cli::parse::<Args>().invocation() {
        Invocation::Migrate(o) => run_migrate(&o).map(ExitCode::from),
        Invocation::Run(o) => run_command(&o),
    };
    result.unwrap_or_else(|f| f.report("ps-migrate"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn args(list: &[&str]) -> Result<Invocation, clap::Error> {
        match cli::try_parse_from::<Args, _, _>(
            std::iter::once("ps-migrate").chain(list.iter().copied()),
        )? {
            cli::Invocation::Run(a) => Ok(a.invocation()),
            other => panic!("{list:?}: {other:?}"),
        }
    }

    fn options(list: &[&str]) -> Options {
        match args(list) {
            Ok(Invocation::Migrate(o)) => o,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    /// What a shared buffer received, for a progress bar drawn into it.
    #[derive(Clone, Debug, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn progress_bar_frames_end_complete_with_a_newline() {
        let out = Shared::default();
        let target = ProgressDrawTarget::term_like(Box::new(Frames(Mutex::new(out.clone()))));
        let bar = Bar::with_target(64 << 20, target, false);
        for _ in 0..4 {
            bar.advance(16 << 20);
        }
        bar.bar.abandon();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let last = text.rsplit('\r').next().unwrap();
        assert_eq!(
            last,
            format!("[{}] 100% 64.0 MiB/64.0 MiB", "#".repeat(40)),
            "{text:?}"
        );
        let half = Bar::with_target(
            4 << 20,
            ProgressDrawTarget::term_like(Box::new(Frames(Mutex::new(out.clone())))),
            false,
        );
        half.advance(2 << 20);
        half.bar.abandon();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.ends_with(&format!(
                "\r[{}{}]  50% 2.0 MiB/4.0 MiB",
                "#".repeat(20),
                ".".repeat(20)
            )),
            "{text:?}"
        );
    }

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("0x1000-0x3000").unwrap(), (0x1000, 0x2000));
        assert_eq!(
            parse_range("0x7f0000000000+64M").unwrap(),
            (0x7f00_0000_0000, 64 << 20)
        );
        assert_eq!(parse_range("4096+4096").unwrap(), (4096, 4096));
        for bad in [
            "0x3000-0x1000",
            "0x1000-0x1000",
            "0x1000",
            "x-0x2000",
            "0x1000+0",
            "0x1000+z",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn migrate_options() {
        cli::command::<Args>().debug_assert();
        let o = options(&[
            "--pid",
            "42",
            "--range",
            "0x1000+8K",
            "--range",
            "0x10000-0x20000",
            "--to",
            "ram",
            "--device",
            "1",
            "--progress",
            "--json",
        ]);
        assert_eq!(o.pid, 42);
        assert_eq!(o.action, Action::Move(Direction::ToRam));
        assert_eq!(o.device, 1);
        assert_eq!(
            o.target,
            Target::Ranges(vec![(0x1000, 0x2000), (0x10000, 0x10000)])
        );
        assert_eq!(o.progress, Progress::On);
        assert!(o.json);
        assert_eq!(o.dev_path, abi::DEVICE_PATH);
        let o = options(&["--pid", "1", "--all", "--residency", "--no-progress"]);
        assert_eq!(o.action, Action::Residency);
        assert_eq!(o.target, Target::All);
        assert_eq!(o.device, abi::DEVICE_ANY);
        assert_eq!(o.progress, Progress::Off);
        assert_eq!(
            options(&["--pid", "1", "--all", "--to", "vram"]).action,
            Action::Move(Direction::ToDevice)
        );
        // The last of --to and --residency counts, and of --progress and --no-progress.
        assert_eq!(
            options(&["--pid", "1", "--all", "--residency", "--to", "ram"]).action,
            Action::Move(Direction::ToRam)
        );
        assert_eq!(
            options(&["--pid", "1", "--all", "--to", "ram", "--residency"]).action,
            Action::Residency
        );
        assert_eq!(
            options(&["--pid", "1", "--all", "--no-progress", "--progress"]).progress,
            Progress::On
        );
        assert_eq!(options(&["--pid", "1", "--all"]).progress, Progress::Auto);
        assert_eq!(args(&["--help"]).unwrap_err().exit_code(), 0);
        assert_eq!(args(&["run", "--help"]).unwrap_err().exit_code(), 0);
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        for bad in [
            &["--all"][..],
            &["--pid", "1"],
            &["--pid", "1", "--all", "--range", "0+4K"],
            &["--pid", "0", "--all"],
            &["--pid", "-5", "--all"],
            &["--pid", "abc", "--all"],
            &["--pid", "1", "--all", "--to", "disk"],
            &["--pid", "1", "--all", "--device", "x"],
            &["--pid", "1", "--all", "--device", "4294967295"],
            &["--pid", "1", "--all", "0x1000", "4096"],
            &["--pid", "1", "--range", "0x2000-0x1000"],
            &["--pid"],
            &["--pid", "1", "--all", "run", "--", "true"],
            &["run"],
            &["run", "--"],
            &["run", "sleep", "1"],
            &["run", "--after", "soon", "--", "true"],
        ] {
            let e = args(bad).unwrap_err();
            assert_eq!(e.exit_code(), Status::Usage as i32, "{bad:?}");
        }
    }

    #[test]
    fn run_options() {
        match args(&[
            "run",
            "--after",
            "0.2",
            "--device",
            "0",
            "--json",
            "--",
            "sh",
            "-c",
            "echo --all",
        ]) {
            Ok(Invocation::Run(o)) => {
                assert_eq!(o.after, Duration::from_millis(200));
                assert_eq!(o.device, 0);
                assert!(o.json);
                assert_eq!(o.command, ["sh", "-c", "echo --all"]);
            }
            other => panic!("{other:?}"),
        }
        match args(&["run", "--", "true"]) {
            Ok(Invocation::Run(o)) => {
                assert_eq!(o.after, Duration::from_secs(1));
                assert_eq!(o.device, abi::DEVICE_ANY);
                assert_eq!(o.dev_path, abi::DEVICE_PATH);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chunking() {
        assert_eq!(pieces(0x1000, 0x5000, None), [(0x1000, 0x5000)]);
        assert_eq!(
            pieces(0x1000, 0x5000, Some(0x2000)),
            [(0x1000, 0x2000), (0x3000, 0x2000), (0x5000, 0x1000)]
        );
        assert_eq!(
            pieces(0, 0x4000, Some(0x2000)),
            [(0, 0x2000), (0x2000, 0x2000)]
        );
    }

    fn outcome(moved: u64, no_space: u64, error: Option<i32>) -> Outcome {
        Outcome {
            start: 0x10000,
            length: 0x4000,
            counters: Migrate {
                moved,
                skipped_no_space: no_space,
                ..Migrate::default()
            },
            residency: None,
            error: error.map(io::Error::from_raw_os_error),
        }
    }

    #[test]
    fn run_report_counts_unmapped_ranges_apart() {
        let mb = |n: u64| n * 1024 * 1024 / pseudoscopic::page_size();
        let all_parked = [outcome(mb(4), 0, None), outcome(mb(4), 0, None)];
        assert_eq!(
            run_report(7, &all_parked),
            "ps-migrate: parked 2048 pages (8.0 MiB) of pid 7 in 2 ranges"
        );
        let changing = [
            outcome(mb(4), 0, None),
            outcome(0, 0, Some(Errno::FAULT.raw_os_error())),
            outcome(0, 0, Some(Errno::FAULT.raw_os_error())),
            outcome(0, 0, Some(Errno::PERM.raw_os_error())),
        ];
        assert_eq!(
            run_report(7, &changing),
            "ps-migrate: parked 1024 pages (4.0 MiB) of pid 7 in 2 ranges, 2 ranges unmapped meanwhile, 1 ranges failed"
        );
    }

    #[test]
    fn reports() {
        let outcomes = [
            outcome(3, 1, None),
            outcome(0, 0, Some(Errno::PERM.raw_os_error())),
        ];
        let t = text(&outcomes, Action::Move(Direction::ToDevice));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "0x10000-0x14000: moved 3, resident 0, empty 0, unmovable 0, busy 0, no_space 1"
        );
        assert!(
            lines[1].starts_with("0x10000-0x14000: moved 0, ")
                && lines[1].ends_with("(Operation not permitted (os error 1))"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2],
            format!(
                "total: moved 3 pages ({}), skipped 1",
                cli::human_bytes(3 * pseudoscopic::page_size())
            )
        );
        assert_eq!(outcome_status(&outcomes), Status::Permission);
        assert_eq!(outcome_status(&outcomes[..1]), Status::Ok);
        assert_eq!(
            outcome_status(&[outcome(0, 0, Some(Errno::FAULT.raw_os_error()))]),
            Status::Failed
        );
        assert_eq!(
            outcome_status(&[outcome(0, 0, Some(Errno::SRCH.raw_os_error()))]),
            Status::NoProcess
        );
        let j = report_json(7, &outcomes[..1], Action::Move(Direction::ToRam)).to_string();
        assert_eq!(
            j,
            r#"{"pid":7,"action":"ram","ranges":[{"start":65536,"end":81920,"counters":{"moved":3,"skipped_resident":0,"skipped_empty":0,"skipped_unmovable":0,"skipped_busy":0,"skipped_no_space":1},"error":null}],"total":{"moved":3,"skipped_resident":0,"skipped_empty":0,"skipped_unmovable":0,"skipped_busy":0,"skipped_no_space":1}}"#
        );
        let r = Outcome {
            residency: Some(Residency {
                pages: 4,
                resident: 2,
                ..Residency::default()
            }),
            ..outcome(0, 0, None)
        };
        assert_eq!(
            text(std::slice::from_ref(&r), Action::Residency),
            "0x10000-0x14000: 2 of 4 pages in VRAM\ntotal: 2 of 4 pages in VRAM\n"
        );
    }

    #[test]
    fn child_statuses() {
        use rustix::process::Signal;
        use std::process::ExitStatus;
        assert_eq!(child_status(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(
            child_status(ExitStatus::from_raw(Signal::KILL.as_raw())),
            137
        );
    }
}
