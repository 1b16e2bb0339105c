//! What a call can return (an errno, 0 for success), sets of them, the ioctls
//! by name, and the statistics a run keeps: calls, distinct
//! (ioctl, op, status) combinations, mismatches.

use std::collections::BTreeMap;
use std::fmt;

use vmo::sys;

/// Success.
pub const OK: i32 = 0;
/// `ZX_ERR_NOT_SUPPORTED`.
pub const NOT_SUPPORTED: i32 = sys::VMO_ERRNO_NOT_SUPPORTED as i32;
/// `ZX_ERR_NO_RESOURCES`.
pub const NO_RESOURCES: i32 = sys::VMO_ERRNO_NO_RESOURCES as i32;
/// `ZX_ERR_NO_MEMORY`.
pub const NO_MEMORY: i32 = sys::VMO_ERRNO_NO_MEMORY as i32;
/// `ZX_ERR_INVALID_ARGS`.
pub const INVALID_ARGS: i32 = sys::VMO_ERRNO_INVALID_ARGS as i32;
/// `ZX_ERR_BAD_HANDLE`.
pub const BAD_HANDLE: i32 = sys::VMO_ERRNO_BAD_HANDLE as i32;
/// `ZX_ERR_WRONG_TYPE`.
pub const WRONG_TYPE: i32 = sys::VMO_ERRNO_WRONG_TYPE as i32;
/// `ZX_ERR_OUT_OF_RANGE`.
pub const OUT_OF_RANGE: i32 = sys::VMO_ERRNO_OUT_OF_RANGE as i32;
/// `ZX_ERR_UNAVAILABLE`.
pub const UNAVAILABLE: i32 = sys::VMO_ERRNO_UNAVAILABLE as i32;
/// `ZX_ERR_ACCESS_DENIED`.
pub const ACCESS_DENIED: i32 = sys::VMO_ERRNO_ACCESS_DENIED as i32;
/// `ZX_ERR_BAD_STATE`.
pub const BAD_STATE: i32 = sys::VMO_ERRNO_BAD_STATE as i32;
/// `ZX_ERR_TIMED_OUT`.
pub const TIMED_OUT: i32 = sys::VMO_ERRNO_TIMED_OUT as i32;
/// `ZX_ERR_NOT_FOUND`: an access to a discarded VMO.
pub const NOT_FOUND: i32 = sys::VMO_ERRNO_NOT_FOUND as i32;
/// `ZX_ERR_BUFFER_TOO_SMALL`.
pub const BUFFER_TOO_SMALL: i32 = sys::VMO_ERRNO_BUFFER_TOO_SMALL as i32;
/// Linux's `EFAULT`: a bad user pointer.
pub const EFAULT: i32 = 14;
/// Linux's `ENOTTY`: an unknown ioctl.
pub const ENOTTY: i32 = 25;
/// Linux's `EINTR`.
pub const EINTR: i32 = 4;

/// The name of a result: the Zircon status for the ABI's errnos, the errno
/// name for Linux's own.
pub fn status_name(errno: i32) -> String {
    let name = match errno {
        OK => "OK",
        NOT_SUPPORTED => "NOT_SUPPORTED",
        NO_RESOURCES => "NO_RESOURCES",
        NO_MEMORY => "NO_MEMORY",
        INVALID_ARGS => "INVALID_ARGS",
        BAD_HANDLE => "BAD_HANDLE",
        WRONG_TYPE => "WRONG_TYPE",
        OUT_OF_RANGE => "OUT_OF_RANGE",
        UNAVAILABLE => "UNAVAILABLE",
        ACCESS_DENIED => "ACCESS_DENIED",
        BAD_STATE => "BAD_STATE",
        TIMED_OUT => "TIMED_OUT",
        NOT_FOUND => "NOT_FOUND",
        BUFFER_TOO_SMALL => "BUFFER_TOO_SMALL",
        EFAULT => "EFAULT",
        ENOTTY => "ENOTTY",
        EINTR => "EINTR",
        e => return format!("errno{e}"),
    };
    name.to_string()
}

