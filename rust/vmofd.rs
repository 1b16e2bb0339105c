// SPDX-License-Identifier: GPL-2.0

//! VMO file descriptors: export, import, mmap.
//!
//! A VMO fd is a file of the module's small pseudo filesystem (`helpers.c`), as a dma-buf is.
//! All fds of one VMO share one inode ([`ExportInode`]), whose size follows the VMO, so that
//! `fstat` reports the VMO's size and one `st_ino` per VMO. The file's private data is a
//! [`VmoFd`]: a reference to the VMO and the rights of the handle it was exported from.
//!
//! `mmap` maps the shmem file that holds the VMO's pages, at the VMO's window in it, with
//! shmem's own fault handling: every mapping, `read`/`write` and other processes share the
//! page-cache folios, and punching a hole (DECOMMIT, ZERO) or truncating (a shrinking
//! `set_size`) unmaps the pages from every mapping. Slices and pager-backed VMOs get the
//! module's VMA operations instead, which keep faults inside the slice's window and make a
//! fault on an absent page of a pager-backed VMO wait for the pager.
//!
//! This is, with `shmem.rs`, the only Rust file that handles VFS and mm structures.

use crate::{
    rights::Rights,
    status::{Status, ZxResult},
    vmo::{Vmo, PAGE_SIZE},
};
use core::{ffi::c_void, ptr::NonNull};
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::c_int,
    mm::virt::{flags, VmaRef},
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{Arc, ArcBorrow},
};

// `struct file`, `struct inode`, `struct vm_area_struct` and `struct vm_fault` are only
// passed by pointer across this boundary.
#[allow(improper_ctypes)]
extern "C" {
    fn vmo_export_inode_new(size: bindings::loff_t) -> *mut bindings::inode;
    fn vmo_export_inode_put(inode: *mut bindings::inode);
    fn vmo_export_inode_set_size(inode: *mut bindings::inode, size: bindings::loff_t);
    fn vmo_export_file(
        inode: *mut bindings::inode,
        writable: bool,
        private: *mut c_void,
    ) -> *mut bindings::file;
    fn vmo_fd_reserve(cloexec: bool) -> c_int;
    fn vmo_fd_install(fd: c_int, file: *mut bindings::file);
    fn vmo_fd_unreserve(fd: c_int);
    fn vmo_fd_get(fd: c_int, private: *mut *mut c_void) -> *mut bindings::file;
    fn vmo_mmap_shmem(
        vma: *mut bindings::vm_area_struct,
        shmem: *mut bindings::file,
        pgoff: kernel::ffi::c_ulong,
    ) -> c_int;
    fn vmo_vma_set_ops(vma: *mut bindings::vm_area_struct, ctx: *mut c_void);
    fn vmo_shmem_fault_get(
        vmf: *mut bindings::vm_fault,
        alloc: bool,
        hole: *mut bool,
    ) -> bindings::vm_fault_t;
    fn vmo_fault_release_lock(vmf: *mut bindings::vm_fault) -> bool;
}

const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();
const VM_FAULT_SIGBUS: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_SIGBUS;
const VM_FAULT_RETRY: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_RETRY;

/// The inode shared by every fd of one VMO.
///
/// # Invariants
///
/// `inode` is an inode of the module's pseudo filesystem to which this value holds the
/// reference `vmo_export_inode_new` returned.
pub(crate) struct ExportInode {
    inode: NonNull<bindings::inode>,
}

// SAFETY: an inode reference may be used and dropped on any thread.
unsafe impl Send for ExportInode {}
// SAFETY: `set_size` takes the inode lock; nothing else mutates through `&self`.
unsafe impl Sync for ExportInode {}

impl ExportInode {
    /// A new inode of `size` bytes.
    pub(crate) fn new(size: u64) -> Result<Self> {
        let size = bindings::loff_t::try_from(size).map_err(|_| EFBIG)?;
        // SAFETY: no preconditions; returns an inode or an ERR_PTR.
        let inode = from_err_ptr(unsafe { vmo_export_inode_new(size) })?;
        // INVARIANT: a successful call returns a referenced inode.
        NonNull::new(inode)
            .map(|inode| Self { inode })
            .ok_or(ENOMEM)
    }

    /// The inode.
    pub(crate) fn raw(&self) -> *mut bindings::inode {
        self.inode.as_ptr()
    }

    /// Makes `fstat` report `size`.
    pub(crate) fn set_size(&self, size: u64) {
        if let Ok(size) = bindings::loff_t::try_from(size) {
            // SAFETY: the inode is referenced (type invariant).
            unsafe { vmo_export_inode_set_size(self.inode.as_ptr(), size) };
        }
    }
}

impl Drop for ExportInode {
    fn drop(&mut self) {
        // SAFETY: this value owns one reference (type invariant).
        unsafe { vmo_export_inode_put(self.inode.as_ptr()) };
    }
}

/// The private data of a VMO fd.
struct VmoFd {
    vmo: Arc<Vmo>,
    /// The rights of the handle the fd was exported from; `WRITE` only if the fd is O_RDWR.
    rights: Rights,
}

