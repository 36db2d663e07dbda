//! Tail loss: the perplexity of each document of a generated corpus under generation 0's model,
//! as a distribution over documents (Shumailov et al. 2024, Fig. 1).
//!
//! Why a distribution: corpus-level perplexity is one token-weighted mean; it hides what
//! collapse does to the shape. Over generations the generated documents become ever *more*
//! probable to the original model (the low-perplexity mass grows) while a long tail of
//! improbable documents appears, the errors the chain keeps. Quantiles and a histogram show both.
//!
//! The histogram's bins are fixed ([`bin_edges`]: ten per decade of perplexity from 1 to 10^5)
//! so that generations, arms and experiments can be overlaid bin by bin. Definitions:
//! `docs/metrics.md`.

use super::perplexity::f64_or_nan;
use super::Scores;
use serde::{Deserialize, Serialize};

/// Histogram bins per decade of perplexity.
pub const BINS_PER_DECADE: usize = 10;
/// Decades covered: perplexity 1 to 10^5.
pub const DECADES: usize = 5;
/// The quantiles reported, in percent.
pub const QUANTILES: [f64; 5] = [5.0, 25.0, 50.0, 75.0, 95.0];

/// Bin edges `10^(i / 10)` for i = 0..=50: bin i holds perplexities in [edge i, edge i+1); the
/// first bin also takes anything below 1, the last anything at or above 10^5 (open-ended).
pub fn bin_edges() -> Vec<f64> {
    (0..=BINS_PER_DECADE * DECADES)
        .map(|i| 10f64.powf(i as f64 / BINS_PER_DECADE as f64))
        .collect()
}

/// Per-document perplexities of one corpus under one model, summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocPplDistribution {
    /// Documents with at least one predicted token and a finite perplexity.
    pub documents: usize,
    /// Arithmetic mean of the per-document perplexities.
    #[serde(deserialize_with = "f64_or_nan")]
    pub mean: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p5: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p25: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p50: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p75: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p95: f64,
    /// [`bin_edges`], stored with every record so that a plot needs nothing else.
    pub histogram_edges: Vec<f64>,
    /// Documents per bin (`histogram_edges.len() - 1` bins).
    pub histogram: Vec<u64>,
}

impl Default for DocPplDistribution {
    /// No documents: `NaN` statistics and an empty histogram over the standard bins (also what
    /// eval records written before this field read back as).
    fn default() -> Self {
        let edges = bin_edges();
        DocPplDistribution {
            documents: 0,
            mean: f64::NAN,
            p5: f64::NAN,
            p25: f64::NAN,
            p50: f64::NAN,
            p75: f64::NAN,
            p95: f64::NAN,
            histogram: vec![0; edges.len() - 1],
            histogram_edges: edges,
        }
    }
}

/// `exp(-ll / tokens)` of every document with `tokens > 0`, in corpus order (the KenLM
/// "perplexity including OOVs" of each document on its own). A document with a
/// zero-probability token (infinite perplexity, which no smoothed model gives) is left out.
pub fn doc_perplexities(scores: &Scores) -> Vec<f64> {
    scores
        .docs
        .iter()
        .filter(|d| d.tokens > 0)
        .map(|d| (-d.logprob / d.tokens as f64).exp())
        .filter(|p| p.is_finite())
        .collect()
}

/// The distribution of [`doc_perplexities`]: mean, quantiles (linear interpolation between
/// order statistics, numpy's default: the q-quantile of n sorted values x is
/// x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋]) with h = (n - 1) q) and the fixed-bin histogram.
pub fn doc_ppl_distribution(scores: &Scores) -> DocPplDistribution {
    let mut ppl = doc_perplexities(scores);
    let mut out = DocPplDistribution::default();
    if ppl.is_empty() {
        return out;
    }
    out.documents = ppl.len();
    out.mean = ppl.iter().sum::<f64>() / ppl.len() as f64;
    let bins = out.histogram.len();
    for &p in &ppl {
        // partition_point: the number of edges <= p; bin = that - 1, clamped to the ends.
        let bin = out.histogram_edges.partition_point(|&e| e <= p);
        out.histogram[bin.clamp(1, bins) - 1] += 1;
    }
    ppl.sort_unstable_by(f64::total_cmp);
    [out.p5, out.p25, out.p50, out.p75, out.p95] = QUANTILES.map(|q| quantile(&ppl, q / 100.0));
    out
}

/// Linear-interpolation quantile of sorted values (numpy's `method="linear"`).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    match sorted.get(lo + 1) {
        Some(&next) => sorted[lo] + (h - lo as f64) * (next - sorted[lo]),
        None => sorted[lo],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::DocScore;

    fn doc(ppl: f64, tokens: u64) -> DocScore {
        DocScore {
            logprob: -(ppl.ln()) * tokens as f64,
            tokens,
            ..Default::default()
        }
    }

    fn close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "got {got}, want {want}"
        );
    }

    #[test]
    fn quantiles_mean_and_bins_by_hand() {
        // Perplexities 2, 4, 8, 16, 900 (token counts differ: each document weighs the same),
        // plus a document with no tokens (skipped).
        let mut docs: Vec<DocScore> = [(2.0, 3), (900.0, 1), (8.0, 10), (4.0, 2), (16.0, 7)]
            .iter()
            .map(|&(p, t)| doc(p, t))
            .collect();
        docs.push(DocScore::default());
        let d = doc_ppl_distribution(&Scores { docs });
        assert_eq!(d.documents, 5);
        close(d.mean, (2.0 + 4.0 + 8.0 + 16.0 + 900.0) / 5.0);
        // Sorted 2 4 8 16 900, h = 4q: p5 h=0.2 -> 2 + 0.2·2; p25 h=1 -> 4; p50 -> 8;
        // p75 h=3 -> 16; p95 h=3.8 -> 16 + 0.8·884.
        close(d.p5, 2.4);
        close(d.p25, 4.0);
        close(d.p50, 8.0);
        close(d.p75, 16.0);
        close(d.p95, 723.2);
        // Bins of width 0.1 in log10: 2 -> log 0.301 (bin 3), 4 -> 0.602 (6), 8 -> 0.903 (9),
        // 16 -> 1.204 (12), 900 -> 2.954 (29).
        let mut want = vec![0u64; 50];
        for b in [3, 6, 9, 12, 29] {
            want[b] = 1;
        }
        assert_eq!(d.histogram, want);
        assert_eq!(d.histogram_edges.len(), 51);
        assert_eq!((d.histogram_edges[0], d.histogram_edges[50]), (1.0, 1e5));
    }

    #[test]
    fn the_outer_bins_are_open_ended_and_empty_scores_are_nan() {
        // 0.5 and exactly 1 (log-likelihood 0; the lowest edge belongs to bin 0) go to the
        // first bin, 10^7 to the last.
        let d = doc_ppl_distribution(&Scores {
            docs: vec![doc(0.5, 1), doc(1e7, 1), doc(1.0, 4)],
        });
        assert_eq!((d.histogram[0], d.histogram[49]), (2, 1));
        let e = doc_ppl_distribution(&Scores::default());
        assert_eq!((e.documents, e.histogram.iter().sum::<u64>()), (0, 0));
        assert!(e.mean.is_nan() && e.p50.is_nan());
        let back: DocPplDistribution =
            serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert!(back.p95.is_nan() && back.histogram.len() == 50);
        // A single document: every quantile is its perplexity.
        let one = doc_ppl_distribution(&Scores {
            docs: vec![doc(3.0, 2)],
        });
        close(one.p5, 3.0);
        close(one.p95, 3.0);
    }
}
