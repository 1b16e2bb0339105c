//! The raw ABI of `/dev/vmo`: the bindgen mirror of
//! `include/uapi/linux/vmo.h` and one thin wrapper per ioctl.
//!
//! This module holds every `unsafe` block of the crate. The wrappers return
//! the errno of a failed ioctl as rustix's [`Errno`]; the typed API maps it
//! with [`Status::from_errno`](crate::Status::from_errno). Use this module to
//! send argument structs that the typed API never builds (non-zero reserved
//! fields, bad user pointers, raw handle values).
//!
//! Every opcode is checked at compile time against the argument struct it
//! is used with (direction, `'Z'`, number and `sizeof`), so each ioctl passes
//! the kernel a pointer to exactly the struct that the header names for it.
#![allow(unsafe_code)]

use std::os::fd::{BorrowedFd, FromRawFd as _, OwnedFd};

use rustix::ioctl::{Setter, Updater, ioctl, opcode};

#[rustfmt::skip]
mod uapi;
mod mm;

pub use mm::{MapFlags, MappedRegion, ProtFlags, mmap};
pub use uapi::*;

pub use rustix::io::Errno;

/// The result of one ioctl: `Err` holds the errno.
pub type IoctlResult = Result<(), Errno>;

// The opcodes that the header computed with _IOWR/_IOW must be the ones that
// rustix computes for the structs the wrappers below pass.
const _: () = {
    let g = VMO_IOC_MAGIC;
    assert!(VMO_IOC_CREATE == opcode::read_write::<vmo_create_args>(g, 0x80));
    assert!(VMO_IOC_CREATE_CHILD == opcode::read_write::<vmo_create_child_args>(g, 0x81));
    assert!(VMO_IOC_CLOSE == opcode::write::<vmo_close_args>(g, 0x82));
    assert!(VMO_IOC_DUPLICATE == opcode::read_write::<vmo_duplicate_args>(g, 0x83));
    assert!(VMO_IOC_REPLACE == opcode::read_write::<vmo_duplicate_args>(g, 0x84));
    assert!(VMO_IOC_READ == opcode::write::<vmo_rw_args>(g, 0x85));
    assert!(VMO_IOC_WRITE == opcode::write::<vmo_rw_args>(g, 0x86));
    assert!(VMO_IOC_GET_SIZE == opcode::read_write::<vmo_size_args>(g, 0x87));
    assert!(VMO_IOC_SET_SIZE == opcode::write::<vmo_size_args>(g, 0x88));
    assert!(VMO_IOC_OP_RANGE == opcode::write::<vmo_op_range_args>(g, 0x89));
    assert!(VMO_IOC_GET_INFO == opcode::read_write::<vmo_info>(g, 0x8a));
    assert!(VMO_IOC_EVENT_CREATE == opcode::read_write::<vmo_event_create_args>(g, 0x8b));
    assert!(VMO_IOC_EXPORT == opcode::read_write::<vmo_export_args>(g, 0x8c));
    assert!(VMO_IOC_IMPORT == opcode::read_write::<vmo_import_args>(g, 0x8d));
    assert!(VMO_IOC_PAGER_CREATE == opcode::read_write::<vmo_pager_create_args>(g, 0x8e));
    assert!(VMO_IOC_PAGER_CREATE_VMO == opcode::read_write::<vmo_pager_create_vmo_args>(g, 0x8f));
    assert!(VMO_IOC_PAGER_DETACH == opcode::write::<vmo_pager_detach_args>(g, 0x90));
    assert!(VMO_IOC_PAGER_SUPPLY == opcode::write::<vmo_pager_supply_args>(g, 0x91));
    assert!(VMO_IOC_PAGER_OP_RANGE == opcode::write::<vmo_pager_op_args>(g, 0x92));
    assert!(VMO_IOC_PAGER_WAIT == opcode::read_write::<vmo_pager_wait_args>(g, 0x93));
    assert!(
        VMO_IOC_REPLACE_AS_EXECUTABLE
            == opcode::read_write::<vmo_replace_as_executable_args>(g, 0x94)
    );
    assert!(VMO_IOC_PAGER_QUERY_DIRTY == opcode::read_write::<vmo_pager_query_dirty_args>(g, 0x95));
    assert!(VMO_IOC_PAGER_QUERY_STATS == opcode::write::<vmo_pager_query_stats_args>(g, 0x96));
};

