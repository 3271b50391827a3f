// SPDX-License-Identifier: GPL-2.0

//! Moving pages between RAM and VRAM: on request (ioctl, [`request`]), on CPU fault ([`fault`]),
//! and at unbind, suspend and reset ([`evict`]); requests, faults and eviction's fallback bring
//! device pages back through one path ([`back`]).
//!
//! Work goes in windows of at most [`WINDOW_PAGES`] pages inside one VMA and one aligned 2 MiB,
//! each one pass: collect, choose and allocate every destination, copy the whole batch
//! ([`crate::vram::Batch`]: the copy engine or the CPU), commit. A window that is a whole aligned 2 MiB moves a transparent huge page
//! as one 2 MiB folio, falling back to single pages when the other side has no huge page free.
//! This module decides what moves where and counts the outcome; the mechanics are in
//! [`crate::mm`] and the copies in [`crate::copy`].

mod back;
mod evict;
mod fault;
mod request;

pub(crate) use evict::{
    evict_all,
    evict_while,
    Evicted, //
};
pub(crate) use fault::fault;
pub(crate) use request::{
    to_device,
    to_ram,
    Placement,
    UserRange, //
};

use crate::{
    mm::{
        Committed,
        Destination,
        Huge,
        MigratePfn,
        Select,
        VmaMigration,
        HUGE_PAGES, //
    },
    shim,
    stats::Stats,
    vram::Vram, //
};
use kernel::{
    alloc::Allocator,
    mm::virt::{
        flags,
        VmaRef, //
    },
    page::PAGE_SIZE,
    prelude::*, //
};

/// Most pages one migration window holds: an aligned 2 MiB.
pub(crate) const WINDOW_PAGES: usize = HUGE_PAGES;
const WINDOW_BYTES: usize = WINDOW_PAGES * PAGE_SIZE;
/// Pages brought back together on a CPU fault: the faulting page and its aligned neighbours, so a
/// sequential scan takes one fault per 64 KiB rather than per page.
pub(crate) const FAULT_AROUND_PAGES: usize = 16;

/// Where each page of a request ended up; every page lands in exactly one field.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) moved: u64,
    pub(crate) resident: u64,
    pub(crate) empty: u64,
    pub(crate) unmovable: u64,
    pub(crate) busy: u64,
    pub(crate) no_space: u64,
}

/// Whether migration can ever move pages of a VMA with these flags: shared mappings never hold
/// private anonymous pages; hugetlb and special mappings are refused by `migrate_vma_setup`.
fn vma_can_migrate(vm_flags: usize) -> bool {
    let never = flags::SHARED
        | flags::HUGETLB
        | flags::IO
        | flags::PFNMAP
        | flags::MIXEDMAP
        | flags::DONTEXPAND;
    vm_flags & never == 0
}

/// Scratch arrays for one window.
struct Window {
    src: KVec<usize>,
    dst: KVec<usize>,
}

impl Window {
    fn new() -> Result<Self> {
        let mut src = KVec::with_capacity(WINDOW_PAGES, GFP_KERNEL)?;
        let mut dst = KVec::with_capacity(WINDOW_PAGES, GFP_KERNEL)?;
        src.resize(WINDOW_PAGES, 0, GFP_KERNEL)?;
        dst.resize(WINDOW_PAGES, 0, GFP_KERNEL)?;
        Ok(Self { src, dst })
    }
}

/// The window from `addr` to the next 2 MiB boundary or `end`: its end, its pages, and whether it
/// is a whole aligned 2 MiB, where huge pages can move whole.
fn window_at(addr: usize, end: usize) -> (usize, usize, Huge) {
    let boundary = (addr & !(WINDOW_BYTES - 1)) + WINDOW_BYTES;
    let stop = end.min(boundary);
    let pages = (stop - addr) / PAGE_SIZE;
    let huge = if pages == WINDOW_PAGES {
        Huge::Whole
    } else {
        Huge::Split
    };
    (stop, pages, huge)
}

/// Collects a window, or counts all of it unmovable when the kernel refuses the VMA.
fn collect<'a>(
    vma: &'a VmaRef,
    start: usize,
    window: &'a mut Window,
    pages: usize,
    select: Select,
    huge: Huge,
    out: &mut Outcome,
) -> Option<VmaMigration<'a>> {
    match VmaMigration::collect(
        vma,
        start,
        &mut window.src[..pages],
        &mut window.dst[..pages],
        select,
        huge,
        None,
    ) {
        Ok(mig) => Some(mig),
        Err(_) => {
            out.unmovable += pages as u64;
            None
        }
    }
}

