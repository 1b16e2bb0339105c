//! The pager figures: page-in through a user pager against userfaultfd.
//!
//! The VMO side is a pager-backed VMO (`Pager::create_vmo`) with a pager
//! thread that answers each READ packet with `supply_pages` of the range
//! asked for, from an aux VMO written beforehand at the same offsets. A
//! supply moves the pages out of the aux VMO (it copies them into the VMO
//! and decommits the aux range), so every run gets a new, written aux VMO,
//! untimed; the supply itself, its copy and its decommit are timed, as the
//! pager's work. The native sides are userfaultfd on a shmem mapping
//! ([`super::uffd`]), served one page per fault by a handler thread.
//!
//! Every figure also counts the requests each timed run was served with:
//! READ packets on the VMO side, fault messages on the native sides.
//!
//! The refault figure (PAGER_REFAULT) has no userfaultfd side: it reads a
//! pager-backed VMO whose pages were supplied once and then evicted by the
//! module's `vmo-pager` shrinker, against the first read of a new one.

use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vmo::{Mapping as VmoMapping, PacketKind, Pager, Status, Vmo, VmoOptions};
use vmo_bench::catalog::*;
use vmo_bench::record::Policy;

use super::Res;
use super::figures::{Bench, Figure, pwrite_all};
use super::sys::memfd;
use super::uffd::{self, Mode, Served};

/// How long the pager thread waits for a packet before it looks whether it
/// should stop (untimed: only the end of a run waits for it).
const STOP_POLL: Duration = Duration::from_millis(20);

