//! The Rust mirror of the ABI against what a C compiler makes of
//! `include/uapi/linux/vmo.h`: struct sizes, alignments and field offsets,
//! and the value of every constant in `src/sys/uapi.rs`.
//!
//! The test writes a small C program, compiles it with `$CC` (default `cc`)
//! and compares its output with the Rust side. Without a C compiler it says
//! so and skips.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use vmo::sys;

/// (C expression, Rust value) for every struct's size, alignment and
/// field offsets. Rust field `type_` is C's `type`.
macro_rules! layouts {
    ($($s:ident { $($f:ident),* $(,)? })*) => {{
        let mut v: Vec<(String, u64)> = Vec::new();
        $(
            v.push((format!("sizeof(struct {})", stringify!($s)), size_of::<sys::$s>() as u64));
            v.push((format!("_Alignof(struct {})", stringify!($s)), align_of::<sys::$s>() as u64));
            $(
                v.push((
                    format!("offsetof(struct {}, {})", stringify!($s), stringify!($f).trim_end_matches('_')),
                    offset_of!(sys::$s, $f) as u64,
                ));
                v.push((
                    format!("sizeof(((struct {} *)0)->{})", stringify!($s), stringify!($f).trim_end_matches('_')),
                    {
                        let z = sys::$s::default();
                        std::mem::size_of_val(&z.$f) as u64
                    },
                ));
            )*
        )*
        let names: Vec<(&str, Vec<&str>)> = vec![$((stringify!($s), vec![$(stringify!($f)),*])),*];
        (v, names)
    }};
}

/// (C expression, Rust value) pairs, and the struct and field names listed.
type LayoutTable = (Vec<(String, u64)>, Vec<(&'static str, Vec<&'static str>)>);

fn layout_table() -> LayoutTable {
    layouts! {
        vmo_lock_state { offset, size, discarded_offset, discarded_size }
        vmo_create_args { size, options, handle, reserved }
        vmo_create_child_args { handle, options, offset, size, out_handle, reserved }
        vmo_close_args { handle, reserved }
        vmo_duplicate_args { handle, rights, out_handle, reserved }
        vmo_replace_as_executable_args { handle, vmex, out_handle, reserved }
        vmo_rw_args { handle, reserved, offset, buffer, length }
        vmo_size_args { handle, reserved, size }
        vmo_op_range_args { handle, op, offset, size, buffer, buffer_size }
        vmo_info {
            handle, rights, type_, flags, koid, parent_koid, size, committed_bytes,
            num_children, reserved0, reserved,
        }
        vmo_event_create_args { options, handle }
        vmo_export_args { handle, flags, fd, reserved }
        vmo_import_args { fd, rights, handle, reserved }
        vmo_dirty_range { offset, length, options }
        vmo_pager_query_dirty_args {
            pager, vmo, offset, length, buffer, buffer_size, actual, avail,
        }
        vmo_pager_vmo_stats { modified }
        vmo_pager_query_stats_args { pager, vmo, options, reserved, buffer, buffer_size }
        vmo_pager_create_args { options, handle }
        vmo_pager_create_vmo_args { pager, options, key, size, handle, reserved }
        vmo_pager_detach_args { pager, vmo }
        vmo_pager_supply_args { pager, vmo, offset, length, aux_vmo, reserved, aux_offset }
        vmo_pager_op_args { pager, op, vmo, reserved, offset, length, data }
        vmo_pager_packet { key, type_, reserved, offset, length }
        vmo_pager_wait_args { pager, reserved, timeout_ns, packet }
    }
}

fn uapi_rs() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sys/uapi.rs");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// `pub const NAME: T = VALUE;` lines of the bindgen output.
fn uapi_consts() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in uapi_rs().lines() {
        let Some(rest) = line.strip_prefix("pub const ") else {
            continue;
        };
        let (name, rest) = rest.split_once(':').expect("const name");
        let value = rest.split_once('=').expect("const value").1.trim().trim_end_matches(';');
        let digits: String = value.chars().take_while(|c| c.is_ascii_digit()).collect();
        out.insert(name.trim().to_string(), digits.parse::<u64>().expect("numeric const"));
    }
    out
}

/// Struct names and field names of the bindgen output.
fn uapi_structs() -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_struct = false;
    for line in uapi_rs().lines() {
        if let Some(rest) = line.strip_prefix("pub struct ") {
            out.push((rest.trim_end_matches(" {").to_string(), Vec::new()));
            in_struct = true;
        } else if in_struct && line.starts_with('}') {
            in_struct = false;
        } else if in_struct {
            let field = line.trim().strip_prefix("pub ").expect("pub field");
            out.last_mut().unwrap().1.push(field.split(':').next().unwrap().to_string());
        }
    }
    out
}

