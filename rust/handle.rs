// SPDX-License-Identifier: GPL-2.0

//! Kernel objects and the per-open-file handle table.
//!
//! Handle values look like Zircon's (the two low bits set, never 0) and come from a counter of
//! each table that starts at a random value, so a value is not handed out again in a table
//! until 2^30 more handles have been made there (a stale handle is `BAD_HANDLE`, not another
//! object), one table's activity shows nothing of another's, and a value from another open
//! file names nothing here but with a chance of 2^-30 per handle, as with Zircon's per-process
//! random handle values.

use crate::ffi;
use crate::{
    object::new_koid,
    pager::Pager,
    rights::Rights,
    status::{Status, ZxResult},
    uapi,
    vmo::Vmo,
};
use core::{
    mem::{ManuallyDrop, MaybeUninit},
    ops::Deref,
    ptr::{addr_of_mut, null_mut, NonNull},
};
use kernel::{
    alloc::{kvec::PushError, KVVec, KVec},
    bindings, new_mutex,
    prelude::*,
    sync::{
        atomic::{
            ordering::{Acquire, Relaxed, Release},
            Atomic,
        },
        lock::{mutex::MutexBackend, Guard},
        rcu, Arc, Mutex, Refcount,
    },
    types::Opaque,
};

/// A handle value from a counter: 30 counter bits, then the two low bits set.
fn handle_value(counter: u32) -> u32 {
    ((counter & ((1 << 30) - 1)) << 2) | 3
}
/// An event object (`zx_event_create`): it exists so that `WRONG_TYPE` is real.
pub(crate) struct Event {
    koid: u64,
}

impl Event {
    /// A new event.
    pub(crate) fn new() -> ZxResult<Arc<Event>> {
        Ok(Arc::new(Event { koid: new_koid() }, GFP_KERNEL_ACCOUNT)?)
    }
}

/// What a handle refers to.
#[derive(Clone)]
pub(crate) enum Object {
    /// A virtual memory object.
    Vmo(Arc<Vmo>),
    /// An event.
    Event(Arc<Event>),
    /// A user pager.
    Pager(Arc<Pager>),
}

impl Object {
    /// Zircon's object type number (`VMO_OBJ_TYPE_*`).
    pub(crate) fn obj_type(&self) -> u32 {
        match self {
            Object::Vmo(_) => uapi::VMO_OBJ_TYPE_VMO,
            Object::Event(_) => uapi::VMO_OBJ_TYPE_EVENT,
            Object::Pager(_) => uapi::VMO_OBJ_TYPE_PAGER,
        }
    }

    /// The object's id.
    pub(crate) fn koid(&self) -> u64 {
        match self {
            Object::Vmo(v) => v.koid(),
            Object::Event(e) => e.koid,
            Object::Pager(p) => p.koid(),
        }
    }
}

/// A handle: an object and the rights to it.
#[derive(Clone)]
pub(crate) struct Handle {
    /// The object.
    pub(crate) object: Object,
    /// The rights this handle grants.
    pub(crate) rights: Rights,
}

impl Handle {
    /// The VMO this handle refers to, or `WRONG_TYPE`.
    pub(crate) fn vmo(&self) -> ZxResult<&Arc<Vmo>> {
        match &self.object {
            Object::Vmo(v) => Ok(v),
            _ => Err(Status::WrongType),
        }
    }

    /// The pager this handle refers to, or `WRONG_TYPE`.
    pub(crate) fn pager(&self) -> ZxResult<&Arc<Pager>> {
        match &self.object {
            Object::Pager(p) => Ok(p),
            _ => Err(Status::WrongType),
        }
    }
}

/// Zircon's `ZX_POL_AMBIENT_MARK_VMO_EXEC` job policy, which decides whether
/// `zx_vmo_replace_as_executable` may add `EXECUTE` without a VMEX resource: here the calling
/// task must have `CAP_SYS_ADMIN` in the initial user namespace, else `ACCESS_DENIED`. Linux has
/// neither VMEX resources nor job policies; the system-wide administrative capability, checked
/// against the initial namespace (a user namespace's root does not get it), stands for both.
///
/// Called only when the caller passed no VMEX handle, as Zircon consults the policy only then; a
/// failed check may be audited, as every `capable()` is.
pub(crate) fn ambient_mark_vmo_exec() -> ZxResult {
    // SAFETY: `capable` only reads the current task's credentials (it may sleep, which an ioctl
    // may) and has no other precondition; `CAP_SYS_ADMIN` (21) is a valid capability number.
    // It checks against the initial user namespace.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        Ok(())
    } else {
        Err(Status::AccessDenied)
    }
}

