# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-ce-hang (guest cases: tests/guest/groups/gpu-ce-hang.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_copy_engine_hang_v100() {
	no_rejected_access 0
	gpu_log_has 0 '^CE copy' "copies by the model's copy engine before the hang"
	gpu_log_has 0 '^FAULT' "the injected hang"
}
