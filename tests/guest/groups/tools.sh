# SPDX-License-Identifier: GPL-2.0
# The user-space tools as a user meets them: --help, exit statuses and errors (module not loaded,
# no permission, bad pid), --json, ps-status --watch, ps-migrate ranges, progress and `run`, the
# ps-test self-test and ps-stress --duration; every move checked byte for byte.
# vm: ivshmem 256M
# vm: timeout 900

TOOL_NAMES="ps-status ps-migrate ps-test ps-stress"

# exit_status CMD...: runs CMD with its output in /tmp/out, prints its exit status.
exit_status() {
	"$@" >/tmp/out 2>&1
	echo $?
}

# A user with uid/gid 1000 that su can switch to, and a pseudoscopic group (gid 1000).
add_user() {
	grep -q '^user:' /etc/passwd 2>/dev/null && return 0
	echo 'root:x:0:0:root:/root:/bin/sh' >>/etc/passwd
	echo 'user:x:1000:1000:user:/tmp:/bin/sh' >>/etc/passwd
	echo 'root:x:0:' >>/etc/group
	echo 'pseudoscopic:x:1000:' >>/etc/group
}

# hold MIB: starts `ps-test hold MIB` (parks MIB MiB and waits for SIGUSR1); its pid is $HOLD_PID.
hold() {
	ps-test hold "$1" >/tmp/hold.out 2>&1 &
	HOLD_PID=$!
	wait_for_line /tmp/hold.out "^parked"
}

# held_range: the START+LENGTH that `ps-test hold` reported parking.
held_range() { sed -n 's/^parked [0-9]* pages at //p' /tmp/hold.out; }

case_help_matches_usage_errors() {
	local t out
	for t in $TOOL_NAMES; do
		out=$($t --help) || fail "$t --help failed"
		expect_match "$out" "^Usage: $t " "$t --help"
		expect_match "$out" "^Exit status: 0 " "$t --help documents exit statuses"
		expect_eq "$(exit_status $t --no-such-option)" 2 "$t with a bad option"
		grep -q "^$t: unexpected argument '--no-such-option'" /tmp/out || fail "$t names the bad option: $(cat /tmp/out)"
	done
	expect_eq "$(exit_status ps-migrate --pid 1)" 2 "ps-migrate without --range/--all"
	expect_eq "$(exit_status ps-migrate --pid 1 --range 0x2000-0x1000)" 2 "ps-migrate with a backwards range"
	expect_eq "$(exit_status ps-migrate --pid 1 --all --to disk)" 2 "ps-migrate --to disk"
	expect_eq "$(exit_status ps-stress --threads 0)" 2 "ps-stress --threads 0"
	expect_eq "$(exit_status ps-test no_such_scenario)" 2 "ps-test with an unknown scenario"
}

case_module_not_loaded() {
	local t
	expect_eq "$(exit_status ps-status)" 3 "ps-status exit status"
	expect_eq "$(cat /tmp/out)" "pseudoscopic: not loaded" "ps-status output"
	expect_eq "$(exit_status ps-status --json)" 3 "ps-status --json exit status"
	expect_eq "$(cat /tmp/out)" '{"loaded":false}' "ps-status --json output"
	for t in "ps-migrate --pid 1 --all" "ps-test" "ps-stress --steps 1"; do
		expect_eq "$(exit_status $t)" 3 "$t without the module"
		grep -q "module is not loaded (sudo modprobe pseudoscopic)" /tmp/out || fail "$t: $(cat /tmp/out)"
	done
}

case_permission_and_group_access() {
	add_user
	ps_ready
	expect_eq "$(stat -c %a /dev/$MODULE)" 600 "mode of /dev/$MODULE"
	expect_eq "$(exit_status su user -c 'ps-migrate --pid $$ --all')" 4 "uid 1000 without access"
	grep -q "run as root or as a member of the pseudoscopic group" /tmp/out || fail "no-permission message: $(cat /tmp/out)"
	expect_eq "$(exit_status su user -c 'ps-stress --steps 1')" 4 "ps-stress as uid 1000"
	expect_eq "$(exit_status su user -c 'ps-test migrate')" 4 "ps-test as uid 1000"
	# What the udev rule does: group pseudoscopic, mode 0660. A member parks its own memory.
	check chgrp pseudoscopic /dev/$MODULE
	check chmod 0660 /dev/$MODULE
	expect_eq "$(exit_status su user -c 'ps-stress --threads 2 --size 256K --steps 40')" 0 "ps-stress as a pseudoscopic group member"
	grep -q '^ok$' /tmp/out || fail "ps-stress as a group member: $(cat /tmp/out)"
	# ... but not root's: ptrace-style access is still needed for another process.
	hold 4
	local pid=$HOLD_PID
	expect_eq "$(exit_status su user -c "ps-migrate --pid $pid --range $(held_range) --to ram")" 4 "group member moving root's memory"
	grep -q "Operation not permitted" /tmp/out || fail "EPERM not reported: $(cat /tmp/out)"
	kill -USR1 $pid
	wait $pid || fail "held process: $(cat /tmp/hold.out)"
}

