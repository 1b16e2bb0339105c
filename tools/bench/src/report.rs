//! From parsed records to the comparisons, the target marks, `results.md`
//! and `results.json`.
//!
//! The targets are marks, not failures:
//!
//! * VMO/native median ratio at most [`RATIO_TARGET_LARGE`] from
//!   [`LARGE_FROM`] bytes up, at most [`RATIO_TARGET_SMALL`] below (and for
//!   the per-call figure);
//! * the sparse 1 TiB cache op at most [`SPARSE_TARGET`] times the one over
//!   just its committed pages;
//! * the time per page fault on a mapped VMO at most [`RATIO_TARGET_LARGE`]
//!   times that on a mapped memfd (both take shmem's fault path);
//! * the creation of a snapshot at most [`SIZE_FREE_TARGET`] times its cost
//!   at 4 KiB, whatever the size (nothing is copied);
//! * the first write fault on a page a snapshot shares with its parent at
//!   most [`COPY_FAULT_TARGET`] times Linux's own copy-on-write fault;
//! * a page-in through a user pager (a whole read, or one fault) at most
//!   [`PAGE_IN_TARGET`] times the same through userfaultfd;
//! * N threads reading through one `/dev/vmo` table at most
//!   [`THREADS_TARGET`] times the time per read of N threads on a table each
//!   and of N threads on memfds (at least 0.9 times their throughput);
//! * a whole read of evicted pages of a pager-backed VMO (a refault) at most
//!   [`REFAULT_TARGET`] times the first read of the same pages;
//! * the reclaim figures (discardable VMOs against clean page cache under a
//!   cgroup's `memory.reclaim`) have no target: figures and ratios only;
//! * within a VMO series of a size sweep, the time per byte of a size at
//!   most [`PER_BYTE_SLACK`] times that of the previous size.
//!
//! Fuchsia's own microbenchmarks ([`catalog::fuchsia`]) get a section of
//! their own, [`FuchsiaTable`]s under Fuchsia's result names, with figures
//! and ratios but no targets.
//!
//! Given the previous run ([`Report::compare_with`]), every ratio is also
//! compared with the previous run's ([`crate::previous`]): a regression is
//! marked in its table cell and listed in the summary that `results.md`
//! starts with ([`Report::summary`]: each op's and Fuchsia case's worst
//! ratio against its target, pass or miss, and its regressions).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::catalog::fuchsia::{self, Case};
use crate::catalog::{self, OpKind, VMO};
use crate::previous::{Change, PrevRun, Previous, REGRESSION_THRESHOLD};
use crate::record::{End, Log, Meta, Record, Skip};
use crate::stats::{Summary, ratio};
use crate::sysinfo::CpuFeatures;
use crate::units::{fmt_ns, fmt_size, fmt_spread};

/// Ratio target from [`LARGE_FROM`] bytes up.
pub const RATIO_TARGET_LARGE: f64 = 1.10;
/// Ratio target below [`LARGE_FROM`] bytes (4 KiB) and for the per-call figure.
pub const RATIO_TARGET_SMALL: f64 = 1.5;
/// Where [`RATIO_TARGET_LARGE`] starts.
pub const LARGE_FROM: u64 = 64 * catalog::KIB;
/// Sparse 1 TiB cache op against the same op over its committed pages only.
pub const SPARSE_TARGET: f64 = 2.0;
/// Time per byte may grow by this factor from one size to the next.
pub const PER_BYTE_SLACK: f64 = 1.10;
/// Snapshot creation at any size against the same at 4 KiB.
pub const SIZE_FREE_TARGET: f64 = 2.0;
/// A copy-on-write write fault of a snapshot against `MAP_PRIVATE`'s.
pub const COPY_FAULT_TARGET: f64 = 1.3;
/// A pager page-in (whole read or one fault) against userfaultfd serving the
/// same pages (issue 18: at most parity, 64 KiB to 64 MiB).
pub const PAGE_IN_TARGET: f64 = 1.0;
/// Threads on one `/dev/vmo` table against threads on one table each and on
/// memfds: at least 0.9 times their throughput, so at most 1/0.9 times their
/// time per read.
pub const THREADS_TARGET: f64 = 1.0 / 0.9;
/// A refault of evicted pager-backed pages (a whole read) against the first
/// page-in of the same pages: the pager supplies them again, which should
/// cost no more than the first time (10 % slack, as [`RATIO_TARGET_LARGE`]).
pub const REFAULT_TARGET: f64 = 1.10;
/// A clock whose smallest step is above this (ns) is flagged as coarse.
pub const COARSE_CLOCK_NS: u64 = 10_000;

/// The ratio target of `kind` at `size`.
pub fn ratio_target(kind: OpKind, size: u64) -> f64 {
    match kind {
        OpKind::Sparse => SPARSE_TARGET,
        OpKind::PerCall => RATIO_TARGET_SMALL,
        OpKind::PerFault => RATIO_TARGET_LARGE,
        OpKind::SizeFree => SIZE_FREE_TARGET,
        OpKind::CopyFault => COPY_FAULT_TARGET,
        OpKind::PerPage | OpKind::Reclaim => f64::INFINITY,
        OpKind::Refault => REFAULT_TARGET,
        OpKind::PageIn | OpKind::PagerFault => PAGE_IN_TARGET,
        OpKind::Threads => THREADS_TARGET,
        OpKind::Sweep if size >= LARGE_FROM => RATIO_TARGET_LARGE,
        OpKind::Sweep => RATIO_TARGET_SMALL,
    }
}

/// The throughput of `size` bytes in `ns` (MiB/s); `None` for a zero time.
pub fn mib_per_s(size: u64, ns: u64) -> Option<f64> {
    (ns > 0).then(|| size as f64 / catalog::MIB as f64 / (ns as f64 / 1e9))
}

/// A change of time per byte from one size of a series to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerByteStep {
    /// The larger size.
    pub size: u64,
    /// The size before it in the series.
    pub prev_size: u64,
    /// Relative change of ns/byte: 0.35 is 35 % more per byte.
    pub change: f64,
}

/// The ns/byte changes between consecutive sizes of a series of
/// `(size, median_ns)` points (any order; size 0 and zero medians are left
/// out, as they have no meaningful per-byte figure).
pub fn per_byte_steps(points: &[(u64, u64)]) -> Vec<PerByteStep> {
    let mut pts: Vec<(u64, f64)> = points
        .iter()
        .filter(|(size, median)| *size > 0 && *median > 0)
        .map(|&(size, median)| (size, median as f64 / size as f64))
        .collect();
    pts.sort_by_key(|p| p.0);
    pts.windows(2)
        .map(|w| PerByteStep { size: w[1].0, prev_size: w[0].0, change: w[1].1 / w[0].1 - 1.0 })
        .collect()
}

/// A target a figure missed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    /// The op.
    pub op: String,
    /// The size of the row.
    pub size: u64,
    /// For a ratio: the baseline; for the per-byte check: the series (the VMO).
    pub side: String,
    /// Which target.
    #[serde(flatten)]
    pub kind: MissKind,
}

/// The targets of [`Miss`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissKind {
    /// VMO/baseline median ratio above the target.
    Ratio {
        /// The ratio.
        ratio: f64,
        /// The target it exceeds.
        target: f64,
    },
    /// The VMO's ns/byte rose by more than [`PER_BYTE_SLACK`] from the
    /// previous size.
    PerByte {
        /// The previous size of the series.
        prev_size: u64,
        /// Relative rise (0.35: 35 % more per byte).
        change: f64,
        /// The baselines' changes over the same step, for comparison.
        natives: Vec<(String, f64)>,
    },
}

impl Miss {
    /// One short line for the tables and the list of misses.
    pub fn describe(&self) -> String {
        match &self.kind {
            MissKind::Ratio { ratio, target } => {
                format!("VMO/{} {ratio:.2} > {target:.2}", self.side)
            }
            MissKind::PerByte { prev_size, change, natives } => {
                let mut s = format!("ns/B +{:.0}% from {}", change * 100.0, fmt_size(*prev_size));
                if !natives.is_empty() {
                    let n: Vec<String> = natives
                        .iter()
                        .map(|(side, c)| format!("{side} {:+.0}%", c * 100.0))
                        .collect();
                    let _ = write!(s, " (natives: {})", n.join(", "));
                }
                s
            }
        }
    }
}

/// One VMO/baseline comparison (one per row and baseline with both figures).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The op.
    pub op: String,
    /// The size.
    pub size: u64,
    /// The baseline.
    pub side: String,
    /// VMO median / baseline median.
    pub ratio: f64,
    /// The target for this row.
    pub target: f64,
    /// Whether the ratio is above the target.
    pub miss: bool,
    /// The previous run's ratio, if compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_ratio: Option<f64>,
    /// Relative change from the previous run's ratio (0.07: 7 % worse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    /// Whether the ratio got worse by more than the regression threshold.
    pub regression: bool,
}

/// One row of an op's table: a size.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Bytes.
    pub size: u64,
    /// The VMO figure.
    pub vmo: Option<Summary>,
    /// The baselines' figures, in the order of [`OpTable::natives`].
    pub natives: Vec<Option<Summary>>,
    /// VMO/baseline ratios, in the same order.
    pub ratios: Vec<Option<f64>>,
    /// The targets this row missed.
    pub misses: Vec<Miss>,
    /// The pager figures: the median requests per run of the VMO side, then
    /// of each baseline (in the order of [`OpTable::natives`]); `None`
    /// where a figure has no counts.
    pub requests: Vec<Option<u64>>,
}

/// The table of one op.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTable {
    /// The op.
    pub op: String,
    /// How it was measured and is judged.
    pub kind: OpKind,
    /// What the VMO side runs (empty for an op not in the catalog).
    pub vmo_desc: String,
    /// The baselines: (side, what it runs).
    pub natives: Vec<(String, String)>,
    /// One row per size, ascending.
    pub rows: Vec<Row>,
}

/// One row of a Fuchsia case's table: one of Fuchsia's result names (a
/// size and a step).
#[derive(Debug, Clone, PartialEq)]
pub struct FuchsiaRow {
    /// Fuchsia's result name (`Vmo/Clone/4kbytes.clone`).
    pub name: String,
    /// Fuchsia's test name: the result name without the step.
    pub test: String,
    /// Bytes.
    pub size: u64,
    /// The step, for a case with steps.
    pub step: Option<String>,
    /// The VMO figure.
    pub vmo: Option<Summary>,
    /// The baselines' figures, in the order of [`FuchsiaTable::natives`].
    pub natives: Vec<Option<Summary>>,
    /// VMO/baseline ratios, in the same order.
    pub ratios: Vec<Option<f64>>,
}

/// The table of one Fuchsia case: every size and step of it.
#[derive(Debug, Clone, PartialEq)]
pub struct FuchsiaTable {
    /// The case.
    pub case: &'static Case,
    /// The baselines: (side, what it runs).
    pub natives: Vec<(String, String)>,
    /// One row per result name, by size, then in the order of the steps.
    pub rows: Vec<FuchsiaRow>,
}

