//! Pager episodes: the pager ioctls (`PAGER_CREATE`, `PAGER_CREATE_VMO`,
//! `PAGER_SUPPLY`, `PAGER_OP_RANGE`, `PAGER_DETACH`, `PAGER_WAIT`) with their
//! checks in the module's order, on a pager and a pager-backed VMO of the
//! episode's own, with this worker's VMOs as aux VMOs (their content is in
//! the model, and a supply decommits the aux range).
//!
//! Nothing here may block: no access touches a page the pager has not
//! supplied while the VMO is attached (that would wait for a pager nobody
//! serves), so reads cover supplied pages only, and the only packets are the
//! COMPLETE ones detaching queues, which `WAIT` with a zero timeout checks.

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
    /// Supplied pages and their bytes (`None`: not known exactly).
    present: BTreeMap<u64, Option<Vec<u8>>>,
    detached: bool,
}

impl Worker {
    /// One pager episode (see the module documentation).
    pub(super) fn pager_episode(&mut self) {
        let options = if self.rng.chance(1, 10) { self.rng.next_u32() | 1 } else { 0 };
        let mut c = sys::vmo_pager_create_args { options, ..Default::default() };
        let got = sys::pager_create(self.dev.as_fd(), &mut c).err().unwrap_or(OK);
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
        let options = if self.rng.chance(1, 10) { self.rng.next_u32() | 1 } else { 0 };
        let key = self.rng.below(4);
        let mut cv =
            sys::vmo_pager_create_vmo_args { pager: ph, options, key, size, ..Default::default() };
        let got = sys::pager_create_vmo(self.dev.as_fd(), &mut cv).err().unwrap_or(OK);
        let want = if !attach {
            ACCESS_DENIED
        } else if round_size(size).is_none() {
            OUT_OF_RANGE
        } else if options != 0 {
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
                present: BTreeMap::new(),
                detached: false,
            };
            let mut completes: Vec<u64> = Vec::new();
            for _ in 0..2 + self.rng.below(8) {
                match self.rng.below(6) {
                    0 | 1 => self.pager_supply(ph, manage, &mut p),
                    2 => self.pager_op(ph, manage, &p),
                    3 => self.pager_read(&p),
                    4 => {
                        let r = sys::pager_detach(
                            self.dev.as_fd(),
                            sys::vmo_pager_detach_args { pager: ph, vmo: p.raw },
                        );
                        let got = r.err().unwrap_or(OK);
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
                        let got = sys::pager_wait(self.dev.as_fd(), &mut w).err().unwrap_or(OK);
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
        }
        if ph != pager {
            let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: ph, reserved: 0 });
        }
        let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: pager, reserved: 0 });
    }

    /// PAGER_SUPPLY from one of this worker's VMOs (exact content), checks in
    /// the module's order; the model follows (the aux range is decommitted).
    fn pager_supply(&mut self, ph: u32, manage: bool, p: &mut Paged) {
        let Some(h) = self.own_exact_vmo() else {
            return;
        };
        let aux_size = self.m.obj(h.obj).size;
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
        let got = sys::pager_supply(self.dev.as_fd(), args).err().unwrap_or(OK);
        let want = if !manage {
            ACCESS_DENIED
        } else if unaligned {
            INVALID_ARGS
        } else if h.rights & (R_READ | R_WRITE) != R_READ | R_WRITE {
            ACCESS_DENIED
        } else if !in_range(offset, length, p.size) || !in_range(aux_offset, length, aux_size) {
            OUT_OF_RANGE
        } else if length == 0 {
            OK
        } else if p.detached {
            BAD_STATE
        } else {
            OK
        };
        let what = format!(
            "PAGER_SUPPLY {offset:#x}+{length:#x} from aux {aux_offset:#x} (aux rights {:#x})",
            h.rights
        );
        self.direct(Ioctl::PagerSupply, None, got, want, &what);
        if got != OK || length == 0 {
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
    /// writeback ops (not supported yet) or an unknown op.
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
        let got = sys::pager_op_range(self.dev.as_fd(), args).err().unwrap_or(OK);
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
                sys::VMO_PAGER_OP_DIRTY
                | sys::VMO_PAGER_OP_WRITEBACK_BEGIN
                | sys::VMO_PAGER_OP_WRITEBACK_END => NOT_SUPPORTED,
                _ => INVALID_ARGS,
            }
        };
        let what = format!("PAGER_OP_RANGE op {op} {offset:#x}+{length:#x} data {data:#x}");
        // Unknown ops count as one combination (op 0).
        let combo_op = if op <= sys::VMO_PAGER_OP_WRITEBACK_END { op } else { 0 };
        self.direct(Ioctl::PagerOp, Some(combo_op), got, want, &what);
    }

    /// READ of supplied pages (the content the pager supplied); after
    /// detaching, of any range: BAD_STATE.
    fn pager_read(&mut self, p: &Paged) {
        let (offset, len) = if p.detached {
            (self.rng.below(p.size / pg() + 1) * pg(), self.rng.below(2 * pg()))
        } else {
            let Some((&page, _)) = p.present.iter().nth(self.rng.index(p.present.len().max(1)))
            else {
                return;
            };
            (page * pg(), pg())
        };
        let mut buf = vec![0u8; len as usize];
        let got = sys::read(self.dev.as_fd(), p.raw, offset, &mut buf).err().unwrap_or(OK);
        let want = if !in_range(offset, len, p.size) {
            OUT_OF_RANGE
        } else if p.detached {
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
        if got == OK && !p.detached {
            if let Some(Some(want)) = p.present.get(&(offset / pg())) {
                let r = if *want == buf { OK } else { -1 };
                self.direct(Ioctl::PagerRead, None, r, OK, "the bytes a supplied page reads");
            }
        }
    }
}
