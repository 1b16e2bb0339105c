// SPDX-License-Identifier: GPL-2.0

//! User pagers (Zircon's `zx_pager_*`): VMOs whose pages a userspace process supplies.
//!
//! A [`Pager`] is the object a pager handle refers to; its state lives in a [`PagerCore`],
//! which the VMOs it backs reach through their [`PageSource`]. An access to an absent page of a
//! pager-backed VMO (COMMIT, read, write, a fault) calls [`PageSource::populate`]: it finds the
//! first missing run of pages, joins the outstanding request that covers its first page or
//! queues a new one (requests never overlap), and sleeps until the request completes. The pager
//! reads requests as packets ([`PagerCore::wait`], or `poll` on its `/dev/vmo` file) and
//! completes them by supplying pages ([`PageSource::supply`]: the request is done once all of
//! its pages are present) or by failing a range ([`PageSource::fail`]: every overlapping
//! request ends with that status). Detaching the VMO or closing the pager's last handle ends
//! every request with `BAD_STATE` and frees the VMO's pages.
//!
//! Lock order: a handle table's lock, then [`PagerCore::inner`] (`poll` looks at the pagers of
//! a table under the table lock); the mmap lock (a fault), then `inner`. `inner` is the one
//! lock of a pager and of all its sources. Under it pages are only looked up (RCU) and filled
//! under their folio lock ([`ShmemFile::fill`]); nothing under it takes a shmem inode lock or
//! the mmap lock, because a `write` holds the inode lock while its user copy faults, and the
//! fault may come here. Freeing pages (punching) therefore happens after `inner` is released.
//! Tree nodes and requests are allocated before it is taken.

use crate::{
    shmem::ShmemFile,
    status::{Status, ZxResult},
    uapi,
    vmo::{new_koid, PAGE_SIZE},
};
use kernel::{
    new_condvar, new_mutex, new_poll_condvar,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        poll::PollCondVar,
        Arc, CondVar, CondVarTimeoutResult, LockedBy, Mutex, MutexGuard, UniqueArc,
    },
    time::msecs_to_jiffies,
};

/// A packet for the pager (`struct vmo_pager_packet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packet {
    /// The key the VMO was created with.
    pub(crate) key: u64,
    /// `VMO_PAGER_VMO_READ` or `VMO_PAGER_VMO_COMPLETE`.
    pub(crate) kind: u32,
    /// Byte offset of a READ request (page aligned).
    pub(crate) offset: u64,
    /// Byte length of a READ request (page aligned).
    pub(crate) length: u64,
}

/// The readiness of one open `/dev/vmo` file: notified whenever a pager made in that file
/// queues a packet.
pub(crate) type Readiness = PollCondVar;

/// A new [`Readiness`].
pub(crate) fn new_readiness() -> Result<Arc<Readiness>> {
    Arc::pin_init(new_poll_condvar!("vmo_pager_readiness"), GFP_KERNEL_ACCOUNT)
}

/// `Request::result` while the request is outstanding.
const PENDING: i32 = 1;
/// `Request::result` once its pages are all present.
const SUPPLIED: i32 = 0;

/// One outstanding request: pages `[start, end)` of the shmem file.
struct Request {
    start: u64,
    end: u64,
    /// The key of its READ packet in the pager's queue.
    seq: u64,
    /// [`PENDING`], [`SUPPLIED`], or the negated errno of the status it failed with. Written
    /// under the pager's lock.
    result: Atomic<i32>,
}

/// A failure that a fault found after dropping the fault lock, kept for its retry.
#[derive(Clone, Copy)]
struct FaultFailure {
    pid: i32,
    pgoff: u64,
}

/// How many fault failures a source remembers for the faults' retries.
const FAULT_FAILURES: usize = 8;

struct SourceState {
    detached: bool,
    /// Outstanding requests by first page; they never overlap.
    requests: RBTree<u64, Arc<Request>>,
    failures: [Option<FaultFailure>; FAULT_FAILURES],
    next_failure: usize,
}

