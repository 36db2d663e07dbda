//! Repetition and n-gram diversity: seq-rep-n, rep/l (Welleck et al. 2019) and distinct-n.
//!
//! Why these: a degenerating model loops. seq-rep-n sees a document repeating its own phrases,
//! rep/l sees tokens coming back within a short window, and distinct-n sees the corpus as a
//! whole using fewer n-grams. Formulas: `docs/metrics.md`.
//!
//! How: n-grams are packed into one integer key (`u64` when `n · bits(types) ≤ 64`, else
//! `u128`). For each n, every document's keys are sorted and deduplicated in place (its distinct
//! count gives seq-rep-n), the deduplicated keys of all documents are concatenated and sorted
//! once more in parallel (their distinct count gives distinct-n): no hash table, and exact.
//! rep/l needs one walk with the last position of every type. Per-document values are summed in
//! document order, so results do not depend on the thread count.

use super::radix::{radix_sort, RadixKey};
use super::tokens::TokenizedCorpus;
use rayon::prelude::*;
use std::ops::Range;

/// The `l` of rep/l, in the order of [`Repetition::rep_l`].
pub const REP_WINDOWS: [usize; 3] = [16, 32, 128];

/// The largest `n` of seq-rep-n and distinct-n.
pub const MAX_N: usize = 4;

/// Documents of a parallel task add up to at least this many tokens.
const MIN_TASK_TOKENS: usize = 1 << 14;

/// Repetition measures of a tokenized corpus (index `n - 1` for n-gram orders).
#[derive(Clone, Debug, PartialEq)]
pub struct Repetition {
    /// seq-rep-n for n = 1..=4: mean over documents with at least n tokens of
    /// `1 - |unique n-grams| / |n-grams|`; 0.0 when no document is long enough.
    pub seq_rep: [f64; MAX_N],
    /// rep/l for l in [`REP_WINDOWS`]: share of tokens equal to one of the l tokens before them
    /// in the same document; 0.0 for an empty corpus.
    pub rep_l: [f64; 3],
    /// Distinct n-grams of the corpus (none across documents), n = 1..=4.
    pub unique_ngrams: [u64; MAX_N],
    /// n-grams of the corpus: a document of L tokens has max(L - n + 1, 0).
    pub ngrams: [u64; MAX_N],
    pub tokens: u64,
}

impl Repetition {
    /// distinct-n with the n-gram denominator: unique n-grams / n-grams (0.0 if none).
    pub fn distinct_per_ngram(&self, n: usize) -> f64 {
        ratio(self.unique_ngrams[n - 1], self.ngrams[n - 1])
    }
    /// distinct-n with the token denominator: unique n-grams / tokens (0.0 if none).
    pub fn distinct_per_token(&self, n: usize) -> f64 {
        ratio(self.unique_ngrams[n - 1], self.tokens)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// All repetition measures of `t` (in parallel over documents).
pub fn repetition(t: &TokenizedCorpus) -> Repetition {
    repetition_in(t, &t.doc_ranges(MIN_TASK_TOKENS))
}

/// [`repetition`] with the given work split (consecutive document ranges covering all).
fn repetition_in(t: &TokenizedCorpus, ranges: &[Range<usize>]) -> Repetition {
    let docs = t.documents();
    let (windows, mut per_n) = rayon::join(
        || window_repeats_in(t, ranges),
        || {
            (2..=MAX_N)
                .into_par_iter()
                .map(|n| ngram_uniques_in(t, ranges, n))
                .collect::<Vec<_>>()
        },
    );
    // Unigram uniques per document are the first occurrences (from the rep/l walk).
    per_n.insert(
        0,
        NgramUniques {
            corpus: t.types() as u64,
            per_doc: windows.first_occurrences,
        },
    );

    let mut out = Repetition {
        seq_rep: [0.0; MAX_N],
        rep_l: windows.repeats.map(|r| ratio(r, t.tokens())),
        unique_ngrams: [0; MAX_N],
        ngrams: [0; MAX_N],
        tokens: t.tokens(),
    };
    for (i, u) in per_n.into_iter().enumerate() {
        let n = i + 1;
        let (mut sum, mut counted) = (0.0, 0usize);
        for (d, &unique) in u.per_doc.iter().enumerate().take(docs) {
            let len = t.offsets[d + 1] - t.offsets[d];
            if len >= n {
                let total = (len - n + 1) as u64;
                out.ngrams[i] += total;
                sum += 1.0 - unique as f64 / total as f64;
                counted += 1;
            }
        }
        out.seq_rep[i] = if counted > 0 {
            sum / counted as f64
        } else {
            0.0
        };
        out.unique_ngrams[i] = u.corpus;
    }
    out
}

/// `1 - |unique n-grams| / |n-grams|` of one token sequence (Welleck et al. 2019);
/// `None` when it has fewer than `n` tokens or `n == 0`. The plain definition, for callers with
/// one sequence and for tests of the fast paths.
pub fn seq_rep_n<T: Eq + std::hash::Hash>(tokens: &[T], n: usize) -> Option<f64> {
    if n == 0 || tokens.len() < n {
        return None;
    }
    let total = tokens.len() - n + 1;
    let seen: std::collections::HashSet<&[T]> = tokens.windows(n).collect();
    Some(1.0 - seen.len() as f64 / total as f64)
}

/// One walk over the tokens: the building block of rep/l and seq-rep-1.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowRepeats {
    /// Tokens equal to one of the l tokens before them in their document, l in [`REP_WINDOWS`].
    pub repeats: [u64; 3],
    /// Per document, tokens seen for the first time in it (its distinct tokens).
    pub first_occurrences: Vec<u64>,
}

/// [`WindowRepeats`] of `t` (in parallel over documents).
pub fn window_repeats(t: &TokenizedCorpus) -> WindowRepeats {
    window_repeats_in(t, &t.doc_ranges(MIN_TASK_TOKENS))
}

fn window_repeats_in(t: &TokenizedCorpus, ranges: &[Range<usize>]) -> WindowRepeats {
    let parts: Vec<([u64; 3], Vec<u64>)> = ranges
        .par_iter()
        .map(|r| {
            // last[id] = 1 + global position of the type's latest occurrence (0: none yet).
            // Positions are global, so an occurrence in an earlier document is simply < start.
            let mut last = vec![0usize; t.types()];
            let (mut repeats, mut firsts) = ([0u64; 3], Vec::with_capacity(r.len()));
            for d in r.clone() {
                let start = t.offsets[d];
                let mut first = 0u64;
                for p in start..t.offsets[d + 1] {
                    let id = t.ids[p] as usize;
                    let prev = last[id];
                    if prev > start {
                        let gap = p + 1 - prev; // distance back to the previous occurrence
                        for (k, &l) in REP_WINDOWS.iter().enumerate() {
                            repeats[k] += u64::from(gap <= l);
                        }
                    } else {
                        first += 1;
                    }
                    last[id] = p + 1;
                }
                firsts.push(first);
            }
            (repeats, firsts)
        })
        .collect();
    let mut repeats = [0u64; 3];
    let mut firsts = Vec::with_capacity(t.documents());
    for (r, f) in parts {
        (0..3).for_each(|k| repeats[k] += r[k]);
        firsts.extend(f);
    }
    WindowRepeats {
        repeats,
        first_occurrences: firsts,
    }
}

/// Packs n ids of at most `bits` bits each into one integer key (order-preserving, exact).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Packer {
    pub bits: u32,
}

