#!/usr/bin/env bash
# Toolchain bootstrap: brings a fresh Debian 12 machine to the point where the
# guest kernel, the module and the guest programs can be built.
#
# Installs bookworm build dependencies with apt, fetches `linux-source-7.3` and
# the `rust-src` matching `rustc --version` from trixie-backports through a
# private apt state (the host's apt configuration is never touched), and
# installs bindgen-cli with cargo. Everything fetched lives in $VMO_CACHE.
# A second run finds everything in place and returns at once.
#
#   tools/bootstrap.sh          the x86-64 toolchain and guest pieces
#   tools/bootstrap.sh arm64    also the arm64 pieces (tools/run-arm64.sh): the
#                               cross compiler, qemu-system-aarch64 and an arm64
#                               static busybox (unpacked into $VMO_CACHE/arm64)
#   VMO_FLAVOUR=debug           also clang/lld/llvm 19: the debug kernel (KASAN
#                               with Rust) is built with LLVM=-19
set -euo pipefail

WANT_ARM64=0
for a in "$@"; do
    case "$a" in
        arm64) WANT_ARM64=1 ;;
        *) echo "bootstrap: usage: tools/bootstrap.sh [arm64]" >&2; exit 2 ;;
    esac
done
KVER_PKG=linux-source-7.3
KVER=7.3
BINDGEN_VERSION=0.73.2

die() { echo "bootstrap: error: $*" >&2; exit 1; }
log() { echo "bootstrap: $*" >&2; }

# shellcheck source=tools/env.sh
. "$(dirname "$0")/env.sh"
[ -n "${RUSTC_VER:-}" ] || die "rustc not found on PATH (the machine's rustup toolchain is required)"
[ "$KERNELVERSION" = "$KVER" ] || die "tools/env.sh names Linux $KERNELVERSION, bootstrap fetches $KVER"

DEB_PKGS=(build-essential flex bison bc libelf-dev libssl-dev cpio kmod rsync xz-utils
          qemu-system-x86 busybox-static libclang-19-dev python3 gzip
          debootstrap)   # debootstrap: the private trixie root (tools/trixie.sh)
# Only with `arm64`: bookworm's cross compiler and qemu-system-aarch64.
ARM64_DEB_PKGS=(gcc-aarch64-linux-gnu qemu-system-arm)
# Only for VMO_FLAVOUR=debug: the clang toolchain of the sanitizer kernel.
DEBUG_DEB_PKGS=(clang-19 lld-19 llvm-19)

need_debs() {
    local missing=()
    local pkgs=("${DEB_PKGS[@]}")
    [ "$WANT_ARM64" = 0 ] || pkgs+=("${ARM64_DEB_PKGS[@]}")
    [ "${VMO_FLAVOUR:-normal}" != debug ] || pkgs+=("${DEBUG_DEB_PKGS[@]}")
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    echo "${missing[@]:-}"
}

install_debs() {
    local missing
    missing=$(need_debs)
    [ -z "$missing" ] && return 0
    log "installing Debian packages: $missing"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || die "apt-get install failed for: $missing"
    missing=$(need_debs)
    [ -z "$missing" ] || die "still missing after apt-get install: $missing"
}