/// A destination chosen for one collected entry, waiting for the batch copy and the commit.
struct Planned<'v, D> {
    /// The entry it is for.
    entry: usize,
    /// For a huge entry moving as single pages: which page of it this is.
    part: Option<usize>,
    /// Taken when handed to the migration.
    dst: Option<D>,
    /// The GPU whose VRAM the data comes from or goes to, and the device page frame there.
    vram: &'v Vram,
    device_pfn: usize,
    pages: usize,
}

impl<'v, D> Planned<'v, D> {
    fn whole(entry: usize, dst: D, vram: &'v Vram, device_pfn: usize, pages: usize) -> Self {
        Self {
            entry,
            part: None,
            dst: Some(dst),
            vram,
            device_pfn,
            pages,
        }
    }

    fn part(entry: usize, part: usize, dst: D, vram: &'v Vram, device_pfn: usize) -> Self {
        Self {
            entry,
            part: Some(part),
            dst: Some(dst),
            vram,
            device_pfn,
            pages: 1,
        }
    }

    /// The entry that says, after the commit, whether this page moved.
    fn index(&self) -> usize {
        self.entry + self.part.unwrap_or(0)
    }

    /// Whether this moves the migration's page at `index`.
    fn covers(&self, index: usize) -> bool {
        (self.index()..self.index() + self.pages).contains(&index)
    }

    /// Whether this moves a 2 MiB huge page whole.
    fn huge(&self) -> bool {
        self.pages == HUGE_PAGES
    }
}

/// A window's plan: kvmalloc'ed, since a whole window's plan is a high-order allocation that
/// must not fail a park or a fault when RAM is short and fragmented (which is when ps-tierd
/// parks).
type Plan<'v, D> = KVVec<Planned<'v, D>>;

/// Pushes onto a plan whose capacity was reserved for every entry of the window.
fn push<T, A: Allocator>(plan: &mut Vec<T, A>, item: T) {
    // A window plans at most one item per entry, and the capacity covers every entry.
    if plan.push_within_capacity(item).is_err() {
        pr_err!("migration plan overflow\n");
    }
}

/// The entries of a collected migration of `len` entries, as `(index, entry, pages)`: a huge
/// entry stands for the whole window (its other entries are empty and skipped).
fn entries(
    len: usize,
    src: impl Fn(usize) -> MigratePfn,
) -> impl Iterator<Item = (usize, MigratePfn, usize)> {
    let mut i = 0;
    core::iter::from_fn(move || {
        if i >= len {
            return None;
        }
        let entry = src(i);
        let pages = if entry.huge() { HUGE_PAGES } else { 1 };
        let at = i;
        i += pages;
        Some((at, entry, pages))
    })
}

