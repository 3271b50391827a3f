// SPDX-License-Identifier: GPL-2.0

//! The ioctl ABI of `/dev/pseudoscopic`: the types and numbers of
//! `include/uapi/linux/pseudoscopic.h`, generated from it (`scripts/gen-abi.sh`).

use kernel::transmute::{
    AsBytes,
    FromBytes, //
};

// Generated code keeps the C names and declares every constant of the header.
#[expect(non_camel_case_types, unreachable_pub, dead_code)]
mod bindings;

/// `PS_DEVICE_ANY`.
pub(crate) const DEVICE_ANY: u32 = bindings::PS_DEVICE_ANY;

/// `struct ps_migrate`.
pub(crate) type Migrate = bindings::ps_migrate;
/// `struct ps_residency`.
pub(crate) type Residency = bindings::ps_residency;

// The structs are plain integers laid out without padding; the header says so for every field.
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

pub(crate) const IOC_MIGRATE_TO_DEVICE: u32 = bindings::PS_IOC_MIGRATE_TO_DEVICE;
pub(crate) const IOC_MIGRATE_TO_RAM: u32 = bindings::PS_IOC_MIGRATE_TO_RAM;
pub(crate) const IOC_RESIDENCY: u32 = bindings::PS_IOC_RESIDENCY;
