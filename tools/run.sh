#!/usr/bin/env bash
# The project's main driver: `make run`, `make test` and `make bench` end here.
#
#   tools/run.sh run    boot the guest, load vmo.ko, show the VMO lifecycle
#   tools/run.sh test   host cargo tests + KUnit (at insmod) + guest tests
#   tools/run.sh bench  VMO ops against native Linux in the guest
#   tools/run.sh fuzz   the ioctl fuzzer for FUZZ_SECONDS (make fuzz: on the debug kernel)
#
# VMO_KERNEL=stock boots Debian 13's unmodified 7.3.4 kernel instead of the
# project's guest kernel, with vmo.ko built against its headers (tools/stock.sh).
# ARCH=arm64 (or VMO_ARCH=arm64) boots the project's arm64 kernel under
# qemu-system-aarch64 -M virt -cpu max; the guest programs are then built for
# aarch64 in the trixie root (tools/trixie.sh: rustc 1.85.1 with Debian's
# libstd-rust-dev:arm64), static like the x86-64 ones.
# The module's KUnit suites are built (CONFIG_VMO_KUNIT_TEST=y) only for `test`
# on the project's kernels, which have KUnit.
#
# Everything missing is built first (toolchain, guest kernel, module, guest
# programs). The guest's console is kept in build/<mode>/console.log and the
# programs' output in build/<mode>/user.log. `test` ends with the plain line
# "N passed, N failed, N skipped" counting every test case.
set -euo pipefail
mode=${1:?usage: tools/run.sh run|test|bench|fuzz}
here=$(cd "$(dirname "$0")/.." && pwd)
# VMO_FLAVOUR=debug boots the sanitizer kernel; VMO_BUILD_NAME names the log folder.
B=$here/build/${VMO_BUILD_NAME:-$mode}
GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}
# make bench: the previous run's results.json (or, after a run without a report,
# the results.prev.json it kept) survives as results.prev.json, which the report
# compares the new ratios with.
prev=
if [ "$mode" = bench ]; then
    for f in "$B/results.json" "$B/results.prev.json"; do
        if [ -f "$f" ]; then prev=$(mktemp); cp "$f" "$prev"; break; fi
    done
fi
rm -rf "$B"; mkdir -p "$B"
if [ -n "$prev" ]; then mv "$prev" "$B/results.prev.json"; fi

export ARCH=${VMO_ARCH:-${ARCH:-x86_64}}
case $ARCH in
    x86_64) "$here/tools/bootstrap.sh" ;;
    arm64)  "$here/tools/bootstrap.sh" arm64
            [ "${VMO_KERNEL:-guest}" = guest ] || { echo "run: VMO_KERNEL=${VMO_KERNEL} is x86-64 only" >&2; exit 1; }
            [ "${VMO_FLAVOUR:-normal}" = normal ] || { echo "run: arm64 has no debug flavour" >&2; exit 1; } ;;
    *) echo "run: unsupported ARCH=$ARCH" >&2; exit 1 ;;
esac
. "$here/tools/env.sh"
kunit=()
case ${VMO_KERNEL:-guest} in
    guest)
        kdir=$("$here/tools/kernel.sh")
        kimage=$kdir/arch/x86/boot/bzImage; ko=$(module_dir "$here")/vmo.ko; kmods=""
        [ "$ARCH" = x86_64 ] || kimage=$kdir/arch/arm64/boot/Image
        klabel="Linux $KERNELVERSION $ARCH (${VMO_FLAVOUR:-normal})"
        # The test pass builds the module as `make check` does: any warning fails it.
        if [ "$mode" = test ]; then
            "$here/tools/build-module.sh" KDIR="$kdir" W=e CLIPPY=1 CONFIG_VMO_KUNIT_TEST=y
            kunit=(--kunit)
        else
            "$here/tools/build-module.sh" KDIR="$kdir"
        fi ;;
    stock)
        [ "${VMO_FLAVOUR:-normal}" = normal ] || { echo "run: VMO_KERNEL=stock has no debug flavour" >&2; exit 1; }
        eval "$("$here/tools/stock.sh")" ;;
    *) echo "run: unknown VMO_KERNEL=${VMO_KERNEL} (guest or stock)" >&2; exit 1 ;;
esac

# ---- the guest programs (static, for the busybox initramfs) ----------------
if [ "$ARCH" = x86_64 ]; then
    export RUSTFLAGS="-C target-feature=+crt-static"
    cargo_guest() { (cd "$here/tools" && cargo "$@" --release --target x86_64-unknown-linux-gnu \
        --message-format=json-render-diagnostics) ; }
