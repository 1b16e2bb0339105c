#!/usr/bin/env bash
# The arm64 test pass: the module's KUnit suites on an arm64 guest.
#
#   tools/run-arm64.sh     (also run by `make test` through VMO_EXTRA_TESTS=run-arm64.sh)
#
# Cross-builds the same Linux 7.3 for ARCH=arm64 (base.config + arm64.config, cached
# like the x86-64 kernel) and vmo.ko against it (in build/module-arm64), boots it
# under qemu-system-aarch64 (`-M virt -cpu max`, TCG) with a busybox initramfs
# whose /init is tools/guest-init.sh, and judges the run with tools/verdict.py.
# Logs stay in build/run-arm64/ (console.log, user.log, ktap.log, kunit-parse.log);
# the counts go to build/run-arm64/counts.json for `make test`'s summary line.
#
# KUnit only: there is no aarch64 Rust standard library on this machine (the kernel
# builds its own `core` from rust-src; rustup cannot add a target), so the guest
# programs (vmo-guest-tests) cannot be built for arm64 and the guest runs none.
# The arm64 pass always uses the normal kernel flavour (VMO_FLAVOUR is ignored).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
B=$here/build/run-arm64
GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}
die() { echo "run-arm64: error: $*" >&2; exit 1; }
rm -rf "$B"; mkdir -p "$B"

export ARCH=arm64
unset VMO_FLAVOUR
"$here/tools/bootstrap.sh" arm64
# shellcheck source=tools/env.sh
. "$here/tools/env.sh"
busybox=$CACHE/arm64/busybox/bin/busybox
kdir=$("$here/tools/kernel.sh")
"$here/tools/build-module.sh" KDIR="$kdir" CONFIG_VMO_KUNIT_TEST=y
ko=$(module_dir "$here")/vmo.ko
[ -f "$ko" ] || die "$ko was not built"

# ---- initramfs ---------------------------------------------------------------
# `-M virt` has a single UART (ttyAMA0, the console): the programs' channel, the
# second serial port on x86-64 (ttyS1), becomes /dev/console here, and the host
# picks the `@@` lines out of console.log into user.log before the verdict.
root=$B/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp,args,progs}
cp "$busybox" "$root/bin/busybox"
sed 's|^exec 3>/dev/ttyS1$|exec 3>/dev/console|' "$here/tools/guest-init.sh" >"$root/init"
grep -qx 'exec 3>/dev/console' "$root/init" \
    || die "tools/guest-init.sh no longer opens its channel with 'exec 3>/dev/ttyS1'"
chmod +x "$root/init"
cp "$ko" "$root/vmo.ko"
echo test >"$root/mode"
: >"$root/run-list"   # no guest programs on arm64 (see above)
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$B/initramfs.cpio.gz"

# ---- boot ----------------------------------------------------------------------
# TCG only (an x86-64 host). `pauth-impdef=on`: the kernel signs return addresses,
# and QEMU's implementation-defined pointer-authentication algorithm is much
# cheaper to emulate than the architected QARMA5.
echo "== arm64 guest: Linux $KERNELVERSION, qemu-system-aarch64 -M virt -cpu max (TCG), timeout ${GUEST_TIMEOUT}s (logs in ${B#"$here"/})"
start=$(date +%s.%N)
set +e
timeout -k 5 "$GUEST_TIMEOUT" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg \
    -m "${GUEST_MEM:-1024}" -smp 2 -display none -no-reboot -monitor none \
    -serial "file:$B/console.log" \
    -kernel "$kdir/arch/arm64/boot/Image" -initrd "$B/initramfs.cpio.gz" \
    -append "console=ttyAMA0 panic=-1 oops=panic" </dev/null
qrc=$?
set -e
secs=$(echo "$(date +%s.%N) - $start" | bc)
printf '== arm64 guest: finished in %.1f s\n' "$secs"
# The programs' lines, as the x86-64 guest's second serial port would have them.
{ grep -a -o '@@.*' "$B/console.log" || true; } | tr -d '\r' >"$B/user.log"

# ---- verdict -------------------------------------------------------------------
exec "$here/tools/verdict.sh" test "$B" "$qrc" "$GUEST_TIMEOUT" \
    --counts "$B/counts.json" --label "arm64 " --no-summary --kunit
