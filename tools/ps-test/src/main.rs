// SPDX-License-Identifier: GPL-2.0

//! ps-test: end-to-end scenarios against the real module, every byte checked.
//!
//! Each scenario is a subcommand; it prints what it does and ends with `ok`, or prints
//! `FAIL: <reason>` and exits 1. The VM suite (tests/guest/groups/) runs them; they expect to be
//! alone on the machine, so statistics deltas are exact.

mod fragment;
mod proc;
mod tier;

use clap::{Parser, Subcommand};
use proc::{fork_child, Pipe};
use pseudoscopic::{
    abi::{self, Device, Direction, Migrate, Residency},
    cli::{self, Status},
    json,
    mem::{Buf, PAGE},
    smaps,
    sysfs::{Pool, Stats},
    thp::HugePages,
    System,
};
use serde::Serialize;
use std::{io, os::fd::AsRawFd, process::ExitCode};

type TestResult = Result<(), String>;

/// Pages in a 2 MiB transparent huge page.
const HUGE_PAGES: usize = 512;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

macro_rules! ensure_eq {
    ($got:expr, $want:expr, $what:expr) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("{}: got {:?}, expected {:?}", $what, got, want));
        }
    }};
}

/// The device, the system view, and helpers the scenarios share.
struct Ctx {
    dev: Device,
    sys: System,
}

impl Ctx {
    fn new() -> Result<Self, String> {
        let dev =
            Device::open(abi::DEVICE_PATH).map_err(|e| format!("{}: {e}", abi::DEVICE_PATH))?;
        Ok(Self {
            dev,
            sys: System::default(),
        })
    }

    fn stats(&self) -> Result<Stats, String> {
        self.sys.stats().map_err(|e| format!("stats: {e}"))
    }

    fn pool(&self) -> Result<Pool, String> {
        self.sys.pool().map_err(|e| format!("pool: {e}"))
    }

    /// Sends a migration of `[addr, addr + len)` of the process `pidfd` (or self).
    fn migrate_raw(
        &self,
        dir: Direction,
        addr: u64,
        len: u64,
        pidfd: i32,
        device: u32,
    ) -> (Migrate, io::Result<()>) {
        let mut req = Migrate::new(addr, len, pidfd, device);
        let res = self.dev.migrate(dir, &mut req);
        (req, res)
    }

    /// Moves `pages` pages of `buf` from page `first` to VRAM; fails on an error.
    fn park(&self, buf: &Buf, first: usize, pages: usize) -> Result<Migrate, String> {
        self.park_on(buf, first, pages, abi::DEVICE_ANY)
    }

    fn park_on(
        &self,
        buf: &Buf,
        first: usize,
        pages: usize,
        device: u32,
    ) -> Result<Migrate, String> {
        let (req, res) = self.migrate_raw(
            Direction::ToDevice,
            buf.page_addr(first),
            (pages * PAGE) as u64,
            abi::PIDFD_SELF,
            device,
        );
        res.map_err(|e| format!("MIGRATE_TO_DEVICE: {e} ({req:?})"))?;
        ensure_eq!(
            req.moved + req.skipped(),
            pages as u64,
            "counters add up to the range"
        );
        Ok(req)
    }

    fn unpark(&self, buf: &Buf, first: usize, pages: usize) -> Result<Migrate, String> {
        let (req, res) = self.migrate_raw(
            Direction::ToRam,
            buf.page_addr(first),
            (pages * PAGE) as u64,
            abi::PIDFD_SELF,
            abi::DEVICE_ANY,
        );
        res.map_err(|e| format!("MIGRATE_TO_RAM: {e} ({req:?})"))?;
        ensure_eq!(
            req.moved + req.skipped(),
            pages as u64,
            "counters add up to the range"
        );
        Ok(req)
    }

    /// Parks `pages` pages at `addr` of the process `pidfd` names.
    fn park_process(
        &self,
        pidfd: &impl AsRawFd,
        addr: u64,
        pages: usize,
    ) -> (Migrate, io::Result<()>) {
        let len = bytes(pages as u64);
        self.migrate_raw(
            Direction::ToDevice,
            addr,
            len,
            pidfd.as_raw_fd(),
            abi::DEVICE_ANY,
        )
    }

    fn resident_of(&self, addr: u64, len: u64, pidfd: i32, device: u32) -> Result<u64, String> {
        let mut req = Residency {
            addr,
            length: len,
            pidfd,
            device,
            ..Residency::default()
        };
        self.dev
            .residency(&mut req)
            .map_err(|e| format!("RESIDENCY: {e}"))?;
        ensure_eq!(req.pages, len / PAGE as u64, "RESIDENCY pages");
        Ok(req.resident)
    }

    fn resident(&self, buf: &Buf) -> Result<u64, String> {
        self.resident_of(buf.addr(), buf.size(), abi::PIDFD_SELF, abi::DEVICE_ANY)
    }
}

/// Who copies, and whether a copy engine fails meanwhile, depends on the board and its parameters,
/// not on the scenario: these counters are checked as a sum instead (see [`expect_stats`]).
const COPY_PATH_STATS: [&str; 3] = ["dma_bytes", "cpu_copy_bytes", "dma_fail"];

/// Whether a page that faults back counts as an early refault depends on how long it stayed in
/// VRAM (`early_refault_secs`), not on the scenario: it is checked as a bound instead.
const EARLY_REFAULTS: &str = "early_refaults";

/// Checks the counter deltas `after - before` for the named counters; others must not move. Every
/// byte moved was copied once, by the copy engine or by the CPU; early refaults are pages moved
/// back to RAM.
fn expect_stats(before: &Stats, after: &Stats, want: &[(&str, u64)]) -> TestResult {
    let delta = after.since(before);
    ensure_eq!(
        delta.get("dma_bytes") + delta.get("cpu_copy_bytes"),
        delta.get("bytes_to_device") + delta.get("bytes_to_ram"),
        "bytes copied (dma_bytes + cpu_copy_bytes) against bytes moved"
    );
    ensure!(
        delta.get(EARLY_REFAULTS) <= delta.get("migrations_to_ram"),
        "stats/{EARLY_REFAULTS} moved by more than migrations_to_ram (all deltas: {delta:?})"
    );
    for (name, value) in delta.iter() {
        if COPY_PATH_STATS.contains(&name) || name == EARLY_REFAULTS {
            continue;
        }
        let expected = want.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v);
        ensure!(
            value == expected,
            "stats/{name} moved by {value}, expected {expected} (all deltas: {delta:?})"
        );
    }
    Ok(())
}

/// The errno of a failed request, if it failed.
fn errno(res: &io::Result<()>) -> Option<i32> {
    res.as_ref().err().and_then(io::Error::raw_os_error)
}

fn bytes(pages: u64) -> u64 {
    pages * PAGE as u64
}

// ---- Scenarios ----

/// hmm-tests "migrate": 1024 pages to VRAM, every counter exact, data intact after the faults.
fn migrate(ctx: &Ctx) -> TestResult {
    let n = 1024;
    let buf = Buf::anon(n)?;
    buf.fill_all(1);
    let pool0 = ctx.pool()?;
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "pages moved");
    ensure_eq!(ctx.resident(&buf)?, n as u64, "resident after parking");
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - n as u64,
        "free pages while parked"
    );
    let s1 = ctx.stats()?;
    expect_stats(
        &s0,
        &s1,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
        ],
    )?;
    buf.verify_all(1)?;
    let s2 = ctx.stats()?;
    // A sequential read faults once per aligned 16-page window.
    expect_stats(
        &s1,
        &s2,
        &[
            ("migrations_to_ram", n as u64),
            ("bytes_to_ram", bytes(n as u64)),
            ("page_faults", (n / 16) as u64),
        ],
    )?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after reading back");
    ensure_eq!(ctx.pool()?, pool0, "pool after reading back");
    Ok(())
}

/// hmm-tests "migrate_fault": migrate, fault half back, migrate the mix again.
fn migrate_fault(ctx: &Ctx) -> TestResult {
    let n = 1024;
    let buf = Buf::anon(n)?;
    buf.fill_all(2);
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "first migration");
    buf.verify(2, 0, n / 2)?;
    ensure_eq!(
        ctx.resident(&buf)?,
        (n / 2) as u64,
        "resident after faulting half"
    );
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, (n / 2) as u64, "second migration moved");
    ensure_eq!(
        r.skipped_resident,
        (n / 2) as u64,
        "second migration found resident"
    );
    ensure_eq!(
        ctx.resident(&buf)?,
        n as u64,
        "resident after second migration"
    );
    buf.verify_all(2)
}

