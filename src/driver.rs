// SPDX-License-Identifier: GPL-2.0

//! The PCI driver: which devices it binds, and probe in dependency order.

use crate::{
    bus::{
        BarInfo,
        BarKind,
        EnabledDevice, //
    },
    compat,
    hw::{
        self,
        Board, //
    },
    nvidia,
    params::Params,
    registry,
    sysfs::GpuDir,
    vram::Vram, //
};
use core::ops::Range;
use kernel::{
    device::{
        Bound,
        Core, //
    },
    dma::{
        Device as _,
        DmaMask, //
    },
    page::PAGE_SIZE,
    pci::{
        self,
        Vendor, //
    },
    prelude::*,
    sync::Arc, //
};

/// The smallest BAR worth lending: anything less is not VRAM.
pub(crate) const MIN_BAR_SIZE: u64 = 64 << 20;

pub(crate) struct PseudoscopicDriver;

/// The supported boards by NVIDIA PCI device ID: one list for both the PCI ID table (and so the
/// module aliases) and the board lookup in probe.
macro_rules! supported_boards {
    ($(($device:literal, $board:ident)),* $(,)?) => {
        // No per-ID data: `new_id` only accepts IDs whose driver data matches a table entry's,
        // and a zero entry is what it writes by default.
        compat::pci_id_table!(
            PCI_TABLE,
            [$(pci::DeviceId::from_id(Vendor::NVIDIA, $device)),*]
        );

        /// The supported board a PCI device is, if it is one.
        fn board_of(pdev: &pci::Device<Bound>) -> Option<&'static Board> {
            if pdev.vendor_id().as_raw() != Vendor::NVIDIA.as_raw() {
                return None;
            }
            match u32::from(pdev.device_id()) {
                $($device => Some(&hw::$board),)*
                _ => None,
            }
        }
    };
}

supported_boards![
    (0x15f7, TESLA_P100),
    (0x15f8, TESLA_P100),
    (0x15f9, TESLA_P100),
    (0x1b38, TESLA_P40),
    (0x1db1, TESLA_V100),
    (0x1db2, TESLA_V100),
    (0x1db3, TESLA_V100),
    (0x1db4, TESLA_V100),
    (0x1db5, TESLA_V100),
    (0x1db6, TESLA_V100),
    (0x1db7, TESLA_V100),
    (0x1db8, TESLA_V100),
    (0x1df5, TESLA_V100),
    (0x1df6, TESLA_V100),
    (0x1e30, QUADRO_RTX),
    (0x1e36, QUADRO_RTX),
    (0x1e78, QUADRO_RTX),
    (0x1eb0, QUADRO_RTX),
    (0x1eb1, QUADRO_RTX),
];

/// Everything pseudoscopic holds for one bound device, dropped in reverse dependency order.
#[pin_data(PinnedDrop)]
pub(crate) struct Gpu<'bound> {
    /// `<pci device>/pseudoscopic/`, made once the GPU is whole; dropped first (after unbind's
    /// shutdown), so no sysfs reader sees `vram` go.
    sysfs: Option<GpuDir>,
    pdev: &'bound pci::Device<Bound>,
    vram: Arc<Vram>,
    _enabled: EnabledDevice<'bound>,
}

