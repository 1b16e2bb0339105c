//! Support for the guest integration tests of `/dev/vmo` (`tests/guest/`).
//!
//! The tests only run inside the QEMU guest, where the module is loaded and
//! `/dev/vmo` exists; on the host they are only compiled. The harness copies
//! the one test binary (`guest-<hash>`) into the initramfs and runs it.
//!
//! Tests take [`shared`] (most) or [`exclusive`] (the ones that measure
//! system-wide memory, or exhaust it) so that the libtest's parallel runner
//! never lets the two kinds overlap, whatever `--test-threads` says.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use vmo::{Device, Rights, Status, Vmo, VmoOptions};

static SERIAL: RwLock<()> = RwLock::new(());

/// Held by tests that may run alongside others.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    SERIAL.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by tests that must run alone (memory accounting, memory pressure).
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SERIAL.write().unwrap_or_else(|e| e.into_inner())
}

/// A new handle table: opens `/dev/vmo` or fails the test with the reason.
pub fn dev() -> Device {
    Device::open().unwrap_or_else(|e| {
        panic!("cannot open {}: {e} (is the vmo module loaded?)", Device::DEFAULT_PATH)
    })
}

/// The page size.
pub fn pg() -> u64 {
    u64::from(vmo::system_get_page_size())
}

/// A VMO of `pages` pages with default options.
pub fn new_vmo(dev: &Device, pages: u64) -> Vmo {
    Vmo::create(dev, pages * pg(), VmoOptions::empty()).expect("create VMO")
}

/// A resizable VMO of `pages` pages.
pub fn new_resizable(dev: &Device, pages: u64) -> Vmo {
    Vmo::create(dev, pages * pg(), VmoOptions::RESIZABLE).expect("create resizable VMO")
}

/// `info().committed_bytes`, failing the test on error.
pub fn committed(v: &Vmo) -> u64 {
    v.info().expect("info").committed_bytes
}

/// The rights of the handle, failing the test on error.
pub fn rights(v: &Vmo) -> Rights {
    v.info().expect("info").rights
}

/// `Ok(())` as [`Status::OK`], `Err(s)` as `s`.
pub fn st<T>(r: Result<T, Status>) -> Status {
    match r {
        Ok(_) => Status::OK,
        Err(s) => s,
    }
}

/// Reads `len` bytes at `offset`, failing the test on error.
pub fn read(v: &Vmo, offset: u64, len: usize) -> Vec<u8> {
    v.read_to_vec(offset, len).unwrap_or_else(|s| panic!("read({offset:#x}, {len}): {s}"))
}

/// Folds the per-CPU memory counters into the global ones
/// (`/proc/sys/vm/stat_refresh`, root only; ignored where it fails) so that
/// `/proc/meminfo` is exact.
pub fn refresh_vm_stats() {
    let _ = std::fs::write("/proc/sys/vm/stat_refresh", "1");
}

/// `Shmem:` of `/proc/meminfo`, in KiB (VMO pages are shmem folios).
pub fn shmem_kib() -> u64 {
    refresh_vm_stats();
    meminfo_kib("Shmem:")
}

/// A `/proc/meminfo` field in KiB.
pub fn meminfo_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/meminfo"));
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad {field} line {line:?}: {e}"))
}

/// Waits (up to `timeout`) until `Shmem:` is at most `limit_kib`; returns
/// the last value read.
pub fn wait_shmem_at_most(limit_kib: u64, timeout: std::time::Duration) -> u64 {
    let start = std::time::Instant::now();
    loop {
        let now = shmem_kib();
        if now <= limit_kib || start.elapsed() >= timeout {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The environment variable that tells a child-role test it was started by
/// [`spawn_child_role`].
pub const CHILD_ROLE_ENV: &str = "VMO_GUEST_CHILD_ROLE";

/// Starts this test binary again (`current_exe()`) to run only the ignored
/// test `test_name` (e.g. `concurrency::child_process_role`), with
/// [`CHILD_ROLE_ENV`] set to `role` and the extra `env`. Its standard output
/// is piped; see [`finish_child`].
pub fn spawn_child_role(test_name: &str, role: &str, env: &[(&str, &str)]) -> std::process::Child {
    child_role_command(test_name, role, env).spawn().expect("spawn the child process")
}

/// The command [`spawn_child_role`] runs, for callers that set more up
/// before spawning it (e.g. a socket as the child's standard input).
pub fn child_role_command(
    test_name: &str,
    role: &str,
    env: &[(&str, &str)],
) -> std::process::Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", test_name, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE_ENV, role)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    cmd
}

/// Waits for a child started by [`spawn_child_role`], fails the test if it
/// did not run its one test successfully, and returns its output lines
/// that contain `CHILD `, from that marker on.
pub fn finish_child(child: std::process::Child) -> Vec<String> {
    use std::os::unix::process::ExitStatusExt;
    let out = child.wait_with_output().expect("wait for the child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // Quoted, so that the child's own "test result:" line is not read as one
    // of this run's by whoever counts the results.
    let quoted: String = stdout.lines().map(|l| format!("  child| {l}\n")).collect();
    if let Some(sig) = out.status.signal() {
        panic!("the child process was killed by signal {sig} (9: the OOM killer?):\n{quoted}");
    }
    assert!(out.status.success(), "the child process failed ({}):\n{quoted}", out.status);
    assert!(stdout.contains("1 passed"), "the child role did not run:\n{quoted}");
    // libtest prints "test NAME ... " before the test's own output, on the
    // same line: take every line from its "CHILD " on.
    stdout.lines().filter_map(|l| l.find("CHILD ").map(|i| l[i..].to_string())).collect()
}
