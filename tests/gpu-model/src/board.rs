// SPDX-License-Identifier: GPL-2.0

//! The boards the model can be: PCI identity, chip, memory and BAR sizes, as the real boards have
//! them. Emulated VRAM may be smaller than `vram`; the registers still report `vram`.

/// How the board reports its VRAM size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizing {
    /// `NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE` (0x100CE0): magnitude, scale and the ECC bit.
    LocalMemoryRange { ecc: bool },
    /// GP100 (HBM2): the sum of the per-FBPA `CSTATUS_RAMAMOUNT` registers over the FBPAs the
    /// `NV_FUSE_STATUS_OPT_FBIO` fuse leaves enabled (open-gpu-doc `pascal/gp100-fbpa.txt`).
    Fbpa { count: u32, per_fbp: u32 },
}

/// How the board reports that its VBIOS ran (the board is POSTed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostStatus {
    /// Pascal/Volta: bit 1 of the scratch register 0x02240C.
    Scratch2240c,
    /// Turing: GFW boot progress, 0x118128 bit 0 and 0x118234 bits 7:0 == 0xff.
    GfwBoot,
}

/// The chip family, for which registers and structures exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    Pascal,
    Volta,
    Turing,
    /// Only identified (the refusal path): no engines are modelled.
    Ampere,
}

/// One board.
#[derive(Clone, Debug)]
pub struct Board {
    /// The name `--board` takes.
    pub key: &'static str,
    pub name: &'static str,
    pub device_id: u16,
    /// `NV_PMC_BOOT_42_CHIP_ID` (also `NV_PMC_BOOT_0` bits 28:20).
    pub chip_id: u32,
    /// `NV_PMC_BOOT_0_MAJOR_REVISION` / `MINOR_REVISION`.
    pub revision: (u32, u32),
    /// Bytes of VRAM the board has, before ECC.
    pub vram: u64,
    pub sizing: Sizing,
    pub post: PostStatus,
    /// Size of BAR1, the VRAM aperture.
    pub bar1: u64,
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

pub static BOARDS: &[Board] = &[
    Board {
        key: "p100",
        name: "Tesla P100-PCIE-16GB",
        device_id: 0x15f8,
        chip_id: 0x130,
        revision: (0xa, 1),
        vram: 16 * GIB,
        sizing: Sizing::Fbpa {
            count: 8,
            per_fbp: 2,
        },
        post: PostStatus::Scratch2240c,
        bar1: 16 * GIB,
    },
    Board {
        key: "p40",
        name: "Tesla P40",
        device_id: 0x1b38,
        chip_id: 0x132,
        revision: (0xa, 1),
        vram: 24 * GIB,
        sizing: Sizing::LocalMemoryRange { ecc: true },
        post: PostStatus::Scratch2240c,
        bar1: 32 * GIB,
    },
    Board {
        key: "v100",
        name: "Tesla V100-PCIE-16GB",
        device_id: 0x1db4,
        chip_id: 0x140,
        revision: (0xa, 1),
        vram: 16 * GIB,
        sizing: Sizing::LocalMemoryRange { ecc: false },
        post: PostStatus::Scratch2240c,
        bar1: 16 * GIB,
    },
    Board {
        key: "v100-32",
        name: "Tesla V100-SXM2-32GB",
        device_id: 0x1db5,
        chip_id: 0x140,
        revision: (0xa, 1),
        vram: 32 * GIB,
        sizing: Sizing::LocalMemoryRange { ecc: false },
        post: PostStatus::Scratch2240c,
        bar1: 32 * GIB,
    },
    Board {
        key: "rtx8000",
        name: "Quadro RTX 8000",
        device_id: 0x1e30,
        chip_id: 0x162,
        revision: (0xa, 1),
        vram: 48 * GIB,
        sizing: Sizing::LocalMemoryRange { ecc: false },
        post: PostStatus::GfwBoot,
        bar1: 256 * MIB,
    },
    // An Ampere part for the refusal path (GA100, `NV_PMC_BOOT_42_CHIP_ID` 0x170).
    Board {
        key: "a100",
        name: "A100-PCIE-40GB",
        device_id: 0x20f1,
        chip_id: 0x170,
        revision: (0xa, 1),
        vram: 40 * GIB,
        sizing: Sizing::LocalMemoryRange { ecc: false },
        post: PostStatus::GfwBoot,
        bar1: 64 * GIB,
    },
];

pub fn find(key: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.key == key)
}

impl Board {
    /// `NV_PMC_BOOT_0` (dev_master.ref.txt): ARCHITECTURE 28:24, IMPLEMENTATION 23:20,
    /// MAJOR_REVISION 7:4, MINOR_REVISION 3:0.
    pub fn boot0(&self) -> u32 {
        (self.chip_id << 20) | (self.revision.0 << 4) | self.revision.1
    }

