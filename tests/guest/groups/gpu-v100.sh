# SPDX-License-Identifier: GPL-2.0
# An emulated Tesla V100 (GV100: 16 GiB HBM2 in NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE, 16 GiB BAR1),
# 512 MiB of it emulated.
# vm: gpu v100 512

# Data goes only where VRAM is emulated: the pool hands out the partial chunks at both ends of its
# span first, so cases that store data cap the pool (pool_size_mb) inside the emulated part.
EMULATED_POOL=pool_size_mb=256

# Usable: [256 KiB, 16 GiB - 1 MiB) of BAR1.
V100_PAGES=4193984

case_probe_v100() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	[ -n "$bdf" ] || fail "no 10de:1db4 device"
	dmesg_mark
	load_module
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_probe "$bdf" name='Tesla V100' id=10de:1db4 chip=GV100 arch=Volta rev=A1 vram_mib=16384 \
		bar=1 bar_mib=16384 bar_kind='physical mode' gpu=0 lent_mib=16382 pages=$V100_PAGES \
		engine='CE[0-9]|LCE[0-9]+' class=0xc3b5 dma_min_pages=16 cpu_copy='avx2|sse4\.1|io'
	expect_pool "$bdf" $V100_PAGES
	expect_dmesg "$bdf: self-check: BAR1 reaches VRAM one to one at 4 pages \(0x40000-0x3ffeff000\), through PRAMIN and BAR1 both ways" "BAR1 identity self-check"
	expect_dmesg "$bdf: self-check: copy engine (LCE|CE)[0-9]+ \(runlist [0-9]+\) copied RAM to VRAM and back and filled VRAM exactly, guard pages untouched" "copy-engine self-check"
	out=$(ps-status) || fail "ps-status failed"
	expect_match "$out" "DeviceTotal: +$((V100_PAGES * 4)) kB" "ps-status total"
}

# Every migration scenario with the copy engine (the default), then with the CPU alone.
case_migrate_v100() { migration_suite "$(nvidia_bdf 1db4)" 1 $EMULATED_POOL; }
case_migrate_cpu_v100() { migration_suite "$(nvidia_bdf 1db4)" 0 $EMULATED_POOL; }

# 64 MiB parked in the V100, checked in the model's VRAM file after the guest is gone
# (scrub=0: the VRAM keeps what it held).
case_park_in_v100_vram() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	load_module $EMULATED_POOL scrub=0
	park_and_unbind "$bdf"
}
