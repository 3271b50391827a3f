// SPDX-License-Identifier: GPL-2.0

//! Submission: each batch is one push segment of physical-mode copies (or fills) ending in a
//! semaphore release, queued as one GPFIFO entry, announced to Host and polled with a timeout;
//! and the registers that tell why a batch failed.

use super::{
    memory::{
        page,
        GPFIFO_ENTRIES,
        PAGE,
        WORDS_PER_PAGE, //
    },
    Channel,
    CHID, //
};
use crate::nvidia::{
    hal::is_pri_error,
    push::{
        Push,
        Run,
        Target, //
    },
    regs,
    Bar0, //
};
use kernel::{
    io::{
        register::Array,
        Io, //
    },
    prelude::*,
    time::{
        delay::fsleep,
        Delta,
        Instant,
        Monotonic, //
    },
};

/// How long any batch may take before the engine counts as hung, beyond the time its bytes need
/// (nouveau waits 2 s for most things).
const BATCH_TIMEOUT_BASE_MS: u64 = 2000;
/// The slowest link a batch's bytes are allowed for: 64 MiB/s, below a PCIe 1.0 x1 link
/// (250 MB/s), so a narrow or slow link is never taken for a hung engine.
const SLOWEST_LINK_BYTES_PER_MS: u64 = (64 << 20) / 1000;

/// How long a batch of `bytes` may take.
fn batch_timeout_ms(bytes: u64) -> u64 {
    BATCH_TIMEOUT_BASE_MS + bytes / SLOWEST_LINK_BYTES_PER_MS
}

/// The known-pattern test at bring-up gets a short timeout: 16 pages on any working engine take
/// well under a millisecond.
const SELF_TEST_TIMEOUT_MS: u64 = 200;

/// Why a batch failed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Failure {
    /// No completion within this many milliseconds.
    Timeout(u64),
    ChannelError(u32),
    Semaphore {
        read: u32,
        expected: u32,
    },
    /// More launches than [`Channel::max_runs`]: a driver bug, caught before anything ran.
    Overflow,
    Gone,
}

impl kernel::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Timeout(ms) => write!(f, "timed out after {ms} ms"),
            Self::ChannelError(v) => write!(f, "channel error (NV_PCCSR_CHANNEL {v:#010x})"),
            Self::Semaphore { read, expected } => write!(
                f,
                "semaphore corrupted (read {read:#x}, expected {expected:#x})"
            ),
            Self::Overflow => f.write_str("push buffer overflow"),
            Self::Gone => f.write_str("device gone"),
        }
    }
}

impl Channel {
    /// Copies `runs` (at most [`Channel::max_runs`]) from `src` to `dst` memory and waits for it.
    pub(crate) fn copy(&mut self, runs: &[Run], src: Target, dst: Target) -> Result<(), Failure> {
        let bytes = runs.iter().map(|r| u64::from(r.pages) * PAGE as u64).sum();
        self.batch(
            src,
            dst,
            runs.len(),
            batch_timeout_ms(bytes),
            |push, i, release| push.copy(runs[i], release),
        )
    }

    /// Zeroes `runs` of VRAM, each `(address, pages)` (at most [`Channel::max_runs`]), and waits
    /// for it.
    pub(crate) fn clear(&mut self, runs: &[(u64, u32)]) -> Result<(), Failure> {
        let bytes = runs.iter().map(|r| u64::from(r.1) * PAGE as u64).sum();
        self.batch(
            Target::LocalFb,
            Target::LocalFb,
            runs.len(),
            batch_timeout_ms(bytes),
            |push, i, release| push.clear(runs[i].0, runs[i].1, release),
        )
    }

    /// The known-pattern test's copy: as [`Channel::copy`] with the short self-test timeout.
    pub(crate) fn test_copy(&mut self, run: Run, src: Target, dst: Target) -> Result<(), Failure> {
        self.batch(src, dst, 1, SELF_TEST_TIMEOUT_MS, |push, _, release| {
            push.copy(run, release)
        })
    }

    /// The known-pattern test's fill: as [`Channel::clear`] with the short self-test timeout.
    pub(crate) fn test_clear(&mut self, vram: u64, pages: u32) -> Result<(), Failure> {
        self.batch(
            Target::LocalFb,
            Target::LocalFb,
            1,
            SELF_TEST_TIMEOUT_MS,
            |push, _, release| push.clear(vram, pages, release),
        )
    }

