#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The ioctl ABI has one source, include/uapi/linux/pseudoscopic.h: src/uapi/bindings.rs, which the
# module and the tools use, must be what scripts/gen-abi.sh makes of it.  Then the check itself is
# tested: a header with a field added, or an ioctl renumbered, must make it fail.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
GEN=$REPO/scripts/gen-abi.sh
HEADER=$REPO/include/uapi/linux/pseudoscopic.h
failed=0

fail() {
	echo "abi: $*" >&2
	failed=1
}

"$GEN" --check || fail "src/uapi/bindings.rs is out of date with the header"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# drifted NAME SED-SCRIPT: the header changed by SED-SCRIPT must fail the check.
drifted() {
	sed "$2" "$HEADER" >"$tmp/$1.h"
	cmp -s "$HEADER" "$tmp/$1.h" && {
		fail "drift '$1' did not change the header (the test is stale)"
		return
	}
	if "$GEN" --check --header "$tmp/$1.h" >"$tmp/$1.out" 2>&1; then
		fail "drift '$1' passed the check"
	elif ! grep -q 'does not match' "$tmp/$1.out"; then
		fail "drift '$1' failed for another reason: $(tail -n 1 "$tmp/$1.out")"
	fi
}

drifted field-added 's/^\t__u64 resident;.*/&\n\t__u64 extra;/'
drifted ioctl-renumbered 's/^\(#define PS_IOC_RESIDENCY.*PS_IOC_MAGIC, \)3,/\14,/'
drifted constant-changed 's/^#define PS_DEVICE_ANY 0xffffffffu/#define PS_DEVICE_ANY 0xfffffffeu/'

[ $failed -eq 0 ] && echo "abi: src/uapi/bindings.rs matches the header; 3 deliberate drifts caught"
exit $failed
