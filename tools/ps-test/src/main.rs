// SPDX-License-Identifier: GPL-2.0

//! ps-test: end-to-end scenarios against the real module, every byte checked.
//!
//! Each scenario is a subcommand; it prints what it does and ends with `ok`, or prints
//! `FAIL: <reason>` and exits 1. The VM suite (tests/guest/groups/) runs them; they expect to be
//! alone on the machine, so statistics deltas are exact.

use pseudoscopic::{
    abi::{self},
    cli::{self, Status},
    json,
    thp::HugePages,
};
use serde::Serialize;
use std::process::ExitCode;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

macro_rules! ensure_eq {
    ($got:expr, $want:expr, $what:expr) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("{}: got {:?}, expected {:?}", $what, got, want));
        }
    }};
}

mod args;
mod ctx;
mod fragment;
mod proc;
mod scenarios;
mod tier;

use args::{Args, Invocation, Job, TierJob};
use ctx::Ctx;
use scenarios::{hold, NEEDS_HUGE_PAGES, SCENARIOS, SELF_TEST};

/// One scenario's result in `--json`.
#[derive(Serialize)]
struct ScenarioJson<'a> {
    scenario: &'a str,
    ok: bool,
    error: Option<&'a str>,
}

/// A run in `--json`.
#[derive(Serialize)]
struct RunJson<'a> {
    results: Vec<ScenarioJson<'a>>,
    passed: usize,
    failed: usize,
}

