//! What a mapping, an fd and a handle grant, and nothing more (SECURITY.md).
//!
//! Each test here failed on the design where a VMO mapping was a plain
//! mapping of the root's shmem file: mm paths that work from `vm_file` and
//! `vm_pgoff` (remap_file_pages, madvise, mremap, khugepaged, ftruncate) then
//! reached the parent's pages past a slice's window, filled a pager's holes,
//! or changed the VMO without the handle's rights. Now `vm_file` is the VMO
//! fd, whose own operations check the window and the rights.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use vmo::{
    AsHandleRef, Device, HandleBased, Mapping, PacketKind, Pager, Rights, Status, Vmo,
    VmoChildOptions,
};
use vmo_guest_tests::*;

use crate::pager::{next_read, pattern, supply_pattern};

/// As `pager::WAIT`: only a failing test waits this long.
const WAIT: Duration = Duration::from_secs(30);

/// The page size as a `usize`.
fn up() -> usize {
    pg() as usize
}

/// The errno of the last libc call.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A 16-page VMO whose page `i` holds the byte `0x40 + i` everywhere.
fn patterned(dev: &Device) -> Vmo {
    let v = new_vmo(dev, 16);
    for i in 0..16u64 {
        v.write(&vec![0x40 + i as u8; up()], i * pg()).unwrap();
    }
    v
}

/// Checks that page `i` of `v` still holds `0x40 + i` everywhere.
fn assert_pattern(v: &Vmo, what: &str) {
    for i in 0..16u64 {
        let got = v.read_to_vec(i * pg(), up()).unwrap();
        assert!(got.iter().all(|&b| b == 0x40 + i as u8), "{what}: page {i} changed");
    }
}

/// `madvise(addr, len, advice)`: 0 or the errno.
pub(crate) fn madvise(m: &Mapping, offset: usize, len: usize, advice: i32) -> i32 {
    // SAFETY: the range lies inside the mapping `m` owns; no advice here frees memory the
    // process uses as Rust objects.
    let r = unsafe { libc::madvise(m.as_mut_ptr().add(offset).cast(), len, advice) };
    if r == 0 { 0 } else { errno() }
}

/// Every madvise advice a process may give a shared file mapping.
const ADVICE: &[(i32, &str)] = &[
    (libc::MADV_NORMAL, "NORMAL"),
    (libc::MADV_RANDOM, "RANDOM"),
    (libc::MADV_SEQUENTIAL, "SEQUENTIAL"),
    (libc::MADV_WILLNEED, "WILLNEED"),
    (libc::MADV_DONTNEED, "DONTNEED"),
    (libc::MADV_FREE, "FREE"),
    (libc::MADV_REMOVE, "REMOVE"),
    (libc::MADV_DONTFORK, "DONTFORK"),
    (libc::MADV_DOFORK, "DOFORK"),
    (libc::MADV_MERGEABLE, "MERGEABLE"),
    (libc::MADV_UNMERGEABLE, "UNMERGEABLE"),
    (libc::MADV_HUGEPAGE, "HUGEPAGE"),
    (libc::MADV_NOHUGEPAGE, "NOHUGEPAGE"),
    (libc::MADV_DONTDUMP, "DONTDUMP"),
    (libc::MADV_DODUMP, "DODUMP"),
    (libc::MADV_WIPEONFORK, "WIPEONFORK"),
    (libc::MADV_KEEPONFORK, "KEEPONFORK"),
    (libc::MADV_COLD, "COLD"),
    (libc::MADV_PAGEOUT, "PAGEOUT"),
    (libc::MADV_POPULATE_READ, "POPULATE_READ"),
    (libc::MADV_POPULATE_WRITE, "POPULATE_WRITE"),
    (25, "COLLAPSE"),
];
const MADV_COLLAPSE: i32 = 25;

