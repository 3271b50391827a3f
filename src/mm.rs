// SPDX-License-Identifier: GPL-2.0

//! Thin, safe wrappers over the kernel's page migration API (`mm/migrate_device.c`).
//!
//! A migration goes collect → set destinations → commit → finalize. The types here make that
//! order the only one possible: [`VmaMigration`] and [`DeviceMigration`] hold collected pages and
//! accept destinations; `commit` turns them into a [`Committed`] migration that can only be read;
//! dropping either finalizes (an uncommitted migration restores every source page).

use crate::copy::RamPages;
use crate::shim::{
    self,
    MigrateVmaRaw,
    MIGRATE_PFN_COMPOUND,
    MIGRATE_PFN_MIGRATE,
    MIGRATE_PFN_SHIFT,
    MIGRATE_PFN_VALID,
    MIGRATE_PFN_WRITE, //
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    ffi::{
        c_int,
        c_ulong,
        c_void, //
    },
    mm::{
        virt::VmaRef,
        MmWithUser,
        MmapReadGuard, //
    },
    page::PAGE_SIZE,
    prelude::*,
    sync::aref::ARef, //
};

/// The pagemap owner shared by every GPU: `migrate_vma` collects, and `hmm_range_fault`
/// reports, only device-private pages whose pagemap names this owner.
static OWNER: u8 = 0;

/// The owner pointer given to the kernel.
pub(crate) fn owner() -> *mut c_void {
    core::ptr::from_ref(&OWNER).cast_mut().cast()
}

/// Pages in a PMD-sized folio, the only large folio migration moves whole.
pub(crate) const HUGE_PAGES: usize = 512;
/// The order of such a folio.
pub(crate) const HUGE_ORDER: u32 = 9;

/// An entry of a migration's source or destination array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MigratePfn(usize);

impl MigratePfn {
    /// The page frame the entry names, if any.
    pub(crate) fn pfn(self) -> Option<usize> {
        (self.0 & MIGRATE_PFN_VALID != 0).then_some(self.0 >> MIGRATE_PFN_SHIFT)
    }

    /// Whether the core will (still) migrate this entry.
    pub(crate) fn migrates(self) -> bool {
        self.0 & MIGRATE_PFN_MIGRATE != 0
    }

    /// Whether the page was mapped writable.
    pub(crate) fn writable(self) -> bool {
        self.0 & MIGRATE_PFN_WRITE != 0
    }

    /// Whether the entry is a 2 MiB folio (or hole) standing for [`HUGE_PAGES`] entries, the
    /// others of which are empty.
    pub(crate) fn huge(self) -> bool {
        self.0 & MIGRATE_PFN_COMPOUND != 0
    }

    /// A destination entry for the folio of `1 << order` pages at page frame `pfn`.
    fn destination(pfn: usize, order: u32, writable: bool) -> Self {
        let write = if writable { MIGRATE_PFN_WRITE } else { 0 };
        let compound = if order > 0 { MIGRATE_PFN_COMPOUND } else { 0 };
        Self((pfn << MIGRATE_PFN_SHIFT) | MIGRATE_PFN_VALID | write | compound)
    }
}

/// A source page of a collected migration: locked and referenced by the migration core for as
/// long as the migration is borrowed.
pub(crate) struct SourcePage<'a> {
    page: NonNull<bindings::page>,
    _migration: PhantomData<&'a ()>,
}

impl<'a> SourcePage<'a> {
    pub(crate) fn as_raw(&self) -> *mut bindings::page {
        self.page.as_ptr()
    }

    /// The pagemap of this page if it is a device-private page (one of ours: the migrations here
    /// only collect device-private pages of [`owner`]).
    pub(crate) fn device_pagemap(&self) -> Option<NonNull<c_void>> {
        // SAFETY: The page is referenced by the migration for the lifetime of `self`.
        NonNull::new(unsafe { shim::ps_device_private_pgmap(self.as_raw()) })
    }

