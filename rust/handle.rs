// SPDX-License-Identifier: GPL-2.0

//! Kernel objects and the per-open-file handle table.
//!
//! Handle values look like Zircon's (the two low bits set, never 0) and come from a counter of
//! each table that starts at a random value, so a value is not handed out again in a table
//! until 2^30 more handles have been made there (a stale handle is `BAD_HANDLE`, not another
//! object), one table's activity shows nothing of another's, and a value from another open
//! file names nothing here but with a chance of 2^-30 per handle, as with Zircon's per-process
//! random handle values.

use crate::{
    pager::Pager,
    rights::Rights,
    status::{Status, ZxResult},
    uapi,
    vmo::{new_koid, Vmo},
};
use kernel::{
    bindings,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::Arc,
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

/// A tree node for one handle, allocated before the table's lock is taken.
pub(crate) type Slot = RBTreeNodeReservation<u32, Handle>;

/// Allocates a [`Slot`], charged to the caller's memory cgroup.
pub(crate) fn new_slot() -> ZxResult<Slot> {
    RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT).map_err(Status::from_mm)
}

/// The handles of one open file of `/dev/vmo`.
///
/// # Invariants
///
/// `count` is the number of entries in `handles`, at most `VMO_MAX_HANDLES`; every key is
/// odd-valued with bit 1 set (`value & 3 == 3`), hence never 0.
pub(crate) struct HandleTable {
    handles: RBTree<u32, Handle>,
    count: u32,
    limit: u32,
    /// The counter the next handle value comes from.
    next: u32,
}

impl HandleTable {
    /// An empty table that holds up to `VMO_MAX_HANDLES` handles.
    pub(crate) fn new() -> Self {
        Self::with_limit(uapi::VMO_MAX_HANDLES)
    }

    /// An empty table that holds up to `limit` handles (smaller limits serve the tests).
    fn with_limit(limit: u32) -> Self {
        Self {
            handles: RBTree::new(),
            count: 0,
            limit,
            // SAFETY: `get_random_u32` has no preconditions.
            next: unsafe { bindings::get_random_u32() },
        }
    }

    /// Adds `handle` in the pre-allocated `slot`; `NO_RESOURCES` when the table is full.
    pub(crate) fn add(&mut self, slot: Slot, handle: Handle) -> ZxResult<u32> {
        if self.count >= self.limit {
            return Err(Status::NoResources);
        }
        // At most `limit` (VMO_MAX_HANDLES) values are taken, far fewer than the 2^30
        // candidates, so a free one is found within `limit + 1` steps.
        let value = loop {
            let v = handle_value(self.next);
            self.next = self.next.wrapping_add(1);
            if self.handles.get(&v).is_none() {
                break v;
            }
        };
        self.handles.insert(slot.into_node(value, handle));
        self.count += 1;
        Ok(value)
    }

    /// The handle `value`, or `BAD_HANDLE`.
    pub(crate) fn get(&self, value: u32) -> ZxResult<&Handle> {
        self.handles.get(&value).ok_or(Status::BadHandle)
    }

    /// Removes the handle `value` and returns it (to be dropped after the lock is released),
    /// or `BAD_HANDLE`.
    pub(crate) fn remove(&mut self, value: u32) -> ZxResult<Handle> {
        let h = self.handles.remove(&value).ok_or(Status::BadHandle)?;
        self.count -= 1;
        Ok(h)
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
    ) -> (ZxResult<u32>, Option<Handle>) {
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
            (Ok(_), Ok(())) => self.add(
                slot,
                Handle {
                    object: old.object.clone(),
                    rights: old.rights.with(Rights::EXECUTE),
                },
            ),
        };
        (new, Some(old))
    }

    /// The number of handles.
    pub(crate) fn len(&self) -> u32 {
        self.count
    }

    /// The handles, by value.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Handle)> {
        self.handles.iter().map(|(v, h)| (*v, h))
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kunit_tests(vmo_handle_table)]
mod tests {
    use super::*;

    fn event_handle(rights: Rights) -> Result<Handle> {
        Ok(Handle {
            object: Object::Event(Event::new()?),
            rights,
        })
    }

    #[test]
    fn values_are_nonzero_and_not_reused() -> Result {
        let mut t = HandleTable::new();
        let a = t.add(new_slot()?, event_handle(Rights::DEFAULT_EVENT)?)?;
        assert!(a != 0);
        assert_eq!(a & 3, 3);
        assert!(t.remove(a).is_ok());
        let b = t.add(new_slot()?, event_handle(Rights::DEFAULT_EVENT)?)?;
        assert!(a != b);
        assert!(matches!(t.get(a), Err(Status::BadHandle)));
        assert!(matches!(t.remove(a), Err(Status::BadHandle)));
        assert!(matches!(t.get(0), Err(Status::BadHandle)));
        assert!(t.get(b).is_ok());
        assert_eq!(t.len(), 1);
        // Another table counts on its own, from a random start: its first value is b's
        // with a chance of 2^-30, and b names nothing there otherwise.
        let mut u = HandleTable::new();
        let c = u.add(new_slot()?, event_handle(Rights::DEFAULT_EVENT)?)?;
        assert_eq!(c & 3, 3);
        if c != b {
            assert!(matches!(u.get(b), Err(Status::BadHandle)));
        }
        Ok(())
    }

