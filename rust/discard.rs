// SPDX-License-Identifier: GPL-2.0

//! Discardable VMOs (Zircon's RFC-0012): the lock state machine, the LRU of reclaimable VMOs
//! and the shrinker that discards them under memory pressure.
//!
//! The state machine follows Zircon's `zircon/kernel/vm/discardable_vmo_tracker.cc`
//! (`LockDiscardableLocked`, `UnlockDiscardableLocked`, `UpdateDiscardableStateLocked`): a new
//! VMO is unlocked and not reclaimable ([`State::New`], Zircon's `kUnset`); LOCK and TRY_LOCK
//! count up ([`State::Locked`]); the UNLOCK that brings the count to zero makes it
//! [`State::Reclaimable`] and appends it to the LRU; the shrinker takes the least recently
//! unlocked one and makes it [`State::Discarded`]; LOCK of a discarded VMO reports the discard
//! and re-locks it (TRY_LOCK fails with `UNAVAILABLE`).
//!
//! **The LRU** is a memcg-aware `list_lru` in `helpers.c` (one list per memory cgroup and NUMA
//! node, each in unlock order). A VMO's node is on it exactly while the VMO is reclaimable.
//!
//! **The shrinker** (`helpers.c`, `SHRINKER_MEMCG_AWARE | SHRINKER_NUMA_AWARE`) calls
//! [`vmo_discard_scan`]: it never sleeps on a lock (trylocks; `SHRINK_STOP` when the tracker is
//! busy, as Android's Rust ashmem shrinker backs off with `SHRINK_STOP` when its mutex is
//! contended), so LOCK callers are never stalled behind it, and it never frees pages itself:
//! punching a shmem hole takes the shmem inode lock, which the task in reclaim may hold (a
//! write allocating a folio of that very VMO). It marks the VMO discarded (reads then fail and
//! faults `SIGBUS` at once) and queues the VMO's work item on the module's workqueue, whose
//! worker punches the whole file.
//!
//! A LOCK of a discarded VMO punches the file again before it returns (cheap when the worker
//! already did), so the VMO reads as zeros even if a write raced with the discard.
//!
//! Lock order (see the list in `pager.rs`): a VMO's [`Discardable::op`] before [`TRACKER`];
//! both before the shmem inode lock (a punch under `op`). The shrinker takes both with
//! trylocks only (which add no lockdep dependency) and no allocation happens under either.

use crate::{
    ffi,
    object::PAGE_SIZE,
    reclaim::Credit,
    shmem::ShmemFile,
    status::{Status, ZxResult},
};
use core::{ffi::c_void, ptr::NonNull};
use kernel::{
    bindings, debugfs,
    ffi::{c_int, c_ulong},
    new_mutex,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        global_lock, Arc, ArcBorrow, Mutex,
    },
    workqueue::{impl_has_work, new_work, Queue, Work, WorkItem},
};

/// `SHRINK_STOP`: the shrinker cannot make progress now.
const SHRINK_STOP: c_ulong = !0 - 1;

/// Pages of discarded VMOs whose punch is queued and has not run yet.
///
/// Reclaim does not see them freed until the worker punches them, and asks again meanwhile (a
/// memory cgroup's charge retries its reclaim); the scan counts them as freed already rather than
/// discard more VMOs for the same shortage. Only in reclaim: `drop_caches` asks once for every
/// reclaimable VMO.
static PUNCHING: Atomic<c_ulong> = Atomic::new(0);

/// What [`TRACKER`] guards.
struct Tracker {
    counts: Counts,
    /// The pages the worker punched, for the scans in reclaim. Like [`PUNCHING`], one credit for
    /// every memory cgroup: a punch in one cgroup spares the others for that moment at most.
    credit: Credit,
}

/// VMO and byte counts of discardable VMOs by state (what `fdinfo` shows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Locked VMOs and their bytes.
    pub(crate) locked: (u64, u64),
    /// Unlocked VMOs (new or reclaimable) and their bytes.
    pub(crate) unlocked: (u64, u64),
    /// Discarded VMOs (not locked again yet) and their bytes.
    pub(crate) discarded: (u64, u64),
}

