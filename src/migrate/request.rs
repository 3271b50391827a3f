// SPDX-License-Identifier: GPL-2.0

//! Requests (the `MIGRATE` ioctl): a user range checked, walked window by window, and its pages
//! moved into VRAM or back to RAM, with every page counted in one outcome.

use super::{
    back::{
        bring_back,
        Back,
        Return, //
    },
    collect,
    entries,
    push,
    set_planned,
    tally,
    vma_can_migrate,
    window_at,
    with_retries,
    Outcome,
    Plan,
    Planned,
    Unsettled,
    Window, //
};
use crate::{
    copy::Direction,
    mm::{
        Destination,
        DevicePage,
        Select,
        VmaMigration,
        HUGE_PAGES, //
    },
    shim,
    stats::{
        Counter,
        Stats, //
    },
    vram::{
        ActiveVram,
        Batch,
        Vram, //
    },
};
use kernel::{
    mm::{
        virt::{
            flags,
            VmaRef, //
        },
        MmWithUser,
        MmapReadGuard, //
    },
    page::PAGE_SIZE,
    prelude::*, //
};

/// A page-aligned, non-empty user range `[start, end)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UserRange {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl UserRange {
    /// Checks `addr` and `length` from user space: aligned, non-empty, not wrapping, below the
    /// top of the user address space of `mm`.
    pub(crate) fn new(mm: &MmWithUser, addr: u64, length: u64) -> Result<Self> {
        let page = PAGE_SIZE as u64;
        if addr % page != 0 || length % page != 0 || length == 0 {
            return Err(EINVAL);
        }
        let end = addr.checked_add(length).ok_or(EINVAL)?;
        // SAFETY: `mm` is a live mm.
        let task_size = unsafe { shim::ps_mm_task_size(mm.as_raw()) } as u64;
        if end > task_size {
            return Err(EINVAL);
        }
        // CAST: Both are below `task_size`, an `unsigned long`.
        Ok(Self {
            start: addr as usize,
            end: end as usize,
        })
    }

    pub(crate) fn pages(&self) -> u64 {
        ((self.end - self.start) / PAGE_SIZE) as u64
    }

    /// Checks that every byte is mapped (else `EFAULT`) and readable (else `EACCES`).
    pub(crate) fn check_mapped(&self, mmap: &MmapReadGuard<'_>) -> Result {
        let mut addr = self.start;
        while addr < self.end {
            let vma = mmap.vma_lookup(addr).ok_or(EFAULT)?;
            if vma.flags() & flags::READ == 0 {
                return Err(EACCES);
            }
            addr = vma.end();
        }
        Ok(())
    }
}

/// Where pages moving to VRAM go: one GPU, or any with room.
pub(crate) struct Placement {
    gpus: KVec<ActiveVram>,
}

impl Placement {
    /// GPUs to fill, in order; the first with free pages takes each page.
    pub(crate) fn new(gpus: KVec<ActiveVram>) -> Self {
        Self { gpus }
    }

    /// Counts pages that found no room (on the preferred GPU, once per page).
    fn count_no_space(&self, pages: u64) {
        if let Some(gpu) = self.gpus.first() {
            gpu.count(Counter::AllocFail, pages);
        }
    }

    /// Counts a huge page that moves as single pages (on the preferred GPU).
    fn count_fallback(&self) {
        if let Some(gpu) = self.gpus.first() {
            gpu.count(Counter::ThpFallback, 1);
        }
    }

    /// Whether every GPU of the placement is going away (unbind, suspend, reset): a long request
    /// then stops between windows rather than hold up the drain.
    fn all_closing(&self) -> bool {
        self.gpus.iter().all(|gpu| gpu.is_closing())
    }

    /// A device page (a 2 MiB huge page when `huge`) on the first GPU with room.
    fn reserve(&self, huge: bool) -> Option<(DevicePage, &Vram)> {
        self.gpus
            .iter()
            .find_map(|gpu| gpu.reserve(huge).map(|page| (page, &**gpu)))
    }
}

fn check_signal() -> Result {
    // SAFETY: No precondition.
    if unsafe { shim::ps_fatal_signal_pending() } {
        return Err(EINTR);
    }
    Ok(())
}

/// Calls `f(vma, start, pages)` for each window of `range` ([`window_at`]), under the mmap lock;
/// VMAs that can never migrate count as unmovable without a call.
fn for_each_window(
    mmap: &MmapReadGuard<'_>,
    range: UserRange,
    out: &mut Outcome,
    mut f: impl FnMut(&VmaRef, usize, usize, &mut Outcome) -> Result,
) -> Result {
    let mut addr = range.start;
    while addr < range.end {
        check_signal()?;
        let vma = mmap.vma_lookup(addr).ok_or(EFAULT)?;
        let (end, pages, _) = window_at(addr, range.end.min(vma.end()));
        if vma_can_migrate(vma.flags()) {
            f(vma, addr, pages, out)?;
        } else {
            out.unmovable += pages as u64;
        }
        addr = end;
    }
    Ok(())
}

