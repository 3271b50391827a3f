// SPDX-License-Identifier: GPL-2.0

//! Memory as the engines reach it: physical apertures (VRAM, system memory) and GPU virtual
//! addresses through the version-2 page tables (`dev_mmu.ref.txt` `NV_MMU_VER2_*`,
//! `pascal/gp100-mmu-format.pdf`): 49-bit VA, PD3 (48:47) -> PD2 (46:38) -> PD1 (37:29) -> PD0
//! (28:21, 16-byte dual entries) -> PT (20:12, 8-byte PTEs, 4 KiB pages).

use crate::dma::GuestMemory;
use crate::vram::Vram;
use std::fmt;

/// Where a physical address points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aperture {
    Vid,
    SysCoherent,
    SysNoncoherent,
}

impl Aperture {
    /// The TARGET fields of host structures (`NV_PCCSR_CHANNEL_INST_TARGET`, RAMFC USERD, runlist
    /// and instance block pointers): 0 VID_MEM, 2 and 3 system memory; 1 is not a memory.
    pub fn from_target(target: u32) -> Option<Self> {
        match target {
            0 => Some(Self::Vid),
            2 => Some(Self::SysCoherent),
            3 => Some(Self::SysNoncoherent),
            _ => None,
        }
    }
}

/// A physical address, printed the way the log shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Phys(pub Aperture, pub u64);

impl fmt::Display for Phys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Aperture::Vid => write!(f, "vidmem:{:#x}", self.1),
            _ => write!(f, "sysmem:{:#x}", self.1),
        }
    }
}

/// VRAM and guest memory, for the engines.
pub struct Mem<'a> {
    pub vram: &'a mut Vram,
    pub sys: &'a GuestMemory,
}

