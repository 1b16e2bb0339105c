//! Slices and snapshots (`create_child`).

use vmo::{HandleBased, Rights, Status, Vmo, VmoChildOptions as Child, VmoInfoFlags, VmoOptions};
use vmo_guest_tests::*;

#[test]
fn slice_is_a_window_on_the_parent() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    v.write(b"before", p + 5).unwrap();
    let s = v.create_child(Child::SLICE, p, 2 * p).unwrap();
    assert_eq!(s.get_size(), Ok(2 * p));
    assert_eq!(read(&s, 5, 6), b"before", "the slice sees what was there");
    v.write(b"parent", p + 100).unwrap();
    assert_eq!(read(&s, 100, 6), b"parent", "and later parent writes");
    s.write(b"slice!", p + 7).unwrap();
    assert_eq!(read(&v, 2 * p + 7, 6), b"slice!", "slice writes land in the parent");
    assert_eq!(s.read_to_vec(2 * p, 1), Err(Status::OUT_OF_RANGE), "the window ends");
    assert_eq!(s.write(b"x", 2 * p), Err(Status::OUT_OF_RANGE));
}

#[test]
fn slice_info_owns_no_pages() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    let s = v.create_child(Child::SLICE, 0, 4 * p).unwrap();
    s.commit(0, 2 * p).unwrap();
    let si = s.info().unwrap();
    let vi = v.info().unwrap();
    assert_eq!(si.committed_bytes, 0, "a slice owns no pages");
    assert_eq!(vi.committed_bytes, 2 * p, "COMMIT via a slice commits the parent's pages");
    assert!(si.flags.contains(VmoInfoFlags::SLICE));
    assert!(!si.flags.contains(VmoInfoFlags::IS_COW_CLONE));
    assert_eq!(si.parent_koid, vi.koid);
    assert_ne!(si.koid, vi.koid);
    assert_eq!(vi.num_children, 1);
    drop(s);
    assert_eq!(v.info().unwrap().num_children, 0);
}

#[test]
fn slice_offset_must_be_page_aligned_and_inside_the_parent() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    assert_eq!(st(v.create_child(Child::SLICE, 1, p)), Status::INVALID_ARGS, "unaligned");
    assert_eq!(st(v.create_child(Child::SLICE, p / 2, p)), Status::INVALID_ARGS);
    assert_eq!(st(v.create_child(Child::SLICE, 3 * p, 2 * p)), Status::INVALID_ARGS, "runs past");
    assert_eq!(st(v.create_child(Child::SLICE, 5 * p, p)), Status::INVALID_ARGS, "starts past");
    assert_eq!(st(v.create_child(Child::SLICE, 0, 5 * p)), Status::INVALID_ARGS, "too big");
    assert_eq!(st(v.create_child(Child::SLICE, 3 * p, p)), Status::OK, "the last page");
    assert_eq!(st(v.create_child(Child::SLICE, 0, 4 * p)), Status::OK, "all of it");
    assert_eq!(v.info().unwrap().num_children, 0, "failed and dropped children are gone");
}

#[test]
fn slice_size_rounds_up_to_a_page() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    let s = v.create_child(Child::SLICE, p, 10).unwrap();
    assert_eq!(s.get_size(), Ok(p));
}

#[test]
fn slice_of_a_resizable_vmo_is_not_supported() {
    let _g = shared();
    let dev = dev();
    let v = new_resizable(&dev, 2);
    assert_eq!(st(v.create_child(Child::SLICE, 0, pg())), Status::NOT_SUPPORTED);
}

