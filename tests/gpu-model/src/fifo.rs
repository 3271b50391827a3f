// SPDX-License-Identifier: GPL-2.0

//! PFIFO and the PBDMA (`dev_fifo.ref.txt`, `dev_pbdma.ref.txt`, `dev_ram.ref.txt`,
//! `dev_usermode.ref.txt`, `dev_vm.ref.txt`; Pascal from nouveau's gk104/gp100): engine enables,
//! runlists, channels, doorbells, and the host that fetches GPFIFO entries and push buffers and
//! hands the copy engine its methods. One GPFIFO entry runs per `service` call, under the model's
//! lock, so a register write that stops the engine takes effect before it returns.

use crate::bar0::{ro, rw, wo, Register};
use crate::board::{Board, Generation};
use crate::ce::{self, CeState, LAUNCH_DMA};
use crate::mmu::{self, Aperture, Mem, Phys, Vm};
use crate::top::{self, Engine};

/// Channels the model emulates (the chips have 4096; the driver uses channel 0).
pub const CHANNELS: u32 = 512;
const PMC_PFIFO: u32 = 1 << 8;
/// `NV_PMC_ENABLE` at reset: PRIV_RING and PDISP enabled, PFIFO and the engines disabled.
const PMC_ENABLE_RESET: u32 = (1 << 5) | (1 << 30);
/// What an injected semaphore fault XORs into the payload.
pub const SEMAPHORE_CORRUPTION: u32 = 0xdead_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Hang,
    Error,
    Semaphore,
    /// Copies land one page past their destination (the semaphore is still released).
    Misdirect,
    /// The board's link goes down as the launch starts (`Bar0::drop_link`), once.
    Link,
}

/// `--ce-fault KIND[:N]`: after `after` good launches, `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CeFault {
    pub kind: FaultKind,
    pub after: u64,
}

impl CeFault {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, n) = s.split_once(':').unwrap_or((s, "0"));
        let kind = match kind {
            "hang" => FaultKind::Hang,
            "error" => FaultKind::Error,
            "semaphore" => FaultKind::Semaphore,
            "misdirect" => FaultKind::Misdirect,
            "link" => FaultKind::Link,
            _ => {
                return Err(format!(
                    "--ce-fault: unknown kind {kind} (hang, error, semaphore, misdirect, link)"
                ))
            }
        };
        let after = n.parse().map_err(|e| format!("--ce-fault: {e}"))?;
        Ok(Self { kind, after })
    }
}

/// One channel entry of a submitted runlist.
#[derive(Clone, Copy, Debug)]
struct Entry {
    chid: u32,
    tsg: Option<u32>,
    /// Volta/Turing: the instance block and USERD the entry names.
    inst: Option<Phys>,
    userd: Option<Phys>,
}

#[derive(Clone, Debug, Default)]
struct Runlist {
    /// Pascal/Volta `NV_PFIFO_ENG_RUNLIST_BASE`/`NV_PFIFO_ENG_RUNLIST`; Turing `BASE_LO`/`BASE_HI`
    /// and `SUBMIT`.
    base: u32,
    base_hi: u32,
    submit: u32,
    entries: Vec<Entry>,
}

/// What a channel's execution keeps between GPFIFO entries.
#[derive(Clone, Debug, Default)]
struct Context {
    gp_get: u32,
    classes: [Option<u32>; 8],
    ce: CeState,
    /// Volta/Turing: the method buffer passed its check (and was logged) since the bind.
    method_buffer: bool,
}

#[derive(Clone, Debug, Default)]
struct Channel {
    /// `NV_PCCSR_CHANNEL_INST`.
    inst: u32,
    enabled: bool,
    next: bool,
    pbdma_faulted: bool,
    eng_faulted: bool,
    /// Volta/Turing: a doorbell came and the channel has not caught up since.
    doorbell: bool,
    /// The channel's engine hung under it.
    hung: bool,
    context: Option<Context>,
}

/// Copy engine totals for the END line.
#[derive(Debug, Default)]
pub struct Stats {
    pub launches: u64,
    pub copied: u64,
    pub filled: u64,
    pub semaphores: u64,
    pub faults: u64,
}

/// Why a GPFIFO entry did not complete.
enum Stop {
    /// Host error: PBDMA_FAULTED.
    Pbdma(String),
    /// Engine error: ENG_FAULTED.
    Eng(String),
    /// An injected error (already logged): PBDMA_FAULTED.
    Injected,
    /// The engine hung (injected, already logged).
    Hang,
}

pub struct Fifo {
    board: &'static Board,
    engines: Vec<Engine>,
    fault: Option<CeFault>,
    pmc_enable: u32,
    niso_flush: u32,
    bar1_base: u32,
    /// `NV_PBUS_BAR2_BLOCK`: the instance block whose page tables BAR2 (and so the method buffer's
    /// address) goes through.
    pub bar2_block: u32,
    /// Pascal/Volta `NV_PFIFO_RUNLIST_BASE` and `NV_PFIFO_RUNLIST`.
    runlist_base: u32,
    runlist_submit: u32,
    runlists: Vec<Runlist>,
    channels: Vec<Channel>,
    /// `NV_PFIFO_PREEMPT` ID and TYPE, and whether it is still pending.
    preempt: u32,
    preempt_pending: bool,
    /// Turing `NV_CTRL_VIRTUAL_CHANNEL_CFG(i)`: doorbells need PENDING_ENABLE (bit 31) in entry 0.
    vchan_cfg: Vec<u32>,
    engine_hung: bool,
    /// A `link` fault fired: the board's link must go down ([`Self::take_link_fault`]).
    link_fault: bool,
    /// The MMU's TLBs hold translations no driver of this boot made (`--leftovers`): every GPU
    /// virtual address faults until an invalidate of all PDBs.
    tlb_stale: bool,
    /// `NV_PFB_PRI_MMU_INVALIDATE_PDB`/`_UPPER_PDB` (Turing: 0xB830A0/A4), kept.
    invalidate_pdb: [u32; 2],
    /// The MMU hung ([`Self::hang_mmu`]): no invalidate completes or takes effect until a reset.
    mmu_hung: bool,
    /// `NV_PPBDMA_TIMEOUT(i)`.
    pbdma_timeout: Vec<u32>,
    pub stats: Stats,
}

