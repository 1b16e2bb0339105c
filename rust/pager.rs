// SPDX-License-Identifier: GPL-2.0

//! User pagers (Zircon's `zx_pager_*`): VMOs whose pages a userspace process supplies.
//!
//! A [`Pager`] is the object a pager handle refers to; its state lives in a [`PagerCore`],
//! which the VMOs it backs reach through their [`PageSource`]. An access to an absent page of a
//! pager-backed VMO (COMMIT, read, write, a fault) calls [`PageSource::populate`]: it finds the
//! first missing run of pages, joins the outstanding request that covers its first page or
//! queues a new one (requests never overlap), and sleeps until the request ends. The pager
//! reads requests as packets ([`PagerCore::wait`], or `poll` on its `/dev/vmo` file) and ends
//! them by supplying pages ([`PageSource::supply`]: a request is done once all of its pages are
//! present) or by failing a range ([`PageSource::fail`]: every overlapping request ends with
//! that status). Detaching the VMO or closing the pager's last handle ends every request with
//! `BAD_STATE` and frees the VMO's pages.
//!
//! **Bounded memory.** Everything is charged to the memory cgroup of the task that caused it
//! (`GFP_KERNEL_ACCOUNT`). A request lives only while a thread waits for it: the last waiter to
//! give up (a signal) withdraws it, with its packet if the pager has not read it yet, so
//! requests and READ packets are at most the waiting threads. A source's COMPLETE packet is
//! allocated when the VMO is created and coalesced per key. Requests are found with range
//! lookups in a tree keyed by first page, never by a scan. Pages are filled under the lock in
//! batches of [`BATCH`] pages, between which the lock is released.
//!
//! **Fault failures.** A fault that waited for a request drops the fault lock, so it must be
//! retried before it can raise `SIGBUS`; when its request failed it leaves a record keyed by
//! page and thread in the source, which that thread's retry takes (one `SIGBUS` per failed
//! wait, however many threads and processes fault at once). A supply of the page drops records
//! left behind (by a thread that never retried), detach drops all.
//!
//! Lock order (the module's one list; other files refer to it):
//! 1. the mmap lock or a VMA lock (a fault);
//! 2. a handle table's lock (`device.rs`; `poll` looks at the table's pagers under it);
//! 3. [`PagerCore::inner`], the one lock of a pager and of all its sources;
//! 4. folio locks (shmem, taken by the page fill under 3);
//! 5. `Vmo::resize_lock` (`vmo.rs`) is taken with none of the above held and takes none.
//!
//! Nothing under 3 takes a shmem inode lock or the mmap lock, because a `write` holds the inode
//! lock while its user copy faults, and the fault may come here: pages are filled under their
//! folio lock only ([`ShmemFile::fill`]) and freed (punched) after 3 is released. Tree nodes,
//! requests and packets are allocated before 3 is taken. Waiters sleep with no lock held.

use crate::{
    shmem::ShmemFile,
    status::{Status, ZxResult},
    uapi,
    vmo::{new_koid, PAGE_SIZE},
};
use kernel::{
    ffi::c_int,
    new_condvar, new_mutex, new_poll_condvar,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        atomic::Atomic, poll::PollCondVar, Arc, CondVar, CondVarTimeoutResult, LockedBy, Mutex,
        MutexGuard, UniqueArc,
    },
    time::msecs_to_jiffies,
};

extern "C" {
    fn vmo_wait_done(done: *mut c_int, killable: bool) -> c_int;
    fn vmo_set_done(done: *mut c_int);
    fn vmo_current_tid() -> c_int;
}

/// The calling thread's id.
fn current_tid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { vmo_current_tid() }
}

/// Pages filled (or zeroed) under the pager's lock before it is released again.
const BATCH: u64 = 64;

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

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestState {
    /// Outstanding.
    Pending,
    /// All its pages are present.
    Supplied,
    /// The pager failed a range overlapping it, or the source was detached.
    Failed(Status),
}

