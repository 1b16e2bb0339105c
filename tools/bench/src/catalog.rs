//! What is measured: the ops, the native counterparts each is compared with,
//! and the sizes.
//!
//! The names here are the `op` and `side` strings of the `@@bench` lines; the
//! guest program measures exactly these, and the report lays its tables out
//! in this order (an op it does not know still gets a table, after these).
//!
//! Most native counterparts are system calls and exist on every
//! architecture; the cache ops' are user-space loops of the architecture's
//! own instructions (`clwb`/`clflushopt` on x86-64, `dc cvac`/`dc civac` on
//! aarch64), so each [`Native`] names the architecture it runs on and a run
//! measures, and its report shows, only those of its own.
//!
//! [`fuchsia`] holds the second catalog: Fuchsia's own VMO microbenchmarks,
//! under Fuchsia's names, each beside its Linux counterpart.

pub mod fuchsia;

/// 1 KiB.
pub const KIB: u64 = 1 << 10;
/// 1 MiB.
pub const MIB: u64 = 1 << 20;
/// 1 GiB.
pub const GIB: u64 = 1 << 30;
/// 1 TiB.
pub const TIB: u64 = 1 << 40;

/// The sizes of a full run.
pub const SIZES: [u64; 5] = [4 * KIB, 64 * KIB, 2 * MIB, 64 * MIB, 256 * MIB];

/// The sizes of `--quick`.
pub const QUICK_SIZES: [u64; 3] = [4 * KIB, 64 * KIB, 2 * MIB];

/// The side name of the VMO figure; every other side is a baseline.
pub const VMO: &str = "vmo";

/// Where the unaligned ZERO starts, and how much it leaves out at the end.
pub const UNALIGNED_MARGIN: u64 = 100;

/// Committed pages of the sparse cache-op figure.
pub const SPARSE_PAGES: u64 = 64;

/// Pages touched once each by the page-fault figure.
pub const FAULT_PAGES: u64 = 1024;

/// The sizes of the pager page-in figures ([`OpKind::PageIn`]): 64 KiB to
/// 64 MiB, where the pager's target applies.
pub const PAGER_SIZES: [u64; 4] = [64 * KIB, MIB, 16 * MIB, 64 * MIB];

/// The pager fault-latency figure faults one page in every this many of its
/// mapping ([`FAULT_PAGES`] faults over a mapping this many times larger), in
/// a scattered order, so that each fault finds its page absent even where the
/// pager or the kernel reads ahead around sequential faults.
pub const PAGER_FAULT_STRIDE: u64 = 16;

/// The sizes of the reclaim figures ([`OpKind::Reclaim`]): the memory each
/// run makes reclaimable and then reclaims.
pub const RECLAIM_SIZES: [u64; 2] = [16 * MIB, 64 * MIB];

/// The size of each discardable VMO of the reclaim figure: a run of N MiB
/// makes N / 1 MiB of them (the shrinker discards whole VMOs).
pub const RECLAIM_VMO_SIZE: u64 = MIB;

/// The sizes of the refault figure ([`OpKind::Refault`]): the pager-backed
/// VMO read, evicted and read again (those of the page-in figures).
pub const REFAULT_SIZES: [u64; 4] = PAGER_SIZES;

/// Reads of [`THREAD_READ_SIZE`] bytes each thread makes per sample of the
/// thread figures.
pub const THREAD_READS: u64 = 1024;

/// The bytes of one read of the thread figures.
pub const THREAD_READ_SIZE: u64 = 4 * KIB;

