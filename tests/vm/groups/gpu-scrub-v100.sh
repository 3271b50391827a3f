# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-scrub-v100 (guest cases: tests/guest/groups/gpu-scrub-v100.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_scrub_by_copy_engine_v100() {
	no_rejected_access 0
	gpu_log_has 0 '^CE fill vidmem:' "fills by the model's copy engine"
	vram_untouched 0 0 $((512 << 20))
}
