#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs every case of one group (tests/guest/groups/GROUP.sh) in definition order, each in its own
# subshell.  Results go to the second serial port (/dev/ttyS1) as
#   PSTEST BEGIN <case> / PSTEST PASS <case> / PSTEST FAIL <case> <reason> / PSTEST DONE
# A case also fails when the kernel logged a warning, oops or lockdep splat while it ran.

group=$1
RESULTS=/dev/ttyS1
. /tests/lib.sh
. /tests/cases.sh
[ -f "/tests/groups/$group.sh" ] || {
	echo "PSTEST FAIL - no such group: $group" >$RESULTS
	exit 1
}
. "/tests/groups/$group.sh"

stty -F $RESULTS raw -echo 2>/dev/null
report() { echo "$*" >$RESULTS; echo "$*"; }


# stuck_report CASE SECS: what a case that still runs after SECS seconds waits for, on the console
# (kept with a failed group's logs): every task in uninterruptible sleep with its kernel stack,
# and the case's output so far. The host's time limit then ends the guest.
stuck_report() {
	local stat pid
	sleep "$2" || return
	echo "---- $1 still runs after $2 s; tasks in uninterruptible sleep: ----"
	for stat in /proc/[0-9]*/stat; do
		pid=${stat#/proc/}
		pid=${pid%/stat}
		case "$(cut -d' ' -f3 "$stat" 2>/dev/null)" in
		D)
			echo "-- $pid $(cat "/proc/$pid/comm" 2>/dev/null):"
			cat "/proc/$pid/stack" 2>/dev/null
			;;
		esac
	done
	echo "---- output of $1 so far ----"
	tail -n 40 /tmp/case.out
	echo "----"
}

kmemleak_baseline
for c in $(group_case_names /tests/groups "/tests/groups/$group.sh"); do
	report "PSTEST BEGIN $c"
	before=$(dmesg | wc -l)
	stuck_report "$c" "${PS_STUCK_SECS:-480}" &
	stuck=$!
	(case_$c) >/tmp/case.out 2>&1
	rc=$?
	kill $stuck 2>/dev/null
	wait $stuck 2>/dev/null
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
