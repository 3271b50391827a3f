# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 with 2 GiB of VRAM behind a 256 MiB BAR1 (no Resizable BAR): BAR1
# runs in virtual mode, the pool spans all usable VRAM, and a live process parks more than 1 GiB,
# faults it back and has it evicted at unbind, every byte verified, the copy engine carrying the
# bulk; the CPU reaches VRAM beyond the window through remapped slots; the scrub zeroes VRAM beyond
# the window (host part: the model's VRAM file). Probe and the migration scenarios on this board:
# gpu-rtx8000.
# vm: gpu rtx8000 2048 --board-vram-mib 2048 --bar1-emulated
# vm: memory 3G
# vm: timeout 2400

# Usable: [256 KiB, 2 GiB - 1 MiB - 576 KiB): below BAR1's page tables (5 + 128 pages, at a 64 KiB
# boundary) under the VBIOS's top MiB.
VRAM_PAGES=$((((2048 << 20) - (1 << 20) - (576 << 10) - (256 << 10)) / 4096))
# More than 1 GiB, in whole huge pages: the copy engine moves each in one launch.
HOLD_MIB=1100
HOLD_PAGES=$((HOLD_MIB << 8))

rtx_bdf() {
	local bdf
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	echo "$bdf"
}

case_park_over_1g_fault_back_rtx8000() {
	local bdf
	bdf=$(rtx_bdf)
	load_module
	hold_parked $HOLD_MIB
	# Most of it beyond the 256 MiB BAR1 shows: only virtual mode's pool could hold it.
	expect_eq "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/pool/free_pages")" $((VRAM_PAGES - HOLD_PAGES)) "free pages with $HOLD_MIB MiB parked"
	hold_verified $HOLD_MIB "faults"
	expect_eq "$(gpu_stat "$bdf" page_faults)" $((HOLD_MIB / 2)) "faults (one per huge page)"
	expect_eq "$(gpu_stat "$bdf" migrations_to_ram)" $HOLD_PAGES "pages faulted back"
	[ "$(gpu_stat "$bdf" dma_bytes)" -ge $((2 * HOLD_MIB << 20)) ] || fail "the copy engine did not carry the bulk"
	expect_eq "$(gpu_stat "$bdf" dma_fail)" 0 "copy-engine failures"
}

case_evict_over_1g_at_unbind_rtx8000() {
	local bdf
	bdf=$(rtx_bdf)
	dmesg_mark
	load_module
	hold_parked $HOLD_MIB
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	hold_verified $HOLD_MIB "unbind"
	expect_dmesg "$bdf: moved $HOLD_PAGES pages \($((HOLD_PAGES * 4)) KiB\) back to RAM" "eviction line"
	expect_dmesg "$bdf: zeroed [0-9]+ KiB of VRAM that held data, by the copy engine" "scrub line"
	expect_eq "$(stat_value evictions)" $HOLD_PAGES "pages evicted"
}

# The CPU beyond the window: huge pages go to the engine (migration_threshold=512) and fill the
# first 600 MiB, then the migration scenarios' small batches land beyond BAR1's 256 MiB and the CPU
# copies them through slots it remaps.
case_cpu_through_window_rtx8000() {
	local bdf s
	bdf=$(rtx_bdf)
	load_module migration_threshold=512
	hold_parked 600
	for s in migrate migrate_fault mixed to_ram fork; do
		scenario "$s"
	done
	hold_verified 600 "the CPU's copies beyond the window"
	[ "$(gpu_stat "$bdf" cpu_copy_bytes)" -gt 0 ] || fail "the CPU copied nothing"
	[ "$(gpu_stat "$bdf" bar1_remaps)" -gt 0 ] || fail "no slot of BAR1's window was remapped"
	expect_eq "$(gpu_stat "$bdf" dma_fail)" 0 "copy-engine failures"
}
