// SPDX-License-Identifier: GPL-2.0

//! BAR1 in virtual mode, with `--bar1-emulated` (every guest BAR1 access reaches the model).
//!
//! The BAR1 block (`NV_PBUS_BAR1_BLOCK` 0x1704 up to Volta, `NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK`
//! 0xB80F40 on Turing; `dev_bus.ref.txt`, `dev_vm.ref.txt`) in MODE_VIRTUAL binds an instance
//! block (PTR 27:0 in 4 KiB units, TARGET 29:28): BAR1 offset N is then GPU virtual address N of
//! that instance block's address space. nouveau builds the BAR1 address space from VA 0 for the
//! size of the BAR (`gf100_bar_oneinit_bar`: `nvkm_vmm_new(device, 0, bar_len, ...)`) and gives
//! its buffers' VAs as BAR1 offsets (`nouveau_ttm_io_mem_reserve`: `bus.offset = vma[0].addr`).
//! The walk is the engines' (`mmu::walk`): 4 KiB, big (64 KiB with `NV_RAMIN_BIG_PAGE_SIZE`
//! 64 KiB, as nouveau's `gp100_vmm_join` sets it) and 2 MiB pages, the pages nouveau's BAR1
//! address space offers (`gp100_vmm`, `tu102_vmm` page lists: shifts 21, 16, 12).
//!
//! The instance block's page directory base is read when the block is written (the bind), not
//! at each access. Translations are cached in a TLB tagged with the page directory base, and the
//! directory entries a walk read in a directory cache: neither ever drops an entry on its own
//! (as strict as a TLB that never misses again), so a page-table change is seen only after an
//! MMU invalidate (`NV_PFB_PRI_MMU_INVALIDATE` 0x100CBC up to Volta, Turing's
//! `NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE` 0xB830B0; `pri_mmu_hub.ref.txt`, `dev_vm.ref.txt`)
//! that covers the address space (ALL_PDB, or `..._INVALIDATE_PDB` naming it) and the cached level
//! (`CACHE_LEVEL`: ALL, PTE_ONLY, UP_TO_PDE0..3). nouveau invalidates BAR1 with PAGE_ALL |
//! HUB_ONLY (`gp100_vmm_flush`, `tu102_vmm_flush`, which adds ALL_PDB), CACHE_LEVEL ALL. Faults
//! are not cached: a walk that faults is retried at the next access.
//!
//! An access that faults (no valid PTE, a read-only page written, beyond Pascal's
//! `NV_RAMIN_ADR_LIMIT`, an instance block that is no version-2 address space) completes on the
//! bus: a read returns [`FAULT_READ`] in every 32-bit word, a write is dropped. The manuals do not
//! say what a faulting BAR1 read returns; the model's value is one no data test expects, with the
//! 0xBADF prefix nouveau and OpenRM read as an error. Each fault is logged
//! (`BAR1 FAULT R|W offset: why`) and counted in the log's last line. Sparse pages (VOL without
//! VALID) read zeros and drop writes without a fault.

use crate::mmu::{self, Aperture, Level, Mem, Phys, Pte, Vm};
use std::collections::HashMap;

/// What a faulting BAR1 read returns in each 32-bit word (the model's choice, see above).
pub const FAULT_READ: u32 = 0xbadf_ba51;
/// Faults logged one by one; after that they are only counted.
const FAULTS_LOGGED: u64 = 100;
/// The page sizes a TLB entry can have (`mmu::walk`).
const PAGE_SIZES: [u64; 4] = [4 << 10, 64 << 10, 128 << 10, mmu::HUGE_PAGE];

#[derive(Default)]
pub struct Bar1 {
    /// `--bar1-emulated`: QEMU does not map BAR1 into the guest, so every access reaches the
    /// model and virtual mode can be emulated.
    pub emulated: bool,
    /// The address space bound in virtual mode (read at the bind), or why the bound instance
    /// block is none (every access faults); `None` in physical mode.
    bound: Option<Result<Vm, String>>,
    /// Cached translations: (page directory base, the page's first VA, its size).
    tlb: HashMap<(Phys, u64, u64), Pte>,
    /// Cached directory entries: (page directory base, the entry's address).
    directory: HashMap<(Phys, Phys), (Level, u64)>,
    pub stats: Stats,
}

