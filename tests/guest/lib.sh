# SPDX-License-Identifier: GPL-2.0
# Helpers for guest test cases.  A case is a shell function `case_<name>` in a group file; it runs
# in a subshell, and any helper that finds a problem prints "PSFAIL: <reason>" and exits it.

MODULE=pseudoscopic
DRIVER_DIR=/sys/bus/pci/drivers/$MODULE
PARAM_DIR=/sys/module/$MODULE/parameters
IVSHMEM_ID="1af4 1110"

# Kernel log lines that fail whatever case was running.
KERNEL_SPLAT='BUG:|WARNING:|Oops|general protection|Call Trace|KFENCE:|possible circular|possible recursive|inconsistent lock|INFO: task .* blocked|UBSAN|list_add corruption|list_del corruption|rust_panic|panicked at'
# The debug kernel's sanitizers: KASAN, debug objects, kmemleak (reported when a case scans).
KERNEL_SPLAT="$KERNEL_SPLAT|KASAN:|ODEBUG:|suspected memory leak"

# kernel_log_checked: the kernel log on stdin, less the allocation-failure reports of groups that
# inject allocation failures (EXPECT_ALLOC_FAILURES=1): warn_alloc's header line ("...,
# mode:0x...(...), nodemask=...") and its stack dump up to "</TASK>". Any other report stays.
# With EXPECT_OOM=1 (a group that provokes an OOM kill), the OOM killer's report ("... invoked
# oom-killer: ..." and its stack dump up to "</TASK>") is dropped the same way, and so is the
# allocation failure its victim may report on its way out.
kernel_log_checked() {
	if [ "${EXPECT_ALLOC_FAILURES:-0}" = 1 ]; then
		awk '/, mode:0x[0-9a-f]+\(.*\), nodemask=/ {skip = 1} !skip {print} /<\/TASK>/ {skip = 0}'
	elif [ "${EXPECT_OOM:-0}" = 1 ]; then
		awk '/ invoked oom-killer: |: page allocation failure: / {skip = 1} !skip {print} /<\/TASK>/ {skip = 0}'
	else
		cat
	fi
}

fail() {
	echo "PSFAIL: $*"
	exit 1
}

# info TEXT...: what the case measured, printed by the host with the case's result.
info() { echo "PSINFO: $*"; }

# check CMD...: CMD must succeed.
check() {
	"$@" || fail "command failed (status $?): $*"
}

# check_fails CMD...: CMD must fail.
check_fails() {
	if "$@"; then fail "command succeeded but should have failed: $*"; fi
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

# expect_match TEXT EXTENDED-REGEX WHAT
expect_match() {
	echo "$1" | grep -qE -- "$2" || fail "$3: '$1' does not match /$2/"
}

# dmesg_mark; ...; dmesg_since: the kernel log lines printed after the mark.
dmesg_mark() { DMESG_MARK=$(dmesg | wc -l); }
dmesg_since() { dmesg | tail -n +$((DMESG_MARK + 1)); }

# expect_dmesg EXTENDED-REGEX WHAT: a kernel log line since the mark matches.
expect_dmesg() {
	dmesg_since | grep -qE -- "$1" || fail "$2: no kernel log line matches /$1/"
}

. /tests/probe-line.sh

# expect_probe BDF FIELD=ERE...: the last probe line of the device at BDF since the mark has the
# format probe-line.sh parses, and each named field of it matches its ERE whole, e.g.
# `expect_probe "$bdf" chip=GP100 pages=4193472 cpu_copy='avx2|sse4\.1|io'`.
expect_probe() {
	local bdf=$1 line diff
	shift
	line=$(dmesg_since | grep -F "$MODULE $bdf: " | grep -F ' lends ' | tail -n 1)
	[ -n "$line" ] || fail "no probe line of $bdf since the mark"
	line=${line#*"$MODULE $bdf: "}
	probe_parse "$line" ||
		fail "the probe line of $bdf does not have the format probe-line.sh parses (stopped at: $probe_rest): $line"
	diff=$(probe_check "$@") || fail "probe line of $bdf: $(printf '%s\n' "$diff" | awk 'NR > 1 { printf "; " } { printf "%s", $0 }')"
}

# The PCI addresses of every device with vendor:device $1 (e.g. "1af4 1110"), in bus order.
pci_devices() {
	local vendor=0x${1% *} device=0x${1#* } d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = "$vendor" ] && [ "$(cat "$d/device")" = "$device" ] && basename "$d"
	done
}

# The Nth (from 1) emulated VRAM device.
ivshmem_bdf() { pci_devices "$IVSHMEM_ID" | sed -n "${1:-1}p"; }

# bar_field BDF BAR start|end|flags: a field of the device's resource file, in hex.
bar_field() {
	local line
	line=$(sed -n "$(($2 + 1))p" "/sys/bus/pci/devices/$1/resource")
	case "$3" in
	start) echo "$line" | awk '{print $1}' ;;
	end) echo "$line" | awk '{print $2}' ;;
	flags) echo "$line" | awk '{print $3}' ;;
	esac
}

