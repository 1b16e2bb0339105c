// SPDX-License-Identifier: GPL-2.0

//! Registration of `/dev/vmo` with a device-node mode.
//!
//! [`kernel::miscdevice::MiscDeviceRegistration`] always registers with mode 0 (root only, 0600).
//! `/dev/vmo` is meant for every user, as `memfd_create` is, so it is registered here with
//! mode 0666. Everything else (the file operations, the `owner` that keeps the module loaded
//! while a file is open) comes from [`MiscDeviceOptions::into_raw`], unchanged.

use core::marker::PhantomData;
use kernel::{
    bindings,
    error::to_result,
    miscdevice::{MiscDevice, MiscDeviceOptions},
    prelude::*,
    types::Opaque,
};

/// A registered misc device whose node has the given mode.
///
/// # Invariants
///
/// `inner` holds a `struct miscdevice` made by [`MiscDeviceOptions::into_raw`] and registered
/// with `misc_register()`; it stays registered until this value is dropped.
///
/// The layout is the same as [`kernel::miscdevice::MiscDeviceRegistration`] (both are
/// `repr(transparent)` over `Opaque<bindings::miscdevice>`): the file operations that
/// `into_raw` installs find the registration through the `struct miscdevice` pointer, which is
/// the address of `inner`.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may be called from any thread.
unsafe impl<T> Send for Registration<T> {}
// SAFETY: no `&self` method touches the device.
unsafe impl<T> Sync for Registration<T> {}

impl<T: MiscDevice> Registration<T> {
    /// Registers the misc device `opts.name` with the node mode `mode`.
    pub(crate) fn register(opts: MiscDeviceOptions, mode: u16) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut raw = opts.into_raw::<T>();
                raw.mode = mode;
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
