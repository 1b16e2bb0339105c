// SPDX-License-Identifier: GPL-2.0

//! x86-64 data-cache primitives: `clwb`, `clflushopt`, `clflush`, and instruction-stream
//! serialisation. All inline assembly of the module for x86-64 is in this file.
//!
//! x86 has no instruction that drops a line without writing it back (`invd` is whole-cache and
//! privileged-dangerous), so invalidate is clean+invalidate, as in Zircon's x86 port.

use super::each_line;
use crate::ffi;
use core::arch::asm;

/// The per-line instruction that ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Instr {
    /// `clwb`: write back, keep the line.
    Clwb,
    /// `clflushopt`: write back and invalidate, weakly ordered.
    Clflushopt,
    /// `clflush`: write back and invalidate, strongly ordered.
    Clflush,
}

/// The line size `clflush` works on (CPUID leaf 1), 64 if the CPU does not say.
pub(crate) fn line_size() -> usize {
    // SAFETY: reads `boot_cpu_data`, which is set up before any module loads.
    match unsafe { ffi::vmo_x86_clflush_size() } {
        0 => 64,
        n => n as usize,
    }
}

/// The CPU's cache-maintenance features: (`clwb`, `clflushopt`, `clflush`).
pub(crate) fn features() -> (bool, bool, bool) {
    // SAFETY: the three read the boot CPU's feature bits, set up before any module loads.
    unsafe {
        (
            ffi::vmo_x86_has_clwb(),
            ffi::vmo_x86_has_clflushopt(),
            ffi::vmo_x86_has_clflush(),
        )
    }
}

/// The per-line work of one op, chosen once per op.
pub(crate) struct Prim {
    instr: Option<Instr>,
    line: usize,
}

/// Chooses the instruction for `sync` (SYNC), `clean` (CLEAN) or neither
/// (CLEAN_INVALIDATE, INVALIDATE): CLEAN is `clwb` where the CPU has it; the others (and CLEAN
/// without `clwb`) are `clflushopt`, else `clflush`; SYNC has no per-line work on x86, which
/// keeps instruction fetch coherent with data writes: it only serialises, in [`finish`].
pub(crate) fn prepare(sync: bool, clean: bool) -> Prim {
    let (clwb, clflushopt, clflush) = features();
    let instr = if sync {
        None
    } else if clean && clwb {
        Some(Instr::Clwb)
    } else if clflushopt {
        Some(Instr::Clflushopt)
    } else if clflush {
        Some(Instr::Clflush)
    } else {
        // Every x86-64 CPU has clflush (it is part of SSE2); there is nothing else to run.
        None
    };
    Prim {
        instr,
        line: line_size(),
    }
}

impl Prim {
    /// The per-line instruction, if the op has one.
    pub(crate) fn instr(&self) -> Option<Instr> {
        self.instr
    }
}

/// Runs the chosen instruction on every line that overlaps each `(addr, len)` range of
/// `ranges`; returns the line count.
///
/// # Safety
///
/// Every byte of every range must lie in memory mapped in the kernel for the whole call (the
/// instructions fault on an unmapped address).
pub(crate) unsafe fn run(prim: &Prim, ranges: impl IntoIterator<Item = (*mut u8, usize)>) -> u64 {
    let Some(instr) = prim.instr else {
        return 0;
    };
    let line = prim.line;
    let mut lines = 0u64;
    // One loop per instruction: the choice is made once per op, not per range or line.
    // SAFETY (each block): the caller passes ranges of mapped kernel memory (the function's
    // contract); the line containing any of their bytes lies in the same page (lines never
    // cross pages) and is mapped. These instructions only write back/drop cache lines: they
    // do not change memory contents and fault only on unmapped addresses.
    match instr {
        Instr::Clwb => {
            for (addr, len) in ranges {
                lines += each_line(addr, len, line, |p| {
                    // SAFETY: see above.
                    unsafe { asm!("clwb [{0}]", in(reg) p, options(nostack, preserves_flags)) }
                });
            }
        }
        Instr::Clflushopt => {
            for (addr, len) in ranges {
                lines += each_line(addr, len, line, |p| {
                    // SAFETY: see above.
                    unsafe {
                        asm!("clflushopt [{0}]", in(reg) p, options(nostack, preserves_flags))
                    }
                });
            }
        }
        Instr::Clflush => {
            for (addr, len) in ranges {
                lines += each_line(addr, len, line, |p| {
                    // SAFETY: see above.
                    unsafe { asm!("clflush [{0}]", in(reg) p, options(nostack, preserves_flags)) }
                });
            }
        }
    }
    lines
}

/// Orders the weakly ordered `clwb`/`clflushopt` before what follows (`sfence`), and for SYNC
/// serialises the instruction stream.
pub(crate) fn finish(sync: bool) {
    if sync {
        // SAFETY: `sync_core` has no preconditions.
        unsafe { ffi::vmo_x86_sync_core() };
    } else {
        // SAFETY: `sfence` only orders stores and cache write-backs.
        unsafe { asm!("sfence", options(nostack, preserves_flags)) };
    }
}
