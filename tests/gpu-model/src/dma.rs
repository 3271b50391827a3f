// SPDX-License-Identifier: GPL-2.0

//! Guest memory as the device sees it (system memory apertures): the regions QEMU hands over with
//! vfio-user DMA_MAP, each a file descriptor onto the guest's shared RAM, mapped here. The guest has
//! no IOMMU, so a bus address is a guest physical address.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

struct Region {
    address: u64,
    size: u64,
    base: *mut u8,
}

#[derive(Default)]
pub struct GuestMemory {
    regions: Vec<Region>,
    /// `PCI_COMMAND` Bus Master Enable (bit 2): without it the device may not start a memory
    /// transaction, so every engine access to system memory is refused (PCI Local Bus spec 6.2.2;
    /// clear at reset and after `pci_disable_device`).
    pub bus_master: bool,
}

// SAFETY: The mappings are plain shared memory, only touched with the model's lock held.
unsafe impl Send for GuestMemory {}

impl GuestMemory {
    /// Maps `size` bytes of `fd` from `offset` as guest addresses `[address, address + size)`.
    pub fn map(&mut self, address: u64, size: u64, fd: &File, offset: u64) -> io::Result<()> {
        let end = address
            .checked_add(size)
            .ok_or(io::ErrorKind::InvalidInput)?;
        if size == 0
            || self
                .regions
                .iter()
                .any(|r| address < r.address + r.size && r.address < end)
        {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let len = usize::try_from(size).map_err(|_| io::ErrorKind::InvalidInput)?;
        let off = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: A fresh shared mapping of an open file; checked for failure.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                off,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.regions.push(Region {
            address,
            size,
            base: base.cast(),
        });
        Ok(())
    }

    /// Unmaps the region that starts at `address` and has `size` bytes.
    pub fn unmap(&mut self, address: u64, size: u64) -> io::Result<()> {
        let i = self
            .regions
            .iter()
            .position(|r| r.address == address && r.size == size)
            .ok_or(io::ErrorKind::NotFound)?;
        let r = self.regions.swap_remove(i);
        // SAFETY: The mapping made in `map`, no longer reachable.
        unsafe { libc::munmap(r.base.cast(), r.size as usize) };
        Ok(())
    }

    /// The host pointer for `[addr, addr + len)`, when one region covers all of it.
    fn host(&self, addr: u64, len: usize) -> Option<*mut u8> {
        let end = addr.checked_add(len as u64)?;
        let r = self
            .regions
            .iter()
            .find(|r| r.address <= addr && end <= r.address + r.size)?;
        // SAFETY: In bounds of the region's mapping (checked above).
        Some(unsafe { r.base.add((addr - r.address) as usize) })
    }

    /// Copies guest memory at `addr` into `data`; false when it is not all mapped.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        let Some(p) = self.host(addr, data.len()) else {
            return false;
        };
        // SAFETY: `host` checked that the mapping covers `data.len()` bytes at `p`.
        unsafe { std::ptr::copy_nonoverlapping(p, data.as_mut_ptr(), data.len()) };
        true
    }

    /// Copies `data` into guest memory at `addr`; false when it is not all mapped.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        let Some(p) = self.host(addr, data.len()) else {
            return false;
        };
        // SAFETY: `host` checked that the writable mapping covers `data.len()` bytes at `p`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        true
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        for r in &self.regions {
            // SAFETY: The mappings made in `map`, unused after this.
            unsafe { libc::munmap(r.base.cast(), r.size as usize) };
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A memfd of `size` bytes, as QEMU's guest RAM is.
    pub fn memfd(size: u64) -> File {
        use std::os::fd::FromRawFd;
        // SAFETY: A plain memfd_create call with a NUL-terminated name; checked for failure.
        let fd = unsafe { libc::memfd_create(c"gpu-model-test".as_ptr(), 0) };
        assert!(fd >= 0);
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(size).unwrap();
        file
    }

    #[test]
    fn regions_map_at_their_offsets() {
        let fd = memfd(0x4000);
        let mut g = GuestMemory::default();
        // Guest 0x10000 is file offset 0x1000.
        g.map(0x10000, 0x2000, &fd, 0x1000).unwrap();
        assert!(g.write(0x10ffc, &[1, 2, 3, 4, 5, 6, 7, 8]));
        let mut back = [0; 8];
        assert!(g.read(0x10ffc, &mut back));
        assert_eq!(back, [1, 2, 3, 4, 5, 6, 7, 8]);
        // Not covered, or straddling the end.
        assert!(!g.read(0x0, &mut back));
        assert!(!g.read(0x11ffc, &mut back));
        // Overlapping maps are refused.
        assert!(g.map(0x11000, 0x1000, &fd, 0).is_err());
        g.unmap(0x10000, 0x2000).unwrap();
        assert!(!g.read(0x10ffc, &mut back));
    }
}
