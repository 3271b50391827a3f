# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-rtx8000-vram (guest cases: tests/guest/groups/gpu-rtx8000-vram.sh),
# run by tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_evict_over_1g_at_unbind_rtx8000() {
	no_rejected_access 0
	copy_engine_used 0
}

# The last case: after every case the module was unloaded with scrub on, so the VRAM beyond the
# 256 MiB BAR1 window that held the parked gigabytes reads zero (below BAR1's page tables).
host_cpu_through_window_rtx8000() {
	no_rejected_access 0
	gpu_log_lacks 0 '^BAR1 FAULT' "a BAR1 access through no valid page-table entry"
	gpu_log_has 0 'NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE' "TLB invalidates after remaps"
	vram_untouched 0 $((256 << 20)) $((0x7fe70000))
}