/// `NV_PPBDMA_TIMEOUT_PERIOD_INIT` (dev_pbdma.ref.txt).
const PBDMA_TIMEOUT_INIT: u32 = 0x0001_0000;
/// The instance block a previous driver left channel 0 bound to (`--leftovers`).
const LEFTOVER_INSTANCE: u32 = (1 << 31) | (0x0002_0000 >> 12);

/// Log lines an engine action produced (`REJECT ...` ones count as refusals).
pub type Lines = Vec<String>;

impl Fifo {
    /// Whether a `link` fault fired since the last call.
    pub fn take_link_fault(&mut self) -> bool {
        std::mem::take(&mut self.link_fault)
    }

    pub fn new(board: &'static Board, fault: Option<CeFault>, leftovers: bool) -> Self {
        let runlists = match board.generation() {
            Generation::Pascal | Generation::Volta => 13,
            Generation::Turing => 11,
            Generation::Ampere => 0,
        };
        let mut fifo = Self {
            board,
            engines: top::engines(board),
            fault,
            pmc_enable: PMC_ENABLE_RESET,
            niso_flush: 0,
            bar1_base: 0,
            bar2_block: 0,
            runlist_base: 0,
            runlist_submit: 0,
            runlists: vec![Runlist::default(); runlists],
            channels: vec![Channel::default(); CHANNELS as usize],
            preempt: 0,
            preempt_pending: false,
            vchan_cfg: vec![0xfff; 64],
            engine_hung: false,
            link_fault: false,
            tlb_stale: false,
            invalidate_pdb: [0; 2],
            mmu_hung: false,
            pbdma_timeout: vec![PBDMA_TIMEOUT_INIT; pbdmas(board.generation()) as usize],
            stats: Stats::default(),
        };
        if leftovers {
            fifo.leave_leftovers();
        }
        fifo
    }

    /// What a previous driver that did not clean up leaves (`--leftovers`): PFIFO and every copy
    /// engine out of reset, channel 0 bound to an instance block of its own, enabled and
    /// PBDMA_FAULTED, on every copy engine's runlist, Pascal's USERD window valid, and TLBs
    /// holding its translations. Only a PFIFO reset clears the PFIFO state, and only an MMU
    /// invalidate the TLBs.
    fn leave_leftovers(&mut self) {
        self.pmc_enable |= PMC_PFIFO;
        for e in self.engines.iter().filter(|e| e.is_copy()) {
            self.pmc_enable |= 1 << e.reset;
            self.runlists[e.runlist as usize].entries = vec![Entry {
                chid: 0,
                tsg: Some(0),
                inst: Some(inst_phys(LEFTOVER_INSTANCE)),
                userd: Some(Phys(Aperture::Vid, 0x2_1000)),
            }];
        }
        let ch = &mut self.channels[0];
        ch.inst = LEFTOVER_INSTANCE;
        ch.enabled = true;
        ch.pbdma_faulted = true;
        if self.generation() == Generation::Pascal {
            self.bar1_base = (1 << 28) | (0x2_1000 >> 12);
        }
        self.tlb_stale = true;
    }

    /// A PFIFO reset (`NV_PMC_ENABLE` bit 8 cleared): every PFIFO register and channel back to
    /// its reset value (dev_fifo.ref.txt gives them all reset values).
    fn reset_pfifo(&mut self) {
        self.bar1_base = 0;
        self.runlist_base = 0;
        self.runlist_submit = 0;
        for rl in &mut self.runlists {
            *rl = Runlist::default();
        }
        for ch in &mut self.channels {
            *ch = Channel::default();
        }
        self.preempt = 0;
        self.preempt_pending = false;
        self.pbdma_timeout.fill(PBDMA_TIMEOUT_INIT);
    }

    fn generation(&self) -> Generation {
        self.board.generation()
    }

    /// The copy engine serving runlist `id`.
    fn engine_of(&self, runlist: u32) -> Option<Engine> {
        self.engines
            .iter()
            .copied()
            .find(|e| e.is_copy() && e.runlist == runlist)
    }

