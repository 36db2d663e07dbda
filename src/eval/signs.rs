//! The signs of early collapse the monitor flags, with their thresholds (`docs/monitor.md`).
//!
//! Every metric of [`crate::metrics::corpus_metrics::CorpusMetrics`] is measured; the ones listed
//! here are *judged*. A new metric shows up in the verdict table as information by itself and
//! becomes a sign with one line here.

use serde::Serialize;

/// What a flagged metric says about the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Human types (rare ones first) missing from the candidate; its words drift away.
    TailLoss,
    /// Fewer distinct words and phrases than human text of the same size.
    Diversity,
    /// Documents repeat their own phrases.
    Repetition,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::TailLoss, Kind::Diversity, Kind::Repetition];

    /// The name used on the command line and in tables: `tail-loss`, `diversity`, `repetition`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::TailLoss => "tail-loss",
            Kind::Diversity => "diversity",
            Kind::Repetition => "repetition",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Which direction of change is the bad one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Worse {
    Higher,
    Lower,
}

/// The smallest change that counts, whatever the spread of the human samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tolerance {
    /// In the metric's own units (shares: 0.02 is two percentage points).
    Absolute(f64),
    /// A fraction of the human baseline (0.05 is 5%).
    Relative(f64),
}

/// A judged metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sign {
    pub metric: &'static str,
    pub kind: Kind,
    pub worse: Worse,
    pub tolerance: Tolerance,
}

/// How many standard deviations of the human samples a flagged value lies beyond their mean
/// (at least; the tolerance or the human samples' own range may ask for more). The estimated
/// spread of a few samples is itself uncertain, so this is wide.
pub const Z: f64 = 4.0;

const fn sign(metric: &'static str, kind: Kind, worse: Worse, tolerance: Tolerance) -> Sign {
    Sign {
        metric,
        kind,
        worse,
        tolerance,
    }
}

use Kind::*;
use Tolerance::*;
use Worse::*;

/// The judged metrics (names as in `CorpusMetrics` and `metrics.csv`). Calibrated on the
/// embedded KJV (`docs/monitor.md`): held-out chapters stay well inside every threshold.
pub const SIGNS: &[Sign] = &[
    sign("rare_types_lost", TailLoss, Higher, Absolute(0.02)),
    sign("medium_types_lost", TailLoss, Higher, Absolute(0.02)),
    sign("frequent_types_lost", TailLoss, Higher, Absolute(0.01)),
    sign("human_types_lost", TailLoss, Higher, Absolute(0.02)),
    sign("unigram_kl", TailLoss, Higher, Relative(0.25)),
    sign("unigram_js", TailLoss, Higher, Relative(0.25)),
    sign("distinct_1", Diversity, Lower, Relative(0.05)),
    sign("distinct_2", Diversity, Lower, Relative(0.05)),
    sign("mattr", Diversity, Lower, Relative(0.03)),
    sign("mtld", Diversity, Lower, Relative(0.10)),
    sign("self_bleu", Diversity, Higher, Absolute(0.05)),
    sign("compression_ratio", Diversity, Higher, Relative(0.10)),
    sign("seq_rep_2", Repetition, Higher, Absolute(0.02)),
    sign("seq_rep_4", Repetition, Higher, Absolute(0.01)),
    sign("rep_32", Repetition, Higher, Absolute(0.03)),
];

/// The sign for `metric`, if it is judged.
pub fn find(metric: &str) -> Option<&'static Sign> {
    SIGNS.iter().find(|s| s.metric == metric)
}

impl Sign {
    /// The value past which the candidate is flagged: beyond the human mean by
    /// `max(Z · sd, tolerance)` in the bad direction, and never inside the range of the human
    /// samples themselves (`extreme`: their largest value when higher is worse, their smallest
    /// otherwise), which guards skewed metrics of small samples.
    pub fn threshold(&self, baseline: f64, sd: f64, extreme: f64) -> f64 {
        let tol = match self.tolerance {
            Absolute(a) => a,
            Relative(r) => r * baseline.abs(),
        };
        let margin = (Z * sd).max(tol);
        match self.worse {
            Higher => (baseline + margin).max(extreme),
            Lower => (baseline - margin).min(extreme),
        }
    }

    /// Whether `value` is past `threshold` (never for NaN).
    pub fn flags(&self, value: f64, threshold: f64) -> bool {
        match self.worse {
            Higher => value > threshold,
            Lower => value < threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_take_the_wider_of_spread_and_tolerance() {
        let rare = find("rare_types_lost").unwrap();
        // Spread 0.001: Z·sd = 0.004 < 0.02, so the tolerance decides.
        assert!((rare.threshold(0.5, 0.001, 0.51) - 0.52).abs() < 1e-12);
        // Spread 0.01: Z·sd = 0.04 decides.
        assert!((rare.threshold(0.5, 0.01, 0.51) - 0.54).abs() < 1e-12);
        // A human sample beyond both: the threshold is that sample.
        assert_eq!(rare.threshold(0.5, 0.01, 0.6), 0.6);
        assert!(rare.flags(0.55, 0.54) && !rare.flags(0.53, 0.54));
        let d2 = find("distinct_2").unwrap();
        assert!((d2.threshold(0.6, 0.0, 0.6) - 0.57).abs() < 1e-12);
        assert_eq!(d2.threshold(0.6, 0.0, 0.5), 0.5);
        assert!(d2.flags(0.5, 0.57) && !d2.flags(f64::NAN, 0.57));
        assert!(find("types").is_none());
        assert_eq!(Kind::parse("tail-loss"), Some(Kind::TailLoss));
        assert_eq!(Kind::parse("tail"), None);
    }
}
