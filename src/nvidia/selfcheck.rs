// SPDX-License-Identifier: GPL-2.0

//! Probe-time checks that run on the board itself, to catch what a misreading shared by the
//! driver and its model would hide: that BAR1 reaches VRAM one to one (through the PRAMIN window,
//! which always reaches VRAM by its physical address) and that the copy engine copies and fills
//! exactly where it is told.

use super::{
    bar1::{
        Tables,
        SLOT_BYTES, //
    },
    channel::Channel,
    regs,
    Bar0,
    Run,
    Target, //
};
use crate::bus::{
    BarWindow,
    WcBar, //
};
use core::ops::Range;
use kernel::{
    device::Bound,
    io::Io,
    pci,
    prelude::*, //
};

const PAGE: u64 = 4096;
/// `NV_PRAMIN`: BAR0's 1 MiB window onto VRAM at `NV_PBUS_BAR0_WINDOW`.
const PRAMIN: usize = 0x70_0000;
/// Words checked per page: one every 256 bytes, so that a translation off by any part of a page
/// shows.
const WORDS: usize = 16;
const STRIDE: usize = PAGE as usize / WORDS;

/// The VRAM pages the BAR1 identity check looks at: the first, middle and last lendable pages,
/// and the page half the reported VRAM above the first (where a board with half the VRAM it
/// reports would wrap onto the first page), when lendable. Ascending, without duplicates.
fn identity_pages(usable: &[Range<u64>], vram: u64) -> KVec<u64> {
    let lendable = |p: u64| usable.iter().any(|r| r.start <= p && p + PAGE <= r.end);
    let mut pages = KVec::new();
    let (Some(first), Some(last)) = (usable.first(), usable.last()) else {
        return pages;
    };
    let first = first.start.next_multiple_of(PAGE);
    let last = (last.end / PAGE).saturating_sub(1) * PAGE;
    let middle = (first + (last - first.min(last)) / 2) / PAGE * PAGE;
    let half = first + vram / 2 / PAGE * PAGE;
    for p in [first, middle, half, last] {
        if !lendable(p) || pages.contains(&p) {
            continue;
        }
        if pages.push(p, GFP_KERNEL).is_err() {
            break;
        }
        // Kept ascending by moving the new page down (not `sort_unstable`: with rustc 1.85 its
        // code trips objtool, "falls through to next function").
        let mut i = pages.len() - 1;
        while i > 0 && pages[i - 1] > pages[i] {
            pages.swap(i - 1, i);
            i -= 1;
        }
    }
    pages
}

/// A word of the pattern for `page`, word `i`, pass `pass`: distinct per page, word and pass.
fn pattern(page: u64, i: usize, pass: u32) -> u32 {
    // CAST: Page numbers below 2^32 cover 16 TiB; the XOR mixes in the rest.
    (0x5053_0000 ^ (pass << 28)) ^ ((page >> 12) as u32).rotate_left(8) ^ (i as u32)
}

/// Points the PRAMIN window at the 64 KiB block holding `addr` and gives the BAR0 offset of
/// `addr` in it.
fn pramin(bar0: &Bar0<'_>, addr: u64) -> Result<usize> {
    let base = u32::try_from(addr >> 16).map_err(|_| EINVAL)?;
    bar0.write_reg(regs::NV_PBUS_BAR0_WINDOW::zeroed().try_with_base(base)?);
    // CAST: Below 64 KiB.
    Ok(PRAMIN + (addr & 0xffff) as usize)
}

/// What went wrong at one page, for the refusal line.
struct Mismatch {
    page: u64,
    word: usize,
    wrote: u32,
    read: u32,
    how: &'static str,
}

impl kernel::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "VRAM {:#x} word {} {} reads {:#010x}, expected {:#010x}",
            self.page + (self.word * STRIDE) as u64,
            self.word,
            self.how,
            self.read,
            self.wrote
        )
    }
}

