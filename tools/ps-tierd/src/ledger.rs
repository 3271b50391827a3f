// SPDX-License-Identifier: GPL-2.0

//! What ps-tierd parked, per process and 2 MiB block, and what came back since.
//!
//! DAMON's view lags behind: a region's age is an estimate from sampled pages, and a large region
//! that was cold for long keeps its age for a while after part of it is touched again. Pages the
//! CPU just faulted back would then be parked again at once. So a block that ps-tierd parked and
//! later finds partly back in RAM is left alone for a whole cold age, by ps-tierd's own clock,
//! whatever DAMON says meanwhile.

use std::collections::{HashMap, HashSet};

/// A 2 MiB block of a process: its pid and its address divided by 2 MiB.
pub type Block = (i32, u64);

#[derive(Debug, Default)]
pub struct Ledger {
    parked: HashSet<Block>,
    /// When (seconds on ps-tierd's clock) a parked block was found back in RAM.
    returned: HashMap<Block, f64>,
}

impl Ledger {
    /// Whether `block` may be parked at `now` with cold age `age`: it was not found back in RAM
    /// less than `age` seconds ago.
    pub fn may_park(&self, block: Block, now: f64, age: f64) -> bool {
        self.returned.get(&block).is_none_or(|&at| now - at >= age)
    }

    /// A residency check found `block` not wholly in VRAM. Returns whether it came back: ps-tierd
    /// had parked it (it is then left alone for a cold age from `now`).
    pub fn came_back(&mut self, block: Block, now: f64) -> bool {
        if self.parked.remove(&block) {
            self.returned.insert(block, now);
            return true;
        }
        false
    }

    /// ps-tierd parked pages of `block`.
    pub fn parked(&mut self, block: Block) {
        self.returned.remove(&block);
        self.parked.insert(block);
    }

    /// Forgets processes that are gone, and returns older than `max_age` seconds at `now`.
    pub fn prune(&mut self, alive: impl Fn(i32) -> bool, now: f64, max_age: f64) {
        self.parked.retain(|(pid, _)| alive(*pid));
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
    fn a_block_that_came_back_waits_a_cold_age() {
        let mut l = Ledger::default();
        let b = (42, 7);
        assert!(l.may_park(b, 0.0, 10.0));
        // Never parked by ps-tierd: not "came back", nothing recorded.
        assert!(!l.came_back(b, 1.0));
        assert!(l.may_park(b, 1.0, 10.0));
        l.parked(b);
        assert_eq!(l.parked_blocks(), 1);
        // Found partly in RAM at t=5: left alone until t=15.
        assert!(l.came_back(b, 5.0));
        assert_eq!(l.parked_blocks(), 0);
        assert!(!l.came_back(b, 6.0), "counted once");
        assert!(!l.may_park(b, 14.9, 10.0));
        assert!(l.may_park(b, 15.0, 10.0));
        // A raised cold age keeps it longer.
        assert!(!l.may_park(b, 15.0, 20.0));
        // Parked again: the return is forgotten.
        l.parked(b);
        assert!(l.may_park(b, 15.0, 20.0));
        // Other blocks and processes are independent.
        assert!(l.may_park((42, 8), 5.0, 10.0));
        assert!(l.may_park((43, 7), 5.0, 10.0));
    }

    #[test]
    fn prune_forgets_dead_processes_and_old_returns() {
        let mut l = Ledger::default();
        l.parked((1, 0));
        l.parked((2, 0));
        l.parked((3, 0));
        assert!(l.came_back((3, 0), 0.0));
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
