# SPDX-License-Identifier: GPL-2.0
# Migration with 2 GiB of emulated VRAM above 4 GiB.
# vm: ivshmem 2G

case_migrate_above_4g() {
	ps_ready
	expect_eq "$(cat /sys/module/$MODULE/pool/total_pages)" "524288" "pool of 2 GiB"
	scenario migrate
	scenario migrate_fault
}

case_unbind_above_4g_with_64m_parked() {
	ps_ready
	local bdf
	bdf=$(ivshmem_bdf)
	park_and_unbind "$bdf"
}