/// `remap_file_pages` of a one-page slice's mapping to another page of the
/// parent: EINVAL (the new offset is checked against the window by the fd's
/// own mmap). As for any failed `MAP_FIXED`, the old mapping is gone
/// afterwards; nothing of the parent was ever mapped there.
#[test]
fn remap_file_pages_cannot_leave_a_slice_window() {
    let _g = shared();
    let dev = dev();
    let parent = patterned(&dev);
    let slice = parent.create_child(VmoChildOptions::SLICE, 3 * pg(), pg()).unwrap();
    for pgoff in [8usize, 1, 15, 16, 1 << 40] {
        let m = slice.map(0, up(), true).unwrap();
        assert_eq!(m.read_to_vec(0, 4).unwrap(), [0x43; 4], "the slice's page");
        // SAFETY: remaps the page `m` owns; `m` is not touched again (a failed remap leaves
        // the range unmapped) and its drop unmaps whatever is there.
        let r =
            unsafe { libc::syscall(libc::SYS_remap_file_pages, m.as_mut_ptr(), up(), 0, pgoff, 0) };
        assert_eq!((r, errno()), (-1, libc::EINVAL), "remap_file_pages to page {pgoff}");
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let at = format!("{:08x}-", m.as_ptr() as usize);
        assert!(!maps.lines().any(|l| l.starts_with(&at)), "something is mapped there: {maps}");
    }
    assert_pattern(&parent, "after remap_file_pages");
}

/// Every madvise advice on a slice's mapping, a read-only mapping and a
/// mapping of a pager-backed VMO with holes: nothing outside the window
/// changes, nothing changes through a read-only mapping, a pager's holes stay
/// holes (no request, no zero pages), MADV_REMOVE (which would punch the
/// file) is EOPNOTSUPP and MADV_COLLAPSE (which would fill an extent with a
/// huge page) is EINVAL.
#[test]
fn madvise_grants_nothing_past_the_window_and_the_rights() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let parent = patterned(&dev);
    let slice = parent.create_child(VmoChildOptions::SLICE, 4 * pg(), 2 * pg()).unwrap();
    let sm = slice.map(0, 2 * p, true).unwrap();
    let ro = parent
        .duplicate_handle(Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER)
        .unwrap();
    let rm = ro.map(0, 16 * p, false).unwrap();

    let pager = Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(9, 16 * pg()).unwrap();
    supply_pattern(&dev, &pager, &pv, 0..pg());
    supply_pattern(&dev, &pager, &pv, 8 * pg()..9 * pg());
    let pm = pv.map(0, 16 * p, true).unwrap();

    for &(advice, name) in ADVICE {
        let pager_ok = !matches!(advice, libc::MADV_POPULATE_READ | libc::MADV_POPULATE_WRITE);
        let results = [
            madvise(&sm, 0, 2 * p, advice),
            madvise(&rm, 0, 16 * p, advice),
            if pager_ok { madvise(&pm, 0, 16 * p, advice) } else { 0 },
        ];
        match advice {
            libc::MADV_REMOVE => {
                // The slice's fd has no fallocate; the read-only mapping is not writable.
                assert_eq!(results[0], libc::EOPNOTSUPP, "{name} on the slice");
                assert_ne!(results[1], 0, "{name} through a read-only mapping");
                assert_eq!(results[2], libc::EOPNOTSUPP, "{name} on the pager VMO");
            }
            MADV_COLLAPSE => assert_eq!(results, [libc::EINVAL; 3], "{name}"),
            _ => {}
        }
        assert_pattern(&parent, name);
        assert_eq!(committed(&pv), 2 * pg(), "{name}: the pager's holes stay holes");
        assert_eq!(
            pager.wait(Some(Duration::ZERO)).map(|p| p.kind),
            Err(Status::TIMED_OUT),
            "{name}: no request"
        );
    }
    assert_eq!(pm.read_to_vec(8 * p, 4).unwrap(), pattern(8 * pg()..8 * pg() + 4));
}

