# SPDX-License-Identifier: GPL-2.0
# An emulated Tesla P100 (GP100: 16 GiB of HBM2, sized through its memory partitions; 16 GiB BAR1),
# 512 MiB of it emulated.
# vm: gpu p100 512

# Data goes only where VRAM is emulated: the pool hands out the partial chunks at both ends of its
# span first, so cases that store data cap the pool (pool_size_mb) inside the emulated part.
EMULATED_POOL=pool_size_mb=256

# Usable: [256 KiB + 2 MiB (the USERD snoop window: 512 bytes for each of 4096 channels),
# 16 GiB - 1 MiB) of BAR1.
P100_PAGES=4193472

case_probe_p100() {
	local bdf
	bdf=$(nvidia_bdf 15f8)
	[ -n "$bdf" ] || fail "no 10de:15f8 device"
	dmesg_mark
	load_module
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_probe "$bdf" name='Tesla P100' id=10de:15f8 chip=GP100 arch=Pascal rev=A1 vram_mib=16384 \
		bar=1 bar_mib=16384 bar_kind='physical mode' gpu=0 lent_mib=16380 pages=$P100_PAGES \
		engine='CE[0-9]|LCE[0-9]+' class=0xc0b5 dma_min_pages=16 cpu_copy='avx2|sse4\.1|io'
	expect_pool "$bdf" $P100_PAGES
	expect_dmesg "$bdf: self-check: BAR1 reaches VRAM one to one at 4 pages \(0x240000-0x3ffeff000\), through PRAMIN and BAR1 both ways" "BAR1 identity self-check"
	expect_dmesg "$bdf: self-check: copy engine (LCE|CE)[0-9]+ \(runlist [0-9]+\) copied RAM to VRAM and back and filled VRAM exactly, guard pages untouched" "copy-engine self-check"
}

# What the guest's PCI core sees of the model: a 3D controller with NVIDIA's BAR layout and MSI.
case_config_space_p100() {
	local bdf dev flags cap
	bdf=$(nvidia_bdf 15f8)
	dev=/sys/bus/pci/devices/$bdf
	expect_eq "$(cat $dev/class)" 0x030200 "class (3D controller)"
	expect_eq "$(cat $dev/subsystem_vendor)" 0x10de "subsystem vendor"
	expect_eq "$(($(bar_field "$bdf" 0 end) - $(bar_field "$bdf" 0 start) + 1))" $((16 << 20)) "BAR0 size"
	flags=$(bar_field "$bdf" 0 flags)
	expect_eq "$((flags & 0x102200))" $((0x200)) "BAR0: 32-bit memory, not prefetchable"
	expect_eq "$(($(bar_field "$bdf" 1 end) - $(bar_field "$bdf" 1 start) + 1))" $((16 << 30)) "BAR1 size"
	flags=$(bar_field "$bdf" 1 flags)
	expect_eq "$((flags & 0x102200))" $((0x102200)) "BAR1: 64-bit prefetchable memory"
	flags=$(bar_field "$bdf" 3 flags)
	expect_eq "$((flags & 0x102200))" $((0x102200)) "BAR3: 64-bit prefetchable memory"
	# The capability list as on the board: power management first, then MSI.
	cap=$(od -An -tx1 -j $((0x34)) -N1 $dev/config | tr -d ' ')
	expect_eq "$(od -An -tx1 -j $((0x$cap)) -N1 $dev/config | tr -d ' ')" 01 "capability at 0x$cap is power management"
	cap=$(od -An -tx1 -j $((0x$cap + 1)) -N1 $dev/config | tr -d ' ')
	expect_eq "$(od -An -tx1 -j $((0x$cap)) -N1 $dev/config | tr -d ' ')" 05 "capability at 0x$cap is MSI"
}

# Every migration scenario with the copy engine (the default), then with the CPU alone.
case_migrate_p100() { migration_suite "$(nvidia_bdf 15f8)" 1 $EMULATED_POOL; }
case_migrate_cpu_p100() { migration_suite "$(nvidia_bdf 15f8)" 0 $EMULATED_POOL; }

# 64 MiB parked in the P100, checked in the model's VRAM file after the guest is gone
# (scrub=0: the VRAM keeps what it held).
case_park_in_p100_vram() {
	local bdf
	bdf=$(nvidia_bdf 15f8)
	load_module $EMULATED_POOL scrub=0
	park_and_unbind "$bdf"
}
