# SPDX-License-Identifier: GPL-2.0
# Top-level targets. `make` builds vmo.ko against KDIR (default: the cached
# QEMU guest kernel, built on first use); `make run` and `make test` do all the
# set-up a fresh Debian 12 machine needs (tools/bootstrap.sh).
#
#   make [KDIR=<built Rust-enabled kernel tree>]   build vmo.ko
#   make run      boot the guest, load the module, show the VMO lifecycle
#   make test     host cargo tests, KUnit and the guest tests on the normal
#                 x86-64 kernel, and KUnit on arm64; one summary line
#   make test-debug   the guest tests, KUnit and a 30 s fuzz on the debug
#                 (sanitizer) kernel; .ci/run runs it before `make test`
#   make test-all all three passes with one summary line
#   make bench    VMO ops against native Linux in the guest (build/bench/)
#   make fuzz     the ioctl fuzzer on the debug kernel (FUZZ_SECONDS, FUZZ_SEED)
#   make check    rustfmt (the kernel's .rustfmt.toml) and W=e CLIPPY=1 of the module,
#                 cargo fmt and clippy of the userspace workspace

SHELL := /bin/bash
export VMO_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vmo-rs

# The extra passes of `make test`, each a script in tools/ that leaves
# build/<script>/counts.json.
TEST_PASSES ?= run-arm64.sh

.PHONY: all modules run test test-all test-debug bench fuzz check clean kernel
all: modules

kernel:
	@tools/kernel.sh >/dev/null

modules:
	@tools/build-module.sh $(if $(KDIR),KDIR=$(KDIR)) $(if $(W),W=$(W)) $(if $(CLIPPY),CLIPPY=$(CLIPPY))

run:
	@tools/run.sh run

test:
	@VMO_EXTRA_TESTS="$(TEST_PASSES)" tools/run.sh test

test-debug:
	@VMO_FLAVOUR=debug VMO_BUILD_NAME=run-debug GUEST_CMDLINE=panic_on_warn=1 \
	 GUEST_TIMEOUT=$${GUEST_TIMEOUT_DEBUG:-1500} tools/run.sh test

test-all:
	@VMO_EXTRA_TESTS="run-debug.sh $(TEST_PASSES)" tools/run.sh test

bench:
	@tools/run.sh bench

# The ioctl fuzzer on the debug kernel: make fuzz [FUZZ_SECONDS=300] [FUZZ_SEED=S]
fuzz:
	@VMO_FLAVOUR=debug VMO_BUILD_NAME=fuzz GUEST_CMDLINE=panic_on_warn=1 \
	 FUZZ_SECONDS=$${FUZZ_SECONDS:-300} GUEST_TIMEOUT=$$(( $${FUZZ_SECONDS:-300} + 900 )) tools/run.sh fuzz

check:
	@tools/build-module.sh W=e CLIPPY=1
	@. tools/env.sh && rustfmt --edition 2021 --config-path "$$KSRC/.rustfmt.toml" --check rust/vmo_main.rs
	@cd tools && cargo fmt --all --check && cargo clippy --workspace --all-targets -- -D warnings

clean:
	@kdir=$$(ls -d $(VMO_CACHE)/kernel/*/ 2>/dev/null | head -n1); \
	 [ -z "$$kdir" ] || $(MAKE) -s -C $$kdir M=$(CURDIR) clean
	rm -rf build
