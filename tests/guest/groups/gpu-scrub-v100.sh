# SPDX-License-Identifier: GPL-2.0
# VRAM that held data is zeroed when the GPU is released (scrub, the default): on an emulated Tesla
# V100 by its copy engine, checked in the model's VRAM file after the guest is gone.
# vm: gpu v100 512

case_scrub_by_copy_engine_v100() {
	scrub_on_unbind "$(nvidia_bdf 1db4)" "the copy engine" pool_size_mb=256
}
