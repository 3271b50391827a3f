#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs every case of one group (tests/guest/groups/GROUP.sh) in definition order, each in its own
# subshell.  Results go to the second serial port (/dev/ttyS1) as
#   PSTEST BEGIN <case> / PSTEST PASS <case> / PSTEST FAIL <case> <reason> / PSTEST DONE
# A case also fails when the kernel logged a warning, oops or lockdep splat while it ran.

group=$1
RESULTS=/dev/ttyS1
. /tests/lib.sh
[ -f "/tests/groups/$group.sh" ] || {
	echo "PSTEST FAIL - no such group: $group" >$RESULTS
	exit 1
}
. "/tests/groups/$group.sh"

stty -F $RESULTS raw -echo 2>/dev/null
report() { echo "$*" >$RESULTS; echo "$*"; }

# A group's cases: those of the groups it includes (". /tests/groups/NAME.sh"), then its own.
group_cases() {
	local inc
	for inc in $(sed -n 's|^\. /tests/groups/\([a-z0-9.-]*\)\.sh$|\1|p' "$1"); do
		group_cases "/tests/groups/$inc.sh"
	done
	sed -n 's/^case_\([a-z0-9_]*\)() *{.*/\1/p' "$1"
}

kmemleak_baseline
for c in $(group_cases "/tests/groups/$group.sh"); do
	report "PSTEST BEGIN $c"
	before=$(dmesg | wc -l)
	(case_$c) >/tmp/case.out 2>&1
	rc=$?
	splat=$(dmesg | tail -n +$((before + 1)) | kernel_log_checked | grep -m1 -E "$KERNEL_SPLAT")
	# What a case measured ("PSINFO: ..." lines: operations, bytes verified) goes to the host.
	sed -n 's/^PSINFO: //p' /tmp/case.out | while read -r line; do report "PSTEST INFO $c $line"; done
	if [ $rc -eq 0 ] && [ -z "$splat" ]; then
		report "PSTEST PASS $c"
	else
		reason=$(sed -n 's/^PSFAIL: //p' /tmp/case.out | tail -n 1)
		[ -n "$splat" ] && reason="${reason:+$reason; }kernel: $splat"
		report "PSTEST FAIL $c ${reason:-exit status $rc}"
		echo "---- output of $c ----"
		cat /tmp/case.out
		echo "---- kernel log during $c ----"
		dmesg | tail -n +$((before + 1))
		echo "----"
	fi
	cleanup_module
done
report "PSTEST DONE"