/// `mremap` cannot grow a VMO mapping (VM_DONTEXPAND: EFAULT), so a slice's
/// mapping cannot be stretched past its window; moving it keeps it working.
#[test]
fn mremap_cannot_grow_a_mapping() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let parent = patterned(&dev);
    let slice = parent.create_child(VmoChildOptions::SLICE, 2 * pg(), pg()).unwrap();
    let m = slice.map(0, p, true).unwrap();
    // SAFETY: asks to grow the mapping `m` owns in place; it must fail and change nothing.
    let r = unsafe { libc::mremap(m.as_mut_ptr().cast(), p, 4 * p, 0) };
    assert_eq!((r, errno()), (libc::MAP_FAILED, libc::EFAULT), "grow in place");
    // SAFETY: as above, allowed to move; it must fail too.
    let r = unsafe { libc::mremap(m.as_mut_ptr().cast(), p, 4 * p, libc::MREMAP_MAYMOVE) };
    assert_eq!((r, errno()), (libc::MAP_FAILED, libc::EFAULT), "grow and move");
    let plain = parent.map(0, 2 * p, false).unwrap();
    // SAFETY: as above, on a plain VMO's mapping.
    let r = unsafe { libc::mremap(plain.as_mut_ptr().cast(), 2 * p, 16 * p, libc::MREMAP_MAYMOVE) };
    assert_eq!((r, errno()), (libc::MAP_FAILED, libc::EFAULT), "a plain VMO's mapping");
    assert_eq!(m.read_to_vec(0, 4).unwrap(), [0x42; 4]);
    // Moving a mapping (same length, to a place of ours) keeps it a mapping of the window.
    // SAFETY: reserves a page, moves the page `m` owns over it (MREMAP_FIXED into our own
    // reservation), checks it there and moves it back, so `m` owns its range again.
    unsafe {
        let spot = libc::mmap(
            std::ptr::null_mut(),
            p,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(spot, libc::MAP_FAILED);
        let flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
        let to = libc::mremap(m.as_mut_ptr().cast(), p, p, flags, spot);
        assert_eq!(to, spot, "move: {}", errno());
        assert_eq!(std::ptr::read_volatile(to.cast::<u8>()), 0x42, "the moved mapping");
        let back = libc::mremap(to, p, p, flags, m.as_mut_ptr());
        assert_eq!(back, m.as_mut_ptr().cast(), "move back: {}", errno());
    }
    assert_eq!(m.read_to_vec(0, 4).unwrap(), [0x42; 4]);
    assert_pattern(&parent, "after mremap");
}

/// `ftruncate`, `truncate` of `/proc/self/fd/N`, `fchmod` and `fallocate`
/// on a VMO fd change nothing: the size changes only through SET_SIZE with
/// RESIZE, and the fd has no fallocate; read, write and splice are refused.
#[test]
fn the_fd_cannot_change_the_vmo_behind_the_handles_back() {
    let _g = shared();
    let dev = dev();
    let v = patterned(&dev);
    let fd = v.export_fd().unwrap();
    let raw = fd.as_raw_fd();
    // SAFETY: plain syscalls on an fd we own.
    unsafe {
        assert_eq!((libc::ftruncate(raw, 0), errno()), (-1, libc::EPERM), "ftruncate");
        let path = std::ffi::CString::new(format!("/proc/self/fd/{raw}")).unwrap();
        assert_eq!((libc::truncate(path.as_ptr(), 4096), errno()), (-1, libc::EPERM), "truncate");
        assert_eq!((libc::fchmod(raw, 0o777), errno()), (-1, libc::EPERM), "fchmod");
        let r =
            libc::fallocate(raw, libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, 0, 4096);
        assert_eq!((r, errno()), (-1, libc::EOPNOTSUPP), "fallocate punch");
        assert_eq!((libc::fallocate(raw, 0, 0, 1 << 30), errno()), (-1, libc::EOPNOTSUPP));
        let mut b = [0u8; 8];
        assert_eq!(
            (libc::read(raw, b.as_mut_ptr().cast(), 8), errno()),
            (-1, libc::EINVAL),
            "read"
        );
        assert_eq!((libc::write(raw, b.as_ptr().cast(), 8), errno()), (-1, libc::EINVAL), "write");
        let mut pipe = [0i32; 2];
        assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
        let r = libc::splice(raw, std::ptr::null_mut(), pipe[1], std::ptr::null_mut(), 8, 0);
        assert_eq!((r, errno()), (-1, libc::EINVAL), "splice");
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    let st = rustix::fs::fstat(&fd).unwrap();
    assert_eq!(st.st_size as u64, 16 * pg());
    assert_eq!(st.st_mode & 0o777, 0o666, "an fd with WRITE");
    assert_eq!(v.get_size(), Ok(16 * pg()));
    assert_pattern(&v, "after the fd calls");
    let ro = v
        .duplicate_handle(Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER)
        .unwrap();
    let rofd = ro.export_fd().unwrap();
    assert_eq!(rustix::fs::fstat(&rofd).unwrap().st_mode & 0o777, 0o444, "an fd without WRITE");
}

/// A handle without EXECUTE (every handle but those of
/// replace_as_executable, `exec.rs`) never gives an executable mapping: its
/// fd is on the noexec filesystem instance, so mmap refuses PROT_EXEC
/// (EPERM, mm's own check), and a mapping cannot be made executable later
/// with mprotect (EACCES: VM_MAYEXEC is cleared).
#[test]
fn no_mapping_is_executable_without_execute() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 1);
    let fd = v.export_fd().unwrap();
    let prot = vmo::sys::ProtFlags::READ | vmo::sys::ProtFlags::EXEC;
    let r = vmo::sys::mmap(fd.as_fd(), 0, p, prot, vmo::sys::MapFlags::SHARED).map(|_| ());
    assert_eq!(r, Err(vmo::sys::Errno::PERM), "PROT_EXEC must be refused");
    let m = v.map(0, p, false).unwrap();
    // SAFETY: changes the protection of the page `m` owns; it must fail.
    let r = unsafe { libc::mprotect(m.as_mut_ptr().cast(), p, libc::PROT_READ | libc::PROT_EXEC) };
    assert_eq!((r, errno()), (-1, libc::EACCES), "mprotect PROT_EXEC");
}