    /// The registers of this subsystem, if the board's generation has one at `offset`.
    pub fn register(&self, offset: u32) -> Option<Register> {
        let gen = self.generation();
        if gen == Generation::Ampere {
            return None;
        }
        let pre_turing = gen != Generation::Turing;
        let nrl = self.runlists.len() as u32;
        let npbdma = self.pbdma_timeout.len() as u32;
        match offset {
            0x0000_0200 => rw("NV_PMC_ENABLE", self.pmc_enable),
            0x0002_2700..=0x0002_27fc if offset % 4 == 0 => ro(
                "NV_PTOP_DEVICE_INFO",
                top::device_info(self.board)[(offset as usize - 0x2_2700) / 4],
            ),
            0x0010_0c10 => rw("NV_PFB_NISO_FLUSH_SYSMEM_ADDR", self.niso_flush),
            // NV_PFB_PRI_MMU_CTRL: nouveau's `gf100_vmm_invalidate` waits for PRI_FIFO_SPACE
            // (23:16) and PRI_FIFO_EMPTY (15); an invalidate completes at once here.
            // A hung MMU keeps room for the request but never empties its FIFO.
            0x0010_0c80 => ro(
                "NV_PFB_PRI_MMU_CTRL",
                if self.mmu_hung {
                    0x00ff_0000
                } else {
                    0x00ff_8000
                },
            ),
            0x0010_0cb8 => rw("NV_PFB_PRI_MMU_INVALIDATE_PDB", self.invalidate_pdb[0]),
            0x0010_0cec => rw(
                "NV_PFB_PRI_MMU_INVALIDATE_UPPER_PDB",
                self.invalidate_pdb[1],
            ),
            // TRIGGER reads 0: the invalidate is done (never, on a hung MMU).
            0x0010_0cbc if pre_turing => rw("NV_PFB_PRI_MMU_INVALIDATE", self.invalidate_pending()),
            // Turing lists it too, but nouveau invalidates through 0xB830B0 there: no effect.
            0x0010_0cbc => rw("NV_PFB_PRI_MMU_INVALIDATE (no effect on TU10x)", 0),
            0x00b8_30a0 if !pre_turing => rw(
                "NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE_PDB",
                self.invalidate_pdb[0],
            ),
            0x00b8_30a4 if !pre_turing => rw(
                "NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE_UPPER_PDB",
                self.invalidate_pdb[1],
            ),
            0x00b8_30b0 if !pre_turing => rw(
                "NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE",
                self.invalidate_pending(),
            ),
            // NV_PFIFO_CFG0 (Volta, Turing manuals): NUM_PBDMA; NV_PFIFO_CFG1: NUM_CHANNELS
            // (nouveau reads it on Maxwell and Pascal too).
            0x0000_2004 if gen != Generation::Pascal => ro("NV_PFIFO_CFG0", npbdma),
            0x0000_2008 => ro("NV_PFIFO_CFG1", 4096),
            // NV_PFIFO_ENGINE_STATUS(i) for each host engine: ENGINE (31) BUSY while a copy engine
            // hangs, else idle.
            0x0000_2640..=0x0000_26b0
                if offset % 8 == 0
                    && self
                        .engines
                        .iter()
                        .any(|e| e.engine == (offset - 0x2640) / 8) =>
            {
                let id = (offset - 0x2640) / 8;
                let hung =
                    self.engine_hung && self.engines.iter().any(|e| e.engine == id && e.is_copy());
                ro("NV_PFIFO_ENGINE_STATUS", u32::from(hung) << 31)
            }
            // NV_PFB_PRI_MMU_FAULT_STATUS (Volta, Turing): no MMU fault is modelled.
            0x0010_0e60 if gen != Generation::Pascal => ro("NV_PFB_PRI_MMU_FAULT_STATUS", 0),
            // NV_PFIFO_PBDMA_MAP(i): the model's PBDMA i serves runlist i.
            0x0000_2390..=0x0000_23c4 if (offset - 0x2390) / 4 < npbdma && offset % 4 == 0 => {
                ro("NV_PFIFO_PBDMA_MAP", 1 << ((offset - 0x2390) / 4))
            }
            0x0004_0000..=0x0005_bfff
                if (offset - 0x4_0000) / 0x2000 < npbdma && offset % 0x2000 == 0x12c =>
            {
                let i = (offset - 0x4_0000) / 0x2000;
                rw("NV_PPBDMA_TIMEOUT", self.pbdma_timeout[i as usize])
            }
            0x0004_0000..=0x0005_bfff
                if (offset - 0x4_0000) / 0x2000 < npbdma && offset % 0x2000 == 0x108 =>
            {
                ro("NV_PPBDMA_INTR_0", 0)
            }
            0x0000_2254 if gen == Generation::Pascal => rw("NV_PFIFO_BAR1_BASE", self.bar1_base),
            0x0000_2270 if pre_turing => rw("NV_PFIFO_RUNLIST_BASE", self.runlist_base),
            0x0000_2274 if pre_turing => rw("NV_PFIFO_RUNLIST", self.runlist_submit),
            0x0000_2280..=0x0000_22ff if pre_turing && (offset - 0x2280) / 8 < nrl => {
                let rl = &self.runlists[((offset - 0x2280) / 8) as usize];
                if offset % 8 == 0 {
                    ro("NV_PFIFO_ENG_RUNLIST_BASE", rl.base)
                } else if offset % 8 == 4 {
                    // PENDING (bit 20) is never seen: a submission completes at once.
                    ro("NV_PFIFO_ENG_RUNLIST", rl.submit & 0xffff)
                } else {
                    None
                }
            }
            0x0000_2b00..=0x0000_2bff if !pre_turing && (offset - 0x2b00) / 16 < nrl => {
                let rl = &self.runlists[((offset - 0x2b00) / 16) as usize];
                match offset % 16 {
                    0 => rw("NV_PFIFO_RUNLIST_BASE_LO", rl.base),
                    4 => rw("NV_PFIFO_RUNLIST_BASE_HI", rl.base_hi),
                    8 => rw("NV_PFIFO_RUNLIST_SUBMIT", rl.submit),
                    12 => ro("NV_PFIFO_RUNLIST_SUBMIT_INFO", 0),
                    _ => None,
                }
            }
            0x0000_2634 => rw(
                "NV_PFIFO_PREEMPT",
                self.preempt | (u32::from(self.preempt_pending) << 20),
            ),
            0x0080_0000..=0x0080_ffff if (offset - 0x80_0000) / 8 < CHANNELS => {
                let ch = &self.channels[((offset - 0x80_0000) / 8) as usize];
                match offset % 8 {
                    0 => rw("NV_PCCSR_CHANNEL_INST", ch.inst),
                    4 => rw("NV_PCCSR_CHANNEL", self.pccsr_channel(ch)),
                    _ => None,
                }
            }
            0x0081_0090 if gen == Generation::Volta => wo("NV_USERMODE_NOTIFY_CHANNEL_PENDING"),
            0x00bb_0090 if gen == Generation::Turing => wo("NV_VIRTUAL_FUNCTION_DOORBELL"),
            0x00b6_5000..=0x00b6_50fc if gen == Generation::Turing && offset % 4 == 0 => rw(
                "NV_CTRL_VIRTUAL_CHANNEL_CFG",
                self.vchan_cfg[(offset as usize - 0xb6_5000) / 4],
            ),
            _ => None,
        }
    }

    /// `NV_PCCSR_CHANNEL` as read: ENABLE, NEXT, the fault bits, STATUS and BUSY.
    fn pccsr_channel(&self, ch: &Channel) -> u32 {
        let status = if ch.hung {
            // ON_ENG, BUSY.
            (7 << 24) | (1 << 28)
        } else if ch.doorbell && ch.enabled {
            // PENDING.
            1 << 24
        } else {
            0
        };
        u32::from(ch.enabled)
            | (u32::from(ch.next) << 1)
            | (u32::from(ch.pbdma_faulted) << 22)
            | (u32::from(ch.eng_faulted) << 23)
            | status
    }

