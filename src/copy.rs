// SPDX-License-Identifier: GPL-2.0

//! Page copies between RAM and the write-combined VRAM mapping, a batch at a time.
//!
//! VRAM is mapped write-combined: stores stream out in whole-line bursts, but loads are uncached
//! and cross PCIe one access at a time. So writes use non-temporal vector stores and reads use
//! streaming loads (`movntdqa`), the only loads that fetch a write-combined line at once (as
//! `drivers/gpu/drm/drm_cache.c` does). Vector registers belong to user space unless the kernel
//! saves them first (`kernel_fpu_begin`), which also disables preemption; a batch is copied in
//! sections of at most [`SECTION_BYTES`], each under its own [`FpuSection`], so one migration
//! never holds the CPU for long. Where the FPU cannot be used (or the CPU lacks SSE4.1) the
//! kernel's `memcpy_toio`/`memcpy_fromio` do the work.
//!
//! A batch of at least `migration_threshold` pages goes to the GPU's copy engine instead, when
//! the board has one running (`vram::Batch`); if that fails the CPU copies the batch.

pub(crate) mod simd;

use crate::shim;
use core::{
    marker::PhantomData,
    sync::atomic::{
        AtomicU8,
        Ordering, //
    },
};
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*, //
};

/// Most bytes copied under one FPU section: 64 KiB keeps preemption off for tens of
/// microseconds even at the 0.5 GB/s that boards read through BAR1.
const SECTION_BYTES: usize = 64 * 1024;

/// The copy routine in use, for the whole module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Routine {
    /// 32-byte streaming loads (AVX2) and non-temporal stores (AVX).
    Avx2 = 0,
    /// 16-byte streaming loads (SSE4.1) and non-temporal stores (SSE2).
    Sse41 = 1,
    /// The kernel's `memcpy_toio`/`memcpy_fromio`.
    Io = 2,
}

impl Routine {
    /// The name users give in `cpu_copy=` and read in `stats/copy_path`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Avx2 => "avx2",
            Self::Sse41 => "sse4.1",
            Self::Io => "io",
        }
    }

    /// [`Self::name`] for C.
    pub(crate) fn c_name(self) -> &'static CStr {
        match self {
            Self::Avx2 => c"avx2",
            Self::Sse41 => c"sse4.1",
            Self::Io => c"io",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::Avx2, Self::Sse41, Self::Io]
            .into_iter()
            .find(|r| r.name() == name)
    }

    /// Whether this CPU can run the routine.
    fn supported(self) -> bool {
        match self {
            // SAFETY: The feature checks only read boot CPU capabilities.
            Self::Avx2 => unsafe { shim::ps_cpu_has_avx2() },
            // SAFETY: As above.
            Self::Sse41 => unsafe { shim::ps_cpu_has_sse41() },
            Self::Io => true,
        }
    }

    /// The fastest routine this CPU supports.
    fn best() -> Self {
        [Self::Avx2, Self::Sse41]
            .into_iter()
            .find(|r| r.supported())
            .unwrap_or(Self::Io)
    }
}

static ROUTINE: AtomicU8 = AtomicU8::new(Routine::Io as u8);

/// Chooses the routine from the `cpu_copy` parameter (`auto` or a routine's name) at module load.
pub(crate) fn select(requested: &str) -> Result<Routine> {
    let routine = if requested == "auto" {
        Routine::best()
    } else {
        let Some(routine) = Routine::from_name(requested) else {
            pr_err!("cpu_copy={requested} is invalid: expected auto, avx2, sse4.1 or io\n");
            return Err(EINVAL);
        };
        if !routine.supported() {
            pr_err!("cpu_copy={requested}: this CPU does not support it\n");
            return Err(EINVAL);
        }
        routine
    };
    ROUTINE.store(routine as u8, Ordering::Relaxed);
    Ok(routine)
}

/// The routine chosen at load.
pub(crate) fn routine() -> Routine {
    match ROUTINE.load(Ordering::Relaxed) {
        0 => Routine::Avx2,
        1 => Routine::Sse41,
        _ => Routine::Io,
    }
}

/// The vector registers, saved for kernel use; preemption is off until drop. Not `Send`: the
/// section belongs to the CPU that began it.
struct FpuSection {
    _cpu_bound: PhantomData<*mut ()>,
}

impl FpuSection {
    /// Begins a section, or `None` where the FPU may not be used (e.g. in some interrupt contexts).
    fn begin() -> Option<Self> {
        // SAFETY: No precondition.
        if !unsafe { bindings::irq_fpu_usable() } {
            return None;
        }
        // The copy loops need neither the x87 control word nor MXCSR, so neither is reset (mask
        // 0, where `kernel_fpu_begin()` resets both).
        // SAFETY: The FPU is usable here; the section is ended by `drop`.
        unsafe { bindings::kernel_fpu_begin_mask(0) };
        Some(Self {
            _cpu_bound: PhantomData,
        })
    }
}

impl Drop for FpuSection {
    fn drop(&mut self) {
        // SAFETY: A section began in `begin` on this CPU (the type is not `Send`).
        unsafe { bindings::kernel_fpu_end() };
    }
}

/// Which way a batch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    ToVram,
    ToRam,
}

/// Whole pages of RAM (one page or a huge page's worth) that a migration holds locked for `'a`:
/// no one else reads or writes them meanwhile.
pub(crate) struct RamPages<'a> {
    ptr: *mut u8,
    len: usize,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl RamPages<'_> {
    /// # Safety
    ///
    /// `ptr` is the page-aligned kernel address of `len` bytes (a multiple of the page size) of
    /// RAM that nothing else accesses during the lifetime.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        Self {
            ptr,
            len,
            _borrow: PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// One contiguous copy between VRAM and RAM pages.
