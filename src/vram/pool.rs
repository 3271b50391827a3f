// SPDX-License-Identifier: GPL-2.0

//! The VRAM page pool: which device pages are free.
//!
//! Device page `i` is VRAM bytes `[i * PAGE_SIZE, (i + 1) * PAGE_SIZE)` of the pool; only the pages
//! of the usable ranges it starts with (reserved VRAM left out) are ever handed out. Pages come
//! alone or as a whole aligned 2 MiB chunk (a transparent huge page). A bitmap says which pages are
//! free and a count per chunk says how many, so that single pages are taken from chunks already
//! in use and whole chunks stay available for huge pages. Everything is allocated up front, so
//! that freeing, which the mm core does in atomic context (`folio_free`), never allocates or
//! sleeps. Each chunk also keeps when a page of it was last handed out, which tells a page that
//! faults back soon after it was parked (an early refault) from one that stayed away.

use core::ops::Range;
use kernel::{
    alloc::VVec,
    new_spinlock,
    prelude::*,
    sync::SpinLock,
    time::{Delta, Instant, Monotonic},
};

/// Pages in a chunk: a PMD-sized (2 MiB) folio.
const CHUNK_PAGES: usize = crate::mm::HUGE_PAGES;
const WORD_BITS: usize = u64::BITS as usize;
const CHUNK_WORDS: usize = CHUNK_PAGES / WORD_BITS;

struct Free {
    /// One bit per page, set when the page is free.
    bits: VVec<u64>,
    /// Free pages per chunk.
    chunk_free: VVec<u16>,
    /// One bit per chunk, set once any of its pages was handed out: what may hold data.
    used: VVec<u64>,
    /// Per chunk: when a page of it was last handed out, in milliseconds since the pool's epoch.
    parked_ms: VVec<i64>,
    /// Free pages in all.
    pages: usize,
    /// Chunks that are whole (all [`CHUNK_PAGES`] pages) and wholly free.
    free_chunks: usize,
    /// The chunk single pages come from until it is full.
    current: usize,
    /// Cleared while lending is paused (suspend, reset) and when the GPU goes away: nothing is
    /// handed out then.
    open: bool,
}

impl Free {
    fn chunks(&self) -> usize {
        self.chunk_free.len()
    }

    /// Whether chunk `c` could hold a huge page now: whole-sized and wholly free.
    fn huge_free(&self, c: usize) -> bool {
        usize::from(self.chunk_free[c]) == CHUNK_PAGES
    }

    /// A chunk with free pages for single-page use: one that cannot hold a huge page anyway (in
    /// use already, or the pool's short last chunk) if there is one, so whole chunks stay whole;
    /// else any with a free page.
    fn chunk_for_page(&self) -> Option<usize> {
        let n = self.chunks();
        let order = (0..n).map(|k| (self.current + k) % n);
        let partial = order
            .clone()
            .find(|&c| self.chunk_free[c] != 0 && !self.huge_free(c));
        partial.or_else(|| order.clone().find(|&c| self.chunk_free[c] != 0))
    }
}

/// The free device pages of one GPU.
#[pin_data]
pub(crate) struct Pool {
    #[pin]
    free: SpinLock<Free>,
    /// Pages the pool spans, lendable or not.
    span: usize,
    /// Pages it lends.
    lendable: usize,
    /// What the park times count from.
    epoch: Instant<Monotonic>,
}

impl Pool {
    /// A pool spanning `total` pages whose `usable` ones (ascending, disjoint ranges of page
    /// indices below `total`) are free; the others are never handed out.
    pub(crate) fn new(total: usize, usable: &[Range<u32>]) -> Result<impl PinInit<Self, Error>> {
        u32::try_from(total).map_err(|_| EINVAL)?;
        let words = total.div_ceil(WORD_BITS);
        let chunks = total.div_ceil(CHUNK_PAGES);
        let mut bits = VVec::new();
        bits.resize(words, 0u64, GFP_KERNEL)?;
        let mut chunk_free = VVec::new();
        chunk_free.resize(chunks, 0u16, GFP_KERNEL)?;
        let mut pages = 0;
        for page in usable.iter().flat_map(|r| r.clone()) {
            let page = page as usize;
            if page >= total {
                return Err(EINVAL);
            }
            bits[page / WORD_BITS] |= 1u64 << (page % WORD_BITS);
            chunk_free[page / CHUNK_PAGES] += 1;
            pages += 1;
        }
        let free_chunks = chunk_free
            .iter()
            .filter(|&&n| usize::from(n) == CHUNK_PAGES)
            .count();
        let mut used = VVec::new();
        used.resize(chunks.div_ceil(WORD_BITS), 0u64, GFP_KERNEL)?;
        let mut parked_ms = VVec::new();
        parked_ms.resize(chunks, 0i64, GFP_KERNEL)?;
        Ok(try_pin_init!(Self {
            free <- new_spinlock!(Free {
                bits,
                chunk_free,
                used,
                parked_ms,
                pages,
                free_chunks,
                current: 0,
                open: true,
            }),
            span: total,
            lendable: pages,
            epoch: Instant::<Monotonic>::now(),
        }))
    }