impl Counts {
    const ZERO: Counts = Counts {
        locked: (0, 0),
        unlocked: (0, 0),
        discarded: (0, 0),
    };

    fn slot(&mut self, s: State) -> Option<&mut (u64, u64)> {
        match s {
            State::New | State::Reclaimable => Some(&mut self.unlocked),
            State::Locked(_) => Some(&mut self.locked),
            State::Discarded => Some(&mut self.discarded),
            State::Dead => None,
        }
    }

    /// Moves a VMO of `bytes` from `from` to `to`.
    fn account(&mut self, from: Option<State>, to: State, bytes: u64) {
        if let Some(c) = from.and_then(|f| self.slot(f)) {
            c.0 = c.0.saturating_sub(1);
            c.1 = c.1.saturating_sub(bytes);
        }
        if let Some(c) = self.slot(to) {
            c.0 = c.0.saturating_add(1);
            c.1 = c.1.saturating_add(bytes);
        }
    }
}

global_lock! {
    // SAFETY: `Registration::new` initialises it before any VMO can be made.
    unsafe(uninit) static TRACKER: Mutex<Tracker> = Tracker {
        counts: Counts::ZERO,
        credit: Credit::NONE,
    };
}

/// The state of a discardable VMO (Zircon's `DiscardableState` with the lock count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Never locked (Zircon's `kUnset`): unlocked, but not a reclaim candidate.
    New,
    /// Locked this many times (at least once).
    Locked(u64),
    /// Unlocked after a lock: on the LRU.
    Reclaimable,
    /// Discarded by the shrinker and not locked since.
    Discarded,
    /// The VMO is gone.
    Dead,
}

/// The discard state of one discardable VMO.
///
/// # Invariants
///
/// `node` is a `vmo_lru_node` of `helpers.c` (from `vmo_disc_node_new`), owned by this value;
/// it is on the LRU (with this value as its owner) exactly while `op` holds [`State::Reclaimable`], and only while the
/// VMO's [`Link`] lives (so an owner found on the LRU, under [`TRACKER`] or under the list's own
/// lock, is alive).
#[pin_data(PinnedDrop)]
pub(crate) struct Discardable {
    node: NonNull<ffi::vmo_lru_node>,
    file: ShmemFile,
    size: u64,
    /// The state; also held across the punch of a discarded VMO.
    #[pin]
    op: Mutex<State>,
    /// Non-zero while the state is [`State::Discarded`]: read without a lock by accesses.
    discarded: Atomic<u32>,
    #[pin]
    work: Work<Discardable>,
}

// SAFETY: `node` is only used under `op` and `TRACKER` (and freed on drop); everything else is
// `Send`.
unsafe impl Send for Discardable {}
// SAFETY: as above: shared access to `node` is serialised by the locks.
unsafe impl Sync for Discardable {}

impl_has_work! {
    impl HasWork<Self> for Discardable { self.work }
}

impl WorkItem for Discardable {
    type Pointer = Arc<Discardable>;

    /// The worker's half of a discard: frees the pages (and unmaps them) unless the VMO was
    /// locked again meanwhile (whose LOCK then punched it itself).
    fn run(this: Arc<Discardable>) {
        let pages = pages_of(this.size);
        let st = this.op.lock();
        // A failure leaves pages that the next LOCK frees. (No user holds the file's inode lock
        // for long: writes to a VMO that is not pager-backed copy without faulting, and take
        // their faults with no lock held; a discardable VMO is never pager-backed.)
        let freed = *st == State::Discarded && this.file.punch(0, this.size).is_ok();
        drop(st);
        // Credited before they stop counting as on their way out.
        if freed {
            TRACKER.lock().credit.add(pages);
        }
        PUNCHING.fetch_sub(pages, Relaxed);
    }
}

#[pinned_drop]
impl PinnedDrop for Discardable {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: the node is ours (type invariant) and off the LRU: `Link::drop` removed it
        // before the last reference could go.
        unsafe { ffi::vmo_disc_node_free(self.node.as_ptr()) };
    }
}

