// SPDX-License-Identifier: GPL-2.0

//! ps-fuzz: random and boundary arguments for every ioctl of `/dev/pseudoscopic`, from several
//! threads, optionally while a GPU is unbound and rebound, for a bounded time.
//!
//! Every answer is checked against what the README documents for that request (see
//! [`oracle`]), every successful migration's counters must add up to its range, and each
//! thread's reference region, which the requests park and bring back, must keep its data byte
//! for byte. Reproducible from `--seed` (up to thread scheduling).

mod oracle;
mod sandbox;

use clap::Parser;
use oracle::{ArgPlace, Cmd, Region, Request, Target, World, PAGE};
use pseudoscopic::{
    abi::{self, Device, Migrate, Residency},
    cli,
    rng::Rng,
    System,
};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};
use sandbox::{Sandbox, REF_PAGES, SANDBOX_PAGES};
use std::{
    collections::BTreeMap,
    io,
    os::fd::{AsRawFd, OwnedFd},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Barrier, Mutex,
    },
    time::{Duration, Instant},
};

#[derive(Parser, Debug)]
#[command(
    name = "ps-fuzz",
    about = "Sends random and boundary ioctl arguments (ranges, flags, pidfds, devices, sizes,
misaligned, overlapping, unreadable and read-only arguments, unknown commands) from
N threads for SECONDS. Each answer must be one the README documents for that
request, and each thread's reference region must keep its data. Prints a summary
and 'ok', or 'FAIL: reason'.",
    after_help = "Exit status: 0 when every answer and every byte was right, 1 when one was not,
2 on a usage error, 3 when the module is not loaded, 4 without permission."
)]
struct Args {
    /// Random seed; a run is reproducible from it (but for thread timing)
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// How long to send requests
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = cli::positive_arg::<u64>)]
    duration: u64,
    /// Threads sending requests
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = cli::positive_arg::<usize>)]
    threads: usize,
    /// Unbind and rebind this GPU over and over meanwhile
    #[arg(long, value_name = "PCI-ADDRESS")]
    unbind: Option<String>,
    /// Accept ENOMEM, and EFAULT for an argument in no RAM (fault injection)
    #[arg(long)]
    allow_enomem: bool,
    /// Device node
    #[arg(long, value_name = "PATH", default_value = abi::DEVICE_PATH)]
    dev: String,
}

const DRIVER_DIR: &str = "/sys/bus/pci/drivers/pseudoscopic";

#[derive(Debug)]
struct Options {
    seed: u64,
    duration: Duration,
    threads: usize,
    unbind: Option<String>,
    enomem: bool,
    dev: String,
}

impl Args {
    fn options(self) -> Options {
        Options {
            seed: self.seed,
            duration: Duration::from_secs(self.duration),
            threads: self.threads,
            unbind: self.unbind,
            enomem: self.allow_enomem,
            dev: self.dev,
        }
    }
}

/// What all threads count.
#[derive(Default)]
struct Totals {
    ioctls: AtomicU64,
    succeeded: AtomicU64,
    moved: AtomicU64,
    bytes_verified: AtomicU64,
    unbind_cycles: AtomicU64,
    errnos: Mutex<BTreeMap<i32, u64>>,
}

fn errno_name(errno: i32) -> String {
    let names = [
        (Errno::INVAL.raw_os_error(), "EINVAL"),
        (Errno::FAULT.raw_os_error(), "EFAULT"),
        (Errno::ACCESS.raw_os_error(), "EACCES"),
        (Errno::NODEV.raw_os_error(), "ENODEV"),
        (Errno::BADF.raw_os_error(), "EBADF"),
        (Errno::SRCH.raw_os_error(), "ESRCH"),
        (Errno::PERM.raw_os_error(), "EPERM"),
        (Errno::NOSPC.raw_os_error(), "ENOSPC"),
        (Errno::INTR.raw_os_error(), "EINTR"),
        (Errno::NOMEM.raw_os_error(), "ENOMEM"),
        (Errno::NOTTY.raw_os_error(), "ENOTTY"),
    ];
    names
        .iter()
        .find(|(e, _)| *e == errno)
        .map_or_else(|| format!("errno {errno}"), |(_, n)| n.to_string())
}

