#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make test: the whole suite, from any state of the cache.  Setup's demo part (test kernel, QEMU
# chroot) comes first.  The parts only the tests use (debug kernel, Debian chroots, our 7.2 test
# kernel) then build at the lowest CPU priority while the host checks and the groups that boot the
# test kernel run, so on a cold cache they take only the CPU the guests leave idle; the groups that
# boot those kernels run after them, then the demo.  Both group runs and the demo run whatever the
# other did; the exit status is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
setup_log=out/setup-test-parts.log

bash scripts/setup.sh kernel chroot || exit 1
# A session of its own, so that an interrupted `make test` stops the whole build with it.
setsid nice -n 19 bash scripts/setup.sh debug distro kernel-7.2 >"$setup_log" 2>&1 &
setup_pid=$!
trap 'kill -- -$setup_pid 2>/dev/null' EXIT
echo "make test: setup's test-only parts build meanwhile at nice 19 (log: $setup_log)"

make check KDIR="${PS_CACHE:-/var/cache/pseudoscopic}/test-kernel" || exit 1

failed=0
# run_groups LOG GROUP...: make vm-test for GROUPs, its output also in LOG.
run_groups() {
	local log=$1
	shift
	make --no-print-directory vm-test VM_GROUPS="$*" 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
}
run_groups out/test-groups-1.log $(bash tests/vm/list-groups.sh groups test)

echo "make test: waiting for setup's test-only parts"
if ! wait "$setup_pid"; then
	tail -n 20 "$setup_log"
	echo "make test: setup's test-only parts failed (log: $setup_log)"
	exit 1
fi
trap - EXIT
grep '^setup:' "$setup_log"
run_groups out/test-groups-2.log \
	$(bash tests/vm/list-groups.sh groups $(bash tests/vm/list-groups.sh kernels | grep -vx test))

bash tests/vm/run-demo.sh || failed=1
# The suite's total, from each run's "N passed, M failed[, K groups skipped]" line.
awk '/^[0-9]+ passed, [0-9]+ failed/ { p += $1; f += $3; s += $5 }
	END { printf "make test: %d passed, %d failed, %d groups skipped in all groups\n", p, f, s }' \
	out/test-groups-1.log out/test-groups-2.log
exit $failed
