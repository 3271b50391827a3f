# SPDX-License-Identifier: GPL-2.0
# Boards that break what probe's self-checks look at (docs/copy-engine.md, "Self-checks at
# probe"): a V100 32GB whose memory decodes half the VRAM its registers report, a P100 with a
# locked region no register reports, a P40 whose VRAM size register fails with a PRI error, a
# V100 whose copy engine copies one page past its destination, and an RTX 8000 a previous driver
# left dirty (BAR1 virtual in its 0xB80F40 block, PFIFO and the engine running with a faulted
# channel, stale TLBs), and a V100 whose BAR1 stays virtual whatever its BAR1 block says (as if a
# register the driver does not know were live).
# vm: gpu v100-32 64 --vram-wraps
# vm: gpu p100 64 --locked-hidden 8000:8400
# vm: gpu p40 64 --pri-error 0x100ce0
# vm: gpu v100 256 --ce-fault misdirect
# vm: gpu rtx8000 64 --board-vram-mib 64 --bar1-virtual --leftovers
# vm: gpu v100 64 --bar1-virtual --bar1-block-ignored

# Probe refuses the boards whose BAR1 does not reach VRAM one to one or whose registers fail,
# falls back to the CPU on the misdirecting engine, and repairs the dirty board; then data moves
# through each lending board with every byte checked.
case_self_checks_at_probe() {
	local wraps locked pri misdirect dirty virtual
	wraps=$(nvidia_bdf 1db5)
	locked=$(nvidia_bdf 15f8)
	pri=$(nvidia_bdf 1b38)
	misdirect=$(nvidia_bdf 1db4)
	dirty=$(nvidia_bdf 1e30)
	virtual=$(pci_devices "10de 1db4" | sed -n 2p)
	[ -n "$virtual" ] || fail "no second 10de:1db4 device"
	dmesg_mark
	load_module pool_size_mb=32
	expect_dmesg "$wraps: self-check: BAR1 does not reach VRAM one to one: VRAM 0x40000 word 0 written and read back through PRAMIN \(another page aliases it, or it drops writes\) reads 0x[0-9a-f]+, expected 0x[0-9a-f]+; refusing to lend this board" "refusal of the board whose VRAM wraps"
	expect_eq "$(bound_driver "$wraps")" "" "driver of $wraps"
	expect_dmesg "$locked: self-check: BAR1 does not reach VRAM one to one: VRAM 0x[0-9a-f]+ word 0 written and read back through PRAMIN \(another page aliases it, or it drops writes\) reads 0x00000000, expected 0x[0-9a-f]+; refusing to lend this board" "refusal of the board with a hidden locked region"
	expect_eq "$(bound_driver "$locked")" "" "driver of $locked"
	expect_dmesg "$pri: GP102: NV_PFB_PRI_MMU_LOCAL_MEMORY_RANGE reads 0xbadf1100, a failed register read \(PRI error or no answer\); refusing it" "refusal on a PRI error"
	expect_eq "$(bound_driver "$pri")" "" "driver of $pri"
	expect_dmesg "$virtual: self-check: BAR1 does not reach VRAM one to one: VRAM 0x40000 word 0 written through PRAMIN, read through BAR1 reads 0x00000000, expected 0x[0-9a-f]+; refusing to lend this board" "refusal of the board whose BAR1 stays virtual"
	expect_eq "$(bound_driver "$virtual")" "" "driver of $virtual"
	expect_eq "$(bound_driver "$misdirect")" "$MODULE" "driver bound to $misdirect"
	expect_dmesg "$misdirect: self-check: copy engine (LCE|CE)[0-9]+ \(runlist [0-9]+\) failed its known-pattern test: RAM to VRAM: VRAM target byte 0x0 reads 0x3c, expected 0x11 \(NV_PCCSR_CHANNEL 0x[0-9a-f]+, NV_PPBDMA_INTR_0 0x[0-9a-f]+, NV_PFIFO_ENGINE_STATUS 0x[0-9a-f]+, NV_PFB_PRI_MMU_FAULT_STATUS 0x[0-9a-f]+, NV_PMC_ENABLE 0x[0-9a-f]+, semaphore 0x1\); reset, the CPU copies" "self-check failure line"
	expect_match "$(cat "/sys/bus/pci/devices/$misdirect/pseudoscopic/copy_engine")" '^failed ' "copy_engine of $misdirect"
	expect_dmesg "$misdirect: self-check: BAR1 reaches VRAM one to one at 4 pages" "BAR1 identity of $misdirect"
	expect_eq "$(bound_driver "$dirty")" "$MODULE" "driver bound to $dirty"
	expect_dmesg "$dirty: BAR1 was left in virtual mode \(NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK, instance block 0x10000\); switched it to physical mode" "BAR1 recovery on Turing"
	expect_dmesg "$dirty: self-check: BAR1 reaches VRAM one to one at 4 pages" "BAR1 identity of $dirty"
	expect_dmesg "$dirty: self-check: copy engine (LCE|CE)[0-9]+ \(runlist [0-9]+\) copied RAM to VRAM and back and filled VRAM exactly, guard pages untouched" "engine self-check of $dirty"
	expect_match "$(cat "/sys/bus/pci/devices/$dirty/pseudoscopic/copy_engine")" '^running ' "copy_engine of $dirty"
	# The dirty board alone: its engine copies.
	check sh -c "echo $misdirect > $DRIVER_DIR/unbind"
	scenario migrate
	[ "$(gpu_stat "$dirty" dma_bytes)" -gt 0 ] || fail "the repaired engine copied nothing"
	expect_eq "$(gpu_stat "$dirty" dma_fail)" 0 "copy-engine failures on $dirty"
	# The misdirecting board alone: the CPU copies, nothing is lost.
	check sh -c "echo $dirty > $DRIVER_DIR/unbind"
	check sh -c "echo $misdirect > $DRIVER_DIR/bind"
	scenario migrate
	expect_eq "$(gpu_stat "$misdirect" dma_bytes)" 0 "bytes the failed engine copied"
	[ "$(gpu_stat "$misdirect" cpu_copy_bytes)" -gt 0 ] || fail "the CPU copied nothing on $misdirect"
}
