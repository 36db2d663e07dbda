//! Interpolated modified Kneser-Ney n-gram models that agree with KenLM.
//!
//! The estimator is KenLM lmplz's pipeline as small stages, each with its own tests and
//! statistics: [`count`] (n-grams in suffix order), [`adjust`] (adjusted counts and
//! counts-of-counts), [`discount`] (Chen & Goodman discounts, with a fallback for degenerate
//! data), [`interpolate`] (probabilities and backoffs into a trie). [`arpa`] reads and writes the
//! ARPA format KenLM's `query` and `build_binary` read; [`query`] scores text as `query` does;
//! [`sample`] writes new corpora from a model.
//!
//! The model is a trie in prefix order: order n's entries are sorted by (context, word), and an
//! entry's children (its continuations at order n+1) are a contiguous range. Lookups are binary
//! searches within a child range; sampling draws from the same ranges.

pub mod adjust;
pub mod arpa;
pub mod count;
pub mod discount;
pub mod interpolate;
pub mod query;
pub mod sample;
pub mod vocab;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use vocab::{encode, Vocab, VocabPolicy};

/// Highest order supported (KenLM's default build supports 6).
pub const MAX_ORDER: usize = 8;

/// Child pointers for a table of `parents` entries whose next order has `children` entries,
/// from `(first child, parent)` pairs in order (repeats allowed): `result[p]..result[p + 1]` is
/// parent p's range, empty for parents without children.
pub(crate) fn child_starts(
    parents: usize,
    children: usize,
    pairs: impl IntoIterator<Item = (usize, usize)>,
) -> Vec<u32> {
    let mut starts = Vec::with_capacity(parents + 1);
    for (child, parent) in pairs {
        while starts.len() <= parent {
            starts.push(child as u32);
        }
    }
    starts.resize(parents + 1, children as u32);
    starts
}

/// One order of the trie.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderTable {
    /// Last word of each n-gram (for unigrams, entry i is word id i).
    pub words: Vec<u32>,
    /// log10 p(word | context).
    pub log_prob: Vec<f32>,
    /// log10 backoff of the n-gram as a context (0 when it is none); empty at the top order.
    pub log_backoff: Vec<f32>,
    /// Children of entry i in the next order: `child_start[i]..child_start[i + 1]`; empty at
    /// the top order.
    pub child_start: Vec<u32>,
}

impl OrderTable {
    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Range of entry `i`'s children in the next order.
    #[inline]
    pub fn children(&self, i: usize) -> Range<usize> {
        self.child_start[i] as usize..self.child_start[i + 1] as usize
    }

    /// Index of the entry with last word `w` within `range` (a sibling range, sorted by word).
    #[inline]
    pub fn find(&self, range: Range<usize>, w: u32) -> Option<usize> {
        let start = range.start;
        self.words[range].binary_search(&w).ok().map(|i| start + i)
    }
}

/// Settings of a build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub order: usize,
    pub vocab: VocabPolicy,
}

impl BuildOptions {
    /// An order-`order` model over the text's own vocabulary.
    pub fn new(order: usize) -> Self {
        BuildOptions {
            order,
            vocab: VocabPolicy::FromText { min_count: 1 },
        }
    }
}

/// What the build stages measured; saved as the model's metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub order: usize,
    /// Vocabulary size including `<unk>`, `<s>`, `</s>`.
    pub vocab_size: usize,
    pub count: count::CountStats,
    /// Words of the training text that became `<unk>`.
    pub unknown_words: usize,
    /// Per order: counts-of-counts of adjusted counts.
    pub counts_of_counts: Vec<adjust::CountsOfCounts>,
    /// Per order: the discounts used.
    pub discounts: Vec<discount::Discount>,
    /// Per order: n-grams in the model.
    pub ngrams: Vec<usize>,
    /// How a chain chose the vocabulary (`own` or `fixed`), recorded in `model.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_mode: Option<String>,
}

/// An n-gram language model.
#[derive(Clone, Debug)]
pub struct NgramModel {
    pub vocab: Vocab,
    /// `tables[n - 1]` holds the n-grams.
    pub tables: Vec<OrderTable>,
    pub meta: ModelMeta,
}

