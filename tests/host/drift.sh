# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the checks of generated files (tests/host/abi.sh, tests/host/items.sh): a deliberate
# drift of the source must make the generator's --check fail for that reason and no other.
# The check sets GEN, HEADER, tmp and fail() first.

# drifted NAME SED-SCRIPT: the source changed by SED-SCRIPT must fail the check.
drifted() {
	sed "$2" "$HEADER" >"$tmp/$1.h"
	cmp -s "$HEADER" "$tmp/$1.h" && {
		fail "drift '$1' did not change ${HEADER##*/} (the test is stale)"
		return
	}
	if "$GEN" --check --header "$tmp/$1.h" >"$tmp/$1.out" 2>&1; then
		fail "drift '$1' passed the check"
	elif ! grep -q 'does not match' "$tmp/$1.out"; then
		fail "drift '$1' failed for another reason: $(tail -n 1 "$tmp/$1.out")"
	fi
}
