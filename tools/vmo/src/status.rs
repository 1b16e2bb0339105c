//! [`Status`]: Zircon's `zx_status_t`, recovered from the errno of an ioctl.

use core::fmt;

use rustix::io::Errno;

use crate::sys;

/// A Zircon status code (`zx_status_t`).
///
/// Every ioctl of `/dev/vmo` fails with exactly one errno per Zircon status
/// (the `VMO_ERRNO_*` table of `include/uapi/linux/vmo.h`), so the crate
/// recovers the exact status the module meant; see [`Status::from_errno`].
///
/// ```
/// use vmo::Status;
/// assert_eq!(Status::ok(-11), Err(Status::BAD_HANDLE));
/// assert_eq!(Status::BAD_HANDLE.to_string(), "ZX_ERR_BAD_HANDLE");
/// let errno = Status::BAD_HANDLE.to_errno().unwrap();
/// assert_eq!(Status::from_errno(errno), Status::BAD_HANDLE);
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(i32);

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl Status {
            $($(#[$doc])* pub const $name: Status = Status($value);)*

            /// The Zircon name of the status (`"ZX_ERR_BAD_HANDLE"`), or
            /// `None` for a value Zircon does not define.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    /// `ZX_OK`: success.
    OK = 0, "ZX_OK";
    /// `ZX_ERR_INTERNAL`: a condition the kernel did not expect; also what an
    /// errno outside the ABI's table maps to.
    INTERNAL = -1, "ZX_ERR_INTERNAL";
    /// `ZX_ERR_NOT_SUPPORTED`: the operation is not implemented or not
    /// supported for this object.
    NOT_SUPPORTED = -2, "ZX_ERR_NOT_SUPPORTED";
    /// `ZX_ERR_NO_RESOURCES`: a resource other than memory ran out (for
    /// `/dev/vmo`: the handle table is full).
    NO_RESOURCES = -3, "ZX_ERR_NO_RESOURCES";
    /// `ZX_ERR_NO_MEMORY`: memory could not be allocated.
    NO_MEMORY = -4, "ZX_ERR_NO_MEMORY";
    /// `ZX_ERR_INTERNAL_INTR_RETRY`: interrupted by a signal; retry. `EINTR`
    /// maps here.
    INTERRUPTED_RETRY = -6, "ZX_ERR_INTERNAL_INTR_RETRY";
    /// `ZX_ERR_INVALID_ARGS`: an argument is invalid (also a bad user
    /// pointer, `EFAULT`).
    INVALID_ARGS = -10, "ZX_ERR_INVALID_ARGS";
    /// `ZX_ERR_BAD_HANDLE`: the handle does not exist in this handle table.
    BAD_HANDLE = -11, "ZX_ERR_BAD_HANDLE";
    /// `ZX_ERR_WRONG_TYPE`: the handle names an object of another type.
    WRONG_TYPE = -12, "ZX_ERR_WRONG_TYPE";
    /// `ZX_ERR_BAD_SYSCALL`: the system call does not exist.
    BAD_SYSCALL = -13, "ZX_ERR_BAD_SYSCALL";
    /// `ZX_ERR_OUT_OF_RANGE`: an offset or size is outside the object.
    OUT_OF_RANGE = -14, "ZX_ERR_OUT_OF_RANGE";
    /// `ZX_ERR_BUFFER_TOO_SMALL`: a caller buffer is too small.
    BUFFER_TOO_SMALL = -15, "ZX_ERR_BUFFER_TOO_SMALL";
    /// `ZX_ERR_BAD_STATE`: the object is not in a state that allows the
    /// operation.
    BAD_STATE = -20, "ZX_ERR_BAD_STATE";
    /// `ZX_ERR_TIMED_OUT`: a deadline passed.
    TIMED_OUT = -21, "ZX_ERR_TIMED_OUT";
    /// `ZX_ERR_SHOULD_WAIT`: the operation would block.
    SHOULD_WAIT = -22, "ZX_ERR_SHOULD_WAIT";
    /// `ZX_ERR_CANCELED`: the operation was canceled.
    CANCELED = -23, "ZX_ERR_CANCELED";
    /// `ZX_ERR_PEER_CLOSED`: the other end of a channel or socket is closed.
    PEER_CLOSED = -24, "ZX_ERR_PEER_CLOSED";
    /// `ZX_ERR_NOT_FOUND`: the requested entity was not found.
    NOT_FOUND = -25, "ZX_ERR_NOT_FOUND";
    /// `ZX_ERR_ALREADY_EXISTS`: the entity already exists.
    ALREADY_EXISTS = -26, "ZX_ERR_ALREADY_EXISTS";
    /// `ZX_ERR_ALREADY_BOUND`: the name is already bound.
    ALREADY_BOUND = -27, "ZX_ERR_ALREADY_BOUND";
    /// `ZX_ERR_UNAVAILABLE`: the object cannot do this right now or ever
    /// (for `/dev/vmo`: resizing a VMO that is not resizable).
    UNAVAILABLE = -28, "ZX_ERR_UNAVAILABLE";
    /// `ZX_ERR_ACCESS_DENIED`: the handle lacks a right the operation needs.
    ACCESS_DENIED = -30, "ZX_ERR_ACCESS_DENIED";
    /// `ZX_ERR_IO`: an I/O error.
    IO = -40, "ZX_ERR_IO";
    /// `ZX_ERR_IO_REFUSED`: the device refused the operation.
    IO_REFUSED = -41, "ZX_ERR_IO_REFUSED";
    /// `ZX_ERR_IO_DATA_INTEGRITY`: data failed an integrity check.
    IO_DATA_INTEGRITY = -42, "ZX_ERR_IO_DATA_INTEGRITY";
    /// `ZX_ERR_IO_DATA_LOSS`: data was lost.
    IO_DATA_LOSS = -43, "ZX_ERR_IO_DATA_LOSS";
    /// `ZX_ERR_NO_SPACE`: no space is left on the device.
    NO_SPACE = -54, "ZX_ERR_NO_SPACE";
}

/// The ABI's errno table: each status the module can produce and its errno.
const ERRNO_TABLE: [(Status, u32); 16] = [
    (Status::NOT_SUPPORTED, sys::VMO_ERRNO_NOT_SUPPORTED),
    (Status::NO_RESOURCES, sys::VMO_ERRNO_NO_RESOURCES),
    (Status::NO_MEMORY, sys::VMO_ERRNO_NO_MEMORY),
    (Status::INVALID_ARGS, sys::VMO_ERRNO_INVALID_ARGS),
    (Status::BAD_HANDLE, sys::VMO_ERRNO_BAD_HANDLE),
    (Status::WRONG_TYPE, sys::VMO_ERRNO_WRONG_TYPE),
    (Status::OUT_OF_RANGE, sys::VMO_ERRNO_OUT_OF_RANGE),
    (Status::BUFFER_TOO_SMALL, sys::VMO_ERRNO_BUFFER_TOO_SMALL),
    (Status::BAD_STATE, sys::VMO_ERRNO_BAD_STATE),
    (Status::TIMED_OUT, sys::VMO_ERRNO_TIMED_OUT),
    (Status::UNAVAILABLE, sys::VMO_ERRNO_UNAVAILABLE),
    (Status::ACCESS_DENIED, sys::VMO_ERRNO_ACCESS_DENIED),
    (Status::IO, sys::VMO_ERRNO_IO),
    (Status::IO_DATA_INTEGRITY, sys::VMO_ERRNO_IO_DATA_INTEGRITY),
    (Status::NO_SPACE, sys::VMO_ERRNO_NO_SPACE),
    (Status::NOT_FOUND, sys::VMO_ERRNO_NOT_FOUND),
];

impl Status {
    /// Wraps a raw `zx_status_t`.
    pub const fn from_raw(raw: i32) -> Status {
        Status(raw)
    }

    /// The raw `zx_status_t`.
    pub const fn into_raw(self) -> i32 {
        self.0
    }

    /// `Ok(())` for [`Status::OK`] (0), `Err(status)` for anything else.
    pub fn ok(raw: i32) -> Result<(), Status> {
        if raw == Status::OK.0 { Ok(()) } else { Err(Status(raw)) }
    }

    /// The status that an errno from `/dev/vmo` stands for.
    ///
    /// * every errno of the ABI's `VMO_ERRNO_*` table gives its status, so
    ///   `Status::from_errno(e) == s` for every status `s` in the table and
    ///   `Some(e) == s.to_errno()`;
    /// * `EFAULT` (a bad user pointer) gives [`Status::INVALID_ARGS`], as the
    ///   Zircon documentation calls it;
    /// * `EINTR` (a signal interrupted a COMMIT) gives
    ///   [`Status::INTERRUPTED_RETRY`];
    /// * `ENOTTY` (the file is not `/dev/vmo`, or the module does not know the
    ///   ioctl) gives [`Status::NOT_SUPPORTED`];
    /// * any other errno gives [`Status::INTERNAL`].
    pub fn from_errno(errno: Errno) -> Status {
        if let Some((status, _)) =
            ERRNO_TABLE.iter().find(|(_, e)| *e as i32 == errno.raw_os_error())
        {
            return *status;
        }
        match errno {
            Errno::FAULT => Status::INVALID_ARGS,
            Errno::INTR => Status::INTERRUPTED_RETRY,
            Errno::NOTTY => Status::NOT_SUPPORTED,
            _ => Status::INTERNAL,
        }
    }

    /// The errno that the module uses for this status (the inverse of
    /// [`Status::from_errno`] on the ABI's table), `None` for [`Status::OK`].
    ///
    /// [`Status::INTERRUPTED_RETRY`] gives `EINTR`. A status outside the
    /// table (which the module never produces, e.g. [`Status::INTERNAL`])
    /// gives `EPROTO`.
    pub fn to_errno(self) -> Option<Errno> {
        if self == Status::OK {
            return None;
        }
        if self == Status::INTERRUPTED_RETRY {
            return Some(Errno::INTR);
        }
        Some(match ERRNO_TABLE.iter().find(|(s, _)| *s == self) {
            Some((_, errno)) => Errno::from_raw_os_error(*errno as i32),
            None => Errno::PROTO,
        })
    }

    /// Every status of the ABI's errno table (the statuses the module can
    /// return, besides the two Linux errnos `EFAULT` and `EINTR`).
    pub fn abi_statuses() -> impl Iterator<Item = Status> {
        ERRNO_TABLE.iter().map(|(s, _)| *s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ZX_STATUS({})", self.0),
        }
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Status {}

impl From<Status> for std::io::Error {
    /// An `io::Error` whose kind follows the status's errno and whose inner
    /// error is the `Status` itself (recover it with `get_ref()` and
    /// `downcast_ref::<Status>()`).
    fn from(status: Status) -> std::io::Error {
        let kind =
            status.to_errno().map_or(std::io::ErrorKind::Other, |e| std::io::Error::from(e).kind());
        std::io::Error::new(kind, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip() {
        for raw in [0, -1, -2, -10, -11, -54, -999, 7] {
            assert_eq!(Status::from_raw(raw).into_raw(), raw);
        }
        assert_eq!(Status::ok(0), Ok(()));
        assert_eq!(Status::ok(-30), Err(Status::ACCESS_DENIED));
    }

    #[test]
    fn zircon_values() {
        let expect = [
            (Status::OK, 0),
            (Status::INTERNAL, -1),
            (Status::NOT_SUPPORTED, -2),
            (Status::NO_RESOURCES, -3),
            (Status::NO_MEMORY, -4),
            (Status::INTERRUPTED_RETRY, -6),
            (Status::INVALID_ARGS, -10),
            (Status::BAD_HANDLE, -11),
            (Status::WRONG_TYPE, -12),
            (Status::OUT_OF_RANGE, -14),
            (Status::BUFFER_TOO_SMALL, -15),
            (Status::BAD_STATE, -20),
            (Status::TIMED_OUT, -21),
            (Status::UNAVAILABLE, -28),
            (Status::ACCESS_DENIED, -30),
            (Status::IO, -40),
            (Status::IO_DATA_INTEGRITY, -42),
            (Status::NO_SPACE, -54),
        ];
        for (status, raw) in expect {
            assert_eq!(status.into_raw(), raw, "{status}");
        }
    }

    #[test]
    fn errno_table_round_trips_losslessly() {
        let mut seen_errnos = std::collections::HashSet::new();
        for status in Status::abi_statuses() {
            let errno = status.to_errno().unwrap();
            assert!(errno.raw_os_error() > 0, "{status} -> {errno}");
            assert!(seen_errnos.insert(errno), "errno {errno} used twice");
            assert_eq!(Status::from_errno(errno), status);
        }
        assert_eq!(seen_errnos.len(), 16);
    }

    #[test]
    fn errno_table_matches_header_comments() {
        // The errno names the header gives next to each VMO_ERRNO_* value.
        let expect = [
            (Status::NOT_SUPPORTED, Errno::OPNOTSUPP),
            (Status::NO_RESOURCES, Errno::MFILE),
            (Status::NO_MEMORY, Errno::NOMEM),
            (Status::INVALID_ARGS, Errno::INVAL),
            (Status::BAD_HANDLE, Errno::BADF),
            (Status::WRONG_TYPE, Errno::PROTOTYPE),
            (Status::OUT_OF_RANGE, Errno::RANGE),
            (Status::BUFFER_TOO_SMALL, Errno::NOBUFS),
            (Status::BAD_STATE, Errno::BADFD),
            (Status::TIMED_OUT, Errno::TIMEDOUT),
            (Status::UNAVAILABLE, Errno::NAVAIL),
            (Status::ACCESS_DENIED, Errno::ACCESS),
            (Status::IO, Errno::IO),
            (Status::IO_DATA_INTEGRITY, Errno::BADMSG),
            (Status::NO_SPACE, Errno::NOSPC),
            (Status::NOT_FOUND, Errno::NOENT),
        ];
        for (status, errno) in expect {
            assert_eq!(status.to_errno(), Some(errno), "{status}");
            assert_eq!(Status::from_errno(errno), status);
        }
    }

    #[test]
    fn linux_only_errnos() {
        assert_eq!(Status::from_errno(Errno::FAULT), Status::INVALID_ARGS);
        assert_eq!(Status::from_errno(Errno::INTR), Status::INTERRUPTED_RETRY);
        assert_eq!(Status::INTERRUPTED_RETRY.to_errno(), Some(Errno::INTR));
        assert_eq!(Status::from_errno(Errno::NOTTY), Status::NOT_SUPPORTED);
        assert_eq!(Status::OK.to_errno(), None);
        // Unknown errnos and statuses outside the table.
        assert_eq!(Status::from_errno(Errno::XDEV), Status::INTERNAL);
        assert_eq!(Status::from_errno(Errno::from_raw_os_error(4000)), Status::INTERNAL);
        assert_eq!(Status::INTERNAL.to_errno(), Some(Errno::PROTO));
        assert_eq!(Status::from_raw(-999).to_errno(), Some(Errno::PROTO));
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(Status::OK.to_string(), "ZX_OK");
        assert_eq!(Status::BAD_HANDLE.to_string(), "ZX_ERR_BAD_HANDLE");
        assert_eq!(Status::INTERRUPTED_RETRY.to_string(), "ZX_ERR_INTERNAL_INTR_RETRY");
        assert_eq!(format!("{:?}", Status::ACCESS_DENIED), "ZX_ERR_ACCESS_DENIED");
        assert_eq!(Status::from_raw(-999).to_string(), "ZX_STATUS(-999)");
        assert_eq!(Status::from_raw(-999).name(), None);
    }

    #[test]
    fn into_io_error() {
        let e: std::io::Error = Status::ACCESS_DENIED.into();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        let inner = e.get_ref().and_then(|i| i.downcast_ref::<Status>());
        assert_eq!(inner, Some(&Status::ACCESS_DENIED));
        let e: std::io::Error = Status::NO_MEMORY.into();
        assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory);
        assert_eq!(e.to_string(), "ZX_ERR_NO_MEMORY");
    }

    #[test]
    fn is_an_error() {
        fn takes_error(_: &dyn std::error::Error) {}
        takes_error(&Status::IO);
    }
}
