//! The Fuchsia cases ([`vmo_bench::catalog::fuchsia`]): the objects each
//! makes before its loop, and one run of its loop body per timed
//! repetition, step by step, on the VMO side and on each Linux side.
//!
//! # The byte views of mappings
//!
//! The `memcpy` cases copy through `MappedRegion::as_slice`/`as_mut_slice`,
//! which ask that nothing write (or, for the mutable view, read) the mapped
//! pages while the view lives. Every object mapped here is made by the case
//! and stays in this single-threaded program (handles in its own table, fds
//! close-on-exec and never passed on, no fork), and each copy runs between
//! two different objects: the mapped one and a buffer, a second VMO or a
//! second memfd. So while a view lives only the copy itself touches the
//! mapped pages.

use std::hint::black_box;
use std::io;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};

use rustix::fs::{FallocateFlags, fallocate};
use vmo::sys::{MapFlags, MappedRegion, ProtFlags};
use vmo::{Mapping as VmoMapping, Vmo, VmoChildOptions, VmoOptions};
use vmo_bench::catalog::VMO;
use vmo_bench::catalog::fuchsia::{
    Body, Case, MANY_MAPPINGS, MAP_PRIVATE, MEMFD, MEMFD_COPY, ParentMap,
};
use vmo_bench::record::Policy;

use super::Res;
use super::figures::{Bench, Laps, run_steps};
use super::sys::{Populate, Reserved, ZeroPages, memfd, populate};

/// One series of samples per step of the case, in its order; `None` for a
/// step the side has no counterpart of.
pub type Figures = Vec<Option<Vec<u64>>>;

/// The samples of `case` at `size` bytes on `side`.
pub fn measure(b: &Bench, case: &Case, side: &str, size: u64, p: &Policy) -> Res<Figures> {
    let steps = case.steps.len().max(1);
    let all = |series: Vec<Vec<u64>>| series.into_iter().map(Some).collect();
    match case.body {
        Body::ReadWrite { write, zero_page } => {
            read_write(b, side, size, write, zero_page, p).map(all)
        }
        Body::Map { write, range, kernel } => {
            map_copy(b, side, size, write, range, kernel, p).map(all)
        }
        Body::Memcpy { precommit } => memcpy(b, side, size, precommit, steps, p).map(all),
        Body::Clone { map } => clone(b, side, size, map, steps, p).map(all),
        Body::MapClone => {
            let mut f: Figures = map_clone(b, side, size, p).map(all)?;
            if side == MAP_PRIVATE {
                // The private mapping was the clone: nothing to close.
                f[3] = None;
            }
            Ok(f)
        }
        Body::CloneReadWrite { write, clone, all: whole } => {
            clone_rw(b, side, size, write, clone, whole, p).map(all)
        }
        Body::CreateWriteReadClose => create_write_read_close(b, side, size, p).map(all),
        Body::ManyMappings => many_mappings(b, side, p).map(all),
    }
}

/// The error of a side a case does not know.
fn no_side(side: &str) -> Box<dyn std::error::Error> {
    format!("no way to measure side {side}").into()
}

/// A buffer of `len` written bytes (distinct pages, as `memset` leaves
/// Fuchsia's).
fn buffer(len: usize, byte: u8) -> Vec<u8> {
    vec![byte; len]
}

/// `pread` of all of `buf` from `off`.
fn pread_exact(fd: BorrowedFd<'_>, buf: &mut [u8], off: u64) -> Res<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = rustix::io::pread(fd, &mut buf[done..], off + done as u64)?;
        if n == 0 {
            return Err("pread read nothing".into());
        }
        done += n;
    }
    Ok(())
}

/// `pwrite` of all of `buf` at `off`.
fn pwrite_exact(fd: BorrowedFd<'_>, buf: &[u8], off: u64) -> Res<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = rustix::io::pwrite(fd, &buf[done..], off + done as u64)?;
        if n == 0 {
            return Err("pwrite wrote nothing".into());
        }
        done += n;
    }
    Ok(())
}

