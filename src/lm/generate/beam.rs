//! Beam search, step for step as `transformers` 5.x `GenerationMixin._beam_search` with
//! `do_sample=False` for a decoder-only model (checked token for token against it by
//! `tests/it/gpt_generate.rs`).
//!
//! Per step and prompt, with k beams: log-softmax of each beam's last logits; the repetition
//! penalty on those *log-probabilities* (transformers applies its logits processors after the
//! log-softmax in beam search: a seen token's log-prob, being negative, is multiplied by r);
//! add the beam's running score; the top 2k of all k × vocab candidates. Candidates that end
//! (EOS, or the last allowed token) compete for the k finished slots, scored
//! `sum_logprobs / generated_len ** length_penalty`, where `generated_len` counts the new
//! tokens including the EOS; only candidates among the top k may finish. The best k
//! candidates that did not end run on. A prompt is done when no running beam can beat the
//! worst finished one (the `early_stopping=False` heuristic: best running score over the
//! current generated length), when all k slots are full and `early_stopping` is set, or at the
//! length limit. The answer is the best finished hypothesis.
//!
//! Scores are f32 and the masks are transformers' `-1e9` additions, so ties and rounding fall
//! as they do there.

use super::{check_prompts, prefill, step};
use crate::error::{Error, Result};
use crate::lm::CausalLm;
use candle_core::Tensor;
use std::collections::BTreeMap;

/// `transformers.generate(num_beams=…, do_sample=False, …)` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct BeamConfig {
    pub num_beams: usize,
    pub max_new_tokens: usize,
    /// Exponent of the generated length that finished scores are divided by (1.0: mean
    /// log-prob per token; > 1 favours longer, < 1 shorter hypotheses).
    pub length_penalty: f64,
    /// CTRL penalty (Keskar et al. 2019) on tokens already in the sequence, prompt included;
    /// 1.0 is none.
    pub repetition_penalty: f64,
    /// Stop as soon as `num_beams` hypotheses have finished (transformers' `True`); `false`
    /// is transformers' default heuristic.
    pub early_stopping: bool,
    pub eos: Option<u32>,
}

impl BeamConfig {
    fn check(&self) -> Result<()> {
        if self.num_beams == 0 {
            return Err(Error::invalid(
                "beam search with 0 beams",
                "use num_beams >= 1",
            ));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(Error::invalid(
                format!("repetition penalty {} is not > 0", self.repetition_penalty),
                "use a repetition penalty such as 1.2 (1.0 for none)",
            ));
        }
        if !self.length_penalty.is_finite() {
            return Err(Error::invalid(
                "length penalty is not a number",
                "use e.g. 1.0",
            ));
        }
        Ok(())
    }
}

const MASK: f32 = -1.0e9;

/// One prompt's search.
struct Search {
    prompt: Vec<u32>,
    /// Running beams: generated tokens and summed log-probs (beams 1.. start at -1e9 so the
    /// first step only expands beam 0).
    running: Vec<(Vec<u32>, f32)>,
    /// The k finished slots: score, generated tokens, whether it is a real hypothesis.
    finished: Vec<(f32, Vec<u32>, bool)>,
    improvable: bool,
    done: bool,
}

/// The new tokens of the best beam-search hypothesis for `prompt`.
pub fn beam_search(model: &impl CausalLm, prompt: &[u32], cfg: &BeamConfig) -> Result<Vec<u32>> {
    let mut out = beam_search_batch(model, &[prompt.to_vec()], cfg)?;
    Ok(out.pop().unwrap_or_default())
}

