#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Which VM groups boot which kernel (a group's "# vm: kernel" line; test when it has none), for
# `make vm-test` (what to build before the guests run) and `make test` (which groups can run while
# the test-only kernels are still being built).
#
# Usage: tests/vm/list-groups.sh groups [KERNEL...]   the groups booting one of KERNELs (all groups
#                                                     when none is given), in the suite's order
#        tests/vm/list-groups.sh kernels [GROUP...]   the kernels GROUPs boot (every group's when
#                                                     none is given), one per line
set -euo pipefail
GROUP_DIR=$(cd "$(dirname "$0")/../guest/groups" && pwd)

group_kernel() {
	local kernel
	kernel=$(sed -n 's/^# vm: *kernel  *\([^ ]*\).*/\1/p' "$GROUP_DIR/$1.sh" | head -n 1)
	echo "${kernel:-test}"
}

all_groups() { (cd "$GROUP_DIR" && ls ./*.sh | sed 's|^\./||; s|\.sh$||'); }

case "${1:-}" in
groups)
	shift
	for g in $(all_groups); do
		[ $# -eq 0 ] && { echo "$g"; continue; }
		k=$(group_kernel "$g")
		for want in "$@"; do
			[ "$k" = "$want" ] && echo "$g"
		done
	done
	;;
kernels)
	shift
	[ $# -ne 0 ] || set -- $(all_groups)
	for g in "$@"; do
		[ -f "$GROUP_DIR/$g.sh" ] || { echo "list-groups.sh: no such group: $g" >&2; exit 1; }
		group_kernel "$g"
	done | sort -u
	;;
*)
	echo "usage: $0 groups [KERNEL...] | kernels [GROUP...]" >&2
	exit 2
	;;
esac