/// A VMO's tie to its [`Discardable`]: takes the VMO off the LRU when the VMO goes.
pub(crate) struct Link(Arc<Discardable>);

impl Drop for Link {
    fn drop(&mut self) {
        let d = &self.0;
        let mut st = d.op.lock();
        let mut t = TRACKER.lock();
        if *st == State::Reclaimable {
            // SAFETY: the node is ours and on the LRU (type invariant); `TRACKER` is held.
            unsafe { ffi::vmo_disc_lru_del(d.node.as_ptr()) };
        }
        t.counts.account(Some(*st), State::Dead, d.size);
        *st = State::Dead;
    }
}

impl Link {
    /// The discard state of a new discardable VMO of `size` bytes whose pages are `file`.
    pub(crate) fn new(file: ShmemFile, size: u64) -> ZxResult<Link> {
        // SAFETY: no preconditions; returns a node or NULL.
        let node = NonNull::new(unsafe { ffi::vmo_disc_node_new() }).ok_or(Status::NoMemory)?;
        let d = Arc::pin_init(
            pin_init!(Discardable {
                node,
                file,
                size,
                op <- new_mutex!(State::New),
                discarded: Atomic::new(0),
                work <- new_work!("vmo_discard"),
            }),
            GFP_KERNEL_ACCOUNT,
        );
        let d = match d {
            Ok(d) => d,
            Err(_) => {
                // SAFETY: the node was not handed to anything.
                unsafe { ffi::vmo_disc_node_free(node.as_ptr()) };
                return Err(Status::NoMemory);
            }
        };
        TRACKER.lock().counts.account(None, State::New, size);
        Ok(Link(d))
    }

    /// LOCK (`try_lock` false) or TRY_LOCK: returns whether the VMO was discarded since it was
    /// last unlocked (it then reads as zeros). TRY_LOCK of a discarded VMO is `UNAVAILABLE`.
    pub(crate) fn lock(&self, try_lock: bool) -> ZxResult<bool> {
        let d = &self.0;
        let mut st = d.op.lock();
        let old = *st;
        let (new, discarded) = match old {
            State::Discarded if try_lock => return Err(Status::Unavailable),
            State::Discarded => {
                // Frees pages a write that raced with the discard may have made.
                d.file.punch(0, d.size).map_err(Status::from_mm)?;
                (State::Locked(1), true)
            }
            State::New | State::Reclaimable => (State::Locked(1), false),
            State::Locked(n) => (
                State::Locked(n.checked_add(1).ok_or(Status::BadState)?),
                false,
            ),
            State::Dead => return Err(Status::BadState),
        };
        let mut t = TRACKER.lock();
        if old == State::Reclaimable {
            // SAFETY: the node is ours and on the LRU (type invariant); `TRACKER` is held.
            unsafe { ffi::vmo_disc_lru_del(d.node.as_ptr()) };
        }
        t.counts.account(Some(old), new, d.size);
        *st = new;
        d.discarded.store(0, Relaxed);
        Ok(discarded)
    }

    /// UNLOCK: `BAD_STATE` unless locked; the last unlock makes the VMO reclaimable.
    pub(crate) fn unlock(&self) -> ZxResult {
        let d = &self.0;
        let mut st = d.op.lock();
        let old = *st;
        let new = match old {
            State::Locked(1) => State::Reclaimable,
            State::Locked(n) => State::Locked(n - 1),
            _ => return Err(Status::BadState),
        };
        let mut t = TRACKER.lock();
        if new == State::Reclaimable {
            let owner: *const Discardable = &**d;
            // SAFETY: the node is ours and off the LRU (type invariant: not reclaimable
            // before); `TRACKER` is held; `owner` stays alive while it is on the LRU (type
            // invariant: `Link::drop` takes it off).
            unsafe { ffi::vmo_disc_lru_add(d.node.as_ptr(), owner.cast_mut().cast()) };
        }
        t.counts.account(Some(old), new, d.size);
        *st = new;
        Ok(())
    }

    /// Whether the VMO is discarded and not locked again: accesses fail, faults are `SIGBUS`.
    pub(crate) fn is_discarded(&self) -> bool {
        self.0.discarded.load(Relaxed) != 0
    }

