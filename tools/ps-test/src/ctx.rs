// SPDX-License-Identifier: GPL-2.0

//! What every scenario shares: the device and the system view, and the checks of the module's
//! counters.

use pseudoscopic::{
    abi::{self, Device, Direction, Migrate, Residency},
    mem::{Buf, PAGE},
    sysfs::{Pool, Stats},
    System,
};
use std::{io, os::fd::AsRawFd};

pub type TestResult = Result<(), String>;

/// Pages in a 2 MiB transparent huge page.
pub const HUGE_PAGES: usize = 512;

/// The device, the system view, and helpers the scenarios share.
pub struct Ctx {
    pub dev: Device,
    pub sys: System,
}

impl Ctx {
    pub fn new() -> Result<Self, String> {
        let dev =
            Device::open(abi::DEVICE_PATH).map_err(|e| format!("{}: {e}", abi::DEVICE_PATH))?;
        Ok(Self {
            dev,
            sys: System::default(),
        })
    }

    pub fn stats(&self) -> Result<Stats, String> {
        self.sys.stats().map_err(|e| format!("stats: {e}"))
    }

    pub fn pool(&self) -> Result<Pool, String> {
        self.sys.pool().map_err(|e| format!("pool: {e}"))
    }

    /// Sends a migration of `[addr, addr + len)` of the process `pidfd` (or self).
    pub fn migrate_raw(
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
    pub fn park(&self, buf: &Buf, first: usize, pages: usize) -> Result<Migrate, String> {
        self.park_on(buf, first, pages, abi::DEVICE_ANY)
    }

    pub fn park_on(
        &self,
        buf: &Buf,
        first: usize,
        pages: usize,
        device: u32,
    ) -> Result<Migrate, String> {
        self.move_pages(Direction::ToDevice, buf, first, pages, device)
    }

    pub fn unpark(&self, buf: &Buf, first: usize, pages: usize) -> Result<Migrate, String> {
        self.move_pages(Direction::ToRam, buf, first, pages, abi::DEVICE_ANY)
    }

    /// Moves pages `[first, first + pages)` of `buf` as `dir` says (to `device`'s VRAM, or back
    /// from it); the request must succeed with counters that add up to the range.
    fn move_pages(
        &self,
        dir: Direction,
        buf: &Buf,
        first: usize,
        pages: usize,
        device: u32,
    ) -> Result<Migrate, String> {
        let (req, res) = self.migrate_raw(
            dir,
            buf.page_addr(first),
            (pages * PAGE) as u64,
            abi::PIDFD_SELF,
            device,
        );
        let ioctl = match dir {
            Direction::ToDevice => "MIGRATE_TO_DEVICE",
            Direction::ToRam => "MIGRATE_TO_RAM",
        };
        res.map_err(|e| format!("{ioctl}: {e} ({req:?})"))?;
        ensure_eq!(
            req.moved + req.skipped(),
            pages as u64,
            "counters add up to the range"
        );
        Ok(req)
    }

    /// Parks `pages` pages at `addr` of the process `pidfd` names.
    pub fn park_process(
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

    pub fn resident_of(&self, addr: u64, len: u64, pidfd: i32, device: u32) -> Result<u64, String> {
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

    pub fn resident(&self, buf: &Buf) -> Result<u64, String> {
        self.resident_of(buf.addr(), buf.size(), abi::PIDFD_SELF, abi::DEVICE_ANY)
    }
}

/// Who copies, whether a copy engine fails meanwhile, and whether the CPU remaps a slot of BAR1's
/// window first (BAR1 virtual mode) depends on the board and its parameters, not on the scenario:
/// these counters are checked as a sum or a bound instead (see [`expect_stats`]).
pub const COPY_PATH_STATS: [&str; 4] = ["dma_bytes", "cpu_copy_bytes", "dma_fail", "bar1_remaps"];

/// Whether a page that faults back counts as an early refault depends on how long it stayed in
/// VRAM (`early_refault_secs`), not on the scenario: it is checked as a bound instead.
pub const EARLY_REFAULTS: &str = "early_refaults";

/// Checks the counter deltas `after - before` for the named counters; others must not move. Every
/// byte moved was copied once, by the copy engine or by the CPU; early refaults are pages moved
/// back to RAM.
pub fn expect_stats(before: &Stats, after: &Stats, want: &[(&str, u64)]) -> TestResult {
    let delta = after.since(before);
    ensure_eq!(
        delta.get("dma_bytes") + delta.get("cpu_copy_bytes"),
        delta.get("bytes_to_device") + delta.get("bytes_to_ram"),
        "bytes copied (dma_bytes + cpu_copy_bytes) against bytes moved"
    );
    // A CPU copy remaps at most one slot per page it copies.
    ensure!(
        delta.get("bar1_remaps") <= delta.get("cpu_copy_bytes") / PAGE as u64,
        "stats/bar1_remaps moved by more than the pages the CPU copied (all deltas: {delta:?})"
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
pub fn errno(res: &io::Result<()>) -> Option<i32> {
    res.as_ref().err().and_then(io::Error::raw_os_error)
}

pub fn bytes(pages: u64) -> u64 {
    pages * PAGE as u64
}

impl Ctx {
    pub fn dev_fd(&self) -> i32 {
        self.dev.as_raw_fd()
    }
}