/// One VMO/baseline ratio of a Fuchsia figure (no target).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FuchsiaComparison {
    /// Fuchsia's result name.
    pub name: String,
    /// The case (Fuchsia's name without size and step).
    pub case: &'static str,
    /// Bytes.
    pub size: u64,
    /// The step, if the case has steps.
    pub step: Option<String>,
    /// The baseline.
    pub side: String,
    /// VMO median / baseline median.
    pub ratio: f64,
    /// The previous run's ratio, if compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_ratio: Option<f64>,
    /// Relative change from the previous run's ratio (0.07: 7 % worse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    /// Whether the ratio got worse by more than the regression threshold.
    pub regression: bool,
}

/// The worst ratio of an op or a Fuchsia case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    /// The row: the size of an op's row, Fuchsia's result name of a case's.
    pub row: String,
    /// The baseline.
    pub side: String,
    /// VMO median / baseline median.
    pub ratio: f64,
    /// Its target (`None`: no target).
    pub target: Option<f64>,
}

/// One line of the summary: an op or a Fuchsia case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryLine {
    /// The op, or the Fuchsia case (`Vmo/Clone`).
    pub name: String,
    /// Whether it is a Fuchsia case.
    pub fuchsia: bool,
    /// The ratio furthest over (or nearest to) its target: the largest
    /// ratio/target; without targets, the largest ratio. `None`: no ratio.
    pub worst: Option<Worst>,
    /// Whether it has targets (Fuchsia cases and per-page figures have none).
    pub has_targets: bool,
    /// Its target misses (ratios, and per-byte rises).
    pub misses: usize,
    /// Its ratios compared with the previous run's.
    pub compared: usize,
    /// Those more than the threshold worse than the previous run's.
    pub regressions: Vec<Change>,
}

impl SummaryLine {
    /// `pass`, `miss` or `no target`.
    pub fn verdict(&self) -> &'static str {
        match (self.has_targets, self.misses, &self.worst) {
            (false, _, _) => "no target",
            (true, 0, None) => "no ratio",
            (true, 0, Some(_)) => "pass",
            _ => "miss",
        }
    }
}

/// The whole report of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run's meta line.
    pub meta: Option<Meta>,
    /// The run's end line.
    pub end: Option<End>,
    /// One table per op: the catalog's order, then unknown ops as seen
    /// (the Fuchsia cases' records are not among them).
    pub tables: Vec<OpTable>,
    /// One table per Fuchsia case with figures, in the catalog's order.
    pub fuchsia: Vec<FuchsiaTable>,
    /// Every record.
    pub records: Vec<Record>,
    /// Figures that were not taken.
    pub skips: Vec<Skip>,
    /// Oddities of the log.
    pub warnings: Vec<String>,
    /// The previous run, as far as it is compared ([`Report::compare_with`]).
    pub previous: Previous,
}

impl Report {
    /// Lays a parsed log out in tables and marks the target misses.
    ///
    /// A table has a column for each baseline of the catalog that exists on
    /// the run's architecture (the meta line's `arch`), so an arm64 run shows
    /// `dc_cvac` where an x86-64 run shows `clwb`; a log without a meta line
    /// gets the baselines of every architecture that it has figures for.
    /// A side the log has figures for gets a column in any case.
    pub fn build(log: Log) -> Report {
        let mut ops: Vec<String> = catalog::OPS
            .iter()
            .map(|o| o.name.to_owned())
            .filter(|name| {
                log.records.iter().any(|r| &r.op == name) || log.skips.iter().any(|s| &s.op == name)
            })
            .collect();
        for r in &log.records {
            if !ops.contains(&r.op) && fuchsia::parse(&r.op).is_none() {
                ops.push(r.op.clone());
            }
        }
        let arch = log.meta.as_ref().map(|m| m.arch.as_str());
        let tables = ops.iter().map(|op| build_table(op, arch, &log.records)).collect();
        let fuchsia = fuchsia::CASES
            .iter()
            .filter_map(|case| build_fuchsia_table(case, arch, &log.records))
            .collect();
        Report {
            meta: log.meta,
            end: log.end,
            tables,
            fuchsia,
            records: log.records,
            skips: log.skips,
            warnings: log.warnings,
            previous: Previous::None,
        }
    }

    /// Compares the ratios with those of `prev`, the previous run, if it was
    /// taken in the same guest mode on the same architecture (`None`: no
    /// previous run).
    pub fn compare_with(&mut self, prev: Option<&PrevRun>) {
        self.previous = Previous::new(prev, self.meta.as_ref());
    }

    /// Every ratio compared with the previous run's: the op tables', then
    /// the Fuchsia section's.
    pub fn changes(&self) -> Vec<Change> {
        let ops = self.comparisons().into_iter().map(|c| (c.op, c.size, c.side, c.ratio));
        let fx = self.fuchsia_comparisons().into_iter().map(|c| (c.name, c.size, c.side, c.ratio));
        ops.chain(fx)
            .filter_map(|(op, size, side, ratio)| self.previous.change(&op, size, &side, ratio))
            .collect()
    }

    /// The ratios more than [`REGRESSION_THRESHOLD`] worse than the previous
    /// run's.
    pub fn regressions(&self) -> Vec<Change> {
        self.changes().into_iter().filter(Change::regression).collect()
    }

    /// The summary: one line per op, then one per Fuchsia case.
    pub fn summary(&self) -> Vec<SummaryLine> {
        let comparisons = self.comparisons();
        let mut out = Vec::new();
        for t in &self.tables {
            let mine: Vec<&Comparison> = comparisons.iter().filter(|c| c.op == t.op).collect();
            let worst = mine
                .iter()
                .max_by(|a, b| severity(a.ratio, a.target).total_cmp(&severity(b.ratio, b.target)))
                .map(|c| Worst {
                    row: fmt_size(c.size),
                    side: c.side.clone(),
                    ratio: c.ratio,
                    target: c.target.is_finite().then_some(c.target),
                });
            let changes: Vec<Change> = mine
                .iter()
                .filter_map(|c| self.previous.change(&c.op, c.size, &c.side, c.ratio))
                .collect();
            out.push(SummaryLine {
                name: t.op.clone(),
                fuchsia: false,
                worst,
                has_targets: ratio_target(t.kind, 0).is_finite(),
                misses: t.rows.iter().map(|r| r.misses.len()).sum(),
                compared: changes.len(),
                regressions: changes.into_iter().filter(Change::regression).collect(),
            });
        }
        let fx = self.fuchsia_comparisons();
        for t in &self.fuchsia {
            let mine: Vec<&FuchsiaComparison> =
                fx.iter().filter(|c| c.case == t.case.name).collect();
            let worst = mine.iter().max_by(|a, b| a.ratio.total_cmp(&b.ratio)).map(|c| Worst {
                row: c.name.clone(),
                side: c.side.clone(),
                ratio: c.ratio,
                target: None,
            });
            let changes: Vec<Change> = mine
                .iter()
                .filter_map(|c| self.previous.change(&c.name, c.size, &c.side, c.ratio))
                .collect();
            out.push(SummaryLine {
                name: t.case.name.to_owned(),
                fuchsia: true,
                worst,
                has_targets: false,
                misses: 0,
                compared: changes.len(),
                regressions: changes.into_iter().filter(Change::regression).collect(),
            });
        }
        out
    }

    /// The summary `results.md` starts with: a line of the run, the
    /// comparison with the previous run, a table of one line per op and per
    /// Fuchsia case, and the regressions (at most [`SUMMARY_REGRESSIONS`]).
    pub fn summary_markdown(&self, md: &mut String) {
        let _ = writeln!(md, "## Summary\n");
        let (mode, arch) = self
            .meta
            .as_ref()
            .map_or(("unknown", "unknown"), |m| (m.mode.as_str(), m.arch.as_str()));
        let end = match &self.end {
            Some(e) => format!(
                "{:.1} s of guest time, {} figure(s) failed",
                e.elapsed_ms as f64 / 1000.0,
                e.errors
            ),
            None => "**did not finish**".to_owned(),
        };
        let changes = self.changes();
        let _ = writeln!(
            md,
            "Guest mode {mode} on {arch}, {end}. {}\n",
            self.previous.describe(&changes)
        );
        let pct = REGRESSION_THRESHOLD * 100.0;
        let _ = writeln!(
            md,
            "Worst ratio: the VMO/native ratio nearest to or furthest over its target (without \
             a target, the largest); a miss counts every target missed (the per-byte check \
             included); worse: ratios more than {pct:.0} % above the previous run's (↑ in the \
             tables).\n"
        );
        let _ = writeln!(md, "| op | worst ratio | target | verdict | vs previous run |");
        let _ = writeln!(md, "|---|---|---|---|---|");
        for line in self.summary() {
            let worst = line.worst.as_ref().map_or_else(
                || "–".to_owned(),
                |w| format!("{:.2} ({}, {})", w.ratio, w.row, w.side),
            );
            let target = match line.worst.as_ref().and_then(|w| w.target) {
                Some(t) => format!("≤ {t:.2}"),
                None => "–".to_owned(),
            };
            let verdict = match line.verdict() {
                "miss" => format!("**miss** ({})", line.misses),
                v => v.to_owned(),
            };
            let vs = match (&self.previous, line.compared, line.regressions.len()) {
                (Previous::Like { .. }, 0, _) => "new".to_owned(),
                (Previous::Like { .. }, n, 0) => format!("ok ({n})"),
                (Previous::Like { .. }, n, r) => format!("**{r} worse** (of {n})"),
                _ => "–".to_owned(),
            };
            let name = if line.fuchsia { format!("{} (Fuchsia)", line.name) } else { line.name };
            let _ = writeln!(md, "| {name} | {worst} | {target} | {verdict} | {vs} |");
        }
        md.push('\n');
        let regressions: Vec<&Change> = changes.iter().filter(|c| c.regression()).collect();
        if !regressions.is_empty() {
            let _ =
                writeln!(md, "Regressions (more than {pct:.0} % worse than the previous run):\n");
            for c in regressions.iter().take(SUMMARY_REGRESSIONS) {
                let _ = writeln!(md, "- {}", c.describe());
            }
            if regressions.len() > SUMMARY_REGRESSIONS {
                let _ = writeln!(
                    md,
                    "- and {} more (↑ in the tables)",
                    regressions.len() - SUMMARY_REGRESSIONS
                );
            }
            md.push('\n');
        }
    }

    /// Every target miss, table by table.
    pub fn misses(&self) -> impl Iterator<Item = &Miss> {
        self.tables.iter().flat_map(|t| t.rows.iter().flat_map(|r| r.misses.iter()))
    }

