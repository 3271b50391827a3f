// SPDX-License-Identifier: GPL-2.0

//! One copy-engine channel, brought up without firmware the way nouveau does it
//! (docs/copy-engine.md): on the engine [`super::engine`] found, taken out of reset, with its
//! memory laid out in one coherent buffer ([`memory`]), the runlist submitted and the channel
//! bound and enabled; batches go through [`submit`]. What differs between generations is asked of
//! the [`FifoHal`] as operations.

mod memory;
mod submit;

pub(crate) use submit::Failure;

use super::{
    engine::Engine,
    fifo::{
        self,
        FifoHal,
        UserdPlace,
        TARGET_SYS_COHERENT, //
    },
    hal::{
        self,
        is_pri_error,
        ReadError, //
    },
    ramin,
    regs,
    Bar0,
    Bar0Access,
    Chipset,
    BAR0_SIZE, //
};
use crate::{
    bus::{
        self,
        WcBar,
        WcWindow, //
    },
    compat, //
};
use core::mem::ManuallyDrop;
use kernel::{
    device::Bound,
    dma::Coherent,
    io::{
        poll::read_poll_timeout,
        register::Array,
        Io, //
    },
    pci,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    time::Delta, //
};
use memory::{
    page,
    PAGE,
    WORDS_PER_PAGE, //
};

/// The BAR0 mapping, revoked when the device is unbound; shared by the channel and BAR1's page
/// tables (virtual mode).
pub(crate) type Bar0Devres = Arc<compat::DevresBar<BAR0_SIZE>>;

/// The channel this driver uses.
const CHID: u32 = 0;

/// `NV_PMC_ENABLE_PFIFO`.
const PMC_ENABLE_PFIFO: u32 = 1 << 8;

/// nouveau's `NV_PPBDMA_TIMEOUT` (`gk208_runq_init`).
const PBDMA_TIMEOUT: u32 = 0x000f_4240;

/// A running channel. Dropping it stops the channel and puts the engines back as probe found
/// them.
pub(crate) struct Channel {
    bar0: Bar0Devres,
    pdev: ARef<pci::Device>,
    /// Freed on drop only once the engine is known to be stopped: a channel that might still
    /// write into it keeps it (see [`Channel::stop`]).
    mem: ManuallyDrop<Coherent<[u32]>>,
    hal: &'static dyn FifoHal,
    /// The chip, for the probe-time operations a resume repeats (BAR1 back in physical mode).
    chipset: Chipset,
    pub(crate) engine: Engine,
    pub(crate) class: u32,
    /// `NV_PMC_ENABLE` as probe found it.
    pmc_before: u32,
    /// USERD's window of BAR1 where it lives in VRAM (Pascal); the window keeps the BAR1
    /// mapping alive for as long as the channel has it.
    userd_window: Option<WcWindow>,
    /// The next GPFIFO entry.
    put: u32,
    /// The last semaphore payload released.
    sequence: u32,
    /// The PBDMA serving the channel's runlist (Volta and later), for the failure line.
    pbdma: Option<usize>,
}

impl Channel {
    /// Brings up a channel on `engine`. `bar1` is the BAR1 mapping (Pascal keeps USERD in VRAM).
    pub(crate) fn new(
        pdev: &pci::Device<Bound>,
        bar0: Bar0Devres,
        chipset: Chipset,
        engine: Engine,
        bar1: &Arc<WcBar>,
    ) -> Result<Self> {
        let hal = fifo::of(chipset);
        let mem =
            Coherent::<u32>::zeroed_slice(pdev.as_ref(), page::COUNT * WORDS_PER_PAGE, GFP_KERNEL)?;
        let userd_window = match hal.userd() {
            UserdPlace::Bar1 { vram, bytes } => Some(WcWindow::new(bar1, vram, bytes)?),
            UserdPlace::Coherent => None,
        };
        let (pmc_before, pce_map, pbdma) = {
            let io = bar0.try_access().ok_or(ENODEV)?;
            let pce_map = hal.pce_map(&io);
            let pmc = hal::checked(
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
        if let Some(map) = pce_map.map_err(refuse)? {
            let bytes = fifo::method_buffer_bytes(map);
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
            chipset,
            engine,
            class: hal.ce_class(chipset),
            pmc_before,
            userd_window,
            put: 0,
            sequence: 0,
            pbdma,
        };
        channel.build_memory();
        channel.start()?;
        Ok(channel)
    }

    /// Zeroes this channel's USERD where Host reads it (the coherent buffer's page is zeroed with
    /// the buffer).
    fn clear_userd(&self) {
        if let Some(window) = &self.userd_window {
            for offset in (0..ramin::USERD_BYTES).step_by(4) {
                let _ = window.write32(offset, 0);
            }
        }
    }

    /// Tells Host, through USERD, that the GPFIFO holds entries up to `put`.
    fn write_gp_put(&self, put: u32) {
        match &self.userd_window {
            Some(window) => {
                let _ = window.write32(ramin::USERD_GP_PUT, put);
            }
            None => self.write_word(page::USERD, ramin::USERD_GP_PUT, put),
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
        self.bar0.with(f)
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
        self.poll(|bar0| self.hal.bar2_bound(bar0))?;
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
        // Zero GP_GET and GP_PUT before Host looks at them.
        self.clear_userd();
        self.hal.enable_doorbells(bar0)?;
        if let Some(at) = self.pbdma.and_then(regs::NV_PPBDMA_TIMEOUT::try_at) {
            bar0.write(
                at,
                regs::NV_PPBDMA_TIMEOUT::zeroed().with_period(PBDMA_TIMEOUT),
            );
        }
        let inst = u32::try_from(self.bus(page::INSTANCE) >> 12).map_err(|_| EINVAL)?;
        self.hal.bind_bar2(bar0, Some(inst))
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
        // A board that fell off the bus reads all-ones.
        let boot0 = self.with_bar0(|bar0| u32::from(bar0.read(regs::NV_PMC_BOOT_0)))?;
        if boot0 == u32::MAX {
            return Err(ENODEV);
        }
        // The same blocks probe puts back (on Turing 0xB80F40, which 0x1704 does not alias).
        super::physical_bar1(&self.pdev, hal::of(self.chipset), &self.bar0)?;
        self.clear_memory();
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
                // BAR2 pointed at this channel's instance block, which is about to be freed.
                let _ = self.hal.bind_bar2(bar0, None);
                self.hal.disable_doorbells(bar0);
                self.stop_engines(bar0);
            })
            .is_ok();
        // Last: without bus mastering the GPU cannot reach system memory at all.
        bus::clear_bus_master(&*self.pdev);
        reset || preempted || !bus::bus_master_enabled(&*self.pdev)
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
