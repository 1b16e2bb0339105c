//! `vmo-bench-report DIR`: reads the `@@bench*` lines of `DIR/user.log` (a
//! guest run of `vmo-bench`), writes `DIR/results.json`, `DIR/results.md` and
//! `DIR/plot.svg`, and prints `results.md`.
//!
//! The ratios are compared with those of the previous run, read from
//! `DIR/results.prev.json` if it exists (tools/run.sh keeps the previous
//! run's `results.json` there) or from `--prev FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vmo_bench::plot;
use vmo_bench::previous::PrevRun;
use vmo_bench::record::parse_log;
use vmo_bench::report::Report;

#[derive(Parser)]
#[command(about = "Turn a vmo-bench guest log into results.json, results.md and plot.svg")]
struct Cli {
    /// The run's directory: holds user.log, receives the results.
    dir: PathBuf,
    /// Read this log instead of DIR/user.log.
    #[arg(long)]
    log: Option<PathBuf>,
    /// The previous run's results.json, to compare the ratios with (default:
    /// DIR/results.prev.json, if it exists).
    #[arg(long)]
    prev: Option<PathBuf>,
    /// Compare with no previous run.
    #[arg(long, conflicts_with = "prev")]
    no_prev: bool,
}

/// The previous run, if there is one to compare with: a named file must
/// read; a missing or unreadable default one is no previous run (a warning
/// for the unreadable).
fn previous(cli: &Cli) -> Result<Option<PrevRun>, String> {
    if cli.no_prev {
        return Ok(None);
    }
    let (path, named) = match &cli.prev {
        Some(p) => (p.clone(), true),
        None => (cli.dir.join("results.prev.json"), false),
    };
    if !named && !path.exists() {
        return Ok(None);
    }
    let read = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| PrevRun::from_json(&text));
    match read {
        Ok(prev) => Ok(Some(prev)),
        Err(e) if named => Err(format!("{}: {e}", path.display())),
        Err(e) => {
            eprintln!("vmo-bench-report: warning: {}: {e}; not compared", path.display());
            Ok(None)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_path = cli.log.clone().unwrap_or_else(|| cli.dir.join("user.log"));
    let text = match std::fs::read(&log_path) {
        // The serial log may hold stray bytes; the marker lines are ASCII.
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            eprintln!("vmo-bench-report: {}: {e}", log_path.display());
            return ExitCode::FAILURE;
        }
    };
    let log = parse_log(&text);
    if log.records.is_empty() {
        eprintln!("vmo-bench-report: no @@bench records in {}", log_path.display());
        return ExitCode::FAILURE;
    }
    for w in &log.warnings {
        eprintln!("vmo-bench-report: warning: {w}");
    }
    let prev = match previous(&cli) {
        Ok(prev) => prev,
        Err(e) => {
            eprintln!("vmo-bench-report: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut report = Report::build(log);
    report.compare_with(prev.as_ref());
    let md = report.to_markdown();
    for (name, text) in [("results.json", report.to_json()), ("results.md", md.clone())] {
        let path = cli.dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("vmo-bench-report: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = plot::write_svg(&report, &cli.dir.join("plot.svg")) {
        eprintln!("vmo-bench-report: plot.svg: {e}");
        return ExitCode::FAILURE;
    }
    print!("{md}");
    ExitCode::SUCCESS
}
