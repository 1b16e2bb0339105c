//! Writeback of pager-backed VMOs (Zircon's dirty tracking): which writes
//! make pages dirty, DIRTY requests of `TRAP_DIRTY` VMOs, WRITEBACK_BEGIN and
//! END, `zx_pager_query_dirty_ranges`, `zx_pager_query_vmo_stats`, detach
//! and pager close with dirty pages, and writes that race a writeback. The
//! expected behaviour follows Zircon's core tests `PagerWriteback.*`
//! (zircon/system/utest/core/pager-writeback); the names are given where a
//! test mirrors one.

// Ranges of pages are what the queries return: a `Vec` of one range is meant.
#![allow(clippy::single_range_in_vec_init)]

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use vmo::{
    AsHandleRef, DirtyRange, HandleBased, PacketKind, Pager, PagerOp, PagerPacket, Rights, Status,
    Vmo, VmoChildOptions, VmoOptions, sys,
};
use vmo_guest_tests::*;

use crate::pager::{WAIT, assert_no_packet, bg, pattern, supply_pattern};

/// The byte ranges `query_dirty_ranges` reports for the whole VMO.
fn dirty(pager: &Pager, vmo: &Vmo) -> Vec<std::ops::Range<u64>> {
    let size = vmo.get_size().unwrap();
    pager.dirty_ranges(vmo, 0..size).unwrap().iter().map(DirtyRange::range).collect()
}

/// The next packet, which must be a DIRTY request for `key`.
fn next_dirty(pager: &Pager, key: u64) -> PagerPacket {
    let p = pager.wait(Some(WAIT)).unwrap_or_else(|s| panic!("no request within {WAIT:?}: {s}"));
    assert_eq!((p.kind, p.key), (PacketKind::Dirty, key), "{p:?}");
    p
}

/// A pager and a VMO of `pages` pages, all supplied with the pattern.
fn supplied(options: VmoOptions, key: u64, pages: u64) -> (vmo::Device, Arc<Pager>, Arc<Vmo>) {
    let dev = dev();
    let pager = Arc::new(Pager::create(&dev).unwrap());
    let vmo = Arc::new(pager.create_vmo_with_options(options, key, pages * pg()).unwrap());
    supply_pattern(&dev, &pager, &vmo, 0..pages * pg());
    (dev, pager, vmo)
}

/// `SimpleTrapDirty`, `DirtyRequestsOnVmoWrite`, `DirtyRequestsRepeatedWrites`,
/// `NoDirtyRequestsOnRead`, `ModifiedOnVmoWrite`: reading sends nothing; a
/// write to clean pages sends one DIRTY request for the clean run and waits
/// in the write ioctl until OP_DIRTY; the pages are then dirty, the VMO
/// modified, and writing them again asks nothing.
#[test]
fn a_write_to_clean_pages_of_a_trap_dirty_vmo_waits_for_op_dirty() {
    let _g = shared();
    let p = pg();
    let key = 0xd17;
    let (_dev, pager, vmo) = supplied(VmoOptions::TRAP_DIRTY, key, 4);
    assert_eq!(read(&vmo, 0, (4 * p) as usize), pattern(0..4 * p));
    assert_no_packet(&pager, "reads");
    assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(false), "reads do not modify");
    assert_eq!(dirty(&pager, &vmo), vec![]);

    let mut w = bg("write", {
        let v = vmo.clone();
        move || v.write(&vec![0x5a; p as usize], p + 10)
    });
    let req = next_dirty(&pager, key);
    assert_eq!(req.range(), p..3 * p, "one request for the clean run the write touches");
    w.wait_blocked_in(sys::VMO_IOC_WRITE);
    assert_eq!(dirty(&pager, &vmo), vec![], "nothing is dirty before OP_DIRTY");
    assert_eq!(pager.op_dirty(&vmo, req.range()), Ok(()));
    assert_eq!(w.join(), Ok(()));
    assert_eq!(dirty(&pager, &vmo), vec![p..3 * p]);
    assert_eq!(read(&vmo, p + 10, p as usize), vec![0x5a; p as usize]);
    assert_eq!(pager.query_vmo_stats(&vmo, true), Ok(true), "the write modified it");
    assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(false), "reset");
    // Dirty pages need no request.
    assert_eq!(vmo.write(b"again", 2 * p), Ok(()));
    assert_no_packet(&pager, "a write to dirty pages");
    assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(true));
}

