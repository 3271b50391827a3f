// SPDX-License-Identifier: GPL-2.0

//! `fragment`: leaves the machine's free RAM with no free 2 MiB block, for the test of eviction
//! when a huge page finds no 2 MiB of RAM (tests/guest/groups/evict-fragmented.sh). Needs root
//! (page frame numbers in /proc/self/pagemap) and `vm.compact_unevictable_allowed=0`. It keeps the
//! per-CPU free lists small while it runs, so that free pages are in the lists it reads.
//!
//! It locks single pages (never huge ones: `MADV_NOHUGEPAGE`) until no block of order 9 or more
//! is free in the zones above DMA, then lets go of all but one page in every 2 MiB of physical
//! memory it holds, and asks the kernel to compact. Compaction leaves the locked pages where they
//! are, but can empty a block that holds only other movable pages; so it fills, thins and
//! compacts again until compaction frees no block.

use crate::proc;
use pseudoscopic::mem::PAGE;
use rustix::mm::{self, Advice, MapFlags, ProtFlags};
use std::{collections::HashSet, fs::File, io, os::unix::fs::FileExt};

/// Order of a 2 MiB block of pages.
const HUGE_ORDER: usize = 9;
/// Pages locked at a time while filling.
const STEP_PAGES: usize = 64;
/// Fill, thin and compact at most this often. After the first pass compaction mostly frees one
/// block more each time (memory the rest of the system allocated and freed meanwhile); 2 to 8
/// passes were seen, and once more than 8 (CI, session 29). A pass takes a few seconds.
const MAX_PASSES: usize = 32;
/// Filling stops short of this much free RAM, in kB: the kernel needs some.
const FREE_FLOOR_KB: u64 = 1 << 10;

fn os_err(what: &str) -> impl FnOnce(rustix::io::Errno) -> String + '_ {
    move |e| format!("{what}: {}", io::Error::from(e))
}

/// Free blocks of order 9 or more in /proc/pagetypeinfo that user memory can be given: of the
/// types Unmovable, Movable and Reclaimable (not the reserves), in the zones above DMA.
fn free_huge_blocks(pagetypeinfo: &str) -> Result<u64, String> {
    let mut total = 0;
    let mut seen = false;
    for line in pagetypeinfo.lines() {
        // "Node    0, zone    DMA32, type      Movable      3      1 ...      0"
        let Some((zone, counts)) = line
            .strip_prefix("Node")
            .and_then(|rest| rest.split_once(", zone"))
            .and_then(|(_, rest)| rest.split_once(", type"))
        else {
            continue;
        };
        let mut words = counts.split_whitespace();
        let kind = words.next().unwrap_or("");
        if zone.trim() == "DMA" || !matches!(kind, "Unmovable" | "Movable" | "Reclaimable") {
            continue;
        }
        seen = true;
        for count in words.skip(HUGE_ORDER) {
            // Counts of 100000 or more print as ">100000".
            total += count
                .trim_start_matches('>')
                .parse::<u64>()
                .map_err(|_| format!("/proc/pagetypeinfo: bad count {count:?} in {line:?}"))?;
        }
    }
    match seen {
        true => Ok(total),
        false => Err("/proc/pagetypeinfo: no free counts above zone DMA".into()),
    }
}

fn read_free_huge_blocks() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/pagetypeinfo")
        .map_err(|e| format!("/proc/pagetypeinfo: {e}"))?;
    free_huge_blocks(&text)
}

/// Address space for `pages` pages, never backed by huge pages; unmapped piecewise by `thin`.
fn reserve(pages: usize) -> Result<usize, String> {
    let len = pages * PAGE;
    // SAFETY: A new private anonymous mapping; nothing else refers to it.
    let addr = unsafe {
        mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    }
    .map_err(os_err("mmap"))?;
    // SAFETY: The range is the mapping just made.
    unsafe { mm::madvise(addr, len, Advice::LinuxNoHugepage) }
        .map_err(os_err("madvise(MADV_NOHUGEPAGE)"))?;
    Ok(addr as usize)
}

fn unmap(addr: usize, pages: usize) -> Result<(), String> {
    if pages == 0 {
        return Ok(());
    }
    // SAFETY: The range is part of a mapping of ours that nothing points into.
    unsafe { mm::munmap(addr as *mut _, pages * PAGE) }.map_err(os_err("munmap"))
}

/// Locks pages of the `pages` reserved at `addr`, from the first, until no 2 MiB block is free;
/// returns how many it locked.
fn fill(addr: usize, pages: usize) -> Result<usize, String> {
    let mut locked = 0;
    while read_free_huge_blocks()? > 0 {
        let free_kb = proc::mem_free_kb()?;
        if locked == pages || free_kb < FREE_FLOOR_KB {
            return Err(format!(
                "free 2 MiB blocks remain with {free_kb} kB free after locking {} MiB",
                (locked * PAGE) >> 20
            ));
        }
        let n = STEP_PAGES.min(pages - locked);
        // SAFETY: The range is part of our mapping; locking faults its pages in.
        unsafe { mm::mlock((addr + locked * PAGE) as *mut _, n * PAGE) }
            .map_err(os_err("mlock"))?;
        locked += n;
    }
    Ok(locked)
}