else
    # In the trixie root, with a target directory in the cache (the paths it prints
    # are the host's: the cache and the work tree are mounted at their own paths).
    export RUSTFLAGS="-C target-feature=+crt-static -C linker=aarch64-linux-gnu-gcc"
    export CARGO_TARGET_DIR=$ARM64_CARGO_TARGET
    "$here/tools/trixie.sh" root >/dev/null
    cargo_guest() { "$here/tools/trixie.sh" run bash -c 'cd "$0" && exec cargo "$@"' "$here/tools" \
        "$@" --release --target aarch64-unknown-linux-gnu --message-format=json-render-diagnostics ; }
fi
exes() { python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])'; }
progs=()
case $mode in
    run)   mapfile -t progs < <(cargo_guest build -p vmoctl -p vmo-bench | exes) ;;
    test)  mapfile -t progs < <(cargo_guest test --no-run -p vmo-guest-tests | exes)
           # VMO_TEST_DEMO=1 (the stock and arm64 passes): `vmoctl demo` after the tests.
           if [ "${VMO_TEST_DEMO:-0}" = 1 ]; then
               mapfile -t -O ${#progs[@]} progs < <(cargo_guest build -p vmoctl | exes)
           fi
           # The debug pass (and VMO_TEST_FUZZ=1) also runs the ioctl fuzzer, for
           # FUZZ_SECONDS (default 30).
           if [ "${VMO_FLAVOUR:-normal}" = debug ] || [ "${VMO_TEST_FUZZ:-0}" = 1 ]; then
               mapfile -t -O ${#progs[@]} progs < <(cargo_guest build -p vmo-fuzz | exes)
           fi ;;
    fuzz)  mapfile -t progs < <(cargo_guest build -p vmo-fuzz | exes) ;;
    bench) mapfile -t progs < <(cargo_guest build -p vmo-bench | exes) ;;