    /// Whether this is an anonymous page (not page cache or shmem).
    pub(crate) fn is_anon(&self) -> bool {
        // SAFETY: As above.
        unsafe { shim::ps_page_is_anon(self.as_raw()) }
    }

    /// The data of this RAM page and the `pages - 1` after it (a huge source's folio).
    pub(crate) fn ram(&self, pages: usize) -> RamPages<'a> {
        // SAFETY: As above; the migration holds the page (and a huge source's whole folio)
        // locked and unmapped, RAM is in the direct map (no highmem on x86-64), and a folio's
        // pages are contiguous there.
        unsafe {
            RamPages::new(
                shim::ps_page_address(self.as_raw()).cast(),
                pages * PAGE_SIZE,
            )
        }
    }
}

/// A locked folio of RAM (one page or a 2 MiB huge page) that this driver allocated: a
/// destination for data coming out of VRAM. Unlocked and released on drop unless handed to a
/// migration.
pub(crate) struct LockedPage {
    page: NonNull<bindings::page>,
    order: u32,
}

impl LockedPage {
    fn lock(page: *mut bindings::page, order: u32) -> Option<Self> {
        let page = NonNull::new(page)?;
        // SAFETY: `page` was just allocated by us and no one else can see it.
        unsafe { shim::ps_lock_page(page.as_ptr()) };
        Some(Self { page, order })
    }

    /// A page for user address `addr` of `vma`; `None` when memory is short. May sleep.
    pub(crate) fn for_user(vma: &VmaRef, addr: usize) -> Option<Self> {
        // SAFETY: `vma` is a live VMA (the caller holds the mmap lock or is its fault handler).
        let page = unsafe { shim::ps_alloc_user_page(vma.as_ptr(), addr as c_ulong) };
        Self::lock(page, 0)
    }

    /// A 2 MiB huge page for the aligned user address `addr` of `vma`; `None` when none is free
    /// right away (no reclaim or compaction: a huge page is worth less than a quick fallback to
    /// single pages). May sleep.
    pub(crate) fn huge_for_user(vma: &VmaRef, addr: usize) -> Option<Self> {
        // SAFETY: As in `for_user`.
        let page = unsafe { shim::ps_alloc_user_huge_page(vma.as_ptr(), addr as c_ulong) };
        Self::lock(page, HUGE_ORDER)
    }

    /// As [`Self::huge_for_user`], reclaiming and compacting for it: for a fault on a parked huge
    /// page, which can only come back whole. May sleep.
    pub(crate) fn huge_for_user_reclaim(vma: &VmaRef, addr: usize) -> Option<Self> {
        // SAFETY: As in `for_user`.
        let page = unsafe { shim::ps_alloc_user_huge_page_reclaim(vma.as_ptr(), addr as c_ulong) };
        Self::lock(page, HUGE_ORDER)
    }

    /// A page with no VMA to place it (eviction); waits for memory rather than fail
    /// (`__GFP_NOFAIL`, so `None` only if the allocator broke that promise).
    pub(crate) fn nofail() -> Option<Self> {
        // SAFETY: No precondition.
        let page = unsafe { shim::ps_alloc_user_page_nofail() };
        Self::lock(page, 0)
    }

    /// A 2 MiB huge page with no VMA to place it (eviction), reclaiming and compacting for it;
    /// `None` if that fails (the caller retries later). May sleep.
    pub(crate) fn huge_for_eviction() -> Option<Self> {
        // SAFETY: No precondition.
        Self::lock(unsafe { shim::ps_alloc_huge_page_retry() }, HUGE_ORDER)
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::page {
        self.page.as_ptr()
    }

    /// Pages in the folio.
    pub(crate) fn pages(&self) -> usize {
        1 << self.order
    }

    /// The folio's data.
    pub(crate) fn ram(&self) -> RamPages<'_> {
        // SAFETY: The folio is ours and locked, so no one else uses it; RAM is in the direct map
        // (no highmem on x86-64), and a folio's pages are contiguous there.
        unsafe {
            RamPages::new(
                shim::ps_page_address(self.as_raw()).cast(),
                self.pages() * PAGE_SIZE,
            )
        }
    }

