# SPDX-License-Identifier: GPL-2.0
# A function reset (`echo 1 > /sys/bus/pci/devices/BDF/reset`; the board's PM reset, D3hot to D0)
# of an emulated Tesla V100 with a live process's pages parked: the reset clears the board's VRAM
# and registers (gpu-model), so only a driver that brought every page back first (reset_prepare)
# and brings the board and its copy engine up again after (reset_done) keeps the data and lends
# again.
# vm: gpu v100 512

case_function_reset_v100() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	load_module pool_size_mb=256
	[ -e "/sys/bus/pci/devices/$bdf/reset" ] || fail "$bdf offers no reset"
	info "reset methods: $(cat "/sys/bus/pci/devices/$bdf/reset_method")"
	held_across "function reset" check sh -c "echo 1 > /sys/bus/pci/devices/$bdf/reset"
	engine_back_after reset "$bdf"
}
