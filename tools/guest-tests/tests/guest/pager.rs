//! User pagers (`zx_pager_*`): requests, supply, fail, detach, pager and
//! waiter processes that die, and the errors of the pager ioctls.
//!
//! Nothing here may hang when the module misbehaves: pagers wait with
//! timeouts, and every access that may block runs on a [`Bg`] thread whose
//! result is awaited with a bound (a thread that never returns is leaked and
//! the test fails). To know that a thread really waits for the pager (and is
//! not just slow to start), the tests read `/proc/self/task/<tid>/syscall`,
//! which names the ioctl a sleeping thread is in.
//!
//! The two-process tests re-run this binary as a child
//! (`--exact --ignored pager::child_role`, role in `VMO_GUEST_CHILD_ROLE`). A
//! VMO crosses between the processes as a VMO fd (`VMO_IOC_EXPORT` and
//! `VMO_IOC_IMPORT`): handles belong to one open `/dev/vmo`, and the pager
//! must live in a table that only the child holds, so that killing the child
//! closes it.

use std::io::BufRead;
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vmo::{
    AsHandleRef, Device, HandleBased, ObjectType, PacketKind, Pager, PagerOp, PagerPacket, Rights,
    Status, Vmo, VmoChildOptions, VmoInfoFlags, VmoOp, VmoOptions, sys,
};
use vmo_guest_tests::*;

/// How long anything that should happen may take: generous, because the CI
/// runs the arm64 guest (TCG) beside another pass on two cores, where a step
/// of a millisecond can take seconds; only a failing test waits this long.
pub(crate) const WAIT: Duration = Duration::from_secs(30);
/// How long to watch for something that should not happen.
pub(crate) const QUIET: Duration = Duration::from_millis(100);

/// The byte at `offset` of every VMO these tests fill: differs from page
/// to page and within a page, and is never all zeros over a page.
pub(crate) fn pattern_byte(offset: u64) -> u8 {
    ((offset / pg()).wrapping_mul(37) + offset % 251 + 1) as u8
}

pub(crate) fn pattern(range: Range<u64>) -> Vec<u8> {
    range.map(pattern_byte).collect()
}

/// Supplies `range` of `vmo` with [`pattern`] through a new aux VMO, and
/// checks that the aux pages were taken (decommitted from the aux VMO).
pub(crate) fn supply_pattern(dev: &Device, pager: &Pager, vmo: &Vmo, range: Range<u64>) {
    let len = range.end - range.start;
    let aux = new_vmo(dev, len.div_ceil(pg()));
    aux.write(&pattern(range.clone()), 0).expect("write the aux VMO");
    assert_eq!(committed(&aux), len);
    assert_eq!(pager.supply_pages(vmo, range.clone(), &aux, 0), Ok(()), "supply {range:x?}");
    assert_eq!(committed(&aux), 0, "supply decommits the aux range");
}

/// The next packet, which must be a READ request for `key`.
pub(crate) fn next_read(pager: &Pager, key: u64) -> PagerPacket {
    let p = pager.wait(Some(WAIT)).unwrap_or_else(|s| panic!("no request within {WAIT:?}: {s}"));
    assert_eq!(p.kind, PacketKind::Read, "{p:?}");
    assert_eq!(p.key, key, "{p:?}");
    assert_eq!(p.offset % pg(), 0, "{p:?}");
    assert!(p.length > 0 && p.length % pg() == 0, "{p:?}");
    p
}

/// Asserts that the pager gets no packet for [`QUIET`].
pub(crate) fn assert_no_packet(pager: &Pager, when: &str) {
    assert_eq!(pager.wait(Some(QUIET)), Err(Status::TIMED_OUT), "{when}: no packet expected");
}

/// Whether `ranges` are pairwise disjoint.
fn disjoint(ranges: &[Range<u64>]) -> bool {
    let mut r = ranges.to_vec();
    r.sort_by_key(|r| r.start);
    r.windows(2).all(|w| w[0].end <= w[1].start)
}

/// Whether the union of `ranges` is exactly `whole`.
fn union_is(ranges: &[Range<u64>], whole: Range<u64>) -> bool {
    let mut r = ranges.to_vec();
    r.sort_by_key(|r| r.start);
    let mut at = whole.start;
    for x in &r {
        if x.start > at || x.end > whole.end {
            return false;
        }
        at = at.max(x.end);
    }
    at == whole.end
}

/// A thread that may block forever if the module is broken: its result is
/// awaited with a bound, and the thread is leaked if it never comes.
pub(crate) struct Bg<T> {
    pub(crate) what: String,
    pub(crate) task: PathBuf,
    rx: mpsc::Receiver<std::thread::Result<T>>,
    done: Option<std::thread::Result<T>>,
}

