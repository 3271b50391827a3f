#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The VM test suite: each group in tests/guest/groups/ boots a fresh guest (so one crash cannot hide
# the others) with the devices its "# vm:" lines ask for, runs its cases, and reports each case on
# the second serial port.  Prints one line per case and "N passed, M failed"; exits non-zero on any
# failure or guest timeout.  Serial logs of failed groups stay in out/vm/<group>/.
#
# Usage: tests/vm/run-tests.sh [GROUP...]   (default: every group)
set -uo pipefail
. "$(dirname "$0")/common.sh"

GROUP_DIR=$REPO/tests/guest/groups
DEFAULT_TIMEOUT=600

# The QEMU arguments a group's "# vm:" header lines ask for.
group_qemu_args() {
	local file=$1 n=0 kind arg
	GROUP_TIMEOUT=$DEFAULT_TIMEOUT
	GROUP_MEMORY=2G
	GROUP_ARGS=()
	while read -r kind arg; do
		case "$kind" in
		ivshmem)
			mapfile -t -O "${#GROUP_ARGS[@]}" GROUP_ARGS < <(ivshmem_args "vram$n" "$arg")
			n=$((n + 1))
			;;
		device) GROUP_ARGS+=(-device "$arg") ;;
		memory) GROUP_MEMORY=$arg ;;
		timeout) GROUP_TIMEOUT=$arg ;;
		*) die "$file: unknown '# vm: $kind' line" ;;
		esac
	done < <(sed -n 's/^# vm: *//p' "$file")
}

# The cases a group defines, in file order.
group_cases() {
	sed -n 's/^case_\([a-z0-9_]*\)() *{.*/\1/p' "$1"
}

PASSED=0
FAILED=0
FAILED_GROUPS=()

run_group() {
	local group=$1 file=$GROUP_DIR/$1.sh
	[ -f "$file" ] || die "no such group: $group"
	group_qemu_args "$file"
	local dir=$OUT/$group
	rm -rf "$dir"
	mkdir -p "$dir"
	: >"$dir/results.log"
	PS_VM_MEMORY=$GROUP_MEMORY qemu_cmd "$dir/console.log" "$dir/results.log" "ps.mode=test ps.group=$group" \
		"${GROUP_ARGS[@]}"
	printf '%s\n' "${QEMU_CMD[*]}" >"$dir/qemu.cmd"
	timeout --foreground -k 10 "$GROUP_TIMEOUT" "${QEMU_CMD[@]}" </dev/null >"$dir/qemu.out" 2>&1
	local rc=$? finished=0
	sed -i 's/\r$//' "$dir/results.log"
	grep -q '^PSTEST DONE' "$dir/results.log" && finished=1

	local case status reason group_failed=0 line
	for case in $(group_cases "$file"); do
		line=$(grep -m1 "^PSTEST \(PASS\|FAIL\) $case\( \|\$\)" "$dir/results.log")
		status=$(awk '{print $2}' <<<"$line")
		reason=$(cut -d' ' -f4- <<<"$line")
		if [ "$status" = PASS ]; then
			printf 'PASS  %s/%s\n' "$group" "$case"
			PASSED=$((PASSED + 1))
			continue
		fi
		if [ -z "$status" ]; then
			if grep -q "^PSTEST BEGIN $case\$" "$dir/results.log"; then
				reason="guest died or hung in this case"
			else
				reason="never ran (guest died or hung earlier)"
			fi
			[ $rc -eq 124 ] && reason="$reason; timed out after ${GROUP_TIMEOUT}s"
		fi
		printf 'FAIL  %s/%s: %s\n' "$group" "$case" "${reason:-no reason given}"
		FAILED=$((FAILED + 1))
		group_failed=1
	done
	if [ $finished -eq 0 ] && [ $group_failed -eq 0 ]; then
		printf 'FAIL  %s: guest did not finish (qemu exit %d)\n' "$group" "$rc"
		FAILED=$((FAILED + 1))
		group_failed=1
	fi
	if [ $group_failed -eq 1 ]; then
		FAILED_GROUPS+=("$group")
	else
		rm -rf "$dir"
	fi
}

mkdir -p "$OUT"
build_initramfs
if [ $# -eq 0 ]; then
	set -- $(cd "$GROUP_DIR" && ls ./*.sh | sed 's|^\./||; s|\.sh$||')
fi
for g in "$@"; do
	run_group "$g"
done
echo "$PASSED passed, $FAILED failed"
if [ $FAILED -ne 0 ]; then
	for g in "${FAILED_GROUPS[@]}"; do
		echo "serial logs of $g: $OUT/$g/console.log (results: $OUT/$g/results.log)"
	done
	exit 1
fi
