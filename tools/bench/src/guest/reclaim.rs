//! The reclaim figure: a memory cgroup's proactive reclaim (`memory.reclaim`)
//! of unlocked discardable VMOs against the same of clean page cache.
//!
//! For the figure the benchmark moves itself into a memory cgroup of its own
//! (`memory.swap.max` 0, so that reclaim cannot swap the VMOs' shmem pages
//! out instead of discarding them) and back to the root cgroup after it;
//! what it allocates in between is charged to that cgroup. Each run makes
//! N MiB reclaimable (untimed): N discardable VMOs of 1 MiB, written, locked
//! and unlocked (the VMO side), or N MiB of a block device's page cache read
//! once (the native side: a zram device the figure adds and removes, written
//! and flushed beforehand, so the pages read are clean). The timed part is
//! the same on both sides: from the first write of N MiB to the cgroup's
//! `memory.reclaim` until its `memory.current` has dropped by N MiB (less
//! what the kernel may hold charged ahead, [`CHARGE_BATCH`] pages a CPU). A
//! second native side reads the page cache with read-ahead off, into
//! single-page folios as the VMOs' shmem pages are (read-ahead reads into
//! large folios, which reclaim frees a folio at a time).
//!
//! The two sides free their memory differently. The page cache is freed by
//! the reclaim itself, which returns once it has freed N MiB. The
//! `vmo-discard` shrinker only marks VMOs discarded and queues them: the
//! module's worker punches their files a moment later, so the reclaim gets
//! no credit for them, goes down to its last priority and retries, and
//! returns `EAGAIN` (taken as a normal end here); the memory is gone when
//! the worker has run, which is why the figure waits for `memory.current`
//! rather than for the write. The scan discards only what it is asked for
//! less what is still queued for punching, so one write may discard only a
//! part of N MiB: whenever usage stops dropping short of the goal (for
//! [`STALL`]), `memory.reclaim` is written again with what is left, as a
//! proactive-reclaim agent would, at most [`MAX_WRITES`] times; the records'
//! `requests` are the writes a run took.

use std::fs::File;
use std::io::ErrorKind;
use std::num::NonZeroU64;
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{Advice as FileAdvice, fadvise};
use vmo::{Vmo, VmoOptions};
use vmo_bench::catalog::*;
use vmo_bench::record::Policy;
use vmo_bench::units::{fmt_ns, fmt_size};

use super::Res;
use super::figures::{Bench, Figure, pwrite_all};

/// The cgroup v2 hierarchy (mounted by the guest's init).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The cgroup the figure runs in.
const CGROUP: &str = "/sys/fs/cgroup/vmo-bench-reclaim";
/// zram's control files: `hot_add` makes a device and returns its number.
const ZRAM_CONTROL: &str = "/sys/class/zram-control";
/// The pause between two reads of `memory.current` while the memory is not
/// gone yet: the CPU is left to the module's worker meanwhile.
const POLL: Duration = Duration::from_micros(50);
/// How long usage may stay put before `memory.reclaim` is written again: a
/// few times what the module's worker takes to punch a VMO of
/// [`RECLAIM_VMO_SIZE`] (about 0.5 ms in instruction counts).
const STALL: Duration = Duration::from_millis(2);
/// `memory.reclaim` writes a run may take before it fails.
const MAX_WRITES: u64 = 1000;
/// Pages a CPU may hold charged ahead (the kernel's `MEMCG_CHARGE_BATCH`):
/// `memory.current` counts them, so it is only exact to this many pages per
/// CPU, and a run is over once usage is within that of the goal.
const CHARGE_BATCH: u64 = 64;

/// Whether `side` of the reclaim figure can run here: `Err(reason)` if not.
pub fn available(side: &str) -> Result<(), String> {
    let controllers = std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
        .unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(format!("no cgroup v2 memory controller at {CGROUP_ROOT} (CONFIG_MEMCG)"));
    }
    if [PAGE_CACHE, PAGE_CACHE_4K].contains(&side)
        && !Path::new(ZRAM_CONTROL).join("hot_add").exists()
    {
        return Err(format!("no {ZRAM_CONTROL}/hot_add (CONFIG_ZRAM) for a block device"));
    }
    Ok(())
}

