// SPDX-License-Identifier: GPL-2.0

//! The NVIDIA hardware layer: which chip a board is, how much VRAM it has, whether its VBIOS ran,
//! BAR1 back in physical mode, and which part of BAR1 may be lent.
//!
//! Probe reads BAR0 once; afterwards VRAM is reached through BAR1, whose offset N is VRAM address
//! N in physical mode, and BAR0 serves only the copy engine's channel ([`Channel`]).

mod bar1;
mod channel;
mod engine;
mod fifo;
mod hal;
mod push;
mod ramin;
mod regs;
mod selfcheck;

pub(crate) use bar1::{
    Bar1Window,
    SLOT_BYTES as BAR1_SLOT_BYTES, //
};
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
    EngineTestFailure,
    ENGINE_TEST_VRAM_PAGES, //
};

use crate::hw::Architecture;
use core::ops::Range;
use kernel::{
    device::Bound,
    io::Io,
    pci,
    prelude::*,
    sync::Arc,
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

/// How the CPU reaches VRAM through BAR1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bar1Mode {
    /// Physical mode: BAR1 offset N is VRAM address N, and BAR1 shows all of the usable VRAM.
    Physical,
    /// Physical mode after PCIe Resizable BAR grew BAR1 from `from` bytes to cover VRAM.
    Resized { from: u64 },
    /// Virtual mode: BAR1 is a window of 2 MiB slots the driver points at VRAM on demand.
    Virtual { slots: usize },
    /// Physical mode showing only part of VRAM, which is all that is lent: virtual mode is not
    /// available (Pascal, whose USERD Host reads through physical BAR1) or failed its self-check.
    Window,
}

