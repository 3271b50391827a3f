// SPDX-License-Identifier: GPL-2.0

//! The NVIDIA hardware layer: which chip a board is, how much VRAM it has, whether its VBIOS ran,
//! BAR1 back in physical mode, and which part of BAR1 may be lent.
//!
//! Probe reads BAR0 once; afterwards VRAM is reached through BAR1, whose offset N is VRAM address
//! N in physical mode, and BAR0 serves only the copy engine's channel ([`Channel`]).

mod channel;
mod engine;
mod fifo;
mod hal;
mod push;
mod ramin;
mod regs;
mod selfcheck;

pub(crate) use channel::{
    Channel,
    Failure, //
};
pub(crate) use engine::Engine;
pub(crate) use push::{
    Run,
    Target, //
};
pub(crate) use selfcheck::{
    copy_engine as engine_self_check,
    ENGINE_TEST_VRAM_PAGES, //
};

use crate::hw::Architecture;
use core::ops::Range;
use kernel::{
    device::Bound,
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    pci,
    prelude::*,
    time::Delta, //
};

/// The size of BAR0, the register aperture.
pub(crate) const BAR0_SIZE: usize = 16 << 20;

type Bar0<'a> = pci::Bar<'a, BAR0_SIZE>;

/// The low VRAM the VBIOS and VGA emulation use.
const RESERVED_LOW: u64 = 256 << 10;
/// The top of VRAM, where the VBIOS keeps its tables.
const RESERVED_HIGH: u64 = 1 << 20;

macro_rules! chipsets {
    ($($variant:ident = $id:literal, $arch:ident;)*) => {
        /// The chips pseudoscopic supports, by `NV_PMC_BOOT_42_CHIP_ID`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Chipset {
            $($variant,)*
        }

        impl Chipset {
            fn from_id(id: u32) -> Option<Self> {
                match id {
                    $($id => Some(Self::$variant),)*
                    _ => None,
                }
            }

            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                }
            }

            pub(crate) fn architecture(self) -> Architecture {
                match self {
                    $(Self::$variant => Architecture::$arch,)*
                }
            }
        }

        /// The list the refusal message gives (with a trailing space).
        const SUPPORTED: &str = concat!($(stringify!($variant), " "),*);
    };
}

chipsets! {
    GP100 = 0x130, Pascal;
    GP102 = 0x132, Pascal;
    GP104 = 0x134, Pascal;
    GV100 = 0x140, Volta;
    TU102 = 0x162, Turing;
    TU104 = 0x164, Turing;
}

/// `NV_PMC_BOOT_0_ARCHITECTURE` from which the chip ID is read from `NV_PMC_BOOT_42` instead.
const ARCHITECTURE_TU100: u32 = 0x16;

/// What [`crate::vram::Vram`] needs to bring up the copy engine.
pub(crate) struct DmaSetup {
    pub(crate) bar0: channel::Bar0Devres,
    pub(crate) chipset: Chipset,
    pub(crate) engine: Engine,
    /// `migration_threshold`: the smallest batch, in pages, worth the engine.
    pub(crate) threshold: usize,
}

/// What the registers say about a board, and which BAR1 offsets may be lent.
pub(crate) struct Layout {
    pub(crate) chipset: Chipset,
    /// Major (0xA is "A") and minor revision.
    pub(crate) revision: (u32, u32),
    /// Usable VRAM, in bytes (less the ECC check bits).
    pub(crate) vram: u64,
    /// BAR1 was in virtual mode and probe put it back in physical mode.
    pub(crate) bar1_recovered: bool,
    /// The lendable BAR1 offsets, in ascending order: inside both VRAM and BAR1, outside the
    /// reserved low and high VRAM and any locked WPR2 region.
    pub(crate) usable: KVec<Range<u64>>,
    /// The copy engine to bring up, unless `enable_dma=0` or the board shows none.
    pub(crate) dma: Option<DmaSetup>,
}

