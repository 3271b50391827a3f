// SPDX-License-Identifier: GPL-2.0

//! ps-copy-bench: the module's copy loops (`src/copy/simd.rs`, compiled here unchanged) against
//! `memcpy`, natively on this CPU.
//!
//! The host has no write-combined mapping to copy to, so both sides are ordinary write-back RAM.
//! That shows what the loops cost as code and what non-temporal stores do for copies larger than
//! the caches; what they gain on a real BAR (uncached loads, write-combining buffers) is larger and
//! is discussed in BENCHMARKS.md.

#[path = "../../../src/copy/simd.rs"]
#[allow(dead_code)]
mod simd;

use std::{hint::black_box, time::Instant};

/// A page-aligned buffer of `len` bytes.
struct Aligned {
    ptr: *mut u8,
    len: usize,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(len: usize, fill: u8) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        assert!(!ptr.is_null(), "out of memory");
        // SAFETY: `ptr` is `len` writable bytes.
        unsafe { std::ptr::write_bytes(ptr, fill, len) };
        Self { ptr, len, layout }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is `len` initialized bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: Allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

#[derive(Clone, Copy)]
struct Routine {
    name: &'static str,
    run: unsafe fn(*mut u8, *const u8, usize),
    available: fn() -> bool,
}

unsafe fn memcpy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: The caller passes valid, non-overlapping buffers.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
}

unsafe fn to_wc_sse2(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: As `memcpy`; page-aligned buffers of whole pages; SSE2 is baseline on x86-64.
    unsafe { simd::to_wc_sse2(dst, src, len) };
    simd::store_fence();
}

unsafe fn to_wc_avx(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: As above; only run where AVX is available.
    unsafe { simd::to_wc_avx(dst, src, len) };
    simd::store_fence();
}

unsafe fn from_wc_sse41(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: As above, with SSE4.1.
    unsafe { simd::from_wc_sse41(dst, src, len) };
}

unsafe fn from_wc_avx2(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: As above, with AVX2.
    unsafe { simd::from_wc_avx2(dst, src, len) };
}

const ROUTINES: [Routine; 5] = [
    Routine {
        name: "memcpy",
        run: memcpy,
        available: || true,
    },
    Routine {
        name: "to_wc_sse2 (movntdq)",
        run: to_wc_sse2,
        available: || true,
    },
    Routine {
        name: "to_wc_avx (vmovntdq)",
        run: to_wc_avx,
        available: || is_x86_feature_detected!("avx"),
    },
    Routine {
        name: "from_wc_sse41 (movntdqa)",
        run: from_wc_sse41,
        available: || is_x86_feature_detected!("sse4.1"),
    },
    Routine {
        name: "from_wc_avx2 (vmovntdqa)",
        run: from_wc_avx2,
        available: || is_x86_feature_detected!("avx2"),
    },
];

/// Best GB/s over `rounds` copies of `len` bytes, after checking the copy is exact.
fn measure(routine: Routine, len: usize, rounds: usize) -> f64 {
    let src = Aligned::new(len, 0);
    for (i, chunk) in src.bytes().chunks(8).enumerate() {
        // SAFETY: Writing our own buffer, word by word.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (i as u64)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .to_le_bytes()
                    .as_ptr(),
                src.ptr.add(i * 8),
                chunk.len(),
            )
        };
    }
    let dst = Aligned::new(len, 0xa5);
    // SAFETY: Distinct page-aligned buffers of `len` bytes, a multiple of the page size.
    unsafe { (routine.run)(dst.ptr, src.ptr, len) };
    assert!(
        dst.bytes() == src.bytes(),
        "{} copied wrongly",
        routine.name
    );
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = Instant::now();
        // SAFETY: As above.
        unsafe { (routine.run)(black_box(dst.ptr), black_box(src.ptr), len) };
        best = best.min(t.elapsed().as_secs_f64());
    }
    len as f64 / best / 1e9
}

fn main() {
    let sizes: [(usize, &str, usize); 3] = [
        (4096, "4 KiB", 20000),
        (2 << 20, "2 MiB", 200),
        (256 << 20, "256 MiB", 5),
    ];
    let json_path = std::env::args().nth(1);
    let mut json = String::from("{\"unit\": \"GB/s\", \"results\": [");
    println!("Copy loops natively on this CPU, GB/s (best of N), and the ratio to memcpy:");
    print!("{:<28}", "routine");
    for (_, name, _) in sizes {
        print!("{name:>20}");
    }
    println!();
    let mut baseline = Vec::new();
    let mut first = true;
    for routine in ROUTINES {
        if !(routine.available)() {
            println!("{:<28}{:>20}", routine.name, "(not on this CPU)");
            continue;
        }
        print!("{:<28}", routine.name);
        for (k, (len, name, rounds)) in sizes.into_iter().enumerate() {
            let gbs = measure(routine, len, rounds);
            if routine.name == "memcpy" {
                baseline.push(gbs);
            }
            print!("{:>20}", format!("{gbs:.2} ({:.2}x)", gbs / baseline[k]));
            json.push_str(&format!(
                "{}{{\"routine\": \"{}\", \"size\": \"{name}\", \"gb_per_s\": {gbs:.3}, \"vs_memcpy\": {:.3}}}",
                if first { "" } else { ", " },
                routine.name,
                gbs / baseline[k]
            ));
            first = false;
        }
        println!();
    }
    json.push_str("]}\n");
    if let Some(path) = json_path {
        std::fs::write(&path, json).unwrap_or_else(|e| panic!("{path}: {e}"));
        println!("results: {path}");
    }
}
