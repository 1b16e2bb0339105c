//! [`Pager`]: a user pager (`zx_pager_*`), its packets and ops.
//!
//! A pager-backed VMO has no pages of its own: every access to an absent page
//! (COMMIT, read, write, a fault through a mapping) sends the pager one READ
//! request per missing run of pages and waits until the pager supplies the
//! pages ([`Pager::supply_pages`]) or fails the range ([`Pager::fail`]).
//! Zircon delivers the requests on a port; `/dev/vmo` has no ports, so the
//! pager reads them itself with [`Pager::wait`], and `poll`/`epoll` on the
//! device's file descriptor report `POLLIN` while a pager of that handle
//! table has a packet waiting ([`Device::poll_pager`]).

use core::fmt;
use core::ops::Range;
use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

#[cfg(doc)]
use crate::Rights;
use crate::handle::{handle_from_kernel, impl_handle_based};
use crate::sys;
use crate::{AsHandleRef, Device, Handle, Status, Vmo, VmoOptions};

/// A user pager (`zx_pager_create`): the source of the pages of the VMOs
/// made with [`Pager::create_vmo`].
///
/// Its handle has [`Rights::DEFAULT_PAGER`] (no DUPLICATE, as in Zircon).
///
/// Closing the pager's last handle, also by the process exiting, is not a
/// detach: every access to its VMOs that waits for a page, or later needs a
/// page the VMO does not hold, fails with `BAD_STATE` (a fault through a
/// mapping is `SIGBUS`), but the pages already supplied stay, readable and
/// writable through the VMO and its mappings, and count in
/// `committed_bytes`. No packet is delivered any more, not even COMPLETE
/// (Zircon's `PagerProxy::OnDispatcherClose`; core test
/// `Pager.ClosePagerTest`). [`Pager::detach_vmo`] instead frees the pages.
///
/// ```no_run
/// use std::time::Duration;
/// use vmo::{Device, PacketKind, Pager, Vmo, VmoOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dev = Device::open()?;
/// let page = vmo::system_get_page_size() as u64;
/// let pager = Pager::create(&dev)?;
/// let vmo = pager.create_vmo(7, 4 * page)?;
///
/// std::thread::scope(|s| {
///     // The pager thread: serve one request with pages full of 0xab.
///     s.spawn(|| {
///         let packet = pager.wait(Some(Duration::from_secs(10))).unwrap();
///         assert_eq!((packet.key, packet.kind), (7, PacketKind::Read));
///         let aux = Vmo::create(&dev, packet.length, VmoOptions::empty()).unwrap();
///         aux.write(&vec![0xab; packet.length as usize], 0).unwrap();
///         pager.supply_pages(&vmo, packet.range(), &aux, 0).unwrap();
///     });
///     // This read blocks until the pager has supplied the page.
///     assert_eq!(vmo.read_to_vec(0, 4).unwrap(), [0xab; 4]);
/// });
/// # Ok(())
/// # }
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Pager(Handle);
impl_handle_based!(Pager);

/// What a [`PagerPacket`] asks for or reports (`ZX_PAGER_VMO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// `ZX_PAGER_VMO_READ`: supply or fail the packet's range.
    Read,
    /// `ZX_PAGER_VMO_COMPLETE`: the VMO with the packet's key was detached
    /// or its last handle closed; no more requests come for it.
    Complete,
    /// `ZX_PAGER_VMO_DIRTY` (a VMO made with [`VmoOptions::TRAP_DIRTY`]): a
    /// writer waits to make the packet's range dirty; answer with
    /// [`Pager::op_dirty`] or [`Pager::fail`].
    Dirty,
    /// A packet type this crate does not know (from a newer module).
    Other(u32),
}

impl PacketKind {
    /// The kind of a raw `vmo_pager_packet.type`.
    pub const fn from_raw(raw: u32) -> PacketKind {
        match raw {
            sys::VMO_PAGER_VMO_READ => PacketKind::Read,
            sys::VMO_PAGER_VMO_COMPLETE => PacketKind::Complete,
            sys::VMO_PAGER_VMO_DIRTY => PacketKind::Dirty,
            other => PacketKind::Other(other),
        }
    }

