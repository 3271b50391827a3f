# SPDX-License-Identifier: GPL-2.0
# Helpers for the host-side checks of a VM test case (`host_<case>` in a group file), run by
# tests/vm/run-tests.sh after the guest is done.  Like the guest helpers, a failed check prints
# "PSFAIL: <reason>" and exits.

fail() {
	echo "PSFAIL: $*"
	exit 1
}

# gpu_log_has N EXTENDED-REGEX WHAT: the register log of board N has a matching line.
gpu_log_has() {
	local log
	log=$(gpu_log "$1")
	grep -qE -- "$2" "$log" || fail "$3: no line of $(basename "$log") matches /$2/"
}

# gpu_log_lacks N EXTENDED-REGEX WHAT: the register log of board N has no matching line.
gpu_log_lacks() {
	local log line
	log=$(gpu_log "$1")
	line=$(grep -m1 -E -- "$2" "$log") && fail "$3: $(basename "$log") has '$line'"
	return 0
}

gpu_log() { echo "$HOST_DIR/gpu$1.log"; }

# no_rejected_access N: the driver made no access the manuals do not allow.
no_rejected_access() { gpu_log_lacks "$1" '^REJECT' "access the manuals do not allow"; }

# vram_holds N SEED PAGES: board N's VRAM holds every page ps-test fills with SEED (e.g. `hold`).
vram_holds() {
	local out
	out=$("$GPU_MODEL" check-vram --vram-file "/dev/shm/pseudoscopic-$(basename "$HOST_DIR")-gpu$1.vram" \
		--seed "$2" --pages "$3" 2>&1) || fail "VRAM of board $1: $out"
}

# vram_untouched N START END: bytes [START, END) of board N's VRAM were never written (all zero).
vram_untouched() {
	local out
	out=$("$GPU_MODEL" check-untouched --vram-file "/dev/shm/pseudoscopic-$(basename "$HOST_DIR")-gpu$1.vram" \
		--start "$2" --end "$3" 2>&1) || fail "VRAM of board $1: $out"
}
