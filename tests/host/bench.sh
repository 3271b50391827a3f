#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench` builds what it measures, or says which part it could not run and fails:
#   - its recipe builds the module, the tools and the gpu-model before tests/vm/run-bench.sh runs
#     (from a checkout where only `make setup` ran, nothing else builds the copy-engine part's model);
#   - tests/vm/run-bench.sh, without the gpu-model or without the QEMU chroot, names the
#     copy-engine part and exits non-zero before any guest runs.
# Needs the test kernel (make setup) and pseudoscopic.ko (make), as every VM script does.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
failed=0

fail() {
	echo "bench: $*" >&2
	failed=1
}

recipe=$(make -C "$REPO" --no-print-directory -n bench 2>&1)
model=$(grep -n 'cd tests/gpu-model && .*cargo build' <<<"$recipe" | head -1 | cut -d: -f1)
run=$(grep -n '^bash tests/vm/run-bench.sh' <<<"$recipe" | head -1 | cut -d: -f1)
if [ -z "$run" ]; then
	fail "'make -n bench' does not run tests/vm/run-bench.sh"
elif [ -z "$model" ] || [ "$model" -gt "$run" ]; then
	fail "'make bench' does not build the gpu-model before tests/vm/run-bench.sh"
fi

# expect_refusal WHAT ENV...: run-bench.sh with ENV exits non-zero at once, naming the part.
expect_refusal() {
	local what=$1 out status
	shift
	out=$(env "$@" BENCH_PARTS=dma timeout 60 bash "$REPO/tests/vm/run-bench.sh" 2>&1 </dev/null)
	status=$?
	[ "$status" -ne 0 ] || fail "run-bench.sh without $what exits 0"
	[ "$status" -ne 124 ] || fail "run-bench.sh without $what ran on (a guest?) instead of failing at once"
	grep -q 'copy-engine part not run' <<<"$out" ||
		fail "run-bench.sh without $what does not say which part it could not run: $out"
}
expect_refusal "the gpu-model" PS_GPU_MODEL=/nonexistent/gpu-model
expect_refusal "the QEMU chroot" PS_QEMU_CHROOT=/nonexistent/qemu-chroot

[ "$failed" -eq 0 ] && echo "bench: make bench builds the gpu-model; run-bench.sh names a part it cannot run"
exit "$failed"
