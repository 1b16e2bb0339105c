//! VMOs mapped into processes and shared between them: `VMO_IOC_EXPORT`,
//! `VMO_IOC_IMPORT` and `mmap` of the exported fd, after Zircon's mapped
//! VMO cases (writes seen both ways, DECOMMIT/ZERO of mapped pages, access
//! past the end, read-only mappings, slices and snapshots, COMMIT of a
//! mapped range, writers racing DECOMMIT).
//!
//! What must crash (`SIGBUS`) or needs a second process runs in a child:
//! this binary again, running the ignored test `mapping::child_role` with
//! `VMO_GUEST_CHILD_ROLE` naming the role. The sharing child gets one end of
//! a `SOCK_SEQPACKET` socketpair as its standard input and passes VMO fds
//! both ways over it with `SCM_RIGHTS`.
//!
//! Whether reading an uncommitted page through a mapping commits it is left
//! open by the header (shmem's fault handler allocates on any fault; Zircon
//! maps its shared zero page), so the tests check `committed_bytes` only
//! before such reads or after writes.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{MemfdFlags, OFlags, fcntl_getfl, fstat, memfd_create};
use rustix::io::{Errno, FdFlags, fcntl_getfd};
use rustix::net::sockopt::{Timeout, set_socket_timeout};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, recvmsg, sendmsg, socketpair,
};
use vmo::sys::{self, MapFlags, ProtFlags};
use vmo::{
    AsHandleRef, Event, Handle, HandleBased, Mapping, Rights, Status, Vmo, VmoChildOptions,
    VmoOptions,
};
use vmo_guest_tests::*;

/// The ignored test that the children run.
const ROLE_TEST: &str = "mapping::child_role";

const EACCES: i32 = Errno::ACCESS.raw_os_error();

/// The page size as a `usize`.
fn up() -> usize {
    pg() as usize
}

/// Reads `len` bytes at `offset` through the mapping, failing the test on
/// error.
fn mread(m: &Mapping, offset: usize, len: usize) -> Vec<u8> {
    m.read_to_vec(offset, len).unwrap_or_else(|s| panic!("mapping read({offset:#x}, {len}): {s}"))
}

/// Writes through the mapping, failing the test on error.
fn mwrite(m: &Mapping, offset: usize, data: &[u8]) {
    m.write_at(offset, data).unwrap_or_else(|s| panic!("mapping write({offset:#x}): {s}"));
}

/// `(fd flags) & O_ACCMODE`.
fn access_mode(fd: BorrowedFd<'_>) -> OFlags {
    fcntl_getfl(fd).expect("F_GETFL") & OFlags::ACCMODE
}

// ---- a: writes seen both ways ------------------------------------------------------------

/// Zircon's mapped read/write case: a write through the mapping is seen by
/// `zx_vmo_read`, a `zx_vmo_write` is seen through the mapping, across page
/// boundaries and through a second mapping at an offset.
#[test]
fn writes_through_a_mapping_and_through_the_ioctls_see_each_other() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 3);
    let m = v.map(0, 3 * p, true).expect("map 3 pages");
    assert_eq!((m.len(), m.offset(), m.is_writable()), (3 * p, 0, true));
    assert_eq!(mread(&m, 0, 3 * p), vec![0; 3 * p], "a new VMO maps as zeros");

    mwrite(&m, p - 4, b"mapped write");
    assert_eq!(read(&v, pg() - 4, 12), b"mapped write");
    v.write(b"ioctl write", 2 * pg() + 100).unwrap();
    assert_eq!(mread(&m, 2 * p + 100, 11), b"ioctl write");

    // A whole page each way.
    let page: Vec<u8> = (0..p).map(|i| (i % 251) as u8 + 1).collect();
    v.write(&page, 0).unwrap();
    assert_eq!(mread(&m, 0, p), page);
    let rev: Vec<u8> = page.iter().rev().copied().collect();
    mwrite(&m, 2 * p, &rev);
    assert_eq!(read(&v, 2 * pg(), p), rev);

    // A second, read-only mapping from page 1 sees the same bytes.
    let m2 = v.map(pg(), 2 * p, false).expect("map pages 1-2");
    assert_eq!(m2.offset(), pg());
    assert_eq!(mread(&m2, 0, 8), b"ed write");
    assert_eq!(mread(&m2, p, p), rev);
    assert_eq!(m2.write_at(0, b"x"), Err(Status::ACCESS_DENIED));
    assert_eq!(committed(&v), 3 * pg());
}

/// An imported handle in another table names the same VMO: its writes show
/// in the first table's mapping and the other way round.
#[test]
fn an_imported_handle_in_another_table_names_the_same_vmo() {
    let _g = shared();
    let (dev, dev2) = (dev(), dev());
    let p = up();
    let v = new_vmo(&dev, 2);
    let fd = v.export_fd().unwrap();
    let w = Vmo::import_fd(&dev2, fd.as_fd()).unwrap();
    assert!(w.device().same_table(&dev2));
    assert_eq!(w.get_koid(), v.get_koid());
    assert_ne!(w.raw_handle(), v.raw_handle());
    assert_eq!(rights(&w), Rights::DEFAULT_VMO);
    let m = v.map(0, 2 * p, true).unwrap();
    w.write(b"from table 2", pg() + 1).unwrap();
    assert_eq!(mread(&m, p + 1, 12), b"from table 2");
    let wm = w.map(0, 2 * p, true).unwrap();
    mwrite(&wm, 9, b"from the second mapping");
    assert_eq!(read(&v, 9, 23), b"from the second mapping");
    assert_eq!(mread(&m, 9, 23), b"from the second mapping");
}

/// A mapping and an exported fd each keep the VMO when every handle is
/// closed: the mapping still works, and importing the fd again gives the
/// same VMO with what was written through the mapping.
#[test]
fn the_fd_and_the_mapping_keep_the_vmo_after_its_handles_close() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 1);
    let koid = v.get_koid().unwrap();
    let fd = v.export_fd().unwrap();
    let m = Mapping::new(fd.as_fd(), 0, p, true).unwrap();
    assert_eq!(v.into_handle().close(), Ok(()));
    mwrite(&m, 5, b"kept");
    assert_eq!(mread(&m, 5, 4), b"kept");
    let again = Vmo::import_fd(&dev, fd.as_fd()).unwrap();
    assert_eq!(again.get_koid(), Ok(koid));
    assert_eq!(read(&again, 5, 4), b"kept");
    drop(fd);
    drop(again);
    // Only the mapping is left.
    mwrite(&m, 0, b"still");
    assert_eq!(mread(&m, 0, 9), b"stillkept");
}