/// `SimpleDirtyNoTrap`, `SimpleWritebackNoTrapDirty`: without TRAP_DIRTY a
/// write makes its pages dirty without a request, ZERO dirties too, and
/// OP_DIRTY is NOT_SUPPORTED (Zircon's `DirtyPagesLocked`).
#[test]
fn without_trap_dirty_writes_and_zero_dirty_pages_without_a_request() {
    let _g = shared();
    let p = pg();
    let (_dev, pager, vmo) = supplied(VmoOptions::empty(), 0xd18, 8);
    assert_eq!(vmo.write(b"x", 3 * p + 7), Ok(()));
    assert_eq!(vmo.zero(5 * p + 1, p), Ok(()));
    assert_no_packet(&pager, "writes without TRAP_DIRTY");
    assert_eq!(dirty(&pager, &vmo), vec![3 * p..4 * p, 5 * p..7 * p]);
    assert_eq!(pager.op_dirty(&vmo, 0..p), Err(Status::NOT_SUPPORTED));
    assert_eq!(pager.query_vmo_stats(&vmo, true), Ok(true));
    // COMMIT and reads neither dirty nor modify.
    assert_eq!(vmo.commit(0, 8 * p), Ok(()));
    assert_eq!(read(&vmo, 0, 16), pattern(0..16));
    assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(false));
    assert_eq!(dirty(&pager, &vmo), vec![3 * p..4 * p, 5 * p..7 * p]);
}

/// `SimpleWriteback`, `DirtyDuringWriteback`: WRITEBACK_BEGIN keeps the pages
/// reported; WRITEBACK_END cleans the ones not written since; under
/// TRAP_DIRTY a write to a page awaiting clean asks again (a DIRTY request),
/// without it the page is simply dirty again.
#[test]
fn writeback_cleans_only_pages_not_written_since_it_began() {
    let _g = shared();
    let p = pg();
    for trap in [false, true] {
        let key = 0xd19;
        let opts = if trap { VmoOptions::TRAP_DIRTY } else { VmoOptions::empty() };
        let (_dev, pager, vmo) = supplied(opts, key, 4);
        if trap {
            assert_eq!(pager.op_dirty(&vmo, 0..4 * p), Ok(()), "OP_DIRTY needs no request");
        }
        assert_eq!(vmo.write(&[1; 16], 0), Ok(()));
        assert_eq!(vmo.write(&[2; 16], 3 * p), Ok(()));
        let before = if trap { vec![0..4 * p] } else { vec![0..p, 3 * p..4 * p] };
        assert_eq!(dirty(&pager, &vmo), before, "trap {trap}");
        assert_eq!(pager.writeback_begin(&vmo, 0..4 * p), Ok(()));
        assert_eq!(dirty(&pager, &vmo), before, "awaiting clean is still reported");
        let w = bg("write during writeback", {
            let v = vmo.clone();
            move || v.write(&[3; 16], p + 1)
        });
        if trap {
            let req = next_dirty(&pager, key);
            assert_eq!(req.range(), p..2 * p, "the page awaiting clean that the write touches");
            assert_eq!(pager.op_dirty(&vmo, p..2 * p), Ok(()));
        }
        assert_eq!(w.join(), Ok(()));
        assert_eq!(pager.writeback_end(&vmo, 0..4 * p), Ok(()));
        // Page 1 was written after the writeback began (under TRAP_DIRTY it was awaiting
        // clean and asked again; without, it was clean): it alone stays dirty.
        let want = vec![p..2 * p];
        assert_eq!(dirty(&pager, &vmo), want, "trap {trap}");
        // END with nothing awaiting clean, and END twice, do nothing.
        assert_eq!(pager.writeback_end(&vmo, 0..4 * p), Ok(()));
        assert_eq!(dirty(&pager, &vmo), want, "trap {trap}");
        assert_no_packet(&pager, "after the writeback");
    }
}

