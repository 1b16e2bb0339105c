//! System-wide memory: leaks (measured with `Shmem:` of `/proc/meminfo`,
//! since VMO pages are shmem folios) and NO_MEMORY. These tests hold
//! [`exclusive`] so that no other test allocates meanwhile.
//!
//! Slack: after everything is closed, `Shmem:` must be back within 1 MiB of
//! its baseline (per-CPU counter drift and unrelated shmem users of the
//! guest; the counters are folded with `/proc/sys/vm/stat_refresh` first).

use std::time::Duration;

use vmo::{Handle, Status, Vmo, VmoChildOptions, VmoOptions};
use vmo_guest_tests::*;

const SLACK_KIB: u64 = 1024;

fn assert_back_to_baseline(base: u64, what: &str) {
    let after = wait_shmem_at_most(base + SLACK_KIB, Duration::from_secs(30));
    assert!(
        after <= base + SLACK_KIB,
        "{what}: Shmem {after} KiB, baseline {base} KiB: {} KiB not given back (slack {SLACK_KIB} KiB)",
        after - base
    );
}

/// Commits of 4 MiB must show in `Shmem:`, or the leak checks prove nothing.
fn assert_commit_is_visible_in_shmem(dev: &vmo::Device, base: u64) {
    let pages = (4 << 20) / pg();
    let v = new_vmo(dev, pages);
    v.commit(0, pages * pg()).unwrap();
    let during = shmem_kib();
    assert!(
        during >= base + 3 * 1024,
        "4 MiB committed but Shmem went from {base} to {during} KiB: VMO pages are not shmem?"
    );
}

#[test]
fn no_leak_after_10000_vmos_with_commits_and_children() {
    let _g = exclusive();
    let dev = dev();
    let p = pg();
    let base = shmem_kib();
    assert_commit_is_visible_in_shmem(&dev, base);
    assert_back_to_baseline(base, "after the 4 MiB probe");
    for i in 0..10_000u32 {
        let v = new_vmo(&dev, 2);
        assert_eq!(v.commit(0, 2 * p), Ok(()), "iteration {i}");
        v.write(&i.to_le_bytes(), 0).unwrap();
        if i % 10 == 0 {
            let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, 2 * p).unwrap();
            snap.write(b"own copy", p).unwrap();
            let slice = v.create_child(VmoChildOptions::SLICE, p, p).unwrap();
            slice.write(b"through the slice", 0).unwrap();
            assert_eq!(read(&snap, 0, 4), i.to_le_bytes());
        }
        if i % 100 == 0 {
            let r = Vmo::create(&dev, 3 * p, VmoOptions::RESIZABLE).unwrap();
            r.commit(0, 3 * p).unwrap();
            r.set_size(p).unwrap();
            r.set_size(5 * p).unwrap();
            r.write(b"x", 4 * p).unwrap();
        }
    }
    assert_back_to_baseline(base, "after 10,000 create+commit+close");
}

#[test]
fn closing_the_device_releases_every_handle_and_page() {
    let _g = exclusive();
    let base = shmem_kib();
    let p = pg();
    {
        let dev = dev();
        let pages = (256 << 10) / p;
        for _ in 0..64 {
            let v = new_vmo(&dev, pages);
            // The parent writes its pages, the snapshot writes every page too: it then holds
            // a copy of each (a snapshot copies a page only when one side writes it).
            v.write(&vec![0x5a; (pages * p) as usize], 0).unwrap();
            let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, pages * p).unwrap();
            snap.write(&vec![0xa5; (pages * p) as usize], 0).unwrap();
            // Leave both open: only closing the file closes them.
            Handle::from(snap).into_raw();
            Handle::from(v).into_raw();
        }
        let during = shmem_kib();
        assert!(during >= base + 30 * 1024, "32 MiB committed, Shmem {base} -> {during} KiB");
    } // the last reference to the file goes here
    assert_back_to_baseline(base, "after closing /dev/vmo with 128 open handles");
}

/// COMMIT of far more than the guest's memory (64 GiB, or 8 times RAM plus
/// swap if that is larger) must fail with NO_MEMORY, not invoke the OOM
/// killer, and leave the VMO and the system consistent. Named for the guest
/// it is meant for (512 MiB to 1 GiB of RAM). The COMMIT runs in a child
/// process whose `oom_score_adj` is 1000, so that a module that lets the
/// OOM killer loose fails this test (the child dies with SIGKILL) instead
/// of taking the whole test run down.
#[test]
fn no_memory_commit_of_64gib_in_a_512mib_guest() {
    let _g = exclusive();
    let base = shmem_kib();
    let lines = finish_child(spawn_child_role("memory::no_memory_child_role", "no-memory", &[]));
    assert!(lines.iter().any(|l| l == "CHILD no-memory ok"), "{lines:?}");
    assert_back_to_baseline(base, "after the failed COMMIT");
    // And the system still commits.
    let dev = dev();
    let p = pg();
    let w = new_vmo(&dev, 256);
    assert_eq!(w.commit(0, 256 * p), Ok(()));
    w.write(b"alive", 255 * p).unwrap();
    assert_eq!(read(&w, 255 * p, 5), b"alive");
}

/// Not a test of its own: the child process of
/// `no_memory_commit_of_64gib_in_a_512mib_guest`.
#[test]
#[ignore = "child role: started by no_memory_commit_of_64gib_in_a_512mib_guest"]
fn no_memory_child_role() {
    assert_eq!(
        std::env::var(CHILD_ROLE_ENV).as_deref(),
        Ok("no-memory"),
        "run by the parent test only"
    );
    std::fs::write("/proc/self/oom_score_adj", "1000").expect("set oom_score_adj");
    let dev = dev();
    let p = pg();
    let ram_kib = meminfo_kib("MemTotal:") + meminfo_kib("SwapTotal:");
    let size = (64u64 << 30).max(ram_kib * 1024 * 8).next_multiple_of(p);
    let v = Vmo::create(&dev, size, VmoOptions::empty()).expect("create: nothing is committed yet");
    let r = v.commit(0, size);
    assert_eq!(r, Err(Status::NO_MEMORY), "COMMIT of {size} bytes, RAM+swap {ram_kib} KiB");
    let info = v.info().expect("the VMO is still usable");
    assert!(info.committed_bytes <= size && info.committed_bytes % p == 0, "{info:?}");
    assert_eq!(info.size, size);
    // Whatever stayed committed can be released.
    assert_eq!(v.decommit(0, size), Ok(()));
    assert_eq!(committed(&v), 0);
    println!("CHILD no-memory ok");
}
