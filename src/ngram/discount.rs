//! Stage 3, discount: modified Kneser-Ney discounts from counts-of-counts.
//!
//! Chen & Goodman (1998), eq. 26, as KenLM lmplz computes them: with t_k the number of n-grams
//! of adjusted count k, Y = t1 / (t1 + 2 t2) and D_k = k - (k+1) Y t_{k+1} / t_k for k = 1, 2, 3
//! (D_3 serves every count >= 3).
//!
//! Synthetic corpora of late generations are degenerate: a count-of-count can be zero (nothing
//! seen exactly once), which makes the formula divide by zero, or it can give a discount outside
//! [0, k]. lmplz aborts there unless `--discount_fallback`. A chain cannot abort in generation
//! 7, so we always fall back, as lmplz does with that flag: D = (0.5, 1.0, 1.5) for the order
//! concerned. The fallback is logged and recorded in the model's metadata (`model.json`).

use super::adjust::CountsOfCounts;
use serde::{Deserialize, Serialize};

/// lmplz's `--discount_fallback` default.
pub const FALLBACK: [f64; 3] = [0.5, 1.0, 1.5];

/// Discounts of one order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    /// D_1, D_2, D_3+.
    pub d: [f64; 3],
    /// Why the fallback was used, if it was.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fallback: Option<String>,
}

impl Discount {
    /// The discount for an adjusted count (0 for count 0).
    #[inline]
    pub fn for_count(&self, count: u32) -> f64 {
        match count {
            0 => 0.0,
            1 => self.d[0],
            2 => self.d[1],
            _ => self.d[2],
        }
    }
}

/// Discounts for one order (`order` is 1-based, for messages).
pub fn discount(order: usize, s: &CountsOfCounts) -> Discount {
    let t = |k: usize| s.n[k] as f64;
    for k in 1..4 {
        if s.n[k] == 0 {
            let why = format!(
                "no {order}-grams with adjusted count {k}, so the discount for count {} is undefined",
                k + 1
            );
            return Discount {
                d: FALLBACK,
                fallback: Some(why),
            };
        }
    }
    let y = t(1) / (t(1) + 2.0 * t(2));
    let mut d = [0.0; 3];
    for k in 1..4 {
        d[k - 1] = k as f64 - (k as f64 + 1.0) * y * t(k + 1) / t(k);
        if !(0.0..=k as f64).contains(&d[k - 1]) {
            let why = format!(
                "{order}-gram discount D{k} = {} is outside [0, {k}]",
                d[k - 1]
            );
            return Discount {
                d: FALLBACK,
                fallback: Some(why),
            };
        }
    }
    Discount { d, fallback: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chen_goodman_by_hand() {
        // t1=10 t2=4 t3=2 t4=1: Y = 10/18; D1 = 1 - 2*Y*4/10; D2 = 2 - 3*Y*2/4; D3 = 3 - 4*Y*1/2.
        let s = CountsOfCounts {
            ngrams: 30,
            n: [0, 10, 4, 2, 1],
        };
        let d = discount(2, &s);
        let y = 10.0 / 18.0;
        let want = [1.0 - 0.8 * y, 2.0 - 1.5 * y, 3.0 - 2.0 * y];
        for k in 0..3 {
            assert!((d.d[k] - want[k]).abs() < 1e-12, "{:?}", d);
        }
        assert!(d.fallback.is_none());
        assert_eq!(d.for_count(0), 0.0);
        assert_eq!(d.for_count(7), d.d[2]);
    }

    #[test]
    fn degenerate_counts_fall_back() {
        // Nothing seen once: lmplz aborts here; we substitute its fallback and say why.
        let s = CountsOfCounts {
            ngrams: 5,
            n: [0, 0, 3, 1, 1],
        };
        let d = discount(1, &s);
        assert_eq!(d.d, FALLBACK);
        assert!(d.fallback.as_deref().unwrap().contains("adjusted count 1"));
        // Out of range: t1=10 t2=1 t3=10 gives D2 = 2 - 3*(10/12)*10 < 0.
        let s2 = CountsOfCounts {
            ngrams: 22,
            n: [0, 10, 1, 10, 1],
        };
        let d2 = discount(3, &s2);
        assert_eq!(d2.d, FALLBACK);
        assert!(d2.fallback.as_deref().unwrap().contains("outside"));
    }
}
