// SPDX-License-Identifier: GPL-2.0

//! Zircon status codes and their one-to-one errno mapping (`VMO_ERRNO_*` in the UAPI header).

use crate::uapi;
use kernel::{alloc::AllocError, prelude::*};

/// A Zircon status other than `ZX_OK`, as the VMO logic reports it.
///
/// [`Status::Kernel`] carries a Linux error through unchanged (`EFAULT` for a bad user pointer,
/// `EINTR` for an interrupted COMMIT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// `ZX_ERR_NOT_SUPPORTED`.
    NotSupported,
    /// `ZX_ERR_NO_RESOURCES`.
    NoResources,
    /// `ZX_ERR_NO_MEMORY`.
    NoMemory,
    /// `ZX_ERR_INVALID_ARGS`.
    InvalidArgs,
    /// `ZX_ERR_BAD_HANDLE`.
    BadHandle,
    /// `ZX_ERR_WRONG_TYPE`.
    WrongType,
    /// `ZX_ERR_OUT_OF_RANGE`.
    OutOfRange,
    /// `ZX_ERR_BAD_STATE`.
    BadState,
    /// `ZX_ERR_UNAVAILABLE`.
    Unavailable,
    /// `ZX_ERR_ACCESS_DENIED`.
    AccessDenied,
    /// `ZX_ERR_IO`.
    Io,
    /// `ZX_ERR_IO_DATA_INTEGRITY`.
    IoDataIntegrity,
    /// `ZX_ERR_NO_SPACE`.
    NoSpace,
    /// `ZX_ERR_BUFFER_TOO_SMALL`.
    BufferTooSmall,
    /// `ZX_ERR_TIMED_OUT`.
    TimedOut,
    /// `ZX_ERR_NOT_FOUND` (an access to a discarded VMO).
    NotFound,
    /// A Linux error passed through as it is.
    Kernel(Error),
}

/// The result of a VMO operation.
pub(crate) type ZxResult<T = ()> = core::result::Result<T, Status>;

impl Status {
    /// The positive errno of this status, from the UAPI header's table.
    pub(crate) fn errno(self) -> i32 {
        let e = match self {
            Status::NotSupported => uapi::VMO_ERRNO_NOT_SUPPORTED,
            Status::NoResources => uapi::VMO_ERRNO_NO_RESOURCES,
            Status::NoMemory => uapi::VMO_ERRNO_NO_MEMORY,
            Status::InvalidArgs => uapi::VMO_ERRNO_INVALID_ARGS,
            Status::BadHandle => uapi::VMO_ERRNO_BAD_HANDLE,
            Status::WrongType => uapi::VMO_ERRNO_WRONG_TYPE,
            Status::OutOfRange => uapi::VMO_ERRNO_OUT_OF_RANGE,
            Status::BadState => uapi::VMO_ERRNO_BAD_STATE,
            Status::Unavailable => uapi::VMO_ERRNO_UNAVAILABLE,
            Status::AccessDenied => uapi::VMO_ERRNO_ACCESS_DENIED,
            Status::Io => uapi::VMO_ERRNO_IO,
            Status::IoDataIntegrity => uapi::VMO_ERRNO_IO_DATA_INTEGRITY,
            Status::NoSpace => uapi::VMO_ERRNO_NO_SPACE,
            Status::BufferTooSmall => uapi::VMO_ERRNO_BUFFER_TOO_SMALL,
            Status::TimedOut => uapi::VMO_ERRNO_TIMED_OUT,
            Status::NotFound => uapi::VMO_ERRNO_NOT_FOUND,
            Status::Kernel(e) => return -e.to_errno(),
        };
        // The table's values are small positive errnos; `as` cannot truncate them.
        e as i32
    }

    /// The status a pager may fail a range with (Zircon's `IsValidExternalFailureCode`),
    /// given as its errno; `None` for anything else.
    pub(crate) fn pager_failure(errno: u64) -> Option<Status> {
        [
            Status::Io,
            Status::IoDataIntegrity,
            Status::BadState,
            Status::NoSpace,
            Status::BufferTooSmall,
        ]
        .into_iter()
        .find(|s| s.errno() as u64 == errno)
    }

    /// Maps an error from a kernel memory function: running out of memory (or of tmpfs
    /// space) is `NO_MEMORY`; everything else passes through.
    pub(crate) fn from_mm(e: Error) -> Status {
        if e == ENOMEM || e == ENOSPC {
            Status::NoMemory
        } else {
            Status::Kernel(e)
        }
    }
}

impl From<Status> for Error {
    fn from(s: Status) -> Error {
        match s {
            Status::Kernel(e) => e,
            s => Error::from_errno(-s.errno()),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        Status::from_mm(e)
    }
}

impl From<AllocError> for Status {
    fn from(_: AllocError) -> Status {
        Status::NoMemory
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kunit_tests(vmo_status)]
mod tests {
    use super::*;

    /// Every status maps to its own errno, and the errno is the kernel's constant of that name.
    #[test]
    fn errno_table_is_one_to_one() {
        let all = [
            (Status::NotSupported, EOPNOTSUPP),
            (Status::NoResources, EMFILE),
            (Status::NoMemory, ENOMEM),
            (Status::InvalidArgs, EINVAL),
            (Status::BadHandle, EBADF),
            (Status::WrongType, EPROTOTYPE),
            (Status::OutOfRange, ERANGE),
            (Status::BadState, EBADFD),
            (Status::Unavailable, ENAVAIL),
            (Status::AccessDenied, EACCES),
            (Status::Io, EIO),
            (Status::IoDataIntegrity, EBADMSG),
            (Status::NoSpace, ENOSPC),
            (Status::BufferTooSmall, ENOBUFS),
            (Status::TimedOut, ETIMEDOUT),
            (Status::NotFound, ENOENT),
        ];
        for (i, (s, e)) in all.iter().enumerate() {
            assert_eq!(Error::from(*s), *e);
            for (t, _) in &all[i + 1..] {
                assert!(s.errno() != t.errno());
            }
        }
    }

    /// Exactly Zircon's five external failure codes are accepted from a pager.
    #[test]
    fn pager_failure_codes_are_zircons() {
        for s in [
            Status::Io,
            Status::IoDataIntegrity,
            Status::BadState,
            Status::NoSpace,
            Status::BufferTooSmall,
        ] {
            assert_eq!(Status::pager_failure(s.errno() as u64), Some(s));
        }
        for s in [
            Status::NoMemory,
            Status::AccessDenied,
            Status::InvalidArgs,
            Status::TimedOut,
        ] {
            assert_eq!(Status::pager_failure(s.errno() as u64), None);
        }
        assert_eq!(Status::pager_failure(0), None);
        assert_eq!(Status::pager_failure(u64::MAX), None);
        assert_eq!(Status::pager_failure((1u64 << 32) + 5), None);
    }

    #[test]
    fn kernel_errors_pass_through() {
        assert_eq!(Error::from(Status::Kernel(EFAULT)), EFAULT);
        assert_eq!(Status::from_mm(ENOSPC), Status::NoMemory);
        assert_eq!(Status::from_mm(EINTR), Status::Kernel(EINTR));
    }
}
