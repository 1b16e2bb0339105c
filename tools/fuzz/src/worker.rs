//! One fuzzing thread: it makes random but structured calls, predicts each
//! result with the model, makes the call, and checks the result and the
//! outputs (handles, sizes, info, read data) against the prediction.
//!
//! Targets of a call: a live handle of this worker (exact), a shared pool
//! handle (a documented set, see below), a handle this worker closed, a
//! made-up value, a handle of another `Device`, 0, or one of this worker's
//! handles sent to the other `Device`.
//!
//! Made-up values can never name a live handle of the shared `Device`, even
//! one of another worker: they lack the two low bits every handle value has.
//! (Well-formed values that name nothing are the values this worker closed:
//! a table's counter starts at a random value and is not reused until 2^30
//! handles later.)
//!
//! What the model accepts where it cannot know (shared pool handles, whose
//! VMOs other threads use at the same time):
//! * `BAD_HANDLE`: another worker rotated (closed) the handle;
//! * the result for any size the VMO may have had (every size a worker set
//!   is recorded before its `SET_SIZE` runs, and the set is read after the
//!   call returns);
//! * for DECOMMIT, `NOT_SUPPORTED` as well as the unblocked result (another
//!   worker's snapshot of the VMO, or of a slice of it, may be alive);
//! * no content or committed-bytes checks on pages of shared VMOs.
//!
//! Memory: COMMIT and WRITE never allocate more than [`MAX_OP_PAGES`] pages
//! at once, never take a VMO past [`VMO_CAP_PAGES`], and a worker's VMOs
//! stay within its budget (it closes handles of its fattest VMO when
//! over it); snapshots are costed the same way.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Instant;

use vmo::{Device, VmoOptions, sys};

use crate::model::*;
use crate::pool::{self, Pool, Slot};
use crate::raw::{self, Arena, Dst, Place, Src};
use crate::report::*;
use crate::rng::Rng;

#[path = "mapping.rs"]
mod mapping;
#[path = "pager_episode.rs"]
mod pager_episode;

/// Live handles a worker keeps before it prefers to close.
const MAX_HANDLES: usize = 48;
/// A worker's memory budget.
const BUDGET_BYTES: u64 = 16 << 20;
/// The most one call may commit.
const MAX_OP_PAGES: u64 = 256;
/// The most one VMO may hold.
const VMO_CAP_PAGES: u64 = 1024;
/// The longest valid read/write buffer.
const MAX_BUF: u64 = 64 << 10;

/// The target of a call that takes a handle.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// Live handle `i` of the model.
    Live(usize),
    /// Shared pool slot `j`.
    Shared(usize),
    /// A value this worker closed.
    Closed,
    /// A value that was never handed out.
    MadeUp,
    /// A live handle of this worker's other `Device`.
    Foreign,
    /// The invalid handle 0.
    Zero,
    /// One of this worker's live handles, sent to the other `Device`.
    OnOther,
}

/// One call's arguments.
#[derive(Clone, Debug)]
enum Args {
    Create {
        size: u64,
        options: u32,
        reserved: [u64; 2],
    },
    CreateChild {
        options: u32,
        offset: u64,
        size: u64,
        reserved: u32,
    },
    Close {
        reserved: u32,
    },
    Duplicate {
        rights: u32,
        reserved: u32,
    },
    Replace {
        rights: u32,
        reserved: u32,
    },
    /// `vmex`: 0 (the ambient policy), a live handle of this worker (`vmex_live`: no VMEX
    /// resource, WRONG_TYPE) or a made-up value (BAD_HANDLE).
    ReplaceAsExecutable {
        vmex: u32,
        vmex_live: bool,
        reserved: u32,
    },
    Read {
        offset: u64,
        length: u64,
        buf: Place,
        reserved: u32,
    },
    Write {
        offset: u64,
        length: u64,
        buf: Place,
        reserved: u32,
    },
    GetSize {
        reserved: u32,
    },
    SetSize {
        size: u64,
        reserved: u32,
    },
    OpRange {
        op: u32,
        offset: u64,
        size: u64,
        buffer: u64,
        buffer_size: u64,
    },
    GetInfo {
        reserved0: u32,
        reserved: [u64; 4],
    },
    EventCreate {
        options: u32,
    },
    Unknown {
        cmd: u32,
    },
}

impl Args {
    fn ioctl(&self) -> Ioctl {
        match self {
            Args::Create { .. } => Ioctl::Create,
            Args::CreateChild { .. } => Ioctl::CreateChild,
            Args::Close { .. } => Ioctl::Close,
            Args::Duplicate { .. } => Ioctl::Duplicate,
            Args::Replace { .. } => Ioctl::Replace,
            Args::ReplaceAsExecutable { .. } => Ioctl::ReplaceAsExecutable,
            Args::Read { .. } => Ioctl::Read,
            Args::Write { .. } => Ioctl::Write,
            Args::GetSize { .. } => Ioctl::GetSize,
            Args::SetSize { .. } => Ioctl::SetSize,
            Args::OpRange { .. } => Ioctl::OpRange,
            Args::GetInfo { .. } => Ioctl::GetInfo,
            Args::EventCreate { .. } => Ioctl::EventCreate,
            Args::Unknown { .. } => Ioctl::Unknown,
        }
    }

    /// The size of the argument struct.
    fn struct_size(&self) -> usize {
        match self.ioctl() {
            Ioctl::Create | Ioctl::CreateChild | Ioctl::Read | Ioctl::Write => 32,
            Ioctl::Close | Ioctl::EventCreate => 8,
            Ioctl::Duplicate
            | Ioctl::Replace
            | Ioctl::ReplaceAsExecutable
            | Ioctl::GetSize
            | Ioctl::SetSize => 16,
            Ioctl::OpRange => 40,
            Ioctl::GetInfo => 88,
            Ioctl::Unknown => 64,
            Ioctl::Export | Ioctl::Import => 16,
            // Not ioctls: the mapping episodes make these calls, never from an `Args`.
            Ioctl::Mmap
            | Ioctl::MapRead
            | Ioctl::MapWrite
            | Ioctl::Madvise
            | Ioctl::Mremap
            | Ioctl::RemapFilePages
            | Ioctl::Mprotect
            | Ioctl::Ftruncate
            | Ioctl::Fallocate
            | Ioctl::MapFork
            | Ioctl::PagerRead
            | Ioctl::PagerMapWrite
            | Ioctl::PagerMapRead
            | Ioctl::PagerChild
            | Ioctl::PagerChildRead
            | Ioctl::PagerChildWrite
            | Ioctl::PagerReadRequest => 0,
            // Pager ioctls, made by the pager episodes.
            Ioctl::PagerCreate | Ioctl::PagerDetach => 8,
            Ioctl::PagerCreateVmo => 32,
            Ioctl::PagerSupply | Ioctl::PagerOp => 40,
            Ioctl::PagerWait => 48,
            Ioctl::PagerQueryDirty => 56,
            Ioctl::PagerQueryStats => 32,
            Ioctl::PagerWrite => 32,
        }
    }
}

/// One call.
#[derive(Clone, Debug)]
struct Call {
    args: Args,
    /// Where the argument struct is.
    place: Place,
    target: Target,
    /// The handle value sent.
    raw: u32,
    /// For a shared target: the slot as it was when the call was made.
    slot: Option<Slot>,
}

/// What a call returned.
#[derive(Default)]
struct Outcome {
    errno: i32,
    /// A new handle (CREATE, CREATE_CHILD, DUPLICATE, REPLACE, EVENT_CREATE).
    out: u32,
    /// GET_SIZE's size.
    size: u64,
    /// GET_INFO's struct.
    info: Option<sys::vmo_info>,
    /// READ's data.
    read: Option<Vec<u8>>,
}

/// What the target of a call is, as far as the model knows.
enum Res {
    Bad,
    Event { rights: u32 },
    Vmo { rights: u32, states: Vec<VmoState> },
}

