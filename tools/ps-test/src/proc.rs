// SPDX-License-Identifier: GPL-2.0

//! Processes and system calls the scenarios need: fork, pipes, signals, O_DIRECT,
//! process_vm_readv, credentials, /proc/meminfo.
//!
//! System calls go through rustix, but for those it does not offer, which call libc: `fork` and
//! `_exit` (rustix's fork is for programs without libc), `process_vm_readv`, the signal mask and
//! `sigwait`, and `dup2` onto a descriptor number not open yet.

use pseudoscopic::{abi, mem::Buf};
use rustix::{
    fs::{Mode, OFlags},
    process::{DumpableBehavior, Pid, Resource, Rlimit, WaitOptions},
    thread::UnshareFlags,
};
use std::{
    ffi::CString,
    io::{self, Write},
    os::fd::{FromRawFd, OwnedFd},
};

fn os_err(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

/// A rustix error as the scenarios report it.
fn errno(what: &str) -> impl FnOnce(rustix::io::Errno) -> String + '_ {
    move |e| format!("{what}: {}", io::Error::from(e))
}

pub fn flush_stdout() {
    let _ = io::stdout().flush();
}

/// A forked child running a test closure.
pub struct Child {
    pid: i32,
}

/// Forks; the child runs `f` and exits 0 on success, or prints the failure and exits 1.
pub fn fork_child(f: impl FnOnce() -> Result<(), String>) -> Result<Child, String> {
    flush_stdout();
    // SAFETY: The child only runs `f` and then `_exit`s, never returning into the caller.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(os_err("fork")),
        0 => {
            let code = match f() {
                Ok(()) => 0,
                Err(e) => {
                    println!("child {}: FAIL: {e}", std::process::id());
                    1
                }
            };
            flush_stdout();
            // SAFETY: Ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(Child { pid }),
    }
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the child; it must have exited with status 0.
    pub fn wait_ok(self, what: &str) -> Result<(), String> {
        let (_, status) = rustix::process::waitpid(Pid::from_raw(self.pid), WaitOptions::empty())
            .map_err(errno("waitpid"))?
            .ok_or("waitpid: no status")?;
        if status.exit_status() == Some(0) {
            Ok(())
        } else if let Some(sig) = status.terminating_signal() {
            Err(format!("{what}: killed by signal {sig}"))
        } else {
            Err(format!("{what}: failed (status {:#x})", status.as_raw()))
        }
    }
}

/// A one-way pipe for "go" signals between parent and child.
pub struct Pipe {
    rd: OwnedFd,
    wr: OwnedFd,
}

impl Pipe {
    pub fn new() -> Result<Self, String> {
        let (rd, wr) = rustix::pipe::pipe().map_err(errno("pipe"))?;
        Ok(Self { rd, wr })
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), String> {
        let n = rustix::io::write(&self.wr, bytes).map_err(errno("pipe write"))?;
        if n != bytes.len() {
            return Err(format!("pipe write: {n} of {} bytes", bytes.len()));
        }
        Ok(())
    }

    pub fn recv(&self, buf: &mut [u8]) -> Result<(), String> {
        let mut got = 0;
        while got < buf.len() {
            match rustix::io::read(&self.rd, &mut buf[got..]).map_err(errno("pipe read"))? {
                0 => return Err("pipe read: end of file".into()),
                n => got += n,
            }
        }
        Ok(())
    }

    pub fn signal(&self) -> Result<(), String> {
        self.send(&[1])
    }

    pub fn wait(&self) -> Result<(), String> {
        self.recv(&mut [0])
    }
}

/// A child process holding `pages` pages of private memory filled with a pattern, waiting for
/// [`Target::finish`] to check them.
pub struct Target {
    child: Child,
    addr: u64,
    go: Pipe,
}

/// Who a [`Target`] runs as.
#[derive(Clone, Copy)]
pub enum Identity {
    /// The caller's credentials, dumpable.
    Inherited,
    /// User and group `id`, dumpable.
    User(u32),
    /// The caller's credentials, made not dumpable (as a setuid program is).
    NotDumpable,
}

