#!/usr/bin/env bash
# Builds vmo.ko against KDIR (default: the cached guest kernel).
# usage: tools/build-module.sh [KDIR=dir] [other kbuild variables...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kdir=""; vars=()
for a in "$@"; do case "$a" in KDIR=*) kdir=${a#KDIR=} ;; *) vars+=("$a") ;; esac; done
"$here/tools/bootstrap.sh"
. "$here/tools/env.sh"
[ -n "$kdir" ] || kdir=$("$here/tools/kernel.sh")
[ -f "$kdir/Module.symvers" ] || [ -f "$kdir/.config" ] || { echo "build-module: $kdir is not a built kernel tree" >&2; exit 1; }
grep -q '^CONFIG_RUST=y' "$kdir/.config" || { echo "build-module: $kdir has no CONFIG_RUST=y" >&2; exit 1; }
make -s -C "$kdir" M="$here" "${KMAKE_VARS[@]}" "${vars[@]}" modules
