//! [`Vmo`]: a virtual memory object, and [`VmoInfo`].

use std::os::fd::AsFd;

use crate::handle::{handle_from_kernel, impl_handle_based};
use crate::sys;
use crate::{
    Device, Handle, ObjectType, Rights, Status, VmoChildOptions, VmoInfoFlags, VmoOp, VmoOptions,
};

/// What `VMO_IOC_GET_INFO` reports about a handle and its object
/// (`zx_info_vmo_t` and `zx_info_handle_basic_t` in one).
///
/// For an event only `rights`, `object_type` and `koid` are meaningful; the
/// VMO fields are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VmoInfo {
    /// The object's kernel id, unique for the boot.
    pub koid: u64,
    /// The parent VMO's koid; 0 for a VMO made by [`Vmo::create`].
    pub parent_koid: u64,
    /// The size in bytes (a multiple of the page size).
    pub size: u64,
    /// Bytes of pages the VMO owns (a slice owns none).
    pub committed_bytes: u64,
    /// Live direct children.
    pub num_children: u32,
    /// `ZX_INFO_VMO_*` flags.
    pub flags: VmoInfoFlags,
    /// The rights of the handle the info came through.
    pub rights: Rights,
    /// The object type.
    pub object_type: ObjectType,
}

impl VmoInfo {
    pub(crate) fn from_sys(info: &sys::vmo_info) -> VmoInfo {
        VmoInfo {
            koid: info.koid,
            parent_koid: info.parent_koid,
            size: info.size,
            committed_bytes: info.committed_bytes,
            num_children: info.num_children,
            flags: VmoInfoFlags::from_bits_retain(info.flags),
            rights: Rights::from_bits_retain(info.rights),
            object_type: ObjectType::from_raw(info.type_),
        }
    }
}

/// A virtual memory object: a resizable run of zero-initialised, lazily
/// committed pages, named by a handle of a [`Device`].
///
/// Converts freely to and from [`Handle`], as in the `zx` crate.
///
/// ```no_run
/// use vmo::{Device, HandleBased, Rights, Status, Vmo, VmoChildOptions, VmoOp, VmoOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dev = Device::open()?;
/// let page = vmo::system_get_page_size() as u64;
/// let vmo = Vmo::create(&dev, 4 * page, VmoOptions::empty())?;
/// assert_eq!(vmo.info()?.committed_bytes, 0);
///
/// vmo.op_range(VmoOp::COMMIT, 0, 2 * page)?;
/// vmo.write(b"hello", 0)?;
/// let mut buf = [0u8; 5];
/// vmo.read(&mut buf, 0)?;
/// assert_eq!(&buf, b"hello");
///
/// // A snapshot keeps the content it saw at creation.
/// let snap = vmo.create_child(VmoChildOptions::SNAPSHOT, 0, 4 * page)?;
/// vmo.write(b"world", 0)?;
/// assert_eq!(snap.read_to_vec(0, 5)?, b"hello");
///
/// // A read-only handle cannot commit.
/// let ro = vmo.duplicate_handle(Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER)?;
/// assert_eq!(ro.commit(0, page), Err(Status::ACCESS_DENIED));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Vmo(Handle);
impl_handle_based!(Vmo);

impl Vmo {
    /// `zx_vmo_create`: a VMO of `size` bytes (rounded up to a page), with
    /// nothing committed. Its handle has [`Rights::DEFAULT_VMO`], plus
    /// [`Rights::RESIZE`] with [`VmoOptions::RESIZABLE`].
    pub fn create(device: &Device, size: u64, options: VmoOptions) -> Result<Vmo, Status> {
        let mut args = sys::vmo_create_args { size, options: options.bits(), ..Default::default() };
        sys::create(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Vmo(handle_from_kernel(device, args.handle)))
    }

    /// `zx_vmo_create_child`: a slice or snapshot of `size` bytes at the
    /// page-aligned `offset` of this VMO.
    pub fn create_child(
        &self,
        options: VmoChildOptions,
        offset: u64,
        size: u64,
    ) -> Result<Vmo, Status> {
        let device = self.0.device();
        let mut args = sys::vmo_create_child_args {
            handle: self.0.raw(),
            options: options.bits(),
            offset,
            size,
            ..Default::default()
        };
        sys::create_child(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Vmo(handle_from_kernel(device, args.out_handle)))
    }

