//! `zx_vmo_replace_as_executable` (`VMO_IOC_REPLACE_AS_EXECUTABLE`) and what
//! EXECUTE grants: a file descriptor that maps `PROT_EXEC`, and code written
//! into a VMO that runs after CACHE_SYNC.
//!
//! Zircon's order and what it closes are those of `sys_vmo_replace_as_executable`
//! (`zircon/kernel/lib/syscalls/vmo.cc`), as the UAPI header states them; the
//! ambient policy that stands for Zircon's `ZX_POL_AMBIENT_MARK_VMO_EXEC` is
//! the caller's `CAP_SYS_ADMIN` in the initial user namespace (the tests run
//! as root; the unprivileged cases run in a forked child that drops it).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::thread::{CapabilitySet, UnshareFlags};
use vmo::sys::{self, MapFlags, MappedRegion, ProtFlags};
use vmo::{
    AsHandleRef, Device, Event, Handle, HandleBased, Pager, Rights, Status, Vmo, VmoChildOptions,
    VmoOp,
};
use vmo_guest_tests::*;

/// The page size as a `usize`.
fn up() -> usize {
    pg() as usize
}

/// The errno of the last libc call.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `VMO_IOC_REPLACE_AS_EXECUTABLE` with raw values: the new handle's value,
/// or the status.
fn replace_raw(dev: &Device, handle: u32, vmex: u32, reserved: u32) -> Result<u32, Status> {
    let mut a = sys::vmo_replace_as_executable_args { handle, vmex, out_handle: 0, reserved };
    sys::replace_as_executable(dev.as_fd(), &mut a).map_err(Status::from_errno)?;
    Ok(a.out_handle)
}

/// What `VMO_IOC_GET_INFO` says of the raw value `raw`: OK while it names a
/// handle, BAD_HANDLE once it is closed.
fn lookup(dev: &Device, raw: u32) -> Status {
    let mut a = sys::vmo_info { handle: raw, ..Default::default() };
    st(sys::get_info(dev.as_fd(), &mut a).map_err(Status::from_errno))
}

/// The number of handles in `dev`'s table (`vmo-handles:` of its fdinfo).
fn handle_count(dev: &Device) -> u64 {
    let path = format!("/proc/self/fdinfo/{}", dev.as_fd().as_raw_fd());
    let text = std::fs::read_to_string(path).expect("fdinfo of /dev/vmo");
    text.lines()
        .find_map(|l| l.strip_prefix("vmo-handles:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no vmo-handles line in {text}"))
}

/// `mmap(len, prot, MAP_SHARED)` of the VMO fd `fd` at offset 0.
fn map(fd: BorrowedFd<'_>, len: usize, prot: ProtFlags) -> Result<MappedRegion, sys::Errno> {
    sys::mmap(fd, 0, len, prot, MapFlags::SHARED)
}

/// A VMO of `pages` pages, replaced by an executable handle.
fn executable_vmo(dev: &Device, pages: u64) -> Vmo {
    new_vmo(dev, pages).replace_as_executable().expect("replace_as_executable as root")
}

/// How the forked child of [`replace_in_child_without_cap_sys_admin`] loses
/// `CAP_SYS_ADMIN` in the initial user namespace.
#[derive(Clone, Copy)]
enum Unprivileged {
    /// `capset`: CAP_SYS_ADMIN leaves the effective and permitted sets; every
    /// other capability stays (the child is still uid 0).
    DropCapSysAdmin,
    /// `unshare(CLONE_NEWUSER)`: every capability, but in a new user
    /// namespace, none in the initial one.
    NewUserNamespace,
}

/// The child could not drop the capability (a setup failure, not a result).
const CHILD_SETUP_FAILED: i32 = -1;
/// The kernel has no user namespaces (`CONFIG_USER_NS=n`): unshare is EINVAL.
const CHILD_NO_USER_NS: i32 = -2;