    #[test]
    fn closed_values_come_back_only_after_the_counter_wraps() -> Result {
        // 2,000 handles made and closed one after the other: every value is new.
        let mut t = HandleTable::new();
        let mut seen = KVec::with_capacity(2000, GFP_KERNEL)?;
        for _ in 0..2000 {
            let v = t.add(new_slot()?, event_handle(Rights::DEFAULT_EVENT)?)?;
            assert!(!seen.contains(&v));
            seen.push(v, GFP_KERNEL)?;
            assert!(t.remove(v).is_ok());
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
        let mut t = HandleTable::new();
        let vmo = Vmo::create(4096, 0)?;
        let koid = vmo.koid();
        let ro = Rights::READ.with(Rights::MAP).with(Rights::DUPLICATE);
        let vmo_handle = |rights| Handle {
            object: Object::Vmo(vmo.clone()),
            rights,
        };
        let ev = t.add(new_slot()?, event_handle(Rights::DEFAULT_EVENT)?)?;

        // A value that names nothing: BAD_HANDLE, and nothing is closed.
        let (r, old) = t.replace_as_executable(new_slot()?, 0x13, 0, Ok(()));
        assert_eq!(r, Err(Status::BadHandle));
        assert!(old.is_none());
        assert_eq!(t.len(), 1);

        // The ambient policy denies: ACCESS_DENIED, and the handle is gone.
        let v = t.add(new_slot()?, vmo_handle(ro))?;
        let (r, old) = t.replace_as_executable(new_slot()?, v, 0, Err(Status::AccessDenied));
        assert_eq!(r, Err(Status::AccessDenied));
        assert!(old.is_some());
        assert!(matches!(t.get(v), Err(Status::BadHandle)));

        // A vmex that names nothing, or a handle that is no resource (even the VMO itself).
        let v = t.add(new_slot()?, vmo_handle(ro))?;
        let (r, _) = t.replace_as_executable(new_slot()?, v, 0x13, Ok(()));
        assert_eq!(r, Err(Status::BadHandle));
        assert!(t.get(v).is_err());
        let v = t.add(new_slot()?, vmo_handle(ro))?;
        let (r, _) = t.replace_as_executable(new_slot()?, v, ev, Ok(()));
        assert_eq!(r, Err(Status::WrongType));
        assert!(t.get(v).is_err() && t.get(ev).is_ok());
        let v = t.add(new_slot()?, vmo_handle(ro))?;
        let (r, _) = t.replace_as_executable(new_slot()?, v, v, Ok(()));
        assert_eq!(r, Err(Status::WrongType));
        assert!(t.get(v).is_err());

        // Not a VMO: BAD_HANDLE (not WRONG_TYPE), before the vmex verdict; the event is closed.
        let (r, _) = t.replace_as_executable(new_slot()?, ev, 0, Err(Status::AccessDenied));
        assert_eq!(r, Err(Status::BadHandle));
        assert!(t.get(ev).is_err());
        assert_eq!(t.len(), 0);

        // Success: the same VMO, every old right plus EXECUTE; the old value is gone.
        let v = t.add(new_slot()?, vmo_handle(ro))?;
        let (r, old) = t.replace_as_executable(new_slot()?, v, 0, Ok(()));
        let x = r?;
        assert!(old.is_some() && x != v && t.get(v).is_err());
        let h = t.get(x)?;
        assert_eq!(h.rights, ro.with(Rights::EXECUTE));
        assert_eq!(h.object.koid(), koid);
        assert_eq!(t.len(), 1);
        Ok(())
    }

    #[test]
    fn table_is_bounded() -> Result {
        // The full VMO_MAX_HANDLES (65,536) is filled from userspace by the guest tests and the
        // fuzzer; here a small table keeps the case quick on the debug kernel.
        assert_eq!(HandleTable::new().limit, uapi::VMO_MAX_HANDLES);
        let mut t = HandleTable::with_limit(100);
        let e = event_handle(Rights::DEFAULT_EVENT)?;
        for _ in 0..100 {
            t.add(new_slot()?, e.clone())?;
        }
        assert!(matches!(
            t.add(new_slot()?, e.clone()),
            Err(Status::NoResources)
        ));
        assert_eq!(t.len(), 100);
        // Closing one makes room for exactly one more.
        let first = t.iter().next().map(|(v, _)| v).ok_or(EINVAL)?;
        assert!(t.remove(first).is_ok());
        assert!(t.add(new_slot()?, e.clone()).is_ok());
        assert!(matches!(
            t.add(new_slot()?, e.clone()),
            Err(Status::NoResources)
        ));
        Ok(())
    }
}
