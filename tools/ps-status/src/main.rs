// SPDX-License-Identifier: GPL-2.0

//! ps-status: what pseudoscopic is doing, in one screen.

use clap::Parser;
use pseudoscopic::{
    cli::{self, Failure, Status},
    json,
    sysfs::{Device, Pool, Stats},
    System,
};
use serde::Serialize;
use std::{fmt::Write as _, io::IsTerminal, process::ExitCode, time::Duration};

#[derive(Parser, Debug)]
#[command(
    name = "ps-status",
    about = "Shows whether the pseudoscopic module is loaded, its parameters, how it copies
pages (copy path), the VRAM it lends (DeviceTotal/DeviceFree, in kB like
/proc/meminfo), each GPU it drives with the VRAM BAR it claimed, its pool and
its counters, and the module-wide counters.",
    after_help = "Exit status: 0 when the module is loaded, 3 when it is not, 2 on a usage error,
1 when its files cannot be read."
)]
struct Args {
    /// Print one JSON object per report instead of text
    #[arg(long)]
    json: bool,
    /// Print a new report every --interval seconds until interrupted
    #[arg(long)]
    watch: bool,
    /// Seconds between reports with --watch
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = cli::positive_duration_arg)]
    interval: Duration,
    /// With --watch, stop after N reports
    #[arg(long, value_name = "N", requires = "watch", value_parser = cli::positive_arg::<u64>)]
    count: Option<u64>,
    /// Read sysfs and procfs under DIR instead of / (for testing)
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: String,
}

/// A GPU and its own counters.
struct Gpu {
    device: Device,
    stats: Option<Stats>,
}

/// Everything one report shows.
struct Snapshot {
    parameters: Vec<(String, String)>,
    copy_path: Option<String>,
    pool: Pool,
    gpus: Vec<Gpu>,
    stats: Stats,
}

/// Reads the module's state; `None` when it is not loaded.
fn snapshot(sys: &System) -> std::io::Result<Option<Snapshot>> {
    if !sys.module_loaded() {
        return Ok(None);
    }
    let gpus = sys
        .devices()?
        .into_iter()
        .map(|device| Gpu {
            stats: sys.device_stats(&device.address).ok(),
            device,
        })
        .collect();
    Ok(Some(Snapshot {
        parameters: sys.parameters()?,
        copy_path: sys.copy_path(),
        pool: sys.pool()?,
        gpus,
        stats: sys.stats()?,
    }))
}

fn kb(pages: u64, page_size: u64) -> u64 {
    pages * page_size / 1024
}

fn pairs(stats: &Stats) -> String {
    let pairs: Vec<String> = stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(" ")
}

fn text(snap: Option<&Snapshot>, page_size: u64) -> String {
    let mut out = String::new();
    let Some(s) = snap else {
        out.push_str("pseudoscopic: not loaded\n");
        return out;
    };
    out.push_str("pseudoscopic: loaded\n");
    let params: Vec<String> = s
        .parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "parameters: {}", params.join(" "));
    let _ = writeln!(
        out,
        "copy path: {}",
        s.copy_path.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        out,
        "DeviceTotal: {:>12} kB",
        kb(s.pool.total_pages, page_size)
    );
    let _ = writeln!(
        out,
        "DeviceFree:  {:>12} kB",
        kb(s.pool.free_pages, page_size)
    );
    let _ = writeln!(out, "devices: {}", s.gpus.len());
    for g in &s.gpus {
        let d = &g.device;
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
            let _ = write!(
                out,
                ", pool {} pages, {} free, {} free 2 MiB chunks",
                p.total_pages, p.free_pages, p.free_chunks
            );
        }
        out.push('\n');
        if let Some(slots) = d.bar1_slots {
            let _ = writeln!(out, "    BAR1: {}", bar1_path(slots));
        }
        if let Some(ce) = &d.copy_engine {
            let _ = writeln!(out, "    copy engine: {ce}");
        }
        if let Some(stats) = &g.stats {
            let _ = writeln!(out, "    stats: {}", pairs(stats));
        }
    }
    let _ = writeln!(out, "stats: {}", pairs(&s.stats));
    out
}

