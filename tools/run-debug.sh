#!/usr/bin/env bash
# The debug-kernel pass of `make test`: the guest tests again, on a kernel with
# KASAN, KFENCE, lockdep, UBSAN, kmemleak, DEBUG_LIST/PAGEALLOC/VM, SLUB debug
# and the lockup/hung-task detectors, with panic_on_warn. Any report fails it.
# Logs and counts in build/run-debug/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export VMO_FLAVOUR=debug VMO_BUILD_NAME=run-debug
# As an extra pass of `make test-all` the caller prints the summary line; alone
# (`make test-debug` sets VMO_SUMMARY=1) this pass prints its own.
[ "${VMO_SUMMARY:-0}" = 1 ] && unset VMO_NO_SUMMARY || export VMO_NO_SUMMARY=1
export GUEST_CMDLINE="panic_on_warn=1 ${GUEST_CMDLINE:-}"
export GUEST_TIMEOUT=${GUEST_TIMEOUT_DEBUG:-1500}
exec "$here/tools/run.sh" test