    /// The raw `vmo_pager_packet.type`.
    pub const fn into_raw(self) -> u32 {
        match self {
            PacketKind::Read => sys::VMO_PAGER_VMO_READ,
            PacketKind::Complete => sys::VMO_PAGER_VMO_COMPLETE,
            PacketKind::Dirty => sys::VMO_PAGER_VMO_DIRTY,
            PacketKind::Other(raw) => raw,
        }
    }
}

/// One packet of a pager (Zircon's `zx_packet_page_request_t` with the key
/// the VMO was created with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PagerPacket {
    /// The key given to [`Pager::create_vmo`] for the VMO concerned.
    pub key: u64,
    /// A request or a notice.
    pub kind: PacketKind,
    /// [`PacketKind::Read`], [`PacketKind::Dirty`]: the first byte of the
    /// range (page aligned).
    pub offset: u64,
    /// [`PacketKind::Read`], [`PacketKind::Dirty`]: the length of the range
    /// in bytes (whole pages).
    pub length: u64,
}

impl PagerPacket {
    /// `offset..offset + length`, the range to supply or fail.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset.saturating_add(self.length)
    }

    /// Converts the packet of `VMO_IOC_PAGER_WAIT`.
    pub fn from_sys(p: &sys::vmo_pager_packet) -> PagerPacket {
        PagerPacket {
            key: p.key,
            kind: PacketKind::from_raw(p.type_),
            offset: p.offset,
            length: p.length,
        }
    }
}

/// One range of [`Pager::query_dirty_ranges`] (`zx_vmo_dirty_range_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DirtyRange {
    /// The first byte (page aligned).
    pub offset: u64,
    /// The length in bytes (whole pages).
    pub length: u64,
    /// `ZX_VMO_DIRTY_RANGE_IS_ZERO` (never set by `/dev/vmo`, which keeps
    /// no zero ranges).
    pub is_zero: bool,
}

impl DirtyRange {
    /// `offset..offset + length`.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset.saturating_add(self.length)
    }
}

/// An op of [`Pager::op_range`] (`ZX_PAGER_OP_*`, Zircon's values).
///
/// Any `u32` can be made with [`PagerOp::from_raw`], so that unknown ops
/// reach the kernel (which answers `NOT_SUPPORTED`, as Zircon does).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PagerOp(u32);

impl PagerOp {
    /// `ZX_PAGER_OP_FAIL`: fail every request overlapping the range with the
    /// status whose errno is `data` (see [`Pager::fail`]).
    pub const FAIL: PagerOp = PagerOp(sys::VMO_PAGER_OP_FAIL);
    /// `ZX_PAGER_OP_DIRTY`: see [`Pager::op_dirty`].
    pub const DIRTY: PagerOp = PagerOp(sys::VMO_PAGER_OP_DIRTY);
    /// `ZX_PAGER_OP_WRITEBACK_BEGIN`: see [`Pager::writeback_begin`].
    pub const WRITEBACK_BEGIN: PagerOp = PagerOp(sys::VMO_PAGER_OP_WRITEBACK_BEGIN);
    /// `ZX_PAGER_OP_WRITEBACK_END`: see [`Pager::writeback_end`].
    pub const WRITEBACK_END: PagerOp = PagerOp(sys::VMO_PAGER_OP_WRITEBACK_END);

    /// Wraps a raw op number, known or not.
    pub const fn from_raw(raw: u32) -> PagerOp {
        PagerOp(raw)
    }

    /// The raw op number.
    pub const fn into_raw(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for PagerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PagerOp::FAIL => f.write_str("FAIL"),
            PagerOp::DIRTY => f.write_str("DIRTY"),
            PagerOp::WRITEBACK_BEGIN => f.write_str("WRITEBACK_BEGIN"),
            PagerOp::WRITEBACK_END => f.write_str("WRITEBACK_END"),
            PagerOp(raw) => write!(f, "PagerOp({raw})"),
        }
    }
}