/// Writes patterns at the VRAM `pages` through PRAMIN and reads them through BAR1 at the offset
/// paired with each (and PRAMIN again: a lying VRAM size shows as one page overwriting another),
/// then writes through BAR1 and reads through PRAMIN; zeroes the pages after. `Ok(None)` when
/// every word agrees.
fn compare(
    pdev: &pci::Device<Bound>,
    bar0: &Bar0<'_>,
    pages: &[u64],
    offsets: &[u64],
) -> Result<Option<Mismatch>> {
    let mut windows = KVec::new();
    for &o in offsets.iter().take(pages.len()) {
        windows.push(BarWindow::new(pdev, 1, o, PAGE as usize)?, GFP_KERNEL)?;
    }
    if windows.len() != pages.len() {
        return Err(EINVAL);
    }
    let saved = bar0.read(regs::NV_PBUS_BAR0_WINDOW);
    let mut found = None;
    // Pass 1: PRAMIN -> BAR1 (and PRAMIN).
    for &p in pages {
        let at = pramin(bar0, p)?;
        for i in 0..WORDS {
            bar0.try_write32(pattern(p, i, 1), at + i * STRIDE)?;
        }
    }
    'one: for (&p, w) in pages.iter().zip(windows.iter()) {
        let at = pramin(bar0, p)?;
        for i in 0..WORDS {
            let wrote = pattern(p, i, 1);
            let through_bar1 = w.read32(i * STRIDE).ok_or(EINVAL)?;
            let through_pramin = bar0.try_read32(at + i * STRIDE)?;
            let (read, how) = if through_pramin != wrote {
                (through_pramin, "written and read back through PRAMIN (another page aliases it, or it drops writes)")
            } else if through_bar1 != wrote {
                (through_bar1, "written through PRAMIN, read through BAR1")
            } else {
                continue;
            };
            found = Some(Mismatch {
                page: p,
                word: i,
                wrote,
                read,
                how,
            });
            break 'one;
        }
    }
    // Pass 2: BAR1 -> PRAMIN.
    if found.is_none() {
        for (&p, w) in pages.iter().zip(windows.iter()) {
            for i in 0..WORDS {
                w.write32(i * STRIDE, pattern(p, i, 2)).ok_or(EINVAL)?;
            }
        }
        'two: for &p in pages {
            let at = pramin(bar0, p)?;
            for i in 0..WORDS {
                let wrote = pattern(p, i, 2);
                let read = bar0.try_read32(at + i * STRIDE)?;
                if read != wrote {
                    found = Some(Mismatch {
                        page: p,
                        word: i,
                        wrote,
                        read,
                        how: "written through BAR1, read through PRAMIN",
                    });
                    break 'two;
                }
            }
        }
    }
    for w in windows.iter() {
        for i in 0..WORDS {
            w.write32(i * STRIDE, 0).ok_or(EINVAL)?;
        }
    }
    bar0.write_reg(saved);
    Ok(found)
}

/// The BAR1 identity check: `Err(ENODEV)` with one line when BAR1 offset N is not VRAM address N
/// at the pages [`identity_pages`] picks (a BAR1 left virtual, a VRAM size that lies, aliasing,
/// a locked region that drops writes): lending such a board would lose data.
pub(super) fn bar1_identity(
    pdev: &pci::Device<Bound>,
    bar0: &Bar0<'_>,
    usable: &[Range<u64>],
    vram: u64,
) -> Result {
    let pages = identity_pages(usable, vram);
    match compare(pdev, bar0, &pages, &pages) {
        Ok(None) => {
            dev_info!(
                pdev,
                "self-check: BAR1 reaches VRAM one to one at {} pages ({:#x}-{:#x}), through PRAMIN and BAR1 both ways\n",
                pages.len(),
                pages.first().copied().unwrap_or(0),
                pages.last().copied().unwrap_or(0)
            );
            Ok(())
        }
        Ok(Some(m)) => {
            dev_err!(
                pdev,
                "self-check: BAR1 does not reach VRAM one to one: {m}; refusing to lend this board\n"
            );
            Err(ENODEV)
        }
        Err(e) => {
            dev_err!(
                pdev,
                "self-check: cannot compare BAR1 with PRAMIN ({e:?}); refusing to lend this board\n"
            );
            Err(ENODEV)
        }
    }
}

