# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-suspend (guest cases: tests/guest/groups/gpu-suspend.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_suspend_to_ram_v100() {
	host_woke 1
	gpu_resets 0 1
	no_rejected_access 0
}