/// The length of `range`; a range that ends before it starts is
/// `INVALID_ARGS` (checked here: the ABI takes offset and length).
fn range_len(range: &Range<u64>) -> Result<u64, Status> {
    range.end.checked_sub(range.start).ok_or(Status::INVALID_ARGS)
}

/// The `data` of a FAIL op for `status`: its errno. [`Status::to_errno`] maps
/// a status outside the ABI's table to `EPROTO`, and OK to no errno (sent as
/// 0): neither is an allowed code, so the kernel rejects both.
fn fail_data(status: Status) -> u64 {
    status.to_errno().map_or(0, |e| u64::from(e.raw_os_error().unsigned_abs()))
}

/// A wait timeout as the ABI's `timeout_ns`: negative is forever.
fn timeout_ns(timeout: Option<Duration>) -> i64 {
    match timeout {
        None => -1,
        Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
    }
}

impl Pager {
    /// `zx_pager_create`: a new pager with [`Rights::DEFAULT_PAGER`].
    pub fn create(device: &Device) -> Result<Pager, Status> {
        let mut args = sys::vmo_pager_create_args::default();
        sys::pager_create(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Pager(handle_from_kernel(device, args.handle)))
    }

    /// `zx_pager_create_vmo`: a VMO of `size` bytes (rounded up to a page)
    /// whose pages this pager supplies; every packet about it carries `key`.
    /// Needs [`Rights::ATTACH_VMO`]. The VMO's handle has
    /// [`Rights::DEFAULT_VMO`] and its info reports
    /// [`VmoInfoFlags::PAGER_BACKED`](crate::VmoInfoFlags::PAGER_BACKED).
    pub fn create_vmo(&self, key: u64, size: u64) -> Result<Vmo, Status> {
        self.create_vmo_with_options(VmoOptions::empty(), key, size)
    }

    /// [`Pager::create_vmo`] with `options`: [`VmoOptions::RESIZABLE`] makes
    /// a resizable pager-backed VMO, whose handle also has
    /// [`Rights::RESIZE`]. Growing it ([`Vmo::set_size`]) adds pages the pager
    /// supplies on demand; shrinking it frees the pages past the new end and
    /// ends the requests past it: their waiters find the range gone (a COMMIT
    /// succeeds, a read is `OUT_OF_RANGE`, a fault is `SIGBUS`), a request
    /// that straddles the end waits only for its part inside, and a supply or
    /// FAIL past the end is `OUT_OF_RANGE`. [`VmoOptions::TRAP_DIRTY`] makes
    /// the first write to a clean page wait for the pager's leave (a
    /// [`PacketKind::Dirty`] packet). Any other option is `INVALID_ARGS`.
    pub fn create_vmo_with_options(
        &self,
        options: VmoOptions,
        key: u64,
        size: u64,
    ) -> Result<Vmo, Status> {
        let device = self.0.device();
        let mut args = sys::vmo_pager_create_vmo_args {
            pager: self.0.raw(),
            options: options.bits(),
            key,
            size,
            ..Default::default()
        };
        sys::pager_create_vmo(device.as_fd(), &mut args).map_err(Status::from_errno)?;
        Ok(Vmo::from(handle_from_kernel(device, args.handle)))
    }

    /// `zx_pager_detach_vmo`: the pager stops serving `vmo`. Every waiter
    /// and every later access that needs a page fails with `BAD_STATE`, the
    /// VMO's pages are freed (unlike closing the pager, which keeps them),
    /// and the pager gets a [`PacketKind::Complete`] packet. Needs
    /// [`Rights::MANAGE_VMO`].
    pub fn detach_vmo(&self, vmo: &Vmo) -> Result<(), Status> {
        let args = sys::vmo_pager_detach_args { pager: self.0.raw(), vmo: vmo.raw_handle() };
        sys::pager_detach(self.fd(), args).map_err(Status::from_errno)
    }

