//! The model: the objects and handles a worker made, what it knows of their
//! pages, and the pure functions that say which status the module must give
//! (the check order of `rust/device.rs` and `rust/vmo.rs`).
//!
//! An object's state is exact unless it belongs to the shared pool (other
//! threads resize it, close its handles and take snapshots of it at any
//! time): then the prediction is the union over the states it may be in
//! ([`VmoState`]), plus `BAD_HANDLE` for a handle another thread may close.
//!
//! Pages are tracked per page-owning VMO (a root or a snapshot; a slice is
//! a window on its root's pages) with the semantics of an eager copy: a
//! snapshot holds a copy of what its parent held at creation. The module
//! copies lazily (`rust/cow.rs`: a snapshot reads through to its parent
//! until one side writes a page), so what a snapshot reads is checked
//! exactly, and its committed bytes only within `[0, size]`; a root's are
//! exact (the module's parent keeps its own pages and gives a snapshot a
//! page as it was before changing it). A closed snapshot whose snapshots
//! live on stays in its parent's family (they read through it), so its
//! parent's DECOMMIT stays NOT_SUPPORTED until the last of them closes.
//! Roots' pages as shmem holds them:
//! * [`Page::Committed`]: allocated by COMMIT but never written, so it reads
//!   as zeros and a snapshot does not copy it (shmem leaves the folio not
//!   uptodate); a second COMMIT over it clears it and marks it uptodate
//!   (`shmem_get_folio_gfp`, `SGP_FALLOC`), which makes it [`Page::Data`];
//! * [`Page::Data`]: written (shmem marks the folio uptodate), with its bytes;
//! * [`Page::Unknown`]: a `WRITE` faulted part-way through it: it may or may
//!   not be allocated, and its bytes are not checked;
//! * [`Page::ZeroMaybe`]: a read fault through a mapping allocated it over a
//!   hole: it reads as zeros, and it is clean, so reclaim may drop it again
//!   at any time (shmem: "the mm can drop undirtied hole pages behind our
//!   back"): it may or may not be committed.

use std::collections::BTreeMap;

use vmo::sys;

use crate::report::*;

/// A model object's id (never reused).
pub type ObjId = u64;

/// `ZX_RIGHT_DUPLICATE`.
pub const R_DUPLICATE: u32 = sys::VMO_RIGHT_DUPLICATE;
/// `ZX_RIGHT_READ`.
pub const R_READ: u32 = sys::VMO_RIGHT_READ;
/// `ZX_RIGHT_WRITE`.
pub const R_WRITE: u32 = sys::VMO_RIGHT_WRITE;
/// `ZX_RIGHT_EXECUTE`.
pub const R_EXECUTE: u32 = sys::VMO_RIGHT_EXECUTE;
/// `ZX_RIGHT_RESIZE`.
pub const R_RESIZE: u32 = sys::VMO_RIGHT_RESIZE;
/// `ZX_RIGHT_SAME_RIGHTS`.
pub const SAME_RIGHTS: u32 = sys::VMO_RIGHT_SAME_RIGHTS;
/// The rights of a new VMO handle.
pub const DEFAULT_VMO: u32 = sys::VMO_DEFAULT_VMO_RIGHTS;
/// The rights of a new event handle.
pub const DEFAULT_EVENT: u32 = sys::VMO_DEFAULT_EVENT_RIGHTS;

/// What kind of object a model object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A VMO made by CREATE.
    Root,
    /// A snapshot child: owns its pages.
    Snapshot,
    /// A slice child: a window on its root's pages.
    Slice,
    /// An event.
    Event,
}

/// What the model knows of one page of a page-owning VMO (absent pages are
/// not in the map).
#[derive(Clone, Debug)]
pub enum Page {
    /// Allocated, never written: reads as zeros, not copied by snapshots.
    Committed,
    /// Written: these bytes.
    Data(Box<[u8]>),
    /// May or may not be allocated; unknown bytes.
    Unknown,
    /// Zeros; may or may not be allocated (a clean page a read fault made).
    ZeroMaybe,
}

/// One object (VMO or event) of the model.
#[derive(Debug)]
pub struct Obj {
    /// Its kind.
    pub kind: Kind,
    /// The VMO it was made from (children).
    pub parent: Option<ObjId>,
    /// For a snapshot: the page owner whose snapshot count includes it.
    pub cow_owner: Option<ObjId>,
    /// The object that owns the pages (itself unless a slice).
    pub owner: ObjId,
    /// A slice's offset in its owner (0 otherwise).
    pub base: u64,
    /// The size in bytes (page aligned).
    pub size: u64,
    /// Whether it was made resizable.
    pub resizable: bool,
    /// A VMO of the shared pool: other threads change it.
    pub racy: bool,
    /// For owners: whether `pages` is exact.
    pub content_known: bool,
    /// For owners with known content: the pages.
    pub pages: BTreeMap<u64, Page>,
    /// For owners with unknown content: an upper bound of the pages they
    /// may hold (for the memory budget).
    pub extra_pages: u64,
    /// Live direct children.
    pub children: u32,
    /// Live snapshots of this owner or of its slices.
    pub cow_children: u32,
    /// Handles of this worker to it.
    pub handles: u32,
    /// Live slices whose pages it owns.
    pub slice_refs: u32,
    /// Never dies (shared pool proxies).
    pub pinned: bool,
    /// The koid, once `GET_INFO` told it.
    pub koid: Option<u64>,
    /// The parent's koid (0 for roots), once known.
    pub parent_koid: Option<u64>,
    /// The shared pool slot this object stands for.
    pub pool_slot: Option<usize>,
    /// Made with `VMO_CREATE_DISCARDABLE`.
    pub discardable: bool,
    /// Discardable: its lock count.
    pub lock_count: u32,
    /// Discardable: unlocked after a lock, so the kernel may have discarded it (under memory
    /// pressure, at any time) until it is locked again.
    pub maybe_discarded: bool,
}

