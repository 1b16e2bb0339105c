# Sourced by the project's scripts: every cache and toolchain path, named once.
# (tools/bootstrap.sh, tools/kernel.sh and tools/trixie.sh fill them; this file
# only names them.)
CACHE=${VMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmo-rs}
KERNELVERSION=7.3
RUSTC_VER=$(rustc --version 2>/dev/null | awk '{print $2}') || true
SRC_DIR=$CACHE/src                       # the kernel source and rust-src, unpacked
KSRC=$SRC_DIR/linux-$KERNELVERSION
RUST_LIB_SRC=$SRC_DIR/rust-src-$RUSTC_VER/usr/src/rustc-$RUSTC_VER/library
BINDGEN=$CACHE/bindgen/bin/bindgen
LIBCLANG_PATH=/usr/lib/llvm-19/lib
KERNEL_CACHE=$CACHE/kernel               # built kernels, one tree per key (tools/kernel.sh)
ARM64_BUSYBOX=$CACHE/arm64/busybox/bin/busybox
ARM64_CARGO_TARGET=$CACHE/arm64/cargo-target   # the guest programs built for aarch64
TRIXIE_DIR=$CACHE/trixie                 # the private Debian 13 root and its logs (tools/trixie.sh)
STOCK_DIR=$CACHE/stock                   # Debian's stock kernel image and modules (tools/stock.sh)
export LIBCLANG_PATH RUST_LIB_SRC
# VMO_FLAVOUR=debug: the sanitizer kernel (tests/kconfig/debug.config), built with clang 19.
case "${VMO_FLAVOUR:-normal}" in
    normal) FLAVOUR_VARS=() ;;
    debug)  FLAVOUR_VARS=(LLVM=-19) ;;
    *) echo "unsupported VMO_FLAVOUR=${VMO_FLAVOUR}" >&2; exit 1 ;;
esac
case "${ARCH:-x86_64}" in
    x86_64) KIMAGE=bzImage; KMAKE_VARS=(ARCH=x86_64 BINDGEN="$BINDGEN" "${FLAVOUR_VARS[@]}") ;;
    arm64)  KIMAGE=Image;   KMAKE_VARS=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- BINDGEN="$BINDGEN" "${FLAVOUR_VARS[@]}") ;;
    *) echo "unsupported ARCH=${ARCH}" >&2; exit 1 ;;
esac

# Where vmo.ko is built: the work tree for the plain x86-64 kernel (so that `make`
# leaves ./vmo.ko), a copy under build/ for another architecture or flavour.
module_dir() {
    local top=$1 name=${ARCH:-x86_64}
    [ "${VMO_FLAVOUR:-normal}" = normal ] || name=$name-$VMO_FLAVOUR
    if [ "$name" = x86_64 ]; then echo "$top"; else echo "$top/build/module-$name"; fi
}

# Copies the module's sources (Kbuild, rust/, include/) from the work tree $1 to
# the build directory $2. rsync keeps the mtimes: rebuilds stay incremental.
copy_module_sources() {
    local from=$1 to=$2
    mkdir -p "$to/rust" "$to/include"
    cp -p "$from/Kbuild" "$to/Kbuild"
    rsync -a --delete --exclude=/uapi_generated.rs --exclude=/helpers_generated.rs --include='*/' \
        --include='*.rs' --include='*.c' --include='*.h' --exclude='*' "$from/rust/" "$to/rust/"
    rsync -a --delete "$from/include/" "$to/include/"
}