// ---- b: DECOMMIT and ZERO of mapped pages ------------------------------------------------

/// DECOMMIT of page 1 of a mapped 4-page VMO: only that page reads zeros
/// through the mapping and committed bytes drop by one page; whole-page
/// ZERO does the same to page 2; a byte-range ZERO zeroes exactly those
/// bytes and keeps the page.
#[test]
fn decommit_and_zero_of_mapped_pages_read_zeros_only_there() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 4);
    let m = v.map(0, 4 * p, true).unwrap();
    let fill = |i: usize| vec![0x41 + i as u8; p];
    for i in 0..4 {
        mwrite(&m, i * p, &fill(i));
    }
    assert_eq!(committed(&v), 4 * pg());

    assert_eq!(v.decommit(pg(), pg()), Ok(()));
    assert_eq!(committed(&v), 3 * pg(), "DECOMMIT released page 1");
    assert_eq!(read(&v, pg(), p), vec![0; p]);
    assert_eq!(mread(&m, p, p), vec![0; p], "the mapping lost page 1 too");
    for i in [0, 2, 3] {
        assert_eq!(mread(&m, i * p, p), fill(i), "page {i} kept its data");
    }

    let before = committed(&v);
    assert_eq!(v.zero(2 * pg(), pg()), Ok(()));
    assert_eq!(committed(&v), before - pg(), "whole-page ZERO released page 2");
    assert_eq!(mread(&m, 2 * p, p), vec![0; p]);
    assert_eq!(mread(&m, 0, p), fill(0));
    assert_eq!(mread(&m, 3 * p, p), fill(3));

    let before = committed(&v);
    assert_eq!(v.zero(3 * pg() + 100, 50), Ok(()));
    assert_eq!(committed(&v), before, "a partial ZERO keeps the page");
    let mut want = fill(3);
    want[100..150].fill(0);
    assert_eq!(mread(&m, 3 * p, p), want);
    assert_eq!(read(&v, 3 * pg(), p), want);

    // A ZERO across a page boundary, partial on both sides.
    assert_eq!(v.zero(pg() - 10, 20), Ok(()));
    let mut want0 = fill(0);
    want0[p - 10..].fill(0);
    assert_eq!(mread(&m, 0, p), want0);

    // Writing a decommitted page through the mapping brings it back.
    mwrite(&m, p, b"again");
    assert_eq!(read(&v, pg(), 5), b"again");
    assert_eq!(v.decommit(0, 4 * pg()), Ok(()));
    assert_eq!(committed(&v), 0);
    assert_eq!(mread(&m, 0, 4 * p), vec![0; 4 * p]);
}

// ---- c: past the end: SIGBUS -------------------------------------------------------------

/// Runs the child role `role`, which must be killed by `SIGBUS` right after
/// reporting `CHILD touching ...` (so every check before the touch passed).
fn expect_sigbus(role: &str) {
    let child = spawn_child_role(ROLE_TEST, role, &[]);
    let out = child.wait_with_output().expect("wait for the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let quoted: String = stdout.lines().map(|l| format!("  child| {l}\n")).collect();
    assert_eq!(
        out.status.signal(),
        Some(rustix::process::Signal::BUS.as_raw()),
        "role {role}: the child should die of SIGBUS; it ended with {}:\n{quoted}",
        out.status
    );
    let last = stdout.lines().rev().find_map(|l| l.find("CHILD ").map(|i| &l[i..]));
    assert!(
        last.is_some_and(|l| l.starts_with("CHILD touching")),
        "role {role}: the child died before its touch:\n{quoted}"
    );
}

/// A 2-page mapping of a 1-page VMO: page 0 is readable, reading page 1
/// raises SIGBUS.
#[test]
fn reading_a_mapping_past_the_vmo_end_is_sigbus() {
    let _g = shared();
    expect_sigbus("past-end-read");
}

/// As above, writing page 1.
#[test]
fn writing_a_mapping_past_the_vmo_end_is_sigbus() {
    let _g = shared();
    expect_sigbus("past-end-write");
}

/// A mapped resizable VMO shrunk from 4 pages to 2: pages 0 and 1 stay
/// readable with their data, reading page 2 raises SIGBUS.
#[test]
fn the_part_cut_by_set_size_is_sigbus_for_reads() {
    let _g = shared();
    expect_sigbus("shrink-read");
}

/// As above, writing page 3.
#[test]
fn the_part_cut_by_set_size_is_sigbus_for_writes() {
    let _g = shared();
    expect_sigbus("shrink-write");
}

/// A slice maps only inside its window: a mapping that reaches past it is
/// EINVAL (as dma-buf refuses one past its buffer), at any offset, even
/// though the parent has pages there; inside it is fine.
#[test]
fn a_slice_mapping_past_its_window_is_einval() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let parent = new_vmo(&dev, 4);
    for i in 0..4 {
        parent.write(&[0x70 + i as u8; 8], i * pg()).unwrap();
    }
    let s = parent.create_child(VmoChildOptions::SLICE, pg(), 2 * pg()).unwrap();
    for (off, len) in [(0, 3 * p), (pg(), 2 * p), (2 * pg(), p), (3 * pg(), p), (0, 1 << 30)] {
        assert_eq!(
            s.map(off, len, false).map(|_| ()),
            Err(Status::INVALID_ARGS),
            "{off:#x}+{len:#x}"
        );
    }
    let m = s.map(0, 2 * p, false).unwrap();
    assert_eq!(mread(&m, 0, 8), [0x71; 8]);
    assert_eq!(mread(&m, p, 8), [0x72; 8]);
    let m = s.map(pg(), p, false).unwrap();
    assert_eq!(mread(&m, 0, 8), [0x72; 8]);
}

/// Shrinking and growing a mapped VMO back: the kept pages keep their data,
/// the cut pages come back as zeros through the same mapping.
#[test]
fn shrinking_and_growing_a_mapped_vmo_gives_zeros_in_the_cut_part() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_resizable(&dev, 4);
    let m = v.map(0, 4 * p, true).unwrap();
    for i in 0..4 {
        mwrite(&m, i * p + 8, &[0x50 + i as u8; 8]);
    }
    assert_eq!(v.set_size(2 * pg()), Ok(()));
    assert_eq!(committed(&v), 2 * pg(), "the cut pages are freed");
    assert_eq!(v.set_size(4 * pg()), Ok(()));
    assert_eq!(mread(&m, 8, 8), [0x50; 8]);
    assert_eq!(mread(&m, p + 8, 8), [0x51; 8]);
    assert_eq!(mread(&m, 2 * p + 8, 8), [0; 8]);
    assert_eq!(mread(&m, 3 * p + 8, 8), [0; 8]);
    assert_eq!(read(&v, 3 * pg() + 8, 8), [0; 8]);
}

