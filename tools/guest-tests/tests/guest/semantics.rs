//! What each op does to the pages: COMMIT, DECOMMIT, ZERO and the cache ops.

use std::time::{Duration, Instant};

use vmo::{Status, Vmo, VmoOp, VmoOptions};
use vmo_guest_tests::*;

fn filled(dev: &vmo::Device, pages: u64, byte: u8) -> Vmo {
    let v = new_vmo(dev, pages);
    v.write(&vec![byte; (pages * pg()) as usize], 0).unwrap();
    assert_eq!(committed(&v), pages * pg());
    v
}

#[test]
fn commit_rounds_the_range_out_to_pages() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    assert_eq!(v.commit(0x10, 0x100), Ok(()));
    assert_eq!(committed(&v), p, "COMMIT(0x10, 0x100) commits one page");
    let w = new_vmo(&dev, 2);
    assert_eq!(w.commit(p - 1, 2), Ok(()));
    assert_eq!(committed(&w), 2 * p, "two bytes across a page boundary commit both pages");
    let x = new_vmo(&dev, 3);
    assert_eq!(x.commit(p + 1, 1), Ok(()));
    assert_eq!(committed(&x), p);
    assert_eq!(x.commit(2 * p + 5, p - 5), Ok(()), "up to the end");
    assert_eq!(committed(&x), 2 * p);
}

#[test]
fn commit_is_idempotent_and_keeps_data() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    v.write(b"keep me", 10).unwrap();
    assert_eq!(committed(&v), p);
    assert_eq!(v.commit(0, 2 * p), Ok(()));
    assert_eq!(v.commit(0, 2 * p), Ok(()));
    assert_eq!(committed(&v), 2 * p);
    assert_eq!(read(&v, 10, 7), b"keep me");
    assert_eq!(read(&v, p, 16), vec![0u8; 16], "committed pages are zero");
}

#[test]
fn commit_overflow_and_past_the_end_are_out_of_range() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 1);
    assert_eq!(v.commit(p, u64::MAX - p + 1), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.commit(0, 2 * p), Err(Status::OUT_OF_RANGE), "COMMIT(0, 2pg) of a 1-page VMO");
    assert_eq!(committed(&v), 0, "a refused COMMIT commits nothing");
}

#[test]
fn size_zero_is_ok_for_commit_decommit_and_zero() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    v.write(b"x", 0).unwrap();
    for op in [VmoOp::COMMIT, VmoOp::DECOMMIT, VmoOp::ZERO] {
        assert_eq!(v.op_range(op, 0, 0), Ok(()), "{op} (0, 0)");
        assert_eq!(v.op_range(op, p, 0), Ok(()), "{op} (pg, 0)");
        assert_eq!(v.op_range(op, 2 * p, 0), Ok(()), "{op} (end, 0)");
    }
    assert_eq!(committed(&v), p, "size 0 changes nothing");
    assert_eq!(read(&v, 0, 1), b"x");
}

#[test]
fn decommit_releases_pages_and_they_read_as_zeros() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = filled(&dev, 4, 0xaa);
    assert_eq!(v.decommit(p, 2 * p), Ok(()));
    assert_eq!(committed(&v), 2 * p);
    assert_eq!(read(&v, p, (2 * p) as usize), vec![0u8; (2 * p) as usize]);
    assert_eq!(read(&v, 0, p as usize), vec![0xaa; p as usize], "page 0 keeps its data");
    assert_eq!(read(&v, 3 * p, p as usize), vec![0xaa; p as usize], "page 3 keeps its data");
    assert_eq!(committed(&v), 2 * p, "reading the holes commits nothing");
    // Decommitting holes is fine; writing commits again.
    assert_eq!(v.decommit(0, 4 * p), Ok(()));
    assert_eq!(committed(&v), 0);
    v.write(b"again", p + 3).unwrap();
    assert_eq!(committed(&v), p);
    assert_eq!(read(&v, p + 3, 5), b"again");
}

#[test]
fn zero_is_byte_granular() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let h = (p / 2) as usize;
    let v = filled(&dev, 3, 0xaa);
    // From the middle of page 0 to the middle of page 2.
    assert_eq!(v.zero(p / 2, 2 * p), Ok(()));
    let all = read(&v, 0, (3 * p) as usize);
    assert_eq!(&all[..h], vec![0xaa; h], "page 0, first half: kept");
    assert_eq!(&all[h..(p as usize)], vec![0u8; h], "page 0, second half: zeroed");
    assert!(all[(p as usize)..(2 * p) as usize].iter().all(|b| *b == 0), "page 1 zeroed");
    let p2 = (2 * p) as usize;
    assert_eq!(&all[p2..p2 + h], vec![0u8; h], "page 2, first half: zeroed");
    assert_eq!(&all[p2 + h..], vec![0xaa; h], "page 2, second half: kept");
    assert_eq!(committed(&v), 2 * p, "the whole page 1 was released, pages 0 and 2 stay");
}

