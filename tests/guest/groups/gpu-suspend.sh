# SPDX-License-Identifier: GPL-2.0
# Suspend to RAM (ACPI S3, woken by the host through QMP) on an emulated Tesla V100 with its copy
# engine, a live process's pages parked: QEMU resets the board on wake, which clears its VRAM and
# registers (gpu-model), so only a driver that brought every page back first, and brings the board
# and its channel up again after, keeps the data and lends again.
# vm: gpu v100 512
# vm: qmp

case_suspend_to_ram_v100() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	load_module pool_size_mb=256
	held_across suspend suspend_to_ram
	engine_back_after suspend "$bdf"
}
