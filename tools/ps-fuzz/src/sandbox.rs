// SPDX-License-Identifier: GPL-2.0

//! The memory a fuzzing thread aims at: a reference region it owns and checks byte for byte, next
//! to mappings of every kind the ABI treats differently, at known addresses.
//!
//! Layout, in pages from `base`: `[0, 64)` the reference region (private, read-write);
//! `[64, 66)` `PROT_NONE`; `[66, 70)` read-only private memory with data; `[70, 74)` a hole;
//! `[74, 78)` shared anonymous memory with data. Then the argument pages: one read-write page, a
//! hole, a read-only page, a hole.

use crate::oracle::{PageKind, Region, PAGE};
use pseudoscopic::mem::pattern;
use rustix::mm::{self, MapFlags, MprotectFlags, ProtFlags};
use std::io;

pub const REF_PAGES: usize = 64;
const NO_ACCESS: (usize, usize) = (64, 2);
const READ_ONLY: (usize, usize) = (66, 4);
const HOLE: (usize, usize) = (70, 4);
const SHARED: (usize, usize) = (74, 4);
pub const SANDBOX_PAGES: usize = 78;
/// The argument pages follow the sandbox: rw, hole, read-only, hole.
const ARG_RW: usize = SANDBOX_PAGES;
const ARG_RO: usize = SANDBOX_PAGES + 2;
const TOTAL_PAGES: usize = SANDBOX_PAGES + 4;

/// One thread's sandbox.
pub struct Sandbox {
    base: usize,
    /// The seed each page of the reference region was last written with.
    seeds: Vec<u64>,
    fixed_seed: u64,
}

fn os_err(what: &str) -> impl FnOnce(rustix::io::Errno) -> String + '_ {
    move |e| format!("{what}: {}", io::Error::from(e))
}

/// Anonymous memory (`flags`: private or shared, and fixed or not).
fn mmap(addr: usize, pages: usize, prot: ProtFlags, flags: MapFlags) -> Result<usize, String> {
    // SAFETY: A new anonymous mapping; with MAP_FIXED only over pages of our own reservation.
    let p = unsafe { mm::mmap_anonymous(addr as *mut _, pages * PAGE as usize, prot, flags) }
        .map_err(os_err("mmap"))?;
    Ok(p as usize)
}

fn protect(addr: usize, pages: usize, prot: MprotectFlags) -> Result<(), String> {
    // SAFETY: Pages of our own reservation.
    unsafe { mm::mprotect(addr as *mut _, pages * PAGE as usize, prot) }.map_err(os_err("mprotect"))
}

fn unmap(addr: usize, pages: usize) -> Result<(), String> {
    // SAFETY: Pages of our own reservation, which nothing uses.
    unsafe { mm::munmap(addr as *mut _, pages * PAGE as usize) }.map_err(os_err("munmap"))
}

/// Writes the pattern of `seed` into pages `[first, first + pages)` from `base`.
fn fill(base: usize, seed: u64, first: usize, pages: usize) {
    let words = base as *mut u64;
    for i in first * PAGE as usize / 8..(first + pages) * PAGE as usize / 8 {
        // SAFETY: Inside a writable mapping of ours.
        unsafe { words.add(i).write_volatile(pattern(seed, i)) };
    }
}

/// Checks pages `[first, first + pages)` from `base` against the pattern of `seed`.
fn verify(base: usize, seed: u64, first: usize, pages: usize) -> Result<(), String> {
    let words = base as *const u64;
    for i in first * PAGE as usize / 8..(first + pages) * PAGE as usize / 8 {
        // SAFETY: Inside a readable mapping of ours.
        let got = unsafe { words.add(i).read_volatile() };
        if got != pattern(seed, i) {
            return Err(format!(
                "byte {:#x} (page {}): read {got:#018x}, wrote {:#018x}",
                i * 8,
                i * 8 / PAGE as usize,
                pattern(seed, i)
            ));
        }
    }
    Ok(())
}

/// The regions of a sandbox at `base` (in this process or in a child with the same layout).
pub fn layout(base: u64) -> Vec<Region> {
    let r = |(first, pages): (usize, usize), kind| Region {
        start: base + first as u64 * PAGE,
        end: base + (first + pages) as u64 * PAGE,
        kind,
    };
    vec![
        r((0, REF_PAGES), PageKind::Readable),
        r(NO_ACCESS, PageKind::NoAccess),
        r(READ_ONLY, PageKind::Readable),
        r(HOLE, PageKind::Unmapped),
        r(SHARED, PageKind::Readable),
        r((ARG_RW, 1), PageKind::Readable),
        r((ARG_RW + 1, 1), PageKind::Unmapped),
        r((ARG_RO, 1), PageKind::Readable),
        r((ARG_RO + 1, 1), PageKind::Unmapped),
    ]
}

