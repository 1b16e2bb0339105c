//! Human-readable sizes and durations for the tables and the plot.

/// A size in bytes as `0 B`, `100 B`, `4 KiB`, `2 MiB`, `1 TiB`, `1.5 KiB`.
pub fn fmt_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The unit a duration of `ns` is best shown in: (divisor, name).
fn time_unit(ns: f64) -> (f64, &'static str) {
    if ns < 1e3 {
        (1.0, "ns")
    } else if ns < 1e6 {
        (1e3, "µs")
    } else if ns < 1e9 {
        (1e6, "ms")
    } else {
        (1e9, "s")
    }
}

/// Three significant digits (at least the integer part).
fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A duration in nanoseconds with three significant digits: `850 ns`,
/// `12.3 µs`, `4.56 ms`, `1.23 s`.
pub fn fmt_ns(ns: f64) -> String {
    let (div, name) = time_unit(ns);
    format!("{} {name}", sig3(ns / div))
}

/// `median (min–max)` in the unit of the median: `12.3 µs (11.0–15.2)`.
pub fn fmt_spread(median_ns: u64, min_ns: u64, max_ns: u64) -> String {
    let (div, name) = time_unit(median_ns as f64);
    format!(
        "{} {name} ({}–{})",
        sig3(median_ns as f64 / div),
        sig3(min_ns as f64 / div),
        sig3(max_ns as f64 / div)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(fmt_size(0), "0 B");
        assert_eq!(fmt_size(100), "100 B");
        assert_eq!(fmt_size(4096), "4 KiB");
        assert_eq!(fmt_size(1536), "1.5 KiB");
        assert_eq!(fmt_size(2 << 20), "2 MiB");
        assert_eq!(fmt_size(256 << 20), "256 MiB");
        assert_eq!(fmt_size(1 << 40), "1 TiB");
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_ns(850.0), "850 ns");
        assert_eq!(fmt_ns(12_345.0), "12.3 µs");
        assert_eq!(fmt_ns(4_560_000.0), "4.56 ms");
        assert_eq!(fmt_ns(1.234e9), "1.23 s");
        assert_eq!(fmt_ns(5.0), "5.00 ns");
        assert_eq!(fmt_spread(12_300, 11_000, 15_200), "12.3 µs (11.0–15.2)");
        assert_eq!(fmt_spread(900, 800, 2_000), "900 ns (800–2000)");
    }
}
