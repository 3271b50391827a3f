# SPDX-License-Identifier: GPL-2.0
# Helpers for guest test cases.  A case is a shell function `case_<name>` in a group file; it runs
# in a subshell, and any helper that finds a problem prints "PSFAIL: <reason>" and exits it.

MODULE=pseudoscopic
DRIVER_DIR=/sys/bus/pci/drivers/$MODULE
PARAM_DIR=/sys/module/$MODULE/parameters
IVSHMEM_ID="1af4 1110"

# Kernel log lines that fail whatever case was running.
KERNEL_SPLAT='BUG:|WARNING:|Oops|general protection|Call Trace|KFENCE:|possible circular|possible recursive|inconsistent lock|INFO: task .* blocked|UBSAN|list_add corruption|list_del corruption|rust_panic|panicked at'

fail() {
	echo "PSFAIL: $*"
	exit 1
}

# check CMD...: CMD must succeed.
check() {
	"$@" || fail "command failed (status $?): $*"
}

# check_fails CMD...: CMD must fail.
check_fails() {
	if "$@"; then fail "command succeeded but should have failed: $*"; fi
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

# expect_match TEXT EXTENDED-REGEX WHAT
expect_match() {
	echo "$1" | grep -qE -- "$2" || fail "$3: '$1' does not match /$2/"
}

# dmesg_mark; ...; dmesg_since: the kernel log lines printed after the mark.
dmesg_mark() { DMESG_MARK=$(dmesg | wc -l); }
dmesg_since() { dmesg | tail -n +$((DMESG_MARK + 1)); }

# expect_dmesg EXTENDED-REGEX WHAT: a kernel log line since the mark matches.
expect_dmesg() {
	dmesg_since | grep -qE -- "$1" || fail "$2: no kernel log line matches /$1/"
}

# The PCI addresses of every device with vendor:device $1 (e.g. "1af4 1110"), in bus order.
pci_devices() {
	local vendor=0x${1% *} device=0x${1#* } d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = "$vendor" ] && [ "$(cat "$d/device")" = "$device" ] && basename "$d"
	done
}

# The Nth (from 1) emulated VRAM device.
ivshmem_bdf() { pci_devices "$IVSHMEM_ID" | sed -n "${1:-1}p"; }

# bar_field BDF BAR start|end|flags: a field of the device's resource file, in hex.
bar_field() {
	local line
	line=$(sed -n "$(($2 + 1))p" "/sys/bus/pci/devices/$1/resource")
	case "$3" in
	start) echo "$line" | awk '{print $1}' ;;
	end) echo "$line" | awk '{print $2}' ;;
	flags) echo "$line" | awk '{print $3}' ;;
	esac
}

# bound_driver BDF: the driver bound to the device, or nothing.
bound_driver() {
	[ -e "/sys/bus/pci/devices/$1/driver" ] && basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
}

is_loaded() { [ -d /sys/module/$MODULE ]; }

# load_module [PARAM=VALUE...]
load_module() { check modprobe $MODULE "$@"; }

# bind_ivshmem: let the driver take every ivshmem device (new_id), as a user would.
bind_ivshmem() { check sh -c "echo '$IVSHMEM_ID' > $DRIVER_DIR/new_id"; }

# Unbinds every device and unloads the module; quiet when nothing is loaded.
cleanup_module() {
	is_loaded || return 0
	local d
	for d in "$DRIVER_DIR"/????:??:??.?; do
		[ -e "$d" ] && echo "$(basename "$d")" >"$DRIVER_DIR/unbind"
	done
	rmmod $MODULE
}

# ps_ready [PARAM=VALUE...]: module loaded with the parameters, every ivshmem device bound,
# /dev/pseudoscopic present.
ps_ready() {
	load_module "$@"
	bind_ivshmem
	[ -c /dev/$MODULE ] || fail "/dev/$MODULE missing after load"
	[ -n "$(ls "$DRIVER_DIR" | grep -E '^[0-9a-f]{4}:')" ] || fail "no device bound"
}

# scenario NAME: runs `ps-test NAME`, which checks its own results byte for byte.
scenario() {
	ps-test "$1" || fail "ps-test $1 failed"
}

# wait_for_line FILE REGEX: waits (up to 120 s) until FILE has a line matching REGEX.
wait_for_line() {
	local i=0
	while ! grep -qE -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 1200 ] || fail "timed out waiting for /$2/ in $1: $(cat "$1")"
		sleep 0.1
	done
}

# stat_value NAME: the module-wide counter NAME.
stat_value() { cat /sys/module/$MODULE/stats/$1; }

# nvidia_bdf DEVICE_ID: the PCI address of the emulated NVIDIA board with that device ID (e.g. 15f8).
nvidia_bdf() { pci_devices "10de $1" | head -n 1; }

# expect_pool BDF PAGES: the GPU at BDF lends PAGES pages, as its sysfs pool says.
expect_pool() {
	expect_eq "$(cat "/sys/bus/pci/devices/$1/pseudoscopic/pool/total_pages")" "$2" "pool pages of $1"
	expect_eq "$(cat "/sys/bus/pci/devices/$1/pseudoscopic/pool/free_pages")" "$2" "free pages of $1"
}
