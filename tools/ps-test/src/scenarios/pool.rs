// SPDX-License-Identifier: GPL-2.0

//! The VRAM pool: held across unbind, exhausted, split between two GPUs, and what MemFree
//! shows of it.

use super::thp::huge_buf;
use crate::{
    ctx::{bytes, errno, expect_stats, Ctx, TestResult, HUGE_PAGES},
    proc,
};
use pseudoscopic::{
    abi::{self, Direction},
    mem::{Buf, PAGE},
    smaps,
    sysfs::{Pool, Stats},
};
use rustix::io::Errno;

/// For the unbind tests: park MIB MiB, close the device (so the module can be removed), say
/// "parked", wait for SIGUSR1, then check every byte.
pub fn hold(mib: usize, huge: bool) -> TestResult {
    let n = (mib << 20) / PAGE;
    let buf = match huge {
        true => huge_buf(n / HUGE_PAGES, 19)?,
        false => Buf::anon(n)?,
    };
    buf.fill_all(19);
    let ctx = Ctx::new()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "parked");
    if huge {
        ensure_eq!(
            smaps::anon_huge_kb(buf.addr())?,
            (mib << 10) as u64,
            "AnonHugePages parked: whole huge pages"
        );
    }
    drop(ctx);
    let sigs = proc::block_sigusr1()?;
    println!("parked {n} pages at {:#x}+{}", buf.addr(), buf.size());
    proc::flush_stdout();
    sigs.wait()?;
    buf.verify_all(19)?;
    println!("all {} bytes intact", n * PAGE);
    Ok(())
}

/// Pool exhaustion: partial success with counts, then ENOSPC; nothing leaks.
pub fn exhaust(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    ensure!(
        pool0.free_pages == pool0.total_pages,
        "pool not empty at start: {pool0:?}"
    );
    let total = pool0.total_pages as usize;
    let extra = 256;
    let buf = Buf::anon(total + extra)?;
    buf.fill_all(20);
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 0, total + extra)?;
    ensure_eq!(r.moved, total as u64, "moved into a pool of {total} pages");
    ensure_eq!(r.skipped_no_space, extra as u64, "no space");
    ensure_eq!(ctx.pool()?.free_pages, 0, "free pages when full");
    let more = Buf::anon(64)?;
    more.fill_all(21);
    let (r, res) = ctx.migrate_raw(
        Direction::ToDevice,
        more.addr(),
        more.size(),
        abi::PIDFD_SELF,
        abi::DEVICE_ANY,
    );
    ensure!(
        errno(&res) == Some(Errno::NOSPC.raw_os_error()),
        "full pool: {res:?}, expected ENOSPC"
    );
    ensure_eq!(r.skipped_no_space, 64, "ENOSPC still reports counts");
    ensure_eq!(r.moved, 0, "moved with ENOSPC");
    expect_stats(
        &s0,
        &ctx.stats()?,
        &[
            ("migrations_to_device", total as u64),
            ("bytes_to_device", bytes(total as u64)),
            ("alloc_fail", (extra + 64) as u64),
        ],
    )?;
    more.verify_all(21)?;
    drop(more);
    buf.verify_all(20)?;
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool after freeing everything");
    Ok(())
}

