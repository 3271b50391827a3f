// SPDX-License-Identifier: GPL-2.0

//! The ioctl ABI of `/dev/pseudoscopic`, generated from `include/uapi/linux/pseudoscopic.h`.

use rustix::io::Errno;
use rustix::{
    ioctl::{Ioctl, IoctlOutput, Opcode},
    process::{self, Pid, PidfdFlags},
};
use std::{
    ffi::c_void,
    fs::{File, OpenOptions},
    io,
    os::fd::{AsRawFd, OwnedFd, RawFd},
    path::Path,
};

// The generated mirror of the header, shared with the module (`scripts/gen-abi.sh`); it keeps the C
// names.
#[allow(non_camel_case_types, dead_code)]
#[path = "../../../src/uapi/bindings.rs"]
mod bindings;

/// Where the device node lives.
pub const DEVICE_PATH: &str = "/dev/pseudoscopic";
/// `PS_PIDFD_SELF`.
pub const PIDFD_SELF: i32 = bindings::PS_PIDFD_SELF;
/// `PS_DEVICE_ANY`.
pub const DEVICE_ANY: u32 = bindings::PS_DEVICE_ANY;

/// `struct ps_migrate`.
pub type Migrate = bindings::ps_migrate;
/// `struct ps_residency`.
pub type Residency = bindings::ps_residency;

pub const IOC_MIGRATE_TO_DEVICE: u64 = bindings::PS_IOC_MIGRATE_TO_DEVICE as u64;
pub const IOC_MIGRATE_TO_RAM: u64 = bindings::PS_IOC_MIGRATE_TO_RAM as u64;
pub const IOC_RESIDENCY: u64 = bindings::PS_IOC_RESIDENCY as u64;

impl Migrate {
    /// A request for `[addr, addr + length)` of the process `pidfd` names, to/from `device`.
    pub fn new(addr: u64, length: u64, pidfd: i32, device: u32) -> Self {
        Self {
            addr,
            length,
            pidfd,
            device,
            ..Self::default()
        }
    }

    /// Every skip counter added up.
    pub fn skipped(&self) -> u64 {
        self.skipped_resident
            + self.skipped_empty
            + self.skipped_unmovable
            + self.skipped_busy
            + self.skipped_no_space
    }
}

/// An open `/dev/pseudoscopic`.
pub struct Device {
    file: File,
}

/// Which way a migration goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToDevice,
    ToRam,
}

impl Device {
    /// Opens the device node at `path` (normally [`DEVICE_PATH`]).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self { file })
    }

    /// Sends ioctl `cmd` with `arg`, read and written back in place.
    ///
    /// # Safety
    ///
    /// `arg` is the struct the ABI defines for `cmd`.
    unsafe fn ioctl<T>(&self, cmd: u64, arg: &mut T) -> io::Result<()> {
        // SAFETY: `arg` is a valid, writable struct of the size encoded in `cmd`.
        unsafe { self.request(cmd, (arg as *mut T).cast()) }
    }

    /// Sends ioctl `cmd` with the argument at `arg` (rustix's ioctl).
    ///
    /// # Safety
    ///
    /// The kernel may read and write at `arg` what `cmd` says: the caller makes sure that is
    /// harmless.
    unsafe fn request(&self, cmd: u64, arg: *mut c_void) -> io::Result<()> {
        // SAFETY: By the function's contract.
        unsafe { rustix::ioctl::ioctl(&self.file, Request { cmd, arg }) }.map_err(io::Error::from)
    }

    /// Moves pages as `req` says; `req` holds the counters afterwards, also on error (they say
    /// what moved before it, and why nothing did for `ENOSPC`).
    pub fn migrate(&self, dir: Direction, req: &mut Migrate) -> io::Result<()> {
        let cmd = match dir {
            Direction::ToDevice => IOC_MIGRATE_TO_DEVICE,
            Direction::ToRam => IOC_MIGRATE_TO_RAM,
        };
        // SAFETY: Both commands take a `struct ps_migrate`.
        unsafe { self.ioctl(cmd, req) }
    }

    /// How many pages of the range are in VRAM (of `device`, or any GPU).
    pub fn residency(&self, req: &mut Residency) -> io::Result<()> {
        // SAFETY: The command takes a `struct ps_residency`.
        unsafe { self.ioctl(IOC_RESIDENCY, req) }
    }

    /// Sends an arbitrary command with an arbitrary argument, for tests of bad input.
    ///
    /// # Safety
    ///
    /// The kernel may read and write `size_of::<T>()` bytes at `arg`... or wherever `arg_addr`
    /// points when given: the caller makes sure that is harmless.
    pub unsafe fn raw_ioctl(&self, cmd: u64, arg_addr: usize) -> io::Result<()> {
        // SAFETY: By the function's contract.
        unsafe { self.request(cmd, arg_addr as *mut c_void) }
    }
}

