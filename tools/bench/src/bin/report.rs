//! `vmo-bench-report DIR`: reads the `@@bench*` lines of `DIR/user.log` (a
//! guest run of `vmo-bench`), writes `DIR/results.json`, `DIR/results.md` and
//! `DIR/plot.svg`, and prints `results.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vmo_bench::plot;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_path = cli.log.unwrap_or_else(|| cli.dir.join("user.log"));
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
    let report = Report::build(log);
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
