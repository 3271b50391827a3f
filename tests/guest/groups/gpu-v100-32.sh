# SPDX-License-Identifier: GPL-2.0
# An emulated Tesla V100-SXM2-32GB (GV100: 32 GiB HBM2, 32 GiB BAR1), 64 MiB of it emulated.
# vm: gpu v100-32 64
# vm: memory 3G

# Data goes only where VRAM is emulated: the pool hands out the partial chunks at both ends of its
# span first, so cases that store data cap the pool (pool_size_mb) inside the emulated part.

# Usable: [256 KiB, 32 GiB - 1 MiB) of BAR1.
V100_32_PAGES=8388288

case_probe_v100_32g() {
	local bdf
	bdf=$(nvidia_bdf 1db5)
	[ -n "$bdf" ] || fail "no 10de:1db5 device"
	dmesg_mark
	load_module
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_probe "$bdf" name='Tesla V100' id=10de:1db5 chip=GV100 arch=Volta rev=A1 vram_mib=32768 \
		bar=1 bar_mib=32768 bar_kind='physical mode' gpu=0 lent_mib=32766 pages=$V100_32_PAGES
	expect_pool "$bdf" $V100_32_PAGES
	cleanup_module
	load_module pool_size_mb=32
	scenario migrate
}
