# SPDX-License-Identifier: GPL-2.0
# Races: concurrent migrations of the same pages, CPU faults, forks, and an unbind in the middle of
# all of it. ps-stress checks every byte after every step.
# vm: ivshmem 256M

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
	ps-stress --threads 4 --size 1M --steps 5000 --seed 11 >/tmp/stress.out 2>&1 &
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
