//! Threads sharing handles, and two processes each with its own table.
//!
//! The second process is this test binary again (`current_exe()`), run with
//! `--exact --ignored concurrency::child_process_role` and the environment
//! variable `VMO_GUEST_CHILD_ROLE` naming what it does.

use std::collections::HashSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use vmo::{AsHandleRef, Handle, HandleBased, Rights, Status, Vmo};
use vmo_guest_tests::*;

const FOREIGN_ENV: &str = "VMO_GUEST_FOREIGN_HANDLES";

/// Writers fill the page with their own byte while deciders DECOMMIT it:
/// every call succeeds, and every read sees each byte as 0 or some
/// writer's byte (never garbage from another VMO or a freed page).
#[test]
fn threads_write_while_others_decommit_the_same_page() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let writers = 3u8;
    let rounds = 2000;
    let stop = AtomicBool::new(false);
    let start = Barrier::new(2); // writer 0 and the decommitter start together
    let decommits = std::thread::scope(|s| {
        let decommitter = s.spawn(|| {
            start.wait();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(v.decommit(0, p), Ok(()));
                assert_eq!(v.zero(0, p), Ok(()));
                assert_eq!(v.commit(0, 2 * p), Ok(()));
                let c = v.info().unwrap().committed_bytes;
                assert!(c <= 2 * p && c % p == 0, "committed {c}");
                n += 1;
            }
            n
        });
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (v, start) = (&v, &start);
                s.spawn(move || {
                    let byte = 0x10 + w;
                    let page = vec![byte; p as usize];
                    let mut back = vec![0u8; p as usize];
                    if w == 0 {
                        start.wait();
                    }
                    for i in 0..rounds {
                        assert_eq!(v.write(&page, 0), Ok(()), "writer {w} round {i}");
                        assert_eq!(v.read(&mut back, 0), Ok(()));
                        let bad =
                            back.iter().find(|b| **b != 0 && !(0x10..0x10 + writers).contains(*b));
                        assert_eq!(bad, None, "writer {w} read a byte nobody wrote");
                    }
                })
            })
            .collect();
        // Join the writers, then stop the decommitter even if one panicked.
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let n = decommitter.join();
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
        n.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    assert!(decommits > 0, "the decommitter ran");
    // Consistent afterwards.
    v.write(b"final", 0).unwrap();
    assert_eq!(read(&v, 0, 5), b"final");
    assert_eq!(v.decommit(0, 2 * p), Ok(()));
    assert_eq!(committed(&v), 0);
}

#[test]
fn threads_each_with_their_own_vmos_on_one_device() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let koids = std::sync::Mutex::new(HashSet::new());
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let (dev, koids) = (&dev, &koids);
            s.spawn(move || {
                for i in 0..300u32 {
                    let v = new_vmo(dev, 2);
                    let tag = [t, (i & 0xff) as u8, (i >> 8) as u8];
                    v.write(&tag, p + 1).unwrap();
                    v.commit(0, p).unwrap();
                    let c = v.create_child(vmo::VmoChildOptions::SNAPSHOT, 0, 2 * p).unwrap();
                    assert_eq!(read(&c, p + 1, 3), tag);
                    assert_eq!(committed(&v), 2 * p);
                    assert!(koids.lock().unwrap().insert(v.info().unwrap().koid), "koid reused");
                }
            });
        }
    });
    assert_eq!(koids.lock().unwrap().len(), 1200);
}

#[test]
fn a_handle_is_usable_from_many_threads() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 8);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let v = &v;
            s.spawn(move || {
                for i in 0..200u64 {
                    let word = (t << 32 | i).to_le_bytes();
                    v.write(&word, t * p).unwrap();
                    assert_eq!(read(v, t * p, 8), word, "thread {t} owns page {t}");
                }
            });
        }
    });
    assert_eq!(committed(&v), 8 * p);
}

