//! Mappings of pager-backed VMOs: a fault on an absent page sends the pager
//! a READ request for that one page and waits (with the fault lock dropped,
//! so the process can change its mappings meanwhile); the access completes
//! with the supplied data, or is `SIGBUS` when the pager fails the request,
//! detaches the VMO or goes away. Present pages never ask the pager; a slice
//! faults through its parent's pager.
//!
//! Helpers come from [`crate::pager`]: bounded waits everywhere ([`Bg`]
//! threads for every access that may block on the pager). A thread blocked
//! in a page fault is in no syscall, so "it waits" is checked with its
//! scheduler state (`/proc/<pid>/task/<tid>/stat`) instead of the ioctl that
//! `/proc/.../syscall` names.
//!
//! Every test runs in a child (`--exact --ignored pager_mapping::child_role`,
//! role in `VMO_GUEST_CHILD_ROLE`) that owns its own `/dev/vmo`, pager and
//! VMO, so that a wrong `SIGBUS` fails one test instead of killing the whole
//! test program. The children that must crash report each step as a
//! `CHILD ...` line and must die of `SIGBUS` right after the expected
//! reports; the others run a test body that must pass. The parent kills a
//! child that takes longer than [`CHILD_LIMIT`].
//!
//! These tests found that shmem's `SGP_NOALLOC` reports a hole as
//! `-ENOENT`: the module's fault handler once turned that into `SIGBUS`
//! without asking the pager.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use vmo::sys::ProtFlags;
use vmo::{Device, Mapping, PacketKind, Pager, PagerPacket, Status, VmoChildOptions, VmoOptions};
use vmo_guest_tests::*;

use crate::pager::{
    Bg, QUIET, WAIT, assert_no_packet, bg, next_read, pattern, pattern_byte, supply_pattern,
};

/// The ignored test that the children run.
const ROLE_TEST: &str = "pager_mapping::child_role";

/// How long a child may take before the parent kills it (a hang).
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// The page size as a `usize`.
fn up() -> usize {
    pg() as usize
}

/// The READ packet for pages `[first, first + 1)` of the VMO with `key`.
fn read_packet(key: u64, first_page: u64) -> PagerPacket {
    PagerPacket { key, kind: PacketKind::Read, offset: first_page * pg(), length: pg() }
}

/// The next packet, which must come within [`WAIT`].
fn packet(pager: &Pager) -> PagerPacket {
    pager.wait(Some(WAIT)).unwrap_or_else(|s| panic!("no packet within {WAIT:?}: {s}"))
}

/// The scheduler state letter of a task (`R`, `S`, `D`, ...).
fn task_state(task: &Path) -> Option<char> {
    let text = std::fs::read_to_string(task.join("stat")).ok()?;
    // "<tid> (<comm>) <state> ...": the name may hold spaces and parentheses.
    text.rsplit_once(") ")?.1.chars().next()
}

