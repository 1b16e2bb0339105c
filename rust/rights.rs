// SPDX-License-Identifier: GPL-2.0

//! Handle rights, with Zircon's bit values (`VMO_RIGHT_*` in the UAPI header).

use crate::{
    status::{Status, ZxResult},
    uapi,
};

/// A set of rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rights(pub(crate) u32);

impl Rights {
    /// `ZX_RIGHT_TRANSFER`.
    pub(crate) const TRANSFER: Rights = Rights(uapi::VMO_RIGHT_TRANSFER);
    /// `ZX_RIGHT_DUPLICATE`.
    pub(crate) const DUPLICATE: Rights = Rights(uapi::VMO_RIGHT_DUPLICATE);
    /// `ZX_RIGHT_READ`.
    pub(crate) const READ: Rights = Rights(uapi::VMO_RIGHT_READ);
    /// `ZX_RIGHT_WRITE`.
    pub(crate) const WRITE: Rights = Rights(uapi::VMO_RIGHT_WRITE);
    /// `ZX_RIGHT_EXECUTE`.
    pub(crate) const EXECUTE: Rights = Rights(uapi::VMO_RIGHT_EXECUTE);
    /// `ZX_RIGHT_MAP`.
    pub(crate) const MAP: Rights = Rights(uapi::VMO_RIGHT_MAP);
    /// `ZX_RIGHT_GET_PROPERTY`.
    pub(crate) const GET_PROPERTY: Rights = Rights(uapi::VMO_RIGHT_GET_PROPERTY);
    /// `ZX_RIGHT_SET_PROPERTY`.
    pub(crate) const SET_PROPERTY: Rights = Rights(uapi::VMO_RIGHT_SET_PROPERTY);
    /// `ZX_RIGHT_RESIZE`.
    pub(crate) const RESIZE: Rights = Rights(uapi::VMO_RIGHT_RESIZE);
    /// Pager: create VMOs backed by it.
    pub(crate) const ATTACH_VMO: Rights = Rights(uapi::VMO_RIGHT_ATTACH_VMO);
    /// Pager: supply, fail, detach.
    pub(crate) const MANAGE_VMO: Rights = Rights(uapi::VMO_RIGHT_MANAGE_VMO);
    /// `ZX_DEFAULT_PAGER_RIGHTS`.
    pub(crate) const DEFAULT_PAGER: Rights = Rights(uapi::VMO_DEFAULT_PAGER_RIGHTS);
    /// `ZX_RIGHT_SAME_RIGHTS`: duplicate/replace keep the source's rights.
    pub(crate) const SAME_RIGHTS: Rights = Rights(uapi::VMO_RIGHT_SAME_RIGHTS);
    /// `ZX_DEFAULT_VMO_RIGHTS`.
    pub(crate) const DEFAULT_VMO: Rights = Rights(uapi::VMO_DEFAULT_VMO_RIGHTS);
    /// `ZX_DEFAULT_EVENT_RIGHTS`.
    pub(crate) const DEFAULT_EVENT: Rights = Rights(uapi::VMO_DEFAULT_EVENT_RIGHTS);

    /// The rights of the handle that `zx_vmo_create` and `zx_pager_create_vmo` return: the
    /// defaults, and RESIZE for a resizable VMO.
    pub(crate) fn new_vmo(resizable: bool) -> Rights {
        if resizable {
            Rights::DEFAULT_VMO.with(Rights::RESIZE)
        } else {
            Rights::DEFAULT_VMO
        }
    }

    /// Whether every right of `other` is in `self`.
    pub(crate) fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// `ACCESS_DENIED` unless every right of `needed` is in `self`.
    pub(crate) fn require(self, needed: Rights) -> ZxResult {
        if self.contains(needed) {
            Ok(())
        } else {
            Err(Status::AccessDenied)
        }
    }

    /// The union of two sets.
    pub(crate) const fn with(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// `self` without the rights of `other`.
    pub(crate) const fn without(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    /// The rights of a duplicate or replacement asked for with `requested`: the same rights for
    /// `SAME_RIGHTS`, else `requested` if it only drops rights, else `INVALID_ARGS`.
    pub(crate) fn reduce(self, requested: Rights) -> ZxResult<Rights> {
        if requested == Rights::SAME_RIGHTS {
            Ok(self)
        } else if self.contains(requested) {
            Ok(requested)
        } else {
            Err(Status::InvalidArgs)
        }
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(vmo_rights)]
mod tests {
    use super::*;

    #[test]
    fn default_vmo_rights_are_zircons() {
        // ZX_DEFAULT_VMO_RIGHTS = BASIC | IO | PROPERTY | MAP | SIGNAL.
        assert_eq!(Rights::DEFAULT_VMO.0, 0xd0ef);
        assert!(!Rights::DEFAULT_VMO.contains(Rights::RESIZE));
        assert!(!Rights::DEFAULT_VMO.contains(Rights::EXECUTE));
    }

    #[test]
    fn reduce_only_drops_rights() {
        let r = Rights::READ.with(Rights::DUPLICATE);
        assert_eq!(r.reduce(Rights::SAME_RIGHTS), Ok(r));
        assert_eq!(r.reduce(Rights::READ), Ok(Rights::READ));
        assert_eq!(r.reduce(Rights(0)), Ok(Rights(0)));
        assert_eq!(r.reduce(Rights::WRITE), Err(Status::InvalidArgs));
        assert_eq!(
            r.reduce(r.with(Rights::SAME_RIGHTS)),
            Err(Status::InvalidArgs)
        );
    }

    #[test]
    fn require_reports_access_denied() {
        assert_eq!(Rights::READ.require(Rights::READ), Ok(()));
        assert_eq!(
            Rights::READ.require(Rights::WRITE),
            Err(Status::AccessDenied)
        );
        assert_eq!(
            Rights::READ.require(Rights::READ.with(Rights::WRITE)),
            Err(Status::AccessDenied)
        );
    }
}
