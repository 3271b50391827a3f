// SPDX-License-Identifier: GPL-2.0

//! `ps-bench tier`: the tiering benchmark's workload (issue 14). It writes more anonymous memory
//! than the machine has, then works on it: most operations go to a hot set with a Zipf-like skew,
//! one in `cold_every` to a uniformly random page of the rest. Whatever keeps the machine alive
//! (ps-tierd and VRAM, a swap device, or enough RAM) is chosen outside it; it measures what the
//! application sees (operations per second, the latency of each operation) and reads the kernel's
//! and the module's counters around the measured phase. Every word an operation touches is
//! checked.

use clap::ValueEnum;
use pseudoscopic::{
    abi::{self, Device, Residency},
    cli, json,
    mem::{pattern, Buf, PAGE},
    rng::Rng,
};
use serde::Serialize;
use std::{
    fs,
    io::Write as _,
    time::{Duration, Instant},
};

/// The buffer is written (and its size given) in chunks of this many MiB.
pub const CHUNK_MIB: usize = 16;
const SEED: u64 = 41;
/// Bytes an operation reads (and, one in `WRITE_EVERY`, writes back): one cache line.
const LINE_WORDS: usize = 8;
const WRITE_EVERY: u64 = 4;

/// What the pages hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Data {
    /// Every 8-byte word pseudo-random: nothing compresses it.
    Random,
    /// One pseudo-random byte in each 8-byte word, the other seven zero: zram's LZO stores a page
    /// in well under half its size.
    Compressible,
}

impl Data {
    pub fn name(self) -> &'static str {
        match self {
            Data::Random => "random",
            Data::Compressible => "compressible",
        }
    }

    /// The value of word `word` of the buffer.
    pub fn value(self, word: usize) -> u64 {
        match self {
            Data::Random => pattern(SEED, word),
            Data::Compressible => pattern(SEED, word) & 0xff,
        }
    }
}

/// `ps-bench tier`'s command line.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct Options {
    /// Name of the configuration, as the report knows it (e.g. zram)
    #[arg(long, value_name = "NAME")]
    pub label: String,
    /// What the pages hold
    #[arg(long, value_enum, default_value_t = Data::Random)]
    pub data: Data,
    /// MiB of anonymous memory to write, a multiple of 16
    #[arg(long, value_name = "N", value_parser = chunked_mib)]
    pub mib: usize,
    /// MiB of the hot set (the first H MiB), less than --mib
    #[arg(long, value_name = "H", value_parser = cli::positive_arg::<usize>)]
    pub hot_mib: usize,
    /// MiB per second the buffer is written at (each chunk, then a pause)
    #[arg(long = "fill-rate", value_name = "MIB_PER_S", default_value_t = 16, value_parser = cli::positive_arg::<usize>)]
    pub fill_mib_per_s: usize,
    /// Seconds of work before the measured ones
    #[arg(long = "warmup", value_name = "SECS", default_value_t = 5)]
    pub warmup_secs: u64,
    /// Seconds measured
    #[arg(long, value_name = "SECS", default_value_t = 20, value_parser = cli::positive_arg::<u64>)]
    pub seconds: u64,
    /// One operation in N goes to a uniformly random page of the whole buffer
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = cli::positive_arg::<u64>)]
    pub cold_every: u64,
    /// Append the results as one JSON line to FILE
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,
}

/// What `ps-bench tier --help` says after its options.
pub const HELP: &str = "\
Writes N MiB of anonymous memory (one mapping, 16 MiB at a time at MIB_PER_S),
then for WARMUP and SECS seconds reads a 64-byte line per operation: one
operation in N a uniformly random page of the whole buffer, the others a page
of the first H MiB (the hot set) with a Zipf-like skew; one in four writes the
line back. Every word read is checked. Prints 'filled N MiB' per chunk, then one
line of results over the measured SECS (operations per second, p50 and p99
latency, RAM freed, pages moved each way, early refaults) and appends it as a
JSON object to FILE.";

