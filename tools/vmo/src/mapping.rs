//! VMO file descriptors and mappings: [`Vmo::export_fd`],
//! [`Vmo::import_fd`], [`Vmo::map`] and [`Mapping`].

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::handle::handle_from_kernel;
use crate::sys;
use crate::{AsHandleRef, Device, Rights, Status, Vmo};

impl Vmo {
    /// `VMO_IOC_EXPORT`: a file descriptor for this VMO, close-on-exec, as
    /// a memfd or a dma-buf is. Needs [`Rights::MAP`], [`Rights::READ`],
    /// [`Rights::DUPLICATE`] and [`Rights::TRANSFER`] (`ACCESS_DENIED`
    /// otherwise): the fd is a handle that can be copied and sent anywhere.
    ///
    /// The fd is `O_RDWR` if the handle has [`Rights::WRITE`], else
    /// `O_RDONLY`, and carries the handle's rights to
    /// [`import_fd`](Vmo::import_fd). It can be mapped with [`Mapping::new`]
    /// (`MAP_SHARED` only), passed to other processes (`SCM_RIGHTS`, fork),
    /// and `fstat` reports the VMO's size and one inode number per VMO. It
    /// keeps the VMO alive after every handle is closed.
    pub fn export_fd(&self) -> Result<OwnedFd, Status> {
        sys::export_owned(self.device().as_fd(), self.raw_handle(), sys::VMO_EXPORT_CLOEXEC)
            .map_err(Status::from_errno)
    }

    /// `VMO_IOC_IMPORT`: a handle in `device`'s table for the VMO of `fd`
    /// (from [`export_fd`](Vmo::export_fd), in any process), with the
    /// rights the fd carries.
    ///
    /// `WRONG_TYPE` if `fd` is open but not a VMO fd (a memfd, a pipe,
    /// `/dev/vmo` itself); `BAD_HANDLE` if the number is not an open fd
    /// (reachable only through [`sys::import`]).
    pub fn import_fd(device: &Device, fd: BorrowedFd<'_>) -> Result<Vmo, Status> {
        Vmo::import_fd_with_rights(device, fd, Rights::SAME_RIGHTS)
    }

    /// [`import_fd`](Vmo::import_fd) keeping only `rights` of the fd's
    /// rights ([`Rights::SAME_RIGHTS`] keeps them all). Asking for a right
    /// the fd does not carry is `INVALID_ARGS`.
    pub fn import_fd_with_rights(
        device: &Device,
        fd: BorrowedFd<'_>,
        rights: Rights,
    ) -> Result<Vmo, Status> {
        use std::os::fd::AsRawFd as _;
        let mut args = sys::vmo_import_args {
            fd: fd.as_raw_fd(),
            rights: rights.bits(),
            ..Default::default()
        };
        sys::import(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Vmo::from(handle_from_kernel(device, args.handle)))
    }

    /// Maps `len` bytes of the VMO from the page-aligned `offset`: exports
    /// a fd ([`export_fd`](Vmo::export_fd)), maps it `MAP_SHARED`
    /// ([`Mapping::new`]) and closes the fd again (the mapping keeps the
    /// VMO).
    ///
    /// A failed `mmap` reports its errno as a status: `ACCESS_DENIED`
    /// (`EACCES`) for `writable` through a handle without
    /// [`Rights::WRITE`], `INVALID_ARGS` (`EINVAL`) for an unaligned offset
    /// or `len` 0, `NO_MEMORY` (`ENOMEM`) when the address space is full.
    pub fn map(&self, offset: u64, len: usize, writable: bool) -> Result<Mapping, Status> {
        let fd = self.export_fd()?;
        Mapping::map(fd.as_fd(), offset, len, writable).map_err(Status::from_errno)
    }
}

