//! The native side's objects: memfds, shared mappings of them, and the
//! user-space cache-line loops (`clwb`/`clflushopt` on x86-64, `dc cvac`/
//! `dc civac` on aarch64) with what they need to know of the CPU; and the
//! raw memory of the Fuchsia cases: a zero-page buffer, an address range
//! reserved for mappings at fixed places, `MADV_POPULATE_*` of a mapping.
//! Every `unsafe` block of the guest program is here, but for the byte views
//! of mapped objects in `fuchsia.rs` and `pagein.rs`
//! (`MappedRegion::as_slice`, and the pager fault figure's single-byte
//! reads), whose soundness rests on which object a case maps, and the
//! userfaultfd ioctls of `uffd.rs`.

use std::ffi::c_void;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use rustix::mm::{Advice, MapFlags, ProtFlags, madvise, mmap, mmap_anonymous, munmap};
use vmo::sys::MappedRegion;

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

    /// The address of the first byte (for the kernel to copy from: the
    /// source of `UFFDIO_COPY`).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr().cast()
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

    /// Runs `instr` on each `line`-byte cache line of the mapping, then the
    /// architecture's barrier (`sfence`, `dsb sy`).
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

/// A private anonymous mapping that nothing ever writes: once touched, each
/// of its pages is the kernel's shared zero page (the source buffer of
/// `Vmo/Write/ZeroPage`).
pub struct ZeroPages {
    ptr: NonNull<u8>,
    len: usize,
}

impl ZeroPages {
    /// `len` bytes (positive), none of them touched yet.
    pub fn new(len: usize) -> Res<ZeroPages> {
        // SAFETY: a new anonymous mapping at an address the kernel picks
        // replaces nothing; it is owned by the returned value.
        let ptr = unsafe {
            mmap_anonymous(std::ptr::null_mut(), len, ProtFlags::READ, MapFlags::PRIVATE)?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or("mmap returned NULL")?;
        Ok(ZeroPages { ptr, len })
    }

    /// The bytes: all zero.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes of private anonymous
        // memory that the kernel zero-filled; it is mapped read-only and no
        // other mapping shares it, so nothing writes it while the slice
        // (which borrows `self`, and so the mapping) lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for ZeroPages {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped only here; the slices
        // borrow `self`, so none outlives it.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A range of address space reserved with `PROT_NONE` (no memory), into
/// which a file is then mapped at fixed places, as Fuchsia maps into a
/// sub-VMAR it allocated.
pub struct Reserved {
    ptr: NonNull<c_void>,
    len: usize,
    /// The range was unmapped by [`unmap`](Self::unmap): it is no longer
    /// this value's to map into or to unmap.
    released: bool,
}

impl Reserved {
    /// `len` bytes (a positive multiple of the page size).
    pub fn new(len: usize) -> Res<Reserved> {
        // SAFETY: as in `ZeroPages::new`; a PROT_NONE mapping holds no memory.
        let ptr = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )?
        };
        let ptr = NonNull::new(ptr).ok_or("mmap returned NULL")?;
        Ok(Reserved { ptr, len, released: false })
    }

    /// Maps the first `len` bytes of `fd` read-only and `MAP_SHARED` over
    /// the range, in chunks of `chunk` bytes (a multiple of the page size
    /// that divides the range), each chunk an `mmap` of its own at its own
    /// offset with `MAP_FIXED | MAP_POPULATE` (Fuchsia's `ZX_VM_SPECIFIC |
    /// ZX_VM_MAP_RANGE`: the page tables are filled at once).
    pub fn map_chunks(&mut self, fd: BorrowedFd<'_>, chunk: usize) -> Res<()> {
        if self.released {
            return Err("the reserved range was unmapped".into());
        }
        if chunk == 0 || self.len % chunk != 0 {
            return Err(format!("chunks of {chunk} B do not tile {} B", self.len).into());
        }
        for off in (0..self.len).step_by(chunk) {
            let flags = MapFlags::SHARED | MapFlags::FIXED | MapFlags::POPULATE;
            // SAFETY: `[ptr + off, ptr + off + chunk)` lies inside the range
            // this value reserved and still owns (not released), which holds
            // only its PROT_NONE reservation or chunks it mapped itself: no
            // Rust reference points into it, so MAP_FIXED replaces nothing
            // the program uses. The chunk stays owned by this value.
            let at = unsafe { self.ptr.as_ptr().cast::<u8>().add(off) };
            // SAFETY: as above.
            unsafe { mmap(at.cast(), chunk, ProtFlags::READ, flags, fd, off as u64)? };
        }
        Ok(())
    }

    /// `munmap` of the whole range: every chunk and what is left of the
    /// reservation (Fuchsia's `vmar.unmap(addr, size)`). The value owns
    /// nothing afterwards.
    pub fn unmap(&mut self) -> Res<()> {
        if !self.released {
            // SAFETY: the range this value reserved, which no reference
            // points into; it is released, so it is not unmapped again.
            unsafe { munmap(self.ptr.as_ptr(), self.len)? };
            self.released = true;
        }
        Ok(())
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let _ = self.unmap();
    }
}