impl Target {
    pub fn spawn(pages: usize, seed: u64) -> Result<Self, String> {
        Self::spawn_as(pages, seed, Identity::Inherited)
    }

    pub fn spawn_as(pages: usize, seed: u64, who: Identity) -> Result<Self, String> {
        let addr_pipe = Pipe::new()?;
        let go = Pipe::new()?;
        let child = fork_child(|| {
            match who {
                Identity::Inherited => {}
                Identity::User(id) => become_user(id)?,
                Identity::NotDumpable => {
                    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
                        .map_err(errno("PR_SET_DUMPABLE"))?
                }
            }
            let buf = Buf::anon(pages)?;
            buf.fill_all(seed);
            addr_pipe.send(&buf.addr().to_ne_bytes())?;
            go.wait()?;
            buf.verify_all(seed)
        })?;
        let mut addr = [0u8; 8];
        addr_pipe.recv(&mut addr)?;
        Ok(Self {
            child,
            addr: u64::from_ne_bytes(addr),
            go,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Lets the child check its memory, and waits for the verdict.
    pub fn finish(self) -> Result<(), String> {
        self.go.signal()?;
        self.child.wait_ok("target process checking its memory")
    }
}

/// Writes `len` bytes at `addr` to a new file `path` opened with O_DIRECT.
pub fn write_direct(path: &str, addr: u64, len: usize) -> Result<usize, String> {
    let what = format!("open {path} O_DIRECT");
    let fd = rustix::fs::open(
        path,
        OFlags::CREATE | OFlags::WRONLY | OFlags::TRUNC | OFlags::DIRECT,
        Mode::from_raw_mode(0o600),
    )
    .map_err(errno(&what))?;
    // SAFETY: `addr` is `len` readable bytes of the caller's mapping, alive for this call.
    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
    rustix::io::write(&fd, bytes).map_err(errno("O_DIRECT write"))
}

/// Copies `len` bytes at `remote` of process `pid` to `local` with process_vm_readv (libc:
/// rustix does not have it).
pub fn vm_readv(pid: i32, remote: u64, local: u64, len: usize) -> Result<(), String> {
    let local = libc::iovec {
        iov_base: local as *mut _,
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: remote as *mut _,
        iov_len: len,
    };
    // SAFETY: One valid local and one remote iovec.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n != len as isize {
        return Err(os_err(&format!("process_vm_readv returned {n}")));
    }
    Ok(())
}

/// SIGUSR1, blocked so that [`SigWait::wait`] can take it (libc: rustix has no signal mask or
/// `sigwait` for programs that use libc).
pub struct SigWait(libc::sigset_t);

pub fn block_sigusr1() -> Result<SigWait, String> {
    // SAFETY: Builds and installs a signal mask from a zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(os_err("sigprocmask"));
        }
        Ok(SigWait(set))
    }
}

impl SigWait {
    pub fn wait(&self) -> Result<(), String> {
        let mut sig = 0;
        // SAFETY: Waits for a signal of the blocked set.
        if unsafe { libc::sigwait(&self.0, &mut sig) } != 0 {
            return Err(os_err("sigwait"));
        }
        Ok(())
    }
}

/// Field `name` of /proc/meminfo, in kB.
fn meminfo_kb(name: &str) -> Result<u64, String> {
    let text =
        std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {name} in /proc/meminfo"))
}

/// MemFree, in kB.
pub fn mem_free_kb() -> Result<u64, String> {
    meminfo_kb("MemFree")
}

/// MemTotal, in kB.
pub fn mem_total_kb() -> Result<u64, String> {
    meminfo_kb("MemTotal")
}

/// A pidfd of a process that has exited and been reaped.
pub fn dead_pidfd() -> Result<OwnedFd, String> {
    let child = fork_child(|| Ok(()))?;
    let pidfd = abi::pidfd_open(child.pid()).map_err(|e| format!("pidfd_open: {e}"))?;
    child.wait_ok("short-lived child")?;
    Ok(pidfd)
}