    /// `zx_pager_supply_pages`: moves the pages of `aux_vmo` at
    /// `aux_offset..aux_offset + range.len()` into `range` of `vmo` and wakes
    /// the requests they satisfy. Pages `vmo` already has are kept; absent
    /// pages of `aux_vmo` supply zeros; the `aux_vmo` range is decommitted
    /// afterwards. `range` and `aux_offset` must be page aligned. Needs
    /// [`Rights::MANAGE_VMO`] on the pager and READ | WRITE on `aux_vmo`.
    ///
    /// `aux_vmo` must be a VMO made by [`Vmo::create`] with no children: a
    /// pager-backed one, a child of any kind (slice or snapshot) or one with
    /// children is `BAD_STATE`, as in Zircon. The checks after the rights:
    /// the aux range (`OUT_OF_RANGE`), the aux VMO (`BAD_STATE`), the range of
    /// `vmo` (`OUT_OF_RANGE`), then a detached `vmo` (`BAD_STATE`).
    pub fn supply_pages(
        &self,
        vmo: &Vmo,
        range: Range<u64>,
        aux_vmo: &Vmo,
        aux_offset: u64,
    ) -> Result<(), Status> {
        let args = sys::vmo_pager_supply_args {
            pager: self.0.raw(),
            vmo: vmo.raw_handle(),
            offset: range.start,
            length: range_len(&range)?,
            aux_vmo: aux_vmo.raw_handle(),
            reserved: 0,
            aux_offset,
        };
        sys::pager_supply(self.fd(), args).map_err(Status::from_errno)
    }

    /// `zx_pager_op_range`: runs `op` over the page-aligned `range` of
    /// `vmo`; `data` is the op's argument (for [`PagerOp::FAIL`] the errno of
    /// the status, see [`Status::to_errno`]). Needs [`Rights::MANAGE_VMO`].
    /// An op the module does not know is `NOT_SUPPORTED` (Zircon's
    /// `PagerDispatcher::RangeOp`).
    pub fn op_range(
        &self,
        op: PagerOp,
        vmo: &Vmo,
        range: Range<u64>,
        data: u64,
    ) -> Result<(), Status> {
        let args = sys::vmo_pager_op_args {
            pager: self.0.raw(),
            op: op.into_raw(),
            vmo: vmo.raw_handle(),
            reserved: 0,
            offset: range.start,
            length: range_len(&range)?,
            data,
        };
        sys::pager_op_range(self.fd(), args).map_err(Status::from_errno)
    }

    /// `zx_pager_op_range(ZX_PAGER_OP_FAIL)`: every request overlapping the
    /// page-aligned `range` of `vmo` ends, and the access that waited for it
    /// fails with exactly `status` (a fault: `SIGBUS`). The failure is not
    /// sticky: the next access asks again. A range past the VMO's end is
    /// `OUT_OF_RANGE`; a detached VMO is `BAD_STATE` (the `zx_pager_op_range`
    /// reference page; Zircon's `VmCowPages::FailPageRequestsLocked`).
    ///
    /// `status` must be one of `IO`, `IO_DATA_INTEGRITY`, `BAD_STATE`,
    /// `NO_SPACE` or `BUFFER_TOO_SMALL`; any other is still sent (as its
    /// errno) and the kernel answers `INVALID_ARGS`.
    pub fn fail(&self, vmo: &Vmo, range: Range<u64>, status: Status) -> Result<(), Status> {
        self.op_range(PagerOp::FAIL, vmo, range, fail_data(status))
    }

    /// `zx_pager_op_range(ZX_PAGER_OP_DIRTY)`: the pages of `range` of a
    /// [`VmoOptions::TRAP_DIRTY`] VMO, which must all be present
    /// (`NOT_FOUND`), become dirty, and the writers waiting for them go on.
    /// `NOT_SUPPORTED` for a VMO made without `TRAP_DIRTY`.
    pub fn op_dirty(&self, vmo: &Vmo, range: Range<u64>) -> Result<(), Status> {
        self.op_range(PagerOp::DIRTY, vmo, range, 0)
    }

    /// `zx_pager_op_range(ZX_PAGER_OP_WRITEBACK_BEGIN)`: the dirty pages of
    /// `range` await clean; a write to one from now on (through any mapping
    /// too) makes it dirty again. Read the pages after this call.
    pub fn writeback_begin(&self, vmo: &Vmo, range: Range<u64>) -> Result<(), Status> {
        self.op_range(PagerOp::WRITEBACK_BEGIN, vmo, range, 0)
    }

