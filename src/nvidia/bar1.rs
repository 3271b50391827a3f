// SPDX-License-Identifier: GPL-2.0

//! BAR1 in virtual mode, for boards whose BAR1 shows less than their VRAM (Quadro RTX: 256 MiB of
//! 48 GiB): BAR1 is bound to an instance block whose version-2 page tables the driver builds in
//! VRAM above the pool, and the CPU reaches any VRAM page through a slot of BAR1 that is pointed
//! at that page's 2 MiB chunk on demand, the way nouveau (`nvkm/subdev/bar/gf100.c`,
//! `mmu/vmmgp100.c`) and OpenRM run BAR1: page-table entries written through the PRAMIN window,
//! read back so they have landed, then every cached translation invalidated before the slot is
//! used (docs/hardware-fidelity.md).
//!
//! BAR1 offset N is GPU virtual address N: PD3, PD2 and PD1 entry 0 lead to one PD0 whose entry
//! `s` (a dual PDE, small-page half) points at slot `s`'s page table of 512 4 KiB entries.

use super::{
    fifo::{
        self,
        FifoHal, //
    },
    hal::{
        self,
        Bar1Block, //
    },
    ramin,
    regs,
    Bar0,
    Bar0Access,
    Chipset, //
};
use kernel::{
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    pci,
    prelude::*,
    sync::aref::ARef,
    time::Delta, //
};

/// Bytes one slot of BAR1 shows: one 2 MiB chunk of VRAM, as a huge device page.
pub(crate) const SLOT_BYTES: u64 = 2 << 20;
/// Slots used at most: 256 MiB of BAR1, so that the tables fit in one 1 MiB PRAMIN window.
const MAX_SLOTS: u64 = 128;
const PAGE: u64 = 4096;
/// Pages of the tables, in order: the instance block, PD3, PD2, PD1, PD0, then one page table
/// per slot.
const INSTANCE: u64 = 0;
const PD3: u64 = 1;
const PD2: u64 = 2;
const PD1: u64 = 3;
const PD0: u64 = 4;
const FIRST_PT: u64 = 5;
/// 4 KiB entries in one slot's page table.
const PTES: u64 = SLOT_BYTES / PAGE;
/// `NV_PRAMIN`: BAR0's 1 MiB window onto VRAM at `NV_PBUS_BAR0_WINDOW`.
const PRAMIN: usize = 0x70_0000;
/// Alignment of the tables: `NV_PBUS_BAR0_WINDOW`'s 64 KiB unit.
pub(crate) const TABLES_ALIGN: u64 = 64 << 10;

/// The slots a BAR1 of `bar1_len` bytes holds.
pub(crate) fn slots(bar1_len: u64) -> u64 {
    (bar1_len / SLOT_BYTES).min(MAX_SLOTS)
}

/// Bytes of VRAM the tables take for a BAR1 of `bar1_len` bytes.
pub(crate) fn table_bytes(bar1_len: u64) -> u64 {
    (FIRST_PT + slots(bar1_len)) * PAGE
}

/// A version-2 PDE (or a dual PDE's small half) pointing at the table at VRAM `addr`.
fn pde(addr: u64) -> u64 {
    ((addr >> 12) << ramin::ENTRY_ADDRESS_SHIFT) | ramin::PDE_VID
}

/// A version-2 PTE mapping the 4 KiB VRAM page at `addr`.
fn pte(addr: u64) -> u64 {
    ((addr >> 12) << ramin::ENTRY_ADDRESS_SHIFT) | ramin::PTE_VID
}

/// The slot for `chunk`: the one already showing it, else its home slot (`chunk` modulo the slot
/// count; direct-mapped, so a chunk's slot is known without a search). `(slot, hit)`.
fn slot_for(mapped: &[Option<u32>], chunk: u32) -> Option<(usize, bool)> {
    if mapped.is_empty() {
        return None;
    }
    let home = chunk as usize % mapped.len();
    if mapped[home] == Some(chunk) {
        return Some((home, true));
    }
    match mapped.iter().position(|&m| m == Some(chunk)) {
        Some(slot) => Some((slot, true)),
        None => Some((home, false)),
    }
}

