// SPDX-License-Identifier: GPL-2.0

//! VMO file descriptors and mappings: export, import, mmap, and the fault handler.
//!
//! A VMO fd is a file of the module's small pseudo filesystem (`helpers.c`), as a dma-buf is.
//! Its private data is a [`VmoFd`]: a reference to the VMO and the rights of the handle it was
//! exported from. Its inode (one per fd) holds another reference to the VMO, so that `fstat`
//! reports the VMO's size and committed memory for as long as the inode lives, and its
//! permission bits state the fd's WRITE right. Its `f_mapping` is the shmem mapping of the VMO's
//! root, so the page cache keeps every mapping, the ioctls and other processes coherent, and
//! punching a hole (DECOMMIT, ZERO) or truncating (a shrinking `set_size`) unmaps the pages from
//! every mapping.
//!
//! **A mapping's `vm_file` is the VMO fd itself**, never the shmem file: every mm path that works
//! from `vm_file` and `vm_pgoff` rather than through the fault handler (`remap_file_pages`,
//! `mremap`, `madvise`, `mincore`, khugepaged) meets the fd's own operations, which grant exactly
//! what the handle granted:
//! - `mmap` refuses `MAP_PRIVATE`, refuses a slice's mapping that reaches past its window
//!   (`EINVAL`, as dma-buf refuses a mapping past its buffer), refuses `PROT_EXEC` without
//!   `EXECUTE` (`EACCES`) and clears `VM_MAYEXEC`, keeps `VM_MAYEXEC` with `EXECUTE` (so a later
//!   `mprotect(PROT_EXEC)` works), sets `VM_DONTEXPAND` (`mremap` cannot grow a
//!   mapping, and `VM_DONTEXPAND` keeps khugepaged and `MADV_COLLAPSE` away: they would fill a
//!   pager's holes with zeros), and translates the offset into the root's pages;
//! - the file has no `fallocate` (`MADV_REMOVE` is `EOPNOTSUPP`), `read`, `write` or `splice`,
//!   and its inode refuses `setattr` (`ftruncate` is `EPERM`).
//!
//! **Executable mappings.** mm checks `path_noexec` before it calls the fd's `mmap`, and refuses
//! `PROT_EXEC` there (`EPERM`) on a noexec filesystem. An fd of a handle without `EXECUTE` is made
//! on the noexec instance of the pseudo filesystem, an fd of a handle with `EXECUTE` (which only
//! `VMO_IOC_REPLACE_AS_EXECUTABLE` grants) on an instance that is not noexec (`helpers.c` explains
//! both); [`mmap`] checks the right again, so the exec instance is never what grants execution.
//!
//! A mapping of a VMO that owns its pages may reach past the VMO's end, as a memfd's may: the part
//! past the end is `SIGBUS` (it follows `set_size`). Faults run [`vmo_vma_fault`]: outside the
//! window `SIGBUS`; an absent page of a plain VMO is allocated as shmem does; an absent page of a
//! pager-backed VMO is asked of the pager (see [`Vmo::fault`]).

use crate::{
    ffi::{self, OpsTable},
    object::PAGE_SIZE,
    rights::Rights,
    status::{Status, ZxResult},
    vmo::{FaultOutcome, Mkwrite, Vmo},
};
use core::{ffi::c_void, ptr::NonNull};
use kernel::{
    bindings,
    error::from_err_ptr,
    ffi::{c_int, c_uint},
    fs::{file::FileDescriptorReservation, File, LocalFile},
    mm::virt::{flags, VmaNew},
    module::this_module,
    page::PAGE_SHIFT,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{aref::ARef, Arc},
    types::ForeignOwnable,
};

const VM_FAULT_SIGBUS: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_SIGBUS;
const VM_FAULT_RETRY: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_RETRY;
const VM_FAULT_LOCKED: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_LOCKED;
const VM_FAULT_NOPAGE: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_NOPAGE;
const FAULT_FLAG_USER: u32 = bindings::fault_flag_FAULT_FLAG_USER;
const FAULT_FLAG_WRITE: u32 = bindings::fault_flag_FAULT_FLAG_WRITE;
const FAULT_FLAG_ALLOW_RETRY: u32 = bindings::fault_flag_FAULT_FLAG_ALLOW_RETRY;
const FAULT_FLAG_RETRY_NOWAIT: u32 = bindings::fault_flag_FAULT_FLAG_RETRY_NOWAIT;

