# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-reset-rtx8000 (guest cases: tests/guest/groups/gpu-reset-rtx8000.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_function_reset_rtx8000_bar1_virtual() {
	gpu_resets 0 1
	no_rejected_access 0
	# After the reset (which left BAR1 virtual again), the driver wrote the Turing block.
	awk '/NV_PMC_BOOT_0/ {probed = 1} probed && /^RESET/ {reset = 1}
		reset && /^W4 0x00b80f40 = 0x00000000 NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK$/ {ok = 1}
		END {exit !ok}' "$(gpu_log 0)" ||
		fail "BAR1's 0xB80F40 block was not put back in physical mode after the last reset"
	gpu_log_has 0 '^END BAR1 physical' "BAR1 mode at the end"
}
