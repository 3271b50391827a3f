// SPDX-License-Identifier: GPL-2.0

//! Test memory for ps-test and ps-stress: mappings filled with a known pattern, checked byte for
//! byte.

use std::{os::fd::BorrowedFd, ptr::NonNull};

use rustix::mm::{self, Advice, MapFlags, MprotectFlags, MremapFlags, ProtFlags};

pub const PAGE: usize = 4096;
/// Buffers start on this boundary, so fault-around windows (16 pages) line up with them.
pub const ALIGN: usize = 64 << 10;

/// A mapping made for a test; unmapped on drop unless [`Buf::leak`]ed.
pub struct Buf {
    base: NonNull<u8>,
    len: usize,
    /// The whole reservation, to unmap.
    map: (usize, usize),
}

// SAFETY: A `Buf` is plain memory; tests that share one across threads only read it.
unsafe impl Send for Buf {}
// SAFETY: As above.
unsafe impl Sync for Buf {}

fn check(ret: rustix::io::Result<()>, what: &str) -> Result<(), String> {
    ret.map_err(|e| format!("{what}: {}", std::io::Error::from(e)))
}

/// Read and write: every mapping the tests make.
const RW: ProtFlags = ProtFlags::READ.union(ProtFlags::WRITE);

impl Buf {
    /// `pages` pages of private anonymous memory, not yet touched, aligned to [`ALIGN`] and
    /// advised never to use transparent huge pages: tests count pages and faults, which must not
    /// depend on the system's THP mode (`always` on Debian's kernels).
    pub fn anon(pages: usize) -> Result<Self, String> {
        let buf = Self::map_aligned(pages, MapFlags::PRIVATE, ALIGN)?;
        buf.advise(Advice::LinuxNoHugepage, "madvise(MADV_NOHUGEPAGE)")?;
        Ok(buf)
    }

    /// `pages` pages of private anonymous memory aligned to 2 MiB and advised to use transparent
    /// huge pages (which the system's mode must allow: see [`crate::thp::HugePages`]).
    pub fn anon_huge(pages: usize) -> Result<Self, String> {
        let huge = 2 << 20;
        let buf = Self::map_aligned(pages, MapFlags::PRIVATE, huge)?;
        buf.advise(Advice::LinuxHugepage, "madvise(MADV_HUGEPAGE)")?;
        Ok(buf)
    }

    /// `madvise` of the whole buffer.
    fn advise(&self, advice: Advice, what: &str) -> Result<(), String> {
        // SAFETY: Advice on our own mapping.
        check(
            unsafe { mm::madvise(self.base.as_ptr().cast(), self.len, advice) },
            what,
        )
    }

    /// `pages` pages of shared anonymous memory.
    pub fn shared(pages: usize) -> Result<Self, String> {
        Self::map_aligned(pages, MapFlags::SHARED, ALIGN)
    }

    /// A private mapping of the first `pages` pages of file `fd`.
    pub fn file_private(pages: usize, fd: BorrowedFd<'_>) -> Result<Self, String> {
        let len = pages * PAGE;
        // SAFETY: A fresh mapping chosen by the kernel.
        let p = unsafe { mm::mmap(std::ptr::null_mut(), len, RW, MapFlags::PRIVATE, fd, 0) }
            .map_err(|e| format!("mmap file: {}", std::io::Error::from(e)))?;
        Ok(Self {
            base: NonNull::new(p.cast()).ok_or("mmap returned null")?,
            len,
            map: (p as usize, len),
        })
    }

    /// Anonymous memory (`flags`: private or shared) aligned to `align`.
    fn map_aligned(pages: usize, flags: MapFlags, align: usize) -> Result<Self, String> {
        let len = pages * PAGE;
        let total = len + align;
        // SAFETY: A fresh mapping chosen by the kernel.
        let p = unsafe { mm::mmap_anonymous(std::ptr::null_mut(), total, RW, flags) }
            .map_err(|e| format!("mmap: {}", std::io::Error::from(e)))?;
        let start = (p as usize).next_multiple_of(align);
        Ok(Self {
            base: NonNull::new(start as *mut u8).ok_or("mmap returned null")?,
            len,
            map: (p as usize, total),
        })
    }