struct PagerInner {
    /// The pager's last handle is closed.
    closed: bool,
    next_seq: u64,
    /// Packets not yet read by the pager, in order.
    queue: RBTree<u64, Packet>,
    /// Attached sources by VMO koid.
    sources: RBTree<u64, Arc<PageSource>>,
}

/// The state of a pager, shared by its handles' object and the VMOs it backs.
#[pin_data]
pub(crate) struct PagerCore {
    koid: u64,
    readiness: Arc<Readiness>,
    #[pin]
    inner: Mutex<PagerInner>,
    /// Notified when requests complete.
    #[pin]
    done: CondVar,
    /// Notified when a packet is queued or the pager closes.
    #[pin]
    queued: CondVar,
}

/// The object a pager handle refers to: closing its last handle closes the pager.
pub(crate) struct Pager {
    core: Arc<PagerCore>,
}

impl Pager {
    /// `zx_pager_create`; `readiness` is notified when packets are queued.
    pub(crate) fn new(readiness: Arc<Readiness>) -> ZxResult<Arc<Pager>> {
        let core = Arc::pin_init(
            pin_init!(PagerCore {
                koid: new_koid(),
                readiness,
                inner <- new_mutex!(PagerInner {
                    closed: false,
                    next_seq: 0,
                    queue: RBTree::new(),
                    sources: RBTree::new(),
                }),
                done <- new_condvar!("vmo_pager_done"),
                queued <- new_condvar!("vmo_pager_queued"),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        Ok(Arc::new(Pager { core }, GFP_KERNEL_ACCOUNT)?)
    }

    /// The pager's shared state.
    pub(crate) fn core(&self) -> &Arc<PagerCore> {
        &self.core
    }

    /// The object id.
    pub(crate) fn koid(&self) -> u64 {
        self.core.koid
    }

    /// Attaches a new VMO (`koid`, pages in `file`, `size` bytes) with `key` to this pager.
    pub(crate) fn attach(
        &self,
        koid: u64,
        key: u64,
        file: ShmemFile,
        size: u64,
    ) -> ZxResult<Arc<PageSource>> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
        let source = Arc::new(
            PageSource {
                koid,
                key,
                size,
                core: self.core.clone(),
                file,
                state: LockedBy::new(
                    &self.core.inner,
                    SourceState {
                        detached: false,
                        requests: RBTree::new(),
                        failures: [None; FAULT_FAILURES],
                        next_failure: 0,
                    },
                ),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        let mut inner = self.core.inner.lock();
        if inner.closed {
            return Err(Status::BadState);
        }
        inner.sources.insert(node.into_node(koid, source.clone()));
        Ok(source)
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        self.core.close();
    }
}

impl PagerCore {
    /// Whether a packet is waiting.
    pub(crate) fn has_packets(&self) -> bool {
        !self.inner.lock().queue.is_empty()
    }

    fn wake_pager(&self) {
        self.queued.notify_all();
        self.readiness.notify_all();
    }

    /// `VMO_IOC_PAGER_WAIT`: the next packet. `timeout_ns` < 0 waits until one comes, 0 only
    /// looks. `TIMED_OUT` when none came; `EINTR` on a signal; `BAD_STATE` once closed.
    pub(crate) fn wait(&self, timeout_ns: i64) -> ZxResult<Packet> {
        let mut remaining = if timeout_ns > 0 {
            let ms = (timeout_ns as u64).div_ceil(1_000_000);
            msecs_to_jiffies(u32::try_from(ms).unwrap_or(u32::MAX))
        } else {
            0
        };
        let mut inner = self.inner.lock();
        loop {
            if let Some(front) = inner.queue.cursor_front_mut() {
                let (_, node) = front.remove_current();
                return Ok(node.to_key_value().1);
            }
            if inner.closed {
                return Err(Status::BadState);
            }
            if timeout_ns == 0 {
                return Err(Status::TimedOut);
            }
            if timeout_ns < 0 {
                if self.queued.wait_interruptible(&mut inner) {
                    return Err(Status::Kernel(EINTR));
                }
                continue;
            }
            match self
                .queued
                .wait_interruptible_timeout(&mut inner, remaining)
            {
                CondVarTimeoutResult::Timeout => {
                    // One last look: a packet may have come with the timeout.
                    if inner.queue.is_empty() {
                        return Err(Status::TimedOut);
                    }
                }
                CondVarTimeoutResult::Signal { .. } => return Err(Status::Kernel(EINTR)),
                CondVarTimeoutResult::Woken { jiffies } => remaining = jiffies,
            }
        }
    }

    /// Closes the pager (its last handle is gone): every source is detached.
    fn close(&self) {
        self.inner.lock().closed = true;
        loop {
            let mut inner = self.inner.lock();
            let Some(source) = inner.sources.values().next().cloned() else {
                inner.queue = RBTree::new();
                break;
            };
            source.detach_locked(&mut inner, None);
            drop(inner);
            self.done.notify_all();
            source.free_pages();
        }
        self.done.notify_all();
        self.wake_pager();
    }
}

/// A request for a hole, with the pager's lock still held and the hole's first page.
type Queued<'a> = (MutexGuard<'a, PagerInner>, Arc<Request>, u64);

/// The pager side of one pager-backed VMO.
///
/// # Invariants
///
/// `state` is locked by `core.inner`; `file` is the VMO's shmem file of `size` bytes.
pub(crate) struct PageSource {
    koid: u64,
    key: u64,
    size: u64,
    core: Arc<PagerCore>,
    file: ShmemFile,
    state: LockedBy<SourceState, PagerInner>,
}

impl PageSource {
    /// Whether `pager` is the pager of this source.
    pub(crate) fn is_of(&self, pager: &Pager) -> bool {
        Arc::ptr_eq(&self.core, &pager.core)
    }

    /// Whether the source is detached (or its pager closed).
    pub(crate) fn is_detached(&self) -> bool {
        let mut inner = self.core.inner.lock();
        self.state.access_mut(&mut inner).detached
    }

    /// Makes pages `[start, end)` present, asking the pager for each missing run and waiting.
    /// Returns the status the pager failed a request with, `BAD_STATE` when detached, or
    /// `ERESTARTSYS` when a signal ended the wait (the request stays with the pager).
    pub(crate) fn populate(&self, mut start: u64, end: u64) -> ZxResult {
        while start < end {
            let Some((mut inner, req, hole)) = self.request_first_hole(start, end)? else {
                return Ok(());
            };
            loop {
                match req.result.load(Relaxed) {
                    PENDING => {
                        if self.core.done.wait_interruptible(&mut inner) {
                            return Err(Status::Kernel(ERESTARTSYS));
                        }
                    }
                    SUPPLIED => break,
                    e => return Err(Status::from_pager_errno(-e)),
                }
            }
            drop(inner);
            start = hole;
        }
        Ok(())
    }

    /// Queues (or joins) the request for the first hole of pages `[start, end)`; returns it
    /// with the pager's lock still held and the hole's first page, or `None` if every page is
    /// present. The tree nodes
    /// and the request are allocated before the lock is taken.
    fn request_first_hole(&self, start: u64, end: u64) -> ZxResult<Option<Queued<'_>>> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let packet = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let fresh = UniqueArc::new(
            Request {
                start: 0,
                end: 0,
                seq: 0,
                result: Atomic::new(PENDING),
            },
            GFP_KERNEL,
        )?;
        let mut inner = self.core.inner.lock();
        let (hole, hole_end) = self.file.find_hole(start, end);
        if hole == end {
            return Ok(None);
        }
        let req = self.request(&mut inner, hole, hole_end, node, packet, fresh)?;
        Ok(Some((inner, req, hole)))
    }

    /// The request covering page `hole`: the outstanding one that contains it, or a new one
    /// for `[hole, hole_end)` cut short where the next outstanding request starts.
    fn request(
        &self,
        inner: &mut PagerInner,
        hole: u64,
        hole_end: u64,
        node: RBTreeNodeReservation<u64, Arc<Request>>,
        packet: RBTreeNodeReservation<u64, Packet>,
        mut fresh: UniqueArc<Request>,
    ) -> ZxResult<Arc<Request>> {
        if inner.closed {
            return Err(Status::BadState);
        }
        let seq = inner.next_seq;
        let st = self.state.access_mut(inner);
        if st.detached {
            return Err(Status::BadState);
        }
        let mut end = hole_end;
        for r in st.requests.values() {
            if r.start <= hole && hole < r.end {
                return Ok(r.clone());
            }
            if r.start > hole && r.start < end {
                end = r.start;
            }
        }
        fresh.start = hole;
        fresh.end = end;
        fresh.seq = seq;
        let req: Arc<Request> = fresh.into();
        st.requests.insert(node.into_node(hole, req.clone()));
        inner.next_seq += 1;
        inner.queue.insert(packet.into_node(
            seq,
            Packet {
                key: self.key,
                kind: uapi::VMO_PAGER_VMO_READ,
                offset: hole * PAGE_SIZE,
                length: (end - hole) * PAGE_SIZE,
            },
        ));
        self.core.wake_pager();
        Ok(req)
    }

    /// Ends the outstanding requests that overlap pages `[start, end)` with `result`; with
    /// `if_present`, only those whose pages are all present.
    fn complete_locked(
        &self,
        inner: &mut PagerInner,
        start: u64,
        end: u64,
        result: i32,
        if_present: bool,
    ) {
        loop {
            let st = self.state.access_mut(inner);
            let found = st
                .requests
                .values()
                .find(|r| {
                    r.start < end
                        && start < r.end
                        && (!if_present || self.file.find_hole(r.start, r.end).0 == r.end)
                })
                .map(|r| (r.start, r.seq));
            let Some((first, seq)) = found else {
                break;
            };
            if let Some(r) = st.requests.remove(&first) {
                r.result.store(result, Relaxed);
            }
            // A request that ends before the pager read it is not delivered.
            inner.queue.remove(&seq);
        }
    }

    /// `zx_pager_supply_pages` after the handle and range checks: pages `[start, end)` get the
    /// pages of `aux` from byte `aux_pos` on where they are absent (zeros where `aux` has
    /// none); the caller then decommits the aux range.
    pub(crate) fn supply(&self, start: u64, end: u64, aux: &ShmemFile, aux_pos: u64) -> ZxResult {
        let mut inner = self.core.inner.lock();
        if inner.closed || self.state.access_mut(&mut inner).detached {
            return Err(Status::BadState);
        }
        let mut pos = start;
        while pos < end {
            let (hole, hole_end) = self.file.find_hole(pos, end);
            if hole == end {
                break;
            }
            // In range: `hole >= start`, and the caller checked the aux range.
            let from = aux_pos + (hole - start) * PAGE_SIZE;
            let to = from + (hole_end - hole) * PAGE_SIZE;
            aux.for_each_page(from, to, |chunk| {
                if chunk.uptodate {
                    self.file
                        .fill(hole * PAGE_SIZE + (chunk.pos - from), Some(chunk), 0)?;
                }
                Ok(())
            })
            .map_err(Status::from_mm)?;
            // The pages aux did not have are zeros.
            self.fill_zero_pages(hole, hole_end)?;
            pos = hole_end;
        }
        self.complete_locked(&mut inner, start, end, SUPPLIED, true);
        drop(inner);
        self.core.done.notify_all();
        Ok(())
    }

    /// Fills the absent pages of `[start, end)` with zeros (under the pager's lock).
    fn fill_zero_pages(&self, start: u64, end: u64) -> ZxResult {
        let mut pos = start;
        while pos < end {
            let (hole, hole_end) = self.file.find_hole(pos, end);
            for p in hole..hole_end {
                self.file
                    .fill(p * PAGE_SIZE, None, PAGE_SIZE as usize)
                    .map_err(Status::from_mm)?;
            }
            pos = hole_end;
        }
        Ok(())
    }

    /// ZERO of bytes `[start, end)` of the shmem file, whose partial pages at the ends the
    /// caller paged in: every byte becomes zero and every page stays present (a hole would be
    /// asked of the pager again). Runs under the pager's lock, so no request and no supply
    /// comes between; `BAD_STATE` if detached.
    pub(crate) fn zero(&self, start: u64, end: u64) -> ZxResult {
        let mut inner = self.core.inner.lock();
        if inner.closed || self.state.access_mut(&mut inner).detached {
            return Err(Status::BadState);
        }
        let mut pos = start;
        while pos < end {
            let len = (PAGE_SIZE - pos % PAGE_SIZE).min(end - pos);
            // At most a page: `as` cannot truncate.
            self.file
                .fill(pos, None, len as usize)
                .map_err(Status::from_mm)?;
            pos += len;
        }
        Ok(())
    }

    /// `ZX_PAGER_OP_FAIL` after the checks: every request overlapping pages `[start, end)`
    /// fails with `status`.
    pub(crate) fn fail(&self, start: u64, end: u64, status: Status) -> ZxResult {
        let mut inner = self.core.inner.lock();
        if inner.closed || self.state.access_mut(&mut inner).detached {
            return Err(Status::BadState);
        }
        self.complete_locked(&mut inner, start, end, -status.errno(), false);
        drop(inner);
        self.core.done.notify_all();
        Ok(())
    }

    /// `zx_pager_detach_vmo`: ends every request with `BAD_STATE`, frees
    /// the pages and tells the pager (a COMPLETE packet). Detaching twice does nothing.
    pub(crate) fn detach(&self) {
        if self.detach_only() {
            self.free_pages();
        }
    }

    /// Detaches without freeing the pages: for a VMO that is going away, whose pages go with
    /// its file (this may run in `munmap`, under the mmap lock, where punching a hole, which
    /// takes the inode lock, must not). Returns whether it was attached.
    pub(crate) fn detach_only(&self) -> bool {
        let packet = RBTreeNodeReservation::new(GFP_KERNEL).ok();
        let mut inner = self.core.inner.lock();
        let detached = self.detach_locked(&mut inner, packet);
        drop(inner);
        self.core.done.notify_all();
        self.core.wake_pager();
        detached
    }

    /// Frees the pages of a detached source. No supply adds pages once it is detached; a
    /// failure leaves pages that go with the VMO (later accesses are BAD_STATE all the same).
    fn free_pages(&self) {
        let _ = self.file.punch(0, self.size);
    }

    /// Detaches the source; false if it already was. The caller frees the pages after
    /// releasing the lock.
    fn detach_locked(
        &self,
        inner: &mut PagerInner,
        packet: Option<RBTreeNodeReservation<u64, Packet>>,
    ) -> bool {
        let st = self.state.access_mut(inner);
        if st.detached {
            return false;
        }
        st.detached = true;
        self.complete_locked(inner, 0, u64::MAX, -Status::BadState.errno(), false);
        let removed = inner.sources.remove(&self.koid);
        if let (Some(packet), false) = (packet, inner.closed) {
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.queue.insert(packet.into_node(
                seq,
                Packet {
                    key: self.key,
                    kind: uapi::VMO_PAGER_VMO_COMPLETE,
                    offset: 0,
                    length: 0,
                },
            ));
        }
        drop(removed);
        true
    }

    /// A fault on page `pgoff` waits for it. With `record` (the fault dropped its lock and will
    /// be retried) a failure is kept for the retry of this thread to find.
    pub(crate) fn fault_wait(&self, pgoff: u64, record: bool) -> ZxResult {
        let r = self.populate(pgoff, pgoff + 1);
        if let (Err(s), true) = (r, record) {
            if !matches!(s, Status::Kernel(_)) {
                let pid = kernel::current!().pid();
                let mut inner = self.core.inner.lock();
                let st = self.state.access_mut(&mut inner);
                let i = st.next_failure % FAULT_FAILURES;
                st.failures[i] = Some(FaultFailure { pid, pgoff });
                st.next_failure = st.next_failure.wrapping_add(1);
            }
        }
        r
    }

    /// Whether this thread's last fault on `pgoff` failed (and forgets it).
    pub(crate) fn take_fault_failure(&self, pgoff: u64) -> bool {
        let pid = kernel::current!().pid();
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        for f in st.failures.iter_mut() {
            if matches!(f, Some(x) if x.pid == pid && x.pgoff == pgoff) {
                *f = None;
                return true;
            }
        }
        false
    }
}

#[kunit_tests(vmo_pager)]
mod tests {
    use super::*;

