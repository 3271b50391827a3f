// SPDX-License-Identifier: GPL-2.0

//! Moving pages between RAM and VRAM: on request (ioctl), on CPU fault, and at unbind.
//!
//! Work goes in windows of at most [`WINDOW_PAGES`] pages inside one VMA. This module decides
//! what moves where and counts the outcome; the mechanics are in [`crate::mm`] and copies in
//! [`Vram`].

use crate::{
    mm::{self, Committed, Destination, DeviceMigration, Fault, LockedPage, Select, VmaMigration},
    shim,
    stats::{Counter, Stats},
    vram::{vram_of, ActiveVram, Vram},
};
use kernel::{
    bindings,
    mm::{
        virt::{flags, VmaRef},
        MmWithUser, MmapReadGuard,
    },
    page::PAGE_SIZE,
    prelude::*,
    time::{delay::fsleep, Delta},
};

/// Most pages one migration window holds (2 MiB).
pub(crate) const WINDOW_PAGES: usize = 512;
/// Pages brought back together on a CPU fault: the faulting page and its aligned neighbours, so a
/// sequential scan takes one fault per 64 KiB rather than per page.
pub(crate) const FAULT_AROUND_PAGES: usize = 16;

/// Pages per eviction step: small, as the arrays live on the stack of the unbinding thread.
const EVICT_WINDOW_PAGES: usize = 64;

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

    fn store(&self, src: &mm::SourcePage<'_>) -> Option<(Destination, &Vram)> {
        self.gpus
            .iter()
            .find_map(|gpu| gpu.store(src).map(|dst| (dst, &**gpu)))
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

/// Calls `f(vma, start, pages)` for each window of `range`, under the mmap lock; VMAs that can
/// never migrate count as unmovable without a call.
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
        let end = range
            .end
            .min(vma.end())
            .min(addr + WINDOW_PAGES * PAGE_SIZE);
        let pages = (end - addr) / PAGE_SIZE;
        if vma_can_migrate(vma.flags()) {
            f(vma, addr, pages, out)?;
        } else {
            out.unmovable += pages as u64;
        }
        addr = end;
    }
    Ok(())
}