#[test]
fn zero_single_bytes_and_whole_vmo() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = filled(&dev, 2, 0x55);
    assert_eq!(v.zero(3, 1), Ok(()));
    assert_eq!(read(&v, 0, 6), [0x55, 0x55, 0x55, 0, 0x55, 0x55]);
    assert_eq!(committed(&v), 2 * p);
    assert_eq!(v.zero(0, 2 * p), Ok(()));
    assert_eq!(committed(&v), 0, "zeroing whole pages releases them");
    assert_eq!(read(&v, 0, (2 * p) as usize), vec![0u8; (2 * p) as usize]);
}

#[test]
fn zero_leaves_uncommitted_pages_uncommitted() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    assert_eq!(v.zero(0, 4 * p), Ok(()));
    assert_eq!(committed(&v), 0);
    assert_eq!(v.zero(10, 100), Ok(()), "partial page of a hole");
    assert_eq!(committed(&v), 0);
    v.write(b"page one", p).unwrap();
    assert_eq!(committed(&v), p);
    // A range over committed page 1 (partly) and holes 2-3 (partly, wholly).
    assert_eq!(v.zero(p + 4, 2 * p + 10), Ok(()));
    assert_eq!(committed(&v), p, "the holes stay holes");
    assert_eq!(read(&v, p, 8), b"page\0\0\0\0");
    assert_eq!(v.zero(2 * p + 1, 10), Ok(()));
    assert_eq!(committed(&v), p);
}

#[test]
fn cache_ops_keep_data_and_commitment_and_pass_over_holes() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 4);
    for &op in VmoOp::ALL.iter().filter(|o| o.is_cache_op()) {
        assert_eq!(v.op_range(op, 0, 4 * p), Ok(()), "{op} over holes only");
    }
    assert_eq!(committed(&v), 0, "cache ops commit nothing");
    v.write(b"data in page 1", p).unwrap();
    v.write(b"data in page 3", 3 * p + 100).unwrap();
    for &op in VmoOp::ALL.iter().filter(|o| o.is_cache_op()) {
        assert_eq!(v.op_range(op, 0, 4 * p), Ok(()), "{op}");
        assert_eq!(v.op_range(op, p + 3, 5), Ok(()), "{op} a few bytes");
        assert_eq!(v.op_range(op, 3 * p + 1, p - 1), Ok(()), "{op} up to the end");
        assert_eq!(committed(&v), 2 * p, "{op} does not change commitment");
        // INVALIDATE is a clean+invalidate: the data survives.
        assert_eq!(read(&v, p, 14), b"data in page 1", "{op}");
        assert_eq!(read(&v, 3 * p + 100, 14), b"data in page 3", "{op}");
    }
}

/// The cost of a cache op follows the committed pages, not the range: over
/// 1 TiB with three committed pages it must return at once (here: within
/// 5 s, generous for an emulated CPU; a page-by-page walk over 2^28 pages
/// would take minutes).
#[test]
fn cache_op_over_a_huge_sparse_vmo_is_quick() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let size = 1u64 << 40;
    let v = Vmo::create(&dev, size, VmoOptions::empty()).expect("create a 1 TiB VMO");
    for off in [0, size / 2, size - p] {
        v.write(b"x", off).unwrap();
    }
    assert_eq!(committed(&v), 3 * p);
    for &op in VmoOp::ALL.iter().filter(|o| o.is_cache_op()) {
        let t = Instant::now();
        assert_eq!(v.op_range(op, 0, size), Ok(()), "{op}");
        let took = t.elapsed();
        assert!(took < Duration::from_secs(5), "{op} over 1 TiB took {took:?}");
    }
    assert_eq!(committed(&v), 3 * p);
    // DECOMMIT and ZERO of the whole range follow the committed pages too.
    let t = Instant::now();
    assert_eq!(v.zero(0, size), Ok(()));
    assert_eq!(v.decommit(0, size), Ok(()));
    assert!(t.elapsed() < Duration::from_secs(5), "ZERO+DECOMMIT of 1 TiB took {:?}", t.elapsed());
    assert_eq!(committed(&v), 0);
}

#[test]
fn reads_of_holes_return_zeros_and_commit_nothing() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 8);
    assert_eq!(read(&v, 0, (8 * p) as usize), vec![0u8; (8 * p) as usize]);
    assert_eq!(committed(&v), 0);
}

#[test]
fn writes_commit_exactly_the_pages_they_touch() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 8);
    v.write(b"ab", p - 1).unwrap();
    assert_eq!(committed(&v), 2 * p);
    v.write(&vec![1u8; (2 * p) as usize], 4 * p).unwrap();
    assert_eq!(committed(&v), 4 * p);
    v.write(&[], 7 * p).unwrap();
    assert_eq!(committed(&v), 4 * p, "an empty write commits nothing");
}
