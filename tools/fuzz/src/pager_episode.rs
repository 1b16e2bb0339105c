//! Pager episodes: the pager ioctls (`PAGER_CREATE`, `PAGER_CREATE_VMO`,
//! `PAGER_SUPPLY`, `PAGER_OP_RANGE`, `PAGER_DETACH`, `PAGER_WAIT`,
//! `PAGER_QUERY_DIRTY`, `PAGER_QUERY_STATS`) with their checks in the module's
//! order, on a pager and a pager-backed VMO of the episode's own (resizable now
//! and then: `SET_SIZE` on it; made with `TRAP_DIRTY` now and then), with this
//! worker's VMOs as aux VMOs (their content is in the model, and a supply
//! decommits the aux range; an aux VMO that is a child, has children or is
//! the pager VMO itself is `BAD_STATE`) or a fresh aux VMO, and at times the
//! pager closed before its VMO (the VMO keeps the pages it holds; every other
//! page is `BAD_STATE` from then on).
//!
//! The episode models the pager VMO page by page ([`Paged`]): absent, or
//! present with its bytes and its writeback state, clean, dirty or awaiting
//! clean ([`Dirt`], the module's `rust/dirty.rs`), and whether the VMO was
//! modified since the stats were last reset. `WRITE` and `ZERO` of the VMO
//! dirty their pages and modify it; `OP_DIRTY`, `WRITEBACK_BEGIN` and
//! `WRITEBACK_END` move pages between the states; `PAGER_QUERY_DIRTY` and
//! `PAGER_QUERY_STATS` are checked against the model; detach frees the clean
//! pages and keeps the others (readable, writable without a request, and
//! written back as before).
//!
//! Nothing here may block unanswered: no access touches a page the pager
//! has not supplied while the VMO is attached and its pager open (that would
//! wait for a READ request nobody serves), so reads and writes cover supplied
//! pages only, but for the READs whose requests the episode serves (below);
//! the accesses of the children run on threads of their own, so that a wrong
//! model (or module) that makes one wait is reported and ended by a detach. A write or ZERO of a `TRAP_DIRTY` VMO that needs DIRTY
//! requests runs on a thread of its own while the episode, as the pager,
//! reads each request the model predicts (its range exactly) and answers it:
//! with `OP_DIRTY` of the request, of part of it (the writer keeps waiting,
//! and no new request comes), or of more, with `FAIL` (the write fails with
//! that status and changes nothing), by detaching the VMO or by closing the
//! pager (both end the write with `BAD_STATE`). The other packets are the
//! COMPLETE ones detaching queues, which `WAIT` with a zero timeout checks.
//!
//! Eviction would take clean pages at any time under memory pressure (then a
//! read of one waits for a READ request, a write asks for the page first,
//! and `OP_DIRTY` of it is `NOT_FOUND`): the episode marks its VMO
//! `ALWAYS_NEED`, whose pages the module never evicts, so that the model is
//! exact.
//!
//! A small VMO that is not resizable is now and then mapped, shared and
//! writable: reads and stores through the mapping touch present pages only,
//! and a store waits for a DIRTY request as a write does, of its page alone,
//! which the episode only ever lets through (`OP_DIRTY`: a failed one is
//! `SIGBUS`, which would end the fuzzer). A rare mini-episode
//! ([`Worker::pager_many_ranges`]) has more dirty ranges than one query
//! returns (256).
//!
//! **Children** ([`Kid`]): now and then a `CREATE_CHILD` of the pager VMO,
//! its status in the module's order (`Vmo::check_child_args`: size, then
//! `NO_WRITE | RESIZABLE`; DUPLICATE and READ; `Vmo::create_child`: a slice
//! must be exactly `SLICE`, aligned and inside the VMO, and a resizable VMO
//! has none, `NOT_SUPPORTED`; a snapshot's options, alignment, overflow and
//! one snapshot option; then, the chain starting at a pager-backed VMO,
//! `SNAPSHOT`, alone or with `SNAPSHOT_AT_LEAST_ON_WRITE`, is
//! `NOT_SUPPORTED`). What the episode encodes, with where the module does it:
//! - A slice is a window on the VMO's pages (`Pages::Slice`,
//!   `Vmo::node_window`): its READ, WRITE and ZERO are the VMO's at the
//!   window's offset after the slice's own range check
//!   (`Vmo::with_pages_present`, `Vmo::zero`, `source_pages` with the base):
//!   they dirty the VMO's pages, modify it and, under `TRAP_DIRTY`, wait for
//!   DIRTY requests in the VMO's page numbers, which the episode answers as
//!   for the VMO's own writes (partly, more, `FAIL`, detach, pager close). A
//!   `NO_WRITE` slice's writes are `ACCESS_DENIED`.
//! - A `SNAPSHOT_AT_LEAST_ON_WRITE` clone (`cow::Kind::Live`) reads a page it
//!   holds as it holds it; below its limit (the part of its window inside the
//!   VMO when it was made, `Node::new_child`, cut for good by each shrink of
//!   the VMO, `Node::set_size`) the VMO's page as it is now (its later writes
//!   show: nothing is pushed to a live child); past the limit zeros
//!   (`Node::resolve`). Its WRITE makes each page its own first, a copy of
//!   what it read there (`Node::materialize`), then writes it: the VMO's
//!   pages, dirt and modified flag do not change and no DIRTY request comes
//!   (the clone has no page source: `Vmo::write_user` takes the copy-on-write
//!   path). ZERO fills whole pages with zeros without reading them, makes
//!   partial ones its own first and leaves pages past the limit alone
//!   (`Node::zero`). Page by page (`Node::run`): the first page that needs a
//!   page the VMO lacks asks the pager for that page; with no pager (detached
//!   or closed) the access ends with `BAD_STATE` and the pages before it stay
//!   written. A resizable clone first pages in every page of the range the
//!   op reads through to, the partial pages only of a ZERO (`Vmo::cow_op`
//!   calls `Node::page_in`), so it fails before writing anything (guest test
//!   `a_resizable_clone_zeroes_whole_pages_without_asking_the_pager`).
//!   A resizable clone's shrink drops its pages past the end and cuts its
//!   limit there: a later growth reads zeros (`Node::set_size`).
//! - After a detach the VMO's clean pages are gone, so a child's access to one
//!   is `BAD_STATE` (`PageSource::request` of a detached source); its dirty
//!   pages stay readable through every child. After the pager's close the
//!   VMO keeps all its pages; only absent ones are `BAD_STATE`.
//! - The VMO's handle may close before its children (at the episode's end):
//!   they read as before, no COMPLETE comes while one lives, a clone's READ
//!   request that nobody can serve any more ends with `BAD_STATE` at the
//!   pager's close, and COMPLETE comes when the last child goes
//!   (`Node::drop` detaches the source).
//!
//! **READ requests**: a READ of the VMO, of a slice or of a clone that
//! needs pages the pager has not supplied runs on a thread of its own while
//! the episode reads the requests the model predicts: for the VMO or a
//! slice, the first run of absent pages of the range cut at its end, no
//! read-ahead (`PageSource::populate`, `first_needing`), then the next one
//! from there; for a clone one page at a time (`Node::run` populates the page
//! it stopped at). The episode supplies each request (at times in two parts:
//! no new request comes in between), fails it (the read fails with that
//! status) or detaches the VMO (`BAD_STATE`, then COMPLETE); the read's
//! status and bytes are checked.
//!
//! Not covered: `IS_ZERO` dirty ranges (the module keeps no zero ranges: a
//! growth adds absent pages that the pager supplies, so every range it
//! reports has options 0, and `WRITEBACK_BEGIN` with `IS_ZERO` changes
//! nothing; the model expects exactly that); writes and COMMITs that wait for
//! READ requests (only READs do); mapped stores whose DIRTY request fails or
//! whose pager goes (`SIGBUS`); mappings of the children, children of the
//! children; handles to the pager VMO
//! without WRITE for the pager ops.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use vmo::sys::{self, MapFlags, MappedRegion, ProtFlags};

use super::Worker;
use crate::model::*;
use crate::raw;
use crate::report::*;

/// The statuses a pager may fail a range with.
const FAIL_CODES: [u32; 5] = [
    sys::VMO_ERRNO_IO,
    sys::VMO_ERRNO_IO_DATA_INTEGRITY,
    sys::VMO_ERRNO_BAD_STATE,
    sys::VMO_ERRNO_NO_SPACE,
    sys::VMO_ERRNO_BUFFER_TOO_SMALL,
];

/// How long a DIRTY request the model expects may take to come, and a write
/// the model expects to end may take to end: only a wrong model (or module)
/// waits this long, so it is generous for a loaded TCG guest.
const PATIENCE: Duration = Duration::from_secs(10);

/// The op of a write through a slice in the combinations (`Ioctl::PagerChildWrite`).
const SLICE_OP: u32 = 0x100;
/// Added to [`SLICE_OP`] when the write waited for DIRTY requests.
const SLICE_ASKED: u32 = 0x200;
/// The op of a child's SET_SIZE in the combinations (`Ioctl::PagerChildWrite`).
const CHILD_SET_SIZE: u32 = 0x400;

/// The most ranges one `PAGER_QUERY_DIRTY` returns (the module's `MAX_RANGES`).
const MAX_RANGES: u64 = 256;

/// The writeback state of a present page (the module's `Dirt`, with clean
/// pages named).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dirt {
    /// Supplied or written back, not written since.
    Clean,
    /// Written (or `OP_DIRTY`) since it was supplied or written back.
    Dirty,
    /// `WRITEBACK_BEGIN` began its writeback, and no write came since.
    AwaitingClean,
}

/// A present page of the pager VMO.
#[derive(Clone, Debug)]
struct PPage {
    /// Its bytes (`None`: not known exactly).
    bytes: Option<Vec<u8>>,
    dirt: Dirt,
}

/// The episode's pager-backed VMO, as far as the episode knows it.
struct Paged {
    raw: u32,
    size: u64,
    key: u64,
    /// Made with `VMO_CREATE_RESIZABLE` (its handle has RESIZE).
    resizable: bool,
    /// Made with `VMO_CREATE_TRAP_DIRTY`.
    trap_dirty: bool,
    /// The present pages.
    present: BTreeMap<u64, PPage>,
    /// `query_vmo_stats`'s modified flag.
    modified: bool,
    /// The flag may also be set: a write through the mapping to a dirty page
    /// modifies the VMO only if it faults, which depends on whether the page
    /// table entry is writable already (an earlier write fault made it so,
    /// until a WRITEBACK_BEGIN, a reclaim or a swap takes it away).
    modified_maybe: bool,
    /// A shared writable mapping of the whole VMO (not resizable, 2 to 17
    /// pages), if the episode made one.
    map: Option<Arc<MappedRegion>>,
    detached: bool,
    /// The pager's handles are closed: the VMO keeps its pages, nothing else
    /// can be had.
    closed: bool,
}

/// What a WRITE or ZERO of the pager VMO does, as far as the model can tell
/// before the pager answers anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// It ends by itself with this status.
    Ends(i32),
    /// It waits for DIRTY requests (a `TRAP_DIRTY` VMO, attached, pager open,
    /// a page it writes not dirty).
    Asks,
    /// It would wait for a READ request (an absent page it needs while the
    /// pager serves the VMO): never made.
    Blocks,
}

impl Paged {
    fn new(raw: u32, size: u64, key: u64, options: u32) -> Paged {
        Paged {
            raw,
            size,
            key,
            resizable: options & sys::VMO_CREATE_RESIZABLE != 0,
            trap_dirty: options & sys::VMO_CREATE_TRAP_DIRTY != 0,
            present: BTreeMap::new(),
            modified: false,
            modified_maybe: false,
            map: None,
            detached: false,
            closed: false,
        }
    }

    fn is_present(&self, page: u64) -> bool {
        self.present.contains_key(&page)
    }

    fn is_dirty(&self, page: u64) -> bool {
        self.present.get(&page).is_some_and(|pp| pp.dirt == Dirt::Dirty)
    }

