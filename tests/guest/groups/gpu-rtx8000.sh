# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 (TU102: 48 GiB, a 256 MiB BAR1; POST status in the GFW boot
# registers), 256 MiB of it emulated.
# vm: gpu rtx8000 256

# Usable: [256 KiB, 256 MiB): the BAR1 window in physical mode.
RTX_PAGES=65472

case_probe_rtx8000() {
	local bdf
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	dmesg_mark
	load_module
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_dmesg "$bdf: BAR1 \(256 MiB\) shows only the first 256 MiB of 49152 MiB of VRAM in physical mode, and BAR1 virtual mode is not implemented: lending from that window only" "window line"
	expect_probe "$bdf" name='Quadro RTX' id=10de:1e30 chip=TU102 arch=Turing rev=A1 vram_mib=49152 \
		bar=1 bar_mib=256 bar_kind='physical mode' gpu=0 lent_mib=255 pages=$RTX_PAGES
	expect_pool "$bdf" $RTX_PAGES
	expect_dmesg "$bdf: self-check: BAR1 reaches VRAM one to one at 3 pages \(0x40000-0xffff000\), through PRAMIN and BAR1 both ways" "BAR1 identity self-check"
	expect_dmesg "$bdf: self-check: copy engine (LCE|CE)[0-9]+ \(runlist [0-9]+\) copied RAM to VRAM and back and filled VRAM exactly, guard pages untouched" "copy-engine self-check"
}

# Every migration scenario with the copy engine (the default), then with the CPU alone.
case_migrate_rtx8000() { migration_suite "$(nvidia_bdf 1e30)" 1; }
case_migrate_cpu_rtx8000() { migration_suite "$(nvidia_bdf 1e30)" 0; }
