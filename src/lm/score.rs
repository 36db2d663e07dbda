//! Scoring text with a GPT: the log-likelihood of every token of every document.
//!
//! Protocol (stated in `docs/metrics.md`): a document's tokens are preceded by the
//! end-of-text token and cut into consecutive, non-overlapping windows of at most
//! `n_positions + 1` tokens; each window is scored on its own, predicting all of its tokens but
//! the first. Every document token is predicted exactly once (the end-of-text token after the
//! document is not), the first tokens of a window with less context than the last ones: the
//! standard non-overlapping evaluation of lm-evaluation-harness's rolling log-likelihood
//! without overlap. The counts in [`DocScore`] let `eval::perplexity` turn the sums into
//! token perplexity, word perplexity and bits per byte.

use super::data::Blocks;
use super::tokenizer::Bpe;
use super::CausalLm;
use crate::corpus::Corpus;
use crate::error::Result;
use crate::metrics::{DocScore, Scores};
use crate::nn::ops;
use candle_core::Tensor;

/// Windows scored per forward pass.
const BATCH: usize = 16;

/// Scores every document of `corpus` in windows of up to `window` + 1 tokens (see the module
/// docs for the protocol; `window` is at most the model's context).
pub fn score_corpus(
    model: &impl CausalLm,
    tok: &Bpe,
    corpus: &Corpus,
    window: usize,
) -> Result<Scores> {
    let texts: Vec<&str> = corpus.docs.iter().map(|d| d.text.as_str()).collect();
    let ids = tok.encode_docs(&texts)?;
    let ctx = window.clamp(1, model.n_positions());
    let mut windows: Vec<(usize, Vec<u32>)> = Vec::new(); // (doc, ids)
    for (d, doc) in ids.iter().enumerate() {
        let mut seq = Vec::with_capacity(doc.len() + 1);
        seq.push(tok.bos());
        seq.extend_from_slice(doc);
        let mut start = 0;
        while start + 1 < seq.len() {
            let end = (start + ctx + 1).min(seq.len());
            windows.push((d, seq[start..end].to_vec()));
            start = end - 1;
        }
    }
    // Equal lengths batch together; most windows are full.
    windows.sort_by_key(|(d, w)| (std::cmp::Reverse(w.len()), *d));
    let mut docs: Vec<DocScore> = corpus
        .docs
        .iter()
        .zip(&ids)
        .map(|(doc, t)| DocScore {
            tokens: t.len() as u64,
            words: doc.words() as u64,
            bytes: doc.text.len() as u64,
            ..DocScore::default()
        })
        .collect();
    let bar = crate::progress::bar(windows.len() as u64, "scoring", "windows");
    let mut i = 0;
    while i < windows.len() {
        let len = windows[i].1.len();
        let j = (i..windows.len().min(i + BATCH))
            .take_while(|&k| windows[k].1.len() == len)
            .last()
            .unwrap_or(i)
            + 1;
        let rows: Vec<u32> = windows[i..j]
            .iter()
            .flat_map(|(_, w)| w.iter().copied())
            .collect();
        let x = Tensor::from_vec(rows, (j - i, len), model.device())?; // (b, len)
        let input = x.narrow(1, 0, len - 1)?;
        let target = x.narrow(1, 1, len - 1)?.flatten_all()?;
        let logits = model.forward(&input, None, None)?.flatten_to(1)?; // (b*(len-1), v)
        let lp = ops::target_logprobs(&logits, &target)?.reshape((j - i, len - 1))?;
        let sums = lp
            .to_dtype(candle_core::DType::F64)?
            .sum(1)?
            .to_vec1::<f64>()?;
        for ((d, _), s) in windows[i..j].iter().zip(sums) {
            docs[*d].logprob += s;
        }
        bar.inc((j - i) as u64);
        i = j;
    }
    bar.finish_and_clear();
    Ok(Scores { docs })
}

/// Shumailov et al.'s test perplexity (the `transformers` Trainer's): `bos` before each
/// document, the stream cut into disjoint `block`-token blocks ([`Blocks::grouped`]), and
/// `exp` of the mean batch loss over batches of `batch` blocks, each weighted by its size as
/// the Trainer does (`None` when the text has no full block). Not the same
/// number as [`score_corpus`]'s: each block's first token is not predicted, and tokens early
/// in a block see little context.
pub fn block_perplexity(
    model: &impl CausalLm,
    tok: &Bpe,
    corpus: &Corpus,
    bos: u32,
    block: usize,
    batch: usize,
) -> Result<Option<f64>> {
    let texts: Vec<&str> = corpus.docs.iter().map(|d| d.text.as_str()).collect();
    let blocks = Blocks::grouped(&tok.encode_docs(&texts)?, bos, block, 0.0, 0);
    if blocks.train.is_empty() {
        return Ok(None);
    }
    let bar = crate::progress::bar(blocks.train.len() as u64, "block perplexity", "blocks");
    let mut losses = Vec::new();
    for chunk in blocks.train.chunks(batch.max(1)) {
        let rows: Vec<u32> = chunk
            .iter()
            .flat_map(|&i| blocks.block(i).to_vec())
            .collect();
        let x = Tensor::from_vec(rows, (chunk.len(), block), model.device())?; // (b, block)
        let loss = model
            .block_loss(&x, None)?
            .to_dtype(candle_core::DType::F64)?;
        losses.push(loss.to_scalar::<f64>()? * chunk.len() as f64);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(Some(
        (losses.iter().sum::<f64>() / blocks.train.len() as f64).exp(),
    ))
}