impl<T> Bg<T> {
    /// Waits until the thread sleeps (`S` or `D`, seen three times in a row
    /// 20 ms apart) without having finished: for a thread blocked in a page
    /// fault, which is in no syscall. Call it once the fault's request has
    /// reached the pager, so the sleep is the fault's wait. Where the state
    /// cannot be read, waits 300 ms instead.
    fn wait_sleeping(&mut self) {
        let start = Instant::now();
        let mut streak = 0;
        while streak < 3 {
            assert!(
                !self.finished_within(Duration::ZERO),
                "{} finished instead of waiting for the pager",
                self.what
            );
            match task_state(&self.task) {
                None => {
                    std::thread::sleep(Duration::from_millis(300));
                    break;
                }
                Some('S' | 'D') => streak += 1,
                Some(_) => streak = 0,
            }
            assert!(start.elapsed() < WAIT, "{} did not go to sleep within {WAIT:?}", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !self.finished_within(Duration::ZERO),
            "{} finished instead of waiting for the pager",
            self.what
        );
    }
}

/// `mprotect` of `len` bytes at byte `offset` of `m`.
fn protect(m: &Mapping, offset: usize, len: usize, prot: ProtFlags) -> Result<(), String> {
    use rustix::mm::{MprotectFlags, mprotect};
    let mut flags = MprotectFlags::empty();
    if prot.contains(ProtFlags::READ) {
        flags |= MprotectFlags::READ;
    }
    if prot.contains(ProtFlags::WRITE) {
        flags |= MprotectFlags::WRITE;
    }
    assert!(offset % up() == 0 && offset + len <= m.len(), "inside the mapping");
    // SAFETY: the range lies inside the mapping that `m` owns (checked
    // above), which nothing else in this process maps; `Mapping` reaches its
    // memory only through raw pointers and bounds-checked accessors, so a
    // changed protection invalidates no reference. The caller restores it.
    unsafe { mprotect(m.as_mut_ptr().add(offset).cast(), len, flags) }
        .map_err(|e| format!("mprotect({offset:#x}, {len:#x}, {prot:?}): {e}"))
}

// ---- faults the pager serves ---------------------------------------------------------------

/// A thread reads page 2 through a mapping of an empty pager VMO: the
/// pager gets exactly one READ packet {key, 2 pages, 1 page}, the reader
/// sleeps until the supply, and then reads the supplied bytes. While it
/// waits the fault holds no mm lock: `mprotect` splitting the same mapping
/// completes. Reading the page again asks nothing; a write through the
/// mapping to the supplied page lands on the supplied data and is seen by
/// the read ioctl.
#[test]
fn a_mapped_read_waits_for_the_pager_and_sees_the_supplied_page() {
    let _g = shared();
    expect_pass("mapped-read");
}

/// The body of [`a_mapped_read_waits_for_the_pager_and_sees_the_supplied_page`], run in a child.
fn a_mapped_read_waits_for_the_pager_and_sees_the_supplied_page_body(dev: &Device) {
    let (p, up) = (pg(), up());
    let pager = Pager::create(dev).unwrap();
    let key = 0x3a9_0001;
    let vmo = Arc::new(pager.create_vmo(key, 4 * p).unwrap());
    let m = Arc::new(vmo.map(0, 4 * up, true).expect("map the pager VMO"));
    assert_no_packet(&pager, "mapping asks for nothing");

    let mut r = bg("mapped read of page 2", {
        let m = m.clone();
        move || m.read_to_vec(2 * up + 100, 64)
    });
    assert_eq!(packet(&pager), read_packet(key, 2), "the faulting page, one page");
    r.wait_sleeping();
    assert!(!r.finished_within(QUIET), "the read waits for the pager");
    assert_no_packet(&pager, "one request per fault");

    // The fault waits without the mmap lock and the VMA lock: splitting the
    // VMA (mprotect of page 0, which write-locks both) and merging it back
    // complete meanwhile.
    let mp = bg("mprotect of page 0 while the fault waits", {
        let m = m.clone();
        move || {
            protect(&m, 0, up, ProtFlags::READ)?;
            protect(&m, 0, up, ProtFlags::READ | ProtFlags::WRITE)
        }
    });
    assert_eq!(mp.join(), Ok(()), "mprotect while a fault waits for the pager");
    assert!(!r.finished_within(Duration::ZERO), "the read still waits");
    assert_no_packet(&pager, "after the mprotect");

    supply_pattern(dev, &pager, &vmo, 2 * p..3 * p);
    assert_eq!(r.join(), Ok(pattern(2 * p + 100..2 * p + 164)), "the supplied bytes");
    assert_eq!(committed(&vmo), p);

    let again = bg("second mapped read of page 2", {
        let m = m.clone();
        move || m.read_to_vec(2 * up, up)
    });
    assert_eq!(again.join(), Ok(pattern(2 * p..3 * p)));
    assert_eq!(pager.wait(Some(QUIET)), Err(Status::TIMED_OUT), "a present page asks nothing");

    let w = bg("mapped write to page 2", {
        let m = m.clone();
        move || m.write_at(2 * up + 10, b"mapped write")
    });
    assert_eq!(w.join(), Ok(()));
    let mut want = pattern(2 * p..3 * p);
    want[10..22].copy_from_slice(b"mapped write");
    assert_eq!(read(&vmo, 2 * p, up), want, "the read ioctl sees the mapped write");
    assert_eq!(committed(&vmo), p);
    assert_no_packet(&pager, "after the write");
}

/// A write fault on an absent page asks the pager for that page too and
/// waits; after the supply the written byte is there and the rest of the
/// page is the supplied data (through the read ioctl and the mapping).
#[test]
fn a_mapped_write_fault_asks_the_pager_and_lands_on_the_supplied_page() {
    let _g = shared();
    expect_pass("mapped-write");
}

/// The body of [`a_mapped_write_fault_asks_the_pager_and_lands_on_the_supplied_page`], run in a child.
fn a_mapped_write_fault_asks_the_pager_and_lands_on_the_supplied_page_body(dev: &Device) {
    let (p, up) = (pg(), up());
    let pager = Pager::create(dev).unwrap();
    let key = 0x3a9_0006;
    let vmo = Arc::new(pager.create_vmo(key, 3 * p).unwrap());
    let m = Arc::new(vmo.map(0, 3 * up, true).unwrap());
    assert_ne!(pattern_byte(p + 123), b'W', "the written byte differs from the supplied one");

    let mut w = bg("mapped write to page 1", {
        let m = m.clone();
        move || m.write_at(up + 123, b"W")
    });
    assert_eq!(packet(&pager), read_packet(key, 1), "the written page, one page");
    w.wait_sleeping();
    assert!(!w.finished_within(QUIET), "the write waits for the pager");
    assert_no_packet(&pager, "one request per fault");
    supply_pattern(dev, &pager, &vmo, p..2 * p);
    assert_eq!(w.join(), Ok(()));

    let mut want = pattern(p..2 * p);
    want[123] = b'W';
    assert_eq!(read(&vmo, p, up), want, "the write on top of the supplied page");
    let r = bg("mapped read of page 1", {
        let m = m.clone();
        move || m.read_to_vec(up, up)
    });
    assert_eq!(r.join(), Ok(want));
    assert_eq!(committed(&vmo), p);
    assert_no_packet(&pager, "after the write");
}

/// A slice at page 2 of a pager VMO maps its window: a read of slice page 0
/// asks for the parent's page 2, a write to slice page 1 for the parent's
/// page 3 (one page each, the parent's key); the slice then reads the
/// supplied data and the parent sees the write.
#[test]
fn a_slice_of_a_pager_vmo_faults_through_the_parent_pager() {
    let _g = shared();
    expect_pass("slice");
}

/// The body of [`a_slice_of_a_pager_vmo_faults_through_the_parent_pager`], run in a child.
fn a_slice_of_a_pager_vmo_faults_through_the_parent_pager_body(dev: &Device) {
    let (p, up) = (pg(), up());
    let pager = Pager::create(dev).unwrap();
    let key = 0x3a9_0005;
    let parent = Arc::new(pager.create_vmo(key, 4 * p).unwrap());
    let slice = parent.create_child(VmoChildOptions::SLICE, 2 * p, 2 * p).unwrap();
    let m = Arc::new(slice.map(0, 2 * up, true).expect("map the slice"));
    assert_no_packet(&pager, "creating and mapping the slice");

    let mut r = bg("mapped read of slice page 0", {
        let m = m.clone();
        move || m.read_to_vec(40, 16)
    });
    assert_eq!(packet(&pager), read_packet(key, 2), "the parent's page under slice page 0");
    r.wait_sleeping();
    assert!(!r.finished_within(QUIET), "the read waits for the pager");
    assert_no_packet(&pager, "one request per fault");
    supply_pattern(dev, &pager, &parent, 2 * p..3 * p);
    assert_eq!(r.join(), Ok(pattern(2 * p + 40..2 * p + 56)));

    let mut w = bg("mapped write to slice page 1", {
        let m = m.clone();
        move || m.write_at(up + 9, b"slice")
    });
    assert_eq!(packet(&pager), read_packet(key, 3), "the parent's page under slice page 1");
    w.wait_sleeping();
    supply_pattern(dev, &pager, &parent, 3 * p..4 * p);
    assert_eq!(w.join(), Ok(()));

    let mut want = pattern(2 * p..4 * p);
    want[up + 9..up + 14].copy_from_slice(b"slice");
    assert_eq!(read(&parent, 2 * p, 2 * up), want, "the parent sees the slice's pages");
    assert_eq!(read(&slice, 0, 2 * up), want);
    let again = bg("mapped read of the whole slice", {
        let m = m.clone();
        move || m.read_to_vec(0, 2 * up)
    });
    assert_eq!(again.join(), Ok(want));
    assert_eq!(committed(&parent), 2 * p);
    assert_eq!(committed(&slice), 0, "a slice owns no pages");
    assert_no_packet(&pager, "everything the slice shows is present");
}

// ---- faults that end in SIGBUS (children) --------------------------------------------------

/// How a child ended: its status and its standard output and error, each
/// line quoted for a failure message.
struct Ended {
    status: std::process::ExitStatus,
    stdout: String,
    quoted: String,
}

/// Runs the child role `role` to its end; fails the test if it is still
/// running after [`CHILD_LIMIT`] (it is killed).
fn run_child(role: &str) -> Ended {
    let mut child = child_role_command(ROLE_TEST, role, &[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child process");
    let collect = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
        rx
    };
    let out = collect(Box::new(child.stdout.take().expect("piped stdout")));
    let err = collect(Box::new(child.stderr.take().expect("piped stderr")));
    let start = Instant::now();
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if !killed && start.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            killed = true;
        }
        if start.elapsed() > CHILD_LIMIT + Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |rx: mpsc::Receiver<String>| {
        rx.recv_timeout(WAIT).unwrap_or_else(|_| "(the output did not end)".into())
    };
    let (stdout, stderr) = (text(out), text(err));
    let quoted: String = stdout
        .lines()
        .map(|l| format!("  child| {l}\n"))
        .chain(stderr.lines().map(|l| format!("  child stderr| {l}\n")))
        .collect();
    let Some(status) = status else {
        panic!("role {role}: the child did not end, even after SIGKILL (leaked):\n{quoted}");
    };
    assert!(!killed, "role {role}: the child hung and was killed after {CHILD_LIMIT:?}:\n{quoted}");
    Ended { status, stdout, quoted }
}

/// Runs the child role `role`, a test body, which must pass. A `SIGBUS`
/// means that a mapped access of the pager VMO was refused where it should
/// have waited for the pager.
fn expect_pass(role: &str) {
    let Ended { status, stdout, quoted } = run_child(role);
    if status.signal() == Some(rustix::process::Signal::BUS.as_raw()) {
        panic!(
            "role {role}: the child died of SIGBUS: a mapped access of a pager VMO was refused \
             instead of asking the pager:\n{quoted}"
        );
    }
    assert!(status.success(), "role {role}: the child failed ({status}):\n{quoted}");
    assert!(stdout.contains("1 passed"), "role {role}: the child role did not run:\n{quoted}");
}

/// Runs the child role `role` and checks that it died of `SIGBUS` after
/// reporting exactly `want` (its `CHILD ` lines, in order, without the
/// marker).
fn expect_sigbus_after(role: &str, want: &[String]) {
    let Ended { status, stdout, quoted } = run_child(role);
    assert_eq!(
        status.signal(),
        Some(rustix::process::Signal::BUS.as_raw()),
        "role {role}: the child should die of SIGBUS; it ended with {status}:\n{quoted}"
    );
    let lines: Vec<&str> =
        stdout.lines().filter_map(|l| l.find("CHILD ").map(|i| &l[i + 6..])).collect();
    assert_eq!(lines, want, "role {role}: the child's reports:\n{quoted}");
}

/// The reports of [`fail_role`].
fn fail_reports(code: Status, write: bool) -> Vec<String> {
    let p = pg();
    vec![
        "page 0 read without a request".to_string(),
        touching(2 * up() + 5, write),
        format!("request Read {:#x} {p:#x}: failing it with {code}", 2 * p),
    ]
}

/// The report of [`touch`].
fn touching(offset: usize, write: bool) -> String {
    format!("touching {offset:#x} ({})", if write { "write" } else { "read" })
}

/// The pager fails the request of a mapped read with IO: the reader gets
/// SIGBUS, after exactly one request (the pager fails once; the retried
/// fault does not ask again).
#[test]
fn a_failed_request_makes_a_mapped_read_sigbus() {
    let _g = shared();
    expect_sigbus_after("fail-io-read", &fail_reports(Status::IO, false));
}

/// As above, failed with IO_DATA_INTEGRITY.
#[test]
fn a_data_integrity_failure_makes_a_mapped_read_sigbus() {
    let _g = shared();
    expect_sigbus_after("fail-integrity-read", &fail_reports(Status::IO_DATA_INTEGRITY, false));
}

/// As above for a write fault, failed with BAD_STATE.
#[test]
fn a_failed_request_makes_a_mapped_write_sigbus() {
    let _g = shared();
    expect_sigbus_after("fail-bad-state-write", &fail_reports(Status::BAD_STATE, true));
}

/// A `TRAP_DIRTY` VMO's clean page written through a mapping: the pager gets
/// one DIRTY request for that page and fails it; the writer dies of SIGBUS
/// (Zircon's `PagerWriteback.FailDirtyRequests`, mapping variant: a fatal
/// page fault), and the retried fault does not ask again.
#[test]
fn a_failed_dirty_request_makes_a_mapped_write_sigbus() {
    let _g = shared();
    expect_sigbus_after(
        "fail-dirty-write",
        &[
            "page 0 read without a request".to_string(),
            touching(5, true),
            format!("request Dirty 0x0 {:#x}: failing it", pg()),
        ],
    );
}

/// The reports of [`detach_role`] touching byte `offset`.
fn detach_reports(offset: usize, write: bool) -> Vec<String> {
    vec![
        "page 0 read through the mapping".to_string(),
        "detached: COMPLETE received, the read ioctl is BAD_STATE".to_string(),
        touching(offset, write),
    ]
}

/// After detach, a mapped read of a page that was supplied and read through
/// the mapping before is SIGBUS (detach freed it), and the pager gets no
/// request.
#[test]
fn detach_makes_a_mapped_read_of_a_supplied_page_sigbus() {
    let _g = shared();
    expect_sigbus_after("detach-read-page-0", &detach_reports(7, false));
}

/// After detach, a mapped write to a page never supplied is SIGBUS, with no
/// request.
#[test]
fn detach_makes_a_mapped_write_of_an_absent_page_sigbus() {
    let _g = shared();
    expect_sigbus_after("detach-write-page-1", &detach_reports(up() + 7, true));
}

/// A thread waits in a mapped read of an absent page; closing the pager's
/// only handle ends the wait, and the reader dies of SIGBUS.
#[test]
fn closing_the_pager_makes_a_waiting_mapped_read_sigbus() {
    let _g = shared();
    let p = pg();
    expect_sigbus_after(
        "close-pager",
        &[
            "page 0 read through the mapping".to_string(),
            touching(2 * up(), false),
            format!("request Read {:#x} {p:#x}", 2 * p),
            "the reader sleeps; closing the pager".to_string(),
        ],
    );
}

/// The reports of [`close_keeps_pages_role`] touching byte `offset`.
fn close_keeps_pages_reports(offset: usize, write: bool) -> Vec<String> {
    vec![
        "page 0 read through the mapping".to_string(),
        "pager closed: page 0 is read and written through the mappings, still committed"
            .to_string(),
        touching(offset, write),
    ]
}

/// Closing the pager is not a detach (Zircon's `PagerProxy::OnDispatcherClose`,
/// `Pager.ClosePagerTest`): the page supplied before stays, read and written
/// through the old mapping and a new one, and seen by the read ioctl; a
/// mapped read of a page never supplied is then SIGBUS at once, with no
/// pager left to ask. (The module freed the pages at close before.)
#[test]
fn after_the_pager_closes_supplied_pages_stay_mapped_and_absent_ones_sigbus_on_read() {
    let _g = shared();
    expect_sigbus_after("close-keeps-pages-read", &close_keeps_pages_reports(up() + 5, false));
}

/// As above, a mapped write of a page never supplied.
#[test]
fn after_the_pager_closes_a_mapped_write_of_an_absent_page_is_sigbus() {
    let _g = shared();
    expect_sigbus_after("close-keeps-pages-write", &close_keeps_pages_reports(2 * up(), true));
}

/// A mapped read waits for page 1; the pager tries to supply it from VMOs
/// that Zircon's `zx_pager_supply_pages` refuses (`VmObjectPaged::TakePages`:
/// a snapshot, the parent of a slice, a pager VMO): BAD_STATE each time, and
/// the reader keeps waiting; the supply from a plain VMO ends the wait with
/// its bytes. An aux VMO that is mapped itself may supply, and its mapping
/// reads zeros afterwards (the page was unmapped and freed).
#[test]
fn a_mapped_read_waits_through_refused_supplies() {
    let _g = shared();
    expect_pass("bad-aux");
}

/// The body of [`a_mapped_read_waits_through_refused_supplies`], run in a child.
fn a_mapped_read_waits_through_refused_supplies_body(dev: &Device) {
    let (p, up) = (pg(), up());
    let pager = Pager::create(dev).unwrap();
    let key = 0x3a9_0007;
    let vmo = Arc::new(pager.create_vmo(key, 2 * p).unwrap());
    let m = Arc::new(vmo.map(0, 2 * up, false).unwrap());
    let mut r = bg("mapped read of page 1", {
        let m = m.clone();
        move || m.read_to_vec(up + 3, 16)
    });
    assert_eq!(packet(&pager), read_packet(key, 1));
    r.wait_sleeping();
    let plain = new_vmo(dev, 1);
    plain.write(&pattern(p..2 * p), 0).unwrap();
    let snapshot = plain.create_child(VmoChildOptions::SNAPSHOT, 0, p).unwrap();
    assert_eq!(pager.supply_pages(&vmo, p..2 * p, &snapshot, 0), Err(Status::BAD_STATE));
    assert_eq!(pager.supply_pages(&vmo, p..2 * p, &plain, 0), Err(Status::BAD_STATE));
    let other = Pager::create(dev).unwrap();
    let theirs = other.create_vmo(1, p).unwrap();
    assert_eq!(pager.supply_pages(&vmo, p..2 * p, &theirs, 0), Err(Status::BAD_STATE));
    assert!(!r.finished_within(QUIET), "the reader still waits");
    assert_eq!(committed(&vmo), 0);
    drop(snapshot);
    let aux_map = plain.map(0, up, false).unwrap();
    assert_eq!(aux_map.read_to_vec(0, 8), Ok(pattern(p..p + 8)));
    assert_eq!(pager.supply_pages(&vmo, p..2 * p, &plain, 0), Ok(()));
    assert_eq!(r.join(), Ok(pattern(p + 3..p + 19)));
    assert_eq!(committed(&plain), 0, "the page left the aux VMO");
    assert_eq!(aux_map.read_to_vec(0, 8), Ok(vec![0; 8]), "the aux mapping reads zeros after");
    assert_no_packet(&pager, "after the supply");
}

/// A resizable pager VMO of 4 supplied pages, mapped whole, shrinks to 2:
/// pages 0-1 still read through the mapping, page 3 (past the new end) is
/// SIGBUS, as for any resizable VMO.
#[test]
fn a_mapped_access_past_a_shrunk_pager_vmo_is_sigbus() {
    let _g = shared();
    expect_sigbus_after(
        "resize-shrunk",
        &[
            "shrunk to 2 pages; pages 0-1 read through the mapping".to_string(),
            touching(3 * up() + 1, false),
        ],
    );
}

/// A thread reads page 3 of a resizable pager VMO through a mapping and
/// waits for the pager; the VMO shrinks to 2 pages: the request ends (as
/// Zircon's `VmCowPages::Resize` ends it) and the reader, whose page is gone,
/// dies of SIGBUS.
#[test]
fn shrinking_a_pager_vmo_under_a_waiting_fault_is_sigbus() {
    let _g = shared();
    let p = pg();
    expect_sigbus_after(
        "resize-under-fault",
        &[
            touching(3 * up(), false),
            format!("request Read {:#x} {p:#x}", 3 * p),
            "the reader sleeps; shrinking to 2 pages".to_string(),
        ],
    );
}

/// Growing a resizable pager VMO adds pages the pager supplies on demand: a
/// mapping made before the growth faults on the new page 3, which asks the
/// pager for page 3 and reads its bytes; a page freed by an earlier shrink is
/// asked for again.
#[test]
fn a_mapping_of_a_grown_pager_vmo_asks_the_pager_for_the_new_pages() {
    let _g = shared();
    expect_pass("resize-grow");
}

/// The body of [`a_mapping_of_a_grown_pager_vmo_asks_the_pager_for_the_new_pages`], run in a
/// child.
fn a_mapping_of_a_grown_pager_vmo_asks_the_pager_for_the_new_pages_body(dev: &Device) {
    let (p, up) = (pg(), up());
    let pager = Pager::create(dev).unwrap();
    let key = 0x3a9_0008;
    let vmo = Arc::new(pager.create_vmo_with_options(VmoOptions::RESIZABLE, key, 2 * p).unwrap());
    supply_pattern(dev, &pager, &vmo, 0..2 * p);
    let m = Arc::new(vmo.map(0, 4 * up, true).unwrap());
    assert_eq!(mread(&m, 0, 2 * up), pattern(0..2 * p));
    assert_eq!(vmo.set_size(p), Ok(()));
    assert_eq!(vmo.set_size(4 * p), Ok(()));
    assert_eq!(mread(&m, 0, up), pattern(0..p), "page 0 stayed");
    let mut r = bg("mapped read of page 3", {
        let m = m.clone();
        move || m.read_to_vec(3 * up + 1, 8)
    });
    assert_eq!(packet(&pager), read_packet(key, 3), "the new page, one page");
    r.wait_sleeping();
    supply_pattern(dev, &pager, &vmo, 3 * p..4 * p);
    assert_eq!(r.join(), Ok(pattern(3 * p + 1..3 * p + 9)));
    let mut w = bg("mapped write to page 1", {
        let m = m.clone();
        move || m.write_at(up, b"W")
    });
    assert_eq!(packet(&pager), read_packet(key, 1), "the page the shrink freed is asked again");
    w.wait_sleeping();
    supply_pattern(dev, &pager, &vmo, p..2 * p);
    assert_eq!(w.join(), Ok(()));
    let mut want = pattern(p..2 * p);
    want[0] = b'W';
    assert_eq!(read(&vmo, p, up), want);
    assert_no_packet(&pager, "after the supplies");
}

/// Makes a crash leave no core file, and the first `SIGBUS` kill the
/// process: Rust's runtime installs a `SIGBUS` handler (for its stack guard)
/// that, for any other address, restores the default action and returns,
/// so the access runs again and faults a second time, which would ask the
/// pager again.
fn crash_on_first_sigbus() {
    use rustix::process::{Resource, Rlimit, Signal, setrlimit};
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })
        .expect("RLIMIT_CORE 0");
    unsafe extern "C" {
        /// The C library's `signal(2)` (std links the C library).
        fn signal(signum: i32, handler: usize) -> usize;
    }
    /// `SIG_ERR`: `(sighandler_t)-1`.
    const SIG_ERR: usize = usize::MAX;
    /// `SIG_DFL`: `(sighandler_t)0`.
    const SIG_DFL: usize = 0;
    // SAFETY: setting the default action for SIGBUS runs no code of ours
    // and invalidates nothing: only the runtime's stack-overflow report for
    // a SIGBUS in a guard page is lost, in a child that must die of SIGBUS.
    let old = unsafe { signal(Signal::BUS.as_raw(), SIG_DFL) };
    assert_ne!(old, SIG_ERR, "signal(SIGBUS, SIG_DFL)");
}

