//! `vmoctl`: drive `/dev/vmo` from the command line.
//!
//! Handles live only as long as the open file, so each invocation is one
//! handle table: `demo` and `script` run whole sequences in one; `create`,
//! `op` and `info` are single shots; `pager-file` serves a file through a
//! user pager (`--writeback`: read-write, writing dirty pages back to it).

mod pager_file;
mod parse;
mod script;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vmo::{
    AsHandleRef, Device, HandleBased, Rights, Status, Vmo, VmoChildOptions, VmoOp, VmoOptions,
};

#[derive(Parser)]
#[command(version, about = "Drive Zircon-style VMOs through /dev/vmo")]
struct Cli {
    /// The device to open.
    #[arg(long, default_value = Device::DEFAULT_PATH, global = true)]
    device: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the VMO lifecycle step by step; exit 1 if a step surprises.
    Demo,
    /// Create a VMO of SIZE bytes (e.g. 4096, 0x1000, 16k, 4p for 4 pages),
    /// print its info, close it.
    Create {
        /// Size: bytes, 0x-hex, or with a k/m/g/t (KiB...) or p (pages) suffix.
        #[arg(value_parser = parse::size)]
        size: u64,
        /// Make the VMO resizable.
        #[arg(long)]
        resizable: bool,
    },
    /// Create a VMO, run one op_range on it and print the status and info.
    Op {
        /// commit, decommit, lock, unlock, cache-sync, cache-invalidate,
        /// cache-clean, cache-clean-invalidate, zero, or a number.
        #[arg(value_parser = parse::op)]
        op: VmoOp,
        /// Offset in bytes (same syntax as sizes).
        #[arg(value_parser = parse::size)]
        offset: u64,
        /// Size in bytes.
        #[arg(value_parser = parse::size)]
        size: u64,
        /// Size of the VMO to create.
        #[arg(long, default_value = "4p", value_parser = parse::size)]
        vmo_size: u64,
        /// Commit the whole VMO before the op.
        #[arg(long)]
        commit_first: bool,
        /// Run the op through a duplicate with these rights (e.g. read|map).
        #[arg(long, value_parser = parse::rights)]
        rights: Option<Rights>,
    },
    /// Print the ABI's limits and check that the device opens.
    Info,
    /// Run a script (FILE, or standard input for - or nothing) in one handle
    /// table. See `vmoctl script --help`.
    #[command(long_about = script::HELP)]
    Script {
        /// The script; - or nothing for standard input.
        file: Option<PathBuf>,
    },
    /// Serve a pager-backed VMO from FILE: a pager thread answers each READ
    /// request by reading the file into an aux VMO and supplying it; the
    /// VMO is then read through the read ioctl (and a second one through a
    /// mapping) and compared with the file. With --writeback, the file is
    /// served read-write, written to and written back instead.
    PagerFile {
        /// The file to page in (not empty).
        path: PathBuf,
        /// Serve the file read-write instead (a TRAP_DIRTY VMO; the pager
        /// thread also answers DIRTY requests), write a line at its start
        /// through a mapping and one at its last page with the write ioctl
        /// (this changes the file), write the dirty ranges back into the
        /// file (its length is kept) and check the file on disk.
        #[arg(long)]
        writeback: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => info(&cli.device),
        command => match Device::open_path(&cli.device) {
            Err(e) => Err(format!("cannot open {}: {e}", cli.device.display())),
            Ok(dev) => match command {
                Command::Demo => demo(&dev),
                Command::Create { size, resizable } => create(&dev, size, resizable),
                Command::Op { op, offset, size, vmo_size, commit_first, rights } => {
                    one_op(&dev, op, offset, size, vmo_size, commit_first, rights)
                }
                Command::Script { file } => script::run_file(&dev, file.as_deref()),
                Command::PagerFile { path, writeback: false } => pager_file::run(&dev, &path),
                Command::PagerFile { path, writeback: true } => {
                    pager_file::run_writeback(&dev, &path)
                }
                Command::Info => unreachable!(),
            },
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("vmoctl: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn info(path: &std::path::Path) -> Result<(), String> {
    println!("page size:        {}", vmo::system_get_page_size());
    println!("VMO_MAX_SIZE:     {:#x}", vmo::MAX_SIZE);
    println!("VMO_MAX_HANDLES:  {}", vmo::MAX_HANDLES);
    println!("default VMO rights: {:?}", Rights::DEFAULT_VMO);
    let dev =
        Device::open_path(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let v = Vmo::create(&dev, 1, VmoOptions::empty()).map_err(|s| format!("create: {s}"))?;
    println!("{}: opens, a VMO of 1 byte is {} bytes", path.display(), v.get_size().unwrap_or(0));
    Ok(())
}

fn create(dev: &Device, size: u64, resizable: bool) -> Result<(), String> {
    let opts = if resizable { VmoOptions::RESIZABLE } else { VmoOptions::empty() };
    let v = Vmo::create(dev, size, opts).map_err(|s| format!("create({size}): {s}"))?;
    println!("created handle {:#x}", v.raw_handle());
    print_info("  ", &v);
    Ok(())
}

fn one_op(
    dev: &Device,
    op: VmoOp,
    offset: u64,
    size: u64,
    vmo_size: u64,
    commit_first: bool,
    rights: Option<Rights>,
) -> Result<(), String> {
    let v = Vmo::create(dev, vmo_size, VmoOptions::empty())
        .map_err(|s| format!("create({vmo_size}): {s}"))?;
    if commit_first {
        v.commit(0, vmo_size).map_err(|s| format!("commit: {s}"))?;
    }
    let target = match rights {
        Some(r) => v.duplicate_handle(r).map_err(|s| format!("duplicate({r:?}): {s}"))?,
        None => v.duplicate_handle(Rights::SAME_RIGHTS).map_err(|s| format!("duplicate: {s}"))?,
    };
    let result = target.op_range(op, offset, size);
    println!("op_range({op}, {offset:#x}, {size:#x}) = {}", status_of(result));
    print_info("  ", &v);
    Ok(())
}

fn print_info(indent: &str, v: &Vmo) {
    match v.info() {
        Ok(i) => {
            println!(
                "{indent}koid {} size {} committed {} children {} flags {:?}",
                i.koid, i.size, i.committed_bytes, i.num_children, i.flags
            );
            println!("{indent}rights {:?}", i.rights);
        }
        Err(s) => println!("{indent}info: {s}"),
    }
}

/// `Result<(), Status>` as the status it stands for.
fn status_of(r: Result<(), Status>) -> Status {
    r.err().unwrap_or(Status::OK)
}

/// Counts the demo's steps and the ones that did not go as expected.
struct Steps {
    n: u32,
    failed: u32,
}

impl Steps {
    fn check(&mut self, what: &str, got: String, ok: bool) {
        self.n += 1;
        let mark = if ok { "ok" } else { "UNEXPECTED" };
        println!("{:>2}. {what:<58} {got}  [{mark}]", self.n);
        if !ok {
            self.failed += 1;
        }
    }

    fn status(&mut self, what: &str, r: Result<(), Status>, want: Status) {
        let got = status_of(r);
        self.check(what, got.to_string(), got == want);
    }
}

fn demo(dev: &Device) -> Result<(), String> {
    let pg = u64::from(vmo::system_get_page_size());
    let mut s = Steps { n: 0, failed: 0 };
    println!("vmoctl demo: page size {pg}");

    let v = Vmo::create(dev, 4 * pg, VmoOptions::empty())
        .map_err(|st| format!("create 4 pages: {st}"))?;
    let size = v.get_size();
    s.check(
        &format!("create 4 pages: handle {:#x}", v.raw_handle()),
        format!("size {}", show_u64(size)),
        size == Ok(4 * pg),
    );

    let committed = |v: &Vmo| v.info().map(|i| i.committed_bytes);
    let bytes = |c: Result<u64, Status>| format!("committed {}", show_u64(c));
    let c = committed(&v);
    s.check("info: nothing committed yet", bytes(c), c == Ok(0));

    s.status("COMMIT all 4 pages", v.commit(0, 4 * pg), Status::OK);
    let c = committed(&v);
    s.check("info after COMMIT", bytes(c), c == Ok(4 * pg));

    let msg = b"hello, vmo";
    s.status("write \"hello, vmo\" at 100", v.write(msg, 100), Status::OK);
    let back = v.read_to_vec(100, msg.len());
    s.check("read it back", show(&back), back.as_deref() == Ok(&msg[..]));

    s.status("ZERO 5 bytes at 100", v.zero(100, 5), Status::OK);
    let back = v.read_to_vec(100, msg.len());
    s.check(
        "read: first 5 bytes zeroed",
        show(&back),
        back.as_deref() == Ok(&b"\0\0\0\0\0, vmo"[..]),
    );
    let c = committed(&v);
    s.check("partial-page ZERO keeps the page", bytes(c), c == Ok(4 * pg));

    s.status("DECOMMIT page 3", v.decommit(3 * pg, pg), Status::OK);
    let c = committed(&v);
    s.check("info after DECOMMIT", bytes(c), c == Ok(3 * pg));

    s.status("CACHE_CLEAN all 4 pages (page 3 is a hole)", v.cache_clean(0, 4 * pg), Status::OK);
    let c = committed(&v);
    s.check("cache op leaves commitment alone", bytes(c), c == Ok(3 * pg));

    let slice = v.create_child(VmoChildOptions::SLICE, pg, 2 * pg);
    s.check("SLICE child: pages 1-2", handle_or_status(&slice), slice.is_ok());
    if let Ok(slice) = slice {
        s.status(
            "write \"via parent\" at page 1 + 10",
            v.write(b"via parent", pg + 10),
            Status::OK,
        );
        let back = slice.read_to_vec(10, 10);
        s.check(
            "read it through the slice at 10",
            show(&back),
            back.as_deref() == Ok(&b"via parent"[..]),
        );
    }

    s.status("write \"before\" at 0", v.write(b"before", 0), Status::OK);
    let snap = v.create_child(VmoChildOptions::SNAPSHOT, 0, 4 * pg);
    s.check("SNAPSHOT child of all 4 pages", handle_or_status(&snap), snap.is_ok());
    if let Ok(snap) = snap {
        s.status("parent: write \"AFTER!\" at 0", v.write(b"AFTER!", 0), Status::OK);
        let back = snap.read_to_vec(0, 6);
        s.check(
            "snapshot still reads the old data",
            show(&back),
            back.as_deref() == Ok(&b"before"[..]),
        );
        let back = v.read_to_vec(0, 6);
        s.check("parent reads the new data", show(&back), back.as_deref() == Ok(&b"AFTER!"[..]));
    }

    let ro_rights = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    let ro = v.duplicate_handle(ro_rights);
    let got = ro.as_ref().map_err(|e| *e).and_then(|r| r.info().map(|i| i.rights));
    s.check(
        "duplicate read-only (READ|MAP|DUPLICATE|TRANSFER)",
        match got {
            Ok(r) => format!("rights {r:?}"),
            Err(e) => e.to_string(),
        },
        got == Ok(ro_rights),
    );
    if let Ok(ro) = ro {
        s.status("COMMIT through the read-only handle", ro.commit(0, pg), Status::ACCESS_DENIED);
    }

    // A fd of the VMO, mapped: page 3 (decommitted above) comes back with
    // the write fault.
    let fd = v.export_fd();
    s.check(
        "export the VMO as a file descriptor",
        match &fd {
            Ok(fd) => format!("fd {}", std::os::fd::AsRawFd::as_raw_fd(fd)),
            Err(e) => e.to_string(),
        },
        fd.is_ok(),
    );
    if let Ok(fd) = &fd {
        let koid = |r: Result<Vmo, Status>| r.and_then(|v| v.info()).map(|i| i.koid);
        let theirs = koid(Vmo::import_fd(dev, std::os::fd::AsFd::as_fd(fd)));
        s.check(
            "import the fd: a new handle to the same VMO",
            format!("koid {}", show_u64(theirs)),
            theirs.is_ok() && theirs == v.info().map(|i| i.koid),
        );
    }
    let map = v.map(0, 4 * pg as usize, true);
    s.check(
        "map all 4 pages (MAP_SHARED, read-write)",
        match &map {
            Ok(m) => format!("at {:p}", m.as_ptr()),
            Err(e) => e.to_string(),
        },
        map.is_ok(),
    );
    if let Ok(map) = map {
        let off = 3 * pg + 8;
        s.status(
            "write \"via mapping\" at page 3 + 8 through the mapping",
            map.write_at(off as usize, b"via mapping"),
            Status::OK,
        );
        let back = v.read_to_vec(off, 11);
        s.check(
            "read it back through the read ioctl",
            show(&back),
            back.as_deref() == Ok(&b"via mapping"[..]),
        );
        let c = committed(&v);
        s.check("the write fault committed page 3 again", bytes(c), c == Ok(4 * pg));
        s.status("DECOMMIT page 3", v.decommit(3 * pg, pg), Status::OK);
        let back = map.read_to_vec(off as usize, 11);
        s.check("the mapping reads zeros there now", show(&back), back == Ok(vec![0; 11]));
    }

    pager_file::demo_steps(dev, &mut s);

    if s.failed == 0 {
        println!("demo: all {} steps as expected", s.n);
        Ok(())
    } else {
        Err(format!("demo: {} of {} steps not as expected", s.failed, s.n))
    }
}

/// A new child's handle, or the error.
fn handle_or_status(r: &Result<Vmo, Status>) -> String {
    match r {
        Ok(v) => format!("handle {:#x}", v.raw_handle()),
        Err(s) => s.to_string(),
    }
}

/// A number, or the error.
fn show_u64(r: Result<u64, Status>) -> String {
    match r {
        Ok(n) => n.to_string(),
        Err(s) => s.to_string(),
    }
}

/// Bytes as an escaped string, or the error.
fn show(r: &Result<Vec<u8>, Status>) -> String {
    match r {
        Ok(bytes) => format!("\"{}\"", bytes.escape_ascii()),
        Err(s) => s.to_string(),
    }
}
