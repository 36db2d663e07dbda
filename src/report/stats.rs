//! Uncertainty over seeds: the mean of a metric over an arm's seeds with a 95% confidence
//! interval, and the paired difference between two arms.
//!
//! Method: Student's t over seeds. Each seed is one independent run of the whole chain (its
//! own sampling, policy draws and model initialisation on the same human split), so the seeds'
//! values of a metric at a generation are a sample of size n, and the interval is
//! `mean ± t(0.975, n−1) · s / √n` with `s` the sample standard deviation. Two arms run with
//! the same seeds are compared per seed (`a_i − b_i`), which removes what the seeds share (the
//! same seed draws the same generation-0 model in both arms) and answers "is arm A really
//! better than arm B at generation g?": the difference is significant at 5% when its interval
//! excludes 0. With one seed there is no interval (`NaN` half-width). A seeded bootstrap was
//! the alternative; with the 3-10 seeds a study affords, its intervals are too narrow, where
//! t's are exact for normal noise.

/// A mean with the half-width of its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub mean: f64,
    /// `NaN` with fewer than two values.
    pub half_width: f64,
    pub n: usize,
}

impl Interval {
    /// `mean ± half-width` for tables: the half-width to two significant digits and the mean to
    /// the same decimals (the digits past the interval's are noise); a zero-width interval
    /// keeps the mean's own precision (a whole number stays whole).
    pub fn compact(&self) -> String {
        let hw = self.half_width;
        if !hw.is_finite() {
            return format!("{:.*}", short_digits(self.mean), self.mean);
        }
        // Rounding noise of identical values is no interval.
        let d = if hw > 1e-9 * self.mean.abs().max(1.0) {
            (1.0 - hw.log10().floor()).clamp(0.0, 6.0) as usize
        } else if self.mean.fract() == 0.0 {
            0
        } else {
            short_digits(self.mean)
        };
        format!("{:.d$} ± {:.d$}", self.mean, hw)
    }

    /// Whether the interval excludes 0 (a difference significant at 5%).
    pub fn excludes_zero(&self) -> bool {
        self.half_width.is_finite() && self.mean.abs() > self.half_width
    }
}

/// Decimals for about 4 significant digits (none for a whole number): the one rule every
/// table of the report module rounds by.
pub(crate) fn short_digits(x: f64) -> usize {
    if x.fract() == 0.0 {
        0
    } else if x.abs() >= 100.0 {
        1
    } else if x.abs() >= 1.0 {
        3
    } else {
        4
    }
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (two-sided 95%). Tabulated
/// to 30; beyond, the nearest tabulated df below (slightly conservative), and the normal 1.96
/// from 1000 on.
pub fn t_975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        31..=39 => T[29],
        40..=59 => 2.021,
        60..=119 => 2.000,
        120..=999 => 1.980,
        _ => 1.960,
    }
}

/// Mean and 95% interval of `values` (non-finite values are left out).
pub fn interval(values: &[f64]) -> Interval {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return Interval {
            mean: f64::NAN,
            half_width: f64::NAN,
            n,
        };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let half_width = if n < 2 {
        f64::NAN
    } else {
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        t_975(n - 1) * (var / n as f64).sqrt()
    };
    Interval {
        mean,
        half_width,
        n,
    }
}

/// The interval of `a − b` over the seeds both have: `pairs` are (a, b) of one seed each.
pub fn paired_difference(pairs: &[(f64, f64)]) -> Interval {
    let d: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    interval(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_by_hand() {
        // 10, 12, 14: mean 12, s = 2, half-width 4.303 · 2 / √3 = 4.9687.
        let i = interval(&[10.0, 12.0, 14.0]);
        assert_eq!(i.n, 3);
        assert!((i.mean - 12.0).abs() < 1e-12);
        assert!((i.half_width - 4.303 * 2.0 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(i.compact(), "12.0 ± 5.0");
        assert_eq!(
            interval(&[19000.0, 19100.0, 19150.0]).compact(),
            "19083 ± 190"
        );
        assert_eq!(
            interval(&[0.0391, 0.0393, 0.0395]).compact(),
            "0.03930 ± 0.00050"
        );
        assert_eq!(interval(&[27468.0; 3]).compact(), "27468 ± 0");
        assert_eq!(interval(&[119.707434; 3]).compact(), "119.7 ± 0.0");
        // One value: a mean, no interval; nothing: NaN.
        let one = interval(&[5.0, f64::NAN]);
        assert_eq!((one.mean, one.n), (5.0, 1));
        assert!(one.half_width.is_nan());
        assert_eq!(one.compact(), "5");
        assert!(interval(&[]).mean.is_nan());
    }

    #[test]
    fn paired_differences_remove_what_seeds_share() {
        // Seeds move both arms together; A is always 1 above B.
        let pairs = [(101.0, 100.0), (151.0, 150.0), (121.0, 120.0)];
        let d = paired_difference(&pairs);
        assert!((d.mean - 1.0).abs() < 1e-12);
        assert!(d.half_width < 1e-9);
        assert!(d.excludes_zero());
        // Unpaired, the same numbers overlap completely.
        let (a, b) = (
            interval(&[101.0, 151.0, 121.0]),
            interval(&[100.0, 150.0, 120.0]),
        );
        assert!(a.half_width > 10.0 && b.half_width > 10.0);
        // A difference that changes sign is not significant.
        let noisy = paired_difference(&[(1.0, 0.0), (0.0, 1.0), (2.0, 1.5)]);
        assert!(!noisy.excludes_zero());
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(2), 4.303);
        assert_eq!(t_975(30), 2.042);
        assert_eq!(t_975(35), 2.042);
        assert_eq!(t_975(120), 1.980);
        assert_eq!(t_975(1000), 1.960);
        assert!(t_975(0).is_nan());
    }
}
