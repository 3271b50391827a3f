// SPDX-License-Identifier: GPL-2.0

//! User-space side of pseudoscopic: where the module publishes its state, and how to read it.
//!
//! Every path is taken relative to a [`System`] root, so tests can point the tools at a fake tree.

pub mod iomem;
pub mod sysfs;

pub use sysfs::System;

/// The module's name, as in `/sys/module/` and `/proc/iomem`.
pub const MODULE_NAME: &str = "pseudoscopic";