/// A worker's settings.
pub struct Config {
    /// Index of the worker (for reports).
    pub id: usize,
    /// The worker's own seed.
    pub seed: u64,
    /// The run's seed (for reports).
    pub run_seed: u64,
    /// Print every call.
    pub trace: bool,
    /// Start with the table-full episode.
    pub table_full: bool,
}

/// One fuzzing thread's state.
pub struct Worker {
    cfg: Config,
    rng: Rng,
    m: Model,
    dev: Device,
    other: Device,
    foreign: Vec<u32>,
    _foreign_keep: Vec<vmo::Handle>,
    arena: Arena,
    pool: Option<Arc<Pool>>,
    proxies: Vec<ObjId>,
    budget_pages: u64,
    iter: u64,
    /// Whether a forked reader may have been alive during the call being checked.
    fork_overlapped: bool,
    /// What the worker counted.
    pub stats: Stats,
}

/// The model's code for the result of a call: [`OK`] or the errno.
fn errno(r: sys::IoctlResult) -> i32 {
    r.err().map_or(OK, sys::Errno::raw_os_error)
}

fn has(rights: u32, need: u32) -> bool {
    rights & need == need
}

impl Worker {
    /// A worker on `dev` (shared with the other workers) with `pool`. Opens
    /// its other `Device` and maps its arena.
    pub fn new(cfg: Config, dev: Device, pool: Option<Arc<Pool>>) -> Result<Worker, String> {
        let other = Device::open_path(dev_path()).map_err(|e| format!("open: {e}"))?;
        let mut keep = Vec::new();
        for size in [pg(), 16 * pg()] {
            let v = vmo::Vmo::create(&other, size, VmoOptions::empty())
                .map_err(|s| format!("create: {s}"))?;
            keep.push(vmo::Handle::from(v));
        }
        keep.push(vmo::Event::create(&other).map_err(|s| format!("event: {s}"))?.into());
        let foreign = keep.iter().map(|h| h.raw()).collect();
        let arena = Arena::new().map_err(|e| format!("mmap: {e}"))?;
        let mut m = Model::default();
        let mut proxies = Vec::new();
        if let Some(p) = &pool {
            for j in 0..p.len() {
                let s = p.get(j);
                proxies.push(m.new_proxy(j, s.sizes[0], s.resizable));
            }
        }
        Ok(Worker {
            rng: Rng::new(cfg.seed),
            cfg,
            m,
            dev,
            other,
            foreign,
            _foreign_keep: keep,
            arena,
            pool,
            proxies,
            budget_pages: BUDGET_BYTES / pg(),
            iter: 0,
            fork_overlapped: false,
            stats: Stats::default(),
        })
    }

    /// Runs until `deadline` or `max_iters` calls, then closes every handle.
    pub fn run(&mut self, deadline: Instant, max_iters: Option<u64>) {
        if self.cfg.table_full {
            self.table_full_episode(deadline);
        }
        while max_iters.is_none_or(|n| self.iter < n) && Instant::now() < deadline {
            self.step();
            self.iter += 1;
        }
        self.close_all(true);
    }

    /// Fills a fresh handle table to `VMO_MAX_HANDLES` (duplicates of one
    /// event) and checks that every call that would add a handle then fails
    /// with NO_RESOURCES, while REPLACE (which frees its source first),
    /// CLOSE and the calls that add nothing still work. Skipped (with a
    /// note) when filling the table would take more than a third of the
    /// time left (a debug kernel under TCG makes one DUPLICATE per ms).
    fn table_full_episode(&mut self, deadline: Instant) {
        let start = Instant::now();
        let budget = deadline.saturating_duration_since(start) / 3;
        let dev = match Device::open_path(dev_path()) {
            Ok(d) => d,
            Err(e) => {
                self.direct(
                    Ioctl::Unknown,
                    None,
                    -1,
                    OK,
                    &format!("open for the table-full episode: {e}"),
                );
                return;
            }
        };
        let fd = dev.as_fd();
        let mut c = sys::vmo_create_args { size: pg(), ..Default::default() };
        let r = errno(sys::create(fd, &mut c));
        self.direct(Ioctl::Create, None, r, OK, "table-full: CREATE");
        let mut ev = sys::vmo_event_create_args::default();
        let r = errno(sys::event_create(fd, &mut ev));
        self.direct(Ioctl::EventCreate, None, r, OK, "table-full: EVENT_CREATE");
        let (vmo, event) = (c.handle, ev.handle);
        let mut count = 2u32;
        let last = loop {
            let mut d = sys::vmo_duplicate_args {
                handle: event,
                rights: SAME_RIGHTS,
                ..Default::default()
            };
            match sys::duplicate(fd, &mut d) {
                Ok(()) => count += 1,
                Err(e) => break e.raw_os_error(),
            }
            if count > sys::VMO_MAX_HANDLES {
                break OK;
            }
            if count == 4096 {
                let projected = start.elapsed() * (sys::VMO_MAX_HANDLES / count);
                if projected > budget {
                    println!(
                        "fuzz: table-full episode skipped: filling the table would take about {} s",
                        projected.as_secs()
                    );
                    return;
                }
            }
        };
        let what = format!("table-full: DUPLICATE number {} (table of {count} handles)", count - 1);
        self.direct(Ioctl::Duplicate, None, last, NO_RESOURCES, &what);
        if count != sys::VMO_MAX_HANDLES {
            let report = format!("table-full: the table took {count} handles, not VMO_MAX_HANDLES");
            self.direct(Ioctl::Duplicate, None, -1, OK, &report);
        }
        let mut c = sys::vmo_create_args { size: pg(), ..Default::default() };
        let r = errno(sys::create(fd, &mut c));
        self.direct(Ioctl::Create, None, r, NO_RESOURCES, "table-full: CREATE");
        let mut ch = sys::vmo_create_child_args {
            handle: vmo,
            options: sys::VMO_CHILD_SNAPSHOT,
            size: pg(),
            ..Default::default()
        };
        let r = errno(sys::create_child(fd, &mut ch));
        self.direct(Ioctl::CreateChild, None, r, NO_RESOURCES, "table-full: CREATE_CHILD");
        let mut ev = sys::vmo_event_create_args::default();
        let r = errno(sys::event_create(fd, &mut ev));
        self.direct(Ioctl::EventCreate, None, r, NO_RESOURCES, "table-full: EVENT_CREATE");
        let r = errno(sys::op_range(fd, vmo, sys::VMO_OP_COMMIT, 0, pg()));
        self.direct(Ioctl::OpRange, Some(sys::VMO_OP_COMMIT), r, OK, "table-full: COMMIT");
        let mut rep =
            sys::vmo_duplicate_args { handle: event, rights: SAME_RIGHTS, ..Default::default() };
        let r = errno(sys::replace(fd, &mut rep));
        self.direct(Ioctl::Replace, None, r, OK, "table-full: REPLACE");
        let r = errno(sys::close(fd, sys::vmo_close_args { handle: rep.out_handle, reserved: 0 }));
        self.direct(Ioctl::Close, None, r, OK, "table-full: CLOSE");
        let mut c = sys::vmo_create_args { size: pg(), ..Default::default() };
        let r = errno(sys::create(fd, &mut c));
        self.direct(Ioctl::Create, None, r, OK, "table-full: CREATE after a CLOSE");
        let mut c = sys::vmo_create_args { size: pg(), ..Default::default() };
        let r = errno(sys::create(fd, &mut c));
        self.direct(Ioctl::Create, None, r, NO_RESOURCES, "table-full: CREATE when full again");
        drop(dev); // closes all 65536 handles
        println!("fuzz: table-full episode: {count} handles, {} ms", start.elapsed().as_millis());
    }

