// SPDX-License-Identifier: GPL-2.0

//! What ps-tierd parked, per process and 2 MiB block, and what came back since.
//!
//! DAMON's view lags behind: a region's age is an estimate from sampled pages, and a large region
//! that was cold for long keeps its age for a while after part of it is touched again. Pages the
//! CPU just faulted back would then be parked again at once. So a block that ps-tierd parked and
//! later finds partly back in RAM is left alone for a whole cold age, by ps-tierd's own clock,
//! whatever DAMON says meanwhile. The ranges it parked are kept exactly (DAMON's region
//! boundaries move from step to step), so that pages it never parked are not mistaken for pages
//! that came back.

use std::collections::HashMap;

/// A 2 MiB block of a process: its pid and its address divided by 2 MiB.
pub type Block = (i32, u64);

/// Ranges `[start, end)` parked inside one block, disjoint.
pub type Ranges = Vec<(u64, u64)>;

#[derive(Debug, Default)]
pub struct Ledger {
    parked: HashMap<Block, Ranges>,
    /// When (seconds on ps-tierd's clock) a parked block was found back in RAM.
    returned: HashMap<Block, f64>,
}

impl Ledger {
    /// Whether `block` may be parked at `now` with cold age `age`: it was not found back in RAM
    /// less than `age` seconds ago.
    pub fn may_park(&self, block: Block, now: f64, age: f64) -> bool {
        self.returned.get(&block).is_none_or(|&at| now - at >= age)
    }

    /// The ranges of `block` ps-tierd parked, to check whether they are still in VRAM.
    pub fn ranges(&self, block: Block) -> Ranges {
        self.parked.get(&block).cloned().unwrap_or_default()
    }

    /// A residency check found part of `block`'s parked ranges back in RAM: it is left alone for
    /// a cold age from `now`.
    pub fn came_back(&mut self, block: Block, now: f64) {
        self.parked.remove(&block);
        self.returned.insert(block, now);
    }

    /// ps-tierd parked `[start, end)` of `block`.
    pub fn parked(&mut self, block: Block, start: u64, end: u64) {
        self.returned.remove(&block);
        let ranges = self.parked.entry(block).or_default();
        let mut merged = (start, end);
        ranges.retain(|&(s, e)| {
            let touches = s <= merged.1 && merged.0 <= e;
            if touches {
                merged = (merged.0.min(s), merged.1.max(e));
            }
            !touches
        });
        ranges.push(merged);
        ranges.sort_unstable();
    }

    /// Forgets processes that are gone, and returns older than `max_age` seconds at `now`.
    pub fn prune(&mut self, alive: impl Fn(i32) -> bool, now: f64, max_age: f64) {
        self.parked.retain(|(pid, _), _| alive(*pid));
        self.returned
            .retain(|(pid, _), at| alive(*pid) && now - *at < max_age);
    }

    /// Blocks parked and not (yet) found back.
    pub fn parked_blocks(&self) -> usize {
        self.parked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_exact_ranges_parked() {
        let mut l = Ledger::default();
        let b = (1, 0);
        assert!(l.ranges(b).is_empty());
        l.parked(b, 0x1000, 0x3000);
        l.parked(b, 0x8000, 0x9000);
        assert_eq!(l.ranges(b), vec![(0x1000, 0x3000), (0x8000, 0x9000)]);
        // Adjacent and overlapping ranges merge.
        l.parked(b, 0x3000, 0x5000);
        l.parked(b, 0x4000, 0x8000);
        assert_eq!(l.ranges(b), vec![(0x1000, 0x9000)]);
        assert!(l.ranges((1, 1)).is_empty());
    }

    #[test]
    fn a_block_that_came_back_waits_a_cold_age() {
        let mut l = Ledger::default();
        let b = (42, 7);
        assert!(l.may_park(b, 0.0, 10.0));
        l.parked(b, 0, 4096);
        assert_eq!(l.parked_blocks(), 1);
        // Found partly in RAM at t=5: left alone until t=15.
        l.came_back(b, 5.0);
        assert_eq!(l.parked_blocks(), 0);
        assert!(l.ranges(b).is_empty());
        assert!(!l.may_park(b, 14.9, 10.0));
        assert!(l.may_park(b, 15.0, 10.0));
        // A raised cold age keeps it longer.
        assert!(!l.may_park(b, 15.0, 20.0));
        // Parked again: the return is forgotten.
        l.parked(b, 0, 4096);
        assert!(l.may_park(b, 15.0, 20.0));
        // Other blocks and processes are independent.
        assert!(l.may_park((42, 8), 5.0, 10.0));
        assert!(l.may_park((43, 7), 5.0, 10.0));
    }

    #[test]
    fn prune_forgets_dead_processes_and_old_returns() {
        let mut l = Ledger::default();
        l.parked((1, 0), 0, 4096);
        l.parked((2, 0), 0, 4096);
        l.parked((3, 0), 0, 4096);
        l.came_back((3, 0), 0.0);
        l.prune(|pid| pid != 2, 10.0, 100.0);
        assert_eq!(l.parked_blocks(), 1);
        assert!(!l.may_park((3, 0), 10.0, 50.0));
        l.prune(|_| true, 200.0, 100.0);
        assert!(
            l.may_park((3, 0), 10.0, 50.0),
            "return older than max_age forgotten"
        );
    }
}