# bound_driver BDF: the driver bound to the device, or nothing.
bound_driver() {
	[ -e "/sys/bus/pci/devices/$1/driver" ] && basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
}

is_loaded() { [ -d /sys/module/$MODULE ]; }

# load_module [PARAM=VALUE...]
load_module() { check modprobe $MODULE "$@"; }

# bind_ivshmem: let the driver take every ivshmem device (new_id), as a user would.
bind_ivshmem() { check sh -c "echo '$IVSHMEM_ID' > $DRIVER_DIR/new_id"; }

# Unbinds every device and unloads the module; quiet when nothing is loaded.
cleanup_module() {
	is_loaded || return 0
	local d
	for d in "$DRIVER_DIR"/????:??:??.?; do
		[ -e "$d" ] && echo "$(basename "$d")" >"$DRIVER_DIR/unbind"
	done
	rmmod $MODULE
}

# ps_ready [PARAM=VALUE...]: module loaded with the parameters, every ivshmem device bound,
# /dev/pseudoscopic present.
ps_ready() {
	load_module "$@"
	bind_ivshmem
	[ -c /dev/$MODULE ] || fail "/dev/$MODULE missing after load"
	[ -n "$(ls "$DRIVER_DIR" | grep -E '^[0-9a-f]{4}:')" ] || fail "no device bound"
}

# scenario NAME: runs `ps-test NAME`, which checks its own results byte for byte.
scenario() {
	ps-test "$1" || fail "ps-test $1 failed"
}

# wait_for_line FILE REGEX: waits (up to 120 s) until FILE has a line matching REGEX.
wait_for_line() {
	local i=0
	while ! grep -qE -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 1200 ] || fail "timed out waiting for /$2/ in $1: $(cat "$1")"
		sleep 0.1
	done
}

# hold_parked MIB: a process parks MIB MiB in huge pages (`ps-test hold-huge`) and holds them;
# its pid in HOLD_PID.
hold_parked() {
	ps-test hold-huge "$1" >/tmp/hold.out 2>&1 &
	HOLD_PID=$!
	wait_for_line /tmp/hold.out "^parked $(($1 << 8)) pages"
}

# hold_verified MIB WHAT: the process of hold_parked checks every byte of its MIB MiB after WHAT.
hold_verified() {
	kill -USR1 $HOLD_PID
	wait $HOLD_PID || fail "process lost data after $2: $(cat /tmp/hold.out)"
	grep -q "^all $(($1 << 20)) bytes intact" /tmp/hold.out || fail "no verdict: $(cat /tmp/hold.out)"
	info "$2: $1 MiB parked by a live process, all $(($1 << 20)) bytes verified"
}

# guest_arg NAME DEFAULT: ps.NAME=VALUE from the kernel command line (the host's PS_GUEST_ARGS),
# or DEFAULT.
guest_arg() {
	local v
	v=$(sed -n "s/.*\<ps\.$1=\([^ ]*\).*/\1/p" /proc/cmdline)
	echo "${v:-$2}"
}