/// A live handle of this worker.
#[derive(Clone, Copy, Debug)]
pub struct H {
    /// The raw value.
    pub raw: u32,
    /// The object.
    pub obj: ObjId,
    /// Its rights.
    pub rights: u32,
}

/// One state a VMO may be in while a call runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmoState {
    /// The size.
    pub size: u64,
    /// Whether it is resizable.
    pub resizable: bool,
    /// DECOMMIT is NOT_SUPPORTED: the page owner is a snapshot or has one.
    pub decommit_blocked: bool,
    /// A discardable VMO.
    pub discardable: bool,
    /// Its lock count (discardable VMOs).
    pub lock_count: u32,
    /// It has been discarded (and not locked since).
    pub discarded: bool,
}

/// The page size.
pub fn pg() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| u64::from(vmo::system_get_page_size()))
}

/// `size` rounded up to a page, if that does not overflow.
pub fn page_up(size: u64) -> Option<u64> {
    Some(size.checked_add(pg() - 1)? & !(pg() - 1))
}

/// The module's `round_size`: rounded up, at most `VMO_MAX_SIZE`.
pub fn round_size(size: u64) -> Option<u64> {
    page_up(size).filter(|&r| r <= sys::VMO_MAX_SIZE)
}

/// Zircon's `InRange`.
pub fn in_range(off: u64, len: u64, size: u64) -> bool {
    matches!(off.checked_add(len), Some(end) if end <= size)
}

fn aligned(v: u64) -> bool {
    v % pg() == 0
}

fn has(rights: u32, need: u32) -> bool {
    rights & need == need
}

/// `Rights::reduce`: the rights of a duplicate or replacement.
pub fn reduce(cur: u32, req: u32) -> Option<u32> {
    if req == SAME_RIGHTS {
        Some(cur)
    } else if has(cur, req) {
        Some(req)
    } else {
        None
    }
}

/// `Vmo::child_rights`.
pub fn child_rights(parent: u32, options: u32) -> u32 {
    let mut r = (parent & !R_RESIZE) | sys::VMO_RIGHT_GET_PROPERTY | sys::VMO_RIGHT_SET_PROPERTY;
    if options & sys::VMO_CHILD_RESIZABLE != 0 {
        r |= R_RESIZE;
    }
    // Zircon: NO_WRITE drops WRITE; otherwise a snapshot gets WRITE and loses EXECUTE.
    if options & sys::VMO_CHILD_NO_WRITE != 0 {
        r &= !R_WRITE;
    } else if options & sys::VMO_CHILD_SLICE == 0 {
        r = (r | R_WRITE) & !R_EXECUTE;
    }
    r
}

/// The page range `[start, end)` (bytes) a COMMIT of `[off, off + len)`
/// covers, or `None` when computing it overflows (`OUT_OF_RANGE`).
pub fn commit_span(off: u64, len: u64) -> Option<(u64, u64)> {
    let end = page_up(off.checked_add(len)?)?;
    Some((off & !(pg() - 1), end))
}

/// `OP_RANGE` after the handle checks (`Vmo::op_range`).
pub fn op_status(rights: u32, op: u32, off: u64, len: u64, st: &VmoState) -> i32 {
    let need = |r: u32| if has(rights, r) { OK } else { ACCESS_DENIED };
    match op {
        // PREFETCH: READ, then COMMIT's range checks and rounding (it commits nothing).
        sys::VMO_OP_COMMIT | sys::VMO_OP_PREFETCH => {
            let r = if op == sys::VMO_OP_PREFETCH { R_READ } else { R_WRITE };
            if need(r) != OK {
                return ACCESS_DENIED;
            }
            match commit_span(off, len) {
                Some((start, end)) if start == end && in_range(start, 0, st.size) => OK,
                Some((start, end)) if in_range(start, end - start, st.size) => {
                    if st.discarded {
                        NOT_FOUND
                    } else {
                        OK
                    }
                }
                _ => OUT_OF_RANGE,
            }
        }
        sys::VMO_OP_DECOMMIT => {
            if need(R_WRITE) != OK {
                ACCESS_DENIED
            } else if !in_range(off, len, st.size) {
                OUT_OF_RANGE
            } else if len == 0 {
                OK
            } else if st.decommit_blocked {
                NOT_SUPPORTED
            } else if !aligned(off) || !aligned(len) {
                INVALID_ARGS
            } else {
                OK
            }
        }
        sys::VMO_OP_ZERO => {
            if need(R_WRITE) != OK {
                ACCESS_DENIED
            } else if !in_range(off, len, st.size) {
                OUT_OF_RANGE
            } else {
                OK
            }
        }
        // The fuzzer's VMOs are not discardable (nor pager-backed): the hints succeed
        // before any check, the lock ops are NOT_SUPPORTED after READ-or-WRITE.
        sys::VMO_OP_DONT_NEED | sys::VMO_OP_ALWAYS_NEED => OK,
        // LOCK without a buffer (buffer_size 0): locked, then undone, INVALID_ARGS; see
        // `lock_status` for LOCK with a buffer.
        sys::VMO_OP_LOCK | sys::VMO_OP_UNLOCK | sys::VMO_OP_TRY_LOCK => {
            if let Some(e) = lock_checks(rights, off, len, st) {
                e
            } else if op == sys::VMO_OP_LOCK {
                INVALID_ARGS
            } else if op == sys::VMO_OP_UNLOCK {
                if st.lock_count == 0 { BAD_STATE } else { OK }
            } else if st.discarded {
                UNAVAILABLE
            } else {
                OK
            }
        }
        sys::VMO_OP_CACHE_SYNC
        | sys::VMO_OP_CACHE_CLEAN
        | sys::VMO_OP_CACHE_CLEAN_INVALIDATE
        | sys::VMO_OP_CACHE_INVALIDATE => {
            let r = if op == sys::VMO_OP_CACHE_INVALIDATE { R_WRITE } else { R_READ };
            if need(r) != OK {
                ACCESS_DENIED
            } else if len == 0 {
                INVALID_ARGS
            } else if !in_range(off, len, st.size) {
                OUT_OF_RANGE
            } else {
                OK
            }
        }
        _ => INVALID_ARGS,
    }
}

