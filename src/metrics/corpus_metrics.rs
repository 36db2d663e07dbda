//! Text-only measures of a (generated) corpus against the human training corpus.
//!
//! Why: model collapse shows in the text before it shows in perplexity. A collapsing chain
//! repeats itself (seq-rep-n, rep/l up), narrows its vocabulary and phrasing (distinct-n, MATTR,
//! MTLD down; self-BLEU, compression ratio up), and forgets the tail of the human distribution
//! first (rare, then medium, then frequent types lost; unigram KL and JS up; the Zipf slope
//! steepens). These need only text, so they serve every model family. Formulas and references:
//! `docs/metrics.md`; each group lives in its own module (`repetition`, `diversity`,
//! `self_bleu`), and this file assembles them into one record.
//!
//! Why it is built this way: corpora have millions of words, and every generation of every arm
//! is measured. The corpus is tokenized once into dense ids ([`TokenizedCorpus`]); the groups
//! then run in parallel, each a walk over ids, and the compression ratio runs beside them on
//! the raw bytes. Floating sums run in a fixed order, so results are bit-reproducible and do not
//! depend on the thread count.

use super::diversity::{compression_ratio, token_diversity};
use super::perplexity::f64_or_nan;
use super::repetition::repetition;
use super::self_bleu::{sample_docs, self_bleu, SELF_BLEU_SAMPLE, SELF_BLEU_SEED};
use super::tokens::TokenizedCorpus;
use crate::corpus::Corpus;
use crate::hash::{FxBuildHasher, FxHashMap};
use serde::{Deserialize, Serialize};

pub use super::repetition::seq_rep_n;

/// Human types seen at most this often in the training text count as rare.
pub const RARE_MAX_COUNT: u64 = 5;
/// Human types seen more than [`RARE_MAX_COUNT`] and at most this often count as medium; more
/// often, frequent.
pub const MEDIUM_MAX_COUNT: u64 = 100;

/// Type counts of the human training text, built once per experiment and compared against
/// every generation's corpus.
#[derive(Clone, Debug, Default)]
pub struct HumanReference {
    /// Type -> id; ids are in first-occurrence order.
    index: FxHashMap<Box<str>, u32>,
    /// Count of each id.
    counts: Vec<u64>,
    /// Types per frequency band: rare, medium, frequent.
    band_types: [usize; 3],
    tokens: u64,
}

/// The frequency band of a human count: 0 rare, 1 medium, 2 frequent.
fn band(count: u64) -> usize {
    usize::from(count > RARE_MAX_COUNT) + usize::from(count > MEDIUM_MAX_COUNT)
}

impl HumanReference {
    /// Counts the KenLM tokens of `human_train` (in parallel over documents).
    pub fn new(human_train: &Corpus) -> Self {
        let t = TokenizedCorpus::new(human_train);
        let mut index = FxHashMap::with_capacity_and_hasher(t.types(), FxBuildHasher);
        for (id, w) in t.types.iter().enumerate() {
            index.insert(Box::<str>::from(*w), id as u32);
        }
        let mut band_types = [0; 3];
        t.counts.iter().for_each(|&c| band_types[band(c)] += 1);
        HumanReference {
            index,
            tokens: t.tokens(),
            counts: t.counts,
            band_types,
        }
    }
    /// Distinct human types.
    pub fn types(&self) -> usize {
        self.counts.len()
    }
    /// Human tokens.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
    /// Human types with count <= [`RARE_MAX_COUNT`].
    pub fn rare_types(&self) -> usize {
        self.band_types[0]
    }
    /// Every human type with its frequency band (0 rare, 1 medium, 2 frequent), in
    /// first-occurrence order.
    pub fn types_by_band(&self) -> impl Iterator<Item = (&str, usize)> {
        let mut words: Vec<(&str, u32)> = self.index.iter().map(|(w, &id)| (&**w, id)).collect();
        words.sort_unstable_by_key(|&(_, id)| id);
        words
            .into_iter()
            .map(|(w, id)| (w, band(self.counts[id as usize])))
    }
    /// Human types per band: rare, medium, frequent.
    pub fn band_types(&self) -> [usize; 3] {
        self.band_types
    }
    /// How often `word` occurs in the human training text.
    pub fn count(&self, word: &str) -> u64 {
        self.index
            .get(word)
            .map_or(0, |&id| self.counts[id as usize])
    }
}

