#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's Rust artifacts for a build tree that lacks them (a distribution's headers package:
# Debian's linux-headers carry no rust/*.rmeta), so that an out-of-tree Rust module can be built.
#
#   scripts/kernel-rust.sh KDIR [SOURCE]   make sure the artifacts exist; print the make variables
#                                          to build against them (KDIR=... KRUSTC=... PS_BINDGEN=...
#                                          KCC=...)
#   scripts/kernel-rust.sh --check KDIR    only find the toolchain and the source; print nothing
#   scripts/kernel-rust.sh --rustc KDIR    print the rustc that built KDIR's kernel, if there is one
#                                          here (the Makefile's KRUSTC default: Ubuntu's rustc-1.9x)
#
# KDIR's .config names the compilers that built the kernel (CONFIG_RUSTC_VERSION_TEXT,
# CONFIG_BINDGEN_VERSION_TEXT, CONFIG_CC_VERSION_TEXT). Rust metadata and symbol names depend on
# the exact rustc, so this finds exactly that rustc and bindgen (KRUSTC and BINDGEN first, then
# rustc-X.Y and rustc on PATH) or stops with one message naming them and the packages that provide
# them. It then runs `make modules_prepare` of the matching kernel source (SOURCE, a tarball or a
# directory; default /usr/src/linux-source-X.Y.tar.*) with KDIR's .config, its KERNELRELEASE (the
# module's vermagic) and those compilers, in a cache keyed by release, configuration, toolchain
# and source: $PS_CACHE/kernel-rust/RELEASE-KEY/build, with KDIR's Module.symvers. Any other
# source version, or a configuration that Kconfig would change, is refused.
set -euo pipefail

PS_CACHE=${PS_CACHE:-/var/cache/pseudoscopic}
# Called from the module's Makefile (and DKMS's make): the kernel source is a build of its own.
unset MAKEFLAGS MFLAGS MAKELEVEL
JOBS=${JOBS:-$(($(nproc) + 1))}

die() {
	printf 'kernel-rust.sh: error: %s\n' "$*" >&2
	exit 1
}
say() { printf 'kernel-rust.sh: %s\n' "$*" >&2; }

