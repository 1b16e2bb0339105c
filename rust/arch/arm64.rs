// SPDX-License-Identifier: GPL-2.0

//! arm64 data-cache primitives, as Zircon's `cache-ops.S`: `dc cvac` (clean to the point of
//! coherency), `dc civac` (clean and invalidate), stepping by the `CTR_EL0` line size (the
//! kernel's sanitised, system-wide value), then `dsb sy`; SYNC cleans to the point of
//! unification (`dc cvau`), invalidates the instruction cache by address (`ic ivau`), then
//! `dsb ish; isb`. All inline assembly of the module for arm64 is in this file.
//!
//! INVALIDATE runs `dc civac`, not `dc ivac`: a dropped line would expose what DRAM held before
//! the kernel zeroed the page (see the UAPI header).

use super::each_line;
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

/// The per-line work of one op, chosen once per op.
pub(crate) struct Prim {
    instr: Instr,
    line: usize,
    icache_line: usize,
}

/// Chooses the instruction for `sync` (SYNC), `clean` (CLEAN) or neither
/// (CLEAN_INVALIDATE, INVALIDATE), and reads the line sizes once.
pub(crate) fn prepare(sync: bool, clean: bool) -> Prim {
    let instr = if sync {
        Instr::DcCvauIcIvau
    } else if clean {
        Instr::DcCvac
    } else {
        Instr::DcCivac
    };
    Prim {
        instr,
        line: line_size(),
        icache_line: icache_line_size(),
    }
}

impl Prim {
    /// The per-line instruction.
    pub(crate) fn instr(&self) -> Option<Instr> {
        Some(self.instr)
    }
}

/// Runs the chosen instruction over every line of each `(addr, len)` range of `ranges`;
/// returns the number of data-cache lines.
///
/// # Safety
///
/// Every byte of every range must lie in memory mapped in the kernel for the whole call (the
/// instructions fault on an unmapped address).
pub(crate) unsafe fn run(prim: &Prim, ranges: impl IntoIterator<Item = (*mut u8, usize)>) -> u64 {
    let mut lines = 0u64;
    // One loop per instruction: the choice is made once per op, not per range or line.
    match prim.instr {
        Instr::DcCvac => {
            for (addr, len) in ranges {
                lines += each_line(addr, len, prim.line, |p| {
                    // SAFETY: `p` is in mapped kernel memory (the function's contract); `dc
                    // cvac` writes a line back without changing memory contents.
                    unsafe { asm!("dc cvac, {0}", in(reg) p, options(nostack, preserves_flags)) }
                });
            }
        }
        Instr::DcCivac => {
            for (addr, len) in ranges {
                lines += each_line(addr, len, prim.line, |p| {
                    // SAFETY: as for `dc cvac`; `dc civac` writes the line back before it drops
                    // it.
                    unsafe { asm!("dc civac, {0}", in(reg) p, options(nostack, preserves_flags)) }
                });
            }
        }
        Instr::DcCvauIcIvau => {
            for (addr, len) in ranges {
                lines += each_line(addr, len, prim.line, |p| {
                    // SAFETY: as for `dc cvac`; `dc cvau` writes back to the point of
                    // unification.
                    unsafe { asm!("dc cvau, {0}", in(reg) p, options(nostack, preserves_flags)) }
                });
                // SAFETY: a barrier; orders the cleans before the instruction-cache
                // invalidation.
                unsafe { asm!("dsb ish", options(nostack, preserves_flags)) };
                each_line(addr, len, prim.icache_line, |p| {
                    // SAFETY: `ic ivau` only drops instruction-cache lines of a mapped address.
                    unsafe { asm!("ic ivau, {0}", in(reg) p, options(nostack, preserves_flags)) }
                });
            }
        }
    }
    lines
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
