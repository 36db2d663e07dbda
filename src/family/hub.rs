//! The Hub family (`hf:<owner>/<name>[@revision]`): a pretrained model pulled from the Hugging
//! Face Hub and fine-tuned each generation on that generation's corpus, as Shumailov et al.
//! (Nature 2024) fine-tune facebook/opt-125m on wikitext-2. Generic over the architecture
//! ([`HubArch`]); the architectures it serves are listed in [`super`] (OPT today).
//!
//! Each generation starts from the Hub's weights (`init = "hub"`, the paper's setup: only the
//! data carries errors forward) or from the previous generation's (`init = "previous"`).
//! The tokenizer is the Hub's, never retrained. A checkpoint is a Hugging Face model folder
//! (`config.json`, `model.safetensors`, the Hub's tokenizer files copied unchanged) plus our
//! `train_log.json`, written last: `transformers`' `from_pretrained` loads it as it is.

use super::gpt::{device, CONFIG_FILE, LOG_FILE, WEIGHTS_FILE};
use super::{Family, TrainCtx};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::hub::{HubConfig, HubRepo, TokenizerFiles, Weights};
use crate::lm::data::Blocks;
use crate::lm::generate::corpus as sample;
use crate::lm::params::Params;
use crate::lm::score;
use crate::lm::settings::GptSettings;
use crate::lm::tokenizer::Bpe;
use crate::lm::train::{self, TrainJob, TrainLog};
use crate::lm::HubArch;
use crate::metrics::Scores;
use crate::nn::precision::Autocast;
use crate::rng::Rng;
use crate::sampling::SamplePlan;
use candle_core::{DType, Device};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Tokenizer and generation files copied from the Hub into every generation's folder.
const COPIED: [&str; 6] = [
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
];
/// Shumailov et al.'s block size, used when the settings give no context.
pub const DEFAULT_BLOCK: usize = 64;

/// A Hub chain's family: which model, the settings, the device; `A` is the architecture.
pub struct HubFamily<A: HubArch> {
    /// `None` for a family that only opens saved checkpoints.
    pub repo: Option<HubRepo>,
    pub settings: GptSettings,
    pub device: Device,
    pub hub: HubConfig,
    arch: PhantomData<A>,
}

/// A (fine-tuned) Hub model with its tokenizer and the files its folder copies.
pub struct HubModel<A: HubArch> {
    pub cfg: A,
    pub params: Params,
    pub tok: Arc<Bpe>,
    /// The folder holding the tokenizer and generation files to copy when saving.
    pub files_from: PathBuf,
    pub log: TrainLog,
    /// The Hub commit the weights were fine-tuned from: later generations of an `init = "hub"`
    /// chain start from this commit, not from wherever the branch has moved since (saved in
    /// `config.json` as `collapse_lab.base_commit`).
    pub base_commit: Option<String>,
}

/// The key of our provenance in a saved `config.json` (transformers keeps unknown keys).
const PROVENANCE: &str = "collapse_lab";

/// Reads an architecture's tokenizer: `tokenizer.json`, else `vocab.json` + `merges.txt`.
pub fn load_tokenizer<A: HubArch>(files: &TokenizerFiles) -> Result<Bpe> {
    match files {
        // An architecture without one end-of-text token (Llama's) takes it from the config.
        TokenizerFiles::Json(p) if A::EOS.is_empty() => Bpe::load_any(p),
        TokenizerFiles::Json(p) => Bpe::load_with(p, A::EOS),
        TokenizerFiles::VocabMerges { vocab, merges } => {
            Bpe::from_vocab_merges_with(vocab, merges, A::SPECIALS, A::EOS)
        }
    }
}

/// The tokenizer a model of config `cfg` generates with: [`load_tokenizer`], with the start and
/// end-of-text ids `config.json` names (a Llama 2 document starts after `<s>`).
fn tokenizer_for<A: HubArch>(files: &TokenizerFiles, cfg: &A) -> Result<Bpe> {
    load_tokenizer::<A>(files)?.with_ids(Some(cfg.bos_token_id()), cfg.eos_token_id())
}

/// The tokenizer files in a model folder.
fn tokenizer_in(dir: &Path) -> TokenizerFiles {
    let json = dir.join("tokenizer.json");
    if json.exists() {
        return TokenizerFiles::Json(json);
    }
    TokenizerFiles::VocabMerges {
        vocab: dir.join("vocab.json"),
        merges: dir.join("merges.txt"),
    }
}

fn read_config<A: HubArch>(path: &Path) -> Result<A> {
    let cfg: A = fsutil::read_json(path)?;
    cfg.check()?;
    Ok(cfg)
}

