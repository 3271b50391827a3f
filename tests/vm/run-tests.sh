#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The VM test suite: each group in tests/guest/groups/ boots a fresh guest (so one crash cannot hide
# the others) with the devices its "# vm:" lines ask for, runs its cases, and reports each case on
# the second serial port.  Prints one line per case and "N passed, M failed"; exits non-zero on any
# failure or guest timeout.  Serial logs of failed groups stay in out/vm/<group>/.  A group whose
# kernel is not available (Debian's kernel of a series gone from the archive) prints one SKIP line.
#
# Usage: tests/vm/run-tests.sh [GROUP...]   (default: every group)
set -uo pipefail
. "$(dirname "$0")/common.sh"

GROUP_DIR=$REPO/tests/guest/groups
# The host-side part of a group, if it has one: tests/vm/groups/GROUP.sh (host_* functions).
HOST_GROUP_DIR=$REPO/tests/vm/groups
. "$REPO/tests/guest/cases.sh"
DEFAULT_TIMEOUT=600
BOOT_TIMEOUT=${PS_BOOT_TIMEOUT:-120}

# The QEMU arguments a group's "# vm:" header lines ask for.
group_qemu_args() {
	local file=$1 n=0 kind arg
	GROUP_TIMEOUT=$DEFAULT_TIMEOUT
	GROUP_MEMORY=2G
	GROUP_KERNEL=test
	GROUP_ARGS=()
	GROUP_GPUS=()
	GROUP_QMP=0
	GROUP_CMDLINE=
	while read -r kind arg; do
		case "$kind" in
		ivshmem)
			mapfile -t -O "${#GROUP_ARGS[@]}" GROUP_ARGS < <(ivshmem_args "vram$n" "$arg")
			n=$((n + 1))
			;;
		ivshmem-file)
			mapfile -t -O "${#GROUP_ARGS[@]}" GROUP_ARGS < <(ivshmem_file_args "vram$n" "$arg" \
				"$(ivshmem_file "$OUT/$(basename "$file" .sh)" $n)")
			n=$((n + 1))
			;;
		qmp) GROUP_QMP=1 ;;
		device) GROUP_ARGS+=(-device "$arg") ;;
		gpu) GROUP_GPUS+=("$arg") ;;
		memory) GROUP_MEMORY=$arg ;;
		timeout) GROUP_TIMEOUT=$arg ;;
		kernel) GROUP_KERNEL=$arg ;;
		cmdline) GROUP_CMDLINE="$GROUP_CMDLINE $arg" ;;
		*) die "$file: unknown '# vm: $kind' line" ;;
		esac
	done < <(sed -n 's/^# vm: *//p' "$file")
}

# Starts the gpu-model of each "# vm: gpu BOARD VRAM_MIB [KNOB...]" line and adds its device, with
# guest RAM it can share, to GROUP_ARGS; a board with `--pcie` gets a pcie-root-port above it.
start_group_gpus() {
	local dir=$1 n=0 spec
	[ ${#GROUP_GPUS[@]} -eq 0 ] && return
	mapfile -t -O "${#GROUP_ARGS[@]}" GROUP_ARGS < <(shared_ram_args "$GROUP_MEMORY")
	for spec in "${GROUP_GPUS[@]}"; do
		# shellcheck disable=SC2086 # BOARD VRAM_MIB and knobs are words
		start_gpu_model "$dir" $n $spec
		case " $spec " in
		*" --pcie "*)
			# A PCI Express endpoint goes behind a root port of its own, as a board in a slot.
			# At 5 GT/s: above that the kernel waits for Data Link Layer Link Active after a
			# secondary bus reset, which QEMU's root port does not report then (the reset
			# fails with "Data Link Layer Link Active not set in 100 msec").
			GROUP_ARGS+=(-device "pcie-root-port,id=rp$n,chassis=$((n + 1)),slot=0,x-speed=5,x-width=16")
			mapfile -t -O "${#GROUP_ARGS[@]}" GROUP_ARGS < <(gpu_args "$dir/gpu$n.sock" "rp$n")
			;;
		*) mapfile -t -O "${#GROUP_ARGS[@]}" GROUP_ARGS < <(gpu_args "$dir/gpu$n.sock") ;;
		esac
		n=$((n + 1))
	done
}

# host_defines HOST_FILE FUNCTION: the group's host part defines FUNCTION, itself or through a
# host part it sources (a group made of others' cases, e.g. linux-7.2).
host_defines() {
	[ -f "$1" ] && (
		. "$REPO/tests/vm/host-lib.sh"
		. "$1"
		declare -F "$2"
	) >/dev/null 2>&1
}

