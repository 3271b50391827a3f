# SPDX-License-Identifier: GPL-2.0
# Eviction when RAM has no 2 MiB block free: a live process's huge pages are parked, `ps-test
# fragment` leaves no free 2 MiB block in the guest's RAM (and compaction cannot make one), and the
# GPU is unbound. Eviction by page frame can only move a huge page whole; after a few rounds
# without 2 MiB it must move it as single pages through the process that maps it, or unbind never
# finishes while the memory stays fragmented.
# vm: ivshmem 256M
# vm: memory 1G
# vm: timeout 900

case_unbind_with_huge_pages_parked_and_ram_fragmented() {
	local bdf pages=16384 frag unbind ev0 fb0 fallback i
	ps_ready
	bdf=$(ivshmem_bdf)
	# Per-CPU free lists kept small from the start: the huge pages parking frees, and what
	# fragmenting takes, would otherwise sit there, out of the buddy lists' sight (and an order-9
	# list there gives 2 MiB without any block free).
	echo 100000 >/proc/sys/vm/percpu_pagelist_high_fraction
	hold_parked 64
	# Compaction must leave the fragmenter's locked pages alone and not run by itself, zone DMA
	# must serve no user memory (its free blocks would hold 2 MiB for a few huge pages), and the
	# kernel's reserve must be too small to keep a 2 MiB block free below it.
	echo 0 >/proc/sys/vm/compact_unevictable_allowed
	echo 0 >/proc/sys/vm/compaction_proactiveness
	echo 0 >/proc/sys/vm/watermark_boost_factor
	echo 1 >/proc/sys/vm/lowmem_reserve_ratio
	echo 1024 >/proc/sys/vm/min_free_kbytes
	echo 3 >/proc/sys/vm/drop_caches
	ps-test fragment >/tmp/frag.out 2>&1 &
	frag=$!
	i=0
	until grep -qE "^fragmented: |FAIL" /tmp/frag.out; do
		kill -0 $frag 2>/dev/null || fail "ps-test fragment ended: $(cat /tmp/frag.out) $(dmesg | grep -m1 'Killed process')"
		i=$((i + 1))
		[ $i -lt 3000 ] || fail "ps-test fragment did not finish in 300 s: $(cat /tmp/frag.out)"
		sleep 0.1
	done
	grep -q "^fragmented: " /tmp/frag.out || fail "could not fragment RAM: $(cat /tmp/frag.out)"
	info "$(sed -n 's/^fragmented: /RAM fragmented: /p' /tmp/frag.out)"
	cat /proc/buddyinfo
	ev0=$(stat_value evictions)
	fb0=$(stat_value thp_fallback)
	dmesg_mark
	sh -c "echo $bdf > $DRIVER_DIR/unbind" &
	unbind=$!
	# The bound: without the split, eviction waits for 2 MiB of free RAM for as long as the
	# fragmenter holds on. Then it is let go, so that the unbind ends and the case can fail.
	i=0
	while kill -0 $unbind 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 3000 ]; then
			kill -USR1 $frag
			wait $unbind
			fail "unbind did not finish in 300 s with no 2 MiB of RAM free: $(dmesg_since | grep "$bdf" | tail -n 2)"
		fi
		sleep 0.1
	done
	wait $unbind || fail "unbind failed"
	kill -0 $frag 2>/dev/null || fail "the fragmenter ended during the unbind: $(cat /tmp/frag.out)"
	cat /proc/buddyinfo
	expect_dmesg "$bdf: eviction: [0-9]+ huge pages found no 2 MiB of free RAM in 3 rounds; split [1-9][0-9]* into single pages through the processes that map them" "split line"
	expect_dmesg "$bdf: moved $pages pages \($((pages * 4)) KiB\) back to RAM" "eviction line"
	expect_eq "$(($(stat_value evictions) - ev0))" "$pages" "stats/evictions"
	fallback=$(($(stat_value thp_fallback) - fb0))
	[ $fallback -gt 0 ] || fail "stats/thp_fallback did not rise"
	kill -USR1 $frag
	wait $frag || fail "ps-test fragment failed: $(cat /tmp/frag.out)"
	hold_verified 64 "the unbind with no 2 MiB of RAM free"
	info "$fallback of the 32 huge pages came back as single pages (thp_fallback)"
}