/// Forks a child that shares `dev`'s open file (its handle table), loses
/// CAP_SYS_ADMIN as `how` says, and calls VMO_IOC_REPLACE_AS_EXECUTABLE on
/// `handle` with vmex 0. Returns the child's errno (0 for success) or one of
/// the `CHILD_*` codes.
fn replace_in_child_without_cap_sys_admin(dev: &Device, handle: u32, how: Unprivileged) -> i32 {
    let fd = dev.as_fd();
    let mut pipe = [0i32; 2];
    // SAFETY: a plain pipe into a local array.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0, "pipe: {}", errno());
    // SAFETY: the child makes raw system calls only (rustix's capget/capset/unshare and
    // ioctl, libc's write and _exit: no allocation, no lock another thread could hold) and
    // ends with `_exit`; the parent waits for it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", errno());
    if pid == 0 {
        let dropped = match how {
            Unprivileged::DropCapSysAdmin => rustix::thread::capabilities(None)
                .and_then(|mut c| {
                    c.effective -= CapabilitySet::SYS_ADMIN;
                    c.permitted -= CapabilitySet::SYS_ADMIN;
                    rustix::thread::set_capabilities(None, c)
                })
                .map_err(|_| CHILD_SETUP_FAILED),
            // SAFETY: the child is single-threaded (fork copies one thread) and holds no
            // state that depends on its user namespace.
            Unprivileged::NewUserNamespace => unsafe {
                rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER)
            }
            .map_err(|e| {
                if e == rustix::io::Errno::INVAL { CHILD_NO_USER_NS } else { CHILD_SETUP_FAILED }
            }),
        };
        let code = match dropped {
            Err(code) => code,
            Ok(()) => {
                let mut a = sys::vmo_replace_as_executable_args { handle, ..Default::default() };
                sys::replace_as_executable(fd, &mut a).err().map_or(0, sys::Errno::raw_os_error)
            }
        };
        // SAFETY: writes four bytes of a local to the pipe, then ends the child without
        // running anything of the parent's (no destructors, no atexit handlers).
        unsafe {
            libc::write(pipe[1], code.to_ne_bytes().as_ptr().cast(), 4);
            libc::_exit(0);
        }
    }
    let mut out = [0u8; 4];
    let mut status = 0;
    // SAFETY: reads the child's four bytes into a local, reaps the child, closes the pipe.
    unsafe {
        libc::close(pipe[1]);
        assert_eq!(libc::read(pipe[0], out.as_mut_ptr().cast(), 4), 4, "the child's answer");
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        libc::close(pipe[0]);
    }
    i32::from_ne_bytes(out)
}

/// Without CAP_SYS_ADMIN the ambient policy refuses: ACCESS_DENIED, and the
/// handle is closed all the same (Zircon evaluates the policy first and
/// returns its verdict after it removed the handle). Nothing is added.
#[test]
fn without_cap_sys_admin_it_is_access_denied_and_the_handle_is_gone() {
    let _g = shared();
    let dev = dev();
    let v = new_vmo(&dev, 1);
    let keep = v.duplicate_handle(Rights::SAME_RIGHTS).unwrap();
    let raw = v.into_handle().into_raw();
    let before = handle_count(&dev);
    let got = replace_in_child_without_cap_sys_admin(&dev, raw, Unprivileged::DropCapSysAdmin);
    assert_ne!(got, CHILD_SETUP_FAILED, "the child could not drop CAP_SYS_ADMIN");
    assert_eq!(Status::from_errno(sys::Errno::from_raw_os_error(got)), Status::ACCESS_DENIED);
    assert_eq!(lookup(&dev, raw), Status::BAD_HANDLE, "the source handle is closed");
    assert_eq!(handle_count(&dev), before - 1, "one handle fewer, none added");
    assert_eq!(rights(&keep), Rights::DEFAULT_VMO, "other handles keep their rights");
}

