// SPDX-License-Identifier: GPL-2.0

//! What differs between generations: where the VRAM size, the POST status, BAR1's block and the
//! locked (write-protected and video-protected) regions are read. Every register read here is
//! checked for a PRI error ([`checked`]): such a value is never a size, a status or an address.

use super::{
    regs,
    Bar0,
    Chipset, //
};
use core::ops::Range;
use kernel::{
    io::register::Array,
    io::Io,
    prelude::*, //
};

/// Why probe cannot trust what a register said.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ReadError {
    /// The read returned a PRI error (0xBADFxxxx) or all ones (the device did not answer).
    Pri { register: &'static str, value: u32 },
    /// A video-protected region is in use on a chip whose VPR bounds no source names.
    VprUnknown,
    /// No memory to hold the list of locked regions.
    NoMemory,
}

impl kernel::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Pri { register, value } => write!(
                f,
                "{register} reads {value:#010x}, a failed register read (PRI error or no answer)"
            ),
            Self::VprUnknown => f.write_str(
                "a video-protected region (VPR) is in use and its bounds are not known on this chip",
            ),
            Self::NoMemory => f.write_str("no memory for the list of locked VRAM regions"),
        }
    }
}

/// Whether `value` is what a failed read returns: a PRI error (0xBADFxxxx, nouveau and OpenRM
/// treat the whole range so) or all ones (the device fell off the bus).
pub(crate) fn is_pri_error(value: u32) -> bool {
    value >> 16 == 0xbadf || value == u32::MAX
}

/// `value`, unless it is a failed read of `register`.
pub(crate) fn checked(register: &'static str, value: u32) -> Result<u32, ReadError> {
    match is_pri_error(value) {
        true => Err(ReadError::Pri { register, value }),
        false => Ok(value),
    }
}

/// One generation's way of reading what probe needs.
pub(super) trait Hal: Sync {
    /// Usable VRAM in bytes.
    fn vram_size(&self, bar0: &Bar0<'_>) -> Result<u64, ReadError>;
    /// Whether the VBIOS ran (devinit done).
    fn is_posted(&self, bar0: &Bar0<'_>) -> Result<bool, ReadError>;
    /// Whether POST can still be in progress at probe (Turing's firmware boot), so that probe
    /// waits for it instead of looking once.
    fn posts_late(&self) -> bool {
        false
    }
    /// The VRAM ranges locked by secure firmware (WPR) or a protected-video driver (VPR): writes
    /// there are dropped, so none may be lent.
    fn locked(&self, bar0: &Bar0<'_>) -> Result<KVec<Range<u64>>, ReadError> {
        let mut ranges = KVec::new();
        for (lo, hi) in [(2, 3), (4, 5)] {
            if let Some(r) = wpr_info(bar0, lo, hi)? {
                push(&mut ranges, r)?;
            }
        }
        let vpr = |index: u32| {
            bar0.write_reg(regs::NV_PFB_PRI_MMU_VPR_INFO::zeroed().with_value(index));
            checked(
                "NV_PFB_PRI_MMU_VPR_INFO",
                u32::from(bar0.read(regs::NV_PFB_PRI_MMU_VPR_INFO)),
            )
        };
        // Index 2 (`CYA_LO`), bit 4: a VPR is in use.
        if vpr(2)? & (1 << 4) != 0 {
            let (lo, hi) = (vpr(0)?, vpr(1)?);
            if let Some(r) = granules(lo, hi) {
                push(&mut ranges, r)?;
            }
        }
        Ok(ranges)
    }
    /// Which BAR1 blocks to look at (and put back in physical mode) and their bind status; the
    /// first is the one BAR1 virtual mode binds.
    fn bar1_blocks(&self) -> &'static [Bar1Block] {
        &[Bar1Block::Pbus]
    }
}

/// Where a BAR1 block and its bind status live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bar1Block {
    /// `NV_PBUS_BAR1_BLOCK` 0x1704, `NV_PBUS_BIND_STATUS` 0x1710.
    Pbus,
    /// Turing's `NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK` 0xB80F40 and `_BIND_STATUS` 0xB80F50.
    VirtualFunction,
}