/// How an op's figures are taken and judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Over [`SIZES`]: ratio targets and the per-byte check apply.
    Sweep,
    /// One call with size 0 (the fixed cost of a call): the small-size ratio
    /// target applies.
    PerCall,
    /// The sparse cache op: a 1 TiB VMO with [`SPARSE_PAGES`] committed pages
    /// against a VMO of just those pages; the ratio must stay within the
    /// sparse target.
    Sparse,
    /// First-touch page faults over a fresh mapping of [`FAULT_PAGES`]
    /// pages: each sample is the time of the whole run divided by the pages
    /// (the time per fault); the size column is the mapped bytes. Both sides
    /// take shmem's fault path, so the large-size ratio target applies.
    PerFault,
    /// Over [`SIZES`], a cost that must not follow the size (creating a
    /// copy-on-write snapshot): each size against the same op at 4 KiB; the
    /// size-free target applies, no per-byte check.
    SizeFree,
    /// As [`OpKind::PerFault`], for the first write to a page a snapshot
    /// shares with its parent (the copy): the copy-fault target applies.
    CopyFault,
    /// Per page over [`FAULT_PAGES`] pages, like [`OpKind::PerFault`], with
    /// no target: a figure shown beside another (a copy's own cost).
    PerPage,
    /// Over [`PAGER_SIZES`]: a whole read of a pager-backed VMO whose pages a
    /// pager thread supplies as they are asked for, against userfaultfd
    /// serving the same pages of a shmem mapping; the records carry the
    /// requests each run sent. The page-in target applies, no per-byte check.
    PageIn,
    /// One sample per fault: [`FAULT_PAGES`] faults, each on an absent page,
    /// each timed alone (the figure is their median), served by the pager
    /// thread or by a userfaultfd handler thread; the page-in target applies.
    PagerFault,
    /// N threads of one process, released together, each making
    /// [`THREAD_READS`] reads of [`THREAD_READ_SIZE`] bytes from its own
    /// object; a sample is the time from the first thread's start to the
    /// last one's end divided by all the reads (the inverse of the
    /// process's throughput). The size column is the bytes of one read; the
    /// thread-scaling target applies.
    Threads,
    /// Over [`RECLAIM_SIZES`]: the time from the start of a cgroup's
    /// proactive reclaim (`memory.reclaim`) until the cgroup's usage
    /// (`memory.current`) has dropped by the size, the size being unlocked
    /// discardable VMOs (VMO side) or clean page cache (native side); the
    /// report adds the throughput (MiB/s). No target: figures only.
    Reclaim,
    /// Over [`REFAULT_SIZES`]: a whole read of a pager-backed VMO whose pages
    /// were all supplied once and then evicted (the pager supplies them
    /// again), against the first read of a new one; the refault target
    /// applies, no per-byte check.
    Refault,
}

/// Architecture name (as `std::env::consts::ARCH` spells it): x86-64.
pub const X86_64: &str = "x86_64";
/// Architecture name (as `std::env::consts::ARCH` spells it): arm64.
pub const AARCH64: &str = "aarch64";

/// One native counterpart of an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Native {
    /// The `side` name of its records.
    pub side: &'static str,
    /// What it runs, for the report.
    pub desc: &'static str,
    /// The one architecture it exists on ([`X86_64`], [`AARCH64`]), or
    /// `None` for every architecture.
    pub arch: Option<&'static str>,
}

impl Native {
    /// A counterpart that exists on every architecture.
    const fn any(side: &'static str, desc: &'static str) -> Native {
        Native { side, desc, arch: None }
    }

    /// A counterpart that exists on `arch` only.
    const fn on(arch: &'static str, side: &'static str, desc: &'static str) -> Native {
        Native { side, desc, arch: Some(arch) }
    }

    /// Whether it exists on `arch`.
    pub fn runs_on(&self, arch: &str) -> bool {
        self.arch.is_none_or(|a| a == arch)
    }
}

/// One op of the benchmark.
#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    /// The `op` name of the records.
    pub name: &'static str,
    /// How it is measured and judged.
    pub kind: OpKind,
    /// What the VMO side runs, for the report.
    pub vmo: &'static str,
    /// The baselines of every architecture, in the report's column order.
    pub natives: &'static [Native],
    /// Whether `--quick` measures it.
    pub quick: bool,
}

impl OpInfo {
    /// The baselines that exist on `arch`, in order.
    pub fn natives_on<'a>(&'a self, arch: &'a str) -> impl Iterator<Item = &'a Native> {
        self.natives.iter().filter(move |n| n.runs_on(arch))
    }

    /// The baseline called `side`, on whichever architecture.
    pub fn native(&self, side: &str) -> Option<&Native> {
        self.natives.iter().find(|n| n.side == side)
    }
}

