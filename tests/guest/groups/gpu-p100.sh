# SPDX-License-Identifier: GPL-2.0
# An emulated Tesla P100 (GP100: 16 GiB of HBM2, sized through its memory partitions; 16 GiB BAR1),
# 512 MiB of it emulated.
# vm: gpu p100 512

# Usable: [256 KiB, 16 GiB - 1 MiB) of BAR1.
P100_PAGES=4193984

case_probe_p100() {
	local bdf
	bdf=$(nvidia_bdf 15f8)
	[ -n "$bdf" ] || fail "no 10de:15f8 device"
	dmesg_mark
	load_module
	expect_eq "$(bound_driver "$bdf")" "$MODULE" "driver bound to $bdf"
	expect_dmesg "$bdf: Tesla P100 \[10de:15f8\]: GP100 \(Pascal\) rev A1, 16384 MiB VRAM; BAR1 at 0x[0-9a-f]+-0x[0-9a-f]+ \(16384 MiB, physical mode\), mapped write-combined; GPU 0 lends 16382 MiB \($P100_PAGES pages\) as device-private memory; copies by the CPU \((avx2|sse4\.1|io)\) through BAR1" "probe line"
	expect_pool "$bdf" $P100_PAGES
}

host_probe_p100() {
	no_rejected_access 0
	gpu_log_has 0 'NV_PTOP_SCAL_NUM_FBPAS' "FBPA count read"
	gpu_log_has 0 'NV_PFB_FBPA_CSTATUS_RAMAMOUNT' "per-FBPA size read"
	gpu_log_has 0 'POST scratch' "POST status read"
}

case_migrate_p100() {
	load_module
	scenario migrate
	scenario migrate_fault
	scenario fork
}

host_migrate_p100() {
	no_rejected_access 0
}

# 64 MiB parked in the P100, checked in the model's VRAM file after the guest is gone.
case_park_in_p100_vram() {
	local bdf pid
	bdf=$(nvidia_bdf 15f8)
	load_module
	ps-test hold 64 >/tmp/hold.out 2>&1 &
	pid=$!
	wait_for_line /tmp/hold.out "^parked 16384 pages"
	check sh -c "echo $bdf > $DRIVER_DIR/unbind"
	kill -USR1 $pid
	wait $pid || fail "process lost data across unbind: $(cat /tmp/hold.out)"
}

host_park_in_p100_vram() {
	vram_holds 0 19 16384
	vram_untouched 0 0 $((256 << 10))
}
