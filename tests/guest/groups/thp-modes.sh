# SPDX-License-Identifier: GPL-2.0
# Whatever the transparent huge page mode users have (Debian's kernels: always; ours: madvise;
# some: never), every case of the migrate group and the self-test (`ps-test`) hold: test memory
# asks for the pages it needs (MADV_NOHUGEPAGE, or MADV_HUGEPAGE with ps-test turning `never`
# into `madvise` for the scenarios that need huge pages, and back). The migrate group itself runs
# under the test kernel's default, madvise.
# vm: ivshmem 256M
# vm: timeout 1800

# migrate_group_under MODE: every case of the migrate group, in its order, each in a subshell as
# the runner does; afterwards the mode is still MODE (ps-test set back what it changed).
migrate_group_under() {
	local mode=$1 c out
	thp_mode "$mode"
	for c in $(sed -n 's/^case_\([a-z0-9_]*\)() *{.*/\1/p' /tests/groups/migrate.sh); do
		out=$({
			. "/tests/groups/migrate.sh"
			"case_$c"
		} 2>&1) || {
			echo "$out"
			fail "migrate/$c under THP $mode: $(echo "$out" | sed -n 's/^PSFAIL: //p' | tail -n 1)"
		}
		echo "migrate/$c: ok"
		cleanup_module
		expect_match "$(cat $THP_ENABLED)" "\[$mode\]" "THP mode after migrate/$c"
		expect_match "$(cat $THP_PMD_ENABLED)" "\[inherit\]" "2 MiB THP mode after migrate/$c"
	done
}

case_self_test_thp_always() { self_test_under always; }
case_self_test_thp_madvise() { self_test_under madvise; }
case_self_test_thp_never() { self_test_under never; }
case_migrate_group_thp_always() { migrate_group_under always; }
case_migrate_group_thp_never() { migrate_group_under never; }
