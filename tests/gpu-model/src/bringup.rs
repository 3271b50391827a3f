// SPDX-License-Identifier: GPL-2.0

//! A small test-side driver that brings up one copy engine channel through the registers and
//! structures in guest memory, the way docs/copy-engine.md has the driver do it, and checks what
//! the model does with the work it submits.

use crate::bar0::tests::SharedLog;
use crate::bar0::{Bar0, Knobs};
use crate::board::{find, Generation};
use crate::dma::tests::memfd;
use crate::fifo::{method_buffer_size, CeFault, FaultKind};
use crate::mmu::tests::{vram, PageTables};
use crate::mmu::{Aperture, Mem, Phys};
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

/// Guest RAM the test maps at `SYS`, laid out as the driver lays out its coherent buffer.
const SYS: u64 = 0x1000_0000;
const SYS_LEN: u64 = 4 << 20;
const INST: u64 = SYS;
const RUNLIST: u64 = SYS + 0x1000;
const USERD: u64 = SYS + 0x2000;
const TABLES: u64 = SYS + 0x1_0000;
/// GPFIFO ring, push buffer, semaphore: one page each, mapped at `VA`.
const RING: u64 = SYS + 0x2_0000;
const PUSH: u64 = SYS + 0x2_1000;
const SEM: u64 = SYS + 0x2_2000;
const VA: u64 = 0x20_0000_0000;
const RING_VA: u64 = VA;
const PUSH_VA: u64 = VA + 0x1000;
const SEM_VA: u64 = VA + 0x2000;
/// Volta/Turing: the CE's fault method buffer, up to four pages at `MB_VA`, reached through BAR2.
/// BAR2 is bound to the channel's own instance block, so its page tables map it too.
const MB: u64 = SYS + 0x2_3000;
const MB_VA: u64 = VA + 0x3000;
/// Data buffers in guest RAM.
const DATA: u64 = SYS + 0x10_0000;
/// Pascal's USERD area in VRAM (BAR1 offset = VRAM address).
const PASCAL_USERD: u64 = 0x30_0000;
const RING_ENTRIES: u32 = 16;

struct Rig {
    bar0: Bar0,
    log: SharedLog,
    gen: Generation,
    runlist: u32,
    reset: u32,
    class: u32,
    _ram: File,
    /// Words of the push buffer so far, and the GPFIFO entries written.
    push: Vec<u32>,
    gp_put: u32,
}

fn inc(subc: u32, method: u32, data: &[u32]) -> Vec<u32> {
    let mut v = vec![(1 << 29) | ((data.len() as u32) << 16) | (subc << 13) | (method >> 2)];
    v.extend_from_slice(data);
    v
}

impl Rig {
    fn new(board: &str, fault: Option<CeFault>) -> Self {
        let knobs = Knobs {
            ce_fault: fault,
            ..Knobs::default()
        };
        Self::build(board, knobs, false)
    }

    /// A rig on a board with `knobs`; a `naive` one neither resets PFIFO and the engine nor
    /// invalidates the TLBs before use (as the driver did before nouveau's steps were added).
    fn build(board: &str, knobs: Knobs, naive: bool) -> Self {
        let board = find(board).unwrap();
        let log = SharedLog::default();
        let mut bar0 = Bar0::new(board, knobs, vram(4 << 20), Box::new(log.clone()));
        // The driver sets Bus Master Enable before the engine may touch system memory.
        bar0.set_bus_master(true);
        let ram = memfd(SYS_LEN);
        bar0.guest.map(SYS, SYS_LEN, &ram, 0).unwrap();
        let mut rig = Self {
            bar0,
            log,
            gen: board.generation(),
            runlist: 0,
            reset: 0,
            class: board.ce_class(),
            _ram: ram,
            push: Vec::new(),
            gp_put: 0,
        };
        rig.bring_up(naive);
        rig
    }

    fn r(&mut self, offset: u32) -> u32 {
        let mut d = [0; 4];
        self.bar0.read(u64::from(offset), &mut d).unwrap();
        u32::from_le_bytes(d)
    }

    fn w(&mut self, offset: u32, v: u32) {
        self.bar0
            .write(u64::from(offset), &v.to_le_bytes())
            .unwrap_or_else(|e| panic!("W {offset:#x} = {v:#x}: {e}\n{}", self.log.text()));
    }

    fn try_w(&mut self, offset: u32, v: u32) -> io::Result<()> {
        self.bar0.write(u64::from(offset), &v.to_le_bytes())
    }

    fn sys32(&self, addr: u64, v: u32) {
        assert!(self.bar0.guest.write(addr, &v.to_le_bytes()));
    }

    fn sys_read32(&self, addr: u64) -> u32 {
        let mut b = [0; 4];
        assert!(self.bar0.guest.read(addr, &mut b));
        u32::from_le_bytes(b)
    }

    /// The first asynchronous copy engine in `NV_PTOP_DEVICE_INFO`, as the driver finds it.
    fn find_ce(&mut self) {
        let mut engines = Vec::new();
        let (mut runlist, mut reset, mut ty) = (None, None, None);
        for i in 0..64 {
            let w = self.r(0x22700 + 4 * i);
            match w & 3 {
                2 => {
                    runlist = ((w >> 4) & 1 == 1).then_some((w >> 21) & 0xf);
                    reset = ((w >> 2) & 1 == 1).then_some((w >> 9) & 0x1f);
                }
                3 => ty = Some((w >> 2) & 0x1fff_ffff),
                _ => {}
            }
            if w & 3 != 0 && w >> 31 == 0 {
                engines.push((ty.unwrap(), runlist.unwrap(), reset.unwrap()));
            }
        }
        let gr = engines.iter().find(|e| e.0 == 0).copied().unwrap();
        let ce = engines
            .iter()
            .find(|e| matches!(e.0, 1..=3 | 19) && e.1 != gr.1 && e.2 != gr.2)
            .copied()
            .unwrap();
        (self.runlist, self.reset) = (ce.1, ce.2);
    }