/// A positive multiple of [`CHUNK_MIB`].
fn chunked_mib(text: &str) -> Result<usize, String> {
    match cli::positive_arg::<usize>(text)? {
        mib if mib % CHUNK_MIB == 0 => Ok(mib),
        _ => Err(format!("give a multiple of {CHUNK_MIB}")),
    }
}

impl Options {
    /// What clap's definitions cannot say: the hot set is part of the buffer.
    pub fn check(&self) -> Result<(), String> {
        match self.hot_mib < self.mib {
            true => Ok(()),
            false => Err("--hot-mib must be less than --mib".into()),
        }
    }
}

/// Hot pages with a Zipf-like skew (exponent 1): rank r has a probability about proportional to
/// 1/(r+1), by the inverse of the continuous distribution (P(rank < r) = ln(r+1) / ln(n+1)).
/// Ranks are spread over the hot set (a stride coprime with its size), so the hottest pages are
/// not neighbours.
struct Zipf {
    pages: usize,
    stride: usize,
}

impl Zipf {
    fn new(pages: usize) -> Self {
        let mut stride = 2_654_435_761usize % pages;
        while gcd(stride, pages) != 1 {
            stride += 1;
        }
        Self { pages, stride }
    }

    fn page(&self, rng: &mut Rng) -> usize {
        let rank = ((self.pages as f64 + 1.0).powf(rng.unit()) - 1.0) as usize;
        (rank.min(self.pages - 1) * self.stride) % self.pages
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Latencies in log-linear buckets: 8 per power of two (12.5% resolution), so a run of millions
/// of operations costs no memory the benchmark is short of.
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

const SUB: u32 = 8;

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; (SUB * 64) as usize],
            total: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < SUB as u64 {
            return ns as usize;
        }
        let e = 63 - ns.leading_zeros();
        let sub = (ns >> (e - 3)) & (SUB as u64 - 1);
        (SUB + (e - 3) * SUB) as usize + sub as usize
    }

    /// The middle of bucket `b`, nanoseconds.
    fn value(b: usize) -> f64 {
        if b < SUB as usize {
            return b as f64;
        }
        let e = (b / SUB as usize - 1) as u32 + 3;
        let sub = (b % SUB as usize) as u64;
        let low = (SUB as u64 + sub) << (e - 3);
        low as f64 + (1u64 << (e - 3)) as f64 / 2.0
    }

    pub fn add(&mut self, ns: u64) {
        self.counts[Self::bucket(ns)] += 1;
        self.total += 1;
    }

    /// The `q` quantile (0..1), nanoseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let want = ((self.total as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Self::value(b);
            }
        }
        0.0
    }
}

/// The counters read around the measured phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    pswpin: u64,
    pswpout: u64,
    workingset_activate_anon: u64,
    to_device: u64,
    to_ram: u64,
    early_refaults: u64,
}