/// hmm-tests "migrate_multiple": ten rounds of migrate and full fault-back, new data each time.
fn migrate_multiple(ctx: &Ctx) -> TestResult {
    let n = 512;
    let buf = Buf::anon(n)?;
    let pool0 = ctx.pool()?;
    for round in 0..10u64 {
        buf.fill_all(100 + round);
        ensure_eq!(
            ctx.park(&buf, 0, n)?.moved,
            n as u64,
            format!("round {round} moved")
        );
        buf.verify_all(100 + round)
            .map_err(|e| format!("round {round}: {e}"))?;
        ensure_eq!(
            ctx.resident(&buf)?,
            0,
            format!("round {round} resident after fault-back")
        );
    }
    ensure_eq!(ctx.pool()?, pool0, "pool after ten rounds");
    Ok(())
}

/// hmm-tests "migrate_mixed", our ABI: a hole, the zero page, a read-only and a read-write page
/// move or skip as they should; a PROT_NONE page in the range fails the whole call, untouched.
fn mixed(ctx: &Ctx) -> TestResult {
    let buf = Buf::anon(5)?;
    // Page 0: never touched. Page 1: the zero page. Page 2: read-only data. Page 3: read-write
    // data. Page 4: PROT_NONE.
    buf.touch_read(1);
    buf.fill(3, 2, 2);
    buf.protect(2, 1, libc::PROT_READ)?;
    buf.protect(4, 1, libc::PROT_NONE)?;
    let s0 = ctx.stats()?;
    let (r, res) = ctx.migrate_raw(
        Direction::ToDevice,
        buf.addr(),
        buf.size(),
        abi::PIDFD_SELF,
        abi::DEVICE_ANY,
    );
    ensure!(
        errno(&res) == Some(libc::EACCES),
        "range with a PROT_NONE page: {res:?}, expected EACCES"
    );
    ensure_eq!(r.moved, 0, "moved with EACCES");
    ensure_eq!(
        ctx.resident_of(buf.addr(), bytes(4), abi::PIDFD_SELF, abi::DEVICE_ANY)?,
        0,
        "resident after EACCES"
    );
    expect_stats(&s0, &ctx.stats()?, &[])?;

    let r = ctx.park(&buf, 0, 4)?;
    ensure_eq!(r.moved, 2, "moved: the read-only and the read-write page");
    ensure_eq!(r.skipped_empty, 2, "empty: the hole and the zero page");
    ensure_eq!(
        ctx.resident_of(buf.addr(), bytes(4), abi::PIDFD_SELF, abi::DEVICE_ANY)?,
        2,
        "resident"
    );
    buf.verify_zero(0, 2)?;
    buf.verify(3, 2, 2)?;
    ensure_eq!(
        ctx.resident_of(buf.addr(), bytes(4), abi::PIDFD_SELF, abi::DEVICE_ANY)?,
        0,
        "resident after reading"
    );
    Ok(())
}

/// A buffer of `huge` transparent huge pages filled with `seed`, each checked to be one. The
/// caller holds a [`HugePages`] (see [`NEEDS_HUGE_PAGES`]).
fn huge_buf(huge: usize, seed: u64) -> Result<Buf, String> {
    let buf = Buf::anon_huge(huge * HUGE_PAGES)?;
    buf.fill_all(seed);
    let kb = smaps::anon_huge_kb(buf.addr())?;
    ensure_eq!(
        kb,
        (huge * 2048) as u64,
        "AnonHugePages of the buffer: transparent huge pages backing it"
    );
    Ok(buf)
}

/// hmm-tests "migrate_anon_huge_fault": transparent huge pages move to VRAM whole, as 2 MiB
/// device folios (still huge in smaps), and come back whole on one CPU fault each, or on request.
fn thp(ctx: &Ctx) -> TestResult {
    let huge = 2;
    let n = huge * HUGE_PAGES;
    let buf = huge_buf(huge, 29)?;
    let pool0 = ctx.pool()?;
    let s0 = ctx.stats()?;
    let gpu = ctx.sys.devices().map_err(|e| format!("devices: {e}"))?;
    let gpu = gpu.first().ok_or("no GPU bound")?.address.clone();
    let gpu_stats = || {
        ctx.sys
            .device_stats(&gpu)
            .map_err(|e| format!("GPU stats: {e}"))
    };
    let g0 = gpu_stats()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "pages of huge pages moved");
    ensure_eq!(ctx.resident(&buf)?, n as u64, "resident");
    ensure_eq!(
        smaps::anon_huge_kb(buf.addr())?,
        (huge * 2048) as u64,
        "AnonHugePages in VRAM: still whole huge pages"
    );
    let pool1 = ctx.pool()?;
    ensure_eq!(
        pool1.free_chunks,
        pool0.free_chunks - huge as u64,
        "free 2 MiB chunks after parking"
    );
    ensure_eq!(pool1.free_pages, pool0.free_pages - n as u64, "free pages");
    let s1 = ctx.stats()?;
    expect_stats(
        &s0,
        &s1,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
            ("thp_to_device", huge as u64),
        ],
    )?;
    let g1 = gpu_stats()?;
    ensure_eq!(
        g1.since(&g0).get("thp_to_device"),
        huge as u64,
        "GPU stats/thp_to_device"
    );
    // One touch per huge page brings all of it back.
    for h in 0..huge {
        buf.touch_read(h * HUGE_PAGES + 7);
    }
    ensure_eq!(
        ctx.resident(&buf)?,
        0,
        "resident after one touch per huge page"
    );
    expect_stats(
        &s1,
        &ctx.stats()?,
        &[
            ("migrations_to_ram", n as u64),
            ("bytes_to_ram", bytes(n as u64)),
            ("page_faults", huge as u64),
            ("thp_to_ram", huge as u64),
        ],
    )?;
    ensure_eq!(
        gpu_stats()?.since(&g1).get("thp_to_ram"),
        huge as u64,
        "GPU stats/thp_to_ram"
    );
    ensure_eq!(
        smaps::anon_huge_kb(buf.addr())?,
        (huge * 2048) as u64,
        "AnonHugePages back in RAM"
    );
    buf.verify_all(29)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after the fault-back");

    // And by request.
    ctx.park(&buf, 0, n)?;
    let s2 = ctx.stats()?;
    ensure_eq!(
        ctx.unpark(&buf, 0, n)?.moved,
        n as u64,
        "moved back by request"
    );
    let delta = ctx.stats()?.since(&s2);
    ensure_eq!(
        delta.get("thp_to_ram"),
        huge as u64,
        "thp_to_ram by request"
    );
    ensure_eq!(delta.get("page_faults"), 0, "page faults of a request");
    buf.verify_all(29)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after the huge pages");

    // Single pages now land in the chunks that held the huge pages: each must become a folio of
    // its own, whatever the huge folio left in its struct page.
    let small = Buf::anon(n + 64)?;
    small.fill_all(42);
    ensure_eq!(
        ctx.park(&small, 0, n + 64)?.moved,
        (n + 64) as u64,
        "single pages parked"
    );
    small.verify_all(42)?;
    drop(small);
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}

/// hmm-tests "anon_write_child" with a huge page: after fork a parked huge page is shared
/// copy-on-write; the child reads the parent's data and its writes stay its own, both ways.
fn thp_fork(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    let buf = huge_buf(1, 38)?;
    ctx.park(&buf, 0, HUGE_PAGES)?;
    let child = fork_child(|| {
        buf.verify_all(38)?;
        buf.fill_all(39);
        buf.verify_all(39)
    })?;
    child.wait_ok("child reading and writing the huge page")?;
    buf.verify_all(38)
        .map_err(|e| format!("parent after the child wrote: {e}"))?;

    buf.fill_all(40);
    ctx.park(&buf, 0, HUGE_PAGES)?;
    let go = Pipe::new()?;
    let child = fork_child(|| {
        go.wait()?;
        buf.verify_all(40)
    })?;
    buf.fill_all(41);
    go.signal()?;
    child.wait_ok("child reading after the parent wrote")?;
    buf.verify_all(41)?;
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}

/// A range that covers only part of a huge page moves page by page: the huge page is split.
fn thp_unaligned(ctx: &Ctx) -> TestResult {
    let buf = huge_buf(1, 30)?;
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 16, HUGE_PAGES - 32)?;
    ensure_eq!(r.moved, (HUGE_PAGES - 32) as u64, "pages moved");
    let delta = ctx.stats()?.since(&s0);
    ensure_eq!(delta.get("thp_to_device"), 0, "huge pages moved whole");
    ensure_eq!(
        smaps::anon_huge_kb(buf.addr())?,
        0,
        "AnonHugePages after a partial move"
    );
    buf.verify_all(30)?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after reading");
    Ok(())
}