    /// Writes a push segment of `count` launches (`launch` writes launch `i`; the last releases
    /// the semaphore), submits it and waits up to `timeout_ms` for it.
    fn batch(
        &mut self,
        src: Target,
        dst: Target,
        count: usize,
        timeout_ms: u64,
        launch: impl Fn(&mut Push<'_>, usize, Option<(u64, u32)>) -> Option<()>,
    ) -> Result<(), Failure> {
        let payload = self.sequence.wrapping_add(1);
        let semaphore = Self::va(page::SEMAPHORE);
        let words = self.word_ptr(page::PUSH, 0).ok_or(Failure::Overflow)?;
        let len = {
            // SAFETY: The push pages are inside the coherent buffer (`METHOD` follows them); the
            // previous batch is complete (its semaphore was released), so the GPU no longer reads
            // them.
            let words = unsafe {
                core::slice::from_raw_parts_mut(words, page::PUSH_PAGES * WORDS_PER_PAGE)
            };
            let mut push = Push::new(words);
            push.begin(self.class, src, dst).ok_or(Failure::Overflow)?;
            for i in 0..count {
                let release = (i + 1 == count).then_some((semaphore, payload));
                launch(&mut push, i, release).ok_or(Failure::Overflow)?;
            }
            push.len()
        };
        self.submit(len, payload, timeout_ms)
    }

    /// Most runs one batch holds.
    pub(crate) const fn max_runs() -> usize {
        let mut n = page::PUSH_PAGES * WORDS_PER_PAGE / 10;
        while Push::words_for(n) > page::PUSH_PAGES * WORDS_PER_PAGE {
            n -= 1;
        }
        n
    }

    /// Queues `len` words of the push buffer as one GPFIFO entry, tells Host and waits for the
    /// semaphore to read `payload`.
    fn submit(&mut self, len: usize, payload: u32, timeout_ms: u64) -> Result<(), Failure> {
        let push = Self::va(page::PUSH);
        let entry = (self.put % GPFIFO_ENTRIES) as usize;
        // `NV_PPBDMA_GP_ENTRY0/1`: GET (VA bits 31:2), GET_HI (39:32), LENGTH in words.
        // CAST: A push segment is at most 16 KiB words, within LENGTH's 21 bits.
        self.write_word(page::GPFIFO, entry * 8, push as u32 & !3);
        self.write_word(
            page::GPFIFO,
            entry * 8 + 4,
            ((push >> 32) as u32 & 0xff) | ((len as u32) << 10),
        );
        self.put = (self.put + 1) % GPFIFO_ENTRIES;
        // The entry and the push buffer must be visible before GP_PUT is.
        // SAFETY: No precondition.
        unsafe { crate::shim::ps_wmb() };
        self.write_gp_put(self.put);
        // GP_PUT must be visible before the doorbell makes Host read it.
        // SAFETY: No precondition.
        unsafe { crate::shim::ps_wmb() };
        self.with_bar0(|bar0| self.hal.ring(bar0, self.engine.runlist, CHID))
            .map_err(|_| Failure::Gone)?;
        let result = self.wait(payload, timeout_ms);
        self.sequence = payload;
        result
    }

    /// Polls the semaphore until it reads `payload`, the channel faults, or `timeout_ms` pass.
    fn wait(&self, payload: u32, timeout_ms: u64) -> Result<(), Failure> {
        let start = Instant::<Monotonic>::now();
        let mut spins = 0u32;
        loop {
            let read = self.read_word(page::SEMAPHORE, 0);
            if read == payload {
                return Ok(());
            }
            if read != self.sequence {
                return Err(Failure::Semaphore {
                    read,
                    expected: payload,
                });
            }
            let state = self
                .with_bar0(|bar0| bar0.read(regs::NV_PCCSR_CHANNEL::at(CHID as usize)))
                .map_err(|_| Failure::Gone)?;
            if is_pri_error(u32::from(state)) {
                return Err(Failure::Gone);
            }
            if state.pbdma_faulted() || state.eng_faulted() {
                return Err(Failure::ChannelError(u32::from(state)));
            }
            if start.elapsed().as_millis() > i64::try_from(timeout_ms).unwrap_or(i64::MAX) {
                return Err(Failure::Timeout(timeout_ms));
            }
            spins += 1;
            if spins > 64 {
                fsleep(Delta::from_micros(20));
            }
        }
    }

    /// The registers that tell why a channel failed, as one line: the channel (`NV_PCCSR_CHANNEL`),
    /// its PBDMA's pending errors (`NV_PPBDMA_INTR_0`), the engine (`NV_PFIFO_ENGINE_STATUS`), MMU
    /// faults (`NV_PFB_PRI_MMU_FAULT_STATUS`, where the chip has it) and `NV_PMC_ENABLE`.
    pub(crate) fn state(&self) -> ChannelState {
        let read = |bar0: &Bar0<'_>| ChannelState {
            pccsr: u32::from(bar0.read(regs::NV_PCCSR_CHANNEL::at(CHID as usize))),
            pbdma_intr: self
                .pbdma
                .and_then(regs::NV_PPBDMA_INTR_0::try_at)
                .map(|at| bar0.read(at).pending().get()),
            engine_status: self
                .engine
                .id
                .and_then(|id| regs::NV_PFIFO_ENGINE_STATUS::try_at(id as usize))
                .map(|at| bar0.read(at).value().get()),
            mmu_fault: self.hal.mmu_fault_status(bar0),
            pmc: bar0.read(regs::NV_PMC_ENABLE).devices().get(),
            semaphore: self.read_word(page::SEMAPHORE, 0),
        };
        self.with_bar0(read).unwrap_or(ChannelState {
            pccsr: u32::MAX,
            pbdma_intr: None,
            engine_status: None,
            mmu_fault: None,
            pmc: u32::MAX,
            semaphore: self.read_word(page::SEMAPHORE, 0),
        })
    }
}

/// What [`Channel::state`] read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelState {
    pccsr: u32,
    pbdma_intr: Option<u32>,
    engine_status: Option<u32>,
    mmu_fault: Option<u32>,
    pmc: u32,
    semaphore: u32,
}

impl kernel::fmt::Display for ChannelState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NV_PCCSR_CHANNEL {:#010x}", self.pccsr)?;
        if let Some(intr) = self.pbdma_intr {
            write!(f, ", NV_PPBDMA_INTR_0 {intr:#010x}")?;
        }
        if let Some(status) = self.engine_status {
            write!(f, ", NV_PFIFO_ENGINE_STATUS {status:#010x}")?;
        }
        if let Some(fault) = self.mmu_fault {
            write!(f, ", NV_PFB_PRI_MMU_FAULT_STATUS {fault:#010x}")?;
        }
        write!(
            f,
            ", NV_PMC_ENABLE {:#010x}, semaphore {:#x}",
            self.pmc, self.semaphore
        )
    }
}