fn answer_name(answer: Option<i32>) -> String {
    answer.map_or_else(|| "success".into(), errno_name)
}

/// A child process with a sandbox of its own, which it checks when told to finish.
struct Child {
    pid: i32,
    pidfd: OwnedFd,
    addr: u64,
    /// The pipe's read and write ends.
    go: (OwnedFd, OwnedFd),
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

/// A rustix error as the tool reports it.
fn errno(what: &str) -> impl FnOnce(rustix::io::Errno) -> String + '_ {
    move |e| format!("{what}: {}", io::Error::from(e))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    rustix::pipe::pipe().map_err(errno("pipe"))
}

/// Waits for our child `pid`; whether it exited with status 0.
fn reap(pid: i32) -> Result<bool, String> {
    let status = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty())
        .map_err(errno("waitpid"))?;
    Ok(status.and_then(|(_, s)| s.exit_status()) == Some(0))
}

impl Child {
    fn spawn(seed: u64) -> Result<Self, String> {
        let addr_pipe = pipe()?;
        let go = pipe()?;
        // SAFETY: Called before any other thread exists; the child only touches its own memory
        // and pipes, then `_exit`s. (libc: rustix's fork is for programs without libc.)
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(os_err("fork"));
        }
        if pid == 0 {
            let ok = Sandbox::new(seed).is_ok_and(|sandbox| {
                let addr = sandbox.base().to_ne_bytes();
                let told = rustix::io::write(&addr_pipe.1, &addr) == Ok(8)
                    && rustix::io::read(&go.0, &mut [0u8]) == Ok(1);
                told && sandbox.verify_all().is_ok()
            });
            // SAFETY: Leaves the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        let mut addr = [0u8; 8];
        if rustix::io::read(&addr_pipe.0, &mut addr)
            .map_err(errno("reading the child's address"))?
            != 8
        {
            return Err("reading the child's address: short read".into());
        }
        let pidfd = abi::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
        Ok(Self {
            pid,
            pidfd,
            addr: u64::from_ne_bytes(addr),
            go,
        })
    }

    /// The child checks its data; its verdict.
    fn finish(mut self) -> Result<(), String> {
        let pid = std::mem::replace(&mut self.pid, 0);
        rustix::io::write(&self.go.1, &[1]).map_err(errno("telling the child to finish"))?;
        let status = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty())
            .map_err(errno("waitpid"))?;
        match status {
            Some((_, s)) if s.exit_status() == Some(0) => Ok(()),
            Some((_, s)) => Err(format!(
                "the child found its data changed (status {:#x})",
                s.as_raw()
            )),
            None => Err("waitpid: no status".into()),
        }
    }
}

impl Drop for Child {
    /// A run that failed does not leave the child behind (it holds our stdout open).
    fn drop(&mut self) {
        if self.pid != 0 {
            if let Some(pid) = Pid::from_raw(self.pid) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = reap(self.pid);
            }
        }
    }
}

/// A pidfd of a process that has exited and been reaped.
fn dead_pidfd() -> Result<OwnedFd, String> {
    // SAFETY: The child exits at once. (libc: rustix's fork is for programs without libc.)
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os_err("fork"));
    }
    if pid == 0 {
        // SAFETY: Leaves the child.
        unsafe { libc::_exit(0) }
    }
    let pidfd = abi::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    reap(pid)?;
    Ok(pidfd)
}

/// The descriptors a request may name.
struct Fds {
    child: i32,
    child_pid: i32,
    dead: i32,
    dev_null: i32,
    device: i32,
}

impl Fds {
    /// A `pidfd` value and what the module must take it for.
    fn choose(&self, rng: &mut Rng) -> (i32, Target) {
        let fd = match rng.below(100) {
            0..=69 => return (abi::PIDFD_SELF, Target::Caller),
            70..=79 => self.child,
            80..=83 => self.dead,
            84..=86 => self.dev_null,
            87..=89 => self.device,
            // A pid where a pidfd belongs: never a way around the pidfd.
            90..=92 => self.child_pid,
            93..=95 => -2 - rng.below(i32::MAX as u64 - 2) as i32,
            _ => rng.below(1024) as i32,
        };
        (fd, self.classify(fd))
    }

