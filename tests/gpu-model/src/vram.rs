// SPDX-License-Identifier: GPL-2.0

//! The emulated VRAM: a file on tmpfs, mapped by the model (for PRAMIN) and handed to QEMU, which
//! maps it as BAR1 (physical mode: BAR1 offset N is VRAM address N), so guest accesses to BAR1 do
//! not go through the model. Tests read the same file to check what the driver stored.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct Vram {
    file: File,
    base: *mut u8,
    len: u64,
    /// The rest of the board's VRAM, `[len, limit)`: a few pages kept in memory (nothing
    /// maps them into the guest; BAR1 accesses there reach the model), so that checks at the top
    /// of VRAM work on a board that emulates only its start.
    sparse: HashMap<u64, Box<[u8]>>,
    /// The VRAM the board has (what its registers report); 0 = only the emulated part.
    limit: u64,
    /// How BAR1 sees VRAM: BAR1 offset N shows VRAM address N XOR `view_xor` (0 in physical
    /// mode). The file is BAR1's view (QEMU maps it), so VRAM address A lives at file offset
    /// A XOR `view_xor`.
    view_xor: u64,
    /// `--vram-wraps`: the memory decodes only this many bytes; addresses wrap around.
    wraps: Option<u64>,
    /// Ranges whose writes the memory drops (locked WPR/VPR regions, `--locked-hidden`).
    locked: Vec<(u64, u64)>,
    /// Writes dropped there.
    pub dropped: u64,
}