impl pci::Driver for PseudoscopicDriver {
    type IdInfo = ();
    type Data<'bound> = Gpu<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: compat::ProbeInfo<'bound, Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        let is_nvidia = pdev.vendor_id().as_raw() == Vendor::NVIDIA.as_raw();
        let dma_mask = if is_nvidia {
            // SAFETY: Probe runs before any DMA allocation or mapping for this device.
            // The copy engine addresses 47 bits of system memory from Pascal on (as nouveau),
            // but the channel's own structures are named by 40-bit fields (instance block >> 12
            // in 28 bits, USERD_HI and GP_BASE_HI in 8 bits, the flush page's bits 39:8): the
            // coherent buffer must lie below 1 << 40.
            unsafe {
                pdev.dma_set_mask(DmaMask::new::<47>())
                    .and_then(|()| pdev.dma_set_coherent_mask(DmaMask::new::<40>()))
            }
        } else {
            Ok(())
        };
        let pdev: &'bound pci::Device<Bound> = pdev;
        pin_init::pin_init_scope(move || {
            let params = Params::load()?;
            // NVIDIA registers are only reachable with memory decoding on.
            let enabled = EnabledDevice::new(pdev).inspect_err(|e| {
                dev_err!(pdev, "cannot enable memory decoding: {e:?}\n");
            })?;
            let plan = if is_nvidia {
                let dma = match (params.enable_dma, dma_mask) {
                    (true, Ok(())) => Some(params.migration_threshold as usize),
                    (true, Err(e)) => {
                        dev_warn!(
                            pdev,
                            "cannot set 47-bit streaming and 40-bit coherent DMA masks ({e:?}); the CPU copies\n"
                        );
                        None
                    }
                    (false, _) => None,
                };
                Plan::nvidia(pdev, params.pool_size, dma)?
            } else {
                Plan::generic(pdev, &params)?
            };
            let bar = plan.bar;
            let mut plan = plan;
            let dma = plan.nvidia.as_mut().and_then(|layout| layout.dma.take());
            let window = plan
                .nvidia
                .as_mut()
                .and_then(|layout| layout.bar1_window.take());

            Ok(try_pin_init!(Gpu {
                sysfs: None,
                pdev,
                _enabled: enabled,
                vram: registry::add(|index| {
                    Vram::new(pdev, bar, &plan.usable, index, dma, window, params.scrub)
                })
                .inspect_err(|e| {
                    dev_err!(
                        pdev,
                        "cannot map BAR{} and register its VRAM: {e:?}\n",
                        bar.index
                    );
                })?,
            })
            .pin_chain(move |mut gpu| {
                // A failure here drops the whole GPU, unbind's steps included.
                let dir = GpuDir::new(&gpu.vram)?;
                *gpu.as_mut().project().sysfs = Some(dir);
                crate::power::hook_errors(gpu.pdev);
                match &plan.nvidia {
                    Some(layout) => log_nvidia_probe(gpu.pdev, layout, &gpu.vram),
                    None => log_probe(gpu.pdev, board_of(gpu.pdev), &gpu.vram),
                }
                Ok(())
            }))
        })
    }
}

/// Which BAR holds VRAM and which of its bytes to lend.
struct Plan {
    bar: BarInfo,
    /// BAR offsets to lend: ascending, disjoint.
    usable: KVec<Range<u64>>,
    /// What the NVIDIA registers said; `None` for a generic device.
    nvidia: Option<nvidia::Layout>,
}

impl Plan {
    /// A device bound through `new_id` that is not NVIDIA's: the chosen BAR is plain VRAM.
    fn generic(pdev: &pci::Device<Bound>, params: &Params) -> Result<Self> {
        let bar = select_bar(pdev, params.bar_index)?;
        let mut usable = KVec::new();
        usable.push(0..pool_bytes(&bar, params.pool_size), GFP_KERNEL)?;
        Ok(Self {
            bar,
            usable,
            nvidia: None,
        })
    }

    /// An NVIDIA board: VRAM is BAR1, sized and reserved by what the registers say.
    fn nvidia(
        pdev: &pci::Device<Bound>,
        pool_size: Option<u64>,
        dma: Option<usize>,
    ) -> Result<Self> {
        let bar = BarInfo::read(pdev, 1)?;
        if !bar.is_vram_like() {
            dev_err!(
                pdev,
                "BAR1 is {}, not the 64-bit prefetchable VRAM aperture of an NVIDIA GPU\n",
                bar.kind
            );
            return Err(ENODEV);
        }
        check_bar_size(pdev, &bar)?;
        let mut layout = nvidia::probe(pdev, bar.len, dma)?;
        // A PCIe Resizable BAR resize moved and grew it.
        let bar = BarInfo::read(pdev, 1)?;
        let usable = core::mem::take(&mut layout.usable);
        let usable = cap_ranges(usable, pool_size)?;
        Ok(Self {
            bar,
            usable,
            nvidia: Some(layout),
        })
    }
}

/// The first `limit` bytes (whole pages) of `ranges`, or all of them without a limit.
fn cap_ranges(ranges: KVec<Range<u64>>, limit: Option<u64>) -> Result<KVec<Range<u64>>> {
    let Some(mut left) = limit.map(|l| l / PAGE_SIZE as u64 * PAGE_SIZE as u64) else {
        return Ok(ranges);
    };
    let mut capped = KVec::new();
    for r in ranges {
        if left == 0 {
            break;
        }
        let len = (r.end - r.start).min(left);
        left -= len;
        capped.push(r.start..r.start + len, GFP_KERNEL)?;
    }
    Ok(capped)
}

