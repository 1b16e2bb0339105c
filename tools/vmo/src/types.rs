//! Plain value types of the ABI: rights, options, ops, object types.

use core::fmt;

use bitflags::bitflags;

use crate::sys;

bitflags! {
    /// Handle rights, with Zircon's bit values (`ZX_RIGHT_*`).
    ///
    /// ```
    /// use vmo::Rights;
    /// let ro = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    /// assert!(Rights::DEFAULT_VMO.contains(ro));
    /// assert!(!ro.contains(Rights::WRITE));
    /// ```
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Rights: u32 {
        /// `ZX_RIGHT_DUPLICATE`: the handle may be duplicated.
        const DUPLICATE = sys::VMO_RIGHT_DUPLICATE;
        /// `ZX_RIGHT_TRANSFER`: the handle may be transferred.
        const TRANSFER = sys::VMO_RIGHT_TRANSFER;
        /// `ZX_RIGHT_READ`: the object may be read.
        const READ = sys::VMO_RIGHT_READ;
        /// `ZX_RIGHT_WRITE`: the object may be written.
        const WRITE = sys::VMO_RIGHT_WRITE;
        /// `ZX_RIGHT_EXECUTE`: the object may be mapped executable.
        const EXECUTE = sys::VMO_RIGHT_EXECUTE;
        /// `ZX_RIGHT_MAP`: the object may be mapped.
        const MAP = sys::VMO_RIGHT_MAP;
        /// `ZX_RIGHT_GET_PROPERTY`: properties may be read.
        const GET_PROPERTY = sys::VMO_RIGHT_GET_PROPERTY;
        /// `ZX_RIGHT_SET_PROPERTY`: properties may be set.
        const SET_PROPERTY = sys::VMO_RIGHT_SET_PROPERTY;
        /// `ZX_RIGHT_SIGNAL`: user signals may be set.
        const SIGNAL = sys::VMO_RIGHT_SIGNAL;
        /// `ZX_RIGHT_WAIT`: the object may be waited on.
        const WAIT = sys::VMO_RIGHT_WAIT;
        /// `ZX_RIGHT_INSPECT`: information may be queried.
        const INSPECT = sys::VMO_RIGHT_INSPECT;
        /// `ZX_RIGHT_RESIZE`: the VMO may be resized.
        const RESIZE = sys::VMO_RIGHT_RESIZE;
        /// `ZX_RIGHT_ATTACH_VMO`: VMOs backed by the pager may be created
        /// ([`Pager::create_vmo`](crate::Pager::create_vmo)).
        const ATTACH_VMO = sys::VMO_RIGHT_ATTACH_VMO;
        /// `ZX_RIGHT_MANAGE_VMO`: the pager may supply, fail and detach its
        /// VMOs.
        const MANAGE_VMO = sys::VMO_RIGHT_MANAGE_VMO;
        /// `ZX_RIGHT_SAME_RIGHTS`: for duplicate/replace, keep the source
        /// handle's rights.
        const SAME_RIGHTS = sys::VMO_RIGHT_SAME_RIGHTS;

        /// `ZX_RIGHTS_BASIC`: TRANSFER | DUPLICATE | WAIT | INSPECT.
        const BASIC = Self::TRANSFER.bits() | Self::DUPLICATE.bits()
            | Self::WAIT.bits() | Self::INSPECT.bits();
        /// `ZX_RIGHTS_IO`: READ | WRITE.
        const IO = Self::READ.bits() | Self::WRITE.bits();
        /// `ZX_RIGHTS_PROPERTY`: GET_PROPERTY | SET_PROPERTY.
        const PROPERTY = Self::GET_PROPERTY.bits() | Self::SET_PROPERTY.bits();
        /// `ZX_DEFAULT_VMO_RIGHTS`: the rights of a new VMO handle
        /// (BASIC | IO | PROPERTY | MAP | SIGNAL; a resizable VMO adds RESIZE).
        const DEFAULT_VMO = sys::VMO_DEFAULT_VMO_RIGHTS;
        /// `ZX_DEFAULT_EVENT_RIGHTS`: the rights of a new event handle
        /// (BASIC | SIGNAL).
        const DEFAULT_EVENT = sys::VMO_DEFAULT_EVENT_RIGHTS;
        /// `ZX_DEFAULT_PAGER_RIGHTS`: the rights of a new pager handle
        /// (TRANSFER | INSPECT | PROPERTY | ATTACH_VMO | MANAGE_VMO; no
        /// DUPLICATE, as in Zircon).
        const DEFAULT_PAGER = sys::VMO_DEFAULT_PAGER_RIGHTS;
    }
}

