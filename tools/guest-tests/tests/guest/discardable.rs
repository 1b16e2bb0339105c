//! Discardable VMOs (Zircon's RFC-0012): LOCK, TRY_LOCK, UNLOCK with
//! Zircon's statuses and check order, the hints, and discards under real
//! memory pressure: a child process in a memory cgroup with a limit (and no
//! swap) commits past it, so the cgroup's reclaim runs the module's
//! memcg-aware shrinker.
//!
//! The pressure tests run in a child (`discardable::child_role`), as the
//! stress tests do; the SIGBUS one runs its faulting access in a child too.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use vmo::{
    HandleBased, LockState, Rights, Status, Vmo, VmoChildOptions, VmoInfoFlags, VmoOp, VmoOptions,
};
use vmo_guest_tests::*;

/// The ignored test that the children run.
const ROLE_TEST: &str = "discardable::child_role";
/// The cgroup the pressure tests make.
const CGROUP: &str = "/sys/fs/cgroup/vmo-discard";

fn discardable(dev: &vmo::Device, pages: u64) -> Vmo {
    Vmo::create(dev, pages * pg(), VmoOptions::DISCARDABLE).expect("create a discardable VMO")
}

/// Every status of the lock ops, in Zircon's order (vm_object_dispatcher.cc
/// RangeOp: rights first; vm_object_paged.cc LockRange: NOT_SUPPORTED, then
/// the range; the whole VMO only, OUT_OF_RANGE otherwise).
#[test]
fn lock_ops_follow_zircons_statuses_and_order() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = discardable(&dev, 2);
    let info = v.info().unwrap();
    assert!(info.flags.contains(VmoInfoFlags::DISCARDABLE));
    // A new discardable VMO is unlocked.
    assert_eq!(v.unlock(), Err(Status::BAD_STATE));
    let st = v.lock().unwrap();
    assert_eq!(st, LockState { offset: 0, size: 2 * p, discarded_offset: 0, discarded_size: 0 });
    assert_eq!(v.try_lock(), Ok(()));
    assert_eq!(v.unlock(), Ok(()));
    assert_eq!(v.unlock(), Ok(()));
    assert_eq!(v.unlock(), Err(Status::BAD_STATE));
    // Whole VMO only; overflow; past the end.
    for (o, s) in [(0, p), (p, p), (0, 3 * p), (1, u64::MAX), (0, 0)] {
        assert_eq!(v.op_range(VmoOp::TRY_LOCK, o, s), Err(Status::OUT_OF_RANGE), "{o} {s}");
        assert_eq!(v.op_range(VmoOp::UNLOCK, o, s), Err(Status::OUT_OF_RANGE), "{o} {s}");
        assert_eq!(v.op_range_with_buffer(o, s, 32), Err(Status::OUT_OF_RANGE), "{o} {s}");
    }
    // LOCK with a short buffer: INVALID_ARGS, and the lock is undone.
    for short in [0, 8, 31] {
        assert_eq!(v.op_range_with_buffer(0, 2 * p, short), Err(Status::INVALID_ARGS));
        assert_eq!(v.unlock(), Err(Status::BAD_STATE), "LOCK with a {short}-byte buffer stuck");
    }
    // Rights: READ or WRITE, checked first (before NOT_SUPPORTED and ranges).
    let no_io = v.duplicate_handle(Rights::MAP | Rights::DUPLICATE).unwrap();
    for op in [VmoOp::LOCK, VmoOp::TRY_LOCK, VmoOp::UNLOCK] {
        assert_eq!(no_io.op_range(op, 1, u64::MAX), Err(Status::ACCESS_DENIED), "{op}");
    }
    let ro = v.duplicate_handle(Rights::READ).unwrap();
    assert_eq!(ro.lock().map(|_| ()), Ok(()));
    let wo = v.duplicate_handle(Rights::WRITE).unwrap();
    assert_eq!(wo.unlock(), Ok(()));
    // Not discardable: NOT_SUPPORTED before the range.
    let plain = new_vmo(&dev, 1);
    for op in [VmoOp::LOCK, VmoOp::TRY_LOCK, VmoOp::UNLOCK] {
        assert_eq!(plain.op_range(op, 1, u64::MAX), Err(Status::NOT_SUPPORTED), "{op}");
    }
    assert_eq!(plain.lock().map(|_| ()), Err(Status::NOT_SUPPORTED));
    // No children; not resizable; unknown ops stay INVALID_ARGS.
    for opts in [VmoChildOptions::SLICE, VmoChildOptions::SNAPSHOT] {
        assert_eq!(v.create_child(opts, 0, p).map(|_| ()), Err(Status::NOT_SUPPORTED));
    }
    assert_eq!(
        Vmo::create(&dev, p, VmoOptions::DISCARDABLE | VmoOptions::RESIZABLE).map(|_| ()),
        Err(Status::INVALID_ARGS)
    );
    assert_eq!(
        Vmo::create(&dev, u64::MAX, VmoOptions::DISCARDABLE | VmoOptions::RESIZABLE).map(|_| ()),
        Err(Status::OUT_OF_RANGE)
    );
    for bad in [15, 16, 0xffff] {
        assert_eq!(v.op_range(VmoOp::from_raw(bad), 0, 2 * p), Err(Status::INVALID_ARGS));
    }
    // An unlocked, never-discarded VMO is readable and writable.
    v.write(b"data", 0).unwrap();
    assert_eq!(read(&v, 0, 4), b"data");
}

