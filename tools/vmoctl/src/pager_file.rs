//! `vmoctl pager-file`: a pager-backed VMO served from a file on disk, and
//! the pager steps of the demo.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vmo::{
    Device, PacketKind, Pager, PagerOp, Status, Vmo, VmoChildOptions, VmoInfoFlags, VmoOptions,
};

use crate::Steps;

/// How long a read may wait for the pager thread before it is given up.
const SERVE_LIMIT: Duration = Duration::from_secs(30);

/// What the pager thread did for one VMO (one key).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// READ requests answered with a supply.
    pub requests: u32,
    /// Bytes supplied (whole pages).
    pub bytes: u64,
    /// READ requests answered with a FAIL (the file could not be read).
    pub failed: u32,
    /// COMPLETE packets (the VMO was detached or closed).
    pub complete: u32,
    /// DIRTY requests answered with OP_DIRTY (a `TRAP_DIRTY` VMO).
    pub dirty: u32,
    /// Bytes those requests let become dirty (whole pages).
    pub dirty_bytes: u64,
}

/// A pager thread's loop: answers READ requests for the VMOs in `vmos`
/// (key = index) from `file` until `stop` is set, supplying each range
/// through the page-aligned `aux` VMO at the same offset (supplying takes the
/// pages, so `aux` is empty again afterwards), and DIRTY requests (of a
/// `TRAP_DIRTY` VMO) with OP_DIRTY: every write may go on, the writeback
/// finds the pages it made dirty. Returns what it did per key.
fn serve(
    pager: &Pager,
    vmos: &[&Vmo],
    aux: &Vmo,
    file: &File,
    file_len: u64,
    stop: &AtomicBool,
) -> Result<Vec<Served>, String> {
    let mut served = vec![Served::default(); vmos.len()];
    while !stop.load(Ordering::Relaxed) {
        let packet = match pager.wait(Some(Duration::from_millis(50))) {
            Ok(p) => p,
            Err(Status::TIMED_OUT | Status::INTERRUPTED_RETRY) => continue,
            Err(s) => return Err(format!("pager wait: {s}")),
        };
        let Some(vmo) = vmos.get(packet.key as usize) else {
            return Err(format!("a packet for an unknown key: {packet:?}"));
        };
        let stats = &mut served[packet.key as usize];
        match packet.kind {
            PacketKind::Read => {
                let range = packet.range();
                match copy_into_aux(file, file_len, aux, range.clone()) {
                    Ok(()) => {
                        pager
                            .supply_pages(vmo, range.clone(), aux, range.start)
                            .map_err(|s| format!("supply {range:#x?}: {s}"))?;
                        stats.requests += 1;
                        stats.bytes += packet.length;
                    }
                    Err(e) => {
                        eprintln!("pager-file: reading {range:#x?} of the file: {e}");
                        pager
                            .fail(vmo, range.clone(), Status::IO)
                            .map_err(|s| format!("fail {range:#x?}: {s}"))?;
                        stats.failed += 1;
                    }
                }
            }
            PacketKind::Complete => stats.complete += 1,
            PacketKind::Dirty => {
                let range = packet.range();
                pager
                    .op_dirty(vmo, range.clone())
                    .map_err(|s| format!("dirty {range:#x?}: {s}"))?;
                stats.dirty += 1;
                stats.dirty_bytes += packet.length;
            }
            PacketKind::Other(_) => {
                return Err(format!("unexpected packet {packet:?}"));
            }
        }
    }
    Ok(served)
}

/// Reads `range` of the file (zeros past its end) into `aux` at the same
/// offset.
fn copy_into_aux(
    file: &File,
    file_len: u64,
    aux: &Vmo,
    range: std::ops::Range<u64>,
) -> Result<(), String> {
    let end = range.end.min(file_len);
    if range.start >= end {
        return Ok(()); // past the end of the file: absent aux pages supply zeros
    }
    let mut buf = vec![0u8; (end - range.start) as usize];
    file.read_exact_at(&mut buf, range.start).map_err(|e| e.to_string())?;
    aux.write(&buf, range.start).map_err(|s| format!("aux write: {s}"))
}

