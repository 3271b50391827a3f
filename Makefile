# SPDX-License-Identifier: GPL-2.0
#
# pseudoscopic: out-of-tree build of pseudoscopic.ko, its tools and its tests.
#
#   make setup            install toolchain, Linux 7.3 source, test and debug kernels, QEMU chroot (root,
#                         cached, idempotent); `make run` prepares only what the demo needs
#   make                  build pseudoscopic.ko against KDIR
#   make KUNIT_TESTS=1    the same with the KUnit suites of its pure logic built in (they run at
#                         load on a kernel with CONFIG_KUNIT; a production module leaves them out)
#   make run              boot the test kernel with emulated VRAM and show the module at work
#   make test             host checks (format, clippy, tools, README), DKMS, the VM test suite and the demo
#   make bench            pseudoscopic against test_hmm and zram, and ps-tierd against swap, in the VM; copy routines natively
#   make install          DKMS install (root): rebuilt for every kernel; modprobe.d softdep, udev rule,
#                         the tools in /usr/local/bin with their man pages and bash, zsh and fish
#                         completions in /usr/local/share (PREFIX=...), ps-tierd's systemd unit, enabled
#   make uninstall        DKMS removal, those files, the tools, their man pages and completions and
#                         the unit
#   make install-tools    only the tools, man pages and completions (PREFIX=..., no root needed
#                         for a PREFIX of one's own); make uninstall-tools removes them
#   make KDIR=/path ...   build against another kernel tree with Rust enabled
#
# The kernel's Kbuild reads ./Kbuild when it descends here with M=.

PS_CACHE ?= /var/cache/pseudoscopic
export PS_CACHE

-include $(PS_CACHE)/env.mk

RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
# The running kernel's build tree when it is a Rust kernel's (with its Rust artifacts, or without
# them as in Debian's headers packages: scripts/kernel-rust.sh provides them), otherwise the test
# kernel from `make setup`.
TEST_KDIR := $(PS_CACHE)/test-kernel
ifneq ($(shell grep -s '^CONFIG_RUST=y' $(RUNNING_KDIR)/.config),)
KDIR ?= $(RUNNING_KDIR)
else
KDIR ?= $(TEST_KDIR)
endif

# Kernel Rust must be compiled by the exact rustc that built KDIR: by default the one its .config
# names, where it is installed (Debian's rustc-web for the test kernel, Ubuntu's versioned
# rustc-1.9x for its kernels), else /usr/bin/rustc.  Override: make KDIR=... KRUSTC=...
ifeq ($(origin KRUSTC),undefined)
KRUSTC := $(or $(shell bash scripts/kernel-rust.sh --rustc $(KDIR) 2>/dev/null),/usr/bin/rustc)
endif
KCLIPPY ?= /usr/bin/clippy-driver
KRUSTFMT ?= /usr/bin/rustfmt
KBUILD_ENV := PATH=/usr/bin:$(PATH) LIBCLANG_PATH=$(or $(PS_LIBCLANG_PATH),/usr/lib/llvm-19/lib)
# KUNIT_TESTS=1: the module with its KUnit suites (Kbuild's CONFIG_PSEUDOSCOPIC_KUNIT_TEST, the
# Kconfig option of an in-tree build). Off by default: KUnit runs a module's suites whenever it
# loads on a kernel with KUnit enabled, and a production module has no business doing that.
KUNIT_TESTS ?= 0
KUNIT_FLAG = $(if $(filter 1,$(KUNIT_TESTS)),CONFIG_PSEUDOSCOPIC_KUNIT_TEST=y)
KMAKE = $(KBUILD_ENV) $(MAKE) -C $(KDIR) M=$(CURDIR) CONFIG_PSEUDOSCOPIC=m RUSTC=$(KRUSTC) \
	$(if $(PS_BINDGEN),BINDGEN=$(PS_BINDGEN)) $(if $(KCC),CC=$(KCC)) $(KUNIT_FLAG)

# A tree without Rust artifacts (a distribution's headers): scripts/kernel-rust.sh finds the rustc
# and bindgen that built the kernel, rebuilds the kernel's rust/ from its source into a cache (once)
# and prints the variables (KDIR, KRUSTC, PS_BINDGEN, KCC) to build against that instead.
HAS_RUST_ARTIFACTS = $(wildcard $(KDIR)/rust/libkernel.rmeta)
# $(call against_kdir,TARGET): make TARGET here, against KDIR or the tree kernel-rust.sh prepared.
against_kdir = vars=$$(KRUSTC=$(KRUSTC) bash scripts/kernel-rust.sh $(KDIR)) && $(MAKE) --no-print-directory $(1) $$vars

