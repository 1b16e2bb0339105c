//! How each figure is taken: the set-up of a fresh object and the one timed
//! operation, for every (op, side) of the catalog.

use std::os::fd::AsFd as _;
use std::time::{Duration, Instant};

use rustix::fs::FallocateFlags;
use rustix::fs::fallocate;
use rustix::mm::Advice;
use vmo::sys::{MapFlags, ProtFlags};
use vmo::{Device, Mapping as VmoMapping, Vmo, VmoChildOptions, VmoOptions};
use vmo_bench::catalog::*;
use vmo_bench::record::Policy;
use vmo_bench::sysinfo::CpuFeatures;

use super::Res;
use super::sys::{LineInstr, Mapping, memfd};

/// Takes the samples of one figure: `policy.warmup` untimed runs, then timed
/// ones until `policy` says stop. Each run gets a fresh object from `setup`
/// (untimed) and drops it right after `op` (untimed), so a 256 MiB object is
/// freed before the next is made.
pub fn run_series<S>(
    policy: &Policy,
    mut setup: impl FnMut() -> Res<S>,
    mut op: impl FnMut(&mut S) -> Res<()>,
) -> Res<Vec<u64>> {
    for _ in 0..policy.warmup {
        let mut obj = setup()?;
        op(&mut obj)?;
    }
    let budget = Duration::from_millis(policy.budget_ms);
    let start = Instant::now();
    let mut samples = Vec::with_capacity(policy.max_reps as usize);
    while samples.len() < policy.max_reps as usize {
        let mut obj = setup()?;
        let t = Instant::now();
        let r = op(&mut obj);
        let elapsed = t.elapsed();
        r?;
        drop(obj);
        samples.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        if samples.len() >= policy.min_reps as usize && start.elapsed() >= budget {
            break;
        }
    }
    Ok(samples)
}

/// An ioctl number that neither `/dev/vmo` nor `/dev/null` knows (argument-less, in the module's
/// 'Z' range, as the guest test `abi::unknown_ioctl_is_enotty` uses): `ENOTTY` is the answer
/// expected, anything else an error.
fn unknown_ioctl(fd: &impl std::os::fd::AsFd) -> Res<()> {
    use rustix::ioctl::{NoArg, ioctl, opcode};
    // SAFETY: an argument-less ioctl: no memory is passed.
    match unsafe { ioctl(fd, NoArg::<{ opcode::none(b'Z', 0x9f) }>::new()) } {
        Err(rustix::io::Errno::NOTTY) => Ok(()),
        r => Err(format!("an unknown ioctl gave {r:?}, not ENOTTY").into()),
    }
}

/// The step boundaries of one timed run (Fuchsia's `NextStep`): the run
/// starts the first step, each [`lap`](Laps::lap) ends one and starts the
/// next, and the end of the run ends the last.
pub struct Laps {
    marks: Vec<Instant>,
}

impl Laps {
    /// A run of `steps` steps, starting now. The marks are allocated here,
    /// so a lap allocates nothing.
    fn start(steps: usize) -> Laps {
        let mut marks = Vec::with_capacity(steps + 1);
        marks.push(Instant::now());
        Laps { marks }
    }

    /// Ends the current step and starts the next.
    pub fn lap(&mut self) {
        self.marks.push(Instant::now());
    }

    /// The steps' times, in ns; `Err` unless there were exactly `steps`.
    fn times(&self, steps: usize) -> Res<Vec<u64>> {
        if self.marks.len() != steps + 1 {
            return Err(format!("{} step(s) timed, {steps} declared", self.marks.len() - 1).into());
        }
        Ok(self
            .marks
            .windows(2)
            .map(|w| u64::try_from((w[1] - w[0]).as_nanos()).unwrap_or(u64::MAX))
            .collect())
    }
}

