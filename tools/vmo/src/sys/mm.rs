//! Memory mappings of VMO file descriptors: the `mmap` and `munmap` calls
//! and the only code of the crate that touches mapped memory.
//!
//! [`Mapping`](crate::Mapping) is the typed API on top; this layer is for
//! tests that need other flags (`MAP_PRIVATE`, `PROT_EXEC`, ...) or raw
//! access to the pages.

use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::io::Errno;
pub use rustix::mm::{MapFlags, ProtFlags};

/// A memory mapping made by [`mmap`]; unmapped when dropped.
///
/// The memory is shared with everything else that maps or writes the same
/// pages (other mappings, other processes, the VMO's read/write ioctls) and
/// changes under the program at any time: DECOMMIT and whole-page ZERO turn
/// pages back into zeros, and an access past the end of the mapped object
/// (a VMO shrunk by `set_size`, or a mapping longer than the VMO) raises
/// `SIGBUS`. [`read`](Self::read) and [`write`](Self::write) copy with
/// relaxed atomic byte accesses, which are sound under all of that (a
/// `SIGBUS` kills the process, as it would a C program); the slice views are
/// `unsafe` with a contract that excludes it.
#[derive(Debug)]
pub struct MappedRegion {
    ptr: NonNull<u8>,
    len: usize,
    prot: ProtFlags,
}

// SAFETY: the region is memory of the process, not of a thread, and the
// pointer is only dereferenced by the methods below: the safe ones with
// atomic accesses (which may race with each other from any thread), the
// unsafe ones under a contract that excludes concurrent changes. Unmapping
// needs `self` by value (drop), so it cannot overlap a borrow on another
// thread.
unsafe impl Send for MappedRegion {}
// SAFETY: as for `Send`: every access through `&MappedRegion` is atomic.
unsafe impl Sync for MappedRegion {}

/// `mmap(NULL, len, prot, flags, fd, offset)`: a new mapping at an address
/// the kernel chooses. `Err` holds the errno (`EINVAL` without a
/// call for `MAP_FIXED` or `MAP_FIXED_NOREPLACE`, which would place the
/// mapping at address 0).
pub fn mmap(
    fd: BorrowedFd<'_>,
    offset: u64,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
) -> Result<MappedRegion, Errno> {
    if flags.intersects(MapFlags::FIXED | MapFlags::FIXED_NOREPLACE) {
        return Err(Errno::INVAL);
    }
    // SAFETY: without MAP_FIXED(_NOREPLACE) a null address is only a hint:
    // the kernel places the mapping in a range no other mapping uses, so no
    // memory the program already uses is replaced or aliased. The new range
    // is owned by the returned value, which unmaps it on drop.
    let ptr = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, flags, fd, offset) }?;
    match NonNull::new(ptr.cast::<u8>()) {
        Some(ptr) => Ok(MappedRegion { ptr, len, prot }),
        None => {
            // Only possible with vm.mmap_min_addr = 0; give the page back.
            // SAFETY: the mapping was made just above and nothing uses it.
            let _ = unsafe { rustix::mm::munmap(ptr, len) };
            Err(Errno::NOMEM)
        }
    }
}

impl MappedRegion {
    /// The first byte of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The length in bytes that was asked for (the kernel maps whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is 0 (never: `mmap` refuses an empty mapping).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The protection the mapping was made with.
    pub fn prot(&self) -> ProtFlags {
        self.prot
    }

    /// `Err(ERANGE)` unless `[offset, offset + n)` lies inside the mapping,
    /// `Err(EACCES)` unless the mapping has `need`.
    fn check(&self, offset: usize, n: usize, need: ProtFlags) -> Result<(), Errno> {
        if offset.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(Errno::RANGE);
        }
        if !self.prot.contains(need) {
            return Err(Errno::ACCESS);
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes from byte `offset` of the mapping, one
    /// relaxed atomic load per byte. `Err(ERANGE)` if the range is not inside
    /// the mapping, `Err(EACCES)` without `PROT_READ`. Raises `SIGBUS` if
    /// the range is past the end of the mapped object.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), Errno> {
        self.check(offset, buf.len(), ProtFlags::READ)?;
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: offset + i < len (checked above), so the byte lies in
            // the mapping, which stays mapped while `self` is borrowed.
            // AtomicU8 has the size and alignment of u8. Every access this
            // type makes to the mapping is an atomic byte access, so calls
            // from several threads do not race in Rust's sense, and a relaxed
            // atomic load is allowed on read-only memory. Stores of other
            // processes and of the kernel (DECOMMIT) are outside Rust's
            // memory model and only change the value read.
            *b = unsafe { &*self.ptr.as_ptr().add(offset + i).cast::<AtomicU8>() }
                .load(Ordering::Relaxed);
        }
        Ok(())
    }

    /// Copies `data` to byte `offset` of the mapping, one relaxed atomic
    /// store per byte. `Err(ERANGE)` if the range is not inside the mapping,
    /// `Err(EACCES)` without `PROT_WRITE`. Raises `SIGBUS` if the range is
    /// past the end of the mapped object.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), Errno> {
        self.check(offset, data.len(), ProtFlags::WRITE)?;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: as in `read`: the byte lies in the mapping (checked),
            // which is writable (checked), and every access to it through
            // this type is atomic.
            unsafe { &*self.ptr.as_ptr().add(offset + i).cast::<AtomicU8>() }
                .store(*b, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The whole mapping as a byte slice.
    ///
    /// # Safety
    ///
    /// While the slice lives, none of its bytes may change and all of them
    /// must be accessible: the mapping must be readable; no thread or
    /// process may write the mapped pages (through any mapping, the write
    /// ioctl, or [`write`](Self::write)); nothing may DECOMMIT or ZERO them
    /// or shrink the VMO below the end of the mapping; and the mapping must
    /// not extend past the VMO's size (that access raises `SIGBUS`). A
    /// read-only handle in this process does not ensure any of this: the
    /// VMO may have writable handles or fds elsewhere.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the pointer and length describe this mapping, which stays
        // mapped while `self` is borrowed; the caller guarantees the bytes
        // are readable and do not change while the slice lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The whole mapping as a mutable byte slice.
    ///
    /// # Safety
    ///
    /// As for [`as_slice`](Self::as_slice), and moreover nothing else may
    /// read the mapped pages while the slice lives (no other mapping,
    /// process or read ioctl), and the mapping must be writable.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; `&mut self` excludes every other access
        // through this value, and the caller guarantees the rest.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are the mapping `mmap` made, unmapped only
        // here. The safe methods and the slices borrow `self`, so no
        // reference into the mapping outlives this call.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