# A private apt state for trixie-backports: lists, cache and sources live in
# $CACHE/apt, and the host's /etc/apt is only read (for the mirror and keyring).
private_apt() {
    local root=$CACHE/apt
    mkdir -p "$root/lists/partial" "$root/cache/archives/partial"
    local mirror
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie-backports main" \
        >"$root/sources.list"
    APT_OPTS=(-o "Dir::Etc::SourceList=$root/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$root/lists" -o "Dir::Cache=$root/cache"
              -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    if [ ! -f "$root/updated" ]; then
        log "fetching trixie-backports package lists (private apt state in $root)"
        apt-get "${APT_OPTS[@]}" update -qq || die "private apt-get update of trixie-backports failed"
        touch "$root/updated"
    fi
}

fetch_deb() { # name version-glob dest
    local name=$1 want=$2 dest=$3 ver
    private_apt
    ver=$(apt-cache "${APT_OPTS[@]}" madison "$name" | awk -F'|' '{gsub(/ /,"",$2); print $2}' \
          | grep -E "^$want" | head -n1 || true)
    [ -n "$ver" ] || die "trixie-backports has no $name matching '$want' (have: $(apt-cache "${APT_OPTS[@]}" madison "$name" | awk -F'|' '{print $2}' | tr -d ' ' | tr '\n' ' '))"
    log "downloading $name=$ver"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get "${APT_OPTS[@]}" download -qq "$name=$ver") || die "download of $name=$ver failed"
    mkdir -p "$dest.tmp"
    dpkg-deb -x "$tmp"/*.deb "$dest.tmp" || die "unpacking $name failed"
    rm -rf "$tmp" "$dest"
    mv "$dest.tmp" "$dest"
}

fetch_kernel_source() {
    [ -f "$KSRC/Makefile" ] && return 0
    mkdir -p "$SRC_DIR"
    if [ ! -f "$SRC_DIR/$KVER_PKG/usr/src/linux-source-$KVER.tar.xz" ]; then
        fetch_deb "$KVER_PKG" "$KVER" "$SRC_DIR/$KVER_PKG"
    fi
    log "unpacking linux-source-$KVER"
    rm -rf "$KSRC.tmp"; mkdir -p "$KSRC.tmp"
    tar -xJf "$SRC_DIR/$KVER_PKG/usr/src/linux-source-$KVER.tar.xz" -C "$KSRC.tmp" --strip-components=1 \
        || die "unpacking the kernel source failed"
    mv "$KSRC.tmp" "$KSRC"
    rm -rf "$SRC_DIR/$KVER_PKG"
}

fetch_rust_src() {
    [ -d "$RUST_LIB_SRC/core" ] && return 0
    mkdir -p "$SRC_DIR"
    fetch_deb rust-src "${RUSTC_VER//./\\.}\\+" "$SRC_DIR/rust-src-$RUSTC_VER"
    [ -d "$RUST_LIB_SRC/core" ] || die "rust-src $RUSTC_VER unpacked but $RUST_LIB_SRC/core is missing"
}

install_bindgen() {
    [ -x "$BINDGEN" ] && return 0
    log "cargo install bindgen-cli $BINDGEN_VERSION (about 2.5 minutes)"
    LIBCLANG_PATH=$LIBCLANG_PATH cargo install --quiet --locked --root "$CACHE/bindgen" \
        bindgen-cli --version "$BINDGEN_VERSION" || die "cargo install bindgen-cli failed"
}

# The arm64 guest's busybox: bookworm's busybox-static for arm64, fetched
# through a second private apt state that knows only the arm64 architecture
# (no `dpkg --add-architecture`: the host's dpkg and apt are left alone).
fetch_arm64_busybox() {
    [ -x "$ARM64_BUSYBOX" ] && return 0
    local root=$CACHE/apt-bookworm-arm64
    mkdir -p "$root/lists/partial" "$root/cache/archives/partial"
    local mirror
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
        >"$root/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$root/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$root/lists" -o "Dir::Cache=$root/cache"
                -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root
                -o APT::Architecture=arm64 -o APT::Architectures::=arm64)
    log "fetching bookworm arm64 package lists (private apt state in $root)"
    apt-get "${opts[@]}" update -qq || die "private apt-get update of bookworm (arm64) failed"
    local tmp
    tmp=$(mktemp -d)
    log "downloading busybox-static:arm64"
    (cd "$tmp" && apt-get "${opts[@]}" download -qq busybox-static:arm64) \
        || die "download of busybox-static:arm64 failed"
    rm -rf "$CACHE/arm64/busybox.tmp"; mkdir -p "$CACHE/arm64/busybox.tmp"
    dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$CACHE/arm64/busybox.tmp" \
        || die "unpacking busybox-static:arm64 failed"
    rm -rf "$tmp" "$CACHE/arm64/busybox"
    mv "$CACHE/arm64/busybox.tmp" "$CACHE/arm64/busybox"
    [ -x "$ARM64_BUSYBOX" ] || die "busybox-static:arm64 unpacked but $ARM64_BUSYBOX is missing"
}

STAMP=$CACHE/bootstrap.ok
if [ -f "$STAMP" ] && [ -z "$(need_debs)" ] && [ -f "$KSRC/Makefile" ] \
   && [ -d "$RUST_LIB_SRC/core" ] && [ -x "$BINDGEN" ] && [ -f "$LIBCLANG_PATH/libclang.so" ] \
   && { [ "$WANT_ARM64" = 0 ] || [ -x "$ARM64_BUSYBOX" ]; }; then
    exit 0
fi
mkdir -p "$CACHE"
# One bootstrap at a time (make test starts its passes side by side): a second
# caller waits, then finds each piece in place.
exec 9>"$CACHE/bootstrap.lock"; flock 9
install_debs
fetch_kernel_source
fetch_rust_src
install_bindgen
[ -f "$LIBCLANG_PATH/libclang.so" ] || die "libclang 19 not found at $LIBCLANG_PATH (package libclang-19-dev)"
touch "$STAMP"
[ "$WANT_ARM64" = 0 ] || fetch_arm64_busybox
log "toolchain ready in $CACHE"
