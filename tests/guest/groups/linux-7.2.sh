# SPDX-License-Identifier: GPL-2.0
# Our own Linux 7.2 test kernel (`make setup`, part kernel-7.2: Debian's linux-source-7.2 with
# tests/kernel.config, built by rustc 1.96 like our 7.3 one) and the module built against it
# (`make modules-7.2`, through src/compat/v7_2.rs). Debian's 7.2 image (debian-7.2) tests what a
# user runs; this kernel runs what that one cannot: the KUnit suites, and suspend and hibernation
# with pages parked (PM_DEBUG), beside every migrate case.
# vm: kernel test-7.2
# vm: ivshmem-file 256M
# vm: qmp
# vm: memory 1G
# vm: timeout 1800
. /tests/groups/kunit.sh
. /tests/groups/suspend.sh
. /tests/groups/migrate.sh
