#!/usr/bin/env bash
# The arm64 test pass of `make test`: the project's Linux 7.3 for ARCH=arm64
# (base.config + arm64.config, cached like the x86-64 kernel) under
# qemu-system-aarch64 -M virt -cpu max (TCG), with vmo.ko (KUnit suites included)
# built against it in build/module-arm64.
#
# One boot runs what the x86-64 pass runs: the module's KUnit suites at insmod,
# every guest test (vmo-guest-tests), then `vmoctl demo` and the ioctl fuzzer for
# ARM64_FUZZ_SECONDS (default 10) on this normal kernel. The guest programs are
# built for aarch64 in the trixie root (rustc 1.85.1 and Debian's
# libstd-rust-dev:arm64; tools/trixie.sh), static, with their cargo target
# directory in the cache. There is no arm64 debug (sanitizer) kernel: see README.
# 10 s of fuzzing (was 15) saves two busy cores for 5 s in `make test`; it still
# leaves the fuzzer's table-full episode in when the guest is not starved (it runs
# when filling 65,536 handles is projected to take at most a third of the time
# left, 3.3 s: measured 0.85-1.0 s alone, as make test runs it, 2.4-3.0 s beside
# another guest of make test; with other work on the machine as well it was once
# skipped, "about 3 s"). The long runs are the debug pass's 30 s and `make fuzz`.
# Logs and counts in build/run-arm64/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
unset VMO_FLAVOUR VMO_KERNEL
export ARCH=arm64 VMO_BUILD_NAME=run-arm64
[ "${VMO_SUMMARY:-0}" = 1 ] && unset VMO_NO_SUMMARY || export VMO_NO_SUMMARY=1
export VMO_TEST_DEMO=1 VMO_TEST_FUZZ=1 FUZZ_SECONDS=${ARM64_FUZZ_SECONDS:-10}
export VMO_VERDICT_LABEL="arm64 "
exec "$here/tools/run.sh" test
