//! The `@@bench*` lines: what the guest program prints and the report reads.
//!
//! Each line is a tag, one space and a JSON object:
//!
//! ```text
//! @@bench-meta {"mode":"tcg","kernel":"7.3.0",...}
//! @@bench {"op":"COMMIT","size":4096,"side":"vmo","median_ns":..,"samples_ns":[..]}
//! @@bench-skip {"op":"CACHE_CLEAN","side":"clwb","reason":"the CPU has no clwb"}
//! @@bench-end {"elapsed_ms":123456,"errors":0}
//! ```
//!
//! The log they are read from also holds other lines (the runner's `@@begin`
//! markers, other programs' output); [`parse_log`] ignores those.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::{Summary, summarize};
use crate::sysinfo::CpuFeatures;

/// Tag of a [`Record`] line.
pub const RECORD_TAG: &str = "@@bench";
/// Tag of the [`Meta`] line.
pub const META_TAG: &str = "@@bench-meta";
/// Tag of a [`Skip`] line.
pub const SKIP_TAG: &str = "@@bench-skip";
/// Tag of the [`End`] line.
pub const END_TAG: &str = "@@bench-end";

/// One figure: an op at a size on one side (the VMO or a native baseline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The op ([`catalog`](crate::catalog) names).
    pub op: String,
    /// Bytes the op covers.
    pub size: u64,
    /// [`catalog::VMO`](crate::catalog::VMO) or a baseline's name.
    pub side: String,
    /// Median of the samples, in nanoseconds.
    pub median_ns: u64,
    /// Fastest sample.
    pub min_ns: u64,
    /// Slowest sample.
    pub max_ns: u64,
    /// Timed repetitions.
    pub reps: u32,
    /// Every sample, in the order taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_ns: Vec<u64>,
    /// The pager figures: the requests each timed run was served with, in
    /// the order taken (READ packets on the VMO side, userfaultfd fault
    /// messages on the native sides); empty for every other figure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<u64>,
}

impl Record {
    /// A record of `samples` (at least one).
    pub fn from_samples(op: &str, size: u64, side: &str, samples: Vec<u64>) -> Option<Record> {
        let s = summarize(&samples)?;
        Some(Record {
            op: op.to_owned(),
            size,
            side: side.to_owned(),
            median_ns: s.median_ns,
            min_ns: s.min_ns,
            max_ns: s.max_ns,
            reps: s.reps,
            samples_ns: samples,
            requests: Vec::new(),
        })
    }

    /// The median of [`requests`](Self::requests), if there are any.
    pub fn median_requests(&self) -> Option<u64> {
        let mut r = self.requests.clone();
        r.sort_unstable();
        r.get(r.len().checked_sub(1)? / 2).copied()
    }

    /// The summary the record states.
    pub fn summary(&self) -> Summary {
        Summary {
            median_ns: self.median_ns,
            min_ns: self.min_ns,
            max_ns: self.max_ns,
            reps: self.reps,
        }
    }

    /// The `@@bench {json}` line (without a newline).
    pub fn to_line(&self) -> String {
        tagged(RECORD_TAG, self)
    }
}

/// How many times each figure was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Untimed runs (on fresh objects too) before the timed ones.
    pub warmup: u32,
    /// Timed repetitions at least.
    pub min_reps: u32,
    /// Timed repetitions at most.
    pub max_reps: u32,
    /// Past [`min_reps`](Self::min_reps), repetitions stop once the figure
    /// (set-up included) has taken this long.
    pub budget_ms: u64,
    /// Warm-up runs of a larger size run at this size instead: they warm the
    /// same code paths without the minutes a 256 MiB set-up takes under
    /// emulation (a cold first repetition is then absorbed by the median).
    #[serde(default = "no_cap")]
    pub warmup_max_size: u64,
}

fn no_cap() -> u64 {
    u64::MAX
}

fn x86_64() -> String {
    crate::catalog::X86_64.to_owned()
}

/// The run as a whole: printed once, before the records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// `kvm`, `tcg` or `icount` (what `--mode` said).
    pub mode: String,
    /// The guest kernel's release (`uname -r`).
    pub kernel: String,
    /// The guest program's architecture, `std::env::consts::ARCH`
    /// ([`catalog::X86_64`](crate::catalog::X86_64),
    /// [`catalog::AARCH64`](crate::catalog::AARCH64)): which native cache
    /// baselines the run has. A meta line without it comes from before the
    /// arm64 guest, so from x86-64.
    #[serde(default = "x86_64")]
    pub arch: String,
    /// The CPU features the cache baselines need.
    pub cpu: CpuFeatures,
    /// The page size.
    pub page_size: u64,
    /// Repetitions of the size sweeps.
    pub policy: Policy,
    /// Repetitions of the per-call figure.
    pub per_call_policy: Policy,
    /// Whether this was a `--quick` run.
    #[serde(default)]
    pub quick: bool,
    /// The guest's clocksource (`current_clocksource` in sysfs).
    #[serde(default)]
    pub clocksource: String,
    /// The smallest step the monotonic clock was seen to make, in ns: a
    /// jiffies clocksource makes every figure a multiple of 1-10 ms.
    #[serde(default)]
    pub clock_step_ns: u64,
}