/// hmm-tests "migrate_partial_unmap_fault": munmap part of a huge page in VRAM, at its start,
/// a quarter in and in the middle; the rest faults back intact and every VRAM page is freed.
fn thp_partial_unmap(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    for (k, offset) in [0, HUGE_PAGES / 4, HUGE_PAGES / 2].into_iter().enumerate() {
        let seed = 31 + k as u64;
        let buf = huge_buf(1, seed)?;
        let s0 = ctx.stats()?;
        ctx.park(&buf, 0, HUGE_PAGES)?;
        let half = HUGE_PAGES / 2;
        buf.unmap_part(offset, half)?;
        // What stays mapped reads back intact.
        buf.verify(seed, 0, offset)?;
        buf.verify(seed, offset + half, HUGE_PAGES - offset - half)?;
        let delta = ctx.stats()?.since(&s0);
        ensure_eq!(delta.get("thp_to_device"), 1, "parked as a huge page");
        ensure_eq!(delta.get("thp_splits"), 1, "huge device page split");
        ensure_eq!(
            delta.get("migrations_to_ram"),
            half as u64,
            "pages faulted back"
        );
        drop(buf);
        ensure_eq!(
            ctx.pool()?,
            pool0,
            format!("pool after unmapping at {offset}")
        );
    }
    Ok(())
}

/// hmm-tests "migrate_remap_fault": mremap a huge page in VRAM to an address that is not 2 MiB
/// aligned; it is mapped by single entries there and faults back intact.
fn thp_mremap(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    let buf = huge_buf(1, 34)?;
    ctx.park(&buf, 0, HUGE_PAGES)?;
    let buf = buf.remap_misaligned()?;
    ensure!(
        buf.addr() % (2 << 20) != 0,
        "mremap target is 2 MiB aligned"
    );
    ensure_eq!(
        ctx.resident(&buf)?,
        HUGE_PAGES as u64,
        "resident at the new address"
    );
    buf.verify_all(34)?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after reading");
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}

/// hmm-tests "migrate_anon_huge_err": when no whole 2 MiB of VRAM is free, a huge page moves as
/// single pages. Needs a pool of exactly two chunks (`pool_size_mb=4`): one page of a small
/// buffer takes the first chunk, huge page A the second, and huge page B finds only the 511 free
/// pages of the first.
fn thp_fallback(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    ensure!(
        pool0.total_pages == (2 * HUGE_PAGES) as u64 && pool0.free_pages == pool0.total_pages,
        "needs an empty pool of two 2 MiB chunks (pool_size_mb=4), found {pool0:?}"
    );
    let small = Buf::anon(1)?;
    small.fill_all(35);
    ctx.park(&small, 0, 1)?;
    let a = huge_buf(1, 36)?;
    let b = huge_buf(1, 37)?;
    let s0 = ctx.stats()?;
    ensure_eq!(
        ctx.park(&a, 0, HUGE_PAGES)?.moved,
        HUGE_PAGES as u64,
        "A moved"
    );
    // Partial success: no error, the page without room counted.
    let req = ctx.park(&b, 0, HUGE_PAGES)?;
    ensure_eq!(req.moved, (HUGE_PAGES - 1) as u64, "B: pages moved");
    ensure_eq!(req.skipped_no_space, 1, "B: pages without room");
    let delta = ctx.stats()?.since(&s0);
    ensure_eq!(delta.get("thp_to_device"), 1, "huge pages moved whole");
    ensure_eq!(
        delta.get("thp_fallback"),
        1,
        "huge pages moved as single pages"
    );
    ensure_eq!(ctx.pool()?.free_pages, 0, "free pages");
    small.verify_all(35)?;
    a.verify_all(36)?;
    b.verify_all(37)?;
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}

/// MIGRATE_TO_RAM brings pages back without CPU faults; on pages in RAM it moves nothing.
fn to_ram(ctx: &Ctx) -> TestResult {
    let n = 256;
    let buf = Buf::anon(n)?;
    buf.fill_all(4);
    ctx.park(&buf, 0, n)?;
    let s0 = ctx.stats()?;
    let r = ctx.unpark(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "moved to RAM");
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after MIGRATE_TO_RAM");
    expect_stats(
        &s0,
        &ctx.stats()?,
        &[
            ("migrations_to_ram", n as u64),
            ("bytes_to_ram", bytes(n as u64)),
        ],
    )?;
    let r = ctx.unpark(&buf, 0, n)?;
    ensure_eq!(r.moved, 0, "second MIGRATE_TO_RAM moved");
    ensure_eq!(
        r.skipped_resident,
        n as u64,
        "second MIGRATE_TO_RAM: already in RAM"
    );
    buf.verify_all(4)
}

/// hmm-tests "migrate_shared": shared anonymous memory cannot become device-private.
fn shared(ctx: &Ctx) -> TestResult {
    let n = 64;
    let buf = Buf::shared(n)?;
    buf.fill_all(5);
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, 0, "shared pages moved");
    ensure_eq!(
        r.skipped_unmovable,
        n as u64,
        "shared pages reported unmovable"
    );
    expect_stats(&s0, &ctx.stats()?, &[])?;
    buf.verify_all(5)
}

/// hmm-tests "migrate_file_private": in a private file mapping, the pages written since (COW
/// copies, anonymous) move; the page-cache pages do not.
fn file_private(ctx: &Ctx) -> TestResult {
    let n = 64;
    let path = "/tmp/ps-test-file-private";
    let src = Buf::anon(n)?;
    src.fill_all(6);
    // SAFETY: `src` is `n` readable pages.
    let data = unsafe { std::slice::from_raw_parts(src.addr() as *const u8, n * PAGE) };
    std::fs::write(path, data).map_err(|e| format!("{path}: {e}"))?;
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let buf = Buf::file_private(n, file.as_raw_fd())?;
    buf.verify_all(6)?;
    buf.fill(7, 0, n / 2);
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, (n / 2) as u64, "written (COW) pages moved");
    ensure_eq!(
        r.skipped_unmovable,
        (n / 2) as u64,
        "page-cache pages unmovable"
    );
    buf.verify(7, 0, n / 2)?;
    buf.verify(6, n / 2, n / 2)?;
    drop(buf);
    std::fs::remove_file(path).map_err(|e| format!("{path}: {e}"))
}

/// hmm-tests "anon_write_child" and "hmm_cow_in_device": after fork with pages in VRAM each
/// process sees its own data, and copy-on-write holds both ways.
fn fork(ctx: &Ctx) -> TestResult {
    let n = 256;
    let buf = Buf::anon(n)?;
    buf.fill_all(8);
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "parked before fork");
    // The child reads the parent's data, then writes its own; the parent must not see it.
    let child = fork_child(|| {
        buf.verify_all(8)?;
        buf.fill_all(9);
        buf.verify_all(9)
    })?;
    child.wait_ok("child reading and writing")?;
    buf.verify_all(8)
        .map_err(|e| format!("parent after the child wrote: {e}"))?;

    // The other way: the parent writes after fork; the child keeps the old data.
    buf.fill_all(10);
    ensure_eq!(
        ctx.park(&buf, 0, n)?.moved,
        n as u64,
        "parked before second fork"
    );
    let go = Pipe::new()?;
    let child = fork_child(|| {
        go.wait()?;
        buf.verify_all(10)
    })?;
    buf.fill_all(11);
    go.signal()?;
    child.wait_ok("child reading after the parent wrote")?;
    buf.verify_all(11)
}

/// hmm-tests "hmm_gup_test": GUP on pages in VRAM (O_DIRECT I/O from them, process_vm_readv of
/// them) brings them back intact.
fn gup(ctx: &Ctx) -> TestResult {
    let n = 64;
    let buf = Buf::anon(n)?;
    buf.fill_all(12);
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "parked");
    let path = "/tmp/ps-test-odirect";
    let written = proc::write_direct(path, buf.addr(), n * PAGE)?;
    ensure_eq!(written, n * PAGE, "O_DIRECT bytes written");
    let back = Buf::anon(n)?;
    // SAFETY: `back` is `n` writable pages.
    let dst = unsafe { std::slice::from_raw_parts_mut(back.addr() as *mut u8, n * PAGE) };
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    ensure_eq!(data.len(), n * PAGE, "file size");
    dst.copy_from_slice(&data);
    back.verify_all(12)
        .map_err(|e| format!("file written with O_DIRECT: {e}"))?;
    std::fs::remove_file(path).map_err(|e| format!("{path}: {e}"))?;

    // process_vm_readv from a child, of the parent's pages in VRAM.
    buf.fill_all(13);
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "parked again");
    let parent = std::process::id() as i32;
    let addr = buf.addr();
    let child = fork_child(move || {
        let copy = Buf::anon(n)?;
        proc::vm_readv(parent, addr, copy.addr(), n * PAGE)?;
        copy.verify_all(13)
    })?;
    child.wait_ok("process_vm_readv of pages in VRAM")?;
    buf.verify_all(13)
}

