// SPDX-License-Identifier: GPL-2.0

//! ps-status: what pseudoscopic is doing, in one screen.

use pseudoscopic::System;
use std::{fmt::Write as _, process::ExitCode};

const USAGE: &str = "\
Usage: ps-status [--root DIR]

Shows whether the pseudoscopic module is loaded, its parameters, the VRAM it lends
(DeviceTotal/DeviceFree, in kB like /proc/meminfo), each GPU it drives with the
VRAM BAR it claimed and its pool, and the module-wide statistics.

  --root DIR   read sysfs and procfs under DIR instead of / (for testing)
  -h, --help   show this help

Exit status: 0 when the module is loaded, 1 when it is not, 2 on a usage or read error.";

fn main() -> ExitCode {
    let mut root = String::from("/");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--root" => match args.next() {
                Some(dir) => root = dir,
                None => {
                    eprintln!("ps-status: --root needs a directory\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("ps-status: unknown argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match report(&System::new(root)) {
        Ok((text, loaded)) => {
            print!("{text}");
            if loaded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("ps-status: {e}");
            ExitCode::from(2)
        }
    }
}

/// The report, and whether the module is loaded.
fn report(sys: &System) -> std::io::Result<(String, bool)> {
    let mut out = String::new();
    if !sys.module_loaded() {
        out.push_str("pseudoscopic: not loaded\n");
        return Ok((out, false));
    }
    out.push_str("pseudoscopic: loaded\n");
    let params = sys.parameters()?;
    let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "parameters: {}", params.join(" "));
    let pool = sys.pool()?;
    let page_kb = pseudoscopic::page_size() / 1024;
    let _ = writeln!(out, "DeviceTotal: {:>12} kB", pool.total_pages * page_kb);
    let _ = writeln!(out, "DeviceFree:  {:>12} kB", pool.free_pages * page_kb);
    let devices = sys.devices()?;
    let _ = writeln!(out, "devices: {}", devices.len());
    for d in &devices {
        let _ = write!(out, "  {} [{:04x}:{:04x}]", d.address, d.vendor, d.device);
        if let Some(index) = d.index {
            let _ = write!(out, " GPU {index}:");
        }
        match d.vram {
            Some((start, end)) => {
                let _ = write!(
                    out,
                    " VRAM BAR {start:#x}-{end:#x} ({} MiB)",
                    (end - start + 1) >> 20
                );
            }
            None => out.push_str(" VRAM BAR not visible (read /proc/iomem as root)"),
        }
        if let Some(p) = d.pool {
            let _ = write!(out, ", pool {} pages, {} free", p.total_pages, p.free_pages);
        }
        out.push('\n');
    }
    let stats = sys.stats()?;
    let stats: Vec<String> = stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "stats: {}", stats.join(" "));
    Ok((out, true))
}
