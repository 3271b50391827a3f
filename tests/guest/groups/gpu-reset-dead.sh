# SPDX-License-Identifier: GPL-2.0
# A function reset after which the emulated V100 does not come back (gpu-model --dead-after-reset:
# BAR0 reads all ones): the pages a live process parked came back to RAM before the reset, the
# driver says the board did not come back, lends nothing from it and unbinds it; the process keeps
# every byte.
# vm: gpu v100 512 --dead-after-reset

case_board_dead_after_reset_is_unbound() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	load_module pool_size_mb=256
	local pid
	ps-test hold 64 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 16384 pages"
	dmesg_mark
	check sh -c "echo 1 > /sys/bus/pci/devices/$bdf/reset"
	expect_dmesg "function reset: moved 16384 pages \(65536 KiB\) back to RAM; lending paused" "eviction line"
	expect_dmesg "function reset: the board did not come back" "the board is gone"
	# The driver link goes before the driver's remove runs: the release line says the unbind ended.
	wait_until "the release of $bdf" "dmesg_since | grep -qE '$bdf: released GPU 0'"
	expect_eq "$(bound_driver "$bdf")" "" "driver of $bdf"
	kill -USR1 $pid
	wait $pid || fail "process lost data across the reset: $(cat /tmp/hold.out)"
	info "64 MiB parked by a live process, all $((16384 * 4096)) bytes verified after the board died in a reset"
	out=$(ps-test migrate 2>&1) && fail "a park succeeded with the only GPU gone: $out"
	expect_match "$out" "No such device" "park with no GPU left"
}
