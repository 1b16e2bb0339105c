#!/usr/bin/env bash
# Makes a Rust-enabled distribution kernel's headers usable for building vmo.ko.
#
# Debian's linux-headers packages carry the .config and Module.symvers of a
# CONFIG_RUST=y kernel but none of the Rust artifacts an out-of-tree Rust module
# is compiled against (rust/*.rmeta, the proc-macro libraries, scripts/target.json).
# This script regenerates them from the matching kernel source with the very
# compiler the kernel was built with, and assembles a module build tree:
#
#   tools/stock-kernel.sh [--source DIR|TARBALL] [--headers DIR] [--out DIR] [KERNELRELEASE]
#
#   KERNELRELEASE   default: uname -r
#   --headers       the kernel's headers package tree (default: /usr/src/linux-headers-KERNELRELEASE)
#   --source        the kernel source of that release (default: the linux-source
#                   package's /usr/src/linux-source-VERSION.tar.xz)
#   --out           the tree to create (default: /usr/src/linux-rust-KERNELRELEASE);
#                   then `make KDIR=<out>` builds vmo.ko for that kernel
#
# It refuses, with the two version texts, when `rustc --version` or
# `bindgen --version` differ from the kernel's CONFIG_RUSTC_VERSION_TEXT and
# CONFIG_BINDGEN_VERSION_TEXT: Rust symbol names depend on the compiler, and a
# module built with another one would not resolve against Module.symvers.
# A second run for the same headers and compiler finds the tree and returns at once.
# On Debian 13 it needs: rustc rust-src bindgen libclang-19-dev gcc-14 make flex
# bison bc libelf-dev libssl-dev python3 and linux-source-7.3 (about 4 minutes on
# 2 cores, 2 GB of scratch space, about 190 MB kept).
set -euo pipefail
src="" out="" krel="" headers=""
while [ $# -gt 0 ]; do
    case "$1" in
        --source) src=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --headers) headers=$2; shift 2 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        -*) echo "stock-kernel: unknown option $1" >&2; exit 2 ;;
        *) krel=$1; shift ;;
    esac
done
die() { echo "stock-kernel: error: $*" >&2; exit 1; }
log() { echo "stock-kernel: $*" >&2; }

krel=${krel:-$(uname -r)}
headers=${headers:-/usr/src/linux-headers-$krel}
out=${out:-/usr/src/linux-rust-$krel}
[ -f "$headers/.config" ] || die "no headers for $krel in $headers (install linux-headers-$krel)"
grep -q '^CONFIG_RUST=y' "$headers/.config" || die "$krel is not built with CONFIG_RUST=y: no Rust module can load into it"
cfg() { sed -n "s/^$1=\"\\(.*\\)\"$/\\1/p" "$headers/.config"; }

# The compilers must be the kernel's own.
want_rustc=$(cfg CONFIG_RUSTC_VERSION_TEXT)
have_rustc=$(rustc --version 2>/dev/null || echo "no rustc on PATH")
[ "$have_rustc" = "$want_rustc" ] || die "rustc differs from the one $krel was built with:
  kernel: $want_rustc
  here:   $have_rustc
Rust symbol names depend on the compiler version; install exactly the kernel's rustc (Debian 13: the rustc package)."
want_bindgen=$(cfg CONFIG_BINDGEN_VERSION_TEXT)
have_bindgen=$(bindgen --version 2>/dev/null || echo "no bindgen on PATH")
[ "$have_bindgen" = "$want_bindgen" ] || die "bindgen differs from the one $krel was built with:
  kernel: $want_bindgen
  here:   $have_bindgen"
rust_lib_src=$(rustc --print sysroot)/lib/rustlib/src/rust/library
[ -d "$rust_lib_src/core" ] || rust_lib_src=/usr/src/rustc-$(rustc --version | awk '{print $2}')/library
[ -d "$rust_lib_src/core" ] || die "the Rust library source of $have_rustc is missing (Debian: the rust-src package)"
export RUST_LIB_SRC=$rust_lib_src
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}

# What the tree was made from: the same stamp means nothing to do.
stamp="$krel | $want_rustc | $want_bindgen | $(sha256sum "$headers/.config" "$headers/Module.symvers" | awk '{print $1}' | tr '\n' ' ')"
if [ -f "$out/.vmo-rust-tree" ] && [ "$(cat "$out/.vmo-rust-tree")" = "$stamp" ]; then
    echo "$out"; exit 0
fi

