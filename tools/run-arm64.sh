#!/usr/bin/env bash
# The arm64 test pass of `make test`: the project's Linux 7.3 for ARCH=arm64
# (base.config + arm64.config, cached like the x86-64 kernel) under
# qemu-system-aarch64 -M virt -cpu max (TCG), with vmo.ko (KUnit suites included)
# built against it in build/module-arm64.
#
# One boot runs what the x86-64 pass runs: the module's KUnit suites at insmod,
# every guest test (vmo-guest-tests), then `vmoctl demo` and the ioctl fuzzer for
# ARM64_FUZZ_SECONDS (default 15) on this normal kernel. The guest programs are
# built for aarch64 in the trixie root (rustc 1.85.1 and Debian's
# libstd-rust-dev:arm64; tools/trixie.sh), static, with their cargo target
# directory in the cache. There is no arm64 debug (sanitizer) kernel: see README.
# Logs and counts in build/run-arm64/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
unset VMO_FLAVOUR VMO_KERNEL
export ARCH=arm64 VMO_BUILD_NAME=run-arm64
[ "${VMO_SUMMARY:-0}" = 1 ] && unset VMO_NO_SUMMARY || export VMO_NO_SUMMARY=1
export VMO_TEST_DEMO=1 VMO_TEST_FUZZ=1 FUZZ_SECONDS=${ARM64_FUZZ_SECONDS:-15}
export VMO_VERDICT_LABEL="arm64 "
exec "$here/tools/run.sh" test