#[derive(Default)]
pub struct Stats {
    /// Accesses translated in virtual mode.
    pub translated: u64,
    pub faults: u64,
}

/// An MMU invalidate's scope (`NV_PFB_PRI_MMU_INVALIDATE`): one address space or all
/// (`ALL_PDB`), and the highest level it drops (`CACHE_LEVEL`).
#[derive(Clone, Copy, Debug)]
pub struct Invalidate {
    /// The page directory named by `..._INVALIDATE_PDB`/`_UPPER_PDB`: whether it is in system
    /// memory (`APERTURE`, bit 1) and its address; `None` with ALL_PDB.
    pub pdb: Option<(bool, u64)>,
    pub level: Level,
}

impl Invalidate {
    /// Decodes a triggered invalidate (`TRIGGER` 31 set, `ALL_VA` 0 set) and the PDB registers:
    /// `ALL_PDB` 1; `CACHE_LEVEL` 26:24 (0 ALL, 1 PTE_ONLY, 2..5 UP_TO_PDE0..3, 6 and 7 up to
    /// PDE4 and PDE5, which these four-level tables do not have); `INVALIDATE_PDB` ADDR 31:4 (the
    /// address >> 12) and APERTURE 1:1, `INVALIDATE_UPPER_PDB` ADDR 19:0 (bits 59:40).
    pub fn decode(value: u32, pdb: [u32; 2]) -> Self {
        let level = match (value >> 24) & 7 {
            1 => Level::Pte,
            2 => Level::Pd0,
            3 => Level::Pd1,
            4 => Level::Pd2,
            _ => Level::Pd3,
        };
        let pdb = (value & 2 == 0).then(|| {
            let addr = (u64::from(pdb[0] >> 4) << 12) | (u64::from(pdb[1] & 0xf_ffff) << 40);
            (pdb[0] & 2 != 0, addr)
        });
        Self { pdb, level }
    }

    fn covers(&self, pdb: Phys) -> bool {
        self.pdb
            .is_none_or(|(sys, addr)| sys == (pdb.0 != Aperture::Vid) && addr == pdb.1)
    }
}

impl Bar1 {
    pub fn new(emulated: bool) -> Self {
        Self {
            emulated,
            ..Self::default()
        }
    }

    pub fn is_virtual(&self) -> bool {
        self.bound.is_some()
    }

    /// A write of the BAR1 block: binds its instance block in MODE_VIRTUAL (31), reading the
    /// address space there; returns the log line.
    pub fn bind(&mut self, block: u32, mem: &Mem, pascal: bool) -> String {
        if block >> 31 == 0 {
            self.bound = None;
            return "BAR1 physical: offset N is VRAM address N".into();
        }
        let Some(aperture) = Aperture::from_target((block >> 28) & 3) else {
            self.bound = Some(Err("TARGET is not a memory".into()));
            return "BAR1 virtual: instance block TARGET is not a memory; every access faults"
                .into();
        };
        let inst = Phys(aperture, u64::from(block & 0x0fff_ffff) << 12);
        let vm = Vm::from_instance(mem, inst, pascal);
        let line = match &vm {
            Ok(vm) => format!(
                "BAR1 virtual: instance block {inst}, page directory {}, big pages {} KiB",
                vm.pdb,
                vm.big_page >> 10
            ),
            Err(why) => format!("BAR1 virtual: instance block {inst}: {why}; every access faults"),
        };
        self.bound = Some(vm);
        line
    }

    /// Drops what `inv` covers from the TLB and the directory cache; returns how many
    /// translations and directory entries went.
    pub fn invalidate(&mut self, inv: Invalidate) -> (usize, usize) {
        let (tlb, dir) = (self.tlb.len(), self.directory.len());
        self.tlb.retain(|&(pdb, _, _), _| !inv.covers(pdb));
        self.directory
            .retain(|&(pdb, _), &mut (level, _)| !(inv.covers(pdb) && level <= inv.level));
        (tlb - self.tlb.len(), dir - self.directory.len())
    }