/// Runs `work` while a pager thread serves `vmos` from `file` ([`serve`]),
/// then stops the thread; returns what the thread did and what `work`
/// returned.
///
/// Accesses block until the pager thread has answered them. The pager stays
/// open while this function runs, so if the thread gives up (or is too slow:
/// a watchdog waits [`SERVE_LIMIT`]), detaching the VMOs is what ends the
/// accesses (with BAD_STATE; a fault through a mapping is SIGBUS).
fn with_server<T>(
    pager: &Pager,
    vmos: &[&Vmo],
    aux: &Vmo,
    file: &File,
    file_len: u64,
    work: impl FnOnce() -> T,
) -> (Result<Vec<Served>, String>, T) {
    let detach_all = || {
        for v in vmos {
            let _ = pager.detach_vmo(v);
        }
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            let r = serve(pager, vmos, aux, file, file_len, &stop);
            if r.is_err() {
                detach_all();
            }
            r
        });
        let watchdog = s.spawn(|| {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if start.elapsed() > SERVE_LIMIT {
                    eprintln!("pager-file: no result after {SERVE_LIMIT:?}; detaching");
                    detach_all();
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let done = work();
        stop.store(true, Ordering::Relaxed);
        let _ = watchdog.join();
        let served = server.join().unwrap_or_else(|_| Err("the pager thread panicked".into()));
        (served, done)
    })
}

/// The result of [`serve_file`].
pub struct Report {
    /// The file's length in bytes.
    pub file_len: u64,
    /// The VMOs' size (the file's length rounded up to a page).
    pub vmo_size: u64,
    /// What the pager did for the VMO read with the read ioctl.
    pub via_ioctl: Served,
    /// Whether that read gave the file's bytes.
    pub ioctl_matches: bool,
    /// What the pager did for the VMO read through a mapping (page faults).
    pub via_mapping: Served,
    /// Whether the mapping showed the file's bytes.
    pub mapping_matches: bool,
    /// `committed_bytes` of the ioctl-read VMO afterwards.
    pub committed: u64,
    /// Whether both VMOs report `PAGER_BACKED`.
    pub pager_backed: bool,
}

/// Creates a pager and two VMOs of the file's size, serves them from the
/// file on a pager thread, reads one with the read ioctl and the other
/// through a mapping, and compares both with the file.
pub fn serve_file(dev: &Device, path: &Path) -> Result<Report, String> {
    let show = path.display();
    let file = File::open(path).map_err(|e| format!("{show}: {e}"))?;
    let want = std::fs::read(path).map_err(|e| format!("{show}: {e}"))?;
    let file_len = want.len() as u64;
    if file_len == 0 {
        return Err(format!("{show} is empty: nothing to page in"));
    }
    let page = u64::from(vmo::system_get_page_size());
    let vmo_size = file_len.div_ceil(page) * page;

    let pager = Pager::create(dev).map_err(|s| format!("pager create: {s}"))?;
    let by_ioctl = pager.create_vmo(0, file_len).map_err(|s| format!("create_vmo: {s}"))?;
    let by_map = pager.create_vmo(1, file_len).map_err(|s| format!("create_vmo: {s}"))?;
    let aux = Vmo::create(dev, vmo_size, VmoOptions::empty())
        .map_err(|s| format!("aux VMO of {vmo_size} bytes: {s}"))?;
    let pager_backed = [&by_ioctl, &by_map]
        .iter()
        .all(|v| v.info().map(|i| i.flags.contains(VmoInfoFlags::PAGER_BACKED)).unwrap_or(false));

    let (served, (ioctl_read, mapped_read)) =
        with_server(&pager, &[&by_ioctl, &by_map], &aux, &file, file_len, || {
            let ioctl_read = by_ioctl.read_to_vec(0, want.len());
            let mapped_read =
                by_map.map(0, want.len(), false).and_then(|m| m.read_to_vec(0, want.len()));
            (ioctl_read, mapped_read)
        });
    let served = served?;
    let ioctl_read = ioctl_read.map_err(|s| format!("read through the ioctl: {s}"))?;
    let mapped_read = mapped_read.map_err(|s| format!("read through a mapping: {s}"))?;
    let committed = by_ioctl.info().map(|i| i.committed_bytes).unwrap_or(0);
    Ok(Report {
        file_len,
        vmo_size,
        via_ioctl: served[0],
        ioctl_matches: ioctl_read == want,
        via_mapping: served[1],
        mapping_matches: mapped_read == want,
        committed,
        pager_backed,
    })
}