/// The private data of a VMO fd.
struct VmoFd {
    vmo: Arc<Vmo>,
    /// The rights of the handle the fd was exported from; `WRITE` only if the fd is O_RDWR.
    rights: Rights,
}

/// The file operations of every VMO fd: `mmap`, `release` and `show_fdinfo`; no `read`, `write`,
/// `fallocate` or `splice` (see the module documentation). `owner` keeps the module loaded while
/// a VMO fd is open. An fd is a VMO fd exactly when its `f_op` is this table ([`import`]).
static FOPS: OpsTable<bindings::file_operations> = OpsTable(bindings::file_operations {
    owner: this_module::<crate::LocalModule>().as_ptr(),
    llseek: Some(bindings::noop_llseek),
    mmap: Some(vmo_fd_mmap),
    release: Some(vmo_fd_release),
    show_fdinfo: Some(vmo_fd_show_fdinfo),
    ..pin_init::zeroed()
});

/// The inode operations of every VMO fd: [`vmo_fd_getattr`] and [`vmo_fd_setattr`].
static IOPS: OpsTable<bindings::inode_operations> = OpsTable(bindings::inode_operations {
    getattr: Some(vmo_fd_getattr),
    setattr: Some(vmo_fd_setattr),
    ..pin_init::zeroed()
});

/// The operations of every mapping of a VMO fd: the module's fault handler ([`vmo_vma_fault`],
/// which keeps a slice in its window and asks a pager for absent pages), shmem's page-cache
/// fault-around for present pages (bounded by the VMA, which lies inside the window), and
/// [`vmo_vma_page_mkwrite`] for the snapshots that still read a page about to be written.
static VM_OPS: OpsTable<bindings::vm_operations_struct> =
    OpsTable(bindings::vm_operations_struct {
        fault: Some(vmo_vma_fault),
        map_pages: Some(bindings::filemap_map_pages),
        page_mkwrite: Some(vmo_vma_page_mkwrite),
        ..pin_init::zeroed()
    });

/// Makes an fd for `vmo` with `rights` (the caller checked them) and passes its number to
/// `publish`; the fd is installed only if `publish` succeeds. With `EXECUTE` in `rights` the fd is
/// made on the filesystem instance that allows executable mappings, else on the noexec one.
pub(crate) fn export(
    vmo: &Arc<Vmo>,
    rights: Rights,
    cloexec: bool,
    publish: impl FnOnce(i32) -> Result,
) -> Result {
    let file_priv = KBox::new(
        VmoFd {
            vmo: vmo.clone(),
            rights,
        },
        GFP_KERNEL_ACCOUNT,
    )?;
    let reservation = FileDescriptorReservation::get_unused_fd_flags(if cloexec {
        bindings::O_CLOEXEC
    } else {
        0
    })?;
    let inode_priv = vmo.clone().into_foreign();
    let file_priv = file_priv.into_foreign();
    // SAFETY: the shmem file is live (held by `vmo`); `FOPS` and `IOPS` are static; on success
    // the inode and the file own `inode_priv` and `file_priv` (released by
    // `vmo_fd_inode_release` and `vmo_fd_release`).
    let raw = unsafe {
        ffi::vmo_fd_file_new(
            vmo.shmem_file().as_ptr(),
            &FOPS.0,
            &IOPS.0,
            vmo.koid(),
            rights.contains(Rights::WRITE),
            rights.contains(Rights::EXECUTE),
            inode_priv,
            file_priv,
        )
    };
    let file = match from_err_ptr(raw).map(NonNull::new) {
        Ok(Some(file)) => file,
        r => {
            // SAFETY: the file was not made, so both are still ours (from `into_foreign` above).
            drop(unsafe { <Arc<Vmo>>::from_foreign(inode_priv) });
            // SAFETY: as above.
            drop(unsafe { <KBox<VmoFd>>::from_foreign(file_priv) });
            return Err(r.err().unwrap_or(ENOMEM));
        }
    };
    // SAFETY: `vmo_fd_file_new` returned a new file with one reference, which we own.
    let file: ARef<File> = unsafe { ARef::from_raw(file.cast()) };
    // An fd number is below `INT_MAX`.
    publish(reservation.reserved_fd() as i32)?;
    reservation.fd_install(file);
    Ok(())
}

