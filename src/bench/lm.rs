//! What the GPT-2 and OPT speed benches share: thread setup, random token blocks, the timed
//! training loop, timed runs, and the side-by-side comparison with `scripts/bench_torch.py`.
//!
//! Why one place: the two benches must time exactly the same things (forward, backward,
//! clipping, AdamW; steady state after warmup) and parse the torch script the same way, or
//! their ratios would not be comparable with each other.

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor, Var};
use collapse_lab::lm::layers::Dropout;
use collapse_lab::lm::params::{decays, Params};
use collapse_lab::lm::CausalLm;
use collapse_lab::nn::adamw::{grad_norm, AdamW, AdamWConfig};
use collapse_lab::rng::Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Sets the thread count before anything starts rayon: candle's matmul reads
/// RAYON_NUM_THREADS on every call, the rest of candle uses the global pool.
pub fn init_threads(threads: Option<usize>) -> Result<usize> {
    if let Some(t) = threads {
        std::env::set_var("RAYON_NUM_THREADS", t.to_string());
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("setting the thread count")?;
    }
    Ok(rayon::current_num_threads())
}

/// Random token ids (rows, cols) in [0, vocab), on `dev`.
pub fn random_ids_on(
    rng: &mut Rng,
    rows: usize,
    cols: usize,
    vocab: usize,
    dev: &Device,
) -> Result<Tensor> {
    let v: Vec<u32> = (0..rows * cols)
        .map(|_| rng.below(vocab as u64) as u32)
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), dev)?)
}

/// Random prompts: `rows` of `len` ids in [0, vocab).
pub fn random_prompts(rng: &mut Rng, rows: usize, len: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..rows)
        .map(|_| (0..len).map(|_| rng.below(vocab as u64) as u32).collect())
        .collect()
}

/// Milliseconds, mean over the timed steps.
pub fn ms(total_s: f64, n: usize) -> f64 {
    1000.0 * total_s / n.max(1) as f64
}

/// What one training bench times: `steps` steps after `warmup` untimed ones, each on a fresh
/// random (batch, context + 1) block.
pub struct TrainShape {
    pub batch: usize,
    pub context: usize,
    pub vocab: usize,
    pub steps: usize,
    pub warmup: usize,
    pub seed: u64,
}

/// Times forward (loss), backward, and clip + AdamW (the chain's settings: clip 1.0, decay on
/// 2-D weights, lr 3e-4), prints the breakdown and the losses; returns training tokens/s.
/// With `dropout`, the model's dropout is applied (its own probabilities).
pub fn time_train(
    model: &impl CausalLm,
    params: &Params,
    s: &TrainShape,
    label: &str,
    dropout: bool,
) -> Result<f64> {
    let vars: Vec<Var> = params.vars.values().cloned().collect();
    let mut opt = AdamW::new(
        params
            .vars
            .iter()
            .map(|(n, v)| (n.clone(), v.clone(), decays(n, v.dims())))
            .collect(),
        AdamWConfig::default(),
    )?;
    let mut rng = Rng::derive(s.seed, label, 0);
    let mut drop_rng = Rng::derive(s.seed, label, 1);
    let (mut fwd, mut bwd, mut optim) = (0f64, 0f64, 0f64);
    let mut losses = Vec::new();
    // On a GPU, work is queued: each timer waits for it first.
    let dev = model.device().clone();
    let now = || -> Result<Instant> {
        dev.synchronize()?;
        Ok(Instant::now())
    };
    for step in 0..s.warmup + s.steps {
        let blocks = random_ids_on(&mut rng, s.batch, s.context + 1, s.vocab, &dev)?; // (b, t+1)
        let t0 = now()?;
        let drop = dropout.then_some(Dropout { rng: &mut drop_rng });
        let loss = model.block_loss(&blocks, drop)?;
        let t1 = now()?;
        let grads = collapse_lab::nn::grad_sink::backward(&loss)?;
        let t2 = now()?;
        let (_, clip) = grad_norm(&grads, &vars, 1.0)?;
        opt.step_clipped(&grads, 3e-4, clip)?;
        let t3 = now()?;
        losses.push(loss.to_scalar::<f32>()?);
        if step >= s.warmup {
            fwd += (t1 - t0).as_secs_f64();
            bwd += (t2 - t1).as_secs_f64();
            optim += (t3 - t2).as_secs_f64();
        }
    }
    let total = fwd + bwd + optim;
    let n = s.steps;
    println!(
        "steps: {n} after {} warmup, batch {} x {}: {:.1} ms/step (forward {:.1}, backward {:.1}, clip+AdamW {:.1})",
        s.warmup,
        s.batch,
        s.context,
        ms(total, n),
        ms(fwd, n),
        ms(bwd, n),
        ms(optim, n)
    );
    println!(
        "loss {:.4} -> {:.4}",
        losses[0],
        losses.last().copied().unwrap_or(f32::NAN)
    );
    Ok((s.batch * s.context * n) as f64 / total)
}

/// Seconds spent in the last `steps` of `warmup + steps` calls of `run` (the warmup calls are
/// not timed).
pub fn time_runs(warmup: usize, steps: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut total = 0f64;
    for i in 0..warmup + steps {
        let t0 = Instant::now();
        run()?;
        if i >= warmup {
            total += t0.elapsed().as_secs_f64();
        }
    }
    Ok(total)
}

/// Runs `scripts/bench_torch.py MODE FLAGS` with `python` (when given) and prints, for each
/// measure in `ours`, the torch figure and the ratio ours/torch. A measure named `""` is the
/// script's last line, `tokens/s: N`; a named one its line `NAME tokens/s: N`.
pub fn compare(
    python: Option<&PathBuf>,
    mode: &str,
    flags: &[String],
    ours: &[(&str, f64)],
) -> Result<()> {
    let Some(python) = python else {
        return Ok(());
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_torch.py");
    println!(
        "torch: {} {} {mode} {}",
        python.display(),
        script.display(),
        flags.join(" ")
    );
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(mode)
        .args(flags)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    for line in stdout.lines() {
        println!("  torch | {line}");
    }
    for &(name, mine) in ours {
        let prefix = match name {
            "" => "tokens/s: ".to_string(),
            _ => format!("{name} tokens/s: "),
        };
        let found = match name {
            "" => stdout.lines().last(),
            _ => stdout.lines().find(|l| l.starts_with(&prefix)),
        };
        let theirs: f64 = found
            .and_then(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| format!("the torch script printed no line `{prefix}N`"))?;
        if name.is_empty() {
            println!("ours {mine:.0} tokens/s, torch {theirs:.0} tokens/s");
            println!("ratio ours/torch: {:.2}", mine / theirs);
        } else {
            println!(
                "{name}: ours {mine:.0} tokens/s, torch {theirs:.0} tokens/s, ratio ours/torch {:.2}",
                mine / theirs
            );
        }
    }
    Ok(())
}

/// `--flag value` pairs as command-line words.
pub fn flag_words<V: ToString>(pairs: impl IntoIterator<Item = (&'static str, V)>) -> Vec<String> {
    pairs
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v.to_string()])
        .collect()
}
