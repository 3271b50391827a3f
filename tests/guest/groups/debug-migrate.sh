# SPDX-License-Identifier: GPL-2.0
# The core migration suite (every case of the migrate group) on the debug kernel: KASAN, lockdep,
# DEBUG_VM, DEBUG_LIST, debug objects and KFENCE watch each case, and kmemleak looks for memory
# the module lost once they have all run.
# vm: kernel debug
# vm: ivshmem 256M
# vm: timeout 1500

. /tests/groups/migrate.sh

case_no_kmemleak_reports() { kmemleak_check; }
