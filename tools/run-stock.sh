#!/usr/bin/env bash
# The stock-kernel pass of `make test` (and `make test-stock`): Debian 13's
# unmodified linux-image-7.3.4+deb13-amd64 under QEMU.
#
# 1. tools/run.sh test with VMO_KERNEL=stock: vmo.ko built with the kernel's own
#    rustc 1.85.1 against its headers (tools/stock.sh), every guest test and
#    `vmoctl demo` in one boot; any kernel complaint fails the pass, the module's
#    taint line is shown. Logs in build/run-stock/.
# 2. DKMS as a user runs it, in the trixie root against the installed
#    linux-headers-7.3.4+deb13-amd64 package: dkms add, build, install, then
#    make install; the log is shown (build/run-stock/dkms.log). It runs while
#    the guest of 1. runs (it needs no guest; the guest keeps about one core busy).
# The counts go to build/run-stock/counts.json for `make test`'s summary line.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
B=$here/build/run-stock
KREL=7.3.4+deb13-amd64
VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$here/dkms.conf")

rc=0
# What the guest run and DKMS both need, made first (each a no-op when warm): the
# trixie root and the Rust artifacts for the stock headers (DKMS's PRE_BUILD and
# tools/stock.sh would otherwise both make them on a cold machine).
"$here/tools/bootstrap.sh"
# shellcheck source=tools/env.sh
. "$here/tools/env.sh"
"$here/tools/trixie.sh" root >/dev/null
"$here/tools/trixie.sh" run "$here/tools/stock-kernel.sh" --source "$KSRC" "$KREL" >/dev/null

# DKMS as a user runs it (2.) works in the trixie root only: it runs while the
# guest runs (1.), its log kept aside until run.sh has made build/run-stock/.
dkms_log=$here/build/run-stock-dkms.log
# The DKMS source is what a user would copy to /usr/src/vmo-$VER.
dkms_round() {
"$here/tools/trixie.sh" run bash -euo pipefail -c '
    here=$1 ver=$2 krel=$3
    dkms remove -q "vmo/$ver" --all >/dev/null 2>&1 || true
    rm -rf "/usr/src/vmo-$ver"; mkdir -p "/usr/src/vmo-$ver/tools"
    cp -r "$here/Kbuild" "$here/Makefile" "$here/dkms.conf" "$here/rust" "$here/include" "/usr/src/vmo-$ver/"
    cp "$here/tools/stock-kernel.sh" "/usr/src/vmo-$ver/tools/"
    rm -f "/usr/src/vmo-$ver"/rust/*.o "/usr/src/vmo-$ver"/rust/uapi_generated.rs \
        "/usr/src/vmo-$ver"/rust/helpers_generated.rs
    echo "$ dkms add vmo/$ver"; dkms add "vmo/$ver"
    echo "$ dkms build vmo/$ver -k $krel"; dkms build "vmo/$ver" -k "$krel" || {
        cat "/var/lib/dkms/vmo/$ver/build/make.log"; exit 1; }
    echo "$ dkms install vmo/$ver -k $krel"; dkms install --force "vmo/$ver" -k "$krel"
    echo "$ dkms status"; dkms status
    ko=$(ls /lib/modules/"$krel"/updates/dkms/vmo.ko* | head -n1)
    echo "$ modinfo $ko"; modinfo "$ko" | grep -E "^(filename|vermagic|name|license|depends):"
    modinfo -F vermagic "$ko" | grep -q "^$krel " || { echo "vermagic is not $krel"; exit 1; }
    # The root has the headers but no linux-image: DKMS may leave depmod for the
    # image; run it as the kernel package would, then ask modprobe.
    [ -f "/lib/modules/$krel/modules.dep" ] || depmod -a "$krel"
    echo "$ modprobe --dry-run --show-depends --set-version $krel vmo"
    deps=$(modprobe --dry-run --show-depends --set-version "$krel" vmo); echo "$deps"
    echo "$deps" | grep -q "updates/dkms/vmo.ko"
    dkms remove -q "vmo/$ver" --all >/dev/null
    # And without DKMS: make install from the same source.
    echo "$ make KDIR=/usr/src/linux-rust-$krel install"
    make -s -C "/usr/src/vmo-$ver" KDIR="/usr/src/linux-rust-$krel" install
    deps=$(modprobe --dry-run --show-depends --set-version "$krel" vmo); echo "$deps"
    echo "$deps" | grep -q "updates/vmo.ko"
    rm -f "/lib/modules/$krel/updates/vmo.ko"*; depmod -a "$krel"
' dkms "$here" "$VER" "$KREL"
}
dkms_round >"$dkms_log" 2>&1 &
dkms_pid=$!

VMO_KERNEL=stock VMO_BUILD_NAME=run-stock VMO_NO_SUMMARY=1 VMO_TEST_DEMO=1 \
    VMO_VERDICT_LABEL="stock " "$here/tools/run.sh" test || rc=1

echo "== stock: DKMS install of vmo/$VER for $KREL, then make install, in the trixie root (log: build/run-stock/dkms.log)"
mkdir -p "$B"
if wait "$dkms_pid"; then dkms_ok=1; else dkms_ok=0; fi
mv "$dkms_log" "$B/dkms.log"
if [ "$dkms_ok" = 1 ]; then
    sed 's/^/   /' "$B/dkms.log" | grep -E '^   \$|vermagic|filename|installed|insmod|Signing module' | head -n 20
else
    sed 's/^/   /' "$B/dkms.log" | tail -n 30
    echo "FAIL: stock-dkms: the DKMS build or install, or make install, failed (log: build/run-stock/dkms.log)"
    rc=1
fi

# The artifacts script must refuse another compiler: the host's rustc is not the
# kernel's 1.85.1, so asking it here (against the root's headers) must fail, naming both.
echo "== stock: tools/stock-kernel.sh refuses the host's $(rustc --version | cut -d' ' -f1-2)"
root=$("$here/tools/trixie.sh" root)
if out=$("$here/tools/stock-kernel.sh" --headers "$root/usr/src/linux-headers-$KREL" \
        --out "$B/never" "$KREL" 2>&1); then
    echo "FAIL: stock-refusal: tools/stock-kernel.sh accepted the host's rustc"; refusal_ok=0; rc=1
elif grep -q "kernel: rustc 1.85.1" <<<"$out" && grep -q "here:   $(rustc --version)" <<<"$out"; then
    sed 's/^/   /' <<<"$out" | head -n 3; refusal_ok=1
else
    echo "FAIL: stock-refusal: unexpected message:"; sed 's/^/   /' <<<"$out"; refusal_ok=0; rc=1
fi

# The DKMS round and the refusal are two more tests in the counts.
python3 - "$B/counts.json" "$dkms_ok" "$refusal_ok" <<'PY'
import json, sys
path = sys.argv[1]
try:
    c = json.load(open(path))
except (OSError, ValueError):
    c = {"passed": 0, "failed": 1, "skipped": 0}
for ok in sys.argv[2:]:
    c["passed" if ok == "1" else "failed"] += 1
json.dump(c, open(path, "w"))
if __import__("os").environ.get("VMO_SUMMARY") == "1":
    print(f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
PY
exit $rc