    /// Hands the folio to a migration as a destination entry.
    fn into_destination(self, writable: bool) -> MigratePfn {
        // SAFETY: The page is ours and valid.
        let pfn = unsafe { shim::ps_page_to_pfn(self.as_raw()) } as usize;
        let order = self.order;
        core::mem::forget(self);
        MigratePfn::destination(pfn, order, writable)
    }
}

impl Drop for LockedPage {
    fn drop(&mut self) {
        // SAFETY: We hold the only reference and the lock.
        unsafe { shim::ps_unlock_and_put_page(self.as_raw()) };
    }
}

/// A destination for one collected page.
pub(crate) enum Destination {
    /// A RAM page.
    Ram(LockedPage),
    /// A device page that [`DevicePage::claim`] initialized.
    Device(DevicePage),
}

/// A device folio (one page or a 2 MiB huge page) taken from a pool and initialized: referenced
/// and locked, as the migration core wants destination device pages.
pub(crate) struct DevicePage {
    pfn: usize,
    order: u32,
}

impl DevicePage {
    /// Initializes the free device pages `pfn..pfn + (1 << order)` of `pgmap` as one folio.
    ///
    /// # Safety
    ///
    /// The pages belong to the live pagemap `pgmap` and its pool just handed them out (free,
    /// unused); for `order > 0`, `pfn` is aligned to `1 << order`.
    pub(crate) unsafe fn claim(pgmap: NonNull<c_void>, pfn: usize, order: u32) -> Self {
        // SAFETY: By the function's contract the pages are free and belong to `pgmap`.
        unsafe {
            shim::ps_device_folio_init(shim::ps_pfn_to_page(pfn as c_ulong), pgmap.as_ptr(), order)
        };
        Self { pfn, order }
    }

    /// The first page frame.
    pub(crate) fn pfn(&self) -> usize {
        self.pfn
    }
}

impl Drop for DevicePage {
    fn drop(&mut self) {
        // SAFETY: The folio was initialized by `claim` (referenced and locked by us) and never
        // handed to a migration (that forgets it): releasing it gives it back to its pool.
        unsafe { shim::ps_unlock_and_put_page(shim::ps_pfn_to_page(self.pfn as c_ulong)) };
    }
}

/// The src and dst arrays of a migration and what both kinds of migration do with them.
struct Arrays<'a> {
    src: NonNull<usize>,
    dst: NonNull<usize>,
    len: usize,
    _arrays: PhantomData<&'a mut [usize]>,
}

impl<'a> Arrays<'a> {
    fn new(src: &'a mut [usize], dst: &'a mut [usize]) -> Self {
        // A caller's bug: the migration then spans the shorter of the two.
        kernel::warn_on!(src.len() != dst.len());
        src.fill(0);
        dst.fill(0);
        Self {
            len: src.len().min(dst.len()),
            src: NonNull::from(src).cast(),
            dst: NonNull::from(dst).cast(),
            _arrays: PhantomData,
        }
    }

    fn src(&self, i: usize) -> MigratePfn {
        // Out of bounds is a caller's bug: an empty entry (nothing moves) rather than a panic.
        if kernel::warn_on!(i >= self.len) {
            return MigratePfn(0);
        }
        // SAFETY: `i` is in bounds of the borrowed array.
        MigratePfn(unsafe { self.src.as_ptr().add(i).read() })
    }

    fn dst(&self, i: usize) -> MigratePfn {
        if kernel::warn_on!(i >= self.len) {
            return MigratePfn(0);
        }
        // SAFETY: As above.
        MigratePfn(unsafe { self.dst.as_ptr().add(i).read() })
    }

