//! `vmoctl script`: a sequence of VMO calls in one handle table.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use vmo::{AsHandleRef, Device, Event, Handle, HandleBased, Status, Vmo, VmoOptions};

use crate::parse;

pub const HELP: &str = "\
Run a script in one handle table (one open /dev/vmo). One command a line;
# starts a comment. Any line may end with `=> STATUS` (e.g. `=> ACCESS_DENIED`)
to expect that status; without it the line must succeed. The first line
that does not give what it expects stops the script with exit status 1.

  create NAME SIZE [resizable|discardable]  Vmo::create
  lock NAME / try-lock NAME          lock (prints the discarded range) /
  unlock NAME                        try_lock / unlock of a discardable VMO
  event NAME                         Event::create (usable as a VMO name, to
                                     get WRONG_TYPE)
  child NAME PARENT OPTS OFF SIZE    create_child; OPTS: slice, snapshot,
                                     snapshot-at-least-on-write, no-write,
                                     resizable, joined by , or |
  dup NAME SRC RIGHTS                duplicate (RIGHTS: read|map, same, ...)
  replace NAME SRC RIGHTS            replace (SRC is gone afterwards)
  op NAME OP OFFSET SIZE             op_range (OP: commit, zero, cache-clean,
                                     ..., or a number)
  write NAME OFFSET TEXT...          write the rest of the line (\\0 \\n \\xNN)
  read NAME OFFSET LEN               print LEN bytes
  check NAME OFFSET TEXT...          read and compare with TEXT
  committed NAME BYTES               compare info().committed_bytes
  size NAME / set-size NAME SIZE     get_size / set_size
  info NAME                          print info()
  close NAME                         close the handle

Sizes and offsets: 4096, 0x1000, 16k, 2m, 4p (pages).

Example:
  create v 4p
  op v commit 0 2p
  committed v 2p
  write v 10 hello
  dup ro v read|map|duplicate|transfer
  op ro commit 0 1p => ACCESS_DENIED
";

/// Runs the script in `file` (standard input for `None` or `-`).
pub fn run_file(dev: &Device, file: Option<&Path>) -> Result<(), String> {
    let text = match file {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
    };
    run(dev, &text)
}

fn read_stdin() -> Result<String, String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).map_err(|e| format!("stdin: {e}"))?;
    Ok(s)
}

/// What a command did: a status, plus text to print.
type Outcome = Result<(Status, String), String>;

/// Runs a whole script.
pub fn run(dev: &Device, text: &str) -> Result<(), String> {
    let mut names: HashMap<String, Vmo> = HashMap::new();
    let mut n = 0;
    for (i, raw_line) in text.lines().enumerate() {
        let line = raw_line.split_once('#').map_or(raw_line, |(l, _)| l).trim();
        if line.is_empty() {
            continue;
        }
        let (cmd, want) = match line.rsplit_once("=>") {
            Some((c, w)) => {
                (c.trim(), parse::status(w).map_err(|e| format!("line {}: {e}", i + 1))?)
            }
            None => (line, Status::OK),
        };
        let (got, text) = exec(dev, &mut names, cmd).map_err(|e| format!("line {}: {e}", i + 1))?;
        n += 1;
        let mark = if got == want { "" } else { "   <-- UNEXPECTED" };
        println!("{:>3}: {cmd:<40} -> {got}{text}{mark}", i + 1);
        if got != want {
            return Err(format!("line {}: expected {want}, got {got}", i + 1));
        }
    }
    println!("script: {n} commands as expected");
    Ok(())
}

fn status_of<T>(r: &Result<T, Status>) -> Status {
    r.as_ref().err().copied().unwrap_or(Status::OK)
}

