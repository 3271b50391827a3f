// SPDX-License-Identifier: GPL-2.0

//! A PCI memory BAR requested and mapped write-combined.
//!
//! `kernel::pci::Bar` maps with `pci_iomap` (uncached); VRAM wants write-combining so that CPU
//! stores stream over PCIe in bursts.

use super::BarInfo;
use crate::bus;
use core::ptr::NonNull;
use kernel::{
    bindings,
    device::Bound,
    page::PAGE_SIZE,
    pci,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
};

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

    /// The mapping of the whole pages `offset..offset + len` of the BAR (`None`, with a warning,
    /// if a bug put them elsewhere or unaligned). Valid while `self` lives.
    pub(crate) fn pages(&self, offset: u64, len: usize) -> Option<*mut u8> {
        let inside = offset % PAGE_SIZE as u64 == 0
            && offset
                .checked_add(len as u64)
                .is_some_and(|end| end <= self.info.len);
        if kernel::warn_on!(!inside) {
            return None;
        }
        // CAST: `offset` is below the BAR length, which the mapping covers, so it fits `usize`.
        Some(self.addr.as_ptr().wrapping_add(offset as usize))
    }

    /// Zeroes `len` bytes at BAR offset `offset` (page-aligned, inside the BAR) and makes the
    /// stores visible. The caller owns those VRAM pages (free pages of a closed pool).
    pub(crate) fn zero(&self, offset: u64, len: usize) {
        let Some(io) = self.pages(offset, len) else {
            return;
        };
        // SAFETY: `io` maps `len` bytes inside the BAR (checked by `pages`) that nothing else
        // uses.
        unsafe {
            kernel::bindings::memset_io(io.cast(), 0, len);
            crate::shim::ps_wmb();
        }
    }

    /// The mapping of `len` bytes at BAR offset `offset`, for a caller that only borrows `self`
    /// (the self-checks; what outlives the borrow takes a [`WcWindow`]). Valid while `self` lives.
    pub(crate) fn offset_ptr(&self, offset: u64, len: u64) -> Result<*mut u8> {
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.info.len)
        {
            return Err(EINVAL);
        }
        // CAST: `offset` is below the BAR length, which the mapping covers, so it fits `usize`.
        Ok(self.addr.as_ptr().wrapping_add(offset as usize))
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

/// Bytes of a [`WcBar`] the driver keeps for itself (Pascal's USERD), holding the BAR mapped for
/// as long as it lives: the mapping cannot go while the window is in use, whatever owns it.
///
/// # Invariants
///
/// `offset..offset + len` lies inside `bar`'s mapping.
pub(crate) struct WcWindow {
    bar: Arc<WcBar>,
    offset: usize,
    len: usize,
}

impl WcWindow {
    /// The `len` bytes of `bar` at BAR offset `offset`.
    pub(crate) fn new(bar: &Arc<WcBar>, offset: u64, len: u64) -> Result<Self> {
        if offset.checked_add(len).is_none_or(|end| end > bar.info.len) {
            return Err(EINVAL);
        }
        // INVARIANT: Checked above; the mapping covers the whole BAR.
        Ok(Self {
            bar: bar.clone(),
            offset: usize::try_from(offset).map_err(|_| EINVAL)?,
            len: usize::try_from(len).map_err(|_| EINVAL)?,
        })
    }

    /// Writes the 32-bit word at byte `at` of the window, if it is inside it and aligned.
    pub(crate) fn write32(&self, at: usize, value: u32) -> Option<()> {
        if at % 4 != 0 || at.checked_add(4).is_none_or(|end| end > self.len) {
            return None;
        }
        let addr = self.bar.addr.as_ptr().wrapping_add(self.offset + at);
        // SAFETY: `addr` is an aligned word inside the mapping (the type invariant and the check
        // above), which `self.bar` keeps alive.
        unsafe { bindings::writel(value, addr.cast()) };
        Some(())
    }
}