# wait_until WHAT CONDITION: waits (up to 120 s) until the shell CONDITION holds.
wait_until() {
	local i=0
	while ! eval "$2"; do
		i=$((i + 1))
		[ $i -lt 1200 ] || fail "timed out waiting until $1"
		sleep 0.1
	done
}

# stat_value NAME: the module-wide counter NAME.
stat_value() { cat /sys/module/$MODULE/stats/$1; }

# The scenarios that move data both ways (those of the migrate group that need no special pool).
MIGRATION_SCENARIOS="migrate migrate_fault migrate_multiple mixed thp thp_unaligned thp_fork thp_partial_unmap thp_mremap to_ram fork gup munmap mremap threads"

# gpu_stat BDF NAME: counter NAME of the GPU at BDF.
gpu_stat() { cat "/sys/bus/pci/devices/$1/pseudoscopic/stats/$2"; }

# migration_suite BDF DMA [PARAM...]: loads the module with enable_dma=DMA and the parameters, runs
# every scenario of MIGRATION_SCENARIOS (each checks its data byte for byte) and checks who copied:
# with DMA=1 the copy engine, without a failure; with DMA=0 the CPU alone.
migration_suite() {
	local bdf=$1 dma=$2 s
	shift 2
	load_module enable_dma="$dma" "$@"
	for s in $MIGRATION_SCENARIOS; do
		scenario "$s"
	done
	if [ "$dma" = 1 ]; then
		expect_match "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/copy_engine")" \
			'^running (LCE|CE)[0-9]+ runlist [0-9]+ class 0xc[0-9a-f]b5$' "copy_engine in sysfs"
		[ "$(gpu_stat "$bdf" dma_bytes)" -gt 0 ] || fail "the copy engine copied nothing"
		expect_eq "$(gpu_stat "$bdf" dma_fail)" 0 "copy-engine failures"
	else
		expect_eq "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/copy_engine")" none "copy_engine in sysfs"
		expect_eq "$(gpu_stat "$bdf" dma_bytes)" 0 "bytes the copy engine copied with enable_dma=0"
		[ "$(gpu_stat "$bdf" cpu_copy_bytes)" -gt 0 ] || fail "the CPU copied nothing"
	fi
	expect_eq "$(stat_value dma_bytes)" "$(gpu_stat "$bdf" dma_bytes)" "module-wide dma_bytes"
}

# ce_fault_suite BDF KIND: on a board whose copy engine fails after a few batches (gpu-model
# --ce-fault), the scenarios still keep every byte, the failure is counted once and said once, and
# the CPU copies from then on.
ce_fault_suite() {
	local bdf=$1 kind=$2 s
	shift 2
	dmesg_mark
	load_module "$@"
	for s in migrate migrate_fault thp fork to_ram; do
		scenario "$s"
	done
	expect_eq "$(gpu_stat "$bdf" dma_fail)" 1 "copy-engine failures counted"
	expect_match "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/copy_engine")" '^failed ' "copy_engine in sysfs"
	expect_eq "$(stat_value dma_fail)" 1 "module-wide dma_fail"
	[ "$(gpu_stat "$bdf" dma_bytes)" -gt 0 ] || fail "the copy engine copied nothing before it failed"
	[ "$(gpu_stat "$bdf" cpu_copy_bytes)" -gt 0 ] || fail "the CPU took over nothing"
	expect_eq "$(dmesg_since | grep -cE "copy engine .* failed: $kind")" 1 "dmesg lines on the failure"
}

# park_and_unbind BDF: a process parks 64 MiB (`ps-test hold`), the device at BDF is unbound under
# it, and the process then finds every byte (eviction brought its pages back to RAM).
park_and_unbind() {
	local pid
	ps-test hold 64 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 16384 pages"
	check sh -c "echo $1 > $DRIVER_DIR/unbind"
	kill -USR1 $pid
	wait $pid || fail "process lost data across unbind: $(cat /tmp/hold.out)"
}

