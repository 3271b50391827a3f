#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: in one guest, park and fault back buffers with pseudoscopic (1 GiB of emulated VRAM),
# test_hmm and zram swap (tests/guest/bench.sh runs ps-bench).  Prints the table and the claims;
# writes out/bench/bench.json and out/bench/bench.txt.  Then the copy-engine part: one ps-stress run
# on an emulated V100 with enable_dma=1 and 0 and the bytes the CPU copied (tests/guest/bench-dma.sh), in out/bench/dma.{txt,json}.
# Then the tiering part (issue 14): the workload `ps-bench tier` in a guest with enough RAM, and in
# a small guest under pseudoscopic with ps-tierd, zram, phram+mtdblock over the emulated VRAM, a
# virtio swap disk and nothing (tests/guest/bench-tier.sh); the table in out/bench/tier.{txt,json}.
# Exits non-zero, saying which part (and configuration), if a run failed or a part could not run.
#
# The parts `icount` and `scale` (issue 19) run the guest under QEMU -icount shift=0, where its clock
# counts instructions: instructions per page, two runs side by side (out/bench/icount.{txt,json}),
# and pseudoscopic alone from 16 MiB to 4 GiB with a plot of cost per page against size
# (out/bench/scale.{txt,json,svg}).
#
# Environment: BENCH_PARTS (default "park icount scale dma tier": which parts run), BENCH_SIZES (MiB,
# default 16,64), BENCH_REPEAT (default 3), BENCH_ICOUNT_SIZES (default 16,64), BENCH_SCALE_SIZES
# (default 16,64,256,1024,4096), BENCH_SCALE_RAM (the scale guest's RAM, default 6G),
# BENCH_SCALE_OPS (ps-bench --ops of the scale part, default park,residency,fault-seq,unbind,evict),
# BENCH_SCALE_PCP_FRACTION (the scale guest's vm.percpu_pagelist_high_fraction, default 1000: small
# per-CPU free lists of a fixed size; 0 is the kernel's default, lists that grow with use),
# BENCH_CPU_COPY (default auto: the module's cpu_copy=
# parameter), BENCH_DMA_SECONDS (default 20); for the tiering part BENCH_TIER_RAM (the small
# guest's RAM, MiB, default 512; the workload is 2.5 times it, its hot set a quarter),
# BENCH_TIER_SECONDS (measured seconds per run, default 20), BENCH_TIER_FILL (MiB/s the workload
# writes at, default 8), BENCH_TIER_CONFIGS (default all: ram,pseudoscopic,zram,virtio,none,phram;
# the table needs all of them).
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

# part NAME: the part is in BENCH_PARTS.
part() { [[ " ${BENCH_PARTS:-park icount scale dma tier} " == *" $1 "* ]]; }

# park_guest NAME MEMORY VRAM APPEND [QEMU args...]: one guest running ps-bench (tests/guest/bench.sh)
# with MEMORY of RAM and VRAM of emulated VRAM; its table and JSON in $bench/NAME.{txt,json}.
park_guest() {
	local name=$1 memory=$2 size=$3 append=$4 dir=$OUT/bench-$1
	shift 4
	rm -rf "$dir"
	mkdir -p "$dir"
	mapfile -t vram < <(ivshmem_args vram0 "$size")
	PS_VM_MEMORY=$memory qemu_cmd "$dir/console.log" "$dir/results.log" \
		"ps.mode=bench ps.cpu_copy=${BENCH_CPU_COPY:-auto} $append" "${vram[@]}" "$@"
	timeout -k 10 "${BENCH_TIMEOUT:-3600}" "${QEMU_CMD[@]}" </dev/null >"$dir/qemu.out" 2>&1 ||
		die "$name: the guest did not finish (status $?); console log in $dir/console.log"
	keep_results "$dir" "$name"
	cat "$bench/$name.txt"
	echo "results: $bench/$name.json"
}

# Under -icount shift=0 the guest's clock advances 1 ns per guest instruction and never while it
# sleeps: every guest clock reading counts instructions, whatever the host is doing.
ICOUNT=(-icount shift=0,sleep=off)

# What a part needs and `make bench` does not build, checked before any guest runs: `make bench`
# builds the model; the chroot whose QEMU serves it comes from `make setup`.
if part dma; then
	[ -x "$GPU_MODEL" ] || die "copy-engine part not run: no gpu-model at $GPU_MODEL (run 'make gpu-model')"
	[ -x "$QEMU_CHROOT/usr/bin/qemu-system-x86_64" ] ||
		die "copy-engine part not run: no QEMU chroot with vfio-user at $QEMU_CHROOT (run 'make setup')"
