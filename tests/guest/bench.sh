#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make bench` in the guest: pseudoscopic on the emulated VRAM, test_hmm and zram swap side by side
# (ps-bench).  The table and the JSON go to the second serial port for the host to keep.
. /tests/lib.sh

arg() { sed -n "s/.*\<ps\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
results=/dev/ttyS1

setup() {
	ps_ready cpu_copy="$(arg cpu_copy)" || return 1
	modprobe test_hmm || return 1
	# zram swap big enough for the largest buffer; THP only where asked for (madvise).
	echo 1G >/sys/block/zram0/disksize || return 1
	mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 || return 1
	# ps.pcp_fraction=N (the part `scale`): the per-CPU free page lists fixed at 1/N of each zone
	# (vm.percpu_pagelist_high_fraction). With the kernel's default (0) they grow as a buffer is
	# allocated and then take the first few hundred MiB of RAM a park frees without the buddy
	# allocator's work, so a small park looked cheaper per page than a large one (BENCHMARKS.md).
	[ -z "$(arg pcp_fraction)" ] ||
		echo "$(arg pcp_fraction)" >/proc/sys/vm/percpu_pagelist_high_fraction || return 1
	echo "vm.percpu_pagelist_high_fraction = $(cat /proc/sys/vm/percpu_pagelist_high_fraction)"
	ps-status | grep -E '^(DeviceTotal|GPU)'
	cat /proc/swaps
}

# ps.instructions=1: the host runs this guest under -icount shift=0 (its clock counts instructions).
set -- --sizes "$(arg sizes)" --repeat "$(arg repeat)" --peers "$(arg peers)"
[ -z "$(arg ops)" ] || set -- "$@" --ops "$(arg ops)"
[ "$(arg instructions)" != 1 ] || set -- "$@" --instructions
# Each result line reaches the console as it comes (a long run's progress, and what it measured
# if the host stops it).
if (setup) && { ps-bench "$@" --json /tmp/bench.json 2>&1; echo $? >/tmp/bench.rc; } | tee /tmp/bench.txt &&
	[ "$(cat /tmp/bench.rc)" = 0 ]; then
	rc=0
else
	rc=1
fi
{
	echo BENCH-TABLE
	cat /tmp/bench.txt 2>/dev/null
	echo BENCH-JSON
	cat /tmp/bench.json 2>/dev/null
	echo "BENCH-END $rc"
} >$results