/// Makes an fd for `vmo` with `rights` (the caller checked MAP and READ) and passes its
/// number to `publish`; the fd is installed only if `publish` succeeds.
pub(crate) fn export(
    vmo: &Arc<Vmo>,
    rights: Rights,
    cloexec: bool,
    publish: impl FnOnce(i32) -> Result,
) -> Result {
    let inode = vmo.export_inode()?;
    let private = KBox::new(
        VmoFd {
            vmo: vmo.clone(),
            rights,
        },
        GFP_KERNEL_ACCOUNT,
    )?;
    // SAFETY: no preconditions.
    let fd = unsafe { vmo_fd_reserve(cloexec) };
    to_result(fd)?;
    let private = KBox::into_raw(private);
    // SAFETY: `inode` is a live export inode (held by `vmo`); `private` is a `VmoFd` that the
    // file owns from now on (`vmo_fd_release` frees it).
    let file = match from_err_ptr(unsafe {
        vmo_export_file(inode, rights.contains(Rights::WRITE), private.cast())
    }) {
        Ok(file) => file,
        Err(e) => {
            // SAFETY: the file was not made, so `private` is still ours; `fd` is reserved.
            drop(unsafe { KBox::from_raw(private) });
            // SAFETY: `fd` was reserved above and not installed.
            unsafe { vmo_fd_unreserve(fd) };
            return Err(e);
        }
    };
    if let Err(e) = publish(fd) {
        // SAFETY: `fd` was reserved and not installed; `file` holds the one reference we
        // made, and its release frees `private`.
        unsafe {
            vmo_fd_unreserve(fd);
            bindings::fput(file);
        }
        return Err(e);
    }
    // SAFETY: `fd` is reserved and `file` is ours to give to the fd table.
    unsafe { vmo_fd_install(fd, file) };
    Ok(())
}

/// The VMO and rights of the VMO fd `fd` of the calling task: `BAD_HANDLE` if `fd` is not an
/// open fd, `WRONG_TYPE` if it is not a VMO fd.
pub(crate) fn import(fd: i32) -> ZxResult<(Arc<Vmo>, Rights)> {
    let mut private: *mut c_void = core::ptr::null_mut();
    // SAFETY: `private` is a valid place for the out pointer.
    let file = match from_err_ptr(unsafe { vmo_fd_get(fd, &mut private) }) {
        Ok(f) => f,
        Err(e) if e == EBADF => return Err(Status::BadHandle),
        Err(e) if e == EPROTOTYPE => return Err(Status::WrongType),
        Err(e) => return Err(Status::Kernel(e)),
    };
    // SAFETY: the file is a VMO fd, so its private data is a `VmoFd`, alive while we hold
    // the file reference.
    let vfd = unsafe { &*private.cast::<VmoFd>() };
    let r = (vfd.vmo.clone(), vfd.rights);
    // SAFETY: `vmo_fd_get` returned a reference that we drop here.
    unsafe { bindings::fput(file) };
    Ok(r)
}

/// The `private_data` of a VMO fd.
///
/// # Safety
///
/// `file` must be a live VMO fd file (made by [`export`]), not yet released.
unsafe fn vmo_fd<'a>(file: *mut bindings::file) -> &'a VmoFd {
    // SAFETY: by the function's contract `private_data` is the `VmoFd` set by `export`.
    unsafe { &*(*file).private_data.cast::<VmoFd>() }
}

/// `f_op->release` of a VMO fd: frees its [`VmoFd`].
///
/// # Safety
///
/// Called by the VFS once, on the last reference of a VMO fd.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_fd_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `private_data` is the `VmoFd` that `export` leaked into the file; this is its
    // only release.
    drop(unsafe { KBox::from_raw((*file).private_data.cast::<VmoFd>()) });
    0
}

/// `f_op->show_fdinfo` of a VMO fd.
///
/// # Safety
///
/// Called by the VFS with a valid seq_file and a live VMO fd.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_fd_show_fdinfo(
    m: *mut bindings::seq_file,
    file: *mut bindings::file,
) {
    // SAFETY: `file` is a live VMO fd.
    let vfd = unsafe { vmo_fd(file) };
    // SAFETY: the VFS passes a valid seq_file for the duration of the call.
    let m = unsafe { SeqFile::from_raw(m) };
    let info = vfd.vmo.info();
    seq_print!(
        m,
        "vmo-koid:\t{}\nvmo-rights:\t{:#x}\nvmo-size:\t{}\nvmo-committed:\t{}\nvmo-flags:\t{:#x}\n",
        vfd.vmo.koid(),
        vfd.rights.0,
        info.size,
        info.committed_bytes,
        info.flags
    );
}