/// Native side: `fallocate(memfd, 0, 0, size)`.
pub const FALLOCATE: &str = "fallocate";
/// Native side: `madvise(MADV_POPULATE_WRITE)` on a shared memfd mapping.
pub const MADV_POPULATE_WRITE: &str = "madv_populate_write";
/// Native side: `fallocate(PUNCH_HOLE | KEEP_SIZE)`.
pub const PUNCH_HOLE: &str = "punch_hole";
/// Native side: `madvise(MADV_REMOVE)` on a shared memfd mapping.
pub const MADV_REMOVE: &str = "madv_remove";
/// Native side: `pwrite` of zeros.
pub const PWRITE: &str = "pwrite";
/// Native side (x86-64): a user-space `clwb` loop and `sfence`.
pub const CLWB: &str = "clwb";
/// Native side (x86-64): a user-space `clflushopt` loop and `sfence`.
pub const CLFLUSHOPT: &str = "clflushopt";
/// Native side (aarch64): a user-space `dc cvac` loop and `dsb sy`.
pub const DC_CVAC: &str = "dc_cvac";
/// Native side (aarch64): a user-space `dc civac` loop and `dsb sy`.
pub const DC_CIVAC: &str = "dc_civac";
/// Native side: `madvise(addr, 0, MADV_NORMAL)`.
pub const MADV_NORMAL: &str = "madv_normal";
/// Floor beside the per-call figure: an ioctl number `/dev/vmo` does not know (the system
/// call, the VFS and the module's dispatch, which answers `ENOTTY`).
pub const IOCTL_VMO_ENOTTY: &str = "ioctl_vmo_enotty";
/// Floor beside the per-call figure: the same ioctl on `/dev/null`, which has no ioctl
/// handler (the system call and the VFS, which answers `ENOTTY`).
pub const IOCTL_NULL_ENOTTY: &str = "ioctl_null_enotty";
/// Native side: `madvise(addr, 0, MADV_NORMAL)` twice (the floor of a pair of calls).
pub const MADV_NORMAL_X2: &str = "madv_normal_x2";
/// Baseline of the sparse op: the same cache op over a VMO of just the
/// committed pages.
pub const VMO_64_PAGES: &str = "vmo_64_pages";
/// Native side of the page-fault figure: the same touches on a `MAP_SHARED`
/// mapping of a new memfd.
pub const MEMFD_FAULT: &str = "memfd_fault";
/// Baseline of the snapshot-creation figure: the same at 4 KiB.
pub const VMO_4KIB: &str = "vmo_4kib";
/// Native side of the copy-on-write fault figure: Linux's own copy-on-write
/// fault, on a `MAP_PRIVATE` mapping of a memfd.
pub const MEMFD_PRIVATE_FAULT: &str = "memfd_private_fault";
/// Baseline of the copy-on-write `write`: the same writes into pages the
/// child already holds.
pub const VMO_OWNED: &str = "vmo_owned";
/// Baseline of the snapshot read: the same read of the parent.
pub const VMO_PARENT: &str = "vmo_parent";
/// Native side of the pager figures: userfaultfd on a `MAP_SHARED` memfd
/// mapping registered `UFFDIO_REGISTER_MODE_MISSING`, a handler thread
/// answering each fault with `UFFDIO_COPY` of the page from a source buffer.
pub const UFFD_COPY: &str = "uffd_copy";
/// Native side of the pager figures: userfaultfd `UFFDIO_REGISTER_MODE_MINOR`
/// on a `MAP_SHARED` mapping of a memfd whose page cache is already filled
/// (`pwrite`), a handler thread answering each fault with `UFFDIO_CONTINUE`.
pub const UFFD_CONTINUE: &str = "uffd_continue";
/// Baseline of the thread figures: each thread reads its own VMO through
/// its own `/dev/vmo` table.
pub const VMO_TABLES: &str = "vmo_tables";
/// Native side of the thread figures: each thread `pread`s its own memfd.
pub const MEMFD_PREAD: &str = "memfd_pread";
/// Native side of the reclaim figure: clean page cache (a block device read
/// once), reclaimed by the same `memory.reclaim`.
pub const PAGE_CACHE: &str = "page_cache";
/// Native side of the reclaim figure: [`PAGE_CACHE`] read with read-ahead
/// off, so that it is cached in single-page folios.
pub const PAGE_CACHE_4K: &str = "page_cache_4k";
/// Baseline of the refault figure: the first page-in of the same pages (a
/// whole read of a new pager-backed VMO).
pub const VMO_FIRST_READ: &str = "vmo_first_read";

