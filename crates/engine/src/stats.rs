//! The statistics behind opportunities: normal tail probabilities, two-sample tests,
//! quantiles. `docs/opportunities.md` explains how they are used.

/// Standard normal cumulative distribution, |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The z above which a one-sided test rejects at level `alpha` (bisection on [`normal_cdf`]).
pub fn z_critical(alpha: f64) -> f64 {
    let (mut low, mut high) = (0.0f64, 40.0f64);
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if 1.0 - normal_cdf(mid) > alpha {
            low = mid;
        } else {
            high = mid;
        }
    }
    high
}

/// A proportion: `hits` out of `trials`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Proportion {
    /// Successes.
    pub hits: f64,
    /// Trials.
    pub trials: f64,
}

impl Proportion {
    /// `hits / trials`, 0 without trials.
    pub fn rate(self) -> f64 {
        if self.trials > 0.0 {
            self.hits / self.trials
        } else {
            0.0
        }
    }

    /// Both summed.
    pub fn plus(self, other: Proportion) -> Proportion {
        Proportion {
            hits: self.hits + other.hits,
            trials: self.trials + other.trials,
        }
    }
}

/// Pooled two-proportion z statistic of `a` against `b`: positive when `a` is higher.
pub fn two_proportion_z(a: Proportion, b: Proportion) -> f64 {
    if a.trials <= 0.0 || b.trials <= 0.0 {
        return 0.0;
    }
    let pooled = (a.hits + b.hits) / (a.trials + b.trials);
    let variance = pooled * (1.0 - pooled) * (1.0 / a.trials + 1.0 / b.trials);
    if variance <= 0.0 {
        return 0.0;
    }
    (a.rate() - b.rate()) / variance.sqrt()
}

/// A sample summarised by count, sum and sum of squares.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Observations.
    pub n: f64,
    /// Sum of the values.
    pub sum: f64,
    /// Sum of the squared values.
    pub squares: f64,
}

impl Moments {
    /// Mean, 0 when empty.
    pub fn mean(self) -> f64 {
        if self.n > 0.0 { self.sum / self.n } else { 0.0 }
    }

    /// Unbiased sample variance.
    pub fn variance(self) -> f64 {
        if self.n < 2.0 {
            return 0.0;
        }
        ((self.squares - self.sum * self.sum / self.n) / (self.n - 1.0)).max(0.0)
    }

    /// Both summed.
    pub fn plus(self, other: Moments) -> Moments {
        Moments {
            n: self.n + other.n,
            sum: self.sum + other.sum,
            squares: self.squares + other.squares,
        }
    }
}

/// Welch's statistic of the mean of `a` against `b`, read on the normal distribution (both
/// samples are required to hold at least 30 values by the callers): positive when `a` is
/// higher.
pub fn welch_z(a: Moments, b: Moments) -> f64 {
    if a.n < 2.0 || b.n < 2.0 {
        return 0.0;
    }
    let error = (a.variance() / a.n + b.variance() / b.n).sqrt();
    if error <= 0.0 {
        return 0.0;
    }
    (a.mean() - b.mean()) / error
}

/// Nearest-rank quantile of sorted values.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Values kept exactly before [`Quantiles`] switches to buckets.
const EXACT_VALUES: usize = 512;
/// Buckets per doubling of the value: a bucket is at most 1/128 of its values wide.
const SUB_BUCKETS: u64 = 128;

/// Non-negative integers (durations) gathered for their quantiles in bounded memory: held
/// exactly while there are few, then counted in buckets 1/128 of an octave wide, so that a
/// quantile is the middle of its bucket, within 0.4% of the exact value. A hundred million
/// step times cost a few kilobytes instead of gigabytes, and merge by adding counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Quantiles {
    exact: Vec<u64>,
    buckets: Vec<u64>,
    count: u64,
}

impl Quantiles {
    /// Adds a value (negative ones count as 0).
    pub fn add(&mut self, value: i64) {
        let value = value.max(0) as u64;
        self.count += 1;
        if self.buckets.is_empty() {
            self.exact.push(value);
            if self.exact.len() > EXACT_VALUES {
                for value in std::mem::take(&mut self.exact) {
                    self.count_in_bucket(value);
                }
            }
        } else {
            self.count_in_bucket(value);
        }
    }

    fn count_in_bucket(&mut self, value: u64) {
        let b = bucket(value);
        if b >= self.buckets.len() {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] += 1;
    }

    /// Values added.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Adds the values of `other`.
    pub fn merge(&mut self, other: &Quantiles) {
        if other.buckets.is_empty() && self.buckets.is_empty() {
            self.count += other.exact.len() as u64;
            self.exact.extend_from_slice(&other.exact);
            if self.exact.len() <= EXACT_VALUES {
                return;
            }
            self.count -= self.exact.len() as u64;
            for value in std::mem::take(&mut self.exact) {
                self.count += 1;
                self.count_in_bucket(value);
            }
            return;
        }
        for value in std::mem::take(&mut self.exact)
            .into_iter()
            .chain(other.exact.iter().copied())
        {
            self.count_in_bucket(value);
        }
        if other.buckets.len() > self.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.count += other.count;
    }