case_bad_pid() {
	ps_ready
	expect_eq "$(exit_status ps-migrate --pid 999999 --all)" 5 "ps-migrate of a pid that does not exist"
	grep -q "no process with pid 999999" /tmp/out || fail "bad pid message: $(cat /tmp/out)"
	expect_eq "$(exit_status ps-migrate --pid 999999 --range 0x10000+4K)" 5 "a range of a pid that does not exist"
	expect_eq "$(exit_status ps-migrate --pid 0 --all)" 2 "pid 0"
	expect_eq "$(exit_status ps-migrate --pid -5 --all)" 2 "a negative pid"
	# A range that is not mapped: the kernel's EFAULT, exit status 1.
	expect_eq "$(exit_status ps-migrate --pid $$ --range 0x10000+64K)" 1 "an unmapped range"
	grep -q "Bad address" /tmp/out || fail "EFAULT not reported: $(cat /tmp/out)"
}

case_ps_status_json_and_watch() {
	local bdf out n
	bdf=$(ivshmem_bdf)
	ps_ready
	out=$(ps-status --json) || fail "ps-status --json failed"
	echo "$out"
	expect_match "$out" '^\{"loaded":true,"parameters":\{"bar_index":"-1",[^}]*"pool_size_mb":"0",[^}]*"scrub":"Y"[^}]*\},"copy_path":"[a-z0-9_.-]+","device_total_kb":262144,"device_free_kb":262144,' "ps-status --json header"
	expect_match "$out" "\"copy_path\":\"$(cat /sys/module/$MODULE/stats/copy_path)\"" "copy path from sysfs"
	expect_match "$out" "\"gpus\":\[\{\"address\":\"$bdf\",\"vendor\":\"1af4\",\"device\":\"1110\",\"index\":0,\"vram_bar\":\{\"start\":[0-9]+,\"end\":[0-9]+,\"size\":268435456\},\"pool\":\{\"total_pages\":65536,\"free_pages\":65536," "ps-status --json GPU"
	expect_match "$out" '"stats":\{"migrations_to_ram":0,' "ps-status --json counters"
	out=$(ps-status) || fail "ps-status failed"
	expect_match "$out" "^copy path: $(cat /sys/module/$MODULE/stats/copy_path)$" "copy path line"
	expect_match "$out" "^    stats: migrations_to_ram=0 " "per-GPU counters"
	# --watch: a report per interval, the second one after pages moved.
	ps-status --watch --interval 1 --count 3 >/tmp/watch.out &
	local watcher=$!
	sleep 0.3
	check ps-test migrate_multiple >/dev/null
	wait $watcher || fail "ps-status --watch failed"
	expect_eq "$(grep -c '^pseudoscopic: loaded' /tmp/watch.out)" 3 "reports printed by --watch --count 3"
	n=$(grep -c "^stats: migrations_to_ram=0 migrations_to_device=0 " /tmp/watch.out)
	[ "$n" -lt 3 ] || fail "--watch did not refresh: $(cat /tmp/watch.out)"
	out=$(ps-status --json --watch --interval 0.2 --count 2) || fail "ps-status --json --watch"
	expect_eq "$(echo "$out" | grep -c '^{"loaded":true,')" 2 "JSON lines from --json --watch"
	expect_eq "$(exit_status ps-status --count 2)" 2 "--count without --watch"
}

case_ps_migrate_ranges_progress_json() {
	local pid range out
	ps_ready
	hold 64
	pid=$HOLD_PID
	range=$(held_range)
	expect_match "$range" "^0x[0-9a-f]+\+$((64 << 20))$" "range of the held buffer"
	out=$(ps-migrate --pid $pid --range "$range" --residency --json) || fail "residency: $out"
	expect_match "$out" '"action":"residency",.*"total":\{"pages":16384,"resident":16384\}' "residency JSON"
	ps-migrate --pid $pid --range "$range" --to ram --progress >/tmp/migrate.out 2>/tmp/progress.out ||
		fail "--to ram: $(cat /tmp/migrate.out /tmp/progress.out)"
	cat /tmp/migrate.out
	expect_match "$(cat /tmp/migrate.out)" "^total: moved 16384 pages \(64.0 MiB\), skipped 0$" "pages moved back"
	# 64 MiB in 16 MiB requests: the bar reached 100% and the counters add up.
	tr '\r' '\n' </tmp/progress.out | grep -q '^\[#*\] 100% 64.0 MiB/64.0 MiB$' || fail "no complete progress bar: $(cat /tmp/progress.out)"
	local start=${range%+*}
	out=$(ps-migrate --pid $pid --range "$start-$(printf '%#x' $((start + (32 << 20))))" --range "$((start + (32 << 20)))+32M" --to vram --json) ||
		fail "--to vram --json: $out"
	echo "$out"
	expect_match "$out" '^\{"pid":[0-9]+,"action":"vram","ranges":\[\{"start":[0-9]+,"end":[0-9]+,"counters":\{"moved":8192,.*"error":null\},\{.*"moved":8192,.*"total":\{"moved":16384,"skipped_resident":0,' "two ranges to VRAM as JSON"
	expect_eq "$(ps-migrate --pid $pid --range "$range" --residency | tail -n 1)" "total: 16384 of 16384 pages in VRAM" "residency after parking again"
	# Without --progress and without a terminal: no bar.
	ps-migrate --pid $pid --range "$range" --to ram >/dev/null 2>/tmp/progress.out || fail "--to ram again"
	[ -s /tmp/progress.out ] && fail "a progress bar without a terminal: $(cat /tmp/progress.out)"
	kill -USR1 $pid
	wait $pid || fail "held process found its memory changed: $(cat /tmp/hold.out)"
	grep -q "^all $((64 << 20)) bytes intact" /tmp/hold.out || fail "no verdict: $(cat /tmp/hold.out)"
}