# Variables from the headers' .kernelvariables (ARCH, CROSS_COMPILE, the compiler).
kvar() { sed -n "s/^\\(override \\)\\?$1 = //p" "$headers/.kernelvariables" 2>/dev/null | head -n1; }
arch=$(kvar ARCH); cross=$(kvar CROSS_COMPILE)
cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$headers/.config")
[ -n "$arch" ] || arch=$(sed -n 's/^CONFIG_\(X86_64\|ARM64\)=y/\1/p' "$headers/.config" | head -n1 | sed 's/X86_64/x86/;s/ARM64/arm64/')
command -v "$cc" >/dev/null || die "the kernel's C compiler $cc is missing (Debian 13: gcc-14)"
hostcc=gcc; command -v gcc-14 >/dev/null && hostcc=gcc-14

# The source: a directory, or the linux-source tarball.
version=$(echo "$krel" | sed 's/^\([0-9]*\.[0-9]*\).*/\1/')
scratch=$(mktemp -d "${TMPDIR:-/var/tmp}/vmo-rust-tree.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
src=${src:-/usr/src/linux-source-$version.tar.xz}
if [ -f "$src" ]; then
    log "unpacking $src"
    mkdir "$scratch/src"
    tar -xJf "$src" -C "$scratch/src" --strip-components=1 || die "unpacking $src failed"
    src=$scratch/src
fi
[ -f "$src/Makefile" ] || die "no kernel source at $src (Debian 13: apt install linux-source-$version, or pass --source)"
[ ! -f "$src/.config" ] || die "$src is configured (has a .config); pass a clean source tree"
srcver=$(make -s -C "$src" kernelversion)
case "$krel" in "$srcver"+*|"$srcver"-*|"$srcver") ;; *) die "the source is $srcver, the kernel is $krel" ;; esac

obj=$scratch/obj
mkdir -p "$obj"
cp "$headers/.config" "$obj/.config"
kmake=(make -s -C "$src" O="$obj" ARCH="$arch" CROSS_COMPILE="$cross" CC="$cc" HOSTCC="$hostcc"
       KERNELRELEASE="$krel" BINDGEN=bindgen)
"${kmake[@]}" olddefconfig >/dev/null
cmp -s <(grep '^CONFIG_' "$headers/.config") <(grep '^CONFIG_' "$obj/.config") \
    || die "the source does not reproduce $krel's .config (olddefconfig changed it): is it the matching source?"
log "make modules_prepare for $krel with $have_rustc (about 4 minutes on 2 cores)"
t0=$SECONDS
"${kmake[@]}" -j"$(nproc)" modules_prepare >"$scratch/prepare.log" 2>&1 \
    || { tail -n 30 "$scratch/prepare.log" >&2; die "modules_prepare failed"; }
log "modules_prepare took $((SECONDS - t0)) s"

# The module build tree: the headers (their own Makefile, pointed at the new
# place), the kbuild scripts with the generated target.json, and rust/.
rm -rf "$out.tmp"; mkdir -p "$out.tmp/rust"
cp -a "$headers/." "$out.tmp/"
common=$(sed -n 's/^include \(.*\)\/Makefile$/\1/p' "$headers/Makefile")
if [ -n "$common" ]; then
    printf 'KBUILD_OUTPUT=%s\ninclude %s/Makefile\n' "$out" "$common" >"$out.tmp/Makefile"
fi
for l in scripts tools; do
    if [ -L "$headers/$l" ]; then
        rm "$out.tmp/$l"
        if [ $l = scripts ]; then cp -a "$(readlink -f "$headers/$l")" "$out.tmp/$l"
        else ln -s "$(readlink -f "$headers/$l")" "$out.tmp/$l"; fi
    fi
done
[ ! -f "$obj/scripts/target.json" ] || cp "$obj/scripts/target.json" "$out.tmp/scripts/target.json"
cp "$obj"/rust/*.rmeta "$obj"/rust/*.so "$out.tmp/rust/"
cp "$obj/include/generated/rustc_cfg" "$out.tmp/include/generated/rustc_cfg"

# The kernel crate's symbol hash must be the stock one (else modpost would find
# nothing): compare the regenerated exports with the stock Module.symvers.
hash_of() { grep -o '_RNv[A-Za-z0-9]*Cs[A-Za-z0-9]*_6kernel' | sed 's/.*Cs\([A-Za-z0-9]*\)_6kernel/\1/' | sort -u; }
stock_hash=$(hash_of <"$headers/Module.symvers")
new_hash=$(find "$obj/rust" -name 'exports_kernel_generated.h' -exec cat {} + | hash_of)
[ -n "$stock_hash" ] && [ "$stock_hash" = "$new_hash" ] \
    || die "the regenerated kernel crate's symbol hash ($new_hash) is not the stock one ($stock_hash)"
echo "$stamp" >"$out.tmp/.vmo-rust-tree"
rm -rf "$out"; mv "$out.tmp" "$out"
log "module build tree for $krel ready: $out (kernel crate hash $stock_hash, as in the stock Module.symvers)"
echo "$out"
