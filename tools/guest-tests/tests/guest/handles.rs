//! Handles: duplicate, replace, close, values, the table limit.

use std::collections::HashSet;

use vmo::{AsHandleRef, Event, Handle, HandleBased, Rights, Status, Vmo};
use vmo_guest_tests::*;

#[test]
fn duplicate_needs_the_duplicate_right() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let no_dup = v.duplicate_handle(Rights::DEFAULT_VMO - Rights::DUPLICATE).unwrap();
    assert_eq!(st(no_dup.duplicate_handle(Rights::READ)), Status::ACCESS_DENIED);
    assert_eq!(st(no_dup.duplicate_handle(Rights::SAME_RIGHTS)), Status::ACCESS_DENIED);
    let ev = Event::create(&dev).unwrap();
    let ev_no_dup = ev.duplicate_handle(Rights::WAIT).unwrap();
    assert_eq!(st(ev_no_dup.duplicate_handle(Rights::WAIT)), Status::ACCESS_DENIED);
}

#[test]
fn duplicate_can_only_drop_rights() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    assert_eq!(st(v.duplicate_handle(Rights::DEFAULT_VMO | Rights::EXECUTE)), Status::INVALID_ARGS);
    assert_eq!(st(v.duplicate_handle(Rights::EXECUTE)), Status::INVALID_ARGS);
    assert_eq!(st(v.duplicate_handle(Rights::RESIZE)), Status::INVALID_ARGS, "not resizable");
    let ro = v.duplicate_handle(Rights::READ | Rights::DUPLICATE).unwrap();
    assert_eq!(st(ro.duplicate_handle(Rights::READ | Rights::WRITE)), Status::INVALID_ARGS);
    assert_eq!(st(ro.duplicate_handle(Rights::DEFAULT_VMO)), Status::INVALID_ARGS);
    // A bit that is no right at all.
    assert_eq!(st(v.duplicate_handle(Rights::from_bits_retain(1 << 8))), Status::INVALID_ARGS);
    let r = ro.duplicate_handle(Rights::READ).unwrap();
    assert_eq!(rights(&r), Rights::READ);
}

#[test]
fn duplicate_same_rights_keeps_them_and_names_the_same_object() {
    let _g = shared();
    let dev = dev();
    let v = new_resizable(&dev, 1);
    let d = v.duplicate_handle(Rights::SAME_RIGHTS).unwrap();
    assert_ne!(d.raw_handle(), v.raw_handle());
    assert_ne!(d.raw_handle(), 0);
    assert_eq!(rights(&d), Rights::DEFAULT_VMO | Rights::RESIZE);
    assert_eq!(d.get_koid(), v.get_koid());
    d.write(b"same object", 0).unwrap();
    assert_eq!(read(&v, 0, 11), b"same object");
    drop(v);
    assert_eq!(read(&d, 0, 11), b"same object", "the object lives while a handle does");
}

#[test]
fn replace_closes_the_old_handle() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    v.write(b"kept", 0).unwrap();
    let old = v.raw_handle();
    let koid = v.get_koid().unwrap();
    let r = v.replace_handle(Rights::READ | Rights::INSPECT).unwrap();
    assert_ne!(r.raw_handle(), old);
    assert_eq!(rights(&r), Rights::READ | Rights::INSPECT);
    assert_eq!(r.get_koid(), Ok(koid));
    assert_eq!(read(&r, 0, 4), b"kept");
    // SAFETY: `old` was closed by the replace; nothing else owns it.
    let stale = Vmo::from(unsafe { Handle::from_raw(&dev, old) });
    assert_eq!(stale.get_size(), Err(Status::BAD_HANDLE));
    assert_eq!(stale.into_handle().close(), Err(Status::BAD_HANDLE));
}

#[test]
fn replace_needs_no_right_and_keeps_same_rights() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let none = v.duplicate_handle(Rights::NONE).unwrap();
    let r = none.replace_handle(Rights::SAME_RIGHTS).unwrap();
    assert_eq!(rights(&r), Rights::NONE);
    let w = v.duplicate_handle(Rights::WRITE | Rights::READ).unwrap();
    let w = w.replace_handle(Rights::SAME_RIGHTS).unwrap();
    assert_eq!(rights(&w), Rights::WRITE | Rights::READ);
}

/// The header (and Zircon): the source handle is closed also when replace
/// fails, unless it failed with BAD_HANDLE.
#[test]
fn replace_asking_for_more_rights_fails_and_still_closes_the_source() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let ro = v.duplicate_handle(Rights::READ).unwrap();
    let raw = ro.raw_handle();
    assert_eq!(st(ro.replace_handle(Rights::READ | Rights::WRITE)), Status::INVALID_ARGS);
    // SAFETY: `raw` was consumed by the failed replace; nothing owns it.
    let stale = Vmo::from(unsafe { Handle::from_raw(&dev, raw) });
    assert_eq!(stale.get_size(), Err(Status::BAD_HANDLE), "the source is closed");
    assert_eq!(v.get_size(), Ok(pg()), "other handles are untouched");
}

