// SPDX-License-Identifier: GPL-2.0

//! The data-cache operations of `zx_vmo_op_range`, run on the kernel mapping of committed pages.
//!
//! The per-architecture instructions live in `arch/`; this file picks the primitive for each
//! op and keeps the count of what ran ([`CacheStats`]), which the KUnit suites use to check that
//! an op touched exactly the committed lines of its range and ran the expected instruction.

#[cfg(CONFIG_ARM64)]
#[path = "arch/arm64.rs"]
mod arch;
#[cfg(CONFIG_X86_64)]
#[path = "arch/x86_64.rs"]
mod arch;

use crate::shmem::MappedRuns;
pub(crate) use arch::Instr;

/// Calls `f` on the start of every `line`-sized line that overlaps `[addr, addr + len)`;
/// returns the line count.
#[inline(always)]
fn each_line(addr: *mut u8, len: usize, line: usize, mut f: impl FnMut(usize)) -> u64 {
    if len == 0 {
        return 0;
    }
    let start = (addr as usize) & !(line - 1);
    // The last line of the address space is never memory (the ERR_PTR values live there), so
    // capping `end` below it loses nothing and `p + line` cannot wrap: the loop needs no
    // overflow check per line, as the same loop in user space has none.
    let end = (addr as usize)
        .saturating_add(len)
        .min(usize::MAX - line + 1);
    let mut p = start;
    while p < end {
        f(p);
        p = p.wrapping_add(line);
    }
    // `line` is a power of two: a shift, not a division per range.
    ((end.saturating_sub(start) + (line - 1)) >> line.trailing_zeros()) as u64
}

/// The four cache ops of `zx_vmo_op_range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheOp {
    /// `ZX_VMO_OP_CACHE_SYNC`: make instruction fetches see the data.
    Sync,
    /// `ZX_VMO_OP_CACHE_CLEAN`: write dirty lines back to memory.
    Clean,
    /// `ZX_VMO_OP_CACHE_CLEAN_INVALIDATE`: write back, then drop the lines.
    CleanInvalidate,
    /// `ZX_VMO_OP_CACHE_INVALIDATE`: runs as clean+invalidate (see the UAPI header for why).
    Invalidate,
}

/// What one cache op did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheStats {
    /// Committed pages (clipped to the range) that were visited.
    pub(crate) pages: u64,
    /// Cache lines the per-line instruction ran on.
    pub(crate) lines: u64,
    /// The per-line instruction that ran, if any.
    pub(crate) instr: Option<Instr>,
}

/// The primitive of one op: the instruction and line size, chosen once per op (not per page).
pub(crate) struct Primitive {
    op: CacheOp,
    prim: arch::Prim,
}

impl Primitive {
    /// Chooses the primitive of `op` on this CPU.
    pub(crate) fn new(op: CacheOp) -> Self {
        let prim = arch::prepare(op == CacheOp::Sync, op == CacheOp::Clean);
        Self { op, prim }
    }

    /// Runs the op over the runs of present memory one batch of a walk of a VMO's pages
    /// visits (whole folios, each mapped once), adding their lines to `stats`.
    pub(crate) fn run_runs(&self, runs: &MappedRuns<'_>, stats: &mut CacheStats) {
        // SAFETY: each run of a `MappedRuns` is mapped for its length while it lives (its
        // invariant).
        unsafe { self.run_ranges(runs.iter(), stats) };
    }

    /// Runs the op over each `(addr, len)` range of `ranges`, adding their lines (and the
    /// instruction) to `stats`. The arch loops align each start down to a line and never
    /// dereference the memory in Rust.
    ///
    /// # Safety
    ///
    /// Every byte of every range must lie in memory mapped in the kernel for the call.
    unsafe fn run_ranges(
        &self,
        ranges: impl IntoIterator<Item = (*mut u8, usize)>,
        stats: &mut CacheStats,
    ) {
        // SAFETY: the caller's contract is `arch::run`'s.
        stats.lines += unsafe { arch::run(&self.prim, ranges) };
        if let Some(instr) = self.prim.instr() {
            stats.instr = Some(instr);
        }
    }