/// The hints need no right and, on VMOs that are not pager-backed, succeed
/// before any range check; PREFETCH needs READ, checks the range as COMMIT
/// does and commits nothing where no pager is asked (Zircon's PrefetchRange
/// only decompresses there), nor in a snapshot.
#[test]
fn hints_and_prefetch() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let v = new_vmo(&dev, 2);
    let none = v.duplicate_handle(Rights::DUPLICATE).unwrap();
    for op in [VmoOp::DONT_NEED, VmoOp::ALWAYS_NEED] {
        assert_eq!(none.op_range(op, u64::MAX, u64::MAX), Ok(()), "{op}");
    }
    let wo = v.duplicate_handle(Rights::WRITE).unwrap();
    assert_eq!(wo.op_range(VmoOp::PREFETCH, 0, p), Err(Status::ACCESS_DENIED));
    assert_eq!(v.op_range(VmoOp::PREFETCH, 0, 3 * p), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.op_range(VmoOp::PREFETCH, p, u64::MAX), Err(Status::OUT_OF_RANGE));
    assert_eq!(v.op_range(VmoOp::PREFETCH, 2 * p, 0), Ok(()));
    assert_eq!(committed(&v), 0);
    assert_eq!(v.op_range(VmoOp::PREFETCH, p + 1, 10), Ok(()));
    assert_eq!(committed(&v), 0);
    v.write(b"x", 0).unwrap();
    let child = v.create_child(VmoChildOptions::SNAPSHOT, 0, 2 * p).unwrap();
    assert_eq!(child.op_range(VmoOp::PREFETCH, 0, 2 * p), Ok(()));
    assert_eq!((committed(&child), committed(&v)), (0, p));
}

/// PREFETCH of a pager-backed VMO's clone asks the pager for the pages the
/// clone reads through to and waits for them, as a read would; the clone
/// copies nothing (Zircon's PrefetchRange: ProtectRangeFromReclamation).
#[test]
fn prefetch_of_a_pager_clone_pages_in_without_copying() {
    use crate::pager::{bg, next_read, supply_pattern};
    let _g = shared();
    let dev = dev();
    let p = pg();
    let pager = vmo::Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(0xd7, 2 * p).unwrap();
    let clone = pv.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * p).unwrap();
    let prefetch = bg("PREFETCH of the clone", move || {
        let r = clone.op_range(VmoOp::PREFETCH, 1, 2 * p - 1);
        (r, committed(&clone))
    });
    let req = next_read(&pager, 0xd7);
    assert_eq!(req.range(), 0..2 * p);
    supply_pattern(&dev, &pager, &pv, req.range());
    assert_eq!(prefetch.join_within(Duration::from_secs(30)), (Ok(()), 0));
    assert_eq!(committed(&pv), 2 * p);
}

/// Makes the cgroup (memory limit `limit`, no swap), runs `role` in a child
/// inside it and returns the child's `CHILD` lines (or its exit status).
fn in_cgroup(role: &str, limit: &str) -> std::process::Output {
    let root = Path::new("/sys/fs/cgroup");
    std::fs::write(root.join("cgroup.subtree_control"), "+memory")
        .expect("enable +memory in the root");
    let cg = Path::new(CGROUP);
    if cg.exists() {
        std::fs::remove_dir(cg).expect("remove a stale cgroup");
    }
    std::fs::create_dir(cg).expect("mkdir the cgroup");
    std::fs::write(cg.join("memory.max"), limit).expect("memory.max");
    if cg.join("memory.swap.max").exists() {
        std::fs::write(cg.join("memory.swap.max"), "0").expect("memory.swap.max");
    }
    let child = spawn_child_role(ROLE_TEST, role, &[]);
    std::fs::write(cg.join("cgroup.procs"), child.id().to_string())
        .expect("move the child into the cgroup");
    let out = child.wait_with_output().expect("wait for the child");
    let events = std::fs::read_to_string(cg.join("memory.events")).unwrap_or_default();
    for _ in 0..50 {
        if std::fs::remove_dir(cg).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!events.contains("oom_kill 1"), "the OOM killer ran: {events}");
    out
}

