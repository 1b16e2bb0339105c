//! `vmo-fuzz`: a model-checked fuzzer for `/dev/vmo`, run in the guest.
//!
//! Worker threads share one `Device` and make random but structured calls
//! of every ioctl (and unknown ioctl numbers), mapping episodes (EXPORT,
//! IMPORT, mmap of the fd and the mm calls on the mapping and the fd,
//! `mapping.rs`) and pager episodes (the pager ioctls, `pager_episode.rs`),
//! with valid and invalid handles,
//! edge offsets and sizes, bad argument and buffer pointers, closes and
//! duplicates interleaved. Each call's status is checked against a model of
//! what the worker made (`model.rs`); outputs are checked too (new handle
//! values, sizes, `GET_INFO`, the bytes a READ returns). A second process
//! (this program again, with [`SECOND_ENV`] set) fuzzes its own `Device` at
//! the same time.
//!
//! Reproducing: the seed is printed at the start. `--threads 1` replays
//! exactly (the choices depend only on the seed and the results, which are
//! deterministic for one thread); `--iterations N` stops at the same call.
//!
//! Output: mismatch reports (`MISMATCH ...`), the list of combinations
//! reached (`combo IOCTL OP STATUS COUNT`), and the summary line
//! `fuzz: seed=S iterations=N combos=K mismatches=M`. The exit status is 1
//! if anything mismatched.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod model;
mod pool;
mod raw;
mod report;
mod rng;
mod worker;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use vmo::Device;

use crate::report::{Stats, combo_text, parse_combo};
use crate::rng::splitmix64;
use crate::worker::{Config, Worker};

/// Set in the second process's environment.
const SECOND_ENV: &str = "VMO_FUZZ_SECOND_PROCESS";

#[derive(Parser)]
#[command(version, about = "Model-checked ioctl fuzzer for /dev/vmo")]
struct Cli {
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The seed (default: from the clock); printed at the start.
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads sharing one Device (1: exactly reproducible, and no
    /// shared handles).
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Run a second process (this program again, its own Device) alongside.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    second_process: bool,
    /// Stop each worker after this many calls.
    #[arg(long)]
    iterations: Option<u64>,
    /// Print every call and its result.
    #[arg(long)]
    trace: bool,
    /// Skip worker 0's table-full episode (a table filled to
    /// VMO_MAX_HANDLES, then every call that adds a handle: NO_RESOURCES).
    #[arg(long)]
    no_table_full: bool,
    /// The device.
    #[arg(long, default_value = Device::DEFAULT_PATH)]
    device: PathBuf,
}

/// Worker `i`'s seed.
fn worker_seed(seed: u64, i: usize) -> u64 {
    let mut s = seed ^ (i as u64).wrapping_mul(0xd1b5_4a32_d192_ed03);
    splitmix64(&mut s)
}

/// What the second process reported.
struct Second {
    stats: Stats,
    ok: bool,
    seed: u64,
}

fn spawn_second(cli: &Cli, seed: u64) -> std::io::Result<std::process::Child> {
    let threads = (cli.threads / 2).max(1);
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["--seconds", &cli.seconds.to_string(), "--seed", &seed.to_string()])
        .args(["--threads", &threads.to_string(), "--second-process", "false"])
        .arg("--device")
        .arg(&cli.device)
        .env(SECOND_ENV, "1")
        .stdout(Stdio::piped());
    if let Some(n) = cli.iterations {
        cmd.args(["--iterations", &n.to_string()]);
    }
    cmd.spawn()
}

