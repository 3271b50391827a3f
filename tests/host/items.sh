#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The sysfs items (counters, pool sizes, a GPU's index) have one list, rust/ps_items.h: the C shim
# builds the sysfs files from it, and src/stats/items.rs, which the module and the tools use, must
# be what scripts/gen-items.sh makes of it.  README.md's sysfs section must name every counter and
# pool file, and no file that is not one.  Then the checks themselves are tested: a renamed or
# inserted counter, a hand-edited generated file and a README missing a counter must each fail.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
GEN=$REPO/scripts/gen-items.sh
HEADER=$REPO/rust/ps_items.h
OUTPUT=$REPO/src/stats/items.rs
README=$REPO/README.md
CC=${CC:-gcc}
failed=0

fail() {
	echo "items: $*" >&2
	failed=1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# names HEADER LIST: the file names of one list (PS_STAT_ITEMS, PS_POOL_ITEMS), one a line.
names() {
	printf '#include "%s"\n#define NAME(name, doc) item:name\n%s(NAME)\n' "$1" "$2" |
		"$CC" -E -P -x c - | tr -s ' \t' '\n\n' | sed -n 's/^item://p'
}

# readme_drift README HEADER: why README's sysfs section differs from the lists (empty if not).
readme_drift() {
	local section stats pool params name
	section=$(awk '/^### Statistics and pool, in sysfs/ { on = 1; next } on && /^#/ { exit } on' "$1")
	stats=$(awk '/^- `\/sys\/module\/pseudoscopic\/stats\/`/ { on = 1 } /^- `\/sys\/module\/pseudoscopic\/pool\/`/ { on = 0 } on' <<<"$section")
	pool=$(awk '/^- `\/sys\/module\/pseudoscopic\/pool\/`/ { on = 1 } on && /^$/ { exit } on' <<<"$section")
	[ -n "$stats" ] && [ -n "$pool" ] || {
		echo "README.md has no stats/ and pool/ bullets under '### Statistics and pool, in sysfs'"
		return
	}
	for name in $(names "$2" PS_STAT_ITEMS); do
		grep -q "\`$name\`" <<<"$stats" || echo "README.md's stats/ bullet does not name the counter '$name'"
	done
	for name in $(names "$2" PS_POOL_ITEMS); do
		grep -q "\`$name\`" <<<"$pool" || echo "README.md's pool/ bullet does not name '$name'"
	done
	# Every `snake_case` word there is a counter, a pool file, copy_path or a module parameter.
	params=$(sed -n 's/^module_param(\([a-z_0-9]*\),.*/\1/p' "$REPO/rust/ps_params.c")
	for name in $(grep -o '`[a-z0-9]*_[a-z0-9_]*`' <<<"$stats$pool" | tr -d '`' | sort -u); do
		grep -qx "$name" <(names "$2" PS_STAT_ITEMS; names "$2" PS_POOL_ITEMS; echo copy_path; echo "$params") ||
			echo "README.md's sysfs section names '$name', which is no sysfs file of rust/ps_items.h"
	done
}

"$GEN" --check || fail "src/stats/items.rs is out of date with rust/ps_items.h"
while read -r line; do
	[ -z "$line" ] || fail "$line"
done < <(readme_drift "$README" "$HEADER")

. "$REPO/tests/host/drift.sh"

drifted counter-renamed 's/X(dma_fail,/X(dma_failures,/'
drifted counter-inserted 's/^\(\tX(page_faults,.*\)$/\tX(page_refaults, "Faults again.") \\\n\1/'
drifted pool-reordered '/X(free_pages,/d; s/^\(\tX(free_chunks,.*\))$/\tX(free_pages, "Free.") \\\n\1)/'

# A generated file edited by hand (a counter renumbered) must fail too.
sed 's/^    DmaFail = 6,$/    DmaFail = 7,/' "$OUTPUT" >"$tmp/items.rs"
if cmp -s "$OUTPUT" "$tmp/items.rs"; then
	fail "drift 'generated-edited' did not change src/stats/items.rs (the test is stale)"
elif "$GEN" --check --output "$tmp/items.rs" >"$tmp/edited.out" 2>&1; then
	fail "drift 'generated-edited' passed the check"
elif ! grep -q 'does not match' "$tmp/edited.out"; then
	fail "drift 'generated-edited' failed for another reason: $(tail -n 1 "$tmp/edited.out")"
fi

# README.md without a counter, or naming one that does not exist, must fail.
sed 's/`thp_splits`/thp splits/' "$README" >"$tmp/missing.md"
grep -q "does not name the counter 'thp_splits'" <(readme_drift "$tmp/missing.md" "$HEADER") ||
	fail "drift 'readme-missing' was not caught"
sed 's/`dma_fail`/`dma_failures`/' "$README" >"$tmp/renamed.md"
grep -q "names 'dma_failures', which is no sysfs file" <(readme_drift "$tmp/renamed.md" "$HEADER") ||
	fail "drift 'readme-renamed' was not caught"

[ $failed -eq 0 ] &&
	echo "items: src/stats/items.rs and README.md match rust/ps_items.h; 6 deliberate drifts caught"
exit $failed