    /// A write to one of this subsystem's writable registers: the lines to log after it, or why it
    /// is refused.
    pub fn write(&mut self, offset: u32, v: u32, mem: &mut Mem) -> Result<Lines, String> {
        let mut lines = Vec::new();
        match offset {
            0x0000_0200 => self.write_pmc_enable(v, &mut lines),
            0x0010_0c10 => self.niso_flush = v,
            0x0010_0cb8 | 0x00b8_30a0 => self.invalidate_pdb[0] = v,
            0x0010_0cec | 0x00b8_30a4 => self.invalidate_pdb[1] = v,
            0x0010_0cbc | 0x00b8_30b0 => {
                let live = self.live_invalidate(offset);
                if live && v >> 31 == 1 && v & 1 == 0 {
                    return Err(
                        "a targeted invalidate (ALL_VA clear) is not modelled; nouveau always sets ALL_VA (PAGE_ALL)"
                            .into(),
                    );
                }
                // TRIGGER 31 with ALL_VA (0) and ALL_PDB (1) drops every cached translation.
                if live && v >> 31 == 1 && v & 3 == 3 && self.tlb_stale && !self.mmu_hung {
                    self.tlb_stale = false;
                    lines.push("MMU TLB invalidated (all PDBs)".into());
                }
            }
            0x0004_0000..=0x0005_bfff => {
                self.pbdma_timeout[((offset - 0x4_0000) / 0x2000) as usize] = v
            }
            0x0000_2254 => {
                // PTR 27:0 (the USERD area's BAR1 offset >> 12) and VALID 28.
                if v & !0x1fff_ffff != 0 {
                    return Err("undefined NV_PFIFO_BAR1_BASE bits".into());
                }
                self.bar1_base = v;
            }
            0x0000_2270 => {
                if v & 0xc000_0000 != 0 || (v >> 28) & 3 == 1 {
                    return Err("undefined NV_PFIFO_RUNLIST_BASE bits".into());
                }
                self.runlist_base = v;
            }
            0x0000_2274 => {
                if v & !0x00f0_ffff != 0 {
                    return Err("undefined NV_PFIFO_RUNLIST bits".into());
                }
                let id = (v >> 20) & 0xf;
                let base = Phys(
                    Aperture::from_target((self.runlist_base >> 28) & 3).expect("checked"),
                    u64::from(self.runlist_base & 0x0fff_ffff) << 12,
                );
                lines.push(self.submit(id, base, v & 0xffff, mem)?);
                let rl = &mut self.runlists[id as usize];
                rl.base = self.runlist_base;
                rl.submit = v & 0xffff;
                self.runlist_submit = v;
            }
            0x0000_2b00..=0x0000_2bff => {
                let id = ((offset - 0x2b00) / 16) as usize;
                match offset % 16 {
                    0 => {
                        if v & 0xffc != 0 || v & 3 == 1 {
                            return Err("undefined NV_PFIFO_RUNLIST_BASE_LO bits".into());
                        }
                        self.runlists[id].base = v;
                    }
                    4 => {
                        if v & !0xff != 0 {
                            return Err("undefined NV_PFIFO_RUNLIST_BASE_HI bits".into());
                        }
                        self.runlists[id].base_hi = v;
                    }
                    _ => {
                        if v >> 16 != 0 {
                            return Err("a runlist OFFSET is not modelled".into());
                        }
                        let rl = &self.runlists[id];
                        let base = Phys(
                            Aperture::from_target(rl.base & 3).expect("checked"),
                            (u64::from(rl.base_hi) << 32) | u64::from(rl.base & !0xfff),
                        );
                        lines.push(self.submit(id as u32, base, v, mem)?);
                        self.runlists[id].submit = v;
                    }
                }
            }
            0x0000_2634 => {
                if v & !0x0300_0fff != 0 || (v >> 24) & 3 > 1 {
                    return Err("undefined NV_PFIFO_PREEMPT bits".into());
                }
                self.preempt = v;
                lines.push(self.preempt(v & 0xfff, (v >> 24) & 3 == 1));
            }
            0x0080_0000..=0x0080_ffff => {
                let chid = (offset - 0x80_0000) / 8;
                if offset % 8 == 0 {
                    lines.push(self.write_inst(chid, v)?);
                } else {
                    self.write_channel(chid, v, &mut lines)?;
                }
            }
            0x0081_0090 => lines.push(self.doorbell(v, None)?),
            0x00bb_0090 => {
                // Nouveau sets PENDING_ENABLE because, without it, doorbells do nothing.
                if self.vchan_cfg[0] >> 31 == 0 {
                    return Err(
                        "NV_CTRL_VIRTUAL_CHANNEL_CFG(0) PENDING_ENABLE is clear: doorbells are off"
                            .into(),
                    );
                }
                lines.push(self.doorbell(v & 0xffff, Some(v >> 16))?);
            }
            0x00b6_5000..=0x00b6_50fc => {
                // MASK 11:0, SET 27:16, PENDING_ENABLE 31.
                if v & !0x8fff_0fff != 0 {
                    return Err("undefined NV_CTRL_VIRTUAL_CHANNEL_CFG bits".into());
                }
                self.vchan_cfg[(offset as usize - 0xb6_5000) / 4] = v;
            }
            _ => unreachable!("not a writable PFIFO register"),
        }
        Ok(lines)
    }

    fn write_pmc_enable(&mut self, v: u32, lines: &mut Lines) {
        let was = self.pmc_enable;
        self.pmc_enable = v;
        if was & PMC_PFIFO != 0 && v & PMC_PFIFO == 0 {
            self.reset_pfifo();
            lines.push("FIFO reset: runlists, channels and USERD base cleared".into());
        }
        for e in self.engines.iter().filter(|e| e.is_copy()) {
            let on = |x: u32| x & PMC_PFIFO != 0 && x & (1 << e.reset) != 0;
            if on(was) && !on(v) {
                lines.push(format!("FIFO runlist {} engine stopped", e.runlist));
            }
            if on(v) && !on(was) {
                lines.push(format!("FIFO runlist {} engine enabled", e.runlist));
            }
            if v & (1 << e.reset) == 0 && was & (1 << e.reset) != 0 {
                // An engine reset takes the hung channel off it and lets a stuck preempt finish.
                for ch in &mut self.channels {
                    ch.hung = false;
                }
                if self.preempt_pending {
                    self.preempt_pending = false;
                    lines.push("FIFO preempt completed by the engine reset".into());
                }
            }
        }
    }

