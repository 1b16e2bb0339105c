#!/usr/bin/env bash
# Reads a guest run's logs and decides: tools/verdict.sh MODE BUILD_DIR QEMU_RC TIMEOUT
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/tools/env.sh"
exec python3 "$here/tools/verdict.py" --ksrc "$KSRC" "$@"
