//! Lexical diversity of a corpus's token stream: MATTR, MTLD, compression ratio, Zipf slope.
//!
//! Why these four: they see the narrowing of a collapsing corpus from different sides and are
//! what the text-diversity literature reports. MATTR (Covington & McFall 2010) and MTLD
//! (McCarthy & Jarvis 2010) are type-token ratios that, unlike plain TTR, do not fall just
//! because a corpus is longer; the compression ratio sees repetition at every scale (phrases
//! and boilerplate, not only words); the Zipf coefficient sees the frequency distribution
//! steepen as the tail disappears. Formulas and references: `docs/metrics.md`.
//!
//! MATTR and MTLD read the corpus's tokens as one stream (documents concatenated in corpus
//! order), which is what `lexicalrichness` computes given that token list. Both walk dense ids
//! with an array per pass instead of hashing; MATTR sums integer distinct counts, so its value
//! does not depend on how the windows are split between threads.

use super::tokens::TokenizedCorpus;
use crate::corpus::Corpus;
use rayon::prelude::*;
use std::io::Write;

/// MATTR's window, in tokens.
pub const MATTR_WINDOW: usize = 100;
/// MTLD's factor threshold (McCarthy & Jarvis 2010; `lexicalrichness`' default).
pub const MTLD_THRESHOLD: f64 = 0.72;
/// The Zipf fit uses the ranks 1..=this of the most frequent types.
pub const ZIPF_TOP_TYPES: usize = 1000;
/// DEFLATE level of the compression ratio (zlib's and gzip's default).
pub const DEFLATE_LEVEL: u32 = 6;

/// Moving-average type-token ratio: the mean over every window of `window` consecutive tokens
/// of (distinct tokens in the window) / `window`. `NaN` when there are fewer than `window`
/// tokens (or `window == 0`).
pub fn mattr(ids: &[u32], types: usize, window: usize) -> f64 {
    if window == 0 || ids.len() < window {
        return f64::NAN;
    }
    let windows = ids.len() - window + 1;
    let tasks = (4 * rayon::current_num_threads())
        .min(windows.div_ceil(1 << 16))
        .max(1);
    let per = windows.div_ceil(tasks);
    let distinct_sum: u64 = (0..tasks)
        .into_par_iter()
        .map(|k| {
            let (first, last) = (k * per, ((k + 1) * per).min(windows));
            if first >= last {
                return 0;
            }
            let mut count = vec![0u32; types];
            let mut distinct = 0u64;
            for &id in &ids[first..first + window] {
                distinct += u64::from(count[id as usize] == 0);
                count[id as usize] += 1;
            }
            let mut sum = distinct;
            for s in first + 1..last {
                let (out, inn) = (ids[s - 1] as usize, ids[s + window - 1] as usize);
                count[out] -= 1;
                distinct -= u64::from(count[out] == 0);
                distinct += u64::from(count[inn] == 0);
                count[inn] += 1;
                sum += distinct;
            }
            sum
        })
        .sum();
    distinct_sum as f64 / (window as f64 * windows as f64)
}

/// Measure of textual lexical diversity, bidirectional, exactly as `lexicalrichness` 0.5
/// computes it: the mean of a forward and a backward pass; each pass is tokens / factors, where
/// a factor ends when the running TTR of the current segment drops to `threshold` or below,
/// and the unfinished last segment counts (1 - TTR) / (1 - threshold). `NaN` for no tokens.
pub fn mtld(ids: &[u32], types: usize, threshold: f64) -> f64 {
    if ids.is_empty() {
        return f64::NAN;
    }
    let all_types = types_in(ids, types);
    let (fwd, bwd) = rayon::join(
        || mtld_pass(ids.iter().copied(), types, all_types, ids.len(), threshold),
        || {
            mtld_pass(
                ids.iter().rev().copied(),
                types,
                all_types,
                ids.len(),
                threshold,
            )
        },
    );
    (fwd + bwd) / 2.0
}

fn types_in(ids: &[u32], types: usize) -> usize {
    let mut seen = vec![false; types];
    ids.iter()
        .filter(|&&id| !std::mem::replace(&mut seen[id as usize], true))
        .count()
}

