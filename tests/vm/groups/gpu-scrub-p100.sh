# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-scrub-p100 (guest cases: tests/guest/groups/gpu-scrub-p100.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_scrub_by_cpu_p100() {
	no_rejected_access 0
	gpu_log_lacks 0 '^CE ' "copy-engine work with enable_dma=0"
	vram_untouched 0 0 $((512 << 20))
}