fn vmstat(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

fn module_stat(name: &str) -> u64 {
    fs::read_to_string(format!("/sys/module/pseudoscopic/stats/{name}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl Counters {
    fn read() -> Self {
        let v = fs::read_to_string("/proc/vmstat").unwrap_or_default();
        Self {
            pswpin: vmstat(&v, "pswpin"),
            pswpout: vmstat(&v, "pswpout"),
            workingset_activate_anon: vmstat(&v, "workingset_activate_anon"),
            to_device: module_stat("migrations_to_device"),
            to_ram: module_stat("migrations_to_ram"),
            early_refaults: module_stat("early_refaults"),
        }
    }
}

/// `/proc/self/status` field `key` (kB), in bytes.
fn status_bytes(key: &str) -> u64 {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .strip_prefix(':')?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb << 10)
}

/// zram's `mm_stat` summed over its devices: original bytes stored, compressed bytes, and the RAM
/// its pool takes.
fn zram_usage() -> (u64, u64, u64) {
    let mut sum = (0, 0, 0);
    let Ok(dir) = fs::read_dir("/sys/block") else {
        return sum;
    };
    for entry in dir.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("zram") {
            continue;
        }
        let Ok(text) = fs::read_to_string(entry.path().join("mm_stat")) else {
            continue;
        };
        let f: Vec<u64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() >= 3 {
            sum.0 += f[0];
            sum.1 += f[1];
            sum.2 += f[2];
        }
    }
    sum
}

/// Bytes of the buffer in VRAM, by the module's residency ioctl, a chunk at a time (0 without
/// the module).
fn vram_resident(buf: &Buf) -> u64 {
    let Ok(dev) = Device::open(abi::DEVICE_PATH) else {
        return 0;
    };
    let chunk = (CHUNK_MIB << 20) as u64;
    (0..buf.size() / chunk)
        .map(|i| {
            let mut res = Residency {
                addr: buf.addr() + i * chunk,
                length: chunk,
                pidfd: abi::PIDFD_SELF,
                device: abi::DEVICE_ANY,
                ..Residency::default()
            };
            match dev.residency(&mut res) {
                Ok(()) => res.resident * PAGE as u64,
                Err(_) => 0,
            }
        })
        .sum()
}

fn mem_total() -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb << 10)
}

/// The buffer: one mapping, as a program's heap would be, written in address order: DAMON finds
/// the part not yet written cold too, which ps-tierd must not spend its requests on.
struct Memory {
    buf: Buf,
    data: Data,
}

const CHUNK_WORDS: usize = (CHUNK_MIB << 20) / 8;
const PAGE_WORDS: usize = PAGE / 8;

