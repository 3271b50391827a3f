# SPDX-License-Identifier: GPL-2.0
#
# pseudoscopic: out-of-tree build of pseudoscopic.ko, its tools and its tests.
#
#   make setup            install toolchain, Linux 7.3 source and the test kernel (root, cached, idempotent)
#   make                  build pseudoscopic.ko against KDIR
#   make run              boot the test kernel with emulated VRAM and show the module at work
#   make test             host checks (format, clippy, tools, README), DKMS, the VM test suite and the demo
#   make bench            pseudoscopic against test_hmm and zram in the VM; copy routines natively
#   make install          DKMS install (root): rebuilt for every kernel; modprobe.d softdep, udev rule
#   make uninstall        DKMS removal and those files
#   make KDIR=/path ...   build against another kernel tree with Rust enabled
#
# The kernel's Kbuild reads ./Kbuild when it descends here with M=.

PS_CACHE ?= /var/cache/pseudoscopic
export PS_CACHE

-include $(PS_CACHE)/env.mk

RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
# A running kernel's build tree is only usable when it carries the Rust artifacts (Debian's headers
# packages do not), otherwise the test kernel from `make setup` is the default.
TEST_KDIR := $(PS_CACHE)/test-kernel
ifneq ($(wildcard $(RUNNING_KDIR)/rust/libkernel.rmeta),)
KDIR ?= $(RUNNING_KDIR)
else
KDIR ?= $(TEST_KDIR)
endif

# Kernel Rust must be compiled by the exact rustc that built KDIR; for the test kernel that is
# Debian's rustc-web.  Override for other trees: make KDIR=... KRUSTC=...
KRUSTC ?= /usr/bin/rustc
KCLIPPY ?= /usr/bin/clippy-driver
KRUSTFMT ?= /usr/bin/rustfmt
KBUILD_ENV := PATH=/usr/bin:$(PATH) LIBCLANG_PATH=$(or $(PS_LIBCLANG_PATH),/usr/lib/llvm-19/lib)
KMAKE = $(KBUILD_ENV) $(MAKE) -C $(KDIR) M=$(CURDIR) CONFIG_PSEUDOSCOPIC=m RUSTC=$(KRUSTC) \
	$(if $(PS_BINDGEN),BINDGEN=$(PS_BINDGEN))

# The debug kernel (KASAN, kmemleak, fault injection) from `make setup`, compiled by clang, and the
# module built against it in out/debug-module/: a copy of the module's sources, since Kbuild
# refuses a separate output directory (MO=) for a source tree that holds the normal build.
DEBUG_KDIR ?= $(or $(PS_DEBUG_KDIR),$(PS_CACHE)/debug-kernel)
DEBUG_CC ?= $(or $(PS_DEBUG_CC),clang-19)
DEBUG_MO := $(CURDIR)/out/debug-module
KMAKE_DEBUG = $(KBUILD_ENV) $(MAKE) -C $(DEBUG_KDIR) M=$(DEBUG_MO) CC=$(DEBUG_CC) \
	CONFIG_PSEUDOSCOPIC=m RUSTC=$(KRUSTC) $(if $(PS_BINDGEN),BINDGEN=$(PS_BINDGEN))

# User-space tools: a Cargo workspace, built with the same Debian toolchain.
CARGO ?= /usr/bin/cargo
CARGO_ENV := PATH=/usr/bin:$(PATH) CARGO_HOME=$(PS_CACHE)/cargo-home CARGO_TARGET_DIR=$(CURDIR)/out/tools
TOOLS_STATIC := RUSTFLAGS="-C target-feature=+crt-static"

RUST_SOURCES := $(wildcard src/*.rs src/*/*.rs src/*/*/*.rs)

.PHONY: modules-debug
.PHONY: all modules setup check-kdir clean run shell test check fmt fmt-check clippy tools tools-check gpu-model gpu-model-check docs-check no-panics vm-test install uninstall bench copy-bench

all: modules

