# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-rtx8000-rebar (guest cases: tests/guest/groups/gpu-rtx8000-rebar.sh),
# run by tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_probe_resized_bar1_rtx8000() {
	no_rejected_access 0
	gpu_log_lacks 0 '^W4 0x00b80f40 = 0x8' "BAR1 bound in virtual mode"
}
