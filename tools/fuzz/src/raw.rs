//! The only module with `unsafe` code: ioctls whose argument struct sits at a
//! chosen address (null, unmapped, `PROT_NONE`, read-only, straddling an
//! inaccessible page, a kernel address), `VMO_IOC_READ`/`WRITE` with such
//! buffers, unknown ioctl numbers, and the memory those addresses point into.
//!
//! The well-formed calls go through the crate's safe `vmo::sys` wrappers; this
//! module only adds what they cannot express.
//!
//! Memory safety rests on one rule: the kernel may only write where a fault
//! is certain or into this module's own scratch page. An [`Arena`] is six
//! pages that belong to one worker:
//!
//! ```text
//!   0 scratch (RW)  1 straddle (RW)  2 guard (NONE)  3 read-only  4 hole (unmapped)  5 guard (NONE)
//! ```
//!
//! The hole is unmapped after the arena is made. The kernel is only ever
//! *given* it where it only reads (`_IOW` argument structs and `WRITE`
//! sources): another thread of this process could map something there later
//! (only a mapping of at most one page fits; the mapping episodes map at
//! least two pages), and then the worst outcome is a spurious mismatch, never a
//! write into someone else's memory. Every destination the kernel writes to
//! is a `PROT_NONE` or read-only page, a kernel address, page 0, or the
//! straddle page, which no Rust reference ever points into.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::fd::BorrowedFd;
use std::ptr;

use rustix::ioctl::{Ioctl, IoctlOutput, Opcode};
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags, mmap_anonymous, mprotect, munmap};
use vmo::sys;

/// Where an argument struct or a read/write buffer is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Memory of this process that the kernel may read and write.
    Normal,
    /// The null pointer.
    Null,
    /// Address 1, in the never-mapped page 0.
    One,
    /// A page that was mapped and unmapped again (only where the kernel
    /// only reads).
    Hole,
    /// A `PROT_NONE` page.
    Guard,
    /// `n` bytes before a `PROT_NONE` page: the first `n` bytes are
    /// accessible, the rest faults.
    Straddle(usize),
    /// A kernel address, which `access_ok` refuses.
    Kernel,
    /// A read-only page: reading works, writing faults.
    ReadOnly,
}

impl Place {
    /// Whether the kernel can read `len` bytes here without a fault (for the
    /// read-only page: from [`RO_BUF_OFFSET`] on, for a buffer).
    pub fn readable(self, len: u64, page: u64) -> bool {
        match self {
            Place::Normal => true,
            Place::ReadOnly => len <= page - RO_BUF_OFFSET as u64,
            Place::Straddle(n) => len <= n as u64,
            _ => len == 0,
        }
    }
}

/// Where a `WRITE` source on the read-only page starts (argument structs sit
/// at its start).
pub const RO_BUF_OFFSET: usize = 512;

/// The byte at `i` of a `WRITE` source on the read-only page.
pub fn ro_pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 8)) as u8 ^ 0xa5
}

/// A kernel-half address (x86-64 kernel text; also kernel space on arm64).
const KERNEL_ADDR: usize = 0xffff_ffff_8100_0000;

