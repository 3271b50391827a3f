# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group suspend (guest cases: tests/guest/groups/suspend.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_while_suspended() { ivshmem_scramble 0; }

host_suspend_to_ram_keeps_parked_data() { host_woke 1; }