/// The VMO and rights of the VMO fd `fd` of the calling task: `BAD_HANDLE` if `fd` is not an
/// open fd, `WRONG_TYPE` if it is not a VMO fd.
pub(crate) fn import(fd: i32) -> ZxResult<(Arc<Vmo>, Rights)> {
    let fd = u32::try_from(fd).map_err(|_| Status::BadHandle)?;
    let file = LocalFile::fget(fd).map_err(|_| Status::BadHandle)?;
    // SAFETY: `file` is a live file (we hold a reference); its `f_op` is set when it is made and
    // never changes.
    let (fops, private) = unsafe { ((*file.as_ptr()).f_op, (*file.as_ptr()).private_data) };
    if !core::ptr::eq(fops, &FOPS.0) {
        return Err(Status::WrongType);
    }
    // SAFETY: the file is a VMO fd, so its private data is a `VmoFd` (from `export`), alive while
    // we hold the file reference.
    let vfd = unsafe { <KBox<VmoFd>>::borrow(private) };
    Ok((vfd.vmo.clone(), vfd.rights))
}

/// `f_op->release` of a VMO fd: frees its [`VmoFd`] and drops the file's pin of its filesystem
/// instance.
///
/// # Safety
///
/// Called by the VFS once, on the last reference of a VMO fd, with its inode and file.
unsafe extern "C" fn vmo_fd_release(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: the private data is the `VmoFd` that `export` gave the file; this is its only
    // release.
    drop(unsafe { <KBox<VmoFd>>::from_foreign((*file).private_data) });
    // SAFETY: `inode` is the VMO fd's inode, whose instance `vmo_fd_file_new` pinned once for this
    // file; this is the file's only release.
    unsafe { ffi::vmo_fd_unpin(inode) };
    0
}

/// The inode of a VMO fd is evicted: drops its VMO reference.
///
/// # Safety
///
/// Called once per VMO fd inode, with the `i_private` that `export` gave it.
#[unsafe(no_mangle)]
unsafe extern "C" fn vmo_fd_inode_release(vmo: *mut c_void) {
    // SAFETY: `vmo` is the inode's own `Arc<Vmo>` (from `export`); this is its only release.
    drop(unsafe { <Arc<Vmo>>::from_foreign(vmo) });
}

// The definition has the type of its prototype in `helpers.h`: both coerce to one function
// pointer type only if their signatures are the same.
const _: () = {
    let _ = [ffi::vmo_fd_inode_release, vmo_fd_inode_release];
};

/// `i_op->getattr` of a VMO fd's inode (`fstat`): the VMO's size now, and its committed memory
/// as the blocks used.
///
/// # Safety
///
/// Called by the VFS with a valid path of a live VMO fd inode and a `kstat` to fill.
unsafe extern "C" fn vmo_fd_getattr(
    _idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    request_mask: u32,
    _query_flags: c_uint,
) -> c_int {
    // SAFETY: the path and its dentry are valid for the call (function contract).
    let inode = unsafe { (*(*path).dentry).d_inode };
    // SAFETY: `inode` is live and `stat` valid for writes (function contract); the no-op idmap
    // is a static of the kernel that `generic_fillattr` only reads.
    unsafe {
        bindings::generic_fillattr(&raw mut bindings::nop_mnt_idmap, request_mask, inode, stat)
    };
    // SAFETY: the inode's `i_private` is its own `Arc<Vmo>` (from `export`), which it holds
    // until it is evicted.
    let vmo = unsafe { <Arc<Vmo>>::borrow((*inode).i_private) };
    let info = vmo.info();
    // SAFETY: `stat` is valid for writes (function contract).
    unsafe {
        // A VMO's size is at most `VMO_MAX_SIZE`, below `i64::MAX`.
        (*stat).size = info.size as i64;
        (*stat).blocks = info.committed_bytes >> 9;
    }
    0
}

/// `i_op->setattr` of a VMO fd's inode: `EPERM` for `ftruncate`, `truncate(2)` of
/// `/proc/<pid>/fd/<n>`, `chmod`, `chown`, `utimes`. The size of a VMO changes only through
/// `VMO_IOC_SET_SIZE` (with RESIZE), and the inode's owner and mode state the fd's rights, which
/// nobody may change.
extern "C" fn vmo_fd_setattr(
    _idmap: *mut bindings::mnt_idmap,
    _dentry: *mut bindings::dentry,
    _attr: *mut bindings::iattr,
) -> c_int {
    EPERM.to_errno()
}