    /// The runs of pages of `[a, b)` that are dirty or await clean, adjacent
    /// runs joined whatever their states (a writeback reads them alike: the
    /// module's `Runs::for_each`).
    fn dirty_runs(&self, a: u64, b: u64) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (&page, pp) in self.present.range(a..b) {
            if pp.dirt == Dirt::Clean {
                continue;
            }
            match out.last_mut() {
                Some(run) if run.1 == page => run.1 = page + 1,
                _ => out.push((page, page + 1)),
            }
        }
        out
    }

    /// The DIRTY request a write to pages `[a, b)` of a `TRAP_DIRTY` VMO
    /// waits for next: the first run of present pages that are not dirty
    /// (clean or awaiting clean), cut at the next dirty or absent page (the
    /// module's `PageSource::first_needing`; absent pages are a READ
    /// request's); `None` when there is none.
    fn next_dirty_request(&self, a: u64, b: u64) -> Option<(u64, u64)> {
        let wants = |q: u64| self.is_present(q) && !self.is_dirty(q);
        let s = (a..b).find(|&q| wants(q))?;
        let e = (s..b).find(|&q| !wants(q)).unwrap_or(b);
        Some((s, e))
    }

    /// The pages of `[a, b)` in one of the states `from` go to `to`.
    fn set_dirt(&mut self, a: u64, b: u64, from: &[Dirt], to: Dirt) {
        for (_, pp) in self.present.range_mut(a..b) {
            if from.contains(&pp.dirt) {
                pp.dirt = to;
            }
        }
    }

    /// Detached: the clean pages are freed, the others stay (Zircon's
    /// `VmCowPages::DetachSourceLocked`).
    fn detach(&mut self) {
        self.detached = true;
        self.present.retain(|_, pp| pp.dirt != Dirt::Clean);
    }

    /// The pages bytes `[off, off + len)` (inside the VMO) touch.
    fn pages_of(off: u64, len: u64) -> (u64, u64) {
        (off / pg(), (off + len).div_ceil(pg()))
    }

    /// What a WRITE (`zero`: a ZERO) of bytes `[off, off + len)` does before
    /// the pager answers (`Vmo::write_user`, `Vmo::zero`): the range, then
    /// nothing for length 0; then the pages it needs present, which are all
    /// its pages for a write and for a ZERO of a `TRAP_DIRTY` VMO (asked for
    /// before their dirtying), only its partial pages at the ends for another
    /// ZERO (it fills whole absent pages with zeros itself); with no pager
    /// to ask (detached or closed) a page it needs that is absent, or under
    /// `TRAP_DIRTY` a page it writes that is not dirty, is `BAD_STATE`, and
    /// a ZERO of a detached VMO is `BAD_STATE` in any case.
    fn write_fate(&self, off: u64, len: u64, zero: bool) -> Fate {
        if !in_range(off, len, self.size) {
            return Fate::Ends(OUT_OF_RANGE);
        }
        if len == 0 {
            return Fate::Ends(OK);
        }
        let (a, b) = Paged::pages_of(off, len);
        let needed: Vec<u64> = if zero && !self.trap_dirty {
            let end = off + len;
            let mut v = Vec::new();
            if off % pg() != 0 {
                v.push(off / pg());
            }
            if end % pg() != 0 {
                v.push((end - 1) / pg());
            }
            v
        } else {
            (a..b).collect()
        };
        let all_needed = needed.iter().all(|&q| self.is_present(q));
        if self.detached || self.closed {
            let all_dirty = (a..b).all(|q| self.is_dirty(q));
            if (zero && self.detached) || !all_needed || (self.trap_dirty && !all_dirty) {
                return Fate::Ends(BAD_STATE);
            }
            return Fate::Ends(OK);
        }
        if !all_needed {
            Fate::Blocks
        } else if self.trap_dirty && self.next_dirty_request(a, b).is_some() {
            Fate::Asks
        } else {
            Fate::Ends(OK)
        }
    }

    /// What a store through the mapping at byte `off` (within a present page,
    /// which the caller chose so that it cannot raise `SIGBUS`) does: under
    /// `TRAP_DIRTY`, while the pager serves the VMO, a page that is not dirty
    /// faults and waits for a DIRTY request of that page alone (the module's
    /// `PageSource::fault_wait`); anything else goes through.
    fn map_write_fate(&self, off: u64) -> Fate {
        let q = off / pg();
        if self.trap_dirty && !self.detached && !self.closed && !self.is_dirty(q) {
            Fate::Asks
        } else {
            Fate::Ends(OK)
        }
    }

    /// A WRITE of `data` at `off` (`zero`: a ZERO of `len` bytes) succeeded:
    /// its pages are dirty (a ZERO's absent whole pages are now zeros) and
    /// the VMO modified.
    fn wrote(&mut self, off: u64, len: u64, data: &[u8], zero: bool) {
        let ps = pg();
        let (a, b) = Paged::pages_of(off, len);
        for q in a..b {
            let pp = self
                .present
                .entry(q)
                .or_insert_with(|| PPage { bytes: Some(vec![0; ps as usize]), dirt: Dirt::Dirty });
            pp.dirt = Dirt::Dirty;
            if let Some(bytes) = &mut pp.bytes {
                let (s, e) = (off.max(q * ps), (off + len).min((q + 1) * ps));
                let dst = &mut bytes[(s - q * ps) as usize..(e - q * ps) as usize];
                if zero {
                    dst.fill(0);
                } else {
                    dst.copy_from_slice(&data[(s - off) as usize..(e - off) as usize]);
                }
            }
        }
        self.modified = true;
    }

    /// `PAGER_OP_RANGE` `op` of `[off, off + len)` (aligned) with `data`,
    /// after the alignment and rights checks (`Device::pager_op_range`, then
    /// `PageSource`'s ops, in their order).
    fn op_status(&self, op: u32, off: u64, len: u64, data: u64) -> i32 {
        match op {
            sys::VMO_PAGER_OP_FAIL => {
                if !FAIL_CODES.iter().any(|&c| u64::from(c) == data) {
                    INVALID_ARGS
                } else if !in_range(off, len, self.size) {
                    OUT_OF_RANGE
                } else if self.detached {
                    BAD_STATE
                } else {
                    OK
                }
            }
            // Zircon's `DirtyPagesLocked`: the kind of VMO, the range, detached, then every
            // page must be present.
            sys::VMO_PAGER_OP_DIRTY if data != 0 => INVALID_ARGS,
            sys::VMO_PAGER_OP_DIRTY => {
                let (a, b) = (off / pg(), (off + len) / pg());
                if !self.trap_dirty {
                    NOT_SUPPORTED
                } else if !in_range(off, len, self.size) {
                    OUT_OF_RANGE
                } else if self.detached {
                    BAD_STATE
                } else if !(a..b).all(|q| self.is_present(q)) {
                    NOT_FOUND
                } else {
                    OK
                }
            }
            // BEGIN takes 0 or IS_ZERO, END 0; then the range only (they work after detach).
            sys::VMO_PAGER_OP_WRITEBACK_BEGIN | sys::VMO_PAGER_OP_WRITEBACK_END
                if data > u64::from(op == sys::VMO_PAGER_OP_WRITEBACK_BEGIN) =>
            {
                INVALID_ARGS
            }
            sys::VMO_PAGER_OP_WRITEBACK_BEGIN | sys::VMO_PAGER_OP_WRITEBACK_END => {
                if in_range(off, len, self.size) { OK } else { OUT_OF_RANGE }
            }
            _ => NOT_SUPPORTED,
        }
    }

    /// What a successful `PAGER_OP_RANGE` does to the pages.
    fn op_done(&mut self, op: u32, off: u64, len: u64, data: u64) {
        let (a, b) = (off / pg(), (off + len) / pg());
        match op {
            sys::VMO_PAGER_OP_DIRTY => {
                self.set_dirt(a, b, &[Dirt::Clean, Dirt::AwaitingClean], Dirt::Dirty)
            }
            // IS_ZERO begins the writeback of zero ranges only: the module keeps none.
            sys::VMO_PAGER_OP_WRITEBACK_BEGIN if data == 0 => {
                self.set_dirt(a, b, &[Dirt::Dirty], Dirt::AwaitingClean)
            }
            sys::VMO_PAGER_OP_WRITEBACK_END => {
                self.set_dirt(a, b, &[Dirt::AwaitingClean], Dirt::Clean)
            }
            _ => {}
        }
    }

    /// `PAGER_QUERY_DIRTY` of `[off, off + len)` after the rights checks: the
    /// range rounded out to pages (`OUT_OF_RANGE` when that overflows or it
    /// does not lie inside the VMO), then the runs it holds.
    fn query_dirty(&self, off: u64, len: u64) -> Result<Vec<(u64, u64)>, i32> {
        let end = off.checked_add(len).ok_or(OUT_OF_RANGE)?;
        let start = off & !(pg() - 1);
        let end = page_up(end).ok_or(OUT_OF_RANGE)?;
        if !in_range(start, end - start, self.size) {
            return Err(OUT_OF_RANGE);
        }
        Ok(self.dirty_runs(start / pg(), end / pg()))
    }
}

/// Where a page of a child of the pager VMO reads from (`cow.rs`'s `Node::resolve`
/// for a clone; a slice is a window on the pager VMO's own pages, `Vmo::node_window`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    /// A page the clone holds itself.
    Own,
    /// This page of the pager VMO (present or not).
    Parent(u64),
    /// Nothing: zeros (a clone's page past its limit).
    Zero,
}

/// A child of the episode's pager VMO: a slice (`VMO_CHILD_SLICE`) or a clone
/// (`SNAPSHOT_AT_LEAST_ON_WRITE`, `cow::Kind::Live`).
#[derive(Clone, Debug)]
struct Kid {
    raw: u32,
    slice: bool,
    /// The pager VMO's page where its window starts.
    base: u64,
    /// Its size in bytes (page aligned).
    size: u64,
    /// Its handle has WRITE (not made with `NO_WRITE`).
    write: bool,
    /// A clone made with `VMO_CHILD_RESIZABLE`.
    resizable: bool,
    /// A clone: its pages below this read through to the pager VMO where it
    /// holds none (`Store::limit`: the part of the window inside the parent
    /// when it was made, cut by each shrink of the parent), the others are
    /// zeros.
    limit: u64,
    /// A clone: the pages it holds (their bytes, `None`: not known exactly).
    own: BTreeMap<u64, Option<Vec<u8>>>,
}

impl Kid {
    fn pages(&self) -> u64 {
        self.size / pg()
    }

    fn src(&self, q: u64) -> Src {
        if self.slice {
            Src::Parent(self.base + q)
        } else if self.own.contains_key(&q) {
            Src::Own
        } else if q < self.limit {
            Src::Parent(self.base + q)
        } else {
            Src::Zero
        }
    }

    /// Whether page `q` reads from a page the pager VMO does not hold (an
    /// access to it asks the pager, or is `BAD_STATE` with no pager).
    fn needs_pager(&self, p: &Paged, q: u64) -> bool {
        matches!(self.src(q), Src::Parent(r) if !p.is_present(r))
    }

    /// The bytes page `q` reads as (`None`: not known exactly); the page reads
    /// from the pager VMO's page, which is present.
    fn page_bytes(&self, p: &Paged, q: u64) -> Option<Vec<u8>> {
        match self.src(q) {
            Src::Own => self.own.get(&q).cloned().flatten(),
            Src::Parent(r) => p.present.get(&r).and_then(|pp| pp.bytes.clone()),
            Src::Zero => Some(vec![0; pg() as usize]),
        }
    }

    /// What a READ of bytes `[off, off + len)` does: the range, then every
    /// page it touches read wherever it is; a page of the pager VMO that is
    /// absent waits for a READ request while the pager serves the VMO, and is
    /// `BAD_STATE` without one (detached: `PageSource::request`; closed: the
    /// pager's `closed`). A slice: `Vmo::with_pages_present`, a clone:
    /// `Node::read_user`, whose `run` stops at the page and calls
    /// `PageSource::populate` of it.
    fn read_fate(&self, p: &Paged, off: u64, len: u64) -> Fate {
        if !in_range(off, len, self.size) {
            return Fate::Ends(OUT_OF_RANGE);
        }
        if len == 0 {
            return Fate::Ends(OK);
        }
        let (a, b) = Paged::pages_of(off, len);
        if (a..b).any(|q| self.needs_pager(p, q)) {
            return if p.detached || p.closed { Fate::Ends(BAD_STATE) } else { Fate::Blocks };
        }
        Fate::Ends(OK)
    }

    /// What a WRITE (`zero`: ZERO) of bytes `[off, off + len)` of a clone
    /// does: the fate and the page it stops at (the pages before it are
    /// written; `b` when it ends). WRITE right, then the range
    /// (`Vmo::write_user`, `Vmo::zero` through `cow_op`), then length 0 is
    /// done. A resizable clone first pages in every page of the range the op
    /// reads from the pager VMO (`Vmo::cow_op` calls `Node::page_in` before
    /// taking its resize lock; a ZERO reads only its partial pages): an absent
    /// one waits (or is `BAD_STATE`, nothing written). Otherwise page by page
    /// (`Node::run`): a write makes each page its own first (`materialize`: a
    /// copy of what it reads, which needs the pager VMO's page); a ZERO skips
    /// pages that read as zeros past the limit, fills whole pages with zeros
    /// without reading them, and makes partial pages its own first; the first
    /// page that needs an absent page of the pager VMO waits (or ends the
    /// access with `BAD_STATE`, the pages before it written). A clone's write
    /// never asks the pager to dirty anything: its pages are its own.
    fn clone_write_fate(&self, p: &Paged, off: u64, len: u64, zero: bool) -> (Fate, u64) {
        if !self.write {
            return (Fate::Ends(ACCESS_DENIED), 0);
        }
        if !in_range(off, len, self.size) {
            return (Fate::Ends(OUT_OF_RANGE), 0);
        }
        if len == 0 {
            return (Fate::Ends(OK), 0);
        }
        let serving = !p.detached && !p.closed;
        let stuck = if serving { Fate::Blocks } else { Fate::Ends(BAD_STATE) };
        let (a, b) = Paged::pages_of(off, len);
        let ps = pg();
        // Whether the op reads page `q` (a write does; a ZERO only its partial pages).
        let reads = |q: u64| !(zero && off <= q * ps && (q + 1) * ps <= off + len);
        if self.resizable && (a..b).any(|q| reads(q) && self.needs_pager(p, q)) {
            return (stuck, a);
        }
        for q in a..b {
            if reads(q) && self.needs_pager(p, q) {
                return (stuck, q);
            }
        }
        (Fate::Ends(OK), b)
    }

    /// A clone wrote (`zero`: zeroed) bytes `[off, off + len)` up to page
    /// `stop`: those pages are its own, with what it read there before.
    fn clone_wrote(&mut self, p: &Paged, off: u64, len: u64, data: &[u8], zero: bool, stop: u64) {
        let ps = pg();
        let (a, b) = Paged::pages_of(off, len);
        for q in a..b.min(stop) {
            let src = self.src(q);
            let (s, e) = (off.max(q * ps), (off + len).min((q + 1) * ps));
            let whole = e - s == ps;
            if zero && src == Src::Zero {
                // Reads as zeros and stays so: `Node::zero` skips it.
                continue;
            }
            let before =
                if zero && whole { Some(vec![0; ps as usize]) } else { self.page_bytes(p, q) };
            let page = self.own.entry(q).or_insert(before);
            if zero && whole {
                *page = Some(vec![0; ps as usize]);
            }
            if let Some(bytes) = page {
                let dst = &mut bytes[(s - q * ps) as usize..(e - q * ps) as usize];
                if zero {
                    dst.fill(0);
                } else {
                    dst.copy_from_slice(&data[(s - off) as usize..(e - off) as usize]);
                }
            }
        }
    }
}

/// The handle and window a write of the pager VMO goes through: the VMO
/// itself or a slice of it.
#[derive(Clone, Copy, Debug)]
struct Via {
    raw: u32,
    /// Where the window starts in the pager VMO, in bytes.
    base: u64,
    size: u64,
    write: bool,
}

/// How the episode writes its pager VMO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// `VMO_IOC_WRITE`.
    Write,
    /// `OP_RANGE` ZERO.
    Zero,
    /// A store through the mapping (within one page).
    Mapped,
}

/// What a write waiting for the pager's answers ends with.
enum Answered {
    /// The write's status (expected).
    Status(i32),
    /// The exchange went wrong (a mismatch was reported): the writer was
    /// unstuck as far as possible and the episode must end.
    Broken,
}