/// `DirtyRequestsViaMapping`, `WritebackWithMapping`, `ModifiedOnMappingWrite`:
/// writes through a mapping are tracked: the first write to a clean page of
/// a TRAP_DIRTY VMO waits for the pager (one DIRTY request for that page),
/// and after WRITEBACK_BEGIN the next write through the same mapping is
/// caught again (the range is write-protected), so the page stays dirty.
#[test]
fn writes_through_a_mapping_are_caught_before_and_after_writeback_begins() {
    let _g = shared();
    let p = pg();
    for trap in [false, true] {
        let key = 0xd1a;
        let opts = if trap { VmoOptions::TRAP_DIRTY } else { VmoOptions::empty() };
        let (_dev, pager, vmo) = supplied(opts, key, 2);
        let m = Arc::new(vmo.map(0, 2 * p as usize, true).unwrap());
        assert_eq!(m.read_to_vec(0, 2 * p as usize).unwrap(), pattern(0..2 * p));
        assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(false), "a mapped read");
        let w = bg("mapped write", {
            let m = m.clone();
            move || m.write_at(p as usize + 3, b"mapped")
        });
        if trap {
            let req = next_dirty(&pager, key);
            assert_eq!(req.range(), p..2 * p);
            assert_eq!(dirty(&pager, &vmo), vec![], "not dirty before OP_DIRTY");
            assert_eq!(pager.op_dirty(&vmo, req.range()), Ok(()));
        }
        assert_eq!(w.join(), Ok(()));
        assert_eq!(dirty(&pager, &vmo), vec![p..2 * p], "trap {trap}");
        assert_eq!(pager.query_vmo_stats(&vmo, true), Ok(true), "a mapped write modifies");
        assert_eq!(read(&vmo, p + 3, 6), b"mapped");
        // More writes to the dirty page through the mapping ask nothing.
        m.write_at(p as usize + 100, b"more").unwrap();
        assert_no_packet(&pager, "a dirty page");

        assert_eq!(pager.writeback_begin(&vmo, 0..2 * p), Ok(()));
        let w = bg("mapped write during writeback", {
            let m = m.clone();
            move || m.write_at(p as usize + 200, b"late")
        });
        if trap {
            let req = next_dirty(&pager, key);
            assert_eq!(req.range(), p..2 * p, "a page awaiting clean asks again");
            assert_eq!(pager.op_dirty(&vmo, req.range()), Ok(()));
        }
        assert_eq!(w.join(), Ok(()));
        assert_eq!(pager.writeback_end(&vmo, 0..2 * p), Ok(()));
        assert_eq!(dirty(&pager, &vmo), vec![p..2 * p], "written during writeback: still dirty");
        assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(true));
        // Written back with no write in between: clean, and the next mapped
        // write is caught again.
        assert_eq!(pager.writeback_begin(&vmo, 0..2 * p), Ok(()));
        assert_eq!(pager.writeback_end(&vmo, 0..2 * p), Ok(()));
        assert_eq!(dirty(&pager, &vmo), vec![]);
        let w = bg("mapped write after writeback", {
            let m = m.clone();
            move || m.write_at(p as usize + 300, b"next")
        });
        if trap {
            let req = next_dirty(&pager, key);
            assert_eq!(pager.op_dirty(&vmo, req.range()), Ok(()));
        }
        assert_eq!(w.join(), Ok(()));
        assert_eq!(dirty(&pager, &vmo), vec![p..2 * p], "trap {trap}");
    }
}

