// SPDX-License-Identifier: GPL-2.0

//! Eviction of clean pages of pager-backed VMOs under memory pressure (Zircon evicts the clean
//! pages of pager-backed VMOs; the pager supplies them again on the next access).
//!
//! Every pager-backed VMO that may lose pages is [`register`]ed from its creation until it is
//! detached, its pager closes (no page could come back) or it goes: it has a node on the
//! shrinker's `list_lru` (`helpers.c`, `vmo-pager`), on the list of the memory cgroup of the task
//! that created it (the pager, which the pages it supplies are charged to). The shrinker is
//! memory-cgroup and NUMA aware: a cgroup at its limit evicts its own pager pages, global
//! pressure and `drop_caches` visit every cgroup. It counts the pages of the VMOs on the list it
//! is asked about and, asked to free some, takes references to a few of those VMOs
//! ([`vmo_evict_scan`]), adds the number to [`Evictor`]'s target and queues it on the module's
//! workqueue: freeing a page of a shmem file takes its inode lock, which the task in reclaim may
//! hold. The worker lets each picked VMO free what it may ([`PageSource::evict`]): clean pages
//! only (never dirty or awaiting clean ones), never `ALWAYS_NEED` ranges, `DONT_NEED` ranges
//! first.
//!
//! Lock order (the list in `pager.rs`): [`REGISTRY`] is taken with no other lock of the module
//! held, and only for a moment; [`Evictor::picks`] (the shrinker only trylocks it) before the
//! `list_lru`'s own lock.

use crate::{ffi, object::PAGE_SIZE, pager::PageSource, reclaim::Credit};
use core::{ffi::c_void, ptr::NonNull};
use kernel::{
    bindings,
    ffi::{c_int, c_ulong},
    new_mutex, new_work,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        global_lock, Arc, ArcBorrow, Mutex,
    },
    workqueue::{impl_has_work, Queue, Work, WorkItem},
};

/// A registered VMO's node on the shrinker's list, holding a reference to its page source.
///
/// # Invariants
///
/// `node` came from `vmo_evict_node_new` with an owner made by `Arc::into_raw` of an
/// `Arc<PageSource>`; it is on the list and is freed only by `drop`, which also releases that
/// reference.
struct Listed {
    node: NonNull<ffi::vmo_lru_node>,
}

// SAFETY: the node is only touched through the `list_lru` functions, which take its list's lock,
// and what it owns is an `Arc<PageSource>`, which may be sent and shared between threads.
unsafe impl Send for Listed {}

impl Drop for Listed {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the node is live and on the list; it is freed once, here.
        let owner = unsafe { ffi::vmo_evict_node_free(self.node.as_ptr()) };
        // SAFETY: the owner was made by `Arc::into_raw` (type invariant); no walk of the list sees
        // it once the node is off it, so this is the reference's only release.
        drop(unsafe { Arc::from_raw(owner.cast::<PageSource>()) });
    }
}

/// The VMOs whose clean pages may be evicted, by koid.
struct Registry {
    sources: Option<RBTree<u64, Listed>>,
}

global_lock! {
    // SAFETY: initialised by `Registration::new` at module init, before any VMO exists.
    unsafe(uninit) static REGISTRY: Mutex<Registry> = Registry { sources: None };
}

/// Pages evicted since the module was loaded.
static EVICTED: Atomic<u64> = Atomic::new(0);

/// Counts `n` more pages evicted.
pub(crate) fn count_evicted(n: u64) {
    EVICTED.fetch_add(n, Relaxed);
}

/// Pages evicted since the module was loaded.
pub(crate) fn evicted() -> u64 {
    EVICTED.load(Relaxed)
}

/// Adds `source` (of the VMO `koid`) to the VMOs whose pages may be evicted, on the list of the
/// calling task's memory cgroup.
pub(crate) fn register(koid: u64, source: &Arc<PageSource>) -> Result {
    let reservation = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
    let owner = Arc::into_raw(source.clone());
    // SAFETY: `owner` stays valid while the node holds it (`Listed`'s invariant, made next).
    let node = unsafe { ffi::vmo_evict_node_new(owner.cast_mut().cast()) };
    let Some(node) = NonNull::new(node) else {
        // SAFETY: `owner` came from `Arc::into_raw` above and no node holds it.
        drop(unsafe { Arc::from_raw(owner) });
        return Err(ENOMEM);
    };
    // INVARIANT: made by `vmo_evict_node_new` with an owner from `Arc::into_raw`.
    let listed = Listed { node };
    let replaced = REGISTRY
        .lock()
        .sources
        .get_or_insert_with(RBTree::new)
        .insert(reservation.into_node(koid, listed));
    drop(replaced);
    Ok(())
}

