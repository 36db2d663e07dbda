//! Text generation with the KV cache: sampling (temperature, top-k, top-p, greedy) and beam
//! search, as `transformers.generate` does them.
//!
//! Decisions shared by both:
//! - Only the new tokens are returned. A row that produces its stop (EOS) token ends there and
//!   its output *includes* that token, as `transformers` outputs do: the caller can tell a
//!   finished document from one cut by the length limit.
//! - Rows are batched when their prompts have equal length (no padding, so no attention mask
//!   and no position offsets to get wrong); [`sample`] groups its prompts by length itself.
//!   Finished rows leave the batch (their cache rows are dropped), so a batch gets cheaper as
//!   it finishes.
//! - The model sees at most `n_positions` tokens. A prompt longer than that is cut to its last
//!   `n_positions` tokens; when a new token no longer fits, the context slides: the cache is
//!   rebuilt from the last `n_positions / 2` tokens (the new one included) and generation goes
//!   on. Halving makes a rebuild happen once every `n_positions / 2` tokens, not at every token.
//!   Within the context, results are exactly those of a full forward pass.
//! - Sampling is on the CPU from the last position's logits, with [`Rng`] only: the same seed
//!   gives the same tokens. Each prompt gets its own stream, drawn from the caller's generator
//!   in prompt order, so a row's tokens do not depend on which other rows share its batch.

use crate::error::{Error, Result};
use crate::lm::layers::KvCache;
use crate::lm::CausalLm;
use crate::rng::Rng;
use candle_core::{DType, Tensor};
use std::collections::BTreeMap;

mod beam;
pub mod corpus;
pub use beam::{beam_search, beam_search_batch, BeamConfig};

/// How to pick each next token.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleConfig {
    /// Logits are divided by it; 0 means greedy (the most likely token, the lowest id on ties).
    pub temperature: f64,
    /// Keep only the k most likely tokens (all tokens tied with the k-th are kept).
    pub top_k: Option<usize>,
    /// Nucleus: keep the smallest set of most likely tokens whose probability is at least p.
    pub top_p: Option<f64>,
}

impl SampleConfig {
    /// Plain ancestral sampling: temperature 1, no truncation.
    pub fn plain() -> Self {
        SampleConfig {
            temperature: 1.0,
            top_k: None,
            top_p: None,
        }
    }

    /// Always the most likely token.
    pub fn greedy() -> Self {
        SampleConfig {
            temperature: 0.0,
            ..Self::plain()
        }
    }

    fn check(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::invalid(
                format!("temperature {} is not a number >= 0", self.temperature),
                "use a temperature such as 1.0 (0 for greedy)",
            ));
        }
        if self.top_k == Some(0) {
            return Err(Error::invalid(
                "top-k 0 keeps no token",
                "use top-k >= 1, or none",
            ));
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(Error::invalid(
                    format!("top-p {p} is not in (0, 1]"),
                    "use a top-p such as 0.9, or none",
                ));
            }
        }
        Ok(())
    }
}

/// Continues every prompt by up to `max_new` tokens; returns the new tokens per prompt, in
/// prompt order. A row stops early at `stop` (included in its output). Prompts of equal
/// length run as one batch: the caller bounds the batch size by what it passes.
pub fn sample(
    model: &impl CausalLm,
    prompts: &[Vec<u32>],
    max_new: usize,
    stop: Option<u32>,
    cfg: &SampleConfig,
    rng: &mut Rng,
) -> Result<Vec<Vec<u32>>> {
    cfg.check()?;
    check_prompts(model, prompts)?;
    let mut rngs: Vec<Rng> = prompts.iter().map(|_| Rng::new(rng.next_u64())).collect();
    let mut outs = vec![Vec::new(); prompts.len()];
    if max_new == 0 {
        return Ok(outs);
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in prompts.iter().enumerate() {
        groups.entry(p.len()).or_default().push(i);
    }
    for rows in groups.values() {
        // Full histories (prompt + new tokens): what a slide rebuilds the context from.
        let mut hist: Vec<Vec<u32>> = rows.iter().map(|&i| prompts[i].clone()).collect();
        let (mut cache, mut logits) = prefill(model, &hist, model.n_positions())?;
        let mut active: Vec<usize> = (0..rows.len()).collect(); // cache row r is hist[active[r]]
        loop {
            let (mut next, mut keep, mut still) = (Vec::new(), Vec::new(), Vec::new());
            for (r, &a) in active.iter().enumerate() {
                let i = rows[a];
                let tok = pick(&logits[r], cfg, &mut rngs[i]);
                outs[i].push(tok);
                hist[a].push(tok);
                if Some(tok) != stop && outs[i].len() < max_new {
                    next.push(tok);
                    keep.push(r as u32);
                    still.push(a);
                }
            }
            if still.is_empty() {
                break;
            }
            if still.len() < active.len() {
                cache.select_rows(&Tensor::new(keep, model.device())?)?;
            }
            active = still;
            let h = || active.iter().map(|&a| hist[a].clone()).collect();
            logits = step(model, &mut cache, &next, h)?;
        }
    }
    Ok(outs)
}

/// Every prompt needs a token to condition on, and ids the model has.
pub(crate) fn check_prompts(model: &impl CausalLm, prompts: &[Vec<u32>]) -> Result<()> {
    let vocab = model.vocab_size();
    for (i, p) in prompts.iter().enumerate() {
        if p.is_empty() {
            return Err(Error::invalid(
                format!("prompt {i} is empty"),
                "start each prompt with at least one token (e.g. the end-of-text token)",
            ));
        }
        if let Some(&t) = p.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::invalid(
                format!("prompt {i} has token id {t}, the model's vocabulary is {vocab}"),
                "encode prompts with the model's own tokenizer",
            ));
        }
    }
    Ok(())
}