/// Reads what pseudoscopic needs from BAR0 and readies BAR1 of length `bar1_len`. Refuses (with one
/// `dmesg` line and `ENODEV`) chips it does not know and boards whose VBIOS did not run. With
/// `dma` (`enable_dma`, `migration_threshold`) it finds the copy engine and keeps BAR0 for it.
pub(crate) fn probe(
    pdev: &pci::Device<Bound>,
    bar1_len: u64,
    dma: Option<usize>,
) -> Result<Layout> {
    let bar0 = pdev
        .iomap_region_sized::<BAR0_SIZE>(0, c"pseudoscopic/bar0")
        .inspect_err(|e| dev_err!(pdev, "cannot map BAR0 (registers): {e:?}\n"))?;
    let (chipset, revision) = identify(pdev, &bar0)?;
    let hal = hal::of(chipset);
    let refuse = |e: hal::ReadError| {
        dev_err!(pdev, "{}: {e}; refusing it\n", chipset.name());
        ENODEV
    };
    if !posted(hal, &bar0).map_err(refuse)? {
        dev_err!(
            pdev,
            "{} is not POSTed (its VBIOS has not run, e.g. after a bus reset); refusing it\n",
            chipset.name()
        );
        return Err(ENODEV);
    }
    let vram = hal.vram_size(&bar0).map_err(refuse)?;
    if vram <= RESERVED_LOW + RESERVED_HIGH {
        dev_err!(
            pdev,
            "{} reports {vram} bytes of VRAM; refusing it\n",
            chipset.name()
        );
        return Err(ENODEV);
    }
    let bar1_recovered = physical_bar1(pdev, hal, &bar0)?;
    let locked = hal.locked(&bar0).map_err(refuse)?;
    for r in locked.iter() {
        dev_info!(
            pdev,
            "VRAM {:#x}-{:#x} is locked (write-protected or video-protected region); not lent\n",
            r.start,
            r.end - 1
        );
    }
    // Pascal's USERD lives in VRAM just above the low reservation, whether or not DMA is on, so
    // that the pool is the same either way.
    let low = match chipset.architecture() {
        Architecture::Pascal => RESERVED_LOW + ramin::PASCAL_USERD_BYTES,
        _ => RESERVED_LOW,
    };
    let usable = usable_ranges(low, vram, bar1_len, &locked)?;
    // Before anything is lent: BAR1 offset N must be VRAM address N, whatever register the
    // driver may have misread.
    selfcheck::bar1_identity(pdev, &bar0, &usable, vram)?;
    let dma = match dma {
        Some(threshold) => match engine::find_engine(&bar0) {
            Ok(Some(engine)) => Some(DmaSetup {
                bar0: bar0.into_devres()?,
                chipset,
                engine,
                threshold,
            }),
            Ok(None) => {
                dev_info!(
                    pdev,
                    "NV_PTOP_DEVICE_INFO lists no asynchronous copy engine; the CPU copies\n"
                );
                None
            }
            Err(e) => {
                dev_warn!(pdev, "{e}; the CPU copies\n");
                None
            }
        },
        None => None,
    };
    Ok(Layout {
        chipset,
        revision,
        vram,
        bar1_recovered,
        usable,
        dma,
    })
}

/// Whether the VBIOS ran; on Turing, whose firmware may still be booting when the driver loads,
/// waits up to 2 s for it as nouveau's `tu102_devinit_wait` does.
fn posted(hal: &dyn hal::Hal, bar0: &Bar0<'_>) -> Result<bool, hal::ReadError> {
    if !hal.posts_late() {
        return hal.is_posted(bar0);
    }
    // 200 looks 10 ms apart: about 2 s.
    for _ in 0..200 {
        if hal.is_posted(bar0)? {
            return Ok(true);
        }
        kernel::time::delay::fsleep(Delta::from_millis(10));
    }
    hal.is_posted(bar0)
}

/// The chip and its revision, from `NV_PMC_BOOT_0` (and `NV_PMC_BOOT_42` on Turing and later).
fn identify(pdev: &pci::Device<Bound>, bar0: &Bar0<'_>) -> Result<(Chipset, (u32, u32))> {
    let boot0 = bar0.read(regs::NV_PMC_BOOT_0);
    if hal::is_pri_error(u32::from(boot0)) {
        dev_err!(
            pdev,
            "NV_PMC_BOOT_0 reads {:#010x}, a failed register read; refusing the device\n",
            u32::from(boot0)
        );
        return Err(ENODEV);
    }
    let (id, revision) = if boot0.architecture().get() >= ARCHITECTURE_TU100 {
        let boot42 = bar0.read(regs::NV_PMC_BOOT_42);
        if hal::is_pri_error(u32::from(boot42)) {
            dev_err!(
                pdev,
                "NV_PMC_BOOT_42 reads {:#010x}, a failed register read; refusing the device\n",
                u32::from(boot42)
            );
            return Err(ENODEV);
        }
        (
            boot42.chip_id().get(),
            (boot42.major_revision().get(), boot42.minor_revision().get()),
        )
    } else {
        (
            (boot0.architecture().get() << 4) | boot0.implementation().get(),
            (boot0.major_revision().get(), boot0.minor_revision().get()),
        )
    };
    let Some(chipset) = Chipset::from_id(id) else {
        dev_err!(
            pdev,
            "unsupported NVIDIA chip {id:#x} (NV_PMC_BOOT_0 {:#010x}); supported: {}\n",
            u32::from(boot0),
            SUPPORTED.trim_end()
        );
        return Err(ENODEV);
    };
    Ok((chipset, revision))
}

