# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group linux-7.2 (guest cases: tests/guest/groups/linux-7.2.sh): the
# host parts of the groups whose cases it runs.
. "$REPO/tests/vm/groups/kunit.sh"
. "$REPO/tests/vm/groups/suspend.sh"