    /// Every VMO/baseline comparison.
    pub fn comparisons(&self) -> Vec<Comparison> {
        let mut out = Vec::new();
        for t in &self.tables {
            for row in &t.rows {
                for ((side, _), r) in t.natives.iter().zip(&row.ratios) {
                    if let Some(ratio) = *r {
                        let target = ratio_target(t.kind, row.size);
                        let change = self.previous.change(&t.op, row.size, side, ratio);
                        out.push(Comparison {
                            op: t.op.clone(),
                            size: row.size,
                            side: side.clone(),
                            ratio,
                            target,
                            miss: ratio > target,
                            prev_ratio: change.as_ref().map(|c| c.prev),
                            regression: change.as_ref().is_some_and(Change::regression),
                            change: change.map(|c| c.change),
                        });
                    }
                }
            }
        }
        out
    }

    /// Every VMO/baseline ratio of the Fuchsia section.
    pub fn fuchsia_comparisons(&self) -> Vec<FuchsiaComparison> {
        let mut out = Vec::new();
        for t in &self.fuchsia {
            for row in &t.rows {
                for ((side, _), r) in t.natives.iter().zip(&row.ratios) {
                    if let Some(ratio) = *r {
                        let change = self.previous.change(&row.name, row.size, side, ratio);
                        out.push(FuchsiaComparison {
                            name: row.name.clone(),
                            case: t.case.name,
                            size: row.size,
                            step: row.step.clone(),
                            side: side.clone(),
                            ratio,
                            prev_ratio: change.as_ref().map(|c| c.prev),
                            regression: change.as_ref().is_some_and(Change::regression),
                            change: change.map(|c| c.change),
                        });
                    }
                }
            }
        }
        out
    }

    /// The skip that covers (op, side, size), if any.
    fn skip_for(&self, op: &str, side: &str, size: u64) -> Option<&Skip> {
        self.skips.iter().find(|s| s.op == op && s.side == side && s.size.is_none_or(|z| z == size))
    }

    /// `results.md`.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# vmo-bench: VMO ops against native Linux\n");
        self.summary_markdown(&mut md);
        let mode = self.meta.as_ref().map_or("unknown", |m| m.mode.as_str());
        let _ = writeln!(md, "**Guest mode: {mode}.** {}\n", mode_note(mode));
        if let Some(m) = &self.meta {
            let _ = writeln!(
                md,
                "Kernel {} on {}; CPU {}; page {} B.{}",
                m.kernel,
                m.arch,
                cpu_facts(&m.arch, &m.cpu),
                m.page_size,
                if m.quick { " (a `--quick` run)" } else { "" }
            );
            let _ = writeln!(
                md,
                "Clock: clocksource {}, smallest step seen {}.",
                if m.clocksource.is_empty() { "unknown" } else { m.clocksource.as_str() },
                fmt_ns(m.clock_step_ns as f64)
            );
            if m.clock_step_ns > COARSE_CLOCK_NS {
                let _ = writeln!(
                    md,
                    "\n**Warning: the guest clock is coarse** (steps of {}): every figure is a \
                     multiple of that step, so those much shorter than it read as 0 and ratios of \
                     them mean nothing. The guest kernel needs a fine clocksource (TSC, HPET or \
                     the ACPI PM timer; without ACPI, TSC calibration fails under QEMU).\n",
                    fmt_ns(m.clock_step_ns as f64)
                );
            }
            let p = &m.policy;
            let c = &m.per_call_policy;
            let _ = writeln!(
                md,
                "Every figure is taken on a fresh object per repetition (created and \
                 prepared untimed); only the operation is timed (CLOCK_MONOTONIC). \
                 Repetitions: {} warm-up{}, then at least {} and at most {} timed, stopping \
                 once the figure has taken {} ms (per-call figure: {}–{}, {} ms). \
                 Cells: median (min–max), in the median's unit.",
                p.warmup,
                if p.warmup_max_size == u64::MAX {
                    String::new()
                } else {
                    format!(" (at {} for larger sizes)", fmt_size(p.warmup_max_size))
                },
                p.min_reps,
                p.max_reps,
                p.budget_ms,
                c.min_reps,
                c.max_reps,
                c.budget_ms
            );
        }
        if let Some(e) = &self.end {
            let _ = writeln!(
                md,
                "The run took {:.1} s of guest time; {} figure(s) failed.",
                e.elapsed_ms as f64 / 1000.0,
                e.errors
            );
        } else {
            let _ = writeln!(md, "**The run did not finish** (no `@@bench-end` line).");
        }
        let _ = writeln!(
            md,
            "\nTargets (marks, not failures): VMO/native ≤ {RATIO_TARGET_LARGE:.2} from {} up, \
             ≤ {RATIO_TARGET_SMALL:.1} below and per call; the sparse 1 TiB cache op ≤ \
             {SPARSE_TARGET:.0}× the same op over its committed pages only; a page fault on a \
             mapped VMO ≤ {RATIO_TARGET_LARGE:.2}× one on a mapped memfd; a page-in through the \
             user pager (whole read or single fault) ≤ {PAGE_IN_TARGET:.1}× the same through \
             userfaultfd; threads on one `/dev/vmo` table ≥ 0.9× the throughput of threads on \
             a table each and on memfds (time ratio ≤ {THREADS_TARGET:.2}); a refault of \
             evicted pager pages ≤ {REFAULT_TARGET:.2}× their first page-in; the VMO's time per \
             byte may not rise by more than {:.0} % from one size to the next. No target for \
             the reclaim throughput (figures only).\n",
            fmt_size(LARGE_FROM),
            (PER_BYTE_SLACK - 1.0) * 100.0
        );
        let misses: Vec<&Miss> = self.misses().collect();
        let _ = writeln!(md, "## Target misses: {}\n", misses.len());
        for m in &misses {
            let _ = writeln!(md, "- {} {}: {}", m.op, fmt_size(m.size), m.describe());
        }
        if !misses.is_empty() {
            md.push('\n');
        }
        for t in &self.tables {
            self.table_markdown(t, &mut md);
        }
        if !self.fuchsia.is_empty() {
            self.fuchsia_markdown(&mut md);
        }
        if !self.skips.is_empty() {
            let _ = writeln!(md, "## Not measured\n");
            for s in &self.skips {
                let size = s.size.map_or_else(|| "all sizes".to_owned(), fmt_size);
                let what = if s.error { "error" } else { "skipped" };
                let _ = writeln!(md, "- {} {} ({size}): {what}: {}", s.op, s.side, s.reason);
            }
            md.push('\n');
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(md, "## Log warnings\n");
            for w in &self.warnings {
                let _ = writeln!(md, "- {w}");
            }
            md.push('\n');
        }
        md
    }

    fn table_markdown(&self, t: &OpTable, md: &mut String) {
        let _ = writeln!(md, "## {}\n", t.op);
        if !t.vmo_desc.is_empty() {
            let _ = writeln!(md, "- VMO: {}", t.vmo_desc);
        }
        for (side, desc) in &t.natives {
            if !desc.is_empty() {
                let _ = writeln!(md, "- `{side}`: {desc}");
            }
        }
        if matches!(t.kind, OpKind::PerFault | OpKind::CopyFault) {
            let _ = writeln!(
                md,
                "- Cells: time per page fault (each run's time divided by its pages); size: the \
                 mapped bytes."
            );
        }
        if t.kind == OpKind::PageIn {
            let _ = writeln!(
                md,
                "- Cells: time of the whole read; `· N req`: the requests one run was served with \
                 (median over the runs): READ packets the pager thread got (VMO), fault messages \
                 the userfaultfd handler got (natives). A sequential read of size / page pages \
                 through a mapping costs one request per page unless the pager side reads ahead."
            );
        }
        if t.kind == OpKind::PagerFault {
            let _ = writeln!(
                md,
                "- Cells: the median of the single faults, each timed alone (size: the pages \
                 faulted, one fault each); `· N req`: the requests the whole run of faults was \
                 served with."
            );
        }
        if t.kind == OpKind::Reclaim {
            let _ = writeln!(
                md,
                "- Cells: the time from the start of the first `memory.reclaim` write until the \
                 cgroup's `memory.current` has dropped by the size, and the throughput (size / \
                 median time, MiB/s); `· N req`: the `memory.reclaim` writes a run took (median). \
                 Ratio: VMO time / page-cache time (above 1: the VMOs are freed more slowly). \
                 No target."
            );
        }
        if t.kind == OpKind::Refault {
            let _ = writeln!(
                md,
                "- Cells: time of the whole read; `· N req`: the READ packets one run was served \
                 with (median). Ratio: refault / first page-in."
            );
        }
        if t.kind == OpKind::PerPage {
            let _ = writeln!(
                md,
                "- Cells: time per page (each run's time divided by its pages); size: the bytes \
                 of the VMO. No target."
            );
        }
        md.push('\n');
        table_head(md, "| size | VMO |", "|---:|---|", &t.natives, true);
        for row in &t.rows {
            let cell = |side: &str, s: &Option<Summary>| match s {
                Some(s) => fmt_spread(s.median_ns, s.min_ns, s.max_ns),
                None => missing_cell(self.skip_for(&t.op, side, row.size)),
            };
            let reclaim = t.kind == OpKind::Reclaim;
            let with_requests = |mut c: String, i: usize| {
                if reclaim {
                    let s = if i == 0 { row.vmo.as_ref() } else { row.natives[i - 1].as_ref() };
                    if let Some(rate) = s.and_then(|s| mib_per_s(row.size, s.median_ns)) {
                        let _ = write!(c, " · {rate:.0} MiB/s");
                    }
                }
                if let Some(n) = row.requests.get(i).copied().flatten() {
                    let _ = write!(c, " · {n} req");
                }
                c
            };
            let mut line =
                format!("| {} | {} |", fmt_size(row.size), with_requests(cell(VMO, &row.vmo), 0));
            let target = ratio_target(t.kind, row.size);
            for (i, (((side, _), s), r)) in
                t.natives.iter().zip(&row.natives).zip(&row.ratios).enumerate()
            {
                let mut ratio = match r {
                    Some(r) if *r > target => format!("**{r:.2}** ✗"),
                    Some(r) => format!("{r:.2}"),
                    None => "–".to_owned(),
                };
                self.mark_regression(&mut ratio, &t.op, row.size, side, *r);
                let _ = write!(line, " {} | {ratio} |", with_requests(cell(side, s), i + 1));
            }
            let reps: Vec<String> = std::iter::once(&row.vmo)
                .chain(&row.natives)
                .map(|s| s.map_or_else(|| "–".to_owned(), |s| s.reps.to_string()))
                .collect();
            let misses: Vec<String> = row.misses.iter().map(Miss::describe).collect();
            let misses = if misses.is_empty() { "–".to_owned() } else { misses.join("; ") };
            let _ = writeln!(line, " {} | {misses} |", reps.join("/"));
            md.push_str(&line);
        }
        md.push('\n');
    }

    /// Appends the mark of a regression to the cell of `ratio`, if it is one.
    fn mark_regression(&self, cell: &mut String, op: &str, size: u64, side: &str, r: Option<f64>) {
        let change = r.and_then(|r| self.previous.change(op, size, side, r));
        if let Some(c) = change.filter(Change::regression) {
            let _ = write!(cell, " {}", c.mark());
        }
    }

    /// The section of Fuchsia's own microbenchmarks.
    fn fuchsia_markdown(&self, md: &mut String) {
        let _ = writeln!(md, "## Fuchsia microbenchmarks (src/tests/microbenchmarks/vmo.cc)\n");
        let _ = writeln!(
            md,
            "Fuchsia's own VMO microbenchmarks, under Fuchsia's names. A case with steps is one \
             figure per step, `<case>.<step>`, as Fuchsia's `perftest` reports it: each step is \
             timed from the end of the one before (or the start of the run) to its own end, and \
             the last one includes what the run destroys as it ends. What Fuchsia makes before \
             its loop is made here before the timed repetitions (once per figure, untimed); \
             each repetition is one run of the loop body. The VMO column goes through the `vmo` \
             crate, the others are each case's Linux counterparts. Figures only, no targets; \
             ratio = VMO median / that column's median.\n"
        );
        for (name, why) in fuchsia::NOT_MIRRORED {
            let _ = writeln!(md, "Not mirrored: `{name}/*`: it {why}.");
        }
        md.push('\n');
        for t in &self.fuchsia {
            let _ = writeln!(md, "### {}\n", t.case.name);
            let _ = writeln!(md, "- Timed: {}.", t.case.timed);
            let _ = writeln!(md, "- VMO: {}.", t.case.vmo);
            for (side, desc) in &t.natives {
                if !desc.is_empty() {
                    let _ = writeln!(md, "- `{side}`: {desc}.");
                }
            }
            md.push('\n');
            table_head(md, "| case | VMO |", "|---|---|", &t.natives, false);
            for row in &t.rows {
                let cell = |side: &str, s: &Option<Summary>| match s {
                    Some(s) => fmt_spread(s.median_ns, s.min_ns, s.max_ns),
                    None => missing_cell(
                        self.skip_for(&row.test, side, row.size)
                            .or_else(|| self.skip_for(&row.name, side, row.size)),
                    ),
                };
                let mut line = format!("| {} | {} |", row.name, cell(VMO, &row.vmo));
                for (((side, _), s), r) in t.natives.iter().zip(&row.natives).zip(&row.ratios) {
                    let mut ratio = r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"));
                    self.mark_regression(&mut ratio, &row.name, row.size, side, *r);
                    let _ = write!(line, " {} | {ratio} |", cell(side, s));
                }
                let reps: Vec<String> = std::iter::once(&row.vmo)
                    .chain(&row.natives)
                    .map(|s| s.map_or_else(|| "–".to_owned(), |s| s.reps.to_string()))
                    .collect();
                let _ = writeln!(line, " {} |", reps.join("/"));
                md.push_str(&line);
            }
            md.push('\n');
        }
    }

    /// `results.json`: the meta, one record per (op, size, side), the
    /// comparisons, the misses, the Fuchsia section's ratios, the skips and
    /// the log's warnings.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Targets {
            ratio_large: f64,
            large_from: u64,
            ratio_small: f64,
            sparse: f64,
            per_fault: f64,
            per_byte_slack: f64,
            size_free: f64,
            copy_fault: f64,
            page_in: f64,
            refault: f64,
        }
        #[derive(Serialize)]
        struct Out<'a> {
            meta: &'a Option<Meta>,
            mode_note: &'static str,
            end: &'a Option<End>,
            targets: Targets,
            records: &'a [Record],
            comparisons: Vec<Comparison>,
            misses: Vec<&'a Miss>,
            fuchsia: Vec<FuchsiaComparison>,
            fuchsia_not_mirrored: Vec<(&'static str, &'static str)>,
            previous: PreviousOut,
            summary: Vec<SummaryLine>,
            skipped: &'a [Skip],
            warnings: &'a [String],
        }
        /// The comparison with the previous run.
        #[derive(Serialize)]
        struct PreviousOut {
            /// `none`, `not_compared` (another mode or architecture) or
            /// `compared`.
            status: &'static str,
            /// The previous run's mode and architecture, if any.
            #[serde(skip_serializing_if = "Option::is_none")]
            prev_mode: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            prev_arch: Option<String>,
            threshold: f64,
            compared: usize,
            regressions: Vec<Change>,
            improvements: usize,
        }
        let changes = self.changes();
        let (status, prev_mode, prev_arch) = match &self.previous {
            Previous::None => ("none", None, None),
            Previous::Unlike { prev, .. } => {
                ("not_compared", Some(prev.0.clone()), Some(prev.1.clone()))
            }
            Previous::Like { mode, .. } => {
                ("compared", Some(mode.clone()), self.meta.as_ref().map(|m| m.arch.clone()))
            }
        };
        let previous = PreviousOut {
            status,
            prev_mode,
            prev_arch,
            threshold: REGRESSION_THRESHOLD,
            compared: changes.len(),
            improvements: changes.iter().filter(|c| c.change < -REGRESSION_THRESHOLD).count(),
            regressions: changes.into_iter().filter(Change::regression).collect(),
        };
        let out = Out {
            meta: &self.meta,
            mode_note: mode_note(self.meta.as_ref().map_or("", |m| m.mode.as_str())),
            end: &self.end,
            targets: Targets {
                ratio_large: RATIO_TARGET_LARGE,
                large_from: LARGE_FROM,
                ratio_small: RATIO_TARGET_SMALL,
                sparse: SPARSE_TARGET,
                per_fault: RATIO_TARGET_LARGE,
                per_byte_slack: PER_BYTE_SLACK,
                size_free: SIZE_FREE_TARGET,
                copy_fault: COPY_FAULT_TARGET,
                page_in: PAGE_IN_TARGET,
                refault: REFAULT_TARGET,
            },
            records: &self.records,
            comparisons: self.comparisons(),
            misses: self.misses().collect(),
            fuchsia: self.fuchsia_comparisons(),
            fuchsia_not_mirrored: fuchsia::NOT_MIRRORED.to_vec(),
            previous,
            summary: self.summary(),
            skipped: &self.skips,
            warnings: &self.warnings,
        };
        let mut s = serde_json::to_string_pretty(&out).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// What the header says of the CPU of a run on `arch`: what the cache
