//! `bench gpt-train` and `bench gpt-generate`: CPU speed of our GPT-2 next to PyTorch's.
//!
//! Generation: `--batch` prompts of `--prompt-len` random tokens, each continued by exactly
//! `--new-tokens` sampled tokens (temperature 1, no truncation) with the KV cache;
//! tokens/s counts new tokens only, prefill included in the time.
//!
//! Why: the chain trains and samples a GPT every generation, so its tokens/s sets how much
//! of a collapse experiment fits in a day. A random-init model on random tokens from a fixed
//! seed needs no download and no corpus, and its step time is what a real run's is (the data
//! does not change the arithmetic). Steady state: `--warmup-steps` steps are run first and
//! not timed (allocator and thread-pool warm-up). `--compare-torch PYTHON` then runs
//! `scripts/bench_torch.py` with the same shape and settings and prints the ratio. The last
//! line is always `tokens/s: N` (ours), for scripts.
//!
//! Reference points (this 2-core AMD EPYC with AVX-512, `--threads 2`, best of three runs
//! interleaved with the torch script; torch 2.15 from PyPI, transformers 5.23): tiny, vocab
//! 8192, 16×128: ~9,600 tokens/s against torch's ~4,600; tiny, vocab 50257: ~3,650 against
//! ~1,050; GPT-2 124M at 4×128: ~410 against ~175; generation (tiny, 16 rows, 64 new tokens):
//! ~4,400 against ~2,300. Torch's numbers collapse when another process shares the cores
//! (OpenMP threads wait on each other), so compare on an idle machine.

use super::lm::{compare, flag_words, init_threads, random_prompts, time_runs, time_train};
use anyhow::{bail, Result};
use candle_core::Device;
use collapse_lab::lm::generate::{sample, SampleConfig};
use collapse_lab::models::gpt2::config::Config;
use collapse_lab::nn::precision::{Autocast, Precision};
use collapse_lab::rng::Rng;
use std::path::PathBuf;

/// The model shape and timing flags shared by both benches.
#[derive(clap::Args, Debug, Clone)]
pub struct GptBenchArgs {
    /// Model size: nano, tiny, small or gpt2 (GPT-2 small's 124M shape with --vocab 50257)
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    #[arg(long, default_value_t = 8192)]
    pub vocab: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Positions per sequence; also sets n_positions (default: the preset's context)
    #[arg(long)]
    pub context: Option<usize>,
    /// Timed steps (generation: timed runs)
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps first
    #[arg(long, default_value_t = 2)]
    pub warmup_steps: usize,
    /// Worker threads (rayon and matmul); default: physical cores
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Then run scripts/bench_torch.py with this Python (e.g. .venv/bin/python) and print the
    /// ratio ours/torch
    #[arg(long, value_name = "PYTHON")]
    pub compare_torch: Option<PathBuf>,
    /// fp32, or bf16 mixed precision (ours: `--precision bf16`; torch: `torch.autocast` with
    /// bfloat16)
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
}

impl GptBenchArgs {
    fn config(&self) -> Result<Config> {
        let mut cfg = Config::preset(&self.preset, self.vocab)?;
        if let Some(c) = self.context {
            cfg.n_positions = c;
        }
        cfg.check()?;
        if self.steps == 0 {
            return Err(collapse_lab::Error::invalid(
                "--steps 0 times nothing",
                "use --steps 1 or more",
            )
            .into());
        }
        Ok(cfg)
    }

    fn header(&self, what: &str, cfg: &Config) -> Result<usize> {
        let threads = init_threads(self.threads)?;
        self.precision.check_cpu("use --precision fp32")?;
        println!("precision: {}", self.precision.describe(&Device::Cpu));
        println!(
            "{what}: preset {} ({} layers, {} heads, width {}), vocab {}, context {}, {:.2}M params",
            self.preset,
            cfg.n_layer,
            cfg.n_head,
            cfg.n_embd,
            cfg.vocab_size,
            cfg.n_positions,
            cfg.n_params() as f64 / 1e6
        );
        println!("threads: {threads}");
        Ok(threads)
    }