fn mtld_pass(
    ids: impl Iterator<Item = u32>,
    types: usize,
    all_types: usize,
    tokens: usize,
    threshold: f64,
) -> f64 {
    // stamp[id] == segment: the type was seen in the current segment (no clearing per factor).
    let mut stamp = vec![0u32; types];
    let mut segment = 1u32;
    let (mut terms, mut words, mut factors, mut ttr) = (0usize, 0usize, 0.0f64, 0.0f64);
    for id in ids {
        words += 1;
        if stamp[id as usize] != segment {
            stamp[id as usize] = segment;
            terms += 1;
        }
        ttr = terms as f64 / words as f64;
        if ttr <= threshold {
            (words, terms) = (0, 0);
            segment += 1;
            factors += 1.0;
        }
    }
    if words > 0 {
        factors += (1.0 - ttr) / (1.0 - threshold);
    }
    if factors == 0.0 {
        // lexicalrichness: the TTR never dropped and the text has no repeat; it counts the
        // whole text's TTR (1 here) as one factor.
        let ttr = all_types as f64 / tokens as f64;
        factors += if ttr == 1.0 {
            1.0
        } else {
            (1.0 - ttr) / (1.0 - threshold)
        };
    }
    tokens as f64 / factors
}

/// Zipf coefficient: minus the least-squares slope of ln(frequency) on ln(rank) over the ranks
/// 1..=min(`top`, types) of the types sorted by descending count. `NaN` with fewer than two
/// types.
pub fn zipf_coefficient(counts: &[u64], top: usize) -> f64 {
    let mut c: Vec<u64> = counts.iter().copied().filter(|&x| x > 0).collect();
    let m = top.min(c.len());
    if m < 2 {
        return f64::NAN;
    }
    if m < c.len() {
        c.select_nth_unstable_by(m - 1, |a, b| b.cmp(a));
        c.truncate(m);
    }
    c.sort_unstable_by(|a, b| b.cmp(a));
    let xs: Vec<f64> = (1..=m).map(|r| (r as f64).ln()).collect();
    let ys: Vec<f64> = c.iter().map(|&f| (f as f64).ln()).collect();
    let (mx, my) = (mean(&xs), mean(&ys));
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in xs.iter().zip(&ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    -(sxy / sxx)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Compression ratio: the corpus's bytes (each document's text followed by `\n`) divided by
/// their raw DEFLATE stream (RFC 1951, no zlib or gzip header) at [`DEFLATE_LEVEL`]. Higher
/// means more redundant. `NaN` for a corpus with no documents.
pub fn compression_ratio(corpus: &Corpus) -> f64 {
    if corpus.docs.is_empty() {
        return f64::NAN;
    }
    let raw: usize = corpus.docs.iter().map(|d| d.text.len() + 1).sum();
    let mut enc = flate2::write::DeflateEncoder::new(
        CountingSink::default(),
        flate2::Compression::new(DEFLATE_LEVEL),
    );
    for d in &corpus.docs {
        // Writing to a counter cannot fail.
        enc.write_all(d.text.as_bytes()).expect("in-memory write");
        enc.write_all(b"\n").expect("in-memory write");
    }
    let packed = enc.finish().expect("in-memory write").0;
    raw as f64 / packed as f64
}

/// A writer that only counts bytes (the compressed stream itself is not needed).
#[derive(Default)]
struct CountingSink(usize);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// MATTR, MTLD and the Zipf coefficient of a tokenized corpus with the documented settings.
pub fn token_diversity(t: &TokenizedCorpus) -> (f64, f64, f64) {
    let ((mattr, mtld), zipf) = rayon::join(
        || {
            rayon::join(
                || mattr(&t.ids, t.types(), MATTR_WINDOW),
                || mtld(&t.ids, t.types(), MTLD_THRESHOLD),
            )
        },
        || zipf_coefficient(&t.counts, ZIPF_TOP_TYPES),
    );
    (mattr, mtld, zipf)
}

#[cfg(test)]
#[path = "diversity_tests.rs"]
mod tests;