impl Packer {
    /// Bits enough for every id below `types` (at least 1).
    pub fn for_types(types: usize) -> Self {
        let max_id = types.saturating_sub(1) as u64;
        Packer {
            bits: (64 - max_id.leading_zeros()).max(1),
        }
    }
    pub fn fits_u64(self, n: usize) -> bool {
        self.bits as usize * n <= 64
    }
    #[inline]
    pub fn pack64(self, w: &[u32]) -> u64 {
        w.iter().fold(0u64, |k, &x| k << self.bits | u64::from(x))
    }
    #[inline]
    pub fn pack128(self, w: &[u32]) -> u128 {
        w.iter().fold(0u128, |k, &x| k << self.bits | u128::from(x))
    }
}

/// Distinct n-grams of the corpus and of each document: the building block of distinct-n and
/// seq-rep-n.
#[derive(Clone, Debug, PartialEq)]
pub struct NgramUniques {
    pub corpus: u64,
    pub per_doc: Vec<u64>,
}

/// [`NgramUniques`] of `t` for one `n` >= 1 (in parallel over documents).
pub fn ngram_uniques(t: &TokenizedCorpus, n: usize) -> NgramUniques {
    ngram_uniques_in(t, &t.doc_ranges(MIN_TASK_TOKENS), n)
}

fn ngram_uniques_in(t: &TokenizedCorpus, ranges: &[Range<usize>], n: usize) -> NgramUniques {
    let p = Packer::for_types(t.types());
    let bits = p.bits * n as u32;
    let (corpus, per_doc) = if p.fits_u64(n) {
        unique_keys(t, ranges, n, bits, |w| p.pack64(w))
    } else {
        unique_keys(t, ranges, n, bits, |w| p.pack128(w))
    };
    NgramUniques { corpus, per_doc }
}

/// Distinct keys of the corpus and per document; keys are below `2^bits`.
fn unique_keys<K: RadixKey>(
    t: &TokenizedCorpus,
    ranges: &[Range<usize>],
    n: usize,
    bits: u32,
    pack: impl Fn(&[u32]) -> K + Sync,
) -> (u64, Vec<u64>) {
    let parts: Vec<(Vec<K>, Vec<u64>)> = ranges
        .par_iter()
        .map(|r| {
            let mut keys: Vec<K> = Vec::new();
            let mut uniques = Vec::with_capacity(r.len());
            for d in r.clone() {
                let start = keys.len();
                keys.extend(t.doc(d).windows(n).map(&pack));
                let doc_keys = &mut keys[start..];
                doc_keys.sort_unstable();
                let u = dedup_sorted(doc_keys);
                keys.truncate(start + u);
                uniques.push(u as u64);
            }
            (keys, uniques)
        })
        .collect();
    let mut all: Vec<K> = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
    let mut uniques = Vec::with_capacity(t.documents());
    for (k, u) in parts {
        all.extend_from_slice(&k);
        uniques.extend(u);
    }
    radix_sort(&mut all, bits);
    (dedup_sorted(&mut all) as u64, uniques)
}

/// Moves the distinct values of a sorted slice to its front; returns how many there are.
pub(crate) fn dedup_sorted<K: Copy + PartialEq>(v: &mut [K]) -> usize {
    if v.is_empty() {
        return 0;
    }
    let mut w = 1;
    for r in 1..v.len() {
        if v[r] != v[w - 1] {
            v[w] = v[r];
            w += 1;
        }
    }
    w
}

#[cfg(test)]
#[path = "repetition_tests.rs"]
mod tests;