impl Rights {
    /// `ZX_RIGHT_NONE`: no rights.
    pub const NONE: Rights = Rights::empty();

    /// Every single right a VMO handle can hold (the bits of
    /// [`Rights::DEFAULT_VMO`] plus [`Rights::RESIZE`]), one at a time.
    pub fn vmo_rights() -> impl Iterator<Item = Rights> {
        (Rights::DEFAULT_VMO | Rights::RESIZE).iter()
    }
}

bitflags! {
    /// Options of [`Vmo::create`](crate::Vmo::create) (`ZX_VMO_*`).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct VmoOptions: u32 {
        /// `ZX_VMO_RESIZABLE`: the VMO may be resized; its first handle gets
        /// [`Rights::RESIZE`].
        const RESIZABLE = sys::VMO_CREATE_RESIZABLE;
        /// `ZX_VMO_DISCARDABLE`: the kernel may discard the VMO's pages
        /// while it is unlocked (see [`Vmo::lock`](crate::Vmo::lock)). Not
        /// with `RESIZABLE`; such a VMO has no children.
        const DISCARDABLE = sys::VMO_CREATE_DISCARDABLE;
        /// `ZX_VMO_TRAP_DIRTY`, for [`Pager::create_vmo_with_options`](crate::Pager::create_vmo_with_options)
        /// only: the first write to a clean page waits for the pager's leave.
        const TRAP_DIRTY = sys::VMO_CREATE_TRAP_DIRTY;
        // Unknown bits pass through to the kernel, which rejects them.
        const _ = !0;
    }
}

bitflags! {
    /// Options of [`Vmo::create_child`](crate::Vmo::create_child)
    /// (`ZX_VMO_CHILD_*`).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct VmoChildOptions: u32 {
        /// `ZX_VMO_CHILD_SNAPSHOT`: a copy of the parent's content at creation
        /// that never sees later writes on either side. The child gets
        /// [`Rights::WRITE`].
        const SNAPSHOT = sys::VMO_CHILD_SNAPSHOT;
        /// `ZX_VMO_CHILD_RESIZABLE`: the child is resizable and gets
        /// [`Rights::RESIZE`]. Not allowed with [`SLICE`](Self::SLICE).
        const RESIZABLE = sys::VMO_CHILD_RESIZABLE;
        /// `ZX_VMO_CHILD_SLICE`: a window on the parent's pages. The offset
        /// must be page aligned and the window inside the parent; no other
        /// option may be given with it.
        const SLICE = sys::VMO_CHILD_SLICE;
        /// `ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE`: like a snapshot, except
        /// the child may see parent writes to pages it has not written.
        const SNAPSHOT_AT_LEAST_ON_WRITE = sys::VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE;
        /// `ZX_VMO_CHILD_NO_WRITE`: the child handle has no [`Rights::WRITE`].
        const NO_WRITE = sys::VMO_CHILD_NO_WRITE;
        // Unknown bits pass through to the kernel, which rejects them.
        const _ = !0;
    }
}