    /// The page behind `va`: from the TLB, or walked (through the directory cache) and cached.
    fn lookup(&mut self, mem: &Mem, vm: &Vm, va: u64) -> Result<(Pte, u64), String> {
        for size in PAGE_SIZES {
            if let Some(&pte) = self.tlb.get(&(vm.pdb, va & !(size - 1), size)) {
                return Ok((pte, size));
            }
        }
        let mut fresh = Vec::new();
        let pte = {
            let directory = &self.directory;
            let mut read = |level: Level, at: Phys| {
                if let Some(&(_, v)) = directory.get(&(vm.pdb, at)) {
                    return Ok(v);
                }
                let v = mem.read64(at)?;
                if level != Level::Pte {
                    fresh.push((at, level, v));
                }
                Ok(v)
            };
            mmu::walk(&mut read, vm.pdb, vm.big_page, va)?
        };
        let size = match pte {
            Pte::Page { size, .. } | Pte::Sparse { size } => size,
        };
        for (at, level, v) in fresh {
            self.directory.insert((vm.pdb, at), (level, v));
        }
        self.tlb.insert((vm.pdb, va & !(size - 1), size), pte);
        Ok((pte, size))
    }

    /// One guest access in virtual mode: a read fills `read`, a write stores `write`. Returns the
    /// log lines of its faults.
    pub fn access(
        &mut self,
        mem: &mut Mem,
        offset: u64,
        mut read: Option<&mut [u8]>,
        write: &[u8],
    ) -> Vec<String> {
        let mut lines = Vec::new();
        let len = read.as_ref().map_or(write.len(), |d| d.len());
        self.stats.translated += 1;
        let mut done = 0;
        while done < len {
            let va = offset + done as u64;
            let piece = self.piece(mem, va, len - done, read.is_none());
            let (n, result) = match piece {
                Ok((phys, n)) => {
                    let r = match (&mut read, phys) {
                        (Some(data), Some(p)) => mem.read(p, &mut data[done..done + n]),
                        (Some(data), None) => {
                            data[done..done + n].fill(0);
                            Ok(())
                        }
                        (None, Some(p)) => mem.write(p, &write[done..done + n]),
                        (None, None) => Ok(()),
                    };
                    (n, r)
                }
                Err((n, why)) => (n, Err(why)),
            };
            if let Err(why) = result {
                if let Some(data) = &mut read {
                    for (i, b) in data[done..done + n].iter_mut().enumerate() {
                        *b = FAULT_READ.to_le_bytes()[(va as usize + i) % 4];
                    }
                }
                self.stats.faults += 1;
                if self.stats.faults <= FAULTS_LOGGED {
                    let what = if read.is_some() { "R" } else { "W" };
                    lines.push(format!("BAR1 FAULT {what}{n} {va:#x}: {why}"));
                } else if self.stats.faults == FAULTS_LOGGED + 1 {
                    lines.push("BAR1 FAULT: more faults, only counted from here".into());
                }
            }
            done += n;
        }
        lines
    }

