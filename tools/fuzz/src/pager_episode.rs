//! Pager episodes: the pager ioctls (`PAGER_CREATE`, `PAGER_CREATE_VMO`,
//! `PAGER_SUPPLY`, `PAGER_OP_RANGE`, `PAGER_DETACH`, `PAGER_WAIT`) with their
//! checks in the module's order, on a pager and a pager-backed VMO of the
//! episode's own (resizable now and then: `SET_SIZE` on it), with this
//! worker's VMOs as aux VMOs (their content is in the model, and a supply
//! decommits the aux range; an aux VMO that is a child, has children or is
//! the pager VMO itself is `BAD_STATE`), and at times the pager closed
//! before its VMO (the VMO keeps the pages supplied; every other page is
//! `BAD_STATE` from then on).
//!
//! Nothing here may block: no access touches a page the pager has not
//! supplied while the VMO is attached and its pager open (that would wait
//! for a pager nobody serves), so reads cover supplied pages only, and the
//! only packets are the COMPLETE ones detaching queues, which `WAIT` with a
//! zero timeout checks.

use std::collections::BTreeMap;
use std::os::fd::AsFd;

use vmo::sys;

use super::Worker;
use crate::model::*;
use crate::report::*;

/// The statuses a pager may fail a range with.
const FAIL_CODES: [u32; 5] = [
    sys::VMO_ERRNO_IO,
    sys::VMO_ERRNO_IO_DATA_INTEGRITY,
    sys::VMO_ERRNO_BAD_STATE,
    sys::VMO_ERRNO_NO_SPACE,
    sys::VMO_ERRNO_BUFFER_TOO_SMALL,
];

/// The episode's pager-backed VMO, as far as the episode knows it.
struct Paged {
    raw: u32,
    size: u64,
    key: u64,
    /// Made with `VMO_CREATE_RESIZABLE` (its handle has RESIZE).
    resizable: bool,
    /// Supplied pages and their bytes (`None`: not known exactly).
    present: BTreeMap<u64, Option<Vec<u8>>>,
    detached: bool,
    /// The pager's handles are closed: the VMO keeps its pages, nothing else
    /// can be had.
    closed: bool,
}