/// Pages in swap hold data: a SNAPSHOT copies them and a supply from an aux
/// VMO whose pages were paged out moves them (the walk over present folios
/// used to skip swap entries: the snapshot read zeros, the supply filled
/// zeros and decommitted the aux data).
#[test]
fn swapped_out_pages_are_copied_by_snapshot_and_supply() {
    let _g = shared();
    if !std::fs::read_to_string("/proc/swaps").unwrap().contains("/dev/") {
        eprintln!("no swap in this guest: skipped");
        return;
    }
    let dev = dev();
    let p = up();
    let v = patterned(&dev);
    let m = v.map(0, 16 * p, false).unwrap();
    // MADV_PAGEOUT reclaims what this mapping maps: fault every page in first.
    assert_pattern_mapped(&m);
    drain_lru();
    assert_eq!(madvise(&m, 0, 16 * p, libc::MADV_PAGEOUT), 0);
    let swapped = resident(&m, 16).iter().filter(|&&r| !r).count();
    assert!(swapped > 0, "MADV_PAGEOUT swapped nothing out");
    let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, 16 * pg()).unwrap();
    assert_pattern(&snap, "the snapshot of paged-out pages");
    assert_pattern(&v, "the parent after the snapshot");

    let pager = Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(3, 16 * pg()).unwrap();
    let aux = patterned(&dev);
    let am = aux.map(0, 16 * p, false).unwrap();
    assert_pattern_mapped(&am);
    drain_lru();
    assert_eq!(madvise(&am, 0, 16 * p, libc::MADV_PAGEOUT), 0);
    assert!(resident(&am, 16).iter().any(|&r| !r), "the aux pages stayed resident");
    assert_eq!(pager.supply_pages(&pv, 0..16 * pg(), &aux, 0), Ok(()));
    assert_pattern(&pv, "the pages supplied from a paged-out aux VMO");
    println!("swap: {swapped} of 16 pages were in swap when the snapshot was taken");
}

/// Checks the pattern of `patterned` through the 16-page mapping `m` (which faults every
/// page in).
fn assert_pattern_mapped(m: &Mapping) {
    for i in 0..16usize {
        assert_eq!(m.read_to_vec(i * up(), 1).unwrap(), [0x40 + i as u8], "page {i}");
    }
}

/// Moves the pages sitting in per-CPU LRU batches onto the LRU lists, where
/// MADV_PAGEOUT looks for them (writing `drop_caches` drains every CPU's
/// batch; shmem pages are not dropped).
fn drain_lru() {
    std::fs::write("/proc/sys/vm/drop_caches", "1").expect("write /proc/sys/vm/drop_caches");
}

