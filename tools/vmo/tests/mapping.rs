//! Host tests of [`Mapping`] and the fd calls that need no kernel module: a
//! memfd maps like a VMO fd (`MAP_SHARED`), and a `Device` on a file that is
//! not `/dev/vmo` answers export and import with `NOT_SUPPORTED`.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use vmo::sys::{self, MapFlags, ProtFlags};
use vmo::{Device, Handle, Mapping, Rights, Status, Vmo};

fn page() -> usize {
    vmo::system_get_page_size() as usize
}

fn memfd(len: usize) -> OwnedFd {
    let fd = memfd_create("vmo-mapping-test", MemfdFlags::CLOEXEC).expect("memfd_create");
    ftruncate(&fd, len as u64).expect("ftruncate");
    fd
}

#[test]
fn two_mappings_of_one_file_see_each_others_writes() {
    let p = page();
    let fd = memfd(4 * p);
    let a = Mapping::new(fd.as_fd(), 0, 4 * p, true).unwrap();
    let b = Mapping::new(fd.as_fd(), p as u64, 2 * p, true).unwrap();
    assert_eq!((a.len(), b.len(), a.offset(), b.offset()), (4 * p, 2 * p, 0, p as u64));
    assert!(a.is_writable() && !a.is_empty());
    assert_ne!(a.as_ptr(), b.as_ptr());
    assert_eq!(a.as_ptr(), a.as_mut_ptr().cast_const());
    drop(fd); // the mappings keep the file

    assert_eq!(a.read_to_vec(0, 4 * p).unwrap(), vec![0; 4 * p]);
    // Across the page boundary of `b`'s first page.
    a.write_at(2 * p - 3, b"across").unwrap();
    assert_eq!(b.read_to_vec(p - 3, 6).unwrap(), b"across");
    b.write_at(0, b"from b").unwrap();
    assert_eq!(a.read_to_vec(p, 6).unwrap(), b"from b");
    let mut buf = [0u8; 4];
    a.read_at(4 * p - 4, &mut buf).unwrap();
    assert_eq!(buf, [0; 4]);
}

#[test]
fn accesses_are_bounds_checked() {
    let p = page();
    let fd = memfd(p);
    let m = Mapping::new(fd.as_fd(), 0, p, true).unwrap();
    assert_eq!(m.write_at(p - 1, b"ab"), Err(Status::OUT_OF_RANGE));
    assert_eq!(m.write_at(p, b""), Ok(()));
    assert_eq!(m.write_at(p + 1, b""), Err(Status::OUT_OF_RANGE));
    assert_eq!(m.write_at(usize::MAX, b"x"), Err(Status::OUT_OF_RANGE));
    assert_eq!(m.read_to_vec(1, p), Err(Status::OUT_OF_RANGE));
    assert_eq!(m.read_at(usize::MAX - 1, &mut [0; 4]), Err(Status::OUT_OF_RANGE));
    // Nothing was written by the failed calls.
    assert_eq!(m.read_to_vec(0, p).unwrap(), vec![0; p]);
    m.write_at(p - 1, b"z").unwrap();
    assert_eq!(m.read_to_vec(p - 1, 1).unwrap(), b"z");
}

#[test]
fn a_read_only_mapping_refuses_writes() {
    let p = page();
    let fd = memfd(p);
    let rw = Mapping::new(fd.as_fd(), 0, p, true).unwrap();
    let ro = Mapping::new(fd.as_fd(), 0, p, false).unwrap();
    assert!(!ro.is_writable());
    assert_eq!(ro.write_at(0, b"no"), Err(Status::ACCESS_DENIED));
    rw.write_at(0, b"yes").unwrap();
    assert_eq!(ro.read_to_vec(0, 3).unwrap(), b"yes");
}

#[test]
fn mmap_errors_are_the_kernels() {
    let p = page();
    let fd = memfd(2 * p);
    let e = Mapping::new(fd.as_fd(), 0, 0, false).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc_errno::EINVAL));
    let e = Mapping::new(fd.as_fd(), 1, p, false).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc_errno::EINVAL));
    // A fd opened read-only cannot be mapped writable and shared.
    let ro = std::fs::File::open(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd;
        fd.as_raw_fd()
    }))
    .unwrap();
    let e = Mapping::new(ro.as_fd(), 0, p, true).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc_errno::EACCES));
    assert!(Mapping::new(ro.as_fd(), 0, p, false).is_ok());
}

