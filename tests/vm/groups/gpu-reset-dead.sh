# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-reset-dead (guest cases: tests/guest/groups/gpu-reset-dead.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_board_dead_after_reset_is_unbound() {
	gpu_log_has 0 '^RESET the board does not come back' "the model's reset left the board dead"
}