pub(crate) fn bg<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> Bg<T> {
    let (tx, rx) = mpsc::channel();
    let (ttx, trx) = mpsc::channel();
    std::thread::Builder::new()
        .name(what.to_string())
        .spawn(move || {
            let _ = ttx.send(std::fs::read_link("/proc/thread-self").ok());
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn a thread");
    let link = trx.recv().expect("the thread starts").unwrap_or_default();
    // /proc/thread-self is "<pid>/task/<tid>".
    let task = Path::new("/proc").join(link);
    Bg { what: what.to_string(), task, rx, done: None }
}

impl<T> Bg<T> {
    /// Whether the thread has finished, waiting at most `d` for it.
    pub(crate) fn finished_within(&mut self, d: Duration) -> bool {
        if self.done.is_none() {
            self.done = self.rx.recv_timeout(d).ok();
        }
        self.done.is_some()
    }

    /// The thread's result; fails the test if it takes longer than `d`.
    pub(crate) fn join_within(mut self, d: Duration) -> T {
        if !self.finished_within(d) {
            panic!("{} did not finish within {d:?} (thread leaked)", self.what);
        }
        match self.done.take().unwrap() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    pub(crate) fn join(self) -> T {
        self.join_within(WAIT)
    }

    /// Waits until the thread sleeps in the ioctl `cmd` (a pager wait).
    pub(crate) fn wait_blocked_in(&mut self, cmd: u32) {
        assert!(
            !self.finished_within(Duration::ZERO),
            "{} finished instead of blocking",
            self.what
        );
        wait_until_blocked(std::slice::from_ref(&self.task), cmd, &self.what);
        assert!(
            !self.finished_within(Duration::ZERO),
            "{} finished instead of blocking",
            self.what
        );
    }
}

/// The ioctl syscall's number, as `/proc/<pid>/task/<tid>/syscall` shows it.
#[cfg(target_arch = "x86_64")]
const SYS_IOCTL: Option<&str> = Some("16");
#[cfg(target_arch = "aarch64")]
const SYS_IOCTL: Option<&str> = Some("29");
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const SYS_IOCTL: Option<&str> = None;

/// `Some(true)` when the task sleeps in `ioctl(_, cmd, _)`, `Some(false)`
/// when it does not, `None` when the kernel does not say.
fn task_in_ioctl(task: &Path, cmd: u32) -> Option<bool> {
    let sys_ioctl = SYS_IOCTL?;
    let text = std::fs::read_to_string(task.join("syscall")).ok()?;
    // "<nr> <arg0> <arg1> ... <sp> <pc>" while the task sleeps in a syscall,
    // "running" while it runs, "-1 <sp> <pc>" outside a syscall.
    let mut f = text.split_whitespace();
    let nr = f.next()?;
    let _fd = f.next();
    let arg1 = f.next().and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
    // The opcode is an unsigned int: compare its 32 bits, however the
    // register was extended.
    Some(nr == sys_ioctl && arg1.map(|a| a as u32) == Some(cmd))
}

/// Waits until one of `tasks` sleeps in the ioctl `cmd`, seen three times in
/// a row 20 ms apart. Where the kernel does not show syscalls, waits 300 ms
/// instead.
fn wait_until_blocked(tasks: &[PathBuf], cmd: u32, what: &str) {
    let start = Instant::now();
    let mut streak = 0;
    loop {
        let seen: Vec<Option<bool>> = tasks.iter().map(|t| task_in_ioctl(t, cmd)).collect();
        if seen.iter().all(Option::is_none) {
            std::thread::sleep(Duration::from_millis(300));
            return;
        }
        streak = if seen.contains(&Some(true)) { streak + 1 } else { 0 };
        if streak >= 3 {
            return;
        }
        assert!(start.elapsed() < WAIT, "{what} did not block in ioctl {cmd:#x} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves READ requests for `key` with [`pattern`] until `done()` holds,
/// failing the test after [`WAIT`] without progress. Returns the ranges
/// it served, in order.
fn serve_until(
    dev: &Device,
    pager: &Pager,
    vmo: &Vmo,
    key: u64,
    mut done: impl FnMut() -> bool,
) -> Vec<Range<u64>> {
    let mut served = Vec::new();
    let mut last = Instant::now();
    while !done() {
        match pager.wait(Some(Duration::from_millis(20))) {
            Ok(p) => {
                assert_eq!((p.kind, p.key), (PacketKind::Read, key), "{p:?}");
                supply_pattern(dev, pager, vmo, p.range());
                served.push(p.range());
                last = Instant::now();
            }
            Err(Status::TIMED_OUT) => {
                assert!(last.elapsed() < WAIT, "no progress for {WAIT:?}");
            }
            Err(s) => panic!("pager wait: {s}"),
        }
    }
    served
}

/// Zircon's `FailErrorCode` (T-pager): thread A COMMITs 11 pages, thread B
/// reads the same 11 pages; both wait for the pager, which fails the range
/// with one of the five allowed codes. Both return exactly that code, and
/// no further request comes. B shares A's request, so the requests (one,
/// unless the kernel splits it) are disjoint and cover [0, 11 pages).
#[test]
fn fail_error_code_reaches_every_waiter_exactly() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    for (i, code) in [
        Status::IO,
        Status::IO_DATA_INTEGRITY,
        Status::BAD_STATE,
        Status::NO_SPACE,
        Status::BUFFER_TOO_SMALL,
    ]
    .into_iter()
    .enumerate()
    {
        let pager = Pager::create(&dev).unwrap();
        let key = 0xfa11_0000 + i as u64;
        let vmo = Arc::new(pager.create_vmo(key, 11 * p).unwrap());
        let mut a = bg("COMMIT", {
            let v = vmo.clone();
            move || v.commit(0, 11 * p)
        });
        let mut b = bg("read", {
            let v = vmo.clone();
            move || v.read_to_vec(0, 11 * p as usize).map(drop)
        });
        a.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
        b.wait_blocked_in(sys::VMO_IOC_READ);
        let mut requests = vec![next_read(&pager, key).range()];
        while let Ok(more) = pager.wait(Some(QUIET)) {
            assert_eq!((more.kind, more.key), (PacketKind::Read, key), "{code}: {more:?}");
            requests.push(more.range());
        }
        assert!(disjoint(&requests), "{code}: overlapping requests {requests:x?}");
        assert!(union_is(&requests, 0..11 * p), "{code}: requests {requests:x?}");

        assert_eq!(pager.fail(&vmo, 0..11 * p, code), Ok(()), "{code}");
        assert_eq!(a.join(), Err(code), "COMMIT after FAIL({code})");
        assert_eq!(b.join(), Err(code), "read after FAIL({code})");
        assert_no_packet(&pager, &format!("after FAIL({code})"));
        assert_eq!(committed(&vmo), 0, "{code}");
    }
}

/// Supplied pages become the VMO's: COMMIT and read need no request, the
/// data is the aux VMO's, the aux range is decommitted, and pages the VMO
/// already has are kept. Info reports PAGER_BACKED and the committed bytes
/// follow the supplies; absent aux pages supply zeros.
#[test]
fn supply_then_commit_reads_the_supplied_bytes() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let pi = pager.basic_info().unwrap();
    assert_eq!(pi.object_type, ObjectType::PAGER);
    assert_eq!(pi.rights, Rights::DEFAULT_PAGER);

    let key = 0xb0b;
    let vmo = pager.create_vmo(key, 4 * p - 100).unwrap();
    let info = vmo.info().unwrap();
    assert_eq!(info.object_type, ObjectType::VMO);
    assert!(info.flags.contains(VmoInfoFlags::PAGER_BACKED), "{:?}", info.flags);
    assert_eq!(info.rights, Rights::DEFAULT_VMO);
    assert_eq!(info.size, 4 * p, "the size is rounded up to a page");
    assert_eq!(info.committed_bytes, 0);
    assert_eq!(vmo.get_size(), Ok(4 * p));
    // An ordinary VMO is not pager-backed.
    let plain = new_vmo(&dev, 1);
    assert!(!plain.info().unwrap().flags.contains(VmoInfoFlags::PAGER_BACKED));

    // Pages 0-1 from aux offset 0.
    supply_pattern(&dev, &pager, &vmo, 0..2 * p);
    assert_eq!(committed(&vmo), 2 * p);
    assert_eq!(vmo.commit(0, 2 * p), Ok(()));
    assert_eq!(read(&vmo, 0, 2 * p as usize), pattern(0..2 * p));
    assert_no_packet(&pager, "COMMIT and read of supplied pages");

    // Page 2 from aux offset 1 page.
    let aux = new_vmo(&dev, 3);
    aux.write(&pattern(2 * p..3 * p), p).unwrap();
    assert_eq!(pager.supply_pages(&vmo, 2 * p..3 * p, &aux, p), Ok(()));
    assert_eq!(committed(&aux), 0);
    assert_eq!(committed(&vmo), 3 * p);
    assert_eq!(read(&vmo, 2 * p, p as usize), pattern(2 * p..3 * p));

    // A supply over pages the VMO has keeps them (and still takes the aux
    // range).
    let other = new_vmo(&dev, 1);
    other.write(&vec![0xee; p as usize], 0).unwrap();
    assert_eq!(pager.supply_pages(&vmo, 0..p, &other, 0), Ok(()));
    assert_eq!(committed(&other), 0);
    assert_eq!(read(&vmo, 0, p as usize), pattern(0..p), "pages the VMO has are kept");
    assert_eq!(committed(&vmo), 3 * p);

    // COMMIT of everything asks for the one missing page only; an aux range
    // with nothing committed supplies zeros.
    let vmo = Arc::new(vmo);
    let mut c = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, 4 * p)
    });
    let req = next_read(&pager, key);
    assert_eq!(req.range(), 3 * p..4 * p);
    assert!(!c.finished_within(QUIET), "COMMIT waits for the pager");
    let empty = new_vmo(&dev, 1);
    assert_eq!(pager.supply_pages(&vmo, req.range(), &empty, 0), Ok(()));
    assert_eq!(c.join(), Ok(()));
    assert_eq!(read(&vmo, 3 * p, p as usize), vec![0; p as usize]);
    assert_eq!(committed(&vmo), 4 * p);
    assert_no_packet(&pager, "everything supplied");

    // Writes land on top of supplied data.
    vmo.write(b"over", p + 10).unwrap();
    let mut want = pattern(p..2 * p);
    want[10..14].copy_from_slice(b"over");
    assert_eq!(read(&vmo, p, p as usize), want);
}

/// A read of absent pages waits until the pager supplies them (it asks for
/// exactly the pages the read touches), then returns the supplied data. A
/// partial-page write waits the same way and lands on the supplied page.
#[test]
fn a_read_blocks_until_the_pager_supplies() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xc0ffee;
    let vmo = Arc::new(pager.create_vmo(key, 6 * p).unwrap());

    // Bytes [p + 100, 3p + 100) touch pages 1, 2 and 3.
    let mut r = bg("read", {
        let v = vmo.clone();
        move || v.read_to_vec(p + 100, 2 * p as usize)
    });
    let req = next_read(&pager, key);
    assert_eq!(req.range(), p..4 * p, "the pages the read touches");
    r.wait_blocked_in(sys::VMO_IOC_READ);
    assert!(!r.finished_within(QUIET), "the read waits for the pager");
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(r.join(), Ok(pattern(p + 100..3 * p + 100)));
    assert_eq!(committed(&vmo), 3 * p);

    // A write into the middle of absent page 5.
    let mut w = bg("write", {
        let v = vmo.clone();
        move || v.write(b"written", 5 * p + 7)
    });
    let req = next_read(&pager, key);
    assert_eq!(req.range(), 5 * p..6 * p);
    w.wait_blocked_in(sys::VMO_IOC_WRITE);
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(w.join(), Ok(()));
    let mut want = pattern(5 * p..6 * p);
    want[7..14].copy_from_slice(b"written");
    assert_eq!(read(&vmo, 5 * p, p as usize), want);
    assert_no_packet(&pager, "after the write");
}

/// Several threads COMMIT overlapping ranges and others disjoint ranges of
/// one pager VMO at once: all succeed once the pager has served the
/// requests, the requests never overlap each other (waiters share them),
/// together they cover the VMO, and the VMO holds the supplied data.
#[test]
fn overlapping_and_disjoint_concurrent_commits_all_succeed() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xd15c;
    let vmo = Arc::new(pager.create_vmo(key, 16 * p).unwrap());
    let ranges: [(u64, u64); 8] =
        [(0, 4), (2, 6), (3, 8), (0, 8), (1, 2), (8, 10), (10, 12), (12, 16)];
    let mut threads: Vec<Bg<Result<(), Status>>> = ranges
        .iter()
        .map(|&(a, b)| {
            let v = vmo.clone();
            bg(&format!("COMMIT pages {a}..{b}"), move || v.commit(a * p, (b - a) * p))
        })
        .collect();
    for t in &mut threads {
        t.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    }
    // All waiting: the outstanding requests must be disjoint.
    let mut outstanding = Vec::new();
    while let Ok(req) = pager.wait(Some(QUIET)) {
        assert_eq!((req.kind, req.key), (PacketKind::Read, key), "{req:?}");
        outstanding.push(req.range());
    }
    assert!(!outstanding.is_empty(), "blocked COMMITs sent requests");
    assert!(disjoint(&outstanding), "concurrent requests overlap: {outstanding:x?}");
    let mut served = outstanding.clone();
    for r in &outstanding {
        supply_pattern(&dev, &pager, &vmo, r.clone());
    }
    served.extend(serve_until(&dev, &pager, &vmo, key, || {
        threads.iter_mut().all(|t| t.finished_within(Duration::ZERO))
    }));
    for (t, (a, b)) in threads.into_iter().zip(ranges) {
        assert_eq!(t.join(), Ok(()), "COMMIT pages {a}..{b}");
    }
    assert!(disjoint(&served), "a request asked for supplied pages: {served:x?}");
    assert!(union_is(&served, 0..16 * p), "requests {served:x?}");
    assert_eq!(committed(&vmo), 16 * p);
    assert_eq!(read(&vmo, 0, 16 * p as usize), pattern(0..16 * p));
    assert_no_packet(&pager, "all served");
}