impl Meta {
    /// The `@@bench-meta {json}` line.
    pub fn to_line(&self) -> String {
        tagged(META_TAG, self)
    }
}

/// A figure that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// The op.
    pub op: String,
    /// The side.
    pub side: String,
    /// The size; `None` for every size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Why: a missing CPU feature, or the error that stopped the figure.
    pub reason: String,
    /// Whether it was an error (as opposed to a figure that cannot exist
    /// on this machine).
    #[serde(default)]
    pub error: bool,
}

impl Skip {
    /// The `@@bench-skip {json}` line.
    pub fn to_line(&self) -> String {
        tagged(SKIP_TAG, self)
    }
}

/// The last line of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// Wall-clock (guest) time of the whole run.
    pub elapsed_ms: u64,
    /// Figures that failed with an error.
    pub errors: u32,
}

impl End {
    /// The `@@bench-end {json}` line.
    pub fn to_line(&self) -> String {
        tagged(END_TAG, self)
    }
}

fn tagged<T: Serialize>(tag: &str, value: &T) -> String {
    // Serialising these plain structs cannot fail.
    format!("{tag} {}", serde_json::to_string(value).unwrap_or_default())
}

/// Everything [`parse_log`] found.
#[derive(Debug, Default)]
pub struct Log {
    /// The last meta line.
    pub meta: Option<Meta>,
    /// One record per (op, size, side), in the order first seen; a later
    /// line for the same key replaces the earlier one.
    pub records: Vec<Record>,
    /// The skip lines.
    pub skips: Vec<Skip>,
    /// The end line.
    pub end: Option<End>,
    /// What was odd: malformed lines, replaced records, samples that do not
    /// match the figures stated.
    pub warnings: Vec<String>,
}

