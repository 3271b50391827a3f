// SPDX-License-Identifier: GPL-2.0

//! What differs between generations: where the VRAM size and the POST status live, and whether a
//! WPR2 region can be locked.

use super::{regs, Bar0, Chipset};
use core::ops::Range;
use kernel::{io::register::Array, io::Io};

/// One generation's way of reading what probe needs.
pub(super) trait Hal: Sync {
    /// Usable VRAM in bytes.
    fn vram_size(&self, bar0: &Bar0<'_>) -> u64;
    /// Whether the VBIOS ran (devinit done).
    fn is_posted(&self, bar0: &Bar0<'_>) -> bool;
    /// The locked WPR2 region, if any.
    fn wpr2(&self, bar0: &Bar0<'_>) -> Option<Range<u64>>;
}

/// GP100: HBM2 behind FBPAs, sized partition by partition.
struct Gp100;
/// GP102, GP104, GV100: `NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE` and the Pascal POST scratch.
struct PascalVolta;
/// TU102, TU104: as Pascal/Volta, but the GFW boot scratch tells POST.
struct Turing;

pub(super) fn of(chipset: Chipset) -> &'static dyn Hal {
    match chipset {
        Chipset::GP100 => &Gp100,
        Chipset::GP102 | Chipset::GP104 | Chipset::GV100 => &PascalVolta,
        Chipset::TU102 | Chipset::TU104 => &Turing,
    }
}

/// `NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE`: `mag << (scale + 20)`, 15/16 of it with ECC on.
fn local_memory_range(bar0: &Bar0<'_>) -> u64 {
    let r = bar0.read(regs::NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE);
    let bytes = u64::from(r.lower_mag().get()) << (r.lower_scale().get() + 20);
    if r.ecc_mode() {
        bytes / 16 * 15
    } else {
        bytes
    }
}

/// WPR2 from `NV_PFB_PRI_MMU_WPR2_ADDR_LO/HI`: `[lo << 12, (hi << 12) + 128 KiB)`, none if HI is 0.
fn wpr2(bar0: &Bar0<'_>) -> Option<Range<u64>> {
    let hi = u64::from(bar0.read(regs::NV_PFB_PRI_MMU_WPR2_ADDR_HI).val().get());
    if hi == 0 {
        return None;
    }
    let lo = u64::from(bar0.read(regs::NV_PFB_PRI_MMU_WPR2_ADDR_LO).val().get());
    Some((lo << 12)..(hi << 12) + (128 << 10))
}

fn pascal_posted(bar0: &Bar0<'_>) -> bool {
    bar0.read(regs::NV_PGC6_SCRATCH_POST).posted()
}

impl Hal for Gp100 {
    /// The sum of `CSTATUS_RAMAMOUNT` over the FBPAs the FBIO fuse leaves enabled
    /// (gp100-fbpa.txt, steps 1 and 4).
    fn vram_size(&self, bar0: &Bar0<'_>) -> u64 {
        let count: usize = bar0.read(regs::NV_PTOP_SCAL_NUM_FBPAS).value().into();
        let disabled = bar0.read(regs::NV_FUSE_STATUS_OPT_FBIO).data().get();
        (0..count.min(16))
            .filter(|&i| disabled & (1 << i) == 0)
            .filter_map(regs::NV_PFB_FBPA_CSTATUS_RAMAMOUNT::try_at)
            .map(|at| u64::from(bar0.read(at).mib().get()) << 20)
            .sum()
    }

    fn is_posted(&self, bar0: &Bar0<'_>) -> bool {
        pascal_posted(bar0)
    }

    fn wpr2(&self, _bar0: &Bar0<'_>) -> Option<Range<u64>> {
        // No source at hand documents the WPR2 registers on GP100, so they are not read there.
        None
    }
}

impl Hal for PascalVolta {
    fn vram_size(&self, bar0: &Bar0<'_>) -> u64 {
        local_memory_range(bar0)
    }

    fn is_posted(&self, bar0: &Bar0<'_>) -> bool {
        pascal_posted(bar0)
    }

    fn wpr2(&self, bar0: &Bar0<'_>) -> Option<Range<u64>> {
        wpr2(bar0)
    }
}

impl Hal for Turing {
    fn vram_size(&self, bar0: &Bar0<'_>) -> u64 {
        local_memory_range(bar0)
    }

    fn is_posted(&self, bar0: &Bar0<'_>) -> bool {
        bar0.read(regs::NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_PRIV_LEVEL_MASK)
            .read_protection_level0()
            && bar0
                .read(regs::NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_0_GFW_BOOT)
                .progress()
                .get()
                == 0xff
    }

    fn wpr2(&self, bar0: &Bar0<'_>) -> Option<Range<u64>> {
        wpr2(bar0)
    }
}