/// SLICE with any other option is INVALID_ARGS, except NO_WRITE, which
/// Zircon strips before it looks at the kind of child (a read-only slice).
#[test]
fn slice_with_any_other_option_is_invalid_args() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 2);
    for other in [Child::SNAPSHOT, Child::RESIZABLE, Child::SNAPSHOT_AT_LEAST_ON_WRITE] {
        let o = Child::SLICE | other;
        assert_eq!(st(v.create_child(o, 0, pg())), Status::INVALID_ARGS, "{other:?}");
        let o = o | Child::NO_WRITE;
        assert_eq!(st(v.create_child(o, 0, pg())), Status::INVALID_ARGS, "{other:?}|NO_WRITE");
    }
    let ro = v.create_child(Child::SLICE | Child::NO_WRITE, 0, pg()).expect("SLICE|NO_WRITE");
    assert_eq!(rights(&ro), Rights::DEFAULT_VMO - Rights::WRITE);
    assert_eq!(ro.write(b"x", 0), Err(Status::ACCESS_DENIED));
    v.write(b"seen", 0).unwrap();
    assert_eq!(read(&ro, 0, 4), b"seen", "still a window on the parent");
}

/// Zircon checks the size and NO_WRITE|RESIZABLE before it looks up the
/// parent handle: these errors beat BAD_HANDLE.
#[test]
fn create_child_size_and_option_checks_come_before_the_handle() {
    let _g = shared();
    let dev = dev();
    let _v = new_vmo(&dev, 1);
    // SAFETY: a made-up value (handle values have the two low bits set, so
    // 0x10 is never one); given up without closing below.
    let bad = Vmo::from(unsafe { vmo::Handle::from_raw(&dev, 0x10) });
    let huge = vmo::MAX_SIZE + 1;
    assert_eq!(st(bad.create_child(Child::SNAPSHOT, 0, huge)), Status::OUT_OF_RANGE);
    assert_eq!(st(bad.create_child(Child::SLICE, 0, u64::MAX)), Status::OUT_OF_RANGE);
    let nw_rs = Child::SNAPSHOT | Child::NO_WRITE | Child::RESIZABLE;
    assert_eq!(st(bad.create_child(nw_rs, 0, pg())), Status::INVALID_ARGS);
    assert_eq!(st(bad.create_child(Child::SNAPSHOT, 0, pg())), Status::BAD_HANDLE);
    vmo::Handle::from(bad).into_raw();
}

/// A snapshot may reach past the parent's end (the rest reads as zeros);
/// only offset + size overflowing is OUT_OF_RANGE.
#[test]
fn snapshot_past_the_parents_end() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    v.write(b"last page", p).unwrap();
    let s = v.create_child(Child::SNAPSHOT, p, 4 * p).expect("snapshot past the end");
    assert_eq!(s.get_size(), Ok(4 * p));
    assert_eq!(read(&s, 0, 9), b"last page");
    assert_eq!(read(&s, p, 4), [0, 0, 0, 0]);
    let far = v.create_child(Child::SNAPSHOT, 10 * p, p).expect("snapshot wholly past the end");
    assert_eq!(read(&far, 0, 4), [0, 0, 0, 0]);
    assert_eq!(far.info().unwrap().committed_bytes, 0);
    let off = u64::MAX - p + 1;
    assert_eq!(st(v.create_child(Child::SNAPSHOT, off, 2 * p)), Status::OUT_OF_RANGE);
}

#[test]
fn unknown_child_options_are_invalid_args() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 2);
    for bits in [1 << 1, 1 << 6, 1 << 31] {
        let o = Child::from_bits_retain(bits);
        assert_eq!(st(v.create_child(o, 0, pg())), Status::INVALID_ARGS, "{bits:#x}");
        let o = Child::SNAPSHOT | Child::from_bits_retain(bits);
        assert_eq!(st(v.create_child(o, 0, pg())), Status::INVALID_ARGS, "SNAPSHOT|{bits:#x}");
    }
    // No kind at all (neither SLICE nor a SNAPSHOT flavour).
    assert_eq!(st(v.create_child(Child::empty(), 0, pg())), Status::INVALID_ARGS, "no kind");
    // Two kinds (Zircon takes SNAPSHOT and finds the other left over), before
    // the range is looked at.
    let both = Child::SNAPSHOT | Child::SNAPSHOT_AT_LEAST_ON_WRITE;
    assert_eq!(st(v.create_child(both, 0, pg())), Status::INVALID_ARGS, "two kinds");
    let last = u64::MAX - pg() + 1; // a page-aligned offset whose end overflows
    assert_eq!(st(v.create_child(Child::SNAPSHOT, last, 2 * pg())), Status::OUT_OF_RANGE);
    assert_eq!(st(v.create_child(both, last, 2 * pg())), Status::INVALID_ARGS);
    assert_eq!(st(v.create_child(Child::empty(), last, 2 * pg())), Status::INVALID_ARGS);
}

