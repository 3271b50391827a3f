# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 with 2 GiB of VRAM whose BAR1 firmware already resized to cover it
# (PCIe Resizable BAR): BAR1 stays in physical mode and lends all usable VRAM, as a Tesla does; the
# migration scenarios pass on it.
# vm: gpu rtx8000 2048 --board-vram-mib 2048 --bar1-mib 2048
# vm: timeout 1800

# Usable: [256 KiB, 2 GiB - 1 MiB).
VRAM_PAGES=$((((2048 << 20) - (1 << 20) - (256 << 10)) / 4096))

case_probe_resized_bar1_rtx8000() {
	local bdf
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	dmesg_mark
	load_module
	expect_probe "$bdf" name='Quadro RTX' id=10de:1e30 chip=TU102 arch=Turing rev=A1 vram_mib=2048 \
		bar=1 bar_mib=2048 bar_kind='physical mode' gpu=0 lent_mib=2046 pages=$VRAM_PAGES \
		engine='L?CE[0-9]+' cpu_through=BAR1
	expect_dmesg "$bdf: self-check: BAR1 reaches VRAM one to one at 4 pages \(0x40000-0x7feff000\), through PRAMIN and BAR1 both ways" "identity self-check"
	dmesg_since | grep -q "virtual mode\|resized" && fail "BAR1 left physical mode: $(dmesg_since | grep 'virtual mode\|resized')"
	expect_pool "$bdf" $VRAM_PAGES
	expect_eq "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/bar1_slots")" 0 "bar1_slots in sysfs (physical mode)"
}

case_migrate_rtx8000_rebar() { migration_suite "$(nvidia_bdf 1e30)" 1; }