# The debug kernel (KASAN, kmemleak, fault injection) from `make setup`, compiled by clang, and the
# module built against it in out/debug-module/: a copy of the module's sources, since Kbuild
# refuses a separate output directory (MO=) for a source tree that holds the normal build.
DEBUG_KDIR ?= $(or $(PS_DEBUG_KDIR),$(PS_CACHE)/debug-kernel)
DEBUG_CC ?= $(or $(PS_DEBUG_CC),clang-19)
DEBUG_MO := $(CURDIR)/out/debug-module
KMAKE_DEBUG = $(KBUILD_ENV) $(MAKE) -C $(DEBUG_KDIR) M=$(DEBUG_MO) CC=$(DEBUG_CC) \
	CONFIG_PSEUDOSCOPIC=m RUSTC=$(KRUSTC) $(if $(PS_BINDGEN),BINDGEN=$(PS_BINDGEN))

# The module with its KUnit suites, built against the test kernel (CONFIG_KUNIT=y) in
# out/kunit-module/ (a copy of the sources, as for the debug module) for the VM group kunit,
# which loads it and counts every case.
KUNIT_MO := $(CURDIR)/out/kunit-module
KMAKE_KUNIT = $(KBUILD_ENV) $(MAKE) -C $(TEST_KDIR) M=$(KUNIT_MO) CONFIG_PSEUDOSCOPIC=m \
	CONFIG_PSEUDOSCOPIC_KUNIT_TEST=y RUSTC=$(KRUSTC) $(if $(PS_BINDGEN),BINDGEN=$(PS_BINDGEN)) \
	$(if $(KUNIT_CLIPPY),CLIPPY=1 CLIPPY_DRIVER=$(KCLIPPY))

# Our Linux 7.2 test kernel (`make setup`, part kernel-7.2), and the module built against it in
# out/module-7.2/ and, with its KUnit suites, in out/kunit-module-7.2/ (copies of the sources, as
# for the debug module), for the VM groups with "# vm: kernel test-7.2".
KDIR_7_2 := $(PS_CACHE)/test-kernel-7.2
MO_7_2 := $(CURDIR)/out/module-7.2
KUNIT_MO_7_2 := $(CURDIR)/out/kunit-module-7.2
KMAKE_7_2 = $(KBUILD_ENV) $(MAKE) -C $(KDIR_7_2) CONFIG_PSEUDOSCOPIC=m RUSTC=$(KRUSTC) \
	$(if $(PS_BINDGEN),BINDGEN=$(PS_BINDGEN))

# User-space tools: a Cargo workspace, built with the same Debian toolchain.
CARGO ?= /usr/bin/cargo
CARGO_ENV := PATH=/usr/bin:$(PATH) CARGO_HOME=$(PS_CACHE)/cargo-home CARGO_TARGET_DIR=$(CURDIR)/out/tools
# Static binaries for the busybox guest. With an explicit --target, RUSTFLAGS reach only what runs
# there, not the host's proc-macros (clap, serde), which cannot be linked statically; the binaries
# are then copied to out/tools/release/, where everything else looks for them.
TOOLS_STATIC := RUSTFLAGS="-C target-feature=+crt-static"
TOOLS_TARGET := $(shell /usr/bin/rustc -vV 2>/dev/null | sed -n 's/^host: //p')

RUST_SOURCES := $(wildcard src/*.rs src/*/*.rs src/*/*/*.rs)

.PHONY: modules-debug modules-kunit modules-7.2 clippy-kunit
.PHONY: all modules setup setup-demo check-kdir clean run shell test check fmt fmt-check clippy tools tools-check tools-install-check gpu-model gpu-model-check docs-check abi abi-check items items-check layers-check shim-check unit-check no-panics probe-line-check vm-test install uninstall install-tools uninstall-tools bench bench-check copy-bench

all: modules

