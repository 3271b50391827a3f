// SPDX-License-Identifier: GPL-2.0

//! Push buffers for the copy engine: method headers (`classes/host/clc36f.h` `NVC36F_DMA_*`) and
//! the copy-engine methods (`classes/dma-copy/clc?b5.h`), as 32-bit words.

/// The subchannel the copy-engine class is bound to.
const SUBCHANNEL: u32 = 4;

/// `NVC36F_DMA_SEC_OP_INC_METHOD`.
const SEC_OP_INC_METHOD: u32 = 1;

/// Copy-engine methods (`NVC?B5_*`, the same offsets in every class used here).
mod method {
    pub(super) const SET_OBJECT: u32 = 0x0000;
    pub(super) const SET_SEMAPHORE_A: u32 = 0x0240;
    pub(super) const SET_SRC_PHYS_MODE: u32 = 0x0260;
    pub(super) const LAUNCH_DMA: u32 = 0x0300;
    pub(super) const OFFSET_IN_UPPER: u32 = 0x0400;
    pub(super) const OFFSET_OUT_UPPER: u32 = 0x0408;
    pub(super) const SET_REMAP_CONST_A: u32 = 0x0700;
}

/// `NVC?B5_LAUNCH_DMA` fields.
mod launch {
    pub(super) const NON_PIPELINED: u32 = 2;
    pub(super) const FLUSH_ENABLE: u32 = 1 << 2;
    pub(super) const SEMAPHORE_RELEASE_ONE_WORD: u32 = 1 << 3;
    pub(super) const SRC_PITCH: u32 = 1 << 7;
    pub(super) const DST_PITCH: u32 = 1 << 8;
    pub(super) const MULTI_LINE: u32 = 1 << 9;
    pub(super) const REMAP: u32 = 1 << 10;
    pub(super) const SRC_PHYSICAL: u32 = 1 << 12;
    pub(super) const DST_PHYSICAL: u32 = 1 << 13;
}

/// `NVC?B5_SET_REMAP_COMPONENTS`: DST_X = CONST_A, 4-byte components, one source and one
/// destination component.
const REMAP_CONST_A_4B: u32 = 4 | (3 << 16);
/// Bytes of a remap component (`COMPONENT_SIZE_FOUR`).
const REMAP_COMPONENT: u32 = 4;

/// `NVC?B5_SET_{SRC,DST}_PHYS_MODE_TARGET`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    LocalFb = 0,
    CoherentSysmem = 1,
}

/// The bytes one line of a copy covers: one page, so that a run of pages is one multi-line copy.
const LINE: u32 = 4096;

/// One run of whole pages: `pages` pages from `src` to `dst`, both contiguous.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub(crate) src: u64,
    pub(crate) dst: u64,
    pub(crate) pages: u32,
}

/// Writes methods into a push buffer of `u32` words.
pub(crate) struct Push<'a> {
    words: &'a mut [u32],
    len: usize,
}

impl<'a> Push<'a> {
    pub(crate) fn new(words: &'a mut [u32]) -> Self {
        Self { words, len: 0 }
    }

    /// Words written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Words a batch of `runs` launches needs at most: the class bind and modes (5), each launch
    /// (a copy 11, a clear 13), the semaphore (4).
    pub(crate) const fn words_for(runs: usize) -> usize {
        5 + runs * 13 + 4
    }

    /// An incrementing method header and its data; `None` when the buffer is full.
    fn methods(&mut self, method: u32, data: &[u32]) -> Option<()> {
        let end = self.len + 1 + data.len();
        let out = self.words.get_mut(self.len..end)?;
        // CAST: A batch writes at most 8 data words per header.
        out[0] = (SEC_OP_INC_METHOD << 29)
            | ((data.len() as u32) << 16)
            | (SUBCHANNEL << 13)
            | (method >> 2);
        out[1..].copy_from_slice(data);
        self.len = end;
        Some(())
    }

    /// Binds `class` and sets both physical-mode targets.
    pub(crate) fn begin(&mut self, class: u32, src: Target, dst: Target) -> Option<()> {
        self.methods(method::SET_OBJECT, &[class])?;
        self.methods(method::SET_SRC_PHYS_MODE, &[src as u32, dst as u32])
    }

    /// A multi-line pitch copy of `run`, between physical addresses; the last one of a batch
    /// releases the semaphore at `semaphore` (a GPU virtual address) with `payload`.
    pub(crate) fn copy(&mut self, run: Run, release: Option<(u64, u32)>) -> Option<()> {
        self.methods(
            method::OFFSET_IN_UPPER,
            &[
                upper(run.src),
                run.src as u32,
                upper(run.dst),
                run.dst as u32,
                LINE,
                LINE,
                LINE,
                run.pages,
            ],
        )?;
        let flags = launch::SRC_PITCH | launch::DST_PITCH | launch::MULTI_LINE;
        self.launch(flags | launch::SRC_PHYSICAL | launch::DST_PHYSICAL, release)
    }

    /// Zeroes `pages` whole pages of physical memory from `dst` through the remap unit (a multi-line
    /// fill whose lines count 4-byte components); the last one of a batch releases the semaphore.
    pub(crate) fn clear(
        &mut self,
        dst: u64,
        pages: u32,
        release: Option<(u64, u32)>,
    ) -> Option<()> {
        self.methods(method::SET_REMAP_CONST_A, &[0, 0, REMAP_CONST_A_4B])?;
        self.methods(
            method::OFFSET_OUT_UPPER,
            &[
                upper(dst),
                dst as u32,
                LINE,
                LINE,
                LINE / REMAP_COMPONENT,
                pages,
            ],
        )?;
        let flags = launch::SRC_PITCH
            | launch::DST_PITCH
            | launch::MULTI_LINE
            | launch::REMAP
            | launch::DST_PHYSICAL;
        self.launch(flags, release)
    }

    fn launch(&mut self, flags: u32, release: Option<(u64, u32)>) -> Option<()> {
        let mut flags = flags | launch::NON_PIPELINED | launch::FLUSH_ENABLE;
        if let Some((va, payload)) = release {
            self.methods(method::SET_SEMAPHORE_A, &[upper(va), va as u32, payload])?;
            flags |= launch::SEMAPHORE_RELEASE_ONE_WORD;
        }
        self.methods(method::LAUNCH_DMA, &[flags])
    }
}

/// Bits 48:32 of an address, as the `*_UPPER` methods take them.
fn upper(addr: u64) -> u32 {
    // CAST: Masked to 17 bits.
    ((addr >> 32) & 0x1_ffff) as u32
}