impl Bar1Block {
    /// The block register's name, for the log.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Pbus => "NV_PBUS_BAR1_BLOCK",
            Self::VirtualFunction => "NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK",
        }
    }

    /// The block as it reads (both blocks share `NV_PBUS_BAR1_BLOCK`'s fields), or why it cannot
    /// be trusted.
    pub(super) fn read(self, bar0: &Bar0<'_>) -> Result<regs::NV_PBUS_BAR1_BLOCK, ReadError> {
        let raw = match self {
            Self::Pbus => u32::from(bar0.read(regs::NV_PBUS_BAR1_BLOCK)),
            Self::VirtualFunction => {
                u32::from(bar0.read(regs::NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK))
            }
        };
        checked(self.name(), raw).map(regs::NV_PBUS_BAR1_BLOCK::from)
    }

    /// Starts putting BAR1 back in physical mode (offset N is VRAM address N).
    pub(super) fn make_physical(self, bar0: &Bar0<'_>) {
        match self {
            Self::Pbus => bar0.write_reg(regs::NV_PBUS_BAR1_BLOCK::zeroed()),
            Self::VirtualFunction => {
                bar0.write_reg(regs::NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK::zeroed())
            }
        }
    }

    /// Starts binding BAR1 in virtual mode to the instance block at VRAM address `inst`: offset
    /// N is then GPU virtual address N of that block's page tables.
    pub(super) fn bind_virtual(self, bar0: &Bar0<'_>, inst: u64) -> Result {
        let ptr = u32::try_from(inst >> 12).map_err(|_| EINVAL)?;
        let value = regs::NV_PBUS_BAR1_BLOCK::zeroed()
            .with_mode_virtual(true)
            .try_with_target(0)?
            .try_with_ptr(ptr)?;
        match self {
            Self::Pbus => bar0.write_reg(value),
            Self::VirtualFunction => bar0.write_reg(
                regs::NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK::from(u32::from(value)),
            ),
        }
        Ok(())
    }

    /// Whether no BAR1 bind is in flight (`BAR1_PENDING` and `BAR1_OUTSTANDING` clear).
    pub(super) fn bound(self, bar0: &Bar0<'_>) -> bool {
        let (raw, pending, outstanding) = match self {
            Self::Pbus => {
                let s = bar0.read(regs::NV_PBUS_BIND_STATUS);
                (u32::from(s), s.bar1_pending(), s.bar1_outstanding())
            }
            Self::VirtualFunction => {
                let s = bar0.read(regs::NV_VIRTUAL_FUNCTION_PRIV_BIND_STATUS);
                (u32::from(s), s.bar1_pending(), s.bar1_outstanding())
            }
        };
        !is_pri_error(raw) && !pending && !outstanding
    }
}

/// Adds `r` to `ranges`.
fn push(ranges: &mut KVec<Range<u64>>, r: Range<u64>) -> Result<(), ReadError> {
    ranges.push(r, GFP_KERNEL).map_err(|_| ReadError::NoMemory)
}

/// A region from its first and last 128 KiB granule as `NV_PFB_PRI_MMU_WPR_INFO` encodes them
/// (nouveau: `(value & 0xffffff00) << 8`, the end one granule past the last); none when the
/// last is below the first or both are 0 (nothing set).
fn granules(lo: u32, hi: u32) -> Option<Range<u64>> {
    let start = u64::from(lo & 0xffff_ff00) << 8;
    let last = u64::from(hi & 0xffff_ff00) << 8;
    (last >= start && (lo | hi) & 0xffff_ff00 != 0).then_some(start..last + (128 << 10))
}

/// WPR `lo`/`hi` indexes of `NV_PFB_PRI_MMU_WPR_INFO`.
fn wpr_info(bar0: &Bar0<'_>, lo: u32, hi: u32) -> Result<Option<Range<u64>>, ReadError> {
    let read = |index: u32| {
        bar0.write_reg(regs::NV_PFB_PRI_MMU_WPR_INFO::zeroed().with_value(index));
        checked(
            "NV_PFB_PRI_MMU_WPR_INFO",
            u32::from(bar0.read(regs::NV_PFB_PRI_MMU_WPR_INFO)),
        )
    };
    Ok(granules(read(lo)?, read(hi)?))
}

