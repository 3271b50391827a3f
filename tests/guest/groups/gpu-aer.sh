# SPDX-License-Identifier: GPL-2.0
# PCI Express error recovery (AER) on an emulated Tesla V100 that is a PCI Express endpoint behind a
# root port (gpu-model --pcie: PCI Express capability v2, no FLR, AER at 0x100), with 64 MiB of a
# live process's pages parked. Errors are injected with /dev/aer_inject (CONFIG_PCIEAER_INJECT);
# the kernel's recovery (drivers/pci/pcie/err.c) then resets the link (a secondary bus reset of the
# root port), which clears the board's VRAM and registers (gpu-model). A non-fatal error reports
# the device readable (io_normal); a fatal one reports the link frozen (io_frozen), where the
# driver brings pages back only while the board answers. Either way the process gets every byte
# back, and the board lends again with its copy engine running. The fatal case runs first: a
# driver that copies VRAM back after the reset shows it on a board that still comes back.
# vm: gpu v100 512 --pcie

# le32 VALUE: VALUE as four little-endian bytes in printf's octal escapes.
le32() {
	local v=$1 i
	for i in 0 8 16 24; do
		printf '\\%03o' $(((v >> i) & 255))
	done
}

# aer_inject BDF UNCOR_STATUS: injects an uncorrectable error with that status on the device at
# BDF (domain 0) and waits until the kernel's recovery of it is over.
aer_inject() {
	local bdf=$1 bus dev fn format
	bus=$((0x$(echo "$bdf" | cut -d: -f2)))
	dev=$((0x$(echo "$bdf" | cut -d: -f3 | cut -d. -f1)))
	fn=$(echo "$bdf" | cut -d. -f2)
	# struct aer_error_inj: u8 bus, dev, fn (and a pad byte); u32 uncor_status, cor_status,
	# header_log0..3, domain.
	format=$(printf '\\%03o\\%03o\\%03o\\000' "$bus" "$dev" "$fn")
	format="$format$(le32 "$2")$(le32 0)$(le32 0)$(le32 0)$(le32 0)$(le32 0)$(le32 0)"
	# shellcheck disable=SC2059 # the format is the escaped bytes
	printf "$format" >/tmp/aer_error_inj
	expect_eq "$(wc -c </tmp/aer_error_inj)" 32 "size of struct aer_error_inj"
	check dd if=/tmp/aer_error_inj of=/dev/aer_inject bs=32 count=1 status=none
	wait_until "the recovery of $bdf" "dmesg_since | grep -qE 'device recovery (successful|failed)'"
	expect_dmesg "device recovery successful" "recovery of $bdf"
}

# aer_device BDF: the device at BDF is a PCI Express endpoint with AER behind a root port.
aer_device() {
	[ -e /dev/aer_inject ] || fail "no /dev/aer_inject (CONFIG_PCIEAER_INJECT)"
	[ -e "/sys/bus/pci/devices/$1/aer_dev_fatal" ] || fail "$1 has no AER capability the kernel sees"
	info "$1 behind $(basename "$(dirname "$(readlink -f "/sys/bus/pci/devices/$1")")")"
}

case_fatal_error_v100() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	aer_device "$bdf"
	load_module pool_size_mb=256
	# Data Link Protocol Error (bit 4): fatal by the default severity; the link is frozen.
	held_across "PCI error recovery" aer_inject "$bdf" $((1 << 4))
	expect_dmesg "Uncorrectable \(Fatal\)" "the error was fatal"
	expect_dmesg "Root Port link has been reset" "the link reset"
	engine_back_after "PCI error recovery" "$bdf"
	expect_eq "$(gpu_stat "$bdf" lost_page_faults)" 0 "faults on lost pages"
}

case_nonfatal_error_v100() {
	local bdf
	bdf=$(nvidia_bdf 1db4)
	aer_device "$bdf"
	load_module pool_size_mb=256
	# Completion Timeout (bit 14): non-fatal by the default severity.
	held_across "PCI error recovery" aer_inject "$bdf" $((1 << 14))
	expect_dmesg "Uncorrectable \(Non-Fatal\)" "the error was non-fatal"
	expect_dmesg "Root Port link has been reset" "the link reset"
	engine_back_after "PCI error recovery" "$bdf"
	expect_eq "$(gpu_stat "$bdf" lost_page_faults)" 0 "faults on lost pages"
}