/// Op name: `ZX_VMO_OP_COMMIT`.
pub const COMMIT: &str = "COMMIT";
/// Op name: `ZX_VMO_OP_DECOMMIT` of a committed range.
pub const DECOMMIT: &str = "DECOMMIT";
/// Op name: `ZX_VMO_OP_ZERO` of whole committed pages.
pub const ZERO: &str = "ZERO";
/// Op name: `ZX_VMO_OP_ZERO` of `[100, size - 100)` of committed pages.
pub const ZERO_UNALIGNED: &str = "ZERO_UNALIGNED";
/// Op name: `ZX_VMO_OP_CACHE_CLEAN` of a dirty committed range.
pub const CACHE_CLEAN: &str = "CACHE_CLEAN";
/// Op name: `ZX_VMO_OP_CACHE_CLEAN_INVALIDATE` of a dirty committed range.
pub const CACHE_CLEAN_INVALIDATE: &str = "CACHE_CLEAN_INVALIDATE";
/// Op name: `op_range(COMMIT, 0, 0)`, the fixed cost of one call.
pub const COMMIT_SIZE0: &str = "COMMIT_SIZE0";
/// Op name: `ZX_VMO_OP_LOCK` then `ZX_VMO_OP_UNLOCK` of a discardable VMO.
pub const LOCK_UNLOCK: &str = "LOCK_UNLOCK";
/// Op name: `CACHE_CLEAN` over a 1 TiB VMO with 64 committed pages.
pub const CACHE_CLEAN_SPARSE: &str = "CACHE_CLEAN_SPARSE_1TIB";
/// Op name: the first-touch write fault of a page of a mapped VMO, against
/// the same on a mapped memfd (time per fault).
pub const PAGE_FAULT: &str = "PAGE_FAULT";
/// Op name: `create_child(SNAPSHOT)` of a VMO whose every byte was written.
pub const SNAPSHOT: &str = "SNAPSHOT";
/// Op name: the first write fault on each page of a mapping of a snapshot
/// that still shares every page with its parent (time per fault).
pub const COW_WRITE_FAULT: &str = "COW_WRITE_FAULT";
/// Op name: a one-byte `zx_vmo_write` into each page of a snapshot that
/// still shares every page with its parent (time per page).
pub const COW_WRITE: &str = "COW_WRITE";
/// Op name: `zx_vmo_read` of a whole snapshot none of whose pages was
/// written (every page read through to the parent).
pub const COW_READ: &str = "COW_READ";
/// Op name: one thread reading its own VMO through the process's one
/// `/dev/vmo` table.
pub const THREADS_1: &str = "THREADS_1";
/// Op name: two threads of one process, each reading its own VMO, both
/// through the process's one `/dev/vmo` table.
pub const THREADS_2: &str = "THREADS_2";

/// Op name: the cgroup's proactive reclaim of unlocked discardable VMOs
/// (the `vmo-discard` shrinker), against the same of clean page cache.
pub const RECLAIM: &str = "RECLAIM";
/// Op name: a whole read of a pager-backed VMO whose clean pages were
/// evicted (the `vmo-pager` shrinker), against its first page-in.
pub const PAGER_REFAULT: &str = "PAGER_REFAULT";

/// The threads of a thread figure.
pub fn threads_of(op: &str) -> Option<usize> {
    match op {
        THREADS_1 => Some(1),
        THREADS_2 => Some(2),
        _ => None,
    }
}

/// The sides of the thread figures.
const THREAD_SIDES: &[Native] = &[
    Native::any(
        VMO_TABLES,
        "the same reads, each thread through its own `/dev/vmo` table (one `open` each)",
    ),
    Native::any(MEMFD_PREAD, "the same reads with `pread`, each thread from its own memfd"),
];

/// Op name: `zx_vmo_read` of the whole of a new pager-backed VMO, every
/// page supplied by a pager thread on request.
pub const PAGER_READ: &str = "PAGER_READ";
/// Op name: a sequential read of the whole of a mapping of a new
/// pager-backed VMO, every page supplied by a pager thread on request.
pub const PAGER_MAP_READ: &str = "PAGER_MAP_READ";
/// Op name: [`PAGER_MAP_READ`] through mappings advised `MADV_SEQUENTIAL`
/// (on every side), where the pager may read ahead.
pub const PAGER_MAP_READ_SEQ: &str = "PAGER_MAP_READ_SEQ";
/// Op name: one read fault on an absent page of a mapped pager-backed VMO,
/// served by a pager thread (time per fault, each timed alone).
pub const PAGER_FAULT: &str = "PAGER_FAULT";

/// The userfaultfd baselines of the pager figures.
const UFFD_NATIVES: &[Native] = &[
    Native::any(
        UFFD_COPY,
        "the same read of a `MAP_SHARED` mapping of a new memfd (shmem) registered with \
         userfaultfd in `MISSING` mode; a handler thread of the same process reads each fault \
         message and answers it with `UFFDIO_COPY` of that page from a source buffer written \
         beforehand (one page per fault)",
    ),
    Native::any(
        UFFD_CONTINUE,
        "the same read of a `MAP_SHARED` mapping of a memfd whose every page is already in the \
         page cache (`pwrite` beforehand), registered in `MINOR` mode; the handler thread \
         answers each fault with `UFFDIO_CONTINUE` of that page, which maps the cached page \
         (one page per fault)",
    ),
];