/// Pages of non-emulated VRAM the model keeps at most.
const SPARSE_PAGES: usize = 64;
const PAGE: u64 = 4096;
/// The BAR1 view a BAR1 left in virtual mode has (`Vram::set_view_xor`): 2 MiB pages swapped in
/// pairs, so that no BAR1 offset shows the VRAM of the same address.
pub const VIRTUAL_VIEW_XOR: u64 = 2 << 20;

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
            sparse: HashMap::new(),
            limit: 0,
            view_xor: 0,
            wraps: None,
            locked: Vec::new(),
            dropped: 0,
        })
    }

    /// The board has `limit` bytes of VRAM; decoding wraps at `wraps`, writes to `locked` are
    /// dropped.
    pub fn configure(&mut self, limit: u64, wraps: Option<u64>, locked: Vec<(u64, u64)>) {
        self.limit = limit;
        self.wraps = wraps;
        self.locked = locked;
    }

    /// Changes how BAR1 sees VRAM, keeping VRAM's contents at their VRAM addresses (the file,
    /// BAR1's view, is permuted). `xor` must be a power of two whose double divides the emulated
    /// size.
    pub fn set_view_xor(&mut self, xor: u64) {
        let change = self.view_xor ^ xor;
        if change == 0 {
            return;
        }
        self.view_xor = xor;
        let half = change as usize;
        let bytes = self.bytes_mut();
        for block in bytes.chunks_exact_mut(2 * half) {
            let (a, b) = block.split_at_mut(half);
            a.swap_with_slice(b);
        }
        self.sparse = std::mem::take(&mut self.sparse)
            .into_iter()
            .map(|(k, v)| (k ^ change, v))
            .collect();
    }

    /// Where VRAM address `addr` is kept: the BAR1 view offset.
    fn slot(&self, addr: u64) -> u64 {
        self.wraps.map_or(addr, |w| addr % w) ^ self.view_xor
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `base` maps `len` bytes for as long as `self` lives; `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len as usize) }
    }

    /// Reads view offsets `[slot, slot + data.len())`, within one page beyond the emulated part.
    fn read_slot(&self, slot: u64, data: &mut [u8]) -> bool {
        let end = slot + data.len() as u64;
        if end <= self.len {
            data.copy_from_slice(&self.bytes()[slot as usize..end as usize]);
            return true;
        }
        if slot < self.len || end > self.limit || slot / PAGE != (end - 1) / PAGE {
            return false;
        }
        let off = (slot % PAGE) as usize;
        match self.sparse.get(&(slot / PAGE)) {
            Some(page) => data.copy_from_slice(&page[off..off + data.len()]),
            None => data.fill(0),
        }
        true
    }

    fn write_slot(&mut self, slot: u64, data: &[u8]) -> bool {
        let end = slot + data.len() as u64;
        if end <= self.len {
            self.bytes_mut()[slot as usize..end as usize].copy_from_slice(data);
            return true;
        }
        if slot < self.len || end > self.limit || slot / PAGE != (end - 1) / PAGE {
            return false;
        }
        if !self.sparse.contains_key(&(slot / PAGE)) && self.sparse.len() >= SPARSE_PAGES {
            return false;
        }
        let page = self
            .sparse
            .entry(slot / PAGE)
            .or_insert_with(|| vec![0; PAGE as usize].into_boxed_slice());
        let off = (slot % PAGE) as usize;
        page[off..off + data.len()].copy_from_slice(data);
        true
    }

    /// A BAR1 access the guest's mapping does not cover (beyond the emulated part): BAR1 offset
    /// `offset` is VRAM address `offset ^ view_xor`.
    pub fn bar1_read(&self, offset: u64, data: &mut [u8]) -> bool {
        self.read(offset ^ self.view_xor, data)
    }

    pub fn bar1_write(&mut self, offset: u64, data: &[u8]) -> bool {
        self.write(offset ^ self.view_xor, data)
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

    /// What a CPU reads through BAR1 while the link is down: all ones (the root port completes the
    /// failed reads with all ones). The file is BAR1's view, so VRAM reads so too until a reset
    /// clears it.
    pub fn fill_ones(&mut self) {
        // SAFETY: `base` maps `len` writable bytes for as long as `self` lives.
        unsafe { std::ptr::write_bytes(self.base, 0xff, self.len as usize) };
        self.sparse.clear();
    }

    /// Clears all of VRAM, as a board that lost power (the test then sees no trace of what it
    /// held).
    pub fn clear(&mut self) {
        // Freeing the file's pages (they read back as zeros) is instant where zeroing 2 GiB is
        // not: QEMU gives up on a reset the model answers seconds later.
        // SAFETY: `base` maps `len` bytes of the shared file for as long as `self` lives;
        // MADV_REMOVE only drops their contents.
        let removed =
            unsafe { libc::madvise(self.base.cast(), self.len as usize, libc::MADV_REMOVE) } == 0;
        if !removed {
            // SAFETY: `base` maps `len` writable bytes for as long as `self` lives.
            unsafe { std::ptr::write_bytes(self.base, 0, self.len as usize) };
        }
        self.sparse.clear();
    }

    /// Copies VRAM at `addr` into `data`; false when that is beyond the emulated VRAM (and the
    /// few pages kept beyond it).
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        let mut done = 0;
        while done < data.len() {
            let at = addr + done as u64;
            let n = ((PAGE - at % PAGE) as usize).min(data.len() - done);
            if !self.read_slot(self.slot(at), &mut data[done..done + n]) {
                return false;
            }
            done += n;
        }
        true
    }

    /// Copies `data` into VRAM at `addr`; false when that is beyond the emulated VRAM. Writes to
    /// a locked range are dropped (and counted), as the memory controller drops them.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let mut done = 0;
        while done < data.len() {
            let at = addr + done as u64;
            let n = ((PAGE - at % PAGE) as usize).min(data.len() - done);
            if self.locked.iter().any(|&(s, e)| s <= at && at < e) {
                self.dropped += 1;
            } else if !self.write_slot(self.slot(at), &data[done..done + n]) {
                return false;
            }
            done += n;
        }
        true
    }
}

impl Drop for Vram {
    fn drop(&mut self) {
        // SAFETY: The mapping made in `map`, unused after this.
        unsafe { libc::munmap(self.base.cast(), self.len as usize) };
    }
}