/// Makes a crash leave no core file.
fn no_core_dumps() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })
        .expect("RLIMIT_CORE 0");
}

/// Reports and touches byte `offset` of `m`; reports again if that survived.
fn touch(m: &Mapping, offset: usize, write: bool) {
    println!("CHILD touching {offset:#x} ({})", if write { "write" } else { "read" });
    let r = if write { m.write_at(offset, b"x") } else { m.read_at(offset, &mut [0u8; 1]) };
    println!("CHILD survived the touch: {r:?}");
}

/// The child side of the SIGBUS tests.
fn sigbus_role(role: &str) {
    no_core_dumps();
    let dev = dev();
    let p = up();
    match role {
        "past-end-read" | "past-end-write" => {
            let v = new_vmo(&dev, 1);
            v.write(b"page 0", 0).unwrap();
            let m = v.map(0, 2 * p, true).expect("a mapping longer than the VMO is allowed");
            assert_eq!(mread(&m, 0, 6), b"page 0");
            assert_eq!(mread(&m, p - 1, 1), [0]);
            touch(&m, p, role.ends_with("write"));
        }
        "shrink-read" | "shrink-write" => {
            let v = new_resizable(&dev, 4);
            for i in 0..4 {
                v.write(&[0x60 + i as u8; 8], i * pg()).unwrap();
            }
            let m = v.map(0, 4 * p, true).unwrap();
            for i in 0..4 {
                assert_eq!(mread(&m, i * p, 8), [0x60 + i as u8; 8]);
            }
            assert_eq!(v.set_size(2 * pg()), Ok(()));
            assert_eq!(v.get_size(), Ok(2 * pg()));
            assert_eq!(mread(&m, 0, 8), [0x60; 8]);
            assert_eq!(mread(&m, p, 8), [0x61; 8]);
            println!("CHILD pages 0-1 kept their data");
            if role.ends_with("write") {
                touch(&m, 3 * p + 1, true);
            } else {
                touch(&m, 2 * p, false);
            }
        }
        other => panic!("unknown SIGBUS role {other:?}"),
    }
}

// ---- d: two processes, SCM_RIGHTS ----------------------------------------------------------

/// Sends `data`, and `fd` if given (`SCM_RIGHTS`), as one message.
fn send(sock: BorrowedFd<'_>, data: &[u8], fd: Option<BorrowedFd<'_>>) {
    let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)), "the fd fits");
    }
    let n =
        sendmsg(sock, &[IoSlice::new(data)], &mut control, SendFlags::empty()).expect("sendmsg");
    assert_eq!(n, data.len());
}

/// One message and the fds it carried; `None` at end of file (the other
/// process closed its end, or ended).
fn recv(sock: BorrowedFd<'_>) -> Option<(String, Vec<OwnedFd>)> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 256];
    let r = recvmsg(sock, &mut [IoSliceMut::new(&mut buf)], &mut control, RecvFlags::CMSG_CLOEXEC)
        .expect("recvmsg (EAGAIN: the other process sent nothing for 2 minutes)");
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    if r.bytes == 0 && fds.is_empty() {
        return None;
    }
    Some((String::from_utf8(buf[..r.bytes].to_vec()).expect("a text message"), fds))
}

/// Starts the child role `role` with one end of a `SOCK_SEQPACKET`
/// socketpair as its standard input; returns the child and the other end.
fn spawn_with_socket(role: &str) -> (std::process::Child, OwnedFd) {
    let (mine, theirs) =
        socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
            .expect("socketpair");
    set_socket_timeout(&mine, Timeout::Recv, Some(Duration::from_secs(120))).expect("timeout");
    let mut cmd = child_role_command(ROLE_TEST, role, &[]);
    cmd.stdin(std::process::Stdio::from(theirs));
    let child = cmd.spawn().expect("spawn the child process");
    // The command holds this process's copy of the child's end: close it,
    // so that the child's exit is an end of file here.
    drop(cmd);
    (child, mine)
}

/// Two processes share a VMO through `SCM_RIGHTS`: the child imports the
/// parent's fd into its own table and writes through a mapping and the
/// ioctl; the parent sees both through `read` and its own mapping. Then the
/// other way: the child sends a VMO of its own, which the parent imports,
/// maps and writes, and the child sees that. The parent's import outlives
/// the child.
#[test]
fn two_processes_share_a_vmo_through_scm_rights() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 2);
    v.write(b"from the parent", 0).unwrap();
    let koid = v.get_koid().unwrap();
    let pm = v.map(0, 2 * p, true).unwrap();
    let (child, sock) = spawn_with_socket("share");
    let fd = v.export_fd().unwrap();
    send(sock.as_fd(), format!("vmo {koid}").as_bytes(), Some(fd.as_fd()));
    drop(fd); // the message carries its own reference

    let Some((msg, mut fds)) = recv(sock.as_fd()) else {
        finish_child(child);
        panic!("the child ended without answering");
    };
    let child_koid: u64 = msg
        .strip_prefix("wrote; own vmo ")
        .unwrap_or_else(|| panic!("unexpected message {msg:?}"))
        .parse()
        .unwrap();
    assert_eq!(fds.len(), 1, "one fd with the answer");
    let cfd = fds.pop().unwrap();

    assert_eq!(read(&v, pg() + 7, 17), b"child via mapping");
    assert_eq!(mread(&pm, p + 7, 17), b"child via mapping");
    assert_eq!(read(&v, 300, 15), b"child via ioctl");
    assert_eq!(mread(&pm, 300, 15), b"child via ioctl");

    let w = Vmo::import_fd(&dev, cfd.as_fd()).expect("import the child's VMO");
    assert_eq!(w.get_koid(), Ok(child_koid));
    assert_ne!(child_koid, koid);
    assert_eq!(rights(&w), Rights::DEFAULT_VMO);
    assert_eq!(read(&w, 0, 17), b"made by the child");
    let wm = Mapping::new(cfd.as_fd(), 0, p, true).unwrap();
    assert_eq!(mread(&wm, 0, 17), b"made by the child");
    mwrite(&wm, 100, b"parent via mapping");
    w.write(b"parent via ioctl", 200).unwrap();
    mwrite(&pm, p + 100, b"parent again");
    send(sock.as_fd(), b"check", None);

    let lines = finish_child(child);
    assert!(lines.iter().any(|l| l == "CHILD share ok"), "{lines:?}");
    // The child is gone; its VMO lives on here.
    assert_eq!(mread(&wm, 0, 17), b"made by the child");
    assert_eq!(read(&w, 100, 18), b"parent via mapping");
    assert_eq!(w.get_size(), Ok(pg()));
}

