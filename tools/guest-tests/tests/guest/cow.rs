//! Copy-on-write children: a snapshot shares its parent's pages until one
//! side writes them (Zircon's `zx_vmo_create_child` SNAPSHOT semantics: as if
//! an eager copy had been made at creation), and a clone of a pager-backed
//! VMO is made without asking the pager anything.

use std::time::Duration;

use crate::pager::{WAIT, assert_no_packet, bg, next_read, pattern, pattern_byte, supply_pattern};
use vmo::{Pager, Status, Vmo, VmoChildOptions as Child};
use vmo_guest_tests::*;

/// Shmem that may stay or appear for reasons of its own (other tests'
/// leftovers freed late, the kernel's own users).
const SLACK_KIB: u64 = 1024;

/// A byte that says which VMO of a chain wrote a page, and which page.
fn tag(level: usize, page: u64) -> u8 {
    (level as u8).wrapping_mul(7).wrapping_add(page as u8) | 1
}

/// A small deterministic generator for closing orders.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Creating a snapshot of a VMO with 64 MiB written commits nothing, and
/// `Shmem:` grows by what the child writes, page for page; closing both
/// returns `Shmem:` to its baseline.
#[test]
fn a_snapshot_costs_only_the_pages_written_after_it() {
    let _g = exclusive();
    let dev = dev();
    let p = pg();
    let pages = (64 << 20) / p;
    let base = shmem_kib();
    {
        let v = new_vmo(&dev, pages);
        v.write(&vec![0x5a; (pages * p) as usize], 0).unwrap();
        let before = shmem_kib();
        let s = v.create_child(Child::SNAPSHOT, 0, pages * p).unwrap();
        let after = shmem_kib();
        assert!(after <= before + SLACK_KIB, "snapshot of 64 MiB: Shmem {before} -> {after} KiB");
        assert_eq!(committed(&s), 0);
        let k = 256;
        for i in 0..k {
            s.write(&[i as u8], i * 3 * p).unwrap();
        }
        let written = shmem_kib();
        let grew = written.saturating_sub(after);
        let want = k * p / 1024;
        assert!(
            grew.abs_diff(want) <= want / 100 + 64,
            "{k} pages written in the child: Shmem grew {grew} KiB, expected {want} KiB"
        );
        assert_eq!(committed(&s), k * p);
        assert_eq!(committed(&v), pages * p, "the parent keeps the pages both read");
        assert_eq!(read(&s, 3 * p, 2), [1, 0x5a]);
        assert_eq!(read(&v, 3 * p, 2), [0x5a, 0x5a]);
    }
    let end = wait_shmem_at_most(base + SLACK_KIB, Duration::from_secs(30));
    assert!(end <= base + SLACK_KIB, "Shmem {end} KiB after closing, baseline {base} KiB");
}

/// Chains of 60 snapshots, each level writing pages of its own before the
/// next is made of it, closed in three different orders: after every close
/// every VMO still open reads exactly what it held, and after the last
/// `Shmem:` is back at its baseline.
#[test]
fn chains_of_sixty_closed_in_any_order_keep_every_vmo_content() {
    let _g = exclusive();
    let dev = dev();
    let p = pg();
    const DEPTH: usize = 60;
    const PAGES: u64 = 8;
    let base = shmem_kib();
    for seed in [1u64, 2, 3] {
        // expect[l][page]: what level l reads at the start of `page`.
        let mut chain: Vec<(usize, Vmo)> = Vec::new();
        let mut expect = Vec::with_capacity(DEPTH + 1);
        let mut current = [0u8; PAGES as usize];
        let mut v = new_vmo(&dev, PAGES);
        for level in 0..DEPTH {
            // Each level writes two pages of its own, then is snapshotted.
            for page in [level as u64 % PAGES, (level as u64 * 3 + 1) % PAGES] {
                v.write(&[tag(level, page)], page * p).unwrap();
                current[page as usize] = tag(level, page);
            }
            expect.push(current);
            let next = v.create_child(Child::SNAPSHOT, 0, PAGES * p).unwrap();
            chain.push((level, std::mem::replace(&mut v, next)));
        }
        expect.push(current);
        chain.push((DEPTH, v));
        let mut rng = Lcg(seed);
        while !chain.is_empty() {
            let (level, gone) = chain.swap_remove(rng.below(chain.len()));
            for page in 0..PAGES {
                assert_eq!(read(&gone, page * p, 1), [expect[level][page as usize]]);
            }
            drop(gone);
            for (l, w) in &chain {
                for page in 0..PAGES {
                    assert_eq!(
                        read(w, page * p, 1),
                        [expect[*l][page as usize]],
                        "seed {seed}: level {l} page {page} after closing level {level}"
                    );
                }
            }
        }
        let end = wait_shmem_at_most(base + SLACK_KIB, Duration::from_secs(30));
        assert!(end <= base + SLACK_KIB, "seed {seed}: Shmem {end} KiB, baseline {base} KiB");
    }
}

