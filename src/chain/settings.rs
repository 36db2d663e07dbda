//! What determines a chain's output, parsed once into types: [`ChainSettings`] and the model
//! it trains ([`ChainModel`], which owns its family's settings). Saved as
//! `evals/<exp>/chain.json`, and compared with it when a chain resumes.
//!
//! On disk the settings keep their flat form (`"model": "ngram:3"`, `"min_count"`, an optional
//! `"gpt"` table) so chains written by earlier versions resume; in memory the model is a
//! [`ChainModel`] and nothing matches on `gpt:` or `hf:` strings after [`ModelSpec`]'s parser.

use crate::corpus::policy::Policy;
use crate::error::{Error, Result};
use crate::family::ngram::VocabMode;
use crate::family::{ModelSpec, ScratchKind};
use crate::layout::Layout;
use crate::lm::settings::GptSettings;
use crate::sampling::Protocol;
use crate::spec::{DEFAULT_MIN_COUNT, DEFAULT_VOCAB};
use serde::{Deserialize, Serialize};

/// Fewer words than this in a generation's training or generated text measure nothing (a model
/// of one word scores a perplexity near 1 on it).
pub const MIN_WORDS: usize = 100;

/// More generations than any study runs: beyond this a typo is likelier than a plan.
pub const MAX_GENERATIONS: u32 = 10_000;

/// Everything that determines a chain's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "ChainFile", try_from = "ChainFile")]
pub struct ChainSettings {
    pub experiment: String,
    /// Human corpus: `embedded:<name>`, a file, a folder or `hf:<dataset>`.
    pub corpus: String,
    pub model: ChainModel,
    pub generations: u32,
    pub policy: Policy,
    pub seed: u64,
    /// The seed of the human split, when it is not `seed`: every seed of a multi-seed spec
    /// splits the data as its first seed does (the split is the data, not the chain's luck).
    pub split_seed: Option<u64>,
    pub valid_frac: f64,
    pub test_frac: f64,
    /// Words each generation writes (default: the size of generation 0's training set).
    pub sample_tokens: Option<usize>,
    /// Cap on the words one generation trains on.
    pub train_tokens: Option<usize>,
    /// Use only about this many words of the human training split (whole documents drawn by
    /// the seed): a small human corpus, so that `accumulate` can grow (a `--train-tokens` cap
    /// would turn it into `accumulate-subsample`).
    pub human_tokens: Option<usize>,
    pub temperature: f64,
    pub protocol: Protocol,
    pub max_line_words: usize,
}

/// The model a chain trains, with the settings its family owns.
#[derive(Clone, Debug, PartialEq)]
pub enum ChainModel {
    /// `ngram:N`: a vocabulary built from text keeps words seen at least `min_count` times;
    /// `vocab` says whose text (each generation's own, or generation 0's for all).
    Ngram {
        order: usize,
        min_count: u32,
        vocab: VocabMode,
    },
    /// `gpt:` or `llama:<preset or config.json>`, trained from scratch every generation.
    Scratch {
        arch: ScratchKind,
        preset: String,
        settings: GptSettings,
    },
    /// `hf:<owner>/<name>[@rev]`, fine-tuned from the Hub every generation.
    Hf { repo: String, settings: GptSettings },
}

impl ChainModel {
    /// The model `spec` with its family's settings: `min_count` (default
    /// [`DEFAULT_MIN_COUNT`]) and `vocab` (default [`DEFAULT_VOCAB`]) for n-grams, `neural` (or
    /// the family's defaults) for the neural families. Settings of another family are refused
    /// rather than ignored.
    pub fn new(
        spec: ModelSpec,
        min_count: Option<u32>,
        vocab: Option<VocabMode>,
        neural: Option<GptSettings>,
    ) -> Result<Self> {
        if !matches!(spec, ModelSpec::Ngram { .. }) {
            let given = match (vocab, min_count) {
                (Some(v), _) => Some(format!("--vocab {v}")),
                (None, Some(n)) => Some(format!("--min-count {n}")),
                (None, None) => None,
            };
            if let Some(flag) = given {
                return Err(Error::invalid(
                    format!("{flag} is an n-gram setting; {spec} keeps its tokenizer's vocabulary"),
                    "drop it (or `vocab`/`min_count` in the spec), or use an ngram: model",
                ));
            }
        }
        let settings = neural.or_else(|| spec.default_settings());
        Ok(match (spec, settings) {
            (ModelSpec::Ngram { order }, None) => ChainModel::Ngram {
                order,
                min_count: min_count.unwrap_or(DEFAULT_MIN_COUNT),
                vocab: vocab.unwrap_or(DEFAULT_VOCAB),
            },
            (ModelSpec::Ngram { order }, Some(_)) => {
                return Err(Error::invalid(
                    format!(
                    "neural settings ([gpt], --epochs, --lr, ...) do not apply to ngram:{order}"
                ),
                    "drop them, or choose a neural model (--model gpt:tiny or hf:<owner>/<name>)",
                ))
            }
            (ModelSpec::Scratch { arch, preset }, s) => ChainModel::Scratch {
                arch,
                preset,
                settings: s.unwrap_or_default(),
            },
            (ModelSpec::Hf { repo }, s) => ChainModel::Hf {
                repo,
                settings: s.unwrap_or_else(GptSettings::fine_tune),
            },
        })
    }