/// baselines run and the line they step by.
pub fn cpu_facts(arch: &str, cpu: &CpuFeatures) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    match (arch, cpu.ctr_el0) {
        (catalog::AARCH64, Some(ctr)) => format!(
            "data-cache line {} B (`4 << CTR_EL0.DminLine`, DminLine {}; CTR_EL0 {ctr:#x} read \
             at EL0), `dc cvac`/`dc civac` run at EL0",
            cpu.line_size,
            CpuFeatures::dminline(ctr)
        ),
        (catalog::X86_64, _) => format!(
            "clwb: {}, clflushopt: {}, line {} B",
            yes(cpu.clwb),
            yes(cpu.clflushopt),
            cpu.line_size
        ),
        _ => format!("line {} B", cpu.line_size),
    }
}

/// What the times of a guest mode mean.
pub fn mode_note(mode: &str) -> &'static str {
    match mode {
        "kvm" => "Wall-clock times under KVM: real hardware speed, give or take virtualisation.",
        "tcg" => {
            "Wall-clock times under TCG, QEMU's CPU emulator: absolute times say little about \
             hardware (and cache instructions are no-ops); only the VMO/native ratios mean \
             anything."
        }
        "icount" => {
            "Instruction-count mode (QEMU `-icount shift=0,sleep=off`): the guest clock counts \
             executed instructions (1 ns each), so times are repeatable instruction counts, not \
             real time."
        }
        _ => "Unknown guest mode: read the times with care.",
    }
}

/// Regressions the summary lists; the tables mark every one.
pub const SUMMARY_REGRESSIONS: usize = 10;

/// How bad a ratio is against its target: ratio/target, or the ratio
/// itself where there is no target.
fn severity(ratio: f64, target: f64) -> f64 {
    if target.is_finite() { ratio / target } else { ratio }
}

/// The baselines of a table: those of the catalog that exist on `arch`
/// (`None`: unknown, then those of every architecture that have figures),
/// then any other side with figures.
fn table_natives(
    natives: &[catalog::Native],
    arch: Option<&str>,
    sides: &[&str],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = natives
        .iter()
        .filter(|n| match arch {
            Some(a) => n.runs_on(a),
            None => n.arch.is_none() || sides.contains(&n.side),
        })
        .map(|n| (n.side.to_owned(), n.desc.to_owned()))
        .collect();
    for side in sides {
        if *side != VMO && !out.iter().any(|(s, _)| s == side) {
            let desc = natives.iter().find(|n| n.side == *side).map_or("", |n| n.desc);
            out.push(((*side).to_owned(), desc.to_owned()));
        }
    }
    out
}