/// Every op, in the order of the report.
pub const OPS: &[OpInfo] = &[
    OpInfo {
        name: COMMIT,
        kind: OpKind::Sweep,
        vmo: "`op_range(COMMIT, 0, size)` on a new VMO",
        natives: &[
            Native::any(FALLOCATE, "`fallocate(fd, 0, 0, size)` on a new memfd of that size"),
            Native::any(
                MADV_POPULATE_WRITE,
                "`madvise(MADV_POPULATE_WRITE)` over a `MAP_SHARED` mapping of a new memfd \
                 (this also zeroes and maps the pages, which COMMIT leaves for later)",
            ),
        ],
        quick: true,
    },
    OpInfo {
        name: DECOMMIT,
        kind: OpKind::Sweep,
        vmo: "`op_range(DECOMMIT, 0, size)` of a committed VMO",
        natives: &[
            Native::any(PUNCH_HOLE, "`fallocate(PUNCH_HOLE | KEEP_SIZE)` of a fallocated memfd"),
            Native::any(
                MADV_REMOVE,
                "`madvise(MADV_REMOVE)` over a `MAP_SHARED` mapping of a fallocated memfd",
            ),
        ],
        quick: true,
    },
    OpInfo {
        name: ZERO,
        kind: OpKind::Sweep,
        vmo: "`op_range(ZERO, 0, size)` of a committed VMO (whole pages)",
        natives: &[Native::any(
            MADV_REMOVE,
            "`madvise(MADV_REMOVE)` over a `MAP_SHARED` mapping of a fallocated memfd",
        )],
        quick: true,
    },
    OpInfo {
        name: ZERO_UNALIGNED,
        kind: OpKind::Sweep,
        vmo: "`op_range(ZERO, 100, size - 200)` of a committed VMO",
        natives: &[Native::any(
            PWRITE,
            "`pwrite` of zeros over the same range of a fallocated memfd",
        )],
        quick: false,
    },
    OpInfo {
        name: CACHE_CLEAN,
        kind: OpKind::Sweep,
        vmo: "`op_range(CACHE_CLEAN, 0, size)` of a VMO whose every byte was written",
        natives: &[
            Native::on(
                X86_64,
                CLWB,
                "a user-space `clwb` per cache line (`clflush size` bytes) then `sfence`, \
                 through a `MAP_SHARED` mapping of a memfd whose every byte was written",
            ),
            Native::on(
                AARCH64,
                DC_CVAC,
                "a user-space (EL0) `dc cvac` (clean to the point of coherency) per \
                 data-cache line (`4 << CTR_EL0.DminLine` bytes, as the module steps) then \
                 `dsb sy`, through a `MAP_SHARED` mapping of a memfd whose every byte was \
                 written",
            ),
        ],
        quick: false,
    },
    OpInfo {
        name: CACHE_CLEAN_INVALIDATE,
        kind: OpKind::Sweep,
        vmo: "`op_range(CACHE_CLEAN_INVALIDATE, 0, size)` of a VMO whose every byte was written",
        natives: &[
            Native::on(
                X86_64,
                CLFLUSHOPT,
                "a user-space `clflushopt` per cache line (`clflush size` bytes) then \
                 `sfence`, through a `MAP_SHARED` mapping of a memfd whose every byte was \
                 written",
            ),
            Native::on(
                AARCH64,
                DC_CIVAC,
                "a user-space (EL0) `dc civac` (clean and invalidate to the point of \
                 coherency) per data-cache line (`4 << CTR_EL0.DminLine` bytes, as the module \
                 steps) then `dsb sy`, through a `MAP_SHARED` mapping of a memfd whose every \
                 byte was written",
            ),
        ],
        quick: false,
    },
    OpInfo {
        name: COMMIT_SIZE0,
        kind: OpKind::PerCall,
        vmo: "`op_range(COMMIT, 0, 0)` (the fixed cost of one call)",
        natives: &[
            Native::any(
                MADV_NORMAL,
                "`madvise(addr, 0, MADV_NORMAL)` (the fixed cost of a syscall)",
            ),
            Native::any(
                IOCTL_VMO_ENOTTY,
                "an ioctl number `/dev/vmo` does not know: the system call, the VFS's ioctl path \
                 and the module's dispatch (`ENOTTY`), the floor of any ioctl of the module",
            ),
            Native::any(
                IOCTL_NULL_ENOTTY,
                "the same ioctl on `/dev/null`, which has no ioctl handler: the system call and \
                 the VFS's ioctl path (`ENOTTY`)",
            ),
        ],
        quick: false,
    },
    OpInfo {
        name: LOCK_UNLOCK,
        kind: OpKind::PerCall,
        vmo: "`op_range(LOCK)` (the lock state written to a buffer) then `op_range(UNLOCK)` of a \
              one-page discardable VMO: a pair of calls",
        natives: &[Native::any(
            MADV_NORMAL_X2,
            "`madvise(addr, 0, MADV_NORMAL)` twice (the fixed cost of two syscalls)",
        )],
        quick: false,
    },
    OpInfo {
        name: CACHE_CLEAN_SPARSE,
        kind: OpKind::Sparse,
        vmo: "`op_range(CACHE_CLEAN, 0, 1 TiB)` of a 1 TiB VMO with 64 written pages spread \
              over it (size column: the committed bytes)",
        natives: &[Native::any(
            VMO_64_PAGES,
            "`op_range(CACHE_CLEAN)` of a 64-page VMO, every page written",
        )],
        quick: false,
    },
    OpInfo {
        name: PAGE_FAULT,
        kind: OpKind::PerFault,
        vmo: "a one-byte write to each page of a new VMO mapped `MAP_SHARED` through its \
              exported fd (`Vmo::map`), i.e. one first-touch write fault per page; cells are \
              the time per fault (the run / 1024 pages)",
        natives: &[Native::any(
            MEMFD_FAULT,
            "the same writes to a `MAP_SHARED` mapping of a new memfd of the same size",
        )],
        quick: false,
    },
    OpInfo {
        name: SNAPSHOT,
        kind: OpKind::SizeFree,
        vmo: "`create_child(SNAPSHOT, 0, size)` of a VMO whose every byte was written (the \
              creation only; the child is closed untimed). Nothing is copied: the cost must not \
              follow the committed size",
        natives: &[Native::any(
            VMO_4KIB,
            "the same creation of a snapshot of a 4 KiB VMO, written (the ratio is the size \
             column's cost against the smallest's)",
        )],
        quick: false,
    },
    OpInfo {
        name: COW_WRITE_FAULT,
        kind: OpKind::CopyFault,
        vmo: "a one-byte write to each page of a `MAP_SHARED` mapping of a SNAPSHOT child of a \
              VMO whose every byte was written: each first write fault copies the parent's page \
              into the child (cells: time per fault)",
        natives: &[Native::any(
            MEMFD_PRIVATE_FAULT,
            "the same writes to a `MAP_PRIVATE` mapping of a memfd whose every byte was \
             written: Linux's own copy-on-write fault (a new anonymous page, copied)",
        )],
        quick: false,
    },
    OpInfo {
        name: COW_WRITE,
        kind: OpKind::PerPage,
        vmo: "a one-byte `zx_vmo_write` into each page of a SNAPSHOT child that still shares \
              every page with its written parent: each write copies the page first (cells: time \
              per page)",
        natives: &[Native::any(
            VMO_OWNED,
            "the same writes into a snapshot that already holds every page (the difference is \
             the copy's own cost; no target)",
        )],
        quick: false,
    },
    OpInfo {
        name: COW_READ,
        kind: OpKind::Sweep,
        vmo: "`zx_vmo_read` of the whole of a SNAPSHOT child none of whose pages was written \
              (every page is read through to its written parent; nothing is copied)",
        natives: &[Native::any(VMO_PARENT, "the same read of the parent")],
        quick: false,
    },
    OpInfo {
        name: PAGER_READ,
        kind: OpKind::PageIn,
        vmo: "`zx_vmo_read` (`Vmo::read`) of the whole of a new pager-backed VMO \
              (`Pager::create_vmo`) into a buffer; a pager thread answers each READ packet with \
              `supply_pages` of the requested range from an aux VMO written beforehand (the \
              supply copies the pages and decommits the aux range: that is timed; writing the \
              aux VMO is not). The userfaultfd sides cannot see a read syscall: they are the \
              `memcpy` of the mapped row",
        natives: UFFD_NATIVES,
        quick: false,
    },
    OpInfo {
        name: PAGER_MAP_READ,
        kind: OpKind::PageIn,
        vmo: "a `memcpy` of the whole of a read-only mapping (`Vmo::map`) of a new pager-backed \
              VMO into a buffer, front to back; each fault on an absent page waits for the pager \
              thread, which answers READ packets as in PAGER_READ",
        natives: UFFD_NATIVES,
        quick: false,
    },
    OpInfo {
        name: PAGER_MAP_READ_SEQ,
        kind: OpKind::PageIn,
        vmo: "PAGER_MAP_READ through a mapping advised `madvise(MADV_SEQUENTIAL)` (untimed), on \
              which the module reads ahead: a fault may ask the pager for the pages after its \
              own too. The userfaultfd mappings get the same advice (their handler still serves \
              one page per fault)",
        natives: UFFD_NATIVES,
        quick: false,
    },
    OpInfo {
        name: PAGER_FAULT,
        kind: OpKind::PagerFault,
        vmo: "one read fault on an absent page of a mapping of a new pager-backed VMO, served by \
              the pager thread (READ packet, `supply_pages` of the range asked for): 1024 faults, \
              one page in every 16 of a 64 MiB mapping in a scattered order, each timed alone; \
              cells are the median fault (size: the 1024 pages faulted)",
        natives: &[
            Native::any(
                UFFD_COPY,
                "one read fault on a page of a memfd mapping registered in userfaultfd `MISSING` \
                 mode, answered by the handler thread with `UFFDIO_COPY` of the page; the same \
                 pages in the same order",
            ),
            Native::any(
                UFFD_CONTINUE,
                "one read fault on a cached page of a memfd mapping registered in `MINOR` mode, \
                 answered with `UFFDIO_CONTINUE`; the same pages in the same order",
            ),
        ],
        quick: false,
    },
    OpInfo {
        name: THREADS_1,
        kind: OpKind::Threads,
        vmo: "one thread: 1024 `zx_vmo_read`s of 4 KiB from its own written VMO through the \
              process's `/dev/vmo` table (cells: time per read)",
        natives: THREAD_SIDES,
        quick: false,
    },
    OpInfo {
        name: THREADS_2,
        kind: OpKind::Threads,
        vmo: "two threads released together, each making 1024 `zx_vmo_read`s of 4 KiB from its \
              own written VMO, both through the process's one `/dev/vmo` table (cells: the time \
              from the first start to the last end over all 2048 reads, the inverse of \
              throughput)",
        natives: THREAD_SIDES,
        quick: false,
    },
    OpInfo {
        name: RECLAIM,
        kind: OpKind::Reclaim,
        vmo: "the benchmark in a memory cgroup of its own (`memory.swap.max` 0) creates N MiB of \
              1 MiB discardable VMOs, locks, writes and unlocks each (untimed); timed: writing N \
              MiB to the cgroup's `memory.reclaim` (the `vmo-discard` shrinker discards the VMOs, \
              and the module's worker punches their files asynchronously) until `memory.current` \
              has dropped by N MiB, less one memcg charge batch (64 pages) per CPU (polled every \
              50 µs; `memory.reclaim` is written again if the drop stalls)",
        natives: &[
            Native::any(
                PAGE_CACHE,
                "the same with N MiB of clean page cache: a `pread` of N MiB of a zram block \
                 device (written and flushed beforehand) by the benchmark in the same kind of \
                 cgroup, then the same timed `memory.reclaim` until `memory.current` has dropped \
                 by N MiB (read-ahead reads the device into large folios)",
            ),
            Native::any(
                PAGE_CACHE_4K,
                "the same with read-ahead off (`POSIX_FADV_RANDOM` before the `pread`): the page \
                 cache is read into single-page folios, as the VMOs' shmem pages are",
            ),
        ],
        quick: false,
    },
    OpInfo {
        name: PAGER_REFAULT,
        kind: OpKind::Refault,
        vmo: "`zx_vmo_read` of the whole of a pager-backed VMO whose pages were all read once \
              (supplied by the pager thread) and then evicted by the `vmo-pager` shrinker \
              (`drop_caches` 2, until the VMO's committed bytes are 0 and its fdinfo counts every \
              page evicted; untimed): the pager thread supplies every page again",
        natives: &[Native::any(
            VMO_FIRST_READ,
            "the first page-in: the same read of a new pager-backed VMO, the same pager thread \
             (after the same untimed `drop_caches` 2)",
        )],
        quick: false,
    },
];