pub(crate) struct Span<'a> {
    /// The VRAM side's mapping; null for VRAM that BAR1 shows only once a window slot is pointed
    /// at it (virtual mode): the CPU copies such a span through [`Span::through`].
    io: *mut u8,
    /// The VRAM address of the first byte (its BAR offset, in physical mode).
    vram: u64,
    ram: *mut u8,
    len: usize,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> Span<'a> {
    /// # Safety
    ///
    /// `io` is the page-aligned write-combined mapping of `ram.len()` bytes of VRAM at address
    /// `vram` that nothing else accesses during `'a`.
    pub(crate) unsafe fn new(io: *mut u8, vram: u64, ram: RamPages<'a>) -> Self {
        Self {
            io,
            vram,
            ram: ram.ptr,
            len: ram.len,
            _borrow: PhantomData,
        }
    }

    /// A span whose VRAM side BAR1 does not show yet (virtual mode): the copy engine takes it as
    /// it is, the CPU only [`Span::through`] a window.
    pub(crate) fn unmapped(vram: u64, ram: RamPages<'a>) -> Self {
        Self {
            io: core::ptr::null_mut(),
            vram,
            ram: ram.ptr,
            len: ram.len,
            _borrow: PhantomData,
        }
    }

    /// The same copy with its VRAM side at `io`, for as long as `self` is borrowed.
    ///
    /// # Safety
    ///
    /// `io` is the page-aligned write-combined mapping of this span's VRAM, which nothing else
    /// accesses (or points elsewhere) while the returned span lives.
    pub(crate) unsafe fn through(&self, io: *mut u8) -> Span<'_> {
        Span {
            io,
            vram: self.vram,
            ram: self.ram,
            len: self.len,
            _borrow: PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The VRAM address the span starts at.
    pub(crate) fn vram(&self) -> u64 {
        self.vram
    }

    /// The kernel address of the RAM side, for a DMA mapping: exclusively the migration's for
    /// `'a`, like the rest of the span.
    pub(crate) fn ram_ptr(&self) -> *mut u8 {
        self.ram
    }
}

/// Copies every span of a batch in direction `dir`. The data has reached its destination (and,
/// towards VRAM, is visible to every CPU) when this returns.
pub(crate) fn copy(dir: Direction, batch: &[Span<'_>]) {
    let routine = routine();
    let mut spans = batch.iter().peekable();
    let mut offset = 0;
    while spans.peek().is_some() {
        let section = match routine {
            Routine::Io => None,
            _ => FpuSection::begin(),
        };
        // Without the FPU the rest of the batch goes through `memcpy_toio`/`memcpy_fromio`,
        // which need no section and so no budget.
        let mut budget = SECTION_BYTES;
        while let Some(span) = spans.peek() {
            // A span BAR1 does not show reaches the CPU only through a window (a bug otherwise).
            if kernel::warn_on!(span.io.is_null()) {
                spans.next();
                offset = 0;
                continue;
            }
            let len = match section {
                Some(_) if budget == 0 => break,
                Some(_) => budget.min(span.len - offset),
                None => span.len - offset,
            };
            // SAFETY: A `Span` names valid, exclusive memory on both sides (its contract) and
            // `offset + len` lies within it. With a section the vector registers are ours, the
            // routine is supported (checked in `select`), and page-aligned whole pages are whole
            // `simd::STEP`s at 32-byte alignment.
            unsafe {
                match section {
                    Some(_) => simd_copy(routine, dir, span, offset, len),
                    None => io_copy(dir, span, offset, len),
                }
            }
            budget = budget.saturating_sub(len);
            offset += len;
            if offset == span.len {
                spans.next();
                offset = 0;
            }
        }
        if dir == Direction::ToVram {
            match section {
                Some(_) => simd::store_fence(),
                // SAFETY: No precondition.
                None => unsafe { shim::ps_wmb() },
            }
        }
        drop(section);
    }
}

/// # Safety
///
/// `span` is valid (its contract); `offset + len` lies within it; the caller holds the FPU and
/// `routine` is a supported SIMD routine.
unsafe fn simd_copy(routine: Routine, dir: Direction, span: &Span<'_>, offset: usize, len: usize) {
    let io = span.io.wrapping_add(offset);
    let ram = span.ram.wrapping_add(offset);
    // The loops move whole `simd::STEP`s only; pages are whole steps, so a tail would be a bug,
    // and the plain copy takes it rather than a loop overrunning the span.
    let whole = len - len % simd::STEP;
    // SAFETY: By the function's contract; `whole` is a multiple of `simd::STEP` within `len`.
    unsafe {
        match (routine, dir) {
            (Routine::Avx2, Direction::ToVram) => simd::to_wc_avx(io, ram, whole),
            (Routine::Avx2, Direction::ToRam) => simd::from_wc_avx2(ram, io, whole),
            (_, Direction::ToVram) => simd::to_wc_sse2(io, ram, whole),
            (_, Direction::ToRam) => simd::from_wc_sse41(ram, io, whole),
        }
    }
    if whole < len {
        // SAFETY: By the function's contract.
        unsafe { io_copy(dir, span, offset + whole, len - whole) };
    }
}

/// # Safety
///
/// `span` is valid (its contract) and `offset + len` lies within it.
unsafe fn io_copy(dir: Direction, span: &Span<'_>, offset: usize, len: usize) {
    let io: *mut c_void = span.io.wrapping_add(offset).cast();
    let ram: *mut c_void = span.ram.wrapping_add(offset).cast();
    // SAFETY: By the function's contract.
    unsafe {
        match dir {
            Direction::ToVram => bindings::memcpy_toio(io, ram, len),
            Direction::ToRam => bindings::memcpy_fromio(ram, io, len),
        }
    }
}