impl<A: HubArch> HubFamily<A> {
    pub fn new(repo: &str, settings: GptSettings) -> Result<Self> {
        Ok(HubFamily {
            repo: Some(repo.parse()?),
            device: device(&settings.device)?,
            settings,
            hub: HubConfig::from_env(),
            arch: PhantomData,
        })
    }

    /// A family for opening saved checkpoints (no Hub access), on the CPU, scoring in
    /// `precision`.
    pub fn for_checkpoints(precision: crate::nn::precision::Precision) -> Self {
        HubFamily {
            repo: None,
            settings: GptSettings {
                precision,
                ..GptSettings::default()
            },
            device: Device::Cpu,
            hub: HubConfig::from_env(),
            arch: PhantomData,
        }
    }

    /// Tokens per training block, and per window when scoring.
    pub fn block(&self) -> usize {
        self.settings.context.unwrap_or(DEFAULT_BLOCK)
    }

    /// The Hub's model (downloaded, or read from the cache), in f32 on our device: at `pin`
    /// (a commit) when given, else at the repository's revision.
    pub fn load_hub(&self, pin: Option<&str>) -> Result<HubModel<A>> {
        let named = self
            .repo
            .as_ref()
            .ok_or_else(|| Error::invalid("no Hub model given", "use --model hf:<owner>/<name>"))?;
        let pinned;
        let repo = match pin {
            Some(commit) => {
                pinned = HubRepo {
                    id: named.id.clone(),
                    revision: commit.to_string(),
                };
                &pinned
            }
            None => named,
        };
        let files = crate::hub::fetch_model_with(&self.hub, repo)?;
        let cfg: A = read_config(&files.config)?;
        let weights = match &files.weights {
            Weights::Safetensors(p) | Weights::PytorchBin(p) => p,
        };
        let tok = tokenizer_for(&files.tokenizer, &cfg)?;
        let sp = crate::progress::spinner(&format!("loading {repo}"));
        let params = Params::load(weights, &cfg, DType::F32, &self.device)?;
        sp.finish_and_clear();
        Ok(HubModel {
            cfg,
            params,
            tok: Arc::new(tok),
            files_from: files
                .config
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            log: TrainLog::default(),
            base_commit: files.commit.clone(),
        })
    }

    fn dtype(&self) -> DType {
        match self.settings.inference_dtype.as_str() {
            "f16" => DType::F16,
            "bf16" => DType::BF16,
            _ => DType::F32,
        }
    }

    /// The model for generation: detached, in the inference dtype. Scoring always uses f32
    /// (`frozen_f32`): perplexities are the experiment's results, and half-precision logits
    /// round to steps of ~0.1 (bf16).
    fn frozen(&self, model: &HubModel<A>) -> Result<A::Model> {
        match self.dtype() {
            DType::F32 => model.params.frozen_model(&model.cfg),
            dt => model.params.to_dtype(dt)?.frozen_model(&model.cfg),
        }
    }
}

impl<A: HubArch> Family for HubFamily<A> {
    type Model = HubModel<A>;

    /// Offline, the model must be in the cache already (online it is downloaded when
    /// generation 0 starts, with its own errors).
    fn preflight(&self) -> Result<()> {
        match &self.repo {
            Some(repo) if self.hub.offline => {
                crate::hub::fetch_model_with(&self.hub, repo).map(|_| ())
            }
            _ => Ok(()),
        }
    }

    fn train(
        &self,
        corpus: &Corpus,
        first: Option<&HubModel<A>>,
        ctx: &TrainCtx,
    ) -> Result<HubModel<A>> {
        // Later generations start from the commit generation 0 started from, not from wherever
        // the branch has moved since: only the data may differ between generations.
        let pin = first.and_then(|m| m.base_commit.as_deref());
        let base = match (self.settings.init.as_str(), ctx.previous) {
            ("previous", Some(prev)) => self.load(prev)?,
            _ => self.load_hub(pin)?,
        };
        let mut cfg = base.cfg.clone();
        cfg.set_dropout(self.settings.dropout);
        if self.block() > cfg.max_positions() {
            return Err(Error::invalid(
                format!(
                    "block size {} exceeds the model's {} positions",
                    self.block(),
                    cfg.max_positions()
                ),
                "use a smaller --context",
            ));
        }
        let texts: Vec<&str> = corpus.docs.iter().map(|d| d.text.as_str()).collect();
        let ids = base.tok.encode_docs(&texts)?;
        let seed = Rng::derive(ctx.seed, "opt-generation", u64::from(ctx.generation)).next_u64();
        let s = &self.settings;
        let blocks = Blocks::grouped(&ids, cfg.bos_token_id(), self.block(), s.valid_frac, seed);
        let mut params = base.params;
        let job = TrainJob {
            cfg: &cfg,
            settings: s,
            seed,
            dir: Some(ctx.dir),
            label: &ctx.label,
            stop_at: None,
        };
        let log = train::train(&job, &blocks, &mut params)?;
        Ok(HubModel {
            cfg,
            params,
            log,
            ..base
        })
    }