    /// Reads a runlist from memory as the chip's format has it.
    fn submit(&mut self, id: u32, base: Phys, len: u32, mem: &Mem) -> Result<String, String> {
        if id as usize >= self.runlists.len() {
            return Err(format!("runlist {id} does not exist"));
        }
        if len != 0 && self.engine_of(id).is_none() {
            return Err(format!("runlist {id} serves no copy engine (not modelled)"));
        }
        let mut entries = Vec::new();
        let read = |i: u32, size: u32, w: &mut [u32]| -> Result<(), String> {
            for (k, word) in w.iter_mut().enumerate() {
                let at = Phys(base.0, base.1 + u64::from(i * size) + 4 * k as u64);
                *word = mem.read32(at).map_err(|e| format!("runlist {id}: {e}"))?;
            }
            Ok(())
        };
        if self.generation() == Generation::Pascal {
            let mut tsg = None;
            for i in 0..len {
                let mut w = [0; 2];
                read(i, 8, &mut w)?;
                if w[0] & (1 << 13) != 0 {
                    tsg = Some(w[0] & 0xfff);
                } else {
                    entries.push(self.entry(id, w[0] & 0xfff, tsg, None, None)?);
                }
            }
        } else {
            let mut in_tsg = (None, 0);
            for i in 0..len {
                let mut w = [0; 4];
                read(i, 16, &mut w)?;
                if w[0] & 1 == 1 {
                    let n = w[1] & 0xff;
                    if n == 0 || n > 128 {
                        return Err(format!("runlist {id}: TSG_LENGTH {n}"));
                    }
                    in_tsg = (Some(w[2] & 0xfff), n);
                    continue;
                }
                let (Some(tsg), n @ 1..) = in_tsg else {
                    return Err(format!("runlist {id}: channel entry {i} outside a TSG"));
                };
                in_tsg = (Some(tsg), n - 1);
                let target = |t: u32, what: &str| {
                    Aperture::from_target(t)
                        .ok_or(format!("runlist {id}: entry {i} {what} target {t}"))
                };
                let inst = Phys(
                    target((w[0] >> 4) & 3, "instance")?,
                    (u64::from(w[3]) << 32) | u64::from(w[2] & !0xfff),
                );
                let userd = Phys(
                    target((w[0] >> 6) & 3, "USERD")?,
                    (u64::from(w[1]) << 32) | u64::from(w[0] & !0xff),
                );
                let chid = w[2] & 0xfff;
                entries.push(self.entry(id, chid, Some(tsg), Some(inst), Some(userd))?);
            }
            if in_tsg.1 != 0 {
                return Err(format!("runlist {id}: TSG shorter than its TSG_LENGTH"));
            }
        }
        let chans: Vec<String> = entries.iter().map(|e| e.chid.to_string()).collect();
        let line = format!(
            "FIFO runlist {id} submitted: {base} {len} entries, channels [{}]",
            chans.join(" ")
        );
        self.runlists[id as usize].entries = entries;
        Ok(line)
    }

    fn entry(
        &self,
        id: u32,
        chid: u32,
        tsg: Option<u32>,
        inst: Option<Phys>,
        userd: Option<Phys>,
    ) -> Result<Entry, String> {
        if chid >= CHANNELS {
            return Err(format!(
                "runlist {id}: channel {chid} (the model has {CHANNELS})"
            ));
        }
        Ok(Entry {
            chid,
            tsg,
            inst,
            userd,
        })
    }

    fn preempt(&mut self, id: u32, tsg: bool) -> String {
        let hit = |e: &Entry| {
            if tsg {
                e.tsg == Some(id)
            } else {
                e.chid == id
            }
        };
        let targets: Vec<u32> = self
            .runlists
            .iter()
            .flat_map(|rl| rl.entries.iter().filter(|e| hit(e)).map(|e| e.chid))
            .collect();
        let what = if tsg { "TSG" } else { "channel" };
        // Hardware finishes a preempt when the engine saves the context; a hung engine never does.
        if targets.iter().any(|&c| self.channels[c as usize].hung) {
            self.preempt_pending = true;
            format!("FIFO preempt {what} {id} pending: the engine is hung")
        } else {
            format!("FIFO preempt {what} {id} done")
        }
    }

    fn write_inst(&mut self, chid: u32, v: u32) -> Result<String, String> {
        if v & (1 << 30) != 0 || (v >> 28) & 3 == 1 {
            return Err("undefined NV_PCCSR_CHANNEL_INST bits".into());
        }
        let ch = &mut self.channels[chid as usize];
        ch.inst = v;
        ch.context = None;
        Ok(if v >> 31 == 1 {
            format!("FIFO channel {chid} bound: instance {}", inst_phys(v))
        } else {
            format!("FIFO channel {chid} unbound")
        })
    }

    fn write_channel(&mut self, chid: u32, v: u32, lines: &mut Lines) -> Result<(), String> {
        // NEXT 1, FORCE_CTX_RELOAD 8, ENABLE_SET 10, ENABLE_CLR 11, the fault resets 22 and 23.
        if v & !0x00c0_0d02 != 0 {
            return Err("undefined or read-only NV_PCCSR_CHANNEL bits".into());
        }
        let (set, clr) = ((v >> 10) & 1 == 1, (v >> 11) & 1 == 1);
        if set && clr {
            return Err("ENABLE_SET and ENABLE_CLR together".into());
        }
        let ch = &mut self.channels[chid as usize];
        ch.next = (v >> 1) & 1 == 1;
        if set && !ch.enabled {
            ch.enabled = true;
            lines.push(format!("FIFO channel {chid} enabled"));
        }
        if clr && ch.enabled {
            ch.enabled = false;
            lines.push(format!("FIFO channel {chid} disabled"));
        }
        if (v >> 22) & 1 == 1 && ch.pbdma_faulted {
            ch.pbdma_faulted = false;
            lines.push(format!("FIFO channel {chid} PBDMA_FAULTED reset"));
        }
        if (v >> 23) & 1 == 1 && ch.eng_faulted {
            ch.eng_faulted = false;
            lines.push(format!("FIFO channel {chid} ENG_FAULTED reset"));
        }
        Ok(())
    }

    fn doorbell(&mut self, chid: u32, runlist: Option<u32>) -> Result<String, String> {
        if chid >= CHANNELS {
            return Err(format!(
                "doorbell for channel {chid} (the model has {CHANNELS})"
            ));
        }
        if let Some(rl) = runlist {
            let on = self
                .runlists
                .get(rl as usize)
                .is_some_and(|r| r.entries.iter().any(|e| e.chid == chid));
            if !on {
                return Err(format!(
                    "doorbell names runlist {rl}, which does not hold channel {chid}"
                ));
            }
        }
        self.channels[chid as usize].doorbell = true;
        Ok(match runlist {
            Some(rl) => format!("FIFO doorbell runlist {rl} channel {chid}"),
            None => format!("FIFO doorbell channel {chid}"),
        })
    }