/// Measures of one corpus against the human training corpus (see `docs/metrics.md`).
///
/// Empty cases never panic. A ratio with nothing to count is `0.0` (seq-rep-n with no document
/// of n+ tokens, distinct-n and rep/l with no tokens, the `*_lost` shares with no human types in
/// the band; `unigram_kl` with no human text). Measures that are undefined rather than zero are
/// `NaN` (JSON `null`): `unigram_js` when either text is empty, `self_bleu` with fewer than two
/// documents, `mattr` with fewer than 100 tokens, `mtld` with none, `zipf_coefficient` with
/// fewer than two types, `compression_ratio` with no documents. Records written before a field
/// existed read it back as `NaN` (or 0 for counts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorpusMetrics {
    pub documents: usize,
    /// KenLM tokens (no `<s>`/`</s>`).
    pub tokens: u64,
    /// Distinct tokens.
    pub types: usize,
    /// seq-rep-n (Welleck et al. 2019): mean over documents with >= n tokens of
    /// `1 - |unique n-grams| / |n-grams|`.
    #[serde(deserialize_with = "f64_or_nan")]
    pub seq_rep_1: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub seq_rep_2: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub seq_rep_3: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub seq_rep_4: f64,
    /// rep/l (Welleck et al. 2019): share of tokens equal to one of the l tokens before them in
    /// their document, l = 16, 32, 128.
    #[serde(deserialize_with = "f64_or_nan")]
    pub rep_16: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub rep_32: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub rep_128: f64,
    /// Distinct tokens / tokens (both distinct-1 denominators are the token count).
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_1: f64,
    /// Distinct bigrams / bigrams, bigrams within documents: the same value as
    /// `distinct_2_per_ngram`, under the name older records and scripts use.
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_2: f64,
    /// distinct-n, n-gram denominator: distinct n-grams / n-grams (none across documents).
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_2_per_ngram: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_3_per_ngram: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_4_per_ngram: f64,
    /// distinct-n, token denominator: distinct n-grams / tokens.
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_2_per_token: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_3_per_token: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub distinct_4_per_token: f64,
    /// Share of human training types absent from the corpus.
    #[serde(deserialize_with = "f64_or_nan")]
    pub human_types_lost: f64,
    /// Share of rare human types (count <= 5) absent from the corpus.
    #[serde(deserialize_with = "f64_or_nan")]
    pub rare_types_lost: f64,
    /// Share of medium human types (count 6..=100) absent from the corpus.
    #[serde(deserialize_with = "f64_or_nan")]
    pub medium_types_lost: f64,
    /// Share of frequent human types (count > 100) absent from the corpus.
    #[serde(deserialize_with = "f64_or_nan")]
    pub frequent_types_lost: f64,
    /// KL(P_human || Q_corpus) in nats, Q add-0.5 smoothed over human ∪ corpus types.
    #[serde(deserialize_with = "f64_or_nan")]
    pub unigram_kl: f64,
    /// Jensen-Shannon divergence of the unsmoothed unigram distributions, in bits (0..=1).
    #[serde(deserialize_with = "f64_or_nan")]
    pub unigram_js: f64,
    /// Self-BLEU (Texygen): mean BLEU-4 (NLTK method1 smoothing) of each sampled document
    /// against all other sampled documents.
    #[serde(deserialize_with = "f64_or_nan")]
    pub self_bleu: f64,
    /// Documents in the self-BLEU sample: min(documents, 1000).
    pub self_bleu_docs: usize,
    /// Seed of the self-BLEU sample.
    pub self_bleu_seed: u64,
    /// Moving-average type-token ratio, window 100, over the corpus's token stream.
    #[serde(deserialize_with = "f64_or_nan")]
    pub mattr: f64,
    /// MTLD (McCarthy & Jarvis 2010), threshold 0.72, mean of both directions.
    #[serde(deserialize_with = "f64_or_nan")]
    pub mtld: f64,
    /// Bytes / raw-DEFLATE (level 6) bytes of the corpus text.
    #[serde(deserialize_with = "f64_or_nan")]
    pub compression_ratio: f64,
    /// Minus the least-squares slope of ln frequency on ln rank, top 1000 types.
    #[serde(deserialize_with = "f64_or_nan")]
    pub zipf_coefficient: f64,
}

