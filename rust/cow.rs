// SPDX-License-Identifier: GPL-2.0

//! Copy-on-write families: the pages of VMOs and of their snapshot children.
//!
//! Every VMO that owns pages has a [`Node`]: a shmem file ([`Store`]) and, for a child made by
//! `SNAPSHOT` or `SNAPSHOT_AT_LEAST_ON_WRITE`, an edge to its parent's node with the page of the
//! parent where the child's window starts. Creating a child copies nothing and asks no pager
//! for anything: it adds the edge.
//!
//! **Finding a page.** A page of a node is its own file's page where that file has one;
//! otherwise, inside the part of the window that lay inside the parent (its *limit*), the
//! parent's page at the same place, found the same way; otherwise zeros. For a child of a
//! pager-backed VMO the walk may end at a page the pager has not supplied yet: it is asked for
//! (the same request for every VMO of the family that reaches it). The walk is a loop, not a
//! recursion: chains of any depth cost no stack.
//!
//! **When a page is copied.** A node's page is copied into its own file when the node writes
//! it (a `write`, a partial-page `ZERO`, a write fault) and when a fault maps it (a mapping
//! shows only the node's own pages: an ancestor's folio cannot join the rmap of the child's
//! file, so unmapping it when it changes could not find the child's mappings); COMMIT copies
//! every page of its range (Zircon: "a commit simulates write faults"). Reads and the cache
//! ops never copy. Before a node changes a page that a `SNAPSHOT` child still reads through
//! to it (a `write`, `ZERO`, a write fault on its mapping, a shrink past it), the page as it
//! was is first given to that child ([`Node::push`]): a snapshot keeps what its parent held
//! when it was made, as an eager copy would. A `SNAPSHOT_AT_LEAST_ON_WRITE` child of a
//! pager-backed VMO gets nothing pushed: it reads through to the live parent (Zircon's
//! unidirectional clone). For a parent that is not pager-backed it is a `SNAPSHOT`, as Zircon
//! may make it. A node whose VMO is closed stays while children read through it.
//!
//! **Mappings.** The write faults of every VMO mapping go through `page_mkwrite`, which pushes
//! before the page becomes writable; creating a snapshot of a parent that was ever written
//! through a mapping unmaps the parent's mappings of the window, so that a page written through
//! a mapping faults again first. Other parents keep their mappings: none of their entries is
//! writable.
//!
//! **Locking.** One mutex per family ([`Family`]) serialises the changes of pages that a child
//! may read through and the reads through them: writers push and write under it, readers of a
//! page they do not own copy it out under it, a new child is linked under it. Its holders never
//! fault on user memory: their user copies do not fault (page faults disabled); a copy that would fault
//! drops the lock, faults the buffer in and tries again. Nothing waits for a pager under it.
//! Its place in the module's lock order is in `pager.rs`.

use crate::{
    ffi,
    pager::PageSource,
    shmem::ShmemFile,
    status::{Status, ZxResult},
};
use kernel::{
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{
        atomic::{
            ordering::{Acquire, Full, Relaxed, Release},
            Atomic,
        },
        barrier::smp_mb,
        Arc, LockedBy, Mutex, MutexGuard,
    },
    uaccess::UserPtr,
};

/// The page size, as a byte count.
const PG: u64 = kernel::page::PAGE_SIZE as u64;

/// Pages (or runs of pages) done under the family lock before it is released and taken again.
const BATCH: u32 = 64;

/// How a child sees the pages of its parent that it does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// As they were when the child was made (`SNAPSHOT`): the parent pushes a page to the
    /// child before changing it.
    Snapshot,
    /// As they are now (`SNAPSHOT_AT_LEAST_ON_WRITE` of a pager-backed VMO).
    Live,
}

/// The locks of a family; the children of every node are [`LockedBy`] `lock`.
#[pin_data]
pub(crate) struct Family {
    /// Serialises what links a child or frees a node's pages (a new child; ZERO's hole punch,
    /// DECOMMIT, a truncation): taken before `lock`, and released only after the pages are
    /// freed, which shmem does under its inode lock. So no child is linked between the push of
    /// pages about to be freed and their freeing, while `lock` itself is never held under or
    /// around shmem's inode lock (a `write` to a shmem file holds that lock while its user copy
    /// may fault on a VMO mapping, which takes `lock`).
    #[pin]
    shape: Mutex<()>,
    #[pin]
    lock: Mutex<FamilyState>,
}

/// What the family lock owns: nothing but the right to the nodes' children. [`LockedBy`] tells
/// owners apart by address, so the owner may not be zero-sized.
pub(crate) struct FamilyState {
    _not_zero_sized: u8,
}

/// A node's pages.
struct Store {
    file: ShmemFile,
    /// The pages of this node, from its first, that read through to the parent where the
    /// node has none (no parent: 0). Set at creation to the part of the window inside the
    /// parent; it only shrinks (a shrink of the node or of its parent), under the family lock.
    limit: Atomic<u64>,
}

impl Store {
    /// The pages of a new node, reading nothing through (`limit` 0) until linked.
    fn new(file: ShmemFile) -> ZxResult<Arc<Store>> {
        let store = Store {
            file,
            limit: Atomic::new(0),
        };
        Ok(Arc::new(store, GFP_KERNEL_ACCOUNT)?)
    }
}

/// What a node keeps of a child: its pages and where its window starts in the node.
struct Child {
    store: Arc<Store>,
    base: u64,
    kind: Kind,
}

/// A node's tie to its parent.
struct Edge {
    node: Arc<Node>,
    /// The parent's page where this node's window starts.
    base: u64,
}

