//! The errors of `zx_vmo_op_range` (except BAD_STATE, IO and
//! IO_DATA_INTEGRITY, which the module never produces) and their
//! precedence. NO_MEMORY is in `memory.rs`.

use vmo::{
    AsHandleRef, Device, Event, Handle, HandleBased, Rights, Status, Vmo, VmoChildOptions, VmoOp,
};
use vmo_guest_tests::*;

const UNKNOWN_OPS: [u32; 7] = [0, 5, 15, 16, 255, 0x101, 0xffff_ffff];

fn all_ops_and_unknown() -> Vec<VmoOp> {
    let mut ops = VmoOp::ALL.to_vec();
    ops.extend(UNKNOWN_OPS.iter().map(|&o| VmoOp::from_raw(o)));
    ops
}

/// A `Vmo` for a raw value of `dev`'s table that must not be closed on drop.
struct Borrowed(Option<Vmo>);

impl Borrowed {
    fn new(dev: &Device, raw: u32) -> Borrowed {
        // SAFETY: the value is not owned by any other Handle of this test;
        // `Drop` below gives it up without closing.
        Borrowed(Some(Vmo::from(unsafe { Handle::from_raw(dev, raw) })))
    }
}

impl std::ops::Deref for Borrowed {
    type Target = Vmo;
    fn deref(&self) -> &Vmo {
        self.0.as_ref().unwrap()
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        if let Some(v) = self.0.take() {
            v.into_handle().into_raw();
        }
    }
}

/// Every VMO call through `v` gives `want`.
fn assert_every_call(v: &Vmo, want: Status, what: &str) {
    let p = pg();
    for op in all_ops_and_unknown() {
        assert_eq!(st(v.op_range(op, 0, p)), want, "{what}: op_range({op})");
    }
    assert_eq!(st(v.get_size()), want, "{what}: get_size");
    assert_eq!(st(v.set_size(p)), want, "{what}: set_size");
    assert_eq!(st(v.read_to_vec(0, 1)), want, "{what}: read");
    assert_eq!(st(v.write(b"x", 0)), want, "{what}: write");
    assert_eq!(st(v.create_child(VmoChildOptions::SNAPSHOT, 0, p)), want, "{what}: snapshot");
    assert_eq!(st(v.create_child(VmoChildOptions::SLICE, 0, p)), want, "{what}: slice");
}

#[test]
fn bad_handle_made_up_values() {
    let _g = shared();
    let dev = dev(); // a fresh table: no value is valid in it
    for raw in [1, 2, 0x7fff_fff0, 0xdead_beef, u32::MAX] {
        let v = Borrowed::new(&dev, raw);
        assert_every_call(&v, Status::BAD_HANDLE, &format!("made-up handle {raw:#x}"));
        assert_eq!(st(v.info()), Status::BAD_HANDLE);
        assert_eq!(st(v.duplicate_handle(Rights::SAME_RIGHTS)), Status::BAD_HANDLE);
    }
}

#[test]
fn bad_handle_zero_is_the_invalid_handle() {
    let _g = shared();
    let dev = dev();
    let _live = new_vmo(&dev, 1);
    let v = Borrowed::new(&dev, 0);
    assert_every_call(&v, Status::BAD_HANDLE, "handle 0");
    assert_eq!(st(v.info()), Status::BAD_HANDLE);
}

#[test]
fn bad_handle_after_close() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let raw = v.raw_handle();
    let _other = new_vmo(&dev, 1); // the table is not empty
    assert_eq!(Handle::from(v).close(), Ok(()));
    let stale = Borrowed::new(&dev, raw);
    assert_every_call(&stale, Status::BAD_HANDLE, "closed handle");
    assert_eq!(st(stale.info()), Status::BAD_HANDLE);
    assert_eq!(st(stale.duplicate_handle(Rights::SAME_RIGHTS)), Status::BAD_HANDLE);
    // Closing it again is BAD_HANDLE too.
    // SAFETY: `raw` is closed; `stale` gives it up without closing.
    let again = unsafe { Handle::from_raw(&dev, raw) };
    assert_eq!(again.close(), Err(Status::BAD_HANDLE));
}

#[test]
fn bad_handle_from_another_device_fresh_table() {
    let _g = shared();
    let a = dev();
    let b = dev();
    let v = new_vmo(&a, 1);
    let foreign = Borrowed::new(&b, v.raw_handle());
    assert_every_call(&foreign, Status::BAD_HANDLE, "handle of another open file");
    // Still fine in its own table.
    assert_eq!(v.get_size(), Ok(pg()));
}

