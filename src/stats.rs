// SPDX-License-Identifier: GPL-2.0

//! Statistics: lock-free counters per GPU and for the whole module, read through sysfs
//! ([`crate::sysfs`]).
//!
//! Every event is counted twice, in its GPU's [`Stats`] and in [`MODULE_STATS`], so that the
//! module-wide numbers keep counting across unbinds.

use core::sync::atomic::{
    AtomicU64,
    Ordering, //
};
use kernel::page::PAGE_SIZE;

// The counters and sysfs items, generated from their one list, `rust/ps_items.h`
// (`scripts/gen-items.sh`); the tools use the same file.
#[expect(unreachable_pub, dead_code)]
mod items;

pub(crate) use items::Counter;
use items::COUNTERS;
pub(crate) use items::{
    ITEM_BAR1_SLOTS,
    ITEM_FREE_CHUNKS,
    ITEM_FREE_PAGES,
    ITEM_INDEX,
    ITEM_TOTAL_PAGES, //
};

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

    pub(crate) fn get(&self, counter: Counter) -> u64 {
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
