//! Self-BLEU (Zhu et al. 2018, Texygen): how much the documents of a corpus resemble each other.
//!
//! Why: a collapsing model writes the same text again and again. Each sampled document is
//! scored as a BLEU hypothesis against all *other* sampled documents as references; the mean
//! rises towards 1 as the documents converge. Texygen's `SelfBleu` (with `get_bleu_parallel`,
//! which leaves the hypothesis out of its references) scores each document with NLTK's
//! `sentence_bleu` at 4-grams, uniform weights and `SmoothingFunction().method1`; this file
//! reproduces NLTK's arithmetic exactly (see [`sentence_bleu`], the plain version kept as the
//! reference for tests). Tokens are KenLM words, not `nltk.word_tokenize` tokens.
//!
//! Why it is fast: the naive computation rescans every other document for every hypothesis
//! (quadratic). BLEU's clipping needs, for each hypothesis n-gram, only its largest count in any
//! *other* document, which is the largest count in any document unless the hypothesis itself
//! holds it alone, in which case it is the second largest. So per n all (n-gram, document)
//! occurrences are packed into integers and radix-sorted once, each n-gram's top two counts read
//! off, and every document's clipped matches summed from them: exact, and a few linear passes
//! over the sample's n-grams.

use super::radix::{radix_sort, RadixKey};
use super::repetition::Packer;
use crate::rng::Rng;
use rayon::prelude::*;
use std::collections::HashMap;

/// Documents sampled for self-BLEU (all of them when the corpus has fewer).
pub const SELF_BLEU_SAMPLE: usize = 1000;
/// Seed of the sample (drawn with [`crate::rng::Rng`] from `(seed, "self-bleu", 0)`).
pub const SELF_BLEU_SEED: u64 = 0;
/// BLEU's largest n-gram order; the weights are uniform, 1/4 each.
pub const BLEU_MAX_N: usize = 4;
/// NLTK `SmoothingFunction().method1`: a precision with no match counts `EPSILON` matches.
const EPSILON: f64 = 0.1;

