// SPDX-License-Identifier: GPL-2.0

//! The `make run` workload: more data than the machine has free RAM, possible only because
//! someone else (`ps-migrate`) parks its cold part in VRAM while it runs.

use crate::proc;
use pseudoscopic::mem::{Buf, PAGE};
use std::io;

/// Seeds of the cold chunks start here; the hot part uses [`HOT_SEED`].
const COLD_SEED: u64 = 100;
const HOT_SEED: u64 = 99;

/// Stops this process until a `SIGCONT`.
fn stop_self() -> Result<(), String> {
    // SAFETY: Sends a signal to ourselves; SIGSTOP cannot be caught, the process just stops.
    if unsafe { libc::raise(libc::SIGSTOP) } != 0 {
        return Err(format!("raise(SIGSTOP): {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Writes `cold_mib` MiB of cold data in `chunk_mib` MiB chunks, printing each chunk's range as
/// `cold I ADDR+LENGTH` and stopping (SIGSTOP) after each so its caller can park it; then writes
/// and works on `hot_mib` MiB of hot data and stops once more, for its caller to look. Finally
/// checks every byte: each cold chunk is read back (faulting it into RAM) and released before the
/// next, so the check fits in RAM too.
pub fn workload(cold_mib: usize, chunk_mib: usize, hot_mib: usize) -> Result<(), String> {
    let chunk_pages = (chunk_mib << 20) / PAGE;
    let mut cold = Vec::new();
    for i in 0..cold_mib / chunk_mib {
        let buf = Buf::anon(chunk_pages)?;
        let seed = COLD_SEED + i as u64;
        buf.fill_all(seed);
        println!("cold {i} {:#x}+{}", buf.addr(), buf.size());
        proc::flush_stdout();
        stop_self()?;
        cold.push((buf, seed));
    }
    let hot = Buf::anon((hot_mib << 20) / PAGE)?;
    hot.fill_all(HOT_SEED);
    for pass in 1..=3 {
        hot.verify_all(HOT_SEED)
            .map_err(|e| format!("hot data, pass {pass}: {e}"))?;
    }
    println!("hot {:#x}+{}: 3 passes, intact", hot.addr(), hot.size());
    proc::flush_stdout();
    stop_self()?;
    for (i, (buf, seed)) in cold.into_iter().enumerate() {
        buf.verify_all(seed)
            .map_err(|e| format!("cold chunk {i}: {e}"))?;
        println!("cold {i}: {} MiB intact", buf.size() >> 20);
        proc::flush_stdout();
    }
    Ok(())
}
