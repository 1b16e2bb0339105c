//! Every op x every right: the right an op needs (Zircon's
//! `zx_vmo_op_range` documentation) is enough; without it the op is
//! `ACCESS_DENIED`.
//!
//! COMMIT, DECOMMIT, ZERO, CACHE_INVALIDATE need WRITE; CACHE_SYNC,
//! CACHE_CLEAN, CACHE_CLEAN_INVALIDATE need READ; LOCK and UNLOCK need READ
//! or WRITE and then are `NOT_SUPPORTED` (no discardable VMOs).

use vmo::{HandleBased, Rights, Status, Vmo, VmoOp};
use vmo_guest_tests::*;

/// What `op` over the first page gives through a handle with `rights`.
fn expected(op: VmoOp, rights: Rights) -> Status {
    let need = op.required_rights().expect("known op");
    if !need.is_empty() && !rights.intersects(need) {
        Status::ACCESS_DENIED
    } else if op == VmoOp::LOCK || op == VmoOp::UNLOCK || op == VmoOp::TRY_LOCK {
        Status::NOT_SUPPORTED
    } else {
        Status::OK
    }
}

/// A committed resizable VMO of 2 pages (resizable so RESIZE can be held).
fn target(dev: &vmo::Device) -> Vmo {
    let v = new_resizable(dev, 2);
    v.commit(0, 2 * pg()).expect("commit");
    v
}

fn run_table(cases: &[(VmoOp, Rights)]) {
    let dev = dev();
    let mut wrong = Vec::new();
    for &(op, r) in cases {
        let v = target(&dev);
        let h = v.duplicate_handle(r).unwrap_or_else(|s| panic!("duplicate({r:?}): {s}"));
        let got = st(h.op_range(op, 0, pg()));
        let want = expected(op, r);
        if got != want {
            wrong.push(format!("{op} with {r:?}: got {got}, want {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_op_with_each_single_right_and_with_none() {
    let _g = shared();
    let mut cases = Vec::new();
    for &op in VmoOp::ALL {
        cases.push((op, Rights::NONE));
        for r in Rights::vmo_rights() {
            cases.push((op, r));
        }
    }
    assert_eq!(cases.len(), VmoOp::ALL.len() * 12);
    run_table(&cases);
}

#[test]
fn every_op_with_exactly_the_needed_rights_succeeds() {
    let _g = shared();
    let dev = dev();
    for &op in VmoOp::ALL {
        let need = op.required_rights().unwrap();
        // LOCK/UNLOCK: each of READ and WRITE alone passes the rights check.
        for r in need.iter() {
            let h = target(&dev).duplicate_handle(r).unwrap();
            let want = if op == VmoOp::LOCK || op == VmoOp::UNLOCK || op == VmoOp::TRY_LOCK {
                Status::NOT_SUPPORTED
            } else {
                Status::OK
            };
            assert_eq!(st(h.op_range(op, 0, pg())), want, "{op} with exactly {r:?}");
        }
    }
}

#[test]
fn every_op_with_all_rights_but_the_needed_ones_is_access_denied() {
    let _g = shared();
    let dev = dev();
    let all = Rights::DEFAULT_VMO | Rights::RESIZE;
    for &op in VmoOp::ALL {
        let need = op.required_rights().unwrap();
        if need.is_empty() {
            continue; // the hints need no right
        }
        let r = all - need;
        let h = target(&dev).duplicate_handle(r).unwrap();
        assert_eq!(h.op_range(op, 0, pg()), Err(Status::ACCESS_DENIED), "{op} with {r:?}");
    }
}

#[test]
fn the_full_rights_handle_runs_every_op() {
    let _g = shared();
    let dev = dev();
    for &op in VmoOp::ALL {
        let v = target(&dev);
        assert_eq!(st(v.op_range(op, 0, pg())), expected(op, rights(&v)), "{op}");
    }
}

#[test]
fn read_write_and_get_size_rights() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let none = v.duplicate_handle(Rights::NONE).unwrap();
    let ro = v.duplicate_handle(Rights::READ).unwrap();
    let wo = v.duplicate_handle(Rights::WRITE).unwrap();
    assert_eq!(wo.write(b"abc", 0), Ok(()));
    assert_eq!(ro.read_to_vec(0, 3), Ok(b"abc".to_vec()));
    assert_eq!(ro.write(b"x", 0), Err(Status::ACCESS_DENIED));
    assert_eq!(wo.read_to_vec(0, 1), Err(Status::ACCESS_DENIED));
    assert_eq!(none.read_to_vec(0, 1), Err(Status::ACCESS_DENIED));
    assert_eq!(none.write(b"x", 0), Err(Status::ACCESS_DENIED));
    // GET_SIZE needs no right (header).
    assert_eq!(none.get_size(), Ok(pg()));
    assert_eq!(read(&v, 0, 3), b"abc");
}

/// GET_INFO through a handle without any right. The header names no right
/// for it; Zircon's ZX_INFO_HANDLE_BASIC needs none (its ZX_INFO_VMO would
/// need INSPECT): this test expects the module to need none.
#[test]
fn info_needs_no_right_and_reports_the_handles_rights() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    for r in Rights::vmo_rights().filter(|r| *r != Rights::RESIZE) {
        let h = v.duplicate_handle(r).unwrap();
        assert_eq!(rights(&h), r);
    }
    let none = v.duplicate_handle(Rights::NONE).unwrap();
    let info = none.info().expect("info without rights");
    assert_eq!(info.rights, Rights::NONE);
    assert_eq!(info.size, pg());
    assert_eq!(info.koid, v.info().unwrap().koid);
}