/// The pages of a VMO that owns pages (see the module documentation).
pub(crate) struct Node {
    id: u64,
    store: Arc<Store>,
    family: Arc<Family>,
    /// Set for a child, until the node is dropped.
    parent: Option<Edge>,
    /// The children that read through to this node, by id.
    children: LockedBy<RBTree<u64, Child>, FamilyState>,
    /// The node's size in pages: changed under both family locks, before the file shrinks or
    /// after it grows.
    pages: Atomic<u64>,
    /// The `Snapshot` children among `children`; changed under the family lock, read without
    /// it by `page_mkwrite`'s fast path.
    snapshots: Atomic<u32>,
    /// Whether a page of the file was ever made writable through a mapping (`page_mkwrite`
    /// ran): only then can a mapping hold a writable entry of one of its pages, so only then
    /// does a new snapshot unmap the parent's mappings of its window, wait for the write
    /// faults in flight and copy the pages that may be pinned for DMA at once (a pin for
    /// writing needs a writable mapping). Never
    /// cleared: pins outlive mappings. Set before `page_mkwrite` looks at `snapshots`, and
    /// read by a new snapshot after it counted itself there, both fully ordered, so one of
    /// them sees the other.
    written_through_mapping: Atomic<bool>,
    /// Whether the node's VMO is closed: the node lives on only for its children, nothing
    /// but pushes from its parent changes its pages, and no fd or mapping shows them.
    closed: Atomic<bool>,
    /// Whether the root of the node's chain is pager-backed.
    paged: bool,
    /// The page source of a pager-backed VMO: it lives as long as its pages, which children
    /// may read after the VMO is closed.
    source: Option<Arc<PageSource>>,
}

/// Where the content of a run of a node's pages is.
enum Found<'a> {
    /// Pages of this file from the given one: data, or zeros for a page that COMMIT allocated
    /// and nobody wrote.
    Pages(&'a ShmemFile, u64),
    /// Nowhere: the pages read as zeros.
    Zero,
    /// At this page of a pager-backed node, which does not hold it yet.
    Pager(&'a Node, u64),
}

/// Faults in `n` bytes of the user buffer at `buf` (for a copy into it if `write`); whether they
/// are all there now. No lock of the module may be held: the fault may wait for a pager.
pub(crate) fn fault_in_user(buf: UserPtr, n: usize, write: bool) -> bool {
    // SAFETY: the shim touches only user memory, with the fault-tolerant accessors, which check
    // the range.
    unsafe { ffi::vmo_fault_in_user(buf.as_mut_ptr(), n, write) }
}

/// Where a user copy that may not fault in its buffer stopped ([`Node::run`]): the bytes done
/// before the fault and how many bytes of the buffer, from there, to fault in.
pub(crate) type DeferredFault = core::cell::Cell<Option<(usize, usize)>>;

/// Why [`Node::prepare_fault`] could not make a page the node's own.
pub(crate) enum FaultStop<'a> {
    /// The pager-backed root of the chain must supply this page first: the fault waits for it
    /// without its locks and is retried.
    Pager(&'a Arc<PageSource>, u64),
    /// Another failure (no memory, say): the fault is fatal.
    Failed,
}

/// Why a step under the family lock stopped before the end.
enum Stop<'a> {
    /// A user copy would fault at the user address: fault it in without the lock, go on.
    Fault(UserPtr, usize, bool),
    /// A pager must supply this page of this node first.
    Pager(&'a Node, u64),
}

/// The failure of one step under the lock.
enum StepErr<'a> {
    Stop(Stop<'a>),
    Err(Status),
}

impl From<Status> for StepErr<'_> {
    fn from(s: Status) -> Self {
        StepErr::Err(s)
    }
}

/// A page index as a `pgoff_t` (the module is built for 64-bit kernels only, where both are
/// 64 bits wide).
fn pgoff(x: u64) -> usize {
    x as usize
}

/// An errno from a shim as a result.
fn errno(r: c_int) -> Result<c_int> {
    if r < 0 {
        Err(Error::from_errno(r))
    } else {
        Ok(r)
    }
}

use core::ffi::c_void;
use kernel::{bindings, ffi::c_int};