MODE=build
case "${1:-}" in
--check | --rustc)
	MODE=${1#--}
	shift
	;;
esac
[ $# -ge 1 ] || die "usage: scripts/kernel-rust.sh [--check|--rustc] KDIR [SOURCE]"
KDIR=$(realpath "$1")
SOURCE=${2:-${PS_KERNEL_SOURCE:-}}

[ -f "$KDIR/.config" ] || die "$KDIR is not a kernel build tree (no .config); install the headers of the kernel (Debian: linux-headers-\$(uname -r))"
[ -f "$KDIR/include/config/kernel.release" ] || die "$KDIR has no include/config/kernel.release"
RELEASE=$(cat "$KDIR/include/config/kernel.release")

config_string() { sed -n "s/^$1=\"\(.*\)\"\$/\1/p" "$KDIR/.config"; }
grep -q '^CONFIG_RUST=y$' "$KDIR/.config" || die "kernel $RELEASE was built without CONFIG_RUST: no Rust module can be built for it"
RUSTC_TEXT=$(config_string CONFIG_RUSTC_VERSION_TEXT)
BINDGEN_TEXT=$(config_string CONFIG_BINDGEN_VERSION_TEXT)
CC_TEXT=$(config_string CONFIG_CC_VERSION_TEXT)
[ -n "$RUSTC_TEXT" ] && [ -n "$BINDGEN_TEXT" ] || die "$KDIR/.config names no rustc or bindgen (CONFIG_RUSTC_VERSION_TEXT, CONFIG_BINDGEN_VERSION_TEXT)"
RUSTC_VERSION=$(awk '{print $2}' <<<"$RUSTC_TEXT")
BINDGEN_VERSION=$(awk '{print $2}' <<<"$BINDGEN_TEXT")

# The first candidate whose `--version` (first line) is exactly TEXT.
find_tool() {
	local text=$1 c
	shift
	for c in "$@"; do
		[ -n "$c" ] || continue
		c=$(command -v "$c" 2>/dev/null) || continue
		[ "$("$c" --version 2>/dev/null | head -n 1)" = "$text" ] && {
			echo "$c"
			return 0
		}
	done
	return 1
}

minor=${RUSTC_VERSION%.*}
RUSTC=$(find_tool "$RUSTC_TEXT" "${KRUSTC:-}" "rustc-$minor" /usr/bin/rustc rustc) || RUSTC=
if [ $MODE = rustc ]; then
	[ -n "$RUSTC" ] && echo "$RUSTC"
	exit 0
fi
bindgen_minor=${BINDGEN_VERSION%.*}
BINDGEN=$(find_tool "$BINDGEN_TEXT" "${BINDGEN:-}" "${PS_BINDGEN:-}" "bindgen-$bindgen_minor" /usr/bin/bindgen bindgen) || BINDGEN=
RUST_SRC=
[ -n "$RUSTC" ] && RUST_SRC=$("$RUSTC" --print sysroot)/lib/rustlib/src/rust/library
if [ -z "$RUSTC" ] || [ -z "$BINDGEN" ] || [ ! -d "$RUST_SRC" ]; then
	have=$(for c in "${KRUSTC:-}" /usr/bin/rustc /usr/bin/bindgen; do
		if [ -x "$c" ]; then "$c" --version; fi
	done | sort -u | paste -sd, -)
	# The Debian suite whose packages are that toolchain, where known.
	suite=
	[ "$RUSTC_VERSION $BINDGEN_VERSION" = "1.85.1 0.71.1" ] && suite="Debian 13 trixie has them: apt install rustc/trixie rust-src/trixie bindgen/trixie"
	die "kernel $RELEASE was built with $RUSTC_TEXT and $BINDGEN_TEXT; a Rust module for it needs exactly those, with the Rust standard library source${have:+ (found: $have)}. Install the packages rustc and rust-src $RUSTC_VERSION and bindgen $BINDGEN_VERSION${suite:+ ($suite)}, or name them with KRUSTC=... BINDGEN=..."
fi

# The C compiler: the same name and major version (e.g. gcc-14), whose version text should match.
CC_NAME=$(awk '{print $1}' <<<"$CC_TEXT")
CC=$(find_tool "$CC_TEXT" "$CC_NAME" gcc) || CC=$(command -v "$CC_NAME" 2>/dev/null) ||
	die "kernel $RELEASE was built with $CC_TEXT; install $CC_NAME (Debian: apt install $CC_NAME)"
[ "$("$CC" --version | head -n 1)" = "$CC_TEXT" ] || say "note: $CC is $("$CC" --version | head -n 1), the kernel was built with $CC_TEXT"

# The kernel source: SOURCE, or the distribution's linux-source-X.Y.
UPSTREAM=$(sed -n 's/^\([0-9]*\.[0-9]*\(\.[0-9]*\)\?\).*/\1/p' <<<"$RELEASE")
SERIES=$(cut -d. -f1,2 <<<"$UPSTREAM")
if [ -z "$SOURCE" ]; then
	SOURCE=$(ls -d /usr/src/linux-source-"$SERIES".tar.* /usr/src/linux-source-"$SERIES" 2>/dev/null | head -n 1) ||
		true
	[ -n "$SOURCE" ] || die "no source of Linux $SERIES for kernel $RELEASE: install linux-source-$SERIES (Debian: apt install linux-source-$SERIES, from the suite of the kernel) or pass its path (PS_KERNEL_SOURCE=...)"
fi
[ -e "$SOURCE" ] || die "no kernel source at $SOURCE"
SOURCE=$(realpath "$SOURCE")

# Debian: headers and source from the same source package version, or the kernels differ.
if command -v dpkg-query >/dev/null; then
	headers_pkg=$(dpkg-query -S "$KDIR/.config" 2>/dev/null | cut -d: -f1 | head -n 1) || true
	source_pkg=$(dpkg-query -S "$SOURCE" 2>/dev/null | cut -d: -f1 | head -n 1) || true
	if [ -n "$headers_pkg" ] && [ -n "$source_pkg" ]; then
		hv=$(dpkg-query -W -f '${source:Version}' "$headers_pkg")
		sv=$(dpkg-query -W -f '${source:Version}' "$source_pkg")
		[ "$hv" = "$sv" ] || die "kernel $RELEASE comes from Debian's linux $hv but $source_pkg is $sv: install the linux-source-$SERIES of version $hv"
	fi
fi

[ $MODE = check ] && exit 0

# The cache: keyed by everything that makes the artifacts differ.
if [ -d "$SOURCE" ]; then
	source_id=$(cd "$SOURCE" && make -s kernelversion 2>/dev/null; stat -c '%n %Y' "$SOURCE/Makefile")
else
	source_id=$(stat -c '%n %s %Y' "$SOURCE")
fi
KEY=$({
	cat "$KDIR/.config"
	echo "$RELEASE"
	"$RUSTC" --version
	"$BINDGEN" --version
	"$CC" --version | head -n 1
	echo "$source_id"
} | sha256sum | cut -c1-12)
CACHE=${PS_RUST_CACHE:-$PS_CACHE/kernel-rust}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/pseudoscopic/kernel-rust
	mkdir -p "$CACHE"
fi
DIR=$CACHE/$RELEASE-$KEY
BUILD=$DIR/build

print_vars() {
	echo "KDIR=$BUILD KRUSTC=$RUSTC PS_BINDGEN=$BINDGEN KCC=$CC"
}

# DKMS and make may run at once: one builder, the other waits.
exec 9>"$DIR.lock"
flock 9
if [ -f "$DIR/.ps-built" ]; then
	print_vars
	exit 0
fi

say "kernel $RELEASE: building its Rust artifacts (rust/*.rmeta) from $SOURCE with $RUSTC_TEXT, $BINDGEN_TEXT and $CC into $DIR; a few minutes, once"
rm -rf "$DIR"
mkdir -p "$DIR/build"
if [ -d "$SOURCE" ]; then
	ln -s "$SOURCE" "$DIR/src"
else
	mkdir "$DIR/unpack"
	tar -C "$DIR/unpack" -xf "$SOURCE" || die "could not unpack $SOURCE"
	mv "$DIR/unpack/"* "$DIR/src"
	rmdir "$DIR/unpack"
fi
have=$(make -s -C "$DIR/src" kernelversion)
[ "$have" = "$UPSTREAM" ] || die "$SOURCE is Linux $have, kernel $RELEASE is $UPSTREAM: install the matching linux-source"

cp "$KDIR/.config" "$BUILD/.config"
mk=(make -C "$DIR/src" O="$BUILD" ARCH=x86_64 CC="$CC" HOSTCC="$CC" RUSTC="$RUSTC" HOSTRUSTC="$RUSTC"
	BINDGEN="$BINDGEN" KERNELRELEASE="$RELEASE" -j"$JOBS")
"${mk[@]}" -s rustavailable >"$DIR/prepare.log" 2>&1 || die "Linux $UPSTREAM does not accept $RUSTC_TEXT ($DIR/prepare.log)"
"${mk[@]}" -s syncconfig >>"$DIR/prepare.log" 2>&1 || die "configuring the source failed ($DIR/prepare.log)"
# Kconfig recomputes what depends on the tools (pahole, binutils, compiler features); if that
# changes any option, the artifacts would not match the kernel.
changed=$(diff <(grep '^CONFIG_' "$KDIR/.config" | grep -v '_VERSION\(_TEXT\)\?=' | sort) \
	<(grep '^CONFIG_' "$BUILD/.config" | grep -v '_VERSION\(_TEXT\)\?=' | sort) | grep '^[<>]' | head -n 8) || true
[ -z "$changed" ] || die "with these tools the configuration of $RELEASE would change ($(echo "$changed" | paste -sd' ' -)); install the tools the kernel was built with (Debian: the build-dependencies of linux, e.g. dwarves for pahole)"
"${mk[@]}" modules_prepare >>"$DIR/prepare.log" 2>&1 || die "make modules_prepare failed; see $DIR/prepare.log"
[ -f "$BUILD/rust/libkernel.rmeta" ] || die "make modules_prepare built no rust/libkernel.rmeta; see $DIR/prepare.log"
[ "$(cat "$BUILD/include/config/kernel.release")" = "$RELEASE" ] || die "the prepared tree is $(cat "$BUILD/include/config/kernel.release"), not $RELEASE"
# modpost checks the module's imports against the kernel's exports.
[ -f "$KDIR/Module.symvers" ] && cp "$KDIR/Module.symvers" "$BUILD/Module.symvers"
touch "$DIR/.ps-built"
say "kernel $RELEASE: Rust artifacts ready in $BUILD"
print_vars
