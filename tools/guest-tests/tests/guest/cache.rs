//! The cache-maintenance ops' rules as userspace sees them, on every
//! architecture the guest runs (x86-64 and arm64).
//!
//! arm64 is where they matter: its data caches are not coherent with
//! non-coherent DMA, and a true invalidate (`dc ivac`) drops dirty lines,
//! which could make memory go back to what DRAM held before the last write.
//! The module runs CACHE_INVALIDATE as clean+invalidate (`dc civac` on arm64,
//! `clflushopt`/`clflush` on x86-64; see the UAPI header), so that no op ever
//! exposes data older than what the VMO last held. QEMU (TCG) models no
//! caches: these tests prove the data contract on both architectures, and
//! the KUnit suite `vmo_cache` proves which instruction runs on which lines.

use vmo::{VmoOp, VmoOptions};
use vmo_guest_tests::*;

/// Bytes that differ per round and per position, so that a stale or shifted
/// line is visible.
fn pattern(round: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(round.wrapping_mul(97)) | 1).collect()
}

/// Write, invalidate, read back: through `zx_vmo_write` and through a
/// mapping (whose stores may sit in dirty lines of the CPU's cache when the
/// op runs), over whole pages and over unaligned sub-ranges that start and
/// end inside cache lines. Every read sees the last data written, never an
/// older round: CACHE_INVALIDATE never discards a dirty line.
#[test]
fn invalidate_never_exposes_older_data() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let len = 3 * p as usize;
    let v = vmo::Vmo::create(&dev, len as u64, VmoOptions::empty()).unwrap();
    let map = v.map(0, len, true).unwrap();
    // (offset, size) of each invalidate: whole, unaligned inside one line,
    // across a page boundary, and one byte.
    let ranges = [(0, len as u64), (5, 50), (p - 3, 70), (2 * p + 63, 1)];
    for round in 0..8u8 {
        let data = pattern(round, len);
        if round % 2 == 0 {
            v.write(&data, 0).unwrap();
        } else {
            map.write_at(0, &data).unwrap();
        }
        for &(off, size) in &ranges {
            v.op_range(VmoOp::CACHE_INVALIDATE, off, size).unwrap();
            assert_eq!(
                v.read_to_vec(0, len).unwrap(),
                data,
                "round {round}: read after invalidate({off}, {size})"
            );
            assert_eq!(
                map.read_to_vec(0, len).unwrap(),
                data,
                "round {round}: mapping after invalidate({off}, {size})"
            );
        }
    }
}

/// A clean between two writes does not pin the older data: write A, clean,
/// write B through the mapping, invalidate, and B is what everyone reads.
#[test]
fn invalidate_after_clean_keeps_the_newer_write() {
    let _g = shared();
    let dev = dev();
    let p = pg() as usize;
    let v = vmo::Vmo::create(&dev, p as u64, VmoOptions::empty()).unwrap();
    let map = v.map(0, p, true).unwrap();
    let a = pattern(1, p);
    let b = pattern(2, p);
    v.write(&a, 0).unwrap();
    v.op_range(VmoOp::CACHE_CLEAN, 0, p as u64).unwrap();
    map.write_at(0, &b).unwrap();
    v.op_range(VmoOp::CACHE_INVALIDATE, 0, p as u64).unwrap();
    assert_eq!(v.read_to_vec(0, p).unwrap(), b);
    v.op_range(VmoOp::CACHE_CLEAN_INVALIDATE, 0, p as u64).unwrap();
    assert_eq!(map.read_to_vec(0, p).unwrap(), b);
}

/// Invalidating a page that was committed but never written shows zeros,
/// not whatever the memory held before the kernel handed the page out.
#[test]
fn invalidate_of_a_fresh_page_reads_zeros() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    for _ in 0..16 {
        let v = vmo::Vmo::create(&dev, 4 * p, VmoOptions::empty()).unwrap();
        v.commit(0, 4 * p).unwrap();
        v.op_range(VmoOp::CACHE_INVALIDATE, 0, 4 * p).unwrap();
        assert!(v.read_to_vec(0, 4 * p as usize).unwrap().iter().all(|&b| b == 0));
    }
}
