// SPDX-License-Identifier: GPL-2.0

//! Moving memory to VRAM and back: counters exact, data intact, through faults, forks,
//! GUP, munmap, mremap and threads.

use crate::{
    ctx::{bytes, errno, expect_stats, Ctx, TestResult},
    proc::{self, fork_child, Pipe},
};
use pseudoscopic::{
    abi::{self, Direction},
    mem::{Buf, PAGE},
};
use rustix::io::Errno;
use rustix::mm::MprotectFlags;
use std::os::fd::AsFd;

/// hmm-tests "migrate": 1024 pages to VRAM, every counter exact, data intact after the faults.
pub fn migrate(ctx: &Ctx) -> TestResult {
    let n = 1024;
    let buf = Buf::anon(n)?;
    buf.fill_all(1);
    let pool0 = ctx.pool()?;
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "pages moved");
    ensure_eq!(ctx.resident(&buf)?, n as u64, "resident after parking");
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - n as u64,
        "free pages while parked"
    );
    let s1 = ctx.stats()?;
    expect_stats(
        &s0,
        &s1,
        &[
            ("migrations_to_device", n as u64),
            ("bytes_to_device", bytes(n as u64)),
        ],
    )?;
    buf.verify_all(1)?;
    let s2 = ctx.stats()?;
    // A sequential read faults once per aligned 16-page window.
    expect_stats(
        &s1,
        &s2,
        &[
            ("migrations_to_ram", n as u64),
            ("bytes_to_ram", bytes(n as u64)),
            ("page_faults", (n / 16) as u64),
        ],
    )?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after reading back");
    ensure_eq!(ctx.pool()?, pool0, "pool after reading back");
    Ok(())
}

/// hmm-tests "migrate_fault": migrate, fault half back, migrate the mix again.
pub fn migrate_fault(ctx: &Ctx) -> TestResult {
    let n = 1024;
    let buf = Buf::anon(n)?;
    buf.fill_all(2);
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "first migration");
    buf.verify(2, 0, n / 2)?;
    ensure_eq!(
        ctx.resident(&buf)?,
        (n / 2) as u64,
        "resident after faulting half"
    );
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, (n / 2) as u64, "second migration moved");
    ensure_eq!(
        r.skipped_resident,
        (n / 2) as u64,
        "second migration found resident"
    );
    ensure_eq!(
        ctx.resident(&buf)?,
        n as u64,
        "resident after second migration"
    );
    buf.verify_all(2)
}

/// hmm-tests "migrate_multiple": ten rounds of migrate and full fault-back, new data each time.
pub fn migrate_multiple(ctx: &Ctx) -> TestResult {
    let n = 512;
    let buf = Buf::anon(n)?;
    let pool0 = ctx.pool()?;
    for round in 0..10u64 {
        buf.fill_all(100 + round);
        ensure_eq!(
            ctx.park(&buf, 0, n)?.moved,
            n as u64,
            format!("round {round} moved")
        );
        buf.verify_all(100 + round)
            .map_err(|e| format!("round {round}: {e}"))?;
        ensure_eq!(
            ctx.resident(&buf)?,
            0,
            format!("round {round} resident after fault-back")
        );
    }
    ensure_eq!(ctx.pool()?, pool0, "pool after ten rounds");
    Ok(())
}

/// hmm-tests "migrate_mixed", our ABI: a hole, the zero page, a read-only and a read-write page
/// move or skip as they should; a PROT_NONE page in the range fails the whole call, untouched.
pub fn mixed(ctx: &Ctx) -> TestResult {
    let buf = Buf::anon(5)?;
    // Page 0: never touched. Page 1: the zero page. Page 2: read-only data. Page 3: read-write
    // data. Page 4: PROT_NONE.
    buf.touch_read(1);
    buf.fill(3, 2, 2);
    buf.protect(2, 1, MprotectFlags::READ)?;
    buf.protect(4, 1, MprotectFlags::empty())?;
    let s0 = ctx.stats()?;
    let (r, res) = ctx.migrate_raw(
        Direction::ToDevice,
        buf.addr(),
        buf.size(),
        abi::PIDFD_SELF,
        abi::DEVICE_ANY,
    );
    ensure!(
        errno(&res) == Some(Errno::ACCESS.raw_os_error()),
        "range with a PROT_NONE page: {res:?}, expected EACCES"
    );
    ensure_eq!(r.moved, 0, "moved with EACCES");
    ensure_eq!(
        ctx.resident_of(buf.addr(), bytes(4), abi::PIDFD_SELF, abi::DEVICE_ANY)?,
        0,
        "resident after EACCES"
    );
    expect_stats(&s0, &ctx.stats()?, &[])?;

    let r = ctx.park(&buf, 0, 4)?;
    ensure_eq!(r.moved, 2, "moved: the read-only and the read-write page");
    ensure_eq!(r.skipped_empty, 2, "empty: the hole and the zero page");
    ensure_eq!(
        ctx.resident_of(buf.addr(), bytes(4), abi::PIDFD_SELF, abi::DEVICE_ANY)?,
        2,
        "resident"
    );
    buf.verify_zero(0, 2)?;
    buf.verify(3, 2, 2)?;
    ensure_eq!(
        ctx.resident_of(buf.addr(), bytes(4), abi::PIDFD_SELF, abi::DEVICE_ANY)?,
        0,
        "resident after reading"
    );
    Ok(())
}