/// `madvise(MADV_SEQUENTIAL)` over the whole of `r`: the mapping will be
/// read front to back (a pager-backed VMO's mapping then reads ahead).
pub fn advise_sequential(r: &MappedRegion) -> Res<()> {
    // SAFETY: the range is `r`'s mapping, which stays mapped while it is
    // borrowed; the advice only sets a flag of the mapping, which changes no
    // memory.
    unsafe { madvise(r.as_ptr().cast(), r.len(), Advice::Sequential)? };
    Ok(())
}

/// What [`populate`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Populate {
    /// `MADV_POPULATE_READ`: fault every page in for reading.
    Read,
    /// `MADV_POPULATE_WRITE`: fault every page in for writing (allocating
    /// it): Linux's form of `ZX_VMAR_OP_COMMIT`.
    Write,
}

/// `madvise(MADV_POPULATE_READ or _WRITE)` over the whole of `r`.
pub fn populate(r: &MappedRegion, how: Populate) -> Res<()> {
    let advice = match how {
        Populate::Read => Advice::LinuxPopulateRead,
        Populate::Write => Advice::LinuxPopulateWrite,
    };
    // SAFETY: the range is `r`'s mapping, which stays mapped while it is
    // borrowed; populating only faults pages in (a hole becomes a zero page
    // or a zeroed page), which changes no byte anyone can read.
    unsafe { madvise(r.as_ptr().cast(), r.len(), advice)? };
    Ok(())
}

/// The user-space cache-line instruction of a cache baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineInstr {
    /// x86-64: write back, keep the line.
    Clwb,
    /// x86-64: write back and drop the line.
    Clflushopt,
    /// aarch64: clean to the point of coherency (write back, keep the line).
    DcCvac,
    /// aarch64: clean and invalidate to the point of coherency (write back
    /// and drop the line).
    DcCivac,
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
        LineInstr::DcCvac | LineInstr::DcCivac => {
            return Err(format!("{instr:?} is aarch64 only").into());
        }
    }
    // SAFETY: sfence only orders the write-backs before later stores.
    unsafe { asm!("sfence", options(nostack, preserves_flags)) };
    Ok(())
}

/// `instr` over every line of `[ptr, ptr + len)`, then `dsb sy`.
///
/// Linux runs user space with `SCTLR_EL1.UCI` set, so `dc cvac` and
/// `dc civac` execute at EL0 (where an erratum makes the kernel clear it,
/// it emulates them on the trap instead). The barrier is `dsb sy`, not
/// `dsb ish`: a clean to the point of coherency is for observers outside
/// the inner-shareable domain too (a non-coherent DMA master), and only the
/// full-system barrier waits until the maintenance is complete for those;
/// it is also what the module's loop (`rust/arch/arm64.rs`), Zircon's
/// cache ops and Linux's `dcache_clean_poc` end with, so both sides do the
/// same work.
#[cfg(target_arch = "aarch64")]
fn cache_lines(ptr: *const u8, len: usize, instr: LineInstr, line: usize) -> Res<()> {
    use core::arch::asm;
    assert!(line.is_power_of_two());
    let end = ptr as usize + len;
    let mut p = ptr as usize & !(line - 1);
    match instr {
        LineInstr::DcCvac => {
            while p < end {
                // SAFETY: `p` is inside a mapping the caller holds, readable
                // and populated (Linux takes a fault of a cache maintenance
                // instruction as a read, so read permission is enough); dc
                // cvac only writes a cache line back to the point of
                // coherency and changes no memory or register.
                unsafe { asm!("dc cvac, {0}", in(reg) p, options(nostack, preserves_flags)) };
                p += line;
            }
        }
        LineInstr::DcCivac => {
            while p < end {
                // SAFETY: as above; dc civac writes the line back before it
                // drops it from the caches, which changes no memory contents.
                unsafe { asm!("dc civac, {0}", in(reg) p, options(nostack, preserves_flags)) };
                p += line;
            }
        }
        LineInstr::Clwb | LineInstr::Clflushopt => {
            return Err(format!("{instr:?} is x86-64 only").into());
        }
    }
    // SAFETY: dsb sy only waits until the maintenance above is complete; it
    // changes no memory or register.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    Ok(())
}

/// No user-space cache-line instructions on this architecture.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cache_lines(_ptr: *const u8, _len: usize, instr: LineInstr, _line: usize) -> Res<()> {
    Err(format!("{instr:?} does not exist on {}", std::env::consts::ARCH).into())
}

/// `CTR_EL0` as user space reads it.
///
/// Linux sets `SCTLR_EL1.UCT`, so the `mrs` reads the register itself; where
/// the CPUs' cache types differ (or an erratum needs it) the kernel clears
/// UCT and answers the trapped read with its sanitised system-wide value,
/// the one the module steps by. Either way `DminLine` is a line size that is
/// safe to step by on any CPU.
#[cfg(target_arch = "aarch64")]
pub fn ctr_el0() -> Option<u64> {
    let ctr: u64;
    // SAFETY: reads a system register EL0 may read (or whose read the kernel
    // emulates) into a register of our own; no memory is touched.
    unsafe {
        core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags))
    };
    Some(ctr)
}

/// `CTR_EL0`: aarch64 only.
#[cfg(not(target_arch = "aarch64"))]
pub fn ctr_el0() -> Option<u64> {
    None
}
