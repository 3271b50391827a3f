# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 with 2 GiB of VRAM behind a 256 MiB BAR1 whose copy engine fails in
# the eviction at unbind of 1100 MiB parked in huge pages (gpu-model --ce-fault error:1100: the
# self-check takes 3 launches, parking 550, the eviction at unbind one per 2 MiB): the engine carries
# the first 1094 MiB, and the last 6 MiB are evicted by the CPU through BAR1's window, a slot remapped
# for each 2 MiB, every byte of the 1100 MiB verified. Late on purpose: through the emulated BAR1
# every access is a vfio-user message to the model, about 20 s per 2 MiB. `scrub=N`, as in
# gpu-rtx8000-vram-ce-error.
# vm: gpu rtx8000 2048 --board-vram-mib 2048 --bar1-emulated --ce-fault error:1100
# vm: memory 3G
# vm: timeout 2400

HOLD_MIB=1100

case_evict_over_1g_engine_fails_rtx8000() {
	local bdf
	bdf=$(nvidia_bdf 1e30)
	[ -n "$bdf" ] || fail "no 10de:1e30 device"
	dmesg_mark
	load_module scrub=N
	hold_parked $HOLD_MIB
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	hold_verified $HOLD_MIB "eviction at unbind, the engine failing part way"
	expect_dmesg "$bdf: moved $((HOLD_MIB << 8)) pages \($((HOLD_MIB << 10)) KiB\) back to RAM" "eviction line"
	expect_eq "$(dmesg_since | grep -cE "copy engine .* failed: channel error")" 1 "dmesg lines on the failure"
	expect_eq "$(stat_value dma_fail)" 1 "copy-engine failures counted"
	[ "$(stat_value bar1_remaps)" -gt 0 ] || fail "the CPU did not go through BAR1's window"
}
