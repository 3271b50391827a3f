#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: boot the test kernel with 1 GiB of emulated VRAM and run the demo (tests/guest/demo.sh),
# or, with --shell, give an interactive shell in the guest ('poweroff -f' leaves).
set -euo pipefail
. "$(dirname "$0")/common.sh"

mode=demo
[ "${1:-}" = --shell ] && mode=shell
mkdir -p "$OUT"
build_initramfs
mapfile -t vram < <(ivshmem_args vram0 1G)
qemu_cmd "" "" "ps.mode=$mode" "${vram[@]}"
if [ $mode = demo ]; then
	log=$OUT/demo.log
	timeout --foreground -k 10 600 "${QEMU_CMD[@]}" </dev/null | tee "$log" | tr -d '\r' |
		sed -n '/^==> /,$p' | grep -v '^reboot: \|^ACPI: PM: \|^\[ *[0-9.]*\] reboot'
	grep -q 'pseudoscopic: not loaded' "$log" || die "the demo did not finish; console log in $log"
else
	exec "${QEMU_CMD[@]}"
fi