    /// `zx_pager_op_range(ZX_PAGER_OP_WRITEBACK_END)`: the pages of `range`
    /// that still await clean become clean; those written since
    /// [`Pager::writeback_begin`] stay dirty.
    pub fn writeback_end(&self, vmo: &Vmo, range: Range<u64>) -> Result<(), Status> {
        self.op_range(PagerOp::WRITEBACK_END, vmo, range, 0)
    }

    /// `zx_pager_query_dirty_ranges`: writes into `out` the ranges of
    /// `range` (rounded out to pages) whose pages are dirty or await clean,
    /// in order; returns `(actual, avail)`: how many were written and how
    /// many there are in all (ask again from the end of the last one when
    /// `actual < avail`). Needs [`Rights::MANAGE_VMO`] and READ on `vmo`.
    pub fn query_dirty_ranges(
        &self,
        vmo: &Vmo,
        range: Range<u64>,
        out: &mut [DirtyRange],
    ) -> Result<(usize, usize), Status> {
        let mut args = sys::vmo_pager_query_dirty_args {
            pager: self.0.raw(),
            vmo: vmo.raw_handle(),
            offset: range.start,
            length: range_len(&range)?,
            ..Default::default()
        };
        let mut raw = vec![sys::vmo_dirty_range::default(); out.len()];
        sys::pager_query_dirty(self.fd(), &mut args, &mut raw).map_err(Status::from_errno)?;
        let actual = usize::try_from(args.actual).unwrap_or(usize::MAX).min(out.len());
        for (o, r) in out.iter_mut().zip(&raw[..actual]) {
            *o = DirtyRange {
                offset: r.offset,
                length: r.length,
                is_zero: r.options & u64::from(sys::VMO_DIRTY_RANGE_IS_ZERO) != 0,
            };
        }
        Ok((actual, usize::try_from(args.avail).unwrap_or(usize::MAX)))
    }

    /// All the dirty ranges of `range`, asking as often as needed.
    pub fn dirty_ranges(&self, vmo: &Vmo, range: Range<u64>) -> Result<Vec<DirtyRange>, Status> {
        let mut all = Vec::new();
        let mut start = range.start;
        let mut buf = [DirtyRange::default(); 64];
        loop {
            let (actual, avail) = self.query_dirty_ranges(vmo, start..range.end, &mut buf)?;
            all.extend_from_slice(&buf[..actual]);
            if actual >= avail || actual == 0 {
                return Ok(all);
            }
            start = buf[actual - 1].range().end;
        }
    }

    /// `zx_pager_query_vmo_stats`: whether `vmo` was modified (written, a
    /// write fault, ZERO, a resize) since the stats were last reset; with
    /// `reset` they are reset. Needs [`Rights::MANAGE_VMO`].
    pub fn query_vmo_stats(&self, vmo: &Vmo, reset: bool) -> Result<bool, Status> {
        let args = sys::vmo_pager_query_stats_args {
            pager: self.0.raw(),
            vmo: vmo.raw_handle(),
            options: if reset { sys::VMO_PAGER_RESET_VMO_STATS } else { 0 },
            ..Default::default()
        };
        let mut stats = sys::vmo_pager_vmo_stats::default();
        sys::pager_query_stats(self.fd(), args, &mut stats).map_err(Status::from_errno)?;
        Ok(stats.modified & sys::VMO_PAGER_VMO_STATS_MODIFIED != 0)
    }

