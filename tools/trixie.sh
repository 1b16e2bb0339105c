#!/usr/bin/env bash
# A private Debian 13 ("trixie") root under the project cache, for what the
# Debian 12 host cannot run: trixie's rustc 1.85.1 (the compiler Debian's stock
# 7.3.4 kernel was built with), gcc-14, bindgen 0.71.1, DKMS and the kernel's
# headers package, and the aarch64 Rust standard library (libstd-rust-dev:arm64)
# that builds the userspace workspace for the arm64 guest.
#
#   tools/trixie.sh root          create the root if missing; print its path
#   tools/trixie.sh run CMD...    run CMD inside the root (chroot, private mounts),
#                                 with the work tree and the cache at their host paths
#
# The host's apt and dpkg configuration are never touched: debootstrap writes
# only below $VMO_CACHE/trixie, and every mount is made in a private mount
# namespace (unshare -m), so nothing outlives the command. Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/env.sh
. "$here/tools/env.sh"   # the cache paths (TRIXIE_DIR)
ROOT=$TRIXIE_DIR/root
STOCK_KREL=7.3.4+deb13-amd64

# Everything the root holds: one list, so that a change here rebuilds the root.
PKGS=(rustc cargo rust-src rustfmt rust-clippy bindgen libclang-19-dev gcc-14 gcc make flex bison bc
      libelf-dev libssl-dev python3 dwarves kmod cpio xz-utils dkms ca-certificates
      rsync git gcc-aarch64-linux-gnu libc6-dev:arm64 libstd-rust-dev:arm64)
BPO_PKGS=("linux-headers-$STOCK_KREL")
STAMP_TEXT="v1 ${PKGS[*]} bpo: ${BPO_PKGS[*]}"

die() { echo "trixie: error: $*" >&2; exit 1; }
log() { echo "trixie: $*" >&2; }

[ "$(id -u)" = 0 ] || die "the trixie root needs root (debootstrap, chroot)"

mirror() {
    local m
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

# Runs "$@" chrooted into $ROOT with /dev, /proc, /sys, the work tree and the
# cache bind-mounted, in a mount namespace of its own.
in_root() {
    local binds=("$here")
    case "$here/" in "$CACHE"/*) ;; *) binds+=("$CACHE") ;; esac
    unshare -m --propagation private -- /bin/bash -euo pipefail -c '
        root=$1; shift; nb=$1; shift
        mount --rbind /dev "$root/dev"; mount -t proc proc "$root/proc"; mount --rbind /sys "$root/sys"
        for ((i = 0; i < nb; i++)); do
            mkdir -p "$root$1"; mount --bind "$1" "$root$1"; shift
        done
        cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
        # The host'"'"'s trust store (it may hold a site CA that its proxy needs).
        ca=/etc/ssl/host-ca-certificates.crt
        cp -L /etc/ssl/certs/ca-certificates.crt "$root$ca" 2>/dev/null || ca=/etc/ssl/certs/ca-certificates.crt
        exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            HOME=/root LANG=C.UTF-8 TERM=dumb SSL_CERT_FILE=$ca CARGO_HTTP_CAINFO=$ca CURL_CA_BUNDLE=$ca \
            ${CARGO_TARGET_DIR:+CARGO_TARGET_DIR=$CARGO_TARGET_DIR} ${RUSTFLAGS:+"RUSTFLAGS=$RUSTFLAGS"} "$@"' \
        in_root "$ROOT" "${#binds[@]}" "${binds[@]}" "$@"
}

make_root() {
    if [ -f "$ROOT/.vmo-root" ] && [ "$(cat "$ROOT/.vmo-root")" = "$STAMP_TEXT" ]; then
        return 0
    fi
    command -v debootstrap >/dev/null || {
        log "installing debootstrap (Debian 12 package)"
        apt-get update -qq || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
            || die "apt-get install debootstrap failed"
    }
    local m t0=$SECONDS
    m=$(mirror)
    rm -rf "$ROOT.tmp"; mkdir -p "$ROOT.tmp"
    log "debootstrap --variant=minbase trixie into $ROOT (about a minute)"
    debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        trixie "$ROOT.tmp" "$m" >"$TRIXIE_DIR/debootstrap.log" 2>&1 \
        || die "debootstrap failed (log: $TRIXIE_DIR/debootstrap.log)"
    cat >"$ROOT.tmp/etc/apt/sources.list" <<EOF
deb $m trixie main
deb $m trixie-updates main
deb $m trixie-backports main
EOF
    rm -f "$ROOT.tmp/etc/apt/sources.list.d/"*
    # No kernel, initramfs or service hooks run inside the root.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT.tmp/usr/sbin/policy-rc.d"; chmod +x "$ROOT.tmp/usr/sbin/policy-rc.d"
    local old=$ROOT; ROOT=$ROOT.tmp
    log "installing the build packages into the root (a few minutes)"
    in_root dpkg --add-architecture arm64
    in_root apt-get update -qq >/dev/null || die "apt-get update in the trixie root failed"
    in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" \
        >"$TRIXIE_DIR/apt.log" 2>&1 || die "apt-get install in the trixie root failed (log: $TRIXIE_DIR/apt.log)"
    in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -t trixie-backports "${BPO_PKGS[@]}" >>"$TRIXIE_DIR/apt.log" 2>&1 \
        || die "installing ${BPO_PKGS[*]} from trixie-backports failed (log: $TRIXIE_DIR/apt.log)"
    in_root apt-get clean
    ROOT=$old
    echo "$STAMP_TEXT" >"$ROOT.tmp/.vmo-root"
    rm -rf "$ROOT"; mv "$ROOT.tmp" "$ROOT"
    log "trixie root ready in $((SECONDS - t0)) s: $ROOT"
}

mkdir -p "$TRIXIE_DIR"
cmd=${1:?usage: tools/trixie.sh root | run CMD...}; shift
# One builder at a time: a second caller waits for the first to finish the root.
exec 9>"$TRIXIE_DIR/lock"; flock 9
make_root
case "$cmd" in
    root) echo "$ROOT" ;;
    run)  flock -u 9; in_root "$@" ;;
    *) die "unknown command $cmd" ;;
esac
