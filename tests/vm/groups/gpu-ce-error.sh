# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-ce-error (guest cases: tests/guest/groups/gpu-ce-error.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_copy_engine_channel_error_p100() {
	no_rejected_access 0
	gpu_log_has 0 '^CE copy' "copies by the model's copy engine before the error"
	gpu_log_has 0 '^FAULT' "the injected channel error"
}