/// CAP_SYS_ADMIN must be held in the initial user namespace: root of a new
/// user namespace (which has every capability there) is refused. Skipped on
/// a kernel without user namespaces (the test guest's; Debian's has them).
#[test]
fn cap_sys_admin_in_a_new_user_namespace_is_not_enough() {
    let _g = shared();
    let dev = dev();
    let raw = new_vmo(&dev, 1).into_handle().into_raw();
    let got = replace_in_child_without_cap_sys_admin(&dev, raw, Unprivileged::NewUserNamespace);
    if got == CHILD_NO_USER_NS {
        // The child did not call: close the handle here.
        // SAFETY: `raw` is owned by nothing else since `into_raw`.
        drop(unsafe { Handle::from_raw(&dev, raw) });
        eprintln!("no user namespaces in this kernel: skipped");
        return;
    }
    assert_ne!(got, CHILD_SETUP_FAILED, "the child could not make a user namespace");
    assert_eq!(Status::from_errno(sys::Errno::from_raw_os_error(got)), Status::ACCESS_DENIED);
    assert_eq!(lookup(&dev, raw), Status::BAD_HANDLE, "the source handle is closed");
}

/// The new handle names the same VMO with every right of the old one plus
/// EXECUTE; the old value is closed. A handle that already had fewer rights
/// keeps exactly those (plus EXECUTE): nothing else is added.
#[test]
fn the_new_handle_has_every_old_right_plus_execute() {
    let _g = shared();
    let dev = dev();
    let v = new_resizable(&dev, 1);
    v.write(b"same vmo", 0).unwrap();
    let koid = v.info().unwrap().koid;
    let old = v.raw_handle();
    let x = v.replace_as_executable().unwrap();
    assert_ne!(x.raw_handle(), old);
    assert_eq!(lookup(&dev, old), Status::BAD_HANDLE, "the source handle is closed");
    let info = x.info().unwrap();
    assert_eq!(info.rights, Rights::DEFAULT_VMO | Rights::RESIZE | Rights::EXECUTE);
    assert_eq!(info.koid, koid);
    assert_eq!(read(&x, 0, 8), b"same vmo");

    let few = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER;
    let ro = new_vmo(&dev, 1).duplicate_handle(few).unwrap();
    let rox = ro.replace_as_executable().unwrap();
    assert_eq!(rights(&rox), few | Rights::EXECUTE);
    assert_eq!(rox.write(b"x", 0), Err(Status::ACCESS_DENIED), "no WRITE was added");
    // No right at all: EXECUTE alone. Twice: EXECUTE is already there.
    let none = new_vmo(&dev, 1).duplicate_handle(Rights::NONE).unwrap();
    let nx = none.replace_as_executable().unwrap();
    assert_eq!(rights(&nx), Rights::EXECUTE);
    let nxx = nx.replace_as_executable().unwrap();
    assert_eq!(rights(&nxx), Rights::EXECUTE);
}

/// EXECUTE then follows Zircon's rules for derived handles: duplicates and
/// replacements keep it (or drop it on request), a slice keeps it, a
/// snapshot that gets WRITE loses it ("at the expense of executability"), a
/// NO_WRITE snapshot keeps it (`sys_vmo_create_child`).
#[test]
fn execute_passes_to_duplicates_and_slices_not_to_writable_snapshots() {
    let _g = shared();
    let dev = dev();
    let p = pg();
    let x = executable_vmo(&dev, 2);
    let all = Rights::DEFAULT_VMO | Rights::EXECUTE;
    assert_eq!(rights(&x.duplicate_handle(Rights::SAME_RIGHTS).unwrap()), all);
    assert_eq!(rights(&x.duplicate_handle(Rights::DEFAULT_VMO).unwrap()), Rights::DEFAULT_VMO);
    let slice = x.create_child(VmoChildOptions::SLICE, 0, p).unwrap();
    assert_eq!(rights(&slice), all);
    let snap = x.create_child(VmoChildOptions::SNAPSHOT, 0, p).unwrap();
    assert_eq!(rights(&snap), Rights::DEFAULT_VMO);
    let alow = x.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, p).unwrap();
    assert_eq!(rights(&alow), Rights::DEFAULT_VMO);
    let frozen =
        x.create_child(VmoChildOptions::SNAPSHOT | VmoChildOptions::NO_WRITE, 0, p).unwrap();
    assert_eq!(rights(&frozen), all - Rights::WRITE);
}