/// [`run_series`] for a run of `steps` steps (the Fuchsia cases): each run
/// gets a fresh object from `setup` (untimed), `op` runs on it, calling
/// [`Laps::lap`] between steps, and the object is dropped after the run
/// (untimed); what `op` makes and drops itself is timed. Returns one series
/// of samples per step.
pub fn run_steps<S>(
    policy: &Policy,
    steps: usize,
    mut setup: impl FnMut() -> Res<S>,
    mut op: impl FnMut(&mut S, &mut Laps) -> Res<()>,
) -> Res<Vec<Vec<u64>>> {
    let mut run = || -> Res<Vec<u64>> {
        let mut obj = setup()?;
        let mut laps = Laps::start(steps);
        let r = op(&mut obj, &mut laps);
        laps.lap();
        r?;
        drop(obj);
        laps.times(steps)
    };
    for _ in 0..policy.warmup {
        run()?;
    }
    let budget = Duration::from_millis(policy.budget_ms);
    let start = Instant::now();
    let mut series = vec![Vec::with_capacity(policy.max_reps as usize); steps];
    let mut reps = 0usize;
    while reps < policy.max_reps as usize {
        for (s, t) in series.iter_mut().zip(run()?) {
            s.push(t);
        }
        reps += 1;
        if reps >= policy.min_reps as usize && start.elapsed() >= budget {
            break;
        }
    }
    Ok(series)
}

/// The samples of a figure and, for the pager figures, the requests each
/// timed run was served with (in the same order; empty for the others).
#[derive(Debug, Default)]
pub struct Figure {
    /// The timed samples, in ns.
    pub samples: Vec<u64>,
    /// Requests per timed run (pager figures only).
    pub requests: Vec<u64>,
}

/// What the figures share: the device, sizes and buffers.
pub struct Bench {
    dev: Device,
    page: u64,
    cpu: CpuFeatures,
    /// Written into objects to make every byte dirty.
    pattern: Vec<u8>,
    /// The source of the `pwrite` baseline.
    zeros: Vec<u8>,
}

/// Chunk of the buffers: writes of larger ranges loop over it.
const CHUNK: usize = 1 << 20;

