# SPDX-License-Identifier: GPL-2.0
# Loading, binding through new_id, parameters and clean teardown, on 256 MiB of emulated VRAM
# (QEMU places a BAR this small below 4 GiB).
# vm: ivshmem 256M

case_modinfo_describes_module() {
	local info
	info=$(modinfo $MODULE) || fail "modinfo failed"
	local p
	for p in bar_index pool_size_mb migration_threshold enable_dma; do
		expect_match "$info" "^parm: +$p:.{20,}" "modinfo description of $p"
	done
	expect_match "$info" "^license: +GPL" "license"
	# The ID table: P100, P40, V100 and Quadro RTX.
	for id in 000015F8 00001B38 00001DB4 00001E30; do
		expect_match "$info" "^alias: +pci:v000010DEd${id}sv" "modalias for NVIDIA device $id"
	done
}

case_load_with_defaults() {
	dmesg_mark
	load_module
	expect_eq "$(cat $PARAM_DIR/bar_index)" "-1" "bar_index default"
	expect_eq "$(cat $PARAM_DIR/pool_size_mb)" "0" "pool_size_mb default"
	expect_eq "$(cat $PARAM_DIR/migration_threshold)" "16" "migration_threshold default"
	expect_eq "$(cat $PARAM_DIR/enable_dma)" "Y" "enable_dma default"
	expect_eq "$(cat $PARAM_DIR/cpu_copy)" "auto" "cpu_copy default"
	expect_dmesg "pseudoscopic: VRAM BAR: largest 64-bit prefetchable; pool: all usable VRAM; CPU copies: avx2; copy engine: allowed" "load line"
	# ivshmem is not in the ID table: nothing binds until new_id says so.
	expect_eq "$(bound_driver "$(ivshmem_bdf)")" "" "driver of ivshmem before new_id"
}

case_parameters_read_back() {
	load_module bar_index=2 pool_size_mb=128 migration_threshold=32 enable_dma=0
	expect_eq "$(cat $PARAM_DIR/bar_index)" "2" "bar_index"
	expect_eq "$(cat $PARAM_DIR/pool_size_mb)" "128" "pool_size_mb"
	expect_eq "$(cat $PARAM_DIR/migration_threshold)" "32" "migration_threshold"
	expect_eq "$(cat $PARAM_DIR/enable_dma)" "N" "enable_dma"
	local mode
	mode=$(stat -c %a $PARAM_DIR/bar_index)
	expect_eq "$mode" "444" "parameter file mode"
}

case_bind_new_id_logs_bar() {
	local bdf start end
	bdf=$(ivshmem_bdf)
	[ -n "$bdf" ] || fail "no ivshmem device in the guest"
	start=$(bar_field "$bdf" 2 start)
	end=$(bar_field "$bdf" 2 end)
	dmesg_mark
	load_module bar_index=2
	bind_ivshmem
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_probe "$bdf" name='generic device' id=1af4:1110 bar=2 bar_start="$(printf '%#x' $((start)))" \
		bar_end="$(printf '%#x' $((end)))" bar_mib=256 bar_kind='64-bit prefetchable memory'
	# A 256 MiB BAR sits below 4 GiB.
	[ $((start)) -lt $((1 << 32)) ] || fail "256 MiB BAR at $start is not below 4 GiB"
	grep -q " : $MODULE\$" /proc/iomem || fail "/proc/iomem shows no region claimed by $MODULE"
}

case_auto_picks_vram_bar() {
	local bdf
	bdf=$(ivshmem_bdf)
	dmesg_mark
	load_module
	bind_ivshmem
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	# BAR0 is 256 bytes of 32-bit registers; BAR2 is the 64-bit prefetchable VRAM.
	expect_probe "$bdf" name='generic device' id=1af4:1110 bar=2
}

case_ps_status_shows_device() {
	local bdf out start
	bdf=$(ivshmem_bdf)
	start=$(printf '%#x' $(($(bar_field "$bdf" 2 start))))
	check_fails ps-status >/dev/null
	load_module bar_index=2
	bind_ivshmem
	out=$(ps-status) || fail "ps-status failed with the module loaded"
	echo "$out"
	expect_match "$out" "^pseudoscopic: loaded" "ps-status header"
	expect_match "$out" "bar_index=2 " "ps-status parameters"
	expect_match "$out" "^  $bdf \[1af4:1110\] GPU 0: VRAM BAR $start-0x[0-9a-f]+ \(256 MiB\)" "ps-status device line"
}

case_unbind_and_rmmod_leave_no_trace() {
	local bdf ioremaps_before enable_before
	bdf=$(ivshmem_bdf)
	ioremaps_before=$(grep -c ioremap /proc/vmallocinfo)
	enable_before=$(cat /sys/bus/pci/devices/$bdf/enable)
	load_module bar_index=2
	bind_ivshmem
	expect_eq "$(cat /sys/bus/pci/devices/$bdf/enable)" "$((enable_before + 1))" "enable count while bound"
	dmesg_mark
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	expect_dmesg "$bdf: released GPU 0 \(BAR2\) and the device" "release line"
	expect_eq "$(bound_driver "$bdf")" "" "driver after unbind"
	expect_eq "$(cat /sys/bus/pci/devices/$bdf/enable)" "$enable_before" "enable count after unbind"
	grep -q " : $MODULE" /proc/iomem && fail "/proc/iomem still shows $MODULE after unbind"
	check rmmod $MODULE
	[ -e /sys/module/$MODULE ] && fail "/sys/module/$MODULE still exists after rmmod"
	grep -q "^$MODULE " /proc/modules && fail "$MODULE still in /proc/modules"
	expect_eq "$(grep -c ioremap /proc/vmallocinfo)" "$ioremaps_before" "ioremap mappings after rmmod"
	# Everything was really released: the next load binds again.
	load_module bar_index=2
	bind_ivshmem
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver after reload"
}

case_rmmod_while_bound_releases() {
	local bdf
	bdf=$(ivshmem_bdf)
	load_module
	bind_ivshmem
	dmesg_mark
	check rmmod $MODULE
	expect_dmesg "$bdf: released GPU 0 \(BAR2\) and the device" "release line on rmmod"
	expect_eq "$(bound_driver "$bdf")" "" "driver after rmmod"
	grep -q " : $MODULE" /proc/iomem && fail "/proc/iomem still shows $MODULE after rmmod"
	return 0
}

case_rebind_cycles() {
	local bdf i
	bdf=$(ivshmem_bdf)
	load_module
	bind_ivshmem
	for i in 1 2 3 4 5; do
		check sh -c "echo $bdf > $DRIVER_DIR/unbind"
		expect_eq "$(bound_driver "$bdf")" "" "driver after unbind $i"
		check sh -c "echo $bdf > $DRIVER_DIR/bind"
		expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver after bind $i"
	done
}