    fn bring_up(&mut self, naive: bool) {
        self.find_ce();
        let pmc = self.r(0x200);
        let units = (1 << 8) | (1 << self.reset);
        if !naive {
            // nouveau: PFIFO (and the engine) through reset, then enabled and read back.
            self.w(0x200, pmc & !units);
        }
        self.w(0x200, pmc | units);
        assert_eq!(self.r(0x200) & units, units);
        if !naive {
            // One invalidate of every PDB (nouveau gf100_vmm_invalidate / tu102_vmm_flush).
            let invalidate = if self.gen == Generation::Turing {
                0xb8_30b0
            } else {
                0x10_0cbc
            };
            self.w(invalidate, 0x8000_0003);
        }
        self.w(0x100c10, ((SYS + 0x3_0000) >> 8) as u32);
        // Page tables in guest RAM mapping the ring, push buffer and semaphore pages.
        let ram = &self.bar0.guest;
        let mut vram_unused = vram(4096);
        let mut mem = Mem {
            vram: &mut vram_unused,
            sys: ram,
        };
        let mut pt = PageTables::new(&mut mem, Aperture::SysCoherent, TABLES);
        for (va, pa) in [(RING_VA, RING), (PUSH_VA, PUSH), (SEM_VA, SEM)] {
            pt.map(&mut mem, va, Phys(Aperture::SysCoherent, pa), false);
        }
        if self.gen != Generation::Pascal {
            // Sized from NV_CE_PCE_MAP, as nouveau does.
            let size = method_buffer_size(self.r(0x104028));
            assert!(size <= 0x4000);
            let ram = &self.bar0.guest;
            let mut mem = Mem {
                vram: &mut vram_unused,
                sys: ram,
            };
            for off in (0..size).step_by(4096) {
                let page = Phys(Aperture::SysCoherent, MB + off);
                pt.map(&mut mem, MB_VA + off, page, false);
            }
            self.sys32(INST + 0x220, MB_VA as u32);
            self.sys32(INST + 0x224, (MB_VA >> 32) as u32);
            self.sys32(INST + 0xac, 1 << 17);
            let bar2 = self.bar2_block();
            self.w(bar2, (1 << 31) | (2 << 28) | (INST >> 12) as u32);
        }
        // RAMFC and RAMIN.
        let (userd_lo, userd_hi) = match self.gen {
            Generation::Pascal => (PASCAL_USERD as u32, 0),
            _ => (USERD as u32 | 2, (USERD >> 32) as u32),
        };
        self.sys32(INST + 0x08, userd_lo);
        self.sys32(INST + 0x0c, userd_hi);
        self.sys32(INST + 0x10, 0xface);
        self.sys32(INST + 0x48, RING_VA as u32);
        self.sys32(
            INST + 0x4c,
            (RING_VA >> 32) as u32 | (RING_ENTRIES.trailing_zeros() << 16),
        );
        let pdb = pt.pdb.1;
        self.sys32(
            INST + 0x200,
            pdb as u32 | 2 | (1 << 2) | (1 << 10) | (1 << 11),
        );
        self.sys32(INST + 0x204, (pdb >> 32) as u32);
        // NV_RAMIN_ADR_LIMIT: the whole 40-bit space (Pascal faults VAs above it).
        self.sys32(INST + 0x208, 0xffff_ffff);
        self.sys32(INST + 0x20c, 0xff);
        // The runlist: channel 0 alone (in TSG 0 from Volta on).
        let entries = if self.gen == Generation::Pascal {
            self.sys32(RUNLIST, 0);
            self.sys32(RUNLIST + 4, 0);
            1
        } else {
            for (i, v) in [1, 1, 0, 0].into_iter().enumerate() {
                self.sys32(RUNLIST + 4 * i as u64, v);
            }
            let chan = [
                (USERD as u32) | (2 << 6) | (2 << 4),
                (USERD >> 32) as u32,
                INST as u32,
                (INST >> 32) as u32,
            ];
            for (i, v) in chan.into_iter().enumerate() {
                self.sys32(RUNLIST + 16 + 4 * i as u64, v);
            }
            2
        };
        if self.gen == Generation::Turing {
            let rl = 0x2b00 + 16 * self.runlist;
            self.w(rl, RUNLIST as u32 | 2);
            self.w(rl + 4, (RUNLIST >> 32) as u32);
            self.w(rl + 8, entries);
        } else {
            self.w(0x2270, (2 << 28) | (RUNLIST >> 12) as u32);
            self.w(0x2274, (self.runlist << 20) | entries);
        }
        if self.gen == Generation::Pascal {
            self.w(0x2254, 0x1000_0000 | (PASCAL_USERD >> 12) as u32);
        }
        if self.gen == Generation::Turing {
            let cfg = self.r(0xb65000);
            assert_eq!(cfg, 0xfff);
            self.w(0xb65000, cfg | (1 << 31));
        }
        self.w(0x800000, (1 << 31) | (2 << 28) | (INST >> 12) as u32);
        self.w(0x800004, 1 << 10);
        self.push = inc(0, 0, &[self.class]);
    }

    /// The live BAR2 block: `NV_PBUS_BAR2_BLOCK`, on Turing `NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK`.
    fn bar2_block(&self) -> u32 {
        match self.gen {
            Generation::Turing => 0xb8_0f48,
            _ => 0x1714,
        }
    }

    fn userd(&self, off: u64) -> Phys {
        match self.gen {
            Generation::Pascal => Phys(Aperture::Vid, PASCAL_USERD + off),
            _ => Phys(Aperture::SysCoherent, USERD + off),
        }
    }

    /// A CPU write of USERD (not a DMA: no bus mastering needed).
    fn userd_write(&mut self, off: u64, v: u32) {
        match self.userd(off) {
            Phys(Aperture::Vid, at) => assert!(self.bar0.vram_mut().write(at, &v.to_le_bytes())),
            Phys(_, at) => self.sys32(at, v),
        }
    }

    fn gp_get(&mut self) -> u32 {
        match self.userd(0x88) {
            Phys(Aperture::Vid, at) => {
                let mut b = [0; 4];
                assert!(self.bar0.vram_mut().read(at, &mut b));
                u32::from_le_bytes(b)
            }
            Phys(_, at) => self.sys_read32(at),
        }
    }