    fn source_page(&self, i: usize) -> Option<SourcePage<'_>> {
        let pfn = self.src(i).pfn()?;
        // SAFETY: A valid source entry names a page the core holds for the migration.
        let page = NonNull::new(unsafe { shim::ps_pfn_to_page(pfn as c_ulong) })?;
        Some(SourcePage {
            page,
            _migration: PhantomData,
        })
    }

    /// Sets the destination of entry `i`, which must be collected and not yet have one.
    fn set_dst(&mut self, i: usize, dst: Destination) {
        // A caller's bug; dropping `dst` releases it and the entry stays unmoved.
        if kernel::warn_on!(!self.src(i).migrates()) {
            return;
        }
        self.write_dst(i, self.src(i).writable(), dst);
    }

    /// Sets the destination of page `j` of the huge entry at `head` to a single page: the core
    /// then splits the huge source and moves it page by page. Only pages with a destination move;
    /// the head needs one for any to move.
    fn set_dst_split(&mut self, head: usize, j: usize, dst: Destination) {
        let entry = self.src(head);
        let valid = entry.migrates() && entry.huge() && j < HUGE_PAGES && head + j < self.len;
        // A caller's bug; dropping `dst` releases it and the entry stays unmoved.
        if kernel::warn_on!(!valid || (j != 0 && self.src(head + j) != MigratePfn(0))) {
            return;
        }
        self.write_dst(head + j, entry.writable(), dst);
    }

    fn write_dst(&mut self, i: usize, writable: bool, dst: Destination) {
        // Out of bounds or set twice: a caller's bug; dropping `dst` releases it.
        if kernel::warn_on!(i >= self.len || self.dst(i) != MigratePfn(0)) {
            return;
        }
        let entry = match dst {
            Destination::Ram(page) => page.into_destination(writable),
            Destination::Device(page) => {
                let entry = MigratePfn::destination(page.pfn, page.order, writable);
                core::mem::forget(page);
                entry
            }
        };
        // SAFETY: `i` is in bounds (checked above).
        unsafe { self.dst.as_ptr().add(i).write(entry.0) };
    }

    /// Takes the `migrates` flag off every entry, so that finalizing restores each source page and
    /// releases any destination already set, instead of mapping a destination no commit filled.
    fn cancel(&mut self) {
        for i in 0..self.len {
            // SAFETY: `i` is in bounds of the borrowed array.
            unsafe { *self.src.as_ptr().add(i) &= !MIGRATE_PFN_MIGRATE };
        }
    }

    fn raw_src(&self) -> *mut c_ulong {
        self.src.as_ptr().cast()
    }

    fn raw_dst(&self) -> *mut c_ulong {
        self.dst.as_ptr().cast()
    }
}

/// Which pages a [`VmaMigration`] collects.
#[derive(Clone, Copy)]
pub(crate) enum Select {
    /// Pages in RAM, and our own device pages (so they can be told apart from holes).
    RamAndDevice,
    /// Only our device pages.
    Device,
}

/// Whether a [`VmaMigration`] of an aligned 2 MiB range takes huge pages whole.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Huge {
    /// A huge page (or an empty aligned 2 MiB) becomes one entry marked [`MigratePfn::huge`].
    Whole,
    /// Huge pages are split; every entry is one page.
    Split,
}

/// A migration of a virtual range of one VMA (`migrate_vma_*`), collected and not committed.
pub(crate) struct VmaMigration<'a> {
    raw: MigrateVmaRaw,
    arrays: Arrays<'a>,
}

