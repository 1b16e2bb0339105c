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
}

/// A pager thread's loop: answers READ requests for the VMOs in `vmos`
/// (key = index) from `file` until `stop` is set, supplying each range
/// through the page-aligned `aux` VMO at the same offset (supplying takes the
/// pages, so `aux` is empty again afterwards). Returns what it did per key.
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
            // These VMOs are made without TRAP_DIRTY: no DIRTY packet comes for them.
            PacketKind::Dirty | PacketKind::Other(_) => {
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

    // Reads block until the pager thread has supplied the pages. The
    // pager stays open while this function runs, so if the thread gives
    // up (or is too slow), detaching the VMOs is what ends the reads
    // (with BAD_STATE).
    let detach_all = || {
        let _ = pager.detach(&by_ioctl);
        let _ = pager.detach(&by_map);
    };
    let stop = AtomicBool::new(false);
    let (served, ioctl_read, mapped_read) = std::thread::scope(|s| {
        let server = s.spawn(|| {
            let r = serve(&pager, &[&by_ioctl, &by_map], &aux, &file, file_len, &stop);
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
        let ioctl_read = by_ioctl.read_to_vec(0, want.len());
        let mapped_read =
            by_map.map(0, want.len(), false).and_then(|m| m.read_to_vec(0, want.len()));
        stop.store(true, Ordering::Relaxed);
        let _ = watchdog.join();
        let served = server.join().unwrap_or_else(|_| Err("the pager thread panicked".into()));
        (served, ioctl_read, mapped_read)
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
    s.status("pager: detach the VMO", pager.detach(&v), Status::OK);
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
}
