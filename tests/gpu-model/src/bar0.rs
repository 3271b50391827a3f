// SPDX-License-Identifier: GPL-2.0

//! BAR0: the registers, as open-gpu-doc's manuals (`manuals/*/dev_*.ref.txt`,
//! `pascal/gp100-fbpa.txt`) and `nvidia-hardware.md` define them. Every access is logged; an access
//! the manuals do not allow (unknown offset, wrong width, write to a read-only register, a value
//! with undefined bits) is refused and logged as `REJECT`, so tests can check that the driver made
//! none.

use crate::bar1::{Bar1, Invalidate};
use crate::board::{Board, Generation, PostStatus, Sizing};
use crate::dma::GuestMemory;
use crate::fifo::{CeFault, Fifo};
use crate::mmu::Mem;
use crate::vram::Vram;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// `NV_PRAMIN`: BAR0 window onto VRAM at `NV_PBUS_BAR0_WINDOW`.
const PRAMIN: u32 = 0x0070_0000;
const PRAMIN_LEN: u32 = 0x0010_0000;

/// What the test asks the board to look like, beyond its identity.
#[derive(Debug, Default)]
pub struct Knobs {
    /// The VBIOS did not run: the POST status registers say so.
    pub not_posted: bool,
    /// A previous driver left BAR1 in virtual mode (`NV_PBUS_BAR1_BLOCK_MODE_VIRTUAL`).
    pub bar1_virtual: bool,
    /// A locked WPR2 region `[start, end)` in VRAM, 128 KiB aligned.
    pub wpr2: Option<(u64, u64)>,
    /// A BAR1 bind never completes: `NV_PBUS_BIND_STATUS` stays pending.
    pub bind_stuck: bool,
    /// A copy engine fault to inject (`--ce-fault`).
    pub ce_fault: Option<CeFault>,
    /// A reset once the driver has used the board leaves it dead: BAR0 reads all ones and
    /// ignores writes, as a board that fell off the bus (`--dead-after-reset`).
    pub dead_after_reset: bool,
    /// A previous driver left PFIFO, the copy engines and the TLBs dirty (`--leftovers`).
    pub leftovers: bool,
    /// Reads of the register at this offset fail with a PRI error (`--pri-error`).
    pub pri_error: Option<u32>,
    /// A video-protected region `[start, end)` in use (`--vpr`), 128 KiB aligned.
    pub vpr: Option<(u64, u64)>,
    /// The memory decodes only half the VRAM the registers report (`--vram-wraps`).
    pub vram_wraps: bool,
    /// A locked region no register reports (`--locked-hidden`): its writes are dropped.
    pub locked_hidden: Option<(u64, u64)>,
    /// BAR1's translation ignores the BAR1 block (`--bar1-block-ignored`): as if a register the
    /// driver does not know were live, a BAR1 left virtual stays so whatever is written.
    pub bar1_block_ignored: bool,
    /// QEMU does not map BAR1: every guest access reaches the model, which emulates BAR1's
    /// virtual mode (page tables, TLB, invalidates; `bar1.rs`) (`--bar1-emulated`).
    pub bar1_emulated: bool,
}

/// What a failed register read returns (a PRI error; nouveau and OpenRM test 0xBADFxxxx).
pub const PRI_ERROR: u32 = 0xbadf_1100;

pub struct Bar0 {
    board: &'static Board,
    knobs: Knobs,
    vram: Vram,
    /// `NV_PBUS_BAR0_WINDOW`.
    window: u32,
    /// The live BAR1 block: `NV_PBUS_BAR1_BLOCK` (0x1704) up to Volta,
    /// `NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK` (0xB80F40) on Turing.
    bar1_block: u32,
    /// Turing: what was written to 0x1704 and 0x1714, which the TU104 manual still lists but
    /// nouveau (`bar/tu102.c`) and OpenRM (`kern_bus_tu102.c`) never use there: the model gives
    /// them no effect, so only a driver that uses the 0xB80F40 block reaches BAR1 and BAR2.
    legacy_bar_blocks: [u32; 2],
    /// `NV_PFB_PRI_MMU_WPR_INFO_INDEX` and `NV_PFB_PRI_MMU_VPR_INFO_INDEX`.
    wpr_index: u32,
    vpr_index: u32,
    log: Box<dyn Write + Send>,
    /// Accesses refused so far.
    pub rejected: u64,
    /// Guest memory, for the engines (vfio-user DMA_MAP).
    pub guest: GuestMemory,
    fifo: Fifo,
    /// BAR1's virtual mode, with `--bar1-emulated`.
    bar1: Bar1,
    /// BAR0 was accessed since the board started.
    used: bool,
    /// BAR0 reads all ones and ignores writes (`dead_after_reset`).
    dead: bool,
    /// The PCI Express link is down (the host's SIGUSR1): no access reaches the board until the
    /// link is reset.
    link_down: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
    Write,
}

/// One named 32-bit register and how it may be accessed.
pub struct Register {
    name: Cow<'static, str>,
    value: u32,
    access: Access,
}

pub fn ro(name: &'static str, value: u32) -> Option<Register> {
    Some(Register {
        name: name.into(),
        value,
        access: Access::Read,
    })
}

pub fn rw(name: &'static str, value: u32) -> Option<Register> {
    Some(Register {
        name: name.into(),
        value,
        access: Access::ReadWrite,
    })
}

pub fn wo(name: &'static str) -> Option<Register> {
    Some(Register {
        name: name.into(),
        value: 0,
        access: Access::Write,
    })
}