# scrub_on_unbind BDF BY [PARAM...]: loads the module with the parameters, parks 64 MiB, unbinds
# BDF under it (park_and_unbind) and checks dmesg says the VRAM that held it was zeroed by BY
# ("the copy engine" or "the CPU").
scrub_on_unbind() {
	local bdf=$1 by=$2
	shift 2
	dmesg_mark
	load_module "$@"
	park_and_unbind "$bdf"
	expect_dmesg "$bdf: zeroed [0-9]+ KiB of VRAM that held data, by $by" "scrub line"
}

# suspend_to_ram: suspends the guest to RAM (ACPI S3) and returns once it is awake. The host wakes
# it (groups with "# vm: qmp": run-tests.sh host_requests) after running the group's
# host_while_suspended, if it has one.
suspend_to_ram() {
	grep -q deep /sys/power/mem_sleep || fail "no suspend to RAM (S3) offered: $(cat /sys/power/mem_sleep)"
	echo deep >/sys/power/mem_sleep
	echo "PSHOST suspend" >/dev/ttyS1
	echo mem >/sys/power/state || fail "suspend to RAM failed"
}

# ---- PCI Express error injection (/dev/aer_inject, CONFIG_PCIEAER_INJECT) ----

# le32 VALUE: VALUE as four little-endian bytes in printf's octal escapes.
le32() {
	local v=$1 i
	for i in 0 8 16 24; do
		printf '\\%03o' $(((v >> i) & 255))
	done
}

# aer_error BDF UNCOR_STATUS: writes /tmp/aer_error_inj, the struct /dev/aer_inject takes for an
# uncorrectable error with that status on the device at BDF (domain 0).
aer_error() {
	local bdf=$1 bus dev fn format
	bus=$((0x$(echo "$bdf" | cut -d: -f2)))
	dev=$((0x$(echo "$bdf" | cut -d: -f3 | cut -d. -f1)))
	fn=$(echo "$bdf" | cut -d. -f2)
	# struct aer_error_inj: u8 bus, dev, fn (and a pad byte); u32 uncor_status, cor_status,
	# header_log0..3, domain.
	format=$(printf '\\%03o\\%03o\\%03o\\000' "$bus" "$dev" "$fn")
	format="$format$(le32 "$2")$(le32 0)$(le32 0)$(le32 0)$(le32 0)$(le32 0)$(le32 0)"
	# shellcheck disable=SC2059 # the format is the escaped bytes
	printf "$format" >/tmp/aer_error_inj
	expect_eq "$(wc -c </tmp/aer_error_inj)" 32 "size of struct aer_error_inj"
}

# aer_inject_written BDF: injects the error aer_error wrote and waits until the kernel's recovery of
# it (on the device at BDF) is over.
aer_inject_written() {
	check dd if=/tmp/aer_error_inj of=/dev/aer_inject bs=32 count=1 status=none
	wait_until "the recovery of $1" "dmesg_since | grep -qE 'device recovery (successful|failed)'"
	expect_dmesg "device recovery successful" "recovery of $1"
}

# aer_inject BDF UNCOR_STATUS: injects an uncorrectable error with that status on the device at
# BDF (domain 0) and waits until the kernel's recovery of it is over.
aer_inject() {
	aer_error "$1" "$2"
	aer_inject_written "$1"
}

# root_port_of BDF: the PCI address of the port above the device at BDF.
root_port_of() { basename "$(dirname "$(readlink -f "/sys/bus/pci/devices/$1")")"; }

# aer_device BDF: the device at BDF is a PCI Express endpoint with AER behind a root port.
aer_device() {
	[ -e /dev/aer_inject ] || fail "no /dev/aer_inject (CONFIG_PCIEAER_INJECT)"
	[ -e "/sys/bus/pci/devices/$1/aer_dev_fatal" ] || fail "$1 has no AER capability the kernel sees"
	info "$1 behind $(root_port_of "$1")"
}