/// The child side of `two_processes_share_a_vmo_through_scm_rights`.
fn share_role() {
    let stdin = std::io::stdin();
    let sock = stdin.as_fd();
    set_socket_timeout(sock, Timeout::Recv, Some(Duration::from_secs(120))).expect("timeout");
    let dev = dev();
    let p = up();
    let (msg, mut fds) = recv(sock).expect("the parent's VMO");
    let koid: u64 = msg.strip_prefix("vmo ").expect("a vmo message").parse().unwrap();
    assert_eq!(fds.len(), 1);
    let fd = fds.pop().unwrap();
    let v = Vmo::import_fd(&dev, fd.as_fd()).expect("import into the child's table");
    assert_eq!(v.get_koid(), Ok(koid), "the same VMO in both processes");
    assert_eq!(rights(&v), Rights::DEFAULT_VMO);
    let m = Mapping::new(fd.as_fd(), 0, 2 * p, true).expect("map in the child");
    assert_eq!(mread(&m, 0, 15), b"from the parent");
    assert_eq!(read(&v, 0, 15), b"from the parent");
    mwrite(&m, p + 7, b"child via mapping");
    v.write(b"child via ioctl", 300).unwrap();

    let own = new_vmo(&dev, 1);
    let own_map = own.map(0, p, true).unwrap();
    mwrite(&own_map, 0, b"made by the child");
    let own_fd = own.export_fd().unwrap();
    let own_koid = own.get_koid().unwrap();
    send(sock, format!("wrote; own vmo {own_koid}").as_bytes(), Some(own_fd.as_fd()));

    let (msg, fds) = recv(sock).expect("the parent's check message");
    assert_eq!((msg.as_str(), fds.len()), ("check", 0));
    assert_eq!(mread(&m, p + 100, 12), b"parent again");
    assert_eq!(read(&v, pg() + 100, 12), b"parent again");
    assert_eq!(mread(&own_map, 100, 18), b"parent via mapping");
    assert_eq!(read(&own, 100, 18), b"parent via mapping");
    assert_eq!(mread(&own_map, 200, 16), b"parent via ioctl");
    println!("CHILD share ok");
}

/// Two processes write a VMO and its snapshot at once: the parent through
/// its mapping of the VMO, the child (another process with its own table)
/// through its mapping of the snapshot, 64 pages each, every page read back
/// just before it is written. Each process always reads the original bytes
/// of a page it has not written yet, whatever the other wrote, and its own
/// bytes afterwards; the ioctls agree.
#[test]
fn two_processes_write_a_vmo_and_its_snapshot_at_once() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let pages = 64;
    let v = new_vmo(&dev, pages as u64);
    v.write(&vec![b'O'; pages * p], 0).unwrap();
    let vm = v.map(0, pages * p, true).unwrap();
    let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, (pages * p) as u64).unwrap();
    let (child, sock) = spawn_with_socket("cow");
    let fd = snap.export_fd().unwrap();
    send(sock.as_fd(), b"snapshot", Some(fd.as_fd()));
    drop(fd);
    drop(snap);
    let Some((msg, _)) = recv(sock.as_fd()) else {
        finish_child(child);
        panic!("the child ended before it was ready");
    };
    assert_eq!(msg, "ready");
    send(sock.as_fd(), b"go", None);
    for i in 0..pages {
        assert_eq!(mread(&vm, i * p, 4), b"OOOO", "page {i} before the parent wrote it");
        mwrite(&vm, i * p, b"PPPP");
    }
    let Some((msg, _)) = recv(sock.as_fd()) else {
        finish_child(child);
        panic!("the child ended before it was done");
    };
    assert_eq!(msg, "done");
    for i in 0..pages {
        assert_eq!(mread(&vm, i * p, 4), b"PPPP");
        assert_eq!(read(&v, (i * p) as u64, 5), b"PPPPO");
    }
    send(sock.as_fd(), b"check", None);
    let lines = finish_child(child);
    assert!(lines.iter().any(|l| l == "CHILD cow ok"), "{lines:?}");
}

/// The child side of `two_processes_write_a_vmo_and_its_snapshot_at_once`.
fn cow_role() {
    let stdin = std::io::stdin();
    let sock = stdin.as_fd();
    set_socket_timeout(sock, Timeout::Recv, Some(Duration::from_secs(120))).expect("timeout");
    let dev = dev();
    let p = up();
    let pages = 64;
    let (msg, mut fds) = recv(sock).expect("the snapshot");
    assert_eq!((msg.as_str(), fds.len()), ("snapshot", 1));
    let fd = fds.pop().unwrap();
    let s = Vmo::import_fd(&dev, fd.as_fd()).expect("import the snapshot");
    let m = Mapping::new(fd.as_fd(), 0, pages * p, true).expect("map the snapshot");
    send(sock, b"ready", None);
    let (msg, _) = recv(sock).expect("go");
    assert_eq!(msg, "go");
    for i in (0..pages).rev() {
        assert_eq!(mread(&m, i * p, 4), b"OOOO", "page {i} before the child wrote it");
        mwrite(&m, i * p, b"CCCC");
    }
    send(sock, b"done", None);
    let (msg, _) = recv(sock).expect("check");
    assert_eq!(msg, "check");
    for i in 0..pages {
        assert_eq!(mread(&m, i * p, 4), b"CCCC");
        assert_eq!(read(&s, (i * p) as u64, 5), b"CCCCO");
    }
    println!("CHILD cow ok");
}

/// Not a test of its own: the body of the child processes that the tests
/// above start (ignored in normal runs; run with the role variable set).
#[test]
#[ignore = "child role: started by the mapping tests with VMO_GUEST_CHILD_ROLE set"]
fn child_role() {
    let role = std::env::var(CHILD_ROLE_ENV)
        .expect("run only by the mapping tests (VMO_GUEST_CHILD_ROLE)");
    match role.as_str() {
        "share" => share_role(),
        "cow" => cow_role(),
        other => sigbus_role(other),
    }
}

