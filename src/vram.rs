// SPDX-License-Identifier: GPL-2.0

//! One GPU's VRAM as the rest of the driver sees it: the write-combined BAR mapping, the page
//! pool, the device-private pagemap and the statistics, in one reference-counted object. Its parts
//! live beside it: the pool (`pool`), the pagemap and its callbacks (`pagemap`), batches of copies
//! (`batch`), the copy engine's use and the scrub (`engine`), the users shutdown waits for
//! (`users`).
//!
//! Lifetime: created at probe and published in the registry; at unbind [`Vram::shutdown`] stops
//! new users, waits for running ones (which have then let go of their references), moves every
//! page back to RAM, and only then does the drop, in the unbind, unregister the pagemap and unmap
//! the BAR.

mod batch;
mod engine;
mod pagemap;
mod pool;
mod users;
mod window;

pub(crate) use batch::Batch;
pub(crate) use pagemap::vram_of;

use crate::{
    bus::{
        self,
        WcBar, //
    },
    copy::{
        RamPages,
        Span, //
    },
    migrate::{
        self,
        Evicted, //
    },
    mm::{
        DevicePage,
        HUGE_ORDER, //
    },
    nvidia::{
        Bar1Window,
        Channel,
        DmaSetup,
        Engine, //
    },
    stats::{
        Counter,
        Stats, //
    },
};
use core::{
    ffi::c_void,
    ops::Range,
    ptr::NonNull,
    sync::atomic::{
        AtomicBool,
        Ordering, //
    },
};
use engine::self_checked;
use kernel::{
    device::Bound,
    new_mutex,
    page::PAGE_SIZE,
    pci,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
};
use pagemap::Pagemap;
use pool::Pool;
use users::{
    UserCount,
    Users, //
};

/// One GPU's lendable VRAM.
#[pin_data(PinnedDrop)]
pub(crate) struct Vram {
    /// Dropped first: waits until every device page is free.
    #[pin]
    pagemap: Pagemap,
    #[pin]
    pool: Pool,
    /// Shared with the channel's USERD window (Pascal), which keeps it mapped.
    bar: Arc<WcBar>,
    /// BAR1 in virtual mode: the window of slots the CPU reaches VRAM through, its lock held
    /// from a remap to the end of the access (`window`); `None` in physical mode.
    #[pin]
    window: Mutex<Option<Bar1Window>>,
    /// The copy engine's channel while the board has one running; taken out when it fails or the
    /// GPU goes away.
    #[pin]
    engine: Mutex<Option<Channel>>,
    /// The copy engine brought up at probe and its class; read without the lock (sysfs, logs).
    engine_info: Option<(Engine, u32)>,
    /// Set once the copy engine failed and was taken out.
    engine_failed: AtomicBool,
    /// Smallest batch, in pages, for the copy engine (`migration_threshold`).
    dma_threshold: usize,
    /// Zero the VRAM that held data at shutdown (`scrub`).
    scrub: bool,
    /// BAR1 is in virtual mode: spans reach the CPU only through `window`.
    virtual_bar1: bool,
    pub(crate) stats: Stats,
    /// The GPU's number in the ioctl ABI and in sysfs.
    pub(crate) index: u32,
    pdev: ARef<pci::Device>,
    /// ioctls working on this GPU right now. Shared with each [`ActiveVram`], which counts itself
    /// out only after dropping its reference: once the drain ends, the GPU's own reference is the
    /// last one, so the unbind that drops it releases everything before it returns.
    users: Arc<Users>,
    /// Set at shutdown: no new users, no new device pages.
    closed: AtomicBool,
    /// Set while lending is paused for a suspend or a reset: every page is back in RAM, the pool
    /// hands nothing out and the copy engine is stopped until the board is back. Taken by
    /// shutdown too, so that a resume never lends again from a GPU going away.
    #[pin]
    paused: Mutex<bool>,
}

/// A running user of a [`Vram`] (an ioctl); [`Vram::shutdown`] waits for it to go.
pub(crate) struct ActiveVram {
    vram: Arc<Vram>,
    /// After `vram` (fields drop in order): the reference goes before the count, so a shutdown
    /// that sees no users knows no ioctl still holds the GPU; the unbind's reference is then the
    /// last, and the unbind releases everything (pagemap, BAR, sysfs) before it returns.
    _user: UserCount,
}

