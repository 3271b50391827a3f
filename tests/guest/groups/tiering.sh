# SPDX-License-Identifier: GPL-2.0
# Transparent tiering (issue 14): the module's refault signal and PSI accounting, and ps-tierd
# parking memory nobody asked it to park: hot memory comes back and stays, the quality loop
# raises the cold age under an adversary, excluded processes and cgroups are never touched, a
# full VRAM stops parking cleanly, an unbind under the running daemon loses nothing.
# vm: ivshmem 256M
# vm: timeout 1200

# A case that failed may have left ps-tierd running (and so the module loaded, if it was in a step
# at unload); the next one starts without either.
tierd_kill_stale() {
	if [ -n "$(pidof ps-tierd)" ]; then
		kill -TERM $(pidof ps-tierd)
		sleep 2
	fi
	cleanup_module
}

case_early_refaults() {
	local bdf early
	bdf=$(ivshmem_bdf)
	# Faulted back well within early_refault_secs: every page counts.
	ps_ready early_refault_secs=60
	hot_start 8 0 early
	check ps-migrate --pid $HOT_PID --range "$HOT_RANGE" >/dev/null
	expect_eq "$(stat_value early_refaults)" 0 "early_refaults before any fault"
	hot_finish $HOT_PID early
	expect_eq "$(stat_value early_refaults)" 2048 "early_refaults after 8 MiB came back at once"
	expect_eq "$(gpu_stat "$bdf" early_refaults)" 2048 "the GPU's early_refaults"
	expect_match "$(ps-status)" "early_refaults=2048" "ps-status shows early_refaults"
	cleanup_module
	# Faulted back after early_refault_secs: none counts, though every page faulted back.
	ps_ready early_refault_secs=1
	hot_start 8 0 late
	check ps-migrate --pid $HOT_PID --range "$HOT_RANGE" >/dev/null
	sleep 3
	hot_finish $HOT_PID late
	expect_eq "$(stat_value migrations_to_ram)" 2048 "pages faulted back late"
	expect_eq "$(stat_value early_refaults)" 0 "early_refaults for pages parked 3 s before, with early_refault_secs=1"
	cleanup_module
	dmesg_mark
	check_fails modprobe $MODULE early_refault_secs=0
	expect_dmesg "early_refault_secs=0 is invalid" "refusal of early_refault_secs=0"
}

case_fault_back_is_a_memory_stall() {
	local s0 s1
	[ -r /proc/pressure/memory ] || fail "no /proc/pressure/memory (CONFIG_PSI)"
	ps_ready
	hot_start 64 0 psi
	check ps-migrate --pid $HOT_PID --range "$HOT_RANGE" >/dev/null
	s0=$(sed -n 's/^some .*total=\([0-9]*\)$/\1/p' /proc/pressure/memory)
	hot_finish $HOT_PID psi
	s1=$(sed -n 's/^some .*total=\([0-9]*\)$/\1/p' /proc/pressure/memory)
	info "PSI some total: $s0 -> $s1 us over the fault-back of 64 MiB"
	[ "$s1" -gt "$s0" ] || fail "bringing 64 MiB back from VRAM added no memory stall to PSI ($s0 -> $s1 us)"
}

case_hot_memory_comes_back_and_stays() {
	local e0 early resident others steps0
	tierd_kill_stale
	ps_ready
	tierd_start "$TIERD_EAGER"
	hot_start 32 20 hot
	wait_until "ps-tierd parks half of the idle 32 MiB" '[ "$(resident_pages $HOT_PID "$HOT_RANGE")" -ge 4096 ]'
	# The rest of the process (its heap, data, stack) may be parked too and come back: what was
	# parked of it now, and up to 1 MiB of it parked later while the buffer is hot. Parking the
	# buffer again while it is hot would bring back a DAMON region's worth, megabytes.
	# ps-tierd goes on parking meanwhile: the buffer is counted first, so that what it parks
	# between the two counts adds to `others` (a looser bound) rather than making it negative.
	others=$(resident_pages $HOT_PID "$HOT_RANGE")
	others=$(($(ps-migrate --pid $HOT_PID --residency --all | sed -n 's/^total: \([0-9]*\) of .*/\1/p') - others))
	e0=$(stat_value early_refaults)
	steps0=$(wc -l <$TIERD_LOG)
	# It turns hot: 20 s of reading all of it, over and over.
	kill -USR1 $HOT_PID
	wait_for_line /tmp/hot.out '^hot [0-9]+ passes'
	resident=$(resident_pages $HOT_PID "$HOT_RANGE")
	early=$(($(stat_value early_refaults) - e0))
	info "$(grep '^hot' /tmp/hot.out); after it: $resident pages in VRAM, $early early refaults ($others pages of the process outside the buffer were parked)"
	expect_eq "$resident" 0 "pages in VRAM after 20 s of hot use (re-parked while hot)"
	if [ "$early" -gt $((8192 + others + 256)) ]; then
		# Which of ps-tierd's steps (a report a second) parked while the buffer was hot, and what
		# DAMON and its ledger said then (how the TLB flush in `ps-test hot` was found).
		tail -n +$((steps0 + 1)) $TIERD_LOG | grep -n '"parked":[1-9]' | while IFS=: read -r n line; do
			info "ps-tierd step $n of the hot phase: $(echo "$line" |
				grep -oE '"(parked|requests|cold|cold_in_ram|parked_blocks|cold_age_secs)":[0-9.]+' | tr '\n' ' ')"
		done
		fail "$early early refaults for a 8192-page buffer and $others other parked pages: pages went back to VRAM while hot"
	fi
	hot_finish $HOT_PID hot
	tierd_stop
}

