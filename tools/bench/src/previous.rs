//! The previous run: its VMO/native ratios, read back from its
//! `results.json`, and how this run's ratios compare with them.
//!
//! `make bench` keeps the previous run's `results.json` as
//! `results.prev.json` (tools/run.sh), and the report compares every ratio
//! both runs have, by (op, size, side) and by (Fuchsia result name, side),
//! if both runs were taken in the same guest mode on the same architecture:
//! a ratio of an icount run says nothing of one of a TCG run. A ratio more
//! than [`REGRESSION_THRESHOLD`] above the previous run's is a regression
//! (a ratio is VMO/native, so larger is worse). Under icount the figures are
//! instruction counts and repeat to well within that; under TCG and KVM they
//! are wall-clock, and a change of that size may be noise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::fuchsia;
use crate::record::Meta;
use crate::units::fmt_size;

/// A ratio more than this much (relative) above the previous run's is a
/// regression: 0.05 is 5 %.
pub const REGRESSION_THRESHOLD: f64 = 0.05;

/// Slack for the float arithmetic: a ratio exactly 5 % above is not more
/// than 5 % above.
const EPSILON: f64 = 1e-9;

/// What the comparison needs of a previous run's `results.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PrevRun {
    /// Its meta (mode and architecture).
    #[serde(default)]
    pub meta: Option<PrevMeta>,
    /// The ratios of its op tables.
    #[serde(default)]
    pub comparisons: Vec<PrevRatio>,
    /// The ratios of its Fuchsia section.
    #[serde(default)]
    pub fuchsia: Vec<PrevRatio>,
}

/// The guest mode and architecture of a previous run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PrevMeta {
    /// `kvm`, `tcg` or `icount`.
    pub mode: String,
    /// The architecture (a meta without it is from x86-64).
    #[serde(default = "x86_64")]
    pub arch: String,
}

fn x86_64() -> String {
    crate::catalog::X86_64.to_owned()
}

/// One ratio of a previous run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PrevRatio {
    /// The op, or Fuchsia's result name (`name` in the Fuchsia section).
    #[serde(alias = "name")]
    pub op: String,
    /// Bytes.
    pub size: u64,
    /// The baseline.
    pub side: String,
    /// VMO median / baseline median.
    pub ratio: f64,
}

impl PrevRun {
    /// Reads a `results.json`.
    pub fn from_json(text: &str) -> Result<PrevRun, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// The ratios of a previous run by (op or Fuchsia result name, size, side).
pub type Ratios = BTreeMap<(String, u64, String), f64>;

/// The previous run, as far as this one is compared with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Previous {
    /// No previous run.
    #[default]
    None,
    /// A previous run in another guest mode or on another architecture (or
    /// one of the two runs without a meta line): its ratios are not compared.
    Unlike {
        /// This run's mode and architecture (`unknown` without a meta line).
        this: (String, String),
        /// The previous run's.
        prev: (String, String),
    },
    /// A previous run in the same mode on the same architecture.
    Like {
        /// The mode both runs were taken in.
        mode: String,
        /// Its ratios.
        ratios: Ratios,
    },
}

fn mode_arch(mode_arch: Option<(&str, &str)>) -> (String, String) {
    let (m, a) = mode_arch.unwrap_or(("unknown", "unknown"));
    (m.to_owned(), a.to_owned())
}

impl Previous {
    /// What of `prev` this run, with meta `meta`, compares with.
    pub fn new(prev: Option<&PrevRun>, meta: Option<&Meta>) -> Previous {
        let Some(prev) = prev else { return Previous::None };
        let this = meta.map(|m| (m.mode.as_str(), m.arch.as_str()));
        let before = prev.meta.as_ref().map(|m| (m.mode.as_str(), m.arch.as_str()));
        match (this, before) {
            (Some(t), Some(b)) if t == b => {
                let ratios = prev
                    .comparisons
                    .iter()
                    .chain(&prev.fuchsia)
                    .filter(|r| r.ratio.is_finite() && r.ratio > 0.0)
                    .map(|r| ((r.op.clone(), r.size, r.side.clone()), r.ratio))
                    .collect();
                Previous::Like { mode: t.0.to_owned(), ratios }
            }
            _ => Previous::Unlike { this: mode_arch(this), prev: mode_arch(before) },
        }
    }

