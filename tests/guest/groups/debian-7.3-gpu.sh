# SPDX-License-Identifier: GPL-2.0
# Debian's own 7.3 kernel (see debian-7.3) with the DKMS-built module driving an emulated Tesla
# V100 (512 MiB of its VRAM emulated): every migration scenario through its copy engine, then
# through the CPU, and the self-test. Booted with `preempt=full`: Debian's kernel chooses its
# preemption model at boot (PREEMPT_DYNAMIC), our test kernel and Debian's default are `lazy`, so
# this group is the one that runs the module under full preemption (x86 on 7.3 offers only these
# two: `none` and `voluntary` went with lazy preemption).
# vm: kernel debian-7.3
# vm: gpu v100 512
# vm: cmdline preempt=full

case_debian_full_preemption() {
	expect_match "$(uname -r)" '^7\.3\..*\+deb13-amd64$' "uname -r of Debian's 7.3 kernel"
	dmesg | grep -q 'Dynamic Preempt: full' || fail "the kernel did not say it runs with full preemption"
}

case_debian_v100_copy_engine() {
	migration_suite "$(nvidia_bdf 1db4)" 1 pool_size_mb=256
	info "kernel $(uname -r); copy engine: $(cat /sys/bus/pci/devices/$(nvidia_bdf 1db4)/pseudoscopic/copy_engine)," \
		"$(gpu_stat "$(nvidia_bdf 1db4)" dma_bytes) bytes copied by it"
}

case_debian_v100_cpu_copies() {
	migration_suite "$(nvidia_bdf 1db4)" 0 pool_size_mb=256
}

case_debian_v100_self_test() {
	load_module pool_size_mb=256
	self_test "ps-test, the self-test, on an emulated V100 under full preemption"
}
