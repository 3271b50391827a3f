// SPDX-License-Identifier: GPL-2.0

//! The few places where the `kernel` crate of the supported Linux series differ, behind one API.
//!
//! Kbuild reads the series of the tree it builds against (`VERSION.PATCHLEVEL` of its Makefile)
//! and passes `--cfg ps_linux_7_2` or `--cfg ps_linux_7_3` to rustc; it refuses any other series.
//! Exactly one of the modules below is compiled, and the rest of the module names only what this
//! file re-exports.

#[cfg(ps_linux_7_2)]
mod v7_2;
#[cfg(ps_linux_7_2)]
pub(crate) use v7_2::*;

#[cfg(ps_linux_7_3)]
mod v7_3;
#[cfg(ps_linux_7_3)]
pub(crate) use v7_3::*;