/// GP100: HBM2 behind FBPAs, sized partition by partition.
struct Gp100;
/// GP102, GP104, GV100: `NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE` and the Pascal POST scratch.
struct PascalVolta;
/// TU102, TU104: as Pascal/Volta, but the GFW boot scratch tells POST, BAR1 moved, and WPR2 and
/// the VPR status have registers of their own.
struct Turing;

pub(super) fn of(chipset: Chipset) -> &'static dyn Hal {
    match chipset {
        Chipset::GP100 => &Gp100,
        Chipset::GP102 | Chipset::GP104 | Chipset::GV100 => &PascalVolta,
        Chipset::TU102 | Chipset::TU104 => &Turing,
    }
}

/// `NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE`: `mag << (scale + 20)`, 15/16 of it with ECC on.
fn local_memory_range(bar0: &Bar0<'_>) -> Result<u64, ReadError> {
    let raw = checked(
        "NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE",
        u32::from(bar0.read(regs::NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE)),
    )?;
    let r = regs::NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE::from(raw);
    let bytes = u64::from(r.lower_mag().get()) << (r.lower_scale().get() + 20);
    Ok(if r.ecc_mode() { bytes / 16 * 15 } else { bytes })
}

fn pascal_posted(bar0: &Bar0<'_>) -> Result<bool, ReadError> {
    let v = checked(
        "NV_PGC6_SCRATCH_POST (0x2240c)",
        u32::from(bar0.read(regs::NV_PGC6_SCRATCH_POST)),
    )?;
    Ok(regs::NV_PGC6_SCRATCH_POST::from(v).posted())
}

impl Hal for Gp100 {
    /// The sum of `CSTATUS_RAMAMOUNT` over the FBPAs the FBIO fuse leaves enabled
    /// (gp100-fbpa.txt, steps 1 and 4).
    fn vram_size(&self, bar0: &Bar0<'_>) -> Result<u64, ReadError> {
        let count = checked(
            "NV_PTOP_SCAL_NUM_FBPAS",
            u32::from(bar0.read(regs::NV_PTOP_SCAL_NUM_FBPAS)),
        )?;
        let count = regs::NV_PTOP_SCAL_NUM_FBPAS::from(count).value().get() as usize;
        let disabled = checked(
            "NV_FUSE_STATUS_OPT_FBIO",
            u32::from(bar0.read(regs::NV_FUSE_STATUS_OPT_FBIO)),
        )?;
        let mut total = 0u64;
        for i in (0..count.min(16)).filter(|&i| disabled & (1 << i) == 0) {
            let Some(at) = regs::NV_PFB_FBPA_CSTATUS_RAMAMOUNT::try_at(i) else {
                continue;
            };
            let mib = checked("NV_PFB_FBPA_CSTATUS_RAMAMOUNT", u32::from(bar0.read(at)))?;
            total += u64::from(mib) << 20;
        }
        Ok(total)
    }

    fn is_posted(&self, bar0: &Bar0<'_>) -> Result<bool, ReadError> {
        pascal_posted(bar0)
    }
}

impl Hal for PascalVolta {
    fn vram_size(&self, bar0: &Bar0<'_>) -> Result<u64, ReadError> {
        local_memory_range(bar0)
    }

    fn is_posted(&self, bar0: &Bar0<'_>) -> Result<bool, ReadError> {
        pascal_posted(bar0)
    }
}

impl Hal for Turing {
    fn vram_size(&self, bar0: &Bar0<'_>) -> Result<u64, ReadError> {
        local_memory_range(bar0)
    }

    fn is_posted(&self, bar0: &Bar0<'_>) -> Result<bool, ReadError> {
        let scratch = checked(
            "GFW boot scratch (0x118128)",
            u32::from(bar0.read(regs::NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_PRIV_LEVEL_MASK)),
        )?;
        let progress = checked(
            "GFW boot progress (0x118234)",
            u32::from(bar0.read(regs::NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_0_GFW_BOOT)),
        )?;
        Ok(
            regs::NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_PRIV_LEVEL_MASK::from(scratch)
                .read_protection_level0()
                && regs::NV_PGC6_AON_SECURE_SCRATCH_GROUP_05_0_GFW_BOOT::from(progress)
                    .progress()
                    .get()
                    == 0xff,
        )
    }