/// One handle of a table, with the references to it.
///
/// Readers find an entry without the table's lock (under RCU) and take a reference with
/// [`Entry::get`]; the table holds one reference while the entry is in its slots. The last
/// reference drops the handle (its object) in the caller's context and hands the memory to
/// `kvfree_rcu`, so a reader that found the entry just before it left the table still reads
/// `value` and `refs` of valid memory.
///
/// # Invariants
///
/// `handle` is initialised while `refs` is non-zero; once `refs` is zero it never changes
/// again, `handle` has been moved out, and the entry's memory (a `KBox` allocation) is freed
/// after an RCU grace period. `value` never changes.
struct Entry {
    value: u32,
    refs: Refcount,
    handle: ManuallyDrop<Handle>,
    rcu: Opaque<bindings::callback_head>,
}

// `kvfree_rcu` finds the allocation from the head, which must lie within its first 4 KiB.
const _: () = assert!(core::mem::offset_of!(Entry, rcu) < 4096);

impl Entry {
    /// Takes a reference unless the count already reached zero (the entry left its table and
    /// its last reference is gone).
    fn get(&self) -> bool {
        let refs = self.refs.as_atomic();
        let mut old = refs.load(Relaxed);
        loop {
            if old == 0 {
                return false;
            }
            // At most one reference per task in an ioctl plus the table's: far from overflow.
            match refs.cmpxchg(old, old + 1, Relaxed) {
                Ok(_) => return true,
                Err(now) => old = now,
            }
        }
    }

    /// Drops a reference; the last one drops the handle and frees the entry after a grace
    /// period.
    ///
    /// # Safety
    ///
    /// `entry` points to an entry on which the caller owns one reference, which it gives up.
    unsafe fn put(entry: NonNull<Entry>) {
        let e = entry.as_ptr();
        // SAFETY: the caller's reference keeps the entry alive until this call.
        if !unsafe { (*e).refs.dec_and_test() } {
            return;
        }
        // SAFETY: the count is zero, so no other reference exists and none can be taken
        // (`get` fails at zero): the handle is moved out exactly once, by raw place access,
        // while RCU readers may still read `value` and `refs`. `dec_and_test` orders every
        // earlier use of the handle before this.
        let handle = unsafe { ManuallyDrop::take(&mut *addr_of_mut!((*e).handle)) };
        drop(handle);
        // SAFETY: `e` is a `KBox` allocation (kmalloc) whose head is `rcu`; nothing touches it
        // again but RCU readers that started before it left its table, which the grace period
        // waits for. INVARIANT: the memory is freed only after that grace period.
        unsafe { ffi::vmo_kfree_rcu(e.cast(), (*e).rcu.get()) };
    }
}

/// A counted reference to a handle of a table. It keeps the handle (and its object) alive,
/// also after the handle is closed; it is dropped after any table lock is released.
///
/// # Invariants
///
/// `entry` points to an entry on which this value owns one reference.
pub(crate) struct HandleRef {
    entry: NonNull<Entry>,
}

impl Deref for HandleRef {
    type Target = Handle;

    fn deref(&self) -> &Handle {
        // SAFETY: by the type invariant the entry is alive with `refs` non-zero, so its
        // handle is initialised and is not moved out while this reference exists.
        unsafe { &(*self.entry.as_ptr()).handle }
    }
}

impl Drop for HandleRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this value owns one reference.
        unsafe { Entry::put(self.entry) };
    }
}

// SAFETY: a `HandleRef` gives shared access to a `Handle` (whose objects are `Send + Sync`)
// and drops its reference with atomic operations from any thread.
unsafe impl Send for HandleRef {}
// SAFETY: as above; `&HandleRef` only reads the handle.
unsafe impl Sync for HandleRef {}

