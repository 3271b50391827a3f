# SPDX-License-Identifier: GPL-2.0
# Debian's own kernel: the vmlinuz of linux-image-7.3.*+deb13-amd64 (trixie-backports, THP mode
# always, no test_hmm) with the module that `make install` built through DKMS in the Debian chroot
# of `make setup` (rustc 1.85.1, the kernel's Rust artifacts from scripts/kernel-rust.sh; see
# tests/host/distro-install.sh). Every case of the migrate group, then the self-test. debian-7.2
# runs the same cases on Debian's 7.2 kernel.
# vm: kernel debian-7.3
# vm: ivshmem 256M
# vm: timeout 1500
. /tests/groups/migrate.sh

# The series of Debian's kernel the group boots, from its name: debian-7.3 or debian-7.2 (which
# includes this file), debian-7.3-gpu...
debian_series() {
	local series=${group#debian-}
	echo "${series%%-*}"
}

case_debian_kernel_and_dkms_module() {
	expect_match "$(uname -r)" "^$(debian_series | sed 's/\./\\./')\\..*\\+deb13-amd64\$" "uname -r of Debian's kernel"
	local ko=/lib/modules/$(uname -r)/updates/dkms/$MODULE.ko
	grep -q "^updates/dkms/$MODULE.ko:" "/lib/modules/$(uname -r)/modules.dep" ||
		fail "modprobe would not load the module DKMS installed ($ko)"
	expect_eq "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" "$(uname -r)" "vermagic"
	expect_match "$(cat /sys/kernel/mm/transparent_hugepage/enabled)" '\[always\]' "Debian's THP mode"
	ps_ready
	expect_match "$(cat /sys/module/$MODULE/taint)" '^OE$' "taint: out-of-tree, unsigned"
	self_test "ps-test, the self-test, on Debian's kernel"
	info "kernel $(uname -r); module vermagic $(modinfo -F vermagic "$ko")"
}

# The pidfd access check is the kernel's two-part ptrace rule: root of a child user namespace (as
# `unshare -U -r`) holds CAP_SYS_PTRACE over its child's credentials but not over the namespace its
# child's exec state belongs to, so a non-dumpable child is refused with EPERM, a dumpable one is
# not. Here because Debian's kernel has user namespaces (CONFIG_USER_NS) and the lean test kernel
# does not.
case_permission_user_namespace_and_dumpability() {
	[ -e /proc/sys/user/max_user_namespaces ] || fail "this kernel has no user namespaces (CONFIG_USER_NS)"
	ps_ready
	scenario permission_userns
}
