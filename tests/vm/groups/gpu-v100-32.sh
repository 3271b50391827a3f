# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-v100-32 (guest cases: tests/guest/groups/gpu-v100-32.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_probe_v100_32g() {
	no_rejected_access 0
}
