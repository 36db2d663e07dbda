//! The from-scratch families (`gpt:<preset>`, `llama:<preset>`): a GPT-2 or Llama model trained
//! from scratch each generation on that generation's corpus, with a byte-level BPE tokenizer
//! trained once on generation 0's human text (Gerstgrasser et al. 2024 train every generation
//! from scratch). Generic over the architecture ([`ScratchArch`]).
//!
//! A checkpoint is a Hugging Face model folder (`config.json`, `model.safetensors`,
//! `tokenizer.json`) plus our `train_log.json`, written last: its presence marks the
//! checkpoint complete. While training, resumable state lives in the same folder.

use super::{Family, TrainCtx};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::lm::data::Blocks;
use crate::lm::generate::corpus as sample;
use crate::lm::params::Params;
use crate::lm::score;
use crate::lm::settings::GptSettings;
use crate::lm::tokenizer::Bpe;
use crate::lm::train::{self, TrainJob, TrainLog};
use crate::lm::ScratchArch;
use crate::metrics::Scores;
use crate::models::gpt2::config::Config;
use crate::nn::precision::Autocast;
use crate::rng::Rng;
use crate::sampling::SamplePlan;
use candle_core::{DType, Device};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const LOG_FILE: &str = "train_log.json";
/// No tokenizer needs more (GPT-2 has 50,257 tokens, the largest current ones about 256k).
pub const MAX_VOCAB: usize = 1_000_000;

/// A from-scratch chain's family: the size (`preset`: a preset name or a config.json path)
/// and settings; `A` is the architecture.
pub struct ScratchFamily<A: ScratchArch> {
    pub preset: String,
    pub settings: GptSettings,
    pub device: Device,
    arch: PhantomData<A>,
}

/// `gpt:` chains.
pub type GptFamily = ScratchFamily<Config>;
/// `llama:` chains.
pub type LlamaScratchFamily = ScratchFamily<crate::models::llama::config::Config>;

/// A trained model with its tokenizer.
pub struct ScratchModel<A: ScratchArch> {
    pub cfg: A,
    pub params: Params,
    /// Shared: every generation uses generation 0's tokenizer.
    pub tok: Arc<Bpe>,
    pub log: TrainLog,
}

pub type GptModel = ScratchModel<Config>;

/// `cpu`, `cuda` or `cuda:N` ([`crate::lm::device::open`]).
pub fn device(name: &str) -> Result<Device> {
    crate::lm::device::open(name)
}

impl<A: ScratchArch> ScratchFamily<A> {
    pub fn new(preset: &str, settings: GptSettings) -> Result<Self> {
        let device = device(&settings.device)?;
        Ok(ScratchFamily {
            preset: preset.into(),
            settings,
            device,
            arch: PhantomData,
        })
    }

    /// The preset, or the config file a `.json` preset names.
    fn base(preset: &str, vocab_size: usize) -> Result<A> {
        if preset.ends_with(".json") {
            fsutil::read_json::<A>(preset)
        } else {
            A::preset(preset, vocab_size)
        }
    }

    /// The model shape for a tokenizer: the preset (or config file) with the overrides.
    pub fn config(&self, vocab_size: usize, eot: u32) -> Result<A> {
        Self::base(&self.preset, vocab_size)?.shaped(&self.settings, vocab_size, eot)
    }

    /// The context length a chain with these settings will have (before any training).
    pub fn context(preset: &str, s: &GptSettings) -> Result<usize> {
        let base = Self::base(preset, crate::models::gpt2::config::DEFAULT_VOCAB_SIZE)?;
        Ok(s.context.unwrap_or(base.n_positions()))
    }

    /// The vocabulary a new tokenizer is trained to.
    fn target_vocab(&self) -> Result<usize> {
        if self.preset.ends_with(".json") {
            Ok(Self::base(&self.preset, 0)?.vocab_size())
        } else {
            Ok(self.settings.vocab_size)
        }
    }
}

impl<A: ScratchArch> Family for ScratchFamily<A> {
    type Model = ScratchModel<A>;

    /// The model's shape with the target vocabulary (a config file read, the overrides
    /// checked), and the memory a training step needs: f32 weights, gradients and AdamW's two
    /// moments, plus about nanoGPT's per-token activations (34·C + 5·H·T per layer, f32) and the
    /// logits and their gradient.
    fn preflight(&self) -> Result<()> {
        let vocab = self.target_vocab()?;
        if vocab > MAX_VOCAB {
            return Err(Error::invalid(
                format!("a vocabulary of {vocab} tokens is more than any tokenizer needs"),
                format!("use --vocab-size {} or less (GPT-2 has 50257)", MAX_VOCAB),
            ));
        }
        let cfg = self.config(vocab, 0)?;
        let params: usize = cfg
            .shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        let (layers, width, heads) = cfg.dims();
        let (b, t, c, h) = (
            self.settings.micro_batch as f64,
            cfg.n_positions() as f64,
            width as f64,
            heads as f64,
        );
        let per_token = layers as f64 * (34.0 * c + 5.0 * h * t) * 2.0 + 8.0 * vocab as f64;
        let bytes = 16.0 * params as f64 + b * t * per_token;
        crate::lm::device::check_memory(
            &self.device,
            &format!("training {}:{} (micro batch {}, context {})", A::PREFIX, self.preset, b, t),
            bytes,
            "lower --micro-batch (gradients accumulate to --batch-size), --context or the model size",
        )
    }