/// The BAR1 page tables in VRAM and which chunk each slot shows.
pub(crate) struct Tables {
    /// VRAM address of the instance block; the rest follow it page by page.
    base: u64,
    /// The chunk each slot shows, if any.
    mapped: KVec<Option<u32>>,
    /// The block BAR1 is bound through.
    block: Bar1Block,
    /// The MMU invalidate (the same operations the channel's bring-up uses).
    fifo: &'static dyn FifoHal,
    /// Slots pointed at a new chunk since probe.
    remaps: u64,
    /// A remap failed even when tried again ([`Bar1Window::stop_remapping`]): the MMU is not
    /// trusted, and no slot is pointed elsewhere until the tables are built again.
    stopped: bool,
}

impl Tables {
    /// Tables at VRAM `base` ([`TABLES_ALIGN`]-aligned, [`table_bytes`] long, outside the pool)
    /// for a BAR1 of `bar1_len` bytes on `chipset`.
    pub(super) fn new(chipset: Chipset, base: u64, bar1_len: u64) -> Result<Self> {
        let count = slots(bar1_len) as usize;
        if count == 0 || base % TABLES_ALIGN != 0 {
            return Err(EINVAL);
        }
        let mut mapped = KVec::with_capacity(count, GFP_KERNEL)?;
        for _ in 0..count {
            mapped.push(None, GFP_KERNEL)?;
        }
        Ok(Self {
            base,
            mapped,
            block: hal::of(chipset).bar1_blocks()[0],
            fifo: fifo::of(chipset),
            remaps: 0,
            stopped: false,
        })
    }

    /// The slots of BAR1 in use.
    pub(crate) fn slot_count(&self) -> usize {
        self.mapped.len()
    }

    /// VRAM address of table page `page`.
    fn at(&self, page: u64) -> u64 {
        self.base + page * PAGE
    }

    /// Writes `words` (VRAM address, value) through PRAMIN and reads the last one back, so that
    /// every write has reached VRAM before the MMU may walk it.
    fn write(&self, io: &Bar0<'_>, words: &mut dyn Iterator<Item = (u64, u32)>) -> Result {
        let window = u32::try_from(self.base >> 16).map_err(|_| EINVAL)?;
        io.write_reg(regs::NV_PBUS_BAR0_WINDOW::zeroed().try_with_base(window)?);
        let mut last = None;
        for (addr, value) in words {
            // CAST: Inside the 1 MiB window (`MAX_SLOTS` keeps the tables below 1 MiB).
            let at = PRAMIN + (addr - self.base) as usize;
            io.try_write32(value, at)?;
            last = Some((at, value));
        }
        if let Some((at, value)) = last {
            if io.try_read32(at)? != value {
                return Err(EIO);
            }
        }
        Ok(())
    }

    /// Writes the instance block (zeroed, as nouveau allocates it, then the page directory and
    /// the VA limit) and the directories, every slot unmapped (PD0 entries invalid).
    pub(super) fn build(&mut self, bar0: &impl Bar0Access, bar1_len: u64) -> Result {
        let pdb = self.at(PD3);
        // CAST: The low and high words; the address is 4 KiB aligned.
        let pdb_lo = (pdb as u32 & !0xfff) | ramin::PAGE_DIR_BASE_VID_FLAGS;
        let pdb_hi = (pdb >> 32) as u32;
        let limit = bar1_len - 1;
        let inst = self.at(INSTANCE);
        let fields = [
            (ramin::PAGE_DIR_BASE_LO, pdb_lo),
            (ramin::PAGE_DIR_BASE_HI, pdb_hi),
            // CAST: Bits 31:12 of the last valid address (low bits read as ones), then 39:32.
            (ramin::ADR_LIMIT_LO, limit as u32 | 0xfff),
            (ramin::ADR_LIMIT_HI, (limit >> 32) as u32 & 0xff),
            // Subcontext 0 on the same directory, as nouveau's `gv100_vmm_join` (Volta and later
            // read it; Pascal ignores these words).
            (ramin::SC_PDB_VALID, 1),
            (ramin::SC_PAGE_DIR_BASE_LO, pdb_lo),
            (ramin::SC_PAGE_DIR_BASE_HI, pdb_hi),
        ];
        let instance = (0..PAGE as usize / 4).map(|w| {
            let offset = 4 * w;
            let value = fields
                .iter()
                .find(|(at, _)| *at == offset)
                .map_or(0, |(_, v)| *v);
            (inst + offset as u64, value)
        });
        let directories = Iterator::chain(
            [
                (self.at(PD3), pde(self.at(PD2))),
                (self.at(PD2), pde(self.at(PD1))),
                (self.at(PD1), pde(self.at(PD0))),
            ]
            .into_iter(),
            (0..self.mapped.len() as u64).flat_map(|s| {
                let entry = self.at(PD0) + 16 * s;
                [(entry, 0), (entry + 8, 0)]
            }),
        );
        let mut words = Iterator::chain(instance, directories.flat_map(words_of));
        bar0.with(|io| self.write(io, &mut words))??;
        for m in self.mapped.iter_mut() {
            *m = None;
        }
        self.stopped = false;
        Ok(())
    }

