# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group debug-gpu-fault (guest cases: tests/guest/groups/debug-gpu-fault.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_copy_engine_error_debug() {
	no_rejected_access 0
	gpu_log_has 0 '^FAULT' "the injected channel error"
}