#[pinned_drop]
impl PinnedDrop for Gpu<'_> {
    fn drop(self: Pin<&mut Self>) {
        registry::remove(&self.vram);
        self.vram.shutdown();
        dev_info!(
            self.pdev,
            "released GPU {} (BAR{}) and the device\n",
            self.vram.index,
            self.vram.bar().index
        );
    }
}

/// How much of `bar` to lend: all of it, or `pool_size` if smaller; whole pages.
fn pool_bytes(bar: &BarInfo, pool_size: Option<u64>) -> u64 {
    let bytes = pool_size.map_or(bar.len, |limit| limit.min(bar.len));
    bytes / PAGE_SIZE as u64 * PAGE_SIZE as u64
}

/// Picks the BAR that exposes VRAM: `requested`, after checking it can, or else the largest
/// 64-bit prefetchable memory BAR.
fn select_bar(pdev: &pci::Device<Bound>, requested: Option<u32>) -> Result<BarInfo> {
    let bar = match requested {
        Some(index) => {
            let bar = BarInfo::read(pdev, index)?;
            match bar.kind {
                BarKind::Absent => {
                    dev_err!(
                        pdev,
                        "BAR{index} (bar_index={index}) is not implemented by this device\n"
                    );
                    return Err(ENODEV);
                }
                BarKind::Io => {
                    dev_err!(
                        pdev,
                        "BAR{index} (bar_index={index}) is an I/O port BAR, not memory\n"
                    );
                    return Err(EINVAL);
                }
                BarKind::Memory { .. } => bar,
            }
        }
        None => {
            let bars = BarInfo::read_all(pdev)?;
            let Some(bar) = bars
                .iter()
                .filter(|b| b.is_vram_like())
                .max_by_key(|b| b.len)
            else {
                dev_err!(
                    pdev,
                    "no 64-bit prefetchable memory BAR; set bar_index to choose one\n"
                );
                return Err(ENODEV);
            };
            *bar
        }
    };
    check_bar_size(pdev, &bar)?;
    Ok(bar)
}

/// Refuses a BAR too small to be VRAM.
fn check_bar_size(pdev: &pci::Device<Bound>, bar: &BarInfo) -> Result {
    if bar.len < MIN_BAR_SIZE {
        dev_err!(
            pdev,
            "BAR{} is {} bytes, smaller than the {} MiB minimum\n",
            bar.index,
            bar.len,
            MIN_BAR_SIZE >> 20
        );
        return Err(ENOSPC);
    }
    Ok(())
}

/// The one line that says what probe found.
fn log_probe(pdev: &pci::Device<Bound>, board: Option<&Board>, vram: &Vram) {
    let bar = vram.bar();
    dev_info!(
        pdev,
        "{} [{:04x}:{:04x}]: BAR{} at {:#x}-{:#x} ({} MiB, {}), mapped write-combined; GPU {} lends {} MiB ({} pages) as device-private memory\n",
        BoardName(board),
        pdev.vendor_id().as_raw(),
        pdev.device_id(),
        bar.index,
        bar.start,
        bar.start + (bar.len - 1),
        bar.len >> 20,
        bar.kind,
        vram.index,
        (vram.total_pages() * PAGE_SIZE) >> 20,
        vram.total_pages()
    );
}

/// The probe line of an NVIDIA board: what the registers said, BAR1, the pool and the copy path.
fn log_nvidia_probe(pdev: &pci::Device<Bound>, layout: &nvidia::Layout, vram: &Vram) {
    let bar = vram.bar();
    let chipset = layout.chipset;
    let name = board_of(pdev).map_or("NVIDIA GPU", |b| b.name);
    if layout.bar1_recovered {
        dev_info!(pdev, "BAR1 is back in physical mode\n");
    }
    dev_info!(
        pdev,
        "{name} [{:04x}:{:04x}]: {} ({}) rev {:X}{:X}, {} MiB VRAM; BAR1 at {:#x}-{:#x} ({} MiB, {}), mapped write-combined; GPU {} lends {} MiB ({} pages) as device-private memory; {}\n",
        pdev.vendor_id().as_raw(),
        pdev.device_id(),
        chipset.name(),
        chipset.architecture().name(),
        layout.revision.0,
        layout.revision.1,
        layout.vram >> 20,
        bar.start,
        bar.start + (bar.len - 1),
        bar.len >> 20,
        layout.bar1_mode,
        vram.index,
        (vram.total_pages() * PAGE_SIZE) >> 20,
        vram.total_pages(),
        CopyPath {
            engine: vram.copy_engine().map(|(engine, class, _)| (engine, class)),
            threshold: vram.dma_threshold(),
            through: if vram.bar1_slots() != 0 {
                "'s window"
            } else {
                ""
            },
        }
    );
}