    pub fn addr(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    pub fn size(&self) -> u64 {
        self.len as u64
    }

    /// Address of page `page`.
    pub fn page_addr(&self, page: usize) -> u64 {
        self.addr() + (page * PAGE) as u64
    }

    /// Pointer to the first word of page `first`, checking that `pages` pages from it lie inside.
    fn words(&self, first: usize, pages: usize) -> *mut u64 {
        assert!(first + pages <= self.len / PAGE);
        // SAFETY: In bounds of our mapping (checked above).
        unsafe { self.base.as_ptr().add(first * PAGE).cast() }
    }

    /// Fills pages `[first, first + pages)` with the pattern of `seed`.
    pub fn fill(&self, seed: u64, first: usize, pages: usize) {
        let words = self.words(first, pages);
        for i in 0..pages * PAGE / 8 {
            // SAFETY: In bounds (see `words`); the test keeps these pages writable.
            unsafe {
                words
                    .add(i)
                    .write_volatile(pattern(seed, first * PAGE / 8 + i))
            };
        }
    }

    /// Fills all of it.
    pub fn fill_all(&self, seed: u64) {
        self.fill(seed, 0, self.len / PAGE);
    }

    /// Checks pages `[first, first + pages)` against the pattern of `seed`, in address order.
    pub fn verify(&self, seed: u64, first: usize, pages: usize) -> Result<(), String> {
        let words = self.words(first, pages);
        for i in 0..pages * PAGE / 8 {
            let want = pattern(seed, first * PAGE / 8 + i);
            // SAFETY: In bounds (see `words`); the test keeps these pages readable.
            let got = unsafe { words.add(i).read_volatile() };
            if got != want {
                let off = first * PAGE + i * 8;
                return Err(format!(
                    "byte {off:#x} (page {}): read {got:#018x}, wrote {want:#018x}",
                    off / PAGE
                ));
            }
        }
        Ok(())
    }

    pub fn verify_all(&self, seed: u64) -> Result<(), String> {
        self.verify(seed, 0, self.len / PAGE)
    }

    /// Checks that pages `[first, first + pages)` read as zero.
    pub fn verify_zero(&self, first: usize, pages: usize) -> Result<(), String> {
        let words = self.words(first, pages);
        for i in 0..pages * PAGE / 8 {
            // SAFETY: In bounds (see `words`); the test keeps these pages readable.
            if unsafe { words.add(i).read_volatile() } != 0 {
                return Err(format!("byte {:#x} is not zero", first * PAGE + i * 8));
            }
        }
        Ok(())
    }

    /// Word `i` (8 bytes, from the start of the buffer).
    pub fn read_word(&self, i: usize) -> u64 {
        assert!(i < self.len / 8);
        // SAFETY: In bounds (checked above) of our readable mapping.
        unsafe { self.base.as_ptr().cast::<u64>().add(i).read_volatile() }
    }

    /// Writes word `i` (8 bytes, from the start of the buffer).
    pub fn write_word(&self, i: usize, value: u64) {
        assert!(i < self.len / 8);
        // SAFETY: In bounds (checked above) of our writable mapping.
        unsafe {
            self.base
                .as_ptr()
                .cast::<u64>()
                .add(i)
                .write_volatile(value)
        }
    }

    /// Reads one byte of page `page` (to map the zero page, or fault a page in).
    pub fn touch_read(&self, page: usize) -> u8 {
        // SAFETY: Inside the mapping.
        unsafe { std::ptr::read_volatile(self.base.as_ptr().add(page * PAGE)) }
    }

    /// `mprotect`s pages `[first, first + pages)`.
    pub fn protect(&self, first: usize, pages: usize, prot: MprotectFlags) -> Result<(), String> {
        // SAFETY: The range lies inside our mapping.
        check(
            unsafe {
                mm::mprotect(
                    self.base.as_ptr().add(first * PAGE).cast(),
                    pages * PAGE,
                    prot,
                )
            },
            "mprotect",
        )
    }

    /// Unmaps pages `[first, first + pages)` and maps fresh anonymous memory in their place (one
    /// `mmap` with `MAP_FIXED`, which unmaps first); they read as zero afterwards.
    pub fn replace_part(&self, first: usize, pages: usize) -> Result<(), String> {
        let start = self.words(first, pages);
        // SAFETY: The range lies inside our mapping (checked by `words`); the new mapping has the
        // same protection and flags, so the buffer stays as valid as before.
        let p = unsafe {
            mm::mmap_anonymous(
                start.cast(),
                pages * PAGE,
                RW,
                MapFlags::PRIVATE | MapFlags::FIXED,
            )
        };
        p.map(|_| ())
            .map_err(|e| format!("mmap(MAP_FIXED): {}", std::io::Error::from(e)))
    }

    /// Drops pages `[first, first + pages)` with `MADV_DONTNEED`; they read as zero afterwards.
    pub fn dontneed(&self, first: usize, pages: usize) -> Result<(), String> {
        // SAFETY: The range lies inside our mapping; dropping its contents is the point.
        check(
            unsafe {
                mm::madvise(
                    self.base.as_ptr().add(first * PAGE).cast(),
                    pages * PAGE,
                    Advice::LinuxDontNeed,
                )
            },
            "madvise(MADV_DONTNEED)",
        )
    }

    /// Reclaims the whole buffer to swap now (`MADV_PAGEOUT`).
    pub fn pageout(&self) -> Result<(), String> {
        self.advise(Advice::LinuxPageOut, "madvise(MADV_PAGEOUT)")
    }

    /// Unmaps pages `[first, first + pages)`; the test must not touch them afterwards.
    pub fn unmap_part(&self, first: usize, pages: usize) -> Result<(), String> {
        // SAFETY: The range lies inside our mapping; callers stop using it.
        check(
            unsafe { mm::munmap(self.base.as_ptr().add(first * PAGE).cast(), pages * PAGE) },
            "munmap",
        )
    }

    /// Moves the buffer to a new address with `mremap`.
    pub fn remap(self) -> Result<Self, String> {
        let target = Buf::anon(self.len / PAGE)?;
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: Moves our mapping onto the reserved `target` range (MREMAP_FIXED replaces it).
        unsafe {
            mm::mremap_fixed(
                this.base.as_ptr().cast(),
                this.len,
                this.len,
                MremapFlags::MAYMOVE,
                target.base.as_ptr().cast(),
            )
        }
        .map_err(|e| format!("mremap: {}", std::io::Error::from(e)))?;
        // The slack of the old reservation around the moved part is still ours to unmap; a
        // failure would only leak address space.
        // SAFETY: `[map.0, base)` and `[base + len, map end)` are parts of our old reservation.
        unsafe {
            let base = this.base.as_ptr() as usize;
            let _ = mm::munmap(this.map.0 as *mut _, base - this.map.0);
            let tail = base + this.len;
            let _ = mm::munmap(tail as *mut _, this.map.0 + this.map.1 - tail);
        }
        Ok(target)
    }
}

impl Buf {
    /// Moves the buffer with `mremap` to an address one page past a 2 MiB boundary, so that no
    /// huge page can be mapped whole there.
    pub fn remap_misaligned(self) -> Result<Self, String> {
        let pages = self.len / PAGE;
        let target = Self::map_aligned(pages + 1, MapFlags::PRIVATE, 2 << 20)?;
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: Moves our mapping onto our `target` reservation, one page in (MREMAP_FIXED
        // replaces what is there).
        let p = unsafe {
            mm::mremap_fixed(
                this.base.as_ptr().cast(),
                this.len,
                this.len,
                MremapFlags::MAYMOVE,
                target.base.as_ptr().add(PAGE).cast(),
            )
        }
        .map_err(|e| format!("mremap: {}", std::io::Error::from(e)))?;
        // SAFETY: The old reservation is now empty or ours; unmapping it cannot hit the target
        // (a failure would only leak address space).
        let _ = unsafe { mm::munmap(this.map.0 as *mut _, this.map.1) };
        let mut moved = target;
        moved.base = std::ptr::NonNull::new(p.cast()).ok_or("mremap returned null")?;
        moved.len = this.len;
        Ok(moved)
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: The whole reservation is ours (a failure would only leak address space).
        let _ = unsafe { mm::munmap(self.map.0 as *mut _, self.map.1) };
    }
}

/// The test pattern: every 8-byte word differs, and differs between seeds.
pub fn pattern(seed: u64, word: usize) -> u64 {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (word as u64).wrapping_add(1);
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 29)
}