    /// `VMO_IOC_PAGER_WAIT`: the next packet of this pager. `None` waits
    /// forever, `Some(Duration::ZERO)` only looks; `TIMED_OUT` when no
    /// packet came in time.
    ///
    /// A signal delivered to the waiting thread ends the wait with
    /// [`Status::INTERRUPTED_RETRY`] (`EINTR`); no packet is lost, so the
    /// caller may simply wait again (with what is left of its timeout), or
    /// use the interruption to notice that it should stop.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<PagerPacket, Status> {
        let mut args = sys::vmo_pager_wait_args {
            pager: self.0.raw(),
            timeout_ns: timeout_ns(timeout),
            ..Default::default()
        };
        sys::pager_wait(self.fd(), &mut args).map_err(Status::from_errno)?;
        Ok(PagerPacket::from_sys(&args.packet))
    }

    /// [`Pager::wait`] that waits again after an interruption by a signal,
    /// until the whole `timeout` has passed.
    pub fn wait_uninterrupted(&self, timeout: Option<Duration>) -> Result<PagerPacket, Status> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let left = match (timeout, deadline) {
                (None, _) => None,
                (Some(_), Some(d)) => Some(d.saturating_duration_since(Instant::now())),
                // A timeout too long for an Instant: forever, in practice.
                (Some(_), None) => None,
            };
            match self.wait(left) {
                Err(Status::INTERRUPTED_RETRY) => continue,
                other => return other,
            }
        }
    }

    /// The device the handle belongs to.
    pub fn device(&self) -> &Device {
        self.0.device()
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.device().as_fd()
    }
}

impl Vmo {
    /// `zx_pager_create_vmo`: [`Pager::create_vmo`] under the name of the
    /// VMO constructors.
    pub fn create_pager_backed(pager: &Pager, key: u64, size: u64) -> Result<Vmo, Status> {
        pager.create_vmo(key, size)
    }

    /// `zx_pager_create_vmo` with `options` (as `zx::Pager::create_vmo`'s:
    /// [`VmoOptions::RESIZABLE`] or none): [`Pager::create_vmo_with_options`]
    /// under the name of the VMO constructors.
    pub fn create_pager_backed_with_options(
        pager: &Pager,
        options: VmoOptions,
        key: u64,
        size: u64,
    ) -> Result<Vmo, Status> {
        pager.create_vmo_with_options(options, key, size)
    }
}

impl Device {
    /// Waits up to `timeout` (`None`: forever) until a pager of this handle
    /// table has a packet waiting, with `poll(2)` on the device's file
    /// descriptor (`POLLIN`); `Ok(false)` when the time ran out. An
    /// interrupted poll is restarted with the time that is left.
    ///
    /// The readiness covers every pager of the table; [`Pager::wait`] with
    /// `Some(Duration::ZERO)` then takes a packet of one pager without
    /// blocking. For `epoll`, register the fd ([`AsFd`]) for `EPOLLIN`.
    pub fn poll_pager(&self, timeout: Option<Duration>) -> io::Result<bool> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let left = match (timeout, deadline) {
                (Some(_), Some(d)) => Some(d.saturating_duration_since(Instant::now())),
                _ => None,
            };
            let ts = match left {
                // A Timespec of more than i64::MAX seconds: forever, in practice.
                Some(l) => Timespec::try_from(l).ok(),
                None => None,
            };
            let mut fds = [PollFd::new(self, PollFlags::IN)];
            match poll(&mut fds, ts.as_ref()) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    let ready = fds[0].revents();
                    if ready.intersects(PollFlags::ERR | PollFlags::NVAL) {
                        return Err(io::Error::other(format!("poll on /dev/vmo: {ready:?}")));
                    }
                    return Ok(ready.contains(PollFlags::IN));
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_kinds_and_ops_have_the_abi_values() {
        assert_eq!(PacketKind::from_raw(0), PacketKind::Read);
        assert_eq!(PacketKind::from_raw(1), PacketKind::Complete);
        assert_eq!(PacketKind::from_raw(9), PacketKind::Other(9));
        for k in [PacketKind::Read, PacketKind::Complete, PacketKind::Other(42)] {
            assert_eq!(PacketKind::from_raw(k.into_raw()), k);
        }
        assert_eq!(PagerOp::FAIL.into_raw(), 1);
        assert_eq!(PagerOp::DIRTY.into_raw(), 2);
        assert_eq!(PagerOp::WRITEBACK_BEGIN.into_raw(), 3);
        assert_eq!(PagerOp::WRITEBACK_END.into_raw(), 4);
        assert_eq!(format!("{:?}", PagerOp::DIRTY), "DIRTY");
        assert_eq!(format!("{:?}", PagerOp::from_raw(77)), "PagerOp(77)");
    }

