// SPDX-License-Identifier: GPL-2.0

//! Linux 7.2: `probe` gets a plain reference to the ID's data, a device-managed BAR is a
//! `Devres<Bar<'static>>` (7.3 named it `DevresBar`), a coherent buffer's bus address is its
//! `dma_handle` (7.3: `dma_address`), and `pci_device_table!` takes a name for the modpost alias
//! and data for every ID.

use kernel::{
    devres::Devres,
    dma::{
        Coherent,
        DmaAddress, //
    },
    pci, //
};

/// The ID-table argument of `pci::Driver::probe`: 7.2 always has one (an ID added through
/// `new_id` gets the first entry's).
pub(crate) type ProbeInfo<'a, T> = &'a T;

/// A BAR mapping that lives in the driver's data, revoked when the device is unbound.
pub(crate) type DevresBar<const SIZE: usize> = Devres<pci::Bar<'static, SIZE>>;

/// The bus address of a coherent DMA buffer, for the device.
#[inline]
pub(crate) fn dma_address(mem: &Coherent<[u32]>) -> DmaAddress {
    mem.dma_handle()
}

/// `const $name`: the PCI ID table of `$id`s (`pci::DeviceId`, no per-ID data) with its modpost
/// alias (the module's `pci:` aliases). 7.2 stores each entry's index as its driver data; the
/// first is zero, which `new_id` writes by default, so dynamic IDs are accepted as on 7.3.
macro_rules! pci_id_table {
    ($name:ident, [$($id:expr),* $(,)?]) => {
        kernel::pci_device_table!($name, MODULE_PCI_TABLE, (), [$(($id, ())),*]);
    };
}
pub(crate) use pci_id_table;