fn exec(dev: &Device, names: &mut HashMap<String, Vmo>, cmd: &str) -> Outcome {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let arg =
        |i: usize| words.get(i).copied().ok_or_else(|| format!("{}: missing arguments", words[0]));
    let rest_from = |i: usize| -> Result<String, String> {
        // The text after the i-th word, with inner spaces kept.
        let mut s = cmd;
        for _ in 0..i {
            s = s.trim_start();
            s = &s[s.find(char::is_whitespace).ok_or("missing text")?..];
        }
        Ok(unescape(s.strip_prefix(' ').unwrap_or(s)))
    };
    let bind = |names: &mut HashMap<String, Vmo>, name: &str, r: Result<Vmo, Status>| {
        let st = status_of(&r);
        let text = match r {
            Ok(v) => {
                let t = format!("  (handle {:#x})", v.raw_handle());
                names.insert(name.to_string(), v);
                t
            }
            Err(_) => String::new(),
        };
        (st, text)
    };
    Ok(match words[0] {
        "create" => {
            let size = parse::size(arg(2)?)?;
            let opts = match words.get(3) {
                Some(&"resizable") => VmoOptions::RESIZABLE,
                Some(&"discardable") => VmoOptions::DISCARDABLE,
                Some(other) => return Err(format!("create: unknown option {other:?}")),
                None => VmoOptions::empty(),
            };
            bind(names, arg(1)?, Vmo::create(dev, size, opts))
        }
        "event" => {
            let r = Event::create(dev).map(|e| Vmo::from(Handle::from(e)));
            bind(names, arg(1)?, r)
        }
        "child" => {
            let opts = parse::child_options(arg(3)?)?;
            let (off, size) = (parse::size(arg(4)?)?, parse::size(arg(5)?)?);
            let r = get(names, &words, 2)?.create_child(opts, off, size);
            bind(names, arg(1)?, r)
        }
        "dup" => {
            let rights = parse::rights(arg(3)?)?;
            let r = get(names, &words, 2)?.duplicate_handle(rights);
            bind(names, arg(1)?, r)
        }
        "replace" => {
            let rights = parse::rights(arg(3)?)?;
            let src =
                names.remove(arg(2)?).ok_or_else(|| format!("no handle named {:?}", words[2]))?;
            bind(names, arg(1)?, src.replace_handle(rights))
        }
        "op" => {
            let op = parse::op(arg(2)?)?;
            let (off, size) = (parse::size(arg(3)?)?, parse::size(arg(4)?)?);
            (status_of(&get(names, &words, 1)?.op_range(op, off, size)), String::new())
        }
        "write" => {
            let off = parse::size(arg(2)?)?;
            let text = rest_from(3)?;
            (status_of(&get(names, &words, 1)?.write(text.as_bytes(), off)), String::new())
        }
        "read" => {
            let (off, len) = (parse::size(arg(2)?)?, parse::size(arg(3)?)?);
            let r = get(names, &words, 1)?.read_to_vec(off, len as usize);
            let text =
                r.as_ref().map(|b| format!("  \"{}\"", b.escape_ascii())).unwrap_or_default();
            (status_of(&r), text)
        }
        "check" => {
            let off = parse::size(arg(2)?)?;
            let want = rest_from(3)?;
            let r = get(names, &words, 1)?.read_to_vec(off, want.len());
            if let Some(got) = r.as_ref().ok().filter(|got| *got != want.as_bytes()) {
                return Err(format!(
                    "check: read \"{}\", want \"{}\"",
                    got.escape_ascii(),
                    want.escape_default()
                ));
            }
            (status_of(&r), String::new())
        }
        "committed" => {
            let want = parse::size(arg(2)?)?;
            let r = get(names, &words, 1)?.info();
            if let Some(i) = r.as_ref().ok().filter(|i| i.committed_bytes != want) {
                return Err(format!("committed: {} bytes, want {want}", i.committed_bytes));
            }
            (status_of(&r), String::new())
        }
        "size" => {
            let r = get(names, &words, 1)?.get_size();
            let text = r.as_ref().map(|s| format!("  {s} bytes")).unwrap_or_default();
            (status_of(&r), text)
        }
        "set-size" => {
            let size = parse::size(arg(2)?)?;
            (status_of(&get(names, &words, 1)?.set_size(size)), String::new())
        }
        "info" => {
            let r = get(names, &words, 1)?.info();
            let text = r.as_ref().map(|i| format!("  {i:?}")).unwrap_or_default();
            (status_of(&r), text)
        }
        "lock" => {
            let r = get(names, &words, 1)?.lock();
            let text = r
                .as_ref()
                .map(|s| format!("  discarded {:#x}+{:#x}", s.discarded_offset, s.discarded_size))
                .unwrap_or_default();
            (status_of(&r), text)
        }
        "try-lock" => (status_of(&get(names, &words, 1)?.try_lock()), String::new()),
        "unlock" => (status_of(&get(names, &words, 1)?.unlock()), String::new()),
        "close" => {
            let v =
                names.remove(arg(1)?).ok_or_else(|| format!("no handle named {:?}", words[1]))?;
            (status_of(&Handle::from(v).close()), String::new())
        }
        other => {
            return Err(format!("unknown command {other:?} (see vmoctl script --help)"));
        }
    })
}

fn get<'a>(names: &'a HashMap<String, Vmo>, words: &[&str], i: usize) -> Result<&'a Vmo, String> {
    let name = words.get(i).ok_or_else(|| format!("{}: missing arguments", words[0]))?;
    names.get(*name).ok_or_else(|| format!("no handle named {name:?}"))
}

/// `\0`, `\n`, `\t`, `\\` and `\xNN` escapes.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if b.is_ascii() => out.push(char::from(b)),
                    _ => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes() {
        assert_eq!(unescape(r"a\0b\n\x41\\"), "a\0b\nA\\");
        assert_eq!(unescape("plain text"), "plain text");
    }

    #[test]
    fn a_script_on_a_file_that_is_not_dev_vmo() {
        // /dev/null answers every ioctl with ENOTTY: NOT_SUPPORTED.
        let dev = Device::open_path("/dev/null").unwrap();
        assert!(run(&dev, "create v 4p => NOT_SUPPORTED\n# comment\n\n").is_ok());
        let e = run(&dev, "create v 4p").unwrap_err();
        assert!(e.contains("expected ZX_OK, got ZX_ERR_NOT_SUPPORTED"), "{e}");
        assert!(run(&dev, "op nothing commit 0 1").unwrap_err().contains("no handle named"));
        assert!(run(&dev, "frobnicate").unwrap_err().contains("unknown command"));
    }
}
