// SPDX-License-Identifier: GPL-2.0

//! ps-test's command line: the scenarios to run, or a workload another test drives.

use crate::scenarios::{Scenario, SCENARIOS, SELF_TEST};
use clap::{Parser, Subcommand};
use pseudoscopic::cli;

#[derive(Parser, Debug)]
#[command(
    name = "ps-test",
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    about = "Runs end-to-end scenarios against /dev/pseudoscopic and the real module; every
byte of test memory is checked. Without a SCENARIO it runs the self-test: every
ioctl, with data checks, on any loaded module with a GPU bound (run it as root
while nothing else uses pseudoscopic: statistics are compared exactly).",
    after_help = "Prints one line per scenario, 'NAME: ok' or 'NAME: FAIL: reason', then
'N passed, M failed'.
Exit status: 0 when every scenario passed, 1 when one failed, 2 on a usage
error, 3 when the module is not loaded, 4 without permission for the device."
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Print one JSON object with every result instead of text
    #[arg(long)]
    json: bool,
    /// Scenarios to run (ps-test list); none: the self-test
    #[arg(value_name = "SCENARIO", value_parser = scenario_name)]
    scenarios: Vec<String>,
}

/// The workloads other tests drive (they print what they did and wait for signals).
#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Print every scenario's name, self-test ones marked with *
    List,
    /// Park MIB MiB, wait for SIGUSR1, then check every byte
    #[command(
        after_help = "Prints 'parked N pages at ADDR+LENGTH' once parked. Used to test unbinding
under a live process."
    )]
    Hold {
        #[arg(value_parser = parse_mib)]
        mib: usize,
    },
    /// The same with transparent huge pages, parked whole (MIB even)
    HoldHuge {
        #[arg(value_parser = parse_even_mib)]
        mib: usize,
    },
    /// Write TOTAL_MIB MiB in CHUNK_MIB MiB chunks PAUSE_MS apart, then check it
    #[command(
        after_help = "For ps-tierd and `make run`: prints 'wrote N MiB' after each chunk, then
'checked N MiB'; parks nothing itself. TOTAL_MIB is a multiple of CHUNK_MIB."
    )]
    Grow {
        #[arg(value_parser = parse_mib)]
        total_mib: usize,
        #[arg(value_parser = parse_mib)]
        chunk_mib: usize,
        pause_ms: u64,
    },
    /// Fill MIB MiB, read it for SECS seconds between SIGUSR1s, then check it
    #[command(
        after_help = "Prints 'filled ADDR+LENGTH', waits for SIGUSR1, reads all of it over and over
for SECS seconds ('hot N passes'), waits for SIGUSR1 again, then checks every
byte (SECS 0: one wait, then the check)."
    )]
    Hot {
        #[arg(value_parser = parse_mib)]
        mib: usize,
        secs: u64,
    },
    /// Fill MIB MiB; ROUNDS times, wait until half is parked, read it all back
    #[command(
        after_help = "Each round waits up to 120 s for something (ps-tierd) to park half of the
memory, then reads all of it back at once."
    )]
    Pingpong {
        #[arg(value_parser = parse_mib)]
        mib: usize,
        #[arg(value_parser = cli::positive_arg::<u32>)]
        rounds: u32,
    },
    /// Leave no 2 MiB block of RAM free until SIGUSR1 (root)
    #[command(
        after_help = "With vm.compact_unevictable_allowed=0: locks single pages until no 2 MiB block
above zone DMA is free, keeps one of them in each 2 MiB block of physical
memory, lets go of the rest, and again after compaction until it frees no
block; prints 'fragmented: N MiB free, ...', waits for SIGUSR1, then lets go
of everything."
    )]
    Fragment,
}

/// A number of MiB: one or more.
pub fn parse_mib(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(mib) if mib > 0 => Ok(mib),
        _ => Err("give a number of MiB, 1 or more".into()),
    }
}

/// An even number of MiB: whole 2 MiB huge pages.
pub fn parse_even_mib(text: &str) -> Result<usize, String> {
    match parse_mib(text)? {
        mib if mib % 2 == 0 => Ok(mib),
        _ => Err("give a multiple of 2 MiB".into()),
    }
}

/// The name of a scenario.
pub fn scenario_name(text: &str) -> Result<String, String> {
    match SCENARIOS.iter().any(|(name, _)| *name == text) {
        true => Ok(text.to_string()),
        false => Err("no such scenario ('ps-test list' lists them)".into()),
    }
}

/// One thing `main` runs.
pub enum Job {
    Scenario(Scenario),
    /// `hold` or `hold-huge`: MiB, and whether huge pages.
    Hold(usize, bool),
    Tier(TierJob),
    Fragment,
}

/// A workload for the ps-tierd tests ([`tier`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierJob {
    Grow(usize, usize, u64),
    Hot(usize, u64),
    Pingpong(usize, u32),
}

#[derive(Debug)]
pub enum Invocation {
    List,
    Hold(usize, bool),
    Tier(TierJob),
    Fragment,
    Run { json: bool, names: Vec<String> },
}

impl Args {
    /// What the command line asks for, or what is wrong with it.
    pub fn invocation(self) -> Result<Invocation, String> {
        Ok(match self.command {
            Some(Sub::List) => Invocation::List,
            Some(Sub::Hold { mib }) => Invocation::Hold(mib, false),
            Some(Sub::HoldHuge { mib }) => Invocation::Hold(mib, true),
            Some(Sub::Grow {
                total_mib,
                chunk_mib,
                pause_ms,
            }) => {
                if total_mib % chunk_mib != 0 {
                    return Err(format!(
                        "grow: TOTAL_MIB {total_mib} is not a multiple of CHUNK_MIB {chunk_mib}"
                    ));
                }
                Invocation::Tier(TierJob::Grow(total_mib, chunk_mib, pause_ms))
            }
            Some(Sub::Hot { mib, secs }) => Invocation::Tier(TierJob::Hot(mib, secs)),
            Some(Sub::Pingpong { mib, rounds }) => Invocation::Tier(TierJob::Pingpong(mib, rounds)),
            Some(Sub::Fragment) => Invocation::Fragment,
            None => Invocation::Run {
                json: self.json,
                names: match self.scenarios.is_empty() {
                    true => SELF_TEST.iter().map(|n| n.to_string()).collect(),
                    false => self.scenarios,
                },
            },
        })
    }
}
