//! A corpus as integer token ids: the one tokenization pass every corpus metric shares.
//!
//! Why: the metric suite (repetition, distinct-n, MATTR, MTLD, self-BLEU, Zipf, the comparison
//! with the human text) reads every token several times. Hashing strings once and then working on
//! dense `u32` ids makes each later pass an array walk, and lets n-grams be packed into integers.
//!
//! Tokens are KenLM words ([`crate::tokenize::words`]); a document's token sequence is its
//! lines' tokens concatenated (n-grams cross lines, never documents). `tokenize::words` over
//! the whole text gives exactly that, since `\n` is a KenLM separator and empty lines have no
//! tokens.
//!
//! How: documents are cut into chunks of about equal bytes; each chunk (in parallel) interns
//! its tokens as `&str` slices of the corpus into a local id table (no allocation per token).
//! Local tables are merged in chunk order, so ids are in first-occurrence order and every
//! result is independent of the thread count.

use crate::corpus::{Corpus, Document};
use crate::hash::FxHashMap;
use crate::tokenize;
use rayon::prelude::*;
use std::ops::Range;

/// Chunks are at least this big, so tiny corpora are not split into tiny tasks.
pub(crate) const CHUNK_TARGET_BYTES: usize = 1 << 16;

/// Every token of a corpus as a dense id, with the types and their counts.
#[derive(Clone, Debug, Default)]
pub struct TokenizedCorpus<'a> {
    /// Type of each id (a slice of the corpus text); ids are in first-occurrence order.
    pub types: Vec<&'a str>,
    /// Count of each id.
    pub counts: Vec<u64>,
    /// The ids of all tokens, documents concatenated in corpus order.
    pub ids: Vec<u32>,
    /// Document `i` is `ids[offsets[i]..offsets[i + 1]]`; `offsets.len()` is documents + 1.
    pub offsets: Vec<usize>,
}

impl<'a> TokenizedCorpus<'a> {
    /// Tokenizes `corpus` (in parallel over documents).
    pub fn new(corpus: &'a Corpus) -> Self {
        Self::with_chunks(&corpus.docs, CHUNK_TARGET_BYTES)
    }

    /// Like [`TokenizedCorpus::new`], with chunks of at least `min_chunk` bytes (tests use
    /// tiny and huge values to show that chunking never changes a result).
    pub(crate) fn with_chunks(docs: &'a [Document], min_chunk: usize) -> Self {
        let mut chunks: Vec<Chunk> = plan(docs, min_chunk)
            .into_par_iter()
            .map(|r| Chunk::tokenize(&docs[r]))
            .collect();
        let mut out = TokenizedCorpus::default();
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        for c in &mut chunks {
            c.remap = c
                .types
                .iter()
                .zip(&c.counts)
                .map(|(&w, &n)| out.add(&mut index, w, n))
                .collect();
        }
        chunks.par_iter_mut().for_each(|c| {
            for id in &mut c.ids {
                *id = c.remap[*id as usize];
            }
        });
        out.ids = Vec::with_capacity(chunks.iter().map(|c| c.ids.len()).sum());
        out.offsets = Vec::with_capacity(docs.len() + 1);
        out.offsets.push(0);
        for c in &chunks {
            let base = out.ids.len();
            out.offsets.extend(c.doc_ends.iter().map(|e| base + e));
            out.ids.extend_from_slice(&c.ids);
        }
        out
    }

    /// Adds `n` occurrences of `w` (interning it through `index`) and returns its id.
    /// Ids are `u32`: a corpus would need over 4 billion distinct types to overflow them.
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

    pub fn documents(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The ids of document `i`.
    pub fn doc(&self, i: usize) -> &[u32] {
        &self.ids[self.offsets[i]..self.offsets[i + 1]]
    }

    pub fn tokens(&self) -> u64 {
        self.ids.len() as u64
    }

    pub fn types(&self) -> usize {
        self.types.len()
    }

    /// Consecutive document ranges of about `tokens / (4 · threads)` tokens each (at least
    /// `min_tokens`): the work split of the parallel per-document passes.
    pub(crate) fn doc_ranges(&self, min_tokens: usize) -> Vec<Range<usize>> {
        let target = (self.ids.len() / (4 * rayon::current_num_threads())).max(min_tokens);
        let (mut out, mut start) = (Vec::new(), 0);
        for i in 0..self.documents() {
            if self.offsets[i + 1] - self.offsets[start] >= target {
                out.push(start..i + 1);
                start = i + 1;
            }
        }
        if start < self.documents() {
            out.push(start..self.documents());
        }
        out
    }
}

/// One chunk's tokens under chunk-local ids.
#[derive(Default)]
struct Chunk<'a> {
    types: Vec<&'a str>,
    counts: Vec<u64>,
    ids: Vec<u32>,
    /// End of each document in `ids`.
    doc_ends: Vec<usize>,
    /// Local id -> global id (filled by the merge).
    remap: Vec<u32>,
}

impl<'a> Chunk<'a> {
    fn tokenize(docs: &'a [Document]) -> Self {
        let mut c = Chunk::default();
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        for d in docs {
            for w in tokenize::words(&d.text) {
                let id = *index.entry(w).or_insert_with(|| {
                    c.types.push(w);
                    c.counts.push(0);
                    (c.types.len() - 1) as u32
                });
                c.counts[id as usize] += 1;
                c.ids.push(id);
            }
            c.doc_ends.push(c.ids.len());
        }
        c
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_offsets_and_counts_by_hand() {
        let c = Corpus::new(vec![
            Document::new("a", "x y\nx"),
            Document::new("b", ""),
            Document::new("c", " z\tx "),
        ]);
        for min_chunk in [1, usize::MAX] {
            let t = TokenizedCorpus::with_chunks(&c.docs, min_chunk);
            assert_eq!(t.types, ["x", "y", "z"]);
            assert_eq!(t.counts, [3, 1, 1]);
            assert_eq!(t.ids, [0, 1, 0, 2, 0]);
            assert_eq!(t.offsets, [0, 3, 3, 5]);
            assert_eq!((t.documents(), t.tokens(), t.types()), (3, 5, 3));
            assert_eq!((t.doc(1), t.doc(2)), (&[][..], &[2, 0][..]));
            // Ranges cover every document once, in order.
            let r = t.doc_ranges(1);
            assert_eq!(r.first().unwrap().start, 0);
            assert_eq!(r.last().unwrap().end, 3);
            assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        }
        assert_eq!(TokenizedCorpus::new(&Corpus::default()).documents(), 0);
    }
}
