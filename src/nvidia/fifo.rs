// SPDX-License-Identifier: GPL-2.0

//! What differs between generations in bringing up a channel: the copy-engine class, where USERD
//! lives and how Host learns of new work, the runlist format and how it is submitted
//! (docs/copy-engine.md).

use super::{
    hal::{
        checked,
        is_pri_error,
        ReadError, //
    },
    ramin,
    regs,
    Bar0,
    Chipset, //
};
use kernel::{
    io::register::Array,
    io::Io,
    prelude::*, //
};

/// Where a channel's USERD lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UserdPlace {
    /// In VRAM at `vram`, written through BAR1: Host snoops the `bytes` of BAR1 from there
    /// ([`FifoHal::enable_doorbells`]).
    Bar1 { vram: u64, bytes: u64 },
    /// In the channel's coherent buffer, with a doorbell after each `GP_PUT`.
    Coherent,
}

/// One generation's channel mechanics. The defaults are Volta's and Turing's; Pascal overrides
/// them.
pub(super) trait FifoHal: Sync {
    /// The copy-engine class (`NV?B5`).
    fn ce_class(&self, chipset: Chipset) -> u32;

    /// Where USERD is placed.
    fn userd(&self) -> UserdPlace {
        UserdPlace::Coherent
    }

    /// Bytes per runlist entry.
    fn runlist_entry_size(&self) -> usize {
        16
    }

    /// Writes the runlist entries for channel `chid` into `out` (words), returning how many
    /// entries it wrote: a TSG of one channel.
    fn runlist_entries(&self, out: &mut [u32; 8], chid: u32, inst: u64, userd: u64) -> u32 {
        tsg_header(out, chid);
        chan_entry(out, chid, inst, userd);
        2
    }

    /// Submits `entries` entries at `addr` (coherent system memory) to runlist `runlist`.
    fn submit_runlist(&self, bar0: &Bar0<'_>, runlist: u32, addr: u64, entries: u32) -> Result {
        submit_2270(bar0, runlist, addr, entries)
    }

    /// Whether runlist `runlist` still has a submit in flight.
    fn runlist_pending(&self, bar0: &Bar0<'_>, runlist: u32) -> bool {
        pending_2284(bar0, runlist)
    }

    /// Readies the way Host learns of new work, once per bring-up (Turing: doorbells on).
    fn enable_doorbells(&self, _bar0: &Bar0<'_>) -> Result {
        Ok(())
    }

