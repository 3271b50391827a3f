# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group gpu-selfcheck (guest cases: tests/guest/groups/gpu-selfcheck.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

host_self_checks_at_probe() {
	local n
	for n in 0 1 2 3 4 5; do
		no_rejected_access $n
	done
	gpu_log_has 0 '^R4 0x007[0-9a-f]{5} PRAMIN vram' "PRAMIN read by the BAR1 check"
	gpu_log_lacks 0 '^FIFO channel 0 bound' "a channel on a refused board"
	gpu_log_lacks 1 '^FIFO channel 0 bound' "a channel on a refused board"
	gpu_log_has 2 'PRI error injected' "the failed read"
	gpu_log_has 3 '^FAULT misdirect' "the misdirected copy"
	gpu_log_has 3 '^PCI bus master off' "bus mastering off after the engine failed"
	gpu_log_has 4 '^W4 0x00b80f40 = 0x00000000 NV_VIRTUAL_FUNCTION_PRIV_BAR1_BLOCK' "Turing BAR1 put in physical mode"
	gpu_log_has 4 '^FIFO reset: runlists, channels and USERD base cleared' "PFIFO pulsed through reset"
	gpu_log_has 4 '^MMU TLB invalidated \(all PDBs\)' "stale TLBs dropped"
	gpu_log_has 4 '^END BAR1 physical' "BAR1 mode at the end"
	copy_engine_used 4
	gpu_log_has 5 '^W4 0x00001704 = 0x00000000 NV_PBUS_BAR1_BLOCK' "BAR1 switch attempted"
	gpu_log_lacks 5 '^FIFO channel 0 bound' "a channel on a refused board"
}
