#!/usr/bin/env bash
# Builds (once) the guest kernel and prints the path of its build tree.
#
# The tree lives in $VMO_CACHE/kernel/<key>, where <key> hashes the kernel
# version, the config fragments and `rustc --version`: a clean clone on the
# same machine reuses it, and a changed fragment builds a new one.
#
# usage: tools/kernel.sh [FRAGMENT...]
#   default: tests/kconfig/base.config, plus tests/kconfig/$VMO_FLAVOUR.config
#   for VMO_FLAVOUR=debug; for ARCH=arm64 tests/kconfig/arm64.config comes right after base
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/tools/bootstrap.sh"
# shellcheck source=tools/env.sh
. "$here/tools/env.sh"

frags=("$@")
if [ ${#frags[@]} -eq 0 ]; then
    frags=("$here/tests/kconfig/base.config")
    # An architecture's own fragment (tests/kconfig/arm64.config) goes after base.config.
    [ ! -f "$here/tests/kconfig/${ARCH:-x86_64}.config" ] || frags+=("$here/tests/kconfig/${ARCH:-x86_64}.config")
    [ "${VMO_FLAVOUR:-normal}" = normal ] || frags+=("$here/tests/kconfig/${VMO_FLAVOUR}.config")
fi
# The flavour's make variables (LLVM=-19 for debug) are part of the key; plain
# x86_64 keeps the key it always had.
extra_key=""
[ ${#FLAVOUR_VARS[@]} -eq 0 ] || extra_key="${FLAVOUR_VARS[*]}"
key=$( { echo "$KERNELVERSION"; rustc --version; echo "${ARCH:-x86_64}"; cat "${frags[@]}"; [ -z "$extra_key" ] || echo "$extra_key"; } | sha256sum | cut -c1-16)
out=$KERNEL_CACHE/$key
if [ -f "$out/.built" ]; then echo "$out"; exit 0; fi
# One build per tree at a time: a second caller waits for the first.
mkdir -p "$KERNEL_CACHE"
exec 9>"$KERNEL_CACHE/$key.lock"
flock 9
if [ -f "$out/.built" ]; then echo "$out"; exit 0; fi

log=$KERNEL_CACHE/$key.log
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
# As in merge_config.sh, a later fragment overrides an earlier one: only the
# last setting of each option counts (`CONFIG_X=...` or `# CONFIG_X is not set`;
# the arch fragments use this to drop what base.config asks for x86).
wanted=$(awk '/^CONFIG_[A-Z0-9_]+=/ { s = $0; sub(/=.*/, "", s) }
              /^# CONFIG_[A-Z0-9_]+ is not set$/ { s = $2 }
              s != "" { if (!(s in want)) order[n++] = s; want[s] = $0; s = "" }
              END { for (i = 0; i < n; i++) print want[order[i]] }' "${frags[@]}")
missing=$(while read -r line; do
    case $line in
        "# CONFIG_"*) sym=${line#\# }; sym=${sym%% *}
                      if grep -q "^$sym=" "$out/.config"; then echo "$line"; fi ;;
        CONFIG_*) grep -qxF "$line" "$out/.config" || echo "$line" ;;
    esac; done <<<"$wanted")
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
