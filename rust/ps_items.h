/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The sysfs items, listed once: the counters (stats/), the pool sizes (pool/) and a GPU's index.
 *
 * rust/ps_sysfs.c builds the sysfs files from these lists. scripts/gen-items.sh generates the
 * Rust side from them, src/stats/items.rs, which the module (src/stats.rs) and the tools
 * (tools/pseudoscopic/src/sysfs.rs) both use: `make items` rewrites it, `make check` fails when
 * it drifts (tests/host/items.sh). Each entry is X(file name, what it counts); the numbers of
 * enum ps_item follow the order of the lists.
 */
#ifndef PS_ITEMS_H
#define PS_ITEMS_H

/* Module-wide (summed over every GPU bound since load) and per GPU. */
#define PS_STAT_ITEMS(X)                                                                           \
	X(migrations_to_ram, "Pages moved from VRAM to RAM (CPU faults and requests; "             \
			     "not evictions).")                                                    \
	X(migrations_to_device, "Pages moved from RAM to VRAM.")                                   \
	X(page_faults, "CPU faults on pages in VRAM (`migrate_to_ram` calls).")                    \
	X(bytes_to_ram, "Bytes moved from VRAM to RAM, evictions included.")                       \
	X(bytes_to_device, "Bytes moved from RAM to VRAM.")                                        \
	X(alloc_fail, "Pages that could not move because the VRAM pool (or, towards RAM, memory) " \
		      "was exhausted.")                                                            \
	X(dma_fail, "Copy-engine transfers that failed (and were redone by the CPU).")             \
	X(evictions, "Pages moved back to RAM because their GPU was unbound.")                     \
	X(thp_to_device, "2 MiB huge pages moved to VRAM whole (their pages also count in "        \
			 "`migrations_to_device`).")                                               \
	X(thp_to_ram, "2 MiB huge pages moved back to RAM whole (their pages also count in "       \
		      "`migrations_to_ram`).")                                                     \
	X(thp_fallback, "2 MiB huge pages moved as single pages because no huge page was free "    \
			"on the other side.")                                                      \
	X(thp_splits, "Huge device pages the kernel split into single pages (partial unmap, "      \
		      "`mremap`, fallback).")                                                      \
	X(dma_bytes, "Bytes the GPU's copy engine copied between RAM and VRAM.")                   \
	X(cpu_copy_bytes, "Bytes the CPU copied between RAM and VRAM.")                            \
	X(early_refaults, "Pages faulted back within `early_refault_secs` of the last park "       \
			  "into their 2 MiB chunk.")                                               \
	X(lost_page_faults, "CPU faults answered with SIGBUS on pages whose contents were lost: "  \
			    "the board stopped answering before they could come back.")            \
	X(bar1_remaps, "Times a slot of BAR1's window was pointed at another 2 MiB chunk of "      \
		       "VRAM for the CPU (BAR1 virtual mode).")

/* Module-wide (summed over the GPUs bound now) and per GPU. */
#define PS_POOL_ITEMS(X)                                                                           \
	X(total_pages, "Pages the pool can lend.")                                                 \
	X(free_pages, "Pages of the pool not lent.")                                               \
	X(free_chunks, "Whole free 2 MiB chunks of the pool: room for huge pages.")

/* Per GPU only. */
#define PS_GPU_ITEMS(X)                                                                            \
	X(index, "The GPU's index in the ioctl ABI.")                                              \
	X(bar1_slots, "2 MiB slots of BAR1 through which the CPU reaches the VRAM lent, in BAR1 "  \
		      "virtual mode (BAR1 smaller than VRAM); 0 in physical mode, where BAR1 "     \
		      "shows all of it.")

#define PS_ITEM_ENUMERATOR(name, doc) PS_ITEM_##name,
/* What a sysfs file shows; read by Rust through ps_rust_stat(). */
enum ps_item {
	PS_STAT_ITEMS(PS_ITEM_ENUMERATOR)
	PS_POOL_ITEMS(PS_ITEM_ENUMERATOR)
	PS_GPU_ITEMS(PS_ITEM_ENUMERATOR)
};
#undef PS_ITEM_ENUMERATOR

#endif /* PS_ITEMS_H */