/// `vmo::sys::mmap` of the first `len` bytes of `fd` with `flags`,
/// read-write or read-only.
fn map_fd(fd: BorrowedFd<'_>, len: usize, writable: bool, flags: MapFlags) -> Res<MappedRegion> {
    let prot = if writable { ProtFlags::READ | ProtFlags::WRITE } else { ProtFlags::READ };
    Ok(vmo::sys::mmap(fd, 0, len, prot, flags).map_err(io::Error::from)?)
}

/// A memfd of `size` bytes with every page allocated (a COMMITted VMO's
/// counterpart).
fn memfd_allocated(size: u64) -> Res<OwnedFd> {
    let fd = memfd(size)?;
    fallocate(&fd, FallocateFlags::empty(), 0, size)?;
    Ok(fd)
}

/// A new memfd holding a copy of the first `size` bytes of `src`, made by
/// `copy_file_range` (an eager copy in the kernel).
fn memfd_copy(src: BorrowedFd<'_>, size: u64) -> Res<OwnedFd> {
    let dst = memfd(size)?;
    let (mut off_in, mut off_out) = (0u64, 0u64);
    while off_in < size {
        let left = usize::try_from(size - off_in)?;
        let n =
            rustix::fs::copy_file_range(src, Some(&mut off_in), &dst, Some(&mut off_out), left)?;
        if n == 0 {
            return Err("copy_file_range copied nothing".into());
        }
    }
    Ok(dst)
}

/// `Vmo/Read`, `Vmo/Write`, `Vmo/Write/ZeroPage`: one read or write of the
/// whole object.
fn read_write(
    b: &Bench,
    side: &str,
    size: u64,
    write: bool,
    zero_page: bool,
    p: &Policy,
) -> Res<Vec<Vec<u64>>> {
    let len = usize::try_from(size)?;
    let mut buf = buffer(len, 0xa);
    // The zero-page source of `Vmo/Write/ZeroPage` (of its set-up's write too).
    let zeros = if zero_page { Some(ZeroPages::new(len)?) } else { None };
    match side {
        VMO => {
            let v = Vmo::create(b.device(), size, VmoOptions::empty())?;
            match &zeros {
                Some(z) => v.write(z.as_slice(), 0)?,
                None => v.write(&buf, 0)?,
            }
            match (&zeros, write) {
                (Some(z), _) => run_steps(p, 1, || Ok(()), |_, _| Ok(v.write(z.as_slice(), 0)?)),
                (None, true) => run_steps(p, 1, || Ok(()), |_, _| Ok(v.write(&buf, 0)?)),
                (None, false) => run_steps(
                    p,
                    1,
                    || Ok(()),
                    |_, _| {
                        v.read(&mut buf, 0)?;
                        black_box(&buf);
                        Ok(())
                    },
                ),
            }
        }
        MEMFD => {
            let fd = memfd(size)?;
            match &zeros {
                Some(z) => pwrite_exact(fd.as_fd(), z.as_slice(), 0)?,
                None => pwrite_exact(fd.as_fd(), &buf, 0)?,
            }
            match (&zeros, write) {
                (Some(z), _) => {
                    run_steps(p, 1, || Ok(()), |_, _| pwrite_exact(fd.as_fd(), z.as_slice(), 0))
                }
                (None, true) => {
                    run_steps(p, 1, || Ok(()), |_, _| pwrite_exact(fd.as_fd(), &buf, 0))
                }
                (None, false) => run_steps(
                    p,
                    1,
                    || Ok(()),
                    |_, _| {
                        pread_exact(fd.as_fd(), &mut buf, 0)?;
                        black_box(&buf);
                        Ok(())
                    },
                ),
            }
        }
        _ => Err(no_side(side)),
    }
}