/// `FailDirtyRequests`, `NotModifiedOnFailedDirtyRequest`: a failed DIRTY
/// request fails the write with exactly the pager's status, changes nothing
/// and does not mark the VMO modified; the next write asks again.
#[test]
fn a_failed_dirty_request_fails_the_write_and_changes_nothing() {
    let _g = shared();
    let p = pg();
    let key = 0xd1b;
    let (_dev, pager, vmo) = supplied(VmoOptions::TRAP_DIRTY, key, 2);
    for code in [Status::IO, Status::IO_DATA_INTEGRITY, Status::NO_SPACE] {
        let w = bg("write", {
            let v = vmo.clone();
            move || v.write(b"never", 5)
        });
        let req = next_dirty(&pager, key);
        assert_eq!(req.range(), 0..p);
        assert_eq!(pager.fail(&vmo, req.range(), code), Ok(()));
        assert_eq!(w.join(), Err(code));
        assert_eq!(read(&vmo, 0, p as usize), pattern(0..p), "{code}: unchanged");
        assert_eq!(dirty(&pager, &vmo), vec![]);
        assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(false), "{code}: not modified");
    }
    // ZERO asks as a write does.
    let w = bg("zero", {
        let v = vmo.clone();
        move || v.zero(p, p)
    });
    let req = next_dirty(&pager, key);
    assert_eq!(req.range(), p..2 * p);
    assert_eq!(pager.op_dirty(&vmo, req.range()), Ok(()));
    assert_eq!(w.join(), Ok(()));
    assert_eq!(read(&vmo, p, p as usize), vec![0; p as usize]);
    assert_eq!(dirty(&pager, &vmo), vec![p..2 * p]);
    assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(true), "ZERO modifies");
}

