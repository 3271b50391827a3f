# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the checks of generated files (tests/host/abi.sh, tests/host/items.sh) and of trees
# (tests/host/layers.sh, tests/host/shim.sh): a deliberate
# drift of the source must make the generator's --check fail for that reason and no other.
# The check sets GEN, HEADER, tmp and fail() first (tree_drifted: REPO, tmp, fail and check).

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

# tree_drifted NAME EXPECTED FILE SED-SCRIPT PATH...: copies of the PATHs (relative to the
# repository) with FILE changed by SED-SCRIPT must make `check COPY...` print EXPECTED. For the
# checks that read a tree (tests/host/layers.sh, tests/host/shim.sh), which set `check` first.
tree_drifted() {
	local name=$1 expected=$2 file=$3 script=$4 path out
	shift 4
	rm -rf "$tmp/tree" && mkdir -p "$tmp/tree"
	for path in "$@"; do
		cp -r "$REPO/$path" "$tmp/tree/"
	done
	sed -i "$script" "$tmp/tree/$file"
	cmp -s "$REPO/$file" "$tmp/tree/$file" && {
		fail "drift '$name' did not change $file (the test is stale)"
		return
	}
	out=$(check "${@/#/$tmp/tree/}")
	if [ -z "$out" ]; then
		fail "drift '$name' passed the check"
	elif ! grep -qF "$expected" <<<"$out"; then
		fail "drift '$name' failed for another reason: $out"
	fi
}