/// The slot array of a table: slot `counter & mask` holds the entry of the handle whose value
/// comes from `counter`, or null.
struct Slots {
    mask: u32,
    slots: KVVec<Atomic<*mut Entry>>,
}

impl Slots {
    /// An empty array of `len` slots (a power of two).
    fn new(len: usize) -> ZxResult<KBox<Slots>> {
        let mut slots = KVVec::with_capacity(len, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..len {
            slots.push(Atomic::new(null_mut()), GFP_KERNEL_ACCOUNT)?;
        }
        let mask = u32::try_from(len - 1).map_err(|_| Status::NoMemory)?;
        Ok(KBox::new(Slots { mask, slots }, GFP_KERNEL_ACCOUNT)?)
    }

    /// The slot for handles of counter `counter`.
    fn slot(&self, counter: u32) -> &Atomic<*mut Entry> {
        // `slots` has `mask + 1` elements: the index is in bounds.
        &self.slots[(counter & self.mask) as usize]
    }

    /// The number of slots.
    fn len(&self) -> u32 {
        self.mask + 1
    }
}

/// The number of slots of a new table.
const FIRST_SLOTS: u32 = 32;
/// At most this many larger slot arrays replace the first one (`VMO_MAX_HANDLES` at half
/// load is 2^17 slots, 2^12 times `FIRST_SLOTS`).
const MAX_GROWTHS: usize = 12;

/// The slots needed for `count` handles: twice as many, so that at most half are taken and a
/// free one is found within a few steps of the counter.
fn slots_for(count: u32) -> u32 {
    count
        .saturating_mul(2)
        .max(FIRST_SLOTS)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
}

/// Memory for one more handle, allocated before the table's lock is taken: its entry and, if
/// the table must grow to hold it, the larger slot array.
pub(crate) struct Slot {
    entry: KBox<MaybeUninit<Entry>>,
    grown: Option<KBox<Slots>>,
}

/// The writers' state of a table, under its lock.
///
/// # Invariants
///
/// `current` is the array `HandleTable::slots` points to, owned here, as are the arrays in
/// `retired`, which readers that started before a growth may still be reading; all are freed
/// when the table is dropped. `count` is the number of non-null slots of `current`, at most
/// `limit`, and at most half its slots. Every entry in a slot has `value & 3 == 3`, is in the
/// slot of its counter `value >> 2`, and holds one reference owned by the table.
struct Writer {
    current: NonNull<Slots>,
    retired: KVec<KBox<Slots>>,
    count: u32,
    limit: u32,
    /// The counter the next handle value comes from.
    next: u32,
}

/// The handles of one open file of `/dev/vmo`.
///
/// Lookups ([`HandleTable::get`]) take no lock: under RCU they read the slot array and the
/// entry in it and take a reference on the entry, an atomic operation on that handle's own
/// memory, which no other thread touches unless it uses the same handle. Adding and removing
/// handles happens under the table's mutex (item 3 of the lock order in `pager.rs`).
///
/// # Invariants
///
/// `slots` points to the `current` array of `writer`, changed only under its lock.
#[pin_data(PinnedDrop)]
pub(crate) struct HandleTable {
    slots: Atomic<*mut Slots>,
    #[pin]
    writer: Mutex<Writer>,
    /// The number of handles, written under the lock, read without it (a hint for growth).
    count: Atomic<u32>,
    /// The most handles it holds (also in `Writer`, where `add` checks it).
    limit: u32,
}

// SAFETY: the raw pointers are to arrays and entries owned by the table (the entries through
// their counted references), whose contents are `Send + Sync` or atomics.
unsafe impl Send for HandleTable {}
// SAFETY: as above; shared access only reads through atomics and counted references.
unsafe impl Sync for HandleTable {}

impl HandleTable {
    /// An empty table that holds up to `VMO_MAX_HANDLES` handles.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        Self::with_limit(uapi::VMO_MAX_HANDLES)
    }