/// The header: "a handle from another open file ... is always BAD_HANDLE",
/// also when the other table holds handles of its own (values never
/// coincide across tables).
#[test]
fn bad_handle_from_another_device_with_handles_of_its_own() {
    let _g = shared();
    let a = dev();
    let b = dev();
    let mut b_handles: Vec<Vmo> = (0..16).map(|_| new_vmo(&b, 1)).collect();
    let a_handles: Vec<Vmo> = (0..16).map(|_| new_vmo(&a, 1)).collect();
    b_handles.extend((0..16).map(|_| new_vmo(&b, 1)));
    for v in &a_handles {
        let foreign = Borrowed::new(&b, v.raw_handle());
        assert_eq!(foreign.get_size(), Err(Status::BAD_HANDLE), "a's {:#x} in b", v.raw_handle());
        assert_eq!(foreign.commit(0, pg()), Err(Status::BAD_HANDLE));
    }
    for v in &b_handles {
        let foreign = Borrowed::new(&a, v.raw_handle());
        assert_eq!(foreign.get_size(), Err(Status::BAD_HANDLE), "b's {:#x} in a", v.raw_handle());
    }
}

#[test]
fn bad_handle_beats_unknown_op() {
    let _g = shared();
    let dev = dev();
    let v = Borrowed::new(&dev, 0x1234_5678);
    for op in UNKNOWN_OPS {
        assert_eq!(v.op_range(VmoOp::from_raw(op), 0, pg()), Err(Status::BAD_HANDLE), "op {op}");
    }
    // And beats range errors.
    assert_eq!(v.commit(u64::MAX, 2), Err(Status::BAD_HANDLE));
    assert_eq!(v.cache_clean(0, 0), Err(Status::BAD_HANDLE));
}

#[test]
fn wrong_type_event_handle_as_vmo() {
    let _g = shared();
    let dev = dev();
    let ev = Event::create(&dev).expect("event");
    let info = ev.basic_info().expect("event info");
    assert_eq!(info.object_type, vmo::ObjectType::EVENT);
    assert_eq!(info.rights, Rights::DEFAULT_EVENT);
    let v = Vmo::from(ev.into_handle());
    // Known ops only: see `wrong_type_beats_unknown_op` for the others.
    let p = pg();
    for &op in VmoOp::ALL {
        assert_eq!(v.op_range(op, 0, p), Err(Status::WRONG_TYPE), "{op}");
    }
    assert_eq!(v.get_size(), Err(Status::WRONG_TYPE));
    assert_eq!(v.set_size(p), Err(Status::WRONG_TYPE));
    assert_eq!(v.read_to_vec(0, 1), Err(Status::WRONG_TYPE));
    assert_eq!(v.write(b"x", 0), Err(Status::WRONG_TYPE));
    assert_eq!(v.create_child(VmoChildOptions::SNAPSHOT, 0, p), Err(Status::WRONG_TYPE));
    assert_eq!(v.create_child(VmoChildOptions::SLICE, 0, p), Err(Status::WRONG_TYPE));
    // Handle operations work on any type.
    let d = v.duplicate_handle(Rights::SAME_RIGHTS).expect("duplicate an event");
    assert_eq!(d.info().unwrap().object_type, vmo::ObjectType::EVENT);
}

/// The event's default rights have neither READ nor WRITE, and a duplicate
/// with no rights at all still gives WRONG_TYPE: the type is checked first.
#[test]
fn wrong_type_beats_access_denied() {
    let _g = shared();
    let dev = dev();
    let ev = Event::create(&dev).unwrap();
    let none = Vmo::from(ev.duplicate_handle(Rights::NONE).unwrap().into_handle());
    for &op in VmoOp::ALL {
        assert_eq!(none.op_range(op, 0, pg()), Err(Status::WRONG_TYPE), "{op}");
    }
    assert_eq!(none.read_to_vec(0, 1), Err(Status::WRONG_TYPE));
    assert_eq!(none.write(b"x", 0), Err(Status::WRONG_TYPE));
    assert_eq!(none.set_size(0), Err(Status::WRONG_TYPE));
    // And beats range errors.
    assert_eq!(none.commit(u64::MAX, 2), Err(Status::WRONG_TYPE));
    assert_eq!(none.cache_clean(0, 0), Err(Status::WRONG_TYPE));
}