case_quality_loop_raises_cold_age() {
	local pid age rate
	tierd_kill_stale
	ps_ready
	tierd_start "$(echo "$TIERD_EAGER" | sed 's/^quality_window_secs = .*/quality_window_secs = 10/')"
	# The adversary: whatever gets parked is read back at once.
	ps-test pingpong 32 3 >/tmp/pingpong.out 2>&1 &
	pid=$!
	wait $pid || fail "pingpong: $(cat /tmp/pingpong.out)"
	wait_until "a quality step after the last round" "[ \$(grep -c '\"early_refault_rate\":[0-9]' $TIERD_LOG) -ge 1 ]"
	age=$(grep -o '"cold_age_secs":[0-9.]*' $TIERD_LOG | cut -d: -f2 | sort -g | tail -n 1)
	rate=$(grep -o '"early_refault_rate":[0-9.e-]*' $TIERD_LOG | cut -d: -f2 | sort -g | tail -n 1)
	info "$(grep -c '^round' /tmp/pingpong.out) rounds parked and read back; cold age 3 s -> $age s; worst early refault rate $rate per minute"
	awk -v a="$age" 'BEGIN { exit !(a > 3) }' || fail "the cold age stayed at $age s under early refaults"
	awk -v r="$rate" 'BEGIN { exit !(r > 0.002) }' || fail "early refault rate $rate never exceeded the 0.2% target"
	tierd_stop
}

case_excluded_processes_untouched() {
	local a b c
	tierd_kill_stale
	grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || check mount -t cgroup2 none /sys/fs/cgroup
	mkdir -p /sys/fs/cgroup/keep
	cp /usr/bin/ps-test /tmp/keepme
	ps_ready
	tierd_start "$TIERD_EAGER
[exclude]
comm = [\"keepme\"]
cgroup = [\"/keep\"]"
	hot_start 16 0 incl
	a=$HOT_PID a_range=$HOT_RANGE
	hot_start 16 0 bycomm /tmp/keepme
	b=$HOT_PID b_range=$HOT_RANGE
	sh -c 'echo $$ >/sys/fs/cgroup/keep/cgroup.procs && exec ps-test hot 16 0' >/tmp/bycg.out 2>&1 &
	c=$!
	wait_for_line /tmp/bycg.out '^filled '
	c_range=$(sed -n 's/^filled //p' /tmp/bycg.out)
	expect_eq "$(cat /proc/$c/cgroup)" "0::/keep" "cgroup of the excluded process"
	wait_until "ps-tierd parks half of the included process" '[ "$(resident_pages $a "$a_range")" -ge 2048 ]'
	# Some more steps, then neither excluded process has a page in VRAM or was ever monitored.
	local steps
	steps=$(wc -l <$TIERD_LOG)
	wait_until "5 more steps" "[ \$(wc -l <$TIERD_LOG) -ge $((steps + 5)) ]"
	expect_eq "$(resident_pages $b "$b_range")" 0 "pages of the process excluded by name in VRAM"
	expect_eq "$(resident_pages $c "$c_range")" 0 "pages of the process in the excluded cgroup in VRAM"
	grep -qE "\"monitored\":\[[0-9,]*\<($b|$c)\>" $TIERD_LOG && fail "ps-tierd monitored an excluded process"
	grep -qE "\"monitored\":\[[0-9,]*\<$a\>" $TIERD_LOG || fail "ps-tierd never monitored the included process"
	hot_finish $a incl
	hot_finish $b bycomm
	hot_finish $c bycg
	tierd_stop
}

case_full_vram_stops_parking() {
	local total before
	tierd_kill_stale
	ps_ready pool_size_mb=16
	tierd_start "$TIERD_EAGER"
	hot_start 48 0 full
	wait_until "ps-tierd finds VRAM full" '[ "$(tierd_last state)" = "\"vram_full\"" ]'
	total=$(tierd_last parked_total)
	before=$(wc -l <$TIERD_LOG)
	wait_until "3 more steps" "[ \$(wc -l <$TIERD_LOG) -ge $((before + 3)) ]"
	expect_eq "$(tierd_last parked_total)" "$total" "bytes parked after VRAM was found full"
	expect_eq "$(tierd_last state)" '"vram_full"' "state while VRAM stays full"
	kill -0 "$TIERD_PID" || fail "ps-tierd died"
	info "parked $total bytes into a 16 MiB pool, then stopped; $(cat /sys/module/$MODULE/pool/free_pages) pages free"
	[ "$(cat /sys/module/$MODULE/pool/free_pages)" -ge 1024 ] || fail "ps-tierd parked into the 4 MiB VRAM reserve"
	[ "$(resident_pages $HOT_PID "$HOT_RANGE")" -le 4096 ] || fail "more pages in VRAM than the pool holds"
	hot_finish $HOT_PID full
	tierd_stop
}

case_unbind_with_tierd_running() {
	local bdf
	tierd_kill_stale
	bdf=$(ivshmem_bdf)
	ps_ready
	tierd_start "$TIERD_EAGER"
	hot_start 32 0 unbind
	wait_until "ps-tierd parks half of it" '[ "$(resident_pages $HOT_PID "$HOT_RANGE")" -ge 4096 ]'
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	wait_until "ps-tierd sees no GPU" '[ "$(tierd_last state)" = "\"no_gpu\"" ]'
	hot_finish $HOT_PID unbind
	kill -0 "$TIERD_PID" || fail "ps-tierd died across the unbind"
	tierd_stop
}