    /// An empty table that holds up to `limit` handles (smaller limits serve the tests).
    fn with_limit(limit: u32) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            slots: Atomic::new(null_mut()),
            writer <- {
                let retired = KVec::with_capacity(MAX_GROWTHS, GFP_KERNEL_ACCOUNT)?;
                let first = KBox::into_raw(Slots::new(FIRST_SLOTS as usize)?);
                // SAFETY: `this` is being initialised; `slots` was initialised above and
                // nobody reads it yet. INVARIANT: it points to `current`.
                unsafe { (*this.as_ptr()).slots.store(first, Relaxed) };
                new_mutex!(Writer {
                    // SAFETY: `into_raw` never returns null.
                    current: unsafe { NonNull::new_unchecked(first) },
                    retired,
                    count: 0,
                    limit,
                    // SAFETY: `get_random_u32` has no preconditions.
                    next: unsafe { bindings::get_random_u32() },
                })
            },
            count: Atomic::new(0),
            limit,
        })
    }

    /// The handle `value`, or `BAD_HANDLE`, without taking the table's lock.
    pub(crate) fn get(&self, value: u32) -> ZxResult<HandleRef> {
        if value & 3 != 3 {
            return Err(Status::BadHandle);
        }
        let _rcu = rcu::read_lock();
        let slots = self.slots.load(Acquire);
        // SAFETY: `slots` is the current array or, after a growth, a retired one: both live
        // as long as the table (type invariant of `Writer`).
        let e = unsafe { &*slots }.slot(value >> 2).load(Acquire);
        // SAFETY: an entry found in a slot under RCU is valid memory until the read-side
        // section ends: it is freed only after a grace period that starts once it left the
        // slot (`Entry::put`).
        match unsafe { e.as_ref() } {
            Some(entry) if entry.value == value && entry.get() => Ok(HandleRef {
                // INVARIANT: `get` took the reference this value owns.
                entry: NonNull::from(entry),
            }),
            _ => Err(Status::BadHandle),
        }
    }

    /// Memory for one more handle, then the table locked: the memory is allocated before the
    /// lock is taken, and again (larger) if the table grew meanwhile.
    pub(crate) fn lock_for_add(&self) -> ZxResult<(Locked<'_>, Slot)> {
        // A full table gets no handle more (a REPLACE removes one first): no array is made for
        // more than `limit` handles.
        let limit = self.limit;
        let mut need = slots_for(self.count.load(Relaxed).saturating_add(1).min(limit));
        loop {
            // SAFETY: as in `get`, the array lives as long as the table; its `mask` never
            // changes.
            let have = unsafe { &*self.slots.load(Acquire) }.len();
            let slot = Slot {
                entry: KBox::new_uninit(GFP_KERNEL_ACCOUNT)?,
                grown: if need > have {
                    Some(Slots::new(need as usize)?)
                } else {
                    None
                },
            };
            let locked = self.lock();
            let want = slots_for(locked.w.count.saturating_add(1).min(limit));
            let fits = want <= locked.slots().len()
                || slot.grown.as_ref().is_some_and(|g| g.len() >= want)
                || locked.w.count >= locked.w.limit;
            if fits {
                return Ok((locked, slot));
            }
            need = want;
        }
    }

    /// The table, locked for writers.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked {
            table: self,
            w: self.writer.lock(),
        }
    }
}

#[pinned_drop]
impl PinnedDrop for HandleTable {
    fn drop(self: Pin<&mut Self>) {
        let mut w = self.writer.lock();
        let current = w.current;
        // SAFETY: the table is being dropped: no reader is left, `current` is owned here.
        let slots = unsafe { KBox::from_raw(current.as_ptr()) };
        for s in slots.slots.iter() {
            if let Some(e) = NonNull::new(s.load(Relaxed)) {
                // SAFETY: the entry is in the table, which owns one reference.
                unsafe { Entry::put(e) };
            }
        }
        drop(slots);
        w.retired.clear();
    }
}

/// A table locked for writers: adds and removes handles.
pub(crate) struct Locked<'a> {
    table: &'a HandleTable,
    w: Guard<'a, Writer, MutexBackend>,
}