check-kdir:
	@test -f $(KDIR)/rust/libkernel.rmeta || test -f $(KDIR)/.config || { \
	  echo "pseudoscopic: KDIR=$(KDIR) is not a kernel build tree."; \
	  echo "pseudoscopic: install the kernel's headers, run 'make setup' (test kernel) or pass KDIR=<tree built with CONFIG_RUST=y>."; \
	  exit 1; }

modules: check-kdir
ifneq ($(HAS_RUST_ARTIFACTS),)
	$(KMAKE) modules
else
	@$(call against_kdir,modules)
endif

# scripts/setup.sh in parts: `make test` needs all of them, the demo (and the benchmark) only the
# test kernel and the QEMU chroot, so a first `make run` never waits for the debug kernel.
setup:
	bash scripts/setup.sh all

setup-demo:
	bash scripts/setup.sh kernel chroot

# $(call module_copy,DIR): the module's sources copied into DIR, to build there.
module_copy = mkdir -p $(1) && \
	rsync -a --delete --include='*/' --include='*.rs' --include='*.c' --include='*.h' --exclude='*' \
	  src rust include $(1)/ && \
	rsync -a Kbuild Kconfig $(1)/

modules-debug:
	@test -f $(DEBUG_KDIR)/rust/libkernel.rmeta || { \
	  echo "pseudoscopic: no debug kernel at $(DEBUG_KDIR); run 'make setup'."; exit 1; }
	$(call module_copy,$(DEBUG_MO))
	$(KMAKE_DEBUG) modules

modules-7.2:
	@test -f $(KDIR_7_2)/rust/libkernel.rmeta || { \
	  echo "pseudoscopic: no Linux 7.2 test kernel at $(KDIR_7_2); run 'make setup'."; exit 1; }
	$(call module_copy,$(MO_7_2))
	$(KMAKE_7_2) M=$(MO_7_2) modules
	$(call module_copy,$(KUNIT_MO_7_2))
	$(KMAKE_7_2) M=$(KUNIT_MO_7_2) CONFIG_PSEUDOSCOPIC_KUNIT_TEST=y modules

modules-kunit:
	@grep -q '^CONFIG_KUNIT=y' $(TEST_KDIR)/.config || { \
	  echo "pseudoscopic: the test kernel at $(TEST_KDIR) has no CONFIG_KUNIT; run 'make setup'."; exit 1; }
	$(call module_copy,$(KUNIT_MO))
	$(KMAKE_KUNIT) modules

# Format of the module's Rust code, with the kernel's own rustfmt configuration.
# The kernel's import style (Documentation/rust/coding-guidelines.rst): one item per line, the last
# of a group marked `//`, so that the kernel's own rustfmt configuration keeps the layout.
KRUSTFMT_ARGS = --config-path $(KDIR)/source/.rustfmt.toml --edition 2021
KRUSTFMT_VERTICAL = --config imports_layout=Vertical
MODULE_RS = $(shell find src -name '*.rs' ! -path src/uapi/bindings.rs ! -path src/stats/items.rs | sort)

fmt: check-kdir
	$(KRUSTFMT) $(KRUSTFMT_ARGS) $(KRUSTFMT_VERTICAL) src/pseudoscopic.rs
	python3 scripts/import-markers.py $(MODULE_RS)
	$(KRUSTFMT) $(KRUSTFMT_ARGS) src/pseudoscopic.rs
	cd tools && $(CARGO_ENV) $(CARGO) fmt
	cd bench/copy && $(CARGO_ENV) $(CARGO) fmt

fmt-check: check-kdir
	$(KRUSTFMT) --check $(KRUSTFMT_ARGS) src/pseudoscopic.rs
	$(KRUSTFMT) --check $(KRUSTFMT_ARGS) $(KRUSTFMT_VERTICAL) src/pseudoscopic.rs