    /// Methods for subchannel 0, appended to the pending segment.
    fn methods(&mut self, method: u32, data: &[u32]) {
        self.push.extend(inc(0, method, data));
    }

    /// Puts the pending segment in the push buffer page, adds its GPFIFO entry, writes GP_PUT and
    /// rings the doorbell, without letting the engine run.
    fn kick(&mut self) {
        self.submit();
        self.ring();
    }

    fn submit(&mut self) {
        let words = std::mem::take(&mut self.push);
        let slot = u64::from(self.gp_put);
        // One 256-byte push buffer slot per GPFIFO entry.
        let at = PUSH + slot * 256;
        assert!(words.len() <= 64);
        for (i, &w) in words.iter().enumerate() {
            self.sys32(at + 4 * i as u64, w);
        }
        let va = PUSH_VA + slot * 256;
        self.sys32(RING + slot * 8, va as u32);
        self.sys32(
            RING + slot * 8 + 4,
            (va >> 32) as u32 | ((words.len() as u32) << 10),
        );
        self.gp_put = (self.gp_put + 1) % RING_ENTRIES;
        let put = self.gp_put;
        self.userd_write(0x8c, put);
    }

    fn ring(&mut self) {
        match self.gen {
            Generation::Volta => self.w(0x810090, 0),
            Generation::Turing => self.w(0xbb0090, self.runlist << 16),
            _ => {}
        }
    }

    fn run(&mut self) {
        for _ in 0..100 {
            if !self.bar0.service() {
                return;
            }
        }
        panic!("the engine keeps running");
    }

    fn copy(&mut self, src: (u32, u64), dst: (u32, u64), pages: u32, sem: Option<u32>) {
        self.methods(0x260, &[src.0]);
        self.methods(0x264, &[dst.0]);
        self.methods(
            0x400,
            &[
                (src.1 >> 32) as u32,
                src.1 as u32,
                (dst.1 >> 32) as u32,
                dst.1 as u32,
                4096,
                4096,
                4096,
                pages,
            ],
        );
        self.launch(
            0x2 | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 12) | (1 << 13),
            sem,
        );
    }

    fn launch(&mut self, mut v: u32, sem: Option<u32>) {
        if let Some(payload) = sem {
            self.methods(0x240, &[(SEM_VA >> 32) as u32, SEM_VA as u32, payload]);
            v |= 1 << 3;
        }
        self.methods(0x300, &[v]);
    }

    fn channel(&mut self) -> u32 {
        self.r(0x800004)
    }

    fn vram_bytes(&mut self, at: u64, len: usize) -> Vec<u8> {
        self.bar0.vram_mut().bytes()[at as usize..at as usize + len].to_vec()
    }

    fn sys_bytes(&self, at: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        assert!(self.bar0.guest.read(at, &mut b));
        b
    }

    fn rejects(&self) -> usize {
        self.log.text().matches("REJECT").count()
    }
}

const LOCAL_FB: u32 = 0;
const COHERENT: u32 = 1;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn copies_sysmem_to_vidmem_and_back_on_every_generation() {
    for board in ["p100", "p40", "v100", "rtx8000"] {
        let mut rig = Rig::new(board, None);
        let src = pattern(4 * 4096, 7);
        assert!(rig.bar0.guest.write(DATA, &src));
        rig.copy((COHERENT, DATA), (LOCAL_FB, 0x20_0000), 4, Some(1));
        rig.kick();
        rig.copy((LOCAL_FB, 0x20_0000), (COHERENT, DATA + 0x4000), 4, Some(2));
        rig.kick();
        rig.run();
        let log = rig.log.text();
        assert_eq!(rig.vram_bytes(0x20_0000, src.len()), src, "{board}\n{log}");
        assert_eq!(rig.sys_bytes(DATA + 0x4000, src.len()), src, "{board}");
        assert_eq!(rig.sys_read32(SEM), 2, "{board}");
        assert_eq!(rig.gp_get(), 2, "{board}");
        assert_eq!(rig.rejects(), 0, "{board}\n{log}");
        assert!(log.contains("CE copy sysmem:0x10100000 -> vidmem:0x200000 4096x4 (16384 bytes)"));
        assert!(log.contains("CE copy vidmem:0x200000 -> sysmem:0x10104000 4096x4 (16384 bytes)"));
        assert!(log.contains("CE semaphore va:0x2000002000 = 0x1"));
        assert!(log.contains(&format!("FIFO runlist {} submitted", rig.runlist)));
        assert!(log.contains("FIFO channel 0 bound: instance sysmem:0x10000000"));
        assert!(log.contains("FIFO channel 0 enabled"));
        assert!(rig.bar0.summary().ends_with(
            "0 rejected, CE 2 launches, 32768 bytes copied, 0 filled, 2 semaphores, 0 faults"
        ));
        // Idle, enabled, no faults.
        assert_eq!(rig.channel() & 0x1fc0_0001, 1, "{board}");
    }
}

#[test]
fn fills_through_the_remap_unit() {
    let mut rig = Rig::new("v100", None);
    let junk = vec![0xa5; 3 * 4096];
    assert!(rig.bar0.vram_mut().write(0x10_0000, &junk));
    // Two 4 KiB lines of zero: 1024 four-byte CONST_A elements each.
    rig.methods(0x700, &[0]);
    rig.methods(0x708, &[4 | (3 << 16)]);
    rig.methods(0x264, &[LOCAL_FB]);
    rig.methods(0x408, &[0, 0x10_0000, 4096, 4096, 1024, 2]);
    let fill = 0x2 | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 13);
    rig.launch(fill, Some(9));
    rig.kick();
    rig.run();
    assert_eq!(rig.vram_bytes(0x10_0000, 8192), vec![0; 8192]);
    assert_eq!(rig.vram_bytes(0x10_2000, 4096), vec![0xa5; 4096]);
    assert_eq!(rig.sys_read32(SEM), 9);
    assert!(rig
        .log
        .text()
        .contains("CE fill vidmem:0x100000 4096x2 (8192 bytes) value 0x0"));
    assert!(rig.bar0.summary().contains("0 bytes copied, 8192 filled"));
    assert_eq!(rig.rejects(), 0);
}

