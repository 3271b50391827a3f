# SPDX-License-Identifier: GPL-2.0
# The pidfd access check is the kernel's two-part ptrace rule: root of a child user namespace (as
# `unshare -U -r`) holds CAP_SYS_PTRACE over its child's credentials but not over the namespace its
# child's exec state belongs to, so a non-dumpable child is refused with EPERM, a dumpable one is
# not. Needs CONFIG_USER_NS=y in the test kernel.
# vm: ivshmem 256M

case_permission_user_namespace_and_dumpability() {
	grep -q '^CONFIG_USER_NS=y' /proc/config.gz 2>/dev/null ||
		[ -e /proc/sys/user/max_user_namespaces ] ||
		fail "the test kernel has no user namespaces (CONFIG_USER_NS)"
	ps_ready
	scenario permission_userns
}
