// SPDX-License-Identifier: GPL-2.0

//! One copy-engine channel, brought up without firmware the way nouveau does it
//! (docs/copy-engine.md): the engine found in `NV_PTOP_DEVICE_INFO`, taken out of reset, an
//! instance block with RAMFC and a small GPU address space, USERD, a GPFIFO ring and a push buffer
//! in one coherent buffer, the runlist submitted and the channel bound and enabled. Each batch is
//! one push segment of physical-mode copies ending in a semaphore release, polled with a timeout.

use super::{
    fifo::{self, FifoHal, UserdPlace, TARGET_SYS_COHERENT},
    push::{Push, Run, Target},
    regs, Bar0, Chipset, BAR0_SIZE,
};
use crate::vram::WcBar;
use core::ptr;
use kernel::{
    device::Bound,
    dma::Coherent,
    io::{poll::read_poll_timeout, register::Array, Io},
    pci,
    prelude::*,
    time::{delay::fsleep, Delta, Instant, Monotonic},
};

/// The BAR0 mapping, revoked when the device is unbound.
pub(crate) type Bar0Devres = pci::DevresBar<BAR0_SIZE>;

/// The channel this driver uses.
const CHID: u32 = 0;

/// Bytes in a page of the coherent buffer.
const PAGE: usize = 4096;
const WORDS_PER_PAGE: usize = PAGE / 4;

/// Pages of the coherent buffer, in order.
mod page {
    pub(super) const INSTANCE: usize = 0;
    pub(super) const RUNLIST: usize = 1;
    pub(super) const PD3: usize = 2;
    pub(super) const PD2: usize = 3;
    pub(super) const PD1: usize = 4;
    pub(super) const PD0: usize = 5;
    pub(super) const PT: usize = 6;
    pub(super) const USERD: usize = 7;
    pub(super) const SEMAPHORE: usize = 8;
    pub(super) const FLUSH: usize = 9;
    pub(super) const GPFIFO: usize = 10;
    pub(super) const PUSH: usize = 11;
    pub(super) const PUSH_PAGES: usize = 16;
    /// The copy engine's fault method buffer (Volta and later).
    pub(super) const METHOD: usize = PUSH + PUSH_PAGES;
    pub(super) const METHOD_PAGES: usize = 16;
    pub(super) const COUNT: usize = METHOD + METHOD_PAGES;
}

/// GPU virtual address of the coherent buffer: 512 MiB, so that PD1 entry 1 and one page table
/// cover it.
const VA_BASE: u64 = 0x2000_0000;
/// GPFIFO entries: one page.
const GPFIFO_ENTRIES: u32 = (PAGE / 8) as u32;

/// `NV_RAMUSERD_GP_PUT` (dev_ram.ref.txt): the GPFIFO entry Host may fetch up to.
const USERD_GP_PUT: usize = 0x8c;
/// The offset of USERD in VRAM on Pascal (reserved by [`super::probe`]), in the first chunk.
pub(crate) const PASCAL_USERD_VRAM: u64 = 256 << 10;
/// VRAM Pascal's USERD area takes.
pub(crate) const PASCAL_USERD_BYTES: u64 = PAGE as u64;

/// `NV_PMC_ENABLE_PFIFO`.
const PMC_ENABLE_PFIFO: u32 = 1 << 8;

/// How long a batch may take before the engine counts as hung. The emulated engine runs as a
/// host thread and real ones copy 2 MiB in well under a millisecond.
const BATCH_TIMEOUT: Delta = Delta::from_millis(2000);

/// Version-2 page-table bits (dev_mmu.ref.txt `NV_MMU_VER2_*`): a PDE or PTE pointing at
/// coherent system memory, volatile.
const PDE_SYS: u64 = (2 << 1) | (1 << 3);
const PTE_SYS: u64 = 1 | (2 << 1) | (1 << 3);