/// Zircon's `SupplyAfterFail`: a failed request fails the COMMIT (also
/// when the failed range only overlaps the request), but the failure is not
/// sticky: the next COMMIT asks again and succeeds once supplied. A FAIL
/// with no request outstanding is fine (`FailRedundant`).
#[test]
fn supply_after_fail_the_failure_is_not_sticky() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0x5afe;
    let vmo = Arc::new(pager.create_vmo(key, 2 * p).unwrap());
    let commit = |what: &str| {
        let v = vmo.clone();
        bg(what, move || v.commit(0, 2 * p))
    };

    let a = commit("first COMMIT");
    let req = next_read(&pager, key);
    assert_eq!(req.range(), 0..2 * p);
    // Failing page 1 fails the whole request [0, 2 pages).
    assert_eq!(pager.fail(&vmo, p..2 * p, Status::IO), Ok(()));
    assert_eq!(a.join(), Err(Status::IO));
    assert_eq!(committed(&vmo), 0);
    assert_eq!(pager.fail(&vmo, 0..2 * p, Status::IO), Ok(()), "a redundant FAIL");
    assert_no_packet(&pager, "after the FAIL");

    let b = commit("second COMMIT");
    let req = next_read(&pager, key);
    assert_eq!(req.range(), 0..2 * p, "the failed pages are asked for again");
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(b.join(), Ok(()));
    assert_eq!(read(&vmo, 0, 2 * p as usize), pattern(0..2 * p));
    assert_eq!(committed(&vmo), 2 * p);
    assert_no_packet(&pager, "after the supply");
}

/// Zircon's `FailAfterDetach`, `DecommitOnDetachTest`, `SupplyAfterDetach`:
/// detaching wakes a blocked COMMIT with BAD_STATE, frees the VMO's pages,
/// makes every later access BAD_STATE, sends a COMPLETE packet with the
/// key, and a supply or a FAIL afterwards is BAD_STATE (FAIL checks its range
/// first: OUT_OF_RANGE past the end). Unknown pager ops are NOT_SUPPORTED
/// whatever the VMO's state.
#[test]
fn detach_wakes_waiters_and_fails_later_accesses() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xde7a;
    let vmo = Arc::new(pager.create_vmo(key, 4 * p).unwrap());
    supply_pattern(&dev, &pager, &vmo, 0..p);
    assert_eq!(committed(&vmo), p);

    let mut a = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, 4 * p)
    });
    let req = next_read(&pager, key);
    assert_eq!(req.range(), p..4 * p);
    a.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    assert_eq!(pager.detach_vmo(&vmo), Ok(()));
    assert_eq!(a.join(), Err(Status::BAD_STATE), "a waiter wakes with BAD_STATE");

    let done = pager.wait(Some(WAIT)).expect("a COMPLETE packet after detach");
    assert_eq!((done.kind, done.key), (PacketKind::Complete, key), "{done:?}");
    assert_eq!(committed(&vmo), 0, "detach frees the pages");
    assert_eq!(vmo.commit(0, p), Err(Status::BAD_STATE));
    assert_eq!(vmo.commit(2 * p, p), Err(Status::BAD_STATE));
    assert_eq!(st(vmo.read_to_vec(0, 16)), Status::BAD_STATE, "page 0 was freed too");
    assert_eq!(vmo.write(b"x", 3 * p), Err(Status::BAD_STATE));
    let aux = new_vmo(&dev, 1);
    aux.write(b"late", 0).unwrap();
    assert_eq!(pager.supply_pages(&vmo, p..2 * p, &aux, 0), Err(Status::BAD_STATE));
    assert_eq!(committed(&vmo), 0);
    // FAIL after detach is BAD_STATE, after the range check (Zircon's
    // `VmCowPages::FailPageRequestsLocked`, the `zx_pager_op_range` reference page, and
    // `Pager.FailAfterDetach` in zircon/system/utest/core/pager/pager.cc; the no-op that an
    // older Zircon made of it is not what Zircon does now).
    assert_eq!(pager.fail(&vmo, 0..4 * p, Status::IO), Err(Status::BAD_STATE));
    assert_eq!(pager.fail(&vmo, 4 * p..5 * p, Status::IO), Err(Status::OUT_OF_RANGE));
    assert_eq!(pager.op_range(PagerOp::from_raw(9), &vmo, 0..p, 0), Err(Status::NOT_SUPPORTED));
    assert_no_packet(&pager, "after COMPLETE");
    // The VMO handle itself still works for calls that need no page.
    assert_eq!(vmo.get_size(), Ok(4 * p));
}

/// Closing the last handle of a pager VMO sends COMPLETE with its key;
/// a pager serves several VMOs, each packet carrying its VMO's key.
#[test]
fn closing_a_pager_vmo_sends_complete_and_keys_tell_vmos_apart() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let v1 = Arc::new(pager.create_vmo(111, 2 * p).unwrap());
    let v2 = Arc::new(pager.create_vmo(222, 2 * p).unwrap());
    let c2 = bg("COMMIT v2", {
        let v = v2.clone();
        move || v.commit(p, p)
    });
    let req = next_read(&pager, 222);
    assert_eq!(req.range(), p..2 * p);
    supply_pattern(&dev, &pager, &v2, req.range());
    assert_eq!(c2.join(), Ok(()));
    let c1 = bg("COMMIT v1", {
        let v = v1.clone();
        move || v.commit(0, p)
    });
    let req = next_read(&pager, 111);
    assert_eq!(req.range(), 0..p);
    supply_pattern(&dev, &pager, &v1, req.range());
    assert_eq!(c1.join(), Ok(()));

    // A duplicate keeps the VMO alive; the last close sends COMPLETE.
    let v2 = Arc::into_inner(v2).expect("no other reference");
    let dup = v2.duplicate_handle(Rights::SAME_RIGHTS).unwrap();
    drop(v2);
    assert_no_packet(&pager, "a handle is left");
    assert_eq!(read(&dup, p, 8), pattern(p..p + 8));
    drop(dup);
    let done = pager.wait(Some(WAIT)).expect("COMPLETE after the last close");
    assert_eq!((done.kind, done.key), (PacketKind::Complete, 222), "{done:?}");
    assert_no_packet(&pager, "after COMPLETE");
    assert_eq!(read(&v1, 0, 8), pattern(0..8));
}

/// Zircon's `ClosePagerTest`: closing the pager's last handle wakes a
/// blocked COMMIT with BAD_STATE, and every later access that needs a page
/// the VMO does not hold is BAD_STATE. Closing the pager is not a detach: the
/// pages supplied before stay, readable, writable and counted in
/// `committed_bytes`; ZERO still works, and so does a slice of the VMO. (The
/// module freed them before: this test asserted `committed_bytes` 0 and a
/// BAD_STATE read of page 0. It follows Zircon's
/// `PagerProxy::OnDispatcherClose`, which closes the page source only, and
/// `Pager.ClosePagerTest`, which reads the supplied page after the close.)
#[test]
fn closing_the_pager_fails_waiters_but_keeps_the_supplied_pages() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xc105e;
    let vmo = Arc::new(pager.create_vmo(key, 4 * p).unwrap());
    supply_pattern(&dev, &pager, &vmo, 0..p);
    supply_pattern(&dev, &pager, &vmo, 3 * p..4 * p);
    let slice = vmo.create_child(VmoChildOptions::SLICE, 0, 2 * p).unwrap();
    let mut a = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, 3 * p)
    });
    assert_eq!(next_read(&pager, key).range(), p..3 * p);
    a.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    drop(pager);
    assert_eq!(a.join(), Err(Status::BAD_STATE));

    // What needs an absent page is BAD_STATE, at once.
    assert_eq!(vmo.commit(0, 2 * p), Err(Status::BAD_STATE));
    assert_eq!(st(vmo.read_to_vec(p, 4)), Status::BAD_STATE);
    assert_eq!(st(vmo.read_to_vec(p - 2, 4)), Status::BAD_STATE, "straddling pages 0 and 1");
    assert_eq!(vmo.write(b"x", 2 * p + 1), Err(Status::BAD_STATE));
    assert_eq!(st(slice.read_to_vec(p, 4)), Status::BAD_STATE);
    // A clone asks nothing of the pager when it is made, so it is made; what it reads through
    // to a page the VMO lacks is BAD_STATE, what the VMO holds it reads.
    let clone = vmo.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * p).unwrap();
    assert_eq!(read(&clone, 0, 8), pattern(0..8));
    assert_eq!(st(clone.read_to_vec(p, 4)), Status::BAD_STATE);
    drop(clone);

    // The supplied pages stay: read, written, committed, zeroed, seen by a slice.
    assert_eq!(committed(&vmo), 2 * p, "the supplied pages are still counted");
    let info = vmo.info().unwrap();
    assert!(info.flags.contains(VmoInfoFlags::PAGER_BACKED), "{:?}", info.flags);
    assert_eq!(read(&vmo, 0, p as usize), pattern(0..p));
    assert_eq!(read(&vmo, 3 * p, p as usize), pattern(3 * p..4 * p));
    assert_eq!(vmo.commit(0, p), Ok(()), "COMMIT of a page the VMO holds needs no pager");
    vmo.write(b"after close", 10).unwrap();
    let mut want = pattern(0..p);
    want[10..21].copy_from_slice(b"after close");
    assert_eq!(read(&vmo, 0, p as usize), want);
    assert_eq!(read(&slice, 0, p as usize), want, "the slice sees the same page");
    assert_eq!(vmo.op_range(VmoOp::ZERO, 3 * p + 8, 8), Ok(()));
    let mut want3 = pattern(3 * p..4 * p);
    want3[8..16].fill(0);
    assert_eq!(read(&vmo, 3 * p, p as usize), want3);
    let snap = vmo.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, p).unwrap();
    assert_eq!(read(&snap, 0, p as usize), want, "a child of the supplied page");
    assert_eq!(committed(&vmo), 2 * p);
    assert_eq!(vmo.decommit(0, p), Err(Status::NOT_SUPPORTED), "still pager-backed");
}

