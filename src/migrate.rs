// SPDX-License-Identifier: GPL-2.0

//! Moving pages between RAM and VRAM: on request (ioctl), on CPU fault, and at unbind.
//!
//! Work goes in windows of at most [`WINDOW_PAGES`] pages inside one VMA and one aligned 2 MiB,
//! each one pass: collect, choose and allocate every destination, copy the whole batch
//! ([`crate::vram::Batch`]: the copy engine or the CPU), commit. A window that is a whole aligned 2 MiB moves a transparent huge page
//! as one 2 MiB folio, falling back to single pages when the other side has no huge page free.
//! This module decides what moves where and counts the outcome; the mechanics are in
//! [`crate::mm`] and the copies in [`crate::copy`].

use crate::{
    copy::Direction,
    mm::{
        anon_pgoff, Committed, Destination, DeviceMigration, DevicePage, Fault, Huge, LockedMm,
        LockedPage, MemStall, MigratePfn, ProcessMms, Select, VmaMigration, HUGE_PAGES,
    },
    shim,
    stats::{Counter, Stats},
    vram::{vram_of, ActiveVram, Batch, Vram},
};
use kernel::{
    alloc::Allocator,
    bindings,
    mm::{
        virt::{flags, VmaRef},
        MmWithUser, MmapReadGuard,
    },
    page::PAGE_SIZE,
    prelude::*,
    time::{delay::fsleep, Delta},
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

/// Calls `f(vma, start, pages, huge)` for each window of `range` ([`window_at`]), under the mmap
/// lock; VMAs that can never migrate count as unmovable without a call.
fn for_each_window(
    mmap: &MmapReadGuard<'_>,
    range: UserRange,
    out: &mut Outcome,
    mut f: impl FnMut(&VmaRef, usize, usize, Huge, &mut Outcome) -> Result,
) -> Result {
    let mut addr = range.start;
    while addr < range.end {
        check_signal()?;
        let vma = mmap.vma_lookup(addr).ok_or(EFAULT)?;
        let (end, pages, huge) = window_at(addr, range.end.min(vma.end()));
        if vma_can_migrate(vma.flags()) {
            f(vma, addr, pages, huge, out)?;
        } else {
            out.unmovable += pages as u64;
        }
        addr = end;
    }
    Ok(())
}

/// Collects a window, or counts all of it unmovable when the kernel refuses the VMA.
#[allow(clippy::too_many_arguments)]
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

/// Moves the private anonymous pages of `range` into VRAM.
///
/// Fails before moving anything if the range is not wholly mapped and readable; a later error
/// (`EINTR`, `ENOMEM`) comes with the outcome so far.
pub(crate) fn to_device(
    mm: &MmWithUser,
    range: UserRange,
    placement: &Placement,
) -> Result<(Outcome, Result)> {
    let mut window = Window::new()?;
    let mut out = Outcome::default();
    let mmap = mm.mmap_read_lock();
    range.check_mapped(&mmap)?;
    let res = for_each_window(&mmap, range, &mut out, |vma, start, pages, huge, out| {
        if placement.all_closing() {
            // The pages not reached land in a counter too: no GPU takes new pages now.
            out.no_space += ((range.end - start) / PAGE_SIZE) as u64;
            return Err(ENODEV);
        }
        let mut plan = Plan::with_capacity(pages, GFP_KERNEL)?;
        let Some(mut mig) = collect(
            vma,
            start,
            &mut window,
            pages,
            Select::RamAndDevice,
            huge,
            out,
        ) else {
            return Ok(());
        };
        plan_to_device(&mig, placement, out, &mut plan);
        let mut batch = Batch::new(Direction::ToVram, plan.len());
        for p in plan.iter_mut() {
            let source = match p.part {
                None => mig.source_page(p.entry),
                Some(j) => mig.huge_source_page(p.entry, j),
            };
            match source.and_then(|s| p.vram.span(p.device_pfn, s.ram(p.pages))) {
                Some(span) => batch.push(p.vram, span),
                // Nothing to copy from or to: the page must not move (its device page goes back).
                None => p.dst = None,
            }
        }
        batch.run();
        set_planned(&mut mig, &mut plan, Destination::Device);
        tally(&mig.commit(), &plan, out, Stats::moved_to_device_huge);
        Ok(())
    });
    drop(mmap);
    placement.count_no_space(out.no_space);
    Ok((out, res))
}

/// Chooses a device page for every entry of a collected window bound for VRAM, or counts why
/// it stays.
fn plan_to_device<'p>(
    mig: &VmaMigration<'_>,
    placement: &'p Placement,
    out: &mut Outcome,
    plan: &mut Plan<'p, DevicePage>,
) {
    for (i, entry, n) in entries(mig.len(), |i| mig.src(i)) {
        let counted = n as u64;
        if !entry.migrates() {
            // Collected but not isolatable (pinned, locked elsewhere), or nothing migratable there.
            if entry.pfn().is_some() {
                out.busy += counted;
            } else {
                out.empty += counted;
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
    let mut window = Window::new()?;
    let mut out = Outcome::default();
    let mmap = mm.mmap_read_lock();
    range.check_mapped(&mmap)?;
    let res = for_each_window(&mmap, range, &mut out, |vma, start, pages, huge, out| {
        let mut plan = Plan::with_capacity(pages, GFP_KERNEL)?;
        let Some(mig) = collect(vma, start, &mut window, pages, Select::Device, huge, out) else {
            return Ok(());
        };
        bring_back(mig, vma, start, only, Return::Request, out, &mut plan).map(|_| ())
    });
    drop(mmap);
    Ok((out, res))
}

/// Why pages come back to RAM.
#[derive(Clone, Copy)]
enum Return {
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

/// Copies the collected device pages of `mig` (those of GPU `only`, if given) into new RAM pages
/// and commits. A faulting page must move: without memory for it the call fails with `ENOMEM`.
/// `plan` is empty, with room for an item per entry. Returns how many huge pages moved as single
/// pages (split), for want of a huge page of RAM.
fn bring_back<'v>(
    mut mig: VmaMigration<'_>,
    vma: &VmaRef,
    start: usize,
    only: Option<u32>,
    why: Return,
    out: &mut Outcome,
    plan: &mut Plan<'v, LockedPage>,
) -> Result<u64> {
    let fault = match why {
        Return::Fault(index) => Some(index),
        Return::Request | Return::Eviction => None,
    };
    for (i, entry, n) in entries(mig.len(), |i| mig.src(i)) {
        let counted = n as u64;
        if !entry.migrates() {
            if entry.pfn().is_some() {
                out.busy += counted;
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
    copy_to_ram(plan);
    set_planned(&mut mig, plan, Destination::Ram);
    let done = mig.commit();
    let record: fn(&Stats, u64, bool) = match why {
        Return::Eviction => record_eviction,
        Return::Request | Return::Fault(_) => Stats::moved_to_ram_huge,
    };
    tally(&done, plan, out, record);
    if fault.is_some() {
        for p in plan.iter().filter(|p| done.moved(p.index())) {
            p.vram.faulted_back(p.device_pfn, p.pages);
        }
    }
    // The first page of a huge page moving as single pages moves only if the core split it.
    let split = plan
        .iter()
        .filter(|p| p.part == Some(0) && done.moved(p.index()))
        .count();
    Ok(split as u64)
}

/// Copies every planned device page into its RAM page, one batch; a page that cannot be copied
/// (a bug, warned about) loses its RAM page and stays in VRAM.
fn copy_to_ram(plan: &mut [Planned<'_, LockedPage>]) {
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
    batch.run();
}

/// Counts each planned page as moved, recording it on its GPU with `record` (pages, whether a
/// whole huge page), or as busy when the core could not move it after all.
fn tally<D>(
    done: &Committed<'_>,
    plan: &[Planned<'_, D>],
    out: &mut Outcome,
    record: fn(&Stats, u64, bool),
) {
    for p in plan {
        let pages = p.pages as u64;
        if done.moved(p.index()) {
            out.moved += pages;
            record(&p.vram.stats, pages, p.huge());
        } else {
            out.busy += pages;
        }
    }
}

/// `migrate_to_ram`: the CPU touched a page in VRAM. Brings back its whole 2 MiB huge page, or the
/// page with its aligned neighbours.
pub(crate) fn fault(fault: &Fault<'_>) -> bindings::vm_fault_t {
    let vma = fault.vma();
    let addr = fault.address() & !(PAGE_SIZE - 1);
    // The core always passes a device-private page: anything else is a kernel bug.
    let Some((page, pagemap)) = fault.page().and_then(|p| {
        let pagemap = p.pagemap()?;
        Some((p, pagemap))
    }) else {
        kernel::warn_on!(true);
        return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
    };
    // SAFETY: The faulting page is one of ours (the kernel only calls our `migrate_to_ram` for
    // pages of our pagemaps), locked and referenced for the fault.
    let vram = unsafe { vram_of(pagemap) };
    vram.count(Counter::PageFaults, 1);
    if vram.is_lost(page.pfn()) {
        // The board stopped answering before this page could come back: what VRAM holds now is
        // not the process's data, and zeros or all-ones in its place would be silent corruption.
        vram.count(Counter::LostPageFaults, 1);
        return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
    }
    let (span, huge) = if fault.on_huge_entry() {
        (WINDOW_BYTES, Huge::Whole)
    } else {
        (FAULT_AROUND_PAGES * PAGE_SIZE, Huge::Split)
    };
    let aligned = addr & !(span - 1);
    let start = aligned.max(vma.start());
    let end = (aligned + span).min(vma.end());
    let pages = (end - start) / PAGE_SIZE;
    let why = Return::Fault((addr - start) / PAGE_SIZE);

    // Arrays on the stack for the common small fault; a huge page needs a window's worth.
    let mut small = ([0usize; FAULT_AROUND_PAGES], [0usize; FAULT_AROUND_PAGES]);
    let mut large;
    let (src, dst) = match huge {
        Huge::Split => (&mut small.0[..pages], &mut small.1[..pages]),
        Huge::Whole => {
            large = match Window::new() {
                Ok(window) => window,
                Err(_) => return bindings::vm_fault_reason_VM_FAULT_OOM,
            };
            (&mut large.src[..pages], &mut large.dst[..pages])
        }
    };
    let Ok(mut plan) = Plan::with_capacity(pages, GFP_KERNEL) else {
        return bindings::vm_fault_reason_VM_FAULT_OOM;
    };
    let mig = match VmaMigration::collect(vma, start, src, dst, Select::Device, huge, Some(&page)) {
        Ok(mig) => mig,
        Err(_) => return bindings::vm_fault_reason_VM_FAULT_SIGBUS,
    };
    let mut out = Outcome::default();
    // The faulting task waits for its data as for a swap-in: PSI counts it as a memory stall.
    let _stall = MemStall::begin();
    match bring_back(mig, vma, start, None, why, &mut out, &mut plan) {
        Ok(_) => 0,
        Err(_) => bindings::vm_fault_reason_VM_FAULT_OOM,
    }
}

/// Retries an allocation until it succeeds: unbinding cannot give up on memory.
fn until_allocated<T>(mut alloc: impl FnMut() -> Result<T>) -> T {
    loop {
        if let Ok(value) = alloc() {
            return value;
        }
        fsleep(Delta::from_millis(10));
    }
}

/// Rounds of eviction in which a huge page found no 2 MiB of free RAM before it moves as single
/// pages through a mapping of it ([`split_through_mappings`]); while some still wait, that is
/// tried again every [`SPLIT_RETRY_ROUNDS`] such rounds.
const SPLIT_AFTER_ROUNDS: u32 = 3;
const SPLIT_RETRY_ROUNDS: u32 = 1_000;

/// Moves every page of `vram` that is in use back to RAM, unmapping it from whatever processes
/// map it; pages whose contents were lost stay. The pool must be closed. Returns how many pages
/// moved.
pub(crate) fn evict_all(vram: &Vram) -> u64 {
    evict(vram, &|| true).0
}

/// As [`evict_all`], for a board that may have stopped answering (PCI error recovery): after each
/// window's copy, and before the processes are switched to the copies, `answers` says whether
/// the board still answers; if it does not, that window's copies (which may be all-ones) are
/// thrown away and its pages stay where they were. Returns how many pages moved and whether all
/// did (`false`: the board stopped answering first).
pub(crate) fn evict_while(vram: &Vram, answers: &dyn Fn() -> bool) -> (u64, bool) {
    evict(vram, answers)
}

fn evict(vram: &Vram, answers: &dyn Fn() -> bool) -> (u64, bool) {
    let mut window = until_allocated(Window::new);
    let mut plan: KVec<Planned<'_, LockedPage>> =
        until_allocated(|| Ok(KVec::with_capacity(WINDOW_PAGES, GFP_KERNEL)?));
    let total = vram.total_pages();
    let span = vram.span_pages();
    // The linear page indices of the huge pages that found no 2 MiB of RAM in a round: at most
    // one per 2 MiB of the pagemap.
    let mut waiting: KVVec<usize> =
        until_allocated(|| Ok(KVVec::with_capacity(span / HUGE_PAGES + 1, GFP_KERNEL)?));
    let mut evicted = 0u64;
    let mut rounds = 0u32;
    let mut waiting_rounds = 0u32;
    while vram.free_pages() + vram.lost_pages() < total {
        if !answers() {
            return (evicted, false);
        }
        let mut moved_this_round = 0u64;
        waiting.clear();
        let mut ram_short = false;
        // Windows start on 2 MiB boundaries of the pagemap, so a huge folio is never cut.
        let mut first = 0;
        while first < span {
            let n = WINDOW_PAGES.min(span - first);
            let base = vram.first_pfn() + first;
            // SAFETY: The frames are pages of the live pagemap of `vram`.
            let mut mig = unsafe {
                DeviceMigration::collect(base, &mut window.src[..n], &mut window.dst[..n])
            };
            plan.clear();
            for (i, entry, pages) in entries(n, |i| mig.src(i)) {
                if !entry.migrates() || !mig.holds_data(i) || vram.is_lost(base + i) {
                    continue;
                }
                // A huge page can only move whole here: the kernel splits device pages only in a
                // VMA's migration, and eviction by page frame has none. Without 2 MiB of RAM now
                // it waits for the next round (and the others of this round do not try: each try
                // reclaims and compacts), then for `split_through_mappings`.
                let page = match entry.huge() {
                    true if ram_short => None,
                    true => LockedPage::huge_for_eviction(),
                    false => LockedPage::nofail(),
                };
                match page {
                    Some(page) => push(&mut plan, Planned::whole(i, page, vram, base + i, pages)),
                    None if entry.huge() => {
                        ram_short = true;
                        // Room for one per 2 MiB of the pagemap was reserved.
                        let full = mig
                            .linear_index(i)
                            .is_some_and(|index| waiting.push_within_capacity(index).is_err());
                        if full {
                            pr_err!("eviction: huge page list overflow\n");
                        }
                    }
                    // `nofail` broke its promise: the next round tries again.
                    None => {}
                }
            }
            copy_to_ram(&mut plan);
            if !plan.is_empty() && !answers() {
                // What was copied may be what a dead link reads (all-ones): the RAM pages go
                // and the processes keep the device pages (dropping `mig` restores them).
                plan.clear();
                drop(mig);
                evicted += moved_this_round;
                vram.stats.evicted(moved_this_round);
                return (evicted, false);
            }
            for p in plan.iter_mut() {
                if let Some(page) = p.dst.take() {
                    mig.set_dst(p.entry, page);
                }
            }
            let done = mig.commit();
            let moved: u64 = plan
                .iter()
                .filter(|p| done.moved(p.entry))
                .map(|p| p.pages as u64)
                .sum();
            drop(done);
            moved_this_round += moved;
            first += n;
        }
        evicted += moved_this_round;
        vram.stats.evicted(moved_this_round);
        waiting_rounds = match waiting.is_empty() {
            true => 0,
            false => waiting_rounds + 1,
        };
        if waiting_rounds == SPLIT_AFTER_ROUNDS
            || (waiting_rounds > SPLIT_AFTER_ROUNDS && waiting_rounds % SPLIT_RETRY_ROUNDS == 0)
        {
            let moved = split_through_mappings(vram, &waiting, &mut window, waiting_rounds);
            evicted += moved;
            moved_this_round += moved;
        }
        if vram.free_pages() + vram.lost_pages() < total && moved_this_round == 0 {
            // Pages locked by a fault in progress, or no 2 MiB of RAM for a huge page yet.
            rounds += 1;
            // After about 1 s, then every 10 s: what is left, and why.
            if rounds % 10_000 == 1_000 {
                dev_warn!(
                    vram.pdev().as_ref(),
                    "{} VRAM pages are still in use after {} s of eviction ({evicted} moved back so far; {} huge pages wait for 2 MiB of free RAM); still trying\n",
                    total - vram.free_pages(),
                    rounds / 1_000,
                    waiting.len()
                );
            }
            fsleep(Delta::from_millis(1));
        }
    }
    (evicted, true)
}

/// Brings back the huge pages of `vram` that wait for 2 MiB of free RAM (`waiting`: their linear
/// page indices) as single pages, through the processes that map them: a VMA's migration splits a
/// device folio, eviction's migration by page frame cannot, and modules have no reverse map. So
/// every process's VMAs are searched, as the reverse map would, for where a folio of such an index
/// is mapped, and those 2 MiB are brought back (anything of `vram` there, whoever it belongs to).
/// A huge page mapped by no process (its last one is exiting) is freed meanwhile or waits for the
/// next try. Returns how many pages moved.
fn split_through_mappings(vram: &Vram, waiting: &[usize], window: &mut Window, rounds: u32) -> u64 {
    let Ok(mut plan) = Plan::with_capacity(WINDOW_PAGES, GFP_KERNEL) else {
        return 0;
    };
    let mut out = Outcome::default();
    let mut split = 0u64;
    for mm in ProcessMms::new() {
        let locked = LockedMm::lock(&mm);
        let mut addr = 0;
        while let Some(vma) = locked.vma_from(addr) {
            addr = vma.end();
            let Some(pgoff) = anon_pgoff(vma) else {
                continue;
            };
            if !vma_can_migrate(vma.flags()) {
                continue;
            }
            let pages = (vma.end() - vma.start()) / PAGE_SIZE;
            for &index in waiting {
                let Some(offset) = index.checked_sub(pgoff).filter(|&k| k < pages) else {
                    continue;
                };
                // The huge page's first page is here; it spans two windows if `mremap` moved it
                // off a 2 MiB boundary.
                let end = vma
                    .end()
                    .min(vma.start() + offset * PAGE_SIZE + WINDOW_BYTES);
                let mut start = vma.start() + offset * PAGE_SIZE;
                while start < end {
                    let (stop, n, huge) = window_at(start, end);
                    plan.clear();
                    let mig = collect(vma, start, window, n, Select::Device, huge, &mut out);
                    if let Some(mig) = mig {
                        let only = Some(vram.index);
                        // Only a fault can fail.
                        split += bring_back(
                            mig,
                            vma,
                            start,
                            only,
                            Return::Eviction,
                            &mut out,
                            &mut plan,
                        )
                        .unwrap_or(0);
                    }
                    start = stop;
                }
            }
        }
    }
    if split != 0 {
        dev_info!(
            vram.pdev().as_ref(),
            "eviction: {} huge pages found no 2 MiB of free RAM in {rounds} rounds; split {split} into single pages through the processes that map them ({} pages moved back)\n",
            waiting.len(),
            out.moved
        );
    }
    out.moved
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

    #[test]
    fn a_window_stops_at_the_end() {
        let (stop, pages, huge) = window_at(BASE, BASE + 16 * PAGE_SIZE);
        assert_eq!(stop, BASE + 16 * PAGE_SIZE);
        assert_eq!(pages, 16);
        assert!(huge == Huge::Split);
    }
}
