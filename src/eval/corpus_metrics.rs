//! Text-only measures of a (generated) corpus against the human training corpus.
//!
//! Why: model collapse shows in the text before it shows in perplexity. A collapsing chain
//! repeats itself (`seq_rep_4` up), narrows its vocabulary (`distinct_*`, `types` down), and
//! forgets the tail of the human distribution first (`rare_types_lost`, then
//! `human_types_lost`, and `unigram_kl` up). These need only text, so they serve every model
//! family. Formulas and references: `docs/metrics.md`.
//!
//! Tokens are KenLM words ([`crate::tokenize::words`]); a document's token sequence is its
//! lines' tokens concatenated (n-grams cross lines, never documents). `tokenize::words` over
//! the whole text gives exactly that, since `\n` is a KenLM separator and empty lines have no
//! tokens.
//!
//! Why it is built this way: corpora have millions of words. Documents are cut into chunks of
//! about equal bytes; each chunk (in parallel) interns its tokens as `&str` slices of the corpus
//! into a local id table (no allocation per token) and computes each document's `seq_rep_4` on
//! ids. Local tables are merged in chunk order, so ids are in first-occurrence order and every
//! result is independent of the thread count; distinct bigrams are counted by sorting `u64`
//! keys of global ids. Floating sums run in a fixed order, so results are bit-reproducible.

use crate::corpus::{Corpus, Document};
use crate::hash::{FxBuildHasher, FxHashMap, FxHashSet};
use crate::tokenize;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Human types seen at most this often in the training text count as rare.
pub const RARE_MAX_COUNT: u64 = 5;

/// The `n` of [`CorpusMetrics::seq_rep_4`].
const SEQ_REP_N: usize = 4;

/// Type counts of the human training text, built once per experiment and compared against
/// every generation's corpus.
#[derive(Clone, Debug, Default)]
pub struct HumanReference {
    /// Type -> id; ids are in first-occurrence order.
    index: FxHashMap<Box<str>, u32>,
    /// Count of each id.
    counts: Vec<u64>,
    /// Ids with count <= [`RARE_MAX_COUNT`], ascending.
    rare: Vec<u32>,
    tokens: u64,
}

