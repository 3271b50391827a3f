#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make install` through DKMS, tested without touching the host: scripts/dkms.sh installs into a
# private root (out/dkms/root: DKMS source, build and install trees, modprobe.d, udev) for the test
# kernel, against its build tree. Checks what install leaves, that kmod's modprobe honours the
# softdep, that uninstall removes it all, and that a second install works; it then leaves the
# module installed, and the VM group `dkms` (tests/guest/groups/dkms.sh) loads the module DKMS
# built and moves data with it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PS_CACHE=${PS_CACHE:-/var/cache/pseudoscopic}
KDIR=${KDIR:-$PS_CACHE/test-kernel}
KVER=$(cat "$KDIR/include/config/kernel.release")
ROOT=$REPO/out/dkms/root
MODDIR=$ROOT/lib/modules/$KVER
KO=$MODDIR/updates/dkms/pseudoscopic.ko
VERSION=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO/dkms.conf")

fail() {
	echo "FAIL  dkms: $*"
	exit 1
}
pass() { echo "PASS  dkms/$*"; }

dkms_sh() {
	PS_ROOT=$ROOT KVER=$KVER KDIR=$KDIR bash "$REPO/scripts/dkms.sh" "$@" >"$REPO/out/dkms/$1.log" 2>&1 ||
		fail "scripts/dkms.sh $1 failed: $(tail -n 25 "$REPO/out/dkms/$1.log")"
}

dkms_status() {
	dkms status --sourcetree "$ROOT/usr/src" --dkmstree "$ROOT/var/lib/dkms" --installtree "$ROOT/lib/modules" \
		-m pseudoscopic 2>/dev/null
}

command -v dkms >/dev/null || fail "dkms is not installed (make setup installs it)"
[ -f "$KDIR/rust/libkernel.rmeta" ] || fail "no test kernel at $KDIR (make setup)"

# The private root starts as a machine with the test kernel installed.
rm -rf "$REPO/out/dkms"
mkdir -p "$MODDIR/kernel/lib"
cp "$KDIR/modules.order" "$KDIR/modules.builtin" "$KDIR/modules.builtin.modinfo" "$MODDIR/"
cp "$KDIR/lib/test_hmm.ko" "$MODDIR/kernel/lib/"
depmod -b "$ROOT" "$KVER"

dkms_sh install
[ -f "$KO" ] || fail "no module at $KO after install"
[ "$(modinfo -F vermagic "$KO" | cut -d' ' -f1)" = "$KVER" ] || fail "module built for $(modinfo -F vermagic "$KO"), not $KVER"
[ "$(modinfo -F name "$KO")" = pseudoscopic ] || fail "$KO is not pseudoscopic"
grep -q '^updates/dkms/pseudoscopic.ko:' "$MODDIR/modules.dep" || fail "depmod did not index the module"
dkms_status | grep -q "^pseudoscopic/$VERSION, $KVER, x86_64: installed" || fail "dkms status: $(dkms_status)"
grep -q '^AUTOINSTALL="yes"$' "$ROOT/usr/src/pseudoscopic-$VERSION/dkms.conf" || fail "dkms.conf without AUTOINSTALL"
cmp -s "$REPO/packaging/pseudoscopic-modprobe.conf" "$ROOT/etc/modprobe.d/pseudoscopic.conf" || fail "modprobe.d file not installed"
cmp -s "$REPO/packaging/70-pseudoscopic.rules" "$ROOT/etc/udev/rules.d/70-pseudoscopic.rules" || fail "udev rule not installed"
for tool in ps-status ps-migrate ps-test ps-stress ps-bench ps-fuzz; do
	cmp -s "$REPO/out/tools/release/$tool" "$ROOT/usr/local/bin/$tool" || fail "$tool not installed in /usr/local/bin"
done
# Their man pages and completions (tests/host/tools-install.sh checks every one).
for f in man/man1/ps-status.1 man/man8/ps-tierd.8 bash-completion/completions/ps-migrate zsh/site-functions/_ps-test \
	fish/vendor_completions.d/ps-stress.fish; do
	cmp -s "$REPO/out/tools/share/$f" "$ROOT/usr/local/share/$f" || fail "$f not installed in /usr/local/share"
