# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-p40 (guest cases: tests/guest/groups/gpu-p40.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_probe_p40_clamps_bar1() {
	no_rejected_access 0
	# Pascal reports WPR through NV_PFB_PRI_MMU_WPR_INFO (nouveau gm200_acr_wpr_check); the
	# Turing registers do not exist here (no_rejected_access above).
	gpu_log_has 0 '^R4 0x00100cd4 = 0x[0-9a-f]+ NV_PFB_PRI_MMU_WPR_INFO' "WPR read"
	gpu_log_has 0 '^R4 0x00100cd0 = 0x[0-9a-f]+ NV_PFB_PRI_MMU_VPR_INFO' "VPR status read"
}

host_park_around_wpr2() {
	vram_holds 0 19 16384
	vram_untouched 0 $((32 << 20)) $((48 << 20))
	vram_untouched 0 0 $((256 << 10))
}
