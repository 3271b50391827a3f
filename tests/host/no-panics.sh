#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# No panic on a kernel path: the module's Rust code (src/) has no assert!/assert_eq!/assert_ne!,
# debug_assert*!, panic!, unreachable!, todo!, unimplemented!, .unwrap() or .expect( outside
# comments; a bug must become an error or a warn_on!, not take the machine down. Compile-time
# assertions (`const _: () = assert!(...)`) cannot panic at run time and are allowed, and so are
# assert!/assert_eq! in a `#[kunit_tests]` module, which that macro turns into KUnit assertions
# (a failed one fails the case); every other panic stays forbidden there too.
# Prints every offending line and fails if there is one.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 2
# Every line of src/ as FILE:LINE:TEXT, those of a `#[kunit_tests]` module (from its attribute to
# its closing brace) with "kunit:" in front.
lines() {
	find src -name '*.rs' | sort | xargs awk '
		FNR == 1 { kunit = 0; depth = 0; opened = 0 }
		/^#\[([a-z:]*::)?kunit_tests\(/ { kunit = 1 }
		{
			print (kunit ? "kunit:" : "") FILENAME ":" FNR ":" $0
			if (kunit) {
				line = $0
				opened += gsub(/{/, "{", line)
				depth += gsub(/{/, "{", line) - gsub(/}/, "}", line)
				if (opened && depth == 0) kunit = 0
			}
		}'
}
found=$(lines |
	grep -E '\b(assert|assert_eq|assert_ne|debug_assert|debug_assert_eq|debug_assert_ne|panic|unreachable|todo|unimplemented)!|\.unwrap\(\)|\.expect\(' |
	grep -vE '^(kunit:)?[^:]+:[0-9]+:\s*//' |
	grep -vE '^[^:]+:[0-9]+:\s*const _: \(\) = assert!' |
	grep -vE '^kunit:[^:]+:[0-9]+:\s*assert(_eq)?!\(' |
	sed 's/^kunit://')
if [ -n "$found" ]; then
	echo "no-panics: code that can panic on a kernel path (make it an error or a warn_on!):" >&2
	echo "$found" >&2
	exit 1
fi
echo "no-panics: none in src/"