#[test]
fn four_word_semaphores_carry_a_timestamp() {
    let mut rig = Rig::new("rtx8000", None);
    rig.methods(0x240, &[(SEM_VA >> 32) as u32, SEM_VA as u32, 0x77]);
    rig.methods(0x300, &[(2 << 3) | (1 << 7) | (1 << 8)]);
    rig.kick();
    rig.run();
    assert_eq!(rig.sys_read32(SEM), 0x77);
    assert_ne!(rig.sys_read32(SEM + 8) | rig.sys_read32(SEM + 12), 0);
    assert!(rig
        .log
        .text()
        .contains("CE semaphore va:0x2000002000 = 0x77 four-word"));
}

#[test]
fn volta_and_turing_wait_for_the_doorbell() {
    for board in ["v100", "rtx8000"] {
        let mut rig = Rig::new(board, None);
        rig.launch((1 << 7) | (1 << 8), Some(1));
        rig.submit();
        rig.run();
        assert_eq!(rig.sys_read32(SEM), 0, "{board}");
        rig.ring();
        rig.run();
        assert_eq!(rig.sys_read32(SEM), 1, "{board}");
        assert!(rig.log.text().contains("FIFO doorbell"));
    }
}

#[test]
fn registers_exist_per_generation() {
    let mut p = Rig::new("p40", None);
    assert!(p.try_w(0x810090, 0).is_err());
    assert!(p.try_w(0xbb0090, 0).is_err());
    let mut v = Rig::new("v100", None);
    assert!(v.try_w(0x2254, 0).is_err());
    assert!(v.try_w(0xbb0090, 0).is_err());
    // The doorbell is write-only.
    assert!(v.bar0.read(0x810090, &mut [0; 4]).is_err());
    let mut t = Rig::new("rtx8000", None);
    assert!(t.try_w(0x2270, 0).is_err());
    assert!(t.try_w(0x810090, 0).is_err());
    // A doorbell naming a runlist that does not hold the channel.
    assert!(t.try_w(0xbb0090, 2 << 16).is_err());
    // Undefined bits.
    assert!(t.try_w(0x800000, 1 << 30).is_err());
    assert!(t.try_w(0x800004, 1 << 2).is_err());
    assert!(t.try_w(0x2634, 1 << 12).is_err());
    // Turing doorbells are off without NV_CTRL_VIRTUAL_CHANNEL_CFG(0) PENDING_ENABLE.
    t.w(0xb65000, 0xfff);
    assert!(t.try_w(0xbb0090, t.runlist << 16).is_err());
    assert_eq!(t.rejects(), 7);
}

#[test]
fn clearing_pmc_enable_stops_the_engine() {
    for bit in [8, u32::MAX] {
        let mut rig = Rig::new("v100", None);
        let bit = if bit == u32::MAX { rig.reset } else { bit };
        assert!(rig.bar0.guest.write(DATA, &pattern(4096, 3)));
        rig.copy((COHERENT, DATA), (LOCAL_FB, 0), 1, Some(1));
        rig.kick();
        let pmc = rig.r(0x200);
        rig.w(0x200, pmc & !(1 << bit));
        rig.run();
        assert_eq!(rig.vram_bytes(0, 4096), vec![0; 4096]);
        assert_eq!(rig.sys_read32(SEM), 0);
        assert!(rig.log.text().contains("engine stopped"));
        rig.w(0x200, pmc);
        rig.run();
        if bit == 8 {
            // A PFIFO reset forgot the channel, its runlist and its work: nothing resumes.
            assert!(rig
                .log
                .text()
                .contains("FIFO reset: runlists, channels and USERD base cleared"));
            assert_eq!(rig.r(0x800000), 0);
            assert_eq!(rig.sys_read32(SEM), 0);
        } else {
            assert_eq!(rig.vram_bytes(0, 4096), pattern(4096, 3));
            assert_eq!(rig.sys_read32(SEM), 1);
        }
    }
    // A disabled channel does not run either.
    let mut rig = Rig::new("rtx8000", None);
    rig.w(0x800004, 1 << 11);
    rig.methods(0x240, &[(SEM_VA >> 32) as u32, SEM_VA as u32, 5]);
    rig.methods(0x300, &[(1 << 3) | (1 << 7) | (1 << 8)]);
    rig.kick();
    rig.run();
    assert_eq!(rig.sys_read32(SEM), 0);
    rig.w(0x800004, 1 << 10);
    rig.w(0xbb0090, rig.runlist << 16);
    rig.run();
    assert_eq!(rig.sys_read32(SEM), 5);
}

fn faulted(kind: FaultKind, after: u64) -> Rig {
    let mut rig = Rig::new("v100", Some(CeFault { kind, after }));
    assert!(rig.bar0.guest.write(DATA, &pattern(8192, 5)));
    rig.copy((COHERENT, DATA), (LOCAL_FB, 0), 1, Some(1));
    rig.kick();
    rig.copy((COHERENT, DATA + 4096), (LOCAL_FB, 4096), 1, Some(2));
    rig.kick();
    rig.run();
    rig
}

#[test]
fn hang_stops_the_engine_for_good() {
    let mut rig = faulted(FaultKind::Hang, 1);
    // The first launch ran, the second never does.
    assert_eq!(rig.vram_bytes(0, 4096), pattern(8192, 5)[..4096]);
    assert_eq!(rig.vram_bytes(4096, 4096), vec![0; 4096]);
    assert_eq!(rig.sys_read32(SEM), 1);
    assert_eq!(rig.gp_get(), 1);
    // BUSY, ON_ENG; a preempt stays pending until the engine is reset.
    assert_eq!(rig.channel() >> 24, 0x17);
    rig.w(0x2634, 0);
    assert_ne!(rig.r(0x2634) & (1 << 20), 0);
    let pmc = rig.r(0x200);
    rig.w(0x200, pmc & !(1 << rig.reset));
    assert_eq!(rig.r(0x2634) & (1 << 20), 0);
    rig.w(0x200, pmc);
    rig.w(0x810090, 0);
    rig.run();
    assert_eq!(rig.vram_bytes(4096, 4096), vec![0; 4096]);
    let log = rig.log.text();
    assert!(log.contains("FAULT hang: the copy engine stops at launch 2 (channel 0)"));
    assert_eq!(rig.rejects(), 0);
    assert!(rig
        .bar0
        .summary()
        .ends_with("CE 1 launches, 4096 bytes copied, 0 filled, 1 semaphores, 1 faults"));
}