impl<'a> VmaMigration<'a> {
    /// Collects the pages of `[start, start + src.len() pages)` of `vma` that `select` asks for.
    ///
    /// `fault_page` is the locked device page of a CPU fault being handled, if any.
    pub(crate) fn collect(
        vma: &'a VmaRef,
        start: usize,
        src: &'a mut [usize],
        dst: &'a mut [usize],
        select: Select,
        huge: Huge,
        fault_page: Option<&FaultPage<'a>>,
    ) -> Result<Self> {
        let arrays = Arrays::new(src, dst);
        let select = match select {
            Select::RamAndDevice => shim::SELECT_SYSTEM | shim::SELECT_DEVICE_PRIVATE,
            Select::Device => shim::SELECT_DEVICE_PRIVATE,
        };
        let flags = match huge {
            Huge::Whole => select | shim::SELECT_COMPOUND,
            Huge::Split => select,
        };
        let mut raw = MigrateVmaRaw {
            vma: vma.as_ptr(),
            dst: arrays.raw_dst(),
            src: arrays.raw_src(),
            cpages: 0,
            npages: 0,
            start: start as c_ulong,
            end: (start + arrays.len * kernel::page::PAGE_SIZE) as c_ulong,
            pgmap_owner: owner(),
            flags,
            fault_page: fault_page.map_or(core::ptr::null_mut(), |p| p.page.as_ptr()),
        };
        // SAFETY: `raw` describes a range of a VMA that stays locked for `'a` (the caller holds
        // the mmap lock or is its fault handler), with arrays of the right length borrowed for
        // `'a`; a fault page is the locked page of the fault being handled.
        kernel::error::to_result(unsafe { shim::ps_migrate_vma_setup(&mut raw) })?;
        Ok(Self { raw, arrays })
    }

    /// How many entries the migration covers.
    pub(crate) fn len(&self) -> usize {
        self.arrays.len
    }

    pub(crate) fn src(&self, i: usize) -> MigratePfn {
        self.arrays.src(i)
    }

    pub(crate) fn source_page(&self, i: usize) -> Option<SourcePage<'_>> {
        self.arrays.source_page(i)
    }

    /// Page `j` of the huge source at entry `head`.
    pub(crate) fn huge_source_page(&self, head: usize, j: usize) -> Option<SourcePage<'_>> {
        if kernel::warn_on!(!self.src(head).huge() || j >= HUGE_PAGES) {
            return None;
        }
        let pfn = self.src(head).pfn()? + j;
        // SAFETY: A valid huge entry names a folio of `HUGE_PAGES` pages the core holds.
        let page = NonNull::new(unsafe { shim::ps_pfn_to_page(pfn as c_ulong) })?;
        Some(SourcePage {
            page,
            _migration: PhantomData,
        })
    }

    pub(crate) fn set_dst(&mut self, i: usize, dst: Destination) {
        self.arrays.set_dst(i, dst);
    }

    pub(crate) fn set_dst_split(&mut self, head: usize, j: usize, dst: Destination) {
        self.arrays.set_dst_split(head, j, dst);
    }

    /// Moves every entry that has a destination; entries that fail lose their `migrates` flag.
    pub(crate) fn commit(self) -> Committed<'a> {
        let mut this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `raw` was set up by `collect` and not committed before.
        unsafe { shim::ps_migrate_vma_pages(&mut this.raw) };
        // SAFETY: `this` is never used or dropped again; its fields are moved out once.
        let (raw, arrays) = unsafe { (core::ptr::read(&this.raw), core::ptr::read(&this.arrays)) };
        Committed {
            kind: Kind::Vma(raw),
            arrays,
        }
    }
}

impl Drop for VmaMigration<'_> {
    fn drop(&mut self) {
        self.arrays.cancel();
        // SAFETY: Finalizing a cancelled, uncommitted migration restores every source page and
        // releases every destination page.
        unsafe { shim::ps_migrate_vma_finalize(&mut self.raw) };
    }
}

/// A migration of device pages by physical page frame (`migrate_device_*`), for eviction.
pub(crate) struct DeviceMigration<'a> {
    arrays: Arrays<'a>,
}

impl<'a> DeviceMigration<'a> {
    /// Collects the in-use device pages among `src.len()` frames from `first_pfn`, unmapping them
    /// from every process.
    ///
    /// # Safety
    ///
    /// The frames are device-private pages of a live pagemap of this driver.
    pub(crate) unsafe fn collect(
        first_pfn: usize,
        src: &'a mut [usize],
        dst: &'a mut [usize],
    ) -> Self {
        let arrays = Arrays::new(src, dst);
        // SAFETY: By the function's contract; the arrays have `len` entries.
        unsafe {
            shim::ps_migrate_device_range(
                arrays.raw_src(),
                first_pfn as c_ulong,
                arrays.len as c_ulong,
            )
        };
        Self { arrays }
    }

