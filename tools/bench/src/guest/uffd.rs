//! userfaultfd, the native counterpart of the user pager: a `MAP_SHARED`
//! memfd mapping registered in `MISSING` or `MINOR` mode, and a handler
//! thread of the same process that answers each fault with `UFFDIO_COPY`
//! (from a source buffer) or `UFFDIO_CONTINUE` (of the page already in the
//! page cache), one page per fault.
//!
//! The ABI (`include/uapi/linux/userfaultfd.h`) is written out here: the
//! `userfaultfd` syscall is rustix's, the ioctls go through `rustix::ioctl`
//! as the `vmo` crate's do.

use std::os::fd::{AsFd as _, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use rustix::io::Errno;
use rustix::ioctl::{Updater, ioctl, opcode};
use rustix::mm::{UserfaultfdFlags, userfaultfd};
use vmo::Mapping as VmoMapping;

use super::Res;

/// `UFFD_API`.
const UFFD_API: u64 = 0xaa;
/// `UFFDIO`: the ioctl group.
const UFFDIO: u8 = 0xaa;
/// `UFFD_FEATURE_MISSING_SHMEM`.
const FEATURE_MISSING_SHMEM: u64 = 1 << 5;
/// `UFFD_FEATURE_MINOR_SHMEM`.
const FEATURE_MINOR_SHMEM: u64 = 1 << 10;
/// `UFFDIO_REGISTER_MODE_MISSING`.
const REGISTER_MODE_MISSING: u64 = 1 << 0;
/// `UFFDIO_REGISTER_MODE_MINOR`.
const REGISTER_MODE_MINOR: u64 = 1 << 2;
/// `UFFD_EVENT_PAGEFAULT`.
const EVENT_PAGEFAULT: u8 = 0x12;

/// `struct uffdio_api`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

/// `struct uffdio_range`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct UffdioRange {
    start: u64,
    len: u64,
}

/// `struct uffdio_register`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

/// `struct uffdio_copy`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct UffdioCopy {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

/// `struct uffdio_continue`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct UffdioContinue {
    range: UffdioRange,
    mode: u64,
    mapped: i64,
}

const UFFDIO_API: u32 = opcode::read_write::<UffdioApi>(UFFDIO, 0x3f);
const UFFDIO_REGISTER: u32 = opcode::read_write::<UffdioRegister>(UFFDIO, 0x00);
const UFFDIO_WAKE: u32 = opcode::read::<UffdioRange>(UFFDIO, 0x02);
const UFFDIO_COPY: u32 = opcode::read_write::<UffdioCopy>(UFFDIO, 0x03);
const UFFDIO_CONTINUE: u32 = opcode::read_write::<UffdioContinue>(UFFDIO, 0x07);

/// How the handler answers a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `MISSING` registration, `UFFDIO_COPY` from the source buffer.
    Copy,
    /// `MINOR` registration, `UFFDIO_CONTINUE`.
    Continue,
}

impl Mode {
    fn feature(self) -> u64 {
        match self {
            Mode::Copy => FEATURE_MISSING_SHMEM,
            Mode::Continue => FEATURE_MINOR_SHMEM,
        }
    }
}

/// A new userfaultfd after the `UFFDIO_API` handshake asking for `mode`'s
/// shmem feature.
fn open(mode: Mode) -> Result<OwnedFd, String> {
    // SAFETY: creating the descriptor is harmless; it only acts on ranges
    // registered with it, which `Served::start` registers over a mapping it
    // owns.
    let fd = unsafe { userfaultfd(UserfaultfdFlags::CLOEXEC) }.map_err(|e| match e {
        Errno::NOSYS => "the kernel has no userfaultfd(2) (CONFIG_USERFAULTFD)".to_owned(),
        Errno::PERM | Errno::ACCESS => {
            "userfaultfd(2) is not permitted (vm.unprivileged_userfaultfd)".to_owned()
        }
        e => format!("userfaultfd: {e}"),
    })?;
    let mut api = UffdioApi { api: UFFD_API, features: mode.feature(), ioctls: 0 };
    // SAFETY: UFFDIO_API reads and updates a `struct uffdio_api`, which
    // `UffdioApi` lays out.
    unsafe { ioctl(&fd, Updater::<{ UFFDIO_API }, UffdioApi>::new(&mut api)) }
        .map_err(|e| format!("UFFDIO_API with feature {:#x}: {e}", mode.feature()))?;
    Ok(fd)
}