    /// The VMO's state now.
    pub(crate) fn state(&self) -> State {
        *self.0.op.lock()
    }
}

/// The counts over all discardable VMOs.
pub(crate) fn counts() -> Counts {
    TRACKER.lock().counts
}

/// The module's workqueue for punches.
fn queue() -> &'static Queue {
    // SAFETY: the workqueue exists from `Registration::new` until the registration is dropped,
    // which happens at module exit after the shrinker (the only user) is gone.
    unsafe { Queue::from_raw(ffi::vmo_discard_wq()) }
}

/// The pages of a discardable VMO, a whole one at least (what a discard frees).
fn pages_of(size: u64) -> c_ulong {
    c_ulong::try_from(size.div_ceil(PAGE_SIZE).max(1)).unwrap_or(c_ulong::MAX)
}

/// The shrinker's count, for each VMO on the list it walks: the pages a discard would free.
///
/// # Safety
///
/// `owner` is the owner of a node on the LRU, read under the list's lock.
#[unsafe(no_mangle)]
unsafe extern "C" fn vmo_discard_pages(owner: *const c_void) -> c_ulong {
    // SAFETY: the owner of a node on the LRU is alive (type invariant of `Discardable`: `Link`'s
    // drop takes the node off, under the list's lock, before the last reference can go).
    let d = unsafe { &*owner.cast::<Discardable>() };
    pages_of(d.size)
}

/// The shrinker's scan: discards reclaimable VMOs of `memcg` on node `nid`, least recently
/// unlocked first, until they hold `nr` pages or more (in `reclaim`, counting the pages whose
/// punch is queued, and then those punched a moment ago). Returns the pages discarded (the workqueue frees them a moment later), or
/// `SHRINK_STOP` if the tracker is busy (a LOCK or UNLOCK holds it for a moment: the shrinker
/// backs off rather than stall).
///
/// # Safety
///
/// Called by the shrinker (`helpers.c`) with a valid `memcg` (or NULL) for the call.
#[unsafe(no_mangle)]
unsafe extern "C" fn vmo_discard_scan(
    nid: c_int,
    memcg: *mut bindings::mem_cgroup,
    nr: c_ulong,
    reclaim: bool,
) -> c_ulong {
    let Some(mut t) = TRACKER.try_lock() else {
        return SHRINK_STOP;
    };
    // In reclaim, pages on their way out count as freed (see `PUNCHING`), and then pages
    // punched a moment ago (see `Tracker::credit`); `drop_caches` asks once for everything and
    // gets it.
    let punching = if reclaim { PUNCHING.load(Relaxed) } else { 0 };
    if punching >= nr {
        return 0;
    }
    let mut nr = nr - punching;
    if reclaim {
        nr -= t.credit.take(nr);
    }
    let mut freed: c_ulong = 0;
    while freed < nr {
        // SAFETY: `TRACKER` is held; `memcg` is valid for the call (function contract).
        let owner = unsafe { ffi::vmo_disc_lru_pop(nid, memcg) }.cast::<Discardable>();
        if owner.is_null() {
            break;
        }
        // SAFETY: the owner of a node on the LRU is alive while `TRACKER` is held (type
        // invariant of `Discardable`), as an `Arc` made by `Link::new`.
        let d: ArcBorrow<'_, Discardable> = unsafe { ArcBorrow::from_raw(owner) };
        let Some(mut st) = d.op.try_lock() else {
            // A LOCK or UNLOCK of this VMO is under way: put it back and stop.
            // SAFETY: the node is ours and off the LRU (just popped); `TRACKER` is held.
            unsafe { ffi::vmo_disc_lru_add(d.node.as_ptr(), owner.cast()) };
            break;
        };
        t.counts.account(Some(*st), State::Discarded, d.size);
        *st = State::Discarded;
        d.discarded.store(1, Relaxed);
        drop(st);
        freed = freed.saturating_add(pages_of(d.size));
        // Not the last reference (the VMO's `Link` has one); if the work is already queued,
        // its run will see the discard (and counts its pages out once).
        // Counted before the worker can run (it counts the pages out).
        PUNCHING.fetch_add(pages_of(d.size), Relaxed);
        if queue().enqueue(Arc::<Discardable>::from(d)).is_err() {
            PUNCHING.fetch_sub(pages_of(d.size), Relaxed);
        }
    }
    freed
}

