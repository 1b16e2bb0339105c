// SPDX-License-Identifier: GPL-2.0

//! Zircon virtual memory objects on Linux.
//!
//! The module registers the misc device `/dev/vmo`. Each open file is a handle table; its
//! ioctls (include/uapi/linux/vmo.h) create VMOs whose pages are shmem folios, manage handles
//! with Zircon's rights, and perform `zx_vmo_op_range` with Zircon's semantics.
//!
//! The files, one job each (their imports form no circle, a submodule and its parent aside):
//! - `device.rs`: per-open state and the ioctl dispatch, one handler per command;
//! - `handle.rs`: objects (VMO, event) and the handle table; `rights.rs`: rights;
//! - `vmo.rs`: the VMO object and `op_range`; `status.rs`: Zircon statuses and errnos;
//! - `object.rs`: object ids and the page size (imports nothing of the module);
//! - `shmem.rs`: the only Rust file that calls mm/shmem functions (through `helpers.c`);
//! - `ffi.rs`: the only file that declares foreign functions: the shims of `helpers.c`,
//!   generated from `helpers.h`;
//! - `cache.rs` and `arch/`: the data-cache primitives per architecture;
//! - `vmofd.rs`: VMO file descriptors (export, import, mmap, faults);
//! - `pager.rs`: user pagers and the requests of pager-backed VMOs; `dirty.rs`: the writeback
//!   state of their pages;
//! - `discard.rs`: discardable VMOs: lock states, the LRU and the shrinker;
//! - `pager/evict.rs`: eviction of clean pager-backed pages under pressure (a second shrinker,
//!   a submodule of the pager's: it calls back into its page sources);
//! - `misc.rs`: the device registration with mode 0666 and `poll`.

use kernel::{miscdevice::MiscDeviceOptions, prelude::*};

mod cache;
mod cow;
mod device;
mod dirty;
mod discard;
mod ffi;
mod handle;
mod misc;
mod object;
mod pager;
mod reclaim;
mod rights;
mod shmem;
mod status;
mod vmo;
mod vmofd;

/// The UAPI header, translated by bindgen at build time (see Kbuild). Generated code: not every
/// one of these lints fires on it, so they are allowed rather than expected.
#[allow(
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod uapi {
    include!("uapi_generated.rs");
}

module! {
    type: VmoModule,
    name: "vmo",
    authors: ["The vmo-rs developers"],
    description: "Zircon virtual memory objects on shmem: /dev/vmo",
    license: "GPL",
}

/// The module's state. Fields are set up in order and dropped in order: the tmpfs instance that
/// holds every VMO's pages exists before `/dev/vmo` does. It is unmounted first at exit, when
/// no file of the module is open (each holds a module reference), hence no VMO is left.
#[pin_data]
struct VmoModule {
    /// The shrinker of discardable VMOs and its workqueue: dropped first (before the tmpfs
    /// instance), when no VMO is left, after draining the queued discards.
    _evict: pager::evict::Registration,
    _discard: discard::Registration,
    _shmem: shmem::Mount,
    #[pin]
    _dev: misc::Registration<device::VmoFile>,
}

impl kernel::InPlaceModule for VmoModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _discard: discard::Registration::new()?,
            _evict: pager::evict::Registration::new()?,
            _shmem: shmem::Mount::new()?,
            _dev <- misc::Registration::register(MiscDeviceOptions { name: c"vmo" }, 0o666),
        })
    }
}