/// The checks LOCK, TRY_LOCK and UNLOCK share (Zircon's order): READ or WRITE, discardable,
/// the whole VMO; `None` when they pass.
pub fn lock_checks(rights: u32, off: u64, len: u64, st: &VmoState) -> Option<i32> {
    if !has(rights, R_READ) && !has(rights, R_WRITE) {
        Some(ACCESS_DENIED)
    } else if !st.discardable {
        Some(NOT_SUPPORTED)
    } else if !in_range(off, len, st.size) || off != 0 || len != st.size {
        Some(OUT_OF_RANGE)
    } else {
        None
    }
}

/// LOCK with a buffer of `buffer_size` bytes, `buf_ok` if it can be written.
pub fn lock_status(
    rights: u32,
    off: u64,
    len: u64,
    st: &VmoState,
    buffer_size: u64,
    buf_ok: bool,
) -> i32 {
    if let Some(e) = lock_checks(rights, off, len, st) {
        e
    } else if buffer_size < 32 {
        INVALID_ARGS
    } else if !buf_ok {
        EFAULT
    } else {
        OK
    }
}

/// `READ` after the handle checks; `buf_ok`: the buffer takes `len` bytes.
pub fn read_status(rights: u32, off: u64, len: u64, st: &VmoState, buf_ok: bool) -> i32 {
    rw_status(rights, R_READ, off, len, st, buf_ok)
}

/// `WRITE` after the handle checks; `buf_ok`: the source has `len` bytes.
pub fn write_status(rights: u32, off: u64, len: u64, st: &VmoState, buf_ok: bool) -> i32 {
    rw_status(rights, R_WRITE, off, len, st, buf_ok)
}

/// `READ`/`WRITE`: the `needed` right, then the range, then the user buffer.
fn rw_status(rights: u32, needed: u32, off: u64, len: u64, st: &VmoState, buf_ok: bool) -> i32 {
    if !has(rights, needed) {
        ACCESS_DENIED
    } else if !in_range(off, len, st.size) {
        OUT_OF_RANGE
    } else if st.discarded {
        NOT_FOUND
    } else if len > 0 && !buf_ok {
        EFAULT
    } else {
        OK
    }
}

/// `SET_SIZE` after the handle checks.
pub fn set_size_status(rights: u32, size: u64, st: &VmoState) -> i32 {
    if !has(rights, R_WRITE) || (st.resizable && !has(rights, R_RESIZE)) {
        ACCESS_DENIED
    } else if !st.resizable {
        UNAVAILABLE
    } else if round_size(size).is_none() {
        OUT_OF_RANGE
    } else {
        OK
    }
}

/// The checks of `CREATE_CHILD` made before the handle is looked up.
pub fn child_precheck(options: u32, size: u64) -> Option<i32> {
    let nw_rs = sys::VMO_CHILD_NO_WRITE | sys::VMO_CHILD_RESIZABLE;
    if round_size(size).is_none() {
        Some(OUT_OF_RANGE)
    } else if options & nw_rs == nw_rs {
        Some(INVALID_ARGS)
    } else {
        None
    }
}

/// Whether `options` make a slice (else a snapshot), once accepted.
pub fn is_slice_options(options: u32) -> bool {
    options & sys::VMO_CHILD_SLICE != 0
}

/// `CREATE_CHILD` after the handle lookup (rights, then `Vmo::create_child`).
pub fn child_status(rights: u32, options: u32, offset: u64, size: u64, st: &VmoState) -> i32 {
    if !has(rights, R_DUPLICATE | R_READ) {
        return ACCESS_DENIED;
    }
    // Zircon's `CreateChildInternal`: no child of a discardable VMO.
    if st.discardable {
        return NOT_SUPPORTED;
    }
    let size = round_size(size).expect("prechecked");
    let opts = options & !sys::VMO_CHILD_NO_WRITE;
    if opts & sys::VMO_CHILD_SLICE != 0 {
        if opts != sys::VMO_CHILD_SLICE || !aligned(offset) || !in_range(offset, size, st.size) {
            return INVALID_ARGS;
        }
        if st.resizable {
            return NOT_SUPPORTED;
        }
        return OK;
    }
    // Exactly one child type (Zircon strips SNAPSHOT first and finds the
    // other left over), then the offset, then the range.
    let snap = sys::VMO_CHILD_SNAPSHOT | sys::VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE;
    if opts & !(snap | sys::VMO_CHILD_RESIZABLE) != 0
        || (opts & snap).count_ones() != 1
        || !aligned(offset)
    {
        INVALID_ARGS
    } else if offset.checked_add(size).is_none() {
        OUT_OF_RANGE
    } else {
        OK
    }
}

