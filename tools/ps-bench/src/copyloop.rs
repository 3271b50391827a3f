// SPDX-License-Identifier: GPL-2.0

//! The module's copy loops, compiled here from the same source (`src/copy/simd.rs`, as
//! `bench/copy` does) and run in user space, so that under QEMU `-icount` their instructions per
//! page are measured apart from the rest of a migration: the part a board's copy engine takes over.
//! A loop is a straight `asm!` block, so it runs the same instructions here as in the kernel.

#[path = "../../../src/copy/simd.rs"]
mod simd;

use pseudoscopic::mem::{Buf, PAGE};
use serde::Serialize;
use std::time::Instant;

/// Instructions (under `-icount shift=0`: nanoseconds) per 4 KiB page of each direction's loop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Loops {
    pub to_vram: f64,
    pub from_vram: f64,
}

impl Loops {
    /// The loop a page copy of `op` runs, if it copies.
    pub fn per_page(&self, to_vram: Option<bool>) -> Option<f64> {
        to_vram.map(|to| if to { self.to_vram } else { self.from_vram })
    }
}

/// A copy loop of `simd`: destination, source, bytes.
type CopyLoop = unsafe fn(*mut u8, *const u8, usize);

/// Pages each loop copies while timed: enough that the clock's own cost disappears.
const PAGES: usize = 1024;

/// Times `copy` over [`PAGES`] pages, a call per page as a batch of single pages makes.
fn per_page(copy: CopyLoop) -> Result<f64, String> {
    let src = Buf::anon(PAGES)?;
    let dst = Buf::anon(PAGES)?;
    src.fill_all(1);
    dst.fill_all(2);
    let (s, d) = (src.addr() as *const u8, dst.addr() as *mut u8);
    let t = Instant::now();
    for page in 0..PAGES {
        // SAFETY: Both buffers are ours, page-aligned, apart, and `PAGE` bytes of each page are
        // there; `PAGE` is a multiple of `STEP`; the caller checked the CPU has the extensions.
        unsafe { copy(d.add(page * PAGE), s.add(page * PAGE), PAGE) };
    }
    simd::store_fence();
    let ns = t.elapsed().as_secs_f64() * 1e9 / PAGES as f64;
    dst.verify_all(1)?;
    Ok(ns)
}

/// The loops of `copy_path` (the module's `stats/copy_path`), or `None` for `io`, whose
/// `memcpy_toio`/`memcpy_fromio` have no user-space twin.
pub fn measure(copy_path: &str) -> Result<Option<Loops>, String> {
    const _: () = assert!(PAGE % simd::STEP == 0);
    let (to, from): (CopyLoop, CopyLoop) = match copy_path {
        "avx2" => (simd::to_wc_avx, simd::from_wc_avx2),
        "sse4.1" => (simd::to_wc_sse2, simd::from_wc_sse41),
        _ => return Ok(None),
    };
    Ok(Some(Loops {
        to_vram: per_page(to)?,
        from_vram: per_page(from)?,
    }))
}