impl core::ops::Deref for ActiveVram {
    type Target = Vram;

    fn deref(&self) -> &Vram {
        &self.vram
    }
}

impl Vram {
    /// Maps `bar` and lends the whole pages of the `usable` VRAM byte ranges (ascending,
    /// disjoint) as device pages: those BAR1 shows in physical mode, any through `window` in
    /// virtual mode. Brings up the copy engine `dma` describes, if any.
    pub(crate) fn new(
        pdev: &pci::Device<Bound>,
        bar: bus::BarInfo,
        usable: &[Range<u64>],
        index: u32,
        dma: Option<DmaSetup>,
        window: Option<Bar1Window>,
        scrub: bool,
    ) -> Result<Arc<Self>> {
        let page = PAGE_SIZE as u64;
        let mut pages = KVec::with_capacity(usable.len(), GFP_KERNEL)?;
        for r in usable {
            let first = u32::try_from(r.start.div_ceil(page)).map_err(|_| EINVAL)?;
            let end = u32::try_from(r.end / page).map_err(|_| EINVAL)?;
            pages.push(first..end.max(first), GFP_KERNEL)?;
        }
        // The pagemap spans every page up to the last usable one; reserved pages are never lent.
        let span = pages.last().map_or(0, |r| r.end as usize);
        let plain: &pci::Device = pdev;
        let dma_threshold = dma.as_ref().map_or(usize::MAX, |d| d.threshold);
        let virtual_bar1 = window.is_some();
        Arc::pin_init(
            try_pin_init!(Self {
                bar: Arc::new(WcBar::new(pdev, bar, c"pseudoscopic")?, GFP_KERNEL)?,
                pool <- Pool::new(span, &pages)?,
                window <- new_mutex!(window),
                engine <- new_mutex!(None),
                engine_info: None,
                engine_failed: AtomicBool::new(false),
                dma_threshold,
                scrub,
                virtual_bar1,
                stats: Stats::new(),
                index,
                pdev: plain.into(),
                users: Users::new()?,
                closed: AtomicBool::new(false),
                paused <- new_mutex!(false),
                // Last: once registered, the kernel may call back into the fields above.
                pagemap <- Pagemap::new(span as u64 * page, c"pseudoscopic device pages"),
            })
            .pin_chain(|this| {
                let (mut info, mut failed) = (None, false);
                if let Some(dma) = dma {
                    let engine = dma.engine;
                    match Channel::new(pdev, dma.bar0, dma.chipset, engine, &this.bar) {
                        Ok(channel) => {
                            info = Some((engine, channel.class));
                            match self_checked(pdev, channel, &this, usable) {
                                Some(channel) => *this.engine.lock() = Some(channel),
                                None => {
                                    failed = true;
                                    this.stats.add(Counter::DmaFail, 1);
                                }
                            }
                        }
                        Err(e) => dev_warn!(
                            pdev.as_ref(),
                            "cannot bring up copy engine {engine}: {e:?}; the CPU copies\n"
                        ),
                    }
                }
                // SAFETY: `engine_info` is not structurally pinned; assigning it moves nothing
                // pinned.
                let this = unsafe { this.get_unchecked_mut() };
                // Before the sysfs directory (`crate::sysfs::GpuDir`, made once this returns): its
                // readers look at `engine_info` and `engine_failed`.
                this.engine_info = info;
                this.engine_failed.store(failed, Ordering::Relaxed);
                Ok(())
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn pdev(&self) -> &pci::Device {
        &self.pdev
    }

    /// The copy engine brought up at probe and its class, if any, and whether it failed since.
    pub(crate) fn copy_engine(&self) -> Option<(Engine, u32, bool)> {
        self.engine_info
            .map(|(engine, class)| (engine, class, self.engine_failed.load(Ordering::Relaxed)))
    }

    /// The smallest batch, in pages, the copy engine takes.
    pub(crate) fn dma_threshold(&self) -> usize {
        self.dma_threshold
    }

    pub(crate) fn bar(&self) -> &bus::BarInfo {
        self.bar.info()
    }

    /// Pages lent.
    pub(crate) fn total_pages(&self) -> usize {
        self.pool.total()
    }

    /// Pages the pagemap spans: those lent and the reserved ones between them.
    pub(crate) fn span_pages(&self) -> usize {
        self.pool.span()
    }

    pub(crate) fn free_pages(&self) -> usize {
        self.pool.free_count()
    }

    /// The first device page (an index from [`Self::first_pfn`]) of the first 2 MiB chunk from
    /// the one holding page `from` on with a page in use, or `None`.
    pub(crate) fn next_used_chunk(&self, from: usize) -> Option<usize> {
        self.pool.next_used_chunk(from)
    }

    /// Whole free 2 MiB chunks: room for that many huge pages.
    pub(crate) fn free_chunks(&self) -> usize {
        self.pool.free_chunks()
    }

    /// Whether the GPU is going away or pausing (unbind, suspend, reset): it takes no new pages.
    pub(crate) fn is_closing(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || !self.pool.is_open()
    }

    /// Starts a user of this GPU, or `None` once shutdown began.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<ActiveVram> {
        let user = self.users.enter(&self.closed)?;
        Some(ActiveVram {
            vram: self.clone(),
            _user: user,
        })
    }

    /// The pagemap pointer that `page_pgmap` gives for pages of this GPU.
    pub(crate) fn pagemap_ptr(&self) -> NonNull<c_void> {
        self.pagemap.as_ptr()
    }

    /// The page frame of device page 0.
    pub(crate) fn first_pfn(&self) -> usize {
        self.pagemap.first_pfn()
    }

    /// Byte offset in the BAR of device page frame `pfn`; `None` if it is below this pagemap.
    fn offset_of(&self, pfn: usize) -> Option<u64> {
        Some((pfn.checked_sub(self.pagemap.first_pfn())? * PAGE_SIZE) as u64)
    }

    /// Takes a free device page, or a whole 2 MiB huge page when `huge`, from the pool; `None`
    /// when there is no room (or the GPU is going away).
    pub(crate) fn reserve(&self, huge: bool) -> Option<DevicePage> {
        let (index, order) = if huge {
            (self.pool.alloc_chunk()?, HUGE_ORDER)
        } else {
            (self.pool.alloc()?, 0)
        };
        let pfn = self.pagemap.first_pfn() + index as usize;
        // SAFETY: The pool just handed out these pages of this pagemap, free; a chunk starts on a
        // 2 MiB boundary of the pagemap, which is section-aligned.
        Some(unsafe { DevicePage::claim(self.pagemap.as_ptr(), pfn, order) })
    }

    /// A copy between `ram` and the device pages from frame `pfn` of this GPU, which the caller's
    /// migration holds; `None` (a bug, warned about) if they are not pages of its BAR.
    pub(crate) fn span<'a>(&self, pfn: usize, ram: RamPages<'a>) -> Option<Span<'a>> {
        let offset = self.offset_of(pfn)?;
        if self.virtual_bar1 {
            return Some(Span::unmapped(offset, ram));
        }
        let io = self.bar.pages(offset, ram.len())?;
        // SAFETY: `io` maps the `ram.len()` bytes of VRAM at `offset` (checked by `pages`), whose
        // device folio the caller's migration holds for `'a`.
        Some(unsafe { Span::new(io, offset, ram) })
    }

    /// The kernel freed the device folio of `1 << order` pages at frame `pfn`. Atomic context.
    pub(crate) fn folio_freed(&self, pfn: usize, order: u32) {
        let index = pfn - self.pagemap.first_pfn();
        // CAST: `index` is below the pool size, which fits `u32` (checked in `Pool::new`).
        self.pool.free(index as u32, order);
    }

    /// Counts `pages` pages from device frame `pfn` that a CPU fault brought back as early
    /// refaults if their chunk was parked into less than `early_refault_secs` ago.
    pub(crate) fn faulted_back(&self, pfn: usize, pages: usize) {
        let index = pfn - self.pagemap.first_pfn();
        if self
            .pool
            .parked_within(index, crate::params::early_refault_window())
        {
            self.count(Counter::EarlyRefaults, pages as u64);
        }
    }

    /// Stops new users and allocations, waits for running users, and moves every page in VRAM
    /// back to RAM. Idempotent.
    pub(crate) fn shutdown(&self) {
        let paused = self.paused.lock();
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.pool.close();
        if *paused {
            // Stopped for a suspend or reset that it did not come back from: nothing to evict,
            // and the CPU zeroes what held data.
            drop(self.engine.lock().take());
        }
        self.users.drain();
        let (evicted, how) = migrate::evict_all(self);
        self.lose_the_rest("unbind", how, evicted);
        self.scrub();
        // Nothing is in VRAM any more: stop the copy engine while the device is still bound.
        drop(self.engine.lock().take());
        if evicted != 0 {
            dev_info!(
                self.pdev.as_ref(),
                "moved {evicted} pages ({} KiB) back to RAM\n",
                evicted * (PAGE_SIZE as u64 / 1024)
            );
        }
    }

    /// Stops lending (no new device pages) ahead of a suspend or reset; [`Self::quiesce`] then
    /// moves every page back. Undone by [`Self::resume`]. Nothing happens once shutdown began.
    pub(crate) fn pause_lending(&self) {
        let paused = self.paused.lock();
        if !self.closed.load(Ordering::SeqCst) {
            self.pool.close();
        }
        drop(paused);
    }

    /// Pages in VRAM now.
    pub(crate) fn used_pages(&self) -> usize {
        self.total_pages() - self.free_pages()
    }

    /// Pages in use whose contents were lost: the board stopped answering before they came back.
    pub(crate) fn lost_pages(&self) -> usize {
        self.pool.lost_count()
    }

    /// Whether device page frame `pfn` of this GPU is in use and its contents were lost.
    pub(crate) fn is_lost(&self, pfn: usize) -> bool {
        pfn.checked_sub(self.pagemap.first_pfn())
            .is_some_and(|index| self.pool.is_lost(index))
    }

    /// Whether the board answers: its configuration space reads its vendor and device IDs
    /// (`pci_device_is_present`; all an ivshmem device has) and, where the copy engine's channel
    /// is up, `NV_PMC_BOOT_0` reads neither all-ones nor a PRI error.
    fn answers(&self) -> bool {
        if !bus::is_present(&self.pdev) {
            return false;
        }
        let guard = self.engine.lock();
        let slot: &Option<Channel> = &guard;
        slot.as_ref().is_none_or(|channel| channel.answers())
    }

    /// Whether copies just made out of this board's VRAM hold what it holds: always while its PCI
    /// channel is online; while error recovery has it offline (frozen or failed), only if the
    /// board still answers ([`Self::answers`]), since a dead link reads all-ones. Asked after a
    /// CPU fault's or a request's copies and before the process takes them, so that a fault racing
    /// the recovery gets `SIGBUS` rather than what a dead link reads.
    pub(crate) fn copies_hold(&self) -> bool {
        !bus::channel_offline(&self.pdev) || self.answers()
    }

    /// Marks what an eviction that ended `how` left in VRAM as lost (the board stopped answering,
    /// or was reset, before it came back, or the CPU could not reach it) and says so in one line:
    /// a CPU fault on such a page gets `SIGBUS`, counted in `lost_page_faults`, instead of zeros
    /// or all-ones. Nothing when every page came back.
    fn lose_the_rest(&self, why: &str, how: Evicted, evicted: u64) {
        let Some(cause) = how.cause() else {
            return;
        };
        let lost = self.pool.mark_in_use_lost();
        if lost != 0 {
            dev_err!(
                self.pdev.as_ref(),
                "{why}: {cause} after {evicted} pages came back; the {lost} pages ({} KiB) still in its VRAM are lost: a process touching one gets SIGBUS\n",
                lost * (PAGE_SIZE / 1024)
            );
        }
    }

    /// As [`Self::quiesce`], during PCI error recovery on a link that may be down: pages come back
    /// while the board answers ([`Self::answers`], asked again after each window's copy and before
    /// the processes take the copies); what is left when it stops answering is lost.
    pub(crate) fn quiesce_answering(&self, why: &str) -> u64 {
        let mut paused = self.paused.lock();
        if self.closed.load(Ordering::SeqCst) || *paused {
            return 0;
        }
        self.pool.close();
        let (evicted, how) = migrate::evict_while(self, &|| self.answers());
        self.lose_the_rest(why, how, evicted);
        self.suspend_engine();
        *paused = true;
        dev_info!(
            self.pdev.as_ref(),
            "{why}: moved {evicted} pages ({} KiB) back to RAM; lending paused\n",
            evicted * (PAGE_SIZE as u64 / 1024)
        );
        evicted
    }

    /// After a reset that came with no [`Self::quiesce`] first: what VRAM holds now is not what
    /// the processes parked, so nothing is copied back; what is still in use is lost.
    pub(crate) fn reset_without_quiesce(&self, why: &str) {
        let mut paused = self.paused.lock();
        if self.closed.load(Ordering::SeqCst) || *paused {
            return;
        }
        self.pool.close();
        self.lose_the_rest(why, Evicted::BoardSilent, 0);
        self.suspend_engine();
        *paused = true;
    }

    fn suspend_engine(&self) {
        let mut guard = self.engine.lock();
        let slot: &mut Option<Channel> = &mut guard;
        if let Some(channel) = slot.as_mut() {
            channel.suspend();
        }
    }

    /// Ahead of a suspend or reset (`why`) that loses what VRAM and the board hold: stops
    /// lending, moves every page back to RAM (as unbind does) and stops the copy engine. The board
    /// lends again after [`Self::resume`]. Returns how many pages moved.
    pub(crate) fn quiesce(&self, why: &str) -> u64 {
        let mut paused = self.paused.lock();
        if self.closed.load(Ordering::SeqCst) || *paused {
            return 0;
        }
        self.pool.close();
        let (evicted, how) = migrate::evict_all(self);
        self.lose_the_rest(why, how, evicted);
        self.suspend_engine();
        *paused = true;
        dev_info!(
            self.pdev.as_ref(),
            "{why}: moved {evicted} pages ({} KiB) back to RAM; lending paused\n",
            evicted * (PAGE_SIZE as u64 / 1024)
        );
        evicted
    }

    /// The board is back after a suspend or reset (`why`): the copy engine is brought up again
    /// (which puts BAR1 back in physical mode) and lending resumes. `Err` when the board does not
    /// answer: it then stays paused, with nothing in VRAM, for the caller to unbind it.
    pub(crate) fn resume(&self, why: &str) -> Result {
        let mut paused = self.paused.lock();
        if self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        if !*paused {
            // Lending was only paused (a refused suspend) and nothing was lost.
            self.pool.reopen();
            return Ok(());
        }
        if !bus::is_present(&self.pdev) {
            dev_err!(
                self.pdev.as_ref(),
                "{why}: the device does not answer any more; nothing of it is lent, releasing it\n"
            );
            return Err(ENODEV);
        }
        {
            let mut guard = self.engine.lock();
            let slot: &mut Option<Channel> = &mut guard;
            if let Some(channel) = slot.as_mut() {
                if let Err(e) = channel.resume() {
                    dev_err!(
                        self.pdev.as_ref(),
                        "{why}: the board did not come back ({e:?}); nothing of it is lent, releasing it\n"
                    );
                    if let Some(channel) = slot.take() {
                        channel.abandon();
                    }
                    return Err(ENODEV);
                }
                // A channel kept when the board stopped answering runs again.
                self.engine_failed.store(false, Ordering::Relaxed);
            }
        }
        // After the channel, whose resume puts BAR1 back in physical mode.
        if let Err(e) = self.restore_window() {
            dev_err!(
                self.pdev.as_ref(),
                "{why}: BAR1's window did not come back ({e:?}); nothing of it is lent, releasing it\n"
            );
            return Err(ENODEV);
        }
        *paused = false;
        self.pool.reopen();
        dev_info!(
            self.pdev.as_ref(),
            "{why}: the board is back; lending again\n"
        );
        Ok(())
    }

    pub(crate) fn count(&self, counter: Counter, n: u64) {
        self.stats.add(counter, n);
    }
}

#[pinned_drop]
impl PinnedDrop for Vram {
    fn drop(self: Pin<&mut Self>) {
        // Normally done at unbind already; a failed probe gets here with nothing to evict.
        self.shutdown();
    }
}