/// Instance block address a previous driver left in `NV_PBUS_BAR1_BLOCK` (virtual mode knob).
const LEFTOVER_INSTANCE_BLOCK: u32 = 0x0001_0000 >> 12;

/// How the VRAM file shows VRAM at start, for QEMU's direct mapping of BAR1: a BAR1 left virtual
/// goes through stale page tables that do not map BAR1 offset N to VRAM address N. With
/// `--bar1-emulated` the file holds VRAM by address and the model translates.
fn start_view_xor(knobs: &Knobs) -> u64 {
    match knobs.bar1_virtual && !knobs.bar1_emulated {
        true => crate::vram::VIRTUAL_VIEW_XOR,
        false => 0,
    }
}

/// The live BAR1 block as the board starts (on Turing NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK; 0x1704
/// stays at its reset value there): virtual mode if a previous driver left it so.
fn start_bar1_block(knobs: &Knobs) -> u32 {
    if knobs.bar1_virtual {
        (1 << 31) | LEFTOVER_INSTANCE_BLOCK
    } else {
        0
    }
}

impl Bar0 {
    pub fn new(
        board: &'static Board,
        knobs: Knobs,
        vram: Vram,
        log: Box<dyn Write + Send>,
    ) -> Self {
        let mut vram = vram;
        let usable = board.usable_vram();
        let locked = [knobs.wpr2, knobs.vpr, knobs.locked_hidden]
            .into_iter()
            .flatten()
            .collect();
        vram.configure(usable, knobs.vram_wraps.then_some(usable / 2), locked);
        vram.set_view_xor(start_view_xor(&knobs));
        let mut bar0 = Self {
            board,
            fifo: Fifo::new(board, knobs.ce_fault, knobs.leftovers),
            bar1: Bar1::new(knobs.bar1_emulated),
            bar1_block: start_bar1_block(&knobs),
            knobs,
            vram,
            window: 0,
            legacy_bar_blocks: [0; 2],
            wpr_index: 0,
            vpr_index: 0,
            log,
            rejected: 0,
            guest: GuestMemory::default(),
            used: false,
            dead: false,
            link_down: false,
        };
        bar0.bind_bar1_at_start();
        bar0
    }

    /// A BAR1 left virtual at start is bound to the leftover instance block (whatever VRAM holds
    /// there), so with `--bar1-emulated` its accesses fault until the driver binds its own.
    fn bind_bar1_at_start(&mut self) {
        self.bar1 = Bar1::new(self.knobs.bar1_emulated);
        if self.bar1.emulated && self.bar1_block >> 31 == 1 {
            let line = self.bind_bar1(self.bar1_block);
            self.log_line(&line);
        }
    }

    fn bind_bar1(&mut self, block: u32) -> String {
        let mem = Mem {
            vram: &mut self.vram,
            sys: &self.guest,
        };
        let pascal = self.board.generation() == Generation::Pascal;
        self.bar1.bind(block, &mem, pascal)
    }

    /// A reset of the board (a PM reset, a reset QEMU asks for, as on the machine's wake from
    /// suspend to RAM): the registers go back to the state the board started in, which the knobs
    /// describe, and VRAM loses its contents (cleared), as when a board loses power. Guest memory
    /// mappings belong to QEMU and stay.
    pub fn reset(&mut self) {
        if self.link_down {
            self.link_down = false;
            self.log_line("LINK up again: the reset retrained it");
        }
        self.window = 0;
        self.bar1_block = start_bar1_block(&self.knobs);
        self.legacy_bar_blocks = [0; 2];
        self.wpr_index = 0;
        self.vpr_index = 0;
        self.fifo = Fifo::new(self.board, self.knobs.ce_fault, self.knobs.leftovers);
        self.vram.clear();
        self.vram.set_view_xor(start_view_xor(&self.knobs));
        self.log_line("RESET registers back to their start values, VRAM cleared");
        self.bind_bar1_at_start();
        if self.knobs.dead_after_reset && self.used {
            self.dead = true;
            self.log_line("RESET the board does not come back: BAR0 reads all ones");
        }
    }

