// SPDX-License-Identifier: GPL-2.0

//! Statistics: lock-free counters per GPU and for the whole module, read through sysfs.
//!
//! Every event is counted twice, in its GPU's [`Stats`] and in [`MODULE_STATS`], so that the
//! module-wide numbers keep counting across unbinds.

use crate::{registry, vram::Vram};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{ffi::c_void, page::PAGE_SIZE, prelude::*};

// The counters and sysfs items, generated from their one list, `rust/ps_items.h`
// (`scripts/gen-items.sh`); the tools use the same file.
#[allow(unreachable_pub, dead_code)]
mod items;

pub(crate) use items::Counter;
use items::{COUNTERS, ITEM_FREE_CHUNKS, ITEM_FREE_PAGES, ITEM_INDEX, ITEM_TOTAL_PAGES};

/// One set of counters.
pub(crate) struct Stats {
    counters: [AtomicU64; COUNTERS],
}

/// The module-wide counters.
pub(crate) static MODULE_STATS: Stats = Stats::new();

impl Stats {
    pub(crate) const fn new() -> Self {
        Self {
            counters: [const { AtomicU64::new(0) }; COUNTERS],
        }
    }

    fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize].load(Ordering::Relaxed)
    }

    /// Adds `n` to `counter` here and module-wide.
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        if n == 0 {
            return;
        }
        self.counters[counter as usize].fetch_add(n, Ordering::Relaxed);
        MODULE_STATS.counters[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `pages` pages moved to RAM (by fault or request), `huge` of them as whole 2 MiB
    /// huge pages.
    pub(crate) fn moved_to_ram_huge(&self, pages: u64, huge: bool) {
        self.moved_to_ram(pages);
        if huge {
            self.add(Counter::ThpToRam, 1);
        }
    }

    /// Counts `pages` pages moved to VRAM, as one 2 MiB huge page when `huge`.
    pub(crate) fn moved_to_device_huge(&self, pages: u64, huge: bool) {
        self.moved_to_device(pages);
        if huge {
            self.add(Counter::ThpToDevice, 1);
        }
    }

    /// Counts `pages` pages moved to RAM (by fault or request).
    pub(crate) fn moved_to_ram(&self, pages: u64) {
        self.add(Counter::MigrationsToRam, pages);
        self.add(Counter::BytesToRam, pages * PAGE_SIZE as u64);
    }

    /// Counts `pages` pages moved to VRAM.
    pub(crate) fn moved_to_device(&self, pages: u64) {
        self.add(Counter::MigrationsToDevice, pages);
        self.add(Counter::BytesToDevice, pages * PAGE_SIZE as u64);
    }

    /// Counts `pages` pages evicted to RAM.
    pub(crate) fn evicted(&self, pages: u64) {
        self.add(Counter::Evictions, pages);
        self.add(Counter::BytesToRam, pages * PAGE_SIZE as u64);
    }
}

/// What one sysfs file shows: `item` (an `enum ps_item`) of `gpu`, or module-wide when null.
///
/// # Safety
///
/// `gpu` is null or the `Vram` that created the sysfs directory, which outlives its files.
#[no_mangle]
unsafe extern "C" fn ps_rust_stat(gpu: *const c_void, item: u32) -> u64 {
    // SAFETY: By the function's contract `gpu` is null or a live `Vram`.
    let gpu = unsafe { gpu.cast::<Vram>().as_ref() };
    match (gpu, Counter::from_item(item)) {
        (Some(gpu), Some(counter)) => gpu.stats.get(counter),
        (None, Some(counter)) => MODULE_STATS.get(counter),
        (Some(gpu), None) => match item {
            ITEM_TOTAL_PAGES => gpu.total_pages() as u64,
            ITEM_FREE_PAGES => gpu.free_pages() as u64,
            ITEM_FREE_CHUNKS => gpu.free_chunks() as u64,
            ITEM_INDEX => u64::from(gpu.index),
            _ => 0,
        },
        (None, None) => match item {
            ITEM_TOTAL_PAGES => registry::sum(|gpu| gpu.total_pages() as u64),
            ITEM_FREE_PAGES => registry::sum(|gpu| gpu.free_pages() as u64),
            ITEM_FREE_CHUNKS => registry::sum(|gpu| gpu.free_chunks() as u64),
            _ => 0,
        },
    }
}

/// What `<gpu>/copy_engine` shows: `PS_CE_NONE`, `PS_CE_RUNNING` or `PS_CE_FAILED`, and the
/// engine in `out` unless none.
///
/// # Safety
///
/// `gpu` is the `Vram` that created the sysfs directory, which outlives its files; `out` is valid
/// for writes.
#[no_mangle]
unsafe extern "C" fn ps_rust_gpu_copy_engine(gpu: *const c_void, out: *mut CopyEngineRaw) -> i32 {
    // SAFETY: By the function's contract.
    let Some(gpu) = (unsafe { gpu.cast::<Vram>().as_ref() }) else {
        return CE_NONE;
    };
    let Some((engine, class, failed)) = gpu.copy_engine() else {
        return CE_NONE;
    };
    let raw = CopyEngineRaw {
        lce: engine.is_lce(),
        instance: engine.number(),
        runlist: engine.runlist,
        class_id: class,
    };
    // SAFETY: By the function's contract `out` is valid for writes.
    unsafe { out.write(raw) };
    if failed {
        CE_FAILED
    } else {
        CE_RUNNING
    }
}

/// `enum ps_ce_state`.
const CE_NONE: i32 = 0;
const CE_RUNNING: i32 = 1;
const CE_FAILED: i32 = 2;

/// `struct ps_copy_engine`.
#[repr(C)]
struct CopyEngineRaw {
    lce: bool,
    instance: u32,
    runlist: u32,
    class_id: u32,
}

/// What `stats/copy_path` shows: the CPU copy routine in use.
#[no_mangle]
extern "C" fn ps_rust_copy_path() -> *const kernel::ffi::c_char {
    crate::copy::routine().c_name().as_char_ptr()
}