# Host-side checks: a case `case_X` of a group may have a `host_X` in the group's host part
# (HOST_FILE, tests/vm/groups/GROUP.sh) that runs on the host after the guest is done (with bash,
# tests/vm/host-lib.sh and that file sourced), e.g. to check the gpu-model's register log or VRAM.
# Prints the reason on failure.
host_check() {
	local host_file=$1 case=$2 dir=$3 reason
	host_defines "$host_file" "host_$case" || return 0
	# Not "... | grep . && return 1": under pipefail the failed check's own exit status would make
	# that pipeline fail and the check pass.
	reason=$(
		(
			. "$REPO/tests/vm/host-lib.sh"
			. "$host_file"
			HOST_DIR=$dir
			"host_$case"
		) 2>&1 | sed -n 's/^PSFAIL: //p' | tail -n 1
	)
	[ -z "$reason" ] && return 0
	echo "$reason"
	return 1
}

# The cases a group (guest FILE, host part HOST_FILE) runs, in order: the guest's (cases.sh), then
# those the host part's host_cases names: results a guest case reports for each of them (e.g. the
# kunit group, one per KUnit case the sources declare), so that one missing from the guest's report
# fails.
group_cases() {
	local file=$1 host_file=$2
	group_case_names "$GROUP_DIR" "$file"
	host_defines "$host_file" host_cases || return 0
	(
		. "$REPO/tests/vm/host-lib.sh"
		. "$host_file"
		host_cases
	)
}

# Requests a guest makes of the host, as lines on the results port. "PSHOST linkdown N" (lib.sh
# link_down): the link of emulated board N goes down (gpu-model's SIGUSR1); "PSHOST mmuhang N"
# (lib.sh mmu_hang): the MMU of board N hangs (SIGUSR2). In a group with
# "# vm: qmp", "PSHOST suspend" (lib.sh suspend_to_ram): wait until QEMU reports the guest
# suspended to RAM, run the host part's host_while_suspended if it has one (e.g. to scramble
# emulated VRAM), then wake the guest through QMP. Each outcome is a line of DIR/host.log ("PSHOST
# link down N", "PSHOST mmu hung N", "PSHOST woke N" or "PSHOST error ..."), which host checks read
# (host-lib.sh host_woke).
host_requests() {
	local dir=$1 host_file=$2 n out board fault signal
	n=$(grep -cE '^PSHOST (linkdown|mmuhang) ' "$dir/results.log")
	while [ "$HOST_FAULTS_DONE" -lt "$n" ]; do
		HOST_FAULTS_DONE=$((HOST_FAULTS_DONE + 1))
		read -r fault board < <(grep -E '^PSHOST (linkdown|mmuhang) ' "$dir/results.log" | tr -d '\r' |
			sed -n "${HOST_FAULTS_DONE}s/^PSHOST \([a-z]*\) \([0-9]*\)\$/\1 \2/p")
		case "$fault" in
		linkdown) signal=USR1 fault="link down" ;;
		*) signal=USR2 fault="mmu hung" ;;
		esac
		if [ -n "$board" ] && [ -n "${GPU_MODEL_PIDS[$board]:-}" ] &&
			kill -"$signal" "${GPU_MODEL_PIDS[$board]}" 2>/dev/null; then
			echo "PSHOST $fault $board" >>"$dir/host.log"
		else
			echo "PSHOST error: no emulated board '$board' for '$fault'" >>"$dir/host.log"
		fi
	done
	[ "$GROUP_QMP" = 1 ] || return 0
	n=$(grep -c '^PSHOST suspend' "$dir/results.log")
	while [ "$HOST_REQUESTS_DONE" -lt "$n" ]; do
		HOST_REQUESTS_DONE=$((HOST_REQUESTS_DONE + 1))
		if ! out=$(python3 "$REPO/tests/vm/qmp.py" "$dir/qmp.sock" wait-status suspended 120 2>&1); then
			echo "PSHOST error $HOST_REQUESTS_DONE: not suspended: $out" >>"$dir/host.log"
			continue
		fi
		if host_defines "$host_file" host_while_suspended && ! out=$(
			. "$REPO/tests/vm/host-lib.sh"
			. "$host_file"
			HOST_DIR=$dir
			host_while_suspended 2>&1
		); then
			echo "PSHOST error $HOST_REQUESTS_DONE: while suspended: $out" >>"$dir/host.log"
		fi
		if ! out=$(python3 "$REPO/tests/vm/qmp.py" "$dir/qmp.sock" wakeup 2>&1); then
			echo "PSHOST error $HOST_REQUESTS_DONE: wakeup: $out" >>"$dir/host.log"
			continue
		fi
		echo "PSHOST woke $HOST_REQUESTS_DONE" >>"$dir/host.log"
	done
}

