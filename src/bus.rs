// SPDX-License-Identifier: GPL-2.0

//! PCI helpers the `kernel` crate does not offer yet: BAR flags, a balanced device enable and a
//! BAR mapped write-combined.

mod wc_bar;

pub(crate) use wc_bar::{
    WcBar,
    WcWindow, //
};

use crate::shim;
use kernel::{
    bindings,
    device::Bound,
    pci,
    prelude::*, //
};

/// The raw `struct pci_dev` behind a [`pci::Device`].
pub(crate) fn raw<Ctx: kernel::device::DeviceContext>(
    pdev: &pci::Device<Ctx>,
) -> *mut bindings::pci_dev {
    // CAST: `pci::Device` is `#[repr(transparent)]` over `Opaque<bindings::pci_dev>`, which is
    // itself transparent over the C struct, so a pointer to one is a pointer to the other.
    core::ptr::from_ref(pdev).cast_mut().cast()
}

/// Whether the device still answers on the bus (its config space does not read all ones).
pub(crate) fn is_present<Ctx: kernel::device::DeviceContext>(pdev: &pci::Device<Ctx>) -> bool {
    // SAFETY: `pdev` is a live PCI device.
    unsafe { shim::ps_pci_device_present(raw(pdev)) }
}

/// Whether PCI error recovery has the device's channel offline: frozen (a fatal error, the link
/// perhaps down) until the recovery resumes it, or failed for good. The PCI core sets this before
/// it calls the driver's `error_detected`; a memory read, no bus access.
pub(crate) fn channel_offline<Ctx: kernel::device::DeviceContext>(pdev: &pci::Device<Ctx>) -> bool {
    // SAFETY: `pdev` is a live PCI device.
    unsafe { shim::ps_pci_channel_offline(raw(pdev)) }
}

/// What a PCI BAR is, as the PCI core sized it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BarKind {
    /// Not implemented (or the upper half of a 64-bit BAR).
    Absent,
    /// An I/O port BAR.
    Io,
    /// A memory BAR.
    Memory {
        /// Decodes 64-bit addresses.
        is_64bit: bool,
        /// Prefetchable (may be mapped write-combined).
        prefetchable: bool,
    },
}

impl kernel::fmt::Display for BarKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Absent => f.write_str("not implemented"),
            Self::Io => f.write_str("I/O ports"),
            Self::Memory {
                is_64bit,
                prefetchable,
            } => write!(
                f,
                "{}-bit{} memory",
                if *is_64bit { 64 } else { 32 },
                if *prefetchable { " prefetchable" } else { "" }
            ),
        }
    }
}

/// One BAR of a device: index, kind, bus address and length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BarInfo {
    pub(crate) index: u32,
    pub(crate) kind: BarKind,
    pub(crate) start: u64,
    pub(crate) len: u64,
}

impl BarInfo {
    /// Describes BAR `index` (0-5) of `pdev`.
    pub(crate) fn read(pdev: &pci::Device<Bound>, index: u32) -> Result<Self> {
        let start = pdev.resource_start(index)?;
        let len = pdev.resource_len(index)?;
        // SAFETY: `raw(pdev)` is a valid `struct pci_dev` for as long as `pdev` is borrowed; the
        // PCI core set its resources up before probe and does not change them while bound.
        let resources = unsafe { &(*raw(pdev)).resource };
        // `pci_resource_flags()`; `resource_len` above has checked that `index` is a BAR number.
        let flags = resources.get(index as usize).ok_or(EINVAL)?.flags;
        // CAST: `c_ulong` is never wider than 64 bits.
        let flags = flags as u64;
        let kind = if len == 0 {
            BarKind::Absent
        } else if flags & u64::from(bindings::IORESOURCE_IO) != 0 {
            BarKind::Io
        } else if flags & u64::from(bindings::IORESOURCE_MEM) != 0 {
            BarKind::Memory {
                is_64bit: flags & u64::from(bindings::IORESOURCE_MEM_64) != 0,
                prefetchable: flags & u64::from(bindings::IORESOURCE_PREFETCH) != 0,
            }
        } else {
            BarKind::Absent
        };
        Ok(Self {
            index,
            kind,
            start,
            len,
        })
    }

    /// Describes BARs 0-5 of `pdev`.
    pub(crate) fn read_all(pdev: &pci::Device<Bound>) -> Result<[Self; 6]> {
        Ok([
            Self::read(pdev, 0)?,
            Self::read(pdev, 1)?,
            Self::read(pdev, 2)?,
            Self::read(pdev, 3)?,
            Self::read(pdev, 4)?,
            Self::read(pdev, 5)?,
        ])
    }

    /// Whether this is a 64-bit prefetchable memory BAR: the kind that exposes VRAM.
    pub(crate) fn is_vram_like(&self) -> bool {
        self.kind
            == BarKind::Memory {
                is_64bit: true,
                prefetchable: true,
            }
    }
}

/// Memory decoding enabled for as long as this lives; disabled again on drop.
///
/// The `kernel` crate's `enable_device_mem` has no matching disable, which would leave the
/// device's enable count raised after unbind.
pub(crate) struct EnabledDevice<'a> {
    pdev: &'a pci::Device<Bound>,
}

impl<'a> EnabledDevice<'a> {
    /// Enables memory decoding (and wakes the device) for the lifetime of the returned guard.
    pub(crate) fn new(pdev: &'a pci::Device<Bound>) -> Result<Self> {
        // SAFETY: `raw(pdev)` is a valid, bound `struct pci_dev`.
        kernel::error::to_result(unsafe { bindings::pci_enable_device_mem(raw(pdev)) })?;
        Ok(Self { pdev })
    }
}