/// Reports and touches byte `offset` of `m`; reports again if that survived.
fn touch(m: &Mapping, offset: usize, write: bool) {
    println!("CHILD {}", touching(offset, write));
    let r = if write { m.write_at(offset, b"x") } else { m.read_at(offset, &mut [0u8; 1]) };
    println!("CHILD survived the touch: {r:?}");
}

/// Reads through the mapping, failing the test on error.
fn mread(m: &Mapping, offset: usize, len: usize) -> Vec<u8> {
    m.read_to_vec(offset, len).unwrap_or_else(|s| panic!("mapping read({offset:#x}, {len}): {s}"))
}

/// A pager VMO of 4 pages with page 0 supplied and mapped whole; the
/// mapping reads page 0 without a request. A pager thread fails every
/// request (reporting each) with `code`, and this thread touches page 2.
fn fail_role(dev: &Device, code: Status, write: bool) {
    let (p, up) = (pg(), up());
    let pager = Arc::new(Pager::create(dev).unwrap());
    let vmo = Arc::new(pager.create_vmo(0xfa11, 4 * p).unwrap());
    supply_pattern(dev, &pager, &vmo, 0..p);
    let m = vmo.map(0, 4 * up, true).unwrap();
    assert_eq!(mread(&m, 0, up), pattern(0..p));
    assert_no_packet(&pager, "a present page");
    println!("CHILD page 0 read without a request");
    std::thread::spawn({
        let (pager, vmo) = (pager.clone(), vmo.clone());
        move || {
            // A few, so that a kernel that asks again shows it (and then
            // hangs: the parent kills it).
            for _ in 0..3 {
                match pager.wait(Some(CHILD_LIMIT)) {
                    Ok(r) => {
                        println!(
                            "CHILD request {:?} {:#x} {:#x}: failing it with {code}",
                            r.kind, r.offset, r.length
                        );
                        if let Err(s) = pager.fail(&vmo, r.range(), code) {
                            println!("CHILD FAIL returned {s}");
                        }
                    }
                    Err(s) => {
                        println!("CHILD pager wait: {s}");
                        return;
                    }
                }
            }
        }
    });
    touch(&m, 2 * up + 5, write);
}