/// The handles and objects of one worker.
#[derive(Default)]
pub struct Model {
    /// Objects by id.
    pub objs: BTreeMap<ObjId, Obj>,
    /// Closed snapshots whose own snapshots live on (they read through to
    /// them): their cow owner and how many of those snapshots live.
    dead_nodes: BTreeMap<ObjId, (Option<ObjId>, u32)>,
    next: ObjId,
    /// Live handles, in creation order.
    pub handles: Vec<H>,
    /// Recently closed handle values (never handed out again).
    pub closed: Vec<u32>,
}

impl Model {
    /// How many closed values are remembered.
    const CLOSED_KEPT: usize = 64;

    fn add_obj(&mut self, mut o: Obj) -> ObjId {
        let id = self.next;
        self.next += 1;
        if o.kind != Kind::Slice {
            o.owner = id;
        }
        self.objs.insert(id, o);
        id
    }

    fn blank(kind: Kind, size: u64, resizable: bool) -> Obj {
        Obj {
            kind,
            parent: None,
            cow_owner: None,
            owner: 0,
            base: 0,
            size,
            resizable,
            racy: false,
            content_known: true,
            pages: BTreeMap::new(),
            extra_pages: 0,
            children: 0,
            cow_children: 0,
            handles: 0,
            slice_refs: 0,
            pinned: false,
            koid: None,
            parent_koid: None,
            pool_slot: None,
            discardable: false,
            lock_count: 0,
            maybe_discarded: false,
        }
    }

    /// A new root VMO of the (rounded) `size`.
    pub fn new_root(&mut self, size: u64, resizable: bool) -> ObjId {
        let mut o = Model::blank(Kind::Root, size, resizable);
        o.parent_koid = Some(0);
        self.add_obj(o)
    }

    /// A new discardable root VMO of the (rounded) `size`: unlocked, never discarded.
    pub fn new_discardable(&mut self, size: u64) -> ObjId {
        let mut o = Model::blank(Kind::Root, size, false);
        o.parent_koid = Some(0);
        o.discardable = true;
        self.add_obj(o)
    }

    /// A LOCK or TRY_LOCK of discardable `id` succeeded.
    pub fn lock(&mut self, id: ObjId) {
        let o = self.objs.get_mut(&id).expect("live");
        o.lock_count += 1;
        o.maybe_discarded = false;
    }

    /// An UNLOCK of discardable `id` succeeded: at 0 the kernel may discard it from now on,
    /// so its pages are no longer known (a LOCK that finds it discarded empties it).
    pub fn unlock(&mut self, id: ObjId) {
        let o = self.objs.get_mut(&id).expect("live");
        o.lock_count -= 1;
        if o.lock_count == 0 {
            o.maybe_discarded = true;
            if o.content_known {
                o.extra_pages = o.pages.len() as u64;
                o.content_known = false;
            }
        }
    }

    /// A new event.
    pub fn new_event(&mut self) -> ObjId {
        let mut o = Model::blank(Kind::Event, 0, false);
        o.parent_koid = Some(0);
        self.add_obj(o)
    }

    /// The stand-in for shared pool slot `slot`: racy and never dying.
    pub fn new_proxy(&mut self, slot: usize, size: u64, resizable: bool) -> ObjId {
        let mut o = Model::blank(Kind::Root, size, resizable);
        o.racy = true;
        o.content_known = false;
        o.pinned = true;
        o.pool_slot = Some(slot);
        o.parent_koid = Some(0);
        self.add_obj(o)
    }

    /// The object of `id`.
    pub fn obj(&self, id: ObjId) -> &Obj {
        &self.objs[&id]
    }

    /// The page owner of `id` and the offset of `id`'s window in it.
    pub fn window(&self, id: ObjId) -> (ObjId, u64) {
        let o = self.obj(id);
        (o.owner, o.base)
    }

    /// Whether `id`'s pages change behind this worker's back.
    pub fn is_racy(&self, id: ObjId) -> bool {
        self.obj(self.obj(id).owner).racy
    }

    /// Whether the pages behind `id` are known exactly.
    pub fn content_known(&self, id: ObjId) -> bool {
        let owner = self.obj(self.obj(id).owner);
        owner.content_known && !owner.racy
    }

    /// Adds a live handle.
    pub fn add_handle(&mut self, raw: u32, obj: ObjId, rights: u32) {
        self.objs.get_mut(&obj).expect("live object").handles += 1;
        self.handles.push(H { raw, obj, rights });
    }

    /// Removes live handle `i` (it was closed) and lets its object die if
    /// nothing holds it any more.
    pub fn remove_handle(&mut self, i: usize) -> H {
        let h = self.handles.remove(i);
        self.closed.push(h.raw);
        if self.closed.len() > Model::CLOSED_KEPT {
            self.closed.remove(0);
        }
        self.objs.get_mut(&h.obj).expect("live object").handles -= 1;
        self.maybe_die(h.obj);
        h
    }

