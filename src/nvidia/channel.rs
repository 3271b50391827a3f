// SPDX-License-Identifier: GPL-2.0

//! One copy-engine channel, brought up without firmware the way nouveau does it
//! (docs/copy-engine.md): the engine found in `NV_PTOP_DEVICE_INFO`, taken out of reset, an
//! instance block with RAMFC and a small GPU address space, USERD, a GPFIFO ring and a push buffer
//! in one coherent buffer, the runlist submitted and the channel bound and enabled. Each batch is
//! one push segment of physical-mode copies ending in a semaphore release, polled with a timeout.

use super::{
    fifo::{self, FifoHal, UserdPlace, TARGET_SYS_COHERENT},
    hal::{checked, is_pri_error, ReadError},
    push::{Push, Run, Target},
    regs, Bar0, Chipset, BAR0_SIZE,
};
use crate::{
    bus::{self, WcBar},
    compat,
};
use core::{mem::ManuallyDrop, ptr};
use kernel::{
    device::Bound,
    dma::Coherent,
    io::{poll::read_poll_timeout, register::Array, Io},
    pci,
    prelude::*,
    sync::aref::ARef,
    time::{delay::fsleep, Delta, Instant, Monotonic},
};

/// The BAR0 mapping, revoked when the device is unbound.
pub(crate) type Bar0Devres = compat::DevresBar<BAR0_SIZE>;

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
    /// The known-pattern test's RAM pages (`selfcheck::copy_engine`).
    pub(super) const TEST: usize = METHOD + METHOD_PAGES;
    pub(super) const TEST_PAGES: usize = 5;
    pub(super) const COUNT: usize = TEST + TEST_PAGES;
}

/// GPU virtual address of the coherent buffer: 512 MiB, so that PD1 entry 1 and one page table
/// cover it.
const VA_BASE: u64 = 0x2000_0000;
/// The last GPU virtual address the channel may use (`NV_RAMIN_ADR_LIMIT`): 40 bits, all
/// `NV_RAMIN_ADR_LIMIT_HI`'s 8 bits hold.
const VA_LIMIT: u64 = (1 << 40) - 1;
/// GPFIFO entries: one page.
const GPFIFO_ENTRIES: u32 = (PAGE / 8) as u32;

/// `NV_RAMUSERD_GP_PUT` (dev_ram.ref.txt): the GPFIFO entry Host may fetch up to.
const USERD_GP_PUT: usize = 0x8c;
/// The offset of USERD in VRAM on Pascal (reserved by [`super::probe`]), in the first chunk.
pub(crate) const PASCAL_USERD_VRAM: u64 = 256 << 10;
/// Channels whose USERD Host snoops through `NV_PFIFO_BAR1_BASE`: `NV_PFIFO_CFG1_NUM_CHANNELS`
/// (4096 on GV100's manual; nouveau reads it on GM200 and Pascal), 512 bytes each (nvgpu sizes
/// the window so). Host treats a write anywhere in it as a channel's GP_PUT, so the whole window
/// is kept out of the pool.
pub(crate) const PASCAL_CHANNELS: u64 = 4096;
/// VRAM Pascal's USERD snoop window takes: 2 MiB.
pub(crate) const PASCAL_USERD_BYTES: u64 = 512 * PASCAL_CHANNELS;

/// `NV_PMC_ENABLE_PFIFO`.
const PMC_ENABLE_PFIFO: u32 = 1 << 8;

/// How long any batch may take before the engine counts as hung, beyond the time its bytes need
/// (nouveau waits 2 s for most things).
const BATCH_TIMEOUT_BASE_MS: u64 = 2000;
/// The slowest link a batch's bytes are allowed for: 64 MiB/s, below a PCIe 1.0 x1 link
/// (250 MB/s), so a narrow or slow link is never taken for a hung engine.
const SLOWEST_LINK_BYTES_PER_MS: u64 = (64 << 20) / 1000;

/// How long a batch of `bytes` may take.
pub(crate) fn batch_timeout_ms(bytes: u64) -> u64 {
    BATCH_TIMEOUT_BASE_MS + bytes / SLOWEST_LINK_BYTES_PER_MS
}

