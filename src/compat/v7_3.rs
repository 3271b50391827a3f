// SPDX-License-Identifier: GPL-2.0

//! Linux 7.3: the `kernel` crate as the rest of the module is written against.

use kernel::{
    dma::{
        Coherent,
        DmaAddress, //
    },
    pci, //
};

/// The ID-table argument of `pci::Driver::probe`: `None` for an ID added through `new_id` whose
/// driver data is zero.
pub(crate) type ProbeInfo<'a, T> = Option<&'a T>;

/// A BAR mapping that lives in the driver's data, revoked when the device is unbound.
pub(crate) type DevresBar<const SIZE: usize> = pci::DevresBar<SIZE>;

/// The bus address of a coherent DMA buffer, for the device.
#[inline]
pub(crate) fn dma_address(mem: &Coherent<[u32]>) -> DmaAddress {
    mem.dma_address()
}

/// `static $name`: the PCI ID table of `$id`s (`pci::DeviceId`, no per-ID data) with its modpost
/// alias (the module's `pci:` aliases).
macro_rules! pci_id_table {
    ($name:ident, [$($id:expr),* $(,)?]) => {
        kernel::pci_device_table!($name, @none, [$($id),*]);
    };
}
pub(crate) use pci_id_table;