/// munmap, MADV_DONTNEED and exit with pages in VRAM give every page back to the pool.
fn munmap(ctx: &Ctx) -> TestResult {
    let n = 256;
    let pool0 = ctx.pool()?;
    let buf = Buf::anon(n)?;
    buf.fill_all(14);
    ctx.park(&buf, 0, n)?;
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - n as u64,
        "free pages while parked"
    );
    // MADV_DONTNEED zaps parked pages like munmap does: back to the pool, reading as zero.
    buf.dontneed(0, 64)?;
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - (n - 64) as u64,
        "free pages after MADV_DONTNEED"
    );
    buf.verify_zero(0, 64)?;
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool after munmap");

    let ready = Pipe::new()?;
    let child = fork_child(|| {
        let ctx = Ctx::new()?;
        let buf = Buf::anon(n)?;
        buf.fill_all(15);
        ctx.park(&buf, 0, n)?;
        ready.signal()?;
        // Exit with the pages still in VRAM.
        std::mem::forget(buf);
        Ok(())
    })?;
    ready.wait()?;
    child.wait_ok("child parking and exiting")?;
    ensure_eq!(ctx.pool()?, pool0, "pool after the child exited");
    Ok(())
}

/// mremap and partial munmap of a range in VRAM.
fn mremap(ctx: &Ctx) -> TestResult {
    let n = 256;
    let pool0 = ctx.pool()?;
    let buf = Buf::anon(n)?;
    buf.fill_all(16);
    ctx.park(&buf, 0, n)?;
    let old = buf.addr();
    let buf = buf.remap()?;
    ensure!(buf.addr() != old, "mremap did not move the mapping");
    ensure_eq!(ctx.resident(&buf)?, n as u64, "resident at the new address");
    buf.verify_all(16)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after reading the moved range");

    buf.fill_all(17);
    ctx.park(&buf, 0, n)?;
    buf.unmap_part(64, 64)?;
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - (n - 64) as u64,
        "free pages after partial munmap"
    );
    buf.verify(17, 0, 64)?;
    buf.verify(17, 128, n - 128)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after reading the rest");
    Ok(())
}

/// hmm-tests style concurrency: eight threads fault the same range at once.
fn threads(ctx: &Ctx) -> TestResult {
    let n = 1024;
    let buf = Buf::anon(n)?;
    buf.fill_all(18);
    let pool0 = ctx.pool()?;
    for round in 0..3 {
        ensure_eq!(
            ctx.park(&buf, 0, n)?.moved,
            n as u64,
            format!("round {round} parked")
        );
        let results: Vec<TestResult> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let buf = &buf;
                    s.spawn(move || {
                        // Each thread starts at a different place to make faults collide.
                        let start = (t * n / 8 + round * 37) % n;
                        buf.verify(18, start, n - start)?;
                        buf.verify(18, 0, start)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err("thread panicked".into())))
                .collect()
        });
        for (t, r) in results.into_iter().enumerate() {
            r.map_err(|e| format!("round {round} thread {t}: {e}"))?;
        }
        ensure_eq!(
            ctx.resident(&buf)?,
            0,
            format!("round {round} resident after threads")
        );
    }
    ensure_eq!(ctx.pool()?, pool0, "pool after threads");
    Ok(())
}

/// For the unbind tests: park MIB MiB, close the device (so the module can be removed), say
/// "parked", wait for SIGUSR1, then check every byte.
fn hold(mib: usize, huge: bool) -> TestResult {
    let n = (mib << 20) / PAGE;
    let buf = match huge {
        true => huge_buf(n / HUGE_PAGES, 19)?,
        false => Buf::anon(n)?,
    };
    buf.fill_all(19);
    let ctx = Ctx::new()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "parked");
    if huge {
        ensure_eq!(
            smaps::anon_huge_kb(buf.addr())?,
            (mib << 10) as u64,
            "AnonHugePages parked: whole huge pages"
        );
    }
    drop(ctx);
    let sigs = proc::block_sigusr1()?;
    println!("parked {n} pages at {:#x}+{}", buf.addr(), buf.size());
    proc::flush_stdout();
    sigs.wait()?;
    buf.verify_all(19)?;
    println!("all {} bytes intact", n * PAGE);
    Ok(())
}

/// Pool exhaustion: partial success with counts, then ENOSPC; nothing leaks.
fn exhaust(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    ensure!(
        pool0.free_pages == pool0.total_pages,
        "pool not empty at start: {pool0:?}"
    );
    let total = pool0.total_pages as usize;
    let extra = 256;
    let buf = Buf::anon(total + extra)?;
    buf.fill_all(20);
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 0, total + extra)?;
    ensure_eq!(r.moved, total as u64, "moved into a pool of {total} pages");
    ensure_eq!(r.skipped_no_space, extra as u64, "no space");
    ensure_eq!(ctx.pool()?.free_pages, 0, "free pages when full");
    let more = Buf::anon(64)?;
    more.fill_all(21);
    let (r, res) = ctx.migrate_raw(
        Direction::ToDevice,
        more.addr(),
        more.size(),
        abi::PIDFD_SELF,
        abi::DEVICE_ANY,
    );
    ensure!(
        errno(&res) == Some(libc::ENOSPC),
        "full pool: {res:?}, expected ENOSPC"
    );
    ensure_eq!(r.skipped_no_space, 64, "ENOSPC still reports counts");
    ensure_eq!(r.moved, 0, "moved with ENOSPC");
    expect_stats(
        &s0,
        &ctx.stats()?,
        &[
            ("migrations_to_device", total as u64),
            ("bytes_to_device", bytes(total as u64)),
            ("alloc_fail", (extra + 64) as u64),
        ],
    )?;
    more.verify_all(21)?;
    drop(more);
    buf.verify_all(20)?;
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool after freeing everything");
    Ok(())
}

/// Two GPUs: each takes what it is asked to, counted separately.
fn two_gpus(ctx: &Ctx) -> TestResult {
    let devices = ctx.sys.devices().map_err(|e| format!("devices: {e}"))?;
    ensure_eq!(devices.len(), 2, "bound GPUs");
    let n = 256;
    let a = Buf::anon(n)?;
    let b = Buf::anon(n)?;
    a.fill_all(22);
    b.fill_all(23);
    let per_gpu = |i: usize| -> Result<(u32, Pool, Stats), String> {
        let d = &devices[i];
        let index = d.index.ok_or("no index")?;
        let dev = ctx.sys.devices().map_err(|e| format!("devices: {e}"))?;
        let pool = dev[i].pool.ok_or("no pool")?;
        let stats = ctx
            .sys
            .device_stats(&d.address)
            .map_err(|e| format!("stats: {e}"))?;
        Ok((index, pool, stats))
    };
    let (i0, p0, s0) = per_gpu(0)?;
    let (i1, p1, s1) = per_gpu(1)?;
    ctx.park_on(&a, 0, n, i0)?;
    ctx.park_on(&b, 0, n, i1)?;
    let (_, p0b, s0b) = per_gpu(0)?;
    let (_, p1b, s1b) = per_gpu(1)?;
    ensure_eq!(p0b.free_pages, p0.free_pages - n as u64, "GPU 0 free pages");
    ensure_eq!(p1b.free_pages, p1.free_pages - n as u64, "GPU 1 free pages");
    expect_stats(
        &s0,
        &s0b,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
        ],
    )?;
    expect_stats(
        &s1,
        &s1b,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
        ],
    )?;
    ensure_eq!(
        ctx.resident_of(a.addr(), a.size(), abi::PIDFD_SELF, i0)?,
        n as u64,
        "A on GPU 0"
    );
    ensure_eq!(
        ctx.resident_of(a.addr(), a.size(), abi::PIDFD_SELF, i1)?,
        0,
        "A on GPU 1"
    );
    ensure_eq!(
        ctx.resident_of(b.addr(), b.size(), abi::PIDFD_SELF, i1)?,
        n as u64,
        "B on GPU 1"
    );
    let total = ctx.pool()?;
    ensure_eq!(
        total.total_pages,
        p0.total_pages + p1.total_pages,
        "module pool is the sum"
    );
    ensure_eq!(
        total.free_pages,
        p0b.free_pages + p1b.free_pages,
        "module free pages are the sum"
    );
    // To RAM from GPU 1 only leaves A on GPU 0.
    let (r, res) = ctx.migrate_raw(Direction::ToRam, a.addr(), a.size(), abi::PIDFD_SELF, i1);
    res.map_err(|e| format!("MIGRATE_TO_RAM from GPU 1: {e}"))?;
    ensure_eq!(r.moved, 0, "pages of A moved from GPU 1");
    ensure_eq!(r.skipped_resident, n as u64, "pages of A not on GPU 1");
    a.verify_all(22)?;
    b.verify_all(23)?;
    let (_, p0c, s0c) = per_gpu(0)?;
    let (_, p1c, s1c) = per_gpu(1)?;
    ensure_eq!(p0c, p0, "GPU 0 pool after reading back");
    ensure_eq!(p1c, p1, "GPU 1 pool after reading back");
    ensure_eq!(
        s0c.get("migrations_to_ram") - s0b.get("migrations_to_ram"),
        n as u64,
        "GPU 0 to RAM"
    );
    ensure_eq!(
        s1c.get("migrations_to_ram") - s1b.get("migrations_to_ram"),
        n as u64,
        "GPU 1 to RAM"
    );
    Ok(())
}

