//! What the guest program knows of the CPU's cache-line instructions: on
//! x86-64, the `flags` and `clflush size` of `/proc/cpuinfo`; on aarch64,
//! `CTR_EL0` as user space reads it.

use serde::{Deserialize, Serialize};

/// The CPU features the cache baselines depend on.
///
/// One struct for every architecture, so that the meta line keeps its shape:
/// the x86-64 flags are `false` on aarch64 (which has no such instructions),
/// and [`ctr_el0`](Self::ctr_el0) is `None` on x86-64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CpuFeatures {
    /// x86-64's `clwb` flag: write a line back, keep it.
    pub clwb: bool,
    /// x86-64's `clflushopt` flag: write back and drop a line, weakly ordered.
    pub clflushopt: bool,
    /// The data-cache line the cache baselines step by: x86-64's
    /// `clflush size` (64 if the kernel reports none), aarch64's
    /// `4 << CTR_EL0.DminLine` (the smallest data-cache line of the system,
    /// as the module steps).
    pub line_size: u32,
    /// aarch64: `CTR_EL0` as an EL0 `mrs` reads it (the register itself, or
    /// the kernel's sanitised system-wide value where it traps the read);
    /// `None` elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctr_el0: Option<u64>,
}

/// `CTR_EL0.DminLine`: bits 19:16, log2 of the smallest data-cache line in
/// 4-byte words.
const CTR_EL0_DMINLINE_SHIFT: u32 = 16;
/// The width of `CTR_EL0.DminLine`.
const CTR_EL0_DMINLINE_MASK: u64 = 0xf;

impl CpuFeatures {
    /// Reads the first processor's `flags` and `clflush size` lines of an
    /// x86-64 `/proc/cpuinfo` text.
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

    /// The features of an aarch64 CPU whose `CTR_EL0` reads `ctr`: the line
    /// is `4 << DminLine` bytes.
    pub fn from_ctr_el0(ctr: u64) -> CpuFeatures {
        CpuFeatures {
            line_size: 4 << Self::dminline(ctr),
            ctr_el0: Some(ctr),
            ..Default::default()
        }
    }

    /// `CTR_EL0.DminLine` of `ctr`.
    pub fn dminline(ctr: u64) -> u32 {
        // The mask keeps 4 bits: the cast cannot truncate.
        ((ctr >> CTR_EL0_DMINLINE_SHIFT) & CTR_EL0_DMINLINE_MASK) as u32
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
        assert_eq!(f, CpuFeatures { clwb: true, clflushopt: true, line_size: 64, ctr_el0: None });
    }

    #[test]
    fn missing_flags_and_odd_sizes() {
        let f = CpuFeatures::from_cpuinfo("flags : fpu clflush\nclflush size : 48\n");
        assert_eq!(f, CpuFeatures { clwb: false, clflushopt: false, line_size: 64, ctr_el0: None });
        // "clwbx" is not clwb.
        assert!(!CpuFeatures::from_cpuinfo("flags : clwbx\n").clwb);
        assert_eq!(CpuFeatures::from_cpuinfo("").line_size, 64);
    }

    #[test]
    fn the_arm64_line_comes_from_ctr_el0() {
        // QEMU's `-cpu max` (as the arm64 guest reads it): IDC, CWG 4,
        // ERG 4, DminLine 4, L1Ip PIPT, IminLine 4: 64-byte lines.
        let f = CpuFeatures::from_ctr_el0(0x9444_c004);
        assert_eq!(
            f,
            CpuFeatures {
                clwb: false,
                clflushopt: false,
                line_size: 64,
                ctr_el0: Some(0x9444_c004)
            }
        );
        assert_eq!(CpuFeatures::dminline(0x9444_c004), 4);
        // DminLine 3: 32-byte lines; IminLine (bits 3:0) does not count.
        assert_eq!(CpuFeatures::from_ctr_el0(0x0003_000f).line_size, 32);
        assert_eq!(CpuFeatures::from_ctr_el0(0).line_size, 4);
        // The largest field fits.
        assert_eq!(CpuFeatures::from_ctr_el0(0xf_0000).line_size, 4 << 15);
    }

    #[test]
    fn old_meta_lines_have_no_ctr_el0() {
        let f: CpuFeatures =
            serde_json::from_str(r#"{"clwb":true,"clflushopt":true,"line_size":64}"#).unwrap();
        assert_eq!(f.ctr_el0, None);
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("ctr_el0"), "{json}");
    }
}
