# SPDX-License-Identifier: GPL-2.0
# Races: concurrent migrations of the same pages, CPU faults, forks, and an unbind in the middle of
# all of it. ps-stress checks every byte after every step.
# vm: ivshmem 256M
# vm: timeout 1200

case_concurrent_migrations_faults_forks() {
	ps_ready
	local out
	out=$(ps-stress --threads 4 --size 1M --steps 150 --seed 7) || fail "ps-stress: $out"
	echo "$out"
	expect_match "$out" "^600 steps on 4 threads: [1-9][0-9]* pages parked" "ps-stress summary"
	expect_eq "$(cat /sys/module/$MODULE/pool/free_pages)" "$(cat /sys/module/$MODULE/pool/total_pages)" "pool after ps-stress"
}

case_unbind_during_stress() {
	ps_ready
	local bdf pid
	bdf=$(ivshmem_bdf)
	# Bounded by time as well as steps: every step checks every byte (and forks check too), so
	# 4 x 5000 steps can take longer than the group's limit on a busy host.
	ps-stress --threads 4 --size 1M --steps 5000 --duration 120 --seed 11 >/tmp/stress.out 2>&1 &
	pid=$!
	local i=0
	while [ "$(stat_value migrations_to_device)" -lt 1000 ]; do
		i=$((i + 1))
		[ $i -lt 1200 ] || fail "ps-stress never got going: $(cat /tmp/stress.out)"
		sleep 0.1
	done
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	wait $pid || fail "ps-stress across unbind: $(cat /tmp/stress.out)"
	cat /tmp/stress.out
	grep -qE "[1-9][0-9]* requests found no GPU" /tmp/stress.out || fail "the unbind did not happen during the run"
	check rmmod $MODULE
}

# pool_full WHEN: every pool page is free again.
pool_full() {
	expect_eq "$(cat /sys/module/$MODULE/pool/free_pages)" "$(cat /sys/module/$MODULE/pool/total_pages)" "free pool pages $1"
}

# stress_sum FILE...: the ps-stress --json summaries in FILEs, added up.
stress_sum() {
	cat "$@" | sed -n 's/^{.*"steps":\([0-9]*\).*"forks":\([0-9]*\).*"bytes_to_vram":\([0-9]*\),"bytes_to_ram":\([0-9]*\),"bytes_checked":\([0-9]*\).*/\1 \2 \3 \4 \5/p' |
		awk '{s += $1; f += $2; p += $3 / 4096; b += $4 / 4096; v += $5}
		END {printf "%.0f steps, %.0f pages parked, %.0f brought back, %.0f forks checked, %.0f bytes verified\n", s, p, b, f, v}'
}

case_many_processes_and_threads() {
	ps_ready
	local i pid pids=""
	for i in 1 2 3 4; do
		ps-stress --threads 4 --size 1M --steps 60 --seed $((20 + i)) --json >/tmp/stress.$i 2>&1 &
		pids="$pids $!"
	done
	i=1
	for pid in $pids; do
		wait $pid || fail "ps-stress process $i: $(cat /tmp/stress.$i)"
		i=$((i + 1))
	done
	cat /tmp/stress.?
	info "4 processes x 4 threads: $(stress_sum /tmp/stress.?)"
	pool_full "after the processes exit"
}

case_fork_storm_over_parked_memory() {
	ps_ready
	local out
	out=$(ps-test fork_storm) || fail "ps-test fork_storm: $out"
	echo "$out"
	info "$(echo "$out" | grep ' waves: ')"
	pool_full "after the storm"
}

case_unbind_rebind_under_load() {
	ps_ready
	local bdf pid cycles=0 moved
	bdf=$(ivshmem_bdf)
	ps-stress --threads 4 --size 1M --steps 3000 --seed 31 --json >/tmp/stress.out 2>&1 &
	pid=$!
	while [ $cycles -lt 5 ] && kill -0 $pid 2>/dev/null; do
		moved=$(stat_value migrations_to_device)
		wait_until "ps-stress parks pages again" \
			"[ \$(stat_value migrations_to_device) -gt $((moved + 100)) ] || ! kill -0 $pid 2>/dev/null"
		check sh -c "echo $bdf > $DRIVER_DIR/unbind"
		sleep 0.2
		check sh -c "echo $bdf > $DRIVER_DIR/bind"
		expect_eq "$(bound_driver "$bdf")" "$MODULE" "bound again"
		cycles=$((cycles + 1))
	done
	wait $pid || fail "ps-stress across unbind/rebind: $(cat /tmp/stress.out)"
	cat /tmp/stress.out
	[ $cycles -ge 3 ] || fail "only $cycles unbind/rebind cycles happened while ps-stress ran"
	info "$cycles unbind/rebind cycles under 4 threads: $(stress_sum /tmp/stress.out)"
	pool_full "after the run"
}

case_rmmod_refused_while_in_use() {
	ps_ready
	local pid i
	# In use twice over: an open descriptor here, and ps-stress parking and faulting meanwhile.
	exec 3</dev/$MODULE
	ps-stress --threads 2 --size 1M --steps 300 --seed 41 --json >/tmp/stress.out 2>&1 &
	pid=$!
	wait_until "ps-stress parks pages" "[ \$(stat_value migrations_to_device) -gt 0 ]"
	for i in 1 2 3 4 5; do
		check_fails rmmod $MODULE
		is_loaded || fail "rmmod removed the module while it was in use"
		sleep 0.2
	done
	wait $pid || fail "ps-stress during rmmod attempts: $(cat /tmp/stress.out)"
	check_fails rmmod $MODULE
	exec 3<&-
	cat /tmp/stress.out
	info "6 rmmod attempts refused while in use, 5 of them under load: $(stress_sum /tmp/stress.out)"
	check rmmod $MODULE
}

# A CI-length soak (60 s); longer on demand: PS_GUEST_ARGS="ps.soak=3600" (ps-stress --duration 3600).
case_soak() {
	ps_ready
	local seconds
	seconds=$(guest_arg soak 60)
	ps-stress --threads 4 --size 2M --duration "$seconds" --seed 101 --json >/tmp/soak.out 2>&1 ||
		fail "soak: $(tail -n 3 /tmp/soak.out)"
	cat /tmp/soak.out
	info "soak, ps-stress --duration $seconds: $(stress_sum /tmp/soak.out)"
	pool_full "after the soak"
}