impl Worker {
    /// One pager episode (see the module documentation).
    pub(super) fn pager_episode(&mut self) {
        if self.rng.chance(1, 300) {
            return self.pager_many_ranges();
        }
        let options = if self.rng.chance(1, 10) { self.rng.next_u32() | 1 } else { 0 };
        let mut c = sys::vmo_pager_create_args { options, ..Default::default() };
        let got =
            sys::pager_create(self.dev.as_fd(), &mut c).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if options == 0 { OK } else { INVALID_ARGS };
        self.direct(Ioctl::PagerCreate, None, got, want, "PAGER_CREATE");
        if got != OK {
            return;
        }
        let pager = c.handle;
        // A handle to it with fewer rights, now and then.
        let (ph, prights) = if self.rng.chance(1, 4) {
            let rights = sys::VMO_DEFAULT_PAGER_RIGHTS & self.rng.next_u32();
            let mut d = sys::vmo_duplicate_args { handle: pager, rights, ..Default::default() };
            match sys::duplicate(self.dev.as_fd(), &mut d) {
                Ok(()) => (d.out_handle, rights),
                Err(_) => (pager, sys::VMO_DEFAULT_PAGER_RIGHTS),
            }
        } else {
            (pager, sys::VMO_DEFAULT_PAGER_RIGHTS)
        };
        let attach = prights & sys::VMO_RIGHT_ATTACH_VMO != 0;
        let manage = prights & sys::VMO_RIGHT_MANAGE_VMO != 0;

        let size = match self.rng.below(8) {
            0 => self.rng.next_u64(),
            _ => self.rng.below(17) * pg() + self.rng.below(2) * self.rng.below(pg()),
        };
        let (rs, td) = (sys::VMO_CREATE_RESIZABLE, sys::VMO_CREATE_TRAP_DIRTY);
        let options = match self.rng.below(12) {
            0..=3 => 0,
            4..=5 => rs,
            6..=8 => td,
            9..=10 => rs | td,
            _ => self.rng.next_u32() | 1,
        };
        let key = self.rng.below(4);
        let mut cv =
            sys::vmo_pager_create_vmo_args { pager: ph, options, key, size, ..Default::default() };
        let got = sys::pager_create_vmo(self.dev.as_fd(), &mut cv)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        let want = if !attach {
            ACCESS_DENIED
        } else if round_size(size).is_none() {
            OUT_OF_RANGE
        } else if options & !(rs | td) != 0 {
            INVALID_ARGS
        } else {
            OK
        };
        self.direct(Ioctl::PagerCreateVmo, None, got, want, &format!("PAGER_CREATE_VMO of {size:#x} bytes, options {options:#x}, pager rights {prights:#x}"));
        if got == OK {
            let mut p = Paged::new(cv.handle, round_size(size).expect("accepted"), key, options);
            self.keep_pages(&p);
            // Small VMOs only (a random size may be far more than the address space).
            let small = (2 * pg()..=17 * pg()).contains(&p.size);
            if !p.resizable && small && self.rng.chance(1, 2) {
                self.pager_map(&mut p);
            }
            let mut completes: Vec<u64> = Vec::new();
            let mut kids: Vec<Kid> = Vec::new();
            let mut broken = false;
            for _ in 0..4 + self.rng.below(20) {
                let step = self.rng.below(22);
                if step >= 16 {
                    // The children: made now and then (the first one whenever one of them is
                    // to be used), read and written; READ requests served.
                    let ok = match step {
                        17 | 18 if !kids.is_empty() => self.pager_child_read(pager, &mut p, &kids),
                        19 | 20 if !kids.is_empty() => {
                            self.pager_child_write(pager, ph, &mut p, &mut completes, &mut kids)
                        }
                        21 if !p.closed => self.pager_read_request(pager, &mut p, &kids),
                        _ => {
                            self.pager_child_create(&p, &mut kids);
                            true
                        }
                    };
                    if !ok {
                        broken = true;
                        break;
                    }
                    continue;
                }
                if p.closed {
                    // No pager handle is left: what the VMO alone can do.
                    let ok = match step {
                        0..=4 => {
                            self.pager_read(&p);
                            true
                        }
                        5 => {
                            self.pager_map_read(&p);
                            true
                        }
                        6..=7 => {
                            self.pager_set_size(&mut p, &mut kids);
                            true
                        }
                        _ => self.pager_write(pager, ph, &mut p, &mut completes, None),
                    };
                    if !ok {
                        broken = true;
                        break;
                    }
                    continue;
                }
                let ok = match step {
                    0 => {
                        self.pager_supply(ph, manage, &mut p);
                        true
                    }
                    1 | 2 => {
                        self.pager_supply_fresh(ph, manage, &mut p);
                        true
                    }
                    3 | 4 => {
                        self.pager_op(ph, manage, &mut p);
                        true
                    }
                    5 => {
                        self.pager_read(&p);
                        true
                    }
                    6 => {
                        self.pager_set_size(&mut p, &mut kids);
                        true
                    }
                    7 if self.rng.chance(1, 3) => {
                        // Close the pager (all its handles): not a detach; no packet can
                        // be read any more.
                        self.close_pager(pager, ph);
                        p.closed = true;
                        true
                    }
                    7 => {
                        self.pager_map_read(&p);
                        true
                    }
                    8 if self.rng.chance(1, 2) => {
                        let r = sys::pager_detach(
                            self.dev.as_fd(),
                            sys::vmo_pager_detach_args { pager: ph, vmo: p.raw },
                        );
                        let got = r.err().map_or(OK, sys::Errno::raw_os_error);
                        let want = if manage { OK } else { ACCESS_DENIED };
                        self.direct(Ioctl::PagerDetach, None, got, want, "PAGER_DETACH");
                        if got == OK {
                            // Detaching twice does nothing: the clean pages a later
                            // WRITEBACK_END made stay.
                            if !p.detached {
                                if !completes.contains(&p.key) {
                                    completes.push(p.key);
                                }
                                p.detach();
                            }
                        }
                        true
                    }
                    9 => {
                        self.pager_wait_step(ph, &mut completes);
                        true
                    }
                    10 => {
                        self.pager_query_dirty(ph, manage, &p);
                        true
                    }
                    11 => {
                        self.pager_query_stats(ph, manage, &mut p);
                        true
                    }
                    _ => self.pager_write(pager, ph, &mut p, &mut completes, None),
                };
                if !ok {
                    broken = true;
                    break;
                }
            }
            // Unmapped first: the mapping would keep the VMO (and its pager's source) alive.
            drop(p.map.take());
            if !broken && !kids.is_empty() && self.rng.chance(1, 2) {
                // The VMO's handle first: its children keep its pages.
                let _ = sys::close(
                    self.dev.as_fd(),
                    sys::vmo_close_args { handle: p.raw, reserved: 0 },
                );
                self.pager_orphans(pager, ph, &mut p, &completes, kids);
            } else {
                // The children first: a clone keeps the pager VMO's node (and its source)
                // alive, a slice the VMO itself.
                for kid in kids {
                    let _ = sys::close(
                        self.dev.as_fd(),
                        sys::vmo_close_args { handle: kid.raw, reserved: 0 },
                    );
                }
                let _ = sys::close(
                    self.dev.as_fd(),
                    sys::vmo_close_args { handle: p.raw, reserved: 0 },
                );
            }
            if p.closed {
                return;
            }
        }
        self.close_pager(pager, ph);
    }

