# SPDX-License-Identifier: GPL-2.0
# Debian's own 7.2 kernel (see debian-7.2) with the DKMS-built module driving an emulated Tesla
# V100 (512 MiB of its VRAM emulated): every migration scenario through its copy engine, as
# debian-7.3-gpu does on 7.3.
# vm: kernel debian-7.2
# vm: gpu v100 512

case_debian_v100_copy_engine() {
	expect_match "$(uname -r)" '^7\.2\..*\+deb13-amd64$' "uname -r of Debian's 7.2 kernel"
	migration_suite "$(nvidia_bdf 1db4)" 1 pool_size_mb=256
	info "kernel $(uname -r); copy engine: $(cat /sys/bus/pci/devices/$(nvidia_bdf 1db4)/pseudoscopic/copy_engine)," \
		"$(gpu_stat "$(nvidia_bdf 1db4)" dma_bytes) bytes copied by it"
}