/// Hands every planned destination to `mig`, as `wrap` makes it a [`Destination`].
fn set_planned<D>(
    mig: &mut VmaMigration<'_>,
    plan: &mut [Planned<'_, D>],
    wrap: fn(D) -> Destination,
) {
    for p in plan {
        if let Some(dst) = p.dst.take() {
            match p.part {
                None => mig.set_dst(p.entry, wrap(dst)),
                Some(j) => mig.set_dst_split(p.entry, j, wrap(dst)),
            }
        }
    }
}

/// Counts each planned page as moved, recording it on its GPU with `record` (pages, whether a
/// whole huge page), or as unsettled (busy) when the core could not move it after all.
fn tally<D>(
    done: &Committed<'_>,
    plan: &[Planned<'_, D>],
    out: &mut Outcome,
    unsettled: &mut Unsettled<'_>,
    record: fn(&Stats, u64, bool),
) {
    for p in plan {
        let pages = p.pages as u64;
        if done.moved(p.index()) {
            out.moved += pages;
            record(&p.vram.stats, pages, p.huge());
        } else {
            unsettled.busy(out, p.index(), p.pages);
        }
    }
}

/// Pages of a window, as bits: those to pass over again.
#[derive(Default)]
struct Pending {
    bits: [u64; WINDOW_PAGES / 64],
}

impl Pending {
    /// Marks pages `first..first + pages` of the window.
    fn mark(&mut self, first: usize, pages: usize) {
        for page in (first..first + pages).take_while(|&page| page < WINDOW_PAGES) {
            self.bits[page / 64] |= 1 << (page % 64);
        }
    }

    fn is_marked(&self, page: usize) -> bool {
        page < WINDOW_PAGES && self.bits[page / 64] & (1 << (page % 64)) != 0
    }

    fn is_empty(&self) -> bool {
        self.bits.iter().all(|&word| word == 0)
    }

    /// The runs of marked pages, in order, as `(first page, pages)`.
    fn runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut page = 0;
        core::iter::from_fn(move || {
            while page < WINDOW_PAGES && !self.is_marked(page) {
                page += 1;
            }
            let first = page;
            while self.is_marked(page) {
                page += 1;
            }
            (page > first).then_some((first, page - first))
        })
    }
}

/// Where a pass over (part of) a window puts the pages it could not move for now: locked,
/// referenced or isolated elsewhere at that moment. DAMON's sampling of physical memory, which
/// Debian's kernels run from boot (`CONFIG_DAMON_STAT_ENABLED_DEFAULT`), does that to any page
/// for a few microseconds.
enum Unsettled<'a> {
    /// Counted in the outcome: busy; or empty when the core did not collect the page at all, as
    /// for a page swapped out (the core does not say why).
    Count,
    /// Marked in `pending` to pass over again; the pass began at page `first` of the window.
    Again {
        pending: &'a mut Pending,
        first: usize,
    },
}

impl Unsettled<'_> {
    /// `pages` pages at entry `index` of the pass's migration that the core let go of after
    /// collecting them (an extra reference, or not isolatable).
    fn busy(&mut self, out: &mut Outcome, index: usize, pages: usize) {
        match self {
            Self::Count => out.busy += pages as u64,
            Self::Again { pending, first } => pending.mark(*first + index, pages),
        }
    }

    /// `pages` pages at entry `index` that the core did not collect: locked or pinned at that
    /// moment, swapped out, or another driver's.
    fn uncollected(&mut self, out: &mut Outcome, index: usize, pages: usize) {
        match self {
            Self::Count => out.empty += pages as u64,
            Self::Again { pending, first } => pending.mark(*first + index, pages),
        }
    }
}

/// Passes over a window after the first for the pages a pass left unsettled ([`Unsettled`]), as
/// the kernel's own `migrate_pages()` passes again over pages it found busy; what the last pass
/// leaves is counted.
const RETRY_PASSES: usize = 2;

/// Calls `pass(start, pages, huge, unsettled, out)` for the window of `pages` pages at `start`,
/// then for each run of the pages it left unsettled, up to [`RETRY_PASSES`] more times, letting
/// other tasks run in between; the last pass counts what is still unsettled. Stops at `pass`'s
/// first error.
fn with_retries(
    start: usize,
    pages: usize,
    out: &mut Outcome,
    mut pass: impl FnMut(usize, usize, Huge, &mut Unsettled<'_>, &mut Outcome) -> Result,
) -> Result {
    let mut pending = Pending::default();
    pending.mark(0, pages);
    for retry in 0..=RETRY_PASSES {
        let todo = core::mem::take(&mut pending);
        for (first, run) in todo.runs() {
            let at = start + first * PAGE_SIZE;
            let (_, _, huge) = window_at(at, at + run * PAGE_SIZE);
            let mut unsettled = match retry {
                RETRY_PASSES => Unsettled::Count,
                _ => Unsettled::Again {
                    pending: &mut pending,
                    first,
                },
            };
            pass(at, run, huge, &mut unsettled, out)?;
        }
        if pending.is_empty() {
            break;
        }
        // SAFETY: No precondition; callers may sleep (they hold the mmap lock for read).
        unsafe { shim::ps_cond_resched() };
    }
    Ok(())
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_migrate)]
mod tests {
    use super::*;

    const BASE: usize = 0x4000_0000;

    #[test]
    fn a_whole_aligned_2mib_is_one_huge_window() {
        let (stop, pages, huge) = window_at(BASE, BASE + 3 * WINDOW_BYTES);
        assert_eq!(stop, BASE + WINDOW_BYTES);
        assert_eq!(pages, WINDOW_PAGES);
        assert!(huge == Huge::Whole);
    }

