// SPDX-License-Identifier: GPL-2.0

//! The VMO object: its pages, its children, and `zx_vmo_op_range` with Zircon's check order.
//!
//! A VMO that owns pages (a root VMO or a snapshot child) owns one shmem file; a slice is a
//! window on the pages of the VMO that owns them (its "root"; slices of slices collapse to
//! the root). The check order of every operation follows Zircon's `VmObjectDispatcher` and
//! `VmObjectPaged` (and the `zx_vmo_op_range` reference page): the handle's rights are checked by
//! [`Vmo::op_range`] first, then each op validates its range its own way.
//!
//! A pager-backed VMO (`pager.rs`) owns a shmem file too, but its absent pages are asked of
//! its pager instead of being allocated: COMMIT, read, write, partial-page ZERO and faults
//! call [`PageSource::populate`] first. It may be resizable (`ZX_VMO_RESIZABLE` at
//! `zx_pager_create_vmo`): growing adds absent pages, which the pager supplies on demand;
//! shrinking frees the pages past the end and ends the requests past it (see
//! [`PageSource::resize`]).
//!
//! Lock order (the numbered list at the top of `pager.rs`): a handle table's lock (device.rs)
//! is never held while a VMO method runs. `resize_lock` (resizable VMOs only) is the outermost
//! lock: no wait for the pager's answer to a request for this VMO's pages happens under it. A
//! pager's lock is taken only by the pager code.

use crate::{
    cache::{self, CacheOp, CacheStats},
    cow::{self, Node},
    dirty::Spare,
    discard,
    object::{new_koid, PAGE_SIZE},
    pager::{Need, PageSource, Pager},
    rights::Rights,
    shmem::ShmemFile,
    status::{Status, ZxResult},
    uapi,
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, Mutex,
    },
};

