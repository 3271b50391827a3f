# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-refusals (guest cases: tests/guest/groups/gpu-refusals.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_virtual_bar1_recovered() {
	no_rejected_access 2
	gpu_log_has 2 '^W4 0x00001704 = 0x00000000 NV_PBUS_BAR1_BLOCK' "BAR1 put in physical mode"
	gpu_log_has 2 '^END BAR1 physical' "BAR1 mode at the end"
	no_rejected_access 3
	gpu_log_has 3 '^W4 0x00001704 = 0x00000000 NV_PBUS_BAR1_BLOCK' "BAR1 switch attempted on the stuck board"
}

host_unsupported_chip_refused() {
	no_rejected_access 0
}

host_not_posted_refused() {
	no_rejected_access 1
	gpu_log_lacks 1 'NV_PBUS_BAR1_BLOCK' "BAR1 touched on an un-POSTed board"
}

host_small_bar1_refused() {
	no_rejected_access 4
	gpu_log_lacks 4 'NV_PMC_BOOT_0' "registers read for a BAR1 too small to use"
}
