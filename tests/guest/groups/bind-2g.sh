# SPDX-License-Identifier: GPL-2.0
# Binding 2 GiB of emulated VRAM, which QEMU places above 4 GiB.
# vm: ivshmem 2G

case_bind_above_4g() {
	local bdf start end
	bdf=$(ivshmem_bdf)
	start=$(bar_field "$bdf" 2 start)
	end=$(bar_field "$bdf" 2 end)
	[ $((start)) -ge $((1 << 32)) ] || fail "2 GiB BAR at $start is not above 4 GiB"
	dmesg_mark
	load_module bar_index=2
	bind_ivshmem
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_probe "$bdf" name='generic device' id=1af4:1110 bar=2 bar_start="$(printf '%#x' $((start)))" \
		bar_end="$(printf '%#x' $((end)))" bar_mib=2048 bar_kind='64-bit prefetchable memory'
	out=$(ps-status) || fail "ps-status failed"
	expect_match "$out" "^  $bdf \[1af4:1110\] GPU 0: VRAM BAR $(printf '%#x' $((start)))-.* \(2048 MiB\)" "ps-status device line"
}

case_unbind_above_4g_releases() {
	local bdf
	bdf=$(ivshmem_bdf)
	load_module
	bind_ivshmem
	dmesg_mark
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	expect_dmesg "$bdf: released GPU 0 \(BAR2\) and the device" "release line"
	grep -q " : $MODULE" /proc/iomem && fail "/proc/iomem still shows $MODULE"
	check rmmod $MODULE
	[ -e /sys/module/$MODULE ] && fail "/sys/module/$MODULE still exists after rmmod"
	return 0
}
