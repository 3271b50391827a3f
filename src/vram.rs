// SPDX-License-Identifier: GPL-2.0

//! VRAM as the CPU reaches it: the write-combined BAR mapping.

mod bar;

pub(crate) use bar::WcBar;
