# SPDX-License-Identifier: GPL-2.0
# "Load the module, and VRAM serves as memory" (issue 14): a workload that writes about twice the
# guest's RAM, all of it kept, finishes with every byte checked because ps-tierd parks its cold
# part in VRAM, with nobody naming a process or a range; without ps-tierd (and without swap) the
# same workload is OOM-killed.
# vm: memory 512M
# vm: ivshmem 2G
# vm: timeout 1500

# The OOM killer's report (a stack dump) is what the case without ps-tierd expects.
EXPECT_OOM=1

# About twice MemTotal, in whole 16 MiB chunks.
workload_mib() { echo $(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 2 / 16 * 16)); }

case_without_tierd_oom_kills() {
	local total rc
	grep -q . /proc/swaps && [ "$(wc -l </proc/swaps)" -gt 1 ] && fail "the guest has swap"
	ps_ready
	dmesg_mark
	total=$(workload_mib)
	sh -c "echo 0 >/proc/self/oom_score_adj; exec ps-test grow $total 16 0" >/tmp/grow.out 2>&1
	rc=$?
	info "ps-test grow $total 16 0 without ps-tierd: status $rc after $(tail -n 1 /tmp/grow.out)"
	[ $rc -ne 0 ] || fail "$total MiB fit in RAM without ps-tierd"
	expect_dmesg 'Out of memory: Killed process [0-9]+ \(ps-test\)' "OOM kill of the workload"
}

case_tierd_keeps_workload_alive() {
	local total rc min moved
	ps_ready
	dmesg_mark
	tierd_start "$TIERD_SHORT"
	total=$(workload_mib)
	# The lowest MemAvailable while the workload runs, sampled every 0.2 s.
	rm -f /tmp/grow.done
	(
		min=1000000
		while [ ! -e /tmp/grow.done ]; do
			a=$(mem_available_mib)
			[ "$a" -lt "$min" ] && min=$a && echo "$min" >/tmp/min_available
			sleep 0.2
		done
	) &
	local sampler=$!
	ps-test grow "$total" 16 1000 >/tmp/grow.out 2>&1
	rc=$?
	touch /tmp/grow.done
	wait $sampler
	min=$(cat /tmp/min_available)
	moved=$(stat_value migrations_to_device)
	info "ps-test grow $total 16 1000 with ps-tierd: status $rc; $((moved / 256)) MiB parked by ps-tierd in $(tierd_last requests_total) requests; MemAvailable never below $min MiB (reserve $TIERD_RESERVE_MIB MiB); $(stat_value page_faults) faults brought data back"
	# What ps-tierd did, step by step, for the log of a failed run.
	tail -n 40 $TIERD_LOG
	cat $TIERD_ERR
	[ $rc -eq 0 ] || fail "the workload failed (status $rc): $(tail -n 3 /tmp/grow.out)"
	grep -q "^checked $total MiB" /tmp/grow.out || fail "the workload did not check its data: $(tail -n 3 /tmp/grow.out)"
	dmesg_since | grep -q 'Out of memory' && fail "OOM kill with ps-tierd: $(dmesg_since | grep 'Out of memory')"
	[ $((moved / 256)) -ge $((total / 2)) ] || fail "only $((moved / 256)) MiB went to VRAM for a $total MiB workload"
	expect_eq "$(tierd_last parked_total)" "$((moved * 4096))" "bytes ps-tierd parked against the module's count"
	[ "$min" -ge $TIERD_RESERVE_MIB ] || fail "MemAvailable fell to $min MiB, below the $TIERD_RESERVE_MIB MiB reserve"
	tierd_stop
}
