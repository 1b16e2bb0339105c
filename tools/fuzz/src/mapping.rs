//! Mapping episodes: the entry points of a VMO that are not ioctls of
//! `/dev/vmo` — `EXPORT`, then `mmap` of the fd, and on the mapping and the
//! fd what a process may do to them: reads and writes through the mapping,
//! every `madvise` advice, `mremap` growth, `remap_file_pages`, `mprotect`,
//! `ftruncate`, `fallocate` — each predicted from the model of windows and
//! rights (SECURITY.md), with the model's pages kept exact, so that anything
//! a mapping reached past its window or its rights shows up in a later
//! `READ` of the page owner (or in the mapping's own reads here).
//!
//! Only this worker's own VMOs (exact content, not the shared pool) are
//! mapped. A mapping is at most [`MAX_MAP_PAGES`] pages, and only pages
//! inside the VMO are touched (past its end is `SIGBUS`).
#![allow(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use vmo::sys::{self, MapFlags, MappedRegion, ProtFlags};

use super::Worker;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Readers forked so far, by every worker of this process.
///
/// A forked child holds every mapping and fd of the whole process until it exits, so for that
/// time the VMOs behind them live on even after their worker closed them: a snapshot child a
/// worker closed keeps its parent's DECOMMIT `NOT_SUPPORTED` and counts in its `num_children`.
/// An ioctl during which a fork was alive (forks started by its end outnumber forks ended by its
/// start, [`forks_overlapped`]) may see that.
pub static FORKS_STARTED: AtomicU64 = AtomicU64::new(0);
/// Readers forked and reaped (their references to the process's VMOs are gone by then).
pub static FORKS_ENDED: AtomicU64 = AtomicU64::new(0);

/// Whether a forked child may have been alive since `ended_before` was read from
/// [`FORKS_ENDED`].
pub fn forks_overlapped(ended_before: u64) -> bool {
    FORKS_STARTED.load(SeqCst) > ended_before
}
use crate::model::*;
use crate::report::*;

/// The longest mapping an episode makes.
const MAX_MAP_PAGES: u64 = 16;
/// Linux's `EPERM`.
const EPERM: i32 = 1;
/// Linux's `EBADF`.
const EBADF: i32 = 9;
/// Linux's `EACCES`.
const EACCES: i32 = 13;
/// Linux's `EINVAL`.
const EINVAL: i32 = 22;
/// Linux's `EOPNOTSUPP`.
const EOPNOTSUPP: i32 = 95;
/// `MADV_COLLAPSE` (not in every libc).
const MADV_COLLAPSE: i32 = 25;

/// Every madvise advice a process may give a shared file mapping, and some
/// that it may not.
const ADVICE: [i32; 22] = [
    libc::MADV_NORMAL,
    libc::MADV_RANDOM,
    libc::MADV_SEQUENTIAL,
    libc::MADV_WILLNEED,
    libc::MADV_DONTNEED,
    libc::MADV_FREE,
    libc::MADV_REMOVE,
    libc::MADV_DONTFORK,
    libc::MADV_DOFORK,
    libc::MADV_MERGEABLE,
    libc::MADV_UNMERGEABLE,
    libc::MADV_HUGEPAGE,
    libc::MADV_NOHUGEPAGE,
    libc::MADV_DONTDUMP,
    libc::MADV_DODUMP,
    libc::MADV_WIPEONFORK,
    libc::MADV_KEEPONFORK,
    libc::MADV_COLD,
    libc::MADV_PAGEOUT,
    libc::MADV_POPULATE_READ,
    libc::MADV_POPULATE_WRITE,
    MADV_COLLAPSE,
];

/// The advice that changes a VMA's flags.
const FLAG_ADVICE: [i32; 12] = [
    libc::MADV_NORMAL,
    libc::MADV_RANDOM,
    libc::MADV_SEQUENTIAL,
    libc::MADV_DONTFORK,
    libc::MADV_DOFORK,
    libc::MADV_MERGEABLE,
    libc::MADV_UNMERGEABLE,
    libc::MADV_HUGEPAGE,
    libc::MADV_NOHUGEPAGE,
    libc::MADV_DONTDUMP,
    libc::MADV_DODUMP,
    libc::MADV_KEEPONFORK,
];

/// The errno of the last libc call.
fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// One live mapping of an episode.
struct Map {
    region: MappedRegion,
    /// The VMO page the mapping starts at.
    first: u64,
    pages: u64,
    /// MADV_DONTFORK is in force: a child does not inherit the mapping.
    dontfork: bool,
}