/// The known-pattern test at bring-up gets a short timeout: 16 pages on any working engine take
/// well under a millisecond.
const SELF_TEST_TIMEOUT_MS: u64 = 200;

/// nouveau's `NV_PPBDMA_TIMEOUT` (`gk208_runq_init`).
const PBDMA_TIMEOUT: u32 = 0x000f_4240;

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
    /// Its host engine ID (`ENGINE_ENUM`), for `NV_PFIFO_ENGINE_STATUS`.
    pub(crate) id: Option<u32>,
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

/// A running channel. Dropping it stops the channel and puts the engines back as probe found
/// them.
pub(crate) struct Channel {
    bar0: Bar0Devres,
    pdev: ARef<pci::Device>,
    /// Freed on drop only once the engine is known to be stopped: a channel that might still
    /// write into it keeps it (see [`Channel::stop`]).
    mem: ManuallyDrop<Coherent<[u32]>>,
    hal: &'static dyn FifoHal,
    pub(crate) engine: Engine,
    pub(crate) class: u32,
    /// `NV_PMC_ENABLE` as probe found it.
    pmc_before: u32,
    /// The BAR1 mapping, for Pascal's USERD in VRAM. A raw pointer, not a borrowed window of the
    /// `WcBar`: the `Vram` owns both, and a borrow would make it self-referential; the `Vram`
    /// takes the channel out before its BAR goes (issue 17).
    userd_vram: Option<*mut u8>,
    /// The next GPFIFO entry.
    put: u32,
    /// The last semaphore payload released.
    sequence: u32,
    /// The PBDMA serving the channel's runlist (Volta and later), for the failure line.
    pbdma: Option<usize>,
}

// SAFETY: `userd_vram` points into a BAR1 mapping the owner of the channel keeps alive; MMIO is
// usable from any thread. The channel is only used under its owner's lock.
unsafe impl Send for Channel {}