/// Removes the VMO `koid` (detached, its pager closed, or gone); its node goes after the lock.
pub(crate) fn unregister(koid: u64) {
    let gone = REGISTRY
        .lock()
        .sources
        .as_mut()
        .and_then(|t| t.remove_node(&koid));
    drop(gone);
}

/// VMOs a scan hands the worker at most.
const VISIT: usize = 16;

/// The VMOs the shrinker picked for the worker.
#[derive(Default)]
struct Picks {
    sources: [Option<Arc<PageSource>>; VISIT],
    len: usize,
}

/// The worker that evicts pages for the shrinker: one for the module.
#[pin_data]
pub(crate) struct Evictor {
    /// Pages the shrinker asked for and the worker has not tried to free yet. A scan counts
    /// them as freed already: reclaim sees nothing freed until the worker ran and asks again
    /// meanwhile (a memory cgroup's charge retries its reclaim), which would evict far more
    /// than the shortage.
    target: Atomic<u64>,
    /// The pages the worker evicted, for the scans in reclaim (`reclaim.rs`).
    #[pin]
    credit: Mutex<Credit>,
    /// VMOs to take them from.
    #[pin]
    picks: Mutex<Picks>,
    #[pin]
    work: Work<Evictor>,
}

impl_has_work! {
    impl HasWork<Self> for Evictor { self.work }
}

impl WorkItem for Evictor {
    type Pointer = Arc<Evictor>;

    fn run(this: Arc<Evictor>) {
        let asked = this.target.load(Relaxed);
        let mut want = asked;
        let picks = core::mem::take(&mut *this.picks.lock());
        for s in picks.sources.iter().flatten() {
            if want == 0 {
                break;
            }
            want = want.saturating_sub(s.evict(want));
        }
        // What is left is not carried over: the shrinker asks again while the pressure lasts.
        // (What scans added meanwhile stays, for the run they queued.) The references are
        // dropped here, in the worker, not in reclaim. Credited before they stop counting as
        // on their way out.
        this.credit
            .lock()
            .add(c_ulong::try_from(asked - want).unwrap_or(c_ulong::MAX));
        this.target.fetch_sub(asked, Relaxed);
    }
}

global_lock! {
    // SAFETY: initialised by `Registration::new` at module init.
    unsafe(uninit) static EVICTOR: Mutex<Option<Arc<Evictor>>> = None;
}

/// The module's workqueue (the discard module's, made at init, drained at exit).
fn queue() -> &'static Queue {
    // SAFETY: the workqueue exists from module init until `discard::Registration` is dropped,
    // after the shrinker that queues this work is freed (`Registration`'s drop).
    unsafe { Queue::from_raw(ffi::vmo_discard_wq()) }
}

/// The shrinker's count, for each VMO on the list it walks: the pages `owner` holds.
///
/// # Safety
///
/// `owner` is the owner of a node on the shrinker's list, read under the list's lock.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_evict_pages(owner: *const c_void) -> c_ulong {
    // SAFETY: the node holds a reference to `owner` while it is on the list (`Listed`), and the
    // list's lock, held by the caller, keeps it there.
    let s = unsafe { ArcBorrow::<PageSource>::from_raw(owner.cast()) };
    c_ulong::try_from(s.held_bytes() / PAGE_SIZE).unwrap_or(c_ulong::MAX)
}

/// The shrinker's pick: `owner` goes to the worker's `picks`.
///
/// # Safety
///
/// `owner` is as for [`vmo_evict_pages`]; `picks` is the `Picks` that [`vmo_evict_scan`] passed
/// to `vmo_evict_lru_pick`, with room for every pick that walk makes.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_evict_take(owner: *const c_void, picks: *mut c_void) {
    // SAFETY: as in `vmo_evict_pages`.
    let s = unsafe { ArcBorrow::<PageSource>::from_raw(owner.cast()) };
    // SAFETY: the caller passes the `Picks` `vmo_evict_scan` holds locked, and nothing else
    // touches it during the walk.
    let picks = unsafe { &mut *picks.cast::<Picks>() };
    if let Some(slot) = picks.sources.get_mut(picks.len) {
        *slot = Some(s.into());
        picks.len += 1;
    }
}