/// A VMO (or any file) mapped `MAP_SHARED` into this process; unmapped on
/// drop.
///
/// The mapping shows the VMO's own pages (a slice child its window on the
/// parent, a snapshot child its own copy) at `offset`, and every change
/// anyone makes to them: writes through other mappings, other processes and
/// [`Vmo::write`] are seen at once, DECOMMIT and whole-page ZERO make pages
/// read as zeros (touching them again commits fresh zero pages), COMMIT
/// allocates ahead of the first touch.
///
/// Because the memory can change at any moment, the safe accessors copy:
/// [`read_at`](Self::read_at) and [`write_at`](Self::write_at) are
/// bounds-checked and use relaxed atomic byte accesses, so they are sound
/// from any number of threads (`Mapping` is `Send` and `Sync`). A read that
/// races with writers may see any mix of old and new bytes, and no order
/// between bytes is promised (use [`Vmo::read`] for bulk copies: it is a
/// single kernel copy).
///
/// There is no safe `&[u8]` view: a shared reference promises that the
/// bytes do not change, which nothing in this process can ensure for shared
/// memory. [`region`](Self::region) gives the raw [`sys::MappedRegion`],
/// whose `unsafe` [`as_slice`](sys::MappedRegion::as_slice) and
/// [`as_mut_slice`](sys::MappedRegion::as_mut_slice) state that contract;
/// [`as_ptr`](Self::as_ptr) is there for code that needs the address.
///
/// # `SIGBUS`
///
/// Bytes of the mapping that lie past the VMO's size are not memory: any
/// access to them, through [`read_at`](Self::read_at), `write_at` or a raw
/// pointer, raises `SIGBUS`, which kills the process. That happens when the
/// mapping is longer than the VMO, and when a resizable VMO is shrunk by
/// [`Vmo::set_size`] below the end of the mapping (the cut part raises
/// `SIGBUS`, the rest stays readable). The bounds check of `read_at` and
/// `write_at` is against the mapping's length, which the kernel cannot
/// shrink, not against the VMO's size.
///
/// ```no_run
/// use vmo::{Device, Vmo, VmoOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dev = Device::open()?;
/// let page = vmo::system_get_page_size() as usize;
/// let vmo = Vmo::create(&dev, 2 * page as u64, VmoOptions::empty())?;
/// let map = vmo.map(0, 2 * page, true)?;
/// map.write_at(page + 5, b"mapped")?;
/// assert_eq!(vmo.read_to_vec(page as u64 + 5, 6)?, b"mapped");
///
/// vmo.write(b"ioctl", 0)?;
/// assert_eq!(map.read_to_vec(0, 5)?, b"ioctl");
///
/// // DECOMMIT takes the page away from the mapping too.
/// vmo.decommit(page as u64, page as u64)?;
/// assert_eq!(map.read_to_vec(page + 5, 6)?, [0; 6]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Mapping {
    region: sys::MappedRegion,
    offset: u64,
}

impl Mapping {
    /// Maps `len` bytes of `fd` from the page-aligned `offset`,
    /// `MAP_SHARED`, readable, and writable if `writable`; the kernel picks
    /// the address. `fd` may be closed afterwards.
    ///
    /// For a VMO fd: `writable` on an `O_RDONLY` fd (a handle without
    /// [`Rights::WRITE`] was exported) fails with `EACCES`; a range past the
    /// VMO's size is allowed, but touching it raises `SIGBUS` (see the type's
    /// documentation). `len` 0 or an unaligned offset is `EINVAL`.
    pub fn new(fd: BorrowedFd<'_>, offset: u64, len: usize, writable: bool) -> io::Result<Mapping> {
        Ok(Mapping::map(fd, offset, len, writable)?)
    }

    fn map(
        fd: BorrowedFd<'_>,
        offset: u64,
        len: usize,
        writable: bool,
    ) -> Result<Mapping, sys::Errno> {
        let prot = if writable {
            sys::ProtFlags::READ | sys::ProtFlags::WRITE
        } else {
            sys::ProtFlags::READ
        };
        let region = sys::mmap(fd, offset, len, prot, sys::MapFlags::SHARED)?;
        Ok(Mapping { region, offset })
    }

    /// The length of the mapping in bytes (as asked for).
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Whether the mapping is empty (never: `mmap` refuses length 0).
    pub fn is_empty(&self) -> bool {
        self.region.is_empty()
    }

    /// The offset in the VMO (or file) where the mapping starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the mapping was made writable.
    pub fn is_writable(&self) -> bool {
        self.region.prot().contains(sys::ProtFlags::WRITE)
    }

    /// The address of the first byte (as in `/proc/self/maps`). Reading or
    /// writing through it is up to the caller's `unsafe` code; see the
    /// type's documentation for why the memory can change at any time.
    pub fn as_ptr(&self) -> *const u8 {
        self.region.as_ptr()
    }

    /// [`as_ptr`](Self::as_ptr), mutable.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.region.as_ptr()
    }

    /// Copies `buf.len()` bytes at byte `offset` of the mapping into `buf`.
    ///
    /// `OUT_OF_RANGE` if the range does not lie inside the mapping. Raises
    /// `SIGBUS` for bytes past the VMO's size.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), Status> {
        self.region.read(offset, buf).map_err(Status::from_errno)
    }

    /// Reads `len` bytes at byte `offset` into a new vector.
    pub fn read_to_vec(&self, offset: usize, len: usize) -> Result<Vec<u8>, Status> {
        let mut buf = vec![0u8; len];
        self.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Copies `data` to byte `offset` of the mapping.
    ///
    /// `OUT_OF_RANGE` if the range does not lie inside the mapping,
    /// `ACCESS_DENIED` if the mapping is not writable. Raises `SIGBUS` for
    /// bytes past the VMO's size.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), Status> {
        self.region.write(offset, data).map_err(Status::from_errno)
    }

    /// The raw mapping, for its `unsafe` slice views.
    pub fn region(&self) -> &sys::MappedRegion {
        &self.region
    }

    /// The raw mapping, mutable (for
    /// [`as_mut_slice`](sys::MappedRegion::as_mut_slice)).
    pub fn region_mut(&mut self) -> &mut sys::MappedRegion {
        &mut self.region
    }
}
