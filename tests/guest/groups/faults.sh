# SPDX-License-Identifier: GPL-2.0
# Fault injection on the debug kernel: failslab and fail_page_alloc aimed at the module's code.
# Probe fails at each of its allocations in turn and leaves nothing behind; park / fault-back /
# to-RAM loops, a fuzz run and an unbind under random allocation failures keep every byte, give
# only documented errors, and every pool page comes back.
# vm: kernel debug
# vm: ivshmem 256M
# vm: timeout 900

# The kernel reports each failed allocation it would otherwise warn about (warn_alloc); here they
# are the point, so their stack dumps do not fail a case.
EXPECT_ALLOC_FAILURES=1

# pool_full: every pool page is free again.
pool_full() {
	expect_eq "$(cat /sys/module/$MODULE/pool/free_pages)" "$(cat /sys/module/$MODULE/pool/total_pages)" "free pool pages $1"
}

case_probe_fails_cleanly_at_each_allocation() {
	ps_ready
	local bdf n=1 left sites=0 survived=0
	bdf=$(ivshmem_bdf)
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	faults_aim 0
	echo "failing allocations with module code $FAULTS_RANGE on the stack"
	dmesg_mark
	# fail-nth N fails the Nth such allocation of the binding task; when the Nth is never
	# reached, every allocation of the probe has been failed once.
	while [ $n -le 400 ]; do
		left=$(sh -c "echo $n >/proc/self/fail-nth; echo $bdf >$DRIVER_DIR/bind; read left </proc/self/fail-nth; echo \$left" 2>/dev/null)
		[ "$left" = 0 ] || break
		sites=$((sites + 1))
		if [ "$(bound_driver "$bdf")" = "$MODULE" ]; then
			# The probe got over the failure (a fallback allocation): it must work.
			survived=$((survived + 1))
			scenario migrate
			check sh -c "echo $bdf > $DRIVER_DIR/unbind"
		fi
		grep -q " : $MODULE" /proc/iomem && fail "allocation $n failed: /proc/iomem keeps $(grep " : $MODULE" /proc/iomem)"
		expect_eq "$(cat /sys/module/$MODULE/pool/total_pages)" "0" "pool after failed probe $n"
		n=$((n + 1))
	done
	[ $n -le 400 ] || fail "the probe made more than 400 allocations"
	faults_off
	[ $sites -gt 0 ] || fail "no allocation of the probe was failed"
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "bound after the sweep"
	info "probe: each of its $sites allocations with module code on the stack failed in turn ($survived survived); no trace left"
	dmesg_since | grep -E "pseudoscopic|probe" | sort | uniq -c | sort -rn | head -n 20
	scenario migrate
	pool_full "after the sweep"
}

case_migration_loops_under_faults() {
	ps_ready
	faults_aim 20
	dmesg_mark
	local out
	out=$(ps-test faults) || fail "ps-test faults: $out"
	faults_off
	echo "$out"
	info "$(echo "$out" | grep ' rounds: '); $(faults_injected) failures injected"
	[ "$(faults_injected)" -gt 0 ] || fail "no failure was injected"
	pool_full "after the loops"
}

case_fuzz_under_faults() {
	ps_ready
	faults_aim 10
	dmesg_mark
	local out
	out=$(sh -c "echo 1 >/proc/self/make-it-fail; exec ps-fuzz --seed $(guest_arg seed 3) --duration $(guest_arg duration 40) --threads 2 --allow-enomem") ||
		fail "ps-fuzz under faults: $out"
	faults_off
	echo "$out"
	info "$(echo "$out" | head -n 1); $(faults_injected) failures injected"
	[ "$(faults_injected)" -gt 0 ] || fail "no failure was injected"
	pool_full "after fuzzing"
}

case_unbind_under_faults() {
	ps_ready
	local bdf pid
	bdf=$(ivshmem_bdf)
	ps-test hold 16 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 4096 pages"
	faults_aim 50
	dmesg_mark
	# The unbinding task fails half its allocations: eviction must still bring every page back.
	check sh -c "echo 1 >/proc/self/make-it-fail; echo $bdf > $DRIVER_DIR/unbind"
	faults_off
	expect_dmesg "$bdf: moved 4096 pages \(16384 KiB\) back to RAM" "eviction line"
	info "unbind with 16 MiB parked, $(faults_injected) failures injected into the unbinding task"
	kill -USR1 $pid
	wait $pid || fail "process lost data across the unbind: $(cat /tmp/hold.out)"
	check rmmod $MODULE
}

case_no_kmemleak_reports() { kmemleak_check; }