/// The inverse of [`status_name`] (for the second process's report).
pub fn status_from_name(name: &str) -> Option<i32> {
    let all = [
        OK,
        NOT_SUPPORTED,
        NO_RESOURCES,
        NO_MEMORY,
        INVALID_ARGS,
        BAD_HANDLE,
        WRONG_TYPE,
        OUT_OF_RANGE,
        UNAVAILABLE,
        ACCESS_DENIED,
        BAD_STATE,
        TIMED_OUT,
        NOT_FOUND,
        BUFFER_TOO_SMALL,
        EFAULT,
        ENOTTY,
        EINTR,
    ];
    all.into_iter()
        .find(|&e| status_name(e) == name)
        .or_else(|| name.strip_prefix("errno").and_then(|n| n.parse().ok()))
}

/// A set of acceptable results (errnos below 128, 0 for success).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect(u128);

impl Expect {
    /// Exactly `errno`.
    pub fn one(errno: i32) -> Expect {
        Expect::default().with(errno)
    }

    /// This set and `errno`.
    pub fn with(self, errno: i32) -> Expect {
        debug_assert!((0..128).contains(&errno));
        Expect(self.0 | 1 << errno)
    }

    /// Whether `errno` is acceptable.
    pub fn contains(self, errno: i32) -> bool {
        (0..128).contains(&errno) && self.0 & (1 << errno) != 0
    }
}

impl fmt::Debug for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = (0..128).filter(|&e| self.contains(e)).map(status_name).collect();
        write!(f, "{{{}}}", names.join("|"))
    }
}

/// The ioctls of `/dev/vmo`, and unknown ioctl numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ioctl {
    /// `VMO_IOC_CREATE`.
    Create,
    /// `VMO_IOC_CREATE_CHILD`.
    CreateChild,
    /// `VMO_IOC_CLOSE`.
    Close,
    /// `VMO_IOC_DUPLICATE`.
    Duplicate,
    /// `VMO_IOC_REPLACE`.
    Replace,
    /// `VMO_IOC_READ`.
    Read,
    /// `VMO_IOC_WRITE`.
    Write,
    /// `VMO_IOC_GET_SIZE`.
    GetSize,
    /// `VMO_IOC_SET_SIZE`.
    SetSize,
    /// `VMO_IOC_OP_RANGE`.
    OpRange,
    /// `VMO_IOC_GET_INFO`.
    GetInfo,
    /// `VMO_IOC_EVENT_CREATE`.
    EventCreate,
    /// Any other ioctl number.
    Unknown,
    /// `VMO_IOC_EXPORT` (in a mapping episode).
    Export,
    /// `mmap` of a VMO fd.
    Mmap,
    /// A read through a mapping.
    MapRead,
    /// A write through a mapping.
    MapWrite,
    /// `madvise` of a mapping (op: the advice).
    Madvise,
    /// `mremap` growing a mapping.
    Mremap,
    /// `remap_file_pages` of a mapping.
    RemapFilePages,
    /// `mprotect` of a mapping (op: the protection).
    Mprotect,
    /// `ftruncate` of a VMO fd.
    Ftruncate,
    /// `fallocate` of a VMO fd (op: the mode).
    Fallocate,
    /// `VMO_IOC_IMPORT` of an exported fd.
    Import,
    /// A forked child reading through an inherited mapping.
    MapFork,
    /// `VMO_IOC_PAGER_CREATE`.
    PagerCreate,
    /// `VMO_IOC_PAGER_CREATE_VMO`.
    PagerCreateVmo,
    /// `VMO_IOC_PAGER_SUPPLY`.
    PagerSupply,
    /// `VMO_IOC_PAGER_OP_RANGE` (op: the pager op).
    PagerOp,
    /// `VMO_IOC_PAGER_DETACH`.
    PagerDetach,
    /// `VMO_IOC_PAGER_WAIT`.
    PagerWait,
    /// `VMO_IOC_READ` of a pager-backed VMO.
    PagerRead,
    /// `VMO_IOC_REPLACE_AS_EXECUTABLE`.
    ReplaceAsExecutable,
    /// `VMO_IOC_PAGER_QUERY_DIRTY`.
    PagerQueryDirty,
    /// `VMO_IOC_PAGER_QUERY_STATS`.
    PagerQueryStats,
    /// `VMO_IOC_WRITE` (op none) or `OP_RANGE` ZERO (op: ZERO) of a pager-backed VMO.
    PagerWrite,
    /// A write through a mapping of a pager-backed VMO.
    PagerMapWrite,
    /// A read through a mapping of a pager-backed VMO.
    PagerMapRead,
    /// `VMO_IOC_CREATE_CHILD` of a pager-backed VMO (a slice or a
    /// `SNAPSHOT_AT_LEAST_ON_WRITE` clone).
    PagerChild,
    /// `VMO_IOC_READ` of a child of a pager-backed VMO.
    PagerChildRead,
    /// `VMO_IOC_WRITE` (op none) or `OP_RANGE` ZERO (op: ZERO) of a clone of a
    /// pager-backed VMO; of a slice, op 0x100 (WRITE) or 0x100 | ZERO, plus
    /// 0x200 when it waited for DIRTY requests; op 0x400: SET_SIZE of a child.
    PagerChildWrite,
    /// A READ (op 0: of the VMO, 1: of a slice, 2: of a clone) that waits for
    /// a READ request the pager serves; 3: of a clone after the VMO's handle
    /// closed, which the pager's close ends.
    PagerReadRequest,
}