fn child_lines(out: &std::process::Output) -> (Vec<String>, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let quoted = stdout.lines().map(|l| format!("  child| {l}\n")).collect();
    (stdout.lines().filter_map(|l| l.find("CHILD ").map(|i| l[i..].to_string())).collect(), quoted)
}

/// Under memory pressure unlocked discardable VMOs are discarded least
/// recently unlocked first, locked and never-locked ones never; a discarded
/// VMO fails reads with NOT_FOUND, TRY_LOCK with UNAVAILABLE, and LOCK
/// reports the whole VMO as discarded and re-locks it (reading zeros).
#[test]
fn pressure_discards_the_least_recently_unlocked_first_and_never_a_locked_one() {
    let _g = exclusive();
    let out = in_cgroup("lru", "48M");
    let (lines, quoted) = child_lines(&out);
    assert!(out.status.success(), "the child failed ({}):\n{quoted}", out.status);
    assert!(lines.iter().any(|l| l.starts_with("CHILD lru ok")), "{quoted}");
    println!("{}", lines.join(" | "));
}

/// A mapping of a discarded VMO is SIGBUS until the VMO is locked again;
/// after LOCK it reads zeros (the child checks that first, then discards the
/// VMO again and touches the mapping).
#[test]
fn a_mapping_of_a_discarded_vmo_is_sigbus_until_relocked() {
    let _g = exclusive();
    let out = in_cgroup("sigbus", "48M");
    let (lines, quoted) = child_lines(&out);
    assert_eq!(
        out.status.signal(),
        Some(rustix::process::Signal::BUS.as_raw()),
        "the child should die of SIGBUS; it ended with {}:\n{quoted}",
        out.status
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("CHILD touching")),
        "the child died before its touch:\n{quoted}"
    );
}

/// Fills `vmo` (`len` bytes) with `byte`.
fn fill(v: &Vmo, len: u64, byte: u8) {
    let chunk = vec![byte; 1 << 20];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(chunk.len() as u64);
        v.write(&chunk[..n as usize], off).unwrap();
        off += n;
    }
}

/// Whether reading a byte of `v` says it is discarded (NOT_FOUND).
fn is_discarded(v: &Vmo) -> bool {
    match v.read_to_vec(0, 1) {
        Ok(_) => false,
        Err(Status::NOT_FOUND) => true,
        Err(s) => panic!("read: {s}"),
    }
}

