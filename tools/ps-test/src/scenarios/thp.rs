// SPDX-License-Identifier: GPL-2.0

//! Transparent huge pages: moved whole, split when a range or a mapping cuts them, and
//! single pages when no huge page is free.

use super::migrate::copy_on_write_both_ways;
use crate::ctx::{bytes, expect_stats, Ctx, TestResult, HUGE_PAGES};
use pseudoscopic::{mem::Buf, smaps};

/// A buffer of `huge` transparent huge pages filled with `seed`, each checked to be one. The
/// caller holds a [`HugePages`] (see [`NEEDS_HUGE_PAGES`]).
pub fn huge_buf(huge: usize, seed: u64) -> Result<Buf, String> {
    let buf = Buf::anon_huge(huge * HUGE_PAGES)?;
    buf.fill_all(seed);
    let kb = smaps::anon_huge_kb(buf.addr())?;
    ensure_eq!(
        kb,
        (huge * 2048) as u64,
        "AnonHugePages of the buffer: transparent huge pages backing it"
    );
    Ok(buf)
}

/// hmm-tests "migrate_anon_huge_fault": transparent huge pages move to VRAM whole, as 2 MiB
/// device folios (still huge in smaps), and come back whole on one CPU fault each, or on request.
pub fn thp(ctx: &Ctx) -> TestResult {
    let huge = 2;
    let n = huge * HUGE_PAGES;
    let buf = huge_buf(huge, 29)?;
    let pool0 = ctx.pool()?;
    let s0 = ctx.stats()?;
    let gpu = ctx.sys.devices().map_err(|e| format!("devices: {e}"))?;
    let gpu = gpu.first().ok_or("no GPU bound")?.address.clone();
    let gpu_stats = || {
        ctx.sys
            .device_stats(&gpu)
            .map_err(|e| format!("GPU stats: {e}"))
    };
    let g0 = gpu_stats()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "pages of huge pages moved");
    ensure_eq!(ctx.resident(&buf)?, n as u64, "resident");
    ensure_eq!(
        smaps::anon_huge_kb(buf.addr())?,
        (huge * 2048) as u64,
        "AnonHugePages in VRAM: still whole huge pages"
    );
    let pool1 = ctx.pool()?;
    ensure_eq!(
        pool1.free_chunks,
        pool0.free_chunks - huge as u64,
        "free 2 MiB chunks after parking"
    );
    ensure_eq!(pool1.free_pages, pool0.free_pages - n as u64, "free pages");
    let s1 = ctx.stats()?;
    expect_stats(
        &s0,
        &s1,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
            ("thp_to_device", huge as u64),
        ],
    )?;
    let g1 = gpu_stats()?;
    ensure_eq!(
        g1.since(&g0).get("thp_to_device"),
        huge as u64,
        "GPU stats/thp_to_device"
    );
    // One touch per huge page brings all of it back.
    for h in 0..huge {
        buf.touch_read(h * HUGE_PAGES + 7);
    }
    ensure_eq!(
        ctx.resident(&buf)?,
        0,
        "resident after one touch per huge page"
    );
    expect_stats(
        &s1,
        &ctx.stats()?,
        &[
            ("migrations_to_ram", n as u64),
            ("bytes_to_ram", bytes(n as u64)),
            ("page_faults", huge as u64),
            ("thp_to_ram", huge as u64),
        ],
    )?;
    ensure_eq!(
        gpu_stats()?.since(&g1).get("thp_to_ram"),
        huge as u64,
        "GPU stats/thp_to_ram"
    );
    ensure_eq!(
        smaps::anon_huge_kb(buf.addr())?,
        (huge * 2048) as u64,
        "AnonHugePages back in RAM"
    );
    buf.verify_all(29)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after the fault-back");

    // And by request.
    ctx.park(&buf, 0, n)?;
    let s2 = ctx.stats()?;
    ensure_eq!(
        ctx.unpark(&buf, 0, n)?.moved,
        n as u64,
        "moved back by request"
    );
    let delta = ctx.stats()?.since(&s2);
    ensure_eq!(
        delta.get("thp_to_ram"),
        huge as u64,
        "thp_to_ram by request"
    );
    ensure_eq!(delta.get("page_faults"), 0, "page faults of a request");
    buf.verify_all(29)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after the huge pages");

    // Single pages now land in the chunks that held the huge pages: each must become a folio of
    // its own, whatever the huge folio left in its struct page.
    let small = Buf::anon(n + 64)?;
    small.fill_all(42);
    ensure_eq!(
        ctx.park(&small, 0, n + 64)?.moved,
        (n + 64) as u64,
        "single pages parked"
    );
    small.verify_all(42)?;
    drop(small);
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}