    fn classify(&self, fd: i32) -> Target {
        if fd == abi::PIDFD_SELF {
            Target::Caller
        } else if fd == self.child {
            Target::Child
        } else if fd == self.dead {
            Target::Dead
        } else {
            // Every other descriptor this process has is a file, a pipe or a socket.
            Target::NotPidfd
        }
    }
}

/// The argument bytes of a request, as the ABI lays them out.
enum Arg {
    Migrate(Migrate),
    Residency(Residency),
}

impl Arg {
    fn bytes(&self) -> &[u8] {
        // SAFETY: Both are plain `repr(C)` integers without padding.
        unsafe {
            match self {
                Arg::Migrate(m) => std::slice::from_raw_parts(
                    (m as *const Migrate).cast(),
                    std::mem::size_of::<Migrate>(),
                ),
                Arg::Residency(r) => std::slice::from_raw_parts(
                    (r as *const Residency).cast(),
                    std::mem::size_of::<Residency>(),
                ),
            }
        }
    }
}

/// A random address near `base` (a region of `pages` pages), or a boundary value.
fn gen_addr(rng: &mut Rng, base: u64, pages: u64) -> u64 {
    let near = base
        .wrapping_add(rng.below(pages + 4) * PAGE)
        .wrapping_sub(2 * PAGE);
    match rng.below(100) {
        0..=74 => near,
        75..=79 => near + 1 + rng.below(PAGE - 1),
        80..=89 => rng.pick(&[
            0,
            PAGE,
            oracle::TOP_48,
            oracle::TOP_48 + PAGE,
            oracle::TOP_57,
            1 << 56,
            u64::MAX - PAGE + 1,
            u64::MAX,
        ]),
        _ => rng.next_u64() >> rng.below(64),
    }
}

fn gen_length(rng: &mut Rng, pages: u64) -> u64 {
    match rng.below(100) {
        0..=74 => (1 + rng.below(pages + 4)) * PAGE,
        75..=79 => 0,
        80..=84 => 1 + rng.below(pages * PAGE),
        85..=94 => rng.pick(&[u64::MAX, u64::MAX - PAGE + 1, 1 << 47, PAGE << 20]),
        _ => rng.next_u64() >> rng.below(64),
    }
}

/// A command number the module must not know: its magic with another number, direction or
/// size (so the VFS never takes it for one of its own).
fn gen_unknown_cmd(rng: &mut Rng) -> u64 {
    loop {
        let any_nr = rng.below(256);
        let nr = rng.pick(&[0, 1, 2, 3, 4, any_nr]);
        let any_size = rng.below(1 << 14);
        let size = rng.pick(&[0, 48, 80, any_size]);
        let dir = rng.below(4);
        let cmd = (dir << 30) | (size << 16) | (0xB9 << 8) | nr;
        if ![
            abi::IOC_MIGRATE_TO_DEVICE,
            abi::IOC_MIGRATE_TO_RAM,
            abi::IOC_RESIDENCY,
        ]
        .contains(&cmd)
        {
            return cmd;
        }
    }
}

struct Worker<'a> {
    id: usize,
    o: &'a Options,
    dev: &'a Device,
    fds: &'a Fds,
    child_addr: u64,
    gpus: &'a [u32],
    totals: &'a Totals,
}