impl Default for CorpusMetrics {
    /// Zero counts and `NaN` measures: what a field missing from an older record reads as.
    fn default() -> Self {
        let nan = f64::NAN;
        CorpusMetrics {
            documents: 0,
            tokens: 0,
            types: 0,
            seq_rep_1: nan,
            seq_rep_2: nan,
            seq_rep_3: nan,
            seq_rep_4: nan,
            rep_16: nan,
            rep_32: nan,
            rep_128: nan,
            distinct_1: nan,
            distinct_2: nan,
            distinct_2_per_ngram: nan,
            distinct_3_per_ngram: nan,
            distinct_4_per_ngram: nan,
            distinct_2_per_token: nan,
            distinct_3_per_token: nan,
            distinct_4_per_token: nan,
            human_types_lost: nan,
            rare_types_lost: nan,
            medium_types_lost: nan,
            frequent_types_lost: nan,
            unigram_kl: nan,
            unigram_js: nan,
            self_bleu: nan,
            self_bleu_docs: 0,
            self_bleu_seed: 0,
            mattr: nan,
            mtld: nan,
            compression_ratio: nan,
            zipf_coefficient: nan,
        }
    }
}

/// Choices of [`corpus_metrics_with`] that a user may want to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricOptions {
    /// Documents sampled for self-BLEU.
    pub self_bleu_sample: usize,
    /// Seed of that sample.
    pub self_bleu_seed: u64,
}

impl Default for MetricOptions {
    fn default() -> Self {
        MetricOptions {
            self_bleu_sample: SELF_BLEU_SAMPLE,
            self_bleu_seed: SELF_BLEU_SEED,
        }
    }
}

/// All metrics of `corpus` against `human`, with the default [`MetricOptions`].
pub fn corpus_metrics(corpus: &Corpus, human: &HumanReference) -> CorpusMetrics {
    corpus_metrics_with(corpus, human, &MetricOptions::default())
}

/// All metrics of `corpus` against `human` (in parallel).
pub fn corpus_metrics_with(
    corpus: &Corpus,
    human: &HumanReference,
    options: &MetricOptions,
) -> CorpusMetrics {
    let (compression, m) = rayon::join(
        || compression_ratio(corpus),
        || {
            let t = TokenizedCorpus::new(corpus);
            let sample = sample_docs(
                t.documents(),
                options.self_bleu_sample,
                options.self_bleu_seed,
            );
            let ((rep, (mattr, mtld, zipf)), (bleu, cmp)) = rayon::join(
                || rayon::join(|| repetition(&t), || token_diversity(&t)),
                || {
                    rayon::join(
                        || {
                            let docs: Vec<&[u32]> = sample.iter().map(|&d| t.doc(d)).collect();
                            self_bleu(&docs, t.types())
                        },
                        || compare_with_human(&t, human),
                    )
                },
            );
            CorpusMetrics {
                documents: corpus.docs.len(),
                tokens: t.tokens(),
                types: t.types(),
                seq_rep_1: rep.seq_rep[0],
                seq_rep_2: rep.seq_rep[1],
                seq_rep_3: rep.seq_rep[2],
                seq_rep_4: rep.seq_rep[3],
                rep_16: rep.rep_l[0],
                rep_32: rep.rep_l[1],
                rep_128: rep.rep_l[2],
                distinct_1: rep.distinct_per_ngram(1),
                distinct_2: rep.distinct_per_ngram(2),
                distinct_2_per_ngram: rep.distinct_per_ngram(2),
                distinct_3_per_ngram: rep.distinct_per_ngram(3),
                distinct_4_per_ngram: rep.distinct_per_ngram(4),
                distinct_2_per_token: rep.distinct_per_token(2),
                distinct_3_per_token: rep.distinct_per_token(3),
                distinct_4_per_token: rep.distinct_per_token(4),
                human_types_lost: cmp.lost[0],
                rare_types_lost: cmp.lost[1],
                medium_types_lost: cmp.lost[2],
                frequent_types_lost: cmp.lost[3],
                unigram_kl: cmp.kl,
                unigram_js: cmp.js,
                self_bleu: bleu,
                self_bleu_docs: sample.len(),
                self_bleu_seed: options.self_bleu_seed,
                mattr,
                mtld,
                compression_ratio: f64::NAN,
                zipf_coefficient: zipf,
            }
        },
    );
    CorpusMetrics {
        compression_ratio: compression,
        ..m
    }
}

