# SPDX-License-Identifier: GPL-2.0
# Suspend to RAM (ACPI S3, woken by the host through QMP) with a live process's pages parked in
# 256 MiB of emulated VRAM. The host overwrites that VRAM while the guest sleeps, as a board that
# lost power holds anything: only a driver that brought every page back first keeps the data.
# And a suspend that RAM cannot hold the parked pages for is refused, losing nothing.
# vm: ivshmem-file 256M
# vm: qmp
# vm: memory 1G

case_suspend_to_ram_keeps_parked_data() {
	ps_ready
	held_across suspend suspend_to_ram
}

# Hibernation takes the same path (PM_HIBERNATION_PREPARE, PM_POST_HIBERNATION): pm_test stops it
# after the devices are frozen and thawed, before an image is written (the guest has no swap).
case_hibernation_brings_parked_pages_back() {
	ps_ready
	echo devices >/sys/power/pm_test || fail "no /sys/power/pm_test (PM_DEBUG)"
	held_across hibernation sh -c 'echo disk >/sys/power/state; echo none >/sys/power/pm_test'
}

# Parked pages that RAM cannot hold: the suspend is refused with ENOMEM and one dmesg line, and
# lending goes on.
case_suspend_refused_when_ram_cannot_hold_parked_pages() {
	ps_ready
	local pid avail fill
	ps-test hold 192 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 49152 pages"
	# Fill RAM (an unlimited tmpfs: shmem is not available memory) until less than the 192 MiB
	# parked is left.
	mkdir -p /mnt/fill
	check mount -t tmpfs -o size=100% tmpfs /mnt/fill
	avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
	fill=$((avail - 96))
	[ $fill -gt 0 ] && check dd if=/dev/zero of=/mnt/fill/f bs=1M count=$fill status=none
	info "MemAvailable $(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo) MiB with 192 MiB parked"
	dmesg_mark
	echo deep >/sys/power/mem_sleep
	local err
	err=$(sh -c 'echo mem >/sys/power/state' 2>&1) && fail "suspend with 192 MiB parked and no room in RAM succeeded"
	expect_match "$err" "Cannot allocate memory|Out of memory" "suspend error"
	expect_dmesg "refusing suspend: 49152 pages \\(192 MiB\\) are parked in VRAM and RAM has room for [0-9]+ \\([0-9]+ MiB\\)" "refusal line"
	expect_eq "$(dmesg_since | grep -c 'refusing suspend')" 1 "refusal lines"
	check rm /mnt/fill/f
	check umount /mnt/fill
	# Nothing moved, lending goes on.
	expect_eq "$(cat /sys/module/$MODULE/pool/free_pages)" "$((65536 - 49152))" "pool after the refusal"
	check ps-test migrate
	kill -USR1 $pid
	wait $pid || fail "process lost data across the refused suspend: $(cat /tmp/hold.out)"
}