/// `VMO_IOC_CREATE`: fills `args.handle` on success.
pub fn create(fd: BorrowedFd<'_>, args: &mut vmo_create_args) -> IoctlResult {
    // SAFETY: VMO_IOC_CREATE is _IOWR('Z', 0x80, struct vmo_create_args)
    // (checked above); the kernel reads and writes that one struct through
    // the pointer, which `args` lends exclusively for the call. The struct
    // holds no pointers, so no other memory is touched.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_CREATE }, vmo_create_args>::new(args)) }
}

/// `VMO_IOC_CREATE_CHILD`: fills `args.out_handle` on success.
pub fn create_child(fd: BorrowedFd<'_>, args: &mut vmo_create_child_args) -> IoctlResult {
    // SAFETY: VMO_IOC_CREATE_CHILD is _IOWR(.., struct vmo_create_child_args)
    // (checked above); only that struct, lent exclusively, is read and
    // written, and it holds no pointers.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_CREATE_CHILD }, vmo_create_child_args>::new(args)) }
}

/// `VMO_IOC_CLOSE`: closes `args.handle` (0 is ignored).
pub fn close(fd: BorrowedFd<'_>, args: vmo_close_args) -> IoctlResult {
    // SAFETY: VMO_IOC_CLOSE is _IOW(.., struct vmo_close_args) (checked
    // above); the kernel only reads the struct, which the Setter owns for the
    // call, and it holds no pointers.
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_CLOSE }, vmo_close_args>::new(args)) }
}

/// `VMO_IOC_DUPLICATE`: fills `args.out_handle` on success.
pub fn duplicate(fd: BorrowedFd<'_>, args: &mut vmo_duplicate_args) -> IoctlResult {
    // SAFETY: VMO_IOC_DUPLICATE is _IOWR(.., struct vmo_duplicate_args)
    // (checked above); only that struct, lent exclusively, is read and
    // written, and it holds no pointers.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_DUPLICATE }, vmo_duplicate_args>::new(args)) }
}

/// `VMO_IOC_REPLACE`: closes `args.handle` (also on most failures) and fills
/// `args.out_handle` on success.
pub fn replace(fd: BorrowedFd<'_>, args: &mut vmo_duplicate_args) -> IoctlResult {
    // SAFETY: VMO_IOC_REPLACE is _IOWR(.., struct vmo_duplicate_args)
    // (checked above); only that struct, lent exclusively, is read and
    // written, and it holds no pointers.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_REPLACE }, vmo_duplicate_args>::new(args)) }
}

/// `VMO_IOC_REPLACE_AS_EXECUTABLE`: closes `args.handle` (whatever the
/// result, once it names a handle) and fills `args.out_handle` with a handle
/// that has its rights plus `EXECUTE` on success. `args.vmex` must be 0 (the
/// ambient policy: `CAP_SYS_ADMIN`); see the header for the other values.
pub fn replace_as_executable(
    fd: BorrowedFd<'_>,
    args: &mut vmo_replace_as_executable_args,
) -> IoctlResult {
    // SAFETY: VMO_IOC_REPLACE_AS_EXECUTABLE is
    // _IOWR(.., struct vmo_replace_as_executable_args) (checked above); only
    // that struct, lent exclusively, is read and written, and it holds no
    // pointers.
    unsafe {
        ioctl(
            fd,
            Updater::<{ VMO_IOC_REPLACE_AS_EXECUTABLE }, vmo_replace_as_executable_args>::new(args),
        )
    }
}

/// `VMO_IOC_READ` into `buf`: reads `buf.len()` bytes at `offset`.
pub fn read(fd: BorrowedFd<'_>, handle: u32, offset: u64, buf: &mut [u8]) -> IoctlResult {
    let mut args = vmo_rw_args {
        handle,
        offset,
        buffer: buf.as_mut_ptr() as u64,
        length: buf.len() as u64,
        ..Default::default()
    };
    // SAFETY: `args.buffer` and `args.length` describe `buf`, which is
    // borrowed mutably for the whole call, so the kernel writes only into
    // memory this call owns, and any bytes are valid u8 values.
    unsafe { read_raw(fd, &mut args) }
}