/// A `TRAP_DIRTY` pager VMO with page 0 supplied, mapped and read through
/// the mapping (clean); a pager thread fails every DIRTY request with IO;
/// this thread writes byte 5 through the mapping.
fn fail_dirty_role(dev: &Device) {
    let (p, up) = (pg(), up());
    let pager = Arc::new(Pager::create(dev).unwrap());
    let vmo = Arc::new(pager.create_vmo_with_options(VmoOptions::TRAP_DIRTY, 0xd1, p).unwrap());
    supply_pattern(dev, &pager, &vmo, 0..p);
    let m = vmo.map(0, up, true).unwrap();
    assert_eq!(mread(&m, 0, up), pattern(0..p));
    assert_no_packet(&pager, "a clean page read");
    println!("CHILD page 0 read without a request");
    std::thread::spawn({
        let (pager, vmo) = (pager.clone(), vmo.clone());
        move || {
            for _ in 0..3 {
                match pager.wait(Some(CHILD_LIMIT)) {
                    Ok(r) => {
                        println!(
                            "CHILD request {:?} {:#x} {:#x}: failing it",
                            r.kind, r.offset, r.length
                        );
                        if let Err(s) = pager.fail(&vmo, r.range(), Status::IO) {
                            println!("CHILD FAIL returned {s}");
                        }
                    }
                    Err(s) => {
                        println!("CHILD pager wait: {s}");
                        return;
                    }
                }
            }
        }
    });
    touch(&m, 5, true);
}