    const PG: u64 = PAGE_SIZE;

    /// A pager and one source of `pages` pages attached to it.
    fn setup(pages: u64) -> Result<(Arc<Pager>, Arc<PageSource>)> {
        let pager = Pager::new(new_readiness()?)?;
        let koid = new_koid();
        let file = ShmemFile::new(pages * PG, koid)?;
        let source = pager.attach(koid, 42, file, pages * PG)?;
        Ok((pager, source))
    }

    /// Queues (or joins) the request for the first hole of pages `[start, end)`, as
    /// `populate` does, without waiting for it.
    fn request(source: &PageSource, start: u64, end: u64) -> ZxResult<Option<Arc<Request>>> {
        Ok(source
            .request_first_hole(start, end)?
            .map(|(_, req, _)| req))
    }

    /// An aux file of `pages` pages, each filled with its page number plus 1.
    fn aux(pages: u64) -> Result<ShmemFile> {
        let f = ShmemFile::new(pages * PG, new_koid())?;
        for p in 0..pages {
            let b = [p as u8 + 1; 1];
            let chunk = crate::shmem::PageChunk {
                addr: b.as_ptr().cast_mut(),
                len: 1,
                pos: 0,
                uptodate: true,
            };
            f.copy_chunk(&chunk, p * PG)?;
        }
        Ok(f)
    }