impl NgramModel {
    pub fn order(&self) -> usize {
        self.tables.len()
    }

    /// Whether the model gives `<unk>` no probability of its own: an ARPA without a `<unk>`
    /// unigram reads as p(<unk>) = 10^-100 (as in KenLM), so every OOV word costs 100 decades.
    pub fn lacks_unk(&self) -> bool {
        self.tables[0].log_prob[vocab::UNK as usize] <= -99.0
    }

    /// Index of an n-gram (word ids, in order) in `tables[ids.len() - 1]`, if present.
    pub fn lookup(&self, ids: &[u32]) -> Option<usize> {
        let (&first, rest) = ids.split_first()?;
        if first as usize >= self.tables[0].len() || ids.len() > self.order() {
            return None;
        }
        let mut idx = first as usize;
        for (n, &w) in rest.iter().enumerate() {
            idx = self.tables[n + 1].find(self.tables[n].children(idx), w)?;
        }
        Some(idx)
    }

    /// log10 p(word | context) with ARPA backoff, for words given as strings (tests, tools).
    pub fn log10_prob_of(&self, context: &[&str], word: &str) -> f64 {
        let ctx: Vec<u32> = context.iter().map(|w| self.vocab.id_or_unk(w)).collect();
        query::log10_prob(self, &ctx, self.vocab.id_or_unk(word))
    }
}

/// Builds a model from sentences (one per line, KenLM tokens), running the four stages.
pub fn build_lines<'a>(
    lines: impl Iterator<Item = &'a str> + Clone,
    opts: &BuildOptions,
) -> Result<NgramModel> {
    if opts.order == 0 || opts.order > MAX_ORDER {
        return Err(Error::invalid(
            format!("n-gram order {} is not supported", opts.order),
            format!("use an order from 1 to {MAX_ORDER}"),
        ));
    }
    let (vocab, stream) = encode(lines, &opts.vocab);
    if stream.words == 0 {
        return Err(Error::EmptyCorpus {
            source_name: "n-gram training text".into(),
        });
    }
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match opts.order {
                $($n => build_stream::<$n>(vocab, &stream),)*
                _ => unreachable!("order checked above"),
            }
        };
    }
    Ok(dispatch!(1 2 3 4 5 6 7 8))
}

fn build_stream<const N: usize>(vocab: Vocab, stream: &vocab::IdStream) -> NgramModel {
    let (grams, count_stats) = count::count::<N>(stream);
    tracing::info!(
        "count: {} sentences, {} words, {} unique {N}-grams",
        count_stats.sentences,
        count_stats.words,
        count_stats.unique_ngrams
    );
    let adjusted = adjust::adjust(&grams, vocab.len());
    drop(grams);
    let discounts: Vec<discount::Discount> = adjusted
        .stats
        .iter()
        .enumerate()
        .map(|(i, s)| discount::discount(i + 1, s))
        .collect();
    for (i, (d, s)) in discounts.iter().zip(&adjusted.stats).enumerate() {
        tracing::info!(
            "order {}: {} n-grams, counts-of-counts {:?}, D1={:.4} D2={:.4} D3+={:.4}",
            i + 1,
            s.ngrams,
            &s.n[1..],
            d.d[0],
            d.d[1],
            d.d[2]
        );
        if let Some(why) = &d.fallback {
            tracing::warn!(
                "order {}: fallback discounts D1=0.5 D2=1 D3+=1.5 ({why})",
                i + 1
            );
        }
    }
    let stats = adjusted.stats.clone();
    let tables = interpolate::interpolate(adjusted, &discounts);
    let meta = ModelMeta {
        order: N,
        vocab_size: vocab.len(),
        count: count_stats,
        unknown_words: stream.unknown,
        counts_of_counts: stats,
        discounts,
        ngrams: tables.iter().map(|t| t.len()).collect(),
        vocab_mode: None,
    };
    NgramModel {
        vocab,
        tables,
        meta,
    }
}
