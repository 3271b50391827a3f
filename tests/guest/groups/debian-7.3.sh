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

# ps-tierd on Debian's kernel, whose DAMON_STAT runs from boot and holds DAMON for itself (no
# other kdamond starts while it runs): with damon_stat = "pause", the default, ps-tierd stops it,
# parks the memory a process left cold, and starts it again when it exits; every byte comes back.
case_tierd_pauses_damon_stat_and_parks() {
	expect_eq "$(cat $DAMON_STAT_ENABLED)" Y "DAMON_STAT on Debian's kernel after boot"
	ps_ready
	tierd_start "$TIERD_EAGER"
	# However the case ends, ps-tierd stops (and so starts DAMON_STAT again).
	trap 'kill -TERM $TIERD_PID 2>/dev/null' EXIT
	hot_start 32 0 cold
	wait_until "ps-tierd parks half of it" '[ "$(resident_pages $HOT_PID "$HOT_RANGE")" -ge 4096 ]'
	expect_eq "$(cat $DAMON_STAT_ENABLED)" N "DAMON_STAT while ps-tierd runs"
	expect_eq "$(tierd_last damon_stat_paused)" true "damon_stat_paused in ps-tierd's step"
	hot_finish $HOT_PID cold
	tierd_stop
	expect_eq "$(cat $DAMON_STAT_ENABLED)" Y "DAMON_STAT after ps-tierd exited"
	info "ps-tierd parked $(tierd_last parked_total) bytes with DAMON_STAT paused; DAMON_STAT runs again"
}

# A ps-tierd killed with SIGKILL cannot start DAMON_STAT again: the next one (systemd restarts
# it) finds the pause recorded under /run and starts DAMON_STAT again when it exits.
case_tierd_killed_leaves_damon_stat_to_the_next() {
	tierd_start "$TIERD_EAGER"
	trap 'kill -TERM $TIERD_PID 2>/dev/null' EXIT
	expect_eq "$(cat $DAMON_STAT_ENABLED)" N "DAMON_STAT while ps-tierd runs"
	kill -KILL $TIERD_PID
	wait $TIERD_PID
	expect_eq "$(cat $DAMON_STAT_ENABLED)" N "DAMON_STAT after ps-tierd was killed"
	tierd_start "$TIERD_EAGER"
	expect_eq "$(tierd_last damon_stat_paused)" true "damon_stat_paused of the next ps-tierd"
	tierd_stop
	expect_eq "$(cat $DAMON_STAT_ENABLED)" Y "DAMON_STAT after the next ps-tierd exited"
	[ -e /run/ps-tierd/damon_stat-paused ] && fail "the pause is still recorded after DAMON_STAT runs again"
	return 0
}

# With damon_stat = "leave", ps-tierd leaves DAMON_STAT running and refuses to start, in one line.
case_tierd_leaves_damon_stat_when_told() {
	local out rc
	printf '%s\ndamon_stat = "leave"\n' "$TIERD_EAGER" >/tmp/tierd-leave.toml
	out=$(ps-tierd --config /tmp/tierd-leave.toml --steps 1 2>&1)
	rc=$?
	expect_eq "$rc" 1 "ps-tierd's exit status"
	expect_match "$out" '^ps-tierd: DAMON_STAT runs .* damon_stat = "leave" keeps it' "ps-tierd's refusal"
	expect_eq "$(echo "$out" | wc -l)" 1 "lines ps-tierd printed"
	expect_eq "$(cat $DAMON_STAT_ENABLED)" Y "DAMON_STAT after the refusal"
	expect_eq "$(cat $DAMON_ADMIN/nr_kdamonds)" 0 "kdamonds ps-tierd left"
}

# DAMON held by a user an administrator turned on (DAMON_RECLAIM here) is never taken: ps-tierd
# says so once on stderr, watches nothing meanwhile, and once DAMON_RECLAIM stops it watches the
# process it had waited for and parks its cold memory.
case_tierd_waits_for_damon_held_by_another() {
	local reclaim=/sys/module/damon_reclaim/parameters/enabled
	ps_ready
	echo N >$DAMON_STAT_ENABLED
	echo Y >$reclaim || fail "could not start DAMON_RECLAIM"
	trap 'kill -TERM $TIERD_PID 2>/dev/null; echo N >$reclaim; echo Y >$DAMON_STAT_ENABLED' EXIT
	hot_start 32 0 held
	tierd_start "$TIERD_EAGER"
	wait_until "3 steps" "[ \$(wc -l <$TIERD_LOG) -ge 3 ]"
	expect_eq "$(tierd_last monitored)" '[]' "processes watched while DAMON_RECLAIM holds DAMON"
	expect_eq "$(tierd_last damon_stat_paused)" false "damon_stat_paused (DAMON_STAT was off)"
	echo N >$reclaim
	wait_until "ps-tierd parks half of it" '[ "$(resident_pages $HOT_PID "$HOT_RANGE")" -ge 4096 ]'
	hot_finish $HOT_PID held
	kill -TERM $TIERD_PID
	wait $TIERD_PID || fail "ps-tierd exited with status $?: $(cat $TIERD_ERR)"
	expect_eq "$(wc -l <$TIERD_ERR)" 1 "lines ps-tierd wrote on stderr"
	expect_match "$(cat $TIERD_ERR)" '^ps-tierd: DAMON is held by another of its users for itself .*: monitoring waits for it$' \
		"ps-tierd's line on stderr"
	echo Y >$DAMON_STAT_ENABLED
}