/// Every failure once the handle is found closes it, in Zircon's order:
/// a value that names nothing is BAD_HANDLE (nothing closed); a handle that
/// is not a VMO is BAD_HANDLE, not WRONG_TYPE, and is closed; a non-zero
/// vmex names no VMEX resource (there are none on Linux): BAD_HANDLE if it
/// names nothing, WRONG_TYPE if it names any handle, the VMO handle closed
/// in both cases. A non-zero reserved field is INVALID_ARGS and closes
/// nothing.
#[test]
fn every_failure_after_the_lookup_closes_the_handle() {
    let _g = shared();
    let dev = dev();
    let made_up = 0x4242_4240; // the two low bits clear: never a handle value

    assert_eq!(replace_raw(&dev, made_up, 0, 0), Err(Status::BAD_HANDLE));
    assert_eq!(replace_raw(&dev, 0, 0, 0), Err(Status::BAD_HANDLE));

    let v = new_vmo(&dev, 1);
    let raw = v.raw_handle();
    assert_eq!(replace_raw(&dev, raw, 0, 1), Err(Status::INVALID_ARGS));
    assert_eq!(lookup(&dev, raw), Status::OK, "reserved: nothing closed");

    // A vmex that names nothing.
    let raw = v.into_handle().into_raw();
    assert_eq!(replace_raw(&dev, raw, made_up, 0), Err(Status::BAD_HANDLE));
    assert_eq!(lookup(&dev, raw), Status::BAD_HANDLE);

    // A vmex that names a handle, but no resource: an event, the VMO itself.
    let ev = Event::create(&dev).unwrap();
    let raw = new_vmo(&dev, 1).into_handle().into_raw();
    assert_eq!(replace_raw(&dev, raw, ev.raw_handle(), 0), Err(Status::WRONG_TYPE));
    assert_eq!(lookup(&dev, raw), Status::BAD_HANDLE);
    assert_eq!(lookup(&dev, ev.raw_handle()), Status::OK, "vmex is only looked at");
    let raw = new_vmo(&dev, 1).into_handle().into_raw();
    assert_eq!(replace_raw(&dev, raw, raw, 0), Err(Status::WRONG_TYPE));
    assert_eq!(lookup(&dev, raw), Status::BAD_HANDLE);

    // Not a VMO: an event, a pager. BAD_HANDLE comes before the vmex verdict.
    let ev_raw = ev.into_handle().into_raw();
    assert_eq!(replace_raw(&dev, ev_raw, made_up, 0), Err(Status::BAD_HANDLE));
    assert_eq!(lookup(&dev, ev_raw), Status::BAD_HANDLE, "the event is closed");
    let pager = Pager::create(&dev).unwrap();
    let as_vmo = Vmo::from(pager.into_handle());
    let pager_raw = as_vmo.raw_handle();
    assert_eq!(as_vmo.replace_as_executable(), Err(Status::BAD_HANDLE));
    assert_eq!(lookup(&dev, pager_raw), Status::BAD_HANDLE, "the pager handle is closed");

    // A handle of another table is not in this one.
    let other = vmo_guest_tests::dev();
    let theirs = new_vmo(&other, 1);
    assert_eq!(replace_raw(&dev, theirs.raw_handle(), 0, 0), Err(Status::BAD_HANDLE));
    assert_eq!(lookup(&other, theirs.raw_handle()), Status::OK);
}