/// The table of Fuchsia's `case` over `records` of a run on `arch`; `None`
/// if the run has no figure of it.
fn build_fuchsia_table(
    case: &'static Case,
    arch: Option<&str>,
    records: &[Record],
) -> Option<FuchsiaTable> {
    let mine: Vec<(&Record, fuchsia::ResultName<'_>)> = records
        .iter()
        .filter_map(|r| fuchsia::parse(&r.op).map(|p| (r, p)))
        .filter(|(_, p)| p.case.name == case.name)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut sides: Vec<&str> = Vec::new();
    for (r, _) in &mine {
        if !sides.contains(&r.side.as_str()) {
            sides.push(&r.side);
        }
    }
    let natives = table_natives(case.natives, arch, &sides);
    // The rows: each result name once, by size, then by step.
    let mut keys: Vec<(u64, usize, &str, Option<&str>)> = Vec::new();
    for (r, p) in &mine {
        if !keys.iter().any(|k| k.2 == r.op) {
            keys.push((r.size, p.step_index, &r.op, p.step));
        }
    }
    keys.sort_by_key(|k| (k.0, k.1));
    let rows = keys
        .into_iter()
        .map(|(size, _, name, step)| {
            let find = |side: &str| {
                mine.iter().find(|(r, _)| r.op == name && r.side == side).map(|(r, _)| r.summary())
            };
            let vmo = find(VMO);
            let nat: Vec<Option<Summary>> = natives.iter().map(|(s, _)| find(s)).collect();
            let ratios = nat
                .iter()
                .map(|n| match (&vmo, n) {
                    (Some(v), Some(n)) => ratio(v, n),
                    _ => None,
                })
                .collect();
            let test = match step {
                Some(s) => name.strip_suffix(s).and_then(|t| t.strip_suffix('.')).unwrap_or(name),
                None => name,
            };
            FuchsiaRow {
                name: name.to_owned(),
                test: test.to_owned(),
                size,
                step: step.map(str::to_owned),
                vmo,
                natives: nat,
                ratios,
            }
        })
        .collect();
    Some(FuchsiaTable { case, natives, rows })
}

/// The table of `op` over `records` of a run on `arch` (`None`: unknown).
fn build_table(op: &str, arch: Option<&str>, records: &[Record]) -> OpTable {
    let info = catalog::op_info(op);
    let kind = info.map_or(OpKind::Sweep, |i| i.kind);
    let mine: Vec<&Record> = records.iter().filter(|r| r.op == op).collect();
    let mut sides: Vec<&str> = Vec::new();
    for r in &mine {
        if !sides.contains(&r.side.as_str()) {
            sides.push(&r.side);
        }
    }
    let natives = table_natives(info.map_or(&[], |i| i.natives), arch, &sides);
    let mut by_key: BTreeMap<(u64, &str), Summary> = BTreeMap::new();
    let mut requests: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    for r in &mine {
        by_key.insert((r.size, r.side.as_str()), r.summary());
        if let Some(n) = r.median_requests() {
            requests.insert((r.size, r.side.as_str()), n);
        }
    }
    let mut sizes: Vec<u64> = mine.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();

    // Per-byte steps of every series, by (side, size).
    let series_steps = |side: &str| -> Vec<PerByteStep> {
        let pts: Vec<(u64, u64)> = sizes
            .iter()
            .filter_map(|&z| by_key.get(&(z, side)).map(|s| (z, s.median_ns)))
            .collect();
        per_byte_steps(&pts)
    };
    let vmo_steps = if kind == OpKind::Sweep { series_steps(VMO) } else { Vec::new() };
    let native_steps: Vec<(String, Vec<PerByteStep>)> = if kind == OpKind::Sweep {
        natives.iter().map(|(s, _)| (s.clone(), series_steps(s))).collect()
    } else {
        Vec::new()
    };

    let rows = sizes
        .iter()
        .map(|&size| {
            let vmo = by_key.get(&(size, VMO)).copied();
            let nat: Vec<Option<Summary>> =
                natives.iter().map(|(s, _)| by_key.get(&(size, s.as_str())).copied()).collect();
            let ratios: Vec<Option<f64>> = nat
                .iter()
                .map(|n| match (&vmo, n) {
                    (Some(v), Some(n)) => ratio(v, n),
                    _ => None,
                })
                .collect();
            let target = ratio_target(kind, size);
            let mut misses = Vec::new();
            for ((side, _), r) in natives.iter().zip(&ratios) {
                match *r {
                    Some(r) if r > target => misses.push(Miss {
                        op: op.to_owned(),
                        size,
                        side: side.clone(),
                        kind: MissKind::Ratio { ratio: r, target },
                    }),
                    _ => {}
                }
            }
            let rise = vmo_steps.iter().find(|s| s.size == size && s.change > PER_BYTE_SLACK - 1.0);
            if let Some(step) = rise {
                let natives = native_steps
                    .iter()
                    .filter_map(|(side, steps)| {
                        steps
                            .iter()
                            .find(|s| s.size == size && s.prev_size == step.prev_size)
                            .map(|s| (side.clone(), s.change))
                    })
                    .collect();
                misses.push(Miss {
                    op: op.to_owned(),
                    size,
                    side: VMO.to_owned(),
                    kind: MissKind::PerByte {
                        prev_size: step.prev_size,
                        change: step.change,
                        natives,
                    },
                });
            }
            let requests = std::iter::once(VMO)
                .chain(natives.iter().map(|(s, _)| s.as_str()))
                .map(|side| requests.get(&(size, side)).copied())
                .collect();
            Row { size, vmo, natives: nat, ratios, misses, requests }
        })
        .collect();
    OpTable {
        op: op.to_owned(),
        kind,
        vmo_desc: info.map_or_else(String::new, |i| i.vmo.to_owned()),
        natives,
        rows,
    }
}

/// The head of a results table: the first columns, a figure and a ratio column per baseline,
/// then the repetitions (and the target misses, for tables with targets).
fn table_head(
    md: &mut String,
    head: &str,
    rule: &str,
    natives: &[(String, String)],
    targets: bool,
) {
    let (mut head, mut rule) = (head.to_owned(), rule.to_owned());
    for (side, _) in natives {
        let _ = write!(head, " {side} | VMO/{side} |");
        rule.push_str("---|---:|");
    }
    head.push_str(if targets { " reps | target misses |" } else { " reps |" });
    rule.push_str(if targets { "---|---|" } else { "---|" });
    let _ = writeln!(md, "{head}\n{rule}");
}

/// The cell of a figure that is not there: why, if the log says.
fn missing_cell(skip: Option<&Skip>) -> String {
    match skip {
        Some(sk) if sk.error => "error".to_owned(),
        Some(_) => "skipped".to_owned(),
        None => "–".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Policy, parse_log};
    use crate::sysinfo::CpuFeatures;

    fn rec(op: &str, size: u64, side: &str, median: u64) -> Record {
        Record::from_samples(op, size, side, vec![median - 1, median, median + 1]).unwrap()
    }

    fn log_of(records: Vec<Record>) -> Log {
        let text: Vec<String> = records.iter().map(Record::to_line).collect();
        parse_log(&text.join("\n"))
    }

    #[test]
    fn targets_by_kind_and_size() {
        assert_eq!(ratio_target(OpKind::Sweep, 4096), 1.5);
        assert_eq!(ratio_target(OpKind::Sweep, 65536), 1.10);
        assert_eq!(ratio_target(OpKind::Sweep, 256 << 20), 1.10);
        assert_eq!(ratio_target(OpKind::PerCall, 0), 1.5);
        assert_eq!(ratio_target(OpKind::Sparse, 1 << 18), 2.0);
        assert_eq!(ratio_target(OpKind::PerFault, 4 << 20), 1.10);
        assert!((ratio_target(OpKind::Threads, 4096) - 1.0 / 0.9).abs() < 1e-12);
        assert_eq!(ratio_target(OpKind::Refault, 16 << 20), 1.10);
        assert!(ratio_target(OpKind::Reclaim, 64 << 20).is_infinite());
    }

    #[test]
    fn the_reclaim_table_shows_throughput_and_has_no_target() {
        let counted = |side: &str, median: u64, requests: Vec<u64>| {
            let mut r = rec("RECLAIM", 16 << 20, side, median);
            r.requests = requests;
            r
        };
        let log = log_of(vec![
            // 16 MiB in 32 ms: 500 MiB/s; in 8 ms: 2000 MiB/s.
            counted("vmo", 32_000_000, vec![2, 2, 2]),
            counted("page_cache", 8_000_000, vec![1, 1, 1]),
            counted("page_cache_4k", 16_000_000, vec![1, 1, 1]),
        ]);
        let report = Report::build(log);
        let t = &report.tables[0];
        assert_eq!((t.op.as_str(), t.kind), ("RECLAIM", OpKind::Reclaim));
        // A ratio of 4.00 misses nothing: figures only.
        assert!(t.rows[0].misses.is_empty());
        assert_eq!(t.rows[0].ratios, [Some(4.0), Some(2.0)]);
        let md = report.to_markdown();
        assert!(md.contains("· 500 MiB/s · 2 req"), "{md}");
        assert!(md.contains("· 2000 MiB/s · 1 req | 4.00 |"), "{md}");
        assert!(md.contains("· 1000 MiB/s · 1 req | 2.00 |"), "{md}");
        assert!(md.contains("No target."), "{md}");
        let line = &report.summary()[0];
        assert_eq!((line.name.as_str(), line.verdict()), ("RECLAIM", "no target"));
        assert_eq!(mib_per_s(1 << 20, 0), None);
        assert_eq!(mib_per_s(1 << 20, 1_000_000_000), Some(1.0));
    }

    #[test]
    fn the_refault_table_judges_against_the_first_read() {
        let log = log_of(vec![
            rec("PAGER_REFAULT", 1 << 20, "vmo", 1200),
            rec("PAGER_REFAULT", 1 << 20, "vmo_first_read", 1000),
            rec("PAGER_REFAULT", 16 << 20, "vmo", 1050),
            rec("PAGER_REFAULT", 16 << 20, "vmo_first_read", 1000),
        ]);
        let report = Report::build(log);
        let t = &report.tables[0];
        assert_eq!((t.op.as_str(), t.kind), ("PAGER_REFAULT", OpKind::Refault));
        assert_eq!(t.rows[0].misses.len(), 1);
        assert_eq!(t.rows[0].misses[0].describe(), "VMO/vmo_first_read 1.20 > 1.10");
        assert!(t.rows[1].misses.is_empty());
        let md = report.to_markdown();
        assert!(md.contains("Ratio: refault / first page-in."), "{md}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["targets"]["refault"], 1.10);
    }

    #[test]
    fn the_page_fault_table_is_per_fault_and_has_no_per_byte_check() {
        let log = log_of(vec![
            rec("PAGE_FAULT", 4 << 20, "vmo", 1200),
            rec("PAGE_FAULT", 4 << 20, "memfd_fault", 1000), // 1.20 > 1.10
        ]);
        let report = Report::build(log);
        let t = &report.tables[0];
        assert_eq!((t.op.as_str(), t.kind), ("PAGE_FAULT", OpKind::PerFault));
        assert_eq!(t.rows[0].misses.len(), 1);
        assert_eq!(t.rows[0].misses[0].describe(), "VMO/memfd_fault 1.20 > 1.10");
        let md = report.to_markdown();
        assert!(md.contains("- Cells: time per page fault"), "{md}");
        assert!(md.contains("| 4 MiB | 1.20 µs (1.20–1.20) | 1.00 µs (1.00–1.00) | **1.20** ✗ |"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["targets"]["per_fault"], 1.10);
    }

    #[test]
    fn the_pager_tables_show_the_requests_and_judge_against_parity() {
        let counted = |op: &str, size: u64, side: &str, median: u64, requests: Vec<u64>| {
            let mut r = rec(op, size, side, median);
            r.requests = requests;
            r
        };
        let log = log_of(vec![
            counted("PAGER_MAP_READ", 1 << 20, "vmo", 2000, vec![256, 256, 256]),
            counted("PAGER_MAP_READ", 1 << 20, "uffd_copy", 1000, vec![256, 256, 256]),
            counted("PAGER_MAP_READ", 1 << 20, "uffd_continue", 2500, vec![256, 256, 256]),
            counted("PAGER_FAULT", 4 << 20, "vmo", 900, vec![1024]),
            counted("PAGER_FAULT", 4 << 20, "uffd_copy", 1000, vec![1024]),
        ]);
        let mut log = log;
        log.skips.push(Skip {
            op: "PAGER_FAULT".into(),
            side: "uffd_continue".into(),
            size: None,
            reason: "the kernel has no userfaultfd(2) (CONFIG_USERFAULTFD)".into(),
            error: false,
        });
        let report = Report::build(log);
        let t = &report.tables[0];
        assert_eq!((t.op.as_str(), t.kind), ("PAGER_MAP_READ", OpKind::PageIn));
        assert_eq!(t.rows[0].requests, [Some(256), Some(256), Some(256)]);
        // 2.00 against MISSING + COPY misses parity, 0.80 against MINOR passes.
        assert_eq!(t.rows[0].misses.len(), 1);
        assert_eq!(t.rows[0].misses[0].describe(), "VMO/uffd_copy 2.00 > 1.00");
        let md = report.to_markdown();
        assert!(
            md.contains(
                "| 1 MiB | 2.00 µs (2.00–2.00) · 256 req | 1.00 µs (1.00–1.00) · 256 req | \
                 **2.00** ✗ | 2.50 µs (2.50–2.50) · 256 req | 0.80 |"
            ),
            "{md}"
        );
        assert!(md.contains("READ packets the pager thread got"), "{md}");
        assert!(
            md.contains("| 4 MiB | 900 ns (899–901) · 1024 req | 1.00 µs (1.00–1.00) · 1024 req | 0.90 | skipped | – |"),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["targets"]["page_in"], 1.0);
        assert_eq!(json["records"][0]["requests"][0], 256);
    }

    #[test]
    fn per_byte_steps_sort_and_skip_zero() {
        // 1 ns/B, then 1 ns/B, then 1.5 ns/B; size 0 is left out.
        let steps = per_byte_steps(&[(4096, 6144), (0, 100), (1024, 1024), (2048, 2048)]);
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[0].prev_size, steps[0].size), (1024, 2048));
        assert!(steps[0].change.abs() < 1e-12);
        assert_eq!((steps[1].prev_size, steps[1].size), (2048, 4096));
        assert!((steps[1].change - 0.5).abs() < 1e-12);
        assert!(per_byte_steps(&[(4096, 10)]).is_empty());
    }

    #[test]
    fn ratios_and_ratio_misses() {
        let log = log_of(vec![
            rec("COMMIT", 4096, "vmo", 1400),
            rec("COMMIT", 4096, "fallocate", 1000), // 1.40: within 1.5
            rec("COMMIT", 4096, "madv_populate_write", 900), // 1.56: miss
            rec("COMMIT", 65536, "vmo", 1120),
            rec("COMMIT", 65536, "fallocate", 1000), // 1.12: miss at >= 64 KiB
            rec("COMMIT", 65536, "madv_populate_write", 2000),
        ]);
        let report = Report::build(log);
        assert_eq!(report.tables.len(), 1);
        let t = &report.tables[0];
        assert_eq!(t.op, "COMMIT");
        assert_eq!(t.natives[0].0, "fallocate");
        assert_eq!(t.natives[1].0, "madv_populate_write");
        assert_eq!(t.rows.iter().map(|r| r.size).collect::<Vec<_>>(), vec![4096, 65536]);
        let r0 = &t.rows[0];
        assert!((r0.ratios[0].unwrap() - 1.4).abs() < 1e-9);
        assert_eq!(r0.misses.len(), 1);
        assert_eq!(r0.misses[0].side, "madv_populate_write");
        assert!(matches!(r0.misses[0].kind, MissKind::Ratio { target, .. } if target == 1.5));
        let r1 = &t.rows[1];
        assert_eq!(r1.misses.len(), 1);
        assert_eq!(r1.misses[0].describe(), "VMO/fallocate 1.12 > 1.10");
        let comps = report.comparisons();
        assert_eq!(comps.len(), 4);
        assert_eq!(comps.iter().filter(|c| c.miss).count(), 2);
        assert_eq!(report.misses().count(), 2);
    }

    #[test]
    fn per_byte_rise_is_marked_on_the_vmo_series_only() {
        let log = log_of(vec![
            rec("ZERO", 4096, "vmo", 4096),         // 1 ns/B
            rec("ZERO", 65536, "vmo", 70_000),      // 1.068: within 10 %
            rec("ZERO", 2 << 20, "vmo", 3_000_000), // 1.43 ns/B: +34 %
            rec("ZERO", 4096, "madv_remove", 4096),
            rec("ZERO", 65536, "madv_remove", 65536),
            rec("ZERO", 2 << 20, "madv_remove", 4_194_304), // native doubles: not a miss
        ]);
        let report = Report::build(log);
        let rows = &report.tables[0].rows;
        assert!(rows[1].misses.iter().all(|m| !matches!(m.kind, MissKind::PerByte { .. })));
        let m: Vec<&Miss> =
            rows[2].misses.iter().filter(|m| matches!(m.kind, MissKind::PerByte { .. })).collect();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].side, "vmo");
        match &m[0].kind {
            MissKind::PerByte { prev_size, change, natives } => {
                assert_eq!(*prev_size, 65536);
                assert!(
                    (change - (3_000_000.0 / 2_097_152.0 / (70_000.0 / 65536.0) - 1.0)).abs()
                        < 1e-9
                );
                assert_eq!(natives.len(), 1);
                assert_eq!(natives[0].0, "madv_remove");
                assert!((natives[0].1 - 1.0).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        assert!(m[0].describe().starts_with("ns/B +34% from 64 KiB (natives: madv_remove +100%)"));
    }

    #[test]
    fn sparse_and_per_call_targets_and_no_per_byte_check() {
        let log = log_of(vec![
            rec("CACHE_CLEAN_SPARSE_1TIB", 262_144, "vmo", 2500),
            rec("CACHE_CLEAN_SPARSE_1TIB", 262_144, "vmo_64_pages", 1000), // 2.5 > 2
            rec("COMMIT_SIZE0", 0, "vmo", 1400),
            rec("COMMIT_SIZE0", 0, "madv_normal", 1000), // 1.4 <= 1.5
        ]);
        let report = Report::build(log);
        // Catalog order: COMMIT_SIZE0 before the sparse op.
        assert_eq!(report.tables[0].op, "COMMIT_SIZE0");
        assert!(report.tables[0].rows[0].misses.is_empty());
        let sparse = &report.tables[1];
        assert_eq!(sparse.kind, OpKind::Sparse);
        assert_eq!(sparse.rows[0].misses.len(), 1);
        assert!(
            matches!(sparse.rows[0].misses[0].kind, MissKind::Ratio { target, .. } if target == 2.0)
        );
    }

    #[test]
    fn unknown_ops_and_sides_get_columns() {
        let log = log_of(vec![rec("NEW_OP", 4096, "vmo", 10), rec("NEW_OP", 4096, "other", 10)]);
        let report = Report::build(log);
        assert_eq!(report.tables[0].op, "NEW_OP");
        assert_eq!(report.tables[0].natives, vec![("other".to_owned(), String::new())]);
        assert_eq!(report.tables[0].rows[0].ratios, vec![Some(1.0)]);
    }

    #[test]
    fn markdown_and_json_carry_everything() {
        let policy = Policy {
            warmup: 1,
            min_reps: 5,
            max_reps: 50,
            budget_ms: 200,
            warmup_max_size: 2 << 20,
        };
        let meta = Meta {
            mode: "tcg".into(),
            kernel: "7.3.0".into(),
            arch: "x86_64".into(),
            cpu: CpuFeatures { clwb: false, clflushopt: true, line_size: 64, ctr_el0: None },
            page_size: 4096,
            policy,
            per_call_policy: Policy { max_reps: 200, ..policy },
            quick: false,
            clocksource: "refined-jiffies".into(),
            clock_step_ns: 4_000_000,
        };
        let skip = Skip {
            op: "CACHE_CLEAN".into(),
            side: "clwb".into(),
            size: None,
            reason: "the CPU has no clwb".into(),
            error: false,
        };
        let mut lines = vec![meta.to_line(), skip.to_line()];
        for r in [
            rec("CACHE_CLEAN", 4096, "vmo", 500),
            rec("COMMIT", 4096, "vmo", 3000),
            rec("COMMIT", 4096, "fallocate", 1000),
        ] {
            lines.push(r.to_line());
        }
        lines.push(End { elapsed_ms: 61_500, errors: 0 }.to_line());
        let report = Report::build(parse_log(&lines.join("\n")));
        let md = report.to_markdown();
        assert!(md.contains("**Guest mode: tcg.** Wall-clock times under TCG"), "{md}");
        assert!(
            md.contains(
                "Kernel 7.3.0 on x86_64; CPU clwb: no, clflushopt: yes, line 64 B; page 4096 B.\n"
            ),
            "{md}"
        );
        assert!(md.contains("The run took 61.5 s"));
        assert!(md.contains("Repetitions: 1 warm-up (at 2 MiB for larger sizes), then at least 5"));
        assert!(md.contains("Clock: clocksource refined-jiffies, smallest step seen 4.00 ms."));
        assert!(md.contains("**Warning: the guest clock is coarse** (steps of 4.00 ms)"));
        assert!(md.contains("## Target misses: 1\n\n- COMMIT 4 KiB: VMO/fallocate 3.00 > 1.50"));
        assert!(md.contains("| size | VMO | fallocate | VMO/fallocate | madv_populate_write |"));
        assert!(
            md.contains("| 4 KiB | 3.00 µs (3.00–3.00) | 1.00 µs (1.00–1.00) | **3.00** ✗ | – | – | 3/3/– | VMO/fallocate 3.00 > 1.50 |"),
            "{md}"
        );
        // The clwb column says why it is empty; no arm64 column.
        assert!(md.contains("| size | VMO | clwb | VMO/clwb | reps | target misses |"), "{md}");
        assert!(md.contains("| 4 KiB | 500 ns (499–501) | skipped | – | 3/– | – |"), "{md}");
        assert!(!md.contains("dc_cvac") && !md.contains("dc cvac"), "{md}");
        assert!(md.contains("- CACHE_CLEAN clwb (all sizes): skipped: the CPU has no clwb"));

        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["meta"]["mode"], "tcg");
        assert_eq!(json["records"].as_array().unwrap().len(), 3);
        let r = &json["records"][1];
        assert_eq!(
            (r["op"].as_str(), r["size"].as_u64(), r["side"].as_str()),
            (Some("COMMIT"), Some(4096), Some("vmo"))
        );
        assert_eq!(
            (
                r["median_ns"].as_u64(),
                r["min_ns"].as_u64(),
                r["max_ns"].as_u64(),
                r["reps"].as_u64()
            ),
            (Some(3000), Some(2999), Some(3001), Some(3))
        );
        assert_eq!(json["comparisons"][0]["miss"], true);
        assert_eq!(json["misses"][0]["kind"], "ratio");
        assert_eq!(json["skipped"][0]["side"], "clwb");
        assert_eq!(json["end"]["elapsed_ms"], 61_500);
    }

    fn meta_on(arch: &str, cpu: CpuFeatures) -> Meta {
        let policy = Policy {
            warmup: 1,
            min_reps: 5,
            max_reps: 50,
            budget_ms: 200,
            warmup_max_size: 2 << 20,
        };
        Meta {
            mode: "tcg".into(),
            kernel: "7.3.0".into(),
            arch: arch.into(),
            cpu,
            page_size: 4096,
            policy,
            per_call_policy: policy,
            quick: false,
            clocksource: "arch_sys_counter".into(),
            clock_step_ns: 16,
        }
    }

    /// A run of both cache ops on `meta`'s architecture, against `clean`
    /// and `inval`.
    fn cache_run(meta: &Meta, clean: &str, inval: &str) -> Report {
        let mut lines = vec![meta.to_line()];
        for r in [
            rec("CACHE_CLEAN", 4096, "vmo", 1200),
            rec("CACHE_CLEAN", 4096, clean, 1000),
            rec("CACHE_CLEAN_INVALIDATE", 4096, "vmo", 3000),
            rec("CACHE_CLEAN_INVALIDATE", 4096, inval, 1000),
            rec("ZERO", 4096, "vmo", 1000),
            rec("ZERO", 4096, "madv_remove", 1000),
        ] {
            lines.push(r.to_line());
        }
        lines.push(End { elapsed_ms: 1000, errors: 0 }.to_line());
        Report::build(parse_log(&lines.join("\n")))
    }

    #[test]
    fn an_arm64_run_has_dc_columns_and_says_so() {
        let meta = meta_on("aarch64", CpuFeatures::from_ctr_el0(0x9444_c004));
        let report = cache_run(&meta, "dc_cvac", "dc_civac");
        let md = report.to_markdown();
        assert!(
            md.contains(
                "Kernel 7.3.0 on aarch64; CPU data-cache line 64 B (`4 << CTR_EL0.DminLine`, \
                 DminLine 4; CTR_EL0 0x9444c004 read at EL0), `dc cvac`/`dc civac` run at EL0; \
                 page 4096 B.\n"
            ),
            "{md}"
        );
        let natives = |op: &str| -> Vec<&str> {
            let t = report.tables.iter().find(|t| t.op == op).unwrap();
            t.natives.iter().map(|(s, _)| s.as_str()).collect()
        };
        assert_eq!(natives("CACHE_CLEAN"), ["dc_cvac"]);
        assert_eq!(natives("CACHE_CLEAN_INVALIDATE"), ["dc_civac"]);
        assert_eq!(natives("ZERO"), ["madv_remove"]);
        assert!(md.contains("| size | VMO | dc_cvac | VMO/dc_cvac | reps | target misses |"));
        assert!(md.contains("| size | VMO | dc_civac | VMO/dc_civac | reps | target misses |"));
        assert!(md.contains("- `dc_cvac`: a user-space (EL0) `dc cvac`"), "{md}");
        assert!(md.contains("- `dc_civac`: a user-space (EL0) `dc civac`"), "{md}");
        assert!(
            md.contains("| 4 KiB | 1.20 µs (1.20–1.20) | 1.00 µs (1.00–1.00) | 1.20 | 3/3 | – |")
        );
        assert!(md.contains("- CACHE_CLEAN_INVALIDATE 4 KiB: VMO/dc_civac 3.00 > 1.50"), "{md}");
        // Nothing of x86-64: no columns, no skips, no flags.
        for x86 in ["clwb", "clflushopt", "sfence", "skipped"] {
            assert!(!md.contains(x86), "{x86} in {md}");
        }
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["meta"]["arch"], "aarch64");
        assert_eq!(json["meta"]["cpu"]["line_size"], 64);
        assert_eq!(json["meta"]["cpu"]["ctr_el0"], 0x9444_c004_u64);
        let sides: Vec<&str> = json["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["side"].as_str().unwrap())
            .collect();
        assert_eq!(sides, ["madv_remove", "dc_cvac", "dc_civac"]);
    }

    #[test]
    fn an_x86_64_run_has_no_dc_columns() {
        let cpu = CpuFeatures { clwb: true, clflushopt: true, line_size: 64, ctr_el0: None };
        let report = cache_run(&meta_on("x86_64", cpu), "clwb", "clflushopt");
        let md = report.to_markdown();
        assert!(md.contains(
            "Kernel 7.3.0 on x86_64; CPU clwb: yes, clflushopt: yes, line 64 B; page 4096 B.\n"
        ));
        assert!(md.contains("| size | VMO | clwb | VMO/clwb | reps | target misses |"));
        assert!(md.contains("| size | VMO | clflushopt | VMO/clflushopt | reps | target misses |"));
        assert!(md.contains("- `clwb`: a user-space `clwb` per cache line"), "{md}");
        for arm in ["dc_cvac", "dc_civac", "dc cvac", "CTR_EL0", "dsb", "skipped"] {
            assert!(!md.contains(arm), "{arm} in {md}");
        }
    }

    #[test]
    fn the_columns_follow_the_runs_architecture_or_its_figures() {
        // A log from before the arch field: x86-64.
        let old = r#"@@bench-meta {"mode":"tcg","kernel":"7.3.0","cpu":{"clwb":true,"clflushopt":true,"line_size":64},"page_size":4096,"policy":{"warmup":1,"min_reps":5,"max_reps":50,"budget_ms":200},"per_call_policy":{"warmup":5,"min_reps":5,"max_reps":500,"budget_ms":200}}
@@bench {"op":"CACHE_CLEAN","size":4096,"side":"vmo","median_ns":5,"min_ns":4,"max_ns":9,"reps":7}"#;
        let report = Report::build(parse_log(old));
        assert_eq!(report.meta.as_ref().unwrap().arch, "x86_64");
        assert_eq!(report.tables[0].natives[0].0, "clwb");
        assert!(report.to_markdown().contains("Kernel 7.3.0 on x86_64; CPU clwb: yes"));
        // No meta line: the baselines it has figures for, with their
        // descriptions.
        let report = Report::build(log_of(vec![
            rec("CACHE_CLEAN", 4096, "vmo", 10),
            rec("CACHE_CLEAN", 4096, "dc_cvac", 10),
        ]));
        let t = &report.tables[0];
        assert_eq!(t.natives.len(), 1);
        assert_eq!(t.natives[0].0, "dc_cvac");
        assert!(t.natives[0].1.contains("`dc cvac`"));
        // A side of another architecture still shows if it was measured.
        let mut lines = vec![meta_on("aarch64", CpuFeatures::from_ctr_el0(0)).to_line()];
        lines.push(rec("CACHE_CLEAN", 4096, "clwb", 10).to_line());
        let report = Report::build(parse_log(&lines.join("\n")));
        let sides: Vec<&str> = report.tables[0].natives.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sides, ["dc_cvac", "clwb"]);
        // An architecture with no cache baselines: the VMO column alone.
        let mut lines = vec![meta_on("riscv64", CpuFeatures::default()).to_line()];
        lines.push(rec("CACHE_CLEAN", 4096, "vmo", 10).to_line());
        let report = Report::build(parse_log(&lines.join("\n")));
        assert!(report.tables[0].natives.is_empty());
        assert!(report.to_markdown().contains("Kernel 7.3.0 on riscv64; CPU line 0 B;"));
    }

    #[test]
    fn the_fuchsia_cases_get_a_section_of_their_own() {
        let mut lines: Vec<String> = [
            rec("COMMIT", 4096, "vmo", 1000),
            rec("COMMIT", 4096, "fallocate", 1000),
            rec("Vmo/Clone/32kbytes.close", 32768, "vmo", 300),
            rec("Vmo/Clone/4kbytes.close", 4096, "vmo", 200),
            rec("Vmo/Clone/4kbytes.clone", 4096, "vmo", 5000),
            rec("Vmo/Clone/4kbytes.clone", 4096, "map_private", 1000),
            rec("Vmo/Clone/4kbytes.clone", 4096, "memfd_copy", 2500),
            rec("Vmo/Read/4kbytes", 4096, "vmo", 1200),
            rec("Vmo/Read/4kbytes", 4096, "memfd", 1000),
        ]
        .iter()
        .map(Record::to_line)
        .collect();
        let failed = Skip {
            op: "Vmo/Clone/32kbytes".into(),
            side: "memfd_copy".into(),
            size: Some(32768),
            reason: "no memory".into(),
            error: true,
        };
        lines.push(failed.to_line());
        let report = Report::build(parse_log(&lines.join("\n")));
        // Not among the op tables, and no targets.
        assert_eq!(report.tables.len(), 1);
        assert_eq!(report.misses().count(), 0);
        assert_eq!(report.comparisons().len(), 1);
        let names: Vec<&str> = report.fuchsia.iter().map(|t| t.case.name).collect();
        assert_eq!(names, ["Vmo/Read", "Vmo/Clone"]);
        let clone = &report.fuchsia[1];
        let sides: Vec<&str> = clone.natives.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sides, ["map_private", "memfd_copy"]);
        // By size, then in the order of the steps.
        let rows: Vec<&str> = clone.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            rows,
            ["Vmo/Clone/4kbytes.clone", "Vmo/Clone/4kbytes.close", "Vmo/Clone/32kbytes.close"]
        );
        assert_eq!(clone.rows[2].test, "Vmo/Clone/32kbytes");
        assert_eq!(clone.rows[0].ratios, [Some(5.0), Some(2.0)]);
        let md = report.to_markdown();
        let section = md.find("## Fuchsia microbenchmarks (src/tests/microbenchmarks/vmo.cc)");
        assert!(md.find("## COMMIT") < section && section < md.find("## Not measured"), "{md}");
        assert!(md.contains("Not mirrored: `Vmo/TransferData/*`: it times `zx_vmo_transfer_data`"));
        assert!(md.contains("### Vmo/Clone\n\n- Timed: clone: a SNAPSHOT child"), "{md}");
        assert!(md.contains("- `map_private`: the parent is a fallocated memfd."), "{md}");
        assert!(md.contains(
            "| case | VMO | map_private | VMO/map_private | memfd_copy | VMO/memfd_copy | reps |"
        ));
        assert!(
            md.contains(
                "| Vmo/Clone/4kbytes.clone | 5.00 µs (5.00–5.00) | 1.00 µs (1.00–1.00) | 5.00 | \
                 2.50 µs (2.50–2.50) | 2.00 | 3/3/3 |"
            ),
            "{md}"
        );
        // A failed figure says so in each of its steps' cells.
        assert!(
            md.contains(
                "| Vmo/Clone/32kbytes.close | 300 ns (299–301) | – | – | error | – | 3/–/– |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| Vmo/Read/4kbytes | 1.20 µs (1.20–1.20) | 1.00 µs (1.00–1.00) | 1.20 |")
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let f = &json["fuchsia"];
        assert_eq!(f.as_array().unwrap().len(), 3);
        assert_eq!(f[0]["name"], "Vmo/Read/4kbytes");
        assert_eq!(f[0]["step"], serde_json::Value::Null);
        assert_eq!(f[1]["case"], "Vmo/Clone");
        assert_eq!(f[1]["step"], "clone");
        assert_eq!(f[2]["side"], "memfd_copy");
        assert_eq!(json["fuchsia_not_mirrored"][0][0], "Vmo/TransferData");
    }

    #[test]
    fn an_unfinished_run_says_so() {
        let report = Report::build(log_of(vec![rec("COMMIT", 4096, "vmo", 10)]));
        let md = report.to_markdown();
        assert!(md.contains("**Guest mode: unknown.**"));
        assert!(md.contains("did not finish"));
    }

    /// A finished run in `mode` on x86-64 of `records`.
    fn run_in(mode: &str, records: &[Record]) -> Report {
        let cpu = CpuFeatures { clwb: true, clflushopt: true, line_size: 64, ctr_el0: None };
        let meta = Meta { mode: mode.into(), ..meta_on("x86_64", cpu) };
        let mut lines = vec![meta.to_line()];
        lines.extend(records.iter().map(Record::to_line));
        lines.push(End { elapsed_ms: 1000, errors: 0 }.to_line());
        Report::build(parse_log(&lines.join("\n")))
    }

    /// `report`'s results.json, read back as a previous run.
    fn as_prev(report: &Report) -> PrevRun {
        PrevRun::from_json(&report.to_json()).unwrap()
    }

    /// COMMIT at 4 and 64 KiB and a Fuchsia case: the VMO's medians given,
    /// the natives' 1000 ns.
    fn commit_run(mode: &str, vmo_4k: u64, vmo_64k: u64, vmo_read: u64) -> Report {
        run_in(
            mode,
            &[
                rec("COMMIT", 4096, "vmo", vmo_4k),
                rec("COMMIT", 4096, "fallocate", 1000),
                rec("COMMIT", 65536, "vmo", vmo_64k),
                rec("COMMIT", 65536, "fallocate", 1000),
                rec("Vmo/Read/4kbytes", 4096, "vmo", vmo_read),
                rec("Vmo/Read/4kbytes", 4096, "memfd", 1000),
            ],
        )
    }

    #[test]
    fn a_ratio_six_percent_worse_is_a_regression_four_percent_is_not() {
        let prev = commit_run("icount", 1000, 1000, 1100);
        // 4 KiB: 1.00 -> 1.06; 64 KiB: 1.00 -> 1.04; Vmo/Read: 1.10 -> 1.21.
        let mut report = commit_run("icount", 1060, 1040, 1210);
        report.compare_with(Some(&as_prev(&prev)));
        let regressions = report.regressions();
        let names: Vec<(&str, u64)> = regressions.iter().map(|c| (c.op.as_str(), c.size)).collect();
        assert_eq!(names, [("COMMIT", 4096), ("Vmo/Read/4kbytes", 4096)]);
        assert_eq!(report.changes().len(), 3);
        let md = report.to_markdown();
        // Marked in the table rows: the 6 % one, not the 4 % one.
        assert!(
            md.contains(
                "| 4 KiB | 1.06 µs (1.06–1.06) | 1.00 µs (1.00–1.00) | 1.06 ↑+6% (was 1.00) |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 64 KiB | 1.04 µs (1.04–1.04) | 1.00 µs (1.00–1.00) | 1.04 |"),
            "{md}"
        );
        assert!(md.contains("| Vmo/Read/4kbytes | 1.21 µs (1.21–1.21) | 1.00 µs (1.00–1.00) | 1.21 ↑+10% (was 1.10) |"), "{md}");
        // Listed in the summary.
        assert!(md.contains(
            "Previous run (icount): 3 ratio(s) compared, 2 more than 5 % worse (regressions), 0 \
             more than 5 % better."
        ));
        assert!(!md.contains("may be noise"));
        assert!(
            md.contains(
                "| COMMIT | 1.04 (64 KiB, fallocate) | ≤ 1.10 | pass | **1 worse** (of 2) |"
            ),
            "{md}"
        );
        assert!(md.contains("| Vmo/Read (Fuchsia) | 1.21 (Vmo/Read/4kbytes, memfd) | – | no target | **1 worse** (of 1) |"), "{md}");
        assert!(
            md.contains(
                "Regressions (more than 5 % worse than the previous run):\n\n\
             - COMMIT 4 KiB VMO/fallocate: 1.06, was 1.00 (+6 %)\n\
             - Vmo/Read/4kbytes VMO/memfd: 1.21, was 1.10 (+10 %)\n"
            ),
            "{md}"
        );
        // results.json has the comparison.
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        let p = &json["previous"];
        assert_eq!(
            (p["status"].as_str(), p["prev_mode"].as_str()),
            (Some("compared"), Some("icount"))
        );
        assert_eq!((p["compared"].as_u64(), p["improvements"].as_u64()), (Some(3), Some(0)));
        assert_eq!(p["regressions"].as_array().unwrap().len(), 2);
        assert_eq!(p["regressions"][0]["prev"], 1.0);
        let c = &json["comparisons"];
        assert_eq!(
            (c[0]["prev_ratio"].as_f64(), c[0]["regression"].as_bool()),
            (Some(1.0), Some(true))
        );
        assert!((c[1]["change"].as_f64().unwrap() - 0.04).abs() < 1e-9);
        assert_eq!(c[1]["regression"], false);
        assert_eq!(json["fuchsia"][0]["regression"], true);
        assert_eq!(json["summary"][0]["regressions"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_previous_run_in_another_mode_is_not_compared() {
        let prev = commit_run("tcg", 1000, 1000, 1000);
        let mut report = commit_run("icount", 2000, 2000, 2000);
        report.compare_with(Some(&as_prev(&prev)));
        assert!(report.changes().is_empty());
        let md = report.to_markdown();
        assert!(
            md.contains(
                "Previous run: tcg on x86_64, this one icount on x86_64: ratios not compared (only \
             runs of the same guest mode and architecture are)."
            ),
            "{md}"
        );
        assert!(!md.contains("↑+") && !md.contains("Regressions ("), "{md}");
        assert!(
            md.contains("| COMMIT | 2.00 (64 KiB, fallocate) | ≤ 1.10 | **miss** (2) | – |"),
            "{md}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["previous"]["status"], "not_compared");
        assert_eq!(json["previous"]["prev_mode"], "tcg");
        assert!(json["comparisons"][0].get("prev_ratio").is_none());
        // A previous results.json without a meta line: not compared either.
        let mut report = commit_run("icount", 2000, 2000, 2000);
        report.compare_with(Some(&PrevRun::from_json(r#"{"comparisons":[]}"#).unwrap()));
        assert!(report.to_markdown().contains("Previous run: unknown on unknown, this one icount"));
        // Two wall-clock runs of one mode are compared, with a word of caution.
        let mut report = commit_run("tcg", 1000, 1000, 1000);
        report.compare_with(Some(&as_prev(&prev)));
        assert_eq!(report.changes().len(), 3);
        assert!(report.to_markdown().contains("Wall-clock times: a change of 5 % may be noise"));
    }

    #[test]
    fn without_a_previous_run_nothing_is_compared() {
        let mut report = commit_run("icount", 1000, 1000, 1000);
        report.compare_with(None);
        assert_eq!(report.previous, Previous::None);
        assert!(report.changes().is_empty());
        let md = report.to_markdown();
        assert!(md.contains("No previous run (`results.prev.json`): nothing to compare."), "{md}");
        assert!(md.contains("| COMMIT | 1.00 (64 KiB, fallocate) | ≤ 1.10 | pass | – |"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["previous"]["status"], "none");
        assert_eq!(json["comparisons"][0]["regression"], false);
        // A previous run without these ops: compared, and new.
        let other =
            run_in("icount", &[rec("ZERO", 4096, "vmo", 10), rec("ZERO", 4096, "madv_remove", 10)]);
        let mut report = commit_run("icount", 1000, 1000, 1000);
        report.compare_with(Some(&as_prev(&other)));
        assert!(report.changes().is_empty());
        assert!(
            report
                .to_markdown()
                .contains("| COMMIT | 1.00 (64 KiB, fallocate) | ≤ 1.10 | pass | new |")
        );
    }

    #[test]
    fn the_summary_leads_with_each_ops_worst_ratio_against_its_target() {
        let report = run_in(
            "icount",
            &[
                // 1.40 of 1.50 at 4 KiB, 1.05 of 1.10 at 64 KiB: the 64 KiB one is
                // nearer its target.
                rec("COMMIT", 4096, "vmo", 1400),
                rec("COMMIT", 4096, "fallocate", 1000),
                rec("COMMIT", 65536, "vmo", 1050),
                rec("COMMIT", 65536, "fallocate", 1000),
                rec("ZERO", 4096, "vmo", 2000),
                rec("ZERO", 4096, "madv_remove", 1000),
                rec("COW_WRITE", 4 << 20, "vmo", 5000),
                rec("COW_WRITE", 4 << 20, "vmo_owned", 1000),
                rec("NO_BASELINE", 4096, "vmo", 1000),
                rec("Vmo/Clone/4kbytes.clone", 4096, "vmo", 1000),
                rec("Vmo/Clone/4kbytes.clone", 4096, "map_private", 500),
                rec("Vmo/Clone/4kbytes.clone", 4096, "memfd_copy", 2000),
            ],
        );
        let lines = report.summary();
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["COMMIT", "ZERO", "COW_WRITE", "NO_BASELINE", "Vmo/Clone"]);
        let verdicts: Vec<&str> = lines.iter().map(SummaryLine::verdict).collect();
        assert_eq!(verdicts, ["pass", "miss", "no target", "no ratio", "no target"]);
        let w = lines[0].worst.as_ref().unwrap();
        assert_eq!(
            (w.row.as_str(), w.side.as_str(), w.target),
            ("64 KiB", "fallocate", Some(1.10))
        );
        assert_eq!(lines[4].worst.as_ref().unwrap().side, "map_private");
        let md = report.to_markdown();
        // First thing after the title, before the header paragraphs.
        assert!(md.starts_with("# vmo-bench: VMO ops against native Linux\n\n## Summary\n\n"));
        assert!(md.find("## Summary") < md.find("**Guest mode: icount.**"));
        assert!(md.contains("Guest mode icount on x86_64, 1.0 s of guest time, 0 figure(s) failed. No previous run"), "{md}");
        assert!(md.contains("| op | worst ratio | target | verdict | vs previous run |\n|---|---|---|---|---|\n\
            | COMMIT | 1.05 (64 KiB, fallocate) | ≤ 1.10 | pass | – |\n\
            | ZERO | 2.00 (4 KiB, madv_remove) | ≤ 1.50 | **miss** (1) | – |\n\
            | COW_WRITE | 5.00 (4 MiB, vmo_owned) | – | no target | – |\n\
            | NO_BASELINE | – | – | no ratio | – |\n\
            | Vmo/Clone (Fuchsia) | 2.00 (Vmo/Clone/4kbytes.clone, map_private) | – | no target | – |\n\n"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["summary"][1]["misses"], 1);
        assert_eq!(json["summary"][4]["fuchsia"], true);
    }

    #[test]
    fn the_summary_lists_ten_regressions_at_most() {
        let sizes: Vec<u64> = (1..=12).map(|i| i * 4096).collect();
        let of = |vmo: u64| -> Vec<Record> {
            sizes
                .iter()
                .flat_map(|&z| {
                    [rec("NEW_OP", z, "vmo", vmo * z), rec("NEW_OP", z, "other", 1000 * z)]
                })
                .collect()
        };
        let prev = run_in("icount", &of(1000));
        let mut report = run_in("icount", &of(1100));
        report.compare_with(Some(&as_prev(&prev)));
        assert_eq!(report.regressions().len(), 12);
        let md = report.to_markdown();
        assert_eq!(md.matches("- NEW_OP ").count(), SUMMARY_REGRESSIONS);
        assert!(md.contains("- and 2 more (↑ in the tables)\n"), "{md}");
        assert_eq!(md.matches("↑+10% (was 1.00)").count(), 12);
    }
}
