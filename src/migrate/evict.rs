// SPDX-License-Identifier: GPL-2.0

//! Eviction: every page of a GPU back to RAM, by page frame, when it goes away or pauses (unbind,
//! suspend, reset); a huge page that finds no 2 MiB of RAM comes back as single pages through a
//! process that maps it.

use super::{
    back::{
        bring_back,
        copy_to_ram,
        Back,
        Return, //
    },
    collect,
    entries,
    push,
    vma_can_migrate,
    window_at,
    Outcome,
    Plan,
    Planned,
    Unsettled,
    Window,
    WINDOW_BYTES,
    WINDOW_PAGES, //
};
use crate::{
    mm::{
        anon_pgoff,
        DeviceMigration,
        LockedMm,
        LockedPage,
        ProcessMms,
        Select,
        HUGE_PAGES, //
    },
    vram::Vram, //
};
use kernel::{
    page::PAGE_SIZE,
    prelude::*,
    time::{
        delay::fsleep,
        Delta, //
    },
};

/// Retries an allocation until it succeeds: unbinding cannot give up on memory.
fn until_allocated<T>(mut alloc: impl FnMut() -> Result<T>) -> T {
    loop {
        if let Ok(value) = alloc() {
            return value;
        }
        fsleep(Delta::from_millis(10));
    }
}

/// Rounds of eviction in which a huge page found no 2 MiB of free RAM before it moves as single
/// pages through a mapping of it ([`split_through_mappings`]); while some still wait, that is
/// tried again every [`SPLIT_RETRY_ROUNDS`] such rounds.
const SPLIT_AFTER_ROUNDS: u32 = 3;
const SPLIT_RETRY_ROUNDS: u32 = 1_000;

/// How an eviction ended: with every page in use back in RAM (but those whose contents were
/// lost before), or with some left in VRAM, which the caller marks lost.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evicted {
    All,
    /// The board stopped answering ([`evict_while`]).
    BoardSilent,
    /// The CPU could not reach some of the VRAM (BAR1's window could not be pointed at it) and
    /// the copy engine did not copy it: the pages it could reach came back.
    Unreachable,
}

impl Evicted {
    /// Why pages stayed, for the line that says they are lost; none when every page came back.
    pub(crate) fn cause(self) -> Option<&'static str> {
        match self {
            Self::All => None,
            Self::BoardSilent => Some("the board stopped answering"),
            Self::Unreachable => Some("BAR1's window could not reach some of its VRAM"),
        }
    }
}

/// Moves every page of `vram` that is in use back to RAM, unmapping it from whatever processes
/// map it; pages whose contents were lost stay. The pool must be closed. Returns how many pages
/// moved and whether all did.
pub(crate) fn evict_all(vram: &Vram) -> (u64, Evicted) {
    evict(vram, &|| true)
}

/// As [`evict_all`], for a board that may have stopped answering (PCI error recovery): after each
/// window's copy, and before the processes are switched to the copies, `answers` says whether
/// the board still answers; if it does not, that window's copies (which may be all-ones) are
/// thrown away and its pages stay where they were, and the eviction ends
/// ([`Evicted::BoardSilent`]).
pub(crate) fn evict_while(vram: &Vram, answers: &dyn Fn() -> bool) -> (u64, Evicted) {
    evict(vram, answers)
}