/// hmm-tests "anon_write_child" with a huge page: after fork a parked huge page is shared
/// copy-on-write; the child reads the parent's data and its writes stay its own, both ways.
pub fn thp_fork(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    let buf = huge_buf(1, 38)?;
    copy_on_write_both_ways(&buf, 38, " the huge page", |_| {
        ctx.park(&buf, 0, HUGE_PAGES)?;
        Ok(())
    })?;
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}

/// A range that covers only part of a huge page moves page by page: the huge page is split.
pub fn thp_unaligned(ctx: &Ctx) -> TestResult {
    let buf = huge_buf(1, 30)?;
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 16, HUGE_PAGES - 32)?;
    ensure_eq!(r.moved, (HUGE_PAGES - 32) as u64, "pages moved");
    let delta = ctx.stats()?.since(&s0);
    ensure_eq!(delta.get("thp_to_device"), 0, "huge pages moved whole");
    ensure_eq!(
        smaps::anon_huge_kb(buf.addr())?,
        0,
        "AnonHugePages after a partial move"
    );
    buf.verify_all(30)?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after reading");
    Ok(())
}

/// hmm-tests "migrate_partial_unmap_fault": munmap part of a huge page in VRAM, at its start,
/// a quarter in and in the middle; the rest faults back intact and every VRAM page is freed.
pub fn thp_partial_unmap(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    for (k, offset) in [0, HUGE_PAGES / 4, HUGE_PAGES / 2].into_iter().enumerate() {
        let seed = 31 + k as u64;
        let buf = huge_buf(1, seed)?;
        let s0 = ctx.stats()?;
        ctx.park(&buf, 0, HUGE_PAGES)?;
        let half = HUGE_PAGES / 2;
        buf.unmap_part(offset, half)?;
        // What stays mapped reads back intact.
        buf.verify(seed, 0, offset)?;
        buf.verify(seed, offset + half, HUGE_PAGES - offset - half)?;
        let delta = ctx.stats()?.since(&s0);
        ensure_eq!(delta.get("thp_to_device"), 1, "parked as a huge page");
        ensure_eq!(delta.get("thp_splits"), 1, "huge device page split");
        ensure_eq!(
            delta.get("migrations_to_ram"),
            half as u64,
            "pages faulted back"
        );
        drop(buf);
        ensure_eq!(
            ctx.pool()?,
            pool0,
            format!("pool after unmapping at {offset}")
        );
    }
    Ok(())
}

/// hmm-tests "migrate_remap_fault": mremap a huge page in VRAM to an address that is not 2 MiB
/// aligned; it is mapped by single entries there and faults back intact.
pub fn thp_mremap(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    let buf = huge_buf(1, 34)?;
    ctx.park(&buf, 0, HUGE_PAGES)?;
    let buf = buf.remap_misaligned()?;
    ensure!(
        buf.addr() % (2 << 20) != 0,
        "mremap target is 2 MiB aligned"
    );
    ensure_eq!(
        ctx.resident(&buf)?,
        HUGE_PAGES as u64,
        "resident at the new address"
    );
    buf.verify_all(34)?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after reading");
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}

/// hmm-tests "migrate_anon_huge_err": when no whole 2 MiB of VRAM is free, a huge page moves as
/// single pages. Needs a pool of exactly two chunks (`pool_size_mb=4`): one page of a small
/// buffer takes the first chunk, huge page A the second, and huge page B finds only the 511 free
/// pages of the first.
pub fn thp_fallback(ctx: &Ctx) -> TestResult {
    let pool0 = ctx.pool()?;
    ensure!(
        pool0.total_pages == (2 * HUGE_PAGES) as u64 && pool0.free_pages == pool0.total_pages,
        "needs an empty pool of two 2 MiB chunks (pool_size_mb=4), found {pool0:?}"
    );
    let small = Buf::anon(1)?;
    small.fill_all(35);
    ctx.park(&small, 0, 1)?;
    let a = huge_buf(1, 36)?;
    let b = huge_buf(1, 37)?;
    let s0 = ctx.stats()?;
    ensure_eq!(
        ctx.park(&a, 0, HUGE_PAGES)?.moved,
        HUGE_PAGES as u64,
        "A moved"
    );
    // Partial success: no error, the page without room counted.
    let req = ctx.park(&b, 0, HUGE_PAGES)?;
    ensure_eq!(req.moved, (HUGE_PAGES - 1) as u64, "B: pages moved");
    ensure_eq!(req.skipped_no_space, 1, "B: pages without room");
    let delta = ctx.stats()?.since(&s0);
    ensure_eq!(delta.get("thp_to_device"), 1, "huge pages moved whole");
    ensure_eq!(
        delta.get("thp_fallback"),
        1,
        "huge pages moved as single pages"
    );
    ensure_eq!(ctx.pool()?.free_pages, 0, "free pages");
    small.verify_all(35)?;
    a.verify_all(36)?;
    b.verify_all(37)?;
    ensure_eq!(ctx.pool()?, pool0, "pool at the end");
    Ok(())
}
