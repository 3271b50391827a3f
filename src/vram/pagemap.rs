// SPDX-License-Identifier: GPL-2.0

//! The `MEMORY_DEVICE_PRIVATE` pagemap of one GPU and its callbacks.
//!
//! The pagemap gives each VRAM page a `struct page` in a physical range that is claimed from the
//! free address space (`request_free_mem_region`), never the BAR itself: device-private pages are
//! not addressable by the CPU, and their struct pages must not alias anything that is.

use crate::{
    migrate,
    mm::Fault,
    shim,
    stats::Counter,
    vram::Vram, //
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    types::Opaque, //
};

/// What the C shim fills in: the pagemap and the physical range it occupies.
#[repr(C)]
struct Raw {
    pgmap: bindings::dev_pagemap,
    res: *mut c_void,
}

/// A registered device-private pagemap; unregistered on drop, which waits for every page of it
/// to be free (so everything must have been evicted first).
///
/// # Invariants
///
/// `raw` was registered by `ps_pagemap_create` at this address and stays there (pinned).
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct Pagemap {
    #[pin]
    raw: Opaque<Raw>,
}

// SAFETY: The kernel synchronizes all use of a registered pagemap; Rust only reads its range.
unsafe impl Send for Pagemap {}
// SAFETY: As above.
unsafe impl Sync for Pagemap {}

static OPS: bindings::dev_pagemap_ops = bindings::dev_pagemap_ops {
    folio_free: Some(folio_free),
    migrate_to_ram: Some(migrate_to_ram),
    memory_failure: None,
    folio_split: Some(folio_split),
};

impl Pagemap {
    /// Registers a pagemap of `size` bytes of device pages, named `name` in `/proc/iomem`.
    ///
    /// The pagemap must only be created inside a [`Vram`] (the callbacks find it from there).
    pub(crate) fn new(size: u64, name: &'static CStr) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            raw <- Opaque::try_ffi_init(move |slot: *mut Raw| {
                // SAFETY: `slot` is pinned memory for a `Raw`, which stays registered at this
                // address until `drop`; `OPS` and `name` are static.
                kernel::error::to_result(unsafe {
                    shim::ps_pagemap_create(
                        (&raw mut (*slot).pgmap).cast(),
                        &OPS,
                        crate::mm::owner(),
                        size,
                        name.as_char_ptr(),
                        &raw mut (*slot).res,
                    )
                })
            }),
        })
    }

    fn pgmap(&self) -> NonNull<c_void> {
        // SAFETY: `raw` is valid; taking a field address does not read it, and the address of a
        // field of a live object is not null.
        unsafe { NonNull::new_unchecked((&raw mut (*self.raw.get()).pgmap).cast()) }
    }

    /// The pagemap as the kernel knows it (what `page_pgmap` of its pages returns).
    pub(crate) fn as_ptr(&self) -> NonNull<c_void> {
        self.pgmap()
    }

    /// The page frame of device page 0.
    pub(crate) fn first_pfn(&self) -> usize {
        // SAFETY: The pagemap is registered (type invariant).
        unsafe { shim::ps_pagemap_first_pfn(self.pgmap().as_ptr()) as usize }
    }
}

#[pinned_drop]
impl PinnedDrop for Pagemap {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The pagemap was registered (type invariant) and is unregistered once, here.
        unsafe { shim::ps_pagemap_remove(self.pgmap().as_ptr(), (*self.raw.get()).res) };
    }
}

/// The [`Vram`] a pagemap pointer (from `page_pgmap`) belongs to.
///
/// # Safety
///
/// `pgmap` is the pagemap of a live `Vram`: the kernel passes it for a page of ours, and a
/// pagemap stays registered, its `Vram` alive, while any of its pages is in use.
pub(crate) unsafe fn vram_of<'a>(pgmap: NonNull<c_void>) -> &'a Vram {
    // `Pagemap` is transparent over `Opaque<Raw>` whose first field is the `dev_pagemap`.
    let pagemap = pgmap.as_ptr().cast::<Pagemap>();
    // SAFETY: By the function's contract `pagemap` is the `pagemap` field of a live `Vram`.
    unsafe { &*kernel::container_of!(pagemap, Vram, pagemap) }
}

/// The kernel gives a device page back: it returns to its pool. Runs in atomic context.
///
/// # Safety
///
/// Called by the kernel, for a folio of one of our pagemaps.
unsafe extern "C" fn folio_free(folio: *mut bindings::folio) {
    // SAFETY: The kernel passes a folio of one of our pagemaps, still registered.
    let (pgmap, pfn, order) = unsafe {
        (
            shim::ps_folio_pgmap(folio),
            shim::ps_folio_pfn(folio),
            shim::ps_folio_order(folio),
        )
    };
    let Some(pgmap) = NonNull::new(pgmap) else {
        return;
    };
    // SAFETY: The folio is ours, so its pagemap belongs to a live `Vram`.
    unsafe { vram_of(pgmap) }.folio_freed(pfn, order);
}

/// The kernel splits a huge device folio into single pages (a partial unmap, or a move that found
/// no huge page on the other side): called for each new folio, then once with `tail` null.
///
/// # Safety
///
/// Called by the kernel, for a folio of one of our pagemaps.
unsafe extern "C" fn folio_split(head: *mut bindings::folio, tail: *mut bindings::folio) {
    if !tail.is_null() {
        // SAFETY: The kernel passes the folio being split and a new folio carved from it.
        unsafe { shim::ps_folio_split_copy(head, tail) };
        return;
    }
    // SAFETY: As above.
    let Some(pgmap) = NonNull::new(unsafe { shim::ps_folio_pgmap(head) }) else {
        return;
    };
    // SAFETY: The folio is ours, so its pagemap belongs to a live `Vram`.
    unsafe { vram_of(pgmap) }.count(Counter::ThpSplits, 1);
}

/// The CPU touched a page that is in VRAM.
///
/// # Safety
///
/// Called by the kernel with the fault being handled, on a page of one of our pagemaps.
unsafe extern "C" fn migrate_to_ram(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: The kernel passes the fault being handled, valid for this call.
    match unsafe { Fault::from_raw(vmf) } {
        Some(fault) => migrate::fault(&fault),
        None => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
    }
}