    /// Drops every handle and object (after a mismatch: the caller closed
    /// the handles).
    pub fn forget_all(&mut self) {
        let closed = std::mem::take(&mut self.closed);
        let pinned: Vec<(ObjId, Obj)> = std::mem::take(&mut self.objs)
            .into_iter()
            .filter(|(_, o)| o.pinned)
            .map(|(id, mut o)| {
                o.handles = 0;
                o.children = 0;
                o.cow_children = 0;
                o.slice_refs = 0;
                (id, o)
            })
            .collect();
        *self = Model {
            objs: pinned.into_iter().collect(),
            dead_nodes: BTreeMap::new(),
            next: self.next,
            handles: Vec::new(),
            closed,
        };
    }

    /// One snapshot of `owner` (an object or a closed snapshot kept for its
    /// own snapshots) is gone for good.
    fn drop_cow_child(&mut self, mut owner: Option<ObjId>) {
        while let Some(c) = owner {
            if let Some(o) = self.objs.get_mut(&c) {
                o.cow_children -= 1;
                return;
            }
            let Some(d) = self.dead_nodes.get_mut(&c) else {
                return;
            };
            d.1 -= 1;
            if d.1 > 0 {
                return;
            }
            owner = self.dead_nodes.remove(&c).and_then(|d| d.0);
        }
    }

    fn maybe_die(&mut self, id: ObjId) {
        let o = self.obj(id);
        if o.handles > 0 || o.slice_refs > 0 || o.pinned {
            return;
        }
        let o = self.objs.remove(&id).expect("live object");
        if let Some(p) = o.parent.and_then(|p| self.objs.get_mut(&p)) {
            p.children -= 1;
        }
        if o.cow_children > 0 {
            // Its snapshots still read through it: it stays in the family.
            self.dead_nodes.insert(id, (o.cow_owner, o.cow_children));
        } else {
            self.drop_cow_child(o.cow_owner);
        }
        if o.kind == Kind::Slice {
            self.objs.get_mut(&o.owner).expect("a slice's owner lives").slice_refs -= 1;
            self.maybe_die(o.owner);
        }
    }

    /// A child of `parent` made by `CREATE_CHILD` with `options` (accepted),
    /// `offset` and the rounded `size`; `max_parent` is the largest size the
    /// parent may have had (shared VMOs change size).
    pub fn new_child(
        &mut self,
        parent: ObjId,
        options: u32,
        offset: u64,
        size: u64,
        max_parent: u64,
    ) -> ObjId {
        let (owner, base) = self.window(parent);
        let parent_koid = self.obj(parent).koid;
        let parent_size = self.obj(parent).size;
        let id = if is_slice_options(options) {
            let mut o = Model::blank(Kind::Slice, size, false);
            o.owner = owner;
            o.base = base + offset;
            self.objs.get_mut(&owner).expect("owner").slice_refs += 1;
            self.add_obj(o)
        } else {
            let resizable = options & sys::VMO_CHILD_RESIZABLE != 0;
            let mut o = Model::blank(Kind::Snapshot, size, resizable);
            o.cow_owner = Some(owner);
            let copy_end = offset.saturating_add(size).min(parent_size);
            if self.content_known(parent) {
                if offset < copy_end {
                    let first = (base + offset) / pg();
                    let last = (base + copy_end) / pg();
                    let src = &self.obj(owner).pages;
                    for (&p, page) in src.range(first..last) {
                        let copy = match page {
                            Page::Committed => continue,
                            Page::Data(d) => Page::Data(d.clone()),
                            Page::Unknown => Page::Unknown,
                            // Copied if reclaim has not dropped it: zeros either way.
                            Page::ZeroMaybe => Page::ZeroMaybe,
                        };
                        o.pages.insert(p - first, copy);
                    }
                }
            } else {
                o.content_known = false;
                o.extra_pages = self.snapshot_cost(parent, offset, size, max_parent);
            }
            self.objs.get_mut(&owner).expect("owner").cow_children += 1;
            self.add_obj(o)
        };
        let o = self.objs.get_mut(&id).expect("new");
        o.parent = Some(parent);
        o.parent_koid = parent_koid;
        self.objs.get_mut(&parent).expect("parent").children += 1;
        id
    }

    /// The pages a snapshot of `[offset, offset + size)` of `parent` would
    /// copy (an upper bound where the content is not known; `max_parent` is
    /// the largest size the parent may have).
    pub fn snapshot_cost(&self, parent: ObjId, offset: u64, size: u64, max_parent: u64) -> u64 {
        let (owner, base) = self.window(parent);
        let o = self.obj(parent);
        if !self.content_known(parent) {
            let window = size.min(max_parent.saturating_sub(offset)) / pg();
            let held = self.obj(owner);
            return if held.racy { window } else { window.min(held.extra_pages) };
        }
        let copy_end = offset.saturating_add(size).min(o.size);
        if offset >= copy_end {
            return 0;
        }
        let (first, last) = ((base + offset) / pg(), (base + copy_end) / pg());
        self.obj(owner)
            .pages
            .range(first..last)
            .filter(|(_, p)| !matches!(p, Page::Committed))
            .count() as u64
    }

    /// The states `id` may be in: one, unless it is racy. `pool_sizes` are
    /// the sizes a shared VMO may have had.
    pub fn states(&self, id: ObjId, pool_sizes: &[u64]) -> Vec<VmoState> {
        let o = self.obj(id);
        let owner = self.obj(o.owner);
        let sizes: Vec<u64> =
            if o.pool_slot.is_some() { pool_sizes.to_vec() } else { vec![o.size] };
        let blocked: &[bool] = if owner.kind == Kind::Snapshot {
            &[true]
        } else if owner.racy {
            &[false, true]
        } else if owner.cow_children > 0 {
            &[true]
        } else {
            &[false]
        };
        let mut out = Vec::new();
        for &size in &sizes {
            for &b in blocked {
                // A discard can happen at any time while a discardable VMO is unlocked
                // after a lock: both outcomes are possible.
                let discarded: &[bool] =
                    if owner.maybe_discarded { &[false, true] } else { &[false] };
                for &d in discarded {
                    out.push(VmoState {
                        size,
                        resizable: o.resizable,
                        decommit_blocked: b,
                        discardable: owner.discardable,
                        lock_count: owner.lock_count,
                        discarded: d,
                    });
                }
            }
        }
        out
    }