/// The argument structs of `/dev/vmo` other than `vmo_rw_args` (whose
/// buffer pointer [`Arena::read`] and [`Arena::write`] handle): plain
/// integers without padding, and the ioctls that take each.
pub trait Arg: Copy + sealed::Sealed {
    /// The ioctl numbers whose argument is this struct.
    const CMDS: &'static [u32];
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! args {
    ($($t:ident => [$($cmd:ident),*]),* $(,)?) => {$(
        impl sealed::Sealed for sys::$t {}
        impl Arg for sys::$t {
            const CMDS: &'static [u32] = &[$(sys::$cmd),*];
        }
    )*};
}

args!(
    vmo_create_args => [VMO_IOC_CREATE],
    vmo_create_child_args => [VMO_IOC_CREATE_CHILD],
    vmo_close_args => [VMO_IOC_CLOSE],
    vmo_duplicate_args => [VMO_IOC_DUPLICATE, VMO_IOC_REPLACE],
    vmo_size_args => [VMO_IOC_GET_SIZE, VMO_IOC_SET_SIZE],
    vmo_op_range_args => [VMO_IOC_OP_RANGE],
    vmo_info => [VMO_IOC_GET_INFO],
    vmo_event_create_args => [VMO_IOC_EVENT_CREATE],
    vmo_replace_as_executable_args => [VMO_IOC_REPLACE_AS_EXECUTABLE],
);

/// Every ioctl number the module knows (the unknown-ioctl calls must never make one of
/// these: a random size byte can rebuild a real command exactly).
pub const KNOWN_CMDS: [u32; 23] = [
    sys::VMO_IOC_CREATE,
    sys::VMO_IOC_CREATE_CHILD,
    sys::VMO_IOC_CLOSE,
    sys::VMO_IOC_DUPLICATE,
    sys::VMO_IOC_REPLACE,
    sys::VMO_IOC_READ,
    sys::VMO_IOC_WRITE,
    sys::VMO_IOC_GET_SIZE,
    sys::VMO_IOC_SET_SIZE,
    sys::VMO_IOC_OP_RANGE,
    sys::VMO_IOC_GET_INFO,
    sys::VMO_IOC_EVENT_CREATE,
    sys::VMO_IOC_REPLACE_AS_EXECUTABLE,
    sys::VMO_IOC_EXPORT,
    sys::VMO_IOC_IMPORT,
    sys::VMO_IOC_PAGER_CREATE,
    sys::VMO_IOC_PAGER_CREATE_VMO,
    sys::VMO_IOC_PAGER_DETACH,
    sys::VMO_IOC_PAGER_SUPPLY,
    sys::VMO_IOC_PAGER_OP_RANGE,
    sys::VMO_IOC_PAGER_WAIT,
    sys::VMO_IOC_PAGER_QUERY_DIRTY,
    sys::VMO_IOC_PAGER_QUERY_STATS,
];

/// Whether the VFS answers `cmd` itself before the driver sees it
/// (`do_vfs_ioctl`: the `'T'` FIO* numbers, `'X'` FIFREEZE/FITHAW/FSGETXATTR,
/// `'f'` GETFLAGS/FIEMAP, `0x94` FICLONE*, `0x15` GETFSUUID, type 0
/// FIGETBSZ). Unknown-ioctl tests avoid these types.
pub fn vfs_handles(cmd: u32) -> bool {
    matches!((cmd >> 8) & 0xff, 0x54 | 0x58 | 0x66 | 0x94 | 0x15 | 0x00)
}

/// An ioctl with a run-time number and pointer.
struct RawIoctl {
    cmd: u32,
    ptr: *mut c_void,
}

// SAFETY: `opcode` and `as_ptr` hand the kernel exactly the number and
// pointer given; `IS_MUTATING` is true because the kernel may write through
// the pointer; there is no output to extract.
unsafe impl Ioctl for RawIoctl {
    type Output = ();
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        self.cmd as Opcode
    }

    fn as_ptr(&mut self) -> *mut c_void {
        self.ptr
    }

    unsafe fn output_from_ptr(_: IoctlOutput, _: *mut c_void) -> rustix::io::Result<()> {
        Ok(())
    }
}

/// Issues `cmd` with the argument pointer `ptr`; `Err` holds the errno.
///
/// # Safety
///
/// Whatever the kernel does with `cmd` through `ptr` (read or write the
/// struct the command names, and the memory its fields point to) must be
/// allowed: every byte it may write is owned by the caller and not borrowed
/// by any Rust reference, or the write faults.
unsafe fn ioctl_ptr(fd: BorrowedFd<'_>, cmd: u32, ptr: *mut c_void) -> sys::IoctlResult {
    // SAFETY: the caller's contract is exactly the one of `ioctl`.
    unsafe { rustix::ioctl::ioctl(fd, RawIoctl { cmd, ptr }) }
}

/// A `READ` destination.
pub enum Dst<'a> {
    /// A buffer of this process; the argument's `length` must not exceed it.
    Data(&'a mut [u8]),
    /// A bad address (not [`Place::Normal`] or [`Place::Hole`]).
    Bad(Place),
}

/// A `WRITE` source.
pub enum Src<'a> {
    /// A buffer of this process; the argument's `length` must not exceed it.
    Data(&'a [u8]),
    /// A bad or special address (not [`Place::Normal`]).
    Bad(Place),
}