// ---- e: rights and errors ------------------------------------------------------------------

/// A handle without WRITE exports an O_RDONLY fd: `mmap` with
/// `PROT_WRITE | MAP_SHARED` fails with EACCES (Linux's own check), a
/// read-only mapping works and sees later writes, and importing the fd gives
/// a handle with exactly the exported rights (no WRITE).
#[test]
fn a_read_only_export_maps_read_only_and_imports_without_write() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 1);
    v.write(b"read-only view", 0).unwrap();
    let ro_rights = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    let ro = v.duplicate_handle(ro_rights).unwrap();
    let fd = ro.export_fd().expect("READ, MAP, DUPLICATE and TRANSFER are enough to export");
    assert_eq!(access_mode(fd.as_fd()), OFlags::RDONLY);
    assert_eq!(access_mode(v.export_fd().unwrap().as_fd()), OFlags::RDWR);

    let e = Mapping::new(fd.as_fd(), 0, p, true).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(EACCES), "{e}");
    assert_eq!(ro.map(0, p, true).map(|_| ()), Err(Status::ACCESS_DENIED));
    let m = Mapping::new(fd.as_fd(), 0, p, false).expect("a read-only mapping");
    assert_eq!(mread(&m, 0, 14), b"read-only view");
    assert_eq!(m.write_at(0, b"x"), Err(Status::ACCESS_DENIED));
    v.write(b"READ", 0).unwrap();
    assert_eq!(mread(&m, 0, 4), b"READ");

    let imported = Vmo::import_fd(&dev, fd.as_fd()).unwrap();
    assert_eq!(rights(&imported), ro_rights);
    assert_eq!(imported.get_koid(), v.get_koid());
    assert_eq!(imported.write(b"x", 0), Err(Status::ACCESS_DENIED));
    assert_eq!(read(&imported, 0, 4), b"READ");
    // Its own export is read-only again.
    let again = imported.export_fd().unwrap();
    assert_eq!(access_mode(again.as_fd()), OFlags::RDONLY);
}

/// Import keeps the fd's rights, reduced by `rights`; asking for more than
/// the fd carries is INVALID_ARGS.
#[test]
fn import_rights_may_only_drop() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let fd = v.export_fd().unwrap();
    let exportable = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    let rm = Vmo::import_fd_with_rights(&dev, fd.as_fd(), exportable).unwrap();
    assert_eq!(rights(&rm), exportable);
    assert_eq!(rm.write(b"x", 0), Err(Status::ACCESS_DENIED));
    assert_eq!(access_mode(rm.export_fd().unwrap().as_fd()), OFlags::RDONLY);
    let none = Vmo::import_fd_with_rights(&dev, fd.as_fd(), Rights::NONE).unwrap();
    assert_eq!(rights(&none), Rights::NONE);
    assert_eq!(none.export_fd().map(|_| ()), Err(Status::ACCESS_DENIED));

    let ro = v.duplicate_handle(exportable).unwrap();
    let rofd = ro.export_fd().unwrap();
    for wider in [Rights::READ | Rights::WRITE | Rights::MAP, Rights::DEFAULT_VMO, Rights::RESIZE] {
        assert_eq!(
            Vmo::import_fd_with_rights(&dev, rofd.as_fd(), wider),
            Err(Status::INVALID_ARGS),
            "{wider:?}"
        );
    }
    assert_eq!(rights(&Vmo::import_fd(&dev, rofd.as_fd()).unwrap()), exportable);

    // A resizable VMO's fd carries RESIZE.
    let r = new_resizable(&dev, 1);
    let rfd = r.export_fd().unwrap();
    let ri = Vmo::import_fd(&dev, rfd.as_fd()).unwrap();
    assert_eq!(rights(&ri), Rights::DEFAULT_VMO | Rights::RESIZE);
    assert_eq!(ri.set_size(3 * pg()), Ok(()));
    assert_eq!(r.get_size(), Ok(3 * pg()));
}

/// Export needs MAP and READ, and the rights a handle needs to be copied and
/// sent elsewhere (DUPLICATE, TRANSFER: an fd can be imported any number of
/// times, in any process): without any of the four it is ACCESS_DENIED (and
/// so is `Vmo::map`); an event is WRONG_TYPE; a closed handle is BAD_HANDLE.
#[test]
fn export_needs_map_read_duplicate_and_transfer() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let all = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    for missing in [Rights::READ, Rights::MAP, Rights::DUPLICATE, Rights::TRANSFER] {
        let h = v.duplicate_handle((all | Rights::WRITE) & !missing).unwrap();
        assert_eq!(h.export_fd().map(|_| ()), Err(Status::ACCESS_DENIED), "no {missing:?}");
        assert_eq!(h.map(0, up(), false).map(|_| ()), Err(Status::ACCESS_DENIED), "{missing:?}");
    }
    let just = v.duplicate_handle(all).unwrap();
    assert!(just.export_fd().is_ok(), "READ | MAP | DUPLICATE | TRANSFER is enough");

    let ev = Vmo::from(Handle::from(Event::create(&dev).unwrap()));
    assert_eq!(ev.export_fd().map(|_| ()), Err(Status::WRONG_TYPE));
    let closed = new_vmo(&dev, 1);
    let raw = closed.raw_handle();
    assert_eq!(closed.into_handle().close(), Ok(()));
    assert_eq!(
        sys::export_owned(dev.as_fd(), raw, sys::VMO_EXPORT_CLOEXEC).map(|_| ()),
        Err(Errno::from_raw_os_error(sys::VMO_ERRNO_BAD_HANDLE as i32))
    );
}

