// SPDX-License-Identifier: GPL-2.0

//! A safe abstraction around a shmem file: the only Rust file that calls mm/shmem functions.
//!
//! A VMO's committed pages are the folios of one shmem file. Everything here is a thin,
//! safe wrapper over the C shims in `helpers.c`, which call `shmem_file_setup`,
//! `vfs_fallocate`, `vfs_iter_read`/`vfs_iter_write`, `vfs_truncate` and
//! `filemap_get_folios`. shmem does its own locking (the inode lock, folio locks), so every
//! method may be called from any number of threads at once.

use crate::ffi;
use core::{ffi::c_void, marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    ffi::{c_int, c_long, c_uint},
    fs::File,
    page::PAGE_SIZE,
    prelude::*,
    sync::aref::ARef,
    uaccess::UserPtr,
};

/// The module's tmpfs instance (`huge=never`, see `vmo_shmem_mount` in `helpers.c`), mounted
/// for the module's lifetime: every VMO's shmem file lives on it.
pub(crate) struct Mount(());

impl Mount {
    /// Mounts the instance; dropping the value unmounts it.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: called once, at module init, before any VMO can be made.
        to_result(unsafe { ffi::vmo_shmem_mount() })?;
        Ok(Mount(()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // SAFETY: the module is going away: no file of the module is open, so no VMO (and no
        // file of the mount) is left.
        unsafe { ffi::vmo_shmem_unmount() };
    }
}

/// What a C page walk's callback returns for `r`: 0 to go on, or the negative errno that stops
/// the walk.
fn callback_status(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A C page walk's return value `r` as a result: the count it visited, or the error that
/// stopped it.
fn walk_count(r: c_long) -> Result<u64> {
    if r < 0 {
        return Err(Error::from_errno(r as i32));
    }
    Ok(r as u64)
}

/// A byte position or length as a `loff_t`; callers keep everything below `VMO_MAX_SIZE`.
fn loff(v: u64) -> Result<bindings::loff_t> {
    bindings::loff_t::try_from(v).map_err(|_| EFBIG)
}

/// A shmem file owned by one VMO (a reference to it).
///
/// # Invariants
///
/// `file` is a shmem file made by `vmo_shmem_setup`.
pub(crate) struct ShmemFile {
    file: ARef<File>,
}

/// One page (or the part of it inside the range) that a walk of a [`ShmemFile`] visits; only
/// the walk makes one, and it lives only while the walk's callback runs.
///
/// The memory may be written concurrently (by `write` or through a mapping), so it is never
/// handed out as a Rust reference: it is copied from by address ([`ShmemFile::fill`]) and read
/// by volatile byte reads ([`PageChunk::byte`]).
///
/// # Invariants
///
/// `addr` is a kernel address mapped for `len` bytes for as long as `'a` (the walk keeps the
/// folio referenced and mapped); the bytes never cross a page.
pub(crate) struct PageChunk<'a> {
    addr: *mut u8,
    len: usize,
    pos: u64,
    /// Whether the folio is uptodate; only the KUnit suites look.
    #[cfg(CONFIG_VMO_KUNIT_TEST)]
    uptodate: bool,
    _mapped: PhantomData<&'a [u8]>,
}

impl PageChunk<'_> {
    /// The byte position of the chunk in the file.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// False for a folio that was allocated (by COMMIT) but never written: it reads as zeros
    /// and its memory has not been cleared yet, so its bytes must not be copied.
    #[cfg(CONFIG_VMO_KUNIT_TEST)]
    pub(crate) fn uptodate(&self) -> bool {
        self.uptodate
    }

    /// The byte at `i` (a volatile read: others may write it meanwhile), or `None` past the end.
    #[cfg(CONFIG_VMO_KUNIT_TEST)]
    pub(crate) fn byte(&self, i: usize) -> Option<u8> {
        // SAFETY: `i < len`, so the byte is mapped (type invariant).
        (i < self.len).then(|| unsafe { self.addr.add(i).read_volatile() })
    }
}

