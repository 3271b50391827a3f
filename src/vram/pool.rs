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
//!
//! The bits are plain words rather than [`kernel::bitmap`]: in 7.2 and 7.3 it offers no bit test
//! and no search bounded to a range, so testing a page's bit in `folio_free` would search the
//! whole pool; a `BitmapVec` per chunk bounds that but costs an allocation per 2 MiB at probe
//! (three per chunk with the lost and usable maps: the `faults` group's probe went past 400).

use core::{
    ops::Range,
    sync::atomic::{
        AtomicUsize,
        Ordering, //
    },
};
use kernel::{
    alloc::VVec,
    new_spinlock,
    prelude::*,
    sync::SpinLock,
    time::{
        Delta,
        Instant,
        Monotonic, //
    },
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
    /// One bit per page, set when the page was in use when the board stopped answering before
    /// it could come back ([`Pool::mark_in_use_lost`]): what it holds is not the process's data.
    /// Cleared when the page is freed.
    lost: VVec<u64>,
    /// Free pages in all.
    pages: usize,
    /// Chunks that are whole (all [`CHUNK_PAGES`] pages) and wholly free.
    free_chunks: usize,
    /// Chunks with free pages that cannot hold a huge page ([`Free::partial`]): when there are
    /// none, finding a chunk for single pages need not look for one.
    partial_chunks: usize,
    /// The chunk single pages come from until it is full.
    current: usize,
    /// Where the search for a whole free chunk starts: after the last one handed out, so that
    /// taking chunk after chunk does not walk the taken ones again each time.
    next_chunk: usize,
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

    /// Whether chunk `c` has free pages but could not hold a huge page now (in use already, or
    /// short: reserved VRAM or the pool's end).
    fn partial(&self, c: usize) -> bool {
        self.chunk_free[c] != 0 && !self.huge_free(c)
    }

    /// Sets how many pages of chunk `c` are free, keeping the counts of whole and partial chunks.
    fn set_chunk_free(&mut self, c: usize, pages: u16) {
        let (whole, partial) = (self.huge_free(c), self.partial(c));
        self.chunk_free[c] = pages;
        match (whole, self.huge_free(c)) {
            (true, false) => self.free_chunks -= 1,
            (false, true) => self.free_chunks += 1,
            _ => {}
        }
        match (partial, self.partial(c)) {
            (true, false) => self.partial_chunks -= 1,
            (false, true) => self.partial_chunks += 1,
            _ => {}
        }
    }

    /// A chunk with free pages for single-page use: one that cannot hold a huge page anyway (in
    /// use already, or the pool's short last chunk) if there is one, so whole chunks stay whole;
    /// else any with a free page.
    fn chunk_for_page(&self) -> Option<usize> {
        let n = self.chunks();
        let order = (0..n).map(|k| (self.current + k) % n);
        let partial = match self.partial_chunks {
            0 => None,
            _ => order.clone().find(|&c| self.partial(c)),
        };
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
    /// One bit per page, set for the pages it lends.
    usable: VVec<u64>,
    /// What the park times count from.
    epoch: Instant<Monotonic>,
    /// Pages with their `lost` bit set that are still in use; changed under `free`'s lock, read
    /// without it, so that every fault and request asks [`Self::is_lost`] for nothing while no
    /// page is lost (a lock per page costs more than the page's migration work under lockdep).
    lost_pages: AtomicUsize,
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
        let partial_chunks = chunk_free
            .iter()
            .filter(|&&n| n != 0 && usize::from(n) != CHUNK_PAGES)
            .count();
        let mut used = VVec::new();
        used.resize(chunks.div_ceil(WORD_BITS), 0u64, GFP_KERNEL)?;
        let mut parked_ms = VVec::new();
        parked_ms.resize(chunks, 0i64, GFP_KERNEL)?;
        let mut lost = VVec::new();
        lost.resize(words, 0u64, GFP_KERNEL)?;
        let mut usable_bits = VVec::with_capacity(words, GFP_KERNEL)?;
        usable_bits.extend_from_slice(&bits, GFP_KERNEL)?;
        Ok(try_pin_init!(Self {
            free <- new_spinlock!(Free {
                bits,
                chunk_free,
                used,
                parked_ms,
                lost,
                pages,
                free_chunks,
                partial_chunks,
                current: 0,
                next_chunk: 0,
                open: true,
            }),
            span: total,
            lendable: pages,
            usable: usable_bits,
            epoch: Instant::<Monotonic>::now(),
            lost_pages: AtomicUsize::new(0),
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
        let left = free.chunk_free[c] - 1;
        free.set_chunk_free(c, left);
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
        let n = free.chunks();
        let c = (0..n)
            .map(|k| (free.next_chunk + k) % n)
            .find(|&c| free.huge_free(c))?;
        free.next_chunk = (c + 1) % n;
        free.bits[c * CHUNK_WORDS..(c + 1) * CHUNK_WORDS].fill(0);
        free.set_chunk_free(c, 0);
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
        let end = (first + (1usize << order)).min(self.span);
        let mut twice = None;
        let mut free = self.free.lock();
        // A bitmap word at a time (a huge page is eight), not a page at a time: `folio_free` runs
        // once per 2 MiB fault-back, with interrupts off.
        let mut page = first;
        while page < end {
            let (w, bit) = (page / WORD_BITS, page % WORD_BITS);
            let n = (WORD_BITS - bit).min(end - page);
            let mask = (u64::MAX >> (WORD_BITS - n)) << bit;
            let already = free.bits[w] & mask;
            if already != 0 {
                // A bug elsewhere; counting those pages again would corrupt the pool.
                twice = Some(w * WORD_BITS + already.trailing_zeros() as usize);
            }
            let freed = mask & !already;
            free.bits[w] |= freed;
            let lost = free.lost[w] & freed;
            if lost != 0 {
                free.lost[w] &= !lost;
                self.lost_pages
                    .fetch_sub(lost.count_ones() as usize, Ordering::Release);
            }
            // A chunk is whole words, so the word's pages are all of chunk `c`.
            let c = page / CHUNK_PAGES;
            let count = freed.count_ones() as usize;
            // CAST: A chunk's free count stays at most `CHUNK_PAGES`, which fits `u16`.
            let now = free.chunk_free[c] + count as u16;
            free.set_chunk_free(c, now);
            free.pages += count;
            page += n;
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

    /// The first page of the first chunk from the one holding page `from` on that has a page in
    /// use, or `None`: what eviction walks, so that its cost follows the pages in use rather than
    /// the size of the pool.
    pub(crate) fn next_used_chunk(&self, from: usize) -> Option<usize> {
        let free = self.free.lock();
        (from / CHUNK_PAGES..free.chunks())
            .find(|&c| usize::from(free.chunk_free[c]) < self.chunk_lendable(c))
            .map(|c| c * CHUNK_PAGES)
    }

    /// How many pages of chunk `c` the pool lends.
    fn chunk_lendable(&self, c: usize) -> usize {
        let at = c * CHUNK_WORDS;
        let end = (at + CHUNK_WORDS).min(self.usable.len());
        self.usable[at..end]
            .iter()
            .map(|w| w.count_ones() as usize)
            .sum()
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

    /// Marks every lendable page in use now as lost (the board stopped answering before they
    /// came back; the pool must be closed) and returns how many are lost in all.
    pub(crate) fn mark_in_use_lost(&self) -> usize {
        let mut free = self.free.lock();
        let free = &mut *free;
        for (w, &usable) in self.usable.iter().enumerate() {
            let newly = usable & !free.bits[w] & !free.lost[w];
            free.lost[w] |= newly;
            self.lost_pages
                .fetch_add(newly.count_ones() as usize, Ordering::Release);
        }
        self.lost_pages.load(Ordering::Acquire)
    }

    /// Whether page `index` is in use and lost ([`Self::mark_in_use_lost`]).
    pub(crate) fn is_lost(&self, index: usize) -> bool {
        if self.lost_pages.load(Ordering::Acquire) == 0 {
            return false;
        }
        let free = self.free.lock();
        free.lost
            .get(index / WORD_BITS)
            .is_some_and(|w| w & (1u64 << (index % WORD_BITS)) != 0)
    }

    /// How many pages in use are lost.
    pub(crate) fn lost_count(&self) -> usize {
        self.lost_pages.load(Ordering::Acquire)
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

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_pool)]
// A list of one range is what these cases pass, not a mistaken `vec![x; n]`.
#[expect(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use kernel::time::delay::fsleep;

    /// A pool of `total` pages with the `usable` ones free.
    fn pool(total: usize, usable: &[Range<u32>]) -> Result<Pin<KBox<Pool>>> {
        KBox::pin_init(Pool::new(total, usable)?, GFP_KERNEL)
    }

    /// Takes every free page one by one, in the order `alloc` hands them out.
    fn drain(pool: &Pool) -> Result<KVec<u32>> {
        let mut pages = KVec::new();
        while let Some(page) = pool.alloc() {
            pages.push(page, GFP_KERNEL)?;
        }
        Ok(pages)
    }

    fn chunk_of(page: u32) -> usize {
        page as usize / CHUNK_PAGES
    }

    #[test]
    fn lost_pages_are_those_in_use_until_freed() -> Result {
        let pool = pool(1024, &[10..20])?;
        let a = pool.alloc().ok_or(ENOMEM)?;
        let b = pool.alloc().ok_or(ENOMEM)?;
        pool.close();
        assert_eq!(pool.mark_in_use_lost(), 2);
        assert!(pool.is_lost(a as usize) && pool.is_lost(b as usize));
        let free_one = (10..20).find(|&p| p != a && p != b).ok_or(EINVAL)?;
        assert!(!pool.is_lost(free_one as usize));
        // Reserved pages are never in use, so never lost.
        assert!(!pool.is_lost(0) && !pool.is_lost(500));
        // Marking again counts nothing twice.
        assert_eq!(pool.mark_in_use_lost(), 2);
        pool.free(a, 0);
        assert_eq!(pool.lost_count(), 1);
        assert!(!pool.is_lost(a as usize));
        pool.reopen();
        // A page handed out again holds new data: not lost.
        let c = pool.alloc().ok_or(ENOMEM)?;
        assert!(!pool.is_lost(c as usize));
        Ok(())
    }

    #[test]
    fn hands_out_only_usable_pages() -> Result {
        let pool = pool(1024, &[10..20, 600..605])?;
        assert_eq!(pool.total(), 15);
        assert_eq!(pool.span(), 1024);
        assert_eq!(pool.free_count(), 15);
        assert_eq!(pool.free_chunks(), 0);
        let mut pages = drain(&pool)?;
        assert_eq!(pages.len(), 15);
        pages.sort_unstable();
        let mut expected = KVec::new();
        for page in Iterator::chain(10..20, 600..605) {
            expected.push(page, GFP_KERNEL)?;
        }
        assert!(pages[..] == expected[..]);
        assert_eq!(pool.free_count(), 0);
        assert!(pool.alloc_chunk().is_none());
        Ok(())
    }

    #[test]
    fn rejects_pages_outside_the_span() {
        assert!(Pool::new(100, &[90..101]).err() == Some(EINVAL));
        assert!(Pool::new(1 << 33, &[]).err() == Some(EINVAL));
    }

    #[test]
    fn single_pages_leave_whole_chunks_whole() -> Result {
        let pool = pool(3 * CHUNK_PAGES, &[0..3 * CHUNK_PAGES as u32])?;
        assert_eq!(pool.free_chunks(), 3);
        let first = pool.alloc().ok_or(ENOSPC)?;
        assert_eq!(pool.free_chunks(), 2);
        // The chunk the first page broke serves every single page until it is full.
        for _ in 1..CHUNK_PAGES {
            let page = pool.alloc().ok_or(ENOSPC)?;
            assert_eq!(chunk_of(page), chunk_of(first));
        }
        assert_eq!(pool.free_chunks(), 2);
        let huge = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert_eq!(huge as usize % CHUNK_PAGES, 0);
        assert!(chunk_of(huge) != chunk_of(first));
        assert_eq!(pool.free_chunks(), 1);
        assert_eq!(pool.free_count(), CHUNK_PAGES);
        Ok(())
    }

    #[test]
    fn single_pages_come_from_a_short_chunk_first() -> Result {
        // Chunk 0 is whole, chunk 1 has only 100 lendable pages: it can never hold a huge page,
        // so single pages come from it while it lasts.
        let pool = pool(2 * CHUNK_PAGES, &[0..CHUNK_PAGES as u32 + 100])?;
        assert_eq!(pool.free_chunks(), 1);
        for _ in 0..100 {
            let page = pool.alloc().ok_or(ENOSPC)?;
            assert_eq!(chunk_of(page), 1);
        }
        assert_eq!(pool.free_chunks(), 1);
        // Only then is the whole chunk broken.
        let page = pool.alloc().ok_or(ENOSPC)?;
        assert_eq!(chunk_of(page), 0);
        assert_eq!(pool.free_chunks(), 0);
        Ok(())
    }

    #[test]
    fn a_chunk_freed_page_by_page_is_whole_again() -> Result {
        let pool = pool(2 * CHUNK_PAGES, &[0..2 * CHUNK_PAGES as u32])?;
        let huge = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert_eq!(pool.free_chunks(), 1);
        assert_eq!(pool.free_count(), CHUNK_PAGES);
        for page in huge..huge + CHUNK_PAGES as u32 - 1 {
            pool.free(page, 0);
        }
        // One page short: not whole yet.
        assert_eq!(pool.free_chunks(), 1);
        pool.free(huge + CHUNK_PAGES as u32 - 1, 0);
        assert_eq!(pool.free_chunks(), 2);
        assert_eq!(pool.free_count(), 2 * CHUNK_PAGES);
        // Freed as one folio of order 9 too.
        let huge = pool.alloc_chunk().ok_or(ENOSPC)?;
        pool.free(huge, crate::mm::HUGE_ORDER);
        assert_eq!(pool.free_chunks(), 2);
        assert_eq!(pool.free_count(), 2 * CHUNK_PAGES);
        Ok(())
    }

    #[test]
    fn a_page_freed_twice_is_counted_once() -> Result {
        let pool = pool(CHUNK_PAGES, &[0..CHUNK_PAGES as u32])?;
        let page = pool.alloc().ok_or(ENOSPC)?;
        let other = pool.alloc().ok_or(ENOSPC)?;
        assert_eq!(pool.free_count(), CHUNK_PAGES - 2);
        pool.free(page, 0);
        pool.free(page, 0);
        assert_eq!(pool.free_count(), CHUNK_PAGES - 1);
        assert_eq!(pool.free_chunks(), 0);
        pool.free(other, 0);
        assert_eq!(pool.free_chunks(), 1);
        Ok(())
    }

    #[test]
    fn a_huge_page_freed_over_a_freed_page_counts_the_rest() -> Result {
        // Chunk 0 short (reserved VRAM below page 3), chunk 1 whole.
        let pool = pool(2 * CHUNK_PAGES, &[3..2 * CHUNK_PAGES as u32])?;
        let huge = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert_eq!(huge, CHUNK_PAGES as u32);
        pool.free(huge + 70, 0);
        pool.free(huge, crate::mm::HUGE_ORDER);
        assert_eq!(pool.free_count(), 2 * CHUNK_PAGES - 3);
        assert_eq!(pool.free_chunks(), 1);
        assert_eq!(pool.alloc_chunk(), Some(huge));
        Ok(())
    }

    #[test]
    fn a_lost_huge_page_freed_is_no_longer_lost() -> Result {
        let pool = pool(2 * CHUNK_PAGES, &[0..2 * CHUNK_PAGES as u32])?;
        let page = pool.alloc().ok_or(ENOSPC)?;
        let huge = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert_eq!(pool.mark_in_use_lost(), CHUNK_PAGES + 1);
        pool.free(huge, crate::mm::HUGE_ORDER);
        assert_eq!(pool.lost_count(), 1);
        assert!((0..CHUNK_PAGES).all(|i| !pool.is_lost(huge as usize + i)));
        assert!(pool.is_lost(page as usize));
        Ok(())
    }

    #[test]
    fn eviction_walks_only_chunks_with_pages_in_use() -> Result {
        // Chunk 0 short (reserved VRAM below page 100), chunks 1-3 whole, chunk 4 short.
        let pool = pool(5 * CHUNK_PAGES, &[100..4 * CHUNK_PAGES as u32 + 7])?;
        assert!(pool.next_used_chunk(0).is_none());
        let huge = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert_eq!(chunk_of(huge), 1);
        // A single page comes from a short chunk: 0.
        let page = pool.alloc().ok_or(ENOSPC)?;
        assert_eq!(chunk_of(page), 0);
        assert!(pool.next_used_chunk(0) == Some(0));
        assert!(pool.next_used_chunk(CHUNK_PAGES) == Some(CHUNK_PAGES));
        // Chunks 2 and 3 are wholly free, chunk 4's lendable pages too: nothing after chunk 1.
        assert!(pool.next_used_chunk(2 * CHUNK_PAGES).is_none());
        pool.free(page, 0);
        assert!(pool.next_used_chunk(0) == Some(CHUNK_PAGES));
        pool.free(huge, crate::mm::HUGE_ORDER);
        assert!(pool.next_used_chunk(0).is_none());
        Ok(())
    }

    #[test]
    fn whole_chunks_are_handed_out_in_turn() -> Result {
        let pool = pool(4 * CHUNK_PAGES, &[0..4 * CHUNK_PAGES as u32])?;
        let first = pool.alloc_chunk().ok_or(ENOSPC)?;
        let second = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert_eq!((chunk_of(first), chunk_of(second)), (0, 1));
        // The search goes on after the last chunk taken, and wraps round to a freed one.
        pool.free(first, crate::mm::HUGE_ORDER);
        assert_eq!(chunk_of(pool.alloc_chunk().ok_or(ENOSPC)?), 2);
        assert_eq!(chunk_of(pool.alloc_chunk().ok_or(ENOSPC)?), 3);
        assert_eq!(chunk_of(pool.alloc_chunk().ok_or(ENOSPC)?), 0);
        assert!(pool.alloc_chunk().is_none());
        assert_eq!(pool.free_chunks(), 0);
        Ok(())
    }

    #[test]
    fn partial_chunks_are_counted_as_pages_come_and_go() -> Result {
        // Chunk 0 whole, chunk 1 short: partial from the start.
        let pool = pool(2 * CHUNK_PAGES, &[0..CHUNK_PAGES as u32 + 3])?;
        assert_eq!(pool.free.lock().partial_chunks, 1);
        let mut short = KVec::new();
        for _ in 0..3 {
            short.push(pool.alloc().ok_or(ENOSPC)?, GFP_KERNEL)?;
        }
        // Chunk 1 is full now: no partial chunk, and the next page breaks chunk 0.
        assert_eq!(pool.free.lock().partial_chunks, 0);
        let page = pool.alloc().ok_or(ENOSPC)?;
        assert_eq!(chunk_of(page), 0);
        assert_eq!(pool.free.lock().partial_chunks, 1);
        pool.free(short[0], 0);
        assert_eq!(pool.free.lock().partial_chunks, 2);
        pool.free(page, 0);
        assert_eq!(pool.free.lock().partial_chunks, 1);
        assert_eq!(pool.free_chunks(), 1);
        Ok(())
    }

    #[test]
    fn a_closed_pool_hands_out_nothing() -> Result {
        let pool = pool(CHUNK_PAGES, &[0..CHUNK_PAGES as u32])?;
        pool.close();
        assert!(!pool.is_open());
        assert!(pool.alloc().is_none());
        assert!(pool.alloc_chunk().is_none());
        assert_eq!(pool.free_count(), CHUNK_PAGES);
        pool.reopen();
        assert!(pool.is_open());
        assert!(pool.alloc_chunk() == Some(0));
        Ok(())
    }

    #[test]
    fn used_free_runs_cover_free_pages_of_used_chunks() -> Result {
        let pool = pool(3 * CHUNK_PAGES, &[0..3 * CHUNK_PAGES as u32])?;
        assert_eq!(pool.used_free_runs()?.len(), 0);
        // Chunk 0: page 0 handed out and kept; chunk 1: handed out whole, then all but page 5
        // of it given back; chunk 2: never used.
        assert!(pool.alloc() == Some(0));
        let huge = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert_eq!(huge as usize, CHUNK_PAGES);
        for page in huge..huge + CHUNK_PAGES as u32 {
            if page != huge + 5 {
                pool.free(page, 0);
            }
        }
        let chunk = CHUNK_PAGES as u32;
        let runs = pool.used_free_runs()?;
        assert_eq!(runs.len(), 3);
        assert!(runs[0] == (1..chunk));
        assert!(runs[1] == (chunk..chunk + 5));
        assert!(runs[2] == (chunk + 6..2 * chunk));
        Ok(())
    }

    #[test]
    fn early_refault_window_is_per_chunk() -> Result {
        let pool = pool(2 * CHUNK_PAGES, &[0..2 * CHUNK_PAGES as u32])?;
        let window = Delta::from_millis(500);
        let old = pool.alloc().ok_or(ENOSPC)?;
        assert!(pool.parked_within(old as usize, Delta::from_secs(60)));
        assert!(!pool.parked_within(old as usize, Delta::ZERO));
        fsleep(Delta::from_millis(600));
        // Handing out a page of another chunk leaves the first chunk's park time alone.
        let new = pool.alloc_chunk().ok_or(ENOSPC)?;
        assert!(chunk_of(new) != chunk_of(old));
        assert!(!pool.parked_within(old as usize, window));
        assert!(pool.parked_within(new as usize + 7, window));
        // Handing out another page of the first chunk renews it.
        let again = pool.alloc().ok_or(ENOSPC)?;
        assert_eq!(chunk_of(again), chunk_of(old));
        assert!(pool.parked_within(old as usize, window));
        // No chunk beyond the span.
        assert!(!pool.parked_within(2 * CHUNK_PAGES, Delta::from_secs(60)));
        Ok(())
    }
}
