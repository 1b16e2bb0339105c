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

pub(crate) use arch::Instr;

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
    /// Page chunks (committed pages, clipped to the range) that were visited.
    pub(crate) pages: u64,
    /// Cache lines the per-line instruction ran on.
    pub(crate) lines: u64,
    /// The per-line instruction that ran, if any.
    pub(crate) instr: Option<Instr>,
}

/// Runs `op` over `[addr, addr + len)` of a kernel mapping, adding to `stats`.
///
/// Any address range is accepted; the arch loop aligns the start down to a line and never
/// dereferences the memory in Rust.
pub(crate) fn run_range(op: CacheOp, addr: *mut u8, len: usize, stats: &mut CacheStats) {
    let (lines, instr) = match op {
        CacheOp::Sync => arch::sync_range(addr, len),
        CacheOp::Clean => arch::clean_range(addr, len),
        CacheOp::CleanInvalidate | CacheOp::Invalidate => arch::clean_invalidate_range(addr, len),
    };
    stats.pages += 1;
    stats.lines += lines;
    if instr.is_some() {
        stats.instr = instr;
    }
}

/// Completes `op` after its last range: the barrier that orders the line operations (and, for
/// SYNC, the instruction-stream synchronisation). Runs once per op, even over an empty range.
pub(crate) fn finish(op: CacheOp) {
    arch::finish(op == CacheOp::Sync);
}

/// The data-cache line size the primitives step by.
pub(crate) fn line_size() -> usize {
    arch::line_size()
}
