// SPDX-License-Identifier: GPL-2.0

//! A PCI memory BAR requested and mapped write-combined.
//!
//! `kernel::pci::Bar` maps with `pci_iomap` (uncached); VRAM wants write-combining so that CPU
//! stores stream over PCIe in bursts.

use crate::{
    bus::{self, BarInfo},
    mm::{LockedPage, SourcePage},
    shim,
};
use core::ptr::NonNull;
use kernel::{bindings, device::Bound, page::PAGE_SIZE, pci, prelude::*, sync::aref::ARef};

/// A BAR's region, requested for this driver and mapped write-combined, released on drop.
///
/// # Invariants
///
/// `addr` is the `pci_iomap_wc` mapping of all `info.len` bytes of BAR `info.index` of `pdev`,
/// whose region this object holds through `pci_request_region`.
pub(crate) struct WcBar {
    pdev: ARef<pci::Device>,
    info: BarInfo,
    addr: NonNull<u8>,
}

// SAFETY: The mapping is plain MMIO, usable from any thread; the pointer is only an address.
unsafe impl Send for WcBar {}
// SAFETY: `WcBar` has no interior mutability of its own; racing accesses to the mapping are
// MMIO accesses, which the hardware orders.
unsafe impl Sync for WcBar {}

impl WcBar {
    /// Requests BAR `info.index` of `pdev` under `name` and maps all of it write-combined.
    pub(crate) fn new(
        pdev: &pci::Device<Bound>,
        info: BarInfo,
        name: &'static CStr,
    ) -> Result<Self> {
        let raw = bus::raw(pdev);
        let index = info.index as i32;
        // SAFETY: `raw` is a valid, bound `struct pci_dev`; `index` is a BAR number (0-5) and `name`
        // is a static string, as `pci_request_region` keeps the pointer.
        kernel::error::to_result(unsafe {
            bindings::pci_request_region(raw, index, name.as_char_ptr())
        })?;
        // SAFETY: As above; a `maxlen` of 0 maps the whole BAR.
        let addr = unsafe { bindings::pci_iomap_wc(raw, index, 0) };
        let Some(addr) = NonNull::new(addr.cast::<u8>()) else {
            // SAFETY: The region was requested above and nothing else holds it.
            unsafe { bindings::pci_release_region(raw, index) };
            return Err(ENOMEM);
        };
        let pdev: &pci::Device = pdev;
        // INVARIANT: The region is held and `addr` maps all of it.
        Ok(Self {
            pdev: pdev.into(),
            info,
            addr,
        })
    }

    /// The BAR this maps.
    pub(crate) fn info(&self) -> &BarInfo {
        &self.info
    }

    /// The mapping of the page at byte `offset`, which must lie wholly inside the BAR.
    fn page_at(&self, offset: u64) -> *mut u8 {
        assert!(offset % PAGE_SIZE as u64 == 0 && offset + PAGE_SIZE as u64 <= self.info.len);
        // CAST: `offset` is below the BAR length, which the mapping covers, so it fits `usize`.
        self.addr.as_ptr().wrapping_add(offset as usize)
    }

    /// Copies a RAM page into the VRAM page at `offset`.
    pub(crate) fn write_page(&self, offset: u64, src: &SourcePage<'_>) {
        let dst = self.page_at(offset);
        // SAFETY: `dst` is a whole page inside the mapping (checked by `page_at`); `src` is a
        // page the caller holds a reference on.
        unsafe { shim::ps_copy_page_to_io(dst.cast(), src.as_raw()) };
    }

    /// Copies the VRAM page at `offset` into a RAM page.
    pub(crate) fn read_page(&self, offset: u64, dst: &LockedPage) {
        let src = self.page_at(offset);
        // SAFETY: As in `write_page`; `dst` is a locked page owned by the caller.
        unsafe { shim::ps_copy_page_from_io(dst.as_raw(), src.cast()) };
    }
}

impl Drop for WcBar {
    fn drop(&mut self) {
        let raw = bus::raw(&self.pdev);
        // SAFETY: By the type invariant `addr` came from `pci_iomap_wc` on this device and the
        // region is held by this object; neither is used after this point.
        unsafe {
            bindings::pci_iounmap(raw, self.addr.as_ptr().cast());
            bindings::pci_release_region(raw, self.info.index as i32);
        }
    }
}
