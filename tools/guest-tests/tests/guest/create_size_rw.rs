//! `Vmo::create`, `get_size`/`set_size`, `read`/`write`.

use std::os::fd::AsFd;

use vmo::{
    AsHandleRef, HandleBased, ObjectType, Rights, Status, Vmo, VmoInfoFlags, VmoOptions, sys,
};
use vmo_guest_tests::*;

#[test]
fn create_rounds_the_size_up_to_a_page() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    for (asked, got) in [(0, 0), (1, p), (p - 1, p), (p, p), (p + 1, 2 * p), (10 * p - 3, 10 * p)] {
        let v = Vmo::create(&dev, asked, VmoOptions::empty()).unwrap();
        assert_eq!(v.get_size(), Ok(got), "create({asked})");
        assert_eq!(v.info().unwrap().size, got);
        assert_eq!(committed(&v), 0, "nothing is committed at creation");
    }
}

#[test]
fn create_info_and_default_rights() {
    let _g = shared();
    let dev = dev();
    let v = Vmo::create(&dev, 3 * pg(), VmoOptions::empty()).unwrap();
    let i = v.info().unwrap();
    assert_ne!(v.raw_handle(), 0);
    assert_eq!(i.rights, Rights::DEFAULT_VMO);
    assert_eq!(i.object_type, ObjectType::VMO);
    assert_ne!(i.koid, 0);
    assert_eq!(i.parent_koid, 0);
    assert_eq!(i.num_children, 0);
    assert_eq!(i.size, 3 * pg());
    assert!(i.flags.contains(VmoInfoFlags::PAGED));
    assert!(
        !i.flags
            .intersects(VmoInfoFlags::RESIZABLE | VmoInfoFlags::IS_COW_CLONE | VmoInfoFlags::SLICE)
    );

    let r = Vmo::create(&dev, pg(), VmoOptions::RESIZABLE).unwrap();
    let i = r.info().unwrap();
    assert_eq!(i.rights, Rights::DEFAULT_VMO | Rights::RESIZE);
    assert!(i.flags.contains(VmoInfoFlags::PAGED | VmoInfoFlags::RESIZABLE));
    assert_ne!(i.koid, v.info().unwrap().koid, "koids are unique");
}

#[test]
fn create_larger_than_max_size_is_out_of_range() {
    let _g = shared();
    let dev = dev();
    for size in [vmo::MAX_SIZE + 1, vmo::MAX_SIZE + pg(), 1 << 63, u64::MAX - pg() + 2, u64::MAX] {
        assert_eq!(
            st(Vmo::create(&dev, size, VmoOptions::empty())),
            Status::OUT_OF_RANGE,
            "{size:#x}"
        );
        assert_eq!(
            st(Vmo::create(&dev, size, VmoOptions::RESIZABLE)),
            Status::OUT_OF_RANGE,
            "{size:#x}"
        );
    }
    // The largest size itself is fine: nothing is committed.
    let v = Vmo::create(&dev, vmo::MAX_SIZE, VmoOptions::empty()).expect("create(VMO_MAX_SIZE)");
    assert_eq!(v.get_size(), Ok(vmo::MAX_SIZE));
    v.write(b"end", vmo::MAX_SIZE - 3).unwrap();
    assert_eq!(read(&v, vmo::MAX_SIZE - 3, 3), b"end");
    assert_eq!(committed(&v), pg());
}

#[test]
fn create_with_unknown_options_is_invalid_args() {
    let _g = shared();
    let dev = dev();
    // 1 << 2 is DISCARDABLE (discardable.rs); 1 << 3 is Zircon's TRAP_DIRTY (pager VMOs only).
    for bits in [1 << 0, 1 << 3, 1 << 7, 1 << 31, !0] {
        let o = VmoOptions::from_bits_retain(bits);
        assert_eq!(st(Vmo::create(&dev, pg(), o)), Status::INVALID_ARGS, "options {bits:#x}");
    }
}