fn spawn_child(role: &str, foreign: &str) -> std::process::Child {
    spawn_child_role("concurrency::child_process_role", role, &[(FOREIGN_ENV, foreign)])
}

/// A workload both processes run: VMOs with data only they write, checked
/// back. Returns the koids it saw.
fn workload(tag: u8) -> Vec<u64> {
    let dev = dev();
    let p = pg();
    let mut koids = Vec::new();
    for i in 0..400u32 {
        let v = new_vmo(&dev, 4);
        let data = vec![tag; p as usize];
        v.write(&data, (u64::from(i) % 4) * p).unwrap();
        v.commit(0, 4 * p).unwrap();
        let s = v.create_child(vmo::VmoChildOptions::SLICE, p, 2 * p).unwrap();
        let snap = v.create_child(vmo::VmoChildOptions::SNAPSHOT, 0, 4 * p).unwrap();
        assert_eq!(v.decommit(0, p), Err(Status::NOT_SUPPORTED), "while a snapshot lives");
        drop(snap);
        assert_eq!(v.decommit(0, p), Ok(()));
        assert_eq!(
            read(&v, (u64::from(i) % 4) * p, 16),
            if i % 4 == 0 { vec![0; 16] } else { vec![tag; 16] }
        );
        assert_eq!(s.get_size(), Ok(2 * p));
        koids.push(v.info().unwrap().koid);
    }
    koids
}

/// Not a test of its own: the body of the child process that the tests
/// below start (ignored in normal runs; run with the role variable set).
#[test]
#[ignore = "child role: started by the two-process tests with VMO_GUEST_CHILD_ROLE set"]
fn child_process_role() {
    let role = std::env::var(CHILD_ROLE_ENV)
        .expect("run only by the two-process tests (VMO_GUEST_CHILD_ROLE)");
    match role.as_str() {
        "workload" => {
            for k in workload(0xc5) {
                println!("CHILD koid {k}");
            }
        }
        "foreign-handles-fresh" | "foreign-handles-busy" => {
            let dev = dev();
            let raws: Vec<u32> = std::env::var(FOREIGN_ENV)
                .unwrap()
                .split(',')
                .map(|s| s.parse().unwrap())
                .collect();
            assert!(!raws.is_empty());
            // "busy": the table holds handles of its own first (whose values
            // may be the very numbers the other process uses).
            let mine: Vec<Vmo> = if role.ends_with("busy") {
                (0..64).map(|_| new_vmo(&dev, 1)).collect()
            } else {
                Vec::new()
            };
            for &raw in &raws {
                // SAFETY: a value of another process's table, owned by
                // nothing here; given up below without closing.
                let v = Vmo::from(unsafe { Handle::from_raw(&dev, raw) });
                let (size, data) = (v.get_size(), v.read_to_vec(0, 1));
                Handle::from(v).into_raw();
                assert_eq!(size, Err(Status::BAD_HANDLE), "{role}: {raw:#x}");
                assert_eq!(data, Err(Status::BAD_HANDLE), "{role}: {raw:#x}");
                println!("CHILD bad-handle {raw}");
            }
            drop(mine);
        }
        "eintr" => eintr_role(),
        other => panic!("unknown child role {other:?}"),
    }
}

#[test]
fn two_processes_each_with_its_own_device_at_once() {
    let _g = shared();
    let child = spawn_child("workload", "");
    let mine = workload(0x3a);
    let lines = finish_child(child);
    let theirs: Vec<u64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("CHILD koid "))
        .map(|k| k.parse().unwrap())
        .collect();
    assert_eq!(theirs.len(), 400, "the child reported all its VMOs");
    let mine: HashSet<u64> = mine.into_iter().collect();
    assert_eq!(mine.len(), 400);
    assert!(theirs.iter().all(|k| !mine.contains(k)), "koids are unique across processes");
}