# Runs QEMU_CMD for the group in $1 (host part $2); returns QEMU's status, 124 when the group timed
# out, or 125 when the guest did not start its first case within BOOT_TIMEOUT seconds.
run_guest() {
	local dir=$1 host_file=$2 waited=0 done_for=0
	HOST_REQUESTS_DONE=0
	HOST_FAULTS_DONE=0
	: >"$dir/host.log"
	"${QEMU_CMD[@]}" </dev/null >"$dir/qemu.out" 2>&1 &
	local qemu=$!
	while kill -0 $qemu 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
		host_requests "$dir" "$host_file"
		if [ "$GROUP_QMP" = 1 ]; then
			# After a wake from S3, QEMU (7.2, q35) may ignore the guest's ACPI power-off: once
			# the guest is done, give it 30 s, then end QEMU through QMP.
			if grep -q '^PSTEST DONE' "$dir/results.log"; then
				done_for=$((${done_for:-0} + 1))
				[ "$done_for" -eq 30 ] && python3 "$REPO/tests/vm/qmp.py" "$dir/qmp.sock" quit >/dev/null 2>&1
			fi
		fi
		if [ $waited -ge "$BOOT_TIMEOUT" ] && ! grep -q 'PSTEST BEGIN' "$dir/results.log"; then
			kill -9 $qemu 2>/dev/null
			wait $qemu 2>/dev/null
			return 125
		fi
		if [ $waited -ge "$GROUP_TIMEOUT" ]; then
			kill -9 $qemu 2>/dev/null
			wait $qemu 2>/dev/null
			return 124
		fi
	done
	wait $qemu
}

# case_info DIR CASE: what the case measured (its PSINFO lines), indented under its result.
case_info() {
	sed -n "s/^PSTEST INFO $2 /      /p" "$1/results.log"
}

PASSED=0
FAILED=0
SKIPPED=0
GPU_MODEL_PIDS=()
trap stop_gpu_models EXIT
FAILED_GROUPS=()