/// Zircon's `zx_pager_supply_pages` takes the pages out of the aux VMO
/// (`VmObjectPaged::TakePages` in zircon/kernel/vm/vm_object_paged.cc),
/// which the reference page says "must have been created by
/// `zx_vmo_create()`, must have no children": an aux VMO that is
/// pager-backed (also the pager VMO itself), a slice, a snapshot (also one of
/// a pager VMO), or the parent of a slice or of a snapshot is BAD_STATE, and
/// nothing moves. The aux range is checked first (OUT_OF_RANGE), the aux VMO
/// next, the pager VMO's range after it; BAD_STATE also for no pages. A
/// blocked COMMIT keeps waiting through the refusals, and a supply from the
/// parent once its child is gone ends it. (The module took pages from
/// children and parents before, and answered a pager-backed aux with
/// NOT_SUPPORTED.)
#[test]
fn supply_refuses_an_aux_vmo_that_is_pager_backed_a_child_or_has_children() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xa0c5;
    let vmo = Arc::new(pager.create_vmo(key, 2 * p).unwrap());
    let mut c = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, p)
    });
    assert_eq!(next_read(&pager, key).range(), 0..p);
    c.wait_blocked_in(sys::VMO_IOC_OP_RANGE);

    let filled = |pages: u64| {
        let v = new_vmo(&dev, pages);
        v.write(&pattern(0..pages * p), 0).unwrap();
        v
    };
    let parent_of_slice = filled(2);
    let slice = parent_of_slice.create_child(VmoChildOptions::SLICE, 0, 2 * p).unwrap();
    let parent_of_snapshot = filled(2);
    let snapshot = parent_of_snapshot.create_child(VmoChildOptions::SNAPSHOT, 0, 2 * p).unwrap();
    let other = Pager::create(&dev).unwrap();
    let pager_backed = other.create_vmo(3, 2 * p).unwrap();
    supply_pattern(&dev, &other, &pager_backed, 0..2 * p);
    let child_of_pager_vmo =
        pager_backed.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * p).unwrap();
    let cases: [(&str, &Vmo); 7] = [
        ("the pager VMO itself", &vmo),
        ("another pager's VMO (with a child)", &pager_backed),
        ("a snapshot of a pager VMO", &child_of_pager_vmo),
        ("a slice", &slice),
        ("a snapshot", &snapshot),
        ("the parent of a slice", &parent_of_slice),
        ("the parent of a snapshot", &parent_of_snapshot),
    ];
    // Reads only what needs no pager: the pager VMO under test has no page.
    let content = |aux: &Vmo| {
        if aux.raw_handle() == vmo.raw_handle() { Vec::new() } else { read(aux, 0, 2 * p as usize) }
    };
    for (what, aux) in cases {
        let before = (committed(aux), content(aux));
        assert_eq!(pager.supply_pages(&vmo, 0..p, aux, 0), Err(Status::BAD_STATE), "{what}");
        assert_eq!(
            pager.supply_pages(&vmo, 0..p, aux, 2 * p),
            Err(Status::OUT_OF_RANGE),
            "{what}: the aux range comes first"
        );
        assert_eq!(
            pager.supply_pages(&vmo, 2 * p..3 * p, aux, 0),
            Err(Status::BAD_STATE),
            "{what}: before the range of the pager VMO"
        );
        assert_eq!(pager.supply_pages(&vmo, 0..0, aux, 0), Err(Status::BAD_STATE), "{what}");
        assert_eq!((committed(aux), content(aux)), before, "{what}: untouched");
    }
    assert!(!c.finished_within(QUIET), "the COMMIT still waits");
    assert_eq!(committed(&vmo), 0);
    assert_no_packet(&other, "the pager VMO used as an aux VMO asked for nothing");

    // Without its child, the parent is a plain VMO again.
    drop(slice);
    assert_eq!(pager.supply_pages(&vmo, 0..p, &parent_of_slice, 0), Ok(()));
    assert_eq!(c.join(), Ok(()));
    assert_eq!(read(&vmo, 0, p as usize), pattern(0..p));
    assert_eq!(committed(&parent_of_slice), p, "the supplied page left the aux VMO");
    assert_no_packet(&pager, "after the supply");
}

/// How many threads each `fault-writers` child runs.
const FAULT_THREADS: usize = 4;

/// Three processes of four threads each fault on one absent page of a pager
/// VMO from kernel mode (a WRITE ioctl whose source buffer is their mapping)
/// and all sleep on its one request, which the pager fails once: every
/// thread of every process gets the failure exactly once (EFAULT, the
/// mapping's SIGBUS seen from a copy) and none asks again. The failure is
/// kept with the VMO's page state (a record per page and thread in the
/// source, `rust/pager.rs`), not in a fixed-size table; the 16-thread case of
/// one process is `security::a_failed_request_reaches_every_faulting_thread`.
#[test]
fn a_failed_request_reaches_every_faulting_thread_of_every_process() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xfa17;
    let vmo = pager.create_vmo(key, 2 * p).unwrap();
    supply_pattern(&dev, &pager, &vmo, 0..p);
    let mut children: Vec<ChildProc> = (0..3)
        .map(|_| spawn_role("fault-writers", key, std::process::Stdio::from(export(&vmo))))
        .collect();
    let mut tids = Vec::new();
    for c in &children {
        for _ in 0..FAULT_THREADS {
            let line = c.line();
            let tid: i32 = line
                .strip_prefix("tid ")
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("expected a thread id, got {line:?}"));
            tids.push(tid);
        }
    }
    let req = next_read(&pager, key);
    assert_eq!(req.range(), p..2 * p, "one request for all of them");
    let start = Instant::now();
    let asleep = |tid: i32| {
        let s = std::fs::read_to_string(format!("/proc/{tid}/stat")).unwrap_or_default();
        matches!(s.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()), Some('S' | 'D'))
    };
    let mut streak = 0;
    while streak < 3 {
        streak = if tids.iter().all(|&t| asleep(t)) { streak + 1 } else { 0 };
        assert!(start.elapsed() < WAIT, "the faulting threads did not all go to sleep");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_no_packet(&pager, "every thread joined the one request");
    assert_eq!(pager.fail(&vmo, p..2 * p, Status::IO), Ok(()));
    for c in &children {
        for _ in 0..FAULT_THREADS {
            let line = loop {
                match c.lines.recv_timeout(Duration::from_millis(20)) {
                    Ok(l) => break l,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Ok(again) = pager.wait(Some(Duration::ZERO)) {
                            // Fail it too, so that the thread ends, and report the lost failure.
                            let _ = pager.fail(&vmo, again.range(), Status::IO);
                            panic!("a thread asked again ({again:?}): its failure was lost");
                        }
                        assert!(start.elapsed() < 2 * WAIT, "a faulting thread still waits");
                    }
                    Err(e) => panic!("no result from the child: {e}"),
                }
            };
            assert_eq!(line, format!("result {}", Status::INVALID_ARGS), "EFAULT for each thread");
        }
    }
    for c in &mut children {
        let status = c.child.wait().expect("wait for the child");
        assert!(status.success(), "the child failed: {status}");
    }
    assert_no_packet(&pager, "after the failure");
    assert_eq!(read(&vmo, 0, p as usize), pattern(0..p));
}