/// The runs of present bytes that one batch of [`ShmemFile::for_each_run`] visits, in order:
/// each is a folio, or several folios contiguous in memory, clipped to the range, addressed
/// whole through the kernel's linear map. Only the walk makes one, and it lives only while the
/// walk's callback runs.
///
/// As for [`PageChunk`], the memory may be written concurrently, so it is handed out only as
/// raw addresses.
///
/// # Invariants
///
/// Every run of `runs` is a kernel address mapped for its `len` bytes for as long as `'a` (the
/// walk holds a reference on each folio of the batch).
pub(crate) struct MappedRuns<'a> {
    runs: &'a [ffi::vmo_run],
}

impl MappedRuns<'_> {
    /// Each run's kernel address and length: mapped for that length while `self` lives.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (*mut u8, usize)> + '_ {
        self.runs.iter().map(|r| (r.kaddr.cast::<u8>(), r.len))
    }
}

impl ShmemFile {
    /// Creates a shmem file of `size` bytes for the VMO `koid` (the name mappings show); no
    /// memory is committed.
    pub(crate) fn new(size: u64, koid: u64) -> Result<Self> {
        // SAFETY: `vmo_shmem_setup` has no preconditions; it returns a file or an ERR_PTR.
        let file = from_err_ptr(unsafe { ffi::vmo_shmem_setup(loff(size)?, koid) })?;
        let file = NonNull::new(file).ok_or(ENOMEM)?;
        // SAFETY: a successful `shmem_file_setup` returns a new file with one reference, which
        // the `ARef` owns from now on.
        // INVARIANT: it is a shmem file.
        let file = unsafe { ARef::from_raw(file.cast::<File>()) };
        Ok(Self { file })
    }

