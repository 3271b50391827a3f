# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-ce-semaphore (guest cases: tests/guest/groups/gpu-ce-semaphore.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_copy_engine_bad_semaphore_rtx8000() {
	no_rejected_access 0
	gpu_log_has 0 '^CE copy' "copies by the model's copy engine before the corruption"
	gpu_log_has 0 '^FAULT' "the injected corruption"
}