    /// Counts a call made outside the model and reports it unless it gave
    /// `want` (`got` -1: a failure that is not a call's result).
    fn direct(&mut self, ioctl: Ioctl, op: Option<u32>, got: i32, want: i32, what: &str) {
        if self.cfg.trace {
            println!(
                "trace w{} #{}: {what}: {} (expected {})",
                self.cfg.id,
                self.iter,
                status_name(got),
                status_name(want)
            );
        }
        self.stats.iterations += 1;
        if got >= 0 {
            self.stats.reached((ioctl, op, got));
        }
        if got != want {
            let text = format!(
                "MISMATCH seed={} worker={}: {what}: got {}, expected {}",
                self.cfg.run_seed,
                self.cfg.id,
                status_name(got),
                status_name(want)
            );
            println!("{text}");
            self.stats.mismatch(text);
        }
    }

    // ---- one step -------------------------------------------------------------

    fn step(&mut self) {
        let Some(mut call) = self.generate() else { return };
        self.limit(&mut call);
        let written = match call.args {
            Args::Write { length, buf: Place::Normal, .. } => {
                let mut d = vec![0u8; length as usize];
                self.rng.fill(&mut d);
                d
            }
            _ => Vec::new(),
        };
        let forks_ended = mapping::FORKS_ENDED.load(std::sync::atomic::Ordering::SeqCst);
        let out = self.execute(&call, &written);
        self.fork_overlapped = mapping::forks_overlapped(forks_ended);
        let mut expect = self.predict(&call);
        if self.fork_overlapped
            && matches!(call.args, Args::OpRange { op: sys::VMO_OP_DECOMMIT, .. })
        {
            // A forked reader may hold a closed snapshot child alive (`mapping::FORKS_STARTED`).
            expect = expect.with(NOT_SUPPORTED);
        }
        let ioctl = call.args.ioctl();
        let op = match call.args {
            Args::OpRange { op, .. } => Some(op),
            _ => None,
        };
        self.stats.iterations += 1;
        self.stats.reached((ioctl, op, out.errno));
        if self.cfg.trace {
            let obj = match call.target {
                Target::Live(i) => Some(self.m.handles[i].obj),
                Target::Shared(j) => Some(self.proxies[j]),
                _ => None,
            };
            println!(
                "trace w{} #{}: {call:?} obj={obj:?} -> {} out={:#x} (expected {expect:?})",
                self.cfg.id,
                self.iter,
                status_name(out.errno),
                out.out
            );
        }
        if !expect.contains(out.errno) {
            self.report(&call, format!("got {}, expected {expect:?}", status_name(out.errno)));
            self.resync(&call, &out);
            return;
        }
        if let Err(why) = self.apply(&call, &out, &written) {
            self.report(&call, why);
            self.resync(&call, &out);
        }
    }

    fn report(&mut self, call: &Call, why: String) {
        let text = format!(
            "MISMATCH seed={} worker={} worker_seed={} iteration={}: {} {call:?}: {why}",
            self.cfg.run_seed,
            self.cfg.id,
            self.cfg.seed,
            self.iter,
            call.args.ioctl().name(),
        );
        println!("{text}");
        self.stats.mismatch(text);
    }

    /// After a mismatch the model may be wrong about anything this worker
    /// made: close it all (ignoring the results) and start afresh.
    fn resync(&mut self, call: &Call, out: &Outcome) {
        if out.errno == OK && out.out != 0 {
            let _ = self.close_raw(out.out);
        }
        if let Args::Replace { .. } | Args::ReplaceAsExecutable { .. } = call.args {
            // Whatever happened, the old value is closed or should be.
            let _ = self.close_raw(call.raw);
        }
        self.close_all(false);
    }

