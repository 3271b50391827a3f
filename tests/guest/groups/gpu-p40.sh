# SPDX-License-Identifier: GPL-2.0
# An emulated Tesla P40 (GP102: 24 GiB GDDR5 with ECC on, so 22.5 GiB usable; a 32 GiB BAR1) with a
# locked WPR2 region at [32, 48) MiB, 256 MiB of it emulated.
# vm: gpu p40 256 --wpr2 32:48

# Data goes only where VRAM is emulated: the pool hands out the partial chunks at both ends of its
# span first, so cases that store data cap the pool (pool_size_mb) inside the emulated part.

# Usable: [256 KiB + 2 MiB (the USERD snoop window), 32 MiB) and [48 MiB, 23040 MiB - 1 MiB): the
# BAR is clamped to VRAM.
P40_PAGES=5893312

case_probe_p40_clamps_bar1() {
	local bdf
	bdf=$(nvidia_bdf 1b38)
	[ -n "$bdf" ] || fail "no 10de:1b38 device"
	dmesg_mark
	load_module
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_probe "$bdf" name='Tesla P40' id=10de:1b38 chip=GP102 arch=Pascal rev=A1 vram_mib=23040 \
		bar=1 bar_mib=32768 bar_kind='physical mode' gpu=0 lent_mib=23020 pages=$P40_PAGES
	expect_pool "$bdf" $P40_PAGES
	expect_dmesg "$bdf: VRAM 0x2000000-0x2ffffff is locked \(write-protected or video-protected region\); not lent" "locked region line"
}

case_pool_size_on_p40() {
	local bdf
	bdf=$(nvidia_bdf 1b38)
	load_module pool_size_mb=64
	expect_pool "$bdf" 16384
	scenario migrate
}

# 64 MiB parked: more than fits below the WPR2 region, so the pool skips it.
case_park_around_wpr2() {
	local bdf
	bdf=$(nvidia_bdf 1b38)
	load_module pool_size_mb=128 scrub=0
	park_and_unbind "$bdf"
}