    /// Where the piece of `[va, va + len)` that one page holds goes (`None`: a sparse page), and
    /// its length; or its length and why it faults.
    #[allow(clippy::type_complexity)]
    fn piece(
        &mut self,
        mem: &Mem,
        va: u64,
        len: usize,
        write: bool,
    ) -> Result<(Option<Phys>, usize), (usize, String)> {
        let in_page = |size: u64| ((size - va % size) as usize).min(len);
        let vm = match &self.bound {
            Some(Ok(vm)) => *vm,
            Some(Err(why)) => return Err((in_page(4096), why.clone())),
            None => return Err((len, "not in virtual mode".into())),
        };
        vm.check_limit(va, 1).map_err(|e| (in_page(4096), e))?;
        let (pte, size) = self.lookup(mem, &vm, va).map_err(|e| (in_page(4096), e))?;
        match pte {
            Pte::Page {
                read_only: true, ..
            } if write => Err((
                in_page(size),
                format!("va:{va:#x}: write to a read-only page"),
            )),
            Pte::Page { base, .. } => Ok((Some(Phys(base.0, base.1 + va % size)), in_page(size))),
            Pte::Sparse { .. } => Ok((None, in_page(size))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bar0::tests::bar0;
    use crate::bar0::{Bar0, Knobs};
    use crate::mmu::tests::PageTables;

    /// Where the tests keep things in VRAM (the test boards emulate 4 MiB).
    const INSTANCE: u64 = 0x8_0000;
    const TABLES: u64 = 0x10_0000;
    const PAGE_A: u64 = 0x30_0000;
    const PAGE_B: u64 = 0x30_1000;

    fn emulated(board: &str) -> (Bar0, crate::bar0::tests::SharedLog) {
        let knobs = Knobs {
            bar1_emulated: true,
            ..Knobs::default()
        };
        bar0(board, knobs)
    }

    fn w32(b: &mut Bar0, offset: u64, v: u32) {
        b.write(offset, &v.to_le_bytes()).unwrap();
    }

    fn r32(b: &mut Bar0, offset: u64) -> u32 {
        let mut d = [0; 4];
        b.read(offset, &mut d).unwrap();
        u32::from_le_bytes(d)
    }

    fn bar1_read32(b: &mut Bar0, offset: u64) -> u32 {
        let mut d = [0; 4];
        assert!(b.bar1_access(offset, Some(&mut d), &[]));
        u32::from_le_bytes(d)
    }

    fn bar1_write32(b: &mut Bar0, offset: u64, v: u32) {
        assert!(b.bar1_access(offset, None, &v.to_le_bytes()));
    }

    fn vram32(b: &mut Bar0, addr: u64) -> u32 {
        let mut d = [0; 4];
        assert!(b.vram_mut().read(addr, &mut d));
        u32::from_le_bytes(d)
    }

    fn set_vram32(b: &mut Bar0, addr: u64, v: u32) {
        assert!(b.vram_mut().write(addr, &v.to_le_bytes()));
    }

    /// The BAR1 block of the board's generation.
    fn block_register(board: &str) -> u64 {
        if board == "rtx8000" {
            0xb8_0f40
        } else {
            0x1704
        }
    }

    /// Page tables in VRAM and an instance block pointing at them, as nouveau's
    /// `gp100_vmm_join` writes it: `NV_RAMIN_PAGE_DIR_BASE` VID_MEM, VER2, 64 KiB big pages, and
    /// on Pascal `NV_RAMIN_ADR_LIMIT` for a 256 MiB BAR1.
    fn address_space(b: &mut Bar0) -> PageTables {
        let mut mem = b.mem();
        let pt = PageTables::new(&mut mem, Aperture::Vid, TABLES);
        let lo = (pt.pdb.1 as u32) | (1 << 10) | (1 << 11);
        mem.write32(Phys(Aperture::Vid, INSTANCE + 0x200), lo)
            .unwrap();
        mem.write32(Phys(Aperture::Vid, INSTANCE + 0x204), 0)
            .unwrap();
        mem.write32(Phys(Aperture::Vid, INSTANCE + 0x208), (256 << 20) - 1)
            .unwrap();
        pt
    }

    fn bind_virtual(b: &mut Bar0, board: &str) {
        w32(
            b,
            block_register(board),
            (1 << 31) | (INSTANCE >> 12) as u32,
        );
    }

    /// An invalidate of every address space, every VA and every cached level, through the
    /// registers that act on the board (nouveau `gp100_vmm_flush`, `tu102_vmm_flush`).
    fn invalidate_all(b: &mut Bar0, board: &str) {
        let reg = if board == "rtx8000" {
            0xb8_30b0
        } else {
            0x10_0cbc
        };
        w32(b, reg, 0x8000_0007);
    }

    fn map(b: &mut Bar0, pt: &mut PageTables, va: u64, page: u64, read_only: bool) {
        pt.map(&mut b.mem(), va, Phys(Aperture::Vid, page), read_only);
    }

    #[test]
    fn virtual_bar1_walks_the_bound_address_space() {
        for board in ["p100", "v100", "rtx8000"] {
            let (mut b, log) = emulated(board);
            // Physical first: offset N is VRAM address N.
            bar1_write32(&mut b, PAGE_A + 8, 0x1111_1111);
            assert_eq!(vram32(&mut b, PAGE_A + 8), 0x1111_1111, "{board}");
            let mut pt = address_space(&mut b);
            map(&mut b, &mut pt, 0x1000, PAGE_A, false);
            pt.map_huge(
                &mut b.mem(),
                0x20_0000,
                Phys(Aperture::Vid, 0x20_0000),
                false,
            );
            pt.set_big_pte(
                &mut b.mem(),
                0x40_0000,
                PageTables::pte(Phys(Aperture::Vid, 0x10_0000), false),
            );
            bind_virtual(&mut b, board);
            assert!(
                log.text().contains(
                    "BAR1 virtual: instance block vidmem:0x80000, page directory vidmem:0x100000, big pages 64 KiB"
                ),
                "{board}"
            );
            // 4 KiB page: BAR1 0x1008 is VRAM PAGE_A + 8, both ways.
            assert_eq!(bar1_read32(&mut b, 0x1008), 0x1111_1111, "{board}");
            bar1_write32(&mut b, 0x100c, 0x2222_2222);
            assert_eq!(vram32(&mut b, PAGE_A + 0xc), 0x2222_2222, "{board}");
            // 2 MiB page: BAR1 0x20_0000 + N is VRAM 0x20_0000 + N.
            assert_eq!(bar1_read32(&mut b, PAGE_A + 0xc), 0x2222_2222, "{board}");
            // 64 KiB big page: BAR1 0x40_0000 + N is VRAM 0x10_0000 + N (the PD3 there).
            set_vram32(&mut b, TABLES + 0xff0, 0x3333_3333);
            assert_eq!(bar1_read32(&mut b, 0x40_0ff0), 0x3333_3333, "{board}");
            // Physical again: no translation.
            w32(&mut b, block_register(board), 0);
            assert_eq!(bar1_read32(&mut b, 0x1008), 0, "{board}");
            assert!(
                b.summary()
                    .starts_with("BAR1 physical (4 accesses translated, 0 faults), 0 rejected"),
                "{board}: {}",
                b.summary()
            );
            // Turing: 0x1704 binds nothing (the model gives it no effect there).
            if board == "rtx8000" {
                w32(&mut b, 0x1704, (1 << 31) | (INSTANCE >> 12) as u32);
                assert_eq!(bar1_read32(&mut b, 0x1008), 0, "{board}");
            }
        }
    }

    #[test]
    fn the_tlb_is_stale_until_an_invalidate_covers_it() {
        for board in ["v100", "rtx8000"] {
            let (mut b, log) = emulated(board);
            set_vram32(&mut b, PAGE_A, 0xaaaa_aaaa);
            set_vram32(&mut b, PAGE_B, 0xbbbb_bbbb);
            let mut pt = address_space(&mut b);
            map(&mut b, &mut pt, 0, PAGE_A, false);
            bind_virtual(&mut b, board);
            assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            // Remapped without an invalidate: reads and writes still reach page A.
            map(&mut b, &mut pt, 0, PAGE_B, false);
            assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            bar1_write32(&mut b, 4, 0xcccc_cccc);
            assert_eq!(vram32(&mut b, PAGE_A + 4), 0xcccc_cccc, "{board}");
            assert_eq!(vram32(&mut b, PAGE_B + 4), 0, "{board}");
            // Rebinding the same instance block does not drop the translations either.
            bind_virtual(&mut b, board);
            assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            // Turing: 0x100CBC does nothing there.
            if board == "rtx8000" {
                w32(&mut b, 0x10_0cbc, 0x8000_0007);
                assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            }
            // An invalidate of another address space leaves this one's translations.
            let (pdb_reg, inv_reg) = if board == "rtx8000" {
                (0xb8_30a0, 0xb8_30b0)
            } else {
                (0x10_0cb8, 0x10_0cbc)
            };
            w32(&mut b, pdb_reg, ((0x20_0000u64 >> 12) << 4) as u32);
            w32(&mut b, inv_reg, 0x8000_0005);
            assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            // One naming it (nouveau's `pd->pt[0]->addr >> 8`) drops them.
            w32(&mut b, pdb_reg, (TABLES >> 8) as u32);
            w32(&mut b, inv_reg, 0x8000_0005);
            assert_eq!(bar1_read32(&mut b, 0), 0xbbbb_bbbb, "{board}");
            assert!(log.text().contains(
                "MMU invalidate: BAR1 TLB dropped 1 translations and 5 directory entries"
            ));

            // Directory entries are cached too: a new page table under PD0 is not seen after a
            // PTE_ONLY invalidate, only after one of every level.
            let pd0 = pt.pd0(&mut b.mem(), 0);
            let mut mem = b.mem();
            let other = PageTables::new(&mut mem, Aperture::Vid, 0x38_0000);
            let mut other = other;
            other.map(&mut mem, 0, Phys(Aperture::Vid, PAGE_A), false);
            let new_pt = other.pte_at(&mut mem, 0);
            let small = (1u64 << 1) | (((new_pt.1 & !0xfff) >> 12) << 8);
            mem.write(Phys(pd0.0, pd0.1 + 8), &small.to_le_bytes())
                .unwrap();
            w32(&mut b, inv_reg, 0x8100_0007);
            assert_eq!(bar1_read32(&mut b, 0), 0xbbbb_bbbb, "{board}: PD0 cached");
            invalidate_all(&mut b, board);
            assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            assert_eq!(b.rejected, 0, "{board}");
        }
    }

    #[test]
    fn a_hung_mmu_completes_no_invalidate_until_a_reset() {
        for board in ["v100", "rtx8000"] {
            let (mut b, log) = emulated(board);
            set_vram32(&mut b, PAGE_A, 0xaaaa_aaaa);
            set_vram32(&mut b, PAGE_B, 0xbbbb_bbbb);
            let mut pt = address_space(&mut b);
            map(&mut b, &mut pt, 0, PAGE_A, false);
            bind_virtual(&mut b, board);
            assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            b.hang_mmu();
            assert!(log.text().contains("MMU hung"), "{board}");
            // The remap is written, but the invalidate neither completes nor drops page A.
            map(&mut b, &mut pt, 0, PAGE_B, false);
            invalidate_all(&mut b, board);
            assert_eq!(bar1_read32(&mut b, 0), 0xaaaa_aaaa, "{board}");
            let (done_reg, done_mask, done_value) = if board == "rtx8000" {
                (0xb8_30b0, 1 << 31, 0)
            } else {
                (0x10_0c80, 1 << 15, 1 << 15)
            };
            assert_ne!(
                r32(&mut b, done_reg) & done_mask,
                done_value,
                "{board}: done"
            );
            assert!(log
                .text()
                .contains("MMU invalidate: not done, the MMU is hung"));
            b.reset();
            assert_eq!(
                r32(&mut b, done_reg) & done_mask,
                done_value,
                "{board}: after reset"
            );
            assert_eq!(b.rejected, 0, "{board}");
        }
    }

    #[test]
    fn faults_read_a_pattern_drop_writes_and_are_logged() {
        let (mut b, log) = emulated("rtx8000");
        let mut pt = address_space(&mut b);
        map(&mut b, &mut pt, 0, PAGE_A, true);
        set_vram32(&mut b, PAGE_A, 0x5a5a_5a5a);
        bind_virtual(&mut b, "rtx8000");
        // Unmapped: the fault pattern, the write dropped, both logged.
        assert_eq!(bar1_read32(&mut b, 0x1000), FAULT_READ);
        bar1_write32(&mut b, 0x1000, 1);
        assert!(log
            .text()
            .contains("BAR1 FAULT R4 0x1000: va:0x1000: PTE 0x0 is not valid"));
        assert!(log.text().contains("BAR1 FAULT W4 0x1000"));
        // A 2-byte read at byte 2 gets the pattern's upper half.
        let mut two = [0; 2];
        assert!(b.bar1_access(0x1002, Some(&mut two), &[]));
        assert_eq!(u16::from_le_bytes(two), (FAULT_READ >> 16) as u16);
        // Read-only page: reads work, writes fault and are dropped.
        assert_eq!(bar1_read32(&mut b, 0), 0x5a5a_5a5a);
        bar1_write32(&mut b, 0, 7);
        assert_eq!(vram32(&mut b, PAGE_A), 0x5a5a_5a5a);
        assert!(log
            .text()
            .contains("BAR1 FAULT W4 0x0: va:0x0: write to a read-only page"));
        // Faults are not cached: mapping the page is enough, without an invalidate.
        map(&mut b, &mut pt, 0x1000, PAGE_B, false);
        set_vram32(&mut b, PAGE_B, 0x6b6b_6b6b);
        assert_eq!(bar1_read32(&mut b, 0x1000), 0x6b6b_6b6b);
        // Sparse: zeros, no fault.
        pt.set_big_pte(&mut b.mem(), 0x20_0000, 1 << 3);
        assert_eq!(bar1_read32(&mut b, 0x20_0000), 0);
        assert!(b
            .summary()
            .starts_with("BAR1 virtual (7 accesses translated, 4 faults)"));
        // An instance block that is no address space: every access faults.
        w32(&mut b, 0xb8_0f40, (1 << 31) | (0x1_0000 >> 12));
        assert!(log.text().contains(
            "BAR1 virtual: instance block vidmem:0x10000: NV_RAMIN_USE_VER2_PT_FORMAT is FALSE"
        ));
        assert_eq!(bar1_read32(&mut b, 0), FAULT_READ);
    }

    #[test]
    fn pascal_faults_beyond_the_address_limit() {
        let (mut b, log) = emulated("p100");
        let mut pt = address_space(&mut b);
        map(&mut b, &mut pt, 256 << 20, PAGE_A, false);
        bind_virtual(&mut b, "p100");
        assert_eq!(bar1_read32(&mut b, 256 << 20), FAULT_READ);
        assert!(log.text().contains("VA_LIMIT_VIOLATION"));
    }

    #[test]
    fn targeted_invalidates_and_unemulated_virtual_mode_are_refused() {
        let (mut b, log) = emulated("v100");
        assert!(b.write(0x10_0cbc, &0x8000_0006u32.to_le_bytes()).is_err());
        assert!(log.text().contains("ALL_VA clear) is not modelled"));
        // Without --bar1-emulated QEMU maps BAR1: virtual mode cannot be translated.
        let (mut m, log) = bar0("v100", Knobs::default());
        w32(&mut m, 0x1704, (1 << 31) | (INSTANCE >> 12) as u32);
        assert!(log
            .text()
            .contains("REJECT BAR1 virtual mode is not emulated"));
        assert_eq!(m.rejected, 1);
    }

    #[test]
    fn a_bar1_left_virtual_faults_until_bound_again_and_after_reset() {
        let knobs = Knobs {
            bar1_emulated: true,
            bar1_virtual: true,
            ..Knobs::default()
        };
        let (mut b, log) = bar0("rtx8000", knobs);
        assert!(log
            .text()
            .contains("BAR1 virtual: instance block vidmem:0x10000"));
        // The file holds VRAM by address: no permuted view with --bar1-emulated.
        set_vram32(&mut b, 0x1000, 9);
        assert_eq!(&b.vram_mut().bytes()[0x1000..0x1004], &[9, 0, 0, 0]);
        assert_eq!(bar1_read32(&mut b, 0x1000), FAULT_READ);
        w32(&mut b, 0xb8_0f40, 0);
        assert_eq!(bar1_read32(&mut b, 0x1000), 9);
        b.reset();
        assert_eq!(bar1_read32(&mut b, 0x1000), FAULT_READ);
    }
}