/// Parked pages leave RAM: MemFree rises by at least 90% of what was parked.
///
/// Freed pages may first collect on the per-CPU free lists, which MemFree does not count and
/// which the kernel lets grow to 1/8 of a zone; the scenario shrinks them for its duration so
/// that MemFree shows what left RAM.
fn meminfo(ctx: &Ctx) -> TestResult {
    let _pcp = proc::SmallPcpLists::set()?;
    let n = (64 << 20) / PAGE;
    let buf = Buf::anon(n)?;
    buf.fill_all(24);
    let free0 = proc::mem_free_kb()?;
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "parked");
    let free1 = proc::mem_free_kb()?;
    let rise = free1.saturating_sub(free0);
    let parked_kb = (n * PAGE / 1024) as u64;
    println!("MemFree {free0} kB -> {free1} kB: +{rise} kB for {parked_kb} kB parked");
    ensure!(
        rise * 10 >= parked_kb * 9,
        "MemFree rose by {rise} kB, less than 90% of {parked_kb} kB"
    );
    buf.verify_all(24)
}

/// Every bad request gets its documented errno and changes nothing.
fn bad_input(ctx: &Ctx) -> TestResult {
    let n = 16;
    let buf = Buf::anon(n)?;
    buf.fill_all(25);
    let len = buf.size();
    let page = PAGE as u64;
    let dead = proc::dead_pidfd()?;
    // Pages 16-31 of `holed` are unmapped: nothing else can be mapped there.
    let holed = Buf::anon(32)?;
    holed.fill(25, 0, 16);
    holed.unmap_part(16, 16)?;
    let s0 = ctx.stats()?;
    let not_pidfd = ctx.dev_fd();
    let cases: [(&str, Migrate, i32); 13] = [
        (
            "unaligned address",
            Migrate::new(buf.addr() + 8, len - page, -1, abi::DEVICE_ANY),
            libc::EINVAL,
        ),
        (
            "unaligned length",
            Migrate::new(buf.addr(), len - 8, -1, abi::DEVICE_ANY),
            libc::EINVAL,
        ),
        (
            "zero length",
            Migrate::new(buf.addr(), 0, -1, abi::DEVICE_ANY),
            libc::EINVAL,
        ),
        (
            "wrapping range",
            Migrate::new(u64::MAX - page + 1, 2 * page, -1, abi::DEVICE_ANY),
            libc::EINVAL,
        ),
        (
            "beyond user space",
            Migrate::new(1 << 56, page, -1, abi::DEVICE_ANY),
            libc::EINVAL,
        ),
        (
            "unmapped range",
            Migrate::new(page, page, -1, abi::DEVICE_ANY),
            libc::EFAULT,
        ),
        (
            "partly unmapped range",
            Migrate::new(holed.addr(), holed.size(), -1, abi::DEVICE_ANY),
            libc::EFAULT,
        ),
        (
            "unknown device",
            Migrate::new(buf.addr(), len, -1, 7),
            libc::ENODEV,
        ),
        (
            "dead process",
            Migrate::new(buf.addr(), len, dead.as_raw_fd(), abi::DEVICE_ANY),
            libc::ESRCH,
        ),
        (
            "not a pidfd",
            Migrate::new(buf.addr(), len, not_pidfd, abi::DEVICE_ANY),
            libc::EBADF,
        ),
        (
            "negative fd",
            Migrate::new(buf.addr(), len, -5, abi::DEVICE_ANY),
            libc::EBADF,
        ),
        (
            "unknown flag",
            Migrate {
                flags: 1,
                ..Migrate::new(buf.addr(), len, -1, abi::DEVICE_ANY)
            },
            libc::EINVAL,
        ),
        (
            "reserved field",
            Migrate {
                reserved: 1,
                ..Migrate::new(buf.addr(), len, -1, abi::DEVICE_ANY)
            },
            libc::EINVAL,
        ),
    ];
    for dir in [Direction::ToDevice, Direction::ToRam] {
        for (what, req, want) in cases.iter() {
            let mut req = *req;
            let res = ctx.dev.migrate(dir, &mut req);
            let got = errno(&res);
            ensure!(
                got == Some(*want),
                "{dir:?} {what}: {res:?}, expected errno {want}"
            );
            ensure_eq!(req.moved, 0, format!("{dir:?} {what}: moved"));
        }
    }
    // Residency has the same input rules.
    for (what, req, want) in cases.iter() {
        let mut r = Residency {
            addr: req.addr,
            length: req.length,
            pidfd: req.pidfd,
            device: req.device,
            flags: req.flags,
            reserved: req.reserved,
            ..Residency::default()
        };
        let res = ctx.dev.residency(&mut r);
        let got = errno(&res);
        ensure!(
            got == Some(*want),
            "RESIDENCY {what}: {res:?}, expected errno {want}"
        );
    }
    // An unknown command and a bad pointer.
    // SAFETY: The kernel rejects the command before touching the argument.
    let res = unsafe { ctx.dev.raw_ioctl(abi::IOC_RESIDENCY + 0x10, 0) };
    ensure!(
        errno(&res) == Some(libc::ENOTTY),
        "unknown ioctl: {res:?}, expected ENOTTY"
    );
    // SAFETY: Address 8 is never mapped; the kernel must fail to read it.
    let res = unsafe { ctx.dev.raw_ioctl(abi::IOC_MIGRATE_TO_DEVICE, 8) };
    ensure!(
        errno(&res) == Some(libc::EFAULT),
        "unreadable argument: {res:?}, expected EFAULT"
    );
    expect_stats(&s0, &ctx.stats()?, &[])?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after bad requests");
    buf.verify_all(25)
}

