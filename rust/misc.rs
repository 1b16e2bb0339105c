// SPDX-License-Identifier: GPL-2.0

//! Registration of `/dev/vmo` with a device-node mode.
//!
//! [`kernel::miscdevice::MiscDeviceRegistration`] always registers with mode 0 (root only, 0600).
//! `/dev/vmo` is meant for every user, as `memfd_create` is, so it is registered here with
//! mode 0666. Its file operations are those of [`MiscDeviceOptions::into_raw`] (and the
//! `owner` that keeps the module loaded while a file is open), plus `poll`, which the
//! [`MiscDevice`] trait does not have: a pager sitting in an event loop polls its `/dev/vmo`
//! file for packets.

use crate::{device::VmoFile, ffi::OpsTable};
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::to_result,
    fs::File,
    miscdevice::MiscDeviceOptions,
    prelude::*,
    sync::poll::PollTable,
    types::{ForeignOwnable, Opaque},
};

/// `/dev/vmo`'s file operations: the misc-device ones for [`VmoFile`], plus [`poll`].
static FOPS: OpsTable<bindings::file_operations> = OpsTable({
    let raw = MiscDeviceOptions { name: c"vmo" }.into_raw::<VmoFile>();
    // SAFETY: `into_raw` points `fops` at the misc-device vtable of `VmoFile`, a constant.
    let mut fops = unsafe { *raw.fops };
    fops.poll = Some(poll);
    fops
});

/// `f_op->poll` of `/dev/vmo`: readable while a pager of the file's table has a packet.
///
/// # Safety
///
/// Called by the VFS with an open `/dev/vmo` file (whose private data the misc-device open
/// set to a `Pin<KBox<VmoFile>>`) and a valid or null poll table.
unsafe extern "C" fn poll(
    file: *mut bindings::file,
    wait: *mut bindings::poll_table,
) -> bindings::__poll_t {
    // SAFETY: the file is open, so its private data is the `VmoFile` that `open` stored with
    // `into_foreign`, not yet released.
    let me = unsafe { <Pin<KBox<VmoFile>> as ForeignOwnable>::borrow((*file).private_data) };
    // SAFETY: the VFS passes a valid or null poll table for the duration of the call.
    let table = unsafe { PollTable::from_raw(wait) };
    // SAFETY: `file` is a valid file for the duration of the call.
    table.register_wait(unsafe { File::from_raw_file(file) }, me.readiness().cond());
    if me.poll_ready() {
        bindings::POLLIN | bindings::POLLRDNORM
    } else {
        0
    }
}

/// A registered misc device whose node has the given mode.
///
/// # Invariants
///
/// `inner` holds a `struct miscdevice` made by [`MiscDeviceOptions::into_raw`] and registered
/// with `misc_register()`; it stays registered until this value is dropped.
///
/// The layout is the same as [`kernel::miscdevice::MiscDeviceRegistration`] (both are
/// `repr(transparent)` over `Opaque<bindings::miscdevice>`; the sizes and alignments are
/// asserted below): the file operations that `into_raw` installs find the registration through
/// the `struct miscdevice` pointer, which is the address of `inner`. The one place upstream
/// relies on it is `MiscdeviceVTable::<T>::open` (rust/kernel/miscdevice.rs), which casts
/// `file->private_data` (the `struct miscdevice *` that `misc_open()` stores) to
/// `&MiscDeviceRegistration<T>` and passes it to [`MiscDevice::open`]; `VmoFile::open` does
/// not look at it.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// The layout `MiscdeviceVTable::<T>::open` relies on (see the type's documentation).
const _: () = {
    use core::mem::{align_of, size_of};
    use kernel::miscdevice::MiscDeviceRegistration;
    assert!(size_of::<Registration<VmoFile>>() == size_of::<MiscDeviceRegistration<VmoFile>>());
    assert!(align_of::<Registration<VmoFile>>() == align_of::<MiscDeviceRegistration<VmoFile>>());
    assert!(size_of::<Registration<VmoFile>>() == size_of::<bindings::miscdevice>());
};

// SAFETY: `misc_deregister` may be called from any thread.
unsafe impl<T> Send for Registration<T> {}
// SAFETY: no `&self` method touches the device.
unsafe impl<T> Sync for Registration<T> {}

impl Registration<VmoFile> {
    /// Registers the misc device `opts.name` with the node mode `mode`.
    pub(crate) fn register(opts: MiscDeviceOptions, mode: u16) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut raw = opts.into_raw::<VmoFile>();
                raw.mode = mode;
                raw.fops = &FOPS.0;
                // SAFETY: the initializer may write to `slot`.
                unsafe { slot.write(raw) };
                // SAFETY: `slot` holds a valid `struct miscdevice`, pinned for as long as this
                // value lives; `drop` deregisters it before the memory goes away.
                // INVARIANT: on success the device is registered.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
            _t: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant the device is registered.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}