    fn close_raw(&self, raw: u32) -> sys::IoctlResult {
        sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: raw, reserved: 0 })
    }

    /// Closes every live handle of the model; with `check`, each must close.
    fn close_all(&mut self, check: bool) {
        while let Some(h) = self.m.handles.last().copied() {
            let r = self.close_raw(h.raw);
            self.m.remove_handle(self.m.handles.len() - 1);
            if check && r.is_err() {
                let text = format!(
                    "MISMATCH seed={} worker={}: final CLOSE of {:#x} gave {}",
                    self.cfg.run_seed,
                    self.cfg.id,
                    h.raw,
                    status_name(errno(r))
                );
                println!("{text}");
                self.stats.mismatch(text);
            }
        }
        self.m.forget_all();
    }

    // ---- generating calls -----------------------------------------------------

    fn generate(&mut self) -> Option<Call> {
        let n = self.m.handles.len();
        if (n > MAX_HANDLES || self.m.budget_pages() > self.budget_pages) && self.rng.chance(1, 2) {
            if let Some(c) = self.reclaim() {
                return Some(c);
            }
        }
        let pool = self.pool.is_some();
        //             CREATE CHILD CLOSE DUP REPL READ WRITE GSIZE SSIZE OP INFO EVENT UNK ROTATE MAP PAGER REPL_EXEC
        let weights = [7, 8, 7, 5, 5, 12, 12, 4, 6, 24, 8, 2, 2, u32::from(pool), 5, 3, 3];
        let kind = self.rng.weighted(&weights);
        if kind == 13 {
            self.rotate();
            return None;
        }
        if kind == 14 {
            // A mapping episode: EXPORT, mmap and what a process may do to both.
            self.map_episode();
            return None;
        }
        if kind == 15 {
            // A pager episode: the pager ioctls on a pager of its own.
            self.pager_episode();
            return None;
        }
        let ioctl = if kind == 16 { Ioctl::ReplaceAsExecutable } else { Ioctl::ALL[kind] };
        let destructive =
            matches!(ioctl, Ioctl::Close | Ioctl::Replace | Ioctl::ReplaceAsExecutable);
        let (target, raw, slot) = match ioctl {
            Ioctl::Create | Ioctl::EventCreate | Ioctl::Unknown => (Target::Zero, 0, None),
            _ => self.target(destructive),
        };
        let size = self.target_size(target, &slot);
        let rights = match (target, &slot) {
            (Target::Live(i), _) => self.m.handles[i].rights,
            (_, Some(s)) => s.rights,
            _ => DEFAULT_VMO,
        };
        let args = match ioctl {
            Ioctl::Create => {
                let options = match self.rng.below(10) {
                    0..=4 => 0,
                    5 => sys::VMO_CREATE_DISCARDABLE,
                    6..=8 => sys::VMO_CREATE_RESIZABLE,
                    _ => self.rng.next_u32(),
                };
                Args::Create {
                    size: self.create_size(),
                    options,
                    reserved: [self.res64(), self.res64()],
                }
            }
            Ioctl::CreateChild => {
                let options = self.child_options();
                let offset = if self.rng.chance(3, 5) {
                    self.rng.below(size / pg() + 1) * pg()
                } else {
                    self.edge(size)
                };
                let csize = match self.rng.below(5) {
                    0..=2 => self.rng.below(size / pg() + 2) * pg(),
                    3 => self.rng.below(4 * pg()),
                    _ => self.edge(size),
                };
                Args::CreateChild { options, offset, size: csize, reserved: self.res32() }
            }
            Ioctl::Close => Args::Close { reserved: self.res32() },
            Ioctl::Duplicate => {
                Args::Duplicate { rights: self.rights_req(rights), reserved: self.res32() }
            }
            Ioctl::Replace => {
                Args::Replace { rights: self.rights_req(rights), reserved: self.res32() }
            }
            Ioctl::ReplaceAsExecutable => {
                let n = self.m.handles.len();
                let (vmex, vmex_live) = match self.rng.below(10) {
                    0 if n > 0 => (self.m.handles[self.rng.index(n)].raw, true),
                    1 => (self.made_up(), false),
                    _ => (0, false),
                };
                Args::ReplaceAsExecutable { vmex, vmex_live, reserved: self.res32() }
            }
            Ioctl::Read | Ioctl::Write => {
                let (offset, mut length) = self.range(size);
                let write = ioctl == Ioctl::Write;
                if length > MAX_BUF && self.rng.chance(1, 2) {
                    length = self.rng.below(MAX_BUF + 1);
                }
                let buf = self.buffer(length, write);
                let reserved = self.res32();
                if write {
                    Args::Write { offset, length, buf, reserved }
                } else {
                    Args::Read { offset, length, buf, reserved }
                }
            }
            Ioctl::GetSize => Args::GetSize { reserved: self.res32() },
            Ioctl::SetSize => {
                let new = match self.rng.below(4) {
                    0 | 1 => self.rng.below(32) * pg(),
                    2 => self.rng.below(32 * pg()),
                    _ => self.edge(size),
                };
                Args::SetSize { size: new, reserved: self.res32() }
            }
            Ioctl::OpRange => {
                let op = self.op();
                let (offset, len) = if op != sys::VMO_OP_PREFETCH
                    && op >= sys::VMO_OP_LOCK
                    && op != sys::VMO_OP_ZERO
                    && op <= sys::VMO_OP_TRY_LOCK
                    && self.rng.chance(1, 2)
                {
                    (0, size) // the lock ops: the whole VMO
                } else {
                    self.range(size)
                };
                let (buffer, buffer_size) = if op == sys::VMO_OP_LOCK {
                    // Never a random pointer: a LOCK that passes its checks writes the buffer.
                    match self.rng.below(4) {
                        0 => (0, 0),
                        1 => (KERNEL_ADDR, 32),
                        2 => (lock_buf_addr(), self.rng.below(32)),
                        _ => (lock_buf_addr(), 32 + self.rng.below(2) * self.rng.below(64)),
                    }
                } else if self.rng.chance(1, 10) {
                    (self.rng.next_u64(), self.rng.next_u64())
                } else {
                    (0, 0)
                };
                Args::OpRange { op, offset, size: len, buffer, buffer_size }
            }
            Ioctl::GetInfo => {
                let (reserved0, reserved) = if self.rng.chance(1, 20) {
                    let mut r = [0u64; 4];
                    let r0 = if self.rng.chance(1, 2) {
                        r[self.rng.index(4)] = self.nonzero();
                        0
                    } else {
                        self.nonzero() as u32 | 1
                    };
                    (r0, r)
                } else {
                    (0, [0; 4])
                };
                Args::GetInfo { reserved0, reserved }
            }
            Ioctl::EventCreate => Args::EventCreate {
                options: if self.rng.chance(1, 10) { self.nonzero() as u32 | 1 } else { 0 },
            },
            Ioctl::Unknown => Args::Unknown { cmd: self.unknown_cmd() },
            // `kind` < 13 picks one of the first 13, the ioctls of an `Args` (16 picks
            // REPLACE_AS_EXECUTABLE, above); the mapping episode makes the others.
            Ioctl::Export
            | Ioctl::Import
            | Ioctl::MapFork
            | Ioctl::Mmap
            | Ioctl::MapRead
            | Ioctl::MapWrite
            | Ioctl::Madvise
            | Ioctl::Mremap
            | Ioctl::RemapFilePages
            | Ioctl::Mprotect
            | Ioctl::Ftruncate
            | Ioctl::Fallocate
            | Ioctl::PagerCreate
            | Ioctl::PagerCreateVmo
            | Ioctl::PagerSupply
            | Ioctl::PagerOp
            | Ioctl::PagerDetach
            | Ioctl::PagerWait
            | Ioctl::PagerRead
            | Ioctl::PagerQueryDirty
            | Ioctl::PagerQueryStats
            | Ioctl::PagerWrite
            | Ioctl::PagerMapWrite
            | Ioctl::PagerMapRead
            | Ioctl::PagerChild
            | Ioctl::PagerChildRead
            | Ioctl::PagerChildWrite
            | Ioctl::PagerReadRequest => unreachable!("not generated as an ioctl call"),
        };
        let mut args = args;
        let pool_slot = match target {
            Target::Live(i) => self.m.obj(self.m.handles[i].obj).pool_slot,
            Target::Shared(j) => Some(j),
            _ => None,
        };
        if let (Args::SetSize { size, .. }, Some(j)) = (&mut args, pool_slot) {
            // Shared VMOs only take a few sizes (so that the set of sizes a
            // racing call accepts stays small) and stay small (their pages
            // are in no worker's budget).
            if round_size(*size).is_none_or(|r| r % (4 * pg()) != 0 || r > pool::MAX_RESIZE) {
                *size = self.rng.below(pool::MAX_RESIZE / (4 * pg()) + 1) * 4 * pg();
                if self.rng.chance(1, 4) {
                    *size = size.saturating_sub(self.rng.below(pg()));
                }
            }
            // Record the size before the call, so a racing call of another
            // worker sees it in the set once it returns.
            self.pool.as_ref().expect("shared").may_resize(j, round_size(*size).expect("small"));
        }
        let place = self.place(&args);
        Some(Call { args, place, target, raw, slot })
    }

    /// Closes a handle of the fattest VMO (over budget) or any (too many).
    fn reclaim(&mut self) -> Option<Call> {
        let n = self.m.handles.len();
        if n == 0 {
            return None;
        }
        let i = if n > MAX_HANDLES {
            self.rng.index(n)
        } else {
            let owner = self.m.fattest_owner()?;
            let mine: Vec<usize> =
                (0..n).filter(|&i| self.m.obj(self.m.handles[i].obj).owner == owner).collect();
            if mine.is_empty() { self.rng.index(n) } else { mine[self.rng.index(mine.len())] }
        };
        let raw = self.m.handles[i].raw;
        Some(Call {
            args: Args::Close { reserved: 0 },
            place: Place::Normal,
            target: Target::Live(i),
            raw,
            slot: None,
        })
    }

    fn rotate(&mut self) {
        let pool = self.pool.clone().expect("rotation needs the pool");
        let j = self.rng.index(pool.len());
        if let Err(why) = pool.rotate(j, &mut self.rng) {
            let text = format!("MISMATCH seed={} worker={}: {why}", self.cfg.run_seed, self.cfg.id);
            println!("{text}");
            self.stats.mismatch(text);
        }
    }

    fn target(&mut self, destructive: bool) -> (Target, u32, Option<Slot>) {
        let n = self.m.handles.len();
        let pool = self.pool.as_ref().filter(|_| !destructive).map(|p| p.len()).unwrap_or(0);
        let w = [
            if n > 0 { 70 } else { 0 },
            if pool > 0 { 12 } else { 0 },
            if self.m.closed.is_empty() { 0 } else { 4 },
            4,
            3,
            2,
            if n > 0 { 3 } else { 0 },
        ];
        match self.rng.weighted(&w) {
            0 => {
                let i = self.rng.index(n);
                (Target::Live(i), self.m.handles[i].raw, None)
            }
            1 => {
                let j = self.rng.index(pool);
                let slot = self.pool.as_ref().expect("pool").get(j);
                (Target::Shared(j), slot.raw, Some(slot))
            }
            2 => {
                let v = self.m.closed[self.rng.index(self.m.closed.len())];
                (Target::Closed, v, None)
            }
            3 => {
                let v = self.made_up();
                (Target::MadeUp, v, None)
            }
            4 => {
                let v = self.foreign[self.rng.index(self.foreign.len())];
                (Target::Foreign, v, None)
            }
            5 => (Target::Zero, 0, None),
            _ => {
                let i = self.rng.index(n);
                (Target::OnOther, self.m.handles[i].raw, None)
            }
        }
    }

    fn made_up(&mut self) -> u32 {
        loop {
            let v = self.rng.next_u32();
            if v & 3 != 3 {
                return v;
            }
        }
    }

    /// The sizes the target's VMO may have (for arguments and for racy
    /// predictions).
    fn sizes_of(&self, obj: ObjId) -> Vec<u64> {
        match self.m.obj(obj).pool_slot {
            Some(j) => self.pool.as_ref().expect("pool").get(j).sizes,
            None => vec![self.m.obj(obj).size],
        }
    }

    fn target_size(&mut self, t: Target, slot: &Option<Slot>) -> u64 {
        match t {
            Target::Live(i) => self.sizes_of(self.m.handles[i].obj).into_iter().max().unwrap_or(0),
            Target::Shared(_) => {
                slot.as_ref().and_then(|s| s.sizes.iter().copied().max()).unwrap_or(0)
            }
            _ => self.rng.below(16) * pg(),
        }
    }

    /// A value from the dictionary of edges around `size`.
    fn edge(&mut self, size: u64) -> u64 {
        let p = pg();
        match self.rng.below(20) {
            0 => 0,
            1 => 1,
            2 => p - 1,
            3 => p,
            4 => p + 1,
            5 => size.wrapping_sub(1),
            6 => size,
            7 => size.wrapping_add(1),
            8 => 1 << 32,
            9 => (1 << 63) - 1,
            10 => 1 << 63,
            11 => u64::MAX,
            12 => sys::VMO_MAX_SIZE - 1,
            13 => sys::VMO_MAX_SIZE,
            14 => sys::VMO_MAX_SIZE + 1,
            15 => self.rng.next_u64(),
            16 | 17 => self.rng.below(size.saturating_add(2 * p)),
            _ => self.rng.below(size / p + 2) * p,
        }
    }

    /// An (offset, length) pair for a VMO of `size` bytes.
    fn range(&mut self, size: u64) -> (u64, u64) {
        let p = pg();
        match self.rng.below(10) {
            0..=2 => {
                let pages = size / p;
                let off = self.rng.below(pages + 1);
                (off * p, self.rng.below(pages - off + 1) * p)
            }
            3 | 4 => {
                let off = self.rng.below(size.saturating_add(1));
                (off, self.rng.below(size.saturating_sub(off).saturating_add(1)))
            }
            5 | 6 => (self.edge(size), self.edge(size)),
            7 => {
                let off = self.edge(size);
                (off, size.wrapping_sub(off))
            }
            8 => {
                let off = self.edge(size);
                (off, size.wrapping_sub(off).wrapping_add(1))
            }
            _ => (self.rng.below(size.saturating_add(1)), self.edge(size)),
        }
    }

    fn create_size(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=4 => self.rng.below(33) * pg(),
            5 | 6 => self.rng.below(16 * pg()),
            7 => 0,
            _ => {
                let s = self.rng.below(64) * pg();
                self.edge(s)
            }
        }
    }

    fn child_options(&mut self) -> u32 {
        let maybe = |rng: &mut Rng, bit: u32, n: u64| if rng.chance(1, n) { bit } else { 0 };
        match self.rng.below(10) {
            0..=3 => {
                sys::VMO_CHILD_SNAPSHOT
                    | maybe(&mut self.rng, sys::VMO_CHILD_RESIZABLE, 4)
                    | maybe(&mut self.rng, sys::VMO_CHILD_NO_WRITE, 6)
            }
            4..=6 => sys::VMO_CHILD_SLICE | maybe(&mut self.rng, sys::VMO_CHILD_NO_WRITE, 4),
            7 => {
                sys::VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE
                    | maybe(&mut self.rng, sys::VMO_CHILD_RESIZABLE, 3)
            }
            8 => self.rng.next_u32() & 0x3d,
            _ => self.nonzero() as u32,
        }
    }

    fn rights_req(&mut self, cur: u32) -> u32 {
        match self.rng.below(8) {
            0..=2 => SAME_RIGHTS,
            3 | 4 => cur & self.rng.next_u32(),
            5 => 0,
            6 => self.rng.next_u32() & (DEFAULT_VMO | R_RESIZE | R_EXECUTE),
            _ => SAME_RIGHTS | (1 << self.rng.below(31)),
        }
    }

    fn op(&mut self) -> u32 {
        match self.rng.below(20) {
            0..=3 => sys::VMO_OP_COMMIT,
            4..=6 => sys::VMO_OP_DECOMMIT,
            7 | 8 => sys::VMO_OP_ZERO,
            9..=17 => self.rng.below(16) as u32,
            _ => [0xffff_ffff, 0x8000_0001, 16, 255, 0x101][self.rng.index(5)],
        }
    }

    fn nonzero(&mut self) -> u64 {
        if self.rng.chance(1, 2) { 1 << self.rng.below(64) } else { self.rng.next_u64() | 1 }
    }

    fn res32(&mut self) -> u32 {
        if self.rng.chance(1, 25) { (self.nonzero() as u32) | 1 } else { 0 }
    }

    fn res64(&mut self) -> u64 {
        if self.rng.chance(1, 50) { self.nonzero() } else { 0 }
    }

    fn place(&mut self, args: &Args) -> Place {
        if !self.rng.chance(1, 12) {
            return Place::Normal;
        }
        let size = args.struct_size();
        match self.rng.below(8) {
            0 => Place::Null,
            1 => Place::One,
            2 if args.ioctl().writes_back() => Place::Guard,
            2 => Place::Hole,
            3 => Place::Guard,
            4 => Place::Straddle(1 + self.rng.index(size - 1)),
            5 => Place::Kernel,
            _ => Place::ReadOnly,
        }
    }

    /// A READ/WRITE buffer of `len` bytes: valid (`Normal`), or a bad one.
    /// Straddling buffers always fault (fewer than `len` bytes readable).
    fn buffer(&mut self, len: u64, write: bool) -> Place {
        if len <= MAX_BUF && !self.rng.chance(1, 8) {
            return Place::Normal;
        }
        let straddle = len.min(pg());
        match self.rng.below(if write { 7 } else { 6 }) {
            0 => Place::Null,
            1 => Place::One,
            2 => Place::Guard,
            3 if straddle > 1 => Place::Straddle(1 + self.rng.below(straddle - 1) as usize),
            3 => Place::Kernel,
            4 => Place::Kernel,
            5 => Place::ReadOnly,
            _ => Place::Hole,
        }
    }

    fn unknown_cmd(&mut self) -> u32 {
        loop {
            let cmd = match self.rng.below(4) {
                0 => {
                    let nr = if self.rng.chance(1, 2) {
                        self.rng.below(0x80)
                    } else {
                        0x8c + self.rng.below(0x74)
                    };
                    let dir = self.rng.below(4) as u32;
                    (dir << 30)
                        | ((self.rng.below(256) as u32) << 16)
                        | (u32::from(b'Z') << 8)
                        | nr as u32
                }
                1 => {
                    raw::KNOWN_CMDS[self.rng.index(raw::KNOWN_CMDS.len())]
                        ^ (1 << (16 + self.rng.below(16)))
                }
                2 => self.rng.next_u32(),
                _ => (u32::from(b'Z') << 8) | (0x80 + self.rng.below(12) as u32),
            };
            if !raw::KNOWN_CMDS.contains(&cmd) && !raw::vfs_handles(cmd) {
                return cmd;
            }
        }
    }

    // ---- memory limits ----------------------------------------------------------

    /// Pages the call may allocate if it succeeds.
    fn may_alloc(&self, call: &Call) -> u64 {
        let (obj, rights) = match (call.target, &call.slot) {
            (Target::Live(i), _) => (self.m.handles[i].obj, self.m.handles[i].rights),
            (Target::Shared(j), Some(s)) => (self.proxies[j], s.rights),
            _ => return 0,
        };
        if self.m.obj(obj).kind == Kind::Event {
            return 0;
        }
        let max = self.sizes_of(obj).into_iter().max().unwrap_or(0);
        match call.args {
            Args::OpRange { op: sys::VMO_OP_COMMIT, offset, size, .. } if has(rights, R_WRITE) => {
                match commit_span(offset, size) {
                    Some((s, e)) if in_range(s, e - s, max) => (e - s) / pg(),
                    _ => 0,
                }
            }
            Args::Write { offset, length, .. }
                if has(rights, R_WRITE) && in_range(offset, length, max) =>
            {
                length.min(MAX_BUF + pg()).div_ceil(pg()) + 1
            }
            Args::CreateChild { options, offset, size, .. }
                if !is_slice_options(options) && round_size(size).is_some() =>
            {
                self.m.snapshot_cost(obj, offset, round_size(size).unwrap_or(0), max)
            }
            _ => 0,
        }
    }

    fn owner_pages(&self, call: &Call) -> u64 {
        let obj = match call.target {
            Target::Live(i) => self.m.handles[i].obj,
            _ => return 0,
        };
        let o = self.m.obj(self.m.obj(obj).owner);
        if o.content_known { o.pages.len() as u64 } else { o.extra_pages }
    }

    /// Keeps the call within the memory limits: shrinks a COMMIT or WRITE
    /// that could allocate too much, or turns the call into a harmless one.
    fn limit(&mut self, call: &mut Call) {
        for attempt in 0..4 {
            let a = self.may_alloc(call);
            if a == 0
                || (a <= MAX_OP_PAGES
                    && self.m.budget_pages() + a <= self.budget_pages
                    && self.owner_pages(call) + a <= VMO_CAP_PAGES)
            {
                return;
            }
            let room =
                MAX_OP_PAGES.min(self.budget_pages.saturating_sub(self.m.budget_pages())) * pg();
            let (offset, len) = match &mut call.args {
                Args::OpRange { offset, size, .. } => (offset, size),
                Args::Write { offset, length, buf, .. } => {
                    if *buf == Place::Normal && attempt < 3 {
                        let n = self.rng.below(room.min(MAX_BUF) / 2 + 1);
                        *length = n;
                        *offset = self.rng.below(16 * pg());
                        continue;
                    }
                    (offset, length)
                }
                _ => break,
            };
            if attempt == 3 {
                break;
            }
            *len = self.rng.below(room / 2 + 1);
            *offset = self.rng.below(16 * pg());
        }
        call.args = Args::GetSize { reserved: 0 };
        call.place = Place::Normal;
    }

    // ---- making the call ----------------------------------------------------------

    fn execute(&mut self, call: &Call, written: &[u8]) -> Outcome {
        let dev = if matches!(call.target, Target::OnOther) {
            self.other.clone()
        } else {
            self.dev.clone()
        };
        let fd = dev.as_fd();
        let (place, handle, arena) = (call.place, call.raw, &mut self.arena);
        let normal = place == Place::Normal;
        let mut out = Outcome::default();
        let r = match call.args {
            Args::Create { size, options, reserved } => {
                let mut a = sys::vmo_create_args { size, options, handle: 0, reserved };
                let r = if normal {
                    sys::create(fd, &mut a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_CREATE, place, &mut a)
                };
                out.out = a.handle;
                r
            }
            Args::CreateChild { options, offset, size, reserved } => {
                let mut a = sys::vmo_create_child_args {
                    handle,
                    options,
                    offset,
                    size,
                    out_handle: 0,
                    reserved,
                };
                let r = if normal {
                    sys::create_child(fd, &mut a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_CREATE_CHILD, place, &mut a)
                };
                out.out = a.out_handle;
                r
            }
            Args::Close { reserved } => {
                let mut a = sys::vmo_close_args { handle, reserved };
                if normal {
                    sys::close(fd, a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_CLOSE, place, &mut a)
                }
            }
            Args::Duplicate { rights, reserved } | Args::Replace { rights, reserved } => {
                let dup = matches!(call.args, Args::Duplicate { .. });
                let mut a = sys::vmo_duplicate_args { handle, rights, out_handle: 0, reserved };
                let r = match (normal, dup) {
                    (true, true) => sys::duplicate(fd, &mut a),
                    (true, false) => sys::replace(fd, &mut a),
                    (false, true) => arena.ioctl(fd, sys::VMO_IOC_DUPLICATE, place, &mut a),
                    (false, false) => arena.ioctl(fd, sys::VMO_IOC_REPLACE, place, &mut a),
                };
                out.out = a.out_handle;
                r
            }
            Args::ReplaceAsExecutable { vmex, reserved, .. } => {
                let mut a =
                    sys::vmo_replace_as_executable_args { handle, vmex, out_handle: 0, reserved };
                let r = if normal {
                    sys::replace_as_executable(fd, &mut a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_REPLACE_AS_EXECUTABLE, place, &mut a)
                };
                out.out = a.out_handle;
                r
            }
            Args::Read { offset, length, buf, reserved } => {
                let a = sys::vmo_rw_args { handle, reserved, offset, buffer: 0, length };
                if buf == Place::Normal {
                    let mut data = vec![0xeeu8; length as usize];
                    let r = arena.read(fd, place, a, Dst::Data(&mut data));
                    out.read = Some(data);
                    r
                } else {
                    arena.read(fd, place, a, Dst::Bad(buf))
                }
            }
            Args::Write { offset, length, buf, reserved } => {
                let a = sys::vmo_rw_args { handle, reserved, offset, buffer: 0, length };
                let src = if buf == Place::Normal { Src::Data(written) } else { Src::Bad(buf) };
                arena.write(fd, place, a, src)
            }
            Args::GetSize { reserved } => {
                let mut a = sys::vmo_size_args { handle, reserved, size: 0 };
                let r = if normal {
                    sys::get_size(fd, &mut a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_GET_SIZE, place, &mut a)
                };
                out.size = a.size;
                r
            }
            Args::SetSize { size, reserved } => {
                let mut a = sys::vmo_size_args { handle, reserved, size };
                if normal {
                    sys::set_size(fd, a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_SET_SIZE, place, &mut a)
                }
            }
            Args::OpRange { op, offset, size, buffer, buffer_size } => {
                if normal && buffer == 0 && buffer_size == 0 {
                    sys::op_range(fd, handle, op, offset, size)
                } else {
                    let mut a =
                        sys::vmo_op_range_args { handle, op, offset, size, buffer, buffer_size };
                    arena.ioctl(fd, sys::VMO_IOC_OP_RANGE, place, &mut a)
                }
            }
            Args::GetInfo { reserved0, reserved } => {
                let mut a = sys::vmo_info { handle, reserved0, reserved, ..Default::default() };
                let r = if normal {
                    sys::get_info(fd, &mut a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_GET_INFO, place, &mut a)
                };
                out.info = Some(a);
                r
            }
            Args::EventCreate { options } => {
                let mut a = sys::vmo_event_create_args { options, handle: 0 };
                let r = if normal {
                    sys::event_create(fd, &mut a)
                } else {
                    arena.ioctl(fd, sys::VMO_IOC_EVENT_CREATE, place, &mut a)
                };
                out.out = a.handle;
                r
            }
            Args::Unknown { cmd } => arena.unknown(fd, cmd, place),
        };
        out.errno = errno(r);
        out
    }

    // ---- predicting -----------------------------------------------------------------

    fn resolve(&self, call: &Call) -> (Res, bool) {
        let vmo = |obj: ObjId, rights: u32| {
            if self.m.obj(obj).kind == Kind::Event {
                Res::Event { rights }
            } else {
                Res::Vmo { rights, states: self.m.states(obj, &self.sizes_of(obj)) }
            }
        };
        match call.target {
            Target::Live(i) => {
                let h = self.m.handles[i];
                (vmo(h.obj, h.rights), false)
            }
            Target::Shared(j) => {
                let rights = call.slot.as_ref().expect("slot").rights;
                (vmo(self.proxies[j], rights), true)
            }
            _ => (Res::Bad, false),
        }
    }

    /// Whether the kernel can read the argument struct.
    fn arg_readable(place: Place) -> bool {
        matches!(place, Place::Normal | Place::ReadOnly)
    }

    fn predict(&self, call: &Call) -> Expect {
        if let Args::Unknown { .. } = call.args {
            return Expect::one(ENOTTY);
        }
        if !Worker::arg_readable(call.place) {
            return Expect::one(EFAULT);
        }
        let bad = |nonzero: bool| nonzero.then_some(INVALID_ARGS);
        let pre = match call.args {
            Args::Create { size, options, reserved } => Some(if reserved != [0; 2] {
                INVALID_ARGS
            } else if round_size(size).is_none() {
                OUT_OF_RANGE
            } else if options & !(sys::VMO_CREATE_RESIZABLE | sys::VMO_CREATE_DISCARDABLE) != 0
                || options == sys::VMO_CREATE_RESIZABLE | sys::VMO_CREATE_DISCARDABLE
            {
                INVALID_ARGS
            } else {
                OK
            }),
            Args::EventCreate { options } => Some(if options != 0 { INVALID_ARGS } else { OK }),
            Args::CreateChild { options, size, reserved, .. } => {
                bad(reserved != 0).or_else(|| child_precheck(options, size))
            }
            Args::Close { reserved } => bad(reserved != 0).or((call.raw == 0).then_some(OK)),
            Args::Duplicate { reserved, .. }
            | Args::Replace { reserved, .. }
            | Args::ReplaceAsExecutable { reserved, .. }
            | Args::Read { reserved, .. }
            | Args::Write { reserved, .. }
            | Args::GetSize { reserved }
            | Args::SetSize { reserved, .. } => bad(reserved != 0),
            Args::GetInfo { reserved0, reserved } => bad(reserved0 != 0 || reserved != [0; 4]),
            Args::OpRange { .. } | Args::Unknown { .. } => None,
        };
        if let Some(e) = pre {
            return self.write_back(call, Expect::one(e));
        }
        let (res, maybe_bad) = self.resolve(call);
        let mut e = if maybe_bad { Expect::one(BAD_HANDLE) } else { Expect::default() };
        match res {
            Res::Bad => e = e.with(BAD_HANDLE),
            Res::Event { rights } => e = e.with(self.on_event(call, rights)),
            Res::Vmo { rights, states } => {
                for st in &states {
                    e = e.with(self.on_vmo(call, rights, st));
                }
            }
        }
        self.write_back(call, e)
    }

    /// A read-only argument of an `_IOWR` ioctl: what would succeed fails
    /// with EFAULT when the results are written back.
    fn write_back(&self, call: &Call, e: Expect) -> Expect {
        if call.place == Place::ReadOnly && call.args.ioctl().writes_back() && e.contains(OK) {
            let mut out = Expect::default();
            for errno in 0..128 {
                if e.contains(errno) {
                    out = out.with(if errno == OK { EFAULT } else { errno });
                }
            }
            return out;
        }
        e
    }

    fn on_event(&self, call: &Call, rights: u32) -> i32 {
        match call.args {
            Args::Close { .. } | Args::GetInfo { .. } => OK,
            Args::Duplicate { rights: req, .. } => {
                if !has(rights, R_DUPLICATE) {
                    ACCESS_DENIED
                } else if reduce(rights, req).is_none() {
                    INVALID_ARGS
                } else {
                    OK
                }
            }
            Args::Replace { rights: req, .. } => {
                if reduce(rights, req).is_none() {
                    INVALID_ARGS
                } else {
                    OK
                }
            }
            // Zircon: a handle that is not a VMO is BAD_HANDLE here (and closed).
            Args::ReplaceAsExecutable { .. } => BAD_HANDLE,
            _ => WRONG_TYPE,
        }
    }

    fn on_vmo(&self, call: &Call, rights: u32, st: &VmoState) -> i32 {
        let p = pg();
        match call.args {
            Args::Duplicate { .. }
            | Args::Replace { .. }
            | Args::Close { .. }
            | Args::GetInfo { .. } => self.on_event(call, rights),
            Args::CreateChild { options, offset, size, .. } => {
                child_status(rights, options, offset, size, st)
            }
            Args::Read { offset, length, buf, .. } => {
                read_status(rights, offset, length, st, buf == Place::Normal)
            }
            Args::Write { offset, length, buf, .. } => {
                write_status(rights, offset, length, st, buf.readable(length, p))
            }
            Args::GetSize { .. } => OK,
            Args::SetSize { size, .. } => set_size_status(rights, size, st),
            Args::OpRange { op: sys::VMO_OP_LOCK, offset, size, buffer, buffer_size } => {
                lock_status(rights, offset, size, st, buffer_size, buffer == lock_buf_addr())
            }
            Args::OpRange { op, offset, size, .. } => op_status(rights, op, offset, size, st),
            // The verdict on vmex, returned once the VMO handle is removed: 0 asks the ambient
            // policy (CAP_SYS_ADMIN); no handle is a VMEX resource.
            Args::ReplaceAsExecutable { vmex, vmex_live, .. } => match vmex {
                0 if has_cap_sys_admin() => OK,
                0 => ACCESS_DENIED,
                _ if vmex_live => WRONG_TYPE,
                _ => BAD_HANDLE,
            },
            Args::Create { .. } | Args::EventCreate { .. } | Args::Unknown { .. } => {
                unreachable!("no handle")
            }
        }
    }

    // ---- applying and checking -----------------------------------------------------------

    /// Updates the model with an accepted result and checks the outputs.
    fn apply(&mut self, call: &Call, out: &Outcome, written: &[u8]) -> Result<(), String> {
        let e = out.errno;
        let normal = call.place == Place::Normal;
        let (obj, rights) = match (call.target, &call.slot) {
            (Target::Live(i), _) => (Some(self.m.handles[i].obj), self.m.handles[i].rights),
            (Target::Shared(j), Some(s)) => (Some(self.proxies[j]), s.rights),
            _ => (None, 0),
        };
        let new_handle = |m: &Model, raw: u32| -> Result<(), String> {
            if raw == 0 || m.handles.iter().any(|h| h.raw == raw) || m.closed.contains(&raw) {
                Err(format!("OK with the handle value {raw:#x}, which is 0 or not new"))
            } else {
                Ok(())
            }
        };
        match call.args {
            Args::Create { size, options, .. } if e == OK => {
                new_handle(&self.m, out.out)?;
                let resizable = options & sys::VMO_CREATE_RESIZABLE != 0;
                let id = if options & sys::VMO_CREATE_DISCARDABLE != 0 {
                    self.m.new_discardable(round_size(size).expect("accepted"))
                } else {
                    self.m.new_root(round_size(size).expect("accepted"), resizable)
                };
                self.m.add_handle(out.out, id, DEFAULT_VMO | if resizable { R_RESIZE } else { 0 });
            }
            Args::CreateChild { options, offset, size, .. } if e == OK => {
                new_handle(&self.m, out.out)?;
                let parent = obj.expect("a VMO");
                let max = self.sizes_of(parent).into_iter().max().unwrap_or(0);
                let id = self.m.new_child(
                    parent,
                    options,
                    offset,
                    round_size(size).expect("accepted"),
                    max,
                );
                self.m.add_handle(out.out, id, child_rights(rights, options));
            }
            Args::Close { .. } if e == OK => {
                if let Target::Live(i) = call.target {
                    self.m.remove_handle(i);
                }
            }
            Args::Duplicate { rights: req, .. } if e == OK => {
                new_handle(&self.m, out.out)?;
                self.m.add_handle(
                    out.out,
                    obj.expect("live"),
                    reduce(rights, req).expect("accepted"),
                );
            }
            Args::Replace { rights: req, reserved } => {
                if let Target::Live(i) = call.target {
                    let closes = reserved == 0
                        && (e == OK
                            || e == INVALID_ARGS
                            || (e == EFAULT && call.place == Place::ReadOnly));
                    if e == OK {
                        // The new handle first: the old one may be the object's last.
                        new_handle(&self.m, out.out)?;
                        self.m.add_handle(
                            out.out,
                            obj.expect("live"),
                            reduce(rights, req).expect("accepted"),
                        );
                    }
                    if closes {
                        self.m.remove_handle(i);
                    }
                }
            }
            Args::ReplaceAsExecutable { reserved, .. } => {
                if let Target::Live(i) = call.target {
                    // Closed whatever the result once the struct was read and the handle found
                    // (a live handle of this worker always is).
                    let closes = reserved == 0 && Worker::arg_readable(call.place);
                    if e == OK {
                        // The new handle first: the old one may be the object's last.
                        new_handle(&self.m, out.out)?;
                        self.m.add_handle(out.out, obj.expect("live"), rights | R_EXECUTE);
                    }
                    if closes {
                        self.m.remove_handle(i);
                    }
                }
            }
            Args::Read { offset, .. } if e == OK => {
                let obj = obj.expect("a VMO");
                let diff = out
                    .read
                    .as_ref()
                    .filter(|_| self.m.content_known(obj))
                    .and_then(|data| self.m.check_read(obj, offset, data));
                if let Some(diff) = diff {
                    return Err(format!("READ data: {diff}"));
                }
            }
            Args::Write { offset, length, buf, .. }
                if length > 0 && (e == OK || e == EFAULT) && obj.is_some() =>
            {
                let obj = obj.expect("a VMO");
                if e == OK {
                    match buf {
                        Place::Normal => self.m.write(obj, offset, written),
                        Place::ReadOnly => {
                            let data: Vec<u8> = (0..length as usize).map(raw::ro_pattern).collect();
                            self.m.write(obj, offset, &data);
                        }
                        _ => self.m.write_unknown(obj, offset, length),
                    }
                } else if Worker::arg_readable(call.place) {
                    // The source faulted part-way: what came before the fault
                    // may be written, and the page at the fault allocated.
                    let prefix = match buf {
                        Place::ReadOnly => pg() - raw::RO_BUF_OFFSET as u64,
                        Place::Straddle(n) => n as u64,
                        _ => 0,
                    };
                    self.m.write_unknown(obj, offset, length.min(prefix + pg()));
                }
            }
            Args::SetSize { size, .. } if e == OK => {
                let obj = obj.expect("a VMO");
                if !self.m.is_racy(obj) {
                    self.m.set_size(obj, round_size(size).expect("accepted"));
                }
            }
            Args::OpRange { op, offset, size, .. } if e == OK => {
                let obj = obj.expect("a VMO");
                match op {
                    // PREFETCH commits nothing (no pager VMO in this model).
                    sys::VMO_OP_COMMIT => self.m.commit(obj, offset, size),
                    sys::VMO_OP_LOCK | sys::VMO_OP_TRY_LOCK => self.m.lock(obj),
                    sys::VMO_OP_UNLOCK => self.m.unlock(obj),
                    sys::VMO_OP_DECOMMIT | sys::VMO_OP_ZERO => self.m.punch(obj, offset, size),
                    _ => {}
                }
            }
            Args::GetSize { .. } if e == OK && normal => {
                let sizes = self.sizes_of(obj.expect("a VMO"));
                if !sizes.contains(&out.size) {
                    return Err(format!("GET_SIZE gave {:#x}, model {sizes:x?}", out.size));
                }
            }
            Args::GetInfo { .. } if e == OK && normal => {
                let info = out.info.expect("info");
                self.check_info(obj.expect("a handle"), rights, &info)?;
            }
            Args::EventCreate { .. } if e == OK => {
                new_handle(&self.m, out.out)?;
                let id = self.m.new_event();
                self.m.add_handle(out.out, id, DEFAULT_EVENT);
            }
            _ => {}
        }
        Ok(())
    }

    fn check_info(&mut self, obj: ObjId, rights: u32, info: &sys::vmo_info) -> Result<(), String> {
        let o = self.m.obj(obj);
        let mismatch = |what: &str, got: u64, want: String| {
            Err(format!("GET_INFO {what} is {got:#x}, model {want}"))
        };
        if info.rights != rights {
            return mismatch("rights", info.rights.into(), format!("{rights:#x}"));
        }
        if o.kind == Kind::Event {
            if info.type_ != sys::VMO_OBJ_TYPE_EVENT {
                return mismatch("type", info.type_.into(), "EVENT".into());
            }
            let rest = [
                u64::from(info.flags),
                info.size,
                info.committed_bytes,
                info.num_children.into(),
                info.parent_koid,
            ];
            if rest != [0; 5] {
                return Err(format!("GET_INFO of an event has VMO fields set: {info:?}"));
            }
        } else {
            if info.type_ != sys::VMO_OBJ_TYPE_VMO {
                return mismatch("type", info.type_.into(), "VMO".into());
            }
            let mut flags = sys::VMO_INFO_FLAG_TYPE_PAGED | sys::VMO_INFO_FLAG_VIA_HANDLE;
            if o.resizable {
                flags |= sys::VMO_INFO_FLAG_RESIZABLE;
            }
            if o.discardable {
                flags |= sys::VMO_INFO_FLAG_DISCARDABLE;
            }
            match o.kind {
                Kind::Snapshot => flags |= sys::VMO_INFO_FLAG_IS_COW_CLONE,
                Kind::Slice => flags |= sys::VMO_INFO_FLAG_SLICE,
                _ => {}
            }
            if info.flags != flags {
                return mismatch("flags", info.flags.into(), format!("{flags:#x}"));
            }
            let sizes = self.sizes_of(obj);
            if !sizes.contains(&info.size) {
                return mismatch("size", info.size, format!("{sizes:x?}"));
            }
            let c = info.committed_bytes;
            if o.kind == Kind::Slice {
                if c != 0 {
                    return mismatch("committed_bytes of a slice", c, "0".into());
                }
            } else if let Some((lo, hi)) = self.m.committed_bounds(obj) {
                if c < lo || c > hi {
                    return mismatch("committed_bytes", c, format!("{lo:#x}..={hi:#x}"));
                }
            } else if c % pg() != 0 || c > sizes.iter().copied().max().unwrap_or(0) {
                return mismatch("committed_bytes", c, "a page multiple within the size".into());
            }
            // A forked reader may hold closed children alive (`mapping::FORKS_STARTED`).
            let extra_ok = self.fork_overlapped && info.num_children > o.children;
            if o.pool_slot.is_none() && info.num_children != o.children && !extra_ok {
                return mismatch("num_children", info.num_children.into(), o.children.to_string());
            }
            match o.parent_koid {
                Some(k) if k != info.parent_koid => {
                    return mismatch("parent_koid", info.parent_koid, k.to_string());
                }
                Some(_) => {}
                None => {
                    self.m.objs.get_mut(&obj).expect("live").parent_koid = Some(info.parent_koid)
                }
            }
        }
        let o = self.m.obj(obj);
        match o.koid {
            Some(k) if k != info.koid => mismatch("koid", info.koid, k.to_string()),
            Some(_) => Ok(()),
            None => {
                if let Some((&other, _)) =
                    self.m.objs.iter().find(|(_, x)| x.koid == Some(info.koid))
                {
                    return Err(format!(
                        "GET_INFO koid {} is also model object {other}'s",
                        info.koid
                    ));
                }
                self.m.objs.get_mut(&obj).expect("live").koid = Some(info.koid);
                Ok(())
            }
        }
    }
}