    pub(crate) fn src(&self, i: usize) -> MigratePfn {
        self.arrays.src(i)
    }

    /// Whether collected entry `i` still holds a process's data. A folio that has already moved
    /// back to RAM, or never received data, can be collected in the moment before its last
    /// reference drops; it must not be moved (or counted) again.
    pub(crate) fn holds_data(&self, i: usize) -> bool {
        self.arrays.source_page(i).is_some_and(|page| {
            // SAFETY: A collected entry names a device page the migration holds locked.
            unsafe { shim::ps_device_folio_holds_data(page.as_raw()) }
        })
    }

    /// The linear page index of collected entry `i`'s folio (an anonymous folio's `index`): with
    /// a VMA's [`anon_pgoff`], where that VMA maps it.
    pub(crate) fn linear_index(&self, i: usize) -> Option<usize> {
        let page = self.arrays.source_page(i)?;
        // SAFETY: A collected entry names a device page the migration holds locked.
        Some(unsafe { shim::ps_folio_index(page.as_raw()) } as usize)
    }

    pub(crate) fn set_dst(&mut self, i: usize, page: LockedPage) {
        self.arrays.set_dst(i, Destination::Ram(page));
    }

    /// Moves every entry that has a destination.
    pub(crate) fn commit(self) -> Committed<'a> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The arrays were filled by `collect`.
        unsafe {
            shim::ps_migrate_device_pages(
                this.arrays.raw_src(),
                this.arrays.raw_dst(),
                this.arrays.len as c_ulong,
            )
        };
        Committed {
            kind: Kind::Device,
            // SAFETY: `this` is never used or dropped again.
            arrays: unsafe { core::ptr::read(&this.arrays) },
        }
    }
}

impl Drop for DeviceMigration<'_> {
    fn drop(&mut self) {
        self.arrays.cancel();
        // SAFETY: Finalizing a cancelled, uncommitted migration restores the pages and releases
        // the destinations.
        unsafe {
            shim::ps_migrate_device_finalize(
                self.arrays.raw_src(),
                self.arrays.raw_dst(),
                self.arrays.len as c_ulong,
            )
        };
    }
}

enum Kind {
    Vma(MigrateVmaRaw),
    Device,
}

/// A committed migration: shows which entries moved; finalizes on drop.
pub(crate) struct Committed<'a> {
    kind: Kind,
    arrays: Arrays<'a>,
}

impl Committed<'_> {
    /// Whether entry `i` was given a destination and moved there.
    pub(crate) fn moved(&self, i: usize) -> bool {
        self.arrays.dst(i).pfn().is_some() && self.arrays.src(i).migrates()
    }
}

impl Drop for Committed<'_> {
    fn drop(&mut self) {
        match &mut self.kind {
            // SAFETY: `raw` was set up and committed; this is its one finalize.
            Kind::Vma(raw) => unsafe { shim::ps_migrate_vma_finalize(raw) },
            // SAFETY: The arrays were collected and committed; this is their one finalize.
            Kind::Device => unsafe {
                shim::ps_migrate_device_finalize(
                    self.arrays.raw_src(),
                    self.arrays.raw_dst(),
                    self.arrays.len as c_ulong,
                )
            },
        }
    }
}

/// Every process's address space in turn, each with a user reference: how eviction finds the
/// mappings of a device folio, as modules have no reverse map.
pub(crate) struct ProcessMms {
    /// The thread-group id to look from.
    next: c_int,
}

impl ProcessMms {
    pub(crate) fn new() -> Self {
        Self { next: 1 }
    }
}

