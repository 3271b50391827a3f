// SPDX-License-Identifier: GPL-2.0

//! The ioctl ABI of `/dev/pseudoscopic`, mirroring `include/uapi/linux/pseudoscopic.h`.

use kernel::{
    ioctl::_IOWR,
    transmute::{AsBytes, FromBytes},
};

const MAGIC: u32 = 0xB9;

/// `PS_DEVICE_ANY`.
pub(crate) const DEVICE_ANY: u32 = u32::MAX;

/// `struct ps_migrate`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Migrate {
    pub(crate) addr: u64,
    pub(crate) length: u64,
    pub(crate) pidfd: i32,
    pub(crate) device: u32,
    pub(crate) flags: u32,
    pub(crate) reserved: u32,
    pub(crate) moved: u64,
    pub(crate) skipped_resident: u64,
    pub(crate) skipped_empty: u64,
    pub(crate) skipped_unmovable: u64,
    pub(crate) skipped_busy: u64,
    pub(crate) skipped_no_space: u64,
}

/// `struct ps_residency`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Residency {
    pub(crate) addr: u64,
    pub(crate) length: u64,
    pub(crate) pidfd: i32,
    pub(crate) device: u32,
    pub(crate) flags: u32,
    pub(crate) reserved: u32,
    pub(crate) pages: u64,
    pub(crate) resident: u64,
}

const _: () = assert!(core::mem::size_of::<Migrate>() == 80);
const _: () = assert!(core::mem::size_of::<Residency>() == 48);

// SAFETY: Plain integers with no padding (asserted sizes): any bytes are a valid value.
unsafe impl FromBytes for Migrate {}
// SAFETY: As above: no padding, so every byte is initialized.
unsafe impl AsBytes for Migrate {}
// SAFETY: As for `Migrate`.
unsafe impl FromBytes for Residency {}
// SAFETY: As for `Migrate`.
unsafe impl AsBytes for Residency {}

pub(crate) const IOC_MIGRATE_TO_DEVICE: u32 = _IOWR::<Migrate>(MAGIC, 1);
pub(crate) const IOC_MIGRATE_TO_RAM: u32 = _IOWR::<Migrate>(MAGIC, 2);
pub(crate) const IOC_RESIDENCY: u32 = _IOWR::<Residency>(MAGIC, 3);