impl Worker<'_> {
    fn run(&self, deadline: Instant, stop: &AtomicBool) -> Result<(), String> {
        let mut rng = Rng::new(self.o.seed ^ ((self.id as u64 + 1) << 40));
        let mut sandbox = Sandbox::new(self.o.seed + self.id as u64)?;
        let own_regions = sandbox.regions();
        let child_regions = sandbox::layout(self.child_addr);
        let mut ops = 0u64;
        let mut next_seed = (self.o.seed + self.id as u64) << 20;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            ops += 1;
            let (pidfd, target) = self.fds.choose(&mut rng);
            let (base, pages, regions): (u64, u64, &[Region]) = match target {
                Target::Child => (self.child_addr, SANDBOX_PAGES as u64, &child_regions),
                _ => (sandbox.base(), SANDBOX_PAGES as u64, &own_regions),
            };
            let req = Request {
                cmd: match rng.below(100) {
                    0..=34 => Cmd::ToDevice,
                    35..=64 => Cmd::ToRam,
                    65..=89 => Cmd::Residency,
                    _ => Cmd::Unknown,
                },
                place: match rng.below(100) {
                    0..=87 => ArgPlace::Valid,
                    88..=96 => ArgPlace::Unreadable,
                    _ => ArgPlace::ReadOnly,
                },
                addr: gen_addr(&mut rng, base, pages),
                length: gen_length(&mut rng, pages),
                target,
                device: match rng.below(100) {
                    0..=69 => abi::DEVICE_ANY,
                    70..=84 => 0,
                    85..=94 => 1 + rng.below(8) as u32,
                    _ => rng.next_u64() as u32,
                },
                flags: if rng.chance(6) { 1 << rng.below(32) } else { 0 },
                reserved: if rng.chance(6) {
                    1 + rng.below(u32::MAX as u64) as u32
                } else {
                    0
                },
            };
            self.send(&mut rng, &sandbox, &req, pidfd, regions)?;
            // Now and then the region is rewritten (faulting parked pages back by writes).
            let first = rng.below(REF_PAGES as u64) as usize;
            let len = 1 + rng.below((REF_PAGES - first) as u64) as usize;
            if rng.chance(6) {
                next_seed += 1;
                sandbox.rewrite(next_seed, first, len);
            }
            // Part of the region after each request, all of it (and the rest) every 64.
            let bytes = if ops % 64 == 0 {
                sandbox.verify_all()
            } else {
                sandbox.verify_reference(first, len)
            }
            .map_err(|e| format!("thread {} after request {ops}: {e}", self.id))?;
            self.totals
                .bytes_verified
                .fetch_add(bytes, Ordering::Relaxed);
        }
        let bytes = sandbox
            .verify_all()
            .map_err(|e| format!("thread {} at the end: {e}", self.id))?;
        self.totals
            .bytes_verified
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Sends one request and checks the answer.
    fn send(
        &self,
        rng: &mut Rng,
        sandbox: &Sandbox,
        req: &Request,
        pidfd: i32,
        regions: &[Region],
    ) -> Result<(), String> {
        let arg = match req.cmd {
            Cmd::Residency => Arg::Residency(Residency {
                addr: req.addr,
                length: req.length,
                pidfd,
                device: req.device,
                flags: req.flags,
                reserved: req.reserved,
                ..Residency::default()
            }),
            _ => Arg::Migrate(Migrate {
                flags: req.flags,
                reserved: req.reserved,
                ..Migrate::new(req.addr, req.length, pidfd, req.device)
            }),
        };
        let cmd = match req.cmd {
            Cmd::ToDevice => abi::IOC_MIGRATE_TO_DEVICE,
            Cmd::ToRam => abi::IOC_MIGRATE_TO_RAM,
            Cmd::Residency => abi::IOC_RESIDENCY,
            Cmd::Unknown => gen_unknown_cmd(rng),
        };
        let bytes = arg.bytes();
        let at = match req.place {
            ArgPlace::Valid => {
                let at = sandbox.arg_rw();
                // SAFETY: The read-write argument page is ours; the struct is smaller.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), at as *mut u8, bytes.len())
                };
                at
            }
            ArgPlace::ReadOnly => sandbox.arg_read_only(bytes)?,
            ArgPlace::Unreadable => match rng.below(3) {
                0 => 0,
                1 => sandbox.arg_unmapped(),
                _ => sandbox.arg_straddling(bytes.len()),
            },
        };
        // SAFETY: `at` is our argument page (a struct of the size `cmd` encodes), or memory the
        // kernel cannot read or write, which it must refuse with EFAULT.
        let res = unsafe { self.dev.raw_ioctl(cmd, at) };
        let answer = res.as_ref().err().map(|e| e.raw_os_error().unwrap_or(-1));
        let world = World {
            gpus: self.gpus,
            unbinding: self.o.unbind.is_some(),
            enomem: self.o.enomem,
        };
        let allowed = oracle::expect(req, regions, &world);
        self.totals.ioctls.fetch_add(1, Ordering::Relaxed);
        if !allowed.contains(&answer) {
            let allowed: Vec<String> = allowed.into_iter().map(answer_name).collect();
            return Err(format!(
                "thread {}: {req:?} with pidfd {pidfd}: got {}, the README allows {}",
                self.id,
                answer_name(answer),
                allowed.join(" or ")
            ));
        }
        match answer {
            Some(errno) => {
                *self
                    .totals
                    .errnos
                    .lock()
                    .map_err(|_| "poisoned lock")?
                    .entry(errno)
                    .or_default() += 1;
            }
            None => {
                self.totals.succeeded.fetch_add(1, Ordering::Relaxed);
            }
        }
        if req.place == ArgPlace::Valid
            && (answer.is_none() || answer == Some(Errno::NOSPC.raw_os_error()))
        {
            self.check_counters(req, sandbox.arg_rw(), answer)?;
        }
        Ok(())
    }

    /// A request that ran wrote back counters that add up.
    fn check_counters(&self, req: &Request, at: usize, answer: Option<i32>) -> Result<(), String> {
        let pages = req.length / PAGE;
        if req.cmd == Cmd::Residency {
            // SAFETY: The kernel wrote a `Residency` back at `at`, our argument page.
            let r = unsafe { (at as *const Residency).read_unaligned() };
            if r.pages != pages || r.resident > r.pages {
                return Err(format!("RESIDENCY of {pages} pages answered {r:?}"));
            }
            return Ok(());
        }
        // SAFETY: The kernel wrote a `Migrate` back at `at`, our argument page.
        let m = unsafe { (at as *const Migrate).read_unaligned() };
        if m.moved + m.skipped() != pages {
            return Err(format!(
                "{:?} of {pages} pages: counters do not add up: {m:?}",
                req.cmd
            ));
        }
        if answer == Some(Errno::NOSPC.raw_os_error()) && (m.moved != 0 || m.skipped_no_space == 0)
        {
            return Err(format!("ENOSPC, yet {m:?}"));
        }
        self.totals.moved.fetch_add(m.moved, Ordering::Relaxed);
        Ok(())
    }
}

