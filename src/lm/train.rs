//! The training loop: AdamW with warmup and cosine decay, gradient clipping and accumulation,
//! periodic validation keeping the best weights, and checkpoints a killed run resumes from.
//!
//! Resuming is exact: a checkpoint holds the weights, AdamW's moments, the step, the dropout
//! generator's state, the best weights so far and the log; the data order is a pure function
//! of (seed, epoch). A run killed at any point and rerun ends at the same weights as an
//! uninterrupted one (on CPU, with the same thread count). A checkpoint is written to a
//! temporary folder and swapped in, so a crash mid-write leaves the previous one intact.

use super::data::{Blocks, EpochOrder};
use super::layers::Dropout;
use super::params::{self, Params};
use super::settings::GptSettings;
use super::{Arch, CausalLm};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::nn::adamw::{grad_norm, warmup_cosine, AdamW};
use crate::nn::precision::Autocast;
use crate::rng::Rng;
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One line of the training log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub step: u64,
    pub lr: f64,
    pub train_loss: f32,
    pub grad_norm: f64,
    pub valid_loss: Option<f32>,
}

/// What a training run did; saved as `train_log.json` beside the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    pub total_steps: u64,
    pub steps_done: u64,
    pub train_blocks: usize,
    pub valid_blocks: usize,
    pub tokens_per_step: usize,
    pub best_step: Option<u64>,
    pub best_valid_loss: Option<f32>,
    /// Steps at which this run was resumed from a checkpoint.
    pub resumed_at: Vec<u64>,
    pub history: Vec<LogEntry>,
    /// Where it trained: `cpu`, or the GPU with its compute capability and memory
    /// ([`crate::lm::device::describe`]); empty in logs written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
    /// `fp32`, or `bf16` with its kernel ([`crate::nn::precision::Precision::describe`]); empty in older logs (fp32).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub precision: String,
}

/// Resumable state beside the checkpoint's tensors.
#[derive(Serialize, Deserialize)]
struct State {
    step: u64,
    dropout_rng: [u64; 4],
    log: TrainLog,
}

/// Where and how one model is trained.
pub struct TrainJob<'a, A: Arch> {
    pub cfg: &'a A,
    pub settings: &'a GptSettings,
    pub seed: u64,
    /// Folder for resumable state (`None`: no checkpoints, e.g. benchmarks and tests).
    pub dir: Option<&'a Path>,
    /// Progress bar label.
    pub label: &'a str,
    /// Stop (with a checkpoint) after this many steps, to train in slices; a later call
    /// resumes. `None`: train to the end.
    pub stop_at: Option<u64>,
}

impl<A: Arch> TrainJob<'_, A> {
    fn state_dir(&self) -> Option<PathBuf> {
        self.dir.map(|d| d.join("train-state"))
    }

    /// Steps for the configured epochs over `n_train` blocks (at least one).
    pub fn total_steps(&self, n_train: usize) -> u64 {
        let s = self.settings;
        let steps = (s.epochs * n_train as f64 / s.batch_size as f64)
            .ceil()
            .max(1.0) as u64;
        s.max_steps.map_or(steps, |m| steps.min(m.max(1)))
    }
}

