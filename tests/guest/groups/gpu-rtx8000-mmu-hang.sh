# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 with 2 GiB of VRAM behind a 256 MiB BAR1 (virtual mode) whose MMU
# hangs after its copy engine parked two processes' huge pages (gpu-model SIGUSR2 through `PSHOST
# mmuhang`: no invalidate completes), and whose engine then fails at the first fault-back
# (--ce-fault error:11: the probe's self-check takes 3 launches, the 8 huge pages one each). The
# CPU cannot point BAR1's window at the parked chunks: the window stops remapping, said once; the
# faulting process gets SIGBUS, never another chunk's bytes; unbind brings back what it can and
# says the rest is lost; the other process then gets SIGBUS too, and the unbind completes.
# vm: gpu rtx8000 2048 --board-vram-mib 2048 --bar1-emulated --ce-fault error:11
# vm: memory 3G

# sigbus_without_wrong_bytes PID FILE: the process ended on SIGBUS, having found no wrong byte.
sigbus_without_wrong_bytes() {
	local status
	wait "$1"
	status=$?
	[ $status -eq $((128 + 7)) ] || fail "the process ended with status $status, not SIGBUS: $(cat "$2")"
	grep -qi "mismatch\|FAIL" "$2" && fail "the process read wrong bytes: $(cat "$2")"
	return 0
}

case_mmu_hang_leaves_pages_where_they_are_rtx8000() {
	local bdf a b unbind line back lost
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	dmesg_mark
	load_module scrub=N
	expect_eq "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/bar1_slots")" 128 "BAR1 in virtual mode"
	ps-test hold-huge 8 >/tmp/a.out 2>&1 &
	a=$!
	wait_for_line /tmp/a.out "^parked 2048 pages"
	ps-test hold-huge 8 >/tmp/b.out 2>&1 &
	b=$!
	wait_for_line /tmp/b.out "^parked 2048 pages"
	expect_eq "$(gpu_stat "$bdf" thp_to_device)" 8 "huge pages parked by the engine"
	mmu_hang 0
	kill -USR1 "$a"
	sigbus_without_wrong_bytes "$a" /tmp/a.out
	expect_eq "$(dmesg_since | grep -c "BAR1's window could not be pointed at VRAM .* tried three times: remapping stops until a reset")" 1 \
		"dmesg lines on the failed remap"
	expect_eq "$(dmesg_since | grep -cE "copy engine .* failed: channel error")" 1 "dmesg lines on the engine"
	[ "$(gpu_stat "$bdf" lost_page_faults)" -ge 1 ] || fail "no fault counted in lost_page_faults"
	# Unbind under the other process: eviction cannot reach its chunks either.
	sh -c "echo $bdf > $DRIVER_DIR/unbind" &
	unbind=$!
	wait_until "the unbind says what it could not bring back" \
		"dmesg | grep -q 'unbind: BAR1.s window could not reach some of its VRAM after'"
	line=$(dmesg_since | grep -m1 "unbind: BAR1's window could not reach")
	back=$(echo "$line" | sed -n 's/.* after \([0-9]*\) pages came back.*/\1/p')
	lost=$(echo "$line" | sed -n 's/.*; the \([0-9]*\) pages .* still in its VRAM are lost.*/\1/p')
	# What the slots still showed came back; the rest is lost.
	[ "${lost:-0}" -gt 0 ] || fail "no page said lost: $line"
	expect_eq $((back + lost)) 2048 "pages of the other process back and lost"
	kill -USR1 "$b"
	sigbus_without_wrong_bytes "$b" /tmp/b.out
	wait $unbind || fail "unbind failed"
	expect_eq "$(bound_driver "$bdf")" "" "driver after the unbind"
	info "the MMU hung: SIGBUS for both processes, no wrong byte; at unbind $back pages came back, $lost were lost"
}
