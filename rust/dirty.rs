// SPDX-License-Identifier: GPL-2.0

//! The writeback state of a pager-backed VMO's pages (Zircon's `VmCowPages` dirty states): a
//! present page is clean, dirty, or awaiting clean (written back since `WRITEBACK_BEGIN`, until
//! `WRITEBACK_END`). Only the pages that are not clean are recorded, as runs of equal state in a
//! tree keyed by first page; adjacent runs of the same state are merged, so the tree holds at
//! most one entry per change of state, and every lookup is a range lookup.
//!
//! The tree lives under the pager's lock (`pager.rs`), so nothing here allocates: a change
//! takes its tree nodes from a [`Spare`] the caller filled before taking the lock. A change of
//! one range ([`Runs::assign`]) or of the runs of one state in a range ([`Runs::transition`])
//! needs at most two new nodes; the nodes it frees go back into the spare.

use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
};

/// The state of a page that is not clean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dirt {
    /// Written since it was supplied or written back.
    Dirty,
    /// Being written back (`WRITEBACK_BEGIN`); a write makes it dirty again.
    AwaitingClean,
}

/// A run of pages `[start, end)` in `state`, keyed by `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    end: u64,
    state: Dirt,
}

type Node = RBTreeNodeReservation<u64, Run>;

/// Tree nodes allocated before the pager's lock is taken, and those a change freed.
pub(crate) struct Spare {
    nodes: [Option<Node>; 4],
}

impl Spare {
    /// A spare with the two nodes that one [`Runs::assign`] or [`Runs::transition`] takes at
    /// most.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            nodes: [
                Some(Node::new(GFP_KERNEL_ACCOUNT)?),
                Some(Node::new(GFP_KERNEL_ACCOUNT)?),
                None,
                None,
            ],
        })
    }

    /// A spare without nodes, for changes that need none (making pages clean up to the
    /// last page only cuts and removes runs).
    pub(crate) fn empty() -> Self {
        Self {
            nodes: [None, None, None, None],
        }
    }

    fn take(&mut self) -> Option<Node> {
        self.nodes.iter_mut().find_map(Option::take)
    }

    /// Keeps a freed node for a later insertion (or drops it when the spare is full).
    fn put(&mut self, node: Node) {
        if let Some(slot) = self.nodes.iter_mut().find(|n| n.is_none()) {
            *slot = Some(node);
        }
    }
}

/// The pages of one VMO that are not clean.
pub(crate) struct Runs {
    tree: RBTree<u64, Run>,
}

impl Runs {
    pub(crate) fn new() -> Self {
        Self {
            tree: RBTree::new(),
        }
    }

    /// The run that contains page `p`: `(start, end, state)`.
    fn containing(&self, p: u64) -> Option<(u64, u64, Dirt)> {
        let before = match self.tree.cursor_lower_bound(&p) {
            Some(c) => {
                let (k, r) = c.current();
                if *k == p {
                    return Some((p, r.end, r.state));
                }
                c.peek_prev().map(|(k, r)| (*k, *r))
            }
            None => self.tree.cursor_back().map(|c| {
                let (k, r) = c.current();
                (*k, *r)
            }),
        };
        before
            .filter(|(_, r)| r.end > p)
            .map(|(k, r)| (k, r.end, r.state))
    }

    /// The first run that ends after page `p` (the one containing `p` or the next one).
    pub(crate) fn next(&self, p: u64) -> Option<(u64, u64, Dirt)> {
        if let Some(r) = self.containing(p) {
            return Some(r);
        }
        let c = self.tree.cursor_lower_bound(&p)?;
        let (k, r) = c.current();
        Some((*k, r.end, r.state))
    }

    /// The state of page `p` (`None`: clean, or absent).
    pub(crate) fn state(&self, p: u64) -> Option<Dirt> {
        self.containing(p).map(|(_, _, s)| s)
    }

    /// The first page of `[start, end)` in no run and the end of the gap it starts, or `None`
    /// if every page is in a run.
    pub(crate) fn first_gap(&self, start: u64, end: u64) -> Option<(u64, u64)> {
        let mut p = start;
        while p < end {
            match self.next(p) {
                Some((s, e, _)) if s <= p => p = e,
                Some((s, _, _)) => return Some((p, s.min(end))),
                None => return Some((p, end)),
            }
        }
        None
    }