/// Two GPUs: each takes what it is asked to, counted separately.
pub fn two_gpus(ctx: &Ctx) -> TestResult {
    let devices = ctx.sys.devices().map_err(|e| format!("devices: {e}"))?;
    ensure_eq!(devices.len(), 2, "bound GPUs");
    let n = 256;
    let a = Buf::anon(n)?;
    let b = Buf::anon(n)?;
    a.fill_all(22);
    b.fill_all(23);
    let per_gpu = |i: usize| -> Result<(u32, Pool, Stats), String> {
        let d = &devices[i];
        let index = d.index.ok_or("no index")?;
        let dev = ctx.sys.devices().map_err(|e| format!("devices: {e}"))?;
        let pool = dev[i].pool.ok_or("no pool")?;
        let stats = ctx
            .sys
            .device_stats(&d.address)
            .map_err(|e| format!("stats: {e}"))?;
        Ok((index, pool, stats))
    };
    let (i0, p0, s0) = per_gpu(0)?;
    let (i1, p1, s1) = per_gpu(1)?;
    ctx.park_on(&a, 0, n, i0)?;
    ctx.park_on(&b, 0, n, i1)?;
    let (_, p0b, s0b) = per_gpu(0)?;
    let (_, p1b, s1b) = per_gpu(1)?;
    ensure_eq!(p0b.free_pages, p0.free_pages - n as u64, "GPU 0 free pages");
    ensure_eq!(p1b.free_pages, p1.free_pages - n as u64, "GPU 1 free pages");
    expect_stats(
        &s0,
        &s0b,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
        ],
    )?;
    expect_stats(
        &s1,
        &s1b,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
        ],
    )?;
    ensure_eq!(
        ctx.resident_of(a.addr(), a.size(), abi::PIDFD_SELF, i0)?,
        n as u64,
        "A on GPU 0"
    );
    ensure_eq!(
        ctx.resident_of(a.addr(), a.size(), abi::PIDFD_SELF, i1)?,
        0,
        "A on GPU 1"
    );
    ensure_eq!(
        ctx.resident_of(b.addr(), b.size(), abi::PIDFD_SELF, i1)?,
        n as u64,
        "B on GPU 1"
    );
    let total = ctx.pool()?;
    ensure_eq!(
        total.total_pages,
        p0.total_pages + p1.total_pages,
        "module pool is the sum"
    );
    ensure_eq!(
        total.free_pages,
        p0b.free_pages + p1b.free_pages,
        "module free pages are the sum"
    );
    // To RAM from GPU 1 only leaves A on GPU 0.
    let (r, res) = ctx.migrate_raw(Direction::ToRam, a.addr(), a.size(), abi::PIDFD_SELF, i1);
    res.map_err(|e| format!("MIGRATE_TO_RAM from GPU 1: {e}"))?;
    ensure_eq!(r.moved, 0, "pages of A moved from GPU 1");
    ensure_eq!(r.skipped_resident, n as u64, "pages of A not on GPU 1");
    a.verify_all(22)?;
    b.verify_all(23)?;
    let (_, p0c, s0c) = per_gpu(0)?;
    let (_, p1c, s1c) = per_gpu(1)?;
    ensure_eq!(p0c, p0, "GPU 0 pool after reading back");
    ensure_eq!(p1c, p1, "GPU 1 pool after reading back");
    ensure_eq!(
        s0c.get("migrations_to_ram") - s0b.get("migrations_to_ram"),
        n as u64,
        "GPU 0 to RAM"
    );
    ensure_eq!(
        s1c.get("migrations_to_ram") - s1b.get("migrations_to_ram"),
        n as u64,
        "GPU 1 to RAM"
    );
    Ok(())
}

/// Parked pages leave RAM: MemFree rises by at least 90% of what was parked.
///
/// Freed pages may first collect on the per-CPU free lists, which MemFree does not count and
/// which the kernel lets grow to 1/8 of a zone; the scenario shrinks them for its duration so
/// that MemFree shows what left RAM.
pub fn meminfo(ctx: &Ctx) -> TestResult {
    let _pcp = proc::SmallPcpLists::set()?;
    let n = (64 << 20) / PAGE;
    let buf = Buf::anon(n)?;
    buf.fill_all(24);
    let free0 = proc::mem_free_kb()?;
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "parked");
    let free1 = proc::mem_free_kb()?;
    let rise = free1.saturating_sub(free0);
    let parked_kb = (n * PAGE / 1024) as u64;
    println!("MemFree {free0} kB -> {free1} kB: +{rise} kB for {parked_kb} kB parked");
    ensure!(
        rise * 10 >= parked_kb * 9,
        "MemFree rose by {rise} kB, less than 90% of {parked_kb} kB"
    );
    buf.verify_all(24)
}