    /// Pages this worker's VMOs may hold (the memory budget).
    pub fn budget_pages(&self) -> u64 {
        self.objs
            .values()
            .filter(|o| matches!(o.kind, Kind::Root | Kind::Snapshot) && !o.racy)
            .map(|o| if o.content_known { o.pages.len() as u64 } else { o.extra_pages })
            .sum()
    }

    /// The owner with the most pages (to free memory), if any.
    pub fn fattest_owner(&self) -> Option<ObjId> {
        self.objs
            .iter()
            .filter(|(_, o)| matches!(o.kind, Kind::Root | Kind::Snapshot) && !o.racy)
            .max_by_key(|(_, o)| if o.content_known { o.pages.len() as u64 } else { o.extra_pages })
            .map(|(&id, _)| id)
    }

    /// `[lo, hi]`: the committed bytes `GET_INFO` may report for owner `id`
    /// (`None`: unknown content).
    pub fn committed_bounds(&self, id: ObjId) -> Option<(u64, u64)> {
        let o = self.obj(id);
        if !o.content_known || o.racy {
            return None;
        }
        if o.kind == Kind::Snapshot {
            // It holds the pages it copied or was given, not the model's eager copy.
            return Some((0, o.size));
        }
        let unknown =
            o.pages.values().filter(|p| matches!(p, Page::Unknown | Page::ZeroMaybe)).count()
                as u64;
        let lo = o.pages.len() as u64 - unknown;
        Some((lo * pg(), (lo + unknown) * pg()))
    }

    fn owner_mut(&mut self, id: ObjId) -> (&mut Obj, u64) {
        let (owner, base) = self.window(id);
        (self.objs.get_mut(&owner).expect("owner"), base)
    }

    /// A COMMIT of `[off, off + len)` through `id` succeeded.
    pub fn commit(&mut self, id: ObjId, off: u64, len: u64) {
        let (start, end) = commit_span(off, len).expect("accepted");
        let (o, base) = self.owner_mut(id);
        if !o.content_known {
            o.extra_pages += (end - start) / pg();
            return;
        }
        for p in (base + start) / pg()..(base + end) / pg() {
            match o.pages.get_mut(&p) {
                // shmem_fallocate on a folio an earlier COMMIT allocated
                // ("SGP_FALLOC on a folio fallocated earlier must initialize
                // it now"): cleared and marked uptodate, so snapshots copy it.
                Some(page @ Page::Committed) => *page = Page::Data(vec![0; pg() as usize].into()),
                // Allocated now either way, as a clean page kept or a fresh !uptodate one
                // (which a snapshot would not copy): only the zeros are known.
                Some(page @ Page::ZeroMaybe) => *page = Page::Unknown,
                Some(_) => {}
                None => {
                    o.pages.insert(p, Page::Committed);
                }
            }
        }
    }

    /// A ZERO or DECOMMIT of `[off, off + len)` through `id` succeeded:
    /// whole pages go, partial pages that hold data are zeroed in place.
    pub fn punch(&mut self, id: ObjId, off: u64, len: u64) {
        let (o, base) = self.owner_mut(id);
        if !o.content_known || len == 0 {
            return;
        }
        let (a, b) = (base + off, base + off + len);
        let ps = pg();
        let (first, last) = (a.div_ceil(ps), b / ps);
        let whole: Vec<u64> = if first < last {
            o.pages.range(first..last).map(|(&p, _)| p).collect()
        } else {
            Vec::new()
        };
        for p in whole {
            o.pages.remove(&p);
        }
        for p in [a / ps, (b - 1) / ps] {
            let (s, e) = (a.max(p * ps), b.min((p + 1) * ps));
            if e - s < ps {
                if let Some(Page::Data(d)) = o.pages.get_mut(&p) {
                    d[(s - p * ps) as usize..(e - p * ps) as usize].fill(0);
                }
            }
        }
    }

    /// A WRITE of `data` at `off` through `id` succeeded.
    pub fn write(&mut self, id: ObjId, off: u64, data: &[u8]) {
        let (o, base) = self.owner_mut(id);
        let ps = pg();
        if data.is_empty() {
            return;
        }
        if !o.content_known {
            o.extra_pages += (data.len() as u64).div_ceil(ps) + 1;
            return;
        }
        let (a, b) = (base + off, base + off + data.len() as u64);
        for p in a / ps..b.div_ceil(ps) {
            let (s, e) = (a.max(p * ps), b.min((p + 1) * ps));
            let src = &data[(s - a) as usize..(e - a) as usize];
            let page = o.pages.entry(p).or_insert(Page::Committed);
            match page {
                Page::Unknown => {}
                Page::Committed | Page::ZeroMaybe => {
                    let mut d = vec![0u8; ps as usize].into_boxed_slice();
                    d[(s - p * ps) as usize..(e - p * ps) as usize].copy_from_slice(src);
                    *page = Page::Data(d);
                }
                Page::Data(d) => {
                    d[(s - p * ps) as usize..(e - p * ps) as usize].copy_from_slice(src)
                }
            }
        }
    }