/// `vmoctl pager-file PATH`.
pub fn run(dev: &Device, path: &Path) -> Result<(), String> {
    let r = serve_file(dev, path)?;
    let page = u64::from(vmo::system_get_page_size());
    println!(
        "pager-file: {} ({} bytes; VMOs of {} bytes, {} pages)",
        path.display(),
        r.file_len,
        r.vmo_size,
        r.vmo_size / page
    );
    let line = |how: &str, s: &Served, ok: bool| {
        println!(
            "  {how:<14} {} request(s), {} bytes supplied, {} failed: {}",
            s.requests,
            s.bytes,
            s.failed,
            if ok { "matches the file" } else { "DIFFERS from the file" }
        );
    };
    line("read ioctl:", &r.via_ioctl, r.ioctl_matches);
    line("mapping:", &r.via_mapping, r.mapping_matches);
    println!(
        "  committed {} bytes; PAGER_BACKED: {}",
        r.committed,
        if r.pager_backed { "yes" } else { "NO" }
    );
    if r.ioctl_matches && r.mapping_matches && r.pager_backed {
        Ok(())
    } else {
        Err("pager-file: the VMO does not hold the file".into())
    }
}

/// One write into the VMO of [`writeback_file`]: `bytes` at byte `offset`,
/// through a mapping of the VMO or with the write ioctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Where, in bytes from the start of the file.
    pub offset: u64,
    /// What (cut at the end of the file).
    pub bytes: Vec<u8>,
    /// Through a writable mapping (a write fault) rather than the write ioctl.
    pub via_mapping: bool,
}

impl Edit {
    /// The part of the edit inside a file of `file_len` bytes: its range.
    fn range_in(&self, file_len: u64) -> std::ops::Range<u64> {
        let start = self.offset.min(file_len);
        start..self.offset.saturating_add(self.bytes.len() as u64).min(file_len)
    }
}

/// `orig` with `edits` applied in order, each cut at the end of `orig`.
pub fn apply_edits(orig: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = orig.to_vec();
    for e in edits {
        let r = e.range_in(orig.len() as u64);
        let n = (r.end - r.start) as usize;
        out[r.start as usize..r.end as usize].copy_from_slice(&e.bytes[..n]);
    }
    out
}

/// What `vmoctl pager-file --writeback` writes into a file of `file_len`
/// bytes: a line at the start through a mapping, and a line with the write
/// ioctl at the start of the last page (right after the first line when the
/// file has one page); both cut at the end of the file.
pub fn default_edits(file_len: u64, page: u64) -> Vec<Edit> {
    let mapped = b"vmoctl pager-file --writeback: written through a mapping\n".to_vec();
    let last_page = (file_len.saturating_sub(1) / page) * page;
    let second = if last_page > 0 { last_page } else { mapped.len() as u64 };
    vec![
        Edit { offset: 0, bytes: mapped, via_mapping: true },
        Edit {
            offset: second,
            bytes: b"vmoctl pager-file --writeback: written with the write ioctl\n".to_vec(),
            via_mapping: false,
        },
    ]
}

