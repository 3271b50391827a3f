// SPDX-License-Identifier: GPL-2.0

//! A GPU's copy engine as its VRAM uses it: batches handed to it (their RAM pages mapped for
//! DMA), taking it out when it fails, its known-pattern test at probe, and zeroing the VRAM that
//! held data at shutdown (`scrub`), by the engine or else by the CPU.

use super::Vram;
use crate::{
    bus,
    copy::{
        Direction,
        Span, //
    },
    nvidia::{
        self,
        Channel,
        Failure,
        Run,
        Target, //
    },
    shim,
    stats::Counter, //
};
use core::{
    ops::Range,
    sync::atomic::Ordering, //
};
use kernel::{
    bindings,
    device::Bound,
    page::PAGE_SIZE,
    pci,
    prelude::*, //
};

impl Vram {
    /// Copies `spans` (`pages` pages) with the copy engine; `false` if the CPU must copy them:
    /// the batch is too small, there is no engine, or it failed ([`Self::engine_failed`]).
    pub(crate) fn dma_copy(&self, dir: Direction, spans: &[Span<'_>], pages: usize) -> bool {
        if pages < self.dma_threshold {
            return false;
        }
        let mut guard = self.engine.lock();
        let slot: &mut Option<Channel> = &mut guard;
        let Some(channel) = self.working(slot) else {
            return false;
        };
        let to_device = dir == Direction::ToVram;
        let Some(maps) = DmaMaps::new(self, spans, to_device) else {
            return false;
        };
        let (src, dst) = match dir {
            Direction::ToVram => (Target::CoherentSysmem, Target::LocalFb),
            Direction::ToRam => (Target::LocalFb, Target::CoherentSysmem),
        };
        let result = maps
            .runs
            .chunks(Channel::max_runs())
            .try_for_each(|runs| channel.copy(runs, src, dst));
        match result {
            Ok(()) => {
                drop(maps);
                self.count(Counter::DmaBytes, (pages * PAGE_SIZE) as u64);
                true
            }
            Err(failure) => {
                // Reset the engine before the RAM pages are unmapped and the CPU redoes the batch:
                // a stalled engine must not write them later.
                self.engine_failed(slot, failure);
                drop(maps);
                false
            }
        }
    }

    /// The channel in `slot`, unless its engine failed.
    fn working<'c>(&self, slot: &'c mut Option<Channel>) -> Option<&'c mut Channel> {
        match self.engine_failed.load(Ordering::Relaxed) {
            true => None,
            false => slot.as_mut(),
        }
    }

    /// Takes a failed engine out of use, says so once, counts it. Its channel is reset at once and
    /// dropped: the engine is not used again until the device is probed again. But an engine
    /// that failed because the board stopped answering (the link went down) is not at fault: its
    /// channel is stopped and kept, and [`Self::resume`] brings it back when a reset (PCI error
    /// recovery) brings the board back.
    pub(super) fn engine_failed(&self, slot: &mut Option<Channel>, failure: Failure) {
        if let (Failure::Gone, Some(channel)) = (failure, slot.as_mut()) {
            if !self.engine_failed.swap(true, Ordering::Relaxed) {
                let engine = channel.engine;
                let state = channel.state();
                channel.suspend();
                dev_err!(
                    self.pdev.as_ref(),
                    "copy engine {engine} failed: {failure} ({state}); the CPU copies until a reset brings the board back\n"
                );
            }
        } else if let Some(channel) = slot.take() {
            let engine = channel.engine;
            let state = channel.state();
            channel.abandon();
            self.engine_failed.store(true, Ordering::Relaxed);
            dev_err!(
                self.pdev.as_ref(),
                "copy engine {engine} failed: {failure} ({state}); disabled until the device is probed again, the CPU copies\n"
            );
        }
        self.count(Counter::DmaFail, 1);
    }

    /// Zeroes the lent VRAM pages that held data and are free again (`scrub`), so that nothing a
    /// process parked stays readable in VRAM after the GPU is released: by the copy engine where
    /// it runs, else by the CPU through BAR1 (its window, in virtual mode).
    pub(super) fn scrub(&self) {
        if !self.scrub {
            return;
        }
        let runs = match self.pool.used_free_runs() {
            Ok(runs) => runs,
            Err(e) => {
                dev_warn!(
                    self.pdev.as_ref(),
                    "cannot list the VRAM to zero ({e:?}); it keeps what it held\n"
                );
                return;
            }
        };
        let pages: usize = runs.iter().map(|r| (r.end - r.start) as usize).sum();
        if pages == 0 {
            return;
        }
        let by = if self.scrub_with_engine(&runs) {
            "the copy engine"
        } else {
            let mut zeroed = 0;
            for r in runs.iter() {
                let start = r.start as usize * PAGE_SIZE;
                if let Err(e) = self.cpu_zero(start as u64, (r.end - r.start) as usize * PAGE_SIZE)
                {
                    dev_err!(
                        self.pdev.as_ref(),
                        "cannot point BAR1's window at VRAM {start:#x} ({e:?}): {} KiB of VRAM not zeroed; it keeps what it held\n",
                        (pages - zeroed) * (PAGE_SIZE / 1024)
                    );
                    return;
                }
                zeroed += (r.end - r.start) as usize;
                // A run is at most 2 MiB; a whole board's VRAM takes a while.
                // SAFETY: No precondition; shutdown runs in process context.
                unsafe { shim::ps_cond_resched() };
            }
            "the CPU"
        };
        dev_info!(
            self.pdev.as_ref(),
            "zeroed {} KiB of VRAM that held data, by {by}\n",
            pages * (PAGE_SIZE / 1024)
        );
    }

    /// Zeroes `runs` with the copy engine; `false` if there is none or it failed.
    fn scrub_with_engine(&self, runs: &[Range<u32>]) -> bool {
        let mut guard = self.engine.lock();
        let slot: &mut Option<Channel> = &mut guard;
        let Some(channel) = self.working(slot) else {
            return false;
        };
        let mut batch = KVec::new();
        for chunk in runs.chunks(Channel::max_runs()) {
            batch.clear();
            for r in chunk {
                let run = (u64::from(r.start) * PAGE_SIZE as u64, r.end - r.start);
                if batch.push(run, GFP_KERNEL).is_err() {
                    return false;
                }
            }
            if let Err(failure) = channel.clear(&batch) {
                self.engine_failed(slot, failure);
                return false;
            }
        }
        true
    }
}