/// `VMO_IOC_READ` with a caller-built argument struct (any buffer pointer).
///
/// # Safety
///
/// `args.buffer` must be valid for writes of `args.length` bytes, or the
/// range must not be mapped in this process at all (the kernel then fails
/// with `EFAULT` without touching anything).
pub unsafe fn read_raw(fd: BorrowedFd<'_>, args: &mut vmo_rw_args) -> IoctlResult {
    // SAFETY: VMO_IOC_READ is _IOW(.., struct vmo_rw_args) (checked above).
    // The Updater (a mutating ioctl for rustix) is used although the struct
    // is only read, because the kernel writes the user buffer it points to;
    // the caller guarantees that buffer is writable or unmapped.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_READ }, vmo_rw_args>::new(args)) }
}

/// `VMO_IOC_WRITE` from `buf`: writes `buf.len()` bytes at `offset`.
pub fn write(fd: BorrowedFd<'_>, handle: u32, offset: u64, buf: &[u8]) -> IoctlResult {
    let args = vmo_rw_args {
        handle,
        offset,
        buffer: buf.as_ptr() as u64,
        length: buf.len() as u64,
        ..Default::default()
    };
    // SAFETY: `args.buffer` and `args.length` describe `buf`, which is
    // borrowed for the whole call; the kernel only reads it.
    unsafe { write_raw(fd, args) }
}

/// `VMO_IOC_WRITE` with a caller-built argument struct (any buffer pointer).
///
/// # Safety
///
/// `args.buffer` must be valid for reads of `args.length` bytes, or the range
/// must not be mapped in this process at all (the kernel then fails with
/// `EFAULT`).
pub unsafe fn write_raw(fd: BorrowedFd<'_>, args: vmo_rw_args) -> IoctlResult {
    // SAFETY: VMO_IOC_WRITE is _IOW(.., struct vmo_rw_args) (checked above);
    // the kernel reads the struct and the user buffer it names, which the
    // caller guarantees is readable or unmapped; nothing is written.
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_WRITE }, vmo_rw_args>::new(args)) }
}

/// `VMO_IOC_GET_SIZE`: fills `args.size` on success.
pub fn get_size(fd: BorrowedFd<'_>, args: &mut vmo_size_args) -> IoctlResult {
    // SAFETY: VMO_IOC_GET_SIZE is _IOWR(.., struct vmo_size_args) (checked
    // above); only that struct, lent exclusively, is read and written.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_GET_SIZE }, vmo_size_args>::new(args)) }
}

/// `VMO_IOC_SET_SIZE`.
pub fn set_size(fd: BorrowedFd<'_>, args: vmo_size_args) -> IoctlResult {
    // SAFETY: VMO_IOC_SET_SIZE is _IOW(.., struct vmo_size_args) (checked
    // above); the kernel only reads that struct, which holds no pointers.
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_SET_SIZE }, vmo_size_args>::new(args)) }
}

/// `VMO_IOC_OP_RANGE` with LOCK's buffer: the kernel writes a `vmo_lock_state`
/// to `state` (`buffer_size` is what the kernel is told, at most its size).
pub fn op_range_lock(
    fd: BorrowedFd<'_>,
    handle: u32,
    offset: u64,
    size: u64,
    state: &mut vmo_lock_state,
    buffer_size: u64,
) -> IoctlResult {
    let buffer_size = buffer_size.min(core::mem::size_of::<vmo_lock_state>() as u64);
    let args = vmo_op_range_args {
        handle,
        op: VMO_OP_LOCK,
        offset,
        size,
        buffer: state as *mut vmo_lock_state as u64,
        buffer_size,
    };
    // SAFETY: VMO_IOC_OP_RANGE is _IOW(.., struct vmo_op_range_args); the
    // kernel writes at most `buffer_size` <= size_of::<vmo_lock_state>() bytes
    // to `buffer`, which points to `state`, lent exclusively for the call.
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_OP_RANGE }, vmo_op_range_args>::new(args)) }
}

/// `VMO_IOC_OP_RANGE` with `buffer` and `buffer_size` zero (only LOCK uses them).
pub fn op_range(fd: BorrowedFd<'_>, handle: u32, op: u32, offset: u64, size: u64) -> IoctlResult {
    let args = vmo_op_range_args { handle, op, offset, size, buffer: 0, buffer_size: 0 };
    // SAFETY: VMO_IOC_OP_RANGE is _IOW(.., struct vmo_op_range_args) (checked
    // above); the kernel only reads the struct, and its one pointer field,
    // `buffer`, is null (the header says the module never uses it).
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_OP_RANGE }, vmo_op_range_args>::new(args)) }
}