/// Fills the folio holding page `x` of `dst` if it holds no data (`vmo_cow_fill`): each of
/// its pages from what `src_of` says that page reads now, `Ok(Some((file, page)))` a page of a
/// file, `Ok(None)` zeros, or `Err(errno)` to stop without filling anything (the error is
/// returned). The caller holds the family lock, which keeps the
/// source pages from changing, and the files `src_of` names are live while it runs.
fn fill_folio<'f, F>(dst: &ShmemFile, x: u64, mut src_of: F) -> Result
where
    F: FnMut(u64) -> Result<Option<(&'f ShmemFile, u64)>, Error>,
{
    /// Adapts the C callback to the closure `F`.
    ///
    /// # Safety
    ///
    /// `ctx` must point to an `F` that is not otherwise borrowed; `src` and `src_index` must
    /// be valid for writes.
    unsafe extern "C" fn trampoline<'f, F>(
        ctx: *mut c_void,
        index: usize,
        src: *mut *mut bindings::file,
        src_index: *mut usize,
    ) -> c_int
    where
        F: FnMut(u64) -> Result<Option<(&'f ShmemFile, u64)>, Error>,
    {
        // SAFETY: `ctx` is the `&mut F` that `fill_folio` passed.
        let f = unsafe { &mut *ctx.cast::<F>() };
        match f(index as u64) {
            Ok(Some((file, page))) => {
                // SAFETY: both are valid for writes (function contract).
                unsafe {
                    *src = file.as_ptr();
                    *src_index = pgoff(page);
                }
                1
            }
            Ok(None) => 0,
            Err(e) => e.to_errno(),
        }
    }

    // SAFETY: `dst` is a live shmem file; the callback gets a pointer to `src_of`, which outlives
    // the call and is not used elsewhere meanwhile, and hands back files that live for `'f`.
    let r = unsafe {
        ffi::vmo_cow_fill(
            dst.as_ptr(),
            pgoff(x),
            Some(trampoline::<'f, F>),
            (&raw mut src_of).cast(),
        )
    };
    errno(r)?;
    Ok(())
}

impl Node {
    fn alloc(
        id: u64,
        store: Arc<Store>,
        family: Arc<Family>,
        parent: Option<Edge>,
        source: Option<Arc<PageSource>>,
    ) -> ZxResult<Arc<Node>> {
        let children = LockedBy::new(&family.lock, RBTree::new());
        let paged = match &parent {
            Some(e) => e.node.paged,
            None => source.is_some(),
        };
        let pages = Atomic::new(store.file.size().div_ceil(PG));
        Ok(Arc::new(
            Node {
                id,
                store,
                family,
                parent,
                children,
                pages,
                snapshots: Atomic::new(0),
                written_through_mapping: Atomic::new(false),
                closed: Atomic::new(false),
                paged,
                source,
            },
            GFP_KERNEL_ACCOUNT,
        )?)
    }

    /// The node of a VMO made by `zx_vmo_create` or `zx_pager_create_vmo` (with `source`).
    pub(crate) fn new_root(
        id: u64,
        file: ShmemFile,
        source: Option<Arc<PageSource>>,
    ) -> ZxResult<Arc<Node>> {
        let family = Arc::pin_init(
            pin_init!(Family {
                shape <- new_mutex!(()),
                lock <- new_mutex!(FamilyState { _not_zero_sized: 0 }),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        let store = Store::new(file)?;
        Self::alloc(id, store, family, None, source)
    }

    /// A child of `parent` whose window starts at page `base` of it and has `end` pages
    /// (`file` has the child's size); the pages of the window inside the parent's file read
    /// through to it. A `Snapshot` child of a parent ever written through a mapping unmaps the
    /// parent's mappings of the window, so that a later write through them pushes the page
    /// first (the entries of any other parent are all read-only, and stay).
    pub(crate) fn new_child(
        parent: &Arc<Node>,
        id: u64,
        file: ShmemFile,
        base: u64,
        end: u64,
        kind: Kind,
    ) -> ZxResult<Arc<Node>> {
        let store = Store::new(file)?;
        let entry = RBTreeNode::new(
            id,
            Child {
                store: store.clone(),
                base,
                kind,
            },
            GFP_KERNEL_ACCOUNT,
        )?;
        let edge = Edge {
            node: parent.clone(),
            base,
        };
        let node = Self::alloc(id, store, parent.family.clone(), Some(edge), None)?;
        // Once nothing can fail, before the child is linked: it reads the parent's pages under
        // the family lock, so none may be evicted from now on (a failed creation keeps none).
        if let Some(s) = &parent.source {
            s.keep_pages();
        }
        let _shape = parent.family.shape.lock();
        let mut g = parent.family.lock.lock();
        // The parent's size is stable under the family locks (`Node::set_size`).
        let limit = parent.pages.load(Relaxed).min(end).saturating_sub(base);
        node.store.limit.store(limit, Relaxed);
        parent.children.access_mut(&mut g).insert(entry);
        if kind == Kind::Live {
            return Ok(node);
        }
        parent.snapshots.fetch_add(1, Full);
        drop(g);
        // A page of the window written through a mapping from now on faults into
        // `page_mkwrite`, which pushes it first. Only a parent that was ever written through a
        // mapping can have writable page table entries (every write fault of a VMO mapping
        // runs `page_mkwrite`, which set the flag before it looked at `snapshots`, both fully
        // ordered: a fault that did not see this snapshot is seen here). Its mappings lose the
        // window's entries; those of any other parent stay, read-only, as they are.
        if limit != 0 && parent.written_through_mapping.load(Relaxed) {
            parent.store.file.unmap(base * PG, limit * PG);
            node.quiesce_parent(parent, base, limit)?;
        }
        Ok(node)
    }

    /// The rest of a new snapshot's creation when its parent was ever mapped writable: a
    /// write fault that pushed before the snapshot was linked may install its writable page
    /// table entry after the unmap above, so wait for those (they hold the page's folio lock
    /// until then) and unmap again. A page that may be pinned for DMA is written behind the
    /// page tables: the snapshot gets its copy now (as `fork` copies pinned pages).
    fn quiesce_parent(&self, parent: &Node, base: u64, limit: u64) -> ZxResult {
        let file = &parent.store.file;
        let (mut at, end) = (base, base + limit);
        while at < end {
            // SAFETY: the file is a live shmem file; the shim takes folio locks only.
            let pinned = unsafe { ffi::vmo_shmem_quiesce(file.as_ptr(), pgoff(at), pgoff(end)) };
            let pinned = pinned as u64;
            if pinned >= end {
                break;
            }
            let mut g = self.family.lock.lock();
            if let Err(StepErr::Err(s)) = self.materialize(&mut g, pinned - base) {
                return Err(s);
            }
            drop(g);
            at = pinned + 1;
        }
        file.unmap(base * PG, limit * PG);
        Ok(())
    }

    /// The node's shmem file.
    pub(crate) fn file(&self) -> &ShmemFile {
        &self.store.file
    }

    /// The page source of a pager-backed node.
    pub(crate) fn source(&self) -> Option<&Arc<PageSource>> {
        self.source.as_ref()
    }

    /// Whether this node reads through to a parent.
    pub(crate) fn has_parent(&self) -> bool {
        self.parent.is_some()
    }

    /// Whether the root of this node's chain is pager-backed.
    pub(crate) fn root_is_paged(&self) -> bool {
        self.paged
    }

    /// The node's VMO is closed (see [`Node::trim`]).
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Relaxed);
    }

    /// Frees what closed ancestors hold that only this node can still see: the closed
    /// ancestors above it that have no other child (and no pager) give the pages this node
    /// reads from them to this node (a copy each, once), then free all they hold, which
    /// nobody can see any more. Without this a closed parent whose only child has written
    /// its pages would keep its copies until the child closes, and a chain of snapshots
    /// whose parents are closed one by one would grow by a copy per generation. Run after a
    /// `write`, COMMIT or ZERO of a child (ioctl context).
    fn trim(&self) -> ZxResult {
        let Some(e) = &self.parent else {
            return Ok(());
        };
        if self.paged || !e.node.closed.load(Relaxed) {
            return Ok(());
        }
        let mut g = self.family.lock.lock();
        // The closed ancestors whose only child is on this node's line, each with where this
        // node's page 0 is in it (`offset`) and how many of this node's pages reach it.
        let mut line: KVec<(&Node, u64, u64)> = KVec::new();
        let (mut node, mut offset, mut reach) = (self, 0u64, self.store.limit.load(Relaxed));
        while let Some(e) = &node.parent {
            let a = &*e.node;
            if reach == 0 || !a.closed.load(Relaxed) || a.children.access(&g).iter().count() != 1 {
                break;
            }
            // Cannot overflow: each window lies inside its parent.
            offset += e.base;
            if line.push((a, offset, reach), GFP_KERNEL).is_err() {
                break;
            }
            reach = reach.min(a.store.limit.load(Relaxed).saturating_sub(offset));
            node = a;
        }
        if line
            .iter()
            .all(|(a, _, _)| a.store.file.committed_bytes() == 0)
        {
            return Ok(());
        }
        // This node gets every page it reads from them (a copy each)...
        for &(a, offset, reach) in line.iter() {
            let mut x = 0u64;
            while x < reach {
                let (hole, hole_end) = a.store.file.find_unheld(offset + x, offset + reach);
                for p in offset + x..hole {
                    if let Err(StepErr::Err(s)) = self.materialize(&mut g, p - offset) {
                        return Err(s);
                    }
                }
                if hole >= offset + reach {
                    break;
                }
                x = hole_end.max(hole + 1) - offset;
            }
        }
        // ... and nobody sees their pages any more: free them. A closed node has no fd and no
        // mapping, and every other access to its file is under the family lock, held here.
        for (a, _, _) in line.iter() {
            // SAFETY: a live shmem file of a closed node, under the family lock (see above).
            unsafe { ffi::vmo_shmem_drop_pages(a.store.file.as_ptr()) };
        }
        drop(g);
        Ok(())
    }

    /// Runs `f` with the family's shape lock held (no child is linked meanwhile), telling it
    /// whether this node has a parent or children (closed ones whose children live included).
    pub(crate) fn with_shape<T>(&self, f: impl FnOnce(bool) -> T) -> T {
        let _shape = self.family.shape.lock();
        let g = self.family.lock.lock();
        let relatives = self.parent.is_some() || !self.children.access(&g).is_empty();
        drop(g);
        f(relatives)
    }

    /// Runs `f` if this node has no children and no parent, what DECOMMIT needs
    /// (`NOT_SUPPORTED` otherwise); a new child waits for `f` (which may free pages).
    pub(crate) fn with_no_relatives(&self, f: impl FnOnce(&ShmemFile) -> ZxResult) -> ZxResult {
        let _shape = self.family.shape.lock();
        let g = self.family.lock.lock();
        if self.parent.is_some() || !self.children.access(&g).is_empty() {
            return Err(Status::NotSupported);
        }
        drop(g);
        f(&self.store.file)
    }

    /// Where pages `[x, end)` of this node are: the first run of them that is in one place,
    /// and its length (at least 1). `x < end`.
    fn resolve(&self, x: u64, end: u64) -> (Found<'_>, u64) {
        let (mut node, mut idx, mut len) = (self, x, end - x);
        loop {
            // A file that holds nothing (a closed node trimmed empty, a new child) is one hole.
            let (hole, hole_end) = if node.store.file.committed_bytes() == 0 {
                (idx, idx + len)
            } else {
                node.store.file.find_unheld(idx, idx + len)
            };
            if hole > idx {
                return (Found::Pages(&node.store.file, idx), hole - idx);
            }
            len = hole_end.saturating_sub(idx).max(1);
            let Some(e) = &node.parent else {
                return match &node.source {
                    Some(_) => (Found::Pager(node, idx), len),
                    None => (Found::Zero, len),
                };
            };
            let limit = node.store.limit.load(Relaxed);
            if idx >= limit {
                return (Found::Zero, len);
            }
            len = len.min(limit - idx);
            // Cannot overflow: the window lies inside the parent's size, which is at most
            // `VMO_MAX_SIZE`.
            idx += e.base;
            node = &e.node;
        }
    }

    /// What page `x` of this node reads through to its parent (it does not hold it itself).
    fn parent_source(&self, x: u64) -> Found<'_> {
        match &self.parent {
            Some(e) if x < self.store.limit.load(Relaxed) => {
                // Cannot overflow: the window lies inside the parent.
                e.node.resolve(x + e.base, x + e.base + 1).0
            }
            _ => Found::Zero,
        }
    }

    /// Makes page `x` of this node (which has a parent) its own: a copy of what it reads
    /// there now, if it does not hold it.
    fn materialize<'a>(&'a self, _g: &mut FamilyState, x: u64) -> Result<(), StepErr<'a>> {
        if self.store.file.holds(x) {
            return Ok(());
        }
        let mut pager = None;
        let r = fill_folio(&self.store.file, x, |i| match self.parent_source(i) {
            Found::Pages(f, sx) => Ok(Some((f, sx))),
            Found::Zero => Ok(None),
            Found::Pager(n, px) => {
                pager = Some((n, px));
                Err(EAGAIN)
            }
        });
        match (r, pager) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some((n, px))) => Err(StepErr::Stop(Stop::Pager(n, px))),
            (Err(e), None) => Err(StepErr::Err(Status::from_mm(e))),
        }
    }

    /// Gives pages `[start, end)` of this node, as they read now, to every `Snapshot` child
    /// that reads them through this node, before this node changes them. Pages that read as
    /// zeros are given as zero pages only with `zeros` (a write; a ZERO or a shrink leaves a
    /// page that reads as zeros reading as zeros).
    fn push(&self, g: &mut FamilyState, start: u64, end: u64, zeros: bool) -> ZxResult {
        for (_, c) in self.children.access(g).iter() {
            if c.kind != Kind::Snapshot {
                continue;
            }
            let limit = c.store.limit.load(Relaxed);
            let (s, e) = (start.max(c.base), end.min(c.base.saturating_add(limit)));
            let mut p = s;
            while p < e {
                // The run of pages the child does not hold, in this node's numbers.
                let (h, he) = c.store.file.find_unheld(p - c.base, e - c.base);
                if h >= e - c.base {
                    break;
                }
                let (hs, he) = (h + c.base, (he + c.base).min(e).max(h + c.base + 1));
                let mut q = hs;
                while q < he {
                    let (found, n) = self.resolve(q, he);
                    if matches!(found, Found::Zero) && !zeros {
                        q += n;
                        continue;
                    }
                    for i in q..q + n {
                        // The child's folio is filled whole: each of its pages with what the
                        // child reads there now (zeros past its limit).
                        fill_folio(&c.store.file, i - c.base, |ci| {
                            if ci >= limit {
                                return Ok(None);
                            }
                            match self.resolve(ci + c.base, ci + c.base + 1).0 {
                                Found::Pages(f, sx) => Ok(Some((f, sx))),
                                Found::Zero => Ok(None),
                                // A snapshot family has no pager.
                                Found::Pager(..) => Err(EINVAL),
                            }
                        })
                        .map_err(Status::from_mm)?;
                    }
                    q += n;
                }
                p = he;
            }
        }
        Ok(())
    }

    /// Runs `step` under the family lock until it has done `len` bytes (from 0), dropping the
    /// lock every [`BATCH`] steps, to fault in a user buffer, and to wait for a pager when it
    /// stops for that (`may_wait`; else `EAGAIN`, which never reaches user space: the caller
    /// holds a lock that nobody may hold while waiting for a pager, and pages the range in with
    /// [`Node::page_in`] before it takes that lock again). With `defer`, a user buffer is not
    /// faulted in here either (its fault may wait for a pager, as long as that pager likes):
    /// the bytes done and the bytes to fault in go to `defer` and the run ends with `EFAULT`,
    /// for the caller to fault them in once it dropped its lock and go on. `step` gets the lock
    /// and the bytes done so far, and returns the bytes it did (at least 1).
    fn run<'n, F>(
        &'n self,
        len: usize,
        may_wait: bool,
        defer: Option<&DeferredFault>,
        mut step: F,
    ) -> ZxResult
    where
        F: FnMut(&mut FamilyState, usize) -> Result<usize, StepErr<'n>>,
    {
        let mut done = 0usize;
        // Faults in a row at the same place: a buffer that faults in but still cannot be
        // copied (it keeps being reclaimed, or the copy and the fault-in disagree) fails.
        let mut faults = 0u32;
        while done < len {
            let mut g: MutexGuard<'_, FamilyState> = self.family.lock.lock();
            let mut steps = 0u32;
            let stop = loop {
                if done >= len {
                    return Ok(());
                }
                if steps == BATCH {
                    // Let faults and other ioctls of the family in.
                    break None;
                }
                steps += 1;
                match step(&mut g, done) {
                    Ok(n) => {
                        done += n;
                        faults = 0;
                    }
                    Err(StepErr::Err(s)) => return Err(s),
                    Err(StepErr::Stop(s)) => break Some(s),
                }
            };
            drop(g);
            match stop {
                None => {}
                Some(Stop::Fault(buf, n, write)) => {
                    if let Some(d) = defer {
                        d.set(Some((done, n)));
                        return Err(Status::Kernel(EFAULT));
                    }
                    faults += 1;
                    if faults > 8 || !fault_in_user(buf, n, write) {
                        return Err(Status::Kernel(EFAULT));
                    }
                }
                Some(Stop::Pager(n, px)) => {
                    if !may_wait {
                        return Err(Status::Kernel(EAGAIN));
                    }
                    if let Some(s) = &n.source {
                        s.populate(px, px + 1, false)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes `len` bytes from `buf` at byte `pos` of this node (`zx_vmo_write`): each page is
    /// made the node's own, pushed to the snapshot children still reading it, then written.
    /// With `defer`, a fault of `buf` ends it early (see [`Node::run`]).
    pub(crate) fn write_user(
        &self,
        buf: UserPtr,
        pos: u64,
        len: usize,
        may_wait: bool,
        defer: Option<&DeferredFault>,
    ) -> ZxResult {
        self.run(len, may_wait, defer, |g, done| {
            let at = pos + done as u64;
            let (x, off) = (at / PG, (at % PG) as usize);
            let n = (len - done).min(PG as usize - off);
            if self.parent.is_some() {
                self.materialize(g, x)?;
            }
            self.push(g, x, x + 1, true)?;
            let ubuf = buf.wrapping_byte_add(done);
            // SAFETY: the file is a live shmem file; the shim copies with the non-faulting
            // user-copy routine, which checks the user range.
            let r = unsafe {
                ffi::vmo_cow_write_user(self.store.file.as_ptr(), at as i64, ubuf.as_mut_ptr(), n)
            };
            match errno(r) {
                Ok(_) => Ok(n),
                Err(e) if e == EFAULT => Err(StepErr::Stop(Stop::Fault(ubuf, n, false))),
                Err(e) => Err(StepErr::Err(Status::from_mm(e))),
            }
        })?;
        self.trim()
    }

    /// Reads `len` bytes at byte `pos` of this node into `buf` (`zx_vmo_read`), from wherever
    /// each page is: nothing is copied into the node.
    pub(crate) fn read_user(&self, buf: UserPtr, pos: u64, len: usize, may_wait: bool) -> ZxResult {
        self.run(len, may_wait, None, |_g, done| {
            let at = pos + done as u64;
            let (x, off) = (at / PG, at % PG);
            let n = (len - done).min((PG - off) as usize);
            let (src, sx) = match self.resolve(x, x + 1).0 {
                Found::Pages(f, sx) => (f.as_ptr(), sx),
                Found::Zero => (core::ptr::null_mut(), 0),
                Found::Pager(node, px) => return Err(StepErr::Stop(Stop::Pager(node, px))),
            };
            let ubuf = buf.wrapping_byte_add(done);
            // SAFETY: `src` is null or a live shmem file (the node and its ancestors hold
            // them); the family lock keeps the page from changing; the shim copies with the
            // non-faulting user-copy routine, which checks the user range.
            let r = unsafe {
                ffi::vmo_cow_read_user(src, (sx * PG + off) as i64, ubuf.as_mut_ptr(), n)
            };
            match errno(r) {
                Ok(_) => Ok(n),
                Err(e) if e == EFAULT => Err(StepErr::Stop(Stop::Fault(ubuf, n, true))),
                Err(e) => Err(StepErr::Err(Status::Kernel(e))),
            }
        })
    }

    /// ZERO of bytes `[pos, pos + len)` (inside the node's size). The pages are pushed to the
    /// snapshot children first. A root frees its whole pages (shmem's hole punch, which also
    /// zeroes the partial ones in place); a child, whose holes read through to its parent,
    /// zeroes the pages it holds in place, takes a zero page where it reads an ancestor's page
    /// and leaves pages that read as zeros alone. A partial page that a live child reads from
    /// a pager that has not supplied it yet is asked of the pager first.
    pub(crate) fn zero(&self, pos: u64, len: u64, may_wait: bool) -> ZxResult {
        if len == 0 {
            return Ok(());
        }
        let end = pos + len;
        let (first, last) = (pos / PG, end.div_ceil(PG));
        if self.parent.is_none() {
            // The pages go to the snapshots still reading them, then are freed; no child is
            // linked in between.
            let _shape = self.family.shape.lock();
            let mut g = self.family.lock.lock();
            self.push(&mut g, first, last, false)?;
            drop(g);
            return self.store.file.punch(pos, len).map_err(Status::from_mm);
        }
        let total = usize::try_from(len).map_err(|_| Status::OutOfRange)?;
        self.run(total, may_wait, None, |g, done| {
            let at = pos + done as u64;
            let x = at / PG;
            let (found, n) = self.resolve(x, last);
            let page_end = ((x + 1) * PG).min(end);
            let own = match found {
                // Nothing to zero: the run reads as zeros and stays so.
                Found::Zero => return Ok((((x + n) * PG).min(end) - at) as usize),
                Found::Pages(f, _) => core::ptr::eq(f, &self.store.file),
                Found::Pager(..) => false,
            };
            self.push(g, x, x + 1, false)?;
            if !own && page_end - at != PG {
                // The rest of a partial page keeps what the node reads there.
                self.materialize(g, x)?;
            }
            self.store
                .file
                .fill(at, None, (page_end - at) as usize)
                .map_err(Status::from_mm)?;
            Ok((page_end - at) as usize)
        })?;
        self.trim()
    }

    /// COMMIT of pages `[first, last)` of a child: each page is made its own (Zircon: "a commit
    /// simulates write faults"). A root commits with shmem's fallocate, without this.
    pub(crate) fn commit_child(&self, first: u64, last: u64, may_wait: bool) -> ZxResult {
        let pages = usize::try_from(last - first).map_err(|_| Status::OutOfRange)?;
        self.run(pages, may_wait, None, |g, done| {
            self.materialize(g, first + done as u64)?;
            Ok(1)
        })?;
        self.trim()
    }

    /// Calls `f` with each run of pages of `[first, last)` that this node reads from a file's
    /// present pages: the file, the run's first page in it, the run's first page in this node
    /// and its length. Runs that read as zeros (or that a pager has not supplied) are skipped,
    /// so the cost follows the pages present, not the range.
    pub(crate) fn for_each_run(
        &self,
        first: u64,
        last: u64,
        mut f: impl FnMut(&ShmemFile, u64, u64, u64) -> ZxResult,
    ) -> ZxResult {
        let mut x = first;
        while x < last {
            let _g = self.family.lock.lock();
            let mut pages = 0u64;
            while x < last && pages < u64::from(BATCH) {
                // Runs that read as zeros are skipped whole, however long (a sparse VMO of
                // any size); at most a batch of present pages is visited under the lock.
                let (found, n) = self.resolve(x, last);
                let n = match found {
                    Found::Pages(file, sx) => {
                        let n = n.min(u64::from(BATCH) - pages);
                        f(file, sx, x, n)?;
                        pages += n;
                        n
                    }
                    _ => n,
                };
                x += n;
            }
        }
        Ok(())
    }

    /// Asks the pager of this node's chain for the pages of `[first, last)` that the node reads
    /// from its pager-backed root and that the root does not hold yet, and waits for them.
    pub(crate) fn page_in(&self, first: u64, last: u64) -> ZxResult {
        let mut x = first;
        while x < last {
            let g = self.family.lock.lock();
            let (found, n) = self.resolve(x, last);
            let want = match found {
                Found::Pager(root, px) => root.source.as_ref().map(|s| (s.clone(), px)),
                _ => None,
            };
            drop(g);
            if let Some((source, px)) = want {
                source.populate(px, px + n, false)?;
            }
            x += n;
        }
        Ok(())
    }

    /// Before a fault maps page `x` of this node (which has a parent): makes it the node's
    /// own.
    pub(crate) fn prepare_fault(&self, x: u64) -> Result<(), FaultStop<'_>> {
        let mut g = self.family.lock.lock();
        match self.materialize(&mut g, x) {
            Ok(()) => Ok(()),
            Err(StepErr::Stop(Stop::Pager(n, px))) => match &n.source {
                Some(s) => Err(FaultStop::Pager(s, px)),
                None => Err(FaultStop::Failed),
            },
            Err(StepErr::Stop(Stop::Fault(..)) | StepErr::Err(_)) => Err(FaultStop::Failed),
        }
    }

    /// `page_mkwrite` of page `x` of this node: pushes it to the snapshot children still
    /// reading it, then locks the page's folio with `lock` (which returns false, unlocked, if
    /// the page left the file meanwhile) before the family lock is released. The fault holds
    /// the folio lock until its writable page table entry is in place, which a new snapshot
    /// waits for ([`Node::quiesce_parent`]). Returns whether the folio is locked. Without
    /// snapshot children only the folio is locked, and the count is checked again under it.
    pub(crate) fn prepare_write(
        &self,
        x: u64,
        lock: impl Fn() -> bool,
        unlock: impl FnOnce(),
    ) -> ZxResult<bool> {
        // A full barrier between the flag and `snapshots` even when the flag is set already
        // (by another fault, maybe still in flight): a new snapshot orders its count before
        // its look at the flag the same way, so one of the two sees the other.
        if self.written_through_mapping.load(Relaxed) {
            smp_mb(Full);
        } else {
            self.written_through_mapping.xchg(true, Full);
        }
        if self.snapshots.load(Acquire) == 0 {
            if !lock() {
                return Ok(false);
            }
            if self.snapshots.load(Acquire) == 0 {
                return Ok(true);
            }
            unlock();
        }
        let mut g = self.family.lock.lock();
        self.push(&mut g, x, x + 1, true)?;
        Ok(lock())
    }

    /// Sets the size of the node's file to `size` bytes (`zx_vmo_set_size`). A shrink first
    /// pushes the pages past the end to the snapshot children still reading them and cuts
    /// what every child reads through to the new end; the node's own window on its parent
    /// is cut too, so that a later growth reads zeros there (as Zircon's parent limit does).
    pub(crate) fn set_size(&self, size: u64) -> ZxResult {
        let _shape = self.family.shape.lock();
        let (new_pages, old_pages) = (size.div_ceil(PG), self.pages.load(Relaxed));
        if new_pages >= old_pages {
            self.store.file.set_size(size).map_err(Status::from_mm)?;
            let _g = self.family.lock.lock();
            self.pages.store(new_pages, Relaxed);
            return Ok(());
        }
        let mut g = self.family.lock.lock();
        self.push(&mut g, new_pages, old_pages, false)?;
        for (_, c) in self.children.access(&g).iter() {
            let lim = c.store.limit.load(Relaxed);
            c.store
                .limit
                .store(lim.min(new_pages.saturating_sub(c.base)), Relaxed);
        }
        let lim = self.store.limit.load(Relaxed);
        self.store.limit.store(lim.min(new_pages), Relaxed);
        self.pages.store(new_pages, Relaxed);
        drop(g);
        if let Err(e) = self.store.file.set_size(size) {
            // Nothing was freed: the node keeps its size (the pages pushed stay with the
            // children, which hold what they read; the cut limits only hide pages past a size
            // the caller restores).
            let _g = self.family.lock.lock();
            self.pages.store(old_pages, Relaxed);
            return Err(Status::from_mm(e));
        }
        Ok(())
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
impl Node {
    /// Writes `data` at byte `pos` as a `write` would (made own, pushed, written), from a
    /// kernel buffer: for the KUnit suites.
    pub(crate) fn write_bytes(&self, pos: u64, data: &[u8]) -> Result {
        let end = pos.checked_add(data.len() as u64).ok_or(EINVAL)?;
        let (first, last) = (pos / PG, end.div_ceil(PG));
        let mut g = self.family.lock.lock();
        for x in first..last {
            if self.parent.is_some() && self.materialize(&mut g, x).is_err() {
                return Err(EINVAL);
            }
        }
        self.push(&mut g, first, last, true)?;
        // Written through the VFS (the inode lock), so after the family lock is dropped.
        drop(g);
        self.store.file.write_bytes(data, pos)?;
        Ok(self.trim()?)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The pages go: so does the page source (its pager gets COMPLETE).
        if let Some(s) = &self.source {
            s.detach_only();
        }
        // Unlink from the parent; a parent this held last is dropped here, its own parent
        // next, and so on: a loop, so that a long chain of closed VMOs costs no stack.
        let mut next = self.unlink();
        while let Some(parent) = next {
            next = match Arc::into_unique_or_drop(parent) {
                Some(mut unique) => {
                    let node = Pin::get_mut(unique.as_mut());
                    let up = node.unlink();
                    // Dropped here: its own `drop` finds no parent left to unlink.
                    drop(unique);
                    up
                }
                None => None,
            };
        }
    }
}

impl Node {
    /// Removes this node from its parent's children; returns the reference to the parent.
    fn unlink(&mut self) -> Option<Arc<Node>> {
        let edge = self.parent.take()?;
        let mut g = self.family.lock.lock();
        let gone = edge.node.children.access_mut(&mut g).remove(&self.id);
        if gone.as_ref().is_some_and(|c| c.kind == Kind::Snapshot) {
            edge.node.snapshots.fetch_sub(1, Release);
        }
        drop(g);
        drop(gone);
        Some(edge.node)
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kunit_tests(vmo_cow)]
mod tests {
    use super::PG;
    use crate::{rights::Rights, status::Status, uapi::*, vmo::Vmo};
    use kernel::{prelude::*, sync::Arc};

    const ALL: Rights = Rights::DEFAULT_VMO;

    fn write(v: &Vmo, pos: u64, byte: u8) -> Result {
        v.write_bytes_for_test(pos, byte)
    }

    fn read(v: &Vmo, pos: u64) -> Result<u8> {
        v.read_byte_for_test(pos)
    }

    fn committed(v: &Vmo) -> u64 {
        v.info().committed_bytes
    }

    fn snapshot(v: &Arc<Vmo>, offset: u64, size: u64) -> Result<Arc<Vmo>> {
        Ok(v.create_child(VMO_CHILD_SNAPSHOT, offset, size)?)
    }

    #[test]
    fn siblings_keep_what_the_parent_held() -> Result {
        let p = Vmo::create(4 * PG, 0)?;
        for i in 0..4 {
            write(&p, i * PG, 1 + i as u8)?;
        }
        let (a, b) = (snapshot(&p, 0, 4 * PG)?, snapshot(&p, PG, 2 * PG)?);
        // The parent writes page 1: each sibling that reads it gets its own copy first.
        write(&p, PG, 20)?;
        assert_eq!((read(&a, PG)?, read(&b, 0)?, read(&p, PG)?), (2, 2, 20));
        assert_eq!((committed(&a), committed(&b)), (PG, PG));
        // Page 3 lies outside b's window: only a gets it.
        write(&p, 3 * PG, 40)?;
        assert_eq!((committed(&a), committed(&b)), (2 * PG, PG));
        // A child's write is its own.
        write(&a, 2 * PG, 33)?;
        assert_eq!(
            (read(&p, 2 * PG)?, read(&b, PG)?, read(&a, 2 * PG)?),
            (3, 3, 33)
        );
        Ok(())
    }

    #[test]
    fn a_closed_parent_stays_readable_through_its_children() -> Result {
        let p = Vmo::create(2 * PG, 0)?;
        write(&p, 0, 7)?;
        let c = snapshot(&p, 0, 2 * PG)?;
        let g = snapshot(&c, 0, 2 * PG)?;
        drop(p);
        drop(c);
        assert_eq!(read(&g, 0)?, 7);
        write(&g, 0, 8)?;
        assert_eq!(read(&g, 0)?, 8);
        Ok(())
    }

    #[test]
    fn chains_keep_each_vmo_content_whatever_closes_first() -> Result {
        // Level i writes byte i at page i % 4 and everything below it is a snapshot of it.
        let mut chain = KVec::new();
        chain.push(Vmo::create(4 * PG, 0)?, GFP_KERNEL)?;
        for i in 1..60u64 {
            let prev = chain[chain.len() - 1].clone();
            write(&prev, (i % 4) * PG, i as u8)?;
            chain.push(snapshot(&prev, 0, 4 * PG)?, GFP_KERNEL)?;
        }
        // What each level must read: the last write to it or above it for each page (level
        // `i - 1` got write `i` before level `i` was made of it).
        let expect = |level: usize, page: u64| -> u8 {
            (1..=(level as u64 + 1).min(59))
                .rev()
                .find(|i| i % 4 == page)
                .map_or(0, |i| i as u8)
        };
        // Close every third level, then the others from the bottom up, checking the rest.
        let mut alive: KVec<(usize, Arc<Vmo>)> = KVec::new();
        for (i, v) in chain.drain_all().enumerate() {
            if i % 3 != 1 {
                alive.push((i, v), GFP_KERNEL)?;
            }
        }
        while let Some((level, v)) = alive.pop() {
            for page in 0..4 {
                assert_eq!(read(&v, page * PG)?, expect(level, page));
            }
            drop(v);
            for (l, w) in alive.iter() {
                assert_eq!(read(w, (*l as u64 % 4) * PG)?, expect(*l, *l as u64 % 4));
            }
        }
        Ok(())
    }

    #[test]
    fn a_closed_parent_gives_its_pages_to_its_only_child() -> Result {
        let p = Vmo::create(4 * PG, 0)?;
        for i in 0..4 {
            write(&p, i * PG, 1)?;
        }
        let c = snapshot(&p, PG, 2 * PG)?;
        drop(p);
        // The child's write copies page 0 of its window and, the parent being closed with no
        // other child, takes the other page it reads from it and frees the parent's pages.
        write(&c, 0, 2)?;
        assert_eq!(committed(&c), 2 * PG);
        assert_eq!((read(&c, 0)?, read(&c, PG)?), (2, 1));
        let g = snapshot(&c, 0, 2 * PG)?;
        drop(c);
        write(&g, PG, 3)?;
        assert_eq!((read(&g, 0)?, read(&g, PG)?), (2, 3));
        assert_eq!(committed(&g), 2 * PG);
        Ok(())
    }

    #[test]
    fn zero_and_shrink_keep_the_snapshot() -> Result {
        let p = Vmo::create(4 * PG, VMO_CREATE_RESIZABLE)?;
        for i in 0..4 {
            write(&p, i * PG + 5, 9)?;
        }
        let c = snapshot(&p, 0, 4 * PG)?;
        // ZERO of a whole page frees the parent's page after giving it to the child.
        assert_eq!(p.op_range(ALL, VMO_OP_ZERO, 0, PG).map(|_| ()), Ok(()));
        assert_eq!((read(&p, 5)?, read(&c, 5)?), (0, 9));
        assert_eq!(committed(&p), 3 * PG);
        // A partial ZERO in the child copies the page, then zeroes the bytes.
        assert_eq!(c.op_range(ALL, VMO_OP_ZERO, PG + 5, 1).map(|_| ()), Ok(()));
        assert_eq!((read(&c, PG + 5)?, read(&p, PG + 5)?), (0, 9));
        // A shrink of the parent gives the pages past the end to the child first; regrown,
        // the parent reads zeros there.
        assert_eq!(p.set_size(2 * PG), Ok(()));
        assert_eq!(read(&c, 3 * PG + 5)?, 9);
        assert_eq!(p.set_size(4 * PG), Ok(()));
        assert_eq!((read(&p, 3 * PG + 5)?, read(&c, 3 * PG + 5)?), (0, 9));
        // A closed parent and DECOMMIT: the child, a COW clone, refuses it.
        assert_eq!(
            c.op_range(ALL, VMO_OP_DECOMMIT, 0, PG).map(|_| ()),
            Err(Status::NotSupported)
        );
        Ok(())
    }

    #[test]
    fn commit_copies_and_cache_ops_read_through() -> Result {
        let p = Vmo::create(1 << 30, 0)?;
        write(&p, 100 * PG, 1)?;
        write(&p, 200_000 * PG, 2)?;
        let c = snapshot(&p, 0, 1 << 30)?;
        // Cache ops visit the two pages the child reads, without copying them.
        let s = c
            .op_range(ALL, VMO_OP_CACHE_CLEAN, 0, 1 << 30)
            .map_err(Error::from)?;
        assert_eq!(s.pages, 2);
        assert_eq!(committed(&c), 0);
        // Over a sparse snapshot of 2^50 bytes too: the cost follows the pages it reads.
        let big = Vmo::create(1 << 50, 0)?;
        write(&big, (1 << 49) + 7, 1)?;
        let bc = snapshot(&big, 0, 1 << 50)?;
        let s = bc
            .op_range(ALL, VMO_OP_CACHE_CLEAN, 0, 1 << 50)
            .map_err(Error::from)?;
        assert_eq!(s.pages, 1);
        assert_eq!(
            bc.op_range(ALL, VMO_OP_ZERO, 0, 1 << 50).map(|_| ()),
            Ok(())
        );
        assert_eq!(read(&bc, (1 << 49) + 7)?, 0);
        // COMMIT makes the range the child's own (zeros where nothing was).
        assert_eq!(
            c.op_range(ALL, VMO_OP_COMMIT, 99 * PG, 2 * PG).map(|_| ()),
            Ok(())
        );
        assert_eq!(committed(&c), 2 * PG);
        write(&p, 100 * PG, 3)?;
        assert_eq!(read(&c, 100 * PG)?, 1);
        assert_eq!(committed(&c), 2 * PG);
        Ok(())
    }
}