/// Commits `pressure` 1 MiB at a time until `done` says so or it has
/// committed `max` bytes; NO_MEMORY is retried (discards free their pages on
/// a workqueue, a moment later).
fn press(pressure: &Vmo, max: u64, mut done: impl FnMut() -> bool) -> u64 {
    let mib = 1 << 20;
    let mut off = 0;
    let start = Instant::now();
    while off + mib <= max && !done() {
        match pressure.commit(off, mib) {
            Ok(()) => off += mib,
            Err(Status::NO_MEMORY) => std::thread::sleep(Duration::from_millis(20)),
            Err(s) => panic!("pressure COMMIT: {s}"),
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no discard within a minute");
    }
    off
}

fn lru_role() {
    let dev = dev();
    let mib = 1 << 20;
    let size = 6 * mib;
    // a, b, c: locked, filled, unlocked in the order b, a, c. d: locked. e: never locked.
    let vs: Vec<Vmo> =
        (0..5).map(|_| Vmo::create(&dev, size, VmoOptions::DISCARDABLE).unwrap()).collect();
    let (a, b, c, d, e) = (&vs[0], &vs[1], &vs[2], &vs[3], &vs[4]);
    for (v, byte) in [(b, 0xb), (a, 0xa), (c, 0xc), (d, 0xd)] {
        assert_eq!(v.lock().unwrap().discarded_size, 0);
        fill(v, size, byte);
    }
    fill(e, mib, 0xe);
    for v in [b, a, c] {
        v.unlock().unwrap();
    }
    println!("CHILD filled 4 x 6 MiB + 1 MiB under 48 MiB");
    let order = [b, a, c];
    let pressure = Vmo::create(&dev, 64 * mib, VmoOptions::empty()).unwrap();
    let pressed = press(&pressure, 64 * mib, || order.iter().all(|v| is_discarded(v)));
    let discarded: Vec<bool> = order.iter().map(|v| is_discarded(v)).collect();
    println!("CHILD pressed {} MiB; discarded b, a, c: {discarded:?}", pressed / mib);
    assert!(discarded[0], "the least recently unlocked VMO was not discarded");
    // Oldest first: whenever one is discarded, every older one is too. (All
    // three are, at the end; check the order as it happened through each step:
    // a second run with only one discard is below.)
    assert!(discarded.windows(2).all(|w| w[0] || !w[1]), "{discarded:?}");
    // Never the locked one nor the never-locked one.
    assert!(!is_discarded(d) && !is_discarded(e));
    assert_eq!(read(d, size - 1, 1), [0xd]);
    assert_eq!(read(e, 0, 1), [0xe]);
    assert_eq!(committed(d), size);
    // A discarded VMO: reads, writes and COMMIT fail with NOT_FOUND, TRY_LOCK
    // with UNAVAILABLE; its pages are freed.
    assert_eq!(b.read_to_vec(0, 1).map(|_| ()), Err(Status::NOT_FOUND));
    assert_eq!(b.write(b"x", 0), Err(Status::NOT_FOUND));
    assert_eq!(b.commit(0, 1), Err(Status::NOT_FOUND));
    assert_eq!(b.try_lock(), Err(Status::UNAVAILABLE));
    assert_eq!(b.unlock(), Err(Status::BAD_STATE));
    wait_all_freed(b, "the discard never freed the pages");
    // Free the pressure; LOCK reports the discard and the VMO reads zeros.
    drop(pressure);
    assert_eq!(
        b.lock().unwrap(),
        LockState { offset: 0, size, discarded_offset: 0, discarded_size: size }
    );
    assert_eq!(read(b, 0, 16), [0; 16]);
    b.write(b"again", 0).unwrap();
    assert_eq!(read(b, 0, 5), b"again");
    assert_eq!(b.lock().unwrap().discarded_size, 0);
    assert_eq!(b.try_lock(), Ok(()));
    println!("CHILD relocked");

    // The order, one discard at a time: lock a, c and d (refilling what was
    // discarded), unlock c, d, a in that order and press until one goes; up
    // to three rounds, until one discards fewer than all three.
    d.unlock().unwrap();
    let mut rounds = Vec::new();
    for round in 0..3 {
        for v in [a, c, d] {
            if v.lock().unwrap().discarded_size != 0 {
                fill(v, size, 0x11);
            }
        }
        for v in [c, d, a] {
            v.unlock().unwrap();
        }
        let pressure = Vmo::create(&dev, 64 * mib, VmoOptions::empty()).unwrap();
        press(&pressure, 64 * mib, || [c, d, a].iter().any(|v| is_discarded(v)));
        drop(pressure);
        let first: Vec<bool> = [c, d, a].iter().map(|v| is_discarded(v)).collect();
        println!("CHILD round {round}: first discard among c, d, a: {first:?}");
        assert!(first[0], "c, the least recently unlocked, was not the first discarded: {first:?}");
        // However many went at once (a discard's pages are freed a moment
        // later, so reclaim may ask again before it sees them), they went
        // oldest first.
        assert!(first.windows(2).all(|w| w[0] || !w[1]), "{first:?}");
        let all = first.iter().all(|&d| d);
        rounds.push(first);
        if !all {
            break;
        }
    }
    // Not all of them for one shortage: reclaim counts a discard still being
    // punched, or punched a moment ago, as freed. When the punch ends in the
    // middle of a reclaim pass on a busy host, the pass may still take the
    // rest (the kernel does not credit a cgroup's reclaim with what shrinkers
    // free); a module without the throttle takes all three in every round.
    assert!(
        rounds.iter().any(|r| !r.iter().all(|&d| d)),
        "every shortage discarded every unlocked VMO: {rounds:?}"
    );
    assert!(b.read_to_vec(0, 1).is_ok(), "b is locked");
    println!("CHILD lru ok");
}

fn sigbus_role() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) }).unwrap();
    let dev = dev();
    let mib = 1 << 20;
    let size = 8 * mib;
    let v = Vmo::create(&dev, size, VmoOptions::DISCARDABLE).unwrap();
    v.lock().unwrap();
    fill(&v, size, 0x5a);
    let m = v.map(0, size as usize, true).unwrap();
    assert_eq!(m.read_to_vec(0, 4).unwrap(), [0x5a; 4]);
    v.unlock().unwrap();
    let pressure = Vmo::create(&dev, 64 * mib, VmoOptions::empty()).unwrap();
    press(&pressure, 64 * mib, || is_discarded(&v));
    drop(pressure);
    // Re-locked: the mapping works and reads zeros.
    assert_eq!(v.lock().unwrap().discarded_size, size);
    assert_eq!(m.read_to_vec(4096, 4).unwrap(), [0; 4]);
    m.write_at(0, b"ok").unwrap();
    println!("CHILD relocked mapping works");
    v.unlock().unwrap();
    let pressure = Vmo::create(&dev, 64 * mib, VmoOptions::empty()).unwrap();
    press(&pressure, 64 * mib, || is_discarded(&v));
    println!("CHILD touching the discarded mapping");
    let r = m.read_to_vec(0, 1);
    println!("CHILD survived the touch: {r:?}");
}