/// Drops root for user and group `id`, staying dumpable (as a normal user process is). The
/// system calls change the calling thread's credentials only: callers are forked children, which
/// have one thread.
pub fn become_user(id: u32) -> Result<(), String> {
    use rustix::process::{Gid, Uid};
    let (uid, gid) = (Uid::from_raw(id), Gid::from_raw(id));
    rustix::thread::set_thread_groups(&[])
        .and_then(|()| rustix::thread::set_thread_res_gid(gid, gid, gid))
        .and_then(|()| rustix::thread::set_thread_res_uid(uid, uid, uid))
        .map_err(errno("dropping privileges"))?;
    rustix::process::set_dumpable_behavior(DumpableBehavior::Dumpable)
        .map_err(errno("PR_SET_DUMPABLE"))
}

/// Moves into a new user namespace in which the caller's user and group are root (as
/// `unshare -U -r`): full capabilities over that namespace, none over the initial one.
pub fn enter_user_namespace() -> Result<(), String> {
    let (uid, gid) = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    // SAFETY: Only a new user namespace: no descriptor table is unshared.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER) }
        .map_err(errno("unshare(CLONE_NEWUSER)"))?;
    let write =
        |path: &str, text: String| std::fs::write(path, text).map_err(|e| format!("{path}: {e}"));
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1"))
}

/// Per-CPU free page lists kept small (vm.percpu_pagelist_high_fraction) while this lives.
pub struct SmallPcpLists {
    old: String,
}

const PCP_FRACTION: &str = "/proc/sys/vm/percpu_pagelist_high_fraction";

impl SmallPcpLists {
    pub fn set() -> Result<Self, String> {
        let old =
            std::fs::read_to_string(PCP_FRACTION).map_err(|e| format!("{PCP_FRACTION}: {e}"))?;
        std::fs::write(PCP_FRACTION, "100000").map_err(|e| format!("{PCP_FRACTION}: {e}"))?;
        Ok(Self { old })
    }
}

impl Drop for SmallPcpLists {
    fn drop(&mut self) {
        let _ = std::fs::write(PCP_FRACTION, self.old.trim());
    }
}

/// A device node's mode, changed while this lives and restored on drop.
pub struct NodeMode {
    path: CString,
    old: Mode,
}

impl NodeMode {
    pub fn set(path: &str, mode: u32) -> Result<Self, String> {
        let path = CString::new(path).map_err(|_| "bad path")?;
        let old = rustix::fs::stat(&path).map_err(errno("stat"))?.st_mode & 0o7777;
        let old = Mode::from_raw_mode(old);
        rustix::fs::chmod(&path, Mode::from_raw_mode(mode)).map_err(errno("chmod"))?;
        Ok(Self { path, old })
    }
}

impl Drop for NodeMode {
    fn drop(&mut self) {
        let _ = rustix::fs::chmod(&self.path, self.old);
    }
}

/// Duplicates `fd` onto descriptor number `target` (which must be free); closed on drop. (libc:
/// rustix's `dup2` needs the target open already.)
pub fn dup_to(fd: i32, target: i32) -> Result<OwnedFd, String> {
    // SAFETY: `dup2` onto a number this process does not use.
    let new = unsafe { libc::dup2(fd, target) };
    if new != target {
        return Err(os_err(&format!("dup2 onto {target}")));
    }
    // SAFETY: The descriptor was just created for us.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Lets this process have descriptors numbered below `n` (as root: raises the hard limit too).
pub fn raise_fd_limit(n: u64) -> Result<(), String> {
    let lim = Some(n.max(1024));
    rustix::process::setrlimit(
        Resource::Nofile,
        Rlimit {
            current: lim,
            maximum: lim,
        },
    )
    .map_err(errno("setrlimit(RLIMIT_NOFILE)"))
}
