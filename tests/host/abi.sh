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

. "$REPO/tests/host/drift.sh"

drifted field-added 's/^\t__u64 resident;.*/&\n\t__u64 extra;/'
drifted ioctl-renumbered 's/^\(#define PS_IOC_RESIDENCY.*PS_IOC_MAGIC, \)3,/\14,/'
drifted constant-changed 's/^#define PS_DEVICE_ANY 0xffffffffu/#define PS_DEVICE_ANY 0xfffffffeu/'

[ $failed -eq 0 ] && echo "abi: src/uapi/bindings.rs matches the header; 3 deliberate drifts caught"
exit $failed