    /// Nearest-rank quantile `q` (the value itself while few, else its bucket's middle).
    pub fn quantile(&self, q: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if self.buckets.is_empty() {
            let mut values = self.exact.clone();
            let (_, &mut value, _) = values.select_nth_unstable(rank as usize - 1);
            return Some(value as i64);
        }
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(middle(b) as i64);
            }
        }
        None
    }
}

/// The bucket of a value: values below 256 have their own, then 128 per doubling.
fn bucket(value: u64) -> usize {
    if value < 2 * SUB_BUCKETS {
        return value as usize;
    }
    let shift = 63 - value.leading_zeros() - 7;
    let mantissa = value >> shift;
    ((u64::from(shift) + 1) * SUB_BUCKETS + mantissa - SUB_BUCKETS) as usize
}

/// The middle value of bucket `b`.
fn middle(b: usize) -> u64 {
    let b = b as u64;
    if b < 2 * SUB_BUCKETS {
        return b;
    }
    let shift = b / SUB_BUCKETS - 1;
    let low = (SUB_BUCKETS + b % SUB_BUCKETS) << shift;
    low + ((1u64 << shift) - 1) / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_tile_the_values() {
        let mut last = 0;
        for value in 0..100_000u64 {
            let b = bucket(value);
            assert!(b == last || b == last + 1, "{value}");
            last = b;
            let mid = middle(b);
            assert_eq!(bucket(mid), b, "{value}");
            assert!(
                mid.abs_diff(value) as f64 <= value as f64 / 256.0 + 0.5,
                "{value}"
            );
        }
    }

    #[test]
    fn few_values_give_exact_quantiles() {
        let mut q = Quantiles::default();
        for v in [10, 1, 9, 2, 8, 3, 7, 4, 6, 5] {
            q.add(v * 1000);
        }
        assert_eq!(q.quantile(0.5), Some(5000));
        assert_eq!(q.quantile(0.9), Some(9000));
        assert_eq!(Quantiles::default().quantile(0.5), None);
    }

    proptest! {
        /// Split in any way and merged, values give the nearest-rank quantiles of all of
        /// them, exactly while few and within 0.4% when counted in buckets.
        #[test]
        fn quantiles_are_close_to_exact_whatever_the_merges(
            values in prop::collection::vec(0i64..10_000_000_000, 1..3000),
            cut in 0usize..3000,
            q in 0.01f64..1.0,
        ) {
            let cut = cut.min(values.len());
            let (mut left, mut right) = (Quantiles::default(), Quantiles::default());
            values[..cut].iter().for_each(|&v| left.add(v));
            values[cut..].iter().for_each(|&v| right.add(v));
            left.merge(&right);
            prop_assert_eq!(left.len(), values.len() as u64);
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let exact = quantile(&sorted, q).unwrap();
            let found = left.quantile(q).unwrap();
            if values.len() <= EXACT_VALUES {
                prop_assert_eq!(found, exact);
            } else {
                prop_assert!((found - exact).abs() as f64 <= exact as f64 / 256.0 + 0.5);
            }
        }
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975_002).abs() < 1e-5);
        assert!((normal_cdf(-2.575_829) - 0.005).abs() < 1e-5);
        assert!((z_critical(0.05) - 1.644_854).abs() < 1e-3);
        assert!((z_critical(0.001) - 3.090_232).abs() < 1e-3);
    }

    #[test]
    fn two_proportions() {
        let a = Proportion {
            hits: 60.0,
            trials: 100.0,
        };
        let b = Proportion {
            hits: 40.0,
            trials: 100.0,
        };
        // Textbook value: pooled p = 0.5, se = sqrt(0.25 * 0.02) = 0.0707.
        assert!((two_proportion_z(a, b) - 2.828_427).abs() < 1e-4);
        assert!(two_proportion_z(b, a) < 0.0);
        let empty = Proportion::default();
        assert_eq!(two_proportion_z(a, empty), 0.0);
    }

    #[test]
    fn welch_on_known_samples() {
        let sample = |values: &[f64]| Moments {
            n: values.len() as f64,
            sum: values.iter().sum(),
            squares: values.iter().map(|v| v * v).sum(),
        };
        let a = sample(&[1.0, 2.0, 3.0, 4.0]);
        assert!((a.variance() - 1.666_667).abs() < 1e-5);
        let b = sample(&[3.0, 4.0, 5.0, 6.0]);
        // (2.5 - 4.5) / sqrt(1.6667/4 + 1.6667/4) = -2.19089
        assert!((welch_z(a, b) + 2.190_890).abs() < 1e-5);
    }

    #[test]
    fn nearest_rank() {
        let values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(quantile(&values, 0.5), Some(5));
        assert_eq!(quantile(&values, 0.9), Some(9));
        assert_eq!(quantile(&values, 1.0), Some(10));
        assert_eq!(quantile::<i32>(&[], 0.5), None);
    }
}