/// `VMO_IOC_GET_INFO`: fills the `out` fields of `args` on success.
pub fn get_info(fd: BorrowedFd<'_>, args: &mut vmo_info) -> IoctlResult {
    // SAFETY: VMO_IOC_GET_INFO is _IOWR(.., struct vmo_info) (checked above);
    // only that struct, lent exclusively, is read and written.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_GET_INFO }, vmo_info>::new(args)) }
}

/// `VMO_IOC_EVENT_CREATE`: fills `args.handle` on success.
pub fn event_create(fd: BorrowedFd<'_>, args: &mut vmo_event_create_args) -> IoctlResult {
    // SAFETY: VMO_IOC_EVENT_CREATE is _IOWR(.., struct vmo_event_create_args)
    // (checked above); only that struct, lent exclusively, is read and
    // written.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_EVENT_CREATE }, vmo_event_create_args>::new(args)) }
}

/// `VMO_IOC_EXPORT`: fills `args.fd` with a new file descriptor for the
/// handle's VMO on success. The caller owns that descriptor and must close
/// it; [`export_owned`] returns it as an [`OwnedFd`].
pub fn export(fd: BorrowedFd<'_>, args: &mut vmo_export_args) -> IoctlResult {
    // SAFETY: VMO_IOC_EXPORT is _IOWR(.., struct vmo_export_args) (checked
    // above); only that struct, lent exclusively, is read and written, and
    // it holds no pointers. The descriptor it installs is new, so no memory
    // or descriptor of this process changes meaning.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_EXPORT }, vmo_export_args>::new(args)) }
}

/// `VMO_IOC_EXPORT` of `handle` with `flags` (`VMO_EXPORT_*`): the new file
/// descriptor, owned.
pub fn export_owned(fd: BorrowedFd<'_>, handle: u32, flags: u32) -> Result<OwnedFd, Errno> {
    let mut args = vmo_export_args { handle, flags, ..Default::default() };
    export(fd, &mut args)?;
    if args.fd < 0 {
        // Success without a descriptor breaks the ABI; never wrap -1.
        return Err(Errno::PROTO);
    }
    // SAFETY: on success the kernel has just installed `args.fd` as a new
    // open descriptor of this process, and nothing else in the program owns
    // that number yet, so this `OwnedFd` is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(args.fd) })
}

/// `VMO_IOC_IMPORT`: fills `args.handle` with a handle for the VMO of the
/// file descriptor `args.fd` on success. `args.fd` is only a number to the
/// kernel (looked up in this process's descriptor table, never closed).
pub fn import(fd: BorrowedFd<'_>, args: &mut vmo_import_args) -> IoctlResult {
    // SAFETY: VMO_IOC_IMPORT is _IOWR(.., struct vmo_import_args) (checked
    // above); only that struct, lent exclusively, is read and written, and
    // it holds no pointers; the descriptor it names is only looked up.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_IMPORT }, vmo_import_args>::new(args)) }
}

/// `VMO_IOC_PAGER_CREATE`: fills `args.handle` on success.
pub fn pager_create(fd: BorrowedFd<'_>, args: &mut vmo_pager_create_args) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_CREATE is _IOWR(.., struct vmo_pager_create_args)
    // (checked above); only that struct, lent exclusively, is read and
    // written, and it holds no pointers.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_PAGER_CREATE }, vmo_pager_create_args>::new(args)) }
}

/// `VMO_IOC_PAGER_CREATE_VMO`: fills `args.handle` on success.
pub fn pager_create_vmo(fd: BorrowedFd<'_>, args: &mut vmo_pager_create_vmo_args) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_CREATE_VMO is
    // _IOWR(.., struct vmo_pager_create_vmo_args) (checked above); only that
    // struct, lent exclusively, is read and written, and it holds no
    // pointers.
    unsafe {
        ioctl(fd, Updater::<{ VMO_IOC_PAGER_CREATE_VMO }, vmo_pager_create_vmo_args>::new(args))
    }
}

/// `VMO_IOC_PAGER_DETACH`.
pub fn pager_detach(fd: BorrowedFd<'_>, args: vmo_pager_detach_args) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_DETACH is _IOW(.., struct vmo_pager_detach_args)
    // (checked above); the kernel only reads the struct, which the Setter
    // owns for the call, and it holds no pointers.
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_PAGER_DETACH }, vmo_pager_detach_args>::new(args)) }
}