/// Only an fd exported from a handle with EXECUTE maps PROT_EXEC, and its
/// mappings keep VM_MAYEXEC (mprotect to PROT_EXEC works). Every other fd,
/// including one of the same VMO through a handle that dropped EXECUTE
/// (duplicate, import with fewer rights), refuses as before: mmap EPERM
/// (its filesystem is noexec), mprotect EACCES. No fd can be execve'd: its
/// mode has no x bit.
#[test]
fn only_fds_of_handles_with_execute_map_executable() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let rx = ProtFlags::READ | ProtFlags::EXEC;
    let x = executable_vmo(&dev, 1);
    let xfd = x.export_fd().unwrap();
    let m = map(xfd.as_fd(), p, rx).expect("PROT_EXEC through an fd with EXECUTE");
    drop(m);
    let m = map(xfd.as_fd(), p, ProtFlags::READ).unwrap();
    // SAFETY: changes the protection of the page `m` owns.
    let r = unsafe { libc::mprotect(m.as_ptr().cast(), p, libc::PROT_READ | libc::PROT_EXEC) };
    assert_eq!(r, 0, "mprotect PROT_EXEC of an EXECUTE fd's mapping: {}", errno());
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let start = format!("{:x}-", m.as_ptr() as usize);
    let line = maps.lines().find(|l| l.starts_with(&start)).expect("the mapping in maps");
    assert!(line.contains(" r-xs ") && line.contains("/vmo:"), "{line}");

    let not_exec = [
        ("a handle never made executable", new_vmo(&dev, 1)),
        ("a duplicate without EXECUTE", x.duplicate_handle(Rights::DEFAULT_VMO).unwrap()),
        (
            "an import without EXECUTE",
            Vmo::import_fd_with_rights(&dev, xfd.as_fd(), Rights::DEFAULT_VMO).unwrap(),
        ),
    ];
    for (what, v) in &not_exec {
        let fd = v.export_fd().unwrap();
        assert_eq!(map(fd.as_fd(), p, rx).map(|_| ()), Err(sys::Errno::PERM), "mmap: {what}");
        let m = map(fd.as_fd(), p, ProtFlags::READ).unwrap();
        // SAFETY: changes the protection of the page `m` owns; it must fail.
        let r = unsafe { libc::mprotect(m.as_ptr().cast(), p, libc::PROT_READ | libc::PROT_EXEC) };
        assert_eq!((r, errno()), (-1, libc::EACCES), "mprotect: {what}");
        assert_eq!(rustix::fs::fstat(&fd).unwrap().st_mode & 0o111, 0, "no x bit: {what}");
    }
    let same = Vmo::import_fd(&dev, xfd.as_fd()).unwrap();
    assert_eq!(rights(&same), Rights::DEFAULT_VMO | Rights::EXECUTE, "an import keeps EXECUTE");
    let sfd = same.export_fd().unwrap();
    assert!(map(sfd.as_fd(), p, rx).is_ok(), "and its fd maps PROT_EXEC");

    let st_x = rustix::fs::fstat(&xfd).unwrap();
    let st_d = rustix::fs::fstat(not_exec[1].1.export_fd().unwrap()).unwrap();
    assert_eq!(st_x.st_ino, st_d.st_ino, "one st_ino per VMO");
    assert_eq!(st_x.st_mode & 0o111, 0, "no x bit");
    // execveat(fd, "", AT_EMPTY_PATH): refused by may_open (no x bit) before anything is read.
    let argv = [std::ptr::null::<libc::c_char>()];
    // SAFETY: an empty path, an argv and envp of one null pointer; the call fails (and if it
    // did not, the fd's content is not an executable format: ENOEXEC before the point of no
    // return).
    let r = unsafe {
        libc::syscall(
            libc::SYS_execveat,
            xfd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            argv.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    assert_eq!((r, errno()), (-1, libc::EACCES), "execveat of an EXECUTE fd");
}

/// `fn() -> u32` returning `value`, as machine code for this architecture
/// (System V / AAPCS64: the result in eax / w0, no stack, no other register).
#[cfg(target_arch = "x86_64")]
fn ret_const(value: u16) -> Vec<u8> {
    // mov eax, imm32 (b8 imm32); ret (c3)
    let mut code = vec![0xb8];
    code.extend_from_slice(&u32::from(value).to_le_bytes());
    code.push(0xc3);
    code
}

/// `fn() -> u32` returning `value`, as machine code for this architecture
/// (System V / AAPCS64: the result in eax / w0, no stack, no other register).
#[cfg(target_arch = "aarch64")]
fn ret_const(value: u16) -> Vec<u8> {
    // movz w0, #value: sf=0 opc=10 100101 hw=00 imm16 Rd=0; ret: ret x30.
    let movz = 0x5280_0000u32 | (u32::from(value) << 5);
    let ret = 0xd65f_03c0u32;
    [movz.to_le_bytes(), ret.to_le_bytes()].concat()
}

/// Calls the function at `addr`.
///
/// # Safety
///
/// `addr` lies in a mapping that is executable now and stays mapped for the call; a complete
/// [`ret_const`] function was written there and CACHE_SYNC ran over it since, and nothing
/// writes those bytes during the call.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
unsafe fn call(addr: *mut u8) -> u32 {
    // SAFETY: the caller guarantees an executable, synced, complete function at `addr`. It
    // follows the C ABI of `extern "C" fn() -> u32`: it returns a value in the return
    // register and touches no memory, no stack and no callee-saved register.
    let f = unsafe { std::mem::transmute::<*mut u8, extern "C" fn() -> u32>(addr) };
    f()
}

/// The point of EXECUTE: code written into a VMO runs from an executable
/// mapping of it after CACHE_SYNC, and code written over it runs after the
/// next CACHE_SYNC. The code is written through a writable mapping of the
/// same fd (a JIT's double mapping) and through `zx_vmo_write`, at an
/// unaligned offset in the second page, and is mapped executable both by
/// `mmap(PROT_READ | PROT_EXEC)` and by `mprotect`.
///
/// CACHE_SYNC is what makes the data writes visible to instruction fetch on
/// arm64 (`dc cvau` + `ic ivau`, `dsb ish`, `isb`) and serialises on x86-64.
/// QEMU's TCG keeps the instruction stream coherent by itself (it drops
/// translated blocks whose guest pages are written), and x86-64 snoops its
/// instruction cache in hardware, so this test proves that the path works
/// (EXECUTE, the exec mapping, writes through either route, CACHE_SYNC,
/// the call), not that a real arm64 CPU would have run stale code without
/// the sync.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn code_written_into_a_vmo_runs_after_cache_sync() {
    let _g = shared();
    let dev = dev();
    let p = up();
    let x = executable_vmo(&dev, 2);
    let fd = x.export_fd().unwrap();
    let rw = map(fd.as_fd(), 2 * p, ProtFlags::READ | ProtFlags::WRITE).unwrap();
    let rx = map(fd.as_fd(), 2 * p, ProtFlags::READ | ProtFlags::EXEC).unwrap();
    let at = p + 40;
    let sync = |len: usize| x.op_range(VmoOp::CACHE_SYNC, at as u64, len as u64).unwrap();

    let first = ret_const(0x1234);
    rw.write(at, &first).unwrap();
    sync(first.len());
    // SAFETY: `rx` maps both pages PROT_EXEC for the whole test, the function at `at` was just
    // written in full and synced, and nothing else writes the VMO meanwhile.
    assert_eq!(unsafe { call(rx.as_ptr().add(at)) }, 0x1234, "the first function");

    let second = ret_const(0x4321);
    rw.write(at, &second).unwrap();
    sync(second.len());
    // SAFETY: as above, for the function written over the first.
    assert_eq!(unsafe { call(rx.as_ptr().add(at)) }, 0x4321, "the function written over it");

    let third = ret_const(0x0777);
    x.write(&third, at as u64).unwrap();
    sync(third.len());
    // SAFETY: as above.
    assert_eq!(unsafe { call(rx.as_ptr().add(at)) }, 0x0777, "written with zx_vmo_write");

    // A mapping of a read-only fd with EXECUTE, mapped PROT_READ and made executable later.
    let ro = Rights::READ | Rights::MAP | Rights::DUPLICATE | Rights::TRANSFER | Rights::EXECUTE;
    let rofd = x.duplicate_handle(ro).unwrap().export_fd().unwrap();
    let late = map(rofd.as_fd(), 2 * p, ProtFlags::READ).unwrap();
    // SAFETY: changes the protection of the two pages `late` owns.
    let r =
        unsafe { libc::mprotect(late.as_ptr().cast(), 2 * p, libc::PROT_READ | libc::PROT_EXEC) };
    assert_eq!(r, 0, "mprotect PROT_EXEC: {}", errno());
    let fourth = ret_const(0xbeef);
    rw.write(at, &fourth).unwrap();
    sync(fourth.len());
    // SAFETY: `late` is executable since the mprotect above and maps both pages; the function
    // at `at` was written in full and synced.
    assert_eq!(unsafe { call(late.as_ptr().add(at)) }, 0xbeef, "through mprotect");
}