/// MIGRATE_TO_RAM brings pages back without CPU faults; on pages in RAM it moves nothing.
pub fn to_ram(ctx: &Ctx) -> TestResult {
    let n = 256;
    let buf = Buf::anon(n)?;
    buf.fill_all(4);
    ctx.park(&buf, 0, n)?;
    let s0 = ctx.stats()?;
    let r = ctx.unpark(&buf, 0, n)?;
    ensure_eq!(r.moved, n as u64, "moved to RAM");
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after MIGRATE_TO_RAM");
    expect_stats(
        &s0,
        &ctx.stats()?,
        &[
            ("migrations_to_ram", n as u64),
            ("bytes_to_ram", bytes(n as u64)),
        ],
    )?;
    let r = ctx.unpark(&buf, 0, n)?;
    ensure_eq!(r.moved, 0, "second MIGRATE_TO_RAM moved");
    ensure_eq!(
        r.skipped_resident,
        n as u64,
        "second MIGRATE_TO_RAM: already in RAM"
    );
    buf.verify_all(4)
}

/// hmm-tests "migrate_shared": shared anonymous memory cannot become device-private.
pub fn shared(ctx: &Ctx) -> TestResult {
    let n = 64;
    let buf = Buf::shared(n)?;
    buf.fill_all(5);
    let s0 = ctx.stats()?;
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, 0, "shared pages moved");
    ensure_eq!(
        r.skipped_unmovable,
        n as u64,
        "shared pages reported unmovable"
    );
    expect_stats(&s0, &ctx.stats()?, &[])?;
    buf.verify_all(5)
}

/// hmm-tests "migrate_file_private": in a private file mapping, the pages written since (COW
/// copies, anonymous) move; the page-cache pages do not.
pub fn file_private(ctx: &Ctx) -> TestResult {
    let n = 64;
    let path = "/tmp/ps-test-file-private";
    let src = Buf::anon(n)?;
    src.fill_all(6);
    // SAFETY: `src` is `n` readable pages.
    let data = unsafe { std::slice::from_raw_parts(src.addr() as *const u8, n * PAGE) };
    std::fs::write(path, data).map_err(|e| format!("{path}: {e}"))?;
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let buf = Buf::file_private(n, file.as_fd())?;
    buf.verify_all(6)?;
    buf.fill(7, 0, n / 2);
    let r = ctx.park(&buf, 0, n)?;
    ensure_eq!(r.moved, (n / 2) as u64, "written (COW) pages moved");
    ensure_eq!(
        r.skipped_unmovable,
        (n / 2) as u64,
        "page-cache pages unmovable"
    );
    buf.verify(7, 0, n / 2)?;
    buf.verify(6, n / 2, n / 2)?;
    drop(buf);
    std::fs::remove_file(path).map_err(|e| format!("{path}: {e}"))
}

/// hmm-tests "anon_write_child" and "hmm_cow_in_device": after fork with pages in VRAM each
/// process sees its own data, and copy-on-write holds both ways.
pub fn fork(ctx: &Ctx) -> TestResult {
    let n = 256;
    let buf = Buf::anon(n)?;
    copy_on_write_both_ways(&buf, 8, "", |when| {
        ensure_eq!(
            ctx.park(&buf, 0, n)?.moved,
            n as u64,
            format!("parked before {when}")
        );
        Ok(())
    })
}

/// Fork with `buf` in VRAM (put there by `park`, told which fork comes next), both ways, with
/// seeds `seed` to `seed + 3`: the child reads the parent's data, then writes its own, which the
/// parent must not see; then the parent writes after fork, and the child keeps the old data.
/// `what` names the memory in the failures ("" or " the huge page").
pub(super) fn copy_on_write_both_ways(
    buf: &Buf,
    seed: u64,
    what: &str,
    mut park: impl FnMut(&str) -> TestResult,
) -> TestResult {
    buf.fill_all(seed);
    park("fork")?;
    let child = fork_child(|| {
        buf.verify_all(seed)?;
        buf.fill_all(seed + 1);
        buf.verify_all(seed + 1)
    })?;
    child.wait_ok(&format!("child reading and writing{what}"))?;
    buf.verify_all(seed)
        .map_err(|e| format!("parent after the child wrote: {e}"))?;

    buf.fill_all(seed + 2);
    park("second fork")?;
    let go = Pipe::new()?;
    let child = fork_child(|| {
        go.wait()?;
        buf.verify_all(seed + 2)
    })?;
    buf.fill_all(seed + 3);
    go.signal()?;
    child.wait_ok("child reading after the parent wrote")?;
    buf.verify_all(seed + 3)
}

