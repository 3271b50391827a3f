// SPDX-License-Identifier: GPL-2.0

//! Memory as the engines reach it: physical apertures (VRAM, system memory) and GPU virtual
//! addresses through the version-2 page tables (`dev_mmu.ref.txt` `NV_MMU_VER2_*`,
//! `pascal/gp100-mmu-format.pdf`): 49-bit VA, PD3 (48:47) -> PD2 (46:38) -> PD1 (37:29) -> PD0
//! (28:21, 16-byte dual entries) -> PT (20:12, 8-byte PTEs, 4 KiB pages).

use crate::dma::GuestMemory;
use crate::vram::Vram;
use std::fmt;

/// Where a physical address points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    fn read64(&self, at: Phys) -> Result<u64, String> {
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

/// A page directory entry's target (`NV_MMU_VER2_PDE_APERTURE`, 0 INVALID) and address
/// (`ADDRESS_SYS` 53:8 or `ADDRESS_VID` 32:8, in 4 KiB units).
fn pde_target(entry: u64, level: &str) -> Result<Phys, String> {
    if entry & 1 != 0 {
        return Err(format!(
            "{level} entry {entry:#x} is a PTE (large pages are not modelled)"
        ));
    }
    let aperture = match (entry >> 1) & 3 {
        0 => return Err(format!("{level} entry {entry:#x} is invalid")),
        1 => Aperture::Vid,
        2 => Aperture::SysCoherent,
        _ => Aperture::SysNoncoherent,
    };
    Ok(Phys(aperture, address_field(entry, aperture)))
}

fn address_field(entry: u64, aperture: Aperture) -> u64 {
    let bits = if aperture == Aperture::Vid { 25 } else { 46 };
    ((entry >> 8) & ((1 << bits) - 1)) << 12
}

/// The physical page behind `va` and whether it is read-only, walking from the top-level page
/// directory `pdb`.
pub fn translate(mem: &Mem, pdb: Phys, va: u64) -> Result<(Phys, bool), String> {
    if va >> VA_BITS != 0 {
        return Err(format!("va:{va:#x} is beyond the 49-bit address space"));
    }
    let index = |shift: u32, bits: u32| (va >> shift) & ((1 << bits) - 1);
    let mut dir = pdb;
    for (level, shift, bits) in [("PD3", 47, 2), ("PD2", 38, 9), ("PD1", 29, 9)] {
        let entry = mem.read64(Phys(dir.0, dir.1 + index(shift, bits) * 8))?;
        dir = pde_target(entry, level).map_err(|e| format!("va:{va:#x}: {e}"))?;
    }
    // PD0: dual entry, the big-page half in 63:0, the small-page half in 127:64.
    let at = Phys(dir.0, dir.1 + index(21, 8) * 16);
    let big = mem.read64(at)?;
    let small = mem.read64(Phys(at.0, at.1 + 8))?;
    if big & 1 != 0 {
        return Err(format!(
            "va:{va:#x}: PD0 entry is a 2 MiB PTE (not modelled)"
        ));
    }
    if (small >> 1) & 3 == 0 {
        let why = if (big >> 1) & 3 != 0 {
            "only a 64 KiB page table (big pages are not modelled)"
        } else {
            "invalid"
        };
        return Err(format!("va:{va:#x}: PD0 entry is {why}"));
    }
    let pt = pde_target(small, "PD0").map_err(|e| format!("va:{va:#x}: {e}"))?;
    let pte = mem.read64(Phys(pt.0, pt.1 + index(12, 9) * 8))?;
    if pte & 1 == 0 {
        return Err(format!("va:{va:#x}: PTE {pte:#x} is not valid"));
    }
    let aperture = match (pte >> 1) & 3 {
        0 => Aperture::Vid,
        1 => return Err(format!("va:{va:#x}: PTE {pte:#x} targets peer memory")),
        2 => Aperture::SysCoherent,
        _ => Aperture::SysNoncoherent,
    };
    let read_only = (pte >> 6) & 1 != 0;
    Ok((
        Phys(aperture, address_field(pte, aperture) + va % PAGE),
        read_only,
    ))
}

/// One GPU virtual address space: the channel's page directory base.
#[derive(Clone, Copy, Debug)]
pub struct Vm {
    pub pdb: Phys,
    /// Pascal: `NV_RAMIN_ADR_LIMIT` (the last valid byte); a VA above it is a
    /// VA_LIMIT_VIOLATION fault. Volta and later ignore the field (`dev_ram.ref.txt`: deprecated
    /// with subcontexts).
    pub limit: Option<u64>,
}

impl Vm {
    /// Calls `f` with each physically contiguous piece of `[va, va + len)` and its offset.
    fn pieces(
        &self,
        mem: &mut Mem,
        va: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(&mut Mem, Phys, usize, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        if let Some(limit) = self.limit {
            let last = va.saturating_add(len.max(1) as u64 - 1);
            if last > limit {
                return Err(format!(
                    "va:{last:#x}: VA_LIMIT_VIOLATION (NV_RAMIN_ADR_LIMIT is {limit:#x})"
                ));
            }
        }
        let mut done = 0;
        while done < len {
            let at = va + done as u64;
            let (phys, read_only) = translate(mem, self.pdb, at)?;
            if write && read_only {
                return Err(format!("va:{at:#x}: write to a read-only page"));
            }
            let n = ((PAGE - at % PAGE) as usize).min(len - done);
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

        /// Maps the 4 KiB page at `va` to `page`.
        pub fn map(&mut self, mem: &mut Mem, va: u64, page: Phys, read_only: bool) {
            let mut dir = self.pdb;
            for (shift, bits) in [(47, 2), (38, 9), (29, 9)] {
                let i = (va >> shift) & ((1 << bits) - 1);
                dir = self.descend(mem, Phys(dir.0, dir.1 + i * 8));
            }
            // The small-page half of the PD0 dual entry.
            let pd0 = Phys(dir.0, dir.1 + ((va >> 21) & 0xff) * 16 + 8);
            let pt = self.descend(mem, pd0);
            let ap = match page.0 {
                Aperture::Vid => 0,
                Aperture::SysCoherent => 2,
                Aperture::SysNoncoherent => 3,
            };
            let pte =
                1 | (ap << 1) | (1 << 3) | (u64::from(read_only) << 6) | ((page.1 >> 12) << 8);
            let at = Phys(pt.0, pt.1 + ((va >> 12) & 0x1ff) * 8);
            mem.write(at, &pte.to_le_bytes()).unwrap();
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
        let (p, ro) = translate(&mem, pt.pdb, va + 0x123).unwrap();
        assert_eq!((p, ro), (Phys(Aperture::Vid, 0x20_0123), false));
        let (p, ro) = translate(&mem, pt.pdb, va + PAGE).unwrap();
        assert_eq!((p, ro), (Phys(Aperture::SysCoherent, 0x4008_0000), true));
        // A read across the page boundary is split between the two apertures.
        let vm = Vm {
            pdb: pt.pdb,
            limit: None,
        };
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
        assert!(translate(&mem, pt.pdb, va + 2 * PAGE).is_err());
        assert!(translate(&mem, pt.pdb, 0).is_err());
        assert!(translate(&mem, pt.pdb, 1 << 49).is_err());
    }
}
