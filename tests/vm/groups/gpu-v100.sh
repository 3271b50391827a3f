# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-v100 (guest cases: tests/guest/groups/gpu-v100.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_probe_v100() {
	no_rejected_access 0
	gpu_log_has 0 'NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE' "VRAM size read"
	gpu_log_lacks 0 'FBPA' "GP100's FBPA registers on a GV100"
}

host_migrate_v100() {
	no_rejected_access 0
	copy_engine_used 0
	method_buffer_used 0
}

host_park_in_v100_vram() {
	vram_holds 0 19 16384
}