    /// The first page of `[start, end)` that is not dirty (clean or awaiting clean: a write to
    /// either needs the pager's leave under `TRAP_DIRTY`) and the end of the run of such pages
    /// it starts, or `None` if all are dirty.
    pub(crate) fn first_not_dirty(&self, start: u64, end: u64) -> Option<(u64, u64)> {
        let mut p = start;
        while p < end {
            match self.next(p) {
                Some((s, e, Dirt::Dirty)) if s <= p => p = e,
                _ => break,
            }
        }
        if p >= end {
            return None;
        }
        // The run goes on to the next dirty page.
        let mut q = p;
        while q < end {
            match self.next(q) {
                Some((s, _, Dirt::Dirty)) => return Some((p, s.max(q).min(end))),
                Some((_, e, Dirt::AwaitingClean)) => q = e,
                None => break,
            }
        }
        Some((p, end))
    }

    /// Whether every page of `[start, end)` is dirty (none clean or awaiting clean).
    pub(crate) fn all_dirty(&self, start: u64, end: u64) -> bool {
        self.first_not_dirty(start, end).is_none()
    }

    fn insert(&mut self, start: u64, run: Run, spare: &mut Spare) {
        match spare.take() {
            Some(node) => {
                self.tree.insert(node.into_node(start, run));
            }
            // Unreachable: a change takes at most the two nodes a spare starts with (see
            // `assign`); were it reached, pages would read as clean.
            None => pr_err!("vmo: dirty-run tree out of spare nodes\n"),
        }
    }

    /// Merges the run that ends at page `p` with the one that starts there if they have the
    /// same state.
    fn merge_at(&mut self, p: u64, spare: &mut Spare) {
        let Some(left) = p.checked_sub(1).and_then(|q| self.containing(q)) else {
            return;
        };
        if left.1 != p {
            return;
        }
        let Some(right) = self.tree.get(&p).copied() else {
            return;
        };
        if right.state != left.2 {
            return;
        }
        if let Some(node) = self.tree.remove_node(&p) {
            spare.put(node.into_reservation());
        }
        if let Some(l) = self.tree.get_mut(&left.0) {
            l.end = right.end;
        }
    }

    /// Sets pages `[start, end)` to `to` (`None`: clean). Takes at most two nodes of `spare`:
    /// one for the new run and one for the tail of a run that contains the whole range.
    pub(crate) fn assign(&mut self, start: u64, end: u64, to: Option<Dirt>, spare: &mut Spare) {
        if start >= end {
            return;
        }
        // The part past `end` of a run that reaches past it.
        let mut tail = None;
        if let Some((k, e, st)) = self.containing(start).filter(|r| r.0 < start) {
            if e > end {
                tail = Some(Run { end: e, state: st });
            }
            if let Some(r) = self.tree.get_mut(&k) {
                r.end = start;
            }
        }
        while let Some(c) = self.tree.cursor_lower_bound_mut(&start) {
            let (k, r) = c.current();
            if *k >= end {
                break;
            }
            let r = *r;
            let (_, node) = c.remove_current();
            spare.put(node.into_reservation());
            if r.end > end {
                tail = Some(r);
            }
        }
        if let Some(t) = tail {
            self.insert(end, t, spare);
        }
        if let Some(state) = to {
            self.insert(start, Run { end, state }, spare);
        }
        self.merge_at(start, spare);
        self.merge_at(end, spare);
    }

    /// Sets the pages of `[start, end)` that are in state `from` to `to`. Takes at most two
    /// nodes of `spare` (for the runs cut at `start` and at `end`).
    pub(crate) fn transition(
        &mut self,
        start: u64,
        end: u64,
        from: Dirt,
        to: Option<Dirt>,
        spare: &mut Spare,
    ) {
        let mut p = start;
        while p < end {
            let Some((s, e, st)) = self.next(p) else {
                break;
            };
            if s >= end {
                break;
            }
            if st == from {
                self.assign(s.max(start), e.min(end), to, spare);
            }
            p = e;
        }
    }

    /// Calls `f(start, end, state)` for each run of state `Dirty` or `AwaitingClean` that
    /// overlaps `[start, end)`, clipped to it, in order, with adjacent runs of different states
    /// joined (a writeback reads them alike); stops when `f` returns false.
    pub(crate) fn for_each(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64) -> bool) {
        let mut p = start;
        let mut open: Option<(u64, u64)> = None;
        while p < end {
            let Some((s, e, _)) = self.next(p) else {
                break;
            };
            if s >= end {
                break;
            }
            let (s, e) = (s.max(start), e.min(end));
            open = match open {
                Some((os, oe)) if oe == s => Some((os, e)),
                Some(run) => {
                    if !f(run.0, run.1) {
                        return;
                    }
                    Some((s, e))
                }
                None => Some((s, e)),
            };
            p = e;
        }
        if let Some((s, e)) = open {
            f(s, e);
        }
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kunit_tests(vmo_dirty)]
mod tests {
    use super::*;