/// Resizable pager-backed VMOs (`ZX_VMO_RESIZABLE` at `zx_pager_create_vmo`,
/// refused before; Zircon's `sys_pager_create_vmo` passes the option to
/// `VmObjectDispatcher::parse_create_syscall_flags`): the handle has RESIZE
/// and the info RESIZABLE. Shrinking frees the pages past the end (the
/// supplied ones too) and makes reads, COMMITs, supplies and FAILs there
/// OUT_OF_RANGE (`VmCowPages::SupplyPagesLocked`, `FailPageRequestsLocked`);
/// growing adds absent pages that the pager supplies on demand. Any option
/// but RESIZABLE and TRAP_DIRTY is INVALID_ARGS (DISCARDABLE included), and
/// a pager VMO made without RESIZABLE is not resizable (UNAVAILABLE).
#[test]
fn a_resizable_pager_vmo_grows_and_shrinks() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0x7e51;
    for bad in [1, 1 << 2, 1 << 4, 1 << 7, 1 << 31] {
        assert_eq!(
            pager.create_vmo_with_options(VmoOptions::from_bits_retain(bad), key, p).map(drop),
            Err(Status::INVALID_ARGS),
            "options {bad:#x}"
        );
    }
    assert_eq!(
        pager.create_vmo_with_options(VmoOptions::RESIZABLE, key, u64::MAX).map(drop),
        Err(Status::OUT_OF_RANGE),
        "the size is checked first"
    );
    let fixed = pager.create_vmo(1, p).unwrap();
    assert_eq!(fixed.set_size(2 * p), Err(Status::UNAVAILABLE));
    assert!(!fixed.info().unwrap().flags.contains(VmoInfoFlags::RESIZABLE));

    let vmo = Arc::new(
        Vmo::create_pager_backed_with_options(&pager, VmoOptions::RESIZABLE, key, 4 * p).unwrap(),
    );
    let info = vmo.info().unwrap();
    assert!(info.flags.contains(VmoInfoFlags::RESIZABLE | VmoInfoFlags::PAGER_BACKED));
    assert_eq!(info.rights, Rights::DEFAULT_VMO | Rights::RESIZE);
    supply_pattern(&dev, &pager, &vmo, 0..4 * p);

    assert_eq!(vmo.set_size(2 * p - 10), Ok(()));
    assert_eq!(vmo.get_size(), Ok(2 * p));
    assert_eq!(committed(&vmo), 2 * p, "the pages past the end are freed");
    assert_eq!(read(&vmo, 0, 2 * p as usize), pattern(0..2 * p));
    assert_eq!(st(vmo.read_to_vec(2 * p, 1)), Status::OUT_OF_RANGE);
    assert_eq!(vmo.commit(2 * p, p), Err(Status::OUT_OF_RANGE));
    let aux = new_vmo(&dev, 1);
    aux.write(b"late", 0).unwrap();
    assert_eq!(pager.supply_pages(&vmo, 2 * p..3 * p, &aux, 0), Err(Status::OUT_OF_RANGE));
    assert_eq!(committed(&aux), p, "nothing taken");
    assert_eq!(pager.fail(&vmo, 2 * p..3 * p, Status::IO), Err(Status::OUT_OF_RANGE));
    assert_no_packet(&pager, "nothing asked past the end");

    // Growing: the new pages are absent, the ones the shrink freed too, and asked for.
    assert_eq!(vmo.set_size(5 * p + 1), Ok(()));
    assert_eq!(vmo.get_size(), Ok(6 * p));
    assert_eq!(committed(&vmo), 2 * p);
    let r = bg("read of the grown pages", {
        let v = vmo.clone();
        move || v.read_to_vec(p, 5 * p as usize)
    });
    let req = next_read(&pager, key);
    assert_eq!(req.range(), 2 * p..6 * p, "the pages the growth added");
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(r.join(), Ok(pattern(p..6 * p)));
    assert_eq!(committed(&vmo), 6 * p);

    let no_resize = vmo.duplicate_handle(Rights::DEFAULT_VMO).unwrap();
    assert_eq!(no_resize.set_size(p), Err(Status::ACCESS_DENIED));
    assert_eq!(vmo.get_size(), Ok(6 * p));
    assert_no_packet(&pager, "all served");
}

/// Zircon's `ResizeCommitTest` (zircon/system/utest/core/pager/pager.cc):
/// a COMMIT waits for [0, 3 pages); the pager supplies page 2, the VMO
/// shrinks to one page, and the COMMIT still waits, now for page 0 only;
/// supplying page 0 ends it with OK (a VMO that shrank is no error for
/// COMMIT), and no request follows. `VmCowPages::Resize` ends the part of a
/// request past the new end as if supplied (`InvalidateReadRequestsLocked`).
#[test]
fn shrinking_under_a_waiting_commit_waits_only_for_the_pages_inside() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0x5e1;
    let vmo = Arc::new(pager.create_vmo_with_options(VmoOptions::RESIZABLE, key, 3 * p).unwrap());
    let mut c = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, 3 * p)
    });
    assert_eq!(next_read(&pager, key).range(), 0..3 * p);
    c.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    supply_pattern(&dev, &pager, &vmo, 2 * p..3 * p);
    assert_eq!(vmo.set_size(p), Ok(()));
    c.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    assert!(!c.finished_within(QUIET), "the COMMIT waits for page 0");
    supply_pattern(&dev, &pager, &vmo, 0..p);
    assert_eq!(c.join(), Ok(()));
    assert_no_packet(&pager, "no request after the shrink");
    assert_eq!(committed(&vmo), p);
}

/// Waiters whose pages all lie past a shrink's new end wake (their requests
/// end as if supplied, as Zircon's `VmCowPages::Resize` ends them) and find
/// the range gone: a read is OUT_OF_RANGE, a COMMIT OK. A request not read
/// yet is withdrawn with its packet; one that straddles the new end keeps
/// its waiter, and its packet, not read yet, is cut at the end.
#[test]
fn shrinking_ends_the_requests_past_the_end() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0x5e2;
    let vmo = Arc::new(pager.create_vmo_with_options(VmoOptions::RESIZABLE, key, 8 * p).unwrap());
    let mut r = bg("read of page 6", {
        let v = vmo.clone();
        move || v.read_to_vec(6 * p, 8)
    });
    assert_eq!(next_read(&pager, key).range(), 6 * p..7 * p);
    r.wait_blocked_in(sys::VMO_IOC_READ);
    let mut far = bg("COMMIT of page 7", {
        let v = vmo.clone();
        move || v.commit(7 * p, p)
    });
    far.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    let mut mid = bg("COMMIT of pages 2-4", {
        let v = vmo.clone();
        move || v.commit(2 * p, 3 * p)
    });
    mid.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    // Two packets are waiting, unread: [7, 8) and [2, 5).
    assert_eq!(vmo.set_size(3 * p), Ok(()));
    assert_eq!(r.join(), Err(Status::OUT_OF_RANGE), "the read's pages are gone");
    assert_eq!(far.join(), Ok(()), "a COMMIT past the new end has nothing to do");
    let req = next_read(&pager, key);
    assert_eq!(req.range(), 2 * p..3 * p, "the straddling request, cut at the end");
    assert_no_packet(&pager, "the request past the end was withdrawn");
    assert!(!mid.finished_within(QUIET), "the straddling COMMIT waits for page 2");
    assert_eq!(
        pager.supply_pages(&vmo, 2 * p..5 * p, &new_vmo(&dev, 3), 0),
        Err(Status::OUT_OF_RANGE)
    );
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(mid.join(), Ok(()));
    assert_eq!(read(&vmo, 2 * p, p as usize), pattern(2 * p..3 * p));
    assert_no_packet(&pager, "all served");
}