/// The result of [`writeback_file`].
pub struct WritebackReport {
    /// The file's length in bytes (before and, when kept, after).
    pub file_len: u64,
    /// The VMO's size (the file's length rounded up to a page).
    pub vmo_size: u64,
    /// What the pager thread did (READ and DIRTY requests).
    pub served: Served,
    /// `query_vmo_stats`: the writes modified the VMO.
    pub modified: bool,
    /// The dirty ranges that were written back, in order.
    pub ranges: Vec<std::ops::Range<u64>>,
    /// Bytes written into the file (the ranges, cut at its end).
    pub bytes_written: u64,
    /// The file as read back from disk afterwards.
    pub on_disk: Vec<u8>,
    /// Whether that is the original file with the edits applied.
    pub file_matches: bool,
    /// `dirty_ranges` of the whole VMO after the writeback (empty if all went well).
    pub left_dirty: Vec<std::ops::Range<u64>>,
}

/// Serves `path` read-write through a pager: a `TRAP_DIRTY` pager-backed VMO
/// of the file's size is served from the file by a pager thread (READ:
/// supplied from the file; DIRTY: OP_DIRTY), `edits` are written into the
/// VMO, then every dirty range is written back (WRITEBACK_BEGIN, the VMO's
/// bytes of the range written into the file up to its original length,
/// WRITEBACK_END) and the file is read back from disk.
pub fn writeback_file(
    dev: &Device,
    path: &Path,
    edits: &[Edit],
) -> Result<WritebackReport, String> {
    let show = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("{show}: {e}"))?;
    let orig = std::fs::read(path).map_err(|e| format!("{show}: {e}"))?;
    let file_len = orig.len() as u64;
    if file_len == 0 {
        return Err(format!("{show} is empty: nothing to page in"));
    }
    let page = u64::from(vmo::system_get_page_size());
    let vmo_size = file_len.div_ceil(page) * page;

    let pager = Pager::create(dev).map_err(|s| format!("pager create: {s}"))?;
    let v = pager
        .create_vmo_with_options(VmoOptions::TRAP_DIRTY, 0, file_len)
        .map_err(|s| format!("create_vmo(TRAP_DIRTY): {s}"))?;
    let aux = Vmo::create(dev, vmo_size, VmoOptions::empty())
        .map_err(|s| format!("aux VMO of {vmo_size} bytes: {s}"))?;

    let (served, done) = with_server(&pager, &[&v], &aux, &file, file_len, || {
        let map = v.map(0, vmo_size as usize, true).map_err(|s| format!("map: {s}"))?;
        for e in edits {
            let r = e.range_in(file_len);
            let bytes = &e.bytes[..(r.end - r.start) as usize];
            if bytes.is_empty() {
                continue;
            }
            if e.via_mapping {
                map.write_at(r.start as usize, bytes)
                    .map_err(|s| format!("write through the mapping at {:#x}: {s}", r.start))?;
            } else {
                v.write(bytes, r.start).map_err(|s| format!("write at {:#x}: {s}", r.start))?;
            }
        }
        drop(map);
        let modified = pager.query_vmo_stats(&v, false).map_err(|s| format!("stats: {s}"))?;
        let ranges = pager.dirty_ranges(&v, 0..vmo_size).map_err(|s| format!("dirty: {s}"))?;
        let mut written = Vec::new();
        let mut bytes_written = 0;
        for d in ranges {
            let r = d.range();
            pager
                .writeback_begin(&v, r.clone())
                .map_err(|s| format!("writeback_begin {r:#x?}: {s}"))?;
            let end = r.end.min(file_len);
            if r.start < end {
                let buf = v
                    .read_to_vec(r.start, (end - r.start) as usize)
                    .map_err(|s| format!("read {r:#x?} of the VMO: {s}"))?;
                file.write_all_at(&buf, r.start)
                    .map_err(|e| format!("writing {r:#x?} into the file: {e}"))?;
                bytes_written += end - r.start;
            }
            pager
                .writeback_end(&v, r.clone())
                .map_err(|s| format!("writeback_end {r:#x?}: {s}"))?;
            written.push(r);
        }
        file.sync_data().map_err(|e| format!("{show}: sync: {e}"))?;
        let left = pager.dirty_ranges(&v, 0..vmo_size).map_err(|s| format!("dirty: {s}"))?;
        Ok::<_, String>((modified, written, bytes_written, left))
    });
    let served = served?;
    let (modified, ranges, bytes_written, left) = done?;
    let on_disk = std::fs::read(path).map_err(|e| format!("{show}: {e}"))?;
    Ok(WritebackReport {
        file_len,
        vmo_size,
        served: served[0],
        modified,
        ranges,
        bytes_written,
        file_matches: on_disk == apply_edits(&orig, edits),
        on_disk,
        left_dirty: left.iter().map(|d| d.range()).collect(),
    })
}

