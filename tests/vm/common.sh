# SPDX-License-Identifier: GPL-2.0
# Shared by the VM scripts: locate the test kernel, build the initramfs, assemble a QEMU command.
# Sourced, not run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PS_CACHE=${PS_CACHE:-/var/cache/pseudoscopic}
KDIR=${KDIR:-$PS_CACHE/test-kernel}
OUT=$REPO/out/vm
TOOLS_BIN=$REPO/out/tools/release
TOOLS=(ps-status ps-migrate ps-test ps-stress ps-bench ps-tierd)
GPU_MODEL=${PS_GPU_MODEL:-$REPO/out/gpu-model/release/gpu-model}
# The trixie chroot whose QEMU has vfio-user-pci (scripts/setup.sh).
QEMU_CHROOT=${PS_QEMU_CHROOT:-$PS_CACHE/qemu-chroot}
TOOLS+=(ps-fuzz)

die() {
	printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
	exit 2
}

[ -f "$KDIR/arch/x86/boot/bzImage" ] || die "no test kernel at $KDIR (run 'make setup')"
[ -f "$REPO/pseudoscopic.ko" ] || die "pseudoscopic.ko is not built (run 'make')"
KVER=$(cat "$KDIR/include/config/kernel.release")
KERNEL_IMAGE=$KDIR/arch/x86/boot/bzImage
MODULES_DIR=$KDIR
MODULE_DEST=extra
TEST_HMM_KO=$KDIR/lib/test_hmm.ko
TEST_KDIR=$KDIR
# PS_MODULE_KO: another build of the module to put in the guests (a benchmark of an older one).
MODULE_KO=${PS_MODULE_KO:-$REPO/pseudoscopic.ko}
KUNIT_KO=$REPO/out/kunit-module/pseudoscopic.ko
INITRAMFS=$OUT/initramfs.cpio

# use_kernel test|debug|test-7.2|debian-SERIES: the kernel the next guests boot (KERNEL_IMAGE,
# KVER), the module built for it, its modules directory (MODULES_DIR: modules.order,
# modules.builtin...) and their initramfs.  The debug kernel (KASAN, kmemleak, fault injection;
# `make setup`) needs the module built against its own tree (`make modules-debug`, into
# out/debug-module/), and our 7.2 test kernel too (`make modules-7.2`, into out/module-7.2/).
# Debian's kernel of SERIES (7.3, 7.2) is the one in the Debian chroot of `make setup` (part
# distro), $PS_CACHE/distro-SERIES, with the module `make install` built there through DKMS
# (tests/host/distro-install.sh). Returns 3 with SKIP_REASON set when setup found no Debian kernel
# of the series or no 7.2 source (that path is then a file saying why).
use_kernel() {
	TEST_HMM_KO=
	KUNIT_KO=
	case "$1" in
	test | debug | test-7.2)
		if [ "$1" = test ]; then
			KDIR=$TEST_KDIR
			MODULE_KO=${PS_MODULE_KO:-$REPO/pseudoscopic.ko}
			KUNIT_KO=$REPO/out/kunit-module/pseudoscopic.ko
			INITRAMFS=$OUT/initramfs.cpio
		elif [ "$1" = test-7.2 ]; then
			KDIR=$PS_CACHE/test-kernel-7.2
			if [ ! -d "$KDIR" ]; then
				SKIP_REASON="our Linux 7.2 test kernel: $(cat "$KDIR" 2>/dev/null || echo "not built at $KDIR (make setup)")"
				return 3
			fi
			MODULE_KO=$REPO/out/module-7.2/pseudoscopic.ko
			KUNIT_KO=$REPO/out/kunit-module-7.2/pseudoscopic.ko
			INITRAMFS=$OUT/initramfs-test-7.2.cpio
			[ -f "$MODULE_KO" ] || die "$MODULE_KO is not built (run 'make modules-7.2')"
		else
			KDIR=$PS_CACHE/debug-kernel
			MODULE_KO=$REPO/out/debug-module/pseudoscopic.ko
			INITRAMFS=$OUT/initramfs-debug.cpio
			[ -f "$KDIR/arch/x86/boot/bzImage" ] || die "no debug kernel at $KDIR (run 'make setup')"
			[ -f "$MODULE_KO" ] || die "$MODULE_KO is not built (run 'make modules-debug')"
		fi
		KVER=$(cat "$KDIR/include/config/kernel.release")
		KERNEL_IMAGE=$KDIR/arch/x86/boot/bzImage
		MODULES_DIR=$KDIR
		TEST_HMM_KO=$KDIR/lib/test_hmm.ko
		MODULE_DEST=extra
		;;
	debian-7.*)
		local distro=$PS_CACHE/distro-${1#debian-}
		if [ ! -d "$distro" ]; then
			SKIP_REASON="Debian's kernel: $(cat "$distro" 2>/dev/null || echo "no Debian chroot at $distro (make setup)")"
			return 3
		fi
		KVER=$(cat "$distro/.ps-kernel")
		KERNEL_IMAGE=$distro/boot/vmlinuz-$KVER
		MODULES_DIR=$distro/lib/modules/$KVER
		MODULE_DEST=updates/dkms
		MODULE_KO=$(ls "$MODULES_DIR/updates/dkms/pseudoscopic.ko"* 2>/dev/null | head -n 1)
		[ -n "$MODULE_KO" ] || die "no DKMS-built module in $MODULES_DIR/updates/dkms (tests/host/distro-install.sh)"
		INITRAMFS=$OUT/initramfs-$1.cpio
		;;
	*) die "unknown kernel '$1' (test, debug, test-7.2, debian-7.3 or debian-7.2)" ;;
	esac
}

