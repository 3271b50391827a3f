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

# copy_engine_used N: board N's copy engine copied, and the channel was unbound and the engine put
# back in reset when the device went.
copy_engine_used() {
	gpu_log_has "$1" '^PCI bus master on' "bus mastering on before the engine ran"
	gpu_log_has "$1" '^W4 0x00(100cbc|b830b0) = 0x80000003 NV_(PFB_PRI_MMU|VIRTUAL_FUNCTION_PRIV_MMU)_INVALIDATE$' "one invalidate of every TLB entry"
	gpu_log_has "$1" '^CE copy' "copies by the model's copy engine"
	gpu_log_has "$1" '^FIFO channel 0 unbound' "channel unbound when the device went"
	gpu_log_has "$1" '^FIFO runlist [0-9]+ engine stopped' "copy engine back in reset when the device went"
	gpu_log_has "$1" '^PCI bus master off' "bus mastering off when the device went"
}

# method_buffer_used N: board N's copy engine (Volta and later) had its fault method buffer
# reached through BAR2, and BAR2 went back to physical mode when the device went.
method_buffer_used() {
	gpu_log_has "$1" '^FIFO channel 0 method buffer va:' "the fault method buffer, reached through BAR2"
	gpu_log_has "$1" '^W4 0x00(001714|b80f48) = 0x00000000 NV_(PBUS|VIRTUAL_FUNCTION_PRIV)_BAR2_BLOCK$' "BAR2 back in physical mode when the device went"
}

# no_rejected_access N: the driver made no access the manuals do not allow.
no_rejected_access() { gpu_log_lacks "$1" '^REJECT' "access the manuals do not allow"; }

# vram_holds N SEED PAGES: board N's VRAM holds every page ps-test fills with SEED (e.g. `hold`).
vram_holds() {
	local out
	out=$("$GPU_MODEL" check-vram --vram-file "$(gpu_vram_file "$HOST_DIR" "$1")" \
		--seed "$2" --pages "$3" 2>&1) || fail "VRAM of board $1: $out"
}

# vram_untouched N START END: bytes [START, END) of board N's VRAM were never written (all zero).
vram_untouched() {
	local out
	out=$("$GPU_MODEL" check-untouched --vram-file "$(gpu_vram_file "$HOST_DIR" "$1")" \
		--start "$2" --end "$3" 2>&1) || fail "VRAM of board $1: $out"
}

# host_woke N: the host woke the guest from suspend to RAM N times (run-tests.sh host_requests),
# with no request failed.
host_woke() {
	local err
	err=$(grep -m1 '^PSHOST error' "$HOST_DIR/host.log") && fail "host request: $err"
	[ "$(grep -c '^PSHOST woke' "$HOST_DIR/host.log")" -ge "$1" ] ||
		fail "the host woke the guest $(grep -c '^PSHOST woke' "$HOST_DIR/host.log") times, not $1"
}

# ivshmem_scramble N: overwrites all of ivshmem-file device N's memory with 0xa5 bytes, as VRAM
# that lost power holds anything (run while the guest is suspended).
ivshmem_scramble() {
	local f size
	f=$(ivshmem_file "$HOST_DIR" "$1")
	size=$(stat -c %s "$f") || fail "no memory file for ivshmem device $1"
	head -c "$size" /dev/zero | tr '\0' '\245' | dd of="$f" conv=notrunc bs=1M status=none ||
		fail "cannot overwrite $f"
}

# gpu_resets BOARD N: board BOARD was reset (RESET log lines) at least N times after the driver
# first read its registers (QEMU's reset at start comes before).
gpu_resets() {
	local n
	n=$(awk '/NV_PMC_BOOT_0/ {seen = 1} seen && /^RESET/ {n++} END {print n + 0}' "$(gpu_log "$1")")
	[ "$n" -ge "$2" ] || fail "board $1 logged $n resets (RESET lines) after probe, expected $2"
}