/// The other end of a kernel copy: a second VMO or a second memfd.
#[derive(Clone, Copy)]
enum Via<'a> {
    Vmo(&'a Vmo),
    Fd(BorrowedFd<'a>),
}

/// The copy of the map-and-copy cases, between the whole of `r` (the
/// case's own mapping) and `buf` (`kernel`: `None`) or the second object.
fn transfer(r: &mut MappedRegion, write: bool, buf: &mut [u8], kernel: Option<Via<'_>>) -> Res<()> {
    match (kernel, write) {
        (None, false) => {
            // SAFETY: `r` maps the case's own object; the copy goes to
            // `buf`, another object (the module's comment).
            buf.copy_from_slice(unsafe { r.as_slice() });
            black_box(buf);
        }
        // SAFETY: as above, from `buf`.
        (None, true) => unsafe { r.as_mut_slice() }.copy_from_slice(buf),
        // SAFETY: as above; the kernel copies from the mapping into the
        // second VMO.
        (Some(Via::Vmo(t)), false) => t.write(unsafe { r.as_slice() }, 0)?,
        // SAFETY: as above; the kernel copies from the second VMO (never
        // written) into the mapping.
        (Some(Via::Vmo(t)), true) => t.read(unsafe { r.as_mut_slice() }, 0)?,
        // SAFETY: as above, to the second memfd.
        (Some(Via::Fd(fd)), false) => pwrite_exact(fd, unsafe { r.as_slice() }, 0)?,
        // SAFETY: as above, from the second memfd.
        (Some(Via::Fd(fd)), true) => pread_exact(fd, unsafe { r.as_mut_slice() }, 0)?,
    }
    Ok(())
}

/// `VmoMap/*` and `VmoMapRange/*`: map, copy, unmap.
fn map_copy(
    b: &Bench,
    side: &str,
    size: u64,
    write: bool,
    range: bool,
    kernel: bool,
    p: &Policy,
) -> Res<Vec<Vec<u64>>> {
    let len = usize::try_from(size)?;
    let mut buf = buffer(len, 0);
    let populate = if range { MapFlags::POPULATE } else { MapFlags::empty() };
    match side {
        VMO => {
            let v = Vmo::create(b.device(), size, VmoOptions::empty())?;
            v.write(&buf, 0)?;
            let second = Vmo::create(b.device(), size, VmoOptions::empty())?;
            let via = kernel.then_some(Via::Vmo(&second));
            run_steps(
                p,
                1,
                || Ok(()),
                |_, _| {
                    if range {
                        let fd = v.export_fd()?;
                        let mut r = map_fd(fd.as_fd(), len, true, MapFlags::SHARED | populate)?;
                        drop(fd);
                        transfer(&mut r, write, &mut buf, via)
                    } else {
                        let mut m = v.map(0, len, true)?;
                        transfer(m.region_mut(), write, &mut buf, via)
                    }
                },
            )
        }
        MEMFD => {
            let fd = memfd(size)?;
            pwrite_exact(fd.as_fd(), &buf, 0)?;
            let second = memfd(size)?;
            let via = kernel.then_some(Via::Fd(second.as_fd()));
            run_steps(
                p,
                1,
                || Ok(()),
                |_, _| {
                    let mut r = map_fd(fd.as_fd(), len, true, MapFlags::SHARED | populate)?;
                    transfer(&mut r, write, &mut buf, via)
                },
            )
        }
        _ => Err(no_side(side)),
    }
}

/// `Vmo/Memcpy/*`: create and map, (precommit,) `memcpy`, unmap and
/// destroy.
fn memcpy(
    b: &Bench,
    side: &str,
    size: u64,
    precommit: bool,
    steps: usize,
    p: &Policy,
) -> Res<Vec<Vec<u64>>> {
    let len = usize::try_from(size)?;
    let src = buffer(len, 0xff);
    match side {
        VMO => run_steps(
            p,
            steps,
            || Ok(()),
            |_, laps| {
                let v = Vmo::create(b.device(), size, VmoOptions::empty())?;
                let mut m = v.map(0, len, true)?;
                laps.lap();
                if precommit {
                    populate(m.region(), Populate::Write)?;
                    laps.lap();
                }
                // SAFETY: `m` maps the VMO made just above; the copy comes from
                // `src` (the module's comment).
                unsafe { m.region_mut().as_mut_slice() }.copy_from_slice(&src);
                laps.lap();
                drop(m);
                drop(v);
                Ok(())
            },
        ),
        MEMFD => run_steps(
            p,
            steps,
            || Ok(()),
            |_, laps| {
                let fd = memfd(size)?;
                let mut r = map_fd(fd.as_fd(), len, true, MapFlags::SHARED)?;
                laps.lap();
                if precommit {
                    populate(&r, Populate::Write)?;
                    laps.lap();
                }
                // SAFETY: as on the VMO side, for the memfd made just above.
                unsafe { r.as_mut_slice() }.copy_from_slice(&src);
                laps.lap();
                drop(r);
                drop(fd);
                Ok(())
            },
        ),
        _ => Err(no_side(side)),
    }
}

/// The parent of the clone cases: a COMMITted VMO or a fallocated memfd.
enum Parent {
    Vmo(Vmo),
    Memfd(OwnedFd),
}

/// A clone: a SNAPSHOT child, a `MAP_PRIVATE` mapping of the parent memfd,
/// or a copy of it in a new memfd.
enum Child {
    Vmo(Vmo),
    Private(MappedRegion),
    Copy(OwnedFd),
}

/// How a side clones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CloneKind {
    Snapshot,
    Private,
    Copy,
}

