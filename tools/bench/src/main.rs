//! `vmo-bench`: runs in the QEMU guest and times the VMO ops of `/dev/vmo`
//! against their native Linux counterparts.
//!
//! A full run prints one `@@bench {json}` line per (op, size, side), with a
//! `@@bench-meta` line first and a `@@bench-end` line last, plus a readable
//! progress line per figure; `vmo-bench-report` turns the lines into tables
//! and a plot on the host. After the ops it runs Fuchsia's own VMO
//! microbenchmarks under their Fuchsia names (`catalog::fuchsia`), one record
//! per step. `--quick` measures COMMIT, DECOMMIT and ZERO at 4 KiB, 64 KiB
//! and 2 MiB and two Fuchsia cases at 4 KiB, and prints small tables
//! instead.
//!
//! Exit status: 0 when every figure was taken (a baseline the CPU cannot run
//! is skipped, not failed), 1 otherwise.

mod guest;

use std::env::consts::ARCH;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use vmo::Device;
use vmo_bench::catalog::fuchsia::{self, Case};
use vmo_bench::catalog::{self, OpInfo, OpKind, VMO};
use vmo_bench::record::{End, Meta, Policy, Record, Skip};
use vmo_bench::sysinfo::CpuFeatures;
use vmo_bench::units::{fmt_ns, fmt_size, fmt_spread};

use guest::figures::Bench;

#[derive(Parser)]
#[command(about = "Time /dev/vmo ops against native Linux (run inside the guest)")]
struct Cli {
    /// How the guest runs (kvm, tcg or icount); recorded for the report.
    #[arg(long, default_value = "unknown")]
    mode: String,
    /// Only COMMIT, DECOMMIT and ZERO at 4 KiB, 64 KiB and 2 MiB, and
    /// Vmo/Clone and Vmo/CreateWriteReadClose at 4 KiB, printed as tables
    /// (no @@bench lines).
    #[arg(long)]
    quick: bool,
    /// Only these ops and Fuchsia cases (comma-separated names, e.g.
    /// COMMIT,ZERO,Vmo/Clone; `fuchsia` for every Fuchsia case).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Leave out sizes above this many bytes.
    #[arg(long)]
    max_size: Option<u64>,
    /// The device to open.
    #[arg(long, default_value = Device::DEFAULT_PATH)]
    device: PathBuf,
}

/// Repetitions of the size sweeps.
const POLICY: Policy =
    Policy { warmup: 1, min_reps: 5, max_reps: 50, budget_ms: 200, warmup_max_size: 2 << 20 };
/// Repetitions of the per-call figure (cheap, so many more).
const PER_CALL_POLICY: Policy =
    Policy { warmup: 5, min_reps: 5, max_reps: 500, budget_ms: 200, warmup_max_size: u64::MAX };
/// Repetitions of `--quick`.
const QUICK_POLICY: Policy =
    Policy { warmup: 2, min_reps: 15, max_reps: 40, budget_ms: 150, warmup_max_size: 2 << 20 };

/// The `--only` name of every Fuchsia case.
const FUCHSIA: &str = "fuchsia";