check-kdir:
	@test -f $(KDIR)/rust/libkernel.rmeta || { \
	  echo "pseudoscopic: KDIR=$(KDIR) is not a kernel build tree with Rust artifacts."; \
	  echo "pseudoscopic: run 'make setup' (test kernel) or pass KDIR=<tree built with CONFIG_RUST=y>."; \
	  exit 1; }

modules: check-kdir
	$(KMAKE) modules

setup:
	bash scripts/setup.sh

modules-debug:
	@test -f $(DEBUG_KDIR)/rust/libkernel.rmeta || { \
	  echo "pseudoscopic: no debug kernel at $(DEBUG_KDIR); run 'make setup'."; exit 1; }
	mkdir -p $(DEBUG_MO)
	rsync -a --delete --include='*/' --include='*.rs' --include='*.c' --include='*.h' --exclude='*' \
	  src rust include $(DEBUG_MO)/
	rsync -a Kbuild Kconfig $(DEBUG_MO)/
	$(KMAKE_DEBUG) modules

# Format of the module's Rust code, with the kernel's own rustfmt configuration.
fmt: check-kdir
	$(KRUSTFMT) --config-path $(KDIR)/source/.rustfmt.toml --edition 2021 src/pseudoscopic.rs
	cd tools && $(CARGO_ENV) $(CARGO) fmt
	cd bench/copy && $(CARGO_ENV) $(CARGO) fmt

fmt-check: check-kdir
	$(KRUSTFMT) --check --config-path $(KDIR)/source/.rustfmt.toml --edition 2021 src/pseudoscopic.rs

# The module built with CLIPPY=1: any warning from rustc, clippy or the C compiler fails.
clippy: check-kdir out
	rm -f src/*.o src/.*.cmd
	$(KMAKE) CLIPPY=1 CLIPPY_DRIVER=$(KCLIPPY) modules >out/clippy.log 2>&1; rc=$$?; cat out/clippy.log; \
	  test $$rc -eq 0 && ! grep -qE '^(warning|error)|: (warning|error):' out/clippy.log

tools:
	cd tools && $(CARGO_ENV) $(TOOLS_STATIC) $(CARGO) build --release --locked

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

check: out fmt-check clippy tools-check gpu-model-check docs-check no-panics

# No assert!/unwrap/expect (or other panics) in the module's code (tests/host/no-panics.sh).
no-panics:
	bash tests/host/no-panics.sh

# README.md against the tools' --help and the module's parameters (tests/host/docs.sh).
docs-check: clippy tools
	bash tests/host/docs.sh

out:
	mkdir -p out

# The VM boots the test kernel, so everything it loads is built against that tree.
# The group dkms loads what `make install` builds through DKMS: tests/host/dkms.sh builds it first.
vm-test:
	$(MAKE) modules tools gpu-model KDIR=$(TEST_KDIR)
	$(if $(filter dkms,$(or $(VM_GROUPS),dkms)),KDIR=$(TEST_KDIR) bash tests/host/dkms.sh)
	$(if $(wildcard $(DEBUG_KDIR)/rust/libkernel.rmeta),$(MAKE) modules-debug)
	bash tests/vm/run-tests.sh $(VM_GROUPS)

# The demo is part of the tests: it exits non-zero when its workload's data is wrong.
test: setup
	$(MAKE) check KDIR=$(TEST_KDIR)
	$(MAKE) vm-test
	bash tests/vm/run-demo.sh

run: setup
	$(MAKE) modules tools gpu-model KDIR=$(TEST_KDIR)
	bash tests/vm/run-demo.sh

# Benchmarks: pseudoscopic against test_hmm and zram swap in the VM, and the copy routines natively.
bench: setup
	$(MAKE) modules tools KDIR=$(TEST_KDIR)
	bash tests/vm/run-bench.sh
	$(MAKE) copy-bench

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

install:
	KVER=$(KVER) KDIR=$(INSTALL_KDIR) bash scripts/dkms.sh install

uninstall:
	bash scripts/dkms.sh uninstall

clean:
	-$(KMAKE) clean
	rm -rf out