fn foreign_handles(mode: &str) {
    let dev = dev();
    let vmos: Vec<Vmo> = (0..8).map(|_| new_vmo(&dev, 1)).collect();
    let dup = vmos[0].duplicate_handle(Rights::READ).unwrap();
    let raws: Vec<String> = vmos.iter().chain([&dup]).map(|v| v.raw_handle().to_string()).collect();
    let child = spawn_child(&format!("foreign-handles-{mode}"), &raws.join(","));
    let lines = finish_child(child);
    assert_eq!(lines.iter().filter(|l| l.starts_with("CHILD bad-handle")).count(), raws.len());
    // Still valid here.
    for v in &vmos {
        assert_eq!(v.get_size(), Ok(pg()));
    }
}

/// Handles of process A are BAD_HANDLE in process B's fresh table.
#[test]
fn handles_of_one_process_are_bad_handle_in_a_fresh_table_of_another() {
    let _g = shared();
    foreign_handles("fresh");
}

/// The header: "a handle from another open file ... is always BAD_HANDLE",
/// so also in a table that holds handles of its own (handle values must not
/// coincide across tables).
#[test]
fn handles_of_one_process_are_bad_handle_in_another_even_with_handles_of_its_own() {
    let _g = shared();
    foreign_handles("busy");
}

/// COMMIT while the process is stopped and continued over and over
/// (SIGSTOP/SIGCONT from this process to a child) completes: the header
/// allows EINTR for an interrupted COMMIT (then nothing of it stays
/// committed) and `Vmo::op_range` retries it. Linux 7.3's shmem fallocate
/// only stops for a *fatal* signal, so the raw ioctl is expected to succeed
/// here; the child accepts EINTR too and then checks that nothing stayed.
#[test]
fn commit_completes_while_the_process_is_stopped_and_continued() {
    use rustix::process::Signal;
    use rustix::process::{Pid, kill_process};
    use std::time::{Duration, Instant};
    let _g = exclusive();
    let mut child = spawn_child_role("concurrency::child_process_role", "eintr", &[]);
    let pid = Pid::from_child(&child);
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() && start.elapsed() < Duration::from_secs(90)
    {
        let _ = kill_process(pid, Signal::STOP);
        std::thread::sleep(Duration::from_millis(1));
        let _ = kill_process(pid, Signal::CONT);
        std::thread::sleep(Duration::from_millis(3));
    }
    let _ = kill_process(pid, Signal::CONT);
    let lines = finish_child(child);
    assert!(lines.iter().any(|l| l.starts_with("CHILD eintr ok")), "{lines:?}");
}

/// The child side of `commit_completes_while_the_process_is_stopped_and_continued`.
fn eintr_role() {
    use std::os::fd::AsFd;
    let dev = dev();
    let p = pg();
    let size = 64 << 20;
    let v = vmo::Vmo::create(&dev, size, vmo::VmoOptions::empty()).unwrap();
    let eintr = rustix::io::Errno::INTR;
    let mut seen = 0;
    let rounds = 12;
    for _ in 0..rounds {
        let r = vmo::sys::op_range(dev.as_fd(), v.raw_handle(), vmo::sys::VMO_OP_COMMIT, 0, size);
        match r {
            Ok(()) => assert_eq!(committed(&v), size),
            Err(e) if e == eintr => {
                seen += 1;
                assert_eq!(committed(&v), 0, "an interrupted COMMIT leaves nothing committed");
            }
            Err(e) => panic!("raw COMMIT failed with errno {e}"),
        }
        assert_eq!(v.decommit(0, size), Ok(()));
        assert_eq!(v.commit(0, size), Ok(()), "the crate retries an interrupted COMMIT");
        assert_eq!(committed(&v), size);
        v.write(b"still here", size - p).unwrap();
        assert_eq!(read(&v, size - p, 10), b"still here");
        assert_eq!(v.decommit(0, size), Ok(()));
    }
    println!("CHILD eintr ok: {seen} of {rounds} raw COMMITs interrupted");
}
