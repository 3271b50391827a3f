#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make install` as a Debian 13 user runs it, on Debian's own kernel of each series: in the Debian
# chroot of `make setup` (part distro: trixie with linux-image/-headers/-source of the newest 7.3,
# and of the newest 7.2, in trixie-backports, rustc 1.85.1, bindgen 0.71.1, gcc-14, dkms), a copy
# of this checkout runs `make install KVER=<Debian's kernel>`: the tools, then DKMS, whose build
# goes through the module's Makefile and scripts/kernel-rust.sh (the kernel's Rust artifacts
# rebuilt from linux-source, cached by setup). Checks the module DKMS installed (vermagic, compiled
# by rustc 1.85.1), the tools on PATH, `make clippy` with Debian's clippy 1.85.1, and, on the host
# (rustc 1.96, no 1.85), that `make install` for that kernel refuses with one message. The VM
# groups debian-SERIES* then boot Debian's vmlinuz with that module. Prints SKIP for a series
# setup found no kernel of.
#
# Usage: tests/host/distro-install.sh [SERIES...]   (default: 7.3 7.2)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PS_CACHE=${PS_CACHE:-/var/cache/pseudoscopic}

fail() {
	echo "FAIL  distro-install-$SERIES: $*"
	exit 1
}
pass() { echo "PASS  distro-install-$SERIES/$*"; }

# in_distro CMD...: CMD (a shell command line) as root in the chroot of the series under test
# ($DISTRO), in the checkout's copy. It sees the host's CA certificates (cargo fetches crates over
# HTTPS, which may pass a proxy the host trusts).
in_distro() {
	unshare -m sh -ec '
		root=$1
		shift
		mount -t proc proc "$root/proc"
		mount --bind /dev "$root/dev"
		mount --bind -o ro /etc/ssl/certs "$root/etc/ssl/certs"
		exec chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
			sh -ec "cd /root/pseudoscopic && $*"' sh "$DISTRO" "$@"
}

# install_on SERIES: everything above, in $PS_CACHE/distro-SERIES.
install_on() {
	SERIES=$1
	DISTRO=$PS_CACHE/distro-$SERIES
	OUT=$REPO/out/distro/$SERIES
	if [ ! -d "$DISTRO" ]; then
		echo "SKIP  distro-install-$SERIES: $(cat "$DISTRO" 2>/dev/null || echo "no Debian chroot at $DISTRO (make setup)")"
		return 0
	fi
	# One install at a time in a chroot: two checkouts testing at once would build in the same
	# DKMS tree. (Its lock ends with this function, or with the script on a failure.)
	local lock
	exec {lock}>"$DISTRO.install-lock"
	flock "$lock"
	KVER=$(cat "$DISTRO/.ps-kernel")
	rm -rf "$OUT"
	mkdir -p "$OUT"

	# The checkout as a user would have it, without build products.
	rsync -a --delete --exclude /out --exclude /.git --exclude target --exclude '*.ko' --exclude '*.o' \
		--exclude '.*.cmd' "$REPO/" "$DISTRO/root/pseudoscopic/"

	in_distro "make uninstall" >"$OUT/uninstall.log" 2>&1 || fail "make uninstall: $(tail -n 5 "$OUT/uninstall.log")"
	in_distro "make install KVER=$KVER" >"$OUT/install.log" 2>&1 ||
		fail "make install KVER=$KVER in the Debian chroot: $(tail -n 25 "$OUT/install.log")"
	ko=$(ls "$DISTRO/lib/modules/$KVER/updates/dkms/pseudoscopic.ko"* 2>/dev/null | head -n 1)
	[ -n "$ko" ] || fail "no module in /lib/modules/$KVER/updates/dkms after make install"
	[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$KVER" ] || fail "vermagic $(modinfo -F vermagic "$ko"), not $KVER"
	plain=$OUT/pseudoscopic.ko
	case "$ko" in
	*.xz) xz -dc "$ko" >"$plain" ;;
	*.zst) zstd -qdc "$ko" >"$plain" ;;
	*) cp "$ko" "$plain" ;;
	esac
	rustc_text=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="rustc \([^ ]*\) .*/\1/p' "$DISTRO/usr/src/linux-headers-$KVER/.config")
	readelf -p .comment "$plain" | grep -q "rustc version $rustc_text" ||
		fail "the module was not compiled by rustc $rustc_text: $(readelf -p .comment "$plain" | grep rustc)"
	in_distro "dkms status -m pseudoscopic -k $KVER" | grep -q ": installed" || fail "dkms status: not installed"
	for tool in ps-status ps-migrate ps-test ps-stress; do
		[ -x "$DISTRO/usr/local/bin/$tool" ] || fail "$tool not installed in /usr/local/bin"
	done
	in_distro "ps-test --help" >/dev/null || fail "ps-test on PATH does not run"
	pass "make install: DKMS built $(basename "$ko") for $KVER with rustc $rustc_text, tools in /usr/local/bin"

	# CLIPPY=1 with the kernel's own toolchain (Debian's clippy of rustc 1.85.1).
	if in_distro "make clippy KDIR=/lib/modules/$KVER/build" >"$OUT/clippy.log" 2>&1; then
		pass "make clippy with $(in_distro "clippy-driver --version" 2>/dev/null | head -n 1): no warning"
	else
		fail "make clippy against $KVER: $(grep -m 5 -E 'warning|error' "$OUT/clippy.log")"
	fi

	# A machine whose rustc is not the kernel's (this host: Debian 12's rustc-web) is told, in one
	# message, what to install; nothing is built or installed.
	refuse=$OUT/refuse
	set +e
	PS_ROOT=$refuse KVER=$KVER KDIR=$DISTRO/usr/src/linux-headers-$KVER bash "$REPO/scripts/dkms.sh" install \
		>"$OUT/refuse.log" 2>&1
	rc=$?
	set -e
	[ $rc -ne 0 ] || fail "make install against $KVER with rustc $(/usr/bin/rustc --version) succeeded"
	[ "$(grep -c 'error:' "$OUT/refuse.log")" = 1 ] || fail "refusal is not one message: $(cat "$OUT/refuse.log")"
	grep -q "rustc $rustc_text .*bindgen 0\.71\.1.*apt install rustc/trixie rust-src/trixie bindgen/trixie" "$OUT/refuse.log" ||
		fail "refusal does not name rustc, bindgen and the packages: $(cat "$OUT/refuse.log")"
	[ ! -e "$refuse/usr/src" ] || fail "a refused install left sources in $refuse/usr/src"
	pass "refused on a host with $(/usr/bin/rustc --version | cut -d' ' -f1-2): $(grep 'error:' "$OUT/refuse.log" | cut -c1-100)..."
	exec {lock}>&-
}

[ $# -gt 0 ] || set -- 7.3 7.2
for series in "$@"; do
	install_on "$series"
done
