// SPDX-License-Identifier: GPL-2.0

//! Eviction of clean pages of pager-backed VMOs under memory pressure (Zircon evicts the clean
//! pages of pager-backed VMOs; the pager supplies them again on the next access).
//!
//! Every pager-backed VMO that may lose pages is in [`REGISTRY`] from its creation until it is
//! detached, its pager closes (no page could come back) or it goes. A shrinker (`helpers.c`,
//! `vmo-pager`) counts the pages they hold and, asked to free some, adds the number to
//! [`Evictor`]'s target and queues it on the module's workqueue: freeing a page of a shmem file
//! takes its inode lock, which the task in reclaim may hold. The worker visits the VMOs round
//! robin and lets each free what it may ([`PageSource::evict`]): clean pages only (never dirty
//! or awaiting clean ones), never `ALWAYS_NEED` ranges, `DONT_NEED` ranges first. The shrinker
//! is not memory-cgroup aware: pager pages are evicted under global pressure (and by
//! `drop_caches`), a container's own reclaim frees its discardable VMOs.
//!
//! Lock order (the list in `pager.rs`): [`REGISTRY`] is taken with no other lock of the module
//! held, and only for a moment (the shrinker only trylocks it).

use crate::{ffi, pager::PageSource, vmo::PAGE_SIZE};
use kernel::{
    ffi::c_ulong,
    new_work,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        global_lock, Arc,
    },
    workqueue::{impl_has_work, Queue, Work, WorkItem},
};

/// The VMOs whose clean pages may be evicted, by koid, and where the last visit stopped.
struct Registry {
    sources: Option<RBTree<u64, Arc<PageSource>>>,
    cursor: u64,
}

global_lock! {
    // SAFETY: initialised by `Registration::new` at module init, before any VMO exists.
    unsafe(uninit) static REGISTRY: Mutex<Registry> = Registry { sources: None, cursor: 0 };
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

/// Adds `source` (of the VMO `koid`) to the VMOs whose pages may be evicted.
pub(crate) fn register(koid: u64, source: &Arc<PageSource>) -> Result {
    let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
    let mut r = REGISTRY.lock();
    r.sources
        .get_or_insert_with(RBTree::new)
        .insert(node.into_node(koid, source.clone()));
    Ok(())
}

/// Removes the VMO `koid` (detached, its pager closed, or gone); dropped after the lock.
pub(crate) fn unregister(koid: u64) {
    let gone = REGISTRY
        .lock()
        .sources
        .as_mut()
        .and_then(|t| t.remove_node(&koid));
    drop(gone);
}

/// The worker that evicts pages for the shrinker: one for the module.
#[pin_data]
pub(crate) struct Evictor {
    /// Pages the shrinker asked for and the worker has not freed yet.
    target: Atomic<u64>,
    #[pin]
    work: Work<Evictor>,
}

impl_has_work! {
    impl HasWork<Self> for Evictor { self.work }
}

/// VMOs visited per lock of [`REGISTRY`].
const VISIT: usize = 16;

impl WorkItem for Evictor {
    type Pointer = Arc<Evictor>;

    fn run(this: Arc<Evictor>) {
        let mut want = this.target.xchg(0, Relaxed);
        // One round over the VMOs at most: a VMO that frees nothing is not asked again.
        let mut visited = 0usize;
        while want > 0 {
            let mut batch: [Option<Arc<PageSource>>; VISIT] = Default::default();
            let (n, total) = {
                let mut r = REGISTRY.lock();
                let cursor = r.cursor;
                let Some(t) = r.sources.as_ref() else {
                    return;
                };
                let total = t.iter().count();
                let mut n = 0;
                let mut last = cursor;
                let after = t.iter().filter(|(k, _)| **k > cursor);
                let wrapped = t.iter().filter(|(k, _)| **k <= cursor);
                for (k, s) in Iterator::chain(after, wrapped).take(VISIT) {
                    batch[n] = Some(s.clone());
                    last = *k;
                    n += 1;
                }
                r.cursor = last;
                (n, total)
            };
            if n == 0 {
                return;
            }
            for s in batch.iter().flatten() {
                let freed = s.evict(want);
                want = want.saturating_sub(freed);
                if want == 0 {
                    break;
                }
            }
            visited += n;
            if visited >= total {
                return;
            }
        }
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

/// The shrinker's count: the pages the registered VMOs hold (0 when the registry is busy).
#[unsafe(no_mangle)]
pub(crate) extern "C" fn vmo_evict_count() -> c_ulong {
    let Some(r) = REGISTRY.try_lock() else {
        return 0;
    };
    let pages: u64 = r
        .sources
        .iter()
        .flat_map(|t| t.values())
        .map(|s| s.held_bytes() / PAGE_SIZE)
        .sum();
    c_ulong::try_from(pages).unwrap_or(c_ulong::MAX)
}

/// The shrinker's scan: asks the worker to evict `nr` pages; returns `nr` (the worker frees
/// them a moment later), or 0 when it cannot be reached now.
#[unsafe(no_mangle)]
pub(crate) extern "C" fn vmo_evict_scan(nr: c_ulong) -> c_ulong {
    let Some(e) = EVICTOR.try_lock() else {
        return 0;
    };
    let Some(e) = e.as_ref() else {
        return 0;
    };
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
        ffi::vmo_evict_count as unsafe extern "C" fn() -> _,
        vmo_evict_count,
    ];
    let _ = [
        ffi::vmo_evict_scan as unsafe extern "C" fn(_) -> _,
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