/// The fault method buffer's size for `pce_map` (`NV_CE_PCE_MAP`), as nouveau's
/// `gv100_ce_cclass_bind` computes it (its constants come from nvgpu).
fn method_buffer_bytes(pce_map: u32) -> usize {
    (27 * 5 * ((9 + 1 + 3) * pce_map.count_ones() as usize + 2)).next_multiple_of(PAGE)
}

/// `NV_RAMFC_TARGET` (+0xAC) bit 17: the engine's method buffer is valid (nouveau
/// `gv100_ectx_ce_bind`).
const RAMFC_METHOD_BUFFER_VALID: u32 = 1 << 17;

/// `NV_RAMIN_PAGE_DIR_BASE` word: TARGET sys coherent, VOL, USE_VER2_PT_FORMAT, 64 KiB big pages.
const PDB_FLAGS: u32 = TARGET_SYS_COHERENT | (1 << 2) | (1 << 10) | (1 << 11);

/// The copy engine found in `NV_PTOP_DEVICE_INFO`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Engine {
    /// `NV_PTOP_DEVICE_INFO_TYPE_ENUM`: COPY0-2 (1-3) or LCE (19).
    pub(crate) kind: u32,
    /// Which instance of its type.
    pub(crate) instance: u32,
    pub(crate) runlist: u32,
    /// Its bit in `NV_PMC_ENABLE`.
    pub(crate) reset: u32,
}

impl Engine {
    /// A logical copy engine (Volta and later) rather than COPY0-2.
    pub(crate) fn is_lce(&self) -> bool {
        self.kind == 19
    }

    /// The engine's number: LCE instance, or N of COPYN.
    pub(crate) fn number(&self) -> u32 {
        match self.is_lce() {
            true => self.instance,
            false => self.kind - 1,
        }
    }
}

impl core::fmt::Display for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = if self.is_lce() { "LCE" } else { "CE" };
        write!(f, "{name}{} (runlist {})", self.number(), self.runlist)
    }
}

impl kernel::fmt::Display for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

/// Why a batch failed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Failure {
    Timeout,
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
            Self::Timeout => write!(f, "timed out after {} ms", BATCH_TIMEOUT.as_millis()),
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

/// A running channel. Dropping it stops the channel and puts the engines back as probe found
/// them.
pub(crate) struct Channel {
    bar0: Bar0Devres,
    mem: Coherent<[u32]>,
    hal: &'static dyn FifoHal,
    pub(crate) engine: Engine,
    pub(crate) class: u32,
    /// `NV_PMC_ENABLE` as probe found it.
    pmc_before: u32,
    /// The BAR1 mapping, for Pascal's USERD in VRAM.
    userd_vram: Option<*mut u8>,
    /// The next GPFIFO entry.
    put: u32,
    /// The last semaphore payload released.
    sequence: u32,
}

// SAFETY: `userd_vram` points into a BAR1 mapping the owner of the channel keeps alive; MMIO is
// usable from any thread. The channel is only used under its owner's lock.
unsafe impl Send for Channel {}

/// Walks `NV_PTOP_DEVICE_INFO` for the first copy engine on a runlist of its own, with a reset
/// bit.
pub(crate) fn find_engine(bar0: &Bar0<'_>) -> Option<Engine> {
    let mut found: KVec<Engine> = KVec::new();
    let mut graphics_runlist = None;
    let (mut kind, mut instance, mut runlist, mut reset) = (None, 0, None, None);
    for i in 0..64 {
        let v = bar0.read(regs::NV_PTOP_DEVICE_INFO::at(i)).value().get();
        match v & 3 {
            // ENUM: engine, runlist, interrupt and reset numbers with their valid bits.
            2 => {
                if v & (1 << 4) != 0 {
                    runlist = Some((v >> 21) & 0xf);
                }
                if v & (1 << 2) != 0 {
                    reset = Some((v >> 9) & 0x1f);
                }
            }
            // DATA: the instance number of the engine's type.
            1 => instance = (v >> 26) & 0xf,
            // ENGINE_TYPE.
            3 => kind = Some((v >> 2) & 0x1fff_ffff),
            _ => {}
        }
        if v & (1 << 31) != 0 {
            continue;
        }
        // The chain ends: one engine described.
        if let (Some(k), Some(r)) = (kind, runlist) {
            if k == 0 {
                graphics_runlist = Some(r);
            } else if matches!(k, 1..=3 | 19) {
                if let Some(reset) = reset {
                    let engine = Engine {
                        kind: k,
                        instance,
                        runlist: r,
                        reset,
                    };
                    if found.push(engine, GFP_KERNEL).is_err() {
                        return None;
                    }
                }
            }
        }
        (kind, instance, runlist, reset) = (None, 0, None, None);
    }
    found
        .into_iter()
        .find(|e| Some(e.runlist) != graphics_runlist)
}