// The definition has the type of its prototype in `helpers.h`: both coerce to one function
// pointer type only if their signatures are the same.
const _: () = {
    let _ = [ffi::vmo_discard_scan, vmo_discard_scan];
    let _ = [ffi::vmo_discard_pages, vmo_discard_pages];
};

/// The shrinker and the workqueue, registered for the module's lifetime, and the debugfs file
/// `vmo/discardable` with the [`counts`] (where the kernel has debugfs).
pub(crate) struct Registration {
    _file: Pin<KBox<debugfs::File<()>>>,
    _dir: debugfs::Dir,
}

impl Registration {
    /// Registers the shrinker (and makes the LRU and the workqueue).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: called once, at module init, before anything uses `TRACKER`.
        unsafe { TRACKER.init() };
        // SAFETY: called once, at module init.
        kernel::error::to_result(unsafe { ffi::vmo_discard_init() })?;
        let dir = debugfs::Dir::new(c"vmo");
        let file = KBox::pin_init(
            dir.read_callback_file(c"discardable", (), &|(): &(), f| {
                let c = counts();
                writeln!(f, "state     vmos bytes")?;
                writeln!(f, "locked    {} {}", c.locked.0, c.locked.1)?;
                writeln!(f, "unlocked  {} {}", c.unlocked.0, c.unlocked.1)?;
                writeln!(f, "discarded {} {}", c.discarded.0, c.discarded.1)?;
                // Clean pages of pager-backed VMOs evicted under pressure (`pager/evict.rs`).
                writeln!(f, "pager-evicted-pages {}", crate::pager::evict::evicted())
            }),
            GFP_KERNEL,
        );
        let file = match file {
            Ok(file) => file,
            Err(e) => {
                // SAFETY: registered just above; nothing uses it yet.
                unsafe { ffi::vmo_discard_exit() };
                return Err(e);
            }
        };
        Ok(Registration {
            _file: file,
            _dir: dir,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: module exit: no VMO is left; this frees the shrinker (waiting for scans),
        // drains the workqueue and frees the LRU.
        unsafe { ffi::vmo_discard_exit() };
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kunit_tests(vmo_discard)]
mod tests {
    use super::*;
    use crate::{object::PAGE_SIZE as PG, rights::Rights, uapi::*, vmo::Vmo};

    const ALL: Rights = Rights::DEFAULT_VMO;

    fn op(v: &Vmo, op: u32, offset: u64, len: u64) -> ZxResult {
        v.op_range(ALL, op, offset, len).map(|_| ())
    }

    /// Discards up to `nr` reclaimable VMOs of this task's cgroup, as memory pressure would.
    fn shrink(nr: u64) -> u64 {
        // SAFETY: no preconditions.
        let n = unsafe { ffi::vmo_disc_shrink_current(nr as c_ulong) };
        // The punches run on the workqueue: wait for them.
        // SAFETY: the workqueue lives while the module does.
        unsafe { bindings::__flush_workqueue(ffi::vmo_discard_wq()) };
        n as u64
    }

    #[test]
    fn lock_state_machine_follows_zircon() -> Result {
        let v = Vmo::create(2 * PG, VMO_CREATE_DISCARDABLE)?;
        assert!(v.info().flags & VMO_INFO_FLAG_DISCARDABLE != 0);
        assert_eq!(v.discard_state(), Some(State::New));
        assert_eq!(op(&v, VMO_OP_UNLOCK, 0, 2 * PG), Err(Status::BadState));
        assert_eq!(op(&v, VMO_OP_TRY_LOCK, 0, 2 * PG), Ok(()));
        assert_eq!(v.lock_range(ALL, 0, 2 * PG), Ok(false));
        assert_eq!(v.discard_state(), Some(State::Locked(2)));
        assert_eq!(op(&v, VMO_OP_UNLOCK, 0, 2 * PG), Ok(()));
        assert_eq!(op(&v, VMO_OP_UNLOCK, 0, 2 * PG), Ok(()));
        assert_eq!(v.discard_state(), Some(State::Reclaimable));
        assert_eq!(op(&v, VMO_OP_UNLOCK, 0, 2 * PG), Err(Status::BadState));
        // Only the whole VMO; ranges past it; rights; LOCK without a buffer undoes itself.
        assert_eq!(op(&v, VMO_OP_TRY_LOCK, 0, PG), Err(Status::OutOfRange));
        assert_eq!(op(&v, VMO_OP_TRY_LOCK, PG, PG), Err(Status::OutOfRange));
        assert_eq!(
            op(&v, VMO_OP_TRY_LOCK, 1, u64::MAX),
            Err(Status::OutOfRange)
        );
        assert_eq!(
            v.op_range(Rights::MAP, VMO_OP_TRY_LOCK, 0, 0).map(|_| ()),
            Err(Status::AccessDenied)
        );
        assert_eq!(op(&v, VMO_OP_LOCK, 0, 2 * PG), Err(Status::InvalidArgs));
        assert_eq!(v.discard_state(), Some(State::Reclaimable));
        // Not discardable: NOT_SUPPORTED, after the rights.
        let plain = Vmo::create(PG, 0)?;
        for o in [VMO_OP_LOCK, VMO_OP_TRY_LOCK, VMO_OP_UNLOCK] {
            assert_eq!(op(&plain, o, 0, PG), Err(Status::NotSupported));
        }
        // No children, not resizable.
        assert!(matches!(
            v.create_child(VMO_CHILD_SLICE, 0, PG),
            Err(Status::NotSupported)
        ));
        assert!(matches!(
            Vmo::create(PG, VMO_CREATE_DISCARDABLE | VMO_CREATE_RESIZABLE),
            Err(Status::InvalidArgs)
        ));
        Ok(())
    }

    #[test]
    fn the_shrinker_discards_least_recently_unlocked_first_and_never_locked() -> Result {
        // Leave whatever other suites left reclaimable out of the way first.
        while shrink(64) != 0 {}
        let vs = [
            Vmo::create(PG, VMO_CREATE_DISCARDABLE)?,
            Vmo::create(PG, VMO_CREATE_DISCARDABLE)?,
            Vmo::create(PG, VMO_CREATE_DISCARDABLE)?,
        ];
        let locked = Vmo::create(PG, VMO_CREATE_DISCARDABLE)?;
        let never = Vmo::create(PG, VMO_CREATE_DISCARDABLE)?;
        assert_eq!(locked.lock_range(ALL, 0, PG), Ok(false));
        // Unlock order 1, 0, 2.
        for i in [1, 0, 2] {
            assert_eq!(vs[i].lock_range(ALL, 0, PG), Ok(false));
            assert_eq!(op(&vs[i], VMO_OP_COMMIT, 0, PG), Ok(()));
            assert_eq!(op(&vs[i], VMO_OP_UNLOCK, 0, PG), Ok(()));
        }
        assert_eq!(shrink(1), 1);
        assert_eq!(vs[1].discard_state(), Some(State::Discarded));
        assert_eq!(vs[1].info().committed_bytes, 0);
        assert_eq!(vs[0].discard_state(), Some(State::Reclaimable));
        assert_eq!(op(&vs[1], VMO_OP_COMMIT, 0, PG), Err(Status::NotFound));
        assert_eq!(op(&vs[1], VMO_OP_TRY_LOCK, 0, PG), Err(Status::Unavailable));
        assert_eq!(shrink(1), 1);
        assert_eq!(vs[0].discard_state(), Some(State::Discarded));
        assert_eq!(vs[2].discard_state(), Some(State::Reclaimable));
        assert_eq!(shrink(8), 1);
        assert_eq!(shrink(8), 0);
        assert_eq!(locked.discard_state(), Some(State::Locked(1)));
        assert_eq!(never.discard_state(), Some(State::New));
        // LOCK reports the discard and the VMO is usable (and empty) again.
        assert_eq!(vs[0].lock_range(ALL, 0, PG), Ok(true));
        assert_eq!(vs[0].lock_range(ALL, 0, PG), Ok(false));
        assert_eq!(op(&vs[0], VMO_OP_COMMIT, 0, PG), Ok(()));
        let c = counts();
        assert!(c.locked.0 >= 2 && c.discarded.0 >= 2);
        Ok(())
    }

    #[test]
    fn the_shrinker_counts_and_frees_pages_not_vmos() -> Result {
        while shrink(64) != 0 {}
        let big = Vmo::create(4 * PG, VMO_CREATE_DISCARDABLE)?;
        let small = Vmo::create(PG, VMO_CREATE_DISCARDABLE)?;
        for (v, size) in [(&big, 4 * PG), (&small, PG)] {
            assert_eq!(v.lock_range(ALL, 0, size), Ok(false));
            assert_eq!(op(v, VMO_OP_UNLOCK, 0, size), Ok(()));
        }
        // Asked for one page, the scan discards the oldest VMO whole: four pages.
        assert_eq!(shrink(1), 4);
        assert_eq!(big.discard_state(), Some(State::Discarded));
        assert_eq!(small.discard_state(), Some(State::Reclaimable));
        assert_eq!(shrink(2), 1);
        assert_eq!(small.discard_state(), Some(State::Discarded));
        Ok(())
    }

    /// The shrinker's count of this task's cgroup, in pages.
    fn count() -> u64 {
        // SAFETY: no preconditions.
        unsafe { ffi::vmo_disc_count_current() as u64 }
    }

    /// The count sums the pages of at most 256 VMOs (it walks under the list's lock): a longer
    /// list's count is the pages of its 256 oldest VMOs scaled to its length, so a short list
    /// is counted exactly and a long one by its oldest part (those a scan takes first).
    #[test]
    fn the_count_of_a_long_list_is_estimated_from_its_oldest_vmos() -> Result {
        while shrink(64) != 0 {}
        assert_eq!(count(), 0);
        let mut vmos = KVec::new();
        for i in 0..300u64 {
            // The 256 oldest hold one page each, the 44 newest two.
            let size = if i < 256 { PG } else { 2 * PG };
            let v = Vmo::create(size, VMO_CREATE_DISCARDABLE)?;
            assert_eq!(v.lock_range(ALL, 0, size), Ok(false));
            assert_eq!(op(&v, VMO_OP_COMMIT, 0, size), Ok(()));
            assert_eq!(op(&v, VMO_OP_UNLOCK, 0, size), Ok(()));
            vmos.push(v, GFP_KERNEL)?;
            if i == 9 {
                // Exact while the list is short.
                assert_eq!(count(), 10);
            }
        }
        // 256 pages over 256 VMOs, scaled to 300 VMOs (a full walk would say 344).
        assert_eq!(count(), 300);
        while shrink(64) != 0 {}
        assert_eq!(count(), 0);
        Ok(())
    }

    #[test]
    fn hints_and_prefetch() -> Result {
        let v = Vmo::create(2 * PG, 0)?;
        for o in [VMO_OP_DONT_NEED, VMO_OP_ALWAYS_NEED] {
            // No right, no range check on a VMO that is not pager-backed.
            assert_eq!(
                v.op_range(Rights(0), o, u64::MAX, u64::MAX).map(|_| ()),
                Ok(())
            );
        }
        assert_eq!(
            v.op_range(Rights::WRITE, VMO_OP_PREFETCH, 0, PG)
                .map(|_| ()),
            Err(Status::AccessDenied)
        );
        assert_eq!(
            v.op_range(Rights::READ, VMO_OP_PREFETCH, 0, 3 * PG)
                .map(|_| ()),
            Err(Status::OutOfRange)
        );
        assert_eq!(
            v.op_range(Rights::READ, VMO_OP_PREFETCH, 1, 10).map(|_| ()),
            Ok(())
        );
        // Nothing to ask a pager for: nothing is committed (Zircon only decompresses).
        assert_eq!(v.info().committed_bytes, 0);
        Ok(())
    }
}