# link_down N BDF: the PCI Express link of emulated board N (at BDF) goes down (the host signals its
# gpu-model); returns once its configuration space reads all ones.
link_down() {
	echo "PSHOST linkdown $1" >/dev/ttyS1
	wait_until "the link of $2 is down" \
		"[ \"\$(od -An -tx1 -N2 /sys/bus/pci/devices/$2/config | tr -d ' ')\" = ffff ]"
}

# mmu_hang N: the MMU of emulated board N hangs (the host signals its gpu-model): no invalidate
# completes until a reset. Returns once the host has passed it on.
mmu_hang() {
	echo "PSHOST mmuhang $1" >/dev/ttyS1
	# The host polls the results port about once a second; the guest cannot read the model's
	# state, so it gives the host a few rounds.
	sleep 5
}

# held_across WHAT CMD...: a process parks 64 MiB (`ps-test hold`), CMD runs (WHAT: a suspend, a
# reset), and the process then finds every byte; every page came back to RAM before it
# (dmesg "moved 16384 pages") and the GPU lends again after it.
held_across() {
	local what=$1 pid
	shift
	ps-test hold 64 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 16384 pages"
	dmesg_mark
	"$@"
	kill -USR1 $pid
	wait $pid || fail "process lost data across $what: $(cat /tmp/hold.out)"
	grep -q "^all $((16384 * 4096)) bytes intact" /tmp/hold.out || fail "no verdict: $(cat /tmp/hold.out)"
	info "$what: 64 MiB parked by a live process, all $((16384 * 4096)) bytes verified after"
	expect_dmesg "$what: moved 16384 pages \(65536 KiB\) back to RAM; lending paused" "eviction line"
	expect_dmesg "$what: the board is back; lending again" "resume line"
	# Lending again: the same process size parks and comes back intact.
	check ps-test migrate
}

# engine_back_after WHAT BDF: after WHAT (a suspend, a reset), the copy engine of the GPU at BDF
# runs again and carries a migration's pages, with no copy failed.
engine_back_after() {
	local before
	expect_match "$(cat "/sys/bus/pci/devices/$2/pseudoscopic/copy_engine")" '^running ' \
		"copy engine after the $1"
	before=$(gpu_stat "$2" dma_bytes)
	check ps-test migrate
	[ "$(gpu_stat "$2" dma_bytes)" -gt "$before" ] || fail "the copy engine copied nothing after the $1"
	expect_eq "$(gpu_stat "$2" dma_fail)" 0 "copy-engine failures"
}

# nvidia_bdf DEVICE_ID: the PCI address of the emulated NVIDIA board with that device ID (e.g. 15f8).
nvidia_bdf() { pci_devices "10de $1" | head -n 1; }

# expect_pool BDF PAGES: the GPU at BDF lends PAGES pages, as its sysfs pool says.
expect_pool() {
	expect_eq "$(cat "/sys/bus/pci/devices/$1/pseudoscopic/pool/total_pages")" "$2" "pool pages of $1"
	expect_eq "$(cat "/sys/bus/pci/devices/$1/pseudoscopic/pool/free_pages")" "$2" "free pages of $1"
}

# ---- Debug kernel: debugfs, kmemleak, fault injection ----

DEBUGFS=/sys/kernel/debug
KMEMLEAK=$DEBUGFS/kmemleak

# debugfs_mount: mounts debugfs if the kernel has it; fails (status 1) if it does not.
debugfs_mount() {
	grep -qw debugfs /proc/filesystems || return 1
	grep -q " $DEBUGFS debugfs " /proc/mounts || mount -t debugfs debugfs $DEBUGFS
}

# kmemleak_baseline: what leaked before the group (boot) is forgotten; run-group.sh calls it.
kmemleak_baseline() {
	debugfs_mount && [ -e $KMEMLEAK ] || return 0
	echo scan >$KMEMLEAK
	echo clear >$KMEMLEAK
}