/// Collects a window, or counts all of it unmovable when the kernel refuses the VMA.
fn collect<'a>(
    vma: &'a VmaRef,
    start: usize,
    window: &'a mut Window,
    pages: usize,
    select: Select,
    out: &mut Outcome,
) -> Option<VmaMigration<'a>> {
    match VmaMigration::collect(
        vma,
        start,
        &mut window.src[..pages],
        &mut window.dst[..pages],
        select,
        None,
    ) {
        Ok(mig) => Some(mig),
        Err(_) => {
            out.unmovable += pages as u64;
            None
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
    let res = for_each_window(&mmap, range, &mut out, |vma, start, pages, out| {
        // Allocated before collecting: nothing may fail between collect and commit.
        let mut stored: KVec<Option<&Vram>> = KVec::with_capacity(pages, GFP_KERNEL)?;
        let Some(mut mig) = collect(vma, start, &mut window, pages, Select::RamAndDevice, out)
        else {
            return Ok(());
        };
        for i in 0..mig.len() {
            let verdict = classify_for_device(&mig, i, placement, out);
            let vram = match verdict {
                Some((dst, vram)) => {
                    mig.set_dst(i, dst);
                    Some(vram)
                }
                None => None,
            };
            // Within the capacity reserved above: cannot fail.
            let _ = stored.push_within_capacity(vram);
        }
        tally(&mig.commit(), &stored, out, Stats::moved_to_device);
        Ok(())
    });
    drop(mmap);
    placement.count_no_space(out.no_space);
    Ok((out, res))
}

/// Decides entry `i` of a collected window bound for VRAM: stores it and returns its
/// destination, or counts why it stays.
fn classify_for_device<'p>(
    mig: &VmaMigration<'_>,
    i: usize,
    placement: &'p Placement,
    out: &mut Outcome,
) -> Option<(Destination, &'p Vram)> {
    let entry = mig.src(i);
    if !entry.migrates() {
        // Collected but not isolatable (pinned, locked elsewhere), or nothing migratable there.
        if entry.pfn().is_some() {
            out.busy += 1;
        } else {
            out.empty += 1;
        }
        return None;
    }
    let Some(page) = mig.source_page(i) else {
        // A hole or the zero page: nothing worth a page of VRAM.
        out.empty += 1;
        return None;
    };
    if page.device_pagemap().is_some() {
        out.resident += 1;
        return None;
    }
    if !page.is_anon() {
        out.unmovable += 1;
        return None;
    }
    match placement.store(&page) {
        Some(stored) => Some(stored),
        None => {
            out.no_space += 1;
            None
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
    let res = for_each_window(&mmap, range, &mut out, |vma, start, pages, out| {
        let mut sources = KVec::with_capacity(pages, GFP_KERNEL)?;
        sources.resize(pages, None, GFP_KERNEL)?;
        let Some(mig) = collect(vma, start, &mut window, pages, Select::Device, out) else {
            return Ok(());
        };
        bring_back(mig, vma, start, only, None, out, &mut sources)
    });
    drop(mmap);
    Ok((out, res))
}

/// Copies the collected device pages of `mig` (those of GPU `only`, if given) into new RAM pages
/// and commits. `fault` is the index of a faulting page, which must move: without memory for it
/// the call fails with `ENOMEM`. `sources` is scratch space of one entry per page.
fn bring_back<'v>(
    mut mig: VmaMigration<'_>,
    vma: &VmaRef,
    start: usize,
    only: Option<u32>,
    fault: Option<usize>,
    out: &mut Outcome,
    sources: &mut [Option<&'v Vram>],
) -> Result {
    for (i, source) in sources.iter_mut().enumerate().take(mig.len()) {
        let entry = mig.src(i);
        if !entry.migrates() {
            if entry.pfn().is_some() {
                out.busy += 1;
            } else {
                out.resident += 1;
            }
            continue;
        }
        let Some(pfn) = entry.pfn() else {
            out.empty += 1;
            continue;
        };
        let Some(vram) = mig.source_page(i).and_then(|p| p.device_pagemap()) else {
            out.resident += 1;
            continue;
        };
        // SAFETY: The page is one of ours, collected (referenced) by this migration.
        let vram: &'v Vram = unsafe { vram_of(vram) };
        if only.is_some_and(|index| index != vram.index) {
            out.resident += 1;
            continue;
        }
        let Some(page) = LockedPage::for_user(vma, start + i * PAGE_SIZE) else {
            out.no_space += 1;
            vram.count(Counter::AllocFail, 1);
            if fault == Some(i) {
                return Err(ENOMEM);
            }
            continue;
        };
        vram.load(pfn, &page);
        mig.set_dst(i, Destination::Ram(page));
        *source = Some(vram);
    }
    tally(&mig.commit(), sources, out, Stats::moved_to_ram);
    Ok(())
}

/// Counts each entry that was given a destination (on GPU `owners[i]`) as moved, recording it on
/// that GPU with `record`, or as busy when the core could not move it after all.
fn tally(
    done: &Committed<'_>,
    owners: &[Option<&Vram>],
    out: &mut Outcome,
    record: fn(&Stats, u64),
) {
    for (i, vram) in owners.iter().enumerate() {
        let Some(vram) = vram else { continue };
        if done.moved(i) {
            out.moved += 1;
            record(&vram.stats, 1);
        } else {
            out.busy += 1;
        }
    }
}

/// `migrate_to_ram`: the CPU touched a page in VRAM. Brings it back with its aligned neighbours.
pub(crate) fn fault(fault: &Fault<'_>) -> bindings::vm_fault_t {
    let vma = fault.vma();
    let addr = fault.address() & !(PAGE_SIZE - 1);
    let span = FAULT_AROUND_PAGES * PAGE_SIZE;
    let aligned = addr & !(span - 1);
    let start = aligned.max(vma.start());
    let end = (aligned + span).min(vma.end());
    let pages = (end - start) / PAGE_SIZE;
    let page = fault.page();
    // SAFETY: The faulting page is one of ours (the kernel only calls our `migrate_to_ram` for
    // pages of our pagemaps), locked and referenced for the fault.
    let vram = unsafe { vram_of(page.pagemap()) };
    vram.count(Counter::PageFaults, 1);

    let mut src = [0usize; FAULT_AROUND_PAGES];
    let mut dst = [0usize; FAULT_AROUND_PAGES];
    let mig = match VmaMigration::collect(
        vma,
        start,
        &mut src[..pages],
        &mut dst[..pages],
        Select::Device,
        Some(&page),
    ) {
        Ok(mig) => mig,
        Err(_) => return bindings::vm_fault_reason_VM_FAULT_SIGBUS,
    };
    let mut out = Outcome::default();
    let mut sources = [None; FAULT_AROUND_PAGES];
    let fault_index = Some((addr - start) / PAGE_SIZE);
    match bring_back(
        mig,
        vma,
        start,
        None,
        fault_index,
        &mut out,
        &mut sources[..pages],
    ) {
        Ok(()) => 0,
        Err(_) => bindings::vm_fault_reason_VM_FAULT_OOM,
    }
}

/// Moves every page of `vram` that is in use back to RAM, unmapping it from whatever processes
/// map it. The pool must be closed. Returns how many pages moved.
pub(crate) fn evict_all(vram: &Vram) -> u64 {
    let mut src = [0usize; EVICT_WINDOW_PAGES];
    let mut dst = [0usize; EVICT_WINDOW_PAGES];
    let total = vram.total_pages();
    let mut evicted = 0u64;
    let mut rounds = 0u32;
    while vram.free_pages() < total {
        let mut moved_this_round = 0u64;
        let mut first = 0;
        while first < total {
            let n = EVICT_WINDOW_PAGES.min(total - first);
            let base = vram.first_pfn() + first;
            // SAFETY: The frames are pages of the live pagemap of `vram`.
            let mut mig = unsafe { DeviceMigration::collect(base, &mut src[..n], &mut dst[..n]) };
            for i in 0..mig.len() {
                let entry = mig.src(i);
                if !entry.migrates() || entry.pfn().is_none() {
                    continue;
                }
                let page = LockedPage::nofail();
                vram.load(base + i, &page);
                mig.set_dst(i, page);
            }
            let done = mig.commit();
            let moved = (0..n).filter(|&i| done.moved(i)).count() as u64;
            drop(done);
            moved_this_round += moved;
            first += n;
        }
        evicted += moved_this_round;
        vram.stats.evicted(moved_this_round);
        if vram.free_pages() < total && moved_this_round == 0 {
            // Pages locked by a fault in progress: let it finish.
            rounds += 1;
            if rounds == 1000 {
                dev_warn!(
                    vram.pdev().as_ref(),
                    "{} VRAM pages are still in use after 1 s of eviction; still trying\n",
                    total - vram.free_pages()
                );
            }
            fsleep(Delta::from_millis(1));
        }
    }
    evicted
}
