//! Evaluation: what every generation is measured by.
//!
//! Models only produce [`Scores`] (log-likelihoods with the counts they are normalised by);
//! every perplexity is computed here from those, so n-gram and BPE models are compared by one
//! set of formulas. Corpus metrics need only text, so they serve every model family.
//! Definitions, with formulas, are in `docs/metrics.md`.
//!
//! - `perplexity`: held-out perplexities from [`Scores`]; `doc_ppl`: the per-document
//!   perplexity distribution (tail loss).
//! - `corpus_metrics`: the text metrics of one corpus against the human text, assembled from
//!   `repetition` (seq-rep-n, rep/l, distinct-n), `diversity` (MATTR, MTLD, compression, Zipf)
//!   and `self_bleu`, all on one tokenization (`tokens`).

pub mod corpus_metrics;
pub mod diversity;
pub mod doc_ppl;
pub mod perplexity;
mod radix;
pub mod repetition;
pub mod self_bleu;
pub mod tokens;
pub mod vocabulary;

use serde::{Deserialize, Serialize};

/// A model's score of one document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocScore {
    /// Sum of natural-log probabilities of every predicted token (OOVs and `</s>` included).
    pub logprob: f64,
    /// Predicted tokens (model tokens; for n-grams: words plus one `</s>` per line).
    pub tokens: u64,
    /// Tokens that were out of the model's vocabulary (scored as `<unk>`).
    pub oov: u64,
    /// Part of `logprob` that comes from OOV tokens.
    pub oov_logprob: f64,
    /// Whitespace-separated words in the document (the word-perplexity denominator).
    pub words: u64,
    /// UTF-8 bytes of the document text (the bits-per-byte denominator).
    pub bytes: u64,
}

/// A model's scores of a corpus, one entry per document, in corpus order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub docs: Vec<DocScore>,
}

impl Scores {
    /// Sum over all documents.
    pub fn total(&self) -> DocScore {
        let mut t = DocScore::default();
        for d in &self.docs {
            t.logprob += d.logprob;
            t.tokens += d.tokens;
            t.oov += d.oov;
            t.oov_logprob += d.oov_logprob;
            t.words += d.words;
            t.bytes += d.bytes;
        }
        t
    }
}