/// No later change of an ancestor shows through a mapping of a snapshot:
/// a write through the ioctl, a write through the parent's mapping (made
/// writable before the snapshot existed), ZERO, a shrink, and a write in the
/// grandparent; the snapshot's own write fault is seen by every mapping of
/// it and by nobody else.
#[test]
fn ancestor_changes_never_show_through_a_snapshot_mapping() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let up = p as usize;
    let g = new_resizable(&dev, 4);
    g.write(&vec![b'g'; 4 * up], 0).unwrap();
    let v = g.create_child(Child::SNAPSHOT | Child::RESIZABLE, 0, 4 * p).unwrap();
    v.write(b"parent", 0).unwrap();
    let vm = v.map(0, 4 * up, true).unwrap();
    vm.write_at(up, b"mapped before").unwrap(); // the parent's PTE is writable now
    let s = v.create_child(Child::SNAPSHOT, 0, 4 * p).unwrap();
    let (sm, sm2) = (s.map(0, 4 * up, true).unwrap(), s.map(0, 4 * up, false).unwrap());
    assert_eq!(sm.read_to_vec(0, 6).unwrap(), b"parent");
    vm.write_at(up, b"MAPPED AFTER!").unwrap();
    v.write(b"PARENT", 0).unwrap();
    v.zero(2 * p, p).unwrap();
    g.write(b"GRAND", 3 * p).unwrap();
    v.set_size(3 * p).unwrap();
    assert_eq!(sm.read_to_vec(0, 6).unwrap(), b"parent");
    assert_eq!(sm2.read_to_vec(up, 13).unwrap(), b"mapped before");
    assert_eq!(sm.read_to_vec(2 * up, 4).unwrap(), b"gggg");
    assert_eq!(sm.read_to_vec(3 * up, 5).unwrap(), b"ggggg");
    assert_eq!(read(&s, 3 * p, 5), b"ggggg");
    // The snapshot's write fault: every mapping of it sees it, the parent does not.
    sm.write_at(10, b"snap").unwrap();
    assert_eq!(sm2.read_to_vec(10, 4).unwrap(), b"snap");
    assert_eq!(read(&s, 10, 4), b"snap");
    assert_eq!(vm.read_to_vec(0, 14).unwrap(), b"PARENTgggggggg");
    assert_eq!(read(&v, 10, 4), b"gggg");
}

/// The resident size (`Rss` in `/proc/self/smaps`, KiB) of the mapping that
/// starts at `addr`.
fn rss_kib(addr: *const u8) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let start = format!("{:x}-", addr as usize);
    let rss =
        smaps.lines().skip_while(|l| !l.starts_with(&start)).find_map(|l| l.strip_prefix("Rss:"));
    let kib = rss.unwrap_or_else(|| panic!("no Rss for the mapping at {start}"));
    kib.trim().trim_end_matches("kB").trim().parse().unwrap()
}

/// A snapshot of a VMO whose writable mapping was only read keeps that
/// mapping's pages mapped (no page table entry of it is writable, so there is
/// nothing to take back, as Zircon only removes write access), and the first
/// write through the mapping after the snapshot still leaves the snapshot the
/// page as it was.
#[test]
fn a_snapshot_keeps_a_read_mapping_and_still_gets_the_page_a_later_store_changes() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let up = p as usize;
    let v = new_vmo(&dev, 4);
    v.write(&vec![b'a'; 4 * up], 0).unwrap();
    let vm = v.map(0, 4 * up, true).unwrap();
    assert_eq!(vm.read_to_vec(0, 4 * up).unwrap(), vec![b'a'; 4 * up]);
    let before = rss_kib(vm.as_ptr());
    assert_eq!(before, 4 * p / 1024, "the read faulted in every page");
    let s = v.create_child(Child::SNAPSHOT, 0, 4 * p).unwrap();
    assert_eq!(rss_kib(vm.as_ptr()), before, "the snapshot unmapped a read-only mapping");
    vm.write_at(up + 1, b"after").unwrap();
    assert_eq!(read(&s, p, 8), b"aaaaaaaa");
    assert_eq!(read(&v, p, 8), b"aafteraa");
    let sm = s.map(0, 4 * up, false).unwrap();
    assert_eq!(sm.read_to_vec(up, 8).unwrap(), b"aaaaaaaa");
    // Written through the mapping now: the next snapshot takes the entries back.
    let s2 = v.create_child(Child::SNAPSHOT, 0, 4 * p).unwrap();
    vm.write_at(up + 1, b"AFTER").unwrap();
    assert_eq!(read(&s2, p, 8), b"aafteraa");
    assert_eq!(read(&s, p, 8), b"aaaaaaaa");
    assert_eq!(read(&v, p, 8), b"aAFTERaa");
}

