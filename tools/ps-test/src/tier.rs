// SPDX-License-Identifier: GPL-2.0

//! Workloads for the transparent tiering tests (`ps-tierd`): nobody parks their memory by hand.
//!
//! - `grow`: more memory than the machine has, written chunk by chunk at a steady pace; it can
//!   only finish if something (ps-tierd) moves its cold part out of RAM meanwhile.
//! - `hot`: memory that sits idle until SIGUSR1, then is worked on for a while (it turns hot
//!   again), then idles until another SIGUSR1.
//! - `pingpong`: the adversary of the quality loop: each time its memory is parked, it touches
//!   all of it at once.
//!
//! Every byte is checked.

use crate::proc;
use pseudoscopic::{
    abi::{self, Device, Residency},
    mem::{Buf, PAGE},
};
use std::time::{Duration, Instant};

/// Seeds of `grow`'s chunks start here.
const GROW_SEED: u64 = 300;
const HOT_SEED: u64 = 29;
const PINGPONG_SEED: u64 = 31;

/// Writes `total_mib` MiB in `chunk_mib` MiB chunks, `pause_ms` apart, keeping all of it; then
/// checks every chunk, releasing each once checked (so the check needs no more RAM than a chunk).
pub fn grow(total_mib: usize, chunk_mib: usize, pause_ms: u64) -> Result<(), String> {
    let chunk_pages = (chunk_mib << 20) / PAGE;
    let mut chunks = Vec::new();
    for i in 0..total_mib / chunk_mib {
        let buf = Buf::anon(chunk_pages)?;
        buf.fill_all(GROW_SEED + i as u64);
        chunks.push(buf);
        println!("wrote {} MiB", (i + 1) * chunk_mib);
        proc::flush_stdout();
        std::thread::sleep(Duration::from_millis(pause_ms));
    }
    for (i, buf) in chunks.into_iter().enumerate() {
        buf.verify_all(GROW_SEED + i as u64)
            .map_err(|e| format!("chunk {i}: {e}"))?;
    }
    println!("checked {total_mib} MiB");
    Ok(())
}

/// Pages `hot` zaps after each pass to flush its TLB: more than x86's
/// `tlb_single_page_flush_ceiling` (33), so the kernel flushes all of it, not page by page.
const TLB_FLUSH_PAGES: usize = 64;

/// Fills `mib` MiB and prints `filled ADDR+LENGTH`; after a SIGUSR1 works on all of it for
/// `secs` seconds (reading every byte, over and over) and prints `hot N passes`; after another
/// SIGUSR1 checks every byte. With `secs` 0 it only waits for one SIGUSR1, then checks.
pub fn hot(mib: usize, secs: u64) -> Result<(), String> {
    let sigs = proc::block_sigusr1()?;
    let buf = Buf::anon((mib << 20) / PAGE)?;
    buf.fill_all(HOT_SEED);
    println!("filled {:#x}+{}", buf.addr(), buf.size());
    proc::flush_stdout();
    sigs.wait()?;
    if secs > 0 {
        // DAMON (and so ps-tierd) sees an access through a page's accessed bit, which it clears
        // without a TLB flush: x86 counts on the TLB's capacity misses to set it again. A real
        // CPU's TLB holds far fewer entries than the buffer's 4 KiB pages; QEMU's software TLB
        // (TCG) can hold them all, and then a hot buffer looks idle. Each pass ends with a flush
        // of this process's TLB, as those misses would (see `TLB_FLUSH_PAGES`).
        let flusher = Buf::anon(TLB_FLUSH_PAGES)?;
        let start = Instant::now();
        let mut passes = 0u64;
        while start.elapsed() < Duration::from_secs(secs) {
            buf.verify_all(HOT_SEED)
                .map_err(|e| format!("hot pass {passes}: {e}"))?;
            flusher.fill(HOT_SEED, 0, TLB_FLUSH_PAGES);
            flusher.dontneed(0, TLB_FLUSH_PAGES)?;
            passes += 1;
        }
        println!("hot {passes} passes");
        proc::flush_stdout();
        sigs.wait()?;
    }
    buf.verify_all(HOT_SEED)?;
    println!("all {} bytes intact", buf.size());
    Ok(())
}

/// Fills `mib` MiB; `rounds` times waits (up to `timeout_secs` each) until something parked at
/// least half of it, then reads every byte at once, bringing it back. Prints `round I: N pages
/// were parked` per round.
pub fn pingpong(mib: usize, rounds: u32, timeout_secs: u64) -> Result<(), String> {
    let pages = (mib << 20) / PAGE;
    let buf = Buf::anon(pages)?;
    buf.fill_all(PINGPONG_SEED);
    println!("filled {:#x}+{}", buf.addr(), buf.size());
    proc::flush_stdout();
    for round in 0..rounds {
        let start = Instant::now();
        let parked = loop {
            // Opened per look, so the module can be removed between them.
            let dev =
                Device::open(abi::DEVICE_PATH).map_err(|e| format!("{}: {e}", abi::DEVICE_PATH))?;
            let mut res = Residency {
                addr: buf.addr(),
                length: buf.size(),
                pidfd: abi::PIDFD_SELF,
                device: abi::DEVICE_ANY,
                ..Residency::default()
            };
            dev.residency(&mut res)
                .map_err(|e| format!("residency: {e}"))?;
            if res.resident * 2 >= pages as u64 {
                break res.resident;
            }
            if start.elapsed() > Duration::from_secs(timeout_secs) {
                return Err(format!(
                    "round {round}: only {} of {pages} pages parked after {timeout_secs} s",
                    res.resident
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        buf.verify_all(PINGPONG_SEED)
            .map_err(|e| format!("round {round}: {e}"))?;
        println!("round {round}: {parked} pages were parked");
        proc::flush_stdout();
    }
    Ok(())
}
