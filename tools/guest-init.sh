#!/bin/busybox sh
# /init of the test guest. The kernel console (ttyS0) carries the kernel's log,
# KUnit's KTAP included; ttyS1 carries what the programs print, with `@@`
# marker lines that tools/run.sh reads.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /sys/fs/cgroup
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
exec 3>/dev/ttyS1
mode=$(cat /mode)
say() { echo "$*" >&3; }

say "@@guest $(uname -r) mode=$mode cpus=$(nproc)"
# A distribution kernel's modules the guest needs (zram), in dependency order.
for m in $(cat /modules/order 2>/dev/null); do
    insmod /modules/$m && say "@@kmod $m"
done
# Swap (a 64 MiB zram device) and transparent huge pages for shmem, where the kernel has
# them: the tests and the fuzzer meet VMO mappings with the mm paths that act on a mapping's
# file (swap-out and swap-in, MADV_PAGEOUT, MADV_COLLAPSE). `make run` and the benchmark keep
# the kernel's defaults (huge shmem pages would make the native memfd rows incomparable).
case $mode in test|fuzz) mm_tests=1 ;; *) mm_tests=0 ;; esac
if [ $mm_tests = 1 ] && [ -e /sys/block/zram0/disksize ]; then
    echo 64M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 \
        && say "@@swap $(grep zram0 /proc/swaps | tr -s ' \t' ' ')"
fi
thp=/sys/kernel/mm/transparent_hugepage
if [ $mm_tests = 1 ] && [ -w $thp/shmem_enabled ]; then
    echo always >$thp/enabled; echo always >$thp/shmem_enabled
    say "@@thp enabled=$(cat $thp/enabled) shmem_enabled=$(cat $thp/shmem_enabled)"
fi
say "@@cpu $(grep -o -w -E 'clwb|clflushopt|clflush' /proc/cpuinfo | sort -u | tr '\n' ' ')"
# A debug kernel has kmemleak: forget what boot left, so only what follows is reported.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
leakfile=/sys/kernel/debug/kmemleak
[ -w $leakfile ] && echo clear >$leakfile
echo "vmo-harness: insmod begin" >/dev/kmsg
insmod /vmo.ko
rc=$?
echo "vmo-harness: insmod end rc=$rc" >/dev/kmsg
say "@@insmod rc=$rc"
if [ "$rc" = 0 ]; then
    say "@@dev $(ls -l /dev/vmo)"
    for prog in $(cat /run-list); do
        name=${prog##*/}
        say "@@begin $name"
        # Programs run as root; the user-facing device mode is checked by the tests.
        "$prog" $(cat "/args/$name" 2>/dev/null) >&3 2>&1
        say "@@end $name rc=$?"
    done
    if rmmod vmo; then say "@@rmmod rc=0"; else say "@@rmmod rc=1"; fi
fi
say "@@shmem-after $(grep '^Shmem:' /proc/meminfo)"
if [ -w $leakfile ]; then
    # Two scans: kmemleak reports an object only once it looked unreferenced twice.
    echo scan >$leakfile; sleep 2; echo scan >$leakfile
    sed 's/^/@@kmemleak /' $leakfile >&3
    say "@@kmemleak-scanned"
fi
say "@@done"
sync
reboot -f