/// A pager VMO of 2 pages with page 0 supplied, mapped whole and read
/// through the mapping; then detached (COMPLETE checked). A pager thread
/// reports any later packet; this thread touches byte `offset`.
fn detach_role(dev: &Device, offset: usize, write: bool) {
    let (p, up) = (pg(), up());
    let key = 0xde7a;
    let pager = Arc::new(Pager::create(dev).unwrap());
    let vmo = pager.create_vmo(key, 2 * p).unwrap();
    supply_pattern(dev, &pager, &vmo, 0..p);
    let m = vmo.map(0, 2 * up, true).unwrap();
    assert_eq!(mread(&m, 0, up), pattern(0..p));
    assert_no_packet(&pager, "a present page");
    println!("CHILD page 0 read through the mapping");
    assert_eq!(pager.detach_vmo(&vmo), Ok(()));
    let done = packet(&pager);
    assert_eq!((done.kind, done.key), (PacketKind::Complete, key), "{done:?}");
    assert_eq!(st(vmo.read_to_vec(0, 8)), Status::BAD_STATE);
    println!("CHILD detached: COMPLETE received, the read ioctl is BAD_STATE");
    std::thread::spawn({
        let pager = pager.clone();
        move || {
            if let Ok(r) = pager.wait(Some(CHILD_LIMIT)) {
                println!("CHILD packet {:?} {:#x} {:#x}", r.kind, r.offset, r.length);
            }
        }
    });
    touch(&m, offset, write);
}