/// The argument checks of the writeback ops and queries, in Zircon's order
/// (`PagerDispatcher::RangeOp`, `VmCowPages::DirtyPagesLocked`,
/// `sys_pager_query_dirty_ranges`, `sys_pager_query_vmo_stats`).
#[test]
fn writeback_ops_and_queries_check_their_arguments() {
    let _g = shared();
    let p = pg();
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    let vmo = pager.create_vmo_with_options(VmoOptions::TRAP_DIRTY, 1, 4 * p).unwrap();
    supply_pattern(&dev, &pager, &vmo, 0..2 * p);
    // OP_DIRTY: pages never supplied are NOT_FOUND (nothing is dirtied), past the end
    // OUT_OF_RANGE, data must be 0.
    assert_eq!(pager.op_dirty(&vmo, p..3 * p), Err(Status::NOT_FOUND));
    assert_eq!(dirty(&pager, &vmo), vec![]);
    assert_eq!(pager.op_dirty(&vmo, 3 * p..5 * p), Err(Status::OUT_OF_RANGE));
    assert_eq!(pager.op_range(PagerOp::DIRTY, &vmo, 0..p, 1), Err(Status::INVALID_ARGS));
    assert_eq!(pager.op_range(PagerOp::DIRTY, &vmo, 0..p + 1, 0), Err(Status::INVALID_ARGS));
    // WRITEBACK_BEGIN takes 0 or IS_ZERO (which begins only zero ranges: none here).
    assert_eq!(pager.op_dirty(&vmo, 0..p), Ok(()));
    let is_zero = u64::from(sys::VMO_DIRTY_RANGE_IS_ZERO);
    assert_eq!(pager.op_range(PagerOp::WRITEBACK_BEGIN, &vmo, 0..p, is_zero), Ok(()));
    assert_eq!(pager.writeback_end(&vmo, 0..p), Ok(()));
    assert_eq!(dirty(&pager, &vmo), vec![0..p], "a zero-range writeback leaves pages dirty");
    for bad in [2, 3, u64::MAX] {
        assert_eq!(
            pager.op_range(PagerOp::WRITEBACK_BEGIN, &vmo, 0..p, bad),
            Err(Status::INVALID_ARGS)
        );
    }
    assert_eq!(pager.op_range(PagerOp::WRITEBACK_END, &vmo, 0..p, 1), Err(Status::INVALID_ARGS));
    assert_eq!(pager.writeback_begin(&vmo, 0..5 * p), Err(Status::OUT_OF_RANGE));
    assert_eq!(pager.writeback_end(&vmo, 4 * p..5 * p), Err(Status::OUT_OF_RANGE));
    // Rights: MANAGE_VMO on the pager, WRITE (ops) or READ (queries) on the VMO.
    let ro = vmo.duplicate_handle(Rights::DEFAULT_VMO - Rights::WRITE).unwrap();
    assert_eq!(pager.op_dirty(&ro, 0..p), Err(Status::ACCESS_DENIED));
    assert_eq!(pager.writeback_begin(&ro, 0..p), Err(Status::ACCESS_DENIED));
    assert_eq!(pager.dirty_ranges(&ro, 0..p).map(|r| r.len()), Ok(1), "READ is enough");
    let wo = vmo.duplicate_handle(Rights::DEFAULT_VMO - Rights::READ).unwrap();
    assert_eq!(pager.dirty_ranges(&wo, 0..p).map(drop), Err(Status::ACCESS_DENIED));
    // Not a VMO of this pager (a slice, a clone, another pager's): INVALID_ARGS.
    let slice = vmo.create_child(VmoChildOptions::SLICE, 0, p).unwrap();
    assert_eq!(pager.dirty_ranges(&slice, 0..p).map(drop), Err(Status::INVALID_ARGS));
    assert_eq!(pager.query_vmo_stats(&slice, false), Err(Status::INVALID_ARGS));
    assert_eq!(pager.op_dirty(&slice, 0..p), Err(Status::INVALID_ARGS));
    // The query range is rounded out to pages; past the end it is OUT_OF_RANGE.
    let mut out = [DirtyRange::default(); 4];
    assert_eq!(pager.query_dirty_ranges(&vmo, 100..200, &mut out), Ok((1, 1)));
    assert_eq!(out[0].range(), 0..p);
    assert!(!out[0].is_zero);
    assert_eq!(pager.query_dirty_ranges(&vmo, 0..5 * p, &mut out), Err(Status::OUT_OF_RANGE));
    // A buffer too small for the stats: BUFFER_TOO_SMALL; unknown options INVALID_ARGS.
    let fd = dev.as_fd();
    let mut stats = sys::vmo_pager_vmo_stats::default();
    let base = sys::vmo_pager_query_stats_args {
        pager: pager.raw_handle(),
        vmo: vmo.raw_handle(),
        ..Default::default()
    };
    let mut small = base;
    small.buffer = (&mut stats) as *mut sys::vmo_pager_vmo_stats as u64;
    small.buffer_size = 3;
    // SAFETY: the buffer is `stats`, live for the call (3 of its 4 bytes are named).
    let r = unsafe { sys::pager_query_stats_raw(fd, small) };
    assert_eq!(r.map_err(Status::from_errno), Err(Status::BUFFER_TOO_SMALL));
    let mut bad = base;
    bad.options = 2;
    assert_eq!(
        sys::pager_query_stats(fd, bad, &mut stats).map_err(Status::from_errno),
        Err(Status::INVALID_ARGS)
    );
}

/// `VerifyDirtyRanges`: a caller with a small buffer pages through the
/// ranges; `avail` is the total in the queried range, `actual` what fit; a
/// buffer of size 0 only counts.
#[test]
fn dirty_ranges_are_paged_through_a_small_buffer() {
    let _g = shared();
    let p = pg();
    let (_dev, pager, vmo) = supplied(VmoOptions::empty(), 0xd1c, 24);
    let written: Vec<u64> = (0..24).step_by(2).collect();
    for &i in &written {
        vmo.write(b"d", i * p).unwrap();
    }
    // Pages 20 and 21 dirty and adjacent: reported as one range.
    vmo.write(b"d", 21 * p).unwrap();
    // Pages 20, 21 and 22 are adjacent: one range.
    let want: Vec<_> =
        (0..10).map(|i| 2 * i * p..(2 * i + 1) * p).chain([20 * p..23 * p]).collect();
    let mut none: [DirtyRange; 0] = [];
    assert_eq!(pager.query_dirty_ranges(&vmo, 0..24 * p, &mut none), Ok((0, want.len())));
    let mut got = Vec::new();
    let mut start = 0;
    loop {
        let mut two = [DirtyRange::default(); 2];
        let (actual, avail) = pager.query_dirty_ranges(&vmo, start..24 * p, &mut two).unwrap();
        assert!(actual <= avail && actual <= 2);
        got.extend(two[..actual].iter().map(DirtyRange::range));
        if actual == avail {
            break;
        }
        assert_eq!(actual, 2, "a full buffer when there are more");
        start = two[1].range().end;
    }
    assert_eq!(got, want);
    assert_eq!(dirty(&pager, &vmo), want);
}

