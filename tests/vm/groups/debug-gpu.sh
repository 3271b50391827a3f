# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group debug-gpu (guest cases: tests/guest/groups/debug-gpu.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_migrate_with_copy_engine_debug() {
	no_rejected_access 0
	gpu_log_has 0 '^CE copy' "copies by the model's copy engine"
}
