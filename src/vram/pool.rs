// SPDX-License-Identifier: GPL-2.0

//! The VRAM page pool: which device pages are free.
//!
//! Device page `i` is VRAM bytes `[i * PAGE_SIZE, (i + 1) * PAGE_SIZE)` of the BAR. The free pages
//! are a stack of indices whose storage is reserved up front, so that freeing, which the mm core
//! does in atomic context (`folio_free`), never allocates or sleeps.

use kernel::{alloc::VVec, new_spinlock, prelude::*, sync::SpinLock};

struct Free {
    pages: VVec<u32>,
    /// Cleared when the GPU goes away: no page is handed out after that.
    open: bool,
}

/// The free device pages of one GPU.
#[pin_data]
pub(crate) struct Pool {
    #[pin]
    free: SpinLock<Free>,
    total: usize,
}

impl Pool {
    /// A pool of `total` pages, all free.
    pub(crate) fn new(total: usize) -> Result<impl PinInit<Self, Error>> {
        let index_limit = u32::try_from(total).map_err(|_| EINVAL)?;
        let mut pages = VVec::with_capacity(total, GFP_KERNEL)?;
        // Lowest indices on top of the stack, so a fresh pool fills VRAM from the start.
        for index in (0..index_limit).rev() {
            pages.push_within_capacity(index).map_err(|_| ENOMEM)?;
        }
        Ok(try_pin_init!(Self {
            free <- new_spinlock!(Free { pages, open: true }),
            total,
        }))
    }

    /// Takes a free page, or `None` when the pool is empty or closed. Never sleeps.
    pub(crate) fn alloc(&self) -> Option<u32> {
        let mut free = self.free.lock();
        if !free.open {
            return None;
        }
        free.pages.pop()
    }

    /// Gives page `index` back. Never sleeps.
    pub(crate) fn free(&self, index: u32) {
        let mut free = self.free.lock();
        // The stack has room for every page, and a page is only freed once it was taken.
        if free.pages.push_within_capacity(index).is_err() {
            drop(free);
            pr_err!("VRAM page {index} freed twice\n");
        }
    }

    /// Stops handing out pages, for good.
    pub(crate) fn close(&self) {
        self.free.lock().open = false;
    }

    /// How many pages there are.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// How many pages are free now.
    pub(crate) fn free_count(&self) -> usize {
        self.free.lock().pages.len()
    }
}
