// SPDX-License-Identifier: GPL-2.0

//! What the module's two shrinkers (discards in `discard.rs`, evictions of clean pager pages in
//! `pager/evict.rs`) share about reclaim: both free on a workqueue, a moment after reclaim asked,
//! because freeing a shmem page takes its inode lock, which the task in reclaim may hold.
//!
//! Reclaim does not see those pages freed until the worker ran. Each shrinker counts what its
//! worker has yet to free as freed (its own counter), and then what the worker freed a moment
//! ago: a memory cgroup's reclaim is not credited with what shrinkers free (the kernel credits
//! them to global reclaim only, `flush_reclaim_state`), so a pass that outlives the worker goes
//! on asking, priority after priority, and would take more for a shortage already met. The
//! [`Credit`] holds those pages.

use kernel::{
    ffi::c_ulong,
    time::{Delta, Instant, Monotonic},
};

/// Pages a shrinker's worker freed that no scan in reclaim has yet been credited with.
///
/// The scans in reclaim take their asks out of it first, while it is fresh: [`Credit::WINDOW`]
/// after the last free, what is left is forgotten.
pub(crate) struct Credit {
    pages: c_ulong,
    until: Option<Instant<Monotonic>>,
}

impl Credit {
    /// How long pages a worker freed count against later asks.
    pub(crate) const WINDOW: Delta = Delta::from_millis(500);

    /// No credit.
    pub(crate) const NONE: Credit = Credit {
        pages: 0,
        until: None,
    };

    /// Adds the `pages` a worker freed.
    pub(crate) fn add(&mut self, pages: c_ulong) {
        self.add_at(pages, Instant::now());
    }

    /// Takes up to `nr` pages of the credit, if it is still fresh; returns them.
    pub(crate) fn take(&mut self, nr: c_ulong) -> c_ulong {
        self.take_at(nr, Instant::now())
    }

    /// [`Credit::add`] at the time `now`.
    fn add_at(&mut self, pages: c_ulong, now: Instant<Monotonic>) {
        if pages == 0 {
            return;
        }
        self.pages = self.pages.saturating_add(pages);
        self.until = Some(now + Self::WINDOW);
    }

    /// [`Credit::take`] at the time `now`: the credit is gone from `until` on.
    fn take_at(&mut self, nr: c_ulong, now: Instant<Monotonic>) -> c_ulong {
        let fresh = self.until.is_some_and(|until| {
            let left = until - now;
            !left.is_negative() && !left.is_zero()
        });
        if !fresh {
            *self = Self::NONE;
            return 0;
        }
        let taken = self.pages.min(nr);
        self.pages -= taken;
        taken
    }
}

#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(vmo_reclaim)]
mod tests {
    use super::*;

    /// Pages a worker freed meet the asks of the next scans in reclaim, up to their number and
    /// for [`Credit::WINDOW`] only. (At set times: a guest's clocks under TCG may not keep the
    /// pace of a real sleep.)
    #[test]
    fn freed_pages_meet_later_asks_up_to_their_number_for_a_moment() {
        let t0 = Instant::<Monotonic>::now();
        let almost = t0 + Credit::WINDOW - Delta::from_nanos(1);
        let end = t0 + Credit::WINDOW;
        let mut c = Credit::NONE;
        assert_eq!(c.take_at(8, t0), 0);
        c.add_at(10, t0);
        assert_eq!(c.take_at(8, t0), 8);
        assert_eq!(c.take_at(8, almost), 2);
        assert_eq!(c.take_at(8, almost), 0);
        c.add_at(4, t0);
        assert_eq!(c.take_at(8, end), 0);
        c.add_at(3, end);
        // What was left expired with the window; the new pages count.
        assert_eq!(c.take_at(8, end), 3);
    }
}