/// As in Zircon, where the handle is looked up as a VMO before the op is
/// decoded: an unknown op on an event handle is WRONG_TYPE.
#[test]
fn wrong_type_beats_unknown_op() {
    let _g = shared();
    let dev = dev();
    let v = Vmo::from(Event::create(&dev).unwrap().into_handle());
    for op in UNKNOWN_OPS {
        assert_eq!(v.op_range(VmoOp::from_raw(op), 0, pg()), Err(Status::WRONG_TYPE), "op {op}");
    }
}

#[test]
fn access_denied_beats_invalid_args_and_out_of_range() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 2);
    let size = 2 * pg();
    let ro = v.duplicate_handle(Rights::READ).unwrap();
    let wo = v.duplicate_handle(Rights::WRITE).unwrap();
    let none = v.duplicate_handle(Rights::NONE).unwrap();
    let p = pg();
    // WRITE ops through a handle without WRITE.
    for h in [&ro, &none] {
        assert_eq!(h.commit(0, size + p), Err(Status::ACCESS_DENIED), "commit past end");
        assert_eq!(h.commit(p, u64::MAX - p + 1), Err(Status::ACCESS_DENIED), "commit overflow");
        assert_eq!(h.decommit(1, p), Err(Status::ACCESS_DENIED), "unaligned decommit");
        assert_eq!(h.decommit(size + 1, 1), Err(Status::ACCESS_DENIED), "bad decommit");
        assert_eq!(h.zero(size, 1), Err(Status::ACCESS_DENIED), "zero past end");
        assert_eq!(h.cache_invalidate(0, 0), Err(Status::ACCESS_DENIED), "invalidate size 0");
        assert_eq!(h.cache_invalidate(size, p), Err(Status::ACCESS_DENIED));
    }
    // READ ops through a handle without READ.
    for h in [&wo, &none] {
        for op in [VmoOp::CACHE_SYNC, VmoOp::CACHE_CLEAN, VmoOp::CACHE_CLEAN_INVALIDATE] {
            assert_eq!(h.op_range(op, 0, 0), Err(Status::ACCESS_DENIED), "{op} size 0");
            assert_eq!(h.op_range(op, size, p), Err(Status::ACCESS_DENIED), "{op} past end");
            assert_eq!(h.op_range(op, u64::MAX, 2), Err(Status::ACCESS_DENIED), "{op} overflow");
        }
        assert_eq!(h.read_to_vec(size, 1), Err(Status::ACCESS_DENIED), "read past end");
    }
    assert_eq!(ro.write(b"x", size), Err(Status::ACCESS_DENIED), "write past end");
    // LOCK/UNLOCK without READ and WRITE: ACCESS_DENIED, not NOT_SUPPORTED.
    assert_eq!(none.op_range(VmoOp::LOCK, 0, p), Err(Status::ACCESS_DENIED));
    assert_eq!(none.op_range(VmoOp::UNLOCK, 0, p), Err(Status::ACCESS_DENIED));
}

#[test]
fn invalid_args_unknown_ops() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 2);
    v.commit(0, pg()).unwrap();
    for op in UNKNOWN_OPS {
        let op = VmoOp::from_raw(op);
        assert_eq!(v.op_range(op, 0, pg()), Err(Status::INVALID_ARGS), "{op}");
        assert_eq!(v.op_range(op, 0, 0), Err(Status::INVALID_ARGS), "{op} size 0");
        // The op is decoded before the range is looked at.
        assert_eq!(v.op_range(op, 100 * pg(), pg()), Err(Status::INVALID_ARGS), "{op} past end");
    }
    assert_eq!(committed(&v), pg(), "unknown ops change nothing");
}

#[test]
fn invalid_args_unknown_op_on_a_handle_without_rights() {
    let _g = shared();
    let dev = dev();
    let none = new_vmo(&dev, 1).duplicate_handle(Rights::NONE).unwrap();
    for op in UNKNOWN_OPS {
        assert_eq!(
            none.op_range(VmoOp::from_raw(op), 0, pg()),
            Err(Status::INVALID_ARGS),
            "op {op}"
        );
    }
}