/// Not a test of its own: the body of the child processes above.
#[test]
#[ignore = "child role: started by the discardable tests with VMO_GUEST_CHILD_ROLE set"]
fn child_role() {
    let role = std::env::var(CHILD_ROLE_ENV).expect("run only by the discardable tests");
    if role == "global" {
        return global_role();
    }
    let start = Instant::now();
    loop {
        let me = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        if me.trim_end().ends_with("/vmo-discard") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never moved into {CGROUP}: {me}");
        std::thread::sleep(Duration::from_millis(5));
    }
    match role.as_str() {
        "lru" => lru_role(),
        "sigbus" => sigbus_role(),
        "evict" => evict_role(),
        other => panic!("unknown role {other:?}"),
    }
}

/// A memory cgroup at its limit evicts the clean pages of its own pager-backed
/// VMOs (the module's pager shrinker is memcg aware: the VMO is on the list of
/// the cgroup of the task that created it, the pager): a child that is both
/// pager and user supplies 12 MiB, then commits past the limit; the pages go
/// (ALWAYS_NEED ones stay) and an evicted page is asked for again.
#[test]
fn a_cgroup_at_its_limit_evicts_its_own_pager_pages() {
    let _g = exclusive();
    let out = in_cgroup("evict", "48M");
    let (lines, quoted) = child_lines(&out);
    assert!(out.status.success(), "the child failed ({}):\n{quoted}", out.status);
    assert!(lines.iter().any(|l| l.starts_with("CHILD evict ok")), "{quoted}");
    println!("{}", lines.join(" | "));
}

fn evict_role() {
    use crate::pager::{assert_no_packet, bg, pattern, supply_pattern};
    let dev = dev();
    let mib = 1 << 20;
    let size = 12 * mib;
    let pager = vmo::Pager::create(&dev).unwrap();
    let key = 0xc9;
    let v = std::sync::Arc::new(pager.create_vmo(key, size).unwrap());
    // A MiB at a time: the aux VMO of each supply is freed before the next.
    for off in (0..size).step_by(mib as usize) {
        supply_pattern(&dev, &pager, &v, off..off + mib);
    }
    assert_eq!(v.op_range(VmoOp::ALWAYS_NEED, 0, mib), Ok(()));
    let held = committed(&v);
    println!("CHILD supplied {} MiB, {} MiB held", size / mib, held / mib);
    assert!(held > mib, "reclaim took pages during the supply already: {held}");
    let pressure = Vmo::create(&dev, 64 * mib, VmoOptions::empty()).unwrap();
    let pressed = press(&pressure, 64 * mib, || committed(&v) < held);
    // The worker frees a moment after the shrinker asked; wait until the count settles.
    std::thread::sleep(Duration::from_millis(200));
    let after = committed(&v);
    println!("CHILD pressed {} MiB; the VMO holds {} KiB", pressed / mib, after >> 10);
    assert!(after < held, "no page was evicted: {after} of {held}");
    // Not most of them for one shortage: reclaim counts pages the worker has
    // yet to evict as freed.
    assert!(after > held / 2, "one shortage evicted down to {after} of {held}");
    drop(pressure);
    // The ALWAYS_NEED MiB is still there: reading it needs no request.
    assert_eq!(read(&v, 0, 16), pattern(0..16));
    assert_eq!(read(&v, mib - 16, 16), pattern(mib - 16..mib));
    assert_no_packet(&pager, "a read of the ALWAYS_NEED range");
    // Evicted pages are asked for again and read the pager's bytes: a read of
    // the rest of the VMO, served request by request.
    let mut reader = bg("read of the evicted pages", {
        let v = v.clone();
        move || v.read_to_vec(mib, (size - mib) as usize)
    });
    let mut requests = 0;
    while !reader.finished_within(Duration::ZERO) {
        match pager.wait(Some(Duration::from_millis(100))) {
            Ok(req) => {
                assert_eq!((req.kind, req.key), (vmo::PacketKind::Read, key), "{req:?}");
                supply_pattern(&dev, &pager, &v, req.range());
                requests += 1;
            }
            Err(Status::TIMED_OUT) => {}
            Err(s) => panic!("pager wait: {s}"),
        }
    }
    assert_eq!(reader.join(), Ok(pattern(mib..size)));
    assert!(requests > 0, "no page was asked for again");
    println!("CHILD {requests} requests for the evicted pages");
    println!("CHILD evict ok");
}