/// Where the kernel names its clocksource.
const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// The smallest step the monotonic clock makes (over a few tries; at most
/// about 100 ms of waiting on a jiffies clock).
fn clock_step_ns() -> u64 {
    let mut step = u64::MAX;
    let probe = Instant::now();
    for _ in 0..20 {
        let t0 = Instant::now();
        let mut t1 = Instant::now();
        while t1 == t0 {
            t1 = Instant::now();
        }
        step = step.min(u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX));
        if probe.elapsed().as_millis() > 100 {
            break;
        }
    }
    step
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let start = Instant::now();
    let dev = match Device::open_path(&cli.device) {
        Ok(d) => d,
        Err(e) => {
            println!("vmo-bench: {}: {e}", cli.device.display());
            return ExitCode::FAILURE;
        }
    };
    // aarch64 reads its line size from CTR_EL0; x86-64 from /proc/cpuinfo.
    let cpu = guest::sys::ctr_el0().map_or_else(
        || CpuFeatures::from_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
        CpuFeatures::from_ctr_el0,
    );
    let policy = if cli.quick { QUICK_POLICY } else { POLICY };
    let meta = Meta {
        mode: cli.mode.clone(),
        kernel: rustix::system::uname().release().to_string_lossy().into_owned(),
        arch: ARCH.to_owned(),
        cpu,
        page_size: u64::from(vmo::system_get_page_size()),
        policy,
        per_call_policy: PER_CALL_POLICY,
        quick: cli.quick,
        clocksource: std::fs::read_to_string(CLOCKSOURCE).unwrap_or_default().trim().to_owned(),
        clock_step_ns: clock_step_ns(),
    };
    let bench = Bench::new(dev, cpu);
    let asked = |name: &str| cli.only.iter().any(|n| n.eq_ignore_ascii_case(name));
    let ops: Vec<&OpInfo> = catalog::OPS
        .iter()
        .filter(|o| !cli.quick || o.quick)
        .filter(|o| cli.only.is_empty() || asked(o.name))
        .collect();
    let cases: Vec<&Case> = fuchsia::CASES
        .iter()
        .filter(|c| !cli.quick || c.quick)
        .filter(|c| cli.only.is_empty() || asked(c.name) || asked(FUCHSIA))
        .collect();
    for name in &cli.only {
        let known_case = fuchsia::CASES.iter().any(|c| c.name.eq_ignore_ascii_case(name));
        if catalog::op_info(&name.to_ascii_uppercase()).is_none()
            && !known_case
            && !name.eq_ignore_ascii_case(FUCHSIA)
        {
            let known: Vec<&str> = catalog::OPS.iter().map(|o| o.name).collect();
            println!(
                "vmo-bench: --only {name}: no such op or Fuchsia case (ops: {}; `{FUCHSIA}` or a \
                 case of vmo.cc, e.g. Vmo/Clone)",
                known.join(", ")
            );
            return ExitCode::FAILURE;
        }
    }
    let sizes: &[u64] = if cli.quick { &catalog::QUICK_SIZES } else { &catalog::SIZES };
    let sizes: Vec<u64> =
        sizes.iter().copied().filter(|s| cli.max_size.is_none_or(|m| *s <= m)).collect();

    if !cli.quick {
        println!("{}", meta.to_line());
    }
    let mut records = Vec::new();
    let mut errors = 0u32;
    for op in &ops {
        let sides: Vec<&str> =
            std::iter::once(VMO).chain(op.natives_on(ARCH).map(|n| n.side)).collect();
        for side in &sides {
            if let Err(reason) = bench.available(side) {
                let skip = Skip {
                    op: op.name.into(),
                    side: (*side).into(),
                    size: None,
                    reason,
                    error: false,
                };
                if !cli.quick {
                    println!("{}", skip.to_line());
                }
                println!("vmo-bench: {} {side}: skipped: {}", op.name, skip.reason);
            }
        }
        let (op_sizes, p) = match op.kind {
            OpKind::Sweep => (sizes.clone(), policy),
            OpKind::PerCall => (vec![0], PER_CALL_POLICY),
            OpKind::Sparse => (vec![catalog::SPARSE_PAGES * bench.page()], policy),
            OpKind::PerFault | OpKind::CopyFault | OpKind::PerPage => {
                (vec![catalog::FAULT_PAGES * bench.page()], policy)
            }
            OpKind::SizeFree => (sizes.clone(), policy),
            OpKind::PageIn => {
                let pager_sizes = catalog::PAGER_SIZES.iter().copied();
                (pager_sizes.filter(|s| cli.max_size.is_none_or(|m| *s <= m)).collect(), policy)
            }
            OpKind::PagerFault => (vec![catalog::FAULT_PAGES * bench.page()], policy),
            OpKind::Threads => (vec![catalog::THREAD_READ_SIZE], policy),
            OpKind::Reclaim => {
                let reclaim_sizes = catalog::RECLAIM_SIZES.iter().copied();
                (reclaim_sizes.filter(|s| cli.max_size.is_none_or(|m| *s <= m)).collect(), policy)
            }
            OpKind::Refault => {
                let refault_sizes = catalog::REFAULT_SIZES.iter().copied();
                (refault_sizes.filter(|s| cli.max_size.is_none_or(|m| *s <= m)).collect(), policy)
            }
        };
        for &size in &op_sizes {
            for side in sides.iter().filter(|s| bench.available(s).is_ok()) {
                let figure_start = Instant::now();
                let result = bench.figure(op.name, side, size, &p);
                let figure_s = figure_start.elapsed().as_secs_f64();
                match result {
                    Ok(fig) => {
                        let Some(mut r) = Record::from_samples(op.name, size, side, fig.samples)
                        else {
                            continue;
                        };
                        r.requests = fig.requests;
                        if !cli.quick {
                            println!("{}", r.to_line());
                            let requests = r
                                .median_requests()
                                .map_or_else(String::new, |n| format!(" {n} requests"));
                            println!(
                                "vmo-bench: {:<22} {:>8} {:<19} {:>26} x{:<3} ({figure_s:.1} \
                                 s){requests}",
                                op.name,
                                fmt_size(size),
                                side,
                                fmt_spread(r.median_ns, r.min_ns, r.max_ns),
                                r.reps
                            );
                        }
                        records.push(r);
                    }
                    Err(e) => {
                        errors += 1;
                        report_error(cli.quick, op.name, side, size, &e.to_string());
                    }
                }
            }
        }
    }
    for case in &cases {
        let sides: Vec<&str> =
            std::iter::once(VMO).chain(case.natives_on(ARCH).map(|n| n.side)).collect();
        let case_sizes =
            if cli.quick { fuchsia::QUICK_SIZES.to_vec() } else { case.sizes(bench.page()) };
        for size in case_sizes.into_iter().filter(|s| cli.max_size.is_none_or(|m| *s <= m)) {
            for side in &sides {
                let figure_start = Instant::now();
                let result = guest::fuchsia::measure(&bench, case, side, size, &policy);
                let figure_s = figure_start.elapsed().as_secs_f64();
                let figures = match result {
                    Ok(f) => f,
                    Err(e) => {
                        errors += 1;
                        report_error(cli.quick, &case.test_name(size), side, size, &e.to_string());
                        continue;
                    }
                };
                for (step, samples) in case.step_names().into_iter().zip(figures) {
                    let name = case.result_name(size, step);
                    let Some(r) = samples.and_then(|s| Record::from_samples(&name, size, side, s))
                    else {
                        continue;
                    };
                    if !cli.quick {
                        println!("{}", r.to_line());
                        println!(
                            "vmo-bench: {name:<50} {side:<11} {:>26} x{:<3} ({figure_s:.1} s)",
                            fmt_spread(r.median_ns, r.min_ns, r.max_ns),
                            r.reps
                        );
                    }
                    records.push(r);
                }
            }
        }
    }
    let elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    if cli.quick {
        print_quick_table(&meta, &ops, &records, elapsed_ms);
        print_quick_fuchsia(&meta, &cases, &records);
    } else {
        println!("{}", End { elapsed_ms, errors }.to_line());
        println!("vmo-bench: done in {:.1} s, {errors} error(s)", elapsed_ms as f64 / 1000.0);
    }
    if errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The `--quick` table: one line per (op, size, baseline).