/// `WritebackDirtyPagesAfterDetach`, `DecommitCleanOnDetach`,
/// `NoDirtyRequestsAfterDetach`: detach frees the clean pages and keeps the
/// dirty ones, which stay readable and can still be queried and written
/// back; a write that would need a DIRTY request is BAD_STATE.
#[test]
fn detach_keeps_the_dirty_pages_for_writeback() {
    let _g = shared();
    let p = pg();
    let key = 0xd1d;
    let (_dev, pager, vmo) = supplied(VmoOptions::TRAP_DIRTY, key, 4);
    assert_eq!(pager.op_dirty(&vmo, p..3 * p), Ok(()));
    assert_eq!(vmo.write(b"kept", p), Ok(()));
    assert_eq!(pager.writeback_begin(&vmo, 2 * p..3 * p), Ok(()));
    assert_eq!(pager.detach_vmo(&vmo), Ok(()));
    let done = pager.wait(Some(WAIT)).unwrap();
    assert_eq!(done.kind, PacketKind::Complete);
    assert_eq!(committed(&vmo), 2 * p, "the clean pages are freed, the others kept");
    assert_eq!(read(&vmo, p, 4), b"kept");
    assert_eq!(read(&vmo, 2 * p, 8), pattern(2 * p..2 * p + 8));
    assert_eq!(st(vmo.read_to_vec(0, 4)), Status::BAD_STATE, "page 0 was clean: gone");
    assert_eq!(vmo.write(b"more", p + 8), Ok(()), "a dirty page needs no request");
    assert_eq!(vmo.write(b"x", 2 * p), Err(Status::BAD_STATE), "awaiting clean needs one");
    assert_eq!(dirty(&pager, &vmo), vec![p..3 * p]);
    assert_eq!(pager.writeback_end(&vmo, 2 * p..3 * p), Ok(()));
    assert_eq!(dirty(&pager, &vmo), vec![p..2 * p]);
    assert_eq!(pager.writeback_begin(&vmo, 0..4 * p), Ok(()));
    assert_eq!(pager.writeback_end(&vmo, 0..4 * p), Ok(()));
    assert_eq!(dirty(&pager, &vmo), vec![]);
    assert_eq!(pager.op_dirty(&vmo, p..2 * p), Err(Status::BAD_STATE));
    assert_no_packet(&pager, "after detach");
}

/// The pager closes in the middle of a writeback (its process dies): the
/// pages stay with their contents, written and unwritten alike; a write
/// that needs a DIRTY request is BAD_STATE, a write to a dirty page works.
#[test]
fn a_pager_that_closes_mid_writeback_loses_no_write() {
    let _g = shared();
    let p = pg();
    let (_dev, pager, vmo) = supplied(VmoOptions::TRAP_DIRTY, 0xd1e, 3);
    assert_eq!(pager.op_dirty(&vmo, 0..2 * p), Ok(()));
    assert_eq!(vmo.write(&[7; 32], 0), Ok(()));
    assert_eq!(vmo.write(&[8; 32], p), Ok(()));
    assert_eq!(pager.writeback_begin(&vmo, 0..p), Ok(()));
    drop(pager);
    assert_eq!(read(&vmo, 0, 32), vec![7; 32]);
    assert_eq!(read(&vmo, p, 32), vec![8; 32]);
    assert_eq!(read(&vmo, 2 * p, 32), pattern(2 * p..2 * p + 32));
    assert_eq!(committed(&vmo), 3 * p);
    assert_eq!(vmo.write(b"w", p + 40), Ok(()), "page 1 is dirty");
    assert_eq!(vmo.write(b"w", 0), Err(Status::BAD_STATE), "page 0 awaits clean: no pager");
    assert_eq!(vmo.write(b"w", 2 * p), Err(Status::BAD_STATE), "page 2 is clean: no pager");
}