impl Drop for EnabledDevice<'_> {
    fn drop(&mut self) {
        // SAFETY: `new` enabled the device once; this drops exactly that enable.
        unsafe { bindings::pci_disable_device(raw(self.pdev)) };
    }
}

/// `PCI_COMMAND` and its Bus Master Enable bit (`include/uapi/linux/pci_regs.h`).
const PCI_COMMAND: i32 = 0x04;
const PCI_COMMAND_MASTER: u16 = 0x4;

/// Lets the device master the bus (its engines reach system memory only so) and reads the bit
/// back from config space: `true` only if it is set.
pub(crate) fn set_bus_master<Ctx: kernel::device::DeviceContext>(pdev: &pci::Device<Ctx>) -> bool {
    // SAFETY: `raw(pdev)` is a valid `struct pci_dev`; callers are probe and the channel of a GPU
    // still bound (its resume), so the device is ours to program.
    unsafe { bindings::pci_set_master(raw(pdev)) };
    bus_master_enabled(pdev)
}

/// Whether config space shows Bus Master Enable set.
pub(crate) fn bus_master_enabled<Ctx: kernel::device::DeviceContext>(
    pdev: &pci::Device<Ctx>,
) -> bool {
    let mut command: u16 = 0;
    // SAFETY: `raw(pdev)` is a valid `struct pci_dev`; `command` outlives the call.
    let ret = unsafe { bindings::pci_read_config_word(raw(pdev), PCI_COMMAND, &mut command) };
    ret == 0 && command & PCI_COMMAND_MASTER != 0
}

/// Stops the device mastering the bus: after this it cannot reach system memory.
pub(crate) fn clear_bus_master<Ctx: kernel::device::DeviceContext>(pdev: &pci::Device<Ctx>) {
    // SAFETY: `raw(pdev)` is a valid `struct pci_dev`.
    unsafe { bindings::pci_clear_master(raw(pdev)) };
}

/// A few bytes of a BAR mapped uncached without claiming the region, for probe's checks before
/// the BAR is mapped for good. Unmapped on drop.
pub(crate) struct BarWindow<'a> {
    pdev: &'a pci::Device<Bound>,
    addr: core::ptr::NonNull<u8>,
    len: usize,
}

impl<'a> BarWindow<'a> {
    /// Maps `len` bytes of BAR `bar` from byte `offset`.
    pub(crate) fn new(
        pdev: &'a pci::Device<Bound>,
        bar: i32,
        offset: u64,
        len: usize,
    ) -> Result<Self> {
        let offset = usize::try_from(offset).map_err(|_| EINVAL)?;
        // SAFETY: `raw(pdev)` is a valid, bound `struct pci_dev`; the PCI core checks `bar`,
        // `offset` and `len` against the BAR and returns null when they do not fit.
        let addr = unsafe { bindings::pci_iomap_range(raw(pdev), bar, offset, len) };
        let addr = core::ptr::NonNull::new(addr.cast::<u8>()).ok_or(ENOMEM)?;
        Ok(Self { pdev, addr, len })
    }

    /// The 32-bit word at byte `offset`, if it is inside the window.
    pub(crate) fn read32(&self, offset: usize) -> Option<u32> {
        if offset % 4 != 0 || offset + 4 > self.len {
            return None;
        }
        // SAFETY: `offset` is inside the mapping (checked above) and 4-byte aligned.
        Some(unsafe { bindings::readl(self.addr.as_ptr().wrapping_add(offset).cast()) })
    }

    /// Writes the 32-bit word at byte `offset`, if it is inside the window.
    pub(crate) fn write32(&self, offset: usize, value: u32) -> Option<()> {
        if offset % 4 != 0 || offset + 4 > self.len {
            return None;
        }
        // SAFETY: As in `read32`.
        unsafe { bindings::writel(value, self.addr.as_ptr().wrapping_add(offset).cast()) };
        Some(())
    }
}

impl Drop for BarWindow<'_> {
    fn drop(&mut self) {
        // SAFETY: `addr` came from `pci_iomap_range` on this device and is unmapped once.
        unsafe { bindings::pci_iounmap(raw(self.pdev), self.addr.as_ptr().cast()) };
    }
}

/// Grows BAR `bar` through PCIe Resizable BAR to the smallest size it supports that is at least
/// `bytes` (else its largest): its length after, which may be unchanged; `None` without the
/// capability, or the PCI core's error (e.g. no room in the bridge window above it). Only before
/// the BAR is requested or mapped.
pub(crate) fn resize_bar(pdev: &pci::Device<Bound>, bar: u32, bytes: u64) -> Result<Option<u64>> {
    let mut len = 0u64;
    // SAFETY: `raw(pdev)` is a valid, bound `struct pci_dev`; the caller has neither requested
    // nor mapped the BAR; `len` outlives the call.
    let ret = unsafe { shim::ps_pci_rebar_cover(raw(pdev), bar as i32, bytes, &mut len) };
    // CAST: Errno values are small positive numbers. (`kernel::error::code::EOPNOTSUPP` is not in
    // Linux 7.2's kernel crate.)
    if ret == -(bindings::EOPNOTSUPP as i32) {
        return Ok(None);
    }
    kernel::error::to_result(ret).map(|()| Some(len))
}