    /// Runs at most one GPFIFO entry of one channel that has work. Returns the lines to log and
    /// whether anything ran (the worker then looks again at once).
    pub fn service(&mut self, mem: &mut Mem) -> (Lines, bool) {
        let mut lines = Vec::new();
        if self.engine_hung || self.pmc_enable & PMC_PFIFO == 0 {
            return (lines, false);
        }
        let polled = self.generation() == Generation::Pascal;
        let mut ready = Vec::new();
        for (id, rl) in self.runlists.iter().enumerate() {
            let Some(engine) = self.engine_of(id as u32) else {
                continue;
            };
            if self.pmc_enable & (1 << engine.reset) == 0 {
                continue;
            }
            for e in &rl.entries {
                let ch = &self.channels[e.chid as usize];
                let runnable = ch.inst >> 31 == 1
                    && ch.enabled
                    && !ch.pbdma_faulted
                    && !ch.eng_faulted
                    && (polled || ch.doorbell);
                if runnable {
                    ready.push(*e);
                }
            }
        }
        for e in ready {
            match self.step(e, mem, &mut lines) {
                Ok(true) => return (lines, true),
                Ok(false) => self.channels[e.chid as usize].doorbell = false,
                Err(stop) => {
                    self.stop(e.chid, stop, &mut lines);
                    return (lines, true);
                }
            }
        }
        (lines, false)
    }

    fn stop(&mut self, chid: u32, stop: Stop, lines: &mut Lines) {
        let ch = &mut self.channels[chid as usize];
        match stop {
            Stop::Pbdma(why) => {
                lines.push(format!("REJECT PBDMA channel {chid}: {why}"));
                lines.push(format!("FIFO channel {chid} PBDMA_FAULTED"));
                ch.pbdma_faulted = true;
            }
            Stop::Eng(why) => {
                lines.push(format!("REJECT CE channel {chid}: {why}"));
                lines.push(format!("FIFO channel {chid} ENG_FAULTED"));
                ch.eng_faulted = true;
            }
            Stop::Injected => {
                lines.push(format!("FIFO channel {chid} PBDMA_FAULTED"));
                ch.pbdma_faulted = true;
            }
            Stop::Hang => ch.hung = true,
        }
        self.stats.faults += 1;
    }

    /// Runs the next GPFIFO entry of the channel `e` names; false when it has none.
    fn step(&mut self, e: Entry, mem: &mut Mem, lines: &mut Lines) -> Result<bool, Stop> {
        let host = |r: Result<u32, String>| r.map_err(Stop::Pbdma);
        let chid = e.chid;
        let pccsr = self.channels[chid as usize].inst;
        let inst = inst_phys(pccsr);
        if let Some(rl_inst) = e.inst {
            if rl_inst != inst {
                return Err(Stop::Pbdma(format!(
                    "runlist entry names instance {rl_inst}, NV_PCCSR_CHANNEL_INST {inst}"
                )));
            }
        }
        let at = |off: u64| Phys(inst.0, inst.1 + off);
        let signature = host(mem.read32(at(0x10)))?;
        if signature & 0xffff != 0xface {
            return Err(Stop::Pbdma(format!(
                "RAMFC signature {signature:#x} is not 0xface"
            )));
        }
        let userd = self.userd(e, host(mem.read32(at(0x08)))?, host(mem.read32(at(0x0c)))?)?;
        let gp_lo = host(mem.read32(at(0x48)))?;
        let gp_hi = host(mem.read32(at(0x4c)))?;
        if gp_lo & 7 != 0 || gp_hi & !0x001f_00ff != 0 {
            return Err(Stop::Pbdma(format!(
                "RAMFC GP_BASE {gp_lo:#x} {gp_hi:#x}: undefined bits"
            )));
        }
        let gp_base = (u64::from(gp_hi & 0xff) << 32) | u64::from(gp_lo);
        let entries = 1u32 << ((gp_hi >> 16) & 0x1f);
        let vm = self.vm(mem, inst).map_err(Stop::Pbdma)?;
        if self.channels[chid as usize].context.is_none() {
            let gp_get = host(mem.read32(at(0x14)))?;
            self.channels[chid as usize].context = Some(Context {
                gp_get,
                ..Context::default()
            });
        }
        let gp_put = host(mem.read32(Phys(userd.0, userd.1 + 0x8c)))?;
        let mut ctx = self.channels[chid as usize].context.take().expect("loaded");
        let result = self.run_entry(chid, &mut ctx, gp_base, entries, gp_put, &vm, mem, lines);
        if let Ok(true) = result {
            ctx.gp_get = (ctx.gp_get + 1) % entries;
            host(
                mem.write32(Phys(userd.0, userd.1 + 0x88), ctx.gp_get)
                    .map(|()| 0),
            )?;
        }
        self.channels[chid as usize].context = Some(ctx);
        result
    }

    /// The channel's USERD: Pascal's is its 512-byte slot in the `NV_PFIFO_BAR1_BASE` area (BAR1 is
    /// physical, so that is a VRAM address); Volta's and Turing's are named by the runlist entry.
    /// RAMFC's copy must agree.
    fn userd(&self, e: Entry, lo: u32, hi: u32) -> Result<Phys, Stop> {
        if lo & 0x1fc != 0 {
            return Err(Stop::Pbdma(format!("RAMFC USERD {lo:#x}: undefined bits")));
        }
        let ramfc = Phys(
            Aperture::from_target(lo & 3)
                .ok_or(Stop::Pbdma(format!("RAMFC USERD target {}", lo & 3)))?,
            (u64::from(hi) << 32) | u64::from(lo & !0x1ff),
        );
        let expected = match e.userd {
            Some(p) => p,
            None => {
                if self.bar1_base >> 28 & 1 == 0 {
                    return Err(Stop::Pbdma("NV_PFIFO_BAR1_BASE is not valid".into()));
                }
                let base = u64::from(self.bar1_base & 0x0fff_ffff) << 12;
                Phys(Aperture::Vid, base + u64::from(e.chid) * 0x200)
            }
        };
        if ramfc != expected {
            return Err(Stop::Pbdma(format!(
                "RAMFC USERD {ramfc} is not the channel's USERD {expected}"
            )));
        }
        Ok(expected)
    }