fi

build_initramfs
if part park; then
	park_guest bench 4G 1G "ps.sizes=${BENCH_SIZES:-16,64} ps.repeat=${BENCH_REPEAT:-3} ps.peers=pseudoscopic,test_hmm,zram"
fi

# Instructions per page, pseudoscopic against test_hmm and zram: two runs, side by side.
if part icount; then
	park_guest icount 4G 1G \
		"ps.sizes=${BENCH_ICOUNT_SIZES:-16,64} ps.repeat=2 ps.peers=pseudoscopic,test_hmm,zram ps.instructions=1" \
		"${ICOUNT[@]}"
fi

# How the cost per page grows from MiB to GiB: pseudoscopic alone (test_hmm's device memory is RAM,
# and zram's too), a pool of 8 GiB, buffers up to 4 GiB in a guest with room for the largest.
if part scale; then
	park_guest scale "${BENCH_SCALE_RAM:-6G}" 8G \
		"ps.sizes=${BENCH_SCALE_SIZES:-16,64,256,1024,4096} ps.repeat=1 ps.peers=pseudoscopic ps.instructions=1 ps.ops=${BENCH_SCALE_OPS:-park,residency,fault-seq,unbind,evict} ps.pcp_fraction=${BENCH_SCALE_PCP_FRACTION:-1000}" \
		"${ICOUNT[@]}"
	"$TOOLS_BIN/ps-bench" plot --svg "$bench/scale.svg" "$bench/scale.json" ||
		die "scale: no plot of $bench/scale.json"
	echo "plot: $bench/scale.svg"
fi

if part dma; then
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
fi

part tier || exit 0
# The tiering part. Each guest gets its own name, so its output survives the other's.
ram=${BENCH_TIER_RAM:-512}
mib=$((ram * 5 / 2 / 16 * 16))
hot=$((ram / 4))
tier_args="ps.mode=bench-tier ps.tier_mib=$mib ps.tier_hot=$hot ps.tier_seconds=${BENCH_TIER_SECONDS:-20} ps.tier_fill=${BENCH_TIER_FILL:-8}"
# tier_guest NAME MEMORY CONFIGS [QEMU args...]: one guest running the configurations; its
# results in $bench/NAME.{txt,json} (JSON lines).
tier_guest() {
	local name=$1 memory=$2 configs=$3 dir=$OUT/bench-$1
	shift 3
	rm -rf "$dir"
	mkdir -p "$dir"
	PS_VM_MEMORY=$memory qemu_cmd "$dir/console.log" "$dir/results.log" "$tier_args ps.tier_configs=$configs" "$@"
	timeout -k 10 "${BENCH_TIER_TIMEOUT:-2400}" "${QEMU_CMD[@]}" </dev/null >"$dir/qemu.out" 2>&1 ||
		die "tiering part ($configs): the guest did not finish (status $?); console log in $dir/console.log"
	keep_results "$dir" "$name"
	cat "$bench/$name.txt"
}
configs=${BENCH_TIER_CONFIGS:-ram,pseudoscopic,zram,virtio,none,phram}
small=$(tr ',' '\n' <<<"$configs" | grep -vx ram | paste -sd, -)
# (1): enough RAM for all of it.
if grep -qx ram <<<"${configs//,/$'\n'}"; then
	tier_guest tier-ram "$((mib + 1024))M" ram
fi
# (2)-(6): the small guest, with 2 GiB of emulated VRAM (pseudoscopic, then phram over the same
# BAR) and a 2 GiB swap disk, a sparse raw image.
img=$bench/tier-swap.img
rm -f "$img"
truncate -s 2G "$img"
mapfile -t vram < <(ivshmem_args vram0 2G)
[ -z "$small" ] || tier_guest tier-small "${ram}M" "$small" "${vram[@]}" \
	-drive "file=$img,format=raw,if=virtio"
rm -f "$img"
echo
echo "Tiering (ops/s of the workload; pseudoscopic x: its ops/s over each configuration's):"
"$TOOLS_BIN/ps-bench" tier-report --json "$bench/tier.json" "$bench/tier-ram.json" "$bench/tier-small.json" \
	>"$bench/tier.txt" || die "tiering part: the results are incomplete (above)"
cat "$bench/tier.txt"
echo "results: $bench/tier.json"