    fn posts_late(&self) -> bool {
        true
    }

    /// WPR1 through `NV_PFB_PRI_MMU_WPR_INFO` (nouveau's Turing ACR still reads it there), WPR2
    /// from `NV_PFB_PRI_MMU_WPR2_ADDR_LO/HI` (OpenRM, nouveau's GSP code); a VPR in use
    /// (`NV_PFB_PRI_MMU_VPR_CYA_LO`) refuses the board: its bounds are not known here.
    fn locked(&self, bar0: &Bar0<'_>) -> Result<KVec<Range<u64>>, ReadError> {
        let mut ranges = KVec::new();
        if let Some(r) = wpr_info(bar0, 2, 3)? {
            push(&mut ranges, r)?;
        }
        let hi = checked(
            "NV_PFB_PRI_MMU_WPR2_ADDR_HI",
            u32::from(bar0.read(regs::NV_PFB_PRI_MMU_WPR2_ADDR_HI)),
        )?;
        let hi = u64::from(regs::NV_PFB_PRI_MMU_WPR2_ADDR_HI::from(hi).val().get());
        if hi != 0 {
            let lo = checked(
                "NV_PFB_PRI_MMU_WPR2_ADDR_LO",
                u32::from(bar0.read(regs::NV_PFB_PRI_MMU_WPR2_ADDR_LO)),
            )?;
            let lo = u64::from(regs::NV_PFB_PRI_MMU_WPR2_ADDR_LO::from(lo).val().get());
            push(&mut ranges, (lo << 12)..(hi << 12) + (128 << 10))?;
        }
        let cya = checked(
            "NV_PFB_PRI_MMU_VPR_CYA_LO",
            u32::from(bar0.read(regs::NV_PFB_PRI_MMU_VPR_CYA_LO)),
        )?;
        if regs::NV_PFB_PRI_MMU_VPR_CYA_LO::from(cya).in_use() {
            return Err(ReadError::VprUnknown);
        }
        Ok(ranges)
    }

    /// Both: nouveau and OpenRM use 0xB80F40 on Turing, and whether 0x1704 aliases it is not
    /// documented, so a BAR1 left virtual in either is put back.
    fn bar1_blocks(&self) -> &'static [Bar1Block] {
        &[Bar1Block::VirtualFunction, Bar1Block::Pbus]
    }
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_nvidia_hal)]
mod tests {
    use super::*;

    #[test]
    fn failed_reads_are_recognised() {
        assert!(is_pri_error(0xbadf_1100));
        assert!(is_pri_error(0xbadf_0000));
        assert!(is_pri_error(0xbadf_ffff));
        assert!(is_pri_error(u32::MAX));
        assert!(!is_pri_error(0xbade_ffff));
        assert!(!is_pri_error(0xbae0_0000));
        assert!(!is_pri_error(0x1300_00a1));
        assert!(!is_pri_error(0));
    }

    #[test]
    fn checked_passes_values_and_names_failed_reads() {
        assert!(matches!(checked("R", 0x1234), Ok(0x1234)));
        assert!(matches!(
            checked("NV_PMC_BOOT_0", 0xbadf_5040),
            Err(ReadError::Pri {
                register: "NV_PMC_BOOT_0",
                value: 0xbadf_5040
            })
        ));
    }

    #[test]
    fn granules_decode_wpr_bounds() {
        // Bits 31:8 hold the address >> 16 in 128 KiB steps (nouveau `(v & 0xffffff00) << 8`);
        // the low byte is the index the value was read at, not part of the address.
        assert!(granules(0x0000_2002, 0x0000_2203) == Some(0x20_0000..0x22_0000 + (128 << 10)));
        assert!(granules(0x00ff_ff04, 0x00ff_ff05) == Some(0xffff_0000..0xffff_0000 + (128 << 10)));
        // Nothing set.
        assert!(granules(0x02, 0x03).is_none());
        // The last granule below the first: no region.
        assert!(granules(0x0000_2202, 0x0000_2003).is_none());
    }
}