impl Ioctl {
    /// Every value, in order.
    pub const ALL: [Ioctl; 42] = [
        Ioctl::Create,
        Ioctl::CreateChild,
        Ioctl::Close,
        Ioctl::Duplicate,
        Ioctl::Replace,
        Ioctl::Read,
        Ioctl::Write,
        Ioctl::GetSize,
        Ioctl::SetSize,
        Ioctl::OpRange,
        Ioctl::GetInfo,
        Ioctl::EventCreate,
        Ioctl::Unknown,
        Ioctl::Export,
        Ioctl::Mmap,
        Ioctl::MapRead,
        Ioctl::MapWrite,
        Ioctl::Madvise,
        Ioctl::Mremap,
        Ioctl::RemapFilePages,
        Ioctl::Mprotect,
        Ioctl::Ftruncate,
        Ioctl::Fallocate,
        Ioctl::Import,
        Ioctl::MapFork,
        Ioctl::PagerCreate,
        Ioctl::PagerCreateVmo,
        Ioctl::PagerSupply,
        Ioctl::PagerOp,
        Ioctl::PagerDetach,
        Ioctl::PagerWait,
        Ioctl::PagerRead,
        Ioctl::ReplaceAsExecutable,
        Ioctl::PagerQueryDirty,
        Ioctl::PagerQueryStats,
        Ioctl::PagerWrite,
        Ioctl::PagerMapWrite,
        Ioctl::PagerMapRead,
        Ioctl::PagerChild,
        Ioctl::PagerChildRead,
        Ioctl::PagerChildWrite,
        Ioctl::PagerReadRequest,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Ioctl::Create => "CREATE",
            Ioctl::CreateChild => "CREATE_CHILD",
            Ioctl::Close => "CLOSE",
            Ioctl::Duplicate => "DUPLICATE",
            Ioctl::Replace => "REPLACE",
            Ioctl::Read => "READ",
            Ioctl::Write => "WRITE",
            Ioctl::GetSize => "GET_SIZE",
            Ioctl::SetSize => "SET_SIZE",
            Ioctl::OpRange => "OP_RANGE",
            Ioctl::GetInfo => "GET_INFO",
            Ioctl::EventCreate => "EVENT_CREATE",
            Ioctl::Unknown => "UNKNOWN",
            Ioctl::Export => "EXPORT",
            Ioctl::Mmap => "mmap",
            Ioctl::MapRead => "map-read",
            Ioctl::MapWrite => "map-write",
            Ioctl::Madvise => "madvise",
            Ioctl::Mremap => "mremap",
            Ioctl::RemapFilePages => "remap_file_pages",
            Ioctl::Mprotect => "mprotect",
            Ioctl::Ftruncate => "ftruncate",
            Ioctl::Fallocate => "fallocate",
            Ioctl::Import => "IMPORT",
            Ioctl::MapFork => "fork-read",
            Ioctl::PagerCreate => "PAGER_CREATE",
            Ioctl::PagerCreateVmo => "PAGER_CREATE_VMO",
            Ioctl::PagerSupply => "PAGER_SUPPLY",
            Ioctl::PagerOp => "PAGER_OP_RANGE",
            Ioctl::PagerDetach => "PAGER_DETACH",
            Ioctl::PagerWait => "PAGER_WAIT",
            Ioctl::PagerRead => "READ(pager)",
            Ioctl::ReplaceAsExecutable => "REPLACE_AS_EXECUTABLE",
            Ioctl::PagerQueryDirty => "PAGER_QUERY_DIRTY",
            Ioctl::PagerQueryStats => "PAGER_QUERY_STATS",
            Ioctl::PagerWrite => "WRITE(pager)",
            Ioctl::PagerMapWrite => "map-write(pager)",
            Ioctl::PagerMapRead => "map-read(pager)",
            Ioctl::PagerChild => "CREATE_CHILD(pager)",
            Ioctl::PagerChildRead => "READ(pager-child)",
            Ioctl::PagerChildWrite => "WRITE(pager-child)",
            Ioctl::PagerReadRequest => "READ-request(pager)",
        }
    }

    /// The inverse of [`Ioctl::name`].
    pub fn from_name(name: &str) -> Option<Ioctl> {
        Ioctl::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether the kernel writes results back into the argument struct
    /// (`_IOWR`): a read-only argument then fails with `EFAULT` after the
    /// call took effect (and the module undoes what it made).
    pub fn writes_back(self) -> bool {
        matches!(
            self,
            Ioctl::Create
                | Ioctl::CreateChild
                | Ioctl::Duplicate
                | Ioctl::Replace
                | Ioctl::ReplaceAsExecutable
                | Ioctl::GetSize
                | Ioctl::GetInfo
                | Ioctl::EventCreate
        )
    }
}