esac
unset RUSTFLAGS CARGO_TARGET_DIR
[ ${#progs[@]} -gt 0 ] || { echo "run: no guest programs were built" >&2; exit 1; }

# ---- host-side tests (test mode) ---------------------------------------------
host_log=$B/host-tests.log
if [ "$mode" = test ] && [ "${VMO_FLAVOUR:-normal}/${VMO_KERNEL:-guest}/$ARCH" = normal/guest/x86_64 ]; then
    echo "== host: cargo test (userspace workspace)"
    if ! (cd "$here/tools" && cargo test --workspace --exclude vmo-guest-tests) >"$host_log" 2>&1; then
        grep -E '^test .* FAILED|panicked|error(\[|:)' "$host_log" | head -n 30 || true
        echo "run: host cargo test failed (log: $host_log)"
    fi
    grep -E '^test result:' "$host_log" | sed 's/^/   /' || true
    "$here/tools/gen-uapi.sh" --check
    echo "== host: rustfmt --check of the module, cargo fmt --check, cargo clippy -D warnings"
    if ! (rustfmt --edition 2021 --config-path "$KSRC/.rustfmt.toml" --check "$here/rust/vmo_main.rs" \
            && cd "$here/tools" && cargo fmt --all --check \
            && cargo clippy -q --workspace --all-targets --all-features -- -D warnings) >"$B/lint.log" 2>&1; then
        head -n 40 "$B/lint.log"
        echo "cargo fmt/clippy of tools/ failed (log: $B/lint.log)" >"$B/lint-failed"
    fi
fi

# ---- accelerator and benchmark mode ---------------------------------------------
accel=tcg; cpu=max
if [ "$ARCH" = x86_64 ] && { [ "${VMO_ACCEL:-auto}" = kvm ] || { [ "${VMO_ACCEL:-auto}" = auto ] \
        && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; }; }; then
    accel=kvm; cpu=host
fi
# BENCH_ICOUNT=1: the guest clock counts instructions (TCG only): repeatable figures.
icount=(); bmode=$accel
if [ "${BENCH_ICOUNT:-0}" = 1 ]; then
    accel=tcg; cpu=max; icount=(-icount shift=0,sleep=off); bmode=icount
fi

# ---- initramfs ---------------------------------------------------------------
root=$B/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,tmp,args,progs}
if [ "$ARCH" = x86_64 ]; then
    cp /bin/busybox "$root/bin/busybox"
    cp "$here/tools/guest-init.sh" "$root/init"
else
    # `-M virt` has a single UART (ttyAMA0, the console): the programs' channel, the
    # second serial port on x86-64 (ttyS1), is a virtio console (hvc0) there.
    cp "$ARM64_BUSYBOX" "$root/bin/busybox"
    sed 's|^exec 3>/dev/ttyS1$|exec 3>/dev/hvc0|' "$here/tools/guest-init.sh" >"$root/init"
    grep -qx 'exec 3>/dev/hvc0' "$root/init" \
        || { echo "run: tools/guest-init.sh no longer opens its channel with 'exec 3>/dev/ttyS1'" >&2; exit 1; }
fi
chmod +x "$root/init"
cp "$ko" "$root/vmo.ko"
# Modules of a distribution kernel the guest loads first (zram for swap), in order.
[ -z "$kmods" ] || cp -r "$kmods" "$root/modules"
echo "$mode" >"$root/mode"
: >"$root/run-list"
for p in "${progs[@]}"; do
    name=$(basename "$p" | sed -E 's/-[0-9a-f]{16}$//')   # drop cargo's hash suffix
    cp "$p" "$root/progs/$name"
    echo "/progs/$name" >>"$root/run-list"
    case $mode/$name in
        run/vmoctl) echo "demo" ;;
        run/vmo-bench) echo "--quick --mode $bmode" ;;
        bench/vmo-bench) echo "--mode $bmode ${BENCH_ARGS:-}" ;;
        */vmo-fuzz) echo "--seconds ${FUZZ_SECONDS:-30}${FUZZ_SEED:+ --seed $FUZZ_SEED} ${FUZZ_ARGS:-}" ;;
        test/vmoctl) echo "demo" ;;
        test/*) echo "--test-threads=2 ${VMO_TEST_FILTER:-}" ;;
    esac >"$root/args/$name"
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$B/initramfs.cpio.gz"

# ---- boot ----------------------------------------------------------------------
echo "== guest: $klabel, QEMU $accel -cpu $cpu, timeout ${GUEST_TIMEOUT}s (logs in ${B#$here/})"
: >"$B/user.log"
start=$(date +%s.%N)
set +e
if [ "$ARCH" = x86_64 ]; then
    timeout -k 5 "$GUEST_TIMEOUT" qemu-system-x86_64 -accel "$accel" "${icount[@]}" -cpu "$cpu" -m "${GUEST_MEM:-1024}" -smp 2 \
        -display none -no-reboot -monitor none \
        -serial "file:$B/console.log" -serial "file:$B/user.log" \
        -kernel "$kimage" -initrd "$B/initramfs.cpio.gz" \
        -append "console=ttyS0 panic=-1 oops=panic ${GUEST_CMDLINE:-}" </dev/null &
else
    # TCG only (an x86-64 host). `pauth-impdef=on`: the kernel signs return addresses,
    # and QEMU's implementation-defined pointer-authentication algorithm is much
    # cheaper to emulate than the architected QARMA5.
    timeout -k 5 "$GUEST_TIMEOUT" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg "${icount[@]}" \
        -m "${GUEST_MEM:-1024}" -smp 2 -display none -no-reboot -monitor none \
        -serial "file:$B/console.log" -device virtio-serial-device \
        -chardev "file,id=user,path=$B/user.log" -device virtconsole,chardev=user \
        -kernel "$kimage" -initrd "$B/initramfs.cpio.gz" \
        -append "console=ttyAMA0 panic=-1 oops=panic ${GUEST_CMDLINE:-}" </dev/null &
fi
qemu=$!
if [ "$mode" != test ]; then
    tail -n +1 -f --pid=$qemu "$B/user.log" | grep --line-buffered -v '^@@' &
fi
wait $qemu
qrc=$?
set -e
sleep 0.2
secs=$(echo "$(date +%s.%N) - $start" | bc)
printf '== guest: finished in %.1f s\n' "$secs"

# ---- verdict -------------------------------------------------------------------
set +e
host_flag=(); [ "${VMO_FLAVOUR:-normal}/${VMO_KERNEL:-guest}/$ARCH" = normal/guest/x86_64 ] || host_flag=(--no-host)
# The summary line is verdict.py's unless VMO_NO_SUMMARY is set (tools/run-passes.sh
# prints one over several passes).
summary=(); [ -z "${VMO_NO_SUMMARY:-}" ] || summary=(--no-summary)
"$here/tools/verdict.sh" "$mode" "$B" "$qrc" "$GUEST_TIMEOUT" --counts "$B/counts.json" "${summary[@]}" \
    "${host_flag[@]}" "${kunit[@]}" --label "${VMO_VERDICT_LABEL:-}"
rc=$?
set -e
if [ "$mode" = bench ] && [ $rc = 0 ]; then
    echo "== bench: report (build/bench/results.{json,md}, plot.svg; against results.prev.json if kept)"
    (cd "$here/tools" && cargo run --release -q -p vmo-bench --features report --bin vmo-bench-report -- "$B") || rc=1
    # What the report cannot compute: why the marked rows miss.
    cat "$here/tools/bench/analysis.md" | tee -a "$B/results.md"
fi
exit $rc
