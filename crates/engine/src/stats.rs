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

#[cfg(test)]
mod tests {
    use super::*;

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