/// Reads the second process's report: its mismatch lines, combos and
/// summary line.
fn collect_second(mut child: std::process::Child, seed: u64) -> Second {
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    let status = child.wait();
    let mut stats = Stats::default();
    let mut summary = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("MISMATCH") {
            stats.reports.push(format!("second process: {line}"));
        } else if words.first() == Some(&"combo") && words.len() == 5 {
            if let (Some(c), Ok(n)) = (parse_combo(&words[1..4]), words[4].parse()) {
                stats.combos.insert(c, n);
            }
        } else if let Some(rest) = line.strip_prefix("fuzz: seed=") {
            for kv in rest.split_whitespace() {
                if let Some(v) = kv.strip_prefix("iterations=") {
                    stats.iterations = v.parse().unwrap_or(0);
                    summary = true;
                } else if let Some(v) = kv.strip_prefix("mismatches=") {
                    stats.mismatches = v.parse().unwrap_or(1);
                }
            }
        }
    }
    let ok = summary && status.is_ok();
    if !ok {
        println!(
            "fuzz: the second process did not finish its run ({status:?}); its output:\n{text}"
        );
    }
    Second { stats, ok, seed }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let second_role = std::env::var_os(SECOND_ENV).is_some();
    let seed = cli.seed.unwrap_or_else(|| {
        let t =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut s = t.as_nanos() as u64 ^ u64::from(std::process::id()) << 32;
        splitmix64(&mut s)
    });
    let _ = worker::DEV_PATH.set(cli.device.clone());
    println!(
        "fuzz: seed={seed} threads={} seconds={}{}",
        cli.threads.max(1),
        cli.seconds,
        if second_role { " (second process)" } else { "" }
    );
    let dev = match Device::open_path(&cli.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fuzz: cannot open {}: {e}", cli.device.display());
            return ExitCode::from(2);
        }
    };
    // The second process first: spawning maps and unmaps memory, and the
    // arenas' holes must not be refilled (see raw.rs).
    let mut second_seed = seed ^ 0x5ec0_9d00_0000_0000;
    let second_seed = splitmix64(&mut second_seed);
    let second = if cli.second_process && !second_role {
        match spawn_second(&cli, second_seed) {
            Ok(c) => {
                println!("fuzz: second process pid={} seed={second_seed}", c.id());
                Some(c)
            }
            Err(e) => {
                eprintln!("fuzz: cannot start the second process: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let threads = cli.threads.max(1);
    let pool = if threads > 1 {
        match pool::Pool::new(&dev) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                eprintln!("fuzz: shared pool: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let mut workers = Vec::new();
    for i in 0..threads {
        let cfg = Config {
            id: i,
            seed: worker_seed(seed, i),
            run_seed: seed,
            trace: cli.trace,
            table_full: i == 0 && !cli.no_table_full && !second_role,
        };
        match Worker::new(cfg, dev.clone(), pool.clone()) {
            Ok(w) => workers.push(w),
            Err(e) => {
                eprintln!("fuzz: worker {i}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(cli.seconds);
    let iterations = cli.iterations;
    let results: Vec<Stats> = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|mut w| {
                s.spawn(move || {
                    w.run(deadline, iterations);
                    w.stats
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let elapsed = start.elapsed();
    drop(pool);
    let mut total = Stats::default();
    for (i, st) in results.into_iter().enumerate() {
        println!("fuzz: worker {i}: iterations={} mismatches={}", st.iterations, st.mismatches);
        total.merge(st);
    }
    let mut second_ok = true;
    if let Some(child) = second {
        let s = collect_second(child, second_seed);
        println!(
            "fuzz: second process (seed={}): iterations={} mismatches={}",
            s.seed, s.stats.iterations, s.stats.mismatches
        );
        for r in &s.stats.reports {
            println!("{r}");
        }
        second_ok = s.ok;
        total.merge(s.stats);
    }
    for (c, n) in &total.combos {
        println!("combo {} {n}", combo_text(c));
    }
    println!(
        "fuzz: {:.1} s, {:.0} calls/s",
        elapsed.as_secs_f64(),
        total.iterations as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!(
        "fuzz: seed={seed} iterations={} combos={} mismatches={}",
        total.iterations,
        total.combos.len(),
        total.mismatches
    );
    if total.mismatches == 0 && second_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