#[test]
fn reserved_fields_must_be_zero() {
    let _g = shared();
    let dev = dev();
    let fd = dev.as_fd();
    let einval = Err(Status::INVALID_ARGS.to_errno().unwrap());
    let p = pg();
    for i in 0..2 {
        let mut a = sys::vmo_create_args { size: p, ..Default::default() };
        a.reserved[i] = 1;
        assert_eq!(sys::create(fd, &mut a), einval, "create reserved[{i}]");
        assert_eq!(a.handle, 0);
    }
    let v = new_vmo(&dev, 1);
    let h = v.raw_handle();
    let mut a = sys::vmo_create_child_args {
        handle: h,
        options: sys::VMO_CHILD_SNAPSHOT,
        size: p,
        reserved: 1,
        ..Default::default()
    };
    assert_eq!(sys::create_child(fd, &mut a), einval, "create_child");
    let mut a = sys::vmo_duplicate_args {
        handle: h,
        rights: sys::VMO_RIGHT_SAME_RIGHTS,
        reserved: 1,
        ..Default::default()
    };
    assert_eq!(sys::duplicate(fd, &mut a), einval, "duplicate");
    let mut a = sys::vmo_size_args { handle: h, reserved: 1, ..Default::default() };
    assert_eq!(sys::get_size(fd, &mut a), einval, "get_size");
    let mut buf = [0u8; 4];
    let mut a = sys::vmo_rw_args {
        handle: h,
        reserved: 1,
        buffer: buf.as_mut_ptr() as u64,
        length: 4,
        ..Default::default()
    };
    // SAFETY: the buffer is `buf`, valid for 4 bytes of writes.
    assert_eq!(unsafe { sys::read_raw(fd, &mut a) }, einval, "read");
    let mut a = sys::vmo_info { handle: h, reserved0: 1, ..Default::default() };
    assert_eq!(sys::get_info(fd, &mut a), einval, "info reserved0");
    for i in 0..4 {
        let mut a = sys::vmo_info { handle: h, ..Default::default() };
        a.reserved[i] = 1;
        assert_eq!(sys::get_info(fd, &mut a), einval, "info reserved[{i}]");
    }
    let mut a = sys::vmo_event_create_args { options: 1, handle: 0 };
    assert_eq!(sys::event_create(fd, &mut a), einval, "event options");
    assert_eq!(sys::close(fd, sys::vmo_close_args { handle: h, reserved: 1 }), einval, "close");
    // The handle survived every refused call.
    assert_eq!(v.get_size(), Ok(p));
    assert_eq!(v.info().unwrap().num_children, 0);
}

#[test]
fn set_size_of_a_non_resizable_vmo_is_unavailable() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 2);
    assert_eq!(v.set_size(4 * pg()), Err(Status::UNAVAILABLE));
    assert_eq!(v.set_size(pg()), Err(Status::UNAVAILABLE));
    assert_eq!(v.set_size(2 * pg()), Err(Status::UNAVAILABLE));
    assert_eq!(v.get_size(), Ok(2 * pg()));
}

#[test]
fn set_size_needs_resize_and_write() {
    let _g = shared();
    let dev = dev();
    let v = new_resizable(&dev, 2);
    let no_resize = v.duplicate_handle(Rights::DEFAULT_VMO).unwrap();
    let no_write =
        v.duplicate_handle((Rights::DEFAULT_VMO | Rights::RESIZE) - Rights::WRITE).unwrap();
    assert_eq!(no_resize.set_size(4 * pg()), Err(Status::ACCESS_DENIED));
    assert_eq!(no_write.set_size(4 * pg()), Err(Status::ACCESS_DENIED));
    // Non-resizable and no WRITE: the rights check comes first.
    let fixed = new_vmo(&dev, 1).duplicate_handle(Rights::READ).unwrap();
    assert_eq!(fixed.set_size(pg()), Err(Status::ACCESS_DENIED));
    assert_eq!(v.get_size(), Ok(2 * pg()));
}

