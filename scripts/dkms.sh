#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make install / make uninstall: pseudoscopic through DKMS, so every new kernel rebuilds it.
#
#   scripts/dkms.sh install    copy the module's sources to /usr/src/pseudoscopic-VERSION, then
#                              dkms add, build and install for KVER; install the modprobe.d file
#                              (nouveau/nvidia load pseudoscopic first), the udev rule for
#                              /dev/pseudoscopic and the tools (built by `make tools`) in
#                              PREFIX/bin with their man pages and completions in PREFIX/share
#                              (scripts/tools-install.sh); create the pseudoscopic group;
#                              install ps-tierd (out/tools/release), its systemd unit and,
#                              unless one is there, its configuration, and enable the unit
#   scripts/dkms.sh uninstall  dkms remove (every kernel), delete the sources, both files, the
#                              tools, their man pages and completions; stop, disable and delete
#                              ps-tierd and its unit, and its configuration unless edited; the
#                              group stays (files may belong to it)
#
# A kernel tree without Rust artifacts (Debian's headers) is fine: the module's Makefile has
# scripts/kernel-rust.sh rebuild them, for this kernel and every later one DKMS builds for; its
# check runs first here, so a missing rustc, bindgen or kernel source stops with one message.
#
# Environment:
#   KVER     kernel to build for (default: the running one)
#   KDIR     its build tree (default DKMS's: /lib/modules/KVER/build)
#   PREFIX   where the tools go (default /usr/local: PREFIX/bin, PREFIX/share)
#   PS_ROOT  install under this directory instead of / (tests): private DKMS trees, depmod -b,
#            no group, no udev reload; nothing outside PS_ROOT is touched
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
NAME=pseudoscopic
VERSION=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$REPO/dkms.conf")
KVER=${KVER:-$(uname -r)}
KDIR=${KDIR:-}
PS_ROOT=${PS_ROOT:-}
ROOT=${PS_ROOT:-/}
ROOT=${ROOT%/}

SRC_DIR=$ROOT/usr/src/$NAME-$VERSION
PREFIX=${PREFIX:-/usr/local}
export PREFIX PS_ROOT
MODPROBE_CONF=$ROOT/etc/modprobe.d/$NAME.conf
UDEV_RULE=$ROOT/etc/udev/rules.d/70-$NAME.rules
TIERD_BIN=$ROOT/usr/local/sbin/ps-tierd
TIERD_UNIT=$ROOT/etc/systemd/system/ps-tierd.service
TIERD_CONF=$ROOT/etc/$NAME/tierd.toml

say() { printf 'dkms.sh: %s\n' "$*"; }
die() {
	printf 'dkms.sh: error: %s\n' "$*" >&2
	exit 1
}

DKMS=(dkms)
if [ -n "$PS_ROOT" ]; then
	DKMS+=(--sourcetree "$ROOT/usr/src" --dkmstree "$ROOT/var/lib/dkms" --installtree "$ROOT/lib/modules")
fi

# The module's sources: what Kbuild and dkms.conf need, without build products.
copy_sources() {
	rm -rf "$SRC_DIR"
	mkdir -p "$SRC_DIR"
	(cd "$REPO" && find Kbuild Kconfig Makefile dkms.conf src rust include scripts/kernel-rust.sh -type f \
		\( -name '*.rs' -o -name '*.c' -o -name '*.h' -o -name Kbuild -o -name Kconfig \
		-o -name Makefile -o -name dkms.conf -o -name kernel-rust.sh \) -print0 | xargs -0 cp --parents -t "$SRC_DIR")
}

# Whether DKMS knows this version (added, built or installed).
registered() {
	"${DKMS[@]}" status -m "$NAME" -v "$VERSION" 2>/dev/null | grep -q "^$NAME/$VERSION"
}

# systemctl on this machine, or on the files under PS_ROOT.
systemctl_root() {
	command -v systemctl >/dev/null || return 0
	if [ -n "$PS_ROOT" ]; then
		systemctl --root="$ROOT" "$@" >/dev/null 2>&1
	else
		systemctl "$@" >/dev/null 2>&1
	fi
}

# Whether systemd runs this machine (so units can be started, not only enabled).
systemd_running() { [ -z "$PS_ROOT" ] && [ -d /run/systemd/system ]; }

install_tierd() {
	local bin=$REPO/out/tools/release/ps-tierd
	[ -x "$bin" ] || die "$bin is not built (make tools)"
	install -D -m 0755 "$bin" "$TIERD_BIN"
	install -D -m 0644 "$REPO/packaging/ps-tierd.service" "$TIERD_UNIT"
	[ -e "$TIERD_CONF" ] || install -D -m 0644 "$REPO/packaging/tierd.toml" "$TIERD_CONF"
	systemctl_root enable ps-tierd.service || die "systemctl enable ps-tierd.service failed"
	if systemd_running; then
		systemctl daemon-reload
		systemctl restart ps-tierd.service || say "ps-tierd.service did not start: see 'systemctl status ps-tierd'"
	fi
	say "installed $TIERD_BIN, $TIERD_UNIT (enabled) and $TIERD_CONF"
}