    /// Whether `offset` is the MMU invalidate register that acts on this chip: 0x100CBC up to
    /// Volta, 0xB830B0 on Turing (nouveau `gf100_vmm_invalidate`, `tu102_vmm_flush`).
    pub fn live_invalidate(&self, offset: u32) -> bool {
        match offset {
            0x0010_0cbc => self.generation() != Generation::Turing,
            0x00b8_30b0 => self.generation() == Generation::Turing,
            _ => false,
        }
    }

    /// The MMU hangs, as when its PRI FIFO stalls: every later invalidate stays pending (TRIGGER
    /// reads 1, `NV_PFB_PRI_MMU_CTRL` never reads PRI_FIFO_EMPTY) and drops nothing, until a
    /// reset.
    pub fn hang_mmu(&mut self) {
        self.mmu_hung = true;
    }

    /// Whether the MMU hung ([`Self::hang_mmu`]).
    pub fn mmu_hung(&self) -> bool {
        self.mmu_hung
    }

    /// What an invalidate register reads: TRIGGER (31) stays set on a hung MMU.
    fn invalidate_pending(&self) -> u32 {
        u32::from(self.mmu_hung) << 31
    }

    /// `..._MMU_INVALIDATE_PDB` and `_UPPER_PDB`.
    pub fn invalidate_pdb(&self) -> [u32; 2] {
        self.invalidate_pdb
    }

    /// The address space of the instance block at `inst`: `NV_RAMIN_PAGE_DIR_BASE` at +0x200,
    /// version-2 format.
    fn vm(&self, mem: &Mem, inst: Phys) -> Result<Vm, String> {
        if self.tlb_stale {
            return Err(
                "the MMU TLBs still hold a previous driver's translations (no invalidate of all PDBs since boot)"
                    .into(),
            );
        }
        Vm::from_instance(mem, inst, self.generation() == Generation::Pascal)
    }

    /// Volta/Turing: the buffer a faulting copy engine saves the channel's methods to, as nouveau
    /// sets it up (`gv100_ce_cclass_bind`, `gv100_ectx_ce_bind`): RAMIN
    /// `ENG_METHOD_BUFFER_ADDR_LO/HI` (+0x220/+0x224) a virtual address that BAR2's page tables
    /// map for the whole buffer, and RAMFC +0xAC bit 17 set. Returns the address and size.
    fn method_buffer(&self, inst: Phys, pce_map: u32, mem: &Mem) -> Result<(u64, u64), String> {
        let at = |off: u64| Phys(inst.0, inst.1 + off);
        let va = (u64::from(mem.read32(at(0x224))?) << 32) | u64::from(mem.read32(at(0x220))?);
        if va == 0 {
            return Err("no fault method buffer (instance +0x220/+0x224 is 0)".into());
        }
        if mem.read32(at(0xac))? & (1 << 17) == 0 {
            return Err("RAMFC +0xAC bit 17 (method buffer valid) is clear".into());
        }
        if self.bar2_block >> 31 == 0 {
            return Err(format!(
                "BAR2 is not bound in virtual mode (NV_PBUS_BAR2_BLOCK {:#010x}), so method buffer va:{va:#x} reaches nothing",
                self.bar2_block
            ));
        }
        let bar2 = self
            .vm(mem, inst_phys(self.bar2_block))
            .map_err(|e| format!("BAR2 instance block {}: {e}", inst_phys(self.bar2_block)))?;
        let size = method_buffer_size(pce_map);
        let mut page = [0; 4096];
        for (n, start) in (va & !0xfff..va.saturating_add(size))
            .step_by(4096)
            .enumerate()
        {
            mmu::translate(mem, &bar2, start)
                .and_then(|(p, _, _)| mem.read(p, &mut page))
                .map_err(|e| {
                    format!("method buffer va:{va:#x} is not mapped through BAR2 (page {n}): {e}")
                })?;
        }
        Ok((va, size))
    }

    #[allow(clippy::too_many_arguments)]
    fn run_entry(
        &mut self,
        chid: u32,
        ctx: &mut Context,
        gp_base: u64,
        entries: u32,
        gp_put: u32,
        vm: &Vm,
        mem: &mut Mem,
        lines: &mut Lines,
    ) -> Result<bool, Stop> {
        if gp_put >= entries {
            return Err(Stop::Pbdma(format!(
                "GP_PUT {gp_put} is beyond the {entries}-entry GPFIFO"
            )));
        }
        if ctx.gp_get == gp_put {
            return Ok(false);
        }
        let mut raw = [0u8; 8];
        let gp_va = gp_base + u64::from(ctx.gp_get) * 8;
        vm.read(mem, gp_va, &mut raw)
            .map_err(|e| Stop::Pbdma(format!("GPFIFO entry {}: {e}", ctx.gp_get)))?;
        let e0 = u32::from_le_bytes(raw[..4].try_into().expect("4 bytes"));
        let e1 = u32::from_le_bytes(raw[4..].try_into().expect("4 bytes"));
        let words = (e1 >> 10) & 0x1f_ffff;
        if words == 0 {
            // A control entry: only NOP is modelled.
            if e1 & 0xff != 0 {
                return Err(Stop::Pbdma(format!(
                    "GPFIFO entry {}: control opcode {} is not modelled",
                    ctx.gp_get,
                    e1 & 0xff
                )));
            }
            return Ok(true);
        }
        if e0 & 1 != 0 || (e1 >> 9) & 1 != 0 {
            return Err(Stop::Pbdma(format!(
                "GPFIFO entry {}: conditional fetch and subroutines are not modelled",
                ctx.gp_get
            )));
        }
        let va = (u64::from(e1 & 0xff) << 32) | u64::from(e0 & !3);
        lines.push(format!(
            "PBDMA channel {chid} GPFIFO {}: va:{va:#x} {words} words",
            ctx.gp_get
        ));
        let mut seg = vec![0u8; words as usize * 4];
        vm.read(mem, va, &mut seg)
            .map_err(|e| Stop::Pbdma(format!("push buffer: {e}")))?;
        let w: Vec<u32> = seg
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let mut pos = 0;
        while pos < w.len() {
            let h = w[pos];
            pos += 1;
            let count = ((h >> 16) & 0x1fff) as usize;
            let subc = ((h >> 13) & 7) as usize;
            let method = (h & 0xfff) * 4;
            let (data, step_after): (Vec<u32>, Option<usize>) = match h >> 29 {
                1 | 3 | 5 => {
                    let Some(d) = w.get(pos..pos + count) else {
                        return Err(Stop::Pbdma(format!(
                            "method header {h:#010x}: {count} data words run past the segment"
                        )));
                    };
                    pos += count;
                    let after = match h >> 29 {
                        1 => None,
                        3 => Some(0),
                        _ => Some(1),
                    };
                    (d.to_vec(), after)
                }
                4 => (vec![count as u32], None),
                op => {
                    return Err(Stop::Pbdma(format!(
                        "method header {h:#010x}: SEC_OP {op} is not modelled"
                    )))
                }
            };
            for (i, &d) in data.iter().enumerate() {
                let m = match step_after {
                    None => method + 4 * i as u32,
                    Some(0) => method,
                    Some(_) => method + if i == 0 { 0 } else { 4 },
                };
                self.method(chid, ctx, subc, m, d, vm, mem, lines)?;
            }
        }
        Ok(true)
    }