/// Global memory pressure in the guest (no cgroup limit, swap off): a child
/// commits a plain VMO past what the guest has; kswapd and direct reclaim run
/// both shrinkers. The least recently unlocked discardable VMO
/// goes first and a locked one never; the clean pages of a pager VMO are
/// evicted, its ALWAYS_NEED range is not. The child is the OOM killer's first
/// choice (`oom_score_adj` 1000), so a reclaim that fails kills it, not the
/// test runner.
#[test]
fn global_pressure_discards_and_evicts() {
    let _g = exclusive();
    // Without swap, as the guests' zram would otherwise take the pressure (and
    // kswapd's swap-out fails allocations, with a stack trace, near the minimum).
    let _swap = SwapOff::new();
    let child = spawn_child_role(ROLE_TEST, "global", &[]);
    let out = child.wait_with_output().expect("wait for the child");
    let (lines, quoted) = child_lines(&out);
    assert!(out.status.success(), "the child failed ({}):\n{quoted}", out.status);
    assert!(lines.iter().any(|l| l.starts_with("CHILD global ok")), "{quoted}");
    println!("{}", lines.join(" | "));
}

/// One `drop_caches` write discards every unlocked discardable VMO (it asks
/// the shrinker once for everything; only reclaim, which asks again and again,
/// counts discards still being freed as progress), and evicts every clean page
/// of a large pager VMO.
#[test]
fn one_drop_caches_discards_every_unlocked_vmo_and_evicts_every_clean_page() {
    use crate::pager::supply_pattern;
    let _g = exclusive();
    let dev = dev();
    let mib = 1 << 20;
    let vs: Vec<Vmo> =
        (0..8).map(|_| Vmo::create(&dev, 2 * mib, VmoOptions::DISCARDABLE).unwrap()).collect();
    for v in &vs {
        assert_eq!(v.lock().unwrap().discarded_size, 0);
        fill(v, 2 * mib, 0x5a);
        v.unlock().unwrap();
    }
    let pager = vmo::Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(0xd0, 16 * mib).unwrap();
    for off in (0..16 * mib).step_by(mib as usize) {
        supply_pattern(&dev, &pager, &pv, off..off + mib);
    }
    std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    let kept: Vec<usize> = (0..vs.len()).filter(|&i| !is_discarded(&vs[i])).collect();
    assert!(kept.is_empty(), "not discarded by one drop_caches: {kept:?}");
    // The evictions run on the workqueue a moment later.
    wait_all_freed(&pv, "one drop_caches left pages of 16 MiB");
}