/// The op called `name`, if it is one of [`OPS`].
pub fn op_info(name: &str) -> Option<&'static OpInfo> {
    OPS.iter().find(|o| o.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for (i, o) in OPS.iter().enumerate() {
            assert!(OPS[..i].iter().all(|p| p.name != o.name), "{} twice", o.name);
            assert_eq!(op_info(o.name).map(|p| p.name), Some(o.name));
            for arch in [X86_64, AARCH64] {
                let sides: Vec<&str> = o.natives_on(arch).map(|n| n.side).collect();
                assert!(!sides.is_empty(), "{} has no baseline on {arch}", o.name);
                assert!(sides.iter().all(|side| *side != VMO));
                for (j, side) in sides.iter().enumerate() {
                    assert!(!sides[..j].contains(side), "{} {side} twice on {arch}", o.name);
                }
            }
            for n in o.natives {
                assert_eq!(o.native(n.side), Some(n));
                assert!(!n.desc.is_empty());
            }
        }
        assert!(op_info("NOPE").is_none());
    }

    #[test]
    fn the_cache_baselines_are_per_architecture() {
        let sides = |op: &str, arch: &str| -> Vec<&str> {
            op_info(op).unwrap().natives_on(arch).map(|n| n.side).collect()
        };
        assert_eq!(sides(CACHE_CLEAN, X86_64), [CLWB]);
        assert_eq!(sides(CACHE_CLEAN, AARCH64), [DC_CVAC]);
        assert_eq!(sides(CACHE_CLEAN_INVALIDATE, X86_64), [CLFLUSHOPT]);
        assert_eq!(sides(CACHE_CLEAN_INVALIDATE, AARCH64), [DC_CIVAC]);
        // An architecture with neither: the VMO side alone.
        assert!(sides(CACHE_CLEAN, "riscv64").is_empty());
        // Every other op has the same baselines everywhere.
        for o in OPS.iter().filter(|o| ![CACHE_CLEAN, CACHE_CLEAN_INVALIDATE].contains(&o.name)) {
            assert!(o.natives.iter().all(|n| n.arch.is_none()), "{}", o.name);
            assert_eq!(sides(o.name, X86_64), sides(o.name, AARCH64));
        }
        let cvac = op_info(CACHE_CLEAN).unwrap().native(DC_CVAC).unwrap();
        assert!(cvac.desc.contains("`dc cvac`") && cvac.desc.contains("`dsb sy`"));
        assert!(cvac.desc.contains("CTR_EL0.DminLine"));
        assert!(cvac.desc.ends_with("whose every byte was written"));
        let civac = op_info(CACHE_CLEAN_INVALIDATE).unwrap().native(DC_CIVAC).unwrap();
        assert!(civac.desc.contains("`dc civac`") && civac.desc.contains("`dsb sy`"));
    }

    #[test]
    fn sizes_ascend_and_quick_is_a_subset() {
        assert!(SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(QUICK_SIZES.iter().all(|s| SIZES.contains(s)));
        assert!(SIZES.iter().all(|s| *s > 2 * UNALIGNED_MARGIN));
    }

    #[test]
    fn the_pager_rows_face_both_userfaultfd_modes() {
        for op in [PAGER_READ, PAGER_MAP_READ, PAGER_MAP_READ_SEQ, PAGER_FAULT] {
            let o = op_info(op).unwrap();
            assert_eq!(
                o.natives.iter().map(|n| n.side).collect::<Vec<_>>(),
                [UFFD_COPY, UFFD_CONTINUE]
            );
            assert!(!o.quick);
        }
        assert_eq!(op_info(PAGER_READ).unwrap().kind, OpKind::PageIn);
        assert_eq!(op_info(PAGER_FAULT).unwrap().kind, OpKind::PagerFault);
        assert!(PAGER_SIZES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((PAGER_SIZES[0], PAGER_SIZES[3]), (64 * KIB, 64 * MIB));
    }

    #[test]
    fn the_page_fault_row_is_per_fault() {
        let o = op_info(PAGE_FAULT).unwrap();
        assert_eq!(o.kind, OpKind::PerFault);
        assert_eq!(o.natives.iter().map(|n| n.side).collect::<Vec<_>>(), [MEMFD_FAULT]);
        assert!(o.vmo.contains("1024 pages"));
        assert_eq!(FAULT_PAGES, 1024);
    }

    #[test]
    fn the_reclaim_and_refault_rows() {
        let o = op_info(RECLAIM).unwrap();
        assert_eq!(o.kind, OpKind::Reclaim);
        assert_eq!(
            o.natives.iter().map(|n| n.side).collect::<Vec<_>>(),
            [PAGE_CACHE, PAGE_CACHE_4K]
        );
        assert!(o.vmo.contains("memory.reclaim") && o.vmo.contains("memory.current"));
        assert!(RECLAIM_SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(RECLAIM_SIZES.iter().all(|s| s % RECLAIM_VMO_SIZE == 0));
        let o = op_info(PAGER_REFAULT).unwrap();
        assert_eq!(o.kind, OpKind::Refault);
        assert_eq!(o.natives.iter().map(|n| n.side).collect::<Vec<_>>(), [VMO_FIRST_READ]);
        assert!(o.vmo.contains("evicted"));
        assert!(REFAULT_SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(REFAULT_SIZES.iter().all(|s| PAGER_SIZES.contains(s)));
    }

    #[test]
    fn the_thread_rows_compare_one_table_with_many_and_with_memfds() {
        for (op, n) in [(THREADS_1, 1), (THREADS_2, 2)] {
            let o = op_info(op).unwrap();
            assert_eq!(o.kind, OpKind::Threads);
            assert_eq!(threads_of(op), Some(n));
            let sides: Vec<&str> = o.natives.iter().map(|n| n.side).collect();
            assert_eq!(sides, [VMO_TABLES, MEMFD_PREAD]);
            assert!(o.vmo.contains("1024") && o.vmo.contains("4 KiB"));
        }
        assert_eq!((THREAD_READS, THREAD_READ_SIZE), (1024, 4096));
        assert_eq!(threads_of(COMMIT), None);
    }
}