/// The frame both requests share: the collection window, then, under the mmap read lock, the
/// range checked as wholly mapped and `f` called for each window ([`for_each_window`]). Returns
/// the outcome with the error that stopped the walk, if any; fails before `f` runs when the range
/// is not wholly mapped.
fn over_range(
    mm: &MmWithUser,
    range: UserRange,
    mut f: impl FnMut(&VmaRef, usize, usize, &mut Window, &mut Outcome) -> Result,
) -> Result<(Outcome, Result)> {
    let mut window = Window::new()?;
    let mut out = Outcome::default();
    let mmap = mm.mmap_read_lock();
    range.check_mapped(&mmap)?;
    let res = for_each_window(&mmap, range, &mut out, |vma, start, pages, out| {
        f(vma, start, pages, &mut window, out)
    });
    drop(mmap);
    Ok((out, res))
}

/// Moves the private anonymous pages of `range` into VRAM.
///
/// Fails before moving anything if the range is not wholly mapped and readable; a later error
/// (`EINTR`, `ENOMEM`) comes with the outcome so far.
pub(crate) fn to_device(
    mm: &MmWithUser,
    range: UserRange,
    placement: &Placement,
) -> Result<(Outcome, Result)> {
    let (out, res) = over_range(mm, range, |vma, start, pages, window, out| {
        if placement.all_closing() {
            // The pages not reached land in a counter too: no GPU takes new pages now.
            out.no_space += ((range.end - start) / PAGE_SIZE) as u64;
            return Err(ENODEV);
        }
        with_retries(start, pages, out, |start, pages, huge, unsettled, out| {
            let mut plan = Plan::with_capacity(pages, GFP_KERNEL)?;
            let Some(mut mig) = collect(vma, start, window, pages, Select::RamAndDevice, huge, out)
            else {
                return Ok(());
            };
            plan_to_device(&mig, placement, unsettled, out, &mut plan);
            let mut batch = Batch::new(Direction::ToVram, plan.len());
            for p in plan.iter_mut() {
                let source = match p.part {
                    None => mig.source_page(p.entry),
                    Some(j) => mig.huge_source_page(p.entry, j),
                };
                match source.and_then(|s| p.vram.span(p.device_pfn, s.ram(p.pages))) {
                    Some(span) => batch.push(p.vram, span),
                    // Nothing to copy from or to: the page must not move (its device page goes
                    // back).
                    None => p.dst = None,
                }
            }
            let uncopied = batch.run();
            for p in plan.iter_mut().filter(|p| uncopied.holds(p.vram)) {
                // Not copied: the page stays in RAM (its device page goes back).
                p.dst = None;
            }
            set_planned(&mut mig, &mut plan, Destination::Device);
            tally(
                &mig.commit(),
                &plan,
                out,
                unsettled,
                Stats::moved_to_device_huge,
            );
            Ok(())
        })
    })?;
    placement.count_no_space(out.no_space);
    Ok((out, res))
}

/// Chooses a device page for every entry of a collected window bound for VRAM, or counts why
/// it stays.
fn plan_to_device<'p>(
    mig: &VmaMigration<'_>,
    placement: &'p Placement,
    unsettled: &mut Unsettled<'_>,
    out: &mut Outcome,
    plan: &mut Plan<'p, DevicePage>,
) {
    for (i, entry, n) in entries(mig.len(), |i| mig.src(i)) {
        let counted = n as u64;
        if !entry.migrates() {
            // Collected but then let go (referenced or isolated elsewhere), or not collected.
            if entry.pfn().is_some() {
                unsettled.busy(out, i, n);
            } else {
                unsettled.uncollected(out, i, n);
            }
            continue;
        }
        let Some(page) = mig.source_page(i) else {
            // A hole or the zero page: nothing worth VRAM.
            out.empty += counted;
            continue;
        };
        if page.device_pagemap().is_some() {
            out.resident += counted;
            continue;
        }
        if !page.is_anon() {
            out.unmovable += counted;
            continue;
        }
        if let Some((dst, vram)) = placement.reserve(entry.huge()) {
            let pfn = dst.pfn();
            push(plan, Planned::whole(i, dst, vram, pfn, n));
            continue;
        }
        if !entry.huge() {
            out.no_space += 1;
            continue;
        }
        // No whole 2 MiB free anywhere: the huge page moves as single pages. The core splits it
        // only if its first page has a destination, so without that nothing moves.
        let Some((dst, vram)) = placement.reserve(false) else {
            out.no_space += counted;
            continue;
        };
        placement.count_fallback();
        let pfn = dst.pfn();
        push(plan, Planned::part(i, 0, dst, vram, pfn));
        for j in 1..HUGE_PAGES {
            match placement.reserve(false) {
                Some((dst, vram)) => {
                    let pfn = dst.pfn();
                    push(plan, Planned::part(i, j, dst, vram, pfn));
                }
                None => out.no_space += 1,
            }
        }
    }
}

/// Moves the pages of `range` that are in VRAM (of `only`, or any GPU) back to RAM; errors as
/// [`to_device`].
pub(crate) fn to_ram(
    mm: &MmWithUser,
    range: UserRange,
    only: Option<u32>,
) -> Result<(Outcome, Result)> {
    over_range(mm, range, |vma, start, pages, window, out| {
        with_retries(start, pages, out, |start, pages, huge, unsettled, out| {
            let mut plan = Plan::with_capacity(pages, GFP_KERNEL)?;
            let Some(mig) = collect(vma, start, window, pages, Select::Device, huge, out) else {
                return Ok(());
            };
            let back = Back {
                mig,
                vma,
                start,
                only,
                why: Return::Request,
            };
            bring_back(back, out, unsettled, &mut plan).map(|_| ())
        })
    })
}