run_group() {
	local group=$1 file=$GROUP_DIR/$1.sh host_file=$HOST_GROUP_DIR/$1.sh
	[ -f "$file" ] || die "no such group: $group"
	! grep -q '^host_[a-z0-9_]*() *{' "$file" ||
		die "$file: host_* functions run on the host; they belong in tests/vm/groups/$group.sh"
	group_qemu_args "$file"
	local skip=0
	use_kernel "$GROUP_KERNEL" || skip=$?
	if [ $skip -eq 3 ]; then
		printf 'SKIP  %s: %s\n' "$group" "$SKIP_REASON"
		SKIPPED=$((SKIPPED + 1))
		return
	fi
	# One initramfs per kernel, built when the first group that boots it runs.
	case " ${INITRAMFS_BUILT[*]} " in
	*" $GROUP_KERNEL "*) ;;
	*)
		build_initramfs
		INITRAMFS_BUILT+=("$GROUP_KERNEL")
		;;
	esac
	local dir=$OUT/$group
	rm -rf "$dir"
	mkdir -p "$dir"
	: >"$dir/results.log"
	local rc attempt
	for attempt in 1 2; do
		: >"$dir/results.log"
		group_qemu_args "$file"
		# On-demand long runs: PS_GUEST_ARGS="ps.duration=3600" reaches the guest's cases (see
		# lib.sh guest_arg), PS_GROUP_TIMEOUT lifts the group's time limit to match.
		GROUP_TIMEOUT=${PS_GROUP_TIMEOUT:-$GROUP_TIMEOUT}
		start_group_gpus "$dir"
		# A QMP socket the host drives (host_requests), and S3 offered to the guest.
		[ "$GROUP_QMP" = 1 ] && GROUP_ARGS+=(-qmp "unix:$dir/qmp.sock,server=on,wait=off"
			-global ICH9-LPC.disable_s3=0)
		local image=$KERNEL_IMAGE
		# Bookworm's QEMU has no vfio-user-pci: the chroot's runs instead, and sees only $OUT.
		if [ ${#GROUP_GPUS[@]} -ne 0 ]; then
			image=$OUT/bzImage-$GROUP_KERNEL
			cp "$KERNEL_IMAGE" "$image"
		fi
		PS_KERNEL_IMAGE=$image PS_VM_MEMORY=$GROUP_MEMORY qemu_cmd "$dir/console.log" "$dir/results.log" \
			"ps.mode=test ps.group=$group${GROUP_CMDLINE} ${PS_GUEST_ARGS:-}" "${GROUP_ARGS[@]}"
		[ ${#GROUP_GPUS[@]} -ne 0 ] && QEMU_CMD=(in_qemu_chroot "${QEMU_CMD[@]}")
		printf '%s\n' "${QEMU_CMD[*]}" >"$dir/qemu.cmd"
		run_guest "$dir" "$host_file"
		rc=$?
		stop_gpu_models
		[ $rc -ne 125 ] && break
		# The guest never reached its test runner: a boot hang before any of our code ran.
		mv "$dir/console.log" "$dir/console.boot-hang-$attempt.log"
		echo "NOTE  $group: guest did not boot within ${BOOT_TIMEOUT}s (attempt $attempt; log kept)"
	done
	local finished=0
	sed -i 's/\r$//' "$dir/results.log"
	grep -q '^PSTEST DONE' "$dir/results.log" && finished=1

	local case status reason group_failed=0 line cases
	cases=$(group_cases "$file" "$host_file")
	# A group that runs no case proves nothing (an include the pattern above does not see).
	if [ -z "$cases" ]; then
		printf 'FAIL  %s: no cases (no case_* function in it or in the groups it includes)\n' "$group"
		FAILED=$((FAILED + 1))
		group_failed=1
	fi
	for case in $cases; do
		line=$(grep -m1 "^PSTEST \(PASS\|FAIL\) $case\( \|\$\)" "$dir/results.log")
		status=$(awk '{print $2}' <<<"$line")
		reason=$(cut -d' ' -f4- <<<"$line")
		if [ "$status" = PASS ] && ! reason=$(host_check "$host_file" "$case" "$dir"); then
			status=FAIL
			reason="host: $reason"
		fi
		if [ "$status" = PASS ]; then
			printf 'PASS  %s/%s\n' "$group" "$case"
			case_info "$dir" "$case"
			PASSED=$((PASSED + 1))
			continue
		fi
		if [ -z "$status" ]; then
			if grep -q "^PSTEST BEGIN $case\$" "$dir/results.log"; then
				reason="guest died or hung in this case"
			elif [ $finished -eq 1 ]; then
				reason="the guest finished without reporting it"
			else
				reason="never ran (guest died or hung earlier)"
			fi
			[ $rc -eq 124 ] && reason="$reason; timed out after ${GROUP_TIMEOUT}s"
			[ $rc -eq 125 ] && reason="$reason; the guest did not boot (twice)"
		fi
		printf 'FAIL  %s/%s: %s\n' "$group" "$case" "${reason:-no reason given}"
		case_info "$dir" "$case"
		FAILED=$((FAILED + 1))
		group_failed=1
	done
	if [ $finished -eq 0 ] && [ $group_failed -eq 0 ]; then
		printf 'FAIL  %s: guest did not finish (qemu exit %d)\n' "$group" "$rc"
		FAILED=$((FAILED + 1))
		group_failed=1
	fi
	# shellcheck disable=SC2046 # the glob names every board of the group
	rm -f $(gpu_vram_file "$dir" "*") $(ivshmem_file "$dir" "*")
	if [ $group_failed -eq 1 ]; then
		FAILED_GROUPS+=("$group")
	else
		rm -rf "$dir"
	fi
}

mkdir -p "$OUT"
INITRAMFS_BUILT=()
if [ $# -eq 0 ]; then
	set -- $(bash "$REPO/tests/vm/list-groups.sh" groups)
fi
for g in "$@"; do
	started=$SECONDS
	run_group "$g"
	# Where the suite's time goes (wall time, for the README's figures; no test asserts it).
	printf 'TIME  %s: %d s\n' "$g" $((SECONDS - started))
done
summary="$PASSED passed, $FAILED failed"
[ $SKIPPED -eq 0 ] || summary="$summary, $SKIPPED groups skipped"
echo "$summary"
if [ $FAILED -ne 0 ]; then
	for g in "${FAILED_GROUPS[@]}"; do
		echo "serial logs of $g: $OUT/$g/ (console*.log, results.log)"
	done
	exit 1
fi
