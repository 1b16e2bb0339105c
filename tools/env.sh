# Sourced by the project's scripts: where the toolchain pieces are.
# (tools/bootstrap.sh fetches them; this file only names them.)
CACHE=${VMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmo-rs}
KERNELVERSION=7.3
RUSTC_VER=$(rustc --version | awk '{print $2}')
KSRC=$CACHE/src/linux-$KERNELVERSION
RUST_LIB_SRC=$CACHE/src/rust-src-$RUSTC_VER/usr/src/rustc-$RUSTC_VER/library
BINDGEN=$CACHE/bindgen/bin/bindgen
LIBCLANG_PATH=/usr/lib/llvm-19/lib
export LIBCLANG_PATH RUST_LIB_SRC
case "${ARCH:-x86_64}" in
    x86_64) KIMAGE=bzImage; KMAKE_VARS=(ARCH=x86_64 BINDGEN="$BINDGEN") ;;
    arm64)  KIMAGE=Image;   KMAKE_VARS=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- BINDGEN="$BINDGEN") ;;
    *) echo "unsupported ARCH=${ARCH}" >&2; exit 1 ;;
esac