/// What the pager ioctls reject: DECOMMIT and SNAPSHOT children of pager
/// VMOs (NOT_SUPPORTED; a SNAPSHOT_AT_LEAST_ON_WRITE child pages in its
/// range and then has the supplied contents), handle types, FAIL codes,
/// alignment, foreign VMOs, unsupported pager ops, rights and reserved
/// fields.
#[test]
fn pager_errors() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xe4404;
    let vmo = Arc::new(pager.create_vmo(key, 4 * p).unwrap());
    supply_pattern(&dev, &pager, &vmo, 0..p);

    // DECOMMIT: NOT_SUPPORTED on the VMO and on a slice, supplied or not.
    assert_eq!(vmo.decommit(0, p), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.decommit(2 * p, p), Err(Status::NOT_SUPPORTED));
    let slice = vmo.create_child(VmoChildOptions::SLICE, 0, 2 * p).unwrap();
    assert_eq!(slice.decommit(0, p), Err(Status::NOT_SUPPORTED));
    assert_eq!(read(&slice, 0, 8), pattern(0..8), "a slice sees the supplied page");
    assert_eq!(committed(&vmo), p);

    // SNAPSHOT: NOT_SUPPORTED; SNAPSHOT_AT_LEAST_ON_WRITE asks the pager nothing when it is
    // made: the child's first read of a page asks the parent's pager, and the page then serves
    // both.
    assert_eq!(
        vmo.create_child(VmoChildOptions::SNAPSHOT, 0, 4 * p).map(drop),
        Err(Status::NOT_SUPPORTED)
    );
    let child = Arc::new(
        vmo.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * p)
            .expect("SNAPSHOT_AT_LEAST_ON_WRITE child"),
    );
    assert_no_packet(&pager, "after creating the child");
    let mut c = bg("read the child", {
        let c = child.clone();
        move || c.read_to_vec(0, 4 * p as usize)
    });
    let served = serve_until(&dev, &pager, &vmo, key, || c.finished_within(Duration::ZERO));
    assert!(union_is(&served, p..4 * p), "the child's read asked for {served:x?}");
    assert_eq!(c.join().expect("the child's read"), pattern(0..4 * p));
    assert_eq!(read(&vmo, 0, 4 * p as usize), pattern(0..4 * p));
    assert_no_packet(&pager, "after the parent read the pages the child asked for");
    let child = Arc::try_unwrap(child).expect("the reader is done");
    assert_eq!(read(&child, 0, 4 * p as usize), pattern(0..4 * p));
    child.write(b"child", 0).unwrap();
    assert_eq!(read(&vmo, 0, 5), pattern(0..5), "the child's writes stay in the child");
    assert_eq!(read(&child, 0, 5), b"child");
    drop(child);
    assert_no_packet(&pager, "after the child");

    // Handle types.
    let raw = |r: sys::IoctlResult| r.map_err(Status::from_errno);
    assert_eq!(
        raw(sys::op_range(dev.as_fd(), pager.raw_handle(), sys::VMO_OP_COMMIT, 0, p)),
        Err(Status::WRONG_TYPE),
        "a pager handle is not a VMO"
    );
    let mut cv =
        sys::vmo_pager_create_vmo_args { pager: vmo.raw_handle(), size: p, ..Default::default() };
    assert_eq!(raw(sys::pager_create_vmo(dev.as_fd(), &mut cv)), Err(Status::WRONG_TYPE));
    let mut w = sys::vmo_pager_wait_args { pager: vmo.raw_handle(), ..Default::default() };
    assert_eq!(raw(sys::pager_wait(dev.as_fd(), &mut w)), Err(Status::WRONG_TYPE));
    let mut w = sys::vmo_pager_wait_args { pager: 0x7fff_fff0, ..Default::default() };
    assert_eq!(raw(sys::pager_wait(dev.as_fd(), &mut w)), Err(Status::BAD_HANDLE));

    // FAIL codes outside the allowed five (the request, if any, stays).
    for code in [Status::NO_MEMORY, Status::ACCESS_DENIED, Status::INVALID_ARGS, Status::OK] {
        assert_eq!(pager.fail(&vmo, 2 * p..3 * p, code), Err(Status::INVALID_ARGS), "{code}");
    }
    for data in [0, 1 << 40, u64::MAX] {
        assert_eq!(
            pager.op_range(PagerOp::FAIL, &vmo, 2 * p..3 * p, data),
            Err(Status::INVALID_ARGS),
            "FAIL data {data:#x}"
        );
    }
    assert_eq!(pager.fail(&vmo, 2 * p..3 * p, Status::IO), Ok(()), "an allowed code");

    // Alignment.
    let aux = new_vmo(&dev, 4);
    for (range, aux_off) in [(100..p, 0), (0..p + 1, 0), (0..p, 1), (p + 1..2 * p + 1, 0)] {
        aux.write(b"a", 0).unwrap();
        assert_eq!(
            pager.supply_pages(&vmo, range.clone(), &aux, aux_off),
            Err(Status::INVALID_ARGS),
            "supply {range:x?} aux {aux_off:#x}"
        );
    }
    for range in [1..p, 0..100, p..2 * p - 1] {
        assert_eq!(
            pager.fail(&vmo, range.clone(), Status::IO),
            Err(Status::INVALID_ARGS),
            "fail {range:x?}"
        );
    }

    // Ranges.
    assert_eq!(pager.supply_pages(&vmo, 4 * p..5 * p, &aux, 0), Err(Status::OUT_OF_RANGE));
    assert_eq!(pager.supply_pages(&vmo, 2 * p..4 * p, &aux, 3 * p), Err(Status::OUT_OF_RANGE));

    // Ops the module does not know: NOT_SUPPORTED, as Zircon's `PagerDispatcher::RangeOp`
    // answers an unknown op (the module answered INVALID_ARGS for unknown ops before). The
    // checks before the op still come first: alignment, the pager's MANAGE_VMO, the VMO's
    // WRITE, a VMO of another pager. (The writeback ops are in `writeback.rs`.)
    let unknown = [0, 5, 6, 0x80, 0x7fff_ffff, u32::MAX].map(PagerOp::from_raw);
    for op in unknown {
        for data in [0, u64::from(sys::VMO_ERRNO_IO), u64::MAX] {
            assert_eq!(
                pager.op_range(op, &vmo, 0..p, data),
                Err(Status::NOT_SUPPORTED),
                "pager op {op:?} data {data:#x}"
            );
        }
        assert_eq!(pager.op_range(op, &vmo, 1..p, 0), Err(Status::INVALID_ARGS), "{op:?}");
        assert_eq!(
            pager.op_range(op, &vmo, 8 * p..9 * p, 0),
            Err(Status::NOT_SUPPORTED),
            "{op:?}: the op before the range"
        );
    }
    let ro_vmo = vmo.duplicate_handle(Rights::DEFAULT_VMO - Rights::WRITE).unwrap();
    for op in [PagerOp::from_raw(77), PagerOp::FAIL] {
        assert_eq!(pager.op_range(op, &ro_vmo, 0..p, 0), Err(Status::ACCESS_DENIED), "{op:?}");
    }
    drop(ro_vmo);

    // A VMO of another pager, and an ordinary VMO.
    let other = Pager::create(&dev).unwrap();
    let theirs = other.create_vmo(1, 2 * p).unwrap();
    aux.write(b"a", 0).unwrap();
    assert_eq!(pager.supply_pages(&theirs, 0..p, &aux, 0), Err(Status::INVALID_ARGS));
    assert_eq!(pager.fail(&theirs, 0..p, Status::IO), Err(Status::INVALID_ARGS));
    assert_eq!(
        pager.op_range(PagerOp::from_raw(77), &theirs, 0..p, 0),
        Err(Status::INVALID_ARGS),
        "the pair is checked before the op"
    );
    assert_eq!(pager.supply_pages(&aux, 0..p, &aux, p), Err(Status::INVALID_ARGS));
    assert_eq!(committed(&aux), p, "a rejected supply takes nothing");

    // Rights: aux needs READ and WRITE; the pager ATTACH_VMO / MANAGE_VMO.
    let ro_aux = aux.duplicate_handle(Rights::DEFAULT_VMO - Rights::WRITE).unwrap();
    assert_eq!(pager.supply_pages(&vmo, 2 * p..3 * p, &ro_aux, 0), Err(Status::ACCESS_DENIED));
    let no_attach = Pager::create(&dev)
        .unwrap()
        .replace_handle(Rights::DEFAULT_PAGER - Rights::ATTACH_VMO)
        .unwrap();
    assert_eq!(no_attach.basic_info().unwrap().rights, Rights::DEFAULT_PAGER - Rights::ATTACH_VMO);
    assert_eq!(no_attach.create_vmo(2, p).map(drop), Err(Status::ACCESS_DENIED));
    let no_manage = Pager::create(&dev)
        .unwrap()
        .replace_handle(Rights::DEFAULT_PAGER - Rights::MANAGE_VMO)
        .unwrap();
    let managed = no_manage.create_vmo(3, 2 * p).expect("ATTACH_VMO is enough to create");
    assert_eq!(no_manage.supply_pages(&managed, 0..p, &aux, 0), Err(Status::ACCESS_DENIED));
    assert_eq!(no_manage.fail(&managed, 0..p, Status::IO), Err(Status::ACCESS_DENIED));
    assert_eq!(no_manage.detach_vmo(&managed), Err(Status::ACCESS_DENIED));
    assert_eq!(
        no_manage.wait(Some(Duration::ZERO)),
        Err(Status::TIMED_OUT),
        "waiting needs no right"
    );
    assert_eq!(
        pager.duplicate_handle(Rights::SAME_RIGHTS).map(drop),
        Err(Status::ACCESS_DENIED),
        "a pager handle has no DUPLICATE"
    );

    // Options and reserved fields must be zero.
    let mut pc = sys::vmo_pager_create_args { options: 1, ..Default::default() };
    assert_eq!(raw(sys::pager_create(dev.as_fd(), &mut pc)), Err(Status::INVALID_ARGS));
    assert_eq!(pc.handle, 0);
    for (options, reserved) in [(1, 0), (0, 1)] {
        let mut cv = sys::vmo_pager_create_vmo_args {
            pager: pager.raw_handle(),
            options,
            size: p,
            reserved,
            ..Default::default()
        };
        assert_eq!(raw(sys::pager_create_vmo(dev.as_fd(), &mut cv)), Err(Status::INVALID_ARGS));
    }
    let sa = sys::vmo_pager_supply_args {
        pager: pager.raw_handle(),
        vmo: vmo.raw_handle(),
        offset: 2 * p,
        length: p,
        aux_vmo: aux.raw_handle(),
        reserved: 1,
        aux_offset: 0,
    };
    assert_eq!(raw(sys::pager_supply(dev.as_fd(), sa)), Err(Status::INVALID_ARGS));
    let oa = sys::vmo_pager_op_args {
        pager: pager.raw_handle(),
        op: sys::VMO_PAGER_OP_FAIL,
        vmo: vmo.raw_handle(),
        reserved: 1,
        offset: 0,
        length: p,
        data: u64::from(sys::VMO_ERRNO_IO),
    };
    assert_eq!(raw(sys::pager_op_range(dev.as_fd(), oa)), Err(Status::INVALID_ARGS));
    let mut w =
        sys::vmo_pager_wait_args { pager: pager.raw_handle(), reserved: 1, ..Default::default() };
    assert_eq!(raw(sys::pager_wait(dev.as_fd(), &mut w)), Err(Status::INVALID_ARGS));

    // None of that disturbed the VMO.
    assert_eq!(read(&vmo, 0, 8), pattern(0..8));
    assert_no_packet(&pager, "after the error checks");
}