impl Bench {
    /// Everything a run needs.
    pub fn new(dev: Device, cpu: CpuFeatures) -> Bench {
        let pattern: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8 | 1).collect();
        // Written, not just allocated: a never-touched zero buffer would be
        // the shared zero page, an unfairly cache-friendly source.
        let mut zeros = vec![1u8; CHUNK];
        zeros.fill(0);
        let zeros = std::hint::black_box(zeros);
        Bench { dev, page: u64::from(vmo::system_get_page_size()), cpu, pattern, zeros }
    }

    /// The page size.
    pub fn page(&self) -> u64 {
        self.page
    }

    /// The device the VMOs are made on.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The bytes written into objects to make every byte dirty ([`CHUNK`]
    /// of them).
    pub fn pattern(&self) -> &[u8] {
        &self.pattern
    }

    /// Whether the CPU has what `side` needs; `Err(reason)` if not.
    ///
    /// `dc cvac` and `dc civac` need no check: every arm64 CPU has them,
    /// and Linux lets EL0 run them (the aarch64 loop in `sys.rs` says how).
    pub fn available(&self, side: &str) -> Result<(), String> {
        let arch = std::env::consts::ARCH;
        match side {
            CLWB | CLFLUSHOPT if arch != X86_64 => Err(format!("{side} is x86-64 only")),
            DC_CVAC | DC_CIVAC if arch != AARCH64 => {
                Err(format!("{} is aarch64 only", side.replace('_', " ")))
            }
            CLWB if !self.cpu.clwb => Err("the CPU has no clwb (/proc/cpuinfo flags)".into()),
            CLFLUSHOPT if !self.cpu.clflushopt => {
                Err("the CPU has no clflushopt (/proc/cpuinfo flags)".into())
            }
            UFFD_COPY | UFFD_CONTINUE => super::pagein::available(side),
            PAGE_CACHE | PAGE_CACHE_4K => super::reclaim::available(side),
            _ => Ok(()),
        }
    }

    fn vmo(&self, size: u64) -> Res<Vmo> {
        Ok(Vmo::create(&self.dev, size, VmoOptions::empty())?)
    }

    fn vmo_committed(&self, size: u64) -> Res<Vmo> {
        let v = self.vmo(size)?;
        v.commit(0, size)?;
        Ok(v)
    }

    /// A VMO with every byte of `[off, off + len)` written.
    pub fn write_vmo(&self, v: &Vmo, off: u64, len: u64) -> Res<()> {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            v.write(&self.pattern[..n], off + done)?;
            done += n as u64;
        }
        Ok(())
    }

    fn vmo_written(&self, size: u64) -> Res<Vmo> {
        let v = self.vmo(size)?;
        self.write_vmo(&v, 0, size)?;
        Ok(v)
    }

    /// A memfd with `[0, size)` allocated (the state COMMIT leaves a VMO in).
    fn memfd_allocated(size: u64) -> Res<std::os::fd::OwnedFd> {
        let fd = memfd(size)?;
        fallocate(&fd, FallocateFlags::empty(), 0, size)?;
        Ok(fd)
    }

    fn mapping(size: u64) -> Res<Mapping> {
        Mapping::shared(memfd(size)?, usize::try_from(size)?)
    }

    fn mapping_allocated(size: u64) -> Res<Mapping> {
        Mapping::shared(Self::memfd_allocated(size)?, usize::try_from(size)?)
    }

    /// A mapping of a memfd whose every byte was written (by `pwrite`, as
    /// the VMO side is written by `zx_vmo_write`: one copy, no zeroing), its
    /// pages mapped in advance so that the cache loop takes no faults.
    /// (The PTEs are read-only: `clwb`, `clflushopt`, `dc cvac` and
    /// `dc civac` need only read permission.)
    pub fn mapping_written(&self, size: u64) -> Res<Mapping> {
        let len = usize::try_from(size)?;
        let fd = memfd(size)?;
        pwrite_all(fd.as_fd(), &self.pattern, 0, size)?;
        let m = Mapping::shared(fd, len)?;
        m.madvise(len, Advice::LinuxPopulateRead)?;
        Ok(m)
    }

    /// A new VMO of `size` bytes mapped writable and `MAP_SHARED` through
    /// its exported fd (the mapping keeps the VMO; the handle and the fd
    /// are closed again).
    fn vmo_mapped(&self, size: u64) -> Res<VmoMapping> {
        Ok(self.vmo(size)?.map(0, usize::try_from(size)?, true)?)
    }

    /// A new memfd of `size` bytes mapped writable and `MAP_SHARED` through
    /// the same [`VmoMapping`] type, so that both sides touch pages with the
    /// same code.
    fn memfd_mapped(size: u64) -> Res<VmoMapping> {
        Ok(VmoMapping::new(memfd(size)?.as_fd(), 0, usize::try_from(size)?, true)?)
    }

    /// Writes one byte to each page of `m`: one first-touch fault per page.
    fn touch_pages(&self, m: &mut VmoMapping) -> Res<()> {
        let page = usize::try_from(self.page)?;
        for off in (0..m.len()).step_by(page) {
            m.write_at(off, &[1])?;
        }
        Ok(())
    }

    /// A VMO of `size` bytes, every byte written, and a SNAPSHOT child of all of it (which
    /// shares every page with it).
    fn snapshot_written(&self, size: u64) -> Res<(Vmo, Vmo)> {
        let v = self.vmo_written(size)?;
        let c = v.create_child(VmoChildOptions::SNAPSHOT, 0, size)?;
        Ok((v, c))
    }

    /// A one-byte `zx_vmo_write` into each page of `v` (`size` bytes).
    fn write_each_page(&self, v: &Vmo, size: u64) -> Res<()> {
        for off in (0..size).step_by(self.page as usize) {
            v.write(&[2], off)?;
        }
        Ok(())
    }

    /// A 1 TiB VMO with [`SPARSE_PAGES`] pages written, spread evenly.
    fn vmo_sparse(&self) -> Res<Vmo> {
        let v = self.vmo(TIB)?;
        for i in 0..SPARSE_PAGES {
            self.write_vmo(&v, i * (TIB / SPARSE_PAGES), self.page)?;
        }
        Ok(v)
    }

    /// The figure of `op` on `side` at `size`: [`measure`](Self::measure),
    /// or the pager figures with their request counts.
    pub fn figure(&self, op: &str, side: &str, size: u64, policy: &Policy) -> Res<Figure> {
        match op {
            PAGER_READ | PAGER_MAP_READ | PAGER_MAP_READ_SEQ | PAGER_FAULT | PAGER_REFAULT => {
                super::pagein::measure(self, op, side, size, policy)
            }
            RECLAIM => super::reclaim::measure(self, side, size, policy),
            _ => {
                Ok(Figure { samples: self.measure(op, side, size, policy)?, requests: Vec::new() })
            }
        }
    }

    /// The samples of `op` on `side` at `size`; the warm-up runs at
    /// `policy.warmup_max_size` if `size` is larger.
    pub fn measure(&self, op: &str, side: &str, size: u64, policy: &Policy) -> Res<Vec<u64>> {
        if policy.warmup > 0 && size > policy.warmup_max_size {
            let warm = Policy { min_reps: 0, max_reps: 0, ..*policy };
            self.series(op, side, policy.warmup_max_size, &warm)?;
            return self.series(op, side, size, &Policy { warmup: 0, ..*policy });
        }
        self.series(op, side, size, policy)
    }

    /// [`measure`](Self::measure) with the warm-up at `size` too.
    fn series(&self, op: &str, side: &str, size: u64, policy: &Policy) -> Res<Vec<u64>> {
        let p = policy;
        let len = usize::try_from(size)?;
        let line = self.cpu.line_size as usize;
        let (lo, hi) = (UNALIGNED_MARGIN, size.saturating_sub(2 * UNALIGNED_MARGIN));
        match (op, side) {
            (COMMIT, VMO) => run_series(p, || self.vmo(size), |v| Ok(v.commit(0, size)?)),
            (COMMIT, FALLOCATE) => run_series(
                p,
                || memfd(size),
                |fd| Ok(fallocate(&*fd, FallocateFlags::empty(), 0, size)?),
            ),
            (COMMIT, MADV_POPULATE_WRITE) => run_series(
                p,
                || Self::mapping(size),
                |m| m.madvise(len, Advice::LinuxPopulateWrite),
            ),
            (DECOMMIT, VMO) => {
                run_series(p, || self.vmo_committed(size), |v| Ok(v.decommit(0, size)?))
            }
            (DECOMMIT, PUNCH_HOLE) => run_series(
                p,
                || Self::memfd_allocated(size),
                |fd| {
                    let mode = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
                    Ok(fallocate(&*fd, mode, 0, size)?)
                },
            ),
            (DECOMMIT | ZERO, MADV_REMOVE) => run_series(
                p,
                || Self::mapping_allocated(size),
                |m| m.madvise(len, Advice::LinuxRemove),
            ),
            (ZERO, VMO) => run_series(p, || self.vmo_committed(size), |v| Ok(v.zero(0, size)?)),
            (ZERO_UNALIGNED, VMO) => {
                run_series(p, || self.vmo_committed(size), |v| Ok(v.zero(lo, hi)?))
            }
            (ZERO_UNALIGNED, PWRITE) => run_series(
                p,
                || Self::memfd_allocated(size),
                |fd| pwrite_all(fd.as_fd(), &self.zeros, lo, hi),
            ),
            (CACHE_CLEAN, VMO) => {
                run_series(p, || self.vmo_written(size), |v| Ok(v.cache_clean(0, size)?))
            }
            (CACHE_CLEAN, CLWB) => run_series(
                p,
                || self.mapping_written(size),
                |m| m.cache_lines(LineInstr::Clwb, line),
            ),
            (CACHE_CLEAN, DC_CVAC) => run_series(
                p,
                || self.mapping_written(size),
                |m| m.cache_lines(LineInstr::DcCvac, line),
            ),
            (CACHE_CLEAN_INVALIDATE, VMO) => {
                run_series(p, || self.vmo_written(size), |v| Ok(v.cache_clean_invalidate(0, size)?))
            }
            (CACHE_CLEAN_INVALIDATE, CLFLUSHOPT) => run_series(
                p,
                || self.mapping_written(size),
                |m| m.cache_lines(LineInstr::Clflushopt, line),
            ),
            (CACHE_CLEAN_INVALIDATE, DC_CIVAC) => run_series(
                p,
                || self.mapping_written(size),
                |m| m.cache_lines(LineInstr::DcCivac, line),
            ),
            (COMMIT_SIZE0, VMO) => run_series(p, || self.vmo(self.page), |v| Ok(v.commit(0, 0)?)),
            (COMMIT_SIZE0, MADV_NORMAL) => {
                run_series(p, || Self::mapping(self.page), |m| m.madvise(0, Advice::Normal))
            }
            (COMMIT_SIZE0, IOCTL_VMO_ENOTTY) => {
                run_series(p, || Ok(()), |_| unknown_ioctl(&self.dev))
            }
            (COMMIT_SIZE0, IOCTL_NULL_ENOTTY) => {
                let null = std::fs::File::open("/dev/null")?;
                run_series(p, || Ok(()), |_| unknown_ioctl(&null))
            }
            (LOCK_UNLOCK, VMO) => run_series(
                p,
                || Ok(Vmo::create(&self.dev, self.page, VmoOptions::DISCARDABLE)?),
                |v| {
                    v.lock()?;
                    Ok(v.unlock()?)
                },
            ),
            (LOCK_UNLOCK, MADV_NORMAL_X2) => run_series(
                p,
                || Self::mapping(self.page),
                |m| {
                    m.madvise(0, Advice::Normal)?;
                    m.madvise(0, Advice::Normal)
                },
            ),
            (CACHE_CLEAN_SPARSE, VMO) => {
                run_series(p, || self.vmo_sparse(), |v| Ok(v.cache_clean(0, TIB)?))
            }
            (CACHE_CLEAN_SPARSE, VMO_64_PAGES) => {
                run_series(p, || self.vmo_written(size), |v| Ok(v.cache_clean(0, size)?))
            }
            (PAGE_FAULT, VMO) => {
                let s = run_series(p, || self.vmo_mapped(size), |m| self.touch_pages(m))?;
                Ok(per_page(s, size / self.page))
            }
            (PAGE_FAULT, MEMFD_FAULT) => {
                let s = run_series(p, || Self::memfd_mapped(size), |m| self.touch_pages(m))?;
                Ok(per_page(s, size / self.page))
            }
            (SNAPSHOT, VMO | VMO_4KIB) => {
                let at = if side == VMO { size } else { self.page };
                run_series(
                    p,
                    || Ok((self.vmo_written(at)?, None)),
                    |(v, child): &mut (Vmo, Option<Vmo>)| {
                        *child = Some(v.create_child(VmoChildOptions::SNAPSHOT, 0, at)?);
                        Ok(())
                    },
                )
            }
            (COW_WRITE_FAULT, VMO) => {
                let s = run_series(
                    p,
                    || {
                        let (parent, child) = self.snapshot_written(size)?;
                        Ok((parent, child.map(0, len, true)?))
                    },
                    |(_, m)| self.touch_pages(m),
                )?;
                Ok(per_page(s, size / self.page))
            }
            (COW_WRITE_FAULT, MEMFD_PRIVATE_FAULT) => {
                let s = run_series(
                    p,
                    || {
                        let fd = memfd(size)?;
                        pwrite_all(fd.as_fd(), &self.pattern, 0, size)?;
                        let prot = ProtFlags::READ | ProtFlags::WRITE;
                        let r = vmo::sys::mmap(fd.as_fd(), 0, len, prot, MapFlags::PRIVATE)?;
                        Ok(r)
                    },
                    |r| {
                        for off in (0..len).step_by(self.page as usize) {
                            // SAFETY: `off` is inside the private mapping of `len` bytes,
                            // mapped read-write.
                            unsafe { r.as_ptr().add(off).write_volatile(1) };
                        }
                        Ok(())
                    },
                )?;
                Ok(per_page(s, size / self.page))
            }
            (COW_WRITE, VMO | VMO_OWNED) => {
                let s = run_series(
                    p,
                    || {
                        let (parent, child) = self.snapshot_written(size)?;
                        if side == VMO_OWNED {
                            self.write_each_page(&child, size)?;
                        }
                        Ok((parent, child))
                    },
                    |(_, child)| self.write_each_page(child, size),
                )?;
                Ok(per_page(s, size / self.page))
            }
            (COW_READ, VMO | VMO_PARENT) => {
                let mut buf = vec![1u8; len];
                run_series(
                    p,
                    || self.snapshot_written(size),
                    |(parent, child)| {
                        let v = if side == VMO { child } else { parent };
                        Ok(v.read(&mut buf, 0)?)
                    },
                )
            }
            (THREADS_1 | THREADS_2, VMO | VMO_TABLES | MEMFD_PREAD) => {
                let n = threads_of(op).ok_or("not a thread figure")?;
                let s = thread_series(p, || self.thread_readers(side, n, size), len)?;
                Ok(per_page(s, THREAD_READS * n as u64))
            }
            _ => Err(format!("no way to measure {op} on {side}").into()),
        }
    }

    /// The `n` objects of a thread figure, `size` bytes each, every byte written: VMOs in the
    /// bench's one table ([`VMO`]), VMOs each in a table of its own ([`VMO_TABLES`]), or
    /// memfds ([`MEMFD_PREAD`]).
    fn thread_readers(&self, side: &str, n: usize, size: u64) -> Res<Vec<Reader>> {
        (0..n)
            .map(|_| -> Res<Reader> {
                Ok(match side {
                    VMO => Reader::Vmo(self.vmo_written(size)?),
                    VMO_TABLES => {
                        // The VMO keeps its table (the open file) alive.
                        let dev = Device::open()?;
                        let v = Vmo::create(&dev, size, VmoOptions::empty())?;
                        self.write_vmo(&v, 0, size)?;
                        Reader::Vmo(v)
                    }
                    _ => {
                        let fd = memfd(size)?;
                        pwrite_all(fd.as_fd(), &self.pattern, 0, size)?;
                        Reader::Memfd(fd)
                    }
                })
            })
            .collect()
    }
}

