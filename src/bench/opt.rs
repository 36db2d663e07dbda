//! `bench opt-train` and `bench opt-generate`: CPU speed of our OPT next to transformers'
//! `OPTForCausalLM`, on facebook/opt-125m's shape (vocab 50272, width 768, 12 layers, 12
//! heads, ffn 3072, 2048 positions), randomly initialised, fp32.
//!
//! Why: the OPT family fine-tunes opt-125m and writes its corpus with it every generation
//! (Shumailov et al. 2024: blocks of 64 tokens, 5-beam search with repetition penalty 1.2),
//! so these are the step times that decide how many generations fit in a day. Random weights
//! and random tokens need no download, and the arithmetic is a real run's.
//!
//! - `opt-train`: forward + loss, backward, clip 1.0 and AdamW on `--batch` random blocks of
//!   `--context` tokens, as `bench gpt-train`; then the eval forward (loss under no grad, what
//!   perplexity scoring runs) on blocks of the same shape. Dropout is 0 unless `--dropout`
//!   (opt-125m's config says 0.1): the timing is of the arithmetic, and both sides agree.
//! - `opt-generate`: `--prompt-len` random prompt tokens continued by exactly `--new-tokens`
//!   (no stop token; transformers gets `min_new_tokens = max_new_tokens`), KV cache, prefill
//!   timed: 5-beam search with repetition penalty 1.2 (tokens/s counts each prompt's new
//!   tokens once, not once per beam), ancestral sampling (temperature 1, top-k 0), greedy.
//!
//! `--compare-torch PYTHON` runs `scripts/bench_torch.py --arch opt` with the same shapes and
//! threads and prints ours, torch's and the ratio per measure. The last line is `tokens/s: N`
//! (ours): training for `opt-train`, the first measure for `opt-generate`.
//!
//! The README's OPT and bf16 tables are this bench's figures against torch, from interleaved
//! rounds of `scripts/bench_rounds.py` (single runs on a shared machine mislead). Decoding is
//! fast only because `torch.nn.Linear` weights are read as stored for few rows (dot products:
//! `nn/fused/few_rows.rs`, and `nn/fused/linear.rs` without AVX-512); before, gemm repacked
//! every weight at every token.

use super::lm::{
    compare, flag_words, init_threads, random_ids_on, random_prompts, time_runs, time_train,
    TrainShape,
};
use super::shapes::{Model, Shape};
use anyhow::{bail, Result};
use candle_core::Device;
use collapse_lab::lm::generate::{beam_search_batch, sample, BeamConfig, SampleConfig};
use collapse_lab::lm::params::Params;
use collapse_lab::lm::Arch;
use collapse_lab::lm::CausalLm;
use collapse_lab::nn::precision::{Autocast, Precision};
use collapse_lab::rng::Rng;
use std::path::PathBuf;

/// Flags both OPT benches share.
#[derive(clap::Args, Debug, Clone)]
pub struct OptRunArgs {
    /// Worker threads (rayon and matmul; torch.set_num_threads); default: physical cores
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Then run scripts/bench_torch.py --arch opt with this Python (e.g. .venv/bin/python) and
    /// print the ratio ours/torch per measure
    #[arg(long, value_name = "PYTHON")]
    pub compare_torch: Option<PathBuf>,
    /// cpu, cuda or cuda:N (both sides; needs a --features cuda build for ours)
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// fp32, or bf16 mixed precision (ours: `--precision bf16`; torch: `torch.autocast` with
    /// bfloat16)
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
    /// The model's shape: opt-125m (the paper's), smollm2-135m (Llama) or pythia-160m (GPT-NeoX)
    #[arg(long, value_enum, default_value = "opt-125m")]
    pub shape: Shape,
}

impl OptRunArgs {
    /// Checks the flags, sets the threads and prints the header; the config and thread count.
    fn start(&self, what: &str, dropout: f64, steps: usize) -> Result<(Model, usize)> {
        if steps == 0 {
            return Err(collapse_lab::Error::invalid(
                "--steps 0 times nothing",
                "use --steps 1 or more",
            )
            .into());
        }
        let model = self.shape.model(dropout)?;
        let threads = init_threads(self.threads)?;
        let dev = self.dev()?;
        if dev.is_cpu() {
            self.precision.check_cpu("use --precision fp32")?;
        }
        println!(
            "{what}: {}, {} positions, {}, random init, dropout {dropout}",
            model.describe(),
            model.max_positions(),
            self.precision.describe(&dev)
        );
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "threads: {threads}; load average before: {}",
            load.join(" ")
        );
        Ok((model, threads))
    }

    /// The torch script's flags for this shape and these settings.
    fn torch_flags(&self, model: &Model, threads: usize, steps: (usize, usize)) -> Vec<String> {
        let mut v = model.torch_flags();
        v.extend(flag_words([
            ("--steps", steps.0),
            ("--warmup-steps", steps.1),
            ("--threads", threads),
            ("--seed", self.seed as usize),
        ]));
        v.extend(["--device".to_string(), self.device.clone()]);
        v.extend(["--precision".to_string(), self.precision.name().to_string()]);
        v
    }

    /// The device both sides run on.
    fn dev(&self) -> Result<Device> {
        Ok(collapse_lab::lm::device::open(&self.device)?)
    }
}

