//! [`Device`] (a handle table), [`Handle`] and the traits typed handles share.

use core::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use crate::sys;
use crate::{Rights, Status, VmoInfo};

/// An open `/dev/vmo`: one handle table, as a Zircon process has.
///
/// Handles are only meaningful in the table that made them: a handle value
/// used with another `Device` is `BAD_HANDLE`. Closing the file (dropping the
/// last `Device` clone *and* every handle made from it, since each handle
/// keeps the file open) closes every handle in it.
///
/// `Device` is cheap to clone (an `Arc` of the file descriptor).
#[derive(Clone)]
pub struct Device {
    fd: Arc<OwnedFd>,
}

impl Device {
    /// Where the module's misc device lives.
    pub const DEFAULT_PATH: &'static str = "/dev/vmo";

    /// Opens [`Device::DEFAULT_PATH`], a new, empty handle table.
    pub fn open() -> io::Result<Device> {
        Device::open_path(Device::DEFAULT_PATH)
    }

    /// Opens the device at `path` (read-write, close-on-exec).
    pub fn open_path(path: impl AsRef<Path>) -> io::Result<Device> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Device::from_fd(file.into()))
    }

    /// Uses an already open file descriptor as the device.
    pub fn from_fd(fd: OwnedFd) -> Device {
        Device { fd: Arc::new(fd) }
    }

    /// Whether two `Device`s are the same open file (the same handle table).
    pub fn same_table(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.fd, &other.fd)
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Device").field(&self.fd).finish()
    }
}

/// An owned handle of a [`Device`]'s table, of any object type.
///
/// Dropping it closes the handle (`VMO_IOC_CLOSE`). It keeps its device's
/// file open, so the `Device` it came from may be dropped first. The raw
/// value 0 is the invalid handle: it is never handed out, and closing it does
/// nothing.
///
/// Typed handles ([`Vmo`](crate::Vmo), [`Event`]) convert from and to
/// `Handle` without any check, as in Zircon: a `Vmo` made from an event
/// handle is possible, and the kernel answers `WRONG_TYPE` when it is used.
pub struct Handle {
    device: Device,
    raw: u32,
}

impl Handle {
    /// Takes ownership of the raw handle value `raw` of `device`'s table.
    ///
    /// # Safety
    ///
    /// `raw` must not be owned by another `Handle`: each handle value is
    /// closed when its owner drops, and a second owner would close it twice or
    /// use it after another part of the program closed it. (The kernel checks
    /// every value, so a wrong one gives `BAD_HANDLE`, not memory unsafety;
    /// the contract is about ownership, as in the `zx` crate.)
    #[allow(unsafe_code)] // An ownership contract only; no unsafe operation.
    pub unsafe fn from_raw(device: &Device, raw: u32) -> Handle {
        Handle { device: device.clone(), raw }
    }

    /// The raw handle value (never 0 for a handle the kernel handed out).
    pub fn raw(&self) -> u32 {
        self.raw
    }

    /// Gives up ownership without closing: returns the raw value. (The
    /// handle's reference to its device's file is still released.)
    pub fn into_raw(mut self) -> u32 {
        // Drop sees the invalid handle 0 and closes nothing, but still drops
        // `device` (forgetting `self` would keep the file open forever).
        core::mem::replace(&mut self.raw, 0)
    }

    /// The device (handle table) the handle belongs to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether this is the invalid handle 0.
    pub fn is_invalid(&self) -> bool {
        self.raw == 0
    }

    /// Closes the handle and reports the kernel's answer (dropping a handle
    /// closes it too, ignoring errors).
    pub fn close(self) -> Result<(), Status> {
        let device = self.device.clone();
        let raw = self.into_raw();
        close_raw(&device, raw)
    }

    /// `zx_handle_duplicate`: a new handle to the same object with `rights`
    /// (which may only drop rights; [`Rights::SAME_RIGHTS`] keeps them).
    /// Needs [`Rights::DUPLICATE`].
    pub fn duplicate(&self, rights: Rights) -> Result<Handle, Status> {
        let mut args = sys::vmo_duplicate_args {
            handle: self.raw,
            rights: rights.bits(),
            ..Default::default()
        };
        sys::duplicate(self.device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Handle { device: self.device.clone(), raw: args.out_handle })
    }