#[test]
fn error_faults_the_channel() {
    let mut rig = faulted(FaultKind::Error, 0);
    assert_eq!(rig.vram_bytes(0, 8192), vec![0; 8192]);
    assert_eq!(rig.sys_read32(SEM), 0);
    assert_ne!(rig.channel() & (1 << 22), 0);
    assert_eq!(rig.rejects(), 0);
    assert!(rig
        .log
        .text()
        .contains("FAULT error: channel 0 faults at launch 1"));
    // Resetting the fault lets the channel run again, into the same fault.
    rig.w(0x800004, 1 << 22);
    assert_eq!(rig.channel() & (1 << 22), 0);
    rig.w(0x810090, 0);
    rig.run();
    assert_ne!(rig.channel() & (1 << 22), 0);
}

#[test]
fn link_fault_takes_the_link_down_once() {
    let mut rig = faulted(FaultKind::Link, 1);
    // The first launch ran; the second took the link down before it copied anything.
    assert_eq!(rig.sys_read32(SEM), 1);
    assert!(rig.bar0.link_down());
    assert_eq!(rig.r(0x0), u32::MAX);
    assert!(rig.vram_bytes(0, 8192).iter().all(|&b| b == 0xff));
    assert!(rig
        .log
        .text()
        .contains("FAULT link: the board's link goes down at launch 2 (channel 0)"));
    // The reset brings the link back.
    rig.bar0.reset();
    assert!(!rig.bar0.link_down());
    assert_ne!(rig.r(0x0), u32::MAX);
}

#[test]
fn semaphore_fault_corrupts_the_payload() {
    let mut rig = faulted(FaultKind::Semaphore, 1);
    assert_eq!(rig.vram_bytes(0, 8192), pattern(8192, 5));
    assert_eq!(rig.sys_read32(SEM), 2 ^ 0xdead_0000);
    assert_eq!(rig.channel() & (3 << 22), 0);
    let log = rig.log.text();
    assert!(log.contains("CE semaphore va:0x2000002000 = 0x1\n"));
    assert!(log.contains("FAULT semaphore: channel 0 va:0x2000002000 = 0xdead0002 instead of 0x2"));
}

/// Submits `words` after the SET_OBJECT and checks the channel faults with `bit` and a REJECT, and
/// that VRAM stays untouched.
fn refused(board: &str, words: &[u32], bit: u32, why: &str) {
    let mut rig = Rig::new(board, None);
    assert!(rig.bar0.guest.write(DATA, &pattern(4096, 9)));
    rig.push.extend_from_slice(words);
    rig.kick();
    rig.run();
    let log = rig.log.text();
    assert_ne!(rig.channel() & (1 << bit), 0, "{why}\n{log}");
    assert!(log.contains(why), "{why}\n{log}");
    assert_eq!(rig.rejects(), 1, "{log}");
    assert!(rig.vram_bytes(0, 1 << 20).iter().all(|&b| b == 0));
    assert_eq!(rig.gp_get(), 0);
    assert!(rig.bar0.summary().ends_with("1 faults"));
}

const PHYS_COPY: u32 = 0x2 | (1 << 7) | (1 << 8) | (1 << 12) | (1 << 13);

fn copy_words(src: (u32, u64), dst: u64, len: u32, launch: u32) -> Vec<u32> {
    let mut w = inc(0, 0x260, &[src.0, LOCAL_FB]);
    w.extend(inc(
        0,
        0x400,
        &[
            (src.1 >> 32) as u32,
            src.1 as u32,
            (dst >> 32) as u32,
            dst as u32,
        ],
    ));
    w.extend(inc(0, 0x418, &[len]));
    w.extend(inc(0, 0x300, &[launch]));
    w
}

#[test]
fn malformed_work_is_refused_and_faults_the_channel() {
    const ENG: u32 = 23;
    const PBDMA: u32 = 22;
    refused(
        "v100",
        &inc(0, 0x500, &[0]),
        ENG,
        "method 0x500 of class 0xc3b5 is not modelled",
    );
    refused(
        "v100",
        &inc(1, 0x300, &[PHYS_COPY]),
        PBDMA,
        "subchannel 1, which has no class bound",
    );
    refused(
        "p100",
        &inc(2, 0, &[0xc3b5]),
        PBDMA,
        "the copy engine is class 0xc0b5",
    );
    refused("v100", &[2 << 29], PBDMA, "SEC_OP 2 is not modelled");
    refused(
        "v100",
        &inc(0, 0x40, &[0]),
        PBDMA,
        "host method 0x40 is not modelled",
    );
    refused(
        "v100",
        &copy_words((COHERENT, DATA), 0, 4096, PHYS_COPY & !(1 << 7)),
        ENG,
        "block-linear layouts are not modelled",
    );
    refused(
        "v100",
        &copy_words((COHERENT, DATA), 0, 0, PHYS_COPY),
        ENG,
        "LINE_LENGTH_IN is 0",
    );
    refused(
        "rtx8000",
        &copy_words((COHERENT, 0x8000_0000), 0, 4096, PHYS_COPY),
        ENG,
        "are not mapped guest memory",
    );
    refused(
        "v100",
        &copy_words((COHERENT, DATA), (16 << 30) - 2048, 4096, PHYS_COPY),
        ENG,
        "beyond the emulated VRAM",
    );
    refused(
        "v100",
        &copy_words((COHERENT, DATA), 0, 4096, PHYS_COPY | (1 << 27)),
        ENG,
        "undefined bits 0x8000000",
    );
    refused(
        "v100",
        &inc(0, 0x400, &[1 << 17]),
        ENG,
        "OFFSET_IN_UPPER 0x20000: undefined bits",
    );
    let mut sem = inc(0, 0x240, &[(SEM_VA >> 32) as u32, SEM_VA as u32 + 2, 1]);
    sem.extend(inc(0, 0x300, &[(1 << 3) | (1 << 7) | (1 << 8)]));
    refused("v100", &sem, ENG, "is not 4-byte aligned");
    // A fill whose lines are longer than the pitch: LINE_LENGTH_IN counts elements.
    let mut fill = inc(0, 0x708, &[4 | (3 << 16)]);
    fill.extend(inc(0, 0x408, &[0, 0, 4096, 4096, 4096, 2]));
    fill.extend(inc(0, 0x300, &[PHYS_COPY | (1 << 9) | (1 << 10)]));
    refused("v100", &fill, ENG, "lines are longer than the pitch");
}

