# SPDX-License-Identifier: GPL-2.0
# Boards pseudoscopic refuses or repairs: an Ampere A100, a P100 whose VBIOS did not run, a V100
# whose BAR1 a previous driver left in virtual mode, a P40 in the same state whose BAR1 bind
# never completes, and a V100 32GB whose BAR1 is too small to be VRAM.
# vm: gpu a100 64
# vm: gpu p100 64 --not-posted
# vm: gpu v100 64 --bar1-virtual
# vm: gpu p40 64 --bar1-virtual --bind-stuck
# vm: gpu v100-32 64 --bar1-mib 32

# Data goes only where VRAM is emulated: the pool hands out the partial chunks at both ends of its
# span first, so cases that store data cap the pool (pool_size_mb) inside the emulated part.

# First: the boards keep their registers across cases, and the first module load switches both.
case_virtual_bar1_recovered() {
	local bdf stuck
	bdf=$(nvidia_bdf 1db4)
	stuck=$(nvidia_bdf 1b38)
	dmesg_mark
	load_module pool_size_mb=32
	expect_dmesg "$bdf: BAR1 was left in virtual mode \(NV_PBUS_BAR1_BLOCK, instance block 0x10000\); switched it to physical mode" "recovery line"
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_dmesg "$stuck: BAR1 did not return to physical mode \(NV_PBUS_BAR1_BLOCK\)" "refusal line of the stuck bind"
	expect_eq "$(bound_driver "$stuck")" "" "driver of $stuck"
	scenario migrate
}

case_unsupported_chip_refused() {
	local bdf
	bdf=$(nvidia_bdf 20f1)
	[ -n "$bdf" ] || fail "no 10de:20f1 device"
	load_module
	dmesg_mark
	echo "10de 20f1" >$DRIVER_DIR/new_id
	expect_dmesg "$bdf: unsupported NVIDIA chip 0x170 \(NV_PMC_BOOT_0 0x170000a1\); supported: GP100 GP102 GP104 GV100 TU102 TU104$" "refusal line"
	expect_eq "$(dmesg_since | grep -c "$bdf:")" 1 "dmesg lines about $bdf"
	expect_eq "$(bound_driver "$bdf")" "" "driver of $bdf"
	is_loaded || fail "module unloaded"
	[ -c /dev/$MODULE ] || fail "/dev/$MODULE gone"
}

case_not_posted_refused() {
	local bdf
	bdf=$(nvidia_bdf 15f8)
	dmesg_mark
	load_module
	expect_dmesg "$bdf: GP100 is not POSTed \(its VBIOS has not run, e\.g\. after a bus reset\); refusing it" "refusal line"
	expect_eq "$(bound_driver "$bdf")" "" "driver of $bdf"
	is_loaded || fail "module unloaded"
}

case_small_bar1_refused() {
	local bdf
	bdf=$(nvidia_bdf 1db5)
	dmesg_mark
	load_module
	expect_dmesg "$bdf: BAR1 is 33554432 bytes, smaller than the 64 MiB minimum" "refusal line"
	expect_eq "$(bound_driver "$bdf")" "" "driver of $bdf"
	is_loaded || fail "module unloaded"
}
