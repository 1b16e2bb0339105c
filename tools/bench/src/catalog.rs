//! What is measured: the ops, the native counterparts each is compared with,
//! and the sizes.
//!
//! The names here are the `op` and `side` strings of the `@@bench` lines; the
//! guest program measures exactly these, and the report lays its tables out
//! in this order (an op it does not know still gets a table, after these).

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
    /// The baselines: (`side` name, what it runs).
    pub natives: &'static [(&'static str, &'static str)],
    /// Whether `--quick` measures it.
    pub quick: bool,
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
/// Native side: a user-space `clwb` loop and `sfence`.
pub const CLWB: &str = "clwb";
/// Native side: a user-space `clflushopt` loop and `sfence`.
pub const CLFLUSHOPT: &str = "clflushopt";
/// Native side: `madvise(addr, 0, MADV_NORMAL)`.
pub const MADV_NORMAL: &str = "madv_normal";
/// Baseline of the sparse op: the same cache op over a VMO of just the
/// committed pages.
pub const VMO_64_PAGES: &str = "vmo_64_pages";
/// Native side of the page-fault figure: the same touches on a `MAP_SHARED`
/// mapping of a new memfd.
pub const MEMFD_FAULT: &str = "memfd_fault";

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
/// Op name: `CACHE_CLEAN` over a 1 TiB VMO with 64 committed pages.
pub const CACHE_CLEAN_SPARSE: &str = "CACHE_CLEAN_SPARSE_1TIB";
/// Op name: the first-touch write fault of a page of a mapped VMO, against
/// the same on a mapped memfd (time per fault).
pub const PAGE_FAULT: &str = "PAGE_FAULT";

/// Every op, in the order of the report.
pub const OPS: &[OpInfo] = &[
    OpInfo {
        name: COMMIT,
        kind: OpKind::Sweep,
        vmo: "`op_range(COMMIT, 0, size)` on a new VMO",
        natives: &[
            (FALLOCATE, "`fallocate(fd, 0, 0, size)` on a new memfd of that size"),
            (
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
            (PUNCH_HOLE, "`fallocate(PUNCH_HOLE | KEEP_SIZE)` of a fallocated memfd"),
            (
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
        natives: &[(
            MADV_REMOVE,
            "`madvise(MADV_REMOVE)` over a `MAP_SHARED` mapping of a fallocated memfd",
        )],
        quick: true,
    },
    OpInfo {
        name: ZERO_UNALIGNED,
        kind: OpKind::Sweep,
        vmo: "`op_range(ZERO, 100, size - 200)` of a committed VMO",
        natives: &[(PWRITE, "`pwrite` of zeros over the same range of a fallocated memfd")],
        quick: false,
    },
    OpInfo {
        name: CACHE_CLEAN,
        kind: OpKind::Sweep,
        vmo: "`op_range(CACHE_CLEAN, 0, size)` of a VMO whose every byte was written",
        natives: &[(
            CLWB,
            "a `clwb` per 64-byte line and `sfence`, through a mapping of a memfd whose \
             every byte was written",
        )],
        quick: false,
    },
    OpInfo {
        name: CACHE_CLEAN_INVALIDATE,
        kind: OpKind::Sweep,
        vmo: "`op_range(CACHE_CLEAN_INVALIDATE, 0, size)` of a VMO whose every byte was written",
        natives: &[(
            CLFLUSHOPT,
            "a `clflushopt` per 64-byte line and `sfence`, through a mapping of a memfd \
             whose every byte was written",
        )],
        quick: false,
    },
    OpInfo {
        name: COMMIT_SIZE0,
        kind: OpKind::PerCall,
        vmo: "`op_range(COMMIT, 0, 0)` (the fixed cost of one call)",
        natives: &[(MADV_NORMAL, "`madvise(addr, 0, MADV_NORMAL)` (the fixed cost of a syscall)")],
        quick: false,
    },
    OpInfo {
        name: CACHE_CLEAN_SPARSE,
        kind: OpKind::Sparse,
        vmo: "`op_range(CACHE_CLEAN, 0, 1 TiB)` of a 1 TiB VMO with 64 written pages spread \
              over it (size column: the committed bytes)",
        natives: &[(VMO_64_PAGES, "`op_range(CACHE_CLEAN)` of a 64-page VMO, every page written")],
        quick: false,
    },
    OpInfo {
        name: PAGE_FAULT,
        kind: OpKind::PerFault,
        vmo: "a one-byte write to each page of a new VMO mapped `MAP_SHARED` through its \
              exported fd (`Vmo::map`), i.e. one first-touch write fault per page; cells are \
              the time per fault (the run / 1024 pages)",
        natives: &[(
            MEMFD_FAULT,
            "the same writes to a `MAP_SHARED` mapping of a new memfd of the same size",
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
            assert!(!o.natives.is_empty());
            assert!(o.natives.iter().all(|(side, _)| *side != VMO));
        }
        assert!(op_info("NOPE").is_none());
    }

    #[test]
    fn sizes_ascend_and_quick_is_a_subset() {
        assert!(SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(QUICK_SIZES.iter().all(|s| SIZES.contains(s)));
        assert!(SIZES.iter().all(|s| *s > 2 * UNALIGNED_MARGIN));
    }

    #[test]
    fn the_page_fault_row_is_per_fault() {
        let o = op_info(PAGE_FAULT).unwrap();
        assert_eq!(o.kind, OpKind::PerFault);
        assert_eq!(o.natives.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [MEMFD_FAULT]);
        assert!(o.vmo.contains("1024 pages"));
        assert_eq!(FAULT_PAGES, 1024);
    }
}