impl Locked<'_> {
    /// The current slot array.
    fn slots(&self) -> &Slots {
        // SAFETY: `current` is owned by the table and replaced only under this lock.
        unsafe { self.w.current.as_ref() }
    }

    /// The entry of `value`, if in the table.
    fn entry(&self, value: u32) -> Option<&Entry> {
        if value & 3 != 3 {
            return None;
        }
        let e = self.slots().slot(value >> 2).load(Relaxed);
        // SAFETY: an entry in the current array holds the table's reference, which only this
        // lock's holder gives up: it stays valid while the lock is held.
        unsafe { e.as_ref() }.filter(|e| e.value == value)
    }

    /// Adds `handle` in the pre-allocated `slot`; `NO_RESOURCES` when the table is full. A
    /// handle that is not added is handed back, so that the caller drops it after the lock (it
    /// may hold the last reference to a new object, whose drop takes locks that come before
    /// this one: item 3 of the list in `pager.rs`).
    pub(crate) fn add(&mut self, slot: Slot, handle: Handle) -> Result<u32, (Status, Handle)> {
        if self.w.count >= self.w.limit {
            return Err((Status::NoResources, handle));
        }
        if let Some(grown) = slot.grown {
            // Only when the current array is too small for one more (a REPLACE on a full table
            // removed one first: its array is large enough already).
            let want = slots_for(self.w.count + 1);
            if want > self.slots().len() && grown.len() >= want {
                if let Err(e) = self.grow(grown) {
                    return Err((e, handle));
                }
            }
        }
        // At most half of the slots are taken, so a free one is found within a few steps;
        // a value whose slot is taken is skipped, as a value still in use always was.
        let counter = loop {
            let c = self.w.next & ((1 << 30) - 1);
            self.w.next = self.w.next.wrapping_add(1);
            if self.slots().slot(c).load(Relaxed).is_null() {
                break c;
            }
        };
        let value = handle_value(counter);
        let entry = slot.entry.write(Entry {
            value,
            refs: Refcount::new(1),
            handle: ManuallyDrop::new(handle),
            rcu: Opaque::uninit(),
        });
        // INVARIANT: the entry holds the table's reference; it is published with release
        // order, after its contents.
        self.slots()
            .slot(counter)
            .store(KBox::into_raw(entry), Release);
        self.w.count += 1;
        self.table.count.store(self.w.count, Relaxed);
        Ok(value)
    }

    /// Moves every entry to the larger array `grown` and publishes it.
    fn grow(&mut self, grown: KBox<Slots>) -> ZxResult {
        // The retired arrays are reserved when the table is made; a growth past them would
        // mean more slots than `VMO_MAX_HANDLES` needs.
        if self.w.retired.len() == self.w.retired.capacity() {
            return Err(Status::NoResources);
        }
        for s in self.slots().slots.iter() {
            let e = s.load(Relaxed);
            // SAFETY: entries in the current array are valid while the lock is held.
            if let Some(entry) = unsafe { e.as_ref() } {
                grown.slot(entry.value >> 2).store(e, Relaxed);
            }
        }
        // SAFETY: `current` came from `KBox::into_raw`; readers may still use it, so it is kept
        // in `retired` until the table is dropped.
        let old = unsafe { KBox::from_raw(self.w.current.as_ptr()) };
        if let Err(PushError(old)) = self.w.retired.push_within_capacity(old) {
            // Unreachable (the capacity was checked): the array stays as it was.
            let _ = KBox::into_raw(old);
            return Err(Status::NoResources);
        }
        let new = KBox::into_raw(grown);
        // SAFETY: `into_raw` never returns null.
        self.w.current = unsafe { NonNull::new_unchecked(new) };
        // INVARIANT: readers find the new array, whose contents were written before.
        self.table.slots.store(new, Release);
        Ok(())
    }

    /// The handle `value`, or `BAD_HANDLE`.
    pub(crate) fn get(&self, value: u32) -> ZxResult<&Handle> {
        self.entry(value)
            .map(|e| &*e.handle)
            .ok_or(Status::BadHandle)
    }

    /// Removes the handle `value` and returns it (to be dropped after the lock is released),
    /// or `BAD_HANDLE`.
    pub(crate) fn remove(&mut self, value: u32) -> ZxResult<HandleRef> {
        let e = self.entry(value).ok_or(Status::BadHandle)?;
        let entry = NonNull::from(e);
        self.slots().slot(value >> 2).store(null_mut(), Release);
        self.w.count -= 1;
        self.table.count.store(self.w.count, Relaxed);
        // INVARIANT: the table's reference passes to the returned value.
        Ok(HandleRef { entry })
    }

    /// `zx_vmo_replace_as_executable` on this table, in the order of Zircon's
    /// `sys_vmo_replace_as_executable` (`zircon/kernel/lib/syscalls/vmo.cc`): the verdict on `vmex`
    /// first (0: `ambient`, the caller's [`ambient_mark_vmo_exec`]; a value that names nothing:
    /// `BAD_HANDLE`; any handle: `WRONG_TYPE`, since no object here is a VMEX resource), then the
    /// removal of `value` (`BAD_HANDLE` if it names nothing: nothing is closed), then
    /// `BAD_HANDLE` if it is not a VMO, then the `vmex` verdict, and finally a handle to the same
    /// VMO with the old rights plus `EXECUTE` in `slot`. Once `value` names a handle it is removed
    /// whatever the result.
    ///
    /// Returns the new handle's value and the removed handle, to be dropped after the table's
    /// lock is released.
    pub(crate) fn replace_as_executable(
        &mut self,
        slot: Slot,
        value: u32,
        vmex: u32,
        ambient: ZxResult,
    ) -> (ZxResult<u32>, Option<HandleRef>) {
        let vmex = match vmex {
            0 => ambient,
            v => self.get(v).and(Err(Status::WrongType)),
        };
        let old = match self.remove(value) {
            Ok(old) => old,
            Err(e) => return (Err(e), None),
        };
        let new = match (old.vmo(), vmex) {
            (Err(_), _) => Err(Status::BadHandle),
            (Ok(_), Err(e)) => Err(e),
            // Refused, the new handle is not the object's last reference (`old` is).
            (Ok(_), Ok(())) => self
                .add(
                    slot,
                    Handle {
                        object: old.object.clone(),
                        rights: old.rights.with(Rights::EXECUTE),
                    },
                )
                .map_err(|(e, _new)| e),
        };
        (new, Some(old))
    }

    /// The number of handles.
    pub(crate) fn len(&self) -> u32 {
        self.w.count
    }

    /// The handles, by slot.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Handle)> {
        self.slots().slots.iter().filter_map(|s| {
            // SAFETY: entries in the current array are valid while the lock is held.
            unsafe { s.load(Relaxed).as_ref() }.map(|e| (e.value, &*e.handle))
        })
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kunit_tests(vmo_handle_table)]
mod tests {
    use super::*;