#[test]
fn invalid_args_cache_op_of_size_zero_before_the_range_check() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 2);
    let size = 2 * pg();
    for &op in VmoOp::ALL.iter().filter(|o| o.is_cache_op()) {
        for offset in [0, 1, pg(), size, size + pg(), u64::MAX] {
            assert_eq!(v.op_range(op, offset, 0), Err(Status::INVALID_ARGS), "{op} at {offset:#x}");
        }
    }
}

#[test]
fn invalid_args_unaligned_decommit() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    v.commit(0, 4 * p).unwrap();
    for (offset, size) in [(1, p), (0, p - 1), (0, 1), (p, p + 1), (p / 2, p / 2), (3 * p, 1)] {
        assert_eq!(v.decommit(offset, size), Err(Status::INVALID_ARGS), "({offset:#x}, {size:#x})");
    }
    assert_eq!(committed(&v), 4 * p, "a refused DECOMMIT releases nothing");
}

#[test]
fn out_of_range_offset_plus_size_overflows() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let ops = [
        VmoOp::COMMIT,
        VmoOp::DECOMMIT,
        VmoOp::ZERO,
        VmoOp::CACHE_SYNC,
        VmoOp::CACHE_INVALIDATE,
        VmoOp::CACHE_CLEAN,
        VmoOp::CACHE_CLEAN_INVALIDATE,
    ];
    for op in ops {
        // Page aligned (for DECOMMIT), and wrapping to exactly 0.
        assert_eq!(
            v.op_range(op, p, u64::MAX - p + 1),
            Err(Status::OUT_OF_RANGE),
            "{op} wrap to 0"
        );
        assert_eq!(v.op_range(op, u64::MAX - p + 1, 2 * p), Err(Status::OUT_OF_RANGE), "{op}");
    }
    for op in [VmoOp::COMMIT, VmoOp::ZERO, VmoOp::CACHE_CLEAN] {
        assert_eq!(v.op_range(op, u64::MAX, 2), Err(Status::OUT_OF_RANGE), "{op} byte overflow");
        assert_eq!(v.op_range(op, 1, u64::MAX), Err(Status::OUT_OF_RANGE), "{op}");
    }
    assert_eq!(committed(&v), 0);
}

#[test]
fn out_of_range_past_the_end() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let size = 2 * p;
    // Not the lock ops (NOT_SUPPORTED first on a VMO that is not discardable) nor the hints
    // (which succeed before any range check on a VMO that is not pager-backed).
    let skip = [VmoOp::LOCK, VmoOp::UNLOCK, VmoOp::TRY_LOCK, VmoOp::DONT_NEED, VmoOp::ALWAYS_NEED];
    for &op in VmoOp::ALL.iter().filter(|o| !skip.contains(o)) {
        assert_eq!(v.op_range(op, 0, size + p), Err(Status::OUT_OF_RANGE), "{op} (0, size+pg)");
        assert_eq!(v.op_range(op, size, p), Err(Status::OUT_OF_RANGE), "{op} (size, pg)");
        assert_eq!(v.op_range(op, 10 * p, p), Err(Status::OUT_OF_RANGE), "{op} far");
    }
    // Byte-granular ops: one byte over the end.
    for op in [VmoOp::COMMIT, VmoOp::ZERO, VmoOp::CACHE_CLEAN, VmoOp::CACHE_SYNC] {
        assert_eq!(v.op_range(op, size - 0x10, 0x11), Err(Status::OUT_OF_RANGE), "{op}");
        assert_eq!(v.op_range(op, size - 0x10, 0x10), Ok(()), "{op} up to the end");
    }
    assert_eq!(committed(&v), p, "only the in-range COMMIT committed (the last page)");
}

/// DECOMMIT checks, in Zircon's order: range (OUT_OF_RANGE), size 0 (OK),
/// clone (NOT_SUPPORTED), alignment (INVALID_ARGS). So an out-of-range
/// misaligned DECOMMIT is OUT_OF_RANGE.
#[test]
fn decommit_precedence_out_of_range_before_unaligned() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let size = 2 * p;
    assert_eq!(v.decommit(size + 1, p), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.decommit(0, size + 1), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.decommit(1, size), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.decommit(p + 1, u64::MAX), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.decommit(1, p), Err(Status::INVALID_ARGS), "in range, unaligned");
}