/// Waits up to 30 s for the workqueue to free every page of `v` (a discard's punch, an
/// eviction); fails with `what` and the KiB left.
fn wait_all_freed(v: &Vmo, what: &str) {
    let start = Instant::now();
    while committed(v) != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: {} KiB left",
            committed(v) >> 10
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A line of `/proc/meminfo` (`MemAvailable`), in bytes.
fn meminfo(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.split(':').next() == Some(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() << 10
}

/// The guest's swap devices, off until this is dropped (then on again).
struct SwapOff(Vec<std::ffi::CString>);

impl SwapOff {
    fn new() -> SwapOff {
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        let devs = swaps
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .map(|d| std::ffi::CString::new(d).unwrap())
            .collect::<Vec<_>>();
        for d in &devs {
            // SAFETY: a NUL-terminated path.
            let r = unsafe { libc::swapoff(d.as_ptr()) };
            assert_eq!(r, 0, "swapoff {d:?}: {}", std::io::Error::last_os_error());
        }
        SwapOff(devs)
    }
}

impl Drop for SwapOff {
    fn drop(&mut self) {
        for d in &self.0 {
            // SAFETY: a NUL-terminated path.
            let r = unsafe { libc::swapon(d.as_ptr(), 0) };
            assert_eq!(r, 0, "swapon {d:?}: {}", std::io::Error::last_os_error());
        }
    }
}

/// `MemAvailable` of the guest, in bytes.
fn mem_available() -> u64 {
    meminfo("MemAvailable")
}

fn global_role() {
    use crate::pager::{assert_no_packet, pattern, supply_pattern};
    std::fs::write("/proc/self/oom_score_adj", "1000").expect("oom_score_adj");
    let dev = dev();
    let mib = 1 << 20;
    let size = 16 * mib;
    // a, b: unlocked in the order b, a; d: locked.
    let vs: Vec<Vmo> =
        (0..3).map(|_| Vmo::create(&dev, size, VmoOptions::DISCARDABLE).unwrap()).collect();
    let (a, b, d) = (&vs[0], &vs[1], &vs[2]);
    for (v, byte) in [(b, 0xb), (a, 0xa), (d, 0xd)] {
        assert_eq!(v.lock().unwrap().discarded_size, 0);
        fill(v, size, byte);
    }
    b.unlock().unwrap();
    a.unlock().unwrap();
    let pager = vmo::Pager::create(&dev).unwrap();
    // Larger than the discardable VMOs: reclaim weighs each shrinker by what it
    // holds, and a discard frees a whole VMO at once, so a small pager VMO would
    // be reached only after long pressure.
    let psize = 64 * mib;
    let pv = pager.create_vmo(0x91, psize).unwrap();
    for off in (0..psize).step_by(mib as usize) {
        supply_pattern(&dev, &pager, &pv, off..off + mib);
    }
    assert_eq!(pv.op_range(VmoOp::ALWAYS_NEED, 0, mib), Ok(()));
    let held = committed(&pv);
    let avail = mem_available();
    println!("CHILD 3 x 16 MiB discardable, 64 MiB pager VMO; {} MiB available", avail / mib);
    // Commit up to what the guest has, and then some of the 95 MiB that
    // reclaim may take back (two unlocked VMOs, 63 MiB of clean pager pages).
    let max = (avail + 80 * mib) & !(mib - 1);
    let pressure = Vmo::create(&dev, max, VmoOptions::empty()).unwrap();
    let mut off = 0;
    let start = Instant::now();
    while off + 4 * mib <= max && !(is_discarded(b) && committed(&pv) < held) {
        match pressure.commit(off, 4 * mib) {
            Ok(()) => off += 4 * mib,
            Err(Status::NO_MEMORY) => std::thread::sleep(Duration::from_millis(20)),
            Err(s) => panic!("pressure COMMIT: {s}"),
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no reclaim within two minutes");
    }
    let order = [is_discarded(b), is_discarded(a)];
    let after = committed(&pv);
    println!(
        "CHILD pressed {} MiB; discarded b, a: {order:?}; pager VMO {} of {} KiB",
        off / mib,
        after >> 10,
        held >> 10
    );
    drop(pressure);
    assert!(order[0], "the least recently unlocked VMO was not discarded");
    assert!(order[0] || !order[1], "a went before b: {order:?}");
    assert!(!is_discarded(d), "the locked VMO was discarded");
    assert_eq!(read(d, size - 1, 1), [0xd]);
    assert!(after < held, "no pager page was evicted: {after} of {held}");
    assert_eq!(read(&pv, 0, 16), pattern(0..16));
    assert_eq!(read(&pv, mib - 16, 16), pattern(mib - 16..mib));
    assert_no_packet(&pager, "a read of the ALWAYS_NEED range");
    println!("CHILD global ok");
}

/// `(vmos, bytes)` locked, unlocked and discarded, as
/// `/sys/kernel/debug/vmo/discardable` shows them (`None` without debugfs).
fn debugfs_counts() -> Option<[(u64, u64); 3]> {
    let text = std::fs::read_to_string("/sys/kernel/debug/vmo/discardable").ok()?;
    let mut out = [(0, 0); 3];
    for (i, state) in ["locked", "unlocked", "discarded"].iter().enumerate() {
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(state))?;
        let f: Vec<u64> = line.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
        out[i] = (f[0], f[1]);
    }
    Some(out)
}

/// The `vmo-discard-state` line of a VMO fd's fdinfo.
fn fdinfo_state(fd: &std::os::fd::OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let line = text.lines().find(|l| l.starts_with("vmo-discard-state:")).unwrap_or("");
    line.trim_start_matches("vmo-discard-state:").trim().to_string()
}

/// The counts an admin reads follow LOCK, UNLOCK and a discard exactly:
/// `/sys/kernel/debug/vmo/discardable` (VMOs and bytes locked, unlocked,
/// discarded) and a VMO fd's fdinfo (the VMO's state and the same counts).
/// The discard comes from `drop_caches` (mode 2 runs every shrinker), with
/// no other test running. Each step is checked as a change of the counts
/// read just before and after it: a VMO of an earlier test whose last file
/// is closed late (a child process still exiting) may leave meanwhile.
#[test]
fn the_counts_follow_lock_unlock_and_discard() {
    let _g = exclusive();
    let dev = dev();
    let p = pg() as i64;
    if debugfs_counts().is_none() {
        eprintln!("no /sys/kernel/debug/vmo/discardable (no debugfs): skipped");
        return;
    }
    // Runs `f` and checks that it changed the counts by `d` (locked, unlocked, discarded).
    let step = |what: &str, d: [(i64, i64); 3], f: &mut dyn FnMut()| {
        let before = debugfs_counts().unwrap();
        f();
        let after = debugfs_counts().unwrap();
        let got: Vec<(i64, i64)> = (0..3)
            .map(|i| {
                (after[i].0 as i64 - before[i].0 as i64, after[i].1 as i64 - before[i].1 as i64)
            })
            .collect();
        assert_eq!(got, d, "{what}: counts {before:?} then {after:?}");
    };
    let mut a = None;
    let mut b = None;
    step("create 2 + 3 pages", [(0, 0), (2, 5 * p), (0, 0)], &mut || {
        a = Some(discardable(&dev, 2));
        b = Some(discardable(&dev, 3));
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    let (fa, fb) = (a.export_fd().unwrap(), b.export_fd().unwrap());
    assert_eq!(fdinfo_state(&fa), "New");
    step("lock both", [(2, 5 * p), (-2, -5 * p), (0, 0)], &mut || {
        a.lock().unwrap();
        b.lock().unwrap();
    });
    assert_eq!(fdinfo_state(&fa), "Locked(1)");
    step("unlock b", [(-1, -3 * p), (1, 3 * p), (0, 0)], &mut || b.unlock().unwrap());
    fill(&b, 3 * pg(), 0x6b);
    assert_eq!(fdinfo_state(&fb), "Reclaimable");
    // Every shrinker runs: the unlocked VMO is discarded, the locked one never.
    let start = Instant::now();
    while !is_discarded(&b) {
        assert!(start.elapsed() < Duration::from_secs(30), "drop_caches did not discard");
        std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    }
    assert!(!is_discarded(&a));
    assert_eq!(fdinfo_state(&fb), "Discarded");
    step("lock b again", [(1, 3 * p), (0, 0), (-1, -3 * p)], &mut || {
        assert_eq!(b.lock().map(|s| s.discarded_size), Ok(3 * pg()));
    });
    let mut both = Some((a, b, fa, fb));
    step("close both", [(-2, -5 * p), (0, 0), (0, 0)], &mut || drop(both.take()));
}

/// The worker that frees discarded VMOs (and evicts pager pages) serves the
/// whole system, so no user may hold it up: a write into a discarded VMO
/// whose source buffer faults on a page its pager never supplies (the write
/// copies without faulting and takes the fault with no lock held, so the
/// worker frees that VMO's pages meanwhile too), and the next discarded VMO
/// is freed at once.
#[test]
fn a_write_stuck_on_a_pager_does_not_stop_the_freeing_of_other_discards() {
    use crate::pager::{bg, next_read};
    let _g = exclusive();
    let dev = dev();
    let p = pg();
    let stuck = discardable(&dev, 1);
    stuck.lock().unwrap();
    fill(&stuck, p, 0x33);
    stuck.unlock().unwrap();
    let pager = vmo::Pager::create(&dev).unwrap();
    let pv = pager.create_vmo(0xd5, p).unwrap();
    let m = std::sync::Arc::new(pv.map(0, p as usize, false).unwrap());
    let stuck = std::sync::Arc::new(stuck);
    let mut writer = bg("write from an unsupplied page", {
        let (m, stuck) = (m.clone(), stuck.clone());
        move || {
            // SAFETY: reads 64 bytes of the mapping `m` owns (a kernel copy, which faults).
            let buf = unsafe { std::slice::from_raw_parts(m.as_ptr(), 64) };
            stuck.write(buf, 0)
        }
    });
    // The write's copy now waits for the pager, with the VMO's inode lock held.
    let req = next_read(&pager, 0xd5);
    let other = discardable(&dev, 4);
    other.lock().unwrap();
    fill(&other, 4 * p, 0x0f);
    other.unlock().unwrap();
    std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    assert!(is_discarded(&stuck) && is_discarded(&other), "drop_caches discards both");
    wait_all_freed(&other, "the discard queued after the stuck one was not freed");
    wait_all_freed(&stuck, "the stuck VMO was not freed");
    assert!(!writer.finished_within(Duration::ZERO), "the write still waits for the pager");
    crate::pager::supply_pattern(&dev, &pager, &pv, req.range());
    // It finds the VMO discarded when it goes on (or wrote first: then the
    // LOCK below frees its page).
    let r = writer.join_within(Duration::from_secs(30));
    assert!(matches!(r, Ok(()) | Err(Status::NOT_FOUND)), "{r:?}");
    assert_eq!(stuck.lock().unwrap().discarded_size, p);
    assert_eq!(read(&stuck, 0, 64), [0; 64]);
}