    fn table(limit: u32) -> Result<Pin<KBox<HandleTable>>> {
        KBox::pin_init(HandleTable::with_limit(limit), GFP_KERNEL)
    }

    fn add(t: &HandleTable, h: Handle) -> ZxResult<u32> {
        let (mut l, slot) = t.lock_for_add()?;
        let r = l.add(slot, h);
        drop(l);
        r.map_err(|(e, _h)| e)
    }

    fn remove(t: &HandleTable, v: u32) -> ZxResult<HandleRef> {
        t.lock().remove(v)
    }

    fn replace_x(t: &HandleTable, v: u32, vmex: u32, amb: ZxResult) -> (ZxResult<u32>, bool) {
        let (mut l, slot) = match t.lock_for_add() {
            Ok(x) => x,
            Err(e) => return (Err(e), false),
        };
        let (r, old) = l.replace_as_executable(slot, v, vmex, amb);
        drop(l);
        (r, old.is_some())
    }

    fn event_handle(rights: Rights) -> Result<Handle> {
        Ok(Handle {
            object: Object::Event(Event::new()?),
            rights,
        })
    }

    #[test]
    fn lookups_survive_close_and_growth() -> Result {
        // Enough handles for several growths of the slot array; every one is found by value,
        // before and after, and a reference taken before a close keeps the handle.
        let t = table(uapi::VMO_MAX_HANDLES)?;
        let mut values = KVec::with_capacity(1000, GFP_KERNEL)?;
        for i in 0..1000u32 {
            let rights = if i % 2 == 0 {
                Rights::DEFAULT_EVENT
            } else {
                Rights::READ
            };
            values.push((add(&t, event_handle(rights)?)?, rights), GFP_KERNEL)?;
        }
        for &(v, rights) in values.iter() {
            assert_eq!(t.get(v)?.rights, rights);
        }
        let (v, rights) = values[500];
        let held = t.get(v)?;
        drop(remove(&t, v)?);
        assert!(matches!(t.get(v), Err(Status::BadHandle)));
        assert_eq!(held.rights, rights);
        assert_eq!(held.object.obj_type(), uapi::VMO_OBJ_TYPE_EVENT);
        assert_eq!(t.lock().len(), 999);
        assert_eq!(t.lock().iter().count(), 999);
        // Values that name nothing: wrong low bits, and a neighbour of the last value.
        assert!(matches!(t.get(values[0].0 & !1), Err(Status::BadHandle)));
        assert!(matches!(
            t.get(values[999].0.wrapping_add(4)),
            Err(Status::BadHandle)
        ));
        Ok(())
    }