/// `poll` on the device: no packet, no POLLIN (also after the packet was
/// taken); a blocked COMMIT makes the fd readable. Readiness belongs to the
/// handle table: another open `/dev/vmo` stays quiet.
#[test]
fn poll_reports_a_waiting_packet() {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let _g = shared();
    let dev = dev();
    let other_table = vmo_guest_tests::dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0x9011;
    let vmo = Arc::new(pager.create_vmo(key, 2 * p).unwrap());

    assert!(!dev.poll_pager(Some(QUIET)).unwrap(), "no packet yet");
    let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
    let mut fds = [PollFd::new(&dev, PollFlags::IN)];
    assert_eq!(poll(&mut fds, Some(&zero)).unwrap(), 0);

    let c = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, 2 * p)
    });
    assert!(dev.poll_pager(Some(WAIT)).unwrap(), "a request is waiting");
    let mut fds = [PollFd::new(&dev, PollFlags::IN)];
    assert_eq!(poll(&mut fds, Some(&zero)).unwrap(), 1);
    assert!(fds[0].revents().contains(PollFlags::IN), "{:?}", fds[0].revents());
    assert!(!other_table.poll_pager(Some(QUIET)).unwrap(), "another table is quiet");

    let req = pager.wait(Some(Duration::ZERO)).expect("poll said a packet is there");
    assert_eq!((req.kind, req.key, req.range()), (PacketKind::Read, key, 0..2 * p));
    assert!(!dev.poll_pager(Some(QUIET)).unwrap(), "the packet was taken");
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(c.join(), Ok(()));
    assert!(!dev.poll_pager(Some(QUIET)).unwrap(), "all served");

    // A COMPLETE packet makes it readable too.
    drop(Arc::into_inner(vmo).expect("the only reference"));
    assert!(dev.poll_pager(Some(WAIT)).unwrap(), "COMPLETE is waiting");
    let done = pager.wait(Some(Duration::ZERO)).unwrap();
    assert_eq!((done.kind, done.key), (PacketKind::Complete, key));
    assert!(!dev.poll_pager(Some(QUIET)).unwrap(), "the COMPLETE was taken");

    // Two pagers with packets: readable until both queues are empty; a pager
    // closed with unread packets leaves none behind.
    let second = Pager::create(&dev).unwrap();
    let (v1, v2) = (pager.create_vmo(1, p).unwrap(), second.create_vmo(2, p).unwrap());
    drop((v1, v2));
    assert!(dev.poll_pager(Some(WAIT)).unwrap(), "two COMPLETEs are waiting");
    assert_eq!(pager.wait(Some(Duration::ZERO)).unwrap().kind, PacketKind::Complete);
    assert!(dev.poll_pager(Some(QUIET)).unwrap(), "the second pager's COMPLETE is waiting");
    drop(second);
    assert!(!dev.poll_pager(Some(QUIET)).unwrap(), "the closed pager's packet went with it");
}

// ---- Two processes ----------------------------------------------------------

const ROLE_TEST: &str = "pager::child_role";
const KEY_ENV: &str = "VMO_GUEST_PAGER_KEY";

/// Starts this binary again as the child `role` with `stdin`; its standard
/// output is read line by line by a thread (see [`ChildProc::line`]).
fn spawn_role(role: &str, key: u64, stdin: std::process::Stdio) -> ChildProc {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = std::process::Command::new(exe)
        .args(["--exact", ROLE_TEST, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE_ENV, role)
        .env(KEY_ENV, key.to_string())
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn the child process");
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            // libtest prints "test NAME ... " before the test's output.
            if let Some(i) = line.find("CHILD ") {
                if tx.send(line[i + 6..].to_string()).is_err() {
                    break;
                }
            }
        }
    });
    ChildProc { child, lines: rx }
}

/// A child process that is killed if the test ends early.
struct ChildProc {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProc {
    fn pid(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_child(&self.child)
    }

    /// The child's next `CHILD ...` line (without the marker).
    fn line(&self) -> String {
        self.lines.recv_timeout(WAIT).unwrap_or_else(|e| panic!("no line from the child: {e}"))
    }

    /// SIGKILLs the child and checks that it dies within a few seconds.
    fn kill_and_reap(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        rustix::process::kill_process(self.pid(), rustix::process::Signal::KILL)
            .expect("kill the child");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert_eq!(status.signal(), Some(9), "the child died of SIGKILL: {status}");
                return;
            }
            assert!(start.elapsed() < WAIT, "the child did not die in {WAIT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A handle in `dev` for the VMO of `fd` (`VMO_IOC_IMPORT`, same rights).
fn import(dev: &Device, fd: &OwnedFd) -> Vmo {
    Vmo::import_fd(dev, fd.as_fd()).unwrap_or_else(|s| panic!("import: {s}"))
}

/// A new VMO fd for `vmo` (`VMO_IOC_EXPORT`, close-on-exec).
fn export(vmo: &Vmo) -> OwnedFd {
    vmo.export_fd().unwrap_or_else(|s| panic!("export: {s}"))
}

/// Not a test of its own: the child process of the two-process pager tests
/// (ignored in normal runs; run with the role variable set).
#[test]
#[ignore = "child role: started by the pager process tests with VMO_GUEST_CHILD_ROLE set"]
fn child_role() {
    let role = std::env::var(CHILD_ROLE_ENV).expect("run only by the pager process tests");
    let key: u64 = std::env::var(KEY_ENV).expect("key").parse().expect("numeric key");
    let dev = dev();
    let p = pg();
    match role.as_str() {
        // Owns the pager and a pager VMO, page 0 supplied; hands the VMO out
        // as an fd (the parent takes it with pidfd_getfd), reports requests
        // and never serves them. The parent kills it.
        "pager" => {
            use std::os::fd::AsRawFd;
            let pager = Pager::create(&dev).unwrap();
            let vmo = pager.create_vmo(key, 4 * p).unwrap();
            supply_pattern(&dev, &pager, &vmo, 0..p);
            let fd = export(&vmo);
            println!("CHILD fd {}", fd.as_raw_fd());
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(60) {
                if let Ok(r) = pager.wait(Some(Duration::from_millis(200))) {
                    println!("CHILD packet {:?} {} {}", r.kind, r.offset, r.length);
                }
            }
            println!("CHILD not killed");
        }
        // Imports the VMO fd on its standard input, maps its two pages and
        // runs FAULT_THREADS threads that each WRITE 64 bytes of page 1 of
        // the mapping into a VMO of their own (a fault from kernel mode);
        // reports each thread's id, then each thread's result.
        "fault-writers" => {
            let stdin = std::io::stdin().as_fd().try_clone_to_owned().expect("dup stdin");
            let vmo = import(&dev, &stdin);
            let m = Arc::new(vmo.map(0, 2 * p as usize, false).expect("map the VMO"));
            let threads: Vec<_> = (0..FAULT_THREADS)
                .map(|_| {
                    // A sink of its own: a write holds its VMO's inode lock while its copy faults.
                    let (m, sink) = (m.clone(), vmo_guest_tests::new_vmo(&dev, 1));
                    std::thread::spawn(move || {
                        println!("CHILD tid {}", rustix::thread::gettid().as_raw_nonzero());
                        // SAFETY: reads 64 bytes of the mapping `m` owns (a kernel copy, which
                        // faults).
                        let buf =
                            unsafe { std::slice::from_raw_parts(m.as_ptr().add(p as usize), 64) };
                        sink.write(buf, 0)
                    })
                })
                .collect();
            for t in threads {
                println!("CHILD result {}", st(t.join().expect("a faulting thread")));
            }
        }
        // Imports the VMO fd on its standard input and COMMITs all of it,
        // which blocks until the parent kills it.
        "waiter" => {
            let stdin = std::io::stdin().as_fd().try_clone_to_owned().expect("dup stdin");
            let vmo = import(&dev, &stdin);
            println!("CHILD committing");
            let r = vmo.commit(0, 4 * p);
            println!("CHILD commit returned {}", st(r));
        }
        other => panic!("unknown child role {other:?}"),
    }
}

/// Killing the pager's process closes its table and so the pager's last
/// handle: a COMMIT blocked in another process wakes with BAD_STATE, and so
/// does every later access that needs an absent page. The page the dead
/// pager supplied stays readable and writable (closing the pager is not a
/// detach: Zircon's `PagerProxy::OnDispatcherClose`, `Pager.ClosePagerTest`;
/// this test asserted before that the pages went with the pager).
#[test]
fn killing_the_pager_process_fails_waiters_with_bad_state() {
    use rustix::process::{PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};
    let _g = shared();
    let dev = dev();
    let p = pg();
    let key = 0x4b111;
    let mut child = spawn_role("pager", key, std::process::Stdio::null());
    let line = child.line();
    let fd: i32 = line
        .strip_prefix("fd ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected the VMO fd, got {line:?}"));
    let pidfd = pidfd_open(child.pid(), PidfdFlags::empty()).expect("pidfd_open");
    let vmo_fd = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()).expect("pidfd_getfd");
    let vmo = Arc::new(import(&dev, &vmo_fd));
    drop(vmo_fd);
    assert!(vmo.info().unwrap().flags.contains(VmoInfoFlags::PAGER_BACKED));
    assert_eq!(read(&vmo, 0, 64), pattern(0..64), "the child's pager supplied page 0");

    let mut c = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, 4 * p)
    });
    assert_eq!(child.line(), format!("packet Read {p} {}", 3 * p), "the child got our request");
    c.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    child.kill_and_reap();
    assert_eq!(c.join(), Err(Status::BAD_STATE), "the pager died");
    assert_eq!(vmo.commit(0, 2 * p), Err(Status::BAD_STATE));
    assert_eq!(st(vmo.read_to_vec(p, 8)), Status::BAD_STATE);
    assert_eq!(committed(&vmo), p, "the supplied page stays");
    assert_eq!(vmo.commit(0, p), Ok(()));
    assert_eq!(read(&vmo, 0, p as usize), pattern(0..p), "the supplied page stays");
    vmo.write(b"mine", 0).unwrap();
    assert_eq!(read(&vmo, 0, 4), b"mine");
}