/// One ioctl of the device, as rustix sends it: any command number (the kernel takes the low 32
/// bits, as `ioctl(2)` does), its argument read and written in place, 0 or an errno back.
struct Request {
    cmd: u64,
    arg: *mut c_void,
}

// SAFETY: The opcode and pointer are the caller's of `Device::request`, who vouches for them;
// the device's ioctls return 0 and nothing else to extract.
unsafe impl Ioctl for Request {
    type Output = ();

    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        self.cmd as Opcode
    }

    fn as_ptr(&mut self) -> *mut c_void {
        self.arg
    }

    unsafe fn output_from_ptr(_: IoctlOutput, _: *mut c_void) -> rustix::io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// A pidfd for process `pid` (`pidfd_open(2)`); EINVAL for a pid of 0 or below, as the kernel
/// says (rustix's `Pid` holds only positive ones).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    let pid = match pid {
        1.. => Pid::from_raw(pid),
        _ => None,
    }
    .ok_or_else(|| io::Error::from_raw_os_error(Errno::INVAL.raw_os_error()))?;
    Ok(process::pidfd_open(pid, PidfdFlags::empty())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_sizes_match_the_c_header() {
        assert_eq!(std::mem::size_of::<Migrate>(), 80);
        assert_eq!(std::mem::size_of::<Residency>(), 48);
    }

    #[test]
    fn ioctl_numbers_are_iowr_0xb9() {
        // _IOWR(0xB9, 1, struct ps_migrate) with an 80-byte struct.
        assert_eq!(IOC_MIGRATE_TO_DEVICE, 0xc050_b901);
        assert_eq!(IOC_MIGRATE_TO_RAM, 0xc050_b902);
        assert_eq!(IOC_RESIDENCY, 0xc030_b903);
    }

    #[test]
    fn pidfds_and_their_errors() {
        let own = pidfd_open(std::process::id() as i32).unwrap();
        assert!(own.as_raw_fd() >= 0);
        for bad in [0, -1] {
            let e = pidfd_open(bad).unwrap_err();
            assert_eq!(
                e.raw_os_error(),
                Some(Errno::INVAL.raw_os_error()),
                "pid {bad}"
            );
        }
    }

    #[test]
    fn ioctl_errors_come_back_as_errnos() {
        // /dev/null has no ioctls: the kernel's ENOTTY reaches the caller, the argument intact.
        let dev = Device::open("/dev/null").unwrap();
        let mut req = Migrate::new(0x1000, 0x1000, PIDFD_SELF, DEVICE_ANY);
        let e = dev.migrate(Direction::ToDevice, &mut req).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::NOTTY.raw_os_error()));
        assert_eq!(req.length, 0x1000);
        // SAFETY: The kernel refuses the command before it looks at the argument.
        let e = unsafe { dev.raw_ioctl(IOC_RESIDENCY, 0) }.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::NOTTY.raw_os_error()));
    }

    #[test]
    fn skipped_adds_every_reason() {
        let m = Migrate {
            skipped_resident: 1,
            skipped_empty: 2,
            skipped_unmovable: 4,
            skipped_busy: 8,
            skipped_no_space: 16,
            ..Migrate::default()
        };
        assert_eq!(m.skipped(), 31);
    }
}
