// SPDX-License-Identifier: GPL-2.0

//! The emulated VRAM: a file on tmpfs, mapped by the model (for PRAMIN) and handed to QEMU, which
//! maps it as BAR1 (physical mode: BAR1 offset N is VRAM address N), so guest accesses to BAR1 do
//! not go through the model. Tests read the same file to check what the driver stored.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct Vram {
    file: File,
    base: *mut u8,
    len: u64,
}

// SAFETY: The mapping is plain shared memory; the model serves one client at a time.
unsafe impl Send for Vram {}

impl Vram {
    /// Creates (or truncates) `path` to `len` bytes of zeroes and maps it.
    pub fn create(path: &Path, len: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(len)?;
        Self::map(file, len)
    }

    /// Maps an existing VRAM file, for the checks.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        Self::map(file, len)
    }

    fn map(file: File, len: u64) -> io::Result<Self> {
        let size = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: A fresh shared mapping of `size` bytes of an open file; checked for failure.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            file,
            base: base.cast(),
            len,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// All of VRAM.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `base` maps `len` bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.base, self.len as usize) }
    }

    /// Clears all of VRAM, as a board that lost power (the test then sees no trace of what it
    /// held).
    pub fn clear(&mut self) {
        // SAFETY: `base` maps `len` writable bytes for as long as `self` lives.
        unsafe { std::ptr::write_bytes(self.base, 0, self.len as usize) };
    }

    /// Copies VRAM at `addr` into `data`; false when that is beyond the emulated VRAM.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        let Some(src) = self.bytes().get(addr as usize..addr as usize + data.len()) else {
            return false;
        };
        data.copy_from_slice(src);
        true
    }

    /// Copies `data` into VRAM at `addr`; false when that is beyond the emulated VRAM.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        if addr + data.len() as u64 > self.len {
            return false;
        }
        // SAFETY: In bounds (checked above) of the writable mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(addr as usize), data.len())
        };
        true
    }
}

impl Drop for Vram {
    fn drop(&mut self) {
        // SAFETY: The mapping made in `map`, unused after this.
        unsafe { libc::munmap(self.base.cast(), self.len as usize) };
    }
}
