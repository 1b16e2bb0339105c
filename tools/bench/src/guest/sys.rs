//! The native side's objects: memfds, shared mappings of them, and the
//! user-space cache-line loops. Every `unsafe` block of the guest program is
//! here.

use std::ffi::c_void;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use rustix::mm::{Advice, MapFlags, ProtFlags, madvise, mmap, munmap};

use super::Res;

/// A new memfd of `size` bytes (nothing allocated).
pub fn memfd(size: u64) -> Res<OwnedFd> {
    let fd = memfd_create("vmo-bench", MemfdFlags::CLOEXEC)?;
    ftruncate(&fd, size)?;
    Ok(fd)
}

/// A read-write `MAP_SHARED` mapping of a whole memfd, which it owns: the
/// mapping goes first, then the file.
pub struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
    /// Closed after the unmap, so the memfd's pages go with the mapping.
    _fd: OwnedFd,
}

impl Mapping {
    /// Maps the first `len` bytes (a positive multiple of the page size) of
    /// `fd`.
    pub fn shared(fd: OwnedFd, len: usize) -> Res<Mapping> {
        // SAFETY: a new mapping at an address the kernel picks replaces
        // nothing; the pointer is only used through this value, which unmaps
        // it on drop.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr).ok_or("mmap returned NULL")?;
        Ok(Mapping { ptr, len, _fd: fd })
    }

    /// `madvise(advice)` over the first `len` bytes (at most the mapping).
    pub fn madvise(&self, len: usize, advice: Advice) -> Res<()> {
        assert!(len <= self.len);
        // SAFETY: the range lies inside this mapping, which no Rust reference
        // points into (the program never reads or writes it, only runs cache
        // instructions on it); the advice may drop or populate pages, which
        // changes no memory a reference could observe.
        unsafe { madvise(self.ptr.as_ptr(), len, advice)? };
        Ok(())
    }

    /// Runs `instr` on each `line`-byte cache line of the mapping, then
    /// `sfence`.
    pub fn cache_lines(&self, instr: LineInstr, line: usize) -> Res<()> {
        cache_lines(self.ptr.as_ptr().cast::<u8>(), self.len, instr, line)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are the mapping made in `shared`, unmapped
        // only here; nothing borrows it past `self`.
        let _ = unsafe { munmap(self.ptr.as_ptr(), self.len) };
    }
}

/// The user-space cache-line instruction of a cache baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineInstr {
    /// Write back, keep the line.
    Clwb,
    /// Write back and drop the line.
    Clflushopt,
}

/// `instr` over every line of `[ptr, ptr + len)`, then `sfence`.
#[cfg(target_arch = "x86_64")]
fn cache_lines(ptr: *const u8, len: usize, instr: LineInstr, line: usize) -> Res<()> {
    use core::arch::asm;
    assert!(line.is_power_of_two());
    let end = ptr as usize + len;
    let mut p = ptr as usize & !(line - 1);
    match instr {
        LineInstr::Clwb => {
            while p < end {
                // SAFETY: `p` is inside a mapping the caller holds (readable,
                // so the instruction cannot fault); clwb only writes a cache
                // line back and changes no memory or register.
                unsafe { asm!("clwb [{0}]", in(reg) p, options(nostack, preserves_flags)) };
                p += line;
            }
        }
        LineInstr::Clflushopt => {
            while p < end {
                // SAFETY: as above; clflushopt writes the line back and drops
                // it from the caches, which changes no memory contents.
                unsafe { asm!("clflushopt [{0}]", in(reg) p, options(nostack, preserves_flags)) };
                p += line;
            }
        }
    }
    // SAFETY: sfence only orders the write-backs before later stores.
    unsafe { asm!("sfence", options(nostack, preserves_flags)) };
    Ok(())
}

/// No user-space cache-line instructions on this architecture.
#[cfg(not(target_arch = "x86_64"))]
fn cache_lines(_ptr: *const u8, _len: usize, instr: LineInstr, _line: usize) -> Res<()> {
    Err(format!("{instr:?} is x86-64 only").into())
}
