# SPDX-License-Identifier: GPL-2.0
# The module `make install` built through DKMS (tests/host/dkms.sh puts it in the guest as
# /dkms/pseudoscopic.ko) loads, registers the device the udev rule matches, and moves data.
# vm: ivshmem 256M

DKMS_KO=/dkms/pseudoscopic.ko

case_dkms_module_loads_and_round_trips() {
	[ -f $DKMS_KO ] || fail "no DKMS-built module in the guest: run tests/host/dkms.sh (make vm-test does)"
	expect_eq "$(modinfo -F vermagic $DKMS_KO | cut -d' ' -f1)" "$(uname -r)" "vermagic of the DKMS module"
	dmesg_mark
	check insmod $DKMS_KO
	expect_eq "$(cat /sys/module/$MODULE/srcversion)" "$(modinfo -F srcversion $DKMS_KO)" "the loaded module is the DKMS one"
	expect_dmesg "pseudoscopic: VRAM BAR: largest 64-bit prefetchable" "load line"
	bind_ivshmem
	# What the udev rule matches: KERNEL=="pseudoscopic", SUBSYSTEM=="misc".
	[ -c /dev/$MODULE ] || fail "/dev/$MODULE missing"
	expect_eq "$(basename "$(readlink /sys/class/misc/$MODULE/subsystem)")" misc "subsystem of /dev/$MODULE"
	scenario migrate
	scenario to_ram
	check rmmod $MODULE
}
