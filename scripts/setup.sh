#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make setup: install everything pseudoscopic's build and tests need on Debian 12, idempotently.
#
#   1. Debian packages (the Rust toolchain for kernel code, libclang 19, QEMU, busybox, kernel build deps);
#   2. bindgen-cli 0.72.1, built with Debian's cargo into the cache;
#   3. the Linux 7.3.x source from Debian's linux-source-7.3 (a private APT configuration; the system's
#      sources are never touched);
#   4. a test kernel with Rust support, configured from tests/kernel.config;
#   5. a Debian trixie chroot with QEMU >= 10.1 from trixie-backports (vfio-user-pci), for the tests that
#      run the emulated NVIDIA boards (tests/gpu-model, built by `make vm-test`); the host keeps
#      bookworm's QEMU;
#   6. a debug kernel: the same plus tests/kernel-debug.config (KASAN, kmemleak, fault injection),
#      compiled by clang-19, because the kernel allows Rust with KASAN only under clang;
#   7. for each supported series (7.3, 7.2), a Debian trixie chroot with Debian's own newest kernel
#      of the series (trixie-backports) and the toolchain that built it, and that kernel's Rust
#      artifacts (scripts/kernel-rust.sh), for the tests of `make install` on a distribution kernel
#      (tests/host/distro-install.sh, VM groups debian-SERIES*); a series trixie-backports no
#      longer has is skipped with a SKIP line.
#
#   8. our test kernel of Linux 7.2 too, from Debian's linux-source-7.2 and tests/kernel.config (VM
#      groups with "# vm: kernel test-7.2"); skipped with a SKIP line when Debian no longer has it.
#
# Usage: scripts/setup.sh [PART...]. Step 1 always runs, steps 2-3 for the parts that build a
# kernel; the parts: `kernel` (4), `chroot` (5), `debug` (6), `distro` (7), `kernel-7.2` (8),
# `all` (every part, the default). Several setups may run at once (`make test` runs its parts side
# by side): each step takes a lock under $PS_CACHE/locks, so one of them does it and the others
# wait for it.
#
# Everything lives under $PS_CACHE (default /var/cache/pseudoscopic), keyed by kernel version, config
# fragment and toolchain, so a second run only checks stamps.  On success the cache holds:
#   $PS_CACHE/test-kernel  -> the kernel build tree (KDIR for `make`, bzImage for the VM tests)
#   $PS_CACHE/debug-kernel -> the debug kernel build tree (VM groups with "# vm: kernel debug")
#   $PS_CACHE/env.mk       -> the toolchain variables the Makefile includes
#   $PS_CACHE/qemu-chroot  -> the trixie chroot whose qemu-system-x86_64 has vfio-user-pci
#   $PS_CACHE/distro-7.3   -> the trixie chroot with Debian's 7.3 kernel (or a file: why not)
#   $PS_CACHE/distro-7.2   -> the same for Debian's 7.2 kernel
#   $PS_CACHE/test-kernel-7.2 -> our 7.2 test kernel's build tree (or a file: why not)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PS_CACHE=${PS_CACHE:-/var/cache/pseudoscopic}
KERNEL_SERIES=7.3
# The second supported series: a test kernel of it too, from the same configuration (part kernel-7.2).
SECOND_SERIES=7.2
BINDGEN_VERSION=0.72.1
JOBS=${JOBS:-$(($(nproc) + 1))}
# The debug kernel's compiler: KASAN with Rust needs clang (init/Kconfig), and this is the clang
# whose libclang bindgen uses.
DEBUG_CC=clang-19

PACKAGES=(
	rustc-web rust-web-src rust-web-clippy rustfmt-web cargo-web
	libclang-19-dev clang-19
	gcc make bc flex bison libelf-dev libssl-dev dwarves cpio kmod xz-utils zstd python3 rsync
	qemu-system-x86 busybox-static debootstrap
	dkms
	# systemd-analyze (make check verifies ps-tierd's unit) and systemctl (make install enables it)
	systemd
)

# The chroot for vfio-user: QEMU_MIN or newer, from trixie-backports.
CHROOT_SUITE=trixie
QEMU_MIN=10.1
DEBIAN_MIRROR=http://deb.debian.org/debian

say() { printf 'setup: %s\n' "$*"; }
die() {
	printf 'setup: error: %s\n' "$*" >&2
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "must run as root (or with sudo) to install packages"
	fi
}

