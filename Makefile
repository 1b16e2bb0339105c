# SPDX-License-Identifier: GPL-2.0
# Top-level targets. `make` builds vmo.ko against KDIR (default: the cached
# QEMU guest kernel, built on first use); `make run` and `make test` do all the
# set-up a fresh Debian 12 machine needs (tools/bootstrap.sh).
#
#   make          build vmo.ko against the cached QEMU guest kernel (built on first use)
#   make KDIR=<tree>   build vmo.ko against a prepared Rust-enabled kernel tree with
#                 nothing but Kbuild (for Debian 13: tools/stock-kernel.sh makes the
#                 tree /usr/src/linux-rust-$(uname -r)); CONFIG_VMO_KUNIT_TEST=y adds
#                 the KUnit suites (the kernel needs KUnit)
#   make install  install vmo.ko into /lib/modules/<release>/updates and run depmod
#                 (KDIR defaults to /usr/src/linux-rust-$(uname -r)); see dkms.conf
#   make run      boot the guest, load the module, show the VMO lifecycle
#   make test     host cargo tests, KUnit and the guest tests on the project's
#                 x86-64 kernel, the guest tests, demo and DKMS on Debian 13's stock
#                 kernel, KUnit, guest tests, demo and a short fuzz on arm64; one
#                 summary line
#   make test-debug   the guest tests, KUnit and a 30 s fuzz on the debug
#                 (sanitizer) kernel; .ci/run runs it before `make test`
#   make test-all all the passes with one summary line
#   make test-arm64   the arm64 pass alone (KUnit, guest tests, demo, a short fuzz)
#   make test-stock   Debian 13's stock 7.3.4 kernel: the module built with its
#                 rustc 1.85.1 against its headers, the guest tests and the demo, DKMS
#   make bench    VMO ops against native Linux in the guest (build/bench/)
#   make fuzz     the ioctl fuzzer on the debug kernel (FUZZ_SECONDS, FUZZ_SEED)
#   make check    rustfmt (the kernel's .rustfmt.toml) and W=e CLIPPY=1 of the module,
#                 cargo fmt and clippy of the userspace workspace

SHELL := /bin/bash
export VMO_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vmo-rs

# The passes of `make test`: run.sh (the x86-64 pass) and scripts in tools/ that
# leave build/<script>/counts.json. tools/run-passes.sh runs them VMO_TEST_JOBS
# (default 2) at a time, started in this order: the x86-64 and stock passes side
# by side, then the arm64 pass, whose fuzzer (two busy vCPUs) then mostly runs
# alone. Beside another guest the fuzzer made 4,400 calls/s instead of 23,000
# (vCPU threads preempted on two cores), and this order measured 78 s against
# 92 s for arm64 first (back to back, quiet machine).
TEST_PASSES ?= run.sh run-stock.sh run-arm64.sh

.PHONY: all modules install run test test-all test-debug test-stock test-arm64 bench fuzz check clean kernel
all: modules

kernel:
	@tools/kernel.sh >/dev/null

KBUILD_VARS = $(if $(W),W=$(W)) $(if $(CLIPPY),CLIPPY=$(CLIPPY)) \
	$(if $(CONFIG_VMO_KUNIT_TEST),CONFIG_VMO_KUNIT_TEST=$(CONFIG_VMO_KUNIT_TEST))
modules:
ifneq ($(KDIR),)
	@test -f $(KDIR)/rust/libkernel.rmeta || { echo "vmo: $(KDIR) has no Rust artifacts" \
	  "(rust/libkernel.rmeta); for a Debian kernel run tools/stock-kernel.sh first" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KBUILD_VARS) modules
else
	@tools/build-module.sh $(KBUILD_VARS)
endif

INSTALL_KDIR = $(or $(KDIR),/usr/src/linux-rust-$(shell uname -r))
# modules_install without signing (a distribution's signing key is not on the
# machine; DKMS signs with its own MOK key) and without its depmod (a headers
# tree has no System.map): depmod runs for the tree's release afterwards.
install:
	$(MAKE) KDIR=$(INSTALL_KDIR) modules
	$(MAKE) -C $(INSTALL_KDIR) M=$(CURDIR) CONFIG_MODULE_SIG_ALL= modules_install
	depmod -a $$(cat $(INSTALL_KDIR)/include/config/kernel.release)

run:
	@tools/run.sh run

test:
	@tools/run-passes.sh $(TEST_PASSES)

test-stock:
	@VMO_SUMMARY=1 tools/run-stock.sh

test-arm64:
	@VMO_SUMMARY=1 tools/run-arm64.sh

test-debug:
	@VMO_SUMMARY=1 tools/run-debug.sh

# One pass at a time unless VMO_TEST_JOBS says otherwise: the debug guest's lockup
# and stall detectors have not been tried beside another guest.
test-all:
	@VMO_TEST_JOBS=$${VMO_TEST_JOBS:-1} tools/run-passes.sh run-debug.sh $(TEST_PASSES)

bench:
	@tools/run.sh bench

# The ioctl fuzzer on the debug kernel: make fuzz [FUZZ_SECONDS=300] [FUZZ_SEED=S]
fuzz:
	@VMO_FLAVOUR=debug VMO_BUILD_NAME=fuzz GUEST_CMDLINE=panic_on_warn=1 \
	 FUZZ_SECONDS=$${FUZZ_SECONDS:-300} GUEST_TIMEOUT=$$(( $${FUZZ_SECONDS:-300} + 900 )) tools/run.sh fuzz

check:
	@tools/build-module.sh W=e CLIPPY=1
	@tools/build-module.sh W=e CLIPPY=1 CONFIG_VMO_KUNIT_TEST=y
	@. tools/env.sh && rustfmt --edition 2021 --config-path "$$KSRC/.rustfmt.toml" --check rust/vmo_main.rs
	@cd tools && cargo fmt --all --check && cargo clippy --workspace --all-targets -- -D warnings

clean:
	@kdir=$$(ls -d $(VMO_CACHE)/kernel/*/ 2>/dev/null | head -n1); \
	 [ -z "$$kdir" ] || $(MAKE) -s -C $$kdir M=$(CURDIR) clean
	rm -rf build
