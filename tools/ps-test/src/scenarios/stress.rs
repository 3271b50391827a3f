// SPDX-License-Identifier: GPL-2.0

//! Moving memory under fault injection and through fork storms.

use crate::{
    ctx::{bytes, errno, Ctx, TestResult},
    proc::fork_child,
};
use pseudoscopic::{
    abi::{self, Direction},
    mem::Buf,
};
use rustix::io::Errno;

/// Under fault injection (the fault-injection group aims failslab and fail_page_alloc at the
/// module's code and this process): rounds of park, CPU fault-back of half, MIGRATE_TO_RAM of the
/// rest. Each request works, with counters that add up, or fails with ENOMEM (the README's errno
/// for a failed allocation); pages that found no RAM stay parked; the data is intact after every
/// round, and injected failures did reach the module.
pub fn faults(ctx: &Ctx) -> TestResult {
    const MAKE_IT_FAIL: &str = "/proc/self/make-it-fail";
    let (rounds, n) = (100, 256);
    let buf = Buf::anon(n)?;
    std::fs::write(MAKE_IT_FAIL, "1").map_err(|e| format!("{MAKE_IT_FAIL}: {e}"))?;
    let (mut requests, mut enomem, mut moved, mut no_ram, mut verified) = (0u64, 0u64, 0, 0, 0);
    for round in 0..rounds {
        let seed = 1000 + round as u64;
        buf.fill_all(seed);
        for dir in [Direction::ToDevice, Direction::ToRam] {
            let (req, res) = ctx.migrate_raw(
                dir,
                buf.addr(),
                buf.size(),
                abi::PIDFD_SELF,
                abi::DEVICE_ANY,
            );
            requests += 1;
            match errno(&res) {
                None => {
                    ensure_eq!(
                        req.moved + req.skipped(),
                        n as u64,
                        format!("round {round} {dir:?} counters")
                    );
                    moved += req.moved;
                    if dir == Direction::ToRam {
                        no_ram += req.skipped_no_space;
                    }
                }
                Some(e) if e == Errno::NOMEM.raw_os_error() => enomem += 1,
                Some(e) => {
                    return Err(format!(
                        "round {round} {dir:?}: {res:?} (errno {e}), expected success or ENOMEM"
                    ))
                }
            }
            if dir == Direction::ToDevice {
                // CPU faults bring half back, page allocations failing or not; last page first,
                // so that each fault's page is the last of its window and the pages before it
                // already have RAM when its own allocation fails.
                for page in (0..n / 2).rev() {
                    buf.verify(seed, page, 1)
                        .map_err(|e| format!("round {round}, after parking: {e}"))?;
                }
                verified += bytes(n as u64 / 2);
            }
        }
        buf.verify_all(seed)
            .map_err(|e| format!("round {round}, at the end: {e}"))?;
        verified += buf.size();
    }
    std::fs::write(MAKE_IT_FAIL, "0").map_err(|e| format!("{MAKE_IT_FAIL}: {e}"))?;
    println!(
        "{rounds} rounds: {requests} requests, {enomem} failed with ENOMEM, {moved} pages moved, \
         {no_ram} pages found no RAM, {verified} bytes verified"
    );
    ensure!(
        enomem + no_ram > 0,
        "no injected failure reached the module (is fault injection aimed at it?)"
    );
    Ok(())
}

/// A fork storm over parked memory: waves of children fork while the parent's pages are in VRAM;
/// each child parks, reads and writes parts of its copy (copy-on-write of device pages both
/// ways) and checks it; children of children do the same. The parent re-parks between waves and
/// its data never changes.
pub fn fork_storm(ctx: &Ctx) -> TestResult {
    let (n, waves, per_wave) = (512, 8, 12);
    let owned = Buf::anon(n)?;
    let buf = &owned;
    buf.fill_all(40);
    let mut verified = 0u64;
    let mut forks = 0u64;
    for wave in 0..waves {
        ctx.park(buf, 0, n)?;
        let children = (0..per_wave)
            .map(|c| {
                let seed = 1000 * (wave + 1) + c;
                fork_child(move || {
                    let ctx = Ctx::new()?;
                    buf.verify_all(40)?;
                    // Write a part (COW off device pages), park it again, fork a grandchild
                    // that checks both parts, then check both ourselves.
                    let half = n / 2;
                    buf.fill(seed, 0, half);
                    ctx.park(buf, 0, n)?;
                    let grandchild = fork_child(move || {
                        buf.verify(seed, 0, half)?;
                        buf.verify(40, half, n - half)
                    })?;
                    grandchild.wait_ok("grandchild")?;
                    buf.verify(seed, 0, half)?;
                    buf.verify(40, half, n - half)
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        for child in children {
            child.wait_ok(&format!("child of wave {wave}"))?;
        }
        forks += 2 * per_wave;
        // Each child and grandchild checked the whole buffer (twice for the children).
        verified += 3 * per_wave * buf.size();
        buf.verify_all(40)
            .map_err(|e| format!("parent after wave {wave}: {e}"))?;
        verified += buf.size();
    }
    println!(
        "{waves} waves: {forks} processes forked over parked memory, {verified} bytes verified"
    );
    Ok(())
}
