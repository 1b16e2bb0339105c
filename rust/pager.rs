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
//! that status).
//!
//! **Detach is not close.** Detaching the VMO (`zx_pager_detach_vmo`) ends every request with
//! `BAD_STATE` and frees the VMO's pages, as Zircon's `VmCowPages::DetachSource` decommits them;
//! the pager gets a COMPLETE packet. Closing the pager's last handle (also by its process dying)
//! ends every request with `BAD_STATE` too, and every later access that needs a page the VMO does
//! not hold fails with `BAD_STATE`, but the pages the VMO holds stay, readable and writable
//! (Zircon's `PagerDispatcher::on_zero_handles` calls `PagerProxy::OnDispatcherClose`, whose
//! `PageSource::Close` detaches the page source only and leaves the VMO's pages alone; core test
//! `Pager.ClosePagerTest`). No packet can be delivered any more, so none is queued
//! (`OnDispatcherClose` cancels a pending COMPLETE).
//!
//! **Resizing.** A resizable pager-backed VMO's source knows its size ([`PageSource::resize`]):
//! no request reaches past the end, a supply past the end is `OUT_OF_RANGE`, and a shrink ends
//! the requests past the new end as if supplied (Zircon's `VmCowPages::Resize` calls
//! `InvalidateReadRequestsLocked`): their waiters look again and find the range gone. A request
//! that straddles the new end ends once its part inside is present.
//!
//! **Bounded memory.** Everything is charged to the memory cgroup of the task that caused it
//! (`GFP_KERNEL_ACCOUNT`). A request lives only while a thread waits for it: the last waiter to
//! give up (a signal) withdraws it, with its packet if the pager has not read it yet, so
//! requests and READ packets are at most the waiting threads. A pager keeps the tree node of
//! one ended request and the queue node of one read packet for its next request (charged to
//! whoever allocated them, freed with the pager). A source's COMPLETE packet is
//! allocated when the VMO is created and coalesced per key. Requests are found with range
//! lookups in a tree keyed by first page, never by a scan. Pages are filled under the lock in
//! batches of [`BATCH`] pages, between which the lock is released.
//!
//! **Fault failures.** A fault that waited for a request drops the fault lock, so it must be
//! retried before it can raise `SIGBUS`; when its request failed it leaves a record keyed by
//! page and thread in the source, which that thread's retry takes (one `SIGBUS` per failed
//! wait, however many threads and processes fault at once). A supply of the page drops records
//! left behind (by a thread that never retried), as do a shrink past the page and detach.
//!
//! Lock order (the module's one list; other files refer to it):
//! 1. `Vmo::resize_lock` (`vmo.rs`, resizable VMOs only), the outermost: the copy of a `read`
//!    or `write` of a resizable VMO runs under it and may fault (2, then 4 or 5), and `set_size`
//!    takes 4 (and, of a pager-backed VMO, 5) under it. Nobody waits under it for the pager to answer a request
//!    for the VMO's own pages: those waits end before it is taken;
//! 2. the mmap lock or a VMA lock (a fault);
//! 3. a handle table's lock (`handle.rs`, `device.rs`: taken to add or remove handles, never
//!    to look one up, nor by `poll`, which reads the file's [`Readiness`]);
//! 4. a copy-on-write family's locks (`cow.rs`), never with 3 held: first its shape lock,
//!    taken only by the ioctls that link a child or free pages (never in a fault); shmem's
//!    inode lock (a punch, a truncate) is taken under it, after the family lock is released.
//!    Then the family lock, taken by the ioctls and by faults (under 2), never around shmem's
//!    inode lock (a `write` to a shmem file holds that while its user copy may fault on a VMO
//!    mapping). Its holders never fault on user memory (their user copies do not fault; a copy
//!    that would drops it, faults the buffer in and takes it again) and never wait for a pager
//!    (that wait happens after it is dropped). Folio locks (6) are taken under it;
//! 5. [`PagerCore::inner`], the one lock of a pager and of all its sources;
//! 6. folio locks (shmem, taken by the page fill under 5, and by copy-on-write copies under 4).
//! 7. a discardable VMO's `Discardable::op`, then `discard::TRACKER` (`discard.rs`), with none of 1-6 held (shmem's inode lock is taken under `op`); the shrinker only trylocks them.
//! 8. `evict::REGISTRY` (`pager/evict.rs`), alone, for a moment; `Evictor::picks` (the shrinker only
//!    trylocks it) before the shrinker's `list_lru` lock, under which nothing of this list is taken;
//!    `Evictor::credit`, taken alone by the worker (after its evictions) and only trylocked by the
//!    shrinker, as `discard::TRACKER` is.
//!
//! Eviction ([`PageSource::evict`], from `pager/evict.rs`'s worker) marks its source evicting under 5
//! and frees pages (shmem's inode lock) after releasing it; accesses through the ioctls
//! ([`PageSource::begin_access`]) and write faults (`page_mkwrite`, under 2) wait on
//! `PagerCore::evicted` with nothing else of this list held, and an eviction never starts while
//! an access is counted, so neither waits for the other.
//!
//! Nothing under 5 takes a shmem inode lock or the mmap lock, because a `write` holds the inode
//! lock while its user copy faults, and the fault may come here: pages are filled under their
//! folio lock only ([`ShmemFile::fill`]) and freed (punched, truncated) after 5 is released.
//! Tree nodes, requests and packets are allocated before 5 is taken; under it they are only
//! freed (`kfree`: a surplus spare node, a request whose waiters have let go), never
//! allocated. Waiters sleep with no lock held.

pub(crate) mod evict;

use crate::{
    dirty::{Dirt, Runs, Spare},
    ffi,
    object::{new_koid, PAGE_SIZE},
    shmem::ShmemFile,
    status::{Status, ZxResult},
    uapi,
};
use kernel::{
    ffi::c_int,
    new_condvar, new_mutex, new_poll_condvar,
    prelude::*,
    rbtree::{RBTree, RBTreeNode, RBTreeNodeReservation},
    sync::{
        atomic::{
            ordering::{Acquire, Relaxed, Release},
            Atomic,
        },
        poll::PollCondVar,
        Arc, CondVar, CondVarTimeoutResult, LockedBy, Mutex, MutexGuard, UniqueArc,
    },
    time::msecs_to_jiffies,
};

/// The calling thread's id.
fn current_tid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { ffi::vmo_current_tid() }
}

/// Pages filled (or zeroed) under the pager's lock before it is released again.
const BATCH: u64 = 64;

/// The read-ahead window of the first fault of a sequential run, in pages (64 KiB).
const READ_AHEAD_MIN: u64 = 16;
/// The largest read-ahead window, in pages (1 MiB).
const READ_AHEAD_MAX: u64 = 256;

/// A packet for the pager (`struct vmo_pager_packet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packet {
    /// The key the VMO was created with.
    pub(crate) key: u64,
    /// `VMO_PAGER_VMO_READ`, `VMO_PAGER_VMO_DIRTY` or `VMO_PAGER_VMO_COMPLETE`.
    pub(crate) kind: u32,
    /// Byte offset of a READ or DIRTY request (page aligned).
    pub(crate) offset: u64,
    /// Byte length of a READ or DIRTY request (page aligned).
    pub(crate) length: u64,
}

/// The readiness of one open `/dev/vmo` file for `poll`: how many of the pagers made in that
/// file have packets queued, and the wait queue notified whenever one queues a packet. `poll`
/// reads the count, not the file's handle table.
#[pin_data]
pub(crate) struct Readiness {
    #[pin]
    cond: PollCondVar,
    /// Pagers of the file whose queue is not empty; changed under each pager's lock (5) when its
    /// queue turns empty or not empty.
    with_packets: Atomic<usize>,
}

impl Readiness {
    /// What `poll` waits on.
    pub(crate) fn cond(&self) -> &PollCondVar {
        &self.cond
    }

    /// Whether a pager of the file has a packet to read.
    pub(crate) fn has_packets(&self) -> bool {
        self.with_packets.load(Relaxed) != 0
    }

    /// Counts a pager's queue that was empty (`was_empty`) and is empty now (`is_empty`).
    fn queue_changed(&self, was_empty: bool, is_empty: bool) {
        match (was_empty, is_empty) {
            (true, false) => {
                self.with_packets.fetch_add(1, Relaxed);
            }
            (false, true) => {
                self.with_packets.fetch_sub(1, Relaxed);
            }
            _ => {}
        }
    }
}

/// A new [`Readiness`].
pub(crate) fn new_readiness() -> Result<Arc<Readiness>> {
    Arc::pin_init(
        pin_init!(Readiness {
            cond <- new_poll_condvar!("vmo_pager_readiness"),
            with_packets: Atomic::new(0),
        }),
        GFP_KERNEL_ACCOUNT,
    )
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

/// What a request asks of the pager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Absent pages: supply them (a READ packet).
    Read,
    /// Clean pages of a `TRAP_DIRTY` VMO that are about to be written: let them become dirty
    /// (a DIRTY packet, answered with `ZX_PAGER_OP_DIRTY`).
    Dirty,
}

