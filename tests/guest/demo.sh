#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The `make run` demo: a workload that needs more memory than the VM has free runs to the end
# because ps-migrate parks its cold part in (emulated) VRAM. Ends with "demo: PASS" or
# "demo: FAIL: reason"; the host script turns that into its exit status.
. /tests/lib.sh

step() { printf '\n==> %s\n' "$*"; }
kernel_says() { dmesg_since | grep "$MODULE" | sed 's/^\[[^]]*\] /    dmesg: /'; }
meminfo() { grep -E '^(MemTotal|MemFree|MemAvailable|AnonPages):' /proc/meminfo | sed 's/^/    /'; }
demo_fail() {
	echo "demo: FAIL: $*"
	exit 1
}
# The state field of /proc/PID/stat (R, S, T, Z, ...).
proc_state() { sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null; }

dmesg_mark
gpu=$(guest_arg gpu "")
if [ -n "$gpu" ]; then
	pool_mb=$(guest_arg pool_mb 0)
	step "modprobe $MODULE pool_size_mb=$pool_mb: the emulated NVIDIA board (gpu-model $gpu) binds through the ID table"
	modprobe $MODULE pool_size_mb="$pool_mb" || demo_fail "modprobe failed"
	[ -n "$(ls $DRIVER_DIR | grep '^0000:')" ] || demo_fail "the emulated $gpu did not bind: $(dmesg_since)"
else
	step "modprobe $MODULE, then bind the emulated VRAM device ($IVSHMEM_ID) through new_id"
	modprobe $MODULE || demo_fail "modprobe failed"
	echo "$IVSHMEM_ID" >$DRIVER_DIR/new_id || demo_fail "binding the emulated VRAM failed"
fi
kernel_says
ps-status || demo_fail "ps-status failed"

# More than the VM has available: the cold part alone does not fit.
chunk=64
avail=$(($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024))
cold=$(((avail / chunk + 2) * chunk))
hot=64
step "/proc/meminfo before: $avail MiB available; the workload will write $cold MiB of cold data in $chunk MiB chunks, then $hot MiB it keeps working on"
meminfo

ps-test workload $cold $chunk $hot >/tmp/workload.out 2>&1 &
pid=$!
# wait_stopped WHAT: waits until the workload stops itself (SIGSTOP) after WHAT.
wait_stopped() {
	local n=0
	while [ "$(proc_state $pid)" != T ]; do
		[ -d /proc/$pid ] || demo_fail "the workload ended early: $(cat /tmp/workload.out)"
		n=$((n + 1))
		[ $n -lt 6000 ] || demo_fail "the workload never stopped after $1"
		sleep 0.1
	done
}
i=0
while [ $i -lt $((cold / chunk)) ]; do
	wait_stopped "chunk $i"
	range=$(sed -n "s/^cold $i //p" /tmp/workload.out)
	[ -n "$range" ] || demo_fail "the workload did not say where chunk $i is: $(cat /tmp/workload.out)"
	echo "    chunk $i at $range written; parking it:"
	ps-migrate --pid $pid --range "$range" --to vram --progress >/tmp/migrate.out 2>&1 ||
		demo_fail "ps-migrate failed: $(cat /tmp/migrate.out)"
	tr '\r' '\n' </tmp/migrate.out | grep -E '100%|^total' | sed 's/^/      /'
	kill -CONT $pid
	i=$((i + 1))
done
wait_stopped "its hot data"

step "ps-status while the cold part is parked and the hot part is in RAM"
ps-status
echo "    residency of the workload:"
ps-migrate --pid $pid --residency --all | tail -n 1 | sed 's/^/      /'
step "/proc/meminfo after parking $cold MiB"
meminfo

step "the workload checks every byte: cold chunks come back from VRAM on first touch"
kill -CONT $pid
wait $pid
rc=$?
sed 's/^/    /' /tmp/workload.out
[ $rc -eq 0 ] || demo_fail "the workload exited with status $rc"
grep -q "^workload $cold $chunk $hot: ok" /tmp/workload.out || demo_fail "the workload did not confirm its data"

step "statistics"
for f in /sys/module/$MODULE/stats/*; do printf '    %-22s %s\n' "$(basename "$f")" "$(cat "$f")"; done
[ "$(stat_value migrations_to_device)" -ge $((cold * 256)) ] || demo_fail "fewer pages moved to VRAM than parked"
[ "$(stat_value page_faults)" -gt 0 ] || demo_fail "no page faults brought data back"

step "unbind the GPU and unload the module"
dmesg_mark
cleanup_module
kernel_says
ps-status
echo
echo "demo: PASS ($cold MiB parked and brought back, every byte checked)"
