//! Fuchsia's own VMO microbenchmarks (`src/tests/microbenchmarks/vmo.cc`),
//! mirrored case by case under Fuchsia's names, each beside its Linux
//! counterpart.
//!
//! Fuchsia's `perftest` runs a case's loop body many times on objects made
//! before the loop. A case that declares steps (`state->DeclareStep`) is
//! reported as one figure per step, named `<case>.<step>`; each step is timed
//! from one `NextStep` (or the start of the run) to the next (or the start
//! of the next run, so the last step includes what the loop body destroys as
//! it ends). A case without steps is one figure: the whole run. The `op` of
//! a record here is that result name (`Vmo/Clone/4kbytes.clone`), so a
//! figure reads against Fuchsia's figure of the same name.
//!
//! Here each timed repetition is one run of the loop body, on the objects
//! Fuchsia makes before its loop (made once per figure, untimed), with the
//! repetitions of the rest of the benchmark ([`Policy`](crate::record::Policy)).
//! The VMO side goes through the `vmo` crate ([`vmo::Vmo`]-shaped calls:
//! `Vmo::create`, `read`, `write`, `create_child`, `map`); the native side
//! does the same with a memfd, or for a clone with the closest Linux
//! equivalent (see each case's baselines).
//!
//! There are no targets: these are figures to compare, not marks.

use super::{KIB, MIB, Native};

/// Fuchsia's sizes (`RegisterVmoTest`): 4, 32, 128, 512 and 2048 KiB.
pub const SIZES: [u64; 5] = [4 * KIB, 32 * KIB, 128 * KIB, 512 * KIB, 2 * MIB];

/// The sizes of `--quick` (of the cases marked [`Case::quick`]).
pub const QUICK_SIZES: [u64; 1] = [4 * KIB];

/// The VMO size of the `Vmo/Clone/MapParent<N>segments` cases: 32 MiB.
pub const SEGMENTS_VMO: u64 = 32 * MIB;

/// Mappings of `Vmo/ManyMappingsReadWriteDecommit` (one page each).
pub const MANY_MAPPINGS: u64 = 8192;

/// Native side: the same calls on a memfd (each case says which).
pub const MEMFD: &str = "memfd";
/// Native side of a clone: a `MAP_PRIVATE` mapping of the parent memfd.
pub const MAP_PRIVATE: &str = "map_private";
/// Native side of a clone: a new memfd filled by `copy_file_range`.
pub const MEMFD_COPY: &str = "memfd_copy";

/// Which sizes a case is run at, and how its name ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizes {
    /// `RegisterVmoTest`: one case per size of [`SIZES`], named
    /// `<name>/<KiB>kbytes`.
    Sweep,
    /// One case of this many bytes, named `<name>/<KiB>kbytes`.
    Bytes(u64),
    /// One case over this many pages, named `<name>/<pages>`.
    Pages(u64),
}

/// How a case maps the parent before cloning it (`VmoCloneTest`'s
/// `map_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentMap {
    /// Not mapped.
    No,
    /// Mapped as one chunk of the whole VMO.
    Whole,
    /// Mapped in chunks of this many bytes.
    Chunks(u64),
}

/// What a case does: the function of `vmo.cc` it mirrors, with its
/// arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `VmoReadOrWriteTest`: one `zx_vmo_read` or `zx_vmo_write` of the
    /// whole VMO.
    ReadWrite {
        /// Write (else read).
        write: bool,
        /// The source buffer maps the kernel's shared zero page.
        zero_page: bool,
    },
    /// `VmoReadOrWriteMapTestImpl`: map, copy, unmap.
    Map {
        /// Copy into the mapping (else out of it).
        write: bool,
        /// `ZX_VM_MAP_RANGE`: fill the page tables at map time.
        range: bool,
        /// Copy with the kernel (`zx_vmo_read`/`zx_vmo_write` of a second
        /// VMO with the mapping as the buffer), else with `memcpy`.
        kernel: bool,
    },
    /// `VmoMemcpyPrecommitTest`: create and map, (commit,) `memcpy` in,
    /// unmap and destroy.
    Memcpy {
        /// Commit and map every page before the `memcpy`.
        precommit: bool,
    },
    /// `VmoCloneTest`: (map the parent,) clone, close, (unmap).
    Clone {
        /// How the parent is mapped first.
        map: ParentMap,
    },
    /// `VmoMapCloneTest`: clone, map the clone, unmap, close.
    MapClone,
    /// `VmoCloneReadOrWriteTest`: clone, read or write, close.
    CloneReadWrite {
        /// Write (else read).
        write: bool,
        /// On the clone (else on the parent).
        clone: bool,
        /// The whole VMO (else one page in every eight).
        all: bool,
    },
    /// `VmoCreateWriteReadCloseTest`.
    CreateWriteReadClose,
    /// `VmoManyMappingsTest`: read, write, decommit one random page of a
    /// VMO mapped one page per mapping.
    ManyMappings,
}

