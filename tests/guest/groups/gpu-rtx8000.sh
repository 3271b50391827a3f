# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 (TU102: a 256 MiB BAR1; POST status in the GFW boot registers) with
# 2 GiB of VRAM, all of it emulated, eight times what BAR1 shows: BAR1 in virtual mode (gpu-model
# --bar1-emulated), all usable VRAM lent, the migration scenarios with the copy engine.
# vm: gpu rtx8000 2048 --board-vram-mib 2048 --bar1-emulated

# Usable: [256 KiB, 2 GiB - 1 MiB - 576 KiB): below BAR1's page tables (5 + 128 pages, at a 64 KiB
# boundary) under the VBIOS's top MiB.
RTX_PAGES=$((((2048 << 20) - (1 << 20) - (576 << 10) - (256 << 10)) / 4096))

case_probe_rtx8000() {
	local bdf
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	dmesg_mark
	load_module
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_dmesg "$bdf: BAR1 \(256 MiB\) cannot be resized: no PCIe Resizable BAR capability" "resize tried first"
	expect_dmesg "$bdf: BAR1 \(256 MiB\) is smaller than VRAM \(2048 MiB\): virtual mode, page tables at VRAM 0x7fe70000, 128 slots of 2 MiB pointed at VRAM on demand" "virtual-mode line"
	expect_dmesg "$bdf: self-check: BAR1's window shows the VRAM its page tables map at 4 pages \(0x40000-0x7fe6f000\) in slots 0-3, through PRAMIN and BAR1 both ways, and again with each slot pointed at a neighbouring chunk" "BAR1 window self-check"
	expect_probe "$bdf" name='Quadro RTX' id=10de:1e30 chip=TU102 arch=Turing rev=A1 vram_mib=2048 \
		bar=1 bar_mib=256 bar_kind='virtual mode, a window of 128 2 MiB slots remapped on demand' \
		gpu=0 lent_mib=2046 pages=$RTX_PAGES cpu_through="BAR1's window"
	expect_dmesg "$bdf: self-check: copy engine (LCE|CE)[0-9]+ \(runlist [0-9]+\) copied RAM to VRAM and back and filled VRAM exactly, guard pages untouched" "copy-engine self-check through the window"
	expect_pool "$bdf" $RTX_PAGES
	expect_eq "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/bar1_slots")" 128 "bar1_slots in sysfs"
	ps-status >/tmp/status.out || fail "ps-status failed"
	grep -q "BAR1: virtual mode, the CPU reaches VRAM through 128 2 MiB slots remapped on demand" /tmp/status.out ||
		fail "ps-status does not name BAR1's mode: $(cat /tmp/status.out)"
}

# Every migration scenario with the copy engine (the default; batches under 32 pages go through
# BAR1's window). The CPU alone through the window is gpu-rtx8000-vram's cpu_through_window: with
# every BAR1 access a vfio-user message to the model, the whole suite by the CPU takes an hour.
case_migrate_rtx8000() { migration_suite "$(nvidia_bdf 1e30)" 1; }
