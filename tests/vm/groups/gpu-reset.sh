# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-reset (guest cases: tests/guest/groups/gpu-reset.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_function_reset_v100() {
	gpu_resets 0 1
	no_rejected_access 0
}