/// A process blocked in COMMIT on a pager VMO dies promptly of SIGKILL;
/// the request stays with the pager, which can still fail and supply the
/// range, and a new COMMIT from this process asks again and works.
#[test]
fn a_killed_waiter_dies_promptly_and_the_pager_carries_on() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let key = 0x3a17e4;
    let pager = Pager::create(&dev).unwrap();
    let vmo = Arc::new(pager.create_vmo(key, 4 * p).unwrap());
    let fd = export(&vmo);
    let mut child = spawn_role("waiter", key, std::process::Stdio::from(fd));
    assert_eq!(child.line(), "committing");
    let req = next_read(&pager, key);
    assert_eq!(req.range(), 0..4 * p, "the child's COMMIT");
    let tasks: Vec<PathBuf> =
        std::fs::read_dir(format!("/proc/{}/task", child.pid().as_raw_nonzero()))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
    wait_until_blocked(&tasks, sys::VMO_IOC_OP_RANGE, "the child's COMMIT");
    child.kill_and_reap();
    assert_no_packet(&pager, "after the waiter died (this process still holds the VMO)");

    assert_eq!(pager.fail(&vmo, 0..4 * p, Status::IO), Ok(()), "FAIL with no waiter left");
    let mut c = bg("COMMIT", {
        let v = vmo.clone();
        move || v.commit(0, 4 * p)
    });
    let again = next_read(&pager, key);
    assert_eq!(again.range(), 0..4 * p, "a new request");
    c.wait_blocked_in(sys::VMO_IOC_OP_RANGE);
    supply_pattern(&dev, &pager, &vmo, again.range());
    assert_eq!(c.join(), Ok(()));
    assert_eq!(read(&vmo, 0, 4 * p as usize), pattern(0..4 * p));
    assert_eq!(committed(&vmo), 4 * p);
    assert_no_packet(&pager, "after the supply");
}

/// Read-ahead of mapped faults, as Linux reads ahead for a mapping advised
/// `MADV_SEQUENTIAL`: without the advice every fault asks for its page only
/// (Zircon's kernel does no prefetching, and its core tests count one-page
/// requests); with it, a sequential mapped read of N pages does not cost N
/// requests: the first fault asks for 16 pages, and each fault where the
/// last request ended twice as many, up to 256, so 1024 pages cost at most
/// 1024 / 16 requests, each for pages no request asked for before.
#[test]
fn sequential_mapped_faults_read_ahead() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let n = 1024u64;
    let pager = Pager::create(&dev).unwrap();
    let key = 0x5ead;
    let vmo = Arc::new(pager.create_vmo(key, n * p).unwrap());
    // Without the advice: one page per fault, sequential or not.
    let plain = Arc::new(vmo.map(0, (4 * p) as usize, false).unwrap());
    let mut reader = bg("unadvised mapped read", {
        let m = plain.clone();
        move || m.read_to_vec(0, (4 * p) as usize)
    });
    let served = serve_until(&dev, &pager, &vmo, key, || reader.finished_within(Duration::ZERO));
    assert_eq!(reader.join(), Ok(pattern(0..4 * p)));
    assert_eq!(served, vec![0..p, p..2 * p, 2 * p..3 * p, 3 * p..4 * p]);

    let m = Arc::new(vmo.map(0, (n * p) as usize, false).unwrap());
    assert_eq!(crate::security::madvise(&m, 0, (n * p) as usize, libc::MADV_SEQUENTIAL), 0);
    let mut reader = bg("sequential mapped read", {
        let m = m.clone();
        move || m.read_to_vec(0, (n * p) as usize)
    });
    let served = serve_until(&dev, &pager, &vmo, key, || reader.finished_within(Duration::ZERO));
    assert_eq!(reader.join(), Ok(pattern(0..n * p)));
    assert!(disjoint(&served), "{served:x?}");
    assert!(
        served.len() as u64 <= n / 16,
        "{} requests for {n} sequential pages: {served:x?}",
        served.len()
    );
    assert_eq!(served[0], 4 * p..20 * p, "the first fault asks for 16 pages: {served:x?}");
    assert_eq!(served[1], 20 * p..52 * p, "the next for 32: {served:x?}");
}

/// The `pager-evicted-pages` line of `/sys/kernel/debug/vmo/discardable`.
fn evicted_total() -> Option<u64> {
    let text = std::fs::read_to_string("/sys/kernel/debug/vmo/discardable").ok()?;
    let line = text.lines().find(|l| l.starts_with("pager-evicted-pages"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `vmo-pager-evicted-pages` line of a VMO fd's fdinfo.
fn evicted_fdinfo(fd: &OwnedFd) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    let line = text.lines().find(|l| l.starts_with("vmo-pager-evicted-pages:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Under memory pressure (`drop_caches` runs every shrinker, as reclaim
/// would) the clean pages of a pager-backed VMO are evicted and asked of
/// the pager again on the next access, which then reads the pager's bytes;
/// dirty pages and ALWAYS_NEED ranges stay (ALWAYS_NEED is sticky: a later
/// DONT_NEED does not undo it). The counts show it: the VMO fd's fdinfo and
/// debugfs. A VMO whose pager closed loses no page (nothing could bring it
/// back).
#[test]
fn clean_pages_are_evicted_under_pressure_and_asked_for_again() {
    let _g = exclusive();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xe71c;
    let vmo = Arc::new(pager.create_vmo(key, 32 * p).unwrap());
    supply_pattern(&dev, &pager, &vmo, 0..32 * p);
    vmo.write(b"dirty", 3 * p).unwrap();
    assert_eq!(vmo.op_range(VmoOp::ALWAYS_NEED, 8 * p + 1, 4 * p - 2), Ok(()));
    assert_eq!(vmo.op_range(VmoOp::DONT_NEED, 8 * p, 4 * p), Ok(()));
    let fd = export(&vmo);
    let before = evicted_total();
    assert_eq!(evicted_fdinfo(&fd), Some(0));
    std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    let start = Instant::now();
    while committed(&vmo) != 5 * p {
        assert!(start.elapsed() < WAIT, "not evicted: committed {}", committed(&vmo));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(evicted_fdinfo(&fd), Some(27));
    if let (Some(b), Some(a)) = (before, evicted_total()) {
        assert!(a >= b + 27, "debugfs: {b} then {a}");
    }
    // The dirty page and the ALWAYS_NEED pages need no request.
    assert_eq!(read(&vmo, 3 * p, 5), b"dirty");
    assert_eq!(read(&vmo, 8 * p, p as usize), pattern(8 * p..9 * p));
    assert_no_packet(&pager, "reads of pages kept");
    // An evicted page is asked for again.
    let reader = bg("read of an evicted page", {
        let v = vmo.clone();
        move || v.read_to_vec(20 * p, 8)
    });
    let req = next_read(&pager, key);
    assert!(req.range().contains(&(20 * p)), "{req:?}");
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(reader.join(), Ok(pattern(20 * p..20 * p + 8)));

    // A VMO whose pager closed keeps its pages.
    drop(pager);
    let kept = committed(&vmo);
    std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(committed(&vmo), kept);
}

/// A ZERO of whole pages of a `SNAPSHOT_AT_LEAST_ON_WRITE` clone of a
/// pager-backed VMO reads nothing of its parent, fixed-size or resizable: it
/// asks the pager nothing while the VMO is attached and succeeds after a
/// detach (found by the fuzzer's model of pager-VMO clones: the resizable
/// clone used to page in every page of the range first, `Vmo::cow_op`).
#[test]
fn a_resizable_clone_zeroes_whole_pages_without_asking_the_pager() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let vmo = pager.create_vmo(0x2e50, 2 * p).unwrap();
    let alow = VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE;
    let fixed = vmo.create_child(alow, 0, 2 * p).unwrap();
    let resizable =
        Arc::new(vmo.create_child(alow | VmoChildOptions::RESIZABLE, 0, 2 * p).unwrap());
    let mut wrong = Vec::new();

    // Attached: the fixed-size clone's ZERO ends at once and asks nothing.
    assert_eq!(fixed.op_range(VmoOp::ZERO, 0, p), Ok(()));
    assert_eq!(read(&fixed, 0, p as usize), vec![0; p as usize]);
    assert_no_packet(&pager, "ZERO of a whole page of a fixed-size clone");
    let z = bg("ZERO of a whole page of a resizable clone", {
        let r = resizable.clone();
        move || r.op_range(VmoOp::ZERO, 0, p)
    });
    if let Ok(pk) = pager.wait(Some(QUIET)) {
        wrong.push(format!("the resizable clone's ZERO of page 0 asked the pager: {pk:?}"));
        // Let it go on: the page it asked for.
        supply_pattern(&dev, &pager, &vmo, 0..p);
    }
    assert_eq!(z.join(), Ok(()));
    assert_eq!(read(&resizable, 0, p as usize), vec![0; p as usize]);

    // Detached: page 1 was never supplied.
    pager.detach_vmo(&vmo).unwrap();
    assert_eq!(fixed.op_range(VmoOp::ZERO, p, p), Ok(()), "fixed-size clone, detached");
    let r = resizable.op_range(VmoOp::ZERO, p, p);
    if r != Ok(()) {
        wrong.push(format!("the resizable clone's ZERO of page 1 after the detach: {r:?}"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