/// The fd is close-on-exec with `VMO_EXPORT_CLOEXEC` (what `export_fd`
/// asks for) and not without; unknown flags and non-zero reserved fields are
/// INVALID_ARGS for export and import.
#[test]
fn export_flags_and_reserved_fields() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let fd = v.export_fd().unwrap();
    assert!(fcntl_getfd(&fd).unwrap().contains(FdFlags::CLOEXEC));
    let plain = sys::export_owned(dev.as_fd(), v.raw_handle(), 0).expect("export without CLOEXEC");
    assert!(!fcntl_getfd(&plain).unwrap().contains(FdFlags::CLOEXEC));

    let inval = Err(Errno::from_raw_os_error(sys::VMO_ERRNO_INVALID_ARGS as i32));
    for flags in [1 << 1, 1 << 31, !0] {
        assert_eq!(
            sys::export_owned(dev.as_fd(), v.raw_handle(), flags).map(|_| ()),
            inval,
            "{flags:#x}"
        );
    }
    let mut args =
        sys::vmo_export_args { handle: v.raw_handle(), reserved: 1, ..Default::default() };
    assert_eq!(sys::export(dev.as_fd(), &mut args), inval);
    let mut args = sys::vmo_import_args {
        fd: fd.as_raw_fd(),
        rights: Rights::SAME_RIGHTS.bits(),
        reserved: 1,
        ..Default::default()
    };
    assert_eq!(sys::import(dev.as_fd(), &mut args), inval);
    args.reserved = 0;
    assert_eq!(sys::import(dev.as_fd(), &mut args), Ok(()));
    assert_ne!(args.handle, 0);
    assert_eq!(
        sys::close(dev.as_fd(), sys::vmo_close_args { handle: args.handle, reserved: 0 }),
        Ok(())
    );
}

/// Importing an open fd that is not a VMO fd is WRONG_TYPE: a memfd, both
/// ends of a pipe, a socket, a regular file and `/dev/vmo` itself.
#[test]
fn import_of_a_fd_that_is_not_a_vmo_fd_is_wrong_type() {
    let _g = shared();
    let dev = dev();
    let memfd = memfd_create("not-a-vmo", MemfdFlags::CLOEXEC).unwrap();
    let (pr, pw) = rustix::pipe::pipe().unwrap();
    let (s1, _s2) =
        socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None).unwrap();
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    let other_dev = vmo_guest_tests::dev();
    let fds: [(&str, BorrowedFd<'_>); 6] = [
        ("memfd", memfd.as_fd()),
        ("pipe read end", pr.as_fd()),
        ("pipe write end", pw.as_fd()),
        ("socket", s1.as_fd()),
        ("regular file", file.as_fd()),
        ("/dev/vmo", other_dev.as_fd()),
    ];
    for (what, fd) in fds {
        assert_eq!(Vmo::import_fd(&dev, fd), Err(Status::WRONG_TYPE), "{what}");
    }
}

/// Importing a number that is not an open fd is BAD_HANDLE: -1, a number at
/// the process's fd limit (never allocated) and the largest one.
#[test]
fn import_of_a_number_that_is_not_an_open_fd_is_bad_handle() {
    let _g = shared();
    let dev = dev();
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let mut numbers = vec![-1, i32::MAX];
    if let Some(n) = limit.and_then(|n| i32::try_from(n).ok()) {
        numbers.push(n);
    }
    for fd in numbers {
        let mut args =
            sys::vmo_import_args { fd, rights: Rights::SAME_RIGHTS.bits(), ..Default::default() };
        assert_eq!(
            sys::import(dev.as_fd(), &mut args),
            Err(Errno::from_raw_os_error(sys::VMO_ERRNO_BAD_HANDLE as i32)),
            "fd {fd}"
        );
        assert_eq!(args.handle, 0);
    }
}

/// A VMO fd maps only `MAP_SHARED`: `MAP_PRIVATE` is EINVAL (also read-only
/// and on an O_RDONLY fd, where Linux itself would allow it); so are an
/// unaligned offset and length 0 (Linux's checks).
#[test]
fn map_private_and_bad_ranges_are_einval() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 2);
    let fd = v.export_fd().unwrap();
    let exportable = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    let ro = v.duplicate_handle(exportable).unwrap().export_fd().unwrap();
    let rw = ProtFlags::READ | ProtFlags::WRITE;
    for (fd, prot) in [(&fd, ProtFlags::READ), (&fd, rw), (&ro, ProtFlags::READ), (&ro, rw)] {
        let r = sys::mmap(fd.as_fd(), 0, p, prot, MapFlags::PRIVATE).map(|_| ());
        assert_eq!(r, Err(Errno::INVAL), "MAP_PRIVATE, {prot:?}");
    }
    assert!(sys::mmap(fd.as_fd(), 0, p, rw, MapFlags::SHARED).is_ok());
    assert_eq!(v.map(1, p, true).map(|_| ()), Err(Status::INVALID_ARGS));
    assert_eq!(v.map(0, 0, true).map(|_| ()), Err(Status::INVALID_ARGS));
}

// ---- f: fstat, /proc ----------------------------------------------------------------------

/// fstat of an exported fd gives the VMO's size (following `set_size`) and
/// one inode number per VMO, whichever handle or import it came from.
#[test]
fn fstat_reports_the_vmo_size_and_one_inode_per_vmo() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = Vmo::create(&dev, 3 * p - 100, VmoOptions::empty()).unwrap();
    let a = v.export_fd().unwrap();
    let b = v.export_fd().unwrap();
    let st = fstat(&a).unwrap();
    assert_eq!(st.st_size as u64, 3 * p, "the size rounded up to a page");
    assert_eq!(fstat(&b).unwrap().st_ino, st.st_ino, "two exports of one VMO");
    let ro = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    let dup = v.duplicate_handle(ro).unwrap().export_fd().unwrap();
    assert_eq!(fstat(&dup).unwrap().st_ino, st.st_ino, "an export of a duplicate");
    let imported = Vmo::import_fd(&dev, a.as_fd()).unwrap().export_fd().unwrap();
    assert_eq!(fstat(&imported).unwrap().st_ino, st.st_ino, "an export of an import");

    let other = new_vmo(&dev, 3).export_fd().unwrap();
    assert_ne!(fstat(&other).unwrap().st_ino, st.st_ino, "another VMO");
    let slice = v.create_child(VmoChildOptions::SLICE, p, p).unwrap().export_fd().unwrap();
    let sst = fstat(&slice).unwrap();
    assert_ne!(sst.st_ino, st.st_ino, "a slice is a VMO of its own");
    assert_eq!(sst.st_size as u64, p);

    let r = new_resizable(&dev, 2);
    let rf = r.export_fd().unwrap();
    assert_eq!(fstat(&rf).unwrap().st_size as u64, 2 * p);
    for (size, want) in [(5 * p, 5 * p), (p, p), (3 * p - 1, 3 * p), (0, 0)] {
        assert_eq!(r.set_size(size), Ok(()));
        assert_eq!(fstat(&rf).unwrap().st_size as u64, want, "after set_size({size})");
    }
}

/// The value after `KEY:` on a line of `text` whose key ends with `key`
/// (e.g. `vmo-koid:\t42`), decimal or 0x-hex.
fn fdinfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if !k.trim().ends_with(key) {
            return None;
        }
        let v = v.trim();
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    })
}

