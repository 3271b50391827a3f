// SPDX-License-Identifier: GPL-2.0

//! The SIMD copy loops: streaming loads from, and non-temporal stores to, write-combined memory.
//!
//! This file uses nothing but `core`, so that the host benchmark (`bench/copy`) compiles the very
//! same loops. The kernel target is soft-float: no intrinsics, no `#[target_feature]`, and the
//! compiler never keeps values in vector registers, so each loop is one `asm!` block that names
//! every vector register it overwrites. The kernel caller must hold the FPU (`kernel_fpu_begin`).

use core::arch::asm;

/// Bytes each loop iteration moves: two 64-byte cache lines. Lengths are multiples of it.
pub(crate) const STEP: usize = 128;

/// Copies `len` bytes from ordinary memory to write-combined memory with 16-byte non-temporal
/// stores (`movntdq`, SSE2), which fill whole write-combining buffers without reading the
/// destination. The stores are weakly ordered: call [`store_fence`] before the data counts as
/// written.
///
/// # Safety
///
/// `src` and `dst` are 16-byte aligned, valid for `len` bytes and do not overlap; `len` is a
/// multiple of [`STEP`]; the CPU has SSE2 and the caller may use the vector registers.
pub(crate) unsafe fn to_wc_sse2(dst: *mut u8, src: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: By the function's contract.
    unsafe {
        asm!(
            "2:",
            "movdqa xmm0, [{src}]",
            "movdqa xmm1, [{src} + 16]",
            "movdqa xmm2, [{src} + 32]",
            "movdqa xmm3, [{src} + 48]",
            "movdqa xmm4, [{src} + 64]",
            "movdqa xmm5, [{src} + 80]",
            "movdqa xmm6, [{src} + 96]",
            "movdqa xmm7, [{src} + 112]",
            "movntdq [{dst}], xmm0",
            "movntdq [{dst} + 16], xmm1",
            "movntdq [{dst} + 32], xmm2",
            "movntdq [{dst} + 48], xmm3",
            "movntdq [{dst} + 64], xmm4",
            "movntdq [{dst} + 80], xmm5",
            "movntdq [{dst} + 96], xmm6",
            "movntdq [{dst} + 112], xmm7",
            "add {src}, 128",
            "add {dst}, 128",
            "sub {len}, 128",
            "jnz 2b",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            len = inout(reg) len => _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            options(nostack),
        );
    }
}

/// Copies `len` bytes from write-combined memory to ordinary memory with 16-byte streaming loads
/// (`movntdqa`, SSE4.1): each fetches a whole line into a streaming-load buffer, where a plain
/// load from uncached memory would cross the bus once per access.
///
/// # Safety
///
/// As [`to_wc_sse2`], with SSE4.1.
pub(crate) unsafe fn from_wc_sse41(dst: *mut u8, src: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: By the function's contract.
    unsafe {
        asm!(
            "2:",
            "movntdqa xmm0, [{src}]",
            "movntdqa xmm1, [{src} + 16]",
            "movntdqa xmm2, [{src} + 32]",
            "movntdqa xmm3, [{src} + 48]",
            "movntdqa xmm4, [{src} + 64]",
            "movntdqa xmm5, [{src} + 80]",
            "movntdqa xmm6, [{src} + 96]",
            "movntdqa xmm7, [{src} + 112]",
            "movdqa [{dst}], xmm0",
            "movdqa [{dst} + 16], xmm1",
            "movdqa [{dst} + 32], xmm2",
            "movdqa [{dst} + 48], xmm3",
            "movdqa [{dst} + 64], xmm4",
            "movdqa [{dst} + 80], xmm5",
            "movdqa [{dst} + 96], xmm6",
            "movdqa [{dst} + 112], xmm7",
            "add {src}, 128",
            "add {dst}, 128",
            "sub {len}, 128",
            "jnz 2b",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            len = inout(reg) len => _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            options(nostack),
        );
    }
}

/// [`to_wc_sse2`] with 32-byte stores (`vmovntdq`, AVX).
///
/// # Safety
///
/// As [`to_wc_sse2`], with 32-byte alignment and AVX.
pub(crate) unsafe fn to_wc_avx(dst: *mut u8, src: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: By the function's contract.
    unsafe {
        asm!(
            "2:",
            "vmovdqa ymm0, [{src}]",
            "vmovdqa ymm1, [{src} + 32]",
            "vmovdqa ymm2, [{src} + 64]",
            "vmovdqa ymm3, [{src} + 96]",
            "vmovntdq [{dst}], ymm0",
            "vmovntdq [{dst} + 32], ymm1",
            "vmovntdq [{dst} + 64], ymm2",
            "vmovntdq [{dst} + 96], ymm3",
            "add {src}, 128",
            "add {dst}, 128",
            "sub {len}, 128",
            "jnz 2b",
            // Leave the upper halves clean: a dirty AVX state slows later SSE code.
            "vzeroupper",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            len = inout(reg) len => _,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
            // `vzeroupper` clears the upper halves of all sixteen.
            out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
            out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
            options(nostack),
        );
    }
}

/// [`from_wc_sse41`] with 32-byte streaming loads (`vmovntdqa ymm`, AVX2).
///
/// # Safety
///
/// As [`to_wc_sse2`], with 32-byte alignment and AVX2.
pub(crate) unsafe fn from_wc_avx2(dst: *mut u8, src: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: By the function's contract.
    unsafe {
        asm!(
            "2:",
            "vmovntdqa ymm0, [{src}]",
            "vmovntdqa ymm1, [{src} + 32]",
            "vmovntdqa ymm2, [{src} + 64]",
            "vmovntdqa ymm3, [{src} + 96]",
            "vmovdqa [{dst}], ymm0",
            "vmovdqa [{dst} + 32], ymm1",
            "vmovdqa [{dst} + 64], ymm2",
            "vmovdqa [{dst} + 96], ymm3",
            "add {src}, 128",
            "add {dst}, 128",
            "sub {len}, 128",
            "jnz 2b",
            "vzeroupper",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            len = inout(reg) len => _,
            out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
            // `vzeroupper` clears the upper halves of all sixteen.
            out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
            out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
            out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
            options(nostack),
        );
    }
}

/// Orders every earlier non-temporal store before any later store (`sfence`): after it, another
/// CPU that reads the destination sees the data.
pub(crate) fn store_fence() {
    // SAFETY: `sfence` only orders stores.
    unsafe { asm!("sfence", options(nostack, preserves_flags)) };
}
