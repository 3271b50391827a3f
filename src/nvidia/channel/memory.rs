// SPDX-License-Identifier: GPL-2.0

//! The channel's memory: one coherent buffer holding, page by page, the instance block, the
//! runlist, the page tables that map the buffer itself into the channel's GPU address space,
//! USERD, the semaphore, the flush page, the GPFIFO ring, the push buffer, the copy engine's
//! fault method buffer and the known-pattern test's pages; and how they are filled (offsets from
//! [`ramin`]).

use super::{
    Channel,
    UserdPlace,
    CHID, //
};
use crate::{
    compat,
    nvidia::{
        fifo::TARGET_SYS_COHERENT,
        ramin, //
    },
};
use core::ptr;

/// Bytes in a page of the coherent buffer.
pub(super) const PAGE: usize = 4096;
pub(super) const WORDS_PER_PAGE: usize = PAGE / 4;

/// Pages of the coherent buffer, in order.
pub(super) mod page {
    pub(crate) const INSTANCE: usize = 0;
    pub(crate) const RUNLIST: usize = 1;
    pub(crate) const PD3: usize = 2;
    pub(crate) const PD2: usize = 3;
    pub(crate) const PD1: usize = 4;
    pub(crate) const PD0: usize = 5;
    pub(crate) const PT: usize = 6;
    pub(crate) const USERD: usize = 7;
    pub(crate) const SEMAPHORE: usize = 8;
    pub(crate) const FLUSH: usize = 9;
    pub(crate) const GPFIFO: usize = 10;
    pub(crate) const PUSH: usize = 11;
    pub(crate) const PUSH_PAGES: usize = 16;
    /// The copy engine's fault method buffer (Volta and later).
    pub(crate) const METHOD: usize = PUSH + PUSH_PAGES;
    pub(crate) const METHOD_PAGES: usize = 16;
    /// The known-pattern test's RAM pages (`selfcheck::copy_engine`).
    pub(crate) const TEST: usize = METHOD + METHOD_PAGES;
    pub(crate) const TEST_PAGES: usize = 5;
    pub(crate) const COUNT: usize = TEST + TEST_PAGES;
}

/// GPU virtual address of the coherent buffer: 512 MiB, so that PD1 entry 1 and one page table
/// cover it.
const VA_BASE: u64 = 0x2000_0000;
/// The last GPU virtual address the channel may use (`NV_RAMIN_ADR_LIMIT`): 40 bits, all
/// `NV_RAMIN_ADR_LIMIT_HI`'s 8 bits hold.
const VA_LIMIT: u64 = (1 << 40) - 1;
/// GPFIFO entries: one page.
pub(super) const GPFIFO_ENTRIES: u32 = (PAGE / 8) as u32;

impl Channel {
    /// The bus address of page `index` of the coherent buffer.
    pub(super) fn bus(&self, index: usize) -> u64 {
        compat::dma_address(&self.mem) + (index * PAGE) as u64
    }

    /// The GPU virtual address of page `index` of the coherent buffer.
    pub(super) fn va(index: usize) -> u64 {
        VA_BASE + (index * PAGE) as u64
    }

    /// The word at `byte` of page `page` of the coherent buffer, if it is inside it.
    pub(super) fn word_ptr(&self, page: usize, byte: usize) -> Option<*mut u32> {
        let index = page * WORDS_PER_PAGE + byte / 4;
        if kernel::warn_on!(index >= self.mem.len()) {
            return None;
        }
        Some(self.mem.as_mut_ptr().cast::<u32>().wrapping_add(index))
    }

    pub(super) fn write_word(&self, page: usize, byte: usize, value: u32) {
        if let Some(word) = self.word_ptr(page, byte) {
            // SAFETY: `word` is inside the coherent buffer, which lives as long as `self`; the
            // GPU may read it concurrently, hence a volatile access.
            unsafe { ptr::write_volatile(word, value) };
        }
    }

    pub(super) fn read_word(&self, page: usize, byte: usize) -> u32 {
        match self.word_ptr(page, byte) {
            // SAFETY: As in `write_word`; the GPU may write it concurrently.
            Some(word) => unsafe { ptr::read_volatile(word) },
            None => 0,
        }
    }

    fn write_u64(&self, page: usize, byte: usize, value: u64) {
        // CAST: The two halves of a little-endian 64-bit entry.
        self.write_word(page, byte, value as u32);
        self.write_word(page, byte + 4, (value >> 32) as u32);
    }

    /// Zeroes the whole coherent buffer (a resume rebuilds it from nothing).
    pub(super) fn clear_memory(&self) {
        for i in 0..self.mem.len() {
            self.write_word(i / WORDS_PER_PAGE, 4 * (i % WORDS_PER_PAGE), 0);
        }
    }