/// The part of a request that changes, under the pager's lock.
struct RequestMut {
    state: RequestState,
    /// Threads waiting for it.
    waiters: u32,
}

/// One outstanding request: pages `[start, end)` of the shmem file.
struct Request {
    start: u64,
    end: u64,
    /// The key of its READ packet in the pager's queue.
    seq: u64,
    st: LockedBy<RequestMut, PagerInner>,
    /// Non-zero once the request ended (`state` is no longer `Pending`): what waiters sleep
    /// on with no lock held. Set by `vmo_set_done`, never cleared.
    done: Atomic<c_int>,
}

struct SourceState {
    detached: bool,
    /// Outstanding requests by first page; they never overlap.
    requests: RBTree<u64, Arc<Request>>,
    /// Failed fault waits by (page, thread id), for the threads' retries to take.
    failures: RBTree<(u64, i32), ()>,
    /// The COMPLETE packet and its index node, allocated with the source.
    complete: Option<(
        RBTreeNodeReservation<u64, Packet>,
        RBTreeNodeReservation<u64, u64>,
    )>,
}

struct PagerInner {
    /// The pager's last handle is closed.
    closed: bool,
    next_seq: u64,
    /// Packets not yet read by the pager, in order.
    queue: RBTree<u64, Packet>,
    /// Unread COMPLETE packets: key to sequence number (one per key).
    completes: RBTree<u64, u64>,
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
                    completes: RBTree::new(),
                    sources: RBTree::new(),
                }),
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
        let complete = (
            RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?,
            RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?,
        );
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
                        failures: RBTree::new(),
                        complete: Some(complete),
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
                let packet = node.to_key_value().1;
                if packet.kind == uapi::VMO_PAGER_VMO_COMPLETE {
                    inner.completes.remove(&packet.key);
                }
                return Ok(packet);
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
                inner.completes = RBTree::new();
                break;
            };
            source.detach_locked(&mut inner);
            drop(inner);
            source.free_pages();
        }
        self.wake_pager();
    }
}

/// A request for a hole, with the pager's lock still held and the hole's first page.
type Queued<'a> = (MutexGuard<'a, PagerInner>, Arc<Request>, u64);

