#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make bench`, copy-engine part, in the guest: the same ps-stress run on an emulated Tesla V100 with
# enable_dma=1 and enable_dma=0, and who copied its bytes. In the model the copy engine is a host
# thread, so time says nothing; the bytes the CPU copied through BAR1 (0.5 GB/s reads on a real
# V100) are the measure. The table and the JSON go to the second serial port for the host.
. /tests/lib.sh

arg() { sed -n "s/.*\<ps\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
results=/dev/ttyS1
seconds=$(arg seconds)

# run DMA: prints "DMA MOVED_BYTES DMA_BYTES CPU_BYTES DMA_FAIL" after a ps-stress run.
run() {
	modprobe pseudoscopic pool_size_mb=768 enable_dma="$1" || return 1
	ps-stress --duration "$seconds" --threads 2 --size 32M --seed 7 >/tmp/stress.out 2>&1 || {
		cat /tmp/stress.out
		return 1
	}
	echo "$1 $(($(stat_value bytes_to_device) + $(stat_value bytes_to_ram))) $(stat_value dma_bytes)" \
		"$(stat_value cpu_copy_bytes) $(stat_value dma_fail)"
	cleanup_module
}

rc=0
{ run 1 && run 0; } >/tmp/runs.txt || rc=1
cat /tmp/runs.txt
{
	echo BENCH-TABLE
	printf '%-12s %14s %14s %14s %8s %9s\n' enable_dma "moved (MiB)" "engine (MiB)" "CPU (MiB)" "CPU %" dma_fail
	while read -r dma moved engine cpu fail; do
		printf '%-12s %14d %14d %14d %7d%% %9d\n' "$dma" $((moved >> 20)) $((engine >> 20)) \
			$((cpu >> 20)) $((moved ? cpu * 100 / moved : 0)) "$fail"
	done </tmp/runs.txt
	echo BENCH-JSON
	echo '['
	sep=
	while read -r dma moved engine cpu fail; do
		printf '%s  {"enable_dma": %s, "bytes_moved": %s, "dma_bytes": %s, "cpu_copy_bytes": %s, "dma_fail": %s}\n' \
			"$sep" "$dma" "$moved" "$engine" "$cpu" "$fail"
		sep=,
	done </tmp/runs.txt
	echo ']'
	echo "BENCH-END $rc"
} >$results