    /// Binds BAR1 to the instance block in virtual mode and waits for the bind.
    pub(super) fn bind(&self, pdev: &pci::Device, bar0: &impl Bar0Access) -> Result {
        let block = self.block;
        bar0.with(|io| block.bind_virtual(io, self.at(INSTANCE)))??;
        wait_bound(block, bar0).inspect_err(|_| {
            dev_err!(
                pdev.as_ref(),
                "BAR1 did not bind in virtual mode ({})\n",
                block.name()
            )
        })?;
        self.invalidate(bar0)
    }

    /// Drops every cached translation (nouveau's `gf100_vmm_invalidate`, `tu102_vmm_flush`).
    fn invalidate(&self, bar0: &impl Bar0Access) -> Result {
        let poll = |done: &dyn Fn(&Bar0<'_>) -> bool| {
            read_poll_timeout(
                || bar0.with(done),
                |&d| d,
                Delta::from_micros(10),
                Delta::from_millis(100),
            )
            .map(|_| ())
        };
        poll(&|io| self.fifo.tlb_invalidate_room(io))?;
        bar0.with(|io| self.fifo.invalidate_tlb(io))?;
        poll(&|io| self.fifo.tlb_invalidated(io))
    }

    /// Points slot `slot` at VRAM chunk `chunk`: its page table, then its PD0 entry, then an
    /// invalidate, so no access through the slot can see the chunk it showed before.
    pub(super) fn map(&mut self, bar0: &impl Bar0Access, slot: usize, chunk: u32) -> Result {
        if slot >= self.mapped.len() {
            return Err(EINVAL);
        }
        let pt = self.at(FIRST_PT + slot as u64);
        let first = u64::from(chunk) * SLOT_BYTES;
        let entry = self.at(PD0) + 16 * slot as u64;
        let mut words = Iterator::chain(
            (0..PTES).map(|i| (pt + 8 * i, pte(first + i * PAGE))),
            [(entry, 0), (entry + 8, pde(pt))],
        )
        .flat_map(words_of);
        // Marked unknown first: a failure below leaves the slot unusable rather than wrong.
        self.mapped[slot] = None;
        bar0.with(|io| self.write(io, &mut words))??;
        self.invalidate(bar0)?;
        self.mapped[slot] = Some(chunk);
        self.remaps += 1;
        Ok(())
    }

    /// The BAR1 offset that shows the `len` bytes of VRAM at `vram` (inside one chunk), mapping
    /// its chunk into a slot first if no slot shows it; `EIO` without trying when that would need
    /// a remap and remaps stopped.
    pub(super) fn offset(&mut self, bar0: &impl Bar0Access, vram: u64, len: u64) -> Result<u64> {
        let chunk = u32::try_from(vram / SLOT_BYTES).map_err(|_| EINVAL)?;
        let within = vram % SLOT_BYTES;
        if len == 0 || within + len > SLOT_BYTES {
            return Err(EINVAL);
        }
        let (slot, hit) = slot_for(&self.mapped, chunk).ok_or(EINVAL)?;
        if !hit {
            if self.stopped {
                return Err(EIO);
            }
            self.map(bar0, slot, chunk)?;
        }
        Ok(slot as u64 * SLOT_BYTES + within)
    }
}

/// Waits for a bind of `block` (BAR1 to virtual mode, or back to physical) to complete.
pub(super) fn wait_bound(block: Bar1Block, bar0: &impl Bar0Access) -> Result {
    read_poll_timeout(
        || bar0.with(|io| block.bound(io)),
        |&bound| bound,
        Delta::from_micros(10),
        Delta::from_millis(100),
    )
    .map(|_| ())
}

/// The two 32-bit words, low first, of the 64-bit entry `value` at VRAM `addr`.
fn words_of((addr, value): (u64, u64)) -> [(u64, u32); 2] {
    // CAST: The low and high words of a little-endian entry.
    [(addr, value as u32), (addr + 4, (value >> 32) as u32)]
}

/// BAR1 in virtual mode after probe: the tables and the BAR0 mapping that writes them. Put back
/// in physical mode on drop, as probe found a board without a driver.
pub(crate) struct Bar1Window {
    bar0: super::channel::Bar0Devres,
    pdev: ARef<pci::Device>,
    tables: Tables,
    bar1_len: u64,
}