/// Another process's memory, named by a pidfd: moved, counted, intact.
fn other_process(ctx: &Ctx) -> TestResult {
    let n = 128;
    let target = proc::Target::spawn(n, 26)?;
    let pidfd = abi::pidfd_open(target.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
    let (r, res) = ctx.park_process(&pidfd, target.addr(), n);
    res.map_err(|e| format!("migrating the child's memory: {e}"))?;
    ensure_eq!(r.moved, n as u64, "child pages moved");
    ensure_eq!(
        ctx.resident_of(
            target.addr(),
            bytes(n as u64),
            pidfd.as_raw_fd(),
            abi::DEVICE_ANY
        )?,
        n as u64,
        "child pages resident"
    );
    target.finish()
}

/// Moving another user's memory takes ptrace-level access: refused across users, allowed for
/// one's own dumpable process.
fn permission(_ctx: &Ctx) -> TestResult {
    let n = 16;
    let root_target = proc::Target::spawn(n, 27)?;
    let root_pid = root_target.pid();
    let root_addr = root_target.addr();
    let child = fork_child(move || {
        let ctx = Ctx::new()?;
        let root_pidfd = abi::pidfd_open(root_pid).map_err(|e| format!("pidfd_open: {e}"))?;
        proc::become_user(1000)?;
        let (r, res) = ctx.park_process(&root_pidfd, root_addr, n);
        ensure!(
            errno(&res) == Some(libc::EPERM),
            "uid 1000 moving root's memory: {res:?}, expected EPERM"
        );
        ensure_eq!(r.moved, 0, "moved without permission");
        // Its own (dumpable) child, same user: allowed.
        let own = proc::Target::spawn(n, 28)?;
        let pidfd = abi::pidfd_open(own.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (r, res) = ctx.park_process(&pidfd, own.addr(), n);
        res.map_err(|e| format!("uid 1000 moving its own child's memory: {e}"))?;
        ensure_eq!(r.moved, n as u64, "own child's pages moved");
        own.finish()
    })?;
    child.wait_ok("unprivileged mover")?;
    root_target.finish()
}

/// The device node is root's alone (mode 0600) unless an administrator opens it up; even then a
/// user can neither move nor look at another user's memory, nor name a process by its pid where
/// a pidfd belongs, nor move a process of its own that is not dumpable. Not part of the self-test:
/// it changes the node's mode for its duration.
fn permission_node(_ctx: &Ctx) -> TestResult {
    let n = 16;
    let root_target = proc::Target::spawn(n, 27)?;
    let other_user = proc::Target::spawn_as(n, 29, proc::Identity::User(1001))?;
    let (root_pid, root_addr) = (root_target.pid(), root_target.addr());
    let (other_pid, other_addr) = (other_user.pid(), other_user.addr());
    let child = fork_child(move || {
        proc::become_user(1000)?;
        let res = Device::open(abi::DEVICE_PATH).map(drop);
        ensure!(
            errno(&res) == Some(libc::EACCES),
            "uid 1000 opening {} (mode 0600): {res:?}, expected EACCES",
            abi::DEVICE_PATH
        );
        Ok(())
    })?;
    child.wait_ok("unprivileged user opening the node")?;

    // An administrator grants access to the node: users may open it, and nothing more.
    let _granted = proc::NodeMode::set(abi::DEVICE_PATH, 0o666)?;
    let child = fork_child(move || {
        // Room for descriptor numbers as high as the pids below.
        proc::raise_fd_limit(root_pid.max(other_pid) as u64 + 1)?;
        proc::become_user(1000)?;
        let ctx = Ctx::new().map_err(|e| format!("uid 1000 with access granted: {e}"))?;
        for (who, pid, addr) in [
            ("root", root_pid, root_addr),
            ("uid 1001", other_pid, other_addr),
        ] {
            let pidfd = abi::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
            for dir in [Direction::ToDevice, Direction::ToRam] {
                let (r, res) = ctx.migrate_raw(
                    dir,
                    addr,
                    bytes(n as u64),
                    pidfd.as_raw_fd(),
                    abi::DEVICE_ANY,
                );
                ensure!(
                    errno(&res) == Some(libc::EPERM),
                    "uid 1000 {dir:?} of {who}'s memory: {res:?}, expected EPERM"
                );
                ensure_eq!(r.moved, 0, format!("{dir:?} of {who}'s pages"));
            }
            let mut residency = Residency {
                addr,
                length: bytes(n as u64),
                pidfd: pidfd.as_raw_fd(),
                device: abi::DEVICE_ANY,
                ..Residency::default()
            };
            let res = ctx.dev.residency(&mut residency);
            ensure!(
                errno(&res) == Some(libc::EPERM),
                "uid 1000 reading the residency of {who}'s memory: {res:?}, expected EPERM"
            );
            // The pid itself where a pidfd belongs, as a closed descriptor number and as an
            // open descriptor that is no pidfd: never taken for the process.
            for open in [false, true] {
                let _decoy = open.then(|| proc::dup_to(ctx.dev_fd(), pid)).transpose()?;
                let (_, res) = ctx.migrate_raw(
                    Direction::ToDevice,
                    addr,
                    bytes(n as u64),
                    pid,
                    abi::DEVICE_ANY,
                );
                let what = if open { " (an open descriptor)" } else { "" };
                ensure!(
                    errno(&res) == Some(libc::EBADF),
                    "uid 1000 passing {who}'s pid {pid}{what} as the pidfd: {res:?}, expected EBADF"
                );
            }
        }
        // A process of its own that made itself not dumpable (as setuid programs are): refused.
        let sealed = proc::Target::spawn_as(n, 30, proc::Identity::NotDumpable)?;
        let pidfd = abi::pidfd_open(sealed.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (_, res) = ctx.park_process(&pidfd, sealed.addr(), n);
        ensure!(
            errno(&res) == Some(libc::EPERM),
            "uid 1000 moving its own non-dumpable process's memory: {res:?}, expected EPERM"
        );
        sealed.finish()
    })?;
    child.wait_ok("unprivileged user with access to the node")?;
    other_user.finish()?;
    root_target.finish()
}

/// The kernel's two-part ptrace rule, not a shortcut: a process that made its own user namespace
/// (as `unshare -U -r`) holds CAP_SYS_PTRACE over it, so over its child's credentials, but not over
/// the initial namespace its child's exec state belongs to; a child that made itself not dumpable
/// is then refused (EPERM), as ptrace refuses it. The same child while dumpable is allowed.
fn permission_userns(_ctx: &Ctx) -> TestResult {
    let n = 16;
    let child = fork_child(move || {
        let ctx = Ctx::new()?;
        proc::enter_user_namespace()?;
        let sealed = proc::Target::spawn_as(n, 32, proc::Identity::NotDumpable)?;
        let pidfd = abi::pidfd_open(sealed.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (r, res) = ctx.park_process(&pidfd, sealed.addr(), n);
        ensure!(
            errno(&res) == Some(libc::EPERM),
            "root of a child user namespace moving its non-dumpable child's memory: {res:?}, expected EPERM"
        );
        ensure_eq!(r.moved, 0, "moved without permission");
        sealed.finish()?;
        let open = proc::Target::spawn(n, 33)?;
        let pidfd = abi::pidfd_open(open.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (r, res) = ctx.park_process(&pidfd, open.addr(), n);
        res.map_err(|e| {
            format!("root of a child user namespace moving its dumpable child's memory: {e}")
        })?;
        ensure_eq!(r.moved, n as u64, "dumpable child's pages moved");
        open.finish()
    })?;
    child.wait_ok("root of a child user namespace")
}

/// Under fault injection (the fault-injection group aims failslab and fail_page_alloc at the
/// module's code and this process): rounds of park, CPU fault-back of half, MIGRATE_TO_RAM of the
/// rest. Each request works, with counters that add up, or fails with ENOMEM (the README's errno
/// for a failed allocation); pages that found no RAM stay parked; the data is intact after every
/// round, and injected failures did reach the module.
fn faults(ctx: &Ctx) -> TestResult {
    const MAKE_IT_FAIL: &str = "/proc/self/make-it-fail";
    let (rounds, n) = (100, 256);
    let buf = Buf::anon(n)?;
    std::fs::write(MAKE_IT_FAIL, "1").map_err(|e| format!("{MAKE_IT_FAIL}: {e}"))?;
    let (mut requests, mut enomem, mut moved, mut no_ram, mut verified) = (0u64, 0u64, 0, 0, 0);
    for round in 0..rounds {
        let seed = 1000 + round as u64;
        buf.fill_all(seed);
        for dir in [Direction::ToDevice, Direction::ToRam] {
            let (req, res) = ctx.migrate_raw(
                dir,
                buf.addr(),
                buf.size(),
                abi::PIDFD_SELF,
                abi::DEVICE_ANY,
            );
            requests += 1;
            match errno(&res) {
                None => {
                    ensure_eq!(
                        req.moved + req.skipped(),
                        n as u64,
                        format!("round {round} {dir:?} counters")
                    );
                    moved += req.moved;
                    if dir == Direction::ToRam {
                        no_ram += req.skipped_no_space;
                    }
                }
                Some(libc::ENOMEM) => enomem += 1,
                Some(e) => {
                    return Err(format!(
                        "round {round} {dir:?}: {res:?} (errno {e}), expected success or ENOMEM"
                    ))
                }
            }
            if dir == Direction::ToDevice {
                // CPU faults bring half back, page allocations failing or not; last page first,
                // so that each fault's page is the last of its window and the pages before it
                // already have RAM when its own allocation fails.
                for page in (0..n / 2).rev() {
                    buf.verify(seed, page, 1)
                        .map_err(|e| format!("round {round}, after parking: {e}"))?;
                }
                verified += bytes(n as u64 / 2);
            }
        }
        buf.verify_all(seed)
            .map_err(|e| format!("round {round}, at the end: {e}"))?;
        verified += buf.size();
    }
    std::fs::write(MAKE_IT_FAIL, "0").map_err(|e| format!("{MAKE_IT_FAIL}: {e}"))?;
    println!(
        "{rounds} rounds: {requests} requests, {enomem} failed with ENOMEM, {moved} pages moved, \
         {no_ram} pages found no RAM, {verified} bytes verified"
    );
    ensure!(
        enomem + no_ram > 0,
        "no injected failure reached the module (is fault injection aimed at it?)"
    );
    Ok(())
}

/// A fork storm over parked memory: waves of children fork while the parent's pages are in VRAM;
/// each child parks, reads and writes parts of its copy (copy-on-write of device pages both
/// ways) and checks it; children of children do the same. The parent re-parks between waves and
/// its data never changes.
fn fork_storm(ctx: &Ctx) -> TestResult {
    let (n, waves, per_wave) = (512, 8, 12);
    let owned = Buf::anon(n)?;
    let buf = &owned;
    buf.fill_all(40);
    let mut verified = 0u64;
    let mut forks = 0u64;
    for wave in 0..waves {
        ctx.park(buf, 0, n)?;
        let children = (0..per_wave)
            .map(|c| {
                let seed = 1000 * (wave + 1) + c;
                fork_child(move || {
                    let ctx = Ctx::new()?;
                    buf.verify_all(40)?;
                    // Write a part (COW off device pages), park it again, fork a grandchild
                    // that checks both parts, then check both ourselves.
                    let half = n / 2;
                    buf.fill(seed, 0, half);
                    ctx.park(buf, 0, n)?;
                    let grandchild = fork_child(move || {
                        buf.verify(seed, 0, half)?;
                        buf.verify(40, half, n - half)
                    })?;
                    grandchild.wait_ok("grandchild")?;
                    buf.verify(seed, 0, half)?;
                    buf.verify(40, half, n - half)
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        for child in children {
            child.wait_ok(&format!("child of wave {wave}"))?;
        }
        forks += 2 * per_wave;
        // Each child and grandchild checked the whole buffer (twice for the children).
        verified += 3 * per_wave * buf.size();
        buf.verify_all(40)
            .map_err(|e| format!("parent after wave {wave}: {e}"))?;
        verified += buf.size();
    }
    println!(
        "{waves} waves: {forks} processes forked over parked memory, {verified} bytes verified"
    );
    Ok(())
}

impl Ctx {
    fn dev_fd(&self) -> i32 {
        self.dev.as_raw_fd()
    }
}

type Scenario = fn(&Ctx) -> TestResult;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("migrate", migrate),
    ("migrate_fault", migrate_fault),
    ("migrate_multiple", migrate_multiple),
    ("mixed", mixed),
    ("thp", thp),
    ("thp_unaligned", thp_unaligned),
    ("thp_fork", thp_fork),
    ("thp_partial_unmap", thp_partial_unmap),
    ("thp_mremap", thp_mremap),
    ("thp_fallback", thp_fallback),
    ("to_ram", to_ram),
    ("shared", shared),
    ("file_private", file_private),
    ("fork", fork),
    ("gup", gup),
    ("munmap", munmap),
    ("mremap", mremap),
    ("threads", threads),
    ("exhaust", exhaust),
    ("two_gpus", two_gpus),
    ("meminfo", meminfo),
    ("bad_input", bad_input),
    ("other_process", other_process),
    ("permission", permission),
    ("permission_node", permission_node),
    ("permission_userns", permission_userns),
    ("faults", faults),
    ("fork_storm", fork_storm),
];

/// The scenarios that need transparent huge pages: they run holding a [`HugePages`], which turns
/// the system's THP mode from `never` to `madvise` for their duration. Every other scenario's
/// memory is `MADV_NOHUGEPAGE`, so no scenario depends on the mode.
const NEEDS_HUGE_PAGES: &[&str] = &[
    "thp",
    "thp_unaligned",
    "thp_fork",
    "thp_partial_unmap",
    "thp_mremap",
    "thp_fallback",
];

/// The scenarios a user runs on real hardware (`ps-test` without arguments): every ioctl with
/// data checks, on any loaded module with one GPU bound and a few MiB of its VRAM free.
/// `exhaust`, `two_gpus`, `meminfo` and `thp` need the VM suite's setup.
const SELF_TEST: &[&str] = &[
    "migrate",
    "migrate_fault",
    "migrate_multiple",
    "mixed",
    "to_ram",
    "shared",
    "file_private",
    "fork",
    "gup",
    "munmap",
    "mremap",
    "threads",
    "bad_input",
    "other_process",
    "permission",
];

#[derive(Parser, Debug)]
#[command(
    name = "ps-test",
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    about = "Runs end-to-end scenarios against /dev/pseudoscopic and the real module; every
byte of test memory is checked. Without a SCENARIO it runs the self-test: every
ioctl, with data checks, on any loaded module with a GPU bound (run it as root
while nothing else uses pseudoscopic: statistics are compared exactly).",
    after_help = "Prints one line per scenario, 'NAME: ok' or 'NAME: FAIL: reason', then
'N passed, M failed'.
Exit status: 0 when every scenario passed, 1 when one failed, 2 on a usage
error, 3 when the module is not loaded, 4 without permission for the device."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Print one JSON object with every result instead of text
    #[arg(long)]
    json: bool,
    /// Scenarios to run (ps-test list); none: the self-test
    #[arg(value_name = "SCENARIO", value_parser = scenario_name)]
    scenarios: Vec<String>,
}

/// The workloads other tests drive (they print what they did and wait for signals).
#[derive(Subcommand, Debug)]
enum Sub {
    /// Print every scenario's name, self-test ones marked with *
    List,
    /// Park MIB MiB, wait for SIGUSR1, then check every byte
    #[command(
        after_help = "Prints 'parked N pages at ADDR+LENGTH' once parked. Used to test unbinding
under a live process."
    )]
    Hold {
        #[arg(value_parser = parse_mib)]
        mib: usize,
    },
    /// The same with transparent huge pages, parked whole (MIB even)
    HoldHuge {
        #[arg(value_parser = parse_even_mib)]
        mib: usize,
    },
    /// Write TOTAL_MIB MiB in CHUNK_MIB MiB chunks PAUSE_MS apart, then check it
    #[command(
        after_help = "For ps-tierd and `make run`: prints 'wrote N MiB' after each chunk, then
'checked N MiB'; parks nothing itself. TOTAL_MIB is a multiple of CHUNK_MIB."
    )]
    Grow {
        #[arg(value_parser = parse_mib)]
        total_mib: usize,
        #[arg(value_parser = parse_mib)]
        chunk_mib: usize,
        pause_ms: u64,
    },
    /// Fill MIB MiB, read it for SECS seconds between SIGUSR1s, then check it
    #[command(
        after_help = "Prints 'filled ADDR+LENGTH', waits for SIGUSR1, reads all of it over and over
for SECS seconds ('hot N passes'), waits for SIGUSR1 again, then checks every
byte (SECS 0: one wait, then the check)."
    )]
    Hot {
        #[arg(value_parser = parse_mib)]
        mib: usize,
        secs: u64,
    },
    /// Fill MIB MiB; ROUNDS times, wait until half is parked, read it all back
    #[command(
        after_help = "Each round waits up to 120 s for something (ps-tierd) to park half of the
memory, then reads all of it back at once."
    )]
    Pingpong {
        #[arg(value_parser = parse_mib)]
        mib: usize,
        #[arg(value_parser = cli::positive_arg::<u32>)]
        rounds: u32,
    },
    /// Leave no 2 MiB block of RAM free until SIGUSR1 (root)
    #[command(
        after_help = "With vm.compact_unevictable_allowed=0: locks single pages until no 2 MiB block