impl Worker {
    /// One pager episode (see the module documentation).
    pub(super) fn pager_episode(&mut self) {
        let options = if self.rng.chance(1, 10) { self.rng.next_u32() | 1 } else { 0 };
        let mut c = sys::vmo_pager_create_args { options, ..Default::default() };
        let got =
            sys::pager_create(self.dev.as_fd(), &mut c).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if options == 0 { OK } else { INVALID_ARGS };
        self.direct(Ioctl::PagerCreate, None, got, want, "PAGER_CREATE");
        if got != OK {
            return;
        }
        let pager = c.handle;
        // A handle to it with fewer rights, now and then.
        let (ph, prights) = if self.rng.chance(1, 4) {
            let rights = sys::VMO_DEFAULT_PAGER_RIGHTS & self.rng.next_u32();
            let mut d = sys::vmo_duplicate_args { handle: pager, rights, ..Default::default() };
            match sys::duplicate(self.dev.as_fd(), &mut d) {
                Ok(()) => (d.out_handle, rights),
                Err(_) => (pager, sys::VMO_DEFAULT_PAGER_RIGHTS),
            }
        } else {
            (pager, sys::VMO_DEFAULT_PAGER_RIGHTS)
        };
        let attach = prights & sys::VMO_RIGHT_ATTACH_VMO != 0;
        let manage = prights & sys::VMO_RIGHT_MANAGE_VMO != 0;

        let size = match self.rng.below(8) {
            0 => self.rng.next_u64(),
            _ => self.rng.below(17) * pg() + self.rng.below(2) * self.rng.below(pg()),
        };
        let options = match self.rng.below(10) {
            0..=5 => 0,
            6..=8 => sys::VMO_CREATE_RESIZABLE,
            _ => self.rng.next_u32() | 1,
        };
        let key = self.rng.below(4);
        let mut cv =
            sys::vmo_pager_create_vmo_args { pager: ph, options, key, size, ..Default::default() };
        let got = sys::pager_create_vmo(self.dev.as_fd(), &mut cv)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        let want = if !attach {
            ACCESS_DENIED
        } else if round_size(size).is_none() {
            OUT_OF_RANGE
        } else if options & !sys::VMO_CREATE_RESIZABLE != 0 {
            INVALID_ARGS
        } else {
            OK
        };
        self.direct(Ioctl::PagerCreateVmo, None, got, want, &format!("PAGER_CREATE_VMO of {size:#x} bytes, options {options:#x}, pager rights {prights:#x}"));
        if got == OK {
            let mut p = Paged {
                raw: cv.handle,
                size: round_size(size).expect("accepted"),
                key,
                resizable: options == sys::VMO_CREATE_RESIZABLE,
                present: BTreeMap::new(),
                detached: false,
                closed: false,
            };
            let mut completes: Vec<u64> = Vec::new();
            for _ in 0..2 + self.rng.below(8) {
                let step = self.rng.below(9);
                if p.closed {
                    // No pager handle is left: what the VMO alone can do.
                    match step {
                        0..=5 => self.pager_read(&p),
                        _ => self.pager_set_size(&mut p),
                    }
                    continue;
                }
                match step {
                    0 | 1 => self.pager_supply(ph, manage, &mut p),
                    2 => self.pager_op(ph, manage, &p),
                    3 => self.pager_read(&p),
                    6 => self.pager_set_size(&mut p),
                    7 if self.rng.chance(1, 3) => {
                        // Close the pager (all its handles): not a detach; no packet can
                        // be read any more.
                        if ph != pager {
                            let _ = sys::close(
                                self.dev.as_fd(),
                                sys::vmo_close_args { handle: ph, reserved: 0 },
                            );
                        }
                        let _ = sys::close(
                            self.dev.as_fd(),
                            sys::vmo_close_args { handle: pager, reserved: 0 },
                        );
                        p.closed = true;
                    }
                    7 | 8 => self.pager_read(&p),
                    4 => {
                        let r = sys::pager_detach(
                            self.dev.as_fd(),
                            sys::vmo_pager_detach_args { pager: ph, vmo: p.raw },
                        );
                        let got = r.err().map_or(OK, sys::Errno::raw_os_error);
                        let want = if manage { OK } else { ACCESS_DENIED };
                        self.direct(Ioctl::PagerDetach, None, got, want, "PAGER_DETACH");
                        if got == OK {
                            if !p.detached && !completes.contains(&p.key) {
                                completes.push(p.key);
                            }
                            p.detached = true;
                            p.present.clear();
                        }
                    }
                    _ => {
                        let mut w = sys::vmo_pager_wait_args {
                            pager: ph,
                            timeout_ns: 0,
                            ..Default::default()
                        };
                        let got = sys::pager_wait(self.dev.as_fd(), &mut w)
                            .err()
                            .map_or(OK, sys::Errno::raw_os_error);
                        let want = if completes.is_empty() { TIMED_OUT } else { OK };
                        self.direct(
                            Ioctl::PagerWait,
                            None,
                            got,
                            want,
                            "PAGER_WAIT with no timeout",
                        );
                        if got == OK {
                            let (kind, pkey) = (w.packet.type_, w.packet.key);
                            let ok = kind == sys::VMO_PAGER_VMO_COMPLETE && pkey == completes[0];
                            let what = format!(
                                "PAGER_WAIT packet kind {kind} key {pkey}, expected COMPLETE {}",
                                completes[0]
                            );
                            self.direct(
                                Ioctl::PagerWait,
                                None,
                                if ok { OK } else { -1 },
                                OK,
                                &what,
                            );
                            completes.remove(0);
                        }
                    }
                }
            }
            let _ =
                sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: p.raw, reserved: 0 });
            if p.closed {
                return;
            }
        }
        if ph != pager {
            let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: ph, reserved: 0 });
        }
        let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: pager, reserved: 0 });
    }

    /// PAGER_SUPPLY from one of this worker's VMOs (exact content), now and
    /// then from the pager VMO itself, checks in the module's order; the model
    /// follows (the aux range is decommitted). The aux VMO must be a plain VMO
    /// without children (Zircon's `VmObjectPaged::TakePages`): a child of any
    /// kind, a parent of one or a pager-backed VMO is `BAD_STATE`.
    fn pager_supply(&mut self, ph: u32, manage: bool, p: &mut Paged) {
        let (h, aux_size, aux_plain) = if self.rng.chance(1, 8) {
            let rights = if p.resizable { DEFAULT_VMO | R_RESIZE } else { DEFAULT_VMO };
            (H { raw: p.raw, obj: 0, rights }, p.size, false)
        } else {
            let Some(h) = self.own_exact_vmo() else {
                return;
            };
            let o = self.m.obj(h.obj);
            // No live child, and no closed snapshot whose own snapshots still read through
            // to it (its count stays in `cow_children`).
            (h, o.size, o.kind == Kind::Root && o.children == 0 && o.cow_children == 0)
        };
        let unaligned = self.rng.chance(1, 12);
        let offset = self.rng.below(p.size / pg() + 2) * pg();
        let length = self.rng.below(6) * pg() + if unaligned { 1 } else { 0 };
        let aux_offset = self.rng.below(aux_size / pg() + 2) * pg();
        let args = sys::vmo_pager_supply_args {
            pager: ph,
            vmo: p.raw,
            offset,
            length,
            aux_vmo: h.raw,
            reserved: 0,
            aux_offset,
        };
        let got =
            sys::pager_supply(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if !manage {
            ACCESS_DENIED
        } else if unaligned {
            INVALID_ARGS
        } else if h.rights & (R_READ | R_WRITE) != R_READ | R_WRITE {
            ACCESS_DENIED
        } else if !in_range(aux_offset, length, aux_size) {
            OUT_OF_RANGE
        } else if !aux_plain {
            BAD_STATE
        } else if !in_range(offset, length, p.size) {
            OUT_OF_RANGE
        } else if length == 0 {
            OK
        } else if p.detached {
            BAD_STATE
        } else {
            OK
        };
        let what = format!(
            "PAGER_SUPPLY {offset:#x}+{length:#x} from aux {aux_offset:#x} (aux rights {:#x}, \
             plain {aux_plain})",
            h.rights
        );
        self.direct(Ioctl::PagerSupply, None, got, want, &what);
        if got != OK || length == 0 || !aux_plain {
            return;
        }
        for k in 0..length / pg() {
            let page = offset / pg() + k;
            if p.present.contains_key(&page) {
                continue;
            }
            let bytes: Option<Vec<u8>> =
                (0..pg()).map(|i| self.m.byte(h.obj, aux_offset + k * pg() + i)).collect();
            p.present.insert(page, bytes);
        }
        self.m.punch(h.obj, aux_offset, length);
    }

    /// PAGER_OP_RANGE: FAIL with a code (Zircon's five, or any other), the
    /// writeback ops or an unknown op (`NOT_SUPPORTED`, as
    /// Zircon's `PagerDispatcher::RangeOp` answers). FAIL checks the range,
    /// then a detached VMO (`BAD_STATE`).
    fn pager_op(&mut self, ph: u32, manage: bool, p: &Paged) {
        let op = match self.rng.below(8) {
            0..=4 => sys::VMO_PAGER_OP_FAIL,
            5 => 2 + self.rng.below(3) as u32,
            _ => self.rng.next_u32() | 8,
        };
        let data = if self.rng.chance(4, 5) {
            u64::from(FAIL_CODES[self.rng.index(FAIL_CODES.len())])
        } else {
            self.rng.next_u64()
        };
        let unaligned = self.rng.chance(1, 12);
        let offset = self.rng.below(p.size / pg() + 2) * pg();
        let length = self.rng.below(6) * pg() + u64::from(unaligned);
        let args =
            sys::vmo_pager_op_args { pager: ph, op, vmo: p.raw, reserved: 0, offset, length, data };
        let got =
            sys::pager_op_range(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if unaligned {
            INVALID_ARGS
        } else if !manage {
            ACCESS_DENIED
        } else {
            match op {
                sys::VMO_PAGER_OP_FAIL => {
                    if !FAIL_CODES.iter().any(|&c| u64::from(c) == data) {
                        INVALID_ARGS
                    } else if !in_range(offset, length, p.size) {
                        OUT_OF_RANGE
                    } else if p.detached {
                        BAD_STATE
                    } else {
                        OK
                    }
                }
                // The episode's VMOs are made without TRAP_DIRTY: OP_DIRTY (data 0) is
                // NOT_SUPPORTED. The writeback ops check their data, then the range only
                // (they work after detach); nothing is ever dirty here (the episode never
                // writes its pager VMOs), so they change nothing.
                sys::VMO_PAGER_OP_DIRTY if data != 0 => INVALID_ARGS,
                sys::VMO_PAGER_OP_DIRTY => NOT_SUPPORTED,
                sys::VMO_PAGER_OP_WRITEBACK_BEGIN | sys::VMO_PAGER_OP_WRITEBACK_END
                    if data > u64::from(op == sys::VMO_PAGER_OP_WRITEBACK_BEGIN) =>
                {
                    INVALID_ARGS
                }
                sys::VMO_PAGER_OP_WRITEBACK_BEGIN | sys::VMO_PAGER_OP_WRITEBACK_END => {
                    if in_range(offset, length, p.size) { OK } else { OUT_OF_RANGE }
                }
                _ => NOT_SUPPORTED,
            }
        };
        let what = format!("PAGER_OP_RANGE op {op} {offset:#x}+{length:#x} data {data:#x}");
        // Unknown ops count as one combination (op 0).
        let combo_op = if op <= sys::VMO_PAGER_OP_WRITEBACK_END { op } else { 0 };
        self.direct(Ioctl::PagerOp, Some(combo_op), got, want, &what);
    }

    /// READ of supplied pages (the content the pager supplied); after
    /// detaching or after the pager closed, of any range: OK where every page
    /// it touches is present (detach frees the clean pages, which here are
    /// all of them, so only a read of length 0), else BAD_STATE (at once: no
    /// pager is left to wait for).
    fn pager_read(&mut self, p: &Paged) {
        let (offset, len) = if p.detached || p.closed {
            (
                self.rng.below(p.size / pg() + 1) * pg() + self.rng.below(2) * 7,
                self.rng.below(2 * pg()),
            )
        } else {
            let Some((&page, _)) = p.present.iter().nth(self.rng.index(p.present.len().max(1)))
            else {
                return;
            };
            (page * pg(), pg())
        };
        let mut buf = vec![0u8; len as usize];
        let got = sys::read(self.dev.as_fd(), p.raw, offset, &mut buf)
            .err()
            .map_or(OK, sys::Errno::raw_os_error);
        let all_supplied = len == 0
            || (offset / pg()..(offset + len).div_ceil(pg()))
                .all(|pg_| p.present.contains_key(&pg_));
        let want = if !in_range(offset, len, p.size) {
            OUT_OF_RANGE
        } else if (p.detached || p.closed) && !all_supplied {
            // Detach frees the clean pages (all of them here: the episode never writes) and
            // keeps the rest; a read that touches no page (length 0) needs none.
            BAD_STATE
        } else {
            OK
        };
        self.direct(
            Ioctl::PagerRead,
            None,
            got,
            want,
            &format!("READ {offset:#x}+{len:#x} of a pager VMO"),
        );
        if got == OK && !p.detached && offset % pg() == 0 && len == pg() {
            if let Some(Some(want)) = p.present.get(&(offset / pg())) {
                let r = if *want == buf { OK } else { -1 };
                self.direct(Ioctl::PagerRead, None, r, OK, "the bytes a supplied page reads");
            }
        }
    }

    /// SET_SIZE of the pager VMO: `UNAVAILABLE` unless it was made resizable;
    /// a shrink drops the supplied pages past the new end, a growth adds
    /// absent pages (whatever the pager's state).
    fn pager_set_size(&mut self, p: &mut Paged) {
        let size = match self.rng.below(8) {
            0 => self.rng.next_u64(),
            _ => self.rng.below(17) * pg() + self.rng.below(2) * self.rng.below(pg()),
        };
        let args = sys::vmo_size_args { handle: p.raw, reserved: 0, size };
        let got = sys::set_size(self.dev.as_fd(), args).err().map_or(OK, sys::Errno::raw_os_error);
        let want = if !p.resizable {
            UNAVAILABLE
        } else if round_size(size).is_none() {
            OUT_OF_RANGE
        } else {
            OK
        };
        let what = format!("SET_SIZE {size:#x} of a pager VMO (resizable {})", p.resizable);
        self.direct(Ioctl::SetSize, None, got, want, &what);
        if got == OK {
            p.size = round_size(size).expect("accepted");
            let end = p.size / pg();
            p.present.retain(|&page, _| page < end);
        }
    }
}