/// Who copies: the copy engine (and its class) for batches of `threshold` pages or more and the
/// CPU for the rest, or the CPU alone.
struct CopyPath {
    engine: Option<(nvidia::Engine, u32)>,
    threshold: usize,
    /// " (its window)" in virtual mode, else empty.
    through: &'static str,
}

impl kernel::fmt::Display for CopyPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let cpu = crate::copy::routine().name();
        match self.engine {
            Some((engine, class)) => write!(
                f,
                "copies by copy engine {engine} (class {class:#06x}) for batches of {}+ pages, by the CPU ({cpu}) through BAR1{} otherwise",
                self.threshold,
                self.through
            ),
            None => write!(f, "copies by the CPU ({cpu}) through BAR1{}", self.through),
        }
    }
}

/// A board's name and architecture, or what a device bound through `new_id` is.
struct BoardName<'a>(Option<&'a Board>);

impl kernel::fmt::Display for BoardName<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(b) => write!(f, "{} ({})", b.name, b.architecture),
            None => f.write_str("generic device"),
        }
    }
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_driver)]
// A list of one range is what these cases pass, not a mistaken `vec![x; n]`.
#[expect(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    const PAGE: u64 = PAGE_SIZE as u64;

    fn ranges(list: &[Range<u64>]) -> Result<KVec<Range<u64>>> {
        let mut v = KVec::new();
        for r in list {
            v.push(r.clone(), GFP_KERNEL)?;
        }
        Ok(v)
    }

    fn bar(len: u64) -> BarInfo {
        BarInfo {
            index: 1,
            kind: BarKind::Memory {
                is_64bit: true,
                prefetchable: true,
            },
            start: 0xe000_0000,
            len,
        }
    }

    #[test]
    fn no_limit_keeps_every_range() -> Result {
        let all = [PAGE..10 * PAGE, 20 * PAGE..30 * PAGE];
        let capped = cap_ranges(ranges(&all)?, None)?;
        assert!(capped[..] == all[..]);
        Ok(())
    }

    #[test]
    fn a_limit_takes_the_first_bytes_across_ranges() -> Result {
        let all = [PAGE..10 * PAGE, 20 * PAGE..30 * PAGE, 40 * PAGE..50 * PAGE];
        // 9 pages from the first range, 3 from the second, none from the third.
        let capped = cap_ranges(ranges(&all)?, Some(12 * PAGE))?;
        assert!(capped[..] == [PAGE..10 * PAGE, 20 * PAGE..23 * PAGE][..]);
        // A limit that is not whole pages is rounded down to whole pages.
        let capped = cap_ranges(ranges(&all)?, Some(12 * PAGE + PAGE - 1))?;
        assert!(capped[..] == [PAGE..10 * PAGE, 20 * PAGE..23 * PAGE][..]);
        // Exactly the first range.
        let capped = cap_ranges(ranges(&all)?, Some(9 * PAGE))?;
        assert!(capped[..] == [PAGE..10 * PAGE][..]);
        Ok(())
    }

    #[test]
    fn a_limit_beyond_the_ranges_or_below_a_page() -> Result {
        let all = [PAGE..10 * PAGE, 20 * PAGE..30 * PAGE];
        let capped = cap_ranges(ranges(&all)?, Some(1 << 40))?;
        assert!(capped[..] == all[..]);
        assert_eq!(cap_ranges(ranges(&all)?, Some(PAGE - 1))?.len(), 0);
        assert_eq!(cap_ranges(ranges(&all)?, Some(0))?.len(), 0);
        Ok(())
    }

    #[test]
    fn pool_bytes_is_the_smaller_in_whole_pages() {
        assert_eq!(pool_bytes(&bar(256 << 20), None), 256 << 20);
        assert_eq!(pool_bytes(&bar(256 << 20), Some(64 << 20)), 64 << 20);
        assert_eq!(pool_bytes(&bar(256 << 20), Some(1 << 40)), 256 << 20);
        assert_eq!(pool_bytes(&bar(256 << 20), Some(64 << 20 | 123)), 64 << 20);
        assert_eq!(pool_bytes(&bar(10 * PAGE + 5), None), 10 * PAGE);
    }
}
