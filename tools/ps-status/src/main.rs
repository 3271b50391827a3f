// SPDX-License-Identifier: GPL-2.0

//! ps-status: what pseudoscopic is doing, in one screen.

use pseudoscopic::System;
use std::{fmt::Write as _, process::ExitCode};

const USAGE: &str = "\
Usage: ps-status [--root DIR]

Shows whether the pseudoscopic module is loaded, its parameters, and each GPU it
drives with the VRAM BAR it claimed.

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
    let devices = sys.devices()?;
    let _ = writeln!(out, "devices: {}", devices.len());
    for d in &devices {
        let _ = write!(out, "  {} [{:04x}:{:04x}]", d.address, d.vendor, d.device);
        match d.vram {
            Some((start, end)) => {
                let _ = writeln!(
                    out,
                    " VRAM BAR {start:#x}-{end:#x} ({} MiB)",
                    (end - start + 1) >> 20
                );
            }
            None => out.push_str(" VRAM BAR not visible (read /proc/iomem as root)\n"),
        }
    }
    Ok((out, true))
}
