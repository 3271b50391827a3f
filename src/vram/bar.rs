// SPDX-License-Identifier: GPL-2.0

//! A PCI memory BAR requested and mapped write-combined.
//!
//! `kernel::pci::Bar` maps with `pci_iomap` (uncached); VRAM wants write-combining so that CPU
//! stores stream over PCIe in bursts.

use crate::bus::{self, BarInfo};
use core::ptr::NonNull;
use kernel::{bindings, device::Bound, pci, prelude::*};

/// A BAR's region, requested for this driver and mapped write-combined, released on drop.
///
/// # Invariants
///
/// `addr` is the `pci_iomap_wc` mapping of all `info.len` bytes of BAR `info.index` of `pdev`,
/// whose region this object holds through `pci_request_region`.
pub(crate) struct WcBar<'a> {
    pdev: &'a pci::Device<Bound>,
    info: BarInfo,
    addr: NonNull<u8>,
}

// SAFETY: The mapping is plain MMIO, usable from any thread; the pointer is only an address.
unsafe impl Send for WcBar<'_> {}
// SAFETY: `WcBar` offers no interior mutability of its own; accesses to the mapping go through
// volatile MMIO accessors that are safe to race at the hardware level.
unsafe impl Sync for WcBar<'_> {}

impl<'a> WcBar<'a> {
    /// Requests BAR `info.index` of `pdev` under `name` and maps all of it write-combined.
    pub(crate) fn new(
        pdev: &'a pci::Device<Bound>,
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
        // INVARIANT: The region is held and `addr` maps all of it.
        Ok(Self { pdev, info, addr })
    }

    /// The BAR this maps.
    pub(crate) fn info(&self) -> &BarInfo {
        &self.info
    }
}

impl Drop for WcBar<'_> {
    fn drop(&mut self) {
        let raw = bus::raw(self.pdev);
        // SAFETY: By the type invariant `addr` came from `pci_iomap_wc` on this device and the
        // region is held by this object; neither is used after this point.
        unsafe {
            bindings::pci_iounmap(raw, self.addr.as_ptr().cast());
            bindings::pci_release_region(raw, self.info.index as i32);
        }
    }
}