#[test]
fn unmapped_gpfifo_faults_the_pbdma() {
    let mut rig = Rig::new("v100", None);
    // A GPFIFO entry pointing at an unmapped VA.
    rig.sys32(RING, 0x1000);
    rig.sys32(RING + 4, 4 << 10);
    rig.userd_write(0x8c, 1);
    rig.w(0x810090, 0);
    rig.run();
    assert_ne!(rig.channel() & (1 << 22), 0);
    assert!(rig
        .log
        .text()
        .contains("REJECT PBDMA channel 0: push buffer: va:0x1000"));
}

#[test]
fn the_worker_polls_pascal_and_answers_volta_doorbells() {
    use crate::Shared;
    use std::sync::Condvar;
    use std::time::{Duration, Instant};
    for board in ["p40", "v100"] {
        let mut rig = Rig::new(board, None);
        rig.launch((1 << 7) | (1 << 8), Some(3));
        rig.submit();
        let Rig {
            bar0, gen, _ram, ..
        } = rig;
        let shared = Arc::new(Shared {
            bar0: Mutex::new(bar0),
            wake: Condvar::new(),
        });
        let stop = Arc::new(Mutex::new(false));
        let worker = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || shared.work(&stop))
        };
        if gen == Generation::Volta {
            shared.lock().write(0x810090, &[0; 4]).unwrap();
            shared.wake.notify_one();
        }
        let released = |s: &Shared| {
            let mut b = [0; 4];
            s.lock().guest.read(SEM, &mut b);
            u32::from_le_bytes(b) == 3
        };
        let start = Instant::now();
        while !released(&shared) {
            assert!(start.elapsed() < Duration::from_secs(5), "{board}");
            std::thread::sleep(Duration::from_millis(1));
        }
        *stop.lock().unwrap() = true;
        shared.wake.notify_one();
        worker.join().unwrap();
    }
}

#[test]
fn bar2_block_and_pce_map_exist_per_generation() {
    let mut p = Rig::new("p40", None);
    // NV_CE_PCE_MAP is Volta's and Turing's; BAR2_BLOCK is on every generation.
    assert!(p.bar0.read(0x104028, &mut [0; 4]).is_err());
    assert_eq!(p.r(0x1714), 0);
    p.w(0x1714, (1 << 31) | (3 << 28) | 0x123);
    assert_eq!(p.r(0x1714), 0xb000_0123);
    assert_eq!(p.rejects(), 1);
    // Pascal and Volta have no 0xB80F40 block.
    assert!(p.bar0.read(0xb80f48, &mut [0; 4]).is_err());
    for board in ["v100", "rtx8000"] {
        let mut rig = Rig::new(board, None);
        let bar2 = rig.bar2_block();
        assert_eq!(rig.r(0x104028), 0xf, "{board}");
        assert!(rig.try_w(0x104028, 0xf).is_err(), "{board}");
        // TARGET 1 is undefined; the binding stays as it was.
        let bound = (1 << 31) | (2 << 28) | (INST >> 12) as u32;
        assert_eq!(rig.r(bar2), bound, "{board}");
        assert!(rig.try_w(bar2, (1 << 31) | (1 << 28)).is_err(), "{board}");
        assert_eq!(rig.r(bar2), bound, "{board}");
        // Bit 30 is undefined in NV_PBUS_BAR2_BLOCK, RESERVED (default 1) in Turing's block.
        assert_eq!(
            rig.try_w(bar2, bound | (1 << 30)).is_ok(),
            rig.gen == Generation::Turing,
            "{board}"
        );
        // The BAR2 bind completed at once: BAR2_PENDING and BAR2_OUTSTANDING are clear.
        let status = if rig.gen == Generation::Turing {
            0xb80f50
        } else {
            0x1710
        };
        assert_eq!(rig.r(status) & 0xc, 0, "{board}");
        let log = rig.log.text();
        assert!(log.contains("R4 0x00104028 = 0x0000000f NV_CE_PCE_MAP"));
        if rig.gen == Generation::Turing {
            assert_eq!(rig.rejects(), 2, "{board}\n{log}");
            assert!(log.contains("W4 0x00b80f48 = 0xa0010000 NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK"));
        } else {
            assert_eq!(rig.rejects(), 3, "{board}\n{log}");
            assert!(log.contains("undefined NV_PBUS_BAR2_BLOCK bits"));
            assert!(log.contains("W4 0x00001714 = 0xa0010000 NV_PBUS_BAR2_BLOCK"));
        }
    }
}