    /// Undoes [`FifoHal::enable_doorbells`] at teardown.
    fn disable_doorbells(&self, _bar0: &Bar0<'_>) {}

    /// Tells Host that channel `chid` of `runlist` has new work.
    fn ring(&self, bar0: &Bar0<'_>, runlist: u32, chid: u32);

    /// The physical copy engines (`NV_CE_PCE_MAP`) the copy engine's fault method buffer is
    /// sized for ([`method_buffer_bytes`]); none before Volta, which has no such buffer.
    fn pce_map(&self, bar0: &Bar0<'_>) -> Result<Option<u32>, ReadError> {
        checked("NV_CE_PCE_MAP", bar0.read(regs::NV_CE_PCE_MAP).map().get()).map(Some)
    }

    /// Writes (through `write(offset, value)`) what this generation's instance block holds beyond
    /// the common RAMFC words and page directory: nouveau's RAMFC constants for channel `chid`
    /// and, from Volta on, subcontext 0 on the same page directory (`pdb`) and the copy engine's
    /// fault method buffer at GPU VA `method_buffer`.
    fn fill_instance(
        &self,
        write: &mut dyn FnMut(usize, u32),
        chid: u32,
        pdb: [u32; 2],
        method_buffer: u64,
    ) {
        for (offset, value) in ramin::gv100_ramfc(chid) {
            write(offset, value);
        }
        write(ramin::SC_PDB_VALID, 1);
        write(ramin::SC_PAGE_DIR_BASE_LO, pdb[0]);
        write(ramin::SC_PAGE_DIR_BASE_HI, pdb[1]);
        // A BAR2 virtual address: BAR2 is bound to this instance block
        // ([`FifoHal::bind_bar2`]), so the channel's own VA serves.
        // CAST: The low and high words of the address.
        write(ramin::ENG_METHOD_BUFFER_ADDR_LO, method_buffer as u32);
        write(
            ramin::ENG_METHOD_BUFFER_ADDR_HI,
            (method_buffer >> 32) as u32,
        );
        write(ramin::RAMFC_TARGET, ramin::RAMFC_METHOD_BUFFER_VALID);
    }

    /// Pending MMU faults (`NV_PFB_PRI_MMU_FAULT_STATUS`) for the failure line, where the chip
    /// has the register.
    fn mmu_fault_status(&self, bar0: &Bar0<'_>) -> Option<u32> {
        Some(bar0.read(regs::NV_PFB_PRI_MMU_FAULT_STATUS).value().get())
    }

    /// The `NV_PFIFO_PREEMPT` that takes channel `chid` off its engine: its TSG (ID = `chid`,
    /// [`FifoHal::runlist_entries`]) from Volta on, as nouveau preempts the TSG
    /// (`gk110_runl_preempt`).
    fn preempt(&self, chid: u32) -> Option<regs::NV_PFIFO_PREEMPT> {
        regs::NV_PFIFO_PREEMPT::zeroed()
            .try_with_id(chid)
            .and_then(|p| p.try_with_kind(1))
            .ok()
    }

    /// The PBDMA serving `runlist` (`NV_PFIFO_CFG0`, `NV_PFIFO_PBDMA_MAP`), if any.
    fn pbdma_of(&self, bar0: &Bar0<'_>, runlist: u32) -> Result<Option<usize>, ReadError> {
        let cfg0 = checked("NV_PFIFO_CFG0", u32::from(bar0.read(regs::NV_PFIFO_CFG0)))?;
        let count = regs::NV_PFIFO_CFG0::from(cfg0).num_pbdma().get() as usize;
        for i in 0..count {
            let Some(at) = regs::NV_PFIFO_PBDMA_MAP::try_at(i) else {
                break;
            };
            let map = checked("NV_PFIFO_PBDMA_MAP", u32::from(bar0.read(at)))?;
            if map & (1 << runlist) != 0 {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Binds BAR2 to the instance block at `inst` (>> 12) in virtual mode, or back to physical
    /// mode with `None`: the copy engine reaches its fault method buffer through BAR2.
    fn bind_bar2(&self, bar0: &Bar0<'_>, inst: Option<u32>) -> Result {
        let value = match inst {
            Some(ptr) => regs::NV_PBUS_BAR2_BLOCK::zeroed()
                .with_mode_virtual(true)
                .try_with_target(TARGET_SYS_COHERENT)?
                .try_with_ptr(ptr)?,
            None => regs::NV_PBUS_BAR2_BLOCK::zeroed(),
        };
        bar0.write_reg(value);
        Ok(())
    }

    /// Whether the BAR2 bind is done.
    fn bar2_bound(&self, bar0: &Bar0<'_>) -> bool {
        let s = u32::from(bar0.read(regs::NV_PBUS_BIND_STATUS));
        !is_pri_error(s) && s & 0xc == 0
    }

    /// Whether the MMU has room for an invalidate (`NV_PFB_PRI_MMU_CTRL_PRI_FIFO_SPACE`).
    fn tlb_invalidate_room(&self, bar0: &Bar0<'_>) -> bool {
        let c = u32::from(bar0.read(regs::NV_PFB_PRI_MMU_CTRL));
        !is_pri_error(c) && regs::NV_PFB_PRI_MMU_CTRL::from(c).pri_fifo_space().get() != 0
    }

    /// Starts an invalidate of every cached translation of every address space.
    fn invalidate_tlb(&self, bar0: &Bar0<'_>) {
        bar0.write_reg(
            regs::NV_PFB_PRI_MMU_INVALIDATE::zeroed()
                .with_trigger(true)
                .with_all_pdb(true)
                .with_all_va(true),
        );
    }

    /// Whether the invalidate is done (`NV_PFB_PRI_MMU_CTRL_PRI_FIFO_EMPTY`).
    fn tlb_invalidated(&self, bar0: &Bar0<'_>) -> bool {
        let c = u32::from(bar0.read(regs::NV_PFB_PRI_MMU_CTRL));
        !is_pri_error(c) && regs::NV_PFB_PRI_MMU_CTRL::from(c).pri_fifo_empty()
    }
}

/// `SYS_MEM_COHERENT` in every TARGET field.
pub(super) const TARGET_SYS_COHERENT: u32 = 2;

struct Pascal;
struct Volta;
struct Turing;

pub(super) fn of(chipset: Chipset) -> &'static dyn FifoHal {
    match chipset {
        Chipset::GP100 | Chipset::GP102 | Chipset::GP104 => &Pascal,
        Chipset::GV100 => &Volta,
        Chipset::TU102 | Chipset::TU104 => &Turing,
    }
}

/// `NV_RAMRL_ENTRY_TSG_*` header for a TSG of one channel, 16-byte format (Volta, Turing), in
/// words 0-3.
fn tsg_header(out: &mut [u32; 8], tsgid: u32) {
    // TIMESLICE_SCALE 3, TIMESLICE_TIMEOUT 128, TYPE TSG; TSG_LENGTH 1.
    out[0] = (128 << 24) | (3 << 16) | 1;
    out[1] = 1;
    out[2] = tsgid;
    out[3] = 0;
}

/// `NV_RAMRL_ENTRY_CHAN_*`, 16-byte format, in words 4-7: USERD and instance block in coherent
/// memory.
fn chan_entry(out: &mut [u32; 8], chid: u32, inst: u64, userd: u64) {
    // CAST: Low words of 64-bit addresses; USERD is 512-byte aligned, the instance block 4 KiB.
    out[4] = (userd as u32 & !0xff) | (TARGET_SYS_COHERENT << 6) | (TARGET_SYS_COHERENT << 4);
    out[5] = (userd >> 32) as u32;
    out[6] = (inst as u32 & !0xfff) | chid;
    out[7] = (inst >> 32) as u32;
}

/// Pascal and Volta submit through `NV_PFIFO_RUNLIST_BASE`/`NV_PFIFO_RUNLIST`.
fn submit_2270(bar0: &Bar0<'_>, runlist: u32, addr: u64, entries: u32) -> Result {
    let ptr = u32::try_from(addr >> 12).map_err(|_| EINVAL)?;
    bar0.write_reg(
        regs::NV_PFIFO_RUNLIST_BASE::zeroed()
            .try_with_ptr(ptr)?
            .try_with_target(TARGET_SYS_COHERENT)?,
    );
    bar0.write_reg(
        regs::NV_PFIFO_RUNLIST::zeroed()
            .try_with_id(runlist)?
            .try_with_length(entries)?,
    );
    Ok(())
}

fn pending_2284(bar0: &Bar0<'_>, runlist: u32) -> bool {
    regs::NV_PFIFO_ENG_RUNLIST::try_at(runlist as usize).is_none_or(|at| bar0.read(at).pending())
}

/// The fault method buffer's size for `pce_map` (`NV_CE_PCE_MAP`), as nouveau's
/// `gv100_ce_cclass_bind` computes it (its constants come from nvgpu).
pub(super) fn method_buffer_bytes(pce_map: u32) -> usize {
    (27 * 5 * ((9 + 1 + 3) * pce_map.count_ones() as usize + 2)).next_multiple_of(4096)
}

impl FifoHal for Pascal {
    fn ce_class(&self, chipset: Chipset) -> u32 {
        match chipset {
            Chipset::GP100 => 0xc0b5,
            _ => 0xc1b5,
        }
    }

    /// In VRAM through physical BAR1, at the snoop window probe kept out of the pool.
    fn userd(&self) -> UserdPlace {
        UserdPlace::Bar1 {
            vram: ramin::PASCAL_USERD_VRAM,
            bytes: ramin::PASCAL_USERD_BYTES,
        }
    }

    fn runlist_entry_size(&self) -> usize {
        8
    }

    fn runlist_entries(&self, out: &mut [u32; 8], chid: u32, _inst: u64, _userd: u64) -> u32 {
        // A bare channel entry (`gk104_runl_insert_chan`).
        out[0] = chid;
        out[1] = 0;
        1
    }

    /// Host notices `GP_PUT` writes to the BAR1 USERD area itself.
    fn ring(&self, _bar0: &Bar0<'_>, _runlist: u32, _chid: u32) {}

    /// A bare channel (no TSG): preempt the channel.
    fn preempt(&self, chid: u32) -> Option<regs::NV_PFIFO_PREEMPT> {
        regs::NV_PFIFO_PREEMPT::zeroed().try_with_id(chid).ok()
    }

    /// The PBDMA timeout is left at its reset value: the Pascal sources at hand do not name
    /// `NV_PFIFO_CFG0`.
    fn pbdma_of(&self, _bar0: &Bar0<'_>, _runlist: u32) -> Result<Option<usize>, ReadError> {
        Ok(None)
    }

    /// No fault method buffer before Volta.
    fn pce_map(&self, _bar0: &Bar0<'_>) -> Result<Option<u32>, ReadError> {
        Ok(None)
    }

    /// nouveau's RAMFC constants only: no subcontexts, no fault method buffer.
    fn fill_instance(
        &self,
        write: &mut dyn FnMut(usize, u32),
        chid: u32,
        _pdb: [u32; 2],
        _method_buffer: u64,
    ) {
        for (offset, value) in ramin::gk104_ramfc(chid) {
            write(offset, value);
        }
    }

    /// `NV_PFB_PRI_MMU_FAULT_STATUS` is Volta's and later.
    fn mmu_fault_status(&self, _bar0: &Bar0<'_>) -> Option<u32> {
        None
    }

    /// Host snoops `GP_PUT` writes in the BAR1 USERD window once `NV_PFIFO_BAR1_BASE` points at
    /// it.
    fn enable_doorbells(&self, bar0: &Bar0<'_>) -> Result {
        let ptr = u32::try_from(ramin::PASCAL_USERD_VRAM >> 12).map_err(|_| EINVAL)?;
        bar0.write_reg(
            regs::NV_PFIFO_BAR1_BASE::zeroed()
                .with_valid(true)
                .try_with_ptr(ptr)?,
        );
        Ok(())
    }

    /// Host stops snooping the USERD window (nvgpu clears VALID at suspend).
    fn disable_doorbells(&self, bar0: &Bar0<'_>) {
        bar0.write_reg(regs::NV_PFIFO_BAR1_BASE::zeroed());
    }

    /// The engine has no fault method buffer, so BAR2 is left alone.
    fn bind_bar2(&self, _bar0: &Bar0<'_>, _inst: Option<u32>) -> Result {
        Ok(())
    }

    fn bar2_bound(&self, _bar0: &Bar0<'_>) -> bool {
        true
    }
}

impl FifoHal for Volta {
    fn ce_class(&self, _chipset: Chipset) -> u32 {
        0xc3b5
    }

    fn ring(&self, bar0: &Bar0<'_>, _runlist: u32, chid: u32) {
        bar0.write_reg(regs::NV_USERMODE_NOTIFY_CHANNEL_PENDING::zeroed().with_id(chid));
    }
}

impl FifoHal for Turing {
    fn ce_class(&self, _chipset: Chipset) -> u32 {
        0xc5b5
    }

    fn submit_runlist(&self, bar0: &Bar0<'_>, runlist: u32, addr: u64, entries: u32) -> Result {
        let at = runlist as usize;
        let lo = regs::NV_PFIFO_RUNLIST_BASE_LO::try_at(at).ok_or(EINVAL)?;
        let hi = regs::NV_PFIFO_RUNLIST_BASE_HI::try_at(at).ok_or(EINVAL)?;
        let submit = regs::NV_PFIFO_RUNLIST_SUBMIT::try_at(at).ok_or(EINVAL)?;
        // CAST: The low and high words of the address.
        let lo_value = regs::NV_PFIFO_RUNLIST_BASE_LO::zeroed()
            .try_with_ptr_lo((addr as u32) >> 12)?
            .try_with_target(TARGET_SYS_COHERENT)?;
        bar0.write(lo, lo_value);
        bar0.write(
            hi,
            regs::NV_PFIFO_RUNLIST_BASE_HI::zeroed().try_with_ptr_hi((addr >> 32) as u32)?,
        );
        bar0.write(
            submit,
            regs::NV_PFIFO_RUNLIST_SUBMIT::zeroed().try_with_length(entries)?,
        );
        Ok(())
    }

    fn runlist_pending(&self, bar0: &Bar0<'_>, runlist: u32) -> bool {
        regs::NV_PFIFO_RUNLIST_SUBMIT_INFO::try_at(runlist as usize)
            .is_none_or(|at| bar0.read(at).pending())
    }

    fn enable_doorbells(&self, bar0: &Bar0<'_>) -> Result {
        bar0.update(regs::NV_CTRL_VIRTUAL_CHANNEL_CFG, |r| {
            r.with_pending_enable(true)
        });
        Ok(())
    }

    /// Turing's own BAR2 block (`NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK`, nouveau `bar/tu102.c`).
    fn bind_bar2(&self, bar0: &Bar0<'_>, inst: Option<u32>) -> Result {
        let value = match inst {
            Some(ptr) => regs::NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK::zeroed()
                .with_mode_virtual(true)
                .try_with_target(TARGET_SYS_COHERENT)?
                .try_with_ptr(ptr)?,
            None => regs::NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK::zeroed(),
        };
        bar0.write_reg(value);
        Ok(())
    }

    fn bar2_bound(&self, bar0: &Bar0<'_>) -> bool {
        let s = u32::from(bar0.read(regs::NV_VIRTUAL_FUNCTION_PRIV_BIND_STATUS));
        !is_pri_error(s) && s & 0xc == 0
    }

    /// Turing's invalidate takes no room check: TRIGGER reads back set until it is done.
    fn tlb_invalidate_room(&self, _bar0: &Bar0<'_>) -> bool {
        true
    }

    /// `NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE` (nouveau `tu102_vmm_flush`).
    fn invalidate_tlb(&self, bar0: &Bar0<'_>) {
        bar0.write_reg(
            regs::NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE::zeroed()
                .with_trigger(true)
                .with_all_pdb(true)
                .with_all_va(true),
        );
    }

    fn tlb_invalidated(&self, bar0: &Bar0<'_>) -> bool {
        let v = u32::from(bar0.read(regs::NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE));
        !is_pri_error(v) && !regs::NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE::from(v).trigger()
    }

    fn ring(&self, bar0: &Bar0<'_>, runlist: u32, chid: u32) {
        bar0.write_reg(
            regs::NV_VIRTUAL_FUNCTION_DOORBELL::zeroed().with_handle((runlist << 16) | chid),
        );
    }
}