    /// The runs as `(start, end, state)`, in order.
    fn runs(r: &Runs) -> KVec<(u64, u64, Dirt)> {
        let mut v = KVec::new();
        for (k, run) in r.tree.iter() {
            let _ = v.push((*k, run.end, run.state), GFP_KERNEL);
        }
        v
    }

    use Dirt::{AwaitingClean as A, Dirty as D};

    #[test]
    fn assign_splits_and_merges_runs() -> Result {
        let mut r = Runs::new();
        let mut sp = Spare::new()?;
        r.assign(2, 8, Some(D), &mut sp);
        sp = Spare::new()?;
        // A range inside a run of another state splits it in three.
        r.assign(4, 5, Some(A), &mut sp);
        assert_eq!(&runs(&r)[..], &[(2, 4, D), (4, 5, A), (5, 8, D)]);
        sp = Spare::new()?;
        // Setting it back merges the three again.
        r.assign(4, 5, Some(D), &mut sp);
        assert_eq!(&runs(&r)[..], &[(2, 8, D)]);
        // Adjacent runs of the same state merge; clean cuts.
        sp = Spare::new()?;
        r.assign(8, 10, Some(D), &mut sp);
        sp = Spare::new()?;
        r.assign(0, 2, Some(D), &mut sp);
        assert_eq!(&runs(&r)[..], &[(0, 10, D)]);
        sp = Spare::new()?;
        r.assign(3, 6, None, &mut sp);
        assert_eq!(&runs(&r)[..], &[(0, 3, D), (6, 10, D)]);
        // A range over several runs and holes replaces them all.
        sp = Spare::new()?;
        r.assign(1, 9, Some(A), &mut sp);
        assert_eq!(&runs(&r)[..], &[(0, 1, D), (1, 9, A), (9, 10, D)]);
        assert_eq!(r.state(0), Some(D));
        assert_eq!(r.state(5), Some(A));
        assert_eq!(r.state(10), None);
        Ok(())
    }

    #[test]
    fn transitions_change_only_their_state() -> Result {
        let mut r = Runs::new();
        let mut sp = Spare::new()?;
        r.assign(0, 4, Some(D), &mut sp);
        sp = Spare::new()?;
        r.assign(4, 6, Some(A), &mut sp);
        sp = Spare::new()?;
        r.assign(8, 12, Some(D), &mut sp);
        // WRITEBACK_BEGIN of [2, 10): the dirty pages in it await clean.
        sp = Spare::new()?;
        r.transition(2, 10, D, Some(A), &mut sp);
        assert_eq!(
            &runs(&r)[..],
            &[(0, 2, D), (2, 6, A), (8, 10, A), (10, 12, D)]
        );
        // WRITEBACK_END of [0, 9): awaiting-clean pages become clean, dirty ones stay.
        sp = Spare::new()?;
        r.transition(0, 9, A, None, &mut sp);
        assert_eq!(&runs(&r)[..], &[(0, 2, D), (9, 10, A), (10, 12, D)]);
        // Awaiting clean is not dirty: a write to it asks the pager again.
        assert_eq!(r.first_not_dirty(0, 12), Some((2, 10)));
        assert_eq!(r.first_not_dirty(10, 12), None);
        assert!(r.all_dirty(10, 12));
        assert!(r.all_dirty(0, 2));
        assert!(!r.all_dirty(1, 3));
        assert!(!r.all_dirty(9, 11));
        let mut seen = KVec::new();
        r.for_each(1, 11, |s, e| seen.push((s, e), GFP_KERNEL).is_ok());
        assert_eq!(&seen[..], &[(1, 2), (9, 11)]);
        Ok(())
    }

    /// Runs far apart cost a lookup each, not a walk: a dirty page at 2^40 is found at once.
    #[test]
    fn lookups_jump_between_far_runs() -> Result {
        let mut r = Runs::new();
        let mut sp = Spare::new()?;
        r.assign(1 << 40, (1 << 40) + 1, Some(D), &mut sp);
        assert_eq!(r.next(0), Some((1 << 40, (1 << 40) + 1, D)));
        assert_eq!(r.first_not_dirty(0, u64::MAX), Some((0, 1 << 40)));
        assert_eq!(
            r.first_not_dirty(1 << 40, u64::MAX),
            Some(((1 << 40) + 1, u64::MAX))
        );
        Ok(())
    }
}