impl Need {
    fn packet_kind(self) -> u32 {
        match self {
            Need::Read => uapi::VMO_PAGER_VMO_READ,
            Need::Dirty => uapi::VMO_PAGER_VMO_DIRTY,
        }
    }
}

/// One outstanding request: pages `[start, end)` of the shmem file.
struct Request {
    need: Need,
    start: u64,
    end: u64,
    /// The key of its READ packet in the pager's queue.
    seq: u64,
    st: LockedBy<RequestMut, PagerInner>,
    /// Non-zero once the request ended (`state` is no longer `Pending`): what waiters sleep
    /// on with no lock held. Set by `vmo_set_done`, never cleared: [`DONE_SUPPLIED`] when the
    /// request ended `Supplied`, [`DONE_OTHER`] otherwise. A request's state never changes
    /// once it ended (it has left its tree), so a waiter that reads [`DONE_SUPPLIED`] (with
    /// acquire ordering: the pages were filled before) knows the state without the lock.
    done: Atomic<c_int>,
}

/// [`Request::done`] of a request that ended `Supplied`.
const DONE_SUPPLIED: c_int = 1;
/// [`Request::done`] of a request that ended otherwise (failed).
const DONE_OTHER: c_int = 2;

struct SourceState {
    /// Detached: the VMO's pages were freed and no page will be supplied again.
    detached: bool,
    /// The VMO's size in pages (a resizable VMO's changes with [`PageSource::resize`]).
    pages: u64,
    /// Outstanding READ requests by first page; they never overlap.
    requests: RBTree<u64, Arc<Request>>,
    /// Outstanding DIRTY requests by first page; they never overlap.
    dirty_requests: RBTree<u64, Arc<Request>>,
    /// The present pages that are not clean (writeback).
    dirt: Runs,
    /// Written since the pager last reset the VMO's stats (`zx_pager_query_vmo_stats`).
    modified: bool,
    /// Read-ahead of faults: the page after the last fault's window, and that window.
    ra_next: u64,
    ra_window: u64,
    /// Accesses through the ioctls between the moment their pages were present and their
    /// last touch of them (see [`PageSource::begin_access`]): no eviction runs meanwhile.
    accessors: u32,
    /// An eviction (see [`PageSource::evict`]) or a detach is freeing pages: accesses and write
    /// faults wait.
    evicting: bool,
    /// Detached while an access was counted: the last one frees the clean pages.
    punch_pending: bool,
    /// Never evict: the VMO has copy-on-write children, which read its pages without the
    /// accesses above.
    keep_pages: bool,
    /// `ALWAYS_NEED` ranges (sticky), never evicted; `DONT_NEED` ranges, evicted first.
    always_need: Runs,
    dont_need: Runs,
    /// Pages evicted so far.
    evicted: u64,
    /// Failed fault waits by (page, thread id), for the threads' retries to take.
    failures: RBTree<(u64, i32), ()>,
    /// The COMPLETE packet and its index node, allocated with the source.
    complete: Option<(
        RBTreeNodeReservation<u64, Packet>,
        RBTreeNodeReservation<u64, u64>,
    )>,
}

struct PagerInner {
    /// The pager's last handle is closed: no source gets a page or a request any more.
    closed: bool,
    next_seq: u64,
    /// Packets not yet read by the pager, in order.
    queue: RBTree<u64, Packet>,
    /// Unread COMPLETE packets: key to sequence number (one per key).
    completes: RBTree<u64, u64>,
    /// Attached sources by VMO koid.
    sources: RBTree<u64, Arc<PageSource>>,
    /// The tree node of a request that ended and the queue node of a packet that was read (or
    /// withdrawn), kept for the next request, which then allocates neither: at most one of
    /// each per pager.
    spare_node: Option<RBTreeNodeReservation<u64, Arc<Request>>>,
    spare_packet: Option<RBTreeNodeReservation<u64, Packet>>,
}

impl PagerInner {
    /// Keeps the node of a request that left its tree (dropping the request's reference it
    /// holds) for the next request, or frees it if one is kept already.
    fn keep_node(&mut self, node: RBTreeNode<u64, Arc<Request>>) {
        if self.spare_node.is_none() {
            self.spare_node = Some(node.into_reservation());
        }
    }

    /// Keeps the node of a packet that left the queue for the next request, or frees it.
    fn keep_packet(&mut self, node: RBTreeNode<u64, Packet>) {
        if self.spare_packet.is_none() {
            self.spare_packet = Some(node.into_reservation());
        }
    }

    /// Keeps what a request did not use of the nodes it took (see [`PagerInner::keep_node`]).
    fn keep_spares(
        &mut self,
        node: Option<RBTreeNodeReservation<u64, Arc<Request>>>,
        packet: Option<RBTreeNodeReservation<u64, Packet>>,
    ) {
        if self.spare_node.is_none() {
            self.spare_node = node;
        }
        if self.spare_packet.is_none() {
            self.spare_packet = packet;
        }
    }
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
    /// Notified when an eviction of one of the pager's sources ends.
    #[pin]
    evicted: CondVar,
}

/// The object a pager handle refers to: closing its last handle closes the pager.
pub(crate) struct Pager {
    core: Arc<PagerCore>,
}