    /// The model's name as written on the command line (`ngram:3`, `gpt:tiny`, ...).
    pub fn spec(&self) -> ModelSpec {
        match self {
            ChainModel::Ngram { order, .. } => ModelSpec::Ngram { order: *order },
            ChainModel::Scratch { arch, preset, .. } => ModelSpec::Scratch {
                arch: *arch,
                preset: preset.clone(),
            },
            ChainModel::Hf { repo, .. } => ModelSpec::Hf { repo: repo.clone() },
        }
    }

    /// The neural settings, for the neural families.
    pub fn neural(&self) -> Option<&GptSettings> {
        match self {
            ChainModel::Ngram { .. } => None,
            ChainModel::Scratch { settings, .. } | ChainModel::Hf { settings, .. } => {
                Some(settings)
            }
        }
    }
}

impl ChainSettings {
    /// The seed of the human split.
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(self.seed)
    }

    /// Checks settings that no later step would catch early.
    pub fn validate(&self) -> Result<()> {
        Layout::check_name(&self.experiment)?;
        if self.generations == 0 {
            return Err(Error::invalid(
                "--generations 0 runs nothing",
                "use --generations 1 or more",
            ));
        }
        if self.generations > MAX_GENERATIONS {
            return Err(Error::invalid(
                format!(
                    "--generations {} is more than a chain can show",
                    self.generations
                ),
                format!(
                    "use at most {MAX_GENERATIONS} (collapse papers run 5-20; a chain extends \
                     later with a larger --generations)"
                ),
            ));
        }
        if !(self.test_frac > 0.0) {
            return Err(Error::invalid(
                format!(
                    "--test-frac {} holds out no human text to score",
                    self.test_frac
                ),
                "use a positive fraction, e.g. --test-frac 0.05 (the default)",
            ));
        }
        if let Some(n) = self.sample_tokens {
            // Each generated word is held about three times (text, JSONL line, metrics).
            crate::memory::check(
                &format!("writing {n} words a generation"),
                n as f64 * 3.0 * 8.0,
                "lower --sample-tokens",
            )?;
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::invalid(
                format!("temperature {} is not positive", self.temperature),
                "use e.g. --temperature 1.0",
            ));
        }
        for (what, v) in [
            ("--sample-tokens", self.sample_tokens),
            ("--train-tokens", self.train_tokens),
            ("--human-tokens", self.human_tokens),
        ] {
            if v.is_some_and(|n| n < MIN_WORDS) {
                return Err(Error::invalid(
                    format!(
                        "{what} {} is too few words to train or measure anything",
                        v.unwrap_or(0)
                    ),
                    format!("give {what} {MIN_WORDS} or more (a smoke run: --train-tokens 20000)"),
                ));
            }
        }
        match &self.model {
            ChainModel::Ngram { .. } => {}
            ChainModel::Hf { settings, .. } => {
                settings.check()?;
                if settings.context.is_some_and(|c| c < 2) {
                    return Err(Error::invalid(
                        "a block of 1 token has nothing to predict",
                        "use --context 2 or more (Shumailov et al. use 64)",
                    ));
                }
            }
            ChainModel::Scratch {
                arch,
                preset,
                settings,
            } => {
                settings.check()?;
                if let Protocol::Continue { prompt_words: k } = self.protocol {
                    let context = arch.context(preset, settings)?;
                    if k == 0 || k >= context {
                        return Err(Error::invalid(
                            format!("continue:{k} needs 0 < K < the context length {context} (K prompt tokens + K new ones)"),
                            format!("use continue:{} or less (Shumailov et al. use 64 with context 128+)", context / 2),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A rerun must ask for the same chain (more generations are allowed: the chain extends).
    /// `old` is the chain on disk.
    pub fn check_same_as(&self, old: &ChainSettings) -> Result<()> {
        let same = ChainSettings {
            generations: self.generations,
            ..old.clone()
        };
        if same == *self {
            return Ok(());
        }
        let (a, b) = (
            serde_json::to_value(old).unwrap_or_default(),
            serde_json::to_value(self).unwrap_or_default(),
        );
        let mut diff = Vec::new();
        differences("", &a, &b, &mut diff);
        diff.retain(|d| !d.starts_with("generations "));
        let e = &self.experiment;
        Err(Error::invalid(
            format!(
                "experiment `{e}` already exists with other settings: {}",
                diff.join("; ")
            ),
            format!(
                "rerun with the old values to resume (a larger --generations is fine), choose \
                 another --experiment name, or start over by deleting corpora/{e}, checkpoints/{e} \
                 and evals/{e}"
            ),
        ))
    }
}

/// `key was A, now B` for every leaf where two JSON values differ (`gpt.epochs was 2, now 3`),
/// so a changed nested setting is named alone rather than as its whole table.
fn differences(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let (va, vb) = (x.get(k), y.get(k));
                match (va, vb) {
                    (Some(va), Some(vb)) => differences(&p, va, vb, out),
                    _ if va == vb => {}
                    _ => out.push(format!(
                        "{p} was {}, now {}",
                        va.map_or("absent".into(), |v| v.to_string()),
                        vb.map_or("absent".into(), |v| v.to_string())
                    )),
                }
            }
        }
        _ if a != b => out.push(format!("{path} was {a}, now {b}")),
        _ => {}
    }
}

/// `chain.json` as written: the model as its name, the families' settings side by side.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainFile {
    experiment: String,
    corpus: String,
    model: String,
    generations: u32,
    policy: Policy,
    seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    split_seed: Option<u64>,
    valid_frac: f64,
    test_frac: f64,
    min_count: u32,
    /// Absent in chains written before `--vocab` existed, which all ran `fixed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vocab: Option<VocabMode>,
    sample_tokens: Option<usize>,
    train_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    human_tokens: Option<usize>,
    temperature: f64,
    protocol: Protocol,
    max_line_words: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gpt: Option<GptSettings>,
}

impl From<ChainSettings> for ChainFile {
    fn from(s: ChainSettings) -> Self {
        let (min_count, vocab) = match &s.model {
            ChainModel::Ngram {
                min_count, vocab, ..
            } => (*min_count, Some(*vocab)),
            _ => (DEFAULT_MIN_COUNT, None),
        };
        ChainFile {
            vocab,
            model: s.model.spec().to_string(),
            gpt: s.model.neural().cloned(),
            min_count,
            experiment: s.experiment,
            corpus: s.corpus,
            generations: s.generations,
            policy: s.policy,
            seed: s.seed,
            split_seed: s.split_seed,
            valid_frac: s.valid_frac,
            test_frac: s.test_frac,
            sample_tokens: s.sample_tokens,
            train_tokens: s.train_tokens,
            human_tokens: s.human_tokens,
            temperature: s.temperature,
            protocol: s.protocol,
            max_line_words: s.max_line_words,
        }
    }
}

impl TryFrom<ChainFile> for ChainSettings {
    type Error = Error;
    fn try_from(f: ChainFile) -> Result<Self> {
        let spec: ModelSpec = f.model.parse()?;
        let is_ngram = matches!(spec, ModelSpec::Ngram { .. });
        let vocab = f.vocab.or(is_ngram.then_some(VocabMode::Fixed));
        Ok(ChainSettings {
            model: ChainModel::new(spec, is_ngram.then_some(f.min_count), vocab, f.gpt)?,
            experiment: f.experiment,
            corpus: f.corpus,
            generations: f.generations,
            policy: f.policy,
            seed: f.seed,
            split_seed: f.split_seed,
            valid_frac: f.valid_frac,
            test_frac: f.test_frac,
            sample_tokens: f.sample_tokens,
            train_tokens: f.train_tokens,
            human_tokens: f.human_tokens,
            temperature: f.temperature,
            protocol: f.protocol,
            max_line_words: f.max_line_words,
        })
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