/// BAR0 for one look at a time: probe's own mapping, or the channel's device-managed one, which
/// is reachable only under an RCU read lock and so never held across a sleep.
trait Bar0Access {
    /// Runs `f` on BAR0; `f` must not sleep.
    fn with<R>(&self, f: impl FnOnce(&Bar0<'_>) -> R) -> Result<R>;
}

impl Bar0Access for Bar0<'_> {
    fn with<R>(&self, f: impl FnOnce(&Bar0<'_>) -> R) -> Result<R> {
        Ok(f(self))
    }
}

impl Bar0Access for channel::Bar0Devres {
    fn with<R>(&self, f: impl FnOnce(&Bar0<'_>) -> R) -> Result<R> {
        let io = self.try_access().ok_or(ENODEV)?;
        Ok(f(&io))
    }
}

/// Puts BAR1 in physical mode wherever a previous driver (at probe) or a reset (at resume) left
/// it virtual, in the blocks `hal` names (on Turing both the 0xB80F40 block and 0x1704); true if
/// one was.
fn physical_bar1(pdev: &pci::Device, hal: &dyn hal::Hal, bar0: &impl Bar0Access) -> Result<bool> {
    let mut recovered = false;
    for &block in hal.bar1_blocks() {
        let name = block.name();
        let value = bar0.with(|io| block.read(io))?.map_err(|e| {
            dev_err!(pdev.as_ref(), "{e}; refusing the device\n");
            ENODEV
        })?;
        if !value.mode_virtual() {
            continue;
        }
        bar0.with(|io| block.make_physical(io))?;
        read_poll_timeout(
            || bar0.with(|io| block.bound(io)),
            |&bound| bound,
            Delta::from_micros(10),
            Delta::from_millis(100),
        )
        .inspect_err(|_| {
            dev_err!(
                pdev.as_ref(),
                "BAR1 did not return to physical mode ({name})\n"
            )
        })?;
        dev_info!(
            pdev.as_ref(),
            "BAR1 was left in virtual mode ({name}, instance block {:#x}); switched it to physical mode\n",
            u64::from(value.ptr().get()) << 12
        );
        recovered = true;
    }
    Ok(recovered)
}

/// The BAR1 offsets that may be lent: `[low, VRAM - RESERVED_HIGH)` within BAR1, without the
/// `locked` ranges.
fn usable_ranges(
    low: u64,
    vram: u64,
    bar1_len: u64,
    locked: &[Range<u64>],
) -> Result<KVec<Range<u64>>> {
    let mut usable = KVec::new();
    usable.push(low..(vram - RESERVED_HIGH).min(bar1_len), GFP_KERNEL)?;
    for l in locked {
        let mut next = KVec::new();
        for r in usable {
            for part in [r.start..r.end.min(l.start), r.start.max(l.end)..r.end] {
                if part.start < part.end {
                    next.push(part, GFP_KERNEL)?;
                }
            }
        }
        usable = next;
    }
    Ok(usable)
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_nvidia)]
// A list of one range is what these cases pass, not a mistaken `vec![x; n]`.
#[expect(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn usable_ranges_leave_out_the_reserved_ends() -> Result {
        // 16 GiB of VRAM behind a 256 MiB BAR1: the BAR is the limit.
        let usable = usable_ranges(RESERVED_LOW, 16 << 30, 256 * MIB, &[])?;
        assert!(usable[..] == [RESERVED_LOW..256 * MIB][..]);
        // A BAR1 as large as VRAM: the top MiB stays the firmware's.
        let usable = usable_ranges(RESERVED_LOW, 512 * MIB, 512 * MIB, &[])?;
        assert!(usable[..] == [RESERVED_LOW..511 * MIB][..]);
        Ok(())
    }

    #[test]
    fn usable_ranges_cut_out_locked_regions() -> Result {
        // One region inside, one across the end, one wholly outside the BAR.
        let locked = [
            100 * MIB..110 * MIB,
            250 * MIB..300 * MIB,
            400 * MIB..410 * MIB,
        ];
        let usable = usable_ranges(RESERVED_LOW, 16 << 30, 256 * MIB, &locked)?;
        assert!(usable[..] == [RESERVED_LOW..100 * MIB, 110 * MIB..250 * MIB][..]);
        // A region over the low reserve and one that covers everything.
        let usable = usable_ranges(RESERVED_LOW, 16 << 30, 256 * MIB, &[0..MIB])?;
        assert!(usable[..] == [MIB..256 * MIB][..]);
        let usable = usable_ranges(RESERVED_LOW, 16 << 30, 256 * MIB, &[0..1 << 40])?;
        assert_eq!(usable.len(), 0);
        Ok(())
    }
}