impl Iterator for ProcessMms {
    type Item = ARef<MmWithUser>;

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: `next` is a valid in/out pointer.
        let raw = unsafe { shim::ps_next_process_mm(&mut self.next) };
        let mm = NonNull::new(raw.cast::<MmWithUser>())?;
        // SAFETY: `ps_next_process_mm` returned an mm with an `mm_users` reference, which we now
        // own; `MmWithUser` is a transparent wrapper of `mm_struct`.
        Some(unsafe { ARef::from_raw(mm) })
    }
}

/// An mm whose mmap lock is held for reading, for going through its VMAs in address order.
pub(crate) struct LockedMm<'a> {
    mm: &'a MmWithUser,
    _guard: MmapReadGuard<'a>,
}

impl<'a> LockedMm<'a> {
    pub(crate) fn lock(mm: &'a MmWithUser) -> Self {
        Self {
            mm,
            _guard: mm.mmap_read_lock(),
        }
    }

    /// The first VMA that ends above `addr`, if any.
    pub(crate) fn vma_from(&self, addr: usize) -> Option<&VmaRef> {
        // SAFETY: `self.mm` is a live mm (a user reference) whose mmap lock `self` holds.
        let vma = unsafe { bindings::find_vma(self.mm.as_raw(), addr as c_ulong) };
        if vma.is_null() {
            return None;
        }
        // SAFETY: A VMA of an mm stays valid while its mmap lock is held, here for the borrow of
        // `self`.
        Some(unsafe { VmaRef::from_raw(vma) })
    }
}

/// The linear page index where `vma`'s anonymous folios start: the one mapped at page `k` of the
/// VMA has index `anon_pgoff + k`. `None` when the VMA has no anonymous folios.
pub(crate) fn anon_pgoff(vma: &VmaRef) -> Option<usize> {
    let mut pgoff: c_ulong = 0;
    // SAFETY: `vma` is valid while borrowed (its mm's mmap lock is held); `pgoff` is a valid
    // out-pointer.
    let anon = unsafe { shim::ps_vma_anon_pgoff(vma.as_ptr(), &mut pgoff) };
    anon.then_some(pgoff as usize)
}

/// A CPU fault on a device-private page, as `migrate_to_ram` receives it.
pub(crate) struct Fault<'a> {
    vmf: NonNull<bindings::vm_fault>,
    _fault: PhantomData<&'a ()>,
}

/// The device page a fault is on, locked by the core for the fault's duration.
pub(crate) struct FaultPage<'a> {
    page: NonNull<bindings::page>,
    _fault: PhantomData<&'a ()>,
}

impl<'a> Fault<'a> {
    /// # Safety
    ///
    /// `vmf` is the fault `migrate_to_ram` was called with, valid for `'a`.
    pub(crate) unsafe fn from_raw(vmf: *mut bindings::vm_fault) -> Option<Self> {
        Some(Self {
            vmf: NonNull::new(vmf)?,
            _fault: PhantomData,
        })
    }

    /// The VMA the fault is in; the core keeps it locked while the fault is handled.
    pub(crate) fn vma(&self) -> &'a VmaRef {
        // SAFETY: `vmf` is valid for `'a`, and the core holds the mmap lock (or the VMA lock)
        // during `migrate_to_ram`.
        unsafe { VmaRef::from_raw((*self.vmf.as_ptr()).__bindgen_anon_1.vma) }
    }

    /// The faulting user address.
    pub(crate) fn address(&self) -> usize {
        // SAFETY: `vmf` is valid for `'a`.
        unsafe { (*self.vmf.as_ptr()).__bindgen_anon_1.address }
    }

    /// Whether the fault is on a device-private PMD: one entry mapping a whole 2 MiB folio. (A
    /// huge folio mapped by PTEs, after a partial unmap, faults as single pages.) Such a fault
    /// leaves no PTE (`do_huge_pmd_device_private`).
    pub(crate) fn on_huge_entry(&self) -> bool {
        // SAFETY: `vmf` is valid for `'a`.
        unsafe { (*self.vmf.as_ptr()).pte.is_null() }
    }

    /// The device page the fault is on (the core always passes one).
    pub(crate) fn page(&self) -> Option<FaultPage<'a>> {
        // SAFETY: `vmf` is valid for `'a`; the core passes a device-private page.
        let page = unsafe { (*self.vmf.as_ptr()).page };
        Some(FaultPage {
            page: NonNull::new(page)?,
            _fault: PhantomData,
        })
    }
}

