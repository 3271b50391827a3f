# SPDX-License-Identifier: GPL-2.0
# VRAM that held data is zeroed when the GPU is released (scrub, the default): on an emulated Tesla
# V100 by its copy engine, checked in the model's VRAM file after the guest is gone.
# vm: gpu v100 512

case_scrub_by_copy_engine_v100() {
	local bdf pid
	bdf=$(nvidia_bdf 1db4)
	dmesg_mark
	load_module pool_size_mb=256
	ps-test hold 64 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 16384 pages"
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	kill -USR1 $pid
	wait $pid || fail "process lost data across unbind: $(cat /tmp/hold.out)"
	expect_dmesg "$bdf: zeroed [0-9]+ KiB of VRAM that held data, by the copy engine" "scrub line"
}

host_scrub_by_copy_engine_v100() {
	no_rejected_access 0
	gpu_log_has 0 '^CE fill vidmem:' "fills by the model's copy engine"
	vram_untouched 0 0 $((512 << 20))
}