    /// `zx_vmo_read`: fills `data` from byte `offset`. Needs
    /// [`Rights::READ`]; uncommitted pages read as zeros.
    pub fn read(&self, data: &mut [u8], offset: u64) -> Result<(), Status> {
        sys::read(self.fd(), self.0.raw(), offset, data).map_err(Status::from_errno)
    }

    /// Reads `length` bytes from byte `offset` into a new vector.
    pub fn read_to_vec(&self, offset: u64, length: usize) -> Result<Vec<u8>, Status> {
        let mut data = vec![0u8; length];
        self.read(&mut data, offset)?;
        Ok(data)
    }

    /// `zx_vmo_write`: writes `data` at byte `offset`, committing pages as
    /// needed. Needs [`Rights::WRITE`].
    pub fn write(&self, data: &[u8], offset: u64) -> Result<(), Status> {
        sys::write(self.fd(), self.0.raw(), offset, data).map_err(Status::from_errno)
    }

    /// `zx_vmo_get_size`: the size in bytes. Needs no right.
    pub fn get_size(&self) -> Result<u64, Status> {
        let mut args = sys::vmo_size_args { handle: self.0.raw(), ..Default::default() };
        sys::get_size(self.fd(), &mut args).map_err(Status::from_errno)?;
        Ok(args.size)
    }

    /// `zx_vmo_set_size`: resizes a resizable VMO (rounded up to a page).
    /// Needs [`Rights::WRITE`] and [`Rights::RESIZE`]; a VMO made without
    /// `RESIZABLE` is `UNAVAILABLE`.
    pub fn set_size(&self, size: u64) -> Result<(), Status> {
        let args = sys::vmo_size_args { handle: self.0.raw(), size, ..Default::default() };
        sys::set_size(self.fd(), args).map_err(Status::from_errno)
    }

    /// `zx_vmo_op_range`: runs `op` over `size` bytes at `offset`.
    ///
    /// A COMMIT that a signal interrupts (`EINTR`: the kernel keeps nothing
    /// of it) is retried here, so `INTERRUPTED_RETRY` never reaches the
    /// caller for COMMIT.
    pub fn op_range(&self, op: VmoOp, offset: u64, size: u64) -> Result<(), Status> {
        loop {
            match sys::op_range(self.fd(), self.0.raw(), op.into_raw(), offset, size) {
                Ok(()) => return Ok(()),
                Err(errno) => {
                    let status = Status::from_errno(errno);
                    if status == Status::INTERRUPTED_RETRY && op == VmoOp::COMMIT {
                        continue;
                    }
                    return Err(status);
                }
            }
        }
    }

    /// `ZX_VMO_OP_LOCK` of a discardable VMO (the whole VMO: offset 0, its
    /// size): the lock state, whose `discarded_size` is the VMO's size if the
    /// kernel discarded it since it was last unlocked (it reads as zeros now).
    pub fn lock(&self) -> Result<LockState, Status> {
        let size = self.get_size()?;
        self.op_range_with_buffer(0, size, core::mem::size_of::<sys::vmo_lock_state>() as u64)
    }

    /// `ZX_VMO_OP_LOCK` over `[offset, offset + size)` telling the kernel the
    /// buffer holds `buffer_size` bytes (at most a `zx_vmo_lock_state_t`).
    pub fn op_range_with_buffer(
        &self,
        offset: u64,
        size: u64,
        buffer_size: u64,
    ) -> Result<LockState, Status> {
        let mut st = sys::vmo_lock_state::default();
        sys::op_range_lock(self.fd(), self.0.raw(), offset, size, &mut st, buffer_size)
            .map_err(Status::from_errno)?;
        Ok(LockState {
            offset: st.offset,
            size: st.size,
            discarded_offset: st.discarded_offset,
            discarded_size: st.discarded_size,
        })
    }

    /// `ZX_VMO_OP_TRY_LOCK` of the whole VMO: `UNAVAILABLE` if it was discarded.
    pub fn try_lock(&self) -> Result<(), Status> {
        let size = self.get_size()?;
        self.op_range(VmoOp::TRY_LOCK, 0, size)
    }