impl Channel {
    /// Brings up a channel on `engine`. `bar1` is the BAR1 mapping (Pascal keeps USERD in VRAM).
    pub(crate) fn new(
        pdev: &pci::Device<Bound>,
        bar0: Bar0Devres,
        chipset: Chipset,
        engine: Engine,
        bar1: &WcBar,
    ) -> Result<Self> {
        let hal = fifo::of(chipset);
        let mem =
            Coherent::<u32>::zeroed_slice(pdev.as_ref(), page::COUNT * WORDS_PER_PAGE, GFP_KERNEL)?;
        let userd_vram = match hal.userd() {
            UserdPlace::Vram => Some(bar1.offset_ptr(PASCAL_USERD_VRAM, PASCAL_USERD_BYTES)?),
            UserdPlace::Sysmem => None,
        };
        let (pmc_before, pce_map) = {
            let io = bar0.try_access().ok_or(ENODEV)?;
            let pce_map = hal
                .volta_and_later()
                .then(|| io.read(regs::NV_CE_PCE_MAP).map().get());
            (io.read(regs::NV_PMC_ENABLE).devices().get(), pce_map)
        };
        if let Some(map) = pce_map {
            let bytes = method_buffer_bytes(map);
            if bytes > page::METHOD_PAGES * PAGE {
                dev_err!(
                    pdev,
                    "NV_CE_PCE_MAP {map:#x} asks for a {bytes}-byte fault method buffer, more than the {} bytes set aside\n",
                    page::METHOD_PAGES * PAGE
                );
                return Err(ENOSPC);
            }
        }
        let mut channel = Self {
            bar0,
            mem,
            hal,
            engine,
            class: hal.ce_class(chipset),
            pmc_before,
            userd_vram,
            put: 0,
            sequence: 0,
        };
        channel.build_memory();
        channel.start()?;
        Ok(channel)
    }

    /// The bus address of page `index` of the coherent buffer.
    fn bus(&self, index: usize) -> u64 {
        self.mem.dma_address() + (index * PAGE) as u64
    }

    /// The GPU virtual address of page `index` of the coherent buffer.
    fn va(index: usize) -> u64 {
        VA_BASE + (index * PAGE) as u64
    }

    fn word_ptr(&self, page: usize, byte: usize) -> *mut u32 {
        let index = page * WORDS_PER_PAGE + byte / 4;
        assert!(index < self.mem.len());
        // The index is checked against the buffer's length above.
        self.mem.as_mut_ptr().cast::<u32>().wrapping_add(index)
    }

    fn write_word(&self, page: usize, byte: usize, value: u32) {
        // SAFETY: `word_ptr` is inside the coherent buffer, which lives as long as `self`; the
        // GPU may read it concurrently, hence a volatile access.
        unsafe { ptr::write_volatile(self.word_ptr(page, byte), value) };
    }

    fn read_word(&self, page: usize, byte: usize) -> u32 {
        // SAFETY: As in `write_word`; the GPU may write it concurrently.
        unsafe { ptr::read_volatile(self.word_ptr(page, byte)) }
    }