    #[test]
    fn values_are_nonzero_and_not_reused() -> Result {
        let t = table(uapi::VMO_MAX_HANDLES)?;
        let a = add(&t, event_handle(Rights::DEFAULT_EVENT)?)?;
        assert!(a != 0);
        assert_eq!(a & 3, 3);
        assert!(remove(&t, a).is_ok());
        let b = add(&t, event_handle(Rights::DEFAULT_EVENT)?)?;
        assert!(a != b);
        assert!(matches!(t.get(a), Err(Status::BadHandle)));
        assert!(matches!(remove(&t, a), Err(Status::BadHandle)));
        assert!(matches!(t.get(0), Err(Status::BadHandle)));
        assert!(t.get(b).is_ok());
        assert_eq!(t.lock().len(), 1);
        // Another table counts on its own, from a random start: its first value is b's
        // with a chance of 2^-30, and b names nothing there otherwise.
        let u = table(uapi::VMO_MAX_HANDLES)?;
        let c = add(&u, event_handle(Rights::DEFAULT_EVENT)?)?;
        assert_eq!(c & 3, 3);
        if c != b {
            assert!(matches!(u.get(b), Err(Status::BadHandle)));
        }
        Ok(())
    }

    #[test]
    fn closed_values_come_back_only_after_the_counter_wraps() -> Result {
        // 2,000 handles made and closed one after the other: every value is new.
        let t = table(uapi::VMO_MAX_HANDLES)?;
        let mut seen = KVec::with_capacity(2000, GFP_KERNEL)?;
        for _ in 0..2000 {
            let v = add(&t, event_handle(Rights::DEFAULT_EVENT)?)?;
            assert!(!seen.contains(&v));
            seen.push(v, GFP_KERNEL)?;
            assert!(remove(&t, v).is_ok());
        }
        // Consecutive values: the table's own counter, not one shared with other tables.
        assert!(seen
            .windows(2)
            .all(|w| w[1] == handle_value(((w[0] >> 2) + 1) & ((1 << 30) - 1))));
        Ok(())
    }

    #[test]
    fn wrong_type_is_reported() -> Result {
        let h = event_handle(Rights::DEFAULT_EVENT)?;
        assert!(matches!(h.vmo(), Err(Status::WrongType)));
        let v = Handle {
            object: Object::Vmo(Vmo::create(4096, 0)?),
            rights: Rights::DEFAULT_VMO,
        };
        assert!(v.vmo().is_ok());
        assert_eq!(v.object.obj_type(), uapi::VMO_OBJ_TYPE_VMO);
        assert_eq!(h.object.obj_type(), uapi::VMO_OBJ_TYPE_EVENT);
        Ok(())
    }