above zone DMA is free, keeps one of them in each 2 MiB block of physical
memory, lets go of the rest, and again after compaction until it frees no
block; prints 'fragmented: N MiB free, ...', waits for SIGUSR1, then lets go
of everything."
    )]
    Fragment,
}

/// A number of MiB: one or more.
fn parse_mib(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(mib) if mib > 0 => Ok(mib),
        _ => Err("give a number of MiB, 1 or more".into()),
    }
}

/// An even number of MiB: whole 2 MiB huge pages.
fn parse_even_mib(text: &str) -> Result<usize, String> {
    match parse_mib(text)? {
        mib if mib % 2 == 0 => Ok(mib),
        _ => Err("give a multiple of 2 MiB".into()),
    }
}

/// The name of a scenario.
fn scenario_name(text: &str) -> Result<String, String> {
    match SCENARIOS.iter().any(|(name, _)| *name == text) {
        true => Ok(text.to_string()),
        false => Err("no such scenario ('ps-test list' lists them)".into()),
    }
}

/// One thing `main` runs.
enum Job {
    Scenario(Scenario),
    /// `hold` or `hold-huge`: MiB, and whether huge pages.
    Hold(usize, bool),
    Tier(TierJob),
    Fragment,
}

/// A workload for the ps-tierd tests ([`tier`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TierJob {
    Grow(usize, usize, u64),
    Hot(usize, u64),
    Pingpong(usize, u32),
}

