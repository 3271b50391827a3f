# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-aer (guest cases: tests/guest/groups/gpu-aer.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_nonfatal_error_v100() {
	# One reset per case: the root port's secondary bus reset reached the board both times.
	gpu_resets 0 2
	no_rejected_access 0
}
