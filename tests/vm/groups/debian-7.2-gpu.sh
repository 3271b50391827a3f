# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group debian-7.2-gpu (guest cases: tests/guest/groups/debian-7.2-gpu.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_debian_v100_copy_engine() {
	no_rejected_access 0
	copy_engine_used 0
}