/// Trains `params` in place on `blocks`; returns the log. On return the parameters hold the
/// weights with the best validation loss (the last ones when nothing was held out).
pub fn train<A: Arch>(job: &TrainJob<A>, blocks: &Blocks, params: &mut Params) -> Result<TrainLog> {
    let s = job.settings;
    let _autocast = Autocast::new(s.precision);
    if blocks.train.is_empty() {
        return Err(Error::invalid(
            format!(
                "the training text has {} tokens, fewer than one block of {}",
                blocks.tokens(),
                blocks.len
            ),
            "use a larger corpus or --train-tokens, or a smaller context",
        ));
    }
    if s.micro_batch == 0 || s.batch_size % s.micro_batch != 0 {
        return Err(Error::invalid(
            format!(
                "batch size {} is not a multiple of micro batch {}",
                s.batch_size, s.micro_batch
            ),
            "set batch_size to a multiple of micro_batch",
        ));
    }
    let dev = params
        .vars
        .values()
        .next()
        .expect("parameters")
        .device()
        .clone();
    let model = params.model(job.cfg)?;
    let named: Vec<(String, Var)> = params
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let vars: Vec<Var> = named.iter().map(|(_, v)| v.clone()).collect();
    let groups = named
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), params::decays(k, v.dims())))
        .collect();
    let mut opt = AdamW::new(groups, s.adamw.clone())?;
    let total = job.total_steps(blocks.train.len());
    let warmup = ((total as f64 * s.warmup_frac).round() as u64).max(1);
    let min_lr = s.lr * s.min_lr_frac;
    let mut log = TrainLog {
        total_steps: total,
        train_blocks: blocks.train.len(),
        valid_blocks: blocks.valid.len(),
        tokens_per_step: s.batch_size * (blocks.len - 1),
        device: crate::lm::device::describe(&dev),
        precision: s.precision.describe(&dev),
        ..TrainLog::default()
    };
    let mut drop_rng = Rng::derive(job.seed, "gpt-dropout", 0);
    let mut best: Option<Vec<Tensor>> = None;
    let mut step = 0u64;
    if let Some(st) = resume(job, &mut opt, params, &dev, &log)? {
        step = st.step;
        drop_rng = Rng::from_state(st.dropout_rng);
        log = st.log;
        log.resumed_at.push(step);
        if let Some(sd) = job.state_dir().filter(|_| log.best_step.is_some()) {
            best = Some(load_best(&sd, params, &dev)?);
        }
    }

    let bar = crate::progress::bar(total, job.label, "steps");
    bar.set_position(step);
    let (mut order, started, first_step) = (EpochOrder::default(), Instant::now(), step);
    let accum = s.batch_size / s.micro_batch;
    while step < total {
        let lr = warmup_cosine(step, warmup, total, s.lr, min_lr);
        let mut grads: Option<GradStore> = None;
        let mut loss_sum = 0f32;
        for m in 0..accum {
            let first = step * s.batch_size as u64 + (m * s.micro_batch) as u64;
            let rows: Vec<u32> = (0..s.micro_batch as u64)
                .flat_map(|r| {
                    blocks
                        .block(blocks.train_block_at(first + r, job.seed, &mut order))
                        .to_vec()
                })
                .collect();
            let x = Tensor::from_vec(rows, (s.micro_batch, blocks.len), &dev)?; // (mb, t+1)
            let drop = (s.dropout > 0.0).then(|| Dropout { rng: &mut drop_rng });
            let loss = model.block_loss(&x, drop)?;
            let value = loss.to_scalar::<f32>()?;
            if !value.is_finite() {
                return Err(Error::Diverged {
                    step: step + 1,
                    what: format!("loss is {value}"),
                });
            }
            loss_sum += value / accum as f32;
            let g = crate::nn::grad_sink::backward(&(loss / accum as f64)?)?;
            grads = Some(match grads {
                None => g,
                Some(acc) => add_grads(acc, g, &vars)?,
            });
        }
        let grads = grads.expect("at least one micro batch");
        let (grad_norm, clip) = grad_norm(&grads, &vars, s.grad_clip)?;
        if !grad_norm.is_finite() {
            return Err(Error::Diverged {
                step: step + 1,
                what: format!("the gradient norm is {grad_norm}"),
            });
        }
        opt.step_clipped(&grads, lr, clip)?;
        step += 1;
        let mut entry = LogEntry {
            step,
            lr,
            train_loss: loss_sum,
            grad_norm,
            valid_loss: None,
        };
        if step % s.eval_every == 0 || step == total {
            if let Some(v) = valid_loss(&model, blocks, s.micro_batch, &dev)? {
                entry.valid_loss = Some(v);
                if log.best_valid_loss.is_none_or(|b| v < b) {
                    log.best_valid_loss = Some(v);
                    log.best_step = Some(step);
                    let copy = params
                        .vars
                        .values()
                        .map(|v| v.as_tensor().copy())
                        .collect::<candle_core::Result<Vec<_>>>()?;
                    best = Some(copy);
                }
            }
        }
        log.history.push(entry);
        log.steps_done = step;
        let rate = (step - first_step) as f64 * log.tokens_per_step as f64
            / started.elapsed().as_secs_f64();
        bar.set_message(format!(
            "{} loss {loss_sum:.3} lr {lr:.1e} {rate:.0} tok/s",
            job.label
        ));
        bar.set_position(step);
        if job.stop_at == Some(step) && step < total {
            checkpoint(job, &opt, params, best.as_deref(), step, &drop_rng, &log)?;
            bar.finish_and_clear();
            return Ok(log);
        }
        if step % s.checkpoint_every == 0 && step < total {
            checkpoint(job, &opt, params, best.as_deref(), step, &drop_rng, &log)?;
        }
    }
    bar.finish_and_clear();
    if let Some(weights) = best {
        for (var, w) in params.vars.values().zip(weights) {
            var.set(&w)?;
        }
        // Written in place, as an optimiser step writes them.
        crate::nn::precision::forget_frozen_packs();
    }
    Ok(log)
}

/// Best weights so far, inside the resumable state (swapped in with it).
const BEST_FILE: &str = "best.safetensors";

/// Removes the resumable state once the final model is saved.
pub fn clear_state(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("train-state"));
    let _ = std::fs::remove_dir_all(dir.join(".train-state.tmp"));
    let _ = std::fs::remove_dir_all(dir.join(".train-state.old"));
}