/// One registered case of `vmo.cc` (one per size for a [`Sizes::Sweep`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Case {
    /// Fuchsia's name without the size (`Vmo/Clone/MapParent`).
    pub name: &'static str,
    /// The sizes and how the full name ends.
    pub sizes: Sizes,
    /// Fuchsia's step names, in order; empty for a case of one figure.
    pub steps: &'static [&'static str],
    /// What it does.
    pub body: Body,
    /// What Fuchsia times, and what it makes before the loop.
    pub timed: &'static str,
    /// What the VMO side runs.
    pub vmo: &'static str,
    /// The Linux counterparts (empty: none, and the case says why).
    pub natives: &'static [Native],
    /// Whether `--quick` runs it (at [`QUICK_SIZES`]).
    pub quick: bool,
}

impl Case {
    /// The sizes of a full run, in bytes, for pages of `page` bytes.
    pub fn sizes(&self, page: u64) -> Vec<u64> {
        match self.sizes {
            Sizes::Sweep => SIZES.to_vec(),
            Sizes::Bytes(b) => vec![b],
            Sizes::Pages(n) => vec![n * page],
        }
    }

    /// Fuchsia's test name at `size` bytes (`Vmo/Clone/4kbytes`).
    pub fn test_name(&self, size: u64) -> String {
        match self.sizes {
            Sizes::Sweep | Sizes::Bytes(_) => format!("{}/{}kbytes", self.name, size / KIB),
            Sizes::Pages(n) => format!("{}/{n}", self.name),
        }
    }

    /// Fuchsia's result name of `step` at `size` (`Vmo/Clone/4kbytes.clone`;
    /// the test name for a case without steps).
    pub fn result_name(&self, size: u64, step: Option<&str>) -> String {
        match step {
            Some(s) => format!("{}.{s}", self.test_name(size)),
            None => self.test_name(size),
        }
    }

    /// The steps as they are recorded: each name, or one `None` for a case
    /// without steps.
    pub fn step_names(&self) -> Vec<Option<&'static str>> {
        if self.steps.is_empty() {
            vec![None]
        } else {
            self.steps.iter().map(|s| Some(*s)).collect()
        }
    }

    /// The baselines that exist on `arch`, in order.
    pub fn natives_on<'a>(&'a self, arch: &'a str) -> impl Iterator<Item = &'a Native> {
        self.natives.iter().filter(move |n| n.runs_on(arch))
    }

    /// The baseline called `side`.
    pub fn native(&self, side: &str) -> Option<&Native> {
        self.natives.iter().find(|n| n.side == side)
    }
}

/// A result name taken apart: which case, the size part and the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultName<'a> {
    /// The case.
    pub case: &'static Case,
    /// Where its step is in [`Case::steps`] (0 for a case without steps).
    pub step_index: usize,
    /// The step, if the case has steps.
    pub step: Option<&'a str>,
}

/// Takes a result name apart (`Vmo/Clone/4kbytes.clone`): `None` unless it
/// is one of [`CASES`] with a well-formed size part and one of its steps
/// (no step for a case without steps).
pub fn parse(name: &str) -> Option<ResultName<'_>> {
    let (base, tail) = name.rsplit_once('/')?;
    let (suffix, step) = match tail.split_once('.') {
        Some((s, step)) => (s, Some(step)),
        None => (tail, None),
    };
    let case = case(base)?;
    let number = match case.sizes {
        Sizes::Sweep | Sizes::Bytes(_) => suffix.strip_suffix("kbytes")?,
        Sizes::Pages(_) => suffix,
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step_index = match step {
        None if case.steps.is_empty() => 0,
        Some(s) => case.steps.iter().position(|c| *c == s)?,
        None => return None,
    };
    Some(ResultName { case, step_index, step })
}