/// `channel` if it passes the known-pattern test on the first lendable pages of `usable` (or
/// there are not enough of them to test on); otherwise it is reset, the failure said in one line
/// with the decisive registers, and `None` returned: the CPU copies.
pub(super) fn self_checked(
    pdev: &pci::Device<Bound>,
    mut channel: Channel,
    gpu: &Vram,
    usable: &[Range<u64>],
) -> Option<Channel> {
    let engine = channel.engine;
    let Some(vram) = engine_test_pages(usable) else {
        return Some(channel);
    };
    let bytes = nvidia::ENGINE_TEST_VRAM_PAGES * PAGE_SIZE as u64;
    let result = gpu
        .with_bar1(vram, bytes, |offset| {
            nvidia::engine_self_check(&mut channel, &gpu.bar, vram, offset)
        })
        .unwrap_or(Err(nvidia::EngineTestFailure::Bar));
    match result {
        Ok(()) => {
            dev_info!(
                pdev.as_ref(),
                "self-check: copy engine {engine} copied RAM to VRAM and back and filled VRAM exactly, guard pages untouched\n"
            );
            Some(channel)
        }
        Err(f) => {
            let state = channel.state();
            channel.abandon();
            dev_err!(
                pdev.as_ref(),
                "self-check: copy engine {engine} failed its known-pattern test: {f} ({state}); reset, the CPU copies\n"
            );
            None
        }
    }
}

/// The first of [`nvidia::ENGINE_TEST_VRAM_PAGES`] lendable VRAM pages in one range and one
/// 2 MiB chunk (one slot of BAR1's window shows them), for the copy-engine self-check (free:
/// nothing is lent yet).
fn engine_test_pages(usable: &[Range<u64>]) -> Option<u64> {
    let page = PAGE_SIZE as u64;
    let bytes = nvidia::ENGINE_TEST_VRAM_PAGES * page;
    usable.iter().find_map(|r| {
        let start = r.start.next_multiple_of(page);
        let chunk_end = (start / nvidia::BAR1_SLOT_BYTES + 1) * nvidia::BAR1_SLOT_BYTES;
        let start = if start + bytes > chunk_end {
            chunk_end
        } else {
            start
        };
        (start + bytes <= r.end).then_some(start)
    })
}

/// Streaming DMA mappings of the RAM side of a batch of spans, unmapped on drop, and the runs of
/// contiguous pages they make.
struct DmaMaps<'v> {
    vram: &'v Vram,
    to_device: bool,
    maps: KVec<(bindings::dma_addr_t, usize)>,
    runs: KVec<Run>,
}

impl<'v> DmaMaps<'v> {
    fn new(vram: &'v Vram, spans: &[Span<'_>], to_device: bool) -> Option<Self> {
        let mut this = Self {
            vram,
            to_device,
            maps: KVec::with_capacity(spans.len(), GFP_KERNEL).ok()?,
            runs: KVec::with_capacity(spans.len(), GFP_KERNEL).ok()?,
        };
        let dev = bus::raw(&vram.pdev);
        for span in spans {
            let mut addr: bindings::dma_addr_t = 0;
            // SAFETY: The span's RAM side is `len` bytes of the kernel's linear map that the
            // migration holds for the span's lifetime, which outlives this mapping.
            let ret = unsafe {
                shim::ps_dma_map(dev, span.ram_ptr().cast(), span.len(), to_device, &mut addr)
            };
            if ret != 0 {
                return None;
            }
            this.maps.push_within_capacity((addr, span.len())).ok()?;
            // CAST: A span is at most a 2 MiB huge page.
            let pages = (span.len() / PAGE_SIZE) as u32;
            let (src, dst) = match to_device {
                true => (addr, span.vram()),
                false => (span.vram(), addr),
            };
            if let Some(last) = this.runs.last_mut() {
                let bytes = u64::from(last.pages) * PAGE_SIZE as u64;
                if last.src + bytes == src && last.dst + bytes == dst {
                    last.pages += pages;
                    continue;
                }
            }
            this.runs
                .push_within_capacity(Run { src, dst, pages })
                .ok()?;
        }
        Some(this)
    }
}

impl Drop for DmaMaps<'_> {
    fn drop(&mut self) {
        let dev = bus::raw(&self.vram.pdev);
        for &(addr, len) in self.maps.iter() {
            // SAFETY: Mapped in `new` with the same device, length and direction.
            unsafe { shim::ps_dma_unmap(dev, addr, len, self.to_device) };
        }
    }
}