fn print_quick_table(meta: &Meta, ops: &[&OpInfo], records: &[Record], elapsed_ms: u64) {
    let find = |op: &str, size: u64, side: &str| {
        records.iter().find(|r| r.op == op && r.size == size && r.side == side)
    };
    let p = &meta.policy;
    println!(
        "vmo-bench --quick (guest mode {}, kernel {} on {}): fastest of {}-{} runs, each on a \
         fresh object",
        meta.mode, meta.kernel, meta.arch, p.min_reps, p.max_reps
    );
    if meta.clock_step_ns > vmo_bench::report::COARSE_CLOCK_NS {
        println!(
            "warning: the guest clock ({}) moves in steps of {}: short figures read as 0",
            meta.clocksource,
            fmt_ns(meta.clock_step_ns as f64)
        );
    }
    println!(
        "{:<9} {:>8} {:>11}  {:<20} {:>11} {:>7}",
        "op", "size", "VMO", "native", "native", "ratio"
    );
    let mut sizes: Vec<u64> = records.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for op in ops {
        for &size in &sizes {
            let vmo = find(op.name, size, VMO);
            for (i, side) in op.natives_on(&meta.arch).map(|n| n.side).enumerate() {
                let native = find(op.name, size, side);
                let (op_col, size_col, vmo_col) = if i == 0 {
                    let v = vmo.map_or_else(|| "-".to_owned(), |r| fmt_ns(r.min_ns as f64));
                    (op.name, fmt_size(size), v)
                } else {
                    ("", String::new(), String::new())
                };
                let nat = native.map_or_else(|| "-".to_owned(), |r| fmt_ns(r.min_ns as f64));
                let ratio = match (vmo, native) {
                    (Some(v), Some(n)) if n.min_ns > 0 => {
                        format!("{:.2}", v.min_ns as f64 / n.min_ns as f64)
                    }
                    _ => "-".to_owned(),
                };
                println!(
                    "{op_col:<9} {size_col:>8} {vmo_col:>11}  {side:<20} {nat:>11} {ratio:>7}"
                );
            }
        }
    }
    println!(
        "(took {:.1} s; ratio = the VMO's fastest run / the native call's fastest run: the \
         runs least disturbed by the emulator and the host, so ~1.00 is parity and a ratio \
         is a cost, not noise; `make bench` has the full tables, `BENCH_ICOUNT=1` \
         instruction counts)\n{}",
        elapsed_ms as f64 / 1000.0,
        vmo_bench::report::mode_note(&meta.mode)
    );
}