/// `VMO_IOC_PAGER_SUPPLY`.
pub fn pager_supply(fd: BorrowedFd<'_>, args: vmo_pager_supply_args) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_SUPPLY is _IOW(.., struct vmo_pager_supply_args)
    // (checked above); the kernel only reads the struct, which the Setter
    // owns for the call, and it holds no pointers (the pages move between
    // VMOs inside the kernel).
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_PAGER_SUPPLY }, vmo_pager_supply_args>::new(args)) }
}

/// `VMO_IOC_PAGER_OP_RANGE`.
pub fn pager_op_range(fd: BorrowedFd<'_>, args: vmo_pager_op_args) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_OP_RANGE is _IOW(.., struct vmo_pager_op_args)
    // (checked above); the kernel only reads the struct, which the Setter
    // owns for the call; `data` is a value (an errno for FAIL), not a
    // pointer.
    unsafe { ioctl(fd, Setter::<{ VMO_IOC_PAGER_OP_RANGE }, vmo_pager_op_args>::new(args)) }
}

/// `VMO_IOC_PAGER_WAIT`: fills `args.packet` on success. Blocks for up to
/// `args.timeout_ns` (forever if negative); a signal ends it with `EINTR`.
pub fn pager_wait(fd: BorrowedFd<'_>, args: &mut vmo_pager_wait_args) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_WAIT is _IOWR(.., struct vmo_pager_wait_args)
    // (checked above); only that struct, lent exclusively, is read and
    // written, and it holds no pointers.
    unsafe { ioctl(fd, Updater::<{ VMO_IOC_PAGER_WAIT }, vmo_pager_wait_args>::new(args)) }
}

/// `VMO_IOC_PAGER_QUERY_DIRTY` into `ranges`: fills `args.actual` and
/// `args.avail`; `args.buffer` and `args.buffer_size` are set from `ranges`.
pub fn pager_query_dirty(
    fd: BorrowedFd<'_>,
    args: &mut vmo_pager_query_dirty_args,
    ranges: &mut [vmo_dirty_range],
) -> IoctlResult {
    args.buffer = ranges.as_mut_ptr() as u64;
    args.buffer_size = size_of_val(ranges) as u64;
    // SAFETY: `args.buffer` and `args.buffer_size` describe `ranges`, which is
    // borrowed mutably for the whole call, so the kernel writes only into
    // memory this call owns, and any bytes are a valid `vmo_dirty_range`.
    unsafe { pager_query_dirty_raw(fd, args) }
}

/// `VMO_IOC_PAGER_QUERY_DIRTY` with a caller-built argument struct (any
/// buffer pointer).
///
/// # Safety
///
/// `args.buffer` must be valid for writes of `args.buffer_size` bytes, or
/// the range must not be mapped in this process at all (the kernel then
/// fails with `EFAULT`).
pub unsafe fn pager_query_dirty_raw(
    fd: BorrowedFd<'_>,
    args: &mut vmo_pager_query_dirty_args,
) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_QUERY_DIRTY is _IOWR(.., struct
    // vmo_pager_query_dirty_args) (checked above); the struct is lent
    // exclusively, and the caller guarantees the buffer it points to.
    unsafe {
        ioctl(fd, Updater::<{ VMO_IOC_PAGER_QUERY_DIRTY }, vmo_pager_query_dirty_args>::new(args))
    }
}

/// `VMO_IOC_PAGER_QUERY_STATS` into `stats`; `args.buffer` and
/// `args.buffer_size` are set from it.
pub fn pager_query_stats(
    fd: BorrowedFd<'_>,
    mut args: vmo_pager_query_stats_args,
    stats: &mut vmo_pager_vmo_stats,
) -> IoctlResult {
    args.buffer = stats as *mut vmo_pager_vmo_stats as u64;
    args.buffer_size = size_of::<vmo_pager_vmo_stats>() as u64;
    // SAFETY: the buffer is `stats`, borrowed mutably for the call; any
    // bytes are a valid `vmo_pager_vmo_stats`.
    unsafe { pager_query_stats_raw(fd, args) }
}

