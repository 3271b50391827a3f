#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: in one guest, park and fault back buffers with pseudoscopic (1 GiB of emulated VRAM),
# test_hmm and zram swap (tests/guest/bench.sh runs ps-bench).  Prints the table and the claims;
# writes out/bench/bench.json and out/bench/bench.txt.  Exits non-zero if the run failed.
#
# Environment: BENCH_SIZES (MiB, default 16,64), BENCH_REPEAT (default 3), BENCH_CPU_COPY (default
# auto: the module's cpu_copy= parameter).
set -euo pipefail
. "$(dirname "$0")/common.sh"

bench=$REPO/out/bench
mkdir -p "$OUT" "$bench"
build_initramfs
mapfile -t vram < <(ivshmem_args vram0 1G)
export PS_VM_MEMORY=4G
qemu_cmd "$bench/console.log" "$bench/results.log" \
	"ps.mode=bench ps.sizes=${BENCH_SIZES:-16,64} ps.repeat=${BENCH_REPEAT:-3} ps.cpu_copy=${BENCH_CPU_COPY:-auto}" \
	"${vram[@]}"
rm -f "$bench/console.log" "$bench/results.log"
timeout -k 10 "${BENCH_TIMEOUT:-3600}" "${QEMU_CMD[@]}" </dev/null >"$bench/qemu.out" 2>&1 ||
	die "the guest did not finish (status $?); console log in $bench/console.log"
results=$(tr -d '\r' <"$bench/results.log")
grep -q '^BENCH-END 0$' <<<"$results" || {
	printf '%s\n' "$results"
	die "the benchmark failed; console log in $bench/console.log"
}
sed -n '/^BENCH-TABLE$/,/^BENCH-JSON$/p' <<<"$results" | sed '1d;$d' >"$bench/bench.txt"
sed -n '/^BENCH-JSON$/,/^BENCH-END/p' <<<"$results" | sed '1d;$d' >"$bench/bench.json"
cat "$bench/bench.txt"
echo "results: $bench/bench.json"
