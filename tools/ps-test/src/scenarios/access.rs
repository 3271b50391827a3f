// SPDX-License-Identifier: GPL-2.0

//! Whose memory a caller may move: another process by pidfd, other users, the device
//! node's mode and user namespaces.

use crate::{
    ctx::{bytes, errno, Ctx, TestResult},
    proc::{self, fork_child},
};
use pseudoscopic::abi::{self, Device, Direction, Residency};
use rustix::io::Errno;
use std::os::fd::AsRawFd;

/// Another process's memory, named by a pidfd: moved, counted, intact.
pub fn other_process(ctx: &Ctx) -> TestResult {
    let n = 128;
    let target = proc::Target::spawn(n, 26)?;
    let pidfd = abi::pidfd_open(target.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
    let (r, res) = ctx.park_process(&pidfd, target.addr(), n);
    res.map_err(|e| format!("migrating the child's memory: {e}"))?;
    ensure_eq!(r.moved, n as u64, "child pages moved");
    ensure_eq!(
        ctx.resident_of(
            target.addr(),
            bytes(n as u64),
            pidfd.as_raw_fd(),
            abi::DEVICE_ANY
        )?,
        n as u64,
        "child pages resident"
    );
    target.finish()
}

/// Moving another user's memory takes ptrace-level access: refused across users, allowed for
/// one's own dumpable process.
pub fn permission(_ctx: &Ctx) -> TestResult {
    let n = 16;
    let root_target = proc::Target::spawn(n, 27)?;
    let root_pid = root_target.pid();
    let root_addr = root_target.addr();
    let child = fork_child(move || {
        let ctx = Ctx::new()?;
        let root_pidfd = abi::pidfd_open(root_pid).map_err(|e| format!("pidfd_open: {e}"))?;
        proc::become_user(1000)?;
        let (r, res) = ctx.park_process(&root_pidfd, root_addr, n);
        ensure!(
            errno(&res) == Some(Errno::PERM.raw_os_error()),
            "uid 1000 moving root's memory: {res:?}, expected EPERM"
        );
        ensure_eq!(r.moved, 0, "moved without permission");
        // Its own (dumpable) child, same user: allowed.
        let own = proc::Target::spawn(n, 28)?;
        let pidfd = abi::pidfd_open(own.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (r, res) = ctx.park_process(&pidfd, own.addr(), n);
        res.map_err(|e| format!("uid 1000 moving its own child's memory: {e}"))?;
        ensure_eq!(r.moved, n as u64, "own child's pages moved");
        own.finish()
    })?;
    child.wait_ok("unprivileged mover")?;
    root_target.finish()
}

/// The device node is root's alone (mode 0600) unless an administrator opens it up; even then a
/// user can neither move nor look at another user's memory, nor name a process by its pid where
/// a pidfd belongs, nor move a process of its own that is not dumpable. Not part of the self-test:
/// it changes the node's mode for its duration.
pub fn permission_node(_ctx: &Ctx) -> TestResult {
    let n = 16;
    let root_target = proc::Target::spawn(n, 27)?;
    let other_user = proc::Target::spawn_as(n, 29, proc::Identity::User(1001))?;
    let (root_pid, root_addr) = (root_target.pid(), root_target.addr());
    let (other_pid, other_addr) = (other_user.pid(), other_user.addr());
    let child = fork_child(move || {
        proc::become_user(1000)?;
        let res = Device::open(abi::DEVICE_PATH).map(drop);
        ensure!(
            errno(&res) == Some(Errno::ACCESS.raw_os_error()),
            "uid 1000 opening {} (mode 0600): {res:?}, expected EACCES",
            abi::DEVICE_PATH
        );
        Ok(())
    })?;
    child.wait_ok("unprivileged user opening the node")?;

    // An administrator grants access to the node: users may open it, and nothing more.
    let _granted = proc::NodeMode::set(abi::DEVICE_PATH, 0o666)?;
    let child = fork_child(move || {
        // Room for descriptor numbers as high as the pids below.
        proc::raise_fd_limit(root_pid.max(other_pid) as u64 + 1)?;
        proc::become_user(1000)?;
        let ctx = Ctx::new().map_err(|e| format!("uid 1000 with access granted: {e}"))?;
        for (who, pid, addr) in [
            ("root", root_pid, root_addr),
            ("uid 1001", other_pid, other_addr),
        ] {
            let pidfd = abi::pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
            for dir in [Direction::ToDevice, Direction::ToRam] {
                let (r, res) = ctx.migrate_raw(
                    dir,
                    addr,
                    bytes(n as u64),
                    pidfd.as_raw_fd(),
                    abi::DEVICE_ANY,
                );
                ensure!(
                    errno(&res) == Some(Errno::PERM.raw_os_error()),
                    "uid 1000 {dir:?} of {who}'s memory: {res:?}, expected EPERM"
                );
                ensure_eq!(r.moved, 0, format!("{dir:?} of {who}'s pages"));
            }
            let mut residency = Residency {
                addr,
                length: bytes(n as u64),
                pidfd: pidfd.as_raw_fd(),
                device: abi::DEVICE_ANY,
                ..Residency::default()
            };
            let res = ctx.dev.residency(&mut residency);
            ensure!(
                errno(&res) == Some(Errno::PERM.raw_os_error()),
                "uid 1000 reading the residency of {who}'s memory: {res:?}, expected EPERM"
            );
            // The pid itself where a pidfd belongs, as a closed descriptor number and as an
            // open descriptor that is no pidfd: never taken for the process.
            for open in [false, true] {
                let _decoy = open.then(|| proc::dup_to(ctx.dev_fd(), pid)).transpose()?;
                let (_, res) = ctx.migrate_raw(
                    Direction::ToDevice,
                    addr,
                    bytes(n as u64),
                    pid,
                    abi::DEVICE_ANY,
                );
                let what = if open { " (an open descriptor)" } else { "" };
                ensure!(
                    errno(&res) == Some(Errno::BADF.raw_os_error()),
                    "uid 1000 passing {who}'s pid {pid}{what} as the pidfd: {res:?}, expected EBADF"
                );
            }
        }
        // A process of its own that made itself not dumpable (as setuid programs are): refused.
        let sealed = proc::Target::spawn_as(n, 30, proc::Identity::NotDumpable)?;
        let pidfd = abi::pidfd_open(sealed.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (_, res) = ctx.park_process(&pidfd, sealed.addr(), n);
        ensure!(
            errno(&res) == Some(Errno::PERM.raw_os_error()),
            "uid 1000 moving its own non-dumpable process's memory: {res:?}, expected EPERM"
        );
        sealed.finish()
    })?;
    child.wait_ok("unprivileged user with access to the node")?;
    other_user.finish()?;
    root_target.finish()
}

/// The kernel's two-part ptrace rule, not a shortcut: a process that made its own user namespace
/// (as `unshare -U -r`) holds CAP_SYS_PTRACE over it, so over its child's credentials, but not over
/// the initial namespace its child's exec state belongs to; a child that made itself not dumpable
/// is then refused (EPERM), as ptrace refuses it. The same child while dumpable is allowed.
pub fn permission_userns(_ctx: &Ctx) -> TestResult {
    let n = 16;
    let child = fork_child(move || {
        let ctx = Ctx::new()?;
        proc::enter_user_namespace()?;
        let sealed = proc::Target::spawn_as(n, 32, proc::Identity::NotDumpable)?;
        let pidfd = abi::pidfd_open(sealed.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (r, res) = ctx.park_process(&pidfd, sealed.addr(), n);
        ensure!(
            errno(&res) == Some(Errno::PERM.raw_os_error()),
            "root of a child user namespace moving its non-dumpable child's memory: {res:?}, expected EPERM"
        );
        ensure_eq!(r.moved, 0, "moved without permission");
        sealed.finish()?;
        let open = proc::Target::spawn(n, 33)?;
        let pidfd = abi::pidfd_open(open.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
        let (r, res) = ctx.park_process(&pidfd, open.addr(), n);
        res.map_err(|e| {
            format!("root of a child user namespace moving its dumpable child's memory: {e}")
        })?;
        ensure_eq!(r.moved, n as u64, "dumpable child's pages moved");
        open.finish()
    })?;
    child.wait_ok("root of a child user namespace")
}