/// How the CPU reaches the VRAM lent, from `<gpu>/bar1_slots`.
fn bar1_path(slots: u64) -> String {
    match slots {
        0 => "physical mode, shows all the VRAM lent".into(),
        n => {
            format!("virtual mode, the CPU reaches VRAM through {n} 2 MiB slots remapped on demand")
        }
    }
}

/// A pool in `--json`: pages, and kB like /proc/meminfo.
#[derive(Serialize)]
struct PoolJson {
    total_pages: u64,
    free_pages: u64,
    free_chunks: u64,
    total_kb: u64,
    free_kb: u64,
}

impl PoolJson {
    fn new(pool: Pool, page_size: u64) -> Self {
        Self {
            total_pages: pool.total_pages,
            free_pages: pool.free_pages,
            free_chunks: pool.free_chunks,
            total_kb: kb(pool.total_pages, page_size),
            free_kb: kb(pool.free_pages, page_size),
        }
    }
}

#[derive(Serialize)]
struct VramBarJson {
    start: u64,
    end: u64,
    size: u64,
}

#[derive(Serialize)]
struct GpuJson<'a> {
    address: &'a str,
    vendor: String,
    device: String,
    index: Option<u32>,
    vram_bar: Option<VramBarJson>,
    pool: Option<PoolJson>,
    copy_engine: Option<&'a str>,
    bar1_slots: Option<u64>,
    stats: Option<&'a Stats>,
}

/// The report of a loaded module in `--json`.
#[derive(Serialize)]
struct LoadedJson<'a> {
    loaded: bool,
    parameters: serde_json::Map<String, serde_json::Value>,
    copy_path: &'a str,
    device_total_kb: u64,
    device_free_kb: u64,
    pool: PoolJson,
    gpus: Vec<GpuJson<'a>>,
    stats: &'a Stats,
}

#[derive(Serialize)]
struct NotLoadedJson {
    loaded: bool,
}

fn report_json(snap: Option<&Snapshot>, page_size: u64) -> String {
    let Some(s) = snap else {
        return json::to_string(&NotLoadedJson { loaded: false });
    };
    let gpus = s
        .gpus
        .iter()
        .map(|g| {
            let d = &g.device;
            GpuJson {
                address: &d.address,
                vendor: format!("{:04x}", d.vendor),
                device: format!("{:04x}", d.device),
                index: d.index,
                vram_bar: d.vram.map(|(start, end)| VramBarJson {
                    start,
                    end,
                    size: end - start + 1,
                }),
                pool: d.pool.map(|p| PoolJson::new(p, page_size)),
                copy_engine: d.copy_engine.as_deref(),
                bar1_slots: d.bar1_slots,
                stats: g.stats.as_ref(),
            }
        })
        .collect();
    json::to_string(&LoadedJson {
        loaded: true,
        parameters: s
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into()))
            .collect(),
        copy_path: s.copy_path.as_deref().unwrap_or("unknown"),
        device_total_kb: kb(s.pool.total_pages, page_size),
        device_free_kb: kb(s.pool.free_pages, page_size),
        pool: PoolJson::new(s.pool, page_size),
        gpus,
        stats: &s.stats,
    })
}

/// Prints one report; the exit status it stands for.
fn report(sys: &System, o: &Args, clear: bool) -> Result<Status, Failure> {
    let snap = snapshot(sys).map_err(|e| Failure::failed(e.to_string()))?;
    let page_size = pseudoscopic::page_size();
    if o.json {
        println!("{}", report_json(snap.as_ref(), page_size));
    } else {
        // Home the cursor and clear the screen, so a watched report stays in place.
        if clear {
            print!("\x1b[H\x1b[2J");
        }
        print!("{}", text(snap.as_ref(), page_size));
        if o.watch && !clear {
            println!();
        }
    }
    Ok(if snap.is_some() {
        Status::Ok
    } else {
        Status::NotLoaded
    })
}