# locked NAME CMD...: CMD with $PS_CACHE/locks/NAME held. `make test` runs setup's parts side by
# side (tests/run-all.sh), and a `make run` may start beside it: each thing is fetched or built by
# one of them, the others wait and then find it present.
locked() {
	local name=$1 lock
	shift
	mkdir -p "$PS_CACHE/locks"
	lock=$PS_CACHE/locks/$name
	(
		flock -n 9 || {
			say "$name: another setup has it; waiting" >&2
			flock 9
		}
		"$@"
	) 9>"$lock"
}

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "Debian packages: present"
		return
	fi
	say "Debian packages: installing ${missing[*]}"
	as_root apt-get update -q >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

install_bindgen() {
	local root=$PS_CACHE/bindgen-$BINDGEN_VERSION
	if [ -x "$root/bin/bindgen" ] && "$root/bin/bindgen" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
		say "bindgen $BINDGEN_VERSION: present"
		return
	fi
	say "bindgen $BINDGEN_VERSION: building with Debian's cargo (about 2 minutes)"
	mkdir -p "$root"
	CARGO_HOME=$PS_CACHE/cargo-home RUSTC=/usr/bin/rustc \
		/usr/bin/cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION" --root "$root"
}

# A private APT configuration that knows only the suites which may carry linux-source-7.3.
# It shares nothing with /etc/apt, so the system never sees trixie. Written whole and renamed into
# place: another setup running beside this one may be reading it.
private_apt() {
	local dir=$PS_CACHE/apt
	mkdir -p "$dir/lists/partial" "$dir/archives/partial"
	cat >"$dir/sources.list.$$" <<-EOF
		deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
		deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
		deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
	EOF
	mv "$dir/sources.list.$$" "$dir/sources.list"
	touch "$dir/status"
	cat >"$dir/apt.conf.$$" <<-EOF
		Dir::Etc::SourceList "$dir/sources.list";
		Dir::Etc::SourceParts "/nonexistent";
		Dir::Etc::Preferences "/nonexistent";
		Dir::Etc::PreferencesParts "/nonexistent";
		Dir::State "$dir";
		Dir::State::Lists "$dir/lists";
		Dir::State::status "$dir/status";
		Dir::Cache "$dir";
		APT::Architecture "amd64";
		APT::Sandbox::User "root";
	EOF
	mv "$dir/apt.conf.$$" "$dir/apt.conf"
	echo "$dir/apt.conf"
}

# private_apt_update CONF MINUTES: the private package lists, read again from the archive unless
# they are younger than MINUTES. Under the lock `apt`: two updates at once would fail on APT's own
# lock and leave the lists short of a suite, which would read as "Debian has no such kernel".
private_apt_update() {
	locked apt private_apt_update_unlocked "$@"
}
private_apt_update_unlocked() {
	local conf=$1 minutes=$2
	[ -z "$(find "$PS_CACHE/apt/lists" -maxdepth 1 -name '*trixie-backports_InRelease' -mmin -"$minutes" 2>/dev/null)" ] ||
		return 0
	# One suite failing (a rotated signing key, say) must not hide the others.
	APT_CONFIG=$conf apt-get update -q >/dev/null 2>&1 ||
		say "warning: some of trixie-backports/trixie/sid could not be read; trying the rest" >&2
}