/// Six pages of special memory owned by one worker; see the module docs.
pub struct Arena {
    base: *mut u8,
    page: usize,
}

// SAFETY: the arena's pages belong to the `Arena` value alone (nothing else
// has their address), so it may move to another thread.
unsafe impl Send for Arena {}

impl Arena {
    const PAGES: usize = 6;

    /// Maps the arena: scratch, straddle, guard, read-only, hole, guard.
    pub fn new() -> rustix::io::Result<Arena> {
        let page = rustix::param::page_size();
        let len = Arena::PAGES * page;
        // SAFETY: a new private anonymous mapping at an address the kernel
        // picks: it cannot alias anything of this program.
        let base = unsafe {
            mmap_anonymous(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }?
        .cast::<u8>();
        let arena = Arena { base, page };
        // SAFETY: page 3 is inside the mapping made above and not borrowed.
        let ro = unsafe { std::slice::from_raw_parts_mut(arena.at(3 * page), page) };
        for (i, b) in ro[RO_BUF_OFFSET..].iter_mut().enumerate() {
            *b = ro_pattern(i);
        }
        // SAFETY: pages 2..6 lie inside the mapping; nothing refers to them.
        unsafe {
            mprotect(arena.at(2 * page).cast(), page, MprotectFlags::empty())?;
            mprotect(arena.at(3 * page).cast(), page, MprotectFlags::READ)?;
            munmap(arena.at(4 * page).cast(), page)?;
            mprotect(arena.at(5 * page).cast(), page, MprotectFlags::empty())?;
        }
        Ok(arena)
    }

    /// The address `off` bytes into the arena.
    fn at(&self, off: usize) -> *mut u8 {
        self.base.wrapping_add(off)
    }

    /// The address of `place` for an argument struct of `size` bytes
    /// (`Normal` has none here: the caller's own memory is used).
    fn arg_addr(&self, place: Place, size: usize) -> *mut c_void {
        let p = self.page;
        let addr = match place {
            Place::Normal | Place::ReadOnly => self.at(3 * p),
            Place::Null => ptr::null_mut(),
            Place::One => ptr::without_provenance_mut(1),
            Place::Hole => self.at(4 * p),
            Place::Guard => self.at(2 * p),
            Place::Straddle(n) => self.at(2 * p - n.min(size)),
            Place::Kernel => ptr::without_provenance_mut(KERNEL_ADDR),
        };
        addr.cast()
    }

    /// Puts a copy of `arg` at `place` (for the places that hold one) and
    /// returns the pointer to hand the kernel.
    fn place_arg<T: Copy>(&mut self, place: Place, arg: &mut T) -> rustix::io::Result<*mut c_void> {
        let size = size_of::<T>();
        let src = ptr::from_ref(arg).cast::<u8>();
        match place {
            Place::Normal => Ok(ptr::from_mut(arg).cast()),
            Place::ReadOnly => {
                let ro = self.at(3 * self.page);
                // SAFETY: page 3 is this arena's; it is made writable for the
                // copy and read-only again; `T` is a padding-free integer
                // struct, so all its `size` bytes are initialised.
                unsafe {
                    mprotect(ro.cast(), self.page, MprotectFlags::READ | MprotectFlags::WRITE)?;
                    ptr::copy_nonoverlapping(src, ro, size);
                    mprotect(ro.cast(), self.page, MprotectFlags::READ)?;
                }
                Ok(ro.cast())
            }
            Place::Straddle(n) => {
                let n = n.min(size);
                let dst = self.at(2 * self.page - n);
                // SAFETY: the `n` bytes before the guard page are this
                // arena's straddle page, which nothing borrows; `T` is a
                // padding-free integer struct of at least `n` bytes.
                unsafe { ptr::copy_nonoverlapping(src, dst, n) };
                Ok(dst.cast())
            }
            other => Ok(self.arg_addr(other, size)),
        }
    }

    /// Issues `cmd` (one of `T::CMDS`) with `arg` placed at `place`. With
    /// [`Place::Normal`] the kernel reads and writes `arg` itself; elsewhere
    /// the outputs are lost. `Hole` is only allowed for `_IOW` commands.
    pub fn ioctl<T: Arg>(
        &mut self,
        fd: BorrowedFd<'_>,
        cmd: u32,
        place: Place,
        arg: &mut T,
    ) -> sys::IoctlResult {
        assert!(T::CMDS.contains(&cmd), "ioctl {cmd:#x} does not take this struct");
        assert!(place != Place::Hole || !writes_back(cmd), "the hole is for reads only");
        let ptr = self.place_arg(place, arg)?;
        // SAFETY: `cmd` takes a `T` (checked above, and `vmo::sys` checks
        // the numbers against the struct sizes at compile time); no `T` but
        // `vmo_rw_args` holds a pointer the kernel writes through. `ptr` is
        // `arg` itself (exclusively borrowed), or arena memory that no
        // reference borrows, or an address where the kernel's access faults;
        // the hole is only read (asserted above).
        unsafe { ioctl_ptr(fd, cmd, ptr) }
    }

    /// Issues an ioctl number the module does not know; the argument
    /// pointer is `place` (the scratch page for `Normal`).
    pub fn unknown(&mut self, fd: BorrowedFd<'_>, cmd: u32, place: Place) -> sys::IoctlResult {
        assert!(!KNOWN_CMDS.contains(&cmd) && !vfs_handles(cmd), "{cmd:#x} is not unknown");
        let ptr = match place {
            Place::Normal => self.at(0).cast(),
            Place::ReadOnly => self.at(3 * self.page).cast(),
            other => self.arg_addr(other, self.page),
        };
        // SAFETY: the module answers ENOTTY for a number it does not know
        // before it touches the argument, and the VFS does not handle this
        // type (checked above). Even a kernel that wrote `_IOC_SIZE` (< 16
        // KiB) bytes through `ptr` could only reach the scratch and straddle
        // pages, which no reference borrows, before the guard page faults;
        // every other place faults at once.
        unsafe { ioctl_ptr(fd, cmd, ptr) }
    }

    /// The address of a bad `READ`/`WRITE` buffer of `len` bytes.
    fn buf_addr(&self, place: Place) -> u64 {
        let p = self.page;
        let addr = match place {
            Place::ReadOnly => self.at(3 * p + RO_BUF_OFFSET),
            Place::Straddle(n) => self.at(2 * p - n.min(p)),
            other => self.arg_addr(other, 0).cast(),
        };
        addr as u64
    }

    /// `VMO_IOC_READ` with the argument `args` (its `buffer` is set from
    /// `dst`) placed at `place`.
    pub fn read(
        &mut self,
        fd: BorrowedFd<'_>,
        place: Place,
        mut args: sys::vmo_rw_args,
        dst: Dst<'_>,
    ) -> sys::IoctlResult {
        match dst {
            Dst::Data(buf) => {
                assert!(args.length <= buf.len() as u64, "READ longer than its buffer");
                args.buffer = buf.as_mut_ptr() as u64;
            }
            Dst::Bad(p) => {
                assert!(!matches!(p, Place::Normal | Place::Hole), "not a faulting destination");
                args.buffer = self.buf_addr(p);
            }
        }
        if place == Place::Normal {
            // SAFETY: `args.buffer` is `buf`, borrowed mutably for the call
            // and at least `length` bytes long, or it faults on every write
            // (`PROT_NONE`, read-only, page 0, kernel address), or it is the
            // straddle page that no reference borrows, followed by the guard.
            return unsafe { sys::read_raw(fd, &mut args) };
        }
        let ptr = self.place_arg(place, &mut args)?;
        // SAFETY: VMO_IOC_READ takes a `vmo_rw_args`, which the kernel only
        // reads (`_IOW`): from arena memory, or it faults. The buffer it
        // names is `buf` or faults or is the straddle page, as above.
        unsafe { ioctl_ptr(fd, sys::VMO_IOC_READ, ptr) }
    }

    /// `VMO_IOC_WRITE` with the argument `args` (its `buffer` is set from
    /// `src`) placed at `place`.
    pub fn write(
        &mut self,
        fd: BorrowedFd<'_>,
        place: Place,
        mut args: sys::vmo_rw_args,
        src: Src<'_>,
    ) -> sys::IoctlResult {
        match src {
            Src::Data(buf) => {
                assert!(args.length <= buf.len() as u64, "WRITE longer than its buffer");
                args.buffer = buf.as_ptr() as u64;
            }
            Src::Bad(p) => {
                assert!(p != Place::Normal, "not a special source");
                args.buffer = self.buf_addr(p);
            }
        }
        if place == Place::Normal {
            // SAFETY: the kernel only reads the source: `buf` (borrowed for
            // the call, long enough) or arena memory or a faulting address.
            return unsafe { sys::write_raw(fd, args) };
        }
        let ptr = self.place_arg(place, &mut args)?;
        // SAFETY: VMO_IOC_WRITE takes a `vmo_rw_args` and writes no user
        // memory: it only reads the struct and the source.
        unsafe { ioctl_ptr(fd, sys::VMO_IOC_WRITE, ptr) }
    }
}

/// Whether `cmd` is `_IOWR` (the kernel writes results back).
fn writes_back(cmd: u32) -> bool {
    cmd >> 30 == 3
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the whole range is this arena's (munmap skips the hole);
        // nothing refers to it any more.
        let _ = unsafe { munmap(self.base.cast(), Arena::PAGES * self.page) };
    }
}