    /// Completes the op after its last range: the barrier that orders the line operations
    /// (and, for SYNC, the instruction-stream synchronisation). Runs once per op, even over an
    /// empty range.
    pub(crate) fn finish(&self) {
        arch::finish(self.op == CacheOp::Sync);
    }
}

/// Runs `op` over `[addr, addr + len)`, adding to `stats` (a [`Primitive`] made for this one
/// range, counted as one page chunk). Only the KUnit suites run a primitive outside a walk of a
/// VMO's pages.
///
/// # Safety
///
/// Every byte of `[addr, addr + len)` must lie in memory mapped in the kernel for the call.
#[cfg(CONFIG_VMO_KUNIT_TEST)]
pub(crate) unsafe fn run_range(op: CacheOp, addr: *mut u8, len: usize, stats: &mut CacheStats) {
    stats.pages += 1;
    // SAFETY: the caller's contract is `run_ranges`'s.
    unsafe { Primitive::new(op).run_ranges([(addr, len)], stats) };
}

/// Completes `op` after its last range: the barrier that orders the line operations (and, for
/// SYNC, the instruction-stream synchronisation). Runs once per op, even over an empty range.
#[cfg(CONFIG_VMO_KUNIT_TEST)]
pub(crate) fn finish(op: CacheOp) {
    arch::finish(op == CacheOp::Sync);
}

/// The data-cache line size the primitives step by.
#[cfg(CONFIG_VMO_KUNIT_TEST)]
pub(crate) fn line_size() -> usize {
    arch::line_size()
}

/// The primitives on a kernel buffer, on both architectures.
///
/// QEMU (TCG) does not model caches: every cache-maintenance instruction executes as a no-op
/// there. These cases therefore prove which instruction ran and on which lines (and that the
/// data is unchanged afterwards), not that any line was written back or dropped.
#[cfg(CONFIG_VMO_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(vmo_cache)]
mod tests {
    use super::*;
    use kernel::page::PAGE_SIZE;
    use kernel::prelude::*;

    const OPS: [CacheOp; 4] = [
        CacheOp::Sync,
        CacheOp::Clean,
        CacheOp::CleanInvalidate,
        CacheOp::Invalidate,
    ];

    /// Runs `op` over `[addr, addr + len)` of `buf` alone, with its closing barrier.
    fn run(op: CacheOp, buf: &mut [u8], off: usize, len: usize) -> CacheStats {
        assert!(off + len <= buf.len());
        let mut stats = CacheStats::default();
        // SAFETY: the range lies inside `buf`, a live kernel allocation.
        unsafe { run_range(op, buf.as_mut_ptr().wrapping_add(off), len, &mut stats) };
        finish(op);
        stats
    }

    /// The lines that overlap `[addr, addr + len)`.
    fn lines_of(addr: usize, len: usize, line: usize) -> u64 {
        if len == 0 {
            return 0;
        }
        let first = addr / line;
        let last = (addr + len - 1) / line;
        (last - first + 1) as u64
    }

    /// The per-line instruction `op` runs on this CPU, and whether it reports its lines.
    #[cfg(CONFIG_ARM64)]
    fn expected(op: CacheOp) -> Option<Instr> {
        Some(match op {
            CacheOp::Sync => Instr::DcCvauIcIvau,
            CacheOp::Clean => Instr::DcCvac,
            // INVALIDATE runs as clean+invalidate: no `dc ivac`, which could expose stale DRAM.
            CacheOp::CleanInvalidate | CacheOp::Invalidate => Instr::DcCivac,
        })
    }

    #[cfg(CONFIG_X86_64)]
    fn expected(op: CacheOp) -> Option<Instr> {
        let (clwb, clflushopt, _) = arch::features();
        let flush = if clflushopt {
            Instr::Clflushopt
        } else {
            Instr::Clflush
        };
        match op {
            // x86 fetches coherently: SYNC only serialises, in `finish`, with no per-line work.
            CacheOp::Sync => None,
            CacheOp::Clean if clwb => Some(Instr::Clwb),
            CacheOp::Clean | CacheOp::CleanInvalidate | CacheOp::Invalidate => Some(flush),
        }
    }

