# SPDX-License-Identifier: GPL-2.0
# Bad parameters and devices pseudoscopic cannot use: clear dmesg lines, clean failures.
# 32 MiB is below the 64 MiB minimum; pci-testdev has a small memory BAR0 and an I/O BAR1 and no
# 64-bit prefetchable BAR.
# vm: ivshmem 32M
# vm: device pci-testdev

TESTDEV_ID="1b36 0005"

# bind_refused BDF DRIVER-ID PATTERN WHAT: binding via new_id leaves BDF unbound and logs PATTERN.
bind_refused() {
	dmesg_mark
	check sh -c "echo '$2' > $DRIVER_DIR/new_id"
	expect_eq "$(bound_driver "$1")" "" "driver of $1"
	expect_dmesg "$MODULE $1: $3" "$4"
	grep -q " : $MODULE" /proc/iomem && fail "/proc/iomem shows a $MODULE region after a refused probe"
	return 0
}

case_missing_bar_refused() {
	load_module bar_index=4
	bind_refused "$(ivshmem_bdf)" "$IVSHMEM_ID" "BAR4 \(bar_index=4\) is not implemented by this device" "missing BAR"
}

case_small_register_bar_refused() {
	load_module bar_index=0
	bind_refused "$(ivshmem_bdf)" "$IVSHMEM_ID" "BAR0 is 256 bytes, smaller than the 64 MiB minimum" "256-byte BAR0"
}

case_small_vram_bar_refused() {
	load_module
	bind_refused "$(ivshmem_bdf)" "$IVSHMEM_ID" "BAR2 is 33554432 bytes, smaller than the 64 MiB minimum" "32 MiB BAR2"
}

case_io_bar_refused() {
	local bdf
	bdf=$(pci_devices "$TESTDEV_ID")
	[ -n "$bdf" ] || fail "no pci-testdev in the guest"
	[ $(($(bar_field "$bdf" 1 flags) & 0x100)) -ne 0 ] || fail "pci-testdev BAR1 is not an I/O BAR here"
	load_module bar_index=1
	bind_refused "$bdf" "$TESTDEV_ID" "BAR1 \(bar_index=1\) is an I/O port BAR, not memory" "I/O BAR"
}

case_no_vram_bar_refused() {
	load_module
	bind_refused "$(pci_devices "$TESTDEV_ID")" "$TESTDEV_ID" "no 64-bit prefetchable memory BAR; set bar_index to choose one" "no candidate BAR"
}

case_module_survives_refusals() {
	load_module bar_index=4
	check sh -c "echo '$IVSHMEM_ID' > $DRIVER_DIR/new_id"
	check sh -c "echo '$TESTDEV_ID' > $DRIVER_DIR/new_id"
	check rmmod $MODULE
	[ -e /sys/module/$MODULE ] && fail "/sys/module/$MODULE still exists after rmmod"
	return 0
}

# load_refused PARAMS PATTERN WHAT: modprobe with PARAMS fails, logs PATTERN, leaves nothing loaded.
load_refused() {
	dmesg_mark
	# shellcheck disable=SC2086
	check_fails modprobe $MODULE $1
	expect_dmesg "$2" "$3"
	is_loaded && fail "module stayed loaded after modprobe $1"
	return 0
}

case_bad_bar_index_refused() {
	load_refused "bar_index=6" "$MODULE: bar_index=6 is invalid: a PCI BAR is 0-5, or -1 to choose one automatically" "bar_index=6"
	load_refused "bar_index=-2" "$MODULE: bar_index=-2 is invalid" "bar_index=-2"
	load_refused "bar_index=two" "$MODULE: .*bar_index" "bar_index=two"
}

case_bad_migration_threshold_refused() {
	load_refused "migration_threshold=0" "$MODULE: migration_threshold=0 is invalid: it counts pages per batch, 1-512" "migration_threshold=0"
	load_refused "migration_threshold=513" "$MODULE: migration_threshold=513 is invalid" "migration_threshold=513"
}

case_bad_pool_size_refused() {
	load_refused "pool_size_mb=-1" "$MODULE: .*pool_size_mb" "pool_size_mb=-1"
}

case_bad_enable_dma_refused() {
	load_refused "enable_dma=maybe" "$MODULE: .*enable_dma" "enable_dma=maybe"
}

case_bad_cpu_copy_refused() {
	load_refused "cpu_copy=sse9" "$MODULE: cpu_copy=sse9 is invalid: expected auto, avx2, sse4.1 or io" "cpu_copy=sse9"
	load_refused "cpu_copy=" "$MODULE: cpu_copy= is invalid" "cpu_copy="
}