/// `/proc/self/maps` names a mapping of a VMO `/vmo:<koid>` with shared
/// permissions and the mapped length; `/proc/self/fdinfo/<fd>` of the
/// exported fd states the VMO's koid and size.
#[test]
fn proc_maps_and_fdinfo_name_the_vmo() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 3);
    let koid = v.get_koid().unwrap();
    let fd = v.export_fd().unwrap();
    let rw = Mapping::new(fd.as_fd(), 0, 2 * p, true).unwrap();
    let ro = Mapping::new(fd.as_fd(), pg(), p, false).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for (m, perms) in [(&rw, "rw-s"), (&ro, "r--s")] {
        let start = m.as_ptr() as usize;
        let line = maps
            .lines()
            .find(|l| l.starts_with(&format!("{start:08x}-")))
            .unwrap_or_else(|| panic!("no line for {start:#x} in /proc/self/maps:\n{maps}"));
        let end = line.split(['-', ' ']).nth(1).map(|e| usize::from_str_radix(e, 16).unwrap());
        assert_eq!(end, Some(start + m.len()), "{line}");
        assert_eq!(line.split_whitespace().nth(1), Some(perms), "{line}");
        let name = line.split_once("/vmo:").unwrap_or_else(|| panic!("not /vmo:<koid>: {line}")).1;
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        assert_eq!(digits.parse::<u64>(), Ok(koid), "{line}");
    }

    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    assert_eq!(fdinfo_field(&text, "koid"), Some(koid), "{text}");
    assert_eq!(fdinfo_field(&text, "size"), Some(3 * pg()), "{text}");
}

// ---- g: slices and snapshots -------------------------------------------------------------

/// A slice maps its window on the parent: a write through the parent is read
/// at the slice mapping's offset 0, a write through the slice mapping is
/// seen by the parent, and the slice owns no pages.
#[test]
fn a_slice_maps_its_window_on_the_parent() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let parent = new_vmo(&dev, 4);
    let slice = parent.create_child(VmoChildOptions::SLICE, pg(), 2 * pg()).unwrap();
    let sm = slice.map(0, 2 * p, true).unwrap();
    parent.write(b"via parent", pg()).unwrap();
    assert_eq!(mread(&sm, 0, 10), b"via parent");
    mwrite(&sm, p + 20, b"via slice");
    assert_eq!(read(&parent, 2 * pg() + 20, 9), b"via slice");
    let pm = parent.map(0, 4 * p, true).unwrap();
    assert_eq!(mread(&pm, 2 * p + 20, 9), b"via slice");
    mwrite(&pm, p + 50, b"parent mapping");
    assert_eq!(mread(&sm, 50, 14), b"parent mapping");
    // A mapping at an offset inside the slice.
    let sm2 = slice.map(pg(), p, false).unwrap();
    assert_eq!(mread(&sm2, 20, 9), b"via slice");
    assert_eq!(committed(&slice), 0, "a slice owns no pages");
    assert_eq!(committed(&parent), 2 * pg());
    // DECOMMIT through the parent empties the slice's mappings too.
    assert_eq!(parent.decommit(pg(), pg()), Ok(()));
    assert_eq!(committed(&parent), pg());
    assert_eq!(mread(&sm, 0, p), vec![0; p]);
    assert_eq!(mread(&sm2, 20, 9), b"via slice");
}

/// A snapshot maps its own pages: it keeps what the parent held at creation
/// while the parent's mapping changes, and writes through its mapping stay
/// its own.
#[test]
fn a_snapshot_maps_its_own_pages() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 2);
    v.write(b"before", 0).unwrap();
    v.write(b"second page", pg()).unwrap();
    let vm = v.map(0, 2 * p, true).unwrap();
    let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, 2 * pg()).unwrap();
    let sm = snap.map(0, 2 * p, true).unwrap();
    assert_eq!(mread(&sm, 0, 6), b"before");
    assert_eq!(mread(&sm, p, 11), b"second page");
    mwrite(&vm, 0, b"AFTER!");
    assert_eq!(mread(&sm, 0, 6), b"before", "the snapshot never sees later parent writes");
    assert_eq!(read(&snap, 0, 6), b"before");
    assert_eq!(read(&v, 0, 6), b"AFTER!");
    mwrite(&sm, p, b"snapshot's!");
    assert_eq!(read(&snap, pg(), 11), b"snapshot's!");
    assert_eq!(read(&v, pg(), 11), b"second page", "nor the parent the snapshot's");
    assert_eq!(mread(&vm, p, 11), b"second page");
}

// ---- h: COMMIT of a mapped range ---------------------------------------------------------

/// COMMIT of a mapped range allocates its pages; touching them through the
/// mapping then allocates nothing more, a write to an uncommitted page
/// commits exactly that page, and DECOMMIT of the lot leaves zeros.
#[test]
fn commit_of_a_mapped_range_then_touching_it() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let v = new_vmo(&dev, 4);
    let m = v.map(0, 4 * p, true).unwrap();
    assert_eq!(committed(&v), 0, "mapping commits nothing");
    assert_eq!(v.commit(0, 2 * pg()), Ok(()));
    assert_eq!(committed(&v), 2 * pg());
    assert_eq!(mread(&m, 0, 2 * p), vec![0; 2 * p], "committed pages read as zeros");
    mwrite(&m, p + 1, b"in a committed page");
    assert_eq!(committed(&v), 2 * pg(), "touching committed pages allocates nothing");
    assert_eq!(read(&v, pg() + 1, 19), b"in a committed page");
    mwrite(&m, 3 * p, b"fault");
    assert_eq!(committed(&v), 3 * pg(), "a write fault commits one page");
    assert_eq!(v.commit(0, 4 * pg()), Ok(()));
    assert_eq!(committed(&v), 4 * pg());
    assert_eq!(mread(&m, 3 * p, 5), b"fault", "COMMIT keeps committed data");
    assert_eq!(mread(&m, 2 * p, 8), [0; 8]);
    assert_eq!(v.decommit(0, 4 * pg()), Ok(()));
    assert_eq!(committed(&v), 0);
    assert_eq!(mread(&m, p + 1, 19), vec![0; 19]);
}

// ---- i: stress ------------------------------------------------------------------------------

