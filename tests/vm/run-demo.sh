#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: boot the test kernel (512 MiB of RAM) with 1 GiB of emulated VRAM and run the demo
# (tests/guest/demo.sh): exits 0 when the demo's workload found all its data intact.
# With --shell, give an interactive shell in the guest instead ('poweroff -f' leaves).
set -euo pipefail
. "$(dirname "$0")/common.sh"

mode=demo
[ "${1:-}" = --shell ] && mode=shell
mkdir -p "$OUT"
build_initramfs
mapfile -t vram < <(ivshmem_args vram0 1G)
PS_VM_MEMORY=${PS_VM_MEMORY:-512M} qemu_cmd "" "" "ps.mode=$mode" "${vram[@]}"
if [ $mode = demo ]; then
	log=$OUT/demo.log
	timeout --foreground -k 10 600 "${QEMU_CMD[@]}" </dev/null | tee "$log" | tr -d '\r' |
		sed -n '/^==> /,$p' | grep -v '^reboot: \|^ACPI: PM: \|^\[ *[0-9.]*\] reboot'
	grep -q '^demo: PASS' "$log" || die "the demo did not pass; console log in $log"
else
	exec "${QEMU_CMD[@]}"
fi