/// Reads the `@@bench*` lines of a log; every other line is ignored.
///
/// A record that carries its samples gets its median, minimum, maximum and
/// count recomputed from them (a mismatch is a warning).
pub fn parse_log(text: &str) -> Log {
    let mut log = Log::default();
    let mut index: BTreeMap<(String, u64, String), usize> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        let Some((tag, json)) = line.split_once(|c: char| c.is_ascii_whitespace()) else {
            continue;
        };
        let json = json.trim();
        let lineno = n + 1;
        let bad = |log: &mut Log, e: serde_json::Error| {
            log.warnings.push(format!("line {lineno}: malformed {tag} line ({e})"));
        };
        match tag {
            RECORD_TAG => match serde_json::from_str::<Record>(json) {
                Ok(mut r) => {
                    match summarize(&r.samples_ns) {
                        Some(s) if s != r.summary() => {
                            log.warnings.push(format!(
                                "line {lineno}: {} {} {}: the stated figures {:?} do not match \
                                 the samples; using the samples",
                                r.op,
                                r.size,
                                r.side,
                                r.summary()
                            ));
                            (r.median_ns, r.min_ns, r.max_ns, r.reps) =
                                (s.median_ns, s.min_ns, s.max_ns, s.reps);
                        }
                        _ => {}
                    }
                    let key = (r.op.clone(), r.size, r.side.clone());
                    if let Some(&i) = index.get(&key) {
                        log.warnings.push(format!(
                            "line {lineno}: {} {} {} measured again; keeping the later figure",
                            r.op, r.size, r.side
                        ));
                        log.records[i] = r;
                    } else {
                        index.insert(key, log.records.len());
                        log.records.push(r);
                    }
                }
                Err(e) => bad(&mut log, e),
            },
            META_TAG => match serde_json::from_str::<Meta>(json) {
                Ok(m) => log.meta = Some(m),
                Err(e) => bad(&mut log, e),
            },
            SKIP_TAG => match serde_json::from_str::<Skip>(json) {
                Ok(s) => log.skips.push(s),
                Err(e) => bad(&mut log, e),
            },
            END_TAG => match serde_json::from_str::<End>(json) {
                Ok(e) => log.end = Some(e),
                Err(e) => bad(&mut log, e),
            },
            _ => {}
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
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
            arch: "x86_64".into(),
            cpu: CpuFeatures { clwb: true, clflushopt: false, line_size: 64, ctr_el0: None },
            page_size: 4096,
            policy,
            per_call_policy: Policy { max_reps: 200, ..policy },
            quick: false,
            clocksource: "tsc".into(),
            clock_step_ns: 30,
        }
    }

    #[test]
    fn lines_round_trip() {
        let r = Record::from_samples("COMMIT", 4096, "vmo", vec![30, 10, 20]).unwrap();
        assert_eq!((r.median_ns, r.min_ns, r.max_ns, r.reps), (20, 10, 30, 3));
        let skip = Skip {
            op: "CACHE_CLEAN".into(),
            side: "clwb".into(),
            size: None,
            reason: "no clwb".into(),
            error: false,
        };
        let end = End { elapsed_ms: 1234, errors: 0 };
        let text = [meta().to_line(), r.to_line(), skip.to_line(), end.to_line()].join("\n");
        assert!(text.starts_with("@@bench-meta {"));
        let log = parse_log(&text);
        assert_eq!(log.meta, Some(meta()));
        assert_eq!(log.records, vec![r]);
        assert_eq!(log.skips, vec![skip]);
        assert_eq!(log.end, Some(end));
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    }

    #[test]
    fn an_arm64_meta_round_trips_and_old_ones_are_x86_64() {
        let arm =
            Meta { arch: "aarch64".into(), cpu: CpuFeatures::from_ctr_el0(0x9444_c004), ..meta() };
        let line = arm.to_line();
        assert!(line.contains(r#""arch":"aarch64""#), "{line}");
        assert!(line.contains(r#""ctr_el0":2487533572"#), "{line}");
        assert_eq!(parse_log(&line).meta, Some(arm));
        // A meta line of an older guest program: no arch, no CTR_EL0.
        let old = r#"@@bench-meta {"mode":"tcg","kernel":"7.3.0","cpu":{"clwb":true,"clflushopt":false,"line_size":64},"page_size":4096,"policy":{"warmup":1,"min_reps":5,"max_reps":50,"budget_ms":200,"warmup_max_size":2097152},"per_call_policy":{"warmup":1,"min_reps":5,"max_reps":200,"budget_ms":200,"warmup_max_size":2097152},"quick":false,"clocksource":"tsc","clock_step_ns":30}"#;
        let log = parse_log(old);
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
        assert_eq!(log.meta, Some(meta()));
    }

    #[test]
    fn other_lines_are_ignored() {
        let text = "@@guest 7.3.0 mode=bench cpus=2\r\n\
            @@begin vmo-bench\r\n\
            some progress line @@bench {\"not\":\"at the start\"}\r\n\
            @@benchmark {}\n\
            \n\
            @@bench {\"op\":\"ZERO\",\"size\":65536,\"side\":\"madv_remove\",\"median_ns\":5,\"min_ns\":4,\"max_ns\":9,\"reps\":7}\r\n\
            @@end vmo-bench rc=0\n";
        let log = parse_log(text);
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
        assert_eq!(log.records.len(), 1);
        let r = &log.records[0];
        assert_eq!((r.op.as_str(), r.size, r.side.as_str()), ("ZERO", 65536, "madv_remove"));
        // No samples: the stated figures stand.
        assert_eq!(r.summary(), Summary { median_ns: 5, min_ns: 4, max_ns: 9, reps: 7 });
        assert!(log.meta.is_none() && log.end.is_none());
    }

    #[test]
    fn malformed_lines_warn_and_are_skipped() {
        let text = "@@bench {\"op\":\"COMMIT\"\n@@bench-meta not json\n@@bench-end {\"elapsed_ms\":1,\"errors\":0}";
        let log = parse_log(text);
        assert_eq!(log.records.len(), 0);
        assert_eq!(log.warnings.len(), 2);
        assert!(log.warnings[0].starts_with("line 1: malformed @@bench line"));
        assert!(log.warnings[1].starts_with("line 2: malformed @@bench-meta line"));
        assert_eq!(log.end, Some(End { elapsed_ms: 1, errors: 0 }));
    }

    #[test]
    fn samples_win_over_stated_figures() {
        let text = "@@bench {\"op\":\"COMMIT\",\"size\":4096,\"side\":\"vmo\",\"median_ns\":1,\"min_ns\":1,\"max_ns\":1,\"reps\":1,\"samples_ns\":[9,3,6,12]}";
        let log = parse_log(text);
        assert_eq!(log.warnings.len(), 1);
        assert_eq!(
            log.records[0].summary(),
            Summary { median_ns: 7, min_ns: 3, max_ns: 12, reps: 4 }
        );
    }

    #[test]
    fn a_repeated_figure_keeps_the_later_one_in_place() {
        let a = Record::from_samples("COMMIT", 4096, "vmo", vec![10]).unwrap();
        let b = Record::from_samples("COMMIT", 4096, "fallocate", vec![20]).unwrap();
        let a2 = Record::from_samples("COMMIT", 4096, "vmo", vec![15]).unwrap();
        let text = [a.to_line(), b.to_line(), a2.to_line()].join("\n");
        let log = parse_log(&text);
        assert_eq!(log.records, vec![a2, b]);
        assert_eq!(log.warnings.len(), 1);
    }
}