fn main() -> ExitCode {
    let o: Args = cli::parse();
    let sys = System::new(&o.root);
    let clear = o.watch && !o.json && std::io::stdout().is_terminal();
    let mut reports = 0u64;
    loop {
        let status = match report(&sys, &o, clear) {
            Ok(status) => status,
            Err(f) => return f.report("ps-status"),
        };
        reports += 1;
        if !o.watch || o.count.is_some_and(|n| reports >= n) {
            return status.into();
        }
        std::thread::sleep(o.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<cli::Invocation<Args>, clap::Error> {
        cli::try_parse_from(std::iter::once("ps-status").chain(list.iter().copied()))
    }

    #[test]
    fn options_parse() {
        cli::command::<Args>().debug_assert();
        let o = match args(&["--json", "--watch", "--interval", "0.5", "--count", "3"]) {
            Ok(cli::Invocation::Run(o)) => o,
            other => panic!("{other:?}"),
        };
        assert!(o.json && o.watch);
        assert_eq!(o.interval, Duration::from_millis(500));
        assert_eq!(o.count, Some(3));
        match args(&[]) {
            Ok(cli::Invocation::Run(o)) => {
                assert_eq!((o.interval, o.count), (Duration::from_secs(2), None));
                assert_eq!(o.root, "/");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(args(&["--help"]).unwrap_err().exit_code(), 0);
        for bad in [
            &["--count", "2"][..],
            &["--watch", "--count", "0"],
            &["--watch", "--interval", "0"],
            &["--interval"],
            &["--bogus"],
        ] {
            let e = args(bad).unwrap_err();
            assert_eq!(e.exit_code(), Status::Usage as i32, "{bad:?}");
        }
    }

    fn sample() -> Snapshot {
        Snapshot {
            parameters: vec![("bar_index".into(), "-1".into())],
            copy_path: None,
            pool: Pool {
                total_pages: 65536,
                free_pages: 65280,
                free_chunks: 127,
            },
            gpus: vec![Gpu {
                device: Device {
                    address: "0000:00:03.0".into(),
                    vendor: 0x1af4,
                    device: 0x1110,
                    vram: Some((0x1_0000_0000, 0x1_0fff_ffff)),
                    index: Some(0),
                    pool: Some(Pool {
                        total_pages: 65536,
                        free_pages: 65280,
                        free_chunks: 127,
                    }),
                    copy_engine: Some("running LCE1 runlist 1 class 0xc3b5".into()),
                    bar1_slots: Some(128),
                },
                stats: None,
            }],
            stats: Stats::default(),
        }
    }

    #[test]
    fn text_report() {
        assert_eq!(text(None, 4096), "pseudoscopic: not loaded\n");
        let t = text(Some(&sample()), 4096);
        assert!(t.contains("parameters: bar_index=-1\n"), "{t}");
        assert!(t.contains("copy path: unknown\n"), "{t}");
        assert!(t.contains("DeviceTotal:       262144 kB\n"), "{t}");
        assert!(t.contains("DeviceFree:        261120 kB\n"), "{t}");
        assert!(
            t.contains("  0000:00:03.0 [1af4:1110] GPU 0: VRAM BAR 0x100000000-0x10fffffff (256 MiB), pool 65536 pages, 65280 free, 127 free 2 MiB chunks\n"),
            "{t}"
        );
        assert!(
            t.contains("    copy engine: running LCE1 runlist 1 class 0xc3b5\n"),
            "{t}"
        );
        assert!(
            t.contains("    BAR1: virtual mode, the CPU reaches VRAM through 128 2 MiB slots remapped on demand\n"),
            "{t}"
        );
        let mut physical = sample();
        physical.gpus[0].device.bar1_slots = Some(0);
        let t = text(Some(&physical), 4096);
        assert!(
            t.contains("    BAR1: physical mode, shows all the VRAM lent\n"),
            "{t}"
        );
    }

    #[test]
    fn json_report() {
        assert_eq!(report_json(None, 4096).to_string(), r#"{"loaded":false}"#);
        let j = report_json(Some(&sample()), 4096).to_string();
        assert!(j.starts_with(r#"{"loaded":true,"parameters":{"bar_index":"-1"},"copy_path":"unknown","device_total_kb":262144,"device_free_kb":261120,"#), "{j}");
        assert!(j.contains(r#""gpus":[{"address":"0000:00:03.0","vendor":"1af4","device":"1110","index":0,"vram_bar":{"start":4294967296,"end":4563402751,"size":268435456},"#), "{j}");
        assert!(
            j.contains(r#""copy_engine":"running LCE1 runlist 1 class 0xc3b5","bar1_slots":128,"#),
            "{j}"
        );
    }
}