/// The BAR1 window check (virtual mode): BAR1 must show exactly the VRAM the driver pointed its
/// slots at. The pages [`identity_pages`] picks (beyond the window too) are put in slots `0..n`
/// and compared through PRAMIN and BAR1 both ways; then each slot is pointed at the next (or
/// previous) chunk and the page at the same offset in it is compared through the same BAR1
/// addresses: a slot that still showed the chunk it held before (a translation not invalidated),
/// a page-table entry pointing elsewhere or a bind that did not take fails it. `Err(ENODEV)` with
/// one line on a mismatch.
pub(super) fn bar1_window(
    pdev: &pci::Device<Bound>,
    bar0: &Bar0<'_>,
    tables: &mut Tables,
    usable: &[Range<u64>],
    vram: u64,
) -> Result {
    let lendable = |p: u64| usable.iter().any(|r| r.start <= p && p + PAGE <= r.end);
    let first = identity_pages(usable, vram);
    let mut moved = KVec::new();
    for &p in first.iter() {
        let next = p + SLOT_BYTES;
        let other = match p.checked_sub(SLOT_BYTES) {
            _ if lendable(next) => next,
            Some(prev) if lendable(prev) => prev,
            _ => p,
        };
        moved.push(other, GFP_KERNEL)?;
    }
    let n = first.len().min(tables.slot_count());
    let mut found = None;
    for (round, pages) in [&first[..n], &moved[..n]].into_iter().enumerate() {
        let mut offsets = KVec::new();
        for (slot, &p) in pages.iter().enumerate() {
            // CAST: Below 2^32 chunks for any VRAM below 8 PiB.
            let chunk = (p / SLOT_BYTES) as u32;
            tables.map(bar0, slot, chunk).inspect_err(|e| {
                dev_err!(
                    pdev,
                    "self-check: cannot point BAR1 slot {slot} at VRAM {:#x} ({e:?}); BAR1 virtual mode not used\n",
                    p
                )
            })?;
            offsets.push(slot as u64 * SLOT_BYTES + p % SLOT_BYTES, GFP_KERNEL)?;
        }
        match compare(pdev, bar0, pages, &offsets) {
            Ok(None) => {}
            Ok(Some(m)) => {
                found = Some((round, m));
                break;
            }
            Err(e) => {
                dev_err!(
                    pdev,
                    "self-check: cannot compare BAR1 with PRAMIN ({e:?}); BAR1 virtual mode not used\n"
                );
                return Err(ENODEV);
            }
        }
    }
    match found {
        None => {
            dev_info!(
                pdev,
                "self-check: BAR1's window shows the VRAM its page tables map at {n} pages ({:#x}-{:#x}) in slots 0-{}, through PRAMIN and BAR1 both ways, and again with each slot pointed at a neighbouring chunk\n",
                first.first().copied().unwrap_or(0),
                first.last().copied().unwrap_or(0),
                n.saturating_sub(1)
            );
            Ok(())
        }
        Some((round, m)) => {
            let when = if round == 0 { "" } else { " after a remap" };
            dev_err!(
                pdev,
                "self-check: BAR1's window does not show the VRAM it maps{when}: {m}; BAR1 virtual mode not used\n"
            );
            Err(ENODEV)
        }
    }
}

/// Pages of VRAM the copy-engine test uses at the start of the pool: a guard, the target, a
/// guard.
pub(crate) const ENGINE_TEST_VRAM_PAGES: u64 = 3;

/// Why the copy-engine test failed.
pub(crate) enum EngineTestFailure {
    /// The engine itself reported a failure (timeout, channel fault, bad semaphore payload).
    Engine(super::Failure),
    /// The engine said it was done but memory does not hold what it should.
    Data {
        step: &'static str,
        at: &'static str,
        offset: usize,
        read: u8,
        expected: u8,
    },
    /// BAR1 could not be reached.
    Bar,
}

impl kernel::fmt::Display for EngineTestFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Engine(e) => kernel::fmt::Display::fmt(e, f),
            Self::Data {
                step,
                at,
                offset,
                read,
                expected,
            } => write!(
                f,
                "{step}: {at} byte {offset:#x} reads {read:#04x}, expected {expected:#04x}"
            ),
            Self::Bar => f.write_str("BAR1 unreachable"),
        }
    }
}

/// Byte `i` of the known pattern with `seed`.
fn byte(seed: u8, i: usize) -> u8 {
    // CAST: The low byte of the index, mixed with the seed.
    (i as u8).wrapping_mul(131).wrapping_add(seed) ^ ((i >> 8) as u8)
}

const GUARD_RAM: u8 = 0x6b;
const GUARD_VRAM: u8 = 0xc5;
const JUNK: u8 = 0x3c;