done
pass "install: built for $KVER, installed, indexed, modprobe.d and udev files, the tools, their man pages and completions in place"

# ps-tierd: the binary, its unit enabled for multi-user.target, the default configuration.
cmp -s "$REPO/out/tools/release/ps-tierd" "$ROOT/usr/local/sbin/ps-tierd" || fail "ps-tierd not installed"
cmp -s "$REPO/packaging/ps-tierd.service" "$ROOT/etc/systemd/system/ps-tierd.service" || fail "ps-tierd.service not installed"
[ "$(readlink "$ROOT/etc/systemd/system/multi-user.target.wants/ps-tierd.service")" = /etc/systemd/system/ps-tierd.service ] ||
	fail "ps-tierd.service not enabled"
cmp -s "$REPO/packaging/tierd.toml" "$ROOT/etc/pseudoscopic/tierd.toml" || fail "tierd.toml not installed"
pass "install: ps-tierd, its unit (enabled) and its configuration in place"

# kmod's modprobe with the installed configuration: loading nouveau loads pseudoscopic first.
# A stand-in nouveau.ko (any module file) in a scratch copy is enough for --show-depends.
scratch=$REPO/out/dkms/softdep
mkdir -p "$scratch/lib/modules/$KVER/kernel/drivers/gpu"
cp "$KO" "$scratch/lib/modules/$KVER/"
cp "$KDIR/lib/test_hmm.ko" "$scratch/lib/modules/$KVER/kernel/drivers/gpu/nouveau.ko"
depmod -b "$scratch" "$KVER" 2>/dev/null
order=$(modprobe -d "$scratch" -S "$KVER" -C "$ROOT/etc/modprobe.d" --show-depends nouveau | awk '{print $2}' | xargs -n1 basename)
[ "$order" = "$(printf 'pseudoscopic.ko\nnouveau.ko')" ] || fail "modprobe nouveau would load: $order"
rm -rf "$scratch"
pass "softdep: modprobe nouveau loads pseudoscopic first"

# The udev rule matches the misc device the module registers (the VM group dkms checks that the
# module's device is /sys/class/misc/pseudoscopic) and gives it to the group install creates.
grep -q 'KERNEL=="pseudoscopic", SUBSYSTEM=="misc", OWNER="root", GROUP="pseudoscopic", MODE="0660"' \
	"$ROOT/etc/udev/rules.d/70-pseudoscopic.rules" || fail "udev rule"
pass "udev rule: /dev/pseudoscopic, root:pseudoscopic 0660"

dkms_sh uninstall
[ -e "$KO" ] && fail "$KO still there after uninstall"
grep -q pseudoscopic "$MODDIR/modules.dep" && fail "modules.dep still lists pseudoscopic"
[ -z "$(dkms_status)" ] || fail "dkms still knows pseudoscopic: $(dkms_status)"
for f in "$ROOT/usr/src/pseudoscopic-$VERSION" "$ROOT/etc/modprobe.d/pseudoscopic.conf" "$ROOT/etc/udev/rules.d/70-pseudoscopic.rules" \
	"$ROOT/usr/local/bin/ps-status" "$ROOT/usr/local/bin/ps-test" \
	"$ROOT/usr/local/share/man/man1/ps-status.1" "$ROOT/usr/local/share/bash-completion/completions/ps-migrate" \
	"$ROOT/usr/local/sbin/ps-tierd" "$ROOT/etc/systemd/system/ps-tierd.service" \
	"$ROOT/etc/systemd/system/multi-user.target.wants/ps-tierd.service" "$ROOT/etc/pseudoscopic/tierd.toml"; do
	[ -e "$f" ] && fail "$f still there after uninstall"
done
[ -f "$MODDIR/kernel/lib/test_hmm.ko" ] || fail "uninstall removed another module"
pass "uninstall: module, DKMS entry, sources, both files, the tools, their man pages and completions, ps-tierd and its unit gone"

# Twice in a row: the second install replaces the first.
dkms_sh install
dkms_sh install
[ -f "$KO" ] || fail "no module after installing twice"
pass "install twice; $KO stays for the VM group dkms"