fn add_grads(mut acc: GradStore, g: GradStore, vars: &[Var]) -> Result<GradStore> {
    for v in vars {
        if let Some(new) = g.get(v.as_tensor()) {
            let sum = match acc.remove(v.as_tensor()) {
                Some(old) => (old + new)?,
                None => new.clone(),
            };
            acc.insert(v.as_tensor(), sum);
        }
    }
    Ok(acc)
}

/// Mean loss over the validation blocks (`None` when there are none).
fn valid_loss(
    model: &impl CausalLm,
    blocks: &Blocks,
    mb: usize,
    dev: &Device,
) -> Result<Option<f32>> {
    if blocks.valid.is_empty() {
        return Ok(None);
    }
    // The trained variables, but no backward: each product packs only its forward's layout.
    let _forward_only = crate::nn::precision::NoBackward::new();
    let mut sum = 0f64;
    for chunk in blocks.valid.chunks(mb) {
        let rows: Vec<u32> = chunk
            .iter()
            .flat_map(|&i| blocks.block(i).to_vec())
            .collect();
        let x = Tensor::from_vec(rows, (chunk.len(), blocks.len), dev)?;
        sum += model.block_loss(&x, None)?.detach().to_scalar::<f32>()? as f64 * chunk.len() as f64;
    }
    Ok(Some((sum / blocks.valid.len() as f64) as f32))
}

fn checkpoint<A: Arch>(
    job: &TrainJob<A>,
    opt: &AdamW,
    params: &Params,
    best: Option<&[Tensor]>,
    step: u64,
    rng: &Rng,
    log: &TrainLog,
) -> Result<()> {
    let (Some(dir), Some(final_dir)) = (job.dir, job.state_dir()) else {
        return Ok(());
    };
    let tmp = dir.join(".train-state.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    fsutil::create_dir_all(&tmp)?;
    params.save(&tmp.join("model.safetensors"))?;
    opt.save_state(&tmp.join("optimizer.safetensors"))?;
    if let Some(best) = best {
        let named = params.vars.keys().map(String::as_str).zip(best);
        crate::nn::safetensors::save_safetensors(&tmp.join(BEST_FILE), named)?;
    }
    let state = State {
        step,
        dropout_rng: rng.state(),
        log: log.clone(),
    };
    fsutil::write_json(tmp.join("state.json"), &state)?;
    fsutil::write_json(tmp.join("config.json"), job.cfg)?;
    fsutil::write_json(tmp.join("settings.json"), job.settings)?;
    // Swap: the old state goes only after the new one is complete.
    let old = dir.join(".train-state.old");
    let _ = std::fs::remove_dir_all(&old);
    if final_dir.exists() {
        std::fs::rename(&final_dir, &old).map_err(|e| Error::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Loads a checkpoint written for the same job, if any (a crash between the two renames of
/// [`checkpoint`] leaves only `.train-state.old`, which is then used).
fn resume<A: Arch>(
    job: &TrainJob<A>,
    opt: &mut AdamW,
    params: &mut Params,
    dev: &Device,
    fresh: &TrainLog,
) -> Result<Option<State>> {
    let (Some(dir), Some(sd)) = (job.dir, job.state_dir()) else {
        return Ok(None);
    };
    if !sd.join("state.json").exists() {
        let old = dir.join(".train-state.old");
        if !old.join("state.json").exists() {
            return Ok(None);
        }
        // Put it back in place, so the next checkpoint's swap keeps it until the new one is in.
        std::fs::rename(&old, &sd).map_err(|e| Error::io(&sd, e))?;
    }
    let state: State = fsutil::read_json(sd.join("state.json"))?;
    let cfg: A = fsutil::read_json(sd.join("config.json"))?;
    let settings: GptSettings = fsutil::read_json(sd.join("settings.json"))?;
    let same = cfg == *job.cfg
        && settings == *job.settings
        && state.log.total_steps == fresh.total_steps
        && state.log.train_blocks == fresh.train_blocks;
    if !same {
        tracing::warn!(
            "{}: training checkpoint is for other settings; starting over",
            sd.display()
        );
        return Ok(None);
    }
    let loaded = Params::load(
        &sd.join("model.safetensors"),
        job.cfg,
        candle_core::DType::F32,
        dev,
    )?;
    for (name, var) in &params.vars {
        var.set(loaded.vars[name].as_tensor())?;
    }
    opt.load_state(&sd.join("optimizer.safetensors"), dev)?;
    opt.step = state.step;
    tracing::info!("{}: resuming training at step {}", job.label, state.step);
    Ok(Some(state))
}

fn load_best(dir: &Path, params: &Params, dev: &Device) -> Result<Vec<Tensor>> {
    let map = candle_core::safetensors::load(dir.join(BEST_FILE), dev)?;
    params
        .vars
        .keys()
        .map(|k| {
            map.get(k).cloned().ok_or_else(|| {
                Error::invalid(
                    format!("{}: best weights lack `{k}`", dir.join(BEST_FILE).display()),
                    "delete the checkpoint folder to restart this generation",
                )
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod tests;