    fn read_packet(pager: &Pager) -> ZxResult<Packet> {
        pager.core().wait(0)
    }

    /// Holes are found at the cost of the present pages, not of the holes' length: a
    /// 32 TiB file with two pages is searched at once.
    #[test]
    fn holes_are_found_without_walking_them() -> Result {
        let pages: u64 = 1 << 33;
        let file = ShmemFile::new(pages * PG, new_koid())?;
        let b = [1u8; 1];
        let chunk = crate::shmem::PageChunk {
            addr: b.as_ptr().cast_mut(),
            len: 1,
            pos: 0,
            uptodate: true,
        };
        file.copy_chunk(&chunk, 5 * PG)?;
        file.copy_chunk(&chunk, (1 << 32) * PG)?;
        assert_eq!(file.find_hole(0, pages), (0, 5));
        assert_eq!(file.find_hole(5, pages), (6, 1 << 32));
        assert_eq!(file.find_hole(1 << 32, pages), ((1 << 32) + 1, pages));
        assert_eq!(file.find_hole(5, 6), (6, 6));
        assert_eq!(
            file.find_hole(1 << 32, (1 << 32) + 1),
            ((1 << 32) + 1, (1 << 32) + 1)
        );
        assert_eq!(file.find_hole(7, 9), (7, 9));
        Ok(())
    }

