#!/usr/bin/env bash
# Builds (once) the guest kernel and prints the path of its build tree.
#
# The tree lives in $VMO_CACHE/kernel/<key>, where <key> hashes the kernel
# version, the config fragments and `rustc --version`: a clean clone on the
# same machine reuses it, and a changed fragment builds a new one.
#
# usage: tools/kernel.sh [FRAGMENT...]   (default: tests/kconfig/base.config)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmo-rs}
"$here/tools/bootstrap.sh"
# shellcheck source=tools/env.sh
. "$here/tools/env.sh"

frags=("$@")
[ ${#frags[@]} -gt 0 ] || frags=("$here/tests/kconfig/base.config")
key=$( { echo "$KERNELVERSION"; rustc --version; echo "${ARCH:-x86_64}"; cat "${frags[@]}"; } | sha256sum | cut -c1-16)
out=$CACHE/kernel/$key
if [ -f "$out/.built" ]; then echo "$out"; exit 0; fi
# One build per tree at a time: a second caller waits for the first.
mkdir -p "$CACHE/kernel"
exec 9>"$CACHE/kernel/$key.lock"
flock 9
if [ -f "$out/.built" ]; then echo "$out"; exit 0; fi

log=$CACHE/kernel/$key.log
mkdir -p "$out"   # an interrupted build simply continues
echo "kernel: building Linux $KERNELVERSION into $out (log: $log; about 4 minutes)" >&2
start=$(date +%s)
{
    kmake() { make -C "$KSRC" O="$out" "${KMAKE_VARS[@]}" "$@"; }
    kmake tinyconfig
    "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}"
    kmake olddefconfig
} >"$log" 2>&1 || { tail -n 30 "$log" >&2; echo "kernel: configuration failed (see $log)" >&2; exit 1; }

# Every option asked for must have stuck: a silently dropped CONFIG_RUST=y
# (a missing dependency) would otherwise show up much later as a strange error.
missing=$(grep -hE '^CONFIG_[A-Z0-9_]+=' "${frags[@]}" | while read -r line; do
    grep -qxF "$line" "$out/.config" || echo "$line"; done)
if [ -n "$missing" ]; then
    echo "kernel: these options did not stick in $out/.config:" >&2
    echo "$missing" >&2
    [ -f "$out/.config" ] && make -C "$KSRC" O="$out" "${KMAKE_VARS[@]}" rustavailable >&2 || true
    exit 1
fi

make -C "$KSRC" O="$out" "${KMAKE_VARS[@]}" -j"$(( $(nproc) + 1 ))" "$KIMAGE" modules >>"$log" 2>&1 \
    || { tail -n 40 "$log" >&2; echo "kernel: build failed (see $log)" >&2; exit 1; }
touch "$out/.built"
echo "kernel: built in $(( $(date +%s) - start )) s" >&2
echo "$out"
