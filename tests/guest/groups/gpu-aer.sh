# SPDX-License-Identifier: GPL-2.0
# PCI Express error recovery (AER) on an emulated Tesla V100 that is a PCI Express endpoint behind a
# root port (gpu-model --pcie: PCI Express capability v2, no FLR, AER at 0x100), with 64 MiB of a
# live process's pages parked. Errors are injected with /dev/aer_inject (CONFIG_PCIEAER_INJECT);
# the kernel's recovery (drivers/pci/pcie/err.c) then resets the link (a secondary bus reset of the
# root port), which clears the board's VRAM and registers (gpu-model). A non-fatal error reports
# the device readable (io_normal); a fatal one reports the link frozen (io_frozen), where the
# driver brings pages back only while the board answers. Either way the process gets every byte
# back, and the board lends again with its copy engine running. The first case takes the board's
# link down (the host signals the gpu-model) under a CPU fault in flight; then the fatal case: a
# driver that copies VRAM back after the reset shows it on a board that still comes back.
# vm: gpu v100 512 --pcie

# A CPU fault in flight when the board's link goes down and the root port reports it (fatal): the
# copy engine cannot finish, so the CPU copies through BAR1 and reads all ones. Whether the recovery
# is still under way or already over when that copy is done, the process gets SIGBUS (counted in
# lost_page_faults), never those bytes. First in the group: link_down reads the board's
# configuration space through sysfs, which once /dev/aer_inject has hooked the bus's
# configuration accesses trips lockdep in aer_inject (a raw spinlock around a spinlock).
case_fault_racing_a_dead_link_v100() {
	local bdf port pid faults status
	bdf=$(nvidia_bdf 1db4)
	aer_device "$bdf"
	load_module pool_size_mb=256
	ps-test hold 64 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 16384 pages"
	dmesg_mark
	# The root port will report the dead link: a Data Link Protocol Error (bit 4), fatal; the
	# board's own AER registers read all ones then, which /dev/aer_inject would take for a mask.
	port=$(root_port_of "$bdf")
	aer_error "$port" $((1 << 4))
	link_down 0 "$bdf"
	faults=$(gpu_stat "$bdf" page_faults)
	# The process reads its pages back; its first fault waits up to 2 s for the engine, and the
	# error is reported meanwhile.
	kill -USR1 $pid
	# Polled without a pause: the fault has 2 s, and a sleep here would use much of that.
	local spins=0
	while [ "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/stats/page_faults")" -eq "$faults" ]; do
		spins=$((spins + 1))
		[ $spins -lt 100000 ] || fail "the process never faulted"
	done
	aer_inject_written "$port"
	wait $pid
	status=$?
	[ $status -eq $((128 + 7)) ] ||
		fail "the process ended with status $status, not SIGBUS: $(cat /tmp/hold.out)"
	[ "$(gpu_stat "$bdf" lost_page_faults)" -ge 1 ] || fail "no fault counted in lost_page_faults"
	expect_dmesg "the board stopped answering after" "the lost pages' line"
	# The engine failed for want of a board, not by a fault of its own: the reset brings it back.
	expect_dmesg "the CPU copies until a reset brings the board back" "the engine's failure line"
	expect_eq "$(gpu_stat "$bdf" dma_fail)" 1 "copy-engine failures"
	expect_match "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/copy_engine")" '^running ' \
		"copy engine after the recovery"
	local copied
	copied=$(gpu_stat "$bdf" dma_bytes)
	check ps-test migrate
	[ "$(gpu_stat "$bdf" dma_bytes)" -gt "$copied" ] || fail "the copy engine copied nothing after the recovery"
	expect_eq "$(gpu_stat "$bdf" dma_fail)" 1 "copy-engine failures after the recovery"
}

case_fatal_error_v100() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	aer_device "$bdf"
	load_module pool_size_mb=256
	# Data Link Protocol Error (bit 4): fatal by the default severity; the link is frozen.
	held_across "PCI error recovery" aer_inject "$bdf" $((1 << 4))
	expect_dmesg "Uncorrectable \(Fatal\)" "the error was fatal"
	expect_dmesg "Root Port link has been reset" "the link reset"
	engine_back_after "PCI error recovery" "$bdf"
	expect_eq "$(gpu_stat "$bdf" lost_page_faults)" 0 "faults on lost pages"
}

case_nonfatal_error_v100() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	aer_device "$bdf"
	load_module pool_size_mb=256
	# Completion Timeout (bit 14): non-fatal by the default severity.
	held_across "PCI error recovery" aer_inject "$bdf" $((1 << 14))
	expect_dmesg "Uncorrectable \(Non-Fatal\)" "the error was non-fatal"
	expect_dmesg "Root Port link has been reset" "the link reset"
	engine_back_after "PCI error recovery" "$bdf"
	expect_eq "$(gpu_stat "$bdf" lost_page_faults)" 0 "faults on lost pages"
}