    /// Page tables, instance block and runlist, in the coherent buffer.
    pub(super) fn build_memory(&mut self) {
        // PD3 entry 0 -> PD2, PD2 entry 0 -> PD1, PD1 entry 1 (512 MiB) -> PD0, PD0 entry 0's
        // small-page half -> the page table, which maps every page of the buffer.
        let entry = |addr: u64, flags: u64| ((addr >> 12) << ramin::ENTRY_ADDRESS_SHIFT) | flags;
        self.write_u64(page::PD3, 0, entry(self.bus(page::PD2), ramin::PDE_SYS));
        self.write_u64(page::PD2, 0, entry(self.bus(page::PD1), ramin::PDE_SYS));
        self.write_u64(
            page::PD1,
            8 * ((VA_BASE >> 29) & 0x1ff) as usize,
            entry(self.bus(page::PD0), ramin::PDE_SYS),
        );
        self.write_u64(page::PD0, 8, entry(self.bus(page::PT), ramin::PDE_SYS));
        for i in 0..page::COUNT {
            self.write_u64(page::PT, 8 * i, entry(self.bus(i), ramin::PTE_SYS));
        }

        let userd = self.userd_address();
        let gpfifo = Self::va(page::GPFIFO);
        let ramfc = [
            // CAST: Low and high words; USERD's TARGET is in its low bits (Volta and later).
            (ramin::RAMFC_USERD, userd as u32 | self.userd_target()),
            (ramin::RAMFC_USERD_HI, (userd >> 32) as u32),
            (ramin::RAMFC_SIGNATURE, ramin::RAMFC_SIGNATURE_VALUE),
            (ramin::RAMFC_GP_BASE, gpfifo as u32),
            (
                ramin::RAMFC_GP_BASE_HI,
                (gpfifo >> 32) as u32
                    | (GPFIFO_ENTRIES.ilog2() << ramin::RAMFC_GP_BASE_HI_LIMIT2_SHIFT),
            ),
        ];
        for (offset, value) in ramfc {
            self.write_word(page::INSTANCE, offset, value);
        }
        let pd3 = self.bus(page::PD3);
        let pdb = [
            (pd3 as u32 & !0xfff) | ramin::PAGE_DIR_BASE_FLAGS,
            (pd3 >> 32) as u32,
        ];
        let hal = self.hal;
        hal.fill_instance(
            &mut |offset, value| self.write_word(page::INSTANCE, offset, value),
            CHID,
            pdb,
            Self::va(page::METHOD),
        );
        self.write_word(page::INSTANCE, ramin::PAGE_DIR_BASE_LO, pdb[0]);
        self.write_word(page::INSTANCE, ramin::PAGE_DIR_BASE_HI, pdb[1]);
        // The last valid VA, bits 39:12 (low bits read as ones), as OpenRM's
        // `kgmmuInstBlkVaLimitGet_GP100` writes it; Pascal faults any VA above it, later chips
        // ignore it.
        self.write_word(page::INSTANCE, ramin::ADR_LIMIT_LO, VA_LIMIT as u32 | 0xfff);
        self.write_word(
            page::INSTANCE,
            ramin::ADR_LIMIT_HI,
            (VA_LIMIT >> 32) as u32 & 0xff,
        );
    }

    /// USERD's address: in VRAM (Host snoops it through BAR1) or the coherent buffer's page.
    pub(super) fn userd_address(&self) -> u64 {
        match self.hal.userd() {
            UserdPlace::Bar1 { vram, .. } => vram + u64::from(CHID) * ramin::USERD_BYTES as u64,
            UserdPlace::Coherent => self.bus(page::USERD),
        }
    }

    fn userd_target(&self) -> u32 {
        match self.hal.userd() {
            UserdPlace::Bar1 { .. } => 0,
            UserdPlace::Coherent => TARGET_SYS_COHERENT,
        }
    }

    /// Fills test page `i` (of [`page::TEST_PAGES`]) with `byte(offset)`.
    pub(crate) fn fill_test_page(&self, i: usize, byte: impl Fn(usize) -> u8) {
        for w in 0..WORDS_PER_PAGE {
            let b = |k: usize| u32::from(byte(4 * w + k));
            let word = b(0) | (b(1) << 8) | (b(2) << 16) | (b(3) << 24);
            self.write_word(page::TEST + i.min(page::TEST_PAGES - 1), 4 * w, word);
        }
    }

    /// The first byte of test page `i` that is not `byte(offset)`, as (offset, value read).
    pub(crate) fn test_page_mismatch(
        &self,
        i: usize,
        byte: impl Fn(usize) -> u8,
    ) -> Option<(usize, u8)> {
        for w in 0..WORDS_PER_PAGE {
            let word = self.read_word(page::TEST + i.min(page::TEST_PAGES - 1), 4 * w);
            for (k, read) in word.to_le_bytes().into_iter().enumerate() {
                if read != byte(4 * w + k) {
                    return Some((4 * w + k, read));
                }
            }
        }
        None
    }

    /// The bus address of test page `i`.
    pub(crate) fn test_page_bus(&self, i: usize) -> u64 {
        self.bus(page::TEST + i.min(page::TEST_PAGES - 1))
    }
}
