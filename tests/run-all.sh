#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make test: the whole suite, from any state of the cache.  The parts of setup only the tests use
# start at once in the background, in two chains: the Debian chroots, and the debug kernel then
# our 7.2 kernel, each followed by the module its groups boot. Meanwhile the foreground builds
# setup's demo parts (test kernel, QEMU chroot) and runs the host checks and the groups that boot
# the test kernel; then the groups of each other kernel as soon as its part of setup is done, then
# the demo.  Every group run and the demo run whatever the others did; the exit status is non-zero
# if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/setup
rm -f out/setup/*.rc out/test-groups-*.log

# chain PART...: setup's PARTs in turn, each with its output in out/setup/PART.log and its exit
# status in out/setup/PART.rc once it ends; the module for a kernel is built right after it (a
# failure there is left for `make vm-test`, which builds it again and reports it).
chain() {
	local part rc
	for part in "$@"; do
		bash scripts/setup.sh "$part" >"out/setup/$part.log" 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then
			case "$part" in
			debug) make --no-print-directory modules-debug >>"out/setup/$part.log" 2>&1 ;;
			kernel-*) make --no-print-directory "modules-${part#kernel-}" >>"out/setup/$part.log" 2>&1 ;;
			esac
		fi
		echo $rc >"out/setup/$part.rc"
	done
}
# Both chains run in one session of their own, so that an interrupted `make test` stops their
# builds with it. That session is a scheduling autogroup of its own (CONFIG_SCHED_AUTOGROUP, on
# here and in Debian's kernels), whose tasks' nice counts only against each other: the background
# shares the CPU equally with the foreground. They start with the foreground's setup, not after
# it, because what keeps a cold run long is a core left idle: the foreground's downloads, unpacks
# and debootstrap, and each kernel's serial steps (its Rust crates, the link), leave one; every
# part takes the same locks (scripts/setup.sh), so a step both need is done once. Measured on a
# cold cache (README, Tests): with the group's own nice at 19, the groups that boot the test
# kernel kept both cores busy and starved it, and the debug and 7.2 kernels built after them.
setsid bash -c "$(declare -f chain); chain distro & chain debug kernel-7.2 & wait" &
background=$!
trap 'kill -- -$background 2>/dev/null' EXIT
echo "make test: setup's test-only parts build meanwhile (logs: out/setup/)"
bash scripts/setup.sh kernel chroot || exit 1

make check KDIR="${PS_CACHE:-/var/cache/pseudoscopic}/test-kernel" || exit 1

failed=0
# run_groups NAME GROUP...: make vm-test for GROUPs, its output also in out/test-groups-NAME.log.
run_groups() {
	local log=out/test-groups-$1.log
	shift
	make --no-print-directory vm-test VM_GROUPS="$*" 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
}
run_groups test $(bash tests/vm/list-groups.sh groups test)

# The part of setup that makes a kernel the groups boot.
part_of() {
	case "$1" in
	debug) echo debug ;;
	test-*) echo "kernel-${1#test-}" ;;
	debian-*) echo distro ;;
	esac
}
for kernel in $(bash tests/vm/list-groups.sh kernels | grep -vx test); do
	[ -n "$(part_of "$kernel")" ] || { echo "FAIL  no part of setup makes the kernel $kernel: its groups do not run"; failed=1; }
done
# The other kernels' groups, a part at a time, in the order the chains finish them (the debug
# kernel's groups, the longest, first when it is ready).
pending=(debug distro kernel-7.2)
while [ ${#pending[@]} -gt 0 ]; do
	ready=
	for part in "${pending[@]}"; do
		[ -f "out/setup/$part.rc" ] && { ready=$part; break; }
	done
	if [ -z "$ready" ]; then
		if ! kill -0 "$background" 2>/dev/null; then
			echo "make test: setup's chains ended without finishing ${pending[*]} (logs: out/setup/)"
			exit 1
		fi
		[ -n "${waiting:-}" ] || echo "make test: waiting for setup's ${pending[*]}"
		waiting=1
		sleep 5
		continue
	fi
	waiting=
	remaining=()
	for part in "${pending[@]}"; do [ "$part" = "$ready" ] || remaining+=("$part"); done
	pending=(${remaining[@]+"${remaining[@]}"})
	grep '^setup:' "out/setup/$ready.log"
	if [ "$(cat "out/setup/$ready.rc")" != 0 ]; then
		tail -n 20 "out/setup/$ready.log"
		echo "FAIL  setup's part $ready (log: out/setup/$ready.log): its groups do not run"
		failed=1
		continue
	fi
	kernels=()
	for kernel in $(bash tests/vm/list-groups.sh kernels); do
		[ "$(part_of "$kernel")" = "$ready" ] && kernels+=("$kernel")
	done
	[ ${#kernels[@]} -eq 0 ] || run_groups "$ready" $(bash tests/vm/list-groups.sh groups "${kernels[@]}")
done
trap - EXIT

bash tests/vm/run-demo.sh || failed=1
# The suite's total, from each run's "N passed, M failed[, K groups skipped]" line.
awk '/^[0-9]+ passed, [0-9]+ failed/ { p += $1; f += $3; s += $5 }
	END { printf "make test: %d passed, %d failed, %d groups skipped in all groups\n", p, f, s }' \
	out/test-groups-*.log
exit $failed