/// Whether this process has `CAP_SYS_ADMIN` (the module's ambient policy for
/// `VMO_IOC_REPLACE_AS_EXECUTABLE` with vmex 0): bit 21 of `CapEff` in
/// `/proc/self/status`, read once.
fn has_cap_sys_admin() -> bool {
    static CAP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << 21) != 0)
    })
}

/// The device path the run uses (set once by `main`).
pub fn dev_path() -> std::path::PathBuf {
    DEV_PATH.get().cloned().unwrap_or_else(|| Device::DEFAULT_PATH.into())
}

/// The device path, set by `main` before any worker starts.
pub static DEV_PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_values_are_never_handed_out() {
        // The two low bits, which every handle value has set, are never both set.
        let mut r = Rng::new(3);
        for _ in 0..1000 {
            let v = loop {
                let v = r.next_u32();
                if v & 3 != 3 {
                    break v;
                }
            };
            assert!(v & 3 != 3);
        }
    }
}

/// A kernel address: a LOCK buffer there is EFAULT.
const KERNEL_ADDR: u64 = 0xffff_ffff_ffff_0000;

thread_local! {
    /// The buffer LOCKs of this thread write their `vmo_lock_state` to.
    static LOCK_BUF: std::cell::UnsafeCell<[u64; 8]> = const { std::cell::UnsafeCell::new([0; 8]) };
}

/// The address of this thread's [`LOCK_BUF`] (stable for the thread's life).
fn lock_buf_addr() -> u64 {
    LOCK_BUF.with(|b| b.get() as u64)
}