# copy_module KO DIR: KO (decompressed if it is .ko.xz or .ko.zst: busybox loads plain files)
# into DIR.
copy_module() {
	local name
	name=$(basename "$1")
	mkdir -p "$2"
	case "$1" in
	*.ko.xz) xz -dc "$1" >"$2/${name%.xz}" ;;
	*.ko.zst) zstd -qdc "$1" >"$2/${name%.zst}" ;;
	*) cp "$1" "$2/" ;;
	esac
}

# Builds $INITRAMFS: busybox, the modules (with modules.dep for modprobe), the tools and the
# guest test scripts.
build_initramfs() {
	local stage=$OUT/initramfs
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc}
	cp /bin/busybox "$stage/bin/busybox"
	local applet
	for applet in $("$stage/bin/busybox" --list-full); do
		[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
	done
	local moddir=$stage/lib/modules/$KVER dep
	mkdir -p "$moddir"
	copy_module "$MODULE_KO" "$moddir/$MODULE_DEST"
	[ -n "$TEST_HMM_KO" ] && copy_module "$TEST_HMM_KO" "$moddir/kernel/lib"
	# The kernel's modules the module needs (a distribution kernel builds more as modules).
	for dep in $(/sbin/modinfo -F depends "$MODULE_KO" | tr ',' ' '); do
		dep=$(find "$MODULES_DIR/kernel" -name "$dep.ko*" 2>/dev/null | head -n 1)
		[ -n "$dep" ] && copy_module "$dep" "$moddir/kernel/deps"
	done
	cp "$MODULES_DIR/modules.order" "$MODULES_DIR/modules.builtin" "$MODULES_DIR/modules.builtin.modinfo" "$moddir/"
	/sbin/depmod -b "$stage" "$KVER"
	local tool
	for tool in "${TOOLS[@]}"; do
		[ -x "$TOOLS_BIN/$tool" ] || die "$tool is not built (run 'make tools')"
		cp "$TOOLS_BIN/$tool" "$stage/usr/bin/"
	done
	# The module `make install` built through DKMS (tests/host/dkms.sh), for the group dkms.
	local dkms_ko=$REPO/out/dkms/root/lib/modules/$KVER/updates/dkms/pseudoscopic.ko
	if [ -f "$dkms_ko" ]; then
		mkdir -p "$stage/dkms"
		cp "$dkms_ko" "$stage/dkms/"
	fi
	# The module with its KUnit suites (make modules-kunit, modules-7.2), for the groups that run
	# them: built against one of our test kernels, so only that kernel's guests get it.
	if [ -n "$KUNIT_KO" ] && [ -f "$KUNIT_KO" ] &&
		[ "$(/sbin/modinfo -F vermagic "$KUNIT_KO" | cut -d' ' -f1)" = "$KVER" ]; then
		mkdir -p "$stage/kunit"
		cp "$KUNIT_KO" "$stage/kunit/"
	fi
	cp -r "$REPO/tests/guest" "$stage/tests"
	install -m 0755 "$REPO/tests/guest/init" "$stage/init"
	(cd "$stage" && find . | cpio -o -H newc --quiet) >"$INITRAMFS"
}

# qemu_cmd CONSOLE_LOG RESULTS_LOG APPEND [extra QEMU args...]: prints nothing, sets QEMU_CMD.
qemu_cmd() {
	local console=$1 results=$2 append=$3
	shift 3
	QEMU_CMD=(qemu-system-x86_64 -accel tcg -cpu max -machine q35 -m "${PS_VM_MEMORY:-2G}" -smp 2
		-nographic -no-reboot -net none
		-kernel "${PS_KERNEL_IMAGE:-$KERNEL_IMAGE}" -initrd "$INITRAMFS"
		-append "console=ttyS0 earlyprintk=serial,ttyS0,115200 loglevel=4 log_buf_len=4M panic=-1 oops=panic $append"
		"$@")
	if [ -n "$console" ]; then
		QEMU_CMD+=(-monitor none -serial "file:$console" -serial "file:$results")
	else
		QEMU_CMD+=(-serial mon:stdio -serial null)
	fi
}