/// `ModifiedOnResize`, `SliceWrite`, `NoDirtyRequestsForClones`,
/// `NotModifiedCloneWrite`: a resize modifies; a write through a slice
/// dirties the parent's pages at the parent's offsets; a write to a
/// copy-on-write clone dirties nothing of the parent.
#[test]
fn resize_slices_and_clones_follow_zircon() {
    let _g = shared();
    let p = pg();
    let dev = dev();
    let pager = Pager::create(&dev).unwrap();
    let vmo = pager.create_vmo_with_options(VmoOptions::RESIZABLE, 0xd1f, 4 * p).unwrap();
    supply_pattern(&dev, &pager, &vmo, 0..4 * p);
    assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(false));
    assert_eq!(vmo.set_size(3 * p), Ok(()));
    assert_eq!(pager.query_vmo_stats(&vmo, true), Ok(true), "a shrink modifies");
    assert_eq!(vmo.set_size(4 * p), Ok(()));
    assert_eq!(pager.query_vmo_stats(&vmo, true), Ok(true), "a growth modifies");
    assert_eq!(vmo.write(b"x", 2 * p), Ok(()));
    assert_eq!(vmo.set_size(2 * p), Ok(()));
    assert_eq!(dirty(&pager, &vmo), vec![], "a shrink drops the dirty pages past the end");
    assert_eq!(pager.query_vmo_stats(&vmo, true), Ok(true));

    let fixed = pager.create_vmo(0xd20, 4 * p).unwrap();
    supply_pattern(&dev, &pager, &fixed, 0..4 * p);
    let slice = fixed.create_child(VmoChildOptions::SLICE, 2 * p, 2 * p).unwrap();
    assert_eq!(slice.write(b"s", p + 1), Ok(()));
    assert_eq!(dirty(&pager, &fixed), vec![3 * p..4 * p]);
    let clone = fixed.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * p).unwrap();
    assert_eq!(pager.query_vmo_stats(&fixed, true), Ok(true));
    assert_eq!(clone.write(b"c", 0), Ok(()));
    assert_eq!(dirty(&pager, &fixed), vec![3 * p..4 * p], "a clone's write is its own");
    assert_eq!(pager.query_vmo_stats(&fixed, false), Ok(false));
    assert_eq!(pager.dirty_ranges(&clone, 0..p).map(drop), Err(Status::INVALID_ARGS));
}