    #[test]
    fn one_request_per_missing_run_shared_by_overlapping_waiters() -> Result {
        let (pager, source) = setup(16)?;
        let a = request(&source, 0, 11)?.ok_or(EINVAL)?;
        // A second waiter for pages inside the first request joins it.
        let b = request(&source, 3, 11)?.ok_or(EINVAL)?;
        assert!(Arc::ptr_eq(&a, &b));
        // A waiter for [8, 16) joins too (page 8 is in [0, 11)).
        let c = request(&source, 8, 16)?.ok_or(EINVAL)?;
        assert!(Arc::ptr_eq(&a, &c));
        // A waiter for [11, 16) gets a new request that starts where the first one ends.
        let d = request(&source, 11, 16)?.ok_or(EINVAL)?;
        assert!(!Arc::ptr_eq(&a, &d));
        let p1 = read_packet(&pager)?;
        assert_eq!(
            (p1.key, p1.kind, p1.offset, p1.length),
            (42, uapi::VMO_PAGER_VMO_READ, 0, 11 * PG)
        );
        let p2 = read_packet(&pager)?;
        assert_eq!((p2.offset, p2.length), (11 * PG, 5 * PG));
        assert_eq!(read_packet(&pager), Err(Status::TimedOut));
        Ok(())
    }