    /// One method: host methods below 0x100, the bound class's above.
    #[allow(clippy::too_many_arguments)]
    fn method(
        &mut self,
        chid: u32,
        ctx: &mut Context,
        subc: usize,
        method: u32,
        data: u32,
        vm: &Vm,
        mem: &mut Mem,
        lines: &mut Lines,
    ) -> Result<(), Stop> {
        let class = self.board.ce_class();
        if method < 0x100 {
            return match method {
                0x0 => {
                    if data != class {
                        return Err(Stop::Pbdma(format!(
                            "SET_OBJECT {data:#x} on subchannel {subc}: the copy engine is class {class:#x}"
                        )));
                    }
                    ctx.classes[subc] = Some(data);
                    Ok(())
                }
                // NVC?6F_NOP.
                0x8 => Ok(()),
                _ => Err(Stop::Pbdma(format!(
                    "host method {method:#x} is not modelled"
                ))),
            };
        }
        if ctx.classes[subc].is_none() {
            return Err(Stop::Pbdma(format!(
                "method {method:#x} on subchannel {subc}, which has no class bound"
            )));
        }
        if method != LAUNCH_DMA {
            return ctx.ce.set(class, method, data).map_err(Stop::Eng);
        }
        if let Some(pce_map) = self.board.pce_map() {
            let inst = inst_phys(self.channels[chid as usize].inst);
            let (va, size) = self.method_buffer(inst, pce_map, mem).map_err(Stop::Eng)?;
            if !ctx.method_buffer {
                ctx.method_buffer = true;
                lines.push(format!(
                    "FIFO channel {chid} method buffer va:{va:#x} ({size} bytes) through BAR2"
                ));
            }
        }
        let launch = self.stats.launches + 1;
        let mut corrupt = false;
        let mut misdirect = false;
        if let Some(f) = self.fault.filter(|f| self.stats.launches >= f.after) {
            match f.kind {
                FaultKind::Hang => {
                    self.engine_hung = true;
                    lines.push(format!(
                        "FAULT hang: the copy engine stops at launch {launch} (channel {chid})"
                    ));
                    return Err(Stop::Hang);
                }
                FaultKind::Error => {
                    lines.push(format!(
                        "FAULT error: channel {chid} faults at launch {launch}"
                    ));
                    return Err(Stop::Injected);
                }
                FaultKind::Semaphore => corrupt = true,
                FaultKind::Misdirect => misdirect = true,
                FaultKind::Link => {
                    self.link_fault = true;
                    lines.push(format!(
                        "FAULT link: the board's link goes down at launch {launch} (channel {chid})"
                    ));
                    return Err(Stop::Hang);
                }
            }
        }
        let ce = if misdirect {
            lines.push(format!(
                "FAULT misdirect: channel {chid} launch {launch} lands one page past its destination"
            ));
            ctx.ce.misdirected()
        } else {
            ctx.ce.clone()
        };
        let done = ce.launch(class, data, mem, vm).map_err(Stop::Eng)?;
        self.stats.launches += 1;
        self.stats.copied += done.copied;
        self.stats.filled += done.filled;
        lines.extend(done.line);
        if let Some(sem) = done.semaphore {
            let payload = if corrupt {
                sem.payload ^ SEMAPHORE_CORRUPTION
            } else {
                sem.payload
            };
            ce::release(mem, vm, sem, payload)
                .map_err(|e| Stop::Eng(format!("semaphore release: {e}")))?;
            self.stats.semaphores += 1;
            let four = if sem.four_word { " four-word" } else { "" };
            lines.push(format!(
                "CE semaphore va:{:#x} = {payload:#x}{four}",
                sem.va
            ));
            if corrupt {
                lines.push(format!(
                    "FAULT semaphore: channel {chid} va:{:#x} = {payload:#x} instead of {:#x}",
                    sem.va, sem.payload
                ));
            }
        }
        Ok(())
    }

    /// Whether the worker should poll (Pascal: the host notices GP_PUT itself).
    pub fn polls(&self) -> bool {
        self.generation() == Generation::Pascal
    }
}

/// PBDMAs per chip (`NV_PFIFO_CFG0_NUM_PBDMA_INIT`: GV100 14, TU104 12); Pascal's are not
/// modelled.
fn pbdmas(gen: Generation) -> u32 {
    match gen {
        Generation::Volta => 14,
        Generation::Turing => 12,
        _ => 0,
    }
}

/// The fault method buffer's size for a CE with the PCEs of `pce_map` (nouveau's
/// `gv100_ce_cclass_bind`, "magics come from nvgpu").
pub fn method_buffer_size(pce_map: u32) -> u64 {
    u64::from(27 * 5 * ((9 + 1 + 3) * pce_map.count_ones() + 2)).next_multiple_of(4096)
}

/// The instance block `NV_PCCSR_CHANNEL_INST` (or `NV_PBUS_BAR2_BLOCK`) points to.
fn inst_phys(v: u32) -> Phys {
    Phys(
        Aperture::from_target((v >> 28) & 3).unwrap_or(Aperture::Vid),
        u64::from(v & 0x0fff_ffff) << 12,
    )
}
