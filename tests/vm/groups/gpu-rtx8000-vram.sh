# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-rtx8000-vram (guest cases: tests/guest/groups/gpu-rtx8000-vram.sh),
# run by tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_probe_virtual_bar1_rtx8000() {
	no_rejected_access 0
	gpu_log_has 0 '^W4 0x00b80f40 = 0x8[0-9a-f]{7} NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK' "BAR1 bound in virtual mode through Turing's block"
	gpu_log_has 0 'NV_VIRTUAL_FUNCTION_PRIV_MMU_INVALIDATE' "TLB invalidates after remaps"
}

# After every case the module was unloaded with scrub on: the VRAM beyond the 256 MiB BAR1 window
# that held the parked gigabyte reads zero (below BAR1's page tables at 0x7fe70000).
host_evict_over_1g_at_unbind_rtx8000() {
	no_rejected_access 0
	copy_engine_used 0
}

host_migrate_cpu_rtx8000_vram() {
	no_rejected_access 0
	vram_untouched 0 $((256 << 20)) $((0x7fe70000))
}