fn page_round_up(v: u64) -> Option<u64> {
    Some(v.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

fn page_round_down(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

fn is_page_aligned(v: u64) -> bool {
    v & (PAGE_SIZE - 1) == 0
}

/// Zircon's `InRange`: `[offset, offset + len)` lies inside `[0, size)`, without overflow.
/// A copy between the user buffer `buf` and a VMO that must not fault its buffer in under the
/// locks it holds (see [`Vmo::pager_copy`]): `copy(done)` copies on from byte `done` and returns
/// `None` when it reached the end, or the bytes it copied before the buffer would fault and how
/// many bytes from there to fault in, which happens here, with no lock held (for a copy into the
/// buffer if `into_user`), before the copy goes on. A buffer that faults in but still cannot be
/// copied (9 times at the same place) is `EFAULT`, as in `cow.rs`.
fn copy_resuming(
    buf: UserPtr,
    into_user: bool,
    mut copy: impl FnMut(usize) -> ZxResult<Option<(usize, usize)>>,
) -> ZxResult {
    let mut done = 0usize;
    let mut faults = 0u32;
    while let Some((copied, n)) = copy(done)? {
        faults = if copied == 0 { faults + 1 } else { 1 };
        done += copied;
        if faults > 8 || !cow::fault_in_user(buf.wrapping_byte_add(done), n, into_user) {
            return Err(Status::Kernel(EFAULT));
        }
    }
    Ok(())
}

fn in_range(offset: u64, len: u64, size: u64) -> bool {
    matches!(offset.checked_add(len), Some(end) if end <= size)
}

/// Zircon's `RoundSize`: the size rounded up to a page; `OUT_OF_RANGE` on overflow or past
/// `VMO_MAX_SIZE`.
pub(crate) fn round_size(size: u64) -> ZxResult<u64> {
    match page_round_up(size) {
        Some(r) if r <= uapi::VMO_MAX_SIZE => Ok(r),
        _ => Err(Status::OutOfRange),
    }
}

/// The node of a VMO that owns pages; tells the node when the VMO goes (its children may
/// keep it, see `cow.rs`).
struct OwnNode(Arc<Node>);

impl Drop for OwnNode {
    fn drop(&mut self) {
        self.0.mark_closed();
    }
}

/// Where a VMO's pages are.
enum Pages {
    /// The VMO owns pages: a node of a copy-on-write family (`cow.rs`; a root VMO or a
    /// snapshot).
    Own(OwnNode),
    /// A window at `offset` on the pages of `root`, which owns its pages.
    Slice { root: Arc<Vmo>, offset: u64 },
}

/// How a child relates to its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChildKind {
    Slice,
    Snapshot,
}

/// The part of a VMO that its children point to: its id and its child counts.
///
/// Children hold these, not their parent VMO, so a parent's pages are freed when its last
/// handle goes even while children live, and dropping the last of a long chain of children
/// frees one VMO, not the whole chain recursively (which could overflow the kernel stack).
struct Links {
    koid: u64,
    /// Live direct children (slices and snapshots).
    children: Atomic<u32>,
}

/// A child's ties to its parent.
struct ParentLink {
    kind: ChildKind,
    /// The parent's links: counts this child in `children`.
    parent: Arc<Links>,
}

impl ParentLink {
    /// Counts a new child of `parent`; the count is dropped with the link.
    fn new(parent: &Vmo, kind: ChildKind) -> Self {
        let link = ParentLink {
            kind,
            parent: parent.links.clone(),
        };
        link.parent.children.fetch_add(1, Relaxed);
        link
    }
}

impl Drop for ParentLink {
    fn drop(&mut self) {
        self.parent.children.fetch_sub(1, Relaxed);
    }
}

/// A virtual memory object.
///
/// # Invariants
///
/// - If `pages` is [`Pages::Slice`], `root.pages` is [`Pages::Own`] and the window
///   `[offset, offset + size)` lies inside `root`, which is not resizable.
/// - `size` is page aligned and at most `VMO_MAX_SIZE`; for a VMO that owns pages it equals
///   the shmem file's size whenever `resize_lock` is not held.
/// - `parent` is set exactly for children (see [`ParentLink`] for the counts it keeps).
#[pin_data]
pub(crate) struct Vmo {
    links: Arc<Links>,
    pages: Pages,
    parent: Option<ParentLink>,
    resizable: bool,
    size: Atomic<u64>,
    /// The lock and discard state of a discardable VMO (`discard.rs`).
    discard: Option<discard::Link>,
    /// Serialises `set_size` with the operations whose range check must hold while they run
    /// (COMMIT, DECOMMIT, ZERO, write; and for a pager-backed VMO the copy of a read or write,
    /// once its pages are present). Taken only for resizable VMOs.
    #[pin]
    resize_lock: Mutex<()>,
}

/// What `get_info` reports of a VMO.
pub(crate) struct VmoInfo {
    pub(crate) parent_koid: u64,
    pub(crate) size: u64,
    pub(crate) committed_bytes: u64,
    pub(crate) flags: u32,
    pub(crate) num_children: u32,
}

/// What a fault on a page of a VMO mapping comes to ([`Vmo::fault`]).
pub(crate) enum FaultOutcome<M> {
    /// The page was mapped as shmem maps it (or mm failed to): the answer of the `map` given.
    Mapped(M),
    /// A fatal fault: outside the window, a discarded VMO, a failed request for the page, or
    /// making the page the VMO's own failed (no memory, say: see `vmofd.rs`'s `FAULT_FAILED`).
    Sigbus,
    /// The pager must act first: the fault waits without the fault lock, then is retried.
    Wait(FaultWait),
}

/// A fault's wait for the pager of the page ([`Vmo::fault`]); it holds the page source, which
/// outlives the mapping the fault came through.
pub(crate) struct FaultWait {
    source: Arc<PageSource>,
    need: Need,
    pgoff: u64,
}

impl FaultWait {
    /// Waits until the pager has acted on the page (see [`PageSource::fault_wait`]):
    /// interruptibly, or only killably (`killable`) for a fault from kernel mode; a
    /// `sequential` mapping reads ahead.
    pub(crate) fn wait(self, killable: bool, sequential: bool) {
        self.source
            .fault_wait(self.need, self.pgoff, killable, sequential);
    }
}

/// What `page_mkwrite` is to do with the page (see [`Vmo::prepare_write`]).
pub(crate) enum Mkwrite {
    /// The page may become writable; its folio is locked.
    Locked,
    /// Retry the fault (the page left the file, or a writeback began meanwhile).
    Retry,
    /// A clean page of a `TRAP_DIRTY` VMO: the fault must wait for the pager.
    NeedsDirty,
}

impl Vmo {
    fn new(
        koid: u64,
        pages: Pages,
        size: u64,
        resizable: bool,
        parent: Option<ParentLink>,
    ) -> ZxResult<Arc<Vmo>> {
        Self::new_with(koid, pages, size, resizable, parent, None)
    }

    /// [`Vmo::new`] with the discard state of a discardable VMO.
    fn new_with(
        koid: u64,
        pages: Pages,
        size: u64,
        resizable: bool,
        parent: Option<ParentLink>,
        discard: Option<discard::Link>,
    ) -> ZxResult<Arc<Vmo>> {
        let links = Arc::new(
            Links {
                koid,
                children: Atomic::new(0),
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        Arc::pin_init(
            try_pin_init!(Vmo {
                links,
                pages,
                parent,
                resizable,
                size: Atomic::new(size),
                discard,
                resize_lock <- new_mutex!(()),
            }? Error),
            GFP_KERNEL_ACCOUNT,
        )
        .map_err(|_| Status::NoMemory)
    }

    /// `zx_vmo_create`: a VMO of `size` bytes (rounded up to a page) with nothing committed.
    /// With `VMO_CREATE_DISCARDABLE` (not with `RESIZABLE`: `INVALID_ARGS`, Zircon's
    /// `VmObjectPaged::Create`) the VMO is discardable (`discard.rs`).
    pub(crate) fn create(size: u64, options: u32) -> ZxResult<Arc<Vmo>> {
        let size = round_size(size)?;
        let (resizable, discardable) = (
            options & uapi::VMO_CREATE_RESIZABLE != 0,
            options & uapi::VMO_CREATE_DISCARDABLE != 0,
        );
        if options & !(uapi::VMO_CREATE_RESIZABLE | uapi::VMO_CREATE_DISCARDABLE) != 0
            || (resizable && discardable)
        {
            return Err(Status::InvalidArgs);
        }
        let koid = new_koid();
        let file = ShmemFile::new(size, koid).map_err(Status::from_mm)?;
        let discard = if discardable {
            Some(discard::Link::new(file.try_clone(), size)?)
        } else {
            None
        };
        let node = Node::new_root(koid, file, None)?;
        Vmo::new_with(
            koid,
            Pages::Own(OwnNode(node)),
            size,
            resizable,
            None,
            discard,
        )
    }

    /// `zx_pager_create_vmo` after the handle checks: a VMO of `size` bytes whose pages
    /// `pager` supplies, named `key` in its packets. `options` may be `VMO_CREATE_RESIZABLE`
    /// (Zircon's `sys_pager_create_vmo` passes its VMO flags to
    /// `VmObjectDispatcher::parse_create_syscall_flags`: the size is checked first, then the
    /// flags); `ZX_VMO_TRAP_DIRTY` makes the first write to a clean page ask the pager (see
    /// `pager.rs`).
    pub(crate) fn create_pager_backed(
        pager: &Pager,
        options: u32,
        key: u64,
        size: u64,
    ) -> ZxResult<Arc<Vmo>> {
        let size = round_size(size)?;
        if options & !(uapi::VMO_CREATE_RESIZABLE | uapi::VMO_CREATE_TRAP_DIRTY) != 0 {
            return Err(Status::InvalidArgs);
        }
        let koid = new_koid();
        let file = ShmemFile::new(size, koid).map_err(Status::from_mm)?;
        let trap_dirty = options & uapi::VMO_CREATE_TRAP_DIRTY != 0;
        let source = pager.attach(koid, key, file.try_clone(), size, trap_dirty)?;
        let node = match Node::new_root(koid, file, Some(source.clone())) {
            Ok(node) => node,
            Err(e) => {
                source.detach_only();
                return Err(e);
            }
        };
        // Dropping the node detaches the source.
        Vmo::new(
            koid,
            Pages::Own(OwnNode(node)),
            size,
            options & uapi::VMO_CREATE_RESIZABLE != 0,
            None,
        )
    }

    /// The checks of `zx_vmo_create_child` that Zircon makes before it looks the parent handle
    /// up. Returns the rounded size.
    pub(crate) fn check_child_args(options: u32, size: u64) -> ZxResult<u64> {
        let size = round_size(size)?;
        let no_write_resizable = uapi::VMO_CHILD_NO_WRITE | uapi::VMO_CHILD_RESIZABLE;
        if options & no_write_resizable == no_write_resizable {
            return Err(Status::InvalidArgs);
        }
        Ok(size)
    }

    /// The rights of a child created with `options` through a handle with `parent` rights.
    pub(crate) fn child_rights(parent: Rights, options: u32) -> Rights {
        let mut r = parent
            .without(Rights::RESIZE)
            .with(Rights::GET_PROPERTY)
            .with(Rights::SET_PROPERTY);
        if options & uapi::VMO_CHILD_RESIZABLE != 0 {
            r = r.with(Rights::RESIZE);
        }
        // Zircon's `sys_vmo_create_child`: NO_WRITE drops WRITE; otherwise a snapshot gets WRITE
        // on its own copy "at the expense of executability". A NO_WRITE snapshot keeps EXECUTE
        // (an immutable copy of code may still be mapped executable).
        if options & uapi::VMO_CHILD_NO_WRITE != 0 {
            r = r.without(Rights::WRITE);
        } else if options & uapi::VMO_CHILD_SLICE == 0 {
            r = r.with(Rights::WRITE).without(Rights::EXECUTE);
        }
        r
    }

    /// `zx_vmo_create_child`, after the handle checks: a slice or a snapshot of
    /// `[offset, offset + size)`; `size` is already rounded by [`Vmo::check_child_args`].
    pub(crate) fn create_child(
        self: &Arc<Self>,
        options: u32,
        offset: u64,
        size: u64,
    ) -> ZxResult<Arc<Vmo>> {
        // Zircon's `VmObjectDispatcher::CreateChildInternal`: before any option.
        if self.discard.is_some() {
            return Err(Status::NotSupported);
        }
        let opts = options & !uapi::VMO_CHILD_NO_WRITE;
        if opts & uapi::VMO_CHILD_SLICE != 0 {
            return self.create_slice(opts, offset, size);
        }
        // Exactly one child type: Zircon takes SNAPSHOT first and finds SNAPSHOT_AT_LEAST_ON_WRITE
        // left over (`INVALID_ARGS`), as any other unknown bit; then `CreateClone`'s offset.
        let types = uapi::VMO_CHILD_SNAPSHOT | uapi::VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE;
        if opts & !(types | uapi::VMO_CHILD_RESIZABLE) != 0
            || (opts & types).count_ones() != 1
            || !is_page_aligned(offset)
        {
            return Err(Status::InvalidArgs);
        }
        let end = offset.checked_add(size).ok_or(Status::OutOfRange)?;
        // Zircon: a VMO whose chain starts at a pager-backed VMO has no SNAPSHOT children; its
        // SNAPSHOT_AT_LEAST_ON_WRITE children read through to it (nothing is paged in now).
        // Elsewhere SNAPSHOT_AT_LEAST_ON_WRITE makes a snapshot, as Zircon may.
        let kind = if self.node().root_is_paged() {
            if opts & uapi::VMO_CHILD_SNAPSHOT != 0 {
                return Err(Status::NotSupported);
            }
            cow::Kind::Live
        } else {
            cow::Kind::Snapshot
        };
        self.create_snapshot(
            offset,
            end,
            size,
            opts & uapi::VMO_CHILD_RESIZABLE != 0,
            kind,
        )
    }

    fn create_slice(self: &Arc<Self>, opts: u32, offset: u64, size: u64) -> ZxResult<Arc<Vmo>> {
        if opts != uapi::VMO_CHILD_SLICE
            || !is_page_aligned(offset)
            || !in_range(offset, size, self.size())
        {
            return Err(Status::InvalidArgs);
        }
        if self.resizable {
            return Err(Status::NotSupported);
        }
        let (root, base) = self.root_window();
        let pages = Pages::Slice {
            root: root.clone(),
            // Cannot overflow: the window lies inside `root` (type invariant).
            offset: base + offset,
        };
        Vmo::new(
            new_koid(),
            pages,
            size,
            false,
            Some(ParentLink::new(self, ChildKind::Slice)),
        )
    }

    /// A snapshot child of `[offset, end)`: a node of this VMO's family that reads through to
    /// this VMO's pages inside the window (`cow.rs`); nothing is copied or paged in now. The
    /// window's part past this VMO's end reads as zeros.
    fn create_snapshot(
        self: &Arc<Self>,
        offset: u64,
        end: u64,
        size: u64,
        resizable: bool,
        kind: cow::Kind,
    ) -> ZxResult<Arc<Vmo>> {
        let koid = new_koid();
        let file = ShmemFile::new(size, koid).map_err(Status::from_mm)?;
        let (node, base) = self.node_window();
        // The part of the window inside this VMO, in the node's pages (none if the window
        // starts past the end): it lies inside the root, so nothing overflows. A resizable
        // VMO's size may change meanwhile, which the node clips to under its family locks.
        let inside = end.min(self.size());
        let (first, last) = if offset < inside {
            ((base + offset) / PAGE_SIZE, (base + inside) / PAGE_SIZE)
        } else {
            (0, 0)
        };
        let child = Node::new_child(node, koid, file, first, last, kind)?;
        Vmo::new(
            koid,
            Pages::Own(OwnNode(child)),
            size,
            resizable,
            Some(ParentLink::new(self, ChildKind::Snapshot)),
        )
    }

    /// The VMO that owns this VMO's pages, and where this VMO's window starts in it.
    fn root_window(self: &Arc<Self>) -> (&Arc<Vmo>, u64) {
        match &self.pages {
            Pages::Own(_) => (self, 0),
            Pages::Slice { root, offset } => (root, *offset),
        }
    }

    /// The node holding this VMO's pages (its root's) and the offset of its window in it.
    fn node_window(&self) -> (&Arc<Node>, u64) {
        match &self.pages {
            Pages::Own(n) => (&n.0, 0),
            Pages::Slice { root, offset } => (root.node(), *offset),
        }
    }

    /// The node holding this VMO's pages (its root's).
    fn node(&self) -> &Arc<Node> {
        self.node_window().0
    }

    /// The shmem file holding this VMO's pages and the offset of its window in it.
    fn window(&self) -> (&ShmemFile, u64) {
        let (node, base) = self.node_window();
        (node.file(), base)
    }

    /// The page source of this VMO if it was made by `zx_pager_create_vmo` (not a slice).
    fn own_source(&self) -> Option<&PageSource> {
        match &self.pages {
            Pages::Own(n) => n.0.source().map(|s| &**s),
            Pages::Slice { .. } => None,
        }
    }

    /// The page source of the VMO owning this VMO's pages, if it is pager-backed.
    fn page_source(&self) -> Option<&PageSource> {
        self.node().source().map(|s| &**s)
    }

    /// Pages of a pager-backed VMO evicted so far (its root's, for a slice).
    pub(crate) fn evicted_pages(&self) -> Option<u64> {
        self.page_source().map(|s| s.evicted_pages())
    }

    /// Whether this VMO's pages come from a pager.
    pub(crate) fn is_pager_backed(&self) -> bool {
        self.page_source().is_some()
    }

    /// Whether this VMO is a page source of `pager` (as a VMO created by it, not a slice).
    pub(crate) fn is_backed_by(&self, pager: &Pager) -> bool {
        self.own_source().is_some_and(|s| s.is_of(pager))
    }

    /// Asks the pager, if any, for the absent pages of bytes `[offset, offset + len)` of this
    /// VMO (rounded out to pages) and waits for them.
    fn populate_bytes(&self, offset: u64, len: u64) -> ZxResult {
        match self.source_pages(offset, len)? {
            Some((source, start, end)) => source.populate(start, end, false),
            None => Ok(()),
        }
    }

    /// Whether every page that bytes `[offset, offset + len)` of this VMO touch is present (an
    /// empty range touches none); the range lies inside the VMO.
    fn pages_present(&self, offset: u64, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        let (file, base) = self.window();
        let start = page_round_down(base + offset) / PAGE_SIZE;
        let Some(end) = page_round_up(base + offset + len) else {
            return false;
        };
        let end = end / PAGE_SIZE;
        file.find_hole(start, end).0 == end
    }

    /// For a pager-backed VMO: asks the pager for the absent pages of bytes
    /// `[offset, offset + len)` and runs `f` with the VMO's size while they are all present.
    /// Only detach frees a non-resizable VMO's pages (which the caller's [`Vmo::check_attached`]
    /// finds), so `f` runs at once; a resizable VMO's shrink and regrowth could take them away
    /// again, so `f` runs under `resize_lock` once they are there (the wait for the pager
    /// happens before the lock is taken, see the lock order in `pager.rs`). `OUT_OF_RANGE` when
    /// the range does not lie inside the VMO, also after it shrank during a wait.
    ///
    /// For a `write` the pages are also made writable ([`PageSource::prepare_write`]: a
    /// `TRAP_DIRTY` VMO's clean pages are asked of the pager) and `f` runs once none is clean.
    fn with_pages_present<T>(
        &self,
        offset: u64,
        len: u64,
        write: bool,
        f: impl FnOnce(u64) -> ZxResult<T>,
    ) -> ZxResult<T> {
        loop {
            if !in_range(offset, len, self.size()) {
                return Err(Status::OutOfRange);
            }
            let (source, start, end) = match self.source_pages(offset, len)? {
                Some(r) => r,
                None => return f(self.size()),
            };
            if write {
                source.prepare_write(start, end, false)?;
            } else {
                source.populate(start, end, false)?;
            }
            // No eviction frees the pages while `f` runs; if one took some already, they are
            // asked for again.
            let Some(_access) = source.begin_access(start, end) else {
                continue;
            };
            if !self.resizable {
                if !write || source.may_write(start, end) {
                    return f(self.size());
                }
                continue;
            }
            let _guard = self.resize_lock.lock();
            let size = self.size();
            if !in_range(offset, len, size) {
                return Err(Status::OutOfRange);
            }
            if self.pages_present(offset, len) && (!write || source.may_write(start, end)) {
                return f(size);
            }
        }
    }

    /// The page source of a pager-backed VMO and the pages of its file that bytes
    /// `[offset, offset + len)` of this VMO (inside it) touch; `None` if it is not
    /// pager-backed or the range is empty.
    fn source_pages(&self, offset: u64, len: u64) -> ZxResult<Option<(&PageSource, u64, u64)>> {
        let Some(source) = self.page_source() else {
            return Ok(None);
        };
        if len == 0 {
            return Ok(None);
        }
        let base = self.window().1;
        // The caller checked that the range lies inside the VMO, so nothing overflows.
        let start = page_round_down(base + offset) / PAGE_SIZE;
        let end = page_round_up(base + offset + len).ok_or(Status::OutOfRange)? / PAGE_SIZE;
        Ok(Some((source, start, end)))
    }

    /// `BAD_STATE` if the VMO's pager was detached while an access to bytes
    /// `[offset, offset + len)` ran and freed some of their pages (detach frees the clean
    /// pages; it keeps the others, and closing the pager frees none, see `pager.rs`).
    fn check_attached(&self, offset: u64, len: u64) -> ZxResult {
        match self.page_source() {
            Some(s) if s.is_detached() && !self.pages_present(offset, len) => Err(Status::BadState),
            _ => Ok(()),
        }
    }

    /// The shmem file holding this VMO's pages (its root's), for its fds.
    pub(crate) fn shmem_file(&self) -> &ShmemFile {
        self.window().0
    }

    /// A new mapping of `pages` pages at page `pgoff` of this VMO: returns the page of the
    /// shmem file it starts at. A slice's mapping must lie inside its window (`EINVAL`, as
    /// dma-buf refuses a mapping past its buffer): past it are the parent's pages. A VMO that
    /// owns its pages may be mapped past its end, as a memfd may (that part is `SIGBUS`).
    pub(crate) fn map_window(&self, pgoff: u64, pages: u64) -> Result<u64> {
        let end = pgoff.checked_add(pages).ok_or(EOVERFLOW)?;
        let (_, base) = self.window();
        if matches!(self.pages, Pages::Slice { .. }) && end > self.size() / PAGE_SIZE {
            return Err(EINVAL);
        }
        let start = pgoff.checked_add(base / PAGE_SIZE).ok_or(EOVERFLOW)?;
        start.checked_add(pages).ok_or(EOVERFLOW)?;
        Ok(start)
    }

    /// Whether page `pgoff` of the shmem file lies inside this VMO's window.
    fn window_has_page(&self, pgoff: u64) -> bool {
        let first = self.window().1 / PAGE_SIZE;
        pgoff >= first && pgoff - first < self.size() / PAGE_SIZE
    }

    /// A fault on page `pgoff` (of the shmem file) through a mapping of this VMO, a write fault
    /// if `write`: what the fault handler (`vmofd.rs`) does next. `map(may_allocate)` maps the
    /// page as shmem's fault does and returns mm's answer, or `None` for a hole it may not fill
    /// (an absent page of a pager-backed VMO).
    ///
    /// A page outside the window, or of a discarded VMO (until it is locked again, RFC-0012), is
    /// `SIGBUS`. A child's mapping shows only its own pages: the page is made the child's own
    /// first, and a page its pager-backed root has not supplied yet is waited for as the
    /// root's. A write to a clean page of a `TRAP_DIRTY` VMO waits for the pager to let it
    /// become dirty (`page_mkwrite` unmaps such a page so that its write fault comes here). An
    /// absent page of a pager-backed VMO is waited for; a request for it that failed since this
    /// thread last faulted on it is `SIGBUS` instead (see [`PageSource::take_fault_failure`]).
    pub(crate) fn fault<M>(
        &self,
        pgoff: u64,
        write: bool,
        map: impl FnOnce(bool) -> Option<M>,
    ) -> FaultOutcome<M> {
        if !self.window_has_page(pgoff) || self.is_discarded() {
            return FaultOutcome::Sigbus;
        }
        let node = self.node();
        let stop = if node.has_parent() {
            node.prepare_fault(pgoff).err()
        } else {
            None
        };
        let (source, pgoff, need) = match stop {
            Some(cow::FaultStop::Failed) => return FaultOutcome::Sigbus,
            Some(cow::FaultStop::Pager(s, px)) => (s.clone(), px, Need::Read),
            None => {
                let own = node.source();
                match own {
                    Some(s) if write && s.fault_needs_dirty(pgoff) => {
                        (s.clone(), pgoff, Need::Dirty)
                    }
                    _ => {
                        if let Some(m) = map(own.is_none()) {
                            return FaultOutcome::Mapped(m);
                        }
                        // Only a pager-backed VMO leaves a hole.
                        let Some(s) = own else {
                            return FaultOutcome::Sigbus;
                        };
                        (s.clone(), pgoff, Need::Read)
                    }
                }
            }
        };
        if source.take_fault_failure(pgoff) {
            return FaultOutcome::Sigbus;
        }
        FaultOutcome::Wait(FaultWait {
            source,
            need,
            pgoff,
        })
    }

    /// `page_mkwrite` of page `pgoff` (of the node's file): a pager-backed VMO's page becomes
    /// dirty ([`PageSource::mark_fault_dirty`]), then the copy-on-write side runs and locks the
    /// page's folio ([`Node::prepare_write`]).
    pub(crate) fn prepare_write(
        &self,
        pgoff: u64,
        lock: impl Fn() -> bool,
        unlock: impl Fn(),
    ) -> ZxResult<Mkwrite> {
        let source = self.page_source();
        let begun = match source.map(|s| s.mark_fault_dirty(pgoff)).transpose()? {
            Some(None) => return Ok(Mkwrite::NeedsDirty),
            Some(Some(b)) => Some(b),
            None => None,
        };
        if !self.node().prepare_write(pgoff, lock, &unlock)? {
            return Ok(Mkwrite::Retry);
        }
        if let (Some(s), Some(b)) = (source, begun) {
            if s.writeback_begun_since(b) {
                unlock();
                return Ok(Mkwrite::Retry);
            }
        }
        Ok(Mkwrite::Locked)
    }

    /// The object id.
    pub(crate) fn koid(&self) -> u64 {
        self.links.koid
    }

    /// The size in bytes (page aligned).
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Relaxed)
    }

    /// Whether this VMO is a snapshot child.
    fn is_snapshot(&self) -> bool {
        matches!(&self.parent, Some(l) if l.kind == ChildKind::Snapshot)
    }

    /// Whether the VMO was created resizable.
    pub(crate) fn is_resizable(&self) -> bool {
        self.resizable
    }

    /// Runs `f` with the size stable: under `resize_lock` for a resizable VMO (whose size may
    /// change), directly otherwise.
    fn with_stable_size<T>(&self, f: impl FnOnce(u64) -> ZxResult<T>) -> ZxResult<T> {
        if self.resizable {
            let _guard = self.resize_lock.lock();
            f(self.size())
        } else {
            f(self.size())
        }
    }

    /// `zx_vmo_op_range` on a handle with `rights`. Returns what a cache op did (the
    /// default for the other ops).
    pub(crate) fn op_range(
        &self,
        rights: Rights,
        op: u32,
        offset: u64,
        len: u64,
    ) -> ZxResult<CacheStats> {
        let cache_op = match op {
            uapi::VMO_OP_COMMIT => {
                rights.require(Rights::WRITE)?;
                return self.commit(offset, len).map(|()| CacheStats::default());
            }
            uapi::VMO_OP_DECOMMIT => {
                rights.require(Rights::WRITE)?;
                return self.decommit(offset, len).map(|()| CacheStats::default());
            }
            uapi::VMO_OP_ZERO => {
                rights.require(Rights::WRITE)?;
                return self.zero(offset, len).map(|()| CacheStats::default());
            }
            uapi::VMO_OP_LOCK => {
                // Without a buffer for the lock state: locked, then undone (`INVALID_ARGS`).
                let link = self.discard_link(rights, offset, len)?;
                link.lock(false)?;
                // Cannot fail: this LOCK holds a lock.
                let _ = link.unlock();
                return Err(Status::InvalidArgs);
            }
            uapi::VMO_OP_TRY_LOCK | uapi::VMO_OP_UNLOCK => {
                let link = self.discard_link(rights, offset, len)?;
                let r = if op == uapi::VMO_OP_UNLOCK {
                    link.unlock()
                } else {
                    link.lock(true).map(|_| ())
                };
                return r.map(|()| CacheStats::default());
            }
            uapi::VMO_OP_DONT_NEED | uapi::VMO_OP_ALWAYS_NEED => {
                let always = op == uapi::VMO_OP_ALWAYS_NEED;
                return self
                    .hint(offset, len, always)
                    .map(|()| CacheStats::default());
            }
            uapi::VMO_OP_PREFETCH => {
                rights.require(Rights::READ)?;
                return self.prefetch(offset, len).map(|()| CacheStats::default());
            }
            uapi::VMO_OP_CACHE_SYNC => CacheOp::Sync,
            uapi::VMO_OP_CACHE_CLEAN => CacheOp::Clean,
            uapi::VMO_OP_CACHE_CLEAN_INVALIDATE => CacheOp::CleanInvalidate,
            uapi::VMO_OP_CACHE_INVALIDATE => CacheOp::Invalidate,
            _ => return Err(Status::InvalidArgs),
        };
        rights.require(if cache_op == CacheOp::Invalidate {
            Rights::WRITE
        } else {
            Rights::READ
        })?;
        self.cache_op(cache_op, offset, len)
    }

    /// The checks LOCK, TRY_LOCK and UNLOCK share, in Zircon's order
    /// (`VmObjectDispatcher::RangeOp`, `VmObjectPaged::LockRange`, `VmCowPages`): READ or
    /// WRITE, discardable (`NOT_SUPPORTED`), `offset + len` inside the VMO, then the whole VMO
    /// only (both `OUT_OF_RANGE`).
    fn discard_link(&self, rights: Rights, offset: u64, len: u64) -> ZxResult<&discard::Link> {
        if !rights.contains(Rights::READ) && !rights.contains(Rights::WRITE) {
            return Err(Status::AccessDenied);
        }
        let link = self.discard.as_ref().ok_or(Status::NotSupported)?;
        if !in_range(offset, len, self.size()) || offset != 0 || len != self.size() {
            return Err(Status::OutOfRange);
        }
        Ok(link)
    }

    /// LOCK: locks the discardable VMO, then passes the lock state to `publish` (which writes
    /// it to op_range's buffer); if that fails the lock is undone, as Zircon's
    /// `VmObjectDispatcher::RangeOp` does, and its error returned.
    pub(crate) fn lock_with(
        &self,
        rights: Rights,
        offset: u64,
        len: u64,
        publish: impl FnOnce(&uapi::vmo_lock_state) -> Result,
    ) -> Result {
        let link = self.discard_link(rights, offset, len)?;
        let discarded = link.lock(false)?;
        let state = uapi::vmo_lock_state {
            offset,
            size: len,
            discarded_offset: 0,
            discarded_size: if discarded { len } else { 0 },
        };
        if let Err(e) = publish(&state) {
            // Cannot fail: this LOCK holds a lock.
            let _ = link.unlock();
            return Err(e);
        }
        Ok(())
    }

    /// LOCK for the KUnit suites: whether the VMO had been discarded.
    #[cfg(CONFIG_VMO_KUNIT_TEST)]
    pub(crate) fn lock_range(&self, rights: Rights, offset: u64, len: u64) -> ZxResult<bool> {
        let mut discarded = false;
        self.lock_with(rights, offset, len, |s| {
            discarded = s.discarded_size != 0;
            Ok(())
        })
        .map_err(Status::from)?;
        Ok(discarded)
    }

    /// The discard state of a discardable VMO.
    pub(crate) fn discard_state(&self) -> Option<discard::State> {
        self.discard.as_ref().map(|l| l.state())
    }

    /// Whether the VMO is discarded (and not locked since): accesses fail, faults `SIGBUS`.
    pub(crate) fn is_discarded(&self) -> bool {
        self.discard.as_ref().is_some_and(|l| l.is_discarded())
    }

    /// `NOT_FOUND` for an access to a discarded VMO (Zircon's `VmCowPages` finds no page of a
    /// discarded VMO until it is locked again).
    fn check_not_discarded(&self) -> ZxResult {
        if self.is_discarded() {
            return Err(Status::NotFound);
        }
        Ok(())
    }

    /// DONT_NEED and ALWAYS_NEED (Zircon's `VmObjectPaged::HintRange`): nothing to do for a VMO
    /// that is not pager-backed, before any range check; for a pager-backed one the range must
    /// lie inside the VMO, and is rounded out to pages and recorded for eviction
    /// ([`PageSource::hint`]; a slice's range is its parent's).
    fn hint(&self, offset: u64, len: u64, always: bool) -> ZxResult {
        let Some(source) = self.page_source() else {
            return Ok(());
        };
        if !in_range(offset, len, self.size()) {
            return Err(Status::OutOfRange);
        }
        match self.source_pages(offset, len)? {
            Some((_, start, end)) => source.hint(start, end, always),
            None => Ok(()),
        }
    }

    /// COMMIT: rounds the range out to pages and allocates shmem folios for it.
    ///
    /// A page source that supplies pages later (a user pager) plugs in here: the allocation
    /// below becomes "request the missing runs and wait", and the wait's status is returned.
    fn commit(&self, offset: u64, len: u64) -> ZxResult {
        let end = offset.checked_add(len).ok_or(Status::OutOfRange)?;
        let end = page_round_up(end).ok_or(Status::OutOfRange)?;
        let start = page_round_down(offset);
        if self.is_pager_backed() {
            // The range is checked before the wait; a VMO that shrank meanwhile is not an error
            // (Zircon's `VmObjectPaged::CommitRangeInternal` trims the range to the size again
            // after each wait), and no page past the end is asked for.
            if !in_range(start, end - start, self.size()) {
                return Err(Status::OutOfRange);
            }
            return self.populate_bytes(start, end - start);
        }
        self.cow_op(start, end - start, true, |may_wait| {
            self.with_range(start, end - start, |file, base| {
                self.check_not_discarded()?;
                let node = self.node();
                if node.has_parent() {
                    let (first, last) = ((base + start) / PAGE_SIZE, (base + end) / PAGE_SIZE);
                    return node.commit_child(first, last, may_wait);
                }
                file.commit(base + start, end - start)
                    .map_err(Status::from_mm)
            })
        })
    }

    /// `ZX_VMO_OP_PREFETCH` after the rights check, as Zircon's `VmObjectPaged::PrefetchRange`:
    /// the range, rounded out to pages, must lie inside the VMO (`OUT_OF_RANGE`, as for COMMIT);
    /// where a pager-backed root would have to supply pages for a read, they are asked for and
    /// waited for, and the pager's errors are returned (`ProtectRangeFromReclamation`). Nothing
    /// is committed or copied: a VMO whose chain has no pager has nothing to do (Zircon
    /// decompresses; nothing is compressed here), and a child of a pager-backed root reads
    /// through to the root's pages, as a read would. A discarded VMO is `NOT_FOUND`, as for
    /// COMMIT.
    fn prefetch(&self, offset: u64, len: u64) -> ZxResult {
        let end = offset.checked_add(len).ok_or(Status::OutOfRange)?;
        let end = page_round_up(end).ok_or(Status::OutOfRange)?;
        let start = page_round_down(offset);
        if !in_range(start, end - start, self.size()) {
            return Err(Status::OutOfRange);
        }
        if start == end {
            return Ok(());
        }
        if self.is_pager_backed() {
            return self.populate_bytes(start, end - start);
        }
        self.check_not_discarded()?;
        let (node, base) = self.node_window();
        if node.has_parent() && node.root_is_paged() {
            return node.page_in((base + start) / PAGE_SIZE, (base + end) / PAGE_SIZE);
        }
        Ok(())
    }

    /// Runs `f`, a copy-on-write operation on bytes `[offset, offset + len)`, which may need
    /// pages from the pager of a pager-backed root this VMO reads through to. A resizable
    /// VMO's operations run under `resize_lock`, under which nobody may wait for a pager: for
    /// one, the pages are asked for first, `f` is told not to wait (`may_wait` false), and if
    /// a page went again meanwhile it is asked for again.
    /// `whole` says whether `f` reads every page of the range; otherwise (ZERO) it reads only
    /// the partial pages at its ends, and whole pages are overwritten without being asked for.
    fn cow_op(&self, offset: u64, len: u64, whole: bool, f: impl Fn(bool) -> ZxResult) -> ZxResult {
        let (node, base) = self.node_window();
        if !self.resizable || !node.has_parent() || !node.root_is_paged() {
            return f(true);
        }
        loop {
            if in_range(offset, len, self.size()) && len != 0 {
                let (start, end) = (base + offset, base + offset + len);
                let last = page_round_up(end).ok_or(Status::OutOfRange)?;
                let (first, last) = (start / PAGE_SIZE, last / PAGE_SIZE);
                if whole {
                    node.page_in(first, last)?;
                } else {
                    // The partial pages at the ends, if any.
                    if !is_page_aligned(start) {
                        node.page_in(first, first + 1)?;
                    }
                    if !is_page_aligned(end) && (last - 1 != first || is_page_aligned(start)) {
                        node.page_in(last - 1, last)?;
                    }
                }
            }
            match f(false) {
                Err(Status::Kernel(e)) if e == EAGAIN => continue,
                r => return r,
            }
        }
    }

    /// The common start of COMMIT, DECOMMIT and ZERO: with the size stable, a range not inside
    /// the VMO is `OUT_OF_RANGE`, an empty one is done; otherwise `f` runs with the shmem file
    /// and the window's base in it.
    fn with_range(
        &self,
        offset: u64,
        len: u64,
        f: impl FnOnce(&ShmemFile, u64) -> ZxResult,
    ) -> ZxResult {
        self.with_stable_size(|size| {
            if !in_range(offset, len, size) {
                return Err(Status::OutOfRange);
            }
            if len == 0 {
                return Ok(());
            }
            let (file, base) = self.window();
            f(file, base)
        })
    }

    /// DECOMMIT: frees page-aligned ranges of a VMO that has no snapshot (Zircon: no COW
    /// parent and no non-slice children, nor a closed one whose own children read through to
    /// it); a slice forwards to the VMO owning its pages.
    fn decommit(&self, offset: u64, len: u64) -> ZxResult {
        self.with_range(offset, len, |_file, base| {
            let node = self.node();
            if node.source().is_some() {
                return Err(Status::NotSupported);
            }
            node.with_no_relatives(|file| {
                if !is_page_aligned(offset) || !is_page_aligned(len) {
                    return Err(Status::InvalidArgs);
                }
                file.punch(base + offset, len).map_err(Status::from_mm)
            })
        })
    }

    /// ZERO: byte granular. Whole pages are freed (and unmapped), the covered bytes of present
    /// partial pages are zeroed in place, absent pages stay absent.
    ///
    /// On a pager-backed VMO, ZERO must not leave holes (they would be asked of the pager
    /// again): the partial pages at the ends are paged in, then every page of the range is
    /// zeroed in place or made a zero page (see [`PageSource::zero`]).
    fn zero(&self, offset: u64, len: u64) -> ZxResult {
        let Some(source) = self.page_source() else {
            return self.cow_op(offset, len, false, |may_wait| {
                self.with_range(offset, len, |_file, base| {
                    self.node().zero(base + offset, len, may_wait)
                })
            });
        };
        loop {
            if !in_range(offset, len, self.size()) {
                return Err(Status::OutOfRange);
            }
            if len == 0 {
                return Ok(());
            }
            let end = offset + len;
            let (head, tail) = (
                page_round_up(offset).unwrap_or(end).min(end),
                page_round_down(end).max(offset),
            );
            if head != offset {
                self.populate_bytes(offset, head - offset)?;
            }
            if tail != end && tail >= head {
                self.populate_bytes(tail, end - tail)?;
            }
            let base = self.window().1;
            let (first, last) = (
                page_round_down(base + offset) / PAGE_SIZE,
                page_round_up(base + end).ok_or(Status::OutOfRange)? / PAGE_SIZE,
            );
            if source.traps_dirty() {
                // The pages ZERO dirties are asked for first, then their dirtying.
                source.prepare_write(first, last, false)?;
            }
            let spare = Spare::new()?;
            // No eviction runs while the pages are zeroed and marked (a page zeroed and then
            // evicted would come back with the pager's content). The range checked is empty:
            // ZERO fills absent pages itself.
            let access = source.begin_access(first, first);
            let zeroed = source.zero(base + offset, base + end);
            // BAD_STATE (detached) and OUT_OF_RANGE (shrunk) come before any page is zeroed.
            if !matches!(zeroed, Err(Status::BadState | Status::OutOfRange)) {
                source.mark_dirty(first, last, true, spare);
            }
            drop(access);
            // False: a resize took a partial page away again; page it in again.
            if zeroed? {
                return Ok(());
            }
        }
    }

    /// The cache ops: size 0 is `INVALID_ARGS` (first), then the byte range must lie inside
    /// the VMO. Only committed pages are visited.
    fn cache_op(&self, op: CacheOp, offset: u64, len: u64) -> ZxResult<CacheStats> {
        if len == 0 {
            return Err(Status::InvalidArgs);
        }
        if !in_range(offset, len, self.size()) {
            return Err(Status::OutOfRange);
        }
        let (node, base) = self.node_window();
        let mut stats = CacheStats::default();
        let prim = cache::Primitive::new(op);
        let (start, end) = (base + offset, base + offset + len);
        if !node.has_parent() {
            let pages = node
                .file()
                .for_each_run(start, end, |runs| {
                    prim.run_runs(runs, &mut stats);
                    Ok(())
                })
                .map_err(Status::Kernel)?;
            stats.pages += pages;
        } else {
            // A child: the pages it reads, wherever they are (nothing is copied).
            let last = page_round_up(end).ok_or(Status::OutOfRange)? / PAGE_SIZE;
            node.for_each_run(start / PAGE_SIZE, last, |file, sx, x, n| {
                // The run in the node's bytes, clipped to the range, then in the file's.
                let (rs, re) = ((x * PAGE_SIZE).max(start), ((x + n) * PAGE_SIZE).min(end));
                let shift = sx * PAGE_SIZE;
                let pages = file
                    .for_each_run(
                        rs - x * PAGE_SIZE + shift,
                        re - x * PAGE_SIZE + shift,
                        |runs| {
                            prim.run_runs(runs, &mut stats);
                            Ok(())
                        },
                    )
                    .map_err(Status::Kernel)?;
                stats.pages += pages;
                Ok(())
            })?;
        }
        prim.finish();
        Ok(stats)
    }

    /// `zx_vmo_read` of `len` bytes at `offset` into the user buffer `buf`.
    pub(crate) fn read_user(
        &self,
        buf: kernel::uaccess::UserPtr,
        offset: u64,
        len: u64,
    ) -> ZxResult {
        if !in_range(offset, len, self.size()) {
            return Err(Status::OutOfRange);
        }
        let len = usize::try_from(len).map_err(|_| Status::OutOfRange)?;
        self.check_not_discarded()?;
        let (node, base) = self.node_window();
        if node.has_parent() {
            // A child reads wherever each page is, without copying it (no lock of its own
            // is held: it may wait for a pager).
            return node.read_user(buf, base + offset, len, true);
        }
        if self.is_pager_backed() {
            return self.pager_copy(buf, offset, len, false);
        }
        let (file, base) = self.window();
        let n = file
            .copy_user(buf, len, base + offset, false, false)
            .map_err(Status::Kernel)?;
        if n != len {
            // The VMO shrank while the read ran.
            return Err(Status::OutOfRange);
        }
        Ok(())
    }

    /// A read (`write` false) or write of bytes `[offset, offset + len)` of a pager-backed VMO,
    /// from or to the user buffer `buf`, once its pages are present ([`Vmo::with_pages_present`]).
    /// The copy is shmem's, under `resize_lock` for a resizable VMO and under shmem's inode lock
    /// for a write, so it must not fault its buffer in: the buffer may be a mapping of another
    /// pager-backed VMO, whose fault waits as long as that pager likes, and everyone else's
    /// operations on this VMO would wait for those locks meanwhile. It stops where the buffer
    /// faults; the buffer is faulted in without a lock and the copy goes on from there (the
    /// range checked again). A write marks its pages dirty ([`PageSource::mark_dirty`]).
    fn pager_copy(&self, buf: UserPtr, offset: u64, len: usize, write: bool) -> ZxResult {
        copy_resuming(buf, !write, |done| {
            let (at, rest) = (offset + done as u64, len - done);
            let from = buf.wrapping_byte_add(done);
            let n = self.with_pages_present(at, rest as u64, write, |size| {
                if !in_range(at, rest as u64, size) {
                    return Err(Status::OutOfRange);
                }
                // The dirty marking's tree nodes come first: a write that happened is recorded.
                let spare = if write { Some(Spare::new()?) } else { None };
                let (file, base) = self.window();
                let n = file.copy_user(from, rest, base + at, write, true);
                if let Some(spare) = spare {
                    if let Some((source, start, end)) = self.source_pages(at, rest as u64)? {
                        // shmem's write fails only when it wrote nothing.
                        source.mark_dirty(start, end, matches!(n, Ok(w) if w > 0), spare);
                    }
                }
                let n = n.map_err(Status::from_mm)?;
                self.check_attached(at, n as u64)?;
                Ok(n)
            })?;
            // Short: the buffer faults there (the size is stable under the locks, and shmem
            // fails a write that can have no page with an error): the rest is faulted in.
            Ok((n < rest).then_some((n, rest - n)))
        })
    }

    /// `zx_vmo_write` of `len` bytes from the user buffer `buf` at `offset`.
    pub(crate) fn write_user(
        &self,
        buf: kernel::uaccess::UserPtr,
        offset: u64,
        len: u64,
    ) -> ZxResult {
        if self.is_pager_backed() {
            if !in_range(offset, len, self.size()) {
                return Err(Status::OutOfRange);
            }
            let len = usize::try_from(len).map_err(|_| Status::OutOfRange)?;
            // A pager-backed VMO has no SNAPSHOT children to push pages to.
            return self.pager_copy(buf, offset, len, true);
        }
        if !self.resizable {
            return self.cow_op(offset, len, true, |may_wait| {
                if !in_range(offset, len, self.size()) {
                    return Err(Status::OutOfRange);
                }
                let len = usize::try_from(len).map_err(|_| Status::OutOfRange)?;
                self.check_not_discarded()?;
                let (node, base) = self.node_window();
                node.write_user(buf, base + offset, len, may_wait, None)
            });
        }
        // A resizable VMO's copy runs under `resize_lock`, where its buffer must not fault in:
        // that fault may wait for a pager for as long as the pager likes, and everyone else's
        // operations on the VMO would wait for the lock meanwhile. The copy stops where the
        // buffer faults (the range is checked again each time: the size may have changed).
        let len = usize::try_from(len).map_err(|_| Status::OutOfRange)?;
        let fault = cow::DeferredFault::new(None);
        copy_resuming(buf, false, |done| {
            let (at, rest) = (offset + done as u64, len - done);
            let r = self.cow_op(at, rest as u64, true, |may_wait| {
                self.with_stable_size(|size| {
                    if !in_range(offset, len as u64, size) {
                        return Err(Status::OutOfRange);
                    }
                    self.check_not_discarded()?;
                    let (node, base) = self.node_window();
                    let from = buf.wrapping_byte_add(done);
                    node.write_user(from, base + at, rest, may_wait, Some(&fault))
                })
            });
            match fault.take() {
                Some(stop) => Ok(Some(stop)),
                None => r.map(|()| None),
            }
        })
    }

    /// `zx_vmo_set_size` after the rights checks: `UNAVAILABLE` unless resizable.
    ///
    /// A shrink first makes new accesses past the end `OUT_OF_RANGE` (or `SIGBUS`), then lets
    /// the page source, if any, end its requests past the end ([`PageSource::resize`]), then
    /// frees (and unmaps) the pages past it. A growth first grows the file, then tells the
    /// page source, then lets accesses reach the new pages.
    pub(crate) fn set_size(&self, size: u64) -> ZxResult {
        if !self.resizable {
            return Err(Status::Unavailable);
        }
        let size = round_size(size)?;
        let _guard = self.resize_lock.lock();
        let old = self.size();
        // A resizable VMO owns its pages (slices of resizable VMOs are refused), so its page
        // source, if any, is its own.
        let source = self.own_source();
        if size < old {
            self.size.store(size, Relaxed);
            if let Some(s) = source {
                s.resize(size / PAGE_SIZE);
            }
            if let Err(e) = self.node().set_size(size) {
                // Nothing was freed: the old size stands (requests that ended are asked again).
                if let Some(s) = source {
                    s.resize(old / PAGE_SIZE);
                }
                self.size.store(old, Relaxed);
                return Err(e);
            }
        } else {
            self.node().set_size(size)?;
            if let Some(s) = source {
                s.resize(size / PAGE_SIZE);
            }
            self.size.store(size, Relaxed);
        }
        if let Some(s) = source {
            s.set_modified();
        }
        Ok(())
    }

    /// `zx_pager_detach_vmo`: see [`PageSource::detach`].
    pub(crate) fn detach_pager(&self) {
        if let Some(s) = self.own_source() {
            s.detach();
        }
    }

    /// Whether a supply may take this VMO's pages (the aux VMO of `zx_pager_supply_pages`):
    /// it was made by `zx_vmo_create` (it is neither pager-backed nor a child of any kind) and
    /// has no children.
    fn can_give_pages(&self) -> bool {
        !self.is_pager_backed() && self.parent.is_none() && self.links.children.load(Relaxed) == 0
    }

    /// `zx_pager_supply_pages` after the handle checks: moves the pages of
    /// `[aux_offset, aux_offset + len)` of `aux` into `[offset, offset + len)` where this VMO
    /// has none; the aux range is decommitted afterwards, as Zircon's move leaves it.
    ///
    /// Zircon's `sys_pager_supply_pages` takes the pages from `aux` first
    /// (`VmObjectPaged::TakePages`: its range, `OUT_OF_RANGE`; then `BAD_STATE` for an aux VMO
    /// with a page source or a parent, or with children), then supplies them
    /// (`VmCowPages::SupplyPagesLocked`: the range, `OUT_OF_RANGE`; a detached VMO,
    /// `BAD_STATE`). The `zx_pager_supply_pages` reference page: `aux_vmo` "must have been
    /// created by `zx_vmo_create()`, must have no children". So an aux VMO that is pager-backed,
    /// a child of any kind (slice or snapshot) or has children is `BAD_STATE`.
    pub(crate) fn supply_pages(
        &self,
        offset: u64,
        len: u64,
        aux: &Vmo,
        aux_offset: u64,
    ) -> ZxResult {
        let source = self.own_source().ok_or(Status::InvalidArgs)?;
        if !in_range(aux_offset, len, aux.size()) {
            return Err(Status::OutOfRange);
        }
        // The aux VMO gets no snapshot between the check and the freeing of its pages.
        aux.node().with_shape(|has_relatives| {
            if has_relatives || !aux.can_give_pages() {
                return Err(Status::BadState);
            }
            if !in_range(offset, len, self.size()) {
                return Err(Status::OutOfRange);
            }
            if len == 0 {
                return Ok(());
            }
            let (afile, abase) = aux.window();
            source.supply(
                offset / PAGE_SIZE,
                (offset + len) / PAGE_SIZE,
                afile,
                abase + aux_offset,
            )?;
            // The pages were moved: failing to free the aux copies loses nothing.
            let _ = afile.decommit_pages(abase + aux_offset, len);
            Ok(())
        })
    }

    /// `ZX_PAGER_OP_FAIL` after the checks: the requests overlapping the range fail.
    pub(crate) fn fail_pages(&self, offset: u64, len: u64, status: Status) -> ZxResult {
        let source = self.own_source().ok_or(Status::InvalidArgs)?;
        if !in_range(offset, len, self.size()) {
            return Err(Status::OutOfRange);
        }
        source.fail(offset / PAGE_SIZE, (offset + len) / PAGE_SIZE, status)
    }

    /// The page source of this pager-backed VMO and pages `[offset, offset + len)` of it (page
    /// aligned, checked by the caller), which must lie inside it (`OUT_OF_RANGE`).
    fn source_range(&self, offset: u64, len: u64) -> ZxResult<(&PageSource, u64, u64)> {
        let source = self.own_source().ok_or(Status::InvalidArgs)?;
        if !in_range(offset, len, self.size()) {
            return Err(Status::OutOfRange);
        }
        Ok((source, offset / PAGE_SIZE, (offset + len) / PAGE_SIZE))
    }

    /// `ZX_PAGER_OP_DIRTY` after the checks: see [`PageSource::op_dirty`] (`NOT_SUPPORTED`
    /// for a VMO that does not trap dirtying comes before the range check).
    pub(crate) fn dirty_pages(&self, offset: u64, len: u64) -> ZxResult {
        if !self.own_source().ok_or(Status::InvalidArgs)?.traps_dirty() {
            return Err(Status::NotSupported);
        }
        let (source, start, end) = self.source_range(offset, len)?;
        source.op_dirty(start, end)
    }

    /// `ZX_PAGER_OP_WRITEBACK_BEGIN` after the checks: see [`PageSource::writeback_begin`].
    /// With `zero_ranges_only` nothing changes after the range check (no zero ranges are kept).
    pub(crate) fn writeback_begin(
        &self,
        offset: u64,
        len: u64,
        zero_ranges_only: bool,
    ) -> ZxResult {
        let (source, start, end) = self.source_range(offset, len)?;
        if zero_ranges_only {
            return Ok(());
        }
        source.writeback_begin(start, end)
    }

    /// `ZX_PAGER_OP_WRITEBACK_END` after the checks: see [`PageSource::writeback_end`].
    pub(crate) fn writeback_end(&self, offset: u64, len: u64) -> ZxResult {
        let (source, start, end) = self.source_range(offset, len)?;
        source.writeback_end(start, end)
    }

    /// `zx_pager_query_dirty_ranges` after the checks: see [`PageSource::dirty_ranges`].
    pub(crate) fn dirty_ranges(
        &self,
        offset: u64,
        len: u64,
        out: &mut KVec<(u64, u64)>,
    ) -> ZxResult<u64> {
        let (source, start, end) = self.source_range(offset, len)?;
        source.dirty_ranges(start, end, out)
    }

    /// `zx_pager_query_vmo_stats` after the checks: see [`PageSource::stats`].
    pub(crate) fn pager_stats(&self, reset: bool) -> ZxResult<bool> {
        Ok(self.own_source().ok_or(Status::InvalidArgs)?.stats(reset))
    }

    /// What `get_info` reports.
    pub(crate) fn info(&self) -> VmoInfo {
        let mut flags = uapi::VMO_INFO_FLAG_TYPE_PAGED | uapi::VMO_INFO_FLAG_VIA_HANDLE;
        if self.resizable {
            flags |= uapi::VMO_INFO_FLAG_RESIZABLE;
        }
        let committed_bytes = match &self.pages {
            Pages::Own(n) => n.0.file().committed_bytes(),
            Pages::Slice { .. } => {
                flags |= uapi::VMO_INFO_FLAG_SLICE;
                0
            }
        };
        if self.is_snapshot() {
            flags |= uapi::VMO_INFO_FLAG_IS_COW_CLONE;
        }
        if self.is_pager_backed() {
            flags |= uapi::VMO_INFO_FLAG_PAGER_BACKED;
        }
        if self.discard.is_some() {
            flags |= uapi::VMO_INFO_FLAG_DISCARDABLE;
        }
        VmoInfo {
            parent_koid: self.parent.as_ref().map_or(0, |l| l.parent.koid),
            size: self.size(),
            committed_bytes,
            flags,
            num_children: self.links.children.load(Relaxed),
        }
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
impl Vmo {
    /// Writes `byte` at `pos` as a `write` would, from a kernel buffer (KUnit).
    pub(crate) fn write_bytes_for_test(&self, pos: u64, byte: u8) -> Result {
        let (node, base) = self.node_window();
        node.write_bytes(base + pos, &[byte])
    }

    /// Reads the byte at `pos` from the page this VMO reads there (KUnit).
    pub(crate) fn read_byte_for_test(&self, pos: u64) -> Result<u8> {
        let (node, base) = self.node_window();
        let p = base + pos;
        let mut b = 0u8;
        node.for_each_run(p / PAGE_SIZE, p / PAGE_SIZE + 1, |file, sx, _, _| {
            let at = sx * PAGE_SIZE + p % PAGE_SIZE;
            file.for_each_page(at, at + 1, |c| {
                if c.uptodate() {
                    b = c.byte(0).unwrap_or(0);
                }
                Ok(())
            })
            .map(|_| ())
            .map_err(Status::Kernel)
        })?;
        Ok(b)
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kunit_tests(vmo_object)]
mod tests {
    use super::*;
    use crate::uapi::*;

    const PG: u64 = PAGE_SIZE;
    const ALL: Rights = Rights::DEFAULT_VMO;

    fn op(v: &Vmo, op: u32, offset: u64, len: u64) -> ZxResult {
        v.op_range(ALL, op, offset, len).map(|_| ())
    }

    fn committed(v: &Vmo) -> u64 {
        v.info().committed_bytes
    }

    /// Writes `byte` at `pos` of a VMO as a `write` would, from a kernel buffer.
    fn poke(v: &Vmo, pos: u64, byte: u8) -> Result {
        v.write_bytes_for_test(pos, byte)
    }

    /// Reads one byte at `pos` from the page the VMO reads there (0 if none).
    fn peek(v: &Vmo, pos: u64) -> Result<u8> {
        v.read_byte_for_test(pos)
    }

    #[test]
    fn create_rounds_and_bounds_size() -> Result {
        let v = Vmo::create(1, 0)?;
        assert_eq!(v.size(), PG);
        assert_eq!(committed(&v), 0);
        assert_eq!(Vmo::create(0, 0)?.size(), 0);
        assert!(matches!(Vmo::create(u64::MAX, 0), Err(Status::OutOfRange)));
        assert!(matches!(
            Vmo::create(VMO_MAX_SIZE + 1, 0),
            Err(Status::OutOfRange)
        ));
        assert!(matches!(Vmo::create(PG, 1), Err(Status::InvalidArgs)));
        assert!(matches!(Vmo::create(PG, 1 << 7), Err(Status::InvalidArgs)));
        // Size is checked before the options, as in Zircon.
        assert!(matches!(Vmo::create(u64::MAX, 1), Err(Status::OutOfRange)));
        Ok(())
    }

    #[test]
    fn commit_rounds_out_and_checks_range() -> Result {
        let v = Vmo::create(2 * PG, 0)?;
        assert_eq!(op(&v, VMO_OP_COMMIT, 0x10, 0x100), Ok(()));
        assert_eq!(committed(&v), PG);
        assert_eq!(
            op(&v, VMO_OP_COMMIT, PG, u64::MAX - PG + 1),
            Err(Status::OutOfRange)
        );
        assert_eq!(op(&v, VMO_OP_COMMIT, 0, 3 * PG), Err(Status::OutOfRange));
        assert_eq!(op(&v, VMO_OP_COMMIT, u64::MAX, 1), Err(Status::OutOfRange));
        // Round-up of the end overflows.
        assert_eq!(
            op(&v, VMO_OP_COMMIT, u64::MAX - 1, 1),
            Err(Status::OutOfRange)
        );
        assert_eq!(op(&v, VMO_OP_COMMIT, 2 * PG, 0), Ok(()));
        assert_eq!(op(&v, VMO_OP_COMMIT, 0, 2 * PG), Ok(()));
        assert_eq!(committed(&v), 2 * PG);
        Ok(())
    }

    #[test]
    fn decommit_frees_and_checks_in_zircons_order() -> Result {
        let v = Vmo::create(4 * PG, 0)?;
        assert_eq!(op(&v, VMO_OP_COMMIT, 0, 4 * PG), Ok(()));
        poke(&v, PG + 5, 0xaa)?;
        assert_eq!(peek(&v, PG + 5)?, 0xaa);
        assert_eq!(op(&v, VMO_OP_DECOMMIT, PG, PG), Ok(()));
        assert_eq!(committed(&v), 3 * PG);
        assert_eq!(peek(&v, PG + 5)?, 0);
        assert_eq!(op(&v, VMO_OP_DECOMMIT, 1, PG), Err(Status::InvalidArgs));
        assert_eq!(op(&v, VMO_OP_DECOMMIT, 0, 1), Err(Status::InvalidArgs));
        // Out of range beats misaligned.
        assert_eq!(op(&v, VMO_OP_DECOMMIT, 1, 5 * PG), Err(Status::OutOfRange));
        assert_eq!(
            op(&v, VMO_OP_DECOMMIT, PG, u64::MAX),
            Err(Status::OutOfRange)
        );
        // Size zero is fine, even misaligned.
        assert_eq!(op(&v, VMO_OP_DECOMMIT, 1, 0), Ok(()));
        assert_eq!(committed(&v), 3 * PG);
        Ok(())
    }

    #[test]
    fn zero_is_byte_granular() -> Result {
        let v = Vmo::create(4 * PG, 0)?;
        for p in 0..3 {
            poke(&v, p * PG + 10, 1)?;
            poke(&v, p * PG + 100, 2)?;
        }
        assert_eq!(committed(&v), 3 * PG);
        // A partial page: zeroed in place, the rest of it kept.
        assert_eq!(op(&v, VMO_OP_ZERO, 5, 50), Ok(()));
        assert_eq!(peek(&v, 10)?, 0);
        assert_eq!(peek(&v, 100)?, 2);
        assert_eq!(committed(&v), 3 * PG);
        // A whole page is released.
        assert_eq!(op(&v, VMO_OP_ZERO, PG, PG), Ok(()));
        assert_eq!(committed(&v), 2 * PG);
        assert_eq!(peek(&v, PG + 100)?, 0);
        // An uncommitted range stays uncommitted.
        assert_eq!(op(&v, VMO_OP_ZERO, 3 * PG + 7, 100), Ok(()));
        assert_eq!(committed(&v), 2 * PG);
        assert_eq!(op(&v, VMO_OP_ZERO, 0, 4 * PG + 1), Err(Status::OutOfRange));
        assert_eq!(op(&v, VMO_OP_ZERO, 4 * PG, 0), Ok(()));
        Ok(())
    }

    #[test]
    fn lock_unlock_and_unknown_ops() -> Result {
        let v = Vmo::create(PG, 0)?;
        assert_eq!(op(&v, VMO_OP_LOCK, 0, PG), Err(Status::NotSupported));
        assert_eq!(op(&v, VMO_OP_UNLOCK, 0, PG), Err(Status::NotSupported));
        assert_eq!(
            v.op_range(Rights::MAP, VMO_OP_LOCK, 0, PG).map(|_| ()),
            Err(Status::AccessDenied)
        );
        for bad in [0, 5, 15, 16, 0xffff_ffff] {
            assert_eq!(op(&v, bad, 0, PG), Err(Status::InvalidArgs));
            // Unknown op wins over missing rights.
            assert_eq!(
                v.op_range(Rights(0), bad, 0, PG).map(|_| ()),
                Err(Status::InvalidArgs)
            );
        }
        Ok(())
    }

    #[test]
    fn rights_are_checked_before_ranges() -> Result {
        let v = Vmo::create(PG, 0)?;
        let read_only = Rights::READ;
        let write_only = Rights::WRITE;
        for o in [
            VMO_OP_COMMIT,
            VMO_OP_DECOMMIT,
            VMO_OP_ZERO,
            VMO_OP_CACHE_INVALIDATE,
        ] {
            assert_eq!(
                v.op_range(read_only, o, 0, u64::MAX).map(|_| ()),
                Err(Status::AccessDenied)
            );
            assert!(v.op_range(write_only, o, 0, PG).is_ok());
        }
        for o in [
            VMO_OP_CACHE_SYNC,
            VMO_OP_CACHE_CLEAN,
            VMO_OP_CACHE_CLEAN_INVALIDATE,
        ] {
            assert_eq!(
                v.op_range(write_only, o, 0, 0).map(|_| ()),
                Err(Status::AccessDenied)
            );
            assert!(v.op_range(read_only, o, 0, PG).is_ok());
        }
        Ok(())
    }

    #[test]
    fn cache_ops_visit_exactly_the_committed_lines() -> Result {
        let line = cache::line_size() as u64;
        let v = Vmo::create(8 * PG, 0)?;
        for o in [
            VMO_OP_CACHE_SYNC,
            VMO_OP_CACHE_CLEAN,
            VMO_OP_CACHE_CLEAN_INVALIDATE,
            VMO_OP_CACHE_INVALIDATE,
        ] {
            assert_eq!(op(&v, o, 0, 0), Err(Status::InvalidArgs));
            // Size 0 beats the range check.
            assert_eq!(op(&v, o, u64::MAX, 0), Err(Status::InvalidArgs));
            assert_eq!(op(&v, o, 8 * PG, 1), Err(Status::OutOfRange));
            assert_eq!(op(&v, o, 1, u64::MAX), Err(Status::OutOfRange));
            // Nothing committed: nothing visited, nothing committed afterwards.
            let s = v.op_range(ALL, o, 0, 8 * PG).map_err(Error::from)?;
            assert_eq!(s.pages, 0);
            assert_eq!(s.lines, 0);
        }
        assert_eq!(committed(&v), 0);
        poke(&v, 2 * PG, 1)?;
        poke(&v, 5 * PG, 1)?;
        // Whole VMO: two pages, every line of each.
        let s = v
            .op_range(ALL, VMO_OP_CACHE_CLEAN, 0, 8 * PG)
            .map_err(Error::from)?;
        assert_eq!(s.pages, 2);
        assert_eq!(s.lines, 2 * PG / line);
        assert!(s.instr.is_some());
        // A byte range inside page 2 that straddles a line boundary: two lines.
        let s = v
            .op_range(ALL, VMO_OP_CACHE_CLEAN_INVALIDATE, 2 * PG + line - 1, 2)
            .map_err(Error::from)?;
        assert_eq!((s.pages, s.lines), (1, 2));
        // A range across pages 2..=5 touches only the two committed ones, clipped.
        let s = v
            .op_range(ALL, VMO_OP_CACHE_INVALIDATE, 2 * PG + PG / 2, 3 * PG)
            .map_err(Error::from)?;
        assert_eq!(s.pages, 2);
        assert_eq!(s.lines, PG / 2 / line + PG / 2 / line);
        assert_eq!(committed(&v), 2 * PG);
        Ok(())
    }

    #[cfg(CONFIG_X86_64)]
    #[test]
    fn x86_cache_ops_run_the_expected_instruction() -> Result {
        use crate::cache::Instr;
        let v = Vmo::create(PG, 0)?;
        poke(&v, 0, 1)?;
        let clean = v
            .op_range(ALL, VMO_OP_CACHE_CLEAN, 0, PG)
            .map_err(Error::from)?;
        let flush = v
            .op_range(ALL, VMO_OP_CACHE_INVALIDATE, 0, PG)
            .map_err(Error::from)?;
        let sync = v
            .op_range(ALL, VMO_OP_CACHE_SYNC, 0, PG)
            .map_err(Error::from)?;
        // The guest runs with `-cpu max`, which has clwb and clflushopt.
        assert_eq!(clean.instr, Some(Instr::Clwb));
        assert_eq!(flush.instr, Some(Instr::Clflushopt));
        // SYNC serialises once; no per-line instruction.
        assert_eq!((sync.lines, sync.instr), (0, None));
        Ok(())
    }

    #[test]
    fn cache_ops_visit_every_committed_page_across_batches_and_gaps() -> Result {
        // The walk takes 32 folios per look-up and leaves a node of the page cache's tree once
        // it has seen all its entries: runs longer than a batch, pages alone in their nodes,
        // neighbours on both sides of a node boundary (index 64), the last page, and windows
        // that start and end inside pages and inside runs.
        let line = cache::line_size() as u64;
        let size = 1u64 << 36;
        let v = Vmo::create(size, 0)?;
        let mut pages = KVec::new();
        for x in 10..110u64 {
            pages.push(x, GFP_KERNEL)?;
        }
        for i in 0..40u64 {
            pages.push(1000 + i * 4099, GFP_KERNEL)?;
        }
        for x in [
            1 << 18,
            (1 << 18) + 63,
            (1 << 18) + 64,
            1 << 23,
            size / PG - 1,
        ] {
            pages.push(x, GFP_KERNEL)?;
        }
        for &x in pages.iter() {
            poke(&v, x * PG + 5, 1)?;
        }
        let lines = |s: u64, e: u64| (e - 1) / line - s / line + 1;
        for (start, end) in [
            (0, size),
            (15 * PG + 100, 20 * PG + 5),
            (109 * PG + PG - 1, 1000 * PG + 1),
            (((1 << 18) + 1) * PG, ((1 << 18) + 65) * PG),
            (50 * PG + 7, size - PG / 2),
            ((1 << 23) * PG, size),
            (111 * PG, 1000 * PG),
        ] {
            let (mut want_pages, mut want_lines) = (0u64, 0u64);
            for &x in pages.iter() {
                let (s, e) = ((x * PG).max(start), ((x + 1) * PG).min(end));
                if s < e {
                    want_pages += 1;
                    want_lines += lines(s, e);
                }
            }
            let s = v
                .op_range(ALL, VMO_OP_CACHE_CLEAN_INVALIDATE, start, end - start)
                .map_err(Error::from)?;
            assert_eq!((s.pages, s.lines), (want_pages, want_lines));
        }
        Ok(())
    }

    #[test]
    fn cache_op_over_a_sparse_terabyte_is_quick() -> Result {
        let tib = 1u64 << 40;
        let v = Vmo::create(tib, 0)?;
        for i in 0..64u64 {
            poke(&v, i * (tib / 64), 1)?;
        }
        let start = kernel::time::Instant::<kernel::time::Monotonic>::now();
        let s = v
            .op_range(ALL, VMO_OP_CACHE_CLEAN, 0, tib)
            .map_err(Error::from)?;
        let elapsed = start.elapsed().as_millis();
        assert_eq!(s.pages, 64);
        kernel::kunit::info(fmt!(
            "    # CACHE_CLEAN over 1 TiB with 64 committed pages: {} ms\n",
            elapsed
        ));
        // Generous bound (TCG is slow): a walk over 2^28 absent pages would take minutes.
        assert!(elapsed < 2000);
        Ok(())
    }

    #[test]
    fn slices_are_windows_on_the_parent() -> Result {
        let p = Vmo::create(4 * PG, 0)?;
        let s = p.create_child(VMO_CHILD_SLICE, PG, 2 * PG)?;
        assert_eq!(s.size(), 2 * PG);
        poke(&p, PG + 3, 7)?;
        assert_eq!(peek(&s, 3)?, 7);
        poke(&s, PG + 9, 9)?;
        assert_eq!(peek(&p, 2 * PG + 9)?, 9);
        assert_eq!(p.info().num_children, 1);
        assert_eq!(s.info().committed_bytes, 0);
        assert!(s.info().flags & VMO_INFO_FLAG_SLICE != 0);
        // DECOMMIT through the slice forwards to the parent.
        assert_eq!(op(&s, VMO_OP_DECOMMIT, 0, PG), Ok(()));
        assert_eq!(peek(&p, PG + 3)?, 0);
        assert_eq!(committed(&p), PG);
        // Slice of a slice: still a window on the root.
        let ss = s.create_child(VMO_CHILD_SLICE, PG, PG)?;
        assert_eq!(peek(&ss, 9)?, 9);
        // Bad slices.
        assert!(matches!(
            p.create_child(VMO_CHILD_SLICE, 1, PG),
            Err(Status::InvalidArgs)
        ));
        assert!(matches!(
            p.create_child(VMO_CHILD_SLICE, 4 * PG, PG),
            Err(Status::InvalidArgs)
        ));
        assert!(matches!(
            p.create_child(VMO_CHILD_SLICE, 2 * PG, 3 * PG),
            Err(Status::InvalidArgs)
        ));
        assert!(matches!(
            p.create_child(VMO_CHILD_SLICE | VMO_CHILD_SNAPSHOT, 0, PG),
            Err(Status::InvalidArgs)
        ));
        assert!(p
            .create_child(VMO_CHILD_SLICE | VMO_CHILD_NO_WRITE, 0, PG)
            .is_ok());
        let r = Vmo::create(PG, VMO_CREATE_RESIZABLE)?;
        assert!(matches!(
            r.create_child(VMO_CHILD_SLICE, 0, PG),
            Err(Status::NotSupported)
        ));
        drop(ss);
        drop(s);
        assert_eq!(p.info().num_children, 0);
        Ok(())
    }

    #[test]
    fn snapshots_share_pages_and_block_decommit_while_alive() -> Result {
        let p = Vmo::create(4 * PG, 0)?;
        poke(&p, 0, 1)?;
        poke(&p, 3 * PG, 3)?;
        assert_eq!(op(&p, VMO_OP_COMMIT, PG, PG), Ok(()));
        // Creation copies nothing: the child reads through to the parent's pages.
        let c = p.create_child(VMO_CHILD_SNAPSHOT, 0, 4 * PG)?;
        assert_eq!(committed(&c), 0);
        assert_eq!(committed(&p), 3 * PG);
        assert_eq!(peek(&c, 3 * PG)?, 3);
        assert!(c.info().flags & VMO_INFO_FLAG_IS_COW_CLONE != 0);
        assert_eq!(c.info().parent_koid, p.koid());
        // Neither side sees the other's later writes: the parent's write first gives the
        // child the page as it was; the child's write copies the page for the child alone.
        poke(&p, 0, 10)?;
        assert_eq!(committed(&c), PG);
        poke(&c, 3 * PG, 30)?;
        assert_eq!(committed(&c), 2 * PG);
        assert_eq!(committed(&p), 3 * PG);
        assert_eq!(peek(&c, 0)?, 1);
        assert_eq!(peek(&p, 0)?, 10);
        assert_eq!(peek(&p, 3 * PG)?, 3);
        assert_eq!(peek(&c, 3 * PG)?, 30);
        // DECOMMIT: not on the child, not on the parent while the child lives (even
        // misaligned: NOT_SUPPORTED comes first), not through a slice of the parent.
        assert_eq!(op(&c, VMO_OP_DECOMMIT, 0, PG), Err(Status::NotSupported));
        assert_eq!(op(&p, VMO_OP_DECOMMIT, 0, PG), Err(Status::NotSupported));
        assert_eq!(op(&p, VMO_OP_DECOMMIT, 1, 1), Err(Status::NotSupported));
        let s = p.create_child(VMO_CHILD_SLICE, 0, PG)?;
        assert_eq!(op(&s, VMO_OP_DECOMMIT, 0, PG), Err(Status::NotSupported));
        // ZERO still works on both.
        assert_eq!(op(&c, VMO_OP_ZERO, 0, PG), Ok(()));
        drop(c);
        assert_eq!(op(&p, VMO_OP_DECOMMIT, 0, PG), Ok(()));
        // A snapshot past the parent's end reads zeros there; a window at an offset.
        let c2 = p.create_child(VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 3 * PG, 4 * PG)?;
        assert_eq!(peek(&c2, 0)?, 3);
        assert_eq!(peek(&c2, PG)?, 0);
        assert_eq!(committed(&c2), 0);
        assert!(matches!(
            p.create_child(VMO_CHILD_SNAPSHOT, 1, PG),
            Err(Status::InvalidArgs)
        ));
        assert!(matches!(p.create_child(0, 0, PG), Err(Status::InvalidArgs)));
        assert!(matches!(
            p.create_child(VMO_CHILD_SNAPSHOT, u64::MAX - PG + 1, PG),
            Err(Status::OutOfRange)
        ));
        assert!(matches!(
            Vmo::check_child_args(VMO_CHILD_NO_WRITE | VMO_CHILD_RESIZABLE, PG),
            Err(Status::InvalidArgs)
        ));
        assert!(matches!(
            Vmo::check_child_args(0, u64::MAX),
            Err(Status::OutOfRange)
        ));
        Ok(())
    }

    #[test]
    fn snapshots_copy_a_page_only_when_it_is_written() -> Result {
        // A 1 TiB parent with one committed page: a full-size snapshot copies nothing until
        // one side writes the page.
        let p = Vmo::create(1 << 40, 0)?;
        poke(&p, 12345 * PG, 5)?;
        let c = p.create_child(VMO_CHILD_SNAPSHOT, 0, 1 << 40)?;
        assert_eq!(committed(&c), 0);
        assert_eq!(peek(&c, 12345 * PG)?, 5);
        poke(&p, 12345 * PG, 6)?;
        assert_eq!((committed(&c), committed(&p)), (PG, PG));
        assert_eq!((peek(&c, 12345 * PG)?, peek(&p, 12345 * PG)?), (5, 6));
        Ok(())
    }

    #[test]
    fn long_chains_of_children_drop_without_recursion() -> Result {
        // Each child keeps only its parent's counters, so dropping the last VMO of a long
        // chain (parents' handles long closed) frees one VMO, not the chain recursively.
        // A recursive drop overflows the 16 KiB kernel stack within a few hundred levels; the
        // chain is ten times longer than that, and short enough for the debug kernel.
        let mut v = Vmo::create(PG, 0)?;
        for _ in 0..3000 {
            v = v.create_child(VMO_CHILD_SLICE, 0, PG)?;
        }
        for _ in 0..100 {
            v = v.create_child(VMO_CHILD_SNAPSHOT, 0, PG)?;
        }
        poke(&v, 0, 1)?;
        assert_eq!(peek(&v, 0)?, 1);
        drop(v);
        Ok(())
    }

    #[test]
    fn parent_pages_go_with_the_parent() -> Result {
        // A closed child leaves its parent's child count right, whichever kind it was.
        let p = Vmo::create(PG, 0)?;
        let c = p.create_child(VMO_CHILD_SNAPSHOT, 0, PG)?;
        let s = p.create_child(VMO_CHILD_SLICE, 0, PG)?;
        assert_eq!(p.info().num_children, 2);
        drop(c);
        assert_eq!(p.info().num_children, 1);
        drop(s);
        assert_eq!(p.info().num_children, 0);
        Ok(())
    }

    #[test]
    fn child_rights_follow_zircon() {
        let ro = Rights::READ
            .with(Rights::DUPLICATE)
            .with(Rights::EXECUTE)
            .with(Rights::RESIZE);
        let slice = Vmo::child_rights(ro, VMO_CHILD_SLICE);
        assert!(!slice.contains(Rights::WRITE) && !slice.contains(Rights::RESIZE));
        assert!(slice.contains(Rights::EXECUTE));
        let snap = Vmo::child_rights(ro, VMO_CHILD_SNAPSHOT);
        assert!(snap.contains(Rights::WRITE) && !snap.contains(Rights::EXECUTE));
        let snap_ro = Vmo::child_rights(ro, VMO_CHILD_SNAPSHOT | VMO_CHILD_NO_WRITE);
        assert!(!snap_ro.contains(Rights::WRITE) && snap_ro.contains(Rights::EXECUTE));
        let slice_ro =
            Vmo::child_rights(ro.with(Rights::WRITE), VMO_CHILD_SLICE | VMO_CHILD_NO_WRITE);
        assert!(!slice_ro.contains(Rights::WRITE) && slice_ro.contains(Rights::EXECUTE));
        let resizable = Vmo::child_rights(ro, VMO_CHILD_SNAPSHOT | VMO_CHILD_RESIZABLE);
        assert!(resizable.contains(Rights::RESIZE));
    }

    #[test]
    fn set_size_shrinks_and_grows() -> Result {
        let fixed = Vmo::create(PG, 0)?;
        assert_eq!(fixed.set_size(2 * PG), Err(Status::Unavailable));
        let v = Vmo::create(4 * PG, VMO_CREATE_RESIZABLE)?;
        poke(&v, 3 * PG, 1)?;
        assert_eq!(v.set_size(PG + 1), Ok(()));
        assert_eq!(v.size(), 2 * PG);
        assert_eq!(committed(&v), 0);
        assert_eq!(op(&v, VMO_OP_COMMIT, 2 * PG, 1), Err(Status::OutOfRange));
        assert_eq!(v.set_size(u64::MAX), Err(Status::OutOfRange));
        assert_eq!(v.set_size(4 * PG), Ok(()));
        assert_eq!(peek(&v, 3 * PG)?, 0);
        Ok(())
    }

    /// `zx_pager_supply_pages` takes pages only from a plain VMO without children (Zircon's
    /// `VmObjectPaged::TakePages` and the `zx_pager_supply_pages` reference page): a
    /// pager-backed aux, a child or a parent is `BAD_STATE`, after the aux range and before
    /// the range of the pager VMO; nothing moves.
    #[test]
    fn supply_takes_pages_only_from_a_plain_vmo_without_children() -> Result {
        let pager = Pager::new(crate::pager::new_readiness()?)?;
        let pv = Vmo::create_pager_backed(&pager, 0, 1, 2 * PG)?;
        let plain = Vmo::create(2 * PG, 0)?;
        poke(&plain, 0, 7)?;
        let slice = plain.create_child(VMO_CHILD_SLICE, 0, PG)?;
        let snap = plain.create_child(VMO_CHILD_SNAPSHOT, 0, PG)?;
        assert_eq!(pv.supply_pages(0, PG, &plain, 0), Err(Status::BadState));
        assert_eq!(pv.supply_pages(0, PG, &slice, 0), Err(Status::BadState));
        assert_eq!(pv.supply_pages(0, PG, &snap, 0), Err(Status::BadState));
        assert_eq!(pv.supply_pages(0, PG, &pv, 0), Err(Status::BadState));
        assert_eq!(
            pv.supply_pages(0, PG, &plain, 2 * PG),
            Err(Status::OutOfRange)
        );
        assert_eq!(
            pv.supply_pages(2 * PG, PG, &plain, 0),
            Err(Status::BadState)
        );
        assert_eq!(pv.supply_pages(0, 0, &snap, 0), Err(Status::BadState));
        assert_eq!(committed(&plain), PG);
        drop(slice);
        drop(snap);
        assert_eq!(
            pv.supply_pages(2 * PG, PG, &plain, 0),
            Err(Status::OutOfRange)
        );
        assert_eq!(pv.supply_pages(0, PG, &plain, 0), Ok(()));
        assert_eq!(committed(&pv), PG);
        assert_eq!(peek(&pv, 0)?, 7);
        assert_eq!(committed(&plain), 0);
        Ok(())
    }

    /// A pager-backed VMO may be resizable (`VMO_CREATE_RESIZABLE`; the other option is
    /// `TRAP_DIRTY`, `DISCARDABLE` is refused): a shrink
    /// frees the pages past the end and makes a supply or COMMIT there `OUT_OF_RANGE`; a growth
    /// adds absent pages (for the pager to supply).
    #[test]
    fn pager_backed_vmos_may_be_resizable() -> Result {
        let pager = Pager::new(crate::pager::new_readiness()?)?;
        for bad in [1, 1 << 2, 1 << 31] {
            assert!(matches!(
                Vmo::create_pager_backed(&pager, bad, 1, PG),
                Err(Status::InvalidArgs)
            ));
        }
        assert!(matches!(
            Vmo::create_pager_backed(&pager, VMO_CREATE_RESIZABLE, 1, u64::MAX),
            Err(Status::OutOfRange)
        ));
        let fixed = Vmo::create_pager_backed(&pager, 0, 1, PG)?;
        assert_eq!(fixed.set_size(2 * PG), Err(Status::Unavailable));
        let v = Vmo::create_pager_backed(&pager, VMO_CREATE_RESIZABLE, 2, 4 * PG)?;
        let both = VMO_INFO_FLAG_RESIZABLE | VMO_INFO_FLAG_PAGER_BACKED;
        assert_eq!(v.info().flags & both, both);
        let aux = Vmo::create(4 * PG, 0)?;
        for p in 0..4 {
            poke(&aux, p * PG, p as u8 + 1)?;
        }
        v.supply_pages(0, 4 * PG, &aux, 0)?;
        assert_eq!(v.set_size(PG + 1), Ok(()));
        assert_eq!(v.size(), 2 * PG);
        assert_eq!(committed(&v), 2 * PG);
        let more = Vmo::create(PG, 0)?;
        assert_eq!(
            v.supply_pages(2 * PG, PG, &more, 0),
            Err(Status::OutOfRange)
        );
        assert_eq!(op(&v, VMO_OP_COMMIT, 2 * PG, 1), Err(Status::OutOfRange));
        assert_eq!(v.set_size(3 * PG), Ok(()));
        assert_eq!(peek(&v, 2 * PG)?, 0);
        assert_eq!(committed(&v), 2 * PG);
        assert_eq!(peek(&v, PG)?, 2);
        assert_eq!(op(&v, VMO_OP_COMMIT, 0, 2 * PG), Ok(()));
        Ok(())
    }
}