/// The shrinker's scan of the list of `memcg` on `nid`: picks VMOs from it for the worker and
/// asks the worker to evict `nr` pages from them; returns `nr` (the worker frees them a moment
/// later), or 0 when it cannot be reached now, the list is empty or (in `reclaim`: kswapd,
/// direct reclaim, a cgroup's charge) the worker has yet to try what it was asked before or
/// evicted as much a moment ago (then it asks only for the rest).
///
/// # Safety
///
/// `nid` is a node id and `memcg` a memory cgroup (or null) valid for the call, as a shrinker's
/// `shrink_control` gives them.
#[unsafe(no_mangle)]
pub(crate) unsafe extern "C" fn vmo_evict_scan(
    nid: c_int,
    memcg: *mut bindings::mem_cgroup,
    nr: c_ulong,
    reclaim: bool,
) -> c_ulong {
    let Some(e) = EVICTOR.try_lock() else {
        return 0;
    };
    let Some(e) = e.as_ref() else {
        return 0;
    };
    let mut nr = nr;
    if reclaim {
        if e.target.load(Relaxed) >= nr as u64 {
            // The pages asked for before are on their way out (`drop_caches` asks once for
            // everything and gets it).
            return 0;
        }
        // Then the pages evicted a moment ago.
        let Some(mut credit) = e.credit.try_lock() else {
            return 0;
        };
        nr -= credit.take(nr);
        if nr == 0 {
            return 0;
        }
    }
    let Some(mut picks) = e.picks.try_lock() else {
        return 0;
    };
    let room = VISIT - picks.len;
    if room > 0 {
        let p: *mut Picks = &mut *picks;
        // SAFETY: `nid` and `memcg` are valid for this call (the caller's promise); `p` is the locked
        // `Picks` with `room` free slots, which is all the walk may fill.
        unsafe { ffi::vmo_evict_lru_pick(nid, memcg, p.cast(), room as u32) };
    }
    if picks.len == 0 {
        return 0;
    }
    drop(picks);
    e.target.fetch_add(nr as u64, Relaxed);
    let _ = queue().enqueue(e.clone());
    nr
}

// The definitions have the types of their prototypes in `helpers.h`: each coerces to the
// prototype's function pointer type only if their signatures are the same. (They are safe
// functions and the prototypes unsafe ones: rustc 1.85 finds no common type for the two items, so
// the prototype is made a pointer first.)
const _: () = {
    let _ = [
        ffi::vmo_evict_pages as unsafe extern "C" fn(_) -> _,
        vmo_evict_pages,
    ];
    let _ = [
        ffi::vmo_evict_take as unsafe extern "C" fn(_, _),
        vmo_evict_take,
    ];
    let _ = [
        ffi::vmo_evict_scan as unsafe extern "C" fn(_, _, _, _) -> _,
        vmo_evict_scan,
    ];
};

/// The evictor and its shrinker, for the module's lifetime (made after, and dropped before,
/// `discard::Registration`, whose workqueue it uses).
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: called once, at module init, before any VMO exists.
        unsafe { REGISTRY.init() };
        // SAFETY: as above.
        unsafe { EVICTOR.init() };
        let e = Arc::pin_init(
            pin_init!(Evictor {
                target: Atomic::new(0),
                credit <- new_mutex!(Credit::NONE),
                picks <- new_mutex!(Picks::default()),
                work <- new_work!("vmo_evict"),
            }),
            GFP_KERNEL,
        )?;
        *EVICTOR.lock() = Some(e);
        // SAFETY: called once, at module init.
        kernel::error::to_result(unsafe { ffi::vmo_evict_init() })?;
        Ok(Registration)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: module exit: frees the shrinker, waiting for running scans.
        unsafe { ffi::vmo_evict_exit() };
        // A queued run holds its own reference; the workqueue is drained after this.
        let e = EVICTOR.lock().take();
        drop(e);
    }
}