/// A pager VMO of 4 pages with page 0 supplied and mapped whole; a thread
/// reads page 2 through the mapping and waits; once the request came and
/// the reader sleeps, this thread closes the pager's only handle.
fn close_pager_role(dev: &Device) {
    let (p, up) = (pg(), up());
    let key = 0xc105e;
    let pager = Pager::create(dev).unwrap();
    let vmo = pager.create_vmo(key, 4 * p).unwrap();
    supply_pattern(dev, &pager, &vmo, 0..p);
    let m = Arc::new(vmo.map(0, 4 * up, true).unwrap());
    assert_eq!(mread(&m, 0, up), pattern(0..p));
    println!("CHILD page 0 read through the mapping");
    let mut r = bg("mapped read of page 2", {
        let m = m.clone();
        move || {
            println!("CHILD {}", touching(2 * up, false));
            m.read_to_vec(2 * up, 8)
        }
    });
    let req = next_read(&pager, key);
    println!("CHILD request {:?} {:#x} {:#x}", req.kind, req.offset, req.length);
    r.wait_sleeping();
    println!("CHILD the reader sleeps; closing the pager");
    drop(pager);
    let got = r.join_within(WAIT);
    println!("CHILD the reader survived: {got:?}");
}

/// A pager VMO of 3 pages with page 0 supplied, mapped whole and read
/// through the mapping; the pager's only handle is closed (no waiter). Page
/// 0 is then read and written through the mapping and through a new one,
/// the read ioctl sees the write, and `committed_bytes` still counts it;
/// this thread then touches byte `offset` (an absent page).
fn close_keeps_pages_role(dev: &Device, offset: usize, write: bool) {
    let (p, up) = (pg(), up());
    let pager = Pager::create(dev).unwrap();
    let vmo = pager.create_vmo(0xc105f, 3 * p).unwrap();
    supply_pattern(dev, &pager, &vmo, 0..p);
    let m = vmo.map(0, 3 * up, true).unwrap();
    assert_eq!(mread(&m, 0, up), pattern(0..p));
    println!("CHILD page 0 read through the mapping");
    drop(pager);
    assert_eq!(mread(&m, 0, up), pattern(0..p), "the old mapping");
    m.write_at(5, b"after close").unwrap();
    let fresh = vmo.map(0, up, true).unwrap();
    let mut want = pattern(0..p);
    want[5..16].copy_from_slice(b"after close");
    assert_eq!(mread(&fresh, 0, up), want, "a mapping made after the close");
    fresh.write_at(up - 1, b"!").unwrap();
    want[up - 1] = b'!';
    assert_eq!(read(&vmo, 0, up), want, "the read ioctl sees both writes");
    assert_eq!(committed(&vmo), p);
    assert_eq!(st(vmo.read_to_vec(p, 1)), Status::BAD_STATE, "an absent page");
    println!(
        "CHILD pager closed: page 0 is read and written through the mappings, still committed"
    );
    touch(&m, offset, write);
}