/// hmm-tests "hmm_gup_test": GUP on pages in VRAM (O_DIRECT I/O from them, process_vm_readv of
/// them) brings them back intact.
pub fn gup(ctx: &Ctx) -> TestResult {
    let n = 64;
    let buf = Buf::anon(n)?;
    buf.fill_all(12);
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "parked");
    let path = "/tmp/ps-test-odirect";
    let written = proc::write_direct(path, buf.addr(), n * PAGE)?;
    ensure_eq!(written, n * PAGE, "O_DIRECT bytes written");
    let back = Buf::anon(n)?;
    // SAFETY: `back` is `n` writable pages.
    let dst = unsafe { std::slice::from_raw_parts_mut(back.addr() as *mut u8, n * PAGE) };
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    ensure_eq!(data.len(), n * PAGE, "file size");
    dst.copy_from_slice(&data);
    back.verify_all(12)
        .map_err(|e| format!("file written with O_DIRECT: {e}"))?;
    std::fs::remove_file(path).map_err(|e| format!("{path}: {e}"))?;

    // process_vm_readv from a child, of the parent's pages in VRAM.
    buf.fill_all(13);
    ensure_eq!(ctx.park(&buf, 0, n)?.moved, n as u64, "parked again");
    let parent = std::process::id() as i32;
    let addr = buf.addr();
    let child = fork_child(move || {
        let copy = Buf::anon(n)?;
        proc::vm_readv(parent, addr, copy.addr(), n * PAGE)?;
        copy.verify_all(13)
    })?;
    child.wait_ok("process_vm_readv of pages in VRAM")?;
    buf.verify_all(13)
}

/// munmap, MADV_DONTNEED and exit with pages in VRAM give every page back to the pool.
pub fn munmap(ctx: &Ctx) -> TestResult {
    let n = 256;
    let pool0 = ctx.pool()?;
    let buf = Buf::anon(n)?;
    buf.fill_all(14);
    ctx.park(&buf, 0, n)?;
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - n as u64,
        "free pages while parked"
    );
    // MADV_DONTNEED zaps parked pages like munmap does: back to the pool, reading as zero.
    buf.dontneed(0, 64)?;
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - (n - 64) as u64,
        "free pages after MADV_DONTNEED"
    );
    buf.verify_zero(0, 64)?;
    drop(buf);
    ensure_eq!(ctx.pool()?, pool0, "pool after munmap");

    let ready = Pipe::new()?;
    let child = fork_child(|| {
        let ctx = Ctx::new()?;
        let buf = Buf::anon(n)?;
        buf.fill_all(15);
        ctx.park(&buf, 0, n)?;
        ready.signal()?;
        // Exit with the pages still in VRAM.
        std::mem::forget(buf);
        Ok(())
    })?;
    ready.wait()?;
    child.wait_ok("child parking and exiting")?;
    ensure_eq!(ctx.pool()?, pool0, "pool after the child exited");
    Ok(())
}

/// mremap and partial munmap of a range in VRAM.
pub fn mremap(ctx: &Ctx) -> TestResult {
    let n = 256;
    let pool0 = ctx.pool()?;
    let buf = Buf::anon(n)?;
    buf.fill_all(16);
    ctx.park(&buf, 0, n)?;
    let old = buf.addr();
    let buf = buf.remap()?;
    ensure!(buf.addr() != old, "mremap did not move the mapping");
    ensure_eq!(ctx.resident(&buf)?, n as u64, "resident at the new address");
    buf.verify_all(16)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after reading the moved range");

    buf.fill_all(17);
    ctx.park(&buf, 0, n)?;
    buf.unmap_part(64, 64)?;
    ensure_eq!(
        ctx.pool()?.free_pages,
        pool0.free_pages - (n - 64) as u64,
        "free pages after partial munmap"
    );
    buf.verify(17, 0, 64)?;
    buf.verify(17, 128, n - 128)?;
    ensure_eq!(ctx.pool()?, pool0, "pool after reading the rest");
    Ok(())
}

/// hmm-tests style concurrency: eight threads fault the same range at once.
pub fn threads(ctx: &Ctx) -> TestResult {
    let n = 1024;
    let buf = Buf::anon(n)?;
    buf.fill_all(18);
    let pool0 = ctx.pool()?;
    for round in 0..3 {
        ensure_eq!(
            ctx.park(&buf, 0, n)?.moved,
            n as u64,
            format!("round {round} parked")
        );
        let results: Vec<TestResult> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let buf = &buf;
                    s.spawn(move || {
                        // Each thread starts at a different place to make faults collide.
                        let start = (t * n / 8 + round * 37) % n;
                        buf.verify(18, start, n - start)?;
                        buf.verify(18, 0, start)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err("thread panicked".into())))
                .collect()
        });
        for (t, r) in results.into_iter().enumerate() {
            r.map_err(|e| format!("round {round} thread {t}: {e}"))?;
        }
        ensure_eq!(
            ctx.resident(&buf)?,
            0,
            format!("round {round} resident after threads")
        );
    }
    ensure_eq!(ctx.pool()?, pool0, "pool after threads");
    Ok(())
}
