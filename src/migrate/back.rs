// SPDX-License-Identifier: GPL-2.0

//! Device pages of a VMA's window back to RAM: for a request, a CPU fault, or eviction's split
//! of a huge page through a process that maps it.

use super::{
    entries,
    push,
    set_planned,
    tally,
    Outcome,
    Plan,
    Planned,
    Unsettled, //
};
use crate::{
    copy::Direction,
    mm::{
        Destination,
        LockedPage,
        VmaMigration, //
    },
    stats::{
        Counter,
        Stats, //
    },
    vram::{
        vram_of,
        Batch,
        Vram, //
    },
};
use kernel::{
    mm::virt::VmaRef,
    page::PAGE_SIZE,
    prelude::*, //
};

/// Why pages come back to RAM.
#[derive(Clone, Copy)]
pub(super) enum Return {
    /// A request: counted in `migrations_to_ram`.
    Request,
    /// A CPU fault on the page at this index of the migration, which must move; counted in
    /// `migrations_to_ram`, and checked for early refaults.
    Fault(usize),
    /// Eviction (the GPU goes away or pauses): counted in `evictions`.
    Eviction,
}

/// Counts pages that eviction moved back (whole huge pages or not: eviction counts pages only).
fn record_eviction(stats: &Stats, pages: u64, _whole: bool) {
    stats.evicted(pages);
}

/// A collected window of a VMA whose device pages come back to RAM.
pub(super) struct Back<'a> {
    /// The window's migration, collected with [`crate::mm::Select::Device`].
    pub(super) mig: VmaMigration<'a>,
    pub(super) vma: &'a VmaRef,
    /// The window's first address.
    pub(super) start: usize,
    /// Only the pages of the GPU of this index, or of any.
    pub(super) only: Option<u32>,
    pub(super) why: Return,
}

/// Copies the collected device pages of `back` (those of GPU `only`, if given) into new RAM pages
/// and commits. A faulting page must move: without memory for it the call fails with `ENOMEM`.
/// Pages the core let go of go to `unsettled`. `plan` is empty, with room for an item per entry.
/// Returns how many huge pages moved as single pages (split), for want of a huge page of RAM.
pub(super) fn bring_back<'v>(
    back: Back<'_>,
    out: &mut Outcome,
    unsettled: &mut Unsettled<'_>,
    plan: &mut Plan<'v, LockedPage>,
) -> Result<u64> {
    let Back {
        mut mig,
        vma,
        start,
        only,
        why,
    } = back;
    let fault = match why {
        Return::Fault(index) => Some(index),
        Return::Request | Return::Eviction => None,
    };
    for (i, entry, n) in entries(mig.len(), |i| mig.src(i)) {
        let counted = n as u64;
        if !entry.migrates() {
            // Not collected is in RAM here (or, rarely, a device page locked at that moment).
            if entry.pfn().is_some() {
                unsettled.busy(out, i, n);
            } else {
                out.resident += counted;
            }
            continue;
        }
        let Some(pfn) = entry.pfn() else {
            out.empty += counted;
            continue;
        };
        let Some(vram) = mig.source_page(i).and_then(|p| p.device_pagemap()) else {
            out.resident += counted;
            continue;
        };
        // SAFETY: The page is one of ours, collected (referenced) by this migration.
        let vram: &'v Vram = unsafe { vram_of(vram) };
        if only.is_some_and(|index| index != vram.index) {
            out.resident += counted;
            continue;
        }
        if vram.is_lost(pfn) {
            // Its contents went with the board: it stays, and a fault on it gets SIGBUS.
            out.busy += counted;
            continue;
        }
        let addr = start + i * PAGE_SIZE;
        let faulting = fault.is_some_and(|f| (i..i + n).contains(&f));
        if entry.huge() {
            // A fault's huge page can only come back whole: the core holds a reference to it, so
            // it cannot be split into single pages; wait for reclaim and compaction, else
            // `VM_FAULT_OOM` (the fault is retried).
            let page = match faulting {
                true => LockedPage::huge_for_user(vma, addr)
                    .or_else(|| LockedPage::huge_for_user_reclaim(vma, addr)),
                false => LockedPage::huge_for_user(vma, addr),
            };
            if let Some(page) = page {
                push(plan, Planned::whole(i, page, vram, pfn, n));
                continue;
            }
            if faulting {
                out.no_space += counted;
                vram.count(Counter::AllocFail, counted);
                return Err(ENOMEM);
            }
            // No huge page free in RAM: bring it back as single pages. The core splits it only if
            // its first page has a destination, so without that nothing moves.
            let Some(page) = LockedPage::for_user(vma, addr) else {
                out.no_space += counted;
                vram.count(Counter::AllocFail, counted);
                if faulting {
                    return Err(ENOMEM);
                }
                continue;
            };
            vram.count(Counter::ThpFallback, 1);
            push(plan, Planned::part(i, 0, page, vram, pfn));
        }
        let first = usize::from(entry.huge());
        for j in first..n {
            let Some(page) = LockedPage::for_user(vma, addr + j * PAGE_SIZE) else {
                out.no_space += 1;
                vram.count(Counter::AllocFail, 1);
                if fault == Some(i + j) {
                    return Err(ENOMEM);
                }
                continue;
            };
            push(
                plan,
                match entry.huge() {
                    true => Planned::part(i, j, page, vram, pfn + j),
                    false => Planned::whole(i, page, vram, pfn, 1),
                },
            );
        }
    }
    let not_copied = copy_to_ram(plan, fault);
    // Eviction asks whether the board answers itself, per window ([`super::evict`]).
    let unread = match why {
        Return::Eviction => false,
        Return::Request | Return::Fault(_) => drop_copies_not_held(plan, fault),
    } || not_copied.fault;
    set_planned(&mut mig, plan, Destination::Ram);
    let done = mig.commit();
    let record: fn(&Stats, u64, bool) = match why {
        Return::Eviction => record_eviction,
        Return::Request | Return::Fault(_) => Stats::moved_to_ram_huge,
    };
    tally(&done, plan, out, unsettled, record);
    if fault.is_some() {
        for p in plan.iter().filter(|p| done.moved(p.index())) {
            p.vram.faulted_back(p.device_pfn, p.pages);
        }
    }
    if unread {
        // The faulting page stays in VRAM: what the copy read is not the process's data.
        return Err(EIO);
    }
    // The first page of a huge page moving as single pages moves only if the core split it.
    let split = plan
        .iter()
        .filter(|p| p.part == Some(0) && done.moved(p.index()))
        .count();
    Ok(split as u64)
}

