# SPDX-License-Identifier: GPL-2.0
# An emulated Tesla V100 whose copy engine hangs after a thousand copies (gpu-model --ce-fault hang:1000):
# the batch in flight is redone by the CPU, nothing is lost, and the engine stays off.
# vm: gpu v100 512 --ce-fault hang:1000

case_copy_engine_hang_v100() {
	ce_fault_suite "$(nvidia_bdf 1db4)" "timed out" pool_size_mb=256
}