#[test]
fn set_size_grows_and_shrinks() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_resizable(&dev, 2);
    v.write(&vec![3u8; (2 * p) as usize], 0).unwrap();
    assert_eq!(v.set_size(5 * p + 1), Ok(()));
    assert_eq!(v.get_size(), Ok(6 * p), "rounded up");
    assert_eq!(read(&v, 2 * p, 8), vec![0u8; 8], "grown part reads zeros");
    assert_eq!(committed(&v), 2 * p, "growing commits nothing");
    v.write(b"far", 5 * p).unwrap();
    assert_eq!(v.set_size(p), Ok(()));
    assert_eq!(v.get_size(), Ok(p));
    assert_eq!(committed(&v), p, "shrinking releases the pages past the end");
    assert_eq!(v.read_to_vec(p, 1), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.set_size(6 * p), Ok(()));
    assert_eq!(read(&v, p, 8), vec![0u8; 8], "pages cut off come back as zeros");
    assert_eq!(read(&v, 5 * p, 3), [0, 0, 0]);
    assert_eq!(read(&v, 0, 4), [3, 3, 3, 3]);
    assert_eq!(v.set_size(0), Ok(()));
    assert_eq!(committed(&v), 0);
    assert_eq!(v.set_size(vmo::MAX_SIZE + 1), Err(Status::OUT_OF_RANGE));
}

#[test]
fn read_write_out_of_range() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let size = 2 * p;
    let mut buf = vec![0u8; 16];
    assert_eq!(v.read(&mut buf, size - 15), Err(Status::OUT_OF_RANGE), "one byte past");
    assert_eq!(v.write(&buf, size - 15), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.read(&mut buf, size + p), Err(Status::OUT_OF_RANGE), "far past");
    assert_eq!(v.write(&buf, u64::MAX - 4), Err(Status::OUT_OF_RANGE), "offset + len overflows");
    assert_eq!(v.read(&mut buf, u64::MAX - 4), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.read(&mut buf, size - 16), Ok(()), "up to the end");
    assert_eq!(v.write(&buf, size - 16), Ok(()));
    assert_eq!(committed(&v), p, "the refused writes committed nothing");
}

/// A bad user pointer is EFAULT, which the crate reports as INVALID_ARGS.
/// The pointers used are never mapped (the zero page, and a kernel address),
/// so a wrong kernel cannot corrupt this process.
#[test]
fn bad_user_pointer_is_efault() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    v.write(b"data", 0).unwrap();
    let efault = Err(rustix::io::Errno::FAULT);
    for ptr in [0x10u64, 0xffff_8000_0000_0000] {
        let mut a = sys::vmo_rw_args {
            handle: v.raw_handle(),
            buffer: ptr,
            length: 4,
            ..Default::default()
        };
        // SAFETY: `ptr` is never mapped in this process (below mmap_min_addr,
        // or a kernel address).
        let r = unsafe { sys::read_raw(dev.as_fd(), &mut a) };
        assert_eq!(r, efault, "read to {ptr:#x}");
        // SAFETY: as above; the kernel only reads.
        let w = unsafe { sys::write_raw(dev.as_fd(), a) };
        assert_eq!(w, efault, "write from {ptr:#x}");
    }
    assert_eq!(Status::from_errno(rustix::io::Errno::FAULT), Status::INVALID_ARGS);
    assert_eq!(read(&v, 0, 4), b"data", "a failed write changed nothing");
}

#[test]
fn empty_read_and_write() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    assert_eq!(v.read(&mut [], 0), Ok(()));
    assert_eq!(v.write(&[], pg()), Ok(()), "empty write at the end");
    assert_eq!(committed(&v), 0);
}

#[test]
fn large_read_write_round_trip() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 64);
    let data: Vec<u8> = (0..(64 * p) as usize - 100).map(|i| (i * 7 % 251) as u8).collect();
    v.write(&data, 50).unwrap();
    assert_eq!(read(&v, 50, data.len()), data);
    assert_eq!(committed(&v), 64 * p);
}
