#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make test: the whole suite, from any state of the cache.  Setup's demo parts (test kernel, QEMU
# chroot) run in the foreground; the parts only the tests use start beside them at the lowest CPU
# priority, in two chains: the Debian chroots (mostly downloads, which overlap the test kernel's
# build), and the debug kernel then our 7.2 kernel, each followed by the module its groups boot.
# They take only the CPU the foreground leaves idle. The host checks and the groups that boot the
# test kernel run next; then the groups of each other kernel as soon as its part of setup is
# done, then the demo.  Every group run and the demo run whatever the others did; the exit status
# is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/setup
rm -f out/setup/*.rc out/test-groups-*.log

# chain PART...: setup's PARTs in turn, each at nice 19 with its output in out/setup/PART.log and
# its exit status in out/setup/PART.rc once it ends; the module for a kernel is built right after
# it (a failure there is left for `make vm-test`, which builds it again and reports it).
chain() {
	local part rc
	for part in "$@"; do
		nice -n 19 bash scripts/setup.sh "$part" >"out/setup/$part.log" 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then
			case "$part" in
			debug) nice -n 19 make --no-print-directory modules-debug >>"out/setup/$part.log" 2>&1 ;;
			kernel-*) nice -n 19 make --no-print-directory "modules-${part#kernel-}" >>"out/setup/$part.log" 2>&1 ;;
			esac
		fi
		echo $rc >"out/setup/$part.rc"
	done
}
# Each chain a session of its own, so that an interrupted `make test` stops its builds with it. A
# new session is a new scheduling autogroup (CONFIG_SCHED_AUTOGROUP, on in Debian's kernels),
# whose tasks' nice values count only against each other: the group as a whole shared the CPU
# equally with the foreground's, so the test kernel built at half speed. The group's own nice
# (/proc/self/autogroup, sched(7)) puts it behind the foreground.
chains=()
for parts in "distro" "debug kernel-7.2"; do
	setsid bash -c "echo 19 >/proc/self/autogroup 2>/dev/null; $(declare -f chain); chain $parts" &
	chains+=($!)
done
trap 'for pid in "${chains[@]}"; do kill -- -"$pid" 2>/dev/null; done' EXIT
echo "make test: setup's test-only parts build meanwhile at nice 19 (logs: out/setup/)"

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
		alive=0
		for pid in "${chains[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		if [ $alive -eq 0 ]; then
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