/// Unbinds and rebinds the GPU at `address` until `stop`, at random intervals.
fn unbind_loop(address: &str, seed: u64, stop: &AtomicBool, totals: &Totals) -> Result<(), String> {
    let mut rng = Rng::new(seed ^ 0xb1d);
    let write = |file: &str| {
        std::fs::write(format!("{DRIVER_DIR}/{file}"), address)
            .map_err(|e| format!("{file} {address}: {e}"))
    };
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50 + rng.below(250)));
        write("unbind")?;
        std::thread::sleep(Duration::from_millis(10 + rng.below(100)));
        write("bind")?;
        totals.unbind_cycles.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn run(o: &Options) -> Result<String, String> {
    // The children come first, so that they hold no descriptor of the device.
    let child = Child::spawn(o.seed ^ 0xc41d)?;
    let dead = dead_pidfd()?;
    let dev = Device::open(&o.dev).map_err(|e| format!("{}: {e}", o.dev))?;
    let gpus: Vec<u32> = System::default()
        .devices()
        .map_err(|e| format!("reading the bound GPUs: {e}"))?
        .iter()
        .filter_map(|d| d.index)
        .collect();
    let dev_null = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let fds = Fds {
        child: child.pidfd.as_raw_fd(),
        child_pid: child.pid,
        dead: dead.as_raw_fd(),
        dev_null: dev_null.as_raw_fd(),
        device: dev.as_raw_fd(),
    };
    let totals = Totals::default();
    let stop = AtomicBool::new(false);
    // Every thread exists before any sandbox is mapped, so no thread stack or signal stack can
    // land in a sandbox's holes.
    let start = Barrier::new(o.threads + 1);
    let started = Instant::now();
    let (results, unbound) = std::thread::scope(|s| {
        let unbinder = o.unbind.as_deref().map(|address| {
            let (stop, totals) = (&stop, &totals);
            s.spawn(move || {
                let res = unbind_loop(address, o.seed, stop, totals);
                stop.store(true, Ordering::Relaxed);
                res
            })
        });
        let workers: Vec<_> = (0..o.threads)
            .map(|id| {
                let w = Worker {
                    id,
                    o,
                    dev: &dev,
                    fds: &fds,
                    child_addr: child.addr,
                    gpus: &gpus,
                    totals: &totals,
                };
                let start = &start;
                let stop = &stop;
                s.spawn(move || {
                    start.wait();
                    let res = w.run(started + o.duration, stop);
                    if res.is_err() {
                        // One failure ends the run for every thread.
                        stop.store(true, Ordering::Relaxed);
                    }
                    res
                })
            })
            .collect();
        start.wait();
        let results: Vec<Result<(), String>> = workers
            .into_iter()
            .map(|h| h.join().unwrap_or(Err("thread panicked".into())))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let unbound = unbinder.map(|h| h.join().unwrap_or(Err("unbind thread panicked".into())));
        (results, unbound)
    });
    for r in results {
        r?;
    }
    if let Some(r) = unbound {
        r?;
    }
    child.finish()?;
    let errnos = totals.errnos.lock().map_err(|_| "poisoned lock")?;
    let errnos: Vec<String> = errnos
        .iter()
        .map(|(e, n)| format!("{} {n}", errno_name(*e)))
        .collect();
    Ok(format!(
        "seed {}, {} threads, {:.1} s: {} ioctls, {} succeeded, {} pages moved; refused: {}; {} unbind/rebind cycles; {} bytes verified",
        o.seed,
        o.threads,
        started.elapsed().as_secs_f64(),
        totals.ioctls.load(Ordering::Relaxed),
        totals.succeeded.load(Ordering::Relaxed),
        totals.moved.load(Ordering::Relaxed),
        errnos.join(", "),
        totals.unbind_cycles.load(Ordering::Relaxed),
        totals.bytes_verified.load(Ordering::Relaxed),
    ))
}