fn main() -> ExitCode {
    let invocation = cli::parse::<Args>()
        .invocation()
        .unwrap_or_else(|message| cli::usage_error::<Args>(message));
    let (json, jobs) = match invocation {
        Invocation::List => {
            for (name, _) in SCENARIOS {
                let mark = if SELF_TEST.contains(name) { " *" } else { "" };
                println!("{name}{mark}");
            }
            return ExitCode::SUCCESS;
        }
        Invocation::Hold(mib, huge) => {
            let name = if huge { "hold-huge" } else { "hold" };
            (false, vec![(format!("{name} {mib}"), Job::Hold(mib, huge))])
        }
        Invocation::Tier(job) => {
            let name = match job {
                TierJob::Grow(total, chunk, pause) => format!("grow {total} {chunk} {pause}"),
                TierJob::Hot(mib, secs) => format!("hot {mib} {secs}"),
                TierJob::Pingpong(mib, rounds) => format!("pingpong {mib} {rounds}"),
            };
            (false, vec![(name, Job::Tier(job))])
        }
        Invocation::Fragment => (false, vec![("fragment".to_string(), Job::Fragment)]),
        Invocation::Run { json, names } => (
            json,
            names
                .into_iter()
                .filter_map(|name| {
                    let (_, run) = SCENARIOS.iter().find(|(n, _)| *n == name)?;
                    Some((name, Job::Scenario(*run)))
                })
                .collect(),
        ),
    };
    // One clear error up front when the module is missing or closed to us; `grow`, `hot` and
    // `fragment` do not need it (they run without the module too).
    let needs_device = !jobs.iter().any(|(_, j)| {
        matches!(
            j,
            Job::Tier(TierJob::Grow(..)) | Job::Tier(TierJob::Hot(..)) | Job::Fragment
        )
    });
    if needs_device {
        if let Err(f) = cli::open_device(abi::DEVICE_PATH) {
            return f.report("ps-test");
        }
    }
    let mut results = Vec::new();
    for (name, job) in &jobs {
        // Held until the job ends, so huge pages stay allowed while they fault back.
        let thp =
            match NEEDS_HUGE_PAGES.contains(&name.as_str()) || matches!(job, Job::Hold(_, true)) {
                true => HugePages::allow().map(Some),
                false => Ok(None),
            };
        let result = thp.and_then(|_thp| match job {
            Job::Scenario(run) => Ctx::new().and_then(|ctx| run(&ctx)),
            Job::Hold(mib, huge) => hold(*mib, *huge),
            Job::Tier(TierJob::Grow(total, chunk, pause)) => tier::grow(*total, *chunk, *pause),
            Job::Tier(TierJob::Hot(mib, secs)) => tier::hot(*mib, *secs),
            Job::Tier(TierJob::Pingpong(mib, rounds)) => tier::pingpong(*mib, *rounds, 120),
            Job::Fragment => fragment::fragment(),
        });
        if !json {
            match &result {
                Ok(()) => println!("{name}: ok"),
                Err(e) => println!("{name}: FAIL: {e}"),
            }
            proc::flush_stdout();
        }
        results.push((name.as_str(), result));
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if json {
        let passed = results.len() - failed;
        let results = results
            .iter()
            .map(|(name, r)| ScenarioJson {
                scenario: name,
                ok: r.is_ok(),
                error: r.as_ref().err().map(String::as_str),
            })
            .collect();
        println!(
            "{}",
            json::to_string(&RunJson {
                results,
                passed,
                failed,
            })
        );
    } else {
        println!("{} passed, {failed} failed", results.len() - failed);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        Status::Failed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The invocation, or the exit status of a usage error (clap's, or the check after it).
    fn args(list: &[&str]) -> Result<Invocation, i32> {
        let args = std::iter::once("ps-test").chain(list.iter().copied());
        match cli::try_parse_from::<Args, _, _>(args) {
            Ok(cli::Invocation::Run(a)) => a.invocation().map_err(|_| Status::Usage as i32),
            Ok(other) => panic!("{list:?}: {other:?}"),
            Err(e) => Err(e.exit_code()),
        }
    }

    #[test]
    fn self_test_names_real_scenarios() {
        for name in SELF_TEST.iter().chain(NEEDS_HUGE_PAGES) {
            assert!(SCENARIOS.iter().any(|(n, _)| n == name), "{name}");
        }
    }

    #[test]
    fn command_lines() {
        cli::command::<Args>().debug_assert();
        match args(&[]) {
            Ok(Invocation::Run { json: false, names }) => assert_eq!(names, SELF_TEST),
            _ => panic!("no arguments is not the self-test"),
        }
        match args(&["--json", "fork", "gup"]) {
            Ok(Invocation::Run { json: true, names }) => assert_eq!(names, ["fork", "gup"]),
            _ => panic!("--json fork gup"),
        }
        assert!(matches!(
            args(&["hold", "64"]),
            Ok(Invocation::Hold(64, false))
        ));
        assert!(matches!(
            args(&["hold-huge", "64"]),
            Ok(Invocation::Hold(64, true))
        ));
        assert!(matches!(args(&["list"]), Ok(Invocation::List)));
        assert!(matches!(
            args(&["grow", "1024", "16", "500"]),
            Ok(Invocation::Tier(TierJob::Grow(1024, 16, 500)))
        ));
        assert!(matches!(
            args(&["hot", "32", "0"]),
            Ok(Invocation::Tier(TierJob::Hot(32, 0)))
        ));
        assert!(matches!(
            args(&["pingpong", "32", "3"]),
            Ok(Invocation::Tier(TierJob::Pingpong(32, 3)))
        ));
        assert!(matches!(args(&["fragment"]), Ok(Invocation::Fragment)));
        assert_eq!(args(&["--help"]).err(), Some(0));
        for bad in [
            &["hold", "x"][..],
            &["hold", "0"],
            &["hold-huge", "3"],
            &["nope"],
            &["fork", "nope"],
            &["fork", "--bogus"],
            &["grow", "100", "16", "0"],
            &["grow", "128", "0", "0"],
            &["grow", "128", "16"],
            &["hot", "0", "5"],
            &["pingpong", "32", "0"],
            &["fragment", "1"],
            &["list", "fork"],
        ] {
            assert_eq!(args(bad).err(), Some(Status::Usage as i32), "{bad:?}");
        }
    }
}
