#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make bench`, tiering part (issue 14), in the guest: the workload `ps-bench tier` under each
# configuration of ps.tier_configs in turn (ram, pseudoscopic, zram, virtio, none, phram), on random
# then compressible data. An OOM kill of the workload is a result (a JSON line saying so); a wrong
# byte, or a configuration that cannot be set up, fails the run. The results' text and JSON lines
# go to the second serial port for the host (tests/vm/run-bench.sh) to keep.
. /tests/lib.sh

# The OOM killer must take the workload (which sets its own score back to 0), never this script:
# its subshells record the kill and go on to the next configuration.
echo -1000 >/proc/self/oom_score_adj

results=/dev/ttyS1
JSONL=/tmp/tier.jsonl
TEXT=/tmp/tier.txt
MIB=$(guest_arg tier_mib 1280)
HOT=$(guest_arg tier_hot 128)
FILL=$(guest_arg tier_fill 8)
WARMUP=$(guest_arg tier_warmup 5)
SECS=$(guest_arg tier_seconds 20)

# workload LABEL DATA: one run of the workload, its result line kept. An OOM kill of it is
# recorded as its result; any other failure (a wrong byte) fails.
workload() {
	local label=$1 data=$2 rc filled limit
	dmesg_mark
	# A run may take three times its pace to write, then its measured time, and no more.
	limit=$((MIB / FILL * 3 + WARMUP + SECS + 180))
	sh -c "echo 0 >/proc/self/oom_score_adj; exec timeout -s KILL $limit ps-bench tier --label $label \
		--data $data --mib $MIB --hot-mib $HOT --fill-rate $FILL --warmup $WARMUP --seconds $SECS \
		--json $JSONL" >/tmp/work.out 2>&1
	rc=$?
	if dmesg_since | grep -qE 'Out of memory: Killed process [0-9]+ \(ps-bench\)'; then
		filled=$(sed -n 's/^filled \([0-9]*\) MiB$/\1/p' /tmp/work.out | tail -n 1)
		echo "{\"label\":\"$label\",\"data\":\"$data\",\"oom_killed\":true,\"mib\":$MIB,\"filled_mib\":${filled:-0}}" >>$JSONL
		echo "tier $label $data: OOM-killed after writing ${filled:-0} of $MIB MiB" | tee -a $TEXT
		# What ps-tierd was doing then, for the console log.
		[ -n "$TIERD_PID" ] && tail -n 12 $TIERD_LOG
		return 0
	fi
	if [ $rc -eq 137 ]; then
		# Thrashing without end is a result too (zram with nothing it can compress).
		filled=$(sed -n 's/^filled \([0-9]*\) MiB$/\1/p' /tmp/work.out | tail -n 1)
		echo "{\"label\":\"$label\",\"data\":\"$data\",\"timed_out\":$limit,\"mib\":$MIB,\"filled_mib\":${filled:-0}}" >>$JSONL
		echo "tier $label $data: did not finish in $limit s, after writing ${filled:-0} of $MIB MiB" | tee -a $TEXT
		return 0
	fi
	[ $rc -eq 0 ] || fail "$label, $data data: ps-bench tier failed (status $rc): $(tail -n 3 /tmp/work.out)"
	tail -n 1 /tmp/work.out | tee -a $TEXT
}

both() {
	workload "$1" random
	workload "$1" compressible
}

# swap_on DEV: DEV is the only swap.
swap_on() {
	check mkswap "$1" >/dev/null
	check swapon "$1"
	expect_eq "$(tail -n +2 /proc/swaps | wc -l)" 1 "swap devices"
}

no_swap() { expect_eq "$(tail -n +2 /proc/swaps | wc -l)" 0 "swap devices"; }

# (1) Enough RAM: the upper bound.
config_ram() {
	no_swap
	both ram
}

# (2) pseudoscopic on the emulated VRAM, with ps-tierd and nobody parking anything by hand.
config_pseudoscopic() {
	no_swap
	ps_ready
	tierd_start "$TIERD_SHORT"
	# As its unit does (OOMScoreAdjust=-900): the OOM killer takes the workload, not the daemon.
	echo -900 >/proc/$TIERD_PID/oom_score_adj
	both pseudoscopic
	tierd_stop
	cleanup_module
}

# (3) zram swap as large as the emulated VRAM.
config_zram() {
	check sh -c 'echo 2G >/sys/block/zram0/disksize'
	swap_on /dev/zram0
	both zram
	check swapoff /dev/zram0
	check sh -c 'echo 1 >/sys/block/zram0/reset'
}

# (4) "Swap on video RAM" the in-tree way: phram over the same emulated VRAM BAR (uncached, by
# ioremap), mtdblock on it as swap. pseudoscopic is not bound to the device then.
config_phram() {
	local bdf start end
	cleanup_module
	bdf=$(ivshmem_bdf)
	[ -n "$bdf" ] || fail "no ivshmem device for phram"
	start=$(bar_field "$bdf" 2 start)
	end=$(bar_field "$bdf" 2 end)
	check sh -c "echo 1 >/sys/bus/pci/devices/$bdf/enable"
	check sh -c "echo vram,$start,$((end - start + 1)) >/sys/module/phram/parameters/phram"
	wait_until "/dev/mtdblock0 appears" '[ -b /dev/mtdblock0 ]'
	info "phram over BAR2 of $bdf: $(cat /proc/mtd | tail -n 1)"
	swap_on /dev/mtdblock0
	both phram
	check swapoff /dev/mtdblock0
}

# (5) Swap on a virtio disk (a raw image file on the host).
config_virtio() {
	[ -b /dev/vda ] || fail "no virtio disk /dev/vda"
	swap_on /dev/vda
	both virtio
	check swapoff /dev/vda
}

# (6) Nothing: no swap, no module; the workload is OOM-killed.
config_none() {
	no_swap
	both none
}

# The workload is one mapping of 2.5 times RAM: the kernel's default overcommit heuristic refuses a
# mapping larger than RAM plus swap (VRAM lent to processes is not counted), so without swap it
# would fail at mmap, not at the OOM killer. Every configuration runs with overcommit allowed.
echo 1 >/proc/sys/vm/overcommit_memory
rc=0
: >$JSONL
: >$TEXT
grep MemTotal /proc/meminfo
for c in $(guest_arg tier_configs ram | tr ',' ' '); do
	echo "== $c"
	# In a subshell, so a failed check ends this configuration only; its reason goes in the table.
	( (config_$c); echo $? >/tmp/config.rc) 2>&1 | tee /tmp/config.out
	if [ "$(cat /tmp/config.rc)" != 0 ]; then
		echo "configuration $c failed: $(grep PSFAIL /tmp/config.out)" >>$TEXT
		rc=1
	fi
	# Whatever happened, the next configuration starts with no swap, no module and no ps-tierd.
	swapoff -a 2>/dev/null
	[ -n "$(pidof ps-tierd)" ] && kill $(pidof ps-tierd) && sleep 2
	cleanup_module
done
{
	echo BENCH-TABLE
	cat $TEXT
	echo BENCH-JSON
	cat $JSONL
	echo "BENCH-END $rc"
} >$results