#[test]
fn decommit_via_a_slice_releases_the_parents_pages() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    v.write(&vec![9u8; (4 * p) as usize], 0).unwrap();
    let s = v.create_child(Child::SLICE, p, 2 * p).unwrap();
    assert_eq!(s.decommit(p, p), Ok(()), "slice page 1 = parent page 2");
    assert_eq!(committed(&v), 3 * p);
    assert_eq!(read(&v, 2 * p, 4), [0, 0, 0, 0]);
    assert_eq!(read(&v, p, 4), [9, 9, 9, 9]);
    assert_eq!(s.decommit(0, 3 * p), Err(Status::OUT_OF_RANGE), "the slice's own bounds");
    // ZERO via the slice reaches the parent too.
    assert_eq!(s.zero(0, 2), Ok(()));
    assert_eq!(read(&v, p, 4), [0, 0, 9, 9]);
}

/// Zircon's child rights: the parent handle's rights without RESIZE, plus
/// GET_PROPERTY and SET_PROPERTY (RESIZE again for a RESIZABLE child); a
/// snapshot adds WRITE and drops EXECUTE; NO_WRITE drops WRITE.
#[test]
fn slice_rights_are_the_parent_handles_rights_plus_property() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let s = v.create_child(Child::SLICE, 0, p).unwrap();
    assert_eq!(rights(&s), Rights::DEFAULT_VMO);
    let r = Rights::READ | Rights::DUPLICATE | Rights::INSPECT | Rights::MAP;
    let h = v.duplicate_handle(r).unwrap();
    let s = h.create_child(Child::SLICE, 0, p).unwrap();
    assert_eq!(rights(&s), r | Rights::PROPERTY, "a slice of a read-only handle is read-only");
    assert_eq!(s.write(b"x", 0), Err(Status::ACCESS_DENIED));
}

/// Zircon: `zx_vmo_create_child` needs READ and DUPLICATE on the parent.
#[test]
fn create_child_needs_read_and_duplicate() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let no_dup = v.duplicate_handle(Rights::DEFAULT_VMO - Rights::DUPLICATE).unwrap();
    let no_read = v.duplicate_handle(Rights::DEFAULT_VMO - Rights::READ).unwrap();
    for kind in [Child::SLICE, Child::SNAPSHOT, Child::SNAPSHOT_AT_LEAST_ON_WRITE] {
        assert_eq!(
            st(no_dup.create_child(kind, 0, p)),
            Status::ACCESS_DENIED,
            "{kind:?} no DUPLICATE"
        );
        assert_eq!(st(no_read.create_child(kind, 0, p)), Status::ACCESS_DENIED, "{kind:?} no READ");
    }
}

#[test]
fn snapshot_sees_the_content_at_creation_and_never_later_writes() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 3);
    v.write(b"original", 0).unwrap();
    v.write(b"second page", p).unwrap();
    // Page 2 is a hole at creation.
    let s = v.create_child(Child::SNAPSHOT, 0, 3 * p).unwrap();
    assert_eq!(read(&s, 0, 8), b"original");
    assert_eq!(read(&s, p, 11), b"second page");
    v.write(b"CHANGED!", 0).unwrap();
    v.write(b"late", 2 * p).unwrap();
    v.zero(p, 6).unwrap();
    assert_eq!(read(&s, 0, 8), b"original", "parent writes are not seen");
    assert_eq!(read(&s, 2 * p, 4), [0, 0, 0, 0], "nor writes to a page that was a hole");
    assert_eq!(read(&s, p, 11), b"second page", "nor a parent ZERO");
    s.write(b"child", 0).unwrap();
    assert_eq!(read(&v, 0, 8), b"CHANGED!", "child writes are not seen by the parent");
    assert_eq!(read(&s, 0, 8), b"childnal");
}