impl Bar1Window {
    pub(super) fn new(
        pdev: &pci::Device,
        bar0: super::channel::Bar0Devres,
        tables: Tables,
        bar1_len: u64,
    ) -> Self {
        Self {
            bar0,
            pdev: pdev.into(),
            tables,
            bar1_len,
        }
    }

    /// The BAR1 offset showing `len` bytes of VRAM at `vram` (one chunk at most); the slot it
    /// gives stays pointed there until the next call.
    pub(crate) fn offset(&mut self, vram: u64, len: u64) -> Result<u64> {
        self.tables.offset(&self.bar0, vram, len)
    }

    /// The slots of BAR1 in use.
    pub(crate) fn slots(&self) -> usize {
        self.tables.slot_count()
    }

    /// Slots pointed at a new chunk since probe.
    pub(crate) fn remaps(&self) -> u64 {
        self.tables.remaps
    }

    /// No slot is pointed elsewhere any more, until [`Self::restore`]: a remap failed even when
    /// tried again. What the slots show stays reachable.
    pub(crate) fn stop_remapping(&mut self) {
        self.tables.stopped = true;
    }

    /// Whether remaps stopped ([`Self::stop_remapping`]).
    pub(crate) fn remaps_stopped(&self) -> bool {
        self.tables.stopped
    }

    /// After a reset or power loss (VRAM and BAR1's block lost, BAR1 put back in physical mode):
    /// the tables written again and BAR1 bound to them.
    pub(crate) fn restore(&mut self) -> Result {
        self.tables.build(&self.bar0, self.bar1_len)?;
        self.tables.bind(&self.pdev, &self.bar0)
    }
}

impl Drop for Bar1Window {
    fn drop(&mut self) {
        let block = self.tables.block;
        let _ = self.bar0.with(|io| block.make_physical(io));
    }
}

#[cfg(CONFIG_PSEUDOSCOPIC_KUNIT_TEST)]
#[kunit_tests(pseudoscopic_nvidia_bar1)]
mod tests {
    use super::*;

    #[test]
    fn entries_encode_video_memory() {
        // NV_MMU_VER2_PTE: VALID, APERTURE video memory (0), the address >> 12 from bit 8.
        assert_eq!(pte(0x8765_4000), (0x87654 << 8) | 1);
        assert_eq!(pte(0), 1);
        // A 47 GiB address: bits 35:12 survive.
        assert_eq!(pte(47 << 30) >> 8, (47 << 30) >> 12);
        // NV_MMU_VER2_PDE: APERTURE video memory (1 in bits 2:1), not valid-as-PTE (bit 0).
        assert_eq!(pde(0x7ff0_1000), (0x7ff01 << 8) | 2);
        assert_eq!(pde(0x7ff0_1000) & 1, 0);
    }

    #[test]
    fn slots_and_table_size_follow_bar1() {
        assert_eq!(slots(256 << 20), 128);
        // A larger BAR1 uses 256 MiB of it: the tables stay within one PRAMIN window.
        assert_eq!(slots(1 << 30), 128);
        assert_eq!(slots(64 << 20), 32);
        assert_eq!(slots(1 << 20), 0);
        assert_eq!(table_bytes(256 << 20), (5 + 128) * 4096);
        assert!(table_bytes(1 << 40) <= 1 << 20);
    }

    #[test]
    fn a_chunk_keeps_its_slot_and_a_miss_goes_home() {
        let mut mapped = [None; 4];
        // Nothing mapped: chunk 9 goes to slot 9 % 4.
        assert_eq!(slot_for(&mapped, 9), Some((1, false)));
        mapped[1] = Some(9);
        assert_eq!(slot_for(&mapped, 9), Some((1, true)));
        // A chunk with the same home evicts it.
        assert_eq!(slot_for(&mapped, 13), Some((1, false)));
        // A chunk shown by another slot (the self-check places chunks itself) is a hit there.
        mapped[3] = Some(13);
        assert_eq!(slot_for(&mapped, 13), Some((3, true)));
        assert_eq!(slot_for(&[], 1), None);
    }

    #[test]
    fn entries_are_written_low_word_first() {
        assert_eq!(
            words_of((0x1000, 0x1122_3344_5566_7788)),
            [(0x1000, 0x5566_7788), (0x1004, 0x1122_3344)]
        );
    }
}