    fn train(
        &self,
        corpus: &Corpus,
        first: Option<&ScratchModel<A>>,
        ctx: &TrainCtx,
    ) -> Result<ScratchModel<A>> {
        let texts: Vec<&str> = corpus.docs.iter().map(|d| d.text.as_str()).collect();
        let tok = match first {
            Some(m) => m.tok.clone(),
            None => {
                let sp =
                    crate::progress::spinner(&format!("{}: training the BPE tokenizer", ctx.label));
                let tok = Bpe::train(&texts, self.target_vocab()?)?;
                sp.finish_and_clear();
                Arc::new(tok)
            }
        };
        let cfg = match first {
            Some(m) => m.cfg.clone(),
            None => self.config(tok.vocab_size(), tok.eot())?,
        };
        // The tokenizer goes into the checkpoint folder first: resumable state is complete with it.
        fsutil::create_dir_all(ctx.dir)?;
        tok.save(&ctx.dir.join(TOKENIZER_FILE))?;
        let ids = tok.encode_docs(&texts)?;
        let seed = Rng::derive(ctx.seed, "gpt-generation", u64::from(ctx.generation)).next_u64();
        let blocks = Blocks::new(
            &ids,
            tok.eot(),
            cfg.n_positions(),
            self.settings.valid_frac,
            seed,
        );
        let mut params = cfg.init(seed, &self.device)?;
        let job = TrainJob {
            cfg: &cfg,
            settings: &self.settings,
            seed,
            dir: Some(ctx.dir),
            label: &ctx.label,
            stop_at: None,
        };
        let log = train::train(&job, &blocks, &mut params)?;
        Ok(ScratchModel {
            cfg,
            params,
            tok,
            log,
        })
    }

    fn sample(&self, model: &ScratchModel<A>, plan: &SamplePlan) -> Result<Corpus> {
        let m = model.params.frozen_model(&model.cfg)?;
        sample::sample_corpus(&m, &model.tok, plan, &self.settings)
    }

    fn score(&self, model: &ScratchModel<A>, text: &Corpus) -> Result<Scores> {
        let m = model.params.frozen_model(&model.cfg)?;
        let _autocast = Autocast::new(self.settings.precision);
        score::score_corpus(&m, &model.tok, text, model.cfg.n_positions())
    }

    fn save(&self, model: &ScratchModel<A>, dir: &Path) -> Result<()> {
        fsutil::write_json(dir.join(CONFIG_FILE), &model.cfg)?;
        model.params.save(&dir.join(WEIGHTS_FILE))?;
        model.tok.save(&dir.join(TOKENIZER_FILE))?;
        fsutil::write_json(dir.join(LOG_FILE), &model.log)?;
        train::clear_state(dir);
        Ok(())
    }

    fn load(&self, dir: &Path) -> Result<ScratchModel<A>> {
        let cfg: A = fsutil::read_json(dir.join(CONFIG_FILE))?;
        let params = Params::load(&dir.join(WEIGHTS_FILE), &cfg, DType::F32, &self.device)?;
        let tok = Arc::new(Bpe::load(&dir.join(TOKENIZER_FILE))?);
        let log = fsutil::read_json(dir.join(LOG_FILE)).unwrap_or_default();
        if self.is_saved(dir) {
            // A finished checkpoint: resumable state left by a crash just after saving (before
            // `save` removed it) is dead weight, several times the model's size.
            train::clear_state(dir);
        }
        Ok(ScratchModel {
            cfg,
            params,
            tok,
            log,
        })
    }

    fn is_saved(&self, dir: &Path) -> bool {
        [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, LOG_FILE]
            .iter()
            .all(|f| dir.join(f).exists())
    }

    fn sampling_extras(&self) -> Option<serde_json::Value> {
        let mut extras = self.settings.sampling_json("end-of-text token");
        extras["device"] = crate::lm::device::describe(&self.device).into();
        extras["precision"] = self.settings.precision.describe(&self.device).into();
        Some(extras)
    }

    fn notes(&self, model: &ScratchModel<A>) -> Vec<String> {
        let l = &model.log;
        let best = match (l.best_step, l.best_valid_loss) {
            (Some(s), Some(v)) => format!(", best validation loss {v:.4} at step {s} (kept)"),
            _ => String::new(),
        };
        let (layers, width, _) = model.cfg.dims();
        vec![format!(
            "{} {} layers × {} wide, {} parameters, vocab {}: {} of {} steps ({} tokens each){best}",
            A::PREFIX,
            layers,
            width,
            model.params.count(),
            model.cfg.vocab_size(),
            l.steps_done,
            l.total_steps,
            l.tokens_per_step,
        )]
    }
}
