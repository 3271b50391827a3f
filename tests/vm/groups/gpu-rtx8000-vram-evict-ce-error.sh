# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-rtx8000-vram-evict-ce-error (guest cases:
# tests/guest/groups/gpu-rtx8000-vram-evict-ce-error.sh), run by tests/vm/run-tests.sh with bash and
# tests/vm/host-lib.sh.

host_evict_over_1g_engine_fails_rtx8000() {
	no_rejected_access 0
	gpu_log_has 0 '^CE copy' "copies by the model's copy engine before the error"
	gpu_log_has 0 '^FAULT' "the injected channel error"
}
