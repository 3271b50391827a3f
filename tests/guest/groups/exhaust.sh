# SPDX-License-Identifier: GPL-2.0
# A 4 MiB pool: partial moves, then ENOSPC, nothing leaked.
# vm: ivshmem 256M

case_pool_exhaustion() {
	ps_ready pool_size_mb=4
	expect_eq "$(cat /sys/module/$MODULE/pool/total_pages)" "1024" "pool of 4 MiB"
	scenario exhaust
	expect_eq "$(cat /sys/module/$MODULE/pool/free_pages)" "1024" "free pages after the scenario"
}