/// `f_op->mmap` of a VMO fd.
///
/// # Safety
///
/// Called by the VFS with a live VMO fd and the new VMA, under the mmap lock.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_fd_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: `file` is a live VMO fd.
    let vfd = unsafe { vmo_fd(file) };
    // SAFETY: `vma` is the VMA being set up, valid for the call.
    match unsafe { mmap(&vfd.vmo, vma) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Maps `vmo` into `vma`: see the module documentation.
///
/// # Safety
///
/// `vma` must be a VMA that `f_op->mmap` was called for.
unsafe fn mmap(vmo: &Arc<Vmo>, vma: *mut bindings::vm_area_struct) -> Result {
    // SAFETY: `vma` is valid and its mmap lock is held (the caller's contract).
    let flags = unsafe { VmaRef::from_raw(vma) }.flags();
    if flags & flags::MAYSHARE == 0 {
        // MAP_SHARED (on a read-only fd mm keeps VM_MAYSHARE only). A private
        // (copy-on-write) view of a VMO has no Zircon counterpart.
        return Err(EINVAL);
    }
    let (shmem, base, own_ops) = vmo.map_target();
    // SAFETY: `vma` is valid.
    let pgoff = unsafe { (*vma).vm_pgoff };
    let pgoff = pgoff
        .checked_add((base >> PAGE_SHIFT) as usize)
        .ok_or(EOVERFLOW)?;
    // SAFETY: `vma` is valid and `shmem` is the VMO's live shmem file.
    to_result(unsafe { vmo_mmap_shmem(vma, shmem.raw(), pgoff) })?;
    if own_ops {
        // The VMA holds a reference to the VMO, dropped by `vmo_vma_close`.
        let ctx = Arc::into_raw(vmo.clone());
        // SAFETY: `vma` is valid; `ctx` is a leaked `Arc<Vmo>` that the VMA now owns.
        unsafe { vmo_vma_set_ops(vma, ctx.cast_mut().cast()) };
    }
    Ok(())
}

/// The VMO of a VMA that has the module's VMA operations.
///
/// # Safety
///
/// `vma` must have the module's VMA operations (so its private data holds an `Arc<Vmo>`).
unsafe fn vma_vmo<'a>(vma: *mut bindings::vm_area_struct) -> ArcBorrow<'a, Vmo> {
    // SAFETY: `vm_private_data` is a leaked `Arc<Vmo>` (function contract), alive while the
    // VMA is.
    unsafe { ArcBorrow::from_raw((*vma).vm_private_data.cast::<Vmo>().cast_const()) }
}

/// `vm_ops->open`: a copy of the VMA (fork, split) takes its own VMO reference.
///
/// # Safety
///
/// Called by mm for a VMA copied from one that has the module's VMA operations.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_vma_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the private data is a leaked `Arc<Vmo>` shared with the original VMA, which
    // is still alive.
    let vmo: Arc<Vmo> = unsafe { vma_vmo(vma) }.into();
    // The new VMA owns this reference.
    let _ = Arc::into_raw(vmo);
}

/// `vm_ops->close`: drops the VMA's VMO reference.
///
/// # Safety
///
/// Called by mm once per VMA with the module's VMA operations, when it goes away.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_vma_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: the private data is the VMA's own `Arc<Vmo>` reference.
    drop(unsafe { Arc::from_raw((*vma).vm_private_data.cast::<Vmo>().cast_const()) });
}

/// `vm_ops->fault` for slices and pager-backed VMOs.
///
/// A slice's fault outside its window is `SIGBUS`; an absent page of a plain VMO is allocated
/// as shmem does. An absent page of a pager-backed VMO is asked of the pager: if the fault may
/// be retried, the fault lock is dropped while it waits (so the pager, even a thread of this
/// process, can change mappings meanwhile) and the fault is retried; a failure is then found
/// on the retry (see [`Vmo::take_fault_failure`]) and is `SIGBUS`.
///
/// # Safety
///
/// Called by mm with a valid `vmf` whose VMA has the module's VMA operations.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_vma_fault(
    vmf: *mut bindings::vm_fault,
) -> bindings::vm_fault_t {
    // SAFETY: `vmf` and its VMA are valid for the call (function contract).
    let (vmo, pgoff) = unsafe {
        (
            vma_vmo((*vmf).__bindgen_anon_1.vma),
            (*vmf).__bindgen_anon_1.pgoff as u64,
        )
    };
    if !vmo.window_has_page(pgoff) {
        return VM_FAULT_SIGBUS;
    }
    let mut hole = false;
    if !vmo.is_pager_backed() {
        // SAFETY: `vmf` is valid; the VMA maps a shmem file.
        return unsafe { vmo_shmem_fault_get(vmf, true, &mut hole) };
    }
    loop {
        // SAFETY: `vmf` is valid; the VMA maps a shmem file.
        let ret = unsafe { vmo_shmem_fault_get(vmf, false, &mut hole) };
        if !hole {
            return ret;
        }
        if vmo.take_fault_failure(pgoff) {
            return VM_FAULT_SIGBUS;
        }
        let vmo_ref: Arc<Vmo> = vmo.into();
        // SAFETY: `vmf` is valid and the fault lock is held.
        if unsafe { vmo_fault_release_lock(vmf) } {
            // The VMA may go away now; `vmo_ref` keeps the VMO.
            let _ = vmo_ref.fault_wait(pgoff, true);
            return VM_FAULT_RETRY;
        }
        if vmo_ref.fault_wait(pgoff, false).is_err() {
            return VM_FAULT_SIGBUS;
        }
    }
}