#[derive(Debug)]
enum Invocation {
    List,
    Hold(usize, bool),
    Tier(TierJob),
    Fragment,
    Run { json: bool, names: Vec<String> },
}

impl Args {
    /// What the command line asks for, or what is wrong with it.
    fn invocation(self) -> Result<Invocation, String> {
        Ok(match self.command {
            Some(Sub::List) => Invocation::List,
            Some(Sub::Hold { mib }) => Invocation::Hold(mib, false),
            Some(Sub::HoldHuge { mib }) => Invocation::Hold(mib, true),
            Some(Sub::Grow {
                total_mib,
                chunk_mib,
                pause_ms,
            }) => {
                if total_mib % chunk_mib != 0 {
                    return Err(format!(
                        "grow: TOTAL_MIB {total_mib} is not a multiple of CHUNK_MIB {chunk_mib}"
                    ));
                }
                Invocation::Tier(TierJob::Grow(total_mib, chunk_mib, pause_ms))
            }
            Some(Sub::Hot { mib, secs }) => Invocation::Tier(TierJob::Hot(mib, secs)),
            Some(Sub::Pingpong { mib, rounds }) => Invocation::Tier(TierJob::Pingpong(mib, rounds)),
            Some(Sub::Fragment) => Invocation::Fragment,
            None => Invocation::Run {
                json: self.json,
                names: match self.scenarios.is_empty() {
                    true => SELF_TEST.iter().map(|n| n.to_string()).collect(),
                    false => self.scenarios,
                },
            },
        })
    }
}

/// One scenario's result in `--json`.
#[derive(Serialize)]
struct ScenarioJson<'a> {
    scenario: &'a str,
    ok: bool,
    error: Option<&'a str>,
}

/// A run in `--json`.
#[derive(Serialize)]
struct RunJson<'a> {
    results: Vec<ScenarioJson<'a>>,
    passed: usize,
    failed: usize,
}

fn main() -> ExitCode {
    let invocation = cli::parse::<Args>()
        .invocation()
        .unwrap_or_else(|message| cli::usage_error::<Args>(message));
    let (json, jobs) = match invocation {
        Invocation::List => {
            for (name, _) in SCENARIOS {
                let mark = if SELF_TEST.contains(name) { " *" } else { "" };
                println!("{name}{mark}");
            }
            return ExitCode::SUCCESS;
        }
        Invocation::Hold(mib, huge) => {
            let name = if huge { "hold-huge" } else { "hold" };
            (false, vec![(format!("{name} {mib}"), Job::Hold(mib, huge))])
        }
        Invocation::Tier(job) => {
            let name = match job {
                TierJob::Grow(total, chunk, pause) => format!("grow {total} {chunk} {pause}"),
                TierJob::Hot(mib, secs) => format!("hot {mib} {secs}"),
                TierJob::Pingpong(mib, rounds) => format!("pingpong {mib} {rounds}"),
            };
            (false, vec![(name, Job::Tier(job))])
        }
        Invocation::Fragment => (false, vec![("fragment".to_string(), Job::Fragment)]),
        Invocation::Run { json, names } => (
            json,
            names
                .into_iter()
                .filter_map(|name| {
                    let (_, run) = SCENARIOS.iter().find(|(n, _)| *n == name)?;
                    Some((name, Job::Scenario(*run)))
                })
                .collect(),
        ),
    };
    // One clear error up front when the module is missing or closed to us; `grow`, `hot` and
    // `fragment` do not need it (they run without the module too).
    let needs_device = !jobs.iter().any(|(_, j)| {
        matches!(
            j,
            Job::Tier(TierJob::Grow(..)) | Job::Tier(TierJob::Hot(..)) | Job::Fragment
        )
    });
    if needs_device {
        if let Err(f) = cli::open_device(abi::DEVICE_PATH) {
            return f.report("ps-test");
        }
    }
    let mut results = Vec::new();
    for (name, job) in &jobs {
        // Held until the job ends, so huge pages stay allowed while they fault back.
        let thp =
            match NEEDS_HUGE_PAGES.contains(&name.as_str()) || matches!(job, Job::Hold(_, true)) {
                true => HugePages::allow().map(Some),
                false => Ok(None),
            };
        let result = thp.and_then(|_thp| match job {
            Job::Scenario(run) => Ctx::new().and_then(|ctx| run(&ctx)),
            Job::Hold(mib, huge) => hold(*mib, *huge),
            Job::Tier(TierJob::Grow(total, chunk, pause)) => tier::grow(*total, *chunk, *pause),
            Job::Tier(TierJob::Hot(mib, secs)) => tier::hot(*mib, *secs),
            Job::Tier(TierJob::Pingpong(mib, rounds)) => tier::pingpong(*mib, *rounds, 120),
            Job::Fragment => fragment::fragment(),
        });
        if !json {
            match &result {
                Ok(()) => println!("{name}: ok"),
                Err(e) => println!("{name}: FAIL: {e}"),
            }
            proc::flush_stdout();
        }
        results.push((name.as_str(), result));
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if json {
        let passed = results.len() - failed;
        let results = results
            .iter()
            .map(|(name, r)| ScenarioJson {
                scenario: name,
                ok: r.is_ok(),
                error: r.as_ref().err().map(String::as_str),
            })
            .collect();
        println!(
            "{}",
            json::to_string(&RunJson {
                results,
                passed,
                failed,
            })
        );
    } else {
        println!("{} passed, {failed} failed", results.len() - failed);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        Status::Failed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The invocation, or the exit status of a usage error (clap's, or the check after it).
    fn args(list: &[&str]) -> Result<Invocation, i32> {
        let args = std::iter::once("ps-test").chain(list.iter().copied());
        match cli::try_parse_from::<Args, _, _>(args) {
            Ok(cli::Invocation::Run(a)) => a.invocation().map_err(|_| Status::Usage as i32),
            Ok(other) => panic!("{list:?}: {other:?}"),
            Err(e) => Err(e.exit_code()),
        }
    }

    #[test]
    fn self_test_names_real_scenarios() {
        for name in SELF_TEST.iter().chain(NEEDS_HUGE_PAGES) {
            assert!(SCENARIOS.iter().any(|(n, _)| n == name), "{name}");
        }
    }

    #[test]
    fn command_lines() {
        cli::command::<Args>().debug_assert();
        match args(&[]) {
            Ok(Invocation::Run { json: false, names }) => assert_eq!(names, SELF_TEST),
            _ => panic!("no arguments is not the self-test"),
        }
        match args(&["--json", "fork", "gup"]) {
            Ok(Invocation::Run { json: true, names }) => assert_eq!(names, ["fork", "gup"]),
            _ => panic!("--json fork gup"),
        }
        assert!(matches!(
            args(&["hold", "64"]),
            Ok(Invocation::Hold(64, false))
        ));
        assert!(matches!(
            args(&["hold-huge", "64"]),
            Ok(Invocation::Hold(64, true))
        ));
        assert!(matches!(args(&["list"]), Ok(Invocation::List)));
        assert!(matches!(
            args(&["grow", "1024", "16", "500"]),
            Ok(Invocation::Tier(TierJob::Grow(1024, 16, 500)))
        ));
        assert!(matches!(
            args(&["hot", "32", "0"]),
            Ok(Invocation::Tier(TierJob::Hot(32, 0)))
        ));
        assert!(matches!(
            args(&["pingpong", "32", "3"]),
            Ok(Invocation::Tier(TierJob::Pingpong(32, 3)))
        ));
        assert!(matches!(args(&["fragment"]), Ok(Invocation::Fragment)));
        assert_eq!(args(&["--help"]).err(), Some(0));
        for bad in [
            &["hold", "x"][..],
            &["hold", "0"],
            &["hold-huge", "3"],
            &["nope"],
            &["fork", "nope"],
            &["fork", "--bogus"],
            &["grow", "100", "16", "0"],
            &["grow", "128", "0", "0"],
            &["grow", "128", "16"],
            &["hot", "0", "5"],
            &["pingpong", "32", "0"],
            &["fragment", "1"],
            &["list", "fork"],
        ] {
            assert_eq!(args(bad).err(), Some(Status::Usage as i32), "{bad:?}");
        }
    }
}
