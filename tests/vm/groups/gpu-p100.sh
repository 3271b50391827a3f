# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-p100 (guest cases: tests/guest/groups/gpu-p100.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_probe_p100() {
	no_rejected_access 0
	gpu_log_has 0 'NV_PTOP_SCAL_NUM_FBPAS' "FBPA count read"
	gpu_log_has 0 'NV_PFB_FBPA_CSTATUS_RAMAMOUNT' "per-FBPA size read"
	gpu_log_has 0 'POST scratch' "POST status read"
}

host_migrate_p100() {
	no_rejected_access 0
	copy_engine_used 0
	gpu_log_lacks 0 'NV_PBUS_BAR2_BLOCK' "BAR2 on Pascal, whose copy engine needs no method buffer"
	gpu_log_has 0 '^W4 0x00002254 = 0x00000000 NV_PFIFO_BAR1_BASE' "USERD window invalidated at teardown"
}

host_park_in_p100_vram() {
	vram_holds 0 19 16384
	vram_untouched 0 0 $((256 << 10))
	# Host treats a write anywhere in the USERD snoop window as some channel's GP_PUT: no pool
	# page may lie there (past the 512 bytes of channel 0).
	vram_untouched 0 $(((256 << 10) + 512)) $(((256 << 10) + (2 << 20)))
}
