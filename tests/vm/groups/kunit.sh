# SPDX-License-Identifier: GPL-2.0
# Host-side part of the VM group kunit (guest cases: tests/guest/groups/kunit.sh), run by
# tests/vm/run-tests.sh with bash and tests/vm/host-lib.sh.

# Host side: the cases the sources declare, each "suite.case", in source order: the `#[test]`
# functions of every `#[kunit_tests(suite)]` module under src/ (one per file, at its end).
host_cases() {
	find "$REPO/src" -name '*.rs' | sort | xargs awk '
		FNR == 1 { suite = ""; test = 0 }
		/^#\[([a-z:]*::)?kunit_tests\(/ { s = $0; sub(/.*kunit_tests\(/, "", s); sub(/\).*/, "", s); suite = s; next }
		suite != "" && /^    #\[test\]$/ { test = 1; next }
		suite != "" && test && /^    fn / { s = $2; sub(/\(.*/, "", s); print suite "." s; test = 0 }
	'
}