    /// The torch script's flags for the same shape and settings.
    fn torch_flags(&self, cfg: &Config, threads: usize) -> Vec<String> {
        flag_words([
            ("--n-layer", cfg.n_layer),
            ("--n-head", cfg.n_head),
            ("--n-embd", cfg.n_embd),
            ("--vocab", cfg.vocab_size),
            ("--context", cfg.n_positions),
            ("--batch", self.batch),
            ("--steps", self.steps),
            ("--warmup-steps", self.warmup_steps),
            ("--threads", threads),
            ("--seed", self.seed as usize),
        ])
        .into_iter()
        .chain(["--precision".to_string(), self.precision.name().to_string()])
        .collect()
    }
}

pub fn train(a: GptBenchArgs) -> Result<()> {
    let cfg = a.config()?;
    let threads = a.header("gpt-train", &cfg)?;
    let _autocast = Autocast::new(a.precision);
    let t = cfg.n_positions;
    let params = collapse_lab::models::gpt2::params::init(&cfg, a.seed, &Device::Cpu)?;
    let model = params.model(&cfg)?;
    let shape = super::lm::TrainShape {
        batch: a.batch,
        context: t,
        vocab: cfg.vocab_size,
        steps: a.steps,
        warmup: a.warmup_steps,
        seed: a.seed,
    };
    let ours = time_train(&model, &params, &shape, "bench-gpt-train", false)?;
    compare(
        a.compare_torch.as_ref(),
        "train",
        &a.torch_flags(&cfg, threads),
        &[("", ours)],
    )?;
    println!("tokens/s: {ours:.0}");
    Ok(())
}

/// `bench gpt-generate` flags: the shared ones plus the prompt and continuation lengths.
#[derive(clap::Args, Debug, Clone)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub common: GptBenchArgs,
    /// Random prompt tokens per row
    #[arg(long, default_value_t = 16)]
    pub prompt_len: usize,
    /// Tokens sampled per row (no stop token: every row runs to the end)
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
}

pub fn generate(g: GenerateArgs) -> Result<()> {
    let a = &g.common;
    let cfg = a.config()?;
    let threads = a.header("gpt-generate", &cfg)?;
    let _autocast = Autocast::new(a.precision);
    if g.prompt_len + g.new_tokens > cfg.n_positions {
        bail!(
            "--prompt-len {} + --new-tokens {} exceed the context {} (the context would slide)",
            g.prompt_len,
            g.new_tokens,
            cfg.n_positions
        );
    }
    let model =
        collapse_lab::models::gpt2::params::init(&cfg, a.seed, &Device::Cpu)?.model(&cfg)?;
    let mut rng = Rng::derive(a.seed, "bench-gpt-generate", 0);
    let prompts = random_prompts(&mut rng, a.batch, g.prompt_len, cfg.vocab_size);
    // Plain ancestral sampling (temperature 1, no top-k/top-p), as the torch script.
    let sc = SampleConfig::plain();
    let total = time_runs(a.warmup_steps, a.steps, || {
        let out = sample(&model, &prompts, g.new_tokens, None, &sc, &mut rng)?;
        if out.iter().any(|o| o.len() != g.new_tokens) {
            bail!("a row stopped early (no stop token was given)");
        }
        Ok(())
    })?;
    println!(
        "runs: {} after {} warmup, batch {} x ({} prompt + {} new tokens), KV cache: {:.3} s/run",
        a.steps,
        a.warmup_steps,
        a.batch,
        g.prompt_len,
        g.new_tokens,
        total / a.steps.max(1) as f64
    );
    let ours = (a.batch * g.new_tokens * a.steps) as f64 / total;
    let mut flags = a.torch_flags(&cfg, threads);
    flags.extend(flag_words([
        ("--prompt-len", g.prompt_len),
        ("--new-tokens", g.new_tokens),
    ]));
    compare(a.compare_torch.as_ref(), "generate", &flags, &[("", ours)])?;
    println!("tokens/s: {ours:.0}");
    Ok(())
}