    fn sample(&self, model: &HubModel<A>, plan: &SamplePlan) -> Result<Corpus> {
        sample::sample_corpus(&self.frozen(model)?, &model.tok, plan, &self.settings)
    }

    fn score(&self, model: &HubModel<A>, text: &Corpus) -> Result<Scores> {
        let m = model.params.frozen_model(&model.cfg)?;
        let _autocast = Autocast::new(self.settings.precision);
        score::score_corpus(&m, &model.tok, text, self.block())
    }

    fn block_perplexity(&self, model: &HubModel<A>, text: &Corpus) -> Result<Option<f64>> {
        let m = model.params.frozen_model(&model.cfg)?;
        let (bos, mb) = (model.cfg.bos_token_id(), self.settings.micro_batch);
        score::block_perplexity(&m, &model.tok, text, bos, self.block(), mb)
    }

    fn save(&self, model: &HubModel<A>, dir: &Path) -> Result<()> {
        fsutil::create_dir_all(dir)?;
        let mut cfg = model.cfg.clone();
        // The weights we write are f32, whatever the Hub's were.
        cfg.extra_mut().remove("dtype");
        cfg.extra_mut()
            .insert("torch_dtype".into(), "float32".into());
        if let (Some(repo), Some(commit)) = (&self.repo, &model.base_commit) {
            let base = serde_json::json!({ "base_model": repo.id, "base_commit": commit });
            cfg.extra_mut().insert(PROVENANCE.into(), base);
        }
        fsutil::write_json(dir.join(CONFIG_FILE), &cfg)?;
        model.params.save(&dir.join(WEIGHTS_FILE))?;
        for name in COPIED {
            let from = model.files_from.join(name);
            if from.is_file() && model.files_from != dir {
                let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
                fsutil::write_atomic(&dir.join(name), &bytes)?;
            }
        }
        fsutil::write_json(dir.join(LOG_FILE), &model.log)?;
        train::clear_state(dir);
        Ok(())
    }

    fn load(&self, dir: &Path) -> Result<HubModel<A>> {
        let mut cfg: A = read_config(&dir.join(CONFIG_FILE))?;
        let base_commit = cfg.extra_mut().remove(PROVENANCE).and_then(|p| {
            p.get("base_commit")
                .and_then(|c| c.as_str())
                .map(String::from)
        });
        let params = Params::load(&dir.join(WEIGHTS_FILE), &cfg, DType::F32, &self.device)?;
        let tok = Arc::new(tokenizer_for(&tokenizer_in(dir), &cfg)?);
        let log = fsutil::read_json(dir.join(LOG_FILE)).unwrap_or_default();
        if self.is_saved(dir) {
            train::clear_state(dir); // as in the GPT family: a crash's leftovers
        }
        Ok(HubModel {
            cfg,
            params,
            tok,
            files_from: dir.to_path_buf(),
            log,
            base_commit,
        })
    }

    fn is_saved(&self, dir: &Path) -> bool {
        let tok = dir.join("tokenizer.json").exists() || dir.join("vocab.json").exists();
        tok && [CONFIG_FILE, WEIGHTS_FILE, LOG_FILE]
            .iter()
            .all(|f| dir.join(f).exists())
    }

    fn sampling_extras(&self) -> Option<serde_json::Value> {
        let mut extras = self.settings.sampling_json(A::EOS);
        extras["dtype"] = serde_json::json!(self.settings.inference_dtype);
        extras["init"] = serde_json::json!(self.settings.init);
        extras["device"] = crate::lm::device::describe(&self.device).into();
        extras["precision"] = self.settings.precision.describe(&self.device).into();
        Some(extras)
    }

    fn notes(&self, model: &HubModel<A>) -> Vec<String> {
        let l = &model.log;
        let best = match (l.best_step, l.best_valid_loss) {
            (Some(s), Some(v)) => format!(", best validation loss {v:.4} at step {s} (kept)"),
            _ => String::new(),
        };
        let from = match &self.repo {
            Some(r) => format!("{r} fine-tuned (init {})", self.settings.init),
            None => A::MODEL_TYPE.into(),
        };
        vec![format!(
            "{from}: {}, {} parameters: {} of {} steps ({} tokens each){best}",
            model.cfg.shape_note(),
            model.params.count(),
            l.steps_done,
            l.total_steps,
            l.tokens_per_step,
        )]
    }
}