bitflags! {
    /// [`VmoInfo::flags`](crate::VmoInfo::flags): Zircon's `ZX_INFO_VMO_*`
    /// where one exists.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct VmoInfoFlags: u32 {
        /// `ZX_INFO_VMO_TYPE_PAGED`: the VMO's pages are allocated on demand.
        const PAGED = sys::VMO_INFO_FLAG_TYPE_PAGED;
        /// `ZX_INFO_VMO_RESIZABLE`: the VMO may be resized.
        const RESIZABLE = sys::VMO_INFO_FLAG_RESIZABLE;
        /// `ZX_INFO_VMO_IS_COW_CLONE`: the VMO is a snapshot child.
        const IS_COW_CLONE = sys::VMO_INFO_FLAG_IS_COW_CLONE;
        /// `ZX_INFO_VMO_VIA_HANDLE`: the information came through a handle.
        const VIA_HANDLE = sys::VMO_INFO_FLAG_VIA_HANDLE;
        /// `ZX_INFO_VMO_PAGER_BACKED`: the VMO's pages come from a
        /// [`Pager`](crate::Pager).
        const PAGER_BACKED = sys::VMO_INFO_FLAG_PAGER_BACKED;
        /// `ZX_INFO_VMO_DISCARDABLE`: the VMO was created discardable.
        const DISCARDABLE = sys::VMO_INFO_FLAG_DISCARDABLE;
        /// Not in Zircon's set: the VMO is a slice (a window on its parent).
        const SLICE = sys::VMO_INFO_FLAG_SLICE;
        // Keep bits a newer module reports.
        const _ = !0;
    }
}

/// An object type (`zx_obj_type_t`), as [`VmoInfo::object_type`](crate::VmoInfo::object_type)
/// reports it.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectType(u32);

impl ObjectType {
    /// `ZX_OBJ_TYPE_NONE`.
    pub const NONE: ObjectType = ObjectType(0);
    /// `ZX_OBJ_TYPE_VMO`.
    pub const VMO: ObjectType = ObjectType(sys::VMO_OBJ_TYPE_VMO);
    /// `ZX_OBJ_TYPE_EVENT`.
    pub const EVENT: ObjectType = ObjectType(sys::VMO_OBJ_TYPE_EVENT);
    /// `ZX_OBJ_TYPE_PAGER`.
    pub const PAGER: ObjectType = ObjectType(sys::VMO_OBJ_TYPE_PAGER);

    /// Wraps a raw `zx_obj_type_t`.
    pub const fn from_raw(raw: u32) -> ObjectType {
        ObjectType(raw)
    }

    /// The raw `zx_obj_type_t`.
    pub const fn into_raw(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ObjectType::NONE => f.write_str("NONE"),
            ObjectType::VMO => f.write_str("VMO"),
            ObjectType::EVENT => f.write_str("EVENT"),
            ObjectType::PAGER => f.write_str("PAGER"),
            ObjectType(raw) => write!(f, "ObjectType({raw})"),
        }
    }
}

/// An operation of [`Vmo::op_range`](crate::Vmo::op_range)
/// (`ZX_VMO_OP_*`, Zircon's values).
///
/// Any `u32` can be made with [`VmoOp::from_raw`], so that unknown ops reach
/// the kernel (which answers `INVALID_ARGS`).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmoOp(u32);