/// The known-pattern copy-engine test, run once before the engine is trusted with data: one page
/// RAM -> VRAM (checked through BAR1), VRAM -> RAM (compared), a fill (checked), each with guard
/// pages on both sides that must stay as they were, and the semaphore payload checked by each
/// batch. `vram` is the first of [`ENGINE_TEST_VRAM_PAGES`] free lendable pages, which BAR1
/// shows from offset `bar1_offset` (`vram` itself in physical mode).
pub(crate) fn copy_engine(
    channel: &mut Channel,
    bar1: &WcBar,
    vram: u64,
    bar1_offset: u64,
) -> Result<(), EngineTestFailure> {
    let len = PAGE as usize;
    let vram_ptr = bar1
        .offset_ptr(bar1_offset, ENGINE_TEST_VRAM_PAGES * PAGE)
        .map_err(|_| EngineTestFailure::Bar)?;
    let vram_byte = |page: usize, i: usize| {
        // SAFETY: `vram_ptr` maps the three test pages of BAR1 (from `WcBar::offset_ptr`).
        unsafe { kernel::bindings::readb(vram_ptr.wrapping_add(page * len + i).cast()) }
    };
    let vram_fill = |page: usize, value: u8| {
        // SAFETY: As above; the pages are free lendable VRAM nothing else uses yet.
        unsafe {
            kernel::bindings::memset_io(
                vram_ptr.wrapping_add(page * len).cast(),
                value.into(),
                len,
            );
            crate::shim::ps_wmb();
        }
    };
    let check_vram =
        |step: &'static str, page: usize, expect: &dyn Fn(usize) -> u8, at: &'static str| {
            for i in 0..len {
                let read = vram_byte(page, i);
                if read != expect(i) {
                    return Err(EngineTestFailure::Data {
                        step,
                        at,
                        offset: i,
                        read,
                        expected: expect(i),
                    });
                }
            }
            Ok(())
        };
    // RAM layout (the channel's test pages): guard, source, guard, destination, guard.
    channel.fill_test_page(0, |_| GUARD_RAM);
    channel.fill_test_page(1, |i| byte(0x11, i));
    channel.fill_test_page(2, |_| GUARD_RAM);
    channel.fill_test_page(3, |_| JUNK);
    channel.fill_test_page(4, |_| GUARD_RAM);
    vram_fill(0, GUARD_VRAM);
    vram_fill(1, JUNK);
    vram_fill(2, GUARD_VRAM);

    let to_vram = Run {
        src: channel.test_page_bus(1),
        dst: vram + PAGE,
        pages: 1,
    };
    channel
        .test_copy(to_vram, Target::CoherentSysmem, Target::LocalFb)
        .map_err(EngineTestFailure::Engine)?;
    let step = "RAM to VRAM";
    check_vram(step, 1, &|i| byte(0x11, i), "VRAM target")?;
    check_vram(step, 0, &|_| GUARD_VRAM, "VRAM guard before")?;
    check_vram(step, 2, &|_| GUARD_VRAM, "VRAM guard after")?;

    let to_ram = Run {
        src: vram + PAGE,
        dst: channel.test_page_bus(3),
        pages: 1,
    };
    channel
        .test_copy(to_ram, Target::LocalFb, Target::CoherentSysmem)
        .map_err(EngineTestFailure::Engine)?;
    let step = "VRAM to RAM";
    for (page, at, expect) in [
        (2, "RAM guard before", None),
        (3, "RAM target", Some(0x11)),
        (4, "RAM guard after", None),
    ] {
        if let Some((offset, read)) = channel.test_page_mismatch(page, |i| match expect {
            Some(seed) => byte(seed, i),
            None => GUARD_RAM,
        }) {
            return Err(EngineTestFailure::Data {
                step,
                at,
                offset,
                read,
                expected: expect.map_or(GUARD_RAM, |seed| byte(seed, offset)),
            });
        }
    }

    channel
        .test_clear(vram + PAGE, 1)
        .map_err(EngineTestFailure::Engine)?;
    let step = "fill";
    check_vram(step, 1, &|_| 0, "VRAM target")?;
    check_vram(step, 0, &|_| GUARD_VRAM, "VRAM guard before")?;
    check_vram(step, 2, &|_| GUARD_VRAM, "VRAM guard after")?;
    vram_fill(0, 0);
    vram_fill(2, 0);
    Ok(())
}
