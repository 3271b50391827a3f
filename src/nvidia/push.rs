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

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kernel::macros::kunit_tests(pseudoscopic_nvidia_push)]
mod tests {
    use super::*;
    use kernel::prelude::*;

    /// Pascal's copy-engine class (`PASCAL_DMA_COPY_A`).
    const CLASS: u32 = 0xc0b5;

    #[test]
    fn method_headers_follow_the_host_class() {
        let mut words = [0u32; 5];
        let mut push = Push::new(&mut words);
        assert!(push
            .begin(CLASS, Target::LocalFb, Target::CoherentSysmem)
            .is_some());
        assert_eq!(push.len(), 5);
        // clc36f.h: SEC_OP 31:29 = INC_METHOD (1), COUNT 28:16, SUBCHANNEL 15:13, ADDRESS 11:0
        // in words: SET_OBJECT (0x0000) with one word, SET_SRC_PHYS_MODE (0x0260) with two.
        assert!(words == [0x2001_8000, CLASS, 0x2002_8098, 0, 1]);
    }

    #[test]
    fn a_copy_launches_a_physical_multi_line_pitch_copy() {
        let mut words = [0u32; 11];
        let mut push = Push::new(&mut words);
        let run = Run {
            src: 0x1_2345_6000,
            dst: 0x0002_0000_0000_8000,
            pages: 3,
        };
        assert!(push.copy(run, None).is_some());
        assert_eq!(push.len(), 11);
        // OFFSET_IN_UPPER (0x0400) and the seven methods after it; UPPER is 16:0.
        assert!(
            words[..9]
                == [
                    0x2008_8100,
                    0x1,
                    0x2345_6000,
                    0x0,
                    0x8000,
                    4096,
                    4096,
                    4096,
                    3
                ]
        );
        // LAUNCH_DMA (0x0300): NON_PIPELINED, FLUSH_ENABLE, both layouts PITCH, MULTI_LINE,
        // both types PHYSICAL (clc3b5.h), no semaphore.
        assert!(words[9..] == [0x2001_80c0, 0x3386]);
    }

    #[test]
    fn the_last_launch_releases_the_semaphore() {
        let mut words = [0u32; 15];
        let mut push = Push::new(&mut words);
        assert!(push
            .copy(
                Run {
                    src: 0,
                    dst: 0,
                    pages: 1
                },
                Some((0x1_0000_0040, 7))
            )
            .is_some());
        assert_eq!(push.len(), 15);
        // SET_SEMAPHORE_A (0x0240): address upper, lower, payload; then LAUNCH_DMA with
        // SEMAPHORE_TYPE RELEASE_ONE_WORD_SEMAPHORE (4:3 = 1).
        assert!(words[9..] == [0x2003_8090, 0x1, 0x40, 7, 0x2001_80c0, 0x338e]);
    }

    #[test]
    fn words_for_holds_a_batch_of_clears() -> Result {
        for runs in [1usize, 2, 7, 64] {
            let mut words = KVec::new();
            words.resize(Push::words_for(runs), 0u32, GFP_KERNEL)?;
            let mut push = Push::new(&mut words);
            assert!(push
                .begin(CLASS, Target::LocalFb, Target::LocalFb)
                .is_some());
            for i in 0..runs {
                let release = (i + 1 == runs).then_some((0x1000, 1));
                assert!(push.clear(0x10_0000, 512, release).is_some());
            }
            // A clear, the largest launch, fills the bound exactly.
            assert_eq!(push.len(), Push::words_for(runs));
            assert!(push
                .copy(
                    Run {
                        src: 0,
                        dst: 0,
                        pages: 1
                    },
                    None
                )
                .is_none());
        }
        Ok(())
    }

    #[test]
    fn a_full_buffer_takes_nothing_more() {
        let mut words = [0u32; 10];
        let mut push = Push::new(&mut words);
        // A copy needs 11 words: nothing is written past the end, and it says so.
        assert!(push
            .copy(
                Run {
                    src: 0,
                    dst: 0,
                    pages: 1
                },
                None
            )
            .is_none());
        assert_eq!(push.len(), 9);
    }
}