/// A resizable pager VMO of 4 pages, all supplied, mapped whole; it shrinks
/// to 2 pages, pages 0-1 read through the mapping, then this thread touches
/// page 3.
fn resize_shrunk_role(dev: &Device) {
    let (p, up) = (pg(), up());
    let pager = Pager::create(dev).unwrap();
    let vmo = pager.create_vmo_with_options(VmoOptions::RESIZABLE, 0x5e3, 4 * p).unwrap();
    supply_pattern(dev, &pager, &vmo, 0..4 * p);
    let m = vmo.map(0, 4 * up, false).unwrap();
    assert_eq!(mread(&m, 0, 4 * up), pattern(0..4 * p));
    assert_eq!(vmo.set_size(2 * p), Ok(()));
    assert_eq!(mread(&m, 0, 2 * up), pattern(0..2 * p));
    assert_eq!(committed(&vmo), 2 * p);
    println!("CHILD shrunk to 2 pages; pages 0-1 read through the mapping");
    touch(&m, 3 * up + 1, false);
}

/// A resizable pager VMO of 4 pages, none supplied, mapped whole; a thread
/// reads page 3 through the mapping and waits; once the request came and
/// the reader sleeps, the VMO shrinks to 2 pages.
fn resize_under_fault_role(dev: &Device) {
    let (p, up) = (pg(), up());
    let key = 0x5e4;
    let pager = Pager::create(dev).unwrap();
    let vmo = pager.create_vmo_with_options(VmoOptions::RESIZABLE, key, 4 * p).unwrap();
    let m = Arc::new(vmo.map(0, 4 * up, false).unwrap());
    let mut r = bg("mapped read of page 3", {
        let m = m.clone();
        move || {
            println!("CHILD {}", touching(3 * up, false));
            m.read_to_vec(3 * up, 8)
        }
    });
    let req = next_read(&pager, key);
    println!("CHILD request {:?} {:#x} {:#x}", req.kind, req.offset, req.length);
    r.wait_sleeping();
    println!("CHILD the reader sleeps; shrinking to 2 pages");
    assert_eq!(vmo.set_size(2 * p), Ok(()));
    let got = r.join_within(WAIT);
    println!("CHILD the reader survived: {got:?}");
}

