# SPDX-License-Identifier: GPL-2.0
# Top-level targets. `make` builds vmo.ko against KDIR (default: the cached
# QEMU guest kernel, built on first use); `make run` and `make test` do all the
# set-up a fresh Debian 12 machine needs (tools/bootstrap.sh).
#
#   make [KDIR=<built Rust-enabled kernel tree>]   build vmo.ko
#   make run      boot the guest, load the module, show the VMO lifecycle
#   make test     every test: host cargo tests, KUnit in the guest, guest tests
#   make bench    VMO ops against native Linux in the guest (build/bench/)
#   make check    rustfmt/clippy of the module and the userspace workspace

SHELL := /bin/bash
export VMO_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vmo-rs

.PHONY: all modules run test bench check clean kernel
all: modules

kernel:
	@tools/kernel.sh >/dev/null

modules:
	@tools/build-module.sh $(if $(KDIR),KDIR=$(KDIR)) $(if $(W),W=$(W)) $(if $(CLIPPY),CLIPPY=$(CLIPPY))

run:
	@tools/run.sh run

test:
	@tools/run.sh test

bench:
	@tools/run.sh bench

check:
	@tools/build-module.sh W=e CLIPPY=1
	@cd tools && cargo fmt --all --check && cargo clippy --workspace --all-targets -- -D warnings

clean:
	@kdir=$$(ls -d $(VMO_CACHE)/kernel/*/ 2>/dev/null | head -n1); \
	 [ -z "$$kdir" ] || $(MAKE) -s -C $$kdir M=$(CURDIR) clean
	rm -rf build