#[test]
fn replace_of_a_bad_handle_is_bad_handle() {
    let _g = shared();
    let dev = dev();
    // SAFETY: a made-up value in a fresh table; nothing owns it.
    let h = unsafe { Handle::from_raw(&dev, 0x4242_4242) };
    assert_eq!(st(h.replace(Rights::SAME_RIGHTS)), Status::BAD_HANDLE);
}

#[test]
fn close_twice_and_close_of_handle_zero() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let raw = v.raw_handle();
    assert_eq!(v.into_handle().close(), Ok(()));
    // SAFETY: `raw` is closed; this is its only owner.
    let again = unsafe { Handle::from_raw(&dev, raw) };
    assert_eq!(again.close(), Err(Status::BAD_HANDLE));
    // SAFETY: 0 is the invalid handle, which nobody owns.
    let zero = unsafe { Handle::from_raw(&dev, 0) };
    assert_eq!(zero.close(), Ok(()), "handle 0 is ignored");
}

#[test]
fn handle_values_are_never_zero_nor_reused() {
    let _g = shared();
    let dev = dev();
    let mut seen = HashSet::new();
    for i in 0..2000 {
        let v = new_vmo(&dev, 1);
        assert_ne!(v.raw_handle(), 0);
        assert!(
            seen.insert(v.raw_handle()),
            "value {:#x} reused after {i} create/close",
            v.raw_handle()
        );
        let d = v.duplicate_handle(Rights::SAME_RIGHTS).unwrap();
        assert!(seen.insert(d.raw_handle()), "duplicate value {:#x} reused", d.raw_handle());
        let e = Event::create(&dev).unwrap();
        assert!(seen.insert(e.raw_handle()), "event value {:#x} reused", e.raw_handle());
    }
}

#[test]
fn event_info() {
    let _g = shared();
    let dev = dev();
    let e = Event::create(&dev).unwrap();
    let i = e.basic_info().unwrap();
    assert_eq!(i.object_type, vmo::ObjectType::EVENT);
    assert_eq!(i.rights, Rights::DEFAULT_EVENT);
    assert_ne!(i.koid, 0);
    assert_eq!((i.size, i.committed_bytes, i.num_children), (0, 0, 0));
    let e2 = Event::create(&dev).unwrap();
    assert_ne!(e2.get_koid(), Ok(i.koid));
}

/// `VMO_MAX_HANDLES` handles fit in one table; one more is NO_RESOURCES,
/// for duplicate, event and VMO creation alike, while REPLACE still works;
/// closing one makes room.
#[test]
fn handle_table_limit_is_max_handles_then_no_resources() {
    let _g = shared();
    let dev = dev();
    let ev = Event::create(&dev).unwrap();
    let max = vmo::MAX_HANDLES as usize;
    let mut all: Vec<Event> = Vec::with_capacity(max);
    let mut values = HashSet::with_capacity(max);
    values.insert(ev.raw_handle());
    for i in 1..max {
        match ev.duplicate_handle(Rights::SAME_RIGHTS) {
            Ok(d) => {
                assert_ne!(d.raw_handle(), 0);
                assert!(
                    values.insert(d.raw_handle()),
                    "value {:#x} handed out twice",
                    d.raw_handle()
                );
                all.push(d);
            }
            Err(s) => panic!("duplicate number {i} of {max} failed: {s}"),
        }
    }
    assert_eq!(values.len(), max);
    assert_eq!(st(ev.duplicate_handle(Rights::SAME_RIGHTS)), Status::NO_RESOURCES);
    assert_eq!(st(Event::create(&dev)), Status::NO_RESOURCES);
    assert_eq!(st(Vmo::create(&dev, pg(), vmo::VmoOptions::empty())), Status::NO_RESOURCES);
    // REPLACE in a full table closes one handle and adds one: it succeeds (the fuzzer found it
    // NO_RESOURCES once the table's lookups went lock-free).
    let replaced = all.pop().unwrap().replace_handle(Rights::SAME_RIGHTS).expect("replace");
    all.push(replaced);
    assert_eq!(st(ev.duplicate_handle(Rights::SAME_RIGHTS)), Status::NO_RESOURCES);
    // Another table is not affected.
    let other = vmo_guest_tests::dev();
    assert!(Event::create(&other).is_ok());
    // Closing one handle makes room for exactly one.
    drop(all.pop());
    let last = Vmo::create(&dev, pg(), vmo::VmoOptions::empty()).expect("room for one");
    assert_eq!(st(ev.duplicate_handle(Rights::SAME_RIGHTS)), Status::NO_RESOURCES);
    drop(last);
    drop(all);
    assert!(ev.duplicate_handle(Rights::SAME_RIGHTS).is_ok());
}

#[test]
fn device_node_is_open_to_every_user() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata("/dev/vmo").unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o666,
        "like memfd_create, any user may create VMOs"
    );
}

#[test]
fn module_cannot_be_unloaded_while_a_file_is_open() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let out = std::process::Command::new("rmmod").arg("vmo").output().expect("run busybox rmmod");
    assert!(!out.status.success(), "rmmod vmo succeeded while /dev/vmo was open");
    // Still loaded and working.
    assert!(std::path::Path::new("/dev/vmo").exists());
    assert_eq!(v.commit(0, pg()), Ok(()));
    assert_eq!(committed(&v), pg());
}