# One emulated VRAM device: ivshmem-plain whose BAR2 is backed by a memfd of SIZE (e.g. 256M).
ivshmem_args() {
	local id=$1 size=$2
	printf '%s\n' -object "memory-backend-memfd,id=$id,size=$size,share=on" -device "ivshmem-plain,memdev=$id"
}

# One emulated VRAM device whose memory is the file PATH on tmpfs, which the host can write while
# the guest runs (host-lib.sh ivshmem_scramble).
ivshmem_file_args() {
	local id=$1 size=$2 path=$3
	printf '%s\n' -object "memory-backend-file,id=$id,size=$size,mem-path=$path,share=on" \
		-device "ivshmem-plain,memdev=$id"
}

# ivshmem_file DIR N: the /dev/shm file of ivshmem-file device N of the group whose output is DIR
# (named after the checkout, as gpu_vram_file).
ivshmem_file() {
	echo "/dev/shm/pseudoscopic-$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)-$(basename "$1")-ivshmem$2"
}

# qemu_chroot_prefix: sets CHROOT_PREFIX, the command that runs what follows it in the trixie chroot,
# in a private mount namespace that sees /dev, /proc and $OUT at the same paths as the host.
qemu_chroot_prefix() {
	[ -x "$QEMU_CHROOT/usr/bin/qemu-system-x86_64" ] || die "no QEMU chroot at $QEMU_CHROOT (run 'make setup')"
	mkdir -p "$QEMU_CHROOT$OUT"
	CHROOT_PREFIX=(unshare -m --propagation private sh -ec '
		root=$1 out=$2
		shift 2
		mount --rbind /dev "$root/dev"
		mount -t proc proc "$root/proc"
		mount --bind "$out" "$root$out"
		exec chroot "$root" "$@"' sh "$QEMU_CHROOT" "$OUT")
}

# in_qemu_chroot CMD...: runs CMD (by exec, so its pid is the caller's child) in the chroot.
in_qemu_chroot() {
	qemu_chroot_prefix
	exec "${CHROOT_PREFIX[@]}" "$@"
}

# The QEMU arguments for guest RAM that vfio-user devices can reach (shared memfd), and for one
# emulated NVIDIA board served by gpu-model on SOCKET (gpu_args SOCKET [BUS]: on that bus).
shared_ram_args() {
	printf '%s\n' -object "memory-backend-memfd,id=ram,size=$1,share=on" -machine "q35,memory-backend=ram"
}
gpu_args() {
	local bus=
	[ -n "${2:-}" ] && bus=",\"bus\":\"$2\""
	# x-msg-timeout: how long QEMU waits for the model's reply (5 s by default). On a loaded host the
	# model can be starved longer than that, and a timed-out read then returns garbage to the guest
	# (every BAR1 access is a message with --bar1-emulated).
	printf '%s\n' -device "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"$1\"},\"x-msg-timeout\":60000$bus}"
}

# gpu_vram_file DIR N: the /dev/shm file holding board N's VRAM for the group whose output is DIR;
# named after the checkout too, so two checkouts can run the same group at once.
gpu_vram_file() {
	echo "/dev/shm/pseudoscopic-$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)-$(basename "$1")-gpu$2.vram"
}

# start_gpu_model DIR N BOARD VRAM_MIB [KNOB...]: serves board N on DIR/gpuN.sock, VRAM in
# /dev/shm, log in DIR/gpuN.log; waits until the socket is there. Sets GPU_MODEL_PIDS.
start_gpu_model() {
	local dir=$1 n=$2 board=$3 mib=$4
	shift 4
	[ -x "$GPU_MODEL" ] || die "gpu-model is not built (run 'make gpu-model')"
	local sock=$dir/gpu$n.sock vram
	vram=$(gpu_vram_file "$dir" "$n")
	rm -f "$sock"
	"$GPU_MODEL" serve --socket "$sock" --board "$board" --vram-file "$vram" --vram-mib "$mib" \
		--log "$dir/gpu$n.log" "$@" >"$dir/gpu$n.out" 2>&1 &
	GPU_MODEL_PIDS+=($!)
	local i
	for i in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 $! 2>/dev/null || break
		sleep 0.1
	done
	die "gpu-model for $board did not start: $(cat "$dir/gpu$n.out")"
}

stop_gpu_models() {
	local pid
	for pid in "${GPU_MODEL_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	GPU_MODEL_PIDS=()
}
