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
	expect_dmesg "$bdf: Tesla V100 \[10de:1db5\]: GV100 \(Volta\) rev A1, 32768 MiB VRAM; BAR1 at 0x[0-9a-f]+-0x[0-9a-f]+ \(32768 MiB, physical mode\), mapped write-combined; GPU 0 lends 32766 MiB \($V100_32_PAGES pages\)" "probe line"
	expect_pool "$bdf" $V100_32_PAGES
	cleanup_module
	load_module pool_size_mb=32
	scenario migrate
}