/// `bench opt-train` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct OptTrainArgs {
    #[command(flatten)]
    pub run: OptRunArgs,
    /// Timed steps
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed steps first
    #[arg(long, default_value_t = 2)]
    pub warmup_steps: usize,
    /// Blocks per step
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Tokens per block (the OPT family's block size is 64)
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    /// Dropout while training (residual; opt-125m's config has 0.1), on both sides
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Skip the eval-forward measure
    #[arg(long)]
    pub no_eval: bool,
}

pub fn train(a: OptTrainArgs) -> Result<()> {
    let (m, threads) = a.run.start("opt-train", a.dropout, a.steps)?;
    let _autocast = Autocast::new(a.run.precision);
    if a.context == 0 || a.context > m.max_positions() {
        bail!(
            "--context {} is not in 1..={}",
            a.context,
            m.max_positions()
        );
    }
    let params = m.init(a.run.seed, &a.run.dev()?)?;
    match &m {
        Model::Opt(cfg) => train_on(&a, cfg, &m, &params, threads),
        Model::Llama(cfg) => train_on(&a, cfg, &m, &params, threads),
        Model::Neox(cfg) => train_on(&a, cfg, &m, &params, threads),
    }
}

fn train_on<A: Arch>(
    a: &OptTrainArgs,
    cfg: &A,
    m: &Model,
    params: &Params,
    threads: usize,
) -> Result<()> {
    let shape = TrainShape {
        batch: a.batch,
        context: a.context,
        vocab: m.vocab(),
        steps: a.steps,
        warmup: a.warmup_steps,
        seed: a.run.seed,
    };
    let model = params.model(cfg)?;
    let ours = time_train(&model, params, &shape, "bench-opt-train", a.dropout > 0.0)?;
    let mut measures = vec![("train", ours)];
    if !a.no_eval {
        // Eval: the loss of each block with no autograd graph (detached weights).
        let frozen = params.frozen_model(cfg)?;
        let mut rng = Rng::derive(a.run.seed, "bench-opt-eval", 0);
        let mut fwd = || -> Result<()> {
            let blocks =
                random_ids_on(&mut rng, a.batch, a.context + 1, m.vocab(), frozen.device())?;
            frozen.block_loss(&blocks, None)?.to_scalar::<f32>()?;
            Ok(())
        };
        let total = time_runs(a.warmup_steps, a.steps, &mut fwd)?;
        let eval = (a.batch * a.context * a.steps) as f64 / total;
        println!(
            "eval forward (no grad), batch {} x {}: {:.1} ms/step, {eval:.0} tokens/s",
            a.batch,
            a.context,
            super::lm::ms(total, a.steps)
        );
        measures.push(("eval", eval));
    }
    println!("train tokens/s: {ours:.0}");
    let mut flags = a.run.torch_flags(m, threads, (a.steps, a.warmup_steps));
    flags.extend(flag_words([
        ("--context", a.context.to_string()),
        ("--batch", a.batch.to_string()),
        ("--dropout", a.dropout.to_string()),
    ]));
    if a.no_eval {
        flags.push("--no-eval".into());
    }
    compare(a.run.compare_torch.as_ref(), "train", &flags, &measures)?;
    println!("tokens/s: {ours:.0}");
    Ok(())
}

/// What `opt-generate` times.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// Beam search (`--num-beams`, `--repetition-penalty`), `--beam-batch` prompts at once
    Beam,
    /// Ancestral sampling (temperature 1, no top-k/top-p), `--sample-batch` prompts at once
    Sample,
    /// Greedy decoding, `--greedy-batch` prompts at once
    Greedy,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Measure::Beam => "beam",
            Measure::Sample => "sample",
            Measure::Greedy => "greedy",
        }
    }
}

/// `bench opt-generate` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct OptGenerateArgs {
    #[command(flatten)]
    pub run: OptRunArgs,
    /// Timed runs of each measure
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Untimed runs of each measure first
    #[arg(long, default_value_t = 1)]
    pub warmup_steps: usize,
    /// What to time, in this order (the first one's tokens/s is the last line)
    #[arg(long, value_delimiter = ',', default_value = "beam,sample,greedy")]
    pub measures: Vec<Measure>,
    /// Random prompt tokens per row
    #[arg(long, default_value_t = 64)]
    pub prompt_len: usize,
    /// New tokens per prompt (no stop token: every row runs to the end)
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    #[arg(long, default_value_t = 5)]
    pub num_beams: usize,
    #[arg(long, default_value_t = 1.2)]
    pub repetition_penalty: f64,
    /// Prompts per beam-search batch (each runs `--num-beams` rows)
    #[arg(long, default_value_t = 2)]
    pub beam_batch: usize,
    #[arg(long, default_value_t = 8)]
    pub sample_batch: usize,
    #[arg(long, default_value_t = 1)]
    pub greedy_batch: usize,
}

