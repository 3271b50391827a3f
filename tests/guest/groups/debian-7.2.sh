# SPDX-License-Identifier: GPL-2.0
# Debian's own 7.2 kernel: the vmlinuz of linux-image-7.2.*+deb13-amd64 (trixie-backports, built
# with rustc 1.85.1 like Debian's 7.3) with the module that `make install` built through DKMS in
# the Debian 7.2 chroot of `make setup` (src/compat/v7_2.rs). Every case of debian-7.3: the
# migrate group, the self-test under Debian's THP mode (always), the user-namespace permission
# check; then the self-test under the other two THP modes, as thp-modes runs it on 7.3.
# vm: kernel debian-7.2
# vm: ivshmem 256M
# vm: timeout 1800
. /tests/groups/debian-7.3.sh

case_self_test_thp_madvise() { self_test_under madvise; }
case_self_test_thp_never() { self_test_under never; }