/// Runs equal-length sequences, each cut to its last `keep` tokens, from an empty cache;
/// returns the cache and the last position's logits per row.
pub(crate) fn prefill(
    model: &impl CausalLm,
    seqs: &[impl AsRef<[u32]>],
    keep: usize,
) -> Result<(KvCache, Vec<Vec<f32>>)> {
    let t = seqs[0].as_ref().len().min(keep);
    let flat: Vec<u32> = seqs
        .iter()
        .flat_map(|s| {
            let s = s.as_ref();
            s[s.len() - t..].iter().copied()
        })
        .collect();
    let ids = Tensor::from_vec(flat, (seqs.len(), t), model.device())?; // (b, t)
    let mut cache = KvCache::new(model.n_layer());
    let logits = model.last_logits(&ids, Some(&mut cache))?; // (b, v)
    Ok((cache, rows(&logits)?))
}

/// Feeds one new token per row and returns the next logits per row. When the context is
/// full it slides instead: `hist()` gives every row's full history (the new token last), only
/// then built.
pub(crate) fn step(
    model: &impl CausalLm,
    cache: &mut KvCache,
    tokens: &[u32],
    hist: impl FnOnce() -> Vec<Vec<u32>>,
) -> Result<Vec<Vec<f32>>> {
    let n = model.n_positions();
    if cache.len + 1 > n {
        let (c, logits) = prefill(model, &hist(), (n / 2).max(1))?;
        *cache = c;
        return Ok(logits);
    }
    let ids = Tensor::from_vec(tokens.to_vec(), (tokens.len(), 1), model.device())?; // (b, 1)
    rows(&model.last_logits(&ids, Some(cache))?) // (b, v)
}

/// Logits (b, v) as b rows of f32 on the CPU.
fn rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(logits.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}

/// The index of the largest value, the first one on ties (torch.argmax); NaN never wins.
pub(crate) fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] || xs[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// One token from one row of logits: temperature, then top-k, then top-p, as transformers'
/// `TemperatureLogitsWarper`, `TopKLogitsWarper` and `TopPLogitsWarper` do, then a draw.
fn pick(logits: &[f32], cfg: &SampleConfig, rng: &mut Rng) -> u32 {
    if cfg.temperature == 0.0 {
        return argmax(logits);
    }
    let mut s: Vec<f64> = logits
        .iter()
        .map(|&l| f64::from(l) / cfg.temperature)
        .collect();
    if let Some(k) = cfg.top_k.filter(|&k| k < s.len()) {
        // Keep everything at least as large as the k-th largest (ties with it survive).
        let mut sorted = s.clone();
        sorted.sort_unstable_by(|a, b| b.total_cmp(a));
        let kth = sorted[k - 1];
        for x in &mut s {
            if *x < kth {
                *x = f64::NEG_INFINITY;
            }
        }
    }
    if let Some(p) = cfg.top_p.filter(|&p| p < 1.0) {
        // Ascending order; drop the low tail whose cumulative probability is <= 1 - p,
        // always keeping the most likely token.
        let mut order: Vec<usize> = (0..s.len()).collect();
        order.sort_by(|&a, &b| s[a].total_cmp(&s[b]).then(a.cmp(&b)));
        let probs = softmax(&s);
        let mut cum = 0.0;
        for &i in &order[..order.len() - 1] {
            cum += probs[i];
            if cum <= 1.0 - p {
                s[i] = f64::NEG_INFINITY;
            }
        }
    }
    let probs = softmax(&s);
    let u = rng.next_f64();
    let mut cum = 0.0;
    let mut last = None;
    for (i, &q) in probs.iter().enumerate() {
        if q > 0.0 {
            cum += q;
            last = Some(i);
            if u < cum {
                return i as u32;
            }
        }
    }
    // Rounding left `cum` just below 1, or the logits were not numbers.
    last.map_or_else(|| argmax(logits), |i| i as u32)
}

fn softmax(s: &[f64]) -> Vec<f64> {
    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|&x| (x - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.into_iter().map(|x| x / z).collect()
}

#[cfg(test)]
mod tests;
