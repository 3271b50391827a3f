# SPDX-License-Identifier: GPL-2.0
# An emulated Quadro RTX 8000 whose copy engine releases a corrupted semaphore after a thousand copies
# (gpu-model --ce-fault semaphore:1000): the batch is redone by the CPU, nothing is lost, and the
# engine stays off. A board whose 256 MiB BAR1 covers its VRAM (physical mode): the CPU then
# copies at memory speed, where through an emulated BAR1 in virtual mode every access would be a
# vfio-user message (gpu-rtx8000-vram-ce-error has the engine failing in virtual mode).
# vm: gpu rtx8000 256 --board-vram-mib 256 --ce-fault semaphore:1000

case_copy_engine_bad_semaphore_rtx8000() {
	ce_fault_suite "$(nvidia_bdf 1e30)" "semaphore corrupted"
}