    /// Takes a free page, or `None` when the pool is empty or closed. Never sleeps.
    pub(crate) fn alloc(&self) -> Option<u32> {
        let mut free = self.free.lock();
        if !free.open || free.pages == 0 {
            return None;
        }
        // Stay on the current chunk while it has free pages and could not hold a huge page; a
        // whole chunk is only broken when no other chunk has room.
        if free.chunk_free[free.current] == 0 || free.huge_free(free.current) {
            free.current = free.chunk_for_page()?;
        }
        let c = free.current;
        let words = c * CHUNK_WORDS..((c + 1) * CHUNK_WORDS).min(free.bits.len());
        let w = words.clone().find(|&w| free.bits[w] != 0)?;
        let bit = free.bits[w].trailing_zeros() as usize;
        free.bits[w] &= !(1u64 << bit);
        if free.huge_free(c) {
            free.free_chunks -= 1;
        }
        free.chunk_free[c] -= 1;
        free.pages -= 1;
        free.used[c / WORD_BITS] |= 1u64 << (c % WORD_BITS);
        free.parked_ms[c] = self.now_ms();
        // CAST: Page indices are below `total`, which fits `u32` (checked in `new`).
        Some((w * WORD_BITS + bit) as u32)
    }

    /// Takes a whole free 2 MiB chunk and returns its first page, or `None` when no chunk is
    /// wholly free or the pool is closed. Never sleeps.
    pub(crate) fn alloc_chunk(&self) -> Option<u32> {
        let mut free = self.free.lock();
        if !free.open || free.free_chunks == 0 {
            return None;
        }
        let c = (0..free.chunks()).find(|&c| free.huge_free(c))?;
        free.bits[c * CHUNK_WORDS..(c + 1) * CHUNK_WORDS].fill(0);
        free.chunk_free[c] = 0;
        free.free_chunks -= 1;
        free.pages -= CHUNK_PAGES;
        free.used[c / WORD_BITS] |= 1u64 << (c % WORD_BITS);
        free.parked_ms[c] = self.now_ms();
        // CAST: As in `alloc`.
        Some((c * CHUNK_PAGES) as u32)
    }

    /// Gives back the `1 << order` pages from `index`, taken by [`Self::alloc`] or
    /// [`Self::alloc_chunk`] (a chunk may come back page by page). Never sleeps.
    pub(crate) fn free(&self, index: u32, order: u32) {
        let first = index as usize;
        let count = 1usize << order;
        let mut twice = None;
        let mut free = self.free.lock();
        for page in first..(first + count).min(self.span) {
            let (w, bit) = (page / WORD_BITS, page % WORD_BITS);
            if free.bits[w] & (1u64 << bit) != 0 {
                // A bug elsewhere; counting the page again would corrupt the pool.
                twice = Some(page);
                continue;
            }
            free.bits[w] |= 1u64 << bit;
            let c = page / CHUNK_PAGES;
            free.chunk_free[c] += 1;
            free.pages += 1;
            if free.huge_free(c) {
                free.free_chunks += 1;
            }
        }
        drop(free);
        if let Some(page) = twice {
            pr_err!("VRAM page {page} freed twice\n");
        }
    }

    /// The free pages of chunks that were ever handed out, as ascending runs of page indices with
    /// at most a chunk each: what to zero once the pool is closed. Pages still in use are left out.
    pub(crate) fn used_free_runs(&self) -> Result<KVec<Range<u32>>> {
        let mut runs = KVec::new();
        for c in 0..self.span.div_ceil(CHUNK_PAGES) {
            let mut words = [0u64; CHUNK_WORDS];
            {
                let free = self.free.lock();
                if free.used[c / WORD_BITS] & (1u64 << (c % WORD_BITS)) == 0 {
                    continue;
                }
                let at = c * CHUNK_WORDS;
                let end = (at + CHUNK_WORDS).min(free.bits.len());
                words[..end - at].copy_from_slice(&free.bits[at..end]);
            }
            let mut start = None;
            for i in 0..=CHUNK_PAGES {
                let set = i < CHUNK_PAGES && words[i / WORD_BITS] & (1u64 << (i % WORD_BITS)) != 0;
                match (set, start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        // CAST: Page indices are below `span`, which fits `u32` (see `new`).
                        let first = (c * CHUNK_PAGES + s) as u32;
                        runs.push(first..first + (i - s) as u32, GFP_KERNEL)?;
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        Ok(runs)
    }

    /// Milliseconds since the pool's epoch.
    fn now_ms(&self) -> i64 {
        (Instant::<Monotonic>::now() - self.epoch).as_millis()
    }

    /// Whether a page of the chunk holding page `index` was handed out less than `window` ago.
    pub(crate) fn parked_within(&self, index: usize, window: Delta) -> bool {
        let now = self.now_ms();
        let free = self.free.lock();
        free.parked_ms
            .get(index / CHUNK_PAGES)
            .is_some_and(|&at| now - at < window.as_millis())
    }

    /// Stops handing out pages, until [`Self::reopen`].
    pub(crate) fn close(&self) {
        self.free.lock().open = false;
    }

    /// Whether it hands out pages now.
    pub(crate) fn is_open(&self) -> bool {
        self.free.lock().open
    }

    /// Hands out pages again after [`Self::close`].
    pub(crate) fn reopen(&self) {
        self.free.lock().open = true;
    }

    /// How many pages it lends.
    pub(crate) fn total(&self) -> usize {
        self.lendable
    }

    /// How many pages it spans, lendable or reserved.
    pub(crate) fn span(&self) -> usize {
        self.span
    }

    /// How many pages are free now.
    pub(crate) fn free_count(&self) -> usize {
        self.free.lock().pages
    }

    /// How many whole 2 MiB chunks are free now.
    pub(crate) fn free_chunks(&self) -> usize {
        self.free.lock().free_chunks
    }
}