impl Worker {
    /// A random live handle of this worker to a VMO of its own whose content the model knows
    /// exactly (not the shared pool's), if there is one.
    pub(super) fn own_exact_vmo(&mut self) -> Option<H> {
        let candidates: Vec<usize> = (0..self.m.handles.len())
            .filter(|&i| {
                let o = self.m.obj(self.m.handles[i].obj);
                // Not discardable VMOs: a discard makes their mappings SIGBUS.
                o.kind != Kind::Event
                    && o.pool_slot.is_none()
                    && !o.discardable
                    && self.m.content_known(o.owner)
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(self.m.handles[candidates[self.rng.index(candidates.len())]])
    }

    /// One mapping episode on a live handle of this worker (see the module
    /// documentation). Returns false if the worker has no handle to use.
    pub(super) fn map_episode(&mut self) -> bool {
        let Some(h) = self.own_exact_vmo() else {
            return false;
        };
        let (obj, rights) = (h.obj, h.rights);
        let (kind, size) = (self.m.obj(obj).kind, self.m.obj(obj).size);
        let size_pages = size / pg();

        // EXPORT: MAP, READ, DUPLICATE and TRANSFER.
        let flags = if self.rng.chance(1, 2) { sys::VMO_EXPORT_CLOEXEC } else { 0 };
        let r = sys::export_owned(self.dev.as_fd(), h.raw, flags);
        let need = sys::VMO_RIGHT_MAP | R_READ | R_DUPLICATE | sys::VMO_RIGHT_TRANSFER;
        let want = if rights & need == need { OK } else { ACCESS_DENIED };
        let got = r.as_ref().err().map_or(OK, |e| e.raw_os_error());
        self.direct(
            Ioctl::Export,
            None,
            got,
            want,
            &format!("EXPORT of {kind:?} obj {obj} rights {rights:#x}"),
        );
        let Ok(fd) = r else { return true };
        let fd_writable = rights & R_WRITE != 0;
        // Only an fd of a handle with EXECUTE is on the filesystem instance that is not noexec.
        let fd_exec = rights & R_EXECUTE != 0;
        if self.rng.chance(1, 3) {
            self.import(&fd, obj, rights);
        }

        // mmap: the fd's checks after mm's own.
        let first = self.rng.below(size_pages + 3);
        // At least two pages: a one-page mapping could land in the arena's one-page hole
        // (raw.rs), which must stay unmapped.
        let pages = match self.rng.below(10) {
            0 => 0,
            _ => 2 + self.rng.below(MAX_MAP_PAGES - 1),
        };
        let unaligned = self.rng.chance(1, 20);
        let offset = first * pg() + u64::from(unaligned);
        let write = self.rng.chance(1, 2);
        let exec = self.rng.chance(1, 12);
        let private = self.rng.chance(1, 10);
        let mut prot = ProtFlags::READ;
        if write {
            prot |= ProtFlags::WRITE;
        }
        if exec {
            prot |= ProtFlags::EXEC;
        }
        let mflags = if private { MapFlags::PRIVATE } else { MapFlags::SHARED };
        let want = if pages == 0 || unaligned {
            EINVAL
        } else if !private && write && !fd_writable {
            EACCES
        } else if exec && !fd_exec {
            EPERM // the fd's filesystem instance is noexec
        } else if private || (kind == Kind::Slice && first + pages > size_pages) {
            // No copy-on-write view; a slice maps only inside its window.
            EINVAL
        } else {
            OK
        };
        let r = sys::mmap(fd.as_fd(), offset, (pages * pg()) as usize, prot, mflags);
        let got = r.as_ref().err().map_or(OK, |e| e.raw_os_error());
        let what = format!(
            "mmap of {kind:?} ({size_pages} pages) at page {first}{} for {pages} pages, \
             write {write} exec {exec} private {private}, fd writable {fd_writable}",
            if unaligned { "+1" } else { "" }
        );
        self.direct(Ioctl::Mmap, None, got, want, &what);
        let Ok(region) = r else { return true };
        let mut map = Some(Map { region, first, pages, dontfork: false });

        for _ in 0..1 + self.rng.below(6) {
            if self.cfg.trace {
                let mut info = sys::vmo_info { handle: h.raw, ..Default::default() };
                let _ = sys::get_info(self.dev.as_fd(), &mut info);
                println!("trace: committed {:#x}", info.committed_bytes);
            }
            let Some(m) = map.as_mut() else { break };
            match self.rng.below(10) {
                0 | 1 => self.map_read(obj, m),
                2 | 3 => self.map_write(obj, m),
                4 | 5 => self.map_madvise(obj, m, size_pages, fd_writable),
                6 => self.map_mremap(m),
                7 => {
                    if !self.map_remap_file_pages(obj, kind, m, size_pages, fd_writable) {
                        // A failed remap leaves the range unmapped, as any failed MAP_FIXED.
                        if let Some(m) = map.take() {
                            std::mem::forget(m.region);
                        }
                    }
                }
                8 => self.map_mprotect(m, fd_writable, fd_exec),
                9 if self.rng.chance(1, 3) => self.map_fork_read(obj, m),
                _ => self.fd_calls(&fd, fd_writable),
            }
        }
        drop(map);
        true
    }

    /// IMPORT of the fd into this worker's table with a random rights mask:
    /// the fd's rights reduced (INVALID_ARGS for more), naming the same VMO.
    fn import(&mut self, fd: &OwnedFd, obj: ObjId, rights: u32) {
        let req = match self.rng.below(4) {
            0 => SAME_RIGHTS,
            1 => rights & self.rng.next_u32(),
            2 => self.rng.next_u32(),
            _ => rights,
        };
        let mut a = sys::vmo_import_args { fd: fd.as_raw_fd(), rights: req, ..Default::default() };
        let got = sys::import(self.dev.as_fd(), &mut a).err().map_or(OK, sys::Errno::raw_os_error);
        let new = reduce(rights, req);
        let want = if new.is_some() { OK } else { INVALID_ARGS };
        self.direct(
            Ioctl::Import,
            None,
            got,
            want,
            &format!("IMPORT with rights {req:#x} of an fd with {rights:#x}"),
        );
        if got == OK {
            self.m.add_handle(a.handle, obj, new.unwrap_or(rights));
        }
    }

    /// A forked child reads a page through the inherited mapping (fork keeps
    /// shared mappings) and reports a checksum, which must match the model.
    fn map_fork_read(&mut self, obj: ObjId, m: &Map) {
        let size_pages = self.m.obj(obj).size / pg();
        let n = Self::inside(m, size_pages);
        if n == 0 || m.dontfork {
            return;
        }
        let k = self.rng.below(n);
        let vmo_page = m.first + k;
        let mut pipe = [0i32; 2];
        // SAFETY: a plain pipe.
        if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
            return;
        }
        let p = pg() as usize;
        let page = m.region.as_ptr().wrapping_add(k as usize * p);
        FORKS_STARTED.fetch_add(1, SeqCst);
        // SAFETY: the child only reads the page (inside the VMO, so no SIGBUS) with volatile
        // loads, writes to the pipe and calls `_exit`: no allocation or lock after fork in a
        // multithreaded process. The parent reaps it.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                let mut sum: u64 = 0;
                for i in 0..p {
                    sum = sum
                        .wrapping_mul(31)
                        .wrapping_add(u64::from(std::ptr::read_volatile(page.add(i))));
                }
                let b = sum.to_le_bytes();
                libc::write(pipe[1], b.as_ptr().cast(), 8);
                libc::_exit(0);
            }
        }
        let mut b = [0u8; 8];
        let mut status = 0;
        // SAFETY: reads the child's checksum, reaps the child, closes the pipe.
        let got = unsafe {
            libc::close(pipe[1]);
            let n = if pid > 0 { libc::read(pipe[0], b.as_mut_ptr().cast(), 8) } else { -1 };
            if pid > 0 {
                libc::waitpid(pid, &mut status, 0);
            }
            FORKS_ENDED.fetch_add(1, SeqCst);
            libc::close(pipe[0]);
            n
        };
        if pid < 0 || got != 8 {
            self.direct(Ioctl::MapFork, None, -1, OK, "fork a reader of the mapping");
            return;
        }
        self.m.fault_in(obj, vmo_page, false);
        let bytes: Option<Vec<u8>> =
            (0..pg()).map(|i| self.m.byte(obj, vmo_page * pg() + i)).collect();
        let got = u64::from_le_bytes(b);
        let want = bytes
            .map(|v| v.iter().fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b))));
        let r = if want.is_none_or(|w| w == got) { OK } else { -1 };
        self.direct(
            Ioctl::MapFork,
            None,
            r,
            OK,
            &format!("a forked child's checksum of VMO page {vmo_page}"),
        );
    }

    /// The VMO pages of the mapping that lie inside the VMO.
    fn inside(m: &Map, size_pages: u64) -> u64 {
        size_pages.saturating_sub(m.first).min(m.pages)
    }

    /// Reads a page through the mapping and compares it with the model.
    fn map_read(&mut self, obj: ObjId, m: &Map) {
        let size_pages = self.m.obj(obj).size / pg();
        let n = Self::inside(m, size_pages);
        if n == 0 {
            return;
        }
        let k = self.rng.below(n);
        let mut buf = vec![0u8; pg() as usize];
        let r =
            m.region.read((k * pg()) as usize, &mut buf).err().map_or(OK, sys::Errno::raw_os_error);
        let vmo_page = m.first + k;
        let mismatch = self.m.check_read(obj, vmo_page * pg(), &buf);
        self.direct(Ioctl::MapRead, None, r, OK, "read through a mapping");
        if let Some(why) = mismatch {
            self.direct(
                Ioctl::MapRead,
                None,
                -1,
                OK,
                &format!("mapping read of page {vmo_page}: {why}"),
            );
        }
        self.m.fault_in(obj, vmo_page, false);
    }

    /// Writes a few bytes through a writable mapping; the model follows.
    fn map_write(&mut self, obj: ObjId, m: &Map) {
        let size_pages = self.m.obj(obj).size / pg();
        let n = Self::inside(m, size_pages);
        if n == 0 || !m.region.prot().contains(ProtFlags::WRITE) {
            return;
        }
        let k = self.rng.below(n);
        let at = self.rng.below(pg() - 16);
        let mut data = [0u8; 16];
        self.rng.fill(&mut data);
        let r = m
            .region
            .write((k * pg() + at) as usize, &data)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::MapWrite, None, r, OK, "write through a mapping");
        if r == OK {
            let vmo_page = m.first + k;
            // The write fault allocated (and cleared) the page if it had none.
            self.m.fault_in(obj, vmo_page, true);
            self.m.write(obj, vmo_page * pg() + at, &data);
        }
    }

    /// One madvise advice over a part of the mapping.
    fn map_madvise(&mut self, obj: ObjId, m: &mut Map, size_pages: u64, fd_writable: bool) {
        let advice = ADVICE[self.rng.index(ADVICE.len())];
        // Advice that changes the VMA's flags goes to the whole mapping: on a part of it, it
        // would split the VMA, and remap_file_pages refuses a range of VMAs whose flags differ.
        let (start, len) = if FLAG_ADVICE.contains(&advice) {
            (0, m.pages)
        } else {
            let start = self.rng.below(m.pages);
            (start, 1 + self.rng.below(m.pages - start))
        };
        // SAFETY: the range lies inside the mapping this episode owns, which holds no Rust
        // objects; no advice here unmaps it (REMOVE and DONTNEED only drop page-table entries
        // of a shared file mapping, or fail).
        let r = unsafe {
            libc::madvise(
                m.region.as_ptr().add((start * pg()) as usize).cast(),
                (len * pg()) as usize,
                advice,
            )
        };
        let got = if r == 0 { OK } else { last_errno() };
        if got == OK && advice == libc::MADV_DONTFORK {
            m.dontfork = true;
        }
        if got == OK && advice == libc::MADV_DOFORK {
            m.dontfork = false;
        }
        let want = match advice {
            libc::MADV_REMOVE if !fd_writable => Some(EACCES), // not VM_SHARED|VM_MAYWRITE
            libc::MADV_REMOVE => Some(EOPNOTSUPP),             // the fd has no fallocate
            MADV_COLLAPSE => Some(EINVAL), // VM_DONTEXPAND: no huge-page collapse
            libc::MADV_FREE | libc::MADV_WIPEONFORK => Some(EINVAL), // not for file mappings
            _ => None,
        };
        self.stats.iterations += 1;
        self.stats.reached((Ioctl::Madvise, Some(advice as u32), got));
        if self.cfg.trace {
            println!(
                "trace w{} #{}: madvise {advice} pages {start}+{len} of a mapping at VMO page {}: {}",
                self.cfg.id,
                self.iter,
                m.first,
                status_name(got)
            );
        }
        if let Some(want) = want.filter(|&want| want != got) {
            self.direct(Ioctl::Madvise, Some(advice as u32), got, want, "madvise");
        }
        if matches!(advice, libc::MADV_POPULATE_READ | libc::MADV_POPULATE_WRITE) {
            // Every page of the range inside the VMO was faulted in (all of them on success;
            // some on failure, e.g. a write populate of a read-only mapping).
            let end = (start + len).min(Self::inside(m, size_pages));
            for k in start..end {
                if got == OK {
                    self.m.fault_in(obj, m.first + k, advice == libc::MADV_POPULATE_WRITE);
                } else {
                    self.m.write_unknown(obj, (m.first + k) * pg(), pg());
                }
            }
        }
    }

    /// `mremap` may never grow a VMO mapping (VM_DONTEXPAND): EFAULT.
    fn map_mremap(&mut self, m: &Map) {
        let len = (m.pages * pg()) as usize;
        let grow = len + (1 + self.rng.below(4)) as usize * pg() as usize;
        let flags = if self.rng.chance(1, 2) { libc::MREMAP_MAYMOVE } else { 0 };
        // SAFETY: asks to grow the mapping this episode owns; the call must fail and change
        // nothing (checked: a success is a mismatch, and the episode then leaks the range
        // rather than unmapping something it no longer knows).
        let r = unsafe { libc::mremap(m.region.as_ptr().cast(), len, grow, flags) };
        let got = if r == libc::MAP_FAILED { last_errno() } else { OK };
        self.direct(Ioctl::Mremap, None, got, libc::EFAULT, "mremap growing a VMO mapping");
    }

    /// `remap_file_pages` of the whole mapping to another page offset: the
    /// fd's mmap checks it (a slice's window: EINVAL, which leaves the range
    /// unmapped). A read-only fd's mapping is not VM_SHARED: EINVAL, and the
    /// mapping stays. Returns whether the mapping is still there.
    fn map_remap_file_pages(
        &mut self,
        obj: ObjId,
        kind: Kind,
        m: &mut Map,
        size_pages: u64,
        fd_writable: bool,
    ) -> bool {
        let to = self.rng.below(size_pages + 3);
        let want = if !fd_writable || (kind == Kind::Slice && to + m.pages > size_pages) {
            EINVAL
        } else {
            OK
        };
        // SAFETY: remaps the range this episode owns onto the same fd (or fails and leaves
        // it unmapped, which the caller then forgets).
        let r = unsafe {
            libc::syscall(
                libc::SYS_remap_file_pages,
                m.region.as_ptr(),
                (m.pages * pg()) as usize,
                0,
                to as usize,
                0,
            )
        };
        let got = if r == 0 { OK } else { last_errno() };
        self.direct(
            Ioctl::RemapFilePages,
            None,
            got,
            want,
            &format!("remap_file_pages to page {to} ({kind:?} of {size_pages} pages)"),
        );
        if got == OK {
            m.first = to;
            // MAP_POPULATE: every page inside the VMO was faulted in (read faults: the
            // mapping is shared).
            for k in 0..Self::inside(m, size_pages) {
                self.m.fault_in(obj, to + k, false);
            }
        }
        got == OK || !fd_writable
    }

    /// `mprotect`: executable only through an fd with EXECUTE; writable only through a writable
    /// fd.
    fn map_mprotect(&mut self, m: &Map, fd_writable: bool, fd_exec: bool) {
        let len = (m.pages * pg()) as usize;
        let (prot, want) = if self.rng.chance(1, 2) {
            // Keep PROT_WRITE where the mapping has it: its accessors may still write.
            let write =
                if m.region.prot().contains(ProtFlags::WRITE) { libc::PROT_WRITE } else { 0 };
            (libc::PROT_READ | write | libc::PROT_EXEC, if fd_exec { OK } else { EACCES })
        } else {
            (libc::PROT_READ | libc::PROT_WRITE, if fd_writable { OK } else { EACCES })
        };
        // SAFETY: changes the protection of the mapping this episode owns; its accessors check
        // `writable` before they write.
        let r = unsafe { libc::mprotect(m.region.as_ptr().cast(), len, prot) };
        let got = if r == 0 { OK } else { last_errno() };
        self.direct(Ioctl::Mprotect, Some(prot as u32), got, want, "mprotect of a VMO mapping");
        // `MappedRegion` keeps the protection it was made with, so its writes stay with the
        // mappings made writable.
    }

    /// `ftruncate` and `fallocate` on the fd: never change the VMO.
    fn fd_calls(&mut self, fd: &OwnedFd, fd_writable: bool) {
        let size = (self.rng.below(64) * pg()) as i64;
        // SAFETY: plain syscalls on an fd this episode owns.
        let r = unsafe { libc::ftruncate(fd.as_raw_fd(), size) };
        let got = if r == 0 { OK } else { last_errno() };
        let want = if fd_writable { EPERM } else { EINVAL };
        self.direct(Ioctl::Ftruncate, None, got, want, "ftruncate of a VMO fd");
        let mode = if self.rng.chance(1, 2) {
            0
        } else {
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE
        };
        // SAFETY: as above.
        let r = unsafe { libc::fallocate(fd.as_raw_fd(), mode, 0, pg() as i64) };
        let got = if r == 0 { OK } else { last_errno() };
        let want = if fd_writable { EOPNOTSUPP } else { EBADF };
        self.direct(Ioctl::Fallocate, Some(mode as u32), got, want, "fallocate of a VMO fd");
    }
}