/// `vmoctl pager-file --writeback PATH`.
pub fn run_writeback(dev: &Device, path: &Path) -> Result<(), String> {
    let page = u64::from(vmo::system_get_page_size());
    let len = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    let edits = default_edits(len, page);
    let r = writeback_file(dev, path, &edits)?;
    println!(
        "pager-file --writeback: {} ({} bytes; a TRAP_DIRTY VMO of {} bytes, {} pages)",
        path.display(),
        r.file_len,
        r.vmo_size,
        r.vmo_size / page
    );
    for e in &edits {
        let range = e.range_in(r.file_len);
        let how = if e.via_mapping { "through a mapping" } else { "with the write ioctl" };
        println!("  wrote {} bytes at {:#x} {how}", range.end - range.start, range.start);
    }
    let s = &r.served;
    println!(
        "  pager: {} read request(s), {} bytes supplied; {} dirty request(s), {} bytes",
        s.requests, s.bytes, s.dirty, s.dirty_bytes
    );
    let ranges: Vec<String> = r.ranges.iter().map(|x| format!("{x:#x?}")).collect();
    println!(
        "  writeback: {} range(s) [{}], {} bytes written into the file",
        r.ranges.len(),
        ranges.join(", "),
        r.bytes_written
    );
    let yes = |b: bool| if b { "yes" } else { "NO" };
    println!(
        "  the file holds the written bytes: {}; length kept: {}; nothing left dirty: {}",
        yes(r.file_matches),
        yes(r.on_disk.len() as u64 == r.file_len),
        yes(r.left_dirty.is_empty())
    );
    if r.file_matches && r.left_dirty.is_empty() && r.modified {
        Ok(())
    } else {
        Err("pager-file: the writeback did not bring the writes into the file".into())
    }
}

