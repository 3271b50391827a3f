# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 with 2 GiB of VRAM behind a 256 MiB BAR1 whose copy engine fails in
# the fault-back of 1100 MiB parked in huge pages (gpu-model --ce-fault error:1100: the
# self-check takes 3 launches, parking 550, the fault-back one per 2 MiB): the engine carries
# the first 1094 MiB, and the last 6 MiB come back by the CPU through BAR1's window, a slot remapped
# for each 2 MiB, every byte of the 1100 MiB verified. Late on purpose: through the emulated BAR1
# every access is a vfio-user message to the model, about 20 s per 2 MiB. `scrub=N`: zeroing
# the gigabyte by the CPU is not what this group measures.
# vm: gpu rtx8000 2048 --board-vram-mib 2048 --bar1-emulated --ce-fault error:1100
# vm: memory 3G
# vm: timeout 2400

HOLD_MIB=1100

case_fault_back_over_1g_engine_fails_rtx8000() {
	local bdf
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	dmesg_mark
	load_module scrub=N
	expect_eq "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/bar1_slots")" 128 "BAR1 in virtual mode"
	hold_parked $HOLD_MIB
	expect_eq "$(gpu_stat "$bdf" dma_fail)" 0 "no failure while parking"
	hold_verified $HOLD_MIB "faults, the engine failing part way"
	expect_eq "$(gpu_stat "$bdf" dma_fail)" 1 "copy-engine failures counted"
	expect_match "$(cat "/sys/bus/pci/devices/$bdf/pseudoscopic/copy_engine")" '^failed ' "copy_engine in sysfs"
	expect_eq "$(dmesg_since | grep -cE "copy engine .* failed: channel error")" 1 "dmesg lines on the failure"
	[ "$(gpu_stat "$bdf" cpu_copy_bytes)" -ge $((2 << 20)) ] || fail "the CPU took over nothing"
	[ "$(gpu_stat "$bdf" bar1_remaps)" -gt 0 ] || fail "the CPU did not go through BAR1's window"
}