/// The case called `name` (Fuchsia's name without the size).
pub fn case(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

/// The cases of `vmo.cc` that are not mirrored, and why.
pub const NOT_MIRRORED: &[(&str, &str)] = &[(
    "Vmo/TransferData",
    "times `zx_vmo_transfer_data` (moving pages from one VMO into another), which this \
     module does not implement: its ABI has no such call, so there is nothing to time",
)];

// ---- The descriptions shared by several cases --------------------------------------------

const READ_WRITE_STEPS: &[&str] = &[];
const CLONE_STEPS: &[&str] = &["clone", "close"];
const MAP_PARENT_STEPS: &[&str] = &["map", "clone", "close", "unmap"];
const READ_STEPS: &[&str] = &["clone", "read", "close"];
const WRITE_STEPS: &[&str] = &["clone", "write", "close"];

/// The VMO side of `VmoMap/{Read,Write}`.
const MAP_VMO: &str = "`Vmo::map` read-write (exports a fd, `mmap` `MAP_SHARED`, closes the \
                       fd), `memcpy`, the mapping dropped (`munmap`)";
/// ... of `VmoMap/{Read,Write}/Kernel`.
const MAP_VMO_KERNEL: &str = "`Vmo::map` read-write, `Vmo::write` of a second VMO from the \
                              mapping (Read) or `Vmo::read` of it into the mapping (Write), the \
                              mapping dropped (`munmap`)";
/// ... of `VmoMapRange/{Read,Write}`.
const MAP_RANGE_VMO: &str = "`Vmo::export_fd`, `vmo::sys::mmap` read-write with `MAP_SHARED | \
                             MAP_POPULATE` (Linux's form of `ZX_VM_MAP_RANGE`: the page tables \
                             are filled at map time), the fd closed, `memcpy`, the mapping \
                             dropped (`munmap`)";
/// ... of `VmoMapRange/{Read,Write}/Kernel`.
const MAP_RANGE_VMO_KERNEL: &str = "mapped as in VmoMapRange/Read, `Vmo::write` of a second VMO \
                                    from the mapping (Read) or `Vmo::read` of it into the \
                                    mapping (Write), the mapping dropped (`munmap`)";

const MAP_MEMFD: &[Native] = &[Native::any(
    MEMFD,
    "`mmap(MAP_SHARED)` read-write of a memfd written once beforehand, `memcpy`, `munmap`",
)];
const MAP_MEMFD_KERNEL: &[Native] = &[Native::any(
    MEMFD,
    "`mmap(MAP_SHARED)` read-write of a memfd written once beforehand, `pwrite` to a second \
     memfd from the mapping (Read) or `pread` from it into the mapping (Write), `munmap`",
)];
const MAP_RANGE_MEMFD: &[Native] = &[Native::any(
    MEMFD,
    "`mmap(MAP_SHARED | MAP_POPULATE)` read-write of a memfd written once beforehand, `memcpy`, \
     `munmap`",
)];
const MAP_RANGE_MEMFD_KERNEL: &[Native] = &[Native::any(
    MEMFD,
    "`mmap(MAP_SHARED | MAP_POPULATE)` read-write of a memfd written once beforehand, `pwrite` \
     to a second memfd from the mapping (Read) or `pread` from it into the mapping (Write), \
     `munmap`",
)];

/// The VMO side of `Vmo/Clone`.
const CLONE_VMO: &str = "clone: `create_child(SNAPSHOT, 0, size)` of a COMMITted VMO, as Fuchsia. \
                         A SNAPSHOT child copies nothing at creation: it reads through to its \
                         parent's pages, and a page is copied only when one side writes it \
                         (the Orig/Clone write cases pay for those copies). close: the child's \
                         handle dropped (freeing what it copied)";

/// The baselines of `Vmo/Clone`.
const CLONE_NATIVES: &[Native] = &[
    Native::any(
        MAP_PRIVATE,
        "the parent is a fallocated memfd. clone: `mmap(MAP_PRIVATE)` read-write of the whole \
         memfd, Linux's copy-on-write view of a file and the closest counterpart of a \
         snapshot: nothing is copied until a page is written through the mapping (unlike \
         SNAPSHOT it does not freeze the content: a page not yet written through it shows \
         later writes to the memfd, i.e. at-least-on-write semantics); close: `munmap`",
    ),
    Native::any(
        MEMFD_COPY,
        "the parent is a fallocated memfd. clone: a new memfd (`memfd_create`, `ftruncate`) \
         filled by `copy_file_range` from the parent: an eager copy of every page (what a \
         SNAPSHOT means, made at once; this module defers each page's copy to its first \
         write); close: `close`",
    ),
];

/// The baselines of the `Vmo/Clone/MapParent*` cases.
const MAP_PARENT_NATIVES: &[Native] = &[
    Native::any(
        MAP_PRIVATE,
        "clone and close as in Vmo/Clone (a `MAP_PRIVATE` mapping of the parent memfd); map \
         and unmap: the VMO side's calls on the parent memfd",
    ),
    Native::any(
        MEMFD_COPY,
        "clone and close as in Vmo/Clone (a `copy_file_range` copy of the parent memfd); map \
         and unmap: the VMO side's calls on the parent memfd",
    ),
];

const MAP_CLONE_NATIVES: &[Native] = &[
    Native::any(
        MAP_PRIVATE,
        "the parent is a fallocated memfd. clone: `mmap(MAP_PRIVATE)` read-only of the whole \
         memfd (the copy-on-write view, see Vmo/Clone); map: `madvise(MADV_POPULATE_READ)` \
         over it (the mapping is the clone, so this is the part of mapping that fills the \
         page tables); unmap: `munmap`; close: none (the mapping was the clone: no figure)",
    ),
    Native::any(
        MEMFD_COPY,
        "the parent is a fallocated memfd. clone: a new memfd filled by `copy_file_range`; \
         map: `mmap(MAP_SHARED | MAP_POPULATE)` read-only of it; unmap: `munmap`; close: \
         `close`",
    ),
];

/// The VMO side of the clone-read/write cases.
const CLONE_RW_VMO: &str = "clone and close as in Vmo/Clone; read/write: `Vmo::read`/`Vmo::write` \
                            of the parent (Orig) or the clone (Clone)";

const CLONE_RW_NATIVES: &[Native] = &[
    Native::any(
        MAP_PRIVATE,
        "clone and close as in Vmo/Clone (a `MAP_PRIVATE` mapping of the parent memfd); \
         read/write of the clone: `memcpy` out of or into the mapping (a fault per page; a \
         write copies the page), of the parent: `pread`/`pwrite` of the memfd (which makes the \
         private mapping copy nothing: the semantics differ there, see Vmo/Clone)",
    ),
    Native::any(
        MEMFD_COPY,
        "clone and close as in Vmo/Clone (a `copy_file_range` copy of the parent memfd); \
         read/write: `pread`/`pwrite` of the parent or of the copy",
    ),
];

/// The timed part of the clone-read/write cases.
const CLONE_RW_TIMED: &str = "clone: a SNAPSHOT child of a COMMITted VMO; read/write: \
                              `zx_vmo_read`/`zx_vmo_write` of the parent (Orig) or the clone \
                              (Clone), over the whole VMO (All) or one page in every eight \
                              (Some); close: the clone closed. Before the loop: the parent \
                              created and COMMITted, a buffer of the VMO's size";

/// Every mirrored case, in the order of the report.
pub const CASES: &[Case] = &[
    Case {
        name: "Vmo/Read",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::ReadWrite { write: false, zero_page: false },
        timed: "one `zx_vmo_read` of the whole VMO into a buffer. Before the loop: the VMO \
                created and written once (so committed), the buffer written",
        vmo: "`Vmo::read` of the whole VMO into a written buffer (Fuchsia's buffer is a mapped \
              VMO, there to control the zero page; here anonymous memory, the same for both \
              columns)",
        natives: &[Native::any(
            MEMFD,
            "`pread` of the whole of a memfd written once beforehand, into the same buffer",
        )],
        quick: false,
    },
    Case {
        name: "Vmo/Write",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::ReadWrite { write: true, zero_page: false },
        timed: "one `zx_vmo_write` of the whole VMO from a buffer of written pages. Before the \
                loop: the VMO created and written once (so committed)",
        vmo: "`Vmo::write` of the whole VMO (written once beforehand) from a written buffer",
        natives: &[Native::any(
            MEMFD,
            "`pwrite` over the whole of a memfd written once beforehand, from the same buffer",
        )],
        quick: false,
    },
    Case {
        name: "Vmo/Write/ZeroPage",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::ReadWrite { write: true, zero_page: true },
        timed: "one `zx_vmo_write` of the whole VMO from a buffer that maps the kernel's \
                shared zero page (another path in Fuchsia's kernel, and fewer physical pages \
                read). Before the loop: the VMO created and written once from that buffer",
        vmo: "`Vmo::write` of the whole VMO from a never-written private anonymous mapping, \
              whose pages are Linux's shared zero page once touched (Fuchsia maps a \
              never-written VMO for this; a mapped VMO here is shmem, which allocates a page \
              on a read fault)",
        natives: &[Native::any(
            MEMFD,
            "`pwrite` over the whole of a memfd from the same kind of never-written anonymous \
             mapping",
        )],
        quick: false,
    },
    Case {
        name: "VmoMap/Read",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: false, range: false, kernel: false },
        timed: "map the VMO read-write (nothing mapped ahead), `memcpy` all of it into a buffer \
                (a read fault per page), unmap. Before the loop: the VMO created and written \
                once (so committed)",
        vmo: MAP_VMO,
        natives: MAP_MEMFD,
        quick: false,
    },
    Case {
        name: "VmoMap/Read/Kernel",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: false, range: false, kernel: true },
        timed: "map the VMO read-write, `zx_vmo_write` of a second VMO from the mapping (the \
                kernel reads the mapping), unmap. Before the loop: the VMO written once, the \
                second VMO created",
        vmo: MAP_VMO_KERNEL,
        natives: MAP_MEMFD_KERNEL,
        quick: false,
    },
    Case {
        name: "VmoMap/Write",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: true, range: false, kernel: false },
        timed: "map the VMO read-write, `memcpy` a buffer into all of it (a write fault per \
                page), unmap. Before the loop: the VMO created and written once",
        vmo: MAP_VMO,
        natives: MAP_MEMFD,
        quick: false,
    },
    Case {
        name: "VmoMap/Write/Kernel",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: true, range: false, kernel: true },
        timed: "map the VMO read-write, `zx_vmo_read` of a second, never-written VMO into the \
                mapping (the kernel writes the mapping), unmap. Before the loop: the VMO \
                written once, the second VMO created",
        vmo: MAP_VMO_KERNEL,
        natives: MAP_MEMFD_KERNEL,
        quick: false,
    },
    Case {
        name: "VmoMapRange/Read",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: false, range: true, kernel: false },
        timed: "as VmoMap/Read, mapped with `ZX_VM_MAP_RANGE` (the page tables filled at map \
                time, so the copy takes no faults)",
        vmo: MAP_RANGE_VMO,
        natives: MAP_RANGE_MEMFD,
        quick: false,
    },
    Case {
        name: "VmoMapRange/Read/Kernel",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: false, range: true, kernel: true },
        timed: "as VmoMap/Read/Kernel, mapped with `ZX_VM_MAP_RANGE`",
        vmo: MAP_RANGE_VMO_KERNEL,
        natives: MAP_RANGE_MEMFD_KERNEL,
        quick: false,
    },
    Case {
        name: "VmoMapRange/Write",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: true, range: true, kernel: false },
        timed: "as VmoMap/Write, mapped with `ZX_VM_MAP_RANGE`",
        vmo: MAP_RANGE_VMO,
        natives: MAP_RANGE_MEMFD,
        quick: false,
    },
    Case {
        name: "VmoMapRange/Write/Kernel",
        sizes: Sizes::Sweep,
        steps: READ_WRITE_STEPS,
        body: Body::Map { write: true, range: true, kernel: true },
        timed: "as VmoMap/Write/Kernel, mapped with `ZX_VM_MAP_RANGE`",
        vmo: MAP_RANGE_VMO_KERNEL,
        natives: MAP_RANGE_MEMFD_KERNEL,
        quick: false,
    },
    Case {
        name: "Vmo/Memcpy/WithoutPrecommit",
        sizes: Sizes::Sweep,
        steps: &["create_and_map_vmo", "memcpy", "unmap_and_destroy_vmo"],
        body: Body::Memcpy { precommit: false },
        timed: "create_and_map_vmo: create a VMO and map it read-write; memcpy: copy a written \
                buffer of its size into the mapping (a write fault per page, each allocating \
                it); unmap_and_destroy_vmo: unmap, close. Before the loop: the source buffer",
        vmo: "create_and_map_vmo: `Vmo::create` + `Vmo::map` (export, `mmap` `MAP_SHARED`, \
              close the fd); memcpy; unmap_and_destroy_vmo: the mapping dropped (`munmap`), \
              then the handle",
        natives: &[Native::any(
            MEMFD,
            "create_and_map_vmo: `memfd_create` + `ftruncate` + `mmap(MAP_SHARED)`; memcpy; \
             unmap_and_destroy_vmo: `munmap` + `close`",
        )],
        quick: false,
    },
    Case {
        name: "Vmo/Memcpy/WithPrecommit",
        sizes: Sizes::Sweep,
        steps: &["create_and_map_vmo", "precommit", "memcpy", "unmap_and_destroy_vmo"],
        body: Body::Memcpy { precommit: true },
        timed: "as Vmo/Memcpy/WithoutPrecommit, with precommit between map and memcpy: \
                `ZX_VMAR_OP_COMMIT` over the mapping (commit and map every page), so the \
                memcpy takes no faults",
        vmo: "as Vmo/Memcpy/WithoutPrecommit; precommit: `madvise(MADV_POPULATE_WRITE)` over \
              the mapping (Linux's form of `ZX_VMAR_OP_COMMIT`: allocate and map every page \
              writable)",
        natives: &[Native::any(
            MEMFD,
            "as in Vmo/Memcpy/WithoutPrecommit; precommit: `madvise(MADV_POPULATE_WRITE)` over \
             the mapping",
        )],
        quick: false,
    },
    Case {
        name: "Vmo/Clone",
        sizes: Sizes::Sweep,
        steps: CLONE_STEPS,
        body: Body::Clone { map: ParentMap::No },
        timed: "clone: a SNAPSHOT child of a COMMITted VMO; close: the child closed. Before the \
                loop: the parent created and COMMITted",
        vmo: CLONE_VMO,
        natives: CLONE_NATIVES,
        quick: true,
    },
    Case {
        name: "Vmo/Clone/MapParent",
        sizes: Sizes::Sweep,
        steps: MAP_PARENT_STEPS,
        body: Body::Clone { map: ParentMap::Whole },
        timed: "map: the parent mapped read-only with `ZX_VM_MAP_RANGE` into a reserved range; \
                clone and close as Vmo/Clone; unmap: the range unmapped. Before the loop: the \
                parent created and COMMITted, the range reserved",
        vmo: "map: `Vmo::export_fd`, `mmap(MAP_SHARED | MAP_FIXED | MAP_POPULATE)` read-only \
              into a `PROT_NONE` reservation (Fuchsia's sub-VMAR), the fd closed; clone and \
              close as Vmo/Clone; unmap: `munmap` of the range (the reservation is made again, \
              untimed, before the next run)",
        natives: MAP_PARENT_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/MapParent8192segments",
        sizes: Sizes::Bytes(SEGMENTS_VMO),
        steps: MAP_PARENT_STEPS,
        body: Body::Clone { map: ParentMap::Chunks(4 * KIB) },
        timed: "as Vmo/Clone/MapParent on a 32 MiB parent mapped in 8192 chunks of 4 KiB, one \
                `zx_vmar_map` each",
        vmo: "as Vmo/Clone/MapParent, one `mmap` per chunk. mm merges the memfd side's chunks \
              (consecutive offsets of one file) into one VMA, not the VMO's: a VMO mapping has \
              `VM_DONTEXPAND`, one of the flags mm never merges, so the VMO unmaps 8192 VMAs \
              where the memfd unmaps one",
        natives: MAP_PARENT_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/MapParent512segments",
        sizes: Sizes::Bytes(SEGMENTS_VMO),
        steps: MAP_PARENT_STEPS,
        body: Body::Clone { map: ParentMap::Chunks(64 * KIB) },
        timed: "as Vmo/Clone/MapParent on a 32 MiB parent mapped in 512 chunks of 64 KiB",
        vmo: "as Vmo/Clone/MapParent8192segments",
        natives: MAP_PARENT_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/MapParent16segments",
        sizes: Sizes::Bytes(SEGMENTS_VMO),
        steps: MAP_PARENT_STEPS,
        body: Body::Clone { map: ParentMap::Chunks(2 * MIB) },
        timed: "as Vmo/Clone/MapParent on a 32 MiB parent mapped in 16 chunks of 2 MiB",
        vmo: "as Vmo/Clone/MapParent8192segments",
        natives: MAP_PARENT_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/MapParent1segments",
        sizes: Sizes::Bytes(SEGMENTS_VMO),
        steps: MAP_PARENT_STEPS,
        body: Body::Clone { map: ParentMap::Chunks(SEGMENTS_VMO) },
        timed: "as Vmo/Clone/MapParent on a 32 MiB parent mapped as one chunk",
        vmo: "as Vmo/Clone/MapParent8192segments",
        natives: MAP_PARENT_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/MapClone",
        sizes: Sizes::Sweep,
        steps: &["clone", "map", "unmap", "close"],
        body: Body::MapClone,
        timed: "clone: a SNAPSHOT child of a COMMITted VMO; map: the clone mapped read-only \
                with `ZX_VM_MAP_RANGE`; unmap; close: the clone closed. Before the loop: the \
                parent created and COMMITted",
        vmo: "clone as Vmo/Clone; map: `Vmo::export_fd` of the child, `vmo::sys::mmap` \
              read-only with `MAP_SHARED | MAP_POPULATE`, the fd closed; unmap: the mapping \
              dropped; close: the child's handle dropped",
        natives: MAP_CLONE_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/ReadOrigSome",
        sizes: Sizes::Sweep,
        steps: READ_STEPS,
        body: Body::CloneReadWrite { write: false, clone: false, all: false },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/ReadOrigAll",
        sizes: Sizes::Sweep,
        steps: READ_STEPS,
        body: Body::CloneReadWrite { write: false, clone: false, all: true },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/ReadCloneSome",
        sizes: Sizes::Sweep,
        steps: READ_STEPS,
        body: Body::CloneReadWrite { write: false, clone: true, all: false },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/ReadCloneAll",
        sizes: Sizes::Sweep,
        steps: READ_STEPS,
        body: Body::CloneReadWrite { write: false, clone: true, all: true },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/WriteOrigSome",
        sizes: Sizes::Sweep,
        steps: WRITE_STEPS,
        body: Body::CloneReadWrite { write: true, clone: false, all: false },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/WriteOrigAll",
        sizes: Sizes::Sweep,
        steps: WRITE_STEPS,
        body: Body::CloneReadWrite { write: true, clone: false, all: true },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/WriteCloneSome",
        sizes: Sizes::Sweep,
        steps: WRITE_STEPS,
        body: Body::CloneReadWrite { write: true, clone: true, all: false },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/Clone/WriteCloneAll",
        sizes: Sizes::Sweep,
        steps: WRITE_STEPS,
        body: Body::CloneReadWrite { write: true, clone: true, all: true },
        timed: CLONE_RW_TIMED,
        vmo: CLONE_RW_VMO,
        natives: CLONE_RW_NATIVES,
        quick: false,
    },
    Case {
        name: "Vmo/CreateWriteReadClose",
        sizes: Sizes::Sweep,
        steps: &["create", "write", "read", "close"],
        body: Body::CreateWriteReadClose,
        timed: "create: a new VMO; write: `zx_vmo_write` of all of it from a written buffer \
                (allocating its pages); read: `zx_vmo_read` of all of it back into the buffer; \
                close: the handle closed (freeing the pages). Before the loop: the buffer",
        vmo: "create: `Vmo::create`; write: `Vmo::write`; read: `Vmo::read`; close: the handle \
              dropped",
        natives: &[Native::any(
            MEMFD,
            "create: `memfd_create` + `ftruncate`; write: `pwrite`; read: `pread`; close: \
             `close`",
        )],
        quick: true,
    },
    Case {
        name: "Vmo/ManyMappingsReadWriteDecommit",
        sizes: Sizes::Pages(MANY_MAPPINGS),
        steps: &["read", "write", "decommit"],
        body: Body::ManyMappings,
        timed: "on a VMO of 8192 pages mapped read-write one page per mapping: read: pick a \
                random page, read 8 bytes of it (a read fault); write: write them back (a \
                write fault where the read mapped a zero page); decommit: DECOMMIT of that \
                page (unmapping it from its mapping). Before the loop: the VMO and its 8192 \
                mappings",
        vmo: "8192 `Vmo::map` of one page each (kernel-placed, in offset order, so no two \
              merge); read/write: 8 bytes through the mapping (`Mapping::read_at`/`write_at`); \
              decommit: `Vmo::decommit` of the page; the page is drawn by a fixed-seed \
              xorshift, the same sequence on both sides",
        natives: &[Native::any(
            MEMFD,
            "a memfd of 8192 pages mapped `MAP_SHARED` one page per mapping, the same reads \
             and writes; decommit: `fallocate(PUNCH_HOLE | KEEP_SIZE)` of the page (what \
             DECOMMIT is compared with in the rest of the benchmark)",
        )],
        quick: false,
    },
];