    fn write_u64(&self, page: usize, byte: usize, value: u64) {
        // CAST: The two halves of a little-endian 64-bit entry.
        self.write_word(page, byte, value as u32);
        self.write_word(page, byte + 4, (value >> 32) as u32);
    }

    /// Page tables, instance block and runlist, in the coherent buffer.
    fn build_memory(&mut self) {
        // PD3 entry 0 -> PD2, PD2 entry 0 -> PD1, PD1 entry 1 (512 MiB) -> PD0, PD0 entry 0's
        // small-page half -> the page table, which maps every page of the buffer.
        let pde = |addr: u64| ((addr >> 12) << 8) | PDE_SYS;
        self.write_u64(page::PD3, 0, pde(self.bus(page::PD2)));
        self.write_u64(page::PD2, 0, pde(self.bus(page::PD1)));
        self.write_u64(
            page::PD1,
            8 * ((VA_BASE >> 29) & 0x1ff) as usize,
            pde(self.bus(page::PD0)),
        );
        self.write_u64(page::PD0, 8, pde(self.bus(page::PT)));
        for i in 0..page::COUNT {
            self.write_u64(page::PT, 8 * i, ((self.bus(i) >> 12) << 8) | PTE_SYS);
        }

        let userd = self.userd_address();
        let ramfc = [
            // CAST: Low and high words; USERD's TARGET is in its low bits (Volta and later).
            (0x08, userd as u32 | self.userd_target()),
            (0x0c, (userd >> 32) as u32),
            (0x10, 0x0000_face),
            (0x48, Self::va(page::GPFIFO) as u32),
            (
                0x4c,
                (Self::va(page::GPFIFO) >> 32) as u32 | (GPFIFO_ENTRIES.ilog2() << 16),
            ),
        ];
        let constants = self.hal.ramfc_constants(CHID);
        for (offset, value) in Iterator::chain(ramfc.into_iter(), constants) {
            self.write_word(page::INSTANCE, offset, value);
        }
        let pd3 = self.bus(page::PD3);
        let pdb = [(pd3 as u32 & !0xfff) | PDB_FLAGS, (pd3 >> 32) as u32];
        self.write_word(page::INSTANCE, 0x200, pdb[0]);
        self.write_word(page::INSTANCE, 0x204, pdb[1]);
        if self.hal.volta_and_later() {
            // Subcontext 0 uses the same address space (`NV_RAMIN_SC_PDB_VALID`, `_SC_PAGE_DIR_*`).
            self.write_word(page::INSTANCE, 0x298, 1);
            self.write_word(page::INSTANCE, 0x2a0, pdb[0]);
            self.write_word(page::INSTANCE, 0x2a4, pdb[1]);
            // The fault method buffer (`NV_RAMIN_ENG_METHOD_BUFFER_ADDR`) is a BAR2 virtual
            // address; BAR2 is bound to this instance block, so the channel's own VA serves.
            let method = Self::va(page::METHOD);
            self.write_word(page::INSTANCE, 0x220, method as u32);
            self.write_word(page::INSTANCE, 0x224, (method >> 32) as u32);
            self.write_word(page::INSTANCE, 0xac, RAMFC_METHOD_BUFFER_VALID);
        }
    }

    fn userd_address(&self) -> u64 {
        match self.hal.userd() {
            UserdPlace::Vram => PASCAL_USERD_VRAM + u64::from(CHID) * 512,
            UserdPlace::Sysmem => self.bus(page::USERD),
        }
    }

    fn userd_target(&self) -> u32 {
        match self.hal.userd() {
            UserdPlace::Vram => 0,
            UserdPlace::Sysmem => TARGET_SYS_COHERENT,
        }
    }