    /// A fault through a mapping of `id` on VMO page `vmo_page` (a write fault with
    /// `write`): a hole gets a cleared page, which a write dirties and a read leaves clean
    /// (droppable: [`Page::ZeroMaybe`]); a page COMMIT allocated (dirty, not uptodate) is
    /// cleared and kept: data (zeros).
    pub fn fault_in(&mut self, id: ObjId, vmo_page: u64, write: bool) {
        let (o, base) = self.owner_mut(id);
        if !o.content_known {
            o.extra_pages += 1;
            return;
        }
        let p = base / pg() + vmo_page;
        let zeros = || Page::Data(vec![0; pg() as usize].into_boxed_slice());
        match o.pages.get(&p) {
            None if !write => {
                o.pages.insert(p, Page::ZeroMaybe);
            }
            None | Some(Page::Committed) => {
                o.pages.insert(p, zeros());
            }
            Some(Page::ZeroMaybe) if write => {
                o.pages.insert(p, zeros());
            }
            Some(_) => {}
        }
    }

    /// A WRITE through `id` faulted: the pages of `[off, off + len)` (within
    /// the VMO) may have been allocated and partly written.
    pub fn write_unknown(&mut self, id: ObjId, off: u64, len: u64) {
        let size = self.obj(id).size;
        let (o, base) = self.owner_mut(id);
        let ps = pg();
        let end = off.saturating_add(len).min(size);
        if !o.content_known {
            o.extra_pages += end.saturating_sub(off).div_ceil(ps) + 1;
            return;
        }
        if off >= end {
            return;
        }
        for p in (base + off) / ps..(base + end).div_ceil(ps) {
            o.pages.insert(p, Page::Unknown);
        }
    }

    /// A SET_SIZE of owner `id` to the rounded `size` succeeded.
    pub fn set_size(&mut self, id: ObjId, size: u64) {
        let o = self.objs.get_mut(&id).expect("live");
        o.size = size;
        let first_gone = size / pg();
        let gone: Vec<u64> = o.pages.range(first_gone..).map(|(&p, _)| p).collect();
        for p in gone {
            o.pages.remove(&p);
        }
    }

    /// The byte at `off` of `id` as the model has it (`None`: unknown).
    pub fn byte(&self, id: ObjId, off: u64) -> Option<u8> {
        let (owner, base) = self.window(id);
        let ps = pg();
        let pos = base + off;
        match self.obj(owner).pages.get(&(pos / ps)) {
            None | Some(Page::Committed | Page::ZeroMaybe) => Some(0),
            Some(Page::Data(d)) => Some(d[(pos % ps) as usize]),
            Some(Page::Unknown) => None,
        }
    }