impl CloneKind {
    fn of(side: &str) -> Res<CloneKind> {
        match side {
            VMO => Ok(CloneKind::Snapshot),
            MAP_PRIVATE => Ok(CloneKind::Private),
            MEMFD_COPY => Ok(CloneKind::Copy),
            _ => Err(no_side(side)),
        }
    }
}

impl Parent {
    /// The parent of `kind`'s side, `size` bytes, every page committed.
    fn new(b: &Bench, kind: CloneKind, size: u64) -> Res<Parent> {
        Ok(match kind {
            CloneKind::Snapshot => {
                let v = Vmo::create(b.device(), size, VmoOptions::empty())?;
                v.commit(0, size)?;
                Parent::Vmo(v)
            }
            CloneKind::Private | CloneKind::Copy => Parent::Memfd(memfd_allocated(size)?),
        })
    }

    /// Maps the parent into `r` in chunks of `chunk` bytes (the VMO through
    /// a fd exported for it, closed again).
    fn map_chunks(&self, r: &mut Reserved, chunk: usize) -> Res<()> {
        match self {
            Parent::Vmo(v) => {
                let fd = v.export_fd()?;
                r.map_chunks(fd.as_fd(), chunk)
            }
            Parent::Memfd(fd) => r.map_chunks(fd.as_fd(), chunk),
        }
    }

    /// A clone of the first `size` bytes: a SNAPSHOT child of the VMO, or of
    /// the memfd a `MAP_PRIVATE` mapping (`writable` or read-only) or a
    /// copy.
    fn clone(&self, kind: CloneKind, size: u64, writable: bool) -> Res<Child> {
        Ok(match (self, kind) {
            (Parent::Vmo(v), _) => {
                Child::Vmo(v.create_child(VmoChildOptions::SNAPSHOT, 0, size)?)
            }
            (Parent::Memfd(fd), CloneKind::Private) => {
                let len = usize::try_from(size)?;
                Child::Private(map_fd(fd.as_fd(), len, writable, MapFlags::PRIVATE)?)
            }
            (Parent::Memfd(fd), _) => Child::Copy(memfd_copy(fd.as_fd(), size)?),
        })
    }
}