pub fn generate(g: OptGenerateArgs) -> Result<()> {
    let (m, threads) = g.run.start("opt-generate", 0.0, g.steps)?;
    let _autocast = Autocast::new(g.run.precision);
    let params = m.init(g.run.seed, &g.run.dev()?)?;
    match &m {
        Model::Opt(cfg) => generate_on(&g, cfg, &m, &params, threads),
        Model::Llama(cfg) => generate_on(&g, cfg, &m, &params, threads),
        Model::Neox(cfg) => generate_on(&g, cfg, &m, &params, threads),
    }
}

fn generate_on<A: Arch>(
    g: &OptGenerateArgs,
    cfg: &A,
    m: &Model,
    params: &Params,
    threads: usize,
) -> Result<()> {
    if g.prompt_len == 0 || g.prompt_len + g.new_tokens > m.max_positions() {
        bail!(
            "--prompt-len {} + --new-tokens {} must be 1..={} (the context would slide)",
            g.prompt_len,
            g.new_tokens,
            m.max_positions()
        );
    }
    if g.measures.is_empty() {
        bail!("--measures names nothing to time");
    }
    let model = params.frozen_model(cfg)?;
    let vocab = m.vocab();
    let mut rng = Rng::derive(g.run.seed, "bench-opt-generate", 0);
    let mut measures = Vec::new();
    for &m in &g.measures {
        let batch = match m {
            Measure::Beam => g.beam_batch,
            Measure::Sample => g.sample_batch,
            Measure::Greedy => g.greedy_batch,
        };
        let prompts = random_prompts(&mut rng, batch, g.prompt_len, vocab);
        let beam = BeamConfig {
            num_beams: g.num_beams,
            max_new_tokens: g.new_tokens,
            length_penalty: 1.0,
            repetition_penalty: g.repetition_penalty,
            early_stopping: false,
            eos: None,
        };
        let total = time_runs(g.warmup_steps, g.steps, || {
            let out = match m {
                Measure::Beam => beam_search_batch(&model, &prompts, &beam)?,
                Measure::Sample => sample_rows(&model, &prompts, g.new_tokens, false, &mut rng)?,
                Measure::Greedy => sample_rows(&model, &prompts, g.new_tokens, true, &mut rng)?,
            };
            if out.iter().any(|o| o.len() != g.new_tokens) {
                bail!("a {} row stopped early (no stop token was given)", m.name());
            }
            Ok(())
        })?;
        let tps = (batch * g.new_tokens * g.steps) as f64 / total;
        let how = match m {
            Measure::Beam => format!(
                "{} beams, repetition penalty {}",
                g.num_beams, g.repetition_penalty
            ),
            Measure::Sample => "temperature 1, top-k 0".into(),
            Measure::Greedy => "argmax".into(),
        };
        println!(
            "{}: {} runs after {} warmup, batch {batch} x ({} prompt + {} new tokens), {how}: {:.3} s/run, {tps:.1} tokens/s",
            m.name(),
            g.steps,
            g.warmup_steps,
            g.prompt_len,
            g.new_tokens,
            total / g.steps as f64
        );
        measures.push((m.name(), tps));
    }
    let mut flags = g.run.torch_flags(m, threads, (g.steps, g.warmup_steps));
    let names: Vec<&str> = g.measures.iter().map(|m| m.name()).collect();
    flags.extend(flag_words([
        ("--measures", names.join(",")),
        ("--prompt-len", g.prompt_len.to_string()),
        ("--new-tokens", g.new_tokens.to_string()),
        ("--num-beams", g.num_beams.to_string()),
        ("--repetition-penalty", g.repetition_penalty.to_string()),
        ("--beam-batch", g.beam_batch.to_string()),
        ("--sample-batch", g.sample_batch.to_string()),
        ("--greedy-batch", g.greedy_batch.to_string()),
    ]));
    compare(g.run.compare_torch.as_ref(), "generate", &flags, &measures)?;
    println!("tokens/s: {:.0}", measures[0].1);
    Ok(())
}

/// Sampling (temperature 1, no truncation) or greedy decoding of every prompt, no stop token.
fn sample_rows(
    model: &impl CausalLm,
    prompts: &[Vec<u32>],
    new_tokens: usize,
    greedy: bool,
    rng: &mut Rng,
) -> Result<Vec<Vec<u32>>> {
    let sc = match greedy {
        true => SampleConfig::greedy(),
        false => SampleConfig::plain(),
    };
    Ok(sample(model, prompts, new_tokens, None, &sc, rng)?)
}