    /// `zx_handle_replace`: a new handle with `rights`; this one is closed,
    /// also when the call fails (unless with `BAD_HANDLE`), as in Zircon.
    pub fn replace(self, rights: Rights) -> Result<Handle, Status> {
        let device = self.device.clone();
        let raw = self.into_raw();
        let mut args =
            sys::vmo_duplicate_args { handle: raw, rights: rights.bits(), ..Default::default() };
        sys::replace(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Handle { device, raw: args.out_handle })
    }

    /// `zx_object_get_info`: the handle's rights and object type, and for a
    /// VMO its size, pages and family; see [`VmoInfo`].
    pub fn info(&self) -> Result<VmoInfo, Status> {
        let mut args = sys::vmo_info { handle: self.raw, ..Default::default() };
        sys::get_info(self.device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(VmoInfo::from_sys(&args))
    }
}

fn close_raw(device: &Device, raw: u32) -> Result<(), Status> {
    sys::close(device.as_fd(), sys::vmo_close_args { handle: raw, reserved: 0 })
        .map_err(Status::from_errno)
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.raw != 0 {
            // Nothing to do about a failure here (a made-up value, or one that
            // was closed behind our back); `close()` reports it.
            let _ = close_raw(&self.device, self.raw);
        }
    }
}

impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        self.raw == other.raw && self.device.same_table(&other.device)
    }
}

impl Eq for Handle {}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({:#x})", self.raw)
    }
}

/// Access to the [`Handle`] inside a handle type.
pub trait AsHandleRef {
    /// The underlying handle.
    fn as_handle_ref(&self) -> &Handle;

    /// The raw handle value.
    fn raw_handle(&self) -> u32 {
        self.as_handle_ref().raw()
    }

    /// `zx_object_get_info` on the handle.
    fn basic_info(&self) -> Result<VmoInfo, Status> {
        self.as_handle_ref().info()
    }

    /// The object's kernel id (unique for the boot).
    fn get_koid(&self) -> Result<u64, Status> {
        self.basic_info().map(|i| i.koid)
    }
}

/// A handle type that converts to and from [`Handle`] (as in the `zx` crate).
pub trait HandleBased: AsHandleRef + From<Handle> + Into<Handle> {
    /// Converts into a plain [`Handle`].
    fn into_handle(self) -> Handle {
        self.into()
    }

    /// Converts a plain [`Handle`] into this type, unchecked.
    fn from_handle(handle: Handle) -> Self {
        Self::from(handle)
    }

    /// [`Handle::duplicate`], keeping the type.
    fn duplicate_handle(&self, rights: Rights) -> Result<Self, Status> {
        self.as_handle_ref().duplicate(rights).map(Self::from)
    }

    /// [`Handle::replace`], keeping the type.
    fn replace_handle(self, rights: Rights) -> Result<Self, Status> {
        self.into_handle().replace(rights).map(Self::from)
    }
}

impl AsHandleRef for Handle {
    fn as_handle_ref(&self) -> &Handle {
        self
    }
}

impl HandleBased for Handle {}

/// Implements the handle traits and conversions for a `struct T(Handle)`.
macro_rules! impl_handle_based {
    ($t:ident) => {
        impl $crate::AsHandleRef for $t {
            fn as_handle_ref(&self) -> &$crate::Handle {
                &self.0
            }
        }

        impl From<$crate::Handle> for $t {
            fn from(handle: $crate::Handle) -> $t {
                $t(handle)
            }
        }

        impl From<$t> for $crate::Handle {
            fn from(x: $t) -> $crate::Handle {
                x.0
            }
        }

        impl $crate::HandleBased for $t {}
    };
}
pub(crate) use impl_handle_based;

/// A Zircon event (`zx_event_create`). `/dev/vmo` offers events so that
/// there is a second object type: a handle to one is `WRONG_TYPE` for every
/// VMO call.
#[derive(Debug, PartialEq, Eq)]
pub struct Event(Handle);
impl_handle_based!(Event);

impl Event {
    /// `zx_event_create`: a new event with [`Rights::DEFAULT_EVENT`].
    pub fn create(device: &Device) -> Result<Event, Status> {
        let mut args = sys::vmo_event_create_args::default();
        sys::event_create(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Event(Handle { device: device.clone(), raw: args.handle }))
    }
}

/// Makes an owned handle of `device` from a raw value the kernel just
/// handed out.
pub(crate) fn handle_from_kernel(device: &Device, raw: u32) -> Handle {
    Handle { device: device.clone(), raw }
}