/// `Vmo/Clone`, `Vmo/Clone/MapParent*`: (map the parent,) clone, close,
/// (unmap).
fn clone(
    b: &Bench,
    side: &str,
    size: u64,
    map: ParentMap,
    steps: usize,
    p: &Policy,
) -> Res<Vec<Vec<u64>>> {
    let kind = CloneKind::of(side)?;
    let len = usize::try_from(size)?;
    let chunk = match map {
        ParentMap::No => None,
        ParentMap::Whole => Some(len),
        ParentMap::Chunks(c) => Some(usize::try_from(c)?),
    };
    if chunk.is_some_and(|c| c as u64 % b.page() != 0) {
        return Err(format!("map chunks of {} B are not whole pages", chunk.unwrap_or(0)).into());
    }
    let parent = Parent::new(b, kind, size)?;
    // A fresh reservation per run: the unmap step gives the range back.
    let setup = || chunk.map(|_| Reserved::new(len)).transpose();
    run_steps(p, steps, setup, |reserved, laps| {
        if let (Some(r), Some(c)) = (reserved.as_mut(), chunk) {
            parent.map_chunks(r, c)?;
            laps.lap();
        }
        let child = parent.clone(kind, size, true)?;
        laps.lap();
        drop(child);
        if let Some(r) = reserved.as_mut() {
            laps.lap();
            r.unmap()?;
        }
        Ok(())
    })
}

/// `Vmo/MapClone`: clone, map the clone (populated), unmap, close.
fn map_clone(b: &Bench, side: &str, size: u64, p: &Policy) -> Res<Vec<Vec<u64>>> {
    let kind = CloneKind::of(side)?;
    let len = usize::try_from(size)?;
    let parent = Parent::new(b, kind, size)?;
    let shared_populated = MapFlags::SHARED | MapFlags::POPULATE;
    run_steps(
        p,
        4,
        || Ok(()),
        |_, laps| {
            let child = parent.clone(kind, size, false)?;
            laps.lap();
            match child {
                Child::Vmo(c) => {
                    let fd = c.export_fd()?;
                    let r = map_fd(fd.as_fd(), len, false, shared_populated)?;
                    drop(fd);
                    laps.lap();
                    drop(r);
                    laps.lap();
                    drop(c);
                }
                Child::Copy(c) => {
                    let r = map_fd(c.as_fd(), len, false, shared_populated)?;
                    laps.lap();
                    drop(r);
                    laps.lap();
                    drop(c);
                }
                Child::Private(r) => {
                    // The mapping is the clone: mapping it is filling its page
                    // tables.
                    populate(&r, Populate::Read)?;
                    laps.lap();
                    drop(r);
                    laps.lap();
                }
            }
            Ok(())
        },
    )
}