impl Mem<'_> {
    /// A system-memory access needs Bus Master Enable.
    fn bus_master(&self, at: Phys, len: usize, what: &str) -> Result<(), String> {
        if at.0 != Aperture::Vid && !self.sys.bus_master {
            return Err(format!(
                "DMA {what} of {len} bytes at {at} refused: Bus Master Enable (PCI_COMMAND bit 2) is clear"
            ));
        }
        Ok(())
    }

    pub fn read(&self, at: Phys, data: &mut [u8]) -> Result<(), String> {
        self.bus_master(at, data.len(), "read")?;
        let ok = match at.0 {
            Aperture::Vid => self.vram.read(at.1, data),
            _ => self.sys.read(at.1, data),
        };
        ok.then_some(())
            .ok_or_else(|| unreachable_memory(at, data.len()))
    }

    pub fn write(&mut self, at: Phys, data: &[u8]) -> Result<(), String> {
        self.bus_master(at, data.len(), "write")?;
        let ok = match at.0 {
            Aperture::Vid => self.vram.write(at.1, data),
            _ => self.sys.write(at.1, data),
        };
        ok.then_some(())
            .ok_or_else(|| unreachable_memory(at, data.len()))
    }

    pub fn read32(&self, at: Phys) -> Result<u32, String> {
        let mut b = [0; 4];
        self.read(at, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn write32(&mut self, at: Phys, value: u32) -> Result<(), String> {
        self.write(at, &value.to_le_bytes())
    }

    pub fn read64(&self, at: Phys) -> Result<u64, String> {
        let mut b = [0; 8];
        self.read(at, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

fn unreachable_memory(at: Phys, len: usize) -> String {
    match at.0 {
        Aperture::Vid => format!("{len} bytes at {at} are beyond the emulated VRAM"),
        _ => format!("{len} bytes at {at} are not mapped guest memory"),
    }
}

const PAGE: u64 = 4096;
const VA_BITS: u32 = 49;
/// A PD0 entry's 2 MiB page (`NV_MMU_VER2_DUAL_PDE_IS_PTE`; nouveau `gp100_vmm_pd0_pte`).
pub const HUGE_PAGE: u64 = 2 << 20;

/// The levels of a walk, top down (`dev_mmu.ref.txt` `NV_MMU_VER2_*`; nouveau `gp100_vmm_desc_12`
/// and `_16`): what the `CACHE_LEVEL` field of an MMU invalidate names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Pte,
    Pd0,
    Pd1,
    Pd2,
    Pd3,
}

/// What a walk finds at a virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pte {
    /// A valid PTE: the page's first byte, its size (4 KiB, the big page size, 2 MiB) and
    /// `NV_MMU_VER2_PTE_READ_ONLY`.
    Page {
        base: Phys,
        size: u64,
        read_only: bool,
    },
    /// VALID_FALSE with VOL set (nouveau `gp100_vmm_pgt_sparse`, `gp100_vmm_pd0_sparse`): a
    /// sparse range, where accesses do not fault.
    Sparse { size: u64 },
}

/// A page directory entry's target (`NV_MMU_VER2_PDE_APERTURE`, 0 INVALID) and address
/// (`ADDRESS_SYS` 53:8 or `ADDRESS_VID` 32:8, in 4 KiB units).
fn pde_target(entry: u64, level: &str) -> Result<Phys, String> {
    if entry & 1 != 0 {
        return Err(format!(
            "{level} entry {entry:#x} is a PTE (pages of 512 MiB and more are not on these chips: nouveau gp100_vmm lists none)"
        ));
    }
    let aperture = pde_aperture(entry).ok_or(format!("{level} entry {entry:#x} is invalid"))?;
    Ok(Phys(aperture, address_field(entry, aperture)))
}

/// `NV_MMU_VER2_PDE_APERTURE` (2:1) and the dual PDE's `APERTURE_BIG`/`_SMALL`: 0 is INVALID.
fn pde_aperture(entry: u64) -> Option<Aperture> {
    match (entry >> 1) & 3 {
        0 => None,
        1 => Some(Aperture::Vid),
        2 => Some(Aperture::SysCoherent),
        _ => Some(Aperture::SysNoncoherent),
    }
}

fn address_field(entry: u64, aperture: Aperture) -> u64 {
    let bits = if aperture == Aperture::Vid { 25 } else { 46 };
    ((entry >> 8) & ((1 << bits) - 1)) << 12
}

/// A PTE (`NV_MMU_VER2_PTE`) of a page of `size` bytes: VALID 0, APERTURE 2:1 (0 video memory,
/// 1 peer, 2 and 3 system memory), VOL 3, READ_ONLY 6, ADDRESS 32:8 (video) or 53:8 (system).
fn pte(entry: u64, size: u64, va: u64) -> Result<Pte, String> {
    if entry & 1 == 0 {
        if (entry >> 3) & 1 != 0 {
            return Ok(Pte::Sparse { size });
        }
        return Err(format!("va:{va:#x}: PTE {entry:#x} is not valid"));
    }
    let aperture = match (entry >> 1) & 3 {
        0 => Aperture::Vid,
        1 => return Err(format!("va:{va:#x}: PTE {entry:#x} targets peer memory")),
        2 => Aperture::SysCoherent,
        _ => Aperture::SysNoncoherent,
    };
    let base = address_field(entry, aperture);
    if base % size != 0 {
        return Err(format!(
            "va:{va:#x}: PTE {entry:#x} of a {} KiB page is not aligned to its size",
            size >> 10
        ));
    }
    Ok(Pte::Page {
        base: Phys(aperture, base),
        size,
        read_only: (entry >> 6) & 1 != 0,
    })
}

/// Walks the page tables from the top-level directory `pdb` to `va`'s PTE, reading each entry
/// with `read` (memory, or a cache of it). `big_page` is the instance block's big page size
/// (`NV_RAMIN_BIG_PAGE_SIZE`: 64 or 128 KiB).
///
/// PD0 holds dual entries (`NV_MMU_VER2_DUAL_PDE`, 16 bytes): a 2 MiB PTE (IS_PTE, bit 0), or the
/// big page table (63:0, `ADDRESS_BIG` in 256-byte units: nouveau `gp100_vmm_desc_16` LPT 0x100
/// aligned) and the small one (127:64). Where both exist the big PTE rules its range unless it
/// is unmapped (all clear), when the small PTEs do; a big PTE VALID_FALSE with PRIV set blocks
/// the small ones (nouveau `gp100_vmm_lpt_invalid`, and `nvkm_vmm_ref_sptes`, which clears the
/// big PTEs to hand a range to the small ones).
pub fn walk(
    read: &mut dyn FnMut(Level, Phys) -> Result<u64, String>,
    pdb: Phys,
    big_page: u64,
    va: u64,
) -> Result<Pte, String> {
    if va >> VA_BITS != 0 {
        return Err(format!("va:{va:#x} is beyond the 49-bit address space"));
    }
    let index = |shift: u32, bits: u32| (va >> shift) & ((1 << bits) - 1);
    let mut dir = pdb;
    for (level, name, shift, bits) in [
        (Level::Pd3, "PD3", 47, 2),
        (Level::Pd2, "PD2", 38, 9),
        (Level::Pd1, "PD1", 29, 9),
    ] {
        let entry = read(level, Phys(dir.0, dir.1 + index(shift, bits) * 8))?;
        dir = pde_target(entry, name).map_err(|e| format!("va:{va:#x}: {e}"))?;
    }
    let at = Phys(dir.0, dir.1 + index(21, 8) * 16);
    let big = read(Level::Pd0, at)?;
    if big & 1 != 0 {
        return pte(big, HUGE_PAGE, va);
    }
    let small = read(Level::Pd0, Phys(at.0, at.1 + 8))?;
    if let Some(aperture) = pde_aperture(big) {
        let mask = if aperture == Aperture::Vid { 29 } else { 50 };
        let lpt = ((big >> 4) & ((1 << mask) - 1)) << 8;
        let i = (va % HUGE_PAGE) / big_page;
        let lpte = read(Level::Pte, Phys(aperture, lpt + i * 8))?;
        if lpte & 1 != 0 || lpte & (1 << 3) != 0 {
            return pte(lpte, big_page, va);
        }
        if lpte & (1 << 5) != 0 {
            return Err(format!(
                "va:{va:#x}: big PTE {lpte:#x} is invalid (PRIV set: the small PTEs are blocked)"
            ));
        }
    }
    let Some(aperture) = pde_aperture(small) else {
        return Err(format!("va:{va:#x}: PD0 entry maps no page table here"));
    };
    let pt = Phys(aperture, address_field(small, aperture));
    let entry = read(Level::Pte, Phys(pt.0, pt.1 + index(12, 9) * 8))?;
    pte(entry, PAGE, va)
}

/// The physical byte behind `va` and whether its page is read-only, for the engines: walks
/// memory; a sparse page is refused (the engines' sparse accesses are not modelled).
pub fn translate(mem: &Mem, vm: &Vm, va: u64) -> Result<(Phys, bool, u64), String> {
    let mut read = |_: Level, at: Phys| mem.read64(at);
    match walk(&mut read, vm.pdb, vm.big_page, va)? {
        Pte::Page {
            base,
            size,
            read_only,
        } => Ok((Phys(base.0, base.1 + va % size), read_only, size)),
        Pte::Sparse { .. } => Err(format!(
            "va:{va:#x} is sparse (engine accesses there are not modelled)"
        )),
    }
}

/// One GPU virtual address space: an instance block's page directory base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vm {
    pub pdb: Phys,
    /// Pascal: `NV_RAMIN_ADR_LIMIT` (the last valid byte); a VA above it is a
    /// VA_LIMIT_VIOLATION fault. Volta and later ignore the field (`dev_ram.ref.txt`: deprecated
    /// with subcontexts).
    pub limit: Option<u64>,
    /// `NV_RAMIN_BIG_PAGE_SIZE`: 64 KiB (bit 11 set) or 128 KiB.
    pub big_page: u64,
}

impl Vm {
    /// The address space of the instance block at `inst` (`dev_ram.ref.txt`):
    /// `NV_RAMIN_PAGE_DIR_BASE` at +0x200, version-2 format only; on Pascal
    /// (`pascal = true`) `NV_RAMIN_ADR_LIMIT` too, and a 128 KiB big page size allowed.
    pub fn from_instance(mem: &Mem, inst: Phys, pascal: bool) -> Result<Self, String> {
        let lo = mem.read32(Phys(inst.0, inst.1 + 0x200))?;
        let hi = mem.read32(Phys(inst.0, inst.1 + 0x204))?;
        let aperture = Aperture::from_target(lo & 3)
            .ok_or("NV_RAMIN_PAGE_DIR_BASE_TARGET is INVALID".to_string())?;
        if (lo >> 10) & 1 == 0 {
            return Err("NV_RAMIN_USE_VER2_PT_FORMAT is FALSE (only version 2 is modelled)".into());
        }
        let big_64k = (lo >> 11) & 1 != 0;
        if !pascal && !big_64k {
            return Err(
                "NV_RAMIN_BIG_PAGE_SIZE is 128 KiB, which this chip does not support".into(),
            );
        }
        // Pascal: NV_RAMIN_ADR_LIMIT_LO (+0x208, bits 31:12) and _HI (+0x20C, bits 7:0), the last
        // valid byte with its low 12 bits read as ones (gp100 dev_ram.h; OpenRM
        // kgmmuInstBlkVaLimitGet_GP100 writes `limit | 0xfff`, nouveau `limit - 1`).
        let limit = if pascal {
            let lo = mem.read32(Phys(inst.0, inst.1 + 0x208))?;
            let hi = mem.read32(Phys(inst.0, inst.1 + 0x20c))?;
            Some((u64::from(hi & 0xff) << 32) | u64::from(lo & !0xfff) | 0xfff)
        } else {
            None
        };
        Ok(Self {
            pdb: Phys(aperture, (u64::from(hi) << 32) | u64::from(lo & !0xfff)),
            limit,
            big_page: if big_64k { 64 << 10 } else { 128 << 10 },
        })
    }

    /// Refuses `[va, va + len)` when it goes beyond `NV_RAMIN_ADR_LIMIT`.
    pub fn check_limit(&self, va: u64, len: usize) -> Result<(), String> {
        if let Some(limit) = self.limit {
            let last = va.saturating_add(len.max(1) as u64 - 1);
            if last > limit {
                return Err(format!(
                    "va:{last:#x}: VA_LIMIT_VIOLATION (NV_RAMIN_ADR_LIMIT is {limit:#x})"
                ));
            }
        }
        Ok(())
    }

    /// Calls `f` with each physically contiguous piece of `[va, va + len)` and its offset.
    fn pieces(
        &self,
        mem: &mut Mem,
        va: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(&mut Mem, Phys, usize, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        self.check_limit(va, len)?;
        let mut done = 0;
        while done < len {
            let at = va + done as u64;
            let (phys, read_only, size) = translate(mem, self, at)?;
            if write && read_only {
                return Err(format!("va:{at:#x}: write to a read-only page"));
            }
            let n = ((size - at % size) as usize).min(len - done);
            f(mem, phys, done, n)?;
            done += n;
        }
        Ok(())
    }

    pub fn read(&self, mem: &mut Mem, va: u64, data: &mut [u8]) -> Result<(), String> {
        let len = data.len();
        self.pieces(mem, va, len, false, |m, p, off, n| {
            m.read(p, &mut data[off..off + n])
        })
    }

    pub fn write(&self, mem: &mut Mem, va: u64, data: &[u8]) -> Result<(), String> {
        self.pieces(mem, va, data.len(), true, |m, p, off, n| {
            m.write(p, &data[off..off + n])
        })
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Builds version-2 page tables in memory from a bump allocator, the way a driver would.
    pub struct PageTables {
        pub pdb: Phys,
        next: u64,
    }

    impl PageTables {
        /// Tables allocated from `[base, ...)` in `aperture`; the PD3 at `base`.
        pub fn new(mem: &mut Mem, aperture: Aperture, base: u64) -> Self {
            let mut t = Self {
                pdb: Phys(aperture, base),
                next: base + PAGE,
            };
            mem.write(t.pdb, &[0; PAGE as usize]).unwrap();
            t.next = base + PAGE;
            t
        }

        fn pde(target: Phys) -> u64 {
            let ap = match target.0 {
                Aperture::Vid => 1,
                Aperture::SysCoherent => 2,
                Aperture::SysNoncoherent => 3,
            };
            (ap << 1) | ((target.1 >> 12) << 8)
        }

        /// The directory `entry` points to, allocating it when it is empty.
        fn descend(&mut self, mem: &mut Mem, entry: Phys) -> Phys {
            let mut b = [0; 8];
            mem.read(entry, &mut b).unwrap();
            let v = u64::from_le_bytes(b);
            if v != 0 {
                return pde_target(v, "test").unwrap();
            }
            let table = Phys(self.pdb.0, self.next);
            self.next += PAGE;
            mem.write(table, &[0; PAGE as usize]).unwrap();
            mem.write(entry, &Self::pde(table).to_le_bytes()).unwrap();
            table
        }

        /// The PD0 dual entry covering `va`, allocating the directories above it.
        pub fn pd0(&mut self, mem: &mut Mem, va: u64) -> Phys {
            let mut dir = self.pdb;
            for (shift, bits) in [(47, 2), (38, 9), (29, 9)] {
                let i = (va >> shift) & ((1 << bits) - 1);
                dir = self.descend(mem, Phys(dir.0, dir.1 + i * 8));
            }
            Phys(dir.0, dir.1 + ((va >> 21) & 0xff) * 16)
        }

        /// A valid PTE for `page` (`NV_MMU_VER2_PTE`, VOL set as nouveau does for system memory).
        pub fn pte(page: Phys, read_only: bool) -> u64 {
            let ap = match page.0 {
                Aperture::Vid => 0,
                Aperture::SysCoherent => 2,
                Aperture::SysNoncoherent => 3,
            };
            1 | (ap << 1) | (1 << 3) | (u64::from(read_only) << 6) | ((page.1 >> 12) << 8)
        }

        /// Where the 4 KiB PTE of `va` is, allocating its small page table.
        pub fn pte_at(&mut self, mem: &mut Mem, va: u64) -> Phys {
            let pd0 = self.pd0(mem, va);
            // The small-page half of the PD0 dual entry.
            let pt = self.descend(mem, Phys(pd0.0, pd0.1 + 8));
            Phys(pt.0, pt.1 + ((va >> 12) & 0x1ff) * 8)
        }

        /// Maps the 4 KiB page at `va` to `page`.
        pub fn map(&mut self, mem: &mut Mem, va: u64, page: Phys, read_only: bool) {
            let at = self.pte_at(mem, va);
            mem.write(at, &Self::pte(page, read_only).to_le_bytes())
                .unwrap();
        }

        /// Maps the 2 MiB page at `va` to `page` with a PTE in PD0 (nouveau `gp100_vmm_pd0_pte`).
        pub fn map_huge(&mut self, mem: &mut Mem, va: u64, page: Phys, read_only: bool) {
            let pd0 = self.pd0(mem, va);
            let mut entry = [0; 16];
            entry[..8].copy_from_slice(&Self::pte(page, read_only).to_le_bytes());
            mem.write(pd0, &entry).unwrap();
        }

        /// Writes the big PTE of `va` (64 KiB big pages), allocating the big page table in the
        /// PD0 entry's big half (`ADDRESS_BIG` in 256-byte units).
        pub fn set_big_pte(&mut self, mem: &mut Mem, va: u64, value: u64) {
            let pd0 = self.pd0(mem, va);
            let mut b = [0; 8];
            mem.read(pd0, &mut b).unwrap();
            let mut big = u64::from_le_bytes(b);
            if big == 0 {
                let table = Phys(self.pdb.0, self.next);
                self.next += PAGE;
                mem.write(table, &[0; PAGE as usize]).unwrap();
                let ap = Self::pde(table) & 6;
                big = ap | ((table.1 >> 8) << 4);
                mem.write(pd0, &big.to_le_bytes()).unwrap();
            }
            let table = ((big >> 4) & ((1 << 29) - 1)) << 8;
            let at = Phys(self.pdb.0, table + ((va % HUGE_PAGE) >> 16) * 8);
            mem.write(at, &value.to_le_bytes()).unwrap();
        }
    }

    pub fn vram(len: u64) -> Vram {
        let path = std::env::temp_dir().join(format!(
            "gpu-model-mmu-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let v = Vram::create(&path, len).unwrap();
        std::fs::remove_file(&path).unwrap();
        v
    }

    #[test]
    fn walks_the_four_levels_to_4k_pages() {
        let mut vram = vram(4 << 20);
        let fd = crate::dma::tests::memfd(1 << 20);
        let mut sys = GuestMemory::default();
        sys.bus_master = true;
        sys.map(0x4000_0000, 1 << 20, &fd, 0).unwrap();
        let mut mem = Mem {
            vram: &mut vram,
            sys: &sys,
        };
        // Tables in system memory, pages in both apertures, VAs that use every level's index.
        let mut pt = PageTables::new(&mut mem, Aperture::SysCoherent, 0x4000_0000);
        let va = (1u64 << 47) | (3 << 38) | (5 << 29) | (7 << 21) | (9 << 12);
        pt.map(&mut mem, va, Phys(Aperture::Vid, 0x20_0000), false);
        pt.map(
            &mut mem,
            va + PAGE,
            Phys(Aperture::SysCoherent, 0x4008_0000),
            true,
        );
        let vm = Vm {
            pdb: pt.pdb,
            limit: None,
            big_page: 64 << 10,
        };
        let (p, ro, _) = translate(&mem, &vm, va + 0x123).unwrap();
        assert_eq!((p, ro), (Phys(Aperture::Vid, 0x20_0123), false));
        let (p, ro, _) = translate(&mem, &vm, va + PAGE).unwrap();
        assert_eq!((p, ro), (Phys(Aperture::SysCoherent, 0x4008_0000), true));
        // A read across the page boundary is split between the two apertures.
        mem.vram.write(0x20_0ffe, &[1, 2]);
        sys.write(0x4008_0000, &[3, 4]);
        let mut mem = Mem {
            vram: &mut vram,
            sys: &sys,
        };
        let mut b = [0; 4];
        vm.read(&mut mem, va + PAGE - 2, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        // Read-only pages refuse writes, unmapped VAs and VAs beyond 49 bits fault.
        assert!(vm.write(&mut mem, va + PAGE, &[0]).is_err());
        assert!(translate(&mem, &vm, va + 2 * PAGE).is_err());
        assert!(translate(&mem, &vm, 0).is_err());
        assert!(translate(&mem, &vm, 1 << 49).is_err());
    }

    /// 2 MiB PTEs in PD0, 64 KiB big pages, and the dual entry's rules: the big PTE rules its
    /// range unless it is unmapped, a big PTE with PRIV set blocks the small ones, VOL without
    /// VALID is sparse.
    #[test]
    fn walks_big_and_2m_pages_and_the_dual_entry_rules() {
        let mut vram = vram(8 << 20);
        let sys = GuestMemory::default();
        let mut mem = Mem {
            vram: &mut vram,
            sys: &sys,
        };
        let mut pt = PageTables::new(&mut mem, Aperture::Vid, 0x10_0000);
        let vm = Vm {
            pdb: pt.pdb,
            limit: None,
            big_page: 64 << 10,
        };
        let huge = 4 << 20;
        pt.map_huge(&mut mem, 0, Phys(Aperture::Vid, huge), false);
        let (p, ro, size) = translate(&mem, &vm, 0x1f_fff0).unwrap();
        assert_eq!(
            (p, ro, size),
            (Phys(Aperture::Vid, huge + 0x1f_fff0), false, HUGE_PAGE)
        );
        // A 2 MiB PTE must point at a 2 MiB-aligned page.
        pt.map_huge(&mut mem, 0, Phys(Aperture::Vid, huge + 0x1000), false);
        assert!(translate(&mem, &vm, 0).unwrap_err().contains("not aligned"));

        // The second 2 MiB: small PTEs, then a big PTE over them.
        let va = HUGE_PAGE;
        pt.map(
            &mut mem,
            va + 0x1_0000,
            Phys(Aperture::Vid, 0x30_0000),
            false,
        );
        let (p, _, size) = translate(&mem, &vm, va + 0x1_0010).unwrap();
        assert_eq!((p, size), (Phys(Aperture::Vid, 0x30_0010), PAGE));
        pt.set_big_pte(
            &mut mem,
            va + 0x1_0000,
            PageTables::pte(Phys(Aperture::Vid, 0x40_0000), true),
        );
        let (p, ro, size) = translate(&mem, &vm, va + 0x1_0010).unwrap();
        assert_eq!(
            (p, ro, size),
            (Phys(Aperture::Vid, 0x40_0010), true, 64 << 10)
        );
        // Unmapped big PTE: the small ones rule again.
        pt.set_big_pte(&mut mem, va + 0x1_0000, 0);
        let (p, _, _) = translate(&mem, &vm, va + 0x1_0010).unwrap();
        assert_eq!(p, Phys(Aperture::Vid, 0x30_0010));
        // Invalid (PRIV): the small ones are blocked.
        pt.set_big_pte(&mut mem, va + 0x1_0000, 1 << 5);
        assert!(translate(&mem, &vm, va + 0x1_0010)
            .unwrap_err()
            .contains("blocked"));
        // Sparse (VOL without VALID): no fault, but no page either.
        pt.set_big_pte(&mut mem, va + 0x1_0000, 1 << 3);
        let mut read = |_: Level, at: Phys| mem.read64(at);
        assert_eq!(
            walk(&mut read, vm.pdb, vm.big_page, va + 0x1_0010),
            Ok(Pte::Sparse { size: 64 << 10 })
        );
    }
}
