// SPDX-License-Identifier: GPL-2.0

//! arm64 data-cache primitives, as Zircon's `cache-ops.S`: `dc cvac` (clean to the point of
//! coherency), `dc civac` (clean and invalidate), stepping by the `CTR_EL0` line size (the
//! kernel's sanitised, system-wide value), then `dsb sy`; SYNC cleans to the point of
//! unification (`dc cvau`), invalidates the instruction cache by address (`ic ivau`), then
//! `dsb ish; isb`. All inline assembly of the module for arm64 is in this file.
//!
//! INVALIDATE runs `dc civac`, not `dc ivac`: a dropped line would expose what DRAM held before
//! the kernel zeroed the page (see the UAPI header).

use core::arch::asm;
use kernel::bindings as b;

/// The per-line instruction that ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::enum_variant_names,
    reason = "the variants spell the instructions, which all happen to be `dc` ones"
)]
pub(crate) enum Instr {
    /// `dc cvac`.
    DcCvac,
    /// `dc civac`.
    DcCivac,
    /// `dc cvau` + `ic ivau`.
    DcCvauIcIvau,
}

/// `CTR_EL0` as the kernel sees it system-wide. Where CPUs disagree on their line sizes
/// (`ARM64_MISMATCHED_CACHE_TYPE`), the sanitised value holds the smallest, which is safe to
/// step by on whichever CPU the loop runs (it may migrate); `mrs` would give this CPU's own.
/// This is what the kernel's own `dcache_line_size` uses.
fn ctr_el0() -> u64 {
    const SYS_CTR_EL0: u32 = (b::SYS_CTR_EL0_Op0 << b::Op0_shift)
        | (b::SYS_CTR_EL0_Op1 << b::Op1_shift)
        | (b::SYS_CTR_EL0_CRn << b::CRn_shift)
        | (b::SYS_CTR_EL0_CRm << b::CRm_shift)
        | (b::SYS_CTR_EL0_Op2 << b::Op2_shift);
    // SAFETY: reads the copy of CTR_EL0 sanitised at boot, before any module loads.
    unsafe { b::read_sanitised_ftr_reg(SYS_CTR_EL0) }
}

/// The `log2(words)` line-size field of `CTR_EL0` at `shift`, in bytes.
fn ctr_line(shift: u32, width: u32) -> usize {
    4usize << ((ctr_el0() >> shift) & ((1 << width) - 1))
}

/// The smallest data-cache line size (`CTR_EL0.DminLine`).
pub(crate) fn line_size() -> usize {
    ctr_line(b::CTR_EL0_DminLine_SHIFT, b::CTR_EL0_DminLine_WIDTH)
}

/// The smallest instruction-cache line size (`CTR_EL0.IminLine`).
fn icache_line_size() -> usize {
    ctr_line(b::CTR_EL0_IminLine_SHIFT, b::CTR_EL0_IminLine_WIDTH)
}

fn each_line(addr: *mut u8, len: usize, line: usize, mut f: impl FnMut(usize)) -> u64 {
    if len == 0 {
        return 0;
    }
    let mut p = (addr as usize) & !(line - 1);
    let end = (addr as usize).saturating_add(len);
    let mut n = 0u64;
    while p < end {
        f(p);
        p += line;
        n += 1;
    }
    n
}

/// CLEAN: `dc cvac` per line.
pub(crate) fn clean_range(addr: *mut u8, len: usize) -> (u64, Option<Instr>) {
    let n = each_line(addr, len, line_size(), |p| {
        // SAFETY: `p` is in a mapped kernel page the caller holds; `dc cvac` writes a line
        // back without changing memory contents.
        unsafe { asm!("dc cvac, {0}", in(reg) p, options(nostack, preserves_flags)) }
    });
    (n, Some(Instr::DcCvac))
}

/// CLEAN_INVALIDATE (and INVALIDATE): `dc civac` per line.
pub(crate) fn clean_invalidate_range(addr: *mut u8, len: usize) -> (u64, Option<Instr>) {
    let n = each_line(addr, len, line_size(), |p| {
        // SAFETY: as in `clean_range`; `dc civac` writes back before it drops the line.
        unsafe { asm!("dc civac, {0}", in(reg) p, options(nostack, preserves_flags)) }
    });
    (n, Some(Instr::DcCivac))
}

/// SYNC: clean to the point of unification, then invalidate the instruction cache lines.
pub(crate) fn sync_range(addr: *mut u8, len: usize) -> (u64, Option<Instr>) {
    let n = each_line(addr, len, line_size(), |p| {
        // SAFETY: as in `clean_range`; `dc cvau` writes back to the point of unification.
        unsafe { asm!("dc cvau, {0}", in(reg) p, options(nostack, preserves_flags)) }
    });
    // SAFETY: orders the cleans before the instruction-cache invalidation.
    unsafe { asm!("dsb ish", options(nostack, preserves_flags)) };
    each_line(addr, len, icache_line_size(), |p| {
        // SAFETY: `ic ivau` only drops instruction-cache lines for a mapped address.
        unsafe { asm!("ic ivau, {0}", in(reg) p, options(nostack, preserves_flags)) }
    });
    (n, Some(Instr::DcCvauIcIvau))
}

/// `dsb sy` after the data-cache loop; SYNC adds `dsb ish; isb`.
pub(crate) fn finish(sync: bool) {
    // SAFETY: barriers have no preconditions.
    unsafe {
        if sync {
            asm!("dsb ish", "isb", options(nostack, preserves_flags));
        } else {
            asm!("dsb sy", options(nostack, preserves_flags));
        }
    }
}