#[test]
fn snapshot_info_and_committed_pages() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    v.write(b"a", 0).unwrap();
    v.write(b"b", 2 * p).unwrap();
    let s = v.create_child(Child::SNAPSHOT, 0, 4 * p).unwrap();
    let si = s.info().unwrap();
    let vi = v.info().unwrap();
    assert_eq!(si.parent_koid, vi.koid);
    assert!(si.flags.contains(VmoInfoFlags::IS_COW_CLONE));
    assert!(!si.flags.contains(VmoInfoFlags::SLICE));
    assert_eq!(si.size, 4 * p);
    assert_eq!(vi.num_children, 1);
    // Creation copies nothing: the parent keeps (and is counted for) the pages both read.
    assert_eq!(si.committed_bytes, 0, "a new snapshot holds no page");
    assert_eq!(vi.committed_bytes, 2 * p);
    let w = v.create_child(Child::SNAPSHOT, 2 * p, 2 * p).unwrap();
    assert_eq!(w.info().unwrap().committed_bytes, 0);
    assert_eq!(read(&w, 0, 1), b"b");
    // The parent writes page 2: the two snapshots that read it get it as it was.
    v.write(b"B", 2 * p).unwrap();
    assert_eq!(s.info().unwrap().committed_bytes, p);
    assert_eq!(w.info().unwrap().committed_bytes, p);
    assert_eq!((read(&w, 0, 1), read(&s, 2 * p, 1)), (b"b".to_vec(), b"b".to_vec()));
    // A snapshot's own write copies the page for it alone.
    s.write(b"A", 1).unwrap();
    assert_eq!(s.info().unwrap().committed_bytes, 2 * p);
    assert_eq!(v.info().unwrap().committed_bytes, 2 * p);
}

#[test]
fn snapshot_offset_must_be_page_aligned_and_size_rounds_up() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    assert_eq!(st(v.create_child(Child::SNAPSHOT, 1, p)), Status::INVALID_ARGS);
    let s = v.create_child(Child::SNAPSHOT, p, 1).unwrap();
    assert_eq!(s.get_size(), Ok(p));
}

/// A snapshot whose window starts far past its parent's end (Zircon bounds
/// only `offset + size` against overflow) reads zeros and keeps its own
/// writes; of a slice at an offset too (the module once added the slice's
/// offset to the window's without checking, an overflow panic).
#[test]
fn a_snapshot_past_the_parent_end_reads_zeros() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    v.write(b"parent", 0).unwrap();
    // At 2 pages: the slice's offset plus the window's is 2^64.
    let slice = v.create_child(Child::SLICE, 2 * p, 2 * p).unwrap();
    let far = u64::MAX - 2 * p + 1;
    for parent in [&v, &slice] {
        let s = parent.create_child(Child::SNAPSHOT, far, p).unwrap();
        assert_eq!(read(&s, 0, 6), [0; 6]);
        s.write(b"own", 0).unwrap();
        assert_eq!(read(&s, 0, 3), b"own");
        assert_eq!(s.info().unwrap().committed_bytes, p);
    }
    assert_eq!(read(&v, 0, 6), b"parent");
}

#[test]
fn snapshot_rights_add_write_and_no_write_removes_it() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 1);
    v.write(b"ro", 0).unwrap();
    let r = Rights::READ | Rights::DUPLICATE | Rights::INSPECT | Rights::MAP | Rights::TRANSFER;
    let ro = v.duplicate_handle(r).unwrap();
    let s = ro.create_child(Child::SNAPSHOT, 0, p).unwrap();
    let want = r | Rights::WRITE | Rights::PROPERTY;
    assert_eq!(rights(&s), want, "a snapshot of a read-only handle is writable");
    assert_eq!(s.write(b"rw", 0), Ok(()));
    assert_eq!(read(&v, 0, 2), b"ro");

    let nw = v.create_child(Child::SNAPSHOT | Child::NO_WRITE, 0, p).unwrap();
    assert_eq!(rights(&nw), Rights::DEFAULT_VMO - Rights::WRITE);
    assert_eq!(nw.write(b"x", 0), Err(Status::ACCESS_DENIED));
    assert_eq!(read(&nw, 0, 2), b"ro");

    let nw2 = ro.create_child(Child::SNAPSHOT | Child::NO_WRITE, 0, p).unwrap();
    let want = r | Rights::PROPERTY;
    assert_eq!(rights(&nw2), want, "NO_WRITE wins over the WRITE a snapshot adds");
}

