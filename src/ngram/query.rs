//! Scoring text with a model, exactly as KenLM's `query` does.
//!
//! Each line is a sentence: `<s>` is the first context and `</s>` is predicted at the end. A
//! word is scored by the longest n-gram in the model that ends with it; when (context, word) is
//! missing, the context's backoff is added and the context shortened (ARPA semantics). Words
//! outside the vocabulary are scored as `<unk>` and counted as OOVs. KenLM's perplexity
//! "including OOVs" divides by every predicted token (`</s>` included); "excluding OOVs" drops
//! the OOV tokens and their log-probabilities.

use super::vocab::{BOS, EOS, UNK};
use super::NgramModel;
use crate::corpus::Corpus;
use crate::metrics::{DocScore, Scores};
use crate::tokenize;
use rayon::prelude::*;

const LN_10: f64 = std::f64::consts::LN_10;

/// log10 p(w | ctx) with backoff; `ctx` oldest first (only its last order-1 words matter).
pub fn log10_prob(model: &NgramModel, ctx: &[u32], w: u32) -> f64 {
    let n = model.order();
    let ctx = &ctx[ctx.len().saturating_sub(n - 1)..];
    let mut backoff = 0.0;
    for start in 0..=ctx.len() {
        let c = &ctx[start..];
        if c.is_empty() {
            return backoff + f64::from(model.tables[0].log_prob[w as usize]);
        }
        if let Some(ci) = model.lookup(c) {
            let table = &model.tables[c.len() - 1];
            if c.len() < n && !table.child_start.is_empty() {
                if let Some(i) = model.tables[c.len()].find(table.children(ci), w) {
                    return backoff + f64::from(model.tables[c.len()].log_prob[i]);
                }
            }
            backoff += f64::from(table.log_backoff[ci]);
        }
    }
    unreachable!("the empty context returns")
}

/// The contexts in effect after some words: `nodes[j]` is the index of the last j+1 words in
/// `tables[j]`, for as many j as exist.
#[derive(Clone, Debug, Default)]
pub struct State {
    nodes: Vec<usize>,
}

impl State {
    /// The state at the start of a sentence (context `<s>`).
    pub fn begin() -> Self {
        State {
            nodes: vec![BOS as usize],
        }
    }

    pub fn nodes(&self) -> &[usize] {
        &self.nodes
    }
}

/// log10 p(w | state), and the state after w. Same result as [`log10_prob`], but O(order)
/// binary searches per word instead of O(order^2).
pub fn score_word(model: &NgramModel, state: &State, w: u32) -> (f64, State) {
    let n = model.order();
    let mut backoff = 0.0;
    let mut prob = None;
    // Longest context first.
    for (j, &node) in state.nodes.iter().enumerate().rev() {
        if j + 1 < n {
            let table = &model.tables[j];
            if let Some(i) = model.tables[j + 1].find(table.children(node), w) {
                prob = Some(backoff + f64::from(model.tables[j + 1].log_prob[i]));
                break;
            }
            backoff += f64::from(table.log_backoff[node]);
        }
    }
    let p = prob.unwrap_or_else(|| backoff + f64::from(model.tables[0].log_prob[w as usize]));
    (p, advance(model, state, w))
}

/// The state after appending `w` to `state`'s context.
pub fn advance(model: &NgramModel, state: &State, w: u32) -> State {
    let n = model.order();
    let mut nodes = Vec::with_capacity(n - 1);
    if n > 1 {
        nodes.push(w as usize);
        for (j, &node) in state.nodes.iter().enumerate() {
            if j + 2 >= n {
                break;
            }
            match model.tables[j + 1].find(model.tables[j].children(node), w) {
                Some(i) => nodes.push(i),
                None => break,
            }
        }
    }
    State { nodes }
}

/// Scores of one line: (log10 prob total, tokens incl. `</s>`, oov count, log10 prob of OOVs).
pub fn score_line(model: &NgramModel, line: &str) -> (f64, u64, u64, f64) {
    let mut state = State::begin();
    let (mut total, mut tokens, mut oov, mut oov_total) = (0.0, 0u64, 0u64, 0.0);
    let words = tokenize::words(line).map(|w| match model.vocab.id_or_unk(w) {
        // A literal <s> or </s> inside a line is not a sentence boundary.
        BOS | EOS => UNK,
        id => id,
    });
    for id in words.chain(std::iter::once(EOS)) {
        let (p, next) = score_word(model, &state, id);
        total += p;
        tokens += 1;
        if id == UNK {
            oov += 1;
            oov_total += p;
        }
        state = next;
    }
    (total, tokens, oov, oov_total)
}

/// Scores every document of a corpus (lines are sentences), in parallel.
pub fn score_corpus(model: &NgramModel, corpus: &Corpus) -> Scores {
    let docs = corpus
        .docs
        .par_iter()
        .map(|d| {
            let mut s = DocScore {
                bytes: d.text.len() as u64,
                ..Default::default()
            };
            for line in d.lines() {
                let (lp, tokens, oov, oov_lp) = score_line(model, line);
                s.logprob += lp * LN_10;
                s.tokens += tokens;
                s.oov += oov;
                s.oov_logprob += oov_lp * LN_10;
                s.words += tokens - 1;
            }
            s
        })
        .collect();
    Scores { docs }
}

/// KenLM `query`'s summary of a text file (a line is a sentence).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QuerySummary {
    pub perplexity_including_oovs: f64,
    pub perplexity_excluding_oovs: f64,
    pub oovs: u64,
    /// Predicted tokens, `</s>` included (KenLM's "Tokens").
    pub tokens: u64,
}

/// Scores sentences like `query -v summary`.
pub fn summarize<'a>(
    model: &NgramModel,
    lines: impl ParallelIterator<Item = &'a str>,
) -> QuerySummary {
    let (total, tokens, oov, oov_total) = lines
        .filter(|l| tokenize::words(l).next().is_some())
        .map(|l| score_line(model, l))
        .reduce(
            || (0.0, 0, 0, 0.0),
            |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3),
        );
    QuerySummary {
        perplexity_including_oovs: 10f64.powf(-total / tokens as f64),
        perplexity_excluding_oovs: 10f64.powf(-(total - oov_total) / (tokens - oov) as f64),
        oovs: oov,
        tokens,
    }
}