/// The `--quick` table of the Fuchsia cases: one line per (result name,
/// baseline), under Fuchsia's names.
fn print_quick_fuchsia(meta: &Meta, cases: &[&Case], records: &[Record]) {
    if cases.is_empty() {
        return;
    }
    let find = |op: &str, side: &str| records.iter().find(|r| r.op == op && r.side == side);
    println!(
        "Fuchsia's microbenchmarks (src/tests/microbenchmarks/vmo.cc), per step, fastest runs:"
    );
    println!("{:<40} {:>11}  {:<11} {:>11} {:>7}", "case", "VMO", "native", "native", "ratio");
    for case in cases {
        for &size in &fuchsia::QUICK_SIZES {
            for step in case.step_names() {
                let name = case.result_name(size, step);
                let vmo = find(&name, VMO);
                for (i, side) in case.natives_on(&meta.arch).map(|n| n.side).enumerate() {
                    let native = find(&name, side);
                    let (name_col, vmo_col) = if i == 0 {
                        let v = vmo.map_or_else(|| "-".to_owned(), |r| fmt_ns(r.min_ns as f64));
                        (name.as_str(), v)
                    } else {
                        ("", String::new())
                    };
                    let nat = native.map_or_else(|| "-".to_owned(), |r| fmt_ns(r.min_ns as f64));
                    let ratio = match (vmo, native) {
                        (Some(v), Some(n)) if n.min_ns > 0 => {
                            format!("{:.2}", v.min_ns as f64 / n.min_ns as f64)
                        }
                        _ => "-".to_owned(),
                    };
                    println!("{name_col:<40} {vmo_col:>11}  {side:<11} {nat:>11} {ratio:>7}");
                }
            }
        }
    }
}

/// A figure that failed: its error line for the report (not in `--quick` mode) and a line for
/// the reader.
fn report_error(quick: bool, op: &str, side: &str, size: u64, reason: &str) {
    let skip = Skip {
        op: op.into(),
        side: side.into(),
        size: Some(size),
        reason: reason.into(),
        error: true,
    };
    if !quick {
        println!("{}", skip.to_line());
    }
    println!("vmo-bench: {op} {} {side}: error: {reason}", fmt_size(size));
}