case_ps_migrate_run_parks_a_command() {
	local f0
	ps_ready
	f0=$(stat_value page_faults)
	ps-migrate run --after 2 -- ps-stress --duration 5 --threads 2 --size 4M >/tmp/run.out 2>/tmp/run.err ||
		fail "ps-migrate run: $(cat /tmp/run.out /tmp/run.err)"
	cat /tmp/run.out /tmp/run.err
	grep -q '^ok$' /tmp/run.out || fail "ps-stress under run did not check out: $(cat /tmp/run.out)"
	grep -qE "^ps-migrate: parked [0-9]+ pages \(.*\) of pid [0-9]+ in [0-9]+ ranges(, [0-9]+ ranges unmapped meanwhile)?$" /tmp/run.err || fail "no parking report: $(cat /tmp/run.err)"
	local parked
	parked=$(sed -n 's/^ps-migrate: parked \([0-9]*\) pages.*/\1/p' /tmp/run.err)
	# At least one 4 MiB region was written before the park (how many, and how much of them is
	# in flight at that moment, depends on how fast the guest runs).
	[ "$parked" -ge 1024 ] || fail "only $parked pages parked"
	[ "$(stat_value page_faults)" -gt "$f0" ] || fail "the command never faulted parked pages back"
	# The command's exit status is run's.
	expect_eq "$(exit_status ps-migrate run --after 0.1 -- sh -c 'sleep 0.5; exit 7')" 7 "exit status of the command"
	expect_eq "$(exit_status ps-migrate run -- sh -c 'exit 3')" 3 "a command that exits before it is parked"
	grep -q "exited before it was parked" /tmp/out || fail "no early-exit note: $(cat /tmp/out)"
	expect_eq "$(exit_status ps-migrate run -- /no/such/command)" 1 "a command that does not exist"
}

case_ps_test_self_test() {
	local out
	ps_ready
	out=$(ps-test) || fail "self-test failed: $out"
	echo "$out"
	expect_match "$out" "^migrate: ok$" "self-test runs migrate"
	expect_match "$out" "^bad_input: ok$" "self-test runs bad_input"
	expect_match "$out" "^$(ps-test list | grep -c ' \*$') passed, 0 failed$" "every self-test scenario passed"
	out=$(ps-test --json to_ram gup) || fail "ps-test --json: $out"
	expect_eq "$out" '{"results":[{"scenario":"to_ram","ok":true,"error":null},{"scenario":"gup","ok":true,"error":null}],"passed":2,"failed":0}' "ps-test --json"
}

case_ps_test_reports_failure() {
	# No GPU bound: every ioctl gets ENODEV, so the scenario fails with exit status 1.
	load_module
	expect_eq "$(exit_status ps-test --json migrate)" 1 "ps-test with no GPU"
	expect_match "$(cat /tmp/out)" '^\{"results":\[\{"scenario":"migrate","ok":false,"error":".*No such device.*"\}\],"passed":0,"failed":1\}$' "failure as JSON"
}

case_ps_stress_duration_summary() {
	local out
	ps_ready
	out=$(ps-stress --duration 3 --threads 2 --size 1M --seed 5) || fail "ps-stress: $out"
	echo "$out"
	expect_match "$out" "^[1-9][0-9]* steps on 2 threads: [0-9]+ pages parked" "steps line"
	expect_match "$out" "^operations: [1-9][0-9]* park requests, [0-9]+ to-RAM requests, [0-9]+ rewrites, [1-9][0-9]* munmaps, [0-9]+ forks in [3-9]\.[0-9] s$" "operations line"
	expect_match "$out" "^bytes moved by request: [0-9.]+ [KMG]iB to VRAM, [0-9.]+ (B|[KMG]iB) to RAM; [0-9.]+ [KMG]iB checked$" "bytes line"
	# How many steps fit in 3 s (and so whether one faulted) depends on the host's load: the line's
	# form is checked here, the counters' movement by the stress group.
	expect_match "$out" "^module counters over the run: [0-9]+ page faults, " "module counters line"
	out=$(ps-stress --steps 20 --threads 2 --size 256K --json) || fail "ps-stress --json: $out"
	expect_match "$out" '^\{"threads":2,"seconds":[0-9.]+,"steps":40,"operations":\{"park_requests":[0-9]+,.*"module_counters":\{"migrations_to_ram":[0-9]+,.*\},"ok":true\}$' "ps-stress --json"
}