/// The demo's pager steps: a temporary file of 3.5 pages served by a pager
/// thread, read through the ioctl and a mapping; then the pager's rules.
pub fn demo_steps(dev: &Device, s: &mut Steps) {
    let pg = u64::from(vmo::system_get_page_size());
    let path = std::env::temp_dir().join(format!("vmoctl-demo-{}.txt", std::process::id()));
    let mut text = String::new();
    let mut i = 0;
    while (text.len() as u64) < 3 * pg + pg / 2 {
        text.push_str(&format!("line {i:5}: served by a user pager from a file\n"));
        i += 1;
    }
    text.truncate((3 * pg + pg / 2) as usize);
    if let Err(e) = std::fs::write(&path, &text) {
        s.check("pager: write a 3.5-page temporary file", e.to_string(), false);
        return;
    }
    let r = serve_file(dev, &path);
    let _ = std::fs::remove_file(&path);
    match r {
        Err(e) => s.check("pager: serve a 3.5-page file", e, false),
        Ok(r) => {
            s.check(
                "pager: VMO of a 3.5-page file is PAGER_BACKED",
                format!("size {}", r.vmo_size),
                r.pager_backed && r.vmo_size == 4 * pg,
            );
            s.check(
                "pager: read it (a pager thread supplies from the file)",
                format!("{} request(s), {} bytes", r.via_ioctl.requests, r.via_ioctl.bytes),
                r.ioctl_matches && r.via_ioctl.bytes == 4 * pg && r.via_ioctl.failed == 0,
            );
            s.check(
                "pager: read a second VMO through a mapping (faults)",
                format!("{} request(s), {} bytes", r.via_mapping.requests, r.via_mapping.bytes),
                r.mapping_matches && r.via_mapping.bytes == 4 * pg,
            );
            let c = r.committed;
            s.check("pager: all 4 pages committed", format!("committed {c}"), c == 4 * pg);
        }
    }
    writeback_steps(dev, s, &text);

    // The rules of pager VMOs, with a pager nobody serves.
    let Ok(pager) = Pager::create(dev) else {
        s.check("pager: create", "failed".into(), false);
        return;
    };
    let Ok(v) = pager.create_vmo(7, 2 * pg) else {
        s.check("pager: create_vmo", "failed".into(), false);
        return;
    };
    let aux = Vmo::create(dev, pg, VmoOptions::empty());
    let supplied = aux.as_ref().map_err(|e| *e).and_then(|aux| {
        aux.write(b"supplied", 0)?;
        pager.supply_pages(&v, 0..pg, aux, 0)
    });
    s.status("pager: supply page 0 before anyone asks", supplied, Status::OK);
    let back = v.read_to_vec(0, 8);
    s.check(
        "pager: read page 0 (no request needed)",
        crate::show(&back),
        back.as_deref() == Ok(&b"supplied"[..]),
    );
    s.status("pager: DECOMMIT on a pager VMO", v.decommit(0, pg), Status::NOT_SUPPORTED);
    s.status(
        "pager: FAIL with NO_MEMORY (not a pager code)",
        pager.fail(&v, pg..2 * pg, Status::NO_MEMORY),
        Status::INVALID_ARGS,
    );
    s.status("pager: detach the VMO", pager.detach_vmo(&v), Status::OK);
    s.status("pager: COMMIT after detach", v.commit(0, pg), Status::BAD_STATE);
    let done = pager.wait(Some(Duration::from_secs(5)));
    s.check(
        "pager: the pager gets COMPLETE for key 7",
        match done {
            Ok(p) => format!("{:?} key {}", p.kind, p.key),
            Err(e) => e.to_string(),
        },
        matches!(done, Ok(p) if p.kind == PacketKind::Complete && p.key == 7),
    );
    close_steps(dev, s);
}