/// `VMO_IOC_PAGER_QUERY_STATS` with a caller-built argument struct (any
/// buffer pointer and size).
///
/// # Safety
///
/// `args.buffer` must be valid for writes of `args.buffer_size` bytes, or
/// the range must not be mapped in this process at all.
pub unsafe fn pager_query_stats_raw(
    fd: BorrowedFd<'_>,
    args: vmo_pager_query_stats_args,
) -> IoctlResult {
    // SAFETY: VMO_IOC_PAGER_QUERY_STATS is _IOW(.., struct
    // vmo_pager_query_stats_args) (checked above); the Setter owns the
    // struct for the call, and the caller guarantees the buffer.
    unsafe {
        ioctl(fd, Setter::<{ VMO_IOC_PAGER_QUERY_STATS }, vmo_pager_query_stats_args>::new(args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_encode_struct_sizes() {
        // _IOC_SIZE is bits 16..30 of the opcode.
        let size = |op: u32| ((op >> 16) & 0x3fff) as usize;
        assert_eq!(size(VMO_IOC_CREATE), size_of::<vmo_create_args>());
        assert_eq!(size(VMO_IOC_GET_INFO), size_of::<vmo_info>());
        assert_eq!(size(VMO_IOC_OP_RANGE), size_of::<vmo_op_range_args>());
        assert_eq!(size(VMO_IOC_EXPORT), size_of::<vmo_export_args>());
        assert_eq!(size(VMO_IOC_IMPORT), size_of::<vmo_import_args>());
        assert_eq!(VMO_IOC_MAGIC, b'Z');
        let all = [
            VMO_IOC_CREATE,
            VMO_IOC_CREATE_CHILD,
            VMO_IOC_CLOSE,
            VMO_IOC_DUPLICATE,
            VMO_IOC_REPLACE,
            VMO_IOC_READ,
            VMO_IOC_WRITE,
            VMO_IOC_GET_SIZE,
            VMO_IOC_SET_SIZE,
            VMO_IOC_OP_RANGE,
            VMO_IOC_GET_INFO,
            VMO_IOC_EVENT_CREATE,
            VMO_IOC_EXPORT,
            VMO_IOC_IMPORT,
        ];
        for (i, op) in all.iter().enumerate() {
            assert_eq!(op & 0xff, 0x80 + i as u32);
            assert_eq!((op >> 8) & 0xff, u32::from(b'Z'));
        }
    }

    #[test]
    fn pager_opcodes_encode_their_structs() {
        let size = |op: u32| ((op >> 16) & 0x3fff) as usize;
        let dir = |op: u32| op >> 30; // 1: _IOW, 3: _IOWR
        let ops = [
            (VMO_IOC_PAGER_CREATE, 0x8e, size_of::<vmo_pager_create_args>(), 3),
            (VMO_IOC_PAGER_CREATE_VMO, 0x8f, size_of::<vmo_pager_create_vmo_args>(), 3),
            (VMO_IOC_PAGER_DETACH, 0x90, size_of::<vmo_pager_detach_args>(), 1),
            (VMO_IOC_PAGER_SUPPLY, 0x91, size_of::<vmo_pager_supply_args>(), 1),
            (VMO_IOC_PAGER_OP_RANGE, 0x92, size_of::<vmo_pager_op_args>(), 1),
            (VMO_IOC_PAGER_WAIT, 0x93, size_of::<vmo_pager_wait_args>(), 3),
            (VMO_IOC_REPLACE_AS_EXECUTABLE, 0x94, size_of::<vmo_replace_as_executable_args>(), 3),
        ];
        for (op, nr, sz, d) in ops {
            assert_eq!(op & 0xff, nr, "{op:#x}");
            assert_eq!((op >> 8) & 0xff, u32::from(b'Z'));
            assert_eq!(size(op), sz, "{op:#x}");
            assert_eq!(dir(op), d, "{op:#x}");
        }
        assert_eq!(size_of::<vmo_pager_packet>(), 32);
        assert_eq!(size_of::<vmo_pager_wait_args>(), 48);
    }

    #[test]
    fn ioctl_on_a_file_that_is_not_dev_vmo_is_enotty() {
        use std::os::fd::AsFd;
        let f = std::fs::File::open("/dev/null").expect("open /dev/null");
        let mut args = vmo_create_args { size: 4096, ..Default::default() };
        assert_eq!(create(f.as_fd(), &mut args), Err(Errno::NOTTY));
        assert_eq!(args.handle, 0);
    }
}