/// No write is lost to a writeback: one thread writes a counter into page 0
/// (through a mapping, then through the write ioctl) as fast as it can,
/// while the pager writes the page back again and again (BEGIN, read, END),
/// as a file system's flusher would. Whenever the writer has stopped, the
/// page is either reported dirty or holds exactly what the last writeback
/// read: a write that landed after the writeback read the page was never
/// reported clean.
#[test]
fn a_write_racing_writeback_is_never_reported_clean() {
    let _g = shared();
    let p = pg();
    for mapped in [true, false] {
        let (_dev, pager, vmo) = supplied(VmoOptions::empty(), 0xd21, 1);
        let m = Arc::new(vmo.map(0, p as usize, true).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let writer = bg("writer", {
            let (m, v, stop) = (m.clone(), vmo.clone(), stop.clone());
            move || {
                let mut n: u64 = 0;
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < WAIT {
                    n += 1;
                    if mapped {
                        m.write_at(0, &n.to_le_bytes()).unwrap();
                    } else {
                        v.write(&n.to_le_bytes(), 0).unwrap();
                    }
                }
                n
            }
        });
        let mut last_written_back = Vec::new();
        let mut rounds = 0;
        let start = Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(1500) {
            pager.writeback_begin(&vmo, 0..p).unwrap();
            last_written_back = read(&vmo, 0, 8);
            pager.writeback_end(&vmo, 0..p).unwrap();
            rounds += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let n = writer.join();
        let now = read(&vmo, 0, 8);
        assert_eq!(now, n.to_le_bytes(), "the last write is in the page");
        if now != last_written_back {
            assert_eq!(
                dirty(&pager, &vmo),
                vec![0..p],
                "mapped {mapped}: {n} writes, {rounds} writebacks: a write after the last \
                 writeback read the page, yet the page is reported clean"
            );
        }
        // One more writeback now that nobody writes: clean, and it stays clean.
        pager.writeback_begin(&vmo, 0..p).unwrap();
        assert_eq!(read(&vmo, 0, 8), n.to_le_bytes());
        pager.writeback_end(&vmo, 0..p).unwrap();
        assert_eq!(dirty(&pager, &vmo), vec![], "mapped {mapped}");
        assert!(rounds > 10 && n > 10, "mapped {mapped}: {rounds} writebacks, {n} writes");
    }
}

/// A DIRTY request whose pages were dirtied in part, then written back, then
/// the rest dirtied, ends: its writer looks again and asks for the pages not
/// dirty now (they await clean) instead of sleeping on a request that no
/// OP_DIRTY could end any more (the module hung here before WRITEBACK_BEGIN
/// ended the DIRTY requests it overlaps).
#[test]
fn a_dirty_request_overtaken_by_a_writeback_asks_again() {
    let _g = shared();
    let p = pg();
    let key = 0xd22;
    let (_dev, pager, vmo) = supplied(VmoOptions::TRAP_DIRTY, key, 4);
    let w = bg("write of 4 clean pages", {
        let v = vmo.clone();
        move || v.write(&vec![9; (4 * p) as usize], 0)
    });
    let req = next_dirty(&pager, key);
    assert_eq!(req.range(), 0..4 * p);
    assert_eq!(pager.op_dirty(&vmo, 0..2 * p), Ok(()));
    assert_eq!(pager.writeback_begin(&vmo, 0..2 * p), Ok(()));
    assert_eq!(pager.op_dirty(&vmo, 2 * p..4 * p), Ok(()));
    // The writer may look again before or after the last OP_DIRTY: its new request starts
    // at the pages that await clean, and reaches past them only if it came first.
    let again = next_dirty(&pager, key);
    assert!(
        again.offset == 0 && (again.length == 2 * p || again.length == 4 * p),
        "the pages that await clean, asked for again: {again:?}"
    );
    assert_eq!(pager.op_dirty(&vmo, again.range()), Ok(()));
    assert_eq!(w.join(), Ok(()));
    assert_eq!(read(&vmo, 0, (4 * p) as usize), vec![9; (4 * p) as usize]);
}

/// ZERO of a detached VMO fails with BAD_STATE before zeroing anything, and
/// marks nothing dirty or modified; OP_DIRTY of a VMO made without
/// TRAP_DIRTY is NOT_SUPPORTED before its range is looked at.
#[test]
fn a_failed_zero_dirties_nothing_and_op_dirty_checks_its_kind_first() {
    let _g = shared();
    let p = pg();
    let (_dev, pager, vmo) = supplied(VmoOptions::empty(), 0xd23, 2);
    assert_eq!(pager.op_dirty(&vmo, 4 * p..5 * p), Err(Status::NOT_SUPPORTED));
    assert_eq!(pager.detach_vmo(&vmo), Ok(()));
    assert_eq!(vmo.zero(0, 2 * p), Err(Status::BAD_STATE));
    assert_eq!(dirty(&pager, &vmo), vec![]);
    assert_eq!(pager.query_vmo_stats(&vmo, false), Ok(false));
}
