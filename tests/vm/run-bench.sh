#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: in one guest, park and fault back buffers with pseudoscopic (1 GiB of emulated VRAM),
# test_hmm and zram swap (tests/guest/bench.sh runs ps-bench).  Prints the table and the claims;
# writes out/bench/bench.json and out/bench/bench.txt.  Then the copy-engine part: one ps-stress run
# on an emulated V100 with enable_dma=1 and 0 and the bytes the CPU copied (tests/guest/bench-dma.sh), in out/bench/dma.{txt,json}.  Exits
# non-zero, saying which part, if a run failed or a part could not run.
#
# Environment: BENCH_SIZES (MiB, default 16,64), BENCH_REPEAT (default 3), BENCH_CPU_COPY (default
# auto: the module's cpu_copy= parameter), BENCH_DMA_SECONDS (default 20).
set -euo pipefail
. "$(dirname "$0")/common.sh"

bench=$REPO/out/bench
mkdir -p "$OUT" "$bench"

# keep_results DIR NAME: checks the guest's results (DIR/results.log) say BENCH-END 0 and keeps its
# table and JSON as $bench/NAME.txt and $bench/NAME.json.
keep_results() {
	local results
	results=$(tr -d '\r' <"$1/results.log")
	grep -q '^BENCH-END 0$' <<<"$results" || {
		printf '%s\n' "$results"
		die "the benchmark failed; console log in $1/console.log"
	}
	sed -n '/^BENCH-TABLE$/,/^BENCH-JSON$/p' <<<"$results" | sed '1d;$d' >"$bench/$2.txt"
	sed -n '/^BENCH-JSON$/,/^BENCH-END/p' <<<"$results" | sed '1d;$d' >"$bench/$2.json"
}

build_initramfs
mapfile -t vram < <(ivshmem_args vram0 1G)
export PS_VM_MEMORY=4G
qemu_cmd "$bench/console.log" "$bench/results.log" \
	"ps.mode=bench ps.sizes=${BENCH_SIZES:-16,64} ps.repeat=${BENCH_REPEAT:-3} ps.cpu_copy=${BENCH_CPU_COPY:-auto}" \
	"${vram[@]}"
rm -f "$bench/console.log" "$bench/results.log"
timeout -k 10 "${BENCH_TIMEOUT:-3600}" "${QEMU_CMD[@]}" </dev/null >"$bench/qemu.out" 2>&1 ||
	die "the guest did not finish (status $?); console log in $bench/console.log"
keep_results "$bench" bench
cat "$bench/bench.txt"
echo "results: $bench/bench.json"

# `make bench` builds the model; the chroot whose QEMU serves it comes from `make setup`.
[ -x "$GPU_MODEL" ] || die "copy-engine part not run: no gpu-model at $GPU_MODEL (run 'make gpu-model')"
[ -x "$QEMU_CHROOT/usr/bin/qemu-system-x86_64" ] ||
	die "copy-engine part not run: no QEMU chroot with vfio-user at $QEMU_CHROOT (run 'make setup')"
dir=$OUT/bench-dma
rm -rf "$dir"
mkdir -p "$dir"
GPU_MODEL_PIDS=()
trap "stop_gpu_models || true" EXIT
start_gpu_model "$dir" 0 v100 1024
mapfile -t args < <(shared_ram_args 2G; gpu_args "$dir/gpu0.sock")
cp "$KDIR/arch/x86/boot/bzImage" "$OUT/bzImage"
PS_KERNEL_IMAGE=$OUT/bzImage PS_VM_MEMORY=2G qemu_cmd "$dir/console.log" "$dir/results.log" \
	"ps.mode=bench-dma ps.seconds=${BENCH_DMA_SECONDS:-20}" "${args[@]}"
qemu_chroot_prefix
timeout -k 10 1200 "${CHROOT_PREFIX[@]}" "${QEMU_CMD[@]}" </dev/null >"$dir/qemu.out" 2>&1 ||
	die "the copy-engine guest did not finish (status $?); console log in $dir/console.log"
keep_results "$dir" dma
echo
echo "Copy engine (emulated Tesla V100; bytes, not time, are the measure in the model):"
cat "$bench/dma.txt"
echo "results: $bench/dma.json"