#[cfg(test)]
mod tests {
    use super::super::{AARCH64, X86_64};
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for (i, c) in CASES.iter().enumerate() {
            assert!(CASES[..i].iter().all(|d| d.name != c.name), "{} twice", c.name);
            assert_eq!(case(c.name).map(|d| d.name), Some(c.name));
            for (j, s) in c.steps.iter().enumerate() {
                assert!(!c.steps[..j].contains(s), "{} step {s} twice", c.name);
                assert!(!s.contains(['.', '/']), "{s}");
            }
            for size in c.sizes(4096) {
                for (k, step) in c.step_names().into_iter().enumerate() {
                    let name = c.result_name(size, step);
                    let parsed = parse(&name).unwrap_or_else(|| panic!("{name}"));
                    assert_eq!(parsed.case.name, c.name);
                    assert_eq!((parsed.step, parsed.step_index), (step, k));
                }
            }
            for arch in [X86_64, AARCH64] {
                let sides: Vec<&str> = c.natives_on(arch).map(|n| n.side).collect();
                assert!(!sides.is_empty(), "{} has no baseline", c.name);
                assert!(!sides.contains(&super::super::VMO));
            }
            for n in c.natives {
                assert_eq!(c.native(n.side), Some(n));
            }
            assert!(!c.timed.is_empty() && !c.vmo.is_empty());
        }
        assert!(NOT_MIRRORED.iter().all(|(n, _)| case(n).is_none()));
    }

    #[test]
    fn fuchsias_names() {
        let clone = case("Vmo/Clone").unwrap();
        assert_eq!(clone.result_name(4 * KIB, Some("clone")), "Vmo/Clone/4kbytes.clone");
        assert_eq!(clone.test_name(2 * MIB), "Vmo/Clone/2048kbytes");
        let seg = case("Vmo/Clone/MapParent8192segments").unwrap();
        assert_eq!(seg.sizes(4096), [32 * MIB]);
        assert_eq!(
            seg.result_name(32 * MIB, Some("unmap")),
            "Vmo/Clone/MapParent8192segments/32768kbytes.unmap"
        );
        let many = case("Vmo/ManyMappingsReadWriteDecommit").unwrap();
        assert_eq!(many.sizes(4096), [8192 * 4096]);
        assert_eq!(many.sizes(16384), [8192 * 16384]);
        assert_eq!(
            many.result_name(8192 * 4096, Some("decommit")),
            "Vmo/ManyMappingsReadWriteDecommit/8192.decommit"
        );
        let read = case("Vmo/Read").unwrap();
        assert_eq!(read.step_names(), [None]);
        assert_eq!(read.result_name(128 * KIB, None), "Vmo/Read/128kbytes");
        assert_eq!(
            case("Vmo/Write/ZeroPage").unwrap().test_name(512 * KIB),
            "Vmo/Write/ZeroPage/512kbytes"
        );
        // Every registered name of vmo.cc but TransferData's.
        let count: usize = CASES.iter().map(|c| c.sizes(4096).len()).sum();
        assert_eq!(count, 26 * 5 + 4 + 1 - 5);
    }

    #[test]
    fn parse_refuses_what_is_not_a_case() {
        for bad in [
            "COMMIT",
            "Vmo/Clone/4kbytes",        // a case with steps needs one
            "Vmo/Clone/4kbytes.map",    // not a step of Vmo/Clone
            "Vmo/Read/4kbytes.read",    // no steps
            "Vmo/Read/4kb",             // not Fuchsia's size part
            "Vmo/Read/kbytes",          // no number
            "Vmo/Nope/4kbytes",         // no such case
            "Vmo/TransferData/4kbytes", // not mirrored
            "Vmo/ManyMappingsReadWriteDecommit/8192kbytes.read",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        let p = parse("Vmo/Clone/MapParent/128kbytes.close").unwrap();
        assert_eq!((p.case.name, p.step, p.step_index), ("Vmo/Clone/MapParent", Some("close"), 2));
    }

    #[test]
    fn quick_is_small_and_short() {
        let quick: Vec<&str> = CASES.iter().filter(|c| c.quick).map(|c| c.name).collect();
        assert_eq!(quick, ["Vmo/Clone", "Vmo/CreateWriteReadClose"]);
        assert!(QUICK_SIZES.iter().all(|s| SIZES.contains(s) && *s <= 32 * KIB));
    }
}
