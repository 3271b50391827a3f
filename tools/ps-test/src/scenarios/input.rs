// SPDX-License-Identifier: GPL-2.0

//! Bad requests: each gets its documented errno and changes nothing.

use crate::{
    ctx::{errno, expect_stats, Ctx, TestResult},
    proc,
};
use pseudoscopic::{
    abi::{self, Direction, Migrate, Residency},
    mem::{Buf, PAGE},
};
use rustix::io::Errno;
use std::os::fd::AsRawFd;

/// Every bad request gets its documented errno and changes nothing.
pub fn bad_input(ctx: &Ctx) -> TestResult {
    let n = 16;
    let buf = Buf::anon(n)?;
    buf.fill_all(25);
    let len = buf.size();
    let page = PAGE as u64;
    let dead = proc::dead_pidfd()?;
    // Pages 16-31 of `holed` are unmapped: nothing else can be mapped there.
    let holed = Buf::anon(32)?;
    holed.fill(25, 0, 16);
    holed.unmap_part(16, 16)?;
    let s0 = ctx.stats()?;
    let not_pidfd = ctx.dev_fd();
    let cases: [(&str, Migrate, i32); 13] = [
        (
            "unaligned address",
            Migrate::new(buf.addr() + 8, len - page, -1, abi::DEVICE_ANY),
            Errno::INVAL.raw_os_error(),
        ),
        (
            "unaligned length",
            Migrate::new(buf.addr(), len - 8, -1, abi::DEVICE_ANY),
            Errno::INVAL.raw_os_error(),
        ),
        (
            "zero length",
            Migrate::new(buf.addr(), 0, -1, abi::DEVICE_ANY),
            Errno::INVAL.raw_os_error(),
        ),
        (
            "wrapping range",
            Migrate::new(u64::MAX - page + 1, 2 * page, -1, abi::DEVICE_ANY),
            Errno::INVAL.raw_os_error(),
        ),
        (
            "beyond user space",
            Migrate::new(1 << 56, page, -1, abi::DEVICE_ANY),
            Errno::INVAL.raw_os_error(),
        ),
        (
            "unmapped range",
            Migrate::new(page, page, -1, abi::DEVICE_ANY),
            Errno::FAULT.raw_os_error(),
        ),
        (
            "partly unmapped range",
            Migrate::new(holed.addr(), holed.size(), -1, abi::DEVICE_ANY),
            Errno::FAULT.raw_os_error(),
        ),
        (
            "unknown device",
            Migrate::new(buf.addr(), len, -1, 7),
            Errno::NODEV.raw_os_error(),
        ),
        (
            "dead process",
            Migrate::new(buf.addr(), len, dead.as_raw_fd(), abi::DEVICE_ANY),
            Errno::SRCH.raw_os_error(),
        ),
        (
            "not a pidfd",
            Migrate::new(buf.addr(), len, not_pidfd, abi::DEVICE_ANY),
            Errno::BADF.raw_os_error(),
        ),
        (
            "negative fd",
            Migrate::new(buf.addr(), len, -5, abi::DEVICE_ANY),
            Errno::BADF.raw_os_error(),
        ),
        (
            "unknown flag",
            Migrate {
                flags: 1,
                ..Migrate::new(buf.addr(), len, -1, abi::DEVICE_ANY)
            },
            Errno::INVAL.raw_os_error(),
        ),
        (
            "reserved field",
            Migrate {
                reserved: 1,
                ..Migrate::new(buf.addr(), len, -1, abi::DEVICE_ANY)
            },
            Errno::INVAL.raw_os_error(),
        ),
    ];
    for dir in [Direction::ToDevice, Direction::ToRam] {
        for (what, req, want) in cases.iter() {
            let mut req = *req;
            let res = ctx.dev.migrate(dir, &mut req);
            let got = errno(&res);
            ensure!(
                got == Some(*want),
                "{dir:?} {what}: {res:?}, expected errno {want}"
            );
            ensure_eq!(req.moved, 0, format!("{dir:?} {what}: moved"));
        }
    }
    // Residency has the same input rules.
    for (what, req, want) in cases.iter() {
        let mut r = Residency {
            addr: req.addr,
            length: req.length,
            pidfd: req.pidfd,
            device: req.device,
            flags: req.flags,
            reserved: req.reserved,
            ..Residency::default()
        };
        let res = ctx.dev.residency(&mut r);
        let got = errno(&res);
        ensure!(
            got == Some(*want),
            "RESIDENCY {what}: {res:?}, expected errno {want}"
        );
    }
    // An unknown command and a bad pointer.
    // SAFETY: The kernel rejects the command before touching the argument.
    let res = unsafe { ctx.dev.raw_ioctl(abi::IOC_RESIDENCY + 0x10, 0) };
    ensure!(
        errno(&res) == Some(Errno::NOTTY.raw_os_error()),
        "unknown ioctl: {res:?}, expected ENOTTY"
    );
    // SAFETY: Address 8 is never mapped; the kernel must fail to read it.
    let res = unsafe { ctx.dev.raw_ioctl(abi::IOC_MIGRATE_TO_DEVICE, 8) };
    ensure!(
        errno(&res) == Some(Errno::FAULT.raw_os_error()),
        "unreadable argument: {res:?}, expected EFAULT"
    );
    expect_stats(&s0, &ctx.stats()?, &[])?;
    ensure_eq!(ctx.resident(&buf)?, 0, "resident after bad requests");
    buf.verify_all(25)
}