    /// A zero-filled kernel buffer of `pages` pages plus one line of slack.
    fn buffer(pages: usize) -> Result<KVec<u8>> {
        Ok(KVec::from_elem(
            0u8,
            pages * PAGE_SIZE + line_size(),
            GFP_KERNEL,
        )?)
    }

    #[test]
    fn line_size_is_a_sane_power_of_two() {
        let line = line_size();
        assert!(line.is_power_of_two());
        assert!(line >= 16);
        assert!(line <= 2048);
        assert_eq!(PAGE_SIZE % line, 0);
    }

    #[test]
    fn run_range_counts_exactly_the_lines_it_touches() -> Result {
        let line = line_size();
        let mut buf = buffer(4)?;
        // A line-aligned base inside the buffer, with four pages after it.
        let align = buf.as_ptr().align_offset(line);
        let base = buf.as_ptr() as usize + align;
        for op in OPS {
            // (offset from an aligned base, length, lines touched)
            let cases = [
                (0, 0, 0),
                (1, 0, 0),
                (0, 1, 1),
                (0, line, 1),
                (line - 1, 1, 1),
                (line - 1, 2, 2),
                (1, line, 2),
                (0, 3 * line, 3),
                (1, 3 * line - 1, 3),
                (1, 3 * line, 4),
                (0, PAGE_SIZE, (PAGE_SIZE / line) as u64),
                (line / 2, PAGE_SIZE, (PAGE_SIZE / line) as u64 + 1),
                (0, 4 * PAGE_SIZE, (4 * PAGE_SIZE / line) as u64),
            ];
            for (off, len, want) in cases {
                assert_eq!(lines_of(base + off, len, line), want);
                let s = run(op, &mut buf, align + off, len);
                assert_eq!(s.pages, 1);
                match expected(op) {
                    Some(_) => assert_eq!(s.lines, want),
                    None => assert_eq!(s.lines, 0),
                }
            }
        }
        Ok(())
    }

    #[test]
    fn stats_add_up_over_ranges() -> Result {
        let line = line_size();
        let mut buf = buffer(2)?;
        let base = buf.as_mut_ptr();
        let mut stats = CacheStats::default();
        // SAFETY: both ranges lie inside `buf` (two pages), a live kernel allocation.
        unsafe {
            run_range(CacheOp::Clean, base, PAGE_SIZE, &mut stats);
            run_range(
                CacheOp::Clean,
                base.wrapping_add(PAGE_SIZE + 1),
                2,
                &mut stats,
            );
        }
        finish(CacheOp::Clean);
        let want = lines_of(base as usize, PAGE_SIZE, line)
            + lines_of(base as usize + PAGE_SIZE + 1, 2, line);
        assert_eq!(stats.pages, 2);
        assert_eq!(stats.lines, want);
        assert_eq!(stats.instr, expected(CacheOp::Clean));
        Ok(())
    }

    #[test]
    fn each_op_runs_its_instruction() -> Result {
        let line = line_size();
        let mut buf = buffer(1)?;
        let want_lines = lines_of(buf.as_ptr() as usize, PAGE_SIZE, line);
        for op in OPS {
            let s = run(op, &mut buf, 0, PAGE_SIZE);
            assert_eq!(s.instr, expected(op));
            if s.instr.is_some() {
                assert_eq!(s.lines, want_lines);
            }
        }
        Ok(())
    }

    #[test]
    fn ops_leave_the_data_unchanged() -> Result {
        let mut buf = buffer(2)?;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let len = buf.len();
        for op in OPS {
            run(op, &mut buf, 0, len);
        }
        for (i, b) in buf.iter().enumerate() {
            assert_eq!(*b, (i % 251) as u8);
        }
        Ok(())
    }
}