uninstall_tierd() {
	if [ -e "$TIERD_UNIT" ]; then
		systemd_running && systemctl stop ps-tierd.service 2>/dev/null
		systemctl_root disable ps-tierd.service
	fi
	rm -f "$TIERD_UNIT" "$TIERD_BIN"
	systemd_running && systemctl daemon-reload
	# An edited configuration is the administrator's: it stays.
	if cmp -s "$REPO/packaging/tierd.toml" "$TIERD_CONF"; then
		rm -f "$TIERD_CONF"
		rmdir "$(dirname "$TIERD_CONF")" 2>/dev/null
	fi
	return 0
}

depmod_root() {
	[ -n "$PS_ROOT" ] && [ -d "$ROOT/lib/modules/$KVER" ] && depmod -b "$ROOT" "$KVER"
	return 0
}

do_install() {
	[ -n "$PS_ROOT" ] || [ "$(id -u)" -eq 0 ] || die "make install needs root (sudo make install)"
	command -v dkms >/dev/null || die "dkms is not installed (Debian: apt-get install dkms)"
	[ -n "$VERSION" ] || die "no PACKAGE_VERSION in $REPO/dkms.conf"
	[ -d "$REPO/out/tools/share" ] || die "$REPO/out/tools/share is not there (make install builds the tools first)"
	local kdir=${KDIR:-$ROOT/lib/modules/$KVER/build}
	# Its one message says what is missing.
	if [ ! -f "$kdir/rust/libkernel.rmeta" ]; then
		bash "$REPO/scripts/kernel-rust.sh" --check "$kdir" || exit 1
		say "$kdir has no Rust artifacts: scripts/kernel-rust.sh rebuilds them from the kernel's source (a few minutes, once per kernel)"
	fi
	if registered; then
		say "removing the $NAME $VERSION DKMS already has, to add the current sources"
		"${DKMS[@]}" remove -m "$NAME" -v "$VERSION" --all ${PS_ROOT:+--no-depmod} >/dev/null
	fi
	copy_sources
	say "sources in $SRC_DIR"
	mkdir -p "$ROOT/var/lib/dkms"
	"${DKMS[@]}" add -m "$NAME" -v "$VERSION" >/dev/null
	local build=("${DKMS[@]}" build -m "$NAME" -v "$VERSION" -k "$KVER")
	[ -n "$KDIR" ] && build+=(--kernelsourcedir "$KDIR")
	say "building for $KVER${KDIR:+ against $KDIR}"
	if ! "${build[@]}" >/dev/null; then
		local log
		log=$(find "${ROOT%/}/var/lib/dkms/$NAME/$VERSION/build" -name make.log 2>/dev/null | head -n 1)
		[ -n "$log" ] && tail -n 20 "$log" >&2
		die "DKMS build failed for $KVER${log:+ (log: $log)} (README.md, \"Building against another kernel\")"
	fi
	mkdir -p "$ROOT/lib/modules/$KVER"
	"${DKMS[@]}" install -m "$NAME" -v "$VERSION" -k "$KVER" ${PS_ROOT:+--no-depmod} >/dev/null ||
		die "dkms install failed for $KVER"
	depmod_root
	install -D -m 0644 "$REPO/packaging/$NAME-modprobe.conf" "$MODPROBE_CONF"
	install -D -m 0644 "$REPO/packaging/70-$NAME.rules" "$UDEV_RULE"
	say "installed $MODPROBE_CONF and $UDEV_RULE"
	bash "$REPO/scripts/tools-install.sh" install
	install_tierd
	if [ -z "$PS_ROOT" ]; then
		getent group "$NAME" >/dev/null || groupadd --system "$NAME"
		say "group $NAME: add users with 'usermod -aG $NAME USER'"
		if command -v udevadm >/dev/null; then
			udevadm control --reload-rules 2>/dev/null || true
			[ -e "/dev/$NAME" ] && udevadm trigger --action=change --name-match="/dev/$NAME" 2>/dev/null
		fi
	fi
	say "done: $("${DKMS[@]}" status -m "$NAME" -v "$VERSION" -k "$KVER")"
}

do_uninstall() {
	[ -n "$PS_ROOT" ] || [ "$(id -u)" -eq 0 ] || die "make uninstall needs root (sudo make uninstall)"
	if command -v dkms >/dev/null && registered; then
		"${DKMS[@]}" remove -m "$NAME" -v "$VERSION" --all ${PS_ROOT:+--no-depmod} >/dev/null
		depmod_root
		say "removed $NAME $VERSION from DKMS"
	fi
	uninstall_tierd
	rm -rf "$SRC_DIR"
	rm -f "$MODPROBE_CONF" "$UDEV_RULE"
	bash "$REPO/scripts/tools-install.sh" uninstall
	if [ -z "$PS_ROOT" ] && command -v udevadm >/dev/null; then
		udevadm control --reload-rules 2>/dev/null || true
	fi
	say "removed $SRC_DIR, $MODPROBE_CONF, $UDEV_RULE, the tools and ps-tierd (the group $NAME stays)"
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: scripts/dkms.sh install|uninstall" ;;
esac