/// Which documents self-BLEU reads: all `documents` when there are at most `sample`, else
/// `sample` distinct indices drawn uniformly (a partial Fisher-Yates shuffle), in corpus order.
pub fn sample_docs(documents: usize, sample: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..documents).collect();
    if documents <= sample {
        return idx;
    }
    let mut rng = Rng::derive(seed, "self-bleu", 0);
    for i in 0..sample {
        let j = i + rng.below((documents - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(sample);
    idx.sort_unstable();
    idx
}

/// Mean over `docs` of each document's BLEU against all the others. `NaN` with fewer than two
/// documents (no references). Ids must be below `types`.
pub fn self_bleu(docs: &[&[u32]], types: usize) -> f64 {
    let m = docs.len();
    if m < 2 {
        return f64::NAN;
    }
    // Ids local to the sample (first-occurrence order): fewer bits per packed n-gram.
    let mut local = vec![u32::MAX; types];
    let mut next = 0u32;
    let docs: Vec<Vec<u32>> = docs
        .iter()
        .map(|d| {
            d.iter()
                .map(|&id| {
                    let l = &mut local[id as usize];
                    if *l == u32::MAX {
                        (*l, next) = (next, next + 1);
                    }
                    *l
                })
                .collect()
        })
        .collect();
    let docs: Vec<&[u32]> = docs.iter().map(|d| d.as_slice()).collect();
    let per_n: Vec<Vec<u64>> = (1..=BLEU_MAX_N)
        .into_par_iter()
        .map(|n| clipped_matches(&docs, n, next as usize))
        .collect();
    let mut lens: Vec<usize> = docs.iter().map(|d| d.len()).collect();
    lens.sort_unstable();
    let scores: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|j| {
            let matches = [0, 1, 2, 3].map(|i| per_n[i][j]);
            let len = docs[j].len();
            bleu(&matches, len, closest_other_length(&lens, len))
        })
        .collect();
    scores.iter().sum::<f64>() / m as f64
}

/// Per document j, its clipped n-gram matches against all other documents:
/// Σ over its n-grams g of min(count_j(g), max over k ≠ j of count_k(g)).
///
/// Every (n-gram, document) occurrence becomes one integer (the packed n-gram above the
/// document index), radix-sorted so that equal n-grams, and within them equal documents, are
/// adjacent. Too wide for 128 bits (never with realistic vocabularies), pairs are sorted instead.
fn clipped_matches(docs: &[&[u32]], n: usize, types: usize) -> Vec<u64> {
    let p = Packer::for_types(types);
    let doc_bits = Packer::for_types(docs.len()).bits;
    let bits = p.bits * n as u32 + doc_bits;
    let low = |e: u128| (e & ((1 << doc_bits) - 1)) as u32;
    if bits <= 64 {
        let mut occ = occurrences(docs, n, |w, j| p.pack64(w).with_low(doc_bits, j));
        radix_sort(&mut occ, bits);
        scan(&occ, docs.len(), |e| e >> doc_bits, |e| low(e as u128))
    } else if bits <= 128 {
        let mut occ = occurrences(docs, n, |w, j| p.pack128(w).with_low(doc_bits, j));
        radix_sort(&mut occ, bits);
        scan(&occ, docs.len(), |e| e >> doc_bits, low)
    } else {
        clipped_matches_of_pairs(docs, n)
    }
}

/// [`clipped_matches`] with (n-gram, document) pairs compared as they are: slower, for any width.
fn clipped_matches_of_pairs(docs: &[&[u32]], n: usize) -> Vec<u64> {
    let mut occ = occurrences(docs, n, |w, j| (w.to_vec(), j));
    occ.par_sort_unstable();
    scan(&occ, docs.len(), |e| e.0, |e| e.1)
}

fn occurrences<T: Send>(
    docs: &[&[u32]],
    n: usize,
    entry: impl Fn(&[u32], u32) -> T + Sync,
) -> Vec<T> {
    docs.par_iter()
        .enumerate()
        .flat_map_iter(|(j, d)| {
            let entry = &entry;
            d.windows(n).map(move |w| entry(w, j as u32))
        })
        .collect()
}

/// Reads clipped matches off occurrences sorted by (n-gram, document).
fn scan<T: Clone, K: PartialEq>(
    occ: &[T],
    docs: usize,
    key_of: impl Fn(T) -> K,
    doc_of: impl Fn(T) -> u32,
) -> Vec<u64> {
    let mut matches = vec![0u64; docs];
    let mut runs: Vec<(u32, u64)> = Vec::new(); // (document, count) of one n-gram
    let mut i = 0;
    while i < occ.len() {
        runs.clear();
        let key = key_of(occ[i].clone());
        while i < occ.len() && key_of(occ[i].clone()) == key {
            let doc = doc_of(occ[i].clone());
            let mut c = 0;
            while i < occ.len() && doc_of(occ[i].clone()) == doc && key_of(occ[i].clone()) == key {
                c += 1;
                i += 1;
            }
            runs.push((doc, c));
        }
        // Largest count, who holds it, and the largest count of any other document (equal to
        // the largest when two documents share it).
        let (mut best, mut best_doc, mut second) = (0u64, u32::MAX, 0u64);
        for &(doc, c) in &runs {
            if c > best {
                (second, best, best_doc) = (best, c, doc);
            } else if c > second {
                second = c;
            }
        }
        for &(doc, c) in &runs {
            let others = if doc == best_doc { second } else { best };
            matches[doc as usize] += c.min(others);
        }
    }
    matches
}

/// NLTK `closest_ref_length` over all documents but the hypothesis: the length nearest to
/// `len`, the shorter one on a tie. `lens` is sorted and holds `len` at least once.
fn closest_other_length(lens: &[usize], len: usize) -> usize {
    let lo = lens.partition_point(|&l| l < len);
    let hi = lens.partition_point(|&l| l <= len);
    if hi - lo >= 2 {
        return len; // another document has the same length
    }
    let below = lo.checked_sub(1).map(|i| lens[i]);
    let above = lens.get(hi).copied();
    match (below, above) {
        (Some(b), Some(a)) if len - b <= a - len => b,
        (_, Some(a)) => a,
        (Some(b), None) => b,
        (None, None) => len, // unreachable with two or more documents
    }
}

/// NLTK's BLEU from clipped matches per order, the hypothesis length and the closest reference
/// length: 0 without a unigram match; else BP · exp(Σ_n ¼ ln p_n), with p_n = matches /
/// max(1, n-grams), a zero numerator replaced by `EPSILON` (method1), and BP = 1 if the
/// hypothesis is longer than the reference, else exp(1 - ref/hyp).
fn bleu(matches: &[u64; BLEU_MAX_N], hyp_len: usize, ref_len: usize) -> f64 {
    if matches[0] == 0 {
        return 0.0; // covers the empty hypothesis too
    }
    let bp = if hyp_len > ref_len {
        1.0
    } else {
        (1.0 - ref_len as f64 / hyp_len as f64).exp()
    };
    let mut s = 0.0;
    for (i, &num) in matches.iter().enumerate() {
        let den = (hyp_len + 1).saturating_sub(i + 1).max(1) as f64;
        let p = if num == 0 {
            EPSILON / den
        } else {
            num as f64 / den
        };
        s += p.ln() / BLEU_MAX_N as f64;
    }
    bp * s.exp()
}

/// NLTK `sentence_bleu(references, hypothesis, (0.25,)*4, SmoothingFunction().method1)`,
/// computed the plain way (each reference's n-gram counts in turn). The specification that
/// [`self_bleu`] is tested against; too slow for a corpus.
pub fn sentence_bleu(references: &[&[u32]], hypothesis: &[u32]) -> f64 {
    let mut matches = [0u64; BLEU_MAX_N];
    for n in 1..=BLEU_MAX_N {
        let counts = ngram_counts(hypothesis, n);
        let mut max_ref: HashMap<&[u32], u64> = HashMap::new();
        for r in references {
            let rc = ngram_counts(r, n);
            for g in counts.keys() {
                let c = rc.get(g).copied().unwrap_or(0);
                let e = max_ref.entry(g).or_insert(0);
                *e = (*e).max(c);
            }
        }
        matches[n - 1] = counts.iter().map(|(g, &c)| c.min(max_ref[g])).sum();
    }
    let ref_len = references
        .iter()
        .map(|r| r.len())
        .min_by_key(|&l| (l.abs_diff(hypothesis.len()), l))
        .unwrap_or(0);
    bleu(&matches, hypothesis.len(), ref_len)
}

fn ngram_counts(s: &[u32], n: usize) -> HashMap<&[u32], u64> {
    let mut m = HashMap::new();
    for w in s.windows(n) {
        *m.entry(w).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
#[path = "self_bleu_tests.rs"]
mod tests;