/// `f_op->show_fdinfo` of a VMO fd.
///
/// # Safety
///
/// Called by the VFS with a valid seq_file and a live VMO fd.
unsafe extern "C" fn vmo_fd_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: the file is a live VMO fd (function contract): its private data is its `VmoFd`.
    let vfd = unsafe { <KBox<VmoFd>>::borrow((*file).private_data) };
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
    if let Some(evicted) = vfd.vmo.evicted_pages() {
        seq_print!(m, "vmo-pager-evicted-pages:\t{}\n", evicted);
    }
    if let Some(state) = vfd.vmo.discard_state() {
        let c = crate::discard::counts();
        seq_print!(
            m,
            "vmo-discard-state:\t{:?}\ndiscardable-locked:\t{} {}\ndiscardable-unlocked:\t{} {}\ndiscardable-discarded:\t{} {}\n",
            state,
            c.locked.0,
            c.locked.1,
            c.unlocked.0,
            c.unlocked.1,
            c.discarded.0,
            c.discarded.1
        );
    }
}

/// `f_op->mmap` of a VMO fd: once [`mmap`] has validated the mapping, the VMA starts at its
/// page of the root's shmem mapping and runs [`VM_OPS`].
///
/// # Safety
///
/// Called by the VFS with a live VMO fd and the new VMA, under the mmap lock.
unsafe extern "C" fn vmo_fd_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: the file is a live VMO fd (function contract): its private data is its `VmoFd`.
    let vfd = unsafe { <KBox<VmoFd>>::borrow((*file).private_data) };
    // SAFETY: `vma` is a VMA being set up by `f_op->mmap` (function contract).
    let new = unsafe { VmaNew::from_raw(vma) };
    match mmap(vfd, new) {
        Ok(pgoff) => {
            // SAFETY: `f_op->mmap` may set the page offset and the operations of the VMA it sets
            // up, which nothing else uses yet; `pgoff` was validated by `mmap`, `VM_OPS` is
            // static.
            unsafe {
                (*vma).vm_pgoff = pgoff;
                (*vma).vm_ops = &VM_OPS.0;
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Validates a new mapping of `vfd`'s VMO (see the module documentation) and returns the page
/// offset it starts at in the root's shmem file.
fn mmap(vfd: &VmoFd, vma: &VmaNew) -> Result<usize> {
    if vma.flags() & flags::MAYSHARE == 0 {
        // MAP_SHARED (on a read-only fd mm keeps VM_MAYSHARE only). A private
        // (copy-on-write) view of a VMO has no Zircon counterpart.
        return Err(EINVAL);
    }
    // An fd without EXECUTE is on the noexec filesystem instance, where mm already refused
    // PROT_EXEC and cleared VM_MAYEXEC; this check does not rely on that. With EXECUTE the
    // mapping keeps VM_MAYEXEC, so that mprotect(PROT_EXEC) works as mmap(PROT_EXEC) does.
    if !vfd.rights.contains(Rights::EXECUTE) {
        if vma.executable() {
            return Err(EACCES);
        }
        vma.try_clear_mayexec()?;
    }
    let pages = (vma.end() - vma.start()) >> PAGE_SHIFT;
    // SAFETY: `vma` is valid; its page offset is only read here.
    let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff };
    let start = vfd.vmo.map_window(pgoff as u64, pages as u64)?;
    vma.set_dontexpand();
    usize::try_from(start).map_err(|_| EOVERFLOW)
}

/// `vm_ops->fault` of every VMO mapping.
///
/// A fault outside the VMO's window is `SIGBUS`; an absent page of a plain VMO is allocated as
/// shmem does. An absent page of a pager-backed VMO is asked of the pager: the fault lock is
/// dropped while it waits (so the pager, even a thread of this process, can change mappings
/// meanwhile) and the fault is retried; a failure is then found on the retry (see
/// [`Vmo::fault`]) and is `SIGBUS`. The wait is interruptible for a fault from
/// user mode and killable for one from kernel mode (a `read` into the mapping, say), which
/// would otherwise be retried at once while a handled signal is pending. A fault that may not
/// drop the lock (`get_user_pages` without retry: ptrace, `/proc/<pid>/mem`) is `SIGBUS`, as a
/// userfaultfd's is; one that may not wait (`FAULT_FLAG_RETRY_NOWAIT`) is retried later.
///
/// # Safety
///
/// Called by mm with a valid `vmf` whose VMA maps a VMO fd.
unsafe extern "C" fn vmo_vma_fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: `vmf` and its VMA are valid for the call (function contract).
    let (vma, pgoff, fault_flags) = unsafe {
        (
            (*vmf).__bindgen_anon_1.vma,
            (*vmf).__bindgen_anon_1.pgoff as u64,
            (*vmf).flags,
        )
    };
    // SAFETY: the VMA maps a VMO fd, which it keeps open.
    let vfd = unsafe { <KBox<VmoFd>>::borrow(ffi::vmo_vma_fd_priv(vma)) };
    let outcome = vfd
        .vmo
        .fault(pgoff, fault_flags & FAULT_FLAG_WRITE != 0, |may_allocate| {
            let mut hole = false;
            // SAFETY: `vmf` is valid and the VMA maps a VMO fd, whose `f_mapping` is shmem's.
            let ret = unsafe { ffi::vmo_shmem_fault_get(vmf, may_allocate, &mut hole) };
            (!hole).then_some(ret)
        });
    let wait = match outcome {
        FaultOutcome::Mapped(ret) => return ret,
        FaultOutcome::Sigbus => return VM_FAULT_SIGBUS,
        FaultOutcome::Wait(w) => w,
    };
    if fault_flags & FAULT_FLAG_RETRY_NOWAIT != 0 {
        return VM_FAULT_RETRY;
    }
    if fault_flags & FAULT_FLAG_ALLOW_RETRY == 0 {
        return VM_FAULT_SIGBUS;
    }
    // SAFETY: `vmf` and its VMA are valid, and the fault lock is still held.
    let sequential = unsafe { ffi::vmo_fault_sequential(vmf) };
    // The VMA and its file may go once the lock is dropped: `wait` holds the page source.
    // SAFETY: `vmf` is valid, the fault lock is held and the fault may be retried.
    if !unsafe { ffi::vmo_fault_release_lock(vmf) } {
        // The lock is still held: a retry could not wait, so the fault fails (unreachable
        // after the flag checks above, which are the shim's).
        return VM_FAULT_SIGBUS;
    }
    let killable = fault_flags & FAULT_FLAG_USER == 0;
    // A mapping advised MADV_SEQUENTIAL reads ahead (see `PageSource::fault_wait`).
    wait.wait(killable, sequential);
    VM_FAULT_RETRY
}

/// What a fault (or `page_mkwrite`) that failed returns, whatever the status: `SIGBUS`, out of
/// memory included. A VMO's pages are allocated without the OOM killer (`__GFP_RETRY_MAYFAIL`,
/// as for COMMIT), so nobody frees a page for a fault that cannot have one: `VM_FAULT_OOM` would
/// make the task fault again and again (`pagefault_out_of_memory` only retries) for as long as
/// its memory cgroup stays full.
const FAULT_FAILED: bindings::vm_fault_t = VM_FAULT_SIGBUS;

/// `vm_ops->page_mkwrite` of every VMO mapping: before a page becomes writable, the snapshot
/// children that still read it get it as it is (`cow.rs`); the page is returned locked
/// (`VM_FAULT_LOCKED`) and stays locked until mm has installed its writable page table entry.
///
/// # Safety
///
/// Called by mm with a valid `vmf` whose VMA maps a VMO fd.
unsafe extern "C" fn vmo_vma_page_mkwrite(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: `vmf` and its VMA are valid for the call (function contract).
    let (vma, pgoff) = unsafe {
        (
            (*vmf).__bindgen_anon_1.vma,
            (*vmf).__bindgen_anon_1.pgoff as u64,
        )
    };
    // SAFETY: the VMA maps a VMO fd, which it keeps open.
    let vfd = unsafe { <KBox<VmoFd>>::borrow(ffi::vmo_vma_fd_priv(vma)) };
    // SAFETY: `vmf` is valid for the call and `vmf->page` is the page being made writable.
    let lock = || unsafe { ffi::vmo_fault_lock_folio(vmf) };
    // SAFETY: as above; called only after `lock` returned true.
    let unlock = || unsafe { ffi::vmo_fault_unlock_folio(vmf) };
    match vfd.vmo.prepare_write(pgoff, lock, unlock) {
        Ok(Mkwrite::Locked) => VM_FAULT_LOCKED,
        // The page left the file (a ZERO, a shrink), or a writeback began: the fault is retried.
        Ok(Mkwrite::Retry) => VM_FAULT_NOPAGE,
        // A clean page of a `TRAP_DIRTY` VMO: the pager must be asked, which only the fault
        // handler can (it may drop the fault lock). Unmapped, the page's retried write faults
        // there.
        Ok(Mkwrite::NeedsDirty) => {
            vfd.vmo
                .shmem_file()
                .unmap(pgoff.saturating_mul(PAGE_SIZE), PAGE_SIZE);
            VM_FAULT_NOPAGE
        }
        Err(_) => FAULT_FAILED,
    }
}