fn main() -> ExitCode {
    let o = cli::parse::<Args>().options();
    // The module missing or the node closed to us: the tools' exit statuses, before any work.
    if let Err(failure) = cli::open_device(&o.dev).map(drop) {
        return failure.report("ps-fuzz");
    }
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

    fn args(s: &str) -> Result<Options, clap::Error> {
        match cli::try_parse_from::<Args, _, _>(
            std::iter::once("ps-fuzz").chain(s.split_whitespace()),
        )? {
            cli::Invocation::Run(a) => Ok(a.options()),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn options_parse() {
        cli::command::<Args>().debug_assert();
        let o = args("--seed 9 --duration 60 --threads 3 --unbind 0000:00:03.0 --allow-enomem")
            .unwrap();
        assert_eq!(o.seed, 9);
        assert_eq!(o.duration, Duration::from_secs(60));
        assert_eq!(o.threads, 3);
        assert_eq!(o.unbind.as_deref(), Some("0000:00:03.0"));
        assert!(o.enomem);
        let o = args("").unwrap();
        assert_eq!(
            (o.seed, o.duration, o.threads),
            (1, Duration::from_secs(10), 2)
        );
        assert!(o.unbind.is_none() && !o.enomem);
        assert_eq!(o.dev, abi::DEVICE_PATH);
        for bad in [
            "--threads 0",
            "--duration 0",
            "--duration",
            "--seed x",
            "--bogus",
        ] {
            let e = args(bad).unwrap_err();
            assert_eq!(e.exit_code(), cli::Status::Usage as i32, "{bad}");
        }
    }

    #[test]
    fn unknown_commands_are_never_ours() {
        let mut rng = Rng::new(3);
        for _ in 0..100_000 {
            let cmd = gen_unknown_cmd(&mut rng);
            assert_eq!((cmd >> 8) & 0xff, 0xB9);
            assert!(![
                abi::IOC_MIGRATE_TO_DEVICE,
                abi::IOC_MIGRATE_TO_RAM,
                abi::IOC_RESIDENCY
            ]
            .contains(&cmd));
        }
    }

    #[test]
    fn pidfds_are_classified() {
        let fds = Fds {
            child: 5,
            child_pid: 1234,
            dead: 6,
            dev_null: 7,
            device: 3,
        };
        assert_eq!(fds.classify(-1), Target::Caller);
        assert_eq!(fds.classify(5), Target::Child);
        assert_eq!(fds.classify(6), Target::Dead);
        assert_eq!(fds.classify(1234), Target::NotPidfd);
        assert_eq!(fds.classify(-7), Target::NotPidfd);
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let (fd, target) = fds.choose(&mut rng);
            assert_eq!(fds.classify(fd), target);
        }
    }

    #[test]
    fn rng_is_reproducible() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    }
}
