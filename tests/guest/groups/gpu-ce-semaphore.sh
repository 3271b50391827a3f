# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 whose copy engine releases a corrupted semaphore after a thousand copies
# (gpu-model --ce-fault semaphore:1000): the batch is redone by the CPU, nothing is lost, and the
# engine stays off.
# vm: gpu rtx8000 512 --board-vram-mib 512 --bar1-emulated --ce-fault semaphore:1000

case_copy_engine_bad_semaphore_rtx8000() {
	ce_fault_suite "$(nvidia_bdf 1e30)" "semaphore corrupted"
}