impl Memory {
    fn fill(opts: &Options) -> Result<Self, String> {
        let buf = Buf::anon((opts.mib << 20) / PAGE)?;
        let start = Instant::now();
        for i in 0..opts.mib / CHUNK_MIB {
            for w in i * CHUNK_WORDS..(i + 1) * CHUNK_WORDS {
                buf.write_word(w, opts.data.value(w));
            }
            println!("filled {} MiB", (i + 1) * CHUNK_MIB);
            let _ = std::io::stdout().flush();
            // Paced by the clock, not by pauses: a slow write does not slow the pace further.
            let due =
                Duration::from_secs_f64(((i + 1) * CHUNK_MIB) as f64 / opts.fill_mib_per_s as f64);
            if let Some(rest) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        Ok(Self {
            buf,
            data: opts.data,
        })
    }

    /// One operation on page `page`: reads a line and checks it; with `write`, writes it back.
    fn op(&self, page: usize, line: usize, write: bool) -> Result<(), String> {
        let first = page * PAGE_WORDS + line * LINE_WORDS;
        for k in 0..LINE_WORDS {
            let want = self.data.value(first + k);
            let got = self.buf.read_word(first + k);
            if got != want {
                return Err(format!(
                    "byte {:#x} of the buffer (page {page}): read {got:#018x}, wrote {want:#018x}",
                    (first + k) * 8
                ));
            }
            if write {
                self.buf.write_word(first + k, got);
            }
        }
        Ok(())
    }
}

/// What the measured phase gave.
struct Outcome {
    ops: u64,
    cold_ops: u64,
    seconds: f64,
    hist: Histogram,
}

/// Runs operations for `secs` seconds; latencies go to the histogram.
fn work(mem: &Memory, opts: &Options, rng: &mut Rng, secs: u64) -> Result<Outcome, String> {
    let pages = opts.mib * 256;
    let zipf = Zipf::new(opts.hot_mib * 256);
    let mut out = Outcome {
        ops: 0,
        cold_ops: 0,
        seconds: 0.0,
        hist: Histogram::new(),
    };
    let start = Instant::now();
    let end = Duration::from_secs(secs);
    loop {
        // The clock is read once per operation: its end is the next one's start.
        let t = Instant::now();
        if t - start >= end {
            break;
        }
        let cold = rng.below(opts.cold_every) == 0;
        let page = match cold {
            true => rng.below(pages as u64) as usize,
            false => zipf.page(rng),
        };
        let line = rng.below((PAGE_WORDS / LINE_WORDS) as u64) as usize;
        mem.op(page, line, out.ops % WRITE_EVERY == 0)
            .map_err(|e| format!("operation {}: {e}", out.ops))?;
        out.hist.add(t.elapsed().as_nanos() as u64);
        out.ops += 1;
        out.cold_ops += cold as u64;
    }
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

/// One run's result, a line of `--json` output (`ps-bench tier-report` reads them back).
#[derive(Serialize)]
struct Record<'a> {
    label: &'a str,
    data: &'static str,
    oom_killed: bool,
    mib: usize,
    hot_mib: usize,
    mem_total_mib: u64,
    cold_every: u64,
    seconds: f64,
    ops: u64,
    cold_ops: u64,
    ops_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    out_of_ram_mib: f64,
    backend_ram_mib: f64,
    ram_freed_mib: f64,
    zram_ratio: Option<f64>,
    pages_out: u64,
    pages_in: u64,
    pages_out_fill: u64,
    early_refaults: u64,
}

pub fn run(opts: &Options) -> Result<(), String> {
    let before_fill = Counters::read();
    let mem = Memory::fill(opts)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    if opts.warmup_secs > 0 {
        work(&mem, opts, &mut rng, opts.warmup_secs)?;
    }
    let before = Counters::read();
    let out = work(&mem, opts, &mut rng, opts.seconds)?;
    let after = Counters::read();
    let swapped = status_bytes("VmSwap");
    let vram = vram_resident(&mem.buf);
    let (zram_orig, zram_compr, zram_used) = zram_usage();
    let freed = (swapped + vram).saturating_sub(zram_used);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let record = Record {
        label: &opts.label,
        data: opts.data.name(),
        oom_killed: false,
        mib: opts.mib,
        hot_mib: opts.hot_mib,
        mem_total_mib: mem_total() >> 20,
        cold_every: opts.cold_every,
        seconds: out.seconds,
        ops: out.ops,
        cold_ops: out.cold_ops,
        ops_per_s: out.ops as f64 / out.seconds,
        p50_us: out.hist.quantile(0.5) / 1000.0,
        p99_us: out.hist.quantile(0.99) / 1000.0,
        out_of_ram_mib: mib(swapped + vram),
        backend_ram_mib: mib(zram_used),
        ram_freed_mib: mib(freed),
        zram_ratio: match zram_compr {
            0 => None,
            c => Some(zram_orig as f64 / c as f64),
        },
        pages_out: (after.pswpout + after.to_device) - (before.pswpout + before.to_device),
        pages_in: (after.pswpin + after.to_ram) - (before.pswpin + before.to_ram),
        pages_out_fill: (before.pswpout + before.to_device)
            - (before_fill.pswpout + before_fill.to_device),
        early_refaults: (after.early_refaults + after.workingset_activate_anon)
            - (before.early_refaults + before.workingset_activate_anon),
    };
    println!(
        "tier {} {}: {:.0} ops/s, p50 {:.2} us, p99 {:.2} us, {:.0} MiB of RAM freed, {} pages out, {} in, {} early refaults",
        opts.label,
        opts.data.name(),
        out.ops as f64 / out.seconds,
        out.hist.quantile(0.5) / 1000.0,
        out.hist.quantile(0.99) / 1000.0,
        mib(freed),
        record.pages_out,
        record.pages_in,
        record.early_refaults,
    );
    if let Some(path) = &opts.json {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        writeln!(f, "{}", json::to_string(&record)).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ps-bench tier` with `a`, checked.
    fn parse(a: &[&str]) -> Result<Options, String> {
        #[derive(clap::Parser)]
        struct Tier {
            #[command(flatten)]
            options: Options,
        }
        let tier = <Tier as clap::Parser>::try_parse_from(
            std::iter::once("tier").chain(a.iter().copied()),
        )
        .map_err(|e| e.to_string())?;
        tier.options.check().map(|()| tier.options)
    }

    #[test]
    fn parses_options() {
        let o = parse(&[
            "--label",
            "zram",
            "--mib",
            "1280",
            "--hot-mib",
            "128",
            "--data",
            "compressible",
            "--seconds",
            "9",
            "--json",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(o.label, "zram");
        assert_eq!((o.mib, o.hot_mib, o.seconds), (1280, 128, 9));
        assert_eq!(o.data, Data::Compressible);
        assert_eq!(o.json.as_deref(), Some("/tmp/x"));
        assert_eq!(
            (o.fill_mib_per_s, o.warmup_secs, o.cold_every),
            (16, 5, 10_000)
        );
        for data in [Data::Random, Data::Compressible] {
            assert_eq!(data.to_possible_value().unwrap().get_name(), data.name());
        }
        assert!(parse(&["--mib", "1280", "--hot-mib", "128"]).is_err());
        assert!(parse(&["--label", "a", "--mib", "100", "--hot-mib", "8"]).is_err());
        assert!(parse(&["--label", "a", "--mib", "128", "--hot-mib", "128"]).is_err());
        assert!(parse(&["--label", "a", "--mib", "128", "--hot-mib", "0"]).is_err());
        assert!(parse(&[
            "--label",
            "a",
            "--mib",
            "128",
            "--hot-mib",
            "8",
            "--seconds",
            "0"
        ])
        .is_err());
        assert!(parse(&[
            "--label",
            "a",
            "--mib",
            "128",
            "--hot-mib",
            "8",
            "--data",
            "x"
        ])
        .is_err());
        assert!(parse(&["--label"]).is_err());
    }

    #[test]
    fn compressible_data_has_one_byte_per_word() {
        for w in 0..1000 {
            assert!(Data::Compressible.value(w) <= 0xff);
        }
        assert_ne!(Data::Random.value(1), Data::Random.value(2));
    }

    #[test]
    fn zipf_pages_are_skewed_and_in_the_hot_set() {
        let mut rng = Rng(7);
        let hot = 32768;
        let zipf = Zipf::new(hot);
        let mut counts = vec![0u32; hot];
        for _ in 0..200_000 {
            counts[zipf.page(&mut rng)] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top: u32 = counts[..hot / 100].iter().sum();
        // The top 1% of pages take about ln(328)/ln(32769), 56%, of the operations.
        assert!((100_000..130_000).contains(&top), "top 1%: {top}");
        assert!(counts[hot / 2] <= 10);
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), 0.0);
        for ns in 1..=1000u64 {
            h.add(ns * 1000);
        }
        let p50 = h.quantile(0.5);
        let p99 = h.quantile(0.99);
        assert!((450_000.0..560_000.0).contains(&p50), "p50 {p50}");
        assert!((930_000.0..1_070_000.0).contains(&p99), "p99 {p99}");
        for ns in [0u64, 7, 8, 9, 15, 16, 1 << 40] {
            let v = Histogram::value(Histogram::bucket(ns));
            assert!(
                (v - ns as f64).abs() <= ns as f64 / 8.0 + 1.0,
                "{ns} -> {v}"
            );
        }
    }

    #[test]
    fn counters_parse_vmstat() {
        let text = "pswpin 12\npswpout 34\nworkingset_activate_anon 5\npswpinx 9\n";
        assert_eq!(vmstat(text, "pswpin"), 12);
        assert_eq!(vmstat(text, "pswpout"), 34);
        assert_eq!(vmstat(text, "workingset_activate_anon"), 5);
        assert_eq!(vmstat(text, "missing"), 0);
    }
}