/// `mincore` of the first `pages` pages of `m`.
fn resident(m: &Mapping, pages: usize) -> Vec<bool> {
    let mut vec = vec![0u8; pages];
    // SAFETY: `vec` has one byte per page of the range, which `m` owns.
    let r = unsafe { libc::mincore(m.as_mut_ptr().cast(), pages * up(), vec.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore: {}", errno());
    vec.iter().map(|b| b & 1 != 0).collect()
}

/// A waiter that gives up (a signal, no SA_RESTART) withdraws its request:
/// the pager finds no packet for it, so a client cannot pile up requests
/// in the pager by starting and abandoning waits.
#[test]
fn an_abandoned_request_is_withdrawn() {
    let _g = shared();
    extern "C" fn nothing(_: i32) {}
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(5, 8 * pg()).unwrap();
    // SAFETY: installs a handler that does nothing, without SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = nothing as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
    }
    for round in 0..20u64 {
        let (tx, rx) = std::sync::mpsc::channel();
        let vmo = pv.duplicate_handle(Rights::SAME_RIGHTS).unwrap();
        let t = std::thread::spawn(move || {
            // SAFETY: unblocks SIGUSR2 for this thread (the guest's init may start programs with
            // it blocked); `pthread_self` has no preconditions.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR2);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            }
            // SAFETY: `pthread_self` has no preconditions.
            tx.send(unsafe { libc::pthread_self() }).unwrap();
            // The raw ioctl: `Vmo::commit` restarts an interrupted COMMIT.
            let op = vmo::VmoOp::COMMIT.into_raw();
            vmo::sys::op_range(vmo.device().as_fd(), vmo.raw_handle(), op, (round % 8) * pg(), pg())
        });
        let tid = rx.recv().unwrap();
        // Wait until the request is queued, then interrupt the waiter.
        let p = dev.poll_pager(Some(WAIT)).unwrap();
        assert!(p, "round {round}: no request");
        let start = Instant::now();
        let r = loop {
            // SAFETY: the thread is alive until joined below.
            unsafe { libc::pthread_kill(tid, libc::SIGUSR2) };
            if t.is_finished() {
                break t.join().unwrap();
            }
            assert!(start.elapsed() < WAIT, "round {round}: the waiter never gave up");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(r, Err(vmo::sys::Errno::INTR), "round {round}");
        assert_eq!(
            pager.wait(Some(Duration::ZERO)).map(|p| p.kind),
            Err(Status::TIMED_OUT),
            "round {round}: the abandoned request is withdrawn"
        );
    }
}

/// Creating and closing pager VMOs with one key queues one COMPLETE packet
/// for the key until the pager reads it, not one per VMO.
#[test]
fn complete_packets_are_coalesced_per_key() {
    let _g = shared();
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    for _ in 0..50 {
        drop(pager.create_vmo(77, pg()).unwrap());
    }
    drop(pager.create_vmo(78, pg()).unwrap());
    let mut got = vec![];
    while let Ok(p) = pager.wait(Some(Duration::ZERO)) {
        got.push((p.kind, p.key));
    }
    assert_eq!(got, [(PacketKind::Complete, 77), (PacketKind::Complete, 78)]);
    drop(pager.create_vmo(77, pg()).unwrap());
    assert_eq!(pager.wait(Some(Duration::ZERO)).map(|p| p.key), Ok(77), "read, then queued again");
}

/// A fault that may not drop the mmap lock (`/proc/self/mem`, as ptrace
/// reads memory) on a page the pager has not supplied fails at once (EIO)
/// instead of waiting for the pager under the lock, and asks nothing.
#[test]
fn a_fault_that_cannot_be_retried_does_not_wait_for_the_pager() {
    let _g = shared();
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(6, 4 * pg()).unwrap();
    supply_pattern(&dev, &pager, &pv, 0..pg());
    let m = pv.map(0, 4 * up(), false).unwrap();
    let mem = std::fs::File::open("/proc/self/mem").unwrap();
    let mut buf = [0u8; 8];
    let start = Instant::now();
    let r = rustix::io::pread(&mem, &mut buf, m.as_ptr() as u64);
    assert_eq!(r, Ok(8), "a supplied page reads");
    assert_eq!(buf.to_vec(), pattern(0..8));
    let r = rustix::io::pread(&mem, &mut buf, m.as_ptr() as u64 + 2 * pg());
    assert_eq!(r, Err(Errno::IO), "a hole through /proc/self/mem");
    assert!(start.elapsed() < WAIT, "it waited");
    assert_eq!(pager.wait(Some(Duration::ZERO)).map(|p| p.kind), Err(Status::TIMED_OUT));
}

/// Sixteen threads fault on one absent page of a pager VMO from kernel mode
/// (a WRITE ioctl whose source buffer is the mapping) and all sleep on its
/// one request, which the pager fails: every thread gets its failure
/// (EFAULT, the mapping's SIGBUS seen from a copy) and none asks again.
/// (With failures kept in a fixed table of eight, or keyed by a thread id
/// that was the same for every thread, some were lost: those threads asked
/// again.)
#[test]
fn a_failed_request_reaches_every_faulting_thread() {
    let _g = shared();
    const THREADS: usize = 16;
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(11, 2 * pg()).unwrap();
    let m = Arc::new(pv.map(0, 2 * up(), false).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            // A sink of its own: a write holds its VMO's inode lock while its copy faults.
            let (m, sink, tx) = (m.clone(), new_vmo(&dev, 1), tx.clone());
            std::thread::spawn(move || {
                tx.send(rustix::thread::gettid().as_raw_nonzero().get()).unwrap();
                // SAFETY: reads 64 bytes of the mapping `m` owns (a kernel copy, which faults).
                let buf = unsafe { std::slice::from_raw_parts(m.as_ptr().add(up()), 64) };
                sink.write(buf, 0)
            })
        })
        .collect();
    let tids: Vec<i32> = (0..THREADS).map(|_| rx.recv().unwrap()).collect();
    let req = next_read(&pager, 11);
    assert_eq!(req.range(), pg()..2 * pg());
    // Every thread sleeps (on the request: nothing else here sleeps) before it fails.
    let start = Instant::now();
    let state = |tid: i32| {
        let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        s.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next())
    };
    // A wait from kernel mode is killable: 'D'.
    let asleep = |t: i32| matches!(state(t), Some('S' | 'D'));
    while !tids.iter().all(|&t| asleep(t)) {
        assert!(start.elapsed() < WAIT, "the threads did not all go to sleep");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(tids.iter().all(|&t| asleep(t)));
    assert_eq!(pager.fail(&pv, pg()..2 * pg(), Status::IO), Ok(()));
    for t in threads {
        while !t.is_finished() {
            assert!(start.elapsed() < 2 * WAIT, "a faulting thread still waits");
            if let Ok(p) = pager.wait(Some(Duration::ZERO)) {
                // Fail it too, so that the thread ends, and report the lost failure.
                let _ = pager.fail(&pv, p.range(), Status::IO);
                panic!("a thread asked again ({p:?}): its failure was lost");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(t.join().unwrap(), Err(Status::INVALID_ARGS), "EFAULT for each thread");
    }
    assert_eq!(pager.wait(Some(Duration::ZERO)).map(|p| p.kind), Err(Status::TIMED_OUT));
}

/// MADV_COLLAPSE over a 2 MiB-aligned mapping of a pager-backed VMO with one
/// supplied page: refused (EINVAL), so the other 511 pages stay holes for
/// the pager (a forced collapse of a shmem mapping fills an extent's holes
/// with zeros, whatever the huge= setting).
#[test]
fn madvise_collapse_cannot_fill_a_pager_vmo() {
    let _g = shared();
    const HUGE: usize = 2 << 20;
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(12, 2 * HUGE as u64).unwrap();
    supply_pattern(&dev, &pager, &pv, 0..pg());
    let fd = pv.export_fd().unwrap();
    // SAFETY: reserves 6 MiB of address space, then maps the VMO over the 2 MiB-aligned part of
    // it (MAP_FIXED inside our own reservation), and unmaps it all at the end.
    unsafe {
        let res = libc::mmap(
            std::ptr::null_mut(),
            3 * HUGE,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(res, libc::MAP_FAILED);
        let at = ((res as usize).div_ceil(HUGE) * HUGE) as *mut libc::c_void;
        let m = libc::mmap(
            at,
            2 * HUGE,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd.as_raw_fd(),
            0,
        );
        assert_eq!(m, at, "map at {at:?}: {}", errno());
        assert_eq!(std::ptr::read_volatile(m.cast::<u8>()), pattern(0..1)[0]);
        let r = libc::madvise(m, HUGE, MADV_COLLAPSE);
        assert_eq!((r, errno()), (-1, libc::EINVAL), "MADV_COLLAPSE");
        libc::munmap(res, 3 * HUGE);
    }
    assert_eq!(committed(&pv), pg(), "the holes stay holes");
    assert_eq!(pager.wait(Some(Duration::ZERO)).map(|p| p.kind), Err(Status::TIMED_OUT));
}

/// A fault taken in kernel mode (the copy of a WRITE ioctl whose source is
/// a pager VMO's hole) waits killably: handled signals sent to the waiting
/// thread neither end the wait nor make it spin (an interruptible wait ended
/// at once and the fault was retried at once, for as long as the signal was
/// pending); the write completes once the page is supplied.
#[test]
fn a_kernel_mode_fault_waits_without_spinning_on_a_handled_signal() {
    let _g = shared();
    extern "C" fn nothing(_: i32) {}
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(13, 2 * pg()).unwrap();
    let m = Arc::new(pv.map(0, 2 * up(), false).unwrap());
    let sink = new_vmo(&dev, 1);
    // SAFETY: installs a handler that does nothing (with SA_RESTART).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = nothing as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn({
        let m = m.clone();
        move || {
            // SAFETY: unblocks SIGUSR1 for this thread; `pthread_self` has no preconditions.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                tx.send((libc::pthread_self(), rustix::thread::gettid().as_raw_nonzero().get()))
                    .unwrap();
            }
            // SAFETY: reads 8 bytes of the mapping `m` owns (a kernel copy, which faults).
            let buf = unsafe { std::slice::from_raw_parts(m.as_ptr().add(up()), 8) };
            sink.write(buf, 0).map(|()| sink.read_to_vec(0, 8).unwrap())
        }
    });
    let (pthread, tid) = rx.recv().unwrap();
    let req = next_read(&pager, 13);
    let stat = || std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // Fields after the command: state is the 1st, utime and stime the 12th and 13th.
    let fields = |s: &str| -> (char, u64) {
        let rest: Vec<&str> = s.rsplit_once(") ").unwrap().1.split_whitespace().collect();
        (
            rest[0].chars().next().unwrap(),
            rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap(),
        )
    };
    let start = Instant::now();
    while fields(&stat()).0 != 'D' {
        assert!(start.elapsed() < WAIT, "the writer never went to sleep: {}", stat());
        std::thread::sleep(Duration::from_millis(10));
    }
    let (_, cpu_before) = fields(&stat());
    for _ in 0..20 {
        // SAFETY: the thread is alive until joined below.
        unsafe { libc::pthread_kill(pthread, libc::SIGUSR1) };
        std::thread::sleep(Duration::from_millis(25));
    }
    let (state, cpu_after) = fields(&stat());
    assert_eq!(state, 'D', "the writer still waits for the pager");
    assert!(!t.is_finished(), "the signals ended the wait");
    // Clock ticks (10 ms each): a spinning fault would burn the whole half second.
    assert!(cpu_after - cpu_before < 10, "the waiting fault used {} ticks", cpu_after - cpu_before);
    assert_eq!(req.range(), pg()..2 * pg());
    supply_pattern(&dev, &pager, &pv, pg()..2 * pg());
    assert_eq!(t.join().unwrap(), Ok(pattern(pg()..pg() + 8)));
}

/// MADV_PAGEOUT of pages others map needs write permission on the mapped
/// file (`can_do_file_pageout`): an unprivileged process holding a
/// read-only VMO fd cannot push the pages out, one holding a writable fd
/// can (the fd inode's mode states the fd's WRITE right).
#[test]
fn only_a_writable_fd_lets_an_unprivileged_process_page_out() {
    let _g = shared();
    if !std::fs::read_to_string("/proc/swaps").unwrap().contains("/dev/") {
        eprintln!("no swap in this guest: skipped");
        return;
    }
    let dev = dev();
    for writable in [false, true] {
        let v = patterned(&dev);
        let mut rights = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
        if writable {
            rights |= Rights::WRITE;
        }
        let fd = v.duplicate_handle(rights).unwrap().export_fd().unwrap();
        drain_lru();
        let resident = paged_out_by_nobody(fd.as_raw_fd());
        if writable {
            assert!(resident < 16, "a writable fd: the pages went to swap ({resident} resident)");
        } else {
            assert_eq!(resident, 16, "a read-only fd: every page stays");
        }
        assert_pattern(&v, "after the page-out");
    }
}

/// Forks a child that becomes `nobody`, maps `fd` read-only, faults its 16
/// pages in, asks MADV_PAGEOUT and reports how many pages stay resident.
fn paged_out_by_nobody(fd: i32) -> u32 {
    let p = up();
    let mut pipe = [0i32; 2];
    // SAFETY: a plain pipe.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: the child makes only raw syscalls (no allocation, no locks) and ends with
    // `_exit`; the parent waits for it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", errno());
    if pid == 0 {
        // SAFETY: async-signal-safe calls only, on memory the child maps itself.
        unsafe {
            let mut out = [255u8; 1];
            if libc::setgid(65534) == 0 && libc::setuid(65534) == 0 {
                let a = libc::mmap(
                    std::ptr::null_mut(),
                    16 * p,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    fd,
                    0,
                );
                if a != libc::MAP_FAILED {
                    for i in 0..16 {
                        std::ptr::read_volatile(a.cast::<u8>().add(i * p));
                    }
                    libc::madvise(a, 16 * p, libc::MADV_PAGEOUT);
                    let mut vec = [0u8; 16];
                    if libc::mincore(a, 16 * p, vec.as_mut_ptr()) == 0 {
                        out[0] = vec.iter().filter(|b| **b & 1 != 0).count() as u8;
                    }
                }
            }
            libc::write(pipe[1], out.as_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    let mut out = [0u8; 1];
    let mut status = 0;
    // SAFETY: reads the child's one byte, reaps it and closes the pipe.
    unsafe {
        libc::close(pipe[1]);
        assert_eq!(libc::read(pipe[0], out.as_mut_ptr().cast(), 1), 1);
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        libc::close(pipe[0]);
    }
    assert_ne!(out[0], 255, "the child could not become nobody or map the fd");
    u32::from(out[0])
}

/// A write into, or a read from, a resizable VMO with a buffer whose fault
/// waits for a pager does not hold the VMO's locks meanwhile (review find:
/// the copy faulted its buffer in under `resize_lock`, and a pager-backed
/// VMO's write under shmem's inode lock too, so every other thread's
/// SET_SIZE, COMMIT, read or write of the VMO waited, unkillably, for as long
/// as that pager liked): SET_SIZE goes on, and the copy goes on from where it
/// stopped once the page is there. For a plain VMO and a pager-backed one.
#[test]
fn a_copy_waiting_on_a_pager_does_not_hold_up_set_size() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let target_pager = Pager::create(&dev).unwrap();
    let plain = Vmo::create(&dev, 2 * p, vmo::VmoOptions::RESIZABLE).unwrap();
    let paged =
        target_pager.create_vmo_with_options(vmo::VmoOptions::RESIZABLE, 0xe2, 2 * p).unwrap();
    supply_pattern(&dev, &target_pager, &paged, 0..2 * p);
    for (what, target) in [("plain", plain), ("pager-backed", paged)] {
        for write in [true, false] {
            copy_waits_without_the_vmos_locks(
                &dev,
                what,
                Arc::new(target.duplicate_handle(Rights::SAME_RIGHTS).unwrap()),
                write,
            );
        }
    }
}

fn copy_waits_without_the_vmos_locks(dev: &Device, what: &str, r: Arc<Vmo>, write: bool) {
    use crate::pager::bg;
    let p = pg();
    let key = 0xe1;
    let pager = Pager::create(dev).unwrap();
    let pv = pager.create_vmo(key, 2 * p).unwrap();
    // The buffer's first page is there, the second is not: the copy stops in the middle.
    supply_pattern(dev, &pager, &pv, 0..p);
    let m = Arc::new(pv.map(0, 2 * up(), true).unwrap());
    let copier = bg("copy with a buffer the pager has not supplied", {
        let (r, m) = (r.clone(), m.clone());
        move || {
            if write {
                // SAFETY: reads 2 pages of the mapping `m` owns (a kernel copy, which faults).
                let buf = unsafe { std::slice::from_raw_parts(m.as_ptr(), 2 * up()) };
                r.write(buf, 0)
            } else {
                // SAFETY: writes 2 pages of the writable mapping `m` owns (a kernel copy,
                // which faults); nothing else touches them meanwhile.
                let buf = unsafe { std::slice::from_raw_parts_mut(m.as_mut_ptr(), 2 * up()) };
                r.read(buf, 0)
            }
        }
    });
    let req = next_read(&pager, key);
    assert_eq!(req.range(), p..2 * p, "{what}, write {write}");
    let size = r.get_size().unwrap();
    let mut resize = bg("SET_SIZE meanwhile", {
        let r = r.clone();
        move || r.set_size(size + p)
    });
    let went_on = resize.finished_within(Duration::from_secs(10));
    supply_pattern(dev, &pager, &pv, req.range());
    assert!(went_on, "{what}, write {write}: SET_SIZE waited for the pager of another VMO");
    assert_eq!(resize.join_within(WAIT), Ok(()));
    assert_eq!(copier.join_within(WAIT), Ok(()), "{what}, write {write}");
    if write {
        assert_eq!(read(&r, 0, 2 * p as usize), pattern(0..2 * p), "{what}");
    } else {
        assert_eq!(m.read_to_vec(0, 2 * up()).unwrap(), read(&r, 0, 2 * p as usize), "{what}");
    }
}