#[test]
fn resizable_snapshot_gets_resize() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 1);
    v.write(b"grow", 0).unwrap();
    let s = v.create_child(Child::SNAPSHOT | Child::RESIZABLE, 0, p).unwrap();
    assert_eq!(rights(&s), Rights::DEFAULT_VMO | Rights::RESIZE);
    assert!(s.info().unwrap().flags.contains(VmoInfoFlags::RESIZABLE));
    assert_eq!(s.set_size(3 * p), Ok(()));
    assert_eq!(s.get_size(), Ok(3 * p));
    assert_eq!(read(&s, 0, 4), b"grow");
    assert_eq!(read(&s, 2 * p, 4), [0, 0, 0, 0]);
    let plain = v.create_child(Child::SNAPSHOT, 0, p).unwrap();
    assert!(!rights(&plain).contains(Rights::RESIZE));
    assert_eq!(plain.set_size(2 * p), Err(Status::UNAVAILABLE));
}

/// AT_LEAST_ON_WRITE may or may not see later parent writes (Zircon lets
/// either happen), so only the content at creation and the isolation of
/// child writes are checked.
#[test]
fn snapshot_at_least_on_write_sees_the_content_at_creation() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    v.write(b"base", 0).unwrap();
    let s = v.create_child(Child::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * p).unwrap();
    assert_eq!(read(&s, 0, 4), b"base");
    assert!(rights(&s).contains(Rights::WRITE));
    s.write(b"mine", 0).unwrap();
    assert_eq!(read(&v, 0, 4), b"base");
    assert_eq!(read(&s, 0, 4), b"mine");
}

#[test]
fn snapshot_of_a_snapshot() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 1);
    v.write(b"gen0", 0).unwrap();
    let a = v.create_child(Child::SNAPSHOT, 0, p).unwrap();
    a.write(b"gen1", 0).unwrap();
    let b = a.create_child(Child::SNAPSHOT, 0, p).unwrap();
    a.write(b"GEN1", 0).unwrap();
    v.write(b"GEN0", 0).unwrap();
    assert_eq!(read(&b, 0, 4), b"gen1");
    assert_eq!(read(&a, 0, 4), b"GEN1");
    assert_eq!(read(&v, 0, 4), b"GEN0");
    assert_eq!(b.info().unwrap().parent_koid, a.info().unwrap().koid);
}

#[test]
fn children_outlive_the_parent_handle() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    v.write(b"shared pages", p).unwrap();
    let slice = v.create_child(Child::SLICE, p, p).unwrap();
    let snap = v.create_child(Child::SNAPSHOT, 0, 2 * p).unwrap();
    drop(v);
    assert_eq!(read(&slice, 0, 12), b"shared pages", "the slice keeps the parent's pages");
    slice.write(b"SHARED", 0).unwrap();
    assert_eq!(read(&slice, 0, 12), b"SHARED pages");
    assert_eq!(read(&snap, p, 12), b"shared pages");
}

#[test]
fn child_of_a_vmo_made_resizable_keeps_working_after_parent_shrinks() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = Vmo::create(&dev, 4 * p, VmoOptions::RESIZABLE).unwrap();
    v.write(b"tail", 3 * p).unwrap();
    let s = v.create_child(Child::SNAPSHOT, 0, 4 * p).unwrap();
    assert_eq!(v.set_size(p), Ok(()));
    assert_eq!(read(&s, 3 * p, 4), b"tail", "the snapshot has its own copy");
}