impl SourceState {
    /// The outstanding requests for `need`.
    fn requests_of(&mut self, need: Need) -> &mut RBTree<u64, Arc<Request>> {
        match need {
            Need::Read => &mut self.requests,
            Need::Dirty => &mut self.dirty_requests,
        }
    }
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
                    spare_node: None,
                    spare_packet: None,
                }),
                queued <- new_condvar!("vmo_pager_queued"),
                evicted <- new_condvar!("vmo_pager_evicted"),
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

    /// Attaches a new VMO (`koid`, pages in `file`, `size` bytes, page aligned) with `key` to
    /// this pager.
    pub(crate) fn attach(
        &self,
        koid: u64,
        key: u64,
        file: ShmemFile,
        size: u64,
        trap_dirty: bool,
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
                core: self.core.clone(),
                file,
                trap_dirty,
                writebacks: Atomic::new(0),
                state: LockedBy::new(
                    &self.core.inner,
                    SourceState {
                        detached: false,
                        pages: size / PAGE_SIZE,
                        requests: RBTree::new(),
                        dirty_requests: RBTree::new(),
                        dirt: Runs::new(),
                        modified: false,
                        ra_next: u64::MAX,
                        ra_window: 1,
                        accessors: 0,
                        evicting: false,
                        punch_pending: false,
                        keep_pages: false,
                        always_need: Runs::new(),
                        dont_need: Runs::new(),
                        evicted: 0,
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
        drop(inner);
        if let Err(e) = evict::register(koid, &source) {
            source.detach_only();
            return Err(e.into());
        }
        Ok(source)
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        self.core.close();
    }
}

impl PagerCore {
    /// Queues `packet` (a node of the queue) and counts the queue in the file's readiness.
    fn queue_packet(&self, inner: &mut PagerInner, packet: RBTreeNode<u64, Packet>) {
        let was_empty = inner.queue.is_empty();
        inner.queue.insert(packet);
        self.readiness.queue_changed(was_empty, false);
    }

    /// Removes the packet `seq` from the queue if it is still there, and counts the queue in the
    /// file's readiness.
    fn unqueue_packet(&self, inner: &mut PagerInner, seq: u64) {
        let was_empty = inner.queue.is_empty();
        if let Some(node) = inner.queue.remove_node(&seq) {
            inner.keep_packet(node);
        }
        self.readiness
            .queue_changed(was_empty, inner.queue.is_empty());
    }

    fn wake_pager(&self) {
        self.queued.notify_all();
        self.readiness.cond.notify_all();
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
                let packet = *front.current().1;
                let (_, node) = front.remove_current();
                inner.keep_packet(node);
                self.readiness.queue_changed(false, inner.queue.is_empty());
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

    /// Closes the pager (its last handle is gone): every request of every source ends with
    /// `BAD_STATE`, and no source gets a request or a page again, but their VMOs keep the pages
    /// they hold (see the module documentation: close is not detach). The unread packets go:
    /// nobody can read them.
    fn close(&self) {
        self.inner.lock().closed = true;
        loop {
            let mut inner = self.inner.lock();
            let Some(source) = inner.sources.values().next().cloned() else {
                self.readiness.queue_changed(inner.queue.is_empty(), true);
                let packets = (
                    core::mem::take(&mut inner.queue),
                    core::mem::take(&mut inner.completes),
                );
                drop(inner);
                drop(packets);
                break;
            };
            let released = source.close_locked(&mut inner);
            drop(inner);
            // No page could come back: none may be evicted.
            evict::unregister(source.koid);
            drop(released);
            drop(source);
        }
        self.wake_pager();
    }
}

/// An access through the ioctls to present pages of a pager-backed VMO (see
/// [`PageSource::begin_access`]): no eviction runs while one is alive.
pub(crate) struct Access<'a> {
    source: &'a PageSource,
}

impl Drop for Access<'_> {
    /// The last access to end after a detach frees the clean pages (see
    /// [`PageSource::detach`]).
    fn drop(&mut self) {
        let mut inner = self.source.core.inner.lock();
        let st = self.source.state.access_mut(&mut inner);
        st.accessors -= 1;
        let punch = st.accessors == 0 && st.punch_pending && !st.evicting;
        if punch {
            st.punch_pending = false;
            st.evicting = true;
        }
        drop(inner);
        if punch {
            self.source.punch_clean();
        }
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

/// What a source lets go of when it is detached or its pager closes, dropped by the caller
/// after the pager's lock is released. Only `bytes` is read; the rest is held to be dropped.
struct Released {
    /// Its entry in the pager's sources.
    _source: Option<Arc<PageSource>>,
    /// The COMPLETE packet's nodes, if no COMPLETE was sent.
    _complete: Option<(
        RBTreeNodeReservation<u64, Packet>,
        RBTreeNodeReservation<u64, u64>,
    )>,
    /// Fault-failure records (detach only).
    _failures: RBTree<(u64, i32), ()>,
    /// The VMO's size in bytes when it was detached (the pages to free).
    bytes: u64,
}

/// The pager side of one pager-backed VMO.
///
/// # Invariants
///
/// `state` is locked by `core.inner`; `file` is the VMO's shmem file, of `state.pages` pages
/// whenever `Vmo::resize_lock` is not held.
pub(crate) struct PageSource {
    koid: u64,
    key: u64,
    core: Arc<PagerCore>,
    file: ShmemFile,
    /// Created with `ZX_VMO_TRAP_DIRTY`: a clean page becomes dirty only when the pager says so.
    trap_dirty: bool,
    /// Counts `WRITEBACK_BEGIN`s, changed under the pager's lock: a write fault that made its
    /// page dirty checks under the page's folio lock that none began since (see
    /// [`PageSource::mark_fault_dirty`]).
    writebacks: Atomic<u64>,
    state: LockedBy<SourceState, PagerInner>,
}

impl PageSource {
    /// Whether `pager` is the pager of this source.
    pub(crate) fn is_of(&self, pager: &Pager) -> bool {
        Arc::ptr_eq(&self.core, &pager.core)
    }

    /// Whether the source is detached (its pages freed). A source whose pager closed is not: its
    /// VMO keeps the pages it holds.
    pub(crate) fn is_detached(&self) -> bool {
        let mut inner = self.core.inner.lock();
        self.state.access_mut(&mut inner).detached
    }

    /// Makes pages `[start, end)` present, asking the pager for each missing run and waiting
    /// (`killable`: only a fatal signal ends a wait; otherwise any signal does). Returns the
    /// status the pager failed a request with, `BAD_STATE` when a page is missing and the
    /// source is detached or its pager closed, or `ERESTARTSYS` when a signal ended the wait
    /// (the request is withdrawn if nobody else waits for it). Pages past the VMO's end (it
    /// shrank) are not asked for: the caller checks the range again.
    pub(crate) fn populate(&self, start: u64, end: u64, killable: bool) -> ZxResult {
        self.wait_for(Need::Read, start, end, killable)
    }

    /// Before a write to pages `[start, end)`: makes them present, then, for a `TRAP_DIRTY`
    /// VMO, asks the pager to let each clean run of them become dirty (a DIRTY request) and
    /// waits, as [`PageSource::populate`] does (Zircon's `VmCowPages::PrepareForWriteLocked`).
    /// The write marks the pages dirty afterwards ([`PageSource::mark_dirty`]).
    pub(crate) fn prepare_write(&self, start: u64, end: u64, killable: bool) -> ZxResult {
        self.wait_for(Need::Read, start, end, killable)?;
        if !self.trap_dirty {
            return Ok(());
        }
        self.wait_for(Need::Dirty, start, end, killable)
    }

    /// Whether the VMO was created with `ZX_VMO_TRAP_DIRTY`.
    pub(crate) fn traps_dirty(&self) -> bool {
        self.trap_dirty
    }

    /// Whether a write to pages `[start, end)` may go ahead: with `TRAP_DIRTY`, all of them
    /// are dirty (a writeback may have begun between [`PageSource::prepare_write`] and the
    /// write).
    pub(crate) fn may_write(&self, start: u64, end: u64) -> bool {
        if !self.trap_dirty {
            return true;
        }
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        st.dirt.all_dirty(start, end.min(st.pages))
    }

    fn wait_for(&self, need: Need, start: u64, end: u64, killable: bool) -> ZxResult {
        self.wait_for_ahead(need, start, end, end, killable, false)
    }

    /// [`PageSource::wait_for`], where a new request may reach on to `ahead` (read-ahead: a
    /// fault waits for its own page only, but asks for the pages after it too). With `once`
    /// (a fault, which is retried and looks again by itself) it returns after the first
    /// request it waited for was supplied, without looking at the pages again.
    ///
    /// A waiter whose request was supplied does not take the pager's lock again: the request
    /// has left its tree and its state is final, so nothing reads its count of waiters any more
    /// (only a pending request is withdrawn by its last waiter).
    fn wait_for_ahead(
        &self,
        need: Need,
        mut start: u64,
        end: u64,
        ahead: u64,
        killable: bool,
        once: bool,
    ) -> ZxResult {
        while start < end {
            let Some((inner, req, first)) = self.request_first(need, start, end, ahead)? else {
                return Ok(());
            };
            drop(inner);
            // SAFETY: `done` is a live `c_int` (we hold `req`) that only `vmo_set_done` writes.
            let interrupted = unsafe { ffi::vmo_wait_done(req.done.as_ptr(), killable) } != 0;
            // Acquire: pairs with the release store of `vmo_set_done`, after the pages were filled.
            if req.done.load(Acquire) == DONE_SUPPLIED {
                if once {
                    return Ok(());
                }
                start = first;
                continue;
            }
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
            start = first;
        }
        Ok(())
    }

    /// The first run of pages `[start, end)` (cut at the VMO's end) that needs `need`: absent
    /// pages for a READ; for a DIRTY request present pages that are clean or await clean (a
    /// write to a page being written back asks again, as Zircon's `PrepareForWriteLocked`
    /// does; absent pages are the READ's to ask for, and are skipped).
    fn first_needing(
        &self,
        st: &SourceState,
        need: Need,
        start: u64,
        end: u64,
    ) -> Option<(u64, u64)> {
        let end = end.min(st.pages);
        if start >= end {
            return None;
        }
        match need {
            Need::Read => {
                let (hole, hole_end) = self.file.find_hole(start, end);
                (hole != end).then_some((hole, hole_end))
            }
            Need::Dirty => {
                let mut p = start;
                loop {
                    let (first, run_end) = st.dirt.first_not_dirty(p, end)?;
                    let (hole, hole_end) = self.file.find_hole(first, run_end);
                    if hole != first {
                        return Some((first, hole));
                    }
                    p = hole_end;
                }
            }
        }
    }

    /// Queues (or joins) the request for the first run of pages `[start, end)` that needs
    /// `need` (see [`PageSource::first_needing`]) and counts the caller as its waiter; returns
    /// it with the pager's lock still held and the run's first page, or `None` if no page
    /// needs anything. A new request's run may go on past `end` up to `ahead`. The request is
    /// allocated before the lock is taken; its tree node and its packet's node are the pager's
    /// spares (see [`PagerInner::keep_node`]) or, when it has none, allocated with the lock
    /// released, before it is taken again. What the request does not use is kept as spares.
    fn request_first(
        &self,
        need: Need,
        start: u64,
        end: u64,
        ahead: u64,
    ) -> ZxResult<Option<Queued<'_>>> {
        let fresh = UniqueArc::new(
            Request {
                need,
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
        let (mut node, mut packet) = (None, None);
        let mut inner = loop {
            let mut inner = self.core.inner.lock();
            node = node.or_else(|| inner.spare_node.take());
            packet = packet.or_else(|| inner.spare_packet.take());
            if node.is_some() && packet.is_some() {
                break inner;
            }
            drop(inner);
            if node.is_none() {
                node = Some(RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?);
            }
            if packet.is_none() {
                packet = Some(RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?);
            }
        };
        let st = self.state.access_mut(&mut inner);
        let found = match self.first_needing(st, need, start, end) {
            None => Ok(None),
            Some((first, mut run_end)) => {
                if ahead > end && run_end == end.min(st.pages) {
                    // The run reaches the end of the range: it goes on as far as `ahead`
                    // allows.
                    if let Some((_, e)) = self.first_needing(st, need, first, ahead) {
                        run_end = e;
                    }
                }
                self.request(&mut inner, first, run_end, &mut node, &mut packet, fresh)
                    .map(|req| Some((req, first)))
            }
        };
        inner.keep_spares(node, packet);
        let Some((req, first)) = found? else {
            return Ok(None);
        };
        req.st.access_mut(&mut inner).waiters += 1;
        Ok(Some((inner, req, first)))
    }

    /// The request covering page `first`: the outstanding one of the same need that contains
    /// it, or a new one for `[first, run_end)` cut short where the next one starts, which takes
    /// `node` and `packet` (`NO_MEMORY` if either is missing).
    fn request(
        &self,
        inner: &mut PagerInner,
        first: u64,
        run_end: u64,
        node: &mut Option<RBTreeNodeReservation<u64, Arc<Request>>>,
        packet: &mut Option<RBTreeNodeReservation<u64, Packet>>,
        mut fresh: UniqueArc<Request>,
    ) -> ZxResult<Arc<Request>> {
        if inner.closed {
            return Err(Status::BadState);
        }
        let seq = inner.next_seq;
        let need = fresh.need;
        let st = self.state.access_mut(inner);
        if st.detached {
            return Err(Status::BadState);
        }
        let reqs = st.requests_of(need);
        let (covering, next) = around(reqs, first);
        if let Some(r) = covering.and_then(|k| reqs.get(&k)) {
            return Ok(r.clone());
        }
        let (Some(node), Some(packet)) = (node.take(), packet.take()) else {
            return Err(Status::NoMemory);
        };
        let end = next.map_or(run_end, |n| n.min(run_end));
        fresh.start = first;
        fresh.end = end;
        fresh.seq = seq;
        let req: Arc<Request> = fresh.into();
        reqs.insert(node.into_node(first, req.clone()));
        inner.next_seq += 1;
        self.core.queue_packet(
            &mut *inner,
            packet.into_node(
                seq,
                Packet {
                    key: self.key,
                    kind: need.packet_kind(),
                    offset: first * PAGE_SIZE,
                    length: (end - first) * PAGE_SIZE,
                },
            ),
        );
        self.core.wake_pager();
        Ok(req)
    }

    /// Removes `req`, which nobody waits for any more, with its packet if still unread.
    fn withdraw(&self, inner: &mut PagerInner, req: &Arc<Request>) {
        let reqs = self.state.access_mut(inner).requests_of(req.need);
        if reqs.get(&req.start).is_some_and(|r| Arc::ptr_eq(r, req)) {
            if let Some(node) = reqs.remove_node(&req.start) {
                inner.keep_node(node);
            }
            self.core.unqueue_packet(inner, req.seq);
        }
    }

    /// Ends the outstanding requests for `need` that overlap pages `[start, end)` in `state`;
    /// with `if_done` = `Some(limit)`, only those that end by page `limit` and whose pages
    /// inside the VMO no longer need it (all present for a READ, none clean for a DIRTY
    /// request; a request past the end of a VMO that shrank has none). Each is found with a
    /// range lookup: the cost follows the requests ended (and skipped), not all of them. (A
    /// supply checks each batch but the last with the batch's end as the limit, and the last
    /// with none, so that a request larger than a batch is looked over once, not once per
    /// batch.)
    fn complete_locked(
        &self,
        inner: &mut PagerInner,
        need: Need,
        start: u64,
        end: u64,
        state: RequestState,
        if_done: Option<u64>,
    ) {
        let mut pos = start;
        while pos < end {
            let st = self.state.access_mut(inner);
            let pages = st.pages;
            let (covering, next) = around(st.requests_of(need), pos);
            let Some(first) = covering.or(next).filter(|k| *k < end) else {
                break;
            };
            let Some(r) = st.requests_of(need).get(&first) else {
                break;
            };
            let (r_start, r_end) = (r.start, r.end);
            pos = r_end;
            let inside = r_end.min(pages);
            if let Some(limit) = if_done {
                // By its part inside the VMO: a request past an end that shrank onto the limit
                // ends here, as no later batch comes for it.
                if inside > limit
                    || (r_start < inside && self.first_needing(st, need, r_start, inside).is_some())
                {
                    continue;
                }
            }
            let Some(r) = st.requests_of(need).get(&first).cloned() else {
                break;
            };
            if let Some(node) = st.requests_of(need).remove_node(&first) {
                inner.keep_node(node);
            }
            r.st.access_mut(inner).state = state;
            // A request that ends before the pager read it is not delivered.
            self.core.unqueue_packet(inner, r.seq);
            let done = match state {
                RequestState::Supplied => DONE_SUPPLIED,
                _ => DONE_OTHER,
            };
            // SAFETY: `done` is a live `c_int` (we hold `r`) that waiters only read.
            unsafe { ffi::vmo_set_done(r.done.as_ptr(), done) };
        }
    }

    /// Ends every outstanding request, of both needs, that overlaps pages `[start, end)`.
    fn complete_all_locked(
        &self,
        inner: &mut PagerInner,
        start: u64,
        end: u64,
        state: RequestState,
    ) {
        self.complete_locked(inner, Need::Read, start, end, state, None);
        self.complete_locked(inner, Need::Dirty, start, end, state, None);
    }

    /// Moves the fault-failure records of pages `[start, end)` out (they are present now, or
    /// past the VMO's end), for the caller to drop after releasing the lock.
    fn forget_failures(
        &self,
        inner: &mut PagerInner,
        start: u64,
        end: u64,
    ) -> RBTree<(u64, i32), ()> {
        let st = self.state.access_mut(inner);
        let mut gone = RBTree::new();
        while let Some(c) = st.failures.cursor_lower_bound_mut(&(start, i32::MIN)) {
            if c.current().0 .0 >= end {
                break;
            }
            let (_, node) = c.remove_current();
            gone.insert(node);
        }
        gone
    }

    /// `BAD_STATE` if detached or the pager is closed (no page can be supplied or failed).
    fn check_attached(&self, inner: &mut PagerInner) -> ZxResult {
        if inner.closed || self.state.access_mut(inner).detached {
            return Err(Status::BadState);
        }
        Ok(())
    }

    /// `OUT_OF_RANGE` if pages `[start, end)` do not all lie inside the VMO (it shrank).
    fn check_inside(&self, inner: &mut PagerInner, end: u64) -> ZxResult {
        if end > self.state.access_mut(inner).pages {
            return Err(Status::OutOfRange);
        }
        Ok(())
    }

    /// Runs `f` under the pager's lock with a [`Spare`] for the splits of the page-state maps,
    /// allocated before the lock is taken and freed after it is released (a change of the
    /// dirty state or the hints never allocates under the lock, nor fails halfway).
    fn with_spare<R>(
        &self,
        f: impl FnOnce(&mut MutexGuard<'_, PagerInner>, &mut Spare) -> ZxResult<R>,
    ) -> ZxResult<R> {
        let mut spare = Spare::new()?;
        let mut inner = self.core.inner.lock();
        let r = f(&mut inner, &mut spare);
        drop(inner);
        drop(spare);
        r
    }

    /// `zx_pager_supply_pages` after the handle and range checks: pages `[start, end)` get the
    /// pages of `aux` from byte `aux_pos` on where they are absent (zeros where `aux` has
    /// none; pages of `aux` in swap are read back); the caller then decommits the aux range.
    /// The pages are filled [`BATCH`] at a time, each batch under the lock, and each batch
    /// checks again that the VMO is attached and that the batch lies inside it: a VMO that
    /// shrank meanwhile is `OUT_OF_RANGE` (Zircon's `VmCowPages::SupplyPagesLocked` checks its
    /// range under the lock each time round).
    pub(crate) fn supply(&self, start: u64, end: u64, aux: &ShmemFile, aux_pos: u64) -> ZxResult {
        let mut batch = start;
        while batch < end {
            let batch_end = end.min(batch.saturating_add(BATCH));
            let mut inner = self.core.inner.lock();
            self.check_attached(&mut inner)?;
            self.check_inside(&mut inner, batch_end)?;
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
            // A request that reaches past this batch is looked over in the batch where it
            // ends, or, if it reaches past the end of the range, in the last batch, which
            // overlaps every request that overlaps the range and ends past it (so no pass of
            // its own, and no second round trip of the lock, is needed for those).
            let limit = if batch_end == end {
                u64::MAX
            } else {
                batch_end
            };
            self.complete_locked(
                &mut inner,
                Need::Read,
                batch,
                batch_end,
                RequestState::Supplied,
                Some(limit),
            );
            let gone = self.forget_failures(&mut inner, batch, batch_end);
            drop(inner);
            drop(gone);
            batch = batch_end;
        }
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
    /// asked of the pager again). [`BATCH`] pages at a time under the lock. `BAD_STATE` if
    /// detached, `OUT_OF_RANGE` if the VMO shrank below the range. Returns false, having zeroed
    /// nothing more, if a partial page is absent again (a resize took it away after the caller
    /// paged it in): the caller pages it in again. Works after the pager closed: zeros are
    /// written, not asked for.
    pub(crate) fn zero(&self, start: u64, end: u64) -> ZxResult<bool> {
        let mut pos = start;
        while pos < end {
            let batch_end = end.min(pos.saturating_add(BATCH * PAGE_SIZE));
            let mut inner = self.core.inner.lock();
            if self.state.access_mut(&mut inner).detached {
                return Err(Status::BadState);
            }
            self.check_inside(&mut inner, batch_end.div_ceil(PAGE_SIZE))?;
            while pos < batch_end {
                let len = (PAGE_SIZE - pos % PAGE_SIZE).min(batch_end - pos);
                let page = pos / PAGE_SIZE;
                if len < PAGE_SIZE && self.file.find_hole(page, page + 1).0 == page {
                    return Ok(false);
                }
                // At most a page: `as` cannot truncate.
                self.file
                    .fill(pos, None, len as usize)
                    .map_err(Status::from_mm)?;
                pos += len;
            }
            drop(inner);
        }
        Ok(true)
    }

    /// `ZX_PAGER_OP_FAIL` after the checks: every request overlapping pages `[start, end)`
    /// fails with `status`. Zircon's `VmCowPages::FailPageRequestsLocked` checks, in this
    /// order, the range (`OUT_OF_RANGE`) and a detached source (`BAD_STATE`: failing the
    /// requests of a detached VMO is an error, as the `zx_pager_op_range` reference page and
    /// the core test `Pager.FailAfterDetach` say; older Zircon made it a no-op).
    pub(crate) fn fail(&self, start: u64, end: u64, status: Status) -> ZxResult {
        let mut inner = self.core.inner.lock();
        self.check_inside(&mut inner, end)?;
        self.check_attached(&mut inner)?;
        self.complete_all_locked(&mut inner, start, end, RequestState::Failed(status));
        Ok(())
    }

    /// The VMO's size changes to `pages` pages (`set_size` of a resizable VMO, under its
    /// `resize_lock`; the shmem file is truncated after a shrink and grown before a growth).
    /// After a shrink no request reaches past the new end: as Zircon's `VmCowPages::Resize`
    /// (`InvalidateReadRequestsLocked`), the requests past it end as if supplied, so their
    /// waiters look again and find the range gone (a COMMIT is done, a read is `OUT_OF_RANGE`,
    /// a fault is `SIGBUS`), and one that straddles the end ends once its part inside is
    /// present; its packet, if unread, is cut at the end. Fault-failure records past the end
    /// go. Growing adds absent pages, which the pager supplies on demand.
    pub(crate) fn resize(&self, pages: u64) {
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        let old = core::mem::replace(&mut st.pages, pages);
        if pages > old {
            // A request that a shrink cut still reaches past the old end, but its pager was
            // asked for its part inside only: left pending, it would wait for the pages past
            // the old end (and take in readers of them) with nobody asked for them. It ends as
            // if supplied, its unread packet with it; its waiters look again and ask for what
            // is still absent.
            for need in [Need::Read, Need::Dirty] {
                self.complete_locked(
                    &mut inner,
                    need,
                    old,
                    u64::MAX,
                    RequestState::Supplied,
                    None,
                );
            }
        }
        if pages >= old {
            return;
        }
        for need in [Need::Read, Need::Dirty] {
            let reqs = self.state.access_mut(&mut inner).requests_of(need);
            let straddling = match around(reqs, pages) {
                (Some(k), _) if k < pages => reqs.get(&k).map(|r| (r.start, r.seq)),
                _ => None,
            };
            if let Some((first, seq)) = straddling {
                if let Some(p) = inner.queue.get_mut(&seq) {
                    if p.kind != uapi::VMO_PAGER_VMO_COMPLETE {
                        p.length = (pages - first) * PAGE_SIZE;
                    }
                }
            }
        }
        self.complete_locked(
            &mut inner,
            Need::Read,
            pages,
            u64::MAX,
            RequestState::Supplied,
            Some(u64::MAX),
        );
        // DIRTY requests past the end end too: their waiters find the pages inside still clean
        // and ask again for those.
        self.complete_locked(
            &mut inner,
            Need::Dirty,
            pages,
            u64::MAX,
            RequestState::Supplied,
            None,
        );
        // Making pages clean up to the last page cuts or removes runs: no node is needed.
        let mut none = Spare::empty();
        let st = self.state.access_mut(&mut inner);
        st.dirt.assign(pages, u64::MAX, None, &mut none);
        let gone = self.forget_failures(&mut inner, pages, u64::MAX);
        drop(inner);
        drop(gone);
    }

    /// `zx_pager_detach_vmo`: ends every request with `BAD_STATE`, frees the clean pages and
    /// tells the pager (a COMPLETE packet). Detaching twice does nothing. As Zircon's
    /// `VmCowPages::DetachSourceLocked`, the pages that are dirty or await clean stay, readable
    /// and writable (no request is sent for them), and the pager can still query and write them
    /// back (core tests `PagerWriteback.WritebackDirtyPagesAfterDetach`,
    /// `DecommitCleanOnDetach`).
    ///
    /// No access through the ioctls may see its pages go mid-copy (a write into a freed page
    /// would make a new page of zeros and its bytes, and mark it dirty): while one is counted
    /// ([`PageSource::begin_access`]) the pages are freed by the last one to end.
    pub(crate) fn detach(&self) {
        if self.detach_and_wake().is_none() {
            return;
        }
        {
            let mut inner = self.core.inner.lock();
            let st = self.state.access_mut(&mut inner);
            if st.accessors > 0 || st.evicting {
                st.punch_pending = true;
                return;
            }
            st.evicting = true;
        }
        self.punch_clean();
    }

    /// Frees the clean pages of a detached source, with `evicting` set by the caller (accesses
    /// and write faults wait meanwhile); clears it.
    fn punch_clean(&self) {
        let pages = {
            let mut inner = self.core.inner.lock();
            self.state.access_mut(&mut inner).pages
        };
        let mut p = 0;
        while p < pages {
            // The next run that is not clean, looked up afresh each time: the lock is not held
            // over a punch (which takes shmem's inode lock).
            let next = {
                let mut inner = self.core.inner.lock();
                self.state.access_mut(&mut inner).dirt.next(p)
            };
            let (s, e) = match next {
                Some((s, e, _)) => (s.min(pages), e),
                None => (pages, pages),
            };
            // No supply adds pages once it is detached; a failure leaves pages that go with
            // the VMO (later accesses to them succeed, as to the dirty pages).
            if s > p {
                let _ = self.file.punch(p * PAGE_SIZE, (s - p) * PAGE_SIZE);
            }
            p = e;
        }
        let mut inner = self.core.inner.lock();
        self.state.access_mut(&mut inner).evicting = false;
        drop(inner);
        self.core.evicted.notify_all();
    }

    /// Detaches without freeing the pages: for a VMO that is going away, whose pages go with
    /// its file (this may run in `munmap`, under the mmap lock, where punching a hole, which
    /// takes the inode lock, must not).
    pub(crate) fn detach_only(&self) {
        let _ = self.detach_and_wake();
    }

    /// Detaches the source and wakes the pager; returns the bytes to free, or `None` if it was
    /// detached already.
    fn detach_and_wake(&self) -> Option<u64> {
        let mut inner = self.core.inner.lock();
        let released = self.detach_locked(&mut inner);
        drop(inner);
        evict::unregister(self.koid);
        self.core.wake_pager();
        released.map(|r| r.bytes)
    }

    /// Detaches the source: ends every request with `BAD_STATE`, forgets the fault-failure
    /// records, leaves the pager's sources and queues the source's COMPLETE packet unless the
    /// pager is closed or one for the same key is still unread. `None` if it was detached
    /// already. The caller drops what it returns, and frees the pages, after releasing the lock.
    fn detach_locked(&self, inner: &mut PagerInner) -> Option<Released> {
        let st = self.state.access_mut(inner);
        if st.detached {
            return None;
        }
        st.detached = true;
        let failures = core::mem::take(&mut st.failures);
        let bytes = st.pages.saturating_mul(PAGE_SIZE);
        let mut complete = st.complete.take();
        self.complete_all_locked(inner, 0, u64::MAX, RequestState::Failed(Status::BadState));
        let source = inner.sources.remove(&self.koid);
        if !inner.closed && inner.completes.get(&self.key).is_none() {
            if let Some((packet, index)) = complete.take() {
                let seq = inner.next_seq;
                inner.next_seq += 1;
                inner.completes.insert(index.into_node(self.key, seq));
                self.core.queue_packet(
                    &mut *inner,
                    packet.into_node(
                        seq,
                        Packet {
                            key: self.key,
                            kind: uapi::VMO_PAGER_VMO_COMPLETE,
                            offset: 0,
                            length: 0,
                        },
                    ),
                );
            }
        }
        Some(Released {
            _source: source,
            _complete: complete,
            _failures: failures,
            bytes,
        })
    }

    /// The pager closed (see [`PagerCore::close`]): every request ends with `BAD_STATE`; the
    /// source leaves the pager's sources and gives up its COMPLETE packet (none can be
    /// delivered), but stays attached to its VMO, whose pages stay. Later requests are
    /// `BAD_STATE` because the pager is closed; fault-failure records stay for their threads'
    /// retries. The caller drops what it returns after releasing the lock.
    fn close_locked(&self, inner: &mut PagerInner) -> Released {
        self.complete_all_locked(inner, 0, u64::MAX, RequestState::Failed(Status::BadState));
        let complete = self.state.access_mut(inner).complete.take();
        Released {
            _source: inner.sources.remove(&self.koid),
            _complete: complete,
            _failures: RBTree::new(),
            bytes: 0,
        }
    }

    /// After a write to pages `[start, end)` (the write ioctl, ZERO): they become dirty, and the
    /// VMO modified if a byte was written (`modified`). Marked after the copy, so that a write that ran while a writeback
    /// began leaves its pages dirty (the pager may have read them before the copy ended).
    /// `spare` was allocated before the write: a write that happened is never lost for want
    /// of memory.
    pub(crate) fn mark_dirty(&self, start: u64, end: u64, modified: bool, mut spare: Spare) {
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        st.modified |= modified;
        let end = end.min(st.pages);
        st.dirt.assign(start, end, Some(Dirt::Dirty), &mut spare);
        drop(inner);
        drop(spare);
    }

    /// `page_mkwrite` of page `x`: the page becomes dirty and the VMO modified, unless it is
    /// not dirty and the VMO traps dirtying (`None`: the fault must wait for a DIRTY request,
    /// which only the fault handler can, with the fault lock dropped). Returns the number of
    /// writebacks begun so far, which the caller compares under the page's folio lock (see
    /// [`PageSource::writeback_begun_since`]).
    pub(crate) fn mark_fault_dirty(&self, x: u64) -> ZxResult<Option<u64>> {
        self.with_spare(|inner, spare| {
            // An eviction may free this page: wait for it to end (it takes no lock a fault
            // holds), then the caller finds the page gone or still there.
            while self.state.access_mut(inner).evicting {
                self.core.evicted.wait(inner);
            }
            let st = self.state.access_mut(inner);
            if x >= st.pages {
                return Ok(Some(self.writebacks.load(Relaxed)));
            }
            if self.trap_dirty && st.dirt.state(x) != Some(Dirt::Dirty) {
                return Ok(None);
            }
            st.modified = true;
            st.dirt.assign(x, x + 1, Some(Dirt::Dirty), spare);
            Ok(Some(self.writebacks.load(Relaxed)))
        })
    }

    /// Whether a writeback began since [`PageSource::mark_fault_dirty`] returned `begun`. A
    /// write fault checks it with the page's folio lock held, before its writable page table
    /// entry is made: if none began, a later `WRITEBACK_BEGIN` write-protects the entry (it
    /// takes the folio lock) after the fault made it; if one began, the fault is retried and
    /// marks the page dirty again.
    pub(crate) fn writeback_begun_since(&self, begun: u64) -> bool {
        self.writebacks.load(Acquire) != begun
    }

    /// Whether a write fault on page `x` must first wait for a DIRTY request: the VMO traps
    /// dirtying and the page is present and not dirty.
    pub(crate) fn fault_needs_dirty(&self, x: u64) -> bool {
        if !self.trap_dirty {
            return false;
        }
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        x < st.pages && st.dirt.state(x) != Some(Dirt::Dirty) && self.file.holds(x)
    }

    /// `ZX_PAGER_OP_DIRTY` after the handle checks: pages `[start, end)`, which must all be
    /// present (`NOT_FOUND`), become dirty; the DIRTY requests whose pages are all dirty now
    /// end, and their writers go on (Zircon's `VmCowPages::DirtyPagesLocked`, in its order:
    /// `NOT_SUPPORTED` for a VMO that does not trap dirtying, the range, a detached VMO (whose
    /// clean pages are gone), the pages). It does not mark the VMO modified.
    pub(crate) fn op_dirty(&self, start: u64, end: u64) -> ZxResult {
        if !self.trap_dirty {
            return Err(Status::NotSupported);
        }
        self.with_spare(|inner, spare| {
            self.check_inside(inner, end)?;
            if self.state.access_mut(inner).detached {
                return Err(Status::BadState);
            }
            if self.file.find_hole(start, end).0 != end {
                return Err(Status::NotFound);
            }
            let st = self.state.access_mut(inner);
            st.dirt.assign(start, end, Some(Dirt::Dirty), spare);
            let ended = RequestState::Supplied;
            self.complete_locked(inner, Need::Dirty, start, end, ended, Some(u64::MAX));
            Ok(())
        })
    }

    /// `ZX_PAGER_OP_WRITEBACK_BEGIN` after the handle checks: the dirty pages of
    /// `[start, end)` await clean; a write to one of them from now on makes it dirty again. The
    /// mappings of the range are write-protected (as a file system's writeback does with
    /// `folio_mkclean`) after the state changed, so that the next write through any of them
    /// faults into `page_mkwrite`. Works after detach, which keeps the pages that are not
    /// clean (Zircon's core test `PagerWriteback.WritebackDirtyPagesAfterDetach`).
    pub(crate) fn writeback_begin(&self, start: u64, end: u64) -> ZxResult {
        self.with_spare(|inner, spare| {
            self.check_inside(inner, end)?;
            let st = self.state.access_mut(inner);
            let awaiting = Some(Dirt::AwaitingClean);
            st.dirt.transition(start, end, Dirt::Dirty, awaiting, spare);
            // A DIRTY request whose pages were partly dirtied and now await clean would never
            // end: its writers look again and ask for what is not dirty now.
            let ended = RequestState::Supplied;
            self.complete_locked(inner, Need::Dirty, start, end, ended, None);
            self.writebacks.fetch_add(1, Release);
            Ok(())
        })?;
        self.file.write_protect(start, end);
        Ok(())
    }

    /// `ZX_PAGER_OP_WRITEBACK_END` after the handle checks: the pages of `[start, end)` that
    /// await clean become clean; those written since `WRITEBACK_BEGIN` stay dirty.
    pub(crate) fn writeback_end(&self, start: u64, end: u64) -> ZxResult {
        self.with_spare(|inner, spare| {
            self.check_inside(inner, end)?;
            let st = self.state.access_mut(inner);
            st.dirt
                .transition(start, end, Dirt::AwaitingClean, None, spare);
            Ok(())
        })
    }

    /// `zx_pager_query_dirty_ranges` after the handle checks: the runs of pages of
    /// `[start, end)` that are dirty or await clean, in order, at most `out`'s capacity of
    /// them as `(first page, end page)` into `out`; returns how many there are in all.
    pub(crate) fn dirty_ranges(
        &self,
        start: u64,
        end: u64,
        out: &mut KVec<(u64, u64)>,
    ) -> ZxResult<u64> {
        let mut inner = self.core.inner.lock();
        self.check_inside(&mut inner, end)?;
        let st = self.state.access_mut(&mut inner);
        let mut avail = 0u64;
        st.dirt.for_each(start, end, |s, e| {
            avail += 1;
            let _ = out.push_within_capacity((s, e));
            true
        });
        Ok(avail)
    }

    /// `zx_pager_query_vmo_stats` after the handle checks: whether the VMO was modified since
    /// the stats were last reset, and resets them with `reset`.
    pub(crate) fn stats(&self, reset: bool) -> bool {
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        let modified = st.modified;
        if reset {
            st.modified = false;
        }
        modified
    }

    /// The VMO was resized: it counts as modified (Zircon's `VmCowPages::Resize`).
    pub(crate) fn set_modified(&self) {
        let mut inner = self.core.inner.lock();
        self.state.access_mut(&mut inner).modified = true;
    }

    /// A fault on page `pgoff`, which dropped the fault lock, waits for what it needs (the page,
    /// or for a write fault of a `TRAP_DIRTY` VMO its dirtying). If its request failed, it
    /// leaves a record for this thread's retry (see the module documentation); nothing when a
    /// signal ended the wait.
    ///
    /// A fault through a mapping advised `MADV_SEQUENTIAL` (`sequential`) reads ahead: its
    /// request also asks for the pages after its own (see [`PageSource::read_ahead`]), and it
    /// waits for the whole request. Any other fault asks for its page only, as Zircon's do
    /// (Zircon's kernel does no prefetching; its pagers may supply more than asked).
    ///
    /// The fault is retried whatever the wait ends with, so it waits for one request only and
    /// does not look at the page again (the retry does). The failure record's node is
    /// allocated only for a failed wait, after it, with no lock held; without memory there is
    /// no record and the retry asks again.
    pub(crate) fn fault_wait(&self, need: Need, pgoff: u64, killable: bool, sequential: bool) {
        let end = pgoff.saturating_add(1);
        let ahead = match need {
            Need::Read if sequential => pgoff.saturating_add(self.read_ahead(pgoff)),
            Need::Read | Need::Dirty => end,
        };
        let Err(s) = self.wait_for_ahead(need, pgoff, end, ahead, killable, true) else {
            return;
        };
        if matches!(s, Status::Kernel(_)) {
            return;
        }
        let Ok(node) = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT) else {
            return;
        };
        let tid = current_tid();
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        // Only if the fault's own page still needs what it waited for: a request that failed
        // for other pages of it (read-ahead), or a page made dirty since, leaves no record that
        // a later fault would take for a failure.
        let still = match need {
            Need::Read => pgoff < st.pages && !self.file.holds(pgoff),
            Need::Dirty => st.dirt.state(pgoff) != Some(Dirt::Dirty),
        };
        if still {
            st.failures.insert(node.into_node((pgoff, tid), ()));
        }
    }

    /// Starts an access through the ioctls to pages `[start, end)`, which the caller made
    /// present: waits while an eviction runs, then, if they are all still present, counts the
    /// access until the returned guard is dropped (no eviction runs meanwhile). `None` if some
    /// page went (evicted, or the VMO shrank): the caller makes them present again.
    pub(crate) fn begin_access(&self, start: u64, end: u64) -> Option<Access<'_>> {
        let mut inner = self.core.inner.lock();
        while self.state.access_mut(&mut inner).evicting {
            self.core.evicted.wait(&mut inner);
        }
        let st = self.state.access_mut(&mut inner);
        let end = end.min(st.pages);
        if start < end && self.file.find_hole(start, end).0 != end {
            return None;
        }
        st.accessors += 1;
        Some(Access { source: self })
    }

    /// The VMO has copy-on-write children, which read its pages under their family's lock and
    /// not as [`PageSource::begin_access`] accesses: its pages are never evicted from now on.
    pub(crate) fn keep_pages(&self) {
        let mut inner = self.core.inner.lock();
        self.state.access_mut(&mut inner).keep_pages = true;
    }

    /// Bytes the VMO's file holds (for the shrinker's count).
    pub(crate) fn held_bytes(&self) -> u64 {
        self.file.committed_bytes()
    }

    /// Pages evicted from this VMO so far.
    pub(crate) fn evicted_pages(&self) -> u64 {
        let mut inner = self.core.inner.lock();
        self.state.access_mut(&mut inner).evicted
    }

    /// `ZX_VMO_OP_ALWAYS_NEED` (`always`) or `DONT_NEED` of pages `[start, end)`: recorded for
    /// eviction, which never takes an `ALWAYS_NEED` page (sticky: a later `DONT_NEED` does not
    /// undo it) and takes `DONT_NEED` pages first.
    pub(crate) fn hint(&self, start: u64, end: u64, always: bool) -> ZxResult {
        self.with_spare(|inner, spare| {
            let st = self.state.access_mut(inner);
            let end = end.min(st.pages);
            let map = if always {
                &mut st.always_need
            } else {
                &mut st.dont_need
            };
            map.assign(start, end, Some(Dirt::Dirty), spare);
            Ok(())
        })
    }

    /// Evicts up to `max` clean pages (not dirty nor awaiting clean, not `ALWAYS_NEED`),
    /// `DONT_NEED` ones first, unless an access is under way, the VMO has copy-on-write
    /// children, or it is detached or its pager closed (nothing could bring the pages back).
    /// Accesses and write faults that start meanwhile wait; a DIRTY request over an evicted
    /// page ends, so that its writer asks for the page again (Zircon's
    /// `PagerWriteback.EvictAfterDirtyRequest`). Returns the pages freed.
    pub(crate) fn evict(&self, max: u64) -> u64 {
        /// Runs freed per eviction.
        const RUNS: usize = 16;
        let mut runs = [(0u64, 0u64); RUNS];
        let mut n = 0;
        {
            let mut inner = self.core.inner.lock();
            let closed = inner.closed;
            let st = self.state.access_mut(&mut inner);
            if closed || st.detached || st.keep_pages || st.evicting || st.accessors > 0 {
                return 0;
            }
            let mut left = max;
            // `DONT_NEED` runs first, then every page.
            let mut hinted = [(0u64, 0u64); RUNS];
            let mut h = 0;
            st.dont_need.for_each(0, st.pages, |s, e| {
                hinted[h] = (s, e);
                h += 1;
                h < RUNS
            });
            for (from, to) in Iterator::chain(hinted[..h].iter().copied(), [(0, st.pages)]) {
                let mut p = from;
                while p < to && left > 0 && n < RUNS {
                    // The next present page, then the run of present pages it starts.
                    let (hole, hole_end) = self.file.find_hole(p, to);
                    if hole == p {
                        p = hole_end;
                        continue;
                    }
                    let (a, b) = (p, hole);
                    p = hole;
                    // Its pages that are clean and not `ALWAYS_NEED`.
                    let mut q = a;
                    while q < b && left > 0 && n < RUNS {
                        let Some((c, c_end)) = st.dirt.first_gap(q, b) else {
                            break;
                        };
                        let Some((g, g_end)) = st.always_need.first_gap(c, c_end) else {
                            q = c_end;
                            continue;
                        };
                        let g_end = g_end.min(g.saturating_add(left));
                        if !runs[..n].iter().any(|&(s, e)| s < g_end && g < e) {
                            runs[n] = (g, g_end);
                            n += 1;
                            left -= g_end - g;
                        }
                        q = g_end;
                    }
                }
            }
            if n == 0 {
                return 0;
            }
            st.evicting = true;
        }
        let mut freed = 0;
        for &(a, b) in &runs[..n] {
            // A failure leaves pages, which are still clean and present.
            if self.file.punch(a * PAGE_SIZE, (b - a) * PAGE_SIZE).is_ok() {
                freed += b - a;
            }
        }
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        st.evicting = false;
        st.evicted += freed;
        // A detach while this ran left the freeing of the clean pages to the end of it (as to
        // the last access's).
        let punch = st.accessors == 0 && st.punch_pending;
        if punch {
            st.punch_pending = false;
            st.evicting = true;
        }
        for &(a, b) in &runs[..n] {
            self.complete_locked(&mut inner, Need::Dirty, a, b, RequestState::Supplied, None);
        }
        drop(inner);
        if punch {
            // Notifies the waiters when it ends.
            self.punch_clean();
        } else {
            self.core.evicted.notify_all();
        }
        evict::count_evicted(freed);
        freed
    }

    /// How many pages a fault of a `MADV_SEQUENTIAL` mapping on the absent page `pgoff` asks
    /// for (read-ahead): [`READ_AHEAD_MIN`] pages, doubling for each fault that lands where the
    /// last window ended, up to [`READ_AHEAD_MAX`]. So a sequential mapped read of N pages
    /// sends about N / `READ_AHEAD_MAX` requests, not N.
    fn read_ahead(&self, pgoff: u64) -> u64 {
        let mut inner = self.core.inner.lock();
        let st = self.state.access_mut(&mut inner);
        st.ra_window = if pgoff == st.ra_next {
            (st.ra_window * 2).clamp(READ_AHEAD_MIN, READ_AHEAD_MAX)
        } else {
            READ_AHEAD_MIN
        };
        st.ra_next = pgoff.saturating_add(st.ra_window);
        st.ra_window
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
        setup_keyed(pages, 42, false)
    }

    /// As [`setup`], with the key `key` and `TRAP_DIRTY` if `trap_dirty`.
    fn setup_keyed(
        pages: u64,
        key: u64,
        trap_dirty: bool,
    ) -> Result<(Arc<Pager>, Arc<PageSource>)> {
        let pager = Pager::new(new_readiness()?)?;
        let koid = new_koid();
        let file = ShmemFile::new(pages * PG, koid)?;
        let source = pager.attach(koid, key, file, pages * PG, trap_dirty)?;
        Ok((pager, source))
    }

    /// Queues (or joins) the request for the first hole of pages `[start, end)`, as
    /// `populate` does, without waiting for it.
    fn request(source: &PageSource, start: u64, end: u64) -> ZxResult<Option<Arc<Request>>> {
        Ok(source
            .request_first(Need::Read, start, end, end)?
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

    /// Closing the pager is not a detach (Zircon's `PagerProxy::OnDispatcherClose` closes the
    /// page source only; core test `Pager.ClosePagerTest`): requests end with `BAD_STATE` and
    /// absent pages cannot be had any more, but the supplied pages stay, and nothing is
    /// queued for the closed pager, not even a COMPLETE when the VMO goes.
    #[test]
    fn close_fails_requests_but_keeps_the_supplied_pages() -> Result {
        let (pager, source) = setup(4)?;
        let aux = aux(4)?;
        source.supply(0, 2, &aux, 0)?;
        let req = request(&source, 0, 4)?.ok_or(EINVAL)?;
        assert_eq!((req.start, req.end), (2, 4));
        let core = pager.core().clone();
        drop(pager);
        assert_eq!(state(&source, &req), RequestState::Failed(Status::BadState));
        assert_eq!(source.populate(0, 2, false), Ok(()));
        assert_eq!(source.populate(0, 3, false), Err(Status::BadState));
        assert!(!source.is_detached());
        assert_eq!(source.file.committed_bytes(), 2 * PG);
        assert_eq!(source.supply(2, 3, &aux, 0), Err(Status::BadState));
        // ZERO writes zeros: a present partial page and whole pages, absent or not.
        assert_eq!(source.zero(PG / 2, 3 * PG), Ok(true));
        assert_eq!(source.file.committed_bytes(), 3 * PG);
        // A partial page that is absent must be paged in first, which is BAD_STATE now.
        assert_eq!(source.zero(3 * PG, 3 * PG + 1), Ok(false));
        source.detach_only();
        assert!(source.is_detached());
        assert_eq!(core.wait(0), Err(Status::BadState));
        assert!(core.inner.lock().queue.is_empty());
        Ok(())
    }

    /// The dirty state machine (Zircon's `DirtyPagesLocked`, `WritebackBeginLocked`,
    /// `WritebackEndLocked`, `DetachSourceLocked`): OP_DIRTY needs present pages and ends a
    /// DIRTY request once all its pages are dirty; a page written while it awaits clean stays
    /// dirty after WRITEBACK_END; the stats tell a write; detach frees only clean pages.
    #[test]
    fn dirty_pages_are_written_back_and_survive_detach() -> Result {
        let (pager, source) = setup_keyed(4, 9, true)?;
        let aux = aux(4)?;
        let ranges = |source: &PageSource| -> Result<KVec<(u64, u64)>> {
            let mut out = KVec::with_capacity(8, GFP_KERNEL)?;
            source.dirty_ranges(0, 4, &mut out)?;
            Ok(out)
        };
        assert_eq!(source.op_dirty(0, 1), Err(Status::NotFound));
        source.supply(0, 3, &aux, 0)?;
        assert!(!source.stats(false));
        let req = source
            .request_first(Need::Dirty, 0, 2, 2)?
            .map(|(_, r, _)| r)
            .ok_or(EINVAL)?;
        assert_eq!((req.start, req.end), (0, 2));
        let p = read_packet(&pager)?;
        assert_eq!(
            (p.key, p.kind, p.offset, p.length),
            (9, uapi::VMO_PAGER_VMO_DIRTY, 0, 2 * PG)
        );
        source.op_dirty(0, 1)?;
        assert_eq!(state(&source, &req), RequestState::Pending);
        source.op_dirty(1, 2)?;
        assert_eq!(state(&source, &req), RequestState::Supplied);
        // OP_DIRTY is no write.
        assert!(!source.stats(false));
        assert_eq!(&ranges(&source)?[..], &[(0, 2)]);
        source.writeback_begin(0, 2)?;
        // A write to page 1 while it awaits clean (marked after its copy).
        source.mark_dirty(1, 2, true, Spare::new()?);
        source.writeback_end(0, 4)?;
        assert_eq!(&ranges(&source)?[..], &[(1, 2)]);
        assert!(source.stats(true));
        assert!(!source.stats(false));
        source.detach();
        // Only the dirty page stays.
        assert_eq!(source.file.committed_bytes(), PG);
        assert_eq!(&ranges(&source)?[..], &[(1, 2)]);
        assert_eq!(source.op_dirty(0, 1), Err(Status::BadState));
        Ok(())
    }

    /// Eviction (Zircon evicts the clean pages of pager-backed VMOs): only clean pages that
    /// are not `ALWAYS_NEED` go (sticky over `DONT_NEED`), `DONT_NEED` ones first; none while
    /// an access is counted; a DIRTY request over an evicted page ends (its writer asks for
    /// the page again); nothing once the VMO has copy-on-write children.
    #[test]
    fn eviction_takes_only_clean_pages_and_follows_the_hints() -> Result {
        let (pager, source) = setup_keyed(8, 5, true)?;
        let aux = aux(8)?;
        source.supply(0, 8, &aux, 0)?;
        source.op_dirty(1, 2)?;
        source.hint(2, 3, true)?;
        source.hint(6, 8, false)?;
        source.hint(7, 8, true)?;
        let access = source.begin_access(0, 8).ok_or(EINVAL)?;
        assert_eq!(source.evict(100), 0);
        drop(access);
        // One page asked for: the DONT_NEED one that is not ALWAYS_NEED.
        assert_eq!(source.evict(1), 1);
        assert!(!source.file.holds(6));
        assert!(source.file.holds(0));
        let req = source
            .request_first(Need::Dirty, 3, 4, 4)?
            .map(|(_, r, _)| r)
            .ok_or(EINVAL)?;
        // Pages 0, 3, 4 and 5; not 1 (dirty), 2 and 7 (ALWAYS_NEED).
        assert_eq!(source.evict(100), 4);
        assert_eq!(state(&source, &req), RequestState::Supplied);
        assert_eq!(source.file.committed_bytes(), 3 * PG);
        assert_eq!(source.evicted_pages(), 5);
        // A page asked for again is supplied again, and evicted again.
        source.supply(0, 1, &aux, 0)?;
        assert_eq!(source.evict(100), 1);
        // Copy-on-write children read the pages: none is evicted any more.
        source.supply(0, 1, &aux, 0)?;
        source.keep_pages();
        assert_eq!(source.evict(100), 0);
        assert!(source.file.holds(0));
        drop(pager);
        Ok(())
    }

    /// A supply that fills every page a request has inside a VMO that shrank onto the end of
    /// one of the supply's batches ends the request, although the supply then fails past the
    /// new end (`OUT_OF_RANGE`): no later batch would look at it again.
    #[test]
    fn a_supply_cut_by_a_shrink_at_a_batch_end_still_ends_the_request() -> Result {
        let (_pager, source) = setup(200)?;
        let aux = aux(200)?;
        let req = request(&source, 100, 200)?.ok_or(EINVAL)?;
        source.resize(100 + BATCH);
        assert_eq!(state(&source, &req), RequestState::Pending);
        assert_eq!(source.supply(100, 200, &aux, 0), Err(Status::OutOfRange));
        assert!(source.file.holds(100 + BATCH - 1));
        assert_eq!(state(&source, &req), RequestState::Supplied);
        Ok(())
    }

    /// A shrink ends the requests past the new end as if supplied (Zircon's
    /// `VmCowPages::Resize` and `InvalidateReadRequestsLocked`; core test
    /// `Pager.ResizeCommitTest`), cuts the unread packet of the request that straddles the
    /// end, which ends once its part inside is present, and nothing past the end is asked for,
    /// supplied or failed (`OUT_OF_RANGE`). Growing adds absent pages, asked of the pager.
    #[test]
    fn resize_ends_the_requests_past_the_end() -> Result {
        let (pager, source) = setup(8)?;
        let aux = aux(8)?;
        source.supply(2, 3, &aux, 0)?;
        let low = request(&source, 0, 2)?.ok_or(EINVAL)?;
        let mid = request(&source, 3, 6)?.ok_or(EINVAL)?;
        let high = request(&source, 6, 8)?.ok_or(EINVAL)?;
        source.resize(4);
        source.file.set_size(4 * PG)?;
        assert_eq!(state(&source, &high), RequestState::Supplied);
        assert_eq!(state(&source, &mid), RequestState::Pending);
        assert_eq!(state(&source, &low), RequestState::Pending);
        let p = read_packet(&pager)?;
        assert_eq!((p.offset, p.length), (0, 2 * PG));
        let p = read_packet(&pager)?;
        assert_eq!((p.offset, p.length), (3 * PG, PG));
        assert_eq!(read_packet(&pager), Err(Status::TimedOut));
        assert!(request(&source, 4, 8)?.is_none());
        assert_eq!(source.supply(3, 5, &aux, 0), Err(Status::OutOfRange));
        assert_eq!(source.fail(4, 5, Status::Io), Err(Status::OutOfRange));
        assert_eq!(source.zero(3 * PG, 5 * PG), Err(Status::OutOfRange));
        source.supply(3, 4, &aux, 0)?;
        assert_eq!(state(&source, &mid), RequestState::Supplied);
        source.file.set_size(6 * PG)?;
        source.resize(6);
        let grown = request(&source, 3, 6)?.ok_or(EINVAL)?;
        assert_eq!((grown.start, grown.end), (4, 6));
        // Detach frees the pages of the current size.
        source.detach();
        assert_eq!(source.file.committed_bytes(), 0);
        Ok(())
    }

    /// A request cut by a shrink ends when the VMO grows back (review find: it kept waiting
    /// for, and took in readers of, pages past the old end that the pager was never asked for);
    /// a read of a page past the old end makes a request and a packet of its own.
    #[test]
    fn growth_ends_a_request_a_shrink_cut() -> Result {
        let (pager, source) = setup(8)?;
        let cut = request(&source, 0, 8)?.ok_or(EINVAL)?;
        source.resize(4);
        source.file.set_size(4 * PG)?;
        assert_eq!(state(&source, &cut), RequestState::Pending);
        source.file.set_size(8 * PG)?;
        source.resize(8);
        assert_eq!(state(&source, &cut), RequestState::Supplied);
        // Its unread packet went with it.
        assert_eq!(read_packet(&pager), Err(Status::TimedOut));
        let past = request(&source, 6, 7)?.ok_or(EINVAL)?;
        assert_eq!((past.start, past.end), (6, 7));
        let p = read_packet(&pager)?;
        assert_eq!((p.offset, p.length), (6 * PG, PG));
        Ok(())
    }
}