# fetch_kernel_source SERIES: prints the directory of an unpacked Linux SERIES.x source tree (Debian's
# linux-source-SERIES), fetching it when needed.
fetch_kernel_source() {
	local series=$1 have
	have=$(find "$PS_CACHE" -maxdepth 1 -name "linux-$series.*" -type d 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$have" ] && [ -f "$have/.ps-unpacked" ]; then
		say "Linux source: $(basename "$have") present" >&2
		echo "$have"
		return
	fi
	local conf version deb tmp src
	conf=$(private_apt)
	say "Linux source: looking for linux-source-$series in Debian (private APT configuration)" >&2
	private_apt_update "$conf" 60
	version=$(locked apt env APT_CONFIG="$conf" apt-cache policy "linux-source-$series" 2>/dev/null |
		awk '/Candidate:/ {print $2}')
	if [ -z "$version" ] || [ "$version" = "(none)" ]; then
		echo "no linux-source-$series package in any Debian suite reachable here (trixie-backports, trixie, sid)" >&2
		return 3
	fi
	tmp=$(mktemp -d "$PS_CACHE/dl.XXXXXX")
	(cd "$tmp" && locked apt env APT_CONFIG="$conf" apt-get download -q "linux-source-$series=$version" >/dev/null 2>&1) ||
		die "download of linux-source-$series $version failed"
	deb=$(ls "$tmp"/linux-source-"$series"_*.deb)
	dpkg-deb -x "$deb" "$tmp/x"
	say "Linux source: unpacking linux-source-$series $version" >&2
	tar -C "$tmp" -xf "$tmp/x/usr/src/linux-source-$series.tar.xz"
	src=$tmp/linux-source-$series
	local full
	full=$(make -s -C "$src" kernelversion)
	case "$full" in
	"$series".*) ;;
	*) die "linux-source-$series $version unpacked to Linux $full, not $series.x" ;;
	esac
	rm -rf "$PS_CACHE/linux-$full"
	mv "$src" "$PS_CACHE/linux-$full"
	rm -rf "$tmp"
	touch "$PS_CACHE/linux-$full/.ps-unpacked"
	echo "$PS_CACHE/linux-$full"
}

write_env() {
	cat >"$PS_CACHE/env.mk.$$" <<-EOF
		# Written by scripts/setup.sh: the toolchain the test kernel was built with.
		PS_BINDGEN := $PS_CACHE/bindgen-$BINDGEN_VERSION/bin/bindgen
		PS_LIBCLANG_PATH := /usr/lib/llvm-19/lib
		PS_TEST_KDIR := $PS_CACHE/test-kernel
		PS_DEBUG_KDIR := $PS_CACHE/debug-kernel
		PS_DEBUG_CC := $DEBUG_CC
	EOF
	mv "$PS_CACHE/env.mk.$$" "$PS_CACHE/env.mk"
}

# build_kernel SRC LINK CC FRAGMENT...: a kernel from allnoconfig plus the fragments, compiled by CC,
# in a directory keyed by everything that makes it differ; $PS_CACHE/LINK points at it.
build_kernel() {
	local src=$1 link=$2 cc=$3 version key build fragment
	shift 3
	version=$(basename "$src")
	version=${version#linux-}
	# The key covers everything that makes the tree differ: version, fragments, compilers.
	key=$({
		echo "$version"
		cat "$@"
		/usr/bin/rustc -V
		"$PS_CACHE/bindgen-$BINDGEN_VERSION/bin/bindgen" --version
		"$cc" --version | head -n 1
	} | sha256sum | cut -c1-12)
	build=$PS_CACHE/kernel-$version-$key
	case "$link" in test-kernel*) ;; *) build=$PS_CACHE/${link%-kernel}-kernel-$version-$key ;; esac
	if [ -f "$build/.ps-built" ]; then
		say "$link: $version ($key) present"
	else
		say "$link: building Linux $version with Rust ($key, $cc); this takes a while on a cold cache"
		mkdir -p "$build"
		local mk=(make -C "$src" O="$build" ARCH=x86_64 RUSTC=/usr/bin/rustc
			BINDGEN="$PS_CACHE/bindgen-$BINDGEN_VERSION/bin/bindgen" HOSTRUSTC=/usr/bin/rustc)
		[ "$cc" = gcc ] || mk+=(CC="$cc")
		export PATH=/usr/bin:$PATH LIBCLANG_PATH=/usr/lib/llvm-19/lib
		"${mk[@]}" -s rustavailable >/dev/null || die "the kernel does not accept this Rust toolchain (make rustavailable)"
		"${mk[@]}" -s allnoconfig >/dev/null
		"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$@" >/dev/null
		"${mk[@]}" -s olddefconfig >/dev/null
		local line
		for fragment in "$@"; do
			while read -r line; do
				case "$line" in '' | \#*) continue ;; esac
				grep -qx "$line" "$build/.config" ||
					die "kernel config: $line from ${fragment#"$REPO"/} did not stick"
			done <"$fragment"
		done
		"${mk[@]}" -j"$JOBS" bzImage modules >"$build/build.log" 2>&1 ||
			die "kernel build failed; see $build/build.log"
		touch "$build/.ps-built"
	fi
	ln -sfn "$build" "$PS_CACHE/$link.tmp"
	mv -T "$PS_CACHE/$link.tmp" "$PS_CACHE/$link"
}

