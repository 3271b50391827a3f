# SPDX-License-Identifier: GPL-2.0
# An emulated Tesla P100 whose channel faults after a thousand copies (gpu-model --ce-fault error:1000):
# the batch is redone by the CPU, nothing is lost, and the engine stays off.
# vm: gpu p100 512 --ce-fault error:1000

case_copy_engine_channel_error_p100() {
	ce_fault_suite "$(nvidia_bdf 15f8)" "channel error" pool_size_mb=256
}
