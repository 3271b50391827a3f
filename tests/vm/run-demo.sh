#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make run`: boot the test kernel (512 MiB of RAM) with emulated VRAM and run the demo
# (tests/guest/demo.sh): exits 0 when the demo's workload found all its data intact.
#
# The VRAM is an emulated Tesla V100 (tests/gpu-model, 1 GiB of its VRAM emulated, run by the
# chroot's QEMU) when `make setup` built them, else a 1 GiB ivshmem device; PS_DEMO_DEVICE=ivshmem
# or =v100 chooses. With --shell, give an interactive shell in the guest instead ('poweroff -f'
# leaves).
set -euo pipefail
. "$(dirname "$0")/common.sh"

mode=demo
[ "${1:-}" = --shell ] && mode=shell
device=${PS_DEMO_DEVICE:-}
if [ -z "$device" ]; then
	device=ivshmem
	[ -x "$GPU_MODEL" ] && [ -x "$QEMU_CHROOT/usr/bin/qemu-system-x86_64" ] && device=v100
fi
memory=${PS_VM_MEMORY:-512M}
mkdir -p "$OUT"
build_initramfs
GPU_MODEL_PIDS=()
trap "stop_gpu_models || true" EXIT
case $device in
v100)
	dir=$OUT/demo
	rm -rf "$dir"
	mkdir -p "$dir"
	start_gpu_model "$dir" 0 v100 1024
	# The V100 reports 16 GiB; the pool stays inside the 1 GiB the model emulates.
	mapfile -t args < <(shared_ram_args "$memory"; gpu_args "$dir/gpu0.sock")
	cp "$KDIR/arch/x86/boot/bzImage" "$OUT/bzImage"
	PS_KERNEL_IMAGE=$OUT/bzImage PS_VM_MEMORY=$memory qemu_cmd "" "" "ps.mode=$mode ps.gpu=v100 ps.pool_mb=768" \
		"${args[@]}"
	qemu_chroot_prefix
	QEMU_CMD=("${CHROOT_PREFIX[@]}" "${QEMU_CMD[@]}")
	;;
ivshmem)
	mapfile -t args < <(ivshmem_args vram0 1G)
	PS_VM_MEMORY=$memory qemu_cmd "" "" "ps.mode=$mode" "${args[@]}"
	;;
*) die "PS_DEMO_DEVICE=$device: expected v100 or ivshmem" ;;
esac
if [ $mode = demo ]; then
	log=$OUT/demo.log
	timeout --foreground -k 10 600 "${QEMU_CMD[@]}" </dev/null | tee "$log" | tr -d '\r' |
		sed -n '/^==> /,$p' | grep -v '^reboot: \|^ACPI: PM: \|^\[ *[0-9.]*\] reboot'
	grep -q '^demo: PASS' "$log" || die "the demo did not pass; console log in $log"
else
	"${QEMU_CMD[@]}"
fi