    /// The `struct file`, for the C shims.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.file.as_ptr()
    }

    /// Another reference to the same file.
    pub(crate) fn try_clone(&self) -> Self {
        Self {
            file: self.file.clone(),
        }
    }

    /// The first absent page of pages `[start, end)` and the end of that run of absent pages;
    /// `(end, end)` when every page is present (swapped-out pages are present). Does not sleep.
    pub(crate) fn find_hole(&self, start: u64, end: u64) -> (u64, u64) {
        self.hole(start, end, false)
    }

    /// Like [`ShmemFile::find_hole`], but a page allocated and never written (by COMMIT, or a
    /// copy-on-write fill that failed) counts as a hole: it holds no data.
    pub(crate) fn find_unheld(&self, start: u64, end: u64) -> (u64, u64) {
        self.hole(start, end, true)
    }

    /// The two above (`vmo_shmem_find_hole`).
    fn hole(&self, start: u64, end: u64, data_only: bool) -> (u64, u64) {
        let (Ok(s), Ok(e)) = (
            kernel::ffi::c_ulong::try_from(start),
            kernel::ffi::c_ulong::try_from(end),
        ) else {
            return (end, end);
        };
        let mut hole_end: kernel::ffi::c_ulong = 0;
        // SAFETY: `self.file` is valid; `hole_end` is a valid place for the out value.
        let hole =
            unsafe { ffi::vmo_shmem_find_hole(self.as_ptr(), s, e, &mut hole_end, data_only) };
        (hole as u64, hole_end as u64)
    }

    /// Whether page `x` holds data (see [`ShmemFile::find_unheld`]).
    pub(crate) fn holds(&self, x: u64) -> bool {
        x.checked_add(1)
            .is_some_and(|end| self.find_unheld(x, end).0 == end)
    }

    /// Allocates folios for `[off, off + len)` (shmem's fallocate path, large folios where
    /// enabled). On failure shmem frees what this call allocated.
    pub(crate) fn commit(&self, off: u64, len: u64) -> Result {
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        to_result(unsafe { ffi::vmo_shmem_commit(self.as_ptr(), loff(off)?, loff(len)?) })
    }

    /// Frees the whole pages of `[off, off + len)` (unmapping them first) and zeroes the
    /// covered bytes of partial pages that are present. Absent pages stay absent.
    pub(crate) fn punch(&self, off: u64, len: u64) -> Result {
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        to_result(unsafe { ffi::vmo_shmem_punch(self.as_ptr(), loff(off)?, loff(len)?) })
    }

    /// Frees the whole pages of `[off, off + len)` (page aligned), as [`ShmemFile::punch`]
    /// does, with less of the VFS's work (see `vmo_shmem_decommit_pages`): for the aux range of
    /// a supply, decommitted after every one.
    pub(crate) fn decommit_pages(&self, off: u64, len: u64) -> Result {
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        unsafe { ffi::vmo_shmem_decommit_pages(self.as_ptr(), loff(off)?, loff(len)?) };
        Ok(())
    }

    /// Copies between the user buffer `buf` of `len` bytes and the file at `pos`: into the file
    /// (`write`, committing pages as needed) or out of it (holes read as zeros). Returns the
    /// bytes copied, which is less than `len` only if the file ended first, or, with `nofault`,
    /// if the user buffer would have faulted there (it is not faulted in: see `vmo_shmem_rw`).
    pub(crate) fn copy_user(
        &self,
        buf: UserPtr,
        len: usize,
        pos: u64,
        write: bool,
        nofault: bool,
    ) -> Result<usize> {
        let mut done = 0usize;
        while done < len {
            let at = pos.checked_add(done as u64).ok_or(EINVAL)?;
            // SAFETY: `self.file` is valid; the shim checks the user range (`import_ubuf`) and
            // copies with the fault-tolerant user-copy routines.
            let n = unsafe {
                ffi::vmo_shmem_rw(
                    self.as_ptr(),
                    buf.wrapping_byte_add(done).as_mut_ptr(),
                    len - done,
                    loff(at)?,
                    write,
                    nofault,
                )
            };
            if nofault && n == EFAULT.to_errno() as isize {
                break;
            }
            if n < 0 {
                // A partial copy is reported as the fault that stopped it.
                return Err(Error::from_errno(n as i32));
            }
            if n == 0 {
                break;
            }
            done += n as usize;
        }
        Ok(done)
    }

    /// Writes `data` into this file at `pos` (through the page cache, as `write` does).
    #[cfg(CONFIG_VMO_KUNIT_TEST)]
    pub(crate) fn write_bytes(&self, data: &[u8], pos: u64) -> Result {
        // SAFETY: `data` is a live slice of `data.len()` bytes.
        unsafe { self.write_kernel(data.as_ptr().cast_mut(), data.len(), pos) }
    }

    /// Writes `len` bytes from the kernel address `src` at `pos`.
    ///
    /// # Safety
    ///
    /// `src` must be readable for `len` bytes for the call.
    #[cfg(CONFIG_VMO_KUNIT_TEST)]
    unsafe fn write_kernel(&self, src: *mut u8, len: usize, pos: u64) -> Result {
        // SAFETY: `self.file` is valid; `src` is readable for `len` bytes (the caller's
        // contract).
        let n = unsafe { ffi::vmo_shmem_write_kernel(self.as_ptr(), src.cast(), len, loff(pos)?) };
        if n < 0 {
            return Err(Error::from_errno(n as i32));
        }
        if n as usize != len {
            return Err(ENOSPC);
        }
        Ok(())
    }

    /// Writes `chunk` (a page of another shmem file), or zeros for `None`, at `pos`, without
    /// the inode lock (see `vmo_shmem_fill`): the pager code calls this under its own lock.
    /// `len` bytes of zeros are written for `None`; the bytes must lie inside one page.
    pub(crate) fn fill(&self, pos: u64, chunk: Option<&PageChunk<'_>>, len: usize) -> Result {
        let (src, len) = match chunk {
            Some(c) => (c.addr.cast_const().cast::<c_void>(), c.len),
            None => (core::ptr::null(), len),
        };
        if len == 0 || (pos % PAGE_SIZE as u64) as usize + len > PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: `self.file` is valid; `src` is null or a chunk's address, mapped for `len`
        // bytes while the chunk lives (its invariant); the range lies inside one page.
        to_result(unsafe { ffi::vmo_shmem_fill(self.as_ptr(), loff(pos)?, src, len) })
    }

    /// The file's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        let size = unsafe { ffi::vmo_shmem_size(self.as_ptr()) };
        size.max(0) as u64
    }

    /// Unmaps bytes `[off, off + len)` of the file from every mapping of it (the pages stay).
    pub(crate) fn unmap(&self, off: u64, len: u64) {
        let (Ok(off), Ok(len)) = (loff(off), loff(len)) else {
            return;
        };
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        unsafe { ffi::vmo_shmem_unmap(self.as_ptr(), off, len) };
    }

    /// Write-protects pages `[start, end)` in every mapping of the file: the next write through
    /// one faults into `page_mkwrite`.
    pub(crate) fn write_protect(&self, start: u64, end: u64) {
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            return;
        };
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        unsafe { ffi::vmo_shmem_write_protect(self.as_ptr(), start, end) };
    }

    /// Sets the file size; shrinking frees (and unmaps) the pages past the end.
    pub(crate) fn set_size(&self, size: u64) -> Result {
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        to_result(unsafe { ffi::vmo_shmem_set_size(self.as_ptr(), loff(size)?) })
    }

    /// Bytes of memory this file holds (resident or swapped).
    pub(crate) fn committed_bytes(&self) -> u64 {
        // SAFETY: `self.file` is a valid shmem file by the type invariant.
        unsafe { ffi::vmo_shmem_committed(self.as_ptr()) }
    }

    /// Calls `f` on every present page of `[start, end)`, clipped to the range, in order.
    /// Holes are skipped without any work, so the cost follows the present pages; pages in swap
    /// are not visited (they are in no CPU cache). Stops at the first error `f` returns.
    /// Returns the number of page chunks visited. Only the KUnit suites look at pages one by
    /// one this way; the cache ops walk whole folios ([`ShmemFile::for_each_run`]).
    #[cfg(CONFIG_VMO_KUNIT_TEST)]
    pub(crate) fn for_each_page<F>(&self, start: u64, end: u64, f: F) -> Result<u64>
    where
        F: FnMut(&PageChunk<'_>) -> Result,
    {
        self.walk(ffi::vmo_shmem_for_each_page, start, end, f)
    }

    /// Calls `f` on the present pages of `[start, end)`, clipped to the range, in order, a
    /// batch of runs at a time ([`MappedRuns`]: whole folios, each mapped once). The walk (C,
    /// `vmo_shmem_for_each_run`) jumps from one present folio to the next however far apart
    /// they are, so the cost follows the present pages, not the range; pages in swap are not
    /// visited (they are in no CPU cache). Stops at the first error `f` returns. Returns the
    /// number of pages visited.
    pub(crate) fn for_each_run<F>(&self, start: u64, end: u64, mut f: F) -> Result<u64>
    where
        F: FnMut(&MappedRuns<'_>) -> Result,
    {
        /// Adapts the C callback to the Rust closure `F`.
        ///
        /// # Safety
        ///
        /// `ctx` must point to an `F` that is not otherwise borrowed; `runs` must point to `n`
        /// runs, each mapped for its length, for the duration of the call.
        unsafe extern "C" fn trampoline<F: FnMut(&MappedRuns<'_>) -> Result>(
            ctx: *mut c_void,
            runs: *const ffi::vmo_run,
            n: c_uint,
        ) -> c_int {
            // SAFETY: the caller passes the `&mut F` that `for_each_run` gave as `ctx`.
            let f = unsafe { &mut *ctx.cast::<F>() };
            // SAFETY: the walk passes `n` initialised runs at `runs` (a non-null array on its
            // stack) that stay valid for the call.
            let runs = unsafe { core::slice::from_raw_parts(runs, n as usize) };
            // INVARIANT: the walk holds a reference on every folio of the runs, mapped in the
            // linear map, for the duration of this call, which the value does not outlive.
            callback_status(f(&MappedRuns { runs }))
        }

        if end <= start {
            return Ok(0);
        }
        // SAFETY: `self.file` is valid; `trampoline::<F>` is a `vmo_runs_fn` and gets a
        // pointer to `f`, which outlives the call and is not used elsewhere meanwhile. The walk
        // calls it with runs of referenced folios.
        let r = unsafe {
            ffi::vmo_shmem_for_each_run(
                self.as_ptr(),
                loff(start)?,
                loff(end)?,
                Some(trampoline::<F>),
                (&raw mut f).cast(),
            )
        };
        walk_count(r)
    }

    /// Calls `f` on every page of `[start, end)` that holds data, clipped to the range, in
    /// order: pages in swap are read back in first, pages that read as zeros (holes, and pages
    /// COMMIT allocated but nobody wrote) are skipped. For copying: a snapshot, a supply.
    pub(crate) fn for_each_data_page<F>(&self, start: u64, end: u64, f: F) -> Result<u64>
    where
        F: FnMut(&PageChunk<'_>) -> Result,
    {
        self.walk(ffi::vmo_shmem_for_each_data_page, start, end, f)
    }

    /// Runs the C page walk `walker` with `f` as its callback.
    fn walk<F>(
        &self,
        walker: unsafe extern "C" fn(
            *mut bindings::file,
            bindings::loff_t,
            bindings::loff_t,
            ffi::vmo_page_fn,
            *mut c_void,
        ) -> c_long,
        start: u64,
        end: u64,
        mut f: F,
    ) -> Result<u64>
    where
        F: FnMut(&PageChunk<'_>) -> Result,
    {
        /// Adapts the C callback to the Rust closure `F`.
        ///
        /// # Safety
        ///
        /// `ctx` must point to an `F` that is not otherwise borrowed; `kaddr` must be mapped
        /// for `len` bytes for the duration of the call.
        unsafe extern "C" fn trampoline<F: FnMut(&PageChunk<'_>) -> Result>(
            ctx: *mut c_void,
            kaddr: *mut c_void,
            len: usize,
            pos: bindings::loff_t,
            uptodate: bool,
        ) -> c_int {
            // SAFETY: the caller passes the `&mut F` that `walk` gave as `ctx`.
            let f = unsafe { &mut *ctx.cast::<F>() };
            #[cfg(not(CONFIG_VMO_KUNIT_TEST))]
            let _ = uptodate;
            // INVARIANT: the walkers map `kaddr` for `len` bytes (within one page) for the
            // duration of this call, which the chunk does not outlive.
            let chunk = PageChunk {
                addr: kaddr.cast(),
                len,
                pos: pos as u64,
                #[cfg(CONFIG_VMO_KUNIT_TEST)]
                uptodate,
                _mapped: PhantomData,
            };
            callback_status(f(&chunk))
        }

        if end <= start {
            return Ok(0);
        }
        // SAFETY: `self.file` is valid; `trampoline::<F>` is a `vmo_page_fn` and gets a pointer
        // to `f`, which outlives the call and is not used elsewhere meanwhile. Both walkers
        // call it with a page mapped for `len` bytes.
        let r = unsafe {
            walker(
                self.as_ptr(),
                loff(start)?,
                loff(end)?,
                Some(trampoline::<F>),
                (&raw mut f).cast(),
            )
        };
        walk_count(r)
    }
}