/// One (ioctl, op, status) combination; `op` only for `OP_RANGE`.
pub type Combo = (Ioctl, Option<u32>, i32);

/// Formats a combination as the report prints it: `IOCTL OP STATUS`.
pub fn combo_text(c: &Combo) -> String {
    let op = c.1.map_or("-".to_string(), |o| format!("{o:#x}"));
    format!("{} {} {}", c.0.name(), op, status_name(c.2))
}

/// Parses [`combo_text`] back.
pub fn parse_combo(words: &[&str]) -> Option<Combo> {
    let [ioctl, op, status] = words else { return None };
    let op = match *op {
        "-" => None,
        o => Some(u32::from_str_radix(o.strip_prefix("0x")?, 16).ok()?),
    };
    Some((Ioctl::from_name(ioctl)?, op, status_from_name(status)?))
}

/// What one worker (or a whole run) counted.
#[derive(Default)]
pub struct Stats {
    /// Calls made.
    pub iterations: u64,
    /// How often each combination was reached.
    pub combos: BTreeMap<Combo, u64>,
    /// Mismatches: calls whose result (or output) the model did not accept.
    pub mismatches: u64,
    /// The first mismatch reports, in full.
    pub reports: Vec<String>,
}

impl Stats {
    /// The most mismatch reports kept per worker.
    pub const MAX_REPORTS: usize = 20;

    /// Counts a call's combination.
    pub fn reached(&mut self, combo: Combo) {
        *self.combos.entry(combo).or_default() += 1;
    }

    /// Records a mismatch.
    pub fn mismatch(&mut self, report: String) {
        self.mismatches += 1;
        if self.reports.len() < Stats::MAX_REPORTS {
            self.reports.push(report);
        }
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, other: Stats) {
        self.iterations += other.iterations;
        for (c, n) in other.combos {
            *self.combos.entry(c).or_default() += n;
        }
        self.mismatches += other.mismatches;
        self.reports.extend(other.reports);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in [OK, BAD_HANDLE, EFAULT, ENOTTY, 77] {
            assert_eq!(status_from_name(&status_name(e)), Some(e));
        }
        for i in Ioctl::ALL {
            assert_eq!(Ioctl::from_name(i.name()), Some(i));
        }
        let c = (Ioctl::OpRange, Some(0xffff_ffff), INVALID_ARGS);
        let text = combo_text(&c);
        assert_eq!(parse_combo(&text.split(' ').collect::<Vec<_>>()), Some(c));
        let c = (Ioctl::Close, None, OK);
        assert_eq!(parse_combo(&combo_text(&c).split(' ').collect::<Vec<_>>()), Some(c));
    }

    #[test]
    fn expect_sets() {
        let e = Expect::one(OK).with(BAD_HANDLE);
        assert!(e.contains(OK) && e.contains(BAD_HANDLE) && !e.contains(EFAULT));
        assert!(!e.contains(-1) && !e.contains(200));
        assert_eq!(format!("{e:?}"), "{OK|BAD_HANDLE}");
    }
}