impl kernel::fmt::Display for Bar1Mode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Physical => f.write_str("physical mode"),
            Self::Resized { from } => {
                write!(f, "physical mode, resized from {} MiB", from >> 20)
            }
            Self::Virtual { slots } => write!(
                f,
                "virtual mode, a window of {slots} 2 MiB slots remapped on demand"
            ),
            Self::Window => f.write_str("physical mode, lending only what it shows"),
        }
    }
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
    /// How the CPU reaches VRAM through BAR1.
    pub(crate) bar1_mode: Bar1Mode,
    /// BAR1 in virtual mode, its page tables built and checked.
    pub(crate) bar1_window: Option<Bar1Window>,
    /// The lendable VRAM, in ascending order: outside the reserved low and high VRAM, any
    /// locked WPR2 region and BAR1's page tables, and (physical mode) inside BAR1.
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
    let top = vram - RESERVED_HIGH;
    let (mode, usable, tables) = bar1_plan(pdev, chipset, &bar0, vram, bar1_len, low, &locked)?;
    // A resize changed it.
    let bar1_len = pdev.resource_len(1)?;
    // Before anything is lent: BAR1 must reach the VRAM the driver thinks it does, whatever
    // register it may have misread.
    let (mode, usable, tables) = match tables {
        Some(mut tables) => match selfcheck::bar1_window(pdev, &bar0, &mut tables, &usable, vram) {
            Ok(()) => (mode, usable, Some(tables)),
            Err(_) => {
                physical_bar1(pdev, hal, &bar0)?;
                dev_info!(
                        pdev,
                        "BAR1 is back in physical mode: lending only the first {} MiB of {} MiB of VRAM, which it shows\n",
                        bar1_len >> 20,
                        vram >> 20
                    );
                (
                    Bar1Mode::Window,
                    usable_ranges(low, top.min(bar1_len), &locked)?,
                    None,
                )
            }
        },
        None => (mode, usable, None),
    };
    if tables.is_none() {
        selfcheck::bar1_identity(pdev, &bar0, &usable, vram)?;
    }
    let engine = match dma {
        Some(threshold) => match engine::find_engine(&bar0) {
            Ok(Some(engine)) => Some((engine, threshold)),
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
    // BAR0 stays mapped for the copy engine's channel and BAR1's page tables.
    let bar0 = match (&engine, &tables) {
        (None, None) => None,
        _ => Some(Arc::new(bar0.into_devres()?, GFP_KERNEL)?),
    };
    let dma = match (engine, &bar0) {
        (Some((engine, threshold)), Some(bar0)) => Some(DmaSetup {
            bar0: bar0.clone(),
            chipset,
            engine,
            threshold,
        }),
        _ => None,
    };
    let bar1_window = match (tables, bar0) {
        (Some(tables), Some(bar0)) => Some(Bar1Window::new(pdev, bar0, tables, bar1_len)),
        _ => None,
    };
    Ok(Layout {
        chipset,
        revision,
        vram,
        bar1_recovered,
        bar1_mode: mode,
        bar1_window,
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
        bar1::wait_bound(block, bar0).inspect_err(|_| {
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

/// What may be lent of a board with `vram` bytes behind a BAR1 of `bar1_len`, and how BAR1 reaches
/// it: physical mode when BAR1 covers the usable VRAM (after growing it through PCIe Resizable
/// BAR where it does not yet), else virtual mode with page tables at the top of VRAM (their
/// [`bar1::Tables`], built and bound, not yet checked), else (Pascal) the window BAR1 shows.
fn bar1_plan(
    pdev: &pci::Device<Bound>,
    chipset: Chipset,
    bar0: &Bar0<'_>,
    vram: u64,
    bar1_len: u64,
    low: u64,
    locked: &[Range<u64>],
) -> Result<(Bar1Mode, KVec<Range<u64>>, Option<bar1::Tables>)> {
    let top = vram - RESERVED_HIGH;
    if bar1_len >= top {
        return Ok((Bar1Mode::Physical, usable_ranges(low, top, locked)?, None));
    }
    match crate::bus::resize_bar(pdev, 1, vram) {
        Ok(Some(len)) if len >= top => {
            dev_info!(
                pdev,
                "BAR1 resized from {} MiB to {} MiB (PCIe Resizable BAR): it shows all {} MiB of VRAM in physical mode\n",
                bar1_len >> 20,
                len >> 20,
                vram >> 20
            );
            return Ok((
                Bar1Mode::Resized { from: bar1_len },
                usable_ranges(low, top, locked)?,
                None,
            ));
        }
        Ok(Some(len)) => dev_info!(
            pdev,
            "BAR1 cannot grow past {} MiB (PCIe Resizable BAR), less than the {} MiB of VRAM\n",
            len >> 20,
            vram >> 20
        ),
        Ok(None) => dev_info!(
            pdev,
            "BAR1 ({} MiB) cannot be resized: no PCIe Resizable BAR capability\n",
            bar1_len >> 20
        ),
        Err(e) => dev_info!(
            pdev,
            "BAR1 ({} MiB) could not be resized to cover VRAM ({e:?}); is Resizable BAR enabled in the firmware?\n",
            bar1_len >> 20
        ),
    }
    // The resize may have failed after moving the BAR; what it is now counts.
    let bar1_len = pdev.resource_len(1)?;
    let window = |why: &str| -> Result<(Bar1Mode, KVec<Range<u64>>, Option<bar1::Tables>)> {
        dev_info!(
            pdev,
            "BAR1 ({} MiB) shows only the first {} MiB of {} MiB of VRAM in physical mode, and {why}: lending from that window only\n",
            bar1_len >> 20,
            bar1_len >> 20,
            vram >> 20
        );
        Ok((
            Bar1Mode::Window,
            usable_ranges(low, top.min(bar1_len), locked)?,
            None,
        ))
    };
    if chipset.architecture() == Architecture::Pascal {
        return window(
            "BAR1 virtual mode is not used on Pascal (Host reads USERD through physical BAR1)",
        );
    }
    let tables_at = (top - bar1::table_bytes(bar1_len)) / bar1::TABLES_ALIGN * bar1::TABLES_ALIGN;
    if bar1::slots(bar1_len) == 0 || locked.iter().any(|l| l.start < top && tables_at < l.end) {
        return window("no room for BAR1's page tables below the VBIOS's VRAM");
    }
    let mut tables = bar1::Tables::new(chipset, tables_at, bar1_len)?;
    let bound = tables
        .build(bar0, bar1_len)
        .and_then(|()| tables.bind(pdev, bar0));
    if let Err(e) = bound {
        let _ = physical_bar1(pdev, hal::of(chipset), bar0);
        return window(if e == EIO {
            "BAR1's page tables did not read back through PRAMIN"
        } else {
            "BAR1 virtual mode did not bind"
        });
    }
    dev_info!(
        pdev,
        "BAR1 ({} MiB) is smaller than VRAM ({} MiB): virtual mode, page tables at VRAM {:#x}, {} slots of 2 MiB pointed at VRAM on demand\n",
        bar1_len >> 20,
        vram >> 20,
        tables_at,
        tables.slot_count()
    );
    Ok((
        Bar1Mode::Virtual {
            slots: tables.slot_count(),
        },
        usable_ranges(low, tables_at, locked)?,
        Some(tables),
    ))
}

/// The VRAM that may be lent: `[low, top)` without the `locked` ranges.
fn usable_ranges(low: u64, top: u64, locked: &[Range<u64>]) -> Result<KVec<Range<u64>>> {
    let mut usable = KVec::new();
    usable.push(low..top, GFP_KERNEL)?;
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
        let usable = usable_ranges(RESERVED_LOW, 256 * MIB, &[])?;
        assert!(usable[..] == [RESERVED_LOW..256 * MIB][..]);
        let usable = usable_ranges(RESERVED_LOW, 511 * MIB, &[])?;
        assert!(usable[..] == [RESERVED_LOW..511 * MIB][..]);
        Ok(())
    }

    #[test]
    fn usable_ranges_cut_out_locked_regions() -> Result {
        // One region inside, one across the end, one wholly outside.
        let locked = [
            100 * MIB..110 * MIB,
            250 * MIB..300 * MIB,
            400 * MIB..410 * MIB,
        ];
        let usable = usable_ranges(RESERVED_LOW, 256 * MIB, &locked)?;
        assert!(usable[..] == [RESERVED_LOW..100 * MIB, 110 * MIB..250 * MIB][..]);
        // A region over the low reserve and one that covers everything.
        let usable = usable_ranges(RESERVED_LOW, 256 * MIB, &[0..MIB])?;
        assert!(usable[..] == [MIB..256 * MIB][..]);
        let usable = usable_ranges(RESERVED_LOW, 256 * MIB, &[0..1 << 40])?;
        assert_eq!(usable.len(), 0);
        Ok(())
    }
}