/// Whether this kernel offers `mode` on shmem: `Err(reason)` if not.
pub fn probe(mode: Mode) -> Result<(), String> {
    open(mode).map(drop)
}

/// A mapping served by a userfaultfd handler thread until it is dropped.
///
/// The mapping is one page longer than the figure's range: the extra page
/// is the stop sentinel. Dropping the value faults it; the handler serves
/// it, stops, and closes the userfaultfd (its only reference), which
/// unregisters the range. A handler that stopped on an error has closed the
/// descriptor already, so faults (the sentinel's too) then take the
/// ordinary shmem path instead of waiting forever; the error comes out of
/// [`Served::finish`].
pub struct Served {
    /// The registered mapping (the figure's range and the sentinel page).
    pub map: VmoMapping,
    /// The faults the handler has served (the sentinel's not counted).
    pub served: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<(), String>>>,
    page: usize,
}

impl Served {
    /// Maps `fd` (a memfd of at least `len + page` bytes) read-only and
    /// `MAP_SHARED`, registers the mapping in `mode` and starts the handler.
    /// For [`Mode::Copy`], `src` is the address of a buffer of `len` bytes
    /// that outlives the value (page `i` of the mapping gets page `i` of it);
    /// for [`Mode::Continue`], the memfd's page cache must already hold every
    /// page of `len`.
    pub fn start(fd: &OwnedFd, len: usize, page: usize, mode: Mode, src: usize) -> Res<Served> {
        let uffd = open(mode)?;
        let map = VmoMapping::new(fd.as_fd(), 0, len + page, false)?;
        let base = map.as_ptr() as u64;
        let mut reg = UffdioRegister {
            range: UffdioRange { start: base, len: (len + page) as u64 },
            mode: match mode {
                Mode::Copy => REGISTER_MODE_MISSING,
                Mode::Continue => REGISTER_MODE_MINOR,
            },
            ioctls: 0,
        };
        // SAFETY: UFFDIO_REGISTER reads and updates a `struct
        // uffdio_register`; the range is the mapping this value owns.
        unsafe { ioctl(&uffd, Updater::<{ UFFDIO_REGISTER }, UffdioRegister>::new(&mut reg)) }
            .map_err(|e| format!("UFFDIO_REGISTER: {e}"))?;
        let served = Arc::new(AtomicU64::new(0));
        let count = served.clone();
        let sentinel = base + len as u64;
        let thread = std::thread::spawn(move || {
            handle(&uffd, mode, base, sentinel, page as u64, src as u64, &count)
        });
        Ok(Served { map, served, thread: Some(thread), page })
    }

