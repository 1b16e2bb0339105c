//! Median, minimum and maximum of a figure's samples.

use serde::{Deserialize, Serialize};

/// The summary of one figure: nanoseconds of the timed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The median; for an even count, the mean of the two middle samples
    /// (rounded down).
    pub median_ns: u64,
    /// The fastest repetition.
    pub min_ns: u64,
    /// The slowest repetition.
    pub max_ns: u64,
    /// How many repetitions were timed.
    pub reps: u32,
}

impl Summary {
    /// Nanoseconds per byte of the median over `size` bytes (`None` for 0).
    pub fn ns_per_byte(&self, size: u64) -> Option<f64> {
        (size > 0).then(|| self.median_ns as f64 / size as f64)
    }
}

/// Summarises `samples` (in any order); `None` if there are none.
pub fn summarize(samples: &[u64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let median_ns = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        ((u128::from(sorted[n / 2 - 1]) + u128::from(sorted[n / 2])) / 2) as u64
    };
    Some(Summary {
        median_ns,
        min_ns: sorted[0],
        max_ns: sorted[n - 1],
        reps: u32::try_from(n).unwrap_or(u32::MAX),
    })
}

/// `a / b` as a ratio of two medians; `None` when `b` is 0 (a figure below
/// the clock's resolution says nothing about a ratio).
pub fn ratio(a: &Summary, b: &Summary) -> Option<f64> {
    (b.median_ns > 0).then(|| a.median_ns as f64 / b.median_ns as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_takes_the_middle() {
        let s = summarize(&[30, 10, 20, 50, 40]).unwrap();
        assert_eq!(s, Summary { median_ns: 30, min_ns: 10, max_ns: 50, reps: 5 });
    }

    #[test]
    fn even_count_averages_the_middle_two() {
        let s = summarize(&[4, 1, 3, 2]).unwrap();
        assert_eq!((s.median_ns, s.min_ns, s.max_ns, s.reps), (2, 1, 4, 4));
        assert_eq!(summarize(&[10, 13]).unwrap().median_ns, 11);
        // No overflow near the top of the range.
        assert_eq!(summarize(&[u64::MAX, u64::MAX]).unwrap().median_ns, u64::MAX);
    }

    #[test]
    fn one_sample_and_none() {
        assert_eq!(
            summarize(&[7]).unwrap(),
            Summary { median_ns: 7, min_ns: 7, max_ns: 7, reps: 1 }
        );
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn outliers_do_not_move_the_median() {
        let s = summarize(&[100, 101, 99, 100, 1_000_000]).unwrap();
        assert_eq!(s.median_ns, 100);
        assert_eq!(s.max_ns, 1_000_000);
    }

    #[test]
    fn ratios_and_per_byte() {
        let a = summarize(&[150]).unwrap();
        let b = summarize(&[100]).unwrap();
        assert_eq!(ratio(&a, &b), Some(1.5));
        assert_eq!(ratio(&a, &summarize(&[0]).unwrap()), None);
        assert_eq!(b.ns_per_byte(50), Some(2.0));
        assert_eq!(b.ns_per_byte(0), None);
    }
}