impl Sandbox {
    /// Maps the layout, 64 KiB aligned, and fills the regions that hold data.
    pub fn new(seed: u64) -> Result<Self, String> {
        let align = 16;
        let rw = ProtFlags::READ | ProtFlags::WRITE;
        let raw = mmap(0, TOTAL_PAGES + align, rw, MapFlags::PRIVATE)?;
        let base = raw.next_multiple_of(align * PAGE as usize);
        let page = |i: usize| base + i * PAGE as usize;
        let slack_front = (base - raw) / PAGE as usize;
        if slack_front != 0 {
            unmap(raw, slack_front)?;
        }
        unmap(page(TOTAL_PAGES), align - slack_front)?;
        let sandbox = Self {
            base,
            seeds: vec![seed; REF_PAGES],
            fixed_seed: seed ^ 0x5eed,
        };
        fill(base, seed, 0, REF_PAGES);
        protect(page(NO_ACCESS.0), NO_ACCESS.1, MprotectFlags::empty())?;
        fill(base, sandbox.fixed_seed, READ_ONLY.0, READ_ONLY.1);
        protect(page(READ_ONLY.0), READ_ONLY.1, MprotectFlags::READ)?;
        unmap(page(HOLE.0), HOLE.1)?;
        mmap(
            page(SHARED.0),
            SHARED.1,
            rw,
            MapFlags::SHARED | MapFlags::FIXED,
        )?;
        fill(base, sandbox.fixed_seed, SHARED.0, SHARED.1);
        unmap(page(ARG_RW + 1), 1)?;
        protect(page(ARG_RO), 1, MprotectFlags::READ)?;
        unmap(page(ARG_RO + 1), 1)?;
        Ok(sandbox)
    }

    pub fn base(&self) -> u64 {
        self.base as u64
    }

    /// What the fuzzer knows of its address space around the sandbox.
    pub fn regions(&self) -> Vec<Region> {
        layout(self.base as u64)
    }

    /// Rewrites pages `[first, first + pages)` of the reference region with `seed`.
    pub fn rewrite(&mut self, seed: u64, first: usize, pages: usize) {
        fill(self.base, seed, first, pages);
        self.seeds[first..first + pages].fill(seed);
    }

    /// Checks pages `[first, first + pages)` of the reference region; returns the bytes checked.
    pub fn verify_reference(&self, first: usize, pages: usize) -> Result<u64, String> {
        for page in first..first + pages {
            verify(self.base, self.seeds[page], page, 1)
                .map_err(|e| format!("reference region: {e}"))?;
        }
        Ok(pages as u64 * PAGE)
    }

    /// Checks everything that holds data; returns the bytes checked.
    pub fn verify_all(&self) -> Result<u64, String> {
        let mut bytes = self.verify_reference(0, REF_PAGES)?;
        for (what, (first, pages)) in [("read-only", READ_ONLY), ("shared", SHARED)] {
            verify(self.base, self.fixed_seed, first, pages)
                .map_err(|e| format!("{what} region: {e}"))?;
            bytes += pages as u64 * PAGE;
        }
        Ok(bytes)
    }

    /// Where the argument struct goes for each way of placing it.
    pub fn arg_rw(&self) -> usize {
        self.base + ARG_RW * PAGE as usize
    }

    /// An address whose struct runs from the read-write argument page into the hole after it.
    pub fn arg_straddling(&self, size: usize) -> usize {
        self.base + (ARG_RW + 1) * PAGE as usize - size / 2
    }

    pub fn arg_unmapped(&self) -> usize {
        self.base + (ARG_RW + 1) * PAGE as usize
    }

    /// Copies `bytes` into the read-only argument page and returns its address.
    pub fn arg_read_only(&self, bytes: &[u8]) -> Result<usize, String> {
        let addr = self.base + ARG_RO * PAGE as usize;
        protect(addr, 1, MprotectFlags::READ | MprotectFlags::WRITE)?;
        // SAFETY: The page is ours and writable for now; `bytes` is shorter than a page.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        protect(addr, 1, MprotectFlags::READ)?;
        Ok(addr)
    }
}