    #[test]
    fn an_unaligned_2mib_is_two_split_windows() {
        // A huge page `mremap` moved 3 pages past a 2 MiB boundary.
        let (start, end) = (BASE + 3 * PAGE_SIZE, BASE + 3 * PAGE_SIZE + WINDOW_BYTES);
        let (stop, pages, huge) = window_at(start, end);
        assert_eq!(stop, BASE + WINDOW_BYTES);
        assert_eq!(pages, WINDOW_PAGES - 3);
        assert!(huge == Huge::Split);
        let (stop, pages, huge) = window_at(stop, end);
        assert_eq!(stop, end);
        assert_eq!(pages, 3);
        assert!(huge == Huge::Split);
    }

    /// Runs [`with_retries`] on a whole window at `BASE` with a pass that calls `unsettle` on
    /// each call's `(start, pages, huge)` and the call's number; returns the calls and the outcome.
    fn passes(
        unsettle: impl Fn(usize, usize, usize, &mut Unsettled<'_>, &mut Outcome),
    ) -> (KVec<(usize, usize, bool)>, Outcome) {
        let mut calls = KVec::new();
        let mut out = Outcome::default();
        let res = with_retries(
            BASE,
            WINDOW_PAGES,
            &mut out,
            |start, pages, huge, unsettled, out| {
                calls.push((start, pages, huge == Huge::Whole), GFP_KERNEL)?;
                unsettle(calls.len(), start, pages, unsettled, out);
                Ok(())
            },
        );
        assert!(res.is_ok());
        (calls, out)
    }

    #[test]
    fn pages_left_unsettled_are_passed_over_again_and_only_they() {
        let (calls, out) = passes(|call, _, _, unsettled, out| {
            if call == 1 {
                unsettled.busy(out, 3, 1);
                unsettled.uncollected(out, 10, 2);
                unsettled.busy(out, 12, 1);
            }
        });
        assert_eq!(
            &calls[..],
            &[
                (BASE, WINDOW_PAGES, true),
                (BASE + 3 * PAGE_SIZE, 1, false),
                (BASE + 10 * PAGE_SIZE, 3, false),
            ]
        );
        assert_eq!(out.busy + out.empty, 0);
    }

    #[test]
    fn a_run_is_marked_at_its_own_place_in_the_window() {
        // The second pass starts at page 10; its entry 1 is page 11 of the window.
        let (calls, _) = passes(|call, _, _, unsettled, out| match call {
            1 => unsettled.busy(out, 10, 3),
            2 => unsettled.busy(out, 1, 1),
            _ => {}
        });
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2], (BASE + 11 * PAGE_SIZE, 1, false));
    }

    #[test]
    fn what_stays_unsettled_is_counted_once_after_the_last_pass() {
        let (calls, out) = passes(|call, start, pages, unsettled, out| {
            let first = (start - BASE) / PAGE_SIZE;
            if call == 1 {
                unsettled.busy(out, 0, WINDOW_PAGES);
                return;
            }
            if call == 2 {
                assert_eq!((first, pages), (0, WINDOW_PAGES));
            }
            unsettled.busy(out, 0, 2);
            unsettled.uncollected(out, 2, 1);
        });
        assert_eq!(calls.len(), 1 + RETRY_PASSES);
        // A whole window passed over again is still one huge window.
        assert!(calls
            .iter()
            .all(|&(_, pages, huge)| huge == (pages == WINDOW_PAGES)));
        assert_eq!((out.busy, out.empty), (2, 1));
    }

    #[test]
    fn a_pass_that_fails_stops_the_window() {
        let mut out = Outcome::default();
        let mut calls = 0;
        let res = with_retries(BASE, 16, &mut out, |_, _, _, unsettled, out| {
            calls += 1;
            unsettled.busy(out, 0, 1);
            Err(EINTR)
        });
        assert!(res.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_window_stops_at_the_end() {
        let (stop, pages, huge) = window_at(BASE, BASE + 16 * PAGE_SIZE);
        assert_eq!(stop, BASE + 16 * PAGE_SIZE);
        assert_eq!(pages, 16);
        assert!(huge == Huge::Split);
    }
}