/// [`beam_search`] for many prompts, those of equal length in one batch (k rows each).
pub fn beam_search_batch(
    model: &impl CausalLm,
    prompts: &[Vec<u32>],
    cfg: &BeamConfig,
) -> Result<Vec<Vec<u32>>> {
    cfg.check()?;
    check_prompts(model, prompts)?;
    let mut outs = vec![Vec::new(); prompts.len()];
    if cfg.max_new_tokens == 0 {
        return Ok(outs);
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in prompts.iter().enumerate() {
        groups.entry(p.len()).or_default().push(i);
    }
    for rows in groups.values() {
        let group: Vec<Vec<u32>> = rows.iter().map(|&i| prompts[i].clone()).collect();
        for (&i, out) in rows.iter().zip(search_group(model, group, cfg)?) {
            outs[i] = out;
        }
    }
    Ok(outs)
}

fn search_group(
    model: &impl CausalLm,
    prompts: Vec<Vec<u32>>,
    cfg: &BeamConfig,
) -> Result<Vec<Vec<u32>>> {
    let k = cfg.num_beams;
    let dev = model.device().clone();
    let (mut cache, first) = prefill(model, &prompts, model.n_positions())?;
    // Every beam starts as a copy of its prompt's row.
    let dup: Vec<u32> = (0..prompts.len() as u32)
        .flat_map(|p| std::iter::repeat_n(p, k))
        .collect();
    cache.select_rows(&Tensor::new(dup.as_slice(), &dev)?)?;
    let mut logits: Vec<Vec<f32>> = dup.iter().map(|&p| first[p as usize].clone()).collect();
    let mut searches: Vec<Search> = prompts
        .into_iter()
        .map(|prompt| Search {
            prompt,
            running: (0..k)
                .map(|b| (Vec::new(), if b == 0 { 0.0 } else { MASK }))
                .collect(),
            finished: vec![(MASK, Vec::new(), false); k],
            improvable: true,
            done: false,
        })
        .collect();
    // Cache rows hold the running beams of `live` searches, k rows each, in order.
    let mut live: Vec<usize> = (0..searches.len()).collect();
    while !live.is_empty() {
        let (mut rows, mut tokens, mut still) = (Vec::new(), Vec::new(), Vec::new());
        for (slot, &s) in live.iter().enumerate() {
            let beams = &logits[slot * k..(slot + 1) * k];
            let sources = advance(&mut searches[s], beams, cfg);
            if !searches[s].done {
                rows.extend(sources.iter().map(|&b| (slot * k + b) as u32));
                tokens.extend(
                    searches[s]
                        .running
                        .iter()
                        .map(|(seq, _)| seq[seq.len() - 1]),
                );
                still.push(s);
            }
        }
        live = still;
        if live.is_empty() {
            break;
        }
        cache.select_rows(&Tensor::new(rows.as_slice(), &dev)?)?;
        let hist = || {
            live.iter()
                .flat_map(|&s| {
                    let sr = &searches[s];
                    sr.running
                        .iter()
                        .map(|(seq, _)| [sr.prompt.as_slice(), seq].concat())
                })
                .collect()
        };
        logits = step(model, &mut cache, &tokens, hist)?;
    }
    Ok(searches
        .into_iter()
        .map(|s| {
            s.finished
                .into_iter()
                .next()
                .map(|f| f.1)
                .unwrap_or_default()
        })
        .collect())
}

/// The top `n` of `scores` by value, ties to the lower index; sorted best first.
fn top(scores: &[f32], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let cmp = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    let n = n.min(idx.len());
    if n < idx.len() {
        idx.select_nth_unstable_by(n, cmp);
        idx.truncate(n);
    }
    idx.sort_by(cmp);
    idx
}

/// One step of one search given its beams' logits; returns, per new running beam, the old
/// beam it continues (the cache rows to keep).
fn advance(s: &mut Search, beams: &[Vec<f32>], cfg: &BeamConfig) -> Vec<usize> {
    let k = cfg.num_beams;
    let v = beams[0].len();
    let generated = s.running[0].0.len();
    // (k * v) accumulated scores: log-softmax, repetition penalty, plus the running score.
    let mut acc = Vec::with_capacity(k * v);
    for (b, row) in beams.iter().enumerate() {
        let mut lp = log_softmax(row);
        if cfg.repetition_penalty != 1.0 {
            let r = cfg.repetition_penalty as f32;
            let mut seen: Vec<u32> = s.prompt.iter().chain(&s.running[b].0).copied().collect();
            seen.sort_unstable();
            seen.dedup();
            for &t in seen.iter().filter(|&&t| (t as usize) < v) {
                let x = &mut lp[t as usize];
                *x = if *x < 0.0 { *x * r } else { *x / r };
            }
        }
        let run = s.running[b].1;
        acc.extend(lp.into_iter().map(|x| x + run));
    }
    let cand = top(&acc, 2 * k);
    let ends: Vec<bool> = cand
        .iter()
        .map(|&c| cfg.eos == Some((c % v) as u32) || generated + 1 >= cfg.max_new_tokens)
        .collect();
    let seq = |c: usize| [s.running[c / v].0.as_slice(), &[(c % v) as u32]].concat();

    // Running beams for the next step: the best k candidates that did not end.
    let run_scores: Vec<f32> = cand
        .iter()
        .zip(&ends)
        .map(|(&c, &e)| if e { acc[c] + MASK } else { acc[c] })
        .collect();
    let next = top(&run_scores, k);
    let sources: Vec<usize> = next.iter().map(|&j| cand[j] / v).collect();
    let running: Vec<(Vec<u32>, f32)> = next
        .iter()
        .map(|&j| (seq(cand[j]), run_scores[j]))
        .collect();

    // Finished slots: the old ones and the candidates, the best k kept.
    let full = cfg.early_stopping && s.finished.iter().all(|f| f.2);
    let denom = ((generated + 1) as f64).powf(cfg.length_penalty) as f32;
    let mut merged: Vec<(f32, Vec<u32>, bool)> = std::mem::take(&mut s.finished);
    for (j, &c) in cand.iter().enumerate() {
        let did = ends[j] && j < k;
        let mut score = acc[c] / denom;
        for mask in [full, !s.improvable, !did] {
            if mask {
                score += MASK;
            }
        }
        merged.push((score, seq(c), did));
    }
    let scores: Vec<f32> = merged.iter().map(|m| m.0).collect();
    let keep = top(&scores, k);
    let mut slots: Vec<Option<(f32, Vec<u32>, bool)>> = merged.into_iter().map(Some).collect();
    s.finished = keep.iter().filter_map(|&i| slots[i].take()).collect();
    s.running = running;

    // Can a running beam still beat the worst finished one? (score over current length)
    let best = s.running[0].1 / ((generated + 1) as f64).powf(cfg.length_penalty) as f32;
    let worst = s.finished.iter().map(|f| f.0).fold(f32::INFINITY, f32::min);
    s.improvable = s.improvable
        && s.finished
            .iter()
            .any(|f| best > if f.2 { worst } else { MASK });
    let all_finished = s.finished.iter().all(|f| f.2);
    s.done = !s.improvable || (all_finished && cfg.early_stopping) || ends.iter().all(|&e| e);
    sources
}

/// log_softmax in f32, as torch computes it (x - max - log Σ exp(x - max)).
fn log_softmax(xs: &[f32]) -> Vec<f32> {
    let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let z: f64 = xs.iter().map(|&x| f64::from(x - m).exp()).sum();
    let lz = z.ln() as f32;
    xs.iter().map(|&x| x - m - lz).collect()
}
