//! `vmo-bench`: the VMO operations of `/dev/vmo` against their native Linux
//! counterparts (memfd, `fallocate`, `madvise`, `pwrite`, user-space cache
//! instructions), and the page-fault cost of a mapped VMO against a mapped
//! memfd.
//!
//! The crate has two programs and this library, which they share:
//!
//! * `vmo-bench` runs in the QEMU guest. It measures every figure on a fresh
//!   object per repetition and prints one `@@bench {json}` line per
//!   (op, size, side), one `@@bench-meta {json}` line (mode, kernel,
//!   architecture, CPU features, repetition policy), `@@bench-skip` lines for figures it could
//!   not take and a closing `@@bench-end` line. It then runs Fuchsia's own
//!   VMO microbenchmarks under Fuchsia's names, one record per step. With
//!   `--quick` it measures a few sizes of COMMIT, DECOMMIT and ZERO and two
//!   Fuchsia cases at 4 KiB, and prints readable tables instead.
//! * `vmo-bench-report` (feature `report`) runs on the host: it reads those
//!   lines from a run's `user.log` and writes `results.json`, `results.md`
//!   and `plot.svg`.
//!
//! ## Map of the library
//!
//! * [`catalog`]: the ops, their native counterparts (per architecture for
//!   the cache ops) and the sizes; [`catalog::fuchsia`], Fuchsia's own VMO
//!   microbenchmarks (`src/tests/microbenchmarks/vmo.cc`) and their Linux
//!   counterparts.
//! * [`record`]: the `@@bench*` lines, written by the guest and parsed back.
//! * [`stats`]: median, minimum and maximum of the samples.
//! * [`report`]: the comparisons, the target marks, `results.md` (a summary
//!   first, and a section of its own for the Fuchsia cases) and
//!   `results.json`.
//! * [`previous`]: the previous run's ratios (its `results.json`) and the
//!   regressions against them.
//! * `plot` (feature `report`): `plot.svg`.
//! * [`sysinfo`]: what the guest knows of the CPU's cache lines
//!   (`/proc/cpuinfo` on x86-64, `CTR_EL0` on aarch64).
//! * [`units`]: human-readable sizes and durations.
#![deny(missing_docs)]

pub mod catalog;
#[cfg(feature = "report")]
pub mod plot;
pub mod previous;
pub mod record;
pub mod report;
pub mod stats;
pub mod sysinfo;
pub mod units;