    /// `NV_PMC_BOOT_42` (dev_master.ref.txt): CHIP_ID 28:20, MAJOR_REVISION 19:16,
    /// MINOR_REVISION 15:12.
    pub fn boot42(&self) -> u32 {
        (self.chip_id << 20) | (self.revision.0 << 16) | (self.revision.1 << 12)
    }

    /// `NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE`: the VRAM size as magnitude (9:4) << (scale (3:0) + 20),
    /// and ECC (bit 30), with which only 15/16 of it is usable.
    pub fn local_memory_range(&self) -> Option<u32> {
        let Sizing::LocalMemoryRange { ecc } = self.sizing else {
            return None;
        };
        let mib = self.vram >> 20;
        let scale = mib.trailing_zeros().min(15);
        let mag = mib >> scale;
        assert!(mag < 64, "{}: VRAM size not encodable", self.key);
        Some((u32::from(ecc) << 30) | ((mag as u32) << 4) | scale)
    }

    /// This board with `vram` bytes of VRAM (`--board-vram-mib`), for a VM that emulates all of
    /// it: the size must be one the board's size registers can report (`local_memory_range`'s
    /// magnitude below 64, or whole MiB per GP100 partition).
    pub fn with_vram(&'static self, vram: u64) -> Result<&'static Board, String> {
        let mib = vram >> 20;
        let ok = vram % (1 << 20) == 0
            && mib > 0
            && match self.sizing {
                Sizing::LocalMemoryRange { .. } => mib >> mib.trailing_zeros().min(15) < 64,
                Sizing::Fbpa { count, .. } => mib % u64::from(count) == 0,
            };
        if !ok {
            return Err(format!(
                "{}: {mib} MiB of VRAM cannot be reported by its size registers",
                self.key
            ));
        }
        // One board per process, for as long as it serves.
        Ok(Box::leak(Box::new(Board {
            vram,
            ..self.clone()
        })))
    }

    /// The VRAM the size registers report: 15/16 of it with ECC.
    pub fn usable_vram(&self) -> u64 {
        match self.sizing {
            Sizing::LocalMemoryRange { ecc: true } => self.vram / 16 * 15,
            _ => self.vram,
        }
    }

    pub fn generation(&self) -> Generation {
        match self.chip_id {
            0x130..=0x13f => Generation::Pascal,
            0x140..=0x15f => Generation::Volta,
            0x160..=0x16f => Generation::Turing,
            _ => Generation::Ampere,
        }
    }

    /// The copy engine class (`classes/dma-copy/clc?b5.h`).
    pub fn ce_class(&self) -> u32 {
        match self.chip_id {
            0x130 => 0xc0b5,
            0x131..=0x13f => 0xc1b5,
            0x140..=0x15f => 0xc3b5,
            _ => 0xc5b5,
        }
    }

    /// `NV_CE_PCE_MAP` (`turing/tu104/dev_ce.ref.txt`): one bit per physical copy engine, Volta
    /// and Turing only. TU104's manual has four `NV_CE_PCE2LCE_CONFIG` entries, so four PCEs; the
    /// GV100 manuals do not say, and nouveau only counts the bits, so GV100 gets the same four.
    pub fn pce_map(&self) -> Option<u32> {
        matches!(self.generation(), Generation::Volta | Generation::Turing).then_some(0xf)
    }

    /// The chip's name, for the access log.
    pub fn chipset_name(&self) -> &'static str {
        match self.chip_id {
            0x130 => "GP100",
            0x132 => "GP102",
            0x134 => "GP104",
            0x140 => "GV100",
            0x162 => "TU102",
            0x164 => "TU104",
            0x170 => "GA100",
            _ => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_registers_carry_the_chip_id() {
        let p100 = find("p100").unwrap();
        assert_eq!(p100.boot0(), 0x1300_00a1);
        assert_eq!((p100.boot42() >> 20) & 0x1ff, 0x130);
        assert_eq!((find("rtx8000").unwrap().boot42() >> 20) & 0x1ff, 0x162);
    }

    #[test]
    fn local_memory_range_encodes_the_size() {
        for b in BOARDS {
            if let Some(v) = b.local_memory_range() {
                let mag = u64::from((v >> 4) & 0x3f);
                let scale = u64::from(v & 0xf);
                assert_eq!(mag << (scale + 20), b.vram, "{}", b.key);
            }
        }
        assert_eq!(find("p40").unwrap().local_memory_range().unwrap() >> 30, 1);
    }

    #[test]
    fn board_vram_knob_changes_what_the_registers_report() {
        let rtx = find("rtx8000").unwrap();
        let small = rtx.with_vram(2 * GIB).unwrap();
        assert_eq!(small.local_memory_range(), Some(1 << 4 | 11));
        assert_eq!((small.vram, small.bar1), (2 * GIB, 256 * MIB));
        assert!(rtx.with_vram(3000 * MIB).is_err());
        assert!(find("p100").unwrap().with_vram(1001 * MIB).is_err());
        assert!(find("p100").unwrap().with_vram(1024 * MIB).is_ok());
    }
}