/// What the clone-read/write cases read or write.
enum Target<'a> {
    Vmo(&'a Vmo),
    Fd(BorrowedFd<'a>),
    Map(&'a mut MappedRegion),
}

/// Reads or writes `buf.len()` bytes of `t` from offset 0: all at once
/// (`all`), or one page at every eighth page (Fuchsia's `kWriteInterval`).
fn target_rw(t: &mut Target<'_>, write: bool, all: bool, buf: &mut [u8], page: usize) -> Res<()> {
    let len = buf.len();
    let (stride, chunk) = if all { (len, len) } else { (8 * page, page) };
    for off in (0..len).step_by(stride) {
        let b = &mut buf[..chunk.min(len - off)];
        let n = b.len();
        match (&mut *t, write) {
            (Target::Vmo(v), false) => v.read(b, off as u64)?,
            (Target::Vmo(v), true) => v.write(b, off as u64)?,
            (Target::Fd(fd), false) => pread_exact(*fd, b, off as u64)?,
            (Target::Fd(fd), true) => pwrite_exact(*fd, b, off as u64)?,
            // SAFETY: the private mapping of the case's own memfd; the copy
            // goes to `buf` (the module's comment).
            (Target::Map(r), false) => b.copy_from_slice(&unsafe { r.as_slice() }[off..off + n]),
            (Target::Map(r), true) => {
                // SAFETY: as above, from `buf`; the write copies the page
                // into the private mapping.
                let mapped = unsafe { r.as_mut_slice() };
                mapped[off..off + n].copy_from_slice(b);
            }
        }
    }
    black_box(buf);
    Ok(())
}

/// `Vmo/Clone/{Read,Write}{Orig,Clone}{Some,All}`: clone, read or write,
/// close.
fn clone_rw(
    b: &Bench,
    side: &str,
    size: u64,
    write: bool,
    on_clone: bool,
    all: bool,
    p: &Policy,
) -> Res<Vec<Vec<u64>>> {
    let kind = CloneKind::of(side)?;
    let page = usize::try_from(b.page())?;
    let mut buf = buffer(usize::try_from(size)?, 0);
    let parent = Parent::new(b, kind, size)?;
    run_steps(
        p,
        3,
        || Ok(()),
        |_, laps| {
            let mut child = parent.clone(kind, size, true)?;
            laps.lap();
            let mut target = match (on_clone, &parent, &mut child) {
                (false, Parent::Vmo(v), _) => Target::Vmo(v),
                (false, Parent::Memfd(fd), _) => Target::Fd(fd.as_fd()),
                (true, _, Child::Vmo(c)) => Target::Vmo(c),
                (true, _, Child::Copy(fd)) => Target::Fd((*fd).as_fd()),
                (true, _, Child::Private(r)) => Target::Map(r),
            };
            target_rw(&mut target, write, all, &mut buf, page)?;
            laps.lap();
            drop(child);
            Ok(())
        },
    )
}

/// `Vmo/CreateWriteReadClose`.
fn create_write_read_close(b: &Bench, side: &str, size: u64, p: &Policy) -> Res<Vec<Vec<u64>>> {
    let mut buf = buffer(usize::try_from(size)?, 0xa);
    match side {
        VMO => run_steps(
            p,
            4,
            || Ok(()),
            |_, laps| {
                let v = Vmo::create(b.device(), size, VmoOptions::empty())?;
                laps.lap();
                v.write(&buf, 0)?;
                laps.lap();
                v.read(&mut buf, 0)?;
                laps.lap();
                drop(v);
                Ok(())
            },
        ),
        MEMFD => run_steps(
            p,
            4,
            || Ok(()),
            |_, laps| {
                let fd = memfd(size)?;
                laps.lap();
                pwrite_exact(fd.as_fd(), &buf, 0)?;
                laps.lap();
                pread_exact(fd.as_fd(), &mut buf, 0)?;
                laps.lap();
                drop(fd);
                Ok(())
            },
        ),
        _ => Err(no_side(side)),
    }
}

/// A fixed-seed xorshift64: the same "random" pages on both sides and in
/// every run of the benchmark.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// `Vmo/ManyMappingsReadWriteDecommit/8192`: read, write, decommit a random
/// page of an object mapped one page per mapping.
fn many_mappings(b: &Bench, side: &str, p: &Policy) -> Res<Vec<Vec<u64>>> {
    let page = b.page();
    let size = MANY_MAPPINGS * page;
    let page_len = usize::try_from(page)?;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut pick = move || rng.next() % MANY_MAPPINGS;
    // Read 8 bytes of the page and write them back, a lap after each.
    let touch = |m: &VmoMapping, laps: &mut Laps| -> Res<()> {
        let mut data = [0u8; 8];
        m.read_at(0, &mut data)?;
        laps.lap();
        m.write_at(0, &data)?;
        laps.lap();
        Ok(())
    };
    match side {
        VMO => {
            let v = Vmo::create(b.device(), size, VmoOptions::empty())?;
            let maps = (0..MANY_MAPPINGS)
                .map(|i| v.map(i * page, page_len, true))
                .collect::<Result<Vec<_>, _>>()?;
            run_steps(
                p,
                3,
                || Ok(()),
                |_, laps| {
                    let i = pick();
                    touch(&maps[i as usize], laps)?;
                    Ok(v.decommit(i * page, page)?)
                },
            )
        }
        MEMFD => {
            let fd = memfd(size)?;
            let maps = (0..MANY_MAPPINGS)
                .map(|i| VmoMapping::new(fd.as_fd(), i * page, page_len, true))
                .collect::<Result<Vec<_>, _>>()?;
            let punch = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
            run_steps(
                p,
                3,
                || Ok(()),
                |_, laps| {
                    let i = pick();
                    touch(&maps[i as usize], laps)?;
                    Ok(fallocate(&fd, punch, i * page, page)?)
                },
            )
        }
        _ => Err(no_side(side)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmo_bench::catalog::fuchsia::CASES;
    use vmo_bench::sysinfo::CpuFeatures;

    /// A bench without `/dev/vmo`: enough for the native sides.
    fn host_bench() -> Bench {
        let null = std::fs::File::open("/dev/null").unwrap();
        Bench::new(vmo::Device::from_fd(OwnedFd::from(null)), CpuFeatures::default())
    }

    #[test]
    fn every_native_side_runs_and_times_its_steps() {
        let b = host_bench();
        let p = Policy { warmup: 1, min_reps: 2, max_reps: 2, budget_ms: 0, warmup_max_size: 0 };
        for case in CASES {
            let size = case.sizes(b.page())[0];
            for n in case.natives {
                let f = measure(&b, case, n.side, size, &p)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", case.name, n.side));
                assert_eq!(f.len(), case.step_names().len(), "{} {}", case.name, n.side);
                for (step, s) in case.step_names().into_iter().zip(&f) {
                    // Only the private mapping of Vmo/MapClone has a step
                    // with no counterpart (close).
                    let absent = case.name == "Vmo/MapClone"
                        && n.side == MAP_PRIVATE
                        && step == Some("close");
                    assert_eq!(s.is_none(), absent, "{} {} {step:?}", case.name, n.side);
                    if let Some(s) = s {
                        assert_eq!(s.len(), 2, "{} {} {step:?}", case.name, n.side);
                    }
                }
            }
            assert!(measure(&b, case, "nope", size, &p).is_err());
        }
    }

    #[test]
    fn xorshift_spreads_over_the_pages() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            seen.insert(rng.next() % MANY_MAPPINGS);
        }
        assert!(seen.len() > 900, "{}", seen.len());
    }

    #[test]
    fn some_touches_one_page_in_eight() {
        let page = 4096;
        let mut buf = vec![0u8; 64 * 1024];
        let fd = memfd(64 * 1024).unwrap();
        pwrite_exact(fd.as_fd(), &[7u8; 64 * 1024], 0).unwrap();
        let mut t = Target::Fd(fd.as_fd());
        target_rw(&mut t, false, false, &mut buf, page).unwrap();
        // Pages 0 and 8 read, the rest of the buffer untouched.
        assert!(buf[..page].iter().all(|&b| b == 7));
        assert!(buf[page..].iter().all(|&b| b == 0));
        target_rw(&mut t, true, false, &mut vec![1u8; 64 * 1024], page).unwrap();
        let mut back = vec![0u8; 64 * 1024];
        pread_exact(fd.as_fd(), &mut back, 0).unwrap();
        for (i, chunk) in back.chunks(page).enumerate() {
            let want = if i % 8 == 0 { 1 } else { 7 };
            assert!(chunk.iter().all(|&b| b == want), "page {i}");
        }
    }

    #[test]
    fn memfd_copy_and_private_clone() {
        let size = 3 * 4096 + 100;
        let src = memfd(size).unwrap();
        let data: Vec<u8> = (0..size as usize).map(|i| (i % 251) as u8).collect();
        pwrite_exact(src.as_fd(), &data, 0).unwrap();
        let copy = memfd_copy(src.as_fd(), size).unwrap();
        let mut back = vec![0u8; size as usize];
        pread_exact(copy.as_fd(), &mut back, 0).unwrap();
        assert_eq!(back, data);
        // A write through the MAP_PRIVATE clone stays in it.
        let parent = Parent::Memfd(src);
        let Child::Private(mut r) = parent.clone(CloneKind::Private, 4096, true).unwrap() else {
            panic!("not a private mapping");
        };
        let mut t = Target::Map(&mut r);
        target_rw(&mut t, true, true, &mut vec![9u8; 4096], 4096).unwrap();
        let Parent::Memfd(src) = &parent else { unreachable!() };
        pread_exact(src.as_fd(), &mut back[..4096], 0).unwrap();
        assert_eq!(back[..4096], data[..4096]);
    }
}
