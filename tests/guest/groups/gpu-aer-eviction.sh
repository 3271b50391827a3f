# SPDX-License-Identifier: GPL-2.0
# A fatal PCI Express error on an emulated Tesla V100 (behind a root port, as in gpu-aer) whose link
# goes down in the middle of the eviction error_detected runs: the gpu-model takes the link down as
# the copy engine starts a given launch (--ce-fault link:38: the link goes down at launch 39,
# counted from the board's start: 3 for the probe's self-check, 32 for the huge pages parked, then
# the eviction's 2 MiB windows, one launch each, so at the fourth window). The pages
# that came back before keep their bytes; those still in VRAM are lost, and the process touching
# one gets SIGBUS, never the all-ones the dead link reads.
# vm: gpu v100 512 --pcie --ce-fault link:38

case_link_down_during_fatal_eviction_v100() {
	local bdf status line back lost
	bdf=$(nvidia_bdf 1db4)
	aer_device "$bdf"
	load_module pool_size_mb=256
	hold_parked 64
	expect_eq "$(gpu_stat "$bdf" thp_to_device)" 32 "huge pages parked"
	# Data Link Protocol Error (bit 4) at the board: fatal; error_detected evicts while the board
	# answers, and its link goes down a few windows in.
	aer_inject "$bdf" $((1 << 4))
	line=$(dmesg_since | grep -m1 'PCI error recovery: the board stopped answering after') ||
		fail "no line saying pages were lost"
	back=$(echo "$line" | sed -n 's/.* after \([0-9]*\) pages came back.*/\1/p')
	lost=$(echo "$line" | sed -n 's/.*; the \([0-9]*\) pages .* still in its VRAM are lost.*/\1/p')
	info "$back pages came back before the link went down, $lost were lost"
	[ "${back:-0}" -gt 0 ] && [ "${lost:-0}" -gt 0 ] ||
		fail "the link did not go down in the middle of the eviction: $line"
	expect_eq $((back + lost)) 16384 "pages back and lost"
	kill -USR1 $HOLD_PID
	wait $HOLD_PID
	status=$?
	[ $status -eq $((128 + 7)) ] ||
		fail "the process ended with status $status, not SIGBUS: $(cat /tmp/hold.out)"
	[ "$(gpu_stat "$bdf" lost_page_faults)" -ge 1 ] || fail "no fault counted in lost_page_faults"
	expect_match "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/copy_engine")" '^running ' \
		"copy engine after the recovery"
}
