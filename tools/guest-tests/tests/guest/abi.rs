//! ABI details that the typed API does not reach.

use rustix::ioctl::{NoArg, ioctl, opcode};
use vmo::{AsHandleRef, HandleBased, Status};
use vmo_guest_tests::*;

/// The header: an unknown ioctl is ENOTTY (the crate: NOT_SUPPORTED).
#[test]
fn unknown_ioctl_is_enotty() {
    let _g = shared();
    let dev = dev();
    // SAFETY: an argument-less ioctl number in the module's 'Z' range that
    // the header does not define; no memory is passed.
    let r = unsafe { ioctl(&dev, NoArg::<{ opcode::none(b'Z', 0x9f) }>::new()) };
    assert_eq!(r, Err(rustix::io::Errno::NOTTY));
    // SAFETY: another group's number; no memory is passed.
    let r = unsafe { ioctl(&dev, NoArg::<{ opcode::none(b'Y', 0x80) }>::new()) };
    assert_eq!(r, Err(rustix::io::Errno::NOTTY));
    assert_eq!(Status::from_errno(rustix::io::Errno::NOTTY), Status::NOT_SUPPORTED);
    // The file still works.
    assert!(vmo::Event::create(&dev).is_ok());
}

/// Statuses travel as their table errno: spot-check the raw errno of a few
/// refusals through `sys` against the header's table.
#[test]
fn refusals_carry_the_table_errno() {
    use std::os::fd::AsFd;
    use vmo::sys;
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let fd = dev.as_fd();
    // The errno as the header's VMO_ERRNO_* values are typed.
    let errno = |e: sys::Errno| e.raw_os_error() as u32;
    let op = |handle, op, offset, size| sys::op_range(fd, handle, op, offset, size).map_err(errno);
    assert_eq!(op(0x7777_7777, sys::VMO_OP_COMMIT, 0, 1), Err(sys::VMO_ERRNO_BAD_HANDLE));
    assert_eq!(op(v.raw_handle(), 15, 0, 1), Err(sys::VMO_ERRNO_INVALID_ARGS));
    assert_eq!(op(v.raw_handle(), sys::VMO_OP_LOCK, 0, 1), Err(sys::VMO_ERRNO_NOT_SUPPORTED));
    assert_eq!(
        op(v.raw_handle(), sys::VMO_OP_COMMIT, 0, 2 * pg()),
        Err(sys::VMO_ERRNO_OUT_OF_RANGE)
    );
    let ro = v.duplicate_handle(vmo::Rights::READ).unwrap();
    assert_eq!(op(ro.raw_handle(), sys::VMO_OP_ZERO, 0, 1), Err(sys::VMO_ERRNO_ACCESS_DENIED));
    let ev = vmo::Event::create(&dev).unwrap();
    let ev_raw = vmo::AsHandleRef::raw_handle(&ev);
    assert_eq!(op(ev_raw, sys::VMO_OP_COMMIT, 0, 1), Err(sys::VMO_ERRNO_WRONG_TYPE));
    let mut a = sys::vmo_size_args { handle: v.raw_handle(), size: 0, ..Default::default() };
    assert_eq!(sys::set_size(fd, a).map_err(errno), Err(sys::VMO_ERRNO_UNAVAILABLE));
    a.size = 0;
    assert_eq!(sys::get_size(fd, &mut a), Ok(()));
    assert_eq!(a.size, pg());
}