    /// The register at `offset`, if the manuals define one there for this board.
    fn register(&self, offset: u32) -> Option<Register> {
        let b = self.board;
        let turing = b.generation() == Generation::Turing;
        match offset {
            0x0000_0000 => ro("NV_PMC_BOOT_0", b.boot0()),
            0x0000_0a00 => ro("NV_PMC_BOOT_42", b.boot42()),
            0x0000_1700 => rw("NV_PBUS_BAR0_WINDOW", self.window),
            0x0000_1704 if turing => rw(
                "NV_PBUS_BAR1_BLOCK (no effect on TU10x)",
                self.legacy_bar_blocks[0],
            ),
            0x0000_1710 if turing => ro("NV_PBUS_BIND_STATUS (no effect on TU10x)", 0),
            0x0000_1714 if turing => rw(
                "NV_PBUS_BAR2_BLOCK (no effect on TU10x)",
                self.legacy_bar_blocks[1],
            ),
            0x0000_1704 => rw("NV_PBUS_BAR1_BLOCK", self.bar1_block),
            // BAR1_PENDING (bit 0) under the knob; a BAR2 bind completes at once (bits 2 and 3).
            0x0000_1710 => ro("NV_PBUS_BIND_STATUS", u32::from(self.knobs.bind_stuck)),
            0x0000_1714 => rw("NV_PBUS_BAR2_BLOCK", self.fifo.bar2_block),
            // Turing (`dev_vm.ref.txt`, at NV_VIRTUAL_FUNCTION_FULL_PHYS_OFFSET 0xB80000).
            0x00b8_0f40 if turing => rw("NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK", self.bar1_block),
            0x00b8_0f48 if turing => {
                rw("NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK", self.fifo.bar2_block)
            }
            0x00b8_0f50 if turing => ro(
                "NV_VIRTUAL_FUNCTION_PRIV_BIND_STATUS",
                u32::from(self.knobs.bind_stuck),
            ),
            0x0010_4028 => b.pce_map().and_then(|v| ro("NV_CE_PCE_MAP", v)),
            0x0002_240c if b.post == PostStatus::Scratch2240c => ro(
                "POST scratch 0x2240c",
                u32::from(!self.knobs.not_posted) << 1,
            ),
            0x0011_8128 if b.post == PostStatus::GfwBoot => ro(
                "GFW boot scratch 0x118128",
                u32::from(!self.knobs.not_posted),
            ),
            0x0011_8234 if b.post == PostStatus::GfwBoot => ro(
                "GFW boot progress 0x118234",
                if self.knobs.not_posted { 0x3 } else { 0xff },
            ),
            0x0010_0ce0 => b
                .local_memory_range()
                .and_then(|v| ro("NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE", v)),
            // Turing: WPR2 (OpenRM publishes these for TU102+; nouveau's GSP code reads them) and
            // the VPR status (nouveau `tu102_fb_vpr_scrub_required`).
            0x001f_a824 if turing => ro(
                "NV_PFB_PRI_MMU_WPR2_ADDR_LO",
                self.knobs.wpr2.map_or(0, |(start, _)| wpr_encode(start)),
            ),
            0x001f_a828 if turing => ro(
                "NV_PFB_PRI_MMU_WPR2_ADDR_HI",
                self.knobs
                    .wpr2
                    .map_or(0, |(_, end)| wpr_encode(end - WPR_GRANULE)),
            ),
            0x001f_a80c if turing => ro(
                "NV_PFB_PRI_MMU_VPR_CYA_LO",
                u32::from(self.knobs.vpr.is_some()) << 4,
            ),
            // Every generation: the indexed WPR registers (nouveau `gm200_acr_wpr_check` reads
            // indexes 2/3; nvgpu names 0 ALLOW_READ, 1 ALLOW_WRITE, 2/3 WPR1, 4/5 WPR2). Before
            // Turing WPR2 is reported here.
            0x0010_0cd4 => rw("NV_PFB_PRI_MMU_WPR_INFO", self.wpr_info()),
            // Pascal/Volta: the VPR (nouveau `gp102_fb_vpr_scrub_required`: index 2 bit 4 = in
            // use; nvgpu names 0/1 ADDR_LO/HI).
            0x0010_0cd0 if !turing => rw("NV_PFB_PRI_MMU_VPR_INFO", self.vpr_info()),
            _ => self
                .fbpa_register(offset)
                .or_else(|| self.fifo.register(offset)),
        }
    }

    /// `NV_PFB_PRI_MMU_WPR_INFO` at the current index: a region's first and last 128 KiB granule
    /// as `(address >> 8) & !0xff`, the index in bits 3:0.
    fn wpr_info(&self) -> u32 {
        let wpr2 = self
            .knobs
            .wpr2
            .filter(|_| self.board.generation() != Generation::Turing);
        let data = match (self.wpr_index, wpr2) {
            (4, Some((start, _))) => wpr_encode(start),
            (5, Some((_, end))) => wpr_encode(end - WPR_GRANULE),
            _ => 0,
        };
        (data & !0xff) | self.wpr_index
    }

    /// `NV_PFB_PRI_MMU_VPR_INFO` at the current index.
    fn vpr_info(&self) -> u32 {
        let data = match (self.vpr_index, self.knobs.vpr) {
            (0, Some((start, _))) => wpr_encode(start) & !0xff,
            (1, Some((_, end))) => wpr_encode(end - WPR_GRANULE) & !0xff,
            (2, Some(_)) => 1 << 4,
            _ => 0,
        };
        data | self.vpr_index
    }