impl HumanReference {
    /// Counts the KenLM tokens of `human_train` (in parallel over documents).
    pub fn new(human_train: &Corpus) -> Self {
        let vocab = count(&human_train.docs, CHUNK_TARGET_BYTES, false).0;
        let mut index = FxHashMap::with_capacity_and_hasher(vocab.types.len(), FxBuildHasher);
        for (id, w) in vocab.types.iter().enumerate() {
            index.insert(Box::<str>::from(*w), id as u32);
        }
        let rare = (0..vocab.counts.len() as u32)
            .filter(|&id| vocab.counts[id as usize] <= RARE_MAX_COUNT)
            .collect();
        HumanReference {
            index,
            tokens: vocab.counts.iter().sum(),
            counts: vocab.counts,
            rare,
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
        self.rare.len()
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
/// Empty cases never panic: a ratio with nothing to measure is `0.0` (`seq_rep_4` with no
/// document of 4+ tokens, `distinct_n` with no n-grams, the `*_lost` shares with no human
/// (rare) types); `unigram_kl` is `0.0` when the human text is empty. All values are finite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusMetrics {
    pub documents: usize,
    /// KenLM tokens (no `<s>`/`</s>`).
    pub tokens: u64,
    /// Distinct tokens.
    pub types: usize,
    /// Mean over documents with >= 4 tokens of `1 - |unique 4-grams| / |4-grams|`.
    pub seq_rep_4: f64,
    /// Distinct tokens / tokens.
    pub distinct_1: f64,
    /// Distinct bigrams / bigrams, bigrams within documents.
    pub distinct_2: f64,
    /// Share of human training types absent from the corpus.
    pub human_types_lost: f64,
    /// Share of rare human types (count <= 5) absent from the corpus.
    pub rare_types_lost: f64,
    /// KL(P_human || Q_corpus) in nats, Q add-0.5 smoothed over human ∪ corpus types.
    pub unigram_kl: f64,
}

/// `1 - |unique n-grams| / |n-grams|` of one token sequence (Welleck et al. 2019);
/// `None` when it has fewer than `n` tokens or `n == 0`.
pub fn seq_rep_n(tokens: &[&str], n: usize) -> Option<f64> {
    if n == 0 || tokens.len() < n {
        return None;
    }
    let total = tokens.len() - n + 1;
    let mut seen = FxHashSet::with_capacity_and_hasher(total, FxBuildHasher);
    seen.extend(tokens.windows(n));
    Some(1.0 - seen.len() as f64 / total as f64)
}

/// All metrics of `corpus` against `human` (in parallel over documents).
pub fn corpus_metrics(corpus: &Corpus, human: &HumanReference) -> CorpusMetrics {
    metrics_with_chunks(corpus, human, CHUNK_TARGET_BYTES)
}

/// Chunks are at least this big, so tiny corpora are not split into tiny tasks.
const CHUNK_TARGET_BYTES: usize = 1 << 16;

fn metrics_with_chunks(corpus: &Corpus, human: &HumanReference, min_chunk: usize) -> CorpusMetrics {
    let (vocab, chunks) = count(&corpus.docs, min_chunk, true);
    let tokens: u64 = vocab.counts.iter().sum();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };

    // seq_rep_4: mean over eligible documents, summed in document order.
    let (mut rep_sum, mut rep_docs) = (0.0, 0usize);
    for r in chunks.iter().flat_map(|c| &c.seq_rep).flatten() {
        rep_sum += r;
        rep_docs += 1;
    }

    // distinct_2: sort and dedup u64 keys (global id pairs), per chunk then overall.
    let mut keys: Vec<u64> = chunks
        .par_iter()
        .flat_map_iter(|c| {
            let mut k = Vec::with_capacity(c.ids.len());
            let mut start = 0;
            for &end in &c.doc_ends {
                let doc = &c.ids[start..end];
                start = end;
                k.extend(doc.windows(2).map(|w| {
                    let (a, b) = (c.remap[w[0] as usize], c.remap[w[1] as usize]);
                    (a as u64) << 32 | b as u64
                }));
            }
            k.sort_unstable();
            k.dedup();
            k
        })
        .collect();
    keys.par_sort_unstable();
    keys.dedup();
    let bigrams: u64 = chunks.iter().map(|c| c.bigrams).sum();

    // Corpus counts of the human types, and corpus types the human text never had.
    let mut by_human = vec![0u64; human.types()];
    let mut novel = 0usize;
    for (w, &c) in vocab.types.iter().zip(&vocab.counts) {
        match human.index.get(*w) {
            Some(&id) => by_human[id as usize] = c,
            None => novel += 1,
        }
    }
    let lost = by_human.iter().filter(|&&c| c == 0).count();
    let rare_lost = human
        .rare
        .iter()
        .filter(|&&id| by_human[id as usize] == 0)
        .count();

    // KL(P || Q) = Σ_{w ∈ human} P(w) ln(P(w)/Q(w)), P(w) = h(w)/H,
    // Q(w) = (c(w) + 0.5) / (N + 0.5 |V|), V = human types ∪ corpus types.
    let mut kl = 0.0;
    if human.tokens > 0 {
        let h = human.tokens as f64;
        let den = tokens as f64 + 0.5 * (human.types() + novel) as f64;
        for (&hc, &c) in human.counts.iter().zip(&by_human) {
            let p = hc as f64 / h;
            kl += p * (p * den / (c as f64 + 0.5)).ln();
        }
    }

    CorpusMetrics {
        documents: corpus.docs.len(),
        tokens,
        types: vocab.types.len(),
        seq_rep_4: ratio(rep_sum, rep_docs as f64),
        distinct_1: ratio(vocab.types.len() as f64, tokens as f64),
        distinct_2: ratio(keys.len() as f64, bigrams as f64),
        human_types_lost: ratio(lost as f64, human.types() as f64),
        rare_types_lost: ratio(rare_lost as f64, human.rare.len() as f64),
        unigram_kl: kl,
    }
}

/// Interned types (`&str` slices of the corpus, ids in first-occurrence order) and counts.
#[derive(Default)]
struct Vocab<'a> {
    types: Vec<&'a str>,
    counts: Vec<u64>,
}