fn evict(vram: &Vram, answers: &dyn Fn() -> bool) -> (u64, Evicted) {
    let mut window = until_allocated(Window::new);
    let mut plan: KVec<Planned<'_, LockedPage>> =
        until_allocated(|| Ok(KVec::with_capacity(WINDOW_PAGES, GFP_KERNEL)?));
    let total = vram.total_pages();
    let span = vram.span_pages();
    // The linear page indices of the huge pages that found no 2 MiB of RAM in a round: at most
    // one per 2 MiB of the pagemap.
    let mut waiting: KVVec<usize> =
        until_allocated(|| Ok(KVVec::with_capacity(span / HUGE_PAGES + 1, GFP_KERNEL)?));
    let mut evicted = 0u64;
    let mut rounds = 0u32;
    let mut waiting_rounds = 0u32;
    while vram.free_pages() + vram.lost_pages() < total {
        if !answers() {
            return (evicted, Evicted::BoardSilent);
        }
        let mut moved_this_round = 0u64;
        let mut unreachable = false;
        waiting.clear();
        let mut ram_short = false;
        // Windows start on 2 MiB boundaries of the pagemap, so a huge folio is never cut; only
        // those with a page in use are walked, so a round costs what is parked, not the pool.
        let mut first = 0;
        while let Some(at) = vram.next_used_chunk(first) {
            first = at;
            let n = WINDOW_PAGES.min(span - first);
            let base = vram.first_pfn() + first;
            // SAFETY: The frames are pages of the live pagemap of `vram`.
            let mut mig = unsafe {
                DeviceMigration::collect(base, &mut window.src[..n], &mut window.dst[..n])
            };
            plan.clear();
            for (i, entry, pages) in entries(n, |i| mig.src(i)) {
                if !entry.migrates() || !mig.holds_data(i) || vram.is_lost(base + i) {
                    continue;
                }
                // A huge page can only move whole here: the kernel splits device pages only in a
                // VMA's migration, and eviction by page frame has none. Without 2 MiB of RAM now
                // it waits for the next round (and the others of this round do not try: each try
                // reclaims and compacts), then for `split_through_mappings`.
                let page = match entry.huge() {
                    true if ram_short => None,
                    true => LockedPage::huge_for_eviction(),
                    false => LockedPage::nofail(),
                };
                match page {
                    Some(page) => push(&mut plan, Planned::whole(i, page, vram, base + i, pages)),
                    None if entry.huge() => {
                        ram_short = true;
                        // Room for one per 2 MiB of the pagemap was reserved.
                        let full = mig
                            .linear_index(i)
                            .is_some_and(|index| waiting.push_within_capacity(index).is_err());
                        if full {
                            pr_err!("eviction: huge page list overflow\n");
                        }
                    }
                    // `nofail` broke its promise: the next round tries again.
                    None => {}
                }
            }
            // What could not be copied stays in VRAM; the round goes on with the others.
            unreachable |= copy_to_ram(&mut plan, None).any;
            if !plan.is_empty() && !answers() {
                // What was copied may be what a dead link reads (all-ones): the RAM pages go
                // and the processes keep the device pages (dropping `mig` restores them).
                plan.clear();
                drop(mig);
                evicted += moved_this_round;
                vram.stats.evicted(moved_this_round);
                return (evicted, Evicted::BoardSilent);
            }
            for p in plan.iter_mut() {
                if let Some(page) = p.dst.take() {
                    mig.set_dst(p.entry, page);
                }
            }
            let done = mig.commit();
            let moved: u64 = plan
                .iter()
                .filter(|p| done.moved(p.entry))
                .map(|p| p.pages as u64)
                .sum();
            drop(done);
            moved_this_round += moved;
            first += n;
        }
        evicted += moved_this_round;
        vram.stats.evicted(moved_this_round);
        if unreachable {
            // Another round would find the same VRAM out of reach.
            return (evicted, Evicted::Unreachable);
        }
        waiting_rounds = match waiting.is_empty() {
            true => 0,
            false => waiting_rounds + 1,
        };
        if waiting_rounds == SPLIT_AFTER_ROUNDS
            || (waiting_rounds > SPLIT_AFTER_ROUNDS && waiting_rounds % SPLIT_RETRY_ROUNDS == 0)
        {
            let moved = split_through_mappings(vram, &waiting, &mut window, waiting_rounds);
            evicted += moved;
            moved_this_round += moved;
        }
        if vram.free_pages() + vram.lost_pages() < total && moved_this_round == 0 {
            // Pages locked by a fault in progress, or no 2 MiB of RAM for a huge page yet.
            rounds += 1;
            // After about 1 s, then every 10 s: what is left, and why.
            if rounds % 10_000 == 1_000 {
                dev_warn!(
                    vram.pdev().as_ref(),
                    "{} VRAM pages are still in use after {} s of eviction ({evicted} moved back so far; {} huge pages wait for 2 MiB of free RAM); still trying\n",
                    total - vram.free_pages(),
                    rounds / 1_000,
                    waiting.len()
                );
            }
            fsleep(Delta::from_millis(1));
        }
    }
    (evicted, Evicted::All)
}

/// Brings back the huge pages of `vram` that wait for 2 MiB of free RAM (`waiting`: their linear
/// page indices) as single pages, through the processes that map them: a VMA's migration splits a
/// device folio, eviction's migration by page frame cannot, and modules have no reverse map. So
/// every process's VMAs are searched, as the reverse map would, for where a folio of such an index
/// is mapped, and those 2 MiB are brought back (anything of `vram` there, whoever it belongs to).
/// A huge page mapped by no process (its last one is exiting) is freed meanwhile or waits for the
/// next try. Returns how many pages moved.
fn split_through_mappings(vram: &Vram, waiting: &[usize], window: &mut Window, rounds: u32) -> u64 {
    let Ok(mut plan) = Plan::with_capacity(WINDOW_PAGES, GFP_KERNEL) else {
        return 0;
    };
    let mut out = Outcome::default();
    let mut split = 0u64;
    for mm in ProcessMms::new() {
        let locked = LockedMm::lock(&mm);
        let mut addr = 0;
        while let Some(vma) = locked.vma_from(addr) {
            addr = vma.end();
            let Some(pgoff) = anon_pgoff(vma) else {
                continue;
            };
            if !vma_can_migrate(vma.flags()) {
                continue;
            }
            let pages = (vma.end() - vma.start()) / PAGE_SIZE;
            for &index in waiting {
                let Some(offset) = index.checked_sub(pgoff).filter(|&k| k < pages) else {
                    continue;
                };
                // The huge page's first page is here; it spans two windows if `mremap` moved it
                // off a 2 MiB boundary.
                let end = vma
                    .end()
                    .min(vma.start() + offset * PAGE_SIZE + WINDOW_BYTES);
                let mut start = vma.start() + offset * PAGE_SIZE;
                while start < end {
                    let (stop, n, huge) = window_at(start, end);
                    plan.clear();
                    let mig = collect(vma, start, window, n, Select::Device, huge, &mut out);
                    if let Some(mig) = mig {
                        let back = Back {
                            mig,
                            vma,
                            start,
                            only: Some(vram.index),
                            why: Return::Eviction,
                        };
                        // Only a fault can fail.
                        split += bring_back(back, &mut out, &mut Unsettled::Count, &mut plan)
                            .unwrap_or(0);
                    }
                    start = stop;
                }
            }
        }
    }
    if split != 0 {
        dev_info!(
            vram.pdev().as_ref(),
            "eviction: {} huge pages found no 2 MiB of free RAM in {rounds} rounds; split {split} into single pages through the processes that map them ({} pages moved back)\n",
            waiting.len(),
            out.moved
        );
    }
    out.moved
}
