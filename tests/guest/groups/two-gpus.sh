# SPDX-License-Identifier: GPL-2.0
# Two emulated GPUs in one guest: both pools used and counted separately; one unbinds while the
# other keeps working.
# vm: ivshmem 256M
# vm: ivshmem 256M

case_two_pools_counted_separately() {
	ps_ready
	expect_eq "$(ls -d $DRIVER_DIR/????:??:??.? | wc -l)" "2" "bound GPUs"
	expect_eq "$(cat /sys/module/$MODULE/pool/total_pages)" "131072" "module pool over two GPUs"
	scenario two_gpus
}

case_unbind_one_keeps_other() {
	ps_ready
	local first second
	first=$(ivshmem_bdf 1)
	second=$(ivshmem_bdf 2)
	check sh -c "echo $first > $DRIVER_DIR/unbind"
	expect_eq "$(cat /sys/module/$MODULE/pool/total_pages)" "65536" "pool with one GPU left"
	expect_eq "$(cat /sys/bus/pci/devices/$second/$MODULE/index)" "1" "remaining GPU keeps its index"
	scenario migrate
	check sh -c "echo $first > $DRIVER_DIR/bind"
	expect_eq "$(cat /sys/bus/pci/devices/$first/$MODULE/index)" "0" "rebound GPU takes the free index"
}