# kmemleak_check: scans for memory nobody references any more since the baseline and fails on
# any report, saying how many name the module (a report after rmmod shows its frames as bare
# addresses in module space, 0xffffffffa/0xffffffffc...).
kmemleak_check() {
	debugfs_mount && [ -e $KMEMLEAK ] || fail "kmemleak is not available (not the debug kernel?)"
	# kmemleak reports objects only once they are 5 s old and were unreferenced in a scan.
	sleep 6
	echo scan >$KMEMLEAK
	echo scan >$KMEMLEAK
	local report objects ours
	report=$(cat $KMEMLEAK)
	objects=$(echo "$report" | grep -c '^unreferenced object')
	echo "kmemleak: $objects unreferenced objects since the baseline"
	[ "$objects" -eq 0 ] && return 0
	echo "$report"
	ours=$(echo "$report" | awk '/^unreferenced object/ {n++} /pseudoscopic|0xffffffff[ac][0-9a-f]{7}/ {mine[n] = 1}
		END {c = 0; for (i in mine) c++; print c}')
	fail "kmemleak: $objects unreferenced objects, $ours with the module in their backtrace"
}

# faults_aim PROBABILITY: failslab and fail_page_alloc fail allocations, with PROBABILITY
# percent, only in tasks marked with /proc/<pid>/make-it-fail (or given /proc/<pid>/fail-nth)
# and only when a function of the module is on the stack: its text, from the lowest to past the
# highest of its functions in /proc/kallsyms. Allocations that may sleep fail too; each
# injected failure logs one "FAULT_INJECTION: forcing a failure" line.
faults_aim() {
	debugfs_mount && [ -d $DEBUGFS/failslab ] || fail "no failslab in debugfs (not the debug kernel?)"
	local text first last attr d
	text=$(awk '$4 == "[pseudoscopic]" && ($2 == "t" || $2 == "T") {print $1}' /proc/kallsyms | sort)
	first=$(echo "$text" | head -n 1)
	last=$(echo "$text" | tail -n 1)
	[ -n "$first" ] || fail "no module functions in /proc/kallsyms"
	# The low 32 bits, plus the last function's page; module text never straddles 4 GiB.
	last=$(printf '%s%08x' "${last%????????}" $((0x${last#????????} + 4096)))
	for attr in failslab fail_page_alloc; do
		d=$DEBUGFS/$attr
		echo Y >$d/task-filter
		echo "0x$first" >$d/require-start
		echo "0x$last" >$d/require-end
		echo N >$d/ignore-gfp-wait
		echo "$1" >$d/probability
		echo 1 >$d/interval
		echo -1 >$d/times
		echo 0 >$d/space
		echo 1 >$d/verbose
	done
	echo N >$DEBUGFS/fail_page_alloc/ignore-gfp-highmem
	echo 0 >$DEBUGFS/fail_page_alloc/min-order
	# x86's add_pages() WARNs on any failure of __add_pages() (arch/x86/mm/init_64.c), so the
	# allocations under it (the memory map of the device pages) are left alone.
	local reject
	reject=$(awk '$3 == "__add_pages" {found = 1; printf "%s ", $1; next} found {print $1; exit}' /proc/kallsyms)
	[ -n "${reject#* }" ] || fail "no __add_pages in /proc/kallsyms"
	for attr in failslab fail_page_alloc; do
		echo "0x${reject% *}" >$DEBUGFS/$attr/reject-start
		echo "0x${reject#* }" >$DEBUGFS/$attr/reject-end
	done
	FAULTS_RANGE="0x$first-0x$last"
}

# faults_off: no more injected failures.
faults_off() {
	local attr
	for attr in failslab fail_page_alloc; do
		[ -e $DEBUGFS/$attr/probability ] && echo 0 >$DEBUGFS/$attr/probability
	done
	return 0
}

# faults_injected: how many failures were injected since the mark.
faults_injected() { dmesg_since | grep -c 'FAULT_INJECTION: forcing a failure'; }

# ---- DAMON sampling physical memory ----

DAMON_ADMIN=/sys/kernel/mm/damon/admin/kdamonds
# DAMON_STAT (Debian's kernels run it from boot) holds DAMON for itself: no other kdamond starts
# while it runs.
DAMON_STAT_ENABLED=/sys/module/damon_stat/parameters/enabled

# damon_sample_ram SAMPLE_US: a kdamond (DAMON's sysfs) samples the largest System RAM range of
# /proc/iomem through physical addresses every SAMPLE_US microseconds, in 5000 to 10000 regions:
# each sample locks and references a page of each region for a moment, as DAMON_STAT does from
# boot on Debian's kernels, here thousands of times as often (DAMON_STAT paused meanwhile).
damon_sample_ram() {
	local ctx=$DAMON_ADMIN/0/contexts/0 s e start=0 end=0
	DAMON_STAT_PAUSED=0
	if [ "$(cat $DAMON_STAT_ENABLED 2>/dev/null)" = Y ]; then
		echo N >$DAMON_STAT_ENABLED || fail "could not pause DAMON_STAT"
		DAMON_STAT_PAUSED=1
	fi
	grep ' : System RAM$' /proc/iomem | sed 's/^ *\([0-9a-f]*\)-\([0-9a-f]*\) .*/\1 \2/' >/tmp/system-ram
	while read -r s e; do
		s=$((0x$s))
		e=$((0x$e + 1))
		[ $((e - s)) -gt $((end - start)) ] && start=$s end=$e
	done </tmp/system-ram
	[ $end -gt $start ] || fail "no System RAM in /proc/iomem"
	echo 1 >$DAMON_ADMIN/nr_kdamonds &&
		echo 1 >$DAMON_ADMIN/0/contexts/nr_contexts &&
		echo paddr >$ctx/operations &&
		echo "$1" >$ctx/monitoring_attrs/intervals/sample_us &&
		echo $(($1 * 20)) >$ctx/monitoring_attrs/intervals/aggr_us &&
		echo 10000 >$ctx/monitoring_attrs/nr_regions/max &&
		echo 5000 >$ctx/monitoring_attrs/nr_regions/min &&
		echo 1 >$ctx/targets/nr_targets &&
		echo 1 >$ctx/targets/0/regions/nr_regions &&
		echo $end >$ctx/targets/0/regions/0/end &&
		echo $start >$ctx/targets/0/regions/0/start &&
		echo on >$DAMON_ADMIN/0/state || fail "could not start DAMON on physical addresses"
	expect_eq "$(cat $DAMON_ADMIN/0/state)" on "DAMON's kdamond state"
}

# damon_stop: the kdamond of damon_sample_ram stopped and removed, DAMON_STAT running again if it
# was.
damon_stop() {
	echo off >$DAMON_ADMIN/0/state
	echo 0 >$DAMON_ADMIN/nr_kdamonds
	[ "$DAMON_STAT_PAUSED" = 1 ] && echo Y >$DAMON_STAT_ENABLED
}

# ---- Transparent tiering: ps-tierd ----

# ps-tierd's settings for runs of a few minutes (tiering-pressure, the tiering benchmark): its
# defaults (cold after 120 s) are meant for hours.
TIERD_RESERVE_MIB=48
TIERD_SHORT="interval_secs = 1
reserve_mib = $TIERD_RESERVE_MIB
headroom_mib = 192
min_rate_mib = 128
max_rate_mib = 512
cold_age_secs = 2
max_cold_age_secs = 30
vram_reserve_mib = 8
max_processes = 4
min_rss_mib = 4
damon_sample_ms = 20
damon_aggr_ms = 200
damon_max_regions = 200"

TIERD_LOG=/tmp/tierd.log
TIERD_ERR=/tmp/tierd.err

# tierd_start CONFIG: writes CONFIG (TOML text) to /tmp/tierd.toml and starts ps-tierd --json in
# the background (one JSON line per step in $TIERD_LOG); sets TIERD_PID once its first step ran.
tierd_start() {
	printf '%s\n' "$1" >/tmp/tierd.toml
	ps-tierd --config /tmp/tierd.toml --json >$TIERD_LOG 2>$TIERD_ERR &
	TIERD_PID=$!
	wait_for_line $TIERD_LOG '"state":'
}

# tierd_stop: SIGTERM; ps-tierd must exit 0, having said nothing on stderr, and leave DAMON off.
tierd_stop() {
	kill -TERM "$TIERD_PID"
	wait "$TIERD_PID"
	local rc=$?
	[ $rc -eq 0 ] || fail "ps-tierd exited with status $rc: $(cat $TIERD_ERR)"
	[ -s $TIERD_ERR ] && fail "ps-tierd complained: $(cat $TIERD_ERR)"
	expect_eq "$(cat $DAMON_ADMIN/nr_kdamonds)" 0 "kdamonds left after ps-tierd stopped"
}

# ps-tierd always short of memory (the headroom is larger than the machine), eager (cold after
# 3 s), watching processes of 4 MiB or more (the test's, not busybox's).
TIERD_EAGER='interval_secs = 1
reserve_mib = 64
headroom_mib = 1000000
min_rate_mib = 64
max_rate_mib = 256
cold_age_secs = 3
max_cold_age_secs = 60
quality_window_secs = 3600
vram_reserve_mib = 4
max_processes = 4
min_rss_mib = 4
damon_sample_ms = 20
damon_aggr_ms = 200'

# hot_start MIB SECS NAME [CMD]: starts `CMD hot MIB SECS` (CMD: ps-test) with its output in
# /tmp/NAME.out and waits until it has filled its memory; sets HOT_PID and HOT_RANGE.
hot_start() {
	${4:-ps-test} hot "$1" "$2" >/tmp/$3.out 2>&1 &
	HOT_PID=$!
	wait_for_line /tmp/$3.out '^filled '
	HOT_RANGE=$(sed -n 's/^filled //p' /tmp/$3.out)
}

# hot_finish PID NAME: SIGUSR1, then the process checks every byte and must exit 0.
hot_finish() {
	kill -USR1 "$1"
	wait "$1" || fail "$2 lost data: $(cat /tmp/$2.out)"
}

# tierd_last KEY: KEY's value in ps-tierd's latest JSON line.
tierd_last() { tail -n 1 $TIERD_LOG | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }

# resident_pages PID RANGE: how many pages of RANGE of process PID are in VRAM.
resident_pages() {
	ps-migrate --pid "$1" --range "$2" --residency | sed -n 's/^total: \([0-9]*\) of .*/\1/p'
}

# mem_available_mib: MemAvailable, MiB.
mem_available_mib() { echo $(($(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024)); }

# Transparent huge page modes (groups thp-modes, debian-7.2).
THP_ENABLED=/sys/kernel/mm/transparent_hugepage/enabled
THP_PMD_ENABLED=/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled

# thp_mode MODE: the system-wide mode from now on; 2 MiB pages follow it.
thp_mode() {
	check sh -c "echo $1 > $THP_ENABLED"
	expect_match "$(cat $THP_ENABLED)" "\[$1\]" "$THP_ENABLED"
	expect_match "$(cat $THP_PMD_ENABLED)" "\[inherit\]" "$THP_PMD_ENABLED"
}

# self_test WHAT [SCENARIO...]: `ps-test` with its output on the console; when it fails, the
# failure line names WHAT and each failed scenario with its reason, which is all CI shows.
self_test() {
	local what=$1 out
	shift
	out=$(ps-test "$@" 2>&1) || {
		echo "$out"
		fail "$what: $(echo "$out" | sed -n 's/^\([a-z0-9_]*\): FAIL: /\1: /p' | tr '\n' ';')"
	}
	echo "$out"
}

# self_test_under MODE: `ps-test` as users run it, then every scenario that needs huge pages.
self_test_under() {
	thp_mode "$1"
	ps_ready
	self_test "ps-test (the self-test) under THP $1"
	self_test "ps-test thp scenarios under THP $1" thp thp_unaligned thp_fork thp_partial_unmap thp_mremap
	expect_match "$(cat $THP_ENABLED)" "\[$1\]" "THP mode after ps-test"
}