    /// GP100's memory partition registers (`pascal/gp100-fbpa.txt`).
    fn fbpa_register(&self, offset: u32) -> Option<Register> {
        let Sizing::Fbpa { count, per_fbp } = self.board.sizing else {
            return None;
        };
        match offset {
            0x0002_243c => ro("NV_PTOP_SCAL_NUM_FBPAS", count),
            0x0002_2458 => ro("NV_PTOP_SCAL_NUM_FBPA_PER_FBP", per_fbp),
            0x0002_1c14 => ro("NV_FUSE_STATUS_OPT_FBIO", 0),
            0x0002_1d70..=0x0002_1dac if offset % 4 == 0 => ro("NV_FUSE_STATUS_OPT_ROP_L2_FBP", 0),
            0x0090_0000..=0x0093_ffff if offset % 0x4000 == 0x20c => {
                let i = (offset - 0x0090_0000) / 0x4000;
                if i < count {
                    let mib = (self.board.vram >> 20) / u64::from(count);
                    ro("NV_PFB_FBPA_CSTATUS_RAMAMOUNT", mib as u32)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn reject(&mut self, what: &str, offset: u64, len: usize, why: &str) -> io::Error {
        self.rejected += 1;
        let _ = writeln!(self.log, "REJECT {what}{len} {offset:#010x}: {why}");
        io::Error::new(io::ErrorKind::InvalidInput, why.to_string())
    }

    pub fn read(&mut self, offset: u64, data: &mut [u8]) -> io::Result<()> {
        self.used = true;
        if self.link_down {
            data.fill(0xff);
            let _ = writeln!(
                self.log,
                "R{} {offset:#010x} = all ones (link down)",
                data.len()
            );
            return Ok(());
        }
        if self.dead {
            data.fill(0xff);
            let _ = writeln!(self.log, "R{} {offset:#010x} = all ones (dead)", data.len());
            return Ok(());
        }
        if let Some(addr) = self.pramin_address(offset, data.len(), "R")? {
            if !self.vram.read(addr, data) {
                return Err(self.reject("R", offset, data.len(), "PRAMIN beyond emulated VRAM"));
            }
            let _ = writeln!(
                self.log,
                "R{} {offset:#010x} PRAMIN vram {addr:#x}",
                data.len()
            );
            return Ok(());
        }
        let reg = self.checked_register(offset, data.len(), "R")?;
        if reg.access == Access::Write {
            return Err(self.reject("R", offset, 4, "write-only register"));
        }
        let (value, note) = if self.knobs.pri_error == Some(offset as u32) {
            (PRI_ERROR, " (PRI error injected)")
        } else {
            (reg.value, "")
        };
        data.copy_from_slice(&value.to_le_bytes());
        let _ = writeln!(
            self.log,
            "R4 {offset:#010x} = {value:#010x} {}{note}",
            reg.name
        );
        // The indexed registers step to the next index on a read (nvgpu reads them in a row).
        match offset {
            0x10_0cd4 => self.wpr_index = (self.wpr_index + 1) & 0xf,
            0x10_0cd0 => self.vpr_index = (self.vpr_index + 1) & 3,
            _ => {}
        }
        Ok(())
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.used = true;
        if self.link_down {
            let _ = writeln!(self.log, "W{} {offset:#010x} lost (link down)", data.len());
            return Ok(());
        }
        if self.dead {
            let _ = writeln!(self.log, "W{} {offset:#010x} ignored (dead)", data.len());
            return Ok(());
        }
        if let Some(addr) = self.pramin_address(offset, data.len(), "W")? {
            if !self.vram.write(addr, data) {
                return Err(self.reject("W", offset, data.len(), "PRAMIN beyond emulated VRAM"));
            }
            let _ = writeln!(
                self.log,
                "W{} {offset:#010x} PRAMIN vram {addr:#x}",
                data.len()
            );
            return Ok(());
        }
        let reg = self.checked_register(offset, data.len(), "W")?;
        if reg.access == Access::Read {
            return Err(self.reject("W", offset, 4, "read-only register"));
        }
        let value = u32::from_le_bytes(data.try_into().expect("4 bytes"));
        let mut lines = Vec::new();
        match offset {
            0x1700 => {
                // BASE 23:0, TARGET 25:24 (0 VID_MEM, 2 and 3 system memory); nothing else.
                if value & !0x03ff_ffff != 0 || (value >> 24) & 3 == 1 {
                    return Err(self.reject("W", offset, 4, "undefined NV_PBUS_BAR0_WINDOW bits"));
                }
                self.window = value;
            }
            0x10_0cd4 => self.wpr_index = value & 0xf,
            0x10_0cd0 => self.vpr_index = value & 3,
            0x1704 | 0x1714 | 0xb8_0f40 | 0xb8_0f48 => {
                // PTR 27:0, TARGET 29:28 (0, 2, 3), MODE 31; bit 30 undefined, except in
                // Turing's NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK, where it is RESERVED with
                // default 1 (OpenRM sets it).
                let bit30_allowed = offset == 0xb8_0f48;
                if (value & (1 << 30) != 0 && !bit30_allowed) || (value >> 28) & 3 == 1 {
                    let why = format!("undefined {} bits", reg.name);
                    return Err(self.reject("W", offset, 4, &why));
                }
                let turing = self.board.generation() == Generation::Turing;
                match (offset, turing) {
                    (0x1704, true) => self.legacy_bar_blocks[0] = value,
                    (0x1714, true) => self.legacy_bar_blocks[1] = value,
                    (0x1704, false) | (0xb8_0f40, _) => {
                        self.bar1_block = value;
                        if self.knobs.bar1_block_ignored {
                            // BAR1's translation stays as it started.
                        } else if self.bar1.emulated {
                            lines.push(self.bind_bar1(value));
                        } else if value >> 31 == 1 {
                            // QEMU maps BAR1 onto the VRAM file: the model cannot translate.
                            self.vram.set_view_xor(crate::vram::VIRTUAL_VIEW_XOR);
                            lines.push(
                                "REJECT BAR1 virtual mode is not emulated on a board whose BAR1 QEMU maps directly (start gpu-model with --bar1-emulated)"
                                    .into(),
                            );
                        } else {
                            // BAR1's view of VRAM follows its mode (see `Knobs::bar1_virtual`).
                            self.vram.set_view_xor(0);
                        }
                    }
                    _ => self.fifo.bar2_block = value,
                }
            }
            _ => {
                let mut mem = Mem {
                    vram: &mut self.vram,
                    sys: &self.guest,
                };
                match self.fifo.write(offset as u32, value, &mut mem) {
                    Ok(l) => lines = l,
                    Err(why) => return Err(self.reject("W", offset, 4, &why)),
                }
                if self.fifo.live_invalidate(offset as u32) && value >> 31 == 1 {
                    if self.fifo.mmu_hung() {
                        lines.push("MMU invalidate: not done, the MMU is hung".into());
                    } else {
                        let inv = Invalidate::decode(value, self.fifo.invalidate_pdb());
                        let (tlb, dir) = self.bar1.invalidate(inv);
                        if self.bar1.emulated {
                            lines.push(format!(
                                "MMU invalidate: BAR1 TLB dropped {tlb} translations and {dir} directory entries"
                            ));
                        }
                    }
                }
            }
        }
        let _ = writeln!(self.log, "W4 {offset:#010x} = {value:#010x} {}", reg.name);
        self.emit(lines);
        Ok(())
    }

    /// Logs lines the engines produced, counting their refusals.
    fn emit(&mut self, lines: Vec<String>) {
        for line in lines {
            if line.starts_with("REJECT ") {
                self.rejected += 1;
            }
            let _ = writeln!(self.log, "{line}");
        }
    }

    /// Lets the host and the copy engine run one step; true when something ran.
    pub fn service(&mut self) -> bool {
        if self.link_down {
            // No DMA crosses a link that is down: the engines make no progress.
            return false;
        }
        let mut mem = Mem {
            vram: &mut self.vram,
            sys: &self.guest,
        };
        let (lines, ran) = self.fifo.service(&mut mem);
        self.emit(lines);
        if self.fifo.take_link_fault() {
            // Once: the board that comes back after the reset keeps its link.
            self.knobs.ce_fault = None;
            self.drop_link();
        }
        ran
    }

    /// A guest BAR1 access QEMU did not serve from its mapping of the VRAM file: all of them with
    /// `--bar1-emulated` (translated in virtual mode, `bar1.rs`), else those beyond the emulated
    /// VRAM. In physical mode offset N is VRAM address N, served from the file or the model's
    /// pages of the rest of VRAM (an access beyond the emulated VRAM is logged); `false` when that
    /// is beyond VRAM or the pages the model keeps.
    pub fn bar1_access(&mut self, offset: u64, read: Option<&mut [u8]>, write: &[u8]) -> bool {
        if self.link_down {
            if let Some(data) = read {
                data.fill(0xff);
            }
            return true;
        }
        if self.bar1.is_virtual() {
            let mut mem = Mem {
                vram: &mut self.vram,
                sys: &self.guest,
            };
            let lines = self.bar1.access(&mut mem, offset, read, write);
            self.emit(lines);
            return true;
        }
        let len = read.as_ref().map_or(write.len(), |d| d.len()) as u64;
        let quiet = self.bar1.emulated && offset + len <= self.vram.len();
        let (ok, what, len) = match read {
            Some(data) => (self.vram.bar1_read(offset, data), "R", data.len()),
            None => (self.vram.bar1_write(offset, write), "W", write.len()),
        };
        if ok && !quiet {
            let _ = writeln!(
                self.log,
                "{what}{len} BAR1 {offset:#x} (beyond the emulated VRAM)"
            );
        }
        ok
    }

    #[cfg(test)]
    pub fn vram_mut(&mut self) -> &mut Vram {
        &mut self.vram
    }

    /// VRAM and guest memory, for tests that build page tables.
    #[cfg(test)]
    pub fn mem(&mut self) -> Mem<'_> {
        Mem {
            vram: &mut self.vram,
            sys: &self.guest,
        }
    }

    /// The PCI Express link goes down, as when a board falls off the bus: every access from the
    /// host completes with all ones (reads) or is lost (writes), BAR1 reads all ones, the engines
    /// stop, until a reset (the root port's secondary bus reset) retrains the link.
    pub fn drop_link(&mut self) {
        if self.link_down {
            return;
        }
        self.link_down = true;
        self.vram.fill_ones();
        self.log_line(
            "LINK down: every access reads all ones or is lost, the engines stop, until a reset",
        );
    }

    /// The MMU hangs ([`Fifo::hang_mmu`]) until a reset: BAR1's page tables can still be
    /// written, but no invalidate completes or drops a translation.
    pub fn hang_mmu(&mut self) {
        if self.fifo.mmu_hung() {
            return;
        }
        self.fifo.hang_mmu();
        self.log_line("MMU hung: no invalidate completes or takes effect until a reset");
    }

    /// Whether the link is down ([`Self::drop_link`]).
    pub fn link_down(&self) -> bool {
        self.link_down
    }

    /// Whether the host polls for work (Pascal) instead of waiting for doorbells.
    pub fn polls(&self) -> bool {
        self.fifo.polls()
    }

    /// A register access must be one aligned 32-bit access to a defined register.
    fn checked_register(&mut self, offset: u64, len: usize, what: &str) -> io::Result<Register> {
        if len != 4 || offset % 4 != 0 {
            return Err(self.reject(what, offset, len, "registers take aligned 32-bit accesses"));
        }
        let Some(reg) = u32::try_from(offset).ok().and_then(|o| self.register(o)) else {
            let why = format!(
                "no register at this offset on {}",
                self.board.chipset_name()
            );
            return Err(self.reject(what, offset, len, &why));
        };
        Ok(reg)
    }

    /// The VRAM address of a PRAMIN access, `None` when `offset` is not in the window.
    fn pramin_address(&mut self, offset: u64, len: usize, what: &str) -> io::Result<Option<u64>> {
        if !(u64::from(PRAMIN)..u64::from(PRAMIN + PRAMIN_LEN)).contains(&offset) {
            return Ok(None);
        }
        if !matches!(len, 1 | 2 | 4 | 8) || offset % len as u64 != 0 {
            return Err(self.reject(what, offset, len, "PRAMIN takes aligned 1-8 byte accesses"));
        }
        if (self.window >> 24) & 3 != 0 {
            return Err(self.reject(
                what,
                offset,
                len,
                "PRAMIN onto system memory is not modelled",
            ));
        }
        let base = u64::from(self.window & 0x00ff_ffff) << 16;
        Ok(Some(base + (offset - u64::from(PRAMIN))))
    }

    /// The state the log ends with: BAR1's mode, for the tests.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let mode = if self.bar1_block >> 31 == 1 {
            "virtual"
        } else {
            "physical"
        };
        let st = &self.fifo.stats;
        let _ = write!(
            s,
            "BAR1 {mode} ({} accesses translated, {} faults), {} rejected, CE {} launches, {} bytes copied, {} filled, {} semaphores, {} faults",
            self.bar1.stats.translated, self.bar1.stats.faults,
            self.rejected, st.launches, st.copied, st.filled, st.semaphores, st.faults
        );
        s
    }

    /// What config space says of Bus Master Enable; logged when it changes.
    pub fn set_bus_master(&mut self, on: bool) {
        if self.guest.bus_master != on {
            self.guest.bus_master = on;
            let state = if on { "on" } else { "off" };
            self.log_line(&format!("PCI bus master {state}"));
        }
    }

    pub fn log_line(&mut self, line: &str) {
        let _ = writeln!(self.log, "{line}");
    }
}

/// WPR2 boundaries are 128 KiB granules (nouveau: `(reg & ~0xf) << 8`, end + 0x20000).
const WPR_GRANULE: u64 = 0x2_0000;

fn wpr_encode(addr: u64) -> u32 {
    ((addr >> 8) as u32) & !0xf
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::board::find;
    use std::sync::{Arc, Mutex};

    /// A log the test can read back.
    #[derive(Clone, Default)]
    pub(crate) struct SharedLog(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedLog {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl SharedLog {
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    pub(crate) fn bar0(board: &str, knobs: Knobs) -> (Bar0, SharedLog) {
        let path = std::env::temp_dir().join(format!(
            "gpu-model-test-{}-{board}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let vram = Vram::create(&path, 4 << 20).unwrap();
        std::fs::remove_file(&path).unwrap();
        let log = SharedLog::default();
        let bar0 = Bar0::new(find(board).unwrap(), knobs, vram, Box::new(log.clone()));
        (bar0, log)
    }

    fn read32(bar0: &mut Bar0, offset: u64) -> io::Result<u32> {
        let mut data = [0; 4];
        bar0.read(offset, &mut data)?;
        Ok(u32::from_le_bytes(data))
    }

    #[test]
    fn identity_and_logging() {
        let (mut b, log) = bar0("v100", Knobs::default());
        assert_eq!(read32(&mut b, 0).unwrap(), 0x1400_00a1);
        assert!(log
            .text()
            .contains("R4 0x00000000 = 0x140000a1 NV_PMC_BOOT_0"));
    }

    #[test]
    fn refuses_what_the_manuals_do_not_allow() {
        let (mut b, log) = bar0("v100", Knobs::default());
        // No register there.
        assert!(read32(&mut b, 0x4).is_err());
        // Registers take aligned 32-bit accesses only.
        assert!(b.read(0x0, &mut [0; 2]).is_err());
        assert!(b.read(0x2, &mut [0; 4]).is_err());
        // Read-only register.
        assert!(b.write(0x0, &[0; 4]).is_err());
        // Undefined BAR1_BLOCK bit 30 and TARGET 1.
        assert!(b.write(0x1704, &(1u32 << 30).to_le_bytes()).is_err());
        assert!(b.write(0x1704, &(1u32 << 28).to_le_bytes()).is_err());
        // GP100's partition registers do not exist on GV100.
        assert!(read32(&mut b, 0x2243c).is_err());
        assert_eq!(b.rejected, 7);
        assert_eq!(log.text().matches("REJECT").count(), 7);
    }

    #[test]
    fn gp100_sizes_through_its_partitions() {
        let (mut b, _) = bar0("p100", Knobs::default());
        assert!(read32(&mut b, 0x100ce0).is_err());
        let count = read32(&mut b, 0x2243c).unwrap();
        let total: u64 = (0..count)
            .map(|i| u64::from(read32(&mut b, 0x90020c + u64::from(i) * 0x4000).unwrap()))
            .sum();
        assert_eq!(total << 20, 16 << 30);
        assert!(read32(&mut b, 0x90020c + u64::from(count) * 0x4000).is_err());
    }

    #[test]
    fn bar1_mode_and_post_knobs() {
        let knobs = Knobs {
            not_posted: true,
            bar1_virtual: true,
            ..Knobs::default()
        };
        let (mut b, _) = bar0("p40", knobs);
        assert_eq!(read32(&mut b, 0x2240c).unwrap() & 2, 0);
        assert_eq!(read32(&mut b, 0x1704).unwrap() >> 31, 1);
        b.write(0x1704, &0u32.to_le_bytes()).unwrap();
        assert_eq!(read32(&mut b, 0x1704).unwrap(), 0);
        assert_eq!(
            b.summary(),
            "BAR1 physical (0 accesses translated, 0 faults), 0 rejected, CE 0 launches, 0 bytes copied, 0 filled, 0 semaphores, 0 faults"
        );
        let (mut t, _) = bar0("rtx8000", Knobs::default());
        assert_eq!(read32(&mut t, 0x118128).unwrap() & 1, 1);
        assert_eq!(read32(&mut t, 0x118234).unwrap() & 0xff, 0xff);
        assert!(read32(&mut t, 0x2240c).is_err());
    }

    #[test]
    fn a_link_that_is_down_reads_all_ones_until_a_reset() {
        let (mut b, log) = bar0("v100", Knobs::default());
        let boot = read32(&mut b, 0x0).unwrap();
        assert!(b.vram.write(0x1000, &[0x5a; 64]));
        b.drop_link();
        assert!(b.link_down());
        assert_eq!(read32(&mut b, 0x0).unwrap(), u32::MAX);
        // Writes are lost (not refused), BAR1 and VRAM read all ones, the engines stop.
        b.write(0x1700, &0x1234u32.to_le_bytes()).unwrap();
        assert_eq!(read32(&mut b, 0x1700).unwrap(), u32::MAX);
        let mut data = [0u8; 8];
        assert!(b.bar1_access(1 << 40, Some(&mut data), &[]));
        assert_eq!(data, [0xff; 8]);
        assert!(b.vram.bytes().iter().all(|&v| v == 0xff));
        assert!(!b.service());
        b.reset();
        assert!(!b.link_down());
        assert_eq!(read32(&mut b, 0x0).unwrap(), boot);
        let text = log.text();
        assert!(text.contains("LINK down"));
        assert!(text.contains("LINK up again"));
    }

    #[test]
    fn reset_clears_vram_and_restores_the_start_state() {
        let knobs = Knobs {
            bar1_virtual: true,
            ..Knobs::default()
        };
        let (mut b, log) = bar0("v100", knobs);
        b.write(0x1704, &0u32.to_le_bytes()).unwrap();
        assert!(b.vram.write(0x1000, &[0x5a; 64]));
        b.reset();
        assert_eq!(read32(&mut b, 0x1704).unwrap() >> 31, 1);
        assert!(b.vram.bytes().iter().all(|&v| v == 0));
        assert!(log
            .text()
            .contains("RESET registers back to their start values"));
    }

    #[test]
    fn dead_after_reset_only_once_used() {
        let knobs = Knobs {
            dead_after_reset: true,
            ..Knobs::default()
        };
        let (mut b, _) = bar0("v100", knobs);
        // QEMU's reset at start, before any access, leaves the board alive.
        b.reset();
        assert_eq!(read32(&mut b, 0).unwrap(), 0x1400_00a1);
        b.reset();
        assert_eq!(read32(&mut b, 0).unwrap(), u32::MAX);
        assert!(b.write(0x1704, &0u32.to_le_bytes()).is_ok());
        assert_eq!(b.rejected, 0);
    }

    #[test]
    fn wpr2_round_trips_through_its_encoding() {
        let knobs = || Knobs {
            wpr2: Some((1024 << 20, 1040 << 20)),
            ..Knobs::default()
        };
        // Turing: NV_PFB_PRI_MMU_WPR2_ADDR_LO/HI.
        let (mut t, _) = bar0("rtx8000", knobs());
        let lo = u64::from(read32(&mut t, 0x1fa824).unwrap() >> 4) << 12;
        let hi = (u64::from(read32(&mut t, 0x1fa828).unwrap() >> 4) << 12) + WPR_GRANULE;
        assert_eq!((lo, hi), (1024 << 20, 1040 << 20));
        // Pascal and Volta: NV_PFB_PRI_MMU_WPR_INFO indexes 4/5, decoded as nouveau does; the
        // Turing registers do not exist there.
        for board in ["p100", "p40", "v100"] {
            let (mut b, _) = bar0(board, knobs());
            assert!(read32(&mut b, 0x1fa824).is_err(), "{board}");
            let index = |b: &mut Bar0, i: u32| {
                b.write(0x100cd4, &i.to_le_bytes()).unwrap();
                u64::from(read32(b, 0x100cd4).unwrap() & 0xffff_ff00) << 8
            };
            assert_eq!(index(&mut b, 2), 0, "{board}: no WPR1");
            let (lo, hi) = (index(&mut b, 4), index(&mut b, 5) + WPR_GRANULE);
            assert_eq!((lo, hi), (1024 << 20, 1040 << 20), "{board}");
            // Reads step to the next index.
            b.write(0x100cd4, &4u32.to_le_bytes()).unwrap();
            read32(&mut b, 0x100cd4).unwrap();
            assert_eq!(read32(&mut b, 0x100cd4).unwrap() & 0xf, 5, "{board}");
        }
    }

    #[test]
    fn vpr_in_use_shows_per_generation() {
        let knobs = || Knobs {
            vpr: Some((64 << 20, 96 << 20)),
            ..Knobs::default()
        };
        let (mut v, _) = bar0("v100", knobs());
        let index = |b: &mut Bar0, i: u32| {
            b.write(0x100cd0, &i.to_le_bytes()).unwrap();
            read32(b, 0x100cd0).unwrap()
        };
        assert_ne!(index(&mut v, 2) & 0x10, 0);
        assert_eq!(u64::from(index(&mut v, 0) & 0xffff_ff00) << 8, 64 << 20);
        assert_eq!(
            (u64::from(index(&mut v, 1) & 0xffff_ff00) << 8) + WPR_GRANULE,
            96 << 20
        );
        let (mut t, _) = bar0("rtx8000", knobs());
        assert_ne!(read32(&mut t, 0x1fa80c).unwrap() & 0x10, 0);
        assert!(read32(&mut t, 0x100cd0).is_err());
        // Writes to the region are dropped.
        assert!(v.vram.write(64 << 20, &[1; 4]));
        let mut back = [9; 4];
        assert!(v.vram.read(64 << 20, &mut back));
        assert_eq!(back, [0; 4]);
        assert_eq!(v.vram.dropped, 1);
    }

    /// What the BAR1 identity self-check sees: PRAMIN (VRAM by address) against BAR1.
    #[test]
    fn bar1_view_follows_its_mode_and_the_vram_knobs() {
        let knobs = Knobs {
            bar1_virtual: true,
            ..Knobs::default()
        };
        let (mut b, _) = bar0("v100", knobs);
        // VRAM 0x1000 through PRAMIN (window at 0).
        b.write(PRAMIN as u64 + 0x1000, &[5; 4]).unwrap();
        let mut at_bar1 = [0; 4];
        // Virtual: BAR1 offset 0x1000 is not VRAM 0x1000, offset 0x201000 is.
        at_bar1.copy_from_slice(&b.vram.bytes()[0x1000..0x1004]);
        assert_eq!(at_bar1, [0; 4]);
        at_bar1.copy_from_slice(&b.vram.bytes()[0x20_1000..0x20_1004]);
        assert_eq!(at_bar1, [5; 4]);
        // Physical again: VRAM kept its contents, BAR1 now shows them one to one.
        b.write(0x1704, &0u32.to_le_bytes()).unwrap();
        at_bar1.copy_from_slice(&b.vram.bytes()[0x1000..0x1004]);
        assert_eq!(at_bar1, [5; 4]);
        // With --bar1-block-ignored the view stays virtual whatever the block says.
        let knobs = Knobs {
            bar1_virtual: true,
            bar1_block_ignored: true,
            ..Knobs::default()
        };
        let (mut stuck, _) = bar0("v100", knobs);
        stuck.write(PRAMIN as u64 + 0x1000, &[5; 4]).unwrap();
        stuck.write(0x1704, &0u32.to_le_bytes()).unwrap();
        assert_eq!(read32(&mut stuck, 0x1704).unwrap(), 0);
        assert_eq!(&stuck.vram.bytes()[0x1000..0x1004], &[0; 4]);
        // BAR1 beyond the emulated 4 MiB reaches the model's pages of the rest of VRAM.
        assert!(b.bar1_access(8 << 30, None, &[6; 4]));
        b.write(0x1700, &(((8u64 << 30) >> 16) as u32).to_le_bytes())
            .unwrap();
        let mut word = [0; 4];
        b.read(PRAMIN as u64, &mut word).unwrap();
        assert_eq!(word, [6; 4]);
        assert!(!b.bar1_access(16 << 30, None, &[6; 4]));

        // Half the VRAM the registers report: address 8 GiB is address 0.
        let knobs = Knobs {
            vram_wraps: true,
            ..Knobs::default()
        };
        let (mut w, _) = bar0("v100", knobs);
        w.write(0x1700, &(((8u64 << 30) >> 16) as u32).to_le_bytes())
            .unwrap();
        w.write(PRAMIN as u64 + 0x40, &[9; 4]).unwrap();
        assert_eq!(&w.vram.bytes()[0x40..0x44], &[9; 4]);
    }

    #[test]
    fn pri_error_knob_fails_the_register_read() {
        let knobs = Knobs {
            pri_error: Some(0x100ce0),
            ..Knobs::default()
        };
        let (mut b, log) = bar0("v100", knobs);
        assert_eq!(read32(&mut b, 0x100ce0).unwrap(), PRI_ERROR);
        assert!(log.text().contains("(PRI error injected)"));
        assert_eq!(read32(&mut b, 0).unwrap(), 0x1400_00a1);
    }

    #[test]
    fn pramin_reaches_vram_through_the_window() {
        let (mut b, _) = bar0("v100", Knobs::default());
        // Window at 1 MiB (BASE is in 64 KiB units).
        b.write(0x1700, &0x10u32.to_le_bytes()).unwrap();
        b.write(PRAMIN as u64 + 8, &0xdead_beef_u32.to_le_bytes())
            .unwrap();
        let mut word = [0; 4];
        assert!(b.vram.read((1 << 20) + 8, &mut word));
        assert_eq!(u32::from_le_bytes(word), 0xdead_beef);
        // Beyond the 4 MiB emulated here: the model keeps a few pages of the rest of the
        // board's 16 GiB, zero until written.
        b.write(0x1700, &0x40u32.to_le_bytes()).unwrap();
        let mut word = [1; 4];
        b.read(PRAMIN as u64, &mut word).unwrap();
        assert_eq!(word, [0; 4]);
        b.write(PRAMIN as u64, &[7; 4]).unwrap();
        b.read(PRAMIN as u64, &mut word).unwrap();
        assert_eq!(word, [7; 4]);
        // Beyond the board's VRAM there is nothing.
        b.write(0x1700, &(((16u64 << 30) >> 16) as u32).to_le_bytes())
            .unwrap();
        assert!(b.read(PRAMIN as u64, &mut [0; 4]).is_err());
        // System memory targets are not modelled.
        b.write(0x1700, &(2u32 << 24).to_le_bytes()).unwrap();
        assert!(b.read(PRAMIN as u64, &mut [0; 4]).is_err());
    }
}