/// The corpus's unigram distribution next to the human one (part of [`CorpusMetrics`]).
pub struct HumanComparison {
    /// Shares of human types absent from the corpus: all, rare, medium, frequent.
    pub lost: [f64; 4],
    pub kl: f64,
    pub js: f64,
}

/// Types lost by band, unigram KL and JS of the tokenized corpus `t` against `human`.
pub fn compare_with_human(t: &TokenizedCorpus, human: &HumanReference) -> HumanComparison {
    let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    // Corpus counts of the human types, and the corpus types the human text never had.
    let mut by_human = vec![0u64; human.types()];
    let (mut novel_types, mut novel_tokens) = (0usize, 0u64);
    for (w, &c) in t.types.iter().zip(&t.counts) {
        match human.index.get(*w) {
            Some(&id) => by_human[id as usize] = c,
            None => (novel_types, novel_tokens) = (novel_types + 1, novel_tokens + c),
        }
    }
    let mut lost_by_band = [0usize; 3];
    for (&h, &c) in human.counts.iter().zip(&by_human) {
        if c == 0 {
            lost_by_band[band(h)] += 1;
        }
    }
    let b = human.band_types;
    let lost = [
        ratio(lost_by_band.iter().sum(), human.types()),
        ratio(lost_by_band[0], b[0]),
        ratio(lost_by_band[1], b[1]),
        ratio(lost_by_band[2], b[2]),
    ];

    let (h, n) = (human.tokens as f64, t.tokens() as f64);
    // KL(P || Q) = Σ_{w ∈ human} P(w) ln(P(w)/Q(w)), P(w) = h(w)/H,
    // Q(w) = (c(w) + 0.5) / (N + 0.5 |V|), V = human types ∪ corpus types.
    let mut kl = 0.0;
    if human.tokens > 0 {
        let den = n + 0.5 * (human.types() + novel_types) as f64;
        for (&hc, &c) in human.counts.iter().zip(&by_human) {
            let p = hc as f64 / h;
            kl += p * (p * den / (c as f64 + 0.5)).ln();
        }
    }
    // JS = ½ Σ P log2(P/M) + ½ Σ Q log2(Q/M), M = (P + Q)/2, unsmoothed. A corpus type unknown
    // to the human text (P = 0) adds ½ Q log2 2 = Q/2; so does any human type it lost.
    let js = if human.tokens == 0 || t.tokens() == 0 {
        f64::NAN
    } else {
        let mut s = 0.0;
        for (&hc, &c) in human.counts.iter().zip(&by_human) {
            let (p, q) = (hc as f64 / h, c as f64 / n);
            let m = 0.5 * (p + q);
            s += p * (p / m).log2();
            if c > 0 {
                s += q * (q / m).log2();
            }
        }
        (0.5 * (s + novel_tokens as f64 / n)).clamp(0.0, 1.0) // clamp: rounding only
    };
    HumanComparison { lost, kl, js }
}

#[cfg(test)]
#[path = "corpus_metrics_tests.rs"]
mod tests;