impl<'a> Vocab<'a> {
    /// Adds `n` occurrences of `w` (interning it through `index`) and returns its id.
    #[inline]
    fn add(&mut self, index: &mut FxHashMap<&'a str, u32>, w: &'a str, n: u64) -> u32 {
        let id = *index.entry(w).or_insert_with(|| {
            self.types.push(w);
            self.counts.push(0);
            (self.types.len() - 1) as u32
        });
        self.counts[id as usize] += n;
        id
    }
}

/// One chunk's pass over its documents.
#[derive(Default)]
struct Chunk<'a> {
    vocab: Vocab<'a>,
    /// Local ids of the chunk's tokens (only when sequences are kept).
    ids: Vec<u32>,
    /// End of each document in `ids`.
    doc_ends: Vec<usize>,
    /// `seq_rep_4` of each document (None: fewer than 4 tokens).
    seq_rep: Vec<Option<f64>>,
    bigrams: u64,
    /// Local id -> global id (filled by the merge).
    remap: Vec<u32>,
}

/// Consecutive document ranges of about `total / (4 · threads)` bytes (at least `min_bytes`).
fn plan(docs: &[Document], min_bytes: usize) -> Vec<Range<usize>> {
    let total: usize = docs.iter().map(|d| d.text.len()).sum();
    let target = (total / (4 * rayon::current_num_threads())).max(min_bytes);
    let (mut out, mut start, mut acc) = (Vec::new(), 0, 0);
    for (i, d) in docs.iter().enumerate() {
        acc += d.text.len();
        if acc >= target {
            out.push(start..i + 1);
            (start, acc) = (i + 1, 0);
        }
    }
    if start < docs.len() {
        out.push(start..docs.len());
    }
    out
}

/// Counts types over `docs` in parallel chunks, merged in order into one global vocabulary.
/// With `sequences`, chunks keep their id sequences and per-document `seq_rep_4`.
/// Ids are `u32`: a corpus would need over 4 billion distinct types to overflow them.
fn count(docs: &[Document], min_chunk: usize, sequences: bool) -> (Vocab<'_>, Vec<Chunk<'_>>) {
    let mut chunks: Vec<Chunk> = plan(docs, min_chunk)
        .into_par_iter()
        .map(|r| chunk_pass(&docs[r], sequences))
        .collect();
    let mut global = Vocab::default();
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    for c in &mut chunks {
        c.remap = c
            .vocab
            .types
            .iter()
            .zip(&c.vocab.counts)
            .map(|(&w, &n)| global.add(&mut index, w, n))
            .collect();
    }
    (global, chunks)
}

fn chunk_pass(docs: &[Document], sequences: bool) -> Chunk<'_> {
    let mut c = Chunk::default();
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    let mut grams: FxHashSet<u128> = FxHashSet::default();
    for d in docs {
        let start = c.ids.len();
        for w in tokenize::words(&d.text) {
            let id = c.vocab.add(&mut index, w, 1);
            if sequences {
                c.ids.push(id);
            }
        }
        if sequences {
            let doc = &c.ids[start..];
            c.bigrams += doc.len().saturating_sub(1) as u64;
            c.seq_rep.push(seq_rep_4_ids(doc, &mut grams));
            c.doc_ends.push(c.ids.len());
        }
    }
    c
}

/// [`seq_rep_n`] for n = 4 on ids, with a reused set (4 ids packed in one `u128`).
fn seq_rep_4_ids(ids: &[u32], seen: &mut FxHashSet<u128>) -> Option<f64> {
    if ids.len() < SEQ_REP_N {
        return None;
    }
    let total = ids.len() - SEQ_REP_N + 1;
    if seen.capacity() > 4 * total + 64 {
        *seen = FxHashSet::default(); // do not clear a huge table for a short document
    }
    seen.clear();
    seen.reserve(total);
    for w in ids.windows(SEQ_REP_N) {
        seen.insert(
            w[0] as u128 | (w[1] as u128) << 32 | (w[2] as u128) << 64 | (w[3] as u128) << 96,
        );
    }
    Some(1.0 - seen.len() as f64 / total as f64)
}

#[cfg(test)]
#[path = "corpus_metrics_tests.rs"]
mod tests;