/// Turing moved BAR1/BAR2 binding to 0xB80F40/0xB80F48/0xB80F50 (nouveau `bar/tu102.c`, OpenRM
/// `kern_bus_tu102.c`): the old 0x1704/0x1714 keep what is written but do nothing, so a BAR2
/// bound there leaves the method buffer unreachable, and a BAR1 left virtual shows only at
/// 0xB80F40.
#[test]
fn turing_binds_bar1_and_bar2_through_the_b80f40_block_only() {
    let mut rig = Rig::new("rtx8000", None);
    let bound = (1 << 31) | (2 << 28) | (INST >> 12) as u32;
    rig.w(0xb80f48, 0);
    rig.w(0x1714, bound);
    assert_eq!(rig.r(0x1714), bound);
    rig.launch((1 << 7) | (1 << 8), Some(1));
    rig.kick();
    rig.run();
    let log = rig.log.text();
    assert!(
        log.contains("REJECT CE channel 0: BAR2 is not bound in virtual mode"),
        "{log}"
    );
    assert!(log.contains("NV_PBUS_BAR2_BLOCK (no effect on TU10x)"));
    let knobs = Knobs {
        bar1_virtual: true,
        ..Knobs::default()
    };
    let (mut b, _) = crate::bar0::tests::bar0("rtx8000", knobs);
    let read = |b: &mut Bar0, at: u64| {
        let mut d = [0; 4];
        b.read(at, &mut d).unwrap();
        u32::from_le_bytes(d)
    };
    assert_eq!(read(&mut b, 0x1704) >> 31, 0);
    assert_eq!(read(&mut b, 0xb80f40) >> 31, 1);
    // Writing the old register does not put BAR1 back in physical mode.
    b.write(0x1704, &0u32.to_le_bytes()).unwrap();
    assert!(b.summary().starts_with("BAR1 virtual"));
    b.write(0xb80f40, &0u32.to_le_bytes()).unwrap();
    assert!(b.summary().starts_with("BAR1 physical"));
}

#[test]
fn method_buffer_is_checked_on_volta_and_turing_only() {
    for board in ["p100", "p40", "v100", "rtx8000"] {
        let mut rig = Rig::new(board, None);
        rig.launch((1 << 7) | (1 << 8), Some(1));
        rig.kick();
        rig.launch((1 << 7) | (1 << 8), Some(2));
        rig.kick();
        rig.run();
        let log = rig.log.text();
        assert_eq!(rig.sys_read32(SEM), 2, "{board}\n{log}");
        assert_eq!(rig.rejects(), 0, "{board}\n{log}");
        let line = "FIFO channel 0 method buffer va:0x2000003000 (8192 bytes) through BAR2";
        // Pascal channels run with no method buffer and BAR2 unbound; the others log theirs once
        // per bind.
        let expected = usize::from(rig.gen != Generation::Pascal);
        assert_eq!(log.matches(line).count(), expected, "{board}\n{log}");
        rig.w(0x800000, (1 << 31) | (2 << 28) | (INST >> 12) as u32);
        rig.launch((1 << 7) | (1 << 8), Some(3));
        rig.kick();
        rig.run();
        assert_eq!(rig.sys_read32(SEM), 3, "{board}");
        assert_eq!(rig.log.text().matches(line).count(), 2 * expected);
    }
    // Four PCEs: 27 * 5 * (13 * 4 + 2) = 7290 bytes, two pages.
    assert_eq!(method_buffer_size(0xf), 8192);
}

/// Undoes one piece of the method buffer setup after bring-up and checks that the first
/// `LAUNCH_DMA` is refused with `why` and faults the channel's engine before it runs.
fn method_buffer_refused(undo: impl Fn(&mut Rig), why: &str) {
    for board in ["v100", "rtx8000"] {
        let mut rig = Rig::new(board, None);
        undo(&mut rig);
        rig.launch((1 << 7) | (1 << 8), Some(1));
        rig.kick();
        rig.run();
        let log = rig.log.text();
        assert_ne!(rig.channel() & (1 << 23), 0, "{board}: {why}\n{log}");
        assert!(
            log.contains(&format!("REJECT CE channel 0: {why}")),
            "{board}: {why}\n{log}"
        );
        assert!(log.contains("FIFO channel 0 ENG_FAULTED"), "{board}");
        assert!(!log.contains("FIFO channel 0 method buffer"), "{board}");
        assert_eq!(rig.rejects(), 1, "{board}\n{log}");
        assert_eq!(rig.sys_read32(SEM), 0, "{board}");
        assert_eq!(rig.gp_get(), 0, "{board}");
        assert!(rig.bar0.summary().contains("CE 0 launches"), "{board}");
    }
}

#[test]
fn launch_without_a_method_buffer_address_is_refused() {
    method_buffer_refused(
        |rig| {
            rig.sys32(INST + 0x220, 0);
            rig.sys32(INST + 0x224, 0);
        },
        "no fault method buffer (instance +0x220/+0x224 is 0)",
    );
}

#[test]
fn launch_with_the_method_buffer_not_valid_is_refused() {
    method_buffer_refused(
        |rig| rig.sys32(INST + 0xac, 0),
        "RAMFC +0xAC bit 17 (method buffer valid) is clear",
    );
}

#[test]
fn launch_without_bar2_in_virtual_mode_is_refused() {
    method_buffer_refused(
        |rig| rig.w(rig.bar2_block(), 0),
        "BAR2 is not bound in virtual mode (NV_PBUS_BAR2_BLOCK 0x00000000), so method buffer va:0x2000003000 reaches nothing",
    );
    method_buffer_refused(
        |rig| rig.w(rig.bar2_block(), (2 << 28) | (INST >> 12) as u32),
        "BAR2 is not bound in virtual mode (NV_PBUS_BAR2_BLOCK 0x20010000)",
    );
}

#[test]
fn launch_with_the_method_buffer_unmapped_through_bar2_is_refused() {
    // The buffer's second page is past the two the rig maps.
    method_buffer_refused(
        |rig| rig.sys32(INST + 0x220, (MB_VA + 0x1000) as u32),
        "method buffer va:0x2000004000 is not mapped through BAR2 (page 1): va:0x2000005000: PTE 0x0 is not valid",
    );
    // BAR2 bound to a page that is no instance block (the runlist): no page tables behind it.
    method_buffer_refused(
        |rig| {
            let bar2 = rig.bar2_block();
            rig.w(bar2, (1 << 31) | (2 << 28) | (RUNLIST >> 12) as u32)
        },
        "BAR2 instance block sysmem:0x10001000: NV_RAMIN_USE_VER2_PT_FORMAT is FALSE",
    );
}