macro_rules! vmo_ops {
    ($($(#[$doc:meta])* $name:ident = $value:path;)*) => {
        impl VmoOp {
            $($(#[$doc])* pub const $name: VmoOp = VmoOp($value);)*

            /// Every op the module knows, in Zircon's numbering order.
            pub const ALL: &'static [VmoOp] = &[$(VmoOp::$name),*];

            /// The op's name (`"COMMIT"`), or `None` for an unknown value.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

vmo_ops! {
    /// `ZX_VMO_OP_COMMIT`: allocate the pages of the range (rounded out to
    /// pages). Needs [`Rights::WRITE`].
    COMMIT = sys::VMO_OP_COMMIT;
    /// `ZX_VMO_OP_DECOMMIT`: release the pages of a page-aligned range; they
    /// read as zeros afterwards. Needs [`Rights::WRITE`]. Not supported on
    /// snapshots nor on VMOs that have snapshot children.
    DECOMMIT = sys::VMO_OP_DECOMMIT;
    /// `ZX_VMO_OP_LOCK`: lock a discardable VMO (the whole VMO; nests). Needs
    /// READ or WRITE; `NOT_SUPPORTED` for other VMOs. Use [`Vmo::lock`]
    /// (crate::Vmo::lock), which passes the buffer for the lock state.
    LOCK = sys::VMO_OP_LOCK;
    /// `ZX_VMO_OP_UNLOCK`: undo one lock; `BAD_STATE` if not locked.
    UNLOCK = sys::VMO_OP_UNLOCK;
    /// `ZX_VMO_OP_CACHE_SYNC`: make the instruction stream coherent with the
    /// committed pages of the range. Needs [`Rights::READ`]; size 0 is
    /// `INVALID_ARGS`.
    CACHE_SYNC = sys::VMO_OP_CACHE_SYNC;
    /// `ZX_VMO_OP_CACHE_INVALIDATE`: on `/dev/vmo` a clean+invalidate (see the
    /// header). Needs [`Rights::WRITE`]; size 0 is `INVALID_ARGS`.
    CACHE_INVALIDATE = sys::VMO_OP_CACHE_INVALIDATE;
    /// `ZX_VMO_OP_CACHE_CLEAN`: write back the data-cache lines of the
    /// committed pages of the range. Needs [`Rights::READ`]; size 0 is
    /// `INVALID_ARGS`.
    CACHE_CLEAN = sys::VMO_OP_CACHE_CLEAN;
    /// `ZX_VMO_OP_CACHE_CLEAN_INVALIDATE`: write back and invalidate. Needs
    /// [`Rights::READ`]; size 0 is `INVALID_ARGS`.
    CACHE_CLEAN_INVALIDATE = sys::VMO_OP_CACHE_CLEAN_INVALIDATE;
    /// `ZX_VMO_OP_ZERO`: zero the byte range; whole pages are released,
    /// partial pages zeroed in place. Needs [`Rights::WRITE`].
    ZERO = sys::VMO_OP_ZERO;
    /// `ZX_VMO_OP_TRY_LOCK`: lock a discardable VMO unless it was discarded
    /// (`UNAVAILABLE`). Needs READ or WRITE.
    TRY_LOCK = sys::VMO_OP_TRY_LOCK;
    /// `ZX_VMO_OP_DONT_NEED`: a hint; needs no right.
    DONT_NEED = sys::VMO_OP_DONT_NEED;
    /// `ZX_VMO_OP_ALWAYS_NEED`: a hint; needs no right.
    ALWAYS_NEED = sys::VMO_OP_ALWAYS_NEED;
    /// `ZX_VMO_OP_PREFETCH`: make later reads of the range as fast as if it
    /// were read now: ask the pager of a pager-backed VMO (or of the root a
    /// clone reads through to) for the range and wait; elsewhere nothing to do
    /// (nothing is committed). Range checks as COMMIT's. Needs
    /// [`Rights::READ`].
    PREFETCH = sys::VMO_OP_PREFETCH;
}

impl VmoOp {
    /// Wraps a raw op number, known or not.
    pub const fn from_raw(raw: u32) -> VmoOp {
        VmoOp(raw)
    }

    /// The raw op number.
    pub const fn into_raw(self) -> u32 {
        self.0
    }

    /// Whether the op is one of the four cache ops (for which size 0 is
    /// `INVALID_ARGS`).
    pub const fn is_cache_op(self) -> bool {
        matches!(
            self,
            VmoOp::CACHE_SYNC
                | VmoOp::CACHE_INVALIDATE
                | VmoOp::CACHE_CLEAN
                | VmoOp::CACHE_CLEAN_INVALIDATE
        )
    }

    /// The rights a handle needs for the op, as Zircon's `zx_vmo_op_range`
    /// documents them: one right of the returned set is enough (only LOCK
    /// and UNLOCK accept either of two). `None` for an unknown op.
    pub const fn required_rights(self) -> Option<Rights> {
        Some(match self {
            VmoOp::COMMIT | VmoOp::DECOMMIT | VmoOp::ZERO | VmoOp::CACHE_INVALIDATE => {
                Rights::WRITE
            }
            VmoOp::CACHE_SYNC
            | VmoOp::CACHE_CLEAN
            | VmoOp::CACHE_CLEAN_INVALIDATE
            | VmoOp::PREFETCH => Rights::READ,
            VmoOp::LOCK | VmoOp::UNLOCK | VmoOp::TRY_LOCK => Rights::IO,
            VmoOp::DONT_NEED | VmoOp::ALWAYS_NEED => Rights::empty(),
            _ => return None,
        })
    }
}

impl fmt::Debug for VmoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "VmoOp({})", self.0),
        }
    }
}

impl fmt::Display for VmoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_have_zircon_values() {
        let expect = [
            (Rights::DUPLICATE, 1 << 0),
            (Rights::TRANSFER, 1 << 1),
            (Rights::READ, 1 << 2),
            (Rights::WRITE, 1 << 3),
            (Rights::EXECUTE, 1 << 4),
            (Rights::MAP, 1 << 5),
            (Rights::GET_PROPERTY, 1 << 6),
            (Rights::SET_PROPERTY, 1 << 7),
            (Rights::SIGNAL, 1 << 12),
            (Rights::WAIT, 1 << 14),
            (Rights::INSPECT, 1 << 15),
            (Rights::RESIZE, 1 << 22),
            (Rights::ATTACH_VMO, 1 << 23),
            (Rights::MANAGE_VMO, 1 << 24),
            (Rights::SAME_RIGHTS, 1 << 31),
        ];
        for (r, bits) in expect {
            assert_eq!(r.bits(), bits, "{r:?}");
        }
        assert_eq!(Rights::NONE.bits(), 0);
    }

    #[test]
    fn default_rights_are_zircons() {
        assert_eq!(
            Rights::DEFAULT_VMO,
            Rights::BASIC | Rights::IO | Rights::PROPERTY | Rights::MAP | Rights::SIGNAL
        );
        assert_eq!(Rights::DEFAULT_VMO.bits(), 0xd0ef);
        assert_eq!(Rights::DEFAULT_EVENT, Rights::BASIC | Rights::SIGNAL);
        assert!(!Rights::DEFAULT_VMO.contains(Rights::EXECUTE));
        assert!(!Rights::DEFAULT_VMO.contains(Rights::RESIZE));
        assert!(!Rights::DEFAULT_EVENT.intersects(Rights::IO));
        assert_eq!(
            Rights::DEFAULT_PAGER,
            Rights::TRANSFER
                | Rights::INSPECT
                | Rights::PROPERTY
                | Rights::ATTACH_VMO
                | Rights::MANAGE_VMO
        );
        assert!(!Rights::DEFAULT_PAGER.contains(Rights::DUPLICATE));
    }

    #[test]
    fn rights_conversions() {
        let ro = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
        assert_eq!(ro.bits(), 0x27);
        assert_eq!(Rights::from_bits(0x27), Some(ro));
        assert_eq!(Rights::from_bits_retain(0x27), ro);
        // Bit 8 is not a right this ABI knows.
        assert_eq!(Rights::from_bits(1 << 8), None);
        assert_eq!(Rights::from_bits_truncate((1 << 8) | 4), Rights::READ);
        assert_eq!((Rights::DEFAULT_VMO - Rights::WRITE) & Rights::IO, Rights::READ);
        assert_eq!(format!("{:?}", Rights::READ | Rights::WRITE), "Rights(READ | WRITE)");
        let singles: Vec<Rights> = Rights::vmo_rights().collect();
        assert_eq!(singles.len(), 11);
        assert!(singles.iter().all(|r| r.bits().count_ones() == 1));
        assert!(singles.contains(&Rights::RESIZE));
        assert!(!singles.contains(&Rights::EXECUTE));
    }

    #[test]
    fn options_have_zircon_values() {
        assert_eq!(VmoOptions::RESIZABLE.bits(), 1 << 1);
        assert_eq!(VmoChildOptions::SNAPSHOT.bits(), 1 << 0);
        assert_eq!(VmoChildOptions::RESIZABLE.bits(), 1 << 2);
        assert_eq!(VmoChildOptions::SLICE.bits(), 1 << 3);
        assert_eq!(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE.bits(), 1 << 4);
        assert_eq!(VmoChildOptions::NO_WRITE.bits(), 1 << 5);
        // Unknown bits survive, so tests can send them to the kernel.
        assert_eq!(VmoOptions::from_bits_retain(1 << 7).bits(), 1 << 7);
        assert_eq!(VmoChildOptions::from_bits(1 << 9).map(|o| o.bits()), Some(1 << 9));
    }

    #[test]
    fn info_flags_and_object_types() {
        assert_eq!(VmoInfoFlags::PAGED.bits(), 1);
        assert_eq!(VmoInfoFlags::RESIZABLE.bits(), 2);
        assert_eq!(VmoInfoFlags::IS_COW_CLONE.bits(), 4);
        assert_eq!(VmoInfoFlags::VIA_HANDLE.bits(), 8);
        assert_eq!(VmoInfoFlags::PAGER_BACKED.bits(), 1 << 5);
        assert_eq!(VmoInfoFlags::SLICE.bits(), 1 << 16);
        assert_eq!(ObjectType::VMO.into_raw(), 3);
        assert_eq!(ObjectType::EVENT.into_raw(), 5);
        assert_eq!(ObjectType::PAGER.into_raw(), 28);
        assert_eq!(format!("{:?}", ObjectType::PAGER), "PAGER");
        assert_eq!(ObjectType::from_raw(3), ObjectType::VMO);
        assert_eq!(format!("{:?}", ObjectType::from_raw(42)), "ObjectType(42)");
    }

    #[test]
    fn ops_have_zircon_values() {
        let expect = [
            (VmoOp::COMMIT, 1),
            (VmoOp::DECOMMIT, 2),
            (VmoOp::LOCK, 3),
            (VmoOp::UNLOCK, 4),
            (VmoOp::CACHE_SYNC, 6),
            (VmoOp::CACHE_INVALIDATE, 7),
            (VmoOp::CACHE_CLEAN, 8),
            (VmoOp::CACHE_CLEAN_INVALIDATE, 9),
            (VmoOp::ZERO, 10),
            (VmoOp::TRY_LOCK, 11),
            (VmoOp::DONT_NEED, 12),
            (VmoOp::ALWAYS_NEED, 13),
            (VmoOp::PREFETCH, 14),
        ];
        assert_eq!(VmoOp::ALL.len(), expect.len());
        for (op, raw) in expect {
            assert_eq!(op.into_raw(), raw);
            assert_eq!(VmoOp::from_raw(raw), op);
            assert!(VmoOp::ALL.contains(&op));
        }
        assert_eq!(VmoOp::from_raw(0xffff_ffff).into_raw(), 0xffff_ffff);
        assert_eq!(format!("{:?}", VmoOp::CACHE_CLEAN), "CACHE_CLEAN");
        assert_eq!(format!("{}", VmoOp::from_raw(15)), "VmoOp(15)");
        assert_eq!(VmoOp::from_raw(5).name(), None);
    }

    #[test]
    fn op_rights_and_kinds() {
        assert_eq!(VmoOp::COMMIT.required_rights(), Some(Rights::WRITE));
        assert_eq!(VmoOp::DECOMMIT.required_rights(), Some(Rights::WRITE));
        assert_eq!(VmoOp::ZERO.required_rights(), Some(Rights::WRITE));
        assert_eq!(VmoOp::CACHE_INVALIDATE.required_rights(), Some(Rights::WRITE));
        assert_eq!(VmoOp::CACHE_SYNC.required_rights(), Some(Rights::READ));
        assert_eq!(VmoOp::CACHE_CLEAN.required_rights(), Some(Rights::READ));
        assert_eq!(VmoOp::CACHE_CLEAN_INVALIDATE.required_rights(), Some(Rights::READ));
        assert_eq!(VmoOp::LOCK.required_rights(), Some(Rights::READ | Rights::WRITE));
        assert_eq!(VmoOp::TRY_LOCK.required_rights(), Some(Rights::READ | Rights::WRITE));
        assert_eq!(VmoOp::PREFETCH.required_rights(), Some(Rights::READ));
        assert_eq!(VmoOp::DONT_NEED.required_rights(), Some(Rights::empty()));
        assert_eq!(VmoOp::from_raw(15).required_rights(), None);
        let cache: Vec<_> = VmoOp::ALL.iter().filter(|o| o.is_cache_op()).collect();
        assert_eq!(cache.len(), 4);
    }
}