    /// Stops the handler (faulting the sentinel) and returns its error, if
    /// it had one.
    pub fn finish(&mut self) -> Res<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let sentinel = self.map.len() - self.page;
        // A read of the sentinel page: the handler's last fault (or an
        // ordinary one, if the handler is gone).
        let mut b = [0u8; 1];
        self.map.read_at(sentinel, &mut b)?;
        match thread.join() {
            Ok(r) => r.map_err(Into::into),
            Err(_) => Err("the userfaultfd handler panicked".into()),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The handler: reads fault messages and serves each page, until the
/// sentinel page has been served or something fails. `uffd` is closed when
/// it returns (the caller moved the only reference in).
fn handle(
    uffd: &OwnedFd,
    mode: Mode,
    base: u64,
    sentinel: u64,
    page: u64,
    src: u64,
    served: &AtomicU64,
) -> Result<(), String> {
    loop {
        // `struct uffd_msg`: event (u8) at 0, pagefault.flags at 8,
        // pagefault.address at 16; 32 bytes.
        let mut msg = [0u8; 32];
        match rustix::io::read(uffd, &mut msg) {
            Ok(32) => {}
            Ok(n) => return Err(format!("userfaultfd read {n} bytes, not 32")),
            Err(Errno::INTR | Errno::AGAIN) => continue,
            Err(e) => return Err(format!("userfaultfd read: {e}")),
        }
        if msg[0] != EVENT_PAGEFAULT {
            continue;
        }
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&msg[16..24]);
        let at = u64::from_ne_bytes(addr) & !(page - 1);
        let last = at == sentinel;
        if !last {
            served.fetch_add(1, Ordering::Relaxed);
        }
        let r = match mode {
            Mode::Copy => {
                let mut copy =
                    UffdioCopy { dst: at, src: src + (at - base), len: page, mode: 0, copy: 0 };
                if last {
                    // The sentinel has no source page: any page will do.
                    copy.src = src;
                }
                // SAFETY: UFFDIO_COPY reads and updates a `struct
                // uffdio_copy`; it copies a page of the source buffer (which
                // the figure keeps alive and nothing writes meanwhile) into
                // the registered mapping's missing page, which no Rust
                // reference points into.
                unsafe { ioctl(uffd, Updater::<{ UFFDIO_COPY }, UffdioCopy>::new(&mut copy)) }
            }
            Mode::Continue => {
                let mut cont = UffdioContinue {
                    range: UffdioRange { start: at, len: page },
                    mode: 0,
                    mapped: 0,
                };
                // SAFETY: UFFDIO_CONTINUE reads and updates a `struct
                // uffdio_continue`; it maps the page-cache page into the
                // registered mapping, changing no memory.
                unsafe {
                    ioctl(uffd, Updater::<{ UFFDIO_CONTINUE }, UffdioContinue>::new(&mut cont))
                }
            }
        };
        match r {
            Ok(()) => {}
            // Mapped meanwhile (a fault raised twice): wake the waiter.
            Err(Errno::EXIST) => {
                let mut range = UffdioRange { start: at, len: page };
                // SAFETY: UFFDIO_WAKE reads a `struct uffdio_range` (the
                // rustix wrapper passes it by pointer); it only wakes
                // threads waiting on that range.
                unsafe { ioctl(uffd, Updater::<{ UFFDIO_WAKE }, UffdioRange>::new(&mut range)) }
                    .map_err(|e| format!("UFFDIO_WAKE: {e}"))?;
            }
            Err(e) => return Err(format!("{mode:?} of {at:#x}: {e}")),
        }
        if last {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::figures::pwrite_all;
    use crate::guest::sys::{Mapping, memfd};

    /// Both modes serve every page once, with the data meant for it (skipped
    /// where the host's kernel does not offer the mode).
    #[test]
    fn each_page_is_served_once_with_its_data() {
        let page = vmo::system_get_page_size() as usize;
        let pages = 8;
        let len = pages * page;
        let data: Vec<u8> = (0..len).map(|i| (i / page) as u8 + 1).collect();
        for mode in [Mode::Copy, Mode::Continue] {
            if let Err(why) = probe(mode) {
                eprintln!("{mode:?}: skipped: {why}");
                continue;
            }
            let fd = memfd((len + page) as u64).unwrap();
            let src = if mode == Mode::Copy {
                let s = memfd(len as u64).unwrap();
                pwrite_all(s.as_fd(), &data, 0, len as u64).unwrap();
                Some(Mapping::shared(s, len).unwrap())
            } else {
                pwrite_all(fd.as_fd(), &data, 0, len as u64).unwrap();
                pwrite_all(fd.as_fd(), &data, len as u64, page as u64).unwrap();
                None
            };
            let mut s = Served::start(
                &fd,
                len,
                page,
                mode,
                src.as_ref().map_or(0, |m| m.as_ptr() as usize),
            )
            .unwrap();
            let mut got = vec![0u8; len];
            s.map.read_at(0, &mut got).unwrap();
            assert!(got == data, "{mode:?}: wrong data");
            assert_eq!(s.served.load(Ordering::Relaxed), pages as u64, "{mode:?}");
            s.finish().unwrap();
            assert_eq!(s.served.load(Ordering::Relaxed), pages as u64, "{mode:?}");
        }
    }
}