/// Keeps one of the `locked` pages at `addr` in each 2 MiB block of physical memory that `held`
/// does not have yet, and unmaps the others, and the `reserved - locked` pages after them.
fn thin(
    pagemap: &File,
    addr: usize,
    locked: usize,
    reserved: usize,
    held: &mut HashSet<u64>,
) -> Result<(), String> {
    let mut entries = vec![0u8; locked * 8];
    pagemap
        .read_exact_at(&mut entries, (addr / PAGE * 8) as u64)
        .map_err(|e| format!("/proc/self/pagemap: {e}"))?;
    // The pages to unmap come in runs between the ones kept.
    let mut run = 0;
    for (i, entry) in entries.chunks_exact(8).enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(entry);
        let entry = u64::from_le_bytes(word);
        let pfn = entry & ((1 << 55) - 1);
        if entry >> 63 == 0 || pfn == 0 {
            return Err(format!(
                "no page frame for locked page {i} in /proc/self/pagemap (not root?)"
            ));
        }
        if held.insert(pfn >> HUGE_ORDER) {
            unmap(addr + (i - run) * PAGE, run)?;
            run = 0;
        } else {
            run += 1;
        }
    }
    unmap(addr + (locked - run) * PAGE, run + reserved - locked)
}

/// Fragments the free RAM (see the module's description), says so in one line ('fragmented: ...'),
/// waits for SIGUSR1, and lets everything go.
pub fn fragment() -> Result<(), String> {
    let _pcp = proc::SmallPcpLists::set()?;
    let pagemap =
        File::open("/proc/self/pagemap").map_err(|e| format!("/proc/self/pagemap: {e}"))?;
    let total_pages = (proc::mem_total_kb()? as usize * 1024) / PAGE;
    let mut held = HashSet::new();
    // Per pass: pages locked, and 2 MiB blocks free after compaction.
    let mut trace = Vec::new();
    loop {
        if trace.len() == MAX_PASSES {
            return Err(format!(
                "compaction still frees 2 MiB blocks after {MAX_PASSES} passes (locked, free blocks: {trace:?})"
            ));
        }
        let addr = reserve(total_pages)?;
        let locked = fill(addr, total_pages)?;
        thin(&pagemap, addr, locked, total_pages, &mut held)?;
        std::fs::write("/proc/sys/vm/compact_memory", "1")
            .map_err(|e| format!("/proc/sys/vm/compact_memory: {e}"))?;
        let free = read_free_huge_blocks()?;
        trace.push((locked, free));
        if free == 0 {
            break;
        }
    }
    let passes = trace.len();
    let sigs = proc::block_sigusr1()?;
    println!(
        "fragmented: {} MiB free, no free 2 MiB block, after {passes} passes; holding {} pages, one in each 2 MiB block (locked, free blocks: {trace:?})",
        proc::mem_free_kb()? >> 10,
        held.len()
    );
    proc::flush_stdout();
    sigs.wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGETYPEINFO: &str = "\
Page block order: 9
Pages per block:  512

Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 
Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 
Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      1      3 
Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 
Node    0, zone    DMA32, type    Unmovable     12      3      1      0      0      0      0      0      0      0      0 
Node    0, zone    DMA32, type      Movable >100000    940    412    200     90     40     20      9      4      2      5 
Node    0, zone    DMA32, type  Reclaimable      1      0      0      0      0      0      0      0      0      1      0 
Node    0, zone    DMA32, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      7 
Node    0, zone    DMA32, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 

Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate 
Node 0, zone      DMA            1            7            0            0            0 
Node 0, zone    DMA32           27          453           32            0            0 
";

    #[test]
    fn counts_free_huge_blocks_above_dma() {
        // DMA32's Movable 2 + 5 and Reclaimable 1; not DMA, not the HighAtomic reserve.
        assert_eq!(free_huge_blocks(PAGETYPEINFO), Ok(8));
    }

    #[test]
    fn no_free_huge_blocks() {
        let text = PAGETYPEINFO
            .replace("      2      5 \n", "      0      0 \n")
            .replace(
                "      0      1      0 \nNode    0, zone    DMA32, type   HighAtomic",
                "      0      0      0 \nNode    0, zone    DMA32, type   HighAtomic",
            );
        assert_eq!(free_huge_blocks(&text), Ok(0));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(free_huge_blocks("").is_err());
        assert!(free_huge_blocks(&PAGETYPEINFO.replace(" 5 \n", " x \n")).is_err());
    }
}
