#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The `make run` demo: a workload that needs more memory than the VM has free runs to the end
# because ps-tierd parks its cold part in (emulated) VRAM, with nobody naming a process or a
# range. Ends with "demo: PASS" or
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

# More than the VM has available: the workload finishes only if its cold part leaves RAM, and
# nobody tells pseudoscopic what to park: ps-tierd finds it.
chunk=16
avail=$(mem_available_mib)
total=$(((avail + 256) / chunk * chunk))
cat >/tmp/tierd.toml <<CONF
interval_secs = 1
reserve_mib = 48
headroom_mib = 64
min_rate_mib = 128
max_rate_mib = 512
cold_age_secs = 2
min_rss_mib = 4
max_processes = 4
damon_sample_ms = 20
damon_aggr_ms = 200
CONF
step "start ps-tierd, the tiering daemon: DAMON watches every process, and while MemAvailable is short of reserve + headroom it parks what has not been touched for the cold age (here 2 s) in VRAM"
sed 's/^/    /' /tmp/tierd.toml
ps-tierd --config /tmp/tierd.toml >/tmp/tierd.out 2>&1 &
tierd=$!
step "/proc/meminfo before: $avail MiB available; the workload writes $total MiB in $chunk MiB chunks, keeps all of it, then checks every byte; it parks nothing itself"
meminfo
ps-test grow $total $chunk 400 >/tmp/workload.out 2>&1 &
pid=$!
shown=0
while [ -d /proc/$pid ] && [ "$(proc_state $pid)" != Z ]; do
	sleep 4
	written=$(sed -n 's/^wrote \([0-9]*\) MiB$/\1/p' /tmp/workload.out | tail -n 1)
	printf '    workload: %s MiB written; MemAvailable %s MiB; %s MiB in VRAM\n' "${written:-0}" \
		"$(mem_available_mib)" "$((($(cat /sys/module/$MODULE/pool/total_pages) - $(cat /sys/module/$MODULE/pool/free_pages)) / 256))"
	if [ $shown = 0 ] && [ "${written:-0}" -gt "$avail" ]; then
		shown=1
		step "ps-status with $written MiB written, more than was available: the cold part is in VRAM"
		ps-status
		meminfo
	fi
done
wait $pid
rc=$?
step "what ps-tierd did (one line per step in which it parked)"
sed 's/^/    /' /tmp/tierd.out | tail -n 12
kill -TERM $tierd
wait $tierd || demo_fail "ps-tierd exited with status $?: $(cat /tmp/tierd.out)"
step "the workload checked every byte: its cold chunks came back from VRAM on first touch"
tail -n 2 /tmp/workload.out | sed 's/^/    /'
[ $rc -eq 0 ] || demo_fail "the workload exited with status $rc"
grep -q "^checked $total MiB" /tmp/workload.out || demo_fail "the workload did not confirm its data"

step "statistics"
for f in /sys/module/$MODULE/stats/*; do printf '    %-22s %s\n' "$(basename "$f")" "$(cat "$f")"; done
[ "$(stat_value migrations_to_device)" -ge $(((total - avail) * 256 / 2)) ] || demo_fail "too little went to VRAM for the workload to fit"
[ "$(stat_value page_faults)" -gt 0 ] || demo_fail "no page faults brought data back"
parked=$(($(stat_value migrations_to_device) / 256))

step "unbind the GPU and unload the module"
dmesg_mark
cleanup_module
kernel_says
ps-status
echo
echo "demo: PASS ($total MiB written with $avail MiB available; ps-tierd parked $parked MiB, every byte checked)"