/// Writer rounds of [`mapped_writers_race_decommit`], over all writers
/// (Zircon's count).
const STRESS_ROUNDS: u64 = 100_000;
/// Threads writing through the mapping.
const STRESS_WRITERS: usize = 4;
/// Pages each writer owns.
const PAGES_PER_WRITER: usize = 2;
/// Bytes a writer writes and reads back per round.
const PATTERN_LEN: usize = 32;

/// Byte `i` of the pattern of writer `w` in round `r`: never 0, and
/// different from the same byte of any round less than 255 rounds away.
fn pattern_byte(w: usize, r: u64, i: usize) -> u8 {
    1 + ((r * 31 + i as u64 * 7 + w as u64 * 64) % 255) as u8
}

/// Four threads write a per-round pattern through one mapping, each into
/// its own pages, and check at once that every byte reads back as the
/// pattern or 0 (through the mapping, and every 16th round through the
/// read ioctl), never stale data or another writer's; two threads DECOMMIT
/// the pages meanwhile (all at once, and one page at a time), until the
/// writers are done with [`STRESS_ROUNDS`] rounds in total. Afterwards the
/// VMO and the mapping are consistent.
#[test]
fn mapped_writers_race_decommit() {
    let _g = exclusive();
    let dev = dev();
    let p = up();
    let pages = STRESS_WRITERS * PAGES_PER_WRITER;
    let v = new_vmo(&dev, pages as u64);
    let m = v.map(0, pages * p, true).unwrap();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (decommits, zero_reads) = std::thread::scope(|s| {
        let deciders: Vec<_> = (0..2u64)
            .map(|d| {
                let (v, stop) = (&v, &stop);
                s.spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let r = if d == 0 {
                            v.decommit(0, (pages * p) as u64)
                        } else {
                            v.decommit((n % pages as u64) * pg(), pg())
                        };
                        assert_eq!(r, Ok(()), "decommitter {d}, DECOMMIT number {n}");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let writers: Vec<_> = (0..STRESS_WRITERS)
            .map(|w| {
                let (v, m) = (&v, &m);
                s.spawn(move || {
                    let mut zero_reads = 0u64;
                    let mut pat = [0u8; PATTERN_LEN];
                    let mut back = [0u8; PATTERN_LEN];
                    for r in 0..STRESS_ROUNDS / STRESS_WRITERS as u64 {
                        for (i, b) in pat.iter_mut().enumerate() {
                            *b = pattern_byte(w, r, i);
                        }
                        let page = w * PAGES_PER_WRITER + (r as usize % PAGES_PER_WRITER);
                        let off = page * p + (r as usize * 40) % (p - PATTERN_LEN);
                        mwrite(m, off, &pat);
                        m.read_at(off, &mut back).unwrap();
                        let check = |back: &[u8], how: &str| {
                            let bad = back.iter().zip(&pat).position(|(&b, &x)| b != x && b != 0);
                            assert_eq!(
                                bad,
                                None,
                                "writer {w} round {r} ({how}) at {off:#x}: read {back:02x?}, wrote {pat:02x?}"
                            );
                        };
                        check(&back, "mapping");
                        if back != pat {
                            zero_reads += 1;
                        }
                        if r % 16 == 0 {
                            v.read(&mut back, off as u64).unwrap();
                            check(&back, "read ioctl");
                        }
                    }
                    zero_reads
                })
            })
            .collect();
        // Join the writers, then stop the decommitters even if a writer
        // panicked; re-raise the first panic.
        let results: Vec<_> = writers.into_iter().map(|h| h.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let loops: Vec<_> = deciders.into_iter().map(|h| h.join()).collect();
        let zero_reads: u64 =
            results.into_iter().map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e))).sum();
        let decommits: u64 =
            loops.into_iter().map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e))).sum();
        (decommits, zero_reads)
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "mapped writers vs DECOMMIT: {STRESS_ROUNDS} rounds, {decommits} DECOMMITs, \
         {zero_reads} read-backs hit by a DECOMMIT, {secs:.1} s"
    );
    assert!(decommits > 0, "the decommitters ran");
    let c = committed(&v);
    assert!(c <= (pages * p) as u64 && c % pg() == 0, "committed {c}");
    assert_eq!(v.decommit(0, (pages * p) as u64), Ok(()));
    assert_eq!(committed(&v), 0);
    assert_eq!(mread(&m, 0, pages * p), vec![0; pages * p], "nothing stale in the mapping");
    mwrite(&m, pages * p - 5, b"final");
    assert_eq!(read(&v, (pages * p - 5) as u64, 5), b"final");
}

/// Every mapping runs the module's fault handler and its `vm_file` is the
/// VMO fd, which holds one module reference (its file operations are module
/// code): a mapping left after every fd and handle is closed keeps the module
/// loaded, whatever the VMO (a slice, a plain VMO). When everything is gone
/// the module's reference count is back where it was: nothing leaks.
#[test]
fn every_mapping_keeps_the_module_loaded_through_its_file() {
    let _g = exclusive();
    let refcnt = || -> i64 {
        let s =
            std::fs::read_to_string("/sys/module/vmo/refcnt").expect("read /sys/module/vmo/refcnt");
        s.trim().parse().expect("refcnt is a number")
    };
    let baseline = refcnt();
    let dev = dev();
    let parent = new_vmo(&dev, 2);
    let slice = parent.create_child(VmoChildOptions::SLICE, 0, pg()).unwrap();
    let sm = slice.map(0, up(), true).unwrap();
    let pm = parent.map(0, up(), true).unwrap();
    let with_both = refcnt();
    drop(pm);
    assert_eq!(refcnt(), with_both - 1, "a plain VMO's mapping held one reference");
    let pm = parent.map(0, up(), true).unwrap();
    drop(sm);
    assert_eq!(refcnt(), with_both - 1, "the slice's mapping held one reference");
    let sm = slice.map(0, up(), true).unwrap();
    assert_eq!(refcnt(), with_both);
    mwrite(&sm, 0, b"kept");
    // Close the handles and /dev/vmo: only the two mappings are left.
    drop((slice, parent, dev));
    // Two files, and the superblock of the VMO fds' filesystem while any fd lives.
    assert!(refcnt() >= baseline + 2, "the two mappings alone keep the module loaded");
    assert_eq!(mread(&sm, 0, 4), b"kept");
    assert_eq!(mread(&pm, 0, 4), b"kept");
    drop(sm);
    assert_eq!(mread(&pm, 0, 4), b"kept", "the plain mapping still works");
    drop(pm);
    assert_eq!(refcnt(), baseline, "every reference is returned");
}
