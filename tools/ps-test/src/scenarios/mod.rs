// SPDX-License-Identifier: GPL-2.0

//! The scenarios, by name: which need transparent huge pages, and which make up the self-test.

mod access;
mod input;
mod migrate;
mod pool;
mod stress;
mod thp;

pub use pool::hold;

use crate::ctx::{Ctx, TestResult};
use access::{other_process, permission, permission_node, permission_userns};
use input::bad_input;
use migrate::{
    file_private, fork, gup, migrate, migrate_fault, migrate_multiple, mixed, mremap, munmap,
    shared, threads, to_ram,
};
use pool::{exhaust, meminfo, two_gpus};
use stress::{faults, fork_storm};
use thp::{thp, thp_fallback, thp_fork, thp_mremap, thp_partial_unmap, thp_unaligned};

pub type Scenario = fn(&Ctx) -> TestResult;

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("migrate", migrate),
    ("migrate_fault", migrate_fault),
    ("migrate_multiple", migrate_multiple),
    ("mixed", mixed),
    ("thp", thp),
    ("thp_unaligned", thp_unaligned),
    ("thp_fork", thp_fork),
    ("thp_partial_unmap", thp_partial_unmap),
    ("thp_mremap", thp_mremap),
    ("thp_fallback", thp_fallback),
    ("to_ram", to_ram),
    ("shared", shared),
    ("file_private", file_private),
    ("fork", fork),
    ("gup", gup),
    ("munmap", munmap),
    ("mremap", mremap),
    ("threads", threads),
    ("exhaust", exhaust),
    ("two_gpus", two_gpus),
    ("meminfo", meminfo),
    ("bad_input", bad_input),
    ("other_process", other_process),
    ("permission", permission),
    ("permission_node", permission_node),
    ("permission_userns", permission_userns),
    ("faults", faults),
    ("fork_storm", fork_storm),
];

/// The scenarios that need transparent huge pages: they run holding a [`HugePages`], which turns
/// the system's THP mode from `never` to `madvise` for their duration. Every other scenario's
/// memory is `MADV_NOHUGEPAGE`, so no scenario depends on the mode.
pub const NEEDS_HUGE_PAGES: &[&str] = &[
    "thp",
    "thp_unaligned",
    "thp_fork",
    "thp_partial_unmap",
    "thp_mremap",
    "thp_fallback",
];

/// The scenarios a user runs on real hardware (`ps-test` without arguments): every ioctl with
/// data checks, on any loaded module with one GPU bound and a few MiB of its VRAM free.
/// `exhaust`, `two_gpus`, `meminfo` and `thp` need the VM suite's setup.
pub const SELF_TEST: &[&str] = &[
    "migrate",
    "migrate_fault",
    "migrate_multiple",
    "mixed",
    "to_ram",
    "shared",
    "file_private",
    "fork",
    "gup",
    "munmap",
    "mremap",
    "threads",
    "bad_input",
    "other_process",
    "permission",
];