    /// Waits (up to 100 ms) until `done` holds. BAR0 is only reachable under an RCU read lock,
    /// so it is taken for each look and never held across the sleeps.
    fn poll(&self, done: impl Fn(&Bar0<'_>) -> bool) -> Result {
        read_poll_timeout(
            || self.with_bar0(&done),
            |&d| d,
            Delta::from_micros(10),
            Delta::from_millis(100),
        )
        .map(|_| ())
    }

    /// Runs `f` on BAR0, which is only reachable under an RCU read lock: `f` must not sleep.
    fn with_bar0<R>(&self, f: impl FnOnce(&Bar0<'_>) -> R) -> Result<R> {
        let io = self.bar0.try_access().ok_or(ENODEV)?;
        Ok(f(&io))
    }

    /// Enables the engines, binds BAR2 (Volta and later), submits the runlist, binds and enables
    /// the channel.
    fn start(&mut self) -> Result {
        self.with_bar0(|bar0| self.enable(bar0))??;
        if self.hal.volta_and_later() {
            self.poll(|bar0| {
                let s = bar0.read(regs::NV_PBUS_BIND_STATUS);
                !s.bar2_pending() && !s.bar2_outstanding()
            })?;
        }
        self.with_bar0(|bar0| self.bind(bar0))??;
        self.poll(|bar0| !self.hal.runlist_pending(bar0, self.engine.runlist))?;
        self.with_bar0(|bar0| {
            bar0.write(
                regs::NV_PCCSR_CHANNEL::at(CHID as usize),
                regs::NV_PCCSR_CHANNEL::zeroed().with_enable_set(true),
            )
        })
    }

    /// Takes PFIFO and the engine out of reset, sets the flush page, readies USERD and the
    /// doorbells, and points BAR2 at the instance block (where the fault method buffer is mapped).
    fn enable(&self, bar0: &Bar0<'_>) -> Result {
        let enable = PMC_ENABLE_PFIFO | (1 << self.engine.reset);
        bar0.write_reg(regs::NV_PMC_ENABLE::zeroed().with_devices(self.pmc_before | enable));
        let flush = u32::try_from(self.bus(page::FLUSH) >> 8).map_err(|_| EINVAL)?;
        bar0.write_reg(regs::NV_PFB_NISO_FLUSH_SYSMEM_ADDR::zeroed().with_adr_39_08(flush));
        if let Some(userd) = self.userd_vram {
            // Zero GP_GET and GP_PUT before Host looks at them.
            for offset in (0..512).step_by(4) {
                // SAFETY: `userd` maps `PASCAL_USERD_BYTES` of BAR1 (from `WcBar::offset_ptr`).
                unsafe { kernel::bindings::writel(0, userd.wrapping_add(offset).cast()) };
            }
            let ptr = u32::try_from(PASCAL_USERD_VRAM >> 12).map_err(|_| EINVAL)?;
            bar0.write_reg(
                regs::NV_PFIFO_BAR1_BASE::zeroed()
                    .with_valid(true)
                    .try_with_ptr(ptr)?,
            );
        }
        self.hal.enable_doorbells(bar0);
        if self.hal.volta_and_later() {
            let inst = u32::try_from(self.bus(page::INSTANCE) >> 12).map_err(|_| EINVAL)?;
            bar0.write_reg(
                regs::NV_PBUS_BAR2_BLOCK::zeroed()
                    .with_mode_virtual(true)
                    .try_with_target(TARGET_SYS_COHERENT)?
                    .try_with_ptr(inst)?,
            );
        }
        Ok(())
    }

    /// Writes the runlist, binds the channel's instance block and submits the runlist.
    fn bind(&self, bar0: &Bar0<'_>) -> Result {
        let mut words = [0u32; 8];
        let entries = self.hal.runlist_entries(
            &mut words,
            CHID,
            self.bus(page::INSTANCE),
            self.userd_address(),
        );
        let used = entries as usize * self.hal.runlist_entry_size() / 4;
        for (i, w) in words[..used].iter().enumerate() {
            self.write_word(page::RUNLIST, 4 * i, *w);
        }
        let inst = u32::try_from(self.bus(page::INSTANCE) >> 12).map_err(|_| EINVAL)?;
        bar0.write(
            regs::NV_PCCSR_CHANNEL_INST::at(CHID as usize),
            regs::NV_PCCSR_CHANNEL_INST::zeroed()
                .with_bind(true)
                .try_with_target(TARGET_SYS_COHERENT)?
                .try_with_ptr(inst)?,
        );
        self.hal
            .submit_runlist(bar0, self.engine.runlist, self.bus(page::RUNLIST), entries)
    }

    /// Copies `runs` (at most [`Channel::max_runs`]) from `src` to `dst` memory and waits for it.
    pub(crate) fn copy(&mut self, runs: &[Run], src: Target, dst: Target) -> Result<(), Failure> {
        self.batch(src, dst, runs.len(), |push, i, release| {
            push.copy(runs[i], release)
        })
    }

    /// Zeroes `runs` of VRAM, each `(address, pages)` (at most [`Channel::max_runs`]), and waits
    /// for it.
    pub(crate) fn clear(&mut self, runs: &[(u64, u32)]) -> Result<(), Failure> {
        self.batch(
            Target::LocalFb,
            Target::LocalFb,
            runs.len(),
            |push, i, release| push.clear(runs[i].0, runs[i].1, release),
        )
    }

    /// Writes a push segment of `count` launches (`launch` writes launch `i`; the last releases
    /// the semaphore), submits it and waits for it.
    fn batch(
        &mut self,
        src: Target,
        dst: Target,
        count: usize,
        launch: impl Fn(&mut Push<'_>, usize, Option<(u64, u32)>) -> Option<()>,
    ) -> Result<(), Failure> {
        let payload = self.sequence.wrapping_add(1);
        let semaphore = Self::va(page::SEMAPHORE);
        let len = {
            // SAFETY: The push pages are inside the coherent buffer; the previous batch is
            // complete (its semaphore was released), so the GPU no longer reads them.
            let words = unsafe {
                core::slice::from_raw_parts_mut(
                    self.word_ptr(page::PUSH, 0),
                    page::PUSH_PAGES * WORDS_PER_PAGE,
                )
            };
            let mut push = Push::new(words);
            push.begin(self.class, src, dst).ok_or(Failure::Overflow)?;
            for i in 0..count {
                let release = (i + 1 == count).then_some((semaphore, payload));
                launch(&mut push, i, release).ok_or(Failure::Overflow)?;
            }
            push.len()
        };
        self.submit(len, payload)
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
    fn submit(&mut self, len: usize, payload: u32) -> Result<(), Failure> {
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
        match self.userd_vram {
            Some(userd) => {
                // SAFETY: `userd` maps Pascal's USERD area in BAR1 (see `new`).
                unsafe {
                    kernel::bindings::writel(self.put, userd.wrapping_add(USERD_GP_PUT).cast());
                    crate::shim::ps_wmb();
                }
            }
            None => {
                self.write_word(page::USERD, USERD_GP_PUT, self.put);
                // GP_PUT must be visible before the doorbell makes Host read it.
                // SAFETY: No precondition.
                unsafe { crate::shim::ps_wmb() };
            }
        }
        self.with_bar0(|bar0| self.hal.ring(bar0, self.engine.runlist, CHID))
            .map_err(|_| Failure::Gone)?;
        let result = self.wait(payload);
        self.sequence = payload;
        result
    }

    /// Polls the semaphore until it reads `payload`, the channel faults, or the time runs out.
    fn wait(&self, payload: u32) -> Result<(), Failure> {
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
            if state.pbdma_faulted() || state.eng_faulted() {
                return Err(Failure::ChannelError(u32::from(state)));
            }
            if start.elapsed() > BATCH_TIMEOUT {
                return Err(Failure::Timeout);
            }
            spins += 1;
            if spins > 64 {
                fsleep(Delta::from_micros(20));
            }
        }
    }

    /// Puts the engines back in reset as probe found them: after this returns nothing the
    /// channel was given can be touched by the GPU any more.
    fn stop_engines(&self, bar0: &Bar0<'_>) {
        let enable = PMC_ENABLE_PFIFO | (1 << self.engine.reset);
        let now = bar0.read(regs::NV_PMC_ENABLE).devices().get();
        let restored = (now & !enable) | (self.pmc_before & enable);
        bar0.write_reg(
            regs::NV_PMC_ENABLE::zeroed().with_devices(restored & !(1 << self.engine.reset)),
        );
        bar0.write_reg(regs::NV_PMC_ENABLE::zeroed().with_devices(restored));
    }

    /// Stops the channel ahead of a suspend or reset that loses the board's state; the coherent
    /// buffer stays, for [`Self::resume`].
    pub(crate) fn suspend(&mut self) {
        self.stop();
    }

    /// Brings the channel up again, as [`Self::new`] did, on a board that was reset or powered
    /// down since [`Self::suspend`]: BAR1 back in physical mode (as probe leaves it), the coherent
    /// buffer rebuilt from zero, the engine enabled and the channel bound.
    pub(crate) fn resume(&mut self) -> Result {
        let was_virtual = self.with_bar0(|bar0| {
            // A board that fell off the bus reads all-ones.
            if u32::from(bar0.read(regs::NV_PMC_BOOT_0)) == u32::MAX {
                return Err(ENODEV);
            }
            let virtual_mode = bar0.read(regs::NV_PBUS_BAR1_BLOCK).mode_virtual();
            if virtual_mode {
                bar0.write_reg(regs::NV_PBUS_BAR1_BLOCK::zeroed());
            }
            Ok(virtual_mode)
        })??;
        if was_virtual {
            self.poll(|bar0| {
                let s = bar0.read(regs::NV_PBUS_BIND_STATUS);
                !s.bar1_pending() && !s.bar1_outstanding()
            })?;
        }
        for i in 0..self.mem.len() {
            self.write_word(i / WORDS_PER_PAGE, 4 * (i % WORDS_PER_PAGE), 0);
        }
        self.put = 0;
        self.sequence = 0;
        self.build_memory();
        self.start()
    }

    /// A failed engine: reset at once, without waiting on a channel that may never answer.
    pub(crate) fn abandon(self) {
        let _ = self.with_bar0(|bar0| self.stop_engines(bar0));
        // The drop below finds the channel already stopped and only unbinds it.
    }

    /// Stops the channel: disable, preempt, empty runlist, unbind, engines as probe found them.
    /// Best effort: a device that went away or stopped answering is left as it is.
    fn stop(&self) {
        let runlist = self.engine.runlist;
        let preempted = self.with_bar0(|bar0| {
            bar0.write(
                regs::NV_PCCSR_CHANNEL::at(CHID as usize),
                regs::NV_PCCSR_CHANNEL::zeroed().with_enable_clr(true),
            );
            if let Ok(preempt) = regs::NV_PFIFO_PREEMPT::zeroed().try_with_id(CHID) {
                bar0.write_reg(preempt);
            }
        });
        if preempted.is_err() {
            return;
        }
        let _ = self.poll(|bar0| !bar0.read(regs::NV_PFIFO_PREEMPT).pending());
        let _ = self.with_bar0(|bar0| {
            self.hal
                .submit_runlist(bar0, runlist, self.bus(page::RUNLIST), 0)
        });
        let _ = self.poll(|bar0| !self.hal.runlist_pending(bar0, runlist));
        let _ = self.with_bar0(|bar0| {
            bar0.write(
                regs::NV_PCCSR_CHANNEL_INST::at(CHID as usize),
                regs::NV_PCCSR_CHANNEL_INST::zeroed(),
            );
            if self.hal.volta_and_later() {
                // BAR2 pointed at this channel's instance block, which is about to be freed.
                bar0.write_reg(regs::NV_PBUS_BAR2_BLOCK::zeroed());
            }
            self.stop_engines(bar0);
        });
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.stop();
    }
}