fn repo_include() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/uapi")
}

/// Compiles and runs `program`; `None` when there is no C compiler.
fn run_c(program: &str) -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vmo-abi-test-{}-{seq}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("abi.c");
    let exe = dir.join("abi");
    std::fs::write(&src, program).unwrap();
    let status = Command::new(&cc)
        .arg("-std=c11")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(repo_include())
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: no C compiler `{cc}` on PATH: the ABI layout was not checked");
            return None;
        }
        Err(e) => panic!("running {cc}: {e}"),
    };
    assert!(status.success(), "{cc} failed on {}", src.display());
    let out = Command::new(&exe).output().expect("run the C program");
    assert!(out.status.success());
    std::fs::remove_dir_all(&dir).ok();
    Some(String::from_utf8(out.stdout).unwrap())
}

fn c_program(exprs: &[String]) -> String {
    let mut p = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <linux/vmo.h>\nint main(void) {\n",
    );
    for e in exprs {
        writeln!(p, "    printf(\"%llu\\n\", (unsigned long long)({e}));").unwrap();
    }
    p.push_str("    return 0;\n}\n");
    p
}

#[test]
fn layout_table_covers_every_struct_and_field() {
    let (_, listed) = layout_table();
    let listed: Vec<(String, Vec<String>)> = listed
        .into_iter()
        .map(|(s, f)| (s.to_string(), f.into_iter().map(str::to_string).collect()))
        .collect();
    assert_eq!(uapi_structs(), listed, "a struct or field of uapi.rs is missing from this test");
}

#[test]
fn struct_layouts_match_the_c_compiler() {
    let (table, _) = layout_table();
    let exprs: Vec<String> = table.iter().map(|(e, _)| e.clone()).collect();
    let Some(out) = run_c(&c_program(&exprs)) else {
        return;
    };
    let c_values: Vec<u64> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(c_values.len(), table.len());
    for ((expr, rust), c) in table.iter().zip(c_values) {
        assert_eq!(*rust, c, "{expr}: Rust {rust}, C {c}");
    }
}

#[test]
fn constants_match_the_c_compiler() {
    let consts = uapi_consts();
    // The header's constants that the crate relies on must all be there.
    for name in [
        "VMO_IOC_CREATE",
        "VMO_IOC_EVENT_CREATE",
        "VMO_MAX_SIZE",
        "VMO_MAX_HANDLES",
        "VMO_DEFAULT_VMO_RIGHTS",
        "VMO_ERRNO_NO_SPACE",
        "VMO_OP_ZERO",
        "VMO_INFO_FLAG_SLICE",
    ] {
        assert!(consts.contains_key(name), "{name} missing from uapi.rs");
    }
    assert!(consts.len() >= 60, "only {} constants in uapi.rs", consts.len());
    let names: Vec<String> = consts.keys().cloned().collect();
    let Some(out) = run_c(&c_program(&names)) else {
        return;
    };
    let c_values: Vec<u64> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(c_values.len(), names.len());
    for (name, c) in names.iter().zip(c_values) {
        assert_eq!(consts[name], c, "{name}: uapi.rs says {}, C says {c}", consts[name]);
    }
}

#[test]
fn crate_constants_are_the_headers() {
    let consts = uapi_consts();
    assert_eq!(vmo::MAX_SIZE, consts["VMO_MAX_SIZE"]);
    assert_eq!(u64::from(vmo::MAX_HANDLES), consts["VMO_MAX_HANDLES"]);
    assert_eq!(u64::from(vmo::Rights::DEFAULT_VMO.bits()), consts["VMO_DEFAULT_VMO_RIGHTS"]);
    assert_eq!(u64::from(vmo::Rights::DEFAULT_EVENT.bits()), consts["VMO_DEFAULT_EVENT_RIGHTS"]);
    assert_eq!(u64::from(vmo::Rights::DEFAULT_PAGER.bits()), consts["VMO_DEFAULT_PAGER_RIGHTS"]);
    assert_eq!(u64::from(vmo::ObjectType::PAGER.into_raw()), consts["VMO_OBJ_TYPE_PAGER"]);
    assert_eq!(u64::from(vmo::PagerOp::FAIL.into_raw()), consts["VMO_PAGER_OP_FAIL"]);
    assert_eq!(u64::from(vmo::VmoOp::ZERO.into_raw()), consts["VMO_OP_ZERO"]);
    assert_eq!(vmo::MAX_SIZE, (1u64 << 63) - 4096);
}