    /// `zx_vmo_replace_as_executable`'s order and what it closes (Zircon's
    /// `sys_vmo_replace_as_executable`).
    #[test]
    fn replace_as_executable_follows_zircon() -> Result {
        let t = table(uapi::VMO_MAX_HANDLES)?;
        let vmo = Vmo::create(4096, 0)?;
        let koid = vmo.koid();
        let ro = Rights::READ.with(Rights::MAP).with(Rights::DUPLICATE);
        let vmo_handle = |rights| Handle {
            object: Object::Vmo(vmo.clone()),
            rights,
        };
        let ev = add(&t, event_handle(Rights::DEFAULT_EVENT)?)?;

        // A value that names nothing: BAD_HANDLE, and nothing is closed.
        let (r, old) = replace_x(&t, 0x13, 0, Ok(()));
        assert_eq!(r, Err(Status::BadHandle));
        assert!(!old);
        assert_eq!(t.lock().len(), 1);

        // The ambient policy denies: ACCESS_DENIED, and the handle is gone.
        let v = add(&t, vmo_handle(ro))?;
        let (r, old) = replace_x(&t, v, 0, Err(Status::AccessDenied));
        assert_eq!(r, Err(Status::AccessDenied));
        assert!(old);
        assert!(matches!(t.get(v), Err(Status::BadHandle)));

        // A vmex that names nothing, or a handle that is no resource (even the VMO itself).
        let v = add(&t, vmo_handle(ro))?;
        let (r, _) = replace_x(&t, v, 0x13, Ok(()));
        assert_eq!(r, Err(Status::BadHandle));
        assert!(t.get(v).is_err());
        let v = add(&t, vmo_handle(ro))?;
        let (r, _) = replace_x(&t, v, ev, Ok(()));
        assert_eq!(r, Err(Status::WrongType));
        assert!(t.get(v).is_err() && t.get(ev).is_ok());
        let v = add(&t, vmo_handle(ro))?;
        let (r, _) = replace_x(&t, v, v, Ok(()));
        assert_eq!(r, Err(Status::WrongType));
        assert!(t.get(v).is_err());

        // Not a VMO: BAD_HANDLE (not WRONG_TYPE), before the vmex verdict; the event is closed.
        let (r, _) = replace_x(&t, ev, 0, Err(Status::AccessDenied));
        assert_eq!(r, Err(Status::BadHandle));
        assert!(t.get(ev).is_err());
        assert_eq!(t.lock().len(), 0);

        // Success: the same VMO, every old right plus EXECUTE; the old value is gone.
        let v = add(&t, vmo_handle(ro))?;
        let (r, old) = replace_x(&t, v, 0, Ok(()));
        let x = r?;
        assert!(old && x != v && t.get(v).is_err());
        let h = t.get(x)?;
        assert_eq!(h.rights, ro.with(Rights::EXECUTE));
        assert_eq!(h.object.koid(), koid);
        assert_eq!(t.lock().len(), 1);
        Ok(())
    }

    /// A handle replaced in a full table needs no larger array (it is removed first): a table
    /// of 128 (256 slots) keeps its array, where one more handle would need 512 slots. (At
    /// `VMO_MAX_HANDLES` such a growth is past the arrays reserved: REPLACE failed with
    /// `NO_RESOURCES`, which the fuzzer found.)
    #[test]
    fn a_full_table_replaces_without_growing() -> Result {
        let t = table(128)?;
        let e = event_handle(Rights::DEFAULT_EVENT)?;
        for _ in 0..128 {
            add(&t, e.clone())?;
        }
        let before = t.lock().slots().len();
        let first = t.lock().iter().next().map(|(v, _)| v).ok_or(EINVAL)?;
        let (mut locked, slot) = t.lock_for_add()?;
        let old = locked.remove(first)?;
        assert!(locked.add(slot, e.clone()).is_ok());
        assert_eq!(locked.slots().len(), before);
        drop(locked);
        drop(old);
        assert!(matches!(add(&t, e.clone()), Err(Status::NoResources)));
        Ok(())
    }

    #[test]
    fn table_is_bounded() -> Result {
        // The full VMO_MAX_HANDLES (65,536) is filled from userspace by the guest tests and the
        // fuzzer; here a small table keeps the case quick on the debug kernel.
        let t = table(100)?;
        let e = event_handle(Rights::DEFAULT_EVENT)?;
        for _ in 0..100 {
            add(&t, e.clone())?;
        }
        assert!(matches!(add(&t, e.clone()), Err(Status::NoResources)));
        assert_eq!(t.lock().len(), 100);
        // Closing one makes room for exactly one more.
        let first = t.lock().iter().next().map(|(v, _)| v).ok_or(EINVAL)?;
        assert!(remove(&t, first).is_ok());
        assert!(add(&t, e.clone()).is_ok());
        assert!(matches!(add(&t, e.clone()), Err(Status::NoResources)));
        Ok(())
    }
}
