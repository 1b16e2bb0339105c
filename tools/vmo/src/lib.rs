#![doc = include_str!("../README.md")]
//!
//! ## Map of the crate
//!
//! * [`Device`]: an open `/dev/vmo`, one handle table.
//! * [`Handle`], [`Vmo`], [`Event`]: owned handles; they close on drop.
//! * [`Status`]: Zircon's status codes, recovered exactly from the errno.
//! * [`Rights`], [`VmoOptions`], [`VmoChildOptions`], [`VmoOp`],
//!   [`VmoInfo`]: the values of the ABI with Zircon's numbers.
//! * [`sys`]: the raw ABI (bindgen mirror of `include/uapi/linux/vmo.h`) and
//!   one wrapper per ioctl; the only module with `unsafe` code.
//! * [`Mapping`]: a VMO mapped into the process (`MAP_SHARED`), with
//!   bounds-checked [`Mapping::read_at`] and [`Mapping::write_at`];
//!   [`Vmo::export_fd`] and [`Vmo::import_fd`] turn a handle into a file
//!   descriptor (to map, or to pass to another process) and back, and
//!   [`Vmo::map`] does export and map in one call.
//! * [`Pager`], [`PagerPacket`], [`PacketKind`], [`PagerOp`]: user pagers
//!   (`zx_pager_*`): VMOs whose pages a process supplies on demand
//!   ([`Pager::create_vmo`], [`Pager::wait`], [`Pager::supply_pages`],
//!   [`Pager::fail`]); [`Device::poll_pager`] waits for any pager's packet.
#![deny(missing_docs)]
#![deny(unsafe_code)]

/// The top-level README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

mod handle;
mod mapping;
mod pager;
mod status;
pub mod sys;
mod types;
mod vmo;

pub use handle::{AsHandleRef, Device, Event, Handle, HandleBased};
pub use mapping::Mapping;
pub use pager::{DirtyRange, PacketKind, Pager, PagerOp, PagerPacket};
pub use status::Status;
pub use types::{ObjectType, Rights, VmoChildOptions, VmoInfoFlags, VmoOp, VmoOptions};
pub use vmo::{LockState, Vmo, VmoInfo};

/// The largest VMO size (`VMO_MAX_SIZE`): larger sizes are `OUT_OF_RANGE`.
pub const MAX_SIZE: u64 = sys::VMO_MAX_SIZE;

/// How many handles one [`Device`] can hold (`VMO_MAX_HANDLES`); one more
/// is `NO_RESOURCES`.
pub const MAX_HANDLES: u32 = sys::VMO_MAX_HANDLES;

/// The page size, the unit of commit and of VMO sizes
/// (`zx_system_get_page_size`).
pub fn system_get_page_size() -> u32 {
    rustix::param::page_size() as u32
}