    #[test]
    fn packets_convert_from_the_abi() {
        let raw = sys::vmo_pager_packet {
            key: 0x1234,
            type_: sys::VMO_PAGER_VMO_READ,
            reserved: 0,
            offset: 0x2000,
            length: 0x3000,
        };
        let p = PagerPacket::from_sys(&raw);
        assert_eq!(
            p,
            PagerPacket { key: 0x1234, kind: PacketKind::Read, offset: 0x2000, length: 0x3000 }
        );
        assert_eq!(p.range(), 0x2000..0x5000);
    }

    #[test]
    fn timeouts_and_ranges() {
        assert_eq!(timeout_ns(None), -1);
        assert_eq!(timeout_ns(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ns(Some(Duration::from_millis(100))), 100_000_000);
        assert_eq!(timeout_ns(Some(Duration::MAX)), i64::MAX);
        assert_eq!(range_len(&(4096..12288)), Ok(8192));
        assert_eq!(range_len(&(4096..4096)), Ok(0));
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 8192..4096;
        assert_eq!(range_len(&backwards), Err(Status::INVALID_ARGS));
    }

    #[test]
    fn fail_codes_are_sent_as_errnos() {
        // What Pager::fail puts in `data` for the allowed codes.
        assert_eq!(fail_data(Status::IO), u64::from(sys::VMO_ERRNO_IO));
        assert_eq!(
            fail_data(Status::IO_DATA_INTEGRITY),
            u64::from(sys::VMO_ERRNO_IO_DATA_INTEGRITY)
        );
        assert_eq!(fail_data(Status::BAD_STATE), u64::from(sys::VMO_ERRNO_BAD_STATE));
        assert_eq!(fail_data(Status::NO_SPACE), u64::from(sys::VMO_ERRNO_NO_SPACE));
        assert_eq!(fail_data(Status::BUFFER_TOO_SMALL), u64::from(sys::VMO_ERRNO_BUFFER_TOO_SMALL));
        assert_eq!(fail_data(Status::OK), 0);
        assert_eq!(
            fail_data(Status::INTERNAL),
            u64::from(sys::Errno::PROTO.raw_os_error().unsigned_abs())
        );
    }

    #[test]
    fn pager_calls_on_a_file_that_is_not_dev_vmo_are_not_supported() {
        let f = std::fs::File::open("/dev/null").expect("open /dev/null");
        let dev = Device::from_fd(f.into());
        assert_eq!(Pager::create(&dev), Err(Status::NOT_SUPPORTED));
        // Made-up handle values (closing them on drop fails quietly).
        let pager = Pager(handle_from_kernel(&dev, 0x10));
        let vmo = Vmo::from(handle_from_kernel(&dev, 0x20));
        assert_eq!(pager.create_vmo(1, 4096), Err(Status::NOT_SUPPORTED));
        assert_eq!(
            Vmo::create_pager_backed_with_options(&pager, VmoOptions::RESIZABLE, 1, 4096),
            Err(Status::NOT_SUPPORTED)
        );
        assert_eq!(pager.wait(Some(Duration::ZERO)), Err(Status::NOT_SUPPORTED));
        assert_eq!(pager.supply_pages(&vmo, 0..4096, &vmo, 0), Err(Status::NOT_SUPPORTED));
        assert_eq!(pager.fail(&vmo, 0..4096, Status::IO), Err(Status::NOT_SUPPORTED));
        assert_eq!(pager.detach_vmo(&vmo), Err(Status::NOT_SUPPORTED));
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 4096..0;
        assert_eq!(pager.fail(&vmo, backwards, Status::IO), Err(Status::INVALID_ARGS));
    }

    #[test]
    fn poll_on_a_file_that_never_becomes_readable_times_out() {
        // A socket with nothing sent to it: stands in for /dev/vmo
        // without a packet (the host has no /dev/vmo).
        let (r, _w) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let dev = Device::from_fd(r.into());
        assert!(!dev.poll_pager(Some(Duration::from_millis(10))).unwrap());
    }
}