/// A clone of a pager-backed VMO is made at once while its pager answers
/// nothing, and asks nothing; its first access asks the parent's pager for
/// the page, and the supplied page then serves both VMOs without another
/// request. Its writes stay its own.
#[test]
fn a_pager_backed_clone_is_made_without_asking_the_pager() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = Pager::create(&dev).unwrap();
    let key = 0xc0c0;
    let vmo = pager.create_vmo(key, 4 * p).unwrap();
    let start = std::time::Instant::now();
    let clone =
        std::sync::Arc::new(vmo.create_child(Child::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 4 * p).unwrap());
    assert!(start.elapsed() < WAIT, "creation waited");
    assert_no_packet(&pager, "after creating the clone");
    assert_eq!(committed(&clone), 0);
    let w = bg("write to the clone", {
        let c = clone.clone();
        move || c.write(b"clone", 2 * p + 1)
    });
    let req = next_read(&pager, key);
    assert!(req.range().contains(&(2 * p)), "{req:?}");
    supply_pattern(&dev, &pager, &vmo, req.range());
    assert_eq!(w.join_within(WAIT), Ok(()));
    assert_eq!(read(&vmo, 2 * p, 8), pattern(2 * p..2 * p + 8), "the parent keeps the page");
    assert_eq!(read(&clone, 2 * p, 1), [pattern_byte(2 * p)]);
    assert_eq!(read(&clone, 2 * p + 1, 5), b"clone");
    assert_no_packet(&pager, "after the supply");
    // SNAPSHOT of a pager-backed VMO, or of its clone: NOT_SUPPORTED.
    assert_eq!(st(vmo.create_child(Child::SNAPSHOT, 0, p)), Status::NOT_SUPPORTED);
    assert_eq!(st(clone.create_child(Child::SNAPSHOT, 0, p)), Status::NOT_SUPPORTED);
}

/// A closed parent's pages are given to its only child rather than kept:
/// twenty generations of "snapshot, close the old VMO, rewrite every page"
/// over 4 MiB hold one generation's pages, not twenty (each page is copied
/// once into the child, then the closed parent's copy is freed); every
/// generation reads exactly what it wrote.
#[test]
fn generations_of_snapshots_hold_one_generation_of_pages() {
    let _g = exclusive();
    let dev = dev();
    let p = pg();
    let pages = (4 << 20) / p;
    let base = shmem_kib();
    {
        let mut v = new_vmo(&dev, pages);
        v.write(&vec![1u8; (pages * p) as usize], 0).unwrap();
        for generation in 2..22u8 {
            let next = v.create_child(Child::SNAPSHOT, 0, pages * p).unwrap();
            assert_eq!(read(&next, (pages - 1) * p, 1), [generation - 1]);
            drop(std::mem::replace(&mut v, next));
            v.write(&vec![generation; (pages * p) as usize], 0).unwrap();
            let now = shmem_kib().saturating_sub(base);
            assert!(
                now <= 4096 + 2 * SLACK_KIB,
                "generation {generation}: Shmem {now} KiB above the baseline for 4 MiB of pages"
            );
            assert_eq!(committed(&v), pages * p);
        }
        assert_eq!(read(&v, 0, 2), [21, 21]);
    }
    let end = wait_shmem_at_most(base + SLACK_KIB, Duration::from_secs(30));
    assert!(end <= base + SLACK_KIB, "Shmem {end} KiB after closing, baseline {base} KiB");
}

/// arm64 only: a buffer whose pointer carries a tag in its top byte (the
/// tagged address ABI: HWASan, MTE) is accepted by the copy-on-write write
/// and read paths, whose user copies run with page faults disabled and check
/// the range with `access_ok`, which untags.
#[cfg(target_arch = "aarch64")]
#[test]
fn tagged_buffers_are_copied_to_and_from_a_snapshot() {
    const PR_SET_TAGGED_ADDR_CTRL: libc::c_int = 55;
    const PR_TAGGED_ADDR_ENABLE: libc::c_ulong = 1;
    let _g = shared();
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(PR_SET_TAGGED_ADDR_CTRL, PR_TAGGED_ADDR_ENABLE, 0, 0, 0) };
    if r != 0 {
        eprintln!("no tagged address ABI in this kernel: skipped");
        return;
    }
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    v.write(b"parent", 0).unwrap();
    let s = v.create_child(Child::SNAPSHOT, 0, 2 * p).unwrap();
    let data = b"tagged write".to_vec();
    let mut back = vec![0u8; data.len()];
    let tag = 0x5au64 << 56;
    // SAFETY: the tagged pointers address the same buffers (the CPU ignores the top byte
    // with the tagged address ABI enabled), which live for the calls and are not otherwise
    // borrowed meanwhile.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts((data.as_ptr() as u64 | tag) as *const u8, data.len()),
            std::slice::from_raw_parts_mut((back.as_mut_ptr() as u64 | tag) as *mut u8, back.len()),
        )
    };
    assert_eq!(s.write(src, p + 3), Ok(()));
    assert_eq!(s.read(dst, p + 3), Ok(()));
    assert_eq!(back, data);
    assert_eq!(read(&v, p + 3, 6), [0; 6], "the parent keeps its page");
}