#[test]
fn raw_mmap_refuses_fixed_placement() {
    let p = page();
    let fd = memfd(p);
    for flags in [MapFlags::SHARED | MapFlags::FIXED, MapFlags::SHARED | MapFlags::FIXED_NOREPLACE]
    {
        let r = sys::mmap(fd.as_fd(), 0, p, ProtFlags::READ, flags);
        assert_eq!(r.map(|_| ()), Err(sys::Errno::INVAL), "{flags:?}");
    }
    // MAP_PRIVATE is fine for a memfd (a VMO fd refuses it).
    let private =
        sys::mmap(fd.as_fd(), 0, p, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE)
            .expect("private mapping of a memfd");
    private.write(0, b"cow").unwrap();
    let shared = Mapping::new(fd.as_fd(), 0, p, false).unwrap();
    assert_eq!(shared.read_to_vec(0, 3).unwrap(), [0; 3], "a private write stays private");
}

#[test]
fn unsafe_slices_see_the_same_bytes() {
    let p = page();
    let fd = memfd(p);
    let mut m = Mapping::new(fd.as_fd(), 0, p, true).unwrap();
    // SAFETY: nothing else maps or writes this memfd while the slice lives.
    unsafe { m.region_mut().as_mut_slice()[..5].copy_from_slice(b"slice") };
    // SAFETY: as above.
    let s = unsafe { m.region().as_slice() };
    assert_eq!(&s[..5], b"slice");
    assert_eq!(s.len(), p);
    assert_eq!(m.read_to_vec(0, 5).unwrap(), b"slice");
}

#[test]
fn threads_share_a_mapping() {
    let p = page();
    let fd = memfd(4 * p);
    let m = Mapping::new(fd.as_fd(), 0, 4 * p, true).unwrap();
    std::thread::scope(|s| {
        for t in 0..4usize {
            let m = &m;
            s.spawn(move || {
                for i in 0..200u32 {
                    let word = (t as u32 * 1000 + i).to_le_bytes();
                    m.write_at(t * p + 8, &word).unwrap();
                    assert_eq!(m.read_to_vec(t * p + 8, 4).unwrap(), word);
                }
            });
        }
    });
    for t in 0..4usize {
        assert_eq!(m.read_to_vec(t * p + 8, 4).unwrap(), (t as u32 * 1000 + 199).to_le_bytes());
    }
}

#[test]
fn mappings_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Mapping>();
    check::<sys::MappedRegion>();
}

#[test]
fn fd_calls_on_a_file_that_is_not_dev_vmo_are_not_supported() {
    let dev = Device::open_path("/dev/null").expect("open /dev/null");
    // SAFETY: 7 is owned by nothing else (and the file has no handles).
    let vmo = Vmo::from(unsafe { Handle::from_raw(&dev, 7) });
    assert_eq!(vmo.export_fd().map(|_| ()), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.map(0, page(), true).map(|_| ()), Err(Status::NOT_SUPPORTED));
    let fd = memfd(page());
    assert_eq!(Vmo::import_fd(&dev, fd.as_fd()), Err(Status::NOT_SUPPORTED));
    assert_eq!(
        Vmo::import_fd_with_rights(&dev, fd.as_fd(), Rights::READ),
        Err(Status::NOT_SUPPORTED)
    );
    let mut args = sys::vmo_export_args { handle: 7, ..Default::default() };
    assert_eq!(sys::export(dev.as_fd(), &mut args), Err(sys::Errno::NOTTY));
    assert_eq!(args.fd, 0);
}

/// The errnos the tests expect, from rustix.
mod libc_errno {
    use rustix::io::Errno;
    pub const EINVAL: i32 = Errno::INVAL.raw_os_error();
    pub const EACCES: i32 = Errno::ACCESS.raw_os_error();
}
