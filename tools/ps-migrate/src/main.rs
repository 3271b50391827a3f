// SPDX-License-Identifier: GPL-2.0

//! ps-migrate: move a process's memory into VRAM and back, or ask how much of it is there.

use pseudoscopic::{
    abi::{self, Device, Direction, Migrate, Residency},
    maps, parse_size,
};
use std::{os::fd::AsRawFd, process::ExitCode};

const USAGE: &str = "\
Usage: ps-migrate --pid PID [OPTIONS] (ADDR LENGTH | --all)

Moves the memory of process PID in [ADDR, ADDR + LENGTH) into VRAM, or with
--all every private, writable mapping of it (from /proc/PID/maps).

  --to-ram        move pages back to RAM instead
  --residency     only report how many pages are in VRAM now
  --device N      GPU index (see ps-status); default: any GPU
  --dev PATH      device node (default /dev/pseudoscopic)
  -h, --help      show this help

ADDR and LENGTH are decimal or 0x-hex, page aligned; LENGTH takes K, M, G.
Prints one line per range with the kernel's counters.
Exit status: 0 when every range succeeded, 1 when one failed, 2 on usage errors.";

struct Options {
    pid: i32,
    dir: Option<Direction>,
    device: u32,
    dev_path: String,
    ranges: Ranges,
}

enum Ranges {
    One(u64, u64),
    All,
}

fn parse_args() -> Result<Options, String> {
    let mut pid = None;
    let mut dir = Some(Direction::ToDevice);
    let mut device = abi::DEVICE_ANY;
    let mut dev_path = abi::DEVICE_PATH.to_string();
    let mut all = false;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--pid" => pid = Some(value("--pid")?.parse().map_err(|_| "bad --pid")?),
            "--to-ram" => dir = Some(Direction::ToRam),
            "--residency" => dir = None,
            "--device" => device = value("--device")?.parse().map_err(|_| "bad --device")?,
            "--dev" => dev_path = value("--dev")?,
            "--all" => all = true,
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ => positional.push(arg),
        }
    }
    let pid = pid.ok_or("--pid is required")?;
    let ranges = match (all, positional.as_slice()) {
        (true, []) => Ranges::All,
        (false, [addr, len]) => Ranges::One(
            parse_size(addr).ok_or(format!("bad address {addr}"))?,
            parse_size(len).ok_or(format!("bad length {len}"))?,
        ),
        _ => return Err("give ADDR LENGTH or --all".into()),
    };
    Ok(Options {
        pid,
        dir,
        device,
        dev_path,
        ranges,
    })
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("ps-migrate: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(msg) => {
            eprintln!("ps-migrate: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Handles every range; `Ok(false)` when one of them failed.
fn run(opts: &Options) -> Result<bool, String> {
    let dev = Device::open(&opts.dev_path).map_err(|e| format!("{}: {e}", opts.dev_path))?;
    let pidfd = abi::pidfd_open(opts.pid).map_err(|e| format!("pid {}: {e}", opts.pid))?;
    let ranges: Vec<(u64, u64)> = match opts.ranges {
        Ranges::One(addr, len) => vec![(addr, len)],
        Ranges::All => {
            let path = format!("/proc/{}/maps", opts.pid);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            maps::parse(&text)
                .into_iter()
                .filter(maps::Mapping::is_candidate)
                .map(|m| (m.start, m.end - m.start))
                .collect()
        }
    };
    let mut ok = true;
    let mut total = Migrate::default();
    for (addr, len) in ranges {
        let label = format!("{addr:#x}-{:#x}", addr + len);
        match opts.dir {
            Some(dir) => {
                let mut req = Migrate::new(addr, len, pidfd.as_raw_fd(), opts.device);
                let res = dev.migrate(dir, &mut req);
                println!(
                    "{label}: moved {}, resident {}, empty {}, unmovable {}, busy {}, no_space {}{}",
                    req.moved,
                    req.skipped_resident,
                    req.skipped_empty,
                    req.skipped_unmovable,
                    req.skipped_busy,
                    req.skipped_no_space,
                    res.as_ref().err().map_or(String::new(), |e| format!(" ({e})"))
                );
                ok &= res.is_ok();
                total.moved += req.moved;
            }
            None => {
                let mut req = Residency {
                    addr,
                    length: len,
                    pidfd: pidfd.as_raw_fd(),
                    device: opts.device,
                    ..Residency::default()
                };
                match dev.residency(&mut req) {
                    Ok(()) => println!("{label}: {} of {} pages in VRAM", req.resident, req.pages),
                    Err(e) => {
                        println!("{label}: {e}");
                        ok = false;
                    }
                }
            }
        }
    }
    if matches!(opts.ranges, Ranges::All) && opts.dir.is_some() {
        println!("total: moved {} pages", total.moved);
    }
    Ok(ok)
}