    /// A pager VMO with more dirty ranges than one `PAGER_QUERY_DIRTY`
    /// returns (256): every other page of 2 × (256 + k) + 1 pages written;
    /// a query of the whole VMO into a buffer with room for more returns 256
    /// of them and `avail` all; one from the end of the last range returned
    /// gets the rest, as a pager pages through them.
    fn pager_many_ranges(&mut self) {
        let ps = pg();
        let runs = MAX_RANGES + 1 + self.rng.below(8);
        let pages = 2 * runs - 1;
        let mut c = sys::vmo_pager_create_args::default();
        let got =
            sys::pager_create(self.dev.as_fd(), &mut c).err().map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::PagerCreate, None, got, OK, "PAGER_CREATE (many ranges)");
        if got != OK {
            return;
        }
        let pager = c.handle;
        let mut cv =
            sys::vmo_pager_create_vmo_args { pager, size: pages * ps, ..Default::default() };
        let got = sys::pager_create_vmo(self.dev.as_fd(), &mut cv)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::PagerCreateVmo, None, got, OK, "PAGER_CREATE_VMO (many ranges)");
        if got == OK {
            let mut p = Paged::new(cv.handle, pages * ps, 0, 0);
            self.keep_pages(&p);
            self.many_ranges_of(pager, &mut p, runs);
            let _ =
                sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: p.raw, reserved: 0 });
        }
        self.close_pager(pager, pager);
    }

    /// [`Worker::pager_many_ranges`] on its VMO `p`, all of whose pages are
    /// supplied here.
    fn many_ranges_of(&mut self, pager: u32, p: &mut Paged, runs: u64) {
        let ps = pg();
        let pages = p.size / ps;
        let mut c = sys::vmo_create_args { size: p.size, ..Default::default() };
        let got = sys::create(self.dev.as_fd(), &mut c).err().map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::Create, None, got, OK, "CREATE of an aux VMO (many ranges)");
        if got != OK {
            return;
        }
        let args = sys::vmo_pager_supply_args {
            pager,
            vmo: p.raw,
            offset: 0,
            length: p.size,
            aux_vmo: c.handle,
            reserved: 0,
            aux_offset: 0,
        };
        let got =
            sys::pager_supply(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: c.handle, reserved: 0 });
        self.direct(Ioctl::PagerSupply, None, got, OK, "PAGER_SUPPLY of all pages (many ranges)");
        if got != OK {
            return;
        }
        for q in 0..pages {
            p.present.insert(q, PPage { bytes: Some(vec![0; ps as usize]), dirt: Dirt::Clean });
        }
        for q in (0..pages).step_by(2) {
            let got = sys::write(self.dev.as_fd(), p.raw, q * ps, b"r")
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            self.direct(Ioctl::PagerWrite, None, got, OK, "WRITE of one byte (many ranges)");
            if got != OK {
                return;
            }
            p.wrote(q * ps, 1, b"r", false);
        }
        // The whole VMO, then on from the end of the last range returned.
        let mut start = 0;
        for round in 0..2 {
            let mut out = vec![sys::vmo_dirty_range::default(); MAX_RANGES as usize + 10];
            let mut a = sys::vmo_pager_query_dirty_args {
                pager,
                vmo: p.raw,
                offset: start,
                length: p.size - start,
                ..Default::default()
            };
            let got = sys::pager_query_dirty(self.dev.as_fd(), &mut a, &mut out)
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            let what = format!("PAGER_QUERY_DIRTY {start:#x}.. of {runs} dirty ranges");
            self.direct(Ioctl::PagerQueryDirty, None, got, OK, &what);
            if got != OK {
                return;
            }
            let model = p.query_dirty(start, p.size - start).expect("in range");
            let actual = model.len().min(MAX_RANGES as usize);
            let same = out[..actual]
                .iter()
                .zip(&model)
                .all(|(r, &(s, e))| (r.offset, r.length, r.options) == (s * ps, (e - s) * ps, 0));
            let ok = a.actual == actual as u64 && a.avail == model.len() as u64 && same;
            let report = format!(
                "{what} (round {round}): actual {} avail {}, model {actual} {}, ranges as the \
                 model's: {same}",
                a.actual,
                a.avail,
                model.len()
            );
            self.direct(Ioctl::PagerQueryDirty, None, if ok { OK } else { -1 }, OK, &report);
            if !ok || actual == model.len() {
                return;
            }
            start = out[actual - 1].offset + out[actual - 1].length;
        }
    }

    /// Closes the pager's handles (`ph` may be `pager` itself).
    fn close_pager(&mut self, pager: u32, ph: u32) {
        if ph != pager {
            let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: ph, reserved: 0 });
        }
        let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: pager, reserved: 0 });
    }

    /// `ALWAYS_NEED` of the whole pager VMO, so that no eviction takes its
    /// clean pages (see the module documentation); again after each resize
    /// (the hint covers the pages the VMO had).
    fn keep_pages(&mut self, p: &Paged) {
        let got = sys::op_range(self.dev.as_fd(), p.raw, sys::VMO_OP_ALWAYS_NEED, 0, p.size)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        let op = Some(sys::VMO_OP_ALWAYS_NEED);
        self.direct(Ioctl::OpRange, op, got, OK, "ALWAYS_NEED of a whole pager VMO");
    }

    /// EXPORT of the pager VMO and a shared writable mapping of all of it.
    /// Only pages the model has present are ever touched through it (any
    /// other access would wait for a READ request, or raise `SIGBUS` with no
    /// pager to ask), and the VMO is not resizable (no access past its end).
    fn pager_map(&mut self, p: &mut Paged) {
        let r = sys::export_owned(self.dev.as_fd(), p.raw, sys::VMO_EXPORT_CLOEXEC);
        let got = r.as_ref().err().map_or(OK, |e| e.raw_os_error());
        self.direct(Ioctl::Export, None, got, OK, "EXPORT of a pager VMO");
        let Ok(fd) = r else { return };
        let prot = ProtFlags::READ | ProtFlags::WRITE;
        let r = sys::mmap(fd.as_fd(), 0, p.size as usize, prot, MapFlags::SHARED);
        let got = r.as_ref().err().map_or(OK, |e| e.raw_os_error());
        self.direct(Ioctl::Mmap, None, got, OK, "mmap of a pager VMO, shared and writable");
        p.map = r.ok().map(Arc::new);
    }

    /// A read of a present page through the mapping: its bytes as the model
    /// has them, and nothing changes (a read fault neither dirties nor
    /// modifies).
    fn pager_map_read(&mut self, p: &Paged) {
        let Some(map) = p.map.clone() else {
            return self.pager_read(p);
        };
        let pages: Vec<u64> = p.present.keys().copied().collect();
        if pages.is_empty() {
            return;
        }
        let q = pages[self.rng.index(pages.len())];
        let ps = pg();
        let mut buf = vec![0u8; ps as usize];
        let r = map.read((q * ps) as usize, &mut buf);
        let got = r.err().map_or(OK, |e| e.raw_os_error());
        let what = format!("read of page {q} through a mapping of a pager VMO");
        self.direct(Ioctl::PagerMapRead, None, got, OK, &what);
        if let Some(Some(want)) = p.present.get(&q).map(|pp| pp.bytes.as_ref()) {
            if let Some(i) = (0..buf.len()).find(|&i| buf[i] != want[i]) {
                let report =
                    format!("{what}: byte {i:#x} is {:#04x}, model {:#04x}", buf[i], want[i]);
                self.direct(Ioctl::PagerMapRead, None, -1, OK, &report);
            }
        }
    }

    /// `PAGER_WAIT` with no timeout: the COMPLETE packets detaching queued, in
    /// order, and nothing else.
    fn pager_wait_step(&mut self, ph: u32, completes: &mut Vec<u64>) {
        let mut w = sys::vmo_pager_wait_args { pager: ph, timeout_ns: 0, ..Default::default() };
        let got =
            sys::pager_wait(self.dev.as_fd(), &mut w).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if completes.is_empty() { TIMED_OUT } else { OK };
        self.direct(Ioctl::PagerWait, None, got, want, "PAGER_WAIT with no timeout");
        if got == OK && !completes.is_empty() {
            let (kind, pkey) = (w.packet.type_, w.packet.key);
            let ok = kind == sys::VMO_PAGER_VMO_COMPLETE && pkey == completes[0];
            let what = format!(
                "PAGER_WAIT packet kind {kind} key {pkey}, expected COMPLETE {}",
                completes[0]
            );
            self.direct(Ioctl::PagerWait, None, if ok { OK } else { -1 }, OK, &what);
            completes.remove(0);
        }
    }

    /// PAGER_SUPPLY from one of this worker's VMOs (exact content), now and
    /// then from the pager VMO itself, checks in the module's order; the model
    /// follows (the aux range is decommitted). The aux VMO must be a plain VMO
    /// without children (Zircon's `VmObjectPaged::TakePages`): a child of any
    /// kind, a parent of one or a pager-backed VMO is `BAD_STATE`.
    fn pager_supply(&mut self, ph: u32, manage: bool, p: &mut Paged) {
        let (h, aux_size, aux_plain) = if self.rng.chance(1, 8) {
            let rights = if p.resizable { DEFAULT_VMO | R_RESIZE } else { DEFAULT_VMO };
            (H { raw: p.raw, obj: 0, rights }, p.size, false)
        } else {
            let Some(h) = self.own_exact_vmo() else {
                return;
            };
            let o = self.m.obj(h.obj);
            // No live child, and no closed snapshot whose own snapshots still read through
            // to it (its count stays in `cow_children`).
            (h, o.size, o.kind == Kind::Root && o.children == 0 && o.cow_children == 0)
        };
        let unaligned = self.rng.chance(1, 12);
        let offset = self.rng.below(p.size / pg() + 2) * pg();
        let length = self.rng.below(6) * pg() + if unaligned { 1 } else { 0 };
        let aux_offset = self.rng.below(aux_size / pg() + 2) * pg();
        let args = sys::vmo_pager_supply_args {
            pager: ph,
            vmo: p.raw,
            offset,
            length,
            aux_vmo: h.raw,
            reserved: 0,
            aux_offset,
        };
        let got =
            sys::pager_supply(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if !manage {
            ACCESS_DENIED
        } else if unaligned {
            INVALID_ARGS
        } else if h.rights & (R_READ | R_WRITE) != R_READ | R_WRITE {
            ACCESS_DENIED
        } else if !in_range(aux_offset, length, aux_size) {
            OUT_OF_RANGE
        } else if !aux_plain {
            BAD_STATE
        } else if !in_range(offset, length, p.size) {
            OUT_OF_RANGE
        } else if length == 0 {
            OK
        } else if p.detached {
            BAD_STATE
        } else {
            OK
        };
        let what = format!(
            "PAGER_SUPPLY {offset:#x}+{length:#x} from aux {aux_offset:#x} (aux rights {:#x}, \
             plain {aux_plain})",
            h.rights
        );
        self.direct(Ioctl::PagerSupply, None, got, want, &what);
        if got != OK || length == 0 || !aux_plain {
            return;
        }
        for k in 0..length / pg() {
            let page = offset / pg() + k;
            if p.is_present(page) {
                continue;
            }
            let bytes: Option<Vec<u8>> =
                (0..pg()).map(|i| self.m.byte(h.obj, aux_offset + k * pg() + i)).collect();
            p.present.insert(page, PPage { bytes, dirt: Dirt::Clean });
        }
        self.m.punch(h.obj, aux_offset, length);
    }

    /// PAGER_SUPPLY of a run of pages from a fresh aux VMO of random bytes
    /// (made, written and closed here, outside the model), so that episodes
    /// have pages to write and write back whatever VMOs the worker holds.
    /// Pages already present keep their content.
    fn pager_supply_fresh(&mut self, ph: u32, manage: bool, p: &mut Paged) {
        let pages = p.size / pg();
        if pages == 0 {
            return;
        }
        let first = self.rng.below(pages);
        let n = 1 + self.rng.below((pages - first).min(4));
        let len = n * pg();
        let mut c = sys::vmo_create_args { size: len, ..Default::default() };
        let got = sys::create(self.dev.as_fd(), &mut c).err().map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::Create, None, got, OK, "CREATE of a fresh aux VMO");
        if got != OK {
            return;
        }
        let aux = c.handle;
        let mut data = vec![0u8; len as usize];
        self.rng.fill(&mut data);
        let got =
            sys::write(self.dev.as_fd(), aux, 0, &data).err().map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::Write, None, got, OK, "WRITE of a fresh aux VMO");
        let args = sys::vmo_pager_supply_args {
            pager: ph,
            vmo: p.raw,
            offset: first * pg(),
            length: len,
            aux_vmo: aux,
            reserved: 0,
            aux_offset: 0,
        };
        let got =
            sys::pager_supply(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if !manage {
            ACCESS_DENIED
        } else if p.detached {
            BAD_STATE
        } else {
            OK
        };
        let what = format!("PAGER_SUPPLY of pages {first}..{} from a fresh aux VMO", first + n);
        self.direct(Ioctl::PagerSupply, None, got, want, &what);
        let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: aux, reserved: 0 });
        if got != OK {
            return;
        }
        let ps = pg() as usize;
        for k in 0..n {
            let page = first + k;
            if !p.is_present(page) {
                let bytes = data[k as usize * ps..(k as usize + 1) * ps].to_vec();
                p.present.insert(page, PPage { bytes: Some(bytes), dirt: Dirt::Clean });
            }
        }
    }

    /// A page-aligned range for a pager op or query: half the time a run of
    /// present pages (where OP_DIRTY and the writeback ops do something),
    /// otherwise anywhere in or just past the VMO.
    fn pager_range(&mut self, p: &Paged) -> (u64, u64) {
        if self.rng.chance(1, 2) && !p.present.is_empty() {
            let pages: Vec<u64> = p.present.keys().copied().collect();
            let s = pages[self.rng.index(pages.len())];
            let mut e = s + 1;
            while e < s + 4 && p.is_present(e) {
                e += 1;
            }
            let e = s + 1 + self.rng.below(e - s);
            return (s * pg(), (e - s) * pg());
        }
        (self.rng.below(p.size / pg() + 2) * pg(), self.rng.below(6) * pg())
    }

    /// PAGER_OP_RANGE: FAIL with a code (Zircon's five, or any other), OP_DIRTY,
    /// WRITEBACK_BEGIN (data 0, IS_ZERO or other), WRITEBACK_END or an unknown
    /// op (`NOT_SUPPORTED`, as Zircon's `PagerDispatcher::RangeOp` answers),
    /// with the statuses and page states of [`Paged::op_status`] and
    /// [`Paged::op_done`].
    fn pager_op(&mut self, ph: u32, manage: bool, p: &mut Paged) {
        let op = match self.rng.below(12) {
            0..=2 => sys::VMO_PAGER_OP_FAIL,
            3..=5 => sys::VMO_PAGER_OP_DIRTY,
            6..=7 => sys::VMO_PAGER_OP_WRITEBACK_BEGIN,
            8..=10 => sys::VMO_PAGER_OP_WRITEBACK_END,
            _ => self.rng.next_u32() | 8,
        };
        let data = match op {
            sys::VMO_PAGER_OP_FAIL if self.rng.chance(4, 5) => {
                u64::from(FAIL_CODES[self.rng.index(FAIL_CODES.len())])
            }
            sys::VMO_PAGER_OP_WRITEBACK_BEGIN if self.rng.chance(1, 4) => {
                u64::from(sys::VMO_DIRTY_RANGE_IS_ZERO)
            }
            sys::VMO_PAGER_OP_FAIL => self.rng.next_u64(),
            _ if self.rng.chance(1, 10) => self.rng.next_u64() | 2,
            _ => 0,
        };
        let unaligned = self.rng.chance(1, 12);
        let (offset, length) = self.pager_range(p);
        let length = length + u64::from(unaligned);
        let args =
            sys::vmo_pager_op_args { pager: ph, op, vmo: p.raw, reserved: 0, offset, length, data };
        let got =
            sys::pager_op_range(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if unaligned {
            INVALID_ARGS
        } else if !manage {
            ACCESS_DENIED
        } else {
            p.op_status(op, offset, length, data)
        };
        let what = format!(
            "PAGER_OP_RANGE op {op} {offset:#x}+{length:#x} data {data:#x} (trap_dirty {}, \
             detached {})",
            p.trap_dirty, p.detached
        );
        // Unknown ops count as one combination (op 0).
        let combo_op = if op <= sys::VMO_PAGER_OP_WRITEBACK_END { op } else { 0 };
        self.direct(Ioctl::PagerOp, Some(combo_op), got, want, &what);
        if got == OK && want == OK {
            p.op_done(op, offset, length, data);
        }
    }

    /// PAGER_QUERY_DIRTY of a range (rounded out to pages by the module; now
    /// and then unaligned, overflowing, or through a VMO handle without READ)
    /// into a buffer of 0 to 4 ranges: the ranges, `actual` and `avail` as
    /// the model has them; the buffer past `actual` is left alone.
    fn pager_query_dirty(&mut self, ph: u32, manage: bool, p: &Paged) {
        let (mut offset, mut length) = self.pager_range(p);
        match self.rng.below(10) {
            0 => offset += self.rng.below(pg()),
            1 => length += self.rng.below(pg()),
            2 => length = u64::MAX - self.rng.below(2 * pg()),
            3 => offset = 0,
            _ => {}
        }
        if self.rng.chance(1, 4) {
            // The whole VMO, as a writeback of everything asks.
            (offset, length) = (0, p.size);
        }
        // Now and then through a handle without READ.
        let (vmo, read) = if self.rng.chance(1, 12) {
            let rights = DEFAULT_VMO & !R_READ;
            let mut d = sys::vmo_duplicate_args { handle: p.raw, rights, ..Default::default() };
            match sys::duplicate(self.dev.as_fd(), &mut d) {
                Ok(()) => (d.out_handle, false),
                Err(_) => return,
            }
        } else {
            (p.raw, true)
        };
        let cap = self.rng.below(5) as usize;
        let sentinel = sys::vmo_dirty_range { offset: u64::MAX, length: 7, options: 9 };
        let mut out = vec![sentinel; cap];
        let mut a = sys::vmo_pager_query_dirty_args {
            pager: ph,
            vmo,
            offset,
            length,
            ..Default::default()
        };
        let got = sys::pager_query_dirty(self.dev.as_fd(), &mut a, &mut out)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        if vmo != p.raw {
            let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: vmo, reserved: 0 });
        }
        let model = p.query_dirty(offset, length);
        let want = if !manage || !read {
            ACCESS_DENIED
        } else {
            match &model {
                Ok(_) => OK,
                Err(e) => *e,
            }
        };
        let what = format!(
            "PAGER_QUERY_DIRTY {offset:#x}+{length:#x} into {cap} ranges (read right {read}, \
             detached {})",
            p.detached
        );
        self.direct(Ioctl::PagerQueryDirty, None, got, want, &what);
        let (OK, Ok(runs)) = (got, model) else {
            return;
        };
        if want != OK {
            return;
        }
        let actual = runs.len().min(cap).min(MAX_RANGES as usize);
        let mut bad = Vec::new();
        if a.avail != runs.len() as u64 || a.actual != actual as u64 {
            bad.push(format!(
                "actual {} avail {}, model {actual} {}",
                a.actual,
                a.avail,
                runs.len()
            ));
        }
        for (i, r) in out.iter().enumerate() {
            let want_r = if i < actual {
                let (s, e) = runs[i];
                sys::vmo_dirty_range { offset: s * pg(), length: (e - s) * pg(), options: 0 }
            } else {
                sentinel
            };
            if (r.offset, r.length, r.options) != (want_r.offset, want_r.length, want_r.options) {
                bad.push(format!(
                    "range {i}: {:#x}+{:#x} options {}, model {:#x}+{:#x} options {}",
                    r.offset, r.length, r.options, want_r.offset, want_r.length, want_r.options
                ));
            }
        }
        let report = format!("{what}: the ranges (model pages {runs:?}): {}", bad.join("; "));
        self.direct(
            Ioctl::PagerQueryDirty,
            None,
            if bad.is_empty() { OK } else { -1 },
            OK,
            &report,
        );
    }

    /// PAGER_QUERY_STATS (now and then with RESET, unknown options or a buffer
    /// too small): the modified flag as the model has it; RESET clears it
    /// after it is read.
    fn pager_query_stats(&mut self, ph: u32, manage: bool, p: &mut Paged) {
        let options = match self.rng.below(10) {
            0..=4 => 0,
            5..=8 => sys::VMO_PAGER_RESET_VMO_STATS,
            _ => self.rng.next_u32() | 2,
        };
        let buffer_size = if self.rng.chance(1, 10) { self.rng.below(4) } else { 4 };
        let args = sys::vmo_pager_query_stats_args {
            pager: ph,
            vmo: p.raw,
            options,
            ..Default::default()
        };
        let (r, modified) = raw::pager_query_stats_sized(self.dev.as_fd(), args, buffer_size);
        let got = r.err().map_or(OK, sys::Errno::raw_os_error);
        let want = if !manage {
            ACCESS_DENIED
        } else if buffer_size < 4 {
            BUFFER_TOO_SMALL
        } else if options & !sys::VMO_PAGER_RESET_VMO_STATS != 0 {
            INVALID_ARGS
        } else {
            OK
        };
        let what = format!(
            "PAGER_QUERY_STATS options {options:#x} buffer of {buffer_size} bytes (trap_dirty {}, \
             detached {})",
            p.trap_dirty, p.detached
        );
        self.direct(Ioctl::PagerQueryStats, None, got, want, &what);
        if got != OK || want != OK {
            return;
        }
        let set = sys::VMO_PAGER_VMO_STATS_MODIFIED;
        let model = if p.modified { set } else { 0 };
        // Exactly the values the model allows: its own, or set as well when a mapped write
        // may have modified the VMO.
        let ok = modified == model || (p.modified_maybe && modified == set);
        let report = format!(
            "{what}: modified {modified:#x}, model {model:#x} (or set: {})",
            p.modified_maybe
        );
        self.direct(Ioctl::PagerQueryStats, None, if ok { OK } else { -1 }, OK, &report);
        if ok {
            // Now known; RESET clears it after it was read.
            p.modified = modified == set && options != sys::VMO_PAGER_RESET_VMO_STATS;
            p.modified_maybe = false;
        }
    }

    /// The bytes of a WRITE or ZERO of the pager VMO: while the pager serves
    /// it, a run of present pages (partial at either end now and then) or, for
    /// a ZERO without TRAP_DIRTY, any range whose partial pages are present;
    /// once detached or closed anything in or past the VMO.
    fn pager_write_range(&mut self, p: &Paged, zero: bool) -> Option<(u64, u64)> {
        let ps = pg();
        if p.detached || p.closed || self.rng.chance(1, 4) {
            let off = self.rng.below(p.size / ps + 2) * ps
                + if self.rng.chance(1, 2) { self.rng.below(ps) } else { 0 };
            let len = if self.rng.chance(1, 8) { 0 } else { 1 + self.rng.below(3 * ps) };
            if p.write_fate(off, len, zero) != Fate::Blocks {
                return Some((off, len));
            }
        }
        let pages: Vec<u64> = p.present.keys().copied().collect();
        if pages.is_empty() {
            return None;
        }
        let s = pages[self.rng.index(pages.len())];
        let mut e = s + 1;
        while e < s + 4 && p.is_present(e) {
            e += 1;
        }
        let off = s * ps + if self.rng.chance(1, 2) { self.rng.below(ps) } else { 0 };
        let max = e * ps - off;
        let len = if self.rng.chance(1, 3) { max } else { 1 + self.rng.below(max) };
        Some((off, len))
    }

    /// Bytes within one present page to store to through the mapping, where
    /// the store cannot raise `SIGBUS`: with no pager to ask (detached or
    /// closed), a `TRAP_DIRTY` VMO's page must be dirty already.
    fn pager_map_write_range(&mut self, p: &Paged) -> Option<(u64, u64)> {
        let serve = !p.detached && !p.closed;
        let pages: Vec<u64> = p
            .present
            .keys()
            .copied()
            .filter(|&q| serve || !p.trap_dirty || p.is_dirty(q))
            .collect();
        if pages.is_empty() {
            return None;
        }
        let ps = pg();
        let q = pages[self.rng.index(pages.len())];
        let inside = self.rng.below(ps);
        Some((q * ps + inside, 1 + self.rng.below(ps - inside)))
    }

    /// WRITE (now and then ZERO, or a store through the mapping) of the pager VMO on a thread of its own; for
    /// a `TRAP_DIRTY` VMO the episode answers each DIRTY request the model
    /// predicts (see the module documentation). The write's status, and the
    /// absence of any other request, are checked. Returns false when the
    /// exchange went wrong and the episode must end.
    fn pager_write(
        &mut self,
        pager: u32,
        ph: u32,
        p: &mut Paged,
        completes: &mut Vec<u64>,
        via: Option<Via>,
    ) -> bool {
        let how = match self.rng.below(8) {
            0 | 1 => How::Zero,
            2 | 3 if p.map.is_some() && via.is_none() => How::Mapped,
            _ => How::Write,
        };
        let (zero, mapped) = (how == How::Zero, how == How::Mapped);
        let picked = match via {
            Some(v) => self.slice_write_range(p, v, zero),
            None if mapped => self.pager_map_write_range(p),
            None => self.pager_write_range(p, zero),
        };
        let Some((off, len)) = picked else {
            return true;
        };
        // A slice's write is its root's, at the window's offset (`Vmo::with_pages_present`
        // and `Vmo::zero` with the window's base): after the WRITE right and the range in the
        // slice, exactly what the same write of the pager VMO does.
        let root_off = via.map_or(off, |v| v.base + off);
        let fate = match via {
            Some(v) if !v.write => Fate::Ends(ACCESS_DENIED),
            Some(v) if !in_range(off, len, v.size) => Fate::Ends(OUT_OF_RANGE),
            _ if mapped => p.map_write_fate(off),
            _ => p.write_fate(root_off, len, zero),
        };
        if fate == Fate::Blocks {
            return true;
        }
        let was_dirty = p.is_dirty(off / pg());
        let mut data = vec![0u8; if zero { 0 } else { len as usize }];
        self.rng.fill(&mut data);
        let what = format!(
            "{how:?} {off:#x}+{len:#x} of a pager VMO of {:#x} bytes (trap_dirty {}, detached {}, \
             closed {}){}",
            p.size,
            p.trap_dirty,
            p.detached,
            p.closed,
            via.map_or(String::new(), |v| format!(
                " through a slice at {:#x} of {:#x} bytes (write right {})",
                v.base, v.size, v.write
            ))
        );
        let (tx, rx) = mpsc::channel();
        let raw = via.map_or(p.raw, |v| v.raw);
        let (dev, bytes, map) = (self.dev.clone(), data.clone(), p.map.clone());
        let writer = std::thread::spawn(move || {
            let r = match (how, map) {
                (How::Zero, _) => sys::op_range(dev.as_fd(), raw, sys::VMO_OP_ZERO, off, len),
                (How::Mapped, Some(m)) => m.write(off as usize, &bytes),
                _ => sys::write(dev.as_fd(), raw, off, &bytes),
            };
            let _ = tx.send(r.err().map_or(OK, sys::Errno::raw_os_error));
        });
        let want = match fate {
            Fate::Ends(s) => s,
            Fate::Asks => {
                match self
                    .answer_dirty_requests(pager, ph, p, completes, root_off, len, mapped, &what)
                {
                    Answered::Status(s) => s,
                    Answered::Broken => {
                        self.unstick(pager, p, rx, writer, &what);
                        return false;
                    }
                }
            }
            Fate::Blocks => unreachable!("not made"),
        };
        let got = match rx.recv_timeout(PATIENCE) {
            Ok(s) => s,
            Err(_) => {
                let report = format!("{what}: it did not end within {PATIENCE:?}");
                self.direct(Ioctl::PagerWrite, None, -1, want, &report);
                self.unstick(pager, p, rx, writer, &what);
                return false;
            }
        };
        let _ = writer.join();
        // Through a slice: op 0x100 (a WRITE) or 0x100 | ZERO, with 0x200 when it waited for
        // DIRTY requests.
        let slice_op = |o: u32| o | SLICE_OP | if fate == Fate::Asks { SLICE_ASKED } else { 0 };
        let (ioctl, op) = match how {
            How::Zero if via.is_some() => {
                (Ioctl::PagerChildWrite, Some(slice_op(sys::VMO_OP_ZERO)))
            }
            How::Write if via.is_some() => (Ioctl::PagerChildWrite, Some(slice_op(0))),
            How::Zero => (Ioctl::PagerWrite, Some(sys::VMO_OP_ZERO)),
            How::Write => (Ioctl::PagerWrite, None),
            How::Mapped => (Ioctl::PagerMapWrite, None),
        };
        self.direct(ioctl, op, got, want, &what);
        if got == OK && want == OK && len > 0 {
            let before = p.modified;
            p.wrote(root_off, len, &data, zero);
            if mapped && was_dirty {
                // A mapped write to a dirty page need not fault (see `modified_maybe`).
                p.modified = before;
                p.modified_maybe |= !before;
            }
        }
        // No request the model does not expect is left behind.
        if !p.closed && completes.is_empty() {
            let mut w = sys::vmo_pager_wait_args { pager, timeout_ns: 0, ..Default::default() };
            let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            let report = format!(
                "{what}: PAGER_WAIT after it (packet kind {} {:#x}+{:#x})",
                w.packet.type_, w.packet.offset, w.packet.length
            );
            self.direct(Ioctl::PagerWait, None, got, TIMED_OUT, &report);
        }
        true
    }

    /// The pager's side of a write of `[off, off + len)` that waits for DIRTY
    /// requests: reads each request the model predicts and answers it; the
    /// model follows. Returns the status the write must end with.
    #[allow(clippy::too_many_arguments)]
    fn answer_dirty_requests(
        &mut self,
        pager: u32,
        ph: u32,
        p: &mut Paged,
        completes: &mut Vec<u64>,
        off: u64,
        len: u64,
        mapped: bool,
        what: &str,
    ) -> Answered {
        let (a, b) = Paged::pages_of(off, len);
        let fd = self.dev.clone();
        // The request the writer waits for, once read.
        let mut pending: Option<(u64, u64)> = None;
        loop {
            let req = match pending {
                Some(r) => r,
                None => {
                    // The writer looks again from the first page it still needs: the first
                    // run of its pages that are not dirty (none: it goes on and writes).
                    let Some(r) = p.next_dirty_request(a, b) else {
                        return Answered::Status(OK);
                    };
                    let mut w = sys::vmo_pager_wait_args {
                        pager,
                        timeout_ns: PATIENCE.as_nanos() as i64,
                        ..Default::default()
                    };
                    let got = sys::pager_wait(fd.as_fd(), &mut w)
                        .err()
                        .map_or(OK, sys::Errno::raw_os_error);
                    let pk = w.packet;
                    let ok = got == OK
                        && pk.type_ == sys::VMO_PAGER_VMO_DIRTY
                        && pk.key == p.key
                        && (pk.offset, pk.length) == (r.0 * pg(), (r.1 - r.0) * pg());
                    let report = format!(
                        "{what}: the DIRTY request for pages {}..{}: got kind {} key {} \
                         {:#x}+{:#x}",
                        r.0, r.1, pk.type_, pk.key, pk.offset, pk.length
                    );
                    let res = if got != OK {
                        got
                    } else if ok {
                        OK
                    } else {
                        -1
                    };
                    self.direct(Ioctl::PagerWait, None, res, OK, &report);
                    if !ok {
                        return Answered::Broken;
                    }
                    r
                }
            };
            // The first page of the request that is not dirty yet: partial answers start
            // there.
            let s = (req.0..req.1).find(|&q| !p.is_dirty(q)).unwrap_or(req.0);
            let ps = pg();
            // A fault whose DIRTY request fails, or whose VMO is detached or whose pager
            // closes meanwhile, raises SIGBUS: a mapped write is only ever let through.
            let choice = if mapped { self.rng.below(16) } else { self.rng.below(20) };
            let dirty_range = match choice {
                12..=13 if req.1 - s > 1 => Some((s, s + 1 + self.rng.below(req.1 - s - 1))),
                // More than asked: up to the end of the write (all its pages are present).
                14..=15 => Some((req.0, b)),
                16..=17 => {
                    let code = FAIL_CODES[self.rng.index(FAIL_CODES.len())];
                    let (fo, fl) = if self.rng.chance(1, 2) {
                        (req.0 * ps, (req.1 - req.0) * ps)
                    } else {
                        (0, p.size)
                    };
                    let args = sys::vmo_pager_op_args {
                        pager,
                        op: sys::VMO_PAGER_OP_FAIL,
                        vmo: p.raw,
                        reserved: 0,
                        offset: fo,
                        length: fl,
                        data: u64::from(code),
                    };
                    let got = sys::pager_op_range(fd.as_fd(), args)
                        .err()
                        .map_or(OK, sys::Errno::raw_os_error);
                    let report = format!("{what}: FAIL {fo:#x}+{fl:#x} of its DIRTY request");
                    let op = Some(sys::VMO_PAGER_OP_FAIL);
                    self.direct(Ioctl::PagerOp, op, got, OK, &report);
                    if got != OK {
                        return Answered::Broken;
                    }
                    // The write fails with the pager's status and writes nothing.
                    return Answered::Status(code as i32);
                }
                18 => {
                    let args = sys::vmo_pager_detach_args { pager, vmo: p.raw };
                    let got = sys::pager_detach(fd.as_fd(), args)
                        .err()
                        .map_or(OK, sys::Errno::raw_os_error);
                    let report = format!("{what}: PAGER_DETACH while it waits");
                    self.direct(Ioctl::PagerDetach, None, got, OK, &report);
                    if got != OK {
                        return Answered::Broken;
                    }
                    if !completes.contains(&p.key) {
                        completes.push(p.key);
                    }
                    p.detach();
                    return Answered::Status(BAD_STATE);
                }
                19 => {
                    self.close_pager(pager, ph);
                    p.closed = true;
                    return Answered::Status(BAD_STATE);
                }
                _ => Some(req),
            };
            let (ds, de) = dirty_range.expect("an OP_DIRTY answer");
            let args = sys::vmo_pager_op_args {
                pager,
                op: sys::VMO_PAGER_OP_DIRTY,
                vmo: p.raw,
                reserved: 0,
                offset: ds * ps,
                length: (de - ds) * ps,
                data: 0,
            };
            let got =
                sys::pager_op_range(fd.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
            let report = format!("{what}: OP_DIRTY of pages {ds}..{de} for the request {req:?}");
            self.direct(Ioctl::PagerOp, Some(sys::VMO_PAGER_OP_DIRTY), got, OK, &report);
            if got != OK {
                return Answered::Broken;
            }
            p.op_done(sys::VMO_PAGER_OP_DIRTY, ds * ps, (de - ds) * ps, 0);
            if (req.0..req.1).all(|q| p.is_dirty(q)) {
                // The request ends; the writer looks again.
                pending = None;
            } else {
                // The request waits for the rest of its pages: no new one comes meanwhile.
                pending = Some(req);
                let mut w = sys::vmo_pager_wait_args { pager, timeout_ns: 0, ..Default::default() };
                let got =
                    sys::pager_wait(fd.as_fd(), &mut w).err().map_or(OK, sys::Errno::raw_os_error);
                let report = format!(
                    "{what}: PAGER_WAIT after OP_DIRTY of part of the request {req:?} (packet \
                     kind {} {:#x}+{:#x})",
                    w.packet.type_, w.packet.offset, w.packet.length
                );
                self.direct(Ioctl::PagerWait, None, got, TIMED_OUT, &report);
                if got != TIMED_OUT {
                    return Answered::Broken;
                }
            }
        }
    }

    /// After a mismatch while a writer may wait for the pager: detaches the
    /// VMO (which ends every request with `BAD_STATE`) if the pager is still
    /// there, and collects the writer if it ends; one that does not is left
    /// behind (reported).
    fn unstick<T>(
        &mut self,
        pager: u32,
        p: &mut Paged,
        rx: mpsc::Receiver<T>,
        writer: JoinHandle<()>,
        what: &str,
    ) {
        if !p.closed {
            let _ = sys::pager_detach(
                self.dev.as_fd(),
                sys::vmo_pager_detach_args { pager, vmo: p.raw },
            );
        }
        if rx.recv_timeout(PATIENCE).is_ok() {
            let _ = writer.join();
        } else {
            let report = format!("{what}: the writer still waits after a detach");
            self.direct(Ioctl::PagerWrite, None, -1, OK, &report);
        }
    }

    /// READ of supplied pages (the content the pager supplied and what was
    /// written since); after detaching or after the pager closed, of any
    /// range: OK where every page it touches is present (detach keeps the
    /// pages that are not clean; a read of length 0 touches none), else
    /// BAD_STATE (at once: no pager is left to wait for). The bytes read are
    /// checked where the model knows them.
    fn pager_read(&mut self, p: &Paged) {
        let (offset, len) = if p.detached || p.closed {
            (
                self.rng.below(p.size / pg() + 1) * pg() + self.rng.below(2) * 7,
                self.rng.below(2 * pg()),
            )
        } else {
            let Some((&page, _)) = p.present.iter().nth(self.rng.index(p.present.len().max(1)))
            else {
                return;
            };
            (page * pg(), pg())
        };
        let mut buf = vec![0u8; len as usize];
        let got = sys::read(self.dev.as_fd(), p.raw, offset, &mut buf)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        let all_present =
            len == 0 || (offset / pg()..(offset + len).div_ceil(pg())).all(|pg_| p.is_present(pg_));
        let want = if !in_range(offset, len, p.size) {
            OUT_OF_RANGE
        } else if (p.detached || p.closed) && !all_present {
            BAD_STATE
        } else {
            OK
        };
        let what = format!(
            "READ {offset:#x}+{len:#x} of a pager VMO (detached {}, closed {})",
            p.detached, p.closed
        );
        self.direct(Ioctl::PagerRead, None, got, want, &what);
        if got != OK || want != OK {
            return;
        }
        let ps = pg();
        let differs = buf.iter().enumerate().find(|&(i, &byte)| {
            let pos = offset + i as u64;
            let known = p.present.get(&(pos / ps)).and_then(|pp| pp.bytes.as_ref());
            known.is_some_and(|bytes| bytes[(pos % ps) as usize] != byte)
        });
        if let Some((i, &byte)) = differs {
            let report =
                format!("{what}: byte {:#x} is {byte:#04x}, not the model's", offset + i as u64);
            self.direct(Ioctl::PagerRead, None, -1, OK, &report);
        }
    }

    /// CREATE_CHILD of the pager VMO (through its handle, which has DUPLICATE
    /// and READ): mostly a slice or a `SNAPSHOT_AT_LEAST_ON_WRITE` clone (now
    /// and then `RESIZABLE`, `NO_WRITE`), at times `SNAPSHOT` or other options,
    /// an unaligned offset, a window past the end or an overflowing size. The
    /// statuses in the module's order: `Vmo::check_child_args` (size, then
    /// `NO_WRITE | RESIZABLE`), the rights, `Vmo::create_child` (a slice must
    /// be exactly `SLICE`, aligned and inside the VMO, and not of a resizable
    /// VMO: `NOT_SUPPORTED`; a snapshot's options, alignment, overflow, one of
    /// the snapshot options), and last, for a VMO whose chain starts at a
    /// pager-backed VMO, `SNAPSHOT` is `NOT_SUPPORTED` (with
    /// `SNAPSHOT_AT_LEAST_ON_WRITE` too it is `INVALID_ARGS`: one child type). A clone reads through to the pages of
    /// its window inside the VMO (its limit), zeros past it.
    fn pager_child_create(&mut self, p: &Paged, kids: &mut Vec<Kid>) {
        if kids.len() >= 3 {
            return;
        }
        let ps = pg();
        let pages = p.size / ps;
        let (slice, alow) = (sys::VMO_CHILD_SLICE, sys::VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE);
        let mut options = match self.rng.below(20) {
            0..=7 => slice,
            8..=12 => alow,
            13..=15 => alow | sys::VMO_CHILD_RESIZABLE,
            16 => sys::VMO_CHILD_SNAPSHOT,
            17 => sys::VMO_CHILD_SNAPSHOT | alow,
            18 => slice | alow,
            _ => self.rng.next_u32(),
        };
        if self.rng.chance(1, 6) {
            options |= sys::VMO_CHILD_NO_WRITE;
        }
        // Mostly a window on much of the VMO (where its pages are); at times anywhere.
        let first = if self.rng.chance(1, 4) {
            self.rng.below(pages + 2)
        } else {
            self.rng.below(pages / 2 + 1)
        };
        let offset = first * ps + u64::from(self.rng.chance(1, 16));
        let rest = pages.saturating_sub(first);
        let size = match self.rng.below(12) {
            0 => self.rng.next_u64(),
            1 => u64::MAX - self.rng.below(2 * ps),
            2 => self.rng.below(ps) + 1,
            3 | 4 => self.rng.below(rest + 3) * ps,
            _ if rest == 0 => self.rng.below(3) * ps,
            _ => (rest - self.rng.below(rest.min(3))) * ps,
        };
        let mut a = sys::vmo_create_child_args {
            handle: p.raw,
            options,
            offset,
            size,
            ..Default::default()
        };
        let got =
            sys::create_child(self.dev.as_fd(), &mut a).err().map_or(OK, sys::Errno::raw_os_error);
        let st = VmoState {
            size: p.size,
            resizable: p.resizable,
            decommit_blocked: false,
            discardable: false,
            lock_count: 0,
            discarded: false,
        };
        let rights = if p.resizable { DEFAULT_VMO | R_RESIZE } else { DEFAULT_VMO };
        let want = match child_precheck(options, size) {
            Some(e) => e,
            None => match child_status(rights, options, offset, size, &st) {
                OK if !is_slice_options(options) && options & sys::VMO_CHILD_SNAPSHOT != 0 => {
                    NOT_SUPPORTED
                }
                s => s,
            },
        };
        let what = format!(
            "CREATE_CHILD options {options:#x} {offset:#x}+{size:#x} of a pager VMO of {:#x} \
             bytes (resizable {})",
            p.size, p.resizable
        );
        self.direct(Ioctl::PagerChild, None, got, want, &what);
        if got != OK {
            return;
        }
        if want != OK {
            let _ = sys::close(
                self.dev.as_fd(),
                sys::vmo_close_args { handle: a.out_handle, reserved: 0 },
            );
            return;
        }
        let size = round_size(size).expect("accepted");
        let is_slice = is_slice_options(options);
        // `Vmo::create_snapshot`: the part of the window inside the VMO, in pages.
        let inside = (offset + size).min(p.size);
        let limit = if offset < inside { (inside - offset) / ps } else { 0 };
        kids.push(Kid {
            raw: a.out_handle,
            slice: is_slice,
            base: offset / ps,
            size,
            write: options & sys::VMO_CHILD_NO_WRITE == 0,
            resizable: !is_slice && options & sys::VMO_CHILD_RESIZABLE != 0,
            limit: if is_slice { 0 } else { limit },
            own: BTreeMap::new(),
        });
    }

    /// Runs `access` (a read or write of the episode's VMOs that the model says
    /// ends by itself) on a thread of its own, and returns what it returned;
    /// `None` when it did not end within [`PATIENCE`] (reported, and the VMO
    /// detached to end it).
    fn guarded<T: Send + 'static>(
        &mut self,
        pager: u32,
        p: &mut Paged,
        what: &str,
        access: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        let worker = std::thread::spawn(move || {
            let _ = tx.send(access());
        });
        match rx.recv_timeout(PATIENCE) {
            Ok(r) => {
                let _ = worker.join();
                Some(r)
            }
            Err(_) => {
                let report = format!("{what}: it did not end within {PATIENCE:?}");
                self.direct(Ioctl::PagerChildRead, None, -1, OK, &report);
                self.unstick(pager, p, rx, worker, what);
                None
            }
        }
    }

    /// Checks `buf`, read from bytes `[off, ..)` of the child, against the
    /// model where it knows the bytes.
    fn check_kid_bytes(
        &mut self,
        p: &Paged,
        kid: &Kid,
        off: u64,
        buf: &[u8],
        ioctl: Ioctl,
        what: &str,
    ) {
        let ps = pg();
        let mut page: Option<(u64, Option<Vec<u8>>)> = None;
        for (i, &byte) in buf.iter().enumerate() {
            let pos = off + i as u64;
            let q = pos / ps;
            if page.as_ref().is_none_or(|(pq, _)| *pq != q) {
                page = Some((q, kid.page_bytes(p, q)));
            }
            if let Some((_, Some(bytes))) = &page {
                let want = bytes[(pos % ps) as usize];
                if want != byte {
                    let report = format!(
                        "{what}: byte {pos:#x} is {byte:#04x}, model {want:#04x} ({:?})",
                        kid.src(q)
                    );
                    self.direct(ioctl, None, -1, OK, &report);
                    return;
                }
            }
        }
    }

    /// A run of 1 to 4 of `kid`'s pages, `[start, end)`, that read nothing the
    /// pager has not supplied (so an access to it waits for nobody), from a
    /// page picked among the first 64 such; `None` if there is none.
    fn run_without_pager(&mut self, p: &Paged, kid: &Kid) -> Option<(u64, u64)> {
        let n = kid.pages();
        let ok: Vec<u64> = (0..n.min(64)).filter(|&q| !kid.needs_pager(p, q)).collect();
        if ok.is_empty() {
            return None;
        }
        let s = ok[self.rng.index(ok.len())];
        let mut e = s + 1;
        while e < s + 4 && e < n && !kid.needs_pager(p, e) {
            e += 1;
        }
        Some((s, e))
    }

    /// READ of a child: of any range once the pager is gone (detached or
    /// closed), else of pages that read nothing the pager has not supplied
    /// (nothing waits). Status and bytes per [`Kid::read_fate`] and
    /// [`Kid::page_bytes`]: a slice reads the pager VMO's pages as they are;
    /// a clone its own pages, the pager VMO's live pages below its limit (its
    /// parent's writes show), zeros past it.
    fn pager_child_read(&mut self, pager: u32, p: &mut Paged, kids: &[Kid]) -> bool {
        let kid = kids[self.rng.index(kids.len())].clone();
        let ps = pg();
        let n = kid.pages();
        let mut range = None;
        if p.detached || p.closed || self.rng.chance(1, 3) {
            let off = self.rng.below(n + 2) * ps + self.rng.below(2) * self.rng.below(ps);
            let len = self.rng.below(3 * ps);
            if kid.read_fate(p, off, len) != Fate::Blocks {
                range = Some((off, len));
            }
        }
        if range.is_none() {
            let Some((s, e)) = self.run_without_pager(p, &kid) else {
                return true;
            };
            let off = s * ps + if self.rng.chance(1, 3) { self.rng.below(ps) } else { 0 };
            range = Some((off, 1 + self.rng.below(e * ps - off)));
        }
        let (off, len) = range.expect("picked");
        let want = match kid.read_fate(p, off, len) {
            Fate::Ends(s) => s,
            _ => return true,
        };
        let what = format!(
            "READ {off:#x}+{len:#x} of a {} of a pager VMO ({} pages at page {}, limit {}, own {:?}; \
             detached {}, closed {})",
            if kid.slice { "slice" } else { "clone" },
            n,
            kid.base,
            kid.limit,
            kid.own.keys().collect::<Vec<_>>(),
            p.detached,
            p.closed
        );
        let (dev, raw) = (self.dev.clone(), kid.raw);
        let Some((got, buf)) = self.guarded(pager, p, &what, move || {
            let mut buf = vec![0u8; len as usize];
            let r = sys::read(dev.as_fd(), raw, off, &mut buf);
            (r.err().map_or(OK, sys::Errno::raw_os_error), buf)
        }) else {
            return false;
        };
        self.direct(Ioctl::PagerChildRead, None, got, want, &what);
        if got == OK && want == OK {
            self.check_kid_bytes(p, &kid, off, &buf, Ioctl::PagerChildRead, &what);
        }
        true
    }

    /// A WRITE or ZERO of a child: of a slice, [`Worker::pager_write`] through
    /// it (its writes are the pager VMO's: they dirty its pages, modify it and,
    /// under `TRAP_DIRTY`, wait for the DIRTY requests the episode answers); of
    /// a clone, [`Worker::pager_clone_write`].
    fn pager_child_write(
        &mut self,
        pager: u32,
        ph: u32,
        p: &mut Paged,
        completes: &mut Vec<u64>,
        kids: &mut [Kid],
    ) -> bool {
        let i = self.rng.index(kids.len());
        if self.rng.chance(1, 6) {
            return self.pager_child_set_size(pager, p, &mut kids[i]);
        }
        if kids[i].slice {
            let k = &kids[i];
            let via = Via { raw: k.raw, base: k.base * pg(), size: k.size, write: k.write };
            return self.pager_write(pager, ph, p, completes, Some(via));
        }
        self.pager_clone_write(pager, p, completes, &mut kids[i])
    }

    /// SET_SIZE of a child (`Device::set_size`, `Vmo::set_size`): WRITE, then
    /// RESIZE if it is resizable, then `UNAVAILABLE` unless it is (a slice
    /// never is), then the size. A clone's shrink drops its pages past the new
    /// end and cuts its limit there for good (`Node::set_size`), so a later
    /// growth reads zeros there, not the VMO's pages.
    fn pager_child_set_size(&mut self, pager: u32, p: &mut Paged, kid: &mut Kid) -> bool {
        let ps = pg();
        let size = match self.rng.below(10) {
            0 => self.rng.next_u64(),
            1 => self.rng.below(kid.pages() + 3) * ps + 1 + self.rng.below(ps - 1),
            _ => self.rng.below(kid.pages().min(64) + 3) * ps,
        };
        let args = sys::vmo_size_args { handle: kid.raw, reserved: 0, size };
        let got = sys::set_size(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if !kid.write {
            ACCESS_DENIED
        } else if !kid.resizable {
            UNAVAILABLE
        } else if round_size(size).is_none() {
            OUT_OF_RANGE
        } else {
            OK
        };
        let what = format!(
            "SET_SIZE {size:#x} of a {} of a pager VMO ({} pages at page {}, limit {}, resizable \
             {}, write right {})",
            if kid.slice { "slice" } else { "clone" },
            kid.pages(),
            kid.base,
            kid.limit,
            kid.resizable,
            kid.write
        );
        self.direct(Ioctl::PagerChildWrite, Some(CHILD_SET_SIZE), got, want, &what);
        if got != OK || want != OK {
            return true;
        }
        let old = kid.size;
        kid.size = round_size(size).expect("accepted");
        let end = kid.size / ps;
        kid.own.retain(|&q, _| q < end);
        kid.limit = kid.limit.min(end);
        if kid.size >= old || self.rng.chance(1, 2) {
            return true;
        }
        // A shrink, now and then grown back at once and the regrown pages read: zeros.
        let args = sys::vmo_size_args { handle: kid.raw, reserved: 0, size: old };
        let got = sys::set_size(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let what = format!("{what}, then back to {old:#x}");
        self.direct(Ioctl::PagerChildWrite, Some(CHILD_SET_SIZE), got, OK, &what);
        if got != OK {
            return true;
        }
        kid.size = old;
        let len = (old - end * ps).min(4 * ps);
        let Fate::Ends(want) = kid.read_fate(p, end * ps, len) else {
            return true;
        };
        let (dev, raw, off) = (self.dev.clone(), kid.raw, end * ps);
        let what = format!("{what}: READ {off:#x}+{len:#x}");
        let Some((got, buf)) = self.guarded(pager, p, &what, move || {
            let mut buf = vec![0u8; len as usize];
            let r = sys::read(dev.as_fd(), raw, off, &mut buf);
            (r.err().map_or(OK, sys::Errno::raw_os_error), buf)
        }) else {
            return false;
        };
        self.direct(Ioctl::PagerChildRead, None, got, want, &what);
        if got == OK && want == OK {
            self.check_kid_bytes(p, kid, off, &buf, Ioctl::PagerChildRead, &what);
        }
        true
    }

    /// The bytes of a write through a slice: while the pager serves the VMO,
    /// a run of present pages of the window (partial at either end now and
    /// then); now and then, or once the pager is gone, anything in or past the
    /// slice that does not wait for a READ request.
    fn slice_write_range(&mut self, p: &Paged, v: Via, zero: bool) -> Option<(u64, u64)> {
        let ps = pg();
        let (b0, n) = (v.base / ps, v.size / ps);
        if p.detached || p.closed || !v.write || self.rng.chance(1, 4) {
            let off = self.rng.below(n + 2) * ps
                + if self.rng.chance(1, 2) { self.rng.below(ps) } else { 0 };
            let len = if self.rng.chance(1, 8) { 0 } else { 1 + self.rng.below(3 * ps) };
            if !in_range(off, len, v.size) || p.write_fate(v.base + off, len, zero) != Fate::Blocks
            {
                return Some((off, len));
            }
        }
        let pages: Vec<u64> = p.present.range(b0..b0 + n).map(|(&q, _)| q).collect();
        if pages.is_empty() {
            return None;
        }
        let s = pages[self.rng.index(pages.len())];
        let mut e = s + 1;
        while e < s + 4 && e < b0 + n && p.is_present(e) {
            e += 1;
        }
        let off = s * ps + if self.rng.chance(1, 2) { self.rng.below(ps) } else { 0 };
        let max = e * ps - off;
        let len = if self.rng.chance(1, 3) { max } else { 1 + self.rng.below(max) };
        Some((off - v.base, len))
    }

    /// A WRITE or ZERO of a clone (see [`Kid::clone_write_fate`]): of a range
    /// that asks the pager for nothing while it serves the VMO. The clone's
    /// writes are its own: the pager VMO's pages, dirt and modified flag stay
    /// as they are, and no DIRTY request comes (checked with `PAGER_WAIT`).
    fn pager_clone_write(
        &mut self,
        pager: u32,
        p: &mut Paged,
        completes: &mut [u64],
        kid: &mut Kid,
    ) -> bool {
        let ps = pg();
        let zero = self.rng.chance(1, 4);
        let n = kid.pages();
        let mut range = None;
        if p.detached || p.closed || self.rng.chance(1, 3) {
            // Anywhere in or past the clone.
            let off = self.rng.below(n + 2) * ps
                + if self.rng.chance(1, 2) { self.rng.below(ps) } else { 0 };
            let len = if self.rng.chance(1, 10) { 0 } else { 1 + self.rng.below(3 * ps) };
            if kid.clone_write_fate(p, off, len, zero).0 != Fate::Blocks {
                range = Some((off, len));
            }
        }
        if range.is_none() {
            let Some((s, e)) = self.run_without_pager(p, kid) else {
                return true;
            };
            let off = s * ps + if self.rng.chance(1, 2) { self.rng.below(ps) } else { 0 };
            let max = e * ps - off;
            range = Some((off, if self.rng.chance(1, 3) { max } else { 1 + self.rng.below(max) }));
        }
        let Some((off, len)) = range else {
            return true;
        };
        let (fate, stop) = kid.clone_write_fate(p, off, len, zero);
        let Fate::Ends(want) = fate else {
            return true;
        };
        let mut data = vec![0u8; if zero { 0 } else { len as usize }];
        self.rng.fill(&mut data);
        let what = format!(
            "{} {off:#x}+{len:#x} of a clone of a pager VMO ({} pages at page {}, limit {}, \
             resizable {}, write right {}; detached {}, closed {})",
            if zero { "ZERO" } else { "WRITE" },
            n,
            kid.base,
            kid.limit,
            kid.resizable,
            kid.write,
            p.detached,
            p.closed
        );
        let (dev, raw, bytes) = (self.dev.clone(), kid.raw, data.clone());
        let Some(got) = self.guarded(pager, p, &what, move || {
            let r = if zero {
                sys::op_range(dev.as_fd(), raw, sys::VMO_OP_ZERO, off, len)
            } else {
                sys::write(dev.as_fd(), raw, off, &bytes)
            };
            r.err().map_or(OK, sys::Errno::raw_os_error)
        }) else {
            return false;
        };
        let op = zero.then_some(sys::VMO_OP_ZERO);
        self.direct(Ioctl::PagerChildWrite, op, got, want, &what);
        if got == want && (want == OK || want == BAD_STATE) {
            kid.clone_wrote(p, off, len, &data, zero, stop);
        }
        if !p.closed && completes.is_empty() {
            let mut w = sys::vmo_pager_wait_args { pager, timeout_ns: 0, ..Default::default() };
            let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            let report = format!(
                "{what}: PAGER_WAIT after it (packet kind {} {:#x}+{:#x})",
                w.packet.type_, w.packet.offset, w.packet.length
            );
            self.direct(Ioctl::PagerWait, None, got, TIMED_OUT, &report);
        }
        true
    }

    /// The pager VMO's handle is closed while children live (the episode's
    /// end, now and then): a slice holds the VMO, a clone its pages (its node,
    /// `cow.rs`), so what the children read stays as it was (checked) and no
    /// COMPLETE comes while one lives; a clone's read of a page the pager has
    /// not supplied still asks the pager (a READ request of that page), which
    /// can no longer supply it (no handle to the VMO is left): closing the
    /// pager ends it with `BAD_STATE`. The children close in a random order;
    /// once the last is gone the VMO is, and (attached, pager open) its pager
    /// gets COMPLETE (`Node::drop` detaches the source).
    fn pager_orphans(
        &mut self,
        pager: u32,
        ph: u32,
        p: &mut Paged,
        completes: &[u64],
        kids: Vec<Kid>,
    ) {
        // Packets are checked only where none may be pending already.
        let quiet = |p: &Paged| !p.detached && !p.closed && completes.is_empty();
        let mut ok = true;
        for _ in 0..1 + self.rng.below(3) {
            ok = ok && self.pager_child_read(pager, p, &kids);
        }
        if !ok {
            for kid in kids {
                let _ = sys::close(
                    self.dev.as_fd(),
                    sys::vmo_close_args { handle: kid.raw, reserved: 0 },
                );
            }
            return;
        }
        let what = "after the pager VMO's handle closed, its children live";
        if quiet(p) {
            self.expect_no_packet(pager, what);
        }
        // A READ request nobody can serve, ended by the pager's close.
        let hole = kids.iter().filter(|k| !k.slice).find_map(|k| {
            (0..k.pages().min(64)).find(|&q| k.needs_pager(p, q)).map(|q| (k.raw, k.base, q))
        });
        if let (Some((raw, base, q)), true) = (hole, quiet(p) && self.rng.chance(1, 2)) {
            let ps = pg();
            let what = format!("READ of page {q} of a clone (at page {base}) {what}");
            let (tx, rx) = mpsc::channel();
            let dev = self.dev.clone();
            let reader = std::thread::spawn(move || {
                let mut buf = vec![0u8; ps as usize];
                let r = sys::read(dev.as_fd(), raw, q * ps, &mut buf);
                let _ = tx.send(r.err().map_or(OK, sys::Errno::raw_os_error));
            });
            let mut w = sys::vmo_pager_wait_args {
                pager,
                timeout_ns: PATIENCE.as_nanos() as i64,
                ..Default::default()
            };
            let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            let pk = w.packet;
            let ok = got == OK
                && pk.type_ == sys::VMO_PAGER_VMO_READ
                && pk.key == p.key
                && (pk.offset, pk.length) == ((base + q) * ps, ps);
            let report = format!(
                "{what}: the READ request for page {}: got kind {} key {} {:#x}+{:#x}",
                base + q,
                pk.type_,
                pk.key,
                pk.offset,
                pk.length
            );
            let res = if got != OK {
                got
            } else if ok {
                OK
            } else {
                -1
            };
            self.direct(Ioctl::PagerWait, None, res, OK, &report);
            // The pager's close ends the request (and, if none came, the read).
            self.close_pager(pager, ph);
            p.closed = true;
            match rx.recv_timeout(PATIENCE) {
                Ok(got) => {
                    let _ = reader.join();
                    self.direct(Ioctl::PagerReadRequest, Some(3), got, BAD_STATE, &what);
                }
                Err(_) => {
                    let report =
                        format!("{what}: it did not end within {PATIENCE:?} of the pager's close");
                    self.direct(Ioctl::PagerReadRequest, Some(3), -1, BAD_STATE, &report);
                }
            }
        }
        let order: Vec<usize> = {
            let mut v: Vec<usize> = (0..kids.len()).collect();
            for i in (1..v.len()).rev() {
                v.swap(i, self.rng.index(i + 1));
            }
            v
        };
        let n = order.len();
        for (done, &i) in order.iter().enumerate() {
            let raw = kids[i].raw;
            let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: raw, reserved: 0 });
            if !quiet(p) {
                continue;
            }
            let what =
                format!("PAGER_WAIT after closing child {} of {n} of a closed pager VMO", done + 1);
            if done + 1 < n {
                self.expect_no_packet(pager, &what);
                continue;
            }
            // The VMO goes with its last child: COMPLETE (the drop may come a moment later).
            let mut w = sys::vmo_pager_wait_args {
                pager,
                timeout_ns: PATIENCE.as_nanos() as i64,
                ..Default::default()
            };
            let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            let ok =
                got == OK && w.packet.type_ == sys::VMO_PAGER_VMO_COMPLETE && w.packet.key == p.key;
            let report = format!(
                "{what}: the last one: got kind {} key {}, expected COMPLETE {}",
                w.packet.type_, w.packet.key, p.key
            );
            let res = if got != OK {
                got
            } else if ok {
                OK
            } else {
                -1
            };
            self.direct(Ioctl::PagerWait, None, res, OK, &report);
        }
    }

    /// `PAGER_WAIT` with no timeout: no packet is queued.
    fn expect_no_packet(&mut self, pager: u32, what: &str) {
        let mut w = sys::vmo_pager_wait_args { pager, timeout_ns: 0, ..Default::default() };
        let got =
            sys::pager_wait(self.dev.as_fd(), &mut w).err().map_or(OK, sys::Errno::raw_os_error);
        let report = format!(
            "{what}: PAGER_WAIT (packet kind {} key {} {:#x}+{:#x})",
            w.packet.type_, w.packet.key, w.packet.offset, w.packet.length
        );
        self.direct(Ioctl::PagerWait, None, got, TIMED_OUT, &report);
    }

    /// Pages `[s, e)` of the pager VMO (absent: a READ request's) supplied from
    /// a fresh aux VMO of random bytes through the full-rights pager handle.
    fn supply_fresh_range(
        &mut self,
        pager: u32,
        p: &mut Paged,
        s: u64,
        e: u64,
        what: &str,
    ) -> bool {
        let ps = pg();
        let len = (e - s) * ps;
        let mut c = sys::vmo_create_args { size: len, ..Default::default() };
        let got = sys::create(self.dev.as_fd(), &mut c).err().map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::Create, None, got, OK, "CREATE of a fresh aux VMO");
        if got != OK {
            return false;
        }
        let aux = c.handle;
        let mut data = vec![0u8; len as usize];
        self.rng.fill(&mut data);
        let got =
            sys::write(self.dev.as_fd(), aux, 0, &data).err().map_or(OK, sys::Errno::raw_os_error);
        self.direct(Ioctl::Write, None, got, OK, "WRITE of a fresh aux VMO");
        let args = sys::vmo_pager_supply_args {
            pager,
            vmo: p.raw,
            offset: s * ps,
            length: len,
            aux_vmo: aux,
            reserved: 0,
            aux_offset: 0,
        };
        let got =
            sys::pager_supply(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: aux, reserved: 0 });
        let report = format!("{what}: PAGER_SUPPLY of pages {s}..{e}");
        self.direct(Ioctl::PagerSupply, None, got, OK, &report);
        if got != OK {
            return false;
        }
        for k in s..e {
            if !p.is_present(k) {
                let i = ((k - s) * ps) as usize;
                let bytes = data[i..i + ps as usize].to_vec();
                p.present.insert(k, PPage { bytes: Some(bytes), dirt: Dirt::Clean });
            }
        }
        true
    }

    /// READ requests: a READ of the pager VMO, of a slice or of a clone that
    /// reads pages the pager has not supplied, on a thread of its own, while
    /// the episode, as the pager, reads each READ request the model predicts
    /// (its range exactly) and answers it: a supply of the request from a fresh
    /// aux VMO (at times in two parts: the reader keeps waiting and no new
    /// request comes in between), `FAIL` of it (the read fails with that
    /// status), or a detach (`BAD_STATE`). A read of the VMO or a slice asks
    /// for the first run of absent pages of its range, cut at the range's end
    /// (`PageSource::populate` of the range: `first_needing`, no read-ahead),
    /// then looks again from there; a clone asks for one page at a time, the
    /// first it reads through to an absent page (`Node::run` stops there and
    /// populates that page). The read's status and bytes are then checked.
    fn pager_read_request(&mut self, pager: u32, p: &mut Paged, kids: &[Kid]) -> bool {
        if p.detached || p.closed {
            return true;
        }
        let ps = pg();
        // The target: the VMO (0), a slice (1) or a clone (2), as a window on the pager
        // VMO's pages.
        let pick = if kids.is_empty() || self.rng.chance(1, 3) {
            None
        } else {
            Some(kids[self.rng.index(kids.len())].clone())
        };
        let (kind, raw, n) = match &pick {
            None => (0u32, p.raw, p.size / ps),
            Some(k) => (if k.slice { 1 } else { 2 }, k.raw, k.pages()),
        };
        let needs = |q: u64| match &pick {
            None => !p.is_present(q),
            Some(k) => k.needs_pager(p, q),
        };
        let holes: Vec<u64> = (0..n.min(64)).filter(|&q| needs(q)).collect();
        if holes.is_empty() {
            return true;
        }
        let h = holes[self.rng.index(holes.len())];
        let a = h.saturating_sub(self.rng.below(2));
        let b = (h + 1 + self.rng.below(3)).min(n);
        let off = a * ps + if self.rng.chance(1, 3) { self.rng.below(ps) } else { 0 };
        let end = b * ps - if self.rng.chance(1, 3) { self.rng.below(ps) } else { 0 };
        let (off, len) = if off < end { (off, end - off) } else { (h * ps, ps) };
        let what = format!(
            "READ {off:#x}+{len:#x} of {} of a pager VMO of {:#x} bytes waiting for READ \
             requests",
            match &pick {
                None => "the VMO".to_string(),
                Some(k) => format!(
                    "a {} ({} pages at page {}, limit {})",
                    if k.slice { "slice" } else { "clone" },
                    n,
                    k.base,
                    k.limit
                ),
            },
            p.size
        );
        let (tx, rx) = mpsc::channel();
        let dev = self.dev.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; len as usize];
            let r = sys::read(dev.as_fd(), raw, off, &mut buf);
            let _ = tx.send((r.err().map_or(OK, sys::Errno::raw_os_error), buf));
        });
        let (qa, qb) = Paged::pages_of(off, len);
        // The window's base in the pager VMO's pages.
        let base = pick.as_ref().map_or(0, |k| k.base);
        let want = loop {
            // The next request: the first page of the range still needing the pager, and
            // for the VMO or a slice the run of absent pages from there.
            let Some(first) = (qa..qb).find(|&q| match &pick {
                None => !p.is_present(q),
                Some(k) => k.needs_pager(p, q),
            }) else {
                break OK;
            };
            let (rs, re) = if kind == 2 {
                (base + first, base + first + 1)
            } else {
                let rs = base + first;
                let re = (rs..base + qb).find(|&r| p.is_present(r)).unwrap_or(base + qb);
                (rs, re)
            };
            let mut w = sys::vmo_pager_wait_args {
                pager,
                timeout_ns: PATIENCE.as_nanos() as i64,
                ..Default::default()
            };
            let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            let pk = w.packet;
            let ok = got == OK
                && pk.type_ == sys::VMO_PAGER_VMO_READ
                && pk.key == p.key
                && (pk.offset, pk.length) == (rs * ps, (re - rs) * ps);
            let report = format!(
                "{what}: the READ request for pages {rs}..{re}: got kind {} key {} {:#x}+{:#x}",
                pk.type_, pk.key, pk.offset, pk.length
            );
            self.direct(
                Ioctl::PagerWait,
                None,
                if got != OK {
                    got
                } else if ok {
                    OK
                } else {
                    -1
                },
                OK,
                &report,
            );
            if !ok {
                self.unstick(pager, p, rx, reader, &what);
                return false;
            }
            match self.rng.below(20) {
                0..=1 => {
                    let code = FAIL_CODES[self.rng.index(FAIL_CODES.len())];
                    let args = sys::vmo_pager_op_args {
                        pager,
                        op: sys::VMO_PAGER_OP_FAIL,
                        vmo: p.raw,
                        reserved: 0,
                        offset: rs * ps,
                        length: (re - rs) * ps,
                        data: u64::from(code),
                    };
                    let got = sys::pager_op_range(self.dev.as_fd(), args)
                        .err()
                        .map_or(OK, sys::Errno::raw_os_error);
                    let report = format!("{what}: FAIL of its READ request {rs}..{re}");
                    self.direct(Ioctl::PagerOp, Some(sys::VMO_PAGER_OP_FAIL), got, OK, &report);
                    if got != OK {
                        self.unstick(pager, p, rx, reader, &what);
                        return false;
                    }
                    break code as i32;
                }
                2 => {
                    let args = sys::vmo_pager_detach_args { pager, vmo: p.raw };
                    let got = sys::pager_detach(self.dev.as_fd(), args)
                        .err()
                        .map_or(OK, sys::Errno::raw_os_error);
                    let report = format!("{what}: PAGER_DETACH while it waits");
                    self.direct(Ioctl::PagerDetach, None, got, OK, &report);
                    if got != OK {
                        self.unstick(pager, p, rx, reader, &what);
                        return false;
                    }
                    p.detach();
                    // The COMPLETE packet is read here: nothing else may be queued.
                    let mut w =
                        sys::vmo_pager_wait_args { pager, timeout_ns: 0, ..Default::default() };
                    let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                        .err()
                        .map_or(OK, sys::Errno::raw_os_error);
                    let ok = got == OK && w.packet.type_ == sys::VMO_PAGER_VMO_COMPLETE;
                    let report = format!("{what}: the COMPLETE packet after the detach");
                    self.direct(Ioctl::PagerWait, None, if ok { OK } else { -1 }, OK, &report);
                    break BAD_STATE;
                }
                3..=5 if re - rs > 1 => {
                    // Part of the request: it waits for the rest, and no new one comes.
                    let mid = rs + 1 + self.rng.below(re - rs - 1);
                    if !self.supply_fresh_range(pager, p, rs, mid, &what) {
                        self.unstick(pager, p, rx, reader, &what);
                        return false;
                    }
                    let mut w =
                        sys::vmo_pager_wait_args { pager, timeout_ns: 0, ..Default::default() };
                    let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                        .err()
                        .map_or(OK, sys::Errno::raw_os_error);
                    let report = format!(
                        "{what}: PAGER_WAIT after a supply of part {rs}..{mid} of the request \
                         (packet kind {} {:#x}+{:#x})",
                        w.packet.type_, w.packet.offset, w.packet.length
                    );
                    self.direct(Ioctl::PagerWait, None, got, TIMED_OUT, &report);
                    if got != TIMED_OUT || !self.supply_fresh_range(pager, p, mid, re, &what) {
                        self.unstick(pager, p, rx, reader, &what);
                        return false;
                    }
                }
                _ => {
                    if !self.supply_fresh_range(pager, p, rs, re, &what) {
                        self.unstick(pager, p, rx, reader, &what);
                        return false;
                    }
                }
            }
        };
        let (got, buf) = match rx.recv_timeout(PATIENCE) {
            Ok(r) => r,
            Err(_) => {
                let report = format!("{what}: it did not end within {PATIENCE:?}");
                self.direct(Ioctl::PagerReadRequest, Some(kind), -1, want, &report);
                self.unstick(pager, p, rx, reader, &what);
                return false;
            }
        };
        let _ = reader.join();
        self.direct(Ioctl::PagerReadRequest, Some(kind), got, want, &what);
        if got == OK && want == OK {
            let whole = Kid {
                raw: p.raw,
                slice: true,
                base: 0,
                size: p.size,
                write: true,
                resizable: false,
                limit: 0,
                own: BTreeMap::new(),
            };
            let k = pick.as_ref().unwrap_or(&whole);
            self.check_kid_bytes(p, k, off, &buf, Ioctl::PagerReadRequest, &what);
        }
        if !p.closed {
            let mut w = sys::vmo_pager_wait_args { pager, timeout_ns: 0, ..Default::default() };
            let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                .err()
                .map_or(OK, sys::Errno::raw_os_error);
            let report = format!(
                "{what}: PAGER_WAIT after it (packet kind {} {:#x}+{:#x})",
                w.packet.type_, w.packet.offset, w.packet.length
            );
            self.direct(Ioctl::PagerWait, None, got, TIMED_OUT, &report);
        }
        true
    }

    /// SET_SIZE of the pager VMO: `UNAVAILABLE` unless it was made resizable;
    /// a shrink drops the pages past the new end (and their dirt), a growth
    /// adds absent pages (whatever the pager's state); either modifies the
    /// VMO (Zircon's `VmCowPages::Resize`).
    fn pager_set_size(&mut self, p: &mut Paged, kids: &mut [Kid]) {
        let size = match self.rng.below(8) {
            0 => self.rng.next_u64(),
            _ => self.rng.below(17) * pg() + self.rng.below(2) * self.rng.below(pg()),
        };
        let args = sys::vmo_size_args { handle: p.raw, reserved: 0, size };
        let got = sys::set_size(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if !p.resizable {
            UNAVAILABLE
        } else if round_size(size).is_none() {
            OUT_OF_RANGE
        } else {
            OK
        };
        let what = format!("SET_SIZE {size:#x} of a pager VMO (resizable {})", p.resizable);
        self.direct(Ioctl::SetSize, None, got, want, &what);
        if got == OK {
            p.size = round_size(size).expect("accepted");
            let end = p.size / pg();
            p.present.retain(|&page, _| page < end);
            p.modified = true;
            // A shrink cuts what each clone reads through to at the new end, for good: a
            // later growth reads zeros there (`Node::set_size`). No slice of a resizable VMO
            // exists.
            for kid in kids.iter_mut() {
                kid.limit = kid.limit.min(end.saturating_sub(kid.base));
            }
            self.keep_pages(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paged(pages: u64, trap: bool, states: &[(u64, Dirt)]) -> Paged {
        let options = if trap { sys::VMO_CREATE_TRAP_DIRTY } else { 0 };
        let mut p = Paged::new(1, pages * pg(), 0, options);
        for &(q, dirt) in states {
            p.present.insert(q, PPage { bytes: None, dirt });
        }
        p
    }

    #[test]
    fn dirty_runs_join_dirty_and_awaiting_clean() {
        use Dirt::*;
        let p = paged(8, false, &[(0, Dirty), (1, AwaitingClean), (2, Clean), (4, Dirty)]);
        assert_eq!(p.dirty_runs(0, 8), vec![(0, 2), (4, 5)]);
        assert_eq!(p.dirty_runs(1, 4), vec![(1, 2)]);
        let ps = pg();
        // The query range is rounded out to pages; past the end is OUT_OF_RANGE.
        assert_eq!(p.query_dirty(ps + 1, 0), Ok(vec![(1, 2)]));
        assert_eq!(p.query_dirty(0, 9 * ps), Err(OUT_OF_RANGE));
        assert_eq!(p.query_dirty(1, u64::MAX), Err(OUT_OF_RANGE));
    }

    #[test]
    fn dirty_requests_cover_the_first_run_not_dirty() {
        use Dirt::*;
        let p =
            paged(8, true, &[(0, Dirty), (1, Clean), (2, AwaitingClean), (3, Dirty), (4, Clean)]);
        assert_eq!(p.next_dirty_request(0, 5), Some((1, 3)));
        assert_eq!(p.next_dirty_request(3, 4), None);
        assert_eq!(p.next_dirty_request(3, 6), Some((4, 5)), "absent pages are not asked");
        assert_eq!(p.write_fate(0, 4 * pg(), false), Fate::Asks);
        assert_eq!(p.write_fate(3 * pg(), 10, false), Fate::Ends(OK));
        assert_eq!(p.write_fate(4 * pg(), pg() + 1, false), Fate::Blocks);
        assert_eq!(p.write_fate(8 * pg(), 1, false), Fate::Ends(OUT_OF_RANGE));
    }

    #[test]
    fn op_dirty_checks_in_zircons_order() {
        use Dirt::*;
        let ps = pg();
        let plain = paged(2, false, &[(0, Clean)]);
        assert_eq!(plain.op_status(sys::VMO_PAGER_OP_DIRTY, 4 * ps, ps, 0), NOT_SUPPORTED);
        let mut p = paged(2, true, &[(0, Clean)]);
        assert_eq!(p.op_status(sys::VMO_PAGER_OP_DIRTY, 0, 3 * ps, 0), OUT_OF_RANGE);
        assert_eq!(p.op_status(sys::VMO_PAGER_OP_DIRTY, 0, 2 * ps, 0), NOT_FOUND);
        assert_eq!(p.op_status(sys::VMO_PAGER_OP_DIRTY, 0, ps, 1), INVALID_ARGS);
        assert_eq!(p.op_status(sys::VMO_PAGER_OP_DIRTY, 0, ps, 0), OK);
        p.op_done(sys::VMO_PAGER_OP_DIRTY, 0, ps, 0);
        p.op_done(sys::VMO_PAGER_OP_WRITEBACK_BEGIN, 0, 2 * ps, 0);
        assert_eq!(p.present[&0].dirt, AwaitingClean);
        p.detach();
        assert_eq!(p.op_status(sys::VMO_PAGER_OP_DIRTY, 0, 0, 0), BAD_STATE);
        assert_eq!(p.op_status(sys::VMO_PAGER_OP_WRITEBACK_END, 0, ps, 0), OK);
        assert_eq!(p.op_status(sys::VMO_PAGER_OP_WRITEBACK_BEGIN, 0, ps, 2), INVALID_ARGS);
        assert!(p.is_present(0), "detach keeps a page awaiting clean");
        assert_eq!(p.write_fate(0, 1, false), Fate::Ends(BAD_STATE), "TRAP_DIRTY: no pager");
        assert_eq!(p.write_fate(0, 1, true), Fate::Ends(BAD_STATE), "ZERO when detached");
    }

    fn clone_of(base: u64, pages: u64, limit: u64, resizable: bool) -> Kid {
        Kid {
            raw: 2,
            slice: false,
            base,
            size: pages * pg(),
            write: true,
            resizable,
            limit,
            own: BTreeMap::new(),
        }
    }

    #[test]
    fn a_clone_reads_its_own_pages_the_live_parent_below_its_limit_and_zeros_past_it() {
        use Dirt::*;
        let ps = pg();
        let mut p = paged(4, false, &[(1, Clean), (2, Dirty)]);
        p.present.get_mut(&1).expect("present").bytes = Some(vec![7; ps as usize]);
        // Pages 1..4 of the VMO, and one page past its end.
        let mut k = clone_of(1, 4, 3, false);
        assert_eq!(k.src(0), Src::Parent(1));
        assert_eq!(k.src(3), Src::Zero);
        assert_eq!(k.page_bytes(&p, 0), Some(vec![7; ps as usize]), "the parent's page as it is");
        assert_eq!(k.read_fate(&p, 0, 2 * ps), Fate::Ends(OK));
        assert_eq!(k.read_fate(&p, 2 * ps, 1), Fate::Blocks, "VMO page 3 is absent");
        assert_eq!(k.read_fate(&p, 3 * ps, ps), Fate::Ends(OK), "past the limit: zeros");
        assert_eq!(k.read_fate(&p, 3 * ps, ps + 1), Fate::Ends(OUT_OF_RANGE));
        // A write of pages 1..3 stops at page 2 (VMO page 3, absent): with no pager, BAD_STATE
        // with page 1 written.
        assert_eq!(k.clone_write_fate(&p, ps, 2 * ps, false), (Fate::Blocks, 2));
        p.detach();
        assert!(!p.is_present(1) && p.is_present(2), "detach keeps the dirty page only");
        assert_eq!(k.clone_write_fate(&p, ps + 5, 2 * ps, false), (Fate::Ends(BAD_STATE), 2));
        k.clone_wrote(&p, ps + 5, 2 * ps, &vec![9; 2 * ps as usize], false, 2);
        assert_eq!(k.src(1), Src::Own);
        assert!(!k.own.contains_key(&2));
        // ZERO of whole pages reads nothing; a partial page it does not hold needs its
        // parent's page; a resizable clone pages in, first, every page it reads (a ZERO's
        // partial ones only).
        assert_eq!(k.clone_write_fate(&p, 0, ps, true), (Fate::Ends(OK), 1));
        assert_eq!(k.clone_write_fate(&p, 1, ps - 1, true), (Fate::Ends(BAD_STATE), 0));
        let r = clone_of(1, 4, 3, true);
        assert_eq!(r.clone_write_fate(&p, 0, ps, true), (Fate::Ends(OK), 1));
        assert_eq!(r.clone_write_fate(&p, 1, ps, true), (Fate::Ends(BAD_STATE), 0));
        assert_eq!(r.clone_write_fate(&p, 0, ps, false), (Fate::Ends(BAD_STATE), 0));
        let mut ro = clone_of(0, 1, 1, false);
        ro.write = false;
        assert_eq!(ro.clone_write_fate(&p, 0, 1, false).0, Fate::Ends(ACCESS_DENIED));
    }
}
