#!/usr/bin/env bash
# Builds vmo.ko against KDIR (default: the cached guest kernel).
# usage: [ARCH=arm64] tools/build-module.sh [KDIR=dir] [other kbuild variables...]
# The x86-64 module is ./vmo.ko; another ARCH's or flavour's is in $(module_dir).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
kdir=""; vars=()
for a in "$@"; do case "$a" in KDIR=*) kdir=${a#KDIR=} ;; *) vars+=("$a") ;; esac; done
"$here/tools/bootstrap.sh"
. "$here/tools/env.sh"
[ -n "$kdir" ] || kdir=$("$here/tools/kernel.sh")
[ -f "$kdir/Module.symvers" ] || [ -f "$kdir/.config" ] || { echo "build-module: $kdir is not a built kernel tree" >&2; exit 1; }
grep -q '^CONFIG_RUST=y' "$kdir/.config" || { echo "build-module: $kdir has no CONFIG_RUST=y" >&2; exit 1; }
src=$(module_dir "$here")
if [ "$src" != "$here" ]; then
    # Another architecture or kernel flavour builds in a copy of the sources
    # (build/module-$ARCH[-$VMO_FLAVOUR]; vmo.ko ends there), so that its objects never
    # mix with those of the work tree and all can be built at once. rsync keeps the
    # mtimes: rebuilds stay incremental.
    copy_module_sources "$here" "$src"
fi
make -s -C "$kdir" M="$src" "${KMAKE_VARS[@]}" "${vars[@]}" modules