/// The demo's writeback steps: a temporary copy of `text` (3.5 pages of
/// lines) served read-write by a pager thread through a TRAP_DIRTY VMO; a line
/// in page 1 is replaced through a mapping and one in page 3 with the write
/// ioctl, the dirty ranges are written back, and the file is read from disk.
fn writeback_steps(dev: &Device, s: &mut Steps, text: &str) {
    let pg = u64::from(vmo::system_get_page_size());
    let path = std::env::temp_dir().join(format!("vmoctl-demo-wb-{}.txt", std::process::id()));
    if let Err(e) = std::fs::write(&path, text) {
        s.check("pager writeback: write a temporary file", e.to_string(), false);
        return;
    }
    // The first whole line of page 1 and of page 3, replaced by lines of
    // the same length.
    let line_len = text.find('\n').map_or(1, |n| n + 1) as u64;
    let line_at = |page: u64| (page * pg).div_ceil(line_len) * line_len;
    let line = |what: &str| {
        let w = line_len as usize - 1;
        format!("{:<w$}\n", &what[..what.len().min(w)]).into_bytes()
    };
    let mapped =
        Edit { offset: line_at(1), bytes: line("WRITTEN THROUGH A MAPPING"), via_mapping: true };
    let ioctl = Edit {
        offset: line_at(3),
        bytes: line("WRITTEN WITH THE WRITE IOCTL"),
        via_mapping: false,
    };
    let r = writeback_file(dev, &path, &[mapped.clone(), ioctl.clone()]);
    let _ = std::fs::remove_file(&path);
    let r = match r {
        Ok(r) => r,
        Err(e) => return s.check("pager writeback: serve a 3.5-page file read-write", e, false),
    };
    s.check(
        "pager writeback: write via a mapping and the write ioctl",
        format!("{} dirty request(s), {} bytes", r.served.dirty, r.served.dirty_bytes),
        r.served.dirty == 2 && r.served.dirty_bytes == 2 * pg && r.modified,
    );
    let ranges: Vec<String> = r.ranges.iter().map(|x| format!("{x:#x?}")).collect();
    s.check(
        "pager writeback: write back 2 dirty ranges (pages 1 and 3)",
        format!("{}, {} bytes", ranges.join(" "), r.bytes_written),
        r.ranges == [pg..2 * pg, 3 * pg..4 * pg] && r.bytes_written == pg + pg / 2,
    );
    let at = |e: &Edit| r.on_disk.get(e.offset as usize..e.offset as usize + e.bytes.len());
    let got = at(&mapped);
    s.check(
        "pager writeback: a write via a mapping reaches the file",
        format!("\"{}\"", got.unwrap_or_default().trim_ascii_end().escape_ascii()),
        got == Some(&mapped.bytes[..]) && r.file_matches,
    );
    let got = at(&ioctl);
    s.check(
        "pager writeback: so does the write ioctl's; length kept",
        format!(
            "\"{}\", {} bytes",
            got.unwrap_or_default().trim_ascii_end().escape_ascii(),
            r.on_disk.len()
        ),
        got == Some(&ioctl.bytes[..]) && r.on_disk.len() as u64 == r.file_len,
    );
    s.check(
        "pager writeback: nothing is dirty after WRITEBACK_END",
        format!("{} range(s) left", r.left_dirty.len()),
        r.left_dirty.is_empty(),
    );
}