    /// Compares what a READ of `data.len()` bytes at `off` through `id`
    /// returned with the model; describes the first difference.
    pub fn check_read(&self, id: ObjId, off: u64, data: &[u8]) -> Option<String> {
        let (owner, base) = self.window(id);
        let o = self.obj(owner);
        let ps = pg();
        for (i, &got) in data.iter().enumerate() {
            let pos = base + off + i as u64;
            let want = match o.pages.get(&(pos / ps)) {
                None | Some(Page::Committed | Page::ZeroMaybe) => 0,
                Some(Page::Data(d)) => d[(pos % ps) as usize],
                Some(Page::Unknown) => continue,
            };
            if want != got {
                return Some(format!(
                    "byte {:#x} of the VMO (owner page {:#x}) is {got:#04x}, model {want:#04x}",
                    off + i as u64,
                    pos / ps
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(size: u64) -> VmoState {
        VmoState {
            size,
            resizable: false,
            decommit_blocked: false,
            discardable: false,
            lock_count: 0,
            discarded: false,
        }
    }

    #[test]
    fn op_range_order_follows_the_module() {
        let p = pg();
        let all = DEFAULT_VMO;
        assert_eq!(op_status(all, sys::VMO_OP_COMMIT, 1, 0, &st(p)), OK);
        assert_eq!(op_status(all, sys::VMO_OP_COMMIT, p + 1, 0, &st(p)), OUT_OF_RANGE);
        assert_eq!(op_status(all, sys::VMO_OP_COMMIT, u64::MAX - 1, 1, &st(p)), OUT_OF_RANGE);
        assert_eq!(op_status(all, sys::VMO_OP_DECOMMIT, 1, 0, &st(p)), OK);
        assert_eq!(op_status(all, sys::VMO_OP_DECOMMIT, 1, 1, &st(p)), INVALID_ARGS);
        let blocked = VmoState { decommit_blocked: true, ..st(p) };
        assert_eq!(op_status(all, sys::VMO_OP_DECOMMIT, 1, 1, &blocked), NOT_SUPPORTED);
        assert_eq!(op_status(all, sys::VMO_OP_DECOMMIT, 1, p, &blocked), OUT_OF_RANGE);
        assert_eq!(op_status(all, sys::VMO_OP_CACHE_CLEAN, u64::MAX, 0, &st(p)), INVALID_ARGS);
        assert_eq!(op_status(0, 0xffff_ffff, 0, 0, &st(p)), INVALID_ARGS);
        assert_eq!(op_status(R_READ, sys::VMO_OP_CACHE_INVALIDATE, 0, 1, &st(p)), ACCESS_DENIED);
        assert_eq!(op_status(sys::VMO_RIGHT_MAP, sys::VMO_OP_LOCK, 0, 1, &st(p)), ACCESS_DENIED);
        assert_eq!(op_status(R_WRITE, sys::VMO_OP_UNLOCK, 0, 1, &st(p)), NOT_SUPPORTED);
        assert_eq!(op_status(R_READ, sys::VMO_OP_TRY_LOCK, 0, 1, &st(p)), NOT_SUPPORTED);
        assert_eq!(op_status(0, sys::VMO_OP_DONT_NEED, u64::MAX, 9, &st(p)), OK);
        assert_eq!(op_status(R_WRITE, sys::VMO_OP_PREFETCH, 0, 1, &st(p)), ACCESS_DENIED);
        assert_eq!(op_status(R_READ, sys::VMO_OP_PREFETCH, 0, p + 1, &st(p)), OUT_OF_RANGE);
        assert_eq!(op_status(R_READ, sys::VMO_OP_PREFETCH, 1, 2, &st(p)), OK);
    }

    #[test]
    fn children() {
        let p = pg();
        let all = DEFAULT_VMO;
        assert_eq!(
            child_precheck(sys::VMO_CHILD_NO_WRITE | sys::VMO_CHILD_RESIZABLE, p),
            Some(INVALID_ARGS)
        );
        assert_eq!(child_precheck(0, u64::MAX), Some(OUT_OF_RANGE));
        assert_eq!(child_status(all, sys::VMO_CHILD_SLICE, 0, p, &st(p)), OK);
        assert_eq!(child_status(all, sys::VMO_CHILD_SLICE, 0, 2 * p, &st(p)), INVALID_ARGS);
        let rs = VmoState { resizable: true, ..st(p) };
        assert_eq!(child_status(all, sys::VMO_CHILD_SLICE, 0, p, &rs), NOT_SUPPORTED);
        assert_eq!(child_status(all, 0, 0, p, &st(p)), INVALID_ARGS);
        assert_eq!(child_status(all, sys::VMO_CHILD_SNAPSHOT, 1 << 40, p, &st(p)), OK);
        assert_eq!(
            child_status(all, sys::VMO_CHILD_SNAPSHOT, u64::MAX - p + 1, p, &st(p)),
            OUT_OF_RANGE
        );
        assert_eq!(child_status(R_READ, sys::VMO_CHILD_SNAPSHOT, 0, p, &st(p)), ACCESS_DENIED);
        let r = child_rights(R_READ | R_DUPLICATE | R_EXECUTE, sys::VMO_CHILD_SNAPSHOT);
        assert_eq!(r & (R_WRITE | R_EXECUTE), R_WRITE);
        let frozen = sys::VMO_CHILD_SNAPSHOT | sys::VMO_CHILD_NO_WRITE;
        let r = child_rights(R_READ | R_DUPLICATE | R_EXECUTE, frozen);
        assert_eq!(r & (R_WRITE | R_EXECUTE), R_EXECUTE);
    }

    #[test]
    fn pages_follow_shmem() {
        let p = pg();
        let mut m = Model::default();
        let v = m.new_root(4 * p, false);
        m.commit(v, 1, 0);
        m.write(v, p + 10, &[1, 2, 3]);
        assert_eq!(m.committed_bounds(v), Some((2 * p, 2 * p)));
        let s = m.new_child(v, sys::VMO_CHILD_SNAPSHOT, 0, 4 * p, 4 * p);
        // A snapshot's committed bytes are only bounded (the module copies lazily).
        assert_eq!(m.committed_bounds(s), Some((0, 4 * p)));
        assert_eq!(m.check_read(s, p + 10, &[1, 2, 3]), None);
        assert!(m.check_read(s, p + 10, &[1, 2, 4]).is_some());
        m.punch(v, p + 11, 1);
        assert_eq!(m.check_read(v, p + 10, &[1, 0, 3]), None);
        m.punch(v, 0, 2 * p);
        assert_eq!(m.committed_bounds(v), Some((0, 0)));
        let slice = m.new_child(v, sys::VMO_CHILD_SLICE, 2 * p, p, 4 * p);
        m.write(slice, 0, &[9]);
        assert_eq!(m.check_read(v, 2 * p, &[9]), None);
        assert_eq!(m.obj(v).children, 2);
        assert_eq!(m.obj(v).cow_children, 1);
        m.add_handle(7, s, DEFAULT_VMO);
        m.remove_handle(0);
        assert_eq!(m.obj(v).cow_children, 0);
        assert_eq!(m.obj(v).children, 1);
    }

    #[test]
    fn a_closed_snapshot_blocks_decommit_while_its_snapshots_live() {
        let p = pg();
        let mut m = Model::default();
        let v = m.new_root(4 * p, false);
        m.add_handle(1, v, DEFAULT_VMO);
        let s = m.new_child(v, sys::VMO_CHILD_SNAPSHOT, 0, 4 * p, 4 * p);
        m.add_handle(2, s, DEFAULT_VMO);
        let g = m.new_child(s, sys::VMO_CHILD_SNAPSHOT, 0, 4 * p, 4 * p);
        m.add_handle(3, g, DEFAULT_VMO);
        m.remove_handle(1); // s
        assert_eq!(m.obj(v).cow_children, 1, "s's snapshot keeps s in v's family");
        assert!(m.states(v, &[]).iter().all(|st| st.decommit_blocked));
        m.remove_handle(1); // g
        assert_eq!(m.obj(v).cow_children, 0);
        assert!(m.states(v, &[]).iter().all(|st| !st.decommit_blocked));
    }
}
