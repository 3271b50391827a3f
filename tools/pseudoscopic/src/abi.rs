// SPDX-License-Identifier: GPL-2.0

//! The ioctl ABI of `/dev/pseudoscopic`, generated from `include/uapi/linux/pseudoscopic.h`.

use std::{
    fs::{File, OpenOptions},
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
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
        let ret = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as _, arg as *mut T) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
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
        let ret = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as _, arg_addr) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// A pidfd for process `pid` (`pidfd_open(2)`).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: A plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: The kernel just returned this new descriptor, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
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
