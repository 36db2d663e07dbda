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

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor, Var};
use collapse_lab::gpt::config::Config;
use collapse_lab::gpt::generate::{sample, SampleConfig};
use collapse_lab::gpt::model::block_loss;
use collapse_lab::gpt::params::{decays, Params};
use collapse_lab::nn::adamw::{clip_grad_norm, AdamW, AdamWConfig};
use collapse_lab::rng::Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;

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

    /// Sets the thread count before anything starts rayon: candle's matmul reads
    /// RAYON_NUM_THREADS on every call, the rest of candle uses the global pool.
    fn init_threads(&self) -> Result<usize> {
        if let Some(t) = self.threads {
            std::env::set_var("RAYON_NUM_THREADS", t.to_string());
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build_global()
                .context("setting the thread count")?;
        }
        Ok(rayon::current_num_threads())
    }

    fn header(&self, what: &str, cfg: &Config) -> Result<usize> {
        let threads = self.init_threads()?;
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
        let mut v = Vec::new();
        for (k, x) in [
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
        ] {
            v.push(k.to_string());
            v.push(x.to_string());
        }
        v
    }
}

/// Random token ids (rows, cols) in [0, vocab).
fn random_ids(rng: &mut Rng, rows: usize, cols: usize, vocab: usize) -> Result<Tensor> {
    let v: Vec<u32> = (0..rows * cols)
        .map(|_| rng.below(vocab as u64) as u32)
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), &Device::Cpu)?)
}

/// Milliseconds, mean over the timed steps.
fn ms(total_s: f64, n: usize) -> f64 {
    1000.0 * total_s / n.max(1) as f64
}

pub fn train(a: GptBenchArgs) -> Result<()> {
    let cfg = a.config()?;
    let threads = a.header("gpt-train", &cfg)?;
    let t = cfg.n_positions;
    let params = Params::init(&cfg, a.seed, &Device::Cpu)?;
    let model = params.model(&cfg)?;
    let vars: Vec<Var> = params.vars.values().cloned().collect();
    let mut opt = AdamW::new(
        params
            .vars
            .iter()
            .map(|(n, v)| (n.clone(), v.clone(), decays(n, v.dims())))
            .collect(),
        AdamWConfig::default(),
    )?;
    let mut rng = Rng::derive(a.seed, "bench-gpt-train", 0);
    let (mut fwd, mut bwd, mut optim) = (0f64, 0f64, 0f64);
    let mut losses = Vec::new();
    for step in 0..a.warmup_steps + a.steps {
        let blocks = random_ids(&mut rng, a.batch, t + 1, cfg.vocab_size)?; // (b, t+1)
        let t0 = Instant::now();
        let loss = block_loss(&model, &blocks, None)?;
        let t1 = Instant::now();
        let mut grads = loss.backward()?;
        let t2 = Instant::now();
        clip_grad_norm(&mut grads, &vars, 1.0)?;
        opt.step(&grads, 3e-4)?;
        let t3 = Instant::now();
        losses.push(loss.to_scalar::<f32>()?);
        if step >= a.warmup_steps {
            fwd += (t1 - t0).as_secs_f64();
            bwd += (t2 - t1).as_secs_f64();
            optim += (t3 - t2).as_secs_f64();
        }
    }
    let total = fwd + bwd + optim;
    let n = a.steps;
    println!(
        "steps: {n} after {} warmup, batch {} x {t}: {:.1} ms/step (forward {:.1}, backward {:.1}, clip+AdamW {:.1})",
        a.warmup_steps,
        a.batch,
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
    let ours = (a.batch * t * n) as f64 / total;
    compare(&a, "train", a.torch_flags(&cfg, threads), ours)?;
    println!("tokens/s: {ours:.0}");
    Ok(())
}

/// Runs the torch script (when asked) and prints its numbers and the ratio ours/torch.
pub fn compare(a: &GptBenchArgs, mode: &str, flags: Vec<String>, ours: f64) -> Result<()> {
    let Some(python) = &a.compare_torch else {
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
        .args(&flags)
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
    let theirs: f64 = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("tokens/s: "))
        .and_then(|n| n.trim().parse().ok())
        .context("the torch script's last line is not `tokens/s: N`")?;
    println!("ours {ours:.0} tokens/s, torch {theirs:.0} tokens/s");
    println!("ratio ours/torch: {:.2}", ours / theirs);
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
    if g.prompt_len + g.new_tokens > cfg.n_positions {
        bail!(
            "--prompt-len {} + --new-tokens {} exceed the context {} (the context would slide)",
            g.prompt_len,
            g.new_tokens,
            cfg.n_positions
        );
    }
    let model = Params::init(&cfg, a.seed, &Device::Cpu)?.model(&cfg)?;
    let mut rng = Rng::derive(a.seed, "bench-gpt-generate", 0);
    let prompts: Vec<Vec<u32>> = (0..a.batch)
        .map(|_| {
            (0..g.prompt_len)
                .map(|_| rng.below(cfg.vocab_size as u64) as u32)
                .collect()
        })
        .collect();
    // Plain ancestral sampling (temperature 1, no top-k/top-p), as the torch script.
    let sc = SampleConfig::plain();
    let mut total = 0f64;
    for run in 0..a.warmup_steps + a.steps {
        let t0 = Instant::now();
        let out = sample(&model, &prompts, g.new_tokens, None, &sc, &mut rng)?;
        let dt = t0.elapsed().as_secs_f64();
        if out.iter().any(|o| o.len() != g.new_tokens) {
            bail!("a row stopped early (no stop token was given)");
        }
        if run >= a.warmup_steps {
            total += dt;
        }
    }
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
    flags.extend([
        "--prompt-len".into(),
        g.prompt_len.to_string(),
        "--new-tokens".into(),
        g.new_tokens.to_string(),
    ]);
    compare(a, "generate", flags, ours)?;
    println!("tokens/s: {ours:.0}");
    Ok(())
}
