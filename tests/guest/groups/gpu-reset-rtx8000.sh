# SPDX-License-Identifier: GPL-2.0
# A function reset of an emulated Quadro RTX 8000 whose BAR1 comes out of every reset in virtual
# mode in its Turing block, 0xB80F40 (gpu-model --bar1-virtual; on TU10x the model gives 0x1704 no
# effect, as nouveau and OpenRM never use it there): the board must come back with BAR1 physical
# through the same operation probe uses, or the CPU's copies through BAR1 would go through stale
# page tables. 64 MiB of a live process parked across the reset, every byte verified.
# vm: gpu rtx8000 512 --board-vram-mib 512 --bar1-emulated --bar1-virtual

BAR1_BACK='BAR1 was left in virtual mode \(NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK, instance block 0x10000\); switched it to physical mode'

case_function_reset_rtx8000_bar1_virtual() {
	local bdf
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	dmesg_mark
	load_module
	expect_dmesg "$bdf: $BAR1_BACK" "BAR1 put back at probe"
	[ -e "/sys/bus/pci/devices/$bdf/reset" ] || fail "$bdf offers no reset"
	held_across "function reset" check sh -c "echo 1 > /sys/bus/pci/devices/$bdf/reset"
	expect_dmesg "$bdf: $BAR1_BACK" "BAR1 put back after the reset"
	engine_back_after reset "$bdf"
}