impl FaultPage<'_> {
    /// The pagemap the page belongs to (`None` if it were not device-private, which the core
    /// rules out).
    pub(crate) fn pagemap(&self) -> Option<NonNull<c_void>> {
        // SAFETY: The page is locked and referenced by the core during the fault.
        let pgmap = unsafe { shim::ps_device_private_pgmap(self.page.as_ptr()) };
        NonNull::new(pgmap)
    }

    /// The page's frame.
    pub(crate) fn pfn(&self) -> usize {
        // SAFETY: The page is locked and referenced by the core during the fault.
        unsafe { shim::ps_page_to_pfn(self.page.as_ptr()) as usize }
    }
}

/// A memory stall that pressure stall information (PSI) counts while this lives: a task waiting
/// for its page to come back from VRAM, as it would for a swap-in.
pub(crate) struct MemStall(c_ulong);

impl MemStall {
    pub(crate) fn begin() -> Self {
        let mut flags = 0;
        // SAFETY: `flags` is the caller's storage for the matching `ps_memstall_leave`.
        unsafe { shim::ps_memstall_enter(&mut flags) };
        Self(flags)
    }
}

impl Drop for MemStall {
    fn drop(&mut self) {
        // SAFETY: `self.0` holds what `ps_memstall_enter` stored, in the same task.
        unsafe { shim::ps_memstall_leave(&mut self.0) };
    }
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_mm)]
mod tests {
    use super::*;

    #[test]
    fn huge_folio_is_the_kernels_pmd_folio() {
        assert_eq!(HUGE_PAGES, bindings::HPAGE_PMD_NR as usize);
        assert_eq!(HUGE_ORDER, bindings::HPAGE_PMD_ORDER);
        assert_eq!(1usize << HUGE_ORDER, HUGE_PAGES);
    }

    #[test]
    fn a_destination_names_its_page_frame() {
        // A page frame with its top bit set still round-trips: the shift leaves it room.
        for pfn in [
            0,
            1,
            0x12_3456,
            (1usize << (usize::BITS - MIGRATE_PFN_SHIFT)) - 1,
        ] {
            let entry = MigratePfn::destination(pfn, 0, true);
            assert!(entry.pfn() == Some(pfn));
            assert!(entry.writable());
            assert!(!entry.huge());
            assert!(!entry.migrates());
        }
    }

    #[test]
    fn a_destination_says_writable_and_huge() {
        let entry = MigratePfn::destination(0x4_0000, HUGE_ORDER, false);
        assert!(entry.pfn() == Some(0x4_0000));
        assert!(!entry.writable());
        assert!(entry.huge());
        // The layout `migrate_pfn()` (include/linux/migrate.h) gives, plus the flags.
        assert_eq!(entry.0, (0x4_0000 << 6) | 1 | (1 << 4));
        assert_eq!(
            MigratePfn::destination(3, 0, true).0,
            (3 << 6) | 1 | (1 << 3)
        );
    }

    #[test]
    fn a_source_entry_decodes_its_flags() {
        // What `migrate_vma_setup` leaves: no page (a hole or a refused page) has no frame.
        assert!(MigratePfn(0).pfn().is_none());
        assert!(!MigratePfn(0).migrates());
        let hole = MigratePfn(MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND);
        assert!(hole.pfn().is_none());
        assert!(hole.migrates());
        assert!(hole.huge());
        let page = MigratePfn((77 << 6) | 1 | (1 << 1) | (1 << 3));
        assert!(page.pfn() == Some(77));
        assert!(page.migrates());
        assert!(page.writable());
        assert!(!page.huge());
    }
}
