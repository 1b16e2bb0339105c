// SPDX-License-Identifier: GPL-2.0

//! x86-64 data-cache primitives: `clwb`, `clflushopt`, `clflush`, and instruction-stream
//! serialisation. All inline assembly of the module for x86-64 is in this file.
//!
//! x86 has no instruction that drops a line without writing it back (`invd` is whole-cache and
//! privileged-dangerous), so invalidate is clean+invalidate, as in Zircon's x86 port.

use core::arch::asm;

extern "C" {
    fn vmo_x86_clflush_size() -> u32;
    fn vmo_x86_has_clwb() -> bool;
    fn vmo_x86_has_clflushopt() -> bool;
    fn vmo_x86_has_clflush() -> bool;
    fn vmo_x86_sync_core();
}

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
    match unsafe { vmo_x86_clflush_size() } {
        0 => 64,
        n => n as usize,
    }
}

/// Runs `instr` on every line that overlaps `[addr, addr + len)`; returns the line count.
fn each_line(addr: *mut u8, len: usize, instr: Instr) -> u64 {
    if len == 0 {
        return 0;
    }
    let line = line_size();
    let mut p = (addr as usize) & !(line - 1);
    let end = (addr as usize).saturating_add(len);
    let mut n = 0u64;
    while p < end {
        // SAFETY: the caller passes a range of a kernel mapping of a page it holds a reference
        // to; the line containing any of its bytes lies in the same page (lines never cross
        // pages) and is mapped. These instructions only write back/drop cache lines: they do
        // not change memory contents and fault only on unmapped addresses.
        unsafe {
            match instr {
                Instr::Clwb => asm!("clwb [{0}]", in(reg) p, options(nostack, preserves_flags)),
                Instr::Clflushopt => {
                    asm!("clflushopt [{0}]", in(reg) p, options(nostack, preserves_flags))
                }
                Instr::Clflush => asm!("clflush [{0}]", in(reg) p, options(nostack, preserves_flags)),
            }
        }
        p += line;
        n += 1;
    }
    n
}

fn has_clflushopt() -> bool {
    // SAFETY: reads the boot CPU's feature bits, set up before any module loads.
    unsafe { vmo_x86_has_clflushopt() }
}

/// CLEAN: `clwb` where the CPU has it, else the flush instructions.
pub(crate) fn clean_range(addr: *mut u8, len: usize) -> (u64, Option<Instr>) {
    // SAFETY: reads the boot CPU's feature bits.
    if unsafe { vmo_x86_has_clwb() } {
        (each_line(addr, len, Instr::Clwb), Some(Instr::Clwb))
    } else {
        clean_invalidate_range(addr, len)
    }
}

/// CLEAN_INVALIDATE (and INVALIDATE): `clflushopt`, else `clflush`.
pub(crate) fn clean_invalidate_range(addr: *mut u8, len: usize) -> (u64, Option<Instr>) {
    let instr = if has_clflushopt() {
        Instr::Clflushopt
    } else {
        // SAFETY: reads the boot CPU's feature bits.
        if !unsafe { vmo_x86_has_clflush() } {
            // Every x86-64 CPU has clflush (it is part of SSE2); there is nothing else to run.
            return (0, None);
        }
        Instr::Clflush
    };
    (each_line(addr, len, instr), Some(instr))
}

/// SYNC: x86 keeps instruction fetch coherent with data writes; what is left is to serialise
/// the instruction stream, done once in [`finish`].
pub(crate) fn sync_range(_addr: *mut u8, _len: usize) -> (u64, Option<Instr>) {
    (0, None)
}

/// Orders the weakly ordered `clwb`/`clflushopt` before what follows (`sfence`), and for SYNC
/// serialises the instruction stream.
pub(crate) fn finish(sync: bool) {
    if sync {
        // SAFETY: `sync_core` has no preconditions.
        unsafe { vmo_x86_sync_core() };
    } else {
        // SAFETY: `sfence` only orders stores and cache write-backs.
        unsafe { asm!("sfence", options(nostack, preserves_flags)) };
    }
}