/// The request that contains page `page` (its first page) and the first page of the next
/// request after `page`. Requests never overlap, so only the last one that starts at or before
/// `page` can contain it.
fn around(reqs: &RBTree<u64, Arc<Request>>, page: u64) -> (Option<u64>, Option<u64>) {
    match reqs.cursor_lower_bound(&page) {
        Some(c) => {
            let (start, _) = c.current();
            if *start == page {
                return (Some(page), c.peek_next().map(|(k, _)| *k));
            }
            let covering = c.peek_prev().filter(|(_, r)| r.end > page).map(|(k, _)| *k);
            (covering, Some(*start))
        }
        None => {
            let covering = reqs.cursor_back().and_then(|c| {
                let (k, r) = c.current();
                (r.end > page).then_some(*k)
            });
            (covering, None)
        }
    }
}

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

    /// Makes pages `[start, end)` present, asking the pager for each missing run and waiting
    /// (`killable`: only a fatal signal ends a wait; otherwise any signal does). Returns the
    /// status the pager failed a request with, `BAD_STATE` when detached, or `ERESTARTSYS`
    /// when a signal ended the wait (the request is withdrawn if nobody else waits for it).
    pub(crate) fn populate(&self, mut start: u64, end: u64, killable: bool) -> ZxResult {
        while start < end {
            let Some((inner, req, hole)) = self.request_first_hole(start, end)? else {
                return Ok(());
            };
            drop(inner);
            // SAFETY: `done` is a live `c_int` (we hold `req`) that only `vmo_set_done` writes.
            let interrupted = unsafe { vmo_wait_done(req.done.as_ptr(), killable) } != 0;
            let mut inner = self.core.inner.lock();
            let rm = req.st.access_mut(&mut inner);
            rm.waiters -= 1;
            match rm.state {
                RequestState::Supplied => {}
                RequestState::Failed(s) => return Err(s),
                RequestState::Pending => {
                    // Only a signal ends the wait of a pending request.
                    let orphan = rm.waiters == 0;
                    if orphan {
                        self.withdraw(&mut inner, &req);
                    }
                    debug_assert!(interrupted);
                    return Err(Status::Kernel(ERESTARTSYS));
                }
            }
            drop(inner);
            start = hole;
        }
        Ok(())
    }

    /// Queues (or joins) the request for the first hole of pages `[start, end)` and counts the
    /// caller as its waiter; returns it with the pager's lock still held and the hole's first
    /// page, or `None` if every page is present. The tree nodes and the request are allocated
    /// before the lock is taken.
    fn request_first_hole(&self, start: u64, end: u64) -> ZxResult<Option<Queued<'_>>> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
        let packet = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
        let fresh = UniqueArc::new(
            Request {
                start: 0,
                end: 0,
                seq: 0,
                st: LockedBy::new(
                    &self.core.inner,
                    RequestMut {
                        state: RequestState::Pending,
                        waiters: 0,
                    },
                ),
                done: Atomic::new(0),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        let mut inner = self.core.inner.lock();
        let (hole, hole_end) = self.file.find_hole(start, end);
        if hole == end {
            return Ok(None);
        }
        let req = self.request(&mut inner, hole, hole_end, node, packet, fresh)?;
        req.st.access_mut(&mut inner).waiters += 1;
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
        let (covering, next) = around(&st.requests, hole);
        if let Some(r) = covering.and_then(|k| st.requests.get(&k)) {
            return Ok(r.clone());
        }
        let end = next.map_or(hole_end, |n| n.min(hole_end));
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

    /// Removes `req`, which nobody waits for any more, with its packet if still unread.
    fn withdraw(&self, inner: &mut PagerInner, req: &Arc<Request>) {
        let st = self.state.access_mut(inner);
        if st
            .requests
            .get(&req.start)
            .is_some_and(|r| Arc::ptr_eq(r, req))
        {
            st.requests.remove(&req.start);
            inner.queue.remove(&req.seq);
        }
    }

    /// Ends the outstanding requests that overlap pages `[start, end)` in `state`; with
    /// `if_present`, only those whose pages are all present. Each is found with a range
    /// lookup: the cost follows the requests ended (and skipped), not all of them.
    fn complete_locked(
        &self,
        inner: &mut PagerInner,
        start: u64,
        end: u64,
        state: RequestState,
        if_present: bool,
    ) {
        let mut pos = start;
        while pos < end {
            let st = self.state.access_mut(inner);
            let (covering, next) = around(&st.requests, pos);
            let Some(first) = covering.or(next).filter(|k| *k < end) else {
                break;
            };
            let Some(r) = st.requests.get(&first) else {
                break;
            };
            pos = r.end;
            if if_present && self.file.find_hole(r.start, r.end).0 != r.end {
                continue;
            }
            let Some(r) = st.requests.remove(&first) else {
                break;
            };
            r.st.access_mut(inner).state = state;
            // A request that ends before the pager read it is not delivered.
            inner.queue.remove(&r.seq);
            // SAFETY: `done` is a live `c_int` (we hold `r`) that waiters only read.
            unsafe { vmo_set_done(r.done.as_ptr()) };
        }
    }

    /// Drops the fault-failure records of pages `[start, end)` (they are present now).
    fn forget_failures(&self, inner: &mut PagerInner, start: u64, end: u64) {
        let st = self.state.access_mut(inner);
        while let Some(c) = st.failures.cursor_lower_bound_mut(&(start, i32::MIN)) {
            if c.current().0 .0 >= end {
                break;
            }
            let _ = c.remove_current();
        }
    }

    /// `BAD_STATE` if detached or the pager is closed.
    fn check_attached(&self, inner: &mut PagerInner) -> ZxResult {
        if inner.closed || self.state.access_mut(inner).detached {
            return Err(Status::BadState);
        }
        Ok(())
    }

    /// `zx_pager_supply_pages` after the handle and range checks: pages `[start, end)` get the
    /// pages of `aux` from byte `aux_pos` on where they are absent (zeros where `aux` has
    /// none; pages of `aux` in swap are read back); the caller then decommits the aux range.
    /// The pages are filled [`BATCH`] at a time, each batch under the lock.
    pub(crate) fn supply(&self, start: u64, end: u64, aux: &ShmemFile, aux_pos: u64) -> ZxResult {
        let mut batch = start;
        while batch < end {
            let batch_end = end.min(batch.saturating_add(BATCH));
            let mut inner = self.core.inner.lock();
            self.check_attached(&mut inner)?;
            let mut pos = batch;
            while pos < batch_end {
                let (hole, hole_end) = self.file.find_hole(pos, batch_end);
                if hole == batch_end {
                    break;
                }
                // In range: `hole >= start`, and the caller checked the aux range.
                let from = aux_pos + (hole - start) * PAGE_SIZE;
                let to = from + (hole_end - hole) * PAGE_SIZE;
                aux.for_each_data_page(from, to, |chunk| {
                    self.file
                        .fill(hole * PAGE_SIZE + (chunk.pos() - from), Some(chunk), 0)
                })
                .map_err(Status::from_mm)?;
                // The pages aux did not have are zeros.
                self.fill_zero_pages(hole, hole_end)?;
                pos = hole_end;
            }
            self.complete_locked(&mut inner, batch, batch_end, RequestState::Supplied, true);
            self.forget_failures(&mut inner, batch, batch_end);
            drop(inner);
            batch = batch_end;
        }
        // A request that reaches past both ends of the range is complete only now.
        let mut inner = self.core.inner.lock();
        self.complete_locked(&mut inner, start, end, RequestState::Supplied, true);
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
    /// asked of the pager again). [`BATCH`] pages at a time under the lock; `BAD_STATE` if
    /// detached.
    pub(crate) fn zero(&self, start: u64, end: u64) -> ZxResult {
        let mut pos = start;
        while pos < end {
            let batch_end = end.min(pos.saturating_add(BATCH * PAGE_SIZE));
            let mut inner = self.core.inner.lock();
            self.check_attached(&mut inner)?;
            while pos < batch_end {
                let len = (PAGE_SIZE - pos % PAGE_SIZE).min(batch_end - pos);
                // At most a page: `as` cannot truncate.
                self.file
                    .fill(pos, None, len as usize)
                    .map_err(Status::from_mm)?;
                pos += len;
            }
            drop(inner);
        }
        Ok(())
    }

    /// `ZX_PAGER_OP_FAIL` after the checks: every request overlapping pages `[start, end)`
    /// fails with `status`.
    pub(crate) fn fail(&self, start: u64, end: u64, status: Status) -> ZxResult {
        let mut inner = self.core.inner.lock();
        self.check_attached(&mut inner)?;
        self.complete_locked(&mut inner, start, end, RequestState::Failed(status), false);
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
        let mut inner = self.core.inner.lock();
        let detached = self.detach_locked(&mut inner);
        drop(inner);
        self.core.wake_pager();
        detached
    }

    /// Frees the pages of a detached source. No supply adds pages once it is detached; a
    /// failure leaves pages that go with the VMO (later accesses are BAD_STATE all the same).
    fn free_pages(&self) {
        let _ = self.file.punch(0, self.size);
    }

    /// Detaches the source; false if it already was. The caller frees the pages after
    /// releasing the lock. Queues the source's COMPLETE packet unless the pager is closed or
    /// one for the same key is still unread.
    fn detach_locked(&self, inner: &mut PagerInner) -> bool {
        let st = self.state.access_mut(inner);
        if st.detached {
            return false;
        }
        st.detached = true;
        st.failures = RBTree::new();
        let complete = st.complete.take();
        self.complete_locked(
            inner,
            0,
            u64::MAX,
            RequestState::Failed(Status::BadState),
            false,
        );
        let removed = inner.sources.remove(&self.koid);
        if let (Some((packet, index)), false) = (complete, inner.closed) {
            if inner.completes.get(&self.key).is_none() {
                let seq = inner.next_seq;
                inner.next_seq += 1;
                inner.completes.insert(index.into_node(self.key, seq));
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
        }
        drop(removed);
        true
    }

    /// A fault on the absent page `pgoff`, which dropped the fault lock, waits for it. If its
    /// request failed, it leaves a record for this thread's retry (see the module
    /// documentation); nothing when a signal ended the wait.
    pub(crate) fn fault_wait(&self, pgoff: u64, killable: bool) {
        let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT);
        let Err(s) = self.populate(pgoff, pgoff + 1, killable) else {
            return;
        };
        let Ok(node) = node else {
            return;
        };
        if !matches!(s, Status::Kernel(_)) {
            let tid = current_tid();
            let mut inner = self.core.inner.lock();
            let st = self.state.access_mut(&mut inner);
            st.failures.insert(node.into_node((pgoff, tid), ()));
        }
    }

    /// Whether this thread's last fault on `pgoff` failed (and forgets it).
    pub(crate) fn take_fault_failure(&self, pgoff: u64) -> bool {
        let tid = current_tid();
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        st.failures.remove(&(pgoff, tid)).is_some()
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
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
            f.write_bytes(&[p as u8 + 1], p * PG)?;
        }
        Ok(f)
    }

    /// Where `req` stands.
    fn state(source: &PageSource, req: &Request) -> RequestState {
        let mut inner = source.core.inner.lock();
        req.st.access_mut(&mut inner).state
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
        file.write_bytes(&[1], 5 * PG)?;
        file.write_bytes(&[1], (1 << 32) * PG)?;
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
        assert_eq!(state(&source, &req), RequestState::Pending);
        // A waiter for the missing half joins the same request.
        let again = request(&source, 0, 4)?.ok_or(EINVAL)?;
        assert!(Arc::ptr_eq(&req, &again));
        source.supply(2, 4, &aux, 2 * PG)?;
        assert_eq!(state(&source, &req), RequestState::Supplied);
        // Supplied pages need no request; the contents are aux's.
        assert!(request(&source, 0, 4)?.is_none());
        let mut seen = KVec::new();
        source.file.for_each_page(0, 4 * PG, |c| {
            if c.pos() % PG == 0 {
                seen.push(c.byte(0).unwrap_or(0), GFP_KERNEL)?;
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
        assert_eq!(
            state(&source, &first),
            RequestState::Failed(Status::IoDataIntegrity)
        );
        assert_eq!(state(&source, &second), RequestState::Pending);
        // The failed request's packet was read or dropped; a new access asks again.
        let again = request(&source, 0, 4)?.ok_or(EINVAL)?;
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(state(&source, &again), RequestState::Pending);
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
        assert_eq!(state(&source, &req), RequestState::Failed(Status::BadState));
        assert_eq!(source.file.committed_bytes(), 0);
        let p = read_packet(&pager)?;
        assert_eq!((p.key, p.kind), (42, uapi::VMO_PAGER_VMO_COMPLETE));
        assert_eq!(source.populate(0, 1, false), Err(Status::BadState));
        assert_eq!(source.supply(0, 1, &aux, 0), Err(Status::BadState));
        assert_eq!(source.fail(0, 1, Status::Io), Err(Status::BadState));
        // Detaching twice is harmless and sends nothing.
        source.detach();
        assert_eq!(read_packet(&pager), Err(Status::TimedOut));

        let (pager, source) = setup(4)?;
        let req = request(&source, 0, 4)?.ok_or(EINVAL)?;
        let core = pager.core().clone();
        drop(pager);
        assert_eq!(state(&source, &req), RequestState::Failed(Status::BadState));
        assert_eq!(source.populate(0, 1, false), Err(Status::BadState));
        assert_eq!(core.wait(0), Err(Status::BadState));
        Ok(())
    }
}