# The module built with CLIPPY=1: any warning from rustc, clippy or the C compiler fails.
clippy: check-kdir out
ifneq ($(HAS_RUST_ARTIFACTS),)
	rm -f src/*.o src/.*.cmd
	$(KMAKE) CLIPPY=1 CLIPPY_DRIVER=$(KCLIPPY) modules >out/clippy.log 2>&1; rc=$$?; cat out/clippy.log; \
	  test $$rc -eq 0 && ! grep -qE '^(warning|error)|: (warning|error):' out/clippy.log
else
	@$(call against_kdir,clippy)
endif

# The KUnit suites under CLIPPY=1 as well (in out/kunit-module/, against the test kernel).
clippy-kunit: out
	$(MAKE) --no-print-directory modules-kunit KUNIT_CLIPPY=1 >out/clippy-kunit.log 2>&1; rc=$$?; \
	  cat out/clippy-kunit.log; \
	  test $$rc -eq 0 && ! grep -qE '^(warning|error)|: (warning|error):' out/clippy-kunit.log

tools:
	cd tools && $(CARGO_ENV) $(TOOLS_STATIC) $(CARGO) build --release --locked --target $(TOOLS_TARGET)
	mkdir -p out/tools/release
	cp $$(find out/tools/$(TOOLS_TARGET)/release -maxdepth 1 -type f -perm -u+x -name 'ps-*') out/tools/release/
	bash scripts/tools-install.sh generate

tools-check:
	cd tools && $(CARGO_ENV) $(CARGO) fmt --check
	cd tools && $(CARGO_ENV) $(CARGO) clippy --locked --all-targets -- -D warnings
	cd tools && $(CARGO_ENV) $(CARGO) test --locked
	cd bench/copy && $(CARGO_ENV) CARGO_TARGET_DIR=$(CURDIR)/out/copy-bench $(CARGO) fmt --check
	cd bench/copy && $(CARGO_ENV) CARGO_TARGET_DIR=$(CURDIR)/out/copy-bench $(CARGO) clippy --locked -- -D warnings

# The emulated NVIDIA boards the VM tests run (tests/gpu-model), a Cargo project of its own.
GPU_MODEL_ENV := PATH=/usr/bin:$(PATH) CARGO_HOME=$(PS_CACHE)/cargo-home CARGO_TARGET_DIR=$(CURDIR)/out/gpu-model

gpu-model:
	cd tests/gpu-model && $(GPU_MODEL_ENV) $(CARGO) build --release --locked

gpu-model-check:
	cd tests/gpu-model && $(GPU_MODEL_ENV) $(CARGO) fmt --check
	cd tests/gpu-model && $(GPU_MODEL_ENV) $(CARGO) clippy --locked --all-targets -- -D warnings
	cd tests/gpu-model && $(GPU_MODEL_ENV) $(CARGO) test --locked

check: out fmt-check clippy clippy-kunit tools-check gpu-model-check docs-check tools-install-check abi-check items-check layers-check shim-check unit-check no-panics probe-line-check bench-check

# The ioctl ABI's Rust mirror (src/uapi/bindings.rs, used by the module and the tools) is generated
# from include/uapi/linux/pseudoscopic.h: `make abi` rewrites it, `make check` fails on any drift.
ABI_ENV = RUSTFMT_CONFIG=$(KDIR)/source/.rustfmt.toml $(if $(PS_BINDGEN),BINDGEN=$(PS_BINDGEN))

abi: check-kdir
	$(ABI_ENV) bash scripts/gen-abi.sh

abi-check: check-kdir
	$(ABI_ENV) bash tests/host/abi.sh

# The sysfs items (counters, pool sizes, a GPU's index) have one list, rust/ps_items.h, from which
# the C shim builds the sysfs files; their Rust side (src/stats/items.rs, used by the module and the
# tools) is generated from it: `make items` rewrites it, `make check` fails on any drift, also of
# README.md's list of the files (tests/host/items.sh).
ITEMS_ENV = RUSTFMT_CONFIG=$(KDIR)/source/.rustfmt.toml

items: check-kdir
	$(ITEMS_ENV) bash scripts/gen-items.sh

items-check: check-kdir
	$(ITEMS_ENV) bash tests/host/items.sh

# ps-tierd's systemd unit (packaging/ps-tierd.service) as systemd-analyze verify sees it.
unit-check: tools
	bash tests/host/unit.sh

# The module's layers: src/ imports only downward, as ARCHITECTURE.md lists (tests/host/layers.sh).
layers-check:
	bash tests/host/layers.sh

# The C files of rust/ and their declarations in src/shim.rs agree (tests/host/shim.sh).
shim-check:
	bash tests/host/shim.sh

# No assert!/unwrap/expect (or other panics) in the module's code (tests/host/no-panics.sh).
no-panics:
	bash tests/host/no-panics.sh

# The VM tests' probe-line parser against README.md's probe lines and altered ones, under the
# guest's shell and bash (tests/host/probe-line.sh).
probe-line-check:
	busybox sh tests/host/probe-line.sh
	bash tests/host/probe-line.sh

# The tools, their man pages and completions installed into a scratch root and removed again
# (tests/host/tools-install.sh).
tools-install-check: tools
	bash tests/host/tools-install.sh

# README.md against the tools' --help and the module's parameters (tests/host/docs.sh).
docs-check: clippy tools
	bash tests/host/docs.sh

out:
	mkdir -p out

# The VM boots the test kernel, so everything it loads is built against that tree.
# The group dkms loads what `make install` builds through DKMS: tests/host/dkms.sh builds it first.
# The groups debian-SERIES* boot Debian's own kernel of SERIES with the module `make install` built
# in the Debian chroot of `make setup`: tests/host/distro-install.sh runs that install first, for
# the series of the groups asked for (every series when no group is named).
DISTRO_SERIES = $(sort $(foreach g,$(filter debian-%,$(VM_GROUPS)),$(word 2,$(subst -, ,$(g)))))
# What the groups asked for need before their guests boot: each kernel's module, the DKMS installs.
vm-test: VM_KERNELS = $(shell bash tests/vm/list-groups.sh kernels $(VM_GROUPS))
vm-test:
	$(MAKE) modules tools gpu-model KDIR=$(TEST_KDIR)
	$(if $(filter kunit,$(or $(VM_GROUPS),kunit)),$(MAKE) modules-kunit)
	$(if $(filter dkms,$(or $(VM_GROUPS),dkms)),KDIR=$(TEST_KDIR) bash tests/host/dkms.sh)
	$(if $(filter debian-%,$(VM_KERNELS)),bash tests/host/distro-install.sh $(DISTRO_SERIES))
	$(if $(filter debug,$(VM_KERNELS)),$(if $(wildcard $(DEBUG_KDIR)/rust/libkernel.rmeta),$(MAKE) modules-debug))
	$(if $(filter test-7.2,$(VM_KERNELS)),$(if $(wildcard $(KDIR_7_2)/rust/libkernel.rmeta),$(MAKE) modules-7.2))
	bash tests/vm/run-tests.sh $(VM_GROUPS)

# Everything: setup, host checks, every VM group, the demo (tests/run-all.sh; the test-only parts
# of setup build beside the rest). The demo is part of the tests: it exits non-zero
# when its workload's data is wrong.
test:
	bash tests/run-all.sh

run: setup-demo
	$(MAKE) modules tools gpu-model KDIR=$(TEST_KDIR)
	bash tests/vm/run-demo.sh

# Benchmarks: pseudoscopic against test_hmm and zram swap, and ps-tierd against swap, in the VM; the copy routines natively.
bench: setup-demo
	$(MAKE) modules tools gpu-model KDIR=$(TEST_KDIR)
	bash tests/vm/run-bench.sh
	$(MAKE) copy-bench

# `make bench` builds the gpu-model it measures with, and names a part it cannot run (tests/host/bench.sh).
bench-check: check-kdir
	bash tests/host/bench.sh

copy-bench:
	cd bench/copy && $(CARGO_ENV) CARGO_TARGET_DIR=$(CURDIR)/out/copy-bench $(CARGO) run --release --locked -- $(CURDIR)/out/bench/copy.json

shell:
	$(MAKE) modules tools gpu-model KDIR=$(TEST_KDIR)
	bash tests/vm/run-demo.sh --shell

# DKMS (scripts/dkms.sh): sources to /usr/src, dkms add/build/install for the running kernel (or
# KVER=..., KDIR=...), the modprobe.d softdep, the udev rule and the pseudoscopic group. KDIR goes
# to DKMS only when given; DKMS's default is /lib/modules/KVER/build.
KVER ?= $(shell uname -r)
INSTALL_KDIR = $(if $(filter command line environment,$(origin KDIR)),$(KDIR))

install: tools
	KVER=$(KVER) KDIR=$(INSTALL_KDIR) bash scripts/dkms.sh install

uninstall:
	bash scripts/dkms.sh uninstall

install-tools: tools
	bash scripts/tools-install.sh install

uninstall-tools:
	bash scripts/tools-install.sh uninstall

clean:
	-$(KMAKE) clean
	rm -rf out