/// The rules of a resizable pager VMO and of a pager that closes: an op the
/// module does not know is NOT_SUPPORTED, a child is no aux VMO, a supply past
/// the end of a shrunk VMO is OUT_OF_RANGE, and closing the pager keeps the
/// pages it supplied (an absent page is BAD_STATE from then on).
fn close_steps(dev: &Device, s: &mut crate::Steps) {
    let pg = u64::from(vmo::system_get_page_size());
    let Ok(pager) = Pager::create(dev) else {
        s.check("pager: create", "failed".into(), false);
        return;
    };
    let v = pager.create_vmo_with_options(VmoOptions::RESIZABLE, 8, 3 * pg);
    s.status(
        "pager: create a resizable pager VMO",
        v.as_ref().map(drop).map_err(|e| *e),
        Status::OK,
    );
    let Ok(v) = v else {
        return;
    };
    let Ok(aux) = Vmo::create(dev, pg, VmoOptions::empty()) else {
        s.check("pager: create an aux VMO", "failed".into(), false);
        return;
    };
    let _ = aux.write(b"kept", 0);
    s.status(
        "pager: an op the module does not know",
        pager.op_range(PagerOp::from_raw(42), &v, 0..pg, 0),
        Status::NOT_SUPPORTED,
    );
    let child = aux.create_child(VmoChildOptions::SLICE, 0, pg);
    s.status(
        "pager: supply from a VMO with a child",
        child.and_then(|_c| pager.supply_pages(&v, 0..pg, &aux, 0)),
        Status::BAD_STATE,
    );
    s.status("pager: supply page 0", pager.supply_pages(&v, 0..pg, &aux, 0), Status::OK);
    s.status("pager: shrink it to 2 pages", v.set_size(2 * pg), Status::OK);
    s.status(
        "pager: supply past the new end",
        pager.supply_pages(&v, 2 * pg..3 * pg, &aux, 0),
        Status::OUT_OF_RANGE,
    );
    drop(pager);
    let back = v.read_to_vec(0, 4);
    s.check(
        "pager: close the pager; page 0 is still there",
        crate::show(&back),
        back.as_deref() == Ok(&b"kept"[..]),
    );
    s.status(
        "pager: read page 1 (never supplied) after the close",
        v.read(&mut [0; 4], pg),
        Status::BAD_STATE,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_needs_dev_vmo_and_a_non_empty_file() {
        // /dev/null answers every ioctl with ENOTTY: NOT_SUPPORTED.
        let dev = Device::open_path("/dev/null").unwrap();
        let dir = std::env::temp_dir();
        let full = dir.join(format!("vmoctl-test-{}-full", std::process::id()));
        let empty = dir.join(format!("vmoctl-test-{}-empty", std::process::id()));
        std::fs::write(&full, b"some bytes").unwrap();
        std::fs::write(&empty, b"").unwrap();
        let e = serve_file(&dev, &full).err().unwrap();
        assert!(e.contains("pager create: ZX_ERR_NOT_SUPPORTED"), "{e}");
        let e = serve_file(&dev, &empty).err().unwrap();
        assert!(e.contains("is empty"), "{e}");
        let e = serve_file(&dev, &dir.join("no such file")).err().unwrap();
        assert!(e.contains("no such file"), "{e}");
        std::fs::remove_file(full).unwrap();
        std::fs::remove_file(empty).unwrap();
    }

    #[test]
    fn writeback_needs_dev_vmo_and_a_non_empty_file_and_changes_nothing_without() {
        let dev = Device::open_path("/dev/null").unwrap();
        let dir = std::env::temp_dir();
        let full = dir.join(format!("vmoctl-test-{}-wb-full", std::process::id()));
        let empty = dir.join(format!("vmoctl-test-{}-wb-empty", std::process::id()));
        std::fs::write(&full, b"some bytes").unwrap();
        std::fs::write(&empty, b"").unwrap();
        let edits = default_edits(10, 4096);
        let e = writeback_file(&dev, &full, &edits).err().unwrap();
        assert!(e.contains("pager create: ZX_ERR_NOT_SUPPORTED"), "{e}");
        assert_eq!(std::fs::read(&full).unwrap(), b"some bytes", "the file is left alone");
        let e = writeback_file(&dev, &empty, &edits).err().unwrap();
        assert!(e.contains("is empty"), "{e}");
        let e = run_writeback(&dev, &dir.join("no such file")).err().unwrap();
        assert!(e.contains("no such file"), "{e}");
        std::fs::remove_file(full).unwrap();
        std::fs::remove_file(empty).unwrap();
    }

    #[test]
    fn edits_are_cut_at_the_end_of_the_file() {
        let e = |offset, bytes: &[u8]| Edit { offset, bytes: bytes.to_vec(), via_mapping: false };
        assert_eq!(apply_edits(b"0123456789", &[e(2, b"ab"), e(8, b"xyz")]), b"01ab4567xy");
        assert_eq!(apply_edits(b"0123", &[e(4, b"past"), e(99, b"far")]), b"0123");
        assert_eq!(apply_edits(b"0123", &[e(0, b"ab"), e(1, b"X")]), b"aX23", "in order");
        assert_eq!(e(3, b"abc").range_in(4), 3..4);
        assert_eq!(e(u64::MAX, b"abc").range_in(4), 4..4);
    }

    #[test]
    fn default_edits_put_the_ioctl_line_on_the_last_page() {
        let d = default_edits(3 * 4096 + 100, 4096);
        assert_eq!((d[0].offset, d[0].via_mapping), (0, true));
        assert_eq!((d[1].offset, d[1].via_mapping), (3 * 4096, false));
        // Exactly 3 pages: the last page starts at 2 pages.
        assert_eq!(default_edits(3 * 4096, 4096)[1].offset, 2 * 4096);
        // One page: the second line follows the first.
        let d = default_edits(200, 4096);
        assert_eq!(d[1].offset, d[0].bytes.len() as u64);
        assert!(d.iter().all(|e| e.bytes.ends_with(b"\n")));
    }
}