/// `VMO_IOC_PAGER_QUERY_STATS` into a local buffer of 8 bytes of which `buffer_size` (at most
/// 8) are named (fewer than 4 is `BUFFER_TOO_SMALL`); returns the result and the first 4
/// bytes of the buffer (`modified`, or `u32::MAX` if the kernel wrote nothing).
pub fn pager_query_stats_sized(
    fd: BorrowedFd<'_>,
    mut args: sys::vmo_pager_query_stats_args,
    buffer_size: u64,
) -> (sys::IoctlResult, u32) {
    let mut buf = [u32::MAX; 2];
    args.buffer = buf.as_mut_ptr() as u64;
    args.buffer_size = buffer_size.min(size_of_val(&buf) as u64);
    // SAFETY: the buffer is `buf`, live and exclusively borrowed for the call, and at most its
    // size is named; any bytes are a valid `u32`.
    let r = unsafe { sys::pager_query_stats_raw(fd, args) };
    (r, buf[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `VMO_IOC_*` number of the ABI is in `KNOWN_CMDS`, read from the generated mirror
    /// of the header itself: an ioctl added to the header and not here would let the
    /// unknown-ioctl calls make it (they once made IMPORT, whose number was missing).
    #[test]
    fn known_cmds_cover_every_ioctl_of_the_header() {
        let uapi = include_str!("../../vmo/src/sys/uapi.rs");
        let mut n = 0;
        for line in uapi.lines() {
            let Some(rest) = line.strip_prefix("pub const VMO_IOC_") else { continue };
            let Some((name, value)) = rest.split_once(": u32 = ") else { continue };
            if name == "MAGIC" {
                continue;
            }
            let cmd: u32 = value.trim_end_matches(';').parse().expect("a number");
            assert!(KNOWN_CMDS.contains(&cmd), "VMO_IOC_{name} ({cmd:#x}) is not in KNOWN_CMDS");
            n += 1;
        }
        assert_eq!(n, KNOWN_CMDS.len(), "KNOWN_CMDS has numbers the header does not");
    }

    #[test]
    fn readable_places() {
        let p = 4096;
        assert!(Place::ReadOnly.readable(p - RO_BUF_OFFSET as u64, p));
        assert!(!Place::ReadOnly.readable(p, p));
        assert!(Place::Straddle(10).readable(10, p) && !Place::Straddle(10).readable(11, p));
        assert!(Place::Null.readable(0, p) && !Place::Null.readable(1, p));
    }

    #[test]
    fn vfs_types_are_recognised() {
        assert!(vfs_handles(0x5421)); // FIONBIO
        assert!(!vfs_handles(sys::VMO_IOC_CREATE));
        assert!(writes_back(sys::VMO_IOC_CREATE) && !writes_back(sys::VMO_IOC_CLOSE));
    }

    #[test]
    fn arena_maps_and_unmaps() {
        let a = Arena::new().expect("mmap");
        assert_ne!(a.buf_addr(Place::ReadOnly), 0);
        drop(a);
    }
}