/// The figure's memory cgroup with the benchmark in it, until dropped (then
/// the benchmark is back in the root cgroup and the cgroup is removed).
struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    /// Makes the cgroup (no swap) and moves the benchmark into it.
    fn enter() -> Res<Cgroup> {
        let root = Path::new(CGROUP_ROOT);
        std::fs::write(root.join("cgroup.subtree_control"), "+memory")
            .map_err(|e| format!("enable the memory controller: {e}"))?;
        let dir = PathBuf::from(CGROUP);
        if dir.exists() {
            std::fs::remove_dir(&dir).map_err(|e| format!("remove a stale {CGROUP}: {e}"))?;
        }
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {CGROUP}: {e}"))?;
        let cg = Cgroup { dir };
        match std::fs::write(cg.dir.join("memory.swap.max"), "0") {
            // A kernel without swap has no swap files: nothing to forbid.
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(format!("memory.swap.max: {e}").into());
            }
            _ => {}
        }
        std::fs::write(cg.dir.join("cgroup.procs"), std::process::id().to_string())
            .map_err(|e| format!("move into {CGROUP}: {e}"))?;
        Ok(cg)
    }

    /// `memory.current`: the bytes charged to the cgroup.
    fn current(&self) -> Res<u64> {
        let text = std::fs::read_to_string(self.dir.join("memory.current"))?;
        Ok(text.trim().parse()?)
    }

    /// Writes `bytes` to `memory.reclaim`: `Ok(true)` if the kernel reclaimed
    /// them, `Ok(false)` if it gave up (`EAGAIN`: it did not see enough freed).
    fn reclaim(&self, bytes: u64) -> Res<bool> {
        match std::fs::write(self.dir.join("memory.reclaim"), bytes.to_string()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(format!("memory.reclaim {bytes}: {e}").into()),
        }
    }

    /// One timed run: writes `size` to `memory.reclaim` and waits until usage
    /// has dropped by `size` less `slack` from what it was at the start.
    fn reclaim_run(&self, size: u64, slack: u64) -> Res<Run> {
        let start_usage = self.current()?;
        let goal = start_usage.saturating_sub(size) + slack;
        let t = Instant::now();
        let mut run = Run { ns: 0, writes: 0, first_write_ns: 0, eagain: false };
        let mut usage = start_usage;
        loop {
            run.writes += 1;
            let done = self.reclaim((usage.saturating_sub(goal) + slack).min(size))?;
            if run.writes == 1 {
                run.first_write_ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                run.eagain = !done;
            }
            let mut since = Instant::now();
            loop {
                let now = self.current()?;
                if now <= goal {
                    run.ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    return Ok(run);
                }
                if now < usage {
                    since = Instant::now();
                } else if since.elapsed() >= STALL {
                    usage = usage.min(now);
                    break;
                }
                usage = usage.min(now);
                std::thread::sleep(POLL);
            }
            if run.writes >= MAX_WRITES {
                return Err(format!(
                    "{} writes of memory.reclaim freed {} of {size} bytes",
                    run.writes,
                    start_usage - usage
                )
                .into());
            }
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(
            Path::new(CGROUP_ROOT).join("cgroup.procs"),
            std::process::id().to_string(),
        );
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// One timed run of the figure.
struct Run {
    /// From the first write of `memory.reclaim` until the memory was gone.
    ns: u64,
    /// The writes of `memory.reclaim` it took.
    writes: u64,
    /// How long the first write took.
    first_write_ns: u64,
    /// Whether the first write failed with `EAGAIN`.
    eagain: bool,
}

/// A zram block device the figure adds (written and flushed, its page cache
/// dropped) and removes when dropped.
struct Zram {
    id: u32,
    file: Option<File>,
    size: u64,
}

impl Zram {
    /// A new device of `size` bytes, every byte written with the bench's
    /// pattern; none of its pages cached.
    fn new(b: &Bench, size: u64) -> Res<Zram> {
        let id: u32 =
            std::fs::read_to_string(Path::new(ZRAM_CONTROL).join("hot_add"))?.trim().parse()?;
        let mut z = Zram { id, file: None, size };
        std::fs::write(format!("/sys/block/zram{id}/disksize"), size.to_string())?;
        let path = format!("/dev/zram{id}");
        // devtmpfs makes the node a moment after the device appears.
        let start = Instant::now();
        let file = loop {
            match std::fs::OpenOptions::new().read(true).write(true).open(&path) {
                Ok(f) => break f,
                Err(e) if start.elapsed() > Duration::from_secs(2) => {
                    return Err(format!("open {path}: {e}").into());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        pwrite_all(file.as_fd(), b.pattern(), 0, size)?;
        file.sync_all()?;
        z.file = Some(file);
        z.uncache()?;
        Ok(z)
    }

    fn file(&self) -> Res<&File> {
        self.file.as_ref().ok_or_else(|| "the zram device is closed".into())
    }

    /// Drops the device's page cache (`POSIX_FADV_DONTNEED`; its pages are
    /// clean).
    fn uncache(&self) -> Res<()> {
        fadvise(self.file()?, 0, NonZeroU64::new(self.size), FileAdvice::DontNeed)?;
        Ok(())
    }

    /// Reads `[0, len)` through the page cache: `len` bytes of clean pages,
    /// charged to the reader's memory cgroup; in single-page folios if
    /// `small` (`POSIX_FADV_RANDOM`: no read-ahead, which reads into large
    /// folios).
    fn read_cached(&self, buf: &mut [u8], len: u64, small: bool) -> Res<()> {
        let f = self.file()?;
        let advice = if small { FileAdvice::Random } else { FileAdvice::Normal };
        fadvise(f, 0, None, advice)?;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            let r = rustix::io::pread(f, &mut buf[..n], done)?;
            if r == 0 {
                return Err("pread of the zram device read nothing".into());
            }
            done += r as u64;
        }
        Ok(())
    }
}

impl Drop for Zram {
    fn drop(&mut self) {
        drop(self.file.take());
        let _ = std::fs::write(format!("/sys/block/zram{}/reset", self.id), "1");
        let _ = std::fs::write(Path::new(ZRAM_CONTROL).join("hot_remove"), self.id.to_string());
    }
}

/// What a run of the figure reclaims.
enum Reclaimable {
    /// Unlocked discardable VMOs.
    Vmos(Vec<Vmo>),
    /// Clean page cache of the zram device (nothing to hold).
    PageCache,
}

/// The reclaim figure of `side` at `size`: the warm-up runs at
/// `policy.warmup_max_size` when `size` is larger, as the sweeps do.
pub fn measure(b: &Bench, side: &str, size: u64, policy: &Policy) -> Res<Figure> {
    available(side)?;
    let zram = if side == VMO { None } else { Some(Zram::new(b, size)?) };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    // (At most a quarter of the run, for a guest of many CPUs.)
    let slack = |len: u64| (CHARGE_BATCH * b.page() * cpus).min(len / 4);
    let mut buf = vec![0u8; 1 << 20];
    let cg = Cgroup::enter()?;
    let mut setup = |len: u64| -> Res<Reclaimable> {
        match (side, zram.as_ref()) {
            (VMO, _) => {
                let vmos = (0..len.div_ceil(RECLAIM_VMO_SIZE))
                    .map(|_| -> Res<Vmo> {
                        let v = Vmo::create(b.device(), RECLAIM_VMO_SIZE, VmoOptions::DISCARDABLE)?;
                        v.lock()?;
                        b.write_vmo(&v, 0, RECLAIM_VMO_SIZE)?;
                        v.unlock()?;
                        Ok(v)
                    })
                    .collect::<Res<Vec<Vmo>>>()?;
                Ok(Reclaimable::Vmos(vmos))
            }
            (PAGE_CACHE | PAGE_CACHE_4K, Some(z)) => {
                z.uncache()?;
                z.read_cached(&mut buf, len, side == PAGE_CACHE_4K)?;
                Ok(Reclaimable::PageCache)
            }
            _ => Err(format!("no reclaim figure for side {side}").into()),
        }
    };
    let mut run = |len: u64| -> Res<Run> {
        let held = setup(len)?;
        let r = cg.reclaim_run(len, slack(len));
        if let Reclaimable::Vmos(vmos) = &held {
            // Every VMO was discarded: TRY_LOCK says so.
            if let Some(kept) = vmos.iter().position(|v| v.try_lock().is_ok()) {
                return Err(format!("VMO {kept} of {} was not discarded", vmos.len()).into());
            }
        }
        drop(held);
        r
    };
    for _ in 0..policy.warmup {
        run(size.min(policy.warmup_max_size))?;
    }
    let budget = Duration::from_millis(policy.budget_ms);
    let start = Instant::now();
    let mut fig = Figure::default();
    let (mut first_writes, mut eagain) = (Vec::new(), 0);
    while fig.samples.len() < policy.max_reps as usize {
        let r = run(size)?;
        fig.samples.push(r.ns);
        fig.requests.push(r.writes);
        first_writes.push(r.first_write_ns);
        eagain += u32::from(r.eagain);
        if fig.samples.len() >= policy.min_reps as usize && start.elapsed() >= budget {
            break;
        }
    }
    drop(cg);
    drop(zram);
    // For the reader (not a record): how much of each run was the write itself.
    first_writes.sort_unstable();
    if let Some(&median) = first_writes.get(first_writes.len() / 2) {
        println!(
            "vmo-bench: RECLAIM {} {side}: the first memory.reclaim write took {} (median) and \
             failed with EAGAIN in {eagain} of {} runs",
            fmt_size(size),
            fmt_ns(median as f64),
            first_writes.len()
        );
    }
    Ok(fig)
}