    #[test]
    fn supply_completes_only_fully_present_requests() -> Result {
        let (pager, source) = setup(8)?;
        let req = request(&source, 0, 4)?.ok_or(EINVAL)?;
        let aux = aux(8)?;
        source.supply(0, 2, &aux, 0)?;
        assert_eq!(req.result.load(Relaxed), PENDING);
        // A waiter for the missing half joins the same request.
        let again = request(&source, 0, 4)?.ok_or(EINVAL)?;
        assert!(Arc::ptr_eq(&req, &again));
        source.supply(2, 4, &aux, 2 * PG)?;
        assert_eq!(req.result.load(Relaxed), SUPPLIED);
        // Supplied pages need no request; the contents are aux's.
        assert!(request(&source, 0, 4)?.is_none());
        let mut seen = KVec::new();
        source.file.for_each_page(0, 4 * PG, |c| {
            if c.pos % PG == 0 {
                // SAFETY: `c.addr` is mapped for `c.len >= 1` bytes during the callback.
                seen.push(unsafe { c.addr.read_volatile() }, GFP_KERNEL)?;
            }
            Ok(())
        })?;
        assert_eq!(&seen[..], &[1, 2, 3, 4]);
        // Supplying present pages keeps them.
        source.supply(0, 4, &aux, 4 * PG)?;
        assert_eq!(source.file.committed_bytes(), 4 * PG);
        // The request ended before the pager read it: its packet is gone.
        assert_eq!(read_packet(&pager), Err(Status::TimedOut));
        Ok(())
    }