/// Drops the copies out of a board whose copies do not hold what VRAM holds
/// ([`Vram::copies_hold`]: PCI error recovery, and the board stopped answering), and those of pages
/// whose contents were lost while they were copied (the recovery gave up on them): their pages stay
/// in VRAM. Returns whether the page at index `fault` of the migration was among them.
fn drop_copies_not_held(plan: &mut [Planned<'_, LockedPage>], fault: Option<usize>) -> bool {
    // The board last asked, and its answer: a plan's pages are mostly of one board.
    let mut last: Option<(&Vram, bool)> = None;
    let mut fault_unread = false;
    for p in plan.iter_mut().filter(|p| p.dst.is_some()) {
        let holds = match last {
            Some((asked, holds)) if core::ptr::eq(asked, p.vram) => holds,
            _ => {
                let holds = p.vram.copies_hold();
                last = Some((p.vram, holds));
                holds
            }
        };
        if !holds || p.vram.is_lost(p.device_pfn) {
            p.dst = None;
            fault_unread |= fault.is_some_and(|f| p.covers(f));
        }
    }
    fault_unread
}

/// What [`copy_to_ram`] could not copy because the CPU could not reach the VRAM.
pub(super) struct NotCopied {
    /// Some page.
    pub(super) any: bool,
    /// The page at the migration's index `fault`.
    pub(super) fault: bool,
}

/// Copies every planned device page into its RAM page, one batch; a page that cannot be copied
/// (a bug, warned about, or VRAM the CPU could not reach) loses its RAM page and stays in VRAM.
pub(super) fn copy_to_ram(plan: &mut [Planned<'_, LockedPage>], fault: Option<usize>) -> NotCopied {
    for p in plan.iter_mut() {
        let copyable = p
            .dst
            .as_ref()
            .is_some_and(|page| p.vram.span(p.device_pfn, page.ram()).is_some());
        if !copyable {
            p.dst = None;
        }
    }
    let mut batch = Batch::new(Direction::ToRam, plan.len());
    for p in plan.iter() {
        let span = p
            .dst
            .as_ref()
            .and_then(|page| p.vram.span(p.device_pfn, page.ram()));
        if let Some(span) = span {
            batch.push(p.vram, span);
        }
    }
    let uncopied = batch.run();
    let mut not_copied = NotCopied {
        any: false,
        fault: false,
    };
    for p in plan
        .iter_mut()
        .filter(|p| p.dst.is_some() && uncopied.holds(p.vram))
    {
        p.dst = None;
        not_copied.any = true;
        not_copied.fault |= fault.is_some_and(|f| p.covers(f));
    }
    not_copied
}
