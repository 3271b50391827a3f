# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-rtx8000 (guest cases: tests/guest/groups/gpu-rtx8000.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_probe_rtx8000() {
	no_rejected_access 0
	gpu_log_has 0 'NV_PMC_BOOT_42' "chip ID from NV_PMC_BOOT_42"
	gpu_log_has 0 'GFW boot progress' "Turing POST status read"
	gpu_log_has 0 '^W4 0x00b80f48 = 0xa[0-9a-f]{7} NV_VIRTUAL_FUNCTION_PRIV_BAR2_BLOCK' "BAR2 bound through Turing's own block"
	gpu_log_lacks 0 '^W4 0x00001714' "BAR2 bound through 0x1714, which does nothing on TU10x"
}

host_migrate_rtx8000() {
	no_rejected_access 0
	copy_engine_used 0
	method_buffer_used 0
	gpu_log_has 0 '^W4 0x00b80f40 = 0x8[0-9a-f]{7} NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK' "BAR1 bound in virtual mode through Turing's block"
	gpu_log_lacks 0 '^BAR1 FAULT' "a BAR1 access through no valid page-table entry"
}