/// What one thread of a thread figure reads from.
enum Reader {
    /// A VMO (`zx_vmo_read`).
    Vmo(Vmo),
    /// A memfd (`pread`).
    Memfd(std::os::fd::OwnedFd),
}

impl Reader {
    /// Reads `buf.len()` bytes at offset 0.
    fn read(&self, buf: &mut [u8]) -> Result<(), String> {
        match self {
            Reader::Vmo(v) => v.read(buf, 0).map_err(|e| format!("zx_vmo_read: {e:?}")),
            Reader::Memfd(fd) => match rustix::io::pread(fd, &mut *buf, 0) {
                Ok(n) if n == buf.len() => Ok(()),
                Ok(n) => Err(format!("pread: {n} bytes")),
                Err(e) => Err(format!("pread: {e}")),
            },
        }
    }
}

/// One timed run of a thread figure: a thread per reader, all released at once (a barrier),
/// each making [`THREAD_READS`] reads of `len` bytes; returns the time (ns) from the first
/// thread's start to the last one's end. Starting the threads is not timed.
fn run_threads(readers: &[Reader], len: usize) -> Res<u64> {
    let barrier = std::sync::Barrier::new(readers.len());
    let spans = std::thread::scope(|s| -> Result<Vec<(Instant, Instant)>, String> {
        let threads: Vec<_> = readers
            .iter()
            .map(|r| {
                let barrier = &barrier;
                s.spawn(move || -> Result<(Instant, Instant), String> {
                    let mut buf = vec![0u8; len];
                    barrier.wait();
                    let t = Instant::now();
                    for _ in 0..THREAD_READS {
                        r.read(&mut buf)?;
                    }
                    Ok((t, Instant::now()))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| "a reader thread panicked".to_owned())?)
            .collect()
    })?;
    let first = spans.iter().map(|s| s.0).min().ok_or("no reader")?;
    let last = spans.iter().map(|s| s.1).max().ok_or("no reader")?;
    Ok(u64::try_from(last.duration_since(first).as_nanos()).unwrap_or(u64::MAX))
}

/// The samples of a thread figure, as [`run_series`] takes them: a fresh set of readers from
/// `setup` per run (untimed), [`run_threads`] as the timed run.
fn thread_series(
    policy: &Policy,
    mut setup: impl FnMut() -> Res<Vec<Reader>>,
    len: usize,
) -> Res<Vec<u64>> {
    for _ in 0..policy.warmup {
        run_threads(&setup()?, len)?;
    }
    let budget = Duration::from_millis(policy.budget_ms);
    let start = Instant::now();
    let mut samples = Vec::with_capacity(policy.max_reps as usize);
    while samples.len() < policy.max_reps as usize {
        let readers = setup()?;
        samples.push(run_threads(&readers, len)?);
        drop(readers);
        if samples.len() >= policy.min_reps as usize && start.elapsed() >= budget {
            break;
        }
    }
    Ok(samples)
}

/// Samples of whole runs over `pages` pages as times per page.
fn per_page(samples: Vec<u64>, pages: u64) -> Vec<u64> {
    samples.into_iter().map(|ns| ns / pages.max(1)).collect()
}

/// `pwrite` of `len` bytes at `off`, repeating `buf` as the source.
pub fn pwrite_all(fd: std::os::fd::BorrowedFd<'_>, buf: &[u8], off: u64, len: u64) -> Res<()> {
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        let w = rustix::io::pwrite(fd, &buf[..n], off + done)?;
        if w == 0 {
            return Err("pwrite wrote nothing".into());
        }
        done += w as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(warmup: u32, min_reps: u32, max_reps: u32, budget_ms: u64) -> Policy {
        Policy { warmup, min_reps, max_reps, budget_ms, warmup_max_size: u64::MAX }
    }

    #[test]
    fn a_fresh_object_per_run_and_the_rep_bounds() {
        let (mut made, mut ran) = (0, 0);
        let samples = run_series(
            &policy(2, 5, 7, 0),
            || {
                made += 1;
                Ok(made)
            },
            |obj| {
                ran += 1;
                // Each run sees the object made for it.
                assert_eq!(*obj, ran);
                Ok(())
            },
        )
        .unwrap();
        // A zero budget stops at the minimum; the warm-up is not sampled.
        assert_eq!(samples.len(), 5);
        assert_eq!((made, ran), (7, 7));
        let samples = run_series(&policy(0, 1, 3, 60_000), || Ok(()), |_| Ok(())).unwrap();
        assert_eq!(samples.len(), 3);
        // Warm-up only.
        assert!(run_series(&policy(1, 0, 0, 0), || Ok(()), |_| Ok(())).unwrap().is_empty());
    }

    #[test]
    fn per_page_divides_each_sample() {
        assert_eq!(per_page(vec![1024, 2048, 1023], 1024), vec![1, 2, 0]);
        assert_eq!(per_page(vec![5], 0), vec![5]);
    }

    #[test]
    fn errors_stop_the_series() {
        let mut n = 0;
        let r = run_series(
            &policy(0, 5, 5, 0),
            || Ok(()),
            |_| {
                n += 1;
                if n == 3 { Err("boom".into()) } else { Ok(()) }
            },
        );
        assert_eq!(r.unwrap_err().to_string(), "boom");
        assert!(
            run_series(&policy(0, 5, 5, 0), || Err::<(), _>("no memory".into()), |_| Ok(()))
                .is_err()
        );
    }

    #[test]
    fn steps_are_timed_apart_and_counted() {
        let pause = Duration::from_millis(20);
        let (mut made, mut ran) = (0, 0);
        let series = run_steps(
            &policy(1, 3, 3, 0),
            3,
            || {
                made += 1;
                std::thread::sleep(pause);
                Ok(made)
            },
            |obj, laps| {
                ran += 1;
                assert_eq!(*obj, ran);
                laps.lap();
                std::thread::sleep(pause);
                laps.lap();
                Ok(())
            },
        )
        .unwrap();
        // Three steps, three timed runs each; the warm-up is not sampled.
        assert_eq!(series.len(), 3);
        assert!(series.iter().all(|s| s.len() == 3), "{series:?}");
        assert_eq!((made, ran), (4, 4));
        // The set-up is untimed; the second step holds the pause.
        assert!(series[0].iter().all(|&ns| ns < 10_000_000), "{series:?}");
        assert!(series[1].iter().all(|&ns| ns >= 20_000_000), "{series:?}");
        assert!(series[2].iter().all(|&ns| ns < 10_000_000), "{series:?}");
        // What the run drops itself is timed, in its last step.
        struct Slow;
        impl Drop for Slow {
            fn drop(&mut self) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let series = run_steps(
            &policy(0, 2, 2, 0),
            2,
            || Ok(()),
            |_, laps| {
                let s = Slow;
                laps.lap();
                drop(s);
                Ok(())
            },
        )
        .unwrap();
        assert!(series[1].iter().all(|&ns| ns >= 20_000_000), "{series:?}");
        // A wrong number of laps is an error, as in perftest.
        let r = run_steps(&policy(0, 1, 1, 0), 1, || Ok(()), |_, _| Ok(()));
        assert!(r.is_ok());
        let r = run_steps(
            &policy(0, 1, 1, 0),
            1,
            || Ok(()),
            |_, laps: &mut Laps| {
                laps.lap();
                Ok(())
            },
        );
        assert_eq!(r.unwrap_err().to_string(), "2 step(s) timed, 1 declared");
    }

    #[test]
    fn samples_time_the_operation_only() {
        let pause = Duration::from_millis(20);
        let samples = run_series(
            &policy(0, 3, 3, 0),
            || {
                std::thread::sleep(pause);
                Ok(())
            },
            |_| Ok(()),
        )
        .unwrap();
        assert!(samples.iter().all(|&ns| ns < 10_000_000), "{samples:?}");
        let sleep = |_: &mut ()| {
            std::thread::sleep(pause);
            Ok(())
        };
        let samples = run_series(&policy(0, 2, 2, 0), || Ok(()), sleep).unwrap();
        assert!(samples.iter().all(|&ns| ns >= 20_000_000), "{samples:?}");
    }
}