/// A pager-backed VMO and the pager thread that serves it, until dropped.
struct PagerSide {
    /// The VMO (the pager thread holds it too).
    vmo: Arc<Vmo>,
    /// The aux VMO the pager thread supplies from (a supply decommits what it
    /// moved: [`PagerSide::refill`] writes it again).
    aux: Arc<Vmo>,
    /// A mapping of all of it, read-only, for the mapped figures.
    map: Option<VmoMapping>,
    /// READ packets the thread has taken.
    requests: Arc<AtomicU64>,
    /// READ packets the thread has answered (its `supply_pages` returned).
    answered: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl PagerSide {
    /// A new pager-backed VMO of `len` bytes whose pager thread supplies
    /// from an aux VMO with `written` (byte ranges) written; mapped if
    /// `mapped`.
    fn start(b: &Bench, len: u64, written: &[(u64, u64)], mapped: bool) -> Res<PagerSide> {
        let pager = Pager::create(b.device())?;
        let vmo = Arc::new(pager.create_vmo(1, len)?);
        let aux = Arc::new(Vmo::create(b.device(), len, VmoOptions::empty())?);
        for &(off, n) in written {
            b.write_vmo(&aux, off, n)?;
        }
        let map = if mapped { Some(vmo.map(0, usize::try_from(len)?, false)?) } else { None };
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let (v, a, halt) = (vmo.clone(), aux.clone(), stop.clone());
        let (count, done) = (requests.clone(), answered.clone());
        // The thread holds the only handle of the pager: if it stops on an
        // error, the pager closes and every waiter gets BAD_STATE (a read
        // fails, a fault raises SIGBUS) instead of waiting for ever.
        let thread = std::thread::spawn(move || serve(pager, &v, &a, &count, &done, &halt));
        Ok(PagerSide { vmo, aux, map, requests, answered, stop, thread: Some(thread) })
    }

    /// Writes `[0, len)` of the aux VMO again, so that the pager thread can
    /// supply those pages a second time. Waits first until the thread has
    /// answered every request it took: a reader may wake before the
    /// `supply_pages` that served it has decommitted the aux range, which
    /// would then wipe the new bytes.
    fn refill(&self, b: &Bench, len: u64) -> Res<()> {
        let start = Instant::now();
        while self.answered.load(Ordering::Acquire) < self.requests.load(Ordering::Acquire) {
            if start.elapsed() > Duration::from_secs(10) {
                return Err("the pager thread did not finish its supply".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        b.write_vmo(&self.aux, 0, len)
    }

    /// Stops the pager thread and returns its error, if it had one.
    fn finish(&mut self) -> Res<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.map = None;
        self.stop.store(true, Ordering::Relaxed);
        match thread.join() {
            Ok(r) => r.map_err(Into::into),
            Err(_) => Err("the pager thread panicked".into()),
        }
    }
}

impl Drop for PagerSide {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The pager thread: takes READ packets and supplies each range from `aux`
/// (same offsets), until `stop`.
fn serve(
    pager: Pager,
    vmo: &Vmo,
    aux: &Vmo,
    requests: &AtomicU64,
    answered: &AtomicU64,
    stop: &AtomicBool,
) -> Result<(), String> {
    loop {
        match pager.wait(Some(STOP_POLL)) {
            Ok(p) if p.kind == PacketKind::Read => {
                requests.fetch_add(1, Ordering::Release);
                if let Err(e) = pager.supply_pages(vmo, p.range(), aux, p.offset) {
                    let _ = pager.fail(vmo, p.range(), Status::IO);
                    return Err(format!("supply_pages {:?}: {e}", p.range()));
                }
                answered.fetch_add(1, Ordering::Release);
            }
            Ok(_) => {}
            Err(Status::TIMED_OUT) if stop.load(Ordering::Relaxed) => return Ok(()),
            Err(Status::TIMED_OUT | Status::INTERRUPTED_RETRY) => {}
            Err(e) => return Err(format!("pager wait: {e}")),
        }
    }
}

/// One side of a figure, for one run.
enum Side {
    Pager(PagerSide),
    Uffd(Served),
}

impl Side {
    /// The requests served so far.
    fn requests(&self) -> u64 {
        match self {
            Side::Pager(p) => p.requests.load(Ordering::Relaxed),
            Side::Uffd(u) => u.served.load(Ordering::Relaxed),
        }
    }

    /// The mapping the figure reads.
    fn map(&self) -> Res<&VmoMapping> {
        match self {
            Side::Pager(p) => p.map.as_ref().ok_or_else(|| "the VMO is not mapped".into()),
            Side::Uffd(u) => Ok(&u.map),
        }
    }

    /// Stops the serving thread; its error, if any.
    fn finish(&mut self) -> Res<()> {
        match self {
            Side::Pager(p) => p.finish(),
            Side::Uffd(u) => u.finish(),
        }
    }
}

/// Whether `side` of the pager figures can run here: `Err(reason)` if not.
pub fn available(side: &str) -> Result<(), String> {
    match side {
        UFFD_COPY => uffd::probe(Mode::Copy),
        UFFD_CONTINUE => uffd::probe(Mode::Continue),
        _ => Ok(()),
    }
}

/// What a side's run needs that lives as long as the figure: the source
/// buffer of `UFFDIO_COPY` (a populated mapping of a written memfd).
struct Shared {
    src: Option<super::sys::Mapping>,
}

impl Shared {
    fn new(b: &Bench, side: &str, len: u64) -> Res<Shared> {
        let src = if side == UFFD_COPY { Some(b.mapping_written(len)?) } else { None };
        Ok(Shared { src })
    }

    /// A new object of `side` over `len` bytes, `written` of them holding data
    /// (the VMO's aux VMO, the memfd's page cache for `MINOR`; the copy source
    /// is all written); the VMO mapped if `mapped`.
    fn side(
        &self,
        b: &Bench,
        side: &str,
        len: u64,
        written: &[(u64, u64)],
        mapped: bool,
    ) -> Res<Side> {
        let page = b.page();
        let ulen = usize::try_from(len)?;
        let upage = usize::try_from(page)?;
        match side {
            VMO => Ok(Side::Pager(PagerSide::start(b, len, written, mapped)?)),
            UFFD_COPY => {
                let fd = memfd(len + page)?;
                let src = self.src.as_ref().ok_or("no source buffer")?;
                Ok(Side::Uffd(Served::start(&fd, ulen, upage, Mode::Copy, src.as_ptr() as usize)?))
            }
            UFFD_CONTINUE => {
                let fd = memfd(len + page)?;
                for &(off, n) in written {
                    pwrite_all(fd.as_fd(), b.pattern(), off, n)?;
                }
                // The stop sentinel's page must be in the page cache too:
                // MINOR mode reports only faults on cached pages.
                pwrite_all(fd.as_fd(), b.pattern(), len, page)?;
                Ok(Side::Uffd(Served::start(&fd, ulen, upage, Mode::Continue, 0)?))
            }
            _ => Err(format!("no pager figure for side {side}").into()),
        }
    }
}

/// The samples and request counts of a pager figure: `op` on `side` at
/// `size`. The page-in figures warm up at `policy.warmup_max_size` when
/// `size` is larger, as the other sweeps do.
pub fn measure(b: &Bench, op: &str, side: &str, size: u64, policy: &Policy) -> Res<Figure> {
    match op {
        PAGER_READ | PAGER_MAP_READ | PAGER_MAP_READ_SEQ => {
            if policy.warmup > 0 && size > policy.warmup_max_size {
                let warm = Policy { min_reps: 0, max_reps: 0, ..*policy };
                page_in(b, op, side, policy.warmup_max_size, &warm)?;
                return page_in(b, op, side, size, &Policy { warmup: 0, ..*policy });
            }
            page_in(b, op, side, size, policy)
        }
        PAGER_FAULT => fault_latency(b, side, policy),
        PAGER_REFAULT => {
            if policy.warmup > 0 && size > policy.warmup_max_size {
                let warm = Policy { min_reps: 0, max_reps: 0, ..*policy };
                refault(b, side, policy.warmup_max_size, &warm)?;
                return refault(b, side, size, &Policy { warmup: 0, ..*policy });
            }
            refault(b, side, size, policy)
        }
        _ => Err(format!("{op} is not a pager figure").into()),
    }
}

/// [`run_series`](super::figures::run_series) for the pager figures: each
/// run gets a new side from `setup` (untimed), `op` reads it (timed), then
/// the requests it was served with are taken and its serving thread is
/// stopped (untimed; a thread's error fails the figure).
fn run_counted(
    policy: &Policy,
    mut setup: impl FnMut() -> Res<Side>,
    mut op: impl FnMut(&mut Side) -> Res<()>,
) -> Res<Figure> {
    let mut run = || -> Res<(u64, u64)> {
        let mut s = setup()?;
        let before = s.requests();
        let t = Instant::now();
        let r = op(&mut s);
        let elapsed = t.elapsed();
        let requests = s.requests() - before;
        let stopped = s.finish();
        r?;
        stopped?;
        Ok((u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), requests))
    };
    for _ in 0..policy.warmup {
        run()?;
    }
    let budget = Duration::from_millis(policy.budget_ms);
    let start = Instant::now();
    let mut fig = Figure::default();
    while fig.samples.len() < policy.max_reps as usize {
        let (ns, requests) = run()?;
        fig.samples.push(ns);
        fig.requests.push(requests);
        if fig.samples.len() >= policy.min_reps as usize && start.elapsed() >= budget {
            break;
        }
    }
    Ok(fig)
}

/// A whole read of `size` bytes: the read ioctl (PAGER_READ, VMO side) or a
/// `memcpy` of the mapping, front to back.
fn page_in(b: &Bench, op: &str, side: &str, size: u64, policy: &Policy) -> Res<Figure> {
    let len = usize::try_from(size)?;
    let shared = Shared::new(b, side, size)?;
    let mut buf = vec![1u8; len];
    let by_ioctl = op == PAGER_READ && side == VMO;
    let fig = run_counted(
        policy,
        || {
            let s = shared.side(b, side, size, &[(0, size)], !by_ioctl)?;
            if op == PAGER_MAP_READ_SEQ {
                super::sys::advise_sequential(s.map()?.region())?;
            }
            Ok(s)
        },
        |s| {
            match s {
                Side::Pager(p) if by_ioctl => p.vmo.read(&mut buf, 0)?,
                _ => {
                    let m = s.map()?;
                    // SAFETY: the mapping's pages are only ever supplied
                    // (pager) or filled by the handler (userfaultfd) with the
                    // data written beforehand, which nothing changes while the
                    // slice lives: no byte it shows changes.
                    buf.copy_from_slice(unsafe { &m.region().as_slice()[..len] });
                }
            }
            Ok(())
        },
    )?;
    std::hint::black_box(&buf);
    Ok(fig)
}

/// The pause after the refault figure's `drop_caches`, before its timed read.
const SETTLE: Duration = Duration::from_millis(20);

/// The `vmo-pager-evicted-pages` count of a VMO fd's fdinfo.
fn evicted_pages(fd: &OwnedFd) -> Res<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("vmo-pager-evicted-pages:"))
        .ok_or("no vmo-pager-evicted-pages in the VMO fd's fdinfo")?;
    Ok(line.split_whitespace().nth(1).ok_or("an empty vmo-pager-evicted-pages")?.parse()?)
}

/// Runs every shrinker (`drop_caches` 2), as the refault figure's sides do
/// untimed before their read.
fn drop_slab() -> Res<()> {
    std::fs::write("/proc/sys/vm/drop_caches", "2").map_err(|e| format!("drop_caches: {e}").into())
}

/// Evicts every page of `v` (`len` bytes, all clean) through the
/// `vmo-pager` shrinker: `drop_caches` 2, whose scan hands the work to the
/// module's worker, until the VMO has no committed byte, then checks that its
/// fdinfo counts every page evicted. One `drop_caches` may evict only a part
/// (the scan asks for no more than what the worker has not tried yet), so it
/// is written again whenever the committed bytes stop falling for 5 ms. The VMO is new and evicted only here, but the count may already
/// have grown before `drop_caches`: a worker run queued by an earlier
/// `drop_caches` (its shrinker scans add up more pages than there are) can
/// evict the pages as soon as the first read has ended.
fn evict_all(v: &Vmo, len: u64, page: u64) -> Res<()> {
    let fd = v.export_fd()?;
    let start = Instant::now();
    loop {
        drop_slab()?;
        let mut committed = v.info()?.committed_bytes;
        let mut round = Instant::now();
        while round.elapsed() < Duration::from_millis(5) {
            let now = v.info()?.committed_bytes;
            if now < committed {
                committed = now;
                round = Instant::now();
            }
            if now == 0 {
                let evicted = evicted_pages(&fd)?;
                if evicted < len / page {
                    return Err(format!("{evicted} pages evicted of {}", len / page).into());
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        if start.elapsed() > Duration::from_secs(60) {
            let committed = v.info()?.committed_bytes;
            return Err(format!("not evicted after 60 s: {committed} bytes committed").into());
        }
    }
}

/// The refault figure: a whole read (`zx_vmo_read`) of a pager-backed VMO of
/// `size` bytes whose every page was supplied once and evicted since (VMO
/// side), or of a new one (the first page-in, [`VMO_FIRST_READ`]). Both sides
/// run `drop_caches` 2 untimed before the read, the VMO side until every page
/// is evicted; the pager thread supplies from an aux VMO written beforehand
/// (again after the first read, untimed).
fn refault(b: &Bench, side: &str, size: u64, policy: &Policy) -> Res<Figure> {
    let len = usize::try_from(size)?;
    let mut first = vec![1u8; len];
    let mut buf = vec![1u8; len];
    let fig = run_counted(
        policy,
        || {
            let s = PagerSide::start(b, size, &[(0, size)], false)?;
            match side {
                VMO => {
                    s.vmo.read(&mut first, 0)?;
                    s.refill(b, size)?;
                    evict_all(&s.vmo, size, b.page())?;
                }
                VMO_FIRST_READ => drop_slab()?,
                _ => return Err(format!("no refault figure for side {side}").into()),
            }
            // A worker run that a `drop_caches` queued may still be under way: let it end
            // before the timed read (under `-icount` its instructions would count).
            std::thread::sleep(SETTLE);
            Ok(Side::Pager(s))
        },
        |s| match s {
            Side::Pager(p) => Ok(p.vmo.read(&mut buf, 0)?),
            Side::Uffd(_) => Err("the refault figure has no userfaultfd side".into()),
        },
    )?;
    // Both reads are the pager's bytes: the aux VMO's pattern.
    let pattern = b.pattern();
    let checked: &[(&str, &[u8])] =
        if side == VMO { &[("first read", &first), ("refault", &buf)] } else { &[("read", &buf)] };
    for (what, data) in checked {
        if let Some(chunk) = data.chunks(pattern.len()).position(|c| c != &pattern[..c.len()]) {
            return Err(format!("the {what} has other bytes than the pager's (MiB {chunk})").into());
        }
    }
    std::hint::black_box(&buf);
    Ok(fig)
}

/// The pages the fault figure touches, in order: one in every
/// [`PAGER_FAULT_STRIDE`] of [`FAULT_PAGES`] × that many, visited in a
/// scattered order (slot `k` is slot `k × 613 mod FAULT_PAGES`: a
/// permutation, as 613 is odd and the count a power of two).
pub fn fault_order() -> Vec<u64> {
    (0..FAULT_PAGES).map(|k| (k * 613 % FAULT_PAGES) * PAGER_FAULT_STRIDE).collect()
}

/// [`FAULT_PAGES`] read faults, each on an absent page, each timed alone:
/// one run after a warm-up run (each on a new object).
fn fault_latency(b: &Bench, side: &str, policy: &Policy) -> Res<Figure> {
    let page = b.page();
    let len = FAULT_PAGES * PAGER_FAULT_STRIDE * page;
    let order = fault_order();
    let written: Vec<(u64, u64)> = order.iter().map(|&p| (p * page, page)).collect();
    let shared = Shared::new(b, side, len)?;
    let mut samples = Vec::new();
    let mut requests = 0;
    for _ in 0..=policy.warmup.min(1) {
        let mut s = shared.side(b, side, len, &written, true)?;
        let base = s.map()?.as_ptr();
        samples.clear();
        let before = s.requests();
        for &p in &order {
            let t = Instant::now();
            // SAFETY: the page lies inside the mapping (`p < FAULT_PAGES ×
            // PAGER_FAULT_STRIDE`), which is readable and stays mapped while
            // `s` lives.
            let _ = unsafe { base.add(usize::try_from(p * page)?).read_volatile() };
            samples.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        requests = s.requests() - before;
        s.finish()?;
    }
    Ok(Figure { samples, requests: vec![requests] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_order_visits_each_slot_once() {
        let mut o = fault_order();
        assert_eq!(o.len() as u64, FAULT_PAGES);
        // Scattered: no two consecutive faults on neighbouring slots.
        assert!(o.windows(2).all(|w| w[0].abs_diff(w[1]) > PAGER_FAULT_STRIDE));
        o.sort_unstable();
        let slots: Vec<u64> = (0..FAULT_PAGES).map(|k| k * PAGER_FAULT_STRIDE).collect();
        assert_eq!(o, slots);
    }
}