    /// How `ratio`, this run's VMO/`side` ratio of `op` at `size`, compares
    /// with the previous run's; `None` if the previous run is not compared
    /// or has no such ratio.
    pub fn change(&self, op: &str, size: u64, side: &str, ratio: f64) -> Option<Change> {
        let Previous::Like { ratios, .. } = self else { return None };
        let prev = *ratios.get(&(op.to_owned(), size, side.to_owned()))?;
        Some(Change {
            op: op.to_owned(),
            size,
            side: side.to_owned(),
            prev,
            ratio,
            change: ratio / prev - 1.0,
        })
    }

    /// One sentence for the summary: what was compared, given this run's
    /// changes.
    pub fn describe(&self, changes: &[Change]) -> String {
        let pct = REGRESSION_THRESHOLD * 100.0;
        match self {
            Previous::None => {
                "No previous run (`results.prev.json`): nothing to compare.".to_owned()
            }
            Previous::Unlike { this, prev } => format!(
                "Previous run: {} on {}, this one {} on {}: ratios not compared (only runs of the \
                 same guest mode and architecture are).",
                prev.0, prev.1, this.0, this.1
            ),
            Previous::Like { mode, .. } => {
                let worse = changes.iter().filter(|c| c.regression()).count();
                let better = changes.iter().filter(|c| c.change < -REGRESSION_THRESHOLD).count();
                let mut s = format!(
                    "Previous run ({mode}): {} ratio(s) compared, {worse} more than {pct:.0} % \
                     worse (regressions), {better} more than {pct:.0} % better.",
                    changes.len()
                );
                if mode != "icount" {
                    s.push_str(&format!(
                        " Wall-clock times: a change of {pct:.0} % may be noise (icount runs \
                         repeat)."
                    ));
                }
                s
            }
        }
    }
}

/// One ratio of this run against the previous run's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The op, or Fuchsia's result name.
    pub op: String,
    /// Bytes.
    pub size: u64,
    /// The baseline.
    pub side: String,
    /// The previous run's ratio.
    pub prev: f64,
    /// This run's.
    pub ratio: f64,
    /// Relative change: 0.07 is 7 % worse.
    pub change: f64,
}

impl Change {
    /// Whether the ratio got worse by more than [`REGRESSION_THRESHOLD`].
    pub fn regression(&self) -> bool {
        self.change > REGRESSION_THRESHOLD + EPSILON
    }

    /// The mark of a regressed ratio in its table cell.
    pub fn mark(&self) -> String {
        format!("↑{:+.0}% (was {:.2})", self.change * 100.0, self.prev)
    }

    /// One line for the summary's list of regressions.
    pub fn describe(&self) -> String {
        let what = if fuchsia::parse(&self.op).is_some() {
            self.op.clone()
        } else {
            format!("{} {}", self.op, fmt_size(self.size))
        };
        format!(
            "{what} VMO/{}: {:.2}, was {:.2} ({:+.0} %)",
            self.side,
            self.ratio,
            self.prev,
            self.change * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(prev: f64, ratio: f64) -> Change {
        let mut ratios = Ratios::new();
        ratios.insert(("COMMIT".into(), 4096, "fallocate".into()), prev);
        let p = Previous::Like { mode: "icount".into(), ratios };
        p.change("COMMIT", 4096, "fallocate", ratio).unwrap()
    }

    #[test]
    fn more_than_five_percent_worse_is_a_regression() {
        assert!(change(1.00, 1.06).regression());
        assert!(!change(1.00, 1.04).regression());
        // Exactly 5 % is not more than 5 %.
        assert!(!change(1.00, 1.05).regression());
        assert!(!change(1.20, 1.00).regression());
        let c = change(1.00, 1.06);
        assert_eq!(c.mark(), "↑+6% (was 1.00)");
        assert_eq!(c.describe(), "COMMIT 4 KiB VMO/fallocate: 1.06, was 1.00 (+6 %)");
    }

    #[test]
    fn a_previous_results_json_reads_back() {
        let text = r#"{"meta":{"mode":"icount","kernel":"7.3.4"},
            "comparisons":[{"op":"COMMIT","size":4096,"side":"fallocate","ratio":1.5,"target":1.5,"miss":false}],
            "fuchsia":[{"name":"Vmo/Read/4kbytes","case":"Vmo/Read","size":4096,"step":null,"side":"memfd","ratio":1.2}]}"#;
        let prev = PrevRun::from_json(text).unwrap();
        assert_eq!(prev.meta.as_ref().unwrap().arch, "x86_64");
        assert_eq!(prev.fuchsia[0].op, "Vmo/Read/4kbytes");
        assert_eq!(PrevRun::from_json("{}").unwrap(), PrevRun::default());
        assert!(PrevRun::from_json("not json").is_err());
    }
}
