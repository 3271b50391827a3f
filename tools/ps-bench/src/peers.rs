// SPDX-License-Identifier: GPL-2.0

//! The three ways to move a process's cold memory out of RAM and back: pseudoscopic, the kernel's
//! reference device-private driver `test_hmm`, and zram swap.

use pseudoscopic::{
    abi::{self, Device, Direction, Migrate, Residency},
    mem::{Buf, PAGE},
};
use rustix::ioctl::{opcode, Opcode, Updater};
use std::{cell::RefCell, fs::File, io};

/// A place to park memory: `park` moves all of `buf` out of RAM; a CPU touch brings a page back.
/// The other operations are those the peer has (`None`: it has no such thing).
pub trait Peer {
    fn name(&self) -> &'static str;
    /// Moves every page of `buf` out of RAM, or says how many did not move.
    fn park(&self, buf: &Buf) -> Result<(), String>;
    /// Moves every page of a parked `buf` back to RAM in one request.
    fn to_ram(&self, _buf: &Buf) -> Option<Result<(), String>> {
        None
    }
    /// Takes the device away with `buf` parked, which brings its pages back to RAM.
    fn evict(&self, _buf: &Buf) -> Option<Result<(), String>> {
        None
    }
    /// Brings the device back after [`Peer::evict`] (not measured).
    fn restore(&self) -> Result<(), String> {
        Ok(())
    }
    /// Asks how many pages of a parked `buf` are out of RAM, and checks that all are.
    fn residency(&self, _buf: &Buf) -> Option<Result<(), String>> {
        None
    }
}

/// The module's PCI driver directory: `unbind` and `bind` take a board's address.
const DRIVER_DIR: &str = "/sys/bus/pci/drivers/pseudoscopic";

/// pseudoscopic: `PS_IOC_MIGRATE_TO_DEVICE`, `PS_IOC_MIGRATE_TO_RAM`, `PS_IOC_RESIDENCY`, and
/// eviction by unbinding the board.
pub struct Pseudoscopic {
    dev: Device,
    /// The board last unbound by `evict`, for `restore`.
    unbound: RefCell<Option<String>>,
}

impl Pseudoscopic {
    pub fn open() -> Result<Self, String> {
        let dev =
            Device::open(abi::DEVICE_PATH).map_err(|e| format!("{}: {e}", abi::DEVICE_PATH))?;
        Ok(Self {
            dev,
            unbound: RefCell::new(None),
        })
    }

    fn request(&self, dir: Direction, buf: &Buf) -> Result<(), String> {
        let mut req = Migrate::new(buf.addr(), buf.size(), abi::PIDFD_SELF, abi::DEVICE_ANY);
        self.dev
            .migrate(dir, &mut req)
            .map_err(|e| format!("{dir:?}: {e}"))?;
        expect_all(req.moved, buf, "pseudoscopic moved")
    }
}

/// The one board bound to the module (the benchmark's guest has one).
fn bound_board() -> Result<String, String> {
    let entries = std::fs::read_dir(DRIVER_DIR).map_err(|e| format!("{DRIVER_DIR}: {e}"))?;
    let boards: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("0000:"))
        .collect();
    match boards.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "{DRIVER_DIR}: {} boards bound, need one",
            boards.len()
        )),
    }
}

fn write_sysfs(file: &str, text: &str) -> Result<(), String> {
    std::fs::write(file, text).map_err(|e| format!("{file} < {text}: {e}"))
}

impl Peer for Pseudoscopic {
    fn name(&self) -> &'static str {
        "pseudoscopic"
    }

    fn park(&self, buf: &Buf) -> Result<(), String> {
        self.request(Direction::ToDevice, buf)
    }

    fn to_ram(&self, buf: &Buf) -> Option<Result<(), String>> {
        Some(self.request(Direction::ToRam, buf))
    }

    fn evict(&self, _buf: &Buf) -> Option<Result<(), String>> {
        Some(bound_board().and_then(|board| {
            write_sysfs(&format!("{DRIVER_DIR}/unbind"), &board)?;
            *self.unbound.borrow_mut() = Some(board);
            Ok(())
        }))
    }

    fn restore(&self) -> Result<(), String> {
        match self.unbound.borrow_mut().take() {
            Some(board) => write_sysfs(&format!("{DRIVER_DIR}/bind"), &board),
            None => Ok(()),
        }
    }

    fn residency(&self, buf: &Buf) -> Option<Result<(), String>> {
        let mut req = Residency {
            addr: buf.addr(),
            length: buf.size(),
            pidfd: abi::PIDFD_SELF,
            device: abi::DEVICE_ANY,
            ..Residency::default()
        };
        Some(
            self.dev
                .residency(&mut req)
                .map_err(|e| format!("RESIDENCY: {e}"))
                .and_then(|()| expect_all(req.resident, buf, "RESIDENCY found")),
        )
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

/// `HMM_DMIRROR_MIGRATE_TO_DEV` and `_TO_SYS`: `_IOWR('H', 0x02 and 0x03, struct hmm_dmirror_cmd)`.
const HMM_DMIRROR_MIGRATE_TO_DEV: Opcode = opcode::read_write::<DmirrorCmd>(b'H', 0x02);
const HMM_DMIRROR_MIGRATE_TO_SYS: Opcode = opcode::read_write::<DmirrorCmd>(b'H', 0x03);

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
        self.migrate::<HMM_DMIRROR_MIGRATE_TO_DEV>("HMM_DMIRROR_MIGRATE_TO_DEV", buf)
    }

    fn to_ram(&self, buf: &Buf) -> Option<Result<(), String>> {
        Some(self.migrate::<HMM_DMIRROR_MIGRATE_TO_SYS>("HMM_DMIRROR_MIGRATE_TO_SYS", buf))
    }
}

impl TestHmm {
    fn migrate<const REQUEST: Opcode>(&self, name: &str, buf: &Buf) -> Result<(), String> {
        let mut bounce = vec![0u8; buf.size() as usize];
        let mut cmd = DmirrorCmd {
            addr: buf.addr(),
            ptr: bounce.as_mut_ptr() as u64,
            npages: buf.size() / PAGE as u64,
            ..DmirrorCmd::default()
        };
        // SAFETY: `cmd` is a valid `hmm_dmirror_cmd`, the command's argument, and `bounce` has
        // room for every page.
        let request = unsafe { Updater::<REQUEST, _>::new(&mut cmd) };
        // SAFETY: As above.
        unsafe { rustix::ioctl::ioctl(&self.file, request) }
            .map_err(|e| format!("{name}: {}", io::Error::from(e)))?;
        match dmirror_moved_all(REQUEST, cmd.cpages, buf) {
            true => Ok(()),
            false => expect_all(cmd.cpages, buf, "test_hmm migrated"),
        }
    }
}

/// Whether test_hmm's count of migrated pages covers all of `buf`: back to RAM it counts a huge
/// page once (`dmirror_successful_migrated_pages`), into the device each of its pages.
fn dmirror_moved_all(request: Opcode, cpages: u64, buf: &Buf) -> bool {
    let pages = buf.size() / PAGE as u64;
    let huge = ((2 << 20) / PAGE) as u64;
    cpages == pages || (request == HMM_DMIRROR_MIGRATE_TO_SYS && cpages * huge == pages)
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
