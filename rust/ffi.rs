// SPDX-License-Identifier: GPL-2.0

//! The C shims of `helpers.c`: the only file of the module that declares foreign functions.
//!
//! The declarations are generated at build time by the kernel's bindgen from `helpers.h` (Kbuild:
//! `rust/helpers_generated.rs`, every `vmo_*` function and type), so the C prototypes are
//! written once. Every other type they name (`struct file`, `loff_t`, `vm_fault_t`, ...) is the
//! kernel crate's own, from `kernel::bindings`. Kernel functions that the kernel crate binds are
//! called through `kernel::bindings`; the rest of the module calls these shims through the safe
//! wrappers of `shmem.rs`, `vmofd.rs`, `pager.rs`, `discard.rs` and `arch/`.
//!
//! `helpers.h` also declares the functions that C calls and Rust defines (`#[no_mangle]` in
//! `vmofd.rs`, `discard.rs` and `pager/evict.rs`: the eviction of a VMO fd's inode and the shrinkers'
//! callbacks); a check beside each definition makes the build fail if its type differs from the
//! prototype, so this file imports nothing from the rest of the module. The operation tables that
//! C calls through (a VMO fd's file, inode and VMA operations, `/dev/vmo`'s file operations) are
//! built in Rust, as [`OpsTable`]s.

use kernel::bindings;

/// The generated declarations. Generated code: not every one of these lints fires on it (nor
/// on every architecture), so they are allowed rather than expected.
#[allow(
    dead_code,
    improper_ctypes,
    missing_docs,
    non_camel_case_types,
    unreachable_pub,
    unused_imports,
    clippy::all
)]
mod generated {
    include!("helpers_generated.rs");
}

pub(crate) use generated::*;

/// A kernel operations table (`file_operations`, `inode_operations`, `vm_operations_struct`) that
/// can be a `static`:
/// C keeps a pointer to it for as long as a file or a mapping uses it.
#[repr(transparent)]
pub(crate) struct OpsTable<T>(pub(crate) T);

// SAFETY: a table holds only function pointers, which may be called from any thread, and the
// `owner` pointer of this module; nothing can write it through a shared reference, and C only
// reads it.
unsafe impl Sync for OpsTable<bindings::file_operations> {}
// SAFETY: as above.
unsafe impl Sync for OpsTable<bindings::inode_operations> {}
// SAFETY: as above.
unsafe impl Sync for OpsTable<bindings::vm_operations_struct> {}
