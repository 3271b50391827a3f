# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-rtx8000-mmu-hang (guest cases:
# tests/guest/groups/gpu-rtx8000-mmu-hang.sh), run by tests/vm/run-tests.sh with bash and
# tests/vm/host-lib.sh.

host_mmu_hang_leaves_pages_where_they_are_rtx8000() {
	no_rejected_access 0
	gpu_log_has 0 '^MMU hung' "the hang the guest asked for"
	gpu_log_has 0 '^MMU invalidate: not done, the MMU is hung' "an invalidate the hung MMU left pending"
}
