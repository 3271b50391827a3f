#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# No panic on a kernel path: the module's Rust code (src/) has no assert!/assert_eq!/assert_ne!,
# debug_assert*!, panic!, unreachable!, todo!, unimplemented!, .unwrap() or .expect( outside
# comments; a bug must become an error or a warn_on!, not take the machine down. Compile-time
# assertions (`const _: () = assert!(...)`) cannot panic at run time and are allowed.
# Prints every offending line and fails if there is one.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 2
found=$(grep -rnE '\b(assert|assert_eq|assert_ne|debug_assert|debug_assert_eq|debug_assert_ne|panic|unreachable|todo|unimplemented)!|\.unwrap\(\)|\.expect\(' \
	--include='*.rs' src |
	grep -vE '^[^:]+:[0-9]+:\s*//' |
	grep -vE '^[^:]+:[0-9]+:\s*const _: \(\) = assert!')
if [ -n "$found" ]; then
	echo "no-panics: code that can panic on a kernel path (make it an error or a warn_on!):" >&2
	echo "$found" >&2
	exit 1
fi
echo "no-panics: none in src/"
