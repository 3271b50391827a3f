# SPDX-License-Identifier: GPL-2.0
# VRAM that held data is zeroed when the GPU is released (scrub, the default): on an emulated Tesla
# P100 without its copy engine (enable_dma=0), by the CPU through BAR1.
# vm: gpu p100 512

case_scrub_by_cpu_p100() {
	scrub_on_unbind "$(nvidia_bdf 15f8)" "the CPU" pool_size_mb=256 enable_dma=0
}
