//! What the guest program reads of `/proc/cpuinfo`: the cache-line
//! instructions the user-space baselines need, and the line size.

use serde::{Deserialize, Serialize};

/// The CPU features the cache baselines depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CpuFeatures {
    /// The `clwb` flag: write a line back, keep it.
    pub clwb: bool,
    /// The `clflushopt` flag: write back and drop a line, weakly ordered.
    pub clflushopt: bool,
    /// The `clflush size` the kernel reports (64 if it reports none).
    pub line_size: u32,
}

impl CpuFeatures {
    /// Reads the first processor's `flags` and `clflush size` lines of a
    /// `/proc/cpuinfo` text.
    pub fn from_cpuinfo(text: &str) -> CpuFeatures {
        let mut features = CpuFeatures { line_size: 64, ..Default::default() };
        let field = |line: &str, key: &str| -> Option<String> {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        };
        let mut seen_flags = false;
        let mut seen_size = false;
        for line in text.lines() {
            if let (false, Some(flags)) = (seen_flags, field(line, "flags")) {
                seen_flags = true;
                let has = |f: &str| flags.split_whitespace().any(|x| x == f);
                features.clwb = has("clwb");
                features.clflushopt = has("clflushopt");
            }
            if let (false, Some(size)) = (seen_size, field(line, "clflush size")) {
                seen_size = true;
                match size.parse::<u32>() {
                    Ok(n) if n.is_power_of_two() => features.line_size = n,
                    _ => {}
                }
            }
        }
        features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\n\
        vendor_id\t: AuthenticAMD\n\
        flags\t\t: fpu vme sse2 clflushopt clwb avx2\n\
        clflush size\t: 64\n\
        cache_alignment\t: 64\n\
        \n\
        processor\t: 1\n\
        flags\t\t: fpu\n\
        clflush size\t: 128\n";

    #[test]
    fn reads_the_first_processor() {
        let f = CpuFeatures::from_cpuinfo(CPUINFO);
        assert_eq!(f, CpuFeatures { clwb: true, clflushopt: true, line_size: 64 });
    }

    #[test]
    fn missing_flags_and_odd_sizes() {
        let f = CpuFeatures::from_cpuinfo("flags : fpu clflush\nclflush size : 48\n");
        assert_eq!(f, CpuFeatures { clwb: false, clflushopt: false, line_size: 64 });
        // "clwbx" is not clwb.
        assert!(!CpuFeatures::from_cpuinfo("flags : clwbx\n").clwb);
        assert_eq!(CpuFeatures::from_cpuinfo("").line_size, 64);
    }
}