/// On a clone (or a parent of one) NOT_SUPPORTED comes after the range
/// check and the size-0 shortcut, and before the alignment check (Zircon's
/// VmObjectPaged then VmCowPages order, shared/spec/zircon-semantics.md).
#[test]
fn decommit_precedence_not_supported_before_unaligned() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, 2 * p).unwrap();
    for (what, h) in [("snapshot", &snap), ("parent of a snapshot", &v)] {
        assert_eq!(h.decommit(0, p), Err(Status::NOT_SUPPORTED), "{what}");
        assert_eq!(h.decommit(1, 1), Err(Status::NOT_SUPPORTED), "{what}: unaligned");
        assert_eq!(h.decommit(0, p + 3), Err(Status::NOT_SUPPORTED), "{what}: unaligned size");
        assert_eq!(h.decommit(100 * p + 1, 3), Err(Status::OUT_OF_RANGE), "{what}: bad range");
        assert_eq!(h.decommit(p, u64::MAX), Err(Status::OUT_OF_RANGE), "{what}: overflow");
        assert_eq!(h.decommit(p, 0), Ok(()), "{what}: size 0");
        assert_eq!(h.decommit(1, 0), Ok(()), "{what}: size 0, unaligned");
    }
    // The rights check still comes first.
    let ro = snap.duplicate_handle(Rights::READ).unwrap();
    assert_eq!(ro.decommit(0, p), Err(Status::ACCESS_DENIED));
    assert_eq!(ro.decommit(100 * p + 1, 3), Err(Status::ACCESS_DENIED));
}

#[test]
fn not_supported_lock_and_unlock() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 2);
    v.commit(0, 2 * pg()).unwrap();
    for op in [VmoOp::LOCK, VmoOp::UNLOCK] {
        assert_eq!(v.op_range(op, 0, pg()), Err(Status::NOT_SUPPORTED), "{op}");
        assert_eq!(v.op_range(op, 0, 2 * pg()), Err(Status::NOT_SUPPORTED), "{op}");
    }
    assert_eq!(committed(&v), 2 * pg());
}

#[test]
fn not_supported_decommit_on_a_snapshot_and_its_parent_until_the_child_closes() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    v.write(&[7u8; 64], 0).unwrap();
    v.commit(0, 4 * p).unwrap();
    let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, 4 * p).unwrap();
    assert_eq!(snap.decommit(0, p), Err(Status::NOT_SUPPORTED));
    assert_eq!(v.decommit(0, p), Err(Status::NOT_SUPPORTED));
    // A slice of the parent forwards to the parent: refused too.
    let slice = v.create_child(VmoChildOptions::SLICE, p, p).unwrap();
    assert_eq!(slice.decommit(0, p), Err(Status::NOT_SUPPORTED));
    // Nothing was released.
    assert_eq!(committed(&v), 4 * p);
    assert_eq!(read(&v, 0, 64), vec![7u8; 64]);

    // A second handle to the snapshot keeps it alive.
    let snap2 = snap.duplicate_handle(Rights::SAME_RIGHTS).unwrap();
    drop(snap);
    assert_eq!(v.decommit(0, p), Err(Status::NOT_SUPPORTED), "snapshot still alive");
    assert_eq!(snap2.decommit(0, p), Err(Status::NOT_SUPPORTED));
    drop(snap2);

    assert_eq!(v.info().unwrap().num_children, 1, "only the slice is left");
    assert_eq!(v.decommit(0, p), Ok(()));
    assert_eq!(slice.decommit(0, p), Ok(()), "pages 1 via the slice");
    assert_eq!(committed(&v), 2 * p);
    assert_eq!(read(&v, 0, 64), vec![0u8; 64]);
}

#[test]
fn decommit_works_on_a_parent_with_only_slice_children() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    v.commit(0, 2 * p).unwrap();
    let _slice = v.create_child(VmoChildOptions::SLICE, 0, p).unwrap();
    assert_eq!(v.decommit(0, 2 * p), Ok(()));
    assert_eq!(committed(&v), 0);
}

#[test]
fn decommit_on_a_snapshot_of_a_snapshot_is_not_supported() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 1);
    let a = v.create_child(VmoChildOptions::SNAPSHOT, 0, p).unwrap();
    let b = a.create_child(VmoChildOptions::SNAPSHOT, 0, p).unwrap();
    assert_eq!(b.decommit(0, p), Err(Status::NOT_SUPPORTED));
    assert_eq!(a.decommit(0, p), Err(Status::NOT_SUPPORTED));
}
