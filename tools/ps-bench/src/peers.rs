// SPDX-License-Identifier: GPL-2.0

//! The three ways to move a process's cold memory out of RAM and back: pseudoscopic, the kernel's
//! reference device-private driver `test_hmm`, and zram swap.

use pseudoscopic::{
    abi::{self, Device, Direction, Migrate},
    mem::{Buf, PAGE},
};
use rustix::ioctl::{opcode, Opcode, Updater};
use std::{fs::File, io};

/// A place to park memory: `park` moves all of `buf` out of RAM; a CPU touch brings a page back.
pub trait Peer {
    fn name(&self) -> &'static str;
    /// Moves every page of `buf` out of RAM, or says how many did not move.
    fn park(&self, buf: &Buf) -> Result<(), String>;
}

/// pseudoscopic: `PS_IOC_MIGRATE_TO_DEVICE`.
pub struct Pseudoscopic(Device);

impl Pseudoscopic {
    pub fn open() -> Result<Self, String> {
        Device::open(abi::DEVICE_PATH)
            .map(Self)
            .map_err(|e| format!("{}: {e}", abi::DEVICE_PATH))
    }
}

impl Peer for Pseudoscopic {
    fn name(&self) -> &'static str {
        "pseudoscopic"
    }

    fn park(&self, buf: &Buf) -> Result<(), String> {
        let mut req = Migrate::new(buf.addr(), buf.size(), abi::PIDFD_SELF, abi::DEVICE_ANY);
        self.0
            .migrate(Direction::ToDevice, &mut req)
            .map_err(|e| format!("MIGRATE_TO_DEVICE: {e}"))?;
        expect_all(req.moved, buf, "pseudoscopic moved")
    }
}

/// `struct hmm_dmirror_cmd` of `lib/test_hmm_uapi.h`.
#[repr(C)]
#[derive(Default)]
struct DmirrorCmd {
    addr: u64,
    ptr: u64,
    npages: u64,
    cpages: u64,
    faults: u64,
}

/// `HMM_DMIRROR_MIGRATE_TO_DEV`: `_IOWR('H', 0x02, struct hmm_dmirror_cmd)`.
const HMM_DMIRROR_MIGRATE_TO_DEV: Opcode = opcode::read_write::<DmirrorCmd>(b'H', 0x02);

/// test_hmm: `HMM_DMIRROR_MIGRATE_TO_DEV` on `/dev/hmm_dmirror0`. By design the driver also
/// copies the migrated data back to the caller (`ptr`) for checking; that copy is part of its
/// cost here, as it is of every test_hmm migration.
pub struct TestHmm {
    file: File,
}

pub const TEST_HMM_PATH: &str = "/dev/hmm_dmirror0";

impl TestHmm {
    pub fn open() -> Result<Self, String> {
        let file = File::options()
            .read(true)
            .write(true)
            .open(TEST_HMM_PATH)
            .map_err(|e| format!("{TEST_HMM_PATH}: {e}"))?;
        Ok(Self { file })
    }
}

impl Peer for TestHmm {
    fn name(&self) -> &'static str {
        "test_hmm"
    }

    fn park(&self, buf: &Buf) -> Result<(), String> {
        let mut bounce = vec![0u8; buf.size() as usize];
        let mut cmd = DmirrorCmd {
            addr: buf.addr(),
            ptr: bounce.as_mut_ptr() as u64,
            npages: buf.size() / PAGE as u64,
            ..DmirrorCmd::default()
        };
        // SAFETY: `cmd` is a valid `hmm_dmirror_cmd`, the command's argument, and `bounce` has
        // room for every page.
        let request = unsafe { Updater::<HMM_DMIRROR_MIGRATE_TO_DEV, _>::new(&mut cmd) };
        // SAFETY: As above.
        unsafe { rustix::ioctl::ioctl(&self.file, request) }
            .map_err(|e| format!("HMM_DMIRROR_MIGRATE_TO_DEV: {}", io::Error::from(e)))?;
        expect_all(cmd.cpages, buf, "test_hmm migrated")
    }
}

/// zram swap: `MADV_PAGEOUT` reclaims the pages into the compressed swap device.
pub struct Zram;

/// `MADV_PAGEOUT` calls before giving up on pages that stay in RAM.
const PAGEOUT_TRIES: usize = 5;

impl Zram {
    /// zram swap is usable: a zram device is active swap.
    pub fn open() -> Result<Self, String> {
        let swaps =
            std::fs::read_to_string("/proc/swaps").map_err(|e| format!("/proc/swaps: {e}"))?;
        match swaps.lines().any(|l| l.starts_with("/dev/zram")) {
            true => Ok(Self),
            false => Err("no zram swap device is active (see /proc/swaps)".into()),
        }
    }
}

impl Peer for Zram {
    fn name(&self) -> &'static str {
        "zram"
    }

    fn park(&self, buf: &Buf) -> Result<(), String> {
        // Reclaim skips pages it finds busy (still on a per-CPU LRU batch, say); like any user of
        // MADV_PAGEOUT, ask again, and count the time it takes.
        let pages = buf.size() / PAGE as u64;
        let mut resident = pages;
        for _ in 0..PAGEOUT_TRIES {
            buf.pageout()?;
            resident = resident_pages(buf)?;
            if resident == 0 {
                break;
            }
        }
        // A few pages can stay (in the swap cache, say) however often it is asked; up to 1% is
        // tolerated, which only flatters zram's fault-back figures.
        match resident * 100 <= pages {
            true => Ok(()),
            false => Err(format!(
                "zram swapped out {} of {pages} pages",
                pages - resident
            )),
        }
    }
}

/// Pages of `buf` in RAM (`mincore`: a swapped-out page is not, unless still in the swap cache;
/// libc, as rustix does not have it).
fn resident_pages(buf: &Buf) -> Result<u64, String> {
    let mut vec = vec![0u8; buf.size() as usize / PAGE];
    // SAFETY: `buf` is a mapping of ours and `vec` has a byte per page of it.
    let ret = unsafe { libc::mincore(buf.addr() as *mut _, buf.size() as usize, vec.as_mut_ptr()) };
    if ret != 0 {
        return Err(format!("mincore: {}", io::Error::last_os_error()));
    }
    Ok(vec.iter().filter(|&&b| b & 1 != 0).count() as u64)
}

fn expect_all(moved: u64, buf: &Buf, what: &str) -> Result<(), String> {
    let pages = buf.size() / PAGE as u64;
    match moved == pages {
        true => Ok(()),
        false => Err(format!("{what} {moved} of {pages} pages")),
    }
}