    /// `ZX_VMO_OP_UNLOCK` of the whole VMO: `BAD_STATE` if it is not locked.
    pub fn unlock(&self) -> Result<(), Status> {
        let size = self.get_size()?;
        self.op_range(VmoOp::UNLOCK, 0, size)
    }

    /// `ZX_VMO_OP_COMMIT`: allocate the pages of the range, rounded out.
    pub fn commit(&self, offset: u64, size: u64) -> Result<(), Status> {
        self.op_range(VmoOp::COMMIT, offset, size)
    }

    /// `ZX_VMO_OP_DECOMMIT`: release the pages of a page-aligned range.
    pub fn decommit(&self, offset: u64, size: u64) -> Result<(), Status> {
        self.op_range(VmoOp::DECOMMIT, offset, size)
    }

    /// `ZX_VMO_OP_ZERO`: zero a byte range, releasing whole pages.
    pub fn zero(&self, offset: u64, size: u64) -> Result<(), Status> {
        self.op_range(VmoOp::ZERO, offset, size)
    }

    /// `ZX_VMO_OP_CACHE_SYNC` over the range.
    pub fn cache_sync(&self, offset: u64, size: u64) -> Result<(), Status> {
        self.op_range(VmoOp::CACHE_SYNC, offset, size)
    }

    /// `ZX_VMO_OP_CACHE_CLEAN` over the range.
    pub fn cache_clean(&self, offset: u64, size: u64) -> Result<(), Status> {
        self.op_range(VmoOp::CACHE_CLEAN, offset, size)
    }

    /// `ZX_VMO_OP_CACHE_CLEAN_INVALIDATE` over the range.
    pub fn cache_clean_invalidate(&self, offset: u64, size: u64) -> Result<(), Status> {
        self.op_range(VmoOp::CACHE_CLEAN_INVALIDATE, offset, size)
    }

    /// `ZX_VMO_OP_CACHE_INVALIDATE` over the range (a clean+invalidate on
    /// `/dev/vmo`; see the header for why).
    pub fn cache_invalidate(&self, offset: u64, size: u64) -> Result<(), Status> {
        self.op_range(VmoOp::CACHE_INVALIDATE, offset, size)
    }

    /// `zx_object_get_info(ZX_INFO_VMO)`.
    pub fn info(&self) -> Result<VmoInfo, Status> {
        self.0.info()
    }

    /// `zx_vmo_replace_as_executable`: a new handle to this VMO with this
    /// handle's rights plus [`Rights::EXECUTE`]; this handle is closed, also
    /// when the call fails (unless with `BAD_HANDLE` for a value that names
    /// nothing), as in Zircon.
    ///
    /// Linux has no VMEX resource, so there is no `vmex` argument: the call
    /// passes `ZX_HANDLE_INVALID`, which the module grants by its ambient
    /// policy, the caller's `CAP_SYS_ADMIN` in the initial user namespace
    /// (`ACCESS_DENIED` without it). Code written against `zx`,
    /// `vmo.replace_as_executable(&vmex)`, ports as
    /// `vmo.replace_as_executable()`; [`sys::replace_as_executable`] takes a
    /// raw `vmex`.
    ///
    /// A file descriptor exported from the new handle
    /// ([`export_fd`](Vmo::export_fd)) can be mapped `PROT_EXEC` and
    /// `mprotect`ed to it; run [`VmoOp::CACHE_SYNC`] over code written
    /// into the VMO before executing it.
    pub fn replace_as_executable(self) -> Result<Vmo, Status> {
        let device = self.device().clone();
        let raw = self.0.into_raw();
        let mut args = sys::vmo_replace_as_executable_args { handle: raw, ..Default::default() };
        sys::replace_as_executable(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Vmo(handle_from_kernel(&device, args.out_handle)))
    }

    /// The device the handle belongs to.
    pub fn device(&self) -> &Device {
        self.0.device()
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.device().as_fd()
    }
}

/// `zx_vmo_lock_state_t`: what [`Vmo::lock`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockState {
    /// The locked range's offset (0).
    pub offset: u64,
    /// The locked range's size (the VMO's size).
    pub size: u64,
    /// Where the discarded range starts (0).
    pub discarded_offset: u64,
    /// The discarded range's size: 0, or the VMO's size if it was discarded.
    pub discarded_size: u64,
}