    #[test]
    fn fail_ends_overlapping_requests_and_is_not_sticky() -> Result {
        let (pager, source) = setup(12)?;
        let aux = aux(12)?;
        source.supply(4, 8, &aux, 0)?;
        let first = request(&source, 0, 12)?.ok_or(EINVAL)?;
        let second = request(&source, 8, 12)?.ok_or(EINVAL)?;
        assert_eq!(
            (first.start, first.end, second.start, second.end),
            (0, 4, 8, 12)
        );
        source.fail(2, 3, Status::IoDataIntegrity)?;
        assert_eq!(first.result.load(Relaxed), -Status::IoDataIntegrity.errno());
        assert_eq!(second.result.load(Relaxed), PENDING);
        // The failed request's packet was read or dropped; a new access asks again.
        let again = request(&source, 0, 4)?.ok_or(EINVAL)?;
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(again.result.load(Relaxed), PENDING);
        // Failing a range with no request is fine (Zircon's FailRedundant).
        source.fail(4, 8, Status::Io)?;
        drop(pager);
        Ok(())
    }

    #[test]
    fn detach_and_close_end_everything_with_bad_state() -> Result {
        let (pager, source) = setup(4)?;
        let aux = aux(4)?;
        source.supply(0, 1, &aux, 0)?;
        let req = request(&source, 0, 4)?.ok_or(EINVAL)?;
        assert_eq!(read_packet(&pager)?.kind, uapi::VMO_PAGER_VMO_READ);
        source.detach();
        assert_eq!(req.result.load(Relaxed), -Status::BadState.errno());
        assert_eq!(source.file.committed_bytes(), 0);
        let p = read_packet(&pager)?;
        assert_eq!((p.key, p.kind), (42, uapi::VMO_PAGER_VMO_COMPLETE));
        assert_eq!(source.populate(0, 1), Err(Status::BadState));
        assert_eq!(source.supply(0, 1, &aux, 0), Err(Status::BadState));
        assert_eq!(source.fail(0, 1, Status::Io), Err(Status::BadState));
        // Detaching twice is harmless and sends nothing.
        source.detach();
        assert_eq!(read_packet(&pager), Err(Status::TimedOut));

        let (pager, source) = setup(4)?;
        let req = request(&source, 0, 4)?.ok_or(EINVAL)?;
        let core = pager.core().clone();
        drop(pager);
        assert_eq!(req.result.load(Relaxed), -Status::BadState.errno());
        assert_eq!(source.populate(0, 1), Err(Status::BadState));
        assert_eq!(core.wait(0), Err(Status::BadState));
        Ok(())
    }
}
