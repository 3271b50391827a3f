// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C shim in `rust/ps_shim.c`.
//!
//! Only the thin wrappers (`params`, `bus`) call these; everything above them is safe Rust.
//! The C prototypes are in `rust/ps_shim.h`.

use kernel::ffi::{c_int, c_uint, c_ulong, c_void};

// Pointers to C structs are passed as `c_void`: bindgen's layouts of them are not FFI-safe by
// rustc's lint, and the shim only forwards them.

extern "C" {
    pub(crate) fn ps_param_bar_index() -> c_int;
    pub(crate) fn ps_param_pool_size_mb() -> c_uint;
    pub(crate) fn ps_param_migration_threshold() -> c_uint;
    pub(crate) fn ps_param_enable_dma() -> bool;
    pub(crate) fn ps_pci_resource_flags(pdev: *mut c_void, bar: c_int) -> c_ulong;
}