/// Without Bus Master Enable the GPU may not start a memory transaction: every engine access to
/// system memory is refused and logged, the runlist submission (a read of system memory) too.
#[test]
fn dma_needs_bus_master_enable() {
    for board in ["p100", "v100", "rtx8000"] {
        let mut rig = Rig::new(board, None);
        rig.bar0.set_bus_master(false);
        let src = pattern(4096, 3);
        assert!(rig.bar0.guest.write(DATA, &src));
        rig.copy((COHERENT, DATA), (LOCAL_FB, 0x20_0000), 1, Some(1));
        rig.kick();
        rig.run();
        let log = rig.log.text();
        assert!(log.contains("PCI bus master off"), "{board}\n{log}");
        assert!(
            log.contains("refused: Bus Master Enable (PCI_COMMAND bit 2) is clear"),
            "{board}\n{log}"
        );
        assert_ne!(rig.channel() & (3 << 22), 0, "{board}: channel faulted");
        assert_eq!(rig.vram_bytes(0x20_0000, 4096), vec![0; 4096], "{board}");
        assert_eq!(rig.sys_read32(SEM), 0, "{board}");
        let before = rig.rejects();
        let submit = if rig.gen == Generation::Turing {
            rig.try_w(0x2b08 + 16 * rig.runlist, 2)
        } else {
            rig.try_w(0x2274, (rig.runlist << 20) | 1)
        };
        assert!(
            submit.is_err(),
            "{board}: runlist read without bus mastering"
        );
        assert_eq!(rig.rejects(), before + 1, "{board}");
    }
}

/// Pascal checks every GPU virtual address against the instance block's `NV_RAMIN_ADR_LIMIT`
/// (a VA_LIMIT_VIOLATION fault above it); Volta and Turing ignore the deprecated field.
#[test]
fn pascal_faults_vas_above_the_instance_address_limit() {
    for board in ["p100", "p40", "v100", "rtx8000"] {
        let mut rig = Rig::new(board, None);
        rig.sys32(INST + 0x208, 0);
        rig.sys32(INST + 0x20c, 0);
        rig.launch((1 << 7) | (1 << 8), Some(1));
        rig.kick();
        rig.run();
        let log = rig.log.text();
        let faulted = log.contains(
            "REJECT PBDMA channel 0: GPFIFO entry 0: va:0x2000000007: VA_LIMIT_VIOLATION (NV_RAMIN_ADR_LIMIT is 0xfff)",
        );
        let pascal = rig.gen == Generation::Pascal;
        assert_eq!(faulted, pascal, "{board}\n{log}");
        assert_eq!(rig.sys_read32(SEM), u32::from(!pascal), "{board}");
    }
}

/// A previous driver's leftovers (`--leftovers`): channel 0 bound elsewhere and faulted, PFIFO and
/// the engines on, stale TLBs. A driver that only ORs NV_PMC_ENABLE and never invalidates gets a
/// channel that never runs; one that pulses PFIFO through reset and invalidates all PDBs (as
/// nouveau does) runs as on a clean board.
#[test]
fn leftovers_need_a_pfifo_reset_and_a_tlb_invalidate() {
    for board in ["p100", "v100", "rtx8000"] {
        let knobs = || Knobs {
            leftovers: true,
            ..Knobs::default()
        };
        let mut naive = Rig::build(board, knobs(), true);
        assert_ne!(
            naive.channel() & (1 << 22),
            0,
            "{board}: PBDMA_FAULTED left over"
        );
        naive.launch((1 << 7) | (1 << 8), Some(1));
        naive.kick();
        naive.run();
        assert_eq!(naive.sys_read32(SEM), 0, "{board}\n{}", naive.log.text());
        let mut rig = Rig::build(board, knobs(), false);
        rig.launch((1 << 7) | (1 << 8), Some(1));
        rig.kick();
        rig.run();
        let log = rig.log.text();
        assert_eq!(rig.sys_read32(SEM), 1, "{board}\n{log}");
        assert!(log.contains("FIFO reset: runlists, channels and USERD base cleared"));
        assert!(log.contains("MMU TLB invalidated (all PDBs)"));
        assert_eq!(rig.rejects(), 0, "{board}\n{log}");
        // Only the invalidate clears the TLBs: a reset alone is not enough.
        let mut reset_only = Rig::build(board, knobs(), true);
        let pmc = reset_only.r(0x200);
        reset_only.w(0x200, pmc & !(1 << 8));
        reset_only.w(0x200, pmc);
        let runlist = reset_only.runlist;
        let (inst, rl) = ((1u32 << 31) | (2 << 28) | (INST >> 12) as u32, RUNLIST);
        reset_only.w(0x800000, inst);
        if reset_only.gen == Generation::Turing {
            reset_only.w(0x2b00 + 16 * runlist, rl as u32 | 2);
            reset_only.w(0x2b08 + 16 * runlist, 2);
        } else {
            let entries = if reset_only.gen == Generation::Pascal {
                1
            } else {
                2
            };
            reset_only.w(0x2270, (2 << 28) | (rl >> 12) as u32);
            reset_only.w(0x2274, (runlist << 20) | entries);
        }
        if reset_only.gen == Generation::Pascal {
            reset_only.w(0x2254, 0x1000_0000 | (PASCAL_USERD >> 12) as u32);
        }
        reset_only.w(0x800004, 1 << 10);
        reset_only.launch((1 << 7) | (1 << 8), Some(1));
        reset_only.kick();
        reset_only.run();
        let log = reset_only.log.text();
        assert!(
            log.contains("the MMU TLBs still hold a previous driver's translations"),
            "{board}\n{log}"
        );
    }
}

/// `--ce-fault misdirect`: the copy lands one page past its destination, the semaphore is still
/// released: only a check of the memory around the destination catches it.
#[test]
fn misdirected_copies_land_one_page_off() {
    let mut rig = Rig::new(
        "v100",
        Some(CeFault {
            kind: FaultKind::Misdirect,
            after: 0,
        }),
    );
    let src = pattern(4096, 5);
    assert!(rig.bar0.guest.write(DATA, &src));
    rig.copy((COHERENT, DATA), (LOCAL_FB, 0x20_0000), 1, Some(1));
    rig.kick();
    rig.run();
    assert_eq!(rig.sys_read32(SEM), 1);
    assert_eq!(rig.vram_bytes(0x20_0000, 4096), vec![0; 4096]);
    assert_eq!(rig.vram_bytes(0x20_1000, 4096), src);
    assert!(rig.log.text().contains("FAULT misdirect"));
}
