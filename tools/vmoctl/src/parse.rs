//! Parsing of sizes, ops, rights, child options and statuses.

use vmo::{Rights, Status, VmoChildOptions, VmoOp};

/// `4096`, `0x1000`, `16k`/`16KiB`, `2m`, `1g`, `1t`, `4p` (pages).
pub fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_err(|e| format!("bad size {t:?}: {e}"));
    }
    let d = lower.strip_suffix("ib").unwrap_or(&lower);
    let d = d.strip_suffix('b').unwrap_or(d);
    let (digits, mult) = match d.char_indices().last() {
        Some((i, 'k')) => (&d[..i], 1u64 << 10),
        Some((i, 'm')) => (&d[..i], 1 << 20),
        Some((i, 'g')) => (&d[..i], 1 << 30),
        Some((i, 't')) => (&d[..i], 1 << 40),
        Some((i, 'p')) => (&d[..i], u64::from(vmo::system_get_page_size())),
        _ => (d, 1),
    };
    let n = digits.parse::<u64>().map_err(|e| format!("bad size {t:?}: {e}"))?;
    n.checked_mul(mult).ok_or_else(|| format!("size {t:?} overflows 64 bits"))
}

/// An op name (`commit`, `cache-clean`, `CACHE_CLEAN`) or number.
pub fn op(s: &str) -> Result<VmoOp, String> {
    let name = s.trim().to_ascii_uppercase().replace('-', "_");
    if let Some(op) = VmoOp::ALL.iter().find(|op| op.name() == Some(name.as_str())) {
        return Ok(*op);
    }
    number(s).map(VmoOp::from_raw).map_err(|_| format!("unknown op {s:?}"))
}

/// Rights joined by `|`, `,` or `+` (`read|map`), `same`, `default`,
/// `none`, or a number.
pub fn rights(s: &str) -> Result<Rights, String> {
    let mut r = Rights::NONE;
    for part in s.split(['|', ',', '+']) {
        let name = part.trim().to_ascii_uppercase().replace('-', "_");
        r |= match name.as_str() {
            "" | "NONE" => Rights::NONE,
            "SAME" => Rights::SAME_RIGHTS,
            "DEFAULT" => Rights::DEFAULT_VMO,
            n => match Rights::from_name(n) {
                Some(x) => x,
                None => Rights::from_bits_retain(
                    number(part).map_err(|_| format!("unknown right {part:?}"))?,
                ),
            },
        };
    }
    Ok(r)
}

/// Child options joined by `|`, `,` or `+` (`snapshot,no-write`).
pub fn child_options(s: &str) -> Result<VmoChildOptions, String> {
    let mut o = VmoChildOptions::empty();
    for part in s.split(['|', ',', '+']) {
        let name = part.trim().to_ascii_uppercase().replace('-', "_");
        o |= match VmoChildOptions::from_name(&name) {
            Some(x) => x,
            None => VmoChildOptions::from_bits_retain(
                number(part).map_err(|_| format!("unknown child option {part:?}"))?,
            ),
        };
    }
    Ok(o)
}

/// `OK`, `ZX_OK`, `ACCESS_DENIED`, `ZX_ERR_ACCESS_DENIED` or a number.
pub fn status(s: &str) -> Result<Status, String> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let candidates = [upper.clone(), format!("ZX_{upper}"), format!("ZX_ERR_{upper}")];
    for raw in -100..=0 {
        let st = Status::from_raw(raw);
        if st.name().is_some_and(|name| candidates.iter().any(|c| c == name)) {
            return Ok(st);
        }
    }
    t.parse::<i32>().map(Status::from_raw).map_err(|_| format!("unknown status {t:?}"))
}

fn number(s: &str) -> Result<u32, std::num::ParseIntError> {
    let t = s.trim();
    match t.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => t.parse(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let pg = u64::from(vmo::system_get_page_size());
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("0x1000"), Ok(4096));
        assert_eq!(size("0xab"), Ok(0xab));
        assert_eq!(size("0xffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(size("16k"), Ok(16384));
        assert_eq!(size("16KiB"), Ok(16384));
        assert_eq!(size("2M"), Ok(2 << 20));
        assert_eq!(size("1t"), Ok(1 << 40));
        assert_eq!(size("4p"), Ok(4 * pg));
        assert!(size("x").is_err());
        assert!(size("99999999999t").is_err());
    }

    #[test]
    fn ops() {
        assert_eq!(op("commit"), Ok(VmoOp::COMMIT));
        assert_eq!(op("cache-clean-invalidate"), Ok(VmoOp::CACHE_CLEAN_INVALIDATE));
        assert_eq!(op("ZERO"), Ok(VmoOp::ZERO));
        assert_eq!(op("12"), Ok(VmoOp::from_raw(12)));
        assert_eq!(op("0xffffffff"), Ok(VmoOp::from_raw(u32::MAX)));
        assert!(op("bogus").is_err());
    }

    #[test]
    fn rights_and_options() {
        assert_eq!(rights("read|map"), Ok(Rights::READ | Rights::MAP));
        assert_eq!(rights("same"), Ok(Rights::SAME_RIGHTS));
        assert_eq!(rights("none"), Ok(Rights::NONE));
        assert_eq!(rights("default"), Ok(Rights::DEFAULT_VMO));
        assert_eq!(rights("get-property,4"), Ok(Rights::GET_PROPERTY | Rights::READ));
        assert!(rights("fly").is_err());
        assert_eq!(
            child_options("snapshot,no-write"),
            Ok(VmoChildOptions::SNAPSHOT | VmoChildOptions::NO_WRITE)
        );
        assert_eq!(child_options("slice"), Ok(VmoChildOptions::SLICE));
        assert!(child_options("copy").is_err());
    }

    #[test]
    fn statuses() {
        assert_eq!(status("OK"), Ok(Status::OK));
        assert_eq!(status("access_denied"), Ok(Status::ACCESS_DENIED));
        assert_eq!(status("ZX_ERR_BAD_HANDLE"), Ok(Status::BAD_HANDLE));
        assert_eq!(status("-14"), Ok(Status::OUT_OF_RANGE));
        assert!(status("sad").is_err());
    }
}
