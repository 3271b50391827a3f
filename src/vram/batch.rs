// SPDX-License-Identifier: GPL-2.0

//! Batches of copies between RAM and the VRAM of one or more GPUs: each GPU's share goes to its
//! copy engine when it has one running and the share is large enough, else to the CPU routine of
//! [`crate::copy`].

use super::Vram;
use crate::copy::{
    Direction,
    Span, //
};
use kernel::{
    page::PAGE_SIZE,
    prelude::*, //
};

/// A batch of spans, each with the GPU whose VRAM it touches, copied together by
/// [`Batch::run`]: by that GPU's copy engine when it has a usable one and the batch holds at least
/// `migration_threshold` pages, by the CPU otherwise.
pub(crate) struct Batch<'a> {
    dir: Direction,
    spans: KVec<Span<'a>>,
    gpus: KVec<&'a Vram>,
    uncopied: Uncopied,
}

/// The GPUs whose share of a [`Batch`] was not all copied: the CPU could not reach a span's VRAM
/// (BAR1's window could not be pointed at it). The caller leaves every page of those GPUs in the
/// batch where it was: none of their copies is trusted.
#[derive(Default)]
pub(crate) struct Uncopied {
    /// The GPUs' indices.
    gpus: KVec<u32>,
    /// No memory to name a GPU: no copy of the batch is trusted.
    all: bool,
}

impl Uncopied {
    fn add(&mut self, gpu: &Vram) {
        if !self.holds(gpu) && self.gpus.push(gpu.index, GFP_KERNEL).is_err() {
            self.all = true;
        }
    }

    /// Whether the copies of `gpu`'s pages are not to be trusted.
    pub(crate) fn holds(&self, gpu: &Vram) -> bool {
        self.all || self.gpus.contains(&gpu.index)
    }
}

impl<'a> Batch<'a> {
    /// A batch with room for `capacity` spans (e.g. one per entry of a migration window); without
    /// memory for that, each span is copied by the CPU as it is added.
    pub(crate) fn new(dir: Direction, capacity: usize) -> Self {
        let spans = KVec::with_capacity(capacity, GFP_KERNEL).unwrap_or_default();
        let gpus = KVec::with_capacity(capacity, GFP_KERNEL).unwrap_or_default();
        Self {
            dir,
            spans,
            gpus,
            uncopied: Uncopied::default(),
        }
    }

    /// Adds `span` of `gpu`; a span beyond the capacity is copied at once by the CPU.
    pub(crate) fn push(&mut self, gpu: &'a Vram, span: Span<'a>) {
        if self.spans.len() == self.spans.capacity() || self.gpus.len() == self.gpus.capacity() {
            if !gpu.cpu_copy(self.dir, core::slice::from_ref(&span)) {
                self.uncopied.add(gpu);
            }
            return;
        }
        // Capacity was checked above.
        let _ = self.spans.push_within_capacity(span);
        let _ = self.gpus.push_within_capacity(gpu);
    }

    /// Copies every span. The data has reached its destination when this returns, but for the
    /// GPUs it returns.
    #[must_use]
    pub(crate) fn run(mut self) -> Uncopied {
        let mut start = 0;
        while start < self.spans.len() {
            let gpu = self.gpus[start];
            let end = self.gpus[start..]
                .iter()
                .position(|g| !core::ptr::eq(*g, gpu))
                .map_or(self.spans.len(), |n| start + n);
            let group = &self.spans[start..end];
            let bytes: usize = group.iter().map(Span::len).sum();
            if !gpu.dma_copy(self.dir, group, bytes / PAGE_SIZE) && !gpu.cpu_copy(self.dir, group) {
                self.uncopied.add(gpu);
            }
            start = end;
        }
        self.uncopied
    }
}