/// Not a test of its own: the child process of the SIGBUS tests above
/// (ignored in normal runs; run with the role variable set).
#[test]
#[ignore = "child role: started by the pager mapping tests with VMO_GUEST_CHILD_ROLE set"]
fn child_role() {
    let role = std::env::var(CHILD_ROLE_ENV).expect("run only by the pager mapping tests");
    crash_on_first_sigbus();
    let dev = dev();
    match role.as_str() {
        "fail-io-read" => fail_role(&dev, Status::IO, false),
        "fail-integrity-read" => fail_role(&dev, Status::IO_DATA_INTEGRITY, false),
        "fail-bad-state-write" => fail_role(&dev, Status::BAD_STATE, true),
        "fail-dirty-write" => fail_dirty_role(&dev),
        "detach-read-page-0" => detach_role(&dev, 7, false),
        "detach-write-page-1" => detach_role(&dev, up() + 7, true),
        "close-pager" => close_pager_role(&dev),
        "close-keeps-pages-read" => close_keeps_pages_role(&dev, up() + 5, false),
        "close-keeps-pages-write" => close_keeps_pages_role(&dev, 2 * up(), true),
        "resize-shrunk" => resize_shrunk_role(&dev),
        "resize-under-fault" => resize_under_fault_role(&dev),
        "bad-aux" => a_mapped_read_waits_through_refused_supplies_body(&dev),
        "resize-grow" => a_mapping_of_a_grown_pager_vmo_asks_the_pager_for_the_new_pages_body(&dev),
        "mapped-read" => a_mapped_read_waits_for_the_pager_and_sees_the_supplied_page_body(&dev),
        "mapped-write" => {
            a_mapped_write_fault_asks_the_pager_and_lands_on_the_supplied_page_body(&dev)
        }
        "slice" => a_slice_of_a_pager_vmo_faults_through_the_parent_pager_body(&dev),
        other => panic!("unknown child role {other:?}"),
    }
}