# Our test kernel of the second series, from Debian's linux-source-SERIES and the same configuration
# as the first. When no Debian suite has that source any more, $PS_CACHE/test-kernel-SERIES is a
# file saying so, and the VM groups that boot it print a SKIP line.
build_second_kernel() {
	local link=$PS_CACHE/test-kernel-$SECOND_SERIES src rc=0
	src=$(locked "linux-$SECOND_SERIES" fetch_kernel_source "$SECOND_SERIES") || rc=$?
	if [ $rc -eq 3 ]; then
		echo "no linux-source-$SECOND_SERIES in Debian" >"$link"
		say "SKIP our Linux $SECOND_SERIES test kernel: $(cat "$link")"
		return
	fi
	[ $rc -eq 0 ] || die "Linux $SECOND_SERIES source: fetch failed"
	[ -L "$link" ] || rm -f "$link"
	locked "test-kernel-$SECOND_SERIES" build_kernel "$src" "test-kernel-$SECOND_SERIES" gcc "$REPO/tests/kernel.config"
}

# A minimal trixie system with QEMU from trixie-backports: bookworm's QEMU (7.2) has no vfio-user-pci.
# Keyed by the recipe; the host's APT sources are never touched (debootstrap and the chroot's own APT
# only write inside the chroot).
build_qemu_chroot() {
	local key root tmp version
	key=$({
		echo "$CHROOT_SUITE $QEMU_MIN $DEBIAN_MIRROR"
		declare -f build_qemu_chroot
	} | sha256sum | cut -c1-12)
	root=$PS_CACHE/qemu-$CHROOT_SUITE-$key
	if [ -f "$root/.ps-built" ]; then
		say "QEMU chroot: $(cat "$root/.ps-built") ($key) present"
	else
		say "QEMU chroot: debootstrap $CHROOT_SUITE and QEMU from $CHROOT_SUITE-backports (about 3 minutes)"
		tmp=$root.tmp
		rm -rf "$tmp"
		debootstrap --variant=minbase "$CHROOT_SUITE" "$tmp" "$DEBIAN_MIRROR" >"$PS_CACHE/debootstrap.log" 2>&1 ||
			die "debootstrap $CHROOT_SUITE failed; see $PS_CACHE/debootstrap.log"
		echo "deb $DEBIAN_MIRROR $CHROOT_SUITE-backports main" >"$tmp/etc/apt/sources.list.d/backports.list"
		# A private mount namespace: /proc for the package scripts goes away with it.
		unshare -m sh -ec '
			mount -t proc proc "$1/proc"
			chroot "$1" apt-get update -q
			chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
				-t "$2-backports" qemu-system-x86
			chroot "$1" apt-get clean
		' sh "$tmp" "$CHROOT_SUITE" >"$PS_CACHE/qemu-chroot.log" 2>&1 ||
			die "installing QEMU in the $CHROOT_SUITE chroot failed; see $PS_CACHE/qemu-chroot.log"
		version=$(chroot "$tmp" qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([0-9.]*\).*/\1/p')
		printf '%s\n%s\n' "$QEMU_MIN" "$version" | sort -V -C ||
			die "$CHROOT_SUITE-backports has QEMU $version; vfio-user-pci needs $QEMU_MIN or newer"
		chroot "$tmp" qemu-system-x86_64 -device help | grep -q '"vfio-user-pci"' ||
			die "QEMU $version from $CHROOT_SUITE-backports has no vfio-user-pci device"
		echo "QEMU $version" >"$tmp/.ps-built"
		mv -T "$tmp" "$root"
		say "QEMU chroot: QEMU $version ready"
	fi
	ln -sfn "$root" "$PS_CACHE/qemu-chroot.tmp"
	mv -T "$PS_CACHE/qemu-chroot.tmp" "$PS_CACHE/qemu-chroot"
}

# Debian's newest kernel of SERIES in trixie-backports whose headers and linux-source are there
# in the same version, as "KVER VERSION" (7.2.12+deb13-amd64 7.2.12-1~bpo13+1); nothing when there
# is none. Only trixie-backports: its kernels are built by trixie's own toolchain (rustc 1.85.1,
# bindgen 0.71.1), which the chroot can hold; sid's are built by sid's newer rustc.
newest_distro_kernel() {
	local series=$1 conf=$2 images kver version best= best_version=
	images=$(APT_CONFIG=$conf apt-cache pkgnames "linux-image-$series." 2>/dev/null |
		grep -E "^linux-image-${series//./\\.}\.[0-9]+\+deb[0-9]+-amd64\$") || return 0
	# One look-up for every image, its headers and the source: "KVER VERSION" of each image whose
	# headers and source have its version in the suite.
	while read -r kver version; do
		if [ -z "$best" ] || dpkg --compare-versions "$version" gt "$best_version"; then
			best=$kver
			best_version=$version
		fi
	done < <(
		# shellcheck disable=SC2086 # one package name a word
		APT_CONFIG=$conf apt-cache madison $images ${images//linux-image-/linux-headers-} "linux-source-$series" 2>/dev/null |
			awk -F'|' -v suite=" $CHROOT_SUITE-backports/" -v source="linux-source-$series" '
				index($3, suite) {
					gsub(/ /, "", $1)
					gsub(/ /, "", $2)
					have[$1 "=" $2] = 1
					if ($1 ~ /^linux-image-/) image[substr($1, 13) "=" $2] = 1
				}
				END {
					for (i in image) {
						split(i, kv, "=")
						if (("linux-headers-" i) in have && (source "=" kv[2]) in have) print kv[1], kv[2]
					}
				}'
	)
	[ -z "$best" ] || echo "$best $best_version"
}

# Debian's own kernel of SERIES (7.3, 7.2) and the exact toolchain that built it, in a trixie chroot
# of its own, for the tests that install the module the way a Debian 13 user does (`make install`:
# DKMS, scripts/kernel-rust.sh) and boot Debian's vmlinuz (VM groups with "# vm: kernel
# debian-SERIES"). The kernel is the newest of SERIES in trixie-backports (newest_distro_kernel); when
# there is none, $PS_CACHE/distro-SERIES is a file saying why, and those groups are skipped. Keyed
# by the kernel version and this recipe. Also builds the kernel's Rust artifacts there once (the
# cold step of `make install`).
# As README.md tells Debian 13 users: the kernel and the build tools from trixie-backports (whose
# kernel packages pull newer libraries, libelf among them, that trixie's -dev packages would
# conflict with), the Rust toolchain from trixie (backports' rustc is not the kernel's).
DISTRO_BUILD_PACKAGES=(gcc-14 make dkms bc flex bison libelf-dev libssl-dev dwarves xz-utils kmod
	python3 libc6-dev ca-certificates rsync cpio)
DISTRO_RUST_PACKAGES=(rustc rust-src rust-clippy bindgen cargo)
# The series pseudoscopic supports (src/compat/), newest first.
DISTRO_SERIES=(7.3 7.2)
build_distro_chroot() {
	local series=$1 conf found image kver key root tmp link
	link=$PS_CACHE/distro-$series
	conf=$(private_apt)
	# The archive changes: look again at most once a day.
	private_apt_update "$conf" 1440
	found=$(locked apt newest_distro_kernel "$series" "$conf")
	kver=${found% *}
	image=${found#* }
	if [ -z "$found" ]; then
		rm -rf "$link"
		echo "no Linux $series kernel with its headers and linux-source-$series in $CHROOT_SUITE-backports" >"$link"
		say "SKIP Debian's Linux $series: $(cat "$link")"
		return 0
	fi
	key=$({
		echo "$series $kver $image $CHROOT_SUITE $DEBIAN_MIRROR ${DISTRO_BUILD_PACKAGES[*]} ${DISTRO_RUST_PACKAGES[*]}"
		declare -f build_distro_chroot
	} | sha256sum | cut -c1-12)
	root=$PS_CACHE/distro-$CHROOT_SUITE-$kver-$key
	if [ -f "$root/.ps-built" ]; then
		say "Debian $series chroot: $kver ($key) present"
	else
		say "Debian $series chroot: debootstrap $CHROOT_SUITE, Debian's $kver and its toolchain (several minutes)"
		tmp=$root.tmp
		rm -rf "$tmp"
		debootstrap --variant=minbase "$CHROOT_SUITE" "$tmp" "$DEBIAN_MIRROR" >"$PS_CACHE/distro-$series.log" 2>&1 ||
			die "debootstrap $CHROOT_SUITE failed; see $PS_CACHE/distro-$series.log"
		echo "deb $DEBIAN_MIRROR $CHROOT_SUITE-backports main" >"$tmp/etc/apt/sources.list.d/backports.list"
		# The kernel from backports; its toolchain from trixie itself (backports' rustc is newer).
		unshare -m sh -ec '
			root=$1 suite=$2 image=$3 kver=$4 series=$5 rust=$6
			shift 6
			mount -t proc proc "$root/proc"
			chroot "$root" apt-get update -q
			chroot "$root" env DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -q --no-install-recommends \
				-t "$suite-backports" "linux-image-$kver=$image" "linux-headers-$kver=$image" "linux-source-$series=$image" "$@"
			chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $rust
			chroot "$root" apt-get clean
		' sh "$tmp" "$CHROOT_SUITE" "$image" "$kver" "$series" "${DISTRO_RUST_PACKAGES[*]}" "${DISTRO_BUILD_PACKAGES[@]}" \
			>>"$PS_CACHE/distro-$series.log" 2>&1 ||
			die "installing Debian's $kver and its toolchain in the chroot failed; see $PS_CACHE/distro-$series.log"
		[ -f "$tmp/boot/vmlinuz-$kver" ] || die "no /boot/vmlinuz-$kver in the Debian $series chroot"
		echo "$kver" >"$tmp/.ps-kernel"
		touch "$tmp/.ps-built"
		mv -T "$tmp" "$root"
		say "Debian $series chroot: $kver ready"
	fi
	# The kernel's Rust artifacts, as `make install` will want them (kernel-rust.sh's own cache,
	# keyed by kernel and toolchain; instant when present).
	cp "$REPO/scripts/kernel-rust.sh" "$root/tmp/kernel-rust.sh"
	local t0=$SECONDS
	unshare -m sh -ec '
		mount -t proc proc "$1/proc"
		chroot "$1" env PS_CACHE=/var/cache/pseudoscopic nice bash /tmp/kernel-rust.sh "/lib/modules/$2/build" >/dev/null
	' sh "$root" "$kver" 2>&1 | sed 's/^/setup: /' || die "Rust artifacts for Debian's $kver failed (above)"
	say "Debian $series chroot: Rust artifacts for $kver ready ($((SECONDS - t0)) s)"
	rm -rf "$link"
	ln -sfn "$root" "$link.tmp"
	mv -T "$link.tmp" "$link"
}

# The parts a target needs: `make run` and `make bench` only `kernel chroot`, so a first demo
# never waits for the debug kernel; `make test` everything.
PARTS_ALL=(kernel chroot debug distro kernel-7.2)

main() {
	local parts=("$@") part
	[ ${#parts[@]} -eq 0 ] && parts=(all)
	for part in "${parts[@]}"; do
		case "$part" in
		all) parts+=("${PARTS_ALL[@]}") ;;
		kernel | chroot | debug | distro | kernel-$SECOND_SERIES) ;;
		*) die "unknown part '$part' (parts: ${PARTS_ALL[*]} all)" ;;
		esac
	done
	want() { case " ${parts[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
	[ -r /etc/os-release ] && . /etc/os-release
	[ "${ID:-}" = debian ] || say "warning: not Debian (${ID:-unknown}); package names may differ"
	mkdir -p "$PS_CACHE"
	locked packages install_packages
	local src series
	if want kernel || want debug || want "kernel-$SECOND_SERIES"; then
		locked bindgen install_bindgen
	fi
	if want kernel || want debug; then
		src=$(locked "linux-$KERNEL_SERIES" fetch_kernel_source "$KERNEL_SERIES") ||
			die "pseudoscopic's tests need a Linux $KERNEL_SERIES.x source tree"
	fi
	want kernel && locked test-kernel build_kernel "$src" test-kernel gcc "$REPO/tests/kernel.config"
	want chroot && locked qemu-chroot build_qemu_chroot
	want debug && locked debug-kernel build_kernel "$src" debug-kernel "$DEBUG_CC" "$REPO/tests/kernel.config" "$REPO/tests/kernel-debug.config"
	want "kernel-$SECOND_SERIES" && build_second_kernel
	if want distro; then
		for series in "${DISTRO_SERIES[@]}"; do
			locked "distro-$series" build_distro_chroot "$series"
		done
	fi
	write_env
	local made=
	want kernel && made=": KDIR=$PS_CACHE/test-kernel"
	want debug && made="${made:-:} debug kernel $PS_CACHE/debug-kernel"
	say "done (${parts[*]})$made"
}

# Sourced (tests of single steps) it only defines the functions.
[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"