/// Walks `NV_PTOP_DEVICE_INFO` for the first copy engine on a runlist of its own, with a reset
/// bit.
pub(crate) fn find_engine(bar0: &Bar0<'_>) -> Result<Option<Engine>, ReadError> {
    let mut found: KVec<Engine> = KVec::new();
    let mut graphics_runlist = None;
    let (mut kind, mut instance, mut runlist, mut reset, mut id) = (None, 0, None, None, None);
    for i in 0..64 {
        let v = checked(
            "NV_PTOP_DEVICE_INFO",
            bar0.read(regs::NV_PTOP_DEVICE_INFO::at(i)).value().get(),
        )?;
        match v & 3 {
            // ENUM: engine, runlist, interrupt and reset numbers with their valid bits.
            2 => {
                if v & (1 << 4) != 0 {
                    runlist = Some((v >> 21) & 0xf);
                }
                if v & (1 << 2) != 0 {
                    reset = Some((v >> 9) & 0x1f);
                }
                if v & (1 << 5) != 0 {
                    id = Some((v >> 26) & 0xf);
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
                        id,
                    };
                    if found.push(engine, GFP_KERNEL).is_err() {
                        return Ok(None);
                    }
                }
            }
        }
        (kind, instance, runlist, reset, id) = (None, 0, None, None, None);
    }
    Ok(found
        .into_iter()
        .find(|e| Some(e.runlist) != graphics_runlist))
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
        let (pmc_before, pce_map, pbdma) = {
            let io = bar0.try_access().ok_or(ENODEV)?;
            let pce_map = match hal.volta_and_later() {
                true => Some(checked(
                    "NV_CE_PCE_MAP",
                    io.read(regs::NV_CE_PCE_MAP).map().get(),
                )),
                false => None,
            };
            let pmc = checked(
                "NV_PMC_ENABLE",
                io.read(regs::NV_PMC_ENABLE).devices().get(),
            );
            (pmc, pce_map, hal.pbdma_of(&io, engine.runlist))
        };
        let refuse = |e: ReadError| {
            dev_err!(pdev, "{e}; the copy engine is not used\n");
            EIO
        };
        let pmc_before = pmc_before.map_err(refuse)?;
        let pbdma = pbdma.map_err(refuse)?;
        if let Some(map) = pce_map.transpose().map_err(refuse)? {
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
        // Every system-memory access of the engine (runlist, instance block, page tables, GPFIFO,
        // semaphore, copies) needs Bus Master Enable; read back, as a board or bridge may not
        // keep it.
        if !bus::set_bus_master(pdev) {
            dev_err!(
                pdev,
                "bus mastering did not turn on (PCI_COMMAND bit 2 reads 0); the copy engine is not used\n"
            );
            return Err(EIO);
        }
        let plain: &pci::Device = pdev;
        let mut channel = Self {
            bar0,
            pdev: plain.into(),
            mem: ManuallyDrop::new(mem),
            hal,
            engine,
            class: hal.ce_class(chipset),
            pmc_before,
            userd_vram,
            put: 0,
            sequence: 0,
            pbdma,
        };
        channel.build_memory();
        channel.start()?;
        Ok(channel)
    }

    /// The bus address of page `index` of the coherent buffer.
    fn bus(&self, index: usize) -> u64 {
        compat::dma_address(&self.mem) + (index * PAGE) as u64
    }

    /// The GPU virtual address of page `index` of the coherent buffer.
    fn va(index: usize) -> u64 {
        VA_BASE + (index * PAGE) as u64
    }

    /// The word at `byte` of page `page` of the coherent buffer, if it is inside it.
    fn word_ptr(&self, page: usize, byte: usize) -> Option<*mut u32> {
        let index = page * WORDS_PER_PAGE + byte / 4;
        if kernel::warn_on!(index >= self.mem.len()) {
            return None;
        }
        Some(self.mem.as_mut_ptr().cast::<u32>().wrapping_add(index))
    }

    fn write_word(&self, page: usize, byte: usize, value: u32) {
        if let Some(word) = self.word_ptr(page, byte) {
            // SAFETY: `word` is inside the coherent buffer, which lives as long as `self`; the
            // GPU may read it concurrently, hence a volatile access.
            unsafe { ptr::write_volatile(word, value) };
        }
    }

    fn read_word(&self, page: usize, byte: usize) -> u32 {
        match self.word_ptr(page, byte) {
            // SAFETY: As in `write_word`; the GPU may write it concurrently.
            Some(word) => unsafe { ptr::read_volatile(word) },
            None => 0,
        }
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
        // NV_RAMIN_ADR_LIMIT_LO/HI: the last valid VA, bits 39:12 (low bits read as ones), as
        // OpenRM's `kgmmuInstBlkVaLimitGet_GP100` writes it; Pascal faults any VA above it, later
        // chips ignore it.
        self.write_word(page::INSTANCE, 0x208, VA_LIMIT as u32 | 0xfff);
        self.write_word(page::INSTANCE, 0x20c, (VA_LIMIT >> 32) as u32 & 0xff);
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

    /// Resets PFIFO and the engine, enables them, drops stale translations, binds BAR2 (Volta and
    /// later), submits the runlist, binds and enables the channel.
    fn start(&mut self) -> Result {
        self.with_bar0(|bar0| self.reset_engines(bar0))?;
        // Reading NV_PMC_ENABLE back (nouveau `nv04_mc_device_enable`) both flushes the write and
        // shows whether the units came out of reset.
        let enable = PMC_ENABLE_PFIFO | (1 << self.engine.reset);
        self.poll(|bar0| {
            let now = bar0.read(regs::NV_PMC_ENABLE).devices().get();
            !is_pri_error(now) && now & enable == enable
        })
        .inspect_err(|_| {
            dev_err!(
                self.pdev.as_ref(),
                "PFIFO and {} did not come out of reset (NV_PMC_ENABLE)\n",
                self.engine
            )
        })?;
        self.with_bar0(|bar0| self.enable(bar0))??;
        self.invalidate_tlb()?;
        if self.hal.volta_and_later() {
            self.poll(|bar0| self.hal.bar2_bound(bar0))?;
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

    /// Pulses PFIFO and the engine through reset (nouveau resets PFIFO before using it,
    /// `nvkm_fifo_preinit`): whatever a previous driver left - a bound channel, runlists,
    /// USERD base, faults, pending interrupts - is gone.
    fn reset_engines(&self, bar0: &Bar0<'_>) {
        let enable = PMC_ENABLE_PFIFO | (1 << self.engine.reset);
        let off = self.pmc_before & !enable;
        bar0.write_reg(regs::NV_PMC_ENABLE::zeroed().with_devices(off));
        // Read back: the reset is in effect before the units are enabled again.
        let _ = bar0.read(regs::NV_PMC_ENABLE);
        bar0.write_reg(regs::NV_PMC_ENABLE::zeroed().with_devices(off | enable));
    }

    /// Drops every cached GPU translation once (nouveau's `gf100_vmm_invalidate`,
    /// `tu102_vmm_flush`): a previous driver's may still be in the TLBs.
    fn invalidate_tlb(&self) -> Result {
        self.poll(|bar0| self.hal.tlb_invalidate_room(bar0))?;
        self.with_bar0(|bar0| self.hal.invalidate_tlb(bar0))?;
        self.poll(|bar0| self.hal.tlb_invalidated(bar0))
            .inspect_err(|_| {
                dev_err!(
                    self.pdev.as_ref(),
                    "the MMU TLB invalidate did not complete\n"
                )
            })
    }

    /// Sets the flush page, readies USERD and the doorbells, programs the PBDMA timeout and
    /// points BAR2 at the instance block (where the fault method buffer is mapped).
    fn enable(&self, bar0: &Bar0<'_>) -> Result {
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
        if let Some(at) = self.pbdma.and_then(regs::NV_PPBDMA_TIMEOUT::try_at) {
            bar0.write(
                at,
                regs::NV_PPBDMA_TIMEOUT::zeroed().with_period(PBDMA_TIMEOUT),
            );
        }
        if self.hal.volta_and_later() {
            let inst = u32::try_from(self.bus(page::INSTANCE) >> 12).map_err(|_| EINVAL)?;
            self.hal.bind_bar2(bar0, Some(inst))?;
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
        let used = (entries as usize * self.hal.runlist_entry_size() / 4).min(words.len());
        for (i, w) in words.iter().take(used).enumerate() {
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

    /// Fills test page `i` (of [`page::TEST_PAGES`]) with `byte(offset)`.
    pub(crate) fn fill_test_page(&self, i: usize, byte: impl Fn(usize) -> u8) {
        for w in 0..WORDS_PER_PAGE {
            let b = |k: usize| u32::from(byte(4 * w + k));
            let word = b(0) | (b(1) << 8) | (b(2) << 16) | (b(3) << 24);
            self.write_word(page::TEST + i.min(page::TEST_PAGES - 1), 4 * w, word);
        }
    }

    /// The first byte of test page `i` that is not `byte(offset)`, as (offset, value read).
    pub(crate) fn test_page_mismatch(
        &self,
        i: usize,
        byte: impl Fn(usize) -> u8,
    ) -> Option<(usize, u8)> {
        for w in 0..WORDS_PER_PAGE {
            let word = self.read_word(page::TEST + i.min(page::TEST_PAGES - 1), 4 * w);
            for (k, read) in word.to_le_bytes().into_iter().enumerate() {
                if read != byte(4 * w + k) {
                    return Some((4 * w + k, read));
                }
            }
        }
        None
    }

    /// The bus address of test page `i`.
    pub(crate) fn test_page_bus(&self, i: usize) -> u64 {
        self.bus(page::TEST + i.min(page::TEST_PAGES - 1))
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
    /// faults (`NV_PFB_PRI_MMU_FAULT_STATUS`, Volta and later) and `NV_PMC_ENABLE`.
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
            mmu_fault: self
                .hal
                .volta_and_later()
                .then(|| bar0.read(regs::NV_PFB_PRI_MMU_FAULT_STATUS).value().get()),
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

    /// Puts the engines back in reset as probe found them: after this returns nothing the
    /// channel was given can be touched by the GPU any more.
    fn stop_engines(&self, bar0: &Bar0<'_>) {
        let enable = PMC_ENABLE_PFIFO | (1 << self.engine.reset);
        let now = bar0.read(regs::NV_PMC_ENABLE).devices().get();
        let now = if is_pri_error(now) {
            self.pmc_before
        } else {
            now
        };
        let restored = (now & !enable) | (self.pmc_before & enable);
        bar0.write_reg(
            regs::NV_PMC_ENABLE::zeroed().with_devices(restored & !(1 << self.engine.reset)),
        );
        bar0.write_reg(regs::NV_PMC_ENABLE::zeroed().with_devices(restored));
    }

    /// Whether the board answers register reads: `NV_PMC_BOOT_0` reads neither all-ones (a link
    /// that is down) nor a PRI error (0xBADFxxxx).
    pub(crate) fn answers(&self) -> bool {
        self.with_bar0(|bar0| !is_pri_error(u32::from(bar0.read(regs::NV_PMC_BOOT_0))))
            .unwrap_or(false)
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
        // `suspend` cleared Bus Master Enable, and a reset clears it too.
        if !bus::set_bus_master(&*self.pdev) {
            dev_err!(
                self.pdev.as_ref(),
                "bus mastering did not turn on again (PCI_COMMAND bit 2 reads 0)\n"
            );
            return Err(EIO);
        }
        self.start()
    }

    /// A failed engine: reset at once, without waiting on a channel that may never answer.
    pub(crate) fn abandon(self) {
        let _ = self.with_bar0(|bar0| self.stop_engines(bar0));
        // The drop below finds the channel already stopped and only unbinds it.
    }

    /// Stops the channel: disable, preempt (the TSG from Volta on), empty runlist, unbind, BAR2
    /// and Pascal's USERD window off, engines as probe found them, bus mastering off. `true` when
    /// every step was confirmed; otherwise the engine may not have stopped and the coherent
    /// buffer must not be freed.
    fn stop(&self) -> bool {
        let runlist = self.engine.runlist;
        let preempt_sent = self.with_bar0(|bar0| {
            bar0.write(
                regs::NV_PCCSR_CHANNEL::at(CHID as usize),
                regs::NV_PCCSR_CHANNEL::zeroed().with_enable_clr(true),
            );
            if let Some(preempt) = self.hal.preempt(CHID) {
                bar0.write_reg(preempt);
            }
        });
        let preempted = preempt_sent.is_ok()
            && self
                .poll(|bar0| {
                    let p = u32::from(bar0.read(regs::NV_PFIFO_PREEMPT));
                    !is_pri_error(p) && !regs::NV_PFIFO_PREEMPT::from(p).pending()
                })
                .is_ok();
        let _ = self.with_bar0(|bar0| {
            self.hal
                .submit_runlist(bar0, runlist, self.bus(page::RUNLIST), 0)
        });
        let _ = self.poll(|bar0| !self.hal.runlist_pending(bar0, runlist));
        // The engine reset in `stop_engines` stops whatever the channel was doing, hung or not,
        // so reaching BAR0 for it makes good a preempt that did not finish.
        let reset = self
            .with_bar0(|bar0| {
                bar0.write(
                    regs::NV_PCCSR_CHANNEL_INST::at(CHID as usize),
                    regs::NV_PCCSR_CHANNEL_INST::zeroed(),
                );
                if self.hal.volta_and_later() {
                    // BAR2 pointed at this channel's instance block, which is about to be freed.
                    let _ = self.hal.bind_bar2(bar0, None);
                }
                if self.userd_vram.is_some() {
                    // Host stops snooping the USERD window (nvgpu clears VALID at suspend).
                    bar0.write_reg(regs::NV_PFIFO_BAR1_BASE::zeroed());
                }
                self.stop_engines(bar0);
            })
            .is_ok();
        // Last: without bus mastering the GPU cannot reach system memory at all.
        bus::clear_bus_master(&*self.pdev);
        reset || preempted || !bus::bus_master_enabled(&*self.pdev)
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

impl Drop for Channel {
    fn drop(&mut self) {
        if self.stop() {
            // SAFETY: `mem` is dropped once, here; the engine is stopped (or can no longer
            // master the bus), so nothing writes into the buffer any more.
            unsafe { ManuallyDrop::drop(&mut self.mem) };
        } else {
            dev_warn!(
                self.pdev.as_ref(),
                "copy engine {} did not confirm it stopped; its {} KiB channel buffer is kept, not freed\n",
                self.engine,
                page::COUNT * PAGE / 1024
            );
        }
    }
}
